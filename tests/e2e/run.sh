#!/usr/bin/env bash
# End-to-end tests: real flows through the real luaflow binary. Each case checks the exit
# code, fragments of stdout/stderr (error messages golden, with file:line), and what the
# datastore holds afterwards. Cases live in tests/e2e/cases/*.sh; each defines functions
# named test_*. Prints "N passed, M failed" and exits non-zero on any failure.
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
LUAFLOW="${LUAFLOW:-$ROOT/build/luaflow}"
E2E_TMP="$(mktemp -d "${TMPDIR:-/tmp}/luaflow-e2e.XXXXXX")"
export LUAFLOW ROOT E2E_TMP
export NO_COLOR=1
unset LUAFLOW_DATASTORE_ROOT LUAFLOW_MAX_WORKERS LUAFLOW_MAX_NUM_SPLITS
export HOME="$E2E_TMP/home"
mkdir -p "$HOME"

passed=0
failed=0
failures=()
CURRENT=""

# --- helpers -------------------------------------------------------------------------------

fail() {
  echo "  FAIL [$CURRENT]: $*" >&2
  CASE_FAILED=1
}

# lf ARGS... : runs luaflow in the case directory; sets $rc, $out, $err.
lf() {
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  (cd "$CASE_DIR" && "$LUAFLOW" "$@" >"$out" 2>"$err")
  rc=$?
  OUT="$(cat "$out")"
  ERR="$(cat "$err")"
}

expect_rc() {
  if [ "$rc" != "$1" ]; then
    fail "exit code $rc, expected $1"
    echo "---- stdout ----" >&2; tail -n 30 "$out" >&2
    echo "---- stderr ----" >&2; tail -n 30 "$err" >&2
  fi
}

expect_out() {
  if ! grep -qF -- "$1" "$out"; then
    fail "stdout lacks: $1"
    echo "---- stdout ----" >&2; tail -n 20 "$out" >&2
  fi
}

expect_err() {
  if ! grep -qF -- "$1" "$err"; then
    fail "stderr lacks: $1"
    echo "---- stderr ----" >&2; tail -n 20 "$err" >&2
  fi
}

expect_no_out() {
  if grep -qF -- "$1" "$out"; then
    fail "stdout unexpectedly has: $1"
  fi
}

expect_no_err() {
  if grep -qF -- "$1" "$err"; then
    fail "stderr unexpectedly has: $1"
  fi
}

expect_eq() {
  if [ "$1" != "$2" ]; then
    fail "expected '$2', got '$1' ${3:-}"
  fi
}

# flow NAME <<'EOF' ... EOF : writes a flow file into the case directory.
flow() {
  cat >"$CASE_DIR/$1"
}

# A canonical dump of the metadata index by natural keys (row ids depend on insert order).
index_dump() {
  sqlite3 "$1" <<'SQL' | sort
SELECT 'run', flow, run, user, status, created_at, finished_at, flow_file, origin_run FROM runs;
SELECT 'tag', r.flow, r.run, t.tag, t.system FROM run_tags t JOIN runs r ON r.id = t.run_id;
SELECT 'task', r.flow, r.run, k.step, k.task, k.attempt, k.status, k.pid, k.started_at,
       k.finished_at, k.next_steps, k.foreach_count, k.origin
  FROM tasks k JOIN runs r ON r.id = k.run_id;
SELECT 'input', r.flow, r.run, k.step, k.task, i.pos, i.input_step, i.input_task
  FROM task_inputs i JOIN tasks k ON k.id = i.task_id JOIN runs r ON r.id = k.run_id;
SELECT 'frame', r.flow, r.run, k.step, k.task, f.depth, f.split_step, f.split_task, f.idx,
       f.count
  FROM task_foreach f JOIN tasks k ON k.id = f.task_id JOIN runs r ON r.id = k.run_id;
SELECT 'artifact', r.flow, r.run, k.step, k.task, a.name, a.sha, a.type, a.size
  FROM artifacts a JOIN tasks k ON k.id = a.task_id JOIN runs r ON r.id = k.run_id;
SELECT 'attempt', r.flow, r.run, a.step, a.task, a.attempt, a.status, a.pid, a.started_at,
       a.finished_at, a.exit_status, a.signal, a.error_message, a.stdout_log, a.stderr_log
  FROM attempts a JOIN runs r ON r.id = a.run_id;
SQL
}

# The run id from a run's first line ("Workflow starting (run-id N): Flow/N").
run_id() {
  sed -n 's/.*Workflow starting (run-id \([0-9]*\)).*/\1/p' "$out" | head -n 1
}

# --- runner --------------------------------------------------------------------------------

for f in "$ROOT"/tests/e2e/cases/*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done

only="${1:-}"
for t in $(declare -F | awk '{print $3}' | grep '^test_' | sort); do
  if [ -n "$only" ] && [[ "$t" != *"$only"* ]]; then
    continue
  fi
  CURRENT="$t"
  CASE_DIR="$E2E_TMP/$t"
  mkdir -p "$CASE_DIR"
  CASE_FAILED=0
  "$t"
  if [ "$CASE_FAILED" = 0 ]; then
    passed=$((passed + 1))
    echo "ok   $t"
  else
    failed=$((failed + 1))
    failures+=("$t")
    echo "FAIL $t"
  fi
done

if [ "$failed" = 0 ]; then
  rm -rf "$E2E_TMP"
else
  echo "failed: ${failures[*]} (scratch kept in $E2E_TMP)" >&2
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
