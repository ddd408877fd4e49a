// SPDX-License-Identifier: MIT
// A program that embeds luaflow, built against the installed library:
//
//   cc embed.c $(pkg-config --cflags --libs luaflow) -o embed
//   ./embed flow.lua DATASTORE_ROOT
//
// It gives its flows a C module ("embedmath"), runs the flow with a parameter while
// counting progress events, and reads an artifact back. Workers are separate processes, so
// the program is also its own worker binary: started as "embed step ...", it registers the
// same module and hands over to lf_worker_main().
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "luaflow.h"
#include "luaflow_ext.h"

static int cube(lua_State *L)
{
  lua_Integer x = luaL_checkinteger(L, 1);
  lua_pushinteger(L, x * x * x);
  return 1;
}

static int open_embedmath(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"cube", cube},
    {NULL,   NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}

static int started;
static int finished;

static void on_event(void *ud, const lf_event *ev)
{
  (void)ud;
  if (ev->kind == LF_EVENT_TASK_STARTED) {
    started++;
  } else if (ev->kind == LF_EVENT_TASK_FINISHED) {
    finished++;
  } else if (ev->kind == LF_EVENT_TASK_OUTPUT) {
    printf("[%s] %s\n", ev->step, ev->line);
  }
}

static int print_latest(void *ud, const lf_run_info *r)
{
  (void)ud;
  printf("latest successful run: %s (%s)\n", r->pathspec, r->status);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "step") == 0) {
    lf_ctx *ctx = lf_ctx_new(NULL);
    lf_ctx_add_lua_module(ctx, "embedmath", open_embedmath);
    int rc = lf_worker_main(ctx, argc, argv);
    lf_ctx_free(ctx);
    return rc;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s FLOW.lua DATASTORE_ROOT\n", argv[0]);
    return 2;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    perror("readlink");
    return 1;
  }
  self[n] = '\0';
  lf_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.size = sizeof(cfg);
  cfg.datastore_root = argv[2];
  cfg.luaflow_bin = self;
  lf_ctx *ctx = lf_ctx_new(&cfg);
  lf_ctx_add_lua_module(ctx, "embedmath", open_embedmath);
  lf_flow *flow = NULL;
  lf_run *run = NULL;
  lf_value *y = NULL;
  int rc = 1;
  if (lf_flow_load(ctx, argv[1], &flow) != LF_OK) {
    fprintf(stderr, "load: %s\n", lf_ctx_errmsg(ctx));
    goto out;
  }
  const char *params[] = {"x", "4", NULL};
  lf_run_opts opts;
  memset(&opts, 0, sizeof(opts));
  opts.size = sizeof(opts);
  opts.params = params;
  opts.on_event = on_event;
  if (lf_flow_run(flow, &opts, &run) != LF_OK) {
    fprintf(stderr, "run: %s\n", lf_ctx_errmsg(ctx));
    goto out;
  }
  char spec[256];
  snprintf(spec, sizeof(spec), "%s/start/1", lf_run_pathspec(run));
  if (lf_run_read_artifact(ctx, spec, "y", &y) != LF_OK || y->type != LF_VAL_INTEGER) {
    fprintf(stderr, "read: %s\n", lf_ctx_errmsg(ctx));
    goto out;
  }
  printf("%s: %d tasks started, %d finished; y = %lld\n", lf_run_pathspec(run), started,
         finished, (long long)y->integer);
  // The history: the latest successful run of the flow, from the index.
  lf_run_query q;
  memset(&q, 0, sizeof(q));
  q.size = sizeof(q);
  q.flow = lf_flow_name(flow);
  q.successful_only = 1;
  q.limit = 1;
  if (lf_ctx_runs(ctx, &q, print_latest, NULL) != LF_OK) {
    fprintf(stderr, "query: %s\n", lf_ctx_errmsg(ctx));
    goto out;
  }
  rc = 0;
out:
  lf_value_free(y);
  lf_run_free(run);
  lf_flow_free(flow);
  lf_ctx_free(ctx);
  return rc;
}
