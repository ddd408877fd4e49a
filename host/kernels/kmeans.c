// SPDX-License-Identifier: MIT
// This file contains the k-means of kernels/kmeans.h. Distances use
// ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 with the row norms computed once. For sparse rows the
// centers are kept transposed (cols x k) so one pass over a row's entries accumulates its dot
// products with all centers from contiguous memory. Each pass splits the rows over threads;
// partial center sums are per thread and added afterwards, so runs are deterministic for a
// given thread count.
#include "kernels/kmeans.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/nd_ops.h"
#include "kernels/par.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

typedef struct km {
  int64_t n;
  int64_t d;
  int64_t k;
  const double *X;     // dense rows (n x d), or NULL
  const int64_t *ip;   // sparse
  const int32_t *ix;
  double *val;         // sparse values as doubles [nnz]
  double *xnorm;       // [n]
  double *C;           // centers k x d
  double *CT;          // centers transposed d x k (sparse)
  double *cnorm;       // [k]
  int64_t *labels;     // [n]
  double *dist;        // [n] squared distance to the assigned center
  int nt;
  double *tsums;       // per thread k x d
  int64_t *tcounts;    // per thread k
  int64_t *tchanged;   // per thread
  double *tinertia;    // per thread
  bool update;         // assignment pass also accumulates sums
} km;

void lf_kmeans_opts_default(lf_kmeans_opts *o)
{
  o->k = 8;
  o->n_init = 1;
  o->max_iter = 300;
  o->tol = 1e-4;
  o->seed = 0;
  o->threads = 1;
}

// x . c for row i and a dense vector c of length d.
static inline double row_dot(const km *m, int64_t i, const double *c)
{
  double s = 0;
  if (m->X != NULL) {
    const double *x = m->X + i * m->d;
    for (int64_t j = 0; j < m->d; j++) {
      s += x[j] * c[j];
    }
    return s;
  }
  for (int64_t p = m->ip[i]; p < m->ip[i + 1]; p++) {
    s += m->val[p] * c[m->ix[p]];
  }
  return s;
}

// Adds row i into the vector s (length d).
static inline void row_add(const km *m, int64_t i, double *s)
{
  if (m->X != NULL) {
    const double *x = m->X + i * m->d;
    for (int64_t j = 0; j < m->d; j++) {
      s[j] += x[j];
    }
    return;
  }
  for (int64_t p = m->ip[i]; p < m->ip[i + 1]; p++) {
    s[m->ix[p]] += m->val[p];
  }
}

// Copies row i into the dense vector c (length d).
static void row_dense(const km *m, int64_t i, double *c)
{
  memset(c, 0, (size_t)m->d * sizeof(double));
  row_add(m, i, c);
}

// The E-step for rows of thread `tid`: nearest center, distance, and (update) sums.
static void assign_worker(int tid, int nt, void *vctx)
{
  km *m = vctx;
  long long lo;
  long long hi;
  lf_par_range(m->n, nt, tid, &lo, &hi);
  int64_t k = m->k;
  double *dots = lf_xmalloc((size_t)k * sizeof(double));
  double *sums = m->tsums + (int64_t)tid * k * m->d;
  int64_t *counts = m->tcounts + (int64_t)tid * k;
  if (m->update) {
    memset(sums, 0, (size_t)(k * m->d) * sizeof(double));
    memset(counts, 0, (size_t)k * sizeof(int64_t));
  }
  int64_t changed = 0;
  double inertia = 0;
  for (int64_t i = lo; i < hi; i++) {
    if (m->X != NULL) {
      for (int64_t c = 0; c < k; c++) {
        dots[c] = row_dot(m, i, m->C + c * m->d);
      }
    } else {
      memset(dots, 0, (size_t)k * sizeof(double));
      for (int64_t p = m->ip[i]; p < m->ip[i + 1]; p++) {
        const double *ct = m->CT + (int64_t)m->ix[p] * k;
        double v = m->val[p];
        for (int64_t c = 0; c < k; c++) {
          dots[c] += v * ct[c];
        }
      }
    }
    int64_t best = 0;
    double bd = m->cnorm[0] - 2 * dots[0];
    for (int64_t c = 1; c < k; c++) {
      double dd = m->cnorm[c] - 2 * dots[c];
      if (dd < bd) {
        bd = dd;
        best = c;
      }
    }
    double dist = m->xnorm[i] + bd;
    dist = dist > 0 ? dist : 0;
    m->dist[i] = dist;
    inertia += dist;
    changed += m->labels[i] != best;
    m->labels[i] = best;
    if (m->update) {
      counts[best]++;
      row_add(m, i, sums + best * m->d);
    }
  }
  lf_free(dots);
  m->tchanged[tid] = changed;
  m->tinertia[tid] = inertia;
}

static void refresh_centers(km *m)
{
  for (int64_t c = 0; c < m->k; c++) {
    const double *cc = m->C + c * m->d;
    double s = 0;
    for (int64_t j = 0; j < m->d; j++) {
      s += cc[j] * cc[j];
      if (m->CT != NULL) {
        m->CT[j * m->k + c] = cc[j];
      }
    }
    m->cnorm[c] = s;
  }
}

// Runs the E-step (and sums when update); returns the number of changed labels.
static int64_t assign(km *m, bool update, double *inertia)
{
  m->update = update;
  lf_par_run(m->nt, assign_worker, m);
  int64_t changed = 0;
  double in = 0;
  for (int t = 0; t < m->nt; t++) {
    changed += m->tchanged[t];
    in += m->tinertia[t];
  }
  *inertia = in;
  return changed;
}

// Distances from every row to the dense vector c with norm cn, into out.
typedef struct dist_job {
  km *m;
  const double *c;
  double cn;
  double *out;
} dist_job;

static void dist_worker(int tid, int nt, void *vctx)
{
  dist_job *j = vctx;
  long long lo;
  long long hi;
  lf_par_range(j->m->n, nt, tid, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) {
    double v = j->m->xnorm[i] - 2 * row_dot(j->m, i, j->c) + j->cn;
    j->out[i] = v > 0 ? v : 0;
  }
}

static void dists_to(km *m, int64_t row, double *c, double *out)
{
  row_dense(m, row, c);
  dist_job j = {m, c, m->xnorm[row], out};
  lf_par_run(m->nt, dist_worker, &j);
}

// Index of the first cumulative weight above u * total (weights >= 0).
static int64_t sample(const double *w, int64_t n, double u)
{
  double total = 0;
  for (int64_t i = 0; i < n; i++) {
    total += w[i];
  }
  double t = u * total;
  double acc = 0;
  for (int64_t i = 0; i < n; i++) {
    acc += w[i];
    if (acc > t) {
      return i;
    }
  }
  return n - 1;
}

// Greedy k-means++ (scikit-learn's _kmeans_plusplus).
static void init_pp(km *m, lf_rng *r, double *closest, double *cand, double *best_d, double *c)
{
  int64_t trials = 2 + (int64_t)log((double)m->k);
  int64_t first = (int64_t)lf_rng_below(r, (uint64_t)m->n);
  dists_to(m, first, c, closest);
  memcpy(m->C, c, (size_t)m->d * sizeof(double));
  for (int64_t ci = 1; ci < m->k; ci++) {
    double best_pot = INFINITY;
    int64_t best_row = 0;
    for (int64_t t = 0; t < trials; t++) {
      int64_t row = sample(closest, m->n, lf_rng_uniform(r));
      dists_to(m, row, c, cand);
      double pot = 0;
      for (int64_t i = 0; i < m->n; i++) {
        cand[i] = cand[i] < closest[i] ? cand[i] : closest[i];
        pot += cand[i];
      }
      if (pot < best_pot) {
        best_pot = pot;
        best_row = row;
        memcpy(best_d, cand, (size_t)m->n * sizeof(double));
      }
    }
    memcpy(closest, best_d, (size_t)m->n * sizeof(double));
    row_dense(m, best_row, m->C + ci * m->d);
  }
}

// New centers from the per-thread sums; empty clusters take the farthest points.
static double update_centers(km *m, double *old)
{
  int64_t kd = m->k * m->d;
  memcpy(old, m->C, (size_t)kd * sizeof(double));
  memset(m->C, 0, (size_t)kd * sizeof(double));
  int64_t *counts = m->tcounts + (int64_t)m->nt * m->k; // spare slot after the threads'
  memset(counts, 0, (size_t)m->k * sizeof(int64_t));
  for (int t = 0; t < m->nt; t++) {
    const double *s = m->tsums + (int64_t)t * kd;
    for (int64_t j = 0; j < kd; j++) {
      m->C[j] += s[j];
    }
    for (int64_t c = 0; c < m->k; c++) {
      counts[c] += m->tcounts[(int64_t)t * m->k + c];
    }
  }
  for (int64_t c = 0; c < m->k; c++) {
    if (counts[c] > 0) {
      continue;
    }
    // The point farthest from its center (not yet taken) becomes this center.
    int64_t far = 0;
    for (int64_t i = 1; i < m->n; i++) {
      if (m->dist[i] > m->dist[far]) {
        far = i;
      }
    }
    int64_t from = m->labels[far];
    double *cf = m->C + from * m->d;
    double *cc = m->C + c * m->d;
    memset(cc, 0, (size_t)m->d * sizeof(double));
    row_add(m, far, cc);
    if (counts[from] > 1) {
      // Take the point out of its old cluster's sum.
      for (int64_t j = 0; j < m->d; j++) {
        cf[j] -= cc[j];
      }
      counts[from]--;
    }
    counts[c] = 1;
    m->dist[far] = 0;
    m->labels[far] = c;
  }
  double shift = 0;
  for (int64_t c = 0; c < m->k; c++) {
    double *cc = m->C + c * m->d;
    double inv = 1.0 / (double)counts[c];
    const double *oc = old + c * m->d;
    for (int64_t j = 0; j < m->d; j++) {
      cc[j] *= inv;
      double dlt = cc[j] - oc[j];
      shift += dlt * dlt;
    }
  }
  return shift;
}

// Mean of the per-column variances (scikit-learn's tolerance scale).
static double mean_variance(const km *m)
{
  double *s = lf_xcalloc((size_t)m->d, sizeof(double));
  double *q = lf_xcalloc((size_t)m->d, sizeof(double));
  for (int64_t i = 0; i < m->n; i++) {
    if (m->X != NULL) {
      for (int64_t j = 0; j < m->d; j++) {
        double v = m->X[i * m->d + j];
        s[j] += v;
        q[j] += v * v;
      }
    } else {
      for (int64_t p = m->ip[i]; p < m->ip[i + 1]; p++) {
        s[m->ix[p]] += m->val[p];
        q[m->ix[p]] += m->val[p] * m->val[p];
      }
    }
  }
  double total = 0;
  for (int64_t j = 0; j < m->d; j++) {
    double mean = s[j] / (double)m->n;
    double var = q[j] / (double)m->n - mean * mean;
    total += var > 0 ? var : 0;
  }
  lf_free(s);
  lf_free(q);
  return m->d > 0 ? total / (double)m->d : 0;
}

// One k-means run from k-means++ seeds; leaves labels, centers and returns the inertia.
static double run_once(km *m, lf_rng *r, const lf_kmeans_opts *o, double tol_abs, double *scratch,
                       int *n_iter)
{
  double *closest = scratch;
  double *cand = closest + m->n;
  double *best_d = cand + m->n;
  double *c = best_d + m->n;
  double *old = c + m->d;
  init_pp(m, r, closest, cand, best_d, c);
  for (int64_t i = 0; i < m->n; i++) {
    m->labels[i] = -1;
  }
  double inertia = 0;
  int it = 0;
  bool strict = false;
  for (; it < o->max_iter; it++) {
    refresh_centers(m);
    int64_t changed = assign(m, true, &inertia);
    if (it > 0 && changed == 0) {
      strict = true;
      break;
    }
    double shift = update_centers(m, old);
    if (shift <= tol_abs) {
      it++;
      break;
    }
  }
  // Labels and inertia must match the final centers.
  refresh_centers(m);
  if (!strict) {
    assign(m, false, &inertia);
  }
  *n_iter = it;
  return inertia;
}

static lf_status check_values(const double *v, int64_t n, lf_err *err)
{
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(v[i])) {
      return LF_ERR(err, LF_ERR_USAGE, "kmeans: the input holds NaN or infinite values");
    }
  }
  return LF_OK;
}

lf_status lf_kmeans(const lf_nd *dense, const lf_csr *sparse, const lf_kmeans_opts *o,
                    lf_kmeans_result *res, lf_err *err)
{
  res->labels.buf = NULL;
  res->centers.buf = NULL;
  km m;
  memset(&m, 0, sizeof(m));
  lf_nd xd;
  xd.buf = NULL;
  if (dense != NULL) {
    if (dense->ndim != 2) {
      return LF_ERR(err, LF_ERR_USAGE, "kmeans needs a 2-D matrix, got %d dimensions",
                    dense->ndim);
    }
    lf_status st = lf_nd_contig(&xd, dense, LF_ND_F64, err);
    if (st != LF_OK) {
      return st;
    }
    m.n = dense->shape[0];
    m.d = dense->shape[1];
    m.X = lf_nd_ptr(&xd, xd.offset);
  } else {
    m.n = sparse->rows;
    m.d = sparse->cols;
    m.ip = lf_csr_indptr(sparse);
    m.ix = lf_csr_indices(sparse);
  }
  m.k = o->k;
  lf_status st = LF_OK;
  if (o->k < 1 || o->k > m.n) {
    st = LF_ERR(err, LF_ERR_USAGE, "kmeans: k = %lld must be between 1 and the number of rows "
                "(%lld)", (long long)o->k, (long long)m.n);
  } else if (o->n_init < 1 || o->max_iter < 1 || !(o->tol >= 0)) {
    st = LF_ERR(err, LF_ERR_USAGE, "kmeans: n_init and max_iter must be >= 1 and tol >= 0");
  } else if (m.d < 1) {
    st = LF_ERR(err, LF_ERR_USAGE, "kmeans: the matrix has no columns");
  }
  if (st != LF_OK) {
    lf_nd_release(&xd);
    return st;
  }
  m.nt = o->threads < 1 ? 1 : (o->threads > 64 ? 64 : o->threads);
  if (m.n < 1000) {
    m.nt = 1;
  }
  if (sparse != NULL && dense == NULL) {
    int64_t nnz = lf_csr_nnz(sparse);
    m.val = lf_xmalloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(double));
    for (int64_t p = 0; p < nnz; p++) {
      m.val[p] = lf_nd_get_f(&sparse->data, sparse->data.offset + p);
    }
    st = check_values(m.val, nnz, err);
  } else {
    st = check_values(m.X, m.n * m.d, err);
  }
  int64_t shape[2] = {m.k, m.d};
  if (st == LF_OK) {
    st = lf_nd_init(&res->centers, LF_ND_F64, 2, shape, false, err);
  }
  if (st == LF_OK) {
    st = lf_nd_init(&res->labels, LF_ND_I64, 1, &m.n, false, err);
  }
  if (st != LF_OK) {
    lf_free(m.val);
    lf_nd_release(&xd);
    lf_nd_release(&res->centers);
    lf_nd_release(&res->labels);
    return st;
  }
  size_t kd = (size_t)(m.k * m.d);
  m.xnorm = lf_xmalloc((size_t)m.n * sizeof(double));
  for (int64_t i = 0; i < m.n; i++) {
    m.xnorm[i] = 0;
    if (m.X != NULL) {
      for (int64_t j = 0; j < m.d; j++) {
        m.xnorm[i] += m.X[i * m.d + j] * m.X[i * m.d + j];
      }
    } else {
      for (int64_t p = m.ip[i]; p < m.ip[i + 1]; p++) {
        m.xnorm[i] += m.val[p] * m.val[p];
      }
    }
  }
  m.C = lf_xmalloc(kd * sizeof(double));
  m.CT = m.X == NULL ? lf_xmalloc(kd * sizeof(double)) : NULL;
  m.cnorm = lf_xmalloc((size_t)m.k * sizeof(double));
  m.labels = lf_xmalloc((size_t)m.n * sizeof(int64_t));
  m.dist = lf_xmalloc((size_t)m.n * sizeof(double));
  m.tsums = lf_xmalloc((size_t)m.nt * kd * sizeof(double));
  m.tcounts = lf_xmalloc((size_t)(m.nt + 1) * (size_t)m.k * sizeof(int64_t));
  m.tchanged = lf_xmalloc((size_t)m.nt * sizeof(int64_t));
  m.tinertia = lf_xmalloc((size_t)m.nt * sizeof(double));
  double *scratch = lf_xmalloc((3 * (size_t)m.n + (size_t)m.d + kd) * sizeof(double));
  double tol_abs = o->tol * mean_variance(&m);
  lf_rng r;
  lf_rng_seed(&r, o->seed);
  res->inertia = INFINITY;
  for (int run = 0; run < o->n_init; run++) {
    int it = 0;
    double in = run_once(&m, &r, o, tol_abs, scratch, &it);
    if (in < res->inertia) {
      res->inertia = in;
      res->n_iter = it;
      memcpy(lf_nd_ptr(&res->centers, 0), m.C, kd * sizeof(double));
      memcpy(lf_nd_ptr(&res->labels, 0), m.labels, (size_t)m.n * sizeof(int64_t));
    }
  }
  lf_free(scratch);
  lf_free(m.tinertia);
  lf_free(m.tchanged);
  lf_free(m.tcounts);
  lf_free(m.tsums);
  lf_free(m.dist);
  lf_free(m.labels);
  lf_free(m.cnorm);
  lf_free(m.CT);
  lf_free(m.C);
  lf_free(m.xnorm);
  lf_free(m.val);
  lf_nd_release(&xd);
  return LF_OK;
}

lf_status lf_kmeans_cluster_sums(const lf_csr *m, const int64_t *labels, int64_t k, lf_nd *out,
                                 lf_err *err)
{
  int64_t shape[2] = {k, m->cols};
  lf_status st = lf_nd_init(out, LF_ND_F64, 2, shape, true, err);
  if (st != LF_OK) {
    return st;
  }
  double *o = lf_nd_ptr(out, 0);
  const int64_t *ip = lf_csr_indptr(m);
  const int32_t *ix = lf_csr_indices(m);
  for (int64_t i = 0; i < m->rows; i++) {
    if (labels[i] < 0 || labels[i] >= k) {
      lf_nd_release(out);
      return LF_ERR(err, LF_ERR_USAGE, "label %lld of row %lld is not a cluster 1..%lld",
                    (long long)labels[i] + 1, (long long)i + 1, (long long)k);
    }
    double *row = o + labels[i] * m->cols;
    for (int64_t p = ip[i]; p < ip[i + 1]; p++) {
      row[ix[p]] += lf_nd_get_f(&m->data, m->data.offset + p);
    }
  }
  return LF_OK;
}
