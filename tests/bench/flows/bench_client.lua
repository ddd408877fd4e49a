-- Times luaflow.client queries over the synthetic history that tests/bench/history.py wrote.
local luaflow = require('luaflow')
local client = require('luaflow.client')
local host = require('luaflow._host')
local flow = luaflow.flow('BenchClientFlow')

local function timed(label, fn, reps)
  reps = reps or 20
  local best = math.huge
  local result
  for _ = 1, reps do
    local t0 = host.now()
    result = fn()
    best = math.min(best, host.now() - t0)
  end
  print(string.format('BENCH client %-28s %8.3f ms (best of %d)', label, best * 1000, reps))
  return result
end

flow:step('start', function(self)
  local f = client.Flow('HistoryFlow')
  local run = timed('latest_successful_run', function()
    return f.latest_successful_run
  end)
  timed('runs tagged rare', function()
    return f:runs({ tags = { 'rare' } })
  end)
  timed('10 newest runs', function()
    return f:runs({ limit = 10 })
  end)
  local value = timed('artifact load (Run -> data)', function()
    return client.Run('HistoryFlow/' .. run.id):step('end').task.data.value
  end)
  print('BENCH client runs tagged rare: ' .. #f:runs({ tags = { 'rare' } })
    .. ', latest successful: ' .. run.pathspec .. ', value ' .. tostring(value))
  self:next('end')
end)

flow:step('end', function(self) end)

return flow
