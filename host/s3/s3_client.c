// SPDX-License-Identifier: MIT
// This file contains the S3 client object (options, endpoint and addressing resolution), S3
// URLs, and the building and signing of each request: URL, headers and SigV4 Authorization.
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws_sigv4.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "s3/s3_internal.h"

#define MIB ((size_t)1 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

static lf_status env_long(const char *name, long min, long max, long *out, lf_err *err);
static lf_status resolve_opts(lf_s3 *s3, const lf_s3_opts *in, lf_err *err);
static lf_status resolve_endpoint(lf_s3 *s3, const char *endpoint, lf_err *err);
static bool bucket_is_dns_safe(const char *b);
static bool use_virtual(const lf_s3 *s3, const char *bucket);

static void new_pool(lf_s3 *s3);

lf_s3 *lf_s3_new(const lf_s3_opts *opts, lf_err *err)
{
  pthread_once(&curl_once, curl_init_once);
  lf_s3 *s3 = lf_xcalloc(1, sizeof(*s3));
  lf_s3_opts none = {0};
  lf_status st = lf_aws_config_load("s3", &s3->cfg, err);
  if (st == LF_OK) {
    st = resolve_opts(s3, opts != NULL ? opts : &none, err);
  }
  if (st != LF_OK) {
    lf_s3_free(s3);
    return NULL;
  }
  s3->creds = lf_aws_creds_provider_new(&s3->cfg);
  new_pool(s3);
  s3->rng = (uint64_t)lf_time_now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s3;
  return s3;
}

static void new_pool(lf_s3 *s3)
{
  s3->pid = getpid();
  s3->multi = curl_multi_init();
  curl_multi_setopt(s3->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s3->opts.max_concurrency);
  curl_multi_setopt(s3->multi, CURLMOPT_MAXCONNECTS, (long)s3->opts.max_concurrency * 2);
}

// Pools set aside by children of fork(): kept reachable (they hold sockets of the parent's
// connections, left open on purpose), one per client and process.
static struct {
  CURLM *multi;
  CURL **idle;
} inherited[16];
static size_t ninherited;

void lf_s3_after_fork(lf_s3 *s3)
{
  if (s3->multi == NULL || s3->pid == getpid()) {
    return;
  }
  if (ninherited < sizeof(inherited) / sizeof(inherited[0])) {
    inherited[ninherited].multi = s3->multi;
    inherited[ninherited].idle = s3->idle;
    ninherited++;
  }
  s3->idle = NULL;
  s3->nidle = 0;
  lf_s3_direct_free(s3);
  new_pool(s3);
}

void lf_s3_free(lf_s3 *s3)
{
  if (s3 == NULL) {
    return;
  }
  lf_s3_after_fork(s3); // a child must not close its parent's connections
  for (size_t i = 0; i < s3->nidle; i++) {
    curl_easy_cleanup(s3->idle[i]);
  }
  lf_free(s3->idle);
  lf_s3_direct_free(s3);
  if (s3->multi != NULL) {
    curl_multi_cleanup(s3->multi);
  }
  lf_aws_creds_provider_free(s3->creds);
  lf_aws_config_destroy(&s3->cfg);
  lf_free((char *)s3->opts.region);
  lf_free(s3->scheme);
  lf_free(s3->authority);
  lf_free(s3->endpoint_display);
  lf_free(s3);
}

const char *lf_s3_region(const lf_s3 *s3)
{
  return s3->opts.region;
}

const char *lf_s3_endpoint(const lf_s3 *s3)
{
  return s3->endpoint_display;
}

lf_status lf_s3_parse_url(const char *url, char **bucket, char **key, lf_err *err)
{
  *bucket = NULL;
  *key = NULL;
  if (url == NULL || strncmp(url, "s3://", 5) != 0) {
    return LF_ERR(err, LF_ERR_USAGE, "'%s' is not an S3 URL (expected s3://bucket/key)",
                  url != NULL ? url : "(null)");
  }
  const char *b = url + 5;
  size_t bl = strcspn(b, "/");
  char *name = lf_xmemdupz(b, bl);
  if (bl < 3 || bl > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != bl) {
    lf_status st = LF_ERR(err, LF_ERR_USAGE,
                          "'%s' has an invalid bucket name '%s' (3 to 63 characters of a-z, 0-9, "
                          "'.', '-')",
                          url, name);
    lf_free(name);
    return st;
  }
  *bucket = name;
  *key = lf_xstrdup(b[bl] == '/' ? b + bl + 1 : "");
  return LF_OK;
}

s3_xfer *lf_s3_xfer_new(const char *verb, const char *method, const char *bucket,
                        const char *key)
{
  s3_xfer *x = lf_xcalloc(1, sizeof(*x));
  x->verb = verb;
  x->method = method;
  x->bucket = bucket;
  x->key = key;
  x->src_fd = -1;
  lf_dynbuf_init(&x->body, S3_BODY_MAX);
  return x;
}

void lf_s3_xfer_query(s3_xfer *x, const char *name, const char *value)
{
  LF_ASSERT(x->nquery < S3_MAX_QUERY);
  char *n = lf_xstrdup(name);
  char *v = lf_xstrdup(value != NULL ? value : "");
  x->qstore[2 * x->nquery] = n;
  x->qstore[2 * x->nquery + 1] = v;
  x->query[x->nquery++] = (lf_aws_kv){n, v};
}

void lf_s3_xfer_header(s3_xfer *x, const char *name, const char *value)
{
  LF_ASSERT(x->nheaders < S3_MAX_HEADERS);
  char *n = lf_xstrdup(name);
  char *v = lf_xstrdup(value);
  x->hstore[2 * x->nheaders] = n;
  x->hstore[2 * x->nheaders + 1] = v;
  x->headers[x->nheaders++] = (lf_aws_kv){n, v};
}

static size_t hex_digits(uint64_t v)
{
  size_t n = 1;
  while (v >= 16) {
    v >>= 4;
    n++;
  }
  return n;
}

uint64_t lf_s3_chunked_len(uint64_t len)
{
  uint64_t wire = 0;
  for (uint64_t left = len; left > 0;) {
    uint64_t c = left < S3_CHUNK_MAX ? left : S3_CHUNK_MAX;
    wire += hex_digits(c) + 2 + c + 2; // "<hex size>\r\n" data "\r\n"
    left -= c;
  }
  // "0\r\n" "x-amz-checksum-crc32c:" <8 Base64 characters> "\r\n" "\r\n"
  return wire + 3 + strlen(S3_TRAILER_NAME) + 1 + 8 + 2 + 2;
}

void lf_s3_xfer_trailer(s3_xfer *x)
{
  char len[24];
  snprintf(len, sizeof(len), "%llu", (unsigned long long)x->src_len);
  x->trailer = true;
  snprintf(x->payload_hash, sizeof(x->payload_hash), "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
  lf_s3_xfer_header(x, "Content-Encoding", "aws-chunked");
  lf_s3_xfer_header(x, "x-amz-decoded-content-length", len);
  lf_s3_xfer_header(x, "x-amz-trailer", S3_TRAILER_NAME);
  lf_s3_xfer_header(x, "x-amz-sdk-checksum-algorithm", "CRC32C");
}

// Frees the direct path's request, which holds the signature and any session token.
static void free_direct(s3_xfer *x)
{
  if (x->dreq != NULL) {
    memset(x->dreq, 0, x->dreq_len);
    lf_free(x->dreq);
  }
  lf_free(x->dhost);
  x->dreq = x->dhost = NULL;
  x->dreq_len = 0;
}

void lf_s3_xfer_free(s3_xfer *x)
{
  if (x == NULL) {
    return;
  }
  for (size_t i = 0; i < 2 * x->nquery; i++) {
    lf_free(x->qstore[i]);
  }
  for (size_t i = 0; i < 2 * x->nheaders; i++) {
    lf_free(x->hstore[i]);
  }
  curl_slist_free_all(x->hlist);
  free_direct(x);
  lf_dynbuf_free(&x->body);
  lf_free(x);
}

void lf_s3_describe(const s3_xfer *x, char *out, size_t size)
{
  if (x->key != NULL) {
    snprintf(out, size, "s3://%s/%s", x->bucket, x->key);
  } else {
    snprintf(out, size, "s3://%s", x->bucket);
  }
}

uint64_t lf_s3_rand(lf_s3 *s3)
{
  // xorshift64*: plenty for jitter.
  uint64_t v = s3->rng;
  v ^= v >> 12;
  v ^= v << 25;
  v ^= v >> 27;
  s3->rng = v;
  return v * 0x2545F4914F6CDD1DULL;
}

// The host and the (decoded) path of a request on `bucket`/`key`.
static void target(const lf_s3 *s3, const char *bucket, const char *key, char **host,
                   char **path)
{
  if (use_virtual(s3, bucket)) {
    *host = lf_xasprintf("%s.%s", bucket, s3->authority);
    *path = lf_xasprintf("/%s", key != NULL ? key : "");
  } else {
    *host = lf_xstrdup(s3->authority);
    *path = key != NULL ? lf_xasprintf("/%s/%s", bucket, key) : lf_xasprintf("/%s", bucket);
  }
}

// The direct path's request: "GET /path?query HTTP/1.1", the signed headers (Host first),
// Authorization, an empty line. `url` is the URL built for curl.
static void prepare_direct(s3_xfer *x, const lf_dynbuf *url, const char *scheme,
                           const char *host, const lf_aws_kv *h, size_t nh, const char *auth)
{
  free_direct(x);
  lf_dynbuf req;
  lf_dynbuf_init(&req, (size_t)1 << 20);
  const char *target = url->data + strlen(scheme) + 3 + strlen(host);
  lf_dynbuf_addf(&req, "%s %s HTTP/1.1\r\n", x->method, target);
  for (size_t i = 0; i < nh; i++) {
    lf_dynbuf_addf(&req, "%s: %s\r\n", h[i].name, h[i].value);
  }
  if (x->has_body) {
    uint64_t wire = x->trailer ? lf_s3_chunked_len(x->src_len) : x->src_len;
    lf_dynbuf_addf(&req, "Content-Length: %llu\r\n", (unsigned long long)wire);
  }
  lf_dynbuf_addf(&req, "Authorization: %s\r\n\r\n", auth);
  x->dreq = lf_dynbuf_take(&req, &x->dreq_len);
  x->dhost = lf_xstrdup(host);
}

lf_status lf_s3_prepare(lf_s3 *s3, s3_xfer *x, CURL *easy, lf_err *err)
{
  lf_aws_creds creds;
  lf_status st = lf_aws_creds_get(s3->creds, &creds, err);
  if (st != LF_OK) {
    return st;
  }
  char date[17];
  lf_aws_amz_date((int64_t)time(NULL), date);
  char *host, *path;
  target(s3, x->bucket, x->key, &host, &path);
  const char *hash = !x->has_body              ? LF_AWS_EMPTY_SHA256
                     : x->payload_hash[0] != '\0' ? x->payload_hash
                                                 : LF_AWS_UNSIGNED_PAYLOAD;
  lf_aws_kv h[S3_MAX_HEADERS + 4];
  size_t nh = 0;
  h[nh++] = (lf_aws_kv){"Host", host};
  h[nh++] = (lf_aws_kv){"x-amz-content-sha256", hash};
  h[nh++] = (lf_aws_kv){"x-amz-date", date};
  if (creds.session_token[0] != '\0') {
    h[nh++] = (lf_aws_kv){"x-amz-security-token", creds.session_token};
  }
  memcpy(h + nh, x->headers, x->nheaders * sizeof(h[0]));
  nh += x->nheaders;
  lf_aws_request req = {.method = x->method,
                        .path = path,
                        .query = x->query,
                        .nquery = x->nquery,
                        .headers = h,
                        .nheaders = nh,
                        .payload_hash = hash};
  lf_aws_signature sig;
  st = lf_aws_sigv4_sign(&req, &creds, s3->opts.region, "s3", date, &sig, err);
  if (st == LF_OK) {
    lf_dynbuf url;
    lf_dynbuf_init(&url, (size_t)1 << 20);
    lf_dynbuf_addf(&url, "%s://%s", s3->scheme, host);
    lf_aws_uri_encode(&url, path, strlen(path), true);
    // The canonical query string (line 3 of the canonical request) is the URL's query.
    const char *cq = strchr(sig.canonical_request, '\n');
    cq = strchr(cq + 1, '\n') + 1;
    size_t cql = strcspn(cq, "\n");
    if (cql > 0) {
      lf_dynbuf_addc(&url, '?');
      lf_dynbuf_add(&url, cq, cql);
    }
    if (easy == NULL) {
      prepare_direct(x, &url, s3->scheme, host, h, nh, sig.authorization);
    }
    curl_slist_free_all(x->hlist);
    x->hlist = NULL;
    for (size_t i = 0; easy != NULL && i < nh; i++) {
      char *line = lf_xasprintf("%s: %s", h[i].name, h[i].value);
      x->hlist = curl_slist_append(x->hlist, line);
      memset(line, 0, strlen(line));
      lf_free(line);
    }
    if (easy != NULL) {
      char *auth = lf_xasprintf("Authorization: %s", sig.authorization);
      x->hlist = curl_slist_append(x->hlist, auth);
      lf_free(auth);
      // No "Expect: 100-continue" round trip, and no headers we did not sign but for Accept.
      x->hlist = curl_slist_append(x->hlist, "Expect:");
      x->hlist = curl_slist_append(x->hlist, "Content-Type:");
      curl_easy_setopt(easy, CURLOPT_URL, url.data);
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, x->hlist);
    }
    lf_dynbuf_free(&url);
    lf_aws_signature_free(&sig);
  }
  lf_aws_creds_wipe(&creds);
  lf_free(host);
  lf_free(path);
  return st;
}

char *lf_s3_presign(lf_s3 *s3, const char *method, const char *bucket, const char *key,
                    int64_t expires_s, lf_err *err)
{
  const char *methods[] = {"GET", "PUT", "HEAD", "DELETE"};
  bool known = false;
  for (size_t i = 0; i < 4; i++) {
    known = known || strcmp(method, methods[i]) == 0;
  }
  if (!known) {
    LF_ERR(err, LF_ERR_USAGE, "cannot presign '%s' (use GET, PUT, HEAD or DELETE)", method);
    return NULL;
  }
  lf_aws_creds creds;
  if (lf_aws_creds_get(s3->creds, &creds, err) != LF_OK) {
    return NULL;
  }
  char date[17];
  lf_aws_amz_date((int64_t)time(NULL), date);
  char *host, *path;
  target(s3, bucket, key, &host, &path);
  char *base = lf_xasprintf("%s://%s", s3->scheme, host);
  lf_aws_kv h[] = {{"Host", host}};
  lf_aws_request req = {.method = method, .path = path, .headers = h, .nheaders = 1};
  char *url = lf_aws_presign(base, &req, &creds, s3->opts.region, "s3", date, expires_s, err);
  lf_aws_creds_wipe(&creds);
  lf_free(base);
  lf_free(host);
  lf_free(path);
  return url;
}

static lf_status env_long(const char *name, long min, long max, long *out, lf_err *err)
{
  const char *v = getenv(name);
  if (v == NULL || v[0] == '\0') {
    return LF_OK;
  }
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < min || n > max) {
    return LF_ERR(err, LF_ERR_USAGE, "%s must be an integer from %ld to %ld, not '%s'", name,
                  min, max, v);
  }
  *out = (long)n;
  return LF_OK;
}

static lf_status resolve_opts(lf_s3 *s3, const lf_s3_opts *in, lf_err *err)
{
  lf_s3_opts *o = &s3->opts;
  *o = *in;
  long conc = o->max_concurrency, attempts = o->max_attempts, stall = o->stall_timeout_s,
       base = o->retry_base_ms;
  long part = (long)o->part_size, thresh = (long)o->multipart_threshold;
  lf_status st = LF_OK;
  if (conc == 0) {
    conc = 16;
    st = env_long("LUAFLOW_S3_CONCURRENCY", 1, 256, &conc, err);
  }
  if (st == LF_OK && attempts == 0) {
    attempts = 8;
    st = env_long("LUAFLOW_S3_MAX_ATTEMPTS", 1, 100, &attempts, err);
  }
  if (st == LF_OK && stall == 0) {
    stall = 30;
    st = env_long("LUAFLOW_S3_STALL_TIMEOUT", 1, 3600, &stall, err);
  }
  if (st == LF_OK && base == 0) {
    base = 200;
    st = env_long("LUAFLOW_S3_RETRY_BASE_MS", 1, 60000, &base, err);
  }
  if (st == LF_OK && part == 0) {
    part = (long)(16 * MIB);
    st = env_long("LUAFLOW_S3_PART_SIZE", (long)LF_S3_MIN_PART, (long)(5 * 1024 * MIB), &part,
                  err);
  }
  if (st == LF_OK && thresh == 0) {
    thresh = (long)(16 * MIB);
    st = env_long("LUAFLOW_S3_MULTIPART_THRESHOLD", 1, (long)(5 * 1024 * MIB), &thresh, err);
  }
  if (st != LF_OK) {
    return st;
  }
  if ((size_t)part < LF_S3_MIN_PART) {
    return LF_ERR(err, LF_ERR_USAGE, "the S3 part size must be at least 5 MiB, not %ld bytes",
                  part);
  }
  o->max_concurrency = (int)conc;
  o->max_attempts = (int)attempts;
  o->stall_timeout_s = stall;
  o->retry_base_ms = base;
  o->part_size = (size_t)part;
  o->multipart_threshold = (size_t)thresh;
  if (o->connect_timeout_s == 0) {
    o->connect_timeout_s = 10;
  }
  if (o->retry_cap_ms == 0) {
    o->retry_cap_ms = 20000;
  }
  const char *ck = getenv("LUAFLOW_S3_CHECKSUM");
  if (in->checksum == LF_S3_CHECKSUM_CRC32C && ck != NULL && ck[0] != '\0') {
    if (strcmp(ck, "md5") == 0) {
      o->checksum = LF_S3_CHECKSUM_MD5;
    } else if (strcmp(ck, "crc32c-header") == 0) {
      o->checksum = LF_S3_CHECKSUM_CRC32C_HEADER;
    } else if (strcmp(ck, "crc32c-trailer") == 0) {
      o->checksum = LF_S3_CHECKSUM_CRC32C_TRAILER;
    } else if (strcmp(ck, "crc32c") != 0) {
      return LF_ERR(err, LF_ERR_USAGE,
                    "LUAFLOW_S3_CHECKSUM must be crc32c, crc32c-header, crc32c-trailer or md5, "
                    "not '%s'",
                    ck);
    }
  }
  const char *rv = getenv("LUAFLOW_S3_TRANSFER");
  if (in->transfer == LF_S3_TRANSFER_DIRECT && rv != NULL && rv[0] != '\0') {
    if (strcmp(rv, "curl") == 0) {
      o->transfer = LF_S3_TRANSFER_CURL;
    } else if (strcmp(rv, "direct") != 0) {
      return LF_ERR(err, LF_ERR_USAGE, "LUAFLOW_S3_TRANSFER must be direct or curl, not '%s'",
                    rv);
    }
  }
  // libcurl honours these for http URLs; the direct path does not speak to proxies.
  const char *proxy_vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
  for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
    const char *v = getenv(proxy_vars[i]);
    s3->proxied = s3->proxied || (v != NULL && v[0] != '\0');
  }
  o->region = lf_xstrdup(in->region != NULL ? in->region : s3->cfg.region);
  st = resolve_endpoint(s3, in->endpoint != NULL ? in->endpoint : s3->cfg.endpoint_url, err);
  if (st != LF_OK) {
    return st;
  }
  // Addressing: the option, LUAFLOW_S3_ADDRESSING, the profile's s3.addressing_style.
  const char *style = getenv("LUAFLOW_S3_ADDRESSING");
  if (style == NULL || style[0] == '\0') {
    style = s3->cfg.addressing_style;
  }
  if (o->addressing == LF_S3_ADDR_AUTO && style != NULL) {
    if (strcmp(style, "path") == 0) {
      o->addressing = LF_S3_ADDR_PATH;
    } else if (strcmp(style, "virtual") == 0) {
      o->addressing = LF_S3_ADDR_VIRTUAL;
    } else if (strcmp(style, "auto") != 0) {
      return LF_ERR(err, LF_ERR_USAGE, "the S3 addressing style must be path, virtual or auto, "
                                       "not '%s'", style);
    }
  }
  s3->path_style = o->addressing == LF_S3_ADDR_PATH ||
                   (o->addressing == LF_S3_ADDR_AUTO && s3->custom_endpoint);
  return LF_OK;
}

static lf_status resolve_endpoint(lf_s3 *s3, const char *endpoint, lf_err *err)
{
  if (endpoint == NULL || endpoint[0] == '\0') {
    const char *r = s3->opts.region;
    s3->scheme = lf_xstrdup("https");
    s3->authority = lf_xasprintf("s3.%s.amazonaws.com%s", r, strncmp(r, "cn-", 3) == 0 ? ".cn" : "");
    s3->endpoint_display = lf_xstrdup("");
    return LF_OK;
  }
  const char *sep = strstr(endpoint, "://");
  size_t sl = sep != NULL ? (size_t)(sep - endpoint) : 0;
  bool scheme_ok = sep != NULL && ((sl == 4 && strncmp(endpoint, "http", 4) == 0) ||
                                   (sl == 5 && strncmp(endpoint, "https", 5) == 0));
  const char *auth = sep != NULL ? sep + 3 : endpoint;
  size_t al = strcspn(auth, "/?#");
  bool rest_ok = auth[al] == '\0' || strcmp(auth + al, "/") == 0;
  if (!scheme_ok || al == 0 || !rest_ok || memchr(auth, '@', al) != NULL) {
    return LF_ERR(err, LF_ERR_USAGE,
                  "invalid S3 endpoint '%s' (expected http://host[:port] or https://host[:port])",
                  endpoint);
  }
  s3->scheme = lf_xmemdupz(endpoint, sl);
  s3->authority = lf_xmemdupz(auth, al);
  s3->endpoint_display = lf_xasprintf("%s://%s", s3->scheme, s3->authority);
  s3->custom_endpoint = true;
  return LF_OK;
}

// A bucket name usable as a DNS label (virtual-hosted style).
static bool bucket_is_dns_safe(const char *b)
{
  size_t n = strlen(b);
  if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1])) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)b[i];
    if (!(islower(c) || isdigit(c) || c == '-' || c == '.')) {
      return false;
    }
    if (c == '.' && (b[i + 1] == '.' || b[i + 1] == '-' || (i > 0 && b[i - 1] == '-'))) {
      return false;
    }
  }
  return true;
}

static bool use_virtual(const lf_s3 *s3, const char *bucket)
{
  if (s3->path_style || !bucket_is_dns_safe(bucket)) {
    return false;
  }
  // A dotted bucket does not match the wildcard certificate of https endpoints.
  return strcmp(s3->scheme, "https") != 0 || strchr(bucket, '.') == NULL;
}
