// SPDX-License-Identifier: MIT
// The fork server: a worker process that has loaded the flow once and forks one child per
// task on request, so a task costs a fork instead of exec + dynamic linking + Lua start-up +
// flow parsing. Each task is still its own OS process (own memory, own process group), and
// starts from the same pristine state: the server never runs step code itself.
//
// Protocol on a Unix stream socket, frames of a 4-byte little-endian length and a payload:
//   client -> server  "T<id> <task payload>"   with SCM_RIGHTS: stdout, stderr, message fds
//   server -> client  "S<id> <pid>"            the task's child was forked
//                     "X<id> <exit status> <signal>"  the child ended
//                     "F<id> <reason>"         the fork failed
// Closing the socket stops the server, which kills the children it still has.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "proc/proc.h"

/// Runs one task in the forked child: fd 1 and 2 are its output, fd 3 its message pipe.
/// @return the child's exit status.
typedef int (*lf_forkserver_task_fn)(void *ud, const char *payload, size_t len);

/// Serves requests on `sock` until it is closed (server side, blocking, no libuv).
/// @return LF_OK when the client closed the socket, or an error.
lf_status lf_forkserver_serve(int sock, lf_forkserver_task_fn fn, void *ud, lf_err *err);

typedef struct lf_forkserver lf_forkserver;

/// Starts a server process (client side): runs `opts` with the server end of a socket pair
/// as fd 3. The server's own stderr is ours (so its crashes are visible).
lf_status lf_forkserver_start(uv_loop_t *loop, const lf_proc_opts *opts, lf_forkserver **out,
                              lf_err *err);
/// Asks the server for a task process. The callbacks behave as for lf_proc_spawn; on_pid
/// fires when the server reports the fork.
lf_status lf_forkserver_spawn(lf_forkserver *fs, const char *payload, const lf_proc_cbs *cbs,
                              void *ud, lf_proc **out, lf_err *err);
/// Stops the server (closes the socket) and frees the client once the server has exited and
/// the handles are closed: run the loop until then. Tasks not yet reported as ended are
/// reported lost.
void lf_forkserver_stop(lf_forkserver *fs);
