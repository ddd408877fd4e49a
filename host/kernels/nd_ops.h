// SPDX-License-Identifier: MIT
// Kernels over dense arrays (kernels/nd.h): elementwise arithmetic with broadcasting,
// reductions by axis, sorting and top-k, matrix products, and seeded random arrays. Every
// function that makes an array initialises `out` (a caller-storage view) and, on failure,
// leaves out->buf NULL and sets err.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "kernels/nd.h"

/// Binary elementwise operations. Comparisons give u8 arrays of 0/1.
typedef enum lf_nd_binop {
  LF_ND_ADD,
  LF_ND_SUB,
  LF_ND_MUL,
  LF_ND_DIV,  ///< true division: float result
  LF_ND_IDIV, ///< floor division (Lua //)
  LF_ND_MOD,  ///< floored modulo (Lua %)
  LF_ND_POW,  ///< float result
  LF_ND_MIN,
  LF_ND_MAX,
  LF_ND_EQ,
  LF_ND_NE,
  LF_ND_LT,
  LF_ND_LE,
  LF_ND_GT,
  LF_ND_GE,
} lf_nd_binop;

/// Unary elementwise operations. SQRT, EXP, LOG give floats; NEG and ABS keep the dtype.
typedef enum lf_nd_unop {
  LF_ND_NEG,
  LF_ND_ABS,
  LF_ND_SQRT,
  LF_ND_EXP,
  LF_ND_LOG,
} lf_nd_unop;

/// Reductions.
typedef enum lf_nd_redop {
  LF_ND_SUM,    ///< integers sum to i64, floats keep their dtype (accumulated in double)
  LF_ND_MEAN,   ///< f64
  LF_ND_MIN_R,  ///< the dtype; empty input is an error
  LF_ND_MAX_R,  ///< the dtype; empty input is an error
  LF_ND_ARGMIN, ///< i64 positions (0-based), first of equal values
  LF_ND_ARGMAX, ///< i64 positions (0-based), first of equal values
} lf_nd_redop;

/// The dtype of `a op b` (numpy's promotion: the wider kind; f32 with an integer of more than
/// 8 bits gives f64; DIV and POW give a float, comparisons u8).
lf_nd_dtype lf_nd_binop_dtype(lf_nd_binop op, lf_nd_dtype a, lf_nd_dtype b);

/// out = a op b with numpy broadcasting (trailing axes aligned, size-1 axes stretched).
/// Integer // and % by zero fail with LF_ERR_USAGE ("integer division by zero"), as in Lua.
/// @return LF_OK, LF_ERR_USAGE (shapes do not broadcast; the message names both), NOMEM
lf_status lf_nd_binary(lf_nd *out, lf_nd_binop op, const lf_nd *a, const lf_nd *b,
                       lf_err *err);
/// out = op(a).
lf_status lf_nd_unary(lf_nd *out, lf_nd_unop op, const lf_nd *a, lf_err *err);

/// Reduces `a` over `axis` (0-based; -1 = all axes, giving a 0-d array).
/// @return LF_ERR_USAGE for a bad axis or an empty MIN/MAX/ARGMIN/ARGMAX.
lf_status lf_nd_reduce(lf_nd *out, lf_nd_redop op, const lf_nd *a, int axis, lf_err *err);

/// Indices (i64, 0-based plus `base`) that sort the 1-D array `a` ascending (or descending),
/// stable; NaN sorts last in both orders.
lf_status lf_nd_argsort(lf_nd *out, const lf_nd *a, bool descending, int64_t base,
                        lf_err *err);
/// Indices (i64, 0-based plus `base`) of the `k` largest (or smallest) elements of each row:
/// of the 1-D array `a` (out has k elements) or of each row of the 2-D `a` (out is rows x k),
/// ordered best first, ties by position; NaN is never preferred. k is clamped to the row
/// length.
lf_status lf_nd_topk(lf_nd *out, const lf_nd *a, int64_t k, bool smallest, int64_t base,
                     lf_err *err);

/// Matrix product of 2-D (or 1-D, treated as a row / column vector and squeezed) arrays.
/// Floats use a cache-blocked kernel on `nthreads` threads (f32 if both are f32, else f64);
/// integers give i64.
/// @return LF_ERR_USAGE if the inner dimensions differ (the message names both shapes)
lf_status lf_nd_matmul(lf_nd *out, const lf_nd *a, const lf_nd *b, int nthreads, lf_err *err);
/// Dot product of two 1-D arrays of the same length (as doubles).
lf_status lf_nd_dot(double *out, const lf_nd *a, const lf_nd *b, lf_err *err);

/// A seeded xoshiro256** generator.
typedef struct lf_rng {
  uint64_t s[4];
} lf_rng;
/// Seeds `r` from `seed` with splitmix64 (every seed is fine).
void lf_rng_seed(lf_rng *r, uint64_t seed);
/// Next 64 random bits.
uint64_t lf_rng_next(lf_rng *r);
/// Uniform double in [0, 1).
double lf_rng_uniform(lf_rng *r);
/// Uniform integer in [0, n) for n > 0, without modulo bias.
uint64_t lf_rng_below(lf_rng *r, uint64_t n);
/// Standard normal deviate (Box-Muller).
double lf_rng_normal(lf_rng *r);
/// Fills `a` with uniform values in [lo, hi) (normal = false) or normal ones with mean `lo`
/// and standard deviation `hi` (normal = true), in row-major order.
void lf_nd_random(lf_nd *a, lf_rng *r, bool normal, double lo, double hi);
