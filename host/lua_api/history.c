// SPDX-License-Identifier: MIT
// This file contains user tags added to or removed from past runs: the _tags.json record
// beside a run, its validation, and the merge into run records before they are indexed.
#include "lua_api/history.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

#define RECORD_MAX ((size_t)64 << 20)
#define TAG_MAX 256

static char *tags_key(const char *flow, const char *run)
{
  return lf_xasprintf("%s/%s/_tags.json", flow, run);
}

// Reads the run's _tags.json "tags" list; *doc NULL when there is none.
static lf_status read_tags(lf_store *store, const char *flow, const char *run, lf_json **doc,
                           lf_err *err)
{
  *doc = NULL;
  char *key = tags_key(flow, run);
  char *text = NULL;
  size_t len = 0;
  lf_status st = lf_store_get(store, key, RECORD_MAX, &text, &len, err);
  if (st == LF_ERR_NOTFOUND) {
    lf_err_clear(err);
    st = LF_OK;
  } else if (st == LF_OK) {
    *doc = lf_json_parse(text, len, err);
    const lf_json *t = *doc != NULL ? lf_json_get(*doc, "tags") : NULL;
    if (t == NULL || t->type != LF_JSON_ARRAY) {
      lf_json_free(*doc);
      *doc = NULL;
      lf_err_clear(err);
      st = LF_ERR(err, LF_ERR_CORRUPT, "tag record '%s' is not {\"tags\": [...]}", key);
    }
  }
  lf_free(text);
  lf_free(key);
  return st;
}

lf_json *lf_lua_history_run_record(lf_store *store, const char *text, size_t len, lf_err *err)
{
  lf_json *rec = lf_json_parse(text, len, err);
  if (rec == NULL) {
    return NULL;
  }
  const char *flow = lf_json_get_str(rec, "flow");
  const char *run = lf_json_get_str(rec, "run");
  if (flow == NULL || run == NULL) {
    return rec; // the index rejects it with a precise message
  }
  lf_json *tags = NULL;
  if (read_tags(store, flow, run, &tags, err) != LF_OK) {
    lf_json_free(rec);
    return NULL;
  }
  if (tags == NULL) {
    return rec;
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, RECORD_MAX);
  lf_jw w;
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  for (size_t i = 0; i < rec->n; i++) {
    if (strcmp(rec->keys[i], "tags") != 0) {
      lf_jw_keyn(&w, rec->keys[i], rec->keylens[i]);
      lf_jw_value(&w, rec->items[i]);
    }
  }
  lf_jw_key(&w, "tags");
  lf_jw_value(&w, lf_json_get(tags, "tags"));
  lf_jw_obj_end(&w);
  lf_json_free(rec);
  lf_json_free(tags);
  rec = lf_json_parse(b.data, b.len, err);
  lf_dynbuf_free(&b);
  return rec;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has(char **list, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++) {
    if (strcmp(list[i], s) == 0) {
      return true;
    }
  }
  return false;
}

static lf_status check_tag(const char *tag, const lf_json *system, lf_err *err)
{
  size_t n = strlen(tag);
  if (n == 0 || n > TAG_MAX) {
    return LF_ERR(err, LF_ERR_USAGE, "a tag has 1 to %d characters, got %zu", TAG_MAX, n);
  }
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)tag[i] < 0x20 || tag[i] == 0x7f) {
      return LF_ERR(err, LF_ERR_USAGE, "tag '%s' has a control character", tag);
    }
  }
  for (size_t i = 0; system != NULL && i < system->n; i++) {
    if (system->items[i]->type == LF_JSON_STRING && strcmp(system->items[i]->s, tag) == 0) {
      return LF_ERR(err, LF_ERR_USAGE, "'%s' is a system tag of the run; system tags are "
                    "read-only", tag);
    }
  }
  return LF_OK;
}

lf_status lf_lua_history_tag(lf_store *store, lf_meta *meta, const char *flow, const char *run,
                             const char *const *add, size_t nadd, const char *const *remove,
                             size_t nremove, char ***tags_out, size_t *ntags_out, lf_err *err)
{
  char *rkey = lf_xasprintf("%s/%s/_run.json", flow, run);
  char *text = NULL;
  size_t len = 0;
  lf_status st = lf_store_get(store, rkey, RECORD_MAX, &text, &len, err);
  lf_free(rkey);
  if (st == LF_ERR_NOTFOUND) {
    lf_err_clear(err);
    lf_free(text);
    return LF_ERR(err, LF_ERR_NOTFOUND, "no run '%s/%s'", flow, run);
  }
  if (st != LF_OK) {
    lf_free(text);
    return st;
  }
  lf_json *rec = lf_lua_history_run_record(store, text, len, err);
  if (rec == NULL) {
    lf_free(text);
    return err->code != LF_OK ? err->code : LF_ERR_CORRUPT;
  }
  const lf_json *system = lf_json_get(rec, "system_tags");
  const lf_json *cur = lf_json_get(rec, "tags");
  size_t cap = (cur != NULL ? cur->n : 0) + nadd + 1;
  char **list = lf_xcalloc(cap, sizeof(char *));
  size_t n = 0;
  for (size_t i = 0; cur != NULL && i < cur->n; i++) {
    if (cur->items[i]->type == LF_JSON_STRING && !has(list, n, cur->items[i]->s)) {
      list[n++] = lf_xstrdup(cur->items[i]->s);
    }
  }
  for (size_t i = 0; st == LF_OK && i < nadd; i++) {
    st = check_tag(add[i], system, err);
    if (st == LF_OK && !has(list, n, add[i])) {
      list[n++] = lf_xstrdup(add[i]);
    }
  }
  for (size_t i = 0; st == LF_OK && i < nremove; i++) {
    st = check_tag(remove[i], system, err);
    for (size_t k = 0; st == LF_OK && k < n; k++) {
      if (strcmp(list[k], remove[i]) == 0) {
        lf_free(list[k]);
        list[k] = list[--n];
        break;
      }
    }
  }
  qsort(list, n, sizeof(char *), cmp_str);
  if (st == LF_OK && (nadd > 0 || nremove > 0)) {
    lf_dynbuf b;
    lf_dynbuf_init(&b, RECORD_MAX);
    lf_jw w;
    lf_jw_init(&w, &b, false);
    lf_jw_obj_begin(&w);
    lf_jw_key(&w, "format");
    lf_jw_int(&w, 1);
    lf_jw_key(&w, "tags");
    lf_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
      lf_jw_str(&w, list[i]);
    }
    lf_jw_arr_end(&w);
    lf_jw_obj_end(&w);
    char *tkey = tags_key(flow, run);
    st = lf_store_put(store, tkey, b.data, b.len, err);
    lf_free(tkey);
    lf_dynbuf_free(&b);
    if (st == LF_OK && meta != NULL) {
      lf_json *merged = lf_lua_history_run_record(store, text, len, err);
      st = merged != NULL ? lf_meta_put_run(meta, merged, err) : LF_ERR_CORRUPT;
      lf_json_free(merged);
    }
  }
  lf_free(text);
  lf_json_free(rec);
  if (st == LF_OK && tags_out != NULL) {
    *tags_out = list;
    *ntags_out = n;
  } else {
    lf_store_free_names(list, n);
  }
  return st;
}
