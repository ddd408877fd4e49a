// SPDX-License-Identifier: MIT
// This file contains path helpers and the atomic file writes the local datastore relies on.
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

char *lf_path_join(const char *a, const char *b)
{
  size_t la = strlen(a);
  while (la > 1 && a[la - 1] == '/') {
    la--;
  }
  while (*b == '/' && la > 0) {
    b++;
  }
  if (la == 0) {
    return lf_xstrdup(b);
  }
  size_t lb = strlen(b);
  char *out = lf_xmalloc(la + lb + 2);
  memcpy(out, a, la);
  size_t n = la;
  if (out[n - 1] != '/') {
    out[n++] = '/';
  }
  memcpy(out + n, b, lb + 1);
  return out;
}

char *lf_path_joinv(const char *first, ...)
{
  char *acc = lf_xstrdup(first);
  va_list ap;
  va_start(ap, first);
  const char *part;
  while ((part = va_arg(ap, const char *)) != NULL) {
    char *next = lf_path_join(acc, part);
    lf_free(acc);
    acc = next;
  }
  va_end(ap);
  return acc;
}

char *lf_path_dirname(const char *path)
{
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    return lf_xstrdup(".");
  }
  if (slash == path) {
    return lf_xstrdup("/");
  }
  return lf_xmemdupz(path, (size_t)(slash - path));
}

const char *lf_path_basename(const char *path)
{
  const char *slash = strrchr(path, '/');
  return slash != NULL ? slash + 1 : path;
}

bool lf_path_is_below(const char *rel)
{
  if (rel[0] == '\0' || rel[0] == '/') {
    return false;
  }
  for (const char *p = rel; *p != '\0';) {
    size_t n = strcspn(p, "/");
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
      return false;
    }
    p += n;
    if (*p == '/') {
      p++;
    }
  }
  return true;
}

char *lf_path_absolute(const char *path)
{
  if (path[0] == '/') {
    return lf_xstrdup(path);
  }
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == NULL) {
    return lf_xstrdup(path);
  }
  const char *p = path;
  while (p[0] == '.' && p[1] == '/') {
    p += 2;
  }
  if (strcmp(p, ".") == 0) {
    return lf_xstrdup(cwd);
  }
  return lf_path_join(cwd, p);
}

lf_status lf_fs_mkdirs(const char *path, lf_err *err)
{
  if (mkdir(path, 0755) == 0 || errno == EEXIST) {
    if (lf_fs_isdir(path)) {
      return LF_OK;
    }
    return LF_ERR(err, LF_ERR_IO, "cannot create directory '%s' (a file is in the way)", path);
  }
  if (errno != ENOENT) {
    return LF_ERR(err, LF_ERR_IO, "cannot create directory '%s' (%s)", path, strerror(errno));
  }
  char *parent = lf_path_dirname(path);
  lf_status st = LF_OK;
  if (strcmp(parent, path) != 0) {
    st = lf_fs_mkdirs(parent, err);
  }
  lf_free(parent);
  if (st != LF_OK) {
    return st;
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    return LF_ERR(err, LF_ERR_IO, "cannot create directory '%s' (%s)", path, strerror(errno));
  }
  return LF_OK;
}

bool lf_fs_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

bool lf_fs_isdir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

lf_status lf_fs_read_file(const char *path, size_t max, char **data, size_t *len, lf_err *err)
{
  *data = NULL;
  if (len != NULL) {
    *len = 0;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return LF_ERR(err, LF_ERR_NOTFOUND, "no file '%s'", path);
    }
    return LF_ERR(err, LF_ERR_IO, "cannot open '%s' (%s)", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return LF_ERR(err, LF_ERR_IO, "cannot stat '%s' (%s)", path, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (is a directory)", path);
  }
  if ((uint64_t)st.st_size > (uint64_t)max) {
    close(fd);
    return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (%lld bytes, more than the limit of %zu)",
                  path, (long long)st.st_size, max);
  }
  lf_dynbuf b;
  lf_dynbuf_init(&b, max);
  if (!lf_dynbuf_reserve(&b, (size_t)st.st_size)) {
    close(fd);
    return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (too large)", path);
  }
  for (;;) {
    if (b.len == max) {
      // Full: the file fits only if nothing is left to read.
      char probe;
      ssize_t n = read(fd, &probe, 1);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n == 0) {
        break;
      }
      close(fd);
      lf_dynbuf_free(&b);
      if (n < 0) {
        return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (%s)", path, strerror(errno));
      }
      return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (larger than the limit of %zu bytes)",
                    path, max);
    }
    size_t want = max - b.len < 65536 ? max - b.len : 65536;
    if (!lf_dynbuf_reserve(&b, want)) {
      close(fd);
      lf_dynbuf_free(&b);
      return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (out of buffer space)", path);
    }
    ssize_t n = read(fd, b.data + b.len, want);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      close(fd);
      lf_dynbuf_free(&b);
      return LF_ERR(err, LF_ERR_IO, "cannot read '%s' (%s)", path, strerror(e));
    }
    if (n == 0) {
      break;
    }
    b.len += (size_t)n;
    b.data[b.len] = '\0';
  }
  close(fd);
  *data = lf_dynbuf_take(&b, len);
  return LF_OK;
}

int lf_fs_write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

lf_status lf_fs_write_atomic(const char *path, const void *data, size_t len, bool exclusive,
                             bool *existed, lf_err *err)
{
  if (existed != NULL) {
    *existed = false;
  }
  if (exclusive && lf_fs_exists(path)) {
    if (existed != NULL) {
      *existed = true;
    }
    return LF_OK;
  }
  char *dir = lf_path_dirname(path);
  lf_status st = lf_fs_mkdirs(dir, err);
  lf_free(dir);
  if (st != LF_OK) {
    return st;
  }
  // A hidden temp name unique to this process and call: concurrent writers of one path
  // (processes or threads) never share a temp, and listings skip dot-files.
  static _Atomic unsigned long counter;
  unsigned long n = ++counter;
  char *dir2 = lf_path_dirname(path);
  char *tmp = lf_xasprintf("%s/.%s.tmp.%ld.%lu", dir2, lf_path_basename(path), (long)getpid(), n);
  lf_free(dir2);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    st = LF_ERR(err, LF_ERR_IO, "cannot create '%s' (%s)", tmp, strerror(errno));
    lf_free(tmp);
    return st;
  }
  int e = lf_fs_write_all(fd, data, len);
  if (close(fd) != 0 && e == 0) {
    e = errno;
  }
  if (e != 0) {
    unlink(tmp);
    st = LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", path, strerror(e));
    lf_free(tmp);
    return st;
  }
  if (exclusive) {
    // link() fails with EEXIST if another writer won the race; both wrote identical bytes.
    if (link(tmp, path) != 0) {
      e = errno;
      unlink(tmp);
      lf_free(tmp);
      if (e == EEXIST) {
        if (existed != NULL) {
          *existed = true;
        }
        return LF_OK;
      }
      return LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", path, strerror(e));
    }
    unlink(tmp);
    lf_free(tmp);
    return LF_OK;
  }
  if (rename(tmp, path) != 0) {
    e = errno;
    unlink(tmp);
    lf_free(tmp);
    return LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s)", path, strerror(e));
  }
  lf_free(tmp);
  return LF_OK;
}

lf_status lf_fs_rmtree(const char *path, lf_err *err)
{
  struct stat st;
  if (lstat(path, &st) != 0) {
    return errno == ENOENT ? LF_OK
                           : LF_ERR(err, LF_ERR_IO, "cannot stat '%s' (%s)", path, strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d == NULL) {
      return LF_ERR(err, LF_ERR_IO, "cannot open '%s' (%s)", path, strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
        continue;
      }
      char *child = lf_path_join(path, de->d_name);
      lf_status s = lf_fs_rmtree(child, err);
      lf_free(child);
      if (s != LF_OK) {
        closedir(d);
        return s;
      }
    }
    closedir(d);
    if (rmdir(path) != 0) {
      return LF_ERR(err, LF_ERR_IO, "cannot remove '%s' (%s)", path, strerror(errno));
    }
    return LF_OK;
  }
  if (unlink(path) != 0) {
    return LF_ERR(err, LF_ERR_IO, "cannot remove '%s' (%s)", path, strerror(errno));
  }
  return LF_OK;
}
