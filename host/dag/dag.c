// SPDX-License-Identifier: MIT
// This file contains the flow graph object: step storage, accessors, setters, the shared
// error formatter, and the `luaflow show` rendering. Extraction from source lives in
// dag_extract.c, graph checks in dag_validate.c.
#include "dag/dag.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

struct lf_dag {
  char *file;         // label for messages
  char *src;          // NUL-terminated copy of the source
  size_t len;
  lf_dag_step *steps; // declaration order
  size_t n;
  size_t cap;
  size_t *order;      // topological order once validated, else declaration order
  size_t norder;
};

static void clear_next(lf_dag_step *s);
static void reset_identity_order(lf_dag *dag);
static void add_indented(lf_dynbuf *b, const char *text);

lf_dag *lf_dag_new(const char *file_label, const char *source, size_t len)
{
  lf_dag *dag = lf_xcalloc(1, sizeof(*dag));
  dag->file = lf_xstrdup(file_label != NULL ? file_label : "?");
  dag->src = lf_xmemdupz(source != NULL ? source : "", source != NULL ? len : 0);
  dag->len = source != NULL ? len : 0;
  return dag;
}

void lf_dag_free(lf_dag *dag)
{
  if (dag == NULL) {
    return;
  }
  for (size_t i = 0; i < dag->n; i++) {
    lf_dag_step *s = &dag->steps[i];
    lf_free(s->name);
    lf_free(s->self_name);
    lf_free(s->doc);
    clear_next(s);
    lf_free(s->options_text);
    lf_free(s->prev);
  }
  lf_free(dag->steps);
  lf_free(dag->order);
  lf_free(dag->file);
  lf_free(dag->src);
  lf_free(dag);
}

int lf_dag_add_step(lf_dag *dag, const char *name, int line, int fn_line, int fn_lastline,
                    int nparams, const char *self_name, bool has_options)
{
  if (dag->n == dag->cap) {
    dag->cap = dag->cap != 0 ? dag->cap * 2 : 16;
    dag->steps = lf_xrealloc(dag->steps, dag->cap * sizeof(*dag->steps));
  }
  lf_dag_step *s = &dag->steps[dag->n];
  memset(s, 0, sizeof(*s));
  s->name = lf_xstrdup(name != NULL ? name : "");
  s->line = line;
  s->fn_line = fn_line;
  s->fn_lastline = fn_lastline;
  s->nparams = nparams;
  s->self_name = lf_xstrdup(self_name);
  s->has_options = has_options;
  s->next_line = line;
  s->kind = LF_STEP_END;
  s->is_join = nparams == 2;
  s->split_of_join = -1;
  s->join_of_split = -1;
  dag->n++;
  reset_identity_order(dag);
  return (int)(dag->n - 1);
}

size_t lf_dag_count(const lf_dag *dag)
{
  return dag->n;
}

const lf_dag_step *lf_dag_step_at(const lf_dag *dag, size_t i)
{
  return i < dag->n ? &dag->steps[i] : NULL;
}

lf_dag_step *lf_dag_step_mut(lf_dag *dag, size_t i)
{
  return i < dag->n ? &dag->steps[i] : NULL;
}

int lf_dag_find(const lf_dag *dag, const char *name)
{
  for (size_t i = 0; i < dag->n; i++) {
    if (strcmp(dag->steps[i].name, name) == 0) {
      return (int)i;
    }
  }
  return -1;
}

const char *lf_dag_file(const lf_dag *dag)
{
  return dag->file;
}

const char *lf_dag_source(const lf_dag *dag, size_t *len)
{
  if (len != NULL) {
    *len = dag->len;
  }
  return dag->src;
}

const size_t *lf_dag_order(const lf_dag *dag, size_t *n)
{
  *n = dag->norder;
  return dag->order;
}

void lf_dag_set_order(lf_dag *dag, size_t *order, size_t n)
{
  lf_free(dag->order);
  dag->order = order;
  dag->norder = n;
}

void lf_dag_set_next(lf_dag *dag, size_t step, const char *const *targets, size_t ntargets,
                     const char *foreach_var, int line)
{
  if (step >= dag->n) {
    return;
  }
  lf_dag_step *s = &dag->steps[step];
  clear_next(s);
  if (ntargets != 0) {
    s->next = lf_xmalloc(ntargets * sizeof(*s->next));
    for (size_t i = 0; i < ntargets; i++) {
      s->next[i] = lf_xstrdup(targets[i]);
    }
  }
  s->nnext = ntargets;
  s->foreach_var = lf_xstrdup(foreach_var);
  s->next_line = line > 0 ? line : s->line;
  if (ntargets == 0) {
    s->kind = LF_STEP_END;
  } else if (foreach_var != NULL) {
    s->kind = LF_STEP_FOREACH;
  } else if (ntargets > 1) {
    s->kind = LF_STEP_SPLIT;
  } else {
    s->kind = LF_STEP_LINEAR;
  }
  // The topological order, if any, described the old edges.
  reset_identity_order(dag);
}

void lf_dag_set_doc(lf_dag *dag, size_t step, const char *doc)
{
  if (step < dag->n) {
    lf_free(dag->steps[step].doc);
    dag->steps[step].doc = lf_xstrdup(doc);
  }
}

void lf_dag_set_options_text(lf_dag *dag, size_t step, const char *text)
{
  if (step < dag->n) {
    lf_free(dag->steps[step].options_text);
    dag->steps[step].options_text = lf_xstrdup(text);
  }
}

lf_status lf_dag_errf(const lf_dag *dag, lf_err *err, int line, const char *step,
                      const char *fmt, ...)
{
  char what[LF_ERR_MSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  // Messages are one line; names quoted from the source could hold control characters.
  for (char *p = what; *p != '\0'; p++) {
    if ((unsigned char)*p < 0x20) {
      *p = '?';
    }
  }
  return LF_ERR(err, LF_ERR_FLOW, "%s:%d: step '%s': %s", dag->file, line > 0 ? line : 1, step,
                what);
}

char *lf_dag_describe(const lf_dag *dag, const char *flow_name, const char *flow_doc)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, SIZE_MAX / 2);
  lf_dynbuf_adds(&b, flow_name != NULL ? flow_name : "Flow");
  lf_dynbuf_addc(&b, '\n');
  if (flow_doc != NULL && flow_doc[0] != '\0') {
    add_indented(&b, flow_doc);
  }
  for (size_t k = 0; k < dag->norder; k++) {
    const lf_dag_step *s = &dag->steps[dag->order[k]];
    lf_dynbuf_addf(&b, "\nStep %s%s\n", s->name, s->is_join ? " (join)" : "");
    if (s->doc != NULL && s->doc[0] != '\0') {
      add_indented(&b, s->doc);
    }
    if (s->options_text != NULL && s->options_text[0] != '\0') {
      lf_dynbuf_addf(&b, "    options: %s\n", s->options_text);
    }
    if (s->nnext == 0) {
      continue;
    }
    lf_dynbuf_adds(&b, "    =>");
    for (size_t i = 0; i < s->nnext; i++) {
      lf_dynbuf_addf(&b, "%s %s", i != 0 ? "," : "", s->next[i]);
    }
    if (s->foreach_var != NULL) {
      lf_dynbuf_addf(&b, " (foreach %s)", s->foreach_var);
    }
    lf_dynbuf_addc(&b, '\n');
  }
  return lf_dynbuf_take(&b, NULL);
}

static void clear_next(lf_dag_step *s)
{
  for (size_t i = 0; i < s->nnext; i++) {
    lf_free(s->next[i]);
  }
  lf_free(s->next);
  s->next = NULL;
  s->nnext = 0;
  lf_free(s->foreach_var);
  s->foreach_var = NULL;
}

static void reset_identity_order(lf_dag *dag)
{
  size_t *order = lf_xmalloc(dag->n * sizeof(*order));
  for (size_t i = 0; i < dag->n; i++) {
    order[i] = i;
  }
  lf_dag_set_order(dag, order, dag->n);
}

// Each line of `text` on its own line, indented four spaces (an empty line stays empty).
static void add_indented(lf_dynbuf *b, const char *text)
{
  const char *p = text;
  for (;;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
    if (n != 0) {
      lf_dynbuf_adds(b, "    ");
      lf_dynbuf_add(b, p, n);
    }
    lf_dynbuf_addc(b, '\n');
    if (nl == NULL) {
      break;
    }
    p = nl + 1;
  }
}
