// SO_PEERCRED: the kernel-recorded credentials of the peer of a connected Unix-domain
// socket, so a privileged helper can authorise by uid.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <sys/socket.h>

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_int32(env, argv[0], "fd", &fd)) return NULL;
  int domain;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) return throw_errno(env, errno, "getsockopt", NULL);
  // Other families answer SO_PEERCRED with placeholder ids; refuse rather than mislead.
  if (domain != AF_UNIX) return throw_errno(env, EAFNOSUPPORT, "getsockopt", NULL);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, errno, "getsockopt", NULL);
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "pid", cred.pid);
  set_number(env, out, "uid", cred.uid);
  set_number(env, out, "gid", cred.gid);
  return out;
}

void init_peercred(napi_env env, napi_value exports) {
  export_function(env, exports, "getPeerCred", get_peer_cred);
}
