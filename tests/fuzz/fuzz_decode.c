// SPDX-License-Identifier: MIT
// libFuzzer target for the artifact value decoder (host/lua_api/codec_encode.c and codec_decode.c): any bytes must
// decode cleanly or fail with LF_ERR_CORRUPT, never crash, overread or allocate without
// bound. Whatever decodes must re-encode, re-encoding is idempotent (unless tables are used as
// keys, see "Table keys" in codec.h), and the Lua-free validator and describe agree with the
// decoder. Seeds: tests/fuzz/seeds/decode/.
//   clang -fsanitize=fuzzer,address,undefined ... tests/fuzz/fuzz_decode.c
//   ./fuzz_decode -max_total_time=180 corpus/ tests/fuzz/seeds/decode/
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// True if a table reachable from the table at `t` has a table as a key. `seen` is the stack
// index of a set of visited tables. Depth is bounded by the decoder's nesting limit.
static int has_table_keys(lua_State *L, int t, int seen)
{
  lua_pushvalue(L, t);
  if (lua_rawget(L, seen) != LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, t);
  lua_pushboolean(L, 1);
  lua_rawset(L, seen);
  if (!lua_checkstack(L, 4)) {
    abort();
  }
  int found = 0;
  lua_pushnil(L);
  while (!found && lua_next(L, t) != 0) { // stack: key, value
    int top = lua_gettop(L);
    found = lua_type(L, top - 1) == LUA_TTABLE ||
            (lua_type(L, top) == LUA_TTABLE && has_table_keys(L, top, seen));
    lua_pop(L, 1);
  }
  if (found) {
    lua_pop(L, 1);
  }
  return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static lua_State *L;
  if (L == NULL) {
    L = luaL_newstate();
    if (L == NULL) {
      abort();
    }
  }
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_lua_decode(L, data, size, &err);
  lf_err verr;
  lf_err_clear(&verr);
  lf_status vst = lf_lua_codec_validate(data, size, &verr);
  char out[96];
  const char *type = lf_lua_codec_describe(data, size, out, sizeof(out), 32);
  if (st == LF_OK) {
    if (lua_gettop(L) != 1 || vst != LF_OK || type == NULL) {
      abort();
    }
    const void *enc;
    size_t len;
    lf_err eerr;
    lf_err_clear(&eerr);
    lf_status est = lf_lua_encode(L, 1, &enc, &len, &eerr);
    if (est != LF_OK) {
      // Decoding checks nesting along the input's order, encoding along the canonical one;
      // a table first reached through a deep reference can make the latter deeper.
      if (est != LF_ERR_UNSTORABLE || strstr(eerr.msg, "nested deeper than") == NULL) {
        abort();
      }
      lua_settop(L, 0);
      return 0;
    }
    // Re-decoding the canonical form must work and give the same canonical bytes.
    if (lf_lua_decode(L, enc, len, &eerr) != LF_OK) {
      abort();
    }
    const void *enc2;
    size_t len2;
    if (lf_lua_encode(L, -1, &enc2, &len2, &eerr) != LF_OK) {
      abort();
    }
    int keys = 0;
    if (lua_type(L, 1) == LUA_TTABLE) {
      lua_newtable(L);
      keys = has_table_keys(L, 1, lua_gettop(L));
    }
    if (!keys && (len2 != len || memcmp(enc, enc2, len) != 0)) {
      abort();
    }
  } else {
    if (st != LF_ERR_CORRUPT || lua_gettop(L) != 0 || strstr(err.msg, "byte offset") == NULL) {
      abort();
    }
    if (vst != LF_ERR_CORRUPT || strcmp(err.msg, verr.msg) != 0 || type != NULL) {
      abort();
    }
  }
  if ((type != NULL) != (vst == LF_OK)) {
    abort();
  }
  lua_settop(L, 0);
  return 0;
}
