// SPDX-License-Identifier: MIT
// This file contains the allocation wrappers every other layer uses instead of malloc.
#define _GNU_SOURCE // mremap
#include "core/alloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void default_oom(size_t size)
{
  fprintf(stderr, "luaflow: out of memory allocating %zu bytes\n", size);
  abort();
}

static lf_oom_fn oom_handler = default_oom;

void lf_alloc_set_oom_handler(lf_oom_fn fn)
{
  oom_handler = fn != NULL ? fn : default_oom;
}

void *lf_xmalloc(size_t size)
{
  void *p = malloc(size != 0 ? size : 1);
  if (p == NULL) {
    oom_handler(size);
    abort();
  }
  return p;
}

void *lf_xcalloc(size_t n, size_t size)
{
  void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);
  if (p == NULL) {
    oom_handler(n * size);
    abort();
  }
  return p;
}

void *lf_xrealloc(void *ptr, size_t size)
{
  void *p = realloc(ptr, size != 0 ? size : 1);
  if (p == NULL) {
    oom_handler(size);
    abort();
  }
  return p;
}

char *lf_xstrdup(const char *s)
{
  if (s == NULL) {
    return NULL;
  }
  return lf_xmemdupz(s, strlen(s));
}

char *lf_xmemdupz(const void *s, size_t n)
{
  char *p = lf_xmalloc(n + 1);
  if (n != 0) {
    memcpy(p, s, n);
  }
  p[n] = '\0';
  return p;
}

char *lf_xasprintf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    return lf_xstrdup("");
  }
  char *p = lf_xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void *lf_try_malloc(size_t size)
{
  return malloc(size != 0 ? size : 1);
}

void *lf_try_realloc(void *ptr, size_t size)
{
  return realloc(ptr, size != 0 ? size : 1);
}

void lf_free(void *ptr)
{
  free(ptr);
}

// Page buffers: one page in front holds the mapping's length, so lf_pages_free needs only
// the pointer.
#define PAGES_HEAD ((size_t)4096)

static size_t round_page(size_t n)
{
  return (n + PAGES_HEAD - 1) & ~(PAGES_HEAD - 1);
}

void *lf_pages_alloc(size_t size)
{
  if (size > SIZE_MAX - 2 * PAGES_HEAD - LF_HUGE_PAGE) {
    return NULL;
  }
  size_t total = round_page(size + PAGES_HEAD);
  bool huge = size >= LF_HUGE_PAGE;
  // For huge pages the data must start on a 2 MiB boundary: map the slack too, then give back
  // what lies before the header page and after the end.
  size_t map = huge ? total + LF_HUGE_PAGE : total;
  char *raw = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    return NULL;
  }
  char *base = raw;
  if (huge) {
    uintptr_t data = ((uintptr_t)raw + PAGES_HEAD + LF_HUGE_PAGE - 1) & ~(LF_HUGE_PAGE - 1);
    base = (char *)(data - PAGES_HEAD);
    if (base > raw) {
      munmap(raw, (size_t)(base - raw));
    }
    size_t tail = (size_t)(raw + map - (base + total));
    if (tail > 0) {
      munmap(base + total, tail);
    }
    // The whole mapping, header page too: one mapping with one set of flags, which mremap
    // needs. Only whole aligned 2 MiB ranges get huge pages, so the header page stays small.
    (void)madvise(base, total, MADV_HUGEPAGE);
  }
  memcpy(base, &total, sizeof(total));
  return base + PAGES_HEAD;
}

void *lf_pages_realloc(void *ptr, size_t size)
{
  if (ptr == NULL) {
    return lf_pages_alloc(size);
  }
  if (size > SIZE_MAX - 2 * PAGES_HEAD) {
    return NULL;
  }
  char *base = (char *)ptr - PAGES_HEAD;
  size_t total;
  memcpy(&total, base, sizeof(total));
  size_t want = round_page(size + PAGES_HEAD);
  if (want == total) {
    return ptr;
  }
  char *moved = mremap(base, total, want, MREMAP_MAYMOVE);
  if (moved == MAP_FAILED) {
    return NULL;
  }
  memcpy(moved, &want, sizeof(want));
  if (want >= LF_HUGE_PAGE) {
    (void)madvise(moved, want, MADV_HUGEPAGE);
  }
  return moved + PAGES_HEAD;
}

void lf_pages_free(void *ptr)
{
  if (ptr == NULL) {
    return;
  }
  void *base = (char *)ptr - PAGES_HEAD;
  size_t total;
  memcpy(&total, base, sizeof(total));
  munmap(base, total);
}

void *lf_big_alloc(size_t size)
{
  return size >= LF_BIG_MIN ? lf_pages_alloc(size) : lf_try_malloc(size);
}

void lf_big_free(void *ptr, size_t size)
{
  if (size >= LF_BIG_MIN) {
    lf_pages_free(ptr);
  } else {
    lf_free(ptr);
  }
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14
#endif

void lf_pages_populate(void *ptr, size_t size)
{
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = (uintptr_t)ptr & ~(page - 1);
  uintptr_t e = ((uintptr_t)ptr + size + page - 1) & ~(page - 1);
  if (size > 0 && e > a) {
    (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
  }
}
