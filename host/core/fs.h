// SPDX-License-Identifier: MIT
// Paths and files: joining, creating directories, reading whole files with a size cap, and
// atomic writes (temp file in the same directory + rename) so that a killed process never
// leaves a half-written file that a reader can see. The one home for path joining.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/// Joins two path parts with one '/'. Caller frees with lf_free.
char *lf_path_join(const char *a, const char *b);
/// Joins up to 8 parts (NULL-terminated list). Caller frees with lf_free.
char *lf_path_joinv(const char *first, ...) __attribute__((sentinel));
/// The directory part of `path` ("." if none). Caller frees with lf_free.
char *lf_path_dirname(const char *path);
/// The last component of `path`. Borrowed from `path`.
const char *lf_path_basename(const char *path);
/// Makes `path` absolute against the current directory. Caller frees with lf_free.
char *lf_path_absolute(const char *path);
/// True if `rel` is a non-empty relative path that stays below its base: no leading '/',
/// no empty, '.' or '..' component (for names that come from elsewhere, such as S3 keys).
bool lf_path_is_below(const char *rel);

/// Creates `path` and missing parents (mode 0755). Existing directories are fine.
lf_status lf_fs_mkdirs(const char *path, lf_err *err);
/// True if `path` exists (any type).
bool lf_fs_exists(const char *path);
/// True if `path` is a directory.
bool lf_fs_isdir(const char *path);
/// Reads a whole file, refusing files larger than `max` bytes. The result is NUL-terminated.
/// @param[out] data caller frees with lf_free.
/// @return LF_OK, LF_ERR_NOTFOUND (ENOENT), or LF_ERR_IO.
lf_status lf_fs_read_file(const char *path, size_t max, char **data, size_t *len, lf_err *err);
/// Writes `len` bytes to `path` atomically: a temp file in the same directory, then rename.
/// Parent directories are created. With `exclusive`, an existing `path` is left alone and
/// LF_OK is returned with *existed = true (for write-once content-addressed blobs).
lf_status lf_fs_write_atomic(const char *path, const void *data, size_t len, bool exclusive,
                             bool *existed, lf_err *err);
/// Writes all of `len` bytes to fd, retrying on EINTR and short writes. @return 0 or errno.
int lf_fs_write_all(int fd, const void *data, size_t len);
/// Removes a directory tree (for tests and scratch space). Missing is fine.
lf_status lf_fs_rmtree(const char *path, lf_err *err);
