// SPDX-License-Identifier: MIT
// Unit tests of kernels/csr.h, cooc.h, textvec.h and kmeans.h on small hand-computed cases.
#include <math.h>
#include <stdio.h>

#include "core/alloc.h"
#include "kernels/cooc.h"
#include "kernels/csr.h"
#include "kernels/kmeans.h"
#include "kernels/textvec.h"
#include "testhelp.h"

static lf_nd dense(int64_t r, int64_t c, const double *v)
{
  lf_nd a;
  int64_t sh[2] = {r, c};
  lf_nd_init(&a, LF_ND_F64, 2, sh, false, NULL);
  for (int64_t i = 0; i < r * c; i++) {
    lf_nd_set_f(&a, i, v[i]);
  }
  return a;
}

static void test_csr(void)
{
  lf_err err;
  lf_err_clear(&err);
  double v[] = {1, 0, 2, 0, 0, 0, 0, 3, 4};
  lf_nd a = dense(3, 3, v);
  lf_csr m;
  CHECK_EQ_INT(lf_csr_from_dense(&m, &a, &err), LF_OK);
  CHECK_EQ_INT(lf_csr_nnz(&m), 4);
  const int64_t *ip = lf_csr_indptr(&m);
  CHECK(ip[0] == 0 && ip[1] == 2 && ip[2] == 2 && ip[3] == 4);
  CHECK_EQ_INT(lf_csr_check(ip, lf_csr_indices(&m), 3, 3, 4, &err), LF_OK);
  lf_nd s;
  CHECK_EQ_INT(lf_csr_sum(&s, &m, 0, &err), LF_OK);
  CHECK(lf_nd_get_f(&s, 0) == 1 && lf_nd_get_f(&s, 1) == 3 && lf_nd_get_f(&s, 2) == 6);
  lf_nd_release(&s);
  CHECK_EQ_INT(lf_csr_sum(&s, &m, 1, &err), LF_OK);
  CHECK(lf_nd_get_f(&s, 0) == 3 && lf_nd_get_f(&s, 1) == 0 && lf_nd_get_f(&s, 2) == 7);
  lf_nd_release(&s);
  CHECK_EQ_INT(lf_csr_sum(&s, &m, -1, &err), LF_OK);
  CHECK(lf_nd_get_f(&s, 0) == 10);
  lf_nd_release(&s);
  lf_nd back;
  CHECK_EQ_INT(lf_csr_to_dense(&back, &m, &err), LF_OK);
  CHECK(lf_nd_equal(&back, &a));
  lf_nd_release(&back);
  int64_t sel[3] = {2, 0, 2};
  lf_csr r;
  CHECK_EQ_INT(lf_csr_take_rows(&r, &m, sel, 3, &err), LF_OK);
  CHECK_EQ_INT(r.rows, 3);
  CHECK_EQ_INT(lf_csr_nnz(&r), 6);
  CHECK_EQ_INT(lf_csr_indices(&r)[0], 1);
  lf_csr_release(&r);
  sel[1] = 3;
  CHECK_EQ_INT(lf_csr_take_rows(&r, &m, sel, 3, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "row 4 out of range");
  CHECK_EQ_INT(lf_csr_row_range(&r, &m, 1, 3, &err), LF_OK);
  CHECK_EQ_INT(lf_csr_nnz(&r), 2);
  lf_csr_release(&r);
  CHECK_EQ_INT(lf_csr_transpose(&r, &m, &err), LF_OK);
  CHECK_EQ_INT(lf_csr_to_dense(&back, &r, &err), LF_OK);
  CHECK(lf_nd_get_f(&back, 2 * 3 + 0) == 2 && lf_nd_get_f(&back, 1 * 3 + 2) == 3);
  lf_nd_release(&back);
  lf_csr_release(&r);
  // structure violations
  int64_t bip[3] = {0, 2, 2};
  int32_t bix[2] = {1, 1};
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_csr_check(bip, bix, 2, 3, 2, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "not strictly increasing");
  bix[1] = 5;
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_csr_check(bip, bix, 2, 3, 2, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "out of range");
  lf_csr_release(&m);
  lf_nd_release(&a);
}

static void test_cooc(void)
{
  lf_err err;
  lf_err_clear(&err);
  // documents: {0,1}, {1,2}, {0,1,2}, {}
  double v[] = {1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0};
  lf_nd a = dense(4, 3, v);
  lf_csr b;
  lf_csr_from_dense(&b, &a, &err);
  int expect[9] = {2, 2, 1, 2, 3, 2, 1, 2, 2};
  for (int nt = 1; nt <= 3; nt++) {
    lf_nd c;
    CHECK_EQ_INT(lf_cooc(&b, LF_COOC_DENSE, nt, &c, NULL, &err), LF_OK);
    for (int i = 0; i < 9; i++) {
      CHECK_EQ_INT(lf_nd_get_i(&c, i), expect[i]);
    }
    lf_nd_release(&c);
    CHECK_EQ_INT(lf_cooc(&b, LF_COOC_UPPER, nt, &c, NULL, &err), LF_OK);
    CHECK_EQ_INT(lf_nd_get_i(&c, 1), 2);
    CHECK_EQ_INT(lf_nd_get_i(&c, 3), 0); // below the diagonal
    lf_nd_release(&c);
    lf_csr s;
    CHECK_EQ_INT(lf_cooc(&b, LF_COOC_SPARSE, nt, NULL, &s, &err), LF_OK);
    CHECK_EQ_INT(lf_csr_to_dense(&c, &s, &err), LF_OK);
    for (int i = 0; i < 9; i++) {
      CHECK_EQ_INT(lf_nd_get_i(&c, i), expect[i]);
    }
    CHECK_EQ_INT(lf_csr_check(lf_csr_indptr(&s), lf_csr_indices(&s), 3, 3, lf_csr_nnz(&s), &err),
                 LF_OK);
    lf_nd_release(&c);
    lf_csr_release(&s);
  }
  lf_csr_release(&b);
  lf_nd_release(&a);
}

static void test_textvec(void)
{
  lf_err err;
  lf_err_clear(&err);
  lf_textvec_opts o;
  lf_textvec_opts_default(&o);
  lf_textvec *v = lf_textvec_new(&o);
  const char *docs[] = {"The cat, the HAT!", "a cat_2 sat", "hat hat x"};
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(lf_textvec_add(v, docs[i], strlen(docs[i]), &err), LF_OK);
  }
  lf_csr m;
  CHECK_EQ_INT(lf_textvec_finish(v, &m, &err), LF_OK);
  // vocabulary sorted: cat, cat_2, hat, sat, the ("a" and "x" are too short)
  CHECK_EQ_INT(lf_textvec_nterms(v), 5);
  size_t len;
  const char *t = lf_textvec_term(v, 1, &len);
  CHECK(len == 5 && memcmp(t, "cat_2", 5) == 0);
  lf_nd d;
  lf_csr_to_dense(&d, &m, &err);
  int64_t expect[15] = {1, 0, 1, 0, 2, 0, 1, 0, 1, 0, 0, 0, 2, 0, 0};
  for (int i = 0; i < 15; i++) {
    CHECK_EQ_INT(lf_nd_get_i(&d, i), expect[i]);
  }
  lf_nd_release(&d);
  lf_csr_release(&m);
  lf_textvec_free(v);
  // min_df as a count, max_df as a fraction, binary
  o.min_df = 2;
  o.max_df = 0.5;
  o.binary = true;
  v = lf_textvec_new(&o);
  const char *d2[] = {"aa bb bb", "aa cc", "bb cc dd", "zz zz"};
  for (int i = 0; i < 4; i++) {
    lf_textvec_add(v, d2[i], strlen(d2[i]), &err);
  }
  CHECK_EQ_INT(lf_textvec_finish(v, &m, &err), LF_OK);
  CHECK_EQ_INT(lf_textvec_nterms(v), 3); // aa, bb, cc: df 2 each; dd and zz: df 1
  lf_csr_to_dense(&d, &m, &err);
  CHECK_EQ_INT(lf_nd_get_i(&d, 1), 1); // bb counted once
  lf_nd_release(&d);
  lf_csr_release(&m);
  lf_textvec_free(v);
  // nothing left after pruning
  o.min_df = 2;
  o.max_df = 1.0;
  v = lf_textvec_new(&o);
  lf_textvec_add(v, "aa bb", 5, &err);
  lf_textvec_add(v, "cc dd", 5, &err);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_textvec_finish(v, &m, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "no terms remain");
  lf_textvec_free(v);
  // a file, line by line, with a document limit; a missing file
  char path[256];
  snprintf(path, sizeof(path), "%s/textvec_test.txt", getenv("LF_TEST_TMP") ? getenv("LF_TEST_TMP") : "/tmp");
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    snprintf(path, sizeof(path), "/tmp/textvec_test.txt");
    f = fopen(path, "w");
  }
  fputs("aa bb\nbb cc\ndd ee\n", f);
  fclose(f);
  lf_textvec_opts_default(&o);
  v = lf_textvec_new(&o);
  CHECK_EQ_INT(lf_textvec_add_file(v, path, 2, &err), LF_OK);
  CHECK_EQ_INT(lf_textvec_ndocs(v), 2);
  CHECK_EQ_INT(lf_textvec_finish(v, &m, &err), LF_OK);
  CHECK_EQ_INT(lf_textvec_nterms(v), 3);
  lf_csr_release(&m);
  lf_textvec_free(v);
  remove(path);
  v = lf_textvec_new(&o);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_textvec_add_file(v, "/nonexistent/x.txt", -1, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "cannot open '/nonexistent/x.txt'");
  lf_textvec_free(v);
}

static void test_kmeans(void)
{
  lf_err err;
  lf_err_clear(&err);
  // two obvious groups
  double v[] = {0, 0, 0, 1, 1, 0, 10, 10, 10, 11, 11, 10};
  lf_nd a = dense(6, 2, v);
  lf_kmeans_opts o;
  lf_kmeans_opts_default(&o);
  o.k = 2;
  o.seed = 3;
  lf_kmeans_result r;
  CHECK_EQ_INT(lf_kmeans(&a, NULL, &o, &r, &err), LF_OK);
  const int64_t *lab = lf_nd_ptr(&r.labels, 0);
  CHECK(lab[0] == lab[1] && lab[1] == lab[2] && lab[3] == lab[4] && lab[4] == lab[5]);
  CHECK(lab[0] != lab[3]);
  // each group: centroid (1/3, 1/3) and squared distances 2/9 + 5/9 + 5/9 = 4/3
  CHECK(fabs(r.inertia - 8.0 / 3.0) < 1e-9);
  double c0 = lf_nd_get_f(&r.centers, lab[0] * 2);
  CHECK(fabs(c0 - 1.0 / 3.0) < 1e-12);
  lf_nd_release(&r.labels);
  lf_nd_release(&r.centers);
  // the same through CSR
  lf_csr m;
  lf_csr_from_dense(&m, &a, &err);
  CHECK_EQ_INT(lf_kmeans(NULL, &m, &o, &r, &err), LF_OK);
  CHECK(fabs(r.inertia - 8.0 / 3.0) < 1e-9);
  lf_nd sums;
  CHECK_EQ_INT(lf_kmeans_cluster_sums(&m, lf_nd_ptr(&r.labels, 0), 2, &sums, &err), LF_OK);
  lab = lf_nd_ptr(&r.labels, 0);
  CHECK(lf_nd_get_f(&sums, lab[3] * 2) == 31);
  lf_nd_release(&sums);
  lf_nd_release(&r.labels);
  lf_nd_release(&r.centers);
  // k > rows, NaN
  o.k = 7;
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_kmeans(&a, NULL, &o, &r, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "k = 7 must be between 1 and the number of rows (6)");
  o.k = 2;
  lf_nd_set_f(&a, 3, NAN);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_kmeans(&a, NULL, &o, &r, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "NaN");
  CHECK(r.labels.buf == NULL);
  lf_csr_release(&m);
  lf_nd_release(&a);
}

int main(void)
{
  test_csr();
  test_cooc();
  test_textvec();
  test_kmeans();
  return TEST_REPORT();
}
