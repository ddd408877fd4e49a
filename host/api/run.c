// SPDX-License-Identifier: MIT
// This file contains lf_flow_run: parameter resolution (command line > LUAFLOW_RUN_<NAME> >
// default), reserving a run id in the datastore, committing the parameters pseudo-task and
// the run record, and driving the scheduler on the context's loop.
#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/resume.h"
#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "lua_api/artifacts.h"
#include "lua_api/history.h"
#include "lua_api/state.h"
#include "sched/sched.h"

// An include_file snapshot larger than this is refused: it belongs in S3, not a parameter.
#define INCLUDE_FILE_MAX ((size_t)1 << 30)
#define RECORD_MAX ((size_t)64 << 20)

typedef struct param_value {
  const lf_param *p;
  const char *text; ///< from the command line or environment; NULL: use the default
  char origin[192];  ///< "--name" or "LUAFLOW_RUN_NAME=..." for messages
  lf_artifact_meta meta;
  bool present;     ///< has a value (possibly the default)
} param_value;

typedef struct params_job {
  lf_flow *flow;
  param_value *values;
  size_t n;
  lf_store *store;
  lf_err err;
} params_job;

static char *env_name(const char *name)
{
  char *e = lf_xasprintf("LUAFLOW_RUN_%s", name);
  for (char *c = e; *c != '\0'; c++) {
    *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
  }
  return e;
}

static bool parse_bool(const char *s, bool *out)
{
  static const char *const yes[] = {"true", "yes", "1", "on", "t", "y"};
  static const char *const no[] = {"false", "no", "0", "off", "f", "n"};
  for (size_t i = 0; i < 6; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = true;
      return true;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = false;
      return true;
    }
  }
  return false;
}

// Protected: pushes the value of one parameter (converted from text, or the default) and
// stores it. Conversion errors are reported through job->err (no raise).
static int store_params(lua_State *L)
{
  params_job *job = lua_touserdata(L, 1);
  for (size_t i = 0; i < job->n; i++) {
    param_value *v = &job->values[i];
    const lf_param *p = v->p;
    const char *t = p->type;
    if (v->text != NULL) {
      const char *s = v->text;
      if (strcmp(t, "string") == 0) {
        lua_pushstring(L, s);
      } else if (strcmp(t, "integer") == 0) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0') {
          LF_ERR(&job->err, LF_ERR_USAGE, "parameter %s: '%s' is not an integer", v->origin, s);
          return 0;
        }
        lua_pushinteger(L, (lua_Integer)x);
      } else if (strcmp(t, "number") == 0) {
        char *end = NULL;
        errno = 0;
        double x = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0') {
          LF_ERR(&job->err, LF_ERR_USAGE, "parameter %s: '%s' is not a number", v->origin, s);
          return 0;
        }
        lua_pushnumber(L, x);
      } else if (strcmp(t, "boolean") == 0) {
        bool b = false;
        if (!parse_bool(s, &b)) {
          LF_ERR(&job->err, LF_ERR_USAGE,
                 "parameter %s: '%s' is not a boolean (use true or false)", v->origin, s);
          return 0;
        }
        lua_pushboolean(L, b);
      } else if (strcmp(t, "json") == 0) {
        lf_err jerr;
        lf_err_clear(&jerr);
        lf_json *doc = lf_json_parse(s, strlen(s), &jerr);
        if (doc == NULL) {
          LF_ERR(&job->err, LF_ERR_USAGE, "parameter %s: %s", v->origin, jerr.msg);
          return 0;
        }
        // lf_lua_push_json may raise only on memory errors; the doc would leak then, which
        // the process exit reclaims (parameters are parsed once per run).
        lf_lua_push_json(L, doc);
        lf_json_free(doc);
      } else { // file
        char *data = NULL;
        size_t len = 0;
        lf_err ferr;
        lf_err_clear(&ferr);
        if (lf_fs_read_file(s, INCLUDE_FILE_MAX, &data, &len, &ferr) != LF_OK) {
          LF_ERR(&job->err, LF_ERR_USAGE, "parameter %s: %s", v->origin, ferr.msg);
          return 0;
        }
        lua_pushlstring(L, data, len);
        lf_free(data);
      }
    } else if (p->has_default) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, p->default_ref);
      if (strcmp(t, "json") == 0 && lua_type(L, -1) == LUA_TSTRING) {
        size_t len = 0;
        const char *s = lua_tolstring(L, -1, &len);
        lf_err jerr;
        lf_err_clear(&jerr);
        lf_json *doc = lf_json_parse(s, len, &jerr);
        if (doc == NULL) {
          LF_ERR(&job->err, LF_ERR_FLOW, "parameter --%s: the default is not valid JSON: %s",
                 p->name, jerr.msg);
          return 0;
        }
        lua_pop(L, 1);
        lf_lua_push_json(L, doc);
        lf_json_free(doc);
      } else if (strcmp(t, "file") == 0) {
        const char *path = lua_tostring(L, -1);
        char *data = NULL;
        size_t len = 0;
        lf_err ferr;
        lf_err_clear(&ferr);
        if (lf_fs_read_file(path, INCLUDE_FILE_MAX, &data, &len, &ferr) != LF_OK) {
          LF_ERR(&job->err, LF_ERR_USAGE, "parameter --%s (default): %s", p->name, ferr.msg);
          return 0;
        }
        lua_pop(L, 1);
        lua_pushlstring(L, data, len);
        lf_free(data);
      } else if (strcmp(t, "number") == 0 && lua_isinteger(L, -1)) {
        lua_pushnumber(L, (lua_Number)lua_tointeger(L, -1));
        lua_remove(L, -2);
      }
    } else {
      lua_pushnil(L);
    }
    v->present = true;
    if (lf_lua_store_value(L, -1, job->store, job->flow->name, &v->meta, &job->err) != LF_OK) {
      lf_err_prefix(&job->err, "parameter --%s", p->name);
      return 0;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static lf_status resolve_params(lf_flow *f, const lf_run_opts *o, param_value *values,
                                lf_err *err)
{
  // Every name given must be a parameter of this flow.
  if (o->params != NULL) {
    for (size_t i = 0; o->params[i] != NULL; i += 2) {
      bool known = false;
      for (size_t k = 0; k < f->nparams; k++) {
        known = known || strcmp(f->params[k].name, o->params[i]) == 0;
      }
      if (!known) {
        lf_dynbuf names;
        lf_dynbuf_init(&names, 1 << 16);
        for (size_t k = 0; k < f->nparams; k++) {
          lf_dynbuf_addf(&names, "%s--%s", k > 0 ? ", " : "", f->params[k].name);
        }
        lf_status st = LF_ERR(err, LF_ERR_USAGE,
                              "unknown option --%s for flow %s (its parameters: %s)",
                              o->params[i], f->name, names.len > 0 ? names.data : "none");
        lf_dynbuf_free(&names);
        return st;
      }
      if (o->params[i + 1] == NULL) {
        return LF_ERR(err, LF_ERR_USAGE, "option --%s needs a value", o->params[i]);
      }
    }
  }
  for (size_t k = 0; k < f->nparams; k++) {
    const lf_param *p = &f->params[k];
    param_value *v = &values[k];
    v->p = p;
    if (o->params != NULL) {
      for (size_t i = 0; o->params[i] != NULL; i += 2) {
        if (strcmp(o->params[i], p->name) == 0) {
          v->text = o->params[i + 1];
          snprintf(v->origin, sizeof(v->origin), "--%s", p->name);
        }
      }
    }
    if (v->text == NULL) {
      char *e = env_name(p->name);
      const char *ev = getenv(e);
      if (ev != NULL) {
        v->text = ev;
        snprintf(v->origin, sizeof(v->origin), "--%s (from %s)", p->name, e);
      }
      lf_free(e);
    }
    if (v->text == NULL && !p->has_default && p->required) {
      return LF_ERR(err, LF_ERR_USAGE, "missing required parameter --%s%s%s%s", p->name,
                    p->help != NULL ? " (" : "", p->help != NULL ? p->help : "",
                    p->help != NULL ? ")" : "");
    }
  }
  return LF_OK;
}

static void write_run_record(lf_jw *w, const lf_flow *f, const char *run_id,
                             const param_value *values, const lf_run_opts *o,
                             const char *origin, const char *status, int64_t created,
                             int64_t finished)
{
  lf_jw_obj_begin(w);
  lf_jw_key(w, "format");
  lf_jw_int(w, 1);
  lf_jw_key(w, "flow");
  lf_jw_str(w, f->name);
  lf_jw_key(w, "run");
  lf_jw_str(w, run_id);
  lf_jw_key(w, "user");
  lf_jw_str(w, lf_api_username());
  lf_jw_key(w, "status");
  lf_jw_str(w, status);
  lf_jw_key(w, "created_at");
  lf_jw_int(w, created);
  lf_jw_key(w, "finished_at");
  if (finished != 0) {
    lf_jw_int(w, finished);
  } else {
    lf_jw_null(w);
  }
  lf_jw_key(w, "flow_file");
  lf_jw_str(w, f->path);
  lf_jw_key(w, "params");
  lf_jw_obj_begin(w);
  for (size_t i = 0; i < f->nparams; i++) {
    lf_jw_key(w, values[i].p->artifact);
    lf_jw_obj_begin(w);
    lf_jw_key(w, "sha");
    lf_jw_str(w, values[i].meta.sha);
    lf_jw_key(w, "type");
    lf_jw_str(w, values[i].meta.type);
    lf_jw_key(w, "size");
    lf_jw_int(w, (int64_t)values[i].meta.size);
    lf_jw_obj_end(w);
  }
  lf_jw_obj_end(w);
  lf_jw_key(w, "tags");
  lf_jw_arr_begin(w);
  if (o->tags != NULL) {
    for (size_t i = 0; o->tags[i] != NULL; i++) {
      lf_jw_str(w, o->tags[i]);
    }
  }
  lf_jw_arr_end(w);
  lf_jw_key(w, "system_tags");
  lf_jw_arr_begin(w);
  char *u = lf_xasprintf("user:%s", lf_api_username());
  lf_jw_str(w, u);
  lf_free(u);
  char *v = lf_xasprintf("luaflow_version:%s", lf_version());
  lf_jw_str(w, v);
  lf_free(v);
  lf_jw_arr_end(w);
  lf_jw_key(w, "origin_run");
  if (origin != NULL) {
    lf_jw_str(w, origin);
  } else {
    lf_jw_null(w);
  }
  // Who runs it, so a later run can tell a run whose scheduler died (resume.c).
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  lf_jw_key(w, "host");
  lf_jw_str(w, host);
  lf_jw_key(w, "scheduler_pid");
  lf_jw_int(w, (int64_t)getpid());
  lf_jw_obj_end(w);
}

static lf_status index_record(lf_store *store, lf_meta *meta, const char *text, size_t len,
                              int kind, lf_err *err)
{
  if (meta == NULL) {
    return LF_OK;
  }
  // A run record carries the tags changed since in _tags.json.
  lf_json *doc = kind == 0 ? lf_lua_history_run_record(store, text, len, err)
                           : lf_json_parse(text, len, err);
  if (doc == NULL) {
    return LF_ERR_INTERNAL;
  }
  lf_status st = kind == 0 ? lf_meta_put_run(meta, doc, err) : lf_meta_put_task(meta, doc, err);
  lf_json_free(doc);
  return st;
}

// Renders the run record for a candidate run id into `out` (reset first).
typedef void (*render_fn)(void *ud, const char *run_id, lf_dynbuf *out);

// Reserves the next run id of the flow by creating its run record exclusively: the record is
// complete from the first write, so a failure right after leaves nothing half-made.
static lf_status reserve_run(lf_store *store, const char *flow, render_fn render, void *ud,
                             lf_dynbuf *rec, char *run_id, size_t idsize, lf_err *err)
{
  char **names = NULL;
  size_t n = 0;
  lf_status st = lf_store_list(store, flow, &names, &n, err);
  if (st != LF_OK) {
    return st;
  }
  long long next = 1;
  for (size_t i = 0; i < n; i++) {
    char *end = NULL;
    long long x = strtoll(names[i], &end, 10);
    if (end != names[i] && *end == '\0' && x >= next) {
      next = x + 1;
    }
  }
  lf_store_free_names(names, n);
  for (int tries = 0; tries < 1000; tries++, next++) {
    snprintf(run_id, idsize, "%lld", next);
    render(ud, run_id, rec);
    char *key = lf_xasprintf("%s/%s/_run.json", flow, run_id);
    bool created = false;
    st = lf_store_create_exclusive(store, key, rec->data, rec->len, &created, err);
    lf_free(key);
    if (st != LF_OK) {
      run_id[0] = '\0';
      return st;
    }
    if (created) {
      return LF_OK;
    }
  }
  run_id[0] = '\0';
  return LF_ERR(err, LF_ERR_STORE, "cannot reserve a run id for flow '%s'", flow);
}

typedef struct run_render {
  const lf_flow *f;
  const param_value *values;
  const lf_run_opts *o;
  const char *origin;
  int64_t created;
} run_render;

static void render_running(void *ud, const char *run_id, lf_dynbuf *out)
{
  const run_render *r = ud;
  lf_dynbuf_reset(out);
  lf_jw w;
  lf_jw_init(&w, out, false);
  write_run_record(&w, r->f, run_id, r->values, r->o, r->origin, "running", r->created, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
  (void)signum;
  lf_ctx *ctx = h->data;
  if (ctx->sched != NULL) {
    lf_sched_interrupt(ctx->sched);
  }
}

static void emit_run(const lf_run_opts *o, lf_event_kind kind, const char *flow,
                     const char *run_id, const char *message)
{
  if (o->on_event == NULL) {
    return;
  }
  lf_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.flow = flow;
  ev.run_id = run_id;
  ev.message = message;
  ev.timestamp_us = lf_time_now_us();
  o->on_event(o->event_ud, &ev);
}

LF_API lf_status lf_flow_run(lf_flow *f, const lf_run_opts *opts, lf_run **out)
{
  lf_ctx *ctx = f->ctx;
  lf_run_opts o;
  memset(&o, 0, sizeof(o));
  if (opts != NULL) {
    memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
  }
  *out = NULL;
  lf_err err;
  lf_err_clear(&err);
  if (o.with != NULL && o.with[0] != NULL) {
    // --with options stay applied to this loaded flow; workers get them too.
    if (lf_api_flow_apply_with(f, o.with, &err) != LF_OK) {
      return lf_api_fail(ctx, &err);
    }
  }
  if (o.max_workers < 0 || o.max_num_splits < 0) {
    LF_ERR(&err, LF_ERR_USAGE, "--max-workers and --max-num-splits must be positive");
    return lf_api_fail(ctx, &err);
  }
  lf_store *store = lf_api_store(ctx);
  if (store == NULL) {
    return ctx->err.code;
  }
  lf_meta *meta = lf_api_meta(ctx);
  if (meta == NULL) {
    return ctx->err.code;
  }
  lf_api_mark_orphans(f, store, meta);
  param_value *values = lf_xcalloc(f->nparams + 1, sizeof(param_value));
  lf_resume_plan plan;
  memset(&plan, 0, sizeof(plan));
  lf_status st = LF_OK;
  if (o.resume) {
    if (o.params != NULL && o.params[0] != NULL) {
      st = LF_ERR(&err, LF_ERR_USAGE,
                  "resume takes the parameters of the run it continues; --%s cannot be given",
                  o.params[0]);
    } else {
      st = lf_api_resume_plan(f, store, meta, o.origin_run_id, o.resume_step, &plan, &err);
    }
  } else {
    st = resolve_params(f, &o, values, &err);
  }
  char run_id[32] = "";
  lf_dynbuf rec;
  lf_dynbuf_init(&rec, RECORD_MAX);
  lf_sched *sched = NULL;
  int64_t created = lf_time_now_us();
  if (st != LF_OK) {
    goto done;
  }
  // Parameter values are stored (and checked) before the run exists, so bad values never
  // leave a run behind.
  if (o.resume) {
    // The origin's parameter values, unchanged.
    const lf_json *arts = lf_json_get(plan.origin_params, "artifacts");
    for (size_t i = 0; i < f->nparams; i++) {
      const lf_json *a = lf_json_get(arts, f->params[i].artifact);
      values[i].p = &f->params[i];
      values[i].present = true;
      snprintf(values[i].meta.sha, sizeof(values[i].meta.sha), "%s",
               lf_json_get_str(a, "sha") != NULL ? lf_json_get_str(a, "sha") : "");
      snprintf(values[i].meta.type, sizeof(values[i].meta.type), "%s",
               lf_json_get_str(a, "type") != NULL ? lf_json_get_str(a, "type") : "");
      values[i].meta.size = (uint64_t)lf_json_get_int(a, "size", 0);
    }
  } else {
    params_job job = {.flow = f, .values = values, .n = f->nparams, .store = store};
    lf_err_clear(&job.err);
    lf_lua_host host = {.store = store, .flow = f->name};
    lf_lua_set_host(f->L, &host);
    lua_pushcfunction(f->L, store_params);
    lua_pushlightuserdata(f->L, &job);
    st = lf_lua_pcall(f->L, 1, 0, LF_ERR_INTERNAL, NULL, &err);
    if (st == LF_OK && job.err.code != LF_OK) {
      err = job.err;
      st = job.err.code;
    }
    if (st != LF_OK) {
      goto done;
    }
  }
  run_render rr = {.f = f, .values = values, .o = &o, .origin = plan.origin_run,
                   .created = created};
  st = reserve_run(store, f->name, render_running, &rr, &rec, run_id, sizeof(run_id), &err);
  if (st == LF_OK) {
    st = index_record(store, meta, rec.data, rec.len, 0, &err);
  }
  if (st != LF_OK) {
    goto done;
  }
  lf_jw w;
  char *key = NULL;
  // The parameters pseudo-task: its artifacts are the parameters; `start` reads them.
  lf_dynbuf_reset(&rec);
  lf_jw_init(&w, &rec, false);
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "format");
  lf_jw_int(&w, 1);
  lf_jw_key(&w, "flow");
  lf_jw_str(&w, f->name);
  lf_jw_key(&w, "run");
  lf_jw_str(&w, run_id);
  lf_jw_key(&w, "step");
  lf_jw_str(&w, "_parameters");
  lf_jw_key(&w, "task");
  lf_jw_str(&w, "0");
  lf_jw_key(&w, "attempt");
  lf_jw_int(&w, 0);
  lf_jw_key(&w, "status");
  lf_jw_str(&w, "ok");
  lf_jw_key(&w, "pid");
  lf_jw_int(&w, (int64_t)getpid());
  lf_jw_key(&w, "started_at");
  lf_jw_int(&w, created);
  lf_jw_key(&w, "finished_at");
  lf_jw_int(&w, lf_time_now_us());
  lf_jw_key(&w, "inputs");
  lf_jw_arr_begin(&w);
  lf_jw_arr_end(&w);
  lf_jw_key(&w, "foreach");
  lf_jw_arr_begin(&w);
  lf_jw_arr_end(&w);
  lf_jw_key(&w, "next");
  lf_jw_arr_begin(&w);
  lf_jw_str(&w, "start");
  lf_jw_arr_end(&w);
  lf_jw_key(&w, "foreach_count");
  lf_jw_null(&w);
  lf_jw_key(&w, "artifacts");
  lf_jw_obj_begin(&w);
  for (size_t i = 0; i < f->nparams; i++) {
    lf_jw_key(&w, values[i].p->artifact);
    lf_jw_obj_begin(&w);
    lf_jw_key(&w, "sha");
    lf_jw_str(&w, values[i].meta.sha);
    lf_jw_key(&w, "type");
    lf_jw_str(&w, values[i].meta.type);
    lf_jw_key(&w, "size");
    lf_jw_int(&w, (int64_t)values[i].meta.size);
    lf_jw_obj_end(&w);
  }
  lf_jw_obj_end(&w);
  lf_jw_key(&w, "params");
  lf_jw_arr_begin(&w);
  for (size_t i = 0; i < f->nparams; i++) {
    lf_jw_str(&w, values[i].p->artifact);
  }
  lf_jw_arr_end(&w);
  lf_jw_key(&w, "origin");
  lf_jw_null(&w);
  lf_jw_obj_end(&w);
  key = lf_xasprintf("%s/%s/_parameters/0/task.json", f->name, run_id);
  st = lf_store_put(store, key, rec.data, rec.len, &err);
  lf_free(key);
  if (st == LF_OK) {
    st = index_record(store, meta, rec.data, rec.len, 1, &err);
  }
  if (st != LF_OK) {
    goto done;
  }
  if (o.run_id_file != NULL) {
    st = lf_fs_write_atomic(o.run_id_file, run_id, strlen(run_id), false, NULL, &err);
    if (st != LF_OK) {
      goto done;
    }
  }
  char *resuming = plan.origin_run != NULL
                     ? lf_xasprintf("resuming %s/%s from step '%s'", f->name, plan.origin_run,
                                    plan.step)
                     : NULL;
  emit_run(&o, LF_EVENT_RUN_STARTED, f->name, run_id, resuming);
  lf_free(resuming);

  uv_loop_t *loop = lf_api_loop(ctx);
  lf_sched_opts so = {
    .loop = loop,
    .dag = f->dag,
    .confs = f->confs,
    .flow_name = f->name,
    // Workers inherit our working directory, so the path as given keeps messages short.
    .flow_path = f->path,
    .run_id = run_id,
    .datastore_root = ctx->datastore_root,
    .store = store,
    .meta = meta,
    .luaflow_bin = ctx->luaflow_bin,
    .with = o.with,
    .origin_run = plan.origin_run,
    .clone_steps = plan.clone,
    .max_workers = o.max_workers,
    .max_num_splits = o.max_num_splits,
    .on_event = o.on_event,
    .event_ud = o.event_ud,
  };
  sched = lf_sched_new(&so);
  ctx->sched = sched;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  sigint.data = ctx;
  sigterm.data = ctx;
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  if (ctx->interrupt_requested) {
    lf_sched_interrupt(sched);
  }
  st = lf_sched_run(sched, &err);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  ctx->sched = NULL;
  lf_sched_free(sched);
  sched = NULL;

  // The final run record.
  const char *status = st == LF_OK ? "ok" : st == LF_ERR_INTERRUPTED ? "interrupted" : "failed";
  lf_err rerr;
  lf_err_clear(&rerr);
  lf_dynbuf_reset(&rec);
  lf_jw_init(&w, &rec, false);
  write_run_record(&w, f, run_id, values, &o, plan.origin_run, status, created,
                   lf_time_now_us());
  key = lf_xasprintf("%s/%s/_run.json", f->name, run_id);
  lf_status rst = lf_store_put(store, key, rec.data, rec.len, &rerr);
  lf_free(key);
  if (rst == LF_OK) {
    rst = index_record(store, meta, rec.data, rec.len, 0, &rerr);
  }
  if (st == LF_OK && rst != LF_OK) {
    st = rst;
    err = rerr;
  }
  emit_run(&o, LF_EVENT_RUN_FINISHED, f->name, run_id, st == LF_OK ? NULL : err.msg);

done:
  lf_lua_set_host(f->L, NULL);
  lf_dynbuf_free(&rec);
  lf_free(values);
  if (run_id[0] != '\0') {
    lf_run *r = lf_xcalloc(1, sizeof(*r));
    r->flow = lf_xstrdup(f->name);
    r->run_id = lf_xstrdup(run_id);
    r->pathspec = lf_xasprintf("%s/%s", f->name, run_id);
    r->origin = plan.origin_run != NULL ? lf_xasprintf("%s/%s", f->name, plan.origin_run) : NULL;
    *out = r;
  }
  lf_api_resume_plan_free(&plan);
  if (st != LF_OK) {
    return lf_api_fail(ctx, &err);
  }
  return LF_OK;
}

LF_API void lf_run_free(lf_run *r)
{
  if (r == NULL) {
    return;
  }
  lf_free(r->flow);
  lf_free(r->run_id);
  lf_free(r->pathspec);
  lf_free(r->origin);
  lf_free(r);
}

LF_API const char *lf_run_origin(const lf_run *r)
{
  return r->origin;
}

LF_API const char *lf_run_id(const lf_run *r)
{
  return r->run_id;
}

LF_API const char *lf_run_pathspec(const lf_run *r)
{
  return r->pathspec;
}
