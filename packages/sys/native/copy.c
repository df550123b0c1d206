// Whole-file copies between two open regular files that keep holes, for multi-GiB sparse VM
// disks: a reflink when the filesystem can (FICLONE), else only the data extents found with
// SEEK_DATA/SEEK_HOLE, by copy_file_range or, where that is refused, pread/pwrite.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

enum copy_method { METHOD_REFLINK, METHOD_COPY };

typedef struct {
  int in, out;
  int64_t bytes;       // logical size of the copy
  int64_t data_bytes;  // bytes of data extents actually copied
  enum copy_method method;
  int err;
  const char *syscall;
} copy_job;

static bool failed(copy_job *job, const char *syscall) {
  job->err = errno;
  job->syscall = syscall;
  return false;
}

static bool write_all(int fd, const char *buf, size_t len, off_t off, copy_job *job) {
  while (len > 0) {
    ssize_t w = pwrite(fd, buf, len, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return failed(job, "pwrite");
    }
    buf += w;
    len -= (size_t)w;
    off += w;
  }
  return true;
}

static bool copy_by_rw(copy_job *job, off_t off, off_t len, char **buf) {
  const size_t chunk = 1 << 20;
  if (*buf == NULL && (*buf = malloc(chunk)) == NULL) return failed(job, "malloc");
  while (len > 0) {
    ssize_t r = pread(job->in, *buf, len < (off_t)chunk ? (size_t)len : chunk, off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return failed(job, "pread");
    }
    if (r == 0) break;  // the input shrank under us; the final ftruncate restores the size
    if (!write_all(job->out, *buf, (size_t)r, off, job)) return false;
    off += r;
    len -= r;
    job->data_bytes += r;
  }
  return true;
}

// copy_file_range is refused across filesystems on some kernels and by some filesystems.
static bool cfr_unsupported(int err) {
  return err == EXDEV || err == EINVAL || err == EOPNOTSUPP || err == ENOSYS;
}

static bool copy_extent(copy_job *job, off_t off, off_t len, bool *use_cfr, char **buf) {
  while (len > 0 && *use_cfr) {
    loff_t off_in = off, off_out = off;
    ssize_t n = copy_file_range(job->in, &off_in, job->out, &off_out, (size_t)len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (cfr_unsupported(errno)) {
        *use_cfr = false;
        break;
      }
      return failed(job, "copy_file_range");
    }
    if (n == 0) return true;
    off += n;
    len -= n;
    job->data_bytes += n;
  }
  return len <= 0 || copy_by_rw(job, off, len, buf);
}

static bool copy_sparse(copy_job *job, off_t size) {
  bool use_cfr = true;
  char *buf = NULL;
  bool ok = true;
  off_t pos = 0;
  while (ok && pos < size) {
    off_t data = lseek(job->in, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      ok = failed(job, "lseek");
      break;
    }
    if (data >= size) break;
    off_t hole = lseek(job->in, data, SEEK_HOLE);
    if (hole < 0) {
      ok = failed(job, "lseek");
      break;
    }
    if (hole > size) hole = size;
    ok = copy_extent(job, data, hole - data, &use_cfr, &buf);
    pos = hole;
  }
  free(buf);
  return ok;
}

static void run_copy(copy_job *job) {
  struct stat in_st, out_st;
  job->err = 0;
  job->data_bytes = 0;
  if (fstat(job->in, &in_st) != 0) return (void)failed(job, "fstat");
  if (fstat(job->out, &out_st) != 0) return (void)failed(job, "fstat");
  int out_flags = fcntl(job->out, F_GETFL);
  if (out_flags < 0) return (void)failed(job, "fcntl");
  // Same inode: truncating the output would destroy the input. O_APPEND: pwrite ignores offsets.
  if (!S_ISREG(in_st.st_mode) || !S_ISREG(out_st.st_mode) || (out_flags & O_APPEND) ||
      (in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino)) {
    errno = EINVAL;
    return (void)failed(job, "copyFdRange");
  }
  job->bytes = in_st.st_size;
  if (ioctl(job->out, FICLONE, job->in) == 0) {
    job->method = METHOD_REFLINK;
    job->data_bytes = in_st.st_size;
    return;
  }
  if (errno == EBADF) return (void)failed(job, "ioctl");
  job->method = METHOD_COPY;
  off_t saved = lseek(job->in, 0, SEEK_CUR);
  // Old content of the output must not show through the holes of the input.
  if (ftruncate(job->out, 0) != 0) return (void)failed(job, "ftruncate");
  bool ok = copy_sparse(job, in_st.st_size);
  if (saved >= 0) lseek(job->in, saved, SEEK_SET);
  if (ok && ftruncate(job->out, in_st.st_size) != 0) failed(job, "ftruncate");
}

static napi_value copy_result(napi_env env, copy_job *job) {
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "bytes", (double)job->bytes);
  set_number(env, out, "dataBytes", (double)job->data_bytes);
  set_string(env, out, "method", job->method == METHOD_REFLINK ? "reflink" : "copy");
  return out;
}

static bool copy_args(napi_env env, napi_callback_info info, copy_job *job) {
  napi_value argv[2];
  return get_args(env, info, 2, argv) && arg_int32(env, argv[0], "inFd", &job->in) &&
         arg_int32(env, argv[1], "outFd", &job->out);
}

static napi_value js_copy_fd_range(napi_env env, napi_callback_info info) {
  copy_job job = {0};
  if (!copy_args(env, info, &job)) return NULL;
  run_copy(&job);
  if (job.err != 0) return throw_errno(env, job.err, job.syscall, NULL);
  return copy_result(env, &job);
}

typedef struct {
  copy_job job;
  napi_deferred deferred;
  napi_async_work work;
} async_copy;

static void async_execute(napi_env env, void *data) {
  (void)env;
  run_copy(&((async_copy *)data)->job);
}

static void async_complete(napi_env env, napi_status status, void *data) {
  async_copy *a = data;
  if (status != napi_ok)
    napi_reject_deferred(env, a->deferred, errno_error(env, ECANCELED, "copyFdRange", NULL));
  else if (a->job.err != 0)
    napi_reject_deferred(env, a->deferred, errno_error(env, a->job.err, a->job.syscall, NULL));
  else
    napi_resolve_deferred(env, a->deferred, copy_result(env, &a->job));
  napi_delete_async_work(env, a->work);
  free(a);
}

// The same copy on a libuv worker thread, so a multi-GiB copy does not stall the event loop.
// The caller keeps both fds open until the promise settles.
static napi_value js_copy_fd_range_async(napi_env env, napi_callback_info info) {
  async_copy *a = calloc(1, sizeof *a);
  if (a == NULL) return throw_errno(env, ENOMEM, "copyFdRange", NULL);
  if (!copy_args(env, info, &a->job)) {
    free(a);
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &a->deferred, &promise);
  napi_create_string_utf8(env, "banger_sys.copyFdRange", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, async_execute, async_complete, a, &a->work);
  napi_queue_async_work(env, a->work);
  return promise;
}

void init_copy(napi_env env, napi_value exports) {
  export_function(env, exports, "copyFdRange", js_copy_fd_range);
  export_function(env, exports, "copyFdRangeAsync", js_copy_fd_range_async);
}
