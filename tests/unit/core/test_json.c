// SPDX-License-Identifier: MIT
// Unit tests for core/json.c: parsing (types, escapes, numbers, every error class with its
// location), the depth limit, the writer (compact, pretty, escaping, numbers, misuse, the
// dynbuf limit) and parse/emit round trips.
#include "core/json.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>

#include "core/alloc.h"
#include "testhelp.h"

static int skipped;

static lf_json *parse(const char *s)
{
  lf_err err = {0};
  lf_json *v = lf_json_parse(s, strlen(s), &err);
  if (v == NULL) {
    fprintf(stderr, "unexpected parse error for %s: %s\n", s, err.msg);
  }
  return v;
}

// Parses `len` bytes of `s`, expects failure with exactly `msg`.
static void expect_errn(const char *s, size_t len, const char *msg, int line)
{
  lf_err err = {0};
  lf_json *v = lf_json_parse(s, len, &err);
  if (v != NULL || err.code != LF_ERR_CORRUPT || strcmp(err.msg, msg) != 0) {
    th_failed++;
    fprintf(stderr, "%s:%d: parse of '%s': expected error\n  %s\ngot (code %d)\n  %s\n", __FILE__,
            line, s, msg, (int)err.code, v != NULL ? "(success)" : err.msg);
  } else {
    th_passed++;
  }
  lf_json_free(v);
}

#define EXPECT_ERR(s, msg) expect_errn((s), strlen(s), (msg), __LINE__)

// Writes `v` back with the writer (lf_jw_value, which the round trips below also test).
static void emit(lf_jw *w, const lf_json *v)
{
  lf_jw_value(w, v);
}

static bool same(const lf_json *a, const lf_json *b)
{
  if (a->type != b->type || a->n != b->n) {
    return false;
  }
  switch (a->type) {
  case LF_JSON_INT:
    return a->i == b->i;
  case LF_JSON_NUMBER:
    return memcmp(&a->d, &b->d, sizeof(double)) == 0;
  case LF_JSON_STRING:
    return a->slen == b->slen && memcmp(a->s, b->s, a->slen) == 0;
  case LF_JSON_ARRAY:
  case LF_JSON_OBJECT:
    for (size_t k = 0; k < a->n; k++) {
      if (a->type == LF_JSON_OBJECT &&
          (a->keylens[k] != b->keylens[k] || memcmp(a->keys[k], b->keys[k], a->keylens[k]) != 0)) {
        return false;
      }
      if (!same(a->items[k], b->items[k])) {
        return false;
      }
    }
    return true;
  default:
    return true;
  }
}

// Emits `v` (compact or pretty), parses the text again and compares the trees.
static void check_roundtrip(const char *text, bool pretty)
{
  lf_json *a = parse(text);
  CHECK(a != NULL);
  if (a == NULL) {
    return;
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, 1 << 20);
  lf_jw w;
  lf_jw_init(&w, &b, pretty);
  emit(&w, a);
  CHECK(lf_jw_ok(&w));
  lf_json *c = parse(b.data);
  CHECK(c != NULL && same(a, c));
  lf_json_free(a);
  lf_json_free(c);
  lf_dynbuf_free(&b);
}

static char *write_num(double d)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 256);
  lf_jw w;
  lf_jw_init(&w, &b, false);
  lf_jw_num(&w, d);
  return lf_dynbuf_take(&b, NULL);
}

static void test_types(void)
{
  lf_json *v = parse(" {\"n\": null, \"t\": true, \"f\": false, \"i\": -42, \"d\": 2.5, "
                     "\"s\": \"hi\", \"a\": [1, [], {}], \"o\": {\"x\": 1}} ");
  CHECK(v != NULL && v->type == LF_JSON_OBJECT && v->n == 8);
  CHECK_EQ_INT(lf_json_get(v, "n")->type, LF_JSON_NULL);
  CHECK(lf_json_get_bool(v, "t", false) == true);
  CHECK(lf_json_get_bool(v, "f", true) == false);
  CHECK(lf_json_get_bool(v, "n", true) == true);
  CHECK_EQ_INT(lf_json_get_int(v, "i", 0), -42);
  CHECK_EQ_INT(lf_json_get(v, "i")->type, LF_JSON_INT);
  CHECK(lf_json_get_num(v, "i", 0) == -42.0);
  CHECK(lf_json_get_num(v, "d", 0) == 2.5);
  CHECK_EQ_INT(lf_json_get_int(v, "d", 7), 7); // not integral
  CHECK_EQ_INT(lf_json_get_int(v, "s", 7), 7);
  CHECK_STR(lf_json_get_str(v, "s"), "hi");
  CHECK(lf_json_get_str(v, "i") == NULL);
  CHECK(lf_json_get_str(v, "missing") == NULL);
  CHECK(lf_json_get_num(v, "missing", 1.5) == 1.5);
  const lf_json *a = lf_json_get(v, "a");
  CHECK(a != NULL && a->type == LF_JSON_ARRAY && a->n == 3);
  CHECK(a->items[1]->type == LF_JSON_ARRAY && a->items[1]->n == 0);
  CHECK(a->items[2]->type == LF_JSON_OBJECT && a->items[2]->n == 0);
  CHECK(lf_json_get(a, "x") == NULL); // not an object
  CHECK_EQ_INT(lf_json_get_int(lf_json_get(v, "o"), "x", 0), 1);
  CHECK(lf_json_get(NULL, "x") == NULL);
  // Keys keep document order.
  CHECK_STR(v->keys[0], "n");
  CHECK_STR(v->keys[7], "o");
  lf_json_free(v);

  // Scalars at the top level, whitespace of all four kinds, a byte order mark.
  v = parse("\t\r\n 17 \n");
  CHECK(v != NULL && v->type == LF_JSON_INT && v->i == 17);
  lf_json_free(v);
  v = parse("\xEF\xBB\xBF\"x\"");
  CHECK(v != NULL && v->type == LF_JSON_STRING && strcmp(v->s, "x") == 0);
  lf_json_free(v);
  // The input need not be NUL-terminated: only len bytes are read.
  lf_err err = {0};
  v = lf_json_parse("[1]garbage", 3, &err);
  CHECK(v != NULL && v->type == LF_JSON_ARRAY && v->n == 1);
  lf_json_free(v);
  lf_json_free(NULL);
}

static void test_numbers(void)
{
  lf_json *v = parse("[0, -0, 1, 1.0, 1e2, 1E+2, 1e-2, -1.5e-3, 9223372036854775807,"
                     " 9223372036854775808, -9223372036854775808, -9223372036854775809,"
                     " 18446744073709551616, 1.7976931348623157e308, 5e-324, 1e-400,"
                     " 0.1, 123456789012345678901234567890]");
  CHECK(v != NULL && v->n == 18);
  if (v == NULL) {
    return;
  }
  lf_json **it = v->items;
  CHECK(it[0]->type == LF_JSON_INT && it[0]->i == 0 && !signbit(it[0]->d));
  CHECK(it[1]->type == LF_JSON_INT && it[1]->i == 0 && signbit(it[1]->d));
  CHECK(it[2]->type == LF_JSON_INT && it[2]->i == 1 && it[2]->d == 1.0);
  CHECK(it[3]->type == LF_JSON_NUMBER && it[3]->d == 1.0);
  CHECK(it[4]->type == LF_JSON_NUMBER && it[4]->d == 100.0);
  CHECK(it[5]->type == LF_JSON_NUMBER && it[5]->d == 100.0);
  CHECK(it[6]->type == LF_JSON_NUMBER && it[6]->d == 0.01);
  CHECK(it[7]->type == LF_JSON_NUMBER && it[7]->d == -1.5e-3);
  CHECK(it[8]->type == LF_JSON_INT && it[8]->i == INT64_MAX);
  CHECK(it[9]->type == LF_JSON_NUMBER && it[9]->d == 9223372036854775808.0);
  CHECK(it[10]->type == LF_JSON_INT && it[10]->i == INT64_MIN);
  CHECK(it[11]->type == LF_JSON_NUMBER && it[11]->d == -9223372036854775808.0);
  CHECK(it[12]->type == LF_JSON_NUMBER && it[12]->d == 18446744073709551616.0);
  CHECK(it[13]->type == LF_JSON_NUMBER && it[13]->d == 1.7976931348623157e308);
  CHECK(it[14]->type == LF_JSON_NUMBER && it[14]->d == 5e-324);
  CHECK(it[15]->type == LF_JSON_NUMBER && it[15]->d == 0.0);
  CHECK(it[16]->type == LF_JSON_NUMBER && it[16]->d == 0.1);
  CHECK(it[17]->type == LF_JSON_NUMBER && it[17]->d == 123456789012345678901234567890.0);
  lf_json_free(v);

  // lf_json_get_int accepts exact integral doubles only.
  v = parse("{\"a\": 3.0, \"b\": 1e3, \"c\": 1e19, \"d\": -9223372036854775808.0, \"e\": 0.5}");
  CHECK_EQ_INT(lf_json_get_int(v, "a", -1), 3);
  CHECK_EQ_INT(lf_json_get_int(v, "b", -1), 1000);
  CHECK_EQ_INT(lf_json_get_int(v, "c", -1), -1);
  CHECK(lf_json_get_int(v, "d", -1) == INT64_MIN);
  CHECK_EQ_INT(lf_json_get_int(v, "e", -1), -1);
  lf_json_free(v);

  // A long number is fine (heap path of the conversion buffer).
  char longnum[400];
  memcpy(longnum, "0.", 2);
  memset(longnum + 2, '0', 300);
  memcpy(longnum + 302, "15", 3);
  v = parse(longnum);
  CHECK(v != NULL && v->type == LF_JSON_NUMBER && v->d == 1.5e-301);
  lf_json_free(v);
}

static void test_strings(void)
{
  lf_json *v = parse("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t u\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"");
  CHECK(v != NULL && v->type == LF_JSON_STRING);
  const char *want = "q\" b\\ s/ \b\f\n\r\t uA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  CHECK(v != NULL && v->slen == strlen(want) && strcmp(v->s, want) == 0);
  lf_json_free(v);

  // \u0000 is kept; slen counts past it.
  v = parse("\"a\\u0000b\"");
  CHECK(v != NULL && v->slen == 3 && memcmp(v->s, "a\0b", 4) == 0);
  lf_json_free(v);

  // Raw UTF-8 of every length, including the edges of the valid ranges.
  v = parse("\"\xC2\x80 \xDF\xBF \xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80 \xF0\x90\x80\x80 "
            "\xF4\x8F\xBF\xBF \x7F\"");
  CHECK(v != NULL && v->slen == 29);
  lf_json_free(v);

  // Keys may hold \u0000 too.
  v = parse("{\"k\\u0000\": 1, \"\": 2}");
  CHECK(v != NULL && v->n == 2 && v->keylens[0] == 2 && v->keylens[1] == 0);
  CHECK_EQ_INT(lf_json_get_int(v, "", 0), 2);
  lf_json_free(v);
}

static void test_errors(void)
{
  EXPECT_ERR("", "invalid JSON at line 1, column 1: unexpected end of input, expected a value");
  EXPECT_ERR("   ", "invalid JSON at line 1, column 4: unexpected end of input, expected a value");
  EXPECT_ERR("{\n  \"a\": 1,\n  \"b\": [1, 2] \"c\": 3\n}",
             "invalid JSON at line 3, column 15: expected ',' or '}'");
  EXPECT_ERR("{\"a\":1 \"b\":2}", "invalid JSON at line 1, column 8: expected ',' or '}'");
  EXPECT_ERR("{\"a\":1", "invalid JSON at line 1, column 7: unexpected end of input, expected "
                         "',' or '}'");
  EXPECT_ERR("[1 2]", "invalid JSON at line 1, column 4: expected ',' or ']'");
  EXPECT_ERR("[1,2", "invalid JSON at line 1, column 5: unexpected end of input, expected ',' "
                     "or ']'");
  EXPECT_ERR("[1,]", "invalid JSON at line 1, column 4: trailing comma before ']'");
  EXPECT_ERR("{\"a\":1,}", "invalid JSON at line 1, column 8: trailing comma before '}'");
  EXPECT_ERR("{\"a\" 1}", "invalid JSON at line 1, column 6: expected ':' after the key");
  EXPECT_ERR("{1:2}", "invalid JSON at line 1, column 2: expected a string key");
  EXPECT_ERR("{'a':2}", "invalid JSON at line 1, column 2: expected a string key");
  EXPECT_ERR("{\"a\":}", "invalid JSON at line 1, column 6: expected a value");
  EXPECT_ERR("[,1]", "invalid JSON at line 1, column 2: expected a value");
  EXPECT_ERR("1 2", "invalid JSON at line 1, column 3: unexpected characters after the JSON "
                    "value");
  EXPECT_ERR("{} x", "invalid JSON at line 1, column 4: unexpected characters after the JSON "
                     "value");
  // Numbers.
  EXPECT_ERR("01", "invalid JSON at line 1, column 1: leading zeros are not allowed");
  EXPECT_ERR("[-01]", "invalid JSON at line 1, column 3: leading zeros are not allowed");
  EXPECT_ERR("-", "invalid JSON at line 1, column 2: expected a digit after '-'");
  EXPECT_ERR("-x", "invalid JSON at line 1, column 2: expected a digit after '-'");
  EXPECT_ERR("1.", "invalid JSON at line 1, column 3: expected a digit after '.'");
  EXPECT_ERR("1.e5", "invalid JSON at line 1, column 3: expected a digit after '.'");
  EXPECT_ERR("1e", "invalid JSON at line 1, column 3: expected a digit in the exponent");
  EXPECT_ERR("1e+", "invalid JSON at line 1, column 4: expected a digit in the exponent");
  EXPECT_ERR(".5", "invalid JSON at line 1, column 1: expected a value");
  EXPECT_ERR("+1", "invalid JSON at line 1, column 1: expected a value");
  EXPECT_ERR("0x10", "invalid JSON at line 1, column 2: unexpected characters after the JSON "
                     "value");
  EXPECT_ERR("[1e309]", "invalid JSON at line 1, column 2: number out of range");
  EXPECT_ERR("-1e400", "invalid JSON at line 1, column 1: number out of range");
  EXPECT_ERR("NaN", "invalid JSON at line 1, column 1: expected a value");
  EXPECT_ERR("[Infinity]", "invalid JSON at line 1, column 2: expected a value");
  // Literals.
  EXPECT_ERR("tru", "invalid JSON at line 1, column 4: unexpected end of input, expected the "
                    "rest of a literal");
  EXPECT_ERR("trUe", "invalid JSON at line 1, column 1: invalid literal (expected 'true')");
  EXPECT_ERR("[nul]", "invalid JSON at line 1, column 2: invalid literal (expected 'null')");
  EXPECT_ERR("falsey", "invalid JSON at line 1, column 6: unexpected characters after the "
                       "JSON value");
  EXPECT_ERR("True", "invalid JSON at line 1, column 1: expected a value");
  // Comments are not JSON.
  EXPECT_ERR("// c\n1", "invalid JSON at line 1, column 1: expected a value");
  EXPECT_ERR("[1 /* c */]", "invalid JSON at line 1, column 4: expected ',' or ']'");
  // Strings.
  EXPECT_ERR("\"abc", "invalid JSON at line 1, column 1: unterminated string");
  EXPECT_ERR("[\"a\\\"]", "invalid JSON at line 1, column 2: unterminated string");
  EXPECT_ERR("\"a\\x\"", "invalid JSON at line 1, column 3: invalid escape '\\x' in string");
  EXPECT_ERR("\"\\'\"", "invalid JSON at line 1, column 2: invalid escape '\\'' in string");
  EXPECT_ERR("\"\\u12G4\"", "invalid JSON at line 1, column 2: invalid \\u escape (expected 4 "
                            "hex digits)");
  EXPECT_ERR("\"\\u12\"", "invalid JSON at line 1, column 2: invalid \\u escape (expected 4 hex "
                          "digits)");
  EXPECT_ERR("\"\\ud800\"", "invalid JSON at line 1, column 2: unpaired surrogate \\uD800 (a "
                            "high surrogate must be followed by a low one)");
  EXPECT_ERR("\"\\ud800\\u0041\"", "invalid JSON at line 1, column 2: unpaired surrogate "
                                   "\\uD800 (a high surrogate must be followed by a low one)");
  EXPECT_ERR("\"\\ud800\\ud800\"", "invalid JSON at line 1, column 2: unpaired surrogate "
                                   "\\uD800 (a high surrogate must be followed by a low one)");
  EXPECT_ERR("\"x\\udc00\"", "invalid JSON at line 1, column 3: unpaired surrogate \\uDC00 (a "
                             "low surrogate without a high one)");
  EXPECT_ERR("\"a\nb\"", "invalid JSON at line 1, column 3: control character U+000A in string "
                         "(must be escaped)");
  EXPECT_ERR("\"\t\"", "invalid JSON at line 1, column 2: control character U+0009 in string "
                       "(must be escaped)");
  expect_errn("\"a\0b\"", 5, "invalid JSON at line 1, column 3: control character U+0000 in "
                             "string (must be escaped)", __LINE__);
  expect_errn("[1]\0", 4, "invalid JSON at line 1, column 4: unexpected characters after the "
                          "JSON value", __LINE__);
  // Invalid UTF-8: overlong, encoded surrogate, above U+10FFFF, truncated, stray continuation,
  // bytes that never occur. The column counts characters ("é" is one).
  EXPECT_ERR("\"\xC0\xAF\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("\"\xE0\x80\xAF\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("\"\xED\xA0\x80\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("\"\xF4\x90\x80\x80\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("\"\xF0\x8F\xBF\xBF\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("\"\xE2\x82\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("\"\xC3\xA9\x80\"", "invalid JSON at line 1, column 3: invalid UTF-8 in string");
  EXPECT_ERR("\"\xFF\"", "invalid JSON at line 1, column 2: invalid UTF-8 in string");
  EXPECT_ERR("[\"\xC3\xA9\xC3\xA9\", x]", "invalid JSON at line 1, column 8: expected a value");
  EXPECT_ERR("\xC3\xA9", "invalid JSON at line 1, column 1: expected a value");
  // Duplicate keys, in small objects and in large ones (the sorted path).
  EXPECT_ERR("{\"a\":1,\"b\":2,\"a\":3}", "invalid JSON at line 1, column 14: duplicate key "
                                          "'a'");
  char big[2048];
  size_t n = 0;
  big[n++] = '{';
  for (int k = 0; k < 40; k++) {
    n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%02d\":%d,", k, k);
  }
  // 40 distinct keys then duplicates of k07 and k03: the first duplicate in the text wins.
  n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k07\":1,\"k03\":2,\"k07\":3}");
  size_t col = strlen(big) - strlen("\"k07\":1,\"k03\":2,\"k07\":3}") + 1;
  char want[128];
  snprintf(want, sizeof(want), "invalid JSON at line 1, column %zu: duplicate key 'k07'", col);
  EXPECT_ERR(big, want);
  lf_json *ok = parse("{\"a\":1,\"A\":2,\"a \":3}");
  CHECK(ok != NULL && ok->n == 3);
  lf_json_free(ok);
  // The error code is LF_ERR_CORRUPT and the first error wins.
  lf_err err = {0};
  CHECK(lf_json_parse("[", 1, &err) == NULL && err.code == LF_ERR_CORRUPT);
  CHECK(lf_json_parse("]", 1, &err) == NULL);
  CHECK_CONTAINS(err.msg, "column 2: unexpected end of input");
  CHECK(lf_json_parse("]", 1, NULL) == NULL);
}

static void test_depth(void)
{
  size_t depth = LF_JSON_MAX_DEPTH;
  char *s = lf_xmalloc(2 * depth + 16);
  memset(s, '[', depth);
  memset(s + depth, ']', depth);
  lf_json *v = lf_json_parse(s, 2 * depth, NULL);
  CHECK(v != NULL);
  lf_json_free(v);
  // One more level fails, at the 513th bracket.
  memset(s, '[', depth + 1);
  memset(s + depth + 1, ']', depth + 1);
  expect_errn(s, 2 * depth + 2, "invalid JSON at line 1, column 513: nesting deeper than 512 "
                                "levels", __LINE__);
  // Objects count too.
  size_t n = 0;
  for (size_t k = 0; k < depth + 1; k++) {
    s = lf_xrealloc(s, n + 8);
    memcpy(s + n, "{\"a\":", 5);
    n += 5;
  }
  expect_errn(s, n, "invalid JSON at line 1, column 2561: nesting deeper than 512 levels",
              __LINE__);
  lf_free(s);
}

static char *writer_demo(bool pretty)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 4096);
  lf_jw w;
  lf_jw_init(&w, &b, pretty);
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "name");
  lf_jw_str(&w, "train");
  lf_jw_key(&w, "n");
  lf_jw_int(&w, -3);
  lf_jw_key(&w, "x");
  lf_jw_num(&w, 0.25);
  lf_jw_key(&w, "list");
  lf_jw_arr_begin(&w);
  lf_jw_bool(&w, true);
  lf_jw_null(&w);
  lf_jw_arr_begin(&w);
  lf_jw_arr_end(&w);
  lf_jw_obj_begin(&w);
  lf_jw_obj_end(&w);
  lf_jw_raw(&w, "{\"r\":1}");
  lf_jw_arr_end(&w);
  lf_jw_key(&w, "o");
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "k");
  lf_jw_bool(&w, false);
  lf_jw_obj_end(&w);
  lf_jw_obj_end(&w);
  CHECK(lf_jw_ok(&w));
  return lf_dynbuf_take(&b, NULL);
}

static void test_writer(void)
{
  char *s = writer_demo(false);
  CHECK_STR(s, "{\"name\":\"train\",\"n\":-3,\"x\":0.25,\"list\":[true,null,[],{},{\"r\":1}],"
               "\"o\":{\"k\":false}}");
  lf_free(s);
  s = writer_demo(true);
  CHECK_STR(s, "{\n  \"name\": \"train\",\n  \"n\": -3,\n  \"x\": 0.25,\n  \"list\": [\n"
               "    true,\n    null,\n    [],\n    {},\n    {\"r\":1}\n  ],\n  \"o\": {\n"
               "    \"k\": false\n  }\n}");
  lf_free(s);

  // Escapes, and invalid UTF-8 replaced per maximal subpart.
  lf_dynbuf b;
  lf_dynbuf_init(&b, 4096);
  lf_jw w;
  lf_jw_init(&w, &b, false);
  lf_jw_arr_begin(&w);
  lf_jw_str(&w, "q\" b\\ / \b\f\n\r\t \x01\x1f\x7f \xC3\xA9\xF0\x9F\x98\x80");
  lf_jw_strn(&w, "a\0b", 3);
  lf_jw_str(&w, "x\xC0\xAFy\xE2\x82z\xED\xA0\x80w\xF4\x90\x80\x80v\xFF");
  lf_jw_str(&w, "\xE2\x82");
  lf_jw_str(&w, NULL);
  lf_jw_arr_end(&w);
  CHECK(lf_jw_ok(&w));
  CHECK_STR(b.data, "[\"q\\\" b\\\\ / \\b\\f\\n\\r\\t \\u0001\\u001f\x7f \xC3\xA9\xF0\x9F\x98\x80\","
                    "\"a\\u0000b\","
                    "\"x\\ufffd\\ufffdy\\ufffdz\\ufffd\\ufffd\\ufffdw\\ufffd\\ufffd\\ufffd\\ufffdv"
                    "\\ufffd\",\"\\ufffd\",null]");
  // What the writer writes, the parser reads.
  lf_json *v = parse(b.data);
  CHECK(v != NULL && v->n == 5 && v->items[1]->slen == 3);
  lf_json_free(v);

  // Keys with escapes; several top-level values are JSON Lines.
  lf_dynbuf_reset(&b);
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  lf_jw_keyn(&w, "k\"\0", 3);
  lf_jw_int(&w, INT64_MIN);
  lf_jw_key(&w, "m");
  lf_jw_int(&w, INT64_MAX);
  lf_jw_obj_end(&w);
  lf_jw_int(&w, 2);
  CHECK(lf_jw_ok(&w));
  CHECK_STR(b.data, "{\"k\\\"\\u0000\":-9223372036854775808,\"m\":9223372036854775807}\n2");
  lf_dynbuf_free(&b);
}

static void test_writer_misuse(void)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 4096);
  lf_jw w;
  // A value in an object without a key.
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  lf_jw_int(&w, 1);
  CHECK(!lf_jw_ok(&w));
  // A key in an array.
  lf_jw_init(&w, &b, false);
  lf_jw_arr_begin(&w);
  lf_jw_key(&w, "k");
  CHECK(!lf_jw_ok(&w));
  // Two keys in a row, and the failure is sticky.
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "a");
  lf_jw_key(&w, "b");
  lf_jw_int(&w, 1);
  lf_jw_obj_end(&w);
  CHECK(!lf_jw_ok(&w));
  // Mismatched and unbalanced ends.
  lf_jw_init(&w, &b, false);
  lf_jw_arr_begin(&w);
  lf_jw_obj_end(&w);
  CHECK(!lf_jw_ok(&w));
  lf_jw_init(&w, &b, false);
  lf_jw_arr_end(&w);
  CHECK(!lf_jw_ok(&w));
  lf_jw_init(&w, &b, false);
  lf_jw_arr_begin(&w);
  CHECK(!lf_jw_ok(&w)); // still open
  lf_jw_arr_end(&w);
  CHECK(lf_jw_ok(&w));
  // A key whose value never came.
  lf_jw_init(&w, &b, false);
  lf_jw_obj_begin(&w);
  lf_jw_key(&w, "a");
  lf_jw_obj_end(&w);
  CHECK(!lf_jw_ok(&w));
  // Nesting past the writer's limit.
  lf_jw_init(&w, &b, false);
  for (int k = 0; k < LF_JW_MAX_DEPTH - 1; k++) {
    lf_jw_arr_begin(&w);
  }
  CHECK(!w.failed);
  lf_jw_arr_begin(&w);
  CHECK(w.failed);
  lf_dynbuf_free(&b);

  // The dynbuf's maximum: the append fails and the writer remembers it.
  lf_dynbuf_init(&b, 16);
  lf_jw_init(&w, &b, false);
  lf_jw_arr_begin(&w);
  lf_jw_str(&w, "0123456789abcdef");
  lf_jw_int(&w, 1);
  lf_jw_arr_end(&w);
  CHECK(!lf_jw_ok(&w));
  CHECK(b.len <= 16);
  lf_dynbuf_free(&b);
}

static void test_numbers_out(void)
{
  static const struct {
    double d;
    const char *want;
  } cases[] = {
    {0.1, "0.1"},
    {1.0, "1.0"},
    {-2.0, "-2.0"},
    {0.0, "0.0"},
    {-0.0, "-0.0"},
    {1.5, "1.5"},
    {1e300, "1e+300"},
    {1e21, "1e+21"},
    {123456789.0, "123456789.0"},
    {5e-324, "5e-324"},
    {1.7976931348623157e308, "1.7976931348623157e+308"},
    {0.30000000000000004, "0.30000000000000004"},
    {1.0 / 3.0, "0.3333333333333333"},
    {2.0 / 3.0, "0.6666666666666666"},
    {100.0, "100.0"},
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    char *s = write_num(cases[k].d);
    CHECK_STR(s, cases[k].want);
    lf_free(s);
  }
  char *s = write_num((double)NAN);
  CHECK_STR(s, "null");
  lf_free(s);
  s = write_num(-(double)INFINITY);
  CHECK_STR(s, "null");
  lf_free(s);

  // Random bit patterns read back bit-exactly, and as LF_JSON_NUMBER.
  uint64_t x = 0x9E3779B97F4A7C15u;
  int exact = 0;
  int tries = 20000;
  for (int k = 0; k < tries; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d;
    memcpy(&d, &x, sizeof(d));
    if (!isfinite(d)) {
      exact++;
      continue;
    }
    if (k % 2 == 0) {
      d = (double)(int64_t)(x % 2000001) / 1000.0 - 1000.0; // short decimals too
    }
    s = write_num(d);
    lf_json *v = parse(s);
    if (v != NULL && v->type == LF_JSON_NUMBER && memcmp(&v->d, &d, sizeof(d)) == 0) {
      exact++;
    } else {
      fprintf(stderr, "round trip failed: %.17g -> %s\n", d, s);
    }
    lf_json_free(v);
    lf_free(s);
  }
  CHECK_EQ_INT(exact, tries);
}

// An embedding program may set a locale with ',' as decimal point; JSON must not notice.
static void test_locale(void)
{
  const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8", NULL};
  const char *got = NULL;
  for (int k = 0; names[k] != NULL && got == NULL; k++) {
    got = setlocale(LC_NUMERIC, names[k]);
  }
  if (got == NULL) {
    skipped++;
    printf("skip: test_locale (no locale with ',' as decimal point installed)\n");
    return;
  }
  lf_json *v = parse("[1.5, 2.25e1]");
  CHECK(v != NULL && v->items[0]->d == 1.5 && v->items[1]->d == 22.5);
  lf_json_free(v);
  char *s = write_num(0.125);
  CHECK_STR(s, "0.125");
  lf_free(s);
  setlocale(LC_NUMERIC, "C");
}

static void test_roundtrips(void)
{
  const char *docs[] = {
    "{\"flow\":\"Train\",\"run\":12,\"steps\":[\"start\",\"fit\",\"end\"],\"params\":{\"alpha\":"
    "0.5,\"n\":10,\"tags\":[],\"opt\":null,\"deep\":{\"a\":[1,[2,[3,{\"b\":true}]]]}}}",
    "[\"\\u0000\\u001f\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\xE2\x82\xAC\\ud83d\\ude00\",-0,0.0,-0.0,"
    "1e-7,123456789012345678,-9223372036854775808,18446744073709551615,false]",
    "\"just a string\"",
    "42",
    "3.0",
    "null",
    "{}",
    "[]",
  };
  for (size_t k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
    check_roundtrip(docs[k], false);
    check_roundtrip(docs[k], true);
  }
  // int vs float survives the round trip.
  lf_json *v = parse("[3, 3.0]");
  lf_dynbuf b;
  lf_dynbuf_init(&b, 256);
  lf_jw w;
  lf_jw_init(&w, &b, false);
  emit(&w, v);
  CHECK_STR(b.data, "[3,3.0]");
  lf_dynbuf_free(&b);
  lf_json_free(v);
}

int main(void)
{
  test_types();
  test_numbers();
  test_strings();
  test_errors();
  test_depth();
  test_writer();
  test_writer_misuse();
  test_numbers_out();
  test_locale();
  test_roundtrips();
  if (skipped > 0) {
    printf("%d skipped\n", skipped);
  }
  return TEST_REPORT();
}
