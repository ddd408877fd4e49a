// SPDX-License-Identifier: MIT
// This file contains the array model of kernels/nd.h: buffers (aligned allocation with
// headroom for the artifact header, adoption of foreign memory, reference counts), views
// (shape, strides, offset, reshape, transpose, slicing) and element access and copying.
// The arithmetic kernels are nd_ops.c and nd_linalg.c.
#include "kernels/nd.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

size_t lf_nd_itemsize(int dt)
{
  switch (dt) {
  case LF_ND_F64:
  case LF_ND_I64:
    return 8;
  case LF_ND_F32:
  case LF_ND_I32:
    return 4;
  case LF_ND_U8:
    return 1;
  default:
    return 0;
  }
}

const char *lf_nd_dtype_name(int dt)
{
  static const char *const names[] = {"f64", "f32", "i64", "i32", "u8"};
  return dt >= 0 && dt < LF_ND_NDTYPES ? names[dt] : NULL;
}

int lf_nd_dtype_parse(const char *name)
{
  static const struct {
    const char *name;
    int dt;
  } names[] = {
    {"f64", LF_ND_F64},   {"float64", LF_ND_F64}, {"double", LF_ND_F64}, {"f32", LF_ND_F32},
    {"float32", LF_ND_F32}, {"float", LF_ND_F32}, {"i64", LF_ND_I64},    {"int64", LF_ND_I64},
    {"i32", LF_ND_I32},   {"int32", LF_ND_I32},   {"u8", LF_ND_U8},      {"uint8", LF_ND_U8},
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strcmp(names[i].name, name) == 0) {
      return names[i].dt;
    }
  }
  return -1;
}

bool lf_nd_is_float(lf_nd_dtype dt)
{
  return dt == LF_ND_F64 || dt == LF_ND_F32;
}

// ---------------------------------------------------------------------------------------------
// Buffers

lf_nd_buf *lf_nd_buf_new(size_t nbytes, lf_err *err)
{
  size_t extra = LF_ND_HEADROOM + LF_ND_ALIGN;
  if (nbytes > SIZE_MAX - extra - 64) {
    LF_ERR(err, LF_ERR_NOMEM, "cannot allocate an array of %zu bytes", nbytes);
    return NULL;
  }
  // The allocator's alignment is only 16: over-allocate and round the data pointer up.
  bool pages = nbytes >= LF_ND_PAGES_MIN;
  uint8_t *base = pages ? lf_pages_alloc(nbytes + extra) : lf_try_malloc(nbytes + extra);
  if (base == NULL) {
    LF_ERR(err, LF_ERR_NOMEM, "cannot allocate an array of %zu bytes (out of memory)", nbytes);
    return NULL;
  }
  lf_nd_buf *b = lf_try_malloc(sizeof(*b));
  if (b == NULL) {
    if (pages) {
      lf_pages_free(base);
    } else {
      lf_free(base);
    }
    LF_ERR(err, LF_ERR_NOMEM, "cannot allocate an array (out of memory)");
    return NULL;
  }
  uintptr_t p = (uintptr_t)(base + LF_ND_HEADROOM);
  p = (p + LF_ND_ALIGN - 1) & ~(uintptr_t)(LF_ND_ALIGN - 1);
  b->refs = 1;
  b->data = (uint8_t *)p;
  b->nbytes = nbytes;
  b->base = base;
  b->release = pages ? lf_pages_free : NULL;
  b->headroom = (size_t)(b->data - base);
  b->headroom_users = 0;
  b->zeroed = pages;
  return b;
}

lf_nd_buf *lf_nd_buf_adopt(void *base, uint8_t *data, size_t nbytes, void (*release)(void *))
{
  lf_nd_buf *b = lf_xmalloc(sizeof(*b));
  b->refs = 1;
  b->data = data;
  b->nbytes = nbytes;
  b->base = base;
  b->release = release;
  b->headroom = 0;
  b->headroom_users = 0;
  b->zeroed = false;
  return b;
}

lf_nd_buf *lf_nd_buf_ref(lf_nd_buf *b)
{
  b->refs++;
  return b;
}

void lf_nd_buf_unref(lf_nd_buf *b)
{
  if (b == NULL || --b->refs > 0) {
    return;
  }
  if (b->release != NULL) {
    b->release(b->base);
  } else {
    lf_free(b->base);
  }
  lf_free(b);
}

// ---------------------------------------------------------------------------------------------
// Views

static void contig_strides(lf_nd *a)
{
  // Only an array with a zero dimension (no elements, so strides are never used to reach
  // one) can have a product of the other dimensions past int64: it saturates.
  int64_t s = 1;
  for (int k = a->ndim - 1; k >= 0; k--) {
    a->strides[k] = s;
    if (__builtin_mul_overflow(s, a->shape[k] > 0 ? a->shape[k] : 1, &s)) {
      s = INT64_MAX;
    }
  }
}

static bool shape_size(int ndim, const int64_t *shape, int64_t *n, lf_err *err)
{
  if (ndim < 0 || ndim > LF_ND_MAX_NDIM) {
    LF_ERR(err, LF_ERR_USAGE, "an array has 0 to %d dimensions, not %d", LF_ND_MAX_NDIM, ndim);
    return false;
  }
  // The product of the non-zero dimensions is bounded too, so that no product or stride of
  // any array (empty ones included) can pass int64.
  int64_t count = 1;
  bool empty = false;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0) {
      LF_ERR(err, LF_ERR_USAGE, "negative dimension %lld", (long long)shape[k]);
      return false;
    }
    if (shape[k] == 0) {
      empty = true;
      continue;
    }
    if (shape[k] > LF_ND_MAX_ELEMS || count > LF_ND_MAX_ELEMS / shape[k]) {
      LF_ERR(err, LF_ERR_USAGE, "array too large (more than 2^46 elements)");
      return false;
    }
    count *= shape[k];
  }
  *n = empty ? 0 : count;
  return true;
}

lf_status lf_nd_init(lf_nd *a, lf_nd_dtype dt, int ndim, const int64_t *shape, bool zero,
                     lf_err *err)
{
  a->buf = NULL;
  int64_t n;
  if (!shape_size(ndim, shape, &n, err)) {
    return LF_ERR_USAGE;
  }
  size_t nbytes = (size_t)n * lf_nd_itemsize(dt);
  lf_nd_buf *b = lf_nd_buf_new(nbytes, err);
  if (b == NULL) {
    return LF_ERR_NOMEM;
  }
  if (zero && !b->zeroed) {
    memset(b->data, 0, nbytes);
  }
  lf_nd_init_view(a, b, dt, ndim, shape);
  lf_nd_buf_unref(b);
  return LF_OK;
}

void lf_nd_init_view(lf_nd *a, lf_nd_buf *buf, lf_nd_dtype dt, int ndim, const int64_t *shape)
{
  a->dtype = dt;
  a->ndim = ndim;
  for (int k = 0; k < ndim; k++) {
    a->shape[k] = shape[k];
  }
  contig_strides(a);
  a->offset = 0;
  a->buf = lf_nd_buf_ref(buf);
}

void lf_nd_view(lf_nd *dst, const lf_nd *src)
{
  dst->dtype = src->dtype;
  dst->ndim = src->ndim;
  for (int k = 0; k < src->ndim; k++) {
    dst->shape[k] = src->shape[k];
    dst->strides[k] = src->strides[k];
  }
  dst->offset = src->offset;
  dst->buf = lf_nd_buf_ref(src->buf);
}

void lf_nd_release(lf_nd *a)
{
  lf_nd_buf_unref(a->buf);
  a->buf = NULL;
}

// Whether some dimension is 0. Only then may the product of the others pass int64 (a
// non-empty array has at most LF_ND_MAX_ELEMS elements), so products start after this test.
static bool has_zero_dim(const lf_nd *a)
{
  for (int k = 0; k < a->ndim; k++) {
    if (a->shape[k] == 0) {
      return true;
    }
  }
  return false;
}

int64_t lf_nd_size(const lf_nd *a)
{
  if (has_zero_dim(a)) {
    return 0;
  }
  int64_t n = 1;
  for (int k = 0; k < a->ndim; k++) {
    n *= a->shape[k];
  }
  return n;
}

bool lf_nd_is_contig(const lf_nd *a)
{
  if (has_zero_dim(a)) {
    return true;
  }
  int64_t s = 1;
  for (int k = a->ndim - 1; k >= 0; k--) {
    if (a->shape[k] != 1 && a->strides[k] != s) {
      return false;
    }
    s *= a->shape[k];
  }
  return true;
}

void *lf_nd_ptr(const lf_nd *a, int64_t off)
{
  return a->buf->data + off * (int64_t)lf_nd_itemsize(a->dtype);
}

int64_t lf_nd_offset_of(const lf_nd *a, const int64_t *idx)
{
  int64_t off = a->offset;
  for (int k = 0; k < a->ndim; k++) {
    off += idx[k] * a->strides[k];
  }
  return off;
}

double lf_nd_get_f(const lf_nd *a, int64_t off)
{
  const uint8_t *p = a->buf->data;
  switch (a->dtype) {
  case LF_ND_F64:
    return ((const double *)p)[off];
  case LF_ND_F32:
    return (double)((const float *)p)[off];
  case LF_ND_I64:
    return (double)((const int64_t *)p)[off];
  case LF_ND_I32:
    return (double)((const int32_t *)p)[off];
  default:
    return (double)p[off];
  }
}

// Float to int64, truncating; NaN and out-of-range values give 0 (no UB).
static int64_t f2i(double x)
{
  if (!(x > -0x1p63 && x < 0x1p63)) {
    return 0;
  }
  return (int64_t)x;
}

int64_t lf_nd_get_i(const lf_nd *a, int64_t off)
{
  const uint8_t *p = a->buf->data;
  switch (a->dtype) {
  case LF_ND_F64:
    return f2i(((const double *)p)[off]);
  case LF_ND_F32:
    return f2i((double)((const float *)p)[off]);
  case LF_ND_I64:
    return ((const int64_t *)p)[off];
  case LF_ND_I32:
    return ((const int32_t *)p)[off];
  default:
    return p[off];
  }
}

void lf_nd_set_f(lf_nd *a, int64_t off, double x)
{
  uint8_t *p = a->buf->data;
  switch (a->dtype) {
  case LF_ND_F64:
    ((double *)p)[off] = x;
    break;
  case LF_ND_F32:
    ((float *)p)[off] = (float)x;
    break;
  default:
    lf_nd_set_i(a, off, f2i(x));
  }
}

void lf_nd_set_i(lf_nd *a, int64_t off, int64_t x)
{
  uint8_t *p = a->buf->data;
  switch (a->dtype) {
  case LF_ND_F64:
    ((double *)p)[off] = (double)x;
    break;
  case LF_ND_F32:
    ((float *)p)[off] = (float)x;
    break;
  case LF_ND_I64:
    ((int64_t *)p)[off] = x;
    break;
  case LF_ND_I32:
    ((int32_t *)p)[off] = (int32_t)(uint32_t)(uint64_t)x;
    break;
  default:
    p[off] = (uint8_t)(uint64_t)x;
  }
}

void lf_nd_foreach(const lf_nd *a, void (*fn)(int64_t off, void *ctx), void *ctx)
{
  int64_t n = lf_nd_size(a);
  if (n == 0) {
    return;
  }
  if (a->ndim == 0) {
    fn(a->offset, ctx);
    return;
  }
  int64_t idx[LF_ND_MAX_NDIM] = {0};
  int last = a->ndim - 1;
  int64_t off = a->offset;
  for (;;) {
    int64_t st = a->strides[last];
    for (int64_t i = 0; i < a->shape[last]; i++) {
      fn(off + i * st, ctx);
    }
    int k = last - 1;
    while (k >= 0) {
      idx[k]++;
      off += a->strides[k];
      if (idx[k] < a->shape[k]) {
        break;
      }
      off -= idx[k] * a->strides[k];
      idx[k] = 0;
      k--;
    }
    if (k < 0) {
      return;
    }
  }
}

// Walks two arrays of the same shape together.
static void foreach2(const lf_nd *a, const lf_nd *b,
                     void (*fn)(int64_t oa, int64_t ob, void *ctx), void *ctx)
{
  int64_t n = lf_nd_size(a);
  if (n == 0) {
    return;
  }
  if (a->ndim == 0) {
    fn(a->offset, b->offset, ctx);
    return;
  }
  int64_t idx[LF_ND_MAX_NDIM] = {0};
  int last = a->ndim - 1;
  int64_t oa = a->offset;
  int64_t ob = b->offset;
  for (;;) {
    for (int64_t i = 0; i < a->shape[last]; i++) {
      fn(oa + i * a->strides[last], ob + i * b->strides[last], ctx);
    }
    int k = last - 1;
    while (k >= 0) {
      idx[k]++;
      oa += a->strides[k];
      ob += b->strides[k];
      if (idx[k] < a->shape[k]) {
        break;
      }
      oa -= idx[k] * a->strides[k];
      ob -= idx[k] * b->strides[k];
      idx[k] = 0;
      k--;
    }
    if (k < 0) {
      return;
    }
  }
}

typedef struct assign_ctx {
  lf_nd *dst;
  const lf_nd *src;
  bool eq;
} assign_ctx;

static void assign_one(int64_t od, int64_t os, void *vctx)
{
  assign_ctx *c = vctx;
  if (lf_nd_is_float(c->dst->dtype) || lf_nd_is_float(c->src->dtype)) {
    lf_nd_set_f(c->dst, od, lf_nd_get_f(c->src, os));
  } else {
    lf_nd_set_i(c->dst, od, lf_nd_get_i(c->src, os));
  }
}

void lf_nd_assign(lf_nd *dst, const lf_nd *src)
{
  if (dst->dtype == src->dtype && lf_nd_is_contig(dst) && lf_nd_is_contig(src)) {
    size_t isz = lf_nd_itemsize(dst->dtype);
    memmove(lf_nd_ptr(dst, dst->offset), lf_nd_ptr(src, src->offset),
            (size_t)lf_nd_size(dst) * isz);
    return;
  }
  assign_ctx c = {dst, src, true};
  foreach2(dst, src, assign_one, &c);
}

typedef struct fill_ctx {
  lf_nd *dst;
  double x;
} fill_ctx;

static void fill_one(int64_t off, void *vctx)
{
  fill_ctx *c = vctx;
  lf_nd_set_f(c->dst, off, c->x);
}

void lf_nd_fill(lf_nd *dst, double x)
{
  int64_t n = lf_nd_size(dst);
  if (lf_nd_is_contig(dst) && dst->dtype == LF_ND_F64) {
    double *p = lf_nd_ptr(dst, dst->offset);
    for (int64_t i = 0; i < n; i++) {
      p[i] = x;
    }
    return;
  }
  fill_ctx c = {dst, x};
  lf_nd_foreach(dst, fill_one, &c);
}

lf_status lf_nd_copy(lf_nd *dst, const lf_nd *src, lf_nd_dtype dt, lf_err *err)
{
  lf_status st = lf_nd_init(dst, dt, src->ndim, src->shape, false, err);
  if (st != LF_OK) {
    return st;
  }
  lf_nd_assign(dst, src);
  return LF_OK;
}

lf_status lf_nd_contig(lf_nd *out, const lf_nd *a, lf_nd_dtype dt, lf_err *err)
{
  if (a->dtype == dt && lf_nd_is_contig(a)) {
    lf_nd_view(out, a);
    contig_strides(out);
    return LF_OK;
  }
  return lf_nd_copy(out, a, dt, err);
}

lf_status lf_nd_reshape(lf_nd *out, const lf_nd *a, int ndim, const int64_t *shape, lf_err *err)
{
  if (ndim < 0 || ndim > LF_ND_MAX_NDIM) {
    return LF_ERR(err, LF_ERR_USAGE, "an array has 0 to %d dimensions, not %d", LF_ND_MAX_NDIM,
                  ndim);
  }
  int64_t sh[LF_ND_MAX_NDIM];
  int infer = -1;
  int64_t known = 1;
  int64_t nonzero = 1; // product of the non-zero dimensions, bounded as lf_nd_init bounds it
  for (int k = 0; k < ndim; k++) {
    sh[k] = shape[k];
    if (shape[k] == -1 && infer < 0) {
      infer = k;
      continue;
    }
    if (shape[k] < 0) {
      return LF_ERR(err, LF_ERR_USAGE, "bad dimension %lld in reshape", (long long)shape[k]);
    }
    if (shape[k] != 0 && (shape[k] > LF_ND_MAX_ELEMS || nonzero > LF_ND_MAX_ELEMS / shape[k])) {
      return LF_ERR(err, LF_ERR_USAGE, "reshape: shape too large");
    }
    nonzero *= shape[k] != 0 ? shape[k] : 1;
    known *= shape[k];
  }
  int64_t n = lf_nd_size(a);
  if (infer >= 0) {
    if (known == 0 || n % known != 0) {
      return LF_ERR(err, LF_ERR_USAGE, "cannot reshape an array of %lld elements: -1 cannot "
                    "be inferred", (long long)n);
    }
    sh[infer] = n / known;
    known = n;
  }
  if (known != n) {
    char from[64];
    lf_nd_shape_str(a, from, sizeof(from));
    return LF_ERR(err, LF_ERR_USAGE, "cannot reshape an array of shape %s (%lld elements) "
                  "into %lld elements", from, (long long)n, (long long)known);
  }
  lf_nd src;
  lf_status st = lf_nd_contig(&src, a, a->dtype, err);
  if (st != LF_OK) {
    return st;
  }
  out->dtype = src.dtype;
  out->ndim = ndim;
  for (int k = 0; k < ndim; k++) {
    out->shape[k] = sh[k];
  }
  contig_strides(out);
  out->offset = src.offset;
  out->buf = src.buf; // takes src's reference
  return LF_OK;
}

lf_status lf_nd_transpose(lf_nd *a, const int *perm, lf_err *err)
{
  int64_t sh[LF_ND_MAX_NDIM];
  int64_t st[LF_ND_MAX_NDIM];
  bool used[LF_ND_MAX_NDIM] = {false};
  for (int k = 0; k < a->ndim; k++) {
    int p = perm != NULL ? perm[k] : a->ndim - 1 - k;
    if (p < 0 || p >= a->ndim || used[p]) {
      return LF_ERR(err, LF_ERR_USAGE, "transpose: axes are not a permutation of 1..%d",
                    a->ndim);
    }
    used[p] = true;
    sh[k] = a->shape[p];
    st[k] = a->strides[p];
  }
  for (int k = 0; k < a->ndim; k++) {
    a->shape[k] = sh[k];
    a->strides[k] = st[k];
  }
  return LF_OK;
}

void lf_nd_slice_axis(lf_nd *a, int axis, int64_t start, int64_t count, int64_t step)
{
  a->offset += start * a->strides[axis];
  a->shape[axis] = count;
  a->strides[axis] *= step;
}

void lf_nd_select_axis(lf_nd *a, int axis, int64_t i)
{
  a->offset += i * a->strides[axis];
  for (int k = axis; k < a->ndim - 1; k++) {
    a->shape[k] = a->shape[k + 1];
    a->strides[k] = a->strides[k + 1];
  }
  a->ndim--;
}

void lf_nd_shape_str(const lf_nd *a, char *out, size_t size)
{
  if (size == 0) {
    return;
  }
  out[0] = '\0';
  if (a->ndim == 0) {
    snprintf(out, size, "scalar");
    return;
  }
  size_t n = 0;
  for (int k = 0; k < a->ndim && n < size; k++) {
    int w = snprintf(out + n, size - n, "%s%lld", k > 0 ? "x" : "", (long long)a->shape[k]);
    if (w < 0) {
      return;
    }
    n += (size_t)w;
  }
}

static void equal_one(int64_t oa, int64_t ob, void *vctx)
{
  assign_ctx *c = vctx;
  if (!c->eq) {
    return;
  }
  const lf_nd *a = c->dst;
  const lf_nd *b = c->src;
  if (lf_nd_is_float(a->dtype) || lf_nd_is_float(b->dtype)) {
    double x = lf_nd_get_f(a, oa);
    double y = lf_nd_get_f(b, ob);
    c->eq = x == y || (isnan(x) && isnan(y));
  } else {
    c->eq = lf_nd_get_i(a, oa) == lf_nd_get_i(b, ob);
  }
}

bool lf_nd_equal(const lf_nd *a, const lf_nd *b)
{
  if (a->ndim != b->ndim) {
    return false;
  }
  for (int k = 0; k < a->ndim; k++) {
    if (a->shape[k] != b->shape[k]) {
      return false;
    }
  }
  assign_ctx c = {(lf_nd *)a, b, true};
  foreach2(a, b, equal_one, &c);
  return c.eq;
}
