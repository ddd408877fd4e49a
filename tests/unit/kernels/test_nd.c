// SPDX-License-Identifier: MIT
// Unit tests of kernels/nd.h and nd_ops.h: views, reshape/transpose/slices, broadcasting
// arithmetic, reductions, argsort/top-k, matmul/dot and the seeded generator, on small
// hand-computed cases.
#include <math.h>

#include "core/alloc.h"
#include "kernels/nd.h"
#include "kernels/nd_ops.h"
#include "testhelp.h"

static lf_nd make(lf_nd_dtype dt, int ndim, const int64_t *shape, const double *v)
{
  lf_nd a;
  lf_err err;
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_nd_init(&a, dt, ndim, shape, false, &err), LF_OK);
  for (int64_t i = 0; i < lf_nd_size(&a); i++) {
    lf_nd_set_f(&a, i, v[i]);
  }
  return a;
}

static double at(const lf_nd *a, int64_t i, int64_t j)
{
  int64_t idx[2] = {i, j};
  return lf_nd_get_f(a, lf_nd_offset_of(a, idx));
}

static void test_buffers_and_views(void)
{
  lf_err err;
  lf_err_clear(&err);
  lf_nd a;
  int64_t sh[2] = {2, 3};
  CHECK_EQ_INT(lf_nd_init(&a, LF_ND_F64, 2, sh, true, &err), LF_OK);
  CHECK(((uintptr_t)a.buf->data % LF_ND_ALIGN) == 0);
  CHECK(a.buf->headroom >= LF_ND_HEADROOM);
  CHECK_EQ_INT(lf_nd_size(&a), 6);
  CHECK(lf_nd_is_contig(&a));
  lf_nd v;
  lf_nd_view(&v, &a);
  CHECK_EQ_INT(a.buf->refs, 2);
  CHECK_EQ_INT(lf_nd_transpose(&v, NULL, &err), LF_OK);
  CHECK(!lf_nd_is_contig(&v));
  lf_nd_set_f(&a, 1, 5.0); // a[0][1]
  CHECK(at(&v, 1, 0) == 5.0);
  lf_nd_release(&v);
  CHECK_EQ_INT(a.buf->refs, 1);
  int bad[2] = {0, 0};
  CHECK_EQ_INT(lf_nd_transpose(&a, bad, &err), LF_ERR_USAGE);
  // reshape with -1 and a size mismatch
  lf_nd r;
  int64_t rs[2] = {-1, 2};
  CHECK_EQ_INT(lf_nd_reshape(&r, &a, 2, rs, &err), LF_OK);
  CHECK_EQ_INT(r.shape[0], 3);
  CHECK(r.buf == a.buf); // contiguous: a view, not a copy
  lf_nd_release(&r);
  int64_t rs2[1] = {5};
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_nd_reshape(&r, &a, 1, rs2, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "cannot reshape an array of shape 2x3");
  // slices: every second column, reversed rows
  lf_nd s;
  lf_nd_view(&s, &a);
  lf_nd_slice_axis(&s, 1, 0, 2, 2);
  lf_nd_slice_axis(&s, 0, 1, 2, -1);
  lf_nd_set_f(&a, 5, 9.0); // a[1][2]
  CHECK(at(&s, 0, 1) == 9.0);
  lf_nd_select_axis(&s, 0, 1);
  CHECK_EQ_INT(s.ndim, 1);
  CHECK(lf_nd_get_f(&s, s.offset + s.strides[0]) == 0.0);
  lf_nd_release(&s);
  char shape[32];
  lf_nd_shape_str(&a, shape, sizeof(shape));
  CHECK_STR(shape, "2x3");
  lf_nd_release(&a);
  lf_nd_release(&a); // idempotent
  // sizes past the limit are refused before allocating
  int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 10};
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_nd_init(&a, LF_ND_U8, 2, huge, false, &err), LF_ERR_USAGE);
  CHECK(a.buf == NULL);
  // an empty array is bounded by its non-zero dimensions too, so no product overflows
  int64_t empty_huge[3] = {0, (int64_t)1 << 40, (int64_t)1 << 10};
  CHECK_EQ_INT(lf_nd_init(&a, LF_ND_U8, 3, empty_huge, false, &err), LF_ERR_USAGE);
  int64_t empty_ok[3] = {(int64_t)1 << 30, 0, (int64_t)1 << 10};
  CHECK_EQ_INT(lf_nd_init(&a, LF_ND_U8, 3, empty_ok, false, &err), LF_OK);
  CHECK_EQ_INT(lf_nd_size(&a), 0);
  CHECK(lf_nd_is_contig(&a));
  lf_nd_release(&a);
  // conversions: float to int truncates, NaN gives 0, i32 wraps
  int64_t one = 1;
  CHECK_EQ_INT(lf_nd_init(&a, LF_ND_I32, 1, &one, false, &err), LF_OK);
  lf_nd_set_f(&a, 0, -2.7);
  CHECK_EQ_INT(lf_nd_get_i(&a, 0), -2);
  lf_nd_set_f(&a, 0, NAN);
  CHECK_EQ_INT(lf_nd_get_i(&a, 0), 0);
  lf_nd_set_i(&a, 0, ((int64_t)1 << 32) + 5);
  CHECK_EQ_INT(lf_nd_get_i(&a, 0), 5);
  lf_nd_release(&a);
  CHECK_EQ_INT(lf_nd_dtype_parse("float32"), LF_ND_F32);
  CHECK_EQ_INT(lf_nd_dtype_parse("complex"), -1);
  CHECK_STR(lf_nd_dtype_name(LF_ND_U8), "u8");
}

static void test_binary(void)
{
  lf_err err;
  lf_err_clear(&err);
  int64_t s23[2] = {2, 3};
  int64_t s3[1] = {3};
  double va[] = {1, 2, 3, 4, 5, 6};
  double vb[] = {10, 20, 30};
  lf_nd a = make(LF_ND_I64, 2, s23, va);
  lf_nd b = make(LF_ND_F64, 1, s3, vb);
  lf_nd c;
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_ADD, &a, &b, &err), LF_OK); // broadcast rows
  CHECK_EQ_INT(c.dtype, LF_ND_F64);
  CHECK(at(&c, 1, 2) == 36);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_IDIV, &a, &a, &err), LF_OK);
  CHECK_EQ_INT(c.dtype, LF_ND_I64);
  CHECK(at(&c, 0, 0) == 1);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_DIV, &a, &a, &err), LF_OK);
  CHECK_EQ_INT(c.dtype, LF_ND_F64);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_GT, &a, &b, &err), LF_OK);
  CHECK_EQ_INT(c.dtype, LF_ND_U8);
  CHECK(at(&c, 0, 0) == 0);
  lf_nd_release(&c);
  // floored modulo and division like Lua
  double vn[] = {-7, 7, -7};
  double vd[] = {2, -2, -2};
  lf_nd n = make(LF_ND_I64, 1, s3, vn);
  lf_nd d = make(LF_ND_I64, 1, s3, vd);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_MOD, &n, &d, &err), LF_OK);
  CHECK_EQ_INT(lf_nd_get_i(&c, 0), 1);
  CHECK_EQ_INT(lf_nd_get_i(&c, 1), -1);
  CHECK_EQ_INT(lf_nd_get_i(&c, 2), -1);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_IDIV, &n, &d, &err), LF_OK);
  CHECK_EQ_INT(lf_nd_get_i(&c, 0), -4);
  lf_nd_release(&c);
  lf_nd_set_i(&d, 1, 0);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_IDIV, &n, &d, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "integer division by zero");
  CHECK(c.buf == NULL);
  // shapes that do not broadcast
  int64_t s2[1] = {2};
  lf_nd e = make(LF_ND_F64, 1, s2, vb);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_nd_binary(&c, LF_ND_ADD, &a, &e, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "shape mismatch: 2x3 and 2 do not broadcast");
  // unary
  CHECK_EQ_INT(lf_nd_unary(&c, LF_ND_NEG, &a, &err), LF_OK);
  CHECK(at(&c, 1, 1) == -5);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_unary(&c, LF_ND_SQRT, &a, &err), LF_OK);
  CHECK(fabs(at(&c, 1, 0) - 2.0) < 1e-12);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_binop_dtype(LF_ND_ADD, LF_ND_F32, LF_ND_U8), LF_ND_F32);
  CHECK_EQ_INT(lf_nd_binop_dtype(LF_ND_ADD, LF_ND_F32, LF_ND_I32), LF_ND_F64);
  CHECK_EQ_INT(lf_nd_binop_dtype(LF_ND_MUL, LF_ND_U8, LF_ND_I32), LF_ND_I32);
  lf_nd_release(&a);
  lf_nd_release(&b);
  lf_nd_release(&n);
  lf_nd_release(&d);
  lf_nd_release(&e);
}

static void test_reduce_sort(void)
{
  lf_err err;
  lf_err_clear(&err);
  int64_t s23[2] = {2, 3};
  double va[] = {3, 1, 2, 6, 5, 4};
  lf_nd a = make(LF_ND_F64, 2, s23, va);
  lf_nd r;
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_SUM, &a, 0, &err), LF_OK); // column sums
  CHECK(lf_nd_get_f(&r, 0) == 9 && lf_nd_get_f(&r, 1) == 6 && lf_nd_get_f(&r, 2) == 6);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_MAX_R, &a, 1, &err), LF_OK); // row maxima
  CHECK(lf_nd_get_f(&r, 0) == 3 && lf_nd_get_f(&r, 1) == 6);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_ARGMIN, &a, 1, &err), LF_OK);
  CHECK_EQ_INT(lf_nd_get_i(&r, 0), 1);
  CHECK_EQ_INT(lf_nd_get_i(&r, 1), 2);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_MEAN, &a, -1, &err), LF_OK);
  CHECK(lf_nd_get_f(&r, 0) == 3.5);
  lf_nd_release(&r);
  lf_nd t;
  lf_nd_view(&t, &a);
  lf_nd_transpose(&t, NULL, &err);
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_SUM, &t, 0, &err), LF_OK); // row sums via the view
  CHECK(lf_nd_get_f(&r, 0) == 6 && lf_nd_get_f(&r, 1) == 15);
  lf_nd_release(&r);
  lf_nd_release(&t);
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_SUM, &a, 2, &err), LF_ERR_USAGE);
  int64_t z = 0;
  lf_nd empty = make(LF_ND_F64, 1, &z, va);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_nd_reduce(&r, LF_ND_MIN_R, &empty, -1, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "min of an empty array");
  lf_nd_release(&empty);
  // argsort: stable, NaN last; descending
  int64_t s5 = 5;
  double vs[] = {2, NAN, 1, 2, 0};
  lf_nd v = make(LF_ND_F64, 1, &s5, vs);
  CHECK_EQ_INT(lf_nd_argsort(&r, &v, false, 1, &err), LF_OK);
  int64_t *o = lf_nd_ptr(&r, 0);
  CHECK(o[0] == 5 && o[1] == 3 && o[2] == 1 && o[3] == 4 && o[4] == 2);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_argsort(&r, &v, true, 0, &err), LF_OK);
  o = lf_nd_ptr(&r, 0);
  CHECK(o[0] == 0 && o[1] == 3 && o[2] == 2 && o[3] == 4 && o[4] == 1);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_topk(&r, &v, 2, false, 0, &err), LF_OK); // ties by position
  o = lf_nd_ptr(&r, 0);
  CHECK(r.shape[0] == 2 && o[0] == 0 && o[1] == 3);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_topk(&r, &v, 9, true, 0, &err), LF_OK); // clamped, smallest first
  o = lf_nd_ptr(&r, 0);
  CHECK(r.shape[0] == 5 && o[0] == 4 && o[4] == 1);
  lf_nd_release(&r);
  CHECK_EQ_INT(lf_nd_topk(&r, &a, 1, false, 0, &err), LF_OK); // per row of a 2-D array
  o = lf_nd_ptr(&r, 0);
  CHECK(r.ndim == 2 && o[0] == 0 && o[1] == 0);
  lf_nd_release(&r);
  lf_nd_release(&v);
  lf_nd_release(&a);
}

static void test_matmul(void)
{
  lf_err err;
  lf_err_clear(&err);
  int64_t s23[2] = {2, 3};
  int64_t s32[2] = {3, 2};
  double va[] = {1, 2, 3, 4, 5, 6};
  double vb[] = {7, 8, 9, 10, 11, 12};
  lf_nd a = make(LF_ND_F64, 2, s23, va);
  lf_nd b = make(LF_ND_F64, 2, s32, vb);
  lf_nd c;
  CHECK_EQ_INT(lf_nd_matmul(&c, &a, &b, 2, &err), LF_OK);
  CHECK(at(&c, 0, 0) == 58 && at(&c, 0, 1) == 64 && at(&c, 1, 0) == 139 && at(&c, 1, 1) == 154);
  lf_nd_release(&c);
  lf_nd ai = make(LF_ND_I32, 2, s23, va);
  CHECK_EQ_INT(lf_nd_matmul(&c, &ai, &ai, 1, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "inner dimensions 3 and 2 differ");
  lf_nd t;
  lf_nd_view(&t, &ai);
  lf_nd_transpose(&t, NULL, &err);
  CHECK_EQ_INT(lf_nd_matmul(&c, &ai, &t, 1, &err), LF_OK); // a a^T in integers
  CHECK_EQ_INT(c.dtype, LF_ND_I64);
  CHECK(at(&c, 0, 1) == 32 && at(&c, 1, 1) == 77);
  lf_nd_release(&c);
  // a larger product, blocked and threaded, against the naive sum
  int64_t sh[2] = {70, 300};
  int64_t sh2[2] = {300, 600};
  lf_nd x;
  lf_nd y;
  lf_nd_init(&x, LF_ND_F64, 2, sh, false, &err);
  lf_nd_init(&y, LF_ND_F64, 2, sh2, false, &err);
  lf_rng rng;
  lf_rng_seed(&rng, 7);
  lf_nd_random(&x, &rng, false, -1, 1);
  lf_nd_random(&y, &rng, true, 0, 1);
  CHECK_EQ_INT(lf_nd_matmul(&c, &x, &y, 2, &err), LF_OK);
  double s = 0;
  for (int64_t k = 0; k < 300; k++) {
    s += at(&x, 69, k) * at(&y, k, 599);
  }
  CHECK(fabs(at(&c, 69, 599) - s) < 1e-9);
  lf_nd_release(&c);
  int64_t s3 = 3;
  lf_nd u = make(LF_ND_F64, 1, &s3, va);
  lf_nd w = make(LF_ND_F64, 1, &s3, vb);
  double dot = 0;
  CHECK_EQ_INT(lf_nd_dot(&dot, &u, &w, &err), LF_OK);
  CHECK(dot == 50);
  CHECK_EQ_INT(lf_nd_matmul(&c, &u, &b, 1, &err), LF_OK); // vector times matrix
  CHECK(c.ndim == 1 && lf_nd_get_f(&c, 0) == 58);
  lf_nd_release(&c);
  CHECK_EQ_INT(lf_nd_dot(&dot, &u, &a, &err), LF_ERR_USAGE);
  lf_nd_release(&u);
  lf_nd_release(&w);
  lf_nd_release(&x);
  lf_nd_release(&y);
  lf_nd_release(&t);
  lf_nd_release(&ai);
  lf_nd_release(&a);
  lf_nd_release(&b);
}

static void test_rng(void)
{
  lf_rng a;
  lf_rng b;
  lf_rng_seed(&a, 42);
  lf_rng_seed(&b, 42);
  CHECK(lf_rng_next(&a) == lf_rng_next(&b));
  lf_rng_seed(&b, 43);
  CHECK(lf_rng_next(&a) != lf_rng_next(&b));
  double sum = 0;
  double sq = 0;
  for (int i = 0; i < 20000; i++) {
    double u = lf_rng_uniform(&a);
    CHECK(u >= 0 && u < 1 ? 1 : 0);
    double z = lf_rng_normal(&a);
    sum += z;
    sq += z * z;
    CHECK(lf_rng_below(&a, 3) < 3);
  }
  CHECK(fabs(sum / 20000) < 0.05);
  CHECK(fabs(sq / 20000 - 1) < 0.05);
}

int main(void)
{
  test_buffers_and_views();
  test_binary();
  test_reduce_sort();
  test_matmul();
  test_rng();
  return TEST_REPORT();
}
