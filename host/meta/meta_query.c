// SPDX-License-Identifier: MIT
// This file contains the readers of the metadata index: latest run, runs by user and tags,
// run info, steps and tasks of a run, artifacts of a task, and the canonical dump that tests
// and `luaflow reindex` checks compare. Multi-statement reads run inside one read
// transaction so they see one snapshot while the scheduler keeps writing.
#include "meta/meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "meta/meta_internal.h"

#define SQL_MAX (64 * 1024) // bytes of a generated list_runs query

// Per table: the rows with natural keys instead of surrogate ids, fully ordered.
static const struct {
  const char *table;
  const char *sql;
} dumps[] = {
  {"runs",
   "SELECT flow, run, user, status, created_at, finished_at, flow_file, origin_run FROM runs "
   "ORDER BY flow, run"},
  {"run_tags",
   "SELECT r.flow, r.run, g.system, g.tag FROM run_tags g JOIN runs r ON r.id = g.run_id "
   "ORDER BY r.flow, r.run, g.system, g.tag"},
  {"tasks",
   "SELECT r.flow, r.run, t.step, t.task, t.attempt, t.status, t.pid, t.started_at, "
   "t.finished_at, t.next_steps, t.foreach_count, t.origin FROM tasks t "
   "JOIN runs r ON r.id = t.run_id ORDER BY r.flow, r.run, t.step, t.task"},
  {"task_inputs",
   "SELECT r.flow, r.run, t.step, t.task, i.pos, i.input_step, i.input_task FROM task_inputs i "
   "JOIN tasks t ON t.id = i.task_id JOIN runs r ON r.id = t.run_id "
   "ORDER BY r.flow, r.run, t.step, t.task, i.pos"},
  {"task_foreach",
   "SELECT r.flow, r.run, t.step, t.task, f.depth, f.split_step, f.split_task, f.idx, f.count "
   "FROM task_foreach f JOIN tasks t ON t.id = f.task_id JOIN runs r ON r.id = t.run_id "
   "ORDER BY r.flow, r.run, t.step, t.task, f.depth"},
  {"artifacts",
   "SELECT r.flow, r.run, t.step, t.task, a.name, a.sha, a.type, a.size FROM artifacts a "
   "JOIN tasks t ON t.id = a.task_id JOIN runs r ON r.id = t.run_id "
   "ORDER BY r.flow, r.run, t.step, t.task, a.name"},
  {"attempts",
   "SELECT r.flow, r.run, a.step, a.task, a.attempt, a.status, a.pid, a.started_at, "
   "a.finished_at, a.exit_status, a.signal, a.error_message, a.error_traceback, a.stdout_log, "
   "a.stderr_log FROM attempts a JOIN runs r ON r.id = a.run_id "
   "ORDER BY r.flow, r.run, a.step, a.task, a.attempt"},
};

#define RUN_COLUMNS                                                                        \
  "r.id, r.flow, r.run, r.user, r.status, r.created_at, r.finished_at, r.flow_file, " \
  "r.origin_run"

// Steps of one run with the earliest start among their tasks and attempts.
#define STEP_FIRST_CTE                                                                   \
  "s AS (SELECT step, MIN(started_at) AS first FROM ("                                  \
  "SELECT step, started_at FROM tasks WHERE run_id = ?1 UNION ALL "                     \
  "SELECT step, started_at FROM attempts WHERE run_id = ?1) GROUP BY step)"

static lf_status read_begin(lf_meta *meta, bool *began, lf_err *err);
static void read_end(lf_meta *meta, bool began);
static lf_status resolve_run(lf_meta *meta, const char *flow, const char *run_id, int64_t *id,
                             lf_err *err);
static lf_status read_run(lf_meta *meta, sqlite3_stmt *st, lf_meta_run *out, lf_err *err);
static lf_status read_tags(lf_meta *meta, int64_t id, lf_meta_run *out, lf_err *err);
static lf_status run_list_sql(const lf_meta_run_filter *f, lf_dynbuf *sql, lf_err *err);
static lf_status collect_strings(lf_meta *meta, sqlite3_stmt *st, lf_meta_strings *out,
                                 lf_err *err);
static void strings_push(lf_meta_strings *list, size_t *cap, const char *s);
static char *col_str(sqlite3_stmt *st, int col);
static int64_t col_int(sqlite3_stmt *st, int col);
static bool dump_row(sqlite3_stmt *st, lf_dynbuf *out);
static bool dump_text(lf_dynbuf *out, const unsigned char *s, int n);
static lf_status dump_check_tables(lf_meta *meta, lf_err *err);

lf_status lf_meta_latest_run(lf_meta *meta, const char *flow, bool successful_only,
                             const char *user, char **run_id, lf_err *err)
{
  *run_id = NULL;
  sqlite3_stmt *st = NULL;
  // Four statements rather than one with "?2 IS NULL OR user = ?2": each is a single probe
  // of its own index (UNIQUE (flow, run), runs_by_status, runs_by_user).
  if (user == NULL && !successful_only) {
    st = lf_meta_stmt(meta, LF_MST_LATEST_ANY,
                      "SELECT run FROM runs WHERE flow = ?1 ORDER BY run DESC LIMIT 1", err);
  } else if (user == NULL) {
    st = lf_meta_stmt(meta, LF_MST_LATEST_OK,
                      "SELECT run FROM runs WHERE flow = ?1 AND status = 'ok' "
                      "ORDER BY run DESC LIMIT 1",
                      err);
  } else if (!successful_only) {
    st = lf_meta_stmt(meta, LF_MST_LATEST_USER_ANY,
                      "SELECT run FROM runs WHERE flow = ?1 AND user = ?2 "
                      "ORDER BY run DESC LIMIT 1",
                      err);
  } else {
    st = lf_meta_stmt(meta, LF_MST_LATEST_USER_OK,
                      "SELECT run FROM runs WHERE flow = ?1 AND user = ?2 AND status = 'ok' "
                      "ORDER BY run DESC LIMIT 1",
                      err);
  }
  if (st == NULL) {
    return LF_ERR_META;
  }
  sqlite3_bind_text(st, 1, flow, -1, SQLITE_STATIC);
  if (user != NULL) {
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
  }
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *run_id = col_str(st, 0);
  }
  sqlite3_reset(st);
  if (rc == SQLITE_ROW) {
    return LF_OK;
  }
  if (rc != SQLITE_DONE) {
    return lf_meta_sqlerr(meta, "cannot find the latest run", err);
  }
  if (user != NULL) {
    return LF_ERR(err, LF_ERR_NOTFOUND, "no %srun of flow '%s' by user '%s'",
                  successful_only ? "successful " : "", flow, user);
  }
  return LF_ERR(err, LF_ERR_NOTFOUND, "no %srun of flow '%s'",
                successful_only ? "successful " : "", flow);
}

lf_status lf_meta_list_runs(lf_meta *meta, const char *flow, const lf_meta_run_filter *filter,
                            lf_meta_run_list *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  lf_meta_run_filter none = {0};
  const lf_meta_run_filter *f = filter != NULL ? filter : &none;
  lf_dynbuf sql;
  lf_dynbuf_init(&sql, SQL_MAX);
  // The statement depends on which filters are set, so it is built and prepared per call;
  // preparing costs tens of microseconds, small next to reading the rows.
  if (run_list_sql(f, &sql, err) != LF_OK) {
    lf_dynbuf_free(&sql);
    return LF_ERR_USAGE;
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(meta->db, sql.data, (int)sql.len, &st, NULL) != SQLITE_OK) {
    lf_dynbuf_free(&sql);
    return lf_meta_sqlerr(meta, "cannot prepare the run listing", err);
  }
  lf_dynbuf_free(&sql);
  int idx = 1;
  sqlite3_bind_text(st, idx++, flow, -1, SQLITE_STATIC);
  if (f->user != NULL) {
    sqlite3_bind_text(st, idx++, f->user, -1, SQLITE_STATIC);
  }
  for (size_t i = 0; i < f->n_tags; i++) {
    sqlite3_bind_text(st, idx++, f->tags[i], -1, SQLITE_STATIC);
  }
  if (f->limit > 0) {
    sqlite3_bind_int64(st, idx++, f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
  }
  bool began = false;
  lf_status s = read_begin(meta, &began, err);
  size_t cap = 0;
  while (s == LF_OK) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
      break;
    }
    if (rc != SQLITE_ROW) {
      s = lf_meta_sqlerr(meta, "cannot list runs", err);
      break;
    }
    if (out->count == cap) {
      cap = cap != 0 ? cap * 2 : 16;
      out->items = lf_xrealloc(out->items, cap * sizeof(*out->items));
    }
    lf_meta_run *r = &out->items[out->count++];
    memset(r, 0, sizeof(*r));
    s = read_run(meta, st, r, err);
  }
  sqlite3_finalize(st);
  read_end(meta, began);
  if (s != LF_OK) {
    lf_meta_run_list_destroy(out);
  }
  return s;
}

lf_status lf_meta_run_info(lf_meta *meta, const char *flow, const char *run_id,
                           lf_meta_run *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  int64_t run = 0;
  if (!lf_meta_parse_id(run_id, &run)) {
    return LF_ERR(err, LF_ERR_NOTFOUND, "no run '%s/%s'", flow, run_id);
  }
  sqlite3_stmt *st = lf_meta_stmt(meta, LF_MST_RUN_INFO,
                                  "SELECT " RUN_COLUMNS " FROM runs r "
                                  "WHERE r.flow = ?1 AND r.run = ?2",
                                  err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  sqlite3_bind_text(st, 1, flow, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, run);
  bool began = false;
  lf_status s = read_begin(meta, &began, err);
  if (s == LF_OK) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      s = read_run(meta, st, out, err);
    } else if (rc == SQLITE_DONE) {
      s = LF_ERR(err, LF_ERR_NOTFOUND, "no run '%s/%s'", flow, run_id);
    } else {
      s = lf_meta_sqlerr(meta, "cannot read a run", err);
    }
  }
  sqlite3_reset(st);
  read_end(meta, began);
  if (s != LF_OK) {
    lf_meta_run_destroy(out);
  }
  return s;
}

lf_status lf_meta_list_flows(lf_meta *meta, lf_meta_strings *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  sqlite3_stmt *st = lf_meta_stmt(meta, LF_MST_FLOWS,
                                  "SELECT DISTINCT flow FROM runs ORDER BY flow", err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  return collect_strings(meta, st, out, err);
}

lf_status lf_meta_list_steps(lf_meta *meta, const char *flow, const char *run_id,
                             lf_meta_strings *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  bool began = false;
  int64_t id = 0;
  lf_status s = read_begin(meta, &began, err);
  if (s == LF_OK) {
    s = resolve_run(meta, flow, run_id, &id, err);
  }
  sqlite3_stmt *st = NULL;
  if (s == LF_OK) {
    st = lf_meta_stmt(meta, LF_MST_STEPS,
                      "WITH " STEP_FIRST_CTE " SELECT step FROM s WHERE step NOT GLOB '_*' "
                      "ORDER BY first, step",
                      err);
    s = st != NULL ? LF_OK : LF_ERR_META;
  }
  if (s == LF_OK) {
    sqlite3_bind_int64(st, 1, id);
    s = collect_strings(meta, st, out, err);
  }
  read_end(meta, began);
  return s;
}

lf_status lf_meta_list_tasks(lf_meta *meta, const char *flow, const char *run_id,
                             const char *step, lf_meta_task_list *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  bool began = false;
  int64_t id = 0;
  lf_status s = read_begin(meta, &began, err);
  if (s == LF_OK) {
    s = resolve_run(meta, flow, run_id, &id, err);
  }
  sqlite3_stmt *st = NULL;
  if (s == LF_OK) {
    // Committed tasks from `tasks`; tasks that never committed from their latest attempt.
    st = lf_meta_stmt(
      meta, LF_MST_TASKS,
      "WITH " STEP_FIRST_CTE ", u AS ("
      "SELECT step, task, status, attempt, pid, started_at, finished_at, origin, 1 AS committed "
      "FROM tasks WHERE run_id = ?1 UNION ALL "
      "SELECT a.step, a.task, a.status, a.attempt, a.pid, a.started_at, a.finished_at, NULL, 0 "
      "FROM attempts a WHERE a.run_id = ?1 "
      "AND a.attempt = (SELECT MAX(b.attempt) FROM attempts b WHERE b.run_id = a.run_id "
      "AND b.step = a.step AND b.task = a.task) "
      "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = a.run_id AND t.step = a.step "
      "AND t.task = a.task)) "
      "SELECT u.step, u.task, u.status, u.attempt, u.pid, u.started_at, u.finished_at, "
      "u.origin, u.committed FROM u JOIN s ON s.step = u.step "
      "WHERE CASE WHEN ?2 IS NULL THEN u.step NOT GLOB '_*' ELSE u.step = ?2 END "
      "ORDER BY s.first, u.step, u.task",
      err);
    s = st != NULL ? LF_OK : LF_ERR_META;
  }
  if (s == LF_OK) {
    sqlite3_bind_int64(st, 1, id);
    if (step != NULL) {
      sqlite3_bind_text(st, 2, step, -1, SQLITE_STATIC);
    }
  }
  size_t cap = 0;
  while (s == LF_OK) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
      break;
    }
    if (rc != SQLITE_ROW) {
      s = lf_meta_sqlerr(meta, "cannot list tasks", err);
      break;
    }
    if (out->count == cap) {
      cap = cap != 0 ? cap * 2 : 16;
      out->items = lf_xrealloc(out->items, cap * sizeof(*out->items));
    }
    lf_meta_task *t = &out->items[out->count++];
    t->step = col_str(st, 0);
    t->task_id = col_str(st, 1);
    t->status = col_str(st, 2);
    t->attempt = col_int(st, 3);
    t->pid = col_int(st, 4);
    t->started_at = col_int(st, 5);
    t->finished_at = col_int(st, 6);
    t->origin = col_str(st, 7);
    t->committed = col_int(st, 8) != 0;
  }
  if (st != NULL) {
    sqlite3_reset(st);
  }
  read_end(meta, began);
  if (s == LF_OK && step != NULL && out->count == 0) {
    s = LF_ERR(err, LF_ERR_NOTFOUND, "no step '%s/%s/%s'", flow, run_id, step);
  }
  if (s != LF_OK) {
    lf_meta_task_list_destroy(out);
  }
  return s;
}

lf_status lf_meta_task_artifacts(lf_meta *meta, const char *flow, const char *run_id,
                                 const char *step, const char *task_id,
                                 lf_meta_artifact_list *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  bool began = false;
  int64_t run = 0;
  int64_t task = 0;
  int64_t tid = 0;
  lf_status s = read_begin(meta, &began, err);
  if (s == LF_OK) {
    s = resolve_run(meta, flow, run_id, &run, err);
  }
  if (s == LF_OK) {
    s = lf_meta_parse_id(task_id, &task) ? lf_meta_find_task(meta, run, step, task, &tid, err)
                                         : LF_ERR_NOTFOUND;
    if (s == LF_ERR_NOTFOUND) {
      LF_ERR(err, s, "no task '%s/%s/%s/%s'", flow, run_id, step, task_id);
    }
  }
  sqlite3_stmt *st = NULL;
  if (s == LF_OK) {
    st = lf_meta_stmt(meta, LF_MST_ARTIFACTS,
                      "SELECT name, sha, type, size FROM artifacts WHERE task_id = ?1 "
                      "ORDER BY name",
                      err);
    s = st != NULL ? LF_OK : LF_ERR_META;
  }
  if (s == LF_OK) {
    sqlite3_bind_int64(st, 1, tid);
  }
  size_t cap = 0;
  while (s == LF_OK) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
      break;
    }
    if (rc != SQLITE_ROW) {
      s = lf_meta_sqlerr(meta, "cannot list artifacts", err);
      break;
    }
    if (out->count == cap) {
      cap = cap != 0 ? cap * 2 : 16;
      out->items = lf_xrealloc(out->items, cap * sizeof(*out->items));
    }
    lf_meta_artifact *a = &out->items[out->count++];
    memset(a, 0, sizeof(*a));
    a->name = col_str(st, 0);
    const unsigned char *sha = sqlite3_column_text(st, 1);
    snprintf(a->sha, sizeof(a->sha), "%s", sha != NULL ? (const char *)sha : "");
    const unsigned char *type = sqlite3_column_text(st, 2);
    if (type == NULL || !lf_meta_type_parse((const char *)type, &a->type)) {
      s = LF_ERR(err, LF_ERR_CORRUPT, "artifact '%s' of task '%s/%s/%s/%s' has unknown type '%s'",
                 a->name, flow, run_id, step, task_id, type != NULL ? (const char *)type : "");
      break;
    }
    a->type_name = lf_meta_type_name(a->type);
    a->size = col_int(st, 3);
  }
  if (st != NULL) {
    sqlite3_reset(st);
  }
  read_end(meta, began);
  if (s != LF_OK) {
    lf_meta_artifact_list_destroy(out);
  }
  return s;
}

lf_status lf_meta_dump(lf_meta *meta, lf_dynbuf *out, lf_err *err)
{
  bool began = false;
  lf_status s = read_begin(meta, &began, err);
  if (s == LF_OK) {
    s = dump_check_tables(meta, err);
  }
  if (s == LF_OK &&
      !lf_dynbuf_addf(out, "luaflow meta dump, schema %d\n", LF_META_SCHEMA_VERSION)) {
    s = LF_ERR(err, LF_ERR_NOMEM, "index dump exceeds %zu bytes", out->max);
  }
  for (size_t k = 0; s == LF_OK && k < sizeof(dumps) / sizeof(dumps[0]); k++) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(meta->db, dumps[k].sql, -1, &st, NULL) != SQLITE_OK) {
      s = lf_meta_sqlerr(meta, "cannot prepare the dump", err);
      break;
    }
    bool ok = lf_dynbuf_addf(out, "[%s]", dumps[k].table);
    for (int c = 0; ok && c < sqlite3_column_count(st); c++) {
      ok = lf_dynbuf_addf(out, " %s", sqlite3_column_name(st, c));
    }
    ok = ok && lf_dynbuf_addc(out, '\n');
    int rc = SQLITE_ROW;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      ok = dump_row(st, out);
    }
    if (!ok) {
      s = LF_ERR(err, LF_ERR_NOMEM, "index dump exceeds %zu bytes", out->max);
    } else if (rc != SQLITE_DONE) {
      s = lf_meta_sqlerr(meta, "cannot dump the index", err);
    }
    sqlite3_finalize(st);
  }
  read_end(meta, began);
  return s;
}

void lf_meta_strings_destroy(lf_meta_strings *list)
{
  if (list == NULL) {
    return;
  }
  for (size_t i = 0; i < list->count; i++) {
    lf_free(list->items[i]);
  }
  lf_free(list->items);
  list->items = NULL;
  list->count = 0;
}

void lf_meta_run_destroy(lf_meta_run *run)
{
  if (run == NULL) {
    return;
  }
  lf_free(run->flow);
  lf_free(run->run_id);
  lf_free(run->user);
  lf_free(run->status);
  lf_free(run->flow_file);
  lf_free(run->origin_run);
  lf_meta_strings_destroy(&run->tags);
  lf_meta_strings_destroy(&run->system_tags);
  memset(run, 0, sizeof(*run));
}

void lf_meta_run_list_destroy(lf_meta_run_list *list)
{
  if (list == NULL) {
    return;
  }
  for (size_t i = 0; i < list->count; i++) {
    lf_meta_run_destroy(&list->items[i]);
  }
  lf_free(list->items);
  list->items = NULL;
  list->count = 0;
}

void lf_meta_task_list_destroy(lf_meta_task_list *list)
{
  if (list == NULL) {
    return;
  }
  for (size_t i = 0; i < list->count; i++) {
    lf_free(list->items[i].step);
    lf_free(list->items[i].task_id);
    lf_free(list->items[i].status);
    lf_free(list->items[i].origin);
  }
  lf_free(list->items);
  list->items = NULL;
  list->count = 0;
}

void lf_meta_artifact_list_destroy(lf_meta_artifact_list *list)
{
  if (list == NULL) {
    return;
  }
  for (size_t i = 0; i < list->count; i++) {
    lf_free(list->items[i].name);
  }
  lf_free(list->items);
  list->items = NULL;
  list->count = 0;
}

// A read transaction gives multi-statement reads one snapshot. Inside a write transaction of
// the caller the reads already share one, so nothing is started.
static lf_status read_begin(lf_meta *meta, bool *began, lf_err *err)
{
  *began = false;
  if (meta->depth > 0 || !sqlite3_get_autocommit(meta->db)) {
    return LF_OK;
  }
  if (lf_meta_exec(meta, "BEGIN", err) != LF_OK) {
    return LF_ERR_META;
  }
  *began = true;
  return LF_OK;
}

static void read_end(lf_meta *meta, bool began)
{
  if (began && !sqlite3_get_autocommit(meta->db)) {
    // Ending a read-only transaction cannot lose anything; ROLLBACK never waits for locks.
    (void)sqlite3_exec(meta->db, "ROLLBACK", NULL, NULL, NULL);
  }
}

static lf_status resolve_run(lf_meta *meta, const char *flow, const char *run_id, int64_t *id,
                             lf_err *err)
{
  int64_t run = 0;
  lf_status s = lf_meta_parse_id(run_id, &run) ? lf_meta_find_run(meta, flow, run, id, err)
                                               : LF_ERR_NOTFOUND;
  if (s == LF_ERR_NOTFOUND) {
    return LF_ERR(err, LF_ERR_NOTFOUND, "no run '%s/%s'", flow, run_id);
  }
  return s;
}

// Fills `out` from a row of RUN_COLUMNS, then reads its tags.
static lf_status read_run(lf_meta *meta, sqlite3_stmt *st, lf_meta_run *out, lf_err *err)
{
  out->flow = col_str(st, 1);
  out->run_id = col_str(st, 2);
  out->user = col_str(st, 3);
  out->status = col_str(st, 4);
  out->created_at = col_int(st, 5);
  out->finished_at = col_int(st, 6);
  out->flow_file = col_str(st, 7);
  out->origin_run = col_str(st, 8);
  return read_tags(meta, sqlite3_column_int64(st, 0), out, err);
}

static lf_status read_tags(lf_meta *meta, int64_t id, lf_meta_run *out, lf_err *err)
{
  sqlite3_stmt *st = lf_meta_stmt(
    meta, LF_MST_RUN_TAGS, "SELECT tag, system FROM run_tags WHERE run_id = ?1 ORDER BY tag",
    err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  sqlite3_bind_int64(st, 1, id);
  size_t cap[2] = {0, 0};
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *tag = (const char *)sqlite3_column_text(st, 0);
    bool sys = sqlite3_column_int(st, 1) != 0;
    strings_push(sys ? &out->system_tags : &out->tags, &cap[sys], tag != NULL ? tag : "");
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    return lf_meta_sqlerr(meta, "cannot read run tags", err);
  }
  return LF_OK;
}

static lf_status run_list_sql(const lf_meta_run_filter *f, lf_dynbuf *sql, lf_err *err)
{
  // Each tag is a probe of run_tags_by_tag; sqlite drives the loop from the most selective
  // one when the tag is rare and scans runs newest first when it is common.
  bool ok = lf_dynbuf_adds(sql, "SELECT " RUN_COLUMNS " FROM runs r WHERE r.flow = ?");
  if (f->user != NULL) {
    ok = ok && lf_dynbuf_adds(sql, " AND r.user = ?");
  }
  for (size_t i = 0; i < f->n_tags; i++) {
    if (f->tags[i] == NULL) {
      return LF_ERR(err, LF_ERR_USAGE, "run filter tag %zu is NULL", i + 1);
    }
    ok = ok && lf_dynbuf_adds(sql, " AND r.id IN (SELECT run_id FROM run_tags WHERE tag = ?)");
  }
  ok = ok && lf_dynbuf_adds(sql, " ORDER BY r.run DESC");
  if (f->limit > 0) {
    ok = ok && lf_dynbuf_adds(sql, " LIMIT ?");
  }
  if (!ok || f->n_tags > 100) {
    return LF_ERR(err, LF_ERR_USAGE, "too many tags in a run filter (%zu, at most 100)",
                  f->n_tags);
  }
  return LF_OK;
}

static lf_status collect_strings(lf_meta *meta, sqlite3_stmt *st, lf_meta_strings *out,
                                 lf_err *err)
{
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *s = (const char *)sqlite3_column_text(st, 0);
    strings_push(out, &cap, s != NULL ? s : "");
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    lf_meta_strings_destroy(out);
    return lf_meta_sqlerr(meta, "cannot read the index", err);
  }
  return LF_OK;
}

static void strings_push(lf_meta_strings *list, size_t *cap, const char *s)
{
  if (list->count == *cap) {
    *cap = *cap != 0 ? *cap * 2 : 8;
    list->items = lf_xrealloc(list->items, *cap * sizeof(*list->items));
  }
  list->items[list->count++] = lf_xstrdup(s);
}

// A text column as a new string (an INTEGER column comes back as its decimal text); NULL for
// SQL NULL. Caller frees with lf_free.
static char *col_str(sqlite3_stmt *st, int col)
{
  if (sqlite3_column_type(st, col) == SQLITE_NULL) {
    return NULL;
  }
  const unsigned char *s = sqlite3_column_text(st, col);
  return s != NULL ? lf_xstrdup((const char *)s) : NULL;
}

// An integer column; 0 for SQL NULL.
static int64_t col_int(sqlite3_stmt *st, int col)
{
  return sqlite3_column_int64(st, col);
}

// One row: values separated by '|'; NULL as null, integers in decimal, text double-quoted
// with C escapes, so a row is one line whatever the values hold.
static bool dump_row(sqlite3_stmt *st, lf_dynbuf *out)
{
  bool ok = true;
  for (int c = 0; ok && c < sqlite3_column_count(st); c++) {
    if (c > 0) {
      ok = lf_dynbuf_addc(out, '|');
    }
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL:
      ok = ok && lf_dynbuf_adds(out, "null");
      break;
    case SQLITE_INTEGER:
      ok = ok && lf_dynbuf_addf(out, "%" PRId64, (int64_t)sqlite3_column_int64(st, c));
      break;
    case SQLITE_FLOAT:
      ok = ok && lf_dynbuf_addf(out, "%.17g", sqlite3_column_double(st, c));
      break;
    default: // TEXT, and BLOB (never written; dumped as text bytes)
      ok = ok && dump_text(out, sqlite3_column_text(st, c), sqlite3_column_bytes(st, c));
      break;
    }
  }
  return ok && lf_dynbuf_addc(out, '\n');
}

static bool dump_text(lf_dynbuf *out, const unsigned char *s, int n)
{
  bool ok = lf_dynbuf_addc(out, '"');
  for (int i = 0; ok && i < n; i++) {
    unsigned char ch = s[i];
    if (ch == '"' || ch == '\\') {
      ok = lf_dynbuf_addc(out, '\\') && lf_dynbuf_addc(out, (char)ch);
    } else if (ch == '\n') {
      ok = lf_dynbuf_adds(out, "\\n");
    } else if (ch < 0x20 || ch == 0x7f) {
      ok = lf_dynbuf_addf(out, "\\x%02x", ch);
    } else {
      ok = lf_dynbuf_addc(out, (char)ch);
    }
  }
  return ok && lf_dynbuf_addc(out, '"');
}

// Every table of the schema must have a dump query, or the dump would silently miss rows.
static lf_status dump_check_tables(lf_meta *meta, lf_err *err)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(meta->db,
                         "SELECT name FROM sqlite_master WHERE type = 'table' "
                         "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK) {
    return lf_meta_sqlerr(meta, "cannot list the tables", err);
  }
  lf_status s = LF_OK;
  int rc;
  while (s == LF_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    bool known = false;
    for (size_t k = 0; name != NULL && k < sizeof(dumps) / sizeof(dumps[0]); k++) {
      known = known || strcmp(dumps[k].table, name) == 0;
    }
    if (!known) {
      s = LF_ERR(err, LF_ERR_INTERNAL, "the index dump does not cover table '%s'",
                 name != NULL ? name : "");
    }
  }
  if (s == LF_OK && rc != SQLITE_DONE) {
    s = lf_meta_sqlerr(meta, "cannot list the tables", err);
  }
  sqlite3_finalize(st);
  return s;
}
