-- The book's ManyKmeansFlow (listing 5.6): k-means for k = 5, 10, ..., 50 in a foreach, the
-- top words of each cluster, and a join that groups them by k.
local luaflow = require('luaflow')
local flow = luaflow.flow('ManyKmeansFlow', { doc = 'Search the number of clusters' })

flow:param('corpus', { name = 'corpus', help = 'Corpus file, one document per line', required = true })
flow:param('num_docs', { name = 'num-docs', help = 'Number of documents', default = 1000 })
flow:param('max_k', { name = 'max-k', help = 'Largest k (steps of 5 from 5)', default = 50 })

--- Vectorize and list the values of k to try.
flow:step('start', { resources = { memory = 4000 } }, function(self)
  local text = require('luaflow.text')
  self.mtx, self.cols = text.vectorize_file(self.corpus,
    { min_df = 10, max_df = 0.1, max_docs = self.num_docs })
  self.k_params = {}
  for k = 5, self.max_k, 5 do
    self.k_params[#self.k_params + 1] = k
  end
  self:next('train_kmeans', { foreach = 'k_params' })
end)

--- One clustering per k.
flow:step('train_kmeans', { resources = { cpu = 1, memory = 4000 } }, function(self)
  local ml = require('luaflow.ml')
  self.k = self.input
  local res
  luaflow.profile('k-means', function()
    res = ml.kmeans(self.mtx, { k = self.k, n_init = 1, seed = self.k })
  end)
  self.clusters = res.labels
  self:next('analyze')
end)

--- The 20 most frequent words of each cluster.
flow:step('analyze', function(self)
  local ml = require('luaflow.ml')
  self.top = ml.top_words(self.clusters, self.mtx, self.cols, 20)
  self:next('join')
end)

--- Group the top words by k.
flow:step('join', function(self, inputs)
  self.top = {}
  for _, inp in ipairs(inputs) do
    self.top[inp.k] = inp.top
  end
  self:next('end')
end)

flow:step('end', function(self)
  local ks = {}
  for k in pairs(self.top) do
    ks[#ks + 1] = k
  end
  table.sort(ks)
  for _, k in ipairs(ks) do
    print(string.format('k=%d: %d clusters, first: %s', k, #self.top[k], self.top[k][1][1][1]))
  end
end)

return flow
