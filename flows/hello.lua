-- Listing 3.1: Hello World.
local luaflow = require('luaflow')
local flow = luaflow.flow('HelloWorldFlow', { doc = 'The classic first flow' })

--- Starting point
flow:step('start', function(self)
  print('This is start step')
  self:next('hello')
end)

--- Just saying hi
flow:step('hello', function(self)
  print('Hello World!')
  self:next('end')
end)

--- Finish line
flow:step('end', function(self)
  print('This is end step')
end)

return flow
