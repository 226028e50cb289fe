#include "mhd_shim.h"
#include <errno.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <netdb.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static size_t amh_keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
  (void) cls; (void) c;
  return strlen(s);
}

struct MHD_Daemon *amh_start(const char *host, uint16_t port,
                             MHD_AcceptPolicyCallback accept_policy, void *accept_policy_cls,
                             MHD_AccessHandlerCallback handler, void *handler_cls,
                             MHD_RequestCompletedCallback completed, void *completed_cls,
                             MHD_NotifyConnectionCallback notify, void *notify_cls,
                             void *(*uri_logged)(void *cls, const char *uri, struct MHD_Connection *c),
                             void *uri_logged_cls,
                             unsigned int thread_pool_size, unsigned int connection_limit,
                             unsigned int connection_timeout_s, const char **err) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
    *err = "cannot resolve host";
    return NULL;
  }
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  memcpy(&addr, res->ai_addr, res->ai_addrlen);
  int family = res->ai_family;
  freeaddrinfo(res);

  /* Suspend/resume lets an answer wait for its commit while the thread serves other connections; resuming wakes
   * the polling thread through the ITC. */
  /* No MHD_USE_ERROR_LOG: libmicrohttpd's own lines ("Application reported internal error…" for every dropped
   * connection, a second line for a port in use) are noise beside the server's log and its one-line errors. */
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
  if (family == AF_INET6) {
    ((struct sockaddr_in6 *) &addr)->sin6_port = htons(port);
    flags |= MHD_USE_IPv6;
  } else {
    ((struct sockaddr_in *) &addr)->sin_port = htons(port);
  }
  /* THREAD_POOL_SIZE is only valid with an internal polling thread, and only meaningful above 1. */
  struct MHD_OptionItem ops[] = {
    { MHD_OPTION_CONNECTION_LIMIT, (intptr_t) (connection_limit ? connection_limit : 1000), NULL },
    { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) connection_timeout_s, NULL },
    /* 24 KiB per connection: the request head must fit in it, and the docs allow an X-Auth-Token of 16,384
     * characters beside the SDK's other headers. libmicrohttpd zeroes the pool between requests: measured
     * against 16 KiB, GET by id cost about 5 % at 24 KiB and 9 % at its default of 32 KiB. The server answers
     * heads over 20 KiB itself with a JSON 431 (Dispatcher); only heads past what the pool holds (about
     * 22 KiB) get libmicrohttpd's own. */
    { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) 24576, NULL },
    { thread_pool_size > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t) thread_pool_size, NULL },
    { MHD_OPTION_END, 0, NULL },
  };
  struct MHD_Daemon *d = MHD_start_daemon(flags, port, accept_policy, accept_policy_cls, handler, handler_cls,
                                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                                          MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                                          MHD_OPTION_NOTIFY_CONNECTION, notify, notify_cls,
                                          MHD_OPTION_URI_LOG_CALLBACK, uri_logged, uri_logged_cls,
                                          MHD_OPTION_UNESCAPE_CALLBACK, amh_keep_escaped, NULL,
                                          MHD_OPTION_ARRAY, ops,
                                          MHD_OPTION_END);
  if (d == NULL) *err = "cannot listen (address in use or not available?)";
  return d;
}

uint16_t amh_bound_port(struct MHD_Daemon *d) {
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  return i ? i->port : 0;
}

int amh_connection_fd(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return i ? (int) i->connect_fd : -1;
}

void *amh_socket_context(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return i ? i->socket_context : NULL;
}

size_t amh_free_heap_bytes(void) {
  struct mallinfo2 info = mallinfo2();
  return info.fordblks;
}

void amh_return_free_heap(void) { malloc_trim(0); }

void amh_set_connection_timeout(struct MHD_Connection *c, unsigned int seconds) {
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, seconds);
}

struct MHD_Response *amh_create_streamed_response(size_t block_size, MHD_ContentReaderCallback reader, void *cls,
                                                  MHD_ContentReaderFreeCallback freed) {
  return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block_size, reader, cls, freed);
}

int amh_watch_create(int *wakeup) {
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return -1;
  *wakeup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event event = { .events = EPOLLIN, .data.u64 = 0 };
  if (*wakeup < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, *wakeup, &event) != 0) {
    close(epoll);
    return -1;
  }
  return epoll;
}

int amh_watch_add(int epoll, int fd, uint64_t token) {
  struct epoll_event event = { .events = EPOLLRDHUP | EPOLLONESHOT, .data.u64 = token };
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0) return 0;
  return errno == EEXIST ? epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event) : -1;
}

int amh_watch_remove(int epoll, int fd) {
  struct epoll_event event = { 0 };
  return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, &event);
}

int amh_watch_wait(int epoll, uint64_t *tokens, int max) {
  struct epoll_event events[64];
  int n = epoll_wait(epoll, events, max < 64 ? max : 64, -1);
  for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
  return n;
}

int amh_watch_wake(int wakeup) {
  uint64_t one = 1;
  return write(wakeup, &one, sizeof one) == sizeof one ? 0 : -1;
}
