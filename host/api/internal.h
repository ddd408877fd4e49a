// SPDX-License-Identifier: MIT
// Shared internals of the api/ layer: the bodies of the public handles.
#pragma once

#include <lua.h>
#include <stdbool.h>
#include <uv.h>

#include "core/err.h"
#include "dag/dag.h"
#include "luaflow.h"
#include "meta/meta.h"
#include "sched/sched.h"
#include "store/store.h"

struct lf_ctx {
  lf_config cfg;
  char *datastore_root; ///< absolute path or s3:// URL ("" when setup_err is set)
  char *luaflow_bin;
  lf_err err;
  lf_err setup_err;     ///< a bad datastore choice, reported when the store is first needed
  lf_store *store; ///< opened on first use
  lf_meta *meta;   ///< opened on first use
  uv_loop_t loop;
  bool loop_ready;
  volatile int interrupt_requested;
  uv_async_t interrupt_async;
  struct lf_sched *sched; ///< the running scheduler, if any
  struct lf_lua_cmodule *modules; ///< registered with lf_ctx_add_lua_module (names owned)
  lua_State *volatile try_L; ///< the state of a step being tried (lf_api_step_try), or NULL
  size_t nmodules;
  struct lf_s3 *s3; ///< the S3 client of lf_ctx_s3_* (objects.c), made on first use
};

/// One declared parameter of a flow.
typedef struct lf_param {
  char *artifact;
  char *name;
  char *help;
  char *type;     ///< string | integer | number | boolean | json | file
  bool required;
  bool has_default;
  bool is_text;   ///< include_file
  int default_ref; ///< registry ref of the default value in the flow's Lua state
} lf_param;

struct lf_flow {
  lf_ctx *ctx;
  char *path;     ///< as given (used in messages)
  char *abspath;  ///< absolute (used by workers)
  char *name;
  char *doc;
  lf_dag *dag;
  lua_State *L;
  int flow_ref;   ///< registry ref of the flow object
  lf_param *params;
  size_t nparams;
  lf_sched_step_conf *confs; ///< per dag step: options as the scheduler and workers use them
};

struct lf_run {
  char *flow;
  char *run_id;
  char *pathspec;
  char *origin; ///< resume: "Flow/run" it continues, or NULL
};

/// Sets the context's error message from `err` and returns its code.
lf_status lf_api_fail(lf_ctx *ctx, const lf_err *err);
/// Opens (once) and returns the context's store, or NULL with ctx error set.
lf_store *lf_api_store(lf_ctx *ctx);
/// Opens (once) and returns the metadata index, or NULL with ctx error set.
lf_meta *lf_api_meta(lf_ctx *ctx);
/// The context's loop, initialised on first use.
uv_loop_t *lf_api_loop(lf_ctx *ctx);
/// Reads every step's options into f->confs (again after --with changed them).
lf_status lf_api_flow_confs(lf_flow *f, lf_err *err);
/// Applies `--with` specs (NULL-terminated) to the flow's steps and rereads f->confs.
/// @return LF_OK, or LF_ERR_USAGE naming the bad spec.
lf_status lf_api_flow_apply_with(lf_flow *f, const char *const *with, lf_err *err);
/// Frees f->confs.
void lf_api_flow_free_confs(lf_flow *f);
/// Loads a flow into a fresh Lua state and validates it (flow.c).
lf_status lf_api_flow_load(lf_ctx *ctx, const char *path, lf_flow **out, lf_err *err);
/// Runs one step of the flow `opts->flow_path` in this process against committed tasks of
/// run `opts->run_id` (`inputs` and `split_index` as for lf_run_step) and stores nothing: the
/// REPL's step(). On success pushes onto `dst` a table { pathspec, values = {name = value},
/// nils = {name = true}, passed = {name = {sha, type, size}}, next = {...}, foreach_count }:
/// what the step assigned (or loaded and may have changed), and what it passed on untouched.
/// @param[out] traceback a failed step's traceback (caller frees with lf_free), or NULL
lf_status lf_api_step_try(lf_ctx *ctx, const lf_step_opts *opts, lua_State *dst,
                          char **traceback, lf_err *err);
/// The context's S3 client, made on first use, or NULL with the ctx error set (a bad
/// endpoint or profile). Borrowed; freed by lf_ctx_free.
struct lf_s3 *lf_api_s3(lf_ctx *ctx);
/// Current user name: $LUAFLOW_USER, else the login name, else "unknown". Borrowed static.
const char *lf_api_username(void);
