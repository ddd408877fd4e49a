// SPDX-License-Identifier: MIT
// Logging for the host: LF_LOGD/I/W/E pass __func__ and __LINE__; debug messages compile out
// of release builds. Output goes to the sink a context installs (stderr by default), never
// to stdout. The sink is process-wide because core code logs without a context at hand.
#pragma once

#include "luaflow.h"

void lf_log_set_sink(lf_log_fn fn, void *ud, lf_log_level min_level);
void lf_log_write(lf_log_level level, const char *func, int line, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

#ifdef NDEBUG
#define LF_LOGD(...) ((void)0)
#else
#define LF_LOGD(...) lf_log_write(LF_LOG_DEBUG, __func__, __LINE__, __VA_ARGS__)
#endif
#define LF_LOGI(...) lf_log_write(LF_LOG_INFO, __func__, __LINE__, __VA_ARGS__)
#define LF_LOGW(...) lf_log_write(LF_LOG_WARN, __func__, __LINE__, __VA_ARGS__)
#define LF_LOGE(...) lf_log_write(LF_LOG_ERROR, __func__, __LINE__, __VA_ARGS__)

/// Always-on assertion for invariants whose violation could corrupt data.
#define LF_ASSERT(cond)                                      \
  do {                                                       \
    if (!(cond)) {                                           \
      lf_assert_fail(#cond, __FILE__, __LINE__);             \
    }                                                        \
  } while (0)
_Noreturn void lf_assert_fail(const char *expr, const char *file, int line);
