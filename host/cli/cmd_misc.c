// SPDX-License-Identifier: MIT
// This file contains the subcommands other than `run`: step (the worker entry), show,
// check, logs, dump and reindex.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

// Parses "FLOW.lua" plus common options; returns the positional arguments in pos[].
static int positional(int argc, char **argv, cli_common *c, const char **pos, int max,
                      const char *usage, bool *help)
{
  int n = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_common_option(c, argc, argv, &i)) {
      continue;
    }
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      *help = true;
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1] == '-') {
      return -1;
    }
    if (n == max) {
      cli_error("unexpected argument '%s'; usage: %s", argv[i], usage);
      exit(CLI_USAGE);
    }
    pos[n++] = argv[i];
  }
  (void)usage;
  return n;
}

// The shape of `show` and `check`: one flow file argument, load it (which validates it),
// then act on the loaded flow.
static int flow_command(int argc, char **argv, const char *usage, const char *what,
                        void (*act)(lf_flow *flow, const char *path))
{
  cli_common c = {0};
  const char *pos[1];
  bool help = false;
  int n = positional(argc, argv, &c, pos, 1, usage, &help);
  if (help) {
    printf("usage: %s\n%s\n", usage, what);
    return CLI_OK;
  }
  if (n != 1) {
    cli_error("usage: %s", usage);
    return CLI_USAGE;
  }
  lf_ctx *ctx = cli_ctx(&c);
  lf_flow *flow = NULL;
  lf_status st = lf_flow_load(ctx, pos[0], &flow);
  if (st != LF_OK) {
    fprintf(stderr, "%s\n", lf_ctx_errmsg(ctx));
  } else {
    act(flow, pos[0]);
  }
  lf_flow_free(flow);
  lf_ctx_free(ctx);
  return cli_exit_code(st);
}

static void show_flow(lf_flow *flow, const char *path)
{
  (void)path;
  char *text = lf_flow_describe(flow);
  fputs(text, stdout);
  lf_string_free(text);
}

static void check_flow(lf_flow *flow, const char *path)
{
  printf("%s: flow %s is valid\n", path, lf_flow_name(flow));
}

int cmd_show(int argc, char **argv)
{
  return flow_command(argc, argv, "luaflow show FLOW.lua",
                      "Prints the flow's steps in order with their docs, options and "
                      "transitions.",
                      show_flow);
}

int cmd_check(int argc, char **argv)
{
  return flow_command(argc, argv, "luaflow check FLOW.lua",
                      "Validates the flow's graph, steps and options without running anything.",
                      check_flow);
}

int cmd_logs(int argc, char **argv)
{
  cli_common c = {0};
  static const char usage[] = "luaflow logs Flow/run/step[/task] [--stdout|--stderr]";
  const char *spec = NULL;
  int streams = 3;
  for (int i = 1; i < argc; i++) {
    if (cli_common_option(&c, argc, argv, &i)) {
      continue;
    }
    if (strcmp(argv[i], "--stdout") == 0) {
      streams = 1;
    } else if (strcmp(argv[i], "--stderr") == 0) {
      streams = 2;
    } else if (strcmp(argv[i], "--help") == 0) {
      printf("usage: %s\nPrints the stored output of past tasks (the latest attempt).\n",
             usage);
      return CLI_OK;
    } else if (spec == NULL && argv[i][0] != '-') {
      spec = argv[i];
    } else {
      cli_error("unexpected argument '%s'; usage: %s", argv[i], usage);
      return CLI_USAGE;
    }
  }
  if (spec == NULL) {
    cli_error("usage: %s", usage);
    return CLI_USAGE;
  }
  lf_ctx *ctx = cli_ctx(&c);
  lf_status st = LF_OK;
  for (int s = 1; s <= 2 && st == LF_OK; s++) {
    if ((streams & s) == 0) {
      continue;
    }
    char *text = NULL;
    size_t len = 0;
    st = lf_run_logs(ctx, spec, s, &text, &len);
    if (st == LF_OK) {
      fwrite(text, 1, len, s == 1 ? stdout : stderr);
      lf_string_free(text);
    }
  }
  if (st != LF_OK) {
    cli_error("%s", lf_ctx_errmsg(ctx));
  }
  lf_ctx_free(ctx);
  return st == LF_ERR_NOTFOUND ? CLI_FAILED : cli_exit_code(st);
}

int cmd_dump(int argc, char **argv)
{
  cli_common c = {0};
  const char *pos[1];
  bool help = false;
  static const char usage[] = "luaflow dump Flow/run/step[/task]";
  int n = positional(argc, argv, &c, pos, 1, usage, &help);
  if (help) {
    printf("usage: %s\nLists the artifacts of past tasks: name, size, type and value.\n",
           usage);
    return CLI_OK;
  }
  if (n != 1) {
    cli_error("usage: %s", usage);
    return CLI_USAGE;
  }
  lf_ctx *ctx = cli_ctx(&c);
  char *text = NULL;
  lf_status st = lf_run_dump(ctx, pos[0], &text);
  if (st == LF_OK) {
    fputs(text, stdout);
    lf_string_free(text);
  } else {
    cli_error("%s", lf_ctx_errmsg(ctx));
  }
  lf_ctx_free(ctx);
  return cli_exit_code(st);
}

int cmd_reindex(int argc, char **argv)
{
  cli_common c = {0};
  const char *pos[1];
  bool help = false;
  int n = positional(argc, argv, &c, pos, 0, "luaflow reindex", &help);
  if (help) {
    printf("usage: luaflow reindex\nRebuilds the metadata index from the datastore.\n");
    return CLI_OK;
  }
  if (n != 0) {
    cli_error("usage: luaflow reindex");
    return CLI_USAGE;
  }
  lf_ctx *ctx = cli_ctx(&c);
  lf_status st = lf_ctx_reindex(ctx);
  if (st != LF_OK) {
    cli_error("%s", lf_ctx_errmsg(ctx));
  } else {
    printf("reindexed %s\n", lf_ctx_datastore_root(ctx));
  }
  lf_ctx_free(ctx);
  return cli_exit_code(st);
}

int cmd_step(int argc, char **argv)
{
  // The worker's arguments are parsed by the library (embedding programs use it too);
  // --datastore-root among them replaces the default root.
  cli_common c = {0};
  lf_ctx *ctx = cli_ctx(&c);
  int rc = lf_worker_main(ctx, argc + 1, argv - 1);
  lf_ctx_free(ctx);
  return rc;
}

int cmd_tag(int argc, char **argv)
{
  static const char usage[] = "luaflow tag add|remove|list Flow/run [TAG...]";
  cli_common c = {0};
  const char *pos[64];
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_common_option(&c, argc, argv, &i)) {
      continue;
    }
    if (strcmp(argv[i], "--help") == 0) {
      printf("usage: %s\nAdds, removes or lists the user tags of a run. System tags (user:NAME,\n"
             "luaflow_version:...) are read-only. Prints the run's tags afterwards.\n",
             usage);
      return CLI_OK;
    }
    if (npos == 64) {
      cli_error("too many arguments");
      return CLI_USAGE;
    }
    pos[npos++] = argv[i];
  }
  if (npos < 2) {
    cli_error("usage: %s", usage);
    return CLI_USAGE;
  }
  bool add = strcmp(pos[0], "add") == 0;
  bool remove = strcmp(pos[0], "remove") == 0;
  bool list = strcmp(pos[0], "list") == 0;
  if (!add && !remove && !list) {
    cli_error("unknown tag command '%s'; usage: %s", pos[0], usage);
    return CLI_USAGE;
  }
  if ((add || remove) && npos < 3) {
    cli_error("tag %s needs at least one tag; usage: %s", pos[0], usage);
    return CLI_USAGE;
  }
  if (list && npos != 2) {
    cli_error("usage: %s", usage);
    return CLI_USAGE;
  }
  const char *tags[64];
  int n = 0;
  for (int i = 2; i < npos; i++) {
    tags[n++] = pos[i];
  }
  tags[n] = NULL;
  lf_ctx *ctx = cli_ctx(&c);
  char *out = NULL;
  lf_status st = lf_run_tag(ctx, pos[1], add ? tags : NULL, remove ? tags : NULL, &out);
  if (st == LF_OK) {
    fputs(out, stdout);
    lf_string_free(out);
  } else {
    cli_error("%s", lf_ctx_errmsg(ctx));
  }
  lf_ctx_free(ctx);
  return st == LF_ERR_NOTFOUND ? CLI_FAILED : cli_exit_code(st);
}
