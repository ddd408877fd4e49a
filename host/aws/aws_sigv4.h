// SPDX-License-Identifier: MIT
// AWS Signature Version 4: canonical requests, strings to sign, signatures, Authorization
// headers and presigned URLs, plus the hashing helpers they need (SHA-256, HMAC, MD5, Base64).
// Checked against AWS's published test-suite vectors (tests/fixtures/sigv4/).
//
// Paths are given *decoded* ("/bucket/my key") and encoded once here, S3 style: every byte
// but A-Z a-z 0-9 - . _ ~ and '/' becomes %XX, and dot segments and repeated slashes are kept
// (S3 keys may contain them). Query names and values are given decoded as well.
//
// Nothing here logs, and no message ever contains a secret key or a session token.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/err.h"

/// SHA-256 of the empty string, the payload hash of a request without a body.
#define LF_AWS_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// The payload hash of a request whose body is not signed (integrity comes from a checksum).
#define LF_AWS_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

#define LF_AWS_KEY_ID_MAX 128
#define LF_AWS_SECRET_MAX 128
#define LF_AWS_TOKEN_MAX 4096

/// A set of credentials. Plain data: copy it freely; clear it with lf_aws_creds_wipe.
typedef struct lf_aws_creds {
  char access_key[LF_AWS_KEY_ID_MAX];
  char secret_key[LF_AWS_SECRET_MAX];
  char session_token[LF_AWS_TOKEN_MAX]; ///< "" when there is none
  int64_t expires_at;                   ///< Unix seconds; 0 = does not expire
  char source[64];                      ///< where they came from, for messages ("environment")
} lf_aws_creds;

/// A name and a value (a header, or a decoded query parameter). Borrowed strings.
typedef struct lf_aws_kv {
  const char *name;
  const char *value;
} lf_aws_kv;

/// What the signer needs of a request. All strings are borrowed.
typedef struct lf_aws_request {
  const char *method;        ///< "GET", "PUT", ...
  const char *path;          ///< decoded, starting with '/'
  const lf_aws_kv *query;    ///< decoded names and values; value NULL or "" for "?name"
  size_t nquery;
  const lf_aws_kv *headers;  ///< every header to sign, including host and x-amz-date
  size_t nheaders;
  const char *payload_hash;  ///< lowercase hex SHA-256 of the body, or UNSIGNED-PAYLOAD
} lf_aws_request;

/// The results of signing. Owned strings; free with lf_aws_signature_free.
typedef struct lf_aws_signature {
  char *canonical_request;
  char *string_to_sign;
  char *signed_headers;  ///< "host;x-amz-date"
  char *authorization;   ///< the Authorization header value
  char signature[65];    ///< lowercase hex
} lf_aws_signature;

/// Formats Unix time `t` as an x-amz-date ("20150830T123600Z") into `out`.
void lf_aws_amz_date(int64_t t, char out[17]);

/// Appends `s[0..len)` URI-encoded the SigV4 way (unreserved bytes kept, others %XX in upper
/// case); with `keep_slash`, '/' is kept too. @return false if the buffer's maximum is hit
bool lf_aws_uri_encode(lf_dynbuf *b, const char *s, size_t len, bool keep_slash);

/// Signs `req` for `region`/`service` at `amz_date` ("YYYYMMDDTHHMMSSZ").
/// @param[out] out filled on success; free with lf_aws_signature_free
/// @return LF_OK, or LF_ERR_USAGE for a malformed request (bad date, header name, no path)
lf_status lf_aws_sigv4_sign(const lf_aws_request *req, const lf_aws_creds *creds,
                            const char *region, const char *service, const char *amz_date,
                            lf_aws_signature *out, lf_err *err);
/// Frees the strings of a signature. NULL-safe; leaves `sig` zeroed.
void lf_aws_signature_free(lf_aws_signature *sig);

/// A presigned URL: the request signed in its query string, valid for `expires` seconds.
/// `req->headers` must hold host (and whatever else the user of the URL will send);
/// `req->payload_hash` is ignored (UNSIGNED-PAYLOAD). The session token, if any, is signed as
/// X-Amz-Security-Token.
/// @param[in] base scheme and authority, "https://bucket.s3.amazonaws.com"
/// @return the URL (caller frees with lf_free), or NULL with LF_ERR_USAGE in `err`
char *lf_aws_presign(const char *base, const lf_aws_request *req, const lf_aws_creds *creds,
                     const char *region, const char *service, const char *amz_date,
                     int64_t expires, lf_err *err);

/// SHA-256 of `len` bytes as 64 lowercase hex digits plus NUL.
void lf_aws_sha256_hex(const void *data, size_t len, char out[65]);
/// HMAC-SHA256 of `data` with `key` into `out` (32 bytes).
void lf_aws_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32]);
/// MD5 of `len` bytes (16 bytes out), for Content-MD5.
void lf_aws_md5(const void *data, size_t len, unsigned char out[16]);
/// Standard Base64 (with padding) of `len` bytes into `out` (size >= 4 * ((len + 2) / 3) + 1).
void lf_aws_base64(const unsigned char *in, size_t len, char *out);

/// Overwrites the secrets of `c` with zeros (also when it is about to go out of scope).
void lf_aws_creds_wipe(lf_aws_creds *c);
