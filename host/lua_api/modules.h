// SPDX-License-Identifier: MIT
// The table of C-implemented Lua modules, all placed in package.preload (Lua's linit.c).
#pragma once

#include <lua.h>

typedef struct lf_lua_cmodule {
  const char *name;
  lua_CFunction open;
} lf_lua_cmodule;

/// NULL-terminated list defined in modules.c.
extern const lf_lua_cmodule lf_lua_cmodules[];

int lf_lua_open_host(lua_State *L);
int lf_lua_open_index(lua_State *L);
int lf_lua_open_s3(lua_State *L);
int lf_lua_open_nd(lua_State *L);
int lf_lua_open_text(lua_State *L);
int lf_lua_open_ml(lua_State *L);
int lf_lua_open_parallel(lua_State *L);
