// SPDX-License-Identifier: MIT
// Shared declarations of the luaflow command line. The CLI is a client of luaflow.h only.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "luaflow.h"

/// Exit statuses (documented in the README).
enum {
  CLI_OK = 0,          ///< success
  CLI_FAILED = 1,      ///< a task failed, or a runtime error
  CLI_USAGE = 2,       ///< bad usage or an invalid flow
  CLI_INTERRUPTED = 130,
};

/// Options every subcommand accepts.
typedef struct cli_common {
  const char *datastore;      ///< "local" (default) or "s3"
  const char *datastore_root; ///< --datastore-root
} cli_common;

/// Maps a status to the documented exit code.
int cli_exit_code(lf_status st);
/// Creates the context from the common options; exits with CLI_USAGE on bad options.
lf_ctx *cli_ctx(const cli_common *c);
/// If argv[*i] is a common option, consumes it (and its value) and returns true.
bool cli_common_option(cli_common *c, int argc, char **argv, int *i);
/// Prints "luaflow: <msg>" to stderr.
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/// The REPL's line editor (lineedit.c).
typedef struct cli_line cli_line;
/// Completion candidates for `line` with the cursor at byte `cursor`; each replaces
/// line[*start .. cursor). A NULL-terminated list, or NULL.
typedef char **(*cli_complete_fn)(void *ud, const char *line, size_t cursor, size_t *start);
typedef void (*cli_complete_free_fn)(char **list);
enum { CLI_LINE_OK = 0, CLI_LINE_EOF = 1, CLI_LINE_CANCEL = 2 };
/// An editor with the history in `history_path` (NULL: none), at most `max` entries kept.
cli_line *cli_line_new(const char *history_path, size_t max, cli_complete_fn complete,
                       cli_complete_free_fn complete_free, void *ud);
void cli_line_free(cli_line *ed);
/// True when input and output are a terminal (the line is edited; prompts are shown).
bool cli_line_is_tty(const cli_line *ed);
/// Reads one line into *line (caller frees with free()).
/// @return CLI_LINE_OK, CLI_LINE_EOF (end of input, Ctrl-D), CLI_LINE_CANCEL (Ctrl-C).
int cli_line_read(cli_line *ed, const char *prompt, char **line);
/// Adds an entry to the history and appends it to the history file.
void cli_line_add_history(cli_line *ed, const char *entry);

/// Prints run events as `luaflow run` does (task lines, failures, progress on a terminal).
typedef struct cli_printer cli_printer;
cli_printer *cli_printer_new(void);
void cli_printer_free(cli_printer *p);
void cli_printer_event(void *ud, const lf_event *ev);

int cmd_repl(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_step(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_s3(int argc, char **argv);
