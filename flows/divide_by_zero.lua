-- Listing 4.4: a task that fails predictably (integer division by zero raises in Lua).
local luaflow = require('luaflow')
local flow = luaflow.flow('DivideByZeroFlow')

flow:step('start', function(self)
  self.divisors = { 0, 1, 2 }
  self:next('divide', { foreach = 'divisors' })
end)

flow:step('divide', function(self)
  self.res = 10 // self.input
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local results = {}
  for _, inp in ipairs(inputs) do
    results[#results + 1] = inp.res
  end
  self.results = results
  print('results', table.concat(results, ' '))
  self:next('end')
end)

flow:step('end', function(self)
  print('done!')
end)

return flow
