// SPDX-License-Identifier: MIT
// A minimal fork-join helper over pthreads for the kernels: run one function on n threads
// and wait. No pool: the kernels that use it run for milliseconds or more, and a thread
// start costs microseconds.
#pragma once

/// Runs fn(tid, nthreads, ctx) for tid = 0 .. nthreads-1, tid 0 on the calling thread, the
/// others on new threads, and returns when all are done. If a thread cannot be started its
/// share runs on the calling thread afterwards, so the work is always complete.
/// @param nthreads clamped to 1 .. 256
void lf_par_run(int nthreads, void (*fn)(int tid, int nthreads, void *ctx), void *ctx);

/// The number of online CPUs (at least 1).
int lf_par_ncpu(void);

/// Splits [0, n) into `parts` nearly equal ranges and returns range `i` in *lo, *hi.
void lf_par_range(long long n, int parts, int i, long long *lo, long long *hi);
