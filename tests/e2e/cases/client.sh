# luaflow.client from inside steps: reading past runs of another flow, lazily; namespaces.

write_train_predict() {
  flow train.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('TrainFlow')
flow:param('seed', { default = 7 })
flow:step('start', function(self)
  self.model = { weights = { 1, 2, 3 }, bias = self.seed }
  print('trained')
  self:next('end')
end)
flow:step('end', function(self) self.score = 0.9 end)
return flow
LUA
  flow predict.lua <<'LUA'
local luaflow = require('luaflow')
local client = require('luaflow.client')
local flow = luaflow.flow('PredictFlow')
flow:step('start', function(self)
  local run = client.Flow('TrainFlow').latest_successful_run
  assert(run, 'no successful TrainFlow run')
  self.train_run = run.pathspec
  local model = run:step('end').task.data.model
  assert(run['end'].task.data.score == 0.9)
  assert(run.successful and run.finished and run.created_at > 0)
  assert(run.parameters.seed == 7, 'parameters of the run')
  local start = client.Task(run.pathspec .. '/start/1')
  assert(start.stdout == 'trained\n', 'stdout: ' .. tostring(start.stdout))
  local names = {}
  for _, a in ipairs(start.artifacts) do names[#names + 1] = a.name .. ':' .. a.type end
  print('artifacts', table.concat(names, ','))
  self.prediction = model.weights[3] + model.bias
  print('predicted', self.prediction, 'with', self.train_run)
  local missing, err = client.Run('TrainFlow/999')
  assert(missing == nil)
  print(err)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
}

test_client_reads_another_flow() {
  write_train_predict
  LUAFLOW_USER=ann lf run train.lua
  expect_rc 0
  LUAFLOW_USER=ann lf run predict.lua
  expect_rc 0
  expect_out "predicted	10	with	TrainFlow/1"
  expect_out "artifacts	model:table,seed:integer"
  expect_out "no run 'TrainFlow/999'"
  lf dump PredictFlow/1/start
  expect_out 'string(11) "TrainFlow/1"'
}

test_client_namespaces() {
  write_train_predict
  LUAFLOW_USER=ann lf run train.lua
  expect_rc 0
  # bob does not see ann's runs by default
  LUAFLOW_USER=bob lf run predict.lua
  expect_rc 1
  expect_err "no successful TrainFlow run"
  flow all.lua <<'LUA'
local luaflow = require('luaflow')
local client = require('luaflow.client')
local flow = luaflow.flow('NamespaceFlow')
flow:step('start', function(self)
  print('default', client.get_namespace())
  local r, err = client.Run('TrainFlow/1')
  print('own namespace', r, err)
  client.namespace(nil)
  print('all', client.Run('TrainFlow/1').user)
  client.namespace('user:ann')
  print('ann', #client.Flow('TrainFlow'):runs())
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  LUAFLOW_USER=bob lf run all.lua
  expect_rc 0
  expect_out "default	user:bob"
  expect_out "own namespace	nil	no run 'TrainFlow/1' in namespace user:bob"
  expect_out "all	ann"
  expect_out "ann	1"
}
