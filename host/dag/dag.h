// SPDX-License-Identifier: MIT
// The flow graph: one node per step, found statically from the flow's Lua source (so `show`
// and `check` run no step code), validated (start/end, transitions, cycles, reachability,
// split/join balance) and rendered for `luaflow show`. Plain C over the source text: no Lua
// API here. Typical use by the loader:
//
//   lf_dag *d = lf_dag_new("flows/train.lua", src, len);
//   for each declared step: lf_dag_add_step(d, name, line, fn_line, fn_lastline, nparams,
//                                           self_name, has_options);
//   if (lf_dag_extract(d, &err) != LF_OK || lf_dag_validate(d, &err) != LF_OK) { ... }
//   char *text = lf_dag_describe(d, "TrainFlow", doc);
//
// A dag is used from one thread at a time.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/// What a step does after it runs, by its outgoing transition.
typedef enum lf_step_kind {
  LF_STEP_LINEAR = 0,  ///< self:next("b")
  LF_STEP_SPLIT = 1,   ///< self:next("b", "c", ...): a static split
  LF_STEP_FOREACH = 2, ///< self:next("b", { foreach = "items" })
  LF_STEP_END = 3,     ///< no transition (only 'end' in a valid flow)
} lf_step_kind;

/// One step. All strings are owned by the dag; borrowed until lf_dag_free.
typedef struct lf_dag_step {
  // Given by the host (lf_dag_add_step).
  char *name;       ///< step name
  int line;         ///< line of the `flow:step(` call (of the `flow` token), 1-based
  int fn_line;      ///< the step function's linedefined; 0 if unknown
  int fn_lastline;  ///< the step function's lastlinedefined; 0 if unknown
  int nparams;      ///< 1 = normal step, 2 = join; -1 = unknown (taken from the source)
  char *self_name;  ///< name of the function's first parameter; never NULL after extraction
  bool has_options; ///< an options table was given between name and function

  // Filled by lf_dag_extract (or lf_dag_set_next / lf_dag_set_doc).
  char *doc;          ///< the `---` block above the step, lines joined by '\n'; NULL if none
  char **next;        ///< transition targets in the order written
  size_t nnext;       ///< number of targets; 0 for 'end'
  int next_line;      ///< line of the self:next call; the step line if there is none
  char *foreach_var;  ///< for a foreach: the artifact holding the list; else NULL
  lf_step_kind kind;  ///< by the outgoing transition
  bool is_join;       ///< nparams == 2
  char *options_text; ///< summary shown by describe (lf_dag_set_options_text); NULL if none

  // Filled by lf_dag_validate (reset at each call).
  int split_of_join; ///< for a join: index of the split step it closes; else -1
  int join_of_split; ///< for a split or foreach: index of the join that closes it; else -1
  size_t *prev;      ///< in-edges as step indexes, in declaration order of the sources
  size_t nprev;
} lf_dag_step;

typedef struct lf_dag lf_dag;

/// Creates an empty graph over a flow's source. Copies `file_label` (the path used in error
/// messages, as the user gave it) and `len` bytes of `source` (need not be NUL-terminated).
/// @return a new dag; never NULL. Free with lf_dag_free.
lf_dag *lf_dag_new(const char *file_label, const char *source, size_t len);

/// Frees the dag and everything it owns. NULL is a no-op.
void lf_dag_free(lf_dag *dag);

/// Declares a step, in the order the flow file declared them. Copies the strings.
/// @param line        line of the `flow:step(` call (debug.getinfo(2, "l").currentline)
/// @param fn_line     the function's linedefined (0 if unknown)
/// @param fn_lastline the function's lastlinedefined (0 if unknown)
/// @param nparams     number of parameters (1 normal, 2 join; -1 to read it from the source)
/// @param self_name   name of the first parameter; NULL to read it from the source
/// @return the new step's index (declaration order)
int lf_dag_add_step(lf_dag *dag, const char *name, int line, int fn_line, int fn_lastline,
                    int nparams, const char *self_name, bool has_options);

/// Finds every step's source in the text (by order and name of the `<ident>:step("name", ...)`
/// calls, and the function's line), then reads its doc comment and its transition. Checks
/// that each step body ends with exactly one literal `<self>:next(...)` at block depth 0 (none
/// for 'end'). Steps are examined in declaration order; the first problem is reported.
/// @return LF_OK, or LF_ERR_FLOW with "<file>:<line>: step '<name>': ..." in `err`
lf_status lf_dag_extract(lf_dag *dag, lf_err *err);

/// Checks the graph: unique names, 'start' and 'end', known targets, no cycles, every step
/// reachable, joins exactly where branches meet, every split joined before 'end'. Fills
/// prev/split_of_join/join_of_split and the topological order. Checks run in a fixed order of
/// phases, each over the steps in declaration (or topological) order, so the reported
/// problem is deterministic.
/// @return LF_OK, or LF_ERR_FLOW with "<file>:<line>: step '<name>': ..." in `err`
lf_status lf_dag_validate(lf_dag *dag, lf_err *err);

/// Number of declared steps.
size_t lf_dag_count(const lf_dag *dag);
/// Step `i` (declaration order), borrowed until lf_dag_free; NULL if out of range.
const lf_dag_step *lf_dag_step_at(const lf_dag *dag, size_t i);
/// Index of the first step called `name`, or -1.
int lf_dag_find(const lf_dag *dag, const char *name);
/// The file label given to lf_dag_new (borrowed).
const char *lf_dag_file(const lf_dag *dag);
/// The source copy (borrowed, NUL-terminated); `len` may be NULL.
const char *lf_dag_source(const lf_dag *dag, size_t *len);

/// Steps in a topological order: start first, end last, otherwise declaration order whenever
/// there is a choice. Valid after a successful lf_dag_validate; before that (or after a
/// failed one) it is the declaration order. Borrowed until the next mutation or lf_dag_free.
/// @param[out] n number of entries
const size_t *lf_dag_order(const lf_dag *dag, size_t *n);

/// Sets a step's transition by hand (for graphs not read from source, and for tests); copies
/// the strings. `foreach_var` is NULL unless it is a foreach; `line` is the self:next line.
void lf_dag_set_next(lf_dag *dag, size_t step, const char *const *targets, size_t ntargets,
                     const char *foreach_var, int line);
/// Replaces a step's doc (copied; NULL clears it).
void lf_dag_set_doc(lf_dag *dag, size_t step, const char *doc);
/// Sets the one-line options summary `luaflow show` prints for a step (copied; NULL clears).
void lf_dag_set_options_text(lf_dag *dag, size_t step, const char *text);

/// Renders the `luaflow show` text: flow name and doc, then every step in topological order
/// with its doc, options summary and transitions ("=> a, b", "=> work (foreach items)"), joins
/// marked "(join)". `flow_doc` may be NULL.
/// @return a new string ending in '\n'; caller frees with lf_free
char *lf_dag_describe(const lf_dag *dag, const char *flow_name, const char *flow_doc);

// ---- Internal to host/dag/ (shared by dag.c, dag_extract.c, dag_validate.c). ----

/// Mutable access to step `i` for the extraction and validation passes.
lf_dag_step *lf_dag_step_mut(lf_dag *dag, size_t i);
/// Replaces the topological order; takes ownership of `order` (n entries, lf_xmalloc'd).
void lf_dag_set_order(lf_dag *dag, size_t *order, size_t n);
/// Sets `err` to LF_ERR_FLOW with "<file>:<line>: step '<step>': <fmt...>".
/// @return LF_ERR_FLOW
lf_status lf_dag_errf(const lf_dag *dag, lf_err *err, int line, const char *step,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
