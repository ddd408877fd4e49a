// SPDX-License-Identifier: MIT
// The datastore: a backend interface (a struct of function pointers, like SQLite's VFS or
// curl's struct Curl_ssl) owned by store/, and on top of it content-addressed blobs and plain
// objects. The local filesystem backend is in store_fs.c; s3/ implements the same interface.
//
// Layout under the root (DESIGN §4):
//   <Flow>/data/<aa>/<sha256>      blobs, named by the SHA-256 of their encoded bytes
//   <Flow>/<run>/<step>/<task>/..  task records and logs (plain objects)
//
// A blob object is a 13-byte header followed by the payload:
//   "LFB1" | codec (u8: 0 raw, 1 zstd) | uncompressed length (u64, little-endian)
// The name hashes the uncompressed bytes, so a value has one name however it is compressed.
//
// An lf_store is used by one thread at a time; blob calls may run helper threads internally.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define LF_STORE_BLOB_MAGIC "LFB1"
#define LF_STORE_BLOB_HEADER 13 ///< bytes before the payload
#define LF_STORE_CODEC_RAW 0
#define LF_STORE_CODEC_ZSTD 1
#define LF_STORE_KEY_MAX 1024 ///< longest key, as S3 allows

/// A storage backend. Keys are '/'-separated relative paths already validated by the store
/// layer (no absolute paths, no empty, "." or ".." components, no component starting with
/// '.'), so backends may use them as they are. Every function sets `err` on failure.
/// Backends other than "local" may leave the optional members NULL.
typedef struct lf_store_backend {
  const char *name; ///< "local", "s3"
  /// Stores `len` bytes under `key`, atomically: readers see all of it or nothing. With
  /// `write_once`, an existing object is kept and *existed set (a race between two writers of
  /// the same key is decided atomically: one creates it, the other sees *existed).
  /// @param[out] existed may be NULL
  lf_status (*put)(void *self, const char *key, const void *data, size_t len, bool write_once,
                   bool *existed, lf_err *err);
  /// Reads a whole object. *data is NUL-terminated (not counted in *len); caller frees with
  /// lf_free. @return LF_ERR_NOTFOUND if missing; LF_ERR_STORE if larger than `max`;
  /// LF_ERR_NOMEM if its size cannot be allocated
  lf_status (*get)(void *self, const char *key, size_t max, char **data, size_t *len,
                   lf_err *err);
  lf_status (*exists)(void *self, const char *key, bool *out, lf_err *err);
  /// Names of the immediate children of the "directory" `prefix` ("" for the root), sorted
  /// by strcmp; a missing prefix gives an empty list. Temporary files are not listed.
  /// @param[out] names caller frees with lf_store_free_names; NULL when *n is 0
  lf_status (*list)(void *self, const char *prefix, char ***names, size_t *n, lf_err *err);
  /// Removes an object; a missing one is not an error.
  lf_status (*remove)(void *self, const char *key, lf_err *err);
  /// Where `key` lives, for messages ("/abs/root/key", "s3://bucket/prefix/key"); `key` ""
  /// names the root. Caller frees with lf_free.
  char *(*describe)(void *self, const char *key);
  /// Frees `self`.
  void (*free)(void *self);

  // Optional staged writes: an object whose key is known only at the end. The blob layer
  // uses them to write a large blob while another thread hashes it (the hash is its key).
  /// Starts a staged object that will be committed under `dir` (a key prefix; local: the
  /// temp file is created there so that the commit is a link or rename).
  lf_status (*stage_open)(void *self, const char *dir, void **stage, lf_err *err);
  /// Appends bytes to the staged object.
  lf_status (*stage_write)(void *stage, const void *data, size_t len, lf_err *err);
  /// Publishes the staged object as `key` (same atomicity and `write_once` rules as put) and
  /// frees the stage, whether it succeeds or not.
  lf_status (*stage_commit)(void *stage, const char *key, bool write_once, bool *existed,
                            lf_err *err);
  /// Discards the staged object and frees the stage.
  void (*stage_abort)(void *stage);
} lf_store_backend;

typedef struct lf_store lf_store;

/// Testing aid: with LUAFLOW_FAULT_WRITES=N[:eio|:enospc] set, replaces *be/*self with a
/// backend that fails the Nth write of this process (store_fault.c). @return true if wrapped.
bool lf_store_fault_wrap(const lf_store_backend **be, void **self);

/// Wraps a backend. Takes ownership of `self` (freed with be->free by lf_store_free).
/// @param[in] be borrowed; must outlive the store (normally a static const table)
/// @return never NULL
lf_store *lf_store_new(const lf_store_backend *be, void *self);
/// Opens a local directory store at `root` (created with parents if missing; relative paths
/// are made absolute against the current directory).
/// @return the store (caller frees with lf_store_free), or NULL with LF_ERR_IO in `err`
lf_store *lf_store_open_local(const char *root, lf_err *err);
/// Frees the store and its backend. NULL is fine.
void lf_store_free(lf_store *st);
/// The root for messages ("/abs/path" or "s3://bucket/prefix"). Borrowed from `st`.
const char *lf_store_root(const lf_store *st);
/// The backend's location of `key` for messages. Caller frees with lf_free.
char *lf_store_describe(const lf_store *st, const char *key);

/// Stores an encoded value as a blob of `flow` and gives its name. If a blob of that name
/// exists nothing is written (*existed = true). Otherwise the value is compressed with zstd
/// level 1 when that saves at least 10% (never below 128 bytes; above 1 MiB sampled first so
/// that incompressible data costs no compression time) and written once, atomically.
/// Large (>= 8 MiB) incompressible blobs are written to a staged temp object while a second
/// thread hashes them; a repeated put of one stops writing once the hash is known and drops
/// the partial temp, so nothing extra is kept.
/// @param[in] flow a flow name: letters, digits, '_', '-', '.', not starting with '.' or '-'
/// @param[out] hex_out 64 lowercase hex digits plus NUL; may be NULL
/// @param[out] existed may be NULL
/// @return LF_OK, LF_ERR_USAGE (bad flow name), LF_ERR_IO / LF_ERR_STORE (backend)
lf_status lf_store_put_blob(lf_store *st, const char *flow, const void *enc, size_t len,
                            char hex_out[65], bool *existed, lf_err *err);
/// Reads a blob back and verifies it: header, lengths, decompression, and the SHA-256 of the
/// result against `hex`. Sizes in the header are checked against the object's real size (and
/// for zstd against the frame header and zstd's maximum ratio) before anything is allocated.
/// @param[out] enc NUL-terminated (not counted in *len); caller frees with lf_free
/// @return LF_OK; LF_ERR_NOTFOUND if missing; LF_ERR_CORRUPT ("blob 'ab12…' in '<where>' is
///         corrupt (hash mismatch)", or truncated, bad header, zstd error); LF_ERR_USAGE for a
///         bad flow or hex; LF_ERR_NOMEM if the declared size cannot be allocated
lf_status lf_store_get_blob(lf_store *st, const char *flow, const char *hex, char **enc,
                            size_t *len, lf_err *err);
/// Sets *out to whether the blob exists (not verified).
lf_status lf_store_has_blob(lf_store *st, const char *flow, const char *hex, bool *out,
                            lf_err *err);

/// Stores a plain object (task record, log) under `key`, relative to the root, replacing any
/// previous one atomically. @return LF_ERR_USAGE for an invalid key, or a backend error
lf_status lf_store_put(lf_store *st, const char *key, const void *data, size_t len,
                       lf_err *err);
/// Reads a plain object of at most `max` bytes. *data is NUL-terminated; caller frees with
/// lf_free. @return LF_ERR_NOTFOUND if missing, LF_ERR_STORE if larger than `max`
lf_status lf_store_get(lf_store *st, const char *key, size_t max, char **data, size_t *len,
                       lf_err *err);
/// Sets *out to whether `key` exists.
lf_status lf_store_exists(lf_store *st, const char *key, bool *out, lf_err *err);
/// Removes `key`; missing is fine.
lf_status lf_store_remove(lf_store *st, const char *key, lf_err *err);
/// Sorted names of the immediate children of `prefix` ("" or "Flow" or "Flow/12/"); a
/// missing prefix gives *n = 0. Caller frees with lf_store_free_names.
lf_status lf_store_list(lf_store *st, const char *prefix, char ***names, size_t *n,
                        lf_err *err);
/// Frees a list from lf_store_list. NULL is fine.
void lf_store_free_names(char **names, size_t n);
/// Creates `key` only if it does not exist: returns LF_OK with *created=false if it did.
/// Used to reserve run ids atomically (local: link(), which fails if the name exists; S3:
/// If-None-Match). The object is complete when it appears.
lf_status lf_store_create_exclusive(lf_store *st, const char *key, const void *data,
                                    size_t len, bool *created, lf_err *err);

/// For backends and the blob layer: allocates `n` bytes for an object read from storage.
/// Returns NULL when memory is short, since sizes come from disk or network. Above 4 MiB it
/// asks for transparent huge pages: on the development VM first-touch faults on 4 KiB pages
/// cost 0.4-1.2 s per GiB, on 2 MiB pages 0.06 s. Caller frees with lf_free.
void *lf_store_alloc(size_t n);
