// SPDX-License-Identifier: MIT
// This file contains the elementwise and reduction kernels of kernels/nd_ops.h: broadcasting
// binary operations (with contiguous fast paths for floats), unary operations, and
// reductions by axis. Sorting is nd_sort.c, products nd_linalg.c, random numbers nd_rand.c.
#include "kernels/nd_ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

static int kind_rank(lf_nd_dtype d)
{
  switch (d) {
  case LF_ND_U8:
    return 0;
  case LF_ND_I32:
    return 1;
  case LF_ND_I64:
    return 2;
  case LF_ND_F32:
    return 3;
  default:
    return 4;
  }
}

static lf_nd_dtype promote(lf_nd_dtype a, lf_nd_dtype b)
{
  if (a == b) {
    return a;
  }
  bool fa = lf_nd_is_float(a);
  bool fb = lf_nd_is_float(b);
  if (fa && fb) {
    return LF_ND_F64;
  }
  if (fa || fb) {
    lf_nd_dtype f = fa ? a : b;
    lf_nd_dtype i = fa ? b : a;
    return f == LF_ND_F32 && i == LF_ND_U8 ? LF_ND_F32 : LF_ND_F64;
  }
  return kind_rank(a) > kind_rank(b) ? a : b;
}

lf_nd_dtype lf_nd_binop_dtype(lf_nd_binop op, lf_nd_dtype a, lf_nd_dtype b)
{
  if (op >= LF_ND_EQ) {
    return LF_ND_U8;
  }
  lf_nd_dtype d = promote(a, b);
  if ((op == LF_ND_DIV || op == LF_ND_POW) && !lf_nd_is_float(d)) {
    return LF_ND_F64;
  }
  return d;
}

// Makes `v` a view of `a` broadcast to `shape` (stride 0 on stretched axes).
static void broadcast_view(lf_nd *v, const lf_nd *a, int ndim, const int64_t *shape)
{
  v->dtype = a->dtype;
  v->ndim = ndim;
  v->offset = a->offset;
  v->buf = a->buf; // borrowed: never released
  int shift = ndim - a->ndim;
  for (int k = 0; k < ndim; k++) {
    v->shape[k] = shape[k];
    int j = k - shift;
    v->strides[k] = j < 0 || a->shape[j] == 1 ? 0 : a->strides[j];
  }
}

static lf_status broadcast_shape(const lf_nd *a, const lf_nd *b, int *ndim, int64_t *shape,
                                 lf_err *err)
{
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int k = 0; k < n; k++) {
    int ia = k - (n - a->ndim);
    int ib = k - (n - b->ndim);
    int64_t da = ia >= 0 ? a->shape[ia] : 1;
    int64_t db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[64];
      char sb[64];
      lf_nd_shape_str(a, sa, sizeof(sa));
      lf_nd_shape_str(b, sb, sizeof(sb));
      return LF_ERR(err, LF_ERR_USAGE, "shape mismatch: %s and %s do not broadcast", sa, sb);
    }
    shape[k] = da == 1 ? db : da;
  }
  *ndim = n;
  return LF_OK;
}

static double fop(lf_nd_binop op, double x, double y)
{
  switch (op) {
  case LF_ND_ADD:
    return x + y;
  case LF_ND_SUB:
    return x - y;
  case LF_ND_MUL:
    return x * y;
  case LF_ND_DIV:
    return x / y;
  case LF_ND_IDIV:
    return floor(x / y);
  case LF_ND_MOD: {
    double m = fmod(x, y);
    if (m != 0 && (m < 0) != (y < 0)) {
      m += y;
    }
    return m;
  }
  case LF_ND_POW:
    return pow(x, y);
  case LF_ND_MIN:
    return x < y || isnan(x) ? x : y;
  case LF_ND_MAX:
    return x > y || isnan(x) ? x : y;
  case LF_ND_EQ:
    return x == y;
  case LF_ND_NE:
    return x != y;
  case LF_ND_LT:
    return x < y;
  case LF_ND_LE:
    return x <= y;
  case LF_ND_GT:
    return x > y;
  default:
    return x >= y;
  }
}

// Integer operations wrap like Lua's (unsigned arithmetic); *zero reports division by zero.
static int64_t iop(lf_nd_binop op, int64_t x, int64_t y, bool *zero)
{
  uint64_t ux = (uint64_t)x;
  uint64_t uy = (uint64_t)y;
  switch (op) {
  case LF_ND_ADD:
    return (int64_t)(ux + uy);
  case LF_ND_SUB:
    return (int64_t)(ux - uy);
  case LF_ND_MUL:
    return (int64_t)(ux * uy);
  case LF_ND_IDIV:
  case LF_ND_MOD: {
    if (y == 0) {
      *zero = true;
      return 0;
    }
    if (y == -1) {
      return op == LF_ND_IDIV ? (int64_t)(0 - ux) : 0;
    }
    int64_t q = x / y;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
      q--;
      r += y;
    }
    return op == LF_ND_IDIV ? q : r;
  }
  case LF_ND_MIN:
    return x < y ? x : y;
  case LF_ND_MAX:
    return x > y ? x : y;
  case LF_ND_EQ:
    return x == y;
  case LF_ND_NE:
    return x != y;
  case LF_ND_LT:
    return x < y;
  case LF_ND_LE:
    return x <= y;
  case LF_ND_GT:
    return x > y;
  default:
    return x >= y;
  }
}

// Contiguous f64 fast paths: same shapes, or one side a single element.
static bool fast_f64(lf_nd *out, lf_nd_binop op, const lf_nd *a, const lf_nd *b)
{
  if (a->dtype != LF_ND_F64 || b->dtype != LF_ND_F64 || op > LF_ND_DIV ||
      !lf_nd_is_contig(a) || !lf_nd_is_contig(b)) {
    return false;
  }
  int64_t n = lf_nd_size(out);
  int64_t na = lf_nd_size(a);
  int64_t nb = lf_nd_size(b);
  if ((na != n && na != 1) || (nb != n && nb != 1)) {
    return false;
  }
  const double *x = lf_nd_ptr(a, a->offset);
  const double *y = lf_nd_ptr(b, b->offset);
  double *z = lf_nd_ptr(out, 0);
  int64_t sa = na == n ? 1 : 0;
  int64_t sb = nb == n ? 1 : 0;
  if (sa == 1 && sb == 1) {
    switch (op) {
    case LF_ND_ADD:
      for (int64_t i = 0; i < n; i++) {
        z[i] = x[i] + y[i];
      }
      return true;
    case LF_ND_SUB:
      for (int64_t i = 0; i < n; i++) {
        z[i] = x[i] - y[i];
      }
      return true;
    case LF_ND_MUL:
      for (int64_t i = 0; i < n; i++) {
        z[i] = x[i] * y[i];
      }
      return true;
    default:
      for (int64_t i = 0; i < n; i++) {
        z[i] = x[i] / y[i];
      }
      return true;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    z[i] = fop(op, x[i * sa], y[i * sb]);
  }
  return true;
}

typedef struct bin_ctx {
  lf_nd_binop op;
  lf_nd va;
  lf_nd vb;
  lf_nd *out;
  bool as_float;
  bool zero;
} bin_ctx;

lf_status lf_nd_binary(lf_nd *out, lf_nd_binop op, const lf_nd *a, const lf_nd *b, lf_err *err)
{
  out->buf = NULL;
  int ndim = 0;
  int64_t shape[LF_ND_MAX_NDIM];
  lf_status st = broadcast_shape(a, b, &ndim, shape, err);
  if (st != LF_OK) {
    return st;
  }
  lf_nd_dtype dt = lf_nd_binop_dtype(op, a->dtype, b->dtype);
  st = lf_nd_init(out, dt, ndim, shape, false, err);
  if (st != LF_OK) {
    return st;
  }
  if (dt == LF_ND_F64 && fast_f64(out, op, a, b)) {
    return LF_OK;
  }
  bin_ctx c;
  c.op = op;
  broadcast_view(&c.va, a, ndim, shape);
  broadcast_view(&c.vb, b, ndim, shape);
  // Comparisons and float results compute in double unless both operands are integers.
  c.as_float = lf_nd_is_float(dt) || lf_nd_is_float(a->dtype) || lf_nd_is_float(b->dtype);
  c.zero = false;
  int64_t n = lf_nd_size(out);
  if (n == 0) {
    return LF_OK;
  }
  int64_t idx[LF_ND_MAX_NDIM] = {0};
  int last = ndim - 1;
  int64_t o = 0;
  for (;;) {
    int64_t oa = lf_nd_offset_of(&c.va, idx);
    int64_t ob = lf_nd_offset_of(&c.vb, idx);
    int64_t len = ndim > 0 ? shape[last] : 1;
    int64_t sa = ndim > 0 ? c.va.strides[last] : 0;
    int64_t sb = ndim > 0 ? c.vb.strides[last] : 0;
    for (int64_t i = 0; i < len; i++) {
      if (c.as_float) {
        double r = fop(op, lf_nd_get_f(&c.va, oa + i * sa), lf_nd_get_f(&c.vb, ob + i * sb));
        lf_nd_set_f(out, o + i, r);
      } else {
        int64_t r = iop(op, lf_nd_get_i(&c.va, oa + i * sa), lf_nd_get_i(&c.vb, ob + i * sb),
                        &c.zero);
        lf_nd_set_i(out, o + i, r);
      }
    }
    o += len;
    int k = last - 1;
    while (k >= 0) {
      if (++idx[k] < shape[k]) {
        break;
      }
      idx[k] = 0;
      k--;
    }
    if (k < 0) {
      break;
    }
  }
  if (c.zero) {
    lf_nd_release(out);
    return LF_ERR(err, LF_ERR_USAGE, "integer division by zero");
  }
  return LF_OK;
}

typedef struct un_ctx {
  lf_nd_unop op;
  const lf_nd *a;
  lf_nd *out;
  int64_t o;
} un_ctx;

static void unary_one(int64_t off, void *vctx)
{
  un_ctx *c = vctx;
  int64_t o = c->o++;
  if (!lf_nd_is_float(c->out->dtype)) {
    int64_t x = lf_nd_get_i(c->a, off);
    uint64_t ux = (uint64_t)x;
    lf_nd_set_i(c->out, o, c->op == LF_ND_NEG || (c->op == LF_ND_ABS && x < 0)
                               ? (int64_t)(0 - ux) : x);
    return;
  }
  double x = lf_nd_get_f(c->a, off);
  switch (c->op) {
  case LF_ND_NEG:
    x = -x;
    break;
  case LF_ND_ABS:
    x = fabs(x);
    break;
  case LF_ND_SQRT:
    x = sqrt(x);
    break;
  case LF_ND_EXP:
    x = exp(x);
    break;
  default:
    x = log(x);
  }
  lf_nd_set_f(c->out, o, x);
}

lf_status lf_nd_unary(lf_nd *out, lf_nd_unop op, const lf_nd *a, lf_err *err)
{
  lf_nd_dtype dt = a->dtype;
  if (op >= LF_ND_SQRT && !lf_nd_is_float(dt)) {
    dt = LF_ND_F64;
  }
  lf_status st = lf_nd_init(out, dt, a->ndim, a->shape, false, err);
  if (st != LF_OK) {
    return st;
  }
  un_ctx c = {op, a, out, 0};
  lf_nd_foreach(a, unary_one, &c);
  return LF_OK;
}

// ---------------------------------------------------------------------------------------------
// Reductions

static lf_nd_dtype reduce_dtype(lf_nd_redop op, lf_nd_dtype d)
{
  switch (op) {
  case LF_ND_SUM:
    return lf_nd_is_float(d) ? d : LF_ND_I64;
  case LF_ND_MEAN:
    return LF_ND_F64;
  case LF_ND_ARGMIN:
  case LF_ND_ARGMAX:
    return LF_ND_I64;
  default:
    return d;
  }
}

// Reduces `n` elements of `a` starting at element offset `off`, `stride` apart, into out[o].
static void reduce_line(const lf_nd *a, int64_t off, int64_t n, int64_t stride, lf_nd_redop op,
                        lf_nd *out, int64_t o)
{
  bool fl = lf_nd_is_float(a->dtype);
  if (op == LF_ND_SUM && !fl) {
    uint64_t s = 0;
    for (int64_t i = 0; i < n; i++) {
      s += (uint64_t)lf_nd_get_i(a, off + i * stride);
    }
    lf_nd_set_i(out, o, (int64_t)s);
    return;
  }
  if (op == LF_ND_SUM || op == LF_ND_MEAN) {
    double s = 0;
    if (a->dtype == LF_ND_F64 && stride == 1) {
      const double *p = lf_nd_ptr(a, off);
      for (int64_t i = 0; i < n; i++) {
        s += p[i];
      }
    } else {
      for (int64_t i = 0; i < n; i++) {
        s += lf_nd_get_f(a, off + i * stride);
      }
    }
    lf_nd_set_f(out, o, op == LF_ND_MEAN ? (n > 0 ? s / (double)n : (double)NAN) : s);
    return;
  }
  bool want_max = op == LF_ND_MAX_R || op == LF_ND_ARGMAX;
  int64_t best = 0;
  if (fl) {
    // NaN propagates (it is returned / its position is).
    double bv = lf_nd_get_f(a, off);
    for (int64_t i = 1; i < n && !isnan(bv); i++) {
      double v = lf_nd_get_f(a, off + i * stride);
      if (isnan(v) || (want_max ? v > bv : v < bv)) {
        bv = v;
        best = i;
      }
    }
    if (op == LF_ND_MIN_R || op == LF_ND_MAX_R) {
      lf_nd_set_f(out, o, bv);
      return;
    }
  } else {
    int64_t bv = lf_nd_get_i(a, off);
    for (int64_t i = 1; i < n; i++) {
      int64_t v = lf_nd_get_i(a, off + i * stride);
      if (want_max ? v > bv : v < bv) {
        bv = v;
        best = i;
      }
    }
    if (op == LF_ND_MIN_R || op == LF_ND_MAX_R) {
      lf_nd_set_i(out, o, bv);
      return;
    }
  }
  lf_nd_set_i(out, o, best);
}

// Column sums of a contiguous 2-D f64 matrix: walks rows, so memory is read in order.
static void colsum_f64(const lf_nd *a, lf_nd *out)
{
  int64_t rows = a->shape[0];
  int64_t cols = a->shape[1];
  double *o = lf_nd_ptr(out, 0);
  const double *p = lf_nd_ptr(a, a->offset);
  for (int64_t j = 0; j < cols; j++) {
    o[j] = 0;
  }
  for (int64_t i = 0; i < rows; i++) {
    const double *r = p + i * cols;
    for (int64_t j = 0; j < cols; j++) {
      o[j] += r[j];
    }
  }
}

lf_status lf_nd_reduce(lf_nd *out, lf_nd_redop op, const lf_nd *a, int axis, lf_err *err)
{
  out->buf = NULL;
  if (axis < -1 || axis >= a->ndim) {
    return LF_ERR(err, LF_ERR_USAGE, "axis %d out of range for an array of %d dimensions",
                  axis + 1, a->ndim);
  }
  int64_t n = axis < 0 ? lf_nd_size(a) : a->shape[axis];
  bool needs_one = op != LF_ND_SUM && op != LF_ND_MEAN;
  if (needs_one && n == 0) {
    return LF_ERR(err, LF_ERR_USAGE, "%s of an empty array",
                  op == LF_ND_MIN_R || op == LF_ND_ARGMIN ? "min" : "max");
  }
  lf_nd_dtype dt = reduce_dtype(op, a->dtype);
  if (axis < 0) {
    lf_nd flat;
    lf_status st = lf_nd_contig(&flat, a, a->dtype, err);
    if (st != LF_OK) {
      return st;
    }
    st = lf_nd_init(out, dt, 0, NULL, false, err);
    if (st == LF_OK) {
      reduce_line(&flat, flat.offset, n, 1, op, out, 0);
    }
    lf_nd_release(&flat);
    return st;
  }
  // Output shape: the input's without `axis`.
  lf_nd rest;
  rest = *a;
  lf_nd_select_axis(&rest, axis, 0);
  lf_status st = lf_nd_init(out, dt, rest.ndim, rest.shape, false, err);
  if (st != LF_OK) {
    return st;
  }
  if (op == LF_ND_SUM && a->dtype == LF_ND_F64 && a->ndim == 2 && axis == 0 &&
      lf_nd_is_contig(a)) {
    colsum_f64(a, out);
    return LF_OK;
  }
  int64_t m = lf_nd_size(out);
  int64_t idx[LF_ND_MAX_NDIM] = {0};
  for (int64_t o = 0; o < m; o++) {
    reduce_line(a, lf_nd_offset_of(&rest, idx), n, a->strides[axis], op, out, o);
    for (int k = rest.ndim - 1; k >= 0; k--) {
      if (++idx[k] < rest.shape[k]) {
        break;
      }
      idx[k] = 0;
    }
  }
  return LF_OK;
}
