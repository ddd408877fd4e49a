// SPDX-License-Identifier: MIT
// This file contains the strict JSON parser (recursive descent into an lf_json tree) and the
// streaming writer. The datastore's task and run records, JSON flow parameters and the config
// file go through here, so the parser rejects everything RFC 8259 does not allow and says
// where: errors are located by line and column, computed only when an error happens.
#include "core/json.h"

#include <float.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

typedef struct parser {
  const unsigned char *text;
  size_t len;
  size_t pos;
  lf_err *err;
} parser;

// One key of an object being checked for duplicates.
typedef struct keyref {
  const char *key;
  size_t len;
  size_t pos; // offset of the key's opening quote in the text
} keyref;

static lf_json *parse_value(parser *ps, int depth);
static lf_json *parse_array(parser *ps, int depth);
static lf_json *parse_object(parser *ps, int depth);
static bool parse_string(parser *ps, char **out, size_t *outlen);
static lf_json *parse_number(parser *ps);
static lf_json *parse_literal(parser *ps, const char *word, lf_json_type type);
static bool check_dup_keys(parser *ps, const lf_json *obj, const size_t *keypos);
static int cmp_keyref(const void *a, const void *b);
static bool same_key(const keyref *x, const keyref *y);
static void skip_ws(parser *ps);
static bool fail_at(parser *ps, size_t pos, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static bool fail_expect(parser *ps, const char *what);
static lf_json *new_node(lf_json_type type);
static void push_item(lf_json *v, size_t *cap, lf_json *item);
static bool utf8_seq(const unsigned char *s, size_t avail, size_t *adv);
static size_t utf8_put(char *out, uint32_t cp);
static int hex4(const unsigned char *s);
static bool to_double(const char *tok, size_t n, double *out);
static void put(lf_jw *w, const char *s, size_t n);
static bool begin_value(lf_jw *w);
static void separate(lf_jw *w);
static void open_container(lf_jw *w, char c, bool obj);
static void close_container(lf_jw *w, char c, bool obj);
static void put_escaped(lf_jw *w, const char *s, size_t n);

lf_json *lf_json_parse(const char *text, size_t len, lf_err *err)
{
  parser ps = {(const unsigned char *)text, len, 0, err};
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    ps.pos = 3;
  }
  lf_json *root = parse_value(&ps, 0);
  if (root == NULL) {
    return NULL;
  }
  skip_ws(&ps);
  if (ps.pos < len) {
    lf_json_free(root);
    fail_at(&ps, ps.pos, "unexpected characters after the JSON value");
    return NULL;
  }
  return root;
}

void lf_json_free(lf_json *v)
{
  if (v == NULL) {
    return;
  }
  for (size_t k = 0; k < v->n; k++) {
    lf_json_free(v->items[k]);
    if (v->keys != NULL) {
      lf_free(v->keys[k]);
    }
  }
  lf_free(v->items);
  lf_free(v->keys);
  lf_free(v->keylens);
  lf_free(v->s);
  lf_free(v);
}

const lf_json *lf_json_get(const lf_json *obj, const char *key)
{
  if (obj == NULL || obj->type != LF_JSON_OBJECT || key == NULL) {
    return NULL;
  }
  size_t kl = strlen(key);
  // Linear: records and configs are small. Keys are unique (the parser rejects duplicates).
  for (size_t k = 0; k < obj->n; k++) {
    if (obj->keylens[k] == kl && memcmp(obj->keys[k], key, kl) == 0) {
      return obj->items[k];
    }
  }
  return NULL;
}

const char *lf_json_get_str(const lf_json *obj, const char *key)
{
  const lf_json *v = lf_json_get(obj, key);
  return v != NULL && v->type == LF_JSON_STRING ? v->s : NULL;
}

int64_t lf_json_get_int(const lf_json *obj, const char *key, int64_t dflt)
{
  const lf_json *v = lf_json_get(obj, key);
  if (v == NULL) {
    return dflt;
  }
  if (v->type == LF_JSON_INT) {
    return v->i;
  }
  // -2^63 is exact as a double; 2^63 is the first double past INT64_MAX.
  if (v->type == LF_JSON_NUMBER && v->d >= -9223372036854775808.0 &&
      v->d < 9223372036854775808.0 && v->d == (double)(int64_t)v->d) {
    return (int64_t)v->d;
  }
  return dflt;
}

double lf_json_get_num(const lf_json *obj, const char *key, double dflt)
{
  const lf_json *v = lf_json_get(obj, key);
  if (v != NULL && (v->type == LF_JSON_INT || v->type == LF_JSON_NUMBER)) {
    return v->d;
  }
  return dflt;
}

bool lf_json_get_bool(const lf_json *obj, const char *key, bool dflt)
{
  const lf_json *v = lf_json_get(obj, key);
  if (v != NULL && v->type == LF_JSON_TRUE) {
    return true;
  }
  if (v != NULL && v->type == LF_JSON_FALSE) {
    return false;
  }
  return dflt;
}

void lf_jw_init(lf_jw *w, lf_dynbuf *b, bool pretty)
{
  memset(w, 0, sizeof(*w));
  w->b = b;
  w->pretty = pretty;
}

bool lf_jw_ok(const lf_jw *w)
{
  return !w->failed && w->depth == 0 && !w->after_key;
}

void lf_jw_obj_begin(lf_jw *w)
{
  open_container(w, '{', true);
}

void lf_jw_obj_end(lf_jw *w)
{
  close_container(w, '}', true);
}

void lf_jw_arr_begin(lf_jw *w)
{
  open_container(w, '[', false);
}

void lf_jw_arr_end(lf_jw *w)
{
  close_container(w, ']', false);
}

void lf_jw_key(lf_jw *w, const char *key)
{
  lf_jw_keyn(w, key, key != NULL ? strlen(key) : 0);
}

void lf_jw_keyn(lf_jw *w, const char *key, size_t n)
{
  if (w->failed) {
    return;
  }
  if (w->depth == 0 || !w->is_obj[w->depth] || w->after_key || key == NULL) {
    w->failed = true;
    return;
  }
  separate(w);
  put_escaped(w, key, n);
  put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
  w->after_key = true;
}

void lf_jw_str(lf_jw *w, const char *s)
{
  if (s == NULL) {
    lf_jw_null(w);
    return;
  }
  lf_jw_strn(w, s, strlen(s));
}

void lf_jw_strn(lf_jw *w, const char *s, size_t n)
{
  if (begin_value(w)) {
    put_escaped(w, s, n);
  }
}

void lf_jw_int(lf_jw *w, int64_t v)
{
  if (begin_value(w)) {
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    put(w, buf, (size_t)n);
  }
}

void lf_jw_num(lf_jw *w, double v)
{
  if (!begin_value(w)) {
    return;
  }
  if (!isfinite(v)) {
    put(w, "null", 4);
    return;
  }
  char buf[64];
  size_t n = 0;
  // The shortest of 15, 16 or 17 significant digits that reads back exactly; %g drops trailing
  // zeros, and any normal double that has a shorter exact form gets it from %.15g (DBL_DIG).
  // Subnormals have fewer digits of precision, so for them every precision is tried.
  int first = fabs(v) < DBL_MIN && v != 0.0 ? 1 : 15;
  for (int prec = first; prec <= 17; prec++) {
    int r = snprintf(buf, sizeof(buf), "%.*g", prec, v);
    n = (size_t)r;
    // Undo the locale's decimal point, which may be longer than one byte.
    const char *dp = localeconv()->decimal_point;
    size_t dpl = strlen(dp);
    if (!(dpl == 1 && dp[0] == '.') && dpl > 0) {
      char *at = strstr(buf, dp);
      if (at != NULL) {
        *at = '.';
        memmove(at + 1, at + dpl, n - (size_t)(at - buf) - dpl + 1);
        n -= dpl - 1;
      }
    }
    double back;
    if (prec == 17 || (to_double(buf, n, &back) && back == v)) {
      break;
    }
  }
  if (strpbrk(buf, ".eE") == NULL && n + 2 < sizeof(buf)) {
    memcpy(buf + n, ".0", 3);
    n += 2;
  }
  put(w, buf, n);
}

void lf_jw_bool(lf_jw *w, bool v)
{
  if (begin_value(w)) {
    put(w, v ? "true" : "false", v ? 4 : 5);
  }
}

void lf_jw_null(lf_jw *w)
{
  if (begin_value(w)) {
    put(w, "null", 4);
  }
}

void lf_jw_raw(lf_jw *w, const char *json)
{
  if (json == NULL) {
    w->failed = true;
    return;
  }
  if (begin_value(w)) {
    put(w, json, strlen(json));
  }
}

// ---- parser ----

static lf_json *parse_value(parser *ps, int depth)
{
  skip_ws(ps);
  if (ps->pos >= ps->len) {
    fail_expect(ps, "a value");
    return NULL;
  }
  switch (ps->text[ps->pos]) {
  case '{':
    return parse_object(ps, depth + 1);
  case '[':
    return parse_array(ps, depth + 1);
  case '"': {
    char *s;
    size_t n;
    if (!parse_string(ps, &s, &n)) {
      return NULL;
    }
    lf_json *v = new_node(LF_JSON_STRING);
    v->s = s;
    v->slen = n;
    return v;
  }
  case 't':
    return parse_literal(ps, "true", LF_JSON_TRUE);
  case 'f':
    return parse_literal(ps, "false", LF_JSON_FALSE);
  case 'n':
    return parse_literal(ps, "null", LF_JSON_NULL);
  default:
    if (ps->text[ps->pos] == '-' || (ps->text[ps->pos] >= '0' && ps->text[ps->pos] <= '9')) {
      return parse_number(ps);
    }
    fail_at(ps, ps->pos, "expected a value");
    return NULL;
  }
}

static lf_json *parse_array(parser *ps, int depth)
{
  if (depth > LF_JSON_MAX_DEPTH) {
    fail_at(ps, ps->pos, "nesting deeper than %d levels", LF_JSON_MAX_DEPTH);
    return NULL;
  }
  ps->pos++; // '['
  lf_json *arr = new_node(LF_JSON_ARRAY);
  size_t cap = 0;
  skip_ws(ps);
  if (ps->pos < ps->len && ps->text[ps->pos] == ']') {
    ps->pos++;
    return arr;
  }
  for (;;) {
    skip_ws(ps);
    if (arr->n > 0 && ps->pos < ps->len && ps->text[ps->pos] == ']') {
      fail_at(ps, ps->pos, "trailing comma before ']'");
      break;
    }
    lf_json *item = parse_value(ps, depth);
    if (item == NULL) {
      break;
    }
    push_item(arr, &cap, item);
    skip_ws(ps);
    if (ps->pos < ps->len && ps->text[ps->pos] == ',') {
      ps->pos++;
      continue;
    }
    if (ps->pos < ps->len && ps->text[ps->pos] == ']') {
      ps->pos++;
      return arr;
    }
    fail_expect(ps, "',' or ']'");
    break;
  }
  lf_json_free(arr);
  return NULL;
}

static lf_json *parse_object(parser *ps, int depth)
{
  if (depth > LF_JSON_MAX_DEPTH) {
    fail_at(ps, ps->pos, "nesting deeper than %d levels", LF_JSON_MAX_DEPTH);
    return NULL;
  }
  ps->pos++; // '{'
  lf_json *obj = new_node(LF_JSON_OBJECT);
  size_t cap = 0;
  size_t *keypos = NULL;
  skip_ws(ps);
  if (ps->pos < ps->len && ps->text[ps->pos] == '}') {
    ps->pos++;
    return obj;
  }
  for (;;) {
    skip_ws(ps);
    if (ps->pos >= ps->len || ps->text[ps->pos] != '"') {
      if (obj->n > 0 && ps->pos < ps->len && ps->text[ps->pos] == '}') {
        fail_at(ps, ps->pos, "trailing comma before '}'");
      } else {
        fail_expect(ps, "a string key");
      }
      break;
    }
    size_t kpos = ps->pos;
    char *key;
    size_t klen;
    if (!parse_string(ps, &key, &klen)) {
      break;
    }
    skip_ws(ps);
    if (ps->pos >= ps->len || ps->text[ps->pos] != ':') {
      lf_free(key);
      fail_expect(ps, "':' after the key");
      break;
    }
    ps->pos++;
    lf_json *item = parse_value(ps, depth);
    if (item == NULL) {
      lf_free(key);
      break;
    }
    size_t oldcap = cap;
    push_item(obj, &cap, item);
    if (cap != oldcap) {
      obj->keys = lf_xrealloc(obj->keys, cap * sizeof(*obj->keys));
      obj->keylens = lf_xrealloc(obj->keylens, cap * sizeof(*obj->keylens));
      keypos = lf_xrealloc(keypos, cap * sizeof(*keypos));
    }
    obj->keys[obj->n - 1] = key;
    obj->keylens[obj->n - 1] = klen;
    keypos[obj->n - 1] = kpos;
    skip_ws(ps);
    if (ps->pos < ps->len && ps->text[ps->pos] == ',') {
      ps->pos++;
      continue;
    }
    if (ps->pos < ps->len && ps->text[ps->pos] == '}') {
      ps->pos++;
      if (!check_dup_keys(ps, obj, keypos)) {
        break;
      }
      lf_free(keypos);
      return obj;
    }
    fail_expect(ps, "',' or '}'");
    break;
  }
  lf_free(keypos);
  lf_json_free(obj);
  return NULL;
}

// Decodes the string starting at the opening quote at ps->pos into a new NUL-terminated buffer.
static bool parse_string(parser *ps, char **out, size_t *outlen)
{
  const unsigned char *t = ps->text;
  size_t start = ps->pos;
  // Pre-scan for the closing quote: the decoded string is never longer than the raw one.
  size_t end = start + 1;
  while (end < ps->len && t[end] != '"') {
    end += t[end] == '\\' ? 2 : 1;
  }
  if (end >= ps->len) {
    return fail_at(ps, start, "unterminated string");
  }
  char *buf = lf_xmalloc(end - start);
  size_t n = 0;
  size_t i = start + 1;
  while (i < end) {
    unsigned char c = t[i];
    if (c == '\\') {
      static const char names[] = "\"\\/bfnrt";
      static const char decoded[] = "\"\\/\b\f\n\r\t";
      unsigned char e = t[i + 1];
      const char *simple = strchr(names, e);
      if (e != 'u' && (simple == NULL || e == '\0')) {
        lf_free(buf);
        if (e >= 0x20 && e < 0x7f) {
          return fail_at(ps, i, "invalid escape '\\%c' in string", e);
        }
        return fail_at(ps, i, "invalid escape in string");
      }
      if (e != 'u') {
        buf[n++] = decoded[simple - names];
        i += 2;
        continue;
      }
      int hi = i + 6 <= end ? hex4(t + i + 2) : -1;
      if (hi < 0) {
        lf_free(buf);
        return fail_at(ps, i, "invalid \\u escape (expected 4 hex digits)");
      }
      uint32_t cp = (uint32_t)hi;
      size_t adv = 6;
      if (cp >= 0xDC00 && cp <= 0xDFFF) {
        lf_free(buf);
        return fail_at(ps, i, "unpaired surrogate \\u%04X (a low surrogate without a high one)",
                       (unsigned)cp);
      }
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        int lo = -1;
        if (i + 12 <= end && t[i + 6] == '\\' && t[i + 7] == 'u') {
          lo = hex4(t + i + 8);
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
          lf_free(buf);
          return fail_at(ps, i,
                         "unpaired surrogate \\u%04X (a high surrogate must be followed by a "
                         "low one)",
                         (unsigned)cp);
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        adv = 12;
      }
      n += utf8_put(buf + n, cp);
      i += adv;
      continue;
    }
    if (c < 0x20) {
      lf_free(buf);
      return fail_at(ps, i, "control character U+%04X in string (must be escaped)", c);
    }
    if (c < 0x80) {
      buf[n++] = (char)c;
      i++;
      continue;
    }
    size_t adv;
    if (!utf8_seq(t + i, end - i, &adv)) {
      lf_free(buf);
      return fail_at(ps, i, "invalid UTF-8 in string");
    }
    memcpy(buf + n, t + i, adv);
    n += adv;
    i += adv;
  }
  buf[n] = '\0';
  ps->pos = end + 1;
  *out = buf;
  *outlen = n;
  return true;
}

static lf_json *parse_number(parser *ps)
{
  const unsigned char *t = ps->text;
  size_t start = ps->pos;
  size_t i = start;
  bool neg = false;
  if (t[i] == '-') {
    neg = true;
    i++;
  }
  if (i >= ps->len || t[i] < '0' || t[i] > '9') {
    fail_at(ps, i, "expected a digit after '-'");
    return NULL;
  }
  if (t[i] == '0' && i + 1 < ps->len && t[i + 1] >= '0' && t[i + 1] <= '9') {
    fail_at(ps, i, "leading zeros are not allowed");
    return NULL;
  }
  bool is_int = true;
  uint64_t mag = 0;
  bool overflow = false;
  while (i < ps->len && t[i] >= '0' && t[i] <= '9') {
    unsigned dig = (unsigned)(t[i] - '0');
    if (mag > (UINT64_MAX - dig) / 10) {
      overflow = true;
    } else {
      mag = mag * 10 + dig;
    }
    i++;
  }
  if (i < ps->len && t[i] == '.') {
    is_int = false;
    i++;
    if (i >= ps->len || t[i] < '0' || t[i] > '9') {
      fail_at(ps, i, "expected a digit after '.'");
      return NULL;
    }
    while (i < ps->len && t[i] >= '0' && t[i] <= '9') {
      i++;
    }
  }
  if (i < ps->len && (t[i] == 'e' || t[i] == 'E')) {
    is_int = false;
    i++;
    if (i < ps->len && (t[i] == '+' || t[i] == '-')) {
      i++;
    }
    if (i >= ps->len || t[i] < '0' || t[i] > '9') {
      fail_at(ps, i, "expected a digit in the exponent");
      return NULL;
    }
    while (i < ps->len && t[i] >= '0' && t[i] <= '9') {
      i++;
    }
  }
  ps->pos = i;
  if (is_int && !overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
    lf_json *v = new_node(LF_JSON_INT);
    if (neg) {
      // Negate in unsigned arithmetic so that -2^63 does not overflow.
      v->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
      v->d = mag == 0 ? -0.0 : (double)v->i;
    } else {
      v->i = (int64_t)mag;
      v->d = (double)v->i;
    }
    return v;
  }
  double d;
  if (!to_double((const char *)t + start, i - start, &d)) {
    fail_at(ps, start, "number out of range");
    return NULL;
  }
  lf_json *v = new_node(LF_JSON_NUMBER);
  v->d = d;
  return v;
}

static lf_json *parse_literal(parser *ps, const char *word, lf_json_type type)
{
  size_t wl = strlen(word);
  size_t avail = ps->len - ps->pos;
  size_t cmp = avail < wl ? avail : wl;
  if (memcmp(ps->text + ps->pos, word, cmp) != 0) {
    fail_at(ps, ps->pos, "invalid literal (expected '%s')", word);
    return NULL;
  }
  if (avail < wl) {
    ps->pos = ps->len;
    fail_expect(ps, "the rest of a literal");
    return NULL;
  }
  ps->pos += wl;
  return new_node(type);
}

// RFC 8259 leaves duplicate names unpredictable; for configs and records they are mistakes,
// so they are errors located at the second occurrence.
static bool check_dup_keys(parser *ps, const lf_json *obj, const size_t *keypos)
{
  size_t n = obj->n;
  size_t bad = SIZE_MAX;
  size_t badk = 0;
  if (n <= 16) {
    for (size_t a = 1; a < n && bad == SIZE_MAX; a++) {
      for (size_t b = 0; b < a; b++) {
        if (obj->keylens[a] == obj->keylens[b] &&
            memcmp(obj->keys[a], obj->keys[b], obj->keylens[a]) == 0) {
          bad = keypos[a];
          badk = a;
          break;
        }
      }
    }
  } else {
    keyref *refs = lf_xmalloc(n * sizeof(*refs));
    for (size_t k = 0; k < n; k++) {
      refs[k] = (keyref){obj->keys[k], obj->keylens[k], keypos[k]};
    }
    // Equal keys sort by position, so the second of each run is that key's first duplicate.
    qsort(refs, n, sizeof(*refs), cmp_keyref);
    for (size_t k = 1; k < n; k++) {
      bool dup = same_key(&refs[k], &refs[k - 1]);
      bool second = k < 2 || !same_key(&refs[k - 1], &refs[k - 2]);
      if (dup && second && refs[k].pos < bad) {
        bad = refs[k].pos;
      }
    }
    lf_free(refs);
    for (size_t k = 0; k < n; k++) {
      if (keypos[k] == bad) {
        badk = k;
      }
    }
  }
  if (bad == SIZE_MAX) {
    return true;
  }
  if (strlen(obj->keys[badk]) == obj->keylens[badk] && obj->keylens[badk] <= 200) {
    return fail_at(ps, bad, "duplicate key '%s'", obj->keys[badk]);
  }
  return fail_at(ps, bad, "duplicate key");
}

static int cmp_keyref(const void *a, const void *b)
{
  const keyref *x = a;
  const keyref *y = b;
  size_t m = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->key, y->key, m);
  if (c != 0) {
    return c;
  }
  if (x->len != y->len) {
    return x->len < y->len ? -1 : 1;
  }
  return x->pos < y->pos ? -1 : (x->pos > y->pos ? 1 : 0);
}

static bool same_key(const keyref *x, const keyref *y)
{
  return x->len == y->len && memcmp(x->key, y->key, x->len) == 0;
}

static void skip_ws(parser *ps)
{
  while (ps->pos < ps->len) {
    unsigned char c = ps->text[ps->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      break;
    }
    ps->pos++;
  }
}

// Formats "invalid JSON at line L, column C: ..." for byte offset `pos`. The column counts
// characters, so UTF-8 continuation bytes are skipped.
static bool fail_at(parser *ps, size_t pos, const char *fmt, ...)
{
  size_t line = 1;
  size_t col = 1;
  for (size_t k = 0; k < pos && k < ps->len; k++) {
    unsigned char c = ps->text[k];
    if (c == '\n') {
      line++;
      col = 1;
    } else if ((c & 0xC0) != 0x80) {
      col++;
    }
  }
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  LF_ERR(ps->err, LF_ERR_CORRUPT, "invalid JSON at line %zu, column %zu: %s", line, col, what);
  return false;
}

// "expected X" at the current position, or "unexpected end of input, expected X" there.
static bool fail_expect(parser *ps, const char *what)
{
  if (ps->pos >= ps->len) {
    return fail_at(ps, ps->len, "unexpected end of input, expected %s", what);
  }
  return fail_at(ps, ps->pos, "expected %s", what);
}

static lf_json *new_node(lf_json_type type)
{
  lf_json *v = lf_xcalloc(1, sizeof(*v));
  v->type = type;
  return v;
}

// Appends to items, growing by doubling; *cap tracks the allocated count.
static void push_item(lf_json *v, size_t *cap, lf_json *item)
{
  if (v->n == *cap) {
    *cap = *cap != 0 ? *cap * 2 : 4;
    v->items = lf_xrealloc(v->items, *cap * sizeof(*v->items));
  }
  v->items[v->n++] = item;
}

// Checks one UTF-8 sequence (Unicode Table 3-7: no overlong forms, no surrogates, nothing
// above U+10FFFF). Sets *adv to its length if valid, else to the length of the maximal
// invalid subpart (at least 1), which the writer replaces by one U+FFFD.
static bool utf8_seq(const unsigned char *s, size_t avail, size_t *adv)
{
  unsigned char c = s[0];
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  size_t need;
  if (c < 0x80) {
    *adv = 1;
    return true;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else {
    *adv = 1;
    return false;
  }
  for (size_t k = 1; k <= need; k++) {
    if (k >= avail || s[k] < lo || s[k] > hi) {
      *adv = k;
      return false;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  *adv = need + 1;
  return true;
}

static size_t utf8_put(char *out, uint32_t cp)
{
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

// @return the value of 4 hex digits, or -1.
static int hex4(const unsigned char *s)
{
  int v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = s[k];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

// Converts a validated JSON number token with strtod. strtod follows LC_NUMERIC, which an
// embedding program may have changed, so the '.' is swapped for the locale's decimal point.
// @return false if the magnitude overflows a double
static bool to_double(const char *tok, size_t n, double *out)
{
  const char *dp = localeconv()->decimal_point;
  size_t dpl = strlen(dp);
  bool swap = !(dpl == 1 && dp[0] == '.') && dpl > 0;
  char small[128];
  size_t need = n + (swap ? dpl : 0) + 1;
  char *buf = need <= sizeof(small) ? small : lf_xmalloc(need);
  size_t m = 0;
  for (size_t k = 0; k < n; k++) {
    if (swap && tok[k] == '.') {
      memcpy(buf + m, dp, dpl);
      m += dpl;
    } else {
      buf[m++] = tok[k];
    }
  }
  buf[m] = '\0';
  double d = strtod(buf, NULL);
  if (buf != small) {
    lf_free(buf);
  }
  *out = d;
  return isfinite(d);
}

// ---- writer ----

static void put(lf_jw *w, const char *s, size_t n)
{
  if (!w->failed && !lf_dynbuf_add(w->b, s, n)) {
    w->failed = true;
  }
}

// Emits what must precede a value (comma, newline, indent) and checks the call order.
static bool begin_value(lf_jw *w)
{
  if (w->failed) {
    return false;
  }
  if (w->depth == 0) {
    if (w->need_comma[0]) {
      put(w, "\n", 1);
    }
    w->need_comma[0] = 1;
  } else if (w->is_obj[w->depth]) {
    if (!w->after_key) {
      w->failed = true;
      return false;
    }
    w->after_key = false;
  } else {
    separate(w);
  }
  return !w->failed;
}

// The separator before an element of the current container.
static void separate(lf_jw *w)
{
  if (w->need_comma[w->depth]) {
    put(w, ",", 1);
  }
  w->need_comma[w->depth] = 1;
  if (w->pretty) {
    put(w, "\n", 1);
    for (int k = 0; k < w->depth; k++) {
      put(w, "  ", 2);
    }
  }
}

static void open_container(lf_jw *w, char c, bool obj)
{
  if (w->depth + 1 >= LF_JW_MAX_DEPTH) {
    w->failed = true;
  }
  if (!begin_value(w)) {
    return;
  }
  put(w, &c, 1);
  w->depth++;
  w->need_comma[w->depth] = 0;
  w->is_obj[w->depth] = obj ? 1 : 0;
}

static void close_container(lf_jw *w, char c, bool obj)
{
  if (w->failed) {
    return;
  }
  if (w->depth == 0 || (w->is_obj[w->depth] != 0) != obj || w->after_key) {
    w->failed = true;
    return;
  }
  if (w->pretty && w->need_comma[w->depth]) {
    put(w, "\n", 1);
    for (int k = 0; k < w->depth - 1; k++) {
      put(w, "  ", 2);
    }
  }
  put(w, &c, 1);
  w->depth--;
}

// Writes a quoted string: runs of plain bytes are appended in one piece.
static void put_escaped(lf_jw *w, const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  put(w, "\"", 1);
  size_t run = 0;
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      i++;
      continue;
    }
    size_t adv = 1;
    if (c >= 0x80 && utf8_seq(u + i, n - i, &adv)) {
      i += adv;
      continue;
    }
    put(w, s + run, i - run);
    // Short escapes where JSON has them, \u00XX for other controls, U+FFFD for bad UTF-8.
    static const char shorts[] = "\"\"\\\\\bb\ff\nn\rr\tt";
    const char *sh = c != 0 && c < 0x80 ? memchr(shorts, c, sizeof(shorts) - 1) : NULL;
    char esc[8] = {'\\', sh != NULL ? sh[1] : 'u'};
    size_t el = 2;
    if (sh == NULL) {
      el = 6;
      if (c < 0x20) {
        snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c);
      } else {
        memcpy(esc, "\\ufffd", 6);
      }
    }
    put(w, esc, el);
    i += adv;
    run = i;
  }
  put(w, s + run, n - run);
  put(w, "\"", 1);
}

void lf_jw_value(lf_jw *w, const lf_json *v)
{
  switch (v->type) {
  case LF_JSON_NULL:
    lf_jw_null(w);
    break;
  case LF_JSON_FALSE:
  case LF_JSON_TRUE:
    lf_jw_bool(w, v->type == LF_JSON_TRUE);
    break;
  case LF_JSON_INT:
    lf_jw_int(w, v->i);
    break;
  case LF_JSON_NUMBER:
    lf_jw_num(w, v->d);
    break;
  case LF_JSON_STRING:
    lf_jw_strn(w, v->s, v->slen);
    break;
  case LF_JSON_ARRAY:
    lf_jw_arr_begin(w);
    for (size_t i = 0; i < v->n; i++) {
      lf_jw_value(w, v->items[i]);
    }
    lf_jw_arr_end(w);
    break;
  case LF_JSON_OBJECT:
    lf_jw_obj_begin(w);
    for (size_t i = 0; i < v->n; i++) {
      lf_jw_keyn(w, v->keys[i], v->keylens[i]);
      lf_jw_value(w, v->items[i]);
    }
    lf_jw_obj_end(w);
    break;
  }
}
