// SPDX-License-Identifier: MIT
// Settings: LUAFLOW_* variables over ~/.luaflowconfig/config.json.
#pragma once

#include <stdbool.h>

/// The value of variable `env` if set and non-empty, else key `key` of the config file
/// (strings, numbers and booleans as text), else NULL. Caller frees with lf_free.
char *lf_settings_get(const char *env, const char *key);
/// The default datastore root: for the datastore kind `kind` ("local", "s3"; NULL: the
/// LUAFLOW_DATASTORE variable or the config file's `datastore`, else "local"):
/// - local: LUAFLOW_DATASTORE_ROOT, else the config file's datastore_root, else ./.luaflow,
///   made absolute;
/// - s3: LUAFLOW_DATASTORE_ROOT_S3 (datastore_root_s3), else LUAFLOW_DATASTORE_ROOT
///   (datastore_root) when that is an s3:// URL.
/// @return the root (caller frees with lf_free), or NULL for s3 without an s3:// root
char *lf_settings_datastore_root(const char *kind);
/// A root as given: an s3:// URL keeps its form (without trailing slashes), a path is made
/// absolute. Caller frees with lf_free.
char *lf_settings_normalize_root(const char *root);
/// Whether `root` names an S3 datastore ("s3://...").
bool lf_settings_root_is_s3(const char *root);
/// Where the sqlite index of `root` lives: `<root>/index.sqlite3` for a local root; for an
/// S3 root, a local cache file `<cache>/s3/<bucket>/<prefix>/index.sqlite3` under
/// LUAFLOW_CACHE_DIR (cache_dir), else $XDG_CACHE_HOME/luaflow, else ~/.cache/luaflow.
/// Bytes outside [A-Za-z0-9._-] in the bucket and prefix components are %-encoded, and a
/// component that is "." or ".." is encoded too. Caller frees with lf_free.
char *lf_settings_index_path(const char *root);
