// SPDX-License-Identifier: MIT
// This file contains opening and closing the metadata index: connection settings (WAL,
// synchronous=NORMAL, busy timeout, foreign keys), the schema and its migrations keyed by
// PRAGMA user_version, the prepared-statement cache, and the transaction helpers that the
// writers in meta.c and the readers in meta_query.c share.
#include "meta/meta.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "meta/meta_internal.h"

// Schema version 1. Design notes (see also host/meta/README.md):
//  - runs and tasks have integer surrogate keys so the big child tables (artifacts, tags,
//    inputs) carry one integer instead of (flow, run, step, task) strings; natural keys are
//    UNIQUE and are what the dump and the queries use.
//  - Run and task ids are decimal integers in the datastore and INTEGER here, so "newest
//    first" is ORDER BY run DESC on an index, and task 10 sorts after task 9.
//  - Every child table's foreign key column leads its primary key, so cascades and joins
//    are index lookups. Child rows are WITHOUT ROWID: the primary key is the table.
//  - runs_by_user and runs_by_status serve latest_run / latest_successful_run per user;
//    run_tags_by_tag serves tag filters; (flow, run) UNIQUE serves "newest runs of a flow".
//  - attempts are keyed by run, not by task row: an attempt exists before (and without) a
//    committed task.json.
// clang-format off
static const char schema_v1[] =
  "CREATE TABLE runs (\n"
  "  id          INTEGER PRIMARY KEY,\n"
  "  flow        TEXT    NOT NULL,\n"
  "  run         INTEGER NOT NULL,\n"
  "  user        TEXT    NOT NULL,\n"
  "  status      TEXT    NOT NULL,\n"
  "  created_at  INTEGER NOT NULL,\n"
  "  finished_at INTEGER,\n"
  "  flow_file   TEXT,\n"
  "  origin_run  TEXT,\n"
  "  UNIQUE (flow, run)\n"
  ");\n"
  "CREATE INDEX runs_by_user ON runs (flow, user, run);\n"
  "CREATE INDEX runs_by_status ON runs (flow, status, run);\n"
  "CREATE TABLE run_tags (\n"
  "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
  "  tag    TEXT    NOT NULL,\n"
  "  system INTEGER NOT NULL CHECK (system IN (0, 1)),\n"
  "  PRIMARY KEY (run_id, tag, system)\n"
  ") WITHOUT ROWID;\n"
  "CREATE INDEX run_tags_by_tag ON run_tags (tag, run_id);\n"
  "CREATE TABLE tasks (\n"
  "  id            INTEGER PRIMARY KEY,\n"
  "  run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
  "  step          TEXT    NOT NULL,\n"
  "  task          INTEGER NOT NULL,\n"
  "  attempt       INTEGER NOT NULL,\n"
  "  status        TEXT    NOT NULL,\n"
  "  pid           INTEGER,\n"
  "  started_at    INTEGER NOT NULL,\n"
  "  finished_at   INTEGER NOT NULL,\n"
  "  next_steps    TEXT    NOT NULL,\n" // space-separated step names, in record order
  "  foreach_count INTEGER,\n"
  "  origin        TEXT,\n"
  "  UNIQUE (run_id, step, task)\n"
  ");\n"
  "CREATE TABLE task_inputs (\n"
  "  task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,\n"
  "  pos        INTEGER NOT NULL,\n"
  "  input_step TEXT    NOT NULL,\n"
  "  input_task INTEGER NOT NULL,\n"
  "  PRIMARY KEY (task_id, pos)\n"
  ") WITHOUT ROWID;\n"
  "CREATE TABLE task_foreach (\n"
  "  task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,\n"
  "  depth      INTEGER NOT NULL,\n" // 0 = outermost split
  "  split_step TEXT    NOT NULL,\n"
  "  split_task INTEGER NOT NULL,\n"
  "  idx        INTEGER NOT NULL,\n"
  "  count      INTEGER NOT NULL,\n"
  "  PRIMARY KEY (task_id, depth)\n"
  ") WITHOUT ROWID;\n"
  "CREATE TABLE artifacts (\n"
  "  task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,\n"
  "  name    TEXT    NOT NULL,\n"
  "  sha     TEXT    NOT NULL,\n"
  "  type    TEXT    NOT NULL,\n"
  "  size    INTEGER NOT NULL,\n"
  "  PRIMARY KEY (task_id, name)\n"
  ") WITHOUT ROWID;\n"
  "CREATE TABLE attempts (\n"
  "  run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
  "  step            TEXT    NOT NULL,\n"
  "  task            INTEGER NOT NULL,\n"
  "  attempt         INTEGER NOT NULL,\n"
  "  status          TEXT    NOT NULL,\n"
  "  pid             INTEGER,\n"
  "  started_at      INTEGER NOT NULL,\n"
  "  finished_at     INTEGER NOT NULL,\n"
  "  exit_status     INTEGER,\n"
  "  signal          INTEGER,\n"
  "  error_message   TEXT,\n"
  "  error_traceback TEXT,\n"
  "  stdout_log      TEXT,\n"
  "  stderr_log      TEXT,\n"
  "  PRIMARY KEY (run_id, step, task, attempt)\n"
  ") WITHOUT ROWID;\n";
// clang-format on

// migrations[i] takes the schema from user_version i to i + 1. Later versions append a step
// here (and a dump query in meta_query.c for any new table); steps are never edited.
static const char *const migrations[] = {
  schema_v1,
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == LF_META_SCHEMA_VERSION,
               "one migration step per schema version");

static lf_status configure(lf_meta *meta, lf_err *err);
static lf_status run_cached(lf_meta *meta, lf_meta_stmt_id id, const char *sql, lf_err *err);
static lf_status migrate(lf_meta *meta, lf_err *err);
static lf_status user_version(lf_meta *meta, int *version, lf_err *err);
static lf_status check_version(lf_meta *meta, int version, lf_err *err);

lf_meta *lf_meta_open(const char *path, lf_err *err)
{
  char *dir = lf_path_dirname(path);
  lf_status st = lf_fs_mkdirs(dir, err);
  lf_free(dir);
  if (st != LF_OK) {
    lf_err_prefix(err, "cannot create the directory of index '%s'", path);
    return NULL;
  }
  lf_meta *meta = lf_xcalloc(1, sizeof(*meta));
  meta->path = lf_xstrdup(path);
  int rc = sqlite3_open_v2(path, &meta->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    LF_ERR(err, LF_ERR_META, "cannot open index '%s' (%s)", path,
           meta->db != NULL ? sqlite3_errmsg(meta->db) : sqlite3_errstr(rc));
    lf_meta_close(meta);
    return NULL;
  }
  sqlite3_extended_result_codes(meta->db, 1);
  if (configure(meta, err) != LF_OK || migrate(meta, err) != LF_OK) {
    lf_meta_close(meta);
    return NULL;
  }
  return meta;
}

void lf_meta_close(lf_meta *meta)
{
  if (meta == NULL) {
    return;
  }
  lf_meta_rollback(meta);
  for (size_t i = 0; i < LF_MST_COUNT; i++) {
    sqlite3_finalize(meta->stmts[i]);
  }
  // sqlite3_close_v2 never fails for lack of finalised statements; all of ours are.
  sqlite3_close_v2(meta->db);
  lf_free(meta->path);
  lf_free(meta);
}

lf_status lf_meta_begin(lf_meta *meta, lf_err *err)
{
  return lf_meta_tx_enter(meta, err);
}

lf_status lf_meta_commit(lf_meta *meta, lf_err *err)
{
  if (meta->depth == 0) {
    return LF_ERR(err, LF_ERR_USAGE, "commit without a transaction on index '%s'", meta->path);
  }
  return lf_meta_tx_leave(meta, true, err);
}

void lf_meta_rollback(lf_meta *meta)
{
  if (meta->depth > 0 && !sqlite3_get_autocommit(meta->db)) {
    // A failing ROLLBACK leaves nothing we could do better; sqlite rolls back on close too.
    (void)sqlite3_exec(meta->db, "ROLLBACK", NULL, NULL, NULL);
  }
  meta->depth = 0;
}

lf_status lf_meta_tx_enter(lf_meta *meta, lf_err *err)
{
  // IMMEDIATE takes the write lock up front: a deferred transaction that reads first and
  // writes later can fail with SQLITE_BUSY without waiting when another process wrote.
  lf_status s = meta->depth == 0 ? lf_meta_exec(meta, "BEGIN IMMEDIATE", err)
                                  : run_cached(meta, LF_MST_SAVEPOINT, "SAVEPOINT lf_sp", err);
  if (s != LF_OK) {
    return LF_ERR_META;
  }
  meta->depth++;
  return LF_OK;
}

lf_status lf_meta_tx_leave(lf_meta *meta, bool ok, lf_err *err)
{
  if (meta->depth <= 0) {
    return LF_ERR(err, LF_ERR_INTERNAL, "unbalanced transaction on index '%s'", meta->path);
  }
  if (sqlite3_get_autocommit(meta->db)) {
    // sqlite rolled the transaction back by itself (I/O error, disk full, ...).
    meta->depth = 0;
    return ok ? LF_ERR(err, LF_ERR_META, "transaction on index '%s' was rolled back (%s)",
                       meta->path, sqlite3_errmsg(meta->db))
              : LF_OK;
  }
  if (meta->depth == 1) {
    if (!ok) {
      lf_meta_rollback(meta);
      return LF_OK;
    }
    if (lf_meta_exec(meta, "COMMIT", err) != LF_OK) {
      lf_meta_rollback(meta);
      return LF_ERR_META;
    }
    meta->depth = 0;
    return LF_OK;
  }
  meta->depth--;
  // Savepoints are cached statements: every put enters and leaves one, thousands a second.
  if (!ok) {
    // Undo the section but keep the outer transaction going.
    lf_status s = run_cached(meta, LF_MST_ROLLBACK_TO, "ROLLBACK TO lf_sp", err);
    return s != LF_OK ? s : run_cached(meta, LF_MST_RELEASE, "RELEASE lf_sp", err);
  }
  return run_cached(meta, LF_MST_RELEASE, "RELEASE lf_sp", err);
}

sqlite3_stmt *lf_meta_stmt(lf_meta *meta, lf_meta_stmt_id id, const char *sql, lf_err *err)
{
  sqlite3_stmt *st = meta->stmts[id];
  if (st != NULL) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }
  int rc = sqlite3_prepare_v3(meta->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    lf_meta_sqlerr(meta, "cannot prepare a query", err);
    return NULL;
  }
  meta->stmts[id] = st;
  return st;
}

lf_status lf_meta_sqlerr(lf_meta *meta, const char *what, lf_err *err)
{
  return LF_ERR(err, LF_ERR_META, "%s in index '%s' (%s)", what, meta->path,
                sqlite3_errmsg(meta->db));
}

lf_status lf_meta_exec(lf_meta *meta, const char *sql, lf_err *err)
{
  char *msg = NULL;
  int rc = sqlite3_exec(meta->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    LF_ERR(err, LF_ERR_META, "cannot run '%.60s' on index '%s' (%s)", sql, meta->path,
           msg != NULL ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return LF_ERR_META;
  }
  return LF_OK;
}

static lf_status run_cached(lf_meta *meta, lf_meta_stmt_id id, const char *sql, lf_err *err)
{
  sqlite3_stmt *st = lf_meta_stmt(meta, id, sql, err);
  if (st == NULL) {
    return LF_ERR_META;
  }
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    return LF_ERR(err, LF_ERR_META, "cannot run '%s' on index '%s' (%s)", sql, meta->path,
                  sqlite3_errmsg(meta->db));
  }
  return LF_OK;
}

static lf_status configure(lf_meta *meta, lf_err *err)
{
  // The busy timeout comes first: switching to WAL needs a lock another process may hold.
  sqlite3_busy_timeout(meta->db, LF_META_BUSY_TIMEOUT_MS);
  // This is the first statement that reads the file, so it is where a file that is not a
  // database, or one we may not write, shows up.
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(meta->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
  }
  const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
  bool wal = mode != NULL && strcmp(mode, "wal") == 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    return LF_ERR(err, LF_ERR_META, "cannot open index '%s' (%s)", meta->path,
                  sqlite3_errmsg(meta->db));
  }
  if (!wal) {
    return LF_ERR(err, LF_ERR_META,
                  "cannot use WAL journal mode for index '%s' (the file system does not "
                  "support it)",
                  meta->path);
  }
  // NORMAL is durable across application crashes in WAL mode; a power loss may drop the last
  // transactions, which reindex restores from the datastore.
  // A page cache of up to 32 MiB (allocated as used): a batch of thousands of task records
  // touches more pages than the 2 MiB default holds, and every spill is a write to the WAL.
  return lf_meta_exec(meta,
                      "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                      "PRAGMA cache_size = -32768",
                      err);
}

static lf_status user_version(lf_meta *meta, int *version, lf_err *err)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(meta->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
    return lf_meta_sqlerr(meta, "cannot read the schema version", err);
  }
  int rc = sqlite3_step(st);
  *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    return lf_meta_sqlerr(meta, "cannot read the schema version", err);
  }
  return LF_OK;
}

static lf_status check_version(lf_meta *meta, int version, lf_err *err)
{
  if (version >= 0 && version <= LF_META_SCHEMA_VERSION) {
    return LF_OK;
  }
  return LF_ERR(err, LF_ERR_META,
                "index '%s' has schema version %d, which this luaflow does not understand "
                "(it writes version %d); upgrade luaflow, or delete the file and run "
                "'luaflow reindex'",
                meta->path, version, LF_META_SCHEMA_VERSION);
}

static lf_status migrate(lf_meta *meta, lf_err *err)
{
  int version = 0;
  if (user_version(meta, &version, err) != LF_OK) {
    return LF_ERR_META;
  }
  if (version == LF_META_SCHEMA_VERSION) {
    return LF_OK;
  }
  if (check_version(meta, version, err) != LF_OK) {
    return LF_ERR_META;
  }
  // Take the write lock, then look again: another process may have migrated meanwhile.
  if (lf_meta_tx_enter(meta, err) != LF_OK) {
    return LF_ERR_META;
  }
  lf_status st = user_version(meta, &version, err);
  if (st == LF_OK) {
    st = check_version(meta, version, err);
  }
  for (int v = version; st == LF_OK && v < LF_META_SCHEMA_VERSION; v++) {
    st = lf_meta_exec(meta, migrations[v], err);
    if (st != LF_OK) {
      lf_err_prefix(err, "cannot migrate the index from schema version %d to %d", v, v + 1);
    }
  }
  if (st == LF_OK && version != LF_META_SCHEMA_VERSION) {
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", LF_META_SCHEMA_VERSION);
    st = lf_meta_exec(meta, sql, err);
  }
  lf_status st2 = lf_meta_tx_leave(meta, st == LF_OK, err);
  return st != LF_OK ? st : st2;
}
