// SPDX-License-Identifier: MIT
// Private to the artifact codec (codec_encode.c and codec_decode.c); the API is codec.h.
// Holds what both halves need: the byte-level primitives of the format (zigzag integers,
// varints, little-endian binary64), kept side by side so writer and reader are checked
// against each other, and the bounded message builder used by the encoder's error paths and
// by lf_lua_codec_describe. Everything is static inline: the primitives sit on the hot paths
// of both directions and must stay inlinable in each.
#pragma once

#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// A bounded string builder for messages: never overflows, always terminated.
typedef struct sbuf {
  char *s;     ///< caller storage
  size_t size; ///< of `s`; 0 means nothing is ever written
  size_t n;    ///< bytes used, excluding the terminator
} sbuf;

/// Appends `n` bytes of `s`, truncating to fit.
static inline void sb_add(sbuf *b, const char *s, size_t n)
{
  if (b->size == 0) {
    return;
  }
  size_t room = b->size - 1 - b->n;
  if (n > room) {
    n = room;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

/// Appends the NUL-terminated `s`, truncating to fit.
static inline void sb_adds(sbuf *b, const char *s)
{
  sb_add(b, s, strlen(s));
}

/// Appends printf-style output (at most 127 bytes of it), truncating to fit.
static inline void sb_addf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void sb_addf(sbuf *b, const char *fmt, ...)
{
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n > 0) {
    sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
  }
}

/// Appends `s` escaped Lua-style, cut after `width` bytes (not inside a UTF-8 sequence).
static inline void sb_addquoted(sbuf *b, const char *s, size_t n, size_t width)
{
  size_t show = n;
  if (show > width) {
    show = width;
    while (show > 0 && show < n && ((unsigned char)s[show] & 0xC0) == 0x80) {
      show--;
    }
  }
  sb_add(b, "\"", 1);
  for (size_t i = 0; i < show; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"':
      sb_add(b, "\\\"", 2);
      break;
    case '\\':
      sb_add(b, "\\\\", 2);
      break;
    case '\n':
      sb_add(b, "\\n", 2);
      break;
    case '\t':
      sb_add(b, "\\t", 2);
      break;
    case '\r':
      sb_add(b, "\\r", 2);
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        sb_addf(b, "\\x%02x", c);
      } else {
        sb_add(b, (const char *)&c, 1);
      }
    }
  }
  sb_add(b, "\"", 1);
  if (show < n) {
    sb_add(b, "...", 3);
  }
}

/// Writes the shortest decimal that reads back as `x`, marked as a float ("3.0", "-0.0",
/// "1e+20"), into `out` of `size` bytes.
static inline void fmt_float(double x, char *out, size_t size)
{
  if (isnan(x)) {
    snprintf(out, size, "%snan", signbit(x) ? "-" : "");
    return;
  }
  if (isinf(x)) {
    snprintf(out, size, "%sinf", x < 0 ? "-" : "");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, size, "%.*g", prec, x);
    if (strtod(out, NULL) == x) {
      break;
    }
  }
  if (strpbrk(out, ".en") == NULL) {
    size_t n = strlen(out);
    if (n + 3 <= size) {
      memcpy(out + n, ".0", 3);
    }
  }
}

/// The zigzag mapping of a signed integer (format: INT payload before the varint).
static inline uint64_t zigzag(lua_Integer i)
{
  uint64_t u = (uint64_t)i;
  return i < 0 ? ~(u << 1) : u << 1;
}

/// Inverse of zigzag().
static inline lua_Integer unzigzag(uint64_t u)
{
  uint64_t v = (u & 1) != 0 ? ~(u >> 1) : u >> 1;
  return (lua_Integer)v;
}

/// Writes `v` as a shortest-form varint at `p`, which needs room for 10 bytes.
/// The checked reader is the decoder's rd_varint(), which reports errors by offset.
/// @return the number of bytes written
static inline size_t put_varint(uint8_t *p, uint64_t v)
{
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/// Writes `x` bit-exactly as 8 little-endian bytes at `p`.
static inline void put_f64(uint8_t *p, double x)
{
  uint64_t bits;
  memcpy(&bits, &x, sizeof(bits));
  for (int k = 0; k < 8; k++) {
    p[k] = (uint8_t)(bits >> (8 * k));
  }
}

/// Reads 8 little-endian bytes at `p` (the caller checked they exist) as a binary64.
static inline double get_f64(const uint8_t *p)
{
  uint64_t bits = 0;
  for (int k = 0; k < 8; k++) {
    bits |= (uint64_t)p[k] << (8 * k);
  }
  double x;
  memcpy(&x, &bits, sizeof(x));
  return x;
}
