-- The book's KMeansFlow (listing 5.4): a bag-of-words matrix from a corpus file, clustered
-- with k-means in C. Run: luaflow run flows/kmeans.lua --corpus corpus.txt --num-docs 10000
local luaflow = require('luaflow')
local flow = luaflow.flow('KMeansFlow', { doc = 'Cluster documents with k-means' })

flow:param('corpus', { name = 'corpus', help = 'Corpus file, one document per line', required = true })
flow:param('num_docs', { name = 'num-docs', help = 'Number of documents', default = 1000 })
flow:param('k', { name = 'k', help = 'Number of clusters', default = 10 })

--- Vectorize the documents (min_df = 10, max_df = 0.1, as the book does).
flow:step('start', { resources = { memory = 4000 } }, function(self)
  local text = require('luaflow.text')
  self.mtx, self.cols = text.vectorize_file(self.corpus,
    { min_df = 10, max_df = 0.1, max_docs = self.num_docs })
  print(string.format('matrix size: %dx%d', self.mtx.shape[1], self.mtx.shape[2]))
  self:next('train_kmeans')
end)

--- Train k-means on the matrix.
flow:step('train_kmeans', { resources = { cpu = 2, memory = 4000 } }, function(self)
  local ml = require('luaflow.ml')
  local res
  luaflow.profile('k-means', function()
    res = ml.kmeans(self.mtx, { k = self.k, n_init = 1, seed = 1 })
  end)
  self.clusters = res.labels
  self.inertia = res.inertia
  print(string.format('inertia %.3f after %d iterations', res.inertia, res.n_iter))
  self:next('end')
end)

flow:step('end', function(self)
  print('clusters:', #self.clusters)
end)

return flow
