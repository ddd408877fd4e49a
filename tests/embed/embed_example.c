// SPDX-License-Identifier: MIT
// A program that embeds luaflow through luaflow.h only: it loads a flow from a file, runs it
// with a parameter, reads artifacts back, and queries the history (runs by tag and success,
// the tasks of a run and a step, a task's artifacts). Run by the end-to-end tests:
//   embed_example FLOW.lua DATASTORE_ROOT LUAFLOW_BIN
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "luaflow.h"

static int started;
static int finished;

static int print_run(void *ud, const lf_run_info *r)
{
  bool has_user = false;
  for (const char *const *t = r->system_tags; *t != NULL; t++) {
    has_user = has_user || strncmp(*t, "user:", 5) == 0;
  }
  printf("%s run %s status %s user-tags %s%s origin %s\n", (const char *)ud, r->pathspec,
         r->status, r->tags[0] != NULL ? r->tags[0] : "-", has_user ? " (user)" : "",
         r->origin != NULL ? r->origin : "-");
  return 0;
}

static int print_task(void *ud, const lf_task_info *t)
{
  printf("%s task %s %s%s\n", (const char *)ud, t->pathspec, t->status,
         t->committed ? " committed" : "");
  return 0;
}

static int print_artifact(void *ud, const lf_artifact_info *a)
{
  (void)ud;
  printf("artifact %s %s %lld %.8s\n", a->name, a->type, (long long)a->size, a->sha);
  return 0;
}

static int stop_after_one(void *ud, const lf_task_info *t)
{
  (void)t;
  ++*(int *)ud;
  return 1;
}

// Callback data is a `void *`: labels go through a writable copy.
static void *label(const char *text)
{
  static char buf[8][32];
  static int next;
  char *b = buf[next++ % 8];
  snprintf(b, sizeof(buf[0]), "%s", text);
  return b;
}

// The history queries of luaflow.h over the two runs main() made.
static int query_history(lf_ctx *ctx)
{
  int rc = 0;
  lf_run_query q;
  memset(&q, 0, sizeof(q));
  q.size = sizeof(q);
  q.flow = "CounterBranchFlow";
  rc |= lf_ctx_runs(ctx, &q, print_run, label("all")) != LF_OK;
  const char *tags[] = {"second", NULL};
  q.tags = tags;
  rc |= lf_ctx_runs(ctx, &q, print_run, label("tagged")) != LF_OK;
  q.tags = NULL;
  q.successful_only = 1;
  q.limit = 1;
  rc |= lf_ctx_runs(ctx, &q, print_run, label("latest-successful")) != LF_OK;
  q.flow = "NoSuchFlow";
  rc |= lf_ctx_runs(ctx, &q, print_run, label("none")) != LF_OK;
  rc |= lf_ctx_tasks(ctx, "CounterBranchFlow/1", print_task, label("run")) != LF_OK;
  rc |= lf_ctx_tasks(ctx, "CounterBranchFlow/2/join", print_task, label("step")) != LF_OK;
  int calls = 0;
  rc |= lf_ctx_tasks(ctx, "CounterBranchFlow/2", stop_after_one, &calls) != LF_OK;
  printf("stopped after %d\n", calls);
  rc |= lf_ctx_artifacts(ctx, "CounterBranchFlow/1/end/5", print_artifact, NULL) != LF_OK;
  if (lf_ctx_tasks(ctx, "CounterBranchFlow/99", print_task, label("x")) != LF_ERR_NOTFOUND) {
    rc = 1;
  }
  printf("not found: %s\n", lf_ctx_errmsg(ctx));
  if (lf_ctx_artifacts(ctx, "CounterBranchFlow/1/end", print_artifact, NULL) != LF_ERR_USAGE) {
    rc = 1;
  }
  printf("usage: %s\n", lf_ctx_errmsg(ctx));
  return rc;
}

static void on_event(void *ud, const lf_event *ev)
{
  (void)ud;
  if (ev->kind == LF_EVENT_TASK_STARTED) {
    started++;
  } else if (ev->kind == LF_EVENT_TASK_FINISHED) {
    finished++;
  }
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: embed_example FLOW.lua DATASTORE_ROOT LUAFLOW_BIN\n");
    return 2;
  }
  lf_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.size = sizeof(cfg);
  cfg.datastore_root = argv[2];
  cfg.luaflow_bin = argv[3];
  lf_ctx *ctx = lf_ctx_new(&cfg);
  lf_flow *flow = NULL;
  if (lf_flow_load(ctx, argv[1], &flow) != LF_OK) {
    fprintf(stderr, "load: %s\n", lf_ctx_errmsg(ctx));
    lf_ctx_free(ctx);
    return 1;
  }
  const char *params[] = {"creature", "embedded-seal", NULL};
  lf_run_opts opts;
  memset(&opts, 0, sizeof(opts));
  opts.size = sizeof(opts);
  opts.params = params;
  opts.on_event = on_event;
  lf_run *run = NULL;
  lf_status st = lf_flow_run(flow, &opts, &run);
  if (st != LF_OK) {
    fprintf(stderr, "run: %s (%s)\n", lf_ctx_errmsg(ctx), lf_status_str(st));
    lf_run_free(run);
    lf_flow_free(flow);
    lf_ctx_free(ctx);
    return 1;
  }
  printf("run %s: %d tasks started, %d finished\n", lf_run_pathspec(run), started, finished);
  // The end task of CounterBranchFlow is the fifth task.
  char spec[256];
  snprintf(spec, sizeof(spec), "%s/end/5", lf_run_pathspec(run));
  lf_value *count = NULL;
  lf_value *animal = NULL;
  int rc = 0;
  if (lf_run_read_artifact(ctx, spec, "count", &count) != LF_OK ||
      lf_run_read_artifact(ctx, spec, "animal", &animal) != LF_OK) {
    fprintf(stderr, "read: %s\n", lf_ctx_errmsg(ctx));
    rc = 1;
  } else if (count->type != LF_VAL_INTEGER || animal->type != LF_VAL_STRING) {
    fprintf(stderr, "unexpected artifact types\n");
    rc = 1;
  } else {
    printf("count = %lld, animal = %s\n", (long long)count->integer, animal->str);
  }
  lf_value *missing = NULL;
  if (lf_run_read_artifact(ctx, spec, "nope", &missing) != LF_ERR_NOTFOUND) {
    fprintf(stderr, "a missing artifact was not reported as missing\n");
    rc = 1;
  } else {
    printf("missing: %s\n", lf_ctx_errmsg(ctx));
  }
  // A second run, tagged, for the history queries.
  const char *tags[] = {"second", NULL};
  opts.tags = tags;
  lf_run *run2 = NULL;
  if (lf_flow_run(flow, &opts, &run2) != LF_OK) {
    fprintf(stderr, "second run: %s\n", lf_ctx_errmsg(ctx));
    rc = 1;
  }
  lf_run_free(run2);
  if (query_history(ctx) != 0) {
    fprintf(stderr, "query: %s\n", lf_ctx_errmsg(ctx));
    rc = 1;
  }
  lf_value_free(count);
  lf_value_free(animal);
  lf_run_free(run);
  lf_flow_free(flow);
  lf_ctx_free(ctx);
  return rc;
}
