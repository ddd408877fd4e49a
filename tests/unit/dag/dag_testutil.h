// SPDX-License-Identifier: MIT
// Shared by the dag unit tests: a stand-in for the host that declares the steps of a test
// flow as the Lua loader would, and helpers that load, extract and validate a flow source.
#pragma once

#include <stdbool.h>

#include "core/alloc.h"
#include "dag/dag.h"
#include "testhelp.h"

// ---- A stand-in for the host: declares the steps of a test flow as the Lua loader would. ----
// It finds `:step("name"` the simple way (test flows keep such text out of comment lines)
// and reads the line numbers and the parameters of the function that follows.

static int line_of(const char *src, const char *p)
{
  int line = 1;
  for (const char *q = src; q < p; q++) {
    line += *q == '\n';
  }
  return line;
}

static void declare_steps(lf_dag *d, const char *src)
{
  const char *p = src;
  while ((p = strstr(p, ":step(")) != NULL) {
    const char *bol = p;
    while (bol > src && bol[-1] != '\n') {
      bol--;
    }
    bool in_comment = false;
    for (const char *q = bol; q + 1 < p; q++) {
      in_comment = in_comment || (q[0] == '-' && q[1] == '-');
    }
    const char *q = p + 6;
    while (*q == ' ' || *q == '\n') {
      q++;
    }
    if (in_comment || (*q != '"' && *q != '\'')) {
      p += 6;
      continue;
    }
    char quote = *q++;
    const char *ne = strchr(q, quote);
    char *name = lf_xmemdupz(q, (size_t)(ne - q));
    const char *fn = strstr(ne, "function");
    for (;;) { // the step function is an argument: `, function`
      const char *b = fn;
      while (b > ne && (b[-1] == ' ' || b[-1] == '\n')) {
        b--;
      }
      if (b[-1] == ',') {
        break;
      }
      fn = strstr(fn + 1, "function");
    }
    const char *open = strchr(fn, '(');
    const char *close = strchr(open, ')');
    int nparams = 0;
    char *self = NULL;
    for (const char *r = open + 1; r < close; r++) {
      if (*r == ',') {
        nparams++;
      } else if (*r != ' ' && nparams == 0 && self == NULL) {
        const char *e = r;
        while (e < close && *e != ',' && *e != ' ') {
          e++;
        }
        self = lf_xmemdupz(r, (size_t)(e - r));
      }
    }
    if (self != NULL) {
      nparams++;
    }
    bool has_options = memchr(ne, '{', (size_t)(fn - ne)) != NULL;
    lf_dag_add_step(d, name, line_of(src, p), line_of(src, fn), 0, nparams, self, has_options);
    lf_free(name);
    lf_free(self);
    p = ne;
  }
}

static lf_dag *load(const char *src)
{
  lf_dag *d = lf_dag_new("flow.lua", src, strlen(src));
  declare_steps(d, src);
  return d;
}

static char th_msg[LF_ERR_MSG_SIZE];

// Extracts and validates; "" when the flow is valid, else the error message.
static const char *flow_error(const char *src)
{
  lf_dag *d = load(src);
  lf_err err = {0};
  lf_status st = lf_dag_extract(d, &err);
  if (st == LF_OK) {
    st = lf_dag_validate(d, &err);
  }
  snprintf(th_msg, sizeof(th_msg), "%s", st == LF_OK ? "" : err.msg);
  if (st != LF_OK && st != LF_ERR_FLOW) {
    snprintf(th_msg, sizeof(th_msg), "unexpected status %d", (int)st);
  }
  lf_dag_free(d);
  return th_msg;
}

#define EXPECT_OK(src) CHECK_STR(flow_error(src), "")
#define EXPECT_ERR(src, msg) CHECK_STR(flow_error(src), msg)
