// SPDX-License-Identifier: MIT
// This file contains the seeded random numbers of kernels/nd_ops.h: xoshiro256** seeded with
// splitmix64, uniform and normal deviates, and filling arrays with them. Same seed, same
// numbers, on every platform.
#include <math.h>

#include "kernels/nd_ops.h"

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

void lf_rng_seed(lf_rng *r, uint64_t seed)
{
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) {
    r->s[i] = splitmix64(&x);
  }
}

static inline uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

uint64_t lf_rng_next(lf_rng *r)
{
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double lf_rng_uniform(lf_rng *r)
{
  return (double)(lf_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t lf_rng_below(lf_rng *r, uint64_t n)
{
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    uint64_t x = lf_rng_next(r);
    if (x < limit) {
      return x % n;
    }
  }
}

double lf_rng_normal(lf_rng *r)
{
  double u = 1.0 - lf_rng_uniform(r); // (0, 1]: log is finite
  double v = lf_rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

typedef struct rand_ctx {
  lf_nd *a;
  lf_rng *r;
  bool normal;
  double lo;
  double hi;
} rand_ctx;

static void rand_one(int64_t off, void *vctx)
{
  rand_ctx *c = vctx;
  double x = c->normal ? c->lo + c->hi * lf_rng_normal(c->r)
                       : c->lo + (c->hi - c->lo) * lf_rng_uniform(c->r);
  if (!lf_nd_is_float(c->a->dtype)) {
    x = floor(x);
  }
  lf_nd_set_f(c->a, off, x);
}

void lf_nd_random(lf_nd *a, lf_rng *r, bool normal, double lo, double hi)
{
  rand_ctx c = {a, r, normal, lo, hi};
  lf_nd_foreach(a, rand_one, &c);
}
