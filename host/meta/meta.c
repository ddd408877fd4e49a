// SPDX-License-Identifier: MIT
// This file contains the writers of the metadata index: idempotent upserts of the rows a
// record describes, once meta_record.c has checked the whole record. Every put runs in its own
// transaction or savepoint, so a rejected record leaves the index untouched.
#include "meta/meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "meta/meta_internal.h"

#define NEXT_MAX (64 * 1024) // bytes of a task's joined `next` list

typedef lf_meta_rec rec; // the record being indexed, for messages

static lf_status write_run(lf_meta *meta, rec *r, const lf_meta_run_rec *run);
static lf_status write_task(lf_meta *meta, rec *r, const lf_meta_task_rec *t);
static lf_status write_task_children(lf_meta *meta, rec *r, int64_t task_id,
                                     const lf_meta_task_rec *t);
static lf_status write_attempt(lf_meta *meta, rec *r, const lf_meta_attempt_rec *a);
static lf_status need_run(lf_meta *meta, rec *r, const char *flow, int64_t run, int64_t *id);
static lf_status step_done(lf_meta *meta, sqlite3_stmt *st, rec *r);
static void bind_str(sqlite3_stmt *st, int idx, const char *s);
static void bind_opt_int(sqlite3_stmt *st, int idx, bool present, int64_t v);

lf_status lf_meta_put_run(lf_meta *meta, const lf_json *run_record, lf_err *err)
{
  rec r;
  lf_meta_run_rec run;
  lf_meta_rec_init(&r, "run", run_record, false, err);
  if (!lf_meta_parse_run(&r, run_record, &run)) {
    return LF_ERR_META;
  }
  if (lf_meta_tx_enter(meta, err) != LF_OK) {
    return LF_ERR_META;
  }
  lf_status st = write_run(meta, &r, &run);
  lf_status st2 = lf_meta_tx_leave(meta, st == LF_OK, err);
  return st != LF_OK ? st : st2;
}

lf_status lf_meta_put_task(lf_meta *meta, const lf_json *task_record, lf_err *err)
{
  rec r;
  lf_meta_task_rec t;
  lf_meta_rec_init(&r, "task", task_record, true, err);
  if (!lf_meta_parse_task(&r, task_record, &t)) {
    return LF_ERR_META;
  }
  if (lf_meta_tx_enter(meta, err) != LF_OK) {
    return LF_ERR_META;
  }
  lf_status st = write_task(meta, &r, &t);
  lf_status st2 = lf_meta_tx_leave(meta, st == LF_OK, err);
  return st != LF_OK ? st : st2;
}

lf_status lf_meta_put_attempt(lf_meta *meta, const lf_json *attempt_record, lf_err *err)
{
  rec r;
  lf_meta_attempt_rec a;
  lf_meta_rec_init(&r, "attempt", attempt_record, true, err);
  if (!lf_meta_parse_attempt(&r, attempt_record, &a)) {
    return LF_ERR_META;
  }
  if (lf_meta_tx_enter(meta, err) != LF_OK) {
    return LF_ERR_META;
  }
  lf_status st = write_attempt(meta, &r, &a);
  lf_status st2 = lf_meta_tx_leave(meta, st == LF_OK, err);
  return st != LF_OK ? st : st2;
}

lf_status lf_meta_delete_run(lf_meta *meta, const char *flow, const char *run_id, lf_err *err)
{
  int64_t run = 0;
  if (!lf_meta_parse_id(run_id, &run)) {
    return LF_OK; // no such run can be indexed
  }
  sqlite3_stmt *st = lf_meta_stmt(meta, LF_MST_RUN_DELETE,
                                  "DELETE FROM runs WHERE flow = ?1 AND run = ?2", err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  // In a transaction of its own (unless in the caller's): an autocommit statement that reads
  // before it writes can fail with SQLITE_BUSY_SNAPSHOT without waiting for the lock.
  if (lf_meta_tx_enter(meta, err) != LF_OK) {
    return LF_ERR_META;
  }
  bind_str(st, 1, flow);
  sqlite3_bind_int64(st, 2, run);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  lf_status s = LF_OK;
  if (rc != SQLITE_DONE) {
    s = lf_meta_sqlerr(meta, "cannot delete a run", err);
  }
  lf_status s2 = lf_meta_tx_leave(meta, s == LF_OK, err);
  return s != LF_OK ? s : s2;
}

lf_status lf_meta_find_run(lf_meta *meta, const char *flow, int64_t run, int64_t *id,
                           lf_err *err)
{
  sqlite3_stmt *st =
    lf_meta_stmt(meta, LF_MST_RUN_ID, "SELECT id FROM runs WHERE flow = ?1 AND run = ?2", err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  bind_str(st, 1, flow);
  sqlite3_bind_int64(st, 2, run);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
  }
  sqlite3_reset(st);
  if (rc == SQLITE_ROW) {
    return LF_OK;
  }
  if (rc == SQLITE_DONE) {
    return LF_ERR_NOTFOUND; // the caller words the message
  }
  return lf_meta_sqlerr(meta, "cannot look up a run", err);
}

lf_status lf_meta_find_task(lf_meta *meta, int64_t run_id, const char *step, int64_t task,
                            int64_t *id, lf_err *err)
{
  sqlite3_stmt *st = lf_meta_stmt(
    meta, LF_MST_TASK_ID, "SELECT id FROM tasks WHERE run_id = ?1 AND step = ?2 AND task = ?3",
    err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  sqlite3_bind_int64(st, 1, run_id);
  bind_str(st, 2, step);
  sqlite3_bind_int64(st, 3, task);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
  }
  sqlite3_reset(st);
  if (rc == SQLITE_ROW) {
    return LF_OK;
  }
  if (rc == SQLITE_DONE) {
    return LF_ERR_NOTFOUND;
  }
  return lf_meta_sqlerr(meta, "cannot look up a task", err);
}


static lf_status write_run(lf_meta *meta, rec *r, const lf_meta_run_rec *run)
{
  int64_t id = 0;
  lf_status s = lf_meta_find_run(meta, run->flow, run->run, &id, r->err);
  if (s != LF_OK && s != LF_ERR_NOTFOUND) {
    return s;
  }
  bool exists = s == LF_OK;
  // A plain UPDATE of an existing row, not INSERT OR REPLACE: REPLACE deletes the row first,
  // and the cascade would take the run's tasks and attempts with it.
  sqlite3_stmt *st =
    exists ? lf_meta_stmt(meta, LF_MST_RUN_UPDATE,
                          "UPDATE runs SET user = ?3, status = ?4, created_at = ?5, "
                          "finished_at = ?6, flow_file = ?7, origin_run = ?8 WHERE id = ?9",
                          r->err)
           : lf_meta_stmt(meta, LF_MST_RUN_INSERT,
                          "INSERT INTO runs (flow, run, user, status, created_at, finished_at, "
                          "flow_file, origin_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                          r->err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  if (!exists) {
    bind_str(st, 1, run->flow);
    sqlite3_bind_int64(st, 2, run->run);
  }
  bind_str(st, 3, run->user);
  bind_str(st, 4, run->status);
  sqlite3_bind_int64(st, 5, run->created_at);
  bind_opt_int(st, 6, run->has_finished, run->finished_at);
  bind_str(st, 7, run->flow_file);
  bind_str(st, 8, run->origin_run);
  if (exists) {
    sqlite3_bind_int64(st, 9, id);
  }
  if (step_done(meta, st, r) != LF_OK) {
    return LF_ERR_META;
  }
  if (!exists) {
    id = sqlite3_last_insert_rowid(meta->db);
  } else {
    st = lf_meta_stmt(meta, LF_MST_TAGS_DELETE, "DELETE FROM run_tags WHERE run_id = ?1", r->err);
    if (st == NULL) {
      return LF_ERR_META;
    }
    sqlite3_bind_int64(st, 1, id);
    if (step_done(meta, st, r) != LF_OK) {
      return LF_ERR_META;
    }
  }
  const lf_json *lists[2] = {run->tags, run->system_tags};
  for (int sys = 0; sys < 2; sys++) {
    for (size_t i = 0; lists[sys] != NULL && i < lists[sys]->n; i++) {
      // OR IGNORE: a tag listed twice in one record is one tag.
      st = lf_meta_stmt(meta, LF_MST_TAG_INSERT,
                        "INSERT OR IGNORE INTO run_tags (run_id, tag, system) VALUES (?1, ?2, ?3)",
                        r->err);
      if (st == NULL) {
        return LF_ERR_META;
      }
      sqlite3_bind_int64(st, 1, id);
      bind_str(st, 2, lists[sys]->items[i]->s);
      sqlite3_bind_int(st, 3, sys);
      if (step_done(meta, st, r) != LF_OK) {
        return LF_ERR_META;
      }
    }
  }
  return LF_OK;
}

static lf_status write_task(lf_meta *meta, rec *r, const lf_meta_task_rec *t)
{
  int64_t run_id = 0;
  if (need_run(meta, r, t->key.flow, t->key.run, &run_id) != LF_OK) {
    return LF_ERR_META;
  }
  int64_t id = 0;
  lf_status s = lf_meta_find_task(meta, run_id, t->key.step, t->key.task, &id, r->err);
  if (s != LF_OK && s != LF_ERR_NOTFOUND) {
    return s;
  }
  bool exists = s == LF_OK;
  lf_dynbuf next;
  lf_dynbuf_init(&next, NEXT_MAX);
  lf_dynbuf_adds(&next, ""); // "" rather than NULL for a task without successors
  for (size_t i = 0; t->next != NULL && i < t->next->n; i++) {
    if ((i > 0 && !lf_dynbuf_addc(&next, ' ')) || !lf_dynbuf_adds(&next, t->next->items[i]->s)) {
      lf_dynbuf_free(&next);
      lf_meta_rec_fail(r, "field 'next' is longer than %d bytes", NEXT_MAX);
      return LF_ERR_META;
    }
  }
  sqlite3_stmt *st =
    exists ? lf_meta_stmt(meta, LF_MST_TASK_UPDATE,
                          "UPDATE tasks SET attempt = ?4, status = ?5, pid = ?6, "
                          "started_at = ?7, finished_at = ?8, next_steps = ?9, "
                          "foreach_count = ?10, origin = ?11 WHERE id = ?12",
                          r->err)
           : lf_meta_stmt(meta, LF_MST_TASK_INSERT,
                          "INSERT INTO tasks (run_id, step, task, attempt, status, pid, "
                          "started_at, finished_at, next_steps, foreach_count, origin) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                          r->err);
  if (st == NULL) {
    lf_dynbuf_free(&next);
    return LF_ERR_META;
  }
  if (!exists) {
    sqlite3_bind_int64(st, 1, run_id);
    bind_str(st, 2, t->key.step);
    sqlite3_bind_int64(st, 3, t->key.task);
  }
  sqlite3_bind_int64(st, 4, t->attempt);
  bind_str(st, 5, t->status);
  bind_opt_int(st, 6, t->has_pid, t->pid);
  sqlite3_bind_int64(st, 7, t->started_at);
  sqlite3_bind_int64(st, 8, t->finished_at);
  sqlite3_bind_text(st, 9, next.data, (int)next.len, SQLITE_TRANSIENT);
  bind_opt_int(st, 10, t->has_foreach_count, t->foreach_count);
  bind_str(st, 11, t->origin);
  if (exists) {
    sqlite3_bind_int64(st, 12, id);
  }
  s = step_done(meta, st, r);
  lf_dynbuf_free(&next);
  if (s != LF_OK) {
    return s;
  }
  if (exists) {
    // A re-indexed record replaces its children; a new task has none to delete.
    static const struct {
      lf_meta_stmt_id id;
      const char *sql;
    } dels[] = {
      {LF_MST_INPUTS_DELETE, "DELETE FROM task_inputs WHERE task_id = ?1"},
      {LF_MST_FOREACH_DELETE, "DELETE FROM task_foreach WHERE task_id = ?1"},
      {LF_MST_ARTIFACTS_DELETE, "DELETE FROM artifacts WHERE task_id = ?1"},
    };
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]); i++) {
      st = lf_meta_stmt(meta, dels[i].id, dels[i].sql, r->err);
      if (st == NULL) {
        return LF_ERR_META;
      }
      sqlite3_bind_int64(st, 1, id);
      if (step_done(meta, st, r) != LF_OK) {
        return LF_ERR_META;
      }
    }
  } else {
    id = sqlite3_last_insert_rowid(meta->db);
  }
  return write_task_children(meta, r, id, t);
}

static lf_status write_task_children(lf_meta *meta, rec *r, int64_t task_id,
                                     const lf_meta_task_rec *t)
{
  sqlite3_stmt *st = NULL;
  for (size_t i = 0; t->inputs != NULL && i < t->inputs->n; i++) {
    const char *s = t->inputs->items[i]->s;
    const char *end = NULL;
    int64_t task = 0;
    lf_meta_split_input(s, &end, &task); // validated by check_inputs
    st = lf_meta_stmt(meta, LF_MST_INPUT_INSERT,
                      "INSERT INTO task_inputs (task_id, pos, input_step, input_task) "
                      "VALUES (?1, ?2, ?3, ?4)",
                      r->err);
    if (st == NULL) {
      return LF_ERR_META;
    }
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, (int64_t)i);
    sqlite3_bind_text(st, 3, s, (int)(end - s), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, task);
    if (step_done(meta, st, r) != LF_OK) {
      return LF_ERR_META;
    }
  }
  for (size_t i = 0; t->foreach != NULL && i < t->foreach->n; i++) {
    const lf_json *f = t->foreach->items[i];
    int64_t split_task = 0;
    lf_meta_parse_id(lf_json_get_str(f, "task"), &split_task); // validated by check_foreach
    st = lf_meta_stmt(meta, LF_MST_FOREACH_INSERT,
                      "INSERT INTO task_foreach (task_id, depth, split_step, split_task, idx, "
                      "count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      r->err);
    if (st == NULL) {
      return LF_ERR_META;
    }
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, (int64_t)i);
    bind_str(st, 3, lf_json_get_str(f, "step"));
    sqlite3_bind_int64(st, 4, split_task);
    sqlite3_bind_int64(st, 5, lf_json_get_int(f, "index", 0));
    sqlite3_bind_int64(st, 6, lf_json_get_int(f, "count", 0));
    if (step_done(meta, st, r) != LF_OK) {
      return LF_ERR_META;
    }
  }
  const lf_json *arts = t->artifacts;
  for (size_t i = 0; i < arts->n; i++) {
    st = lf_meta_stmt(meta, LF_MST_ARTIFACT_INSERT,
                      "INSERT INTO artifacts (task_id, name, sha, type, size) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
                      r->err);
    if (st == NULL) {
      return LF_ERR_META;
    }
    sqlite3_bind_int64(st, 1, task_id);
    bind_str(st, 2, arts->keys[i]);
    bind_str(st, 3, lf_json_get_str(arts->items[i], "sha"));
    bind_str(st, 4, lf_json_get_str(arts->items[i], "type"));
    sqlite3_bind_int64(st, 5, lf_json_get_int(arts->items[i], "size", 0));
    if (step_done(meta, st, r) != LF_OK) {
      return LF_ERR_META;
    }
  }
  return LF_OK;
}

static lf_status write_attempt(lf_meta *meta, rec *r, const lf_meta_attempt_rec *a)
{
  int64_t run_id = 0;
  if (need_run(meta, r, a->key.flow, a->key.run, &run_id) != LF_OK) {
    return LF_ERR_META;
  }
  // No child rows, so a real upsert is enough here.
  sqlite3_stmt *st = lf_meta_stmt(
    meta, LF_MST_ATTEMPT_UPSERT,
    "INSERT INTO attempts (run_id, step, task, attempt, status, pid, started_at, finished_at, "
    "exit_status, signal, error_message, error_traceback, stdout_log, stderr_log) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
    "ON CONFLICT (run_id, step, task, attempt) DO UPDATE SET status = excluded.status, "
    "pid = excluded.pid, started_at = excluded.started_at, finished_at = excluded.finished_at, "
    "exit_status = excluded.exit_status, signal = excluded.signal, "
    "error_message = excluded.error_message, error_traceback = excluded.error_traceback, "
    "stdout_log = excluded.stdout_log, stderr_log = excluded.stderr_log",
    r->err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  sqlite3_bind_int64(st, 1, run_id);
  bind_str(st, 2, a->key.step);
  sqlite3_bind_int64(st, 3, a->key.task);
  sqlite3_bind_int64(st, 4, a->attempt);
  bind_str(st, 5, a->status);
  bind_opt_int(st, 6, a->has_pid, a->pid);
  sqlite3_bind_int64(st, 7, a->started_at);
  sqlite3_bind_int64(st, 8, a->finished_at);
  bind_opt_int(st, 9, a->has_exit_status, a->exit_status);
  bind_opt_int(st, 10, a->has_signal, a->signal);
  bind_str(st, 11, a->error_message);
  bind_str(st, 12, a->error_traceback);
  bind_str(st, 13, a->stdout_log);
  bind_str(st, 14, a->stderr_log);
  return step_done(meta, st, r);
}

static lf_status need_run(lf_meta *meta, rec *r, const char *flow, int64_t run, int64_t *id)
{
  lf_status s = lf_meta_find_run(meta, flow, run, id, r->err);
  if (s == LF_ERR_NOTFOUND) {
    lf_meta_rec_fail(r, "run '%s/%" PRId64 "' is not in the index (index its run record first)",
                     flow, run);
    return LF_ERR_META;
  }
  return s;
}

// Runs a statement that returns no rows and resets it, so it holds no locks afterwards.
static lf_status step_done(lf_meta *meta, sqlite3_stmt *st, rec *r)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    char what[300];
    snprintf(what, sizeof(what), "cannot index %s record '%s'", r->kind, r->label);
    return lf_meta_sqlerr(meta, what, r->err);
  }
  return LF_OK;
}

static void bind_str(sqlite3_stmt *st, int idx, const char *s)
{
  if (s == NULL) {
    sqlite3_bind_null(st, idx);
  } else {
    // STATIC: the records outlive the statement's execution (reset before returning).
    sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
  }
}

static void bind_opt_int(sqlite3_stmt *st, int idx, bool present, int64_t v)
{
  if (present) {
    sqlite3_bind_int64(st, idx, v);
  } else {
    sqlite3_bind_null(st, idx);
  }
}
