// SPDX-License-Identifier: MIT
// A program that embeds luaflow through luaflow.h only: it loads a flow from a file, runs it
// with a parameter, and reads one artifact back. Run by the end-to-end tests:
//   embed_example FLOW.lua DATASTORE_ROOT LUAFLOW_BIN
#include <stdio.h>
#include <string.h>

#include "luaflow.h"

static int started;
static int finished;

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
  lf_value_free(count);
  lf_value_free(animal);
  lf_run_free(run);
  lf_flow_free(flow);
  lf_ctx_free(ctx);
  return rc;
}
