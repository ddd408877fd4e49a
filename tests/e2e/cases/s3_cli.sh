# `luaflow s3 ls|get|put|rm|presign` against moto's S3 server on loopback (s3_start_moto and
# s3_stop come from s3.sh): byte-exact round trips through files (multipart), stdin and
# stdout, listings, odd keys, empty objects, removal, presigned URLs fetched with curl,
# recursive transfers of a tree, and the messages and exit codes of bad input.

S3_CLI_SECRET="cli-secret-Zq8Xw3"

# Starts moto with a secret key distinctive enough to be searched for in every output.
s3_cli_start() {
  s3_start_moto
  export AWS_SECRET_ACCESS_KEY="$S3_CLI_SECRET"
}

# Fails if stdout has no line matching the extended regex $1.
s3_cli_expect_line() {
  if ! grep -qE -- "$1" "$out"; then
    fail "stdout has no line matching: $1"
    echo "---- stdout ----" >&2; tail -n 20 "$out" >&2
  fi
}

# Fails if the secret key shows in the last command's output.
s3_cli_no_secret() {
  if grep -qF -- "$S3_CLI_SECRET" "$out" "$err"; then
    fail "the secret key appears in the output"
  fi
}

test_s3_cli_put_get_roundtrip() {
  s3_cli_start
  head -c 7340033 /dev/urandom >"$CASE_DIR/big.bin" # 7 MiB + 1: multipart, 2 parts
  lf s3 put big.bin s3://lf-e2e/cli/big.bin
  expect_rc 0
  expect_out "upload: big.bin to s3://lf-e2e/cli/big.bin"
  s3_cli_no_secret
  local old_umask
  old_umask=$(umask)
  umask 022
  lf s3 get s3://lf-e2e/cli/big.bin copy.bin
  umask "$old_umask"
  expect_rc 0
  expect_out "download: s3://lf-e2e/cli/big.bin to copy.bin"
  cmp -s "$CASE_DIR/big.bin" "$CASE_DIR/copy.bin" || fail "the downloaded file differs"
  expect_eq "$(stat -c %a "$CASE_DIR/copy.bin")" "644" "(mode of a downloaded file, umask 022)"
  # No LOCAL: the key's last part in the current directory; a directory: inside it.
  mkdir -p "$CASE_DIR/here" "$CASE_DIR/dl"
  (cd "$CASE_DIR/here" && "$LUAFLOW" s3 get s3://lf-e2e/cli/big.bin >/dev/null 2>&1)
  cmp -s "$CASE_DIR/big.bin" "$CASE_DIR/here/big.bin" || fail "get without LOCAL"
  lf s3 get s3://lf-e2e/cli/big.bin dl
  expect_rc 0
  expect_out "download: s3://lf-e2e/cli/big.bin to dl/big.bin"
  cmp -s "$CASE_DIR/big.bin" "$CASE_DIR/dl/big.bin" || fail "get into a directory"
  # A key ending in '/' takes the file's name.
  lf s3 put big.bin s3://lf-e2e/cli/named/
  expect_out "upload: big.bin to s3://lf-e2e/cli/named/big.bin"
  # stdout: in order, through bounded memory.
  (cd "$CASE_DIR" && "$LUAFLOW" s3 get s3://lf-e2e/cli/named/big.bin - >stdout.bin 2>err.txt)
  expect_eq "$?" "0" "(get to stdout)"
  cmp -s "$CASE_DIR/big.bin" "$CASE_DIR/stdout.bin" || fail "get to stdout differs"
  # stdin: small from memory; above 16 MiB through a temp file (removed afterwards).
  printf 'from stdin\n' >"$CASE_DIR/small.txt"
  lf s3 put - s3://lf-e2e/cli/small.txt <"$CASE_DIR/small.txt"
  expect_rc 0
  head -c 17825795 /dev/urandom >"$CASE_DIR/huge.bin" # 17 MiB + 3
  mkdir -p "$CASE_DIR/tmp"
  TMPDIR="$CASE_DIR/tmp" lf s3 put - s3://lf-e2e/cli/huge.bin <"$CASE_DIR/huge.bin"
  expect_rc 0
  expect_eq "$(ls -A "$CASE_DIR/tmp")" "" "(temp files left by put -)"
  lf s3 get s3://lf-e2e/cli/small.txt -
  expect_rc 0
  expect_eq "$OUT" "from stdin"
  (cd "$CASE_DIR" && "$LUAFLOW" s3 get s3://lf-e2e/cli/huge.bin - | cmp -s - huge.bin) ||
    fail "put from stdin then get to stdout differs"
  s3_stop
}

test_s3_cli_ls() {
  s3_cli_start
  printf '12345' >"$CASE_DIR/five.txt"
  local k
  for k in "ls/a.txt" "ls/with space é.txt" "ls/sub/x.txt" "ls/sub/deeper/y.txt" "lsx/z.txt"; do
    lf s3 put five.txt "s3://lf-e2e/$k"
    expect_rc 0
  done
  lf s3 ls s3://lf-e2e/ls/
  expect_rc 0
  s3_cli_expect_line '^ {27}PRE sub/$'
  s3_cli_expect_line '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} {10}5 a\.txt$'
  s3_cli_expect_line '^[0-9-]{10} [0-9:]{8} {10}5 with space é\.txt$'
  expect_eq "$(wc -l <"$out")" "3" "(lines of a one-level listing)"
  # Without the slash: what starts with "ls" one level down, names below the bucket.
  lf s3 ls s3://lf-e2e/ls
  expect_rc 0
  s3_cli_expect_line '^ +PRE ls/$'
  s3_cli_expect_line '^ +PRE lsx/$'
  lf s3 ls s3://lf-e2e/ls/sub/x
  s3_cli_expect_line ' 5 x\.txt$'
  lf s3 ls --recursive s3://lf-e2e/ls/
  expect_rc 0
  expect_eq "$(awk '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$out" | tr '\n' ',')" \
    "ls/a.txt,ls/sub/deeper/y.txt,ls/sub/x.txt,ls/with space é.txt," "(recursive keys, in order)"
  lf s3 ls s3://lf-e2e
  expect_rc 0
  expect_out "PRE ls/"
  lf s3 ls s3://lf-e2e/nothing-here
  expect_rc 1
  expect_err "luaflow: nothing matches 's3://lf-e2e/nothing-here'"
  lf s3 ls s3://no-such-bucket/
  expect_rc 1
  expect_err "luaflow: cannot list 's3://no-such-bucket' (404 NoSuchBucket"
  s3_cli_no_secret
  s3_stop
}

test_s3_cli_odd_keys_and_empty_objects() {
  s3_cli_start
  : >"$CASE_DIR/empty"
  printf 'ünïcödé\n' >"$CASE_DIR/u.txt"
  lf s3 put empty "s3://lf-e2e/odd/empty file"
  expect_rc 0
  lf s3 put - "s3://lf-e2e/odd/empty from stdin" </dev/null
  expect_rc 0
  lf s3 put u.txt "s3://lf-e2e/odd/dír ü/naïve + plus & amp?.txt"
  expect_rc 0
  expect_out "upload: u.txt to s3://lf-e2e/odd/dír ü/naïve + plus & amp?.txt"
  lf s3 ls -r s3://lf-e2e/odd/
  s3_cli_expect_line ' 0 odd/empty file$'
  s3_cli_expect_line ' 0 odd/empty from stdin$'
  s3_cli_expect_line ' 12 odd/dír ü/naïve \+ plus & amp\?\.txt$'
  lf s3 get "s3://lf-e2e/odd/dír ü/naïve + plus & amp?.txt" "got ü.txt"
  expect_rc 0
  cmp -s "$CASE_DIR/u.txt" "$CASE_DIR/got ü.txt" || fail "unicode key round trip"
  lf s3 get "s3://lf-e2e/odd/empty from stdin" got-empty
  expect_rc 0
  [ -f "$CASE_DIR/got-empty" ] && [ ! -s "$CASE_DIR/got-empty" ] || fail "empty object to a file"
  (cd "$CASE_DIR" && "$LUAFLOW" s3 get "s3://lf-e2e/odd/empty file" - >stdout-empty 2>err.txt)
  expect_eq "$?" "0" "(empty object to stdout)"
  expect_eq "$(wc -c <"$CASE_DIR/stdout-empty")" "0" "(bytes of an empty object)"
  s3_stop
}

test_s3_cli_rm() {
  s3_cli_start
  printf 'x' >"$CASE_DIR/x"
  local k
  for k in "rm/one" "rm/dir/a" "rm/dir/b c" "rm/dirx/keep" "rm/dir"; do
    lf s3 put x "s3://lf-e2e/$k"
  done
  lf s3 rm s3://lf-e2e/rm/one
  expect_rc 0
  expect_out "delete: s3://lf-e2e/rm/one"
  lf s3 get s3://lf-e2e/rm/one -
  expect_rc 1
  expect_err "cannot get 's3://lf-e2e/rm/one' (404 NoSuchKey"
  lf s3 rm s3://lf-e2e/rm/never-was # S3 semantics: removing a missing key is fine
  expect_rc 0
  # A prefix is a directory: rm/dir removes rm/dir/*, not rm/dirx/keep nor the key rm/dir.
  lf s3 rm --recursive s3://lf-e2e/rm/dir
  expect_rc 0
  expect_out "delete: s3://lf-e2e/rm/dir/a"
  expect_out "delete: s3://lf-e2e/rm/dir/b c"
  expect_eq "$(wc -l <"$out")" "2" "(objects removed)"
  lf s3 ls -r s3://lf-e2e/rm/
  expect_eq "$(awk '{ print $4 }' "$out" | tr '\n' ',')" "rm/dir,rm/dirx/keep," "(what is left)"
  s3_stop
}

test_s3_cli_presign() {
  s3_cli_start
  head -c 100000 /dev/urandom >"$CASE_DIR/blob"
  lf s3 put blob "s3://lf-e2e/pre/the blob"
  lf s3 presign "s3://lf-e2e/pre/the blob" --expires 60
  expect_rc 0
  s3_cli_no_secret
  s3_cli_expect_line "^http://127\.0\.0\.1:$S3_PORT/lf-e2e/pre/the%20blob\?.*X-Amz-Expires=60"
  curl -sf -o "$CASE_DIR/fetched" "$OUT" || fail "curl cannot fetch the presigned URL"
  cmp -s "$CASE_DIR/blob" "$CASE_DIR/fetched" || fail "the presigned GET gives other bytes"
  lf s3 presign s3://lf-e2e/pre/uploaded --method PUT
  expect_rc 0
  s3_cli_expect_line "X-Amz-Expires=3600"
  curl -sf -T "$CASE_DIR/blob" "$OUT" >/dev/null || fail "curl cannot PUT to the presigned URL"
  lf s3 get s3://lf-e2e/pre/uploaded back
  cmp -s "$CASE_DIR/blob" "$CASE_DIR/back" || fail "the presigned PUT stored other bytes"
  lf s3 presign s3://lf-e2e/pre/x --expires 604801
  expect_rc 2
  expect_err "luaflow: a presigned URL must expire after 1 to 604800 seconds (7 days), not 604801"
  lf s3 presign s3://lf-e2e/pre/x --method POST
  expect_rc 2
  expect_err "luaflow: cannot presign 'POST' (use GET, PUT, HEAD or DELETE)"
  lf s3 presign s3://lf-e2e/pre/x --expires soon
  expect_rc 2
  expect_err "luaflow: --expires needs a number of seconds, not 'soon'"
  s3_stop
}

test_s3_cli_recursive_tree() {
  s3_cli_start
  local t="$CASE_DIR/tree"
  mkdir -p "$t/sub/deeper" "$t/with space" "$t/emptydir"
  printf 'a' >"$t/a.txt"
  printf 'bb' >"$t/sub/b.txt"
  : >"$t/sub/deeper/empty"
  printf 'ü' >"$t/with space/ü.txt"
  printf 'not below the prefix' >"$CASE_DIR/house"
  lf s3 put house s3://lf-e2e/treehouse
  lf s3 put --recursive tree s3://lf-e2e/tree
  expect_rc 0
  expect_out "upload: tree/sub/deeper/empty to s3://lf-e2e/tree/sub/deeper/empty"
  expect_eq "$(wc -l <"$out")" "4" "(files uploaded)"
  lf s3 ls -r s3://lf-e2e/tree/
  expect_eq "$(awk '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$out" | tr '\n' ',')" \
    "tree/a.txt,tree/sub/b.txt,tree/sub/deeper/empty,tree/with space/ü.txt," "(keys)"
  lf s3 get -r s3://lf-e2e/tree back
  expect_rc 0
  expect_out "download: s3://lf-e2e/tree/with space/ü.txt to back/with space/ü.txt"
  rmdir "$t/emptydir" # directories without files have no keys
  # Exactly the tree: nothing missing, nothing extra (treehouse is not below tree/).
  diff -r "$t" "$CASE_DIR/back" >&2 || fail "the tree came back different"
  lf s3 put -r tree/a.txt s3://lf-e2e/x
  expect_rc 2
  expect_err "luaflow: cannot put 'tree/a.txt' recursively (not a directory)"
  lf s3 put tree s3://lf-e2e/x
  expect_rc 2
  expect_err "luaflow: 'tree' is a directory; put it recursively"
  s3_stop
}

test_s3_cli_bad_inputs() {
  s3_cli_start
  lf s3 get http://example.com/key
  expect_rc 2
  expect_err "luaflow: 'http://example.com/key' is not an S3 URL (expected s3://bucket/key)"
  lf s3 ls /tmp
  expect_rc 2
  expect_err "luaflow: '/tmp' is not an S3 URL (expected s3://bucket/key)"
  lf s3 get s3://lf-e2e/missing/key here.bin
  expect_rc 1
  expect_err "luaflow: cannot get 's3://lf-e2e/missing/key' (404 NoSuchKey: The specified key does not exist.)"
  [ -z "$(ls -A "$CASE_DIR" | grep -v -e out.txt -e err.txt -e moto.log)" ] ||
    fail "a failed get left files behind: $(ls -A "$CASE_DIR")"
  lf s3 get s3://lf-e2e/missing/key -
  expect_rc 1
  expect_err "luaflow: cannot get 's3://lf-e2e/missing/key' (404 NoSuchKey"
  lf s3 get s3://no-such-bucket/key x
  expect_rc 1
  expect_err "luaflow: cannot get 's3://no-such-bucket/key' (404 NoSuchBucket"
  lf s3 put no-such-file s3://lf-e2e/k
  expect_rc 1
  expect_err "luaflow: cannot read 'no-such-file' (No such file or directory)"
  lf s3 get s3://lf-e2e
  expect_rc 2
  expect_err "luaflow: 's3://lf-e2e' names no object (expected s3://bucket/key)"
  lf s3 get
  expect_rc 2
  expect_err "luaflow: 's3 get' needs more arguments; usage: luaflow s3 get S3URL [LOCAL|-] [--recursive]"
  lf s3 put onlyone
  expect_rc 2
  expect_err "'s3 put' needs more arguments"
  LUAFLOW_S3_CHECKSUM=sha1 lf s3 put hello.txt s3://lf-e2e/k
  expect_rc 2
  expect_err "luaflow: LUAFLOW_S3_CHECKSUM must be crc32c, crc32c-header, crc32c-trailer or md5, not 'sha1'"
  LUAFLOW_S3_TRANSFER=fast lf s3 get s3://lf-e2e/k -
  expect_rc 2
  expect_err "luaflow: LUAFLOW_S3_TRANSFER must be direct or curl, not 'fast'"
  lf s3 rm s3://lf-e2e/a s3://lf-e2e/b
  expect_rc 2
  expect_err "'s3 rm' needs fewer arguments"
  lf s3 cp a s3://lf-e2e/a
  expect_rc 2
  expect_err "luaflow: unknown s3 command 'cp'; see 'luaflow s3 --help'"
  lf s3 ls s3://lf-e2e/ --long
  expect_rc 2
  expect_err "luaflow: unknown option '--long' for 's3 ls'"
  lf s3 get s3://lf-e2e/k --expires 5
  expect_rc 2
  expect_err "luaflow: option --expires is not for 's3 get'"
  lf s3 presign s3://lf-e2e/k --method
  expect_rc 2
  expect_err "luaflow: option --method needs a value"
  lf s3
  expect_rc 2
  expect_err "usage: luaflow s3 COMMAND"
  lf s3 --help
  expect_rc 0
  expect_out "presign S3URL [--expires SECONDS]"
  lf s3 get --help
  expect_rc 0
  expect_out "Exit status: 0 success; 1 a failure"
  lf --help
  expect_out "s3 ls|get|put|rm|presign"
  s3_stop
}

# Credentials from the profile's credential_process (no key in the environment): the command
# runs without a shell, its JSON signs the requests; a failing one names the profile.
test_s3_cli_credential_process() {
  s3_cli_start
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  mkdir -p "$CASE_DIR/tools"
  printf '#!/bin/sh\nprintf %s "{\\"Version\\": 1, \\"AccessKeyId\\": \\"PROCAK\\", \\"SecretAccessKey\\": \\"%s\\"}"\n' \
    "'%s'" "$S3_CLI_SECRET" >"$CASE_DIR/tools/creds.sh"
  printf '#!/bin/sh\necho "token expired" >&2\nexit 4\n' >"$CASE_DIR/tools/expired.sh"
  chmod +x "$CASE_DIR/tools/creds.sh" "$CASE_DIR/tools/expired.sh"
  printf '[profile proc]\ncredential_process = %s --role ci\n[profile expired]\ncredential_process = %s\n' \
    "$CASE_DIR/tools/creds.sh" "$CASE_DIR/tools/expired.sh" >"$CASE_DIR/config"
  export AWS_CONFIG_FILE="$CASE_DIR/config" AWS_SHARED_CREDENTIALS_FILE="$CASE_DIR/none"
  echo hello >"$CASE_DIR/hello.txt"
  AWS_PROFILE=proc lf s3 put hello.txt s3://lf-e2e/proc/hello.txt
  expect_rc 0
  AWS_PROFILE=proc lf s3 get s3://lf-e2e/proc/hello.txt -
  expect_rc 0
  expect_out "hello"
  s3_cli_no_secret
  AWS_PROFILE=expired lf s3 ls s3://lf-e2e/proc/
  expect_rc 1
  expect_err "the credential_process of profile 'expired' ('$CASE_DIR/tools/expired.sh') exited with status 4"
  expect_err "token expired"
  unset AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
  s3_stop
}
