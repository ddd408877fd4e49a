// SPDX-License-Identifier: MIT
// This file contains main(): subcommand dispatch, top-level help and the helpers shared by
// subcommands (common options, exit codes, error printing).
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
  "usage: luaflow COMMAND [ARGS...]\n"
  "\n"
  "Commands:\n"
  "  run FLOW.lua [--PARAM value ...] [options]   run a flow (see run --help)\n"
  "  resume FLOW.lua [STEP] [--origin-run-id ID]  continue a failed run (see resume --help)\n"
  "  show FLOW.lua                                print the flow's graph and step docs\n"
  "  check FLOW.lua                               validate a flow without running it\n"
  "  logs Flow/run/step[/task] [--stdout|--stderr] print the output of past tasks\n"
  "  dump Flow/run/step[/task]                    list the artifacts of past tasks\n"
  "  tag add|remove|list Flow/run [TAG...]        change or list a run's user tags\n"
  "  repl [FLOW.lua]                              a Lua prompt with the history of runs;\n"
  "                                               with a flow: run{...} and step(...)\n"
  "  s3 ls|get|put|rm|presign ARGS...             list, move and remove S3 objects; presigned\n"
  "                                               URLs (see s3 --help)\n"
  "  reindex                                      rebuild the metadata index\n"
  "  step FLOW.lua STEP ...                       run one task (what workers run)\n"
  "  version                                      print the version\n"
  "\n"
  "Common options: --datastore local|s3, --datastore-root DIR|s3://bucket/prefix\n"
  "(default: ./.luaflow, or LUAFLOW_DATASTORE_ROOT, or datastore_root in\n"
  "~/.luaflowconfig/config.json; for s3, LUAFLOW_DATASTORE_ROOT_S3 or datastore_root_s3).\n"
  "\n"
  "Exit status: 0 success, 1 a task failed, 2 bad usage or an invalid flow,\n"
  "130 interrupted.\n";

void cli_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("luaflow: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_exit_code(lf_status st)
{
  switch (st) {
  case LF_OK:
    return CLI_OK;
  case LF_ERR_USAGE:
  case LF_ERR_FLOW:
    return CLI_USAGE;
  case LF_ERR_INTERRUPTED:
    return CLI_INTERRUPTED;
  default:
    return CLI_FAILED;
  }
}

bool cli_common_option(cli_common *c, int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  const char *names[2] = {"--datastore", "--datastore-root"};
  const char **slots[2] = {&c->datastore, &c->datastore_root};
  for (int k = 0; k < 2; k++) {
    size_t n = strlen(names[k]);
    if (strncmp(a, names[k], n) == 0 && a[n] == '=') {
      *slots[k] = a + n + 1;
      return true;
    }
    if (strcmp(a, names[k]) == 0) {
      if (*i + 1 >= argc) {
        cli_error("option %s needs a value", names[k]);
        exit(CLI_USAGE);
      }
      *slots[k] = argv[++*i];
      return true;
    }
  }
  return false;
}

lf_ctx *cli_ctx(const cli_common *c)
{
  if (c->datastore != NULL && strcmp(c->datastore, "local") != 0 &&
      strcmp(c->datastore, "s3") != 0) {
    cli_error("--datastore must be 'local' or 's3', got '%s'", c->datastore);
    exit(CLI_USAGE);
  }
  // Workers run this same binary.
  static char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  lf_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.size = sizeof(cfg);
  cfg.datastore_root = c->datastore_root;
  cfg.datastore = c->datastore;
  if (n > 0) {
    self[n] = '\0';
    cfg.luaflow_bin = self;
  }
  cfg.log_level = LF_LOG_WARN;
  lf_ctx *ctx = lf_ctx_new(&cfg);
  if (ctx == NULL) {
    cli_error("out of memory");
    exit(CLI_FAILED);
  }
  return ctx;
}

int main(int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *cmd = argv[1];
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } cmds[] = {
    {"run",     cmd_run    },
    {"resume",  cmd_resume },
    {"step",    cmd_step   },
    {"show",    cmd_show   },
    {"check",   cmd_check  },
    {"logs",    cmd_logs   },
    {"dump",    cmd_dump   },
    {"reindex", cmd_reindex},
    {"tag",     cmd_tag    },
    {"s3",      cmd_s3     },
    {"repl",    cmd_repl   },
  };
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    if (strcmp(cmd, cmds[i].name) == 0) {
      return cmds[i].fn(argc - 1, argv + 1);
    }
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("luaflow %s\n", lf_version());
    return CLI_OK;
  }
  cli_error("unknown command '%s'; see 'luaflow --help'", cmd);
  return CLI_USAGE;
}
