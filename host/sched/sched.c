// SPDX-License-Identifier: MIT
// This file contains the local scheduler: the task table, the ready queue bounded by
// max-workers, fan-out of static splits and foreaches, join barriers, failure handling,
// logs and attempt records, and the metadata index writes.
//
// Every task carries a stack of open splits (frames). A child of a split pushes a frame
// naming the split task, its 1-based branch index and the branch count; a join pops it. A
// task arriving at a join parks in the frame's split task until all `count` branches are in,
// then the join task is created with the arrivals ordered by branch index.
#include "sched/sched.h"

#include "sched/sched_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"

// Logs of one attempt are kept in memory up to this size, then truncated with a marker.
#define LOG_MAX ((size_t)256 * 1024 * 1024)
// Grace period between SIGTERM and SIGKILL when interrupting.
#define KILL_GRACE_MS 3000

static void emit(lf_sched *s, lf_event_kind kind, const sched_task *t, int stream,
                 const char *line, const char *message, const char *detail)
{
  if (s->o.on_event == NULL) {
    return;
  }
  char tid[24];
  lf_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.flow = s->o.flow_name;
  ev.run_id = s->o.run_id;
  if (t != NULL) {
    snprintf(tid, sizeof(tid), "%zu", t->id);
    ev.step = lf_dag_step_at(s->o.dag, (size_t)t->step)->name;
    ev.task_id = tid;
    ev.pid = t->pid;
    ev.step_total = s->n_total[t->step];
    ev.step_done = s->n_done[t->step];
    ev.step_running = s->n_running[t->step];
    ev.step_failed = s->n_failed[t->step];
  }
  ev.stream = stream;
  ev.line = line;
  ev.message = message;
  ev.detail = detail;
  ev.timestamp_us = lf_time_now_us();
  s->o.on_event(s->o.event_ud, &ev);
}

const char *lf_sched_step_name(const lf_sched *s, const sched_task *t)
{
  return lf_dag_step_at(s->o.dag, (size_t)t->step)->name;
}

static const char *step_name(const lf_sched *s, const sched_task *t)
{
  return lf_sched_step_name(s, t);
}

static void fail_run(lf_sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_run(lf_sched *s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  lf_err_setv(&s->err, LF_ERR_TASK, __FILE__, __LINE__, fmt, ap);
  va_end(ap);
  s->failed = true;
}

static sched_task *new_task(lf_sched *s, int step, const frame *stack, size_t depth)
{
  if (s->ntasks == s->cap) {
    s->cap = s->cap != 0 ? s->cap * 2 : 64;
    s->tasks = lf_xrealloc(s->tasks, s->cap * sizeof(*s->tasks));
  }
  sched_task *t = lf_xcalloc(1, sizeof(*t));
  t->id = s->ntasks + 1;
  t->step = step;
  t->state = T_READY;
  if (depth > 0) {
    t->stack = lf_xmalloc(depth * sizeof(*stack));
    memcpy(t->stack, stack, depth * sizeof(*stack));
  }
  t->depth = depth;
  t->catch_from = -1;
  t->sched = s;
  s->n_total[step]++;
  lf_dynbuf_init(&t->logs[0], LOG_MAX);
  lf_dynbuf_init(&t->logs[1], LOG_MAX);
  s->tasks[s->ntasks++] = t;
  return t;
}

static void enqueue(lf_sched *s, size_t idx)
{
  if (s->qlen == s->qcap) {
    size_t ncap = s->qcap != 0 ? s->qcap * 2 : 64;
    size_t *q = lf_xmalloc(ncap * sizeof(*q));
    for (size_t i = 0; i < s->qlen; i++) {
      q[i] = s->queue[(s->qhead + i) % s->qcap];
    }
    lf_free(s->queue);
    s->queue = q;
    s->qcap = ncap;
    s->qhead = 0;
  }
  s->queue[(s->qhead + s->qlen) % s->qcap] = idx;
  s->qlen++;
}

// Renders the inputs of a task compactly: consecutive task ids of one step become a range
// ("work/2-1001"), so a join of a wide foreach fits on a command line.
static char *inputs_text(const lf_sched *s, const sched_task *t)
{
  if (t->ninputs == 0) {
    return lf_xstrdup("_parameters/0");
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 30);
  size_t i = 0;
  while (i < t->ninputs) {
    const sched_task *a = s->tasks[t->inputs[i]];
    size_t j = i;
    while (j + 1 < t->ninputs) {
      const sched_task *nx = s->tasks[t->inputs[j + 1]];
      if (nx->step != a->step || nx->id != s->tasks[t->inputs[j]]->id + 1) {
        break;
      }
      j++;
    }
    if (b.len > 0) {
      lf_dynbuf_addc(&b, ',');
    }
    if (j > i) {
      lf_dynbuf_addf(&b, "%s/%zu-%zu", step_name(s, a), a->id, s->tasks[t->inputs[j]]->id);
    } else {
      lf_dynbuf_addf(&b, "%s/%zu", step_name(s, a), a->id);
    }
    i = j + 1;
  }
  return lf_dynbuf_take(&b, NULL);
}

// Grace period between SIGTERM and SIGKILL for a task that ran out of time.
#define TIMEOUT_GRACE_MS 5000

static const lf_sched_step_conf *conf_of(const lf_sched *s, const sched_task *t)
{
  static const lf_sched_step_conf none = {0};
  return s->o.confs != NULL ? &s->o.confs[t->step] : &none;
}

static void timer_closed(uv_handle_t *h)
{
  lf_free(h);
}

static void stop_timer(sched_task *t)
{
  if (t->timer != NULL) {
    uv_timer_stop(t->timer);
    uv_close((uv_handle_t *)t->timer, timer_closed);
    t->timer = NULL;
  }
  t->timer_stage = 0;
}

static void launch_ready(lf_sched *s);

// Stage 1: the attempt ran out of time: SIGTERM to its process group. Stage 2: still there
// after the grace period: SIGKILL.
static void timeout_fired(uv_timer_t *timer)
{
  sched_task *t = timer->data;
  lf_sched *s = t->sched;
  if (t->state != T_RUNNING || t->handle == NULL) {
    return;
  }
  if (t->timer_stage == 1) {
    t->timed_out = true;
    s->exec.kill(s->exec.self, t->handle, SIGTERM);
    t->timer_stage = 2;
    uv_timer_start(timer, timeout_fired, TIMEOUT_GRACE_MS, 0);
  } else {
    s->exec.kill(s->exec.self, t->handle, SIGKILL);
  }
}

static void start_timer(lf_sched *s, sched_task *t, int stage, double seconds,
                        uv_timer_cb cb)
{
  stop_timer(t);
  t->timer = lf_xcalloc(1, sizeof(uv_timer_t));
  uv_timer_init(s->o.loop, t->timer);
  t->timer->data = t;
  t->timer_stage = stage;
  double ms = seconds * 1000.0;
  uv_timer_start(t->timer, cb, ms < 1.0 ? 1 : (uint64_t)ms, 0);
}

// Declared resources of a task fit beside what runs now (a task larger than the machine
// runs alone rather than never).
static bool resources_fit(const lf_sched *s, const lf_sched_step_conf *c)
{
  if (s->running == 0) {
    return true;
  }
  if (c->cpu > 0 && s->cpu_used + c->cpu > s->cores) {
    return false;
  }
  if (c->memory > 0 && s->mem_used + c->memory > s->memory_mb) {
    return false;
  }
  return true;
}

static void schedule_successors(lf_sched *s, size_t idx, const lf_json *rec);

// Resume: commits the task at the head of the queue from the origin run if it is one to
// clone. Clones take no worker slot. @return true if it was cloned (or the run failed).
static bool clone_head(lf_sched *s, size_t idx)
{
  sched_task *t = s->tasks[idx];
  lf_err err;
  lf_err_clear(&err);
  const lf_json *orig = lf_sched_clone(s, t, &err);
  if (orig == NULL && err.code == LF_OK) {
    return false;
  }
  s->qhead = (s->qhead + 1) % s->qcap;
  s->qlen--;
  if (orig == NULL) {
    t->state = T_FAILED;
    s->n_failed[t->step]++;
    fail_run(s, "step '%s': cannot clone task %zu from run %s: %s", step_name(s, t), t->id,
             s->o.origin_run, err.msg);
    return true;
  }
  t->state = T_DONE;
  t->pid = lf_json_get_int(orig, "pid", 0);
  s->n_done[t->step]++;
  char *from = lf_xasprintf("%s/%s/%s/%s", s->o.flow_name, s->o.origin_run, step_name(s, t),
                            lf_json_get_str(orig, "task"));
  emit(s, LF_EVENT_TASK_CLONED, t, 0, NULL, from, NULL);
  lf_free(from);
  schedule_successors(s, idx, orig);
  return true;
}

static void launch_ready(lf_sched *s)
{
  while (!s->failed && !s->interrupted && s->qlen > 0) {
    size_t idx = s->queue[s->qhead];
    if (s->norigin > 0 && clone_head(s, idx)) {
      continue;
    }
    if (s->running >= s->o.max_workers) {
      break;
    }
    sched_task *t = s->tasks[idx];
    const lf_sched_step_conf *conf = conf_of(s, t);
    // First in, first out: a task waiting for resources holds back the ones behind it, so
    // a large task is not starved by small ones.
    if (!resources_fit(s, conf)) {
      break;
    }
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
    char tid[24];
    snprintf(tid, sizeof(tid), "%zu", t->id);
    char *inputs = inputs_text(s, t);
    lf_exec_task et = {
      .flow_path = s->o.flow_path,
      .step = step_name(s, t),
      .run_id = s->o.run_id,
      .task_id = tid,
      .attempt = t->attempt,
      .inputs = inputs,
      .split_index = t->split_index,
      .catch_from = t->catch_from,
      .datastore_root = s->o.datastore_root,
      .with = s->o.with,
    };
    lf_err err;
    lf_err_clear(&err);
    t->started_at = lf_time_now_us();
    // Running before launch: the executor may report the pid (and the start event) from
    // inside launch.
    t->state = T_RUNNING;
    t->timed_out = false;
    s->running++;
    s->n_running[t->step]++;
    s->cpu_used += conf->cpu;
    s->mem_used += conf->memory;
    lf_status st = s->exec.launch(s->exec.self, &et, t, &t->handle, &err);
    lf_free(inputs);
    if (st != LF_OK) {
      t->state = T_FAILED;
      s->running--;
      s->n_running[t->step]--;
      s->cpu_used -= conf->cpu;
      s->mem_used -= conf->memory;
      s->n_failed[t->step]++;
      fail_run(s, "step '%s': task %zu could not start: %s", step_name(s, t), t->id, err.msg);
      emit(s, LF_EVENT_TASK_FAILED, t, 0, NULL, err.msg, NULL);
      return;
    }
    if (conf->timeout > 0 && t->catch_from < 0) {
      start_timer(s, t, 1, conf->timeout, timeout_fired);
    }
  }
}

// A child of task `parent` at step `target`, with stack `stack`/`depth` and foreach index:
// either a new ready task or, if `target` is a join, an arrival at the top frame's barrier.
static void add_successor(lf_sched *s, size_t parent, int target, const frame *stack,
                          size_t depth, int split_index)
{
  const lf_dag_step *ts = lf_dag_step_at(s->o.dag, (size_t)target);
  if (ts->is_join) {
    LF_ASSERT(depth > 0);
    const frame *top = &stack[depth - 1];
    sched_task *split = s->tasks[top->split_task];
    if (split->arrived == NULL) {
      split->nbranches = top->count;
      split->arrived = lf_xmalloc((size_t)top->count * sizeof(size_t));
      for (int i = 0; i < top->count; i++) {
        split->arrived[i] = SIZE_MAX;
      }
    }
    LF_ASSERT(top->index >= 1 && top->index <= split->nbranches);
    LF_ASSERT(split->arrived[top->index - 1] == SIZE_MAX);
    split->arrived[top->index - 1] = parent;
    split->narrived++;
    if (split->narrived == split->nbranches) {
      sched_task *j = new_task(s, target, stack, depth - 1);
      j->inputs = split->arrived;
      j->ninputs = (size_t)split->nbranches;
      split->arrived = NULL;
      enqueue(s, j->id - 1);
    }
    return;
  }
  sched_task *c = new_task(s, target, stack, depth);
  c->inputs = lf_xmalloc(sizeof(size_t));
  c->inputs[0] = parent;
  c->ninputs = 1;
  c->split_index = split_index;
  enqueue(s, c->id - 1);
}

static void schedule_successors(lf_sched *s, size_t idx, const lf_json *rec)
{
  sched_task *t = s->tasks[idx];
  const lf_dag_step *st = lf_dag_step_at(s->o.dag, (size_t)t->step);
  if (st->kind == LF_STEP_END) {
    return;
  }
  frame *stack = lf_xmalloc((t->depth + 1) * sizeof(frame));
  if (t->depth > 0) {
    memcpy(stack, t->stack, t->depth * sizeof(frame));
  }
  if (st->kind == LF_STEP_FOREACH) {
    int64_t count = lf_json_get_int(rec, "foreach_count", -1);
    int target = lf_dag_find(s->o.dag, st->next[0]);
    const char *join =
      st->join_of_split >= 0 ? lf_dag_step_at(s->o.dag, (size_t)st->join_of_split)->name : "?";
    if (count < 0) {
      fail_run(s, "step '%s': task %zu did not report the width of its foreach", st->name,
               t->id);
    } else if (count == 0) {
      fail_run(s,
               "step '%s': foreach over '%s' is empty, so join '%s' would have no inputs; "
               "give it at least one item",
               st->name, st->foreach_var, join);
    } else if (count > s->o.max_num_splits) {
      fail_run(s,
               "step '%s': foreach over '%s' has %lld items, more than the limit of %d; raise "
               "it with --max-num-splits %lld",
               st->name, st->foreach_var, (long long)count, s->o.max_num_splits,
               (long long)count);
    } else {
      for (int64_t i = 1; i <= count; i++) {
        stack[t->depth] = (frame){.split_task = idx, .index = (int)i, .count = (int)count};
        add_successor(s, idx, target, stack, t->depth + 1, (int)i);
      }
    }
  } else if (st->kind == LF_STEP_SPLIT) {
    for (size_t b = 0; b < st->nnext; b++) {
      stack[t->depth] =
        (frame){.split_task = idx, .index = (int)b + 1, .count = (int)st->nnext};
      add_successor(s, idx, lf_dag_find(s->o.dag, st->next[b]), stack, t->depth + 1, 0);
    }
  } else {
    add_successor(s, idx, lf_dag_find(s->o.dag, st->next[0]), t->stack, t->depth, 0);
  }
  lf_free(stack);
}

// Index writes go into a transaction committed at most COMMIT_MS later (or at the end of
// the run): the index is a cache of the datastore, so a crash loses nothing that reindex
// cannot rebuild, and batching keeps the scheduler's per-task cost low.
#define COMMIT_MS 50

static void commit_index(lf_sched *s)
{
  if (!s->in_txn) {
    return;
  }
  s->in_txn = false;
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_commit(s->o.meta, &err) != LF_OK) {
    LF_LOGW("cannot update the metadata index: %s (run 'luaflow reindex')", err.msg);
  }
}

static void commit_cb(uv_timer_t *timer)
{
  commit_index(timer->data);
}

static void begin_index(lf_sched *s)
{
  if (s->o.meta == NULL || s->in_txn) {
    return;
  }
  lf_err err;
  lf_err_clear(&err);
  if (lf_meta_begin(s->o.meta, &err) != LF_OK) {
    LF_LOGW("cannot update the metadata index: %s", err.msg);
    return;
  }
  s->in_txn = true;
  uv_timer_start(&s->commit_timer, commit_cb, COMMIT_MS, 0);
}

static void store_logs_and_attempt(lf_sched *s, sched_task *t, bool ok, int64_t exit_status,
                                   int term_signal)
{
  char prefix[512];
  snprintf(prefix, sizeof(prefix), "%s/%s/%s/%zu/%d", s->o.flow_name, s->o.run_id,
           step_name(s, t), t->id, t->attempt);
  static const char *const names[2] = {"stdout", "stderr"};
  lf_err err;
  if (!ok && t->fail_msg != NULL) {
    // The stored log keeps the whole failure; the terminal shows a trimmed traceback.
    lf_dynbuf_addf(&t->logs[1], "%s\n", t->fail_msg);
    if (t->fail_tb != NULL) {
      lf_dynbuf_addf(&t->logs[1], "%s\n", t->fail_tb);
    }
  }
  for (int i = 0; i < 2; i++) {
    if (t->logs_truncated[i]) {
      lf_dynbuf_adds(&t->logs[i], "[luaflow: output truncated]\n");
    }
    // An empty stream stores nothing: a missing log reads as empty (files cost inodes).
    if (t->logs[i].len == 0) {
      continue;
    }
    char *key = lf_xasprintf("%s.%s", prefix, names[i]);
    lf_err_clear(&err);
    if (lf_store_put(s->o.store, key, t->logs[i].data, t->logs[i].len, &err) != LF_OK) {
      LF_LOGW("cannot save the %s of task %s: %s", names[i], key, err.msg);
    }
    lf_free(key);
  }
  if (ok) {
    // A committed attempt has no record of its own: task.json holds its pid and times, and
    // the index row is derived from it (reindex derives the same row).
    lf_dynbuf_free(&t->logs[0]);
    lf_dynbuf_free(&t->logs[1]);
    return;
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 30);
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
  lf_jw_str(&w, step_name(s, t));
  char tid[24];
  snprintf(tid, sizeof(tid), "%zu", t->id);
  lf_jw_key(&w, "task");
  lf_jw_str(&w, tid);
  lf_jw_key(&w, "attempt");
  lf_jw_int(&w, t->attempt);
  lf_jw_key(&w, "status");
  lf_jw_str(&w, ok ? "ok" : "failed");
  lf_jw_key(&w, "pid");
  lf_jw_int(&w, t->pid);
  lf_jw_key(&w, "started_at");
  lf_jw_int(&w, t->started_at);
  lf_jw_key(&w, "finished_at");
  lf_jw_int(&w, lf_time_now_us());
  lf_jw_key(&w, "exit_status");
  lf_jw_int(&w, exit_status);
  lf_jw_key(&w, "signal");
  lf_jw_int(&w, term_signal);
  lf_jw_key(&w, "error");
  if (ok) {
    lf_jw_null(&w);
  } else {
    lf_jw_obj_begin(&w);
    lf_jw_key(&w, "message");
    lf_jw_str(&w, t->fail_msg != NULL ? t->fail_msg : "");
    lf_jw_key(&w, "traceback");
    lf_jw_str(&w, t->fail_tb != NULL ? t->fail_tb : "");
    lf_jw_obj_end(&w);
  }
  lf_jw_key(&w, "logs");
  lf_jw_obj_begin(&w);
  char logname[32];
  snprintf(logname, sizeof(logname), "%d.stdout", t->attempt);
  lf_jw_key(&w, "stdout");
  lf_jw_str(&w, logname);
  snprintf(logname, sizeof(logname), "%d.stderr", t->attempt);
  lf_jw_key(&w, "stderr");
  lf_jw_str(&w, logname);
  lf_jw_obj_end(&w);
  lf_jw_obj_end(&w);
  char *key = lf_xasprintf("%s.attempt.json", prefix);
  lf_err_clear(&err);
  bool saved = lf_store_put(s->o.store, key, b.data, b.len, &err) == LF_OK;
  if (!saved) {
    LF_LOGW("cannot save the attempt record '%s': %s", key, err.msg);
  }
  lf_free(key);
  // The index holds only what the datastore holds, so reindex reproduces it.
  if (saved && s->o.meta != NULL) {
    begin_index(s);
    lf_err_clear(&err);
    lf_json *rec = lf_json_parse(b.data, b.len, &err);
    if (rec != NULL) {
      lf_err_clear(&err);
      if (lf_meta_put_attempt(s->o.meta, rec, &err) != LF_OK) {
        LF_LOGW("cannot index attempt of task %zu: %s", t->id, err.msg);
      }
      lf_json_free(rec);
    }
  }
  lf_dynbuf_free(&b);
  lf_dynbuf_free(&t->logs[0]);
  lf_dynbuf_free(&t->logs[1]);
}

void lf_sched_on_started(lf_sched *s, void *task_ud, int64_t pid)
{
  sched_task *t = task_ud;
  t->pid = pid;
  if (!s->stopping) {
    emit(s, LF_EVENT_TASK_STARTED, t, 0, NULL, NULL, NULL);
  }
}

void lf_sched_on_output(lf_sched *s, void *task_ud, int stream, const char *line, size_t len)
{
  sched_task *t = task_ud;
  if (s->stopping) {
    return;
  }
  int i = stream == 2 ? 1 : 0;
  if (!t->logs_truncated[i]) {
    if (!lf_dynbuf_add(&t->logs[i], line, len) || !lf_dynbuf_addc(&t->logs[i], '\n')) {
      t->logs_truncated[i] = true;
    }
  }
  // Lines carry no NUL for the event consumer; a copy is only made when one is needed.
  char small[1024];
  char *copy = len < sizeof(small) ? small : lf_xmalloc(len + 1);
  memcpy(copy, line, len);
  copy[len] = '\0';
  emit(s, LF_EVENT_TASK_OUTPUT, t, stream, copy, NULL, NULL);
  if (copy != small) {
    lf_free(copy);
  }
}

void lf_sched_on_message(lf_sched *s, void *task_ud, const char *data, size_t len)
{
  sched_task *t = task_ud;
  lf_err err;
  lf_err_clear(&err);
  lf_json *msg = lf_json_parse(data, len, &err);
  if (msg == NULL) {
    LF_LOGW("task %s/%zu sent a malformed message: %s", step_name(s, t), t->id, err.msg);
    return;
  }
  const char *type = lf_json_get_str(msg, "type");
  if (type != NULL && strcmp(type, "done") == 0) {
    const lf_json *rec = lf_json_get(msg, "record");
    if (rec != NULL && rec->type == LF_JSON_OBJECT) {
      lf_json_free(t->msg);
      t->msg = msg;
      return;
    }
  } else if (type != NULL && strcmp(type, "failed") == 0) {
    const char *m = lf_json_get_str(msg, "message");
    const char *tb = lf_json_get_str(msg, "traceback");
    lf_free(t->fail_msg);
    lf_free(t->fail_tb);
    t->fail_msg = lf_xstrdup(m != NULL ? m : "the step failed");
    t->fail_tb = tb != NULL ? lf_xstrdup(tb) : NULL;
  }
  lf_json_free(msg);
}

static bool run_finished(const lf_sched *s)
{
  return s->running == 0 && s->waiting == 0 && (s->qlen == 0 || s->failed || s->interrupted);
}

// Readies a failed task for its next attempt.
static void next_attempt(lf_sched *s, sched_task *t)
{
  (void)s;
  t->attempt++;
  t->state = T_READY;
  t->pid = 0;
  t->timed_out = false;
  lf_free(t->fail_msg);
  lf_free(t->fail_tb);
  t->fail_msg = NULL;
  t->fail_tb = NULL;
  t->logs_truncated[0] = false;
  t->logs_truncated[1] = false;
  lf_dynbuf_reset(&t->logs[0]);
  lf_dynbuf_reset(&t->logs[1]);
}

static void retry_fired(uv_timer_t *timer)
{
  sched_task *t = timer->data;
  lf_sched *s = t->sched;
  stop_timer(t);
  s->waiting--;
  if (!s->interrupted && !s->failed) {
    enqueue(s, t->id - 1);
    launch_ready(s);
  }
  if (run_finished(s)) {
    uv_stop(s->o.loop);
  }
}

void lf_sched_on_exit(lf_sched *s, void *task_ud, int64_t exit_status, int term_signal,
                      const char *protocol_error)
{
  sched_task *t = task_ud;
  size_t idx = t->id - 1;
  if (s->stopping) {
    t->handle = NULL;
    return;
  }
  s->running--;
  s->n_running[t->step]--;
  t->handle = NULL;
  const lf_sched_step_conf *conf = conf_of(s, t);
  s->cpu_used -= conf->cpu;
  s->mem_used -= conf->memory;
  stop_timer(t);
  const lf_json *rec = t->msg != NULL ? lf_json_get(t->msg, "record") : NULL;
  bool ok = exit_status == 0 && term_signal == 0 && rec != NULL && protocol_error == NULL &&
            !t->timed_out;
  if (t->timed_out) {
    lf_free(t->fail_msg);
    t->fail_msg = lf_xasprintf("timed out after %g s (the step's timeout option)", conf->timeout);
  }
  if (!ok && t->fail_msg == NULL) {
    if (protocol_error != NULL) {
      t->fail_msg = lf_xstrdup(protocol_error);
    } else if (term_signal == SIGKILL) {
      // Nobody here sent it: most likely the kernel's out-of-memory killer.
      t->fail_msg = lf_xasprintf("the task was killed by signal %d (%s; if nobody killed it, "
                                 "the system probably ran out of memory)",
                                 term_signal, strsignal(term_signal));
    } else if (term_signal != 0) {
      t->fail_msg = lf_xasprintf("the task was killed by signal %d (%s)", term_signal,
                                 strsignal(term_signal));
    } else if (exit_status != 0) {
      t->fail_msg = lf_xasprintf("the task exited with status %lld", (long long)exit_status);
    } else {
      t->fail_msg = lf_xstrdup("the task exited without reporting its result");
    }
  }
  store_logs_and_attempt(s, t, ok, exit_status, term_signal);
  if (ok) {
    t->state = T_DONE;
    s->n_done[t->step]++;
    if (s->o.meta != NULL) {
      lf_err err;
      lf_err_clear(&err);
      begin_index(s);
      if (lf_meta_put_task(s->o.meta, rec, &err) != LF_OK ||
          lf_meta_put_task_attempt(s->o.meta, rec, &err) != LF_OK) {
        LF_LOGW("cannot index task %s/%zu: %s", step_name(s, t), t->id, err.msg);
      }
    }
    emit(s, LF_EVENT_TASK_FINISHED, t, 0, NULL, NULL, NULL);
    if (!s->interrupted) {
      schedule_successors(s, idx, rec);
    }
  } else if (!s->interrupted && t->catch_from < 0 && t->attempt < conf->retries) {
    // Another attempt, after the delay.
    char *m = lf_xasprintf("%s; retrying (attempt %d of %d)", t->fail_msg, t->attempt + 2,
                           conf->retries + 1);
    emit(s, LF_EVENT_TASK_FAILED, t, 0, NULL, m, t->fail_tb);
    lf_free(m);
    next_attempt(s, t);
    if (conf->retry_delay > 0) {
      s->waiting++;
      start_timer(s, t, 3, conf->retry_delay, retry_fired);
    } else {
      enqueue(s, idx);
    }
  } else if (!s->interrupted && t->catch_from < 0 && conf->catch_var != NULL) {
    // The last attempt failed: commit the failure into the catch artifact and go on.
    char *m = lf_xasprintf("%s; caught in artifact '%s'", t->fail_msg, conf->catch_var);
    emit(s, LF_EVENT_TASK_FAILED, t, 0, NULL, m, t->fail_tb);
    lf_free(m);
    int failed = t->attempt;
    next_attempt(s, t);
    t->catch_from = failed;
    enqueue(s, idx);
  } else {
    t->state = T_FAILED;
    s->n_failed[t->step]++;
    if (!s->interrupted) {
      fail_run(s, "step '%s' (task %s/%s/%zu) failed: %s", step_name(s, t), s->o.run_id,
               step_name(s, t), t->id, t->fail_msg);
    }
    emit(s, LF_EVENT_TASK_FAILED, t, 0, NULL, t->fail_msg, t->fail_tb);
  }
  lf_json_free(t->msg);
  t->msg = NULL;
  launch_ready(s);
  if (run_finished(s)) {
    uv_stop(s->o.loop);
  }
}

lf_sched *lf_sched_new(const lf_sched_opts *opts)
{
  lf_sched *s = lf_xcalloc(1, sizeof(*s));
  s->o = *opts;
  if (s->o.max_workers <= 0) {
    s->o.max_workers = 16;
  }
  if (s->o.max_num_splits <= 0) {
    s->o.max_num_splits = 100;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  long pages = sysconf(_SC_PHYS_PAGES);
  long psize = sysconf(_SC_PAGESIZE);
  s->cores = ncpu > 0 ? (double)ncpu : 1.0;
  s->memory_mb = pages > 0 && psize > 0 ? (double)pages * (double)psize / 1048576.0 : 1024.0;
  size_t nsteps = lf_dag_count(s->o.dag);
  s->n_total = lf_xcalloc(nsteps, sizeof(int));
  s->n_done = lf_xcalloc(nsteps, sizeof(int));
  s->n_running = lf_xcalloc(nsteps, sizeof(int));
  s->n_failed = lf_xcalloc(nsteps, sizeof(int));
  s->exec = lf_sched_local_executor(s, s->o.loop, s->o.luaflow_bin);
  uv_timer_init(s->o.loop, &s->kill_timer);
  s->kill_timer.data = s;
  uv_timer_init(s->o.loop, &s->commit_timer);
  s->commit_timer.data = s;
  return s;
}

static void kill_timer_closed(uv_handle_t *h)
{
  (void)h;
}

void lf_sched_free(lf_sched *s)
{
  if (s == NULL) {
    return;
  }
  s->stopping = true;
  commit_index(s);
  for (size_t i = 0; i < s->ntasks; i++) {
    stop_timer(s->tasks[i]);
  }
  uv_close((uv_handle_t *)&s->kill_timer, kill_timer_closed);
  uv_close((uv_handle_t *)&s->commit_timer, kill_timer_closed);
  s->exec.free(s->exec.self);
  // Let close callbacks (and the fork server's exit) run so the loop holds no pointer into
  // `s` or the executor.
  uv_run(s->o.loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < s->ntasks; i++) {
    sched_task *t = s->tasks[i];
    lf_free(t->inputs);
    lf_free(t->stack);
    lf_free(t->arrived);
    lf_dynbuf_free(&t->logs[0]);
    lf_dynbuf_free(&t->logs[1]);
    lf_json_free(t->msg);
    lf_free(t->fail_msg);
    lf_free(t->fail_tb);
    lf_free(t);
  }
  lf_free(s->tasks);
  lf_free(s->queue);
  lf_free(s->n_total);
  lf_free(s->n_done);
  lf_free(s->n_running);
  lf_free(s->n_failed);
  lf_sched_clone_free(s);
  lf_free(s);
}

lf_status lf_sched_run(lf_sched *s, lf_err *err)
{
  lf_status cst = lf_sched_clone_load(s, err);
  if (cst != LF_OK) {
    lf_err_prefix(err, "cannot read run %s to resume it", s->o.origin_run);
    return cst;
  }
  int start = lf_dag_find(s->o.dag, "start");
  LF_ASSERT(start >= 0);
  sched_task *t = new_task(s, start, NULL, 0);
  enqueue(s, t->id - 1);
  launch_ready(s);
  if (!run_finished(s)) {
    uv_run(s->o.loop, UV_RUN_DEFAULT);
  }
  commit_index(s);
  if (s->interrupted) {
    return LF_ERR(err, LF_ERR_INTERRUPTED, "the run was interrupted");
  }
  if (s->failed) {
    return LF_ERR(err, LF_ERR_TASK, "%s", s->err.msg);
  }
  return LF_OK;
}

static void kill_now(uv_timer_t *timer)
{
  lf_sched *s = timer->data;
  for (size_t i = 0; i < s->ntasks; i++) {
    sched_task *t = s->tasks[i];
    if (t->state == T_RUNNING && t->handle != NULL) {
      s->exec.kill(s->exec.self, t->handle, SIGKILL);
    }
  }
}

void lf_sched_interrupt(lf_sched *s)
{
  if (s->interrupted) {
    kill_now(&s->kill_timer);
    return;
  }
  s->interrupted = true;
  for (size_t i = 0; i < s->ntasks; i++) {
    sched_task *t = s->tasks[i];
    if (t->state == T_RUNNING && t->handle != NULL) {
      s->exec.kill(s->exec.self, t->handle, SIGTERM);
    } else if (t->timer_stage == 3) {
      stop_timer(t);
      s->waiting--;
    }
  }
  uv_timer_start(&s->kill_timer, kill_now, KILL_GRACE_MS, 0);
  if (run_finished(s)) {
    uv_stop(s->o.loop);
  }
}
