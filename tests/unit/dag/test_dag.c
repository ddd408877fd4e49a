// SPDX-License-Identifier: MIT
// Unit tests for host/dag/dag.c: the graph object, its accessors and setters, and the
// `luaflow show` rendering.
#include <stdbool.h>

#include "core/alloc.h"
#include "dag/dag.h"
#include "testhelp.h"

static const char *counter_flow =
    "local luaflow = require(\"luaflow\")\n"
    "local flow = luaflow.flow(\"CounterBranchFlow\", { doc = \"Two branches, one join\" })\n"
    "flow:param(\"animal\", { name = \"creature\", default = \"dog\" })\n"
    "--- Fan out to two branches.\n"
    "--- Second doc line.\n"
    "flow:step(\"start\", function(self)\n"
    "  self.count = 0\n"
    "  self:next(\"add_one\", \"add_two\")\n"
    "end)\n"
    "flow:step(\"add_one\", function(self) self.count = self.count + 1; self:next(\"join\") end)\n"
    "flow:step(\"add_two\", function(self) self.count = self.count + 2; self:next(\"join\") end)\n"
    "flow:step(\"join\", function(self, inputs)\n"
    "  self:merge_artifacts(inputs)\n"
    "  self:next(\"end\")\n"
    "end)\n"
    "flow:step(\"end\", function(self) print(self.animal, self.count) end)\n"
    "return flow\n";

// The steps of counter_flow as the host declares them.
static lf_dag *counter_dag(void)
{
  lf_dag *d = lf_dag_new("flows/counter_branch.lua", counter_flow, strlen(counter_flow));
  lf_dag_add_step(d, "start", 6, 6, 9, 1, "self", false);
  lf_dag_add_step(d, "add_one", 10, 10, 10, 1, "self", false);
  lf_dag_add_step(d, "add_two", 11, 11, 11, 1, "self", false);
  lf_dag_add_step(d, "join", 12, 12, 15, 2, "self", false);
  lf_dag_add_step(d, "end", 16, 16, 16, 1, "self", false);
  return d;
}

static void test_basics(void)
{
  lf_dag_free(NULL);
  lf_dag *d = lf_dag_new("f.lua", "abc", 2);
  size_t len = 0;
  CHECK_STR(lf_dag_source(d, &len), "ab");
  CHECK_EQ_INT(len, 2);
  CHECK_STR(lf_dag_file(d), "f.lua");
  CHECK_EQ_INT(lf_dag_count(d), 0);
  CHECK_EQ_INT(lf_dag_find(d, "start"), -1);
  CHECK(lf_dag_step_at(d, 0) == NULL);
  size_t n = 99;
  lf_dag_order(d, &n);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(lf_dag_add_step(d, "start", 3, 3, 5, 1, "self", true), 0);
  CHECK_EQ_INT(lf_dag_add_step(d, "join", 6, 6, 8, 2, NULL, false), 1);
  CHECK_EQ_INT(lf_dag_count(d), 2);
  CHECK_EQ_INT(lf_dag_find(d, "join"), 1);
  const lf_dag_step *s = lf_dag_step_at(d, 0);
  CHECK_STR(s->name, "start");
  CHECK_EQ_INT(s->line, 3);
  CHECK_EQ_INT(s->fn_line, 3);
  CHECK_EQ_INT(s->fn_lastline, 5);
  CHECK(s->has_options);
  CHECK(!s->is_join);
  CHECK_STR(s->self_name, "self");
  CHECK(s->doc == NULL);
  CHECK_EQ_INT(s->split_of_join, -1);
  CHECK_EQ_INT(s->join_of_split, -1);
  CHECK(lf_dag_step_at(d, 1)->is_join);
  CHECK(lf_dag_step_at(d, 1)->self_name == NULL);
  const size_t *o = lf_dag_order(d, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(o[0], 0);
  CHECK_EQ_INT(o[1], 1);

  lf_dag_set_doc(d, 0, "hello");
  CHECK_STR(lf_dag_step_at(d, 0)->doc, "hello");
  lf_dag_set_doc(d, 0, NULL);
  CHECK(lf_dag_step_at(d, 0)->doc == NULL);
  lf_dag_set_options_text(d, 1, "retry=3");
  CHECK_STR(lf_dag_step_at(d, 1)->options_text, "retry=3");
  lf_dag_set_options_text(d, 7, "ignored"); // out of range: no-op
  lf_dag_set_next(d, 0, (const char *const[]){"a", "b"}, 2, NULL, 4);
  CHECK_EQ_INT(lf_dag_step_at(d, 0)->kind, LF_STEP_SPLIT);
  CHECK_EQ_INT(lf_dag_step_at(d, 0)->next_line, 4);
  lf_dag_set_next(d, 0, (const char *const[]){"a"}, 1, "xs", 0);
  CHECK_EQ_INT(lf_dag_step_at(d, 0)->kind, LF_STEP_FOREACH);
  CHECK_STR(lf_dag_step_at(d, 0)->foreach_var, "xs");
  CHECK_EQ_INT(lf_dag_step_at(d, 0)->next_line, 3);
  lf_dag_set_next(d, 0, (const char *const[]){"a"}, 1, NULL, 4);
  CHECK_EQ_INT(lf_dag_step_at(d, 0)->kind, LF_STEP_LINEAR);
  CHECK(lf_dag_step_at(d, 0)->foreach_var == NULL);
  lf_dag_set_next(d, 0, NULL, 0, NULL, 4);
  CHECK_EQ_INT(lf_dag_step_at(d, 0)->kind, LF_STEP_END);
  lf_dag_free(d);
}

static void test_error_format(void)
{
  lf_dag *d = lf_dag_new("flows/x.lua", "", 0);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_errf(d, &err, 0, "fit", "bad %s", "thing"), LF_ERR_FLOW);
  CHECK_EQ_INT(err.code, LF_ERR_FLOW);
  CHECK_STR(err.msg, "flows/x.lua:1: step 'fit': bad thing");
  lf_dag_errf(d, &err, 5, "other", "second");
  CHECK_STR(err.msg, "flows/x.lua:1: step 'fit': bad thing"); // first error wins
  lf_dag_free(d);
}

static void test_describe_counter(void)
{
  lf_dag *d = counter_dag();
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  char *text = lf_dag_describe(d, "CounterBranchFlow", "Two branches, one join");
  CHECK_STR(text, "CounterBranchFlow\n"
                  "    Two branches, one join\n"
                  "\n"
                  "Step start\n"
                  "    Fan out to two branches.\n"
                  "    Second doc line.\n"
                  "    => add_one, add_two\n"
                  "\n"
                  "Step add_one\n"
                  "    => join\n"
                  "\n"
                  "Step add_two\n"
                  "    => join\n"
                  "\n"
                  "Step join (join)\n"
                  "    => end\n"
                  "\n"
                  "Step end\n");
  lf_free(text);
  lf_dag_free(d);
}

static void test_describe_foreach_options(void)
{
  const char *src = "--- Make the work list.\n"                                             // 1
                    "flow:step('start', function(self)\n"                                   // 2
                    "  self.items = { 1, 2 }\n"                                             // 3
                    "  self:next('train', { foreach = 'items' })\n"                         // 4
                    "end)\n"                                                                // 5
                    "flow:step('join', function(self, inputs) self:next('end') end)\n"      // 6
                    "--- Fit one model.\n"                                                  // 7
                    "---\n"                                                                 // 8
                    "--- Uses the GPU.\n"                                                   // 9
                    "flow:step('train', { retry = 3 }, function(self) self:next('join') end)\n"
                    "flow:step('end', function(self) end)\n";                               // 11
  lf_dag *d = lf_dag_new("f.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 2, 2, 5, 1, "self", false);
  lf_dag_add_step(d, "join", 6, 6, 6, 2, "self", false);
  lf_dag_add_step(d, "train", 10, 10, 10, 1, "self", true);
  lf_dag_add_step(d, "end", 11, 11, 11, 1, "self", false);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  CHECK_STR(err.msg, "");
  lf_dag_set_options_text(d, 2, "retry=3, timeout=10m");
  char *text = lf_dag_describe(d, "TrainFlow", NULL);
  CHECK_STR(text, "TrainFlow\n"
                  "\n"
                  "Step start\n"
                  "    Make the work list.\n"
                  "    => train (foreach items)\n"
                  "\n"
                  "Step train\n"
                  "    Fit one model.\n"
                  "\n"
                  "    Uses the GPU.\n"
                  "    options: retry=3, timeout=10m\n"
                  "    => join\n"
                  "\n"
                  "Step join (join)\n"
                  "    => end\n"
                  "\n"
                  "Step end\n");
  lf_free(text);
  lf_dag_free(d);
}

static void test_describe_unvalidated(void)
{
  // Before validation the steps come in declaration order.
  lf_dag *d = lf_dag_new("f.lua", "", 0);
  lf_dag_add_step(d, "end", 2, 2, 2, 1, "self", false);
  lf_dag_add_step(d, "start", 1, 1, 1, 1, "self", false);
  lf_dag_set_next(d, 1, (const char *const[]){"end"}, 1, NULL, 1);
  char *text = lf_dag_describe(d, "F", "");
  CHECK_STR(text, "F\n\nStep end\n\nStep start\n    => end\n");
  lf_free(text);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  text = lf_dag_describe(d, "F", "Line one\nline two");
  CHECK_STR(text, "F\n    Line one\n    line two\n\nStep start\n    => end\n\nStep end\n");
  lf_free(text);
  lf_dag_free(d);
}

int main(void)
{
  test_basics();
  test_error_format();
  test_describe_counter();
  test_describe_foreach_options();
  test_describe_unvalidated();
  return TEST_REPORT();
}
