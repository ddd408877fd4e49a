// SPDX-License-Identifier: MIT
// This file contains what `luaflow resume` decides before its run starts: which run it
// continues (by default the user's latest), from which step (by default the first that did
// not complete), which steps are cloned (every step not downstream of the resume step), and
// the parameters (the origin's). It also finds runs orphaned by a scheduler that died
// (kill -9, a crash, a lost machine) and marks them failed, so they can be resumed.
#include <errno.h>
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
#include "core/log.h"
#include "core/timeutil.h"
#include "lua_api/history.h"

#define RECORD_MAX ((size_t)64 << 20)

static lf_status read_json(lf_store *store, const char *key, lf_json **out, lf_err *err)
{
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  lf_status st = lf_store_get(store, key, RECORD_MAX, &text, &len, err);
  if (st == LF_OK) {
    *out = lf_json_parse(text, len, err);
    if (*out == NULL) {
      lf_err_prefix(err, "record '%s'", key);
      st = LF_ERR_CORRUPT;
    }
  }
  lf_free(text);
  return st;
}

// What the origin run committed of a step: how many tasks, and the sum of their foreach
// widths (for a foreach split).
static lf_status committed(lf_store *store, const char *flow, const char *run, const char *step,
                           int64_t *ntasks, int64_t *width, lf_err *err)
{
  char *prefix = lf_xasprintf("%s/%s/%s", flow, run, step);
  char **tasks = NULL;
  size_t n = 0;
  *ntasks = 0;
  *width = 0;
  lf_status st = lf_store_list(store, prefix, &tasks, &n, err);
  for (size_t i = 0; st == LF_OK && i < n; i++) {
    char *key = lf_xasprintf("%s/%s/task.json", prefix, tasks[i]);
    lf_json *rec = NULL;
    st = read_json(store, key, &rec, err);
    if (st == LF_OK) {
      (*ntasks)++;
      *width += lf_json_get_int(rec, "foreach_count", 0);
    } else if (st == LF_ERR_NOTFOUND) {
      lf_err_clear(err);
      st = LF_OK;
    }
    lf_json_free(rec);
    lf_free(key);
  }
  lf_store_free_names(tasks, n);
  lf_free(prefix);
  return st;
}

// The first step, in topological order, with fewer committed tasks than the graph implies:
// start has one; a step after a foreach split has as many as the split's items; a join as
// many as its split; any other step as many as the step before it. -1 if all completed.
static lf_status first_incomplete(const lf_flow *f, lf_store *store, const char *run,
                                  int *from, lf_err *err)
{
  size_t nsteps = lf_dag_count(f->dag);
  int64_t *expected = lf_xcalloc(nsteps + 1, sizeof(int64_t));
  int64_t *width = lf_xcalloc(nsteps + 1, sizeof(int64_t));
  size_t n = 0;
  const size_t *order = lf_dag_order(f->dag, &n);
  lf_status st = LF_OK;
  *from = -1;
  for (size_t i = 0; i < n && *from < 0 && st == LF_OK; i++) {
    size_t k = order[i];
    const lf_dag_step *step = lf_dag_step_at(f->dag, k);
    if (step->is_join && step->split_of_join >= 0) {
      expected[k] = expected[step->split_of_join];
    } else if (step->nprev == 1) {
      size_t p = step->prev[0];
      const lf_dag_step *parent = lf_dag_step_at(f->dag, p);
      expected[k] = parent->kind == LF_STEP_FOREACH ? width[p] : expected[p];
    } else {
      expected[k] = 1; // start
    }
    int64_t got = 0;
    st = committed(store, f->name, run, step->name, &got, &width[k], err);
    if (st == LF_OK && got < expected[k]) {
      *from = (int)k;
    }
  }
  lf_free(expected);
  lf_free(width);
  return st;
}

// Marks every step reachable from `from` (itself included) in `down`.
static void mark_downstream(const lf_dag *dag, int from, bool *down)
{
  if (down[from]) {
    return;
  }
  down[from] = true;
  const lf_dag_step *st = lf_dag_step_at(dag, (size_t)from);
  for (size_t i = 0; i < st->nnext; i++) {
    int n = lf_dag_find(dag, st->next[i]);
    if (n >= 0) {
      mark_downstream(dag, n, down);
    }
  }
}

lf_status lf_api_resume_plan(lf_flow *f, lf_store *store, lf_meta *meta, const char *origin,
                             const char *step, lf_resume_plan *plan, lf_err *err)
{
  memset(plan, 0, sizeof(*plan));
  lf_status st = LF_OK;
  if (origin != NULL) {
    plan->origin_run = lf_xstrdup(origin);
  } else {
    st = lf_meta_latest_run(meta, f->name, false, lf_api_username(), &plan->origin_run, err);
    if (st == LF_ERR_NOTFOUND) {
      lf_err_clear(err);
      return LF_ERR(err, LF_ERR_USAGE, "no run of %s by user '%s' to resume; run it first",
                    f->name, lf_api_username());
    }
    if (st != LF_OK) {
      return st;
    }
  }
  char *key = lf_xasprintf("%s/%s/_parameters/0/task.json", f->name, plan->origin_run);
  st = read_json(store, key, &plan->origin_params, err);
  lf_free(key);
  if (st == LF_ERR_NOTFOUND) {
    lf_err_clear(err);
    return LF_ERR(err, LF_ERR_USAGE, "no run '%s/%s' to resume", f->name, plan->origin_run);
  }
  if (st != LF_OK) {
    return st;
  }
  // Every parameter of the flow must have a value in the origin run.
  const lf_json *arts = lf_json_get(plan->origin_params, "artifacts");
  for (size_t i = 0; i < f->nparams; i++) {
    if (lf_json_get(arts, f->params[i].artifact) == NULL) {
      return LF_ERR(err, LF_ERR_USAGE,
                    "parameter --%s is new since run %s/%s, so it cannot be resumed; run the "
                    "flow anew",
                    f->params[i].name, f->name, plan->origin_run);
    }
  }
  size_t nsteps = lf_dag_count(f->dag);
  int from = -1;
  if (step != NULL) {
    from = lf_dag_find(f->dag, step);
    if (from < 0) {
      return LF_ERR(err, LF_ERR_USAGE, "flow %s has no step '%s' to resume from", f->name,
                    step);
    }
  } else {
    st = first_incomplete(f, store, plan->origin_run, &from, err);
    if (st != LF_OK) {
      return st;
    }
    if (from < 0) {
      return LF_ERR(err, LF_ERR_USAGE,
                    "run %s/%s completed; to run part of it again, name the step to resume "
                    "from",
                    f->name, plan->origin_run);
    }
  }
  plan->step = lf_xstrdup(lf_dag_step_at(f->dag, (size_t)from)->name);
  bool *down = lf_xcalloc(nsteps + 1, sizeof(bool));
  mark_downstream(f->dag, from, down);
  plan->clone = lf_xcalloc(nsteps + 1, sizeof(bool));
  for (size_t i = 0; i < nsteps; i++) {
    plan->clone[i] = !down[i];
  }
  // Found automatically, the resume step keeps what it completed: only its missing and
  // failed tasks run (nothing computed is lost). Named explicitly, it runs again in full.
  if (step == NULL) {
    plan->clone[from] = true;
  }
  lf_free(down);
  return LF_OK;
}

void lf_api_resume_plan_free(lf_resume_plan *plan)
{
  lf_free(plan->origin_run);
  lf_free(plan->step);
  lf_free(plan->clone);
  lf_json_free(plan->origin_params);
  memset(plan, 0, sizeof(*plan));
}

// True if `pid` on this host is still a luaflow process.
static bool scheduler_alive(int64_t pid)
{
  if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
    return false;
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)pid);
  char *cmd = NULL;
  size_t len = 0;
  lf_err err;
  lf_err_clear(&err);
  if (lf_fs_read_file(path, 1 << 16, &cmd, &len, &err) != LF_OK) {
    return true; // cannot tell: leave the run alone
  }
  bool alive = strstr(cmd, "luaflow") != NULL;
  lf_free(cmd);
  return alive;
}

void lf_api_mark_orphans(lf_flow *f, lf_store *store, lf_meta *meta)
{
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  lf_meta_run_filter filter = {.limit = 50};
  lf_meta_run_list runs;
  memset(&runs, 0, sizeof(runs));
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_list_runs(meta, f->name, &filter, &runs, &err) != LF_OK) {
    lf_meta_run_list_destroy(&runs);
    return;
  }
  for (size_t i = 0; i < runs.count; i++) {
    if (strcmp(runs.items[i].status, "running") != 0) {
      continue;
    }
    char *key = lf_xasprintf("%s/%s/_run.json", f->name, runs.items[i].run_id);
    lf_json *rec = NULL;
    lf_err_clear(&err);
    if (read_json(store, key, &rec, &err) == LF_OK) {
      const char *rhost = lf_json_get_str(rec, "host");
      int64_t pid = lf_json_get_int(rec, "scheduler_pid", 0);
      const char *status = lf_json_get_str(rec, "status");
      if (rhost != NULL && strcmp(rhost, host) == 0 && status != NULL &&
          strcmp(status, "running") == 0 && !scheduler_alive(pid)) {
        // Rewrite the record: everything but status, finished_at and error is kept.
        lf_dynbuf b;
        lf_dynbuf_init(&b, RECORD_MAX);
        lf_jw w;
        lf_jw_init(&w, &b, false);
        lf_jw_obj_begin(&w);
        for (size_t k = 0; k < rec->n; k++) {
          const char *name = rec->keys[k];
          if (strcmp(name, "status") == 0 || strcmp(name, "finished_at") == 0 ||
              strcmp(name, "error") == 0) {
            continue;
          }
          lf_jw_keyn(&w, rec->keys[k], rec->keylens[k]);
          lf_jw_value(&w, rec->items[k]);
        }
        lf_jw_key(&w, "status");
        lf_jw_str(&w, "failed");
        lf_jw_key(&w, "finished_at");
        lf_jw_int(&w, lf_time_now_us());
        char *why = lf_xasprintf("orphaned: its scheduler (pid %lld) stopped without finishing "
                                 "the run",
                                 (long long)pid);
        lf_jw_key(&w, "error");
        lf_jw_str(&w, why);
        lf_jw_obj_end(&w);
        lf_err_clear(&err);
        if (lf_store_put(store, key, b.data, b.len, &err) == LF_OK) {
          lf_json *updated = lf_lua_history_run_record(store, b.data, b.len, &err);
          if (updated != NULL) {
            lf_meta_put_run(meta, updated, &err);
            lf_json_free(updated);
          }
          LF_LOGW("run %s/%s was %s; it is marked failed (luaflow resume continues it)",
                  f->name, runs.items[i].run_id, why);
        }
        lf_free(why);
        lf_dynbuf_free(&b);
      }
    }
    lf_json_free(rec);
    lf_free(key);
  }
  lf_meta_run_list_destroy(&runs);
}
