// SPDX-License-Identifier: MIT
// This file contains Lua state creation (allocator with limit, libraries, embedded runtime
// preloader with a development override path) and the protected-call wrapper.
#include "lua_api/state.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "core/log.h"
#include "lua_api/lua_embedded.h"
#include "lua_api/modules.h"

// Allocation accounting lives in an extra space block addressed through lua_getallocf's ud.
typedef struct state_alloc {
  lf_alloc_fn inner;
  void *inner_ud;
  size_t used;
  size_t limit;
  int refs;
  // String adoption (lf_lua_push_adopted): the bytes a long string's header takes in front of
  // its characters (0: no adoption), the buffer the next allocation of adopt_size bytes
  // returns, and the probe that measures the header when the state is made.
  size_t str_head;
  char *adopt;
  size_t adopt_size;
  bool probing;
  void *probe_ptr;
  size_t probe_size;
} state_alloc;

// The default allocator of luaflow's states: malloc's below LF_BIG_MIN, page buffers from it
// (strings, tables and buffers of MBs: huge pages where the kernel gives them, memory handed
// back to the system on free, and growth by mremap without a copy). Lua passes a block's size
// back with it, which tells which of the two it came from.
static void *big_or_malloc(void *ptr, size_t osize, size_t nsize)
{
  size_t old = ptr != NULL ? osize : 0;
  if (nsize == 0) {
    lf_big_free(ptr, old);
    return NULL;
  }
  bool big = nsize >= LF_BIG_MIN;
  if (ptr == NULL || (old >= LF_BIG_MIN) == big) {
    return big ? lf_pages_realloc(ptr, nsize) : lf_try_realloc(ptr, nsize);
  }
  void *p = lf_big_alloc(nsize);
  if (p != NULL) {
    memcpy(p, ptr, old < nsize ? old : nsize);
    lf_big_free(ptr, old);
  }
  return p;
}

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  state_alloc *a = ud;
  size_t old = ptr != NULL ? osize : 0;
  if (nsize == 0) {
    if (a->inner != NULL) {
      a->inner(a->inner_ud, ptr, osize, 0);
    } else {
      big_or_malloc(ptr, osize, 0);
    }
    a->used -= old;
    return NULL;
  }
  if (a->limit != 0 && nsize > old && a->used + (nsize - old) > a->limit) {
    return NULL;
  }
  if (ptr == NULL && a->adopt != NULL && nsize == a->adopt_size) {
    void *p = a->adopt;
    a->adopt = NULL;
    a->used += nsize;
    return p;
  }
  void *p = a->inner != NULL ? a->inner(a->inner_ud, ptr, osize, nsize)
                             : big_or_malloc(ptr, osize, nsize);
  if (p != NULL) {
    a->used = a->used - old + nsize;
    if (a->probing && ptr == NULL) {
      a->probing = false;
      a->probe_ptr = p;
      a->probe_size = nsize;
    }
  }
  return p;
}

// The length of the probe string: long (not interned), so it gets a block of its own.
#define PROBE_LEN 100

// Measures where a long string's characters sit in the block Lua allocates for it: the first
// allocation of lua_pushlstring is that block, and its characters are what lua_tolstring
// returns. Adoption is on only if the block is header + characters + NUL, as in Lua 5.4.
static void probe_string_head(lua_State *L, state_alloc *a)
{
  char bytes[PROBE_LEN];
  memset(bytes, 'p', sizeof(bytes));
  a->probing = true;
  lua_pushlstring(L, bytes, sizeof(bytes));
  a->probing = false;
  const char *chars = lua_tostring(L, -1);
  const char *block = a->probe_ptr;
  if (block != NULL && chars > block && chars - block <= 256 &&
      a->probe_size == (size_t)(chars - block) + PROBE_LEN + 1) {
    a->str_head = (size_t)(chars - block);
  }
  lua_pop(L, 1);
}

static int panic(lua_State *L)
{
  const char *msg = lua_tostring(L, -1);
  LF_LOGE("unprotected Lua error (a bug in luaflow): %s", msg != NULL ? msg : "?");
  abort();
}

// Loader for embedded modules. With LUAFLOW_LUA_DIR set, a file of the same module under that
// directory wins, so the runtime can be edited without rebuilding (neovim's runtime path).
static int load_embedded(lua_State *L)
{
  const lf_lua_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  const char *dev = getenv("LUAFLOW_LUA_DIR");
  if (dev != NULL && dev[0] != '\0') {
    char *rel = lf_xstrdup(m->chunkname + 1);
    char *path = lf_path_join(dev, rel);
    lf_free(rel);
    if (lf_fs_exists(path)) {
      lua_pushfstring(L, "@%s", path);
      lf_free(path);
      const char *chunk = lua_tostring(L, -1);
      if (luaL_loadfilex(L, chunk + 1, "t") != LUA_OK) {
        return lua_error(L);
      }
      lua_pushstring(L, m->name);
      lua_call(L, 1, 1);
      return 1;
    }
    lf_free(path);
  }
  if (luaL_loadbufferx(L, m->source, m->len, m->chunkname, "t") != LUA_OK) {
    return lua_error(L);
  }
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

void lf_lua_preload(lua_State *L, const char *name, lua_CFunction open)
{
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

void lf_lua_install_runtime(lua_State *L)
{
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  // stack: preload
  for (const lf_lua_embedded *m = lf_lua_embedded_modules; m->name != NULL; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  for (const lf_lua_cmodule *c = lf_lua_cmodules; c->name != NULL; c++) {
    lua_pushcfunction(L, c->open);
    lua_setfield(L, -2, c->name);
  }
  lua_pop(L, 1);
}

static int open_state(lua_State *L)
{
  const lf_lua_opts *opts = lua_touserdata(L, 1);
  void *ud = NULL;
  if (lua_getallocf(L, &ud) == limited_alloc && ((state_alloc *)ud)->inner == NULL) {
    probe_string_head(L, ud);
  }
  luaL_openlibs(L);
  lf_lua_install_runtime(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (size_t i = 0; opts != NULL && i < opts->nextra; i++) {
    lua_pushcfunction(L, opts->extra[i].open);
    lua_setfield(L, -2, opts->extra[i].name);
  }
  lua_pop(L, 1);
  if (opts != NULL && opts->flow_dir != NULL) {
    // Users ship modules beside the flow: <dir>/?.lua and <dir>/?/init.lua come first.
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    // stack: package, path
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", opts->flow_dir, opts->flow_dir,
                    lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
  }
  return 0;
}

lua_State *lf_lua_state_new(const lf_lua_opts *opts)
{
  state_alloc *a = lf_xcalloc(1, sizeof(*a));
  if (opts != NULL) {
    a->inner = opts->alloc;
    a->inner_ud = opts->alloc_ud;
    a->limit = opts->mem_limit;
  }
  lua_State *L = lua_newstate(limited_alloc, a);
  if (L == NULL) {
    lf_free(a);
    return NULL;
  }
  lua_atpanic(L, panic);
  lua_pushcfunction(L, open_state);
  lua_pushlightuserdata(L, (void *)opts);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    LF_LOGE("cannot initialise Lua: %s", lua_tostring(L, -1));
    lf_lua_state_free(L);
    return NULL;
  }
  return L;
}

void lf_lua_state_free(lua_State *L)
{
  if (L == NULL) {
    return;
  }
  void *ud = NULL;
  lua_getallocf(L, &ud);
  lua_close(L);
  state_alloc *a = ud;
#ifndef NDEBUG
  if (a->refs != 0) {
    LF_LOGE("%d Lua registry references leaked", a->refs);
  }
#endif
  lf_free(a);
}

void lf_lua_set_mem_limit(lua_State *L, size_t limit)
{
  void *ud = NULL;
  lua_getallocf(L, &ud);
  ((state_alloc *)ud)->limit = limit;
}

size_t lf_lua_mem_used(lua_State *L)
{
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return ((state_alloc *)ud)->used;
}

size_t lf_lua_string_head(lua_State *L)
{
  void *ud = NULL;
  if (lua_getallocf(L, &ud) != limited_alloc) {
    return 0; // a host's own state (luaflow loaded as a C module)
  }
  return ((state_alloc *)ud)->str_head;
}

static int push_armed(lua_State *L)
{
  const char *chars = lua_touserdata(L, 1);
  size_t len = (size_t)lua_tointeger(L, 2);
  void *ud = NULL;
  lua_getallocf(L, &ud);
  state_alloc *a = ud;
  a->adopt = (char *)chars - a->str_head;
  a->adopt_size = a->str_head + len + 1;
  // Lua's block for the string is the buffer itself, so its copy of the characters is onto
  // themselves, which memcpy skips.
  lua_pushlstring(L, chars, len);
  return 1;
}

void lf_lua_push_adopted(lua_State *L, char *buf, size_t len)
{
  void *ud = NULL;
  lua_getallocf(L, &ud);
  state_alloc *a = ud;
  size_t head = lf_lua_string_head(L);
  if (head == 0 || head + len + 1 < LF_BIG_MIN) {
    lua_pushlstring(L, buf + head, len); // not adoptable: a copy, then the buffer goes
    lf_big_free(buf, head + len + 1);
    return;
  }
  lua_pushcfunction(L, push_armed);
  lua_pushlightuserdata(L, buf + head);
  lua_pushinteger(L, (lua_Integer)len);
  int rc = lua_pcall(L, 2, 1, 0);
  bool taken = a->adopt == NULL;
  a->adopt = NULL;
  if (!taken) {
    lf_big_free(buf, head + len + 1); // the string was refused (the memory limit)
  } else if (rc == LUA_OK) {
    // Another block of exactly this size taking the buffer cannot happen in Lua 5.4.
    LF_ASSERT(lua_tostring(L, -1) == buf + head);
  }
  if (rc != LUA_OK) {
    lua_error(L);
  }
}

int lf_lua_ref(lua_State *L)
{
  void *ud = NULL;
  lua_getallocf(L, &ud);
  ((state_alloc *)ud)->refs++;
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void lf_lua_unref(lua_State *L, int ref)
{
  if (ref == LUA_NOREF || ref == LUA_REFNIL) {
    return;
  }
  void *ud = NULL;
  lua_getallocf(L, &ud);
  ((state_alloc *)ud)->refs--;
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

// Message handler: keeps the message and appends a traceback as a second value in a table.
static int msgh(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      msg = lua_tostring(L, -1);
    } else {
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  lua_createtable(L, 0, 2);
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_traceback(L, L, NULL, 1);
  lua_setfield(L, -2, "traceback");
  return 1;
}

lf_status lf_lua_pcall(lua_State *L, int nargs, int nresults, lf_status code, char **traceback,
                       lf_err *err)
{
  if (traceback != NULL) {
    *traceback = NULL;
  }
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msgh);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nresults, base);
  if (rc == LUA_OK) {
    lua_remove(L, base);
    return LF_OK;
  }
  // stack: msgh, error
  lf_status st = rc == LUA_ERRMEM ? LF_ERR_NOMEM : code;
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "message");
    LF_ERR(err, st, "%s", lua_tostring(L, -1) != NULL ? lua_tostring(L, -1) : "error");
    lua_pop(L, 1);
    if (traceback != NULL) {
      lua_getfield(L, -1, "traceback");
      if (lua_isstring(L, -1)) {
        *traceback = lf_xstrdup(lua_tostring(L, -1));
      }
      lua_pop(L, 1);
    }
  } else if (rc == LUA_ERRMEM) {
    LF_ERR(err, st, "not enough memory");
  } else {
    const char *m = lua_tostring(L, -1);
    LF_ERR(err, st, "%s", m != NULL ? m : "error");
  }
  lua_pop(L, 2);
  return st;
}
