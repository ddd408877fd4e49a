// SPDX-License-Identifier: MIT
// This file contains the sparse side of luaflow.nd: the CSR userdata (metatable
// "luaflow.csr": shape, nnz, dtype, indptr/indices/data as arrays, sum by axis, row
// selection, dense conversion, transpose), the nd.csr constructor and nd.cooc. Row positions
// are 1-based in Lua; the indices array shows the stored 0-based column numbers (scipy's).
#include <lauxlib.h>
#include <string.h>

#include "kernels/cooc.h"
#include "lua_api/l_nd.h"

static int csr_gc(lua_State *L)
{
  lf_csr *m = luaL_checkudata(L, 1, LF_LUA_CSR_MT);
  lf_csr_release(m);
  return 0;
}

lf_csr *lf_lua_csr_push(lua_State *L)
{
  lf_csr *m = lua_newuserdatauv(L, sizeof(lf_csr), 0);
  lf_csr_clear(m);
  lf_lua_nd_setup(L);
  luaL_setmetatable(L, LF_LUA_CSR_MT);
  return m;
}

lf_csr *lf_lua_csr_test(lua_State *L, int idx)
{
  lf_csr *m = luaL_testudata(L, idx, LF_LUA_CSR_MT);
  return m != NULL && m->indptr.buf != NULL ? m : NULL;
}

lf_csr *lf_lua_csr_check(lua_State *L, int idx)
{
  lf_csr *m = luaL_checkudata(L, idx, LF_LUA_CSR_MT);
  if (m->indptr.buf == NULL) {
    luaL_argerror(L, idx, "released sparse matrix");
  }
  return m;
}

static int push_view(lua_State *L, const lf_nd *a)
{
  lf_nd *v = lf_lua_nd_push(L);
  lf_nd_view(v, a);
  return 1;
}

// m:sum([axis]) — axis 1 gives column sums, 2 row sums, none the total (a number).
static int l_csr_sum(lua_State *L)
{
  lf_csr *m = lf_lua_csr_check(L, 1);
  int axis = -1;
  if (!lua_isnoneornil(L, 2)) {
    lua_Integer ax = luaL_checkinteger(L, 2);
    luaL_argcheck(L, ax == 1 || ax == 2, 2, "axis must be 1 (columns) or 2 (rows)");
    axis = (int)ax - 1;
  }
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_csr_sum(out, m, axis, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  if (axis < 0) {
    lf_lua_nd_push_elem(L, out, 0);
  }
  return 1;
}

// Reads 1-based row numbers from a table or an integer array at `idx` into a new i64 array
// (0-based) held by a userdata pushed on the stack.
static lf_nd *row_list(lua_State *L, int idx, int64_t rows)
{
  lf_nd *src = lf_lua_nd_test(L, idx);
  int64_t n = src != NULL ? lf_nd_size(src) : (int64_t)lua_rawlen(L, idx);
  if (src != NULL && (src->ndim != 1 || lf_nd_is_float(src->dtype))) {
    luaL_argerror(L, idx, "row list must be a 1-D integer array or a table");
  }
  lf_nd *sel = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(sel, LF_ND_I64, 1, &n, false, &err) != LF_OK) {
    lf_lua_nd_raise(L, &err);
  }
  int64_t *p = lf_nd_ptr(sel, 0);
  for (int64_t i = 0; i < n; i++) {
    int64_t r;
    if (src != NULL) {
      r = lf_nd_get_i(src, src->offset + i * src->strides[0]);
    } else {
      lua_rawgeti(L, idx, i + 1);
      int ok;
      r = lua_tointegerx(L, -1, &ok);
      if (!ok) {
        luaL_error(L, "row list entry %d is not an integer", (int)i + 1);
      }
      lua_pop(L, 1);
    }
    if (r < 1 || r > rows) {
      luaL_error(L, "row %d out of range (the matrix has %d rows)", (int)r, (int)rows);
    }
    p[i] = r - 1;
  }
  return sel;
}

// m:rows(list) or m:rows(first, last): a new matrix of the chosen rows (1-based, inclusive).
static int l_csr_rows(lua_State *L)
{
  lf_csr *m = lf_lua_csr_check(L, 1);
  lf_err err;
  lf_err_clear(&err);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Integer lo = luaL_checkinteger(L, 2);
    lua_Integer hi = luaL_optinteger(L, 3, lo);
    if (lo < 1 || hi > m->rows || hi < lo - 1) {
      return luaL_error(L, "rows %d..%d out of range (the matrix has %d rows)", (int)lo,
                        (int)hi, (int)m->rows);
    }
    lf_csr *out = lf_lua_csr_push(L);
    if (lf_csr_row_range(out, m, lo - 1, hi, &err) != LF_OK) {
      return lf_lua_nd_raise(L, &err);
    }
    return 1;
  }
  lf_nd *sel = row_list(L, 2, m->rows);
  lf_csr *out = lf_lua_csr_push(L);
  if (lf_csr_take_rows(out, m, lf_nd_ptr(sel, 0), lf_nd_size(sel), &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_csr_todense(lua_State *L)
{
  lf_csr *m = lf_lua_csr_check(L, 1);
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_csr_to_dense(out, m, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_csr_transpose(lua_State *L)
{
  lf_csr *m = lf_lua_csr_check(L, 1);
  lf_csr *out = lf_lua_csr_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_csr_transpose(out, m, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

// m:get(i, j) — the stored value or 0.
static int l_csr_get(lua_State *L)
{
  lf_csr *m = lf_lua_csr_check(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  lua_Integer j = luaL_checkinteger(L, 3);
  if (i < 1 || i > m->rows || j < 1 || j > m->cols) {
    return luaL_error(L, "position (%d, %d) out of range for a %dx%d matrix", (int)i, (int)j,
                      (int)m->rows, (int)m->cols);
  }
  const int64_t *ip = lf_csr_indptr(m);
  const int32_t *ix = lf_csr_indices(m);
  int64_t lo = ip[i - 1];
  int64_t hi = ip[i];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (ix[mid] < j - 1) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < ip[i] && ix[lo] == j - 1) {
    lf_lua_nd_push_elem(L, &m->data, m->data.offset + lo);
  } else if (lf_nd_is_float(m->data.dtype)) {
    lua_pushnumber(L, 0);
  } else {
    lua_pushinteger(L, 0);
  }
  return 1;
}

static int csr_index(lua_State *L)
{
  lf_csr *m = lf_lua_csr_check(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "shape") == 0) {
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, m->rows);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, m->cols);
    lua_rawseti(L, -2, 2);
    return 1;
  }
  if (strcmp(k, "nnz") == 0) {
    lua_pushinteger(L, lf_csr_nnz(m));
    return 1;
  }
  if (strcmp(k, "dtype") == 0) {
    lua_pushstring(L, lf_nd_dtype_name(m->data.dtype));
    return 1;
  }
  if (strcmp(k, "indptr") == 0) {
    return push_view(L, &m->indptr);
  }
  if (strcmp(k, "indices") == 0) {
    return push_view(L, &m->indices);
  }
  if (strcmp(k, "data") == 0) {
    return push_view(L, &m->data);
  }
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNIL) {
    return luaL_error(L, "sparse matrices have no field or method '%s'", k);
  }
  return 1;
}

static int csr_len(lua_State *L)
{
  lua_pushinteger(L, lf_lua_csr_check(L, 1)->rows);
  return 1;
}

static int csr_tostring(lua_State *L)
{
  lf_csr *m = luaL_checkudata(L, 1, LF_LUA_CSR_MT);
  if (m->indptr.buf == NULL) {
    lua_pushliteral(L, "csr(released)");
    return 1;
  }
  lua_pushfstring(L, "csr(%s, %dx%d, nnz %d)", lf_nd_dtype_name(m->data.dtype), (int)m->rows,
                  (int)m->cols, (int)lf_csr_nnz(m));
  return 1;
}

void lf_lua_csr_add_meta(lua_State *L)
{
  static const luaL_Reg meta[] = {
    {"__close",    csr_gc      },
    {"__gc",       csr_gc      },
    {"__len",      csr_len     },
    {"__tostring", csr_tostring},
    {NULL,         NULL        },
  };
  static const luaL_Reg methods[] = {
    {"get",       l_csr_get      },
    {"rows",      l_csr_rows     },
    {"sum",       l_csr_sum      },
    {"todense",   l_csr_todense  },
    {"transpose", l_csr_transpose},
    {NULL,        NULL           },
  };
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, csr_index, 1);
  lua_setfield(L, -2, "__index");
}

// Copies a 1-D array argument field into a contiguous array of dtype `dt`.
static lf_nd *field_array(lua_State *L, int idx, const char *key, lf_nd_dtype dt, bool any)
{
  lua_getfield(L, idx, key);
  lf_nd *src = lf_lua_nd_test(L, -1);
  if (src == NULL || src->ndim != 1) {
    luaL_error(L, "nd.csr: field '%s' must be a 1-D array", key);
  }
  if (!any && lf_nd_is_float(src->dtype)) {
    luaL_error(L, "nd.csr: field '%s' must hold integers", key);
  }
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_copy(out, src, any ? src->dtype : dt, &err) != LF_OK) {
    lf_lua_nd_raise(L, &err);
  }
  return out;
}

// nd.csr(dense) or nd.csr({ indptr = , indices = , data = , shape = {rows, cols} }) with
// scipy's 0-based indices; the structure is checked.
static int l_nd_csr(lua_State *L)
{
  lf_nd *dense = lf_lua_nd_test(L, 1);
  lf_err err;
  lf_err_clear(&err);
  if (dense != NULL) {
    lf_csr *m = lf_lua_csr_push(L);
    if (lf_csr_from_dense(m, dense, &err) != LF_OK) {
      return lf_lua_nd_raise(L, &err);
    }
    return 1;
  }
  static const char *const keys[] = {"data", "indices", "indptr", "shape", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  lf_lua_opts_check(L, 1, "nd.csr", keys);
  lua_getfield(L, 1, "shape");
  int64_t shape[LF_ND_MAX_NDIM];
  if (lua_type(L, -1) != LUA_TTABLE || lf_lua_nd_shape_arg(L, -1, shape) != 2) {
    return luaL_error(L, "nd.csr: field 'shape' must be {rows, cols}");
  }
  lf_nd *ip = field_array(L, 1, "indptr", LF_ND_I64, false);
  lf_nd *ix = field_array(L, 1, "indices", LF_ND_I32, false);
  lf_nd *dv = field_array(L, 1, "data", LF_ND_F64, true);
  int64_t nnz = ix->shape[0];
  if (ip->shape[0] != shape[0] + 1 || dv->shape[0] != nnz || shape[1] > LF_CSR_MAX_COLS) {
    return luaL_error(L, "nd.csr: sizes disagree (indptr needs rows + 1 = %d entries, data "
                      "as many as indices)", (int)shape[0] + 1);
  }
  if (lf_csr_check(lf_nd_ptr(ip, 0), lf_nd_ptr(ix, 0), shape[0], shape[1], nnz, &err) !=
      LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  lf_csr *m = lf_lua_csr_push(L);
  m->rows = shape[0];
  m->cols = shape[1];
  lf_nd_view(&m->indptr, ip);
  lf_nd_view(&m->indices, ix);
  lf_nd_view(&m->data, dv);
  return 1;
}

// nd.cooc(csr [, { threads, output = "dense" | "upper" | "sparse" }])
static int l_nd_cooc(lua_State *L)
{
  static const char *const keys[] = {"output", "threads", NULL};
  lf_csr *b = lf_lua_csr_check(L, 1);
  lf_lua_opts_check(L, 2, "nd.cooc", keys);
  const char *o = lf_lua_opt_str(L, 2, "output", "dense");
  lf_cooc_output out;
  if (strcmp(o, "dense") == 0) {
    out = LF_COOC_DENSE;
  } else if (strcmp(o, "upper") == 0) {
    out = LF_COOC_UPPER;
  } else if (strcmp(o, "sparse") == 0) {
    out = LF_COOC_SPARSE;
  } else {
    return luaL_error(L, "nd.cooc: option 'output' must be dense, upper or sparse, not '%s'", o);
  }
  int nt = lf_lua_nd_threads(L, lua_istable(L, 2) ? 2 : 0);
  lf_nd *dense = NULL;
  lf_csr *sparse = NULL;
  if (out == LF_COOC_SPARSE) {
    sparse = lf_lua_csr_push(L);
  } else {
    dense = lf_lua_nd_push(L);
  }
  lf_err err;
  lf_err_clear(&err);
  if (lf_cooc(b, out, nt, dense, sparse, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_nd_is_csr(lua_State *L)
{
  lua_pushboolean(L, lf_lua_csr_test(L, 1) != NULL);
  return 1;
}

void lf_lua_nd_add_csr_funcs(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"cooc",   l_nd_cooc  },
    {"csr",    l_nd_csr   },
    {"is_csr", l_nd_is_csr},
    {NULL,     NULL       },
  };
  luaL_setfuncs(L, funcs, 0);
}
