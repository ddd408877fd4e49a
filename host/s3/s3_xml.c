// SPDX-License-Identifier: MIT
// This file contains the XML reader for S3 responses and the parsers of the documents the
// client reads: errors, ListObjectsV2 pages and InitiateMultipartUpload results.
#include "s3/s3_xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_creds.h"
#include "core/alloc.h"
#include "core/dynbuf.h"

typedef struct xml_node {
  size_t name;  // offset into the arena
  size_t text;  // offset into the arena (each node's text is written when it closes)
  size_t text_len;
  int parent;
  int first_child;
  int next_sibling;
  int last_child;
} xml_node;

struct lf_s3_xml {
  xml_node *nodes;
  size_t n, cap;
  lf_dynbuf arena; // names and texts, each NUL-terminated
};

typedef struct parser {
  const char *s;
  size_t len;
  size_t pos;
  lf_s3_xml *x;
  int stack[LF_S3_XML_MAX_DEPTH];
  lf_dynbuf texts[LF_S3_XML_MAX_DEPTH]; // the open elements' character data
  int depth;
  bool seen_root;
  lf_err *err;
} parser;

static lf_status fail(parser *p, const char *what);
static lf_status parse_doc(parser *p);

lf_s3_xml *lf_s3_xml_parse(const char *text, size_t len, lf_err *err)
{
  parser p;
  memset(&p, 0, sizeof(p));
  p.s = text;
  p.len = len;
  p.err = err;
  p.x = lf_xcalloc(1, sizeof(*p.x));
  // The arena holds at most the input's bytes plus a NUL per name and text.
  lf_dynbuf_init(&p.x->arena, len * 2 + 64);
  for (int i = 0; i < LF_S3_XML_MAX_DEPTH; i++) {
    lf_dynbuf_init(&p.texts[i], len + 1);
  }
  lf_status st = parse_doc(&p);
  for (int i = 0; i < LF_S3_XML_MAX_DEPTH; i++) {
    lf_dynbuf_free(&p.texts[i]);
  }
  if (st != LF_OK) {
    lf_s3_xml_free(p.x);
    return NULL;
  }
  return p.x;
}

void lf_s3_xml_free(lf_s3_xml *x)
{
  if (x == NULL) {
    return;
  }
  lf_free(x->nodes);
  lf_dynbuf_free(&x->arena);
  lf_free(x);
}

size_t lf_s3_xml_count(const lf_s3_xml *x)
{
  return x->n;
}

const char *lf_s3_xml_name(const lf_s3_xml *x, int node)
{
  return x->arena.data + x->nodes[node].name;
}

const char *lf_s3_xml_text(const lf_s3_xml *x, int node, size_t *len)
{
  if (len != NULL) {
    *len = x->nodes[node].text_len;
  }
  return x->arena.data + x->nodes[node].text;
}

int lf_s3_xml_child(const lf_s3_xml *x, int parent, const char *name, int after)
{
  if (parent < 0 || (size_t)parent >= x->n) {
    return -1;
  }
  int c = after < 0 ? x->nodes[parent].first_child : x->nodes[after].next_sibling;
  for (; c >= 0; c = x->nodes[c].next_sibling) {
    if (strcmp(lf_s3_xml_name(x, c), name) == 0) {
      return c;
    }
  }
  return -1;
}

const char *lf_s3_xml_child_text(const lf_s3_xml *x, int parent, const char *name)
{
  int c = lf_s3_xml_child(x, parent, name, -1);
  return c >= 0 ? lf_s3_xml_text(x, c, NULL) : NULL;
}

// --- the reader -------------------------------------------------------------------------

static lf_status fail(parser *p, const char *what)
{
  return LF_ERR(p->err, LF_ERR_CORRUPT, "invalid XML at byte %zu: %s", p->pos, what);
}

static bool starts(const parser *p, const char *lit)
{
  size_t n = strlen(lit);
  return p->len - p->pos >= n && memcmp(p->s + p->pos, lit, n) == 0;
}

static bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_start(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static bool is_name_char(unsigned char c)
{
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

// Skips to just past `end`; fails if it never comes.
static lf_status skip_past(parser *p, const char *end, const char *what)
{
  size_t n = strlen(end);
  for (size_t i = p->pos; i + n <= p->len; i++) {
    if (memcmp(p->s + i, end, n) == 0) {
      p->pos = i + n;
      return LF_OK;
    }
  }
  return fail(p, what);
}

static void put_utf8(lf_dynbuf *b, uint32_t cp)
{
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  lf_dynbuf_add(b, u, n);
}

// Decodes one entity starting at '&' into `out`.
static lf_status entity(parser *p, lf_dynbuf *out)
{
  static const struct {
    const char *name;
    char c;
  } named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
  for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
    if (starts(p, named[i].name)) {
      p->pos += strlen(named[i].name);
      lf_dynbuf_addc(out, named[i].c);
      return LF_OK;
    }
  }
  if (!starts(p, "&#")) {
    return fail(p, "unknown entity");
  }
  size_t i = p->pos + 2;
  bool hex = i < p->len && p->s[i] == 'x';
  i += hex;
  uint32_t cp = 0;
  size_t digits = 0;
  for (; i < p->len && p->s[i] != ';' && digits < 8; i++, digits++) {
    char c = p->s[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = (uint32_t)(c - '0');
    } else if (hex && c >= 'a' && c <= 'f') {
      d = (uint32_t)(c - 'a' + 10);
    } else if (hex && c >= 'A' && c <= 'F') {
      d = (uint32_t)(c - 'A' + 10);
    } else {
      return fail(p, "bad character reference");
    }
    cp = cp * (hex ? 16 : 10) + d;
  }
  if (i >= p->len || p->s[i] != ';' || digits == 0 || cp == 0 || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return fail(p, "bad character reference");
  }
  p->pos = i + 1;
  put_utf8(out, cp);
  return LF_OK;
}

// Character data up to the next '<' into the open element's text.
static lf_status chars(parser *p)
{
  lf_dynbuf *t = p->depth > 0 ? &p->texts[p->depth - 1] : NULL;
  while (p->pos < p->len && p->s[p->pos] != '<') {
    char c = p->s[p->pos];
    if (t == NULL) {
      if (!is_space(c)) {
        return fail(p, "text outside the root element");
      }
      p->pos++;
      continue;
    }
    if (c == '&') {
      lf_status st = entity(p, t);
      if (st != LF_OK) {
        return st;
      }
      continue;
    }
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] != '<' && p->s[p->pos] != '&') {
      p->pos++;
    }
    lf_dynbuf_add(t, p->s + start, p->pos - start);
  }
  return LF_OK;
}

static size_t arena_add(lf_s3_xml *x, const char *s, size_t n)
{
  size_t off = x->arena.len;
  lf_dynbuf_add(&x->arena, s, n);
  lf_dynbuf_addc(&x->arena, '\0');
  return off;
}

// Reads a name at the current position; the local part (after the last ':') is returned.
static bool read_name(parser *p, const char **name, size_t *n)
{
  size_t start = p->pos;
  if (p->pos >= p->len || !is_name_start((unsigned char)p->s[p->pos])) {
    return false;
  }
  while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos])) {
    p->pos++;
  }
  const char *s = p->s + start;
  size_t len = p->pos - start;
  const char *colon = memchr(s, ':', len);
  while (colon != NULL) {
    len -= (size_t)(colon + 1 - s);
    s = colon + 1;
    colon = memchr(s, ':', len);
  }
  *name = s;
  *n = len;
  return len > 0;
}

static lf_status skip_attributes(parser *p)
{
  for (;;) {
    while (p->pos < p->len && is_space(p->s[p->pos])) {
      p->pos++;
    }
    if (p->pos >= p->len) {
      return fail(p, "unterminated start tag");
    }
    char c = p->s[p->pos];
    if (c == '>' || c == '/') {
      return LF_OK;
    }
    const char *name;
    size_t n;
    if (!read_name(p, &name, &n)) {
      return fail(p, "bad attribute name");
    }
    while (p->pos < p->len && is_space(p->s[p->pos])) {
      p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] != '=') {
      return fail(p, "expected '=' after an attribute name");
    }
    p->pos++;
    while (p->pos < p->len && is_space(p->s[p->pos])) {
      p->pos++;
    }
    if (p->pos >= p->len || (p->s[p->pos] != '"' && p->s[p->pos] != '\'')) {
      return fail(p, "expected a quoted attribute value");
    }
    const char *end = memchr(p->s + p->pos + 1, p->s[p->pos], p->len - p->pos - 1);
    if (end == NULL || memchr(p->s + p->pos + 1, '<', (size_t)(end - p->s) - p->pos - 1)) {
      return fail(p, "unterminated attribute value");
    }
    p->pos = (size_t)(end - p->s) + 1;
  }
}

static lf_status open_element(parser *p)
{
  p->pos++; // '<'
  const char *name;
  size_t n;
  if (!read_name(p, &name, &n)) {
    return fail(p, "bad element name");
  }
  if (p->depth == 0 && p->seen_root) {
    return fail(p, "more than one root element");
  }
  if (p->depth >= LF_S3_XML_MAX_DEPTH) {
    return fail(p, "elements nested too deeply");
  }
  lf_s3_xml *x = p->x;
  if (x->n >= LF_S3_XML_MAX_NODES) {
    return fail(p, "too many elements");
  }
  lf_status st = skip_attributes(p);
  if (st != LF_OK) {
    return st;
  }
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 64;
    x->nodes = lf_xrealloc(x->nodes, x->cap * sizeof(*x->nodes));
  }
  int idx = (int)x->n++;
  int parent = p->depth > 0 ? p->stack[p->depth - 1] : -1;
  x->nodes[idx] = (xml_node){.name = arena_add(x, name, n),
                             .parent = parent,
                             .first_child = -1,
                             .next_sibling = -1,
                             .last_child = -1};
  if (parent >= 0) {
    if (x->nodes[parent].last_child >= 0) {
      x->nodes[x->nodes[parent].last_child].next_sibling = idx;
    } else {
      x->nodes[parent].first_child = idx;
    }
    x->nodes[parent].last_child = idx;
  }
  p->seen_root = true;
  p->stack[p->depth] = idx;
  lf_dynbuf_reset(&p->texts[p->depth]);
  p->depth++;
  if (p->s[p->pos] == '/') {
    if (p->pos + 1 >= p->len || p->s[p->pos + 1] != '>') {
      return fail(p, "expected '>' after '/'");
    }
    p->pos += 2;
    p->depth--;
    x->nodes[idx].text = arena_add(x, "", 0);
    return LF_OK;
  }
  p->pos++; // '>'
  return LF_OK;
}

static lf_status close_element(parser *p)
{
  p->pos += 2; // "</"
  const char *name;
  size_t n;
  if (!read_name(p, &name, &n)) {
    return fail(p, "bad end tag");
  }
  while (p->pos < p->len && is_space(p->s[p->pos])) {
    p->pos++;
  }
  if (p->pos >= p->len || p->s[p->pos] != '>') {
    return fail(p, "unterminated end tag");
  }
  if (p->depth == 0) {
    return fail(p, "end tag without a start tag");
  }
  lf_s3_xml *x = p->x;
  int idx = p->stack[p->depth - 1];
  const char *open = lf_s3_xml_name(x, idx);
  if (strlen(open) != n || memcmp(open, name, n) != 0) {
    return fail(p, "mismatched end tag");
  }
  p->pos++;
  lf_dynbuf *t = &p->texts[p->depth - 1];
  x->nodes[idx].text = arena_add(x, t->data != NULL ? t->data : "", t->len);
  x->nodes[idx].text_len = t->len;
  p->depth--;
  return LF_OK;
}

static lf_status parse_doc(parser *p)
{
  if (starts(p, "\xEF\xBB\xBF")) {
    p->pos += 3;
  }
  lf_status st = LF_OK;
  while (st == LF_OK && p->pos < p->len) {
    if (p->s[p->pos] != '<') {
      st = chars(p);
    } else if (starts(p, "<?")) {
      st = skip_past(p, "?>", "unterminated processing instruction");
    } else if (starts(p, "<!--")) {
      st = skip_past(p, "-->", "unterminated comment");
    } else if (starts(p, "<![CDATA[")) {
      if (p->depth == 0) {
        return fail(p, "CDATA outside the root element");
      }
      size_t start = p->pos + 9;
      p->pos = start;
      st = skip_past(p, "]]>", "unterminated CDATA section");
      if (st == LF_OK) {
        lf_dynbuf_add(&p->texts[p->depth - 1], p->s + start, p->pos - 3 - start);
      }
    } else if (starts(p, "<!")) {
      return fail(p, "DOCTYPE and other declarations are not allowed");
    } else if (starts(p, "</")) {
      st = close_element(p);
    } else {
      st = open_element(p);
    }
  }
  if (st != LF_OK) {
    return st;
  }
  if (p->depth > 0) {
    return fail(p, "unexpected end of document inside an element");
  }
  if (!p->seen_root) {
    return fail(p, "no root element");
  }
  return LF_OK;
}

// --- S3 documents -----------------------------------------------------------------------

static void copy_text(char *dst, size_t size, const char *src)
{
  snprintf(dst, size, "%s", src != NULL ? src : "");
}

bool lf_s3_parse_error(const char *body, size_t len, lf_s3_error_doc *out)
{
  memset(out, 0, sizeof(*out));
  if (body == NULL || len == 0) {
    return false;
  }
  lf_err err = {0};
  lf_s3_xml *x = lf_s3_xml_parse(body, len, &err);
  if (x == NULL) {
    return false;
  }
  bool ok = strcmp(lf_s3_xml_name(x, 0), "Error") == 0;
  if (ok) {
    copy_text(out->code, sizeof(out->code), lf_s3_xml_child_text(x, 0, "Code"));
    copy_text(out->message, sizeof(out->message), lf_s3_xml_child_text(x, 0, "Message"));
    copy_text(out->region, sizeof(out->region), lf_s3_xml_child_text(x, 0, "Region"));
    copy_text(out->endpoint, sizeof(out->endpoint), lf_s3_xml_child_text(x, 0, "Endpoint"));
  }
  lf_s3_xml_free(x);
  return ok;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Percent-decodes a key of an encoding-type=url listing ('+' is a space there).
static char *url_decode(const char *s, size_t n, bool *ok)
{
  char *out = lf_xmalloc(n + 1);
  size_t o = 0;
  *ok = true;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        *ok = false;
        break;
      }
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  out[o] = '\0';
  return out;
}

static bool parse_u64(const char *s, uint64_t *out)
{
  if (s == NULL || *s == '\0') {
    return false;
  }
  uint64_t v = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) {
      return false;
    }
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return true;
}

static lf_s3_entry *list_push(lf_s3_list *l)
{
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 256;
    l->items = lf_xrealloc(l->items, l->cap * sizeof(*l->items));
  }
  lf_s3_entry *e = &l->items[l->n++];
  memset(e, 0, sizeof(*e));
  return e;
}

static lf_status list_key(const lf_s3_xml *x, int node, const char *field, bool url_encoded,
                          char **out, lf_err *err)
{
  int k = lf_s3_xml_child(x, node, field, -1);
  if (k < 0) {
    return LF_ERR(err, LF_ERR_CORRUPT, "a listing entry has no <%s>", field);
  }
  size_t n;
  const char *t = lf_s3_xml_text(x, k, &n);
  bool ok = true;
  *out = url_encoded ? url_decode(t, n, &ok) : lf_xmemdupz(t, n);
  if (!ok) {
    lf_free(*out);
    *out = NULL;
    return LF_ERR(err, LF_ERR_CORRUPT, "a listing has a badly encoded <%s>", field);
  }
  return LF_OK;
}

static int cmp_entry(const void *a, const void *b)
{
  return strcmp(((const lf_s3_entry *)a)->key, ((const lf_s3_entry *)b)->key);
}

lf_status lf_s3_parse_list(const char *body, size_t len, bool url_encoded, lf_s3_list *out,
                           char **next_token, lf_err *err)
{
  *next_token = NULL;
  size_t first = out->n;
  lf_s3_xml *x = lf_s3_xml_parse(body, len, err);
  if (x == NULL) {
    return LF_ERR_CORRUPT;
  }
  lf_status st = LF_OK;
  if (strcmp(lf_s3_xml_name(x, 0), "ListBucketResult") != 0) {
    st = LF_ERR(err, LF_ERR_CORRUPT, "expected a ListBucketResult, got <%s>",
                lf_s3_xml_name(x, 0));
  }
  // Objects and prefixes are merged in document order, which is S3's key order for each.
  for (int c = x->nodes[0].first_child; st == LF_OK && c >= 0; c = x->nodes[c].next_sibling) {
    const char *name = lf_s3_xml_name(x, c);
    bool is_obj = strcmp(name, "Contents") == 0;
    bool is_prefix = strcmp(name, "CommonPrefixes") == 0;
    if (!is_obj && !is_prefix) {
      continue;
    }
    char *key = NULL;
    st = list_key(x, c, is_obj ? "Key" : "Prefix", url_encoded, &key, err);
    if (st != LF_OK) {
      break;
    }
    lf_s3_entry *e = list_push(out);
    e->key = key;
    e->is_prefix = is_prefix;
    if (is_obj) {
      const char *size = lf_s3_xml_child_text(x, c, "Size");
      const char *etag = lf_s3_xml_child_text(x, c, "ETag");
      const char *lm = lf_s3_xml_child_text(x, c, "LastModified");
      if (!parse_u64(size, &e->size)) {
        st = LF_ERR(err, LF_ERR_CORRUPT, "listing entry '%s' has a bad <Size>", key);
      }
      e->etag = lf_xstrdup(etag != NULL ? etag : "");
      if (lm != NULL && !lf_aws_parse_iso8601(lm, &e->last_modified)) {
        e->last_modified = 0;
      }
    }
  }
  // A page holds its objects, then its prefixes; S3 pages through both in one key order,
  // so sorting each page gives the order of the whole listing.
  if (out->n > first) {
    qsort(out->items + first, out->n - first, sizeof(*out->items), cmp_entry);
  }
  const char *trunc = lf_s3_xml_child_text(x, 0, "IsTruncated");
  if (st == LF_OK && trunc != NULL && strcmp(trunc, "true") == 0) {
    const char *tok = lf_s3_xml_child_text(x, 0, "NextContinuationToken");
    if (tok == NULL || tok[0] == '\0') {
      st = LF_ERR(err, LF_ERR_CORRUPT, "a truncated listing has no NextContinuationToken");
    } else {
      *next_token = lf_xstrdup(tok);
    }
  }
  lf_s3_xml_free(x);
  return st;
}

lf_status lf_s3_parse_upload_id(const char *body, size_t len, char **id, lf_err *err)
{
  *id = NULL;
  lf_s3_xml *x = lf_s3_xml_parse(body, len, err);
  if (x == NULL) {
    return LF_ERR_CORRUPT;
  }
  const char *t = strcmp(lf_s3_xml_name(x, 0), "InitiateMultipartUploadResult") == 0
                    ? lf_s3_xml_child_text(x, 0, "UploadId")
                    : NULL;
  lf_status st = LF_OK;
  if (t == NULL || t[0] == '\0') {
    st = LF_ERR(err, LF_ERR_CORRUPT, "the response to CreateMultipartUpload has no UploadId");
  } else {
    *id = lf_xstrdup(t);
  }
  lf_s3_xml_free(x);
  return st;
}
