// SPDX-License-Identifier: MIT
// This file contains `luaflow s3 ls|get|put|rm|presign`: argument parsing and output in the
// manner of `aws s3`, over the lf_ctx_s3_* functions of luaflow.h (which hold the semantics
// and report failures with the object's name).
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char s3_usage[] =
  "usage: luaflow s3 COMMAND ARGS [options]\n"
  "\n"
  "Commands:\n"
  "  ls S3URL [--recursive]             the objects and prefixes one level below S3URL\n"
  "                                     (prefixes as 'PRE name/'), or every key below it\n"
  "  get S3URL [LOCAL|-] [--recursive]  download to LOCAL (default: the key's last part in\n"
  "                                     the current directory; into LOCAL/ if a directory),\n"
  "                                     or to stdout with -; with --recursive every object\n"
  "                                     below S3URL into the directory LOCAL (default .)\n"
  "  put LOCAL|- S3URL [--recursive]    upload a file (to S3URL/NAME if S3URL ends in /), or\n"
  "                                     stdin with -; with --recursive every file below the\n"
  "                                     directory LOCAL, keeping its path below S3URL\n"
  "  rm S3URL [--recursive]             remove an object, or every object below S3URL\n"
  "  presign S3URL [--expires SECONDS] [--method GET|PUT|HEAD|DELETE]\n"
  "                                     print a presigned URL (default: GET, 3600 seconds;\n"
  "                                     at most 604800, 7 days)\n"
  "\n"
  "S3URL is s3://bucket/key. With --recursive (-r) a prefix is a directory: s3://b/data\n"
  "means the keys below s3://b/data/. Large objects move in parallel parts, streamed to and\n"
  "from files. Credentials, region and endpoint come from the environment and ~/.aws as for\n"
  "the AWS CLI (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL,\n"
  "AWS_PROFILE; see docs/s3.md).\n"
  "\n"
  "Output: ls prints 'DATE TIME SIZE NAME' per object (local time; NAME below the listed\n"
  "prefix, the whole key with --recursive); get, put and rm print a line per object\n"
  "('download: s3://b/k to ./k'); presign prints the URL.\n"
  "\n"
  "Exit status: 0 success; 1 a failure (a missing object or bucket, nothing matching a\n"
  "listed prefix, a transfer or file error); 2 bad usage (a bad URL, a missing argument,\n"
  "an unknown option).\n";

typedef struct s3_args {
  const char *cmd;
  const char *pos[2];
  int npos;
  bool recursive;
  const char *method;
  const char *expires;
  size_t strip; // ls: bytes of each key not shown (the listed prefix up to its last '/')
  int listed;
} s3_args;

static int print_ls(void *ud, const lf_object_info *o)
{
  s3_args *a = ud;
  const char *name = strlen(o->key) >= a->strip ? o->key + a->strip : o->key;
  a->listed++;
  if (o->is_prefix) {
    printf("%30s %s\n", "PRE", name);
    return 0;
  }
  char when[32] = "";
  time_t t = (time_t)o->last_modified;
  struct tm tm;
  if (localtime_r(&t, &tm) != NULL) {
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
  }
  printf("%19s %10" PRIu64 " %s\n", when, o->size, name);
  return 0;
}

static int print_get(void *ud, const lf_object_info *o)
{
  (void)ud;
  printf("download: %s to %s\n", o->url, o->path);
  return 0;
}

static int print_put(void *ud, const lf_object_info *o)
{
  (void)ud;
  printf("upload: %s to %s\n", o->path, o->url);
  return 0;
}

static int print_rm(void *ud, const lf_object_info *o)
{
  (void)ud;
  printf("delete: %s\n", o->url);
  return 0;
}

// Parses the arguments after `s3 COMMAND`; on bad usage prints why and returns false.
static bool parse_args(int argc, char **argv, s3_args *a, bool *help)
{
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i];
    const char **slot = NULL;
    const char *name = NULL;
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
      *help = true;
    } else if (strcmp(s, "--recursive") == 0 || strcmp(s, "-r") == 0) {
      a->recursive = true;
    } else if (strncmp(s, "--expires", 9) == 0 && (s[9] == '\0' || s[9] == '=')) {
      slot = &a->expires;
      name = "--expires";
    } else if (strncmp(s, "--method", 8) == 0 && (s[8] == '\0' || s[8] == '=')) {
      slot = &a->method;
      name = "--method";
    } else if (s[0] == '-' && s[1] != '\0') {
      cli_error("unknown option '%s' for 's3 %s'; see 'luaflow s3 --help'", s, a->cmd);
      return false;
    } else if (a->npos == 2) {
      cli_error("unexpected argument '%s' for 's3 %s'; see 'luaflow s3 --help'", s, a->cmd);
      return false;
    } else {
      a->pos[a->npos++] = s;
    }
    if (slot != NULL) {
      const char *eq = strchr(s, '=');
      if (eq == NULL && i + 1 >= argc) {
        cli_error("option %s needs a value", name);
        return false;
      }
      *slot = eq != NULL ? eq + 1 : argv[++i];
    }
  }
  return true;
}

// Checks the arguments against what the command takes.
static bool check_args(const s3_args *a)
{
  static const struct {
    const char *cmd;
    int min, max;
    bool recursive;
    const char *shape;
  } cmds[] = {
    {"ls",      1, 1, true,  "ls S3URL [--recursive]"                                    },
    {"get",     1, 2, true,  "get S3URL [LOCAL|-] [--recursive]"                         },
    {"put",     2, 2, true,  "put LOCAL|- S3URL [--recursive]"                           },
    {"rm",      1, 1, true,  "rm S3URL [--recursive]"                                    },
    {"presign", 1, 1, false, "presign S3URL [--expires SECONDS] [--method GET|PUT|...]"},
  };
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    if (strcmp(a->cmd, cmds[i].cmd) != 0) {
      continue;
    }
    bool presign = strcmp(a->cmd, "presign") == 0;
    const char *bad = NULL;
    if (a->recursive && !cmds[i].recursive) {
      bad = "--recursive";
    } else if (!presign && a->expires != NULL) {
      bad = "--expires";
    } else if (!presign && a->method != NULL) {
      bad = "--method";
    }
    if (bad != NULL) {
      cli_error("option %s is not for 's3 %s'; usage: luaflow s3 %s", bad, a->cmd,
                cmds[i].shape);
      return false;
    }
    if (a->npos < cmds[i].min || a->npos > cmds[i].max) {
      cli_error("'s3 %s' needs %s; usage: luaflow s3 %s", a->cmd,
                a->npos < cmds[i].min ? "more arguments" : "fewer arguments", cmds[i].shape);
      return false;
    }
    return true;
  }
  cli_error("unknown s3 command '%s'; see 'luaflow s3 --help'", a->cmd);
  return false;
}

// The key part of "s3://bucket/key" up to its last '/': what ls leaves out of names.
static size_t listed_dir_len(const char *url)
{
  const char *key = strncmp(url, "s3://", 5) == 0 ? strchr(url + 5, '/') : NULL;
  if (key == NULL) {
    return 0;
  }
  const char *slash = strrchr(key + 1, '/');
  return slash != NULL ? (size_t)(slash + 1 - (key + 1)) : 0;
}

static lf_status run_s3(lf_ctx *ctx, s3_args *a)
{
  const char *cmd = a->cmd;
  bool r = a->recursive;
  if (strcmp(cmd, "ls") == 0) {
    a->strip = r ? 0 : listed_dir_len(a->pos[0]);
    lf_status st = lf_ctx_s3_list(ctx, a->pos[0], r, print_ls, a);
    // As `aws s3 ls`: a prefix that matches nothing fails (an empty bucket does not). The
    // URL is valid once the listing succeeded.
    const char *key = st == LF_OK ? strchr(a->pos[0] + 5, '/') : NULL;
    if (a->listed == 0 && key != NULL && key[1] != '\0') {
      cli_error("nothing matches '%s'", a->pos[0]);
      return LF_ERR_NOTFOUND;
    }
    return st;
  }
  if (strcmp(cmd, "get") == 0) {
    if (a->npos == 2 && strcmp(a->pos[1], "-") == 0) {
      if (r) {
        cli_error("'s3 get --recursive' cannot write to stdout; give a directory");
        return LF_ERR_USAGE;
      }
      return lf_ctx_s3_read(ctx, a->pos[0], STDOUT_FILENO);
    }
    return lf_ctx_s3_get(ctx, a->pos[0], a->npos == 2 ? a->pos[1] : NULL, r, print_get, a);
  }
  if (strcmp(cmd, "put") == 0) {
    if (strcmp(a->pos[0], "-") == 0) {
      if (r) {
        cli_error("'s3 put --recursive' cannot read stdin; give a directory");
        return LF_ERR_USAGE;
      }
      return lf_ctx_s3_write(ctx, STDIN_FILENO, a->pos[1]);
    }
    return lf_ctx_s3_put(ctx, a->pos[0], a->pos[1], r, print_put, a);
  }
  if (strcmp(cmd, "rm") == 0) {
    return lf_ctx_s3_rm(ctx, a->pos[0], r, print_rm, a);
  }
  int64_t expires = 3600;
  if (a->expires != NULL) {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(a->expires, &end, 10);
    if (errno != 0 || end == a->expires || *end != '\0') {
      cli_error("--expires needs a number of seconds, not '%s'", a->expires);
      return LF_ERR_USAGE;
    }
    expires = (int64_t)n;
  }
  char *url = NULL;
  lf_status st = lf_ctx_s3_presign(ctx, a->pos[0], a->method, expires, &url);
  if (st == LF_OK) {
    printf("%s\n", url);
    lf_string_free(url);
  }
  return st;
}

int cmd_s3(int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(s3_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  s3_args a = {.cmd = argv[1]};
  bool help = false;
  bool ok = parse_args(argc, argv, &a, &help);
  if (help) {
    fputs(s3_usage, stdout);
    return CLI_OK;
  }
  if (!ok || !check_args(&a)) {
    return CLI_USAGE;
  }
  cli_common c = {0};
  lf_ctx *ctx = cli_ctx(&c);
  lf_status st = run_s3(ctx, &a);
  fflush(stdout);
  const char *msg = lf_ctx_errmsg(ctx);
  if (st != LF_OK && msg[0] != '\0') {
    cli_error("%s", msg);
  }
  lf_ctx_free(ctx);
  return cli_exit_code(st);
}
