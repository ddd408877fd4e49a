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
  test_index_path();
  return TEST_REPORT();
}
