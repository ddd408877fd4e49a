// SPDX-License-Identifier: MIT
// The sqlite3 metadata index: a cache of the datastore's JSON records (docs/datastore.md)
// that answers history queries (latest run, runs by user and tags, steps, tasks, artifacts)
// in milliseconds. Only the scheduler process writes it; the CLI and the client read it. It
// can always be rebuilt from the datastore (lf_api_reindex), so it holds nothing else.
//
// Threading: an lf_meta is used from one thread at a time. Several processes may open the same
// file (WAL mode, busy timeout); writers serialise on sqlite's write lock.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/json.h"

/// The schema version this build writes (PRAGMA user_version).
#define LF_META_SCHEMA_VERSION 1

/// How long a statement waits for another process's lock before failing (milliseconds).
#define LF_META_BUSY_TIMEOUT_MS 10000

/// An open index. Opaque.
typedef struct lf_meta lf_meta;

/// Opens (creating it and its parent directories if needed) the index at `path`, sets WAL
/// journal mode, synchronous=NORMAL, a busy timeout and foreign keys, and creates or migrates
/// the schema to LF_META_SCHEMA_VERSION.
/// @param[in] path file name of the sqlite database, e.g. "<root>/.index/meta.sqlite3".
/// @return the index, closed with lf_meta_close(); NULL on failure with `err` set
///         (LF_ERR_IO, LF_ERR_META; a file written by a newer luaflow is LF_ERR_META).
lf_meta *lf_meta_open(const char *path, lf_err *err);
/// Closes the index, finalising cached statements. Rolls back an open transaction.
/// NULL is allowed.
void lf_meta_close(lf_meta *meta);

/// Starts a write transaction (BEGIN IMMEDIATE: takes the write lock now, waiting up to the
/// busy timeout). Calls nest; only the outermost lf_meta_commit() commits. Batch many puts
/// in one transaction: a transaction per record costs a WAL sync each.
lf_status lf_meta_begin(lf_meta *meta, lf_err *err);
/// Commits the transaction opened by the matching lf_meta_begin() (outermost one commits).
/// On failure the whole transaction is rolled back.
lf_status lf_meta_commit(lf_meta *meta, lf_err *err);
/// Abandons the whole transaction, whatever the nesting depth. Safe to call with none open.
void lf_meta_rollback(lf_meta *meta);

/// Indexes a run record (`_run.json`): the run row, its user, tags and system tags.
/// Idempotent: indexing the same record again changes nothing; a newer version of the record
/// (the rewrite at the end of a run) replaces the row and its tags. Each put is atomic.
/// @param[in] run_record the parsed JSON record; borrowed.
/// @return LF_OK; LF_ERR_META for an invalid record ("run record 'Flow/3': missing field
///         'user'") or an sqlite failure.
lf_status lf_meta_put_run(lf_meta *meta, const lf_json *run_record, lf_err *err);
/// Indexes a task record (`task.json`, also `_parameters/0/task.json`): the task row, its
/// inputs, foreach stack and artifacts (name, sha, type, size). The run must be indexed
/// first. Idempotent and atomic like lf_meta_put_run().
/// @return LF_OK; LF_ERR_META for an invalid record or a run missing from the index.
lf_status lf_meta_put_task(lf_meta *meta, const lf_json *task_record, lf_err *err);
/// Indexes an attempt record (`<n>.attempt.json`). The run must be indexed first.
/// Idempotent and atomic like lf_meta_put_run().
lf_status lf_meta_put_attempt(lf_meta *meta, const lf_json *attempt_record, lf_err *err);
/// Indexes the successful attempt implied by a committed task record: no attempt record is
/// written for attempts that commit (task.json holds their pid and times); the scheduler and
/// reindex both derive the row here, so they agree exactly. Logs are "<n>.stdout"/"<n>.stderr".
lf_status lf_meta_put_task_attempt(lf_meta *meta, const lf_json *task_record, lf_err *err);

/// Parses a canonical decimal run or task id ("0", "12"; not "012", "+1" or ""), the form the
/// datastore uses. @return false if `s` is not one (or is NULL).
bool lf_meta_parse_id(const char *s, int64_t *out);

/// Removes a run and everything indexed under it (tags, tasks, artifacts, attempts). A run
/// that is not in the index is not an error. lf_api_reindex() uses it to replace a run.
lf_status lf_meta_delete_run(lf_meta *meta, const char *flow, const char *run_id, lf_err *err);

/// A list of strings (flow names, step names). Free with lf_meta_strings_destroy().
typedef struct lf_meta_strings {
  char **items; ///< each owned by the list
  size_t count;
} lf_meta_strings;

/// One run. Strings are owned by the struct; free with lf_meta_run_destroy() (or with the
/// list that holds it).
typedef struct lf_meta_run {
  char *flow;
  char *run_id;       ///< decimal run id
  char *user;
  char *status;       ///< running | ok | failed | interrupted
  int64_t created_at; ///< microseconds since the epoch
  int64_t finished_at; ///< 0 while the run has not finished
  char *flow_file;    ///< NULL if the record had none
  char *origin_run;   ///< run this one resumed; NULL if none
  lf_meta_strings tags;        ///< user tags, sorted
  lf_meta_strings system_tags; ///< system tags ("user:ann", ...), sorted
} lf_meta_run;

/// Runs, newest (highest run id) first. Free with lf_meta_run_list_destroy().
typedef struct lf_meta_run_list {
  lf_meta_run *items;
  size_t count;
} lf_meta_run_list;

/// Filters of lf_meta_list_runs(). Zero-initialise; every field is optional.
typedef struct lf_meta_run_filter {
  const char *user;        ///< only runs of this user; NULL: everyone's
  const char *const *tags; ///< only runs carrying all of these (user or system) tags
  size_t n_tags;           ///< number of entries in `tags`
  size_t limit;            ///< at most this many runs (the newest); 0: no limit
} lf_meta_run_filter;

/// A task of a run as the index knows it: from its committed record (`committed`), or, for a
/// task that never committed (failed, or still being retried), from its latest attempt.
typedef struct lf_meta_task {
  char *step;
  char *task_id;       ///< decimal task id
  char *status;        ///< ok | failed
  int64_t attempt;     ///< the committed attempt, or the latest attempt
  int64_t pid;         ///< worker process id; 0 if unknown
  int64_t started_at;  ///< microseconds since the epoch
  int64_t finished_at; ///< microseconds since the epoch
  char *origin;        ///< "Flow/run/step/task" this task was cloned from by resume; NULL if none
  bool committed;      ///< true: task.json is indexed (artifacts available)
} lf_meta_task;

typedef struct lf_meta_task_list {
  lf_meta_task *items;
  size_t count;
} lf_meta_task_list;

/// One artifact of a task.
typedef struct lf_meta_artifact {
  char *name;
  char sha[65];       ///< lowercase hex sha256 of the encoded value, NUL-terminated
  lf_value_type type;
  const char *type_name; ///< "nil", "boolean", ...: static storage
  int64_t size;       ///< length of the canonical encoding in bytes
} lf_meta_artifact;

typedef struct lf_meta_artifact_list {
  lf_meta_artifact *items;
  size_t count;
} lf_meta_artifact_list;

/// The id of the newest run of `flow` (highest run id).
/// @param[in] successful_only only runs with status "ok"
/// @param[in] user only runs of this user; NULL: everyone's
/// @param[out] run_id caller frees with lf_free().
/// @return LF_OK; LF_ERR_NOTFOUND ("no successful run of flow 'CounterFlow' by user 'ann'").
lf_status lf_meta_latest_run(lf_meta *meta, const char *flow, bool successful_only,
                             const char *user, char **run_id, lf_err *err);
/// Runs of `flow` matching `filter` (NULL: all), newest first, each with its tags. A flow
/// without runs gives an empty list, not an error.
/// @param[out] out caller storage; free with lf_meta_run_list_destroy() (also after failure).
lf_status lf_meta_list_runs(lf_meta *meta, const char *flow, const lf_meta_run_filter *filter,
                            lf_meta_run_list *out, lf_err *err);
/// One run with its tags.
/// @param[out] out caller storage; free with lf_meta_run_destroy() (also after failure).
/// @return LF_OK; LF_ERR_NOTFOUND ("no run 'CounterFlow/12'").
lf_status lf_meta_run_info(lf_meta *meta, const char *flow, const char *run_id,
                           lf_meta_run *out, lf_err *err);
/// Every flow that has a run in the index, sorted by name.
/// @param[out] out caller storage; free with lf_meta_strings_destroy().
lf_status lf_meta_list_flows(lf_meta *meta, lf_meta_strings *out, lf_err *err);
/// Steps of a run in execution order (by the earliest start of their tasks and attempts,
/// then by name). Private pseudo-steps whose names start with '_' (`_parameters`) are left
/// out, as Metaflow's client hides them.
/// @param[out] out caller storage; free with lf_meta_strings_destroy().
/// @return LF_OK (possibly empty); LF_ERR_NOTFOUND for an unknown run.
lf_status lf_meta_list_steps(lf_meta *meta, const char *flow, const char *run_id,
                             lf_meta_strings *out, lf_err *err);
/// Tasks of a run, grouped by step in execution order, then by task id.
/// @param[in] step only this step (any name, `_parameters` included); NULL: every step that
///            lf_meta_list_steps() lists.
/// @param[out] out caller storage; free with lf_meta_task_list_destroy().
/// @return LF_OK; LF_ERR_NOTFOUND for an unknown run, or a step with no task in the index.
lf_status lf_meta_list_tasks(lf_meta *meta, const char *flow, const char *run_id,
                             const char *step, lf_meta_task_list *out, lf_err *err);
/// Artifacts of a committed task, sorted by name (bytewise).
/// @param[out] out caller storage; free with lf_meta_artifact_list_destroy().
/// @return LF_OK; LF_ERR_NOTFOUND ("no task 'CounterFlow/12/start/1'") for a task without a
///         committed record.
lf_status lf_meta_task_artifacts(lf_meta *meta, const char *flow, const char *run_id,
                                 const char *step, const char *task_id,
                                 lf_meta_artifact_list *out, lf_err *err);

/// Appends a canonical text dump of every row of every table to `out`: one header line per
/// table, rows sorted by their natural keys, surrogate row ids left out, values escaped so
/// each row is one line. Two indexes of the same records dump identically, whatever order
/// the records were indexed in.
/// @return LF_OK; LF_ERR_NOMEM if `out` reaches its maximum; LF_ERR_INTERNAL if a table is
///         not covered by the dump (a migration added a table without a dump query).
lf_status lf_meta_dump(lf_meta *meta, lf_dynbuf *out, lf_err *err);

/// Frees the strings of a list and empties it. NULL is allowed.
void lf_meta_strings_destroy(lf_meta_strings *list);
/// Frees the strings of a run and zeroes it. NULL is allowed.
void lf_meta_run_destroy(lf_meta_run *run);
void lf_meta_run_list_destroy(lf_meta_run_list *list);
void lf_meta_task_list_destroy(lf_meta_task_list *list);
void lf_meta_artifact_list_destroy(lf_meta_artifact_list *list);
