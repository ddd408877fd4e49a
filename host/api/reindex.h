// SPDX-License-Identifier: MIT
// `luaflow reindex`: rebuilds the sqlite metadata index from the datastore, its source of
// truth (docs/datastore.md).
#pragma once

#include "core/err.h"
#include "meta/meta.h"
#include "store/store.h"

/// Walks every flow, run, step and task of `store` (skipping `<Flow>/data/`) and indexes each
/// `_run.json`, `task.json` (`_parameters/0/task.json` included) and `<n>.attempt.json`, one
/// transaction per run. Each run is first removed from the index and then rebuilt, so a
/// reindex over an existing index replaces what it finds; runs that exist only in the index
/// are kept (delete the index file for a full rebuild). A run directory without `_run.json`
/// (an id reserved by a run that died before writing it) is skipped with a warning.
/// @param[in] store borrowed
/// @param[in] meta borrowed; no transaction may be open
/// @return LF_OK; on the first failure the run being indexed is rolled back (runs indexed
///         before it stay) and `err` names the object: LF_ERR_CORRUPT for invalid JSON or a
///         record stored under another record's key, LF_ERR_META for an invalid record or an
///         sqlite failure, or the store's error.
lf_status lf_api_reindex(lf_store *store, lf_meta *meta, lf_err *err);
