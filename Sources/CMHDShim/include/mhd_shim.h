#ifndef ADDONMOCK_MHD_SHIM_H
#define ADDONMOCK_MHD_SHIM_H
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// Starts a daemon bound to `host` (numeric IPv4/IPv6 or a resolvable name) and `port` (0 = ephemeral).
/// Wraps the variadic MHD_start_daemon, which Swift cannot call. Query arguments and the URL reach the
/// handler undecoded (a no-op unescape callback), so the Swift side decodes them itself and can reject
/// bad percent-encoding or invalid UTF-8. `accept_policy` is asked about every new connection (MHD_NO closes
/// it at once). Returns NULL and sets *err to a static message on failure.
struct MHD_Daemon *amh_start(const char *host, uint16_t port,
                             MHD_AcceptPolicyCallback accept_policy, void *accept_policy_cls,
                             MHD_AccessHandlerCallback handler, void *handler_cls,
                             MHD_RequestCompletedCallback completed, void *completed_cls,
                             MHD_NotifyConnectionCallback notify, void *notify_cls,
                             void *(*uri_logged)(void *cls, const char *uri, struct MHD_Connection *c),
                             void *uri_logged_cls,
                             unsigned int thread_pool_size, unsigned int connection_limit,
                             unsigned int connection_timeout_s, const char **err);

/// Sets how long `c` may be inactive (nothing read or written) before libmicrohttpd closes it, in seconds;
/// wraps the variadic MHD_set_connection_option. Only from a call on the connection's own thread, while it is
/// not suspended (libmicrohttpd ignores it on a suspended connection).
void amh_set_connection_timeout(struct MHD_Connection *c, unsigned int seconds);

/// A response whose body `reader` produces as it goes, sent chunked (`MHD_SIZE_UNKNOWN`): the reader may suspend
/// the connection and return 0 when it has nothing yet.
struct MHD_Response *amh_create_streamed_response(size_t block_size, MHD_ContentReaderCallback reader, void *cls,
                                                  MHD_ContentReaderFreeCallback freed);

/// The port the daemon is listening on (needed after binding port 0).
uint16_t amh_bound_port(struct MHD_Daemon *d);

/// The connection's socket, or -1: to tell whether the client has half-closed, and to write an answer
/// libmicrohttpd will not (a half-closed client's), from an access-handler or request-completed call.
int amh_connection_fd(struct MHD_Connection *c);

/// Bytes the allocator holds free (glibc `mallinfo2().fordblks`), and giving them back (`malloc_trim(0)`):
/// Swift's Glibc module does not import <malloc.h>.
size_t amh_free_heap_bytes(void);
void amh_return_free_heap(void);

/// What the connection-notify callback stored for the connection (its `ConnectionClock`), or NULL.
void *amh_socket_context(struct MHD_Connection *c);

/// The hangup watcher's epoll set (Swift's Glibc imports neither <sys/epoll.h> nor <sys/eventfd.h>, and
/// `struct epoll_event` is packed). `amh_watch_create` returns the set, or -1; `*wakeup` is an eventfd in it whose
/// token is 0. `amh_watch_add` reports `token` once when the peer of `fd` closes its side or resets (one-shot;
/// adding again re-arms it). `amh_watch_wait` blocks until something is reported and fills `tokens`; returns
/// how many, or -1 on error (EINTR included).
int amh_watch_create(int *wakeup);
int amh_watch_add(int epoll, int fd, uint64_t token);
int amh_watch_remove(int epoll, int fd);
int amh_watch_wait(int epoll, uint64_t *tokens, int max);
int amh_watch_wake(int wakeup);

#endif
