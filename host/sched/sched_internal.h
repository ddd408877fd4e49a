// SPDX-License-Identifier: MIT
// Internals shared by the scheduler's files (sched.c, clone.c): the task table and the run
// state. Not for use outside sched/.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/json.h"
#include "sched/sched.h"

typedef struct frame {
  size_t split_task; // index into tasks
  int index;         // 1-based branch index
  int count;
} frame;

typedef enum task_state {
  T_READY,
  T_RUNNING,
  T_DONE,
  T_FAILED,
} task_state;

typedef struct sched_task {
  size_t id; // task id (1-based), index id-1 in the table
  int step;
  size_t *inputs; // task indexes; empty for start (its input is the parameters task)
  size_t ninputs;
  int split_index;
  frame *stack;
  size_t depth;
  task_state state;
  int attempt;
  void *handle;
  int64_t pid;
  int64_t started_at;
  lf_dynbuf logs[2];
  bool logs_truncated[2];
  lf_json *msg; // the worker's "done" message; msg.record is the committed task record
  char *fail_msg;
  char *fail_tb;
  struct lf_sched *sched;
  int catch_from;          // >= 0: the next attempt commits this failed attempt (catch)
  bool timed_out;
  uv_timer_t *timer;       // timeout of the running attempt, or the delay before a retry
  int timer_stage;         // 1: timeout (SIGTERM sent at 2), 3: retry delay
  // join barrier, when this task is a split: arrivals by branch index (SIZE_MAX = not yet)
  size_t *arrived;
  int narrived;
  int nbranches;
} sched_task;

struct lf_sched {
  lf_sched_opts o;
  lf_executor exec;
  sched_task **tasks;
  size_t ntasks;
  size_t cap;
  size_t *queue; // FIFO of ready task indexes
  size_t qhead;
  size_t qlen;
  size_t qcap;
  int running;
  bool failed;
  bool interrupted;
  bool stopping; // lf_sched_free: late reports are only bookkeeping
  lf_err err; // first failure of the run
  uv_timer_t kill_timer;
  bool kill_timer_active;
  uv_timer_t commit_timer; // index writes are batched into one transaction per interval
  bool in_txn;
  double cores;      // this machine's, for declared resources
  double memory_mb;
  double cpu_used;   // declared resources of running tasks
  double mem_used;
  int waiting;       // tasks waiting out a delay before their next attempt
  // per-step progress counters, indexed by step
  int *n_total;
  int *n_done;
  int *n_running;
  int *n_failed;
  // resume: the origin run's committed tasks of the steps to clone, sorted by key
  char **origin_keys;
  lf_json **origin_recs;
  size_t norigin;
};

/// The step name of a task. Borrowed.
const char *lf_sched_step_name(const lf_sched *s, const sched_task *t);

/// Resume: reads the origin run's committed tasks of the steps to clone. Call once before
/// the run starts. @return LF_OK or a store/corrupt error.
lf_status lf_sched_clone_load(lf_sched *s, lf_err *err);
/// Resume: if task `t` is of a step to clone and the origin run has its twin, commits the
/// clone (record, logs, index) and returns the origin record (borrowed; owned by the
/// scheduler), else NULL.
const lf_json *lf_sched_clone(lf_sched *s, sched_task *t, lf_err *err);
/// Frees what lf_sched_clone_load read.
void lf_sched_clone_free(lf_sched *s);
