-- The flow of examples/embed: it uses a C module that the embedding program provides.
local luaflow = require('luaflow')
local embedmath = require('embedmath')
local flow = luaflow.flow('EmbedFlow')

flow:param('x', { default = 3 })

flow:step('start', function(self)
  self.y = embedmath.cube(self.x)
  print('cube of', self.x, 'is', self.y)
  self:next('end')
end)

flow:step('end', function(self) end)

return flow
