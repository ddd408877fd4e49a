// SPDX-License-Identifier: MIT
// This file contains the store layer over a backend: key and name validation, plain objects,
// and content-addressed blobs (hashing, the LFB1 header, zstd compression, verification).
//
// Throughput is a budget here (DESIGN §6: a 1 GB array saved and loaded at >= 1 GB/s each
// way), and SHA-256 alone runs at ~1.7 GB/s on one core, so:
//  - incompressible data is detected from a few sampled chunks and never fully compressed;
//  - a large raw blob is written to a staged temp object while a second thread hashes it,
//    then published under its hash (the hash is needed for the name, the write is not);
//  - reading a compressed blob decompresses in 1 MiB windows that a second thread hashes;
//    a raw blob is shifted over its header and hashed window by window while cache-hot;
//  - big buffers ask for transparent huge pages (see lf_store_alloc).
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "core/alloc.h"
#include "core/hex.h"
#include "store/sha256.h"

#define TINY_MAX 128                   // below this, blobs are stored raw
#define SAMPLE_ABOVE (1u << 20)        // above this, compressibility is sampled first
#define SAMPLE_CHUNK (64u << 10)       // bytes per sample
#define SAMPLES 8                      // samples spread evenly over the blob
#define OVERLAP_MIN ((size_t)8 << 20)  // from here hashing runs on a second thread
#define WINDOW ((size_t)1 << 20)       // read-side unit of decompression and hashing
#define STAGE_CHUNK ((size_t)16 << 20) // write unit while hashing runs beside (polled between)
#define MT_MIN ((size_t)8 << 20)       // from here zstd compresses with 2 worker threads
#define ZSTD_LEVEL 1
// zstd's densest encoding is an RLE block: 4 bytes for up to 128 KiB, so no valid frame
// expands more than 32768 times. A header claiming more is corrupt, not a reason to allocate.
#define ZSTD_MAX_RATIO 32768u
#define BIG_ALLOC ((size_t)4 << 20)

struct lf_store {
  const lf_store_backend *be;
  void *self;
  char *root;
  ZSTD_CCtx *cctx; // single-threaded; created on first use, reused
  ZSTD_DCtx *dctx;
};

// SHA-256 of a buffer that fills up over time, optionally on its own thread. Bytes [0, ready)
// may be hashed; the producer only writes past `ready`.
typedef struct hasher {
  lf_sha256_ctx ctx;
  const unsigned char *data;
  size_t total;
  size_t ready; // guarded by mu when threaded
  size_t done;  // hashed so far; the hashing thread's own until joined
  bool stop;    // guarded by mu: abandon (error path)
  bool finished; // guarded by mu: the hashing thread has hashed all `total` bytes
  bool threaded;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} hasher;

static lf_status check_flow(const char *flow, lf_err *err);
static lf_status check_hex(const char *hex, lf_err *err);
static lf_status check_key(const char *key, bool prefix, lf_err *err);
static char *blob_key(const char *flow, const char *hex);
static void short_hex(const char *hex, char out[32]);
static lf_status pass(lf_err *err, const lf_err *sub);
static void put_header(unsigned char *h, int codec, uint64_t n);
static uint64_t get_le64(const unsigned char *p);
static bool looks_compressible(lf_store *st, const unsigned char *data, size_t len);
static lf_status compress(lf_store *st, const unsigned char *data, size_t len, char **out,
                          size_t *outlen, lf_err *err);
static lf_status write_blob(lf_store *st, const char *flow, const char *key,
                            const unsigned char *data, size_t len, bool try_zstd,
                            bool *existed, lf_err *err);
static lf_status write_staged(lf_store *st, const char *flow, const unsigned char *data,
                              size_t len, hasher *h, const char *key, char hex[65],
                              bool *existed, lf_err *err);
static char *name_from(hasher *h, const char *flow, char hex[65]);
static lf_status decode(lf_store *st, const char *key, const char *hex, char *obj, size_t olen,
                        char **enc, size_t *len, lf_err *err);
static lf_status decode_zstd(lf_store *st, const unsigned char *payload, size_t plen,
                             uint64_t n, char **out, unsigned char md[LF_SHA256_LEN],
                             char *why, size_t whysz);
static void hasher_start(hasher *h, const void *data, size_t total, size_t ready, bool thread);
static void hasher_ready(hasher *h, size_t ready);
static bool hasher_done(hasher *h);
static void hasher_finish(hasher *h, unsigned char md[LF_SHA256_LEN]);
static void hasher_cancel(hasher *h);
static void *hasher_main(void *arg);

lf_store *lf_store_new(const lf_store_backend *be, void *self)
{
  lf_store *st = lf_xcalloc(1, sizeof(*st));
  st->be = be;
  st->self = self;
  st->root = be->describe(self, "");
  if (st->root == NULL) {
    st->root = lf_xstrdup(be->name);
  }
  return st;
}

void lf_store_free(lf_store *st)
{
  if (st == NULL) {
    return;
  }
  st->be->free(st->self);
  ZSTD_freeCCtx(st->cctx);
  ZSTD_freeDCtx(st->dctx);
  lf_free(st->root);
  lf_free(st);
}

const char *lf_store_root(const lf_store *st)
{
  return st->root;
}

char *lf_store_describe(const lf_store *st, const char *key)
{
  char *d = st->be->describe(st->self, key);
  return d != NULL ? d : lf_xasprintf("%s:%s", st->be->name, key);
}

lf_status lf_store_put_blob(lf_store *st, const char *flow, const void *enc, size_t len,
                            char hex_out[65], bool *existed, lf_err *err)
{
  if (existed != NULL) {
    *existed = false;
  }
  if (hex_out != NULL) {
    hex_out[0] = '\0';
  }
  lf_status s = check_flow(flow, err);
  if (s != LF_OK) {
    return s;
  }
  const unsigned char *data = enc;
  bool sampled_raw = len > SAMPLE_ABOVE && !looks_compressible(st, data, len);
  char hex[65];
  if (sampled_raw && len >= OVERLAP_MIN && st->be->stage_open != NULL) {
    hasher h;
    hasher_start(&h, data, len, len, true);
    s = write_staged(st, flow, data, len, &h, NULL, hex, existed, err);
  } else {
    unsigned char md[LF_SHA256_LEN];
    lf_sha256(data, len, md);
    lf_hex_encode(md, sizeof(md), hex);
    char *key = blob_key(flow, hex);
    bool have = false;
    s = st->be->exists(st->self, key, &have, err);
    if (s == LF_OK && have) {
      if (existed != NULL) {
        *existed = true;
      }
    } else if (s == LF_OK) {
      s = write_blob(st, flow, key, data, len, !sampled_raw && len >= TINY_MAX, existed, err);
    }
    lf_free(key);
  }
  if (s == LF_OK && hex_out != NULL) {
    memcpy(hex_out, hex, 65);
  }
  return s;
}

lf_status lf_store_get_blob(lf_store *st, const char *flow, const char *hex, char **enc,
                            size_t *len, lf_err *err)
{
  *enc = NULL;
  *len = 0;
  lf_status s = check_flow(flow, err);
  if (s == LF_OK) {
    s = check_hex(hex, err);
  }
  if (s != LF_OK) {
    return s;
  }
  char *key = blob_key(flow, hex);
  lf_err sub = {0};
  char *obj = NULL;
  size_t olen = 0;
  s = st->be->get(st->self, key, SIZE_MAX - 1, &obj, &olen, &sub);
  if (s == LF_ERR_NOTFOUND) {
    char sh[32];
    short_hex(hex, sh);
    char *where = lf_store_describe(st, key);
    LF_ERR(err, LF_ERR_NOTFOUND, "cannot read blob '%s' from '%s' (not found)", sh, where);
    lf_free(where);
  } else if (s != LF_OK) {
    pass(err, &sub);
  } else {
    s = decode(st, key, hex, obj, olen, enc, len, err);
  }
  lf_free(key);
  return s;
}

lf_status lf_store_has_blob(lf_store *st, const char *flow, const char *hex, bool *out,
                            lf_err *err)
{
  *out = false;
  lf_status s = check_flow(flow, err);
  if (s == LF_OK) {
    s = check_hex(hex, err);
  }
  if (s != LF_OK) {
    return s;
  }
  char *key = blob_key(flow, hex);
  s = st->be->exists(st->self, key, out, err);
  lf_free(key);
  return s;
}

lf_status lf_store_put(lf_store *st, const char *key, const void *data, size_t len, lf_err *err)
{
  lf_status s = check_key(key, false, err);
  if (s != LF_OK) {
    return s;
  }
  return st->be->put(st->self, key, data, len, false, NULL, err);
}

lf_status lf_store_get(lf_store *st, const char *key, size_t max, char **data, size_t *len,
                       lf_err *err)
{
  *data = NULL;
  if (len != NULL) {
    *len = 0;
  }
  lf_status s = check_key(key, false, err);
  if (s != LF_OK) {
    return s;
  }
  size_t n = 0;
  s = st->be->get(st->self, key, max, data, &n, err);
  if (len != NULL) {
    *len = n;
  }
  return s;
}

lf_status lf_store_exists(lf_store *st, const char *key, bool *out, lf_err *err)
{
  *out = false;
  lf_status s = check_key(key, false, err);
  if (s != LF_OK) {
    return s;
  }
  return st->be->exists(st->self, key, out, err);
}

lf_status lf_store_remove(lf_store *st, const char *key, lf_err *err)
{
  lf_status s = check_key(key, false, err);
  if (s != LF_OK) {
    return s;
  }
  return st->be->remove(st->self, key, err);
}

lf_status lf_store_list(lf_store *st, const char *prefix, char ***names, size_t *n, lf_err *err)
{
  *names = NULL;
  *n = 0;
  lf_status s = check_key(prefix, true, err);
  if (s != LF_OK) {
    return s;
  }
  size_t pl = strlen(prefix);
  char *norm = lf_xmemdupz(prefix, pl > 0 && prefix[pl - 1] == '/' ? pl - 1 : pl);
  s = st->be->list(st->self, norm, names, n, err);
  lf_free(norm);
  return s;
}

void lf_store_free_names(char **names, size_t n)
{
  if (names == NULL) {
    return;
  }
  for (size_t k = 0; k < n; k++) {
    lf_free(names[k]);
  }
  lf_free(names);
}

lf_status lf_store_create_exclusive(lf_store *st, const char *key, const void *data, size_t len,
                                    bool *created, lf_err *err)
{
  *created = false;
  lf_status s = check_key(key, false, err);
  if (s != LF_OK) {
    return s;
  }
  bool existed = false;
  s = st->be->put(st->self, key, data, len, true, &existed, err);
  if (s == LF_OK) {
    *created = !existed;
  }
  return s;
}

void *lf_store_alloc(size_t n)
{
  void *p = lf_try_malloc(n);
#ifdef MADV_HUGEPAGE
  if (p != NULL && n >= BIG_ALLOC) {
    // Only a hint, and only over whole pages of our own allocation; failure changes nothing.
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(page - 1);
    if (e > a) {
      (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
  }
#endif
  return p;
}

// ---- validation and names ----

static lf_status check_flow(const char *flow, lf_err *err)
{
  size_t n = flow != NULL ? strlen(flow) : 0;
  bool ok = n > 0 && n <= 128 && flow[0] != '.' && flow[0] != '-';
  for (size_t k = 0; ok && k < n; k++) {
    char c = flow[k];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.';
  }
  if (!ok) {
    return LF_ERR(err, LF_ERR_USAGE,
                  "invalid flow name '%.200s' (use 1 to 128 letters, digits, '_', '-' or '.', "
                  "not starting with '.' or '-')",
                  flow != NULL ? flow : "(null)");
  }
  return LF_OK;
}

static lf_status check_hex(const char *hex, lf_err *err)
{
  if (hex == NULL || !lf_hex_valid(hex, LF_SHA256_HEX_LEN)) {
    return LF_ERR(err, LF_ERR_USAGE, "invalid blob name '%.200s' (expected 64 lowercase hex "
                  "digits)", hex != NULL ? hex : "(null)");
  }
  return LF_OK;
}

// Keys become paths under the root and S3 object names, so they must stay inside the root
// and not collide with temporary files (which start with '.').
static lf_status check_key(const char *key, bool prefix, lf_err *err)
{
  const char *why = NULL;
  size_t n = key != NULL ? strlen(key) : 0;
  if (key == NULL) {
    why = "missing";
  } else if (n == 0) {
    why = prefix ? NULL : "empty";
  } else if (n > LF_STORE_KEY_MAX) {
    why = "longer than 1024 bytes";
  } else if (key[0] == '/') {
    why = "absolute paths are not allowed";
  }
  size_t end = prefix && n > 0 && key[n - 1] == '/' ? n - 1 : n;
  size_t start = 0;
  while (why == NULL && n > 0 && start <= end) {
    const char *sl = memchr(key + start, '/', end - start);
    size_t stop = sl != NULL ? (size_t)(sl - key) : end;
    size_t cl = stop - start;
    const char *c = key + start;
    if (cl == 0) {
      why = "empty path component";
    } else if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.')) {
      why = "'.' and '..' components are not allowed";
    } else if (c[0] == '.') {
      why = "components may not start with '.' (reserved for temporary files)";
    } else if (cl > 255) {
      why = "a component is longer than 255 bytes";
    }
    for (size_t k = 0; why == NULL && k < cl; k++) {
      unsigned char ch = (unsigned char)c[k];
      if (ch < 0x20 || ch == 0x7f || ch == '\\') {
        why = "control characters and '\\' are not allowed";
      }
    }
    start = stop + 1;
  }
  if (why != NULL) {
    return LF_ERR(err, LF_ERR_USAGE, "invalid store key '%.200s' (%s)",
                  key != NULL ? key : "(null)", why);
  }
  return LF_OK;
}

static char *blob_key(const char *flow, const char *hex)
{
  return lf_xasprintf("%s/data/%.2s/%s", flow, hex, hex);
}

// The first 12 hex digits and an ellipsis: enough to recognise a blob in a message.
static void short_hex(const char *hex, char out[32])
{
  snprintf(out, 32, "%.12s\xE2\x80\xA6", hex);
}

// Copies a sub-operation's error into `err` unless one is set there already.
static lf_status pass(lf_err *err, const lf_err *sub)
{
  if (err != NULL && err->code == LF_OK) {
    *err = *sub;
  }
  return sub->code;
}

static void put_header(unsigned char *h, int codec, uint64_t n)
{
  memcpy(h, LF_STORE_BLOB_MAGIC, 4);
  h[4] = (unsigned char)codec;
  for (int k = 0; k < 8; k++) {
    h[5 + k] = (unsigned char)(n >> (8 * k));
  }
}

static uint64_t get_le64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) {
    v = (v << 8) | p[k];
  }
  return v;
}

// ---- writing ----

// Compresses SAMPLES chunks spread over the blob; if together they do not shrink by 10%, the
// blob is taken as incompressible (random floats, already-compressed data) and full
// compression, at ~0.46 GB/s, is skipped.
static bool looks_compressible(lf_store *st, const unsigned char *data, size_t len)
{
  if (st->cctx == NULL) {
    st->cctx = ZSTD_createCCtx();
    if (st->cctx == NULL) {
      return false;
    }
  }
  size_t bound = ZSTD_compressBound(SAMPLE_CHUNK);
  char *buf = lf_xmalloc(bound);
  size_t in = 0;
  size_t out = 0;
  size_t step = (len - SAMPLE_CHUNK) / (SAMPLES - 1);
  for (size_t k = 0; k < SAMPLES; k++) {
    size_t r = ZSTD_compressCCtx(st->cctx, buf, bound, data + k * step, SAMPLE_CHUNK, ZSTD_LEVEL);
    if (ZSTD_isError(r)) {
      lf_free(buf);
      return true; // let the full compression decide (and report)
    }
    in += SAMPLE_CHUNK;
    out += r;
  }
  lf_free(buf);
  return out <= in - in / 10;
}

// Compresses into a new buffer that starts with room for the header. The destination holds
// at most 90% of the input, so an input that does not shrink by 10% stops zstd early with
// "destination too small": then *out is NULL and the blob is stored raw.
static lf_status compress(lf_store *st, const unsigned char *data, size_t len, char **out,
                          size_t *outlen, lf_err *err)
{
  *out = NULL;
  *outlen = 0;
  // Large inputs get a context of their own with 2 zstd worker threads, freed right after:
  // worker threads kept alive in st->cctx would be missing in a child forked later (the fork
  // server), and freeing that context there would join threads that do not exist.
  bool mt = len >= MT_MIN;
  if (!mt && st->cctx == NULL) {
    st->cctx = ZSTD_createCCtx();
  }
  ZSTD_CCtx *cc = mt ? ZSTD_createCCtx() : st->cctx;
  if (cc == NULL) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot create a zstd compression context");
  }
  ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
  if (mt) {
    // Fails harmlessly (single-threaded) if libzstd was built without threads.
    ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers, 2);
  }
  size_t cap = len - len / 10;
  char *buf = lf_store_alloc(LF_STORE_BLOB_HEADER + cap);
  size_t r = 0;
  if (buf != NULL) {
    r = ZSTD_compress2(cc, buf + LF_STORE_BLOB_HEADER, cap, data, len);
  }
  if (mt) {
    ZSTD_freeCCtx(cc);
  }
  if (buf == NULL) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot allocate %zu bytes to compress a blob", cap);
  }
  if (ZSTD_isError(r)) {
    lf_free(buf);
    if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) {
      return LF_OK;
    }
    return LF_ERR(err, LF_ERR_STORE, "cannot compress a blob of %zu bytes (zstd: %s)", len,
                  ZSTD_getErrorName(r));
  }
  put_header((unsigned char *)buf, LF_STORE_CODEC_ZSTD, len);
  *out = buf;
  *outlen = LF_STORE_BLOB_HEADER + r;
  return LF_OK;
}

// Writes a blob whose name is known and which does not exist yet.
static lf_status write_blob(lf_store *st, const char *flow, const char *key,
                            const unsigned char *data, size_t len, bool try_zstd,
                            bool *existed, lf_err *err)
{
  if (try_zstd) {
    char *buf;
    size_t blen;
    lf_status s = compress(st, data, len, &buf, &blen, err);
    if (s != LF_OK) {
      return s;
    }
    if (buf != NULL) {
      s = st->be->put(st->self, key, buf, blen, true, existed, err);
      lf_free(buf);
      return s;
    }
  }
  if (len >= OVERLAP_MIN && st->be->stage_open != NULL) {
    // Header and payload go out without being copied together.
    return write_staged(st, flow, data, len, NULL, key, NULL, existed, err);
  }
  char *buf = lf_store_alloc(LF_STORE_BLOB_HEADER + len);
  if (buf == NULL) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot allocate %zu bytes for a blob", len);
  }
  put_header((unsigned char *)buf, LF_STORE_CODEC_RAW, len);
  if (len != 0) {
    memcpy(buf + LF_STORE_BLOB_HEADER, data, len);
  }
  lf_status s = st->be->put(st->self, key, buf, LF_STORE_BLOB_HEADER + len, true, existed, err);
  lf_free(buf);
  return s;
}

// Writes a raw blob through the backend's staged writes. With a running hasher `h` the key is
// not known yet: the data goes out in chunks, and as soon as the digest is ready the blob's
// existence is checked, so a repeated put stops writing once hashing is done (on this VM a
// cold page-cache write can be slower than the hash). Without `h`, `key` is given.
// Always joins `h`, since the caller may free `data` as soon as this returns.
static lf_status write_staged(lf_store *st, const char *flow, const unsigned char *data,
                              size_t len, hasher *h, const char *key, char hex[65],
                              bool *existed, lf_err *err)
{
  unsigned char hdr[LF_STORE_BLOB_HEADER];
  put_header(hdr, LF_STORE_CODEC_RAW, len);
  char *dir = lf_xasprintf("%s/data", flow);
  void *stage = NULL;
  char *own_key = NULL;
  bool dup = false;
  lf_status s = st->be->stage_open(st->self, dir, &stage, err);
  lf_free(dir);
  if (s == LF_OK) {
    s = st->be->stage_write(stage, hdr, sizeof(hdr), err);
  }
  for (size_t off = 0; s == LF_OK && off < len && !dup;) {
    if (h != NULL && own_key == NULL && hasher_done(h)) {
      own_key = name_from(h, flow, hex);
      s = st->be->exists(st->self, own_key, &dup, err);
      continue;
    }
    size_t n = len - off < STAGE_CHUNK ? len - off : STAGE_CHUNK;
    s = st->be->stage_write(stage, data + off, n, err);
    off += n;
  }
  if (h != NULL && own_key == NULL) {
    if (s != LF_OK) {
      hasher_cancel(h);
    } else {
      own_key = name_from(h, flow, hex);
    }
  }
  if (s != LF_OK || dup) {
    if (stage != NULL) {
      st->be->stage_abort(stage);
    }
    if (dup && existed != NULL) {
      *existed = true;
    }
    lf_free(own_key);
    return s;
  }
  s = st->be->stage_commit(stage, own_key != NULL ? own_key : key, true, existed, err);
  lf_free(own_key);
  return s;
}

// Joins the hasher and makes the blob's key; `hex` receives the name.
static char *name_from(hasher *h, const char *flow, char hex[65])
{
  unsigned char md[LF_SHA256_LEN];
  hasher_finish(h, md);
  lf_hex_encode(md, sizeof(md), hex);
  return blob_key(flow, hex);
}

// ---- reading ----

// Checks and decodes a stored blob object; takes ownership of `obj`.
static lf_status decode(lf_store *st, const char *key, const char *hex, char *obj, size_t olen,
                        char **enc, size_t *len, lf_err *err)
{
  const unsigned char *u = (const unsigned char *)obj;
  char why[160] = "";
  unsigned char md[LF_SHA256_LEN];
  char *out = NULL;
  size_t n = 0;
  if (olen < LF_STORE_BLOB_HEADER) {
    snprintf(why, sizeof(why), "truncated: %zu bytes, less than the %d-byte header", olen,
             LF_STORE_BLOB_HEADER);
  } else if (memcmp(u, LF_STORE_BLOB_MAGIC, 4) != 0) {
    snprintf(why, sizeof(why), "bad header: no LFB1 magic");
  } else if (u[4] == LF_STORE_CODEC_RAW) {
    uint64_t declared = get_le64(u + 5);
    n = olen - LF_STORE_BLOB_HEADER;
    if (declared != n) {
      snprintf(why, sizeof(why), "%s: the header says %llu bytes, the object holds %zu",
               declared > n ? "truncated" : "length mismatch", (unsigned long long)declared, n);
    } else {
      // Shift the payload over the header window by window, hashing each while cache-hot.
      lf_sha256_ctx c;
      lf_sha256_init(&c);
      for (size_t off = 0; off < n; off += WINDOW) {
        size_t w = n - off < WINDOW ? n - off : WINDOW;
        memmove(obj + off, obj + LF_STORE_BLOB_HEADER + off, w);
        lf_sha256_update(&c, obj + off, w);
      }
      lf_sha256_final(&c, md);
      obj[n] = '\0';
      out = obj;
      obj = NULL;
    }
  } else if (u[4] == LF_STORE_CODEC_ZSTD) {
    uint64_t declared = get_le64(u + 5);
    size_t plen = olen - LF_STORE_BLOB_HEADER;
    if (declared > (uint64_t)plen * ZSTD_MAX_RATIO || declared >= SIZE_MAX - 1) {
      snprintf(why, sizeof(why), "implausible size: %llu bytes from %zu compressed",
               (unsigned long long)declared, plen);
    } else {
      n = (size_t)declared;
      lf_status s = decode_zstd(st, u + LF_STORE_BLOB_HEADER, plen, declared, &out, md, why,
                                sizeof(why));
      if (s != LF_OK) {
        lf_free(obj);
        char sh[32];
        short_hex(hex, sh);
        return LF_ERR(err, s, "cannot allocate %llu bytes for blob '%s'",
                      (unsigned long long)declared, sh);
      }
    }
  } else {
    snprintf(why, sizeof(why), "bad header: unknown codec %u", u[4]);
  }
  lf_free(obj);
  if (why[0] == '\0') {
    char got[65];
    lf_hex_encode(md, sizeof(md), got);
    if (strcmp(got, hex) == 0) {
      *enc = out;
      *len = n;
      return LF_OK;
    }
    snprintf(why, sizeof(why), "hash mismatch");
  }
  lf_free(out);
  char sh[32];
  short_hex(hex, sh);
  char *where = lf_store_describe(st, key);
  LF_ERR(err, LF_ERR_CORRUPT, "blob '%s' in '%s' is corrupt (%s)", sh, where, why);
  lf_free(where);
  return LF_ERR_CORRUPT;
}

// Decompresses exactly one frame of exactly `n` bytes filling all of `payload`, hashing as it
// goes. On a format problem sets `why` (and returns LF_OK with *out NULL); returns
// LF_ERR_NOMEM only if the output cannot be allocated.
static lf_status decode_zstd(lf_store *st, const unsigned char *payload, size_t plen,
                             uint64_t n, char **out, unsigned char md[LF_SHA256_LEN],
                             char *why, size_t whysz)
{
  *out = NULL;
  unsigned long long fcs = ZSTD_getFrameContentSize(payload, plen);
  if (fcs == ZSTD_CONTENTSIZE_ERROR) {
    snprintf(why, whysz, "bad zstd frame header");
    return LF_OK;
  }
  if (fcs != n) {
    snprintf(why, whysz, "length mismatch: the header says %llu bytes, the zstd frame %s",
             (unsigned long long)n, fcs == ZSTD_CONTENTSIZE_UNKNOWN ? "does not say" : "differs");
    return LF_OK;
  }
  if (st->dctx == NULL) {
    st->dctx = ZSTD_createDCtx();
    if (st->dctx == NULL) {
      return LF_ERR_NOMEM;
    }
  }
  ZSTD_DCtx_reset(st->dctx, ZSTD_reset_session_only);
  size_t size = (size_t)n;
  char *buf = lf_store_alloc(size + 1);
  if (buf == NULL) {
    return LF_ERR_NOMEM;
  }
  hasher h;
  hasher_start(&h, buf, size, 0, size >= OVERLAP_MIN);
  ZSTD_inBuffer in = {payload, plen, 0};
  ZSTD_outBuffer ob = {buf, 0, 0};
  size_t r;
  for (;;) {
    size_t in0 = in.pos;
    size_t out0 = ob.pos;
    ob.size = size - ob.pos < WINDOW ? size : ob.pos + WINDOW;
    r = ZSTD_decompressStream(st->dctx, &ob, &in);
    if (ZSTD_isError(r)) {
      if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) {
        snprintf(why, whysz, "zstd frame longer than the %llu bytes its header says",
                 (unsigned long long)n);
      } else {
        snprintf(why, whysz, "zstd: %s", ZSTD_getErrorName(r));
      }
      break;
    }
    hasher_ready(&h, ob.pos);
    if (r == 0) {
      break; // frame complete
    }
    if (in.pos == in0 && ob.pos == out0) {
      snprintf(why, whysz, "truncated zstd frame");
      break;
    }
  }
  if (why[0] == '\0' && (ob.pos != size || in.pos != in.size)) {
    snprintf(why, whysz, ob.pos != size ? "zstd frame shorter than its header says"
                                        : "bytes after the zstd frame");
  }
  if (why[0] != '\0') {
    hasher_cancel(&h);
    lf_free(buf);
    return LF_OK;
  }
  hasher_finish(&h, md);
  buf[size] = '\0';
  *out = buf;
  return LF_OK;
}

// ---- the hasher ----

static void hasher_start(hasher *h, const void *data, size_t total, size_t ready, bool thread)
{
  memset(h, 0, sizeof(*h));
  lf_sha256_init(&h->ctx);
  h->data = data;
  h->total = total;
  h->ready = ready;
  if (thread && pthread_mutex_init(&h->mu, NULL) == 0) {
    if (pthread_cond_init(&h->cv, NULL) == 0) {
      h->threaded = pthread_create(&h->th, NULL, hasher_main, h) == 0;
      if (!h->threaded) {
        pthread_cond_destroy(&h->cv);
      }
    }
    if (!h->threaded) {
      pthread_mutex_destroy(&h->mu);
    }
  }
  // Without a thread (small input, or no thread could be made) hashing happens inline.
  if (!h->threaded && ready > 0) {
    lf_sha256_update(&h->ctx, h->data, ready);
    h->done = ready;
  }
}

static void hasher_ready(hasher *h, size_t ready)
{
  if (!h->threaded) {
    lf_sha256_update(&h->ctx, h->data + h->done, ready - h->done);
    h->done = ready;
    return;
  }
  pthread_mutex_lock(&h->mu);
  h->ready = ready;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

// True once every byte is hashed, so that hasher_finish will not wait.
static bool hasher_done(hasher *h)
{
  if (!h->threaded) {
    return h->done == h->total;
  }
  pthread_mutex_lock(&h->mu);
  bool fin = h->finished;
  pthread_mutex_unlock(&h->mu);
  return fin;
}

static void hasher_finish(hasher *h, unsigned char md[LF_SHA256_LEN])
{
  if (h->threaded) {
    pthread_join(h->th, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
  }
  lf_sha256_final(&h->ctx, md);
}

static void hasher_cancel(hasher *h)
{
  if (h->threaded) {
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
  }
  lf_sha256_abort(&h->ctx);
}

static void *hasher_main(void *arg)
{
  hasher *h = arg;
  size_t done = 0;
  while (done < h->total) {
    pthread_mutex_lock(&h->mu);
    while (h->ready == done && !h->stop) {
      pthread_cond_wait(&h->cv, &h->mu);
    }
    size_t upto = h->ready;
    bool stop = h->stop;
    pthread_mutex_unlock(&h->mu);
    if (stop) {
      break;
    }
    lf_sha256_update(&h->ctx, h->data + done, upto - done);
    done = upto;
  }
  pthread_mutex_lock(&h->mu);
  h->finished = done == h->total;
  pthread_mutex_unlock(&h->mu);
  return NULL;
}
