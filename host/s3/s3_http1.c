// SPDX-License-Identifier: MIT
// This file contains the I/O-free reading of HTTP/1.x answers: heads, fields, chunked coding.
#include "s3/s3_http1.h"

#include <string.h>
#include <strings.h>

enum { C_SIZE, C_EXT, C_DATA, C_DATA_END, C_TRAILER, C_DONE };

size_t lf_http_head_end(const char *buf, size_t len, size_t from)
{
  for (size_t i = from > 3 ? from - 3 : 0; i + 4 <= len; i++) {
    if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0) {
      return i + 4;
    }
  }
  return 0;
}

bool lf_http_u64(const char *s, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  if (n == 0) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10) {
      return false;
    }
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

bool lf_http_field(const char *line, size_t n, const char *name, const char **value,
                   size_t *vlen)
{
  size_t nl = strlen(name);
  if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) {
    return false;
  }
  const char *v = line + nl + 1;
  const char *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t')) {
    v++;
  }
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) {
    end--;
  }
  *value = v;
  *vlen = (size_t)(end - v);
  return true;
}

static bool has_token(const char *v, size_t n, const char *token)
{
  size_t tl = strlen(token);
  for (size_t i = 0; i + tl <= n; i++) {
    if (strncasecmp(v + i, token, tl) == 0) {
      return true;
    }
  }
  return false;
}

bool lf_http_head_parse(const char *head, size_t n, lf_http_head *out)
{
  memset(out, 0, sizeof(*out));
  // "HTTP/1.1 200 OK\r\n": the version, a space, three digits, then a space or the line end.
  if (n < 14 || strncmp(head, "HTTP/1.", 7) != 0 || (head[7] != '0' && head[7] != '1') ||
      head[8] != ' ' || (head[12] != ' ' && head[12] != '\r')) {
    return false;
  }
  uint64_t code = 0;
  if (!lf_http_u64(head + 9, 3, &code) || code < 100 || code > 599) {
    return false;
  }
  out->status = (long)code;
  out->keep_alive = head[7] == '1';
  const char *nl = memchr(head, '\n', n);
  for (size_t pos = (size_t)(nl - head) + 1; pos < n;) {
    const char *line = head + pos;
    const char *e = memchr(line, '\n', n - pos);
    size_t ll = (size_t)(e - line) + 1; // the head ends with "\r\n\r\n": e is never NULL
    const char *v;
    size_t vl;
    uint64_t len;
    if (lf_http_field(line, ll, "Transfer-Encoding", &v, &vl)) {
      out->chunked = has_token(v, vl, "chunked");
      out->other_coding = !out->chunked;
    } else if (lf_http_field(line, ll, "Content-Length", &v, &vl)) {
      if (!lf_http_u64(v, vl, &len) || (out->has_length && len != out->length)) {
        return false;
      }
      out->has_length = true;
      out->length = len;
    } else if (lf_http_field(line, ll, "Connection", &v, &vl)) {
      if (has_token(v, vl, "close")) {
        out->keep_alive = false;
      } else if (has_token(v, vl, "keep-alive")) {
        out->keep_alive = true;
      }
    }
    pos += ll;
  }
  return true;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = (char)(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

lf_chunks_rc lf_http_chunks_step(lf_http_chunks *c, const char *p, size_t n, size_t *used,
                                 const char **data, size_t *dlen)
{
  size_t i = 0;
  *data = p;
  *dlen = 0;
  while (i < n) {
    char ch = p[i];
    switch (c->state) {
    case C_SIZE: {
      int v = hexval(ch);
      if (v >= 0 && (c->size >> 56) == 0) { // leading zeros are fine; sizes stay below 2^60
        c->size = c->size * 16 + (uint64_t)v;
        c->digits++;
        i++;
        break;
      }
      if (c->digits == 0 || v >= 0) {
        *used = i;
        return LF_CHUNKS_BAD;
      }
      c->state = C_EXT; // ";extensions", blanks, then the line's end
      break;
    }
    case C_EXT:
      i++;
      if (ch == '\n') {
        c->state = c->size == 0 ? C_TRAILER : C_DATA;
        c->line = 0;
      }
      break;
    case C_DATA: {
      size_t k = n - i < c->size ? n - i : (size_t)c->size;
      *data = p + i;
      *dlen = k;
      c->size -= k;
      if (c->size == 0) {
        c->state = C_DATA_END;
        c->line = 0;
      }
      *used = i + k;
      return LF_CHUNKS_MORE;
    }
    case C_DATA_END: // "\r\n" after a chunk's data
      i++;
      if (ch == '\n') {
        c->state = C_SIZE;
        c->digits = 0;
      } else if (ch != '\r' || c->line++ > 0) {
        *used = i - 1;
        return LF_CHUNKS_BAD;
      }
      break;
    case C_TRAILER: // trailer fields up to an empty line
      i++;
      if (ch == '\n') {
        if (c->line == 0) {
          c->state = C_DONE;
          *used = i;
          return LF_CHUNKS_DONE;
        }
        c->line = 0;
      } else if (ch != '\r') {
        c->line++;
      }
      break;
    default: // C_DONE
      *used = 0;
      return LF_CHUNKS_DONE;
    }
  }
  *used = i;
  return LF_CHUNKS_MORE;
}
