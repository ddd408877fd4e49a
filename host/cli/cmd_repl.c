// SPDX-License-Identifier: MIT
// This file contains `luaflow repl [FLOW.lua]`: the prompt loop over an lf_session. Lines
// are read with the line editor, joined while the chunk is incomplete (">> "), evaluated,
// and the formatted results printed; entries go to the history file ($LUAFLOW_HISTORY, else
// ~/.luaflow_history). Ctrl-C while code runs stops it; at the prompt it cancels the line.
// Input that is not a terminal is read as a script: no prompts, and the exit status is 1 if
// any chunk failed.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define HISTORY_MAX 1000

static lf_session *volatile g_session;

static void on_sigint(int sig)
{
  (void)sig;
  lf_session *s = g_session;
  if (s != NULL) {
    lf_session_interrupt(s);
  }
}

static char **complete(void *ud, const char *line, size_t cursor, size_t *start)
{
  return lf_session_complete(ud, line, cursor, start);
}

static char *history_path(void)
{
  const char *env = getenv("LUAFLOW_HISTORY");
  if (env != NULL) {
    return env[0] != '\0' ? strdup(env) : NULL; // empty: no history file
  }
  const char *home = getenv("HOME");
  if (home == NULL || home[0] == '\0') {
    return NULL;
  }
  size_t n = strlen(home) + 32;
  char *p = malloc(n);
  if (p != NULL) {
    snprintf(p, n, "%s/.luaflow_history", home);
  }
  return p;
}

// A chunk typed over several lines is one history entry. Its lines are joined with spaces
// when that cannot change its meaning (no comment or long bracket), else kept.
static void add_history(cli_line *ed, char *chunk)
{
  if (strstr(chunk, "--") == NULL && strstr(chunk, "[[") == NULL &&
      strstr(chunk, "[=") == NULL) {
    for (char *c = chunk; *c != '\0'; c++) {
      if (*c == '\n') {
        *c = ' ';
      }
    }
  }
  cli_line_add_history(ed, chunk);
}

static char *append(char *chunk, const char *line)
{
  size_t a = chunk != NULL ? strlen(chunk) : 0;
  size_t b = strlen(line);
  char *out = realloc(chunk, a + b + 2);
  if (out == NULL) {
    abort();
  }
  if (a > 0) {
    out[a++] = '\n';
  }
  memcpy(out + a, line, b + 1);
  return out;
}

static const char usage[] = "luaflow repl [FLOW.lua] [--max-workers N] [--datastore-root DIR]";

int cmd_repl(int argc, char **argv)
{
  cli_common c = {0};
  const char *flow_path = NULL;
  int max_workers = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_common_option(&c, argc, argv, &i)) {
      continue;
    }
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: %s\n"
             "An interactive Lua 5.4 prompt with the history of runs (Flow, Run, Step, Task).\n"
             "With a flow file: run{ param = value } runs it, and\n"
             "step('name', { from = 'Flow/12/start/1' }) tries one step in this process\n"
             "without storing anything. help() at the prompt tells more.\n",
             usage);
      return CLI_OK;
    }
    if (strcmp(argv[i], "--max-workers") == 0 && i + 1 < argc) {
      char *end = NULL;
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 1 || v > 100000) {
        cli_error("--max-workers must be a number from 1 to 100000, got '%s'", argv[i]);
        return CLI_USAGE;
      }
      max_workers = (int)v;
    } else if (flow_path == NULL && argv[i][0] != '-') {
      flow_path = argv[i];
    } else {
      cli_error("unexpected argument '%s'; usage: %s", argv[i], usage);
      return CLI_USAGE;
    }
  }
  lf_ctx *ctx = cli_ctx(&c);
  cli_printer *pr = cli_printer_new();
  lf_run_opts ro;
  memset(&ro, 0, sizeof(ro));
  ro.size = sizeof(ro);
  ro.max_workers = max_workers;
  ro.on_event = cli_printer_event;
  ro.event_ud = pr;
  lf_session *s = lf_session_new(ctx, flow_path, &ro);
  if (s == NULL) {
    cli_error("%s", lf_ctx_errmsg(ctx));
    cli_printer_free(pr);
    lf_ctx_free(ctx);
    return CLI_USAGE;
  }
  char *hpath = history_path();
  cli_line *ed = cli_line_new(hpath, HISTORY_MAX, complete, lf_strings_free, s);
  free(hpath);
  bool tty = cli_line_is_tty(ed);
  if (tty) {
    printf("luaflow %s, Lua 5.4. help() for help, Ctrl-D to quit.\n", lf_version());
    fflush(stdout);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  int rc = CLI_OK;
  char *chunk = NULL;
  for (;;) {
    char *line = NULL;
    fflush(stdout); // what code wrote without a newline shows before the prompt
    int st = cli_line_read(ed, tty ? (chunk != NULL ? ">> " : "> ") : "", &line);
    if (st == CLI_LINE_EOF) {
      if (chunk != NULL) {
        fprintf(stderr, "luaflow: input ended inside an unfinished chunk\n");
        rc = CLI_FAILED;
      }
      break;
    }
    if (st == CLI_LINE_CANCEL) {
      free(chunk);
      chunk = NULL;
      continue;
    }
    chunk = append(chunk, line);
    free(line);
    // Code runs with Ctrl-C stopping it (a run{} takes the signal over while it runs).
    g_session = s;
    sigaction(SIGINT, &sa, NULL);
    char *out = NULL;
    lf_eval_result r = lf_session_eval(s, chunk, strlen(chunk), &out);
    signal(SIGINT, tty ? SIG_IGN : SIG_DFL);
    if (r == LF_EVAL_INCOMPLETE) {
      continue;
    }
    if (tty) {
      add_history(ed, chunk);
    }
    free(chunk);
    chunk = NULL;
    fflush(stdout);
    if (out != NULL) {
      FILE *f = r == LF_EVAL_ERROR ? stderr : stdout;
      fprintf(f, "%s\n", out);
      fflush(f);
      lf_string_free(out);
    }
    if (r == LF_EVAL_ERROR && !tty) {
      rc = CLI_FAILED;
    }
  }
  free(chunk);
  g_session = NULL;
  cli_line_free(ed);
  lf_session_free(s);
  cli_printer_free(pr);
  lf_ctx_free(ctx);
  return rc;
}
