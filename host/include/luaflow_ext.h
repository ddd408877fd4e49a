/* SPDX-License-Identifier: MIT */
/*
 * luaflow_ext.h - integration hooks that need the Lua API (lua.h).
 *
 * A program that embeds luaflow can give flows its own C functions as a Lua module. Workers
 * are separate processes, so such a program is also its own worker binary: set
 * lf_config.luaflow_bin to the program, and when it is started with "step" as its first
 * argument, register the same modules on a context and call lf_worker_main().
 */
#ifndef LUAFLOW_EXT_H
#define LUAFLOW_EXT_H

#include <lua.h>

#include "luaflow.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Registers a C module: `require(name)` in flows loaded by this context (and in the
/// workers of its runs, if they register it too) calls `open`. `name` is copied.
/// @return LF_OK, or LF_ERR_USAGE for an empty name or one luaflow uses itself.
LF_API lf_status lf_ctx_add_lua_module(lf_ctx *ctx, const char *name, lua_CFunction open);

#ifdef __cplusplus
}
#endif
#endif /* LUAFLOW_EXT_H */
