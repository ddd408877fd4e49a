-- Listing 3.4: a JSON-typed parameter.
local luaflow = require('luaflow')
local flow = luaflow.flow('JSONParameterFlow')

flow:param('mapping', { help = 'Specify a mapping', default = '{"some": "default"}', type = 'json' })

flow:step('start', function(self)
  local keys = {}
  for key in pairs(self.mapping) do
    keys[#keys + 1] = key
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    print('key', key, 'value', self.mapping[key])
  end
  self:next('end')
end)

flow:step('end', function(self)
  print('done!')
end)

return flow
