// SPDX-License-Identifier: MIT
// Wall-clock and monotonic time, and the one timestamp format of logs and records.
#pragma once

#include <stddef.h>
#include <stdint.h>

/// Microseconds since the Unix epoch.
int64_t lf_time_now_us(void);
/// Monotonic microseconds (for durations).
int64_t lf_time_mono_us(void);
/// Formats `us` as local "YYYY-MM-DD HH:MM:SS.mmm" into `out` (size >= 24).
void lf_time_format(int64_t us, char *out, size_t size);
/// Formats `us` as UTC ISO 8601 "YYYY-MM-DDTHH:MM:SS.mmmZ" into `out` (size >= 25).
void lf_time_format_iso(int64_t us, char *out, size_t size);
