-- Listing 3.3: parameters.
local luaflow = require('luaflow')
local flow = luaflow.flow('ParameterFlow')

flow:param('animal', { name = 'creature', help = 'Specify a creature', required = true })
flow:param('count', { help = 'Number of creatures', default = 1 })
flow:param('ratio', { help = 'Ratio between 0.0 and 1.0', type = 'number' })

flow:step('start', function(self)
  print(self.animal, 'is a string of', #self.animal, 'characters')
  print(string.format('Count is an integer: %d+1=%d', self.count, self.count + 1))
  print('Ratio is a', math.type(self.ratio) or type(self.ratio), 'whose value is', self.ratio)
  self:next('end')
end)

flow:step('end', function(self)
  print('done!')
end)

return flow
