# The S3 datastore (--datastore s3): runs whose artifacts, task records, logs and include_file
# snapshots live in moto's S3 server, with the sqlite index as a local cache rebuilt from S3;
# resume from S3; retries through the fault proxy; bad datastore choices. Uses s3_start_moto
# and s3_stop of s3.sh.

# s3_keys PREFIX : every key under PREFIX in the bucket lf-e2e, one per line, sorted.
s3_keys() {
  python3 - "$1" <<'PY'
import sys, boto3
s3 = boto3.client('s3')
keys, token = [], None
while True:
    kw = dict(Bucket='lf-e2e', Prefix=sys.argv[1])
    if token:
        kw['ContinuationToken'] = token
    r = s3.list_objects_v2(**kw)
    keys += [o['Key'] for o in r.get('Contents', [])]
    token = r.get('NextContinuationToken')
    if not token:
        break
print('\n'.join(sorted(keys)))
PY
}

write_ds_flow() {
  flow ds.lua <<'LUA'
local luaflow = require('luaflow')
local flow = luaflow.flow('DsFlow')
flow:param('n', { default = 3 })
flow:include_file('notes', { default = 'notes.txt' })
flow:step('start', function(self)
  local xs = {}
  for i = 1, self.n do xs[i] = i end
  self.xs = xs
  -- 3 MB of bytes that do not compress: one large blob
  local parts = {}
  local x = 7
  for i = 1, 3 * 1024 * 1024 // 8 do
    x = (x * 6364136223846793005 + 1442695040888963407)
    parts[i] = string.pack('<i8', x)
  end
  self.big = table.concat(parts)
  print('start says hello')
  io.stderr:write('start warns\n')
  self:next('square', { foreach = 'xs' })
end)
flow:step('square', function(self)
  self.y = self.input * self.input
  self.same = 'identical in every task'
  self:next('join')
end)
flow:step('join', function(self, inputs)
  local t = 0
  for _, inp in ipairs(inputs) do t = t + inp.y end
  self.total = t
  self.big = inputs[1].big
  assert(io.open('fixed') or t ~= 30, 'not fixed yet')
  self:next('end')
end)
flow:step('end', function(self) print('total', self.total, #self.big, self.notes) end)
return flow
LUA
  printf 'note one' >"$CASE_DIR/notes.txt"
}

test_s3_datastore_run_dump_logs_reindex() {
  s3_start_moto
  write_ds_flow
  local ds=s3://lf-e2e/team/ds
  lf run ds.lua --datastore s3 --datastore-root "$ds/" --max-workers 4
  expect_rc 0
  expect_out "Workflow starting (run-id 1): DsFlow/1"
  expect_out "total	14	3145728	note one"
  [ -e "$CASE_DIR/.luaflow" ] && fail "the S3 run wrote a local datastore"
  # records, logs and blobs are in S3, in the local layout under the prefix
  s3_keys team/ds/ >"$CASE_DIR/keys1.txt"
  local k
  for k in team/ds/DsFlow/1/_run.json team/ds/DsFlow/1/_parameters/0/task.json \
    team/ds/DsFlow/1/start/1/task.json team/ds/DsFlow/1/start/1/0.stdout \
    team/ds/DsFlow/1/start/1/0.stderr team/ds/DsFlow/1/join/5/task.json; do
    grep -qx "$k" "$CASE_DIR/keys1.txt" || fail "no object $k in S3"
  done
  grep -q '^team/ds/DsFlow/data/[0-9a-f][0-9a-f]/[0-9a-f]\{64\}$' "$CASE_DIR/keys1.txt" ||
    fail "no blobs in S3"
  # the index is a local cache of the S3 root
  local cache="$HOME/.cache/luaflow/s3/lf-e2e/team/ds/index.sqlite3"
  [ -f "$cache" ] || fail "no index cache at $cache"
  # dump and logs read S3
  lf dump DsFlow/1/join --datastore-root "$ds"
  expect_rc 0
  expect_out "DsFlow/1/join/5"
  expect_out "int 14"
  lf logs DsFlow/1/start --datastore-root "$ds"
  expect_rc 0
  expect_out "start says hello"
  lf logs DsFlow/1/start --stderr --datastore-root "$ds"
  expect_err "start warns"
  # the include_file snapshot outlives the file
  rm "$CASE_DIR/notes.txt"
  lf dump DsFlow/1/start --datastore-root "$ds"
  expect_out "note one"
  # reindex rebuilds the same index from S3 alone
  index_dump "$cache" >"$CASE_DIR/index1.txt"
  rm -f "$cache" "$cache-wal" "$cache-shm"
  lf reindex --datastore s3 --datastore-root "$ds"
  expect_rc 0
  expect_out "reindexed s3://lf-e2e/team/ds"
  index_dump "$cache" >"$CASE_DIR/index2.txt"
  cmp -s "$CASE_DIR/index1.txt" "$CASE_DIR/index2.txt" || fail "reindex from S3 differs"
  [ -s "$CASE_DIR/index1.txt" ] || fail "empty index dump"
  # a second run with the same values adds records, not blobs (dedup in S3)
  printf 'note one' >"$CASE_DIR/notes.txt"
  lf run ds.lua --datastore-root "$ds"
  expect_rc 0
  s3_keys team/ds/DsFlow/data/ >"$CASE_DIR/blobs2.txt"
  expect_eq "$(grep -c /data/ "$CASE_DIR/keys1.txt")" "$(wc -l <"$CASE_DIR/blobs2.txt")" \
    "(blobs after an identical second run)"
  # a new machine: no cache; the REPL fills it from S3 and the client reads both runs
  rm -rf "$HOME/.cache"
  printf '%s\n' 'f = require("luaflow.client").Flow("DsFlow")' \
    'print("runs", #f:runs(), f.latest_run.id, f.latest_run["join"].task.data.total)' \
    >"$CASE_DIR/q.lua"
  (cd "$CASE_DIR" && "$LUAFLOW" repl --datastore-root "$ds" <q.lua >"$out" 2>"$err")
  rc=$?
  expect_rc 0
  expect_out "runs	2	2	14"
  s3_stop
}

test_s3_datastore_resume() {
  s3_start_moto
  write_ds_flow
  local ds=s3://lf-e2e/resume
  lf run ds.lua --n 4 --datastore-root "$ds"
  expect_rc 1
  expect_err "ds.lua:31: not fixed yet"
  touch "$CASE_DIR/fixed"
  rm -rf "$HOME/.cache" # resume reads the origin run from S3, not from a cache
  lf resume ds.lua --datastore-root "$ds"
  expect_rc 0
  expect_out "resuming DsFlow/1 from step 'join'"
  expect_out "Cloned from DsFlow/1/start/1."
  expect_out "total	30	3145728	note one"
  lf dump DsFlow/2/square/3 --datastore-root "$ds"
  expect_out "DsFlow/2/square/3 (cloned from DsFlow/1/square/3)"
  s3_stop
}

test_s3_datastore_through_faults() {
  s3_start_moto
  write_ds_flow
  local proxy
  proxy=$(s3_start_proxy)
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$proxy/__faults__" --data-binary \
    '[{"match": "PUT /lf-e2e/faulty/", "fault": "503", "times": 6},
      {"match": "GET /lf-e2e/faulty/", "fault": "truncate", "times": 3},
      {"match": "GET /lf-e2e/faulty/", "fault": "drop", "times": 3},
      {"match": "HEAD /lf-e2e/faulty/", "fault": "500", "times": 2}]'
  AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" lf run ds.lua --datastore-root s3://lf-e2e/faulty
  expect_rc 0
  expect_out "total	14	3145728	note one"
  AWS_ENDPOINT_URL="http://127.0.0.1:$proxy" lf dump DsFlow/1/start --datastore-root s3://lf-e2e/faulty
  expect_rc 0
  expect_out "note one"
  local hits
  hits=$(curl -sf "http://127.0.0.1:$proxy/__faults__" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')
  expect_eq "$hits" 14 "(faults injected)"
  s3_stop
}

test_s3_datastore_bad_choices() {
  write_ds_flow
  lf run ds.lua --datastore s3 --datastore-root "$CASE_DIR/local"
  expect_rc 2
  expect_err "the s3 datastore needs a root of the form s3://bucket/prefix, got '$CASE_DIR/local'"
  lf run ds.lua --datastore local --datastore-root s3://lf-e2e/x
  expect_rc 2
  expect_err "the local datastore cannot use the S3 root 's3://lf-e2e/x' (use --datastore s3)"
  LUAFLOW_DATASTORE=s3 lf run ds.lua
  expect_rc 2
  expect_err "the s3 datastore needs a root: --datastore-root s3://bucket/prefix"
  lf run ds.lua --datastore gcs
  expect_rc 2
  expect_err "--datastore must be 'local' or 's3', got 'gcs'"
  lf run ds.lua --datastore-root s3://Bad_Bucket/x
  expect_rc 2
  expect_err "Bad_Bucket"
  s3_start_moto
  lf run ds.lua --datastore-root s3://no-such-bucket/x
  expect_rc 1
  expect_err "s3://no-such-bucket"
  expect_err "NoSuchBucket"
  # a secret never shows in a message
  expect_no_err "testing"
  lf dump DsFlow/9/start --datastore-root s3://lf-e2e/empty
  expect_rc 1
  s3_stop
}
