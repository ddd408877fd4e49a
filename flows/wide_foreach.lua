-- Listing 3.9: a 1000-way foreach (needs --max-num-splits 1000).
local luaflow = require('luaflow')
local flow = luaflow.flow('WideForeachFlow')

flow:step('start', function(self)
  local ints = {}
  for i = 0, 999 do
    ints[#ints + 1] = i
  end
  self.ints = ints
  self:next('multiply', { foreach = 'ints' })
end)

flow:step('multiply', function(self)
  self.result = self.input * 1000
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local total = 0
  for _, inp in ipairs(inputs) do
    total = total + inp.result
  end
  self.total = total
  self:next('end')
end)

flow:step('end', function(self)
  print('Total sum is', self.total)
end)

return flow
