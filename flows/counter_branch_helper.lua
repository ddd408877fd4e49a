-- Listing 3.7: merge_artifacts with exclude.
local luaflow = require('luaflow')
local flow = luaflow.flow('CounterBranchHelperFlow')

flow:step('start', function(self)
  self.creature = 'dog'
  self.count = 0
  self:next('add_one', 'add_two')
end)

flow:step('add_one', function(self)
  self.increment = 1
  self.count = self.count + self.increment
  self:next('join')
end)

flow:step('add_two', function(self)
  self.increment = 2
  self.count = self.count + self.increment
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local best = 0
  for _, inp in ipairs(inputs) do
    best = math.max(best, inp.count)
  end
  self.count = best
  print('count from add_one', inputs.add_one.count)
  print('count from add_two', inputs.add_two.count)
  self:merge_artifacts(inputs, { exclude = { 'increment' } })
  self:next('end')
end)

flow:step('end', function(self)
  print('The creature is', self.creature)
  print('The final count', self.count)
end)

return flow
