// SPDX-License-Identifier: MIT
// This file contains lf_worker_main: the argument parsing of `luaflow step`, in the library
// so that a program embedding luaflow can be its own worker binary (luaflow_ext.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "core/settings.h"

static const char usage[] =
  "step FLOW.lua STEP --run-id R --task-id T [--attempt N] [--inputs SPEC] "
  "[--split-index I] [--catch-from N] [--with SPEC]... [--msg-fd FD] [--datastore-root DIR]";

static bool to_int(const char *v, int *out)
{
  char *end = NULL;
  long x = strtol(v, &end, 10);
  if (end == v || *end != '\0' || x < -1 || x > 1000000000) {
    fprintf(stderr, "luaflow: '%s' is not a valid number\n", v);
    return false;
  }
  *out = (int)x;
  return true;
}

LF_API int lf_worker_main(lf_ctx *ctx, int argc, char **argv)
{
  // Output must reach the parent line by line, as it happens.
  setvbuf(stdout, NULL, _IOLBF, 0);
  lf_step_opts o;
  memset(&o, 0, sizeof(o));
  o.size = sizeof(o);
  o.msg_fd = -1;
  const char *pos[2] = {NULL, NULL};
  int npos = 0;
  // The scheduler passes the run's --with specs on; a run has few of them.
  const char *with[65] = {NULL};
  size_t nwith = 0;
  o.with = with;
  bool ok = true;
  for (int i = 2; ok && i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      printf("usage: %s %s\nRuns one task of a flow (what the scheduler starts).\n", argv[0],
             usage);
      return 0;
    }
    if (a[0] == '-' && a[1] == '-') {
      if (i + 1 >= argc) {
        fprintf(stderr, "luaflow: option %s needs a value\n", a);
        return 2;
      }
      const char *v = argv[++i];
      if (strcmp(a, "--run-id") == 0) {
        o.run_id = v;
      } else if (strcmp(a, "--task-id") == 0) {
        o.task_id = v;
      } else if (strcmp(a, "--attempt") == 0) {
        ok = to_int(v, &o.attempt);
      } else if (strcmp(a, "--inputs") == 0) {
        o.inputs = v;
      } else if (strcmp(a, "--split-index") == 0) {
        ok = to_int(v, &o.split_index);
      } else if (strcmp(a, "--msg-fd") == 0) {
        ok = to_int(v, &o.msg_fd);
      } else if (strcmp(a, "--serve-fd") == 0) {
        ok = to_int(v, &o.serve_fd);
      } else if (strcmp(a, "--catch-from") == 0) {
        o.catch_mode = 1;
        ok = to_int(v, &o.catch_from);
      } else if (strcmp(a, "--datastore-root") == 0) {
        lf_free(ctx->datastore_root);
        ctx->datastore_root = lf_settings_normalize_root(v);
        lf_err_clear(&ctx->setup_err); // the parent chose this root; its choice stands
      } else if (strcmp(a, "--with") == 0) {
        if (nwith == 64) {
          fprintf(stderr, "luaflow: too many --with options\n");
          return 2;
        }
        with[nwith++] = v;
      } else {
        fprintf(stderr, "luaflow: unknown option %s; usage: %s %s\n", a, argv[0], usage);
        return 2;
      }
      continue;
    }
    if (npos == 2) {
      ok = false;
      break;
    }
    pos[npos++] = a;
  }
  bool serving = o.serve_fd > 0 && npos == 1;
  if (!ok || (!serving && (npos != 2 || o.run_id == NULL || o.task_id == NULL))) {
    fprintf(stderr, "luaflow: usage: %s %s\n", argv[0], usage);
    return 2;
  }
  o.flow_path = pos[0];
  o.step = serving ? NULL : pos[1];
  lf_status st = lf_run_step(ctx, &o);
  if (st != LF_OK && o.msg_fd < 0) {
    fprintf(stderr, "%s\n", lf_ctx_errmsg(ctx));
  }
  fflush(stdout);
  return st == LF_OK ? 0 : (st == LF_ERR_USAGE || st == LF_ERR_FLOW) ? 2 : 1;
}
