# Invalid flows through the real binary: for every way a flow file can be wrong, `check`,
# `show` and `run` all exit 2 with the same one-line message, golden in full
# (`file:line: step 'x': what is wrong and what to do`), print nothing on stdout, and the
# failed run writes nothing to the datastore.

# invalid FILE FLOW MESSAGE : runs check, show and run on FILE (in the case directory) and
# expects exit 2, MESSAGE as the whole of stderr on one line, an empty stdout, and no trace of
# FLOW in the datastore.
invalid() {
  local file="$1" name="$2" msg="$3" cmd
  for cmd in check show run; do
    lf "$cmd" "$file"
    expect_rc 2
    expect_eq "$ERR" "$msg" "(stderr of $cmd $file)"
    expect_eq "$(wc -l <"$err")" "1" "(lines on stderr of $cmd $file)"
    expect_eq "$OUT" "" "(stdout of $cmd $file)"
  done
  if [ -e "$CASE_DIR/.luaflow/$name" ]; then
    fail "the failed run wrote .luaflow/$name"
  fi
  local db="$CASE_DIR/.luaflow/index.sqlite3"
  if [ -e "$db" ]; then
    expect_eq "$(sqlite3 "$db" 'SELECT count(*) FROM runs')" "0" "(runs in the index)"
  fi
}

# ---- the graph ----------------------------------------------------------------------------

test_invalid_missing_start() {
  flow nostart.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NoStartFlow')
flow:step('begin', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid nostart.lua NoStartFlow "nostart.lua:1: step 'start': not defined; every flow begins with a 'start' step: add flow:step(\"start\", function(self) ... end)"
}

test_invalid_missing_end() {
  flow noend.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NoEndFlow')
flow:step('start', function(self) self:next('a') end)
flow:step('a', function(self) self:next('finish') end)
return flow
LUA
  invalid noend.lua NoEndFlow "noend.lua:5: step 'end': not defined; every flow finishes with an 'end' step: add flow:step(\"end\", function(self) ... end)"
}

test_invalid_cycle() {
  flow cycle.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('CycleFlow')
flow:step('start', function(self) self:next('a') end)
flow:step('a', function(self) self:next('b') end)
flow:step('b', function(self)
  self:next('a')
end)
flow:step('end', function(self) end)
return flow
LUA
  invalid cycle.lua CycleFlow "cycle.lua:6: step 'b': cycle a -> b -> a; steps must not loop back to an earlier step (use a foreach to repeat work)"
}

test_invalid_self_loop() {
  flow selfloop.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('SelfLoopFlow')
flow:step('start', function(self) self:next('a') end)
flow:step('a', function(self) self:next('a') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid selfloop.lua SelfLoopFlow "selfloop.lua:4: step 'a': cycle a -> a; steps must not loop back to an earlier step (use a foreach to repeat work)"
}

test_invalid_join_of_different_splits() {
  flow joins.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('JoinsFlow')
flow:step('start', function(self) self:next('a', 'b') end)
flow:step('a', function(self) self:next('c', 'd') end)
flow:step('c', function(self) self:next('j') end)
flow:step('d', function(self) self:next('j') end)
flow:step('b', function(self) self:next('j') end)
flow:step('j', function(self, inputs) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid joins.lua JoinsFlow "joins.lua:8: step 'j': joins steps from different splits ('c' comes from split 'a', 'b' comes from split 'start'); a join must close exactly one split, so join the inner split first"
}

test_invalid_split_without_join() {
  flow nojoin.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NoJoinFlow')
flow:step('start', function(self) self:next('a', 'b') end)
flow:step('a', function(self) self:next('end') end)
flow:step('b', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid nojoin.lua NoJoinFlow "nojoin.lua:6: step 'end': is reached from 2 steps ('a', 'b'); branches must meet in a join step, declared as function(self, inputs), before 'end'"
}

test_invalid_foreach_without_join() {
  flow nojoin.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ForeachNoJoinFlow')
flow:step('start', function(self)
  self.items = { 1, 2, 3 }
  self:next('work', { foreach = 'items' })
end)
flow:step('work', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid nojoin.lua ForeachNoJoinFlow "nojoin.lua:5: step 'start': the foreach over 'items' is never joined; add a join step, declared as function(self, inputs), that its branches lead to before 'end'"
}

test_invalid_join_without_split() {
  flow join.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('JoinNoSplitFlow')
flow:step('start', function(self) self:next('j') end)
flow:step('j', function(self, inputs) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid join.lua JoinNoSplitFlow "join.lua:4: step 'j': is a join (function(self, inputs)) but closes no split; declare it as function(self), or split into branches before it"
}

test_invalid_unreachable_step() {
  flow orphan.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('OrphanFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('orphan', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid orphan.lua OrphanFlow "orphan.lua:4: step 'orphan': not reachable from 'start'; add a transition to it or remove it"
}

test_invalid_two_incoming_not_join() {
  flow notjoin.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NotJoinFlow')
flow:step('start', function(self) self:next('a', 'b') end)
flow:step('a', function(self) self:next('join') end)
flow:step('b', function(self) self:next('join') end)
flow:step('join', function(self)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  invalid notjoin.lua NotJoinFlow "notjoin.lua:6: step 'join': has 2 incoming transitions (from 'a', 'b') but is not a join; declare it as function(self, inputs)"
}

test_invalid_step_declared_twice() {
  flow twice.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TwiceFlow')
flow:step('start', function(self) self:next('a') end)
flow:step('a', function(self) self:next('end') end)
flow:step('a', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid twice.lua TwiceFlow "twice.lua:5: step 'a': a step of that name is already declared at twice.lua:4; rename one of them"
}

test_invalid_end_is_join() {
  flow endjoin.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('EndJoinFlow')
flow:step('start', function(self) self:next('a', 'b') end)
flow:step('a', function(self) self:next('end') end)
flow:step('b', function(self) self:next('end') end)
flow:step('end', function(self, inputs) end)
return flow
LUA
  invalid endjoin.lua EndJoinFlow "endjoin.lua:6: step 'end': cannot be a join; declare it as function(self) and join the branches in a step before 'end'"
}

# ---- transitions (self:next) --------------------------------------------------------------

test_invalid_next_not_last() {
  flow notlast.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NotLastFlow')
flow:step('start', function(self)
  self:next('end')
  print('after the transition')
end)
flow:step('end', function(self) end)
return flow
LUA
  invalid notlast.lua NotLastFlow "notlast.lua:4: step 'start': self:next(...) must be the last statement of the step; move the code after it (line 5) above it"
}

test_invalid_next_inside_if() {
  flow inif.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('InIfFlow')
flow:step('start', function(self)
  self.x = 1
  if self.x > 0 then
    self:next('a')
  else
    self:next('b')
  end
end)
flow:step('a', function(self) self:next('end') end)
flow:step('b', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid inif.lua InIfFlow "inif.lua:6: step 'start': self:next(...) is inside a block (if, loop or nested function); a transition cannot depend on run-time values: make it the last statement of the step's function, outside any block"
}

test_invalid_two_next_calls() {
  flow twonext.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TwoNextFlow')
flow:step('start', function(self)
  self:next('a')
  self:next('end')
end)
flow:step('a', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid twonext.lua TwoNextFlow "twonext.lua:5: step 'start': calls self:next(...) more than once (lines 4 and 5); a step has exactly one transition, its last statement"
}

test_invalid_next_variable_argument() {
  flow var.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('VarFlow')
flow:step('start', function(self)
  local to = 'end'
  self:next(to)
end)
flow:step('end', function(self) end)
return flow
LUA
  invalid var.lua VarFlow "var.lua:5: step 'start': self:next(...) arguments must be string literals, like self:next(\"a\", \"b\") or self:next(\"a\", { foreach = \"items\" }), so the graph can be found without running the flow"
}

test_invalid_unknown_target_did_you_mean() {
  flow typo.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TypoFlow')
flow:step('start', function(self) self:next('add_on', 'add_two') end)
flow:step('add_one', function(self) self:next('join') end)
flow:step('add_two', function(self) self:next('join') end)
flow:step('join', function(self, inputs) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid typo.lua TypoFlow "typo.lua:3: step 'start': transition to unknown step 'add_on'; did you mean 'add_one'?"
}

test_invalid_unknown_target_no_hint() {
  flow unknown.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('UnknownFlow')
flow:step('start', function(self) self:next('a') end)
flow:step('a', function(self)
  self:next('training')
end)
flow:step('end', function(self) end)
return flow
LUA
  invalid unknown.lua UnknownFlow "unknown.lua:5: step 'a': transition to unknown step 'training'; define it with flow:step(\"training\", ...) or fix the name"
}

test_invalid_end_calls_next() {
  flow endnext.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('EndNextFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self)
  print('done')
  self:next('start')
end)
return flow
LUA
  invalid endnext.lua EndNextFlow "endnext.lua:6: step 'end': must not call self:next(...); 'end' is the last step of a flow"
}

# ---- step declarations and options --------------------------------------------------------

test_invalid_step_option_unknown_did_you_mean() {
  flow retires.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('RetiresFlow')
flow:step('start', function(self) self:next('train') end)
flow:step('train', { retires = 3 }, function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid retires.lua RetiresFlow "retires.lua:4: step 'train': unknown option 'retires' (did you mean 'retry'?)"
}

test_invalid_step_option_retry_type() {
  flow retry.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('RetryTypeFlow')
flow:step('start', { retry = 'x' }, function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid retry.lua RetryTypeFlow "retry.lua:3: step 'start': option 'retry' must be a non-negative integer, got \"x\""
}

test_invalid_step_option_timeout_empty() {
  flow timeout.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TimeoutFlow')
flow:step('start', function(self) self:next('slow') end)
flow:step('slow', { timeout = {} }, function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid timeout.lua TimeoutFlow "timeout.lua:4: step 'slow': option 'timeout' needs seconds, minutes or hours"
}

test_invalid_step_option_resources_key() {
  flow res.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ResourcesFlow')
flow:step('start', { resources = { cpus = 4 } }, function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid res.lua ResourcesFlow "res.lua:3: step 'start': option 'resources' has unknown key 'cpus' (did you mean 'cpu'?)"
}

test_invalid_step_options_not_table() {
  flow opts.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('OptsFlow')
flow:step('start', 'retry', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid opts.lua OptsFlow "opts.lua:3: step 'start': options must be a table, got string"
}

test_invalid_step_function_not_function() {
  flow notfn.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NotFunctionFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('end', 'done')
return flow
LUA
  invalid notfn.lua NotFunctionFlow "notfn.lua:4: step 'end': expected a function(self) as the last argument, got string"
}

test_invalid_step_function_params() {
  flow params.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ParamsFlow')
flow:step('start', function(self, a, b) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid params.lua ParamsFlow "params.lua:3: step 'start': a step function takes (self) or, for a join, (self, inputs)"
}

test_invalid_step_name_not_identifier() {
  flow stepname.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('StepNameFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('bad-name', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid stepname.lua StepNameFlow "stepname.lua:4: flow:step: the step name must be an identifier, got bad-name"
}

# ---- parameters ---------------------------------------------------------------------------

test_invalid_param_artifact_not_identifier() {
  flow p.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ParamNameFlow')
flow:param('my-count', { default = 3 })
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid p.lua ParamNameFlow "p.lua:3: flow:param: the artifact name must be an identifier, got my-count"
}

test_invalid_param_reserved_option_name() {
  flow p.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ParamReservedFlow')
flow:param('workers', { name = 'max-workers', default = 3 })
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid p.lua ParamReservedFlow "p.lua:3: flow:param 'workers': the name 'max-workers' is a luaflow run option; choose another"
}

test_invalid_param_reserved_artifact() {
  flow p.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ParamArtifactFlow')
flow:param('input', { default = 1 })
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid p.lua ParamArtifactFlow "p.lua:3: flow:param: 'input' is reserved; choose another artifact name"
}

test_invalid_param_default_type() {
  flow p.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('ParamDefaultFlow')
flow:param('count', { type = 'integer', default = 'three' })
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid p.lua ParamDefaultFlow "p.lua:3: flow:param 'count': default three does not match type 'integer'"
}

# ---- the flow file ------------------------------------------------------------------------

test_invalid_lua_syntax_error() {
  flow syntax.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('SyntaxFlow')
flow:step('start', function(self)
  self.x = = 1
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  invalid syntax.lua SyntaxFlow "syntax.lua:4: unexpected symbol near '='"
}

test_invalid_runtime_error_at_top_level() {
  flow top.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TopLevelFlow')
local config = nil
local size = config.size
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid top.lua TopLevelFlow "top.lua:4: attempt to index a nil value (local 'config')"
}

test_invalid_file_does_not_return_flow() {
  flow noreturn.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NoReturnFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
LUA
  invalid noreturn.lua NoReturnFlow "noreturn.lua:4: the file must return its flow: end it with 'return flow' (it returned nil)"
  flow number.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NumberFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return 42
LUA
  invalid number.lua NumberFlow "number.lua:5: the file must return its flow: end it with 'return flow' (it returned number)"
}

test_invalid_flow_name_not_identifier() {
  flow name.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('Bad Flow')
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid name.lua "Bad Flow" "name.lua:2: luaflow.flow: the flow name must be an identifier, got Bad Flow"
}

test_invalid_two_flows_in_one_file() {
  flow two.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('FirstFlow')
local other = luaflow.flow('SecondFlow')
flow:step('start', function(self) self:next('end') end)
flow:step('end', function(self) end)
return flow
LUA
  invalid two.lua FirstFlow "two.lua:3: luaflow.flow: one flow per file: flow 'FirstFlow' was already declared at two.lua:2"
}
