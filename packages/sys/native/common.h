// Shared helpers of the banger_sys addon: argument parsing that refuses anything ambiguous
// (NUL bytes in paths, out-of-range ids), and errors shaped like Node's own fs errors.
#ifndef BANGER_SYS_COMMON_H
#define BANGER_SYS_COMMON_H

#define NAPI_VERSION 8
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

// Throws an Error { code: 'ELOOP', errno: -40, syscall, path? } and returns NULL.
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path);
// The same error object, not thrown (for promise rejections).
napi_value errno_error(napi_env env, int err, const char *syscall, const char *path);

// Fetches exactly `n` arguments; throws a TypeError when fewer were given.
bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv);
bool arg_int32(napi_env env, napi_value v, const char *name, int32_t *out);
bool arg_uint32(napi_env env, napi_value v, const char *name, uint32_t *out);
// A non-negative integer below 2^53, as JS numbers can carry exactly.
bool arg_uint64(napi_env env, napi_value v, const char *name, uint64_t *out);
// A uid or gid: 0..2^32-2, or -1 for "leave unchanged" (as chown(2)).
bool arg_id(napi_env env, napi_value v, const char *name, uint32_t *out);
// A string or Buffer path without NUL bytes, shorter than PATH_MAX, copied into buf[PATH_MAX].
bool arg_path(napi_env env, napi_value v, const char *name, char *buf);
// A Buffer's bytes (borrowed: valid only during the call).
bool arg_buffer(napi_env env, napi_value v, const char *name, void **data, size_t *len);

void set_number(napi_env env, napi_value obj, const char *key, double value);
void set_string(napi_env env, napi_value obj, const char *key, const char *value);
void set_value(napi_env env, napi_value obj, const char *key, napi_value value);
void export_function(napi_env env, napi_value exports, const char *name, napi_callback cb);

// Registration of each topic's functions and constants (one file per topic).
void init_peercred(napi_env env, napi_value exports);
void init_fsat(napi_env env, napi_value exports);
void init_copy(napi_env env, napi_value exports);
void init_fdpass(napi_env env, napi_value exports);
void init_netns(napi_env env, napi_value exports);
void init_memfd(napi_env env, napi_value exports);

#endif
