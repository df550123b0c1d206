// banger_sys: the Linux calls Node's fs and net lack (openat2 and other dirfd-relative calls,
// hole-preserving copies, SCM_RIGHTS, sd_notify, SO_PEERCRED). Every call is synchronous and
// thin; policy (what to refuse, how to walk a tree) lives in the TypeScript layer.
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>

static void add_constant(napi_env env, napi_value obj, const char *name, double value) {
  set_number(env, obj, name, value);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value c;
  napi_create_object(env, &c);
  add_constant(env, c, "O_RDONLY", O_RDONLY);
  add_constant(env, c, "O_WRONLY", O_WRONLY);
  add_constant(env, c, "O_RDWR", O_RDWR);
  add_constant(env, c, "O_CREAT", O_CREAT);
  add_constant(env, c, "O_EXCL", O_EXCL);
  add_constant(env, c, "O_TRUNC", O_TRUNC);
  add_constant(env, c, "O_APPEND", O_APPEND);
  add_constant(env, c, "O_NONBLOCK", O_NONBLOCK);
  add_constant(env, c, "O_NOCTTY", O_NOCTTY);
  add_constant(env, c, "O_DIRECTORY", O_DIRECTORY);
  add_constant(env, c, "O_NOFOLLOW", O_NOFOLLOW);
  add_constant(env, c, "O_CLOEXEC", O_CLOEXEC);
  add_constant(env, c, "O_PATH", O_PATH);
  add_constant(env, c, "O_TMPFILE", O_TMPFILE);
  add_constant(env, c, "RESOLVE_NO_XDEV", RESOLVE_NO_XDEV);
  add_constant(env, c, "RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS);
  add_constant(env, c, "RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS);
  add_constant(env, c, "RESOLVE_BENEATH", RESOLVE_BENEATH);
  add_constant(env, c, "RESOLVE_IN_ROOT", RESOLVE_IN_ROOT);
  add_constant(env, c, "AT_FDCWD", AT_FDCWD);
  add_constant(env, c, "AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW);
  add_constant(env, c, "AT_EMPTY_PATH", AT_EMPTY_PATH);
  add_constant(env, c, "AT_REMOVEDIR", AT_REMOVEDIR);
  add_constant(env, c, "RENAME_NOREPLACE", RENAME_NOREPLACE);
  add_constant(env, c, "RENAME_EXCHANGE", RENAME_EXCHANGE);
  set_value(env, exports, "constants", c);
  init_peercred(env, exports);
  init_fsat(env, exports);
  init_copy(env, exports);
  init_fdpass(env, exports);
  init_netns(env, exports);
  init_memfd(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
