// SPDX-License-Identifier: MIT
// Shared declarations of the luaflow command line. The CLI is a client of luaflow.h only.
#pragma once

#include <stdbool.h>

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

int cmd_run(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_step(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_tag(int argc, char **argv);
