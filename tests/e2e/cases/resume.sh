# luaflow resume: clone what completed, run the rest; orphaned runs; Ctrl-C prints the way on.

write_fix_flow() {
  flow fix.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('FixFlow')
flow:param('n', { default = 4 })
flow:step('start', function(self)
  local xs = {}
  for i = 1, self.n do xs[i] = i end
  self.xs = xs
  print('start ran')
  self:next('square', { foreach = 'xs' })
end)
flow:step('square', function(self)
  self.y = self.input * self.input
  print('square', self.input)
  self:next('join')
end)
flow:step('join', function(self, inputs)
  assert(io.open('fixed'), 'not fixed yet')
  local t = 0
  for _, inp in ipairs(inputs) do t = t + inp.y end
  self.total = t
  self:next('end')
end)
flow:step('end', function(self) print('total', self.total) end)
return flow
LUA
}

test_resume_after_a_fix() {
  write_fix_flow
  lf run fix.lua --n 5
  expect_rc 1
  expect_err "fix.lua:17: not fixed yet"
  expect_err "To continue it: luaflow resume fix.lua --origin-run-id 1"
  touch "$CASE_DIR/fixed"
  lf resume fix.lua
  expect_rc 0
  expect_out "Workflow starting (run-id 2): FixFlow/2, resuming FixFlow/1 from step 'join'"
  expect_out "[2/start/1 (pid "
  expect_out "Cloned from FixFlow/1/start/1."
  expect_out "Cloned from FixFlow/1/square/6."
  expect_no_out "] square	"
  expect_out "total	55"
  # cloned tasks show in dump and logs of the new run, and say where they came from
  lf dump FixFlow/2/square/3
  expect_out "FixFlow/2/square/3 (cloned from FixFlow/1/square/3)"
  expect_out "int 4"
  lf logs FixFlow/2/square/3
  expect_out "square	2"
  grep -q '"origin_run":"1"' "$CASE_DIR/.luaflow/FixFlow/2/_run.json" || fail "no origin_run"
  # parameters come from the origin; new ones cannot be given
  lf resume fix.lua --n 7
  expect_rc 2
  expect_err "resume takes the parameters of the run it continues; '--n' is not a resume option"
}

test_resume_from_a_named_step() {
  write_fix_flow
  touch "$CASE_DIR/fixed"
  lf run fix.lua
  expect_rc 0
  lf resume fix.lua square --origin-run-id 1
  expect_rc 0
  expect_out "resuming FixFlow/1 from step 'square'"
  expect_out "Cloned from FixFlow/1/start/1."
  expect_out "] square	4"
  expect_out "total	30"
  lf resume fix.lua
  expect_rc 2
  expect_err "run FixFlow/2 completed; to run part of it again, name the step to resume from"
  lf resume fix.lua nosuch
  expect_rc 2
  expect_err "flow FixFlow has no step 'nosuch' to resume from"
  lf resume fix.lua --origin-run-id 99
  expect_rc 2
  expect_err "no run 'FixFlow/99' to resume"
}

test_resume_after_the_scheduler_was_killed() {
  flow slow.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('KilledFlow')
flow:step('start', function(self)
  local xs = {}
  for i = 1, 12 do xs[i] = i end
  self.xs = xs
  self:next('work', { foreach = 'xs' })
end)
flow:step('work', function(self)
  if self.input > 4 and not io.open('go') then os.execute('sleep 30') end
  self.y = self.input * 10
  self:next('join')
end)
flow:step('join', function(self, inputs)
  local t = 0
  for _, inp in ipairs(inputs) do t = t + inp.y end
  print('total', t)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  (cd "$CASE_DIR" && exec "$LUAFLOW" run slow.lua --max-workers 12 >out.txt 2>err.txt) &
  local sched=$!
  for _ in $(seq 300); do
    [ "$(find "$CASE_DIR/.luaflow/KilledFlow/1/work" -name task.json 2>/dev/null | wc -l)" -ge 4 ] && break
    sleep 0.05
  done
  sleep 0.3
  kill -9 "$sched"
  wait "$sched" 2>/dev/null
  pkill -f "sleep 30" || true
  sleep 0.3
  local done_before
  done_before=$(find "$CASE_DIR/.luaflow/KilledFlow/1/work" -name task.json | wc -l)
  [ "$done_before" -ge 4 ] || fail "only $done_before foreach tasks had finished"
  touch "$CASE_DIR/go"
  lf resume slow.lua
  expect_rc 0
  expect_err "run KilledFlow/1 was orphaned: its scheduler (pid $sched) stopped without finishing the run"
  expect_out "resuming KilledFlow/1 from step 'work'"
  local cloned
  cloned=$(grep -c "Cloned from KilledFlow/1/work/" "$out")
  expect_eq "$cloned" "$done_before" "(each finished foreach task is cloned)"
  expect_out "total	780"
  grep -q '"status":"failed"' "$CASE_DIR/.luaflow/KilledFlow/1/_run.json" ||
    fail "the orphaned run is not marked failed"
}

test_interrupt_prints_resume_command() {
  flow slow.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('InterruptedFlow')
flow:step('start', function(self) print('go'); io.stdout:flush(); os.execute('sleep 30'); self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  (cd "$CASE_DIR" && exec "$LUAFLOW" run slow.lua >out.txt 2>err.txt) &
  local sched=$!
  for _ in $(seq 200); do grep -q go "$CASE_DIR/out.txt" 2>/dev/null && break; sleep 0.05; done
  kill -INT "$sched"
  wait "$sched"
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 130
  expect_err "To continue it: luaflow resume slow.lua --origin-run-id 1"
  pkill -f "sleep 30" || true
}
