// SPDX-License-Identifier: MIT
// This file contains the S3 backend of the datastore (store/store.h): the objects of a root
// s3://bucket/prefix are the keys prefix/<key>, read and written with the client of s3.h.
// Writes are single PUTs, atomic by S3's own rule (a reader sees the old object or the new
// one); write-once objects (blobs, run-id reservations) carry If-None-Match: *, so of two
// writers of one key exactly one creates it and the other learns that it existed. Listing
// is ListObjectsV2 with the delimiter '/', so "directories" are common prefixes. No staged
// writes: the blob layer hashes a blob first and then PUTs it (multipart when large).
//
// lf_datastore_open picks the backend for a root, so callers need not know the scheme.
#include "s3/s3_store.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/settings.h"
#include "s3/s3.h"

typedef struct s3_store {
  lf_s3 *s3;
  char *bucket;
  char *prefix; // "" or "a/b/": keys are prefix + key
  char *url;    // "s3://bucket" or "s3://bucket/a/b", for messages
} s3_store;

static char *full_key(const s3_store *s, const char *key)
{
  return lf_xasprintf("%s%s", s->prefix, key);
}

static lf_status st_put(void *self, const char *key, const void *data, size_t len,
                        bool write_once, bool *existed, lf_err *err)
{
  s3_store *s = self;
  char *k = full_key(s, key);
  bool ex = false;
  lf_status st = lf_s3_put(s->s3, s->bucket, k, data, len, write_once, &ex, err);
  lf_free(k);
  if (existed != NULL) {
    *existed = st == LF_OK && ex;
  }
  return st;
}

static lf_status st_get(void *self, const char *key, size_t max, char **data, size_t *len,
                        lf_err *err)
{
  s3_store *s = self;
  char *k = full_key(s, key);
  // The client's 0 means "no limit"; the store's max is always a real bound.
  lf_status st = lf_s3_get(s->s3, s->bucket, k, max > 0 ? max : 1, data, len, err);
  lf_free(k);
  return st;
}

static lf_status st_exists(void *self, const char *key, bool *out, lf_err *err)
{
  s3_store *s = self;
  char *k = full_key(s, key);
  lf_s3_info info;
  lf_err e;
  lf_err_clear(&e);
  lf_status st = lf_s3_head(s->s3, s->bucket, k, &info, &e);
  lf_free(k);
  *out = st == LF_OK;
  if (st == LF_ERR_NOTFOUND) {
    return LF_OK;
  }
  if (st != LF_OK) {
    *err = e;
  }
  return st;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static lf_status st_list(void *self, const char *prefix, char ***names, size_t *n, lf_err *err)
{
  s3_store *s = self;
  *names = NULL;
  *n = 0;
  size_t plen = strlen(prefix);
  char *dir = lf_xasprintf("%s%s%s", s->prefix, prefix,
                           plen > 0 && prefix[plen - 1] != '/' ? "/" : "");
  lf_s3_list l;
  memset(&l, 0, sizeof(l));
  lf_status st = lf_s3_list_objects(s->s3, s->bucket, dir, "/", 0, &l, err);
  size_t dlen = strlen(dir);
  lf_free(dir);
  if (st != LF_OK) {
    lf_s3_list_free(&l);
    return st;
  }
  char **out = l.n > 0 ? lf_xmalloc(l.n * sizeof(*out)) : NULL;
  size_t cnt = 0;
  for (size_t i = 0; i < l.n; i++) {
    const char *name = l.items[i].key + dlen;
    size_t len = strlen(name);
    if (l.items[i].is_prefix && len > 0 && name[len - 1] == '/') {
      len--;
    }
    if (len > 0) {
      out[cnt++] = lf_xmemdupz(name, len);
    }
  }
  lf_s3_list_free(&l);
  if (cnt > 1) {
    qsort(out, cnt, sizeof(*out), cmp_names);
  }
  // An object "a" beside objects under "a/" is one name.
  size_t w = 0;
  for (size_t i = 0; i < cnt; i++) {
    if (w > 0 && strcmp(out[w - 1], out[i]) == 0) {
      lf_free(out[i]);
    } else {
      out[w++] = out[i];
    }
  }
  if (w == 0) {
    lf_free(out);
    out = NULL;
  }
  *names = out;
  *n = w;
  return LF_OK;
}

static lf_status st_remove(void *self, const char *key, lf_err *err)
{
  s3_store *s = self;
  char *k = full_key(s, key);
  lf_status st = lf_s3_delete(s->s3, s->bucket, k, err);
  lf_free(k);
  return st;
}

static char *st_describe(void *self, const char *key)
{
  s3_store *s = self;
  return key[0] != '\0' ? lf_xasprintf("%s/%s", s->url, key) : lf_xstrdup(s->url);
}

static void st_free(void *self)
{
  s3_store *s = self;
  lf_s3_free(s->s3);
  lf_free(s->bucket);
  lf_free(s->prefix);
  lf_free(s->url);
  lf_free(s);
}

static const lf_store_backend s3_backend = {
  .name = "s3",
  .put = st_put,
  .get = st_get,
  .exists = st_exists,
  .list = st_list,
  .remove = st_remove,
  .describe = st_describe,
  .free = st_free,
};

lf_store *lf_s3_store_open(const char *url, lf_err *err)
{
  char *bucket = NULL;
  char *key = NULL;
  if (lf_s3_parse_url(url, &bucket, &key, err) != LF_OK) {
    return NULL;
  }
  // The prefix is a "directory": no empty components, none that a store key could not be.
  size_t klen = strlen(key);
  while (klen > 0 && key[klen - 1] == '/') {
    key[--klen] = '\0';
  }
  if (klen > 512 || strstr(key, "//") != NULL || key[0] == '/') {
    LF_ERR(err, LF_ERR_USAGE, "the datastore root '%s' is not a usable S3 prefix (empty "
           "path components, or longer than 512 bytes)", url);
    lf_free(bucket);
    lf_free(key);
    return NULL;
  }
  lf_s3 *s3 = lf_s3_new(NULL, err);
  if (s3 == NULL) {
    lf_free(bucket);
    lf_free(key);
    return NULL;
  }
  s3_store *s = lf_xcalloc(1, sizeof(*s));
  s->s3 = s3;
  s->bucket = bucket;
  s->prefix = klen > 0 ? lf_xasprintf("%s/", key) : lf_xstrdup("");
  s->url = klen > 0 ? lf_xasprintf("s3://%s/%s", bucket, key) : lf_xasprintf("s3://%s", bucket);
  lf_free(key);
  const lf_store_backend *be = &s3_backend;
  void *self = s;
  lf_store_fault_wrap(&be, &self);
  return lf_store_new(be, self);
}

lf_store *lf_datastore_open(const char *root, lf_err *err)
{
  if (lf_settings_root_is_s3(root)) {
    return lf_s3_store_open(root, err);
  }
  return lf_store_open_local(root, err);
}
