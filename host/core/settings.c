// SPDX-License-Identifier: MIT
// This file contains settings lookup, the one home for it: a LUAFLOW_* variable wins over
// the key of ~/.luaflowconfig/config.json (command-line options are the caller's to apply
// first). Used by contexts and by the Lua client outside a run.
#include "core/settings.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
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

bool lf_settings_root_is_s3(const char *root)
{
  return root != NULL && strncmp(root, "s3://", 5) == 0;
}

char *lf_settings_normalize_root(const char *root)
{
  if (!lf_settings_root_is_s3(root)) {
    return lf_path_absolute(root);
  }
  size_t n = strlen(root);
  while (n > 5 && root[n - 1] == '/') {
    n--;
  }
  return lf_xmemdupz(root, n);
}

char *lf_settings_datastore_root(const char *kind)
{
  char *own = kind == NULL ? lf_settings_get("LUAFLOW_DATASTORE", "datastore") : NULL;
  bool s3 = (kind != NULL && strcmp(kind, "s3") == 0) || (own != NULL && strcmp(own, "s3") == 0);
  lf_free(own);
  char *root = NULL;
  if (s3) {
    root = lf_settings_get("LUAFLOW_DATASTORE_ROOT_S3", "datastore_root_s3");
    if (root == NULL || root[0] == '\0') {
      lf_free(root);
      root = lf_settings_get("LUAFLOW_DATASTORE_ROOT", "datastore_root");
      if (!lf_settings_root_is_s3(root)) {
        lf_free(root);
        return NULL;
      }
    }
  } else {
    root = lf_settings_get("LUAFLOW_DATASTORE_ROOT", "datastore_root");
  }
  char *out = lf_settings_normalize_root(root != NULL && root[0] != '\0' ? root : ".luaflow");
  lf_free(root);
  return out;
}

// Appends `s[0..n)` to `b` with bytes outside [A-Za-z0-9._-] %-encoded, and "." or ".."
// encoded whole, so a component can never climb out of the cache directory.
static void add_component(lf_dynbuf *b, const char *s, size_t n)
{
  bool dots = (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || (c == '.' && !dots);
    if (plain) {
      lf_dynbuf_add(b, s + i, 1);
    } else {
      lf_dynbuf_addf(b, "%%%02X", c);
    }
  }
}

char *lf_settings_index_path(const char *root)
{
  if (!lf_settings_root_is_s3(root)) {
    return lf_path_join(root, "index.sqlite3");
  }
  char *cache = lf_settings_get("LUAFLOW_CACHE_DIR", "cache_dir");
  if (cache == NULL || cache[0] == '\0') {
    lf_free(cache);
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/') {
      cache = lf_path_join(xdg, "luaflow");
    } else if (home != NULL && home[0] != '\0') {
      cache = lf_path_joinv(home, ".cache", "luaflow", NULL);
    } else {
      cache = lf_xstrdup(".luaflow-cache");
    }
  }
  char *abs = lf_path_absolute(cache);
  lf_free(cache);
  lf_dynbuf b;
  lf_dynbuf_init(&b, SIZE_MAX);
  lf_dynbuf_addf(&b, "%s/s3", abs);
  lf_free(abs);
  const char *p = root + 5;
  while (*p != '\0') {
    const char *slash = strchr(p, '/');
    size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (n > 0) {
      lf_dynbuf_add(&b, "/", 1);
      add_component(&b, p, n);
    }
    p += n;
    if (*p == '/') {
      p++;
    }
  }
  lf_dynbuf_add(&b, "/index.sqlite3", 14);
  size_t len = 0;
  return lf_dynbuf_take(&b, &len);
}
