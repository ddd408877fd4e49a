# Tags of past runs: luaflow tag add|remove|list, read-only system tags, tags changed while
# a run is still going, the client's tag filter, and reindex.

test_tag_commands() {
  LUAFLOW_USER=ann lf run "$ROOT/flows/hello.lua" --tag first
  expect_rc 0
  lf tag add HelloWorldFlow/1 nightly exp-2
  expect_rc 0
  expect_eq "$OUT" "$(printf 'exp-2\nfirst\nnightly')"
  lf tag remove HelloWorldFlow/1 first
  expect_rc 0
  lf tag list HelloWorldFlow/1
  expect_rc 0
  expect_eq "$OUT" "$(printf 'exp-2\nnightly')"
  lf tag remove HelloWorldFlow/1 user:ann
  expect_rc 2
  expect_err "'user:ann' is a system tag of the run; system tags are read-only"
  lf tag add HelloWorldFlow/1 "$(printf 'bad\ttag')"
  expect_rc 2
  expect_err "has a control character"
  lf tag list HelloWorldFlow/9
  expect_rc 1
  expect_err "no run 'HelloWorldFlow/9'"
  lf tag list HelloWorldFlow
  expect_rc 2
  lf tag frob HelloWorldFlow/1 x
  expect_rc 2
  # the index follows, and reindex reproduces it
  local db="$CASE_DIR/.luaflow/index.sqlite3"
  local before after
  before=$(index_dump "$db")
  echo "$before" | grep -q "^tag|HelloWorldFlow|1|nightly|0" || fail "the index lacks the tag"
  echo "$before" | grep -q "^tag|HelloWorldFlow|1|first|0" && fail "the index kept a removed tag"
  rm -f "$db" "$db-wal" "$db-shm"
  lf reindex
  after=$(index_dump "$db")
  expect_eq "$after" "$before" "(reindex keeps tags changed after the run)"
}

test_tag_added_during_a_run_survives_its_end() {
  flow slow.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('SlowTagFlow')
flow:step('start', function(self) print('go'); io.stdout:flush(); os.execute('sleep 1.5'); self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  (cd "$CASE_DIR" && exec "$LUAFLOW" run slow.lua --tag initial >out.txt 2>err.txt) &
  local sched=$!
  for _ in $(seq 200); do grep -q go "$CASE_DIR/out.txt" 2>/dev/null && break; sleep 0.05; done
  lf tag add SlowTagFlow/1 midway
  expect_rc 0
  wait "$sched"
  lf tag list SlowTagFlow/1
  expect_eq "$OUT" "$(printf 'initial\nmidway')"
  index_dump "$CASE_DIR/.luaflow/index.sqlite3" | grep -q "^tag|SlowTagFlow|1|midway|0" ||
    fail "the run's final record dropped the tag from the index"
}

test_client_filters_runs_by_tag() {
  LUAFLOW_USER=ann lf run "$ROOT/flows/hello.lua"
  LUAFLOW_USER=ann lf run "$ROOT/flows/hello.lua"
  lf tag add HelloWorldFlow/1 golden
  flow q.lua <<'LUA'
local luaflow = require('luaflow')
local client = require('luaflow.client')
local flow = luaflow.flow('QueryFlow')
flow:step('start', function(self)
  local ids = {}
  for _, r in ipairs(client.Flow('HelloWorldFlow'):runs({ tags = { 'golden' } })) do
    ids[#ids + 1] = r.id .. ':' .. table.concat(r.tags, ',')
  end
  print('golden runs', table.concat(ids, ' '))
  print('all runs', #client.Flow('HelloWorldFlow'):runs())
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  LUAFLOW_USER=ann lf run q.lua
  expect_rc 0
  expect_out "golden runs	1:golden"
  expect_out "all runs	2"
}

test_client_add_tag_from_plain_lua_and_not_from_steps() {
  local prefix="$CASE_DIR/prefix"
  cmake --install "$(dirname "$LUAFLOW")" --prefix "$prefix" >/dev/null 2>&1 || { fail "install failed"; return; }
  LUAFLOW_USER=ann lf run "$ROOT/flows/hello.lua"
  local preload=""
  if [ "${LF_E2E_SANITIZE:-0}" = 1 ]; then
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
  fi
  (cd "$CASE_DIR" && LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 \
    LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" LUAFLOW_USER=ann \
    LUAFLOW_DATASTORE_ROOT="$CASE_DIR/.luaflow" lua5.4 -e '
      local client = require("luaflow.client")
      local run = client.Run("HelloWorldFlow/1")
      print("tags", table.concat(run:add_tag("best", "v2"), ","))
      print("tags", table.concat(run:remove_tag("v2"), ","))
      print(pcall(run.remove_tag, run, "user:ann"))' >out.txt 2>err.txt)
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 0
  expect_out "tags	best,v2"
  expect_out "tags	best"
  expect_out "false"
  expect_out "'user:ann' is a system tag of the run; system tags are read-only"
  lf tag list HelloWorldFlow/1
  expect_eq "$OUT" "best"
  flow tagger.lua <<'LUA'
local luaflow = require('luaflow')
local client = require('luaflow.client')
local flow = luaflow.flow('TaggerFlow')
flow:step('start', function(self)
  client.Run('HelloWorldFlow/1'):add_tag('from-a-step')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  LUAFLOW_USER=ann lf run tagger.lua
  expect_rc 1
  expect_err "tags are changed from outside a run"
}
