// SPDX-License-Identifier: MIT
// Lua state setup for the host: our allocator with a per-state limit, the standard libraries,
// the embedded runtime modules in package.preload (with a development override directory),
// and the one protected-call wrapper every C->Lua call goes through.
#pragma once

#include <lua.h>
#include <stddef.h>

#include "core/err.h"

/// Options for a new state.
typedef struct lf_lua_opts {
  lf_alloc_fn alloc;       ///< NULL: libc realloc/free
  void *alloc_ud;
  size_t mem_limit;        ///< bytes; 0 = unlimited
  const char *flow_dir;    ///< directory of the flow file, prepended to package.path; may be NULL
  const struct lf_lua_cmodule *extra; ///< host-registered C modules to preload; may be NULL
  size_t nextra;
} lf_lua_opts;

/// Creates a state with libraries and the luaflow runtime preloaded. NULL if out of memory.
/// Free with lf_lua_state_free.
lua_State *lf_lua_state_new(const lf_lua_opts *opts);
void lf_lua_state_free(lua_State *L);

/// Calls the function below `nargs` arguments with a traceback message handler. On error,
/// pops the error, fills `err` (code LF_ERR_NOMEM for memory errors, else `code`) with the
/// message, and stores the traceback (caller frees with lf_free) in *traceback if non-NULL.
/// @return LF_OK with `nresults` results pushed, or the error code with nothing pushed.
lf_status lf_lua_pcall(lua_State *L, int nargs, int nresults, lf_status code, char **traceback,
                       lf_err *err);

/// Places the luaflow runtime (the embedded Lua modules and the C modules) in the
/// package.preload of any state, such as a plain `lua5.4` that loads luaflow as a C module.
void lf_lua_install_runtime(lua_State *L);

/// Registers a C-module opener so `require(name)` finds it (package.preload[name] = open).
void lf_lua_preload(lua_State *L, const char *name, lua_CFunction open);

/// Sets the most bytes the state may hold (0 = no limit); allocations beyond it fail, which
/// Lua raises as a memory error.
void lf_lua_set_mem_limit(lua_State *L, size_t limit);
/// Bytes currently held by the state's allocator.
size_t lf_lua_mem_used(lua_State *L);

/// Bytes in front of a long string's characters in the block Lua allocates for it, when the
/// state's strings can adopt buffers (lf_lua_push_adopted); 0 when they cannot (an embedder's
/// allocator, a host state that loaded luaflow as a C module, a Lua of another layout).
size_t lf_lua_string_head(lua_State *L);
/// Pushes a string of `len` bytes made from `buf`, which the call takes over: `buf` is a
/// buffer of lf_big_alloc (core/alloc.h) of lf_lua_string_head(L) + len + 1 bytes, whose
/// characters start lf_lua_string_head(L) bytes in. From LF_BIG_MIN bytes the buffer becomes
/// the string's block, and nothing is copied: downloads land where the string will be. Below
/// that (or when the head is 0) the characters are copied and the buffer freed. Raises Lua's
/// memory error past the state's limit (the buffer freed).
void lf_lua_push_adopted(lua_State *L, char *buf, size_t len);

/// Registry references, counted so debug builds can check they are balanced at shutdown.
int lf_lua_ref(lua_State *L);
void lf_lua_unref(lua_State *L, int ref);
