# `luaflow repl`: evaluation and printing, the client at the prompt, run{} and step() with a
# flow file, piped scripts, and the terminal (tmux): editing, completion, history across
# sessions, multi-line input and Ctrl-C.

# repl ARGS... <<'EOF' : runs the REPL with a script on stdin (not a terminal).
repl() {
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  (cd "$CASE_DIR" && LUAFLOW_HISTORY= "$LUAFLOW" repl "$@" >"$out" 2>"$err")
  rc=$?
  OUT="$(cat "$out")"
  ERR="$(cat "$err")"
}

# Everything in the datastore but the index: what step() must not change.
store_listing() {
  (cd "$CASE_DIR/.luaflow" && find . -path ./index.sqlite3 -prune -o -type f -print | sort |
    xargs sha256sum)
}

branch_flow() {
  flow branch.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BranchFlow')
flow:param('animal', { name = 'creature', default = 'dog' })
flow:step('start', function(self)
  self.count = 0
  self:next('add_one', 'add_two')
end)
flow:step('add_one', function(self)
  self.count = self.count + 1
  self:next('join')
end)
flow:step('add_two', function(self)
  self.count = self.count + 2
  print('adding two to', self.count - 2)
  self:next('join')
end)
flow:step('join', function(self, inputs)
  self.counts = { inputs.add_one.count, inputs.add_two.count }
  self.count = math.max(inputs[1].count, inputs[2].count)
  self:merge_artifacts(inputs, { exclude = { 'count' } })
  self:next('end')
end)
flow:step('end', function(self)
  print('creature', self.animal, 'count', self.count)
end)
return flow
LUA
}

test_repl_prints_values_readably() {
  repl <<'LUA'
1 + 1, 2.5, "text"
t = { 1, 2, 3, name = 'x', nested = { a = { b = { c = { d = 1 } } } } }
t
long = {} for i = 1, 100 do long[i] = i end
long
string.rep('a', 300)
{ ['key with space'] = true, [10] = 'ten' }
_
0/0, 1/0, -0.0, 3.0
nil
LUA
  expect_rc 0
  expect_out '2	2.5	"text"'
  expect_out '{ 1, 2, 3, name = "x", nested = { a = { b = {...} } } }'
  expect_out '{ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... (100 items) }'
  expect_out '... (300 bytes)'
  expect_out '{ [10] = "ten", ["key with space"] = true }'
  expect_out 'nan	inf	-0.0	3.0'
  # `_` is the previous result.
  [ "$(grep -c 'key with space' "$out")" = 2 ] || fail "_ did not repeat the last result"
  expect_no_err 'error'
}

test_repl_multiline_and_errors() {
  repl <<'LUA'
function add(a,
  b)
  return a + b
end
add(2, 3)
for i = 1, 2 do
  print('line', i)
end
nosuch.field
error('plain failure')
x = = 1
LUA
  expect_rc 1
  expect_out 5
  expect_out 'line	1'
  expect_out 'line	2'
  expect_err "stdin:1: attempt to index a nil value (global 'nosuch')"
  expect_err 'stdin:1: plain failure'
  expect_err "stdin:1: unexpected symbol near '='"
  # Runtime internals are not shown to the user.
  expect_no_err 'lua/luaflow/'
  # Input that ends inside a chunk is reported.
  repl <<'LUA'
if true then
LUA
  expect_rc 1
  expect_err 'input ended inside an unfinished chunk'
}

test_repl_client_history() {
  branch_flow
  lf run branch.lua --creature seal --tag first
  expect_rc 0
  repl <<'LUA'
flows()
r = Flow('BranchFlow').latest_successful_run
r
r.successful, r.parameters.animal, r.tags[1]
r['join'].task.data.counts
r:step('add_two').task.stdout
Run('BranchFlow/99')
namespace('user:nobody')
Flow('BranchFlow').latest_run
namespace(nil)
Flow('BranchFlow').latest_run
LUA
  expect_rc 0
  expect_out '{ "BranchFlow" }'
  expect_out 'Run(BranchFlow/1)'
  expect_out 'true	"seal"	"first"'
  expect_out '{ 1, 2 }'
  expect_out '"adding two to\t0\n"'
  expect_out "nil	\"no run 'BranchFlow/99'\""
  [ "$(grep -c '^Run(BranchFlow/1)$' "$out")" = 2 ] || fail "namespace(nil) did not see the run"
  expect_out 'nil'
}

test_repl_run_from_the_prompt() {
  branch_flow
  repl branch.lua <<'LUA'
r = run{ creature = 'seal' }
r
r.successful, r.parameters.animal
r['end'].task.stdout
run{ creatur = 'x' }
run{ creature = {} }
r2 = run{ _ = { tags = { 'from-repl' } } }
r2.tags[1], r2.parameters.animal
LUA
  expect_rc 1
  expect_out 'Workflow starting (run-id 1): BranchFlow/1'
  expect_out 'Run(BranchFlow/1)'
  expect_out 'true	"seal"'
  expect_out '"creature\tseal\tcount\t2\n"'
  expect_err "run: flow BranchFlow has no parameter 'creatur' (did you mean 'creature'?)"
  expect_err "run: parameter 'creature' must be a string, number or boolean"
  expect_out '"from-repl"	"dog"'
  lf dump BranchFlow/2/end
  expect_rc 0
}

test_repl_step_tries_without_storing() {
  branch_flow
  lf run branch.lua
  expect_rc 0
  local before
  before="$(store_listing)"
  local index_before
  index_before="$(index_dump "$CASE_DIR/.luaflow/index.sqlite3")"
  repl branch.lua <<'LUA'
r = step('add_two')
r
r.count, r.animal
r.next
j = step('join', { from = 'BranchFlow/1' })
j.counts, j.count, j.animal
s = step('start', { from = 'BranchFlow/1' })
s.count, s.next
os.execute([[sed -i 's/self.count + 2/self.count + 20/' branch.lua]])
step('add_two', { from = 'BranchFlow/1/start/1' }).count
step('join', { from = { 'BranchFlow/1/add_one/2', 'BranchFlow/1/add_two/3' } }).counts
LUA
  expect_rc 0
  expect_out 'adding two to	0'
  expect_out 'Tried(BranchFlow/1/add_two/try) next: join; set: count; artifacts: animal, count'
  expect_out '2	"dog"'
  expect_out '{ "join" }'
  expect_out '{ 1, 2 }	2	"dog"'
  expect_out '0	{ "add_one", "add_two" }'
  # The file is read again at every step(): the edit shows.
  expect_out '20'
  expect_eq "$(store_listing)" "$before" "(the datastore changed)"
  expect_eq "$(index_dump "$CASE_DIR/.luaflow/index.sqlite3")" "$index_before" "(the index changed)"
}

test_repl_step_foreach_and_errors() {
  cp "$ROOT/flows/foreach.lua" "$CASE_DIR/"
  branch_flow
  lf run foreach.lua
  expect_rc 0
  lf run branch.lua
  expect_rc 0
  repl foreach.lua <<'LUA'
step('analyze_creatures', { index = 2 }).creature
step('analyze_creatures').score
step('join', { from = 'ForeachFlow/1' }).best
step('analyze_creatures', { index = 9 })
step('analyze_creatures', { from = 'ForeachFlow/1/analyze_creatures' })
step('anlyze_creatures')
step('join', { from = 'BranchFlow/1' })
step('end', { from = 'ForeachFlow/77' })
LUA
  expect_rc 1
  expect_out 'Analyzing	mouse'
  expect_out '"mouse"'
  expect_out '4'
  expect_out '"mouse"'
  expect_err "step: index must be an integer in 1..3 (the items of 'creatures' in ForeachFlow/1/start/1)"
  expect_err "step: 'analyze_creatures' takes one input task, and ForeachFlow/1/analyze_creatures gives 3"
  expect_err "step: flow ForeachFlow has no step 'anlyze_creatures' (did you mean 'analyze_creatures'?)"
  expect_err "step: 'BranchFlow/1' is not a pathspec of flow ForeachFlow"
  expect_err "step: no run 'ForeachFlow/77'"
}

test_repl_step_failure_names_the_line() {
  flow bad.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BadFlow')
flow:step('start', function(self)
  self.x = 1
  self:next('end')
end)
flow:step('end', function(self)
  local t = nil
  print(t.field)
end)
return flow
LUA
  lf run bad.lua
  expect_rc 1
  repl bad.lua <<'LUA'
step('end', { from = 'BadFlow/1' })
step('start').x
LUA
  expect_rc 1
  expect_err "bad.lua:9: attempt to index a nil value (local 't')"
  expect_err "in step 'end'"
  expect_out 1
}

test_repl_without_runs_or_with_a_bad_flow() {
  branch_flow
  repl branch.lua <<'LUA'
step('add_one')
LUA
  expect_rc 1
  expect_err 'step: flow BranchFlow has no run in namespace user:'
  flow broken.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BrokenFlow')
flow:step('start', function(self)
  self:next('nowhere')
end)
flow:step('end', function(self) end)
return flow
LUA
  repl broken.lua </dev/null
  expect_rc 2
  expect_err "broken.lua:4: step 'start'"
  repl missing.lua </dev/null
  expect_rc 2
  lf repl --max-workers zero
  expect_rc 2
  expect_err '--max-workers must be a number'
}

# ---- on a terminal ------------------------------------------------------------------------

TMUX_SOCKET="lf-e2e-$$"

tm() {
  tmux -L "$TMUX_SOCKET" "$@"
}

# tm_start CMD : runs CMD in a 100x30 tmux pane in the case directory.
tm_start() {
  tm kill-server 2>/dev/null
  tm -f /dev/null new-session -d -s t -x 100 -y 30 -c "$CASE_DIR"
  tm set-option -t t remain-on-exit on
  tm respawn-pane -k -t t -c "$CASE_DIR" "$1; echo EXIT=\$?"
}

# tm_type TEXT : types TEXT literally.
tm_type() {
  tm send-keys -t t -l "$1"
}

tm_key() {
  tm send-keys -t t "$@"
}

tm_screen() {
  tm capture-pane -p -t t
}

# tm_wait TEXT : waits (up to 20 s) until the screen shows TEXT.
tm_wait() {
  local i
  for i in $(seq 1 200); do
    if tm_screen | grep -qF -- "$1"; then
      return 0
    fi
    sleep 0.1
  done
  fail "the screen never showed: $1"
  echo "---- screen ----" >&2
  tm_screen >&2
  return 1
}

# tm_line N : line N (1-based) of the screen.
tm_line() {
  tm_screen | sed -n "${1}p"
}

test_repl_tty_editing_and_multiline() {
  branch_flow
  tm_start "LUAFLOW_HISTORY=$CASE_DIR/hist \"$LUAFLOW\" repl branch.lua"
  tm_wait 'help() for help' || { tm kill-server; return; }
  # Editing: type, move left, insert, go to the start, insert, delete backwards.
  tm_type '1 + 2'
  tm_key Left Left Left Left Left
  tm_type '10 * '
  tm_key C-e
  tm_type '0X'
  tm_key BSpace Enter
  tm_wait '> 10 * 1 + 20'
  tm_wait '30'
  # A chunk over several lines, with the continuation prompt.
  tm_type 'for i = 1, 3 do'
  tm_key Enter
  tm_wait '>>'
  tm_type 'io.write(i * 7, " ")'
  tm_key Enter
  tm_type 'end'
  tm_key Enter
  tm_wait '7 14 21'
  # Ctrl-C cancels the line being typed.
  tm_type 'this is not run'
  tm_key C-c
  tm_wait 'this is not run^C'
  # Ctrl-C stops running code, and the prompt comes back.
  tm_type 'while true do end'
  tm_key Enter
  sleep 0.5
  tm_key C-c
  tm_wait 'interrupted'
  tm_type 'print("still " .. "here")'
  tm_key Enter
  tm_wait 'still here'
  tm_key C-d
  tm_wait 'EXIT=0'
  tm kill-server
  # The history file holds the multi-line chunk as one entry, and not the cancelled line.
  grep -qxF 'for i = 1, 3 do io.write(i * 7, " ") end' "$CASE_DIR/hist" ||
    fail "history lacks the multi-line entry: $(cat "$CASE_DIR/hist")"
  grep -qF 'this is not run' "$CASE_DIR/hist" && fail "a cancelled line went to the history"
}

test_repl_tty_completion() {
  branch_flow
  lf run branch.lua
  expect_rc 0
  tm_start "LUAFLOW_HISTORY= \"$LUAFLOW\" repl branch.lua"
  tm_wait 'help() for help' || { tm kill-server; return; }
  # A global: a unique match completes.
  tm_type 'r = Ru'
  tm_key Tab
  tm_type '("Bra'
  tm_key Tab
  tm_wait '> r = Run("BranchFlow'
  tm_type '/'
  tm_key Tab
  tm_wait '> r = Run("BranchFlow/1'
  tm_type '")'
  tm_key Enter
  # Fields of a history object: several matches list on a second Tab.
  tm_type 'r.s'
  tm_key Tab Tab
  tm_wait 'successful'
  tm_wait 'system_tags'
  tm_type 'ucc'
  tm_key Tab Enter
  tm_wait '> r.successful'
  tm_wait 'true'
  # Step names of a run, then artifact names of a task's data.
  tm_type 'r.add_tw'
  tm_key Tab
  tm_type '.task.data.co'
  tm_key Tab Enter
  tm_wait '> r.add_two.task.data.count'
  tm_wait '2'
  # Pathspecs: steps of a run inside a string.
  tm_type 'Step("BranchFlow/1/j'
  tm_key Tab
  tm_type '")'
  tm_key Enter
  tm_wait 'Step(BranchFlow/1/join)'
  tm_key C-d
  tm_wait 'EXIT=0'
  tm kill-server
}

test_repl_tty_history_across_sessions() {
  tm_start "LUAFLOW_HISTORY=$CASE_DIR/hist \"$LUAFLOW\" repl"
  tm_wait 'help() for help' || { tm kill-server; return; }
  tm_type 'answer = 6 * 7'
  tm_key Enter
  tm_type 'print("first session")'
  tm_key Enter
  tm_wait 'first session'
  tm_key C-d
  tm_wait 'EXIT=0'
  # A new session: Up walks back through the previous session's entries.
  tm_start "LUAFLOW_HISTORY=$CASE_DIR/hist \"$LUAFLOW\" repl"
  tm_wait 'help() for help' || { tm kill-server; return; }
  tm_key Up Up
  tm_wait '> answer = 6 * 7'
  tm_key Down
  tm_wait '> print("first session")'
  tm_key Up Enter
  tm_type 'answer'
  tm_key Enter
  tm_wait '42'
  tm_key C-d
  tm_wait 'EXIT=0'
  tm kill-server
}
