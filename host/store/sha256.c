// SPDX-License-Identifier: MIT
// This file contains the SHA-256 wrappers over OpenSSL's EVP API used to name blobs.
#include "store/sha256.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/hex.h"

static _Noreturn void fatal(const char *what);

void lf_sha256_init(lf_sha256_ctx *c)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL) {
    fatal("EVP_MD_CTX_new");
  }
  if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    fatal("EVP_DigestInit_ex");
  }
  c->md = md;
}

void lf_sha256_update(lf_sha256_ctx *c, const void *data, size_t len)
{
  if (len != 0 && EVP_DigestUpdate(c->md, data, len) != 1) {
    fatal("EVP_DigestUpdate");
  }
}

void lf_sha256_final(lf_sha256_ctx *c, unsigned char out[LF_SHA256_LEN])
{
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != LF_SHA256_LEN) {
    fatal("EVP_DigestFinal_ex");
  }
  EVP_MD_CTX_free(c->md);
  c->md = NULL;
}

void lf_sha256_abort(lf_sha256_ctx *c)
{
  EVP_MD_CTX_free(c->md);
  c->md = NULL;
}

void lf_sha256(const void *data, size_t len, unsigned char out[LF_SHA256_LEN])
{
  lf_sha256_ctx c;
  lf_sha256_init(&c);
  lf_sha256_update(&c, data, len);
  lf_sha256_final(&c, out);
}

void lf_sha256_hex(const void *data, size_t len, char out[LF_SHA256_HEX_LEN + 1])
{
  unsigned char md[LF_SHA256_LEN];
  lf_sha256(data, len, md);
  lf_hex_encode(md, sizeof(md), out);
}

static _Noreturn void fatal(const char *what)
{
  char detail[256];
  ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
  fprintf(stderr, "luaflow: SHA-256 failed in OpenSSL %s (%s)\n", what, detail);
  abort();
}
