# The artifact value model across task boundaries, dedup, and failures that commit nothing.

test_value_model_roundtrip() {
  flow values.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ValuesFlow')
flow:step('start', function(self)
  self.i = 3
  self.f = 3.0
  self.maxint = math.maxinteger
  self.minint = math.mininteger
  self.negzero = -0.0
  self.inf = math.huge
  self.nan = 0 / 0
  self.bin = 'a\0b\255c'
  self.empty = ''
  self.nothing = nil
  self.yes = true
  local shared = { 1, 2, 3 }
  local t = { a = shared, b = shared, nested = { deep = { deeper = 'x' } }, [1] = 'one', [2.5] = 'f' }
  t.self = t
  self.t = t
  self:next('check')
end)
flow:step('check', function(self)
  assert(math.type(self.i) == 'integer' and self.i == 3)
  assert(math.type(self.f) == 'float' and self.f == 3.0)
  assert(self.maxint == math.maxinteger and self.minint == math.mininteger)
  assert(1 / self.negzero == -math.huge, 'negative zero lost')
  assert(self.inf == math.huge)
  assert(self.nan ~= self.nan)
  assert(self.bin == 'a\0b\255c' and #self.bin == 5)
  assert(self.empty == '')
  assert(self.nothing == nil and self:has('nothing'))
  assert(self.yes == true)
  local t = self.t
  assert(t.a == t.b, 'shared reference lost')
  assert(t.self == t, 'cycle lost')
  assert(t.nested.deep.deeper == 'x' and t[1] == 'one' and t[2.5] == 'f')
  print('all values survived')
  self:next('end')
end)
flow:step('end', function(self)
  assert(self.t.self == self.t)
end)
return flow
LUA
  lf run values.lua
  expect_rc 0
  expect_out "all values survived"
  lf dump ValuesFlow/1/start
  expect_out "maxint"
  expect_out "int 9223372036854775807"
  expect_out "float -0.0"
  expect_out "nothing"
}

test_identical_values_stored_once() {
  flow dedup.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('DedupFlow')
flow:step('start', function(self)
  local big = string.rep('luaflow ', 100000)
  self.a = big
  self.b = big
  self:next('copy')
end)
flow:step('copy', function(self)
  self.c = self.a .. ''
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run dedup.lua
  expect_rc 0
  local n1
  n1=$(find "$CASE_DIR/.luaflow/DedupFlow/data" -type f | wc -l)
  lf run dedup.lua
  expect_rc 0
  local n2
  n2=$(find "$CASE_DIR/.luaflow/DedupFlow/data" -type f | wc -l)
  expect_eq "$n2" "$n1" "(a second identical run adds no blobs)"
  # a, b and c name one blob
  local shas
  shas=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["artifacts"]; print(len({a[k]["sha"] for k in "abc"}))' \
    "$CASE_DIR/.luaflow/DedupFlow/1/copy/2/task.json")
  expect_eq "$shas" "1" "(one blob for three identical artifacts)"
}

test_unstorable_value_commits_nothing() {
  flow bad.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BadValueFlow')
flow:step('start', function(self)
  self.fine = 'ok'
  self.model = { weights = { 1, 2 }, predict = function() end }
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run bad.lua
  expect_rc 1
  expect_err "step 'start': artifact 'model' cannot be stored: "
  expect_err "function"
  expect_err "predict"
  [ -e "$CASE_DIR/.luaflow/BadValueFlow/1/start/1/task.json" ] && fail "a task record was committed"
  lf dump BadValueFlow/1/start/1
  expect_rc 1
  expect_err "has no committed record"
  lf logs BadValueFlow/1/start/1 --stderr
  expect_rc 0
  expect_err "artifact 'model' cannot be stored"
}

test_merge_divergence_fails_loudly() {
  flow diverge.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('DivergeFlow')
flow:step('start', function(self) self.x = 0; self:next('a', 'b') end)
flow:step('a', function(self) self.x = 1; self:next('join') end)
flow:step('b', function(self) self.x = 2; self:next('join') end)
flow:step('join', function(self, inputs)
  self:merge_artifacts(inputs)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run diverge.lua
  expect_rc 1
  expect_err "step 'join': merge_artifacts: artifacts differ between inputs: x (DivergeFlow/1/a/2, DivergeFlow/1/b/3)"
  expect_err "diverge.lua:7"
}

test_join_sees_only_merged() {
  flow barrier.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BarrierFlow')
flow:param('animal', { default = 'cat' })
flow:step('start', function(self) self.creature = 'dog'; self:next('a', 'b') end)
flow:step('a', function(self) self:next('join') end)
flow:step('b', function(self) self:next('join') end)
flow:step('join', function(self, inputs)
  assert(self.animal == 'cat', 'parameters cross joins')
  assert(not self:has('creature'))
  self:next('end')
end)
flow:step('end', function(self)
  print(self.creature)
end)
return flow
LUA
  lf run barrier.lua
  expect_rc 1
  expect_err "step 'end': no artifact 'creature' (artifacts here: animal)"
  expect_err "barrier.lua:13"
}

test_parameters_read_only() {
  flow ro.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ReadOnlyFlow')
flow:param('count', { default = 1 })
flow:step('start', function(self)
  self.count = 2
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run ro.lua
  expect_rc 1
  expect_err "ro.lua:5: step 'start': cannot assign parameter 'count': parameters are read-only"
}

test_nested_foreach() {
  flow nested.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NestedForeachFlow')
flow:step('start', function(self)
  self.rows = { 'a', 'b' }
  self:next('row', { foreach = 'rows' })
end)
flow:step('row', function(self)
  self.row = self.input
  self.cols = { 1, 2, 3 }
  self:next('cell', { foreach = 'cols' })
end)
flow:step('cell', function(self)
  self.cell = self.row .. self.input
  self.where = self.index
  self:next('join_cols')
end)
flow:step('join_cols', function(self, inputs)
  local cells = {}
  for i, inp in ipairs(inputs) do
    assert(inp.where == i, 'inputs are in foreach order')
    cells[#cells + 1] = inp.cell
  end
  self.line = table.concat(cells, ',')
  self:next('join_rows')
end)
flow:step('join_rows', function(self, inputs)
  local lines = {}
  for _, inp in ipairs(inputs) do
    lines[#lines + 1] = inp.line
  end
  self.grid = table.concat(lines, ';')
  self:next('end')
end)
flow:step('end', function(self)
  print('grid', self.grid)
end)
return flow
LUA
  lf run nested.lua
  expect_rc 0
  expect_out "grid	a1,a2,a3;b1,b2,b3"
  lf dump NestedForeachFlow/1/cell
  expect_rc 0
  local n
  n=$(grep -c '^NestedForeachFlow/1/cell/' "$out")
  expect_eq "$n" "6" "(six cell tasks)"
}

test_foreach_with_static_split_inside() {
  flow mixed.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('MixedFlow')
flow:step('start', function(self) self.xs = { 10, 20 }; self:next('each', { foreach = 'xs' }) end)
flow:step('each', function(self) self.x = self.input; self:next('double', 'triple') end)
flow:step('double', function(self) self.y = self.x * 2; self:next('both') end)
flow:step('triple', function(self) self.y = self.x * 3; self:next('both') end)
flow:step('both', function(self, inputs)
  self.sum = inputs.double.y + inputs.triple.y
  self:next('all')
end)
flow:step('all', function(self, inputs)
  local t = 0
  for _, inp in ipairs(inputs) do t = t + inp.sum end
  self.total = t
  self:next('end')
end)
flow:step('end', function(self) print('total', self.total) end)
return flow
LUA
  lf run mixed.lua
  expect_rc 0
  expect_out "total	150"
}

test_empty_foreach() {
  flow empty.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('EmptyForeachFlow')
flow:step('start', function(self) self.items = {}; self:next('work', { foreach = 'items' }) end)
flow:step('work', function(self) self:next('join') end)
flow:step('join', function(self, inputs) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  lf run empty.lua
  expect_rc 1
  expect_err "step 'start': foreach over 'items' is empty, so join 'join' would have no inputs"
}

test_foreach_needs_a_list() {
  flow notlist.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NotListFlow')
flow:step('start', function(self) self.items = { a = 1 }; self:next('work', { foreach = 'items' }) end)
flow:step('work', function(self) self:next('join') end)
flow:step('join', function(self, inputs) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  lf run notlist.lua
  expect_rc 1
  expect_err "step 'start': foreach over 'items' needs a list (keys 1..n), found key a"
}

test_step_error_names_file_and_line() {
  flow boom.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('BoomFlow')
local function helper(x)
  return x.field
end
flow:step('start', function(self)
  print('before the error')
  helper(nil)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run boom.lua
  expect_rc 1
  expect_out "before the error"
  expect_err "Task failed: boom.lua:4: attempt to index a nil value (local 'x')"
  expect_err "boom.lua:8: in step 'start'"
  expect_err "Run BoomFlow/1 failed: step 'start' (task 1/start/1) failed"
  lf logs BoomFlow/1/start --stderr
  expect_err "stack traceback:"
}
