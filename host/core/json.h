// SPDX-License-Identifier: MIT
// A small strict JSON (RFC 8259) parser into a DOM, and a streaming writer into an lf_dynbuf.
// Used for task and run records in the datastore, JSON-typed flow parameters and the config
// file, so parse errors carry a line and column: "invalid JSON at line 3, column 14: expected
// ',' or '}'". Numbers are read and written independently of the C locale.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"

/// Deepest nesting of arrays and objects lf_json_parse accepts.
#define LF_JSON_MAX_DEPTH 512
/// Deepest nesting the writer supports (the size of its state arrays).
#define LF_JW_MAX_DEPTH 64

typedef enum lf_json_type {
  LF_JSON_NULL,
  LF_JSON_FALSE,
  LF_JSON_TRUE,
  LF_JSON_INT,    ///< a literal without fraction or exponent that fits int64_t
  LF_JSON_NUMBER, ///< any other number
  LF_JSON_STRING,
  LF_JSON_ARRAY,
  LF_JSON_OBJECT,
} lf_json_type;

/// A parsed JSON value. The whole tree is owned by its root; free it with lf_json_free.
typedef struct lf_json {
  lf_json_type type;
  int64_t i; ///< LF_JSON_INT: the value
  double d;  ///< LF_JSON_NUMBER: the value; LF_JSON_INT: the same value as a double
  char *s;   ///< LF_JSON_STRING: UTF-8, NUL-terminated, may contain "\u0000" bytes
  size_t slen;
  struct lf_json **items; ///< LF_JSON_ARRAY / LF_JSON_OBJECT: the values, in document order
  char **keys;            ///< LF_JSON_OBJECT: keys[k] names items[k]; NUL-terminated UTF-8
  size_t *keylens;        ///< LF_JSON_OBJECT: byte length of each key (keys may hold NULs)
  size_t n;               ///< number of items
} lf_json;

/// Parses one JSON text. Strict: no comments, no trailing commas, no leading zeros, no NaN,
/// no duplicate keys in one object, UTF-8 validated (overlong forms, surrogates and code
/// points above U+10FFFF rejected), \u escapes checked including surrogate pairs, nesting at
/// most LF_JSON_MAX_DEPTH, and nothing but whitespace after the value. A leading UTF-8 byte
/// order mark is skipped (RFC 8259 §8.1 allows this). Numbers whose magnitude overflows a
/// double are rejected; tiny ones underflow to zero.
/// @param[in] text  need not be NUL-terminated; `len` bytes are read
/// @param[out] err  on failure: LF_ERR_CORRUPT, "invalid JSON at line L, column C: what"
///                  (line and column count from 1; the column counts characters)
/// @return the root value (caller frees with lf_json_free), or NULL on error
lf_json *lf_json_parse(const char *text, size_t len, lf_err *err);
/// Frees a tree returned by lf_json_parse. NULL is fine.
void lf_json_free(lf_json *v);

/// The value of `key` in object `obj`. Borrowed from `obj`.
/// @return NULL if `obj` is NULL, not an object, or has no such key
const lf_json *lf_json_get(const lf_json *obj, const char *key);
/// The string value of `key`, borrowed; NULL if missing or not a string.
const char *lf_json_get_str(const lf_json *obj, const char *key);
/// The integer value of `key`: an LF_JSON_INT, or an LF_JSON_NUMBER with an exact int64_t
/// value (3.0, 1e3); `dflt` if missing or anything else.
int64_t lf_json_get_int(const lf_json *obj, const char *key, int64_t dflt);
/// The numeric value of `key` (LF_JSON_INT or LF_JSON_NUMBER); `dflt` otherwise.
double lf_json_get_num(const lf_json *obj, const char *key, double dflt);
/// The boolean value of `key`; `dflt` if missing or not true/false.
bool lf_json_get_bool(const lf_json *obj, const char *key, bool dflt);

/// Writer state, in caller storage. Commas, colons and (if `pretty`) newlines and two-space
/// indentation are inserted by the writer. Several top-level values are separated by '\n'
/// (JSON Lines). Misuse (a value in an object without a key, a key in an array, unbalanced
/// ends, nesting past LF_JW_MAX_DEPTH - 1) and a failed append (the dynbuf's maximum size)
/// set the sticky `failed` flag; every later call does nothing. Check lf_jw_ok at the end.
typedef struct lf_jw {
  lf_dynbuf *b;                             ///< borrowed output buffer
  int depth;                                ///< open containers
  unsigned char need_comma[LF_JW_MAX_DEPTH]; ///< per depth: an element was written already
  unsigned char is_obj[LF_JW_MAX_DEPTH];     ///< per depth: the container is an object
  bool after_key;                           ///< a key was written; its value comes next
  bool pretty;
  bool failed; ///< sticky: an append failed or the calls were out of order
} lf_jw;

/// Starts writing into `b` (appending to whatever it holds).
void lf_jw_init(lf_jw *w, lf_dynbuf *b, bool pretty);
/// @return true if every call so far succeeded and all containers are closed
bool lf_jw_ok(const lf_jw *w);
void lf_jw_obj_begin(lf_jw *w);
void lf_jw_obj_end(lf_jw *w);
void lf_jw_arr_begin(lf_jw *w);
void lf_jw_arr_end(lf_jw *w);
/// Writes an object key (NUL-terminated); the next call must write its value.
void lf_jw_key(lf_jw *w, const char *key);
/// Writes an object key of `n` bytes (may contain NULs).
void lf_jw_keyn(lf_jw *w, const char *key, size_t n);
/// Writes a string. Escapes '"', '\\' and control characters; invalid UTF-8 is written as
/// \ufffd (one per maximal invalid subsequence, as Unicode recommends). NULL writes null.
void lf_jw_str(lf_jw *w, const char *s);
/// Writes a string of `n` bytes (may contain NULs, written as \u0000).
void lf_jw_strn(lf_jw *w, const char *s, size_t n);
void lf_jw_int(lf_jw *w, int64_t v);
/// Writes the shortest decimal that reads back as exactly `v` (up to %.17g). Integral values
/// get a ".0" so they read back as LF_JSON_NUMBER, not LF_JSON_INT. NaN and infinities, which
/// JSON cannot express, are written as null.
void lf_jw_num(lf_jw *w, double v);
void lf_jw_bool(lf_jw *w, bool v);
void lf_jw_null(lf_jw *w);
/// Inserts an already-encoded JSON value verbatim (not validated).
void lf_jw_raw(lf_jw *w, const char *json);
/// Writes a parsed value (and everything inside it).
void lf_jw_value(lf_jw *w, const lf_json *v);
