// SPDX-License-Identifier: MIT
// SHA-256, the content address of blobs, computed by OpenSSL libcrypto's EVP interface (which
// uses the CPU's SHA extensions where present). The one home for hashing.
#pragma once

#include <stddef.h>

#define LF_SHA256_LEN 32
#define LF_SHA256_HEX_LEN 64

/// Streaming state, in caller storage. Contexts are independent: different threads may each
/// use their own.
typedef struct lf_sha256_ctx {
  void *md; ///< the OpenSSL EVP_MD_CTX; NULL after lf_sha256_final
} lf_sha256_ctx;

// OpenSSL failures here mean memory exhaustion or a broken OpenSSL installation. They abort
// with a message on stderr (like lf_xmalloc's default): a wrong digest would name data wrongly.

/// Starts a digest. Pair with lf_sha256_final, which releases the context.
void lf_sha256_init(lf_sha256_ctx *c);
/// Adds `len` bytes.
void lf_sha256_update(lf_sha256_ctx *c, const void *data, size_t len);
/// Writes the digest and releases the context.
void lf_sha256_final(lf_sha256_ctx *c, unsigned char out[LF_SHA256_LEN]);
/// Releases a context without producing a digest (for error paths). Idempotent.
void lf_sha256_abort(lf_sha256_ctx *c);
/// One-shot digest of `len` bytes.
void lf_sha256(const void *data, size_t len, unsigned char out[LF_SHA256_LEN]);
/// One-shot digest as 64 lowercase hex digits plus NUL.
void lf_sha256_hex(const void *data, size_t len, char out[LF_SHA256_HEX_LEN + 1]);
