// SPDX-License-Identifier: MIT
// Typed dense n-dimensional arrays over refcounted, 64-byte-aligned buffers: the data model
// every numeric kernel works on. An lf_nd is a view (dtype, shape, strides in elements, offset)
// of an lf_nd_buf; views share the buffer and count references. Plain C, no Lua: the bindings
// are lua_api/l_nd*.c. Nothing here is thread-safe by itself; kernels that use threads only
// read and write element memory, never references.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/// Element types. The numbers equal the artifact codec's dtype bytes (lua_api/codec.h).
typedef enum lf_nd_dtype {
  LF_ND_F64 = 0,
  LF_ND_F32 = 1,
  LF_ND_I64 = 2,
  LF_ND_I32 = 3,
  LF_ND_U8 = 4,
} lf_nd_dtype;

/// Number of dtypes; valid dtypes are 0 .. LF_ND_NDTYPES - 1.
#define LF_ND_NDTYPES 5
/// Most dimensions of an array (the codec's limit too).
#define LF_ND_MAX_NDIM 32
/// Alignment of every buffer this module allocates.
#define LF_ND_ALIGN 64
/// Writable bytes reserved in front of an allocated buffer's data, so the artifact encoder can
/// put an encoding header right before the elements and store them without copying. Enough
/// for the longest header (format, tag, dtype, ndim and 32 ten-byte shape varints, padded).
#define LF_ND_HEADROOM 384
/// Buffers from this size on are kernel pages (zero, untouched until written).
#define LF_ND_PAGES_MIN ((size_t)8 << 20)
/// Largest element count of one array (keeps byte sizes far from overflow).
#define LF_ND_MAX_ELEMS ((int64_t)1 << 46)

/// A refcounted block of element memory.
typedef struct lf_nd_buf {
  size_t refs;                ///< owners: views, and anything else that took a reference
  uint8_t *data;              ///< first element byte; 64-byte aligned when allocated here
  size_t nbytes;              ///< size of the element memory
  void *base;                 ///< what `release` frees
  void (*release)(void *base); ///< frees `base`; NULL means lf_free
  size_t headroom;            ///< writable bytes right before `data` (0 for adopted memory)
  int headroom_users;         ///< encodings currently borrowing the headroom
  bool zeroed;                ///< the memory was all zero when allocated (kernel pages)
} lf_nd_buf;

/// An array view. Strides and offset are in elements; shape entries are >= 0.
typedef struct lf_nd {
  lf_nd_dtype dtype;
  int ndim;
  int64_t shape[LF_ND_MAX_NDIM];
  int64_t strides[LF_ND_MAX_NDIM];
  int64_t offset;
  lf_nd_buf *buf; ///< one reference owned by this view; NULL only in a released view
} lf_nd;

/// Bytes per element of `dt`, 0 if `dt` is not a dtype.
size_t lf_nd_itemsize(int dt);
/// Name of `dt` ("f64", ...), or NULL if unknown.
const char *lf_nd_dtype_name(int dt);
/// Parses a dtype name ("f64", "float64", "double", "f32", "float32", "i64", "int64", "i32",
/// "int32", "u8", "uint8"). @return the dtype or -1.
int lf_nd_dtype_parse(const char *name);
/// True for f64 and f32.
bool lf_nd_is_float(lf_nd_dtype dt);

/// Allocates a buffer of `nbytes` (uninitialised, 64-byte aligned, with LF_ND_HEADROOM in
/// front) holding one reference. From LF_ND_PAGES_MIN bytes the memory comes straight from
/// the kernel (lf_pages_alloc), is zero (`zeroed` is set) and is returned to the system when
/// the buffer is freed. @return NULL with LF_ERR_NOMEM in err on exhaustion.
lf_nd_buf *lf_nd_buf_new(size_t nbytes, lf_err *err);
/// Wraps foreign memory: `data` (any alignment) stays valid until `release(base)` runs when the
/// last reference goes. Never fails (the wrapper is lf_xmalloc'd). Holds one reference.
lf_nd_buf *lf_nd_buf_adopt(void *base, uint8_t *data, size_t nbytes, void (*release)(void *));
/// Adds a reference. @return `b`
lf_nd_buf *lf_nd_buf_ref(lf_nd_buf *b);
/// Drops a reference; frees the buffer with the last one. NULL is ignored.
void lf_nd_buf_unref(lf_nd_buf *b);

/// Makes `a` a new C-contiguous array of `shape` (ndim entries, each >= 0, product at most
/// LF_ND_MAX_ELEMS), uninitialised, or zero-filled if `zero`.
/// @return LF_OK, LF_ERR_USAGE (bad shape) or LF_ERR_NOMEM; on failure `a->buf` is NULL.
lf_status lf_nd_init(lf_nd *a, lf_nd_dtype dt, int ndim, const int64_t *shape, bool zero,
                     lf_err *err);
/// Makes `a` a view of `buf` (takes a new reference) with C-contiguous strides.
void lf_nd_init_view(lf_nd *a, lf_nd_buf *buf, lf_nd_dtype dt, int ndim, const int64_t *shape);
/// Makes `dst` another view of what `src` shows (shares the buffer).
void lf_nd_view(lf_nd *dst, const lf_nd *src);
/// Drops the view's buffer reference; idempotent.
void lf_nd_release(lf_nd *a);

/// Number of elements (product of the shape; 1 for ndim 0).
int64_t lf_nd_size(const lf_nd *a);
/// True if the view is C-contiguous (elements in row-major order with no gaps).
bool lf_nd_is_contig(const lf_nd *a);
/// Pointer to the element at linear element offset `off` from the buffer start.
void *lf_nd_ptr(const lf_nd *a, int64_t off);
/// Element offset of the index tuple `idx` (0-based, in range: caller checked).
int64_t lf_nd_offset_of(const lf_nd *a, const int64_t *idx);
/// The element at element offset `off` as a double / as an int64 (floats truncate toward 0,
/// NaN and out-of-range floats give 0).
double lf_nd_get_f(const lf_nd *a, int64_t off);
int64_t lf_nd_get_i(const lf_nd *a, int64_t off);
/// Stores `x` at element offset `off`, converting to the dtype (integers truncate toward zero,
/// then wrap; NaN stores 0 in integer arrays).
void lf_nd_set_f(lf_nd *a, int64_t off, double x);
void lf_nd_set_i(lf_nd *a, int64_t off, int64_t x);

/// Calls fn(off, ctx) for every element offset in row-major order.
void lf_nd_foreach(const lf_nd *a, void (*fn)(int64_t off, void *ctx), void *ctx);

/// Copies `src` into a new C-contiguous array `dst` of dtype `dt` (values converted).
lf_status lf_nd_copy(lf_nd *dst, const lf_nd *src, lf_nd_dtype dt, lf_err *err);
/// Makes `out` a C-contiguous view of `a` if `a` already is one with dtype `dt`, else a copy.
lf_status lf_nd_contig(lf_nd *out, const lf_nd *a, lf_nd_dtype dt, lf_err *err);
/// Copies the elements of `src` into `dst`, which has the same shape (values converted).
void lf_nd_assign(lf_nd *dst, const lf_nd *src);
/// Sets every element of `dst` to `x`.
void lf_nd_fill(lf_nd *dst, double x);

/// Reshapes: `out` views `a` with `shape` (one entry may be -1: inferred). A non-contiguous
/// `a` is copied first. @return LF_ERR_USAGE if the sizes differ.
lf_status lf_nd_reshape(lf_nd *out, const lf_nd *a, int ndim, const int64_t *shape,
                        lf_err *err);
/// Transposes in place as a view: reverses the axes (`perm` NULL) or permutes them.
/// @return LF_ERR_USAGE if `perm` is not a permutation of 0..ndim-1.
lf_status lf_nd_transpose(lf_nd *a, const int *perm, lf_err *err);
/// Narrows axis `axis` of the view `a` in place to start, start+step, ... (`count` elements;
/// step may be negative; caller checked the range).
void lf_nd_slice_axis(lf_nd *a, int axis, int64_t start, int64_t count, int64_t step);
/// Removes axis `axis` of the view `a` in place, fixing it at index `i` (caller checked).
void lf_nd_select_axis(lf_nd *a, int axis, int64_t i);
/// Formats the shape as "3x4" ("scalar" for ndim 0) into `out`.
void lf_nd_shape_str(const lf_nd *a, char *out, size_t size);
/// True if both have the same shape and equal values (NaN equals NaN; dtypes may differ).
bool lf_nd_equal(const lf_nd *a, const lf_nd *b);
