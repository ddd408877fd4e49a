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

#include "core/alloc.h"
#include "kernels/csr.h"
#include "kernels/nd.h"
#include "lua_api/codec_internal.h"
#include "lua_api/l_nd.h"

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
  void **adopt;       // lf_lua_decode_adopt: the caller's pointer to the bytes, else NULL
  uint64_t *arr_ids;  // validate only: ids of the arrays so far, increasing
  size_t narr;
  size_t caparr;
} dec;

// A parsed NDARRAY header and the offsets of its element sections.
typedef struct nd_info {
  unsigned dtype; // without the CSR flag
  bool csr;
  unsigned ndim;
  uint64_t shape[LF_LUA_CODEC_MAX_NDIM];
  uint64_t nnz;      // CSR
  size_t sec[3];     // dense: sec[0] = data; CSR: indptr, indices, data
  size_t nbytes[3];
} nd_info;

static bool walk(dec *d);
static bool is_array_ref(dec *d, size_t kat);
static bool walk_all(dec *d);
static inline bool rd_varint(dec *d, uint64_t *out, const char *what);
static bool nd_parse(dec *d, size_t at, nd_info *nd);
static bool corrupt(dec *d, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

lf_status lf_lua_decode(lua_State *L, const void *data, size_t len, lf_err *err)
{
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot grow the Lua stack while decoding a value");
  }
  lua_pushnil(L); // stack: tables (created on the first TABLE tag)
  dec d = {L, data, len, 0, 0, 0, top + 1, 0, LF_OK, err, NULL, NULL, 0, 0};
  if (!walk_all(&d)) {
    lua_settop(L, top);
    return d.st;
  }
  lua_replace(L, top + 1); // stack: value
  return LF_OK;
}

lf_status lf_lua_decode_adopt(lua_State *L, void **data, size_t len, lf_err *err)
{
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot grow the Lua stack while decoding a value");
  }
  lua_pushnil(L);
  dec d = {L, *data, len, 0, 0, 0, top + 1, 0, LF_OK, err, data, NULL, 0, 0};
  if (!walk_all(&d)) {
    lua_settop(L, top);
    return d.st;
  }
  lua_replace(L, top + 1);
  return LF_OK;
}

lf_status lf_lua_codec_validate(const void *data, size_t len, lf_err *err)
{
  dec d = {NULL, data, len, 0, 0, 0, 0, 0, LF_OK, err, NULL, NULL, 0, 0};
  walk_all(&d);
  lf_free(d.arr_ids);
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
  dec d = {NULL, data, len, 1, 0, 0, 0, 0, LF_OK, NULL, NULL, NULL, 0, 0};
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
    nd_info nd;
    nd_parse(&d, 1, &nd);
    sb_addf(&b, "%s(%s, ", nd.csr ? "csr" : "array", lf_nd_dtype_name((int)nd.dtype));
    if (nd.ndim == 0) {
      sb_adds(&b, "scalar");
    }
    for (unsigned k = 0; k < nd.ndim; k++) {
      sb_addf(&b, "%s%llu", k > 0 ? "x" : "", (unsigned long long)nd.shape[k]);
    }
    if (nd.csr) {
      sb_addf(&b, ", nnz %llu", (unsigned long long)nd.nnz);
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
    if (tag == LF_LUA_CODEC_NDARRAY) {
      return corrupt(d, kat, "numeric array used as a table key");
    }
    if (!walk(d)) {
      return false;
    }
    if (tag == LF_LUA_CODEC_REF && is_array_ref(d, kat)) {
      return corrupt(d, kat, "numeric array used as a table key");
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

// Skips the zero padding up to the next multiple of the alignment.
static bool skip_pad(dec *d)
{
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
  return true;
}

// Pads, then claims a section of `count` elements of `isz` bytes at d->pos.
static bool section(dec *d, size_t at, uint64_t count, size_t isz, bool overflow, size_t *off,
                    size_t *nbytes)
{
  if (!skip_pad(d)) {
    return false;
  }
  size_t rem = d->len - d->pos;
  if (overflow || count > rem / isz) {
    return corrupt(d, at, "numeric array data exceeds the %zu remaining bytes", rem);
  }
  *off = d->pos;
  *nbytes = (size_t)count * isz;
  d->pos += *nbytes;
  return true;
}

static int64_t rd_i64(const uint8_t *p)
{
  int64_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

static int32_t rd_i32(const uint8_t *p)
{
  int32_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

// The structure rules of a CSR matrix (codec.h), read from the bytes (any alignment).
static bool csr_valid(dec *d, size_t at, const nd_info *nd)
{
  const uint8_t *ip = d->p + nd->sec[0];
  const uint8_t *ix = d->p + nd->sec[1];
  uint64_t rows = nd->shape[0];
  if (rd_i64(ip) != 0 || rd_i64(ip + 8 * rows) != (int64_t)nd->nnz) {
    return corrupt(d, at, "sparse matrix indptr must run from 0 to nnz (%llu)",
                   (unsigned long long)nd->nnz);
  }
  for (uint64_t r = 0; r < rows; r++) {
    int64_t lo = rd_i64(ip + 8 * r);
    int64_t hi = rd_i64(ip + 8 * (r + 1));
    if (hi < lo || hi > (int64_t)nd->nnz) {
      return corrupt(d, at, "sparse matrix indptr decreases or overruns at row %llu",
                     (unsigned long long)r + 1);
    }
    int64_t prev = -1;
    for (int64_t k = lo; k < hi; k++) {
      int64_t c = rd_i32(ix + 4 * k);
      if (c <= prev || (uint64_t)c >= nd->shape[1]) {
        return corrupt(d, at, "sparse matrix row %llu: bad or unsorted column %lld",
                       (unsigned long long)r + 1, (long long)c);
      }
      prev = c;
    }
  }
  return true;
}

// Parses an NDARRAY after its tag and checks every byte of it; d->pos ends after it.
static bool nd_parse(dec *d, size_t at, nd_info *nd)
{
  if (d->len - d->pos < 2) {
    return corrupt(d, at, "truncated numeric array header");
  }
  unsigned raw = d->p[d->pos++];
  nd->ndim = d->p[d->pos++];
  nd->csr = (raw & LF_LUA_CODEC_CSR_FLAG) != 0;
  nd->dtype = raw & ~(unsigned)LF_LUA_CODEC_CSR_FLAG;
  size_t isz = dtype_size(nd->dtype);
  if (isz == 0) {
    return corrupt(d, at, "unknown numeric array dtype %u", raw);
  }
  if (nd->ndim > LF_LUA_CODEC_MAX_NDIM) {
    return corrupt(d, at, "numeric array has %u dimensions (at most %d)", nd->ndim,
                   LF_LUA_CODEC_MAX_NDIM);
  }
  if (nd->csr && nd->ndim != 2) {
    return corrupt(d, at, "sparse matrix has %u dimensions (needs 2)", nd->ndim);
  }
  uint64_t count = 1;
  uint64_t nonzero = 1;
  bool overflow = false;
  for (unsigned k = 0; k < nd->ndim; k++) {
    if (!rd_varint(d, &nd->shape[k], "numeric array shape")) {
      return false;
    }
    // The bound lf_nd_init applies: the product of the non-zero dimensions is at most
    // LF_ND_MAX_ELEMS, so a shape the array type refuses is corrupt here (and in
    // validation), even when another dimension is zero.
    if (nd->shape[k] != 0) {
      if (nd->shape[k] > (uint64_t)LF_ND_MAX_ELEMS ||
          nonzero > (uint64_t)LF_ND_MAX_ELEMS / nd->shape[k]) {
        overflow = true;
      } else {
        nonzero *= nd->shape[k];
      }
    }
    count *= nd->shape[k];
  }
  if (!nd->csr) {
    overflow = overflow || count > (uint64_t)LF_ND_MAX_ELEMS;
    return section(d, at, count, isz, overflow, &nd->sec[0], &nd->nbytes[0]);
  }
  if (!rd_varint(d, &nd->nnz, "sparse matrix nnz")) {
    return false;
  }
  uint64_t rows = nd->shape[0];
  if (nd->shape[1] > (uint64_t)LF_CSR_MAX_COLS || rows >= (uint64_t)LF_ND_MAX_ELEMS ||
      nd->nnz > (uint64_t)LF_ND_MAX_ELEMS) {
    return corrupt(d, at, "sparse matrix too large");
  }
  return section(d, at, rows + 1, 8, false, &nd->sec[0], &nd->nbytes[0]) &&
         section(d, at, nd->nnz, 4, false, &nd->sec[1], &nd->nbytes[1]) &&
         section(d, at, nd->nnz, isz, false, &nd->sec[2], &nd->nbytes[2]) && csr_valid(d, at, nd);
}

// Records that table id `id` is an array (validate mode; decode checks the Lua type).
static void note_array(dec *d, uint64_t id)
{
  if (d->L != NULL) {
    return;
  }
  if (d->narr == d->caparr) {
    d->caparr = d->caparr != 0 ? d->caparr * 2 : 8;
    d->arr_ids = lf_xrealloc(d->arr_ids, d->caparr * sizeof(uint64_t));
  }
  d->arr_ids[d->narr++] = id;
}

// After a REF key was walked: does it name an array?
static bool is_array_ref(dec *d, size_t kat)
{
  (void)kat;
  if (d->L != NULL) {
    return lua_type(d->L, -1) == LUA_TUSERDATA;
  }
  uint64_t id = 0;
  size_t save = d->pos;
  d->pos = kat + 1;
  rd_varint(d, &id, "table reference");
  d->pos = save;
  size_t lo = 0;
  size_t hi = d->narr;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d->arr_ids[mid] < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < d->narr && d->arr_ids[lo] == id;
}

static void copy_section(lf_nd *dst, const uint8_t *src, size_t nbytes)
{
  if (nbytes != 0) {
    memcpy(lf_nd_ptr(dst, 0), src, nbytes);
  }
}

// Decode mode: pushes the array described by `nd` (already checked).
static bool push_array(dec *d, size_t at, const nd_info *nd)
{
  lua_State *L = d->L;
  lf_err err;
  lf_err_clear(&err);
  int64_t shape[LF_LUA_CODEC_MAX_NDIM];
  for (unsigned k = 0; k < nd->ndim; k++) {
    shape[k] = (int64_t)nd->shape[k];
  }
  if (nd->csr) {
    lf_csr *m = lf_lua_csr_push(L);
    if (lf_csr_alloc(m, shape[0], shape[1], (int64_t)nd->nnz, (lf_nd_dtype)nd->dtype, &err) !=
        LF_OK) {
      d->st = LF_ERR(d->err, LF_ERR_NOMEM, "%s", err.msg);
      return false;
    }
    copy_section(&m->indptr, d->p + nd->sec[0], nd->nbytes[0]);
    copy_section(&m->indices, d->p + nd->sec[1], nd->nbytes[1]);
    copy_section(&m->data, d->p + nd->sec[2], nd->nbytes[2]);
    return true;
  }
  lf_nd *a = lf_lua_nd_push(L);
  if (d->adopt != NULL && at == 1 && nd->sec[0] + nd->nbytes[0] == d->len) {
    // The whole encoding is this array: keep the bytes instead of copying them.
    void *base = *d->adopt;
    lf_nd_buf *b = lf_nd_buf_adopt(base, (uint8_t *)base + nd->sec[0], nd->nbytes[0], NULL);
    *d->adopt = NULL;
    lf_nd_init_view(a, b, (lf_nd_dtype)nd->dtype, (int)nd->ndim, shape);
    lf_nd_buf_unref(b);
    return true;
  }
  if (lf_nd_init(a, (lf_nd_dtype)nd->dtype, (int)nd->ndim, shape, false, &err) != LF_OK) {
    d->st = LF_ERR(d->err, LF_ERR_NOMEM, "%s", err.msg);
    return false;
  }
  copy_section(a, d->p + nd->sec[0], nd->nbytes[0]);
  return true;
}

static bool walk_array(dec *d, size_t at)
{
  nd_info nd;
  if (!nd_parse(d, at, &nd)) {
    return false;
  }
  note_array(d, (uint64_t)d->ntables);
  if (d->L != NULL) {
    if (!need_stack(d, 4)) {
      return false;
    }
    if (d->ntables == 0) {
      lua_createtable(d->L, 0, 0);
      lua_replace(d->L, d->tables);
    }
    if (!push_array(d, at, &nd)) {
      return false;
    }
    lua_pushvalue(d->L, -1);
    lua_rawseti(d->L, d->tables, d->ntables + 1);
  }
  d->ntables++;
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
  case LF_LUA_CODEC_NDARRAY:
    return walk_array(d, at);
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
