-- Listing 3.8: a foreach branch.
local luaflow = require('luaflow')
local flow = luaflow.flow('ForeachFlow')

flow:step('start', function(self)
  self.creatures = { 'bird', 'mouse', 'dog' }
  self:next('analyze_creatures', { foreach = 'creatures' })
end)

flow:step('analyze_creatures', function(self)
  print('Analyzing', self.input)
  self.creature = self.input
  self.score = #self.creature
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local best
  for _, inp in ipairs(inputs) do
    if not best or inp.score > best.score then
      best = inp
    end
  end
  self.best = best.creature
  self:next('end')
end)

flow:step('end', function(self)
  print(self.best, 'won!')
end)

return flow
