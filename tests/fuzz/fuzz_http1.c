// SPDX-License-Identifier: MIT
// libFuzzer target for the HTTP/1.x answer reader (host/s3/s3_http1.c), which reads what a
// server sends on the direct receive path. The first byte picks what the rest is:
//   0: a response head: its end is found and it is parsed or refused, never overread; a
//      parsed head has a status of 100..599.
//   1: chunked coding fed in pieces whose sizes come from the input: the decoder never
//      emits more data than it was given, never stalls (each call consumes a byte or ends),
//      and splitting the input differently gives the same data and outcome.
//   2: data encoded in chunks (sizes from the input, with extensions and a trailer) decodes
//      to exactly that data, DONE, for any split.
// Seeds: tests/fuzz/seeds/http1/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Decodes `in` fed in pieces of sizes cycling through `steps`; returns the outcome, the data
// in out (of capacity cap), its length in *olen.
static lf_chunks_rc decode(const char *in, size_t n, const uint8_t *steps, size_t nsteps,
                           char *out, size_t cap, size_t *olen)
{
  lf_http_chunks c;
  memset(&c, 0, sizeof(c));
  size_t pos = 0, k = 0;
  *olen = 0;
  while (pos < n) {
    size_t piece = nsteps > 0 ? (size_t)steps[k++ % nsteps] + 1 : n - pos;
    if (piece > n - pos) {
      piece = n - pos;
    }
    const char *p = in + pos;
    size_t left = piece;
    while (left > 0) {
      size_t used = 0, dlen = 0;
      const char *d = NULL;
      lf_chunks_rc rc = lf_http_chunks_step(&c, p, left, &used, &d, &dlen);
      if (used > left || dlen > used || (dlen > 0 && (d < p || d + dlen > p + used))) {
        abort();
      }
      if (*olen + dlen > cap) {
        abort(); // more data out than in
      }
      memcpy(out + *olen, d, dlen);
      *olen += dlen;
      if (rc != LF_CHUNKS_MORE) {
        return rc;
      }
      if (used == 0) {
        abort(); // no progress
      }
      p += used;
      left -= used;
    }
    pos += piece;
  }
  return LF_CHUNKS_MORE;
}

static void fuzz_head(const char *s, size_t n)
{
  size_t end = lf_http_head_end(s, n, n > 7 ? n / 2 : 0);
  size_t end0 = lf_http_head_end(s, n, 0);
  if (end > n || (end != 0 && end0 == 0) || (end0 != 0 && end != 0 && end < end0)) {
    abort();
  }
  if (end0 == 0) {
    return;
  }
  lf_http_head h;
  if (lf_http_head_parse(s, end0, &h)) {
    if (h.status < 100 || h.status > 599) {
      abort();
    }
  }
}

static void fuzz_chunked(const uint8_t *data, size_t size)
{
  if (size < 2) {
    return;
  }
  size_t nsteps = data[0] % 8;
  if (nsteps + 1 > size) {
    return;
  }
  const uint8_t *steps = data + 1;
  const char *in = (const char *)data + 1 + nsteps;
  size_t n = size - 1 - nsteps;
  char *a = malloc(n + 1), *b = malloc(n + 1);
  size_t la, lb;
  lf_chunks_rc ra = decode(in, n, steps, nsteps, a, n, &la);
  lf_chunks_rc rb = decode(in, n, NULL, 0, b, n, &lb);
  if (ra != rb || la != lb || memcmp(a, b, la) != 0) {
    abort(); // the split changed the result
  }
  free(a);
  free(b);
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
  if (size < 2) {
    return;
  }
  size_t nsteps = data[0] % 8;
  if (nsteps + 1 > size) {
    return;
  }
  const uint8_t *steps = data + 1;
  const char *src = (const char *)data + 1 + nsteps;
  size_t n = size - 1 - nsteps;
  char *enc = malloc(n * 24 + 64), *out = malloc(n + 1);
  size_t e = 0, pos = 0, k = 0;
  while (pos < n) {
    size_t c = (size_t)(nsteps > 0 ? steps[k++ % nsteps] : 255) % 37 + 1;
    if (c > n - pos) {
      c = n - pos;
    }
    e += (size_t)sprintf(enc + e, k % 3 == 0 ? "%zX;ext=1\r\n" : "%zx\r\n", c);
    memcpy(enc + e, src + pos, c);
    e += c;
    memcpy(enc + e, "\r\n", 2);
    e += 2;
    pos += c;
  }
  e += (size_t)sprintf(enc + e, "0\r\nx-sum: 1\r\n\r\n");
  size_t olen;
  lf_chunks_rc rc = decode(enc, e, steps, nsteps, out, n, &olen);
  if (rc != LF_CHUNKS_DONE || olen != n || memcmp(out, src, n) != 0) {
    abort();
  }
  free(enc);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0) {
    return 0;
  }
  switch (data[0] % 3) {
  case 0:
    fuzz_head((const char *)data + 1, size - 1);
    break;
  case 1:
    fuzz_chunked(data + 1, size - 1);
    break;
  default:
    fuzz_roundtrip(data + 1, size - 1);
    break;
  }
  return 0;
}
