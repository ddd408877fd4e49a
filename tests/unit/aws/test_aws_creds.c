// SPDX-License-Identifier: MIT
// Tests of host/aws/aws_creds.c: the provider chain in order (environment, profile files and
// credential_process, container endpoint, IMDSv2), caching and refresh, and messages that
// never show a secret.
// The container endpoint and instance metadata are tests/s3/creds_stub.py on loopback.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/aws_creds.h"
#include "aws/aws_http.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "s3/s3_testutil.h"
#include "testhelp.h"

static const char *aws_vars[] = {"AWS_PROFILE",
                                 "AWS_DEFAULT_PROFILE",
                                 "AWS_ACCESS_KEY_ID",
                                 "AWS_SECRET_ACCESS_KEY",
                                 "AWS_SESSION_TOKEN",
                                 "AWS_CONFIG_FILE",
                                 "AWS_SHARED_CREDENTIALS_FILE",
                                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                 "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                 NULL};

static const char *home;

static void reset_env(void)
{
  for (size_t i = 0; aws_vars[i] != NULL; i++) {
    unsetenv(aws_vars[i]);
  }
  // Tests never reach the real link-local metadata address.
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("HOME", home, 1);
  char *f = lf_path_joinv(home, ".aws", "credentials", NULL);
  unlink(f);
  lf_free(f);
  f = lf_path_joinv(home, ".aws", "config", NULL);
  unlink(f);
  lf_free(f);
}

static void write_file(const char *name, const char *text)
{
  char *path = lf_path_join(home, name);
  lf_err err = {0};
  CHECK_EQ_INT(lf_fs_write_atomic(path, text, strlen(text), false, NULL, &err), LF_OK);
  lf_free(path);
}

// Resolves credentials with a fresh config and provider.
static lf_status get(lf_aws_creds *c, lf_err *err)
{
  lf_aws_config cfg;
  lf_status st = lf_aws_config_load("s3", &cfg, err);
  if (st != LF_OK) {
    return st;
  }
  lf_aws_creds_provider *p = lf_aws_creds_provider_new(&cfg);
  st = lf_aws_creds_get(p, c, err);
  lf_aws_creds_provider_free(p);
  lf_aws_config_destroy(&cfg);
  return st;
}

static void test_environment(void)
{
  reset_env();
  setenv("AWS_ACCESS_KEY_ID", "ENVAK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_SESSION_TOKEN", "env-token", 1);
  write_file(".aws/credentials", "[default]\naws_access_key_id = FILEAK\n"
                                 "aws_secret_access_key = file-secret\n");
  lf_aws_creds c;
  lf_err err = {0};
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK_STR(c.access_key, "ENVAK"); // the environment comes before the files
  CHECK_STR(c.secret_key, "env-secret");
  CHECK_STR(c.session_token, "env-token");
  CHECK_STR(c.source, "environment");
  CHECK_EQ_INT(c.expires_at, 0);
  unsetenv("AWS_SECRET_ACCESS_KEY");
  CHECK_EQ_INT(get(&c, &err), LF_ERR_USAGE);
  CHECK_STR(err.msg, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
}

static void test_profiles(void)
{
  reset_env();
  write_file(".aws/credentials", "[default]\naws_access_key_id = FILEAK\n"
                                 "aws_secret_access_key = file-secret\n"
                                 "[half]\naws_access_key_id = HALFAK\n");
  write_file(".aws/config", "[profile cfgonly]\naws_access_key_id = CFGAK\n"
                            "aws_secret_access_key = cfg-secret\naws_session_token = cfg-tok\n"
                            "[profile empty]\nregion = eu-west-1\n");
  lf_aws_creds c;
  lf_err err = {0};
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK_STR(c.access_key, "FILEAK");
  CHECK_STR(c.source, "profile 'default'");
  setenv("AWS_PROFILE", "cfgonly", 1); // found in the config file
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK_STR(c.access_key, "CFGAK");
  CHECK_STR(c.session_token, "cfg-tok");
  setenv("AWS_PROFILE", "half", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "profile 'half' in '");
  CHECK_CONTAINS(err.msg, "has aws_access_key_id but not aws_secret_access_key");
  lf_err_clear(&err);
  // Nothing anywhere: the message lists what was tried, and shows no secret.
  setenv("AWS_PROFILE", "empty", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "no AWS credentials found (tried environment variables, profile "
                          "'empty' in '");
  CHECK_CONTAINS(err.msg, "container endpoint (not configured), instance metadata (disabled by "
                          "AWS_EC2_METADATA_DISABLED)");
  CHECK(strstr(err.msg, "secret") == NULL);
}

static void test_container(int port)
{
  reset_env();
  char uri[128];
  snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/ecs/creds", port);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-secret-token", 1);
  lf_aws_creds c;
  lf_err err = {0};
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK(strncmp(c.access_key, "ECSAK", 5) == 0);
  CHECK_STR(c.secret_key, "ECSAK-secret-value");
  CHECK_STR(c.session_token, "ECSAK-session-token");
  CHECK_STR(c.source, "the container endpoint");
  CHECK(c.expires_at > (int64_t)time(NULL) + 3000);
  // The token may come from a file (EKS pod identity does this).
  unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  write_file("ecs-token", "ecs-secret-token\n");
  char *tf = lf_path_join(home, "ecs-token");
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
  lf_free(tf);
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK(strncmp(c.access_key, "ECSAK", 5) == 0);
  // A wrong token is refused by the endpoint; the token is not in the message.
  unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "answered HTTP 403");
  CHECK(strstr(err.msg, "wrong-token") == NULL);
  lf_err_clear(&err);
  // Plain http is allowed to loopback and container hosts only.
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "must use https or a loopback or container host");
}

static int served(int port)
{
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/count", port);
  lf_aws_http_resp r;
  lf_err err = {0};
  int n = -1;
  if (lf_aws_http_fetch("GET", url, NULL, 2000, 100, &r, &err) == LF_OK) {
    n = atoi(r.body);
  }
  lf_free(r.body);
  return n;
}

static void test_imds(int port, int short_port)
{
  reset_env();
  unsetenv("AWS_EC2_METADATA_DISABLED");
  char ep[128];
  snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", port);
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
  lf_aws_config cfg;
  lf_err err = {0};
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  lf_aws_creds_provider *p = lf_aws_creds_provider_new(&cfg);
  lf_aws_creds c1, c2;
  int before = served(port);
  CHECK_EQ_INT(lf_aws_creds_get(p, &c1, &err), LF_OK);
  CHECK(strncmp(c1.access_key, "IMDSAK", 6) == 0);
  CHECK_STR(c1.session_token, "IMDSAK-session-token");
  CHECK_STR(c1.source, "instance metadata");
  // Valid for an hour: the second call is served from the cache.
  CHECK_EQ_INT(lf_aws_creds_get(p, &c2, &err), LF_OK);
  CHECK_STR(c2.access_key, c1.access_key);
  CHECK_EQ_INT(served(port), before + 1);
  lf_aws_creds_provider_free(p);
  lf_aws_config_destroy(&cfg);

  // Credentials that expire within five minutes are fetched again on every call.
  snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", short_port);
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  p = lf_aws_creds_provider_new(&cfg);
  CHECK_EQ_INT(lf_aws_creds_get(p, &c1, &err), LF_OK);
  CHECK_EQ_INT(lf_aws_creds_get(p, &c2, &err), LF_OK);
  CHECK(strcmp(c1.access_key, c2.access_key) != 0);
  lf_aws_creds_provider_free(p);
  lf_aws_config_destroy(&cfg);

  // Nothing listening: the chain ends with a message that says so.
  snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", th_free_port());
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
  CHECK_EQ_INT(get(&c1, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "instance metadata at 'http://127.0.0.1:");
  CHECK_CONTAINS(err.msg, "cannot reach");
  lf_aws_creds_wipe(&c1);
  lf_aws_creds_wipe(&c2);
}

static void test_parse(void)
{
  lf_aws_creds c;
  lf_err err = {0};
  const char *ok = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
                   "\"Expiration\":\"2030-01-02T03:04:05Z\"}";
  CHECK_EQ_INT(lf_aws_creds_parse_json(ok, strlen(ok), "x", &c, &err), LF_OK);
  CHECK_EQ_INT(c.expires_at, 1893553445);
  const char *missing = "{\"AccessKeyId\":\"A\"}";
  CHECK_EQ_INT(lf_aws_creds_parse_json(missing, strlen(missing), "x", &c, &err), LF_ERR_IO);
  CHECK_STR(err.msg, "the credentials from x lack SecretAccessKey");
  lf_err_clear(&err);
  const char *failed = "{\"Code\":\"Failure\"}";
  CHECK_EQ_INT(lf_aws_creds_parse_json(failed, strlen(failed), "x", &c, &err), LF_ERR_IO);
  CHECK_STR(err.msg, "x answered with code 'Failure'");
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_aws_creds_parse_json("{", 1, "x", &c, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "not valid JSON");
  int64_t t;
  CHECK(lf_aws_parse_iso8601("2015-08-30T12:36:00.123Z", &t) && t == 1440938160);
  CHECK(lf_aws_parse_iso8601("2015-08-30T12:36:00+00:00", &t) && t == 1440938160);
  CHECK(!lf_aws_parse_iso8601("2015-08-30 12:36:00", &t));
  CHECK(!lf_aws_parse_iso8601("2015-13-30T12:36:00Z", &t));
}

static void test_split_command(void)
{
  char **a = lf_aws_split_command("  prog 'b c' \"d \\\"e\\\" \\$x\" f\\ g ''  ");
  CHECK(a != NULL);
  if (a != NULL) {
    CHECK_STR(a[0], "prog");
    CHECK_STR(a[1], "b c");
    CHECK_STR(a[2], "d \"e\" $x");
    CHECK_STR(a[3], "f g");
    CHECK_STR(a[4], "");
    CHECK(a[5] == NULL);
  }
  lf_aws_argv_free(a);
  CHECK(lf_aws_split_command("   ") == NULL);
  CHECK(lf_aws_split_command("prog 'open") == NULL);
  CHECK(lf_aws_split_command("prog \"open") == NULL);
}

// Writes an executable script under home and returns its path (free with lf_free).
static char *write_script(const char *name, const char *body)
{
  write_file(name, body);
  char *path = lf_path_join(home, name);
  CHECK_EQ_INT(chmod(path, 0755), 0);
  return path;
}

static void test_process(void)
{
  reset_env();
  // A path with a space, quoted; an argument with a space; the token and expiry come back.
  char *tool = write_script("bin dir/creds tool.sh",
                            "#!/bin/sh\n"
                            "printf '{\"Version\": 1, \"AccessKeyId\": \"AK-%s\", "
                            "\"SecretAccessKey\": \"proc-secret\", \"SessionToken\": \"proc-tok\", "
                            "\"Expiration\": \"2099-01-02T03:04:05Z\"}' \"$2\"\n");
  char *fails = write_script("bin dir/fails.sh", "#!/bin/sh\necho 'no MFA' >&2\nexit 3\n");
  char *v2 = write_script("bin dir/v2.sh", "#!/bin/sh\necho '{\"Version\": 2, "
                                           "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"v2-secret\"}'\n");
  char *config = lf_xasprintf("[profile proc]\ncredential_process = '%s' --role 'a b'\n"
                              "[profile both]\ncredential_process = '%s' --role x\n"
                              "aws_access_key_id = CFGAK\naws_secret_access_key = cfg-secret\n"
                              "[profile fails]\ncredential_process = '%s' --token s3cr3t\n"
                              "[profile v2]\ncredential_process = '%s'\n"
                              "[profile missing]\ncredential_process = /no/such/tool --x\n"
                              "[profile unclosed]\ncredential_process = tool 'open\n"
                              "[profile filewins]\ncredential_process = '%s' --role y\n",
                              tool, tool, fails, v2, tool);
  write_file(".aws/config", config);
  write_file(".aws/credentials", "[filewins]\naws_access_key_id = FILEAK\n"
                                 "aws_secret_access_key = file-secret\n");
  lf_aws_creds c;
  lf_err err = {0};
  setenv("AWS_PROFILE", "proc", 1);
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK_STR(c.access_key, "AK-a b");
  CHECK_STR(c.secret_key, "proc-secret");
  CHECK_STR(c.session_token, "proc-tok");
  CHECK_EQ_INT(c.expires_at, 4071006245);
  CHECK_STR(c.source, "the credential_process of profile 'proc'");
  // The process comes before the config file's keys, after the credentials file's.
  setenv("AWS_PROFILE", "both", 1);
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK_STR(c.access_key, "AK-x");
  setenv("AWS_PROFILE", "filewins", 1);
  CHECK_EQ_INT(get(&c, &err), LF_OK);
  CHECK_STR(c.access_key, "FILEAK");
  // Failures name the profile and the program, never the arguments or a secret.
  setenv("AWS_PROFILE", "fails", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_IO);
  char *want = lf_xasprintf("the credential_process of profile 'fails' ('%s') exited with "
                            "status 3", fails);
  CHECK_STR(err.msg, want);
  CHECK(strstr(err.msg, "s3cr3t") == NULL);
  lf_free(want);
  lf_err_clear(&err);
  setenv("AWS_PROFILE", "v2", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_IO);
  CHECK_STR(err.msg, "the credentials from the credential_process of profile 'v2' are not of "
                     "Version 1");
  lf_err_clear(&err);
  setenv("AWS_PROFILE", "missing", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_USAGE);
  CHECK_STR(err.msg, "cannot run the credential_process of profile 'missing' ('/no/such/tool': "
                     "No such file or directory)");
  lf_err_clear(&err);
  setenv("AWS_PROFILE", "unclosed", 1);
  CHECK_EQ_INT(get(&c, &err), LF_ERR_USAGE);
  CHECK_STR(err.msg, "the credential_process of profile 'unclosed' is empty or has an unclosed "
                     "quote");
  lf_aws_creds_wipe(&c);
  lf_free(config);
  lf_free(tool);
  lf_free(fails);
  lf_free(v2);
}

int main(void)
{
  home = th_tmpdir("aws_creds");
  int port = 0, short_port = 0;
  pid_t stub = th_start_helper(home, "creds_stub.py", NULL, &port);
  const char *short_args[] = {"60", NULL};
  pid_t short_stub = th_start_helper(home, "creds_stub.py", short_args, &short_port);
  CHECK(stub > 0 && short_stub > 0);
  test_parse();
  test_split_command();
  test_environment();
  test_profiles();
  test_process();
  if (stub > 0 && short_stub > 0) {
    test_container(port);
    test_imds(port, short_port);
  }
  th_kill(stub);
  th_kill(short_stub);
  return TEST_REPORT();
}
