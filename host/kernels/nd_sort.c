// SPDX-License-Identifier: MIT
// This file contains argsort and top-k of kernels/nd_ops.h: a stable merge sort of indices by
// value, and a bounded heap per row for top-k. Values are compared as doubles (exact for every
// dtype but i64 beyond 2^53, which then orders by the rounded value).
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/nd_ops.h"

typedef struct kv {
  double v;
  int64_t i;
} kv;

// a before b? NaN last; ties by index keep the sort stable.
static inline bool before(const kv *a, const kv *b, bool desc)
{
  bool na = isnan(a->v);
  bool nb = isnan(b->v);
  if (na || nb) {
    return !na && nb ? true : (na && nb ? a->i < b->i : false);
  }
  if (a->v != b->v) {
    return desc ? a->v > b->v : a->v < b->v;
  }
  return a->i < b->i;
}

static void merge_sort(kv *a, kv *tmp, int64_t n, bool desc)
{
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n;
      int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t i = lo;
      int64_t j = mid;
      int64_t k = lo;
      while (i < mid && j < hi) {
        tmp[k++] = before(&a[j], &a[i], desc) ? a[j++] : a[i++];
      }
      while (i < mid) {
        tmp[k++] = a[i++];
      }
      while (j < hi) {
        tmp[k++] = a[j++];
      }
    }
    memcpy(a, tmp, (size_t)n * sizeof(kv));
  }
}

lf_status lf_nd_argsort(lf_nd *out, const lf_nd *a, bool descending, int64_t base, lf_err *err)
{
  out->buf = NULL;
  if (a->ndim != 1) {
    return LF_ERR(err, LF_ERR_USAGE, "argsort needs a 1-D array, got %d dimensions", a->ndim);
  }
  int64_t n = a->shape[0];
  lf_status st = lf_nd_init(out, LF_ND_I64, 1, &n, false, err);
  if (st != LF_OK) {
    return st;
  }
  kv *v = lf_try_malloc((size_t)n * 2 * sizeof(kv));
  if (v == NULL) {
    lf_nd_release(out);
    return LF_ERR(err, LF_ERR_NOMEM, "argsort: out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    v[i].v = lf_nd_get_f(a, a->offset + i * a->strides[0]);
    v[i].i = i;
  }
  merge_sort(v, v + n, n, descending);
  int64_t *o = lf_nd_ptr(out, 0);
  for (int64_t i = 0; i < n; i++) {
    o[i] = v[i].i + base;
  }
  lf_free(v);
  return LF_OK;
}

// Heap of the k best so far with the worst at the root.
static void sift_down(kv *h, int64_t n, int64_t i, bool desc)
{
  for (;;) {
    int64_t l = 2 * i + 1;
    int64_t w = i;
    // "worse" = sorts after: the root must be the element that sorts last.
    if (l < n && before(&h[w], &h[l], desc)) {
      w = l;
    }
    if (l + 1 < n && before(&h[w], &h[l + 1], desc)) {
      w = l + 1;
    }
    if (w == i) {
      return;
    }
    kv t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

static void topk_row(const lf_nd *a, int64_t off, int64_t stride, int64_t n, int64_t k, bool desc,
                     kv *h, int64_t *o, int64_t base)
{
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++) {
    kv x = {lf_nd_get_f(a, off + i * stride), i};
    if (m < k) {
      h[m++] = x;
      if (m == k) {
        for (int64_t j = k / 2; j >= 0; j--) {
          sift_down(h, k, j, desc);
        }
      }
      continue;
    }
    if (before(&x, &h[0], desc)) {
      h[0] = x;
      sift_down(h, k, 0, desc);
    }
  }
  merge_sort(h, h + k, m, desc);
  for (int64_t j = 0; j < m; j++) {
    o[j] = h[j].i + base;
  }
}

lf_status lf_nd_topk(lf_nd *out, const lf_nd *a, int64_t k, bool smallest, int64_t base,
                     lf_err *err)
{
  out->buf = NULL;
  if (a->ndim != 1 && a->ndim != 2) {
    return LF_ERR(err, LF_ERR_USAGE, "topk needs a 1-D or 2-D array, got %d dimensions",
                  a->ndim);
  }
  if (k < 0) {
    return LF_ERR(err, LF_ERR_USAGE, "topk: k must be >= 0, got %lld", (long long)k);
  }
  int64_t rows = a->ndim == 2 ? a->shape[0] : 1;
  int64_t n = a->shape[a->ndim - 1];
  int64_t stride = a->strides[a->ndim - 1];
  if (k > n) {
    k = n;
  }
  int64_t shape[2] = {rows, k};
  lf_status st = a->ndim == 2 ? lf_nd_init(out, LF_ND_I64, 2, shape, false, err)
                              : lf_nd_init(out, LF_ND_I64, 1, &k, false, err);
  if (st != LF_OK) {
    return st;
  }
  kv *h = lf_try_malloc((size_t)(k + 1) * 2 * sizeof(kv));
  if (h == NULL) {
    lf_nd_release(out);
    return LF_ERR(err, LF_ERR_NOMEM, "topk: out of memory");
  }
  int64_t *o = lf_nd_ptr(out, 0);
  for (int64_t r = 0; r < rows && k > 0; r++) {
    int64_t off = a->offset + (a->ndim == 2 ? r * a->strides[0] : 0);
    topk_row(a, off, stride, n, k, !smallest, h, o + r * k, base);
  }
  lf_free(h);
  return LF_OK;
}
