// Sealed memfds: guest RAM that a jailed QEMU can open read-write (QEMU 7.2's
// memory-backend-file insists on O_RDWR) but can never change once sealed. A sealed file still
// maps MAP_PRIVATE writable (copy-on-write, Linux >= 6.7), which is how clones share a template.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[4096];
  if (!get_args(env, info, 1, argv) || !arg_path(env, argv[0], "name", name)) return NULL;
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return throw_errno(env, errno, "memfd_create", NULL);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

// Adds every seal: no write, no size change, no further seal changes (so none can be removed).
static napi_value js_memfd_seal(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_int32(env, argv[0], "fd", &fd)) return NULL;
  if (fcntl(fd, F_ADD_SEALS, ALL_SEALS) != 0) return throw_errno(env, errno, "fcntl(F_ADD_SEALS)", NULL);
  return NULL;
}

static napi_value js_memfd_seals(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_int32(env, argv[0], "fd", &fd)) return NULL;
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return throw_errno(env, errno, "fcntl(F_GET_SEALS)", NULL);
  napi_value out;
  napi_create_int32(env, seals, &out);
  return out;
}

void init_memfd(napi_env env, napi_value exports) {
  export_function(env, exports, "memfdCreate", js_memfd_create);
  export_function(env, exports, "memfdSeal", js_memfd_seal);
  export_function(env, exports, "memfdSeals", js_memfd_seals);
}
