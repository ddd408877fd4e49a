// SPDX-License-Identifier: MIT
// This file contains the log sink and the always-on assertion handler.
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static lf_log_fn sink_fn;
static void *sink_ud;
static lf_log_level sink_level = LF_LOG_WARN;

void lf_log_set_sink(lf_log_fn fn, void *ud, lf_log_level min_level)
{
  sink_fn = fn;
  sink_ud = ud;
  sink_level = min_level;
}

void lf_log_write(lf_log_level level, const char *func, int line, const char *fmt, ...)
{
  if (level < sink_level) {
    return;
  }
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (sink_fn != NULL) {
    sink_fn(sink_ud, level, msg);
    return;
  }
  static const char *const names[] = {"debug", "info", "warning", "error"};
  const char *name = (unsigned)level < 4 ? names[level] : "log";
  if (level == LF_LOG_DEBUG) {
    fprintf(stderr, "luaflow: %s: %s:%d: %s\n", name, func, line, msg);
  } else {
    fprintf(stderr, "luaflow: %s: %s\n", name, msg);
  }
}

void lf_assert_fail(const char *expr, const char *file, int line)
{
  fprintf(stderr, "luaflow: assertion failed: %s (%s:%d)\n", expr, file, line);
  abort();
}
