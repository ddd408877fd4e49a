// SPDX-License-Identifier: MIT
// This file contains the local filesystem backend of the datastore: objects are files under a
// root directory, keys are relative paths. Writes are atomic (a temp file in the target's
// directory, then rename; write-once objects use link(), which fails if the name exists, so
// concurrent writers of one blob are safe and exactly one of them creates it). Temp files
// start with '.' or end in ".tmp.<pid>" and are never listed.
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fs.h"

typedef struct fs_store {
  char *root; // absolute
} fs_store;

typedef struct fs_stage {
  char *tmp;
  int fd;
  fs_store *fs;
} fs_stage;

static lf_status fs_put(void *self, const char *key, const void *data, size_t len,
                        bool write_once, bool *existed, lf_err *err);
static lf_status fs_get(void *self, const char *key, size_t max, char **data, size_t *len,
                        lf_err *err);
static lf_status fs_exists(void *self, const char *key, bool *out, lf_err *err);
static lf_status fs_list(void *self, const char *prefix, char ***names, size_t *n, lf_err *err);
static lf_status fs_remove(void *self, const char *key, lf_err *err);
static char *fs_describe(void *self, const char *key);
static void fs_free(void *self);
static lf_status fs_stage_open(void *self, const char *dir, void **stage, lf_err *err);
static lf_status fs_stage_write(void *stage, const void *data, size_t len, lf_err *err);
static lf_status fs_stage_commit(void *stage, const char *key, bool write_once, bool *existed,
                                 lf_err *err);
static void fs_stage_abort(void *stage);
static bool is_temp_name(const char *name);
static int cmp_names(const void *a, const void *b);

static const lf_store_backend fs_backend = {
  .name = "local",
  .put = fs_put,
  .get = fs_get,
  .exists = fs_exists,
  .list = fs_list,
  .remove = fs_remove,
  .describe = fs_describe,
  .free = fs_free,
  .stage_open = fs_stage_open,
  .stage_write = fs_stage_write,
  .stage_commit = fs_stage_commit,
  .stage_abort = fs_stage_abort,
};

lf_store *lf_store_open_local(const char *root, lf_err *err)
{
  char *abs = lf_path_absolute(root);
  if (lf_fs_mkdirs(abs, err) != LF_OK) {
    lf_free(abs);
    return NULL;
  }
  fs_store *fs = lf_xcalloc(1, sizeof(*fs));
  fs->root = abs;
  const lf_store_backend *be = &fs_backend;
  void *self = fs;
  lf_store_fault_wrap(&be, &self);
  return lf_store_new(be, self);
}

static lf_status fs_put(void *self, const char *key, const void *data, size_t len,
                        bool write_once, bool *existed, lf_err *err)
{
  fs_store *fs = self;
  char *path = lf_path_join(fs->root, key);
  lf_status s = lf_fs_write_atomic(path, data, len, write_once, existed, err);
  lf_free(path);
  return s;
}

// Like lf_fs_read_file, but allocates with lf_store_alloc: objects can be GiB-sized, come
// from disk, and must not abort the process when memory is short.
static lf_status fs_get(void *self, const char *key, size_t max, char **data, size_t *len,
                        lf_err *err)
{
  fs_store *fs = self;
  *data = NULL;
  *len = 0;
  char *path = lf_path_join(fs->root, key);
  lf_status s = LF_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      s = LF_ERR(err, LF_ERR_NOTFOUND, "cannot read '%s' (not found)", path);
    } else {
      s = LF_ERR(err, LF_ERR_IO, "cannot open '%s' (%s)", path, strerror(errno));
    }
  } else if (fstat(fd, &sb) != 0) {
    s = LF_ERR(err, LF_ERR_IO, "cannot stat '%s' (%s)", path, strerror(errno));
  } else if (S_ISDIR(sb.st_mode)) {
    s = LF_ERR(err, LF_ERR_NOTFOUND, "cannot read '%s' (a directory, not an object)", path);
  } else if ((uint64_t)sb.st_size > (uint64_t)max) {
    s = LF_ERR(err, LF_ERR_STORE, "cannot read '%s' (%lld bytes, more than the limit of %zu)",
               path, (long long)sb.st_size, max);
  }
  if (s != LF_OK) {
    if (fd >= 0) {
      close(fd);
    }
    lf_free(path);
    return s;
  }
  size_t size = (size_t)sb.st_size;
  char *buf = lf_store_alloc(size + 1);
  if (buf == NULL) {
    close(fd);
    s = LF_ERR(err, LF_ERR_NOMEM, "cannot read '%s' (cannot allocate %zu bytes)", path, size);
    lf_free(path);
    return s;
  }
  // Objects are immutable once published (a replacement is a new inode), so the size from
  // fstat holds; a short read can only mean the file was truncated behind our back.
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      s = LF_ERR(err, LF_ERR_IO, "cannot read '%s' (%s)", path, strerror(errno));
      break;
    }
    if (r == 0) {
      break;
    }
    got += (size_t)r;
  }
  close(fd);
  lf_free(path);
  if (s != LF_OK) {
    lf_free(buf);
    return s;
  }
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return LF_OK;
}

static lf_status fs_exists(void *self, const char *key, bool *out, lf_err *err)
{
  fs_store *fs = self;
  char *path = lf_path_join(fs->root, key);
  struct stat sb;
  lf_status s = LF_OK;
  *out = stat(path, &sb) == 0;
  if (!*out && errno != ENOENT && errno != ENOTDIR) {
    s = LF_ERR(err, LF_ERR_IO, "cannot stat '%s' (%s)", path, strerror(errno));
  }
  lf_free(path);
  return s;
}

static lf_status fs_list(void *self, const char *prefix, char ***names, size_t *n, lf_err *err)
{
  fs_store *fs = self;
  *names = NULL;
  *n = 0;
  char *path = prefix[0] != '\0' ? lf_path_join(fs->root, prefix) : lf_xstrdup(fs->root);
  DIR *d = opendir(path);
  if (d == NULL) {
    lf_status s = LF_OK;
    if (errno != ENOENT && errno != ENOTDIR) {
      s = LF_ERR(err, LF_ERR_IO, "cannot list '%s' (%s)", path, strerror(errno));
    }
    lf_free(path);
    return s;
  }
  char **out = NULL;
  size_t cnt = 0;
  size_t cap = 0;
  struct dirent *de;
  for (;;) {
    errno = 0;
    de = readdir(d);
    if (de == NULL) {
      break;
    }
    if (de->d_name[0] == '.' || is_temp_name(de->d_name)) {
      continue; // ".", "..", and temp files of writers in progress (or killed)
    }
    if (cnt == cap) {
      cap = cap != 0 ? cap * 2 : 16;
      out = lf_xrealloc(out, cap * sizeof(*out));
    }
    out[cnt++] = lf_xstrdup(de->d_name);
  }
  int e = errno;
  closedir(d);
  if (e != 0) {
    lf_store_free_names(out, cnt);
    lf_status s = LF_ERR(err, LF_ERR_IO, "cannot list '%s' (%s)", path, strerror(e));
    lf_free(path);
    return s;
  }
  lf_free(path);
  if (cnt > 1) {
    qsort(out, cnt, sizeof(*out), cmp_names);
  }
  *names = out;
  *n = cnt;
  return LF_OK;
}

static lf_status fs_remove(void *self, const char *key, lf_err *err)
{
  fs_store *fs = self;
  char *path = lf_path_join(fs->root, key);
  lf_status s = LF_OK;
  if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
    s = LF_ERR(err, LF_ERR_IO, "cannot remove '%s' (%s)", path, strerror(errno));
  }
  lf_free(path);
  return s;
}

static char *fs_describe(void *self, const char *key)
{
  fs_store *fs = self;
  return key[0] != '\0' ? lf_path_join(fs->root, key) : lf_xstrdup(fs->root);
}

static void fs_free(void *self)
{
  fs_store *fs = self;
  if (fs != NULL) {
    lf_free(fs->root);
    lf_free(fs);
  }
}

static lf_status fs_stage_open(void *self, const char *dir, void **stage, lf_err *err)
{
  fs_store *fs = self;
  *stage = NULL;
  char *dpath = lf_path_join(fs->root, dir);
  lf_status s = lf_fs_mkdirs(dpath, err);
  if (s != LF_OK) {
    lf_free(dpath);
    return s;
  }
  fs_stage *sg = lf_xcalloc(1, sizeof(*sg));
  sg->fs = fs;
  sg->fd = -1;
  // pid and the stage's address are unique among live writers on this host; O_EXCL settles
  // the rest (other hosts on a shared filesystem).
  for (int attempt = 0; attempt < 100 && sg->fd < 0; attempt++) {
    lf_free(sg->tmp);
    sg->tmp = lf_xasprintf("%s/.lf-tmp-%ld-%lx-%d", dpath, (long)getpid(),
                           (unsigned long)(uintptr_t)sg, attempt);
    sg->fd = open(sg->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (sg->fd < 0 && errno != EEXIST) {
      break;
    }
  }
  if (sg->fd < 0) {
    s = LF_ERR(err, LF_ERR_IO, "cannot create '%s' (%s)", sg->tmp, strerror(errno));
    lf_free(sg->tmp);
    lf_free(sg);
  } else {
    *stage = sg;
  }
  lf_free(dpath);
  return s;
}

static lf_status fs_stage_write(void *stage, const void *data, size_t len, lf_err *err)
{
  fs_stage *sg = stage;
  int e = lf_fs_write_all(sg->fd, data, len);
  if (e != 0) {
    return LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", sg->tmp, strerror(e));
  }
  return LF_OK;
}

static lf_status fs_stage_commit(void *stage, const char *key, bool write_once, bool *existed,
                                 lf_err *err)
{
  fs_stage *sg = stage;
  if (existed != NULL) {
    *existed = false;
  }
  lf_status s = LF_OK;
  char *path = lf_path_join(sg->fs->root, key);
  char *dir = lf_path_dirname(path);
  if (close(sg->fd) != 0) {
    s = LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", sg->tmp, strerror(errno));
  }
  if (s == LF_OK) {
    s = lf_fs_mkdirs(dir, err);
  }
  if (s == LF_OK && write_once) {
    if (link(sg->tmp, path) != 0) {
      if (errno == EEXIST) {
        if (existed != NULL) {
          *existed = true;
        }
      } else {
        s = LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", path, strerror(errno));
      }
    }
  } else if (s == LF_OK && rename(sg->tmp, path) != 0) {
    s = LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", path, strerror(errno));
  }
  if (write_once || s != LF_OK) {
    unlink(sg->tmp);
  }
  lf_free(dir);
  lf_free(path);
  lf_free(sg->tmp);
  lf_free(sg);
  return s;
}

static void fs_stage_abort(void *stage)
{
  fs_stage *sg = stage;
  close(sg->fd);
  unlink(sg->tmp);
  lf_free(sg->tmp);
  lf_free(sg);
}

// Temp files of lf_fs_write_atomic: "<name>.tmp.<pid>".
static bool is_temp_name(const char *name)
{
  const char *t = strstr(name, ".tmp.");
  if (t == NULL) {
    return false;
  }
  const char *p = t + 5;
  if (*p == '\0') {
    return false;
  }
  while (*p >= '0' && *p <= '9') {
    p++;
  }
  return *p == '\0';
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}
