// SPDX-License-Identifier: MIT
// This file contains the bounded growable buffer used for pipes, JSON and file contents.
#include "core/dynbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void lf_dynbuf_init(lf_dynbuf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void lf_dynbuf_free(lf_dynbuf *b)
{
  lf_free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void lf_dynbuf_reset(lf_dynbuf *b)
{
  b->len = 0;
  if (b->data != NULL) {
    b->data[0] = '\0';
  }
}

bool lf_dynbuf_reserve(lf_dynbuf *b, size_t extra)
{
  if (extra > b->max || b->len > b->max - extra) {
    return false;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) {
    return true;
  }
  size_t cap = b->cap != 0 ? b->cap : 64;
  while (cap < need) {
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  }
  b->data = lf_xrealloc(b->data, cap);
  b->cap = cap;
  // The data is always NUL-terminated, even before the first append.
  b->data[b->len] = '\0';
  return true;
}

bool lf_dynbuf_add(lf_dynbuf *b, const void *data, size_t len)
{
  if (!lf_dynbuf_reserve(b, len)) {
    return false;
  }
  if (len != 0) {
    memcpy(b->data + b->len, data, len);
  }
  b->len += len;
  b->data[b->len] = '\0';
  return true;
}

bool lf_dynbuf_adds(lf_dynbuf *b, const char *s)
{
  return lf_dynbuf_add(b, s, strlen(s));
}

bool lf_dynbuf_addc(lf_dynbuf *b, char c)
{
  return lf_dynbuf_add(b, &c, 1);
}

bool lf_dynbuf_vaddf(lf_dynbuf *b, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0 || !lf_dynbuf_reserve(b, (size_t)n)) {
    return false;
  }
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return true;
}

bool lf_dynbuf_addf(lf_dynbuf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  bool ok = lf_dynbuf_vaddf(b, fmt, ap);
  va_end(ap);
  return ok;
}

char *lf_dynbuf_take(lf_dynbuf *b, size_t *len)
{
  char *p = b->data != NULL ? b->data : lf_xmemdupz("", 0);
  if (len != NULL) {
    *len = b->len;
  }
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return p;
}
