# Crash safety and integrity: corrupt blobs are reported, a killed task leaves nothing
# half-written, interrupts exit 130.

test_corrupt_blob_is_reported() {
  lf run "$ROOT/flows/counter.lua"
  expect_rc 0
  # Flip one byte in the middle of every blob of the run.
  local f
  for f in $(find "$CASE_DIR/.luaflow/CounterFlow/data" -type f); do
    python3 - "$f" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2 + 8 if len(b) > 24 else len(b) - 1] ^= 0x55
open(p, 'wb').write(bytes(b))
PY
  done
  lf dump CounterFlow/1/end
  expect_rc 1
  expect_err "artifact 'count'"
  expect_err "corrupt"
  # A step that reads a corrupt artifact fails, naming it.
  lf run "$ROOT/flows/counter.lua"
  expect_rc 1
  expect_err "cannot load artifact 'count'"
  expect_err "corrupt"
}

test_killed_task_leaves_nothing_visible() {
  flow big.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BigFlow')
flow:step('start', function(self)
  local f = assert(io.open('/dev/urandom', 'rb'))
  local bytes = f:read(96 * 1024 * 1024)
  f:close()
  io.write('building\n')
  io.stdout:flush()
  self.big = bytes
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  (cd "$CASE_DIR" && "$LUAFLOW" run big.lua >out.txt 2>err.txt) &
  local sched=$!
  # Kill the worker while it writes its blob: as soon as a temp file shows up in the store.
  local pid=""
  for _ in $(seq 400); do
    pid=$(sed -n 's/.*\[1\/start\/1 (pid \([0-9]*\))\] building.*/\1/p' "$CASE_DIR/out.txt" | head -n 1)
    [ -n "$pid" ] && break
    sleep 0.02
  done
  [ -n "$pid" ] || fail "the task never started"
  local seen=0
  for _ in $(seq 1000); do
    if find "$CASE_DIR/.luaflow/BigFlow/data" \( -name '.lf-tmp-*' -o -name '*.tmp.*' \) 2>/dev/null | grep -q .; then
      seen=1
      break
    fi
    sleep 0.01
  done
  kill -9 "$pid" 2>/dev/null
  [ "$seen" = 1 ] || echo "  note: the kill did not land during the blob write" >&2
  wait "$sched"
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 1
  expect_err "killed by signal 9"
  [ -e "$CASE_DIR/.luaflow/BigFlow/1/start/1/task.json" ] && fail "a killed task has a record"
  # Only temp names may be left behind; every blob under its final name verifies.
  local b
  for b in $(find "$CASE_DIR/.luaflow/BigFlow/data" -type f ! -name '.lf-tmp-*' ! -name '*.tmp.*'); do
    [ "$(basename "$b")" = "$(basename "$b" | grep -E '^[0-9a-f]{64}$')" ] || fail "odd file $b"
  done
  # The flow runs fine afterwards.
  lf run big.lua
  expect_rc 0
  lf dump BigFlow/2/start
  expect_rc 0
  expect_out "big"
}

test_interrupt_exits_130() {
  flow slow.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('SlowFlow')
flow:step('start', function(self)
  print('sleeping')
  io.stdout:flush()
  os.execute('sleep 30')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  (cd "$CASE_DIR" && exec "$LUAFLOW" run slow.lua >out.txt 2>err.txt) &
  local sched=$!
  for _ in $(seq 200); do
    grep -q sleeping "$CASE_DIR/out.txt" 2>/dev/null && break
    sleep 0.05
  done
  local t0=$SECONDS
  kill -INT "$sched"
  wait "$sched"
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 130
  expect_err "Run SlowFlow/1 was interrupted"
  [ $((SECONDS - t0)) -lt 10 ] || fail "the interrupt took $((SECONDS - t0)) s"
  grep -q '"status":"interrupted"' "$CASE_DIR/.luaflow/SlowFlow/1/_run.json" ||
    fail "the run record does not say interrupted"
  # No task process is left behind (SIGTERM reached the task's whole process group).
  local gone=0
  for _ in $(seq 40); do
    pgrep -f "sleep 30" >/dev/null || { gone=1; break; }
    sleep 0.05
  done
  [ "$gone" = 1 ] || { pkill -f "sleep 30"; fail "the task's child survived"; }
}

test_boolean_parameters() {
  flow flags.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('FlagFlow')
flow:param('verbose', { default = false, help = 'say more' })
flow:param('ratio', { default = 0.5 })
flow:step('start', function(self)
  print('verbose', self.verbose, math.type(self.ratio))
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run flags.lua
  expect_out "verbose	false	float"
  lf run flags.lua --verbose
  expect_out "verbose	true"
  lf run flags.lua --verbose false --ratio 1
  expect_out "verbose	false	float"
  LUAFLOW_RUN_VERBOSE=yes lf run flags.lua
  expect_out "verbose	true"
  LUAFLOW_RUN_VERBOSE=yes lf run flags.lua --no-verbose
  expect_out "verbose	false"
  lf run flags.lua --verbose maybe
  expect_rc 2
  expect_err "parameter --verbose: 'maybe' is not a boolean (use true or false)"
}

test_deps_message_for_non_root() {
  command -v runuser >/dev/null || { fail "runuser is missing"; return; }
  runuser -u nobody -- sh "$ROOT/scripts/deps.sh" luaflow-no-such-package >"$CASE_DIR/out.txt" 2>"$CASE_DIR/err.txt"
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 1
  expect_err "luaflow: missing Debian packages: luaflow-no-such-package"
  expect_err "apt-get install -y luaflow-no-such-package"
}

test_leftover_child_does_not_hang_the_run() {
  flow daemon.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('DaemonFlow')
flow:step('start', function(self)
  -- A background process that keeps the task's stdout open long after the task ends.
  os.execute('sleep 60 & echo $! > leftover.pid')
  print('started a background sleep')
  self:next('end')
end)
flow:step('end', function(self) print('end ran') end)
return flow
LUA
  local t0=$SECONDS
  lf run daemon.lua
  expect_rc 0
  expect_out "started a background sleep"
  expect_out "end ran"
  [ $((SECONDS - t0)) -lt 20 ] || fail "the run waited $((SECONDS - t0)) s for a leftover process"
  kill "$(cat "$CASE_DIR/leftover.pid")" 2>/dev/null || true
}

test_store_write_faults_keep_datastore_and_index_consistent() {
  # The Nth write of every process fails (EIO, or a full disk), for every N that a small
  # flow reaches: each run completes or fails with a clear message, never crashes, and the
  # index is exactly what reindex rebuilds from the datastore.
  local n kind completed=0 failed=0
  for n in $(seq 1 14); do
    for kind in eio enospc; do
      local root="$CASE_DIR/store-$n-$kind"
      LUAFLOW_FAULT_WRITES="$n:$kind" lf run "$ROOT/flows/counter_branch.lua" --datastore-root "$root"
      case "$rc" in
        0) completed=$((completed + 1)) ;;
        1) failed=$((failed + 1))
           if ! grep -qE "injected by LUAFLOW_FAULT_WRITES|failed:" "$err"; then
             fail "N=$n $kind: exit 1 without a clear message: $(tail -n 2 "$err")"
           fi ;;
        *) fail "N=$n $kind: exit code $rc"; tail -n 5 "$err" >&2 ;;
      esac
      local db="$root/index.sqlite3"
      [ -e "$db" ] || continue
      local before after
      before=$(index_dump "$db")
      rm -f "$db" "$db-wal" "$db-shm"
      lf reindex --datastore-root "$root"
      [ "$rc" = 0 ] || { fail "N=$n $kind: reindex failed: $(cat "$err")"; continue; }
      after=$(index_dump "$db")
      if [ "$after" != "$before" ]; then
        fail "N=$n $kind: the index differs from what reindex rebuilds"
        diff <(echo "$before") <(echo "$after") | head -n 10 >&2
      fi
    done
  done
  [ "$completed" -gt 0 ] && [ "$failed" -gt 0 ] || fail "completed $completed, failed $failed: the faults missed"
}
