-- Listing 3.2: a flow that maintains state.
local luaflow = require('luaflow')
local flow = luaflow.flow('CounterFlow')

flow:step('start', function(self)
  self.count = 0
  self:next('add')
end)

flow:step('add', function(self)
  print('The count is', self.count, 'before incrementing')
  self.count = self.count + 1
  self:next('end')
end)

flow:step('end', function(self)
  self.count = self.count + 1
  print('The final count is', self.count)
end)

return flow
