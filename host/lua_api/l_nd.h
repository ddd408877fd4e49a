// SPDX-License-Identifier: MIT
// Shared pieces of the numeric Lua modules (luaflow.nd, luaflow.text, luaflow.ml) and of the
// artifact codec: the array and CSR userdata (full userdata holding a kernels view; metatables
// "luaflow.ndarray" and "luaflow.csr"), their constructors and checkers, the option-table
// parser, and the default thread count. Everything here may raise Lua errors unless noted.
#pragma once

#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/csr.h"
#include "kernels/nd.h"

/// Metatable names (also the userdata's __name).
#define LF_LUA_ND_MT "luaflow.ndarray"
#define LF_LUA_CSR_MT "luaflow.csr"

/// Pushes a new array userdata holding an empty (released) view, with its metatable; the
/// caller fills the view. A userdata whose view stays empty raises "released array" on use.
/// @return the view inside the userdata (owned by it; freed by __gc)
lf_nd *lf_lua_nd_push(lua_State *L);
/// The array at `idx` or a raised "luaflow.ndarray expected" / "released array" error.
lf_nd *lf_lua_nd_check(lua_State *L, int idx);
/// The array at `idx`, or NULL if the value is not an array (a released one included). Does
/// not raise.
lf_nd *lf_lua_nd_test(lua_State *L, int idx);

/// Pushes a new CSR userdata holding an empty matrix (all views released).
lf_csr *lf_lua_csr_push(lua_State *L);
/// The CSR matrix at `idx` or a raised error.
lf_csr *lf_lua_csr_check(lua_State *L, int idx);
/// The CSR matrix at `idx` or NULL. Does not raise.
lf_csr *lf_lua_csr_test(lua_State *L, int idx);

/// Makes sure both metatables exist (with all their methods) in this state.
void lf_lua_nd_setup(lua_State *L);

/// Raises a Lua error with err->msg, prefixed by the calling function's location.
int lf_lua_nd_raise(lua_State *L, const lf_err *err);

/// Checks that the value at `idx` is nil or a table whose keys are all in the NULL-terminated
/// `allowed` list; raises "<fname>: unknown option 'x' (allowed: a, b)" otherwise.
void lf_lua_opts_check(lua_State *L, int idx, const char *fname, const char *const *allowed);
/// Option getters: the field `key` of the options table at `idx` (which may be nil), or
/// `def` if absent. Raise "<key> must be ..." on a wrong type.
lua_Integer lf_lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def);
double lf_lua_opt_num(lua_State *L, int idx, const char *key, double def);
bool lf_lua_opt_bool(lua_State *L, int idx, const char *key, bool def);
/// The string option, or `def`; the result is valid while the options table is alive.
const char *lf_lua_opt_str(lua_State *L, int idx, const char *key, const char *def);
/// True if the options table at `idx` has `key`.
bool lf_lua_opt_has(lua_State *L, int idx, const char *key);

/// The thread count for a kernel: the `threads` option of the table at `opts` (0 or an
/// absent index: none), else the current step's `resources.cpu` (luaflow.current), else the
/// number of online CPUs. Raises if `threads` is given and not a positive integer.
int lf_lua_nd_threads(lua_State *L, int opts);

/// Reads a shape from an integer or a table of integers at `idx` into shape[] (at most
/// LF_ND_MAX_NDIM entries). @return ndim
int lf_lua_nd_shape_arg(lua_State *L, int idx, int64_t *shape);
/// Reads an optional dtype name at `idx` (nil gives `def`); raises on an unknown name.
lf_nd_dtype lf_lua_nd_dtype_arg(lua_State *L, int idx, lf_nd_dtype def);

/// Assigns the value at `vidx` (a number, or an array of exactly the view's shape) to the
/// elements of `dst`; raises on anything else.
void lf_lua_nd_assign_value(lua_State *L, lf_nd *dst, int vidx);
/// Pushes a Lua number for element offset `off` of `a` (integer for integer dtypes).
void lf_lua_nd_push_elem(lua_State *L, const lf_nd *a, int64_t off);

/// Registers the array methods (l_nd_ops.c) into the table on top of the stack.
void lf_lua_nd_add_ops(lua_State *L);
/// Registers the arithmetic metamethods (l_nd_ops.c) into the metatable on top of the stack.
void lf_lua_nd_add_meta_ops(lua_State *L);
/// Fills the CSR metatable on top of the stack (l_nd_csr.c): __index with properties and
/// methods, __gc, __close, __len, __tostring.
void lf_lua_csr_add_meta(lua_State *L);
/// Module functions of luaflow.nd defined in l_nd_csr.c (csr, cooc) into the table on top.
void lf_lua_nd_add_csr_funcs(lua_State *L);
