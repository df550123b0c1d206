#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  const char *name = strerrorname_np(err);
  if (name == NULL) name = "EUNKNOWN";
  char msg[PATH_MAX + 256];
  if (path != NULL)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", name, strerror(err), syscall, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", name, strerror(err), syscall);
  napi_value code, message, error;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  // Negative like libuv's, so these look exactly like errors from node:fs.
  set_number(env, error, "errno", -err);
  set_string(env, error, "syscall", syscall);
  if (path != NULL) set_string(env, error, "path", path);
  return error;
}

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, err, syscall, path));
  return NULL;
}

static bool type_error(napi_env env, const char *name, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s must be %s", name, what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static bool range_error(napi_env env, const char *name, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s must be %s", name, what);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return false;
}

bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < n) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", n, argc);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", msg);
    return false;
  }
  return true;
}

static bool arg_integer(napi_env env, napi_value v, const char *name, double min, double max, double *out) {
  napi_valuetype t;
  double d = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok)
    return type_error(env, name, "a number");
  if (d != (double)(int64_t)d) return range_error(env, name, "an integer");
  if (d < min || d > max) return range_error(env, name, "in range");
  *out = d;
  return true;
}

bool arg_int32(napi_env env, napi_value v, const char *name, int32_t *out) {
  double d = 0;
  if (!arg_integer(env, v, name, (double)INT32_MIN, (double)INT32_MAX, &d)) return false;
  *out = (int32_t)d;
  return true;
}

bool arg_uint32(napi_env env, napi_value v, const char *name, uint32_t *out) {
  double d = 0;
  if (!arg_integer(env, v, name, 0, (double)UINT32_MAX, &d)) return false;
  *out = (uint32_t)d;
  return true;
}

bool arg_uint64(napi_env env, napi_value v, const char *name, uint64_t *out) {
  double d = 0;
  if (!arg_integer(env, v, name, 0, 9007199254740991.0, &d)) return false;
  *out = (uint64_t)d;
  return true;
}

bool arg_id(napi_env env, napi_value v, const char *name, uint32_t *out) {
  double d = 0;
  if (!arg_integer(env, v, name, -1, (double)UINT32_MAX - 1, &d)) return false;
  *out = d < 0 ? (uint32_t)-1 : (uint32_t)d;
  return true;
}

bool arg_path(napi_env env, napi_value v, const char *name, char *buf) {
  napi_valuetype t;
  bool is_buffer = false;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_string) {
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
    if (len >= PATH_MAX) {
      throw_errno(env, ENAMETOOLONG, name, NULL);
      return false;
    }
    if (napi_get_value_string_utf8(env, v, buf, PATH_MAX, &len) != napi_ok) return false;
  } else if (napi_is_buffer(env, v, &is_buffer) == napi_ok && is_buffer) {
    void *data;
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return false;
    if (len >= PATH_MAX) {
      throw_errno(env, ENAMETOOLONG, name, NULL);
      return false;
    }
    memcpy(buf, data, len);
    buf[len] = '\0';
  } else {
    return type_error(env, name, "a string or Buffer");
  }
  // An embedded NUL would silently shorten the path the kernel sees.
  if (strlen(buf) != len) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must not contain NUL bytes", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  return true;
}

bool arg_buffer(napi_env env, napi_value v, const char *name, void **data, size_t *len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) return type_error(env, name, "a Buffer");
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

void set_value(napi_env env, napi_value obj, const char *key, napi_value value) {
  napi_set_named_property(env, obj, key, value);
}

void set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  set_value(env, obj, key, v);
}

void set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  set_value(env, obj, key, v);
}

void export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  set_value(env, exports, name, fn);
}
