# The embedding API: a C program loads, runs and reads back through luaflow.h.

test_embed_example() {
  local bin
  bin="$(dirname "$LUAFLOW")/tests/embed_example"
  [ -x "$bin" ] || { fail "embed_example was not built"; return; }
  (cd "$CASE_DIR" && "$bin" "$ROOT/flows/counter_branch.lua" "$CASE_DIR/store" "$LUAFLOW" >out.txt 2>err.txt)
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 0
  expect_out "run CounterBranchFlow/1: 5 tasks started, 5 finished"
  expect_out "count = 2, animal = embedded-seal"
  expect_out "missing: task 'CounterBranchFlow/1/end/5' has no artifact 'nope'"
}
