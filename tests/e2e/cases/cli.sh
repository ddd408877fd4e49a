# Command-line behaviour: show, check, invalid flows (golden messages), logs, dump, exit
# codes, run ids and files, tags, reindex.

test_show() {
  lf show "$ROOT/flows/counter_branch.lua"
  expect_rc 0
  expect_out "CounterBranchFlow"
  expect_out "Two branches, one join"
  expect_out "Fan out to two branches."
  expect_out "=> add_one, add_two"
  expect_out "Keeps the larger count."
  # show runs nothing
  [ -e "$CASE_DIR/.luaflow" ] && fail "show touched the datastore"
}

test_check_valid() {
  lf check "$ROOT/flows/foreach.lua"
  expect_rc 0
  expect_out "flow ForeachFlow is valid"
}

test_usage_errors() {
  lf
  expect_rc 2
  expect_err "usage: luaflow COMMAND"
  lf frobnicate
  expect_rc 2
  expect_err "unknown command 'frobnicate'"
  lf run
  expect_rc 2
  lf run missing.lua
  expect_rc 2
  expect_err "no flow file 'missing.lua'"
  lf run "$ROOT/flows/hello.lua" --max-workers zero
  expect_rc 2
  expect_err "--max-workers must be a positive integer, got 'zero'"
  lf dump not-a-pathspec
  expect_rc 2
  expect_err "'not-a-pathspec' is not a pathspec"
  lf logs Nope/1/start
  expect_rc 1
  expect_err "no step 'Nope/1/start' in the datastore"
  lf --help
  expect_rc 0
  expect_out "Exit status: 0 success, 1 a task failed, 2 bad usage or an invalid flow"
}

test_run_id_file_and_sequence() {
  lf run "$ROOT/flows/hello.lua" --run-id-file rid.txt
  expect_rc 0
  expect_eq "$(cat "$CASE_DIR/rid.txt")" "1"
  lf run "$ROOT/flows/hello.lua" --run-id-file rid.txt --tag nightly --tag exp=3
  expect_rc 0
  expect_eq "$(cat "$CASE_DIR/rid.txt")" "2"
  expect_out "Workflow starting (run-id 2): HelloWorldFlow/2"
  grep -q '"tags":\["nightly","exp=3"\]' "$CASE_DIR/.luaflow/HelloWorldFlow/2/_run.json" ||
    fail "tags not in the run record"
  grep -q '"status":"ok"' "$CASE_DIR/.luaflow/HelloWorldFlow/2/_run.json" ||
    fail "run record not final"
}

test_datastore_root_option_and_env() {
  lf run "$ROOT/flows/hello.lua" --datastore-root "$CASE_DIR/elsewhere"
  expect_rc 0
  [ -e "$CASE_DIR/elsewhere/HelloWorldFlow/1/_run.json" ] || fail "--datastore-root ignored"
  LUAFLOW_DATASTORE_ROOT="$CASE_DIR/viaenv" lf run "$ROOT/flows/hello.lua"
  expect_rc 0
  [ -e "$CASE_DIR/viaenv/HelloWorldFlow/1/_run.json" ] || fail "LUAFLOW_DATASTORE_ROOT ignored"
  mkdir -p "$HOME/.luaflowconfig"
  echo "{\"datastore_root\": \"$CASE_DIR/viaconfig\"}" >"$HOME/.luaflowconfig/config.json"
  lf run "$ROOT/flows/hello.lua"
  expect_rc 0
  [ -e "$CASE_DIR/viaconfig/HelloWorldFlow/1/_run.json" ] || fail "config file ignored"
  LUAFLOW_DATASTORE_ROOT="$CASE_DIR/envwins" lf run "$ROOT/flows/hello.lua"
  [ -e "$CASE_DIR/envwins/HelloWorldFlow/1/_run.json" ] || fail "env does not win over config"
  rm -f "$HOME/.luaflowconfig/config.json"
  lf run "$ROOT/flows/hello.lua" --datastore s3
  expect_rc 2
  expect_err "the s3 datastore needs a root: --datastore-root s3://bucket/prefix, LUAFLOW_DATASTORE_ROOT_S3, or datastore_root_s3 in ~/.luaflowconfig/config.json"
  # the config file chooses the datastore kind too; a local root does not make an S3 one
  printf '{"datastore": "s3", "datastore_root": "%s"}' "$CASE_DIR/viaconfig" \
    >"$HOME/.luaflowconfig/config.json"
  lf run "$ROOT/flows/hello.lua"
  expect_rc 2
  expect_err "the s3 datastore needs a root"
  [ -e "$CASE_DIR/viaconfig/HelloWorldFlow/2" ] && fail "ran with a contradictory config"
  rm -f "$HOME/.luaflowconfig/config.json"
}

test_logs_and_dump_of_foreach_step() {
  lf run "$ROOT/flows/foreach.lua"
  expect_rc 0
  lf logs ForeachFlow/1/analyze_creatures
  expect_rc 0
  expect_out "Analyzing	bird"
  expect_out "Analyzing	dog"
  lf dump ForeachFlow/1/analyze_creatures/3
  expect_rc 0
  expect_out "creature"
  expect_out "score"
  lf dump ForeachFlow/1/join
  expect_out 'string(5) "mouse"'
}

test_stderr_lines_prefixed() {
  flow err.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('StderrFlow')
flow:step('start', function(self)
  io.stderr:write('to stderr\n')
  io.write('no newline at the end')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run err.lua
  expect_rc 0
  expect_err "[1/start/1 (pid "
  expect_err "] to stderr"
  expect_out "] no newline at the end"
}

test_runtime_next_mismatch() {
  flow mismatch.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('MismatchFlow')
local function only_a(self)
  self:next('a')
end
flow:step('start', function(self)
  only_a(self)
  self:next('a', 'b')
end)
flow:step('a', function(self) self:next('join') end)
flow:step('b', function(self) self:next('join') end)
flow:step('join', function(self, inputs) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  lf check mismatch.lua
  expect_rc 0
  lf run mismatch.lua
  expect_rc 1
  expect_err "mismatch.lua:4: step 'start': self:next(\"a\") does not match the graph found in the source (self:next(\"a\", \"b\"))"
}

test_reindex_reproduces_index() {
  lf run "$ROOT/flows/counter_branch.lua"
  expect_rc 0
  lf run "$ROOT/flows/foreach.lua"
  expect_rc 0
  local db="$CASE_DIR/.luaflow/index.sqlite3"
  [ -e "$db" ] || fail "no index"
  local before after
  before=$(index_dump "$db")
  [ "$(echo "$before" | grep -c '^task|')" -ge 10 ] || fail "the index holds too few tasks"
  rm -f "$db" "$db-wal" "$db-shm"
  lf reindex
  expect_rc 0
  after=$(index_dump "$db")
  expect_eq "$after" "$before" "(reindex reproduces the index)"
}

test_exec_mode_without_fork_server() {
  LUAFLOW_FORKSERVER=0 lf run "$ROOT/flows/counter_branch.lua" --creature owl
  expect_rc 0
  expect_out "The creature is	owl"
  expect_out "The final count is	2"
}

test_tasks_get_distinct_random_sequences() {
  flow rnd.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('RandomFlow')
flow:step('start', function(self) self.items = { 1, 2, 3, 4 }; self:next('draw', { foreach = 'items' }) end)
flow:step('draw', function(self) self.r = math.random(1, 1 << 40); self:next('join') end)
flow:step('join', function(self, inputs)
  local seen = {}
  for _, inp in ipairs(inputs) do
    assert(not seen[inp.r], 'two tasks drew the same number')
    seen[inp.r] = true
  end
  print('distinct draws')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run rnd.lua
  expect_rc 0
  expect_out "distinct draws"
}
