// SPDX-License-Identifier: MIT
// This file contains resume's cloning: the scheduler of a resumed run commits, without
// running them, the tasks of steps before the resume point that completed in the origin run.
// A clone keeps the origin's artifacts (the same blobs), copies its logs, and records where
// it came from. Tasks are matched by step and foreach path: the step names and branch
// indexes of the splits a task is inside, which are the same in both runs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "sched/sched_internal.h"

#define RECORD_MAX ((size_t)64 << 20)
#define LOG_MAX ((size_t)1 << 31)

// "step|split:index|split:index" for a record of the origin run.
static char *record_key(const lf_json *rec)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 1 << 20);
  const char *step = lf_json_get_str(rec, "step");
  lf_dynbuf_adds(&b, step != NULL ? step : "?");
  const lf_json *frames = lf_json_get(rec, "foreach");
  for (size_t i = 0; frames != NULL && frames->type == LF_JSON_ARRAY && i < frames->n; i++) {
    const char *fs = lf_json_get_str(frames->items[i], "step");
    lf_dynbuf_addf(&b, "|%s:%lld", fs != NULL ? fs : "?",
                   (long long)lf_json_get_int(frames->items[i], "index", 0));
  }
  return lf_dynbuf_take(&b, NULL);
}

// The same key for a task of this run, from its stack of splits.
static char *task_key(const lf_sched *s, const sched_task *t)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 1 << 20);
  lf_dynbuf_adds(&b, lf_sched_step_name(s, t));
  for (size_t i = 0; i < t->depth; i++) {
    const sched_task *split = s->tasks[t->stack[i].split_task];
    lf_dynbuf_addf(&b, "|%s:%d", lf_sched_step_name(s, split), t->stack[i].index);
  }
  return lf_dynbuf_take(&b, NULL);
}

typedef struct keyed {
  char *key;
  lf_json *rec;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
  return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

lf_status lf_sched_clone_load(lf_sched *s, lf_err *err)
{
  if (s->o.origin_run == NULL || s->o.clone_steps == NULL) {
    return LF_OK;
  }
  keyed *all = NULL;
  size_t n = 0;
  size_t cap = 0;
  lf_status st = LF_OK;
  size_t nsteps = lf_dag_count(s->o.dag);
  for (size_t i = 0; st == LF_OK && i < nsteps; i++) {
    if (!s->o.clone_steps[i]) {
      continue;
    }
    const char *step = lf_dag_step_at(s->o.dag, i)->name;
    char *prefix = lf_xasprintf("%s/%s/%s", s->o.flow_name, s->o.origin_run, step);
    char **tasks = NULL;
    size_t ntasks = 0;
    st = lf_store_list(s->o.store, prefix, &tasks, &ntasks, err);
    for (size_t k = 0; st == LF_OK && k < ntasks; k++) {
      char *key = lf_xasprintf("%s/%s/task.json", prefix, tasks[k]);
      char *text = NULL;
      size_t len = 0;
      lf_err local;
      lf_err_clear(&local);
      lf_status gs = lf_store_get(s->o.store, key, RECORD_MAX, &text, &len, &local);
      if (gs == LF_OK) {
        lf_json *rec = lf_json_parse(text, len, err);
        if (rec == NULL) {
          lf_err_prefix(err, "task record '%s'", key);
          st = LF_ERR_CORRUPT;
        } else {
          if (n == cap) {
            cap = cap != 0 ? cap * 2 : 64;
            all = lf_xrealloc(all, cap * sizeof(keyed));
          }
          all[n].key = record_key(rec);
          all[n].rec = rec;
          n++;
        }
      } else if (gs != LF_ERR_NOTFOUND) {
        // A task that never committed is simply run again; anything else is an error.
        st = LF_ERR(err, gs, "%s", local.msg);
      }
      lf_free(text);
      lf_free(key);
    }
    lf_store_free_names(tasks, ntasks);
    lf_free(prefix);
  }
  if (n > 0) {
    qsort(all, n, sizeof(keyed), cmp_keyed);
  }
  s->origin_keys = lf_xcalloc(n + 1, sizeof(char *));
  s->origin_recs = lf_xcalloc(n + 1, sizeof(lf_json *));
  for (size_t i = 0; i < n; i++) {
    s->origin_keys[i] = all[i].key;
    s->origin_recs[i] = all[i].rec;
  }
  s->norigin = n;
  lf_free(all);
  return st;
}

void lf_sched_clone_free(lf_sched *s)
{
  for (size_t i = 0; i < s->norigin; i++) {
    lf_free(s->origin_keys[i]);
    lf_json_free(s->origin_recs[i]);
  }
  lf_free(s->origin_keys);
  lf_free(s->origin_recs);
  s->origin_keys = NULL;
  s->origin_recs = NULL;
  s->norigin = 0;
}

static const lf_json *find_origin(const lf_sched *s, const char *key)
{
  size_t lo = 0;
  size_t hi = s->norigin;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->origin_keys[mid], key);
    if (c == 0) {
      return s->origin_recs[mid];
    }
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return NULL;
}

// Copies the origin task's stored output of its committed attempt to the clone.
static void copy_logs(lf_sched *s, const lf_json *orig, const char *dst_prefix)
{
  static const char *const names[2] = {"stdout", "stderr"};
  int64_t attempt = lf_json_get_int(orig, "attempt", 0);
  for (int i = 0; i < 2; i++) {
    char *src = lf_xasprintf("%s/%s/%s/%s/%lld.%s", s->o.flow_name, s->o.origin_run,
                             lf_json_get_str(orig, "step"), lf_json_get_str(orig, "task"),
                             (long long)attempt, names[i]);
    char *text = NULL;
    size_t len = 0;
    lf_err err;
    lf_err_clear(&err);
    if (lf_store_get(s->o.store, src, LOG_MAX, &text, &len, &err) == LF_OK && len > 0) {
      char *dst = lf_xasprintf("%s/%lld.%s", dst_prefix, (long long)attempt, names[i]);
      lf_err_clear(&err);
      if (lf_store_put(s->o.store, dst, text, len, &err) != LF_OK) {
        LF_LOGW("cannot copy the %s of a cloned task: %s", names[i], err.msg);
      }
      lf_free(dst);
    }
    lf_free(text);
    lf_free(src);
  }
}

const lf_json *lf_sched_clone(lf_sched *s, sched_task *t, lf_err *err)
{
  if (s->o.clone_steps == NULL || !s->o.clone_steps[t->step]) {
    return NULL;
  }
  char *key = task_key(s, t);
  const lf_json *orig = find_origin(s, key);
  lf_free(key);
  if (orig == NULL) {
    return NULL;
  }
  const char *step = lf_sched_step_name(s, t);
  char tid[24];
  snprintf(tid, sizeof(tid), "%zu", t->id);
  lf_dynbuf b;
  lf_dynbuf_init(&b, RECORD_MAX);
  lf_jw w;
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "format");
  lf_jw_int(&w, 1);
  lf_jw_key(&w, "flow");
  lf_jw_str(&w, s->o.flow_name);
  lf_jw_key(&w, "run");
  lf_jw_str(&w, s->o.run_id);
  lf_jw_key(&w, "step");
  lf_jw_str(&w, step);
  lf_jw_key(&w, "task");
  lf_jw_str(&w, tid);
  static const char *const copied[] = {"attempt", "status", "pid", "started_at",
                                       "finished_at"};
  for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
    const lf_json *v = lf_json_get(orig, copied[i]);
    lf_jw_key(&w, copied[i]);
    if (v != NULL) {
      lf_jw_value(&w, v);
    } else {
      lf_jw_null(&w);
    }
  }
  lf_jw_key(&w, "inputs");
  lf_jw_arr_begin(&w);
  if (t->ninputs == 0) {
    lf_jw_str(&w, "_parameters/0");
  }
  for (size_t i = 0; i < t->ninputs; i++) {
    const sched_task *in = s->tasks[t->inputs[i]];
    char *ref = lf_xasprintf("%s/%zu", lf_sched_step_name(s, in), in->id);
    lf_jw_str(&w, ref);
    lf_free(ref);
  }
  lf_jw_arr_end(&w);
  lf_jw_key(&w, "foreach");
  lf_jw_arr_begin(&w);
  for (size_t i = 0; i < t->depth; i++) {
    const sched_task *split = s->tasks[t->stack[i].split_task];
    char sid[24];
    snprintf(sid, sizeof(sid), "%zu", split->id);
    lf_jw_obj_begin(&w);
    lf_jw_key(&w, "step");
    lf_jw_str(&w, lf_sched_step_name(s, split));
    lf_jw_key(&w, "task");
    lf_jw_str(&w, sid);
    lf_jw_key(&w, "index");
    lf_jw_int(&w, t->stack[i].index);
    lf_jw_key(&w, "count");
    lf_jw_int(&w, t->stack[i].count);
    lf_jw_obj_end(&w);
  }
  lf_jw_arr_end(&w);
  static const char *const kept[] = {"next", "foreach_count", "artifacts"};
  for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
    const lf_json *v = lf_json_get(orig, kept[i]);
    lf_jw_key(&w, kept[i]);
    if (v != NULL) {
      lf_jw_value(&w, v);
    } else {
      lf_jw_null(&w);
    }
  }
  // A clone of a clone points at the task that really ran.
  const char *origin = lf_json_get_str(orig, "origin");
  char *self_origin = lf_xasprintf("%s/%s/%s/%s", s->o.flow_name, s->o.origin_run, step,
                                   lf_json_get_str(orig, "task"));
  lf_jw_key(&w, "origin");
  lf_jw_str(&w, origin != NULL ? origin : self_origin);
  lf_free(self_origin);
  lf_jw_obj_end(&w);
  char *prefix = lf_xasprintf("%s/%s/%s/%s", s->o.flow_name, s->o.run_id, step, tid);
  char *key2 = lf_xasprintf("%s/task.json", prefix);
  lf_status st = lf_jw_ok(&w) ? lf_store_put(s->o.store, key2, b.data, b.len, err)
                              : LF_ERR(err, LF_ERR_INTERNAL, "cannot write a cloned record");
  lf_free(key2);
  if (st == LF_OK) {
    copy_logs(s, orig, prefix);
    if (s->o.meta != NULL) {
      lf_err local;
      lf_err_clear(&local);
      lf_json *rec = lf_json_parse(b.data, b.len, &local);
      if (rec == NULL || lf_meta_put_task(s->o.meta, rec, &local) != LF_OK ||
          lf_meta_put_task_attempt(s->o.meta, rec, &local) != LF_OK) {
        LF_LOGW("cannot index cloned task %s/%s: %s", step, tid, local.msg);
      }
      lf_json_free(rec);
    }
  }
  lf_free(prefix);
  lf_dynbuf_free(&b);
  return st == LF_OK ? orig : NULL;
}
