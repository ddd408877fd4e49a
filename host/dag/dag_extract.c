// SPDX-License-Identifier: MIT
// This file contains the static reading of a flow's source: a Lua 5.4 tokenizer (comments,
// every string form, numerals, operators; line numbers counted the way Lua counts them), the
// location of each `<ident>:step("name", ..., function(self) ... end)` call, and, for each
// step, its `---` doc block and its single literal `<self>:next(...)` transition. Nothing
// here runs Lua: `show` and `check` must work without executing step code.
#include "dag/dag.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

#define NONE SIZE_MAX
#define STR_MAX ((size_t)1 << 24) // a decoded string literal we care about is a step name

typedef enum tkind { TK_EOF, TK_NAME, TK_STRING, TK_NUMBER, TK_OP } tkind;

typedef struct tok {
  tkind kind;
  int line;   // line of the token's first character
  size_t off; // the token's bytes in the source (strings include their delimiters)
  size_t len;
} tok;

typedef struct lexer {
  const char *s;
  size_t len;
  size_t pos;
  int line;
  tok *v;
  size_t n;
  size_t cap;
  const char *what; // error, if any
  int err_line;
} lexer;

// One `<ident>:step(` call found in the source.
typedef struct call {
  size_t at;  // token of <ident>
  int line;
  char *name; // the first argument if it is a string literal, else NULL
  size_t fn;  // the `function` token of the last direct argument, or NONE
  bool used;
  bool first_on_line; // no other step call starts earlier on its line
} call;

// One `<self>:next` call inside a step body.
typedef struct nextcall {
  size_t at;    // token of <self>
  size_t open;  // `(`, or the single string / table argument
  size_t close; // last token of the call
  int depth;    // block depth inside the body
} nextcall;

typedef struct ex {
  lf_dag *dag;
  lf_err *err;
  const char *s;
  size_t len;
  tok *t;
  size_t nt; // tokens, the last one TK_EOF
} ex;

static bool tokenize(lexer *lx);
static bool tis(const ex *x, size_t i, const char *text);
static bool is_keyword(const ex *x, size_t i);
static size_t match_end(const ex *x, size_t fn);
static size_t match_bracket(const ex *x, size_t open);
static char *decode_string(const ex *x, size_t i);
static void find_calls(const ex *x, call **out, size_t *nout);
static size_t find_fn_by_lines(const ex *x, int fn_line, int fn_lastline);
static lf_status analyze(ex *x, size_t si, size_t fn);
static char *read_doc(const ex *x, int line);

lf_status lf_dag_extract(lf_dag *dag, lf_err *err)
{
  size_t len = 0;
  const char *src = lf_dag_source(dag, &len);
  lexer lx = {.s = src, .len = len, .line = 1};
  if (!tokenize(&lx)) {
    lf_free(lx.v);
    return LF_ERR(err, LF_ERR_FLOW, "%s:%d: cannot read the flow source: %s", lf_dag_file(dag),
                  lx.err_line, lx.what);
  }
  ex x = {.dag = dag, .err = err, .s = src, .len = len, .t = lx.v, .nt = lx.n};
  call *calls = NULL;
  size_t ncalls = 0;
  find_calls(&x, &calls, &ncalls);

  lf_status st = LF_OK;
  size_t cursor = 0;
  for (size_t si = 0; si < lf_dag_count(dag) && st == LF_OK; si++) {
    lf_dag_step *s = lf_dag_step_mut(dag, si);
    // Match the host's steps to the calls by order and name, confirmed by the function's
    // line: several steps may share a line, and steps declared out of source order (or a
    // call whose line we do not agree on) still find their text.
    size_t found = NONE;
    for (int pass = 0; pass < 4 && found == NONE; pass++) {
      size_t from = (pass % 2 == 0) ? cursor : 0;
      for (size_t k = from; k < ncalls && found == NONE; k++) {
        const call *c = &calls[k];
        if (c->used || c->name == NULL || strcmp(c->name, s->name) != 0) {
          continue;
        }
        bool line_ok = s->fn_line <= 0 || c->fn == NONE || x.t[c->fn].line == s->fn_line;
        if (pass >= 2 || line_ok) {
          found = k;
        }
      }
    }
    size_t fn = NONE;
    int doc_line = s->line;
    bool want_doc = true;
    if (found != NONE) {
      calls[found].used = true;
      cursor = found + 1;
      fn = calls[found].fn;
      doc_line = calls[found].line;
      want_doc = calls[found].first_on_line;
    }
    if (fn == NONE && s->fn_line > 0) {
      // The function is not written inline (flow:step("a", a_fn)): find it by its lines.
      fn = find_fn_by_lines(&x, s->fn_line, s->fn_lastline);
    }
    if (fn == NONE) {
      st = lf_dag_errf(dag, err, s->line, s->name,
                       "cannot find its source; declare it as flow:step(\"%s\", function(self) "
                       "... end) with the name written as a string literal",
                       s->name);
      break;
    }
    if (s->line <= 0 && found != NONE) {
      s->line = calls[found].line;
    }
    lf_free(s->doc);
    s->doc = want_doc && doc_line > 1 ? read_doc(&x, doc_line) : NULL;
    st = analyze(&x, si, fn);
  }

  for (size_t k = 0; k < ncalls; k++) {
    lf_free(calls[k].name);
  }
  lf_free(calls);
  lf_free(lx.v);
  return st;
}

// ---- Tokenizer ----

static bool is_nl(char c)
{
  return c == '\n' || c == '\r';
}

static bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || is_nl(c);
}

static bool is_alpha(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool is_xdigit(char c)
{
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char peek(const lexer *lx, size_t ahead)
{
  return lx->pos + ahead < lx->len ? lx->s[lx->pos + ahead] : '\0';
}

static bool at_end(const lexer *lx)
{
  return lx->pos >= lx->len;
}

// Consumes one line break: \n, \r, \r\n or \n\r, as Lua's inclinenumber does.
static void newline(lexer *lx)
{
  char c = lx->s[lx->pos++];
  if (!at_end(lx) && is_nl(lx->s[lx->pos]) && lx->s[lx->pos] != c) {
    lx->pos++;
  }
  lx->line++;
}

static bool fail(lexer *lx, int line, const char *what)
{
  lx->what = what;
  lx->err_line = line;
  return false;
}

static void push(lexer *lx, tkind kind, int line, size_t off)
{
  if (lx->n == lx->cap) {
    lx->cap = lx->cap != 0 ? lx->cap * 2 : 256;
    lx->v = lf_xrealloc(lx->v, lx->cap * sizeof(*lx->v));
  }
  lx->v[lx->n++] = (tok){.kind = kind, .line = line, .off = off, .len = lx->pos - off};
}

// At '[': the level of a long bracket `[==[` (number of '='), -1 if this is a plain '[',
// -2 for an invalid delimiter like `[=x`. Does not consume.
static int bracket_level(const lexer *lx)
{
  size_t i = 1;
  while (peek(lx, i) == '=') {
    i++;
  }
  if (peek(lx, i) == '[') {
    return (int)(i - 1);
  }
  return i == 1 ? -1 : -2;
}

// At the opening bracket of level `level`: consumes through the matching close.
static bool long_bracket(lexer *lx, int level, const char *what)
{
  int start = lx->line;
  lx->pos += (size_t)level + 2;
  while (!at_end(lx)) {
    char c = lx->s[lx->pos];
    if (c == ']') {
      size_t i = 1;
      while (peek(lx, i) == '=') {
        i++;
      }
      if (i - 1 == (size_t)level && peek(lx, i) == ']') {
        lx->pos += i + 1;
        return true;
      }
      lx->pos += i;
    } else if (is_nl(c)) {
      newline(lx);
    } else {
      lx->pos++;
    }
  }
  return fail(lx, start, what);
}

static bool short_string(lexer *lx)
{
  int start = lx->line;
  char q = lx->s[lx->pos++];
  while (!at_end(lx)) {
    char c = lx->s[lx->pos];
    if (c == q) {
      lx->pos++;
      return true;
    }
    if (is_nl(c)) {
      return fail(lx, start, "unfinished string");
    }
    if (c != '\\') {
      lx->pos++;
      continue;
    }
    lx->pos++; // the backslash; the escaped character follows
    if (at_end(lx)) {
      break;
    }
    c = lx->s[lx->pos];
    if (is_nl(c)) {
      newline(lx);
    } else if (c == 'z') {
      lx->pos++;
      while (!at_end(lx) && is_space(lx->s[lx->pos])) {
        if (is_nl(lx->s[lx->pos])) {
          newline(lx);
        } else {
          lx->pos++;
        }
      }
    } else {
      lx->pos++;
    }
  }
  return fail(lx, start, "unfinished string");
}

static void numeral(lexer *lx)
{
  const char *expo = "Ee";
  if (lx->s[lx->pos] == '0' && (peek(lx, 1) == 'x' || peek(lx, 1) == 'X')) {
    lx->pos += 2;
    expo = "Pp";
  }
  for (;;) {
    char c = peek(lx, 0);
    if (c != '\0' && strchr(expo, c) != NULL) {
      lx->pos++;
      if (peek(lx, 0) == '+' || peek(lx, 0) == '-') {
        lx->pos++;
      }
    } else if (is_xdigit(c) || c == '.' || is_alpha(c)) {
      lx->pos++; // letters touching a numeral are a Lua error; the file already loaded
    } else {
      break;
    }
  }
}

static bool tokenize(lexer *lx)
{
  static const char *const ops3[] = {"..."};
  static const char *const ops2[] = {"..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::"};
  if (lx->len > 0 && lx->s[0] == '#') { // a first line like "#!/usr/bin/env lua" is skipped
    while (!at_end(lx) && !is_nl(lx->s[lx->pos])) {
      lx->pos++;
    }
  }
  while (!at_end(lx)) {
    char c = lx->s[lx->pos];
    size_t off = lx->pos;
    int line = lx->line;
    if (is_nl(c)) {
      newline(lx);
    } else if (c == ' ' || c == '\t' || c == '\v' || c == '\f') {
      lx->pos++;
    } else if (c == '-' && peek(lx, 1) == '-') {
      lx->pos += 2;
      int level = peek(lx, 0) == '[' ? bracket_level(lx) : -1;
      if (level >= 0) {
        if (!long_bracket(lx, level, "unfinished long comment")) {
          return false;
        }
      } else {
        while (!at_end(lx) && !is_nl(lx->s[lx->pos])) {
          lx->pos++;
        }
      }
    } else if (c == '[') {
      int level = bracket_level(lx);
      if (level == -2) {
        return fail(lx, line, "invalid long string delimiter");
      }
      if (level >= 0) {
        if (!long_bracket(lx, level, "unfinished long string")) {
          return false;
        }
        push(lx, TK_STRING, line, off);
      } else {
        lx->pos++;
        push(lx, TK_OP, line, off);
      }
    } else if (c == '"' || c == '\'') {
      if (!short_string(lx)) {
        return false;
      }
      push(lx, TK_STRING, line, off);
    } else if (is_digit(c) || (c == '.' && is_digit(peek(lx, 1)))) {
      numeral(lx);
      push(lx, TK_NUMBER, line, off);
    } else if (is_alpha(c)) {
      while (!at_end(lx) && (is_alpha(lx->s[lx->pos]) || is_digit(lx->s[lx->pos]))) {
        lx->pos++;
      }
      push(lx, TK_NAME, line, off);
    } else {
      size_t n = 1;
      if (lx->len - lx->pos >= 3 && memcmp(lx->s + lx->pos, ops3[0], 3) == 0) {
        n = 3;
      } else if (lx->len - lx->pos >= 2) {
        for (size_t k = 0; k < sizeof(ops2) / sizeof(ops2[0]); k++) {
          if (memcmp(lx->s + lx->pos, ops2[k], 2) == 0) {
            n = 2;
            break;
          }
        }
      }
      lx->pos += n;
      push(lx, TK_OP, line, off);
    }
  }
  lx->pos = lx->len;
  push(lx, TK_EOF, lx->line, lx->len);
  return true;
}

// ---- Token helpers ----

// Token i is the name or operator `text`.
static bool tis(const ex *x, size_t i, const char *text)
{
  const tok *t = &x->t[i];
  size_t n = strlen(text);
  return (t->kind == TK_NAME || t->kind == TK_OP) && t->len == n &&
         memcmp(x->s + t->off, text, n) == 0;
}

static bool tis_any(const ex *x, size_t i, const char *const *texts)
{
  for (; *texts != NULL; texts++) {
    if (tis(x, i, *texts)) {
      return true;
    }
  }
  return false;
}

static bool is_keyword(const ex *x, size_t i)
{
  static const char *const kw[] = {"and",   "break", "do",     "else", "elseif", "end",
                                   "false", "for",   "function", "goto", "if",   "in",
                                   "local", "nil",   "not",    "or",   "repeat", "return",
                                   "then",  "true",  "until",  "while", NULL};
  return x->t[i].kind == TK_NAME && tis_any(x, i, kw);
}

static bool tname_eq(const ex *x, size_t i, const char *name)
{
  return x->t[i].kind == TK_NAME && tis(x, i, name);
}

// +1 for a token that opens a block (`function if do repeat`; `while`/`for` open through
// their `do`), -1 for one that closes it (`end until`), else 0.
static int block_delta(const ex *x, size_t i)
{
  static const char *const open[] = {"function", "if", "do", "repeat", NULL};
  static const char *const close[] = {"end", "until", NULL};
  if (x->t[i].kind != TK_NAME) {
    return 0;
  }
  if (tis_any(x, i, open)) {
    return 1;
  }
  return tis_any(x, i, close) ? -1 : 0;
}

// The `end` closing the `function` at token fn, or NONE.
static size_t match_end(const ex *x, size_t fn)
{
  int depth = 0;
  for (size_t i = fn; i < x->nt; i++) {
    depth += block_delta(x, i);
    if (depth == 0) {
      return i;
    }
  }
  return NONE;
}

// The bracket closing the `(`, `[` or `{` at `open`, or NONE.
static size_t match_bracket(const ex *x, size_t open)
{
  int depth = 0;
  for (size_t i = open; i < x->nt; i++) {
    if (x->t[i].kind != TK_OP) {
      continue;
    }
    if (tis(x, i, "(") || tis(x, i, "[") || tis(x, i, "{")) {
      depth++;
    } else if (tis(x, i, ")") || tis(x, i, "]") || tis(x, i, "}")) {
      if (--depth == 0) {
        return i;
      }
    }
  }
  return NONE;
}

static int hexval(char c)
{
  if (is_digit(c)) {
    return c - '0';
  }
  return (c | 0x20) - 'a' + 10;
}

static void add_utf8(lf_dynbuf *b, unsigned long cp)
{
  char buf[8];
  size_t n = 0;
  if (cp < 0x80) {
    buf[n++] = (char)cp;
  } else {
    // Lua's luaO_utf8esc: fill continuation bytes from the end, up to 6 bytes (2^31).
    unsigned long mfb = 0x3f;
    char tmp[8];
    size_t k = 0;
    do {
      tmp[k++] = (char)(0x80 | (cp & 0x3f));
      cp >>= 6;
      mfb >>= 1;
    } while (cp > mfb);
    tmp[k++] = (char)((~mfb << 1) | cp);
    while (k > 0) {
      buf[n++] = tmp[--k];
    }
  }
  lf_dynbuf_add(b, buf, n);
}

// Appends the decoded body of a short string (between its quotes) to b.
static void decode_short(const char *p, const char *end, lf_dynbuf *b)
{
  while (p < end) {
    if (*p != '\\') {
      lf_dynbuf_addc(b, *p++);
      continue;
    }
    p++;
    char c = *p++;
    static const char from[] = "abfnrtv\\\"'";
    static const char to[] = "\a\b\f\n\r\t\v\\\"'";
    const char *k = strchr(from, c);
    if (c != '\0' && k != NULL) {
      lf_dynbuf_addc(b, to[k - from]);
    } else if (is_nl(c)) {
      if (p < end && is_nl(*p) && *p != c) {
        p++;
      }
      lf_dynbuf_addc(b, '\n');
    } else if (c == 'z') {
      while (p < end && is_space(*p)) {
        p++;
      }
    } else if (c == 'x') {
      int v = 0;
      for (int i = 0; i < 2 && p < end && is_xdigit(*p); i++) {
        v = v * 16 + hexval(*p++);
      }
      lf_dynbuf_addc(b, (char)v);
    } else if (c == 'u') {
      unsigned long cp = 0;
      p++; // '{'
      while (p < end && is_xdigit(*p)) {
        cp = cp * 16 + (unsigned long)hexval(*p++);
        if (cp > 0x7fffffffUL) {
          cp = 0x7fffffffUL;
        }
      }
      p++; // '}'
      add_utf8(b, cp);
    } else if (is_digit(c)) {
      int v = c - '0';
      for (int i = 0; i < 2 && p < end && is_digit(*p); i++) {
        v = v * 10 + (*p++ - '0');
      }
      lf_dynbuf_addc(b, (char)(unsigned char)v);
    } else {
      lf_dynbuf_addc(b, c); // invalid escape: Lua rejected the file already
    }
  }
}

// The value of the string literal at token i (caller frees with lf_free). A value with an
// embedded NUL is cut there; it could never name a step anyway.
static char *decode_string(const ex *x, size_t i)
{
  const tok *t = &x->t[i];
  const char *p = x->s + t->off;
  const char *end = p + t->len;
  lf_dynbuf b;
  lf_dynbuf_init(&b, STR_MAX);
  if (*p == '[') {
    size_t level = 0;
    while (p[1 + level] == '=') {
      level++;
    }
    p += level + 2;
    end -= level + 2;
    if (p < end && is_nl(*p)) { // the first line break right after `[[` is not content
      p += (p + 1 < end && is_nl(p[1]) && p[1] != p[0]) ? 2 : 1;
    }
    while (p < end) {
      if (is_nl(*p)) {
        p += (p + 1 < end && is_nl(p[1]) && p[1] != p[0]) ? 2 : 1;
        lf_dynbuf_addc(&b, '\n');
      } else {
        lf_dynbuf_addc(&b, *p++);
      }
    }
  } else {
    decode_short(p + 1, end - 1, &b);
  }
  char *out = lf_xstrdup(b.data != NULL ? b.data : "");
  lf_dynbuf_free(&b);
  return out;
}

// ---- Finding the step calls ----

static void find_calls(const ex *x, call **out, size_t *nout)
{
  call *v = NULL;
  size_t n = 0;
  size_t cap = 0;
  for (size_t i = 0; i + 4 < x->nt; i++) {
    if (x->t[i].kind != TK_NAME || is_keyword(x, i) || !tis(x, i + 1, ":") ||
        !tname_eq(x, i + 2, "step") || !tis(x, i + 3, "(")) {
      continue;
    }
    call c = {.at = i, .line = x->t[i].line, .fn = NONE, .first_on_line = true};
    if (x->t[i + 4].kind == TK_STRING) {
      c.name = decode_string(x, i + 4);
    }
    // The step function is the last argument written directly in the call: skip nested
    // functions whole, so commas inside them are not taken for argument separators.
    int depth = 1;
    for (size_t j = i + 4; j < x->nt && depth > 0; j++) {
      if (tname_eq(x, j, "function")) {
        if (depth == 1 && tis(x, j - 1, ",")) {
          c.fn = j;
        }
        size_t e = match_end(x, j);
        if (e == NONE) {
          break;
        }
        j = e;
      } else if (tis(x, j, "(") || tis(x, j, "[") || tis(x, j, "{")) {
        depth++;
      } else if (tis(x, j, ")") || tis(x, j, "]") || tis(x, j, "}")) {
        depth--;
      }
    }
    if (n > 0 && v[n - 1].line == c.line) {
      c.first_on_line = false;
    }
    if (n == cap) {
      cap = cap != 0 ? cap * 2 : 32;
      v = lf_xrealloc(v, cap * sizeof(*v));
    }
    v[n++] = c;
  }
  *out = v;
  *nout = n;
}

static size_t find_fn_by_lines(const ex *x, int fn_line, int fn_lastline)
{
  for (size_t i = 0; i < x->nt; i++) {
    if (x->t[i].line > fn_line) {
      break;
    }
    if (x->t[i].line == fn_line && tname_eq(x, i, "function")) {
      size_t e = match_end(x, i);
      if (e != NONE && (fn_lastline <= 0 || x->t[e].line == fn_lastline)) {
        return i;
      }
    }
  }
  return NONE;
}

// ---- Doc comments ----

// [start, end) of line `line` (1-based), line breaks counted as Lua does; false past the end.
static bool line_span(const ex *x, int line, size_t *start, size_t *end)
{
  size_t p = 0;
  for (int l = 1; l < line; l++) {
    while (p < x->len && !is_nl(x->s[p])) {
      p++;
    }
    if (p >= x->len) {
      return false;
    }
    p += (p + 1 < x->len && is_nl(x->s[p + 1]) && x->s[p + 1] != x->s[p]) ? 2 : 1;
  }
  size_t e = p;
  while (e < x->len && !is_nl(x->s[e])) {
    e++;
  }
  *start = p;
  *end = e;
  return true;
}

// The contiguous `---` lines right above `line`, each without `---` and one space, joined
// by '\n'; NULL if there are none.
static char *read_doc(const ex *x, int line)
{
  int first = line;
  size_t a = 0;
  size_t b = 0;
  for (int l = line - 1; l >= 1 && line_span(x, l, &a, &b); l--) {
    while (a < b && (x->s[a] == ' ' || x->s[a] == '\t')) {
      a++;
    }
    if (b - a < 3 || memcmp(x->s + a, "---", 3) != 0) {
      break;
    }
    first = l;
  }
  if (first == line) {
    return NULL;
  }
  lf_dynbuf out;
  lf_dynbuf_init(&out, STR_MAX);
  for (int l = first; l < line; l++) {
    line_span(x, l, &a, &b);
    while (x->s[a] != '-') {
      a++;
    }
    a += 3;
    if (a < b && x->s[a] == ' ') {
      a++;
    }
    while (b > a && is_space(x->s[b - 1]) && !is_nl(x->s[b - 1])) {
      b--;
    }
    if (l != first) {
      lf_dynbuf_addc(&out, '\n');
    }
    lf_dynbuf_add(&out, x->s + a, b - a);
  }
  return lf_dynbuf_take(&out, NULL);
}

// ---- Step bodies ----

static lf_status literal_error(ex *x, const lf_dag_step *s, int line)
{
  return lf_dag_errf(x->dag, x->err, line, s->name,
                     "%s:next(...) arguments must be string literals, like %s:next(\"a\", "
                     "\"b\") or %s:next(\"a\", { foreach = \"items\" }), so the graph can be "
                     "found without running the flow",
                     s->self_name, s->self_name, s->self_name);
}

// Parses `{ foreach = "items" }` spanning tokens [open, close]; sets *var (caller frees).
static lf_status parse_options(ex *x, const lf_dag_step *s, int line, size_t open, size_t close,
                               char **var)
{
  size_t k = open + 1;
  while (k < close) {
    size_t key = k;
    size_t eq = k + 1;
    if (tis(x, k, "[") && x->t[k + 1].kind == TK_STRING && tis(x, k + 2, "]")) {
      key = k + 1;
      eq = k + 3;
    } else if (x->t[k].kind != TK_NAME || is_keyword(x, k)) {
      break;
    }
    if (!tis(x, eq, "=")) {
      break;
    }
    char *name = x->t[key].kind == TK_STRING
                     ? decode_string(x, key)
                     : lf_xmemdupz(x->s + x->t[key].off, x->t[key].len);
    if (strcmp(name, "foreach") != 0) {
      lf_status st = lf_dag_errf(x->dag, x->err, line, s->name,
                                 "unknown %s:next(...) option '%s'; the only option is foreach, "
                                 "as in { foreach = \"items\" }",
                                 s->self_name, name);
      lf_free(name);
      return st;
    }
    lf_free(name);
    size_t val = eq + 1;
    bool sep_ok = val + 1 == close || tis(x, val + 1, ",") || tis(x, val + 1, ";");
    if (x->t[val].kind != TK_STRING || !sep_ok || *var != NULL) {
      return lf_dag_errf(x->dag, x->err, line, s->name,
                         "the foreach option must be one string literal naming a list "
                         "artifact, like { foreach = \"items\" }");
    }
    *var = decode_string(x, val);
    if ((*var)[0] == '\0') {
      return lf_dag_errf(x->dag, x->err, line, s->name,
                         "the foreach option names no artifact; write { foreach = \"items\" }");
    }
    k = val + 1 == close ? close : val + 2;
  }
  if (k != close || *var == NULL) {
    return lf_dag_errf(x->dag, x->err, line, s->name,
                       "the %s:next(...) option table must be written literally as "
                       "{ foreach = \"items\" }",
                       s->self_name);
  }
  return LF_OK;
}

// Reads the arguments of a well-placed next call into the step.
static lf_status parse_args(ex *x, size_t si, const nextcall *c)
{
  lf_dag_step *s = lf_dag_step_mut(x->dag, si);
  int line = x->t[c->at].line;
  char **targets = lf_xmalloc((c->close - c->open + 1) * sizeof(*targets));
  size_t n = 0;
  char *var = NULL;
  lf_status st = LF_OK;
  if (x->t[c->open].kind == TK_STRING) { // self:next "a"
    targets[n++] = decode_string(x, c->open);
  } else if (!tis(x, c->open, "(")) { // self:next { ... }
    st = lf_dag_errf(x->dag, x->err, line, s->name,
                     "%s:next(...) needs at least one target step, like %s:next(\"a\")",
                     s->self_name, s->self_name);
  } else {
    size_t k = c->open + 1;
    while (st == LF_OK && k < c->close) {
      if (x->t[k].kind == TK_STRING && (k + 1 == c->close || tis(x, k + 1, ","))) {
        targets[n++] = decode_string(x, k);
        k++;
      } else if (tis(x, k, "{") && match_bracket(x, k) + 1 == c->close) {
        st = parse_options(x, s, line, k, c->close - 1, &var);
        k = c->close;
      } else {
        st = literal_error(x, s, line);
      }
      if (st == LF_OK && k < c->close) {
        k++; // the comma
        if (k == c->close) {
          st = literal_error(x, s, line);
        }
      }
    }
    if (st == LF_OK && n == 0) {
      st = lf_dag_errf(x->dag, x->err, line, s->name,
                       "%s:next(...) needs at least one target step, like %s:next(\"a\")",
                       s->self_name, s->self_name);
    }
  }
  if (st == LF_OK) {
    lf_dag_set_next(x->dag, si, (const char *const *)targets, n, var, line);
  }
  for (size_t i = 0; i < n; i++) {
    lf_free(targets[i]);
  }
  lf_free(targets);
  lf_free(var);
  return st;
}

// Whether a call starting after token `prev` begins a statement (rather than sitting inside
// an expression). Tokens that end an expression or a block header end the previous statement.
static bool starts_statement(const ex *x, size_t prev)
{
  static const char *const enders[] = {")", "]", "}", ";", "...", "::", NULL};
  static const char *const kw_ok[] = {"then", "do",  "else", "end",    "break",
                                      "nil",  "true", "false", "return", NULL};
  const tok *t = &x->t[prev];
  if (t->kind == TK_STRING || t->kind == TK_NUMBER) {
    return true;
  }
  if (t->kind == TK_NAME) {
    return !is_keyword(x, prev) || tis_any(x, prev, kw_ok);
  }
  return tis_any(x, prev, enders);
}

static lf_status analyze(ex *x, size_t si, size_t fn)
{
  lf_dag_step *s = lf_dag_step_mut(x->dag, si);
  size_t e = match_end(x, fn);
  size_t p = fn + 1;
  while (p < x->nt && !tis(x, p, "(")) { // `function name.a:b(` when found by lines
    p++;
  }
  size_t pclose = p < x->nt ? match_bracket(x, p) : NONE;
  if (e == NONE || pclose == NONE || pclose > e) {
    return lf_dag_errf(x->dag, x->err, s->line, s->name, "cannot read its function's source");
  }
  int count = 0;
  for (size_t k = p + 1; k < pclose; k++) {
    if (x->t[k].kind == TK_NAME) {
      if (count == 0 && s->self_name == NULL) {
        s->self_name = lf_xmemdupz(x->s + x->t[k].off, x->t[k].len);
      }
      count++;
    }
  }
  if (s->self_name == NULL) {
    s->self_name = lf_xstrdup("self");
  }
  if (s->nparams < 0) {
    s->nparams = count;
    s->is_join = count == 2;
  }

  // Collect every <self>:next call in the body with its block depth.
  nextcall calls[2]; // the first two
  size_t ncalls = 0;
  nextcall nested = {0}; // the first one inside a block
  bool has_nested = false;
  int depth = 0;
  for (size_t i = pclose + 1; i < e; i++) {
    depth += block_delta(x, i);
    if (!tname_eq(x, i, s->self_name) || tis(x, i - 1, ".") || tis(x, i - 1, ":") ||
        !tis(x, i + 1, ":") || !tname_eq(x, i + 2, "next")) {
      continue;
    }
    nextcall c = {.at = i, .open = i + 3, .close = i + 3, .depth = depth};
    if (tis(x, i + 3, "(") || tis(x, i + 3, "{")) {
      c.close = match_bracket(x, i + 3);
    } else if (x->t[i + 3].kind != TK_STRING) {
      continue; // not a call
    }
    if (c.close == NONE || c.close >= e) {
      c.close = e - 1;
    }
    if (depth > 0 && !has_nested) {
      nested = c;
      has_nested = true;
    }
    if (ncalls < 2) {
      calls[ncalls] = c;
    }
    ncalls++;
  }

  if (strcmp(s->name, "end") == 0) {
    if (ncalls > 0) {
      return lf_dag_errf(x->dag, x->err, x->t[calls[0].at].line, s->name,
                         "must not call %s:next(...); 'end' is the last step of a flow",
                         s->self_name);
    }
    lf_dag_set_next(x->dag, si, NULL, 0, NULL, s->line);
    return LF_OK;
  }
  if (ncalls == 0) {
    return lf_dag_errf(x->dag, x->err, s->line, s->name,
                       "has no transition; end its function with %s:next(\"<next step>\")",
                       s->self_name);
  }
  if (has_nested) {
    return lf_dag_errf(x->dag, x->err, x->t[nested.at].line, s->name,
                       "%s:next(...) is inside a block (if, loop or nested function); a "
                       "transition cannot depend on run-time values: make it the last "
                       "statement of the step's function, outside any block",
                       s->self_name);
  }
  if (ncalls > 1) {
    return lf_dag_errf(x->dag, x->err, x->t[calls[1].at].line, s->name,
                       "calls %s:next(...) more than once (lines %d and %d); a step has exactly "
                       "one transition, its last statement",
                       s->self_name, x->t[calls[0].at].line, x->t[calls[1].at].line);
  }
  const nextcall *c = &calls[0];
  if (c->at > pclose + 1 && !starts_statement(x, c->at - 1)) {
    return lf_dag_errf(x->dag, x->err, x->t[c->at].line, s->name,
                       "%s:next(...) must be a statement of its own, not part of an expression",
                       s->self_name);
  }
  size_t after = c->close + 1;
  while (after < e && tis(x, after, ";")) {
    after++;
  }
  if (after != e) {
    return lf_dag_errf(x->dag, x->err, x->t[c->at].line, s->name,
                       "%s:next(...) must be the last statement of the step; move the code "
                       "after it (line %d) above it",
                       s->self_name, x->t[after].line);
  }
  return parse_args(x, si, c);
}
