// SPDX-License-Identifier: MIT
// This file contains the co-occurrence kernel of kernels/cooc.h. It first builds the column
// lists of B (for each word, the spans of B's index array to add for the documents where it
// occurs: the whole document, or the rest of it from the word on; 8 bytes per entry, read in
// order with no dependent loads), then each thread walks its words x in order and, for every document containing x,
// adds the document's words into row x of C (all of them for the dense form, those y >= x,
// the rest of the sorted row, for the upper triangle): all writes of a thread go to one row
// at a time, which stays in cache, and every row is written once. The sparse form collects
// full rows with an accumulator.
#include "kernels/cooc.h"

#include <string.h>

#include "core/alloc.h"
#include "kernels/par.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

typedef struct span {
  uint32_t from, to; // B's indices [from, to)
} span;

typedef struct cols_index {
  int64_t *start; // [cols + 1]: the spans of column x are span[start[x] .. start[x+1])
  span *span;     // [nnz], in document order within a column
  double *cost;   // [cols]: work of row x of C (entries added)
} cols_index;

typedef struct cooc_job {
  const lf_csr *b;
  cols_index ix;
  int64_t *split; // [nthreads + 1] word ranges
  lf_cooc_output output;
  int32_t *dense; // DENSE / UPPER
  int64_t cols;
  // SPARSE: per thread rows
  int32_t **t_idx;
  int32_t **t_val;
  int64_t *t_len;
  int64_t *row_nnz; // [cols]
  bool failed;
} cooc_job;

static void cols_free(cols_index *c)
{
  lf_free(c->start);
  lf_free(c->span);
  lf_free(c->cost);
}

// `full`: the cost of row x is every word of the documents containing x (dense output);
// otherwise only the words from x on (upper triangle and sparse output).
static lf_status cols_build(const lf_csr *b, bool full, cols_index *c, lf_err *err)
{
  int64_t nnz = lf_csr_nnz(b);
  int64_t cols = b->cols;
  c->start = lf_try_malloc((size_t)(cols + 1) * sizeof(int64_t));
  c->span = lf_try_malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(span));
  c->cost = lf_try_malloc((size_t)(cols > 0 ? cols : 1) * sizeof(double));
  if (c->start == NULL || c->span == NULL || c->cost == NULL) {
    cols_free(c);
    return LF_ERR(err, LF_ERR_NOMEM, "cooc: out of memory for the column index");
  }
  const int64_t *ip = lf_csr_indptr(b);
  const int32_t *ix = lf_csr_indices(b);
  memset(c->start, 0, (size_t)(cols + 1) * sizeof(int64_t));
  for (int64_t j = 0; j < cols; j++) {
    c->cost[j] = 0;
  }
  for (int64_t r = 0; r < b->rows; r++) {
    int64_t len = ip[r + 1] - ip[r];
    for (int64_t k = ip[r]; k < ip[r + 1]; k++) {
      c->start[ix[k] + 1]++;
      // + 4: the per-document overhead
      c->cost[ix[k]] += (double)(full ? len : len - (k - ip[r])) + 4;
    }
  }
  for (int64_t j = 0; j < cols; j++) {
    c->start[j + 1] += c->start[j];
  }
  // Fill the spans by a second pass in row order: documents come out in order per column.
  int64_t *next = lf_try_malloc((size_t)(cols > 0 ? cols : 1) * sizeof(int64_t));
  if (next == NULL) {
    cols_free(c);
    return LF_ERR(err, LF_ERR_NOMEM, "cooc: out of memory for the column index");
  }
  memcpy(next, c->start, (size_t)cols * sizeof(int64_t));
  for (int64_t r = 0; r < b->rows; r++) {
    for (int64_t k = ip[r]; k < ip[r + 1]; k++) {
      span *sp = &c->span[next[ix[k]]++];
      sp->from = (uint32_t)(full ? ip[r] : k);
      sp->to = (uint32_t)ip[r + 1];
    }
  }
  lf_free(next);
  return LF_OK;
}

// Splits the words into nt contiguous ranges of about equal cost.
static void balance(const double *cost, int64_t cols, int nt, int64_t *split)
{
  double total = 0;
  for (int64_t j = 0; j < cols; j++) {
    total += cost[j];
  }
  split[0] = 0;
  int t = 1;
  double acc = 0;
  for (int64_t j = 0; j < cols && t < nt; j++) {
    acc += cost[j];
    while (t < nt && acc >= total * t / nt) {
      split[t++] = j + 1;
    }
  }
  while (t <= nt) {
    split[t++] = cols;
  }
}

// The output is zero when it starts (lf_nd_init with zero: for a large matrix, kernel pages
// that nobody has touched). The threads first fault in equal shares of it from the kernel,
// which costs about half of faulting pages in one by one as rows are written.
static void populate_worker(int tid, int nt, void *vctx)
{
  cooc_job *J = vctx;
  size_t total = (size_t)(J->cols * J->cols) * sizeof(int32_t);
  size_t share = (total / (size_t)nt + 4095) & ~(size_t)4095;
  size_t from = share * (size_t)tid;
  if (from < total) {
    lf_pages_populate((char *)J->dense + from, total - from < share ? total - from : share);
  }
}

// Adds row x of C into `row`: the words of every span of x (whole documents for the dense
// form, the rest of each document from x on for the upper triangle). The words of the span
// after next are prefetched: spans are documents all over B's index array.
static inline void add_row(const cooc_job *J, int64_t x, int32_t *restrict row)
{
  const int32_t *ix = lf_csr_indices(J->b);
  const span *sp = J->ix.span + J->ix.start[x];
  const span *end = J->ix.span + J->ix.start[x + 1];
  for (; sp < end; sp++) {
    if (sp + 2 < end) {
      __builtin_prefetch(ix + sp[2].from);
    }
    const int32_t *w = ix + sp->from;
    const int32_t *e = ix + sp->to;
    for (; w + 4 <= e; w += 4) {
      int32_t a0 = w[0], a1 = w[1], a2 = w[2], a3 = w[3];
      row[a0]++;
      row[a1]++;
      row[a2]++;
      row[a3]++;
    }
    for (; w < e; w++) {
      row[*w]++;
    }
  }
}

// Dense output is computed row by row in full, about twice the additions of the upper
// triangle but each row written once, in cache: cheaper than mirroring the triangle
// through memory afterwards.
static void dense_worker(int tid, int nt, void *vctx)
{
  (void)nt;
  cooc_job *J = vctx;
  for (int64_t x = J->split[tid]; x < J->split[tid + 1]; x++) {
    add_row(J, x, J->dense + x * J->cols);
  }
}

static void sparse_worker(int tid, int nt, void *vctx)
{
  (void)nt;
  cooc_job *J = vctx;
  const int32_t *ix = lf_csr_indices(J->b);
  int64_t n = J->cols;
  int32_t *acc = lf_try_malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
  int32_t *touched = lf_try_malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
  int64_t cap = 1024;
  int64_t len = 0;
  int32_t *oi = lf_try_malloc((size_t)cap * sizeof(int32_t));
  int32_t *ov = lf_try_malloc((size_t)cap * sizeof(int32_t));
  if (acc == NULL || touched == NULL || oi == NULL || ov == NULL) {
    goto fail;
  }
  memset(acc, 0, (size_t)n * sizeof(int32_t));
  for (int64_t x = J->split[tid]; x < J->split[tid + 1]; x++) {
    int64_t nt_ = 0;
    // The full row: every word of every document containing x.
    for (int64_t p = J->ix.start[x]; p < J->ix.start[x + 1]; p++) {
      const span *sp = &J->ix.span[p];
      for (uint32_t q = sp->from; q < sp->to; q++) {
        int32_t y = ix[q];
        if (acc[y]++ == 0) {
          touched[nt_++] = y;
        }
      }
    }
    if (len + nt_ > cap) {
      while (len + nt_ > cap) {
        cap *= 2;
      }
      int32_t *a = lf_try_realloc(oi, (size_t)cap * sizeof(int32_t));
      if (a == NULL) {
        goto fail;
      }
      oi = a;
      int32_t *v = lf_try_realloc(ov, (size_t)cap * sizeof(int32_t));
      if (v == NULL) {
        goto fail;
      }
      ov = v;
    }
    // Columns in order: scan the accumulator when the row is dense, else sort the list.
    int64_t w = len;
    if (nt_ * 16 > n) {
      for (int32_t y = 0; y < n; y++) {
        if (acc[y] != 0) {
          oi[w] = y;
          ov[w++] = acc[y];
          acc[y] = 0;
        }
      }
    } else {
      for (int64_t i = 1; i < nt_; i++) {
        int32_t v = touched[i];
        int64_t j = i;
        while (j > 0 && touched[j - 1] > v) {
          touched[j] = touched[j - 1];
          j--;
        }
        touched[j] = v;
      }
      for (int64_t i = 0; i < nt_; i++) {
        oi[w] = touched[i];
        ov[w++] = acc[touched[i]];
        acc[touched[i]] = 0;
      }
    }
    J->row_nnz[x] = w - len;
    len = w;
  }
  lf_free(acc);
  lf_free(touched);
  J->t_idx[tid] = oi;
  J->t_val[tid] = ov;
  J->t_len[tid] = len;
  return;
fail:
  lf_free(acc);
  lf_free(touched);
  lf_free(oi);
  lf_free(ov);
  J->t_idx[tid] = NULL;
  J->t_val[tid] = NULL;
  J->t_len[tid] = 0;
}

static lf_status sparse_assemble(cooc_job *J, int nt, lf_csr *out, lf_err *err)
{
  int64_t nnz = 0;
  for (int t = 0; t < nt; t++) {
    nnz += J->t_len[t];
  }
  lf_status st = lf_csr_alloc(out, J->cols, J->cols, nnz, LF_ND_I32, err);
  if (st != LF_OK) {
    return st;
  }
  int64_t *op = lf_nd_ptr(&out->indptr, 0);
  for (int64_t x = 0; x < J->cols; x++) {
    op[x + 1] = op[x] + J->row_nnz[x];
  }
  int64_t at = 0;
  for (int t = 0; t < nt; t++) {
    memcpy((int32_t *)lf_nd_ptr(&out->indices, 0) + at, J->t_idx[t],
           (size_t)J->t_len[t] * sizeof(int32_t));
    memcpy((int32_t *)lf_nd_ptr(&out->data, 0) + at, J->t_val[t],
           (size_t)J->t_len[t] * sizeof(int32_t));
    at += J->t_len[t];
  }
  return LF_OK;
}

lf_status lf_cooc(const lf_csr *b, lf_cooc_output output, int nthreads, lf_nd *dense,
                  lf_csr *sparse, lf_err *err)
{
  if (lf_csr_nnz(b) > (int64_t)UINT32_MAX || b->rows > (int64_t)INT32_MAX) {
    return LF_ERR(err, LF_ERR_USAGE, "cooc: the matrix is too large (at most 2^32 - 1 entries "
                  "and 2^31 - 1 rows)");
  }
  int nt = nthreads < 1 ? 1 : (nthreads > 256 ? 256 : nthreads);
  if (b->cols < nt) {
    nt = b->cols > 0 ? (int)b->cols : 1;
  }
  cooc_job J;
  memset(&J, 0, sizeof(J));
  J.b = b;
  J.output = output;
  J.cols = b->cols;
  lf_status st = cols_build(b, output != LF_COOC_UPPER, &J.ix, err);
  if (st != LF_OK) {
    return st;
  }
  int64_t split[257];
  balance(J.ix.cost, b->cols, nt, split);
  J.split = split;
  if (output != LF_COOC_SPARSE) {
    int64_t shape[2] = {b->cols, b->cols};
    st = lf_nd_init(dense, LF_ND_I32, 2, shape, true, err);
    if (st == LF_OK) {
      J.dense = lf_nd_ptr(dense, 0);
      if (dense->buf->zeroed) {
        lf_par_run(nt, populate_worker, &J);
      }
      lf_par_run(nt, dense_worker, &J);
    }
    cols_free(&J.ix);
    return st;
  }
  int32_t *t_idx[256];
  int32_t *t_val[256];
  int64_t t_len[256];
  J.t_idx = t_idx;
  J.t_val = t_val;
  J.t_len = t_len;
  J.row_nnz = lf_try_malloc((size_t)(b->cols > 0 ? b->cols : 1) * sizeof(int64_t));
  if (J.row_nnz == NULL) {
    cols_free(&J.ix);
    return LF_ERR(err, LF_ERR_NOMEM, "cooc: out of memory");
  }
  lf_par_run(nt, sparse_worker, &J);
  for (int t = 0; t < nt; t++) {
    J.failed = J.failed || t_idx[t] == NULL;
  }
  if (J.failed) {
    st = LF_ERR(err, LF_ERR_NOMEM, "cooc: out of memory for the sparse result");
  } else {
    st = sparse_assemble(&J, nt, sparse, err);
  }
  for (int t = 0; t < nt; t++) {
    lf_free(t_idx[t]);
    lf_free(t_val[t]);
  }
  lf_free(J.row_nnz);
  cols_free(&J.ix);
  return st;
}
