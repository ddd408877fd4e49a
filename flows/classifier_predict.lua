-- Listing 3.12, in Lua: classify a vector with the model of the latest training run, and
-- keep that run's pathspec for lineage.
local luaflow = require('luaflow')
local client = require('luaflow.client')
local flow = luaflow.flow('ClassifierPredictFlow')

flow:param('vector', { type = 'json', required = true, help = 'the vector to classify' })

flow:step('start', function(self)
  local run = client.Flow('ClassifierTrainFlow').latest_successful_run
  assert(run, 'no successful ClassifierTrainFlow run: run flows/classifier_train.lua first')
  self.train_run_id = run.pathspec
  self.model = run['end'].task.data.model
  print('Input vector', table.concat(self.vector, ' '))
  self:next('end')
end)

flow:step('end', function(self)
  local label = require('classifier_model').predict(self.model, self.vector)
  self.label = label
  print('Model', self.model.kind, 'from', self.train_run_id, 'predicts class', label)
end)

return flow
