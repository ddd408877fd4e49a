// SPDX-License-Identifier: MIT
// This file contains the vectorizer of kernels/textvec.h. Terms live once in an arena and an
// open-addressing hash table maps them to ids in order of first appearance; each document
// appends (id, count) entries to a growing triple of arrays, with a per-term "last document"
// stamp so counting needs no per-document table. finish() keeps the terms whose document
// frequency is within bounds, orders them bytewise, and remaps and sorts each row.
#include "kernels/textvec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

typedef struct term {
  uint64_t off; // in the arena
  uint32_t len;
  uint32_t hash;
} term;

struct lf_textvec {
  lf_textvec_opts o;
  char *arena;
  uint64_t arena_len;
  uint64_t arena_cap;
  term *terms;      // by id
  int64_t *df;      // by id
  int64_t *last;    // by id: last document counted
  int64_t *slot;    // by id: entry of the current document
  int64_t nterms;
  int64_t capterms;
  uint32_t *table;  // id + 1, 0 = empty
  uint64_t tcap;    // power of two
  // entries of all documents, in document order
  int64_t *indptr;
  int64_t ndocs;
  int64_t capdocs;
  uint32_t *ent_id;
  uint32_t *ent_cnt;
  int64_t nent;
  int64_t capent;
  char *scratch;
  size_t capscratch;
  // after finish
  int64_t *kept;    // column -> term id
  int64_t nkept;
};

static uint8_t is_word[256];
static uint8_t lower[256];

static void init_tables(void)
{
  for (int c = 0; c < 256; c++) {
    is_word[c] = (uint8_t)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c >= 0x80);
    lower[c] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
}

void lf_textvec_opts_default(lf_textvec_opts *o)
{
  o->min_df = 1;
  o->min_df_frac = false;
  o->max_df = 1.0;
  o->max_df_frac = true;
  o->binary = false;
  o->lowercase = true;
  o->dtype = LF_ND_I64;
}

lf_textvec *lf_textvec_new(const lf_textvec_opts *o)
{
  if (lower['A'] != 'a') {
    init_tables(); // idempotent: every thread writes the same bytes
  }
  lf_textvec *v = lf_try_malloc(sizeof(*v));
  if (v == NULL) {
    return NULL;
  }
  memset(v, 0, sizeof(*v));
  v->o = *o;
  v->tcap = 1 << 16;
  v->table = lf_try_malloc(v->tcap * sizeof(uint32_t));
  v->capdocs = 1024;
  v->indptr = lf_try_malloc((size_t)(v->capdocs + 1) * sizeof(int64_t));
  if (v->table == NULL || v->indptr == NULL) {
    lf_textvec_free(v);
    return NULL;
  }
  memset(v->table, 0, v->tcap * sizeof(uint32_t));
  v->indptr[0] = 0;
  return v;
}

void lf_textvec_free(lf_textvec *v)
{
  if (v == NULL) {
    return;
  }
  lf_free(v->arena);
  lf_free(v->terms);
  lf_free(v->df);
  lf_free(v->last);
  lf_free(v->slot);
  lf_free(v->table);
  lf_free(v->indptr);
  lf_free(v->ent_id);
  lf_free(v->ent_cnt);
  lf_free(v->scratch);
  lf_free(v->kept);
  lf_free(v);
}

int64_t lf_textvec_ndocs(const lf_textvec *v)
{
  return v->ndocs;
}

// Grows *p (elements of `size` bytes) to at least `need` elements. false if out of memory.
static bool grow(void **p, int64_t *cap, int64_t need, size_t size)
{
  if (need <= *cap) {
    return true;
  }
  int64_t c = *cap > 0 ? *cap : 16;
  while (c < need) {
    c *= 2;
  }
  void *q = lf_try_realloc(*p, (size_t)c * size);
  if (q == NULL) {
    return false;
  }
  *p = q;
  *cap = c;
  return true;
}

static bool rehash(lf_textvec *v)
{
  uint64_t cap = v->tcap * 2;
  uint32_t *t = lf_try_malloc(cap * sizeof(uint32_t));
  if (t == NULL) {
    return false;
  }
  memset(t, 0, cap * sizeof(uint32_t));
  for (int64_t id = 0; id < v->nterms; id++) {
    uint64_t i = v->terms[id].hash & (cap - 1);
    while (t[i] != 0) {
      i = (i + 1) & (cap - 1);
    }
    t[i] = (uint32_t)id + 1;
  }
  lf_free(v->table);
  v->table = t;
  v->tcap = cap;
  return true;
}

static inline uint32_t hash_bytes(const char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
  }
  return (uint32_t)(h ^ (h >> 32));
}

// The id of term s[0..n), added if new; -1 if out of memory.
static int64_t intern(lf_textvec *v, const char *s, size_t n)
{
  uint32_t h = hash_bytes(s, n);
  uint64_t mask = v->tcap - 1;
  uint64_t i = h & mask;
  for (;;) {
    uint32_t e = v->table[i];
    if (e == 0) {
      break;
    }
    const term *t = &v->terms[e - 1];
    if (t->hash == h && t->len == n && memcmp(v->arena + t->off, s, n) == 0) {
      return e - 1;
    }
    i = (i + 1) & mask;
  }
  int64_t id = v->nterms;
  if (id >= (int64_t)UINT32_MAX - 1 || n > UINT32_MAX) {
    return -1;
  }
  int64_t cap = v->capterms;
  if (!grow((void **)&v->terms, &cap, id + 1, sizeof(term))) {
    return -1;
  }
  cap = v->capterms;
  if (!grow((void **)&v->df, &cap, id + 1, sizeof(int64_t))) {
    return -1;
  }
  cap = v->capterms;
  if (!grow((void **)&v->last, &cap, id + 1, sizeof(int64_t))) {
    return -1;
  }
  cap = v->capterms;
  if (!grow((void **)&v->slot, &cap, id + 1, sizeof(int64_t))) {
    return -1;
  }
  v->capterms = cap;
  int64_t acap = (int64_t)v->arena_cap;
  if (!grow((void **)&v->arena, &acap, (int64_t)(v->arena_len + n), 1)) {
    return -1;
  }
  v->arena_cap = (uint64_t)acap;
  memcpy(v->arena + v->arena_len, s, n);
  v->terms[id] = (term){v->arena_len, (uint32_t)n, h};
  v->arena_len += n;
  v->df[id] = 0;
  v->last[id] = -1;
  v->nterms++;
  v->table[i] = (uint32_t)id + 1;
  if ((uint64_t)v->nterms * 2 > v->tcap && !rehash(v)) {
    return -1;
  }
  return id;
}

lf_status lf_textvec_add(lf_textvec *v, const char *doc, size_t len, lf_err *err)
{
  int64_t d = v->ndocs;
  if (!grow((void **)&v->indptr, &v->capdocs, d + 2, sizeof(int64_t))) {
    return LF_ERR(err, LF_ERR_NOMEM, "vectorize: out of memory");
  }
  if (len > v->capscratch) {
    char *s = lf_try_realloc(v->scratch, len);
    if (s == NULL) {
      return LF_ERR(err, LF_ERR_NOMEM, "vectorize: out of memory");
    }
    v->scratch = s;
    v->capscratch = len;
  }
  const unsigned char *p = (const unsigned char *)doc;
  size_t i = 0;
  while (i < len) {
    while (i < len && !is_word[p[i]]) {
      i++;
    }
    size_t start = i;
    while (i < len && is_word[p[i]]) {
      i++;
    }
    size_t n = i - start;
    if (n < 2) {
      continue;
    }
    const char *tok = doc + start;
    if (v->o.lowercase) {
      for (size_t k = 0; k < n; k++) {
        v->scratch[k] = (char)lower[p[start + k]];
      }
      tok = v->scratch;
    }
    int64_t id = intern(v, tok, n);
    if (id < 0) {
      return LF_ERR(err, LF_ERR_NOMEM, "vectorize: out of memory (vocabulary)");
    }
    if (v->last[id] == d) {
      v->ent_cnt[v->slot[id]]++;
      continue;
    }
    int64_t cap = v->capent;
    if (!grow((void **)&v->ent_id, &cap, v->nent + 1, sizeof(uint32_t)) ||
        !grow((void **)&v->ent_cnt, &v->capent, v->nent + 1, sizeof(uint32_t))) {
      return LF_ERR(err, LF_ERR_NOMEM, "vectorize: out of memory");
    }
    v->last[id] = d;
    v->slot[id] = v->nent;
    v->df[id]++;
    v->ent_id[v->nent] = (uint32_t)id;
    v->ent_cnt[v->nent] = 1;
    v->nent++;
  }
  v->ndocs = d + 1;
  v->indptr[d + 1] = v->nent;
  return LF_OK;
}

lf_status lf_textvec_add_file(lf_textvec *v, const char *path, int64_t max_docs, lf_err *err)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return LF_ERR(err, LF_ERR_IO, "cannot open '%s' (%s)", path, strerror(errno));
  }
  // A large stdio buffer: the file is read once, in order.
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  char *line = NULL;
  size_t cap = 0;
  lf_status st = LF_OK;
  for (int64_t n = 0; max_docs < 0 || n < max_docs; n++) {
    ssize_t got = getline(&line, &cap, f);
    if (got < 0) {
      break;
    }
    size_t len = (size_t)got;
    if (len > 0 && line[len - 1] == '\n') {
      len--;
    }
    st = lf_textvec_add(v, line, len, err);
    if (st != LF_OK) {
      break;
    }
  }
  if (st == LF_OK && ferror(f)) {
    st = LF_ERR(err, LF_ERR_IO, "cannot read '%s' (%s)", path, strerror(errno));
  }
  lf_free(line); // getline's buffer comes from malloc
  fclose(f);
  return st;
}

static _Thread_local const lf_textvec *sort_ctx;

static int cmp_terms(const void *a, const void *b)
{
  const term *x = &sort_ctx->terms[*(const int64_t *)a];
  const term *y = &sort_ctx->terms[*(const int64_t *)b];
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(sort_ctx->arena + x->off, sort_ctx->arena + y->off, n);
  if (c != 0) {
    return c;
  }
  return x->len < y->len ? -1 : x->len > y->len;
}

// Keeps the ids whose document frequency is within the bounds, sorted by term.
static lf_status select_terms(lf_textvec *v, lf_err *err)
{
  double n = (double)v->ndocs;
  double lo = v->o.min_df_frac ? v->o.min_df * n : v->o.min_df;
  double hi = v->o.max_df_frac ? v->o.max_df * n : v->o.max_df;
  if (hi < lo) {
    return LF_ERR(err, LF_ERR_USAGE, "vectorize: max_df corresponds to fewer documents than "
                  "min_df");
  }
  v->kept = lf_try_malloc((size_t)(v->nterms > 0 ? v->nterms : 1) * sizeof(int64_t));
  if (v->kept == NULL) {
    return LF_ERR(err, LF_ERR_NOMEM, "vectorize: out of memory");
  }
  v->nkept = 0;
  for (int64_t id = 0; id < v->nterms; id++) {
    double df = (double)v->df[id];
    if (df >= lo && df <= hi) {
      v->kept[v->nkept++] = id;
    }
  }
  if (v->nkept == 0) {
    return LF_ERR(err, LF_ERR_USAGE, "vectorize: after pruning, no terms remain (try a lower "
                  "min_df or a higher max_df)");
  }
  // qsort has no context argument: a thread-local carries it.
  sort_ctx = v;
  qsort(v->kept, (size_t)v->nkept, sizeof(int64_t), cmp_terms);
  sort_ctx = NULL;
  return LF_OK;
}

static void sort_row(int32_t *col, uint32_t *cnt, int64_t n)
{
  for (int64_t i = 1; i < n; i++) {
    int32_t c = col[i];
    uint32_t k = cnt[i];
    int64_t j = i;
    while (j > 0 && col[j - 1] > c) {
      col[j] = col[j - 1];
      cnt[j] = cnt[j - 1];
      j--;
    }
    col[j] = c;
    cnt[j] = k;
  }
}

lf_status lf_textvec_finish(lf_textvec *v, lf_csr *out, lf_err *err)
{
  lf_csr_clear(out);
  lf_status st = select_terms(v, err);
  if (st != LF_OK) {
    return st;
  }
  // Reuse `slot` as id -> column (-1: dropped).
  for (int64_t id = 0; id < v->nterms; id++) {
    v->slot[id] = -1;
  }
  for (int64_t j = 0; j < v->nkept; j++) {
    v->slot[v->kept[j]] = j;
  }
  int64_t nnz = 0;
  for (int64_t e = 0; e < v->nent; e++) {
    nnz += v->slot[v->ent_id[e]] >= 0;
  }
  st = lf_csr_alloc(out, v->ndocs, v->nkept, nnz, v->o.dtype, err);
  if (st != LF_OK) {
    return st;
  }
  int64_t *ip = lf_nd_ptr(&out->indptr, 0);
  int32_t *ix = lf_nd_ptr(&out->indices, 0);
  int64_t k = 0;
  for (int64_t d = 0; d < v->ndocs; d++) {
    int64_t start = k;
    for (int64_t e = v->indptr[d]; e < v->indptr[d + 1]; e++) {
      int64_t c = v->slot[v->ent_id[e]];
      if (c >= 0) {
        ix[k] = (int32_t)c;
        v->ent_cnt[k] = v->o.binary ? 1 : v->ent_cnt[e]; // k <= e: compacts in place
        k++;
      }
    }
    sort_row(ix + start, v->ent_cnt + start, k - start);
    ip[d + 1] = k;
  }
  for (int64_t e = 0; e < nnz; e++) {
    lf_nd_set_i(&out->data, e, v->ent_cnt[e]);
  }
  return LF_OK;
}

int64_t lf_textvec_nterms(const lf_textvec *v)
{
  return v->nkept;
}

const char *lf_textvec_term(const lf_textvec *v, int64_t j, size_t *len)
{
  const term *t = &v->terms[v->kept[j]];
  *len = t->len;
  return v->arena + t->off;
}
