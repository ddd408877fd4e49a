// SPDX-License-Identifier: MIT
// The reading of HTTP/1.x answers, without I/O: finding and judging a response head, header
// fields, and decoding chunked coding. Used by the direct receive path (s3_direct.c) and the
// engine's header callback (s3_engine.c); fuzzed by tests/fuzz/fuzz_http1.c.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// What a response head says about its body and connection.
typedef struct lf_http_head {
  long status;              ///< 100..599
  bool keep_alive;          ///< HTTP/1.1 without "Connection: close", or 1.0 with keep-alive
  bool chunked;             ///< Transfer-Encoding names chunked
  bool other_coding;        ///< Transfer-Encoding without chunked (gzip...): not readable
  bool has_length;          ///< a valid Content-Length
  uint64_t length;
} lf_http_head;

/// The length of the head at the start of buf[0, len) through its empty line ("\r\n\r\n"),
/// or 0 if it is not complete yet. `from` is how many bytes were searched before (the search
/// resumes just before them).
size_t lf_http_head_end(const char *buf, size_t len, size_t from);
/// Reads a complete head of `n` bytes (as measured by lf_http_head_end). False when it is
/// not an HTTP/1.0 or 1.1 answer with a status of 100..599, or when it has Content-Length
/// fields that disagree or one that is not a number (its body's end would be a guess).
bool lf_http_head_parse(const char *head, size_t n, lf_http_head *out);
/// If `line` (n bytes, CRLF included or not) is the field `name` (any case), points *value
/// at its value without surrounding blanks and the line end.
bool lf_http_field(const char *line, size_t n, const char *name, const char **value,
                   size_t *vlen);
/// A decimal number of n digits (no sign, no blanks), without overflow.
bool lf_http_u64(const char *s, size_t n, uint64_t *out);

/// A decoder of chunked coding (RFC 9112 7.1); zero it to start.
typedef struct lf_http_chunks {
  int state;
  uint64_t size;            ///< data bytes left in the current chunk
  int digits;
  size_t line;              ///< bytes of the current line (trailer fields)
} lf_http_chunks;

typedef enum lf_chunks_rc {
  LF_CHUNKS_MORE,           ///< more input is needed
  LF_CHUNKS_DONE,           ///< the last chunk and the trailer were read
  LF_CHUNKS_BAD,            ///< malformed: a size that is not hexadecimal or is 2^60 or
                            ///< more, or a chunk longer than its size
} lf_chunks_rc;

/// Consumes bytes of p[0, n) up to and including at most one span of data: *used is how many
/// were consumed (at least 1 when n > 0 and the result is MORE), [*data, *data + *dlen) the
/// data among them (*dlen may be 0). Call again with the rest.
lf_chunks_rc lf_http_chunks_step(lf_http_chunks *c, const char *p, size_t n, size_t *used,
                                 const char **data, size_t *dlen);
