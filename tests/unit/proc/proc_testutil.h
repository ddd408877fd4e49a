// SPDX-License-Identifier: MIT
// Shared by the proc unit tests: running a uv loop until it settles, with a watchdog.
#pragma once

#include <stdbool.h>
#include <uv.h>

static bool watchdog_fired;

static void on_watchdog(uv_timer_t *t)
{
  watchdog_fired = true;
  uv_stop(t->loop);
}

// Runs `loop` until nothing keeps it alive (every handle of finished processes closed).
// @return true if uv_run returned by itself within 20 s.
static bool settle_loop(uv_loop_t *loop)
{
  uv_timer_t wd;
  uv_timer_init(loop, &wd);
  watchdog_fired = false;
  uv_timer_start(&wd, on_watchdog, 20000, 0);
  uv_unref((uv_handle_t *)&wd);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return !watchdog_fired;
}
