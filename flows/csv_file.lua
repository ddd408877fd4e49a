-- Listing 3.5: a flow that includes a CSV file as a parameter.
local luaflow = require('luaflow')
local csv = require('luaflow.std.csv')
local flow = luaflow.flow('CSVFileFlow')

flow:include_file('data', { name = 'csv', help = 'CSV file to be parsed', is_text = true })
flow:param('delimiter', { help = 'delimiter', default = ',' })

flow:step('start', function(self)
  for i, row in ipairs(csv.parse(self.data, { delimiter = self.delimiter })) do
    print(string.format('row %d: %s', i - 1, table.concat(row, ' | ')))
  end
  self:next('end')
end)

flow:step('end', function(self)
  print('done!')
end)

return flow
