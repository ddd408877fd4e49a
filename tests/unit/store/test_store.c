// SPDX-License-Identifier: MIT
// Unit tests for store/: SHA-256 against known vectors; blob round trips through the local
// backend for raw, compressible and incompressible data on every write path (inline, staged
// with a hashing thread, multithreaded zstd, sampled-compressible-but-not); dedup; detection
// of corrupt, truncated and garbled blob files; validation of names and keys; plain objects,
// listing, exclusive creation (also across processes); and, through an in-memory backend,
// the vtable contract and injected I/O faults.
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "core/hex.h"
#include "store/sha256.h"
#include "testhelp.h"

static char *scratch;
static uint64_t rng = 0x2545F4914F6CDD1Du;

static uint64_t next_rand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static unsigned char *random_bytes(size_t n)
{
  unsigned char *p = lf_xmalloc(n != 0 ? n : 1);
  for (size_t k = 0; k < n; k += 8) {
    uint64_t r = next_rand();
    memcpy(p + k, &r, n - k < 8 ? n - k : 8);
  }
  return p;
}

// Doubles with few distinct values: compresses well, like counts or categories.
static unsigned char *compressible_bytes(size_t n)
{
  unsigned char *p = lf_xmalloc(n);
  for (size_t k = 0; k < n; k += 8) {
    double d = (double)(next_rand() % 1000);
    memcpy(p + k, &d, n - k < 8 ? n - k : 8);
  }
  return p;
}

static char *blob_path(lf_store *st, const char *flow, const char *hex)
{
  return lf_xasprintf("%s/%s/data/%.2s/%s", lf_store_root(st), flow, hex, hex);
}

static int stored_codec(lf_store *st, const char *flow, const char *hex, size_t *fsize)
{
  char *path = blob_path(st, flow, hex);
  char *data = NULL;
  size_t n = 0;
  lf_err err = {0};
  int codec = -1;
  if (lf_fs_read_file(path, SIZE_MAX / 2, &data, &n, &err) == LF_OK && n >= 5) {
    codec = (unsigned char)data[4];
  }
  if (fsize != NULL) {
    *fsize = n;
  }
  lf_free(data);
  lf_free(path);
  return codec;
}

// Number of entries in `dir` that are temp files: names starting with '.' (other than "." and
// "..") or containing ".tmp.".
static int count_temps(const char *dir)
{
  DIR *d = opendir(dir);
  if (d == NULL) {
    return -1;
  }
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0 &&
        (nm[0] == '.' || strstr(nm, ".tmp.") != NULL)) {
      n++;
    }
  }
  closedir(d);
  return n;
}

static void test_sha256(void)
{
  char hex[65];
  lf_sha256_hex("", 0, hex);
  CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  lf_sha256_hex("abc", 3, hex);
  CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  lf_sha256_hex(two, strlen(two), hex);
  CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  size_t n = 1000000;
  char *a = lf_xmalloc(n);
  memset(a, 'a', n);
  lf_sha256_hex(a, n, hex);
  CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Streaming in uneven pieces gives the same digest.
  lf_sha256_ctx c;
  lf_sha256_init(&c);
  size_t off = 0;
  for (size_t piece = 1; off < n; piece = piece * 3 + 1) {
    size_t take = piece < n - off ? piece : n - off;
    lf_sha256_update(&c, a + off, take);
    off += take;
  }
  unsigned char md[LF_SHA256_LEN];
  lf_sha256_final(&c, md);
  char hex2[65];
  lf_hex_encode(md, sizeof(md), hex2);
  CHECK_STR(hex2, hex);
  CHECK(c.md == NULL);
  lf_sha256_init(&c);
  lf_sha256_abort(&c);
  lf_sha256_abort(&c); // idempotent
  lf_free(a);
}

// Puts `data`, checks the name, the stored codec, and reads it back.
static void roundtrip(lf_store *st, const char *flow, const unsigned char *data, size_t n,
                      int want_codec, const char *what)
{
  char hex[65];
  bool existed = true;
  lf_err err = {0};
  lf_status s = lf_store_put_blob(st, flow, data, n, hex, &existed, &err);
  CHECK_EQ_INT(s, LF_OK);
  if (s != LF_OK) {
    fprintf(stderr, "  %s: %s\n", what, err.msg);
    return;
  }
  CHECK(!existed);
  char want[65];
  lf_sha256_hex(data, n, want);
  CHECK_STR(hex, want);
  size_t fsize = 0;
  int codec = stored_codec(st, flow, hex, &fsize);
  if (codec != want_codec) {
    fprintf(stderr, "  %s: codec %d, expected %d\n", what, codec, want_codec);
  }
  CHECK_EQ_INT(codec, want_codec);
  if (want_codec == LF_STORE_CODEC_RAW) {
    CHECK_EQ_INT(fsize, n + LF_STORE_BLOB_HEADER);
  } else {
    CHECK(fsize <= LF_STORE_BLOB_HEADER + n - n / 10);
  }
  char *back = NULL;
  size_t blen = 0;
  s = lf_store_get_blob(st, flow, hex, &back, &blen, &err);
  CHECK_EQ_INT(s, LF_OK);
  if (s != LF_OK) {
    fprintf(stderr, "  %s: %s\n", what, err.msg);
  }
  CHECK(s == LF_OK && blen == n && (n == 0 || memcmp(back, data, n) == 0));
  CHECK(s == LF_OK && back[blen] == '\0');
  lf_free(back);
  bool has = false;
  CHECK_EQ_INT(lf_store_has_blob(st, flow, hex, &has, &err), LF_OK);
  CHECK(has);
}

static void test_blob_roundtrips(lf_store *st)
{
  unsigned char *p;
  roundtrip(st, "Flow", (const unsigned char *)"", 0, LF_STORE_CODEC_RAW, "empty");
  roundtrip(st, "Flow", (const unsigned char *)"hello", 5, LF_STORE_CODEC_RAW, "tiny");
  // 127 zero bytes would compress, but tiny blobs are not worth it.
  p = lf_xcalloc(1, 127);
  roundtrip(st, "Flow", p, 127, LF_STORE_CODEC_RAW, "tiny zeros");
  lf_free(p);
  p = lf_xcalloc(1, 128);
  roundtrip(st, "Flow", p, 128, LF_STORE_CODEC_ZSTD, "128 zeros");
  lf_free(p);
  p = compressible_bytes(100000);
  roundtrip(st, "Flow", p, 100000, LF_STORE_CODEC_ZSTD, "mid compressible");
  lf_free(p);
  p = random_bytes(100000);
  roundtrip(st, "Flow", p, 100000, LF_STORE_CODEC_RAW, "mid incompressible");
  lf_free(p);
  p = compressible_bytes(3 << 20);
  roundtrip(st, "Flow", p, 3 << 20, LF_STORE_CODEC_ZSTD, "large compressible");
  lf_free(p);
  p = random_bytes((2 << 20) + 5);
  roundtrip(st, "Flow", p, (2 << 20) + 5, LF_STORE_CODEC_RAW, "large incompressible");
  lf_free(p);
  // 9 MiB: staged write while a second thread hashes; and multithreaded zstd.
  p = random_bytes((9 << 20) + 3);
  roundtrip(st, "Other_flow-2.x", p, (9 << 20) + 3, LF_STORE_CODEC_RAW, "staged raw");
  lf_free(p);
  p = compressible_bytes(9 << 20);
  roundtrip(st, "Flow", p, 9 << 20, LF_STORE_CODEC_ZSTD, "mt compressible");
  lf_free(p);
  // Compressible exactly where the sampler looks and random elsewhere: full compression is
  // tried, does not save 10%, and the blob is stored raw (through the staged path).
  size_t n = (size_t)8 << 20;
  size_t chunk = 64 << 10;
  p = random_bytes(n);
  for (size_t k = 0; k < 8; k++) {
    memset(p + k * ((n - chunk) / 7), 0, chunk);
  }
  roundtrip(st, "Flow", p, n, LF_STORE_CODEC_RAW, "sampled compressible, is not");
  lf_free(p);
  // A 2 MiB blob that is half zeros: sampled compressible, and it is.
  p = random_bytes(2 << 20);
  memset(p, 0, 1 << 20);
  roundtrip(st, "Flow", p, 2 << 20, LF_STORE_CODEC_ZSTD, "half zeros");
  lf_free(p);
  // 64 MiB of zeros: close to zstd's densest ratio, which the reader's sanity bound allows.
  p = lf_xcalloc(1, (size_t)64 << 20);
  roundtrip(st, "Flow", p, (size_t)64 << 20, LF_STORE_CODEC_ZSTD, "64 MiB zeros");
  lf_free(p);
  // No temp files are left behind.
  char *dir = lf_xasprintf("%s/Flow/data", lf_store_root(st));
  CHECK_EQ_INT(count_temps(dir), 0);
  lf_free(dir);
  dir = lf_xasprintf("%s/Other_flow-2.x/data", lf_store_root(st));
  CHECK_EQ_INT(count_temps(dir), 0);
  lf_free(dir);
}

// A second put of the same value writes nothing: the file keeps its inode and mtime.
static void dedup_one(lf_store *st, const unsigned char *data, size_t n)
{
  char hex[65];
  bool existed = false;
  lf_err err = {0};
  CHECK_EQ_INT(lf_store_put_blob(st, "Dedup", data, n, hex, &existed, &err), LF_OK);
  CHECK(!existed);
  char *path = blob_path(st, "Dedup", hex);
  // Age the file so that a rewrite would show.
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
  struct stat before;
  struct stat after;
  CHECK(stat(path, &before) == 0);
  char hex2[65];
  CHECK_EQ_INT(lf_store_put_blob(st, "Dedup", data, n, hex2, &existed, &err), LF_OK);
  CHECK(existed);
  CHECK_STR(hex2, hex);
  CHECK(stat(path, &after) == 0);
  CHECK(before.st_ino == after.st_ino && after.st_mtime == 1000000000);
  // A third time without the optional outputs.
  CHECK_EQ_INT(lf_store_put_blob(st, "Dedup", data, n, NULL, NULL, &err), LF_OK);
  lf_free(path);
}

static void test_dedup(lf_store *st)
{
  unsigned char *p = compressible_bytes(50000);
  dedup_one(st, p, 50000);
  lf_free(p);
  p = random_bytes(1000);
  dedup_one(st, p, 1000);
  lf_free(p);
  p = random_bytes(9 << 20); // the staged path
  dedup_one(st, p, 9 << 20);
  lf_free(p);
  char *dir = lf_xasprintf("%s/Dedup/data", lf_store_root(st));
  CHECK_EQ_INT(count_temps(dir), 0);
  // Same value in another flow: stored again there (flows are separate namespaces).
  char **names = NULL;
  size_t n = 0;
  lf_err err = {0};
  CHECK_EQ_INT(lf_store_list(st, "Dedup/data", &names, &n, &err), LF_OK);
  CHECK_EQ_INT(n, 3);
  lf_store_free_names(names, n);
  lf_free(dir);
}

static void write_file(const char *path, const void *data, size_t n)
{
  lf_err err = {0};
  CHECK_EQ_INT(lf_fs_write_atomic(path, data, n, false, NULL, &err), LF_OK);
}

// Puts `data`, then lets `mutate` change the stored file, and expects LF_ERR_CORRUPT with
// `reason` in the message.
static void corrupt_case(lf_store *st, const unsigned char *data, size_t n,
                         void (*mutate)(char *buf, size_t *len), const char *reason)
{
  char hex[65];
  lf_err err = {0};
  CHECK_EQ_INT(lf_store_put_blob(st, "Bad", data, n, hex, NULL, &err), LF_OK);
  char *path = blob_path(st, "Bad", hex);
  char *buf = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_fs_read_file(path, SIZE_MAX / 2, &buf, &len, &err), LF_OK);
  buf = lf_xrealloc(buf, len + 64);
  mutate(buf, &len);
  write_file(path, buf, len);
  lf_free(buf);
  char *back = (char *)1;
  size_t blen = 7;
  lf_status s = lf_store_get_blob(st, "Bad", hex, &back, &blen, &err);
  CHECK_EQ_INT(s, LF_ERR_CORRUPT);
  CHECK(back == NULL && blen == 0);
  char want[256];
  snprintf(want, sizeof(want), "blob '%.12s\xE2\x80\xA6' in '%s' is corrupt (", hex, path);
  CHECK_CONTAINS(err.msg, want);
  CHECK_CONTAINS(err.msg, reason);
  // The file is left alone for inspection, and a new put does not repair it (dedup by name).
  lf_free(path);
}

static void flip_last(char *b, size_t *n)
{
  b[*n - 1] ^= 0x40;
}

static void flip_payload_start(char *b, size_t *n)
{
  (void)n;
  b[LF_STORE_BLOB_HEADER] ^= 0x01;
}

static void truncate_half(char *b, size_t *n)
{
  (void)b;
  *n /= 2;
}

static void truncate_to_5(char *b, size_t *n)
{
  (void)b;
  *n = 5;
}

static void bad_magic(char *b, size_t *n)
{
  (void)n;
  b[0] = 'X';
}

static void bad_codec(char *b, size_t *n)
{
  (void)n;
  b[4] = 7;
}

static void grow_len(char *b, size_t *n)
{
  (void)n;
  b[5] = (char)(b[5] + 1);
}

static void huge_len(char *b, size_t *n)
{
  (void)n;
  memset(b + 5, 0, 8);
  b[10] = 1; // 2^40 bytes
}

static void append_garbage(char *b, size_t *n)
{
  memcpy(b + *n, "garbage", 7);
  *n += 7;
}

static void test_corrupt(lf_store *st)
{
  unsigned char *raw = random_bytes(5000);
  unsigned char *cmp = compressible_bytes(50000);
  unsigned char *big = random_bytes(9 << 20);
  corrupt_case(st, raw, 5000, flip_last, "hash mismatch");
  raw[0]++;
  corrupt_case(st, raw, 5000, truncate_half, "truncated: the header says 5000 bytes");
  raw[0]++;
  corrupt_case(st, raw, 5000, truncate_to_5, "truncated: 5 bytes, less than the 13-byte header");
  raw[0]++;
  corrupt_case(st, raw, 5000, bad_magic, "bad header: no LFB1 magic");
  raw[0]++;
  corrupt_case(st, raw, 5000, bad_codec, "bad header: unknown codec 7");
  raw[0]++;
  corrupt_case(st, raw, 5000, append_garbage, "length mismatch");
  corrupt_case(st, big, 9 << 20, flip_payload_start, "hash mismatch");
  // zstd blobs: a flipped byte is caught by zstd or by the hash; lengths are cross-checked.
  corrupt_case(st, cmp, 50000, flip_last, "");
  cmp[0]++;
  corrupt_case(st, cmp, 50000, flip_payload_start, "bad zstd frame header");
  cmp[0]++;
  corrupt_case(st, cmp, 50000, truncate_half, "truncated zstd frame");
  cmp[0]++;
  corrupt_case(st, cmp, 50000, grow_len, "length mismatch: the header says");
  cmp[0]++;
  corrupt_case(st, cmp, 50000, huge_len, "implausible size: 1099511627776 bytes");
  cmp[0]++;
  corrupt_case(st, cmp, 50000, append_garbage, "bytes after the zstd frame");
  // A zstd blob whose payload was swapped for another valid frame: only the hash sees it.
  char hex[65];
  lf_err err = {0};
  unsigned char *other = compressible_bytes(50000);
  CHECK_EQ_INT(lf_store_put_blob(st, "Bad", other, 50000, hex, NULL, &err), LF_OK);
  char *opath = blob_path(st, "Bad", hex);
  char *obuf = NULL;
  size_t olen = 0;
  CHECK_EQ_INT(lf_fs_read_file(opath, 1 << 20, &obuf, &olen, &err), LF_OK);
  cmp[0]++;
  CHECK_EQ_INT(lf_store_put_blob(st, "Bad", cmp, 50000, hex, NULL, &err), LF_OK);
  char *path = blob_path(st, "Bad", hex);
  write_file(path, obuf, olen);
  char *back = NULL;
  size_t blen = 0;
  CHECK_EQ_INT(lf_store_get_blob(st, "Bad", hex, &back, &blen, &err), LF_ERR_CORRUPT);
  CHECK_CONTAINS(err.msg, "is corrupt (hash mismatch)");
  lf_free(path);
  lf_free(opath);
  lf_free(obuf);
  lf_free(other);
  lf_free(raw);
  lf_free(cmp);
  lf_free(big);
}

static void test_missing_and_validation(lf_store *st)
{
  lf_err err = {0};
  char *back = NULL;
  size_t blen = 0;
  const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  CHECK_EQ_INT(lf_store_get_blob(st, "Flow", hex, &back, &blen, &err), LF_ERR_NOTFOUND);
  char want[512];
  snprintf(want, sizeof(want), "cannot read blob '001122334455\xE2\x80\xA6' from '%s/Flow/data/00/%s' (not found)",
           lf_store_root(st), hex);
  CHECK_STR(err.msg, want);
  bool has = true;
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_has_blob(st, "Flow", hex, &has, &err), LF_OK);
  CHECK(!has);
  CHECK_EQ_INT(lf_store_get_blob(st, "NoSuchFlow", hex, &back, &blen, &err), LF_ERR_NOTFOUND);

  const char *bad_flows[] = {"", "a/b", "..", ".x", "-x", "a b", "a\\b", "\xC3\xA9", NULL};
  for (size_t k = 0; bad_flows[k] != NULL; k++) {
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_put_blob(st, bad_flows[k], "x", 1, NULL, NULL, &err), LF_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "invalid flow name");
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_get_blob(st, bad_flows[k], hex, &back, &blen, &err), LF_ERR_USAGE);
  }
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_put_blob(st, NULL, "x", 1, NULL, NULL, &err), LF_ERR_USAGE);
  char longflow[200];
  memset(longflow, 'f', sizeof(longflow) - 1);
  longflow[sizeof(longflow) - 1] = '\0';
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_put_blob(st, longflow, "x", 1, NULL, NULL, &err), LF_ERR_USAGE);

  const char *bad_hex[] = {
    "",
    "0011",
    "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
    "../../../../etc/passwd",
    NULL,
  };
  for (size_t k = 0; bad_hex[k] != NULL; k++) {
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_get_blob(st, "Flow", bad_hex[k], &back, &blen, &err), LF_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "invalid blob name");
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_has_blob(st, "Flow", bad_hex[k], &has, &err), LF_ERR_USAGE);
  }
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_get_blob(st, "Flow", NULL, &back, &blen, &err), LF_ERR_USAGE);

  char longkey[1100];
  memset(longkey, 'k', sizeof(longkey) - 1);
  longkey[sizeof(longkey) - 1] = '\0';
  char longcomp[300];
  memset(longcomp, 'c', sizeof(longcomp) - 1);
  longcomp[sizeof(longcomp) - 1] = '\0';
  const struct {
    const char *key;
    const char *why;
  } bad_keys[] = {
    {"", "empty"},
    {"/etc/passwd", "absolute paths are not allowed"},
    {"a/../b", "'.' and '..' components are not allowed"},
    {"..", "'.' and '..' components are not allowed"},
    {"a/./b", "'.' and '..' components are not allowed"},
    {"a/..", "'.' and '..' components are not allowed"},
    {"a//b", "empty path component"},
    {"a/", "empty path component"},
    {".hidden", "components may not start with '.'"},
    {"a/.lf-tmp-1", "components may not start with '.'"},
    {"a\\b", "control characters and '\\' are not allowed"},
    {"a\nb", "control characters and '\\' are not allowed"},
    {longkey, "longer than 1024 bytes"},
    {longcomp, "a component is longer than 255 bytes"},
  };
  for (size_t k = 0; k < sizeof(bad_keys) / sizeof(bad_keys[0]); k++) {
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_put(st, bad_keys[k].key, "x", 1, &err), LF_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "invalid store key '");
    CHECK_CONTAINS(err.msg, bad_keys[k].why);
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_get(st, bad_keys[k].key, 100, &back, &blen, &err), LF_ERR_USAGE);
    bool created;
    lf_err_clear(&err);
    CHECK_EQ_INT(lf_store_create_exclusive(st, bad_keys[k].key, "x", 1, &created, &err),
                 LF_ERR_USAGE);
  }
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_put(st, NULL, "x", 1, &err), LF_ERR_USAGE);
  // Nothing escaped the root.
  char *escaped = lf_xasprintf("%s/../b", lf_store_root(st));
  CHECK(!lf_fs_exists(escaped));
  lf_free(escaped);
  // Keys with unusual but harmless characters are fine.
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_put(st, "Flow/1/start/1/na me+=\xC3\xA9.json", "{}", 2, &err), LF_OK);
}

static void test_objects_and_list(lf_store *st)
{
  lf_err err = {0};
  CHECK_EQ_INT(lf_store_put(st, "F/1/start/1/record.json", "{\"a\":1}", 7, &err), LF_OK);
  CHECK_EQ_INT(lf_store_put(st, "F/1/start/1/stdout.log", "out", 3, &err), LF_OK);
  CHECK_EQ_INT(lf_store_put(st, "F/1/end/1/record.json", "{}", 2, &err), LF_OK);
  CHECK_EQ_INT(lf_store_put(st, "F/1/b", "", 0, &err), LF_OK);
  CHECK_EQ_INT(lf_store_put(st, "F/1/a", "x", 1, &err), LF_OK);
  char *data = NULL;
  size_t n = 0;
  CHECK_EQ_INT(lf_store_get(st, "F/1/start/1/record.json", 100, &data, &n, &err), LF_OK);
  CHECK(n == 7 && strcmp(data, "{\"a\":1}") == 0);
  lf_free(data);
  // Replace.
  CHECK_EQ_INT(lf_store_put(st, "F/1/start/1/record.json", "{\"a\":2}", 7, &err), LF_OK);
  CHECK_EQ_INT(lf_store_get(st, "F/1/start/1/record.json", 100, &data, NULL, &err), LF_OK);
  CHECK_STR(data, "{\"a\":2}");
  lf_free(data);
  CHECK_EQ_INT(lf_store_get(st, "F/1/b", 100, &data, &n, &err), LF_OK);
  CHECK(n == 0 && data != NULL && data[0] == '\0');
  lf_free(data);
  // Size limit, missing object, a directory is not an object.
  CHECK_EQ_INT(lf_store_get(st, "F/1/start/1/record.json", 6, &data, &n, &err), LF_ERR_STORE);
  CHECK_CONTAINS(err.msg, "more than the limit of 6");
  CHECK(data == NULL);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_get(st, "F/1/nope", 100, &data, &n, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "/F/1/nope' (not found)");
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_get(st, "F/1/a/under-a-file", 100, &data, &n, &err), LF_ERR_NOTFOUND);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_get(st, "F/1/start", 100, &data, &n, &err), LF_ERR_NOTFOUND);
  lf_err_clear(&err);
  bool ex = false;
  CHECK_EQ_INT(lf_store_exists(st, "F/1/a", &ex, &err), LF_OK);
  CHECK(ex);
  CHECK_EQ_INT(lf_store_exists(st, "F/9", &ex, &err), LF_OK);
  CHECK(!ex);

  // Temp files of writers in progress are not listed.
  char *tmp1 = lf_xasprintf("%s/F/1/.lf-tmp-1-2-0", lf_store_root(st));
  char *tmp2 = lf_xasprintf("%s/F/1/a.tmp.12345", lf_store_root(st));
  write_file(tmp1, "t", 1);
  write_file(tmp2, "t", 1);
  char **names = NULL;
  CHECK_EQ_INT(lf_store_list(st, "F/1", &names, &n, &err), LF_OK);
  CHECK_EQ_INT(n, 4);
  if (n == 4) {
    CHECK_STR(names[0], "a");
    CHECK_STR(names[1], "b");
    CHECK_STR(names[2], "end");
    CHECK_STR(names[3], "start");
  }
  lf_store_free_names(names, n);
  CHECK_EQ_INT(lf_store_list(st, "F/1/", &names, &n, &err), LF_OK);
  CHECK_EQ_INT(n, 4);
  lf_store_free_names(names, n);
  CHECK_EQ_INT(lf_store_list(st, "F/1/start/1", &names, &n, &err), LF_OK);
  CHECK(n == 2 && strcmp(names[0], "record.json") == 0 && strcmp(names[1], "stdout.log") == 0);
  lf_store_free_names(names, n);
  // Missing prefix, or a prefix that is a file: empty, not an error.
  names = (char **)1;
  CHECK_EQ_INT(lf_store_list(st, "F/2", &names, &n, &err), LF_OK);
  CHECK(n == 0 && names == NULL);
  CHECK_EQ_INT(lf_store_list(st, "F/1/a", &names, &n, &err), LF_OK);
  CHECK(n == 0);
  CHECK_EQ_INT(lf_store_list(st, "../x", &names, &n, &err), LF_ERR_USAGE);
  lf_err_clear(&err);
  // The root.
  CHECK_EQ_INT(lf_store_list(st, "", &names, &n, &err), LF_OK);
  bool found = false;
  for (size_t k = 0; k < n; k++) {
    found = found || strcmp(names[k], "F") == 0;
    CHECK(k == 0 || strcmp(names[k - 1], names[k]) < 0);
  }
  CHECK(found);
  lf_store_free_names(names, n);
  lf_store_free_names(NULL, 0);

  // Remove, and removing what is gone.
  CHECK_EQ_INT(lf_store_remove(st, "F/1/a", &err), LF_OK);
  CHECK_EQ_INT(lf_store_remove(st, "F/1/a", &err), LF_OK);
  CHECK_EQ_INT(lf_store_exists(st, "F/1/a", &ex, &err), LF_OK);
  CHECK(!ex);
  CHECK_EQ_INT(lf_store_remove(st, "F/1/.x", &err), LF_ERR_USAGE);
  lf_free(tmp1);
  lf_free(tmp2);
}

static void test_create_exclusive(lf_store *st)
{
  lf_err err = {0};
  bool created = false;
  CHECK_EQ_INT(lf_store_create_exclusive(st, "F/runs/17", "first", 5, &created, &err), LF_OK);
  CHECK(created);
  CHECK_EQ_INT(lf_store_create_exclusive(st, "F/runs/17", "second", 6, &created, &err), LF_OK);
  CHECK(!created);
  char *data = NULL;
  CHECK_EQ_INT(lf_store_get(st, "F/runs/17", 100, &data, NULL, &err), LF_OK);
  CHECK_STR(data, "first");
  lf_free(data);

  // Several processes race for one id: exactly one wins, and its content is whole.
  enum { PROCS = 6 };
  pid_t pids[PROCS];
  for (int k = 0; k < PROCS; k++) {
    pids[k] = fork();
    if (pids[k] == 0) {
      lf_err e = {0};
      lf_store *mine = lf_store_open_local(lf_store_root(st), &e);
      bool c = false;
      char body[32];
      int bl = snprintf(body, sizeof(body), "winner %d", k);
      lf_status s = mine != NULL
                      ? lf_store_create_exclusive(mine, "F/runs/18", body, (size_t)bl, &c, &e)
                      : LF_ERR_IO;
      lf_store_free(mine);
      _exit(s != LF_OK ? 2 : (c ? 1 : 0));
    }
  }
  int winners = 0;
  int errors = 0;
  for (int k = 0; k < PROCS; k++) {
    int status = 0;
    waitpid(pids[k], &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
    winners += code == 1;
    errors += code > 1;
  }
  CHECK_EQ_INT(winners, 1);
  CHECK_EQ_INT(errors, 0);
  CHECK_EQ_INT(lf_store_get(st, "F/runs/18", 100, &data, NULL, &err), LF_OK);
  CHECK(data != NULL && strncmp(data, "winner ", 7) == 0);
  lf_free(data);
}

// Two processes store the same large blob at once: both succeed, the blob verifies.
static void test_concurrent_blob(lf_store *st)
{
  size_t n = (size_t)9 << 20;
  unsigned char *p = random_bytes(n);
  pid_t pids[2];
  for (int k = 0; k < 2; k++) {
    pids[k] = fork();
    if (pids[k] == 0) {
      lf_err e = {0};
      lf_store *mine = lf_store_open_local(lf_store_root(st), &e);
      lf_status s = mine != NULL ? lf_store_put_blob(mine, "Race", p, n, NULL, NULL, &e) : 1;
      lf_store_free(mine);
      _exit(s == LF_OK ? 0 : 1);
    }
  }
  for (int k = 0; k < 2; k++) {
    int status = 0;
    waitpid(pids[k], &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  char hex[65];
  lf_sha256_hex(p, n, hex);
  char *back = NULL;
  size_t blen = 0;
  lf_err err = {0};
  CHECK_EQ_INT(lf_store_get_blob(st, "Race", hex, &back, &blen, &err), LF_OK);
  CHECK(blen == n && memcmp(back, p, n) == 0);
  lf_free(back);
  lf_free(p);
  char *dir = lf_xasprintf("%s/Race/data", lf_store_root(st));
  CHECK_EQ_INT(count_temps(dir), 0);
  lf_free(dir);
}

// ---- an in-memory backend, for the vtable contract and fault injection ----

typedef struct mem_obj {
  char *key;
  char *data;
  size_t len;
} mem_obj;

typedef struct mem_store {
  mem_obj objs[64];
  size_t n;
  int fail_put;         // puts left before one fails (0: never)
  bool fail_stage_write;
  bool slow_stage_write; // 100 ms per payload write, to let the hasher finish first
  int stage_writes;
  int stages_open;
  int puts;
} mem_store;

typedef struct mem_stage {
  mem_store *m;
  lf_dynbuf b;
} mem_stage;

static mem_obj *mem_find(mem_store *m, const char *key)
{
  for (size_t k = 0; k < m->n; k++) {
    if (strcmp(m->objs[k].key, key) == 0) {
      return &m->objs[k];
    }
  }
  return NULL;
}

static lf_status mem_put(void *self, const char *key, const void *data, size_t len,
                         bool write_once, bool *existed, lf_err *err)
{
  mem_store *m = self;
  m->puts++;
  if (m->fail_put > 0 && --m->fail_put == 0) {
    return LF_ERR(err, LF_ERR_IO, "cannot write 'mem:%s' (injected fault)", key);
  }
  mem_obj *o = mem_find(m, key);
  if (existed != NULL) {
    *existed = o != NULL && write_once;
  }
  if (o != NULL && write_once) {
    return LF_OK;
  }
  if (o == NULL) {
    if (m->n == 64) {
      return LF_ERR(err, LF_ERR_STORE, "mem store full");
    }
    o = &m->objs[m->n++];
    o->key = lf_xstrdup(key);
  } else {
    lf_free(o->data);
  }
  o->data = lf_xmemdupz(data, len);
  o->len = len;
  return LF_OK;
}

static lf_status mem_get(void *self, const char *key, size_t max, char **data, size_t *len,
                         lf_err *err)
{
  mem_obj *o = mem_find(self, key);
  if (o == NULL) {
    return LF_ERR(err, LF_ERR_NOTFOUND, "no object 'mem:%s'", key);
  }
  if (o->len > max) {
    return LF_ERR(err, LF_ERR_STORE, "object 'mem:%s' too large", key);
  }
  *data = lf_xmemdupz(o->data, o->len);
  *len = o->len;
  return LF_OK;
}

static lf_status mem_exists(void *self, const char *key, bool *out, lf_err *err)
{
  (void)err;
  *out = mem_find(self, key) != NULL;
  return LF_OK;
}

static lf_status mem_list(void *self, const char *prefix, char ***names, size_t *n, lf_err *err)
{
  (void)self;
  (void)prefix;
  (void)err;
  *names = NULL;
  *n = 0;
  return LF_OK;
}

static lf_status mem_remove(void *self, const char *key, lf_err *err)
{
  (void)self;
  (void)key;
  (void)err;
  return LF_OK;
}

static char *mem_describe(void *self, const char *key)
{
  (void)self;
  return lf_xasprintf("mem://%s", key);
}

static void mem_free(void *self)
{
  mem_store *m = self;
  for (size_t k = 0; k < m->n; k++) {
    lf_free(m->objs[k].key);
    lf_free(m->objs[k].data);
  }
  lf_free(m);
}

static lf_status mem_stage_open(void *self, const char *dir, void **stage, lf_err *err)
{
  (void)dir;
  (void)err;
  mem_stage *sg = lf_xcalloc(1, sizeof(*sg));
  sg->m = self;
  sg->m->stages_open++;
  lf_dynbuf_init(&sg->b, SIZE_MAX / 2);
  *stage = sg;
  return LF_OK;
}

static lf_status mem_stage_write(void *stage, const void *data, size_t len, lf_err *err)
{
  mem_stage *sg = stage;
  if (sg->m->fail_stage_write) {
    return LF_ERR(err, LF_ERR_IO, "cannot write 'mem:stage' (injected fault)");
  }
  sg->m->stage_writes++;
  if (sg->m->slow_stage_write && len > LF_STORE_BLOB_HEADER) {
    usleep(100000);
  }
  lf_dynbuf_add(&sg->b, data, len);
  return LF_OK;
}

static void mem_stage_abort(void *stage)
{
  mem_stage *sg = stage;
  sg->m->stages_open--;
  lf_dynbuf_free(&sg->b);
  lf_free(sg);
}

static lf_status mem_stage_commit(void *stage, const char *key, bool write_once, bool *existed,
                                  lf_err *err)
{
  mem_stage *sg = stage;
  lf_status s = mem_put(sg->m, key, sg->b.data, sg->b.len, write_once, existed, err);
  mem_stage_abort(stage);
  return s;
}

static const lf_store_backend mem_backend = {
  .name = "mem",
  .put = mem_put,
  .get = mem_get,
  .exists = mem_exists,
  .list = mem_list,
  .remove = mem_remove,
  .describe = mem_describe,
  .free = mem_free,
  .stage_open = mem_stage_open,
  .stage_write = mem_stage_write,
  .stage_commit = mem_stage_commit,
  .stage_abort = mem_stage_abort,
};

// The same backend without staged writes, as a simple S3-like backend would be.
static const lf_store_backend mem_backend_nostage = {
  .name = "mem",
  .put = mem_put,
  .get = mem_get,
  .exists = mem_exists,
  .list = mem_list,
  .remove = mem_remove,
  .describe = mem_describe,
  .free = mem_free,
};

static void test_backend_vtable(void)
{
  lf_err err = {0};
  mem_store *m = lf_xcalloc(1, sizeof(*m));
  lf_store *st = lf_store_new(&mem_backend, m);
  CHECK_STR(lf_store_root(st), "mem://");
  size_t n = (size_t)9 << 20;
  unsigned char *big = random_bytes(n);
  unsigned char *cmp = compressible_bytes(100000);
  char hex[65];
  char want[65];
  lf_sha256_hex(big, n, want);

  // An injected write failure in the staged path: an error, no object, no stage left open.
  m->fail_stage_write = true;
  CHECK_EQ_INT(lf_store_put_blob(st, "F", big, n, hex, NULL, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "injected fault");
  CHECK(hex[0] == '\0');
  CHECK_EQ_INT(m->n, 0);
  CHECK_EQ_INT(m->stages_open, 0);
  m->fail_stage_write = false;
  lf_err_clear(&err);
  // And a failing put on the inline path.
  m->fail_put = 1;
  CHECK_EQ_INT(lf_store_put_blob(st, "F", cmp, 100000, hex, NULL, &err), LF_ERR_IO);
  CHECK_EQ_INT(m->n, 0);
  lf_err_clear(&err);

  bool existed = true;
  CHECK_EQ_INT(lf_store_put_blob(st, "F", big, n, hex, &existed, &err), LF_OK);
  CHECK_STR(hex, want);
  CHECK(!existed);
  CHECK_EQ_INT(lf_store_put_blob(st, "F", big, n, hex, &existed, &err), LF_OK);
  CHECK(existed);
  CHECK_EQ_INT(m->stages_open, 0);
  char *back = NULL;
  size_t blen = 0;
  CHECK_EQ_INT(lf_store_get_blob(st, "F", hex, &back, &blen, &err), LF_OK);
  CHECK(blen == n && memcmp(back, big, n) == 0);
  lf_free(back);
  // Messages name the backend's location.
  m->objs[0].data[100] ^= 1;
  CHECK_EQ_INT(lf_store_get_blob(st, "F", hex, &back, &blen, &err), LF_ERR_CORRUPT);
  char msg[256];
  snprintf(msg, sizeof(msg), "in 'mem://F/data/%.2s/%s' is corrupt (hash mismatch)", hex, hex);
  CHECK_CONTAINS(err.msg, msg);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_get_blob(st, "G", hex, &back, &blen, &err), LF_ERR_NOTFOUND);
  CHECK_CONTAINS(err.msg, "from 'mem://G/data/");
  lf_err_clear(&err);

  // A repeated put stops writing once the hash is known and names an existing blob: with
  // slow writes the hasher finishes during the first 16 MiB chunk of this 40 MiB blob.
  size_t n40 = (size_t)40 << 20;
  unsigned char *b40 = random_bytes(n40);
  m->slow_stage_write = true;
  m->stage_writes = 0;
  CHECK_EQ_INT(lf_store_put_blob(st, "F", b40, n40, hex, &existed, &err), LF_OK);
  CHECK(!existed);
  CHECK_EQ_INT(m->stage_writes, 4); // header + 16 + 16 + 8 MiB
  m->stage_writes = 0;
  CHECK_EQ_INT(lf_store_put_blob(st, "F", b40, n40, hex, &existed, &err), LF_OK);
  CHECK(existed);
  CHECK(m->stage_writes < 4);
  CHECK_EQ_INT(m->stages_open, 0);
  char want40[65];
  lf_sha256_hex(b40, n40, want40);
  CHECK_STR(hex, want40);
  m->slow_stage_write = false;
  lf_free(b40);
  lf_store_free(st);

  // Without staged writes a large raw blob is written in one piece.
  m = lf_xcalloc(1, sizeof(*m));
  st = lf_store_new(&mem_backend_nostage, m);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_store_put_blob(st, "F", big, n, hex, &existed, &err), LF_OK);
  CHECK_STR(hex, want);
  CHECK(m->n == 1 && m->objs[0].len == n + LF_STORE_BLOB_HEADER);
  CHECK_EQ_INT(lf_store_get_blob(st, "F", hex, &back, &blen, &err), LF_OK);
  CHECK(blen == n && memcmp(back, big, n) == 0);
  lf_free(back);
  bool created = false;
  CHECK_EQ_INT(lf_store_create_exclusive(st, "F/runs/1", "x", 1, &created, &err), LF_OK);
  CHECK(created);
  CHECK_EQ_INT(lf_store_create_exclusive(st, "F/runs/1", "y", 1, &created, &err), LF_OK);
  CHECK(!created);
  lf_store_free(st);
  lf_free(big);
  lf_free(cmp);
}

static void test_open(void)
{
  lf_err err = {0};
  // A root under a file cannot be created.
  char *file = lf_xasprintf("%s/plainfile", scratch);
  write_file(file, "x", 1);
  char *under = lf_xasprintf("%s/sub", file);
  CHECK(lf_store_open_local(under, &err) == NULL);
  CHECK_EQ_INT(err.code, LF_ERR_IO);
  lf_free(under);
  lf_free(file);
  // A relative root is made absolute.
  char cwd[4096];
  CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
  CHECK(chdir(scratch) == 0);
  lf_err_clear(&err);
  lf_store *st = lf_store_open_local("rel/root", &err);
  CHECK(st != NULL);
  char *want = lf_xasprintf("%s/rel/root", scratch);
  CHECK_STR(lf_store_root(st), want);
  char *d = lf_store_describe(st, "F/1");
  char *want2 = lf_xasprintf("%s/rel/root/F/1", scratch);
  CHECK_STR(d, want2);
  lf_free(d);
  lf_free(want2);
  lf_free(want);
  lf_store_free(st);
  lf_store_free(NULL);
  CHECK(chdir(cwd) == 0);
}

int main(void)
{
  const char *base = getenv("LF_TEST_TMP");
  lf_err err = {0};
  if (base == NULL || base[0] == '\0') {
    base = "/tmp";
  } else if (lf_fs_mkdirs(base, &err) != LF_OK) {
    fprintf(stderr, "cannot create LF_TEST_TMP: %s\n", err.msg);
    return 1;
  }
  char *tmpl = lf_xasprintf("%s/test_store.XXXXXX", base);
  if (mkdtemp(tmpl) == NULL) {
    fprintf(stderr, "mkdtemp '%s' failed: %s\n", tmpl, strerror(errno));
    return 1;
  }
  // mkdtemp may return a relative path if LF_TEST_TMP is relative.
  scratch = lf_path_absolute(tmpl);
  lf_free(tmpl);
  char *root = lf_xasprintf("%s/store", scratch);
  lf_store *st = lf_store_open_local(root, &err);
  CHECK(st != NULL);
  if (st == NULL) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  CHECK_STR(lf_store_root(st), root);

  test_sha256();
  test_blob_roundtrips(st);
  // After multithreaded compression: no helper thread outlives a call, so forking is safe.
  test_create_exclusive(st);
  test_concurrent_blob(st);
  test_dedup(st);
  test_corrupt(st);
  test_missing_and_validation(st);
  test_objects_and_list(st);
  test_backend_vtable();
  test_open();

  lf_store_free(st);
  lf_free(root);
  lf_err_clear(&err);
  if (lf_fs_rmtree(scratch, &err) != LF_OK) {
    fprintf(stderr, "cannot remove scratch dir: %s\n", err.msg);
  }
  lf_free(scratch);
  return TEST_REPORT();
}
