// SPDX-License-Identifier: MIT
// Resume planning and orphaned-run detection (resume.c).
#pragma once

#include <stdbool.h>

#include "api/internal.h"
#include "core/json.h"

/// What a resumed run does.
typedef struct lf_resume_plan {
  char *origin_run;      ///< the run it continues
  char *step;            ///< the first step that runs again
  bool *clone;           ///< per dag step: its tasks are cloned from the origin
  lf_json *origin_params; ///< the origin's parameters task record
} lf_resume_plan;

/// Decides origin (given, or the user's latest run), resume step (given, or the first that
/// did not complete), clones and parameters. Free with lf_api_resume_plan_free (also after
/// a failure). @return LF_OK, LF_ERR_USAGE with a message, or a store error.
lf_status lf_api_resume_plan(lf_flow *f, lf_store *store, lf_meta *meta, const char *origin,
                             const char *step, lf_resume_plan *plan, lf_err *err);
void lf_api_resume_plan_free(lf_resume_plan *plan);
/// Marks recent runs of the flow whose scheduler died on this host as failed (logged).
void lf_api_mark_orphans(lf_flow *f, lf_store *store, lf_meta *meta);
