-- The book's CoocFlow (listings 5.7-5.11): a word-word co-occurrence matrix from a binary
-- bag-of-words matrix, with pluggable variants: 'plain' (a Lua loop over the CSR arrays, the
-- book's simple_cooc) and 'native' (luaflow.nd.cooc in C, multithreaded).
local luaflow = require('luaflow')
local flow = luaflow.flow('CoocFlow', { doc = 'Word co-occurrences' })

flow:param('corpus', { name = 'corpus', help = 'Corpus file, one document per line', required = true })
flow:param('algo', { name = 'algo', help = 'Algorithm: plain or native', default = 'native' })
flow:param('num_docs', { name = 'num-docs', help = 'Number of documents', default = 1000 })
flow:param('num_cpu', { name = 'num-cpu', help = 'Number of CPU cores', default = 2 })

local variants = {}

--- The book's simple_cooc in Lua: every pair of words of every row.
function variants.plain(mtx)
  local nd = require('luaflow.nd')
  local n = mtx.shape[2]
  local indptr, indices = mtx.indptr:totable(), mtx.indices:totable()
  local cooc = {}
  for i = 1, n * n do
    cooc[i] = 0
  end
  for r = 1, #indptr - 1 do
    for i = indptr[r] + 1, indptr[r + 1] do
      local x = indices[i]
      cooc[x * n + x + 1] = cooc[x * n + x + 1] + 1
      for j = i + 1, indptr[r + 1] do
        local y = indices[j]
        cooc[x * n + y + 1] = cooc[x * n + y + 1] + 1
        cooc[y * n + x + 1] = cooc[y * n + x + 1] + 1
      end
    end
  end
  return nd.array(cooc, 'i32'):reshape(n, n)
end

function variants.native(mtx, num_cpu)
  return require('luaflow.nd').cooc(mtx, { threads = num_cpu, output = 'dense' })
end

--- Binary bag-of-words matrix.
flow:step('start', { resources = { memory = 4000 } }, function(self)
  local text = require('luaflow.text')
  self.mtx, self.cols = text.vectorize_file(self.corpus,
    { min_df = 10, max_df = 0.1, binary = true, max_docs = self.num_docs })
  print(string.format('matrix size: %dx%d', self.mtx.shape[1], self.mtx.shape[2]))
  self:next('compute_cooc')
end)

--- Co-occurrences with the chosen variant.
flow:step('compute_cooc', { resources = { cpu = 2, memory = 4000 } }, function(self)
  local fn = variants[self.algo]
  if not fn then
    error(string.format("unknown algo '%s' (use plain or native)", self.algo))
  end
  luaflow.profile('Computing co-occurrences with the ' .. self.algo .. ' algorithm', function()
    self.cooc = fn(self.mtx, self.num_cpu)
  end)
  self:next('end')
end)

flow:step('end', function(self)
  print(string.format('cooc %dx%d, total %d', self.cooc.shape[1], self.cooc.shape[2],
    self.cooc:sum()))
end)

return flow
