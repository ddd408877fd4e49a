-- Listing 3.6: static branches, merged in a join.
local luaflow = require('luaflow')
local flow = luaflow.flow('CounterBranchFlow', { doc = 'Two branches, one join' })

flow:param('animal', { name = 'creature', help = 'Specify a creature', default = 'dog' })

--- Fan out to two branches.
flow:step('start', function(self)
  self.count = 0
  self:next('add_one', 'add_two')
end)

--- Adds one.
flow:step('add_one', function(self)
  self.count = self.count + 1
  self:next('join')
end)

--- Adds two.
flow:step('add_two', function(self)
  self.count = self.count + 2
  self:next('join')
end)

--- Keeps the larger count.
flow:step('join', function(self, inputs)
  local best = 0
  for _, inp in ipairs(inputs) do
    best = math.max(best, inp.count)
  end
  self.count = best
  print('count from add_one', inputs.add_one.count)
  print('count from add_two', inputs[2].count)
  self:merge_artifacts(inputs)
  self:next('end')
end)

flow:step('end', function(self)
  print('The creature is', self.animal)
  print('The final count is', self.count)
end)

return flow
