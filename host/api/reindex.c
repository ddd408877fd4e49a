// SPDX-License-Identifier: MIT
// This file contains `luaflow reindex`: a walk over the datastore that feeds every run, task
// and attempt record to the metadata index writers. The walk uses only the store's list/get
// interface, so it works the same over a local directory and S3.
#include "api/reindex.h"
#include "lua_api/history.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/log.h"

#define RECORD_MAX ((size_t)64 * 1024 * 1024) // bytes of one JSON record
#define ATTEMPT_SUFFIX ".attempt.json"

// What a record must name, checked against the key it was found under.
typedef struct ident {
  const char *flow;
  const char *run;
  const char *step; // NULL for a run record
  const char *task;
  int64_t attempt; // -1 unless an attempt record
} ident;

typedef enum rkind { R_RUN, R_TASK, R_ATTEMPT } rkind;

static lf_status reindex_flow(lf_store *store, lf_meta *meta, const char *flow, lf_err *err);
static lf_status reindex_run(lf_store *store, lf_meta *meta, const char *flow, const char *run,
                             lf_err *err);
static lf_status reindex_steps(lf_store *store, lf_meta *meta, const char *flow,
                               const char *run, lf_err *err);
static lf_status reindex_task(lf_store *store, lf_meta *meta, const ident *task, lf_err *err);
static lf_status index_record(lf_store *store, lf_meta *meta, const char *key, rkind kind,
                              const ident *id, bool *missing, lf_err *err);
static lf_status check_ident(lf_store *store, const char *key, const lf_json *j,
                             const ident *id, lf_err *err);
static bool attempt_number(const char *name, int64_t *n);

lf_status lf_api_reindex(lf_store *store, lf_meta *meta, lf_err *err)
{
  char **flows = NULL;
  size_t n = 0;
  lf_status s = lf_store_list(store, "", &flows, &n, err);
  for (size_t i = 0; s == LF_OK && i < n; i++) {
    s = reindex_flow(store, meta, flows[i], err);
  }
  lf_store_free_names(flows, n);
  return s;
}

static lf_status reindex_flow(lf_store *store, lf_meta *meta, const char *flow, lf_err *err)
{
  char **runs = NULL;
  size_t n = 0;
  lf_status s = lf_store_list(store, flow, &runs, &n, err);
  for (size_t i = 0; s == LF_OK && i < n; i++) {
    int64_t id = 0;
    if (strcmp(runs[i], "data") == 0) {
      continue; // artifact blobs
    }
    if (!lf_meta_parse_id(runs[i], &id)) {
      LF_LOGW("reindex: skipping '%s/%s': not a run id", flow, runs[i]);
      continue;
    }
    s = reindex_run(store, meta, flow, runs[i], err);
  }
  lf_store_free_names(runs, n);
  return s;
}

static lf_status reindex_run(lf_store *store, lf_meta *meta, const char *flow, const char *run,
                             lf_err *err)
{
  char *key = lf_xasprintf("%s/%s/_run.json", flow, run);
  ident id = {flow, run, NULL, NULL, -1};
  lf_status s = lf_meta_begin(meta, err);
  if (s != LF_OK) {
    lf_free(key);
    return s;
  }
  // Replace the run: tasks or attempts that are gone from the datastore leave the index too.
  s = lf_meta_delete_run(meta, flow, run, err);
  bool missing = false;
  if (s == LF_OK) {
    s = index_record(store, meta, key, R_RUN, &id, &missing, err);
  }
  if (s == LF_OK && missing) {
    LF_LOGW("reindex: skipping run '%s/%s': it has no _run.json", flow, run);
  } else if (s == LF_OK) {
    s = reindex_steps(store, meta, flow, run, err);
  }
  lf_free(key);
  if (s != LF_OK) {
    lf_meta_rollback(meta);
    return s;
  }
  return lf_meta_commit(meta, err);
}

static lf_status reindex_steps(lf_store *store, lf_meta *meta, const char *flow,
                               const char *run, lf_err *err)
{
  char *prefix = lf_xasprintf("%s/%s", flow, run);
  char **steps = NULL;
  size_t nsteps = 0;
  lf_status s = lf_store_list(store, prefix, &steps, &nsteps, err);
  lf_free(prefix);
  for (size_t i = 0; s == LF_OK && i < nsteps; i++) {
    if (strcmp(steps[i], "_run.json") == 0) {
      continue;
    }
    // Any other plain file lists as an empty directory, so it contributes nothing.
    char *sp = lf_xasprintf("%s/%s/%s", flow, run, steps[i]);
    char **tasks = NULL;
    size_t ntasks = 0;
    s = lf_store_list(store, sp, &tasks, &ntasks, err);
    lf_free(sp);
    for (size_t k = 0; s == LF_OK && k < ntasks; k++) {
      ident id = {flow, run, steps[i], tasks[k], -1};
      s = reindex_task(store, meta, &id, err);
    }
    lf_store_free_names(tasks, ntasks);
  }
  lf_store_free_names(steps, nsteps);
  return s;
}

static lf_status reindex_task(lf_store *store, lf_meta *meta, const ident *task, lf_err *err)
{
  char *prefix = lf_xasprintf("%s/%s/%s/%s", task->flow, task->run, task->step, task->task);
  char **files = NULL;
  size_t n = 0;
  lf_status s = lf_store_list(store, prefix, &files, &n, err);
  for (size_t i = 0; s == LF_OK && i < n; i++) {
    ident id = *task;
    rkind kind;
    if (strcmp(files[i], "task.json") == 0) {
      kind = R_TASK;
    } else if (attempt_number(files[i], &id.attempt)) {
      kind = R_ATTEMPT;
    } else {
      continue; // logs (<n>.stdout, <n>.stderr) and anything newer than this luaflow
    }
    char *key = lf_xasprintf("%s/%s", prefix, files[i]);
    bool missing = false;
    s = index_record(store, meta, key, kind, &id, &missing, err);
    lf_free(key);
  }
  lf_store_free_names(files, n);
  lf_free(prefix);
  return s;
}

// Reads, parses, checks and indexes one record. A record that vanished between list and get
// sets *missing.
static lf_status index_record(lf_store *store, lf_meta *meta, const char *key, rkind kind,
                              const ident *id, bool *missing, lf_err *err)
{
  char *data = NULL;
  size_t len = 0;
  *missing = false;
  lf_err local = {0};
  lf_status s = lf_store_get(store, key, RECORD_MAX, &data, &len, &local);
  if (s == LF_ERR_NOTFOUND) {
    *missing = true;
    return LF_OK;
  }
  if (s != LF_OK) {
    return LF_ERR(err, s, "%s", local.msg);
  }
  // A run record carries the tags changed since in _tags.json.
  lf_json *j = kind == R_RUN ? lf_lua_history_run_record(store, data, len, &local)
                             : lf_json_parse(data, len, &local);
  lf_free(data);
  if (j == NULL) {
    char *where = lf_store_describe(store, key);
    s = LF_ERR(err, LF_ERR_CORRUPT, "cannot index '%s': %s", where, local.msg);
    lf_free(where);
    return s;
  }
  s = check_ident(store, key, j, id, err);
  if (s == LF_OK) {
    switch (kind) {
    case R_RUN:
      s = lf_meta_put_run(meta, j, &local);
      break;
    case R_TASK:
      s = lf_meta_put_task(meta, j, &local);
      // The committed attempt's row comes from the task record (see meta.h).
      if (s == LF_OK && strcmp(id->step, "_parameters") != 0) {
        s = lf_meta_put_task_attempt(meta, j, &local);
      }
      break;
    case R_ATTEMPT:
      s = lf_meta_put_attempt(meta, j, &local);
      break;
    }
    if (s != LF_OK) {
      char *where = lf_store_describe(store, key);
      LF_ERR(err, s, "cannot index '%s': %s", where, local.msg);
      lf_free(where);
    }
  }
  lf_json_free(j);
  return s;
}

// A record must describe the object it is stored as; one copied under another run or task
// would silently index wrong history.
static lf_status check_ident(lf_store *store, const char *key, const lf_json *j,
                             const ident *id, lf_err *err)
{
  const char *fields[4] = {"flow", "run", "step", "task"};
  const char *want[4] = {id->flow, id->run, id->step, id->task};
  const char *bad = NULL;
  const char *got = NULL;
  for (int i = 0; i < 4 && bad == NULL; i++) {
    const char *v = lf_json_get_str(j, fields[i]);
    // Missing or mistyped fields are reported by the record validation with more detail.
    if (want[i] != NULL && v != NULL && strcmp(v, want[i]) != 0) {
      bad = fields[i];
      got = v;
    }
  }
  char num[32];
  const lf_json *a = lf_json_get(j, "attempt");
  if (bad == NULL && id->attempt >= 0 && a != NULL && a->type == LF_JSON_INT &&
      a->i != id->attempt) {
    snprintf(num, sizeof(num), "%" PRId64, a->i);
    bad = "attempt";
    got = num;
  }
  if (bad == NULL) {
    return LF_OK;
  }
  char *where = lf_store_describe(store, key);
  lf_status s = LF_ERR(err, LF_ERR_CORRUPT,
                       "cannot index '%s': its field '%s' is '%.60s', which does not match "
                       "where it is stored",
                       where, bad, got);
  lf_free(where);
  return s;
}

static bool attempt_number(const char *name, int64_t *n)
{
  size_t len = strlen(name);
  size_t sl = strlen(ATTEMPT_SUFFIX);
  if (len <= sl || strcmp(name + len - sl, ATTEMPT_SUFFIX) != 0 || len - sl > 18) {
    return false;
  }
  char digits[20];
  memcpy(digits, name, len - sl);
  digits[len - sl] = '\0';
  return lf_meta_parse_id(digits, n);
}
