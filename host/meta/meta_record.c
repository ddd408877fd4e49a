// SPDX-License-Identifier: MIT
// This file contains the validation of the datastore's JSON records (docs/datastore.md): each
// record is checked completely, field by field, into a plain C struct that borrows its
// strings from the JSON tree, before meta.c writes anything. Messages name the record and the
// field: "task record 'Flow/3/start/1': missing field 'artifacts'".
#include "meta/meta.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/hex.h"
#include "core/json.h"
#include "meta/meta_internal.h"

typedef lf_meta_rec rec; // the record being checked, for messages

static const char *const run_statuses[] = {"running", "ok", "failed", "interrupted", NULL};
static const char *const task_statuses[] = {"ok", "failed", NULL};

static const struct {
  const char *name;
  lf_value_type type;
} value_types[] = {
  {"nil", LF_VAL_NIL},       {"boolean", LF_VAL_BOOLEAN}, {"integer", LF_VAL_INTEGER},
  {"float", LF_VAL_FLOAT},   {"string", LF_VAL_STRING},   {"table", LF_VAL_TABLE},
  {"array", LF_VAL_ARRAY},
};

static bool vfail(rec *r, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static bool fail(rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *kind_name(const lf_json *v);
static bool as_int(const lf_json *v, int64_t *out);
static bool str_field(rec *r, const lf_json *obj, const char *key, bool required,
                      const char **out);
static bool int_field(rec *r, const lf_json *obj, const char *key, bool required, int64_t min,
                      bool *present, int64_t *out);
static bool name_field(rec *r, const lf_json *obj, const char *key, const char **out);
static bool id_field(rec *r, const lf_json *obj, const char *key, int64_t *out);
static bool enum_field(rec *r, const lf_json *obj, const char *key, const char *const *allowed,
                       const char **out);
static bool array_field(rec *r, const lf_json *obj, const char *key, const lf_json **out);
static bool check_format(rec *r, const lf_json *j);
static bool check_strings(rec *r, const lf_json *arr, const char *key, bool names);
static bool check_inputs(rec *r, const lf_json *arr);
static bool check_foreach(rec *r, const lf_json *arr);
static bool check_artifacts(rec *r, const lf_json *obj);
static bool check_params(rec *r, const lf_json *j);
static bool check_key(rec *r, const lf_json *j, lf_meta_task_key *key);

bool lf_meta_parse_id(const char *s, int64_t *out)
{
  // Canonical decimal only ("0", "12"; not "012", "+1", "") so that the text round-trips
  // through the INTEGER column unchanged. 18 digits always fit int64_t.
  size_t n = s != NULL ? strlen(s) : 0;
  if (n == 0 || n > 18 || (s[0] == '0' && n > 1)) {
    return false;
  }
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool lf_meta_valid_name(const char *s)
{
  // The store's rule for flow names, applied to steps too: they become key components.
  size_t n = s != NULL ? strlen(s) : 0;
  if (n == 0 || n > 255 || s[0] == '.' || s[0] == '-') {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool lf_meta_type_parse(const char *name, lf_value_type *type)
{
  for (size_t i = 0; i < sizeof(value_types) / sizeof(value_types[0]); i++) {
    if (strcmp(value_types[i].name, name) == 0) {
      *type = value_types[i].type;
      return true;
    }
  }
  return false;
}

const char *lf_meta_type_name(lf_value_type type)
{
  for (size_t i = 0; i < sizeof(value_types) / sizeof(value_types[0]); i++) {
    if (value_types[i].type == type) {
      return value_types[i].name;
    }
  }
  return "unknown";
}

void lf_meta_rec_init(rec *r, const char *kind, const lf_json *j, bool with_task, lf_err *err)
{
  r->kind = kind;
  r->err = err;
  r->suffix[0] = '\0';
  r->where[0] = '\0';
  const char *parts[4] = {lf_json_get_str(j, "flow"), lf_json_get_str(j, "run"),
                          lf_json_get_str(j, "step"), lf_json_get_str(j, "task")};
  size_t n = with_task ? 4 : 2;
  size_t used = 0;
  r->label[0] = '\0';
  for (size_t i = 0; i < n && used < sizeof(r->label); i++) {
    const char *p = parts[i] != NULL ? parts[i] : "?";
    int w = snprintf(r->label + used, sizeof(r->label) - used, "%s%.60s", i > 0 ? "/" : "", p);
    used += w > 0 ? (size_t)w : 0;
  }
  const lf_json *a = lf_json_get(j, "attempt");
  if (strcmp(kind, "attempt") == 0 && a != NULL && a->type == LF_JSON_INT) {
    snprintf(r->suffix, sizeof(r->suffix), " (attempt %" PRId64 ")", a->i);
  }
}

bool lf_meta_rec_fail(rec *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail(r, fmt, ap);
  va_end(ap);
  return false;
}

static bool vfail(rec *r, const char *fmt, va_list ap)
{
  char what[LF_ERR_MSG_SIZE];
  vsnprintf(what, sizeof(what), fmt, ap);
  LF_ERR(r->err, LF_ERR_META, "%s record '%s'%s: %s%s", r->kind, r->label, r->suffix, r->where,
         what);
  return false;
}

// lf_meta_rec_fail under a short name, for the many checks below.
static bool fail(rec *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail(r, fmt, ap);
  va_end(ap);
  return false;
}

static const char *kind_name(const lf_json *v)
{
  switch (v->type) {
  case LF_JSON_NULL:
    return "null";
  case LF_JSON_FALSE:
  case LF_JSON_TRUE:
    return "a boolean";
  case LF_JSON_INT:
  case LF_JSON_NUMBER:
    return "a number";
  case LF_JSON_STRING:
    return "a string";
  case LF_JSON_ARRAY:
    return "an array";
  case LF_JSON_OBJECT:
    return "an object";
  }
  return "unknown";
}

static bool as_int(const lf_json *v, int64_t *out)
{
  if (v->type == LF_JSON_INT) {
    *out = v->i;
    return true;
  }
  // Exact integers written with a fraction or exponent (3.0, 1e3) count, as lf_json_get_int.
  if (v->type == LF_JSON_NUMBER && v->d >= -9223372036854775808.0 &&
      v->d < 9223372036854775808.0 && v->d == (double)(int64_t)v->d) {
    *out = (int64_t)v->d;
    return true;
  }
  return false;
}

// A string field; absent or null is fine unless `required` (then *out = NULL).
static bool str_field(rec *r, const lf_json *obj, const char *key, bool required,
                      const char **out)
{
  *out = NULL;
  const lf_json *v = lf_json_get(obj, key);
  if (v == NULL || v->type == LF_JSON_NULL) {
    return required ? fail(r, v == NULL ? "missing field '%s'" : "field '%s' is null", key)
                    : true;
  }
  if (v->type != LF_JSON_STRING) {
    return fail(r, "field '%s' must be a string, not %s", key, kind_name(v));
  }
  if (strlen(v->s) != v->slen) {
    return fail(r, "field '%s' contains a NUL character", key);
  }
  *out = v->s;
  return true;
}

static bool int_field(rec *r, const lf_json *obj, const char *key, bool required, int64_t min,
                      bool *present, int64_t *out)
{
  *out = 0;
  if (present != NULL) {
    *present = false;
  }
  const lf_json *v = lf_json_get(obj, key);
  if (v == NULL || v->type == LF_JSON_NULL) {
    return required ? fail(r, v == NULL ? "missing field '%s'" : "field '%s' is null", key)
                    : true;
  }
  if (!as_int(v, out)) {
    return fail(r, "field '%s' must be an integer, not %s", key, kind_name(v));
  }
  if (*out < min) {
    return fail(r, "field '%s' must be at least %" PRId64 ", not %" PRId64, key, min, *out);
  }
  if (present != NULL) {
    *present = true;
  }
  return true;
}

static bool name_field(rec *r, const lf_json *obj, const char *key, const char **out)
{
  if (!str_field(r, obj, key, true, out)) {
    return false;
  }
  if (!lf_meta_valid_name(*out)) {
    return fail(r, "field '%s' is not a valid name: '%.60s'", key, *out);
  }
  return true;
}

static bool id_field(rec *r, const lf_json *obj, const char *key, int64_t *out)
{
  const char *s = NULL;
  if (!str_field(r, obj, key, true, &s)) {
    return false;
  }
  if (!lf_meta_parse_id(s, out)) {
    return fail(r, "field '%s' must be a decimal id like \"12\", not '%.60s'", key, s);
  }
  return true;
}

static bool enum_field(rec *r, const lf_json *obj, const char *key, const char *const *allowed,
                       const char **out)
{
  if (!str_field(r, obj, key, true, out)) {
    return false;
  }
  for (size_t i = 0; allowed[i] != NULL; i++) {
    if (strcmp(allowed[i], *out) == 0) {
      *out = allowed[i]; // static storage
      return true;
    }
  }
  char list[128];
  size_t used = 0;
  list[0] = '\0';
  for (size_t i = 0; allowed[i] != NULL && used < sizeof(list); i++) {
    int w = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "", allowed[i]);
    used += w > 0 ? (size_t)w : 0;
  }
  return fail(r, "field '%s' must be one of %s, not '%.60s'", key, list, *out);
}

// An optional array field: absent or null gives NULL.
static bool array_field(rec *r, const lf_json *obj, const char *key, const lf_json **out)
{
  *out = NULL;
  const lf_json *v = lf_json_get(obj, key);
  if (v == NULL || v->type == LF_JSON_NULL) {
    return true;
  }
  if (v->type != LF_JSON_ARRAY) {
    return fail(r, "field '%s' must be an array, not %s", key, kind_name(v));
  }
  *out = v;
  return true;
}

static bool check_format(rec *r, const lf_json *j)
{
  if (j == NULL || j->type != LF_JSON_OBJECT) {
    return fail(r, "not a JSON object");
  }
  int64_t format = 0;
  if (!int_field(r, j, "format", true, INT64_MIN, NULL, &format)) {
    return false;
  }
  if (format != 1) {
    return fail(r, "unsupported format %" PRId64 " (this luaflow reads format 1)", format);
  }
  return true;
}

static bool check_strings(rec *r, const lf_json *arr, const char *key, bool names)
{
  for (size_t i = 0; arr != NULL && i < arr->n; i++) {
    const lf_json *v = arr->items[i];
    if (v->type != LF_JSON_STRING) {
      return fail(r, "field '%s' item %zu must be a string, not %s", key, i + 1,
                      kind_name(v));
    }
    if (strlen(v->s) != v->slen || v->slen == 0) {
      return fail(r, "field '%s' item %zu is empty or contains a NUL character", key, i + 1);
    }
    if (names && !lf_meta_valid_name(v->s)) {
      return fail(r, "field '%s' item %zu is not a valid name: '%.60s'", key, i + 1, v->s);
    }
  }
  return true;
}

bool lf_meta_split_input(const char *s, const char **step_end, int64_t *task)
{
  const char *slash = strrchr(s, '/');
  if (slash == NULL || !lf_meta_parse_id(slash + 1, task)) {
    return false;
  }
  char step[256];
  size_t n = (size_t)(slash - s);
  if (n == 0 || n >= sizeof(step)) {
    return false;
  }
  memcpy(step, s, n);
  step[n] = '\0';
  *step_end = slash;
  return lf_meta_valid_name(step);
}

static bool check_inputs(rec *r, const lf_json *arr)
{
  if (!check_strings(r, arr, "inputs", false)) {
    return false;
  }
  for (size_t i = 0; arr != NULL && i < arr->n; i++) {
    const char *end = NULL;
    int64_t task = 0;
    if (!lf_meta_split_input(arr->items[i]->s, &end, &task)) {
      return fail(r, "field 'inputs' item %zu must be \"<step>/<task>\", not '%.60s'", i + 1,
                      arr->items[i]->s);
    }
  }
  return true;
}

static bool check_foreach(rec *r, const lf_json *arr)
{
  for (size_t i = 0; arr != NULL && i < arr->n; i++) {
    const lf_json *f = arr->items[i];
    if (f->type != LF_JSON_OBJECT) {
      return fail(r, "field 'foreach' item %zu must be an object, not %s", i + 1,
                      kind_name(f));
    }
    const char *step = NULL;
    int64_t v = 0;
    snprintf(r->where, sizeof(r->where), "foreach item %zu: ", i + 1);
    if (!name_field(r, f, "step", &step) || !id_field(r, f, "task", &v) ||
        !int_field(r, f, "index", true, 0, NULL, &v) ||
        !int_field(r, f, "count", true, 0, NULL, &v)) {
      return false;
    }
    r->where[0] = '\0';
  }
  return true;
}

static bool check_artifacts(rec *r, const lf_json *obj)
{
  for (size_t i = 0; i < obj->n; i++) {
    const char *name = obj->keys[i];
    const lf_json *a = obj->items[i];
    if (obj->keylens[i] == 0 || strlen(name) != obj->keylens[i]) {
      return fail(r, "artifact %zu has an empty name or one with a NUL character", i + 1);
    }
    if (a->type != LF_JSON_OBJECT) {
      return fail(r, "artifact '%.60s' must be an object, not %s", name, kind_name(a));
    }
    const char *sha = lf_json_get_str(a, "sha");
    if (sha == NULL || !lf_hex_valid(sha, 64)) {
      return fail(r, "artifact '%.60s': field 'sha' must be 64 lowercase hex digits", name);
    }
    const char *type = lf_json_get_str(a, "type");
    lf_value_type vt;
    if (type == NULL || !lf_meta_type_parse(type, &vt)) {
      return fail(r,
                      "artifact '%.60s': field 'type' must be one of nil, boolean, integer, "
                      "float, string, table, array",
                      name);
    }
    const lf_json *size = lf_json_get(a, "size");
    int64_t sz = 0;
    if (size == NULL || !as_int(size, &sz) || sz < 0) {
      return fail(r, "artifact '%.60s': field 'size' must be an integer >= 0", name);
    }
  }
  return true;
}

// Parameters are indexed as the artifacts of the _parameters pseudo-task; the copy in the run
// record is only checked, so that a malformed record is caught whichever file is read.
static bool check_params(rec *r, const lf_json *j)
{
  const lf_json *p = lf_json_get(j, "params");
  if (p == NULL || p->type == LF_JSON_NULL) {
    return true;
  }
  if (p->type != LF_JSON_OBJECT) {
    return fail(r, "field 'params' must be an object, not %s", kind_name(p));
  }
  snprintf(r->where, sizeof(r->where), "field 'params': ");
  if (!check_artifacts(r, p)) {
    return false;
  }
  r->where[0] = '\0';
  return true;
}

static bool check_key(rec *r, const lf_json *j, lf_meta_task_key *key)
{
  return name_field(r, j, "flow", &key->flow) && id_field(r, j, "run", &key->run) &&
         name_field(r, j, "step", &key->step) && id_field(r, j, "task", &key->task);
}

bool lf_meta_parse_run(rec *r, const lf_json *j, lf_meta_run_rec *out)
{
  memset(out, 0, sizeof(*out));
  return check_format(r, j) && check_params(r, j) && name_field(r, j, "flow", &out->flow) &&
         id_field(r, j, "run", &out->run) && str_field(r, j, "user", true, &out->user) &&
         enum_field(r, j, "status", run_statuses, &out->status) &&
         int_field(r, j, "created_at", true, 0, NULL, &out->created_at) &&
         int_field(r, j, "finished_at", false, 0, &out->has_finished, &out->finished_at) &&
         str_field(r, j, "flow_file", false, &out->flow_file) &&
         str_field(r, j, "origin_run", false, &out->origin_run) &&
         array_field(r, j, "tags", &out->tags) && check_strings(r, out->tags, "tags", false) &&
         array_field(r, j, "system_tags", &out->system_tags) &&
         check_strings(r, out->system_tags, "system_tags", false);
}

bool lf_meta_parse_task(rec *r, const lf_json *j, lf_meta_task_rec *out)
{
  memset(out, 0, sizeof(*out));
  if (!check_format(r, j) || !check_key(r, j, &out->key) ||
      !int_field(r, j, "attempt", true, 0, NULL, &out->attempt) ||
      !enum_field(r, j, "status", task_statuses, &out->status) ||
      !int_field(r, j, "pid", false, 0, &out->has_pid, &out->pid) ||
      !int_field(r, j, "started_at", true, 0, NULL, &out->started_at) ||
      !int_field(r, j, "finished_at", true, 0, NULL, &out->finished_at) ||
      !array_field(r, j, "inputs", &out->inputs) || !check_inputs(r, out->inputs) ||
      !array_field(r, j, "foreach", &out->foreach) || !check_foreach(r, out->foreach) ||
      !array_field(r, j, "next", &out->next) || !check_strings(r, out->next, "next", true) ||
      !int_field(r, j, "foreach_count", false, 0, &out->has_foreach_count,
                 &out->foreach_count) ||
      !str_field(r, j, "origin", false, &out->origin)) {
    return false;
  }
  out->artifacts = lf_json_get(j, "artifacts");
  if (out->artifacts == NULL) {
    return fail(r, "missing field 'artifacts'");
  }
  if (out->artifacts->type != LF_JSON_OBJECT) {
    return fail(r, "field 'artifacts' must be an object, not %s", kind_name(out->artifacts));
  }
  return check_artifacts(r, out->artifacts);
}

bool lf_meta_parse_attempt(rec *r, const lf_json *j, lf_meta_attempt_rec *out)
{
  memset(out, 0, sizeof(*out));
  if (!check_format(r, j) || !check_key(r, j, &out->key) ||
      !int_field(r, j, "attempt", true, 0, NULL, &out->attempt) ||
      !enum_field(r, j, "status", task_statuses, &out->status) ||
      !int_field(r, j, "pid", false, 0, &out->has_pid, &out->pid) ||
      !int_field(r, j, "started_at", true, 0, NULL, &out->started_at) ||
      !int_field(r, j, "finished_at", true, 0, NULL, &out->finished_at) ||
      !int_field(r, j, "exit_status", false, INT64_MIN, &out->has_exit_status,
                 &out->exit_status) ||
      !int_field(r, j, "signal", false, 0, &out->has_signal, &out->signal)) {
    return false;
  }
  const lf_json *e = lf_json_get(j, "error");
  if (e != NULL && e->type != LF_JSON_NULL) {
    if (e->type != LF_JSON_OBJECT) {
      return fail(r, "field 'error' must be an object, not %s", kind_name(e));
    }
    snprintf(r->where, sizeof(r->where), "field 'error': ");
    if (!str_field(r, e, "message", true, &out->error_message) ||
        !str_field(r, e, "traceback", false, &out->error_traceback)) {
      return false;
    }
    r->where[0] = '\0';
  }
  const lf_json *logs = lf_json_get(j, "logs");
  if (logs != NULL && logs->type != LF_JSON_NULL) {
    if (logs->type != LF_JSON_OBJECT) {
      return fail(r, "field 'logs' must be an object, not %s", kind_name(logs));
    }
    snprintf(r->where, sizeof(r->where), "field 'logs': ");
    if (!str_field(r, logs, "stdout", false, &out->stdout_log) ||
        !str_field(r, logs, "stderr", false, &out->stderr_log)) {
      return false;
    }
    r->where[0] = '\0';
  }
  return true;
}

lf_status lf_meta_put_task_attempt(lf_meta *meta, const lf_json *task, lf_err *err)
{
  int64_t attempt = lf_json_get_int(task, "attempt", 0);
  char logname[2][48];
  snprintf(logname[0], sizeof(logname[0]), "%lld.stdout", (long long)attempt);
  snprintf(logname[1], sizeof(logname[1]), "%lld.stderr", (long long)attempt);
  lf_dynbuf b;
  lf_dynbuf_init(&b, (size_t)1 << 20);
  lf_jw w;
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  static const char *const copied[] = {"flow", "run", "step", "task"};
  lf_jw_key(&w, "format");
  lf_jw_int(&w, 1);
  for (size_t i = 0; i < 4; i++) {
    const char *v = lf_json_get_str(task, copied[i]);
    lf_jw_key(&w, copied[i]);
    lf_jw_str(&w, v != NULL ? v : "");
  }
  lf_jw_key(&w, "attempt");
  lf_jw_int(&w, attempt);
  lf_jw_key(&w, "status");
  lf_jw_str(&w, "ok");
  lf_jw_key(&w, "pid");
  lf_jw_int(&w, lf_json_get_int(task, "pid", 0));
  lf_jw_key(&w, "started_at");
  lf_jw_int(&w, lf_json_get_int(task, "started_at", 0));
  lf_jw_key(&w, "finished_at");
  lf_jw_int(&w, lf_json_get_int(task, "finished_at", 0));
  lf_jw_key(&w, "exit_status");
  lf_jw_int(&w, 0);
  lf_jw_key(&w, "signal");
  lf_jw_int(&w, 0);
  lf_jw_key(&w, "error");
  lf_jw_null(&w);
  lf_jw_key(&w, "logs");
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "stdout");
  lf_jw_str(&w, logname[0]);
  lf_jw_key(&w, "stderr");
  lf_jw_str(&w, logname[1]);
  lf_jw_obj_end(&w);
  lf_jw_obj_end(&w);
  lf_status st;
  lf_json *row = lf_json_parse(b.data, b.len, err);
  if (row == NULL) {
    st = LF_ERR_INTERNAL;
  } else {
    st = lf_meta_put_attempt(meta, row, err);
    lf_json_free(row);
  }
  lf_dynbuf_free(&b);
  return st;
}
