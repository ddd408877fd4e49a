// SPDX-License-Identifier: MIT
// Unit tests for host/dag/dag_validate.c: valid graph shapes (branches, foreach, nesting)
// and every invalid case with its exact message.

#include "dag_testutil.h"

// S(name, body) is one step on one line: line numbers below are the step's position.
#define S(name, body) "flow:step(\"" name "\", function(self) " body " end)\n"
#define J(name, body) "flow:step(\"" name "\", function(self, inputs) " body " end)\n"
#define END "flow:step(\"end\", function(self) end)\n"

static lf_dag *validated(const char *src)
{
  lf_dag *d = load(src);
  lf_err err = {0};
  lf_status st = lf_dag_extract(d, &err);
  if (st == LF_OK) {
    st = lf_dag_validate(d, &err);
  }
  CHECK_STR(err.msg, "");
  return d;
}

static const lf_dag_step *by_name(const lf_dag *d, const char *name)
{
  int i = lf_dag_find(d, name);
  return i < 0 ? NULL : lf_dag_step_at(d, (size_t)i);
}

// The step names in lf_dag_order, space-separated, in a static buffer.
static const char *order_of(const lf_dag *d)
{
  static char buf[512];
  size_t n = 0;
  const size_t *o = lf_dag_order(d, &n);
  buf[0] = '\0';
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(buf + len, sizeof(buf) - len, "%s%s", i != 0 ? " " : "",
                     lf_dag_step_at(d, o[i])->name);
    len += (size_t)w;
  }
  return buf;
}

static int idx(const lf_dag *d, const char *name)
{
  return lf_dag_find(d, name);
}

static void test_linear(void)
{
  lf_dag *d = validated(S("start", "self:next('a')") S("a", "self:next('end')") END);
  CHECK_STR(order_of(d), "start a end");
  CHECK_EQ_INT(by_name(d, "a")->nprev, 1);
  CHECK_EQ_INT(by_name(d, "a")->prev[0], idx(d, "start"));
  CHECK_EQ_INT(by_name(d, "start")->nprev, 0);
  CHECK_EQ_INT(by_name(d, "start")->join_of_split, -1);
  lf_dag_free(d);
}

static void test_static_branch(void)
{
  lf_dag *d = validated(S("start", "self:next('add_one', 'add_two')")
                        S("add_one", "self:next('join')")
                        S("add_two", "self:next('join')")
                        J("join", "self:next('end')") END);
  CHECK_STR(order_of(d), "start add_one add_two join end");
  const lf_dag_step *j = by_name(d, "join");
  CHECK_EQ_INT(j->split_of_join, idx(d, "start"));
  CHECK_EQ_INT(by_name(d, "start")->join_of_split, idx(d, "join"));
  CHECK_EQ_INT(j->nprev, 2);
  CHECK_EQ_INT(j->prev[0], idx(d, "add_one"));
  CHECK_EQ_INT(j->prev[1], idx(d, "add_two"));
  lf_dag_free(d);
}

static void test_nested_branches(void)
{
  lf_dag *d = validated(S("start", "self:next('a', 'b', 'c')")
                        S("a", "self:next('a1', 'a2')")
                        S("a1", "self:next('ja')")
                        S("a2", "self:next('a3')")
                        S("a3", "self:next('ja')")
                        J("ja", "self:next('j')")
                        S("b", "self:next('j')")
                        S("c", "self:next('j')")
                        J("j", "self:next('end')") END);
  CHECK_STR(order_of(d), "start a a1 a2 a3 ja b c j end");
  CHECK_EQ_INT(by_name(d, "ja")->split_of_join, idx(d, "a"));
  CHECK_EQ_INT(by_name(d, "a")->join_of_split, idx(d, "ja"));
  CHECK_EQ_INT(by_name(d, "j")->split_of_join, idx(d, "start"));
  CHECK_EQ_INT(by_name(d, "j")->nprev, 3);
  lf_dag_free(d);
}

static void test_foreach(void)
{
  lf_dag *d = validated(S("start", "self.items = {1, 2} self:next('work', { foreach = 'items' })")
                        S("work", "self.out = self.input * 2 self:next('join')")
                        J("join", "self:next('end')") END);
  CHECK_EQ_INT(by_name(d, "start")->kind, LF_STEP_FOREACH);
  CHECK_EQ_INT(by_name(d, "join")->split_of_join, idx(d, "start"));
  CHECK_EQ_INT(by_name(d, "start")->join_of_split, idx(d, "join"));
  CHECK_EQ_INT(by_name(d, "join")->nprev, 1);
  lf_dag_free(d);
}

static void test_nested_foreach(void)
{
  lf_dag *d = validated(S("start", "self:next('outer', { foreach = 'xs' })")
                        S("outer", "self:next('inner', { foreach = 'ys' })")
                        S("inner", "self:next('join_inner')")
                        J("join_inner", "self:next('join_outer')")
                        J("join_outer", "self:next('end')") END);
  CHECK_EQ_INT(by_name(d, "join_inner")->split_of_join, idx(d, "outer"));
  CHECK_EQ_INT(by_name(d, "join_outer")->split_of_join, idx(d, "start"));
  lf_dag_free(d);
}

static void test_split_inside_foreach(void)
{
  lf_dag *d = validated(S("start", "self:next('w', { foreach = 'items' })")
                        S("w", "self:next('a', 'b')")
                        S("a", "self:next('j1')")
                        S("b", "self:next('j1')")
                        J("j1", "self:next('j2')")
                        J("j2", "self:next('end')") END);
  CHECK_EQ_INT(by_name(d, "j1")->split_of_join, idx(d, "w"));
  CHECK_EQ_INT(by_name(d, "j2")->split_of_join, idx(d, "start"));
  lf_dag_free(d);
}

static void test_foreach_inside_branches(void)
{
  lf_dag *d = validated(S("start", "self:next('a', 'b')")
                        S("a", "self:next('fa', { foreach = 'xs' })")
                        S("fa", "self:next('ja')")
                        J("ja", "self:next('j')")
                        S("b", "self:next('j')")
                        J("j", "self:next('w')")
                        S("w", "self:next('body', { foreach = 'ys' })")
                        S("body", "self:next('jw')")
                        J("jw", "self:next('end')") END);
  CHECK_EQ_INT(by_name(d, "ja")->split_of_join, idx(d, "a"));
  CHECK_EQ_INT(by_name(d, "j")->split_of_join, idx(d, "start"));
  CHECK_EQ_INT(by_name(d, "jw")->split_of_join, idx(d, "w"));
  CHECK_STR(order_of(d), "start a fa ja b j w body jw end");
  lf_dag_free(d);
}

static void test_order_follows_declaration(void)
{
  // end declared first, branches declared in reverse: start first, end last, and the
  // ready step declared first whenever there is a choice.
  lf_dag *d = validated(END J("join", "self:next('end')") S("b", "self:next('join')")
                            S("a", "self:next('join')") S("start", "self:next('a', 'b')"));
  CHECK_STR(order_of(d), "start b a join end");
  lf_dag_free(d);
}

static void test_missing_steps(void)
{
  EXPECT_ERR(S("begin", "self:next('end')") END,
             "flow.lua:1: step 'start': not defined; every flow begins with a 'start' step: add "
             "flow:step(\"start\", function(self) ... end)");
  EXPECT_ERR(S("start", "self:next('a')") S("a", "self:next('finish')") "\n"
             "return flow\n\n",
             "flow.lua:4: step 'end': not defined; every flow finishes with an 'end' step: add "
             "flow:step(\"end\", function(self) ... end)");
  EXPECT_ERR("", "flow.lua:1: step 'start': not defined; every flow begins with a 'start' "
                 "step: add flow:step(\"start\", function(self) ... end)");
}

static void test_duplicate(void)
{
  EXPECT_ERR(S("start", "self:next('a')") S("a", "self:next('end')") S("a", "self:next('end')")
                 END,
             "flow.lua:3: step 'a': defined twice (first at line 2); rename one of them");
}

static void test_unknown_target(void)
{
  EXPECT_ERR(S("start", "self:next('add_on', 'add_two')") S("add_one", "self:next('join')")
                 S("add_two", "self:next('join')") J("join", "self:next('end')") END,
             "flow.lua:1: step 'start': transition to unknown step 'add_on'; did you mean "
             "'add_one'?");
  EXPECT_ERR(S("start", "self:next('a')") S("a", "self:next('ned')") END,
             "flow.lua:2: step 'a': transition to unknown step 'ned'; did you mean 'end'?");
  EXPECT_ERR(S("start", "self:next('a')") S("a", "self:next('training')") END,
             "flow.lua:2: step 'a': transition to unknown step 'training'; define it with "
             "flow:step(\"training\", ...) or fix the name");
  // The first problem in declaration order wins.
  EXPECT_ERR(S("start", "self:next('x1')") S("a", "self:next('x2')") END,
             "flow.lua:1: step 'start': transition to unknown step 'x1'; define it with "
             "flow:step(\"x1\", ...) or fix the name");
}

static void test_params(void)
{
  EXPECT_ERR("flow:step(\"start\", function() self:next('end') end)\n" END,
             "flow.lua:1: step 'start': its function takes 0 parameters; declare it as "
             "function(self), or function(self, inputs) for a join");
  EXPECT_ERR(S("start", "self:next('a')") "flow:step(\"a\", function(s, i, x) s:next('end') end)\n"
                 END,
             "flow.lua:2: step 'a': its function takes 3 parameters; declare it as function(s), "
             "or function(s, inputs) for a join");
}

static void test_end_rules(void)
{
  EXPECT_ERR(S("start", "self:next('a', 'b')") S("a", "self:next('end')") S("b", "self:next('end')")
                 J("end", ""),
             "flow.lua:4: step 'end': cannot be a join; declare it as function(self) and join the "
             "branches in a step before 'end'");
  // Graphs given by hand go through the same checks as extracted ones.
  const char *src = S("start", "self:next('end')") END;
  lf_dag *d = load(src);
  const char *to_start[] = {"start"};
  lf_dag_set_next(d, 0, (const char *const[]){"end"}, 1, NULL, 1);
  lf_dag_set_next(d, 1, to_start, 1, NULL, 2);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_ERR_FLOW);
  CHECK_STR(err.msg, "flow.lua:2: step 'end': must not call self:next(...); 'end' is the last "
                     "step of a flow");
  lf_dag_set_next(d, 1, NULL, 0, NULL, 0);
  lf_dag_set_next(d, 0, NULL, 0, NULL, 0);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_ERR_FLOW);
  CHECK_STR(err.msg, "flow.lua:1: step 'start': has no transition; end its function with "
                     "self:next(\"<next step>\")");
  lf_dag_free(d);
}

static void test_cycles(void)
{
  EXPECT_ERR(S("start", "self:next('a')") S("a", "self:next('b')") S("b", "self:next('a')") END,
             "flow.lua:3: step 'b': cycle a -> b -> a; steps must not loop back to an earlier "
             "step (use a foreach to repeat work)");
  EXPECT_ERR(S("start", "self:next('a')") S("a", "self:next('a')") END,
             "flow.lua:2: step 'a': cycle a -> a; steps must not loop back to an earlier step "
             "(use a foreach to repeat work)");
  EXPECT_ERR(S("start", "self:next('a', 'end')") S("a", "self:next('start')") END,
             "flow.lua:2: step 'a': cycle start -> a -> start; steps must not loop back to an "
             "earlier step (use a foreach to repeat work)");
  // A cycle among steps that start cannot reach is still reported as a cycle.
  EXPECT_ERR(S("start", "self:next('end')") S("x", "self:next('y')") S("y", "self:next('x')")
                 END,
             "flow.lua:3: step 'y': cycle x -> y -> x; steps must not loop back to an earlier "
             "step (use a foreach to repeat work)");
}

static void test_unreachable(void)
{
  EXPECT_ERR(S("start", "self:next('end')") S("orphan", "self:next('end')")
                 S("orphan2", "self:next('end')") END,
             "flow.lua:2: step 'orphan': not reachable from 'start'; add a transition to it or "
             "remove it");
}

static void test_join_without_split(void)
{
  EXPECT_ERR(S("start", "self:next('j')") J("j", "self:next('end')") END,
             "flow.lua:2: step 'j': is a join (function(self, inputs)) but closes no split; "
             "declare it as function(self), or split into branches before it");
  EXPECT_ERR(J("start", "self:next('end')") END,
             "flow.lua:1: step 'start': is a join (function(self, inputs)) but closes no split; "
             "declare it as function(self), or split into branches before it");
  // The split was already closed by the first join.
  EXPECT_ERR(S("start", "self:next('a', 'b')") S("a", "self:next('j')") S("b", "self:next('j')")
                 J("j", "self:next('j2')") J("j2", "self:next('end')") END,
             "flow.lua:5: step 'j2': is a join (function(self, inputs)) but closes no split; "
             "declare it as function(self), or split into branches before it");
}

static void test_many_inputs_not_join(void)
{
  EXPECT_ERR(S("start", "self:next('add_one', 'add_two')") S("add_one", "self:next('join')")
                 S("add_two", "self:next('join')") S("join", "self:next('end')") END,
             "flow.lua:4: step 'join': has 2 incoming transitions (from 'add_one', 'add_two') "
             "but is not a join; declare it as function(self, inputs)");
  EXPECT_ERR(S("start", "self:next('a', 'b')") S("a", "self:next('end')") S("b", "self:next('end')")
                 END,
             "flow.lua:4: step 'end': is reached from 2 steps ('a', 'b'); branches must meet in "
             "a join step, declared as function(self, inputs), before 'end'");
  EXPECT_ERR(S("start", "self:next('a', 'end')") S("a", "self:next('end')") END,
             "flow.lua:3: step 'end': is reached from 2 steps ('start', 'a'); branches must meet "
             "in a join step, declared as function(self, inputs), before 'end'");
}

static void test_foreach_without_join(void)
{
  EXPECT_ERR(S("start", "self:next('w', { foreach = 'items' })") S("w", "self:next('end')") END,
             "flow.lua:1: step 'start': the foreach over 'items' is never joined; add a join "
             "step, declared as function(self, inputs), that its branches lead to before 'end'");
  // The inner split is joined, the outer foreach is not.
  EXPECT_ERR(S("start", "self:next('w', { foreach = 'items' })") S("w", "self:next('a', 'b')")
                 S("a", "self:next('j')") S("b", "self:next('j')") J("j", "self:next('end')")
                 END,
             "flow.lua:1: step 'start': the foreach over 'items' is never joined; add a join "
             "step, declared as function(self, inputs), that its branches lead to before 'end'");
}

static void test_join_of_different_splits(void)
{
  EXPECT_ERR(S("start", "self:next('a', 'b')") S("a", "self:next('c', 'd')")
                 S("c", "self:next('j')") S("d", "self:next('j')") S("b", "self:next('j')")
                 J("j", "self:next('end')") END,
             "flow.lua:6: step 'j': joins steps from different splits ('c' comes from split "
             "'a', 'b' comes from split 'start'); a join must close exactly one split, so join "
             "the inner split first");
  EXPECT_ERR(S("start", "self:next('a', 'b')") S("a", "self:next('j1')") J("j1", "self:next('j2')")
                 S("b", "self:next('j2')") J("j2", "self:next('end')") END,
             "flow.lua:5: step 'j2': joins steps from different splits ('j1' is not inside any "
             "split, 'b' comes from split 'start'); a join must close exactly one split, so join "
             "the inner split first");
}

static void test_branches_in_different_joins(void)
{
  EXPECT_ERR(S("start", "self:next('a', 'b')") S("a", "self:next('j1')") S("b", "self:next('j2')")
                 J("j1", "self:next('end')") J("j2", "self:next('end')") END,
             "flow.lua:5: step 'j2': branches of split 'start' end in different joins ('j1' and "
             "'j2'); lead them all to one join");
}

static void test_branch_is_join(void)
{
  EXPECT_ERR(S("start", "self:next('a', 'j')") S("a", "self:next('j')") J("j", "self:next('end')")
                 END,
             "flow.lua:3: step 'j': is both a branch of split 'start' and its join; add a step "
             "between them");
  EXPECT_ERR(S("start", "self:next('j', { foreach = 'xs' })") J("j", "self:next('end')") END,
             "flow.lua:2: step 'j': is both a branch of split 'start' and its join; add a step "
             "between them");
}

static void test_foreach_targets(void)
{
  EXPECT_ERR(S("start", "self:next('a', 'b', { foreach = 'xs' })") S("a", "self:next('end')")
                 S("b", "self:next('end')") END,
             "flow.lua:1: step 'start': a foreach has exactly one target step, got 2; write "
             "self:next(\"a\", { foreach = \"xs\" })");
}

static void test_revalidate(void)
{
  // Validation can run again after a change; the derived fields are recomputed.
  lf_dag *d = validated(S("start", "self:next('a', 'b')") S("a", "self:next('j')")
                        S("b", "self:next('j')") J("j", "self:next('end')") END);
  lf_err err = {0};
  lf_dag_set_next(d, 0, (const char *const[]){"a"}, 1, NULL, 1);
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_ERR_FLOW);
  CHECK_STR(err.msg, "flow.lua:3: step 'b': not reachable from 'start'; add a transition to it "
                     "or remove it");
  CHECK_STR(order_of(d), "start a b j end");
  CHECK_EQ_INT(by_name(d, "j")->split_of_join, -1);
  lf_dag_set_next(d, 0, (const char *const[]){"a", "b"}, 2, NULL, 1);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  CHECK_EQ_INT(by_name(d, "j")->split_of_join, 0);
  CHECK_EQ_INT(by_name(d, "j")->nprev, 2);
  lf_dag_free(d);
}

int main(void)
{
  test_linear();
  test_static_branch();
  test_nested_branches();
  test_foreach();
  test_nested_foreach();
  test_split_inside_foreach();
  test_foreach_inside_branches();
  test_order_follows_declaration();
  test_missing_steps();
  test_duplicate();
  test_unknown_target();
  test_params();
  test_end_rules();
  test_cycles();
  test_unreachable();
  test_join_without_split();
  test_many_inputs_not_join();
  test_foreach_without_join();
  test_join_of_different_splits();
  test_branches_in_different_joins();
  test_branch_is_join();
  test_foreach_targets();
  test_revalidate();
  return TEST_REPORT();
}
