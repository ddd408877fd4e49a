// SPDX-License-Identifier: MIT
// The scheduler: runs one flow run on a libuv loop. It keeps the ready queue under
// max-workers, fans out static splits and foreaches (checking max-num-splits), holds join
// barriers until every branch of a split has arrived, records attempts and logs in the
// datastore, indexes every record in the metadata index (its only writer), and reports
// progress through an event callback.
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "dag/dag.h"
#include "luaflow.h"
#include "meta/meta.h"
#include "sched/executor.h"
#include "store/store.h"

typedef struct lf_sched lf_sched;

/// What the scheduler needs of a step's options (flow:step options and --with).
typedef struct lf_sched_step_conf {
  int retries;          ///< extra attempts after a failure
  double retry_delay;   ///< seconds between attempts
  double timeout;       ///< seconds an attempt may run; 0 = no limit
  char *catch_var;      ///< artifact that receives the failure instead of failing; or NULL
  double cpu;           ///< cores the task needs; 0 = not declared
  double memory;        ///< MB the task needs; 0 = not declared
  int gpu;
  char **env;           ///< "NAME=value" strings for the task's environment, NULL-terminated
} lf_sched_step_conf;

typedef struct lf_sched_opts {
  uv_loop_t *loop;
  const lf_dag *dag;
  const lf_sched_step_conf *confs; ///< per step, indexed like the dag
  const char *flow_name;
  const char *flow_path;   ///< as workers should load it (absolute)
  const char *run_id;
  const char *datastore_root;
  lf_store *store;
  lf_meta *meta;           ///< may be NULL (no index)
  const char *luaflow_bin; ///< the binary local workers run
  const char *const *with; ///< --with specs workers apply too; may be NULL
  const char *origin_run;  ///< resume: the run whose tasks are cloned; NULL otherwise
  const bool *clone_steps; ///< resume: per step, whether its tasks are cloned
  int max_workers;
  int max_num_splits;
  lf_event_fn on_event;
  void *event_ud;
} lf_sched_opts;

/// Creates a scheduler for a run whose parameters task ("_parameters/0") is committed.
lf_sched *lf_sched_new(const lf_sched_opts *opts);
void lf_sched_free(lf_sched *s);
/// Runs the loop until the run ends. @return LF_OK, LF_ERR_TASK (a task failed or the run
/// could not go on: the message says why), or LF_ERR_INTERRUPTED.
lf_status lf_sched_run(lf_sched *s, lf_err *err);
/// Stops the run: kills running tasks (SIGTERM, then SIGKILL) and launches no more.
void lf_sched_interrupt(lf_sched *s);

/// Reports from executors (loop thread).
void lf_sched_on_started(lf_sched *s, void *task_ud, int64_t pid);
void lf_sched_on_output(lf_sched *s, void *task_ud, int stream, const char *line, size_t len);
void lf_sched_on_message(lf_sched *s, void *task_ud, const char *data, size_t len);
void lf_sched_on_exit(lf_sched *s, void *task_ud, int64_t exit_status, int term_signal,
                      const char *protocol_error);

/// The local executor: one `luaflow step` process per task (exec_local.c).
/// @param luaflow_bin path of the binary to run. Free with executor.free(executor.self).
lf_executor lf_sched_local_executor(lf_sched *s, uv_loop_t *loop, const char *luaflow_bin);
