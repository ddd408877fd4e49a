// SPDX-License-Identifier: MIT
// This file contains lf_session, what `luaflow repl` (and any program that embeds a prompt)
// evaluates typed Lua in: a Lua state with the client as globals, chunks compiled the way
// lua.c does (an expression first, then statements; "<eof>" means the input continues),
// results pretty-printed by luaflow.repl, tab completion, and, with a flow file, `run{}`
// (a real run, re-reading the file) and `step()` (one step tried in this process against a
// past task's artifacts, storing nothing).
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/settings.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "lua_api/artifacts.h"
#include "lua_api/state.h"

#define SESSION_KEY "luaflow.session"

struct lf_session {
  lf_ctx *ctx;
  lua_State *L;
  char *flow_path; ///< absolute; NULL without a flow file
  char *flow_name;
  lf_run_opts run_opts; ///< template of run{} (event callback ...)
  lf_lua_host host;
  volatile sig_atomic_t interrupted;
};

static lf_session *get_session(lua_State *L)
{
  lf_session *s = lua_touserdata(L, lua_upvalueindex(1));
  return s;
}

// Loads the flow file again (it may have been edited since the last call).
static lf_flow *reload(lua_State *L, lf_session *s)
{
  if (s->flow_path == NULL) {
    luaL_error(L, "no flow file: start the REPL as `luaflow repl FLOW.lua`");
  }
  lf_flow *f = NULL;
  lf_err err;
  lf_err_clear(&err);
  if (lf_api_flow_load(s->ctx, s->flow_path, &f, &err) != LF_OK) {
    luaL_error(L, "%s", err.msg);
  }
  return f;
}

static void push_names(lua_State *L, char *const *names, size_t n)
{
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

// Protected: pushes the graph of flow `f` (argument 1): { name, file, order = {...},
// steps = { name = { next, foreach, join, kind, prev, line } }, params = {...} }.
static int push_graph(lua_State *L)
{
  lf_flow *f = lua_touserdata(L, 1);
  const lf_dag *dag = f->dag;
  size_t n = lf_dag_count(dag);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, f->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, f->path);
  lua_setfield(L, -2, "file");
  size_t norder = 0;
  const size_t *order = lf_dag_order(dag, &norder);
  lua_createtable(L, (int)norder, 0);
  for (size_t i = 0; i < norder; i++) {
    lua_pushstring(L, lf_dag_step_at(dag, order[i])->name);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "order");
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    const lf_dag_step *st = lf_dag_step_at(dag, i);
    lua_createtable(L, 0, 6);
    push_names(L, st->next, st->nnext);
    lua_setfield(L, -2, "next");
    lua_createtable(L, (int)st->nprev, 0);
    for (size_t k = 0; k < st->nprev; k++) {
      lua_pushstring(L, lf_dag_step_at(dag, st->prev[k])->name);
      lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "prev");
    if (st->foreach_var != NULL) {
      lua_pushstring(L, st->foreach_var);
      lua_setfield(L, -2, "foreach");
    }
    lua_pushboolean(L, st->is_join);
    lua_setfield(L, -2, "join");
    if (st->split_of_join >= 0) {
      lua_pushstring(L, lf_dag_step_at(dag, (size_t)st->split_of_join)->name);
      lua_setfield(L, -2, "split");
    }
    lua_pushinteger(L, st->line);
    lua_setfield(L, -2, "line");
    lua_setfield(L, -2, st->name);
  }
  lua_setfield(L, -2, "steps");
  lua_createtable(L, (int)f->nparams, 0);
  for (size_t i = 0; i < f->nparams; i++) {
    lua_pushstring(L, f->params[i].name);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "params");
  return 1;
}

// _session.graph() -> the flow's graph, read from the file now
static int l_graph(lua_State *L)
{
  lf_session *s = get_session(L);
  lf_flow *f = reload(L, s);
  lf_err err;
  lf_err_clear(&err);
  lua_pushcfunction(L, push_graph);
  lua_pushlightuserdata(L, f);
  lf_status st = lf_lua_pcall(L, 1, 1, LF_ERR_INTERNAL, NULL, &err);
  lf_flow_free(f);
  if (st != LF_OK) {
    return luaL_error(L, "%s", err.msg);
  }
  return 1;
}

// _session.describe() -> the text `luaflow show` prints
static int l_describe(lua_State *L)
{
  lf_session *s = get_session(L);
  lf_flow *f = reload(L, s);
  char *text = lf_flow_describe(f);
  lf_flow_free(f);
  lua_pushstring(L, text);
  lf_free(text);
  return 1;
}

// Copies the strings of list `idx` (nil allowed) into a NULL-terminated array.
static char **string_list(lua_State *L, int idx, const char *what)
{
  if (lua_isnoneornil(L, idx)) {
    return NULL;
  }
  luaL_argexpected(L, lua_istable(L, idx), idx, what);
  lua_Integer n = luaL_len(L, idx);
  char **out = lf_xcalloc((size_t)n + 1, sizeof(*out));
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    const char *v = lua_tostring(L, -1);
    out[i - 1] = lf_xstrdup(v != NULL ? v : "");
    lua_pop(L, 1);
  }
  return out;
}

static void free_list(char **list)
{
  for (char **p = list; p != NULL && *p != NULL; p++) {
    lf_free(*p);
  }
  lf_free(list);
}

// _session.run(params, tags, with, max_workers) -> ok, pathspec|nil, message|nil
// `params` is a list {name, text, name, text, ...}; luaflow.repl converts values to text.
static int l_run(lua_State *L)
{
  lf_session *s = get_session(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer mw = luaL_optinteger(L, 4, 0);
  if (mw < 0 || mw > 100000) {
    return luaL_error(L, "run: max_workers must be between 1 and 100000");
  }
  luaL_argexpected(L, lua_isnoneornil(L, 2) || lua_istable(L, 2), 2, "list of tags");
  luaL_argexpected(L, lua_isnoneornil(L, 3) || lua_istable(L, 3), 3, "list of step options");
  // Everything the run needs is copied to C memory first: no Lua error may skip the frees.
  char **params = string_list(L, 1, "list of parameters");
  char **tags = string_list(L, 2, "list of tags");
  char **with = string_list(L, 3, "list of step options");
  lf_flow *f = NULL;
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_api_flow_load(s->ctx, s->flow_path, &f, &err);
  lf_run *run = NULL;
  if (st == LF_OK) {
    lf_run_opts o = s->run_opts;
    o.size = sizeof(o);
    o.params = (const char *const *)params;
    o.tags = (const char *const *)tags;
    o.with = (const char *const *)with;
    if (mw > 0) {
      o.max_workers = (int)mw;
    }
    st = lf_flow_run(f, &o, &run);
    snprintf(err.msg, sizeof(err.msg), "%s", lf_ctx_errmsg(s->ctx));
  }
  free_list(params);
  free_list(tags);
  free_list(with);
  lf_flow_free(f);
  char pathspec[512];
  pathspec[0] = '\0';
  if (run != NULL) {
    snprintf(pathspec, sizeof(pathspec), "%s", lf_run_pathspec(run));
    lf_run_free(run);
  }
  lua_pushboolean(L, st == LF_OK);
  if (pathspec[0] != '\0') {
    lua_pushstring(L, pathspec);
  } else {
    lua_pushnil(L);
  }
  if (st != LF_OK) {
    lua_pushstring(L, err.msg);
    lua_pushstring(L, lf_status_str(st));
    return 4;
  }
  return 2;
}

// _session.step(name, run_id, inputs|nil, split_index) -> result (see lf_api_step_try)
static int l_step(lua_State *L)
{
  lf_session *s = get_session(L);
  const char *step = luaL_checkstring(L, 1);
  const char *run_id = luaL_checkstring(L, 2);
  const char *inputs = luaL_optstring(L, 3, NULL);
  lua_Integer split = luaL_optinteger(L, 4, 0);
  if (s->flow_path == NULL) {
    return luaL_error(L, "no flow file: start the REPL as `luaflow repl FLOW.lua`");
  }
  lf_step_opts o;
  memset(&o, 0, sizeof(o));
  o.size = sizeof(o);
  o.flow_path = s->flow_path;
  o.step = step;
  o.run_id = run_id;
  o.task_id = "try";
  o.inputs = inputs;
  o.split_index = (int)split;
  o.msg_fd = -1;
  char *traceback = NULL;
  lf_err err;
  lf_err_clear(&err);
  int top = lua_gettop(L);
  lf_status st = lf_api_step_try(s->ctx, &o, L, &traceback, &err);
  if (st != LF_OK) {
    lua_settop(L, top);
    lua_pushstring(L, err.msg);
    if (traceback != NULL) {
      lua_pushfstring(L, "\n%s", traceback);
      lua_concat(L, 2);
    }
    lf_free(traceback);
    return lua_error(L);
  }
  return 1;
}

// _session.flow_name() -> the flow's name, or nil without a flow file
static int l_flow_name(lua_State *L)
{
  lf_session *s = get_session(L);
  lua_pushstring(L, s->flow_name);
  return 1;
}

static int open_session(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"describe",  l_describe },
    {"flow_name", l_flow_name},
    {"graph",     l_graph    },
    {"run",       l_run      },
    {"step",      l_step     },
    {NULL,        NULL       },
  };
  luaL_newlibtable(L, funcs);
  lua_getfield(L, LUA_REGISTRYINDEX, SESSION_KEY);
  luaL_setfuncs(L, funcs, 1);
  return 1;
}

// Protected: registers luaflow._session and runs luaflow.repl's setup.
static int setup(lua_State *L)
{
  lf_session *s = lua_touserdata(L, 1);
  lua_pushlightuserdata(L, s);
  lua_setfield(L, LUA_REGISTRYINDEX, SESSION_KEY);
  lf_lua_preload(L, "luaflow._session", open_session);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow.repl");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "setup");
  lua_call(L, 0, 0);
  return 0;
}

LF_API lf_session *lf_session_new(lf_ctx *ctx, const char *flow_path,
                                  const lf_run_opts *run_opts)
{
  lf_err err;
  lf_err_clear(&err);
  lf_session *s = lf_xcalloc(1, sizeof(*s));
  s->ctx = ctx;
  if (run_opts != NULL) {
    memcpy(&s->run_opts, run_opts,
           run_opts->size < sizeof(s->run_opts) ? run_opts->size : sizeof(s->run_opts));
  }
  s->run_opts.size = sizeof(s->run_opts);
  char *dir = NULL;
  if (flow_path != NULL) {
    lf_flow *f = NULL;
    if (lf_api_flow_load(ctx, flow_path, &f, &err) != LF_OK) {
      goto fail;
    }
    s->flow_path = lf_xstrdup(f->abspath);
    s->flow_name = lf_xstrdup(f->name);
    dir = lf_path_dirname(f->abspath);
    lf_flow_free(f);
  }
  lf_lua_opts lo = {.alloc = ctx->cfg.alloc,
                    .alloc_ud = ctx->cfg.alloc_ud,
                    .mem_limit = ctx->cfg.lua_mem_limit,
                    .flow_dir = dir,
                    .extra = ctx->modules,
                    .nextra = ctx->nmodules};
  s->L = lf_lua_state_new(&lo);
  lf_free(dir);
  if (s->L == NULL) {
    LF_ERR(&err, LF_ERR_NOMEM, "cannot create a Lua state for the session");
    goto fail;
  }
  lf_store *store = lf_api_store(ctx);
  // The client reads the index; for S3 it is a local cache, filled here when it is new.
  if (store == NULL || (lf_settings_root_is_s3(ctx->datastore_root) && lf_api_meta(ctx) == NULL)) {
    err = ctx->err;
    goto fail;
  }
  s->host = (lf_lua_host){.store = store,
                          .flow = s->flow_name,
                          .root = ctx->datastore_root,
                          .user = lf_api_username(),
                          .in_task = false};
  lf_lua_set_host(s->L, &s->host);
  lua_pushcfunction(s->L, setup);
  lua_pushlightuserdata(s->L, s);
  if (lf_lua_pcall(s->L, 1, 0, LF_ERR_INTERNAL, NULL, &err) != LF_OK) {
    goto fail;
  }
  return s;

fail:
  lf_api_fail(ctx, &err);
  lf_session_free(s);
  return NULL;
}

LF_API void lf_session_free(lf_session *s)
{
  if (s == NULL) {
    return;
  }
  if (s->L != NULL) {
    lf_lua_set_host(s->L, NULL);
    lf_lua_state_free(s->L);
  }
  lf_free(s->flow_path);
  lf_free(s->flow_name);
  lf_free(s);
}

static void stop_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted");
}

LF_API void lf_session_interrupt(lf_session *s)
{
  // As lua.c does: a hook set from a signal handler stops the running Lua code at its next
  // instruction. A run{} in progress is interrupted through the context.
  s->interrupted = 1;
  lua_sethook(s->L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  lua_State *tried = s->ctx->try_L;
  if (tried != NULL) {
    lua_sethook(tried, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  }
  lf_ctx_interrupt(s->ctx);
}

// Protected: formats the results between index 2 and the top with luaflow.repl.show.
static int format_results(lua_State *L)
{
  int n = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow.repl");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "show");
  lua_remove(L, -2);
  lua_insert(L, 1);
  lua_call(L, n, 1);
  return 1;
}

static char *take_text(lua_State *L)
{
  size_t len = 0;
  const char *t = lua_tolstring(L, -1, &len);
  char *out = t != NULL && len > 0 ? lf_xmemdupz(t, len) : NULL;
  lua_pop(L, 1);
  return out;
}

// Compiles a chunk: "return <chunk>" first, so expressions print their values.
static int compile(lua_State *L, const char *chunk, size_t len)
{
  const char *src = chunk;
  size_t n = len;
  if (n > 0 && src[0] == '=') { // Lua 5.1's "=expr"
    src++;
    n--;
  }
  lua_pushliteral(L, "return ");
  lua_pushlstring(L, src, n);
  lua_concat(L, 2);
  size_t rl = 0;
  const char *ret = lua_tolstring(L, -1, &rl);
  int status = luaL_loadbuffer(L, ret, rl, "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK) {
    return LUA_OK;
  }
  lua_pop(L, 1);
  return luaL_loadbuffer(L, src, n, "=stdin");
}

static bool incomplete(lua_State *L, int status)
{
  if (status != LUA_ERRSYNTAX) {
    return false;
  }
  size_t len = 0;
  const char *msg = lua_tolstring(L, -1, &len);
  static const char eof[] = "<eof>";
  return msg != NULL && len >= sizeof(eof) - 1 &&
         strcmp(msg + len - (sizeof(eof) - 1), eof) == 0;
}

static int msghandler(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      return 1;
    }
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

// Keeps what a user can act on in an error: the message and the frames of their own code.
// Frames inside the luaflow runtime and C glue are dropped, and so is a traceback header
// with no frames left.
static char *clean_error(char *text)
{
  if (text == NULL) {
    return NULL;
  }
  static const char *const noise[] = {"lua/luaflow/", "[C]: in ?", "(...tail calls...)",
                                      "[C]: in function 'error'", "luaflow._session.",
                                      "[C]: in function 'assert'"};
  lf_dynbuf b;
  lf_dynbuf_init(&b, strlen(text) + 1);
  char *header = NULL; // a "stack traceback:" line waiting for a frame
  char *line = text;
  while (line != NULL && *line != '\0') {
    char *nl = strchr(line, '\n');
    size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
    bool drop = false;
    for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]) && !drop; i++) {
      const char *hit = strstr(line, noise[i]);
      drop = hit != NULL && hit < line + n && line[0] == '\t';
    }
    if (n == 16 && strncmp(line, "stack traceback:", 16) == 0) {
      header = line;
    } else if (!drop) {
      if (header != NULL) {
        lf_dynbuf_adds(&b, "\nstack traceback:");
        header = NULL;
      }
      if (b.len > 0) {
        lf_dynbuf_adds(&b, "\n");
      }
      lf_dynbuf_add(&b, line, n);
    }
    line = nl != NULL ? nl + 1 : NULL;
  }
  lf_free(text);
  return lf_dynbuf_take(&b, NULL);
}

LF_API lf_eval_result lf_session_eval(lf_session *s, const char *chunk, size_t len, char **out)
{
  lua_State *L = s->L;
  *out = NULL;
  int base = lua_gettop(L);
  int status = compile(L, chunk, len);
  if (status != LUA_OK) {
    bool more = incomplete(L, status);
    if (more) {
      lua_settop(L, base);
      return LF_EVAL_INCOMPLETE;
    }
    *out = take_text(L);
    lua_settop(L, base);
    return LF_EVAL_ERROR;
  }
  s->interrupted = 0;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base + 1);
  status = lua_pcall(L, 0, LUA_MULTRET, base + 1);
  lua_sethook(L, NULL, 0, 0);
  if (status != LUA_OK) {
    *out = clean_error(take_text(L));
    lua_settop(L, base);
    return LF_EVAL_ERROR;
  }
  int nres = lua_gettop(L) - base - 1;
  if (nres > 0) {
    lua_pushcfunction(L, format_results);
    lua_insert(L, base + 2);
    status = lua_pcall(L, nres, 1, base + 1);
    *out = take_text(L);
    lua_settop(L, base);
    return status == LUA_OK ? LF_EVAL_OK : LF_EVAL_ERROR;
  }
  lua_settop(L, base);
  return LF_EVAL_OK;
}

// Protected: calls luaflow.repl.complete(line, cursor) -> start, { candidates }.
static int complete(lua_State *L)
{
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow.repl");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "complete");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 2);
  return 2;
}

LF_API char **lf_session_complete(lf_session *s, const char *line, size_t cursor, size_t *start)
{
  lua_State *L = s->L;
  int base = lua_gettop(L);
  *start = cursor;
  size_t len = strlen(line);
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, complete);
  lua_pushlstring(L, line, len);
  lua_pushinteger(L, (lua_Integer)(cursor < len ? cursor : len));
  char **out = NULL;
  if (lua_pcall(L, 2, 2, base + 1) == LUA_OK && lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    lua_Integer st = lua_tointeger(L, -2);
    if (st >= 0 && (size_t)st <= cursor) {
      *start = (size_t)st;
    }
    out = lf_xcalloc((size_t)n + 1, sizeof(*out));
    size_t k = 0;
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      const char *c = lua_tostring(L, -1);
      if (c != NULL) {
        out[k++] = lf_xstrdup(c);
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, base);
  return out;
}

LF_API void lf_strings_free(char **list)
{
  free_list(list);
}
