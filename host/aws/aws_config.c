// SPDX-License-Identifier: MIT
// This file contains the reader of the AWS shared config and credentials files and the
// resolution of profile, region and endpoint from the environment and those files.
#include "aws/aws_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fs.h"

#define INI_MAX ((size_t)4 << 20)

typedef struct ini_entry {
  char *section;
  char *key;
  char *value;
} ini_entry;

struct lf_aws_ini {
  ini_entry *items;
  size_t n, cap;
  char **sections;
  size_t nsections;
};

static char *trim_copy(const char *s, size_t n);
static void ini_add(lf_aws_ini *ini, const char *section, const char *key, const char *value);
static char *env_str(const char *name);
static lf_status load_ini(const char *path, bool config_format, lf_aws_ini **out, lf_err *err);

lf_aws_ini *lf_aws_ini_parse(const char *text, size_t len, bool config_format,
                             const char *label, lf_err *err)
{
  lf_aws_ini *ini = lf_xcalloc(1, sizeof(*ini));
  char *section = NULL;
  char *parent = NULL; // a key with an empty value: indented lines below are its sub-keys
  size_t lineno = 0;
  size_t pos = 0;
  while (pos < len) {
    lineno++;
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
    pos += n + 1;
    bool indented = n > 0 && (line[0] == ' ' || line[0] == '\t');
    char *t = trim_copy(line, n);
    if (t[0] == '\0' || t[0] == '#' || t[0] == ';') {
      lf_free(t);
      continue;
    }
    if (t[0] == '[') {
      size_t tl = strlen(t);
      if (t[tl - 1] != ']') {
        lf_free(t);
        lf_free(section);
        lf_free(parent);
        lf_aws_ini_free(ini);
        LF_ERR(err, LF_ERR_USAGE, "'%s' line %zu: a section header must end with ']'", label,
               lineno);
        return NULL;
      }
      char *name = trim_copy(t + 1, tl - 2);
      if (config_format && strncmp(name, "profile", 7) == 0 && isspace((unsigned char)name[7])) {
        char *p = trim_copy(name + 8, strlen(name + 8));
        lf_free(name);
        name = p;
      }
      lf_free(section);
      lf_free(parent);
      parent = NULL;
      section = name;
      ini->sections = lf_xrealloc(ini->sections, (ini->nsections + 1) * sizeof(char *));
      ini->sections[ini->nsections++] = lf_xstrdup(section);
      lf_free(t);
      continue;
    }
    char *eq = strchr(t, '=');
    if (eq == NULL || section == NULL) {
      lf_free(t);
      lf_free(section);
      lf_free(parent);
      lf_aws_ini_free(ini);
      LF_ERR(err, LF_ERR_USAGE, "'%s' line %zu: %s", label, lineno,
             section == NULL ? "a setting before any [section]" : "expected 'key = value'");
      return NULL;
    }
    char *key = trim_copy(t, (size_t)(eq - t));
    char *value = trim_copy(eq + 1, strlen(eq + 1));
    if (indented && parent != NULL) {
      char *full = lf_xasprintf("%s.%s", parent, key);
      ini_add(ini, section, full, value);
      lf_free(full);
    } else {
      lf_free(parent);
      parent = value[0] == '\0' ? lf_xstrdup(key) : NULL;
      ini_add(ini, section, key, value);
    }
    lf_free(key);
    lf_free(value);
    lf_free(t);
  }
  lf_free(section);
  lf_free(parent);
  return ini;
}

const char *lf_aws_ini_get(const lf_aws_ini *ini, const char *profile, const char *key)
{
  if (ini == NULL) {
    return NULL;
  }
  // The last assignment wins, as in the AWS CLI.
  for (size_t i = ini->n; i-- > 0;) {
    if (strcmp(ini->items[i].section, profile) == 0 && strcmp(ini->items[i].key, key) == 0) {
      return ini->items[i].value;
    }
  }
  return NULL;
}

bool lf_aws_ini_has(const lf_aws_ini *ini, const char *profile)
{
  for (size_t i = 0; ini != NULL && i < ini->nsections; i++) {
    if (strcmp(ini->sections[i], profile) == 0) {
      return true;
    }
  }
  return false;
}

void lf_aws_ini_free(lf_aws_ini *ini)
{
  if (ini == NULL) {
    return;
  }
  for (size_t i = 0; i < ini->n; i++) {
    lf_free(ini->items[i].section);
    lf_free(ini->items[i].key);
    // Values may be secrets: clear them before the memory is reused.
    memset(ini->items[i].value, 0, strlen(ini->items[i].value));
    lf_free(ini->items[i].value);
  }
  for (size_t i = 0; i < ini->nsections; i++) {
    lf_free(ini->sections[i]);
  }
  lf_free(ini->sections);
  lf_free(ini->items);
  lf_free(ini);
}

lf_status lf_aws_config_load(const char *service, lf_aws_config *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  char *profile = env_str("AWS_PROFILE");
  if (profile == NULL) {
    profile = env_str("AWS_DEFAULT_PROFILE");
  }
  out->profile_explicit = profile != NULL;
  out->profile = profile != NULL ? profile : lf_xstrdup("default");
  const char *home = getenv("HOME");
  char *cred_path = env_str("AWS_SHARED_CREDENTIALS_FILE");
  char *conf_path = env_str("AWS_CONFIG_FILE");
  out->credentials_path =
    cred_path != NULL ? cred_path : lf_xasprintf("%s/.aws/credentials", home ? home : "");
  out->config_path = conf_path != NULL ? conf_path : lf_xasprintf("%s/.aws/config", home ? home : "");
  lf_status st = load_ini(out->credentials_path, false, &out->credentials, err);
  if (st == LF_OK) {
    st = load_ini(out->config_path, true, &out->config, err);
  }
  if (st == LF_OK && out->profile_explicit && !lf_aws_ini_has(out->credentials, out->profile) &&
      !lf_aws_ini_has(out->config, out->profile)) {
    st = LF_ERR(err, LF_ERR_USAGE, "AWS profile '%s' not found in '%s' or '%s'", out->profile,
                out->credentials_path, out->config_path);
  }
  if (st != LF_OK) {
    lf_aws_config_destroy(out);
    return st;
  }
  // Region: the variables, then the profile, then the default of the AWS tools.
  const char *region_vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
  for (size_t i = 0; i < 2 && out->region == NULL; i++) {
    out->region = env_str(region_vars[i]);
    if (out->region != NULL) {
      out->region_source = lf_xstrdup(region_vars[i]);
    }
  }
  const char *pr = lf_aws_ini_get(out->config, out->profile, "region");
  if (out->region == NULL && pr != NULL && pr[0] != '\0') {
    out->region = lf_xstrdup(pr);
    out->region_source = lf_xasprintf("profile '%s'", out->profile);
  }
  if (out->region == NULL) {
    out->region = lf_xstrdup("us-east-1");
    out->region_source = lf_xstrdup("default");
  }
  // Endpoint: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's endpoint_url.
  char *ignore = env_str("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  bool use_configured = ignore == NULL || strcasecmp(ignore, "true") != 0;
  lf_free(ignore);
  if (use_configured) {
    char var[64];
    int n = snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", service);
    for (int i = 17; i < n; i++) {
      var[i] = (char)toupper((unsigned char)var[i]);
    }
    out->endpoint_url = env_str(var);
    if (out->endpoint_url == NULL) {
      out->endpoint_url = env_str("AWS_ENDPOINT_URL");
    }
    char sub[64];
    snprintf(sub, sizeof(sub), "%s.endpoint_url", service);
    const char *ep = lf_aws_ini_get(out->config, out->profile, sub);
    if (ep == NULL) {
      ep = lf_aws_ini_get(out->config, out->profile, "endpoint_url");
    }
    if (out->endpoint_url == NULL && ep != NULL && ep[0] != '\0') {
      out->endpoint_url = lf_xstrdup(ep);
    }
    size_t el = out->endpoint_url != NULL ? strlen(out->endpoint_url) : 0;
    while (el > 0 && out->endpoint_url[el - 1] == '/') {
      out->endpoint_url[--el] = '\0';
    }
  }
  char sub[64];
  snprintf(sub, sizeof(sub), "%s.addressing_style", service);
  const char *style = lf_aws_ini_get(out->config, out->profile, sub);
  out->addressing_style = style != NULL ? lf_xstrdup(style) : NULL;
  return LF_OK;
}

void lf_aws_config_destroy(lf_aws_config *cfg)
{
  if (cfg == NULL) {
    return;
  }
  lf_free(cfg->profile);
  lf_free(cfg->credentials_path);
  lf_free(cfg->config_path);
  lf_aws_ini_free(cfg->credentials);
  lf_aws_ini_free(cfg->config);
  lf_free(cfg->region);
  lf_free(cfg->region_source);
  lf_free(cfg->endpoint_url);
  lf_free(cfg->addressing_style);
  memset(cfg, 0, sizeof(*cfg));
}

const char *lf_aws_config_get(const lf_aws_config *cfg, const char *key)
{
  const char *v = lf_aws_ini_get(cfg->credentials, cfg->profile, key);
  return v != NULL ? v : lf_aws_ini_get(cfg->config, cfg->profile, key);
}

static char *trim_copy(const char *s, size_t n)
{
  while (n > 0 && isspace((unsigned char)s[0])) {
    s++;
    n--;
  }
  while (n > 0 && isspace((unsigned char)s[n - 1])) {
    n--;
  }
  return lf_xmemdupz(s, n);
}

static void ini_add(lf_aws_ini *ini, const char *section, const char *key, const char *value)
{
  if (ini->n == ini->cap) {
    ini->cap = ini->cap ? ini->cap * 2 : 16;
    ini->items = lf_xrealloc(ini->items, ini->cap * sizeof(*ini->items));
  }
  ini->items[ini->n++] = (ini_entry){lf_xstrdup(section), lf_xstrdup(key), lf_xstrdup(value)};
}

static char *env_str(const char *name)
{
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0' ? lf_xstrdup(v) : NULL;
}

static lf_status load_ini(const char *path, bool config_format, lf_aws_ini **out, lf_err *err)
{
  *out = NULL;
  char *data = NULL;
  size_t len = 0;
  lf_err rerr = {0};
  lf_status st = lf_fs_read_file(path, INI_MAX, &data, &len, &rerr);
  if (st == LF_ERR_NOTFOUND) {
    return LF_OK; // no file is the common case
  }
  if (st != LF_OK) {
    return LF_ERR(err, st, "%s", rerr.msg);
  }
  *out = lf_aws_ini_parse(data, len, config_format, path, err);
  memset(data, 0, len);
  lf_free(data);
  return *out != NULL ? LF_OK : LF_ERR_USAGE;
}
