// SPDX-License-Identifier: MIT
// This file contains the operations of a batch (lf_s3_run) as jobs of transfers:
//   GET     first part with a Range header; its response gives the size, then the remaining
//           parts in parallel (If-Match on the first ETag); memory or a temp file + rename
//   PUT     one request up to the multipart threshold, else CreateMultipartUpload, the parts
//           in parallel, CompleteMultipartUpload (AbortMultipartUpload after a failure)
//   HEAD, DELETE  one request each
// and the single-object conveniences on top.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws_sigv4.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "s3/s3_internal.h"

#define BUF_SLACK 64 // bytes past a body held in memory (see set_size)
#include "s3/s3_xml.h"

struct s3_job {
  lf_s3 *s3;
  lf_s3_op *op;
  bool failed;        // op->status/err hold the first failure
  int pending;        // transfers of this job queued or running
  // GET
  char *buf;          // memory destination
  size_t buf_cap;     // with big_out: the bytes of its buffer, from buf - op->out_head
  int fd;             // file destination (temp file), or PUT source; -1 if none
  char *tmp;          // the temp file's path
  uint64_t size;      // bytes of the destination (object or range)
  bool have_size;
  uint64_t base;      // object offset of the destination's first byte
  uint64_t object_size;
  bool plain_get;     // the first request goes without a Range (an empty object)
  // PUT
  const char *src;    // memory source
  uint64_t psize;
  char *upload_id;
  size_t nparts;
  size_t parts_left;
  char **etags;
  char (*sums)[32];
  char *complete_xml;
  bool aborting;
};

static void job_fail(s3_job *j, const s3_xfer *x);
static void job_fail_msg(s3_job *j, lf_status st, const char *msg);
static void job_settle(s3_engine *e, s3_job *j);
static void start_job(s3_engine *e, s3_job *j);

// --- GET --------------------------------------------------------------------------------

static bool get_first_headers(s3_xfer *x);
static bool get_part_headers(s3_xfer *x);
static void get_done(s3_engine *e, s3_xfer *x);

static s3_xfer *get_xfer(s3_job *j, uint64_t start, uint64_t end, bool first)
{
  lf_s3_op *op = j->op;
  s3_xfer *x = lf_s3_xfer_new("get", "GET", op->bucket, op->key);
  x->job = j;
  x->to_job = true;
  x->job_buf = &j->buf;
  x->job_fd = &j->fd;
  x->job_size = &j->size;
  x->cancelled = &j->failed;
  x->dst_off = start - j->base;
  x->on_headers = first ? get_first_headers : get_part_headers;
  x->done = get_done;
  x->part = first ? 1 : 2;
  x->want_start = start;
  x->want_end = end;
  if (!j->plain_get) {
    char range[64];
    if (end == UINT64_MAX) {
      snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)start);
    } else {
      snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)start,
               (unsigned long long)end);
    }
    lf_s3_xfer_header(x, "Range", range);
  }
  if (!first && j->op->info.etag[0] != '\0') {
    lf_s3_xfer_header(x, "If-Match", j->op->info.etag);
  }
  j->pending++;
  return x;
}

// Frees a body: with big_out a buffer of lf_big_alloc of `cap` bytes from body - op->out_head,
// else malloc's.
static void body_free(const lf_s3_op *op, char *body, size_t cap)
{
  if (body == NULL) {
    return;
  }
  if (op->big_out) {
    lf_big_free(body - op->out_head, cap);
  } else {
    lf_free(body);
  }
}

// Frees a job's memory destination.
static void job_buf_free(s3_job *j)
{
  body_free(j->op, j->buf, j->buf_cap);
  j->buf = NULL;
}

static bool set_size(s3_xfer *x, s3_job *j, uint64_t size)
{
  char where[600];
  lf_s3_describe(x, where, sizeof(where));
  if (j->have_size) {
    if (j->size != size) {
      LF_ERR(&x->err, LF_ERR_STORE, "cannot get '%s' (the object changed while it was read)",
             where);
      return false;
    }
    return true;
  }
  lf_s3_op *op = j->op;
  if (op->path == NULL && op->max > 0 && size > op->max) {
    LF_ERR(&x->err, LF_ERR_STORE, "cannot get '%s' (%llu bytes, more than the limit of %zu)",
           where, (unsigned long long)size, op->max);
    return false;
  }
  if (op->path == NULL) {
    // BUF_SLACK (malloc's buffers): a body is usually copied into a string of its language (a
    // Lua string adds a header of 24 bytes) right before its buffer is freed; with the slack
    // the next string fits in the freed buffer, whose pages are already faulted in.
    // big_out: the caller's head in front (a string can then be made in place).
    j->buf = NULL;
    if (!op->big_out) {
      if (size < SIZE_MAX - BUF_SLACK) {
        j->buf = lf_try_malloc((size_t)size + 1 + BUF_SLACK);
      }
    } else if (size < SIZE_MAX - 1 - op->out_head) {
      j->buf_cap = op->out_head + (size_t)size + 1;
      char *block = lf_big_alloc(j->buf_cap);
      j->buf = block != NULL ? block + op->out_head : NULL;
    }
    if (j->buf == NULL) {
      LF_ERR(&x->err, LF_ERR_NOMEM, "cannot get '%s' (cannot allocate %llu bytes)", where,
             (unsigned long long)size);
      return false;
    }
  } else if (ftruncate(j->fd, (off_t)size) != 0) {
    LF_ERR(&x->err, LF_ERR_IO, "cannot get '%s' into '%s' (%s)", where, op->path,
           strerror(errno));
    return false;
  }
  j->size = size;
  j->have_size = true;
  return true;
}

// The first response tells the object's size; the destination is the object from `base`
// to the end of the requested range (or of the object).
static bool get_first_headers(s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_op *op = j->op;
  char where[600];
  lf_s3_describe(x, where, sizeof(where));
  uint64_t object_size;
  uint64_t last_asked = op->has_range ? op->range_end : UINT64_MAX;
  if (x->http_status == 206 && x->has_content_range && x->has_content_length) {
    object_size = x->cr_total;
    uint64_t want_end = x->want_end < object_size - 1 ? x->want_end : object_size - 1;
    if (x->cr_start != x->want_start || x->cr_end != want_end ||
        x->content_length != x->cr_end - x->cr_start + 1) {
      LF_ERR(&x->err, LF_ERR_STORE, "cannot get '%s' (the response is not the range asked for)",
             where);
      return false;
    }
  } else if (x->http_status == 200 && x->has_content_length) {
    // The whole object: no Range was sent (an empty object), or the server ignored it, which
    // is fine only if the whole object is what was asked for.
    object_size = x->content_length;
    if (j->base != 0 || (last_asked != UINT64_MAX && last_asked + 1 < object_size)) {
      LF_ERR(&x->err, LF_ERR_STORE, "cannot get '%s' (the server ignored the Range header)",
             where);
      return false;
    }
  } else {
    LF_ERR(&x->err, LF_ERR_STORE, "cannot get '%s' (HTTP %ld without Content-Length)", where,
           x->http_status);
    return false;
  }
  uint64_t last = last_asked < object_size ? last_asked : object_size - 1;
  uint64_t size = object_size == 0 ? 0 : last - j->base + 1;
  j->object_size = object_size;
  if (!set_size(x, j, size)) {
    return false;
  }
  snprintf(op->info.etag, sizeof(op->info.etag), "%s", x->etag);
  op->info.size = object_size;
  op->info.last_modified = x->last_modified;
  return true;
}

static bool get_part_headers(s3_xfer *x)
{
  s3_job *j = x->job;
  if (x->http_status != 206 || !x->has_content_range || x->cr_start != x->want_start ||
      x->cr_end != x->want_end || x->cr_total != j->object_size || !x->has_content_length ||
      x->content_length != x->cr_end - x->cr_start + 1) {
    char where[600];
    lf_s3_describe(x, where, sizeof(where));
    LF_ERR(&x->err, LF_ERR_STORE,
           "cannot get '%s' (the response to a ranged read does not match the range asked for)",
           where);
    return false;
  }
  return true;
}

static void get_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_op *op = j->op;
  j->pending--;
  bool first = x->part == 1;
  if (x->status != LF_OK && first && x->http_status == 416 && !op->has_range && !j->plain_get) {
    // An empty object has no byte 0: ask again without a Range.
    j->plain_get = true;
    lf_s3_engine_add(e, get_xfer(j, 0, UINT64_MAX, true));
  } else if (x->status != LF_OK) {
    job_fail(j, x);
  } else if (first && !j->failed) {
    // The rest of the object in parallel ranges.
    uint64_t part = j->s3->opts.part_size;
    for (uint64_t off = j->base + x->got; off < j->base + j->size; off += part) {
      uint64_t end = off + part - 1 < j->base + j->size - 1 ? off + part - 1
                                                             : j->base + j->size - 1;
      lf_s3_engine_add(e, get_xfer(j, off, end, false));
    }
  }
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

static lf_status open_temp(s3_job *j, lf_err *err)
{
  const char *path = j->op->path;
  char *dir = lf_path_dirname(path);
  lf_status st = lf_fs_mkdirs(dir, err);
  // Not mkstemp: its files are 0600, and a downloaded file should get the mode of any new
  // file (0666 less the umask), as with cp or `aws s3 cp`.
  for (int tries = 1; st == LF_OK && j->fd < 0; tries++) {
    j->tmp = lf_xasprintf("%s/.%s.lfs3.%016llx", dir, lf_path_basename(path),
                          (unsigned long long)lf_s3_rand(j->s3));
    j->fd = open(j->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (j->fd < 0) {
      if (errno != EEXIST || tries == 100) {
        st = LF_ERR(err, LF_ERR_IO, "cannot create a file in '%s' (%s)", dir, strerror(errno));
      }
      lf_free(j->tmp);
      j->tmp = NULL;
    }
  }
  lf_free(dir);
  return st;
}

static void start_get(s3_engine *e, s3_job *j)
{
  lf_s3_op *op = j->op;
  if (op->path != NULL && open_temp(j, &op->err) != LF_OK) {
    j->failed = true;
    op->status = op->err.code;
    return;
  }
  uint64_t part = j->s3->opts.part_size;
  uint64_t start = op->has_range ? op->range_start : 0;
  if (op->has_range && op->range_end < op->range_start) {
    job_fail_msg(j, LF_ERR_USAGE, "the range ends before it starts");
    return;
  }
  // The first part alone: its answer gives the size, then the rest goes in parallel.
  uint64_t end = start + part - 1;
  if (op->has_range && op->range_end < end) {
    end = op->range_end;
  }
  j->base = start;
  lf_s3_engine_add(e, get_xfer(j, start, end, true));
}

static void finish_get(s3_job *j)
{
  lf_s3_op *op = j->op;
  if (!j->failed && op->path != NULL) {
    if (close(j->fd) != 0 || rename(j->tmp, op->path) != 0) {
      lf_err err = {0};
      LF_ERR(&err, LF_ERR_IO, "cannot write '%s' (%s)", op->path, strerror(errno));
      job_fail_msg(j, LF_ERR_IO, err.msg);
    }
    j->fd = -1;
  }
  if (j->failed) {
    job_buf_free(j);
    if (j->fd >= 0) {
      close(j->fd);
      j->fd = -1;
    }
    if (j->tmp != NULL) {
      unlink(j->tmp);
    }
  } else if (op->path == NULL) {
    j->buf[j->size] = '\0';
    op->out = j->buf;
    op->out_len = (size_t)j->size;
    op->out_cap = j->buf_cap;
    j->buf = NULL;
  }
  lf_free(j->tmp);
  j->tmp = NULL;
}

// --- PUT --------------------------------------------------------------------------------

static void put_done(s3_engine *e, s3_xfer *x);
static void create_done(s3_engine *e, s3_xfer *x);
static void part_done(s3_engine *e, s3_xfer *x);
static void complete_done(s3_engine *e, s3_xfer *x);
static void abort_done(s3_engine *e, s3_xfer *x);

static void set_body(s3_job *j, s3_xfer *x, uint64_t off, uint64_t len)
{
  x->has_body = true;
  x->src_mem = j->src;
  x->src_fd = j->fd;
  x->src_off = off;
  x->src_len = len;
}

// Adds the checksum of the transfer's body before the first attempt: a trailer computed as
// the body is sent, or a header computed now. By default a body in memory gets the header:
// one pass of the CRC (several GB/s) spares the server the aws-chunked decoding, and more
// S3-compatible stores take it; a file gets the trailer, so it is read once.
static lf_status add_checksum(s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_checksum kind = j->s3->opts.checksum;
  char sum[32];
  if (x->attempt > 1) {
    return LF_OK;
  }
  if (kind == LF_S3_CHECKSUM_CRC32C_TRAILER ||
      (kind == LF_S3_CHECKSUM_CRC32C && x->src_mem == NULL && x->src_len > 0)) {
    lf_s3_xfer_trailer(x);
    return LF_OK;
  }
  if (x->src_mem != NULL || x->src_len == 0) {
    lf_s3_checksum_value(kind, x->src_mem != NULL ? x->src_mem + x->src_off : "", x->src_len,
                         sum);
  } else {
    lf_status st = lf_s3_checksum_file(kind, x->src_fd, x->src_off, x->src_len, sum, &x->err);
    if (st != LF_OK) {
      return st;
    }
  }
  lf_s3_xfer_header(x, lf_s3_checksum_header(kind), sum);
  if (kind != LF_S3_CHECKSUM_MD5) {
    lf_s3_xfer_header(x, "x-amz-sdk-checksum-algorithm", "CRC32C"); // as the SDKs send it
  }
  if (x->part > 0 && j->sums != NULL) {
    memcpy(j->sums[x->part - 1], sum, sizeof(sum));
  }
  return LF_OK;
}

static void start_put(s3_engine *e, s3_job *j)
{
  lf_s3_op *op = j->op;
  lf_s3 *s3 = j->s3;
  if (op->path != NULL) {
    j->fd = open(op->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    const char *why = NULL;
    if (j->fd < 0 || fstat(j->fd, &sb) != 0) {
      why = strerror(errno);
    } else if (!S_ISREG(sb.st_mode)) {
      why = "not a regular file";
    }
    if (why != NULL) {
      char msg[700];
      snprintf(msg, sizeof(msg), "cannot read '%s' (%s)", op->path, why);
      job_fail_msg(j, LF_ERR_IO, msg);
      return;
    }
    j->psize = (uint64_t)sb.st_size;
  } else {
    j->src = op->data != NULL ? op->data : "";
    j->psize = op->len;
  }
  if (j->psize <= s3->opts.multipart_threshold) {
    s3_xfer *x = lf_s3_xfer_new("put", "PUT", op->bucket, op->key);
    x->job = j;
    set_body(j, x, 0, j->psize);
    x->on_start = add_checksum;
    if (op->if_none_match) {
      lf_s3_xfer_header(x, "If-None-Match", "*");
    }
    x->done = put_done;
    j->pending++;
    lf_s3_engine_add(e, x);
    return;
  }
  // Parts: at least part_size, and few enough for S3's limit of 10000 (rounded to MiB).
  uint64_t part = s3->opts.part_size;
  uint64_t min_part = (j->psize + LF_S3_MAX_PARTS - 1) / LF_S3_MAX_PARTS;
  if (part < min_part) {
    part = (min_part + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
  }
  j->nparts = (size_t)((j->psize + part - 1) / part);
  j->parts_left = j->nparts;
  j->etags = lf_xcalloc(j->nparts, sizeof(char *));
  j->sums = lf_xcalloc(j->nparts, sizeof(*j->sums));
  s3_xfer *x = lf_s3_xfer_new("start a multipart upload of", "POST", op->bucket, op->key);
  x->job = j;
  lf_s3_xfer_query(x, "uploads", "");
  if (s3->opts.checksum != LF_S3_CHECKSUM_MD5) {
    lf_s3_xfer_header(x, "x-amz-checksum-algorithm", "CRC32C");
  }
  x->done = create_done;
  x->dst_off = part; // remembered for create_done
  j->pending++;
  lf_s3_engine_add(e, x);
}

static void put_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  j->pending--;
  if (x->status != LF_OK && x->http_status == 412 && j->op->if_none_match) {
    j->op->existed = true;
  } else if (x->status != LF_OK) {
    job_fail(j, x);
  } else {
    snprintf(j->op->info.etag, sizeof(j->op->info.etag), "%s", x->etag);
    j->op->info.size = j->psize;
  }
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

static void create_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_op *op = j->op;
  j->pending--;
  uint64_t part = x->dst_off;
  if (x->status == LF_OK &&
      lf_s3_parse_upload_id(x->body.data, x->body.len, &j->upload_id, &x->err) != LF_OK) {
    x->status = LF_ERR_STORE;
  }
  if (x->status != LF_OK) {
    job_fail(j, x);
  } else {
    for (size_t i = 0; i < j->nparts; i++) {
      uint64_t off = (uint64_t)i * part;
      uint64_t len = j->psize - off < part ? j->psize - off : part;
      s3_xfer *p = lf_s3_xfer_new("upload a part of", "PUT", op->bucket, op->key);
      p->job = j;
      p->part = (int)i + 1;
      p->cancelled = &j->failed;
      char num[24];
      snprintf(num, sizeof(num), "%zu", i + 1);
      lf_s3_xfer_query(p, "partNumber", num);
      lf_s3_xfer_query(p, "uploadId", j->upload_id);
      set_body(j, p, off, len);
      p->on_start = add_checksum;
      p->done = part_done;
      j->pending++;
      lf_s3_engine_add(e, p);
    }
  }
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

static void part_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_op *op = j->op;
  j->pending--;
  if (x->status != LF_OK) {
    job_fail(j, x);
  } else if (x->etag[0] == '\0') {
    job_fail_msg(j, LF_ERR_STORE, "a part upload was answered without an ETag");
  } else {
    j->etags[x->part - 1] = lf_xstrdup(x->etag);
    if (x->trailer) {
      snprintf(j->sums[x->part - 1], sizeof(j->sums[0]), "%s", x->trailer_sum);
    }
    j->parts_left--;
  }
  if (!j->failed && j->parts_left == 0) {
    lf_dynbuf xml;
    lf_dynbuf_init(&xml, (size_t)1 << 26);
    lf_dynbuf_adds(&xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/"
                         "2006-03-01/\">");
    bool crc = j->s3->opts.checksum != LF_S3_CHECKSUM_MD5;
    for (size_t i = 0; i < j->nparts; i++) {
      lf_dynbuf_addf(&xml, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
      // ETags are quoted strings; escape them for XML.
      for (const char *c = j->etags[i]; *c != '\0'; c++) {
        if (*c == '"') {
          lf_dynbuf_adds(&xml, "&quot;");
        } else if (*c == '&') {
          lf_dynbuf_adds(&xml, "&amp;");
        } else if (*c == '<') {
          lf_dynbuf_adds(&xml, "&lt;");
        } else {
          lf_dynbuf_addc(&xml, *c);
        }
      }
      lf_dynbuf_adds(&xml, "</ETag>");
      if (crc) {
        lf_dynbuf_addf(&xml, "<ChecksumCRC32C>%s</ChecksumCRC32C>", j->sums[i]);
      }
      lf_dynbuf_adds(&xml, "</Part>");
    }
    lf_dynbuf_adds(&xml, "</CompleteMultipartUpload>");
    size_t len = 0;
    j->complete_xml = lf_dynbuf_take(&xml, &len);
    s3_xfer *c = lf_s3_xfer_new("complete the multipart upload of", "POST", op->bucket, op->key);
    c->job = j;
    lf_s3_xfer_query(c, "uploadId", j->upload_id);
    c->has_body = true;
    c->src_mem = j->complete_xml;
    c->src_len = len;
    lf_aws_sha256_hex(j->complete_xml, len, c->payload_hash);
    c->check_error_body = true;
    if (op->if_none_match) {
      lf_s3_xfer_header(c, "If-None-Match", "*");
    }
    c->done = complete_done;
    j->pending++;
    lf_s3_engine_add(e, c);
  }
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

static void complete_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_op *op = j->op;
  j->pending--;
  if (x->status != LF_OK && x->http_status == 412 && op->if_none_match) {
    // The key exists: nothing was written, and the uploaded parts are dropped.
    op->existed = true;
    lf_free(j->complete_xml);
    j->complete_xml = NULL;
    s3_xfer *a = lf_s3_xfer_new("abort the multipart upload of", "DELETE", op->bucket, op->key);
    a->job = j;
    lf_s3_xfer_query(a, "uploadId", j->upload_id);
    a->done = abort_done;
    j->pending++;
    j->aborting = true;
    lf_s3_engine_add(e, a);
  } else if (x->status != LF_OK) {
    job_fail(j, x);
  } else {
    lf_err perr = {0};
    lf_s3_xml *doc = lf_s3_xml_parse(x->body.data, x->body.len, &perr);
    const char *etag = doc != NULL ? lf_s3_xml_child_text(doc, 0, "ETag") : NULL;
    snprintf(op->info.etag, sizeof(op->info.etag), "%s", etag != NULL ? etag : x->etag);
    op->info.size = j->psize;
    lf_s3_xml_free(doc);
  }
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

static void abort_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  j->pending--;
  // Best effort: a failed abort leaves parts that a lifecycle rule removes; the operation's
  // own error is what matters.
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

// --- HEAD, DELETE -------------------------------------------------------------------------

static void simple_done(s3_engine *e, s3_xfer *x)
{
  s3_job *j = x->job;
  lf_s3_op *op = j->op;
  j->pending--;
  bool missing_key = x->http_status == 404 && strcmp(x->s3_code, "NoSuchBucket") != 0;
  if (x->status != LF_OK && !(op->kind == LF_S3_DELETE && missing_key)) {
    job_fail(j, x);
  } else if (op->kind == LF_S3_HEAD) {
    op->info.size = x->content_length;
    snprintf(op->info.etag, sizeof(op->info.etag), "%s", x->etag);
    op->info.last_modified = x->last_modified;
  }
  lf_s3_xfer_free(x);
  job_settle(e, j);
}

static void start_simple(s3_engine *e, s3_job *j)
{
  lf_s3_op *op = j->op;
  bool head = op->kind == LF_S3_HEAD;
  s3_xfer *x = lf_s3_xfer_new(head ? "head" : "delete", head ? "HEAD" : "DELETE", op->bucket,
                              op->key);
  x->job = j;
  x->done = simple_done;
  j->pending++;
  lf_s3_engine_add(e, x);
}

// --- jobs ---------------------------------------------------------------------------------

static void job_fail_msg(s3_job *j, lf_status st, const char *msg)
{
  if (!j->failed) {
    j->failed = true;
    j->op->status = st;
    lf_err_clear(&j->op->err);
    LF_ERR(&j->op->err, st, "%s", msg);
  }
}

static void job_fail(s3_job *j, const s3_xfer *x)
{
  if (!j->failed) {
    j->failed = true;
    j->op->status = x->status != LF_OK ? x->status : LF_ERR_STORE;
    j->op->err = x->err;
    j->op->err.code = j->op->status;
  }
}

// Called after each transfer of a job: once none is left, the job ends (and a failed
// multipart upload is aborted first).
static void job_settle(s3_engine *e, s3_job *j)
{
  if (j->pending > 0) {
    return;
  }
  lf_s3_op *op = j->op;
  if (j->failed && j->upload_id != NULL && !j->aborting) {
    j->aborting = true;
    s3_xfer *a = lf_s3_xfer_new("abort the multipart upload of", "DELETE", op->bucket, op->key);
    a->job = j;
    lf_s3_xfer_query(a, "uploadId", j->upload_id);
    a->done = abort_done;
    j->pending++;
    lf_s3_engine_add(e, a);
    return;
  }
  if (op->kind == LF_S3_GET) {
    finish_get(j);
  }
}

static void job_free(s3_job *j)
{
  if (j->fd >= 0) {
    close(j->fd);
  }
  for (size_t i = 0; j->etags != NULL && i < j->nparts; i++) {
    lf_free(j->etags[i]);
  }
  lf_free(j->etags);
  lf_free(j->sums);
  lf_free(j->upload_id);
  lf_free(j->complete_xml);
  job_buf_free(j);
  lf_free(j->tmp);
}

static bool valid_op(lf_s3_op *op)
{
  const char *problem = NULL;
  if (op->bucket == NULL || op->bucket[0] == '\0') {
    problem = "an operation needs a bucket";
  } else if (op->key == NULL || op->key[0] == '\0') {
    problem = "an operation needs a key";
  } else if (op->kind == LF_S3_PUT && op->path == NULL && op->data == NULL && op->len > 0) {
    problem = "a PUT needs data or a file";
  } else if (op->kind > LF_S3_DELETE) {
    problem = "unknown operation";
  }
  if (problem != NULL) {
    op->status = LF_ERR_USAGE;
    LF_ERR(&op->err, LF_ERR_USAGE, "%s (bucket '%s', key '%s')", problem,
           op->bucket != NULL ? op->bucket : "", op->key != NULL ? op->key : "");
    return false;
  }
  return true;
}

static void start_job(s3_engine *e, s3_job *j)
{
  switch (j->op->kind) {
  case LF_S3_GET:
    start_get(e, j);
    break;
  case LF_S3_PUT:
    start_put(e, j);
    break;
  case LF_S3_HEAD:
  case LF_S3_DELETE:
    start_simple(e, j);
    break;
  }
  job_settle(e, j);
}

lf_status lf_s3_run(lf_s3 *s3, lf_s3_op *ops, size_t n, lf_err *err)
{
  s3_job *jobs = lf_xcalloc(n > 0 ? n : 1, sizeof(*jobs));
  s3_engine e;
  lf_s3_engine_init(&e, s3);
  for (size_t i = 0; i < n; i++) {
    lf_s3_op *op = &ops[i];
    op->status = LF_OK;
    lf_err_clear(&op->err);
    jobs[i] = (s3_job){.s3 = s3, .op = op, .fd = -1};
    op->out = NULL;
    op->out_len = 0;
    op->out_cap = 0;
    memset(&op->info, 0, sizeof(op->info));
    op->existed = false;
    if (valid_op(op)) {
      start_job(&e, &jobs[i]);
    } else {
      jobs[i].failed = true;
    }
  }
  lf_s3_engine_run(&e);
  size_t failed = 0;
  size_t first = 0;
  for (size_t i = 0; i < n; i++) {
    job_free(&jobs[i]);
    if (ops[i].status != LF_OK) {
      if (failed++ == 0) {
        first = i;
      }
    }
  }
  lf_free(jobs);
  if (failed == 0) {
    return LF_OK;
  }
  if (n == 1) {
    return LF_ERR(err, ops[first].status, "%s", ops[first].err.msg);
  }
  return LF_ERR(err, ops[first].status, "%zu of %zu operations failed; first: %s", failed, n,
                ops[first].err.msg);
}

// --- single-object conveniences ------------------------------------------------------------

void lf_s3_op_free_out(lf_s3_op *op)
{
  body_free(op, op->out, op->out_cap);
  op->out = NULL;
}

lf_status lf_s3_get(lf_s3 *s3, const char *bucket, const char *key, size_t max, char **data,
                    size_t *len, lf_err *err)
{
  lf_s3_op op = {.kind = LF_S3_GET, .bucket = bucket, .key = key, .max = max};
  lf_status st = lf_s3_run(s3, &op, 1, err);
  *data = op.out;
  *len = op.out_len;
  return st;
}

lf_status lf_s3_get_file(lf_s3 *s3, const char *bucket, const char *key, const char *path,
                         lf_err *err)
{
  lf_s3_op op = {.kind = LF_S3_GET, .bucket = bucket, .key = key, .path = path};
  return lf_s3_run(s3, &op, 1, err);
}

lf_status lf_s3_put(lf_s3 *s3, const char *bucket, const char *key, const void *data,
                    size_t len, bool if_none_match, bool *existed, lf_err *err)
{
  lf_s3_op op = {.kind = LF_S3_PUT,
                 .bucket = bucket,
                 .key = key,
                 .data = data,
                 .len = len,
                 .if_none_match = if_none_match};
  lf_status st = lf_s3_run(s3, &op, 1, err);
  if (existed != NULL) {
    *existed = op.existed;
  }
  return st;
}

lf_status lf_s3_put_file(lf_s3 *s3, const char *bucket, const char *key, const char *path,
                         lf_err *err)
{
  lf_s3_op op = {.kind = LF_S3_PUT, .bucket = bucket, .key = key, .path = path};
  return lf_s3_run(s3, &op, 1, err);
}

lf_status lf_s3_head(lf_s3 *s3, const char *bucket, const char *key, lf_s3_info *info,
                     lf_err *err)
{
  lf_s3_op op = {.kind = LF_S3_HEAD, .bucket = bucket, .key = key};
  lf_status st = lf_s3_run(s3, &op, 1, err);
  if (info != NULL) {
    *info = op.info;
  }
  return st;
}

lf_status lf_s3_delete(lf_s3 *s3, const char *bucket, const char *key, lf_err *err)
{
  lf_s3_op op = {.kind = LF_S3_DELETE, .bucket = bucket, .key = key};
  return lf_s3_run(s3, &op, 1, err);
}
