// SPDX-License-Identifier: MIT
// This file contains the history queries of the embedding API: runs of a flow (filtered by
// user, tags and success, newest first), the tasks of a run or step, and the artifacts of a
// task — all answered from the sqlite index, handed to callbacks as borrowed structs.
#include <string.h>

#include "api/internal.h"
#include "core/alloc.h"

// Splits "Flow/run[/step[/task]]" into parts (copied into `buf`). Returns the part count, or
// 0 if the pathspec is malformed (empty parts, too many).
static size_t split_pathspec(const char *spec, char *buf, size_t bufsize, char *parts[4])
{
  size_t n = strlen(spec);
  if (n == 0 || n >= bufsize) {
    return 0;
  }
  memcpy(buf, spec, n + 1);
  size_t count = 0;
  char *p = buf;
  for (;;) {
    if (count == 4) {
      return 0;
    }
    parts[count++] = p;
    char *slash = strchr(p, '/');
    if (slash == NULL) {
      break;
    }
    *slash = '\0';
    p = slash + 1;
  }
  for (size_t i = 0; i < count; i++) {
    if (parts[i][0] == '\0') {
      return 0;
    }
  }
  return count;
}

static int call_run(lf_run_fn fn, void *ud, const lf_meta_run *r)
{
  const char **tags = lf_xcalloc(r->tags.count + 1, sizeof(*tags));
  const char **sys = lf_xcalloc(r->system_tags.count + 1, sizeof(*sys));
  for (size_t i = 0; i < r->tags.count; i++) {
    tags[i] = r->tags.items[i];
  }
  for (size_t i = 0; i < r->system_tags.count; i++) {
    sys[i] = r->system_tags.items[i];
  }
  char *pathspec = lf_xasprintf("%s/%s", r->flow, r->run_id);
  char *origin = r->origin_run != NULL ? lf_xasprintf("%s/%s", r->flow, r->origin_run) : NULL;
  lf_run_info info = {.flow = r->flow,
                      .run_id = r->run_id,
                      .pathspec = pathspec,
                      .user = r->user,
                      .status = r->status,
                      .created_at_us = r->created_at,
                      .finished_at_us = r->finished_at,
                      .origin = origin,
                      .tags = tags,
                      .system_tags = sys};
  int stop = fn(ud, &info);
  lf_free(origin);
  lf_free(pathspec);
  lf_free(tags);
  lf_free(sys);
  return stop;
}

LF_API lf_status lf_ctx_runs(lf_ctx *ctx, const lf_run_query *query, lf_run_fn fn, void *ud)
{
  lf_run_query q;
  memset(&q, 0, sizeof(q));
  if (query != NULL) {
    memcpy(&q, query, query->size < sizeof(q) ? query->size : sizeof(q));
  }
  lf_err err;
  lf_err_clear(&err);
  if (q.flow == NULL || q.flow[0] == '\0' || fn == NULL) {
    LF_ERR(&err, LF_ERR_USAGE, "lf_ctx_runs needs a flow name and a callback");
    return lf_api_fail(ctx, &err);
  }
  lf_meta *meta = lf_api_meta(ctx);
  if (meta == NULL) {
    return ctx->err.code;
  }
  size_t ntags = 0;
  while (q.tags != NULL && q.tags[ntags] != NULL) {
    ntags++;
  }
  lf_status st;
  if (q.successful_only && q.limit == 1 && ntags == 0) {
    // The common question, "the latest successful run", is one indexed lookup.
    char *id = NULL;
    st = lf_meta_latest_run(meta, q.flow, true, q.user, &id, &err);
    if (st == LF_ERR_NOTFOUND) {
      lf_free(id);
      return LF_OK;
    }
    lf_meta_run run;
    memset(&run, 0, sizeof(run));
    if (st == LF_OK) {
      st = lf_meta_run_info(meta, q.flow, id, &run, &err);
    }
    if (st == LF_OK) {
      (void)call_run(fn, ud, &run);
    }
    lf_meta_run_destroy(&run);
    lf_free(id);
    return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
  }
  lf_meta_run_filter filter = {.user = q.user,
                               .tags = q.tags,
                               .n_tags = ntags,
                               .limit = q.successful_only ? 0 : q.limit};
  lf_meta_run_list list;
  memset(&list, 0, sizeof(list));
  st = lf_meta_list_runs(meta, q.flow, &filter, &list, &err);
  size_t given = 0;
  for (size_t i = 0; st == LF_OK && i < list.count; i++) {
    if (q.successful_only && strcmp(list.items[i].status, "ok") != 0) {
      continue;
    }
    if (q.limit > 0 && given == q.limit) {
      break;
    }
    given++;
    if (call_run(fn, ud, &list.items[i]) != 0) {
      break;
    }
  }
  lf_meta_run_list_destroy(&list);
  return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
}

LF_API lf_status lf_ctx_tasks(lf_ctx *ctx, const char *pathspec, lf_task_fn fn, void *ud)
{
  lf_err err;
  lf_err_clear(&err);
  char buf[1024];
  char *parts[4];
  size_t n = pathspec != NULL ? split_pathspec(pathspec, buf, sizeof(buf), parts) : 0;
  if ((n != 2 && n != 3) || fn == NULL) {
    LF_ERR(&err, LF_ERR_USAGE, "expected a pathspec 'Flow/run' or 'Flow/run/step', got '%s'",
           pathspec != NULL ? pathspec : "(null)");
    return lf_api_fail(ctx, &err);
  }
  lf_meta *meta = lf_api_meta(ctx);
  if (meta == NULL) {
    return ctx->err.code;
  }
  lf_meta_run run;
  memset(&run, 0, sizeof(run));
  lf_status st = lf_meta_run_info(meta, parts[0], parts[1], &run, &err);
  lf_meta_run_destroy(&run);
  lf_meta_task_list list;
  memset(&list, 0, sizeof(list));
  if (st == LF_OK) {
    st = lf_meta_list_tasks(meta, parts[0], parts[1], n == 3 ? parts[2] : NULL, &list, &err);
  }
  for (size_t i = 0; st == LF_OK && i < list.count; i++) {
    const lf_meta_task *t = &list.items[i];
    char *spec = lf_xasprintf("%s/%s/%s/%s", parts[0], parts[1], t->step, t->task_id);
    lf_task_info info = {.pathspec = spec,
                         .step = t->step,
                         .task_id = t->task_id,
                         .status = t->status,
                         .committed = t->committed,
                         .attempt = t->attempt,
                         .started_at_us = t->started_at,
                         .finished_at_us = t->finished_at,
                         .origin = t->origin};
    int stop = fn(ud, &info);
    lf_free(spec);
    if (stop != 0) {
      break;
    }
  }
  lf_meta_task_list_destroy(&list);
  return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
}

LF_API lf_status lf_ctx_artifacts(lf_ctx *ctx, const char *task_pathspec, lf_artifact_fn fn,
                                  void *ud)
{
  lf_err err;
  lf_err_clear(&err);
  char buf[1024];
  char *parts[4];
  size_t n = task_pathspec != NULL ? split_pathspec(task_pathspec, buf, sizeof(buf), parts) : 0;
  if (n != 4 || fn == NULL) {
    LF_ERR(&err, LF_ERR_USAGE, "expected a task pathspec 'Flow/run/step/task', got '%s'",
           task_pathspec != NULL ? task_pathspec : "(null)");
    return lf_api_fail(ctx, &err);
  }
  lf_meta *meta = lf_api_meta(ctx);
  if (meta == NULL) {
    return ctx->err.code;
  }
  lf_meta_artifact_list list;
  memset(&list, 0, sizeof(list));
  lf_status st = lf_meta_task_artifacts(meta, parts[0], parts[1], parts[2], parts[3], &list, &err);
  for (size_t i = 0; st == LF_OK && i < list.count; i++) {
    const lf_meta_artifact *a = &list.items[i];
    lf_artifact_info info = {.name = a->name, .type = a->type_name, .sha = a->sha, .size = a->size};
    if (fn(ud, &info) != 0) {
      break;
    }
  }
  lf_meta_artifact_list_destroy(&list);
  return st == LF_OK ? LF_OK : lf_api_fail(ctx, &err);
}
