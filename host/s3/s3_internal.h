// SPDX-License-Identifier: MIT
// Private to s3/: the client struct, the transfer (one HTTP request with its retries) and the
// engine that runs transfers on libcurl's multi interface. s3_client.c builds and signs
// requests, s3_engine.c runs them (s3_direct.c those GETs it receives itself), s3_ops.c turns
// operations into transfers (ranged parts, multipart uploads) and s3_list.c pages through
// listings.
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "aws/aws_config.h"
#include "aws/aws_creds.h"
#include "core/dynbuf.h"
#include "s3/s3.h"

#define S3_BODY_MAX ((size_t)16 << 20) // XML responses and error bodies
#define S3_MAX_QUERY 8
#define S3_MAX_HEADERS 8
// aws-chunked bodies: source bytes per chunk. One chunk per part of the default size: servers
// that join chunks do the least work (MinIO refuses chunks over 16 MiB).
#define S3_CHUNK_MAX ((uint64_t)16 << 20)
#define S3_TRAILER_NAME "x-amz-checksum-crc32c"

typedef struct s3_job s3_job;
typedef struct s3_xfer s3_xfer;
typedef struct s3_engine s3_engine;
typedef struct s3_dconn s3_dconn;

struct lf_s3 {
  lf_s3_opts opts;          // defaults filled in
  lf_aws_config cfg;
  lf_aws_creds_provider *creds;
  char *scheme;             // "https"
  char *authority;          // "s3.us-east-1.amazonaws.com" or "127.0.0.1:9000"
  char *endpoint_display;   // "" for AWS, else the endpoint URL
  bool path_style;          // the resolved addressing (virtual may still fall back per bucket)
  bool custom_endpoint;
  CURLM *multi;
  CURL **idle;              // reusable easy handles
  size_t nidle;
  pid_t pid;                // the process the connections belong to (see lf_s3_after_fork)
  bool proxied;             // a proxy variable is set: every request goes through libcurl
  struct s3_direct *direct; // s3_direct.c's connection pool and address cache
  uint64_t rng;             // jitter
};

/// Gives a child of fork() its own connections. Without it a child would send requests on
/// the sockets it shares with its parent (or its siblings, as tasks of the fork server do),
/// and the answers would interleave. The inherited handles are set aside, not cleaned up:
/// closing a TLS connection sends close_notify on the parent's session. A no-op in the
/// process that made the client. Called by lf_s3_engine_init, before any request.
void lf_s3_after_fork(lf_s3 *s3);

/// Called when a transfer is finished for good (success, permanent failure, or attempts
/// exhausted); may add more transfers to the engine. The engine frees `x` afterwards.
typedef void (*s3_done_fn)(s3_engine *e, s3_xfer *x);
/// Called once the response headers of a 2xx response are in; returns false (with x->err set)
/// to fail the transfer permanently.
typedef bool (*s3_headers_fn)(s3_xfer *x);
/// Called before each attempt is signed (to add headers computed late, such as a part's
/// checksum); an error fails the transfer permanently.
typedef lf_status (*s3_start_fn)(s3_xfer *x);

struct s3_xfer {
  // The request.
  const char *verb;             // for messages: "get", "put", "upload part 3 of"
  const char *method;           // "GET", "PUT", "POST", "HEAD", "DELETE"
  const char *bucket;           // borrowed
  const char *key;              // borrowed; NULL for bucket-level requests
  lf_aws_kv query[S3_MAX_QUERY];
  char *qstore[S3_MAX_QUERY * 2]; // owned query strings
  size_t nquery;
  lf_aws_kv headers[S3_MAX_HEADERS]; // extra headers to send and sign
  char *hstore[S3_MAX_HEADERS * 2];
  size_t nheaders;
  // The body to send: memory, or a file region.
  const char *src_mem;
  int src_fd;                   // -1 when none
  uint64_t src_off;
  uint64_t src_len;
  uint64_t src_pos;
  bool has_body;
  char payload_hash[65];        // "" = UNSIGNED-PAYLOAD for bodies, empty hash otherwise
  // With `trailer` the body goes aws-chunked: the source in chunks, then its CRC-32C (computed
  // as the bytes are read) in a trailer. lf_s3_xfer_trailer sets it up.
  bool trailer;
  bool trailer_sent;
  uint64_t chunk_left;          // source bytes left in the current chunk
  uint32_t crc;                 // of the source bytes read so far
  char frame[80];               // framing bytes waiting to go out
  size_t frame_len, frame_pos;
  char trailer_sum[16];         // the checksum sent (Base64), once the whole body was read
  // Where the response body goes: 2xx bodies of job transfers into the job's buffer or file
  // at dst_off; everything else (XML, errors) into `body`.
  bool to_job;
  uint64_t dst_off;
  char *const *job_buf;         // the job's buffer (memory destination), or
  const int *job_fd;            // the job's file descriptor (file destination, >= 0)
  const uint64_t *job_size;     // the destination's size: no byte goes past it
  const bool *cancelled;        // set when the job already failed: do not start
  uint64_t want_start;          // a ranged GET: the object bytes asked for (inclusive end)
  uint64_t want_end;
  bool check_error_body;        // a 200 may carry an <Error> (CompleteMultipartUpload)
  // The response.
  long http_status;
  uint64_t content_length;
  bool has_content_length;
  uint64_t cr_start, cr_end, cr_total; // Content-Range
  bool has_content_range;
  char etag[80];
  int64_t last_modified;
  char bucket_region[64];
  uint64_t got;                 // body bytes received into the job
  lf_dynbuf body;
  bool headers_done;
  // Failure of our own callbacks (disk full, a size mismatch) during the transfer.
  bool sink_failed;
  bool sink_retry;              // the failure is worth another attempt
  // Stall detection: when bytes last moved, and how many had.
  int64_t progress_at_us;
  uint64_t progress_bytes;
  int64_t stall_limit_us;
  // Retry state.
  int attempt;                  // attempts made
  int64_t not_before_us;        // monotonic time of the next attempt
  char curl_errbuf[CURL_ERROR_SIZE];
  // Completion.
  s3_job *job;
  int part;                     // 1-based part number, 0 if not a part
  s3_headers_fn on_headers;
  s3_start_fn on_start;
  s3_done_fn done;
  lf_status status;
  lf_err err;
  char s3_code[64];             // S3's error code of the final response, "" if none
  // Engine bookkeeping.
  CURL *easy;
  struct curl_slist *hlist;
  char *dreq;                   // the direct path's request (line, headers, empty line)
  size_t dreq_len;
  char *dhost;                  // its Host
  s3_dconn *dconn;              // its connection while the attempt runs
  s3_xfer *next;
};

struct s3_engine {
  lf_s3 *s3;
  s3_xfer *queue;               // waiting to start (in order of addition)
  s3_xfer *queue_tail;
  int active;
  size_t live;                  // queued + active
  // Transfers on the direct path (s3_direct.c), and what the poll waits for on them.
  s3_xfer **direct;
  struct curl_waitfd *dfds;
  s3_xfer **dsnap;              // the transfer of each dfds entry
  size_t ndirect, capdirect;
  char *scratch;                // bodies received through a buffer
};

// --- s3_client.c ------------------------------------------------------------------------

/// A new transfer for `method` on the object (or bucket if key is NULL). Never NULL.
s3_xfer *lf_s3_xfer_new(const char *verb, const char *method, const char *bucket,
                        const char *key);
/// Adds a query parameter (decoded; copied). Value NULL = empty.
void lf_s3_xfer_query(s3_xfer *x, const char *name, const char *value);
/// Adds a header to send and sign (copied).
void lf_s3_xfer_header(s3_xfer *x, const char *name, const char *value);
/// Sends the transfer's body aws-chunked with its CRC-32C in a trailer (x-amz-checksum-crc32c):
/// adds the headers to sign. The body (set_body in s3_ops.c) must be set.
void lf_s3_xfer_trailer(s3_xfer *x);
/// Bytes on the wire of an aws-chunked body of `len` source bytes.
uint64_t lf_s3_chunked_len(uint64_t len);
/// Frees a transfer that never ran or that has finished.
void lf_s3_xfer_free(s3_xfer *x);
/// Builds the URL, signs and configures `easy` for the transfer's next attempt; with `easy`
/// NULL, writes the request for the direct path into x->dreq and x->dhost instead.
lf_status lf_s3_prepare(lf_s3 *s3, s3_xfer *x, CURL *easy, lf_err *err);
/// "s3://bucket/key" (or "s3://bucket") into `out`.
void lf_s3_describe(const s3_xfer *x, char *out, size_t size);
/// The next pseudo-random number (for backoff jitter).
uint64_t lf_s3_rand(lf_s3 *s3);

// --- s3_engine.c ------------------------------------------------------------------------

void lf_s3_engine_init(s3_engine *e, lf_s3 *s3);
/// Queues a transfer; it starts as soon as a slot is free.
void lf_s3_engine_add(s3_engine *e, s3_xfer *x);
/// Runs until no transfer is queued or active (done callbacks may add more).
void lf_s3_engine_run(s3_engine *e);
/// Runs one transfer alone and returns its status (its err holds the message). The caller
/// still owns and frees `x`; `x->done` must be NULL.
lf_status lf_s3_run_one(lf_s3 *s3, s3_xfer *x);
/// Ends an attempt that ran on either path: classifies it (rc, the status, the sink), then
/// retries it later or finishes the transfer.
void lf_s3_engine_finish(s3_engine *e, s3_xfer *x, CURLcode rc);
/// The response callbacks, shared by both paths: a head line (with its CRLF), body bytes.
/// They return `n` when taken, 0 when the attempt must stop (x->err and sink_failed set).
size_t lf_s3_on_header(char *line, size_t size, size_t n, void *x);
size_t lf_s3_on_write(char *ptr, size_t size, size_t n, void *x);
/// Records a failure outside the HTTP exchange (a stall, a full disk) for classification.
void lf_s3_sink_fail(s3_xfer *x, bool retry, const char *what);
/// Back to the start of the request body (src_pos 0; for aws-chunked also the framing and CRC).
void lf_s3_body_rewind(s3_xfer *x);
/// aws-chunked: puts the framing after the current chunk into x->frame (the end of that
/// chunk, then the next chunk's size, or the last chunk and the trailer with the CRC of the
/// source bytes taken so far). False once everything was framed.
bool lf_s3_body_frame(s3_xfer *x);

// --- s3_direct.c ------------------------------------------------------------------------

/// Whether the transfer's attempts go over the direct path: a GET of a job's body or a PUT of
/// a body in memory, to a plain-http endpoint without a proxy, unless LUAFLOW_S3_TRANSFER=curl.
bool lf_s3_direct_wanted(const lf_s3 *s3, const s3_xfer *x);
/// Starts an attempt prepared by lf_s3_prepare(..., NULL, ...); counts as active.
void lf_s3_direct_start(s3_engine *e, s3_xfer *x);
/// Fills e->dfds with what each direct transfer waits for; returns how many.
size_t lf_s3_direct_fds(s3_engine *e);
/// After the poll: moves the ready transfers on and ends those past a deadline.
void lf_s3_direct_step(s3_engine *e, size_t nfds);
/// Frees the engine's direct-path arrays (the engine is done).
void lf_s3_direct_engine_free(s3_engine *e);
/// Closes the client's pooled direct connections and forgets its addresses.
void lf_s3_direct_free(lf_s3 *s3);

// --- s3_checksum.c ----------------------------------------------------------------------

/// CRC-32C (Castagnoli) of `len` bytes, continuing from `crc` (0 to start).
uint32_t lf_s3_crc32c(uint32_t crc, const void *data, size_t len);
/// The same without the CPU instruction (what other CPUs run; exposed for tests).
uint32_t lf_s3_crc32c_portable(uint32_t crc, const void *data, size_t len);
/// The Base64 of the big-endian CRC (the value of x-amz-checksum-crc32c).
void lf_s3_crc32c_base64(uint32_t crc, char out[16]);
/// The header value of the client's checksum for `len` bytes at `data`: the Base64 of the
/// big-endian CRC-32C or of the MD5. `out` holds at least 32 bytes.
void lf_s3_checksum_value(lf_s3_checksum kind, const void *data, size_t len, char out[32]);
/// The same over `len` bytes of a file from offset `off`.
/// @return LF_OK or LF_ERR_IO (a read failed or the file is shorter)
lf_status lf_s3_checksum_file(lf_s3_checksum kind, int fd, uint64_t off, uint64_t len,
                              char out[32], lf_err *err);
/// The header name of the checksum ("x-amz-checksum-crc32c" or "Content-MD5").
const char *lf_s3_checksum_header(lf_s3_checksum kind);
