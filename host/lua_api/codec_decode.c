// SPDX-License-Identifier: MIT
// This file contains the decoder half of the artifact value codec: one bounded walker over the
// byte format documented in codec.h that either builds the Lua value (lf_lua_decode) or, with
// no Lua state, only checks the bytes (lf_lua_codec_validate) and summarises them for
// `luaflow dump` (lf_lua_codec_describe). The worker decodes what the store returns; the
// encoder is codec_encode.c, and what the two halves share is in codec_internal.h.
#include "lua_api/codec.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lua_api/codec_internal.h"

// Lua's limit on the hash part of a table (MAXHSIZE in ltable.c); larger presizes raise.
#define MAX_HASH_PRESIZE (1 << 30)

typedef struct dec {
  lua_State *L; // NULL: validate only
  const uint8_t *p;
  size_t len;
  size_t pos;
  int depth;
  lua_Integer ntables;
  int tables; // stack index: sequence id + 1 -> table (decode only)
  size_t owed; // bytes the open tables' entries not yet started need, at least one each
  lf_status st;
  lf_err *err;
} dec;

static bool walk(dec *d);
static bool walk_all(dec *d);
static inline bool rd_varint(dec *d, uint64_t *out, const char *what);
static bool nd_header(dec *d, size_t at, unsigned *dtype, unsigned *ndim, uint64_t *shape,
                      size_t *nbytes);
static bool corrupt(dec *d, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

lf_status lf_lua_decode(lua_State *L, const void *data, size_t len, lf_err *err)
{
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot grow the Lua stack while decoding a value");
  }
  lua_pushnil(L); // stack: tables (created on the first TABLE tag)
  dec d = {L, data, len, 0, 0, 0, top + 1, 0, LF_OK, err};
  if (!walk_all(&d)) {
    lua_settop(L, top);
    return d.st;
  }
  lua_replace(L, top + 1); // stack: value
  return LF_OK;
}

lf_status lf_lua_codec_validate(const void *data, size_t len, lf_err *err)
{
  dec d = {NULL, data, len, 0, 0, 0, 0, 0, LF_OK, err};
  walk_all(&d);
  return d.st;
}

const char *lf_lua_codec_describe(const void *data, size_t len, char *out, size_t outsize,
                                  size_t width)
{
  sbuf b = {out, outsize, 0};
  if (outsize > 0) {
    out[0] = '\0';
  }
  lf_err err;
  lf_err_clear(&err);
  if (lf_lua_codec_validate(data, len, &err) != LF_OK) {
    sb_adds(&b, "corrupt: ");
    sb_adds(&b, err.msg);
    return NULL;
  }
  // Valid, so the reads below stay in bounds.
  dec d = {NULL, data, len, 1, 0, 0, 0, 0, LF_OK, NULL};
  uint8_t tag = d.p[d.pos++];
  switch (tag) {
  case LF_LUA_CODEC_NIL:
    sb_adds(&b, "nil");
    return "nil";
  case LF_LUA_CODEC_FALSE:
  case LF_LUA_CODEC_TRUE:
    sb_adds(&b, tag == LF_LUA_CODEC_TRUE ? "bool true" : "bool false");
    return "boolean";
  case LF_LUA_CODEC_INT: {
    uint64_t u = 0;
    rd_varint(&d, &u, "integer");
    sb_addf(&b, "int %lld", (long long)unzigzag(u));
    return "integer";
  }
  case LF_LUA_CODEC_FLOAT: {
    char num[64];
    fmt_float(get_f64(d.p + d.pos), num, sizeof(num));
    sb_addf(&b, "float %s", num);
    return "float";
  }
  case LF_LUA_CODEC_STRING: {
    uint64_t n = 0;
    rd_varint(&d, &n, "string length");
    sb_addf(&b, "string(%llu) ", (unsigned long long)n);
    sb_addquoted(&b, (const char *)d.p + d.pos, (size_t)n, width);
    return "string";
  }
  case LF_LUA_CODEC_TABLE: {
    uint64_t narr = 0;
    uint64_t nhash = 0;
    rd_varint(&d, &narr, "table array count");
    rd_varint(&d, &nhash, "table hash count");
    sb_addf(&b, "table(%llu array, %llu hash)", (unsigned long long)narr,
            (unsigned long long)nhash);
    return "table";
  }
  case LF_LUA_CODEC_NDARRAY: {
    static const char *const names[] = {"f64", "f32", "i64", "i32", "u8"};
    unsigned dtype = 0;
    unsigned ndim = 0;
    uint64_t shape[LF_LUA_CODEC_MAX_NDIM];
    size_t nbytes = 0;
    nd_header(&d, 1, &dtype, &ndim, shape, &nbytes);
    sb_addf(&b, "array(%s, ", names[dtype]);
    if (ndim == 0) {
      sb_adds(&b, "scalar");
    }
    for (unsigned k = 0; k < ndim; k++) {
      sb_addf(&b, "%s%llu", k > 0 ? "x" : "", (unsigned long long)shape[k]);
    }
    sb_adds(&b, ")");
    return "array";
  }
  default:
    // A top-level REF cannot validate; keep the compiler and readers sure of it.
    sb_adds(&b, "corrupt: unexpected top-level tag");
    return NULL;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoder and validator: one walker over the grammar; with L == NULL it only checks.

static bool corrupt(dec *d, size_t at, const char *fmt, ...)
{
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  d->st = LF_ERR(d->err, LF_ERR_CORRUPT, "%s at byte offset %zu", what, at);
  return false;
}

static inline bool rd_varint(dec *d, uint64_t *out, const char *what)
{
  size_t at = d->pos;
  uint64_t v = 0;
  for (unsigned i = 0;; i++) {
    if (d->pos >= d->len) {
      return corrupt(d, at, "truncated %s", what);
    }
    uint8_t c = d->p[d->pos++];
    if (i == 9 && c > 1) {
      return corrupt(d, at, "%s overflows 64 bits", what);
    }
    v |= (uint64_t)(c & 0x7f) << (7 * i);
    if ((c & 0x80) == 0) {
      if (c == 0 && i > 0) {
        return corrupt(d, at, "%s is not in shortest form", what);
      }
      *out = v;
      return true;
    }
  }
}

static bool need_stack(dec *d, int n)
{
  if (d->L != NULL && !lua_checkstack(d->L, n)) {
    d->st = LF_ERR(d->err, LF_ERR_NOMEM, "cannot grow the Lua stack while decoding a value");
    return false;
  }
  return true;
}

static bool walk_table(dec *d, size_t at)
{
  lua_State *L = d->L;
  if (d->depth >= LF_LUA_CODEC_MAX_DEPTH) {
    return corrupt(d, at, "tables nested deeper than %d levels", LF_LUA_CODEC_MAX_DEPTH);
  }
  uint64_t narr = 0;
  uint64_t nhash = 0;
  if (!rd_varint(d, &narr, "table array count") || !rd_varint(d, &nhash, "table hash count")) {
    return false;
  }
  // Every array value takes at least one byte and every pair two, and those bytes must not
  // be promised already to the unread entries of enclosing tables: so all the table slots
  // we ever allocate add up to at most the input length.
  size_t rem = d->len - d->pos;
  size_t avail = rem > d->owed ? rem - d->owed : 0;
  if (narr > avail || nhash > (avail - narr) / 2) {
    return corrupt(d, at,
                   "table claims %llu array and %llu hash entries but only %zu bytes remain "
                   "for them",
                   (unsigned long long)narr, (unsigned long long)nhash, avail);
  }
  d->owed += (size_t)narr + 2 * (size_t)nhash;
  if (L != NULL) {
    if (!need_stack(d, 4)) {
      return false;
    }
    if (d->ntables == 0) {
      lua_createtable(L, 0, 0);
      lua_replace(L, d->tables);
    }
    int na = narr > INT_MAX ? INT_MAX : (int)narr;
    int nh = nhash > MAX_HASH_PRESIZE ? MAX_HASH_PRESIZE : (int)nhash;
    lua_createtable(L, na, nh); // stack: t
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->tables, d->ntables + 1);
  }
  d->ntables++;
  d->depth++;
  for (uint64_t i = 1; i <= narr; i++) {
    d->owed--;
    size_t vat = d->pos;
    if (vat >= d->len) {
      return corrupt(d, vat, "truncated table: expected array value %llu of %llu",
                     (unsigned long long)i, (unsigned long long)narr);
    }
    uint8_t tag = d->p[vat];
    if (tag == LF_LUA_CODEC_INT) { // the common case, inline
      uint64_t u = 0;
      d->pos++;
      if (!rd_varint(d, &u, "integer")) {
        return false;
      }
      if (L != NULL) {
        lua_pushinteger(L, unzigzag(u));
        lua_rawseti(L, -2, (lua_Integer)i);
      }
      continue;
    }
    if (tag == LF_LUA_CODEC_NIL) { // a hole
      d->pos++;
      continue;
    }
    if (!walk(d)) {
      return false;
    }
    if (L != NULL) {
      lua_rawseti(L, -2, (lua_Integer)i); // stack: t
    }
  }
  for (uint64_t j = 0; j < nhash; j++) {
    d->owed -= 2;
    size_t kat = d->pos;
    if (kat >= d->len) {
      return corrupt(d, kat, "truncated table: expected key %llu of %llu",
                     (unsigned long long)j + 1, (unsigned long long)nhash);
    }
    uint8_t tag = d->p[kat];
    if (tag == LF_LUA_CODEC_NIL) {
      return corrupt(d, kat, "nil used as a table key");
    }
    if (tag == LF_LUA_CODEC_FLOAT && d->len - kat > 8 && isnan(get_f64(d->p + kat + 1))) {
      return corrupt(d, kat, "NaN used as a table key");
    }
    if (!walk(d)) {
      return false;
    }
    size_t vat = d->pos;
    if (vat < d->len && d->p[vat] == LF_LUA_CODEC_NIL) {
      return corrupt(d, vat, "nil value in a table's hash part");
    }
    if (!walk(d)) {
      return false;
    }
    if (L != NULL) {
      lua_rawset(L, -3); // stack: t
    }
  }
  d->depth--;
  return true;
}

static size_t dtype_size(unsigned dt)
{
  switch (dt) {
  case LF_LUA_CODEC_F64:
  case LF_LUA_CODEC_I64:
    return 8;
  case LF_LUA_CODEC_F32:
  case LF_LUA_CODEC_I32:
    return 4;
  case LF_LUA_CODEC_U8:
    return 1;
  default:
    return 0;
  }
}

// Parses an NDARRAY header after its tag; on success d->pos is at the element data and
// *nbytes is its size (checked to be present).
static bool nd_header(dec *d, size_t at, unsigned *dtype, unsigned *ndim, uint64_t *shape,
                      size_t *nbytes)
{
  if (d->len - d->pos < 2) {
    return corrupt(d, at, "truncated numeric array header");
  }
  *dtype = d->p[d->pos++];
  *ndim = d->p[d->pos++];
  size_t isz = dtype_size(*dtype);
  if (isz == 0) {
    return corrupt(d, at, "unknown numeric array dtype %u", *dtype);
  }
  if (*ndim > LF_LUA_CODEC_MAX_NDIM) {
    return corrupt(d, at, "numeric array has %u dimensions (at most %d)", *ndim,
                   LF_LUA_CODEC_MAX_NDIM);
  }
  uint64_t count = 1;
  bool overflow = false;
  for (unsigned k = 0; k < *ndim; k++) {
    if (!rd_varint(d, &shape[k], "numeric array shape")) {
      return false;
    }
    if (shape[k] != 0 && count > UINT64_MAX / shape[k]) {
      overflow = true;
    }
    count *= shape[k];
  }
  size_t pad = (LF_LUA_CODEC_ALIGN - d->pos % LF_LUA_CODEC_ALIGN) % LF_LUA_CODEC_ALIGN;
  if (d->len - d->pos < pad) {
    return corrupt(d, d->pos, "truncated numeric array padding");
  }
  for (size_t k = 0; k < pad; k++) {
    if (d->p[d->pos + k] != 0) {
      return corrupt(d, d->pos + k, "non-zero numeric array padding");
    }
  }
  d->pos += pad;
  size_t rem = d->len - d->pos;
  if (overflow || count > rem / isz) {
    return corrupt(d, at, "numeric array data exceeds the %zu remaining bytes", rem);
  }
  *nbytes = (size_t)count * isz;
  return true;
}

static bool walk(dec *d)
{
  lua_State *L = d->L;
  size_t at = d->pos;
  if (at >= d->len) {
    return corrupt(d, at, "truncated input: expected a value");
  }
  uint8_t tag = d->p[d->pos++];
  switch (tag) {
  case LF_LUA_CODEC_NIL:
    if (L != NULL) {
      lua_pushnil(L);
    }
    return true;
  case LF_LUA_CODEC_FALSE:
  case LF_LUA_CODEC_TRUE:
    if (L != NULL) {
      lua_pushboolean(L, tag == LF_LUA_CODEC_TRUE);
    }
    return true;
  case LF_LUA_CODEC_INT: {
    uint64_t u = 0;
    if (!rd_varint(d, &u, "integer")) {
      return false;
    }
    if (L != NULL) {
      lua_pushinteger(L, unzigzag(u));
    }
    return true;
  }
  case LF_LUA_CODEC_FLOAT:
    if (d->len - d->pos < 8) {
      return corrupt(d, at, "truncated float: needs 8 bytes, %zu remain", d->len - d->pos);
    }
    if (L != NULL) {
      lua_pushnumber(L, get_f64(d->p + d->pos));
    }
    d->pos += 8;
    return true;
  case LF_LUA_CODEC_STRING: {
    uint64_t n = 0;
    if (!rd_varint(d, &n, "string length")) {
      return false;
    }
    if (n > d->len - d->pos) {
      return corrupt(d, at, "string of %llu bytes but only %zu bytes remain",
                     (unsigned long long)n, d->len - d->pos);
    }
    if (L != NULL) {
      lua_pushlstring(L, (const char *)d->p + d->pos, (size_t)n);
    }
    d->pos += (size_t)n;
    return true;
  }
  case LF_LUA_CODEC_TABLE:
    return walk_table(d, at);
  case LF_LUA_CODEC_REF: {
    uint64_t id = 0;
    if (!rd_varint(d, &id, "table reference")) {
      return false;
    }
    if (id >= (uint64_t)d->ntables) {
      return corrupt(d, at, "reference to table %llu but only %lld tables came before",
                     (unsigned long long)id, (long long)d->ntables);
    }
    if (L != NULL) {
      lua_rawgeti(L, d->tables, (lua_Integer)id + 1);
    }
    return true;
  }
  case LF_LUA_CODEC_NDARRAY: {
    if (L != NULL) {
      return corrupt(d, at, "numeric arrays are not supported yet");
    }
    unsigned dtype;
    unsigned ndim;
    uint64_t shape[LF_LUA_CODEC_MAX_NDIM];
    size_t nbytes;
    if (!nd_header(d, at, &dtype, &ndim, shape, &nbytes)) {
      return false;
    }
    d->pos += nbytes;
    d->ntables++;
    return true;
  }
  default:
    return corrupt(d, at, "unknown value tag 0x%02x", tag);
  }
}

// Runs the walker over a whole encoding: format byte, one value, nothing after it.
static bool walk_all(dec *d)
{
  if (d->len == 0) {
    return corrupt(d, 0, "empty input");
  }
  if (d->p[0] != LF_LUA_CODEC_FORMAT) {
    return corrupt(d, 0, "unknown format byte 0x%02x (expected 0x%02x)", d->p[0],
                   LF_LUA_CODEC_FORMAT);
  }
  d->pos = 1;
  if (!walk(d)) {
    return false;
  }
  if (d->pos != d->len) {
    return corrupt(d, d->pos, "%zu trailing bytes after the value", d->len - d->pos);
  }
  return true;
}
