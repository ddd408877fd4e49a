// SPDX-License-Identifier: MIT
// This file contains the lf_err helpers shared by every core layer.
#include "core/err.h"

#include <stdio.h>
#include <string.h>

lf_status lf_err_setv(lf_err *err, lf_status code, const char *file, int line, const char *fmt,
                      va_list ap)
{
  if (err == NULL || err->code != LF_OK) {
    return code;
  }
  err->code = code;
  err->file = file;
  err->line = line;
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  return code;
}

lf_status lf_err_set(lf_err *err, lf_status code, const char *file, int line, const char *fmt,
                     ...)
{
  va_list ap;
  va_start(ap, fmt);
  lf_err_setv(err, code, file, line, fmt, ap);
  va_end(ap);
  return code;
}

void lf_err_prefix(lf_err *err, const char *fmt, ...)
{
  if (err == NULL || err->code == LF_OK) {
    return;
  }
  char pre[LF_ERR_MSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof(pre), fmt, ap);
  va_end(ap);
  // Build "pre: old" by hand; snprintf would warn about the (intended) truncation.
  char old[LF_ERR_MSG_SIZE];
  memcpy(old, err->msg, sizeof(old));
  size_t np = strlen(pre);
  size_t no = strlen(old);
  size_t cap = sizeof(err->msg) - 1;
  size_t n = 0;
  memcpy(err->msg, pre, np < cap ? np : cap);
  n = np < cap ? np : cap;
  if (n + 2 <= cap) {
    memcpy(err->msg + n, ": ", 2);
    n += 2;
  }
  size_t take = no < cap - n ? no : cap - n;
  memcpy(err->msg + n, old, take);
  n += take;
  err->msg[n] = '\0';
}

void lf_err_clear(lf_err *err)
{
  if (err != NULL) {
    err->code = LF_OK;
    err->file = NULL;
    err->line = 0;
    err->msg[0] = '\0';
  }
}
