# Failure handling: retry, catch, timeout, environment, resources, --with, and tasks that
# crash or exit on their own.

test_retry_until_success_records_every_attempt() {
  flow retry.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('RetryCountFlow')
flow:step('start', { retry = 2 }, function(self)
  print('attempt', luaflow.current.retry_count)
  if luaflow.current.retry_count < 2 then
    error('flaky ' .. luaflow.current.retry_count)
  end
  self.attempt = luaflow.current.retry_count
  self:next('end')
end)
flow:step('end', function(self) print('final attempt', self.attempt) end)
return flow
LUA
  lf run retry.lua
  expect_rc 0
  expect_err "Task failed: retry.lua:6: flaky 0; retrying (attempt 2 of 3)"
  expect_err "Task failed: retry.lua:6: flaky 1; retrying (attempt 3 of 3)"
  expect_out "final attempt	2"
  local d="$CASE_DIR/.luaflow/RetryCountFlow/1/start/1"
  [ -e "$d/0.attempt.json" ] && [ -e "$d/1.attempt.json" ] || fail "failed attempts not recorded"
  grep -q 'flaky 0' "$d/0.stderr" || fail "the first attempt's log was not kept"
  grep -q 'attempt	1' "$d/1.stdout" || fail "the second attempt's log was not kept"
  lf logs RetryCountFlow/1/start
  expect_out "attempt	2"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r["attempt"] != 2)' "$d/task.json" ||
    fail "the committed record is not attempt 2"
}

test_retry_exhausted_fails() {
  flow retry.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('AlwaysFailsFlow')
flow:step('start', { retry = 1 }, function(self)
  error('always')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run retry.lua
  expect_rc 1
  expect_err "always; retrying (attempt 2 of 2)"
  expect_err "Run AlwaysFailsFlow/1 failed: step 'start' (task 1/start/1) failed: retry.lua:4: always"
}

test_catch_in_foreach_join_sees_failures() {
  lf run "$ROOT/flows/catch_divide_by_zero.lua"
  expect_rc 0
  expect_out "results	10 5"
  expect_err "attempt to divide by zero; caught in artifact 'divide_failed'"
  lf dump CatchDivideByZeroFlow/1/divide
  expect_rc 0
  expect_out "divide_failed"
  expect_out "table("
  # the successful items carry divide_failed = nil
  [ "$(grep -c 'divide_failed .* nil' "$out")" = 2 ] || fail "successful tasks lack divide_failed = nil"
  lf run "$ROOT/flows/divide_by_zero.lua"
  expect_rc 1
  expect_err "attempt to divide by zero"
}

test_timeout_fires_in_the_middle_of_output() {
  flow slow.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('SlowTimeoutFlow')
flow:step('start', { timeout = { seconds = 1 }, retry = 1 }, function(self)
  print('before the wait', luaflow.current.retry_count)
  io.stdout:flush()
  os.execute('sleep 30')
  print('after the wait')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  local t0=$SECONDS
  lf run slow.lua
  expect_rc 1
  expect_out "before the wait	0"
  expect_out "before the wait	1"
  expect_no_out "after the wait"
  expect_err "Task failed: timed out after 1 s (the step's timeout option); retrying (attempt 2 of 2)"
  expect_err "failed: timed out after 1 s"
  [ $((SECONDS - t0)) -lt 20 ] || fail "the timeout took $((SECONDS - t0)) s"
  grep -q 'before the wait' "$CASE_DIR/.luaflow/SlowTimeoutFlow/1/start/1/0.stdout" ||
    fail "output before the timeout was not kept"
}

test_timeout_caught() {
  flow slowcatch.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TimeoutCatchFlow')
flow:step('start', { timeout = 1, catch = 'failure' }, function(self)
  while true do end
end)
flow:step('end', function(self)
  print('caught', self.failure.type, self.failure.message)
end)
return flow
LUA
  lf check slowcatch.lua
  expect_rc 2
  flow slowcatch.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TimeoutCatchFlow')
flow:step('start', { timeout = 1, catch = 'failure' }, function(self)
  while os.time() > 0 do end
  self:next('end')
end)
flow:step('end', function(self)
  print('caught', self.failure.type, self.failure.message)
end)
return flow
LUA
  lf run slowcatch.lua
  expect_rc 0
  expect_out "caught	timeout	timed out after 1 s (the step's timeout option)"
}

test_segfault_and_exit_are_failures() {
  flow crash.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('CrashFlow')
flow:param('how', { default = 'segv' })
flow:step('start', function(self)
  if self.how == 'segv' then
    local pid = io.open('/proc/self/stat'):read('*n')
    os.execute('kill -SEGV ' .. pid)
    os.execute('sleep 5')
  else
    os.exit(3)
  end
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  # Under AddressSanitizer, let the signal end the task as it would in a release build.
  ASAN_OPTIONS="handle_segv=0:${ASAN_OPTIONS:-}" lf run crash.lua
  expect_rc 1
  expect_err "Task failed: the task was killed by signal 11 (Segmentation fault)"
  lf run crash.lua --how exit
  expect_rc 1
  expect_err "Task failed: the task exited with status 3"
}

test_with_applies_options_to_every_step() {
  flow flaky.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('FlakyFlow')
flow:step('start', function(self)
  if luaflow.current.retry_count == 0 then error('first try fails') end
  self:next('end')
end)
flow:step('end', function(self)
  if luaflow.current.retry_count == 0 then error('here too') end
  print('made it')
end)
return flow
LUA
  lf run flaky.lua
  expect_rc 1
  lf run flaky.lua --with retry
  expect_rc 0
  expect_out "made it"
  lf run flaky.lua --with catch:var=oops
  expect_rc 0
  lf dump FlakyFlow/3/end
  expect_out "oops"
  lf run flaky.lua --with retires
  expect_rc 2
  expect_err "--with retires: unknown step option 'retires' (did you mean 'retry'?)"
  lf run flaky.lua --with timeout:minutes=zero
  expect_rc 2
  expect_err "--with timeout:minutes=zero: option 'timeout' key 'minutes' must be a positive number, got zero"
  lf show flaky.lua
  expect_rc 0
}

test_environment_and_show_options() {
  flow env.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('EnvFlow')
flow:step('start', { environment = { vars = { GREETING = 'hello', N = 3 } } }, function(self)
  print(os.getenv('GREETING'), os.getenv('N'))
  self:next('end')
end)
flow:step('end', function(self) print('end sees', os.getenv('GREETING')) end)
return flow
LUA
  lf run env.lua
  expect_rc 0
  expect_out "hello	3"
  expect_out "end sees	nil"
  lf show env.lua
  expect_out "environment={vars={GREETING=hello,N=3}}"
}

test_declared_resources_limit_concurrency() {
  local cores
  cores=$(nproc)
  flow res.lua <<LUA
local luaflow = require('luaflow')
local flow = luaflow.flow('ResourcesFlow')
flow:step('start', function(self) self.items = { 1, 2, 3, 4 }; self:next('work', { foreach = 'items' }) end)
flow:step('work', { resources = { cpu = $cores } }, function(self)
  local dir = '$CASE_DIR/locks'
  os.execute('mkdir -p ' .. dir)
  local mine = dir .. '/' .. self.index
  local others = io.popen('ls ' .. dir):read('*a')
  assert(others == '', 'another task ran beside me: ' .. others)
  io.open(mine, 'w'):close()
  os.execute('sleep 0.3')
  os.remove(mine)
  self:next('join')
end)
flow:step('join', function(self, inputs) print('one at a time'); self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  lf run res.lua --max-workers 16
  expect_rc 0
  expect_out "one at a time"
}

test_task_exceeding_its_memory_fails() {
  flow mem.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('MemoryFlow')
flow:step('start', { resources = { memory = 20 } }, function(self)
  local t = {}
  for i = 1, 50 do t[i] = string.rep(string.char(65 + i % 26), 1 << 20) .. i end
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run mem.lua
  expect_rc 1
  expect_err "Task failed: step 'start': out of memory: it needs more than its resources.memory of 20 MB"
  lf run mem.lua --with resources:memory=200
  expect_rc 1
  sed -i 's/memory = 20 /memory = 200 /' "$CASE_DIR/mem.lua"
  lf run mem.lua
  expect_rc 0
}

test_retry_waits_between_attempts() {
  flow wait.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('RetryWaitFlow')
flow:step('start', { retry = { times = 1, minutes_between_retries = 0.025 } }, function(self)
  local f = io.open('stamps', 'a')
  f:write(string.format('%.3f\n', require('luaflow._host').now()))
  f:close()
  if luaflow.current.retry_count == 0 then error('not yet') end
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run wait.lua
  expect_rc 0
  local gap
  gap=$(awk 'NR==1{a=$1} NR==2{printf "%d", ($1-a)*1000}' "$CASE_DIR/stamps")
  [ -n "$gap" ] && [ "$gap" -ge 1400 ] || fail "the second attempt came $gap ms after the first (want >= 1500 ms)"
}
