// SPDX-License-Identifier: MIT
// This file contains the upload checksums: CRC-32C (carry-less multiplication folding with
// AVX-512 VPCLMULQDQ, else the SSE4.2 instruction, else a table) and Content-MD5, both
// Base64-encoded as S3 expects them.
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/alloc.h"
#include "aws/aws_sigv4.h"
#include "s3/s3_internal.h"

#define POLY 0x82F63B78u // CRC-32C, reflected

static uint32_t table[8][256];
static bool table_ready;

static void build_table(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) {
      c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
    }
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    for (int t = 1; t < 8; t++) {
      table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
    }
  }
  table_ready = true;
}

// Slicing-by-8 over the tables.
static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t len)
{
  if (!table_ready) {
    build_table(); // idempotent, so a race between threads only repeats the same writes
  }
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    v ^= crc;
    crc = table[7][v & 0xFF] ^ table[6][(v >> 8) & 0xFF] ^ table[5][(v >> 16) & 0xFF] ^
          table[4][(v >> 24) & 0xFF] ^ table[3][(v >> 32) & 0xFF] ^ table[2][(v >> 40) & 0xFF] ^
          table[1][(v >> 48) & 0xFF] ^ table[0][v >> 56];
    p += 8;
    len -= 8;
  }
  while (len-- > 0) {
    crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
  }
  return crc;
}

#if defined(__x86_64__)
// The crc32 instruction has a latency of three cycles but a throughput of one per cycle, so
// long buffers are cut into three interleaved streams whose CRCs are then joined: the CRC of
// A then B is the register after A advanced over |B| zero bytes, xor the CRC of B from zero.
// Advancing over a fixed length is a linear map of the 32-bit register, applied a byte at a
// time through four tables (the zlib / crc32c.c way of combining CRCs).
#define STREAM_LONG 8192
#define STREAM_SHORT 256
// Each stream asks for its cache lines this far ahead: three streams 8 KiB apart outrun the
// hardware prefetcher on memory not in cache (13 GB/s without, 19 GB/s with, against 27 GB/s
// in cache, on the development machine).
#define PREFETCH_AHEAD 2048

static uint32_t zeros_long[4][256];
static uint32_t zeros_short[4][256];
static bool zeros_ready;

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
  uint32_t sum = 0;
  for (; vec != 0; vec >>= 1, mat++) {
    if (vec & 1) {
      sum ^= *mat;
    }
  }
  return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
  for (int n = 0; n < 32; n++) {
    square[n] = gf2_times(mat, mat[n]);
  }
}

// Tables that advance a register over `len` zero bytes (len a power of two, >= 2).
static void build_zeros(uint32_t zeros[4][256], size_t len)
{
  uint32_t odd[32];
  uint32_t even[32];
  odd[0] = POLY; // one zero bit
  for (int n = 1; n < 32; n++) {
    odd[n] = (uint32_t)1 << (n - 1);
  }
  gf2_square(even, odd); // two bits
  gf2_square(odd, even); // four bits
  const uint32_t *op = NULL;
  for (;;) {
    gf2_square(even, odd); // one byte, then four, 16, ...
    len >>= 1;
    if (len == 0) {
      op = even;
      break;
    }
    gf2_square(odd, even); // two bytes, then eight, ...
    len >>= 1;
    if (len == 0) {
      op = odd;
      break;
    }
  }
  for (uint32_t n = 0; n < 256; n++) {
    zeros[0][n] = gf2_times(op, n);
    zeros[1][n] = gf2_times(op, n << 8);
    zeros[2][n] = gf2_times(op, n << 16);
    zeros[3][n] = gf2_times(op, n << 24);
  }
}

static uint32_t advance(uint32_t zeros[4][256], uint32_t crc)
{
  return zeros[0][crc & 0xFF] ^ zeros[1][(crc >> 8) & 0xFF] ^ zeros[2][(crc >> 16) & 0xFF] ^
         zeros[3][crc >> 24];
}

// Three streams of `block` bytes each from p; returns the register after all 3 * block.
__attribute__((target("sse4.2"))) static uint32_t crc_hw3(uint32_t crc, const unsigned char *p,
                                                          size_t block, uint32_t zeros[4][256])
{
  uint64_t c0 = crc;
  uint64_t c1 = 0;
  uint64_t c2 = 0;
  for (const unsigned char *end = p + block; p < end; p += 64) { // block: a multiple of 64
    __builtin_prefetch(p + PREFETCH_AHEAD);
    __builtin_prefetch(p + block + PREFETCH_AHEAD);
    __builtin_prefetch(p + 2 * block + PREFETCH_AHEAD);
    for (size_t i = 0; i < 64; i += 8) {
      uint64_t v0;
      uint64_t v1;
      uint64_t v2;
      memcpy(&v0, p + i, 8);
      memcpy(&v1, p + i + block, 8);
      memcpy(&v2, p + i + 2 * block, 8);
      c0 = __builtin_ia32_crc32di(c0, v0);
      c1 = __builtin_ia32_crc32di(c1, v1);
      c2 = __builtin_ia32_crc32di(c2, v2);
    }
  }
  uint32_t r = advance(zeros, (uint32_t)c0) ^ (uint32_t)c1;
  return advance(zeros, r) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                         size_t len)
{
  if (len >= 3 * STREAM_SHORT) {
    if (!zeros_ready) {
      // idempotent, so a race between threads only repeats the same writes
      build_zeros(zeros_long, STREAM_LONG);
      build_zeros(zeros_short, STREAM_SHORT);
      zeros_ready = true;
    }
    for (; len >= 3 * STREAM_LONG; p += 3 * STREAM_LONG, len -= 3 * STREAM_LONG) {
      crc = crc_hw3(crc, p, STREAM_LONG, zeros_long);
    }
    for (; len >= 3 * STREAM_SHORT; p += 3 * STREAM_SHORT, len -= 3 * STREAM_SHORT) {
      crc = crc_hw3(crc, p, STREAM_SHORT, zeros_short);
    }
  }
  uint64_t c = crc;
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    len -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (len-- > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
  }
  return c32;
}

// Long buffers fold instead of feeding the crc32 instruction. The message is a polynomial over
// GF(2), and a 128-bit lane of it, moved D bits further along, is congruent mod P to two
// carry-less products of its 64-bit halves with x^(D+32) mod P and x^(D-32) mod P, so lanes can
// be xored into data D bits later without changing the CRC (Intel, "Fast CRC Computation for
// Generic Polynomials Using PCLMULQDQ", 2009; ISA-L's crc32_iscsi). VPCLMULQDQ multiplies four
// lanes per instruction, and four 512-bit accumulators folding 256 bytes per step run at
// 55 GB/s in cache against 27 GB/s for the three streams above; on 1 GiB not in cache they
// reach memory bandwidth, 33 GB/s against 20 GB/s (development machine).
//
// Constants: bit i of the byte stream (least significant bit first) is a coefficient of falling
// degree, so each half of a lane is bit-reflected; a carry-less product of reflected values is
// one factor x short, and a constant stored as reflect32(c) << 1 (33 bits) makes the product
// x^32 * half * c. Folding by D bits thus takes reflect32(x^(D+32) mod P) << 1 for the low half
// (earlier bytes, higher degree) and reflect32(x^(D-32) mod P) << 1 for the high one, computed
// with the Python below; test_checksums covers every distance, as a wrong one corrupts the CRC.
//   P = 0x11EDC6F41
//   def xpow(n):  # x^n mod P
//     r = 1
//     for _ in range(n):
//       r = r << 1 ^ (P if r & 0x80000000 else 0)
//     return r
//   k = lambda e: int(format(xpow(e), '032b')[::-1], 2) << 1
//   print(hex(k(D + 32)), hex(k(D - 32)))
// Each macro is a lane's pair: low half, high half.
#define K2048 0x0dcb17aa4ull, 0x0b9e02b86ull // 256 bytes: the four-accumulator step
#define K1536 0x0a87ab8a8ull, 0x0ab7aff2aull // 192, 128, 64 bytes: four accumulators into one
#define K1024 0x06992cea2ull, 0x00d3b6092ull
#define K512 0x0740eef02ull, 0x09e4addf8ull // also the one-accumulator step
#define K384 0x01c291d04ull, 0x1d82c63daull // 48, 32, 16 bytes: four lanes into one
#define K256 0x1384aa63aull, 0x0ba4fc28eull
#define K128 0x0f20c0dfeull, 0x14cd00bd6ull
// The reduction to 16 bytes and the crc32 tail cost about as much as 100 bytes of the single
// crc32 stream: from 128 bytes on folding wins (11 ns against 13 ns, 256 bytes 11 against 26).
#define FOLD_MIN 128
// Lines are asked for this far ahead, as in crc_hw3: one stream is easy for the hardware
// prefetcher, but asking still gains a few percent on memory not in cache.
#define FOLD_PREFETCH 2048

#define FOLD_TARGET __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))

FOLD_TARGET static inline __m512i broadcast(uint64_t lo, uint64_t hi)
{
  return _mm512_broadcast_i32x4(_mm_set_epi64x((long long)hi, (long long)lo));
}

// Each lane of acc moved along by the distance of k, xor data.
FOLD_TARGET static inline __m512i fold(__m512i acc, __m512i k, __m512i data)
{
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(acc, k, 0x00),
                                   _mm512_clmulepi64_epi128(acc, k, 0x11), data, 0x96);
}

// len >= 64; the last len % 64 bytes go through crc_hw.
FOLD_TARGET static uint32_t crc_fold(uint32_t crc, const unsigned char *p, size_t len)
{
  // The register enters xored into the first four bytes, since the CRC of M from register c
  // is (c x^|M| + M) x^32 mod P.
  __m512i seed = _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc));
  __m512i x;
  if (len >= 256) {
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), seed);
    __m512i x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128);
    __m512i x3 = _mm512_loadu_si512(p + 192);
    p += 256;
    len -= 256;
    __m512i k = broadcast(K2048);
    for (; len >= 256; p += 256, len -= 256) {
      if (len >= FOLD_PREFETCH + 256) { // nothing past the buffer: it would be wasted traffic
        __builtin_prefetch(p + FOLD_PREFETCH);
        __builtin_prefetch(p + FOLD_PREFETCH + 64);
        __builtin_prefetch(p + FOLD_PREFETCH + 128);
        __builtin_prefetch(p + FOLD_PREFETCH + 192);
      }
      x0 = fold(x0, k, _mm512_loadu_si512(p));
      x1 = fold(x1, k, _mm512_loadu_si512(p + 64));
      x2 = fold(x2, k, _mm512_loadu_si512(p + 128));
      x3 = fold(x3, k, _mm512_loadu_si512(p + 192));
    }
    x = fold(x2, broadcast(K512), x3);
    x = fold(x1, broadcast(K1024), x);
    x = fold(x0, broadcast(K1536), x);
  } else {
    x = _mm512_xor_si512(_mm512_loadu_si512(p), seed);
    p += 64;
    len -= 64;
  }
  __m512i k = broadcast(K512);
  for (; len >= 64; p += 64, len -= 64) {
    x = fold(x, k, _mm512_loadu_si512(p));
  }
  // Lanes 0 to 2 move onto lane 3 in one step; lane 3 itself meets a zero constant and comes
  // back through the xor operand.
  static const uint64_t lanes_k[8] = {K384, K256, K128, 0, 0};
  x = fold(x, _mm512_loadu_si512(lanes_k), _mm512_maskz_mov_epi64(0xC0, x));
  __m256i y = _mm256_xor_si256(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
  __m128i z = _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
  // 16 bytes congruent to everything before them: their CRC from zero is the register.
  uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(z));
  c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(z, 1));
  return crc_hw((uint32_t)c, p, len);
}
#endif

uint32_t lf_s3_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
  return ~crc_soft(~crc, data, len);
}

uint32_t lf_s3_crc32c(uint32_t crc, const void *data, size_t len)
{
  const unsigned char *p = data;
  crc = ~crc;
#if defined(__x86_64__)
  if (len >= FOLD_MIN && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul") &&
      __builtin_cpu_supports("sse4.2")) {
    return ~crc_fold(crc, p, len);
  }
  if (__builtin_cpu_supports("sse4.2")) {
    return ~crc_hw(crc, p, len);
  }
#endif
  return ~crc_soft(crc, p, len);
}

void lf_s3_checksum_value(lf_s3_checksum kind, const void *data, size_t len, char out[32])
{
  if (kind == LF_S3_CHECKSUM_MD5) {
    unsigned char md5[16];
    lf_aws_md5(data, len, md5);
    lf_aws_base64(md5, sizeof(md5), out);
    return;
  }
  lf_s3_crc32c_base64(lf_s3_crc32c(0, data, len), out);
}

void lf_s3_crc32c_base64(uint32_t crc, char out[16])
{
  unsigned char be[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                         (unsigned char)(crc >> 8), (unsigned char)crc};
  lf_aws_base64(be, sizeof(be), out);
}

lf_status lf_s3_checksum_file(lf_s3_checksum kind, int fd, uint64_t off, uint64_t len,
                              char out[32], lf_err *err)
{
  size_t chunk = (size_t)1 << 20;
  unsigned char *buf = lf_xmalloc(chunk);
  EVP_MD_CTX *md = kind == LF_S3_CHECKSUM_MD5 ? EVP_MD_CTX_new() : NULL;
  if (md != NULL) {
    EVP_DigestInit_ex(md, EVP_md5(), NULL);
  }
  uint32_t crc = 0;
  lf_status st = LF_OK;
  for (uint64_t pos = 0; pos < len;) {
    size_t want = len - pos < chunk ? (size_t)(len - pos) : chunk;
    ssize_t r = pread(fd, buf, want, (off_t)(off + pos));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      st = LF_ERR(err, LF_ERR_IO, "cannot read the file to upload (%s)",
                  r < 0 ? strerror(errno) : "it became shorter");
      break;
    }
    if (md != NULL) {
      EVP_DigestUpdate(md, buf, (size_t)r);
    } else {
      crc = lf_s3_crc32c(crc, buf, (size_t)r);
    }
    pos += (uint64_t)r;
  }
  if (st == LF_OK && md != NULL) {
    unsigned char digest[16];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, digest, &n);
    lf_aws_base64(digest, sizeof(digest), out);
  } else if (st == LF_OK) {
    lf_s3_crc32c_base64(crc, out);
  }
  EVP_MD_CTX_free(md);
  lf_free(buf);
  return st;
}

const char *lf_s3_checksum_header(lf_s3_checksum kind)
{
  return kind == LF_S3_CHECKSUM_MD5 ? "Content-MD5" : "x-amz-checksum-crc32c";
}
