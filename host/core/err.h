// SPDX-License-Identifier: MIT
// Error values of the core layers: a status code plus a message in a fixed inline buffer, so
// that carrying or raising an error never allocates. The first error set wins.
#pragma once

#include <stdarg.h>

#include "luaflow.h"

#define LF_ERR_MSG_SIZE 1024

/// An error record. Zero-initialise (or lf_err_clear) before use.
typedef struct lf_err {
  lf_status code;            ///< LF_OK while no error is set
  const char *file;          ///< source file that set the error
  int line;                  ///< source line that set the error
  char msg[LF_ERR_MSG_SIZE]; ///< one line, lowercase start, no trailing period
} lf_err;

/// Sets an error unless one is already set (first error wins). `err` may be NULL.
/// @return `code`, so callers can `return LF_ERR(err, LF_ERR_IO, "...")`.
lf_status lf_err_set(lf_err *err, lf_status code, const char *file, int line, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
lf_status lf_err_setv(lf_err *err, lf_status code, const char *file, int line, const char *fmt,
                      va_list ap) __attribute__((format(printf, 5, 0)));
/// Prefixes the message of a set error with "prefix: " (for adding context on the way up).
void lf_err_prefix(lf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/// Resets `err` to LF_OK.
void lf_err_clear(lf_err *err);

#define LF_ERR(err, code, ...) lf_err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)
