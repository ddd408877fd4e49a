// SPDX-License-Identifier: MIT
// A tiny assert header for unit tests (Redis testhelp.h, curl unitcheck.h): each check prints
// file:line on failure and counts; main returns non-zero if any check failed.
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int th_failed;
static int th_passed;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (cond) {                                                               \
      th_passed++;                                                            \
    } else {                                                                  \
      th_failed++;                                                            \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                         \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                              \
  do {                                                                                  \
    long long th_a = (long long)(a), th_b = (long long)(b);                             \
    if (th_a == th_b) {                                                                 \
      th_passed++;                                                                      \
    } else {                                                                            \
      th_failed++;                                                                      \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, \
              #b, th_a, th_b);                                                          \
    }                                                                                   \
  } while (0)

#define CHECK_STR(a, b)                                                                  \
  do {                                                                                   \
    const char *th_a = (a), *th_b = (b);                                                 \
    if (th_a != NULL && th_b != NULL && strcmp(th_a, th_b) == 0) {                       \
      th_passed++;                                                                       \
    } else {                                                                             \
      th_failed++;                                                                       \
      fprintf(stderr, "%s:%d: %s == %s failed:\n  got:      %s\n  expected: %s\n",       \
              __FILE__, __LINE__, #a, #b, th_a ? th_a : "(null)", th_b ? th_b : "(null)"); \
    }                                                                                    \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                                       \
  do {                                                                                    \
    const char *th_h = (hay), *th_n = (needle);                                           \
    if (th_h != NULL && strstr(th_h, th_n) != NULL) {                                     \
      th_passed++;                                                                        \
    } else {                                                                              \
      th_failed++;                                                                        \
      fprintf(stderr, "%s:%d: expected %s to contain \"%s\", got: %s\n", __FILE__, __LINE__, \
              #hay, th_n, th_h ? th_h : "(null)");                                        \
    }                                                                                     \
  } while (0)

#define TEST_REPORT()                                                       \
  (printf("%s: %d checks passed, %d failed\n", __FILE__, th_passed, th_failed), \
   th_failed == 0 ? 0 : 1)
