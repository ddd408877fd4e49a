// SPDX-License-Identifier: MIT
// This file contains the read side of past runs that the CLI's `logs` and `dump` use and the
// C API's artifact read: pathspec parsing, task listing from the datastore, and reindexing.
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/reindex.h"
#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/json.h"
#include "lua_api/artifacts.h"
#include "lua_api/codec.h"
#include "lua_api/history.h"
#include "lua_api/state.h"

#define RECORD_MAX ((size_t)64 << 20)
#define LOG_READ_MAX ((size_t)1 << 31)

typedef struct pathspec {
  char *parts[4];
  int n;
} pathspec;

static void free_pathspec(pathspec *p)
{
  for (int i = 0; i < p->n; i++) {
    lf_free(p->parts[i]);
    p->parts[i] = NULL;
  }
  p->n = 0;
}

static bool safe_part(const char *s)
{
  return s[0] != '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && s[0] != '_';
}

static lf_status parse_pathspec(const char *spec, int min, int max, pathspec *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  const char *p = spec;
  while (*p != '\0') {
    const char *slash = strchr(p, '/');
    size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (out->n == 4) {
      break;
    }
    out->parts[out->n++] = lf_xmemdupz(p, n);
    p += n;
    if (*p == '/') {
      p++;
      if (*p == '\0') {
        break;
      }
    }
  }
  bool ok = out->n >= min && out->n <= max && *p == '\0';
  for (int i = 0; ok && i < out->n; i++) {
    ok = safe_part(out->parts[i]);
  }
  if (!ok) {
    free_pathspec(out);
    return LF_ERR(err, LF_ERR_USAGE,
                  "'%s' is not a pathspec: expected Flow/run/step%s", spec,
                  max == 4 && min == 4 ? "/task" : "[/task]");
  }
  return LF_OK;
}

static int cmp_num(const void *a, const void *b)
{
  long long x = strtoll(*(char *const *)a, NULL, 10);
  long long y = strtoll(*(char *const *)b, NULL, 10);
  return x < y ? -1 : x > y;
}

// The task ids of the pathspec (one, or every task of the step), numerically sorted.
static lf_status list_tasks(lf_store *store, const pathspec *ps, char ***tasks, size_t *n,
                            lf_err *err)
{
  if (ps->n == 4) {
    *tasks = lf_xcalloc(1, sizeof(char *));
    (*tasks)[0] = lf_xstrdup(ps->parts[3]);
    *n = 1;
    return LF_OK;
  }
  char *prefix = lf_xasprintf("%s/%s/%s", ps->parts[0], ps->parts[1], ps->parts[2]);
  lf_status st = lf_store_list(store, prefix, tasks, n, err);
  lf_free(prefix);
  if (st != LF_OK) {
    return st;
  }
  if (*n == 0) {
    return LF_ERR(err, LF_ERR_NOTFOUND, "no step '%s/%s/%s' in the datastore", ps->parts[0],
                  ps->parts[1], ps->parts[2]);
  }
  qsort(*tasks, *n, sizeof(char *), cmp_num);
  return LF_OK;
}

static lf_status read_task_record(lf_store *store, const pathspec *ps, const char *task,
                                  lf_json **out, lf_err *err)
{
  char *key = lf_xasprintf("%s/%s/%s/%s/task.json", ps->parts[0], ps->parts[1], ps->parts[2],
                           task);
  char *text = NULL;
  size_t len = 0;
  lf_status st = lf_store_get(store, key, RECORD_MAX, &text, &len, err);
  if (st == LF_ERR_NOTFOUND) {
    lf_err_clear(err);
    st = LF_ERR(err, LF_ERR_NOTFOUND,
                "task '%s/%s/%s/%s' has no committed record (it failed, is running, or does "
                "not exist)",
                ps->parts[0], ps->parts[1], ps->parts[2], task);
  } else if (st == LF_OK) {
    *out = lf_json_parse(text, len, err);
    if (*out == NULL) {
      lf_err_prefix(err, "task record '%s'", key);
      st = LF_ERR_CORRUPT;
    }
  }
  lf_free(text);
  lf_free(key);
  return st;
}

// The number of the latest attempt of a task: the committed one (task.json), else the
// highest attempt record; -1 if none.
static int latest_attempt(lf_store *store, const pathspec *ps, const char *task)
{
  lf_json *rec = NULL;
  lf_err rerr;
  lf_err_clear(&rerr);
  if (read_task_record(store, ps, task, &rec, &rerr) == LF_OK) {
    int a = (int)lf_json_get_int(rec, "attempt", 0);
    lf_json_free(rec);
    return a;
  }
  char *prefix = lf_xasprintf("%s/%s/%s/%s", ps->parts[0], ps->parts[1], ps->parts[2], task);
  char **names = NULL;
  size_t n = 0;
  lf_err err;
  lf_err_clear(&err);
  int best = -1;
  if (lf_store_list(store, prefix, &names, &n, &err) == LF_OK) {
    for (size_t i = 0; i < n; i++) {
      char *end = NULL;
      long a = strtol(names[i], &end, 10);
      if (end != names[i] && strcmp(end, ".attempt.json") == 0 && a > best) {
        best = (int)a;
      }
    }
    lf_store_free_names(names, n);
  }
  lf_free(prefix);
  return best;
}

// The tasks a "Flow/run/step[/task]" pathspec names, with the store to read them from.
typedef struct task_set {
  lf_store *store;
  pathspec ps;
  char **tasks;
  size_t ntasks;
} task_set;

static lf_status open_tasks(lf_ctx *ctx, const char *spec, task_set *ts, lf_err *err)
{
  memset(ts, 0, sizeof(*ts));
  ts->store = lf_api_store(ctx);
  if (ts->store == NULL) {
    *err = ctx->err;
    return err->code;
  }
  lf_status st = parse_pathspec(spec, 3, 4, &ts->ps, err);
  if (st == LF_OK) {
    st = list_tasks(ts->store, &ts->ps, &ts->tasks, &ts->ntasks, err);
  }
  return st;
}

static void close_tasks(task_set *ts)
{
  lf_store_free_names(ts->tasks, ts->ntasks);
  free_pathspec(&ts->ps);
}

LF_API lf_status lf_run_logs(lf_ctx *ctx, const char *spec, int stream, char **out,
                             size_t *len)
{
  *out = NULL;
  *len = 0;
  lf_err err;
  lf_err_clear(&err);
  task_set ts;
  lf_status st = open_tasks(ctx, spec, &ts, &err);
  lf_store *store = ts.store;
  const pathspec ps = ts.ps;
  char **tasks = ts.tasks;
  size_t ntasks = ts.ntasks;
  lf_dynbuf b;
  lf_dynbuf_init(&b, LOG_READ_MAX);
  for (size_t i = 0; st == LF_OK && i < ntasks; i++) {
    int attempt = latest_attempt(store, &ps, tasks[i]);
    if (attempt < 0) {
      st = LF_ERR(&err, LF_ERR_NOTFOUND, "no logs for task '%s/%s/%s/%s'", ps.parts[0],
                  ps.parts[1], ps.parts[2], tasks[i]);
      break;
    }
    char *key = lf_xasprintf("%s/%s/%s/%s/%d.%s", ps.parts[0], ps.parts[1], ps.parts[2],
                             tasks[i], attempt, stream == 2 ? "stderr" : "stdout");
    char *text = NULL;
    size_t tlen = 0;
    st = lf_store_get(store, key, LOG_READ_MAX, &text, &tlen, &err);
    lf_free(key);
    if (st == LF_ERR_NOTFOUND) {
      // Empty output is not stored.
      lf_err_clear(&err);
      st = LF_OK;
    }
    if (st == LF_OK && !lf_dynbuf_add(&b, text, tlen)) {
      st = LF_ERR(&err, LF_ERR_IO, "the logs of '%s' are too large to read at once", spec);
    }
    lf_free(text);
  }
  close_tasks(&ts);
  if (st != LF_OK) {
    lf_dynbuf_free(&b);
    return lf_api_fail(ctx, &err);
  }
  *out = lf_dynbuf_take(&b, len);
  return LF_OK;
}

LF_API lf_status lf_run_dump(lf_ctx *ctx, const char *spec, char **out)
{
  *out = NULL;
  lf_err err;
  lf_err_clear(&err);
  task_set ts;
  lf_status st = open_tasks(ctx, spec, &ts, &err);
  lf_store *store = ts.store;
  const pathspec ps = ts.ps;
  char **tasks = ts.tasks;
  size_t ntasks = ts.ntasks;
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 30);
  for (size_t i = 0; st == LF_OK && i < ntasks; i++) {
    lf_json *rec = NULL;
    st = read_task_record(store, &ps, tasks[i], &rec, &err);
    if (st != LF_OK) {
      break;
    }
    const char *origin = lf_json_get_str(rec, "origin");
    lf_dynbuf_addf(&b, "%s/%s/%s/%s%s%s%s\n", ps.parts[0], ps.parts[1], ps.parts[2], tasks[i],
                   origin != NULL ? " (cloned from " : "", origin != NULL ? origin : "",
                   origin != NULL ? ")" : "");
    const lf_json *arts = lf_json_get(rec, "artifacts");
    size_t width = 4;
    for (size_t k = 0; arts != NULL && k < arts->n; k++) {
      width = arts->keylens[k] > width ? arts->keylens[k] : width;
    }
    for (size_t k = 0; arts != NULL && k < arts->n; k++) {
      const char *sha = lf_json_get_str(arts->items[k], "sha");
      char *blob = NULL;
      size_t blen = 0;
      char desc[256] = "";
      if (sha == NULL ||
          lf_store_get_blob(store, ps.parts[0], sha, &blob, &blen, &err) != LF_OK) {
        st = err.code != LF_OK ? err.code : LF_ERR_CORRUPT;
        lf_err_prefix(&err, "artifact '%s'", arts->keys[k]);
        break;
      }
      if (lf_lua_codec_describe(blob, blen, desc, sizeof(desc), 60) == NULL) {
        snprintf(desc, sizeof(desc), "(corrupt encoding)");
      }
      lf_free(blob);
      lf_dynbuf_addf(&b, "  %-*s  %8lld B  %s\n", (int)width, arts->keys[k],
                     (long long)lf_json_get_int(arts->items[k], "size", 0), desc);
    }
    lf_json_free(rec);
  }
  close_tasks(&ts);
  if (st != LF_OK) {
    lf_dynbuf_free(&b);
    return lf_api_fail(ctx, &err);
  }
  *out = lf_dynbuf_take(&b, NULL);
  return LF_OK;
}

// Protected: decodes the blob (upvalue-free: stack 1 = light userdata value, 2 = bytes
// string) and fills the scalar fields of the lf_value.
static int decode_value(lua_State *L)
{
  lf_value *v = lua_touserdata(L, 1);
  size_t len = 0;
  const char *bytes = lua_tolstring(L, 2, &len);
  lf_err err;
  lf_err_clear(&err);
  if (lf_lua_decode(L, bytes, len, &err) != LF_OK) {
    return luaL_error(L, "%s", err.msg);
  }
  switch (lua_type(L, -1)) {
  case LUA_TNIL:
    v->type = LF_VAL_NIL;
    break;
  case LUA_TBOOLEAN:
    v->type = LF_VAL_BOOLEAN;
    v->boolean = lua_toboolean(L, -1);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) {
      v->type = LF_VAL_INTEGER;
      v->integer = (int64_t)lua_tointeger(L, -1);
    } else {
      v->type = LF_VAL_FLOAT;
      v->number = lua_tonumber(L, -1);
    }
    break;
  case LUA_TSTRING: {
    size_t n = 0;
    const char *s = lua_tolstring(L, -1, &n);
    v->type = LF_VAL_STRING;
    v->str = lf_xmemdupz(s, n);
    v->len = n;
    break;
  }
  default:
    v->type = LF_VAL_TABLE;
    break;
  }
  return 0;
}

LF_API lf_status lf_run_read_artifact(lf_ctx *ctx, const char *spec, const char *name,
                                      lf_value **out)
{
  *out = NULL;
  lf_err err;
  lf_err_clear(&err);
  lf_store *store = lf_api_store(ctx);
  if (store == NULL) {
    return ctx->err.code;
  }
  pathspec ps;
  lf_status st = parse_pathspec(spec, 4, 4, &ps, &err);
  if (st != LF_OK) {
    return lf_api_fail(ctx, &err);
  }
  lf_json *rec = NULL;
  char *blob = NULL;
  size_t blen = 0;
  lua_State *L = NULL;
  lf_value *v = NULL;
  st = read_task_record(store, &ps, ps.parts[3], &rec, &err);
  if (st != LF_OK) {
    goto done;
  }
  const char *sha = lf_json_get_str(lf_json_get(lf_json_get(rec, "artifacts"), name), "sha");
  if (sha == NULL) {
    st = LF_ERR(&err, LF_ERR_NOTFOUND, "task '%s' has no artifact '%s'", spec, name);
    goto done;
  }
  st = lf_store_get_blob(store, ps.parts[0], sha, &blob, &blen, &err);
  if (st != LF_OK) {
    goto done;
  }
  L = lf_lua_state_new(NULL);
  if (L == NULL) {
    st = LF_ERR(&err, LF_ERR_NOMEM, "cannot create a Lua state");
    goto done;
  }
  v = lf_xcalloc(1, sizeof(*v));
  lua_pushcfunction(L, decode_value);
  lua_pushlightuserdata(L, v);
  lua_pushlstring(L, blob, blen);
  st = lf_lua_pcall(L, 2, 0, LF_ERR_CORRUPT, NULL, &err);
  if (st != LF_OK) {
    lf_free((void *)v->str);
    lf_free(v);
    v = NULL;
    lf_err_prefix(&err, "artifact '%s' of '%s'", name, spec);
    goto done;
  }
  v->encoded = blob;
  v->encoded_len = blen;
  blob = NULL;
  *out = v;

done:
  lf_lua_state_free(L);
  lf_free(blob);
  lf_json_free(rec);
  free_pathspec(&ps);
  return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
}

LF_API void lf_value_free(lf_value *v)
{
  if (v == NULL) {
    return;
  }
  lf_free((void *)v->str);
  lf_free((void *)v->encoded);
  lf_free(v);
}

LF_API lf_status lf_ctx_reindex(lf_ctx *ctx)
{
  lf_store *store = lf_api_store(ctx);
  if (store == NULL) {
    return ctx->err.code;
  }
  lf_meta *meta = lf_api_meta(ctx);
  if (meta == NULL) {
    return ctx->err.code;
  }
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_api_reindex(store, meta, &err);
  return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
}

LF_API lf_status lf_run_tag(lf_ctx *ctx, const char *spec, const char *const *add,
                            const char *const *remove, char **out)
{
  *out = NULL;
  lf_err err;
  lf_err_clear(&err);
  lf_store *store = lf_api_store(ctx);
  lf_meta *meta = store != NULL ? lf_api_meta(ctx) : NULL;
  if (store == NULL || meta == NULL) {
    return ctx->err.code;
  }
  pathspec ps;
  lf_status st = parse_pathspec(spec, 2, 2, &ps, &err);
  if (st != LF_OK) {
    lf_err_clear(&err);
    LF_ERR(&err, LF_ERR_USAGE, "'%s' is not a run pathspec: expected Flow/run", spec);
    return lf_api_fail(ctx, &err);
  }
  size_t nadd = 0;
  size_t nremove = 0;
  while (add != NULL && add[nadd] != NULL) {
    nadd++;
  }
  while (remove != NULL && remove[nremove] != NULL) {
    nremove++;
  }
  char **tags = NULL;
  size_t n = 0;
  st = lf_lua_history_tag(store, meta, ps.parts[0], ps.parts[1], add, nadd, remove, nremove,
                          &tags, &n, &err);
  free_pathspec(&ps);
  if (st != LF_OK) {
    return lf_api_fail(ctx, &err);
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 24);
  for (size_t i = 0; i < n; i++) {
    lf_dynbuf_addf(&b, "%s\n", tags[i]);
  }
  lf_store_free_names(tags, n);
  *out = lf_dynbuf_take(&b, NULL);
  return LF_OK;
}
