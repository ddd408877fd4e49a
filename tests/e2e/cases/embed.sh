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
  # History queries: newest first, tag and success filters, tasks, artifacts, errors.
  expect_eq "$(grep '^all run' "$out" | cut -d' ' -f3 | tr '\n' ' ')" \
    "CounterBranchFlow/2 CounterBranchFlow/1 " "(runs newest first)"
  expect_out "all run CounterBranchFlow/2 status ok user-tags second (user) origin -"
  expect_out "all run CounterBranchFlow/1 status ok user-tags - (user) origin -"
  expect_eq "$(grep -c '^tagged run' "$out")" 1 "(tag filter)"
  expect_out "tagged run CounterBranchFlow/2"
  expect_out "latest-successful run CounterBranchFlow/2"
  expect_no_out "none run"
  # The two branches run at once: either may start first.
  expect_eq "$(grep '^run task' "$out" | cut -d' ' -f3 | sed 's/add_two\/3/add_one\/2/' |
    tr '\n' ' ')" \
    "CounterBranchFlow/1/start/1 CounterBranchFlow/1/add_one/2 CounterBranchFlow/1/add_one/2 CounterBranchFlow/1/join/4 CounterBranchFlow/1/end/5 " \
    "(tasks in execution order)"
  expect_eq "$(grep -c '^run task CounterBranchFlow/1/add_\(one/2\|two/3\) ' "$out")" 2 \
    "(both branches listed)"
  expect_out "run task CounterBranchFlow/1/end/5 ok committed"
  expect_eq "$(grep -c '^step task' "$out")" 1 "(tasks of one step)"
  expect_out "step task CounterBranchFlow/2/join/4 ok committed"
  expect_out "stopped after 1"
  expect_out "artifact animal string"
  expect_out "artifact count integer"
  expect_out "not found: no run 'CounterBranchFlow/99'"
  expect_out "usage: expected a task pathspec 'Flow/run/step/task', got 'CounterBranchFlow/1/end'"
}

# examples/embed built against an installed luaflow (make install into a scratch prefix) with
# pkg-config, as a user would: it registers a C module that its flow's steps require.
test_embed_example_against_installed_library() {
  local build prefix
  build=$(dirname "$LUAFLOW")
  prefix="$CASE_DIR/prefix"
  cmake --install "$build" --prefix "$prefix" >"$CASE_DIR/install.txt" 2>&1 ||
    { fail "install failed: $(tail -n 3 "$CASE_DIR/install.txt")"; return; }
  [ -e "$prefix/include/luaflow.h" ] && [ -e "$prefix/include/luaflow_ext.h" ] &&
    [ -e "$prefix/lib/pkgconfig/luaflow.pc" ] || { fail "install is incomplete"; return; }
  local flags=""
  [ "${LF_E2E_SANITIZE:-0}" = 1 ] && flags="-fsanitize=address,undefined"
  # shellcheck disable=SC2046
  cc $flags -o "$CASE_DIR/embed" "$ROOT/examples/embed/embed.c" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs luaflow) \
    2>"$CASE_DIR/cc.txt" || { fail "the example does not build: $(head -n 5 "$CASE_DIR/cc.txt")"; return; }
  (cd "$CASE_DIR" && LD_LIBRARY_PATH="$prefix/lib" ./embed "$ROOT/examples/embed/flow.lua" store \
    >out.txt 2>err.txt)
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 0
  expect_out "[start] cube of	4	is	64"
  expect_out "EmbedFlow/1: 2 tasks started, 2 finished; y = 64"
  expect_out "latest successful run: EmbedFlow/1 (ok)"
  # The plain CLI does not have the program's module: the flow says so.
  lf check "$ROOT/examples/embed/flow.lua"
  expect_rc 2
  expect_err "module 'embedmath' not found"
}

# Plain lua5.4 reads the history through the installed Lua C module (make install puts it in
# <prefix>/lib/lua/5.4), as editors and existing Lua tools would.
test_plain_lua_client_module() {
  local build prefix
  build=$(dirname "$LUAFLOW")
  prefix="$CASE_DIR/prefix"
  cmake --install "$build" --prefix "$prefix" >/dev/null 2>&1 || { fail "install failed"; return; }
  LUAFLOW_USER=ann lf run "$ROOT/flows/counter_branch.lua" --creature owl
  expect_rc 0
  local preload=""
  if [ "${LF_E2E_SANITIZE:-0}" = 1 ]; then
    # An instrumented module inside an uninstrumented interpreter needs the runtimes first.
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
  fi
  (cd "$CASE_DIR" && LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 \
    LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" LUAFLOW_USER=ann \
    LUAFLOW_DATASTORE_ROOT="$CASE_DIR/.luaflow" lua5.4 -e '
      local client = require("luaflow.client")
      local run = client.Flow("CounterBranchFlow").latest_successful_run
      print("run", run.pathspec, run.successful, run.parameters.animal)
      print("count", run["end"].task.data.count)
      client.namespace("user:bob")
      print("bob sees", client.Flow("CounterBranchFlow").latest_run)
      print("flow dsl", type(require("luaflow").flow))' >out.txt 2>err.txt)
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 0
  expect_out "run	CounterBranchFlow/1	true	owl"
  expect_out "count	2"
  expect_out "bob sees	nil"
  expect_out "flow dsl	function"
}

# Outside a run, the client finds the datastore the way luaflow does: the config file too.
test_plain_lua_client_uses_the_config_file() {
  local prefix="$CASE_DIR/prefix"
  cmake --install "$(dirname "$LUAFLOW")" --prefix "$prefix" >/dev/null 2>&1 || { fail "install failed"; return; }
  mkdir -p "$HOME/.luaflowconfig"
  echo "{\"datastore_root\": \"$CASE_DIR/configured\"}" >"$HOME/.luaflowconfig/config.json"
  LUAFLOW_USER=ann lf run "$ROOT/flows/hello.lua"
  expect_rc 0
  local preload=""
  if [ "${LF_E2E_SANITIZE:-0}" = 1 ]; then
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
  fi
  (cd /tmp && LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 \
    LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" LUAFLOW_USER=ann lua5.4 -e '
      print("latest", require("luaflow.client").Flow("HelloWorldFlow").latest_run.pathspec)' \
    >"$CASE_DIR/out.txt" 2>"$CASE_DIR/err.txt")
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  rm -f "$HOME/.luaflowconfig/config.json"
  expect_rc 0
  expect_out "latest	HelloWorldFlow/1"
}
