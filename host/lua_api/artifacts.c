// SPDX-License-Identifier: MIT
// This file contains the bridge between Lua values and stored artifacts, and the
// luaflow._host module the worker runtime uses to load and store them.
#include "lua_api/artifacts.h"

#include <lauxlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "core/settings.h"
#include "lua_api/codec.h"
#include "lua_api/l_nd.h"
#include "lua_api/modules.h"

#define HOST_KEY "luaflow.host"
#define BYTES_MT "luaflow.Bytes"

const char *lf_lua_value_type(lua_State *L, int idx)
{
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return "nil";
  case LUA_TBOOLEAN:
    return "boolean";
  case LUA_TNUMBER:
    return lua_isinteger(L, idx) ? "integer" : "float";
  case LUA_TSTRING:
    return "string";
  case LUA_TTABLE:
    return "table";
  case LUA_TUSERDATA:
    if (lf_lua_nd_test(L, idx) != NULL || lf_lua_csr_test(L, idx) != NULL) {
      return "array";
    }
    return luaL_typename(L, idx);
  default:
    return luaL_typename(L, idx);
  }
}

lf_status lf_lua_store_value(lua_State *L, int idx, lf_store *store, const char *flow,
                             lf_artifact_meta *out, lf_err *err)
{
  idx = lua_absindex(L, idx);
  const void *data = NULL;
  size_t len = 0;
  lf_status st = lf_lua_encode(L, idx, &data, &len, err);
  if (st != LF_OK) {
    return st;
  }
  // stack: buffer (owns data)
  bool existed = false;
  st = lf_store_put_blob(store, flow, data, len, out->sha, &existed, err);
  lua_pop(L, 1);
  if (st != LF_OK) {
    return st;
  }
  const char *t = lf_lua_value_type(L, idx);
  size_t n = strlen(t);
  if (n >= sizeof(out->type)) {
    n = sizeof(out->type) - 1;
  }
  memcpy(out->type, t, n);
  out->type[n] = '\0';
  out->size = len;
  return LF_OK;
}

typedef struct bytes_box {
  char *data;
  size_t len;
} bytes_box;

static int bytes_gc(lua_State *L)
{
  bytes_box *b = luaL_checkudata(L, 1, BYTES_MT);
  lf_free(b->data);
  b->data = NULL;
  return 0;
}

static bytes_box *new_box(lua_State *L)
{
  // The box exists before the bytes are read, so a raise after reading leaks nothing.
  bytes_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->data = NULL;
  b->len = 0;
  if (luaL_newmetatable(L, BYTES_MT)) {
    lua_pushcfunction(L, bytes_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, bytes_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  return b;
}

lf_status lf_lua_load_value(lua_State *L, lf_store *store, const char *flow, const char *sha,
                            lf_err *err)
{
  bytes_box *b = new_box(L);
  // stack: box
  lf_status st = lf_store_get_blob(store, flow, sha, &b->data, &b->len, err);
  if (st != LF_OK) {
    lua_pop(L, 1);
    return st;
  }
  // A dense array takes the loaded bytes over instead of copying them.
  st = lf_lua_decode_adopt(L, (void **)&b->data, b->len, err);
  if (st != LF_OK) {
    lua_pop(L, 1);
    return st;
  }
  // stack: box, value
  lf_free(b->data);
  b->data = NULL;
  lua_remove(L, -2);
  return LF_OK;
}

void lf_lua_push_json(lua_State *L, const lf_json *j)
{
  luaL_checkstack(L, 3, "JSON nested too deeply");
  switch (j->type) {
  case LF_JSON_NULL:
    lua_pushnil(L);
    break;
  case LF_JSON_FALSE:
    lua_pushboolean(L, 0);
    break;
  case LF_JSON_TRUE:
    lua_pushboolean(L, 1);
    break;
  case LF_JSON_INT:
    lua_pushinteger(L, (lua_Integer)j->i);
    break;
  case LF_JSON_NUMBER:
    lua_pushnumber(L, j->d);
    break;
  case LF_JSON_STRING:
    lua_pushlstring(L, j->s, j->slen);
    break;
  case LF_JSON_ARRAY:
    lua_createtable(L, (int)j->n, 0);
    for (size_t i = 0; i < j->n; i++) {
      lf_lua_push_json(L, j->items[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    break;
  case LF_JSON_OBJECT:
    lua_createtable(L, 0, (int)j->n);
    for (size_t i = 0; i < j->n; i++) {
      lua_pushlstring(L, j->keys[i], j->keylens[i]);
      lf_lua_push_json(L, j->items[i]);
      lua_rawset(L, -3);
    }
    break;
  }
}

void lf_lua_set_host(lua_State *L, lf_lua_host *h)
{
  lua_pushlightuserdata(L, h);
  lua_setfield(L, LUA_REGISTRYINDEX, HOST_KEY);
}

static lf_lua_host *get_host(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  lf_lua_host *h = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (h == NULL) {
    luaL_error(L, "luaflow._host is only available inside a task");
  }
  return h;
}

// host.load(sha, name) -> value; raises "cannot load artifact 'name' (...)".
static int l_host_load(lua_State *L)
{
  const char *sha = luaL_checkstring(L, 1);
  const char *name = luaL_optstring(L, 2, "?");
  lf_lua_host *h = get_host(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_lua_load_value(L, h->store, h->flow, sha, &err) != LF_OK) {
    return luaL_error(L, "cannot load artifact '%s' (%s)", name, err.msg);
  }
  return 1;
}

// host.encode(value) -> buffer | nil, message
static int l_host_encode(lua_State *L)
{
  luaL_checkany(L, 1);
  const void *data = NULL;
  size_t len = 0;
  lf_err err;
  lf_err_clear(&err);
  if (lf_lua_encode(L, 1, &data, &len, &err) != LF_OK) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  return 1;
}

// host.put(buffer) -> sha, size
static int l_host_put(lua_State *L)
{
  size_t len = 0;
  const void *data = lf_lua_codec_buffer_data(L, 1, &len);
  if (data == NULL) {
    return luaL_typeerror(L, 1, "luaflow.Buffer");
  }
  lf_lua_host *h = get_host(L);
  char sha[65];
  bool existed = false;
  lf_err err;
  lf_err_clear(&err);
  if (lf_store_put_blob(h->store, h->flow, data, len, sha, &existed, &err) != LF_OK) {
    return luaL_error(L, "cannot store an artifact (%s)", err.msg);
  }
  lua_pushstring(L, sha);
  lua_pushinteger(L, (lua_Integer)len);
  return 2;
}

// host.root() -> the datastore root, host.user() -> the user name (nil outside a task)
static int l_host_root(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  lf_lua_host *h = lua_touserdata(L, -1);
  lua_pushstring(L, h != NULL ? h->root : NULL);
  return 1;
}

// host.default_root() -> the datastore root a context would use (variables, config file)
static int l_host_default_root(lua_State *L)
{
  // Copied out and freed before any Lua call that could raise.
  char path[4096];
  char *root = lf_settings_datastore_root(NULL);
  if (root == NULL) {
    return luaL_error(L, "the s3 datastore needs a root: LUAFLOW_DATASTORE_ROOT_S3 or "
                      "datastore_root_s3 in ~/.luaflowconfig/config.json");
  }
  size_t n = strlen(root);
  bool fits = n < sizeof(path);
  if (fits) {
    memcpy(path, root, n + 1);
  }
  lf_free(root);
  if (!fits) {
    return luaL_error(L, "the datastore root path is too long");
  }
  lua_pushstring(L, path);
  return 1;
}

static int l_host_user(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  lf_lua_host *h = lua_touserdata(L, -1);
  lua_pushstring(L, h != NULL ? h->user : NULL);
  return 1;
}

// host.in_task() -> true while a task runs in this state
static int l_host_in_task(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  lf_lua_host *h = lua_touserdata(L, -1);
  lua_pushboolean(L, h != NULL && h->in_task);
  return 1;
}

static int l_host_typeof(lua_State *L)
{
  luaL_checkany(L, 1);
  lua_pushstring(L, lf_lua_value_type(L, 1));
  return 1;
}

static int l_host_now(lua_State *L)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  lua_pushnumber(L, (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
  return 1;
}

int lf_lua_open_host(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"default_root", l_host_default_root},
    {"encode", l_host_encode},
    {"in_task", l_host_in_task},
    {"load",   l_host_load  },
    {"now",    l_host_now   },
    {"put",    l_host_put   },
    {"root",   l_host_root  },
    {"typeof", l_host_typeof},
    {"user",   l_host_user  },
    {NULL,     NULL         },
  };
  luaL_newlib(L, funcs);
  return 1;
}
