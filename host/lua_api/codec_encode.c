// SPDX-License-Identifier: MIT
// This file contains the encoder half of the artifact value codec: lf_lua_encode, which writes
// a Lua value in the canonical byte format documented in codec.h (hash parts sorted, shared
// tables numbered, errors naming the path to what cannot be stored), and the luaflow.Buffer
// userdata that owns the bytes. The store hashes and compresses what it produces; the reverse
// direction is codec_decode.c, and what the two halves share is in codec_internal.h.
#include "lua_api/codec.h"

#include <lauxlib.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "kernels/csr.h"
#include "kernels/nd.h"
#include "lua_api/codec_internal.h"
#include "lua_api/l_nd.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the numeric array encoding copies element memory as is: little-endian hosts only"
#endif

// The largest encoding we produce; beyond it encoding fails instead of growing further.
#if SIZE_MAX > 0xffffffffu
#define MAX_ENCODING ((size_t)64 << 30)
#else
#define MAX_ENCODING ((size_t)1 << 30)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

// Sort classes of hash keys, in canonical order.
enum { CLS_FALSE, CLS_TRUE, CLS_NUM, CLS_STR, CLS_TABLE };

// Kinds of the value of a hash entry: scalars are kept in the sortkey itself.
enum { VAL_LUA, VAL_FALSE, VAL_TRUE, VAL_INT, VAL_FLOAT };

// An entry of a table's hash part, collected for sorting. String and table keys, and
// values other than numbers and booleans, are anchored in the scratch sequence at `kslot` /
// `vslot`: that keeps `a.s` valid (Lua 5.4 does not move strings) even if the table were
// changed behind our back, and gives the encoder the Lua values back after sorting.
// Numbers and booleans are copied instead, which saves two Lua calls per entry.
typedef struct sortkey {
  union {
    lua_Integer i; // CLS_NUM integer; CLS_TABLE seen: the id
    double d;      // CLS_NUM float
    const char *s; // CLS_STR
    uint64_t sig;  // CLS_TABLE unseen: content signature of the key
  } a;
  union {
    size_t len;    // CLS_STR
    uint64_t vsig; // CLS_TABLE unseen: signature of the value
  } b;
  uint64_t pre[2]; // CLS_STR: the first 16 bytes, big-endian, zero-padded (compares fast)
  union {
    lua_Integer i; // VAL_INT
    double d;      // VAL_FLOAT
  } v;
  uint32_t kslot; // CLS_STR, CLS_TABLE
  uint32_t vslot; // VAL_LUA
  uint8_t cls;
  uint8_t sub;   // CLS_NUM: 1 if integer; CLS_TABLE: 1 if it already has an id
  uint8_t vkind; // VAL_*
} sortkey;

// The "luaflow.Buffer" userdata. It exists before the encoder allocates anything, so a
// memory error raised mid-encoding leaves all C memory owned by a collectable object.
// A top-level contiguous array is not copied: its header goes into the headroom in front of
// the array's buffer and the encoding is that memory (`ext`), kept alive by a reference.
typedef struct udbuf {
  lf_dynbuf buf;
  sortkey *keys; // stack of hash keys of the tables being encoded
  size_t nkeys;
  size_t capkeys;
  lf_nd_buf *nd;   // the array buffer `ext` lies in, or NULL
  const char *ext; // the encoding in place, or NULL (then it is `buf`)
  size_t extlen;
} udbuf;

enum { SEG_INDEX, SEG_KEY, SEG_VALUE };

// One step of the path from the top value to the value being encoded.
typedef struct pathseg {
  int kind;       // SEG_*
  lua_Integer at; // SEG_INDEX: the array index; otherwise the index of the entry in u->keys
} pathseg;

typedef struct enc {
  lua_State *L;
  udbuf *u;
  lf_err *err;
  int seen;          // stack index: table -> id
  int scratch;       // stack index: sequence anchoring the keys and values being sorted
  uint32_t stop;     // last used scratch slot
  lua_Integer ntables;
  int depth;         // tables entered
  pathseg path[LF_LUA_CODEC_MAX_DEPTH + 1];
} enc;

static udbuf *push_udbuf(lua_State *L);
static void udbuf_release(udbuf *u);
static inline bool room(enc *e, size_t n);
static inline void put_byte(enc *e, uint8_t c);
static lf_status enc_value(enc *e, int vi, int type);
static bool encode_in_place(lua_State *L, int vi, udbuf *u);

lf_status lf_lua_encode(lua_State *L, int idx, const void **data, size_t *len, lf_err *err)
{
  int vi = lua_absindex(L, idx);
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 16)) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot grow the Lua stack while encoding a value");
  }
  enc e;
  e.L = L;
  e.err = err;
  e.u = push_udbuf(L); // stack: buf
  lua_createtable(L, 0, 0);
  e.seen = lua_gettop(L); // stack: buf, seen
  lua_createtable(L, 0, 0);
  e.scratch = lua_gettop(L); // stack: buf, seen, scratch
  e.stop = 0;
  e.ntables = 0;
  e.depth = 0;
  if (encode_in_place(L, vi, e.u)) {
    lua_settop(L, top + 1); // stack: buf
    *data = e.u->ext;
    *len = e.u->extlen;
    return LF_OK;
  }
  lf_status st = LF_ERR_UNSTORABLE;
  if (room(&e, 1)) {
    put_byte(&e, LF_LUA_CODEC_FORMAT);
    st = enc_value(&e, vi, lua_type(L, vi));
  }
  if (st != LF_OK) {
    udbuf_release(e.u);
    lua_settop(L, top);
    return st;
  }
  lf_free(e.u->keys);
  e.u->keys = NULL;
  e.u->capkeys = 0;
  e.u->buf.data[e.u->buf.len] = '\0';
  lua_settop(L, top + 1); // stack: buf
  *data = e.u->buf.data;
  *len = e.u->buf.len;
  return LF_OK;
}

const void *lf_lua_codec_buffer_data(lua_State *L, int idx, size_t *len)
{
  udbuf *u = luaL_testudata(L, idx, LF_LUA_CODEC_BUFFER);
  if (u != NULL && u->ext != NULL) {
    *len = u->extlen;
    return u->ext;
  }
  if (u == NULL || u->buf.data == NULL) {
    *len = 0;
    return NULL;
  }
  *len = u->buf.len;
  return u->buf.data;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

static bool is_identifier(const char *s, size_t n)
{
  static const char *const reserved[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
  };
  if (n == 0 || n > 64 || (s[0] >= '0' && s[0] <= '9')) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_';
    if (!ok) {
      return false;
    }
  }
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
    if (strlen(reserved[i]) == n && memcmp(reserved[i], s, n) == 0) {
      return false;
    }
  }
  return true;
}

static inline uint64_t mix64(uint64_t x)
{
  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return x;
}

// ---------------------------------------------------------------------------------------------
// The luaflow.Buffer userdata

static void udbuf_release(udbuf *u)
{
  if (u->nd != NULL) {
    u->nd->headroom_users--;
    lf_nd_buf_unref(u->nd);
    u->nd = NULL;
  }
  u->ext = NULL;
  u->extlen = 0;
  lf_dynbuf_free(&u->buf);
  lf_free(u->keys);
  u->keys = NULL;
  u->nkeys = 0;
  u->capkeys = 0;
}

static int l_buffer_gc(lua_State *L)
{
  udbuf *u = luaL_checkudata(L, 1, LF_LUA_CODEC_BUFFER);
  udbuf_release(u);
  return 0;
}

static int l_buffer_len(lua_State *L)
{
  udbuf *u = luaL_checkudata(L, 1, LF_LUA_CODEC_BUFFER);
  lua_pushinteger(L, (lua_Integer)(u->ext != NULL ? u->extlen : u->buf.len));
  return 1;
}

static int l_buffer_tostring(lua_State *L)
{
  udbuf *u = luaL_checkudata(L, 1, LF_LUA_CODEC_BUFFER);
  lua_pushfstring(L, LF_LUA_CODEC_BUFFER " (%I bytes)",
                  (lua_Integer)(u->ext != NULL ? u->extlen : u->buf.len));
  return 1;
}

static const luaL_Reg buffer_meta[] = {
  {"__close",    l_buffer_gc      },
  {"__gc",       l_buffer_gc      },
  {"__len",      l_buffer_len     },
  {"__tostring", l_buffer_tostring},
  {NULL,         NULL             },
};

// Pushes a new, empty buffer userdata. May raise (memory).
static udbuf *push_udbuf(lua_State *L)
{
  udbuf *u = lua_newuserdatauv(L, sizeof(udbuf), 0);
  lf_dynbuf_init(&u->buf, MAX_ENCODING);
  u->keys = NULL;
  u->nkeys = 0;
  u->capkeys = 0;
  u->nd = NULL;
  u->ext = NULL;
  u->extlen = 0;
  if (luaL_newmetatable(L, LF_LUA_CODEC_BUFFER)) {
    luaL_setfuncs(L, buffer_meta, 0);
  }
  lua_setmetatable(L, -2);
  return u;
}

// ---------------------------------------------------------------------------------------------
// Encoder: errors

// Renders the first `nseg` path steps Lua-style: ["model"][3].fit
static void render_path(const enc *e, int nseg, sbuf *b)
{
  for (int k = 0; k < nseg; k++) {
    const pathseg *seg = &e->path[k];
    if (seg->kind == SEG_INDEX) {
      sb_addf(b, "[%lld]", (long long)seg->at);
      continue;
    }
    if (seg->kind == SEG_KEY) {
      sb_adds(b, "[<key>]");
      continue;
    }
    const sortkey *key = &e->u->keys[seg->at];
    if (key->cls == CLS_STR) {
      if (k > 0 && is_identifier(key->a.s, key->b.len)) {
        sb_add(b, ".", 1);
        sb_add(b, key->a.s, key->b.len);
      } else {
        sb_add(b, "[", 1);
        sb_addquoted(b, key->a.s, key->b.len, 40);
        sb_add(b, "]", 1);
      }
    } else if (key->cls == CLS_NUM && key->sub) {
      sb_addf(b, "[%lld]", (long long)key->a.i);
    } else if (key->cls == CLS_NUM) {
      char num[64];
      fmt_float(key->a.d, num, sizeof(num));
      sb_addf(b, "[%s]", num);
    } else if (key->cls != CLS_TABLE) {
      sb_adds(b, key->cls == CLS_TRUE ? "[true]" : "[false]");
    } else {
      sb_adds(b, "[<table>]");
    }
  }
}

// Sets LF_ERR_UNSTORABLE: "<what> cannot be stored[ as a table key] (at <path>)[; <hint>]".
static lf_status unstorable(enc *e, int nseg, const char *what, bool askey, const char *hint)
{
  char path[600];
  sbuf b = {path, sizeof(path), 0};
  path[0] = '\0';
  render_path(e, nseg, &b);
  if (b.n == sizeof(path) - 1) {
    memcpy(path + sizeof(path) - 4, "...", 4);
  }
  return LF_ERR(e->err, LF_ERR_UNSTORABLE, "%s cannot be stored%s%s%s%s%s%s", what,
                askey ? " as a table key" : "", path[0] != '\0' ? " (at " : "", path,
                path[0] != '\0' ? ")" : "", hint != NULL ? "; " : "", hint != NULL ? hint : "");
}

// For a value of a type that can never be stored.
static lf_status bad_type(enc *e, int vi, int type, bool askey, int nseg)
{
  lua_State *L = e->L;
  char what[128];
  switch (type) {
  case LUA_TFUNCTION:
    snprintf(what, sizeof(what), "a function");
    break;
  case LUA_TTHREAD:
    snprintf(what, sizeof(what), "a coroutine");
    break;
  case LUA_TLIGHTUSERDATA:
    snprintf(what, sizeof(what), "a light userdata");
    break;
  case LUA_TUSERDATA:
    if (luaL_getmetafield(L, vi, "__name") == LUA_TSTRING) {
      snprintf(what, sizeof(what), "a userdata of type '%.80s'", lua_tostring(L, -1));
      lua_pop(L, 1);
    } else {
      snprintf(what, sizeof(what), "a userdata");
    }
    break;
  default:
    snprintf(what, sizeof(what), "a %s", lua_typename(L, type));
  }
  return unstorable(e, nseg, what, askey, NULL);
}

static lf_status stack_overflow(enc *e)
{
  return LF_ERR(e->err, LF_ERR_NOMEM, "cannot grow the Lua stack while encoding a value");
}

// ---------------------------------------------------------------------------------------------
// Encoder: output

static bool grow(enc *e, size_t n)
{
  if (n > SIZE_MAX / 2 || !lf_dynbuf_reserve(&e->u->buf, n)) {
    LF_ERR(e->err, LF_ERR_UNSTORABLE, "the value is too large to store (encoding exceeds %zu bytes)",
           (size_t)MAX_ENCODING);
    return false;
  }
  return true;
}

// Makes room for `n` more bytes (plus the dynbuf's terminator).
static inline bool room(enc *e, size_t n)
{
  lf_dynbuf *b = &e->u->buf;
  return b->cap - b->len > n || grow(e, n);
}

static inline void put_byte(enc *e, uint8_t c)
{
  lf_dynbuf *b = &e->u->buf;
  b->data[b->len++] = (char)c;
}

static inline void put_uvarint(enc *e, uint64_t v)
{
  lf_dynbuf *b = &e->u->buf;
  b->len += put_varint((uint8_t *)b->data + b->len, v);
}

// Writes the number at `vi`. Needs room for 11 bytes.
static inline void put_number(enc *e, int vi)
{
  lua_State *L = e->L;
  lf_dynbuf *b = &e->u->buf;
  uint8_t *p = (uint8_t *)b->data + b->len;
  if (lua_isinteger(L, vi)) {
    p[0] = LF_LUA_CODEC_INT;
    b->len += 1 + put_varint(p + 1, zigzag(lua_tointeger(L, vi)));
  } else {
    p[0] = LF_LUA_CODEC_FLOAT;
    put_f64(p + 1, lua_tonumber(L, vi));
    b->len += 9;
  }
}

static lf_status put_string(enc *e, int vi)
{
  size_t n;
  const char *s = lua_tolstring(e->L, vi, &n);
  if (!room(e, n > SIZE_MAX - 16 ? SIZE_MAX : n + 11)) {
    return LF_ERR_UNSTORABLE;
  }
  put_byte(e, LF_LUA_CODEC_STRING);
  put_uvarint(e, n);
  lf_dynbuf *b = &e->u->buf;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  return LF_OK;
}

// Writes a key other than a table from its sortkey (a string is anchored in scratch).
static bool put_key(enc *e, const sortkey *k)
{
  size_t n = k->cls == CLS_STR ? k->b.len : 0;
  if (!room(e, n > SIZE_MAX - 16 ? SIZE_MAX : n + 11)) {
    return false;
  }
  lf_dynbuf *b = &e->u->buf;
  uint8_t *p = (uint8_t *)b->data + b->len;
  switch (k->cls) {
  case CLS_FALSE:
    *p = LF_LUA_CODEC_FALSE;
    b->len++;
    break;
  case CLS_TRUE:
    *p = LF_LUA_CODEC_TRUE;
    b->len++;
    break;
  case CLS_NUM:
    if (k->sub) {
      p[0] = LF_LUA_CODEC_INT;
      b->len += 1 + put_varint(p + 1, zigzag(k->a.i));
    } else {
      p[0] = LF_LUA_CODEC_FLOAT;
      put_f64(p + 1, k->a.d);
      b->len += 9;
    }
    break;
  default:
    p[0] = LF_LUA_CODEC_STRING;
    b->len += 1 + put_varint(p + 1, n);
    memcpy(b->data + b->len, k->a.s, n);
    b->len += n;
  }
  return true;
}

// Writes the value of a hash entry kept in its sortkey (numbers and booleans).
static bool put_scalar_value(enc *e, const sortkey *k)
{
  if (!room(e, 11)) {
    return false;
  }
  lf_dynbuf *b = &e->u->buf;
  uint8_t *p = (uint8_t *)b->data + b->len;
  switch (k->vkind) {
  case VAL_FALSE:
  case VAL_TRUE:
    *p = k->vkind == VAL_TRUE ? LF_LUA_CODEC_TRUE : LF_LUA_CODEC_FALSE;
    b->len++;
    break;
  case VAL_INT:
    p[0] = LF_LUA_CODEC_INT;
    b->len += 1 + put_varint(p + 1, zigzag(k->v.i));
    break;
  default:
    p[0] = LF_LUA_CODEC_FLOAT;
    put_f64(p + 1, k->v.d);
    b->len += 9;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Encoder: canonical key order

static int cmp_int_float(lua_Integer i, double f)
{
  // Exact: converting i to double could round. floor(f) is an exact int64 in this range.
  if (f >= 0x1p63) {
    return -1;
  }
  if (f < -0x1p63) {
    return 1;
  }
  double fl = floor(f);
  lua_Integer fi = (lua_Integer)fl;
  if (i != fi) {
    return i < fi ? -1 : 1;
  }
  return -1; // i == floor(f) <= f, and an integer sorts before an equal float
}

static inline int cmp_keys(const sortkey *x, const sortkey *y)
{
  if (x->cls != y->cls) {
    return x->cls < y->cls ? -1 : 1;
  }
  switch (x->cls) {
  case CLS_NUM:
    if (x->sub && y->sub) {
      return x->a.i < y->a.i ? -1 : x->a.i > y->a.i;
    }
    if (!x->sub && !y->sub) {
      return x->a.d < y->a.d ? -1 : x->a.d > y->a.d;
    }
    return x->sub ? cmp_int_float(x->a.i, y->a.d) : -cmp_int_float(y->a.i, x->a.d);
  case CLS_STR: {
    // Differing prefixes order like the bytes (a zero pad only ties with a NUL byte);
    // equal prefixes mean equal bytes up to the shorter length if that is at most 16. So
    // short keys sort without touching the strings, which are scattered in memory.
    if (x->pre[0] != y->pre[0]) {
      return x->pre[0] < y->pre[0] ? -1 : 1;
    }
    if (x->pre[1] != y->pre[1]) {
      return x->pre[1] < y->pre[1] ? -1 : 1;
    }
    size_t n = x->b.len < y->b.len ? x->b.len : y->b.len;
    int c = n > 16 ? memcmp(x->a.s + 16, y->a.s + 16, n - 16) : 0;
    if (c != 0) {
      return c < 0 ? -1 : 1;
    }
    return x->b.len < y->b.len ? -1 : x->b.len > y->b.len;
  }
  case CLS_TABLE:
    if (x->sub != y->sub) {
      return x->sub ? -1 : 1;
    }
    if (x->sub) {
      return x->a.i < y->a.i ? -1 : x->a.i > y->a.i;
    }
    if (x->a.sig != y->a.sig) {
      return x->a.sig < y->a.sig ? -1 : 1;
    }
    if (x->b.vsig != y->b.vsig) {
      return x->b.vsig < y->b.vsig ? -1 : 1;
    }
    break;
  default:
    break;
  }
  return x->kslot < y->kslot ? -1 : x->kslot > y->kslot;
}

// Stable bottom-up merge sort with the comparison inlined: several times faster than qsort's
// indirect calls on large hash parts. Runs no Lua code, so the scratch array can be local.
static void sort_keys(sortkey *a, size_t n)
{
  enum { RUN = 16 };
  for (size_t lo = 0; lo < n; lo += RUN) {
    size_t hi = lo + RUN < n ? lo + RUN : n;
    for (size_t i = lo + 1; i < hi; i++) {
      sortkey k = a[i];
      size_t j = i;
      while (j > lo && cmp_keys(&k, &a[j - 1]) < 0) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = k;
    }
  }
  if (n <= RUN) {
    return;
  }
  sortkey *tmp = lf_xmalloc(n * sizeof(sortkey));
  sortkey *src = a;
  sortkey *dst = tmp;
  for (size_t width = RUN; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t i = lo;
      size_t j = mid;
      size_t k = lo;
      while (i < mid && j < hi) {
        dst[k++] = cmp_keys(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
      }
      while (i < mid) {
        dst[k++] = src[i++];
      }
      while (j < hi) {
        dst[k++] = src[j++];
      }
    }
    sortkey *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) {
    memcpy(a, src, n * sizeof(sortkey));
  }
  lf_free(tmp);
}

static uint64_t sig_string(const char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325u; // FNV-1a
  for (size_t i = 0; i < n; i++) {
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
  }
  return mix64(h ^ n);
}

static uint64_t sig_int(lua_Integer i)
{
  return mix64((uint64_t)i ^ 0x1000);
}

static uint64_t sig_float(double x)
{
  uint64_t bits;
  memcpy(&bits, &x, sizeof(bits));
  return mix64(bits ^ 0x2000);
}

static uint64_t sig_bool(bool b)
{
  return b ? 0x3 : 0x2;
}

// Content signature of the value at `vi`, looking `depth` tables deep. Independent of
// iteration order (entries are combined by addition) and of table identity.
static uint64_t sig_value(lua_State *L, int vi, int depth)
{
  switch (lua_type(L, vi)) {
  case LUA_TNIL:
    return 0x1;
  case LUA_TBOOLEAN:
    return sig_bool(lua_toboolean(L, vi));
  case LUA_TNUMBER:
    if (lua_isinteger(L, vi)) {
      return sig_int(lua_tointeger(L, vi));
    }
    return sig_float(lua_tonumber(L, vi));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, vi, &n);
    return sig_string(s, n);
  }
  case LUA_TTABLE: {
    uint64_t sum = 0x7ab1e;
    if (depth <= 0 || !lua_checkstack(L, 3)) {
      return sum;
    }
    lua_pushnil(L);
    while (lua_next(L, vi) != 0) {
      int top = lua_gettop(L);
      uint64_t hk = sig_value(L, top - 1, depth - 1);
      uint64_t hv = sig_value(L, top, depth - 1);
      sum += mix64(hk ^ mix64(hv + 0x9e3779b97f4a7c15u));
      lua_pop(L, 1);
    }
    return mix64(sum);
  }
  default:
    return 0x5;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder: tables

// Anchors the value on top of the stack in the scratch sequence (pops it).
static bool anchor(enc *e, uint32_t *slot)
{
  if (e->stop >= UINT32_MAX - 1) {
    LF_ERR(e->err, LF_ERR_UNSTORABLE, "the value is too large to store (too many table entries)");
    return false;
  }
  *slot = ++e->stop;
  lua_rawseti(e->L, e->scratch, (lua_Integer)*slot);
  return true;
}

// Appends an entry of the hash part; the stack holds key, value on top. Pops the value
// (leaving the key for lua_next).
static lf_status add_key(enc *e, int kt)
{
  lua_State *L = e->L;
  sortkey k;
  k.sub = 0;
  k.kslot = 0;
  k.vslot = 0;
  switch (kt) {
  case LUA_TBOOLEAN:
    k.cls = lua_toboolean(L, -2) ? CLS_TRUE : CLS_FALSE;
    break;
  case LUA_TNUMBER:
    k.cls = CLS_NUM;
    if (lua_isinteger(L, -2)) {
      k.sub = 1;
      k.a.i = lua_tointeger(L, -2);
    } else {
      k.a.d = lua_tonumber(L, -2);
    }
    break;
  case LUA_TSTRING:
    k.cls = CLS_STR;
    k.a.s = lua_tolstring(L, -2, &k.b.len);
    k.pre[0] = 0;
    k.pre[1] = 0;
    for (size_t i = 0; i < 16 && i < k.b.len; i++) {
      k.pre[i / 8] |= (uint64_t)(unsigned char)k.a.s[i] << (56 - 8 * (i % 8));
    }
    break;
  case LUA_TTABLE:
    k.cls = CLS_TABLE;
    k.a.sig = 0;
    k.b.vsig = 0;
    break;
  default:
    return bad_type(e, lua_gettop(L) - 1, kt, true, e->depth - 1);
  }
  if (k.cls >= CLS_STR) {
    lua_pushvalue(L, -2);
    if (!anchor(e, &k.kslot)) { // stack: key, value
      return LF_ERR_UNSTORABLE;
    }
  }
  switch (lua_type(L, -1)) {
  case LUA_TBOOLEAN:
    k.vkind = lua_toboolean(L, -1) ? VAL_TRUE : VAL_FALSE;
    lua_pop(L, 1);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) {
      k.vkind = VAL_INT;
      k.v.i = lua_tointeger(L, -1);
    } else {
      k.vkind = VAL_FLOAT;
      k.v.d = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    break;
  default:
    k.vkind = VAL_LUA;
    if (!anchor(e, &k.vslot)) {
      return LF_ERR_UNSTORABLE;
    }
  }
  // stack: key
  udbuf *u = e->u;
  if (u->nkeys == u->capkeys) {
    size_t cap = u->capkeys != 0 ? u->capkeys * 2 : 16;
    u->keys = lf_xrealloc(u->keys, cap * sizeof(sortkey));
    u->capkeys = cap;
  }
  u->keys[u->nkeys++] = k;
  return LF_OK;
}

// Gives the table keys in keys[kbase, kbase + m) their sort data: the id if they have one
// already, else content signatures.
static void prepare_table_keys(enc *e, size_t kbase, size_t m)
{
  lua_State *L = e->L;
  for (size_t j = kbase; j < kbase + m; j++) {
    sortkey *k = &e->u->keys[j];
    if (k->cls != CLS_TABLE) {
      continue;
    }
    lua_rawgeti(L, e->scratch, k->kslot); // stack: key
    lua_pushvalue(L, -1);
    if (lua_rawget(L, e->seen) == LUA_TNUMBER) { // stack: key, id
      k->sub = 1;
      k->a.i = lua_tointeger(L, -1);
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1); // stack: key
    uint64_t sig = sig_value(L, lua_gettop(L), 2);
    lua_pop(L, 1);
    uint64_t vsig;
    switch (k->vkind) {
    case VAL_FALSE:
    case VAL_TRUE:
      vsig = sig_bool(k->vkind == VAL_TRUE);
      break;
    case VAL_INT:
      vsig = sig_int(k->v.i);
      break;
    case VAL_FLOAT:
      vsig = sig_float(k->v.d);
      break;
    default:
      lua_rawgeti(L, e->scratch, k->vslot); // stack: value
      vsig = sig_value(L, lua_gettop(L), 1);
      lua_pop(L, 1);
    }
    k = &e->u->keys[j]; // sig_value runs no C allocation, but stay safe
    k->a.sig = sig;
    k->b.vsig = vsig;
  }
}

static lf_status enc_table(enc *e, int ti)
{
  lua_State *L = e->L;
  lua_pushvalue(L, ti);
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) { // stack: id
    lua_Integer id = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!room(e, 11)) {
      return LF_ERR_UNSTORABLE;
    }
    put_byte(e, LF_LUA_CODEC_REF);
    put_uvarint(e, (uint64_t)id);
    return LF_OK;
  }
  lua_pop(L, 1);
  if (lua_getmetatable(L, ti)) {
    lua_pop(L, 1);
    return unstorable(e, e->depth, "a table with a metatable", false,
                      "call setmetatable(t, nil) first to store its plain contents");
  }
  if (e->depth >= LF_LUA_CODEC_MAX_DEPTH) {
    char what[64];
    snprintf(what, sizeof(what), "tables nested deeper than %d levels",
             LF_LUA_CODEC_MAX_DEPTH);
    return unstorable(e, e->depth, what, false, NULL);
  }
  if (!lua_checkstack(L, 8)) {
    return stack_overflow(e);
  }
  lua_pushvalue(L, ti);
  lua_pushinteger(L, e->ntables++);
  lua_rawset(L, e->seen);
  int d = e->depth++;

  // Pass 1: count the keys 1..b (b: any border) and collect all others.
  lua_Unsigned b = lua_rawlen(L, ti);
  lua_Unsigned inarr = 0;
  size_t kbase = e->u->nkeys;
  uint32_t sbase = e->stop;
  lf_status st;
  lua_pushnil(L);
  while (lua_next(L, ti) != 0) { // stack: key, value
    if (lua_isinteger(L, -2)) {
      lua_Integer k = lua_tointeger(L, -2);
      if (k >= 1 && (lua_Unsigned)k <= b) {
        inarr++;
        lua_pop(L, 1);
        continue;
      }
    }
    st = add_key(e, lua_type(L, -2));
    if (st != LF_OK) {
      return st;
    }
  }
  // The array part is the hole-free prefix; with holes below b, keys after the first hole
  // move to the hash part (rare: only tables with holes pay for this scan).
  lua_Unsigned n = b;
  if (inarr != b) {
    n = 0;
    while (n < b) {
      int t = lua_rawgeti(L, ti, (lua_Integer)n + 1);
      lua_pop(L, 1);
      if (t == LUA_TNIL) {
        break;
      }
      n++;
    }
    for (lua_Unsigned i = n + 2; i <= b; i++) {
      if (lua_rawgeti(L, ti, (lua_Integer)i) == LUA_TNIL) {
        lua_pop(L, 1);
        continue;
      }
      lua_pushinteger(L, (lua_Integer)i);
      lua_insert(L, -2); // stack: key, value
      st = add_key(e, LUA_TNUMBER);
      if (st != LF_OK) {
        return st;
      }
      lua_pop(L, 1);
    }
  }
  size_t m = e->u->nkeys - kbase;
  if (!room(e, 21)) {
    return LF_ERR_UNSTORABLE;
  }
  put_byte(e, LF_LUA_CODEC_TABLE);
  put_uvarint(e, (uint64_t)n);
  put_uvarint(e, (uint64_t)m);

  // Array part.
  // Values are popped in batches: one API call less per element on large arrays.
  enum { BATCH = 64 };
  if (!lua_checkstack(L, BATCH + 4)) {
    return stack_overflow(e);
  }
  int base = lua_gettop(L);
  e->path[d].kind = SEG_INDEX;
  for (lua_Integer i = 1; (lua_Unsigned)i <= n; i++) {
    int t = lua_rawgeti(L, ti, i);
    if (t == LUA_TNUMBER) {
      if (!room(e, 11)) {
        return LF_ERR_UNSTORABLE;
      }
      put_number(e, -1);
    } else {
      e->path[d].at = i;
      st = enc_value(e, lua_gettop(L), t);
      if (st != LF_OK) {
        return st;
      }
    }
    if (i % BATCH == 0) {
      lua_settop(L, base);
    }
  }
  lua_settop(L, base);

  // Hash part, sorted once the array part has numbered its tables.
  if (m != 0) {
    prepare_table_keys(e, kbase, m);
    sort_keys(e->u->keys + kbase, m);
  }
  for (size_t j = kbase; j < kbase + m; j++) {
    // Entries are read by index: nested tables may move e->u->keys.
    e->path[d].kind = SEG_KEY;
    e->path[d].at = (lua_Integer)j;
    if (j + 8 < kbase + m && e->u->keys[j + 8].cls == CLS_STR) {
      // The strings are scattered in memory and now visited in sorted order.
      PREFETCH(e->u->keys[j + 8].a.s);
    }
    if (e->u->keys[j].cls == CLS_TABLE) {
      int t = lua_rawgeti(L, e->scratch, (lua_Integer)e->u->keys[j].kslot);
      st = enc_value(e, lua_gettop(L), t);
      if (st != LF_OK) {
        return st;
      }
      lua_pop(L, 1);
    } else if (!put_key(e, &e->u->keys[j])) {
      return LF_ERR_UNSTORABLE;
    }
    e->path[d].kind = SEG_VALUE;
    if (e->u->keys[j].vkind != VAL_LUA) {
      if (!put_scalar_value(e, &e->u->keys[j])) {
        return LF_ERR_UNSTORABLE;
      }
      continue;
    }
    int t = lua_rawgeti(L, e->scratch, (lua_Integer)e->u->keys[j].vslot);
    st = enc_value(e, lua_gettop(L), t);
    if (st != LF_OK) {
      return st;
    }
    lua_pop(L, 1);
  }
  e->u->nkeys = kbase;
  e->stop = sbase;
  e->depth--;
  return LF_OK;
}

// ---------------------------------------------------------------------------------------------
// Encoder: numeric arrays

// Writes the NDARRAY header (tag, dtype, ndim, shape) into `p`. @return its length
static size_t nd_header(uint8_t *p, uint8_t dtype, int ndim, const int64_t *shape)
{
  size_t n = 0;
  p[n++] = LF_LUA_CODEC_NDARRAY;
  p[n++] = dtype;
  p[n++] = (uint8_t)ndim;
  for (int k = 0; k < ndim; k++) {
    n += put_varint(p + n, (uint64_t)shape[k]);
  }
  return n;
}

// Zero bytes up to the next multiple of the alignment (room was made by the caller).
static void put_pad(enc *e)
{
  lf_dynbuf *b = &e->u->buf;
  while (b->len % LF_LUA_CODEC_ALIGN != 0) {
    b->data[b->len++] = 0;
  }
}

typedef struct gather_ctx {
  const lf_nd *a;
  uint8_t *out;
  size_t isz;
} gather_ctx;

static void gather_one(int64_t off, void *vctx)
{
  gather_ctx *g = vctx;
  memcpy(g->out, lf_nd_ptr(g->a, off), g->isz);
  g->out += g->isz;
}

// Appends the elements of `a` in row-major order (room was made by the caller).
static void put_elems(enc *e, const lf_nd *a)
{
  lf_dynbuf *b = &e->u->buf;
  size_t isz = lf_nd_itemsize(a->dtype);
  size_t nbytes = (size_t)lf_nd_size(a) * isz;
  if (lf_nd_is_contig(a)) {
    if (nbytes != 0) {
      memcpy(b->data + b->len, lf_nd_ptr(a, a->offset), nbytes);
    }
  } else {
    gather_ctx g = {a, (uint8_t *)b->data + b->len, isz};
    lf_nd_foreach(a, gather_one, &g);
  }
  b->len += nbytes;
}

static lf_status put_nd(enc *e, const lf_nd *a)
{
  size_t nbytes = (size_t)lf_nd_size(a) * lf_nd_itemsize(a->dtype);
  if (nbytes > MAX_ENCODING || !room(e, 400 + nbytes)) {
    return LF_ERR(e->err, LF_ERR_UNSTORABLE, "the array is too large to store");
  }
  lf_dynbuf *b = &e->u->buf;
  b->len += nd_header((uint8_t *)b->data + b->len, (uint8_t)a->dtype, a->ndim, a->shape);
  put_pad(e);
  put_elems(e, a);
  return LF_OK;
}

// CSR: dtype byte 0x80 | data dtype, ndim 2, rows, cols, nnz; then indptr (i64), indices
// (i32) and data, each starting at a multiple of 64 (codec.h).
static lf_status put_csr(enc *e, const lf_csr *m)
{
  int64_t nnz = lf_csr_nnz(m);
  size_t isz = lf_nd_itemsize(m->data.dtype);
  size_t nbytes = (size_t)(m->rows + 1) * 8 + (size_t)nnz * (4 + isz);
  if (nbytes > MAX_ENCODING || !room(e, 3 * 64 + 40 + nbytes)) {
    return LF_ERR(e->err, LF_ERR_UNSTORABLE, "the sparse matrix is too large to store");
  }
  lf_dynbuf *b = &e->u->buf;
  int64_t shape[2] = {m->rows, m->cols};
  uint8_t *p = (uint8_t *)b->data + b->len;
  size_t n = nd_header(p, (uint8_t)(LF_LUA_CODEC_CSR_FLAG | m->data.dtype), 2, shape);
  n += put_varint(p + n, (uint64_t)nnz);
  b->len += n;
  put_pad(e);
  put_elems(e, &m->indptr);
  put_pad(e);
  put_elems(e, &m->indices);
  put_pad(e);
  put_elems(e, &m->data);
  return LF_OK;
}

static lf_status enc_array(enc *e, int vi)
{
  lua_State *L = e->L;
  lua_pushvalue(L, vi);
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) { // stack: id
    lua_Integer id = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!room(e, 11)) {
      return LF_ERR_UNSTORABLE;
    }
    put_byte(e, LF_LUA_CODEC_REF);
    put_uvarint(e, (uint64_t)id);
    return LF_OK;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, vi);
  lua_pushinteger(L, e->ntables++);
  lua_rawset(L, e->seen);
  const lf_nd *a = lf_lua_nd_test(L, vi);
  return a != NULL ? put_nd(e, a) : put_csr(e, lf_lua_csr_test(L, vi));
}

// The zero-copy path for a top-level array: contiguous, the whole of its own buffer, with
// headroom no other live encoding is using. Writes the header before the data.
static bool encode_in_place(lua_State *L, int vi, udbuf *u)
{
  const lf_nd *a = lf_lua_nd_test(L, vi);
  if (a == NULL || !lf_nd_is_contig(a) || a->offset != 0 || a->buf->headroom_users != 0) {
    return false;
  }
  size_t nbytes = (size_t)lf_nd_size(a) * lf_nd_itemsize(a->dtype);
  if (nbytes != a->buf->nbytes) {
    return false;
  }
  uint8_t hdr[LF_ND_HEADROOM];
  hdr[0] = LF_LUA_CODEC_FORMAT;
  size_t n = 1 + nd_header(hdr + 1, (uint8_t)a->dtype, a->ndim, a->shape);
  while (n % LF_LUA_CODEC_ALIGN != 0) {
    hdr[n++] = 0;
  }
  if (n > a->buf->headroom) {
    return false;
  }
  uint8_t *start = a->buf->data - n;
  memcpy(start, hdr, n);
  u->nd = lf_nd_buf_ref(a->buf);
  u->nd->headroom_users++;
  u->ext = (const char *)start;
  u->extlen = n + nbytes;
  return true;
}

static lf_status enc_value(enc *e, int vi, int type)
{
  switch (type) {
  case LUA_TNIL:
  case LUA_TBOOLEAN:
    if (!room(e, 1)) {
      return LF_ERR_UNSTORABLE;
    }
    if (type == LUA_TNIL) {
      put_byte(e, LF_LUA_CODEC_NIL);
    } else {
      put_byte(e, lua_toboolean(e->L, vi) ? LF_LUA_CODEC_TRUE : LF_LUA_CODEC_FALSE);
    }
    return LF_OK;
  case LUA_TNUMBER:
    if (!room(e, 11)) {
      return LF_ERR_UNSTORABLE;
    }
    put_number(e, vi);
    return LF_OK;
  case LUA_TSTRING:
    return put_string(e, vi);
  case LUA_TTABLE:
    return enc_table(e, vi);
  case LUA_TUSERDATA:
    if (lf_lua_nd_test(e->L, vi) != NULL || lf_lua_csr_test(e->L, vi) != NULL) {
      return enc_array(e, vi);
    }
    return bad_type(e, vi, type, false, e->depth);
  default:
    return bad_type(e, vi, type, false, e->depth);
  }
}
