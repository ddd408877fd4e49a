// SPDX-License-Identifier: MIT
// Tests of the S3 client (host/s3/) against moto's S3 server on loopback, over real HTTP:
// every operation, multipart uploads around the 5 MiB part boundary (both checksum kinds),
// parallel ranged downloads, files, batches, listings past 1000 keys, odd keys, empty
// objects, conditional writes, presigned URLs and the messages of permanent failures.
#include <stdlib.h>
#include <string.h>

#include "aws/aws_http.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "s3/s3.h"
#include "s3/s3_testutil.h"
#include "testhelp.h"

#define MIB ((size_t)1 << 20)
#define BUCKET "lf-test"

static const char *dir;

static char *pattern(size_t n, unsigned seed)
{
  char *p = lf_xmalloc(n > 0 ? n : 1);
  uint32_t v = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    v = v * 1103515245u + 12345u;
    p[i] = (char)(v >> 16);
  }
  return p;
}

static void roundtrip(lf_s3 *s3, const char *key, size_t n, unsigned seed)
{
  char *data = pattern(n, seed);
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, key, data, n, false, NULL, &err), LF_OK);
  if (err.code != LF_OK) {
    fprintf(stderr, "put %s: %s\n", key, err.msg);
  }
  char *back = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, key, 0, &back, &len, &err), LF_OK);
  CHECK_EQ_INT(len, n);
  CHECK(back != NULL && memcmp(back, data, n) == 0 && back[n] == '\0');
  lf_free(back);
  lf_free(data);
}

static void test_small_objects(lf_s3 *s3)
{
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_create_bucket(s3, BUCKET, &err), LF_OK);
  CHECK_EQ_INT(lf_s3_create_bucket(s3, BUCKET, &err), LF_OK); // ours already: fine
  roundtrip(s3, "hello.txt", 11, 1);
  roundtrip(s3, "empty", 0, 2);
  const char *keys[] = {"with space/and more.bin", "unicode/é和🙂.txt", "plus+equals=&amp",
                        "dots/../x", "a//double", "percent%41%2F", "tilde~!*'()"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    roundtrip(s3, keys[i], 100 + i, (unsigned)i);
  }
  lf_s3_info info;
  CHECK_EQ_INT(lf_s3_head(s3, BUCKET, "hello.txt", &info, &err), LF_OK);
  CHECK_EQ_INT(info.size, 11);
  CHECK(info.etag[0] == '"');
  CHECK(info.last_modified > 1600000000);
  CHECK_EQ_INT(lf_s3_head(s3, BUCKET, "empty", &info, &err), LF_OK);
  CHECK_EQ_INT(info.size, 0);
}

static void test_errors(lf_s3 *s3)
{
  lf_err err = {0};
  char *data = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "missing/key", 0, &data, &len, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "cannot get 's3://lf-test/missing/key' (404 NoSuchKey: ");
  CHECK(data == NULL);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_s3_get(s3, "no-such-bucket", "k", 0, &data, &len, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "cannot get 's3://no-such-bucket/k' (404 NoSuchBucket");
  lf_err_clear(&err);
  lf_s3_info info;
  CHECK_EQ_INT(lf_s3_head(s3, BUCKET, "missing", &info, &err), LF_ERR_NOTFOUND);
  CHECK_STR(err.msg, "cannot head 's3://lf-test/missing' (404 Not Found)");
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_s3_put(s3, "no-such-bucket", "k", "x", 1, false, NULL, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "cannot put 's3://no-such-bucket/k' (404 NoSuchBucket");
  lf_err_clear(&err);
  // A limit on what a GET may bring into memory.
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "hello.txt", 5, &data, &len, &err), LF_ERR_STORE);
  CHECK_CONTAINS(err.msg, "(11 bytes, more than the limit of 5)");
  lf_err_clear(&err);
  // URLs.
  char *b, *k;
  CHECK_EQ_INT(lf_s3_parse_url("s3://bkt/a/b c", &b, &k, &err), LF_OK);
  CHECK_STR(b, "bkt");
  CHECK_STR(k, "a/b c");
  lf_free(b);
  lf_free(k);
  CHECK_EQ_INT(lf_s3_parse_url("s3://bkt", &b, &k, &err), LF_OK);
  CHECK_STR(k, "");
  lf_free(b);
  lf_free(k);
  CHECK_EQ_INT(lf_s3_parse_url("/tmp/x", &b, &k, &err), LF_ERR_USAGE);
  CHECK_STR(err.msg, "'/tmp/x' is not an S3 URL (expected s3://bucket/key)");
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_s3_parse_url("s3://B!/x", &b, &k, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "invalid bucket name 'B!'");
  lf_err_clear(&err);
  // Deleting a missing key is fine; deleting in a missing bucket is not.
  CHECK_EQ_INT(lf_s3_delete(s3, BUCKET, "never-was", &err), LF_OK);
  CHECK_EQ_INT(lf_s3_delete(s3, "no-such-bucket", "k", &err), LF_ERR_NOTFOUND);
  lf_err_clear(&err);
}

static void test_ranges(lf_s3 *s3)
{
  size_t n = 11 * MIB + 5; // three 5 MiB parts: a parallel ranged download
  char *data = pattern(n, 7);
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "ranged", data, n, false, NULL, &err), LF_OK);
  lf_s3_op ops[4] = {
    {.kind = LF_S3_GET, .bucket = BUCKET, .key = "ranged", .has_range = true, .range_start = 10,
     .range_end = 19},
    {.kind = LF_S3_GET, .bucket = BUCKET, .key = "ranged", .has_range = true,
     .range_start = n - 3, .range_end = UINT64_MAX},
    // A range spanning parts is itself fetched in parallel parts.
    {.kind = LF_S3_GET, .bucket = BUCKET, .key = "ranged", .has_range = true,
     .range_start = 1000, .range_end = 10 * MIB},
    {.kind = LF_S3_GET, .bucket = BUCKET, .key = "ranged", .has_range = true,
     .range_start = n + 10, .range_end = n + 20},
  };
  CHECK_EQ_INT(lf_s3_run(s3, ops, 4, &err), LF_ERR_STORE);
  CHECK_CONTAINS(err.msg, "1 of 4 operations failed; first: cannot get 's3://lf-test/ranged' "
                          "(416 InvalidRange");
  CHECK_EQ_INT(ops[0].status, LF_OK);
  CHECK(ops[0].out_len == 10 && memcmp(ops[0].out, data + 10, 10) == 0);
  CHECK_EQ_INT(ops[0].info.size, n);
  CHECK(ops[1].out_len == 3 && memcmp(ops[1].out, data + n - 3, 3) == 0);
  CHECK(ops[2].out_len == 10 * MIB - 999 && memcmp(ops[2].out, data + 1000, 10 * MIB - 999) == 0);
  CHECK_EQ_INT(ops[3].status, LF_ERR_STORE);
  for (int i = 0; i < 4; i++) {
    lf_free(ops[i].out);
  }
  lf_free(data);
}

static void test_multipart(lf_s3 *s3, lf_s3 *md5, lf_s3 *header, lf_s3 *trailer)
{
  // Around the 5 MiB boundary: single PUT at the threshold, multipart just past it, exact
  // multiples, and a last part of one byte.
  size_t sizes[] = {5 * MIB - 1, 5 * MIB, 5 * MIB + 1, 10 * MIB, 10 * MIB + 1, 16 * MIB + 3};
  const char *suffix[] = {NULL, NULL, "-2\"", "-2\"", "-3\"", "-4\""};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    char key[64];
    snprintf(key, sizeof(key), "mp/%zu", sizes[i]);
    lf_s3 *by[] = {s3, md5, header, trailer}; // the checksum kinds in turn
    roundtrip(by[i % 4], key, sizes[i], (unsigned)i + 100);
    lf_s3_info info;
    lf_err err = {0};
    CHECK_EQ_INT(lf_s3_head(s3, BUCKET, key, &info, &err), LF_OK);
    CHECK_EQ_INT(info.size, sizes[i]);
    size_t el = strlen(info.etag);
    if (suffix[i] != NULL) {
      CHECK(el > 3 && strcmp(info.etag + el - strlen(suffix[i]), suffix[i]) == 0);
    } else {
      CHECK(strchr(info.etag, '-') == NULL);
    }
  }
}

static bool same_file(const char *path, const char *data, size_t n)
{
  char *got = NULL;
  size_t len = 0;
  lf_err err = {0};
  bool same = lf_fs_read_file(path, n + 1, &got, &len, &err) == LF_OK && len == n &&
              memcmp(got, data, n) == 0;
  lf_free(got);
  return same;
}

static void test_files(lf_s3 *s3)
{
  size_t n = 11 * MIB + 77;
  char *data = pattern(n, 9);
  char *src = lf_path_join(dir, "src.bin");
  char *dst = lf_path_joinv(dir, "new", "sub", "dst.bin", NULL);
  lf_err err = {0};
  CHECK_EQ_INT(lf_fs_write_atomic(src, data, n, false, NULL, &err), LF_OK);
  CHECK_EQ_INT(lf_s3_put_file(s3, BUCKET, "files/big.bin", src, &err), LF_OK);
  CHECK_EQ_INT(lf_s3_get_file(s3, BUCKET, "files/big.bin", dst, &err), LF_OK);
  CHECK(same_file(dst, data, n));
  // The temp file is gone; a failed download leaves neither it nor the target behind.
  char *sub = lf_path_joinv(dir, "new", "sub", NULL);
  char cmd[1200];
  snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) = 1", sub);
  CHECK(system(cmd) == 0);
  char *missing = lf_path_joinv(dir, "new", "sub", "missing.bin", NULL);
  CHECK_EQ_INT(lf_s3_get_file(s3, BUCKET, "files/missing", missing, &err), LF_ERR_NOTFOUND);
  lf_err_clear(&err);
  CHECK(!lf_fs_exists(missing));
  CHECK(system(cmd) == 0);
  // A small file, and an unreadable one.
  CHECK_EQ_INT(lf_fs_write_atomic(src, "tiny", 4, false, NULL, &err), LF_OK);
  CHECK_EQ_INT(lf_s3_put_file(s3, BUCKET, "files/tiny", src, &err), LF_OK);
  CHECK_EQ_INT(lf_s3_get_file(s3, BUCKET, "files/tiny", dst, &err), LF_OK);
  CHECK(same_file(dst, "tiny", 4));
  CHECK_EQ_INT(lf_s3_put_file(s3, BUCKET, "files/x", "/nonexistent/file", &err), LF_ERR_IO);
  CHECK_STR(err.msg, "cannot read '/nonexistent/file' (No such file or directory)");
  lf_free(missing);
  lf_free(sub);
  lf_free(src);
  lf_free(dst);
  lf_free(data);
}

static void test_batch(lf_s3 *s3)
{
  enum { N = 40 };
  lf_s3_op ops[N + 1];
  char keys[N + 1][32];
  char *datas[N];
  memset(ops, 0, sizeof(ops));
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof(keys[i]), "batch/%02d", i);
    size_t n = (size_t)i * 1000 + (i == 7 ? 6 * MIB : 0); // one multipart among them
    datas[i] = pattern(n, (unsigned)i);
    ops[i] = (lf_s3_op){.kind = LF_S3_PUT, .bucket = BUCKET, .key = keys[i], .data = datas[i],
                        .len = n};
  }
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_run(s3, ops, N, &err), LF_OK);
  for (int i = 0; i < N; i++) {
    ops[i] = (lf_s3_op){.kind = LF_S3_GET, .bucket = BUCKET, .key = keys[i]};
  }
  snprintf(keys[N], sizeof(keys[N]), "batch/missing");
  ops[N] = (lf_s3_op){.kind = LF_S3_GET, .bucket = BUCKET, .key = keys[N]};
  CHECK_EQ_INT(lf_s3_run(s3, ops, N + 1, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "1 of 41 operations failed; first: cannot get "
                          "'s3://lf-test/batch/missing' (404 NoSuchKey");
  for (int i = 0; i < N; i++) {
    size_t n = (size_t)i * 1000 + (i == 7 ? 6 * MIB : 0);
    CHECK_EQ_INT(ops[i].status, LF_OK);
    CHECK(ops[i].out_len == n && (n == 0 || memcmp(ops[i].out, datas[i], n) == 0));
    lf_free(ops[i].out);
    lf_free(datas[i]);
  }
  CHECK_EQ_INT(ops[N].status, LF_ERR_NOTFOUND);
  // Invalid operations fail alone, with a reason.
  lf_s3_op bad[2] = {{.kind = LF_S3_GET, .bucket = BUCKET, .key = ""},
                     {.kind = LF_S3_HEAD, .bucket = BUCKET, .key = "batch/01"}};
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_s3_run(s3, bad, 2, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(bad[0].err.msg, "an operation needs a key");
  CHECK_EQ_INT(bad[1].status, LF_OK);
  CHECK_EQ_INT(bad[1].info.size, 1000);
}

static void test_conditional_and_delete(lf_s3 *s3)
{
  lf_err err = {0};
  bool existed = true;
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "cas/blob", "one", 3, true, &existed, &err), LF_OK);
  CHECK(!existed);
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "cas/blob", "two", 3, true, &existed, &err), LF_OK);
  CHECK(existed);
  char *data = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "cas/blob", 0, &data, &len, &err), LF_OK);
  CHECK(len == 3 && memcmp(data, "one", 3) == 0);
  lf_free(data);
  CHECK_EQ_INT(lf_s3_delete(s3, BUCKET, "cas/blob", &err), LF_OK);
  lf_s3_info info;
  CHECK_EQ_INT(lf_s3_head(s3, BUCKET, "cas/blob", &info, &err), LF_ERR_NOTFOUND);
}

static void test_listing(lf_s3 *s3)
{
  enum { N = 1203 };
  lf_s3_op *ops = lf_xcalloc(N, sizeof(*ops));
  char (*keys)[32] = lf_xcalloc(N, sizeof(*keys));
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof(keys[i]), "many/%s/%05d", i % 3 == 0 ? "a" : "b", i);
    ops[i] = (lf_s3_op){.kind = LF_S3_PUT, .bucket = BUCKET, .key = keys[i], .data = "x",
                        .len = 1};
  }
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_run(s3, ops, N, &err), LF_OK);
  lf_s3_list l;
  CHECK_EQ_INT(lf_s3_list_objects(s3, BUCKET, "many/", NULL, 0, &l, &err), LF_OK);
  CHECK_EQ_INT(l.n, N); // two pages and a bit
  bool sorted = true;
  for (size_t i = 1; i < l.n; i++) {
    sorted = sorted && strcmp(l.items[i - 1].key, l.items[i].key) < 0;
  }
  CHECK(sorted);
  CHECK_EQ_INT(l.items[0].size, 1);
  CHECK(!l.items[0].is_prefix && l.items[0].etag != NULL && l.items[0].last_modified > 0);
  lf_s3_list_free(&l);
  CHECK_EQ_INT(lf_s3_list_objects(s3, BUCKET, "many/", "/", 0, &l, &err), LF_OK);
  CHECK_EQ_INT(l.n, 2);
  CHECK(l.n == 2 && strcmp(l.items[0].key, "many/a/") == 0 && l.items[0].is_prefix);
  CHECK(l.n == 2 && strcmp(l.items[1].key, "many/b/") == 0);
  lf_s3_list_free(&l);
  CHECK_EQ_INT(lf_s3_list_objects(s3, BUCKET, "many/", NULL, 10, &l, &err), LF_OK);
  CHECK_EQ_INT(l.n, 10);
  lf_s3_list_free(&l);
  // Keys with spaces and unicode come back intact (the listing is URL-encoded on the wire).
  CHECK_EQ_INT(lf_s3_list_objects(s3, BUCKET, "unicode/", NULL, 0, &l, &err), LF_OK);
  CHECK(l.n == 1 && strcmp(l.items[0].key, "unicode/é和🙂.txt") == 0);
  lf_s3_list_free(&l);
  CHECK_EQ_INT(lf_s3_list_objects(s3, BUCKET, "nothing-here/", "/", 0, &l, &err), LF_OK);
  CHECK_EQ_INT(l.n, 0);
  lf_s3_list_free(&l);
  CHECK_EQ_INT(lf_s3_list_objects(s3, "no-such-bucket", "", NULL, 0, &l, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "cannot list 's3://no-such-bucket' (404 NoSuchBucket");
  lf_free(ops);
  lf_free(keys);
}

static void test_presign(lf_s3 *s3)
{
  lf_err err = {0};
  char *url = lf_s3_presign(s3, "GET", BUCKET, "hello.txt", 300, &err);
  CHECK(url != NULL);
  CHECK_CONTAINS(url, "/lf-test/hello.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
  lf_aws_http_resp r;
  CHECK_EQ_INT(lf_aws_http_fetch("GET", url, NULL, 5000, 1000, &r, &err), LF_OK);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.len, 11);
  lf_free(r.body);
  lf_free(url);
  CHECK(lf_s3_presign(s3, "POST", BUCKET, "k", 60, &err) == NULL);
  CHECK_STR(err.msg, "cannot presign 'POST' (use GET, PUT, HEAD or DELETE)");
}

static void test_options(void)
{
  lf_err err = {0};
  lf_s3_opts o = {.endpoint = "ftp://x"};
  CHECK(lf_s3_new(&o, &err) == NULL);
  CHECK_STR(err.msg, "invalid S3 endpoint 'ftp://x' (expected http://host[:port] or "
                     "https://host[:port])");
  lf_err_clear(&err);
  o = (lf_s3_opts){.part_size = 1000};
  CHECK(lf_s3_new(&o, &err) == NULL);
  CHECK_STR(err.msg, "the S3 part size must be at least 5 MiB, not 1000 bytes");
  lf_err_clear(&err);
  setenv("LUAFLOW_S3_CONCURRENCY", "lots", 1);
  CHECK(lf_s3_new(NULL, &err) == NULL);
  CHECK_STR(err.msg, "LUAFLOW_S3_CONCURRENCY must be an integer from 1 to 256, not 'lots'");
  unsetenv("LUAFLOW_S3_CONCURRENCY");
  lf_err_clear(&err);
  setenv("LUAFLOW_S3_CHECKSUM", "sha1", 1);
  CHECK(lf_s3_new(NULL, &err) == NULL);
  CHECK_STR(err.msg,
            "LUAFLOW_S3_CHECKSUM must be crc32c, crc32c-header, crc32c-trailer or md5, not 'sha1'");
  unsetenv("LUAFLOW_S3_CHECKSUM");
  lf_err_clear(&err);
  setenv("LUAFLOW_S3_TRANSFER", "fast", 1);
  CHECK(lf_s3_new(NULL, &err) == NULL);
  CHECK_STR(err.msg, "LUAFLOW_S3_TRANSFER must be direct or curl, not 'fast'");
  unsetenv("LUAFLOW_S3_TRANSFER");
  lf_err_clear(&err);
  // AWS itself: virtual-hosted addressing on the regional endpoint.
  o = (lf_s3_opts){.endpoint = NULL, .region = "eu-west-1"};
  unsetenv("AWS_ENDPOINT_URL");
  lf_s3 *aws = lf_s3_new(&o, &err);
  CHECK(aws != NULL);
  char *url = lf_s3_presign(aws, "GET", "my-bucket", "k", 60, &err);
  CHECK_CONTAINS(url, "https://my-bucket.s3.eu-west-1.amazonaws.com/k?");
  lf_free(url);
  url = lf_s3_presign(aws, "GET", "dotted.bucket", "k", 60, &err); // no wildcard cert match
  CHECK_CONTAINS(url, "https://s3.eu-west-1.amazonaws.com/dotted.bucket/k?");
  lf_free(url);
  lf_s3_free(aws);
}

int main(void)
{
  dir = th_tmpdir("s3_client");
  int port = 0;
  pid_t moto = th_start_moto(dir, &port, NULL);
  CHECK(moto > 0);
  if (moto <= 0) {
    return TEST_REPORT();
  }
  char ep[64];
  snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
  setenv("AWS_ACCESS_KEY_ID", "testing", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
  setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_ENDPOINT_URL", ep, 1);
  setenv("HOME", dir, 1);
  setenv("LUAFLOW_S3_PART_SIZE", "5242880", 1);
  setenv("LUAFLOW_S3_MULTIPART_THRESHOLD", "5242880", 1);
  setenv("LUAFLOW_S3_RETRY_BASE_MS", "10", 1);
  lf_err err = {0};
  lf_s3 *s3 = lf_s3_new(NULL, &err);
  lf_s3_opts mo = {.checksum = LF_S3_CHECKSUM_MD5};
  lf_s3 *md5 = lf_s3_new(&mo, &err);
  lf_s3_opts ho = {.checksum = LF_S3_CHECKSUM_CRC32C_HEADER};
  lf_s3 *header = lf_s3_new(&ho, &err);
  lf_s3_opts to = {.checksum = LF_S3_CHECKSUM_CRC32C_TRAILER};
  lf_s3 *trailer = lf_s3_new(&to, &err);
  CHECK(s3 != NULL && md5 != NULL && header != NULL && trailer != NULL);
  if (s3 != NULL && md5 != NULL && header != NULL && trailer != NULL) {
    CHECK_STR(lf_s3_endpoint(s3), ep);
    test_small_objects(s3);
    test_errors(s3);
    test_ranges(s3);
    test_multipart(s3, md5, header, trailer);
    test_files(s3);
    test_batch(s3);
    test_conditional_and_delete(s3);
    test_listing(s3);
    test_presign(s3);
  }
  lf_s3_free(s3);
  lf_s3_free(md5);
  lf_s3_free(header);
  lf_s3_free(trailer);
  test_options();
  th_kill(moto);
  return TEST_REPORT();
}
