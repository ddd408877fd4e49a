// SPDX-License-Identifier: MIT
// Compressed sparse row matrices over kernels/nd.h arrays, in scipy's layout: indptr (i64,
// rows + 1 entries, indptr[0] = 0, non-decreasing, indptr[rows] = nnz), indices (i32 column
// numbers, strictly increasing within each row, < cols) and data (nnz values of any dtype).
// All three are contiguous views starting at their buffer's offset 0 or a copy of one. Every
// function that builds a matrix leaves it released (all views NULL) on failure.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "kernels/nd.h"

/// A CSR matrix. Owns one reference to each of its three arrays.
typedef struct lf_csr {
  int64_t rows;
  int64_t cols;
  lf_nd indptr;  ///< i64 [rows + 1]
  lf_nd indices; ///< i32 [nnz]
  lf_nd data;    ///< dtype [nnz]
} lf_csr;

/// Largest number of columns (indices are i32).
#define LF_CSR_MAX_COLS ((int64_t)INT32_MAX)

/// Marks `m` empty (all views released) without touching what it held.
void lf_csr_clear(lf_csr *m);
/// Releases the three arrays; idempotent.
void lf_csr_release(lf_csr *m);
/// Number of stored entries.
int64_t lf_csr_nnz(const lf_csr *m);
/// Typed pointers to the three arrays' first elements.
const int64_t *lf_csr_indptr(const lf_csr *m);
const int32_t *lf_csr_indices(const lf_csr *m);

/// Allocates a matrix with uninitialised arrays for `nnz` entries; indptr[0] is set to 0.
/// @return LF_OK, LF_ERR_USAGE (bad sizes) or LF_ERR_NOMEM
lf_status lf_csr_alloc(lf_csr *m, int64_t rows, int64_t cols, int64_t nnz, lf_nd_dtype dt,
                       lf_err *err);
/// Checks the structure invariants above on raw arrays (what a decoder or a user handed in).
/// @return LF_OK or LF_ERR_USAGE naming the first violation ("row 3: column 7 after 9")
lf_status lf_csr_check(const int64_t *indptr, const int32_t *indices, int64_t rows,
                       int64_t cols, int64_t nnz, lf_err *err);

/// Converts a 2-D array: its non-zero elements (NaN counts as non-zero) in its dtype.
lf_status lf_csr_from_dense(lf_csr *out, const lf_nd *a, lf_err *err);
/// Converts to a dense rows x cols array of the data's dtype.
lf_status lf_csr_to_dense(lf_nd *out, const lf_csr *m, lf_err *err);
/// Sums over `axis`: 0 gives column sums (1-D, cols), 1 row sums (1-D, rows), -1 the total
/// (0-d). Integers sum to i64, floats keep their dtype.
lf_status lf_csr_sum(lf_nd *out, const lf_csr *m, int axis, lf_err *err);
/// The rows listed in `sel` (0-based, each checked against rows; repeats allowed), in order.
lf_status lf_csr_take_rows(lf_csr *out, const lf_csr *m, const int64_t *sel, int64_t n,
                           lf_err *err);
/// Rows lo .. hi-1 (caller checked 0 <= lo <= hi <= rows).
lf_status lf_csr_row_range(lf_csr *out, const lf_csr *m, int64_t lo, int64_t hi, lf_err *err);
/// Transpose as a new CSR matrix (cols x rows).
lf_status lf_csr_transpose(lf_csr *out, const lf_csr *m, lf_err *err);
