-- Listing 4.5: a transient failure that a retry gets past (it fails in even seconds).
local luaflow = require('luaflow')
local flow = luaflow.flow('RetryFlow')

flow:step('start', { retry = { times = 3, minutes_between_retries = 1 / 60 } }, function(self)
  if os.time() % 2 == 0 then
    error('Bad luck!')
  else
    print('Lucky you!')
  end
  self:next('end')
end)

flow:step('end', function(self)
  print('Phew!')
end)

return flow
