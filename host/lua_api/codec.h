// SPDX-License-Identifier: MIT
// The artifact value codec: the canonical binary encoding every artifact is stored as.
//
// FORMAT (version 1)
// ==================
// An encoding is one format byte, 0x01, followed by exactly one value; nothing may follow it.
// Offsets below are byte offsets from the start of the encoding (the format byte is offset 0).
//
//   varint   unsigned LEB128: 7 bits per byte, least significant group first, high bit set on
//            every byte but the last. At most 10 bytes, the value fits in 64 bits, and the
//            shortest form is required (no trailing 0x80 0x00 padding).
//   zigzag   signed integers as varints of (n << 1) ^ (n >> 63): 0, -1, 1, -2, ... -> 0, 1, 2, 3.
//
//   tag  name     payload
//   0x00 NIL      -
//   0x01 FALSE    -
//   0x02 TRUE     -
//   0x03 INT      zigzag varint (a Lua integer; every int64 value)
//   0x04 FLOAT    8 bytes IEEE-754 binary64, little-endian, bit-exact (NaN payloads, -0.0, inf)
//   0x05 STRING   varint byte length, then the bytes (binary-safe)
//   0x06 TABLE    varint array count n, varint hash count m, then n values (the values of keys
//                 1..n), then m key/value pairs (key value key value ...)
//   0x07 REF      varint table id: the same table as the one with that id (shared reference,
//                 or a cycle when it refers to an enclosing table)
//   0x08 NDARRAY  typed numeric array (luaflow.nd): dtype byte, ndim byte (0..32), ndim shape
//                 varints (row-major, C order), then 0..63 zero bytes of padding so that the
//                 element data starts at an offset that is a multiple of 64, then
//                 prod(shape) * itemsize bytes of little-endian elements.
//                 dtype: 0 f64 (8 bytes), 1 f32 (4), 2 i64 (8), 3 i32 (4), 4 u8 (1).
//                 A dtype byte of 0x80 | d is a CSR sparse matrix (luaflow.csr) with data
//                 of dtype d: ndim must be 2 (rows, cols), then a varint nnz, then three
//                 sections each starting at a multiple of 64 (zero padding before it):
//                 indptr ((rows + 1) i64), indices (nnz i32), data (nnz of dtype d). The
//                 structure must be valid: indptr[0] = 0, non-decreasing, indptr[rows] = nnz,
//                 and within each row column numbers strictly increasing and < cols.
//                 An array may not be a table key (decoders reject it, also through a REF).
//   other tags are reserved and rejected.
//
// Table ids: each TABLE and each NDARRAY takes the next id, 0, 1, 2, ..., in the order its tag
// appears in the byte stream (pre-order: a table is numbered before its contents). A REF must
// name an id already assigned. Both the decoder and the encoder limit table nesting to
// LF_LUA_CODEC_MAX_DEPTH levels (a table inside a table, as a value or as a key, is one level
// deeper; the encoder counts along the canonical order, the decoder along the bytes).
//
// Decoder rules: a table key may not be NIL or a NaN FLOAT; a value in the hash part may not
// be NIL; a NIL in the array part is a hole (accepted, though the encoder never writes one).
// Duplicate keys are not rejected (the last one wins); the canonical order is not verified.
//
// CANONICAL FORM (what the encoder writes; equal values give identical bytes)
// ---------------------------------------------------------------------------
// - Array part: n is the length of the longest prefix 1..n of keys that are all present.
//   This (and not lua_rawlen, whose border depends on how the table was built) keeps the
//   bytes independent of insertion history; keys after a hole go to the hash part.
// - Hash part: all other keys, sorted: false < true < numbers < strings < tables.
//   Numbers compare numerically with integers and floats interleaved (an integer sorts
//   before a float of the same value); strings compare bytewise (memcmp, then length).
// - Table keys: keys that already have an id when their table's hash part is sorted (the
//   table appeared earlier in the encoding) come first, ordered by id. The remaining ones,
//   which get their ids in the order they are written, are ordered by content signatures
//   (ascending 64-bit hashes, sig_value() in codec_encode.c, part of format version 1): the key
//   table's entries two levels deep, then the entry's value one level deep; independent of
//   iteration order and of table identity. Keys whose signatures tie
//   (contents that agree that deep, with values that agree one level deep) keep lua_next
//   order: the one case where the bytes may depend on a table's history (and where
//   re-encoding a decoded value may reorder them). The encoding is still deterministic for
//   a given table in a given state, and decodes to an equal value either way.
// - Tables are numbered in order of first encounter; every later occurrence is a REF.
// - Integers use INT, floats FLOAT, always (3 and 3.0 differ); no other choices exist.
#pragma once

#include <lua.h>
#include <stddef.h>

#include "core/err.h"

/// Format byte that starts every encoding.
#define LF_LUA_CODEC_FORMAT 0x01
/// Deepest table nesting the encoder writes and the decoder accepts.
#define LF_LUA_CODEC_MAX_DEPTH 200
/// Most dimensions of a numeric array.
#define LF_LUA_CODEC_MAX_NDIM 32
/// Alignment of numeric array data, from the start of the encoding.
#define LF_LUA_CODEC_ALIGN 64
/// Metatable name of the userdata lf_lua_encode pushes.
#define LF_LUA_CODEC_BUFFER "luaflow.Buffer"

/// Value tags (see the format above). The numbers are part of the stored format.
typedef enum lf_lua_codec_tag {
  LF_LUA_CODEC_NIL = 0x00,
  LF_LUA_CODEC_FALSE = 0x01,
  LF_LUA_CODEC_TRUE = 0x02,
  LF_LUA_CODEC_INT = 0x03,
  LF_LUA_CODEC_FLOAT = 0x04,
  LF_LUA_CODEC_STRING = 0x05,
  LF_LUA_CODEC_TABLE = 0x06,
  LF_LUA_CODEC_REF = 0x07,
  LF_LUA_CODEC_NDARRAY = 0x08,
} lf_lua_codec_tag;

/// The dtype bit that marks a CSR matrix (see NDARRAY above).
#define LF_LUA_CODEC_CSR_FLAG 0x80

/// Element types of NDARRAY. The numbers are part of the stored format.
typedef enum lf_lua_codec_dtype {
  LF_LUA_CODEC_F64 = 0,
  LF_LUA_CODEC_F32 = 1,
  LF_LUA_CODEC_I64 = 2,
  LF_LUA_CODEC_I32 = 3,
  LF_LUA_CODEC_U8 = 4,
} lf_lua_codec_dtype;

/// Encodes the value at stack index `idx` canonically, using raw access only (no metamethod
/// runs).
/// On success pushes ONE userdata (metatable "luaflow.Buffer", freed by __gc/__close) that
/// owns the bytes, sets *data/*len to them (valid while that userdata stays alive, e.g. on
/// the stack) and returns LF_OK. Numeric arrays (luaflow.ndarray, luaflow.csr) are written
/// as NDARRAY; a top-level contiguous array is not copied: the buffer then refers to the
/// array's memory (header in the headroom before it), so the array must not be modified
/// while the buffer is alive. If the value (or anything inside it) cannot be stored,
/// pushes nothing and returns LF_ERR_UNSTORABLE with err->msg naming what and where, e.g.
/// `a function cannot be stored (at ["model"][3].fit)`; the "(at ...)" part is left out for
/// the top value. Also LF_ERR_UNSTORABLE past 64 GiB of encoding, and LF_ERR_NOMEM if the Lua
/// stack cannot grow (nothing pushed either way).
/// May raise only memory errors; nothing leaks when it does.
/// @param[out] data borrowed from the pushed userdata
/// @param[out] err  may be NULL
lf_status lf_lua_encode(lua_State *L, int idx, const void **data, size_t *len, lf_err *err);

/// Decodes exactly `len` bytes and pushes one value. On malformed input pushes nothing and
/// returns LF_ERR_CORRUPT with a message saying what is wrong and at which byte offset.
/// Never reads out of bounds; recursion is bounded by LF_LUA_CODEC_MAX_DEPTH; allocation is
/// bounded by what the remaining input can justify. NDARRAY values become luaflow.ndarray or
/// luaflow.csr userdata holding copies of the elements. May raise only memory errors.
/// @param[out] err may be NULL
lf_status lf_lua_decode(lua_State *L, const void *data, size_t len, lf_err *err);

/// Like lf_lua_decode, but when the encoding is one dense array the array takes ownership of
/// the bytes instead of copying them (its elements are read in place; the memory is freed
/// with lf_free when the array and its views are gone). `*data` must be a lf_xmalloc'd or
/// lf_try_malloc'd block; on adoption *data is set to NULL, otherwise the caller still owns
/// it. Ownership moves atomically: if a memory error is raised, *data is still the
/// caller's. For loading large array artifacts at memory speed.
lf_status lf_lua_decode_adopt(lua_State *L, void **data, size_t len, lf_err *err);

/// Checks that `len` bytes are one well-formed encoding (the decoder's rules, NDARRAY
/// included) without a Lua state. @return LF_OK or LF_ERR_CORRUPT with a message.
lf_status lf_lua_codec_validate(const void *data, size_t len, lf_err *err);

/// Short human description of an encoded value without a Lua state, for `luaflow dump`:
/// writes "nil", "bool true", "int 42", "float 0.5", "string(11) \"hello world\"" (escaped,
/// cut with "..." after `width` bytes), "table(3 array, 2 hash)" or "array(f64, 3x4)" into
/// `out` (always NUL-terminated when outsize > 0, truncated to fit). The whole encoding is
/// validated first; if it is corrupt, writes "corrupt: <reason>" and returns NULL.
/// @return static type name: "nil", "boolean", "integer", "float", "string", "table",
///         "array"; or NULL if corrupt.
const char *lf_lua_codec_describe(const void *data, size_t len, char *out, size_t outsize,
                                  size_t width);

/// The bytes of a "luaflow.Buffer" userdata at `idx`, or NULL (and *len = 0) if the value is
/// not one or has been released. Borrowed: valid while the userdata is alive.
const void *lf_lua_codec_buffer_data(lua_State *L, int idx, size_t *len);
