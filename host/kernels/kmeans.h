// SPDX-License-Identifier: MIT
// k-means clustering as scikit-learn's KMeans(algorithm="lloyd") does it: greedy k-means++
// seeding (2 + log k local trials per center), Lloyd iterations until the total squared center
// shift is at most tol times the mean feature variance (or the labels stop changing), empty
// clusters moved to the points farthest from their centers, n_init runs keeping the lowest
// inertia. Input is a dense f64-convertible matrix or a CSR matrix; rows are split over
// threads in every pass.
#pragma once

#include <stdint.h>

#include "core/err.h"
#include "kernels/csr.h"
#include "kernels/nd.h"

/// Parameters.
typedef struct lf_kmeans_opts {
  int64_t k;
  int n_init;    ///< default 1
  int max_iter;  ///< default 300
  double tol;    ///< default 1e-4 (relative to the mean feature variance)
  uint64_t seed; ///< default 0
  int threads;   ///< default 1
} lf_kmeans_opts;

/// Results: caller storage; arrays are created by lf_kmeans and owned by the caller.
typedef struct lf_kmeans_result {
  lf_nd labels;  ///< i64 [rows], 0-based cluster of each row
  lf_nd centers; ///< f64 [k x cols]
  double inertia; ///< sum of squared distances of rows to their centers
  int n_iter;    ///< Lloyd iterations of the best run
} lf_kmeans_result;

/// Sets the defaults (k = 8).
void lf_kmeans_opts_default(lf_kmeans_opts *o);
/// Clusters the rows of `dense` (2-D, any numeric dtype) or, if `dense` is NULL, of `sparse`.
/// @return LF_OK, LF_ERR_USAGE (k < 1, k > rows, NaN or infinite values, bad options: the
///         message says which), LF_ERR_NOMEM. On failure `res` holds no arrays.
lf_status lf_kmeans(const lf_nd *dense, const lf_csr *sparse, const lf_kmeans_opts *o,
                    lf_kmeans_result *res, lf_err *err);

/// Per-cluster column sums of `m` by `labels` (0-based, each < k, one per row) into a new
/// f64 k x cols array: the word frequencies of each cluster.
lf_status lf_kmeans_cluster_sums(const lf_csr *m, const int64_t *labels, int64_t k, lf_nd *out,
                                 lf_err *err);
