-- Listing 4.7: catch keeps a failing foreach task from failing the run; the join sees which
-- items failed.
local luaflow = require('luaflow')
local flow = luaflow.flow('CatchDivideByZeroFlow')

flow:step('start', function(self)
  self.divisors = { 0, 1, 2 }
  self:next('divide', { foreach = 'divisors' })
end)

--- Retrying is futile here; catch records the failure in divide_failed.
flow:step('divide', { catch = 'divide_failed', retry = { times = 2 } }, function(self)
  self.res = 10 // self.input
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local results = {}
  for _, inp in ipairs(inputs) do
    if not inp.divide_failed then
      results[#results + 1] = inp.res
    end
  end
  self.results = results
  print('results', table.concat(results, ' '))
  self:next('end')
end)

flow:step('end', function(self)
  print('done!')
end)

return flow
