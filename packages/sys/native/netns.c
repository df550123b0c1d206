// A TCP connection opened from inside another network namespace. setns(2) moves only the
// calling thread, and a socket keeps the namespace it was created in for its whole life, so the
// main thread enters the target, creates the socket and returns before anything else runs on
// it; the connect itself (which may wait seconds for a guest) runs on a libuv worker thread.
// The connected descriptor never becomes a Node handle, so no byte is read from it here: it is
// how privhelper reaches a guest port in banger's namespace and hands the socket to vmd.
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int sock;
  struct sockaddr_in addr;
  int timeout_ms;
  int err;
  const char *syscall;
  napi_deferred deferred;
  napi_async_work work;
} connect_job;

// A new socket in the namespace at `path` ("" = this thread's own). -1 with errno on failure.
static int socket_in(const char *path, const char **syscall) {
  if (path[0] == '\0') {
    *syscall = "socket";
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  }
  int target = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (target < 0) return *syscall = "open", -1;
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    int e = errno;
    close(target);
    errno = e;
    return *syscall = "open", -1;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int e = errno;
    close(target);
    close(self);
    errno = e;
    return *syscall = "setns", -1;
  }
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int e = errno;
  // A thread left in the guest network would serve Node's event loop from the wrong namespace.
  if (setns(self, CLONE_NEWNET) != 0) abort();
  close(target);
  close(self);
  errno = e;
  *syscall = "socket";
  return sock;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void connect_execute(napi_env env, void *data) {
  (void)env;
  connect_job *j = data;
  if (connect(j->sock, (struct sockaddr *)&j->addr, sizeof j->addr) == 0) return;
  if (errno != EINPROGRESS && errno != EINTR) {
    j->err = errno;
    j->syscall = "connect";
    return;
  }
  long long deadline = now_ms() + j->timeout_ms;
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) {
      j->err = ETIMEDOUT;
      j->syscall = "connect";
      return;
    }
    struct pollfd p = {.fd = j->sock, .events = POLLOUT};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      j->err = errno;
      j->syscall = "poll";
      return;
    }
    if (n == 0) continue;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(j->sock, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    if (soerr != 0) {
      j->err = soerr;
      j->syscall = "connect";
    }
    return;
  }
}

static void connect_complete(napi_env env, napi_status status, void *data) {
  connect_job *j = data;
  if (status != napi_ok || j->err != 0) {
    close(j->sock);
    napi_reject_deferred(env, j->deferred, errno_error(env, status != napi_ok ? ECANCELED : j->err, j->syscall, NULL));
  } else {
    napi_value fd;
    napi_create_int32(env, j->sock, &fd);
    napi_resolve_deferred(env, j->deferred, fd);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

// tcpConnectInNetns(netnsPath, ipv4, port, timeoutMs) -> Promise<fd>: a connected, non-blocking,
// close-on-exec socket the caller owns. netnsPath "" connects from the caller's own namespace.
static napi_value js_tcp_connect_in_netns(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path[PATH_MAX], ip[PATH_MAX];
  uint32_t port, timeout_ms;
  if (!get_args(env, info, 4, argv) || !arg_path(env, argv[0], "netnsPath", path) || !arg_path(env, argv[1], "ipv4", ip) ||
      !arg_uint32(env, argv[2], "port", &port) || !arg_uint32(env, argv[3], "timeoutMs", &timeout_ms))
    return NULL;
  if (port == 0 || port > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "port must be 1-65535");
    return NULL;
  }
  connect_job *j = calloc(1, sizeof *j);
  if (j == NULL) return throw_errno(env, ENOMEM, "connect", NULL);
  j->addr.sin_family = AF_INET;
  j->addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &j->addr.sin_addr) != 1) {
    free(j);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "ipv4 must be a dotted quad");
    return NULL;
  }
  j->timeout_ms = (int)(timeout_ms > 600000 ? 600000 : timeout_ms);
  const char *syscall = NULL;
  j->sock = socket_in(path, &syscall);
  if (j->sock < 0) {
    int e = errno;
    free(j);
    return throw_errno(env, e, syscall, path[0] ? path : NULL);
  }
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "banger_sys.tcpConnectInNetns", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, connect_execute, connect_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

void init_netns(napi_env env, napi_value exports) {
  export_function(env, exports, "tcpConnectInNetns", js_tcp_connect_in_netns);
}
