// SPDX-License-Identifier: MIT
// Tests of host/aws/aws_sigv4.c against AWS's published vectors (tests/fixtures/sigv4/): each
// case's canonical request, string to sign and Authorization header must match byte for byte,
// and the S3 presigned-URL example must come out exactly as published.
#include <dirent.h>
#include <string.h>

#include "aws/aws_sigv4.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "testhelp.h"

#define MAX_FIELDS 32

typedef struct parsed_req {
  char *text; // owns every string below
  char *method;
  char *path;
  lf_aws_kv query[MAX_FIELDS];
  size_t nquery;
  lf_aws_kv headers[MAX_FIELDS];
  size_t nheaders;
  const char *body;
  size_t body_len;
} parsed_req;

static char *read_fixture(const char *dir, const char *name, const char *ext)
{
  char path[1024];
  snprintf(path, sizeof(path), "%s/tests/fixtures/sigv4/%s/%s%s", LF_SOURCE_DIR, dir, name, ext);
  char *data = NULL;
  size_t len = 0;
  lf_err err = {0};
  if (lf_fs_read_file(path, 1 << 20, &data, &len, &err) != LF_OK) {
    fprintf(stderr, "cannot read %s: %s\n", path, err.msg);
    return NULL;
  }
  return data;
}

// Parses a .req file: "METHOD URI HTTP/1.1", "Name:value" lines, a blank line, the body.
// The URI is split at '?' and '&' and '='; the vectors use no percent-escapes.
static bool parse_req(char *text, parsed_req *r)
{
  memset(r, 0, sizeof(*r));
  r->text = text;
  char *eol = strchr(text, '\n');
  if (eol == NULL) {
    return false;
  }
  *eol = '\0';
  char *sp = strchr(text, ' ');
  char *proto = strstr(text, " HTTP/");
  if (sp == NULL || proto == NULL) {
    return false;
  }
  *sp = '\0';
  *proto = '\0';
  r->method = text;
  r->path = sp + 1;
  char *q = strchr(r->path, '?');
  if (q != NULL) {
    *q++ = '\0';
    while (q != NULL && *q != '\0' && r->nquery < MAX_FIELDS) {
      char *amp = strchr(q, '&');
      if (amp != NULL) {
        *amp = '\0';
      }
      char *eq = strchr(q, '=');
      if (eq != NULL) {
        *eq = '\0';
      }
      r->query[r->nquery++] = (lf_aws_kv){q, eq != NULL ? eq + 1 : ""};
      q = amp != NULL ? amp + 1 : NULL;
    }
  }
  char *line = eol + 1;
  while (*line != '\0' && *line != '\n' && r->nheaders < MAX_FIELDS) {
    char *end = strchr(line, '\n');
    if (end != NULL) {
      *end = '\0';
    }
    char *colon = strchr(line, ':');
    if (colon == NULL) {
      return false;
    }
    *colon = '\0';
    r->headers[r->nheaders++] = (lf_aws_kv){line, colon + 1};
    if (end == NULL) {
      line = colon + 1 + strlen(colon + 1);
      break;
    }
    line = end + 1;
  }
  r->body = *line == '\n' ? line + 1 : line;
  r->body_len = strlen(r->body);
  return true;
}

static const char *header(const parsed_req *r, const char *name)
{
  for (size_t i = 0; i < r->nheaders; i++) {
    if (strcasecmp(r->headers[i].name, name) == 0) {
      return r->headers[i].value;
    }
  }
  return NULL;
}

static void check_case(const char *dir, const char *name, const lf_aws_creds *creds,
                       const char *service, const char *date)
{
  char *req_text = read_fixture(dir, name, ".req");
  char *creq = read_fixture(dir, name, ".creq");
  char *sts = read_fixture(dir, name, ".sts");
  char *authz = read_fixture(dir, name, ".authz");
  CHECK(req_text != NULL && creq != NULL && sts != NULL && authz != NULL);
  parsed_req r;
  if (req_text != NULL && creq != NULL && sts != NULL && authz != NULL) {
    CHECK(parse_req(req_text, &r));
    char hash[65];
    const char *h = header(&r, "x-amz-content-sha256"); // S3 signs the header's value
    if (h == NULL) {
      lf_aws_sha256_hex(r.body, r.body_len, hash);
      h = hash;
    }
    lf_aws_request req = {
      .method = r.method,
      .path = r.path,
      .query = r.query,
      .nquery = r.nquery,
      .headers = r.headers,
      .nheaders = r.nheaders,
      .payload_hash = h,
    };
    lf_aws_signature sig;
    lf_err err = {0};
    CHECK_EQ_INT(lf_aws_sigv4_sign(&req, creds, "us-east-1", service, date, &sig, &err), LF_OK);
    fprintf(stderr, "case %s/%s\n", dir, name);
    CHECK_STR(sig.canonical_request, creq);
    CHECK_STR(sig.string_to_sign, sts);
    CHECK_STR(sig.authorization, authz);
    lf_aws_signature_free(&sig);
  }
  lf_free(req_text);
  lf_free(creq);
  lf_free(sts);
  lf_free(authz);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

// Runs every case (every .authz) in a fixture directory; returns how many ran.
static int run_dir(const char *dir, const lf_aws_creds *creds, const char *service,
                   const char *date)
{
  char path[1024];
  snprintf(path, sizeof(path), "%s/tests/fixtures/sigv4/%s", LF_SOURCE_DIR, dir);
  DIR *d = opendir(path);
  CHECK(d != NULL);
  if (d == NULL) {
    return 0;
  }
  char *names[128];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < 128) {
    size_t len = strlen(e->d_name);
    if (len > 6 && strcmp(e->d_name + len - 6, ".authz") == 0) {
      names[n++] = lf_xmemdupz(e->d_name, len - 6);
    }
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
  for (int i = 0; i < n; i++) {
    check_case(dir, names[i], creds, service, date);
    lf_free(names[i]);
  }
  return n;
}

static lf_aws_creds make_creds(const char *ak, const char *sk)
{
  lf_aws_creds c;
  memset(&c, 0, sizeof(c));
  snprintf(c.access_key, sizeof(c.access_key), "%s", ak);
  snprintf(c.secret_key, sizeof(c.secret_key), "%s", sk);
  return c;
}

static void test_suite_vectors(void)
{
  lf_aws_creds c = make_creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  int n = run_dir(".", &c, "service", "20150830T123600Z");
  CHECK_EQ_INT(n, 17);
  lf_aws_creds s3 = make_creds("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  n = run_dir("s3", &s3, "s3", "20130524T000000Z");
  CHECK_EQ_INT(n, 4);
}

static void test_presign_vector(void)
{
  lf_aws_creds c = make_creds("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  char *req_text = read_fixture("s3", "presign-get-object", ".req");
  char *want = read_fixture("s3", "presign-get-object", ".url");
  CHECK(req_text != NULL && want != NULL);
  if (req_text == NULL || want == NULL) {
    return;
  }
  parsed_req r;
  CHECK(parse_req(req_text, &r));
  lf_aws_request req = {.method = r.method,
                        .path = r.path,
                        .headers = r.headers,
                        .nheaders = r.nheaders};
  lf_err err = {0};
  char *url = lf_aws_presign("https://examplebucket.s3.amazonaws.com", &req, &c, "us-east-1",
                             "s3", "20130524T000000Z", 86400, &err);
  CHECK_STR(url, want);
  lf_free(url);
  // A session token is signed into the URL; expiry is bounded like AWS's (7 days).
  snprintf(c.session_token, sizeof(c.session_token), "tok/en+=");
  url = lf_aws_presign("https://examplebucket.s3.amazonaws.com", &req, &c, "us-east-1", "s3",
                       "20130524T000000Z", 60, &err);
  CHECK_CONTAINS(url, "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host&");
  lf_free(url);
  CHECK(lf_aws_presign("https://x", &req, &c, "us-east-1", "s3", "20130524T000000Z", 604801,
                       &err) == NULL);
  CHECK_CONTAINS(err.msg, "1 to 604800 seconds");
  lf_free(req_text);
  lf_free(want);
}

static void test_encoding_and_errors(void)
{
  lf_dynbuf b;
  lf_dynbuf_init(&b, 1024);
  const char key[] = "a b/c+d=é~!*'()%";
  CHECK(lf_aws_uri_encode(&b, key, strlen(key), true));
  CHECK_STR(b.data, "a%20b/c%2Bd%3D%C3%A9~%21%2A%27%28%29%25");
  lf_dynbuf_reset(&b);
  CHECK(lf_aws_uri_encode(&b, "x/y", 3, false));
  CHECK_STR(b.data, "x%2Fy");
  lf_dynbuf_free(&b);

  char date[17];
  lf_aws_amz_date(1440938160, date);
  CHECK_STR(date, "20150830T123600Z");

  // Dot segments and double slashes are S3 key bytes: signed as they are.
  lf_aws_creds c = make_creds("AK", "SK");
  lf_aws_kv h[] = {{"Host", "h"}, {"X-Amz-Date", "20150830T123600Z"}};
  lf_aws_request req = {.method = "GET", .path = "/b//a/../k", .headers = h, .nheaders = 2};
  lf_aws_signature sig;
  lf_err err = {0};
  CHECK_EQ_INT(lf_aws_sigv4_sign(&req, &c, "r", "s3", "20150830T123600Z", &sig, &err), LF_OK);
  CHECK(strncmp(sig.canonical_request, "GET\n/b//a/../k\n", 15) == 0);
  lf_aws_signature_free(&sig);

  CHECK_EQ_INT(lf_aws_sigv4_sign(&req, &c, "r", "s3", "2015-08-30", &sig, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "invalid x-amz-date '2015-08-30'");
  lf_err_clear(&err);
  req.path = "relative";
  CHECK_EQ_INT(lf_aws_sigv4_sign(&req, &c, "r", "s3", "20150830T123600Z", &sig, &err),
               LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "absolute path");
  // No secret ever appears in what a signature produces.
  req.path = "/";
  CHECK_EQ_INT(lf_aws_sigv4_sign(&req, &c, "r", "s3", "20150830T123600Z", &sig, &err), LF_OK);
  CHECK(strstr(sig.authorization, "SK") == NULL);
  lf_aws_signature_free(&sig);
}

static void test_digests(void)
{
  char hex[65];
  lf_aws_sha256_hex("", 0, hex);
  CHECK_STR(hex, LF_AWS_EMPTY_SHA256);
  unsigned char md5[16];
  char b64[32];
  lf_aws_md5("Welcome to Amazon S3.", 21, md5);
  lf_aws_base64(md5, 16, b64);
  CHECK_EQ_INT(strlen(b64), 24);
  // RFC 4648 test vectors.
  const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    lf_aws_base64((const unsigned char *)in[i], strlen(in[i]), b64);
    CHECK_STR(b64, out[i]);
  }
  // RFC 1321: MD5("abc").
  lf_aws_md5("abc", 3, md5);
  char md5hex[33];
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    md5hex[2 * i] = digits[md5[i] >> 4];
    md5hex[2 * i + 1] = digits[md5[i] & 15];
  }
  md5hex[32] = '\0';
  CHECK_STR(md5hex, "900150983cd24fb0d6963f7d28e17f72");
  lf_aws_creds c = make_creds("AK", "SK");
  lf_aws_creds_wipe(&c);
  CHECK(c.secret_key[0] == '\0' && c.access_key[0] == '\0');
}

int main(void)
{
  test_suite_vectors();
  test_presign_vector();
  test_encoding_and_errors();
  test_digests();
  return TEST_REPORT();
}
