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
                             unsigned int thread_pool_size, unsigned int connection_limit,
                             unsigned int connection_timeout_s, const char **err);

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

#endif
