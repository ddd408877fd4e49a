// SPDX-License-Identifier: MIT
// This file contains lf_run_step, what a worker process runs for one task: load the flow,
// read the input tasks' records, build the task description for luaflow._worker, run the
// step, commit the task record (the single atomic write that makes the task visible), and
// report to the scheduler over the message fd.
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "lua_api/artifacts.h"
#include "lua_api/codec.h"
#include "lua_api/state.h"
#include "proc/forkserver.h"
#include "store/sha256.h"

#define RECORD_MAX ((size_t)64 << 20)

typedef struct input_ref {
  char *step;
  char *task;
  lf_json *record;
} input_ref;

typedef struct worker {
  lf_ctx *ctx;
  const lf_step_opts *o;
  lf_flow *flow;
  lf_store *store;
  const lf_dag_step *step;
  input_ref *inputs;
  size_t ninputs;
  lf_json *params; // the parameters task record
  lf_json *caught; // catch mode: the record of the failed attempt
  int64_t started_at;
  lf_dynbuf record; // the committed record's JSON
  lua_State *dry;   // a try-out (lf_api_step_try): the state that receives the result
  char **dry_traceback; // a try-out: where the traceback of a failed step goes
} worker;

static void free_inputs(worker *w)
{
  for (size_t i = 0; i < w->ninputs; i++) {
    lf_free(w->inputs[i].step);
    lf_free(w->inputs[i].task);
    lf_json_free(w->inputs[i].record);
  }
  lf_free(w->inputs);
}

static void add_input(worker *w, const char *step, size_t slen, long long task)
{
  w->inputs = lf_xrealloc(w->inputs, (w->ninputs + 1) * sizeof(*w->inputs));
  input_ref *r = &w->inputs[w->ninputs++];
  r->step = lf_xmemdupz(step, slen);
  r->task = lf_xasprintf("%lld", task);
  r->record = NULL;
}

// Parses "start/1", "work/2-1001,other/7" into the input list.
static lf_status parse_inputs(worker *w, const char *spec, lf_err *err)
{
  const char *p = spec;
  while (*p != '\0') {
    const char *comma = strchr(p, ',');
    size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
    const char *slash = memchr(p, '/', n);
    if (slash == NULL) {
      return LF_ERR(err, LF_ERR_USAGE, "--inputs: '%.*s' is not STEP/TASK", (int)n, p);
    }
    char num[64];
    size_t nl = n - (size_t)(slash + 1 - p);
    if (nl == 0 || nl >= sizeof(num)) {
      return LF_ERR(err, LF_ERR_USAGE, "--inputs: '%.*s' is not STEP/TASK", (int)n, p);
    }
    memcpy(num, slash + 1, nl);
    num[nl] = '\0';
    char *end = NULL;
    long long a = strtoll(num, &end, 10);
    long long b = a;
    if (*end == '-') {
      b = strtoll(end + 1, &end, 10);
    }
    if (*end != '\0' || a < 0 || b < a || b - a > 10000000) {
      return LF_ERR(err, LF_ERR_USAGE, "--inputs: '%.*s' is not STEP/TASK", (int)n, p);
    }
    for (long long t = a; t <= b; t++) {
      add_input(w, p, (size_t)(slash - p), t);
    }
    p += n;
    if (*p == ',') {
      p++;
    }
  }
  return LF_OK;
}

static lf_status read_record(worker *w, const char *step, const char *task, lf_json **out,
                             lf_err *err)
{
  char *key = lf_xasprintf("%s/%s/%s/%s/task.json", w->flow->name, w->o->run_id, step, task);
  char *text = NULL;
  size_t len = 0;
  lf_status st = lf_store_get(w->store, key, RECORD_MAX, &text, &len, err);
  if (st == LF_OK) {
    *out = lf_json_parse(text, len, err);
    if (*out == NULL) {
      lf_err_prefix(err, "task record '%s'", key);
      st = LF_ERR_CORRUPT;
    }
  } else if (st == LF_ERR_NOTFOUND) {
    lf_err_clear(err);
    st = LF_ERR(err, LF_ERR_NOTFOUND, "input task '%s/%s/%s/%s' has no committed record",
                w->flow->name, w->o->run_id, step, task);
  }
  lf_free(text);
  lf_free(key);
  return st;
}

// Pushes a Lua table { name = {sha=, type=, size=} } from a record's "artifacts".
static void push_artifacts(lua_State *L, const lf_json *rec)
{
  const lf_json *arts = lf_json_get(rec, "artifacts");
  lua_createtable(L, 0, arts != NULL ? (int)arts->n : 0);
  if (arts == NULL || arts->type != LF_JSON_OBJECT) {
    return;
  }
  for (size_t i = 0; i < arts->n; i++) {
    const lf_json *a = arts->items[i];
    lua_pushlstring(L, arts->keys[i], arts->keylens[i]);
    lua_createtable(L, 0, 3);
    const char *sha = lf_json_get_str(a, "sha");
    const char *type = lf_json_get_str(a, "type");
    lua_pushstring(L, sha != NULL ? sha : "");
    lua_setfield(L, -2, "sha");
    lua_pushstring(L, type != NULL ? type : "");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)lf_json_get_int(a, "size", 0));
    lua_setfield(L, -2, "size");
    lua_rawset(L, -3);
  }
}

// foreach_input closure: upvalues 1 = list meta sha, 2 = index, 3 = name. Loads on first use.
static int foreach_input(lua_State *L)
{
  if (lua_getiuservalue(L, lua_upvalueindex(1), 1) != LUA_TNIL) {
    return 1;
  }
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow._host");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "load");
  lua_getiuservalue(L, lua_upvalueindex(1), 2); // sha
  lua_pushvalue(L, lua_upvalueindex(3));
  lua_call(L, 2, 1);
  // stack: host, list
  lua_geti(L, -1, lua_tointeger(L, lua_upvalueindex(2)));
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, lua_upvalueindex(1), 1);
  return 1;
}

static void set_current(lua_State *L, worker *w)
{
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "current");
  // stack: luaflow, current
  lua_pushstring(L, w->flow->name);
  lua_setfield(L, -2, "flow_name");
  lua_pushstring(L, w->o->run_id);
  lua_setfield(L, -2, "run_id");
  lua_pushstring(L, w->step->name);
  lua_setfield(L, -2, "step_name");
  lua_pushstring(L, w->o->task_id);
  lua_setfield(L, -2, "task_id");
  lua_pushfstring(L, "%s/%s/%s/%s", w->flow->name, w->o->run_id, w->step->name,
                  w->o->task_id);
  lua_setfield(L, -2, "pathspec");
  lua_pushinteger(L, w->o->attempt);
  lua_setfield(L, -2, "retry_count");
  lua_pushstring(L, lf_api_username());
  lua_setfield(L, -2, "username");
  lua_pushfstring(L, "user:%s", lf_api_username());
  lua_setfield(L, -2, "namespace");
  lua_pop(L, 2);
}

// Protected: builds the task description, runs the step, leaves the result table on top.
static int run_task(lua_State *L)
{
  worker *w = lua_touserdata(L, 1);
  const lf_dag_step *st = w->step;
  set_current(L, w);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaflow._worker");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, w->caught != NULL ? "catch" : "run");
  lua_createtable(L, 0, 16);
  int task = lua_gettop(L);
  // stack: worker, run, task
  lua_rawgeti(L, LUA_REGISTRYINDEX, w->flow->flow_ref);
  lua_setfield(L, task, "flow");
  lua_pushstring(L, st->name);
  lua_setfield(L, task, "step");
  lua_pushfstring(L, "%s/%s/%s/%s", w->flow->name, w->o->run_id, st->name, w->o->task_id);
  lua_setfield(L, task, "pathspec");
  lua_pushboolean(L, w->dry != NULL);
  lua_setfield(L, task, "dry");
  lua_pushboolean(L, st->is_join);
  lua_setfield(L, task, "is_join");
  lua_pushboolean(L, st->kind == LF_STEP_END);
  lua_setfield(L, task, "is_end");
  lua_createtable(L, (int)st->nnext, 0);
  for (size_t i = 0; i < st->nnext; i++) {
    lua_pushstring(L, st->next[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, task, "expect_next");
  if (st->foreach_var != NULL) {
    lua_pushstring(L, st->foreach_var);
    lua_setfield(L, task, "expect_foreach");
  }
  const char *catch_var = w->flow->confs[lf_dag_find(w->flow->dag, st->name)].catch_var;
  if (catch_var != NULL) {
    lua_pushstring(L, catch_var);
    lua_setfield(L, task, "catch_var");
  }
  // Parameters: the artifacts of the parameters task, read-only everywhere.
  push_artifacts(L, w->params);
  lua_setfield(L, task, "params");
  if (st->is_join) {
    push_artifacts(L, w->params);
    lua_setfield(L, task, "inherited");
    lua_createtable(L, (int)w->ninputs, 0);
    bool by_name = true;
    for (size_t i = 0; i < w->ninputs; i++) {
      lua_createtable(L, 0, 4);
      lua_pushstring(L, w->inputs[i].step);
      lua_setfield(L, -2, "step");
      lua_pushstring(L, w->inputs[i].task);
      lua_setfield(L, -2, "task");
      lua_pushfstring(L, "%s/%s/%s/%s", w->flow->name, w->o->run_id, w->inputs[i].step,
                      w->inputs[i].task);
      lua_setfield(L, -2, "pathspec");
      push_artifacts(L, w->inputs[i].record);
      lua_setfield(L, -2, "artifacts");
      lua_rawseti(L, -2, (lua_Integer)i + 1);
      for (size_t k = 0; k < i; k++) {
        by_name = by_name && strcmp(w->inputs[k].step, w->inputs[i].step) != 0;
      }
    }
    lua_setfield(L, task, "inputs");
    lua_pushboolean(L, by_name);
    lua_setfield(L, task, "inputs_by_name");
  } else {
    push_artifacts(L, w->ninputs > 0 ? w->inputs[0].record : w->params);
    lua_setfield(L, task, "inherited");
  }
  if (w->o->split_index > 0 && w->ninputs == 1) {
    // The parent is the foreach split: its foreach artifact holds the list of items.
    const char *pstep = w->inputs[0].step;
    int pidx = lf_dag_find(w->flow->dag, pstep);
    const lf_dag_step *ps = pidx >= 0 ? lf_dag_step_at(w->flow->dag, (size_t)pidx) : NULL;
    const lf_json *arts = lf_json_get(w->inputs[0].record, "artifacts");
    const lf_json *meta =
      ps != NULL && ps->foreach_var != NULL ? lf_json_get(arts, ps->foreach_var) : NULL;
    const char *sha = lf_json_get_str(meta, "sha");
    if (sha == NULL) {
      return luaL_error(L, "step '%s': the foreach split '%s' has no list artifact", st->name,
                        pstep);
    }
    // A userdata with two user values caches the item: 1 = item, 2 = list sha.
    lua_newuserdatauv(L, 1, 2);
    lua_pushstring(L, sha);
    lua_setiuservalue(L, -2, 2);
    lua_pushinteger(L, w->o->split_index);
    lua_pushstring(L, ps->foreach_var);
    lua_pushcclosure(L, foreach_input, 3);
    lua_setfield(L, task, "foreach_input");
    lua_pushinteger(L, w->o->split_index);
    lua_setfield(L, task, "foreach_index");
  }
  if (w->caught != NULL) {
    // catch(task, artifact, failure): the failure as the step's catch artifact holds it.
    const lf_sched_step_conf *conf = &w->flow->confs[lf_dag_find(w->flow->dag, st->name)];
    lua_pushstring(L, conf->catch_var);
    lua_createtable(L, 0, 8);
    const lf_json *e = lf_json_get(w->caught, "error");
    const char *msg = lf_json_get_str(e, "message");
    const char *tb = lf_json_get_str(e, "traceback");
    int64_t sig = lf_json_get_int(w->caught, "signal", 0);
    lua_pushstring(L, msg != NULL ? msg : "");
    lua_setfield(L, -2, "message");
    lua_pushstring(L, tb != NULL ? tb : "");
    lua_setfield(L, -2, "traceback");
    lua_pushstring(L, msg != NULL && strncmp(msg, "timed out", 9) == 0 ? "timeout"
                      : sig != 0                                        ? "signal"
                                                                        : "error");
    lua_setfield(L, -2, "type");
    lua_pushstring(L, st->name);
    lua_setfield(L, -2, "step");
    lua_pushstring(L, w->o->task_id);
    lua_setfield(L, -2, "task");
    lua_pushinteger(L, (lua_Integer)lf_json_get_int(w->caught, "attempt", 0));
    lua_setfield(L, -2, "attempt");
    lua_pushinteger(L, (lua_Integer)lf_json_get_int(w->caught, "exit_status", 0));
    lua_setfield(L, -2, "exit_status");
    lua_pushinteger(L, (lua_Integer)sig);
    lua_setfield(L, -2, "signal");
    lua_call(L, 3, 1);
    return 1;
  }
  lua_call(L, 1, 1);
  return 1;
}

// Writes the "foreach" frames of this task: the first input's frames, with this task's split
// pushed (a child of a split) or the innermost popped (a join).
static void write_frames(worker *w, lf_jw *jw)
{
  lf_jw_arr_begin(jw);
  const lf_json *frames = w->ninputs > 0 ? lf_json_get(w->inputs[0].record, "foreach") : NULL;
  size_t n = frames != NULL && frames->type == LF_JSON_ARRAY ? frames->n : 0;
  if (w->step->is_join && n > 0) {
    n--;
  }
  for (size_t i = 0; i < n; i++) {
    const lf_json *f = frames->items[i];
    lf_jw_obj_begin(jw);
    lf_jw_key(jw, "step");
    lf_jw_str(jw, lf_json_get_str(f, "step") != NULL ? lf_json_get_str(f, "step") : "");
    lf_jw_key(jw, "task");
    lf_jw_str(jw, lf_json_get_str(f, "task") != NULL ? lf_json_get_str(f, "task") : "");
    lf_jw_key(jw, "index");
    lf_jw_int(jw, lf_json_get_int(f, "index", 0));
    lf_jw_key(jw, "count");
    lf_jw_int(jw, lf_json_get_int(f, "count", 0));
    lf_jw_obj_end(jw);
  }
  if (!w->step->is_join && w->ninputs == 1) {
    int pidx = lf_dag_find(w->flow->dag, w->inputs[0].step);
    const lf_dag_step *ps = pidx >= 0 ? lf_dag_step_at(w->flow->dag, (size_t)pidx) : NULL;
    if (ps != NULL && (ps->kind == LF_STEP_SPLIT || ps->kind == LF_STEP_FOREACH)) {
      int64_t index = w->o->split_index;
      int64_t count = lf_json_get_int(w->inputs[0].record, "foreach_count", 0);
      if (ps->kind == LF_STEP_SPLIT) {
        count = (int64_t)ps->nnext;
        for (size_t i = 0; i < ps->nnext; i++) {
          if (strcmp(ps->next[i], w->step->name) == 0) {
            index = (int64_t)i + 1;
          }
        }
      }
      lf_jw_obj_begin(jw);
      lf_jw_key(jw, "step");
      lf_jw_str(jw, ps->name);
      lf_jw_key(jw, "task");
      lf_jw_str(jw, w->inputs[0].task);
      lf_jw_key(jw, "index");
      lf_jw_int(jw, index);
      lf_jw_key(jw, "count");
      lf_jw_int(jw, count);
      lf_jw_obj_end(jw);
    }
  }
  lf_jw_arr_end(jw);
}

// Reads the result table on top of the stack into the task record. Only plain reads of a
// table the runtime built; called inside a protected call.
static int build_record(lua_State *L)
{
  worker *w = lua_touserdata(L, 2);
  lf_jw jw;
  lf_jw_init(&jw, &w->record, false);
  lf_jw_obj_begin(&jw);
  lf_jw_key(&jw, "format");
  lf_jw_int(&jw, 1);
  lf_jw_key(&jw, "flow");
  lf_jw_str(&jw, w->flow->name);
  lf_jw_key(&jw, "run");
  lf_jw_str(&jw, w->o->run_id);
  lf_jw_key(&jw, "step");
  lf_jw_str(&jw, w->step->name);
  lf_jw_key(&jw, "task");
  lf_jw_str(&jw, w->o->task_id);
  lf_jw_key(&jw, "attempt");
  lf_jw_int(&jw, w->o->attempt);
  lf_jw_key(&jw, "status");
  lf_jw_str(&jw, "ok");
  lf_jw_key(&jw, "pid");
  lf_jw_int(&jw, (int64_t)getpid());
  lf_jw_key(&jw, "started_at");
  lf_jw_int(&jw, w->started_at);
  lf_jw_key(&jw, "finished_at");
  lf_jw_int(&jw, lf_time_now_us());
  lf_jw_key(&jw, "inputs");
  lf_jw_arr_begin(&jw);
  if (w->ninputs == 0) {
    lf_jw_str(&jw, "_parameters/0");
  }
  for (size_t i = 0; i < w->ninputs; i++) {
    char *in = lf_xasprintf("%s/%s", w->inputs[i].step, w->inputs[i].task);
    lf_jw_str(&jw, in);
    lf_free(in);
  }
  lf_jw_arr_end(&jw);
  lf_jw_key(&jw, "foreach");
  write_frames(w, &jw);
  lf_jw_key(&jw, "next");
  lf_jw_arr_begin(&jw);
  lua_getfield(L, 1, "next");
  lua_Integer nn = luaL_len(L, -1);
  for (lua_Integer i = 1; i <= nn; i++) {
    lua_rawgeti(L, -1, i);
    lf_jw_str(&jw, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lf_jw_arr_end(&jw);
  lf_jw_key(&jw, "foreach_count");
  lua_getfield(L, 1, "foreach_count");
  if (lua_isinteger(L, -1)) {
    lf_jw_int(&jw, (int64_t)lua_tointeger(L, -1));
  } else {
    lf_jw_null(&jw);
  }
  lua_pop(L, 1);
  lf_jw_key(&jw, "artifacts");
  lf_jw_obj_begin(&jw);
  // Sorted names make records (and their diffs) deterministic.
  lua_getfield(L, 1, "artifacts");
  int arts = lua_gettop(L);
  lua_newtable(L);
  int names = lua_gettop(L);
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, arts) != 0) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, names, ++count);
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, names);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  for (lua_Integer i = 1; i <= count; i++) {
    lua_rawgeti(L, names, i);
    const char *name = lua_tostring(L, -1);
    lua_rawget(L, arts);
    lf_jw_key(&jw, name);
    lf_jw_obj_begin(&jw);
    lua_getfield(L, -1, "sha");
    lf_jw_key(&jw, "sha");
    lf_jw_str(&jw, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "type");
    lf_jw_key(&jw, "type");
    lf_jw_str(&jw, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "size");
    lf_jw_key(&jw, "size");
    lf_jw_int(&jw, (int64_t)lua_tointeger(L, -1));
    lua_pop(L, 2);
    lf_jw_obj_end(&jw);
  }
  lf_jw_obj_end(&jw);
  lf_jw_key(&jw, "origin");
  lf_jw_null(&jw);
  lf_jw_obj_end(&jw);
  return 0;
}

static void send_msg(int fd, const char *data, size_t len)
{
  if (fd < 0) {
    return;
  }
  unsigned char h[4] = {(unsigned char)(len & 0xff), (unsigned char)((len >> 8) & 0xff),
                        (unsigned char)((len >> 16) & 0xff),
                        (unsigned char)((len >> 24) & 0xff)};
  if (lf_fs_write_all(fd, h, 4) == 0) {
    lf_fs_write_all(fd, data, len);
  }
}

static void report_failure(int fd, const char *message, const char *traceback)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, RECORD_MAX);
  lf_jw jw;
  lf_jw_init(&jw, &b, false);
  lf_jw_obj_begin(&jw);
  lf_jw_key(&jw, "type");
  lf_jw_str(&jw, "failed");
  lf_jw_key(&jw, "message");
  lf_jw_str(&jw, message);
  lf_jw_key(&jw, "traceback");
  if (traceback != NULL) {
    lf_jw_str(&jw, traceback);
  } else {
    lf_jw_null(&jw);
  }
  lf_jw_obj_end(&jw);
  send_msg(fd, b.data, b.len);
  lf_dynbuf_free(&b);
}

// Loads what every task of the run shares: the store, the flow (its file runs once), and
// the parameters record.
static lf_status prepare(worker *w, lf_err *err)
{
  const lf_step_opts *o = w->o;
  if (o->flow_path == NULL || o->run_id == NULL) {
    return LF_ERR(err, LF_ERR_USAGE, "a step needs a flow file and a run id");
  }
  w->store = lf_api_store(w->ctx);
  if (w->store == NULL) {
    *err = w->ctx->err;
    return err->code;
  }
  lf_status st = lf_api_flow_load(w->ctx, o->flow_path, &w->flow, err);
  if (st == LF_OK) {
    st = lf_api_flow_apply_with(w->flow, o->with, err);
  }
  if (st != LF_OK) {
    return st;
  }
  if (o->serve_fd > 0) {
    // Initialise the hashing library before forking, or every task pays for it.
    unsigned char digest[LF_SHA256_LEN];
    lf_sha256("", 0, digest);
    // The user name may need a passwd lookup; do it once.
    (void)lf_api_username();
    // LD_BIND_NOW was for this process's start-up only; tasks' own subprocesses do not need
    // it.
    unsetenv("LD_BIND_NOW");
  }
  return read_record(w, "_parameters", "0", &w->params, err);
}

// The runtime calls the step function as `step.fn(...)`, which tracebacks name "field 'fn'";
// users know it as their step.
static char *name_step_frames(char *tb, const char *step)
{
  static const char needle[] = "in field 'fn'";
  if (tb == NULL || strstr(tb, needle) == NULL) {
    return tb;
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, strlen(tb) * 2 + 256);
  const char *p = tb;
  const char *hit;
  while ((hit = strstr(p, needle)) != NULL) {
    lf_dynbuf_add(&b, p, (size_t)(hit - p));
    lf_dynbuf_addf(&b, "in step '%s'", step);
    p = hit + sizeof(needle) - 1;
  }
  lf_dynbuf_adds(&b, p);
  lf_free(tb);
  return lf_dynbuf_take(&b, NULL);
}

// A try-out's environment: the previous values of the variables a step sets ("NAME=value",
// or "NAME" for unset), in the order of `env`.
static char **save_env(char **env)
{
  size_t n = 0;
  while (env != NULL && env[n] != NULL) {
    n++;
  }
  if (n == 0) {
    return NULL;
  }
  char **saved = lf_xcalloc(n + 1, sizeof(*saved));
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(env[i], '=');
    size_t nl = eq != NULL ? (size_t)(eq - env[i]) : strlen(env[i]);
    char *name = lf_xmemdupz(env[i], nl);
    const char *old = getenv(name);
    saved[i] = old != NULL ? lf_xasprintf("%s=%s", name, old) : lf_xstrdup(name);
    lf_free(name);
  }
  return saved;
}

static void restore_env(char **env, char **saved)
{
  if (saved == NULL) {
    return;
  }
  for (size_t i = 0; env[i] != NULL && saved[i] != NULL; i++) {
    char *eq = strchr(saved[i], '=');
    if (eq != NULL) {
      *eq = '\0';
      setenv(saved[i], eq + 1, 1);
    } else {
      unsetenv(saved[i]);
    }
    lf_free(saved[i]);
  }
  lf_free(saved);
}

// What a try-out gives back, copied out of the flow's state: artifact values the step
// changed (encoded) and those it passed on untouched (by hash).
typedef struct dry_item {
  char *name;
  char sha[65]; // passed on: the stored blob
  char type[16];
  int64_t size;
  char *data; // changed: the encoding
  size_t len;
} dry_item;

typedef struct dry_result {
  dry_item *items;
  size_t n;
  char **next;
  size_t nnext;
  int64_t foreach_count; // -1: not a foreach split
  const char *pathspec;
} dry_result;

static void dry_result_free(dry_result *r)
{
  for (size_t i = 0; i < r->n; i++) {
    lf_free(r->items[i].name);
    lf_free(r->items[i].data);
  }
  lf_free(r->items);
  for (size_t i = 0; i < r->nnext; i++) {
    lf_free(r->next[i]);
  }
  lf_free(r->next);
}

static dry_item *dry_add(dry_result *r, const char *name)
{
  r->items = lf_xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
  dry_item *it = &r->items[r->n++];
  memset(it, 0, sizeof(*it));
  it->name = lf_xstrdup(name);
  return it;
}

// Protected, on the flow's state: copies the result table (argument 1) into a dry_result
// (argument 2). Only reads tables the runtime built.
static int dry_collect(lua_State *L)
{
  dry_result *r = lua_touserdata(L, 2);
  lua_getfield(L, 1, "changed");
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    size_t len = 0;
    const void *data = lf_lua_codec_buffer_data(L, -1, &len);
    dry_item *it = dry_add(r, lua_tostring(L, -2));
    it->data = lf_xmemdupz(data, len);
    it->len = len;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "artifacts");
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    dry_item *it = dry_add(r, lua_tostring(L, -2));
    lua_getfield(L, -1, "sha");
    snprintf(it->sha, sizeof(it->sha), "%s", lua_tostring(L, -1));
    lua_getfield(L, -2, "type");
    snprintf(it->type, sizeof(it->type), "%s", lua_tostring(L, -1));
    lua_getfield(L, -3, "size");
    it->size = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 4);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "next");
  lua_Integer nn = luaL_len(L, -1);
  r->next = lf_xcalloc((size_t)nn + 1, sizeof(*r->next));
  for (lua_Integer i = 1; i <= nn; i++) {
    lua_rawgeti(L, -1, i);
    r->next[r->nnext++] = lf_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "foreach_count");
  r->foreach_count = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : -1;
  return 0;
}

// Protected, on the receiving state: pushes { pathspec, values, nils, passed, next,
// foreach_count } built from the dry_result (argument 1).
static int dry_push(lua_State *L)
{
  const dry_result *r = lua_touserdata(L, 1);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, r->pathspec);
  lua_setfield(L, -2, "pathspec");
  lua_newtable(L); // values
  lua_newtable(L); // nils
  lua_newtable(L); // passed
  int values = lua_gettop(L) - 2;
  for (size_t i = 0; i < r->n; i++) {
    const dry_item *it = &r->items[i];
    if (it->data != NULL) {
      lf_err err;
      lf_err_clear(&err);
      if (lf_lua_decode(L, it->data, it->len, &err) != LF_OK) {
        return luaL_error(L, "artifact '%s': %s", it->name, err.msg);
      }
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
        lua_setfield(L, values + 1, it->name);
      } else {
        lua_setfield(L, values, it->name);
      }
    } else {
      lua_createtable(L, 0, 3);
      lua_pushstring(L, it->sha);
      lua_setfield(L, -2, "sha");
      lua_pushstring(L, it->type);
      lua_setfield(L, -2, "type");
      lua_pushinteger(L, (lua_Integer)it->size);
      lua_setfield(L, -2, "size");
      lua_setfield(L, values + 2, it->name);
    }
  }
  lua_setfield(L, values - 1, "passed");
  lua_setfield(L, values - 1, "nils");
  lua_setfield(L, values - 1, "values");
  lua_createtable(L, (int)r->nnext, 0);
  for (size_t i = 0; i < r->nnext; i++) {
    lua_pushstring(L, r->next[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "next");
  if (r->foreach_count >= 0) {
    lua_pushinteger(L, (lua_Integer)r->foreach_count);
    lua_setfield(L, -2, "foreach_count");
  }
  return 1;
}

// A try-out: hands the step's result (on top of the flow's state) to the receiving state.
static lf_status hand_over(worker *w, lf_err *err)
{
  lua_State *L = w->flow->L;
  dry_result r;
  memset(&r, 0, sizeof(r));
  char *pathspec = lf_xasprintf("%s/%s/%s/%s", w->flow->name, w->o->run_id, w->o->step,
                                w->o->task_id);
  r.pathspec = pathspec;
  lua_pushcfunction(L, dry_collect);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, &r);
  lf_status st = lf_lua_pcall(L, 2, 0, LF_ERR_INTERNAL, NULL, err);
  if (st == LF_OK) {
    lua_pushcfunction(w->dry, dry_push);
    lua_pushlightuserdata(w->dry, &r);
    st = lf_lua_pcall(w->dry, 1, 1, LF_ERR_CORRUPT, NULL, err);
  }
  dry_result_free(&r);
  lf_free(pathspec);
  return st;
}

// Runs the task named by w->o (step, task id, inputs) and commits it. Reports to msg_fd.
static lf_status run_one(worker *w, lf_err *err)
{
  const lf_step_opts *o = w->o;
  char *traceback = NULL;
  char **saved_env = NULL;
  lf_status st = LF_OK;
  w->started_at = lf_time_now_us();
  if (o->step == NULL || o->task_id == NULL) {
    st = LF_ERR(err, LF_ERR_USAGE, "a step needs a step name and a task id");
    goto done;
  }
  int idx = lf_dag_find(w->flow->dag, o->step);
  if (idx < 0) {
    st = LF_ERR(err, LF_ERR_USAGE, "flow %s has no step '%s'", w->flow->name, o->step);
    goto done;
  }
  w->step = lf_dag_step_at(w->flow->dag, (size_t)idx);
  if (o->catch_mode) {
    char num[24];
    snprintf(num, sizeof(num), "%d", o->catch_from);
    char *key = lf_xasprintf("%s/%s/%s/%s/%s.attempt.json", w->flow->name, o->run_id, o->step,
                             o->task_id, num);
    char *text = NULL;
    size_t len = 0;
    st = lf_store_get(w->store, key, RECORD_MAX, &text, &len, err);
    lf_free(key);
    if (st == LF_OK) {
      w->caught = lf_json_parse(text, len, err);
      st = w->caught != NULL ? LF_OK : LF_ERR_CORRUPT;
    }
    lf_free(text);
    if (st != LF_OK) {
      goto done;
    }
  }
  // The step's environment option. (A try-out runs in the caller's process: it sets the
  // variables for the step's duration only.)
  saved_env = w->dry != NULL ? save_env(w->flow->confs[idx].env) : NULL;
  for (char **e = w->flow->confs[idx].env; e != NULL && *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    if (eq != NULL) {
      char *name = lf_xmemdupz(*e, (size_t)(eq - *e));
      setenv(name, eq + 1, 1);
      lf_free(name);
    }
  }
  if (o->inputs != NULL && strcmp(o->inputs, "_parameters/0") != 0) {
    st = parse_inputs(w, o->inputs, err);
    for (size_t i = 0; st == LF_OK && i < w->ninputs; i++) {
      st = read_record(w, w->inputs[i].step, w->inputs[i].task, &w->inputs[i].record, err);
    }
    if (st != LF_OK) {
      goto done;
    }
  }
  lf_lua_host host = {.store = w->store,
                      .flow = w->flow->name,
                      .root = w->ctx->datastore_root,
                      .user = lf_api_username(),
                      .in_task = true};
  lua_State *L = w->flow->L;
  lf_lua_set_host(L, &host);
  // A declared memory need is also the step's limit: the Lua state may grow to it.
  double mem_mb = w->flow->confs[idx].memory;
  if (mem_mb > 0) {
    lf_lua_set_mem_limit(L, lf_lua_mem_used(L) + (size_t)(mem_mb * 1048576.0));
  }
  lua_pushcfunction(L, run_task);
  lua_pushlightuserdata(L, w);
  if (w->dry != NULL) {
    w->ctx->try_L = L; // so lf_session_interrupt can stop it
  }
  st = lf_lua_pcall(L, 1, 1, LF_ERR_TASK, &traceback, err);
  w->ctx->try_L = NULL;
  traceback = name_step_frames(traceback, o->step);
  if (st != LF_OK) {
    if (st == LF_ERR_NOMEM) {
      lf_err_clear(err);
      if (mem_mb > 0) {
        st = LF_ERR(err, LF_ERR_TASK,
                    "step '%s': out of memory: it needs more than its resources.memory of "
                    "%g MB",
                    o->step, mem_mb);
      } else {
        st = LF_ERR(err, LF_ERR_TASK, "step '%s': out of memory", o->step);
      }
    }
    goto done;
  }
  // stack: result
  if (w->dry != NULL) {
    st = hand_over(w, err);
    goto done;
  }
  lua_pushcfunction(L, build_record);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, w);
  st = lf_lua_pcall(L, 2, 0, LF_ERR_INTERNAL, NULL, err);
  if (st != LF_OK) {
    goto done;
  }
  // The commit point: the record appears atomically, or not at all.
  char *key =
    lf_xasprintf("%s/%s/%s/%s/task.json", w->flow->name, o->run_id, o->step, o->task_id);
  st = lf_store_put(w->store, key, w->record.data, w->record.len, err);
  lf_free(key);
  if (st != LF_OK) {
    goto done;
  }
  lf_dynbuf msg;
  lf_dynbuf_init(&msg, RECORD_MAX + 64);
  lf_dynbuf_adds(&msg, "{\"type\":\"done\",\"record\":");
  lf_dynbuf_add(&msg, w->record.data, w->record.len);
  lf_dynbuf_adds(&msg, "}");
  send_msg(o->msg_fd, msg.data, msg.len);
  lf_dynbuf_free(&msg);

done:
  if (w->dry != NULL && w->step != NULL) {
    restore_env(w->flow->confs[lf_dag_find(w->flow->dag, o->step)].env, saved_env);
  }
  if (st != LF_OK) {
    report_failure(o->msg_fd, err->msg, traceback);
  }
  if (w->dry_traceback != NULL && st != LF_OK) {
    *w->dry_traceback = traceback;
    traceback = NULL;
  }
  lf_free(traceback);
  return st;
}

// Protected: gives the forked task its own random sequence (the server's seed is shared by
// every child otherwise).
static int reseed(lua_State *L)
{
  unsigned long long a = (unsigned long long)lf_time_now_us();
  unsigned long long b = (unsigned long long)getpid();
  FILE *f = fopen("/dev/urandom", "rb");
  if (f != NULL) {
    if (fread(&a, sizeof(a), 1, f) != 1 || fread(&b, sizeof(b), 1, f) != 1) {
      a ^= (unsigned long long)getpid() << 17;
    }
    fclose(f);
  }
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, (lua_Integer)a);
  lua_pushinteger(L, (lua_Integer)b);
  lua_call(L, 2, 0);
  return 0;
}

// In a forked child of the fork server: "step\ttask\tattempt\tsplit\tcatch_from\tinputs".
static int serve_task(void *ud, const char *payload, size_t len)
{
  worker *w = ud;
  char *copy = lf_xmemdupz(payload, len);
  char *fields[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  char *p = copy;
  for (int i = 0; i < 6 && p != NULL; i++) {
    fields[i] = p;
    p = strchr(p, '\t');
    if (p != NULL) {
      *p++ = '\0';
    }
  }
  lf_step_opts o = *w->o;
  o.step = fields[0];
  o.task_id = fields[1];
  o.attempt = fields[2] != NULL ? (int)strtol(fields[2], NULL, 10) : 0;
  o.split_index = fields[3] != NULL ? (int)strtol(fields[3], NULL, 10) : 0;
  o.catch_from = fields[4] != NULL ? (int)strtol(fields[4], NULL, 10) : -1;
  o.catch_mode = o.catch_from >= 0;
  o.inputs = fields[5] != NULL && fields[5][0] != '\0' ? fields[5] : NULL;
  o.msg_fd = 3;
  o.serve_fd = 0;
  w->o = &o;
  lf_err err;
  lf_err_clear(&err);
  lua_pushcfunction(w->flow->L, reseed);
  lf_lua_pcall(w->flow->L, 0, 0, LF_ERR_INTERNAL, NULL, &err);
  lf_err_clear(&err);
  lf_status st = run_one(w, &err);
  // The process ends here; freeing would only cost time.
  return st == LF_OK ? 0 : (st == LF_ERR_USAGE ? 2 : 1);
}

LF_API lf_status lf_run_step(lf_ctx *ctx, const lf_step_opts *opts)
{
  lf_step_opts o;
  memset(&o, 0, sizeof(o));
  memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
  worker w;
  memset(&w, 0, sizeof(w));
  w.ctx = ctx;
  w.o = &o;
  lf_dynbuf_init(&w.record, RECORD_MAX);
  lf_err err;
  lf_err_clear(&err);
  lf_status st = prepare(&w, &err);
  if (st != LF_OK) {
    report_failure(o.msg_fd, err.msg, NULL);
  } else if (o.serve_fd > 0) {
    st = lf_forkserver_serve(o.serve_fd, serve_task, &w, &err);
  } else {
    st = run_one(&w, &err);
  }
  if (st != LF_OK) {
    lf_api_fail(ctx, &err);
  }
  free_inputs(&w);
  lf_json_free(w.params);
  lf_json_free(w.caught);
  lf_dynbuf_free(&w.record);
  if (w.flow != NULL) {
    lf_lua_set_host(w.flow->L, NULL);
    lf_flow_free(w.flow);
  }
  return st;
}

lf_status lf_api_step_try(lf_ctx *ctx, const lf_step_opts *opts, lua_State *dst,
                          char **traceback, lf_err *err)
{
  lf_step_opts o;
  memset(&o, 0, sizeof(o));
  memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
  o.msg_fd = -1;
  o.serve_fd = 0;
  o.catch_mode = 0;
  worker w;
  memset(&w, 0, sizeof(w));
  w.ctx = ctx;
  w.o = &o;
  w.dry = dst;
  w.dry_traceback = traceback;
  lf_dynbuf_init(&w.record, RECORD_MAX);
  lf_status st = prepare(&w, err);
  if (st == LF_OK) {
    st = run_one(&w, err);
  }
  free_inputs(&w);
  lf_json_free(w.params);
  lf_dynbuf_free(&w.record);
  if (w.flow != NULL) {
    lf_lua_set_host(w.flow->L, NULL);
    lf_flow_free(w.flow);
  }
  return st;
}
