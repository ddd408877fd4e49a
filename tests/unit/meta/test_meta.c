// SPDX-License-Identifier: MIT
// Unit tests of the sqlite metadata index (host/meta) and of `luaflow reindex`
// (host/api/reindex.c): records are written as JSON into a scratch local store, indexed with
// the put functions, queried, re-indexed twice (idempotence), rejected when bad, and rebuilt
// from the store with lf_api_reindex, whose dump must equal the original's. Also prints the
// batch indexing throughput and query latencies over 10,000 runs.
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/reindex.h"
#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "meta/meta.h"
#include "store/store.h"
#include "testhelp.h"

#define DUMP_MAX ((size_t)256 * 1024 * 1024)
#define T0 INT64_C(1763700000000000) // a plausible epoch in microseconds

typedef enum kind { K_RUN, K_TASK, K_ATTEMPT } kind;

// Scratch space shared by the tests.
typedef struct fixture {
  char *dir;       // mkdtemp directory
  char *root;      // datastore root
  char *db;        // index file
  lf_store *store;
  lf_meta *meta;
} fixture;

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void fake_sha(unsigned seed, char out[65]);
static char *run_json(const char *flow, const char *run, const char *user, const char *status,
                      int64_t created, int64_t finished, const char *tags,
                      const char *system_tags);
static char *task_json(const char *flow, const char *run, const char *step, const char *task,
                       int64_t attempt, int64_t started, const char *inputs, const char *next,
                       const char *foreach, int nart, unsigned seed);
static char *attempt_json(const char *flow, const char *run, const char *step,
                          const char *task, int64_t attempt, const char *status,
                          int64_t started, const char *error);
static lf_status put_text(lf_meta *meta, kind k, const char *text, lf_err *err);
static void emit(fixture *fx, kind k, const char *key, char *text);
static char *dump(lf_meta *meta);
static char *query1(const char *db, const char *sql);
static void remove_db(const char *db);
static void build_counter_flow(fixture *fx);

static char *fmt(const char *f, ...)
{
  va_list ap;
  lf_dynbuf b;
  lf_dynbuf_init(&b, 1u << 20);
  va_start(ap, f);
  lf_dynbuf_vaddf(&b, f, ap);
  va_end(ap);
  return lf_dynbuf_take(&b, NULL);
}

static void fake_sha(unsigned seed, char out[65])
{
  unsigned char bytes[32];
  for (size_t i = 0; i < sizeof(bytes); i++) {
    bytes[i] = (unsigned char)((seed * 2654435761u) >> (i % 4 * 8)) ^ (unsigned char)i;
  }
  lf_hex_encode(bytes, sizeof(bytes), out);
}

// `finished` < 0 writes null.
static char *run_json(const char *flow, const char *run, const char *user, const char *status,
                      int64_t created, int64_t finished, const char *tags,
                      const char *system_tags)
{
  char fin[32];
  if (finished < 0) {
    snprintf(fin, sizeof(fin), "null");
  } else {
    snprintf(fin, sizeof(fin), "%" PRId64, finished);
  }
  char sha[65];
  fake_sha(7, sha);
  return fmt("{\"format\": 1, \"flow\": \"%s\", \"run\": \"%s\", \"user\": \"%s\", "
             "\"status\": \"%s\", \"created_at\": %" PRId64 ", \"finished_at\": %s, "
             "\"flow_file\": \"flows/counter.lua\", "
             "\"params\": {\"animal\": {\"sha\": \"%s\", \"type\": \"string\", \"size\": 6}}, "
             "\"tags\": %s, \"system_tags\": %s, \"origin_run\": null}",
             flow, run, user, status, created, fin, sha, tags, system_tags);
}

// Artifacts are a0..a<nart-1> written in descending name order, to test sorting.
static char *task_json(const char *flow, const char *run, const char *step, const char *task,
                       int64_t attempt, int64_t started, const char *inputs, const char *next,
                       const char *foreach, int nart, unsigned seed)
{
  static const char *const types[] = {"nil",    "boolean", "integer", "float",
                                      "string", "table",   "array"};
  lf_dynbuf arts;
  lf_dynbuf_init(&arts, 1u << 20);
  for (int i = nart - 1; i >= 0; i--) {
    char sha[65];
    fake_sha(seed * 31u + (unsigned)i, sha);
    lf_dynbuf_addf(&arts, "%s\"a%d\": {\"sha\": \"%s\", \"type\": \"%s\", \"size\": %d}",
                   i == nart - 1 ? "" : ", ", i, sha, types[(unsigned)i % 7], 10 + i);
  }
  char *out = fmt("{\"format\": 1, \"flow\": \"%s\", \"run\": \"%s\", \"step\": \"%s\", "
                  "\"task\": \"%s\", \"attempt\": %" PRId64 ", \"status\": \"ok\", "
                  "\"pid\": 4242, \"started_at\": %" PRId64 ", \"finished_at\": %" PRId64 ", "
                  "\"inputs\": %s, \"foreach\": %s, \"next\": %s, \"foreach_count\": null, "
                  "\"artifacts\": {%s}, \"origin\": null}",
                  flow, run, step, task, attempt, started, started + 1000, inputs, foreach, next,
                  arts.data != NULL ? arts.data : "");
  lf_dynbuf_free(&arts);
  return out;
}

static char *attempt_json(const char *flow, const char *run, const char *step,
                          const char *task, int64_t attempt, const char *status,
                          int64_t started, const char *error)
{
  char *err = error != NULL ? fmt("{\"message\": \"%s\", \"traceback\": \"line 1\\nline 2\"}",
                                  error)
                            : fmt("null");
  char *out = fmt("{\"format\": 1, \"flow\": \"%s\", \"run\": \"%s\", \"step\": \"%s\", "
                  "\"task\": \"%s\", \"attempt\": %" PRId64 ", \"status\": \"%s\", "
                  "\"pid\": 5000, \"started_at\": %" PRId64 ", \"finished_at\": %" PRId64 ", "
                  "\"exit_status\": %d, \"signal\": 0, \"error\": %s, "
                  "\"logs\": {\"stdout\": \"%" PRId64 ".stdout\", \"stderr\": \"%" PRId64
                  ".stderr\"}}",
                  flow, run, step, task, attempt, status, started, started + 500,
                  strcmp(status, "ok") == 0 ? 0 : 1, err, attempt, attempt);
  lf_free(err);
  return out;
}

static lf_status put_text(lf_meta *meta, kind k, const char *text, lf_err *err)
{
  lf_json *j = lf_json_parse(text, strlen(text), err);
  if (j == NULL) {
    return LF_ERR_CORRUPT;
  }
  lf_status s = k == K_RUN    ? lf_meta_put_run(meta, j, err)
                : k == K_TASK ? lf_meta_put_task(meta, j, err)
                              : lf_meta_put_attempt(meta, j, err);
  // Like the scheduler: a committed task also indexes the attempt it implies.
  const char *step = lf_json_get_str(j, "step");
  if (s == LF_OK && k == K_TASK && step != NULL && strcmp(step, "_parameters") != 0) {
    s = lf_meta_put_task_attempt(meta, j, err);
  }
  lf_json_free(j);
  return s;
}

// Stores a record under `key` (like the scheduler and workers do) and indexes it. Takes
// ownership of `text`.
static void emit(fixture *fx, kind k, const char *key, char *text)
{
  lf_err err = {0};
  CHECK(lf_store_put(fx->store, key, text, strlen(text), &err) == LF_OK);
  if (put_text(fx->meta, k, text, &err) != LF_OK) {
    fprintf(stderr, "emit %s: %s\n", key, err.msg);
    CHECK(false);
  }
  lf_free(text);
}

static char *dump(lf_meta *meta)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, DUMP_MAX);
  lf_err err = {0};
  if (lf_meta_dump(meta, &b, &err) != LF_OK) {
    fprintf(stderr, "dump: %s\n", err.msg);
    CHECK(false);
  }
  return lf_dynbuf_take(&b, NULL);
}

// The first column of the first row of `sql` on a separate connection. Caller frees.
static char *query1(const char *db, const char *sql)
{
  sqlite3 *h = NULL;
  char *out = NULL;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char *t = sqlite3_column_text(st, 0);
      out = lf_xstrdup(t != NULL ? (const char *)t : "");
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return out;
}

static void remove_db(const char *db)
{
  const char *sfx[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char *p = fmt("%s%s", db, sfx[i]);
    unlink(p);
    lf_free(p);
  }
}

// CounterFlow: run 1 (ann, ok): _parameters, start, a foreach of 3 "work" tasks, join, end;
// run 2 (bob, failed): start ok, "work" task 2 failed twice; run 3 (ann, running, tagged).
static void build_counter_flow(fixture *fx)
{
  const char *F = "CounterFlow";
  emit(fx, K_RUN, "CounterFlow/1/_run.json",
       run_json(F, "1", "ann", "running", T0, -1, "[\"experiment\"]",
                "[\"user:ann\", \"luaflow_version:0.1.0\"]"));
  emit(fx, K_TASK, "CounterFlow/1/_parameters/0/task.json",
       task_json(F, "1", "_parameters", "0", 0, T0 + 10, "[]", "[\"start\"]", "[]", 1, 99));
  emit(fx, K_ATTEMPT, "CounterFlow/1/start/1/0.attempt.json",
       attempt_json(F, "1", "start", "1", 0, "ok", T0 + 100, NULL));
  emit(fx, K_TASK, "CounterFlow/1/start/1/task.json",
       task_json(F, "1", "start", "1", 0, T0 + 100, "[\"_parameters/0\"]", "[\"work\"]", "[]",
                 3, 1));
  for (int i = 0; i < 3; i++) {
    char task[8];
    snprintf(task, sizeof(task), "%d", i + 2);
    char *key = fmt("CounterFlow/1/work/%s/task.json", task);
    char *fe = fmt("[{\"step\": \"start\", \"task\": \"1\", \"index\": %d, \"count\": 3}]", i);
    // Task 4 starts first: step order must come from times, task order from ids.
    emit(fx, K_TASK, key,
         task_json(F, "1", "work", task, 0, T0 + 300 - i * 10, "[\"start/1\"]", "[\"join\"]",
                   fe, 2, (unsigned)(10 + i)));
    lf_free(fe);
    lf_free(key);
  }
  emit(fx, K_TASK, "CounterFlow/1/join/5/task.json",
       task_json(F, "1", "join", "5", 0, T0 + 400, "[\"work/2\", \"work/3\", \"work/4\"]",
                 "[\"end\"]", "[]", 4, 20));
  emit(fx, K_TASK, "CounterFlow/1/end/6/task.json",
       task_json(F, "1", "end", "6", 0, T0 + 500, "[\"join/5\"]", "[]", "[]", 1, 21));
  emit(fx, K_RUN, "CounterFlow/1/_run.json",
       run_json(F, "1", "ann", "ok", T0, T0 + 600, "[\"experiment\"]",
                "[\"user:ann\", \"luaflow_version:0.1.0\"]"));

  emit(fx, K_RUN, "CounterFlow/2/_run.json",
       run_json(F, "2", "bob", "failed", T0 + 1000, T0 + 2000, "[]", "[\"user:bob\"]"));
  emit(fx, K_TASK, "CounterFlow/2/start/1/task.json",
       task_json(F, "2", "start", "1", 0, T0 + 1100, "[]", "[\"work\"]", "[]", 1, 30));
  emit(fx, K_ATTEMPT, "CounterFlow/2/work/2/0.attempt.json",
       attempt_json(F, "2", "work", "2", 0, "failed", T0 + 1200, "flows/x.lua:12: boom"));
  emit(fx, K_ATTEMPT, "CounterFlow/2/work/2/1.attempt.json",
       attempt_json(F, "2", "work", "2", 1, "failed", T0 + 1300, "flows/x.lua:12: boom again"));

  emit(fx, K_RUN, "CounterFlow/3/_run.json",
       run_json(F, "3", "ann", "running", T0 + 3000, -1, "[\"rare\", \"experiment\"]",
                "[\"user:ann\"]"));
  emit(fx, K_RUN, "OtherFlow/1/_run.json",
       run_json("OtherFlow", "1", "ann", "ok", T0, T0 + 1, "[]", "[]"));
}

static void test_open(fixture *fx)
{
  char *mode = query1(fx->db, "PRAGMA journal_mode");
  CHECK_STR(mode, "wal");
  lf_free(mode);
  char *ver = query1(fx->db, "PRAGMA user_version");
  CHECK_STR(ver, "1");
  lf_free(ver);
  char *idx = query1(fx->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                             "name IN ('runs_by_user', 'runs_by_status', 'run_tags_by_tag')");
  CHECK_STR(idx, "3");
  lf_free(idx);

  // Reopening an up-to-date index migrates nothing; a second connection coexists.
  lf_err err = {0};
  lf_meta *again = lf_meta_open(fx->db, &err);
  CHECK(again != NULL);
  lf_meta_close(again);

  // An index from a newer luaflow is refused with a clear message.
  char *newer = fmt("%s/newer/meta.sqlite3", fx->dir);
  lf_meta *m = lf_meta_open(newer, &err);
  CHECK(m != NULL);
  lf_meta_close(m);
  lf_free(query1(newer, "PRAGMA user_version = 7"));
  lf_err_clear(&err);
  CHECK(lf_meta_open(newer, &err) == NULL);
  CHECK_EQ_INT(err.code, LF_ERR_META);
  CHECK_CONTAINS(err.msg, "has schema version 7, which this luaflow does not understand (it "
                          "writes version 1)");
  lf_free(newer);

  // A path whose parent cannot be created.
  lf_err_clear(&err);
  CHECK(lf_meta_open("/proc/no/such/dir/meta.sqlite3", &err) == NULL);
  CHECK(err.code != LF_OK);
  CHECK_CONTAINS(err.msg, "/proc/no/such/dir/meta.sqlite3");
}

static void test_queries(fixture *fx)
{
  lf_meta *meta = fx->meta;
  lf_err err = {0};
  char *id = NULL;

  // latest_run / latest_successful_run, with and without a user.
  CHECK(lf_meta_latest_run(meta, "CounterFlow", false, NULL, &id, &err) == LF_OK);
  CHECK_STR(id, "3");
  lf_free(id);
  CHECK(lf_meta_latest_run(meta, "CounterFlow", true, NULL, &id, &err) == LF_OK);
  CHECK_STR(id, "1");
  lf_free(id);
  CHECK(lf_meta_latest_run(meta, "CounterFlow", false, "bob", &id, &err) == LF_OK);
  CHECK_STR(id, "2");
  lf_free(id);
  CHECK(lf_meta_latest_run(meta, "CounterFlow", true, "ann", &id, &err) == LF_OK);
  CHECK_STR(id, "1");
  lf_free(id);
  CHECK(lf_meta_latest_run(meta, "CounterFlow", true, "bob", &id, &err) == LF_ERR_NOTFOUND);
  CHECK(id == NULL);
  CHECK_STR(err.msg, "no successful run of flow 'CounterFlow' by user 'bob'");
  lf_err_clear(&err);
  CHECK(lf_meta_latest_run(meta, "NoFlow", false, NULL, &id, &err) == LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no run of flow 'NoFlow'");
  lf_err_clear(&err);

  // run_info
  lf_meta_run run;
  CHECK(lf_meta_run_info(meta, "CounterFlow", "1", &run, &err) == LF_OK);
  CHECK_STR(run.flow, "CounterFlow");
  CHECK_STR(run.run_id, "1");
  CHECK_STR(run.user, "ann");
  CHECK_STR(run.status, "ok");
  CHECK_EQ_INT(run.created_at, T0);
  CHECK_EQ_INT(run.finished_at, T0 + 600);
  CHECK_STR(run.flow_file, "flows/counter.lua");
  CHECK(run.origin_run == NULL);
  CHECK_EQ_INT(run.tags.count, 1);
  CHECK_STR(run.tags.items[0], "experiment");
  CHECK_EQ_INT(run.system_tags.count, 2);
  CHECK_STR(run.system_tags.items[0], "luaflow_version:0.1.0");
  CHECK_STR(run.system_tags.items[1], "user:ann");
  lf_meta_run_destroy(&run);
  CHECK(lf_meta_run_info(meta, "CounterFlow", "3", &run, &err) == LF_OK);
  CHECK_EQ_INT(run.finished_at, 0);
  CHECK_STR(run.status, "running");
  CHECK_EQ_INT(run.tags.count, 2);
  CHECK_STR(run.tags.items[0], "experiment");
  CHECK_STR(run.tags.items[1], "rare");
  lf_meta_run_destroy(&run);
  CHECK(lf_meta_run_info(meta, "CounterFlow", "12", &run, &err) == LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no run 'CounterFlow/12'");
  lf_err_clear(&err);
  CHECK(lf_meta_run_info(meta, "CounterFlow", "01", &run, &err) == LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no run 'CounterFlow/01'");
  lf_err_clear(&err);

  // list_runs: newest first, filters.
  lf_meta_run_list runs;
  CHECK(lf_meta_list_runs(meta, "CounterFlow", NULL, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 3);
  if (runs.count == 3) {
    CHECK_STR(runs.items[0].run_id, "3");
    CHECK_STR(runs.items[1].run_id, "2");
    CHECK_STR(runs.items[2].run_id, "1");
    CHECK_STR(runs.items[1].system_tags.items[0], "user:bob");
  }
  lf_meta_run_list_destroy(&runs);
  lf_meta_run_filter f = {0};
  f.user = "ann";
  CHECK(lf_meta_list_runs(meta, "CounterFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 2);
  lf_meta_run_list_destroy(&runs);
  const char *tags1[] = {"experiment"};
  const char *tags2[] = {"experiment", "rare"};
  const char *tags3[] = {"user:bob"}; // system tags filter too (namespaces)
  const char *tags4[] = {"experiment", "nope"};
  f.user = NULL;
  f.tags = tags1;
  f.n_tags = 1;
  CHECK(lf_meta_list_runs(meta, "CounterFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 2);
  lf_meta_run_list_destroy(&runs);
  f.tags = tags2;
  f.n_tags = 2;
  CHECK(lf_meta_list_runs(meta, "CounterFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 1);
  CHECK(runs.count == 1 && strcmp(runs.items[0].run_id, "3") == 0);
  lf_meta_run_list_destroy(&runs);
  f.tags = tags3;
  f.n_tags = 1;
  CHECK(lf_meta_list_runs(meta, "CounterFlow", &f, &runs, &err) == LF_OK);
  CHECK(runs.count == 1 && strcmp(runs.items[0].run_id, "2") == 0);
  lf_meta_run_list_destroy(&runs);
  f.tags = tags4;
  f.n_tags = 2;
  CHECK(lf_meta_list_runs(meta, "CounterFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 0);
  lf_meta_run_list_destroy(&runs);
  f.tags = NULL;
  f.n_tags = 0;
  f.limit = 2;
  CHECK(lf_meta_list_runs(meta, "CounterFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 2);
  CHECK(runs.count == 2 && strcmp(runs.items[1].run_id, "2") == 0);
  lf_meta_run_list_destroy(&runs);
  CHECK(lf_meta_list_runs(meta, "NoFlow", NULL, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 0);
  lf_meta_run_list_destroy(&runs);

  lf_meta_strings flows;
  CHECK(lf_meta_list_flows(meta, &flows, &err) == LF_OK);
  CHECK_EQ_INT(flows.count, 2);
  CHECK(flows.count == 2 && strcmp(flows.items[0], "CounterFlow") == 0 &&
        strcmp(flows.items[1], "OtherFlow") == 0);
  lf_meta_strings_destroy(&flows);

  // list_steps: execution order, _parameters hidden; failed steps appear through attempts.
  lf_meta_strings steps;
  CHECK(lf_meta_list_steps(meta, "CounterFlow", "1", &steps, &err) == LF_OK);
  CHECK_EQ_INT(steps.count, 4);
  if (steps.count == 4) {
    CHECK_STR(steps.items[0], "start");
    CHECK_STR(steps.items[1], "work");
    CHECK_STR(steps.items[2], "join");
    CHECK_STR(steps.items[3], "end");
  }
  lf_meta_strings_destroy(&steps);
  CHECK(lf_meta_list_steps(meta, "CounterFlow", "2", &steps, &err) == LF_OK);
  CHECK_EQ_INT(steps.count, 2);
  CHECK(steps.count == 2 && strcmp(steps.items[1], "work") == 0);
  lf_meta_strings_destroy(&steps);
  CHECK(lf_meta_list_steps(meta, "CounterFlow", "3", &steps, &err) == LF_OK);
  CHECK_EQ_INT(steps.count, 0);
  lf_meta_strings_destroy(&steps);
  CHECK(lf_meta_list_steps(meta, "CounterFlow", "9", &steps, &err) == LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no run 'CounterFlow/9'");
  lf_err_clear(&err);

  // list_tasks
  lf_meta_task_list tasks;
  CHECK(lf_meta_list_tasks(meta, "CounterFlow", "1", NULL, &tasks, &err) == LF_OK);
  CHECK_EQ_INT(tasks.count, 6);
  if (tasks.count == 6) {
    const char *want[6][2] = {{"start", "1"}, {"work", "2"}, {"work", "3"},
                              {"work", "4"},  {"join", "5"}, {"end", "6"}};
    for (size_t i = 0; i < 6; i++) {
      CHECK_STR(tasks.items[i].step, want[i][0]);
      CHECK_STR(tasks.items[i].task_id, want[i][1]);
      CHECK(tasks.items[i].committed);
      CHECK_STR(tasks.items[i].status, "ok");
      CHECK_EQ_INT(tasks.items[i].pid, 4242);
    }
    CHECK_EQ_INT(tasks.items[1].started_at, T0 + 300);
    CHECK_EQ_INT(tasks.items[1].finished_at, T0 + 1300);
    CHECK(tasks.items[0].origin == NULL);
  }
  lf_meta_task_list_destroy(&tasks);
  CHECK(lf_meta_list_tasks(meta, "CounterFlow", "1", "work", &tasks, &err) == LF_OK);
  CHECK_EQ_INT(tasks.count, 3);
  lf_meta_task_list_destroy(&tasks);
  CHECK(lf_meta_list_tasks(meta, "CounterFlow", "1", "_parameters", &tasks, &err) == LF_OK);
  CHECK(tasks.count == 1 && strcmp(tasks.items[0].task_id, "0") == 0);
  lf_meta_task_list_destroy(&tasks);
  CHECK(lf_meta_list_tasks(meta, "CounterFlow", "2", "work", &tasks, &err) == LF_OK);
  CHECK_EQ_INT(tasks.count, 1);
  if (tasks.count == 1) {
    CHECK(!tasks.items[0].committed);
    CHECK_STR(tasks.items[0].status, "failed");
    CHECK_EQ_INT(tasks.items[0].attempt, 1); // the latest attempt
    CHECK_EQ_INT(tasks.items[0].pid, 5000);
    CHECK_EQ_INT(tasks.items[0].started_at, T0 + 1300);
  }
  lf_meta_task_list_destroy(&tasks);
  CHECK(lf_meta_list_tasks(meta, "CounterFlow", "1", "nope", &tasks, &err) == LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no step 'CounterFlow/1/nope'");
  lf_err_clear(&err);
  CHECK(lf_meta_list_tasks(meta, "CounterFlow", "x", NULL, &tasks, &err) == LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no run 'CounterFlow/x'");
  lf_err_clear(&err);

  // task_artifacts: sorted by name, typed.
  lf_meta_artifact_list arts;
  CHECK(lf_meta_task_artifacts(meta, "CounterFlow", "1", "join", "5", &arts, &err) == LF_OK);
  CHECK_EQ_INT(arts.count, 4);
  if (arts.count == 4) {
    CHECK_STR(arts.items[0].name, "a0");
    CHECK_STR(arts.items[3].name, "a3");
    CHECK_EQ_INT(arts.items[0].type, LF_VAL_NIL);
    CHECK_STR(arts.items[2].type_name, "integer");
    CHECK_EQ_INT(arts.items[2].type, LF_VAL_INTEGER);
    CHECK_EQ_INT(arts.items[3].size, 13);
    char sha[65];
    fake_sha(20 * 31u + 1, sha);
    CHECK_STR(arts.items[1].sha, sha);
  }
  lf_meta_artifact_list_destroy(&arts);
  CHECK(lf_meta_task_artifacts(meta, "CounterFlow", "2", "work", "2", &arts, &err) ==
        LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no task 'CounterFlow/2/work/2'");
  lf_err_clear(&err);
  CHECK(lf_meta_task_artifacts(meta, "CounterFlow", "7", "work", "2", &arts, &err) ==
        LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "no run 'CounterFlow/7'");
  lf_err_clear(&err);
}

static void test_idempotence(fixture *fx)
{
  lf_err err = {0};
  char *before = dump(fx->meta);
  CHECK_CONTAINS(before, "[runs] flow run user status");
  CHECK_CONTAINS(before, "\"CounterFlow\"|1|\"ann\"|\"ok\"|");
  CHECK_CONTAINS(before, "\"line 1\\nline 2\""); // escaped: one row per line

  // Index every record of the store a second time, in a different order.
  const char *keys[] = {
    "CounterFlow/1/end/6/task.json",        "CounterFlow/1/_run.json",
    "CounterFlow/2/work/2/1.attempt.json",  "CounterFlow/1/work/3/task.json",
    "CounterFlow/1/_parameters/0/task.json", "CounterFlow/2/_run.json",
  };
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    char *data = NULL;
    size_t len = 0;
    CHECK(lf_store_get(fx->store, keys[i], 1u << 20, &data, &len, &err) == LF_OK);
    kind k = strstr(keys[i], "_run.json")    ? K_RUN
             : strstr(keys[i], "attempt") ? K_ATTEMPT
                                              : K_TASK;
    CHECK(put_text(fx->meta, k, data, &err) == LF_OK);
    lf_free(data);
  }
  char *after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);

  // A rewritten record replaces the old rows: fewer artifacts, changed tags. (The task row
  // only: the attempt it would imply is not part of this check.)
  char *t = task_json("CounterFlow", "1", "end", "6", 1, T0 + 500, "[]", "[]", "[]", 0, 21);
  lf_json *tj = lf_json_parse(t, strlen(t), &err);
  CHECK(tj != NULL && lf_meta_put_task(fx->meta, tj, &err) == LF_OK);
  lf_json_free(tj);
  lf_free(t);
  lf_meta_artifact_list arts;
  CHECK(lf_meta_task_artifacts(fx->meta, "CounterFlow", "1", "end", "6", &arts, &err) == LF_OK);
  CHECK_EQ_INT(arts.count, 0);
  lf_meta_artifact_list_destroy(&arts);
  char *r = run_json("CounterFlow", "2", "bob", "failed", T0 + 1000, T0 + 2000, "[\"x\", \"x\"]",
                     "[]");
  CHECK(put_text(fx->meta, K_RUN, r, &err) == LF_OK);
  lf_free(r);
  lf_meta_run run;
  CHECK(lf_meta_run_info(fx->meta, "CounterFlow", "2", &run, &err) == LF_OK);
  CHECK(run.tags.count == 1 && strcmp(run.tags.items[0], "x") == 0);
  CHECK_EQ_INT(run.system_tags.count, 0);
  lf_meta_run_destroy(&run);
  // Updating the run row kept its tasks and attempts (no REPLACE cascade).
  lf_meta_task_list tasks;
  CHECK(lf_meta_list_tasks(fx->meta, "CounterFlow", "2", NULL, &tasks, &err) == LF_OK);
  CHECK_EQ_INT(tasks.count, 2);
  lf_meta_task_list_destroy(&tasks);

  // Put the original records back: the dump is the original again.
  char *data = NULL;
  size_t len = 0;
  CHECK(lf_store_get(fx->store, "CounterFlow/1/end/6/task.json", 1u << 20, &data, &len, &err) ==
        LF_OK);
  CHECK(put_text(fx->meta, K_TASK, data, &err) == LF_OK);
  lf_free(data);
  CHECK(lf_store_get(fx->store, "CounterFlow/2/_run.json", 1u << 20, &data, &len, &err) == LF_OK);
  CHECK(put_text(fx->meta, K_RUN, data, &err) == LF_OK);
  lf_free(data);
  after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);

  // A rolled-back batch leaves nothing; nested begin/commit commits once.
  CHECK(lf_meta_begin(fx->meta, &err) == LF_OK);
  r = run_json("CounterFlow", "40", "cy", "ok", T0, T0, "[]", "[]");
  CHECK(put_text(fx->meta, K_RUN, r, &err) == LF_OK);
  lf_free(r);
  lf_meta_rollback(fx->meta);
  after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);
  CHECK(lf_meta_begin(fx->meta, &err) == LF_OK);
  CHECK(lf_meta_begin(fx->meta, &err) == LF_OK);
  r = run_json("CounterFlow", "41", "cy", "ok", T0, T0, "[]", "[]");
  CHECK(put_text(fx->meta, K_RUN, r, &err) == LF_OK);
  lf_free(r);
  CHECK(lf_meta_commit(fx->meta, &err) == LF_OK);
  CHECK(lf_meta_commit(fx->meta, &err) == LF_OK);
  CHECK(lf_meta_commit(fx->meta, &err) == LF_ERR_USAGE);
  lf_err_clear(&err);
  char *id = NULL;
  CHECK(lf_meta_latest_run(fx->meta, "CounterFlow", false, "cy", &id, &err) == LF_OK);
  CHECK_STR(id, "41");
  lf_free(id);
  CHECK(lf_meta_delete_run(fx->meta, "CounterFlow", "41", &err) == LF_OK);
  CHECK(lf_meta_delete_run(fx->meta, "CounterFlow", "41", &err) == LF_OK);
  after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);
  lf_free(before);
}

// Expects `text` (a record of kind `k`) to be rejected with a message containing `want`, and
// the index to be unchanged.
static void expect_bad(fixture *fx, kind k, const char *text, const char *want)
{
  char *before = dump(fx->meta);
  lf_err err = {0};
  lf_status s = put_text(fx->meta, k, text, &err);
  CHECK_EQ_INT(s, LF_ERR_META);
  CHECK_CONTAINS(err.msg, want);
  char *after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(before);
  lf_free(after);
}

static void test_bad_records(fixture *fx)
{
  const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char *t = fmt("{\"format\": 1, \"flow\": \"Flow\", \"run\": \"3\", \"step\": \"start\", "
                "\"task\": \"1\", \"attempt\": 0, \"status\": \"ok\", \"pid\": 1, "
                "\"started_at\": 1, \"finished_at\": 2}");
  expect_bad(fx, K_TASK, t, "task record 'Flow/3/start/1': missing field 'artifacts'");
  lf_free(t);
  expect_bad(fx, K_TASK, "[1, 2]", "task record '?/?/?/?': not a JSON object");
  expect_bad(fx, K_RUN, "{\"format\": 2, \"flow\": \"F\", \"run\": \"1\"}",
             "run record 'F/1': unsupported format 2 (this luaflow reads format 1)");
  expect_bad(fx, K_RUN, "{\"flow\": \"F\", \"run\": \"1\"}",
             "run record 'F/1': missing field 'format'");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"1\", \"user\": \"a\", "
             "\"status\": \"done\", \"created_at\": 1}",
             "run record 'F/1': field 'status' must be one of running, ok, failed, interrupted, "
             "not 'done'");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"01\", \"user\": \"a\", "
             "\"status\": \"ok\", \"created_at\": 1}",
             "run record 'F/01': field 'run' must be a decimal id like \"12\", not '01'");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"a/b\", \"run\": \"1\", \"user\": \"a\", "
             "\"status\": \"ok\", \"created_at\": 1}",
             "field 'flow' is not a valid name: 'a/b'");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"1\", \"user\": 5, "
             "\"status\": \"ok\", \"created_at\": 1}",
             "run record 'F/1': field 'user' must be a string, not a number");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"1\", \"user\": \"u\", "
             "\"status\": \"ok\", \"created_at\": \"now\"}",
             "field 'created_at' must be an integer, not a string");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"1\", \"user\": \"u\", "
             "\"status\": \"ok\", \"created_at\": 1, \"tags\": [\"a\", 3]}",
             "run record 'F/1': field 'tags' item 2 must be a string, not a number");
  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"1\", \"user\": \"u\", "
             "\"status\": \"ok\", \"created_at\": 1, \"system_tags\": \"user:u\"}",
             "field 'system_tags' must be an array, not a string");

  expect_bad(fx, K_RUN,
             "{\"format\": 1, \"flow\": \"F\", \"run\": \"1\", \"user\": \"u\", "
             "\"status\": \"ok\", \"created_at\": 1, \"params\": {\"p\": {\"sha\": \"x\"}}}",
             "run record 'F/1': field 'params': artifact 'p': field 'sha' must be 64 lowercase "
             "hex digits");

  // Task records of a run that exists.
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"1\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": 0, \"status\": \"ok\", \"started_at\": 1, "
          "\"finished_at\": 2, \"artifacts\": {\"x\": {\"sha\": \"%.63s\", \"type\": \"integer\", "
          "\"size\": 1}}}",
          sha);
  expect_bad(fx, K_TASK, t,
             "task record 'CounterFlow/1/s/9': artifact 'x': field 'sha' must be 64 lowercase "
             "hex digits");
  lf_free(t);
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"1\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": 0, \"status\": \"ok\", \"started_at\": 1, "
          "\"finished_at\": 2, \"artifacts\": {\"x\": {\"sha\": \"%s\", \"type\": \"function\", "
          "\"size\": 1}}}",
          sha);
  expect_bad(fx, K_TASK, t, "artifact 'x': field 'type' must be one of nil, boolean");
  lf_free(t);
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"1\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": 0, \"status\": \"ok\", \"started_at\": 1, "
          "\"finished_at\": 2, \"inputs\": [\"start\"], \"artifacts\": {}}");
  expect_bad(fx, K_TASK, t,
             "task record 'CounterFlow/1/s/9': field 'inputs' item 1 must be \"<step>/<task>\", "
             "not 'start'");
  lf_free(t);
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"1\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": 0, \"status\": \"ok\", \"started_at\": 1, "
          "\"finished_at\": 2, \"foreach\": [{\"step\": \"start\", \"task\": \"1\", "
          "\"index\": -1, \"count\": 3}], \"artifacts\": {}}");
  expect_bad(fx, K_TASK, t,
             "task record 'CounterFlow/1/s/9': foreach item 1: field 'index' must be at least 0, "
             "not -1");
  lf_free(t);
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"1\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": -1, \"status\": \"ok\", \"started_at\": 1, "
          "\"finished_at\": 2, \"artifacts\": {}}");
  expect_bad(fx, K_TASK, t, "field 'attempt' must be at least 0, not -1");
  lf_free(t);
  // A task of a run the index does not know.
  t = task_json("CounterFlow", "77", "start", "1", 0, T0, "[]", "[]", "[]", 1, 1);
  expect_bad(fx, K_TASK, t,
             "task record 'CounterFlow/77/start/1': run 'CounterFlow/77' is not in the index "
             "(index its run record first)");
  lf_free(t);
  // Attempt records.
  t = attempt_json("CounterFlow", "1", "start", "1", 0, "maybe", T0, NULL);
  expect_bad(fx, K_ATTEMPT, t,
             "attempt record 'CounterFlow/1/start/1' (attempt 0): field 'status' must be one of "
             "ok, failed, not 'maybe'");
  lf_free(t);
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"1\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": 0, \"status\": \"failed\", \"started_at\": 1, "
          "\"finished_at\": 2, \"error\": {\"traceback\": \"t\"}}");
  expect_bad(fx, K_ATTEMPT, t,
             "attempt record 'CounterFlow/1/s/9' (attempt 0): field 'error': missing field "
             "'message'");
  lf_free(t);

  // A minimal valid attempt: optional fields absent.
  lf_err err = {0};
  t = fmt("{\"format\": 1, \"flow\": \"CounterFlow\", \"run\": \"3\", \"step\": \"s\", "
          "\"task\": \"9\", \"attempt\": 0, \"status\": \"failed\", \"started_at\": 1, "
          "\"finished_at\": 2}");
  CHECK(put_text(fx->meta, K_ATTEMPT, t, &err) == LF_OK);
  lf_free(t);
  CHECK(lf_meta_delete_run(fx->meta, "CounterFlow", "3", &err) == LF_OK);
}

// Counts warnings about the run without _run.json that test_reindex leaves in the store.
static void count_skips(void *ud, lf_log_level level, const char *msg)
{
  if (level == LF_LOG_WARN &&
      strcmp(msg, "reindex: skipping run 'CounterFlow/99': it has no _run.json") == 0) {
    (*(int *)ud)++;
  } else {
    fprintf(stderr, "unexpected log: %s\n", msg);
    CHECK(false);
  }
}

static void test_reindex(fixture *fx)
{
  lf_err err = {0};
  int skips = 0;
  lf_log_set_sink(count_skips, &skips, LF_LOG_INFO);
  // Things the walk must skip or tolerate: blobs, logs, a run without _run.json, a stray file.
  char hex[65];
  CHECK(lf_store_put_blob(fx->store, "CounterFlow", "value", 5, hex, NULL, &err) == LF_OK);
  CHECK(lf_store_put(fx->store, "CounterFlow/1/start/1/0.stdout", "hi\n", 3, &err) == LF_OK);
  CHECK(lf_store_put(fx->store, "CounterFlow/99/start/1/0.stdout", "x", 1, &err) == LF_OK);
  CHECK(lf_store_put(fx->store, "CounterFlow/1/notes.txt", "x", 1, &err) == LF_OK);

  // The index as the scheduler built it, minus run 3, which test_bad_records deleted from
  // the index (but not from the store): index it again first.
  char *data = NULL;
  size_t len = 0;
  CHECK(lf_store_get(fx->store, "CounterFlow/3/_run.json", 1u << 20, &data, &len, &err) == LF_OK);
  CHECK(put_text(fx->meta, K_RUN, data, &err) == LF_OK);
  lf_free(data);
  char *before = dump(fx->meta);

  // Reindexing over the live index changes nothing.
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_OK);
  char *after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);

  // Delete the index, rebuild it from the store: the same dump.
  lf_meta_close(fx->meta);
  remove_db(fx->db);
  fx->meta = lf_meta_open(fx->db, &err);
  CHECK(fx->meta != NULL);
  char *empty = dump(fx->meta);
  CHECK(strcmp(empty, before) != 0);
  lf_free(empty);
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_OK);
  if (err.code != LF_OK) {
    fprintf(stderr, "reindex: %s\n", err.msg);
  }
  after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);

  // A task removed from the store disappears from the index on reindex.
  CHECK(lf_store_remove(fx->store, "CounterFlow/1/end/6/task.json", &err) == LF_OK);
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_OK);
  lf_meta_task_list tasks;
  CHECK(lf_meta_list_tasks(fx->meta, "CounterFlow", "1", NULL, &tasks, &err) == LF_OK);
  CHECK_EQ_INT(tasks.count, 5);
  lf_meta_task_list_destroy(&tasks);
  char *t = task_json("CounterFlow", "1", "end", "6", 0, T0 + 500, "[\"join/5\"]", "[]", "[]",
                      1, 21);
  CHECK(lf_store_put(fx->store, "CounterFlow/1/end/6/task.json", t, strlen(t), &err) == LF_OK);
  lf_free(t);

  // Corrupt JSON: a clear error naming the object; that run is rolled back, not half-indexed.
  CHECK(lf_store_put(fx->store, "CounterFlow/2/work/2/1.attempt.json", "{\"format\": 1,", 13,
                     &err) == LF_OK);
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_ERR_CORRUPT);
  CHECK_CONTAINS(err.msg, "CounterFlow/2/work/2/1.attempt.json': invalid JSON at line 1");
  lf_err_clear(&err);
  lf_meta_task_list t2;
  CHECK(lf_meta_list_tasks(fx->meta, "CounterFlow", "2", "work", &t2, &err) == LF_OK);
  CHECK(t2.count == 1 && t2.items[0].attempt == 1); // the old rows survive the rollback
  lf_meta_task_list_destroy(&t2);

  // A valid record stored under the wrong key.
  char *a = attempt_json("CounterFlow", "2", "work", "2", 0, "failed", T0 + 1300, "x");
  CHECK(lf_store_put(fx->store, "CounterFlow/2/work/2/1.attempt.json", a, strlen(a), &err) ==
        LF_OK);
  lf_free(a);
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_ERR_CORRUPT);
  CHECK_CONTAINS(err.msg, "1.attempt.json': its field 'attempt' is '0', which does not match");
  lf_err_clear(&err);
  // An invalid record: the validation message, prefixed with where it is.
  CHECK(lf_store_put(fx->store, "CounterFlow/2/work/2/1.attempt.json", "{\"format\": 1}", 13,
                     &err) == LF_OK);
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_ERR_META);
  CHECK_CONTAINS(err.msg, "1.attempt.json': attempt record '?/?/?/?': missing field 'flow'");
  lf_err_clear(&err);

  // Restore the record: the rebuilt index equals the original again.
  a = attempt_json("CounterFlow", "2", "work", "2", 1, "failed", T0 + 1300,
                   "flows/x.lua:12: boom again");
  CHECK(lf_store_put(fx->store, "CounterFlow/2/work/2/1.attempt.json", a, strlen(a), &err) ==
        LF_OK);
  lf_free(a);
  lf_meta_close(fx->meta);
  remove_db(fx->db);
  fx->meta = lf_meta_open(fx->db, &err);
  CHECK(lf_api_reindex(fx->store, fx->meta, &err) == LF_OK);
  after = dump(fx->meta);
  CHECK_STR(after, before);
  lf_free(after);
  lf_free(before);
  CHECK_EQ_INT(skips, 4); // once per reindex that got past run 2 to CounterFlow/99
  lf_log_set_sink(NULL, NULL, LF_LOG_WARN);
}

// A reader (the CLI) sees committed state only and is not blocked by an open write
// transaction of the writer (the scheduler): WAL.
static void test_concurrency(fixture *fx)
{
  lf_err err = {0};
  lf_meta *reader = lf_meta_open(fx->db, &err);
  CHECK(reader != NULL);
  if (reader == NULL) {
    return;
  }
  CHECK(lf_meta_begin(fx->meta, &err) == LF_OK);
  char *r = run_json("CounterFlow", "50", "zed", "running", T0, -1, "[]", "[]");
  CHECK(put_text(fx->meta, K_RUN, r, &err) == LF_OK);
  lf_free(r);
  lf_meta_run run;
  CHECK(lf_meta_run_info(reader, "CounterFlow", "50", &run, &err) == LF_ERR_NOTFOUND);
  lf_err_clear(&err);
  char *id = NULL;
  CHECK(lf_meta_latest_run(reader, "CounterFlow", false, NULL, &id, &err) == LF_OK);
  CHECK_STR(id, "3");
  lf_free(id);
  CHECK(lf_meta_commit(fx->meta, &err) == LF_OK);
  CHECK(lf_meta_run_info(reader, "CounterFlow", "50", &run, &err) == LF_OK);
  CHECK_STR(run.user, "zed");
  lf_meta_run_destroy(&run);
  CHECK(lf_meta_delete_run(fx->meta, "CounterFlow", "50", &err) == LF_OK);
  lf_meta_close(reader);

  // Not an sqlite file: a clear error, nothing overwritten.
  char *junk = fmt("%s/junk.sqlite3", fx->dir);
  bool existed = false;
  char text[4096];
  memset(text, 'x', sizeof(text));
  CHECK(lf_fs_write_atomic(junk, text, sizeof(text), false, &existed, &err) == LF_OK);
  CHECK(lf_meta_open(junk, &err) == NULL);
  CHECK_EQ_INT(err.code, LF_ERR_META);
  CHECK_CONTAINS(err.msg, "junk.sqlite3' (file is not a database)");
  lf_err_clear(&err);
  lf_free(junk);
}

// Indexes 10,000 task records in one transaction and prints the rate; then times the history
// queries over 10,000 runs. Figures only: timing assertions would be flaky on a shared box.
static void test_throughput(fixture *fx)
{
  enum { NTASK = 10000, NRUN = 10000 };
  lf_err err = {0};
  char *path = fmt("%s/bench/meta.sqlite3", fx->dir);
  lf_meta *meta = lf_meta_open(path, &err);
  CHECK(meta != NULL);
  if (meta == NULL) {
    lf_free(path);
    return;
  }
  char *broot = fmt("%s/benchstore", fx->dir);
  lf_store *bstore = lf_store_open_local(broot, &err);
  CHECK(bstore != NULL);
  char *r = run_json("BenchFlow", "1", "ann", "running", T0, -1, "[]", "[]");
  CHECK(put_text(meta, K_RUN, r, &err) == LF_OK);
  CHECK(bstore != NULL &&
        lf_store_put(bstore, "BenchFlow/1/_run.json", r, strlen(r), &err) == LF_OK);
  lf_free(r);

  char **texts = lf_xcalloc(NTASK, sizeof(*texts));
  lf_json **doms = lf_xcalloc(NTASK, sizeof(*doms));
  bool stored = true;
  for (int i = 0; i < NTASK; i++) {
    char task[16];
    snprintf(task, sizeof(task), "%d", i + 2);
    char *fe = fmt("[{\"step\": \"start\", \"task\": \"1\", \"index\": %d, \"count\": %d}]", i,
                   NTASK);
    // Five artifacts each, like a typical foreach task.
    texts[i] = task_json("BenchFlow", "1", "work", task, 0, T0 + i, "[\"start/1\"]",
                         "[\"join\"]", fe, 5, (unsigned)i);
    lf_free(fe);
    char *key = fmt("BenchFlow/1/work/%s/task.json", task);
    stored = stored && bstore != NULL &&
             lf_store_put(bstore, key, texts[i], strlen(texts[i]), &err) == LF_OK;
    lf_free(key);
  }
  CHECK(stored);
  // Parse + put, the scheduler's path: one transaction for the batch.
  int64_t t0 = lf_time_mono_us();
  CHECK(lf_meta_begin(meta, &err) == LF_OK);
  bool ok = true;
  for (int i = 0; i < NTASK && ok; i++) {
    doms[i] = lf_json_parse(texts[i], strlen(texts[i]), &err);
    ok = doms[i] != NULL && lf_meta_put_task(meta, doms[i], &err) == LF_OK &&
         lf_meta_put_task_attempt(meta, doms[i], &err) == LF_OK;
  }
  CHECK(ok);
  CHECK(lf_meta_commit(meta, &err) == LF_OK);
  int64_t t1 = lf_time_mono_us();
  // Put only (records already parsed), again: every put now replaces an existing task.
  CHECK(lf_meta_begin(meta, &err) == LF_OK);
  for (int i = 0; i < NTASK && ok; i++) {
    ok = lf_meta_put_task(meta, doms[i], &err) == LF_OK;
  }
  CHECK(ok);
  CHECK(lf_meta_commit(meta, &err) == LF_OK);
  int64_t t2 = lf_time_mono_us();
  // And one transaction per record, for comparison (1,000 of them).
  for (int i = 0; i < 1000 && ok; i++) {
    ok = lf_meta_put_task(meta, doms[i], &err) == LF_OK;
  }
  CHECK(ok);
  int64_t t3 = lf_time_mono_us();
  printf("meta: indexed %d task records (5 artifacts each) in one transaction: "
         "parse+put %.0f records/s, re-put %.0f records/s; autocommit %.0f records/s\n",
         NTASK, NTASK / ((double)(t1 - t0) / 1e6), NTASK / ((double)(t2 - t1) / 1e6),
         1000 / ((double)(t3 - t2) / 1e6));
  for (int i = 0; i < NTASK; i++) {
    lf_json_free(doms[i]);
    lf_free(texts[i]);
  }
  lf_free(doms);
  lf_free(texts);
  lf_meta_task_list tasks;
  CHECK(lf_meta_list_tasks(meta, "BenchFlow", "1", "work", &tasks, &err) == LF_OK);
  CHECK_EQ_INT(tasks.count, NTASK);
  CHECK(tasks.count == NTASK && strcmp(tasks.items[NTASK - 1].task_id, "10001") == 0);
  lf_meta_task_list_destroy(&tasks);

  // Rebuilding that run from the store: list, read, parse, index (one transaction).
  char *rpath = fmt("%s/bench/reindexed.sqlite3", fx->dir);
  lf_meta *re = lf_meta_open(rpath, &err);
  CHECK(re != NULL);
  t0 = lf_time_mono_us();
  CHECK(re != NULL && bstore != NULL && lf_api_reindex(bstore, re, &err) == LF_OK);
  t1 = lf_time_mono_us();
  printf("meta: reindexed a run of %d tasks from a local store at %.0f records/s\n", NTASK,
         NTASK / ((double)(t1 - t0) / 1e6));
  char *d1 = dump(meta);
  char *d2 = dump(re);
  CHECK(strcmp(d1, d2) == 0);
  lf_free(d1);
  lf_free(d2);
  lf_meta_close(re);
  lf_free(rpath);
  lf_store_free(bstore);
  lf_free(broot);

  // 10,000 runs of one flow: 5 users, 2/3 successful, every run tagged "common", every
  // 1000th "rare".
  static const char *const users[] = {"ann", "bob", "cy", "dee", "eve"};
  t0 = lf_time_mono_us();
  CHECK(lf_meta_begin(meta, &err) == LF_OK);
  for (int i = 1; i <= NRUN && ok; i++) {
    char run[16];
    snprintf(run, sizeof(run), "%d", i);
    const char *user = users[i % 5];
    char *sys = fmt("[\"user:%s\", \"luaflow_version:0.1.0\"]", user);
    r = run_json("ManyFlow", run, user, i % 3 == 0 ? "failed" : "ok", T0 + i, T0 + i + 5,
                 i % 1000 == 0 ? "[\"common\", \"rare\"]" : "[\"common\"]", sys);
    ok = put_text(meta, K_RUN, r, &err) == LF_OK;
    lf_free(r);
    lf_free(sys);
  }
  CHECK(ok);
  CHECK(lf_meta_commit(meta, &err) == LF_OK);
  t1 = lf_time_mono_us();
  printf("meta: indexed %d run records (parse+put) at %.0f records/s\n", NRUN,
         NRUN / ((double)(t1 - t0) / 1e6));

  char *id = NULL;
  t0 = lf_time_mono_us();
  CHECK(lf_meta_latest_run(meta, "ManyFlow", false, NULL, &id, &err) == LF_OK);
  CHECK_STR(id, "10000");
  lf_free(id);
  t1 = lf_time_mono_us();
  CHECK(lf_meta_latest_run(meta, "ManyFlow", true, "eve", &id, &err) == LF_OK);
  CHECK_STR(id, "9994");
  lf_free(id);
  t2 = lf_time_mono_us();
  lf_meta_run_list runs;
  const char *rare[] = {"rare"};
  lf_meta_run_filter f = {0};
  f.tags = rare;
  f.n_tags = 1;
  CHECK(lf_meta_list_runs(meta, "ManyFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, NRUN / 1000);
  CHECK(runs.count > 0 && strcmp(runs.items[0].run_id, "10000") == 0);
  lf_meta_run_list_destroy(&runs);
  t3 = lf_time_mono_us();
  const char *common[] = {"common", "user:bob"};
  f.tags = common;
  f.n_tags = 2;
  f.limit = 10;
  CHECK(lf_meta_list_runs(meta, "ManyFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, 10);
  CHECK(runs.count > 0 && strcmp(runs.items[0].run_id, "9996") == 0);
  lf_meta_run_list_destroy(&runs);
  int64_t t4 = lf_time_mono_us();
  f.tags = NULL;
  f.n_tags = 0;
  f.limit = 0;
  f.user = "cy";
  CHECK(lf_meta_list_runs(meta, "ManyFlow", &f, &runs, &err) == LF_OK);
  CHECK_EQ_INT(runs.count, NRUN / 5);
  lf_meta_run_list_destroy(&runs);
  int64_t t5 = lf_time_mono_us();
  printf("meta: over %d runs: latest_run %.3f ms, latest successful by user %.3f ms, "
         "runs tagged 'rare' %.3f ms, 10 newest tagged 'common'+'user:bob' %.3f ms, "
         "all 2000 runs of a user with tags %.3f ms\n",
         NRUN, (double)(t1 - t0) / 1e3, (double)(t2 - t1) / 1e3, (double)(t3 - t2) / 1e3,
         (double)(t4 - t3) / 1e3, (double)(t5 - t4) / 1e3);
  lf_meta_close(meta);
  lf_free(path);
}

int main(void)
{
  const char *base = getenv("LF_TEST_TMP");
  if (base == NULL || base[0] == '\0') {
    base = "/tmp";
  }
  lf_err err = {0};
  if (lf_fs_mkdirs(base, &err) != LF_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  fixture fx = {0};
  fx.dir = fmt("%s/test_meta.XXXXXX", base);
  if (mkdtemp(fx.dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  fx.root = fmt("%s/store", fx.dir);
  fx.db = fmt("%s/index/sub/meta.sqlite3", fx.dir); // parents created by lf_meta_open
  fx.store = lf_store_open_local(fx.root, &err);
  fx.meta = lf_meta_open(fx.db, &err);
  CHECK(fx.store != NULL);
  CHECK(fx.meta != NULL);
  if (fx.store != NULL && fx.meta != NULL) {
    build_counter_flow(&fx);
    test_open(&fx);
    test_queries(&fx);
    test_idempotence(&fx);
    test_bad_records(&fx);
    test_reindex(&fx);
    test_concurrency(&fx);
    test_throughput(&fx);
  } else {
    fprintf(stderr, "setup: %s\n", err.msg);
  }
  lf_meta_close(fx.meta);
  lf_store_free(fx.store);
  lf_err_clear(&err);
  CHECK(lf_fs_rmtree(fx.dir, &err) == LF_OK);
  lf_free(fx.db);
  lf_free(fx.root);
  lf_free(fx.dir);
  return TEST_REPORT();
}
