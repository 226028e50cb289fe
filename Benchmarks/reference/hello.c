/* The plain reference the benchmark compares against: libmicrohttpd answering a constant JSON body, with
 * addonmock's daemon flags and thread model (internal polling thread, epoll, a thread pool of one thread per core),
 * answering on the second access-handler call as addonmock does so keep-alive is kept. Everything else is
 * libmicrohttpd's default (addonmock also sets a 24 KiB per-connection pool and a 60 s idle timeout).
 * Usage: hello PORT [BODY_FILE]. Build: gcc -O2 hello.c -lmicrohttpd */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SMALL_BODY[] = "{\"ok\":true}";
/* The body answered: SMALL_BODY, or the contents of the file named by the second argument (a list's reference
 * answers the same bytes the list does, so the ratio measures addonmock's work rather than the bytes' cost). */
static const char *body = SMALL_BODY;
static size_t body_size = sizeof SMALL_BODY - 1;
static int marker;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **req_cls) {
  (void) cls; (void) url; (void) method; (void) version; (void) upload;
  if (*req_cls == NULL) { *req_cls = &marker; return MHD_YES; }
  if (*upload_size) { *upload_size = 0; return MHD_YES; }
  struct MHD_Response *r = MHD_create_response_from_buffer(body_size, (void *) body, MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

int main(int argc, char **argv) {
  unsigned port = argc > 1 ? (unsigned) atoi(argv[1]) : 8081;
  if (argc > 2) {
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc(n > 0 ? (size_t) n : 1);
    if (!bytes || fread(bytes, 1, (size_t) n, f) != (size_t) n) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    fclose(f);
    body = bytes;
    body_size = (size_t) n;
  }
  unsigned threads = (unsigned) sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 2) threads = 2;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, (uint16_t) port,
                                          NULL, NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                          MHD_OPTION_CONNECTION_LIMIT, 1000, MHD_OPTION_END);
  if (!d) { fprintf(stderr, "cannot start\n"); return 1; }
  printf("reference listening on http://127.0.0.1:%u\n", port);
  fflush(stdout);
  int sig;
  sigwait(&s, &sig);
  MHD_stop_daemon(d);
  return 0;
}
