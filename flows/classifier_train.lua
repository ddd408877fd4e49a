-- Listings 3.10 and 3.13, in Lua: load a data set, split it, train a classifier. The data
-- is three seeded Gaussian classes in 4 dimensions (the book's wine data needs scikit-learn);
-- the model is a nearest-centroid classifier.
local luaflow = require('luaflow')
local flow = luaflow.flow('ClassifierTrainFlow')

flow:param('seed', { help = 'seed of the data set', default = 0 })

local function gaussian()
  local u1, u2 = math.random(), math.random()
  return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)
end

--- Loads the data and splits it 80/20.
flow:step('start', function(self)
  math.randomseed(self.seed)
  local centers = { { 0, 0, 0, 0 }, { 4, 4, 0, 0 }, { 0, 4, 4, 4 } }
  local data, labels = {}, {}
  for label, c in ipairs(centers) do
    for _ = 1, 60 do
      local x = {}
      for d = 1, 4 do
        x[d] = c[d] + gaussian()
      end
      data[#data + 1] = x
      labels[#labels + 1] = label
    end
  end
  local train_data, train_labels, test_data, test_labels = {}, {}, {}, {}
  for i = 1, #data do
    if i % 5 == 0 then
      test_data[#test_data + 1], test_labels[#test_labels + 1] = data[i], labels[i]
    else
      train_data[#train_data + 1], train_labels[#train_labels + 1] = data[i], labels[i]
    end
  end
  self.train_data, self.train_labels = train_data, train_labels
  self.test_data, self.test_labels = test_data, test_labels
  print('Data loaded successfully')
  self:next('train')
end)

--- Trains the nearest-centroid model and scores it on the test split.
flow:step('train', function(self)
  local sums, counts = {}, {}
  for i, x in ipairs(self.train_data) do
    local l = self.train_labels[i]
    sums[l] = sums[l] or { 0, 0, 0, 0 }
    counts[l] = (counts[l] or 0) + 1
    for d = 1, 4 do
      sums[l][d] = sums[l][d] + x[d]
    end
  end
  local centroids = {}
  for l, s in pairs(sums) do
    centroids[l] = {}
    for d = 1, 4 do
      centroids[l][d] = s[d] / counts[l]
    end
  end
  self.model = { kind = 'nearest-centroid', centroids = centroids }
  local predict = require('classifier_model').predict
  local right = 0
  for i, x in ipairs(self.test_data) do
    if predict(self.model, x) == self.test_labels[i] then
      right = right + 1
    end
  end
  self.accuracy = right / #self.test_data
  print(string.format('accuracy %.2f', self.accuracy))
  self:next('end')
end)

flow:step('end', function(self)
  print('done')
end)

return flow
