// SPDX-License-Identifier: MIT
// Artifacts between Lua values and the store: encode + content-addressed put, load + decode,
// and the type names records use. Call these inside a protected call: they may raise memory
// errors (nothing leaks when they do).
#pragma once

#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/json.h"
#include "store/store.h"

/// What a record says about one artifact.
typedef struct lf_artifact_meta {
  char sha[65];
  char type[16];
  uint64_t size; ///< bytes of the canonical encoding
} lf_artifact_meta;

/// The record type name of the value at `idx`: nil, boolean, integer, float, string, table,
/// array, or the Lua type name for values that cannot be stored.
const char *lf_lua_value_type(lua_State *L, int idx);
/// Encodes the value at `idx` and stores it as a blob of `flow`.
/// @return LF_OK, LF_ERR_UNSTORABLE (err names what inside the value), or a store error.
lf_status lf_lua_store_value(lua_State *L, int idx, lf_store *store, const char *flow,
                             lf_artifact_meta *out, lf_err *err);
/// Loads blob `sha` of `flow` and pushes its value. On failure pushes nothing.
lf_status lf_lua_load_value(lua_State *L, lf_store *store, const char *flow, const char *sha,
                            lf_err *err);
/// Pushes a JSON document as a Lua value (objects and arrays become tables, null becomes
/// nil, integers stay integers).
void lf_lua_push_json(lua_State *L, const lf_json *j);

/// What luaflow._host works against in this process (set by the worker or the run setup).
typedef struct lf_lua_host {
  lf_store *store;
  const char *flow;
  const char *root; ///< the datastore root (for luaflow.client); may be NULL
  const char *user; ///< the user name (the client's default namespace); may be NULL
  bool in_task;     ///< a task runs in this state: the history is read-only
} lf_lua_host;
/// Installs `h` (borrowed; must outlive the state's use of luaflow._host).
void lf_lua_set_host(lua_State *L, lf_lua_host *h);
