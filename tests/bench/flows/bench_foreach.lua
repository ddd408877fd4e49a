-- Scheduler benchmark (DESIGN §6): a WIDTH-way foreach and its join, the shape of
-- flows/wide_foreach.lua. Each task does next to nothing, so the run measures the
-- scheduler and the per-task overhead (spawn, load, commit). Run with
-- --max-num-splits >= width.
local luaflow = require('luaflow')
local flow = luaflow.flow('BenchForeachFlow')

flow:param('width', { help = 'number of foreach tasks', default = 1000 })

flow:step('start', function(self)
  local items = {}
  for i = 0, self.width - 1 do
    items[#items + 1] = i
  end
  self.items = items
  self:next('work', { foreach = 'items' })
end)

flow:step('work', function(self)
  self.result = self.input * 1000
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local total = 0
  for _, inp in ipairs(inputs) do
    total = total + inp.result
  end
  self.total = total
  self.n = #inputs
  self:next('end')
end)

flow:step('end', function(self)
  print(string.format('BENCH foreach_tasks=%d total=%d', self.n, self.total))
end)

return flow
