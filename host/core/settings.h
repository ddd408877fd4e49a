// SPDX-License-Identifier: MIT
// Settings: LUAFLOW_* variables over ~/.luaflowconfig/config.json.
#pragma once

/// The value of variable `env` if set and non-empty, else key `key` of the config file
/// (strings, numbers and booleans as text), else NULL. Caller frees with lf_free.
char *lf_settings_get(const char *env, const char *key);
/// The default datastore root, absolute: LUAFLOW_DATASTORE_ROOT, else the config file's
/// datastore_root, else ./.luaflow. Caller frees with lf_free.
char *lf_settings_datastore_root(void);
