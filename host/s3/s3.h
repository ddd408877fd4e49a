// SPDX-License-Identifier: MIT
// A fast S3 client on libcurl's multi interface (GET bodies from plain-http endpoints over its
// own HTTP/1.1 connections, received in place): many requests in flight on one thread,
// signed with SigV4 (aws/), retried when the failure is transient, and verified.
//
//   lf_s3 *s3 = lf_s3_new(NULL, &err);              // credentials, region, endpoint as AWS tools
//   lf_s3_op ops[2] = {{.kind = LF_S3_GET, .bucket = "b", .key = "k1"},
//                      {.kind = LF_S3_PUT, .bucket = "b", .key = "k2", .data = p, .len = n}};
//   lf_s3_run(s3, ops, 2, &err);                    // both at once; each op has its own result
//
// Everything is a batch of operations (lf_s3_run); the single-object functions are
// conveniences over it. Within a batch, large objects are split: a GET asks for the first part
// with a Range header and, once the first response tells the size, fetches the other parts in
// parallel (each with If-Match on the first ETag, so an object replaced mid-download fails
// instead of mixing versions); a PUT above the multipart threshold becomes a multipart upload
// with parts in parallel. Objects larger than memory stream to and from files (pwrite/pread
// at each part's offset); a download goes to a temp file renamed into place when complete.
//
// Integrity: every upload carries a checksum S3 verifies (x-amz-checksum-crc32c by default,
// or Content-MD5); every download is checked against Content-Length and Content-Range.
// Retries: connection failures, timeouts, stalls (no byte for `stall_timeout_s`), truncated
// bodies, HTTP 500/502/503/504/429 and throttling codes are retried up to `max_attempts` with
// capped exponential backoff and full jitter. 403, 404 and other client errors fail at once.
// Messages name the object and S3's reason: "cannot get 's3://bkt/key' (404 NoSuchKey: The
// specified key does not exist.)". No message or log line contains a secret.
//
// Threads: an lf_s3 is used by one thread at a time (its connection pool is reused across
// calls). Different lf_s3 objects are independent.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define LF_S3_MIN_PART ((size_t)5 << 20)  ///< S3's smallest part (all but the last)
#define LF_S3_MAX_PARTS 10000             ///< S3's most parts per upload

typedef struct lf_s3 lf_s3;

typedef enum lf_s3_addressing {
  LF_S3_ADDR_AUTO = 0, ///< path style for a custom endpoint, virtual-hosted for AWS
  LF_S3_ADDR_PATH,     ///< http://endpoint/bucket/key
  LF_S3_ADDR_VIRTUAL,  ///< http://bucket.endpoint/key
} lf_s3_addressing;

typedef enum lf_s3_checksum {
  LF_S3_CHECKSUM_CRC32C = 0,     ///< x-amz-checksum-crc32c: a header for a body in memory
                                 ///< (one pass before it is sent), the trailer of an
                                 ///< aws-chunked body for a file (so the file is read once)
  LF_S3_CHECKSUM_MD5,            ///< Content-MD5 (for stores without the newer checksums)
  LF_S3_CHECKSUM_CRC32C_HEADER,  ///< x-amz-checksum-crc32c as a header always (a file is read
                                 ///< twice; for stores without aws-chunked)
  LF_S3_CHECKSUM_CRC32C_TRAILER, ///< x-amz-checksum-crc32c in the trailer always, computed as
                                 ///< the bytes are sent
} lf_s3_checksum;

typedef enum lf_s3_transfer {
  LF_S3_TRANSFER_DIRECT = 0,     ///< with plain-http endpoints, GETs of bodies and PUTs of bodies
                                 ///< in memory over our own HTTP/1.1 connections: received
                                 ///< straight into their destination, sent from their source
  LF_S3_TRANSFER_CURL,           ///< every request through libcurl
} lf_s3_transfer;

/// Client options. Zero means "the default", which the environment may set (in brackets).
typedef struct lf_s3_opts {
  const char *endpoint;        ///< "http://127.0.0.1:9000"; NULL: AWS_ENDPOINT_URL_S3 etc.
  const char *region;          ///< NULL: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1
  lf_s3_addressing addressing; ///< [LUAFLOW_S3_ADDRESSING=path|virtual, profile s3 style]
  lf_s3_checksum checksum;     ///< [LUAFLOW_S3_CHECKSUM=crc32c|crc32c-header|
                               ///< crc32c-trailer|md5]
  lf_s3_transfer transfer;     ///< [LUAFLOW_S3_TRANSFER=direct|curl]
  int max_concurrency;         ///< requests in flight, 16 [LUAFLOW_S3_CONCURRENCY]
  int max_attempts;            ///< tries per request, 8 [LUAFLOW_S3_MAX_ATTEMPTS]
  size_t part_size;            ///< multipart part and download range size, 16 MiB (>= 5 MiB)
                               ///< [LUAFLOW_S3_PART_SIZE, bytes]
  size_t multipart_threshold;  ///< PUTs larger than this use multipart, 16 MiB
                               ///< [LUAFLOW_S3_MULTIPART_THRESHOLD, bytes]
  long stall_timeout_s;        ///< a transfer with no byte for this long is retried, 30
                               ///< [LUAFLOW_S3_STALL_TIMEOUT]
  long connect_timeout_s;      ///< 10
  long retry_base_ms;          ///< first backoff ceiling, 200 [LUAFLOW_S3_RETRY_BASE_MS]
  long retry_cap_ms;           ///< largest backoff ceiling, 20000
} lf_s3_opts;

/// Creates a client: resolves region, endpoint and the credential chain configuration
/// (credentials themselves are fetched on first use and refreshed as they near expiry).
/// @param[in] opts may be NULL for all defaults
/// @return the client (free with lf_s3_free), or NULL with LF_ERR_USAGE for bad options or
///         configuration (malformed endpoint, unknown AWS_PROFILE)
lf_s3 *lf_s3_new(const lf_s3_opts *opts, lf_err *err);
/// Frees the client and its connections. NULL-safe.
void lf_s3_free(lf_s3 *s3);
/// The resolved region and endpoint ("" for AWS's own), for messages. Borrowed.
const char *lf_s3_region(const lf_s3 *s3);
const char *lf_s3_endpoint(const lf_s3 *s3);

/// Splits "s3://bucket/key" into its parts (the key may be empty: "s3://bucket" and
/// "s3://bucket/" give ""). Bucket names are checked (3-63 characters of a-z 0-9 . -).
/// @param[out] bucket, key caller frees with lf_free
/// @return LF_OK or LF_ERR_USAGE ("'http://x' is not an S3 URL (expected s3://bucket/key)")
lf_status lf_s3_parse_url(const char *url, char **bucket, char **key, lf_err *err);

typedef enum lf_s3_kind {
  LF_S3_GET,    ///< read an object (to memory or `path`)
  LF_S3_PUT,    ///< write an object (from memory or `path`)
  LF_S3_HEAD,   ///< read an object's size, ETag and date
  LF_S3_DELETE, ///< remove an object (missing is fine)
} lf_s3_kind;

/// Metadata of an object.
typedef struct lf_s3_info {
  uint64_t size;         ///< of the whole object
  char etag[80];         ///< as S3 sends it, quotes included
  int64_t last_modified; ///< Unix seconds; 0 if unknown
} lf_s3_info;

/// One operation of a batch. Inputs are borrowed until lf_s3_run returns.
typedef struct lf_s3_op {
  lf_s3_kind kind;
  const char *bucket;
  const char *key;
  // Inputs
  const char *path;      ///< GET: write this file (atomically); PUT: read it. NULL: memory
  const void *data;      ///< PUT from memory
  size_t len;            ///< PUT from memory: bytes of `data`
  bool has_range;        ///< GET: bytes [range_start, range_end] only
  uint64_t range_start;
  uint64_t range_end;    ///< inclusive; UINT64_MAX: to the end
  size_t max;            ///< GET to memory: most bytes accepted; 0 = no limit
  bool if_none_match;    ///< PUT: only if no object has the key (If-None-Match: *)
  bool big_out;          ///< GET to memory: the body goes in a buffer of lf_big_alloc (core/alloc.h:
                         ///< page buffers from LF_BIG_MIN bytes, cheap to fault in) of
                         ///< `out_cap` bytes, `out_head` bytes in; free it with
                         ///< lf_s3_op_free_out, or take it over
  size_t out_head;       ///< with big_out: bytes kept free in front of the body (for a header
                         ///< of the caller's, such as a Lua string's)
  // Results
  lf_status status;      ///< LF_OK, LF_ERR_NOTFOUND (404), LF_ERR_STORE, LF_ERR_IO, ...
  lf_err err;            ///< set when status != LF_OK
  char *out;             ///< GET to memory: the bytes, NUL-terminated; free with lf_free,
                         ///< or lf_s3_op_free_out with big_out
  size_t out_len;
  size_t out_cap;        ///< with big_out: the bytes of the buffer, from out - out_head
  lf_s3_info info;       ///< GET, HEAD, PUT (etag; size = bytes written)
  bool existed;          ///< PUT with if_none_match: an object was there, nothing written
} lf_s3_op;

/// Runs a batch: up to max_concurrency requests in flight over all operations. Every op gets
/// its own status and error; one failure does not stop the others.
/// @return LF_OK if every op succeeded; else the status of the first failed op (in array
///         order), whose message is copied into `err` prefixed by how many failed
///         ("3 of 64 operations failed; first: cannot get ...")
lf_status lf_s3_run(lf_s3 *s3, lf_s3_op *ops, size_t n, lf_err *err);

/// Frees the `out` of a GET to memory (either kind) and sets it to NULL.
void lf_s3_op_free_out(lf_s3_op *op);

/// GET into memory. @param[out] data NUL-terminated, caller frees with lf_free
lf_status lf_s3_get(lf_s3 *s3, const char *bucket, const char *key, size_t max, char **data,
                    size_t *len, lf_err *err);
/// GET into a file (written to a temp file beside it, renamed when complete).
lf_status lf_s3_get_file(lf_s3 *s3, const char *bucket, const char *key, const char *path,
                         lf_err *err);
/// PUT from memory. @param[out] existed may be NULL; with if_none_match, set when the key
///         existed (then nothing was written and LF_OK is returned)
lf_status lf_s3_put(lf_s3 *s3, const char *bucket, const char *key, const void *data,
                    size_t len, bool if_none_match, bool *existed, lf_err *err);
/// PUT from a file.
lf_status lf_s3_put_file(lf_s3 *s3, const char *bucket, const char *key, const char *path,
                         lf_err *err);
/// HEAD. @return LF_ERR_NOTFOUND if there is no such object (or bucket)
lf_status lf_s3_head(lf_s3 *s3, const char *bucket, const char *key, lf_s3_info *info,
                     lf_err *err);
/// DELETE; a missing object is not an error (S3 semantics).
lf_status lf_s3_delete(lf_s3 *s3, const char *bucket, const char *key, lf_err *err);

/// One listed entry: an object, or a common prefix ("directory") when listing with a
/// delimiter.
typedef struct lf_s3_entry {
  char *key;             ///< the full key (or prefix, ending in the delimiter)
  bool is_prefix;
  uint64_t size;
  char *etag;            ///< NULL for prefixes
  int64_t last_modified; ///< Unix seconds; 0 for prefixes
} lf_s3_entry;

typedef struct lf_s3_list {
  lf_s3_entry *items;
  size_t n, cap;
} lf_s3_list;

/// Lists keys under `prefix` with ListObjectsV2, following continuation tokens through every
/// page (1000 keys each). With a `delimiter` ("/"), keys below the next delimiter are rolled
/// up into prefix entries; NULL lists recursively. Entries come in S3's (byte) order, objects
/// and prefixes merged. At most `limit` entries (0 = all).
/// @param[out] out caller frees with lf_s3_list_free
/// @return LF_OK (an empty list if nothing matches); LF_ERR_NOTFOUND for a missing bucket
lf_status lf_s3_list_objects(lf_s3 *s3, const char *bucket, const char *prefix,
                             const char *delimiter, size_t limit, lf_s3_list *out, lf_err *err);
void lf_s3_list_free(lf_s3_list *l);

/// Creates a bucket (in the client's region). An existing bucket of ours is fine.
lf_status lf_s3_create_bucket(lf_s3 *s3, const char *bucket, lf_err *err);

/// A presigned URL for `method` ("GET", "PUT", "HEAD", "DELETE") on the object, valid for
/// `expires_s` seconds (1 to 604800). @return the URL (caller frees with lf_free) or NULL
char *lf_s3_presign(lf_s3 *s3, const char *method, const char *bucket, const char *key,
                    int64_t expires_s, lf_err *err);
