// SPDX-License-Identifier: MIT
// This file contains the luaflow.text module: text.vectorize(docs, opts) over a Lua list of
// strings and text.vectorize_file(path, opts) over the lines of a file, both returning a CSR
// bag-of-words matrix (luaflow.csr) and its vocabulary (a list of terms, column j is
// vocab[j]) like scikit-learn's CountVectorizer. The kernel is kernels/textvec.c.
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "kernels/textvec.h"
#include "lua_api/l_nd.h"
#include "lua_api/modules.h"

#define TEXTVEC_MT "luaflow.TextVectorizer"

typedef struct vec_box {
  lf_textvec *v;
} vec_box;

static int box_gc(lua_State *L)
{
  vec_box *b = luaL_checkudata(L, 1, TEXTVEC_MT);
  lf_textvec_free(b->v);
  b->v = NULL;
  return 0;
}

// Reads a document-frequency bound: an integer is a count, a float a fraction in [0, 1].
static void df_opt(lua_State *L, int opts, const char *key, double *value, bool *frac)
{
  if (!lf_lua_opt_has(L, opts, key)) {
    return;
  }
  lua_getfield(L, opts, key);
  if (lua_isinteger(L, -1)) {
    lua_Integer n = lua_tointeger(L, -1);
    if (n < 0) {
      luaL_error(L, "option '%s' must be >= 0, got %d", key, (int)n);
    }
    *value = (double)n;
    *frac = false;
  } else if (lua_type(L, -1) == LUA_TNUMBER) {
    double x = lua_tonumber(L, -1);
    if (!(x >= 0 && x <= 1)) {
      luaL_error(L, "option '%s' must be a fraction in [0, 1] (or an integer count), got %f",
                 key, x);
    }
    *value = x;
    *frac = true;
  } else {
    luaL_error(L, "option '%s' must be a number, got %s", key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

// Checks the options at `opts` and pushes the box holding a new vectorizer.
static vec_box *start(lua_State *L, int opts, const char *fname)
{
  static const char *const keys[] = {"binary", "dtype", "lowercase", "max_df", "max_docs",
                                     "min_df", NULL};
  lf_lua_opts_check(L, opts, fname, keys);
  lf_textvec_opts o;
  lf_textvec_opts_default(&o);
  df_opt(L, opts, "min_df", &o.min_df, &o.min_df_frac);
  df_opt(L, opts, "max_df", &o.max_df, &o.max_df_frac);
  o.binary = lf_lua_opt_bool(L, opts, "binary", false);
  o.lowercase = lf_lua_opt_bool(L, opts, "lowercase", true);
  int dt = lf_nd_dtype_parse(lf_lua_opt_str(L, opts, "dtype", "i64"));
  if (dt < 0) {
    luaL_error(L, "%s: unknown dtype", fname);
  }
  o.dtype = (lf_nd_dtype)dt;
  vec_box *b = lua_newuserdatauv(L, sizeof(vec_box), 0);
  b->v = NULL;
  if (luaL_newmetatable(L, TEXTVEC_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  b->v = lf_textvec_new(&o);
  if (b->v == NULL) {
    luaL_error(L, "%s: out of memory", fname);
  }
  return b;
}

// Builds the matrix and pushes it and the vocabulary.
static int finish(lua_State *L, vec_box *b)
{
  lf_csr *m = lf_lua_csr_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_textvec_finish(b->v, m, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  int64_t n = lf_textvec_nterms(b->v);
  lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
  for (int64_t j = 0; j < n; j++) {
    size_t len;
    const char *t = lf_textvec_term(b->v, j, &len);
    lua_pushlstring(L, t, len);
    lua_rawseti(L, -2, j + 1);
  }
  lf_textvec_free(b->v);
  b->v = NULL;
  return 2;
}

// text.vectorize(docs [, opts]) -> csr, vocab
static int l_text_vectorize(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  vec_box *b = start(L, 2, "text.vectorize");
  lua_Unsigned n = lua_rawlen(L, 1);
  lf_err err;
  lf_err_clear(&err);
  for (lua_Unsigned i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (lua_type(L, -1) != LUA_TSTRING) {
      return luaL_error(L, "text.vectorize: document %d is a %s, not a string", (int)i,
                        luaL_typename(L, -1));
    }
    if (lf_textvec_add(b->v, s, len, &err) != LF_OK) {
      return lf_lua_nd_raise(L, &err);
    }
    lua_pop(L, 1);
  }
  return finish(L, b);
}

// text.vectorize_file(path [, opts]) -> csr, vocab; one document per line, streamed;
// opts.max_docs reads only the first lines.
static int l_text_vectorize_file(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  lua_Integer max_docs = lf_lua_opt_int(L, 2, "max_docs", -1);
  vec_box *b = start(L, 2, "text.vectorize_file");
  lf_err err;
  lf_err_clear(&err);
  if (lf_textvec_add_file(b->v, path, max_docs, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return finish(L, b);
}

int lf_lua_open_text(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"vectorize",      l_text_vectorize     },
    {"vectorize_file", l_text_vectorize_file},
    {NULL,             NULL                 },
  };
  lf_lua_nd_setup(L);
  luaL_newlib(L, funcs);
  return 1;
}
