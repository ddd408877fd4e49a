// SPDX-License-Identifier: MIT
// Changes to the history after a run: user tags. Tags added or removed later live in
// `<Flow>/<run>/_tags.json` (the run's current user tags), not in `_run.json`, which the
// run's scheduler rewrites when it ends; whoever indexes a run record merges them in
// (lf_lua_history_run_record). Plain C over store + meta, shared by luaflow.client
// (run:add_tag) and the C API (`luaflow tag`).
#pragma once

#include <stddef.h>

#include "core/err.h"
#include "core/json.h"
#include "meta/meta.h"
#include "store/store.h"

/// Parses a run record and replaces its user tags with those of the run's _tags.json, if
/// there is one. @return the record (caller frees with lf_json_free), or NULL with `err` set.
lf_json *lf_lua_history_run_record(lf_store *store, const char *text, size_t len, lf_err *err);

/// Adds then removes user tags of run `flow`/`run` and reindexes the run record. System tags
/// ("user:ann", ...) are read-only. @param[out] tags, ntags: the run's user tags afterwards,
/// sorted (caller frees with lf_store_free_names); may be NULL.
/// @return LF_OK, LF_ERR_NOTFOUND (no such run), LF_ERR_USAGE (a bad or system tag), or a
///         store/index error.
lf_status lf_lua_history_tag(lf_store *store, lf_meta *meta, const char *flow, const char *run,
                             const char *const *add, size_t nadd, const char *const *remove,
                             size_t nremove, char ***tags, size_t *ntags, lf_err *err);
