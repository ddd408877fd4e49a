# luaflow.nd, luaflow.text, luaflow.ml and the compute helpers through real flows: arrays as
# artifacts (dedup, views, sparse), error messages, and exact agreement with scikit-learn's
# CountVectorizer and scipy's BᵀB, k-means inertia against scikit-learn, parallel_map, and
# the book's chapter-5 flows. References are computed by Debian's /usr/bin/python3.

ND_PY=/usr/bin/python3

nd_have_py() {
  if ! "$ND_PY" -c 'import numpy, scipy, sklearn' 2>/dev/null; then
    echo "  skip [$CURRENT]: $ND_PY lacks numpy/scipy/sklearn" >&2
    return 1
  fi
}

nd_corpus() { # nd_corpus FILE DOCS SEED [TOPICS]
  "$ND_PY" "$ROOT/scripts/gen_corpus.py" --docs "$2" --seed "$3" --topics "${4:-0}" >"$CASE_DIR/$1"
}

test_nd_arrays_as_artifacts() {
  flow arr.lua <<'LUA'
local luaflow = require('luaflow')
local nd = require('luaflow.nd')
local flow = luaflow.flow('NdArtifactFlow')
flow:step('start', function(self)
  local a = nd.arange(12, 'f64'):reshape(3, 4)
  self.a = a
  self.same = a
  self.copy = a:copy()
  self.t = a.T
  self.col = a:slice(nil, 2)
  self.m = nd.array({ { 1, 0, 2 }, { 0, 0, 3 } }):tocsr()
  self.mixed = { a, a, x = nd.array({ 1, 2 }, 'u8') }
  self.big = nd.uniform({ 500, 400 }, { seed = 1 })
  self:next('check')
end)
flow:step('check', function(self)
  assert(self.a == nd.arange(12, 'f64'):reshape(3, 4))
  assert(self.t:get(4, 3) == 11 and self.t.shape[1] == 4)
  assert(self.col:totable()[3] == 9)
  assert(self.m.nnz == 3 and self.m:get(2, 3) == 3)
  assert(self.mixed[1] == self.mixed[2] and rawequal(self.mixed[1], self.mixed[2]))
  assert(self.mixed.x.dtype == 'u8')
  assert(self.big == nd.uniform({ 500, 400 }, { seed = 1 }))
  print('arrays survived', self.big:sum() > 0)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run arr.lua
  expect_rc 0
  expect_out "arrays survived	true"
  lf dump NdArtifactFlow/1/start
  expect_rc 0
  expect_out "array(f64, 3x4)"
  expect_out "array(f64, 4x3)"
  expect_out "csr(i64, 2x3, nnz 3)"
  expect_out "array(f64, 500x400)"
  # a, same and copy have equal contents: one blob; a second run adds no array blob.
  local sa sc n1 n2
  sa=$(grep -E '^ +a ' "$out" | awk '{print $2}')
  sc=$(grep -E '^ +copy ' "$out" | awk '{print $2}')
  expect_eq "$sc" "$sa" "(sizes of a and copy)"
  n1=$(find "$CASE_DIR/.luaflow/NdArtifactFlow/data" -type f | wc -l)
  lf run arr.lua
  expect_rc 0
  n2=$(find "$CASE_DIR/.luaflow/NdArtifactFlow/data" -type f | wc -l)
  expect_eq "$n2" "$n1" "(blobs after a second identical run)"
  # The 1.6 MB random array is stored raw (incompressible), its encoding 64-aligned.
  local blob
  blob=$(find "$CASE_DIR/.luaflow/NdArtifactFlow/data" -type f -size +1500k | head -n 1)
  [ -n "$blob" ] || fail "no raw blob for the random array"
}

test_nd_errors() {
  flow errs.lua <<'LUA'
local luaflow = require('luaflow')
local nd = require('luaflow.nd')
local ml = require('luaflow.ml')
local flow = luaflow.flow('NdErrFlow')
local function msg(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok)
  print('ERR ' .. tostring(e))
end
flow:step('start', function(self)
  local a = nd.zeros({ 2, 3 })
  msg(function() return a + nd.ones({ 3, 2 }) end)
  msg(function() return a:matmul(a) end)
  msg(function() return a[3] end)
  msg(function() return nd.zeros(2, 'complex') end)
  msg(function() return ml.kmeans(a, { k = 3 }) end)
  msg(function() return ml.kmeans(nd.array({ { 0 / 0, 1 }, { 1, 1 } }), { k = 1 }) end)
  msg(function() return nd.array({ { 1, 2 }, { 3 } }) end)
  msg(function() return nd.cooc(a) end)
  msg(function() return nd.arange(3) // nd.zeros(3, 'i64') end)
  msg(function() return a:sum(3) end)
  msg(function() return nd.array({ 1, 2 }):topk(1, { largest = true }) end)
  self.f = function() end
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run errs.lua
  expect_rc 1
  expect_out "ERR errs.lua:12: shape mismatch: 2x3 and 3x2 do not broadcast"
  expect_out "ERR errs.lua:13: shape mismatch in matmul: 2x3 times 2x3"
  expect_out "ERR errs.lua:14: index 3 out of range for axis 1 of size 2"
  expect_out "unknown dtype 'complex'"
  expect_out "ERR errs.lua:16: kmeans: k = 3 must be between 1 and the number of rows (2)"
  expect_out "kmeans: the input holds NaN or infinite values"
  expect_out "nd.array: ragged nested table"
  expect_out "luaflow.csr expected, got luaflow.ndarray"
  expect_out "integer division by zero"
  expect_out "axis 3 out of range for an array of 2 dimensions"
  expect_out "topk: unknown option 'largest' (allowed: smallest)"
  expect_err "artifact 'f' cannot be stored"
}

# Writes the CSR of vectorize_file(corpus, opts) and nd.cooc of its binary form as raw files.
nd_export_flow() {
  flow export.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NdExportFlow')
flow:param('corpus', { default = 'corpus.txt' })
flow:param('binary', { default = false })
flow:step('start', function(self)
  local text = require('luaflow.text')
  self.mtx, self.vocab = text.vectorize_file(self.corpus,
    { min_df = 10, max_df = 0.1, binary = self.binary })
  self:next('cooc')
end)
flow:step('cooc', function(self)
  local nd = require('luaflow.nd')
  local b = text_binary or self.mtx
  self.dense = nd.cooc(self.mtx, { threads = 2 })
  self.sparse = nd.cooc(self.mtx, { threads = 2, output = 'sparse' })
  self.upper = nd.cooc(self.mtx, { threads = 1, output = 'upper' })
  self:next('end')
end)
flow:step('end', function(self)
  local function w(name, s)
    local f = assert(io.open(name, 'wb'))
    f:write(s)
    f:close()
  end
  w('indptr.bin', self.mtx.indptr:tobytes())
  w('indices.bin', self.mtx.indices:tobytes())
  w('data.bin', self.mtx.data:tobytes())
  w('vocab.txt', table.concat(self.vocab, '\n') .. '\n')
  w('dense.bin', self.dense:tobytes())
  w('sparse.bin', self.sparse:todense():tobytes())
  w('upper.bin', self.upper:tobytes())
end)
return flow
LUA
}

ND_COMPARE='
import sys, numpy as np, scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
docs = open("corpus.txt").readlines()
binary = sys.argv[1] == "true"
vec = CountVectorizer(min_df=10, max_df=0.1, binary=binary)
X = vec.fit_transform(docs)
cols = [None] * len(vec.vocabulary_)
for w, i in vec.vocabulary_.items():
    cols[i] = w
vocab = open("vocab.txt").read().split("\n")[:-1]
assert cols == vocab, "vocabulary differs: %d vs %d words" % (len(cols), len(vocab))
ip = np.fromfile("indptr.bin", dtype=np.int64)
ix = np.fromfile("indices.bin", dtype=np.int32)
d = np.fromfile("data.bin", dtype=np.int64)
M = sp.csr_matrix((d, ix, ip), shape=X.shape)
assert (M != X).nnz == 0, "matrix differs"
B = X.copy()
B.data[:] = 1
C = (B.T @ B).toarray()
n = C.shape[0]
for name in ("dense", "sparse"):
    c = np.fromfile(name + ".bin", dtype=np.int32).reshape(n, n)
    assert (c == C).all(), name + " cooc differs"
u = np.fromfile("upper.bin", dtype=np.int32).reshape(n, n)
assert (u == np.triu(C)).all(), "upper cooc differs"
print("MATCH", X.shape[0], X.shape[1], X.nnz)
'

test_nd_vectorize_cooc_match_sklearn_scipy() {
  nd_have_py || return 0
  nd_corpus corpus.txt 3000 7
  nd_export_flow
  lf run export.lua
  expect_rc 0
  (cd "$CASE_DIR" && "$ND_PY" -c "$ND_COMPARE" false) >"$CASE_DIR/py.txt" 2>&1 ||
    fail "python comparison: $(tail -n 3 "$CASE_DIR/py.txt")"
  grep -q '^MATCH 3000 ' "$CASE_DIR/py.txt" || fail "no match line: $(cat "$CASE_DIR/py.txt")"
  lf run export.lua --binary true
  expect_rc 0
  (cd "$CASE_DIR" && "$ND_PY" -c "$ND_COMPARE" true) >"$CASE_DIR/py.txt" 2>&1 ||
    fail "python comparison (binary): $(tail -n 3 "$CASE_DIR/py.txt")"
}

test_nd_kmeans_inertia_vs_sklearn() {
  nd_have_py || return 0
  nd_corpus corpus.txt 3000 11 4
  flow km.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NdKmeansFlow')
flow:step('start', function(self)
  local text = require('luaflow.text')
  local ml = require('luaflow.ml')
  local m = text.vectorize_file('corpus.txt', { min_df = 10, max_df = 0.1 })
  -- The best of 10 k-means++ starts, against scikit-learn's best of 3 seeds.
  local best = ml.kmeans(m, { k = 4, seed = 1, n_init = 10, threads = 2 }).inertia
  print(string.format('BEST %.6f', best))
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run km.lua
  expect_rc 0
  local ours theirs
  ours=$(sed -n 's/.*BEST \([0-9.]*\).*/\1/p' "$out")
  theirs=$(cd "$CASE_DIR" && "$ND_PY" -c '
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.cluster import KMeans
X = CountVectorizer(min_df=10, max_df=0.1).fit_transform(open("corpus.txt").readlines())
X = X.astype(float)
print(min(KMeans(n_clusters=4, n_init=1, random_state=s).fit(X).inertia_ for s in range(3)))')
  "$ND_PY" -c "import sys; o, t = $ours, $theirs; sys.exit(0 if o <= 1.01 * t else 1)" ||
    fail "k-means inertia $ours is not within 1% of scikit-learn's $theirs"
}

test_nd_parallel_map_and_profile() {
  flow pm.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('NdParallelFlow')
flow:step('start', { resources = { cpu = 2 } }, function(self)
  local nd = require('luaflow.nd')
  local pids = {}
  local res = luaflow.parallel_map(function(x)
    return { sq = x * x, arr = nd.arange(x), pid = require('luaflow.nd') and x }
  end, { 1, 2, 3, 4, 5, 6 }, { workers = 3 })
  for i, r in ipairs(res) do
    assert(r.sq == i * i and #r.arr == i, 'item ' .. i)
  end
  local ok, err = pcall(luaflow.parallel_map, function(x)
    if x == 'bad' then error('cannot handle it') end
    return x
  end, { 'a', 'bad', 'c' })
  print('PM', #res, ok, err)
  local dt, v = luaflow.profile('block', function() return 42 end)
  print('PROFILE', type(dt), v)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run pm.lua
  expect_rc 0
  expect_out "PM	6	false	parallel_map: item 2 failed: pm.lua:"
  expect_out "cannot handle it"
  expect_out "] block: "
  expect_out "PROFILE	number	42"
}

test_nd_book_flows() {
  nd_have_py || return 0
  nd_corpus corpus.txt 1500 3 5
  lf run "$ROOT/flows/cooc.lua" --corpus corpus.txt --algo plain --num-docs 800
  expect_rc 0
  local plain native
  plain=$(sed -n 's/.*\] \(cooc [0-9]*x[0-9]*, total [0-9]*\)/\1/p' "$out")
  expect_out "Computing co-occurrences with the plain algorithm: "
  lf run "$ROOT/flows/cooc.lua" --corpus corpus.txt --num-docs 800
  expect_rc 0
  native=$(sed -n 's/.*\] \(cooc [0-9]*x[0-9]*, total [0-9]*\)/\1/p' "$out")
  [ -n "$plain" ] && expect_eq "$native" "$plain" "(native vs plain cooc)"
  lf run "$ROOT/flows/kmeans.lua" --corpus corpus.txt --num-docs 1500 --k 5
  expect_rc 0
  expect_out "matrix size: 1500x"
  expect_out "] k-means: "
  expect_out "clusters:	1500"
  lf run "$ROOT/flows/many_kmeans.lua" --corpus corpus.txt --num-docs 1500 --max-k 15
  expect_rc 0
  expect_out "k=5: 5 clusters"
  expect_out "k=15: 15 clusters"
}
