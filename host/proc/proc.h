// SPDX-License-Identifier: MIT
// Worker processes on a libuv loop: spawn a command in its own process group with its stdout
// and stderr split into lines and fd 3 carrying length-prefixed messages to the parent
// (4-byte little-endian length, then the payload). The parent validates every length.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"

/// The largest message a worker may send on fd 3.
#define LF_PROC_MAX_MSG (64u * 1024u * 1024u)
/// Lines longer than this are delivered in pieces of this size.
#define LF_PROC_MAX_LINE (64u * 1024u)

typedef struct lf_proc lf_proc;

/// Callbacks run on the loop thread from libuv callbacks; they must not call into Lua.
typedef struct lf_proc_cbs {
  /// One line of output (stream 1 = stdout, 2 = stderr) without its newline.
  void (*on_line)(void *ud, int stream, const char *line, size_t len);
  /// One complete message from fd 3.
  void (*on_msg)(void *ud, const char *data, size_t len);
  /// The process id is known (right after lf_proc_spawn, or when a fork server reports it).
  /// May be NULL.
  void (*on_pid)(void *ud, int64_t pid);
  /// The process ended and every pipe reached EOF. `exit_status` is the exit code, or -1 if
  /// killed by `term_signal`. `protocol_error` is non-NULL if the message pipe was misused.
  /// The lf_proc is freed after this returns.
  void (*on_exit)(void *ud, int64_t exit_status, int term_signal, const char *protocol_error);
} lf_proc_cbs;

typedef struct lf_proc_opts {
  const char *file;         ///< program to run
  char **argv;              ///< NULL-terminated; argv[0] is the program name
  char **env;               ///< NULL-terminated environment, or NULL to inherit
  const char *cwd;          ///< working directory, or NULL
} lf_proc_opts;

/// Spawns the process. On success the callbacks will be called and *out is valid until
/// on_exit returns.
lf_status lf_proc_spawn(uv_loop_t *loop, const lf_proc_opts *opts, const lf_proc_cbs *cbs,
                        void *ud, lf_proc **out, lf_err *err);
/// Wraps a process started elsewhere (by the fork server): we own the read ends of its
/// stdout, stderr and message pipes; its pid and exit are reported with lf_proc_set_pid and
/// lf_proc_exited. The fds are taken over.
lf_status lf_proc_adopt(uv_loop_t *loop, int out_fd, int err_fd, int msg_fd,
                        const lf_proc_cbs *cbs, void *ud, lf_proc **out, lf_err *err);
/// Reports the pid of an adopted process (calls on_pid).
void lf_proc_set_pid(lf_proc *p, int64_t pid);
/// Reports the exit of an adopted process; on_exit follows once its pipes are drained.
/// `exit_status` is -1 when killed by `term_signal`.
void lf_proc_exited(lf_proc *p, int64_t exit_status, int term_signal);
/// Reports that an adopted process could not be started or its reporter died; on_exit
/// follows with `reason` as the protocol error.
void lf_proc_lost(lf_proc *p, const char *reason);
/// The process id (also the process group id); 0 while unknown.
int64_t lf_proc_pid(const lf_proc *p);
/// Sends `sig` to the whole process group. Safe after the process exited (no-op).
void lf_proc_kill(lf_proc *p, int sig);
