// SPDX-License-Identifier: MIT
// Memory allocation wrappers. lf_x* never return NULL: on exhaustion they call the OOM
// handler (default: log and abort), like neovim's xmalloc. lf_try_* return NULL instead, for
// the few places where recovery is real. Raw malloc/free appear only in core/.
#pragma once

#include <stddef.h>

/// Called when an lf_x* allocation fails; must not return. NULL restores the default.
typedef void (*lf_oom_fn)(size_t size);
void lf_alloc_set_oom_handler(lf_oom_fn fn);

void *lf_xmalloc(size_t size) __attribute__((malloc, alloc_size(1)));
void *lf_xcalloc(size_t n, size_t size) __attribute__((malloc));
void *lf_xrealloc(void *ptr, size_t size);
/// Copies a NUL-terminated string; NULL in gives NULL out.
char *lf_xstrdup(const char *s) __attribute__((malloc));
/// Copies `n` bytes of `s` and terminates the copy.
char *lf_xmemdupz(const void *s, size_t n) __attribute__((malloc));
/// Formats into a new string. Caller frees with lf_free.
char *lf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), malloc));
void *lf_try_malloc(size_t size) __attribute__((malloc));
void *lf_try_realloc(void *ptr, size_t size);
void lf_free(void *ptr);

/// Large buffers straight from the kernel (anonymous mmap): zero-filled, with pages that
/// cost nothing until written, returned to the system by lf_pages_free. Page-aligned; from
/// LF_HUGE_PAGE bytes the buffer starts on a huge-page boundary and asks for transparent huge
/// pages (MADV_HUGEPAGE), so faulting it in costs one fault per 2 MiB instead of per 4 KiB
/// (on the development VM: 0.06 s per GB instead of 0.45-0.6 s).
/// @return NULL when memory is short (never calls the out-of-memory handler)
void *lf_pages_alloc(size_t size) __attribute__((malloc));
/// Grows or shrinks a buffer of lf_pages_alloc without copying (mremap); the contents up to
/// the smaller size are kept, bytes past the old size are zero. NULL ptr: lf_pages_alloc.
/// @return NULL when memory is short; the old buffer is then untouched
void *lf_pages_realloc(void *ptr, size_t size);
/// Frees a buffer of lf_pages_alloc. NULL is fine.
void lf_pages_free(void *ptr);

#define LF_HUGE_PAGE ((size_t)2 << 20)

/// Buffers whose size the caller always knows: from LF_BIG_MIN bytes they are page buffers
/// (lf_pages_*), below it malloc's. lf_big_free needs the size the buffer was allocated with.
#define LF_BIG_MIN LF_HUGE_PAGE
void *lf_big_alloc(size_t size) __attribute__((malloc));
void lf_big_free(void *ptr, size_t size);

/// Faults [ptr, ptr + size) in for writing from the kernel (MADV_POPULATE_WRITE), which
/// costs about half of first-touch faults from user code on the development VM; threads
/// can populate their own parts in parallel. Only a hint: without kernel support, or when
/// memory is short, the pages fault in on first write as usual.
void lf_pages_populate(void *ptr, size_t size);
