// SPDX-License-Identifier: MIT
// This file is the Lua C module that plain Lua interpreters load: `make install` puts it at
// <prefix>/lib/lua/5.4/luaflow/client.so (and luaflow.so), so `lua5.4` can
// require("luaflow.client") and require("luaflow"). It places the luaflow runtime in the
// interpreter's package.preload and returns the module asked for.
#include <lauxlib.h>
#include <lua.h>

#include "lua_api/state.h"

// The exported entry points of a Lua C module (looked up by name with dlsym).
__attribute__((visibility("default"))) int luaopen_luaflow_client(lua_State *L);
__attribute__((visibility("default"))) int luaopen_luaflow(lua_State *L);

static int require_runtime(lua_State *L, const char *name)
{
  lf_lua_install_runtime(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  return 1;
}

int luaopen_luaflow_client(lua_State *L)
{
  return require_runtime(L, "luaflow.client");
}

int luaopen_luaflow(lua_State *L)
{
  // package.loaded["luaflow"] is being set by this very require; load the runtime's
  // luaflow module from the preload table directly.
  lf_lua_install_runtime(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_getfield(L, -1, "luaflow");
  lua_pushliteral(L, "luaflow");
  lua_call(L, 1, 1);
  return 1;
}
