// SPDX-License-Identifier: MIT
// Unit tests for host/dag/dag_extract.c: the tokenizer, locating step calls, doc comments,
// and reading each step's literal self:next(...) transition.

#include "dag_testutil.h"

// Extracts only; the dag is returned for inspection (caller frees), *st gets the status.
static lf_dag *extract(const char *src, lf_err *err, lf_status *st)
{
  lf_dag *d = load(src);
  lf_err_clear(err);
  *st = lf_dag_extract(d, err);
  return d;
}

static const lf_dag_step *by_name(const lf_dag *d, const char *name)
{
  int i = lf_dag_find(d, name);
  return i < 0 ? NULL : lf_dag_step_at(d, (size_t)i);
}

static const char *counter_flow =
    "local luaflow = require(\"luaflow\")\n"                                            // 1
    "local flow = luaflow.flow(\"CounterBranchFlow\", { doc = \"Two branches\" })\n"    // 2
    "flow:param(\"animal\", { name = \"creature\", default = \"dog\" })\n"              // 3
    "--- Fan out to two branches.\n"                                                    // 4
    "--- Second doc line.\n"                                                            // 5
    "flow:step(\"start\", function(self)\n"                                             // 6
    "  self.count = 0\n"                                                                // 7
    "  self:next(\"add_one\", \"add_two\")\n"                                           // 8
    "end)\n"                                                                            // 9
    "flow:step(\"add_one\", function(self) self.count = self.count + 1; self:next(\"join\") end)\n"
    "flow:step(\"add_two\", function(self) self.count = self.count + 2; self:next(\"join\") end)\n"
    "flow:step(\"join\", function(self, inputs)\n"                                      // 12
    "  self:merge_artifacts(inputs)\n"                                                  // 13
    "  self:next(\"end\")\n"                                                            // 14
    "end)\n"                                                                            // 15
    "flow:step(\"end\", function(self) print(self.animal, self.count) end)\n"           // 16
    "return flow\n";

static void test_counter_flow(void)
{
  lf_err err;
  lf_status st;
  lf_dag *d = extract(counter_flow, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  CHECK_EQ_INT(lf_dag_count(d), 5);
  const lf_dag_step *s = by_name(d, "start");
  CHECK_EQ_INT(s->line, 6);
  CHECK_EQ_INT(s->kind, LF_STEP_SPLIT);
  CHECK_EQ_INT(s->nnext, 2);
  CHECK_STR(s->next[0], "add_one");
  CHECK_STR(s->next[1], "add_two");
  CHECK_EQ_INT(s->next_line, 8);
  CHECK_STR(s->doc, "Fan out to two branches.\nSecond doc line.");
  CHECK_STR(s->self_name, "self");
  CHECK(s->foreach_var == NULL);
  s = by_name(d, "add_one");
  CHECK_EQ_INT(s->kind, LF_STEP_LINEAR);
  CHECK_EQ_INT(s->nnext, 1);
  CHECK_STR(s->next[0], "join");
  CHECK_EQ_INT(s->next_line, 10);
  CHECK(s->doc == NULL);
  s = by_name(d, "join");
  CHECK(s->is_join);
  CHECK_STR(s->next[0], "end");
  CHECK_EQ_INT(s->next_line, 14);
  s = by_name(d, "end");
  CHECK_EQ_INT(s->kind, LF_STEP_END);
  CHECK_EQ_INT(s->nnext, 0);
  lf_dag_free(d);
  EXPECT_OK(counter_flow);
}

static void test_steps_on_one_line(void)
{
  const char *src =
      "flow:step(\"start\", function(self) self:next(\"a\") end) flow:step(\"a\", function(self) "
      "self:next(\"b\") end) flow:step(\"b\", function(self) self:next(\"end\") end)\n"
      "flow:step(\"end\", function(self) end)\n";
  lf_err err;
  lf_status st;
  lf_dag *d = extract(src, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  CHECK_STR(by_name(d, "start")->next[0], "a");
  CHECK_STR(by_name(d, "a")->next[0], "b");
  CHECK_STR(by_name(d, "b")->next[0], "end");
  lf_dag_free(d);
  EXPECT_OK(src);

  // Errors still name the right step when several share the line.
  EXPECT_ERR("flow:step(\"start\", function(self) self:next(\"a\") end) flow:step(\"a\", "
             "function(self) x = 1 end)\nflow:step(\"end\", function(self) end)\n",
             "flow.lua:1: step 'a': has no transition; end its function with "
             "self:next(\"<next step>\")");
}

static void test_options_table(void)
{
  const char *src =
      "flow:step(\"start\", { retry = 3, catch = \"e\", resources = { cpu = 4 },\n"
      "  hook = function(a, b) return a, b end }, function(self)\n"
      "  self:next(\"end\")\n"
      "end)\n"
      "flow:step(\"end\", {}, function(self) end)\n";
  lf_err err;
  lf_status st;
  lf_dag *d = extract(src, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  CHECK(by_name(d, "start")->has_options);
  CHECK_STR(by_name(d, "start")->next[0], "end");
  CHECK_EQ_INT(by_name(d, "start")->next_line, 3);
  lf_dag_free(d);
  EXPECT_OK(src);
}

static void test_comments_and_strings_ignored(void)
{
  const char *src =
      "flow:step(\"start\", function(self)\n"            // 1
      "  -- self:next(\"nope\") end end\n"               // 2
      "  local s = \"self:next('x') end\"\n"             // 3
      "  local t = 'end\" if do \\' end'\n"              // 4
      "  local u = [[ self:next(\"y\") end ]]\n"         // 5
      "  local v = [==[ ]] end ]=] self:next(\"z\") ]==]\n"
      "  --[[ self:next(\"w\")\n"                        // 7
      "  end ]] local w = \"esc \\\" end \\\\\"\n"       // 8
      "  --[==[ ]] end\n ]==] local z = 1 --[[x]]\n"     // 9-10
      "  local f = function() return 'end' end\n"        // 11
      "  self:next(\"end\")  -- self:next(\"q\")\n"      // 12
      "end)\n"
      "flow:step(\"end\", function(self) local x = \"self:next('a')\" end)\n";
  lf_err err;
  lf_status st;
  lf_dag *d = extract(src, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  const lf_dag_step *s = by_name(d, "start");
  CHECK_EQ_INT(s->nnext, 1);
  CHECK_STR(s->next[0], "end");
  CHECK_EQ_INT(s->next_line, 12);
  lf_dag_free(d);
  EXPECT_OK(src);
}

static void test_string_forms_as_names(void)
{
  const char *src =
      "flow:step([[start]], function(self) self:next('st\\x65p2', [==[step3]==]) end)\n"
      "flow:step('step2', function(self) self:next(\"j\\u{6F}in\") end)\n"
      "flow:step(\"step3\", function(self) self:next('\\106\\111in') end)\n"
      "flow:step(\"join\", function(self, inputs) self:next([[\nend]]) end)\n"
      "flow:step(\"end\", function(self) end)\n";
  lf_err err;
  lf_status st;
  lf_dag *d = load(src);
  // The helper cannot read [[start]]; declare that one like the host would.
  CHECK_EQ_INT(lf_dag_count(d), 4);
  lf_dag_free(d);
  d = lf_dag_new("flow.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 1, 1, 1, 1, "self", false);
  lf_dag_add_step(d, "step2", 2, 2, 2, 1, "self", false);
  lf_dag_add_step(d, "step3", 3, 3, 3, 1, "self", false);
  lf_dag_add_step(d, "join", 4, 4, 5, 2, "self", false);
  lf_dag_add_step(d, "end", 6, 6, 6, 1, "self", false);
  lf_err_clear(&err);
  st = lf_dag_extract(d, &err);
  CHECK_EQ_INT(st, LF_OK);
  CHECK_STR(by_name(d, "start")->next[0], "step2");
  CHECK_STR(by_name(d, "start")->next[1], "step3");
  CHECK_STR(by_name(d, "step2")->next[0], "join");
  CHECK_STR(by_name(d, "step3")->next[0], "join");
  CHECK_STR(by_name(d, "join")->next[0], "end");
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  lf_dag_free(d);
}

static void test_end_named_in_strings(void)
{
  // A step named "end" is only a string; `end` keywords inside strings must not close blocks.
  EXPECT_OK("flow:step(\"start\", function(self)\n"
            "  local e = \"end\"\n"
            "  local names = { 'end', [[end]], \"if\" }\n"
            "  self:next(\"end\")\n"
            "end)\n"
            "flow:step(\"end\", function(self) print(\"end\") end)\n");
}

static void test_foreach_forms(void)
{
  static const char *const forms[] = {
      "{foreach=\"items\"}",           "{ foreach = 'items' }",  "{ [\"foreach\"] = \"items\", }",
      "{ foreach = [[items]]; }",
  };
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    char *src = lf_xasprintf("flow:step(\"start\", function(self)\n"
                             "  self.items = { 1, 2 }\n"
                             "  self:next(\"work\", %s)\n"
                             "end)\n"
                             "flow:step(\"work\", function(self) self:next(\"join\") end)\n"
                             "flow:step(\"join\", function(self, inputs) self:next(\"end\") end)\n"
                             "flow:step(\"end\", function(self) end)\n",
                             forms[i]);
    lf_err err;
    lf_status st;
    lf_dag *d = extract(src, &err, &st);
    CHECK_EQ_INT(st, LF_OK);
    const lf_dag_step *s = by_name(d, "start");
    CHECK_EQ_INT(s->kind, LF_STEP_FOREACH);
    CHECK_STR(s->foreach_var, "items");
    CHECK_EQ_INT(s->nnext, 1);
    CHECK_STR(s->next[0], "work");
    lf_dag_free(d);
    EXPECT_OK(src);
    lf_free(src);
  }
}

static void test_statement_forms(void)
{
  static const char *const bodies[] = {
      "self:next(\"end\")",
      "self:next(\"end\");",
      "self:next(\"end\");;",
      "self:next \"end\"",
      "self:next'end'",
      "return self:next(\"end\")",
      "local x = f() self:next(\"end\")",
      "x = 'a' self:next(\"end\")",
      "do local y = 1 end self:next(\"end\")",
      "if a then b() elseif c then d() else e() end\n"
      "for i = 1, 3 do f(i) end\n"
      "for k, v in pairs(t) do f(k) end\n"
      "while x do x = nil end\n"
      "repeat local z = 1 until z == 1\n"
      "local g = function(self) return self end\n"
      "local function h(s) if s then return 1 end end\n"
      "self:next(\"end\")",
      "::top:: self:next(\"end\")",
      "local t = { next = 1 } t.self = 2 self.next_thing = 3 self:next(\"end\")",
  };
  for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
    char *src = lf_xasprintf("flow:step(\"start\", function(self)\n%s\nend)\n"
                             "flow:step(\"end\", function(self) end)\n",
                             bodies[i]);
    const char *got = flow_error(src);
    if (strcmp(got, "") != 0) {
      fprintf(stderr, "body %zu: %s\n", i, got);
    }
    CHECK_STR(got, "");
    lf_free(src);
  }
}

static void test_other_self_name(void)
{
  const char *src = "flow:step(\"start\", function(s)\n"
                    "  local self = { next = function() end }\n"
                    "  s:next(\"end\")\n"
                    "end)\n"
                    "flow:step(\"end\", function(me) end)\n";
  lf_err err;
  lf_status st;
  lf_dag *d = extract(src, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  CHECK_STR(by_name(d, "start")->self_name, "s");
  lf_dag_free(d);
  EXPECT_ERR("flow:step(\"start\", function(s)\n  s.x = 1\nend)\n"
             "flow:step(\"end\", function(s) end)\n",
             "flow.lua:1: step 'start': has no transition; end its function with "
             "s:next(\"<next step>\")");
  // Without a name from the host, the first parameter in the source is used.
  d = lf_dag_new("flow.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 1, 1, 4, -1, NULL, false);
  lf_dag_add_step(d, "end", 5, 5, 5, -1, NULL, false);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_STR(by_name(d, "start")->self_name, "s");
  CHECK_STR(by_name(d, "end")->self_name, "me");
  CHECK_EQ_INT(by_name(d, "start")->nparams, 1);
  CHECK_STR(by_name(d, "start")->next[0], "end");
  lf_dag_free(d);
}

static void test_function_not_inline(void)
{
  const char *src = "local function start_fn(self)\n"     // 1
                    "  self:next(\"end\")\n"              // 2
                    "end\n"                               // 3
                    "local M = {}\n"                      // 4
                    "function M.finish(self) end\n"       // 5
                    "--- The start.\n"                    // 6
                    "flow:step(\"start\", start_fn)\n"    // 7
                    "flow:step(\"end\", M.finish)\n";     // 8
  lf_dag *d = lf_dag_new("flow.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 7, 1, 3, 1, "self", false);
  lf_dag_add_step(d, "end", 8, 5, 5, 1, "self", false);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_STR(by_name(d, "start")->next[0], "end");
  CHECK_EQ_INT(by_name(d, "start")->next_line, 2);
  CHECK_STR(by_name(d, "start")->doc, "The start.");
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  lf_dag_free(d);
}

static void test_multiline_call_and_order(void)
{
  const char *src = "--- Doc of a.\n"          // 1
                    "flow\n"                   // 2
                    "  :step(\n"               // 3
                    "  \"a\",\n"               // 4
                    "  function(self)\n"       // 5
                    "    self:next(\"end\")\n" // 6
                    "  end)\n"                 // 7
                    "flow:step('start', function(self) self:next('a') end)\n"
                    "flow:step('end', function(self) end)\n";
  lf_dag *d = lf_dag_new("flow.lua", src, strlen(src));
  // Declared in an order other than the source's (say the flow file declares in a loop).
  lf_dag_add_step(d, "start", 8, 8, 8, 1, "self", false);
  lf_dag_add_step(d, "end", 9, 9, 9, 1, "self", false);
  lf_dag_add_step(d, "a", 2, 5, 7, 1, "self", false);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_STR(by_name(d, "a")->doc, "Doc of a.");
  CHECK_STR(by_name(d, "a")->next[0], "end");
  CHECK_EQ_INT(by_name(d, "a")->next_line, 6);
  CHECK_EQ_INT(lf_dag_validate(d, &err), LF_OK);
  lf_dag_free(d);
}

static void test_duplicate_names_matched_in_order(void)
{
  // Two steps called "a" on one line: matched in order, the second by its own function.
  const char *src = "flow:step('start', function(self) self:next('a') end)\n"
                    "flow:step('a', function(self) self:next('end') end) flow:step('a', "
                    "function(self) self:next('start') end)\n"
                    "flow:step('end', function(self) end)\n";
  lf_err err;
  lf_status st;
  lf_dag *d = extract(src, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  CHECK_STR(lf_dag_step_at(d, 1)->next[0], "end");
  CHECK_STR(lf_dag_step_at(d, 2)->next[0], "start");
  lf_dag_free(d);
  EXPECT_ERR(src, "flow.lua:2: step 'a': defined twice (first at line 2); rename one of them");
}

static void test_docs(void)
{
  const char *src = "---Flow-level comment, not a step doc\n"                        // 1
                    "\n"                                                             // 2
                    "  ---   Indented, keeps inner spaces  \n"                       // 3
                    "---\n"                                                          // 4
                    "--- after an empty doc line\r\n"                                // 5
                    "flow:step('start', function(self) self:next('a') end)\n"        // 6
                    "--- not for a: a blank line follows\n"                          // 7
                    "\n"                                                             // 8
                    "flow:step('a', function(self) self:next('b') end)\n"            // 9
                    "-- a plain comment\n"                                           // 10
                    "flow:step('b', function(self) self:next('c') end)\n"            // 11
                    "---doc of c\n"                                                  // 12
                    "flow:step('c', function(self) self:next('d') end) "
                    "flow:step('d', function(self) self:next('end') end)\n"          // 13
                    "--- x\n"                                                        // 14
                    "local y = 1 --- not a doc line\n"                               // 15
                    "flow:step('end', function(self) end)\n";                        // 16
  lf_err err;
  lf_status st;
  lf_dag *d = extract(src, &err, &st);
  CHECK_EQ_INT(st, LF_OK);
  CHECK_STR(by_name(d, "start")->doc, "  Indented, keeps inner spaces\n\nafter an empty doc line");
  CHECK(by_name(d, "a")->doc == NULL);
  CHECK(by_name(d, "b")->doc == NULL);
  CHECK_STR(by_name(d, "c")->doc, "doc of c");
  CHECK(by_name(d, "d")->doc == NULL); // second step on the line
  CHECK(by_name(d, "end")->doc == NULL);
  lf_dag_free(d);
}

static void test_tokenizer_lines(void)
{
  // Line numbers must agree with Lua's: \r\n, \n\r and a lone \r each end one line; long
  // strings, long comments, escaped newlines and \z count the lines they span.
  const char *src = "#!/usr/bin/env luaflow\n"                      // 1
                    "local a = [[x\ny]] --[==[\n\n]==]\r\n"         // 2-5
                    "local b = \"p\\\nq\" local c = 'r\\z\n   s'\n\r" // 6-8
                    "local n = { 0x1p4, 1e-3, .5, 3., 0xA.8P-1, 1E+2, a..b, ... }\r" // 9
                    "flow:step(\"start\", function(self)\n"         // 10
                    "  local d = 7 // 2 >> 1 << 1 ~= 3 and #t <= 4 and x::y\n" // 11
                    "  self:next(\"end\")\n"                        // 12
                    "end)\n"
                    "flow:step(\"end\", function(self) end)\n";     // 14
  lf_dag *d = lf_dag_new("flow.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 10, 10, 13, 1, "self", false);
  lf_dag_add_step(d, "end", 14, 14, 14, 1, "self", false);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_STR(err.msg, "");
  CHECK_EQ_INT(by_name(d, "start")->next_line, 12);
  lf_dag_free(d);
}

static void test_tokenizer_errors(void)
{
  static const struct {
    const char *src;
    const char *msg;
  } cases[] = {
      {"local a = 1\nlocal s = [==[ abc ]=]\n",
       "flow.lua:2: cannot read the flow source: unfinished long string"},
      {"local a = 1\n--[[ abc\n\n",
       "flow.lua:2: cannot read the flow source: unfinished long comment"},
      {"local s = 'abc\nx'\n", "flow.lua:1: cannot read the flow source: unfinished string"},
      {"local s = \"abc\\\"", "flow.lua:1: cannot read the flow source: unfinished string"},
      {"\n\nlocal t = x[=y]\n",
       "flow.lua:3: cannot read the flow source: invalid long string delimiter"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    lf_dag *d = lf_dag_new("flow.lua", cases[i].src, strlen(cases[i].src));
    lf_err err = {0};
    CHECK_EQ_INT(lf_dag_extract(d, &err), LF_ERR_FLOW);
    CHECK_STR(err.msg, cases[i].msg);
    lf_dag_free(d);
  }
}

// A flow whose start body is `body` (line 2 on), with the common steps around it.
static const char *start_error(const char *body)
{
  char *src = lf_xasprintf("flow:step(\"start\", function(self)\n%s\nend)\n"
                           "flow:step(\"a\", function(self) self:next(\"end\") end)\n"
                           "flow:step(\"b\", function(self) self:next(\"end\") end)\n"
                           "flow:step(\"end\", function(self) end)\n",
                           body);
  const char *msg = flow_error(src);
  lf_free(src);
  return msg;
}

#define LITERAL_MSG(line)                                                                    \
  "flow.lua:" #line ": step 'start': self:next(...) arguments must be string literals, like " \
  "self:next(\"a\", \"b\") or self:next(\"a\", { foreach = \"items\" }), so the graph can be " \
  "found without running the flow"

static void test_body_errors(void)
{
  CHECK_STR(start_error("  self.x = 1"),
            "flow.lua:1: step 'start': has no transition; end its function with "
            "self:next(\"<next step>\")");
  CHECK_STR(start_error("  self:next(\"a\")\n  print(1)"),
            "flow.lua:2: step 'start': self:next(...) must be the last statement of the step; "
            "move the code after it (line 3) above it");
  CHECK_STR(start_error("  if self.x then\n    self:next(\"a\")\n  else\n    self:next(\"b\")\n"
                        "  end"),
            "flow.lua:3: step 'start': self:next(...) is inside a block (if, loop or nested "
            "function); a transition cannot depend on run-time values: make it the last "
            "statement of the step's function, outside any block");
  CHECK_STR(start_error("  for i = 1, 2 do self:next(\"a\") end"),
            "flow.lua:2: step 'start': self:next(...) is inside a block (if, loop or nested "
            "function); a transition cannot depend on run-time values: make it the last "
            "statement of the step's function, outside any block");
  CHECK_STR(start_error("  local function go() self:next(\"a\") end\n  go()"),
            "flow.lua:2: step 'start': self:next(...) is inside a block (if, loop or nested "
            "function); a transition cannot depend on run-time values: make it the last "
            "statement of the step's function, outside any block");
  CHECK_STR(start_error("  local t = 1\n  repeat t = t + 1 until t > 3 self:next(\"a\")\n"
                        "  self:next(\"b\")"),
            "flow.lua:4: step 'start': calls self:next(...) more than once (lines 3 and 4); a "
            "step has exactly one transition, its last statement");
  CHECK_STR(start_error("  local to = \"a\"\n  self:next(to)"), LITERAL_MSG(3));
  CHECK_STR(start_error("  self:next(\"a\" .. \"\")"), LITERAL_MSG(2));
  CHECK_STR(start_error("  self:next(\"a\", )"), LITERAL_MSG(2));
  CHECK_STR(start_error("  self:next((\"a\"))"), LITERAL_MSG(2));
  CHECK_STR(start_error("  self:next({ foreach = \"x\" }, \"a\")"), LITERAL_MSG(2));
  CHECK_STR(start_error("  self:next(\"a\", { num_parallel = 4 })"),
            "flow.lua:2: step 'start': unknown self:next(...) option 'num_parallel'; the only "
            "option is foreach, as in { foreach = \"items\" }");
  CHECK_STR(start_error("  self:next(\"a\", { foreach = name })"),
            "flow.lua:2: step 'start': the foreach option must be one string literal naming a "
            "list artifact, like { foreach = \"items\" }");
  CHECK_STR(start_error("  self:next(\"a\", { foreach = \"x\", foreach = \"y\" })"),
            "flow.lua:2: step 'start': the foreach option must be one string literal naming a "
            "list artifact, like { foreach = \"items\" }");
  CHECK_STR(start_error("  self:next(\"a\", { foreach = \"\" })"),
            "flow.lua:2: step 'start': the foreach option names no artifact; write "
            "{ foreach = \"items\" }");
  CHECK_STR(start_error("  self:next(\"a\", {})"),
            "flow.lua:2: step 'start': the self:next(...) option table must be written "
            "literally as { foreach = \"items\" }");
  CHECK_STR(start_error("  self:next(\"a\", { \"x\" })"),
            "flow.lua:2: step 'start': the self:next(...) option table must be written "
            "literally as { foreach = \"items\" }");
  CHECK_STR(start_error("  self:next()"),
            "flow.lua:2: step 'start': self:next(...) needs at least one target step, like "
            "self:next(\"a\")");
  CHECK_STR(start_error("  self:next{ foreach = \"x\" }"),
            "flow.lua:2: step 'start': self:next(...) needs at least one target step, like "
            "self:next(\"a\")");
  CHECK_STR(start_error("  local r = self:next(\"a\")"),
            "flow.lua:2: step 'start': self:next(...) must be a statement of its own, not part "
            "of an expression");
  CHECK_STR(start_error("  print(self:next(\"a\"))"),
            "flow.lua:2: step 'start': self:next(...) must be a statement of its own, not part "
            "of an expression");
  CHECK_STR(start_error("  self:next(\"a\"):other()"),
            "flow.lua:2: step 'start': self:next(...) must be the last statement of the step; "
            "move the code after it (line 2) above it");
  CHECK_STR(start_error("  self:next(\"a\", \"b\", { foreach = \"items\" })"),
            "flow.lua:2: step 'start': a foreach has exactly one target step, got 2; write "
            "self:next(\"a\", { foreach = \"items\" })");
  CHECK_STR(start_error("  self:next(\"a\", \"a\")"),
            "flow.lua:2: step 'start': transition to 'a' is listed twice");
}

static void test_end_and_missing_errors(void)
{
  EXPECT_ERR("flow:step(\"start\", function(self) self:next(\"end\") end)\n"
             "flow:step(\"end\", function(self)\n  print(1)\n  self:next(\"start\")\nend)\n",
             "flow.lua:4: step 'end': must not call self:next(...); 'end' is the last step of a "
             "flow");
  EXPECT_ERR("flow:step(\"start\", function(self) self:next(\"end\") end)\n"
             "flow:step(\"end\", function(self)\n  if x then self:next(\"start\") end\nend)\n",
             "flow.lua:3: step 'end': must not call self:next(...); 'end' is the last step of a "
             "flow");
  // A step whose name is not a literal cannot be found statically.
  const char *src = "local name = 'start'\n"
                    "flow:step(name, function(self) self:next('end') end)\n"
                    "flow:step('end', function(self) end)\n";
  lf_dag *d = lf_dag_new("flow.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 2, 0, 0, 1, "self", false);
  lf_dag_add_step(d, "end", 3, 3, 3, 1, "self", false);
  lf_err err = {0};
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_ERR_FLOW);
  CHECK_STR(err.msg, "flow.lua:2: step 'start': cannot find its source; declare it as "
                     "flow:step(\"start\", function(self) ... end) with the name written as a "
                     "string literal");
  lf_dag_free(d);
  // ... unless the host knows the function's lines.
  d = lf_dag_new("flow.lua", src, strlen(src));
  lf_dag_add_step(d, "start", 2, 2, 2, 1, "self", false);
  lf_dag_add_step(d, "end", 3, 3, 3, 1, "self", false);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_dag_extract(d, &err), LF_OK);
  CHECK_STR(by_name(d, "start")->next[0], "end");
  lf_dag_free(d);
}

// Extraction and validation must fail cleanly, never crash, on any prefix or corruption of a
// flow (the host may hand over text Lua accepted but we misread, or a file changed on disk).
static void test_robust_on_garbage(void)
{
  const char *src = counter_flow;
  size_t len = strlen(src);
  char *buf = lf_xmalloc(len + 1);
  unsigned long seed = 12345;
  static const char alphabet[] = "\"'[]=-{}(),;:\\\n\r end function if do self next";
  size_t checked = 0;
  for (size_t round = 0; round < len + 2000; round++) {
    size_t n = len;
    memcpy(buf, src, len);
    if (round < len) {
      n = round; // every prefix
    } else {
      for (int k = 0; k < 3; k++) { // a few random byte changes
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        size_t at = (size_t)(seed >> 33) % len;
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        buf[at] = alphabet[(seed >> 33) % (sizeof(alphabet) - 1)];
      }
    }
    lf_dag *d = lf_dag_new("flow.lua", buf, n);
    lf_dag_add_step(d, "start", 6, 6, 9, 1, "self", false);
    lf_dag_add_step(d, "add_one", 10, 10, 10, 1, "self", false);
    lf_dag_add_step(d, "add_two", 11, 11, 11, 1, "self", false);
    lf_dag_add_step(d, "join", 12, 12, 15, 2, "self", false);
    lf_dag_add_step(d, "end", 16, 16, 16, 1, "self", false);
    lf_err err = {0};
    lf_status st = lf_dag_extract(d, &err);
    if (st == LF_OK) {
      st = lf_dag_validate(d, &err);
    }
    checked += (st == LF_OK || (st == LF_ERR_FLOW && strncmp(err.msg, "flow.lua:", 9) == 0));
    char *text = lf_dag_describe(d, "F", NULL);
    lf_free(text);
    lf_dag_free(d);
  }
  CHECK_EQ_INT(checked, len + 2000);
  lf_free(buf);
}

int main(void)
{
  test_counter_flow();
  test_steps_on_one_line();
  test_options_table();
  test_comments_and_strings_ignored();
  test_string_forms_as_names();
  test_end_named_in_strings();
  test_foreach_forms();
  test_statement_forms();
  test_other_self_name();
  test_function_not_inline();
  test_multiline_call_and_order();
  test_duplicate_names_matched_in_order();
  test_docs();
  test_tokenizer_lines();
  test_tokenizer_errors();
  test_body_errors();
  test_end_and_missing_errors();
  test_robust_on_garbage();
  return TEST_REPORT();
}
