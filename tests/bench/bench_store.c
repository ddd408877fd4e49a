// SPDX-License-Identifier: MIT
// Benchmark of blob throughput (DESIGN §6: a 1 GB numeric array saved and loaded at >= 1 GB/s
// each way). Stores and reads back, through the local backend:
//   - an incompressible buffer of random doubles (default 1 GiB),
//   - a compressible buffer of doubles with 1000 distinct values (default 256 MiB),
// and prints MB/s (1 MB = 10^6 bytes) for a new put, a repeated (dedup) put and a verified
// get, with SHA-256 alone as the reference ceiling. Not part of the unit test run.
//
//   bench_store [incompressible MiB] [compressible MiB] [repetitions]
// The scratch store goes under $LF_TEST_TMP (or /tmp) and is removed at the end.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "store/sha256.h"
#include "store/store.h"

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;
  return x < y ? -1 : (x > y ? 1 : 0);
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  return v[n / 2];
}

static unsigned char *make_data(size_t n, bool compressible)
{
  unsigned char *p = lf_store_alloc(n);
  if (p == NULL) {
    fprintf(stderr, "cannot allocate %zu bytes\n", n);
    exit(1);
  }
  uint64_t s = 0x9E3779B97F4A7C15u;
  for (size_t k = 0; k + 8 <= n; k += 8) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    double d = compressible ? (double)(s % 1000) : (double)(s >> 11) * 0x1.0p-53;
    memcpy(p + k, &d, 8);
  }
  return p;
}

// Phases run back to back (new puts, then repeated puts, then gets) so that each measures a
// steady state rather than the page-cache churn of the previous phase.
static int run(lf_store *st, const char *label, size_t n, bool compressible, int reps)
{
  unsigned char *data = make_data(n, compressible);
  double mb = (double)n / 1e6;
  double *t[4];
  for (int k = 0; k < 4; k++) {
    t[k] = lf_xcalloc((size_t)reps, sizeof(double));
  }
  lf_err err = {0};
  char hex[65];
  bool existed = false;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    unsigned char md[LF_SHA256_LEN];
    lf_sha256(data, n, md);
    t[0][r] = now() - t0;
  }
  char *key = NULL;
  for (int r = 0; r < reps; r++) {
    if (key != NULL) {
      lf_store_remove(st, key, &err); // so that this put writes anew
    }
    double t0 = now();
    if (lf_store_put_blob(st, "Bench", data, n, hex, &existed, &err) != LF_OK || existed) {
      fprintf(stderr, "put failed: %s\n", err.msg);
      return 1;
    }
    t[1][r] = now() - t0;
    lf_free(key);
    key = lf_xasprintf("Bench/data/%.2s/%s", hex, hex);
  }
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    if (lf_store_put_blob(st, "Bench", data, n, hex, &existed, &err) != LF_OK || !existed) {
      fprintf(stderr, "repeated put failed: %s\n", err.msg);
      return 1;
    }
    t[2][r] = now() - t0;
  }
  for (int r = 0; r < reps; r++) {
    char *back = NULL;
    size_t blen = 0;
    double t0 = now();
    if (lf_store_get_blob(st, "Bench", hex, &back, &blen, &err) != LF_OK) {
      fprintf(stderr, "get failed: %s\n", err.msg);
      return 1;
    }
    t[3][r] = now() - t0;
    if (blen != n || memcmp(back, data, n) != 0) {
      fprintf(stderr, "get returned different bytes\n");
      return 1;
    }
    lf_free(back);
  }
  char *path = lf_store_describe(st, key);
  char *tmp = NULL;
  size_t stored = 0;
  lf_fs_read_file(path, SIZE_MAX / 2, &tmp, &stored, &err);
  lf_free(tmp);
  lf_free(path);
  lf_store_remove(st, key, &err);
  lf_free(key);
  printf("%s: %.0f MB, stored %.1f MB (%.1f%%)\n", label, mb, (double)stored / 1e6,
         100.0 * (double)stored / (double)n);
  static const char *const names[] = {"sha256 alone    ", "put_blob (new)  ", "put_blob (dedup)",
                                      "get_blob        "};
  for (int k = 0; k < 4; k++) {
    double med = median(t[k], reps);
    printf("  %s %6.0f MB/s  (median of %d; best %.0f, worst %.0f)\n", names[k], mb / med, reps,
           mb / t[k][0], mb / t[k][reps - 1]);
    lf_free(t[k]);
  }
  lf_free(data);
  return 0;
}

int main(int argc, char **argv)
{
  size_t big = (size_t)(argc > 1 ? strtoul(argv[1], NULL, 10) : 1024) << 20;
  size_t mid = (size_t)(argc > 2 ? strtoul(argv[2], NULL, 10) : 256) << 20;
  int reps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
  if (reps < 1) {
    reps = 1;
  }
  const char *base = getenv("LF_TEST_TMP");
  char *root = lf_xasprintf("%s/bench_store.%ld", base != NULL && base[0] ? base : "/tmp",
                            (long)getpid());
  lf_err err = {0};
  lf_store *st = lf_store_open_local(root, &err);
  if (st == NULL) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  int rc = 0;
  if (big > 0) {
    rc |= run(st, "incompressible (random doubles)", big, false, reps);
  }
  if (mid > 0) {
    rc |= run(st, "compressible (doubles, 1000 distinct values)", mid, true, reps);
  }
  lf_store_free(st);
  lf_fs_rmtree(root, &err);
  lf_free(root);
  return rc;
}
