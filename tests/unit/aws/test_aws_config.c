// SPDX-License-Identifier: MIT
// Tests of host/aws/aws_config.c: the INI reader and the resolution of profile, region,
// endpoint and addressing style from the environment and the shared files.
#include <stdlib.h>
#include <string.h>

#include "aws/aws_config.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "s3/s3_testutil.h"
#include "testhelp.h"

static const char *aws_vars[] = {
  "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE", NULL};

static void clear_env(void)
{
  for (size_t i = 0; aws_vars[i] != NULL; i++) {
    unsetenv(aws_vars[i]);
  }
}

static void write_file(const char *dir, const char *name, const char *text)
{
  char *path = lf_path_join(dir, name);
  lf_err err = {0};
  CHECK_EQ_INT(lf_fs_write_atomic(path, text, strlen(text), false, NULL, &err), LF_OK);
  lf_free(path);
}

static void test_ini(void)
{
  const char *text = "# comment\n"
                     "[default]\n"
                     "region = eu-west-1\n"
                     "; another comment\n"
                     "[profile dev]\n"
                     "region=us-west-2\n"
                     "s3 =\n"
                     "  addressing_style = path\n"
                     "  endpoint_url = http://127.0.0.1:9000\n"
                     "output = json\n"
                     "region = ap-south-1\n";
  lf_err err = {0};
  lf_aws_ini *ini = lf_aws_ini_parse(text, strlen(text), true, "config", &err);
  CHECK(ini != NULL);
  CHECK_STR(lf_aws_ini_get(ini, "default", "region"), "eu-west-1");
  CHECK_STR(lf_aws_ini_get(ini, "dev", "region"), "ap-south-1"); // the last one wins
  CHECK_STR(lf_aws_ini_get(ini, "dev", "s3.addressing_style"), "path");
  CHECK_STR(lf_aws_ini_get(ini, "dev", "s3.endpoint_url"), "http://127.0.0.1:9000");
  CHECK_STR(lf_aws_ini_get(ini, "dev", "output"), "json");
  CHECK(lf_aws_ini_get(ini, "dev", "addressing_style") == NULL);
  CHECK(lf_aws_ini_has(ini, "dev") && !lf_aws_ini_has(ini, "profile dev"));
  lf_aws_ini_free(ini);

  // The credentials file names sections as written.
  ini = lf_aws_ini_parse("[profile x]\na=1\n", 16, false, "creds", &err);
  CHECK(lf_aws_ini_has(ini, "profile x"));
  lf_aws_ini_free(ini);

  // Malformed lines are reported by line, without their (possibly secret) content.
  const char *bad = "[default]\naws_secret_access_key SECRETVALUE\n";
  CHECK(lf_aws_ini_parse(bad, strlen(bad), false, "~/.aws/credentials", &err) == NULL);
  CHECK_STR(err.msg, "'~/.aws/credentials' line 2: expected 'key = value'");
  CHECK(strstr(err.msg, "SECRET") == NULL);
  lf_err_clear(&err);
  CHECK(lf_aws_ini_parse("k = v\n", 6, false, "f", &err) == NULL);
  CHECK_CONTAINS(err.msg, "line 1: a setting before any [section]");
  lf_err_clear(&err);
  CHECK(lf_aws_ini_parse("[default\n", 9, false, "f", &err) == NULL);
  CHECK_CONTAINS(err.msg, "must end with ']'");
}

static void test_resolution(const char *home)
{
  clear_env();
  setenv("HOME", home, 1);
  lf_aws_config cfg;
  lf_err err = {0};
  // No files, no variables: the AWS defaults.
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK_STR(cfg.profile, "default");
  CHECK_STR(cfg.region, "us-east-1");
  CHECK_STR(cfg.region_source, "default");
  CHECK(cfg.endpoint_url == NULL && cfg.credentials == NULL && cfg.config == NULL);
  lf_aws_config_destroy(&cfg);

  write_file(home, ".aws/config",
             "[default]\nregion = eu-west-1\nendpoint_url = http://default.example/\n"
             "[profile dev]\nregion = us-west-2\ns3 =\n  endpoint_url = http://s3dev.example\n"
             "  addressing_style = virtual\nendpoint_url = http://dev.example\n");
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK_STR(cfg.region, "eu-west-1");
  CHECK_STR(cfg.region_source, "profile 'default'");
  CHECK_STR(cfg.endpoint_url, "http://default.example"); // trailing '/' dropped
  lf_aws_config_destroy(&cfg);

  setenv("AWS_PROFILE", "dev", 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK(cfg.profile_explicit);
  CHECK_STR(cfg.region, "us-west-2");
  CHECK_STR(cfg.endpoint_url, "http://s3dev.example"); // the service's own endpoint first
  CHECK_STR(cfg.addressing_style, "virtual");
  lf_aws_config_destroy(&cfg);

  // Variables beat the file: AWS_REGION over AWS_DEFAULT_REGION, _S3 over the general URL.
  setenv("AWS_DEFAULT_REGION", "ca-central-1", 1);
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK_STR(cfg.region, "ca-central-1");
  CHECK_STR(cfg.region_source, "AWS_DEFAULT_REGION");
  CHECK_STR(cfg.endpoint_url, "http://127.0.0.1:1");
  lf_aws_config_destroy(&cfg);
  setenv("AWS_REGION", "sa-east-1", 1);
  setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2", 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK_STR(cfg.region, "sa-east-1");
  CHECK_STR(cfg.endpoint_url, "http://127.0.0.1:2");
  lf_aws_config_destroy(&cfg);
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK(cfg.endpoint_url == NULL);
  lf_aws_config_destroy(&cfg);

  // A profile that neither file has is an error, as with the AWS CLI.
  setenv("AWS_PROFILE", "nope", 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "AWS profile 'nope' not found in '");
  lf_err_clear(&err);

  // AWS_CONFIG_FILE moves the file; a malformed one is reported.
  clear_env();
  char *other = lf_path_join(home, "other.ini");
  write_file(home, "other.ini", "[default]\nregion = me-south-1\n");
  setenv("AWS_CONFIG_FILE", other, 1);
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_OK);
  CHECK_STR(cfg.region, "me-south-1");
  lf_aws_config_destroy(&cfg);
  write_file(home, "other.ini", "[default]\nregion\n");
  CHECK_EQ_INT(lf_aws_config_load("s3", &cfg, &err), LF_ERR_USAGE);
  CHECK_CONTAINS(err.msg, "other.ini' line 2: expected 'key = value'");
  lf_free(other);
  clear_env();
}

int main(void)
{
  const char *dir = th_tmpdir("aws_config");
  test_ini();
  test_resolution(dir);
  return TEST_REPORT();
}
