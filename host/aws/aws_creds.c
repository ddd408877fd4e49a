// SPDX-License-Identifier: MIT
// This file contains the credential provider chain (environment, profile files and
// credential_process, container endpoint, instance metadata) and the cache that refreshes
// temporary credentials.
#define _GNU_SOURCE // pipe2
#include "aws/aws_creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws_http.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"

#define REFRESH_MARGIN_S 300
#define ENDPOINT_TIMEOUT_MS 2000
#define IMDS_PROBE_TIMEOUT_MS 1000 // off EC2 the first request decides quickly
#define DOC_MAX ((size_t)64 << 10)
#define ECS_HOST "http://169.254.170.2"
#define IMDS_HOST "http://169.254.169.254"

struct lf_aws_creds_provider {
  const lf_aws_config *cfg;
  pthread_mutex_t lock;
  bool have;
  lf_aws_creds cached;
};

// Each source: LF_OK with *found set when it had credentials, LF_OK with *found false when it
// is not configured (a note for the "tried" list goes to `tried`), or an error.
static lf_status from_env(lf_aws_creds *out, bool *found, lf_err *err);
static lf_status from_profile(const lf_aws_config *cfg, lf_aws_creds *out, bool *found,
                              lf_dynbuf *tried, lf_err *err);
static lf_status from_container(lf_aws_creds *out, bool *found, lf_err *err);
static lf_status from_imds(lf_aws_creds *out, bool *found, lf_dynbuf *tried, lf_err *err);
static bool copy_field(char *dst, size_t size, const char *src);
static char *env_str(const char *name);

lf_aws_creds_provider *lf_aws_creds_provider_new(const lf_aws_config *cfg)
{
  lf_aws_creds_provider *p = lf_xcalloc(1, sizeof(*p));
  p->cfg = cfg;
  pthread_mutex_init(&p->lock, NULL);
  return p;
}

void lf_aws_creds_provider_free(lf_aws_creds_provider *p)
{
  if (p == NULL) {
    return;
  }
  lf_aws_creds_wipe(&p->cached);
  pthread_mutex_destroy(&p->lock);
  lf_free(p);
}

lf_status lf_aws_creds_get(lf_aws_creds_provider *p, lf_aws_creds *out, lf_err *err)
{
  pthread_mutex_lock(&p->lock);
  int64_t now = (int64_t)time(NULL);
  if (p->have && (p->cached.expires_at == 0 || p->cached.expires_at - REFRESH_MARGIN_S > now)) {
    *out = p->cached;
    pthread_mutex_unlock(&p->lock);
    return LF_OK;
  }
  lf_aws_creds c;
  memset(&c, 0, sizeof(c));
  lf_dynbuf tried;
  lf_dynbuf_init(&tried, 4096);
  bool found = false;
  lf_status st = from_env(&c, &found, err);
  if (st == LF_OK && !found) {
    lf_dynbuf_adds(&tried, "environment variables");
    st = from_profile(p->cfg, &c, &found, &tried, err);
  }
  if (st == LF_OK && !found) {
    st = from_container(&c, &found, err);
  }
  if (st == LF_OK && !found) {
    lf_dynbuf_adds(&tried, ", container endpoint (not configured)");
    st = from_imds(&c, &found, &tried, err);
  }
  if (st == LF_OK && !found) {
    st = LF_ERR(err, LF_ERR_USAGE, "no AWS credentials found (tried %s)", tried.data);
  }
  lf_dynbuf_free(&tried);
  if (st == LF_OK) {
    if (p->have && p->cached.expires_at != 0) {
      LF_LOGI("refreshed AWS credentials from %s", c.source);
    }
    p->cached = c;
    p->have = true;
    *out = c;
  }
  lf_aws_creds_wipe(&c);
  pthread_mutex_unlock(&p->lock);
  return st;
}

lf_status lf_aws_creds_parse_json(const char *json, size_t len, const char *source,
                                  lf_aws_creds *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  lf_err jerr = {0};
  lf_json *doc = lf_json_parse(json, len, &jerr);
  if (doc == NULL) {
    // The parser's message quotes no content, only positions.
    return LF_ERR(err, LF_ERR_IO, "the credentials from %s are not valid JSON (%s)", source,
                  jerr.msg);
  }
  lf_status st = LF_OK;
  const char *code = lf_json_get_str(doc, "Code");
  const char *ak = lf_json_get_str(doc, "AccessKeyId");
  const char *sk = lf_json_get_str(doc, "SecretAccessKey");
  const char *tok = lf_json_get_str(doc, "Token");
  if (tok == NULL) {
    tok = lf_json_get_str(doc, "SessionToken"); // credential_process
  }
  const char *exp = lf_json_get_str(doc, "Expiration");
  const lf_json *version = lf_json_get(doc, "Version");
  if (version != NULL && lf_json_get_int(doc, "Version", 0) != 1) {
    st = LF_ERR(err, LF_ERR_IO, "the credentials from %s are not of Version 1", source);
  } else if (code != NULL && strcmp(code, "Success") != 0) {
    st = LF_ERR(err, LF_ERR_IO, "%s answered with code '%.64s'", source, code);
  } else if (ak == NULL || sk == NULL) {
    st = LF_ERR(err, LF_ERR_IO, "the credentials from %s lack %s", source,
                ak == NULL ? "AccessKeyId" : "SecretAccessKey");
  } else if (!copy_field(out->access_key, sizeof(out->access_key), ak) ||
             !copy_field(out->secret_key, sizeof(out->secret_key), sk) ||
             (tok != NULL && !copy_field(out->session_token, sizeof(out->session_token), tok))) {
    st = LF_ERR(err, LF_ERR_IO, "the credentials from %s are too long", source);
  } else if (exp != NULL && !lf_aws_parse_iso8601(exp, &out->expires_at)) {
    st = LF_ERR(err, LF_ERR_IO, "the credentials from %s have a malformed Expiration", source);
  }
  if (st == LF_OK) {
    snprintf(out->source, sizeof(out->source), "%s", source);
  } else {
    lf_aws_creds_wipe(out);
  }
  // The DOM holds the secret too.
  if (sk != NULL) {
    memset((char *)sk, 0, strlen(sk));
  }
  if (tok != NULL) {
    memset((char *)tok, 0, strlen(tok));
  }
  lf_json_free(doc);
  return st;
}

bool lf_aws_parse_iso8601(const char *s, int64_t *out)
{
  int y, mo, d, h, mi, sec;
  int used = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
      used != 19) {
    return false;
  }
  const char *rest = s + used;
  if (*rest == '.') {
    rest++;
    while (isdigit((unsigned char)*rest)) {
      rest++;
    }
  }
  if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return false;
  }
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  *out = (int64_t)timegm(&tm);
  return true;
}

static bool copy_field(char *dst, size_t size, const char *src)
{
  size_t n = strlen(src);
  if (n >= size) {
    return false;
  }
  memcpy(dst, src, n + 1);
  return true;
}

static char *env_str(const char *name)
{
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0' ? lf_xstrdup(v) : NULL;
}

static lf_status from_env(lf_aws_creds *out, bool *found, lf_err *err)
{
  const char *ak = getenv("AWS_ACCESS_KEY_ID");
  const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
  const char *tok = getenv("AWS_SESSION_TOKEN");
  bool have_ak = ak != NULL && ak[0] != '\0';
  bool have_sk = sk != NULL && sk[0] != '\0';
  *found = false;
  if (!have_ak && !have_sk) {
    return LF_OK;
  }
  if (have_ak != have_sk) {
    return LF_ERR(err, LF_ERR_USAGE, "%s is set but %s is not",
                  have_ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                  have_ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
  }
  if (!copy_field(out->access_key, sizeof(out->access_key), ak) ||
      !copy_field(out->secret_key, sizeof(out->secret_key), sk) ||
      (tok != NULL && !copy_field(out->session_token, sizeof(out->session_token), tok))) {
    lf_aws_creds_wipe(out);
    return LF_ERR(err, LF_ERR_USAGE, "the AWS credentials in the environment are too long");
  }
  snprintf(out->source, sizeof(out->source), "environment");
  *found = true;
  return LF_OK;
}

static lf_status profile_pair(const lf_aws_ini *ini, const char *profile, const char *path,
                              lf_aws_creds *out, bool *found, lf_err *err)
{
  const char *ak = lf_aws_ini_get(ini, profile, "aws_access_key_id");
  const char *sk = lf_aws_ini_get(ini, profile, "aws_secret_access_key");
  const char *tok = lf_aws_ini_get(ini, profile, "aws_session_token");
  *found = false;
  if (ak == NULL && sk == NULL) {
    return LF_OK;
  }
  if (ak == NULL || sk == NULL || ak[0] == '\0' || sk[0] == '\0') {
    return LF_ERR(err, LF_ERR_USAGE, "profile '%s' in '%s' has %s but not %s", profile, path,
                  ak != NULL ? "aws_access_key_id" : "aws_secret_access_key",
                  ak != NULL ? "aws_secret_access_key" : "aws_access_key_id");
  }
  if (!copy_field(out->access_key, sizeof(out->access_key), ak) ||
      !copy_field(out->secret_key, sizeof(out->secret_key), sk) ||
      (tok != NULL && !copy_field(out->session_token, sizeof(out->session_token), tok))) {
    lf_aws_creds_wipe(out);
    return LF_ERR(err, LF_ERR_USAGE, "the credentials of profile '%s' in '%s' are too long",
                  profile, path);
  }
  snprintf(out->source, sizeof(out->source), "profile '%.40s'", profile);
  *found = true;
  return LF_OK;
}

void lf_aws_argv_free(char **argv)
{
  for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
    lf_free(argv[i]);
  }
  lf_free(argv);
}

char **lf_aws_split_command(const char *line)
{
  size_t cap = 8, n = 0;
  char **argv = lf_xcalloc(cap, sizeof(char *));
  lf_dynbuf word;
  lf_dynbuf_init(&word, (size_t)1 << 16);
  const char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n') {
      p++;
    }
    if (*p == '\0') {
      break;
    }
    lf_dynbuf_reset(&word);
    while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
      if (*p == '\'') {
        const char *end = strchr(p + 1, '\'');
        if (end == NULL) {
          goto bad;
        }
        lf_dynbuf_add(&word, p + 1, (size_t)(end - p - 1));
        p = end + 1;
      } else if (*p == '"') {
        for (p++; *p != '"'; p++) {
          if (*p == '\0') {
            goto bad;
          }
          if (*p == '\\' && strchr("\"\\$`", p[1]) != NULL && p[1] != '\0') {
            p++;
          }
          lf_dynbuf_addc(&word, *p);
        }
        p++;
      } else if (*p == '\\' && p[1] != '\0') {
        lf_dynbuf_addc(&word, p[1]);
        p += 2;
      } else {
        lf_dynbuf_addc(&word, *p++);
      }
    }
    if (n + 2 > cap) {
      cap *= 2;
      argv = lf_xrealloc(argv, cap * sizeof(char *));
    }
    argv[n++] = lf_xmemdupz(word.data != NULL ? word.data : "", word.len);
    argv[n] = NULL;
  }
  lf_dynbuf_free(&word);
  if (n == 0) {
    lf_free(argv);
    return NULL;
  }
  return argv;
bad:
  lf_dynbuf_free(&word);
  lf_aws_argv_free(argv);
  return NULL;
}

// Runs the profile's credential_process: its stdout is the JSON document; stdin and stderr
// are the caller's (a tool may ask for an MFA code). Messages name the program, not its
// arguments (which may carry secrets).
static lf_status from_process(const lf_aws_config *cfg, lf_aws_creds *out, bool *found,
                              lf_err *err)
{
  const char *line = lf_aws_config_get(cfg, "credential_process");
  *found = false;
  if (line == NULL) {
    return LF_OK;
  }
  char source[128];
  snprintf(source, sizeof(source), "the credential_process of profile '%.40s'", cfg->profile);
  char **argv = lf_aws_split_command(line);
  if (argv == NULL) {
    return LF_ERR(err, LF_ERR_USAGE, "%s is empty or has an unclosed quote", source);
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    lf_aws_argv_free(argv);
    return LF_ERR(err, LF_ERR_IO, "cannot run %s (%s)", source, strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  pid_t pid;
  extern char **environ;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  lf_status st = LF_OK;
  if (rc != 0) {
    st = LF_ERR(err, LF_ERR_USAGE, "cannot run %s ('%.200s': %s)", source, argv[0],
                strerror(rc));
    close(fds[0]);
    lf_aws_argv_free(argv);
    return st;
  }
  lf_dynbuf doc;
  lf_dynbuf_init(&doc, DOC_MAX);
  char buf[4096];
  for (;;) {
    ssize_t r = read(fds[0], buf, sizeof(buf));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      break;
    }
    if (doc.len + (size_t)r > DOC_MAX) {
      st = LF_ERR(err, LF_ERR_IO, "%s printed more than %zu bytes", source, DOC_MAX);
      break;
    }
    lf_dynbuf_add(&doc, buf, (size_t)r);
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (st == LF_OK && WIFSIGNALED(status)) {
    st = LF_ERR(err, LF_ERR_IO, "%s ('%.200s') was killed by signal %d", source, argv[0],
                WTERMSIG(status));
  } else if (st == LF_OK && WEXITSTATUS(status) != 0) {
    st = LF_ERR(err, LF_ERR_IO, "%s ('%.200s') exited with status %d", source, argv[0],
                WEXITSTATUS(status));
  } else if (st == LF_OK) {
    st = lf_aws_creds_parse_json(doc.data != NULL ? doc.data : "", doc.len, source, out, err);
    *found = st == LF_OK;
  }
  if (doc.data != NULL) {
    memset(doc.data, 0, doc.len); // the secret
  }
  lf_dynbuf_free(&doc);
  lf_aws_argv_free(argv);
  return st;
}

static lf_status from_profile(const lf_aws_config *cfg, lf_aws_creds *out, bool *found,
                              lf_dynbuf *tried, lf_err *err)
{
  lf_status st = profile_pair(cfg->credentials, cfg->profile, cfg->credentials_path, out, found,
                              err);
  if (st == LF_OK && !*found) {
    st = from_process(cfg, out, found, err);
  }
  if (st == LF_OK && !*found) {
    st = profile_pair(cfg->config, cfg->profile, cfg->config_path, out, found, err);
  }
  if (st == LF_OK && !*found) {
    lf_dynbuf_addf(tried, ", profile '%s' in '%s' and '%s'", cfg->profile,
                   cfg->credentials_path, cfg->config_path);
  }
  return st;
}

// The container endpoint's token, from the variable or the file it names.
static lf_status container_token(char **token, lf_err *err)
{
  *token = env_str("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  char *file = env_str("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (*token == NULL && file != NULL) {
    size_t len = 0;
    lf_err ferr = {0};
    if (lf_fs_read_file(file, 16384, token, &len, &ferr) != LF_OK) {
      lf_status st = LF_ERR(err, LF_ERR_IO, "cannot read the container authorization token "
                                            "(%s)", ferr.msg);
      lf_free(file);
      return st;
    }
    while (len > 0 && isspace((unsigned char)(*token)[len - 1])) {
      (*token)[--len] = '\0';
    }
  }
  lf_free(file);
  if (*token != NULL && strpbrk(*token, "\r\n") != NULL) {
    lf_free(*token);
    *token = NULL;
    return LF_ERR(err, LF_ERR_USAGE, "the container authorization token contains a line break");
  }
  return LF_OK;
}

// The SDKs allow plain http for the full URI only to loopback and the ECS/EKS addresses.
static bool allowed_full_uri(const char *uri)
{
  if (strncmp(uri, "https://", 8) == 0) {
    return true;
  }
  const char *hosts[] = {"http://127.0.0.1", "http://localhost", "http://[::1]",
                         "http://169.254.170.2", "http://169.254.170.23", "http://[fd00:ec2::23]"};
  for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
    size_t n = strlen(hosts[i]);
    if (strncmp(uri, hosts[i], n) == 0 && (uri[n] == ':' || uri[n] == '/' || uri[n] == '\0')) {
      return true;
    }
  }
  return false;
}

static lf_status from_container(lf_aws_creds *out, bool *found, lf_err *err)
{
  *found = false;
  char *rel = env_str("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  char *full = env_str("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (rel == NULL && full == NULL) {
    return LF_OK;
  }
  char *url = rel != NULL ? lf_xasprintf("%s%s%s", ECS_HOST, rel[0] == '/' ? "" : "/", rel)
                          : lf_xstrdup(full);
  lf_free(rel);
  lf_free(full);
  if (!allowed_full_uri(url)) {
    lf_status st = LF_ERR(err, LF_ERR_USAGE,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https or a loopback or "
                          "container host, not '%s'",
                          url);
    lf_free(url);
    return st;
  }
  char *token = NULL;
  lf_status st = container_token(&token, err);
  if (st != LF_OK) {
    lf_free(url);
    return st;
  }
  char *auth = token != NULL ? lf_xasprintf("Authorization: %s", token) : NULL;
  const char *headers[] = {auth, NULL};
  lf_aws_http_resp r;
  st = lf_aws_http_fetch("GET", url, headers, ENDPOINT_TIMEOUT_MS, DOC_MAX, &r, err);
  if (st == LF_OK && r.status != 200) {
    st = LF_ERR(err, LF_ERR_IO, "the container credentials endpoint '%s' answered HTTP %ld", url,
                r.status);
  }
  if (st == LF_OK) {
    st = lf_aws_creds_parse_json(r.body, r.len, "the container endpoint", out, err);
    *found = st == LF_OK;
  }
  if (r.body != NULL) {
    memset(r.body, 0, r.len);
  }
  lf_free(r.body);
  if (auth != NULL) {
    memset(auth, 0, strlen(auth));
    memset(token, 0, strlen(token));
  }
  lf_free(auth);
  lf_free(token);
  lf_free(url);
  return st;
}

static lf_status from_imds(lf_aws_creds *out, bool *found, lf_dynbuf *tried, lf_err *err)
{
  *found = false;
  char *off = env_str("AWS_EC2_METADATA_DISABLED");
  bool disabled = off != NULL && strcasecmp(off, "true") == 0;
  lf_free(off);
  if (disabled) {
    lf_dynbuf_adds(tried, ", instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
    return LF_OK;
  }
  char *base = env_str("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (base == NULL) {
    base = lf_xstrdup(IMDS_HOST);
  }
  size_t bl = strlen(base);
  while (bl > 0 && base[bl - 1] == '/') {
    base[--bl] = '\0';
  }
  // IMDSv2: a session token from a PUT, then the role name, then the role's credentials.
  lf_aws_http_resp r = {0};
  char *url = lf_xasprintf("%s/latest/api/token", base);
  const char *ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
  lf_err ierr = {0};
  lf_status st = lf_aws_http_fetch("PUT", url, ttl, IMDS_PROBE_TIMEOUT_MS, 4096, &r, &ierr);
  char *tok_header = NULL;
  if (st != LF_OK || r.status != 200 || r.len == 0 || strpbrk(r.body, "\r\n") != NULL) {
    // No instance metadata here: not an error, the chain just ends.
    if (st == LF_OK) {
      snprintf(ierr.msg, sizeof(ierr.msg), "token request answered HTTP %ld", r.status);
    }
    lf_dynbuf_addf(tried, ", instance metadata at '%s' (%s)", base, ierr.msg);
    lf_free(r.body);
    lf_free(url);
    lf_free(base);
    return LF_OK;
  }
  tok_header = lf_xasprintf("X-aws-ec2-metadata-token: %s", r.body);
  memset(r.body, 0, r.len);
  lf_free(r.body);
  lf_free(url);
  const char *hdrs[] = {tok_header, NULL};
  url = lf_xasprintf("%s/latest/meta-data/iam/security-credentials/", base);
  st = lf_aws_http_fetch("GET", url, hdrs, ENDPOINT_TIMEOUT_MS, 4096, &r, err);
  char *role = NULL;
  if (st == LF_OK && r.status == 404) {
    lf_dynbuf_addf(tried, ", instance metadata at '%s' (no IAM role attached)", base);
  } else if (st == LF_OK && r.status != 200) {
    st = LF_ERR(err, LF_ERR_IO, "instance metadata '%s' answered HTTP %ld", url, r.status);
  } else if (st == LF_OK) {
    size_t n = strcspn(r.body, "\r\n");
    role = lf_xmemdupz(r.body, n);
  }
  lf_free(r.body);
  lf_free(url);
  if (role != NULL && role[0] != '\0' && strchr(role, '/') == NULL) {
    url = lf_xasprintf("%s/latest/meta-data/iam/security-credentials/%s", base, role);
    st = lf_aws_http_fetch("GET", url, hdrs, ENDPOINT_TIMEOUT_MS, DOC_MAX, &r, err);
    if (st == LF_OK && r.status != 200) {
      st = LF_ERR(err, LF_ERR_IO, "instance metadata '%s' answered HTTP %ld", url, r.status);
    }
    if (st == LF_OK) {
      st = lf_aws_creds_parse_json(r.body, r.len, "instance metadata", out, err);
      *found = st == LF_OK;
    }
    if (r.body != NULL) {
      memset(r.body, 0, r.len);
    }
    lf_free(r.body);
    lf_free(url);
  } else if (role != NULL) {
    st = LF_ERR(err, LF_ERR_IO, "instance metadata at '%s' named an invalid IAM role", base);
  }
  memset(tok_header, 0, strlen(tok_header));
  lf_free(tok_header);
  lf_free(role);
  lf_free(base);
  return st;
}
