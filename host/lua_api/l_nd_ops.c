// SPDX-License-Identifier: MIT
// This file contains the arithmetic metamethods (__add, __sub, __mul, __div, __idiv, __mod,
// __pow, __unm) and the methods of luaflow.nd arrays: shape changes, copies, reductions,
// sorting, products, conversion to Lua tables, element access and slicing. Positions and axes
// are 1-based on the Lua side (negative positions count from the end); the kernels are
// 0-based and the conversion happens here.
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "kernels/nd_ops.h"
#include "lua_api/l_nd.h"

// ---------------------------------------------------------------------------------------------
// Elementwise operations

// The dtype a Lua number takes next to an array of dtype `other` (numpy's weak scalars).
static lf_nd_dtype scalar_dtype(lua_State *L, int idx, lf_nd_dtype other)
{
  if (lua_isinteger(L, idx)) {
    return other;
  }
  return lf_nd_is_float(other) ? other : LF_ND_F64;
}

// Checks operand `idx`: an array or a number (raises otherwise).
static lf_nd *operand_check(lua_State *L, int idx)
{
  lf_nd *a = lf_lua_nd_test(L, idx);
  if (a == NULL && lua_type(L, idx) != LUA_TNUMBER) {
    luaL_error(L, "arithmetic on an array needs a number or an array, got %s",
               luaL_typename(L, idx));
  }
  return a;
}

// Makes `s` a 0-d array holding the number at `idx`.
static lf_status scalar_init(lua_State *L, int idx, lf_nd_dtype dt, lf_nd *s, lf_err *err)
{
  lf_status st = lf_nd_init(s, dt, 0, NULL, false, err);
  if (st == LF_OK) {
    if (lua_isinteger(L, idx)) {
      lf_nd_set_i(s, 0, lua_tointeger(L, idx));
    } else {
      lf_nd_set_f(s, 0, lua_tonumber(L, idx));
    }
  }
  return st;
}

static int binop(lua_State *L, lf_nd_binop op)
{
  lf_nd *a = operand_check(L, 1);
  lf_nd *b = operand_check(L, 2);
  if (a == NULL && b == NULL) {
    return luaL_error(L, "arithmetic on arrays needs at least one array");
  }
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  lf_nd sa;
  lf_nd sb;
  sa.buf = NULL;
  sb.buf = NULL;
  lf_status st = LF_OK;
  if (a == NULL) {
    st = scalar_init(L, 1, scalar_dtype(L, 1, b->dtype), &sa, &err);
    a = &sa;
  }
  if (b == NULL && st == LF_OK) {
    st = scalar_init(L, 2, scalar_dtype(L, 2, a->dtype), &sb, &err);
    b = &sb;
  }
  if (st == LF_OK) {
    st = lf_nd_binary(out, op, a, b, &err);
  }
  lf_nd_release(&sa);
  lf_nd_release(&sb);
  if (st != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_add(lua_State *L)
{
  return binop(L, LF_ND_ADD);
}

static int l_sub(lua_State *L)
{
  return binop(L, LF_ND_SUB);
}

static int l_mul(lua_State *L)
{
  return binop(L, LF_ND_MUL);
}

static int l_div(lua_State *L)
{
  return binop(L, LF_ND_DIV);
}

static int l_idiv(lua_State *L)
{
  return binop(L, LF_ND_IDIV);
}

static int l_mod(lua_State *L)
{
  return binop(L, LF_ND_MOD);
}

static int l_pow(lua_State *L)
{
  return binop(L, LF_ND_POW);
}

static int l_minimum(lua_State *L)
{
  return binop(L, LF_ND_MIN);
}

static int l_maximum(lua_State *L)
{
  return binop(L, LF_ND_MAX);
}

static int l_eq(lua_State *L)
{
  return binop(L, LF_ND_EQ);
}

static int l_ne(lua_State *L)
{
  return binop(L, LF_ND_NE);
}

static int l_lt(lua_State *L)
{
  return binop(L, LF_ND_LT);
}

static int l_le(lua_State *L)
{
  return binop(L, LF_ND_LE);
}

static int l_gt(lua_State *L)
{
  return binop(L, LF_ND_GT);
}

static int l_ge(lua_State *L)
{
  return binop(L, LF_ND_GE);
}

static int unop(lua_State *L, lf_nd_unop op)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_unary(out, op, a, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_unm(lua_State *L)
{
  return unop(L, LF_ND_NEG);
}

static int l_abs(lua_State *L)
{
  return unop(L, LF_ND_ABS);
}

static int l_sqrt(lua_State *L)
{
  return unop(L, LF_ND_SQRT);
}

static int l_exp(lua_State *L)
{
  return unop(L, LF_ND_EXP);
}

static int l_log(lua_State *L)
{
  return unop(L, LF_ND_LOG);
}

// ---------------------------------------------------------------------------------------------
// Shape and copies

// a:reshape(d1, d2, ...) or a:reshape({d1, d2, ...}); one entry may be -1.
static int l_reshape(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int64_t shape[LF_ND_MAX_NDIM];
  int ndim;
  if (lua_type(L, 2) == LUA_TTABLE) {
    ndim = lf_lua_nd_shape_arg(L, 2, shape);
  } else {
    ndim = lua_gettop(L) - 1;
    luaL_argcheck(L, ndim <= LF_ND_MAX_NDIM, 2, "too many dimensions");
    for (int k = 0; k < ndim; k++) {
      shape[k] = luaL_checkinteger(L, k + 2);
    }
  }
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_reshape(out, a, ndim, shape, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

// a:transpose([{axes...}]) — a view; without axes, reverses them.
static int l_transpose(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int perm[LF_ND_MAX_NDIM];
  bool has = !lua_isnoneornil(L, 2);
  if (has) {
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, lua_rawlen(L, 2) == (lua_Unsigned)a->ndim, 2,
                  "needs one axis per dimension");
    for (int k = 0; k < a->ndim; k++) {
      lua_rawgeti(L, 2, k + 1);
      perm[k] = (int)luaL_checkinteger(L, -1) - 1;
      lua_pop(L, 1);
    }
  }
  lf_nd *out = lf_lua_nd_push(L);
  lf_nd_view(out, a);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_transpose(out, has ? perm : NULL, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int copy_as(lua_State *L, lf_nd *a, lf_nd_dtype dt)
{
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_copy(out, a, dt, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_copy(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  return copy_as(L, a, a->dtype);
}

static int l_astype(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  luaL_checkstring(L, 2);
  return copy_as(L, a, lf_lua_nd_dtype_arg(L, 2, a->dtype));
}

static int l_flatten(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int64_t n = -1;
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_reshape(out, a, 1, &n, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_is_contiguous(lua_State *L)
{
  lua_pushboolean(L, lf_nd_is_contig(lf_lua_nd_check(L, 1)));
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Reductions

// a:sum([axis]) etc.: without an axis, a Lua number; with one (1-based), an array.
static int reduce(lua_State *L, lf_nd_redop op)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int axis = -1;
  if (!lua_isnoneornil(L, 2)) {
    lua_Integer ax = luaL_checkinteger(L, 2);
    if (ax < 0) {
      ax += a->ndim + 1;
    }
    if (ax < 1 || ax > a->ndim) {
      return luaL_error(L, "axis %d out of range for an array of %d dimensions",
                        (int)luaL_checkinteger(L, 2), a->ndim);
    }
    axis = (int)ax - 1;
  }
  bool arg = op == LF_ND_ARGMIN || op == LF_ND_ARGMAX;
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_reduce(out, op, a, axis, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  if (arg) {
    int64_t n = lf_nd_size(out);
    int64_t *p = lf_nd_ptr(out, 0);
    for (int64_t i = 0; i < n; i++) {
      p[i]++;
    }
  }
  if (axis < 0) {
    lf_lua_nd_push_elem(L, out, 0);
  }
  return 1;
}

static int l_sum(lua_State *L)
{
  return reduce(L, LF_ND_SUM);
}

static int l_mean(lua_State *L)
{
  return reduce(L, LF_ND_MEAN);
}

static int l_min(lua_State *L)
{
  return reduce(L, LF_ND_MIN_R);
}

static int l_max(lua_State *L)
{
  return reduce(L, LF_ND_MAX_R);
}

static int l_argmin(lua_State *L)
{
  return reduce(L, LF_ND_ARGMIN);
}

static int l_argmax(lua_State *L)
{
  return reduce(L, LF_ND_ARGMAX);
}

// a:argsort([{ descending = false }]) — 1-based positions.
static int l_argsort(lua_State *L)
{
  static const char *const keys[] = {"descending", NULL};
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_lua_opts_check(L, 2, "argsort", keys);
  bool desc = lf_lua_opt_bool(L, 2, "descending", false);
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_argsort(out, a, desc, 1, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

// a:topk(k [, { smallest = false }]) — 1-based positions of the k largest, best first.
static int l_topk(lua_State *L)
{
  static const char *const keys[] = {"smallest", NULL};
  lf_nd *a = lf_lua_nd_check(L, 1);
  lua_Integer k = luaL_checkinteger(L, 2);
  luaL_argcheck(L, k >= 0, 2, "k must be >= 0");
  lf_lua_opts_check(L, 3, "topk", keys);
  bool smallest = lf_lua_opt_bool(L, 3, "smallest", false);
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_topk(out, a, k, smallest, 1, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

// a:matmul(b [, { threads }])
static int l_matmul(lua_State *L)
{
  static const char *const keys[] = {"threads", NULL};
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_nd *b = lf_lua_nd_check(L, 2);
  lf_lua_opts_check(L, 3, "matmul", keys);
  int nt = lf_lua_nd_threads(L, lua_istable(L, 3) ? 3 : 0);
  lf_nd *out = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_matmul(out, a, b, nt, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

static int l_dot(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_nd *b = lf_lua_nd_check(L, 2);
  double d = 0;
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_dot(&d, a, b, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  lua_pushnumber(L, d);
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Elements, slices, tables

static int64_t check_pos(lua_State *L, int arg, int64_t n, int axis)
{
  lua_Integer i = luaL_checkinteger(L, arg);
  int64_t j = i < 0 ? n + i : i - 1;
  if (i == 0 || j < 0 || j >= n) {
    luaL_error(L, "index %d out of range for axis %d of size %d", (int)i, axis + 1, (int)n);
  }
  return j;
}

// Element offset of the positions in arguments first .. first+ndim-1.
static int64_t elem_offset(lua_State *L, const lf_nd *a, int first)
{
  int64_t off = a->offset;
  for (int k = 0; k < a->ndim; k++) {
    off += check_pos(L, first + k, a->shape[k], k) * a->strides[k];
  }
  return off;
}

// a:get(i, j, ...) — one position per dimension.
static int l_get(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  if (lua_gettop(L) - 1 != a->ndim) {
    return luaL_error(L, "get needs %d indices for an array of %d dimensions, got %d", a->ndim,
                      a->ndim, lua_gettop(L) - 1);
  }
  lf_lua_nd_push_elem(L, a, elem_offset(L, a, 2));
  return 1;
}

// a:set(i, j, ..., value)
static int l_set(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  if (lua_gettop(L) - 2 != a->ndim) {
    return luaL_error(L, "set needs %d indices and a value, got %d arguments", a->ndim,
                      lua_gettop(L) - 1);
  }
  int vi = lua_gettop(L);
  int64_t off = elem_offset(L, a, 2);
  if (lua_isinteger(L, vi)) {
    lf_nd_set_i(a, off, lua_tointeger(L, vi));
  } else {
    lf_nd_set_f(a, off, luaL_checknumber(L, vi));
  }
  return 0;
}

static int l_item(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  if (lf_nd_size(a) != 1) {
    return luaL_error(L, "item needs an array of one element, this one has %d",
                      (int)lf_nd_size(a));
  }
  int64_t idx[LF_ND_MAX_NDIM] = {0};
  lf_lua_nd_push_elem(L, a, lf_nd_offset_of(a, idx));
  return 1;
}

// a:fill(value) -> a
static int l_fill(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_lua_nd_assign_value(L, a, 2);
  lua_settop(L, 1);
  return 1;
}

// Narrows axis `k` of `v` by the slice spec at argument `arg`: nil/true (all), an integer
// (select, drops the axis), or { start, stop [, step] } (1-based, stop inclusive).
static int apply_spec(lua_State *L, lf_nd *v, int k, int arg)
{
  int t = lua_type(L, arg);
  if (t == LUA_TNONE || t == LUA_TNIL || (t == LUA_TBOOLEAN && lua_toboolean(L, arg))) {
    return k + 1;
  }
  int64_t n = v->shape[k];
  if (t == LUA_TNUMBER) {
    int64_t j = check_pos(L, arg, n, k);
    lf_nd_select_axis(v, k, j);
    return k;
  }
  luaL_argcheck(L, t == LUA_TTABLE, arg, "slice spec must be nil, true, an integer or "
                "{start, stop [, step]}");
  lua_rawgeti(L, arg, 3);
  int64_t step = luaL_optinteger(L, -1, 1);
  lua_pop(L, 1);
  luaL_argcheck(L, step != 0, arg, "slice step must be non-zero");
  lua_rawgeti(L, arg, 1);
  lua_Integer s = luaL_optinteger(L, -1, step > 0 ? 1 : -1);
  lua_rawgeti(L, arg, 2);
  lua_Integer e = luaL_optinteger(L, -1, step > 0 ? -1 : 1);
  lua_pop(L, 2);
  int64_t s0 = s < 0 ? n + s : s - 1;
  int64_t e0 = e < 0 ? n + e : e - 1;
  // The stop is clamped to the axis, like numpy; a start outside it is an error unless the
  // slice is empty.
  int64_t count;
  if (step > 0) {
    e0 = e0 > n - 1 ? n - 1 : e0;
    count = e0 >= s0 ? (e0 - s0) / step + 1 : 0;
  } else {
    e0 = e0 < 0 ? 0 : e0;
    count = s0 >= e0 ? (s0 - e0) / -step + 1 : 0;
  }
  if (count > 0 && (s0 < 0 || s0 >= n)) {
    luaL_error(L, "slice start %d out of range for axis %d of size %d", (int)s, k + 1, (int)n);
  }
  lf_nd_slice_axis(v, k, count > 0 ? s0 : 0, count, step);
  return k + 1;
}

// a:slice(spec1, spec2, ...) — a view; one spec per leading axis, the rest kept whole.
static int l_slice(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int nspec = lua_gettop(L) - 1;
  if (nspec > a->ndim) {
    return luaL_error(L, "slice: %d specs for an array of %d dimensions", nspec, a->ndim);
  }
  lf_nd v = *a; // borrowed until copied into the userdata below
  int k = 0;
  for (int i = 0; i < nspec; i++) {
    k = apply_spec(L, &v, k, i + 2);
  }
  lf_nd *out = lf_lua_nd_push(L);
  *out = v;
  lf_nd_buf_ref(out->buf);
  return 1;
}

static void push_table(lua_State *L, const lf_nd *a, int k, int64_t off)
{
  if (k == a->ndim) {
    lf_lua_nd_push_elem(L, a, off);
    return;
  }
  luaL_checkstack(L, 4, "totable");
  int64_t n = a->shape[k];
  lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    push_table(L, a, k + 1, off + i * a->strides[k]);
    lua_rawseti(L, -2, i + 1);
  }
}

// a:totable() — nested Lua tables (a number for a 0-d array).
static int l_totable(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  push_table(L, a, 0, a->offset);
  return 1;
}

// a:tobytes() — the elements in row-major order as little-endian bytes (numpy's tobytes).
static int l_tobytes(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_nd tmp;
  lf_err err;
  lf_err_clear(&err);
  luaL_Buffer b;
  size_t n = (size_t)lf_nd_size(a) * lf_nd_itemsize(a->dtype);
  char *p = luaL_buffinitsize(L, &b, n);
  if (lf_nd_is_contig(a)) {
    memcpy(p, n != 0 ? lf_nd_ptr(a, a->offset) : p, n);
  } else {
    // The copy is released before anything can raise.
    if (lf_nd_copy(&tmp, a, a->dtype, &err) != LF_OK) {
      return lf_lua_nd_raise(L, &err);
    }
    memcpy(p, lf_nd_ptr(&tmp, 0), n);
    lf_nd_release(&tmp);
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

static int l_tocsr(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_csr *m = lf_lua_csr_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_csr_from_dense(m, a, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  return 1;
}

void lf_lua_nd_add_ops(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"abs",           l_abs          },
    {"add",           l_add          },
    {"argmax",        l_argmax       },
    {"argmin",        l_argmin       },
    {"argsort",       l_argsort      },
    {"astype",        l_astype       },
    {"copy",          l_copy         },
    {"div",           l_div          },
    {"dot",           l_dot          },
    {"eq",            l_eq           },
    {"exp",           l_exp          },
    {"fill",          l_fill         },
    {"flatten",       l_flatten      },
    {"ge",            l_ge           },
    {"get",           l_get          },
    {"gt",            l_gt           },
    {"idiv",          l_idiv         },
    {"is_contiguous", l_is_contiguous},
    {"item",          l_item         },
    {"le",            l_le           },
    {"log",           l_log          },
    {"lt",            l_lt           },
    {"matmul",        l_matmul       },
    {"max",           l_max          },
    {"maximum",       l_maximum      },
    {"mean",          l_mean         },
    {"min",           l_min          },
    {"minimum",       l_minimum      },
    {"mod",           l_mod          },
    {"mul",           l_mul          },
    {"ne",            l_ne           },
    {"pow",           l_pow          },
    {"reshape",       l_reshape      },
    {"set",           l_set          },
    {"slice",         l_slice        },
    {"sqrt",          l_sqrt         },
    {"sub",           l_sub          },
    {"sum",           l_sum          },
    {"tobytes",       l_tobytes      },
    {"tocsr",         l_tocsr        },
    {"topk",          l_topk         },
    {"totable",       l_totable      },
    {"transpose",     l_transpose    },
    {NULL,            NULL           },
  };
  luaL_setfuncs(L, methods, 0);
}

void lf_lua_nd_add_meta_ops(lua_State *L)
{
  static const luaL_Reg meta[] = {
    {"__add",  l_add },
    {"__div",  l_div },
    {"__idiv", l_idiv},
    {"__mod",  l_mod },
    {"__mul",  l_mul },
    {"__pow",  l_pow },
    {"__sub",  l_sub },
    {"__unm",  l_unm },
    {NULL,     NULL  },
  };
  luaL_setfuncs(L, meta, 0);
}
