// SPDX-License-Identifier: MIT
// This file contains the S3 object functions of luaflow.h (lf_ctx_s3_*), what `luaflow s3`
// runs: the semantics of `aws s3` (a file named after the key, a key after the file, a prefix
// taken as a directory by recursive commands) over the batch client of host/s3/. Recursive
// transfers become plans of objects run in windows, so that many files are in flight without
// all being open at once; streams (stdin, stdout) go through bounded memory.
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"
#include "s3/s3.h"

#define WINDOW 64                      // objects per batch of a plan (each holds a file open)
#define READ_CHUNK ((uint64_t)8 << 20) // bytes per ranged GET of a stream
#define READ_AHEAD 4                   // ranged GETs of a stream in flight
#define WRITE_MEM ((size_t)16 << 20)   // stream input up to this goes up from memory
#define IO_CHUNK ((size_t)1 << 20)

// One object of a plan.
typedef struct item {
  char *key;
  char *path; // the local file, or NULL (rm)
  uint64_t size;
  int64_t last_modified;
} item;

// The objects one call transfers or removes, in key order.
typedef struct plan {
  char *bucket;
  item *items;
  size_t n, cap;
} plan;

static lf_status usage(lf_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int by_key(const void *a, const void *b);
static lf_status parse(lf_ctx *ctx, const char *url, plan *p, char **key);
static char *dir_prefix(const char *key);
static void plan_add(plan *p, char *key, char *path, uint64_t size, int64_t mtime);
static void plan_free(plan *p, char *key);
static lf_status open_object(lf_ctx *ctx, const char *url, plan *p, char **key, lf_s3 **s3);
static lf_status plan_list(lf_ctx *ctx, plan *p, const char *prefix, const char *dir);
static lf_status plan_walk(plan *p, const char *root, const char *rel, const char *prefix,
                           int depth, lf_err *err);
static lf_status plan_run(lf_ctx *ctx, plan *p, lf_s3_kind kind, lf_object_fn fn, void *ud);

struct lf_s3 *lf_api_s3(lf_ctx *ctx)
{
  if (ctx->s3 == NULL) {
    lf_err err;
    lf_err_clear(&err);
    ctx->s3 = lf_s3_new(NULL, &err);
    if (ctx->s3 == NULL) {
      lf_api_fail(ctx, &err);
    }
  }
  return ctx->s3;
}

LF_API lf_status lf_ctx_s3_list(lf_ctx *ctx, const char *url, int recursive, lf_object_fn fn,
                                void *ud)
{
  plan p = {0};
  char *key = NULL;
  lf_status st = parse(ctx, url, &p, &key);
  lf_s3 *s3 = st == LF_OK ? lf_api_s3(ctx) : NULL;
  if (s3 == NULL) {
    plan_free(&p, key);
    return st != LF_OK ? st : ctx->err.code;
  }
  lf_s3_list l = {0};
  lf_err err;
  lf_err_clear(&err);
  st = lf_s3_list_objects(s3, p.bucket, key, recursive ? NULL : "/", 0, &l, &err);
  if (st != LF_OK) {
    lf_api_fail(ctx, &err);
  }
  for (size_t i = 0; st == LF_OK && fn != NULL && i < l.n; i++) {
    const lf_s3_entry *e = &l.items[i];
    char *u = lf_xasprintf("s3://%s/%s", p.bucket, e->key);
    lf_object_info o = {.url = u, .key = e->key, .is_prefix = e->is_prefix, .size = e->size,
                        .last_modified = e->last_modified};
    int stop = fn(ud, &o);
    lf_free(u);
    if (stop != 0) {
      break;
    }
  }
  lf_s3_list_free(&l);
  plan_free(&p, key);
  return st;
}

LF_API lf_status lf_ctx_s3_get(lf_ctx *ctx, const char *url, const char *path, int recursive,
                               lf_object_fn fn, void *ud)
{
  plan p = {0};
  char *key = NULL;
  const char *dest = path != NULL ? path : ".";
  size_t dlen = strlen(dest);
  bool into_dir = lf_fs_isdir(dest) || (dlen > 0 && dest[dlen - 1] == '/');
  lf_status st = parse(ctx, url, &p, &key);
  if (st != LF_OK) {
    return st;
  }
  if (recursive) {
    if (lf_fs_exists(dest) && !lf_fs_isdir(dest)) {
      st = usage(ctx, "cannot get '%s' into '%s' (not a directory)", url, dest);
    } else {
      char *prefix = dir_prefix(key);
      st = plan_list(ctx, &p, prefix, dest);
      lf_free(prefix);
    }
  } else if (key[0] == '\0') {
    st = usage(ctx, "'%s' names no object (expected s3://bucket/key)", url);
  } else if (into_dir) {
    const char *base = lf_path_basename(key);
    if (!lf_path_is_below(base)) {
      st = usage(ctx, "cannot name a file after '%s'; give a file name", url);
    } else {
      plan_add(&p, lf_xstrdup(key), lf_path_join(dest, base), 0, 0);
    }
  } else {
    plan_add(&p, lf_xstrdup(key), lf_xstrdup(dest), 0, 0);
  }
  if (st == LF_OK) {
    st = plan_run(ctx, &p, LF_S3_GET, fn, ud);
  }
  plan_free(&p, key);
  return st;
}

LF_API lf_status lf_ctx_s3_put(lf_ctx *ctx, const char *path, const char *url, int recursive,
                               lf_object_fn fn, void *ud)
{
  plan p = {0};
  char *key = NULL;
  lf_status st = parse(ctx, url, &p, &key);
  if (st != LF_OK) {
    return st;
  }
  size_t klen = strlen(key);
  if (recursive) {
    if (!lf_fs_isdir(path)) {
      st = usage(ctx, "cannot put '%s' recursively (not a directory)", path);
    } else {
      lf_err err;
      lf_err_clear(&err);
      char *prefix = dir_prefix(key);
      st = plan_walk(&p, path, "", prefix, 0, &err);
      lf_free(prefix);
      if (st != LF_OK) {
        lf_api_fail(ctx, &err);
      }
    }
  } else if (lf_fs_isdir(path)) {
    st = usage(ctx, "'%s' is a directory; put it recursively", path);
  } else if (klen == 0 || key[klen - 1] == '/') {
    const char *base = lf_path_basename(path);
    if (!lf_path_is_below(base)) {
      st = usage(ctx, "cannot name an object after '%s'; give a key in '%s'", path, url);
    } else {
      plan_add(&p, lf_xasprintf("%s%s", key, base), lf_xstrdup(path), 0, 0);
    }
  } else {
    plan_add(&p, lf_xstrdup(key), lf_xstrdup(path), 0, 0);
  }
  if (st == LF_OK && p.n > 1) {
    qsort(p.items, p.n, sizeof(item), by_key);
  }
  if (st == LF_OK) {
    st = plan_run(ctx, &p, LF_S3_PUT, fn, ud);
  }
  plan_free(&p, key);
  return st;
}

LF_API lf_status lf_ctx_s3_rm(lf_ctx *ctx, const char *url, int recursive, lf_object_fn fn,
                              void *ud)
{
  plan p = {0};
  char *key = NULL;
  lf_status st = parse(ctx, url, &p, &key);
  if (st != LF_OK) {
    return st;
  }
  if (recursive) {
    char *prefix = dir_prefix(key);
    st = plan_list(ctx, &p, prefix, NULL);
    lf_free(prefix);
  } else if (key[0] == '\0') {
    st = usage(ctx, "'%s' names no object (expected s3://bucket/key)", url);
  } else {
    plan_add(&p, lf_xstrdup(key), NULL, 0, 0);
  }
  if (st == LF_OK) {
    st = plan_run(ctx, &p, LF_S3_DELETE, fn, ud);
  }
  plan_free(&p, key);
  return st;
}

LF_API lf_status lf_ctx_s3_read(lf_ctx *ctx, const char *url, int fd)
{
  plan p = {0};
  char *key = NULL;
  lf_s3 *s3 = NULL;
  lf_status st = open_object(ctx, url, &p, &key, &s3);
  if (st != LF_OK) {
    return st;
  }
  lf_s3_op ops[READ_AHEAD];
  memset(ops, 0, sizeof(ops));
  lf_err err;
  lf_err_clear(&err);
  // The first range tells the size and ETag; the other ranges must come from that version.
  ops[0] = (lf_s3_op){.kind = LF_S3_GET, .bucket = p.bucket, .key = key, .has_range = true,
                      .range_start = 0, .range_end = READ_CHUNK - 1};
  st = lf_s3_run(s3, ops, 1, &err);
  lf_s3_info info;
  lf_err herr;
  lf_err_clear(&herr);
  if (st != LF_OK && lf_s3_head(s3, p.bucket, key, &info, &herr) == LF_OK && info.size == 0) {
    // An empty object has no byte 0 to ask for: nothing to write.
    plan_free(&p, key);
    return LF_OK;
  }
  info = ops[0].info;
  uint64_t off = 0;
  size_t m = st == LF_OK ? 1 : 0;
  while (st == LF_OK) {
    for (size_t i = 0; i < m && st == LF_OK; i++) {
      int e = 0;
      if (strcmp(ops[i].info.etag, info.etag) != 0) {
        st = LF_ERR(&err, LF_ERR_STORE, "cannot get '%s' (the object changed while it was read)",
                    url);
      } else {
        e = lf_fs_write_all(fd, ops[i].out, ops[i].out_len);
      }
      if (e != 0) {
        st = LF_ERR(&err, LF_ERR_IO, "cannot write '%s' to the output (%s)", url, strerror(e));
      }
      off += ops[i].out_len;
    }
    for (size_t i = 0; i < m; i++) {
      lf_free(ops[i].out);
      ops[i].out = NULL;
    }
    if (st != LF_OK || off >= info.size) {
      break;
    }
    uint64_t next = off;
    for (m = 0; m < READ_AHEAD && next < info.size; m++) {
      uint64_t end = info.size - next > READ_CHUNK ? next + READ_CHUNK : info.size;
      ops[m] = (lf_s3_op){.kind = LF_S3_GET, .bucket = p.bucket, .key = key, .has_range = true,
                          .range_start = next, .range_end = end - 1};
      next = end;
    }
    st = lf_s3_run(s3, ops, m, &err);
    if (st != LF_OK) {
      for (size_t i = 0; i < m; i++) {
        lf_free(ops[i].out);
      }
    }
  }
  if (st != LF_OK) {
    lf_api_fail(ctx, &err);
  }
  plan_free(&p, key);
  return st;
}

LF_API lf_status lf_ctx_s3_write(lf_ctx *ctx, int fd, const char *url)
{
  plan p = {0};
  char *key = NULL;
  lf_status st = parse(ctx, url, &p, &key);
  size_t klen = st == LF_OK ? strlen(key) : 0;
  if (st == LF_OK && (klen == 0 || key[klen - 1] == '/')) {
    st = usage(ctx, "'%s' names no object; input needs a key (s3://bucket/key)", url);
  }
  // The client first: a bad configuration shows before any input is read.
  lf_s3 *s3 = st == LF_OK ? lf_api_s3(ctx) : NULL;
  if (s3 == NULL) {
    plan_free(&p, key);
    return st != LF_OK ? st : ctx->err.code;
  }
  lf_err err;
  lf_err_clear(&err);
  lf_dynbuf mem;
  lf_dynbuf_init(&mem, WRITE_MEM);
  char *chunk = lf_xmalloc(IO_CHUNK);
  char *tmp = NULL;
  int tfd = -1;
  for (;;) {
    ssize_t got = read(fd, chunk, IO_CHUNK);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      st = LF_ERR(&err, LF_ERR_IO, "cannot read the input for '%s' (%s)", url, strerror(errno));
      break;
    }
    if (got == 0) {
      break;
    }
    if (tfd < 0 && lf_dynbuf_add(&mem, chunk, (size_t)got)) {
      continue;
    }
    if (tfd < 0) {
      // Too much for memory: spool everything to a temp file and upload that (multipart).
      const char *dir = getenv("TMPDIR");
      tmp = lf_xasprintf("%s/luaflow-s3.XXXXXX", dir != NULL && dir[0] != '\0' ? dir : "/tmp");
      tfd = mkstemp(tmp);
      if (tfd < 0) {
        st = LF_ERR(&err, LF_ERR_IO, "cannot create a temp file in '%s' (%s)",
                    dir != NULL && dir[0] != '\0' ? dir : "/tmp", strerror(errno));
        break;
      }
      int e = lf_fs_write_all(tfd, mem.data, mem.len);
      if (e != 0) {
        st = LF_ERR(&err, LF_ERR_IO, "cannot write '%s' (%s)", tmp, strerror(e));
        break;
      }
      lf_dynbuf_free(&mem);
    }
    int e = lf_fs_write_all(tfd, chunk, (size_t)got);
    if (e != 0) {
      st = LF_ERR(&err, LF_ERR_IO, "cannot write '%s' (%s)", tmp, strerror(e));
      break;
    }
  }
  lf_free(chunk);
  if (st == LF_OK && tfd >= 0) {
    st = lf_s3_put_file(s3, p.bucket, key, tmp, &err);
  } else if (st == LF_OK) {
    st = lf_s3_put(s3, p.bucket, key, mem.data != NULL ? mem.data : "", mem.len, false, NULL,
                   &err);
  }
  if (tfd >= 0) {
    close(tfd);
  }
  if (tmp != NULL) {
    unlink(tmp);
    lf_free(tmp);
  }
  lf_dynbuf_free(&mem);
  if (st != LF_OK) {
    lf_api_fail(ctx, &err);
  }
  plan_free(&p, key);
  return st;
}

LF_API lf_status lf_ctx_s3_presign(lf_ctx *ctx, const char *url, const char *method,
                                   int64_t expires_s, char **out)
{
  *out = NULL;
  plan p = {0};
  char *key = NULL;
  lf_s3 *s3 = NULL;
  lf_status st = open_object(ctx, url, &p, &key, &s3);
  if (st != LF_OK) {
    return st;
  }
  lf_err err;
  lf_err_clear(&err);
  *out = lf_s3_presign(s3, method != NULL ? method : "GET", p.bucket, key, expires_s, &err);
  st = *out != NULL ? LF_OK : lf_api_fail(ctx, &err);
  plan_free(&p, key);
  return st;
}

// Sets a usage error on the context.
static lf_status usage(lf_ctx *ctx, const char *fmt, ...)
{
  lf_err err;
  lf_err_clear(&err);
  va_list ap;
  va_start(ap, fmt);
  lf_err_setv(&err, LF_ERR_USAGE, __FILE__, __LINE__, fmt, ap);
  va_end(ap);
  return lf_api_fail(ctx, &err);
}

static int by_key(const void *a, const void *b)
{
  return strcmp(((const item *)a)->key, ((const item *)b)->key);
}

// Parses the URL into p->bucket and *key; on failure nothing is allocated.
static lf_status parse(lf_ctx *ctx, const char *url, plan *p, char **key)
{
  lf_err err;
  lf_err_clear(&err);
  if (lf_s3_parse_url(url, &p->bucket, key, &err) != LF_OK) {
    return lf_api_fail(ctx, &err);
  }
  return LF_OK;
}

// A prefix taken as a directory: "data" means "data/" (not "database"), as in `aws s3`.
static char *dir_prefix(const char *key)
{
  size_t n = strlen(key);
  return n == 0 || key[n - 1] == '/' ? lf_xstrdup(key) : lf_xasprintf("%s/", key);
}

// Takes ownership of key and path.
static void plan_add(plan *p, char *key, char *path, uint64_t size, int64_t mtime)
{
  if (p->n == p->cap) {
    p->cap = p->cap != 0 ? 2 * p->cap : 16;
    p->items = lf_xrealloc(p->items, p->cap * sizeof(item));
  }
  p->items[p->n++] = (item){.key = key, .path = path, .size = size, .last_modified = mtime};
}

// Parses the URL of one object (a key is required) and gets the client; on failure
// frees what it made and returns the status (the ctx error is set).
static lf_status open_object(lf_ctx *ctx, const char *url, plan *p, char **key, lf_s3 **s3)
{
  lf_status st = parse(ctx, url, p, key);
  if (st == LF_OK && (*key)[0] == '\0') {
    st = usage(ctx, "'%s' names no object (expected s3://bucket/key)", url);
  }
  *s3 = st == LF_OK ? lf_api_s3(ctx) : NULL;
  if (*s3 == NULL) {
    plan_free(p, *key);
    *key = NULL;
    return st != LF_OK ? st : ctx->err.code;
  }
  return LF_OK;
}

static void plan_free(plan *p, char *key)
{
  for (size_t i = 0; i < p->n; i++) {
    lf_free(p->items[i].key);
    lf_free(p->items[i].path);
  }
  lf_free(p->items);
  lf_free(p->bucket);
  lf_free(key);
}

// Adds every object below `prefix`, with a path under `dir` (keeping the key's path below
// the prefix) unless `dir` is NULL. Directory markers (keys ending in '/') are no files.
static lf_status plan_list(lf_ctx *ctx, plan *p, const char *prefix, const char *dir)
{
  lf_s3 *s3 = lf_api_s3(ctx);
  if (s3 == NULL) {
    return ctx->err.code;
  }
  lf_s3_list l = {0};
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_s3_list_objects(s3, p->bucket, prefix, NULL, 0, &l, &err);
  size_t plen = strlen(prefix);
  for (size_t i = 0; st == LF_OK && i < l.n; i++) {
    const lf_s3_entry *e = &l.items[i];
    const char *rel = e->key + plen;
    size_t rlen = strlen(rel);
    if (dir == NULL) {
      plan_add(p, lf_xstrdup(e->key), NULL, e->size, e->last_modified);
    } else if (rlen > 0 && rel[rlen - 1] == '/') {
      continue;
    } else if (!lf_path_is_below(rel)) {
      st = LF_ERR(&err, LF_ERR_STORE, "refusing to write key '%s' outside '%s'", e->key, dir);
    } else {
      plan_add(p, lf_xstrdup(e->key), lf_path_join(dir, rel), e->size, e->last_modified);
    }
  }
  lf_s3_list_free(&l);
  return st != LF_OK ? lf_api_fail(ctx, &err) : LF_OK;
}

// Adds every regular file below root/rel (links to files followed, links to directories not,
// so a link cycle cannot recur) as prefix + its path below root.
static lf_status plan_walk(plan *p, const char *root, const char *rel, const char *prefix,
                           int depth, lf_err *err)
{
  char *dir = rel[0] != '\0' ? lf_path_join(root, rel) : lf_xstrdup(root);
  DIR *d = depth < 256 ? opendir(dir) : NULL;
  if (d == NULL) {
    lf_status st = LF_ERR(err, LF_ERR_IO, "cannot read directory '%s' (%s)", dir,
                          depth < 256 ? strerror(errno) : "nested too deeply");
    lf_free(dir);
    return st;
  }
  lf_status st = LF_OK;
  for (struct dirent *e = readdir(d); e != NULL && st == LF_OK; e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
      continue;
    }
    char *r = rel[0] != '\0' ? lf_xasprintf("%s/%s", rel, e->d_name) : lf_xstrdup(e->d_name);
    char *full = lf_path_join(dir, e->d_name);
    struct stat sb;
    if (lstat(full, &sb) != 0) {
      st = LF_ERR(err, LF_ERR_IO, "cannot read '%s' (%s)", full, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      st = plan_walk(p, root, r, prefix, depth + 1, err);
    } else if (S_ISREG(sb.st_mode) || (S_ISLNK(sb.st_mode) && stat(full, &sb) == 0 &&
                                       S_ISREG(sb.st_mode))) {
      plan_add(p, lf_xasprintf("%s%s", prefix, r), full, (uint64_t)sb.st_size, 0);
      full = NULL;
    }
    lf_free(full);
    lf_free(r);
  }
  closedir(d);
  lf_free(dir);
  return st;
}

// Runs the plan's operations, WINDOW at a time; stops at the first window with a failure.
// Reports each object done to `fn` (if any) until it asks to stop.
static lf_status plan_run(lf_ctx *ctx, plan *p, lf_s3_kind kind, lf_object_fn fn, void *ud)
{
  if (p->n == 0) {
    return LF_OK;
  }
  lf_s3 *s3 = lf_api_s3(ctx);
  if (s3 == NULL) {
    return ctx->err.code;
  }
  size_t w = p->n < WINDOW ? p->n : WINDOW;
  lf_s3_op *ops = lf_xcalloc(w, sizeof(*ops));
  lf_status st = LF_OK;
  bool stop = fn == NULL;
  for (size_t at = 0; at < p->n && st == LF_OK; at += w) {
    size_t m = p->n - at < w ? p->n - at : w;
    for (size_t i = 0; i < m; i++) {
      const item *it = &p->items[at + i];
      ops[i] = (lf_s3_op){.kind = kind, .bucket = p->bucket, .key = it->key, .path = it->path};
    }
    lf_err err;
    lf_err_clear(&err);
    st = lf_s3_run(s3, ops, m, &err);
    if (st != LF_OK) {
      lf_api_fail(ctx, &err);
    }
    for (size_t i = 0; st == LF_OK && !stop && i < m; i++) {
      const item *it = &p->items[at + i];
      bool deleted = kind == LF_S3_DELETE;
      char *u = lf_xasprintf("s3://%s/%s", p->bucket, it->key);
      lf_object_info o = {.url = u, .key = it->key, .path = it->path,
                          .size = deleted ? it->size : ops[i].info.size,
                          .last_modified = deleted ? it->last_modified : ops[i].info.last_modified};
      stop = fn(ud, &o) != 0;
      lf_free(u);
    }
  }
  lf_free(ops);
  return st;
}
