// SPDX-License-Identifier: MIT
// The executor interface: how the scheduler launches a task somewhere (a local process, AWS
// Batch, Slurm) and hears back. Executors report through the lf_sched_on_* functions of
// sched.h, from the loop thread.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/// What an executor needs to start one attempt of a task: it runs
/// `luaflow step FLOW STEP --run-id R --task-id T --attempt A [--inputs ...] [--split-index I]`.
typedef struct lf_exec_task {
  const char *flow_path;
  const char *step;
  const char *run_id;
  const char *task_id;
  int attempt;
  const char *inputs;      ///< compact input list, e.g. "start/1" or "work/2-1001"
  int split_index;         ///< 1-based foreach index, or 0
  int catch_from;          ///< >= 0: commit the failure of this attempt (catch), run nothing
  const char *datastore_root;
  const char *const *with; ///< --with specs, NULL-terminated; may be NULL
} lf_exec_task;

typedef struct lf_executor {
  const char *name;
  /// Starts a task. `task_ud` is handed back in every lf_sched_on_* report for it; the pid
  /// arrives through lf_sched_on_started (possibly before launch returns).
  /// @param[out] handle executor's handle for kill().
  lf_status (*launch)(void *self, const lf_exec_task *t, void *task_ud, void **handle,
                      lf_err *err);
  /// Sends `sig` to a launched task (its whole process group locally).
  void (*kill)(void *self, void *handle, int sig);
  void (*free)(void *self);
  void *self;
} lf_executor;
