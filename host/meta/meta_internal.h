// SPDX-License-Identifier: MIT
// Private to host/meta: the lf_meta struct, the prepared-statement cache, the transaction
// helpers and the checked record structs shared by meta_schema.c (open, migrations),
// meta_record.c (validation), meta.c (writes) and meta_query.c (reads).
#pragma once

#include <sqlite3.h>

#include "meta/meta.h"

/// Cached statements. Every use of an id passes the same SQL (normally one call site).
typedef enum lf_meta_stmt_id {
  LF_MST_SAVEPOINT,
  LF_MST_RELEASE,
  LF_MST_ROLLBACK_TO,
  LF_MST_RUN_ID,
  LF_MST_RUN_DELETE,
  LF_MST_RUN_INSERT,
  LF_MST_RUN_UPDATE,
  LF_MST_TAGS_DELETE,
  LF_MST_TAG_INSERT,
  LF_MST_TASK_ID,
  LF_MST_TASK_INSERT,
  LF_MST_TASK_UPDATE,
  LF_MST_INPUTS_DELETE,
  LF_MST_INPUT_INSERT,
  LF_MST_FOREACH_DELETE,
  LF_MST_FOREACH_INSERT,
  LF_MST_ARTIFACTS_DELETE,
  LF_MST_ARTIFACT_INSERT,
  LF_MST_ATTEMPT_UPSERT,
  LF_MST_LATEST_ANY,
  LF_MST_LATEST_OK,
  LF_MST_LATEST_USER_ANY,
  LF_MST_LATEST_USER_OK,
  LF_MST_RUN_INFO,
  LF_MST_RUN_TAGS,
  LF_MST_FLOWS,
  LF_MST_STEPS,
  LF_MST_TASKS,
  LF_MST_ARTIFACTS,
  LF_MST_COUNT
} lf_meta_stmt_id;

struct lf_meta {
  sqlite3 *db;
  char *path;
  int depth; ///< transaction nesting: 0 none, 1 the outermost BEGIN, >1 savepoints
  sqlite3_stmt *stmts[LF_MST_COUNT];
};

/// The cached statement `id`, prepared from `sql` on first use and reset + unbound otherwise.
/// @return borrowed; NULL with `err` set (LF_ERR_META).
sqlite3_stmt *lf_meta_stmt(lf_meta *meta, lf_meta_stmt_id id, const char *sql, lf_err *err);
/// Sets `err` from the connection's last error: "<what> in index '<path>' (<sqlite message>)".
lf_status lf_meta_sqlerr(lf_meta *meta, const char *what, lf_err *err);
/// Enters an atomic section: BEGIN IMMEDIATE at depth 0, a SAVEPOINT inside a transaction.
lf_status lf_meta_tx_enter(lf_meta *meta, lf_err *err);
/// Leaves the section entered last: commits/releases when `ok`, else rolls it back.
/// @return LF_OK, or the commit failure (then everything of the section is rolled back).
lf_status lf_meta_tx_leave(lf_meta *meta, bool ok, lf_err *err);
/// Runs SQL without results (several statements allowed).
lf_status lf_meta_exec(lf_meta *meta, const char *sql, lf_err *err);

/// True if `s` is usable as a flow or step name (the store's rule for flow names).
bool lf_meta_valid_name(const char *s);
/// Maps an artifact type name ("integer") to its lf_value_type. @return false if unknown.
bool lf_meta_type_parse(const char *name, lf_value_type *type);
/// The name of an artifact type; static storage.
const char *lf_meta_type_name(lf_value_type type);
/// Looks up the row id of run `flow`/`run`. @return LF_OK, LF_ERR_NOTFOUND (no message set)
/// or LF_ERR_META.
lf_status lf_meta_find_run(lf_meta *meta, const char *flow, int64_t run, int64_t *id,
                           lf_err *err);
/// Looks up the row id of a committed task. Same returns as lf_meta_find_run().
lf_status lf_meta_find_task(lf_meta *meta, int64_t run_id, const char *step, int64_t task,
                            int64_t *id, lf_err *err);

// ---- records (meta_record.c), checked before any write (meta.c) ----

typedef struct lf_meta_rec {
  const char *kind;
  char label[256];
  char suffix[32]; // " (attempt 2)"
  char where[48];  // "foreach item 2: ", while checking a nested object
  lf_err *err;
} lf_meta_rec;

typedef struct lf_meta_run_rec {
  const char *flow;
  int64_t run;
  const char *user;
  const char *status;
  int64_t created_at;
  bool has_finished;
  int64_t finished_at;
  const char *flow_file;  // NULL: null or absent
  const char *origin_run; // NULL: null or absent
  const lf_json *tags;    // array of strings, or NULL
  const lf_json *system_tags;
} lf_meta_run_rec;

typedef struct lf_meta_task_key {
  const char *flow;
  int64_t run;
  const char *step;
  int64_t task;
} lf_meta_task_key;

typedef struct lf_meta_task_rec {
  lf_meta_task_key key;
  int64_t attempt;
  const char *status;
  bool has_pid;
  int64_t pid;
  int64_t started_at;
  int64_t finished_at;
  const lf_json *inputs;    // array of "step/task" strings, or NULL
  const lf_json *foreach;   // array of objects, or NULL
  const lf_json *next;      // array of step names, or NULL
  bool has_foreach_count;
  int64_t foreach_count;
  const lf_json *artifacts; // object
  const char *origin;
} lf_meta_task_rec;

typedef struct lf_meta_attempt_rec {
  lf_meta_task_key key;
  int64_t attempt;
  const char *status;
  bool has_pid;
  int64_t pid;
  int64_t started_at;
  int64_t finished_at;
  bool has_exit_status;
  int64_t exit_status;
  bool has_signal;
  int64_t signal;
  const char *error_message;
  const char *error_traceback;
  const char *stdout_log;
  const char *stderr_log;
} lf_meta_attempt_rec;

/// Starts checking a record of `kind` ("run", "task", "attempt"): builds its label for
/// messages from whatever identity fields it has.
void lf_meta_rec_init(lf_meta_rec *r, const char *kind, const lf_json *j, bool with_task,
                      lf_err *err);
/// Sets LF_ERR_META "<kind> record '<label>': <what>" in r->err. @return false
bool lf_meta_rec_fail(lf_meta_rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/// Check a whole record into `out`, which borrows from `j`. @return false with r->err set
bool lf_meta_parse_run(lf_meta_rec *r, const lf_json *j, lf_meta_run_rec *out);
bool lf_meta_parse_task(lf_meta_rec *r, const lf_json *j, lf_meta_task_rec *out);
bool lf_meta_parse_attempt(lf_meta_rec *r, const lf_json *j, lf_meta_attempt_rec *out);
/// Splits an input "step/task": *step_end points at the '/'. @return false if malformed
bool lf_meta_split_input(const char *s, const char **step_end, int64_t *task);
