// SPDX-License-Identifier: MIT
// Unit tests for core/fs.h, core/dynbuf.h and core/err.h: path join/dirname/basename/absolute
// edge cases; mkdirs (nested, existing, a file in the way); read_file (missing, a directory,
// over and at the size limit, empty, binary, /proc files whose size stat does not know);
// write_atomic (parents, replacement by rename, exclusive mode, no temp files left, also with
// 8 threads writing one path 50 times each while another thread reads it); rmtree (not
// following symlinks); the dynbuf maximum, growth and take; lf_err first-error-wins and
// lf_err_prefix, including truncation of long messages without overflow.
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/fs.h"
#include "testhelp.h"

static char *scratch;
static char *paths[64]; // made by sp(), freed at the end
static int npaths;

// A path in the scratch directory, valid until the end of the test.
static char *sp(const char *rel)
{
  char *p = lf_path_join(scratch, rel);
  if (npaths < 64) {
    paths[npaths++] = p;
  }
  return p;
}

static void put_file(const char *path, const void *data, size_t len)
{
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f != NULL) {
    CHECK_EQ_INT(fwrite(data, 1, len, f), len);
    fclose(f);
  }
}

static char *slurp(const char *path, size_t *len)
{
  char *data = NULL;
  lf_err err = {0};
  return lf_fs_read_file(path, 1u << 24, &data, len, &err) == LF_OK ? data : NULL;
}

// True if the file at `path` holds exactly `len` bytes of `want`.
static bool file_is(const char *path, const char *want, size_t len)
{
  size_t n = 0;
  char *got = slurp(path, &n);
  bool ok = got != NULL && n == len && memcmp(got, want, len) == 0;
  lf_free(got);
  return ok;
}

// Entries of `dir` whose names start with '.' (temp files), "." and ".." aside.
static int dot_files(const char *dir)
{
  DIR *d = opendir(dir);
  int n = 0;
  if (d == NULL) {
    return -1;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    n += de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  }
  closedir(d);
  return n;
}

// A new small block's contents are whatever was there before. With M_PERTURB and the
// per-thread cache for that size drained, glibc fills a new block with 0xa5 (ASan fills with
// 0xbe), so a missing NUL terminator in a fresh buffer shows reliably.
static void small_blocks(bool hold)
{
  static void *held[32];
  for (int i = 0; i < 32; i++) {
    if (hold) {
      held[i] = lf_xmalloc(64);
    } else {
      lf_free(held[i]);
    }
  }
}

#define CHECK_OWNED_STR(expr, want) \
  do {                              \
    char *th_s = (expr);            \
    CHECK_STR(th_s, want);          \
    lf_free(th_s);                  \
  } while (0)

static void test_paths(void)
{
  CHECK_OWNED_STR(lf_path_join("a", "b"), "a/b");
  CHECK_OWNED_STR(lf_path_join("a/", "b"), "a/b");
  CHECK_OWNED_STR(lf_path_join("a//", "//b"), "a/b");
  CHECK_OWNED_STR(lf_path_join("/", "b"), "/b");
  CHECK_OWNED_STR(lf_path_join("/", "/b"), "/b");
  CHECK_OWNED_STR(lf_path_join("", "b"), "b");
  CHECK_OWNED_STR(lf_path_join("", "/b"), "/b");
  CHECK_OWNED_STR(lf_path_join("/x/y", "z/w"), "/x/y/z/w");
  CHECK_OWNED_STR(lf_path_joinv("a", "b", "c/", "d", NULL), "a/b/c/d");
  CHECK_OWNED_STR(lf_path_joinv("only", NULL), "only");
  CHECK_OWNED_STR(lf_path_joinv("/", "x", NULL), "/x");

  CHECK_OWNED_STR(lf_path_dirname("a/b"), "a");
  CHECK_OWNED_STR(lf_path_dirname("/a/b/c"), "/a/b");
  CHECK_OWNED_STR(lf_path_dirname("a"), ".");
  CHECK_OWNED_STR(lf_path_dirname(""), ".");
  CHECK_OWNED_STR(lf_path_dirname("/a"), "/");
  CHECK_OWNED_STR(lf_path_dirname("/"), "/");

  const char *p = "dir/sub/file.txt";
  CHECK(lf_path_basename(p) == p + 8); // borrowed from the argument
  CHECK_STR(lf_path_basename("file"), "file");
  CHECK_STR(lf_path_basename("/file"), "file");
  CHECK_STR(lf_path_basename("/"), "");

  char cwd[4096];
  CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
  CHECK(chdir(scratch) == 0);
  CHECK_OWNED_STR(lf_path_absolute("/abs/olute"), "/abs/olute");
  char *want = lf_path_join(scratch, "x/y");
  CHECK_OWNED_STR(lf_path_absolute("x/y"), want);
  CHECK_OWNED_STR(lf_path_absolute("./x/y"), want);
  CHECK_OWNED_STR(lf_path_absolute("././x/y"), want);
  lf_free(want);
  CHECK_OWNED_STR(lf_path_absolute("."), scratch);
  CHECK_OWNED_STR(lf_path_absolute("./."), scratch);
  want = lf_xasprintf("%s/../z", scratch);
  CHECK_OWNED_STR(lf_path_absolute("../z"), want);
  lf_free(want);
  CHECK(chdir(cwd) == 0);
}

static void test_mkdirs(void)
{
  lf_err err = {0};
  char *deep = sp("mk/a/b/c");
  CHECK_EQ_INT(lf_fs_mkdirs(deep, &err), LF_OK);
  CHECK(lf_fs_isdir(deep));
  CHECK_EQ_INT(lf_fs_mkdirs(deep, &err), LF_OK); // existing is fine
  CHECK_EQ_INT(lf_fs_mkdirs(sp("mk/a/b/c/"), &err), LF_OK);
  CHECK_EQ_INT(err.code, LF_OK);

  char *file = sp("mk/file");
  put_file(file, "x", 1);
  CHECK(lf_fs_exists(file) && !lf_fs_isdir(file));
  CHECK_EQ_INT(lf_fs_mkdirs(file, &err), LF_ERR_IO); // the path itself is a file
  CHECK_CONTAINS(err.msg, "in the way");
  lf_err_clear(&err);
  char *under = sp("mk/file/sub/dir"); // a file where a parent should be
  CHECK_EQ_INT(lf_fs_mkdirs(under, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "mk/file");
  CHECK(!lf_fs_exists(under));
  lf_err_clear(&err);

  // Relative paths, against the current directory.
  char cwd[4096];
  CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
  CHECK(chdir(scratch) == 0);
  CHECK_EQ_INT(lf_fs_mkdirs("rel/one/two", &err), LF_OK);
  CHECK(lf_fs_isdir("rel/one/two"));
  CHECK(chdir(cwd) == 0);
  CHECK(!lf_fs_exists("/nonexistent-lf-test/x") && !lf_fs_isdir("/nonexistent-lf-test/x"));
}

static void test_read_file(void)
{
  lf_err err = {0};
  char *data = (char *)"sentinel";
  size_t len = 99;
  CHECK_EQ_INT(lf_fs_read_file(sp("rf/missing"), 100, &data, &len, &err), LF_ERR_NOTFOUND);
  CHECK(data == NULL);
  CHECK_EQ_INT(len, 0);
  CHECK_CONTAINS(err.msg, "rf/missing");
  lf_err_clear(&err);

  char *dir = sp("rf");
  CHECK_EQ_INT(lf_fs_mkdirs(dir, &err), LF_OK);
  CHECK_EQ_INT(lf_fs_read_file(dir, 100, &data, &len, &err), LF_ERR_IO);
  CHECK(data == NULL);
  CHECK_CONTAINS(err.msg, "directory");
  lf_err_clear(&err);

  char *hundred = sp("rf/hundred");
  char buf[100];
  memset(buf, 'h', sizeof(buf));
  put_file(hundred, buf, sizeof(buf));
  CHECK_EQ_INT(lf_fs_read_file(hundred, 99, &data, &len, &err), LF_ERR_IO);
  CHECK(data == NULL);
  CHECK_CONTAINS(err.msg, "limit");
  lf_err_clear(&err);
  // "refusing files larger than max": a file of exactly `max` bytes is not larger.
  CHECK_EQ_INT(lf_fs_read_file(hundred, 100, &data, &len, &err), LF_OK);
  CHECK(data != NULL && len == 100 && memcmp(data, buf, 100) == 0);
  lf_free(data);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_fs_read_file(hundred, 101, &data, &len, &err), LF_OK);
  CHECK_EQ_INT(len, 100);
  lf_free(data);

  char *empty = sp("rf/empty");
  put_file(empty, "", 0);
  data = NULL;
  small_blocks(true);
  CHECK_EQ_INT(lf_fs_read_file(empty, 10, &data, &len, &err), LF_OK);
  small_blocks(false);
  CHECK(data != NULL && data[0] == '\0'); // "The result is NUL-terminated."
  CHECK_EQ_INT(len, 0);
  lf_free(data);
  CHECK_EQ_INT(lf_fs_read_file(empty, 1, &data, NULL, &err), LF_OK); // len may be NULL
  CHECK(data != NULL);
  lf_free(data);
  // The same limit case: an empty file is not larger than a limit of 0.
  data = NULL;
  CHECK_EQ_INT(lf_fs_read_file(empty, 0, &data, NULL, &err), LF_OK);
  lf_free(data);
  lf_err_clear(&err);

  // Binary, with NULs, larger than one 64 KiB read.
  size_t n = 200000;
  unsigned char *bin = lf_xmalloc(n);
  for (size_t i = 0; i < n; i++) {
    bin[i] = (unsigned char)((i * 7919u) >> 3);
  }
  bin[0] = bin[n - 1] = 0;
  const char *binpath = sp("rf/bin");
  put_file(binpath, bin, n);
  CHECK_EQ_INT(lf_fs_read_file(binpath, n + 1, &data, &len, &err), LF_OK);
  CHECK_EQ_INT(len, n);
  CHECK(data != NULL && memcmp(data, bin, n) == 0 && data[n] == '\0');
  lf_free(data);
  lf_free(bin);

  // /proc files report size 0: the limit is enforced while reading.
  CHECK_EQ_INT(lf_fs_read_file("/proc/self/status", 1u << 20, &data, &len, &err), LF_OK);
  CHECK(len > 50 && strncmp(data, "Name:", 5) == 0 && strlen(data) == len);
  lf_free(data);
  CHECK_EQ_INT(lf_fs_read_file("/proc/self/status", 20, &data, &len, &err), LF_ERR_IO);
  CHECK(data == NULL);
  CHECK_EQ_INT(err.code, LF_ERR_IO);
  lf_err_clear(&err);
}

static void test_write_atomic(void)
{
  lf_err err = {0};
  bool existed = true;
  char *path = sp("wa/new/parents/f.txt");
  CHECK_EQ_INT(lf_fs_write_atomic(path, "one", 3, false, &existed, &err), LF_OK);
  CHECK(!existed);
  CHECK(file_is(path, "one", 3));

  // Replacement is a rename: a hard link to the old file keeps the old bytes.
  char *old = sp("wa/new/parents/old-link");
  CHECK_EQ_INT(link(path, old), 0);
  CHECK_EQ_INT(lf_fs_write_atomic(path, "a longer second version", 23, false, NULL, &err), LF_OK);
  CHECK_EQ_INT(lf_fs_write_atomic(path, "3", 1, false, &existed, &err), LF_OK);
  CHECK(!existed);
  CHECK(file_is(path, "3", 1));
  CHECK(file_is(old, "one", 3));

  // Exclusive: an existing file is left alone.
  CHECK_EQ_INT(lf_fs_write_atomic(path, "other", 5, true, &existed, &err), LF_OK);
  CHECK(existed);
  CHECK(file_is(path, "3", 1));
  char *fresh = sp("wa/new/parents/fresh");
  CHECK_EQ_INT(lf_fs_write_atomic(fresh, "x\0y", 3, true, &existed, &err), LF_OK);
  CHECK(!existed);
  CHECK(file_is(fresh, "x\0y", 3));
  CHECK_EQ_INT(lf_fs_write_atomic(fresh, "zz", 2, true, NULL, &err), LF_OK);
  CHECK(file_is(fresh, "x\0y", 3));
  // Empty contents.
  char *empty = sp("wa/new/parents/empty");
  CHECK_EQ_INT(lf_fs_write_atomic(empty, "", 0, false, NULL, &err), LF_OK);
  CHECK(file_is(empty, "", 0));
  CHECK_EQ_INT(err.code, LF_OK);

  // Failures leave no temp file: a directory where the file should be, a file in the way of
  // the parents.
  char *dirpath = sp("wa/new/parents/adir");
  CHECK_EQ_INT(lf_fs_mkdirs(dirpath, &err), LF_OK);
  CHECK_EQ_INT(lf_fs_write_atomic(dirpath, "x", 1, false, NULL, &err), LF_ERR_IO);
  CHECK(lf_fs_isdir(dirpath));
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_fs_write_atomic(sp("wa/new/parents/f.txt/below"), "x", 1, false, NULL, &err),
               LF_ERR_IO);
  CHECK_EQ_INT(dot_files(sp("wa/new/parents")), 0);
}

// ---- concurrent writers of one path --------------------------------------------------------

#define WRITERS 8
#define WRITES 50

typedef struct writer {
  const char *path;
  bool exclusive;
  int id, failures, created; // created: writes that did not find the file
} writer;

static atomic_int writers_left;

// Content number k: a header naming it, then a body whose length and letter depend on k.
static char *content(int k, size_t *len)
{
  size_t body = 1000 + (size_t)(k % 97) * 300;
  char *s = lf_xmalloc(body + 32);
  int h = snprintf(s, 32, "K%d|", k);
  memset(s + h, 'a' + k % 26, body);
  *len = (size_t)h + body;
  s[*len] = '\0';
  return s;
}

// True if `data` is exactly one of the contents.
static bool valid_content(const char *data, size_t len)
{
  if (len < 2 || data[0] != 'K' || data[1] < '0' || data[1] > '9') {
    return false;
  }
  size_t want_len = 0;
  char *want = content(atoi(data + 1), &want_len);
  bool ok = want_len == len && memcmp(want, data, len) == 0;
  lf_free(want);
  return ok;
}

static void *writer_main(void *arg)
{
  writer *w = arg;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 0;
    char *s = content(w->id * WRITES + i, &len);
    lf_err err = {0};
    bool existed = true;
    w->failures += lf_fs_write_atomic(w->path, s, len, w->exclusive, &existed, &err) != LF_OK;
    w->created += !existed;
    lf_free(s);
  }
  atomic_fetch_sub(&writers_left, 1);
  return NULL;
}

typedef struct reader {
  const char *path;
  int reads, torn, errors;
} reader;

static void *reader_main(void *arg)
{
  reader *r = arg;
  do {
    char *data = NULL;
    size_t len = 0;
    lf_err err = {0};
    lf_status st = lf_fs_read_file(r->path, 1u << 20, &data, &len, &err);
    r->reads += st == LF_OK;
    r->torn += st == LF_OK && !valid_content(data, len);
    r->errors += st != LF_OK && st != LF_ERR_NOTFOUND;
    lf_free(data);
  } while (atomic_load(&writers_left) > 0);
  return NULL;
}

// Runs the writers and a reader on `path`; adds up their failures and creations.
static void run_writers(const char *path, bool exclusive, reader *r, int *failures, int *created)
{
  writer w[WRITERS];
  pthread_t th[WRITERS + 1];
  atomic_store(&writers_left, WRITERS);
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (writer){.path = path, .id = i, .exclusive = exclusive};
    CHECK_EQ_INT(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
  }
  *r = (reader){.path = path};
  CHECK_EQ_INT(pthread_create(&th[WRITERS], NULL, reader_main, r), 0);
  *failures = *created = 0;
  for (int i = 0; i <= WRITERS; i++) {
    pthread_join(th[i], NULL);
    if (i < WRITERS) {
      *failures += w[i].failures;
      *created += w[i].created;
    }
  }
}

static void test_concurrent_writes(void)
{
  char *dir = sp("conc");
  char *path = sp("conc/shared");
  reader r;
  int failures = 0, created = 0;
  size_t len = 0;
  char *got = content(9999, &len);
  CHECK_EQ_INT(lf_fs_write_atomic(path, got, len, false, NULL, NULL), LF_OK);
  lf_free(got);
  run_writers(path, false, &r, &failures, &created);
  CHECK_EQ_INT(failures, 0);
  got = slurp(path, &len);
  CHECK(got != NULL && valid_content(got, len));
  lf_free(got);
  CHECK_EQ_INT(dot_files(dir), 0);
  CHECK(r.reads > 0);
  CHECK_EQ_INT(r.torn, 0); // a reader never sees a partial file
  CHECK_EQ_INT(r.errors, 0);

  // Exclusive writers of one new path: exactly one creates it.
  char *once = sp("conc/once");
  run_writers(once, true, &r, &failures, &created);
  CHECK_EQ_INT(failures, 0);
  CHECK_EQ_INT(created, 1);
  got = slurp(once, &len);
  CHECK(got != NULL && valid_content(got, len));
  lf_free(got);
  CHECK_EQ_INT(dot_files(dir), 0);
  CHECK_EQ_INT(r.torn, 0);
}

static void test_rmtree(void)
{
  lf_err err = {0};
  char *outside = sp("keep/inner");
  CHECK_EQ_INT(lf_fs_mkdirs(outside, &err), LF_OK);
  char *kept = sp("keep/inner/precious");
  put_file(kept, "p", 1);
  char *tree = sp("tree");
  char *deep = sp("tree/a/b/c");
  CHECK_EQ_INT(lf_fs_mkdirs(deep, &err), LF_OK);
  put_file(sp("tree/a/b/c/f1"), "1", 1);
  put_file(sp("tree/.hidden"), "2", 1);
  CHECK_EQ_INT(symlink(outside, sp("tree/a/link")), 0);
  CHECK_EQ_INT(symlink("/nonexistent-lf-test", sp("tree/dangling")), 0);
  CHECK_EQ_INT(lf_fs_rmtree(tree, &err), LF_OK);
  CHECK(!lf_fs_exists(tree));
  CHECK(lf_fs_exists(kept)); // the symlink was removed, not followed
  CHECK_EQ_INT(lf_fs_rmtree(tree, &err), LF_OK); // missing is fine
  CHECK_EQ_INT(lf_fs_rmtree(kept, &err), LF_OK); // a plain file
  CHECK(!lf_fs_exists(kept));
  CHECK(lf_fs_isdir(outside));
  CHECK_EQ_INT(err.code, LF_OK);
}

static void test_dynbuf(void)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 10);
  CHECK(b.data == NULL && b.len == 0 && b.max == 10);
  CHECK(lf_dynbuf_add(&b, "0123456789", 10) && b.len == 10); // exactly max
  char *before = b.data;
  size_t cap = b.cap;
  CHECK(!lf_dynbuf_addc(&b, 'x'));
  CHECK(!lf_dynbuf_add(&b, "xy", 2));
  CHECK(!lf_dynbuf_adds(&b, "z"));
  CHECK(!lf_dynbuf_addf(&b, "%d", 5));
  CHECK(!lf_dynbuf_reserve(&b, 1));
  CHECK(!lf_dynbuf_reserve(&b, SIZE_MAX));
  CHECK(lf_dynbuf_add(&b, "", 0));
  CHECK_EQ_INT(b.len, 10); // refusals left it unchanged
  CHECK(b.data == before && b.cap == cap);
  CHECK_STR(b.data, "0123456789");
  lf_dynbuf_reset(&b);
  CHECK(b.len == 0 && b.data == before && b.data[0] == '\0'); // allocation kept
  CHECK(lf_dynbuf_addf(&b, "%s-%d", "ab", 42));
  CHECK(!lf_dynbuf_addf(&b, "%s", "123456")); // 5 + 6 > 10
  CHECK_EQ_INT(b.len, 5);
  CHECK_STR(b.data, "ab-42");
  CHECK(lf_dynbuf_addf(&b, "%s", "12345"));
  CHECK_STR(b.data, "ab-4212345");
  lf_dynbuf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.max == 10);

  // Growth through many formatted appends, each larger than the last allocation.
  lf_dynbuf g;
  lf_dynbuf_init(&g, 1u << 24);
  char big[5000];
  memset(big, 'q', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  size_t want = 0;
  for (int i = 0; i < 100; i++) {
    CHECK(lf_dynbuf_addf(&g, "[%d:%s]", i, big + (i * 49) % 4000));
    want += (size_t)snprintf(NULL, 0, "[%d:%s]", i, big + (i * 49) % 4000);
  }
  CHECK_EQ_INT(g.len, want);
  CHECK(g.cap > g.len && g.data[g.len] == '\0');
  CHECK(strncmp(g.data, "[0:qqq", 6) == 0 && strlen(g.data) == g.len);
  size_t tlen = 0;
  char *taken = lf_dynbuf_take(&g, &tlen);
  CHECK(tlen == want && taken != NULL && taken[tlen] == '\0');
  CHECK(g.data == NULL && g.len == 0 && g.cap == 0 && g.max == (1u << 24));
  lf_free(taken);
  taken = lf_dynbuf_take(&g, &tlen); // empty: "" and not NULL
  CHECK(taken != NULL && taken[0] == '\0' && tlen == 0);
  lf_free(taken);
  lf_dynbuf_free(&g);

  // "The data is always NUL-terminated", also when only room was reserved.
  lf_dynbuf r;
  lf_dynbuf_init(&r, 100);
  small_blocks(true);
  CHECK(lf_dynbuf_reserve(&r, 10));
  small_blocks(false);
  CHECK(r.data != NULL && r.len == 0 && r.data[0] == '\0');
  lf_dynbuf_free(&r);

  lf_dynbuf_init(&r, 0);
  CHECK(!lf_dynbuf_addc(&r, 'a') && r.len == 0);
  lf_dynbuf_free(&r);
}

static __attribute__((format(printf, 2, 3))) lf_status set_via_v(lf_err *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  lf_status st = lf_err_setv(err, LF_ERR_STORE, "v.c", 7, fmt, ap);
  va_end(ap);
  return st;
}

static void test_err(void)
{
  lf_err err = {0};
  CHECK_EQ_INT(LF_ERR(&err, LF_ERR_IO, "first %d", 1), LF_ERR_IO);
  int line = __LINE__ - 1;
  CHECK_EQ_INT(LF_ERR(&err, LF_ERR_CORRUPT, "second"), LF_ERR_CORRUPT); // returned, not kept
  CHECK_EQ_INT(err.code, LF_ERR_IO);
  CHECK_STR(err.msg, "first 1");
  CHECK_EQ_INT(err.line, line);
  CHECK_CONTAINS(err.file, "test_fs.c");
  CHECK_EQ_INT(LF_ERR(NULL, LF_ERR_META, "nowhere"), LF_ERR_META);
  lf_err_clear(&err);
  CHECK(err.code == LF_OK && err.msg[0] == '\0' && err.file == NULL && err.line == 0);
  lf_err_clear(NULL);
  CHECK_EQ_INT(set_via_v(&err, "via %s", "setv"), LF_ERR_STORE);
  CHECK_STR(err.msg, "via setv");
  CHECK_EQ_INT(err.line, 7);

  lf_err_prefix(&err, "ctx %d", 2);
  CHECK_STR(err.msg, "ctx 2: via setv");
  lf_err_prefix(&err, "outer");
  CHECK_STR(err.msg, "outer: ctx 2: via setv");
  CHECK_EQ_INT(err.code, LF_ERR_STORE); // code and origin unchanged
  CHECK_EQ_INT(err.line, 7);
  lf_err none = {0};
  lf_err_prefix(&none, "ignored");
  CHECK(none.code == LF_OK && none.msg[0] == '\0');
  lf_err_prefix(NULL, "ignored");

  // Truncation, with a canary after the record.
  struct {
    lf_err e;
    char canary[32];
  } g;
  memset(&g, 0, sizeof(g));
  memset(g.canary, 0x5a, sizeof(g.canary));
  char *long_msg = lf_xmalloc(3000);
  memset(long_msg, 'm', 2999);
  long_msg[2999] = '\0';
  LF_ERR(&g.e, LF_ERR_IO, "%s", long_msg);
  CHECK_EQ_INT(strlen(g.e.msg), LF_ERR_MSG_SIZE - 1);
  lf_err_prefix(&g.e, "pre");
  CHECK_EQ_INT(strlen(g.e.msg), LF_ERR_MSG_SIZE - 1);
  CHECK(strncmp(g.e.msg, "pre: mmm", 8) == 0);
  lf_err_prefix(&g.e, "%s", long_msg); // a prefix longer than the whole buffer
  CHECK_EQ_INT(strlen(g.e.msg), LF_ERR_MSG_SIZE - 1);
  CHECK_EQ_INT(strspn(g.e.msg, "m"), LF_ERR_MSG_SIZE - 1);
  lf_err_clear(&g.e);
  LF_ERR(&g.e, LF_ERR_IO, "tail");
  long_msg[LF_ERR_MSG_SIZE - 3] = '\0'; // a prefix that leaves no room for ": tail"
  lf_err_prefix(&g.e, "%s", long_msg);
  CHECK_EQ_INT(strlen(g.e.msg), LF_ERR_MSG_SIZE - 1);
  CHECK(strncmp(g.e.msg + LF_ERR_MSG_SIZE - 3, ": ", 2) == 0);
  char ref[sizeof(g.canary)];
  memset(ref, 0x5a, sizeof(ref));
  CHECK(memcmp(g.canary, ref, sizeof(ref)) == 0);
  lf_free(long_msg);
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
  char *tmpl = lf_xasprintf("%s/test_fs.XXXXXX", base);
  if (mkdtemp(tmpl) == NULL) {
    fprintf(stderr, "mkdtemp '%s' failed: %s\n", tmpl, strerror(errno));
    return 1;
  }
  scratch = realpath(tmpl, NULL); // absolute and resolved, as getcwd() gives it
  lf_free(tmpl);
  if (scratch == NULL) {
    return 1;
  }
  mallopt(M_PERTURB, 0x5a);

  test_paths();
  test_mkdirs();
  test_read_file();
  test_write_atomic();
  test_concurrent_writes();
  test_rmtree();
  test_dynbuf();
  test_err();

  CHECK_EQ_INT(lf_fs_rmtree(scratch, &err), LF_OK);
  CHECK(!lf_fs_exists(scratch));
  free(scratch);
  for (int i = 0; i < npaths; i++) {
    lf_free(paths[i]);
  }
  return TEST_REPORT();
}
