// SPDX-License-Identifier: MIT
// This file contains the CSR matrix of kernels/csr.h: allocation, the structure check every
// matrix from outside passes, conversions to and from dense arrays, sums by axis, row
// selection and the transpose. Co-occurrence is cooc.c.
#include "kernels/csr.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

void lf_csr_clear(lf_csr *m)
{
  m->rows = 0;
  m->cols = 0;
  m->indptr.buf = NULL;
  m->indices.buf = NULL;
  m->data.buf = NULL;
}

void lf_csr_release(lf_csr *m)
{
  lf_nd_release(&m->indptr);
  lf_nd_release(&m->indices);
  lf_nd_release(&m->data);
}

int64_t lf_csr_nnz(const lf_csr *m)
{
  return m->indices.shape[0];
}

const int64_t *lf_csr_indptr(const lf_csr *m)
{
  return lf_nd_ptr(&m->indptr, m->indptr.offset);
}

const int32_t *lf_csr_indices(const lf_csr *m)
{
  return lf_nd_ptr(&m->indices, m->indices.offset);
}

lf_status lf_csr_alloc(lf_csr *m, int64_t rows, int64_t cols, int64_t nnz, lf_nd_dtype dt,
                       lf_err *err)
{
  lf_csr_clear(m);
  if (rows < 0 || cols < 0 || nnz < 0 || cols > LF_CSR_MAX_COLS) {
    return LF_ERR(err, LF_ERR_USAGE, "bad sparse matrix size %lldx%lld with %lld entries",
                  (long long)rows, (long long)cols, (long long)nnz);
  }
  int64_t np = rows + 1;
  lf_status st = lf_nd_init(&m->indptr, LF_ND_I64, 1, &np, false, err);
  if (st == LF_OK) {
    st = lf_nd_init(&m->indices, LF_ND_I32, 1, &nnz, false, err);
  }
  if (st == LF_OK) {
    st = lf_nd_init(&m->data, dt, 1, &nnz, false, err);
  }
  if (st != LF_OK) {
    lf_csr_release(m);
    return st;
  }
  m->rows = rows;
  m->cols = cols;
  ((int64_t *)lf_nd_ptr(&m->indptr, 0))[0] = 0;
  return LF_OK;
}

lf_status lf_csr_check(const int64_t *indptr, const int32_t *indices, int64_t rows,
                       int64_t cols, int64_t nnz, lf_err *err)
{
  if (indptr[0] != 0) {
    return LF_ERR(err, LF_ERR_USAGE, "sparse matrix indptr starts at %lld, not 0",
                  (long long)indptr[0]);
  }
  if (indptr[rows] != nnz) {
    return LF_ERR(err, LF_ERR_USAGE, "sparse matrix indptr ends at %lld, not at the %lld "
                  "entries", (long long)indptr[rows], (long long)nnz);
  }
  for (int64_t r = 0; r < rows; r++) {
    int64_t lo = indptr[r];
    int64_t hi = indptr[r + 1];
    if (hi < lo || hi > nnz) {
      return LF_ERR(err, LF_ERR_USAGE, "sparse matrix indptr decreases or overruns at row %lld",
                    (long long)r + 1);
    }
    int64_t prev = -1;
    for (int64_t j = lo; j < hi; j++) {
      int64_t c = indices[j];
      if (c < 0 || c >= cols) {
        return LF_ERR(err, LF_ERR_USAGE, "sparse matrix row %lld: column %lld out of range "
                      "(%lld columns)", (long long)r + 1, (long long)c + 1, (long long)cols);
      }
      if (c <= prev) {
        return LF_ERR(err, LF_ERR_USAGE, "sparse matrix row %lld: columns not strictly "
                      "increasing (%lld after %lld)", (long long)r + 1, (long long)c + 1,
                      (long long)prev + 1);
      }
      prev = c;
    }
  }
  return LF_OK;
}

lf_status lf_csr_from_dense(lf_csr *out, const lf_nd *a, lf_err *err)
{
  lf_csr_clear(out);
  if (a->ndim != 2) {
    return LF_ERR(err, LF_ERR_USAGE, "a sparse matrix needs a 2-D array, got %d dimensions",
                  a->ndim);
  }
  int64_t rows = a->shape[0];
  int64_t cols = a->shape[1];
  int64_t nnz = 0;
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) {
      nnz += lf_nd_get_f(a, a->offset + i * a->strides[0] + j * a->strides[1]) != 0;
    }
  }
  lf_status st = lf_csr_alloc(out, rows, cols, nnz, a->dtype, err);
  if (st != LF_OK) {
    return st;
  }
  int64_t *ip = lf_nd_ptr(&out->indptr, 0);
  int32_t *ix = lf_nd_ptr(&out->indices, 0);
  int64_t k = 0;
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) {
      int64_t off = a->offset + i * a->strides[0] + j * a->strides[1];
      if (lf_nd_get_f(a, off) != 0) {
        ix[k] = (int32_t)j;
        memcpy(lf_nd_ptr(&out->data, k), lf_nd_ptr(a, off), lf_nd_itemsize(a->dtype));
        k++;
      }
    }
    ip[i + 1] = k;
  }
  return LF_OK;
}

lf_status lf_csr_to_dense(lf_nd *out, const lf_csr *m, lf_err *err)
{
  int64_t shape[2] = {m->rows, m->cols};
  lf_status st = lf_nd_init(out, m->data.dtype, 2, shape, true, err);
  if (st != LF_OK) {
    return st;
  }
  const int64_t *ip = lf_csr_indptr(m);
  const int32_t *ix = lf_csr_indices(m);
  size_t isz = lf_nd_itemsize(m->data.dtype);
  for (int64_t i = 0; i < m->rows; i++) {
    for (int64_t k = ip[i]; k < ip[i + 1]; k++) {
      memcpy(lf_nd_ptr(out, i * m->cols + ix[k]), lf_nd_ptr(&m->data, m->data.offset + k), isz);
    }
  }
  return LF_OK;
}

lf_status lf_csr_sum(lf_nd *out, const lf_csr *m, int axis, lf_err *err)
{
  out->buf = NULL;
  if (axis < -1 || axis > 1) {
    return LF_ERR(err, LF_ERR_USAGE, "axis %d out of range for a sparse matrix", axis + 1);
  }
  bool fl = lf_nd_is_float(m->data.dtype);
  lf_nd_dtype dt = fl ? m->data.dtype : LF_ND_I64;
  int64_t n = axis == 0 ? m->cols : m->rows;
  lf_status st = axis < 0 ? lf_nd_init(out, dt, 0, NULL, true, err)
                          : lf_nd_init(out, dt, 1, &n, true, err);
  if (st != LF_OK) {
    return st;
  }
  const int64_t *ip = lf_csr_indptr(m);
  const int32_t *ix = lf_csr_indices(m);
  const lf_nd *d = &m->data;
  if (fl) {
    // Accumulate in double even for f32 data, then store.
    double total = 0;
    double *acc = axis == 0 ? lf_try_malloc((size_t)m->cols * sizeof(double)) : NULL;
    if (axis == 0 && acc == NULL) {
      lf_nd_release(out);
      return LF_ERR(err, LF_ERR_NOMEM, "sparse sum: out of memory");
    }
    for (int64_t j = 0; axis == 0 && j < m->cols; j++) {
      acc[j] = 0;
    }
    for (int64_t i = 0; i < m->rows; i++) {
      double rs = 0;
      for (int64_t k = ip[i]; k < ip[i + 1]; k++) {
        double v = lf_nd_get_f(d, d->offset + k);
        rs += v;
        if (axis == 0) {
          acc[ix[k]] += v;
        }
      }
      if (axis == 1) {
        lf_nd_set_f(out, i, rs);
      }
      total += rs;
    }
    for (int64_t j = 0; axis == 0 && j < m->cols; j++) {
      lf_nd_set_f(out, j, acc[j]);
    }
    if (axis < 0) {
      lf_nd_set_f(out, 0, total);
    }
    lf_free(acc);
    return LF_OK;
  }
  int64_t *o = lf_nd_ptr(out, 0);
  for (int64_t i = 0; i < m->rows; i++) {
    uint64_t rs = 0;
    for (int64_t k = ip[i]; k < ip[i + 1]; k++) {
      int64_t v = lf_nd_get_i(d, d->offset + k);
      rs += (uint64_t)v;
      if (axis == 0) {
        o[ix[k]] = (int64_t)((uint64_t)o[ix[k]] + (uint64_t)v);
      }
    }
    if (axis == 1) {
      o[i] = (int64_t)rs;
    } else if (axis < 0) {
      o[0] = (int64_t)((uint64_t)o[0] + rs);
    }
  }
  return LF_OK;
}

lf_status lf_csr_take_rows(lf_csr *out, const lf_csr *m, const int64_t *sel, int64_t n,
                           lf_err *err)
{
  lf_csr_clear(out);
  const int64_t *ip = lf_csr_indptr(m);
  int64_t nnz = 0;
  for (int64_t i = 0; i < n; i++) {
    if (sel[i] < 0 || sel[i] >= m->rows) {
      return LF_ERR(err, LF_ERR_USAGE, "row %lld out of range (the matrix has %lld rows)",
                    (long long)sel[i] + 1, (long long)m->rows);
    }
    nnz += ip[sel[i] + 1] - ip[sel[i]];
  }
  lf_status st = lf_csr_alloc(out, n, m->cols, nnz, m->data.dtype, err);
  if (st != LF_OK) {
    return st;
  }
  int64_t *op = lf_nd_ptr(&out->indptr, 0);
  int32_t *oi = lf_nd_ptr(&out->indices, 0);
  const int32_t *ix = lf_csr_indices(m);
  size_t isz = lf_nd_itemsize(m->data.dtype);
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t lo = ip[sel[i]];
    int64_t len = ip[sel[i] + 1] - lo;
    memcpy(oi + k, ix + lo, (size_t)len * sizeof(int32_t));
    memcpy(lf_nd_ptr(&out->data, k), lf_nd_ptr(&m->data, m->data.offset + lo),
           (size_t)len * isz);
    k += len;
    op[i + 1] = k;
  }
  return LF_OK;
}

lf_status lf_csr_row_range(lf_csr *out, const lf_csr *m, int64_t lo, int64_t hi, lf_err *err)
{
  int64_t n = hi - lo;
  int64_t *sel = lf_try_malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  if (sel == NULL) {
    lf_csr_clear(out);
    return LF_ERR(err, LF_ERR_NOMEM, "sparse row slice: out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    sel[i] = lo + i;
  }
  lf_status st = lf_csr_take_rows(out, m, sel, n, err);
  lf_free(sel);
  return st;
}

lf_status lf_csr_transpose(lf_csr *out, const lf_csr *m, lf_err *err)
{
  int64_t nnz = lf_csr_nnz(m);
  if (m->rows > LF_CSR_MAX_COLS) {
    lf_csr_clear(out);
    return LF_ERR(err, LF_ERR_USAGE, "cannot transpose: more than 2^31 rows");
  }
  lf_status st = lf_csr_alloc(out, m->cols, m->rows, nnz, m->data.dtype, err);
  if (st != LF_OK) {
    return st;
  }
  const int64_t *ip = lf_csr_indptr(m);
  const int32_t *ix = lf_csr_indices(m);
  int64_t *op = lf_nd_ptr(&out->indptr, 0);
  int32_t *oi = lf_nd_ptr(&out->indices, 0);
  memset(op, 0, (size_t)(m->cols + 1) * sizeof(int64_t));
  for (int64_t k = 0; k < nnz; k++) {
    op[ix[k] + 1]++;
  }
  for (int64_t j = 0; j < m->cols; j++) {
    op[j + 1] += op[j];
  }
  // Rows are visited in order, so each output row gets strictly increasing columns.
  int64_t *next = lf_try_malloc((size_t)(m->cols > 0 ? m->cols : 1) * sizeof(int64_t));
  if (next == NULL) {
    lf_csr_release(out);
    return LF_ERR(err, LF_ERR_NOMEM, "sparse transpose: out of memory");
  }
  memcpy(next, op, (size_t)m->cols * sizeof(int64_t));
  size_t isz = lf_nd_itemsize(m->data.dtype);
  for (int64_t i = 0; i < m->rows; i++) {
    for (int64_t k = ip[i]; k < ip[i + 1]; k++) {
      int64_t p = next[ix[k]]++;
      oi[p] = (int32_t)i;
      memcpy(lf_nd_ptr(&out->data, p), lf_nd_ptr(&m->data, m->data.offset + k), isz);
    }
  }
  lf_free(next);
  return LF_OK;
}
