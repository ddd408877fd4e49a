// SPDX-License-Identifier: MIT
// Tests of host/s3/s3_xml.c (the reader and the S3 document parsers) and of the upload
// checksums in host/s3/s3_checksum.c.
#include <string.h>

#include "core/alloc.h"
#include "s3/s3_internal.h"
#include "s3/s3_xml.h"
#include "testhelp.h"

static void bad(const char *doc, const char *want)
{
  lf_err err = {0};
  lf_s3_xml *x = lf_s3_xml_parse(doc, strlen(doc), &err);
  CHECK(x == NULL);
  CHECK_EQ_INT(err.code, LF_ERR_CORRUPT);
  CHECK_CONTAINS(err.msg, want);
  lf_s3_xml_free(x);
}

static void test_reader(void)
{
  const char *doc = "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<!-- a comment -->\n"
                    "<s3:Root xmlns:s3=\"http://s3\" a='1' b = \"x>y\">\n"
                    "  <Name>a &lt;&amp;&gt; &quot;b&apos; &#65;&#x42;&#x1F642;</Name>\n"
                    "  <Empty/><Empty></Empty>\n"
                    "  <Data><![CDATA[<raw> & stuff]]></Data>\n"
                    "  <Name>second</Name>\n"
                    "</s3:Root>\n";
  lf_err err = {0};
  lf_s3_xml *x = lf_s3_xml_parse(doc, strlen(doc), &err);
  CHECK(x != NULL);
  if (x == NULL) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK_STR(lf_s3_xml_name(x, 0), "Root"); // the prefix is dropped
  CHECK_EQ_INT(lf_s3_xml_count(x), 6);
  CHECK_STR(lf_s3_xml_child_text(x, 0, "Name"), "a <&> \"b' AB\xF0\x9F\x99\x82");
  int first = lf_s3_xml_child(x, 0, "Name", -1);
  int second = lf_s3_xml_child(x, 0, "Name", first);
  CHECK(second > first);
  CHECK_STR(lf_s3_xml_text(x, second, NULL), "second");
  CHECK_EQ_INT(lf_s3_xml_child(x, 0, "Name", second), -1);
  CHECK_STR(lf_s3_xml_child_text(x, 0, "Empty"), "");
  CHECK_STR(lf_s3_xml_child_text(x, 0, "Data"), "<raw> & stuff");
  CHECK(lf_s3_xml_child_text(x, 0, "Nope") == NULL);
  CHECK_EQ_INT(lf_s3_xml_child(x, 99, "Name", -1), -1);
  lf_s3_xml_free(x);

  bad("<a><b></a>", "invalid XML at byte 9: mismatched end tag");
  bad("<a>", "unexpected end of document inside an element");
  bad("", "no root element");
  bad("  text", "text outside the root element");
  bad("<a/><b/>", "more than one root element");
  bad("<!DOCTYPE x [<!ENTITY e \"boom\">]><a>&e;</a>", "DOCTYPE and other declarations");
  bad("<a>&bogus;</a>", "unknown entity");
  bad("<a>&#0;</a>", "bad character reference");
  bad("<a>&#xD800;</a>", "bad character reference");
  bad("<a>&#x110000;</a>", "bad character reference");
  bad("<a b=1/>", "expected a quoted attribute value");
  bad("<a b='1/>", "unterminated");
  bad("<a><!-- never closed </a>", "unterminated comment");
  bad("<1a/>", "bad element name");
  bad("</a>", "end tag without a start tag");
  // Nesting is bounded.
  char deep[65 * 3 + 1];
  for (int i = 0; i < 65; i++) {
    memcpy(deep + 3 * i, "<a>", 3);
  }
  deep[65 * 3] = '\0';
  bad(deep, "elements nested too deeply");
}

static void test_error_doc(void)
{
  const char *doc = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified "
                    "key does not exist.</Message><Key>k</Key><Region>eu-west-1</Region></Error>";
  lf_s3_error_doc e;
  CHECK(lf_s3_parse_error(doc, strlen(doc), &e));
  CHECK_STR(e.code, "NoSuchKey");
  CHECK_STR(e.message, "The specified key does not exist.");
  CHECK_STR(e.region, "eu-west-1");
  CHECK(!lf_s3_parse_error("<Other/>", 8, &e));
  CHECK(!lf_s3_parse_error("not xml", 7, &e));
  CHECK(!lf_s3_parse_error(NULL, 0, &e));
}

static void test_list_doc(void)
{
  const char *page =
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>tok+/=</NextContinuationToken>"
    "<Contents><Key>p/a%20b</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
    "<ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>"
    "<CommonPrefixes><Prefix>p/d%2F/</Prefix></CommonPrefixes>"
    "<Contents><Key>p/%C3%A9+x</Key><Size>0</Size></Contents>"
    "</ListBucketResult>";
  lf_s3_list l = {0};
  char *tok = NULL;
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_parse_list(page, strlen(page), true, &l, &tok, &err), LF_OK);
  CHECK_STR(tok, "tok+/=");
  CHECK_EQ_INT(l.n, 3);
  if (l.n == 3) {
    CHECK_STR(l.items[0].key, "p/a b");
    CHECK_EQ_INT(l.items[0].size, 12);
    CHECK_STR(l.items[0].etag, "\"abc\"");
    CHECK_EQ_INT(l.items[0].last_modified, 1704164645);
    CHECK_STR(l.items[1].key, "p/d//");
    CHECK(l.items[1].is_prefix);
    CHECK_STR(l.items[2].key, "p/\xC3\xA9 x");
  }
  lf_free(tok);
  lf_s3_list_free(&l);

  const char *notrunc = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
  CHECK_EQ_INT(lf_s3_parse_list(notrunc, strlen(notrunc), true, &l, &tok, &err), LF_OK);
  CHECK(tok == NULL && l.n == 0);
  const char *notoken = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
  CHECK_EQ_INT(lf_s3_parse_list(notoken, strlen(notoken), true, &l, &tok, &err), LF_ERR_CORRUPT);
  CHECK_STR(err.msg, "a truncated listing has no NextContinuationToken");
  lf_err_clear(&err);
  const char *badsize = "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
                        "</ListBucketResult>";
  CHECK_EQ_INT(lf_s3_parse_list(badsize, strlen(badsize), false, &l, &tok, &err), LF_ERR_CORRUPT);
  CHECK_STR(err.msg, "listing entry 'k' has a bad <Size>");
  lf_s3_list_free(&l);
  lf_err_clear(&err);
  const char *badenc = "<ListBucketResult><Contents><Key>%zz</Key><Size>1</Size></Contents>"
                       "</ListBucketResult>";
  CHECK_EQ_INT(lf_s3_parse_list(badenc, strlen(badenc), true, &l, &tok, &err), LF_ERR_CORRUPT);
  CHECK_STR(err.msg, "a listing has a badly encoded <Key>");
  lf_s3_list_free(&l);
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_s3_parse_list("<Error/>", 8, true, &l, &tok, &err), LF_ERR_CORRUPT);
  CHECK_STR(err.msg, "expected a ListBucketResult, got <Error>");
}

static void test_upload_id(void)
{
  const char *doc = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                    "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>";
  char *id = NULL;
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_parse_upload_id(doc, strlen(doc), &id, &err), LF_OK);
  CHECK_STR(id, "VXBsb2FkIElE");
  lf_free(id);
  const char *none = "<InitiateMultipartUploadResult/>";
  CHECK_EQ_INT(lf_s3_parse_upload_id(none, strlen(none), &id, &err), LF_ERR_CORRUPT);
  CHECK_CONTAINS(err.msg, "has no UploadId");
}

static void test_checksums(void)
{
  // The CRC-32C check value (RFC 3720), hardware and portable paths alike, in pieces too.
  const char *nine = "123456789";
  CHECK_EQ_INT(lf_s3_crc32c(0, nine, 9), 0xE3069283u);
  CHECK_EQ_INT(lf_s3_crc32c_portable(0, nine, 9), 0xE3069283u);
  CHECK_EQ_INT(lf_s3_crc32c(lf_s3_crc32c(0, nine, 4), nine + 4, 5), 0xE3069283u);
  // RFC 3720 B.4 vectors, so the table the others are compared with is itself right.
  unsigned char vec[32];
  memset(vec, 0, sizeof(vec));
  CHECK_EQ_INT(lf_s3_crc32c_portable(0, vec, 32), 0x8A9136AAu);
  memset(vec, 0xFF, sizeof(vec));
  CHECK_EQ_INT(lf_s3_crc32c_portable(0, vec, 32), 0x62A8AB43u);

  // The fast paths against the table. Folding (CPUs with AVX-512 VPCLMULQDQ) starts at 128
  // bytes, works in blocks of 256 then 64 bytes and leaves the last len % 64 to the crc32
  // instruction, which interleaves three streams in blocks of 3 x 256 and 3 x 8192 bytes: every
  // length up to 4 KiB crosses all of those boundaries, including where the prefetch stops.
  // Each fold constant feeds every long CRC, so a wrong one shows on random data.
  size_t huge_len = ((size_t)1 << 20) + 4099;
  unsigned char *huge = lf_xmalloc(huge_len + 64);
  uint64_t rng = 0x9E3779B97F4A7C15u;
  for (size_t i = 0; i < huge_len + 64; i++) {
    rng ^= rng << 13; // xorshift64
    rng ^= rng >> 7;
    rng ^= rng << 17;
    huge[i] = (unsigned char)(rng >> 56);
  }
  int bad = 0;
  for (size_t len = 0; len <= 640; len++) {
    for (size_t off = 0; off < 64; off++) { // every alignment against a 64-byte load
      uint32_t seed = (uint32_t)(len * 2654435761u + off);
      bad += lf_s3_crc32c(seed, huge + off, len) != lf_s3_crc32c_portable(seed, huge + off, len);
    }
  }
  CHECK_EQ_INT(bad, 0);
  bad = 0;
  for (size_t len = 641; len <= 4500; len++) {
    static const size_t offs[] = {0, 1, 37, 63};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
      uint32_t seed = (uint32_t)(len * 977u + i);
      bad += lf_s3_crc32c(seed, huge + offs[i], len) !=
             lf_s3_crc32c_portable(seed, huge + offs[i], len);
    }
  }
  CHECK_EQ_INT(bad, 0);
  // Long ones, past 3 x 8192 and many fold steps, with a crc carried in.
  static const size_t lens[] = {3 * 8192 - 1, 3 * 8192, 3 * 8192 + 767, 65536 + 255,
                                ((size_t)1 << 20) + 4099};
  bad = 0;
  for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
    for (size_t off = 0; off < 64; off += 21) {
      uint32_t seed = (uint32_t)(k * 977u) ^ 0xDEADBEEFu;
      bad += lf_s3_crc32c(seed, huge + off, lens[k]) !=
             lf_s3_crc32c_portable(seed, huge + off, lens[k]);
    }
  }
  CHECK_EQ_INT(bad, 0);
  // Chained calls: the CRC of A then B is the CRC of A || B, wherever the cut falls.
  uint32_t whole = lf_s3_crc32c(7, huge + 3, 100000);
  CHECK_EQ_INT(whole, lf_s3_crc32c_portable(7, huge + 3, 100000));
  bad = 0;
  for (size_t cut = 0; cut <= 100000; cut += cut < 1100 ? 1 : 4093) {
    uint32_t a = lf_s3_crc32c(7, huge + 3, cut);
    bad += lf_s3_crc32c(a, huge + 3 + cut, 100000 - cut) != whole;
  }
  CHECK_EQ_INT(bad, 0);
  lf_free(huge);
  char out[32];
  lf_s3_checksum_value(LF_S3_CHECKSUM_CRC32C, nine, 9, out);
  CHECK_STR(out, "4waSgw=="); // base64 of E3 06 92 83
  lf_s3_checksum_value(LF_S3_CHECKSUM_MD5, "", 0, out);
  CHECK_STR(out, "1B2M2Y8AsgTpgAmY7PhCfg=="); // MD5 of nothing
  CHECK_STR(lf_s3_checksum_header(LF_S3_CHECKSUM_MD5), "Content-MD5");
}

int main(void)
{
  test_reader();
  test_error_doc();
  test_list_doc();
  test_upload_id();
  test_checksums();
  return TEST_REPORT();
}
