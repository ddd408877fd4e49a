// SPDX-License-Identifier: MIT
// This file contains the fork-join helper the kernels use for threads (kernels/par.h).
#include "kernels/par.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

typedef struct par_job {
  void (*fn)(int tid, int nthreads, void *ctx);
  void *ctx;
  int tid;
  int n;
} par_job;

static void *par_main(void *arg)
{
  par_job *j = arg;
  j->fn(j->tid, j->n, j->ctx);
  return NULL;
}

void lf_par_run(int nthreads, void (*fn)(int tid, int nthreads, void *ctx), void *ctx)
{
  enum { MAXT = 256 };
  if (nthreads < 1) {
    nthreads = 1;
  }
  if (nthreads > MAXT) {
    nthreads = MAXT;
  }
  pthread_t th[MAXT];
  par_job jobs[MAXT];
  bool started[MAXT];
  for (int t = 1; t < nthreads; t++) {
    jobs[t] = (par_job){fn, ctx, t, nthreads};
    started[t] = pthread_create(&th[t], NULL, par_main, &jobs[t]) == 0;
  }
  fn(0, nthreads, ctx);
  for (int t = 1; t < nthreads; t++) {
    if (started[t]) {
      pthread_join(th[t], NULL);
    } else {
      fn(t, nthreads, ctx);
    }
  }
}

int lf_par_ncpu(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

void lf_par_range(long long n, int parts, int i, long long *lo, long long *hi)
{
  long long q = n / parts;
  long long r = n % parts;
  *lo = (long long)i * q + (i < r ? i : r);
  *hi = *lo + q + (i < r ? 1 : 0);
}
