# luaflow.s3 against moto's S3 server on loopback (started and stopped by each test): a real
# flow moving data through S3 in parallel tasks, Lua errors that name the object, plain lua5.4
# use of the module, retries through the fault-injecting proxy of tests/s3/, and answers that
# come while an upload is still going out.

s3_start_moto() {
  S3_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
  python3 -m moto.server -H 127.0.0.1 -p "$S3_PORT" >"$CASE_DIR/moto.log" 2>&1 &
  S3_MOTO_PID=$!
  local i
  for i in $(seq 150); do
    curl -sf -o /dev/null "http://127.0.0.1:$S3_PORT/moto-api/" && break
    sleep 0.1
  done
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" AWS_EC2_METADATA_DISABLED=true \
    LUAFLOW_S3_PART_SIZE=5242880 LUAFLOW_S3_MULTIPART_THRESHOLD=5242880 \
    LUAFLOW_S3_RETRY_BASE_MS=10
  # moto's default mode takes an unsigned bucket creation.
  curl -sf -o /dev/null -X PUT "http://127.0.0.1:$S3_PORT/lf-e2e" || fail "cannot create the bucket"
}

# s3_start_proxy : starts tests/s3/fault_proxy.py in front of moto (stopped by s3_stop) and
# prints its port. Call as proxy=$(s3_start_proxy) after s3_start_moto.
s3_start_proxy() {
  local portfile="$CASE_DIR/proxy.port"
  rm -f "$portfile"
  python3 "$ROOT/tests/s3/fault_proxy.py" "$portfile" "$S3_PORT" >"$CASE_DIR/proxy.log" 2>&1 &
  echo "$!" >"$CASE_DIR/proxy.pid"
  local i
  for i in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
  cat "$portfile"
}

s3_stop() {
  [ -s "$CASE_DIR/proxy.pid" ] && kill "$(cat "$CASE_DIR/proxy.pid")" 2>/dev/null
  rm -f "$CASE_DIR/proxy.pid"
  [ -n "${S3_MOTO_PID:-}" ] && kill "$S3_MOTO_PID" 2>/dev/null && wait "$S3_MOTO_PID" 2>/dev/null
  S3_MOTO_PID=""
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
    AWS_EC2_METADATA_DISABLED LUAFLOW_S3_PART_SIZE LUAFLOW_S3_MULTIPART_THRESHOLD \
    LUAFLOW_S3_CHECKSUM LUAFLOW_S3_TRANSFER \
    LUAFLOW_S3_RETRY_BASE_MS LUAFLOW_S3_MAX_ATTEMPTS
}

test_s3_flow_moves_data_in_parallel_tasks() {
  s3_start_moto
  head -c 7340033 /dev/urandom >"$CASE_DIR/big.bin" # 7 MiB + 1: a multipart upload
  flow s3flow.lua <<'LUA'
local luaflow = require('luaflow')
local s3 = require('luaflow.s3')
local flow = luaflow.flow('S3Flow')
local root = 's3://lf-e2e/run'

flow:step('start', function(self)
  s3.put(root .. '/hello.txt', 'hello, s3')
  local pairs_ = {}
  for i = 1, 24 do
    pairs_[#pairs_ + 1] = { string.format('%s/parts/%02d', root, i), string.rep(tostring(i % 10), i * 100) }
  end
  pairs_[#pairs_ + 1] = { root .. '/files/big.bin', { file = 'big.bin' } }
  pairs_[#pairs_ + 1] = { root .. '/keys/with space é.txt', '' }
  local urls = s3.put_many(pairs_)
  print('put', #urls)
  self.urls = {}
  for i = 1, 24 do self.urls[i] = urls[i] end
  self:next('read', { foreach = 'urls' })
end)

flow:step('read', function(self)
  local body = s3.get(self.input)
  self.len = #body
  self:next('join')
end)

flow:step('join', function(self, inputs)
  local total = 0
  for _, inp in ipairs(inputs) do total = total + inp.len end
  self.total = total
  print('total', total)
  local listed = s3.list_paths(root .. '/')
  local names = {}
  for _, e in ipairs(listed) do names[#names + 1] = e.key .. (e.is_prefix and '' or ':' .. e.size) end
  print('paths', table.concat(names, ','))
  print('recursive', #s3.list_recursive(root .. '/parts/'))
  local many = s3.get_many({ root .. '/parts/03', root .. '/hello.txt' })
  print('many', #many[1], many[2])
  print('range', s3.get(root .. '/hello.txt', { range = { 7, 8 } }))
  print('tail', s3.get(root .. '/hello.txt', { range = { 5 } }))
  s3.get(root .. '/files/big.bin', { file = 'copy.bin' })
  local got = s3.get_recursive(root .. '/keys/', 'tree')
  print('tree', got[1].path, got[1].size)
  local info = s3.info(root .. '/files/big.bin')
  print('info', info.size, info.etag:match('%-2"$') ~= nil)
  local none, msg, code = s3.info(root .. '/nope')
  print('missing', none, code, msg)
  print('exists', s3.exists(root .. '/hello.txt'), s3.exists(root .. '/nope'))
  print('rm', s3.rm({ root .. '/hello.txt', root .. '/never-was' }))
  print('gone', s3.exists(root .. '/hello.txt'))
  self:next('end')
end)

flow:step('end', function(self) print('done', self.total) end)
return flow
LUA
  lf run s3flow.lua --max-workers 8
  expect_rc 0
  expect_out "put	26"
  expect_out "total	30000"
  expect_out "paths	run/files/,run/hello.txt:9,run/keys/,run/parts/" # one key order
  expect_out "recursive	24"
  expect_out "many	300	hello, s3"
  expect_out "range	s3"
  expect_out "tail	, s3"
  expect_out "tree	tree/with space é.txt	0"
  expect_out "info	7340033	true"
  expect_out "missing	nil	NotFound	cannot head 's3://lf-e2e/run/nope' (404 Not Found)"
  expect_out "exists	true	false"
  expect_out "rm	2"
  expect_out "gone	false"
  expect_out "done	30000"
  cmp -s "$CASE_DIR/big.bin" "$CASE_DIR/copy.bin" || fail "the downloaded file differs"
  [ -f "$CASE_DIR/tree/with space é.txt" ] || fail "get_recursive did not write the tree"
  s3_stop
}

test_s3_errors_name_the_object() {
  s3_start_moto
  flow s3err.lua <<'LUA'
local luaflow = require('luaflow')
local s3 = require('luaflow.s3')
local flow = luaflow.flow('S3ErrFlow')
flow:step('start', function(self)
  local function try(f, ...)
    local args = table.pack(...)
    return select(2, pcall(function() return f(table.unpack(args, 1, args.n)) end))
  end
  print('bad url', try(s3.get, '/not/s3'))
  print('bad option', try(s3.get, 's3://lf-e2e/x', { rnage = { 1, 2 } }))
  print('bad data', try(s3.put, 's3://lf-e2e/x', 42))
  print('no bucket', try(s3.get, 's3://no-such-bucket/k'))
  s3.get('s3://lf-e2e/missing/key')
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  lf run s3err.lua
  expect_rc 1
  expect_out "bad url	s3err.lua:7: bad argument #1 to 'f' ('/not/s3' is not an S3 URL (expected s3://bucket/key))"
  expect_out "bad option	s3err.lua:7: unknown option 'rnage' (expected file, range)"
  expect_out "bad data	s3err.lua:7: bad argument #2 to 'f' (expected a string or {file = path})"
  expect_out "no bucket	s3err.lua:7: cannot get 's3://no-such-bucket/k' (404 NoSuchBucket"
  expect_err "Task failed: s3err.lua:13: cannot get 's3://lf-e2e/missing/key' (404 NoSuchKey: "
  s3_stop
}

test_s3_plain_lua() {
  s3_start_moto
  local build lua_cpath preload=""
  build=$(dirname "$LUAFLOW")
  if [ "${LF_E2E_SANITIZE:-0}" = 1 ]; then
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
  fi
  (cd "$CASE_DIR" && LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 \
    LUA_CPATH="$build/lua/?.so;;" lua5.4 -e '
      require("luaflow.client") -- installs the luaflow runtime in package.preload
      local s3 = require("luaflow.s3")
      local blob = string.rep("0123456789abcdef", 786433) -- 12 MiB + 16 bytes: 3 parts
      s3.put("s3://lf-e2e/plain/blob", blob)
      local back = s3.get("s3://lf-e2e/plain/blob")
      print("roundtrip", #back, back == blob)
      local pairs_, urls = {}, {}
      for i = 1, 70 do -- more than one window of get_many
        urls[i] = "s3://lf-e2e/plain/many/" .. i
        pairs_[i] = { urls[i], ("v" .. i):rep(i) }
      end
      s3.put_many(pairs_)
      local bodies, same = s3.get_many(urls), true
      for i = 1, 70 do same = same and bodies[i] == ("v" .. i):rep(i) end
      print("many", #bodies, same)
      -- the same objects in reverse order: each string holds only its own bytes
      local rev = {}
      for i = 70, 1, -1 do rev[#rev + 1] = urls[i] end
      local back, same2 = s3.get_many(rev), true
      for k = 1, 70 do same2 = same2 and back[k] == ("v" .. (71 - k)):rep(71 - k) end
      print("reversed", #back, same2)
      print("presign", (s3.presign("s3://lf-e2e/plain/blob", { expires = 60 }):match("X%-Amz%-Expires=60") ~= nil))
      local ok, err = pcall(s3.list_paths, "s3://no-such-bucket/")
      print("list error", err)' >out.txt 2>err.txt)
  rc=$?
  out="$CASE_DIR/out.txt"
  err="$CASE_DIR/err.txt"
  expect_rc 0
  expect_out "roundtrip	12582928	true"
  expect_out "many	70	true"
  expect_out "reversed	70	true"
  expect_out "presign	true"
  expect_out "list error	cannot list 's3://no-such-bucket' (404 NoSuchBucket"
  s3_stop
}

# Uploads carry their CRC-32C: from a file in the trailer of an aws-chunked body, computed as
# the bytes are read (through libcurl); from memory in a header (the direct path), or in the
# trailer with LUAFLOW_S3_CHECKSUM=crc32c-trailer. moto keeps what it was told, which must be
# the CRC of the object (computed here by Python, independently). More than one chunk (16 MiB
# each), a small object and an empty one. The large one is also read back whole into memory.
test_s3_upload_checksums_reach_the_server() {
  s3_start_moto
  export LUAFLOW_S3_MULTIPART_THRESHOLD=33554432 # single PUTs: one checksum for the object
  (cd "$CASE_DIR" && python3 -c '
import random
r = random.Random(7)
open("big", "wb").write(r.randbytes(16 * 1024 * 1024 + 3))
open("small", "wb").write(b"hello world, checksum me")
open("empty", "wb").close()')
  local f
  for f in big small empty; do
    lf s3 put "$f" "s3://lf-e2e/ck/file-$f"
    expect_rc 0
  done
  printf '%s\n' 'local s3 = require("luaflow.s3")' \
    'local big = io.open("big", "rb"):read("a")' \
    'local p = os.getenv("CK_PREFIX")' \
    's3.put_many({{p .. "big", big}, {p .. "small", "hello world, checksum me"}, {p .. "empty", ""}})' \
    'local back = s3.get(p .. "big")' \
    'print("back", #back, back == big)' >"$CASE_DIR/put.lua"
  local ck
  for ck in crc32c crc32c-trailer; do
    (cd "$CASE_DIR" && echo 'dofile("put.lua")' | LUAFLOW_S3_CHECKSUM=$ck CK_PREFIX="s3://lf-e2e/ck/$ck-" \
      "$LUAFLOW" repl >put.out 2>put.err)
    grep -q "back	16777219	true" "$CASE_DIR/put.out" || fail "memory roundtrip ($ck): $(cat "$CASE_DIR/put.out" "$CASE_DIR/put.err")"
  done
  (cd "$CASE_DIR" && python3 -c '
import base64, boto3, os
table = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    table.append(c)
def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ table[(c ^ b) & 0xFF]
    return base64.b64encode((c ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for key, name in [(p + n, n) for p in ("file-", "crc32c-", "crc32c-trailer-")
                  for n in ("big", "small", "empty")]:
    got = s3.head_object(Bucket="lf-e2e", Key="ck/" + key, ChecksumMode="ENABLED").get("ChecksumCRC32C")
    want = crc32c(open(name, "rb").read())
    print(key, "ok" if got == want else "stored %s, want %s" % (got, want))' >ck.out 2>ck.err)
  for f in {file,crc32c,crc32c-trailer}-{big,small,empty}; do
    grep -qx "$f ok" "$CASE_DIR/ck.out" || fail "checksum of $f: $(cat "$CASE_DIR/ck.out" "$CASE_DIR/ck.err")"
  done
  s3_stop
}

test_s3_retries_through_faults() {
  s3_start_moto
  local proxy
  proxy=$(s3_start_proxy)
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$proxy/__faults__" --data-binary \
    '[{"match": "PUT /lf-e2e/f/", "fault": "503", "times": 3},
      {"match": "GET /lf-e2e/f/", "fault": "truncate", "times": 2},
      {"match": "GET /lf-e2e/f/", "fault": "drop", "times": 2}]'
  flow s3faults.lua <<'LUA'
local luaflow = require('luaflow')
local s3 = require('luaflow.s3')
local flow = luaflow.flow('S3FaultFlow')
flow:step('start', function(self)
  local pairs_, urls = {}, {}
  for i = 1, 8 do
    urls[i] = 's3://lf-e2e/f/' .. i
    pairs_[i] = { urls[i], string.rep('x', 1000 * i) }
  end
  s3.put_many(pairs_)
  local total = 0
  for _, body in ipairs(s3.get_many(urls)) do total = total + #body end
  print('total', total)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" lf run s3faults.lua
  expect_rc 0
  expect_out "total	36000"
  expect_err "retrying in"
  expect_err "(503 SlowDown: Please reduce your request rate.)"
  local hits
  hits=$(curl -sf "http://127.0.0.1:$proxy/__faults__" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')
  expect_eq "$hits" "7" "faults met"
  s3_stop
}

# An answer that comes while a step's upload is still going out (the server reads none of
# the body): a refusal fails the task at once, naming the object and S3's reason, and leaves
# no object; a 200 that cannot have seen the body is retried and the object arrives whole.
# On both transfer paths. 16 MiB in one PUT, far more than loopback buffers take.
test_s3_early_answers_to_an_upload() {
  s3_start_moto
  local proxy tr hits
  proxy=$(s3_start_proxy)
  export LUAFLOW_S3_MULTIPART_THRESHOLD=33554432
  flow s3early.lua <<'LUA'
local luaflow = require('luaflow')
local s3 = require('luaflow.s3')
local flow = luaflow.flow('S3EarlyFlow')
flow:step('start', function(self)
  local body = string.rep('0123456789abcdef', 1024 * 1024)
  s3.put('s3://lf-e2e/early/' .. os.getenv('KEY'), body)
  print('back', s3.get('s3://lf-e2e/early/' .. os.getenv('KEY')) == body)
  self:next('end')
end)
flow:step('end', function(self) end)
return flow
LUA
  for tr in direct curl; do
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$proxy/__faults__" --data-binary \
      '[{"match": "PUT /lf-e2e/early/", "fault": "403early", "times": 5}]'
    KEY=no-$tr LUAFLOW_S3_TRANSFER=$tr AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" lf run s3early.lua
    expect_rc 1
    expect_err "Task failed: s3early.lua:6: cannot put 's3://lf-e2e/early/no-$tr' (403 AccessDenied: Access Denied)"
    hits=$(curl -sf "http://127.0.0.1:$proxy/__faults__" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')
    expect_eq "$hits" "1" "$tr: requests refused (no retry)"
    expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/lf-e2e/early/no-$tr")" \
      "404" "$tr: no object after the refusal"
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$proxy/__faults__" --data-binary \
      '[{"match": "PUT /lf-e2e/early/", "fault": "200early", "times": 1}]'
    KEY=ok-$tr LUAFLOW_S3_TRANSFER=$tr LUAFLOW_S3_STALL_TIMEOUT=2 \
      AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" lf run s3early.lua
    expect_rc 0
    expect_out "back	true"
    expect_err "retrying in"
    if [ "$tr" = direct ]; then
      expect_err "(the server answered 200 before the whole request was sent)"
    fi
  done
  s3_stop
}

# A store that refuses aws-chunked bodies (as some S3-compatible ones do), through the real
# binary: an upload from memory is taken as it is (its CRC-32C goes in a header); a file's
# CRC goes in the trailer, so `luaflow s3 put` of a file fails at once with the store's
# reason and leaves no object, and succeeds with LUAFLOW_S3_CHECKSUM=crc32c-header.
test_s3_store_without_aws_chunked() {
  s3_start_moto
  local proxy hits
  proxy=$(s3_start_proxy)
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$proxy/__faults__" --data-binary \
    '[{"match": "PUT /lf-e2e/nc/", "fault": "nochunked", "times": 100}]'
  (cd "$CASE_DIR" && python3 -c 'open("f.bin", "wb").write(bytes(range(256)) * 4096)')
  printf '%s\n' 'local s3 = require("luaflow.s3")' \
    'local body = string.rep("abc", 100000)' \
    's3.put("s3://lf-e2e/nc/mem", body)' \
    'print("back", s3.get("s3://lf-e2e/nc/mem") == body)' >"$CASE_DIR/mem.lua"
  (cd "$CASE_DIR" && echo 'dofile("mem.lua")' | AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" \
    "$LUAFLOW" repl >mem.out 2>mem.err)
  grep -q "back	true" "$CASE_DIR/mem.out" || fail "memory upload: $(cat "$CASE_DIR/mem.out" "$CASE_DIR/mem.err")"
  AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" lf s3 put f.bin s3://lf-e2e/nc/file
  expect_rc 1
  expect_err "luaflow: cannot put 's3://lf-e2e/nc/file' (400 InvalidRequest: aws-chunked bodies are not supported)"
  expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/lf-e2e/nc/file")" \
    "404" "no object after the refusal"
  hits=$(curl -sf "http://127.0.0.1:$proxy/__faults__" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')
  expect_eq "$hits" "2" "uploads seen by the store (from memory, and the file's: no retry)"
  LUAFLOW_S3_CHECKSUM=crc32c-header AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" \
    lf s3 put f.bin s3://lf-e2e/nc/file
  expect_rc 0
  lf s3 get s3://lf-e2e/nc/file back.bin
  expect_rc 0
  cmp -s "$CASE_DIR/back.bin" "$CASE_DIR/f.bin" || fail "the file did not read back whole"
  s3_stop
}
