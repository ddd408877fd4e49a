// SPDX-License-Identifier: MIT
// This file contains the luaflow.nd module: the array userdata (metatable "luaflow.ndarray":
// indexing and slicing through __index/__newindex, __len, __tostring with truncated printing,
// __eq, __gc/__close), the constructors (zeros, ones, full, arange, array, uniform, normal)
// and the shared helpers of lua_api/l_nd.h (option tables, thread count, shape and dtype
// arguments). Arithmetic and methods are l_nd_ops.c; sparse matrices l_nd_csr.c.
#include "lua_api/l_nd.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "kernels/nd_ops.h"
#include "kernels/par.h"
#include "lua_api/modules.h"

static int nd_index(lua_State *L);

// ---------------------------------------------------------------------------------------------
// Userdata

static int nd_gc(lua_State *L)
{
  lf_nd *a = luaL_checkudata(L, 1, LF_LUA_ND_MT);
  lf_nd_release(a);
  return 0;
}

lf_nd *lf_lua_nd_push(lua_State *L)
{
  lf_nd *a = lua_newuserdatauv(L, sizeof(lf_nd), 0);
  a->buf = NULL;
  a->ndim = 0;
  a->offset = 0;
  a->dtype = LF_ND_F64;
  lf_lua_nd_setup(L);
  luaL_setmetatable(L, LF_LUA_ND_MT);
  return a;
}

lf_nd *lf_lua_nd_test(lua_State *L, int idx)
{
  lf_nd *a = luaL_testudata(L, idx, LF_LUA_ND_MT);
  return a != NULL && a->buf != NULL ? a : NULL;
}

lf_nd *lf_lua_nd_check(lua_State *L, int idx)
{
  lf_nd *a = luaL_checkudata(L, idx, LF_LUA_ND_MT);
  if (a->buf == NULL) {
    luaL_argerror(L, idx, "released array");
  }
  return a;
}

int lf_lua_nd_raise(lua_State *L, const lf_err *err)
{
  luaL_where(L, 1);
  lua_pushstring(L, err->msg);
  lua_concat(L, 2);
  return lua_error(L);
}

void lf_lua_nd_push_elem(lua_State *L, const lf_nd *a, int64_t off)
{
  if (lf_nd_is_float(a->dtype)) {
    lua_pushnumber(L, lf_nd_get_f(a, off));
  } else {
    lua_pushinteger(L, lf_nd_get_i(a, off));
  }
}

// ---------------------------------------------------------------------------------------------
// Options, threads, arguments

void lf_lua_opts_check(lua_State *L, int idx, const char *fname, const char *const *allowed)
{
  if (idx == 0 || lua_isnoneornil(L, idx)) {
    return;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) { // stack: key, value
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (size_t i = 0; allowed[i] != NULL && !ok; i++) {
        ok = strcmp(allowed[i], k) == 0;
      }
    }
    if (!ok) {
      const char *key = luaL_tolstring(L, -1, NULL); // stack: key, keystr
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (size_t i = 0; allowed[i] != NULL; i++) {
        luaL_addstring(&b, i > 0 ? ", " : "");
        luaL_addstring(&b, allowed[i]);
      }
      luaL_pushresult(&b); // stack: key, keystr, list
      luaL_error(L, "%s: unknown option '%s' (allowed: %s)", fname, key, lua_tostring(L, -1));
    }
  }
}

static int opt_get(lua_State *L, int idx, const char *key)
{
  if (idx == 0 || lua_type(L, idx) != LUA_TTABLE) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  return lua_getfield(L, idx, key);
}

bool lf_lua_opt_has(lua_State *L, int idx, const char *key)
{
  bool has = opt_get(L, idx, key) != LUA_TNIL;
  lua_pop(L, 1);
  return has;
}

lua_Integer lf_lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def)
{
  if (opt_get(L, idx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  int ok;
  lua_Integer v = lua_tointegerx(L, -1, &ok);
  if (!ok) {
    luaL_error(L, "option '%s' must be an integer, got %s", key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return v;
}

double lf_lua_opt_num(lua_State *L, int idx, const char *key, double def)
{
  if (opt_get(L, idx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  if (lua_type(L, -1) != LUA_TNUMBER) {
    luaL_error(L, "option '%s' must be a number, got %s", key, luaL_typename(L, -1));
  }
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

bool lf_lua_opt_bool(lua_State *L, int idx, const char *key, bool def)
{
  int t = opt_get(L, idx, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  if (t != LUA_TBOOLEAN) {
    luaL_error(L, "option '%s' must be a boolean, got %s", key, luaL_typename(L, -1));
  }
  bool v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

const char *lf_lua_opt_str(lua_State *L, int idx, const char *key, const char *def)
{
  int t = opt_get(L, idx, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  if (t != LUA_TSTRING) {
    luaL_error(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1));
  }
  // The string stays alive in the options table.
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

// resources.cpu of the running step: luaflow._declared._steps[current.step_name].opts.
static int step_cpu(lua_State *L)
{
  int top = lua_gettop(L);
  int cpu = 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "luaflow") == LUA_TTABLE &&
      lua_getfield(L, -1, "current") == LUA_TTABLE &&
      lua_getfield(L, -1, "step_name") == LUA_TSTRING) {
    // stack: loaded, luaflow, current, name
    if (lua_getfield(L, -3, "_declared") == LUA_TTABLE &&
        lua_getfield(L, -1, "_steps") == LUA_TTABLE) {
      lua_pushvalue(L, -3);
      if (lua_rawget(L, -2) == LUA_TTABLE && lua_getfield(L, -1, "opts") == LUA_TTABLE &&
          lua_getfield(L, -1, "resources") == LUA_TTABLE &&
          lua_getfield(L, -1, "cpu") == LUA_TNUMBER) {
        double c = lua_tonumber(L, -1);
        cpu = c >= 1 && c <= 256 ? (int)c : (c > 256 ? 256 : 0);
      }
    }
  }
  lua_settop(L, top);
  return cpu;
}

int lf_lua_nd_threads(lua_State *L, int opts)
{
  lua_Integer t = lf_lua_opt_int(L, opts, "threads", 0);
  if (lf_lua_opt_has(L, opts, "threads")) {
    if (t < 1 || t > 256) {
      luaL_error(L, "option 'threads' must be between 1 and 256, got %d", (int)t);
    }
    return (int)t;
  }
  int cpu = step_cpu(L);
  return cpu > 0 ? cpu : lf_par_ncpu();
}

int lf_lua_nd_shape_arg(lua_State *L, int idx, int64_t *shape)
{
  if (lua_isinteger(L, idx)) {
    lua_Integer n = lua_tointeger(L, idx);
    luaL_argcheck(L, n >= 0, idx, "negative dimension");
    shape[0] = n;
    return 1;
  }
  if (lua_type(L, idx) != LUA_TTABLE) {
    luaL_typeerror(L, idx, "shape (an integer or a table of integers)");
  }
  lua_Unsigned n = lua_rawlen(L, idx);
  luaL_argcheck(L, n <= LF_ND_MAX_NDIM, idx, "too many dimensions");
  for (lua_Unsigned k = 0; k < n; k++) {
    lua_rawgeti(L, idx, (lua_Integer)k + 1);
    int ok;
    lua_Integer d = lua_tointegerx(L, -1, &ok);
    if (!ok || d < 0) {
      luaL_argerror(L, idx, "shape entries must be non-negative integers");
    }
    shape[k] = d;
    lua_pop(L, 1);
  }
  return (int)n;
}

lf_nd_dtype lf_lua_nd_dtype_arg(lua_State *L, int idx, lf_nd_dtype def)
{
  if (idx == 0 || lua_isnoneornil(L, idx)) {
    return def;
  }
  const char *name = luaL_checkstring(L, idx);
  int dt = lf_nd_dtype_parse(name);
  if (dt < 0) {
    luaL_error(L, "unknown dtype '%s' (use f64, f32, i64, i32 or u8)", name);
  }
  return (lf_nd_dtype)dt;
}

// ---------------------------------------------------------------------------------------------
// Constructors

static int make_filled(lua_State *L, int shape_idx, int dtype_idx, double value, bool zero)
{
  int64_t shape[LF_ND_MAX_NDIM];
  int ndim = lf_lua_nd_shape_arg(L, shape_idx, shape);
  lf_nd_dtype dt = lf_lua_nd_dtype_arg(L, dtype_idx, LF_ND_F64);
  lf_nd *a = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(a, dt, ndim, shape, zero, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  if (!zero) {
    lf_nd_fill(a, value);
  }
  return 1;
}

// nd.zeros(shape [, dtype]), nd.ones(shape [, dtype])
static int l_nd_zeros(lua_State *L)
{
  return make_filled(L, 1, 2, 0, true);
}

static int l_nd_ones(lua_State *L)
{
  return make_filled(L, 1, 2, 1, false);
}

// nd.full(shape, value [, dtype]); the dtype follows the value when not given.
static int l_nd_full(lua_State *L)
{
  luaL_checknumber(L, 2);
  lf_nd_dtype def = lua_isinteger(L, 2) ? LF_ND_I64 : LF_ND_F64;
  int64_t shape[LF_ND_MAX_NDIM];
  int ndim = lf_lua_nd_shape_arg(L, 1, shape);
  lf_nd_dtype dt = lf_lua_nd_dtype_arg(L, 3, def);
  lf_nd *a = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(a, dt, ndim, shape, false, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  if (lua_isinteger(L, 2) && !lf_nd_is_float(dt)) {
    int64_t v = lua_tointeger(L, 2);
    int64_t n = lf_nd_size(a);
    for (int64_t i = 0; i < n; i++) {
      lf_nd_set_i(a, i, v);
    }
  } else {
    lf_nd_fill(a, lua_tonumber(L, 2));
  }
  return 1;
}

// nd.arange(stop) / nd.arange(start, stop [, step [, dtype]]): numpy's half-open range.
static int l_nd_arange(lua_State *L)
{
  int nargs = lua_gettop(L);
  int dtidx = 0;
  if (nargs >= 1 && lua_type(L, nargs) == LUA_TSTRING) {
    dtidx = nargs--;
  }
  luaL_argcheck(L, nargs >= 1 && nargs <= 3, 1, "expected arange(stop) or arange(start, stop "
                "[, step] [, dtype])");
  double start = nargs >= 2 ? luaL_checknumber(L, 1) : 0;
  double stop = luaL_checknumber(L, nargs >= 2 ? 2 : 1);
  double step = nargs == 3 ? luaL_checknumber(L, 3) : 1;
  luaL_argcheck(L, step != 0 && !isnan(step), 3, "step must be non-zero");
  luaL_argcheck(L, !isnan(start) && !isnan(stop) && isfinite(start) && isfinite(stop), 1,
                "bounds must be finite numbers");
  bool allint = true;
  for (int i = 1; i <= nargs; i++) {
    allint = allint && lua_isinteger(L, i);
  }
  lf_nd_dtype dt = lf_lua_nd_dtype_arg(L, dtidx, allint ? LF_ND_I64 : LF_ND_F64);
  double cnt = ceil((stop - start) / step);
  luaL_argcheck(L, cnt < (double)LF_ND_MAX_ELEMS, 1, "range too long");
  int64_t n = cnt > 0 ? (int64_t)cnt : 0;
  lf_nd *a = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(a, dt, 1, &n, false, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  for (int64_t i = 0; i < n; i++) {
    if (allint) {
      lf_nd_set_i(a, i, (int64_t)start + i * (int64_t)step);
    } else {
      lf_nd_set_f(a, i, start + (double)i * step);
    }
  }
  return 1;
}

// Pass 1 of nd.array: the shape of nested table `idx` at `depth`, checking rectangularity.
static void table_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *shape,
                        bool *floats)
{
  lua_Unsigned n = lua_rawlen(L, idx);
  if (*ndim == depth) {
    if (depth >= LF_ND_MAX_NDIM) {
      luaL_error(L, "nd.array: tables nested deeper than %d levels", LF_ND_MAX_NDIM);
    }
    shape[depth] = (int64_t)n;
    (*ndim)++;
    // The first element decides whether a deeper level exists.
    lua_rawgeti(L, idx, 1);
    bool deeper = lua_type(L, -1) == LUA_TTABLE;
    lua_pop(L, 1);
    if (!deeper) {
      shape[depth + 1] = -1; // marks the leaf level
    }
  } else if ((int64_t)n != shape[depth]) {
    luaL_error(L, "nd.array: ragged nested table (%d elements where %d were expected at level "
               "%d)", (int)n, (int)shape[depth], depth + 1);
  }
  luaL_checkstack(L, 4, "nd.array");
  for (lua_Unsigned i = 1; i <= n; i++) {
    int t = lua_rawgeti(L, idx, (lua_Integer)i);
    bool leaf = depth + 1 >= *ndim && shape[depth + 1] == -1;
    if (t == LUA_TTABLE && !leaf) {
      table_shape(L, lua_gettop(L), depth + 1, ndim, shape, floats);
    } else if (t == LUA_TNUMBER && leaf) {
      *floats = *floats || !lua_isinteger(L, -1);
    } else {
      luaL_error(L, "nd.array: element %d at level %d is a %s (expected %s)", (int)i, depth + 1,
                 luaL_typename(L, -1), leaf ? "number" : "table");
    }
    lua_pop(L, 1);
  }
}

// Pass 2: stores the numbers in row-major order.
static void table_fill(lua_State *L, int idx, int depth, int ndim, lf_nd *a, int64_t *pos)
{
  lua_Unsigned n = lua_rawlen(L, idx);
  for (lua_Unsigned i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i);
    if (depth + 1 < ndim) {
      table_fill(L, lua_gettop(L), depth + 1, ndim, a, pos);
    } else if (lua_isinteger(L, -1)) {
      lf_nd_set_i(a, (*pos)++, lua_tointeger(L, -1));
    } else {
      lf_nd_set_f(a, (*pos)++, lua_tonumber(L, -1));
    }
    lua_pop(L, 1);
  }
}

// nd.array(table [, dtype]): nested Lua tables to an array; f64 if any float, else i64.
static int l_nd_array(lua_State *L)
{
  if (lua_type(L, 1) == LUA_TNUMBER) {
    // A scalar gives a 0-d array.
    lf_nd_dtype dt = lf_lua_nd_dtype_arg(L, 2, lua_isinteger(L, 1) ? LF_ND_I64 : LF_ND_F64);
    lf_nd *a = lf_lua_nd_push(L);
    lf_err err;
    lf_err_clear(&err);
    if (lf_nd_init(a, dt, 0, NULL, false, &err) != LF_OK) {
      return lf_lua_nd_raise(L, &err);
    }
    if (lua_isinteger(L, 1)) {
      lf_nd_set_i(a, 0, lua_tointeger(L, 1));
    } else {
      lf_nd_set_f(a, 0, lua_tonumber(L, 1));
    }
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t shape[LF_ND_MAX_NDIM + 1];
  int ndim = 0;
  bool floats = false;
  table_shape(L, 1, 0, &ndim, shape, &floats);
  lf_nd_dtype dt = lf_lua_nd_dtype_arg(L, 2, floats ? LF_ND_F64 : LF_ND_I64);
  lf_nd *a = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(a, dt, ndim, shape, false, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  int64_t pos = 0;
  table_fill(L, 1, 0, ndim, a, &pos);
  return 1;
}

static int make_random(lua_State *L, bool normal)
{
  static const char *const uni[] = {"seed", "low", "high", "dtype", NULL};
  static const char *const nor[] = {"seed", "mean", "std", "dtype", NULL};
  int64_t shape[LF_ND_MAX_NDIM];
  int ndim = lf_lua_nd_shape_arg(L, 1, shape);
  lf_lua_opts_check(L, 2, normal ? "nd.normal" : "nd.uniform", normal ? nor : uni);
  lua_Integer seed = lf_lua_opt_int(L, 2, "seed", 0);
  double lo = lf_lua_opt_num(L, 2, normal ? "mean" : "low", 0);
  double hi = lf_lua_opt_num(L, 2, normal ? "std" : "high", 1);
  int dt = lf_nd_dtype_parse(lf_lua_opt_str(L, 2, "dtype", "f64"));
  luaL_argcheck(L, dt >= 0, 2, "unknown dtype");
  luaL_argcheck(L, isfinite(lo) && isfinite(hi) && (normal ? hi >= 0 : hi >= lo), 2,
                normal ? "std must be >= 0 and finite" : "need low <= high, both finite");
  lf_nd *a = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(a, (lf_nd_dtype)dt, ndim, shape, false, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  lf_rng r;
  lf_rng_seed(&r, (uint64_t)seed);
  lf_nd_random(a, &r, normal, lo, hi);
  return 1;
}

// nd.uniform(shape, { seed, low = 0, high = 1, dtype = "f64" })
static int l_nd_uniform(lua_State *L)
{
  return make_random(L, false);
}

// nd.normal(shape, { seed, mean = 0, std = 1, dtype = "f64" })
static int l_nd_normal(lua_State *L)
{
  return make_random(L, true);
}

// nd.frombytes(s, dtype, shape): an array holding a copy of the little-endian bytes.
static int l_nd_frombytes(lua_State *L)
{
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lf_nd_dtype dt = lf_lua_nd_dtype_arg(L, 2, LF_ND_F64);
  int64_t shape[LF_ND_MAX_NDIM];
  int ndim = 1;
  shape[0] = (int64_t)(len / lf_nd_itemsize(dt));
  if (!lua_isnoneornil(L, 3)) {
    ndim = lf_lua_nd_shape_arg(L, 3, shape);
  }
  lf_nd *a = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_init(a, dt, ndim, shape, false, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  size_t need = (size_t)lf_nd_size(a) * lf_nd_itemsize(dt);
  if (need != len) {
    return luaL_error(L, "nd.frombytes: %d bytes do not make the requested shape (%d bytes)",
                      (int)len, (int)need);
  }
  memcpy(lf_nd_ptr(a, 0), s, len);
  return 1;
}

static int l_nd_is_array(lua_State *L)
{
  lua_pushboolean(L, lf_lua_nd_test(L, 1) != NULL);
  return 1;
}

// nd.equal(a, b): same shape and values.
static int l_nd_equal(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  lf_nd *b = lf_lua_nd_check(L, 2);
  lua_pushboolean(L, lf_nd_equal(a, b));
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Indexing

// A 1-based (negative: from the end) Lua index into a 0-based one, checked.
static int64_t norm_index(lua_State *L, lua_Integer i, int64_t n, int axis)
{
  int64_t j = i < 0 ? n + i : i - 1;
  if (i == 0 || j < 0 || j >= n) {
    luaL_error(L, "index %d out of range for axis %d of size %d", (int)i, axis + 1, (int)n);
  }
  return j;
}

// Pushes a[i] along axis 0: an element of a 1-D array, else a view.
static int index_int(lua_State *L, lf_nd *a, lua_Integer i)
{
  if (a->ndim == 0) {
    return luaL_error(L, "cannot index a 0-d array (use :item())");
  }
  int64_t j = norm_index(L, i, a->shape[0], 0);
  if (a->ndim == 1) {
    lf_lua_nd_push_elem(L, a, a->offset + j * a->strides[0]);
    return 1;
  }
  lf_nd *v = lf_lua_nd_push(L);
  lf_nd_view(v, a);
  lf_nd_select_axis(v, 0, j);
  return 1;
}

static int push_shape(lua_State *L, const lf_nd *a)
{
  lua_createtable(L, a->ndim, 0);
  for (int k = 0; k < a->ndim; k++) {
    lua_pushinteger(L, a->shape[k]);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

// __index(a, key): integers index axis 0; names give properties or methods (upvalue 1).
static int nd_index(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int ok;
  lua_Integer i = lua_tointegerx(L, 2, &ok);
  if (ok && lua_type(L, 2) == LUA_TNUMBER) {
    return index_int(L, a, i);
  }
  if (lua_type(L, 2) != LUA_TSTRING) {
    return luaL_error(L, "arrays are indexed by integers or method names, not %s",
                      luaL_typename(L, 2));
  }
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "shape") == 0) {
    return push_shape(L, a);
  }
  if (strcmp(k, "ndim") == 0) {
    lua_pushinteger(L, a->ndim);
    return 1;
  }
  if (strcmp(k, "dtype") == 0) {
    lua_pushstring(L, lf_nd_dtype_name(a->dtype));
    return 1;
  }
  if (strcmp(k, "size") == 0) {
    lua_pushinteger(L, lf_nd_size(a));
    return 1;
  }
  if (strcmp(k, "T") == 0) {
    lf_nd *v = lf_lua_nd_push(L);
    lf_nd_view(v, a);
    lf_nd_transpose(v, NULL, NULL);
    return 1;
  }
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNIL) {
    return luaL_error(L, "arrays have no field or method '%s'", k);
  }
  return 1;
}

void lf_lua_nd_assign_value(lua_State *L, lf_nd *dst, int vidx)
{
  if (lua_type(L, vidx) == LUA_TNUMBER) {
    if (lua_isinteger(L, vidx) && !lf_nd_is_float(dst->dtype)) {
      // Exact integer fill (doubles would round large i64 values).
      int64_t idx[LF_ND_MAX_NDIM] = {0};
      for (int64_t e = 0; e < lf_nd_size(dst); e++) {
        lf_nd_set_i(dst, lf_nd_offset_of(dst, idx), lua_tointeger(L, vidx));
        for (int k = dst->ndim - 1; k >= 0; k--) {
          if (++idx[k] < dst->shape[k]) {
            break;
          }
          idx[k] = 0;
        }
      }
      return;
    }
    lf_nd_fill(dst, lua_tonumber(L, vidx));
    return;
  }
  lf_nd *src = lf_lua_nd_test(L, vidx);
  if (src == NULL) {
    luaL_error(L, "cannot assign a %s to array elements (expected a number or an array)",
               luaL_typename(L, vidx));
    return;
  }
  bool same = src->ndim == dst->ndim;
  for (int k = 0; same && k < dst->ndim; k++) {
    same = src->shape[k] == dst->shape[k];
  }
  if (!same) {
    char a[64];
    char b[64];
    lf_nd_shape_str(dst, a, sizeof(a));
    lf_nd_shape_str(src, b, sizeof(b));
    luaL_error(L, "shape mismatch: cannot assign an array of shape %s to a view of shape %s", b,
               a);
    return;
  }
  if (src->buf == dst->buf) {
    // Overlapping memory: go through a copy.
    lf_nd tmp;
    lf_err err;
    lf_err_clear(&err);
    if (lf_nd_copy(&tmp, src, src->dtype, &err) != LF_OK) {
      lf_lua_nd_raise(L, &err);
      return;
    }
    lf_nd_assign(dst, &tmp);
    lf_nd_release(&tmp);
    return;
  }
  lf_nd_assign(dst, src);
}

// __newindex(a, i, v): a[i] = number | array (along axis 0).
static int nd_newindex(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  int ok;
  lua_Integer i = lua_tointegerx(L, 2, &ok);
  if (!ok || lua_type(L, 2) != LUA_TNUMBER) {
    return luaL_error(L, "array elements are set by integer index, not %s",
                      luaL_typename(L, 2));
  }
  if (a->ndim == 0) {
    return luaL_error(L, "cannot index a 0-d array");
  }
  int64_t j = norm_index(L, i, a->shape[0], 0);
  lf_nd v = *a; // borrowed view: never released
  lf_nd_select_axis(&v, 0, j);
  lf_lua_nd_assign_value(L, &v, 3);
  return 0;
}

static int nd_len(lua_State *L)
{
  lf_nd *a = lf_lua_nd_check(L, 1);
  if (a->ndim == 0) {
    return luaL_error(L, "a 0-d array has no length (use :item())");
  }
  lua_pushinteger(L, a->shape[0]);
  return 1;
}

static int nd_eq(lua_State *L)
{
  lf_nd *a = lf_lua_nd_test(L, 1);
  lf_nd *b = lf_lua_nd_test(L, 2);
  lua_pushboolean(L, a != NULL && b != NULL && lf_nd_equal(a, b));
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Printing

static void add_elem(luaL_Buffer *b, const lf_nd *a, int64_t off)
{
  char s[64];
  if (lf_nd_is_float(a->dtype)) {
    double x = lf_nd_get_f(a, off);
    snprintf(s, sizeof(s), "%.6g", x);
  } else {
    snprintf(s, sizeof(s), "%lld", (long long)lf_nd_get_i(a, off));
  }
  luaL_addstring(b, s);
}

// Appends axis `k` of the view at `off`; long axes show their first and last 3 entries.
static void add_axis(luaL_Buffer *b, const lf_nd *a, int k, int64_t off, bool summarize)
{
  if (k == a->ndim) {
    add_elem(b, a, off);
    return;
  }
  luaL_addchar(b, '[');
  int64_t n = a->shape[k];
  for (int64_t i = 0; i < n; i++) {
    if (summarize && n > 6 && i == 3) {
      luaL_addstring(b, k + 1 == a->ndim ? "..., " : "...,\n");
      for (int j = 0; j <= k && k + 1 < a->ndim; j++) {
        luaL_addchar(b, ' ');
      }
      i = n - 3;
    }
    add_axis(b, a, k + 1, off + i * a->strides[k], summarize);
    if (i + 1 < n) {
      luaL_addchar(b, ',');
      if (k + 1 == a->ndim) {
        luaL_addchar(b, ' ');
      } else {
        luaL_addchar(b, '\n');
        for (int j = 0; j <= k; j++) {
          luaL_addchar(b, ' ');
        }
      }
    }
  }
  luaL_addchar(b, ']');
}

static int nd_tostring(lua_State *L)
{
  lf_nd *a = luaL_checkudata(L, 1, LF_LUA_ND_MT);
  if (a->buf == NULL) {
    lua_pushliteral(L, "array(released)");
    return 1;
  }
  char shape[256];
  lf_nd_shape_str(a, shape, sizeof(shape));
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "array(%s, %s)\n", lf_nd_dtype_name(a->dtype), shape);
  luaL_addvalue(&b);
  add_axis(&b, a, 0, a->offset, lf_nd_size(a) > 100);
  luaL_pushresult(&b);
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Setup

static void setup_nd_meta(lua_State *L)
{
  static const luaL_Reg meta[] = {
    {"__close",    nd_gc      },
    {"__eq",       nd_eq      },
    {"__gc",       nd_gc      },
    {"__len",      nd_len     },
    {"__newindex", nd_newindex},
    {"__tostring", nd_tostring},
    {NULL,         NULL       },
  };
  luaL_setfuncs(L, meta, 0);
  lf_lua_nd_add_meta_ops(L);
  lua_newtable(L); // stack: mt, methods
  lf_lua_nd_add_ops(L);
  lua_pushcclosure(L, nd_index, 1);
  lua_setfield(L, -2, "__index");
}

void lf_lua_nd_setup(lua_State *L)
{
  luaL_checkstack(L, 6, "luaflow.nd");
  if (luaL_newmetatable(L, LF_LUA_ND_MT)) {
    setup_nd_meta(L);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, LF_LUA_CSR_MT)) {
    lf_lua_csr_add_meta(L);
  }
  lua_pop(L, 1);
}

int lf_lua_open_nd(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"arange",   l_nd_arange  },
    {"array",    l_nd_array   },
    {"equal",    l_nd_equal   },
    {"frombytes", l_nd_frombytes},
    {"full",     l_nd_full    },
    {"is_array", l_nd_is_array},
    {"normal",   l_nd_normal  },
    {"ones",     l_nd_ones    },
    {"uniform",  l_nd_uniform },
    {"zeros",    l_nd_zeros   },
    {NULL,       NULL         },
  };
  lf_lua_nd_setup(L);
  luaL_newlib(L, funcs);
  lf_lua_nd_add_csr_funcs(L);
  // Methods are also module functions: nd.sum(a), nd.matmul(a, b), ...
  int mod = lua_gettop(L);
  luaL_getmetatable(L, LF_LUA_ND_MT);
  lua_getfield(L, -1, "__index");
  lua_getupvalue(L, -1, 1);
  int methods = lua_gettop(L); // stack: nd, mt, index, methods
  lua_pushnil(L);
  while (lua_next(L, methods) != 0) { // stack: ..., key, value
    lua_pushvalue(L, -2);
    if (lua_rawget(L, mod) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_insert(L, -2); // stack: ..., key, key, value
      lua_rawset(L, mod);
    } else {
      lua_pop(L, 2);
    }
  }
  lua_settop(L, mod);
  return 1;
}
