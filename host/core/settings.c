// SPDX-License-Identifier: MIT
// This file contains settings lookup, the one home for it: a LUAFLOW_* variable wins over
// the key of ~/.luaflowconfig/config.json (command-line options are the caller's to apply
// first). Used by contexts and by the Lua client outside a run.
#include "core/settings.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"

// The config file is small; anything larger is a mistake worth reporting.
#define CONFIG_MAX (1024 * 1024)

static char *config_value(const char *key)
{
  const char *home = getenv("HOME");
  if (home == NULL || home[0] == '\0') {
    return NULL;
  }
  char *path = lf_path_joinv(home, ".luaflowconfig", "config.json", NULL);
  char *text = NULL;
  size_t len = 0;
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_fs_read_file(path, CONFIG_MAX, &text, &len, &err);
  if (st != LF_OK) {
    if (st != LF_ERR_NOTFOUND) {
      LF_LOGW("ignoring the config file: %s", err.msg);
    }
    lf_free(path);
    return NULL;
  }
  lf_json *doc = lf_json_parse(text, len, &err);
  lf_free(text);
  char *out = NULL;
  if (doc == NULL) {
    LF_LOGW("ignoring the config file '%s': %s", path, err.msg);
  } else {
    const lf_json *v = lf_json_get(doc, key);
    if (v != NULL && v->type == LF_JSON_STRING) {
      out = lf_xstrdup(v->s);
    } else if (v != NULL && v->type == LF_JSON_INT) {
      out = lf_xasprintf("%lld", (long long)v->i);
    } else if (v != NULL && v->type == LF_JSON_NUMBER) {
      out = lf_xasprintf("%.17g", v->d);
    } else if (v != NULL && (v->type == LF_JSON_TRUE || v->type == LF_JSON_FALSE)) {
      out = lf_xstrdup(v->type == LF_JSON_TRUE ? "true" : "false");
    }
    lf_json_free(doc);
  }
  lf_free(path);
  return out;
}

char *lf_settings_get(const char *env, const char *key)
{
  const char *v = env != NULL ? getenv(env) : NULL;
  if (v != NULL && v[0] != '\0') {
    return lf_xstrdup(v);
  }
  return key != NULL ? config_value(key) : NULL;
}

char *lf_settings_datastore_root(void)
{
  char *root = lf_settings_get("LUAFLOW_DATASTORE_ROOT", "datastore_root");
  char *abs = lf_path_absolute(root != NULL && root[0] != '\0' ? root : ".luaflow");
  lf_free(root);
  return abs;
}
