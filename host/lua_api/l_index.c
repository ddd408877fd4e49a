// SPDX-License-Identifier: MIT
// This file contains luaflow._index: read-only access to a datastore's history for the Lua
// client (luaflow.client) — queries of the sqlite index turned into plain Lua tables, and
// loading of artifacts and logs from the store. The index is only read here; the scheduler
// is its only writer.
#include <lauxlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/settings.h"
#include "lua_api/artifacts.h"
#include "lua_api/history.h"
#include "lua_api/modules.h"
#include "meta/meta.h"
#include "s3/s3_store.h"
#include "store/store.h"

#define INDEX_MT "luaflow.Index"
#define LOG_MAX ((size_t)1 << 30)

typedef struct index_box {
  lf_store *store;
  lf_meta *meta;
} index_box;

static index_box *check_index(lua_State *L)
{
  index_box *b = luaL_checkudata(L, 1, INDEX_MT);
  if (b->store == NULL || b->meta == NULL) {
    luaL_error(L, "the history index is closed");
  }
  return b;
}

static int l_index_close(lua_State *L)
{
  index_box *b = luaL_checkudata(L, 1, INDEX_MT);
  if (b->meta != NULL) {
    lf_meta_close(b->meta);
    b->meta = NULL;
  }
  if (b->store != NULL) {
    lf_store_free(b->store);
    b->store = NULL;
  }
  return 0;
}

// index.open(root) -> index | nil, message
static int l_index_open(lua_State *L)
{
  const char *root = luaL_checkstring(L, 1);
  index_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->store = NULL;
  b->meta = NULL;
  luaL_setmetatable(L, INDEX_MT);
  // stack: box (owns whatever is opened below)
  lf_err err;
  lf_err_clear(&err);
  char *db = lf_settings_index_path(root);
  bool have = lf_fs_exists(db);
  if (have) {
    b->meta = lf_meta_open(db, &err);
  }
  lf_free(db);
  if (!have) {
    lua_pushnil(L);
    if (lf_settings_root_is_s3(root)) {
      lua_pushfstring(L, "no local index of '%s' yet (run 'luaflow reindex "
                      "--datastore-root %s' to fill it)", root, root);
    } else {
      lua_pushfstring(L, "no history in '%s' (no runs yet, or a different datastore root)",
                      root);
    }
    return 2;
  }
  if (b->meta != NULL) {
    b->store = lf_datastore_open(root, &err);
  }
  if (b->store == NULL || b->meta == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  return 1;
}

static void push_strings(lua_State *L, const lf_meta_strings *s)
{
  lua_createtable(L, (int)s->count, 0);
  for (size_t i = 0; i < s->count; i++) {
    lua_pushstring(L, s->items[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static void set_str(lua_State *L, const char *k, const char *v)
{
  if (v != NULL) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
  }
}

static void set_int(lua_State *L, const char *k, int64_t v)
{
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

static void push_run(lua_State *L, const lf_meta_run *r)
{
  lua_createtable(L, 0, 10);
  set_str(L, "flow", r->flow);
  set_str(L, "id", r->run_id);
  set_str(L, "user", r->user);
  set_str(L, "status", r->status);
  set_int(L, "created_at", r->created_at);
  set_int(L, "finished_at", r->finished_at);
  set_str(L, "flow_file", r->flow_file);
  set_str(L, "origin_run", r->origin_run);
  push_strings(L, &r->tags);
  lua_setfield(L, -2, "tags");
  push_strings(L, &r->system_tags);
  lua_setfield(L, -2, "system_tags");
}

// Copies a meta error into a Lua "nil, message" return; the lists are freed by the caller
// first, so nothing is held when these raise.
static int fail(lua_State *L, const lf_err *err)
{
  lua_pushnil(L);
  lua_pushstring(L, err->msg);
  return 2;
}

// index:run(flow, id) -> run | nil, message
static int l_index_run(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  const char *id = luaL_checkstring(L, 3);
  lf_meta_run r;
  memset(&r, 0, sizeof(r));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_run_info(b->meta, flow, id, &r, &err) != LF_OK) {
    lf_meta_run_destroy(&r);
    return fail(L, &err);
  }
  push_run(L, &r);
  lf_meta_run_destroy(&r);
  return 1;
}

// index:runs(flow, { user =, tags = {...}, limit = }) -> { run, ... } newest first
static int l_index_runs(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  lf_meta_run_filter f;
  memset(&f, 0, sizeof(f));
  const char *tags[64];
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "user");
    f.user = lua_tostring(L, -1);
    lua_getfield(L, 3, "limit");
    f.limit = (size_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 3, "tags");
    if (lua_istable(L, -1)) {
      lua_Integer n = luaL_len(L, -1);
      luaL_argcheck(L, n <= 64, 3, "at most 64 tags");
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        tags[f.n_tags++] = luaL_checkstring(L, -1);
        // the strings stay referenced by the tags table on the stack
        lua_pop(L, 1);
      }
      f.tags = tags;
    }
  }
  lf_meta_run_list list;
  memset(&list, 0, sizeof(list));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_list_runs(b->meta, flow, &f, &list, &err) != LF_OK) {
    lf_meta_run_list_destroy(&list);
    return fail(L, &err);
  }
  // Pushing can raise only memory errors; then the list leaks, which a failing process
  // tolerates (TODO(luaflow): box results in a userdata for the REPL's long sessions).
  lua_createtable(L, (int)list.count, 0);
  for (size_t i = 0; i < list.count; i++) {
    push_run(L, &list.items[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lf_meta_run_list_destroy(&list);
  return 1;
}

// index:latest(flow, successful, user) -> run id | nil, message
static int l_index_latest(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  bool ok_only = lua_toboolean(L, 3);
  const char *user = luaL_optstring(L, 4, NULL);
  char *id = NULL;
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_latest_run(b->meta, flow, ok_only, user, &id, &err) != LF_OK) {
    return fail(L, &err);
  }
  lua_pushstring(L, id);
  lf_free(id);
  return 1;
}

// index:steps(flow, run) -> { name, ... } in execution order
static int l_index_steps(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  const char *run = luaL_checkstring(L, 3);
  lf_meta_strings s;
  memset(&s, 0, sizeof(s));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_list_steps(b->meta, flow, run, &s, &err) != LF_OK) {
    lf_meta_strings_destroy(&s);
    return fail(L, &err);
  }
  push_strings(L, &s);
  lf_meta_strings_destroy(&s);
  return 1;
}

// index:flows() -> { name, ... }: every flow with a run in the index, sorted
static int l_index_flows(lua_State *L)
{
  index_box *b = check_index(L);
  lf_meta_strings s;
  memset(&s, 0, sizeof(s));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_list_flows(b->meta, &s, &err) != LF_OK) {
    lf_meta_strings_destroy(&s);
    return fail(L, &err);
  }
  push_strings(L, &s);
  lf_meta_strings_destroy(&s);
  return 1;
}

// index:tasks(flow, run, step) -> { task, ... }
static int l_index_tasks(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  const char *run = luaL_checkstring(L, 3);
  const char *step = luaL_optstring(L, 4, NULL);
  lf_meta_task_list list;
  memset(&list, 0, sizeof(list));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_list_tasks(b->meta, flow, run, step, &list, &err) != LF_OK) {
    lf_meta_task_list_destroy(&list);
    return fail(L, &err);
  }
  lua_createtable(L, (int)list.count, 0);
  for (size_t i = 0; i < list.count; i++) {
    const lf_meta_task *t = &list.items[i];
    lua_createtable(L, 0, 10);
    set_str(L, "step", t->step);
    set_str(L, "id", t->task_id);
    set_str(L, "status", t->status);
    set_int(L, "attempt", t->attempt);
    set_int(L, "pid", t->pid);
    set_int(L, "started_at", t->started_at);
    set_int(L, "finished_at", t->finished_at);
    set_str(L, "origin", t->origin);
    lua_pushboolean(L, t->committed);
    lua_setfield(L, -2, "committed");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lf_meta_task_list_destroy(&list);
  return 1;
}

// index:artifacts(flow, run, step, task) -> { {name=, sha=, type=, size=}, ... } by name
static int l_index_artifacts(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  const char *run = luaL_checkstring(L, 3);
  const char *step = luaL_checkstring(L, 4);
  const char *task = luaL_checkstring(L, 5);
  lf_meta_artifact_list list;
  memset(&list, 0, sizeof(list));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_task_artifacts(b->meta, flow, run, step, task, &list, &err) != LF_OK) {
    lf_meta_artifact_list_destroy(&list);
    return fail(L, &err);
  }
  lua_createtable(L, (int)list.count, 0);
  for (size_t i = 0; i < list.count; i++) {
    const lf_meta_artifact *a = &list.items[i];
    lua_createtable(L, 0, 4);
    set_str(L, "name", a->name);
    set_str(L, "sha", a->sha);
    set_str(L, "type", a->type_name);
    set_int(L, "size", a->size);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lf_meta_artifact_list_destroy(&list);
  return 1;
}

// index:load(flow, sha) -> value; raises on a missing or corrupt blob
static int l_index_load(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  const char *sha = luaL_checkstring(L, 3);
  lf_err err;
  lf_err_clear(&err);
  if (lf_lua_load_value(L, b->store, flow, sha, &err) != LF_OK) {
    return luaL_error(L, "%s", err.msg);
  }
  return 1;
}

// index:log(key) -> string ("" when nothing was stored)
static int l_index_log(lua_State *L)
{
  index_box *b = check_index(L);
  const char *key = luaL_checkstring(L, 2);
  char *text = NULL;
  size_t len = 0;
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_store_get(b->store, key, LOG_MAX, &text, &len, &err);
  if (st == LF_ERR_NOTFOUND) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (st != LF_OK) {
    return fail(L, &err);
  }
  // A raise here (memory) would leak `text`: push through a buffer that Lua owns first.
  luaL_Buffer buf;
  char *dst = luaL_buffinitsize(L, &buf, len);
  memcpy(dst, text, len);
  lf_free(text);
  luaL_pushresultsize(&buf, len);
  return 1;
}

// index:tag(flow, run, add, remove) -> { tag, ... } | nil, message
// Changes user tags (lists of strings, either may be nil); system tags are read-only.
static int l_index_tag(lua_State *L)
{
  index_box *b = check_index(L);
  const char *flow = luaL_checkstring(L, 2);
  const char *run = luaL_checkstring(L, 3);
  const char *lists[2][64];
  size_t counts[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    int idx = 4 + k;
    if (lua_isnoneornil(L, idx)) {
      continue;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    luaL_argcheck(L, n <= 64, idx, "at most 64 tags");
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      lists[k][counts[k]++] = luaL_checkstring(L, -1);
      lua_pop(L, 1); // the string stays referenced by the table
    }
  }
  char **tags = NULL;
  size_t n = 0;
  lf_err err;
  lf_err_clear(&err);
  if (lf_lua_history_tag(b->store, b->meta, flow, run, lists[0], counts[0], lists[1],
                         counts[1], &tags, &n, &err) != LF_OK) {
    return fail(L, &err);
  }
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, tags[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lf_store_free_names(tags, n);
  return 1;
}

int lf_lua_open_index(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"artifacts", l_index_artifacts},
    {"close",     l_index_close    },
    {"flows",     l_index_flows    },
    {"latest",    l_index_latest   },
    {"load",      l_index_load     },
    {"log",       l_index_log      },
    {"run",       l_index_run      },
    {"runs",      l_index_runs     },
    {"steps",     l_index_steps    },
    {"tag",       l_index_tag      },
    {"tasks",     l_index_tasks    },
    {NULL,        NULL             },
  };
  if (luaL_newmetatable(L, INDEX_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_index_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_index_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {
    {"open", l_index_open},
    {NULL,   NULL        },
  };
  luaL_newlib(L, funcs);
  return 1;
}
