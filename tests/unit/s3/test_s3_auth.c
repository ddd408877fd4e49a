// SPDX-License-Identifier: MIT
// Signatures accepted by a server that verifies them: moto started with
// INITIAL_NO_AUTH_ACTION_COUNT checks every header SigV4 signature against
// the IAM user that tests/s3/moto_iam_user.py creates. A wrong secret or an unknown key must
// fail at once with S3's code, and the secret never shows in the message.
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "s3/s3.h"
#include "s3/s3_testutil.h"
#include "testhelp.h"

#define MIB ((size_t)1 << 20)

// Runs the IAM helper and reads "AKID SECRET" from its output.
static bool make_user(const char *endpoint, char *ak, char *sk)
{
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "python3 '%s/tests/s3/moto_iam_user.py' '%s'", LF_SOURCE_DIR,
           endpoint);
  FILE *p = popen(cmd, "r");
  if (p == NULL) {
    return false;
  }
  int n = fscanf(p, "%127s %127s", ak, sk);
  return pclose(p) == 0 && n == 2;
}

static void test_signed_requests(lf_s3 *s3)
{
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_create_bucket(s3, "lf-auth", &err), LF_OK);
  if (err.code != LF_OK) {
    fprintf(stderr, "%s\n", err.msg);
  }
  size_t n = 6 * MIB + 11; // multipart: create, parts with query strings, complete
  char *data = lf_xmalloc(n);
  for (size_t i = 0; i < n; i++) {
    data[i] = (char)(i * 31 + 7);
  }
  lf_s3_op ops[3] = {
    {.kind = LF_S3_PUT, .bucket = "lf-auth", .key = "dir/big.bin", .data = data, .len = n},
    {.kind = LF_S3_PUT, .bucket = "lf-auth", .key = "dir/with space.txt", .data = "hi", .len = 2},
    {.kind = LF_S3_PUT, .bucket = "lf-auth", .key = "other/x", .data = "x", .len = 1},
  };
  CHECK_EQ_INT(lf_s3_run(s3, ops, 3, &err), LF_OK);
  if (err.code != LF_OK) {
    fprintf(stderr, "%s\n", err.msg);
  }
  char *back = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, "lf-auth", "dir/big.bin", 0, &back, &len, &err), LF_OK);
  CHECK(len == n && memcmp(back, data, n) == 0);
  lf_free(back);
  lf_s3_info info;
  CHECK_EQ_INT(lf_s3_head(s3, "lf-auth", "dir/with space.txt", &info, &err), LF_OK);
  CHECK_EQ_INT(info.size, 2);
  lf_s3_list l;
  // moto's verifier mis-encodes '/' in query values (boto3 fails the same way), so the
  // signed listing uses a prefix without one; delimiters are tested against default moto.
  CHECK_EQ_INT(lf_s3_list_objects(s3, "lf-auth", "dir", NULL, 0, &l, &err), LF_OK);
  CHECK_EQ_INT(l.n, 2);
  lf_s3_list_free(&l);
  // Presigned URLs are checked against AWS's published example (test_aws_sigv4.c): moto's
  // verifier needs an Authorization header and answers 500 to query-string signatures.
  CHECK_EQ_INT(lf_s3_delete(s3, "lf-auth", "other/x", &err), LF_OK);
  lf_free(data);
}

static void test_rejected(const char *ak)
{
  lf_err err = {0};
  setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong-secret", 1);
  lf_s3 *bad = lf_s3_new(NULL, &err);
  char *data = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(bad, "lf-auth", "dir/with space.txt", 0, &data, &len, &err),
               LF_ERR_STORE);
  CHECK_CONTAINS(err.msg, "cannot get 's3://lf-auth/dir/with space.txt' (403 "
                          "SignatureDoesNotMatch");
  CHECK(strstr(err.msg, "definitely-wrong-secret") == NULL);
  CHECK(strstr(err.msg, "after") == NULL); // permanent: not retried
  lf_s3_free(bad);
  lf_err_clear(&err);
  setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000", 1);
  bad = lf_s3_new(NULL, &err);
  CHECK_EQ_INT(lf_s3_put(bad, "lf-auth", "k", "x", 1, false, NULL, &err), LF_ERR_STORE);
  CHECK_CONTAINS(err.msg, "(403 InvalidAccessKeyId");
  lf_s3_free(bad);
  (void)ak;
}

int main(void)
{
  const char *dir = th_tmpdir("s3_auth");
  int port = 0;
  const char *env[] = {"INITIAL_NO_AUTH_ACTION_COUNT=3", NULL};
  pid_t moto = th_start_moto(dir, &port, env);
  CHECK(moto > 0);
  char ep[64], ak[128] = "", sk[128] = "";
  snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
  bool user = moto > 0 && make_user(ep, ak, sk);
  CHECK(user);
  if (user) {
    setenv("AWS_ACCESS_KEY_ID", ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ENDPOINT_URL", ep, 1);
    setenv("HOME", dir, 1);
    setenv("LUAFLOW_S3_PART_SIZE", "5242880", 1);
    setenv("LUAFLOW_S3_MULTIPART_THRESHOLD", "5242880", 1);
    lf_err err = {0};
    lf_s3 *s3 = lf_s3_new(NULL, &err);
    CHECK(s3 != NULL);
    if (s3 != NULL) {
      test_signed_requests(s3);
    }
    lf_s3_free(s3);
    test_rejected(ak);
  }
  th_kill(moto);
  return TEST_REPORT();
}
