-- Listing 4.6: a task that sometimes takes too long; the timeout interrupts it and the retry
-- starts it again.
local luaflow = require('luaflow')
local flow = luaflow.flow('TimeoutFlow')

flow:step('start', { retry = 3, timeout = { seconds = 5 } }, function(self)
  for i = 0, os.time() % 10 - 1 do
    print(i)
    os.execute('sleep 1')
  end
  self:next('end')
end)

flow:step('end', function(self)
  print('success!')
end)

return flow
