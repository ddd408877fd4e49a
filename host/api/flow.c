// SPDX-License-Identifier: MIT
// This file contains flow loading: the flow file's top level runs in a fresh Lua state (it
// only declares steps), the declarations are read back into C, and dag/ finds each step's
// transitions in the source and validates the graph. No step code runs here.
#include <lauxlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "lua_api/state.h"

// Flow files larger than this are not flows.
#define FLOW_FILE_MAX (16 * 1024 * 1024)

typedef struct step_decl {
  char *name;
  char *fn_source;
  char *self_name;
  char *options_text;
  int line;
  int fn_line;
  int fn_lastline;
  int nparams;
  bool has_options;
} step_decl;

typedef struct flow_decl {
  char *name;
  char *doc;
  step_decl *steps;
  size_t nsteps;
  lf_param *params;
  size_t nparams;
} flow_decl;

static void free_decl(flow_decl *d)
{
  for (size_t i = 0; i < d->nsteps; i++) {
    lf_free(d->steps[i].name);
    lf_free(d->steps[i].fn_source);
    lf_free(d->steps[i].self_name);
    lf_free(d->steps[i].options_text);
  }
  lf_free(d->steps);
  lf_free(d->name);
  lf_free(d->doc);
  // params are handed over to the flow on success; on failure they are freed here
  for (size_t i = 0; i < d->nparams; i++) {
    lf_free(d->params[i].artifact);
    lf_free(d->params[i].name);
    lf_free(d->params[i].help);
    lf_free(d->params[i].type);
  }
  lf_free(d->params);
}

static char *opt_string(lua_State *L, int idx, const char *key)
{
  lua_getfield(L, idx, key);
  char *s = lua_type(L, -1) == LUA_TSTRING ? lf_xstrdup(lua_tostring(L, -1)) : NULL;
  lua_pop(L, 1);
  return s;
}

static int opt_int(lua_State *L, int idx, const char *key)
{
  lua_getfield(L, idx, key);
  int v = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

static bool opt_bool(lua_State *L, int idx, const char *key)
{
  lua_getfield(L, idx, key);
  bool v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

// Protected: stack 1 = flow object, 2 = light userdata flow_decl. Reads the declarations.
// Everything allocated is reachable from the decl, so a raise leaks nothing.
static int collect(lua_State *L)
{
  flow_decl *d = lua_touserdata(L, 2);
  lua_getfield(L, 1, "_describe");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  int desc = lua_gettop(L);
  // stack: flow, decl, desc
  d->name = opt_string(L, desc, "name");
  d->doc = opt_string(L, desc, "doc");
  lua_getfield(L, desc, "steps");
  int steps = lua_gettop(L);
  size_t n = (size_t)luaL_len(L, steps);
  d->steps = lf_xcalloc(n + 1, sizeof(step_decl));
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, steps, (lua_Integer)i);
    // stack: ..., steps, step
    step_decl *s = &d->steps[d->nsteps++];
    s->name = opt_string(L, -1, "name");
    s->fn_source = opt_string(L, -1, "fn_source");
    s->self_name = opt_string(L, -1, "self_name");
    s->line = opt_int(L, -1, "line");
    s->fn_line = opt_int(L, -1, "fn_line");
    s->fn_lastline = opt_int(L, -1, "fn_lastline");
    s->nparams = opt_int(L, -1, "nparams");
    s->has_options = opt_bool(L, -1, "has_options");
    lua_pop(L, 1);
    lua_getfield(L, 1, "_options_text");
    lua_pushvalue(L, 1);
    lua_pushstring(L, s->name);
    lua_call(L, 2, 1);
    s->options_text = lua_isstring(L, -1) ? lf_xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, desc, "params");
  int params = lua_gettop(L);
  n = (size_t)luaL_len(L, params);
  d->params = lf_xcalloc(n + 1, sizeof(lf_param));
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, params, (lua_Integer)i);
    lf_param *p = &d->params[d->nparams++];
    p->default_ref = LUA_NOREF;
    p->artifact = opt_string(L, -1, "artifact");
    p->name = opt_string(L, -1, "name");
    p->help = opt_string(L, -1, "help");
    p->type = opt_string(L, -1, "type");
    p->required = opt_bool(L, -1, "required");
    p->is_text = opt_bool(L, -1, "is_text");
    lua_getfield(L, -1, "default");
    p->has_default = !lua_isnil(L, -1);
    if (p->has_default) {
      p->default_ref = lf_lua_ref(L);
    } else {
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return 0;
}

// Protected: stack 1 = the value the flow file returned. Pushes true if it is a flow.
static int is_flow(lua_State *L)
{
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "_is_flow");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

static const char *strip_at(const char *src)
{
  return src != NULL && (src[0] == '@' || src[0] == '=') ? src + 1 : src;
}

lf_status lf_api_flow_load(lf_ctx *ctx, const char *path, lf_flow **out, lf_err *err)
{
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  lf_status st = lf_fs_read_file(path, FLOW_FILE_MAX, &text, &len, err);
  if (st != LF_OK) {
    if (st == LF_ERR_NOTFOUND) {
      lf_err_clear(err);
      return LF_ERR(err, LF_ERR_USAGE, "no flow file '%s'", path);
    }
    return st;
  }
  lf_flow *f = lf_xcalloc(1, sizeof(*f));
  f->ctx = ctx;
  f->flow_ref = LUA_NOREF;
  f->path = lf_xstrdup(path);
  f->abspath = lf_path_absolute(path);
  char *dir = lf_path_dirname(f->abspath);
  lf_lua_opts lo = {.alloc = ctx->cfg.alloc,
                    .alloc_ud = ctx->cfg.alloc_ud,
                    .mem_limit = ctx->cfg.lua_mem_limit,
                    .flow_dir = dir,
                    .extra = ctx->modules,
                    .nextra = ctx->nmodules};
  f->L = lf_lua_state_new(&lo);
  lf_free(dir);
  flow_decl d;
  memset(&d, 0, sizeof(d));
  if (f->L == NULL) {
    st = LF_ERR(err, LF_ERR_NOMEM, "cannot create a Lua state for '%s'", path);
    goto fail;
  }
  lua_State *L = f->L;
  char *chunkname = lf_xasprintf("@%s", path);
  int rc = luaL_loadbufferx(L, text, len, chunkname, "t");
  lf_free(chunkname);
  if (rc != LUA_OK) {
    st = LF_ERR(err, LF_ERR_FLOW, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    goto fail;
  }
  st = lf_lua_pcall(L, 0, 1, LF_ERR_FLOW, NULL, err);
  if (st != LF_OK) {
    goto fail;
  }
  // stack: flow
  lua_pushcfunction(L, is_flow);
  lua_pushvalue(L, -2);
  st = lf_lua_pcall(L, 1, 1, LF_ERR_FLOW, NULL, err);
  if (st != LF_OK) {
    goto fail;
  }
  bool ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!ok) {
    int lines = 1;
    for (size_t i = 0; i + 1 < len; i++) {
      lines += text[i] == '\n';
    }
    st = LF_ERR(err, LF_ERR_FLOW,
                "%s:%d: the file must return its flow: end it with 'return flow' (it returned "
                "%s)",
                path, lines, luaL_typename(L, -1));
    goto fail;
  }
  lua_pushvalue(L, -1);
  f->flow_ref = lf_lua_ref(L);
  lua_pushcfunction(L, collect);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, &d);
  st = lf_lua_pcall(L, 2, 0, LF_ERR_FLOW, NULL, err);
  if (st != LF_OK) {
    goto fail;
  }
  f->name = lf_xstrdup(d.name);
  f->doc = d.doc != NULL ? lf_xstrdup(d.doc) : NULL;
  f->dag = lf_dag_new(path, text, len);
  for (size_t i = 0; i < d.nsteps; i++) {
    step_decl *s = &d.steps[i];
    const char *src = strip_at(s->fn_source);
    if (src == NULL || strcmp(src, path) != 0) {
      st = LF_ERR(err, LF_ERR_FLOW,
                  "%s:%d: step '%s': its function is defined in '%s'; define step functions in "
                  "the flow file so the graph can be read from it",
                  path, s->line, s->name, src != NULL ? src : "?");
      goto fail;
    }
    int idx = lf_dag_add_step(f->dag, s->name, s->line, s->fn_line, s->fn_lastline, s->nparams,
                              s->self_name != NULL ? s->self_name : "self", s->has_options);
    if (s->options_text != NULL) {
      lf_dag_set_options_text(f->dag, (size_t)idx, s->options_text);
    }
  }
  st = lf_dag_extract(f->dag, err);
  if (st != LF_OK) {
    goto fail;
  }
  st = lf_dag_validate(f->dag, err);
  if (st != LF_OK) {
    goto fail;
  }
  f->params = d.params;
  f->nparams = d.nparams;
  d.params = NULL;
  d.nparams = 0;
  st = lf_api_flow_confs(f, err);
  if (st != LF_OK) {
    goto fail;
  }
  free_decl(&d);
  lf_free(text);
  *out = f;
  return LF_OK;

fail:
  // Registry refs of defaults belong to the state, which is closed with the flow.
  for (size_t i = 0; i < d.nparams; i++) {
    if (f->L != NULL) {
      lf_lua_unref(f->L, d.params[i].default_ref);
    }
  }
  free_decl(&d);
  lf_free(text);
  lf_flow_free(f);
  return st;
}

// Protected: stack 1 = light userdata flow. Fills f->confs from flow:_step_config(name).
// Everything allocated hangs off f->confs, so a raise leaks nothing.
static int read_confs(lua_State *L)
{
  lf_flow *f = lua_touserdata(L, 1);
  size_t n = lf_dag_count(f->dag);
  for (size_t i = 0; i < n; i++) {
    lf_sched_step_conf *c = &f->confs[i];
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->flow_ref);
    lua_getfield(L, -1, "_step_config");
    lua_insert(L, -2);
    lua_pushstring(L, lf_dag_step_at(f->dag, i)->name);
    lua_call(L, 2, 1);
    // stack: light, conf
    c->retries = opt_int(L, -1, "retries");
    lua_getfield(L, -1, "retry_delay");
    c->retry_delay = lua_tonumber(L, -1);
    lua_getfield(L, -2, "timeout");
    c->timeout = lua_tonumber(L, -1);
    lua_getfield(L, -3, "cpu");
    c->cpu = lua_tonumber(L, -1);
    lua_getfield(L, -4, "memory");
    c->memory = lua_tonumber(L, -1);
    lua_pop(L, 4);
    c->gpu = opt_int(L, -1, "gpu");
    c->catch_var = opt_string(L, -1, "catch");
    lua_getfield(L, -1, "env");
    size_t ne = (size_t)luaL_len(L, -1);
    c->env = lf_xcalloc(ne + 1, sizeof(char *));
    for (size_t k = 0; k < ne; k++) {
      lua_rawgeti(L, -1, (lua_Integer)k + 1);
      c->env[k] = lf_xstrdup(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  return 0;
}

void lf_api_flow_free_confs(lf_flow *f)
{
  if (f->confs == NULL) {
    return;
  }
  size_t n = lf_dag_count(f->dag);
  for (size_t i = 0; i < n; i++) {
    lf_free(f->confs[i].catch_var);
    for (char **e = f->confs[i].env; e != NULL && *e != NULL; e++) {
      lf_free(*e);
    }
    lf_free(f->confs[i].env);
  }
  lf_free(f->confs);
  f->confs = NULL;
}

lf_status lf_api_flow_confs(lf_flow *f, lf_err *err)
{
  lf_api_flow_free_confs(f);
  f->confs = lf_xcalloc(lf_dag_count(f->dag) + 1, sizeof(lf_sched_step_conf));
  lua_pushcfunction(f->L, read_confs);
  lua_pushlightuserdata(f->L, f);
  return lf_lua_pcall(f->L, 1, 0, LF_ERR_INTERNAL, NULL, err);
}

// Protected: stack 1 = flow, 2 = NULL-terminated --with specs. flow:_apply_with each.
static int apply_with(lua_State *L)
{
  lf_flow *f = lua_touserdata(L, 1);
  const char *const *with = lua_touserdata(L, 2);
  for (size_t i = 0; with[i] != NULL; i++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->flow_ref);
    lua_getfield(L, -1, "_apply_with");
    lua_insert(L, -2);
    lua_pushstring(L, with[i]);
    lua_call(L, 2, 0);
  }
  return 0;
}

lf_status lf_api_flow_apply_with(lf_flow *f, const char *const *with, lf_err *err)
{
  if (with == NULL || with[0] == NULL) {
    return LF_OK;
  }
  lua_pushcfunction(f->L, apply_with);
  lua_pushlightuserdata(f->L, f);
  lua_pushlightuserdata(f->L, (void *)with);
  lf_status st = lf_lua_pcall(f->L, 2, 0, LF_ERR_USAGE, NULL, err);
  return st != LF_OK ? st : lf_api_flow_confs(f, err);
}

LF_API lf_status lf_flow_load(lf_ctx *ctx, const char *path, lf_flow **out)
{
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_api_flow_load(ctx, path, out, &err);
  return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
}

LF_API void lf_flow_free(lf_flow *f)
{
  if (f == NULL) {
    return;
  }
  for (size_t i = 0; i < f->nparams; i++) {
    lf_param *p = &f->params[i];
    if (f->L != NULL) {
      lf_lua_unref(f->L, p->default_ref);
    }
    lf_free(p->artifact);
    lf_free(p->name);
    lf_free(p->help);
    lf_free(p->type);
  }
  lf_free(f->params);
  if (f->dag != NULL) {
    lf_api_flow_free_confs(f);
  }
  if (f->L != NULL) {
    lf_lua_unref(f->L, f->flow_ref);
    lf_lua_state_free(f->L);
  }
  if (f->dag != NULL) {
    lf_dag_free(f->dag);
  }
  lf_free(f->path);
  lf_free(f->abspath);
  lf_free(f->name);
  lf_free(f->doc);
  lf_free(f);
}

LF_API const char *lf_flow_name(const lf_flow *f)
{
  return f->name;
}

LF_API char *lf_flow_describe(const lf_flow *f)
{
  return lf_dag_describe(f->dag, f->name, f->doc);
}

// Renders a parameter's default for help text.
static void default_text(lua_State *L, const lf_param *p, lf_dynbuf *b)
{
  if (!p->has_default) {
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->default_ref);
  if (lua_type(L, -1) == LUA_TSTRING) {
    lf_dynbuf_addf(b, " [default: %s]", lua_tostring(L, -1));
  } else if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TBOOLEAN) {
    // luaL_tolstring cannot raise for numbers and booleans
    lf_dynbuf_addf(b, " [default: %s]", luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
  } else {
    lf_dynbuf_adds(b, " [default: a table]");
  }
  lua_pop(L, 1);
}

LF_API char *lf_flow_params_help(const lf_flow *f)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 24);
  if (f->nparams == 0) {
    lf_dynbuf_adds(&b, "Parameters of this flow: none\n");
  } else {
    lf_dynbuf_addf(&b, "Parameters of %s:\n", f->name);
  }
  for (size_t i = 0; i < f->nparams; i++) {
    const lf_param *p = &f->params[i];
    const char *t = p->type;
    const char *meta = strcmp(t, "file") == 0 ? "PATH" : strcmp(t, "boolean") == 0 ? "BOOL"
                       : strcmp(t, "integer") == 0                                ? "INTEGER"
                       : strcmp(t, "number") == 0                                 ? "NUMBER"
                       : strcmp(t, "json") == 0                                   ? "JSON"
                                                                                  : "TEXT";
    lf_dynbuf_addf(&b, "  --%s %s", p->name, meta);
    lf_dynbuf_addf(&b, "\n      %s", p->help != NULL ? p->help : "(no help text)");
    if (p->required) {
      lf_dynbuf_adds(&b, " [required]");
    }
    default_text(f->L, p, &b);
    lf_dynbuf_addc(&b, '\n');
  }
  return lf_dynbuf_take(&b, NULL);
}
