// Directory-fd-relative file calls. A root process must never resolve a path through a
// directory another uid can write: these let it name files relative to a directory it already
// holds open, with openat2's RESOLVE_* rules (or an equivalent walk on kernels before 5.6).
#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EMULATED_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define MAX_COMPONENTS (PATH_MAX / 2 + 1)

static void close_keep_errno(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}

// A (dirfd, name) pair, as every *at(2) call takes one or two.
typedef struct {
  int32_t fd;
  char path[PATH_MAX];
} at_arg;

static bool arg_at(napi_env env, napi_value *argv, const char *fd_name, const char *path_name, at_arg *out) {
  return arg_int32(env, argv[0], fd_name, &out->fd) && arg_path(env, argv[1], path_name, out->path);
}

static int fail(int fd_to_close, int err) {
  if (fd_to_close >= 0) close(fd_to_close);
  errno = err;
  return -1;
}

/*
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS without openat2: walk one component at a time with
 * O_PATH|O_NOFOLLOW, refusing absolute paths and every '..' (stricter than openat2, which allows
 * a '..' that stays inside) with EXDEV and every symlink with ELOOP. RESOLVE_NO_XDEV is
 * approximated by comparing st_dev, so a bind mount of the same filesystem is not noticed.
 */
static int open_beneath_walk(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve) {
  if ((resolve & ~(uint64_t)EMULATED_RESOLVE) != 0 ||
      (resolve & (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)) != (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)) {
    errno = ENOSYS;
    return -1;
  }
  size_t len = strlen(path);
  if (len == 0) return fail(-1, ENOENT);
  if (path[0] == '/') return fail(-1, EXDEV);
  char buf[PATH_MAX];
  memcpy(buf, path, len + 1);
  bool trailing_slash = buf[len - 1] == '/';
  char *components[MAX_COMPONENTS];
  size_t n = 0;
  char *save = NULL;
  for (char *c = strtok_r(buf, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) return fail(-1, EXDEV);
    components[n++] = c;
  }
  if (trailing_slash && (flags & O_CREAT)) return fail(-1, EISDIR);
  struct stat base;
  if ((resolve & RESOLVE_NO_XDEV) && fstatat(dirfd, "", &base, AT_EMPTY_PATH) != 0) return -1;
  int cur = -1;  // -1: still at dirfd, which is the caller's and never closed here
  for (size_t i = 0; i + 1 < n; i++) {
    int next = openat(cur < 0 ? dirfd : cur, components[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      if (cur >= 0) close_keep_errno(cur);
      return -1;
    }
    if (cur >= 0) close(cur);
    cur = next;
    struct stat st;
    if (fstat(cur, &st) != 0) return fail(cur, errno);
    if (S_ISLNK(st.st_mode)) return fail(cur, ELOOP);
    if (!S_ISDIR(st.st_mode)) return fail(cur, ENOTDIR);
    if ((resolve & RESOLVE_NO_XDEV) && st.st_dev != base.st_dev) return fail(cur, EXDEV);
  }
  int at = cur < 0 ? dirfd : cur;
  const char *last = n > 0 ? components[n - 1] : ".";
  int final_flags = flags | O_NOFOLLOW;
  if (trailing_slash && !(flags & O_CREAT)) final_flags |= O_DIRECTORY;
  int fd = openat(at, last, final_flags, mode);
  if (fd < 0) {
    // Our O_NOFOLLOW with O_DIRECTORY makes a final symlink ENOTDIR; openat2 says ELOOP unless
    // the caller asked for O_NOFOLLOW itself.
    int err = errno;
    struct stat lst;
    if (err == ENOTDIR && !(flags & O_NOFOLLOW) && fstatat(at, last, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
      err = ELOOP;
    if (cur >= 0) close(cur);
    errno = err;
    return -1;
  }
  if (cur >= 0) close(cur);
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(fd, errno);
  // Our O_NOFOLLOW with O_PATH opens a final symlink itself; openat2 hands that out only when
  // the caller asked for O_PATH|O_NOFOLLOW, and so do we.
  if (S_ISLNK(st.st_mode) && (flags & (O_PATH | O_NOFOLLOW)) != (O_PATH | O_NOFOLLOW)) return fail(fd, ELOOP);
  if ((resolve & RESOLVE_NO_XDEV) && st.st_dev != base.st_dev) return fail(fd, EXDEV);
  return fd;
}

static int open_resolved(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve, bool force_walk) {
  flags |= O_CLOEXEC;
  // openat2 refuses a mode without O_CREAT/O_TMPFILE; plain open(2) ignores it.
  if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE) mode = 0;
  if (!force_walk) {
    struct open_how how = {.flags = (uint64_t)(uint32_t)flags, .mode = mode, .resolve = resolve};
    // EAGAIN: a concurrent rename or mount raced a '..' lookup under BENEATH/IN_ROOT; retry.
    for (int attempt = 0; attempt < 64; attempt++) {
      long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
      if (fd >= 0) return (int)fd;
      if (errno != EAGAIN) break;
    }
    if (errno != ENOSYS) return -1;
  }
  if (resolve == 0) return openat(dirfd, path, flags, mode);
  return open_beneath_walk(dirfd, path, flags, mode, resolve);
}

static napi_value open_common(napi_env env, napi_callback_info info, bool force_walk) {
  napi_value argv[5];
  at_arg at;
  int32_t flags;
  uint32_t mode;
  uint64_t resolve;
  if (!get_args(env, info, 5, argv) || !arg_at(env, argv, "dirfd", "path", &at) || !arg_int32(env, argv[2], "flags", &flags) ||
      !arg_uint32(env, argv[3], "mode", &mode) || !arg_uint64(env, argv[4], "resolve", &resolve))
    return NULL;
  int fd = open_resolved(at.fd, at.path, flags, mode, resolve, force_walk);
  if (fd < 0) return throw_errno(env, errno, "openat2", at.path);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_openat2(napi_env env, napi_callback_info info) { return open_common(env, info, false); }

static napi_value js_open_beneath_fallback(napi_env env, napi_callback_info info) {
  return open_common(env, info, true);
}

static const char *type_of_mode(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    case S_IFBLK: return "block";
    case S_IFCHR: return "char";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    default: return "unknown";
  }
}

static const char *type_of_dirent(unsigned char t) {
  switch (t) {
    case DT_REG: return "file";
    case DT_DIR: return "dir";
    case DT_LNK: return "symlink";
    case DT_BLK: return "block";
    case DT_CHR: return "char";
    case DT_FIFO: return "fifo";
    case DT_SOCK: return "socket";
    default: return NULL;
  }
}

static napi_value js_fstatat(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  at_arg at;
  int32_t flags;
  if (!get_args(env, info, 3, argv) || !arg_at(env, argv, "dirfd", "name", &at) || !arg_int32(env, argv[2], "flags", &flags))
    return NULL;
  struct stat st;
  if (fstatat(at.fd, at.path, &st, flags) != 0) return throw_errno(env, errno, "fstatat", at.path);
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "dev", (double)st.st_dev);
  set_number(env, out, "ino", (double)st.st_ino);
  set_number(env, out, "mode", st.st_mode);
  set_number(env, out, "uid", st.st_uid);
  set_number(env, out, "gid", st.st_gid);
  set_number(env, out, "nlink", (double)st.st_nlink);
  set_number(env, out, "size", (double)st.st_size);
  set_number(env, out, "blocks", (double)st.st_blocks);
  set_string(env, out, "type", type_of_mode(st.st_mode));
  return out;
}

// (dirfd, name, int), shared by mkdirat (mode) and unlinkat (flags).
static bool at_and_int_args(napi_env env, napi_callback_info info, const char *int_name, at_arg *at, int32_t *value) {
  napi_value argv[3];
  return get_args(env, info, 3, argv) && arg_at(env, argv, "dirfd", "name", at) && arg_int32(env, argv[2], int_name, value);
}

static napi_value js_mkdirat(napi_env env, napi_callback_info info) {
  at_arg at;
  int32_t mode;
  if (!at_and_int_args(env, info, "mode", &at, &mode)) return NULL;
  if (mkdirat(at.fd, at.path, (mode_t)mode) != 0) return throw_errno(env, errno, "mkdirat", at.path);
  return NULL;
}

static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  at_arg at;
  int32_t flags;
  if (!at_and_int_args(env, info, "flags", &at, &flags)) return NULL;
  if (unlinkat(at.fd, at.path, flags) != 0) return throw_errno(env, errno, "unlinkat", at.path);
  return NULL;
}

// (olddirfd, oldName, newdirfd, newName, flags), shared by renameat2 and linkat.
static bool two_at_args(napi_env env, napi_callback_info info, at_arg *from, at_arg *to, int32_t *flags) {
  napi_value argv[5];
  return get_args(env, info, 5, argv) && arg_at(env, argv, "olddirfd", "oldName", from) &&
         arg_at(env, argv + 2, "newdirfd", "newName", to) && arg_int32(env, argv[4], "flags", flags);
}

static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  at_arg from, to;
  int32_t flags;
  if (!two_at_args(env, info, &from, &to, &flags)) return NULL;
  if (renameat2(from.fd, from.path, to.fd, to.path, (unsigned)flags) != 0) return throw_errno(env, errno, "renameat2", from.path);
  return NULL;
}

static napi_value js_linkat(napi_env env, napi_callback_info info) {
  at_arg from, to;
  int32_t flags;
  if (!two_at_args(env, info, &from, &to, &flags)) return NULL;
  if (linkat(from.fd, from.path, to.fd, to.path, flags) != 0) return throw_errno(env, errno, "linkat", to.path);
  return NULL;
}

static napi_value js_fchownat(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  at_arg at;
  uint32_t uid, gid;
  int32_t flags;
  if (!get_args(env, info, 5, argv) || !arg_at(env, argv, "dirfd", "name", &at) || !arg_id(env, argv[2], "uid", &uid) ||
      !arg_id(env, argv[3], "gid", &gid) || !arg_int32(env, argv[4], "flags", &flags))
    return NULL;
  if (fchownat(at.fd, at.path, uid, gid, flags) != 0) return throw_errno(env, errno, "fchownat", at.path);
  return NULL;
}

static napi_value dirent_name(napi_env env, const char *name, bool raw) {
  napi_value v;
  if (raw)
    napi_create_buffer_copy(env, strlen(name), name, NULL, &v);
  else
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  return v;
}

// readdirfd(dirfd, raw): entries of an open directory, '.' and '..' left out. Works on a dup
// so the caller's fd stays open; `raw` gives names as Buffers (names need not be UTF-8).
static napi_value js_readdirfd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t dirfd;
  bool raw = false;
  if (!get_args(env, info, 2, argv) || !arg_int32(env, argv[0], "dirfd", &dirfd)) return NULL;
  if (napi_get_value_bool(env, argv[1], &raw) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "raw must be a boolean");
    return NULL;
  }
  int dupfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return throw_errno(env, errno, "fcntl", NULL);
  DIR *dir = fdopendir(dupfd);
  if (dir == NULL) {
    close_keep_errno(dupfd);
    return throw_errno(env, errno, "fdopendir", NULL);
  }
  // The dup shares the file offset with dirfd: start from the top whatever was read before.
  rewinddir(dir);
  napi_value out;
  napi_create_array(env, &out);
  uint32_t i = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(dir);
    if (e == NULL) break;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    const char *type = type_of_dirent(e->d_type);
    struct stat st;
    if (type == NULL) {
      if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        type = type_of_mode(st.st_mode);
      else
        type = "unknown";
    }
    napi_value entry;
    napi_create_object(env, &entry);
    set_value(env, entry, "name", dirent_name(env, e->d_name, raw));
    set_string(env, entry, "type", type);
    napi_set_element(env, out, i++, entry);
  }
  int err = errno;
  closedir(dir);
  if (err != 0) return throw_errno(env, err, "readdir", NULL);
  return out;
}

void init_fsat(napi_env env, napi_value exports) {
  export_function(env, exports, "openat2", js_openat2);
  export_function(env, exports, "openBeneathFallback", js_open_beneath_fallback);
  export_function(env, exports, "fstatat", js_fstatat);
  export_function(env, exports, "mkdirat", js_mkdirat);
  export_function(env, exports, "unlinkat", js_unlinkat);
  export_function(env, exports, "renameat2", js_renameat2);
  export_function(env, exports, "fchownat", js_fchownat);
  export_function(env, exports, "linkat", js_linkat);
  export_function(env, exports, "readdirfd", js_readdirfd);
}
