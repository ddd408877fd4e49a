// SPDX-License-Identifier: MIT
// This file contains the local executor: it runs each task as a `luaflow step` process via
// proc/ and forwards its lines, messages and exit to the scheduler.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "proc/forkserver.h"
#include "proc/proc.h"
#include "sched/sched.h"

// By default tasks are forked from a per-run fork server that has loaded the flow once;
// LUAFLOW_FORKSERVER=0 starts a fresh `luaflow step` process for every task instead.
typedef struct local_exec {
  lf_sched *sched;
  uv_loop_t *loop;
  char *bin;
  bool use_forkserver;
  lf_forkserver *fs;
} local_exec;

typedef struct local_task {
  local_exec *ex;
  void *task_ud;
  lf_proc *proc;
} local_task;

static void on_line(void *ud, int stream, const char *line, size_t len)
{
  local_task *t = ud;
  lf_sched_on_output(t->ex->sched, t->task_ud, stream, line, len);
}

static void on_msg(void *ud, const char *data, size_t len)
{
  local_task *t = ud;
  lf_sched_on_message(t->ex->sched, t->task_ud, data, len);
}

static void on_pid(void *ud, int64_t pid)
{
  local_task *t = ud;
  lf_sched_on_started(t->ex->sched, t->task_ud, pid);
}

static void task_exit(void *ud, int64_t exit_status, int term_signal, const char *protocol_error)
{
  local_task *t = ud;
  lf_sched *s = t->ex->sched;
  void *task_ud = t->task_ud;
  lf_free(t);
  lf_sched_on_exit(s, task_ud, exit_status, term_signal, protocol_error);
}

static size_t count_with(const lf_exec_task *task)
{
  size_t n = 0;
  while (task->with != NULL && task->with[n] != NULL) {
    n++;
  }
  return n;
}

// Appends "--with SPEC" for every spec to argv at *n.
static void add_with(char **argv, int *n, const lf_exec_task *task)
{
  for (size_t i = 0; task->with != NULL && task->with[i] != NULL; i++) {
    argv[(*n)++] = (char *)"--with";
    argv[(*n)++] = (char *)task->with[i];
  }
}

static lf_status start_forkserver(local_exec *ex, const lf_exec_task *task, lf_err *err)
{
  char **argv = lf_xcalloc(12 + 2 * count_with(task), sizeof(char *));
  int n = 0;
  argv[n++] = ex->bin;
  argv[n++] = (char *)"step";
  argv[n++] = (char *)task->flow_path;
  argv[n++] = (char *)"--run-id";
  argv[n++] = (char *)task->run_id;
  argv[n++] = (char *)"--datastore-root";
  argv[n++] = (char *)task->datastore_root;
  argv[n++] = (char *)"--serve-fd";
  argv[n++] = (char *)"3";
  add_with(argv, &n, task);
  argv[n] = NULL;
  // Symbols are bound once in the server instead of lazily in every forked task.
  extern char **environ;
  size_t ne = 0;
  while (environ[ne] != NULL) {
    ne++;
  }
  char **env = lf_xcalloc(ne + 2, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < ne; i++) {
    if (strncmp(environ[i], "LD_BIND_NOW=", 12) != 0) {
      env[k++] = environ[i];
    }
  }
  env[k++] = (char *)"LD_BIND_NOW=1";
  env[k] = NULL;
  lf_proc_opts po = {.file = ex->bin, .argv = argv, .env = env, .cwd = NULL};
  lf_status st = lf_forkserver_start(ex->loop, &po, &ex->fs, err);
  lf_free(env);
  lf_free(argv);
  return st;
}

static lf_status launch_forked(local_exec *ex, const lf_exec_task *task, local_task *t,
                               lf_err *err)
{
  if (ex->fs == NULL) {
    lf_status st = start_forkserver(ex, task, err);
    if (st != LF_OK) {
      return st;
    }
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 24);
  lf_dynbuf_addf(&b, "%s\t%s\t%d\t%d\t%d\t%s", task->step, task->task_id, task->attempt,
                 task->split_index, task->catch_from,
                 task->inputs != NULL ? task->inputs : "");
  lf_proc_cbs cbs = {.on_line = on_line, .on_msg = on_msg, .on_pid = on_pid, .on_exit = task_exit};
  lf_status st = lf_forkserver_spawn(ex->fs, b.data, &cbs, t, &t->proc, err);
  lf_dynbuf_free(&b);
  return st;
}

static lf_status launch(void *self, const lf_exec_task *task, void *task_ud, void **handle,
                        lf_err *err)
{
  local_exec *ex = self;
  if (ex->use_forkserver) {
    local_task *t = lf_xcalloc(1, sizeof(*t));
    t->ex = ex;
    t->task_ud = task_ud;
    *handle = t;
    lf_status st = launch_forked(ex, task, t, err);
    if (st != LF_OK) {
      *handle = NULL;
      lf_free(t);
    }
    return st;
  }
  char attempt[16];
  char split[16];
  char catch_from[16];
  snprintf(attempt, sizeof(attempt), "%d", task->attempt);
  snprintf(split, sizeof(split), "%d", task->split_index);
  snprintf(catch_from, sizeof(catch_from), "%d", task->catch_from);
  char **argv = lf_xcalloc(24 + 2 * count_with(task), sizeof(char *));
  int n = 0;
  argv[n++] = ex->bin;
  argv[n++] = (char *)"step";
  argv[n++] = (char *)task->flow_path;
  argv[n++] = (char *)task->step;
  argv[n++] = (char *)"--run-id";
  argv[n++] = (char *)task->run_id;
  argv[n++] = (char *)"--task-id";
  argv[n++] = (char *)task->task_id;
  argv[n++] = (char *)"--attempt";
  argv[n++] = attempt;
  argv[n++] = (char *)"--datastore-root";
  argv[n++] = (char *)task->datastore_root;
  argv[n++] = (char *)"--msg-fd";
  argv[n++] = (char *)"3";
  if (task->inputs != NULL) {
    argv[n++] = (char *)"--inputs";
    argv[n++] = (char *)task->inputs;
  }
  if (task->split_index > 0) {
    argv[n++] = (char *)"--split-index";
    argv[n++] = split;
  }
  if (task->catch_from >= 0) {
    argv[n++] = (char *)"--catch-from";
    argv[n++] = catch_from;
  }
  add_with(argv, &n, task);
  argv[n] = NULL;
  local_task *t = lf_xcalloc(1, sizeof(*t));
  t->ex = ex;
  t->task_ud = task_ud;
  lf_proc_opts po = {.file = ex->bin, .argv = argv, .env = NULL, .cwd = NULL};
  lf_proc_cbs cbs = {.on_line = on_line, .on_msg = on_msg, .on_pid = on_pid, .on_exit = task_exit};
  *handle = t;
  lf_status st = lf_proc_spawn(ex->loop, &po, &cbs, t, &t->proc, err);
  lf_free(argv);
  if (st != LF_OK) {
    *handle = NULL;
    lf_free(t);
    return st;
  }
  return LF_OK;
}

static void kill_task(void *self, void *handle, int sig)
{
  (void)self;
  local_task *t = handle;
  if (t != NULL && t->proc != NULL) {
    lf_proc_kill(t->proc, sig);
  }
}

static void free_exec(void *self)
{
  local_exec *ex = self;
  lf_forkserver_stop(ex->fs);
  lf_free(ex->bin);
  lf_free(ex);
}

lf_executor lf_sched_local_executor(lf_sched *s, uv_loop_t *loop, const char *luaflow_bin)
{
  local_exec *ex = lf_xcalloc(1, sizeof(*ex));
  ex->sched = s;
  ex->loop = loop;
  ex->bin = lf_xstrdup(luaflow_bin);
  const char *env = getenv("LUAFLOW_FORKSERVER");
  ex->use_forkserver = env == NULL || strcmp(env, "0") != 0;
  lf_executor e = {
    .name = "local", .launch = launch, .kill = kill_task, .free = free_exec, .self = ex};
  return e;
}
