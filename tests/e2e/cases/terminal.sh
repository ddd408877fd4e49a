# Terminal behaviour of `luaflow run`: plain text when the output is not a terminal; on a
# terminal (a pty from util-linux `script`) a live progress line for wide steps and colours,
# with NO_COLOR turning the colours (and only them) off.

# shellcheck disable=SC2016 # "$LUAFLOW" in lf_pty command lines is expanded by the pty shell

# A foreach of 40 slow items: with --max-workers 4 many tasks finish while others still run,
# so the progress line is drawn (it is redrawn at every finished task, whatever the timing).
wide_flow() {
  flow wide.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('WideFlow')
flow:step('start', function(self)
  self.items = {}
  for i = 1, 40 do self.items[i] = i end
  self:next('work', { foreach = 'items' })
end)
flow:step('work', function(self)
  os.execute('sleep 0.05')
  self.out = self.input * 2
  self:next('join')
end)
flow:step('join', function(self, inputs)
  local total = 0
  for _, inp in ipairs(inputs) do total = total + inp.out end
  self.total = total
  self:next('end')
end)
flow:step('end', function(self) print('total', self.total) end)
return flow
LUA
}

# A flow that writes to stderr and whose last step fails: the red and stderr paths.
failing_flow() {
  flow failing.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('FailingFlow')
flow:step('start', function(self)
  io.stderr:write('to stderr\n')
  self:next('end')
end)
flow:step('end', function(self) error('boom') end)
return flow
LUA
}

# lf_pty CMDLINE : runs the shell command line CMDLINE (which calls the binary as
# "$LUAFLOW") in the case directory on a pseudo-terminal; sets $rc (its exit code), $out and
# $OUT (what the terminal showed: stdout and stderr together), and $err/$ERR (what `script`
# itself said, normally nothing).
lf_pty() {
  out="$CASE_DIR/tty.txt"
  err="$CASE_DIR/tty-err.txt"
  (cd "$CASE_DIR" && script -qfec "$1" /dev/null </dev/null >"$out" 2>"$err")
  rc=$?
  OUT="$(cat "$out")"
  ERR="$(cat "$err")"
}

have_script() {
  if ! command -v script >/dev/null 2>&1; then
    echo "  skip [$CURRENT]: util-linux 'script' is not installed (no pty to test on)"
    return 1
  fi
}

ESC=$'\033'

# expect_no_escapes FILE : FILE holds no ESC byte at all.
expect_no_escapes() {
  if grep -qaF -- "$ESC" "$1"; then
    fail "$(basename "$1") has ANSI escape sequences: $(grep -naF -- "$ESC" "$1" | head -n 3 | cat -v)"
  fi
}

# A progress line as cmd_run.c draws it: "work: N/40 done, M running, F failed".
PROGRESS_RE='work: [0-9]+/40 done, [0-9]+ running, 0 failed'

expect_progress() {
  if ! grep -qaE -- "$PROGRESS_RE" "$out"; then
    fail "no progress line 'work: N/40 done, M running, 0 failed' was drawn"
    tail -c 600 "$out" | cat -v >&2
  fi
  # Every drawn progress line is erased ("\r ESC[K") before anything else is printed, and
  # the run does not end with one on the screen.
  if grep -qaP -- 'running, [0-9]+ failed(?!\r\e\[K)' "$out"; then
    fail "a progress line was not erased before the next output"
    grep -naP -- 'running, [0-9]+ failed(?!\r\e\[K)' "$out" | head -n 3 | cat -v >&2
  fi
}

test_terminal_no_escapes_when_not_a_terminal() {
  wide_flow
  failing_flow
  # Not a terminal: no colours and no progress line, even without NO_COLOR.
  local saved="$NO_COLOR"
  unset NO_COLOR
  lf run wide.lua --max-workers 4
  expect_rc 0
  expect_out "total	1640"
  expect_no_escapes "$out"
  expect_no_escapes "$err"
  expect_no_err "running,"
  expect_no_out "running,"
  lf run failing.lua
  expect_rc 1
  expect_err "] to stderr"
  expect_err "Task failed: failing.lua:7: boom"
  expect_no_escapes "$out"
  expect_no_escapes "$err"
  lf check wide.lua
  expect_rc 0
  expect_no_escapes "$out"
  lf show wide.lua
  expect_rc 0
  expect_no_escapes "$out"
  export NO_COLOR="$saved"
}

test_terminal_progress_and_colours() {
  have_script || return 0
  wide_flow
  lf_pty 'env -u NO_COLOR "$LUAFLOW" run wide.lua --max-workers 4'
  expect_rc 0
  expect_out "total	1640"
  expect_out "Done! Run WideFlow/1 finished successfully."
  expect_progress
  # Colours: the dim timestamp and the cyan task prefix.
  expect_out "${ESC}[2m"
  expect_out "${ESC}[36m[1/work/"
  expect_out "${ESC}[0m"
  # An empty NO_COLOR does not turn colours off (no-color.org).
  lf_pty 'NO_COLOR= "$LUAFLOW" run wide.lua --max-workers 4'
  expect_rc 0
  expect_progress
  expect_out "${ESC}[36m[2/work/"
}

test_terminal_no_color() {
  have_script || return 0
  wide_flow
  failing_flow
  lf_pty 'NO_COLOR=1 "$LUAFLOW" run wide.lua --max-workers 4'
  expect_rc 0
  expect_out "total	1640"
  expect_progress
  # No colour codes at all; erasing the progress line (ESC[K) is not a colour.
  if grep -qaE -- "${ESC}\[[0-9;]*m" "$out"; then
    fail "colour codes with NO_COLOR=1: $(grep -naE -- "${ESC}\[[0-9;]*m" "$out" | head -n 2 | cat -v)"
  fi
  lf_pty 'NO_COLOR=1 "$LUAFLOW" run failing.lua'
  expect_rc 1
  expect_out "Task failed: failing.lua:7: boom"
  if grep -qaE -- "${ESC}\[[0-9;]*m" "$out"; then
    fail "colour codes with NO_COLOR=1: $(grep -naE -- "${ESC}\[[0-9;]*m" "$out" | head -n 2 | cat -v)"
  fi
}

# Output redirected to a file while the other stream is a terminal: the file gets plain text.
test_terminal_redirected_stream_is_plain() {
  have_script || return 0
  wide_flow
  failing_flow
  lf_pty 'env -u NO_COLOR "$LUAFLOW" run failing.lua 2>err.log'
  expect_rc 1
  grep -qF "Task failed: failing.lua:7: boom" "$CASE_DIR/err.log" || fail "err.log lacks the failure"
  expect_no_escapes "$CASE_DIR/err.log"
  lf_pty 'env -u NO_COLOR "$LUAFLOW" run wide.lua --max-workers 4 >out.log'
  expect_rc 0
  grep -qF "total	1640" "$CASE_DIR/out.log" || fail "out.log lacks the end step's output"
  expect_no_escapes "$CASE_DIR/out.log"
  # stderr is still the terminal: the progress line is drawn there.
  expect_progress
}
