// SPDX-License-Identifier: MIT
// Unit tests for the page buffers of core/alloc.h: zero, page-aligned, writable after a
// populate, freed whole; and for the settings that place the index of an S3 root.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/settings.h"
#include "testhelp.h"

static void test_pages(void)
{
  size_t n = ((size_t)9 << 20) + 123; // not a multiple of the page size
  unsigned char *p = lf_pages_alloc(n);
  CHECK(p != NULL);
  CHECK(((uintptr_t)p & 4095) == 0);
  bool zero = true;
  for (size_t i = 0; i < n; i += 4093) {
    zero = zero && p[i] == 0;
  }
  CHECK(zero && p[n - 1] == 0);
  lf_pages_populate(p + 5, n - 5); // unaligned ends are rounded to whole pages
  memset(p, 0xab, n);
  CHECK(p[0] == 0xab && p[n - 1] == 0xab);
  lf_pages_free(p);
  lf_pages_free(NULL);
  lf_pages_populate(NULL, 0);
  CHECK(lf_pages_alloc(SIZE_MAX - 10) == NULL);
  CHECK(lf_pages_alloc(SIZE_MAX - 5000) == NULL);
  // small page buffers: one page of header, nothing else
  p = lf_pages_alloc(10);
  CHECK(p != NULL && ((uintptr_t)p & 4095) == 0 && p[9] == 0);
  lf_pages_free(p);
}

// From LF_HUGE_PAGE bytes the data starts on a huge-page boundary; realloc keeps the contents,
// and what it adds is zero.
static void test_pages_huge_realloc(void)
{
  size_t n = LF_HUGE_PAGE * 3 + 77;
  unsigned char *p = lf_pages_alloc(n);
  CHECK(p != NULL && ((uintptr_t)p & (LF_HUGE_PAGE - 1)) == 0);
  memset(p, 0x5a, n);
  p = lf_pages_realloc(p, n * 4);
  CHECK(p != NULL);
  CHECK(p[0] == 0x5a && p[n - 1] == 0x5a && p[n + 4096] == 0 && p[n * 4 - 1] == 0);
  p = lf_pages_realloc(p, 100); // shrink: the first bytes stay
  CHECK(p != NULL && p[0] == 0x5a && p[99] == 0x5a);
  p[100] = 1; // the rest of the last page is still the buffer's
  unsigned char *same = lf_pages_realloc(p, 200);
  CHECK(same == p);
  lf_pages_free(same);
  p = lf_pages_realloc(NULL, 5000);
  CHECK(p != NULL && p[4999] == 0);
  CHECK(lf_pages_realloc(p, SIZE_MAX - 10) == NULL);
  CHECK(p[4999] == 0); // a failed realloc leaves the buffer alone
  lf_pages_free(p);
  // big buffers: page buffers from LF_BIG_MIN, malloc's below
  void *small = lf_big_alloc(100);
  void *big = lf_big_alloc(LF_BIG_MIN);
  CHECK(small != NULL && big != NULL && ((uintptr_t)big & 4095) == 0);
  memset(big, 1, LF_BIG_MIN);
  lf_big_free(small, 100);
  lf_big_free(big, LF_BIG_MIN);
}

static void test_index_path(void)
{
  setenv("LUAFLOW_CACHE_DIR", "/cache", 1);
  char *p = lf_settings_index_path("s3://bkt/team/ds");
  CHECK_STR(p, "/cache/s3/bkt/team/ds/index.sqlite3");
  lf_free(p);
  // components that could climb out, or carry odd bytes, are encoded
  p = lf_settings_index_path("s3://bkt/../a b/./x%");
  CHECK_STR(p, "/cache/s3/bkt/%2E%2E/a%20b/%2E/x%25/index.sqlite3");
  lf_free(p);
  p = lf_settings_index_path("/data/root");
  CHECK_STR(p, "/data/root/index.sqlite3");
  lf_free(p);
  unsetenv("LUAFLOW_CACHE_DIR");
  p = lf_settings_normalize_root("s3://bkt/prefix///");
  CHECK_STR(p, "s3://bkt/prefix");
  lf_free(p);
  CHECK(lf_settings_root_is_s3("s3://b") && !lf_settings_root_is_s3("/s3://b"));
}

int main(void)
{
  test_pages();
  test_pages_huge_realloc();
  test_index_path();
  return TEST_REPORT();
}
