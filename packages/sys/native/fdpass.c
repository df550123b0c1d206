// Descriptor passing over Unix sockets (SCM_RIGHTS) and systemd's readiness datagram. Both
// socket calls use MSG_DONTWAIT so they never block the event loop: a socket that is not
// ready answers EAGAIN, which the caller retries.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FDS 253  // SCM_MAX_FD

static napi_value js_send_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t sockfd;
  void *data;
  size_t len;
  bool is_array = false;
  uint32_t nfds = 0;
  if (!get_args(env, info, 3, argv) || !arg_int32(env, argv[0], "sockfd", &sockfd) ||
      !arg_buffer(env, argv[1], "data", &data, &len))
    return NULL;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of numbers");
    return NULL;
  }
  napi_get_array_length(env, argv[2], &nfds);
  if (nfds > MAX_FDS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "fds must hold at most 253 descriptors");
    return NULL;
  }
  // A stream socket needs at least one byte for the descriptors to ride on.
  if (len == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "data must not be empty");
    return NULL;
  }
  int fds[MAX_FDS];
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value el;
    napi_get_element(env, argv[2], i, &el);
    if (!arg_int32(env, el, "fds[i]", &fds[i])) return NULL;
  }
  struct iovec iov = {.iov_base = data, .iov_len = len};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(sockfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendmsg", NULL);
  napi_value out;
  napi_create_double(env, (double)n, &out);
  return out;
}

static void close_all(int *fds, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) close(fds[i]);
}

static napi_value js_recv_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t sockfd;
  uint32_t max_bytes, max_fds;
  if (!get_args(env, info, 3, argv) || !arg_int32(env, argv[0], "sockfd", &sockfd) ||
      !arg_uint32(env, argv[1], "maxBytes", &max_bytes) || !arg_uint32(env, argv[2], "maxFds", &max_fds))
    return NULL;
  if (max_bytes == 0 || max_bytes > (1u << 24) || max_fds > MAX_FDS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "maxBytes must be 1..16 MiB and maxFds 0..253");
    return NULL;
  }
  char *data = malloc(max_bytes);
  if (data == NULL) return throw_errno(env, ENOMEM, "recvmsg", NULL);
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = max_bytes};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (max_fds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);
  }
  ssize_t n;
  do n = recvmsg(sockfd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    free(data);
    return throw_errno(env, err, "recvmsg", NULL);
  }
  int fds[MAX_FDS];
  uint32_t nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count && nfds < MAX_FDS; i++) memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
  }
  // More descriptors than maxFds (the kernel dropped the rest) or a cut datagram: refuse the
  // whole message rather than hand over part of it.
  if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
    close_all(fds, nfds);
    free(data);
    return throw_errno(env, EMSGSIZE, "recvmsg", NULL);
  }
  napi_value out, buf, arr;
  napi_create_object(env, &out);
  napi_create_buffer_copy(env, (size_t)n, data, NULL, &buf);
  free(data);
  napi_create_array_with_length(env, nfds, &arr);
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, arr, i, v);
  }
  set_value(env, out, "data", buf);
  set_value(env, out, "fds", arr);
  return out;
}

// sdNotify(socketPath, message): one datagram to NOTIFY_SOCKET, as sd_notify(3) sends it.
// A leading '@' names an abstract socket.
static napi_value js_sd_notify(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_MAX];
  void *data;
  size_t len;
  if (!get_args(env, info, 2, argv) || !arg_path(env, argv[0], "socketPath", path) ||
      !arg_buffer(env, argv[1], "message", &data, &len))
    return NULL;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t plen = strlen(path);
  if (plen < 2 || (path[0] != '/' && path[0] != '@')) return throw_errno(env, EINVAL, "sdNotify", path);
  if (plen >= sizeof addr.sun_path) return throw_errno(env, ENAMETOOLONG, "sdNotify", path);
  memcpy(addr.sun_path, path, plen);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
  if (path[0] == '@')
    addr.sun_path[0] = '\0';
  else
    alen += 1;  // include the terminating NUL of a filesystem path
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", NULL);
  ssize_t n;
  do n = sendto(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr, alen);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, err, "sendto", path);
  return NULL;
}

void init_fdpass(napi_env env, napi_value exports) {
  export_function(env, exports, "sendFds", js_send_fds);
  export_function(env, exports, "recvFds", js_recv_fds);
  export_function(env, exports, "sdNotify", js_sd_notify);
}
