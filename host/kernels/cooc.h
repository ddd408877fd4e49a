// SPDX-License-Identifier: MIT
// Word-word co-occurrence C = BᵀB of a bag-of-words CSR matrix B (documents x words), counting
// for each pair of words the documents that contain both (the pattern of B; its values are
// ignored, as for a binary matrix). Threads own disjoint ranges of output rows, balanced by
// work, so they never share a written cache line and no private copies are needed.
#pragma once

#include "core/err.h"
#include "kernels/csr.h"
#include "kernels/nd.h"

/// What lf_cooc computes.
typedef enum lf_cooc_output {
  LF_COOC_DENSE, ///< words x words i32, symmetric
  LF_COOC_UPPER, ///< words x words i32, only the upper triangle (diagonal included) filled
  LF_COOC_SPARSE ///< words x words CSR with i32 data, symmetric
} lf_cooc_output;

/// Computes the co-occurrence matrix of `b` on `nthreads` threads into `dense` (DENSE, UPPER)
/// or `sparse` (SPARSE); the other output is left untouched.
/// @return LF_OK, LF_ERR_USAGE (more than 2^32 - 1 entries or 2^31 - 1 rows), LF_ERR_NOMEM
lf_status lf_cooc(const lf_csr *b, lf_cooc_output output, int nthreads, lf_nd *dense,
                  lf_csr *sparse, lf_err *err);
