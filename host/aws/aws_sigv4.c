// SPDX-License-Identifier: MIT
// This file contains AWS Signature Version 4 signing (header and query-string forms) and the
// digests it is built on. The steps follow AWS's description: canonical request, string to
// sign, signing key derived from the date, region and service, signature, Authorization.
#include "aws/aws_sigv4.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/hex.h"

#define SIGN_MAX ((size_t)1 << 20) // a canonical request past 1 MiB is a caller's mistake
#define ALGORITHM "AWS4-HMAC-SHA256"

typedef struct canon_header {
  char *name;  // lower case
  char *value; // trimmed, inner runs of spaces collapsed
  size_t order;
} canon_header;

typedef struct canon_param {
  char *name;  // encoded
  char *value; // encoded
} canon_param;

static bool valid_amz_date(const char *d);
static lf_status canonical_headers(const lf_aws_request *req, lf_dynbuf *canon,
                                   lf_dynbuf *signed_names, lf_err *err);
static lf_status canonical_query(const lf_aws_kv *q, size_t n, lf_dynbuf *out, lf_err *err);
static lf_status build_canonical(const lf_aws_request *req, const char *payload_hash,
                                 lf_dynbuf *creq, lf_dynbuf *signed_names, lf_err *err);
static void signing_key(const char *secret, const char *date8, const char *region,
                        const char *service, unsigned char key[32]);
static char *string_to_sign(const char *amz_date, const char *scope, const char *creq,
                            size_t creq_len);

void lf_aws_amz_date(int64_t t, char out[17])
{
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

bool lf_aws_uri_encode(lf_dynbuf *b, const char *s, size_t len, bool keep_slash)
{
  static const char hexd[] = "0123456789ABCDEF";
  if (!lf_dynbuf_reserve(b, len)) {
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (plain) {
      if (!lf_dynbuf_addc(b, (char)c)) {
        return false;
      }
    } else {
      char enc[3] = {'%', hexd[c >> 4], hexd[c & 15]};
      if (!lf_dynbuf_add(b, enc, 3)) {
        return false;
      }
    }
  }
  return true;
}

lf_status lf_aws_sigv4_sign(const lf_aws_request *req, const lf_aws_creds *creds,
                            const char *region, const char *service, const char *amz_date,
                            lf_aws_signature *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  if (!valid_amz_date(amz_date)) {
    return LF_ERR(err, LF_ERR_USAGE, "invalid x-amz-date '%s' (expected YYYYMMDDTHHMMSSZ)",
                  amz_date);
  }
  lf_dynbuf creq, names;
  lf_dynbuf_init(&creq, SIGN_MAX);
  lf_dynbuf_init(&names, SIGN_MAX);
  const char *hash = req->payload_hash != NULL ? req->payload_hash : LF_AWS_EMPTY_SHA256;
  lf_status st = build_canonical(req, hash, &creq, &names, err);
  if (st != LF_OK) {
    lf_dynbuf_free(&creq);
    lf_dynbuf_free(&names);
    return st;
  }
  char date8[9];
  memcpy(date8, amz_date, 8);
  date8[8] = '\0';
  char *scope = lf_xasprintf("%s/%s/%s/aws4_request", date8, region, service);
  out->string_to_sign = string_to_sign(amz_date, scope, creq.data, creq.len);
  unsigned char key[32], sig[32];
  signing_key(creds->secret_key, date8, region, service, key);
  lf_aws_hmac_sha256(key, sizeof(key), out->string_to_sign, strlen(out->string_to_sign), sig);
  memset(key, 0, sizeof(key));
  lf_hex_encode(sig, sizeof(sig), out->signature);
  out->canonical_request = lf_dynbuf_take(&creq, NULL);
  out->signed_headers = lf_dynbuf_take(&names, NULL);
  out->authorization =
    lf_xasprintf(ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                 creds->access_key, scope, out->signed_headers, out->signature);
  lf_free(scope);
  return LF_OK;
}

void lf_aws_signature_free(lf_aws_signature *sig)
{
  if (sig == NULL) {
    return;
  }
  lf_free(sig->canonical_request);
  lf_free(sig->string_to_sign);
  lf_free(sig->signed_headers);
  lf_free(sig->authorization);
  memset(sig, 0, sizeof(*sig));
}

char *lf_aws_presign(const char *base, const lf_aws_request *req, const lf_aws_creds *creds,
                     const char *region, const char *service, const char *amz_date,
                     int64_t expires, lf_err *err)
{
  if (!valid_amz_date(amz_date)) {
    LF_ERR(err, LF_ERR_USAGE, "invalid x-amz-date '%s' (expected YYYYMMDDTHHMMSSZ)", amz_date);
    return NULL;
  }
  if (expires < 1 || expires > 604800) {
    LF_ERR(err, LF_ERR_USAGE,
           "a presigned URL must expire after 1 to 604800 seconds (7 days), not %lld",
           (long long)expires);
    return NULL;
  }
  char date8[9];
  memcpy(date8, amz_date, 8);
  date8[8] = '\0';
  char *credential = lf_xasprintf("%s/%s/%s/%s/aws4_request", creds->access_key, date8, region,
                                  service);
  char expires_s[24];
  snprintf(expires_s, sizeof(expires_s), "%lld", (long long)expires);
  // The signed header names are needed as a query parameter before the request is
  // canonicalised, so compute them once with a throwaway canonicalisation.
  lf_dynbuf scratch, names;
  lf_dynbuf_init(&scratch, SIGN_MAX);
  lf_dynbuf_init(&names, SIGN_MAX);
  lf_status st = canonical_headers(req, &scratch, &names, err);
  lf_dynbuf_free(&scratch);
  if (st != LF_OK) {
    lf_free(credential);
    lf_dynbuf_free(&names);
    return NULL;
  }
  size_t nq = req->nquery + 6;
  lf_aws_kv *q = lf_xcalloc(nq, sizeof(*q));
  if (req->nquery > 0) {
    memcpy(q, req->query, req->nquery * sizeof(*q));
  }
  size_t i = req->nquery;
  q[i++] = (lf_aws_kv){"X-Amz-Algorithm", ALGORITHM};
  q[i++] = (lf_aws_kv){"X-Amz-Credential", credential};
  q[i++] = (lf_aws_kv){"X-Amz-Date", amz_date};
  q[i++] = (lf_aws_kv){"X-Amz-Expires", expires_s};
  q[i++] = (lf_aws_kv){"X-Amz-SignedHeaders", names.data};
  if (creds->session_token[0] != '\0') {
    q[i++] = (lf_aws_kv){"X-Amz-Security-Token", creds->session_token};
  }
  lf_aws_request signed_req = *req;
  signed_req.query = q;
  signed_req.nquery = i;
  signed_req.payload_hash = LF_AWS_UNSIGNED_PAYLOAD;
  lf_aws_signature sig;
  st = lf_aws_sigv4_sign(&signed_req, creds, region, service, amz_date, &sig, err);
  char *url = NULL;
  if (st == LF_OK) {
    lf_dynbuf u;
    lf_dynbuf_init(&u, SIGN_MAX);
    lf_dynbuf_adds(&u, base);
    lf_aws_uri_encode(&u, req->path, strlen(req->path), true);
    lf_dynbuf_addc(&u, '?');
    // The canonical query string is the query of the URL; the signature goes last.
    const char *cq = strchr(sig.canonical_request, '\n');
    cq = strchr(cq + 1, '\n') + 1;
    const char *end = strchr(cq, '\n');
    lf_dynbuf_add(&u, cq, (size_t)(end - cq));
    bool ok = lf_dynbuf_addf(&u, "&X-Amz-Signature=%s", sig.signature);
    if (ok) {
      url = lf_dynbuf_take(&u, NULL);
    } else {
      lf_dynbuf_free(&u);
      LF_ERR(err, LF_ERR_USAGE, "the presigned URL would be longer than %zu bytes", SIGN_MAX);
    }
    lf_aws_signature_free(&sig);
  }
  lf_free(q);
  lf_free(credential);
  lf_dynbuf_free(&names);
  return url;
}

void lf_aws_sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  lf_hex_encode(md, sizeof(md), out);
}

void lf_aws_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32])
{
  unsigned int n = 32;
  HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

void lf_aws_md5(const void *data, size_t len, unsigned char out[16])
{
  unsigned int n = 0;
  EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

void lf_aws_base64(const unsigned char *in, size_t len, char *out)
{
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = tbl[(v >> 6) & 63];
    out[o++] = tbl[v & 63];
  }
  if (i < len) {
    unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0u);
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
}

void lf_aws_creds_wipe(lf_aws_creds *c)
{
  // volatile so that the compiler cannot drop the stores as dead.
  volatile unsigned char *p = (volatile unsigned char *)c;
  for (size_t i = 0; i < sizeof(*c); i++) {
    p[i] = 0;
  }
}

static bool valid_amz_date(const char *d)
{
  if (d == NULL || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z') {
    return false;
  }
  for (int i = 0; i < 15; i++) {
    if (i != 8 && !isdigit((unsigned char)d[i])) {
      return false;
    }
  }
  return true;
}

static int cmp_header(const void *a, const void *b)
{
  const canon_header *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c != 0) {
    return c;
  }
  // Values of a repeated header keep their order of appearance.
  return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_param(const void *a, const void *b)
{
  const canon_param *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : strcmp(x->value, y->value);
}

// Trims the value and collapses each run of spaces and tabs inside it to one space.
static char *normalize_value(const char *v)
{
  size_t n = strlen(v);
  char *out = lf_xmalloc(n + 1);
  size_t o = 0;
  bool space = false;
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = o > 0;
      continue;
    }
    if (space) {
      out[o++] = ' ';
      space = false;
    }
    out[o++] = c;
  }
  out[o] = '\0';
  return out;
}

static lf_status canonical_headers(const lf_aws_request *req, lf_dynbuf *canon,
                                   lf_dynbuf *signed_names, lf_err *err)
{
  size_t n = req->nheaders;
  canon_header *h = lf_xcalloc(n > 0 ? n : 1, sizeof(*h));
  lf_status st = LF_OK;
  for (size_t i = 0; i < n; i++) {
    const char *name = req->headers[i].name;
    size_t len = strlen(name);
    if (len == 0) {
      st = LF_ERR(err, LF_ERR_USAGE, "cannot sign a header with an empty name");
      n = i;
      break;
    }
    h[i].name = lf_xmalloc(len + 1);
    for (size_t k = 0; k <= len; k++) {
      h[i].name[k] = (char)tolower((unsigned char)name[k]);
    }
    h[i].value = normalize_value(req->headers[i].value != NULL ? req->headers[i].value : "");
    h[i].order = i;
  }
  if (st == LF_OK) {
    qsort(h, n, sizeof(*h), cmp_header);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
      bool repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
      if (repeat) {
        // A repeated header is one canonical line with its values joined by commas.
        canon->len--; // drop the previous '\n'
        ok = lf_dynbuf_addf(canon, ",%s\n", h[i].value);
        continue;
      }
      ok = lf_dynbuf_addf(canon, "%s:%s\n", h[i].name, h[i].value) &&
           (signed_names->len == 0 || lf_dynbuf_addc(signed_names, ';')) &&
           lf_dynbuf_adds(signed_names, h[i].name);
    }
    if (!ok) {
      st = LF_ERR(err, LF_ERR_USAGE, "the request's headers are too large to sign");
    }
  }
  for (size_t i = 0; i < n; i++) {
    lf_free(h[i].name);
    lf_free(h[i].value);
  }
  lf_free(h);
  return st;
}

static char *encode_str(const char *s)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, SIGN_MAX);
  if (s != NULL) {
    lf_aws_uri_encode(&b, s, strlen(s), false);
  }
  return lf_dynbuf_take(&b, NULL);
}

static lf_status canonical_query(const lf_aws_kv *q, size_t n, lf_dynbuf *out, lf_err *err)
{
  canon_param *p = lf_xcalloc(n > 0 ? n : 1, sizeof(*p));
  for (size_t i = 0; i < n; i++) {
    p[i].name = encode_str(q[i].name);
    p[i].value = encode_str(q[i].value);
  }
  qsort(p, n, sizeof(*p), cmp_param);
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    ok = ok && lf_dynbuf_addf(out, "%s%s=%s", i > 0 ? "&" : "", p[i].name, p[i].value);
    lf_free(p[i].name);
    lf_free(p[i].value);
  }
  lf_free(p);
  if (!ok) {
    return LF_ERR(err, LF_ERR_USAGE, "the request's query is too large to sign");
  }
  return LF_OK;
}

static lf_status build_canonical(const lf_aws_request *req, const char *payload_hash,
                                 lf_dynbuf *creq, lf_dynbuf *signed_names, lf_err *err)
{
  if (req->method == NULL || req->path == NULL || req->path[0] != '/') {
    return LF_ERR(err, LF_ERR_USAGE, "cannot sign a request without a method and an absolute "
                                     "path");
  }
  lf_dynbuf_adds(creq, req->method);
  lf_dynbuf_addc(creq, '\n');
  lf_aws_uri_encode(creq, req->path, strlen(req->path), true);
  lf_dynbuf_addc(creq, '\n');
  lf_status st = canonical_query(req->query, req->nquery, creq, err);
  if (st == LF_OK) {
    lf_dynbuf_addc(creq, '\n');
    st = canonical_headers(req, creq, signed_names, err);
  }
  if (st == LF_OK) {
    bool ok = lf_dynbuf_addc(creq, '\n') && lf_dynbuf_add(creq, signed_names->data,
                                                          signed_names->len) &&
              lf_dynbuf_addc(creq, '\n') && lf_dynbuf_adds(creq, payload_hash);
    if (!ok) {
      st = LF_ERR(err, LF_ERR_USAGE, "the request is too large to sign");
    }
  }
  return st;
}

static void signing_key(const char *secret, const char *date8, const char *region,
                        const char *service, unsigned char key[32])
{
  char k0[LF_AWS_SECRET_MAX + 8];
  int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);
  unsigned char a[32], b[32];
  lf_aws_hmac_sha256(k0, (size_t)n, date8, strlen(date8), a);
  lf_aws_hmac_sha256(a, 32, region, strlen(region), b);
  lf_aws_hmac_sha256(b, 32, service, strlen(service), a);
  lf_aws_hmac_sha256(a, 32, "aws4_request", 12, key);
  memset(k0, 0, sizeof(k0));
  memset(a, 0, sizeof(a));
  memset(b, 0, sizeof(b));
}

static char *string_to_sign(const char *amz_date, const char *scope, const char *creq,
                            size_t creq_len)
{
  char hash[65];
  lf_aws_sha256_hex(creq, creq_len, hash);
  return lf_xasprintf(ALGORITHM "\n%s\n%s\n%s", amz_date, scope, hash);
}
