// SPDX-License-Identifier: MIT
// This file contains the local executor: it runs each task as a `luaflow step` process via
// proc/ and forwards its lines, messages and exit to the scheduler.
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "proc/proc.h"
#include "sched/sched.h"

typedef struct local_exec {
  lf_sched *sched;
  uv_loop_t *loop;
  char *bin;
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

static void on_exit(void *ud, int64_t exit_status, int term_signal, const char *protocol_error)
{
  local_task *t = ud;
  lf_sched *s = t->ex->sched;
  void *task_ud = t->task_ud;
  lf_free(t);
  lf_sched_on_exit(s, task_ud, exit_status, term_signal, protocol_error);
}

static lf_status launch(void *self, const lf_exec_task *task, void *task_ud, void **handle,
                        int64_t *pid, lf_err *err)
{
  local_exec *ex = self;
  char attempt[16];
  char split[16];
  snprintf(attempt, sizeof(attempt), "%d", task->attempt);
  snprintf(split, sizeof(split), "%d", task->split_index);
  char *argv[24];
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
  argv[n] = NULL;
  local_task *t = lf_xcalloc(1, sizeof(*t));
  t->ex = ex;
  t->task_ud = task_ud;
  lf_proc_opts po = {.file = ex->bin, .argv = argv, .env = NULL, .cwd = NULL};
  lf_proc_cbs cbs = {.on_line = on_line, .on_msg = on_msg, .on_exit = on_exit};
  lf_status st = lf_proc_spawn(ex->loop, &po, &cbs, t, &t->proc, err);
  if (st != LF_OK) {
    lf_free(t);
    return st;
  }
  *handle = t;
  *pid = lf_proc_pid(t->proc);
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
  lf_free(ex->bin);
  lf_free(ex);
}

lf_executor lf_sched_local_executor(lf_sched *s, uv_loop_t *loop, const char *luaflow_bin)
{
  local_exec *ex = lf_xcalloc(1, sizeof(*ex));
  ex->sched = s;
  ex->loop = loop;
  ex->bin = lf_xstrdup(luaflow_bin);
  lf_executor e = {
    .name = "local", .launch = launch, .kill = kill_task, .free = free_exec, .self = ex};
  return e;
}
