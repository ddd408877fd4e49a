-- Artifact benchmark (DESIGN §6): `start` builds one value and assigns it to self.x;
-- `load` reads it back. Run once per kind:
--   random  SIZE bytes from /dev/urandom (incompressible; stands in for a numeric buffer)
--   text    SIZE bytes over a 16-letter alphabet (compressible, about 2:1), made of 8 distinct
--           random 1 MiB blocks in random order (blocks never repeat within 1 MiB, so the
--           repetition is beyond zstd level 1's window and the ratio comes from the alphabet)
--   ints    a list of SIZE random integers in [-2^31, 2^31]
--   floats  a list of SIZE random floats in [0, 1)
--   array   a luaflow.nd f64 array of SIZE bytes, uniform random (incompressible): saved as
--           its raw buffer, loaded without a copy
--   none    a single small integer: the fixed cost of a commit, for reference
--
-- How the costs are measured (wall clock, luaflow._host.now() = gettimeofday):
--   save: artifacts are encoded, hashed, compressed and written after the step function
--     returns, and the worker stamps `finished_at` in task.json right after the last blob is
--     stored. `start` prints the time just before `self.x = ...` (after the value is built),
--     so save = finished_at - that time: the commit of self.x (plus a print and the return
--     from the step function, both negligible; `none` shows that floor).
--   load: `load` times its first read of self.x, which fetches, decompresses, verifies the
--     SHA-256 and decodes the value (os.clock() gives the CPU time of the whole process,
--     helper threads included).
--   recommit: a table read by a step may have been changed in place, so `load` encodes and
--     hashes it again at its own commit; recommit = finished_at - the time printed at the end
--     of `load`. Strings are immutable and are not re-encoded.
local luaflow = require('luaflow')
local host = require('luaflow._host')
local flow = luaflow.flow('BenchArtifactsFlow')

flow:param('kind', { help = 'random | text | ints | floats | none', default = 'none' })
flow:param('size', { help = 'bytes (random, text) or elements (ints, floats)', default = 0 })

local MiB = 1024 * 1024

local function read_urandom(n)
  local f = assert(io.open('/dev/urandom', 'rb'))
  local parts = {}
  local left = n
  while left > 0 do
    local chunk = assert(f:read(math.min(left, 64 * MiB)))
    parts[#parts + 1] = chunk
    left = left - #chunk
  end
  f:close()
  return table.concat(parts)
end

local function random_block(n)
  local parts, buf = {}, {}
  local k = 0
  for i = 1, n do
    k = k + 1
    buf[k] = math.random(97, 112) -- 'a'..'p': 4 bits of entropy per byte
    if k == 4096 or i == n then
      parts[#parts + 1] = string.char(table.unpack(buf, 1, k))
      k = 0
    end
  end
  return table.concat(parts)
end

local function text(n)
  local blocks = {}
  for i = 1, 8 do
    blocks[i] = random_block(MiB)
  end
  local parts = {}
  local left, prev = n, 0
  while left > 0 do
    local b = math.random(1, 7)
    if b >= prev then b = b + 1 end -- never the same block twice in a row
    prev = b
    parts[#parts + 1] = left >= MiB and blocks[b] or blocks[b]:sub(1, left)
    left = left - MiB
  end
  return table.concat(parts)
end

local builders = {
  random = read_urandom,
  text = text,
  ints = function(n)
    local t = {}
    for i = 1, n do t[i] = math.random(-2147483648, 2147483648) end
    return t
  end,
  floats = function(n)
    local t = {}
    for i = 1, n do t[i] = math.random() end
    return t
  end,
  array = function(n)
    return require('luaflow.nd').uniform({ n // 8 }, { seed = 12345 })
  end,
  none = function() return 42 end,
}

flow:step('start', function(self)
  local build = builders[self.kind] or error('unknown kind ' .. tostring(self.kind))
  math.randomseed(12345)
  local t0, c0 = host.now(), os.clock()
  local v = build(self.size)
  print(string.format('BENCH build_s=%.6f build_cpu=%.6f', host.now() - t0, os.clock() - c0))
  print(string.format('BENCH save_t0=%.6f', host.now()))
  self.x = v
  self:next('load')
end)

flow:step('load', function(self)
  local t0, c0 = host.now(), os.clock()
  local x = self.x -- the timed part: fetch + decompress + verify + decode
  local t1, c1 = host.now(), os.clock()
  local n = (type(x) == 'table' or type(x) == 'string') and #x or 1
  if type(x) == 'userdata' then n = #x * 8 end -- an f64 array: bytes, as SIZE gives them
  print(string.format('BENCH load_s=%.6f load_cpu=%.6f n=%d', t1 - t0, c1 - c0, n))
  print(string.format('BENCH recommit_t0=%.6f', host.now()))
  self:next('end')
end)

flow:step('end', function(self) end)

return flow
