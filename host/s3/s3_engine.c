// SPDX-License-Identifier: MIT
// This file contains the transfer engine: transfers wait in a queue, up to max_concurrency of
// them run at once on one curl multi handle, each response is checked (status, S3 error code,
// Content-Length) and classified, and transient failures go back to the queue after a capped
// exponential backoff with full jitter. Everything runs on the caller's thread.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "s3/s3_http1.h"
#include "s3/s3_internal.h"
#include "s3/s3_xml.h"

#define RECV_BUFFER (512L << 10)
#define SEND_BUFFER (512L << 10)

typedef enum outcome { OUT_OK, OUT_RETRY, OUT_FAIL } outcome;

static void start(s3_engine *e, s3_xfer *x);

void lf_s3_engine_init(s3_engine *e, lf_s3 *s3)
{
  memset(e, 0, sizeof(*e));
  lf_s3_after_fork(s3);
  e->s3 = s3;
}

void lf_s3_engine_add(s3_engine *e, s3_xfer *x)
{
  x->next = NULL;
  if (e->queue_tail != NULL) {
    e->queue_tail->next = x;
  } else {
    e->queue = x;
  }
  e->queue_tail = x;
  e->live++;
}

// Starts queued transfers whose time has come while slots are free. Transfers waiting for a
// retry stay in line without blocking the ones behind them.
static void start_ready(s3_engine *e, int64_t now, int64_t *next_wake)
{
  s3_xfer *prev = NULL;
  s3_xfer *x = e->queue;
  while (x != NULL && e->active < e->s3->opts.max_concurrency) {
    s3_xfer *next = x->next;
    if (x->not_before_us > now) {
      if (*next_wake == 0 || x->not_before_us < *next_wake) {
        *next_wake = x->not_before_us;
      }
      prev = x;
      x = next;
      continue;
    }
    if (prev != NULL) {
      prev->next = next;
    } else {
      e->queue = next;
    }
    if (e->queue_tail == x) {
      e->queue_tail = prev;
    }
    x->next = NULL;
    start(e, x);
    x = next;
  }
  // Transfers left behind the concurrency limit that wait for a retry still set the wake-up.
  for (; x != NULL; x = x->next) {
    if (x->not_before_us > now && (*next_wake == 0 || x->not_before_us < *next_wake)) {
      *next_wake = x->not_before_us;
    }
  }
}

void lf_s3_engine_run(s3_engine *e)
{
  CURLM *multi = e->s3->multi;
  while (e->live > 0) {
    int64_t wake = 0;
    start_ready(e, lf_time_mono_us(), &wake);
    int running = 0;
    curl_multi_perform(multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
      if (m->msg == CURLMSG_DONE) {
        s3_xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        lf_s3_engine_finish(e, x, m->data.result);
      }
    }
    if (e->live == 0) {
      break;
    }
    wake = 0;
    int64_t now = lf_time_mono_us();
    start_ready(e, now, &wake);
    long timeout = 1000;
    if (wake != 0) {
      long ms = (long)((wake - now) / 1000) + 1;
      timeout = ms < timeout ? ms : timeout;
    }
    if (e->active > 0 || timeout > 0) {
      size_t nfds = lf_s3_direct_fds(e);
      curl_multi_poll(multi, e->dfds, (unsigned)nfds, (int)timeout, NULL);
      lf_s3_direct_step(e, nfds);
    }
  }
  lf_s3_direct_engine_free(e);
}

lf_status lf_s3_run_one(lf_s3 *s3, s3_xfer *x)
{
  s3_engine e;
  lf_s3_engine_init(&e, s3);
  lf_s3_engine_add(&e, x);
  lf_s3_engine_run(&e);
  return x->status;
}

// --- callbacks ----------------------------------------------------------------------------

// Records a failure of our own callbacks; the transfer is then aborted by curl.
void lf_s3_sink_fail(s3_xfer *x, bool retry, const char *what)
{
  if (!x->sink_failed) {
    x->sink_failed = true;
    x->sink_retry = retry;
    char where[600];
    lf_s3_describe(x, where, sizeof(where));
    lf_err_clear(&x->err);
    LF_ERR(&x->err, retry ? LF_ERR_IO : LF_ERR_STORE, "cannot %s '%s' (%s)", x->verb, where,
           what);
  }
}

// "bytes 0-99/1234"
static bool parse_content_range(const char *v, size_t n, s3_xfer *x)
{
  if (n < 6 || strncmp(v, "bytes ", 6) != 0) {
    return false;
  }
  const char *p = v + 6, *end = v + n;
  const char *dash = memchr(p, '-', (size_t)(end - p));
  const char *slash = memchr(p, '/', (size_t)(end - p));
  if (dash == NULL || slash == NULL || dash > slash) {
    return false;
  }
  return lf_http_u64(p, (size_t)(dash - p), &x->cr_start) &&
         lf_http_u64(dash + 1, (size_t)(slash - dash - 1), &x->cr_end) &&
         lf_http_u64(slash + 1, (size_t)(end - slash - 1), &x->cr_total) &&
         x->cr_start <= x->cr_end && x->cr_end < x->cr_total;
}

size_t lf_s3_on_header(char *line, size_t size, size_t nitems, void *ud)
{
  s3_xfer *x = ud;
  size_t n = size * nitems;
  const char *v;
  size_t vl;
  if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    // A new response (there is one per attempt; no redirects are followed).
    const char *sp = memchr(line, ' ', n);
    x->http_status = 0;
    uint64_t code = 0;
    if (sp != NULL && (size_t)(line + n - sp) > 4 && lf_http_u64(sp + 1, 3, &code)) {
      x->http_status = (long)code;
    }
    x->has_content_length = x->has_content_range = x->headers_done = false;
    x->etag[0] = '\0';
    return n;
  }
  if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
    x->headers_done = true;
    bool ok2xx = x->http_status >= 200 && x->http_status < 300;
    if (ok2xx && x->on_headers != NULL && !x->sink_failed && !x->on_headers(x)) {
      x->sink_failed = true; // on_headers set x->err
      return 0;
    }
    return n;
  }
  if (lf_http_field(line, n, "Content-Length", &v, &vl)) {
    uint64_t len = 0;
    bool ok = lf_http_u64(v, vl, &len);
    if (x->has_content_length && (!ok || len != x->content_length)) {
      // Two lengths: where the body ends would be a guess (RFC 9112 6.3).
      lf_s3_sink_fail(x, true, "the answer has Content-Length headers that disagree");
      return 0;
    }
    x->has_content_length = ok;
    x->content_length = len;
  } else if (lf_http_field(line, n, "Content-Range", &v, &vl)) {
    x->has_content_range = parse_content_range(v, vl, x);
  } else if (lf_http_field(line, n, "ETag", &v, &vl)) {
    snprintf(x->etag, sizeof(x->etag), "%.*s", (int)vl, v);
  } else if (lf_http_field(line, n, "Last-Modified", &v, &vl)) {
    char date[64];
    snprintf(date, sizeof(date), "%.*s", (int)vl, v);
    time_t t = curl_getdate(date, NULL);
    x->last_modified = t > 0 ? (int64_t)t : 0;
  } else if (lf_http_field(line, n, "x-amz-bucket-region", &v, &vl)) {
    snprintf(x->bucket_region, sizeof(x->bucket_region), "%.*s", (int)vl, v);
  }
  return n;
}

size_t lf_s3_on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
  s3_xfer *x = ud;
  size_t n = size * nmemb;
  bool ok2xx = x->http_status >= 200 && x->http_status < 300;
  if (!x->to_job || !ok2xx) {
    if (!lf_dynbuf_add(&x->body, ptr, n)) {
      if (!ok2xx) {
        return n; // the start of an error body is enough
      }
      char what[96];
      snprintf(what, sizeof(what), "the response is larger than %zu bytes", S3_BODY_MAX);
      lf_s3_sink_fail(x, false, what);
      return 0;
    }
    return n;
  }
  uint64_t want = x->has_content_length ? x->content_length : UINT64_MAX;
  uint64_t cap = x->job_size != NULL ? *x->job_size : 0;
  if (x->got + n > want || x->dst_off + x->got + n > cap) {
    lf_s3_sink_fail(x, true, "the server sent more bytes than it announced");
    return 0;
  }
  uint64_t off = x->dst_off + x->got;
  if (x->job_fd != NULL && *x->job_fd >= 0) {
    size_t done = 0;
    while (done < n) {
      ssize_t w = pwrite(*x->job_fd, ptr + done, n - done, (off_t)(off + done));
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w <= 0) {
        char what[300];
        snprintf(what, sizeof(what), "cannot write the local file: %s", strerror(errno));
        lf_s3_sink_fail(x, false, what);
        return 0;
      }
      done += (size_t)w;
    }
  } else {
    memcpy(*x->job_buf + off, ptr, n);
  }
  x->got += n;
  return n;
}

// Reads up to n bytes of the body's source at src_pos; 0 after a failure (the attempt fails).
static size_t read_source(s3_xfer *x, char *buf, size_t n)
{
  if (x->src_mem != NULL) {
    memcpy(buf, x->src_mem + x->src_off + x->src_pos, n);
  } else {
    ssize_t r;
    do {
      r = pread(x->src_fd, buf, n, (off_t)(x->src_off + x->src_pos));
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
      char what[300];
      snprintf(what, sizeof(what), "cannot read the local file: %s",
               r < 0 ? strerror(errno) : "it became shorter");
      lf_s3_sink_fail(x, false, what);
      return 0;
    }
    n = (size_t)r;
  }
  x->src_pos += n;
  return n;
}

void lf_s3_body_rewind(s3_xfer *x)
{
  x->src_pos = 0;
  x->chunk_left = 0;
  x->crc = 0;
  x->frame_len = x->frame_pos = 0;
  x->trailer_sent = false;
}

bool lf_s3_body_frame(s3_xfer *x)
{
  if (x->trailer_sent) {
    return false;
  }
  const char *crlf = x->src_pos > 0 ? "\r\n" : "";
  uint64_t left = x->src_len - x->src_pos;
  int n;
  if (left > 0) {
    x->chunk_left = left < S3_CHUNK_MAX ? left : S3_CHUNK_MAX;
    n = snprintf(x->frame, sizeof(x->frame), "%s%llx\r\n", crlf,
                 (unsigned long long)x->chunk_left);
  } else {
    lf_s3_crc32c_base64(x->crc, x->trailer_sum);
    n = snprintf(x->frame, sizeof(x->frame), "%s0\r\n" S3_TRAILER_NAME ":%s\r\n\r\n", crlf,
                 x->trailer_sum);
    x->trailer_sent = true;
  }
  x->frame_len = (size_t)n;
  x->frame_pos = 0;
  return true;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
  s3_xfer *x = ud;
  size_t room = size * nitems;
  if (!x->trailer) {
    uint64_t left = x->src_len - x->src_pos;
    size_t n = left < room ? (size_t)left : room;
    if (n == 0) {
      return 0;
    }
    n = read_source(x, buf, n);
    return n > 0 ? n : CURL_READFUNC_ABORT;
  }
  // aws-chunked: the CRC is taken of the bytes just copied, while they are in cache.
  size_t out = 0;
  while (out < room) {
    if (x->frame_pos < x->frame_len) {
      size_t n = x->frame_len - x->frame_pos < room - out ? x->frame_len - x->frame_pos
                                                          : room - out;
      memcpy(buf + out, x->frame + x->frame_pos, n);
      x->frame_pos += n;
      out += n;
    } else if (x->chunk_left > 0) {
      size_t n = x->chunk_left < room - out ? (size_t)x->chunk_left : room - out;
      n = read_source(x, buf + out, n);
      if (n == 0) {
        return CURL_READFUNC_ABORT;
      }
      x->crc = lf_s3_crc32c(x->crc, buf + out, n);
      x->chunk_left -= n;
      out += n;
    } else if (!lf_s3_body_frame(x)) {
      break;
    }
  }
  return out;
}

// Fails the attempt when no byte moved either way for stall_timeout_s. (curl's own low-speed
// limit averages over a window of several seconds, so it reacts late.)
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
  s3_xfer *x = ud;
  (void)dltotal;
  (void)ultotal;
  int64_t now = lf_time_mono_us();
  uint64_t moved = (uint64_t)dlnow + (uint64_t)ulnow;
  if (moved != x->progress_bytes || x->progress_at_us == 0) {
    x->progress_bytes = moved;
    x->progress_at_us = now;
    return 0;
  }
  if (now - x->progress_at_us > x->stall_limit_us) {
    char what[96];
    snprintf(what, sizeof(what), "stalled: no data for %lld s",
             (long long)(x->stall_limit_us / 1000000));
    lf_s3_sink_fail(x, true, what);
    return 1;
  }
  return 0;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
  s3_xfer *x = ud;
  if (x->trailer) {
    if (origin != SEEK_SET || offset != 0) {
      return CURL_SEEKFUNC_CANTSEEK; // curl only rewinds a body to resend it
    }
    lf_s3_body_rewind(x);
    return CURL_SEEKFUNC_OK;
  }
  if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->src_len) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  x->src_pos = (uint64_t)offset;
  return CURL_SEEKFUNC_OK;
}

// --- start and finish ---------------------------------------------------------------------

static CURL *take_easy(lf_s3 *s3)
{
  if (s3->nidle > 0) {
    CURL *c = s3->idle[--s3->nidle];
    curl_easy_reset(c);
    return c;
  }
  return curl_easy_init();
}

static void give_easy(lf_s3 *s3, CURL *c)
{
  s3->idle = lf_xrealloc(s3->idle, (s3->nidle + 1) * sizeof(CURL *));
  s3->idle[s3->nidle++] = c;
}

static void reset_attempt(s3_xfer *x)
{
  x->http_status = 0;
  x->has_content_length = x->has_content_range = x->headers_done = false;
  x->etag[0] = '\0';
  x->bucket_region[0] = '\0';
  x->got = 0;
  lf_s3_body_rewind(x);
  x->sink_failed = x->sink_retry = false;
  x->curl_errbuf[0] = '\0';
  x->s3_code[0] = '\0';
  lf_dynbuf_reset(&x->body);
  lf_err_clear(&x->err);
}

static void start(s3_engine *e, s3_xfer *x)
{
  lf_s3 *s3 = e->s3;
  e->active++;
  x->attempt++;
  reset_attempt(x);
  if (x->cancelled != NULL && *x->cancelled) {
    LF_ERR(&x->err, LF_ERR_STORE, "cancelled");
    x->status = LF_ERR_STORE;
    e->active--;
    e->live--;
    if (x->done != NULL) {
      x->done(e, x);
    }
    return;
  }
  lf_status st = x->on_start != NULL ? x->on_start(x) : LF_OK;
  bool direct = lf_s3_direct_wanted(s3, x);
  CURL *c = direct ? NULL : take_easy(s3);
  x->easy = c;
  if (st == LF_OK) {
    st = lf_s3_prepare(s3, x, c, &x->err);
  }
  if (st != LF_OK) {
    x->easy = NULL;
    if (c != NULL) {
      give_easy(s3, c);
    }
    x->status = st;
    e->active--;
    e->live--;
    if (x->done != NULL) {
      x->done(e, x);
    }
    return;
  }
  // A stall (no byte moving for stall_timeout_s) fails the attempt, which is then retried.
  x->stall_limit_us = (int64_t)s3->opts.stall_timeout_s * 1000000;
  if (direct) {
    lf_s3_direct_start(e, x);
    return;
  }
  curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, lf_s3_on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, lf_s3_on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->curl_errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, RECV_BUFFER);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s3->opts.connect_timeout_s);
  x->progress_at_us = 0;
  x->progress_bytes = 0;
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
  if (strcmp(x->method, "GET") == 0) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(x->method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (x->has_body || strcmp(x->method, "PUT") == 0 || strcmp(x->method, "POST") == 0) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    uint64_t wire = x->trailer ? lf_s3_chunked_len(x->src_len) : x->src_len;
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)wire);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, x);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
    if (strcmp(x->method, "PUT") != 0) {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->method);
    }
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->method);
  }
  curl_multi_add_handle(s3->multi, c);
}

static bool transient_curl(CURLcode rc)
{
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_UNSUPPORTED_PROTOCOL: // "Received HTTP/0.9": garbage where a response should be
  case CURLE_HTTP_RETURNED_ERROR:
  case CURLE_UPLOAD_FAILED:
    return true;
  default:
    return false;
  }
}

static bool transient_code(long status, const char *code)
{
  static const char *codes[] = {"RequestTimeout",  "Throttling",         "ThrottlingException",
                                "SlowDown",        "RequestLimitExceeded", "InternalError",
                                "ServiceUnavailable"};
  if (status == 500 || status == 502 || status == 503 || status == 504 || status == 429) {
    return true;
  }
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    if (strcmp(code, codes[i]) == 0) {
      return true;
    }
  }
  return false;
}

static const char *reason(long status)
{
  switch (status) {
  case 301:
    return "Moved Permanently";
  case 307:
    return "Temporary Redirect";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 412:
    return "Precondition Failed";
  case 416:
    return "Range Not Satisfiable";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "HTTP error";
  }
}

// Classifies a finished attempt and, on failure, writes the message into x->err.
static outcome classify(s3_xfer *x, CURLcode rc)
{
  char where[600];
  lf_s3_describe(x, where, sizeof(where));
  if (x->sink_failed) {
    return x->sink_retry ? OUT_RETRY : OUT_FAIL;
  }
  if (rc != CURLE_OK) {
    LF_ERR(&x->err, LF_ERR_IO, "cannot %s '%s' (%s)", x->verb, where,
           x->curl_errbuf[0] != '\0' ? x->curl_errbuf : curl_easy_strerror(rc));
    return transient_curl(rc) ? OUT_RETRY : OUT_FAIL;
  }
  long st = x->http_status;
  lf_s3_error_doc doc;
  bool have_doc = lf_s3_parse_error(x->body.data, x->body.len, &doc);
  if (st >= 200 && st < 300) {
    if (x->check_error_body && have_doc) {
      // S3 may answer 200 and then report a failure in the body (CompleteMultipartUpload).
      snprintf(x->s3_code, sizeof(x->s3_code), "%s", doc.code);
      LF_ERR(&x->err, LF_ERR_STORE, "cannot %s '%s' (%s: %s)", x->verb, where, doc.code,
             doc.message);
      return transient_code(0, doc.code) ? OUT_RETRY : OUT_FAIL;
    }
    if (x->to_job && x->has_content_length && x->got != x->content_length) {
      LF_ERR(&x->err, LF_ERR_IO, "cannot %s '%s' (the body ended after %llu of %llu bytes)",
             x->verb, where, (unsigned long long)x->got,
             (unsigned long long)x->content_length);
      return OUT_RETRY;
    }
    return OUT_OK;
  }
  if (have_doc) {
    snprintf(x->s3_code, sizeof(x->s3_code), "%s", doc.code);
  }
  char hint[160] = "";
  const char *region = x->bucket_region[0] != '\0' ? x->bucket_region : doc.region;
  if (region[0] != '\0') {
    snprintf(hint, sizeof(hint), "; the bucket is in region '%s' (set AWS_REGION)", region);
  }
  LF_ERR(&x->err, st == 404 ? LF_ERR_NOTFOUND : LF_ERR_STORE, "cannot %s '%s' (%ld %s%s%s)%s",
         x->verb, where, st, have_doc ? doc.code : reason(st),
         have_doc && doc.message[0] != '\0' ? ": " : "", have_doc ? doc.message : "", hint);
  return transient_code(st, x->s3_code) ? OUT_RETRY : OUT_FAIL;
}

void lf_s3_engine_finish(s3_engine *e, s3_xfer *x, CURLcode rc)
{
  lf_s3 *s3 = e->s3;
  if (x->easy != NULL) {
    curl_multi_remove_handle(s3->multi, x->easy);
    give_easy(s3, x->easy);
    x->easy = NULL;
  }
  e->active--;
  outcome out = classify(x, rc);
  if (out == OUT_RETRY && x->attempt < s3->opts.max_attempts &&
      !(x->cancelled != NULL && *x->cancelled)) {
    // Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))].
    long ceiling = s3->opts.retry_base_ms;
    for (int i = 1; i < x->attempt && ceiling < s3->opts.retry_cap_ms; i++) {
      ceiling *= 2;
    }
    if (ceiling > s3->opts.retry_cap_ms) {
      ceiling = s3->opts.retry_cap_ms;
    }
    long delay = (long)(lf_s3_rand(s3) % (uint64_t)(ceiling + 1));
    LF_LOGW("retrying in %ld ms (attempt %d of %d): %s", delay, x->attempt,
            s3->opts.max_attempts, x->err.msg);
    x->not_before_us = lf_time_mono_us() + (int64_t)delay * 1000;
    e->live--;
    lf_s3_engine_add(e, x);
    return;
  }
  e->live--;
  if (out == OUT_OK) {
    x->status = LF_OK;
    lf_err_clear(&x->err);
  } else {
    if (out == OUT_RETRY && x->attempt > 1) {
      size_t n = strlen(x->err.msg);
      snprintf(x->err.msg + n, sizeof(x->err.msg) - n, " after %d attempts", x->attempt);
    }
    x->status = x->err.code != LF_OK ? x->err.code : LF_ERR_STORE;
  }
  if (x->done != NULL) {
    x->done(e, x);
  }
}
