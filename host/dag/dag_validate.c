// SPDX-License-Identifier: MIT
// This file contains the graph checks run by `luaflow check` and before every run. They run
// in phases, each over the steps in a fixed order, so the reported problem is deterministic:
//   1. names: duplicates, then 'start' and 'end' exist
//   2. each step alone, in declaration order: parameters, its transition, unknown targets
//   3. cycles (depth-first from 'start', then from the other steps in declaration order)
//   4. reachability from 'start'
//   5. split/join balance, in topological order: a walk from 'start' carrying the stack of
//      open splits; a split or foreach pushes itself for its targets, a join pops, and must
//      see one and the same stack on all its in-edges; a step that is not a join has one
//      in-edge; 'end' is reached with an empty stack.
#include "dag/dag.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

typedef struct graph {
  lf_dag *dag;
  lf_err *err;
  size_t n;
  size_t **out; // resolved targets of each step
  size_t *nout;
  size_t start;
  size_t end;
} graph;

static lf_status check_names(graph *g);
static lf_status check_step(graph *g, size_t i);
static void build_edges(graph *g);
static lf_status check_cycles(graph *g);
static lf_status check_reach(graph *g);
static void topo_order(graph *g);
static lf_status check_splits(graph *g);

lf_status lf_dag_validate(lf_dag *dag, lf_err *err)
{
  graph g = {.dag = dag, .err = err, .n = lf_dag_count(dag)};
  for (size_t i = 0; i < g.n; i++) {
    lf_dag_step *s = lf_dag_step_mut(dag, i);
    lf_free(s->prev);
    s->prev = NULL;
    s->nprev = 0;
    s->split_of_join = -1;
    s->join_of_split = -1;
  }
  size_t *ident = lf_xmalloc(g.n * sizeof(*ident));
  for (size_t i = 0; i < g.n; i++) {
    ident[i] = i;
  }
  lf_dag_set_order(dag, ident, g.n);

  lf_status st = check_names(&g);
  for (size_t i = 0; i < g.n && st == LF_OK; i++) {
    st = check_step(&g, i);
  }
  if (st != LF_OK) {
    return st;
  }
  build_edges(&g);
  st = check_cycles(&g);
  if (st == LF_OK) {
    st = check_reach(&g);
  }
  if (st == LF_OK) {
    topo_order(&g);
    st = check_splits(&g);
  }
  for (size_t i = 0; i < g.n; i++) {
    lf_free(g.out[i]);
  }
  lf_free(g.out);
  lf_free(g.nout);
  if (st != LF_OK) {
    // Keep the declaration order: a topological order of an invalid graph means little.
    ident = lf_xmalloc(g.n * sizeof(*ident));
    for (size_t i = 0; i < g.n; i++) {
      ident[i] = i;
    }
    lf_dag_set_order(dag, ident, g.n);
  }
  return st;
}

static const lf_dag_step *step(const graph *g, size_t i)
{
  return lf_dag_step_at(g->dag, i);
}

// The last line of the source that holds anything (1 for an empty file).
static int last_line(const lf_dag *dag)
{
  size_t len = 0;
  const char *s = lf_dag_source(dag, &len);
  int line = 1;
  int last = 1;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '\n' || c == '\r') {
      if (i + 1 < len && (s[i + 1] == '\n' || s[i + 1] == '\r') && s[i + 1] != c) {
        i++;
      }
      line++;
    } else if (c != ' ' && c != '\t') {
      last = line;
    }
  }
  return last;
}

static lf_status check_names(graph *g)
{
  for (size_t i = 0; i < g->n; i++) {
    for (size_t j = 0; j < i; j++) {
      if (strcmp(step(g, i)->name, step(g, j)->name) == 0) {
        return lf_dag_errf(g->dag, g->err, step(g, i)->line, step(g, i)->name,
                           "defined twice (first at line %d); rename one of them",
                           step(g, j)->line);
      }
    }
  }
  int start = lf_dag_find(g->dag, "start");
  if (start < 0) {
    return lf_dag_errf(g->dag, g->err, 1, "start",
                       "not defined; every flow begins with a 'start' step: add "
                       "flow:step(\"start\", function(self) ... end)");
  }
  int end = lf_dag_find(g->dag, "end");
  if (end < 0) {
    return lf_dag_errf(g->dag, g->err, last_line(g->dag), "end",
                       "not defined; every flow finishes with an 'end' step: add "
                       "flow:step(\"end\", function(self) ... end)");
  }
  g->start = (size_t)start;
  g->end = (size_t)end;
  return LF_OK;
}

// Levenshtein distance, or limit + 1 once it is certainly above `limit`.
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
  size_t la = strlen(a);
  size_t lb = strlen(b);
  if ((la > lb ? la - lb : lb - la) > limit) {
    return limit + 1;
  }
  size_t *row = lf_xmalloc((lb + 1) * sizeof(*row));
  for (size_t j = 0; j <= lb; j++) {
    row[j] = j;
  }
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
      if (up + 1 < best) {
        best = up + 1;
      }
      if (row[j - 1] + 1 < best) {
        best = row[j - 1] + 1;
      }
      row[j] = best;
      diag = up;
    }
  }
  size_t d = row[lb];
  lf_free(row);
  return d;
}

static lf_status unknown_target(graph *g, const lf_dag_step *s, const char *target)
{
  const char *best = NULL;
  size_t best_d = 3;
  size_t lt = strlen(target);
  for (size_t k = 0; k < g->n; k++) {
    const char *name = step(g, k)->name;
    size_t d = edit_distance(target, name, 2);
    // Only suggest names that keep something of the target ('x1' is not a typo of 'a').
    if (d < best_d && d < lt && d < strlen(name)) {
      best_d = d;
      best = name;
    }
  }
  if (best != NULL) {
    return lf_dag_errf(g->dag, g->err, s->next_line, s->name,
                       "transition to unknown step '%s'; did you mean '%s'?", target, best);
  }
  return lf_dag_errf(g->dag, g->err, s->next_line, s->name,
                     "transition to unknown step '%s'; define it with flow:step(\"%s\", ...) "
                     "or fix the name",
                     target, target);
}

static lf_status check_step(graph *g, size_t i)
{
  const lf_dag_step *s = step(g, i);
  const char *self = s->self_name != NULL ? s->self_name : "self";
  if (s->nparams == 0 || s->nparams > 2) {
    return lf_dag_errf(g->dag, g->err, s->line, s->name,
                       "its function takes %d parameters; declare it as function(%s), or "
                       "function(%s, inputs) for a join",
                       s->nparams, self, self);
  }
  if (i == g->end) {
    if (s->is_join) {
      return lf_dag_errf(g->dag, g->err, s->line, s->name,
                         "cannot be a join; declare it as function(%s) and join the branches "
                         "in a step before 'end'",
                         self);
    }
    if (s->nnext > 0) {
      return lf_dag_errf(g->dag, g->err, s->next_line, s->name,
                         "must not call %s:next(...); 'end' is the last step of a flow", self);
    }
    return LF_OK;
  }
  if (s->nnext == 0) {
    return lf_dag_errf(g->dag, g->err, s->line, s->name,
                       "has no transition; end its function with %s:next(\"<next step>\")",
                       self);
  }
  if (s->foreach_var != NULL && s->nnext != 1) {
    return lf_dag_errf(g->dag, g->err, s->next_line, s->name,
                       "a foreach has exactly one target step, got %zu; write %s:next(\"%s\", "
                       "{ foreach = \"%s\" })",
                       s->nnext, self, s->next[0], s->foreach_var);
  }
  for (size_t k = 0; k < s->nnext; k++) {
    for (size_t j = 0; j < k; j++) {
      if (strcmp(s->next[k], s->next[j]) == 0) {
        return lf_dag_errf(g->dag, g->err, s->next_line, s->name,
                           "transition to '%s' is listed twice", s->next[k]);
      }
    }
  }
  for (size_t k = 0; k < s->nnext; k++) {
    if (lf_dag_find(g->dag, s->next[k]) < 0) {
      return unknown_target(g, s, s->next[k]);
    }
  }
  return LF_OK;
}

static void build_edges(graph *g)
{
  g->out = lf_xcalloc(g->n, sizeof(*g->out));
  g->nout = lf_xcalloc(g->n, sizeof(*g->nout));
  size_t *nin = lf_xcalloc(g->n, sizeof(*nin));
  for (size_t i = 0; i < g->n; i++) {
    const lf_dag_step *s = step(g, i);
    g->out[i] = lf_xmalloc(s->nnext * sizeof(**g->out));
    for (size_t k = 0; k < s->nnext; k++) {
      size_t t = (size_t)lf_dag_find(g->dag, s->next[k]);
      g->out[i][g->nout[i]++] = t;
      nin[t]++;
    }
  }
  for (size_t i = 0; i < g->n; i++) {
    lf_dag_step_mut(g->dag, i)->prev = lf_xmalloc(nin[i] * sizeof(size_t));
  }
  for (size_t i = 0; i < g->n; i++) {
    for (size_t k = 0; k < g->nout[i]; k++) {
      lf_dag_step *t = lf_dag_step_mut(g->dag, g->out[i][k]);
      t->prev[t->nprev++] = i;
    }
  }
  lf_free(nin);
}

enum { WHITE, GRAY, BLACK };

static lf_status check_cycles(graph *g)
{
  unsigned char *color = lf_xcalloc(g->n, 1);
  size_t *stk = lf_xmalloc(g->n * sizeof(*stk));
  size_t *it = lf_xcalloc(g->n, sizeof(*it));
  lf_status st = LF_OK;
  for (size_t r = 0; r <= g->n && st == LF_OK; r++) {
    size_t root = r == 0 ? g->start : r - 1;
    if (color[root] != WHITE) {
      continue;
    }
    size_t sp = 0;
    stk[sp++] = root;
    color[root] = GRAY;
    while (sp > 0 && st == LF_OK) {
      size_t v = stk[sp - 1];
      if (it[v] == g->nout[v]) {
        color[v] = BLACK;
        sp--;
        continue;
      }
      size_t w = g->out[v][it[v]++];
      if (color[w] == WHITE) {
        color[w] = GRAY;
        stk[sp++] = w;
      } else if (color[w] == GRAY) {
        lf_dynbuf path;
        lf_dynbuf_init(&path, LF_ERR_MSG_SIZE);
        size_t from = sp;
        while (stk[from - 1] != w) {
          from--;
        }
        for (size_t k = from - 1; k < sp; k++) {
          lf_dynbuf_addf(&path, "%s -> ", step(g, stk[k])->name);
        }
        lf_dynbuf_adds(&path, step(g, w)->name);
        st = lf_dag_errf(g->dag, g->err, step(g, v)->next_line, step(g, v)->name,
                         "cycle %s; steps must not loop back to an earlier step (use a "
                         "foreach to repeat work)",
                         path.data != NULL ? path.data : "?");
        lf_dynbuf_free(&path);
      }
    }
  }
  lf_free(color);
  lf_free(stk);
  lf_free(it);
  return st;
}

static lf_status check_reach(graph *g)
{
  bool *seen = lf_xcalloc(g->n, sizeof(*seen));
  size_t *queue = lf_xmalloc(g->n * sizeof(*queue));
  size_t head = 0;
  size_t tail = 0;
  queue[tail++] = g->start;
  seen[g->start] = true;
  while (head < tail) {
    size_t v = queue[head++];
    for (size_t k = 0; k < g->nout[v]; k++) {
      size_t w = g->out[v][k];
      if (!seen[w]) {
        seen[w] = true;
        queue[tail++] = w;
      }
    }
  }
  lf_status st = LF_OK;
  for (size_t i = 0; i < g->n && st == LF_OK; i++) {
    if (!seen[i]) {
      st = lf_dag_errf(g->dag, g->err, step(g, i)->line, step(g, i)->name,
                       "not reachable from 'start'; add a transition to it or remove it");
    }
  }
  lf_free(seen);
  lf_free(queue);
  return st;
}

// Kahn's algorithm, always taking the ready step declared first: start comes first (it is the
// only step without in-edges), end last (every step leads to it), branches in declaration
// order.
static void topo_order(graph *g)
{
  size_t *indeg = lf_xcalloc(g->n, sizeof(*indeg));
  bool *done = lf_xcalloc(g->n, sizeof(*done));
  size_t *order = lf_xmalloc(g->n * sizeof(*order));
  for (size_t i = 0; i < g->n; i++) {
    indeg[i] = step(g, i)->nprev;
  }
  for (size_t k = 0; k < g->n; k++) {
    size_t v = 0;
    while (done[v] || indeg[v] != 0) {
      v++; // the graph is acyclic, so a ready step exists
    }
    done[v] = true;
    order[k] = v;
    for (size_t e = 0; e < g->nout[v]; e++) {
      indeg[g->out[v][e]]--;
    }
  }
  lf_dag_set_order(g->dag, order, g->n);
  lf_free(indeg);
  lf_free(done);
}

typedef struct stacks {
  size_t **own; // open splits after each step (a join has popped its split)
  size_t *len;
  size_t *a;    // scratch edge stacks
  size_t *b;
} stacks;

static bool is_split(const lf_dag_step *s)
{
  return s->kind == LF_STEP_SPLIT || s->kind == LF_STEP_FOREACH;
}

// The open splits on the edge p -> *: p's own stack, plus p itself if p splits.
static size_t edge_stack(const graph *g, const stacks *k, size_t p, size_t *buf)
{
  size_t n = k->len[p];
  memcpy(buf, k->own[p], n * sizeof(*buf));
  if (is_split(step(g, p))) {
    buf[n++] = p;
  }
  return n;
}

static void describe_origin(lf_dynbuf *b, const graph *g, size_t p, const size_t *stk, size_t n)
{
  if (n == 0) {
    lf_dynbuf_addf(b, "'%s' is not inside any split", step(g, p)->name);
  } else {
    lf_dynbuf_addf(b, "'%s' comes from split '%s'", step(g, p)->name, step(g, stk[n - 1])->name);
  }
}

static lf_status check_join(graph *g, stacks *k, size_t v)
{
  lf_dag_step *s = lf_dag_step_mut(g->dag, v);
  const char *self = s->self_name != NULL ? s->self_name : "self";
  size_t na = s->nprev > 0 ? edge_stack(g, k, s->prev[0], k->a) : 0;
  for (size_t e = 1; e < s->nprev; e++) {
    size_t nb = edge_stack(g, k, s->prev[e], k->b);
    if (nb != na || memcmp(k->a, k->b, na * sizeof(*k->a)) != 0) {
      lf_dynbuf m;
      lf_dynbuf_init(&m, LF_ERR_MSG_SIZE);
      describe_origin(&m, g, s->prev[0], k->a, na);
      lf_dynbuf_adds(&m, ", ");
      describe_origin(&m, g, s->prev[e], k->b, nb);
      lf_status st = lf_dag_errf(g->dag, g->err, s->line, s->name,
                                 "joins steps from different splits (%s); a join must close "
                                 "exactly one split, so join the inner split first",
                                 m.data != NULL ? m.data : "?");
      lf_dynbuf_free(&m);
      return st;
    }
  }
  if (na == 0) {
    return lf_dag_errf(g->dag, g->err, s->line, s->name,
                       "is a join (function(%s, inputs)) but closes no split; declare it as "
                       "function(%s), or split into branches before it",
                       self, self);
  }
  size_t split = k->a[na - 1];
  for (size_t e = 0; e < s->nprev; e++) {
    if (s->prev[e] == split) {
      return lf_dag_errf(g->dag, g->err, s->line, s->name,
                         "is both a branch of split '%s' and its join; add a step between "
                         "them",
                         step(g, split)->name);
    }
  }
  lf_dag_step *sp = lf_dag_step_mut(g->dag, split);
  if (sp->join_of_split >= 0 && (size_t)sp->join_of_split != v) {
    return lf_dag_errf(g->dag, g->err, s->line, s->name,
                       "branches of split '%s' end in different joins ('%s' and '%s'); lead "
                       "them all to one join",
                       sp->name, step(g, (size_t)sp->join_of_split)->name, s->name);
  }
  sp->join_of_split = (int)v;
  s->split_of_join = (int)split;
  k->own[v] = lf_xmalloc(na * sizeof(size_t));
  memcpy(k->own[v], k->a, (na - 1) * sizeof(size_t));
  k->len[v] = na - 1;
  return LF_OK;
}

static lf_status many_inputs(graph *g, size_t v)
{
  const lf_dag_step *s = step(g, v);
  const char *self = s->self_name != NULL ? s->self_name : "self";
  lf_dynbuf from;
  lf_dynbuf_init(&from, LF_ERR_MSG_SIZE);
  for (size_t e = 0; e < s->nprev; e++) {
    lf_dynbuf_addf(&from, "%s'%s'", e != 0 ? ", " : "", step(g, s->prev[e])->name);
  }
  const char *list = from.data != NULL ? from.data : "?";
  lf_status st;
  if (v == g->end) {
    st = lf_dag_errf(g->dag, g->err, s->line, s->name,
                     "is reached from %zu steps (%s); branches must meet in a join step, "
                     "declared as function(self, inputs), before 'end'",
                     s->nprev, list);
  } else {
    st = lf_dag_errf(g->dag, g->err, s->line, s->name,
                     "has %zu incoming transitions (from %s) but is not a join; declare it as "
                     "function(%s, inputs)",
                     s->nprev, list, self);
  }
  lf_dynbuf_free(&from);
  return st;
}

static lf_status never_joined(graph *g, size_t split)
{
  const lf_dag_step *s = step(g, split);
  lf_dynbuf what;
  lf_dynbuf_init(&what, LF_ERR_MSG_SIZE);
  if (s->kind == LF_STEP_FOREACH) {
    lf_dynbuf_addf(&what, "the foreach over '%s'", s->foreach_var);
  } else {
    lf_dynbuf_adds(&what, "the split into ");
    for (size_t e = 0; e < s->nnext; e++) {
      lf_dynbuf_addf(&what, "%s'%s'", e != 0 ? ", " : "", s->next[e]);
    }
  }
  lf_status st = lf_dag_errf(g->dag, g->err, s->next_line, s->name,
                             "%s is never joined; add a join step, declared as "
                             "function(self, inputs), that its branches lead to before 'end'",
                             what.data != NULL ? what.data : "?");
  lf_dynbuf_free(&what);
  return st;
}

static lf_status check_splits(graph *g)
{
  stacks k = {
      .own = lf_xcalloc(g->n, sizeof(*k.own)),
      .len = lf_xcalloc(g->n, sizeof(*k.len)),
      .a = lf_xmalloc((g->n + 1) * sizeof(size_t)),
      .b = lf_xmalloc((g->n + 1) * sizeof(size_t)),
  };
  size_t norder = 0;
  const size_t *order = lf_dag_order(g->dag, &norder);
  lf_status st = LF_OK;
  for (size_t o = 0; o < norder && st == LF_OK; o++) {
    size_t v = order[o];
    const lf_dag_step *s = step(g, v);
    if (s->is_join) {
      st = check_join(g, &k, v);
    } else if (s->nprev > 1) {
      st = many_inputs(g, v);
    } else {
      size_t n = s->nprev == 1 ? edge_stack(g, &k, s->prev[0], k.a) : 0;
      k.own[v] = lf_xmalloc((n + 1) * sizeof(size_t));
      memcpy(k.own[v], k.a, n * sizeof(size_t));
      k.len[v] = n;
    }
    if (st == LF_OK && v == g->end && k.len[v] > 0) {
      st = never_joined(g, k.own[v][0]);
    }
  }
  for (size_t i = 0; i < g->n; i++) {
    lf_free(k.own[i]);
  }
  lf_free(k.own);
  lf_free(k.len);
  lf_free(k.a);
  lf_free(k.b);
  return st;
}
