-- SPDX-License-Identifier: MIT
-- The luaflow side of tests/bench/nd_bench.py: one measurement per process. nd_bench.py runs
-- it through `luaflow repl` with the chunk `ND = {...}; dofile('.../nd_bench.lua')` on stdin.
--
--   ND.mode = 'vectorize'  text.vectorize_file(ND.corpus, {min_df, max_df})
--   ND.mode = 'cooc'       nd.cooc of the binary matrix in ND.dir (indptr.i64, indices.i32)
--   ND.mode = 'kmeans'     ml.kmeans of the count matrix in ND.dir (+ data.f64)
--
-- Only the kernel call is timed (luaflow._host.now(), microseconds). Memory: the peak RSS
-- counter is reset (/proc/self/clear_refs, "5") right before the call, so "kernel peak" is
-- VmHWM after the call and "kernel delta" is that minus VmRSS before it. Prints one line
-- `NDRESULT key=value ...` for nd_bench.py.
local host = require('luaflow._host')
local nd = require('luaflow.nd')
local ND = assert(ND, 'nd_bench.lua: the global ND is not set')

local function status_kb(key)
  local f = io.open('/proc/self/status')
  if not f then return 0 end
  local s = f:read('a')
  f:close()
  return tonumber(s:match(key .. ':%s*(%d+)')) or 0
end

local function reset_peak()
  local f = io.open('/proc/self/clear_refs', 'w')
  if f then
    f:write('5')
    f:close()
  end
end

local function load(name, dtype)
  local f = assert(io.open(ND.dir .. '/' .. name, 'rb'))
  local s = f:read('a')
  f:close()
  return nd.frombytes(s, dtype)
end

-- Runs fn with the timer and the peak-memory probe around it; returns fn's results.
local out = {}
local function measure(fn)
  collectgarbage('collect')
  collectgarbage('collect')
  local before = status_kb('VmRSS')
  out.hwm_before_kb = status_kb('VmHWM')
  reset_peak()
  local t0 = host.now()
  local r1, r2 = fn()
  local t1 = host.now()
  local peak = status_kb('VmHWM')
  out.kernel_s = t1 - t0
  out.rss_before_kb = before
  out.kernel_peak_kb = peak
  out.kernel_delta_kb = peak - before
  return r1, r2
end

local threads = ND.threads or 2

if ND.mode == 'vectorize' then
  local text = require('luaflow.text')
  local m, vocab = measure(function()
    return text.vectorize_file(ND.corpus, { min_df = ND.min_df, max_df = ND.max_df })
  end)
  out.rows, out.cols, out.nnz = m.shape[1], m.shape[2], m.nnz
  out.total = m.data:sum()
  out.vocab = #vocab
elseif ND.mode == 'cooc' then
  local indptr, indices = load('indptr.i64', 'i64'), load('indices.i32', 'i32')
  local nnz = #indices
  local b = nd.csr({ indptr = indptr, indices = indices, data = nd.ones(nnz, 'u8'),
                     shape = { #indptr - 1, ND.cols } })
  indptr, indices = nil, nil
  local c = measure(function()
    return nd.cooc(b, { threads = threads, output = ND.output or 'dense' })
  end)
  if (ND.output or 'dense') == 'sparse' then
    out.total = c.data:sum()
    out.out_nnz = c.nnz
  else
    out.total = c:sum()
  end
  out.n = c.shape[1]
  out.threads = threads
elseif ND.mode == 'kmeans' then
  local ml = require('luaflow.ml')
  local indptr, indices = load('indptr.i64', 'i64'), load('indices.i32', 'i32')
  local x = nd.csr({ indptr = indptr, indices = indices, data = load('data.f64', 'f64'),
                     shape = { #indptr - 1, ND.cols } })
  indptr, indices = nil, nil
  local r = measure(function()
    return ml.kmeans(x, { k = ND.k, n_init = ND.n_init, max_iter = ND.max_iter, tol = ND.tol,
                          seed = ND.seed, threads = threads })
  end)
  out.inertia = string.format('%.6f', r.inertia)
  out.n_iter = r.n_iter
  out.threads = threads
else
  error('nd_bench.lua: unknown mode ' .. tostring(ND.mode))
end

out.proc_peak_kb = math.max(out.hwm_before_kb, status_kb('VmHWM'))
local keys = {}
for k in pairs(out) do keys[#keys + 1] = k end
table.sort(keys)
local parts = {}
for _, k in ipairs(keys) do
  local v = out[k]
  if math.type(v) == 'float' then v = string.format('%.6f', v) end
  parts[#parts + 1] = k .. '=' .. tostring(v)
end
print('NDRESULT ' .. table.concat(parts, ' '))
