// SPDX-License-Identifier: MIT
// Growable byte buffer with a maximum size (curl's dynbuf): appends fail with
// LF_ERR_NOMEM-free semantics once `max` would be exceeded, so inputs from pipes, files and
// the network cannot grow without bound. The data is always NUL-terminated.
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct lf_dynbuf {
  char *data; ///< NULL until the first append
  size_t len;
  size_t cap;
  size_t max; ///< the most bytes the buffer may hold
} lf_dynbuf;

/// Initialises caller storage; nothing is allocated yet.
void lf_dynbuf_init(lf_dynbuf *b, size_t max);
/// Frees the data and resets to empty (keeps `max`).
void lf_dynbuf_free(lf_dynbuf *b);
/// Empties the buffer, keeping its allocation.
void lf_dynbuf_reset(lf_dynbuf *b);
/// Appends bytes. @return false (buffer unchanged) if `max` would be exceeded.
bool lf_dynbuf_add(lf_dynbuf *b, const void *data, size_t len);
bool lf_dynbuf_adds(lf_dynbuf *b, const char *s);
bool lf_dynbuf_addc(lf_dynbuf *b, char c);
bool lf_dynbuf_addf(lf_dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool lf_dynbuf_vaddf(lf_dynbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/// Makes room for `extra` more bytes. @return false if `max` would be exceeded.
bool lf_dynbuf_reserve(lf_dynbuf *b, size_t extra);
/// Takes the data out (caller frees with lf_free; never NULL) and resets the buffer.
char *lf_dynbuf_take(lf_dynbuf *b, size_t *len);
