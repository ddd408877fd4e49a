// SPDX-License-Identifier: MIT
// This file contains the matrix product and dot product of kernels/nd_ops.h. The float
// product is cache-blocked (panels of B stay in L2 while rows of A stream past) and splits the
// rows of the result over threads; each thread writes only its own rows.
#include <string.h>

#include "kernels/nd_ops.h"
#include "kernels/par.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

enum { KB = 256, NB = 512 };

typedef struct mm_ctx {
  const void *a;
  const void *b;
  void *c;
  int64_t m;
  int64_t k;
  int64_t n;
} mm_ctx;

// One blocked kernel per float type: rows [lo, hi) of C = A x B, A m x k, B k x n, all
// contiguous; C's rows are cleared first.
#define DEFINE_MM(name, T)                                                                   \
  static void name(int tid, int nt, void *vctx)                                              \
  {                                                                                          \
    mm_ctx *x = vctx;                                                                        \
    long long lo;                                                                            \
    long long hi;                                                                            \
    lf_par_range(x->m, nt, tid, &lo, &hi);                                                   \
    const T *A = x->a;                                                                       \
    const T *B = x->b;                                                                       \
    T *C = x->c;                                                                             \
    for (int64_t i = lo; i < hi; i++) {                                                      \
      memset(C + i * x->n, 0, (size_t)x->n * sizeof(T));                                     \
    }                                                                                        \
    for (int64_t k0 = 0; k0 < x->k; k0 += KB) {                                              \
      int64_t k1 = k0 + KB < x->k ? k0 + KB : x->k;                                          \
      for (int64_t j0 = 0; j0 < x->n; j0 += NB) {                                            \
        int64_t j1 = j0 + NB < x->n ? j0 + NB : x->n;                                        \
        for (int64_t i = lo; i < hi; i++) {                                                  \
          T *c = C + i * x->n;                                                               \
          const T *a = A + i * x->k;                                                         \
          for (int64_t kk = k0; kk < k1; kk++) {                                             \
            T v = a[kk];                                                                     \
            const T *b = B + kk * x->n;                                                      \
            for (int64_t j = j0; j < j1; j++) {                                              \
              c[j] += v * b[j];                                                              \
            }                                                                                \
          }                                                                                  \
        }                                                                                    \
      }                                                                                      \
    }                                                                                        \
  }

DEFINE_MM(mm_f64, double)
DEFINE_MM(mm_f32, float)

static void mm_i64(const int64_t *A, const int64_t *B, int64_t *C, int64_t m, int64_t k,
                   int64_t n)
{
  memset(C, 0, (size_t)(m * n) * sizeof(int64_t));
  for (int64_t i = 0; i < m; i++) {
    for (int64_t kk = 0; kk < k; kk++) {
      uint64_t v = (uint64_t)A[i * k + kk];
      for (int64_t j = 0; j < n; j++) {
        C[i * n + j] = (int64_t)((uint64_t)C[i * n + j] + v * (uint64_t)B[kk * n + j]);
      }
    }
  }
}

lf_status lf_nd_matmul(lf_nd *out, const lf_nd *a, const lf_nd *b, int nthreads, lf_err *err)
{
  out->buf = NULL;
  if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2) {
    return LF_ERR(err, LF_ERR_USAGE, "matmul needs 1-D or 2-D arrays, got %d and %d "
                  "dimensions", a->ndim, b->ndim);
  }
  int64_t m = a->ndim == 2 ? a->shape[0] : 1;
  int64_t k = a->shape[a->ndim - 1];
  int64_t kb = b->shape[0];
  int64_t n = b->ndim == 2 ? b->shape[1] : 1;
  if (k != kb) {
    char sa[64];
    char sb[64];
    lf_nd_shape_str(a, sa, sizeof(sa));
    lf_nd_shape_str(b, sb, sizeof(sb));
    return LF_ERR(err, LF_ERR_USAGE, "shape mismatch in matmul: %s times %s (inner dimensions "
                  "%lld and %lld differ)", sa, sb, (long long)k, (long long)kb);
  }
  lf_nd_dtype dt;
  if (a->dtype == LF_ND_F32 && b->dtype == LF_ND_F32) {
    dt = LF_ND_F32;
  } else if (lf_nd_is_float(a->dtype) || lf_nd_is_float(b->dtype)) {
    dt = LF_ND_F64;
  } else {
    dt = LF_ND_I64;
  }
  lf_nd ca;
  lf_nd cb;
  lf_status st = lf_nd_contig(&ca, a, dt, err);
  if (st != LF_OK) {
    return st;
  }
  st = lf_nd_contig(&cb, b, dt, err);
  if (st != LF_OK) {
    lf_nd_release(&ca);
    return st;
  }
  int64_t shape[2];
  int ndim = 0;
  if (a->ndim == 2) {
    shape[ndim++] = m;
  }
  if (b->ndim == 2) {
    shape[ndim++] = n;
  }
  st = lf_nd_init(out, dt, ndim, shape, false, err);
  if (st == LF_OK) {
    mm_ctx x = {lf_nd_ptr(&ca, ca.offset), lf_nd_ptr(&cb, cb.offset), lf_nd_ptr(out, 0), m, k,
                n};
    // Threads pay off only for real work.
    double flops = (double)m * (double)k * (double)n;
    int nt = flops < 1e6 ? 1 : nthreads;
    if (nt > m) {
      nt = (int)(m > 0 ? m : 1);
    }
    if (dt == LF_ND_F64) {
      lf_par_run(nt, mm_f64, &x);
    } else if (dt == LF_ND_F32) {
      lf_par_run(nt, mm_f32, &x);
    } else {
      mm_i64(x.a, x.b, x.c, m, k, n);
    }
  }
  lf_nd_release(&ca);
  lf_nd_release(&cb);
  return st;
}

lf_status lf_nd_dot(double *out, const lf_nd *a, const lf_nd *b, lf_err *err)
{
  if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0]) {
    char sa[64];
    char sb[64];
    lf_nd_shape_str(a, sa, sizeof(sa));
    lf_nd_shape_str(b, sb, sizeof(sb));
    return LF_ERR(err, LF_ERR_USAGE, "shape mismatch in dot: %s and %s (need two 1-D arrays "
                  "of the same length)", sa, sb);
  }
  double s = 0;
  for (int64_t i = 0; i < a->shape[0]; i++) {
    s += lf_nd_get_f(a, a->offset + i * a->strides[0]) *
         lf_nd_get_f(b, b->offset + i * b->strides[0]);
  }
  *out = s;
  return LF_OK;
}
