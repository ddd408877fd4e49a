// SPDX-License-Identifier: MIT
// This file contains luaflow._parallel, behind luaflow.parallel_map(fn, list, { workers }):
// the list is cut into contiguous chunks, one forked worker process per chunk runs fn on its
// items (it inherits the state, so nothing is sent to it), and sends each result back over a
// pipe in the artifact encoding (lua_api/codec.h): [u64 item][u8 ok][u64 length][bytes]. The
// parent reads all pipes with poll, reaps the workers, then decodes the results in order. The
// pipes, pids and received bytes live in a userdata whose __gc kills and reaps what is left,
// so a raised error never leaks a process or a descriptor.
#include <errno.h>
#include <stdarg.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "lua_api/codec.h"
#include "lua_api/l_nd.h"
#include "lua_api/modules.h"

#define PMAP_MT "luaflow.ParallelMap"
#define MAX_WORKERS 256
// The most bytes one worker may send back.
#define MAX_REPLY ((size_t)16 << 30)

typedef struct pmap {
  int n;
  pid_t pid[MAX_WORKERS];
  int fd[MAX_WORKERS];
  int status[MAX_WORKERS];
  lf_dynbuf in[MAX_WORKERS];
} pmap;

// Raises without a position: the luaflow.parallel_map wrapper adds the caller's.
static int perr(lua_State *L, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

static void pmap_release(pmap *p)
{
  for (int w = 0; w < p->n; w++) {
    if (p->fd[w] >= 0) {
      close(p->fd[w]);
      p->fd[w] = -1;
    }
    if (p->pid[w] > 0) {
      kill(p->pid[w], SIGKILL);
      waitpid(p->pid[w], NULL, 0);
      p->pid[w] = 0;
    }
    lf_dynbuf_free(&p->in[w]);
  }
  p->n = 0;
}

static int pmap_gc(lua_State *L)
{
  pmap_release(luaL_checkudata(L, 1, PMAP_MT));
  return 0;
}

static bool write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    p += n;
    len -= (size_t)n;
  }
  return true;
}

static bool send_msg(int fd, uint64_t item, uint8_t ok, const void *data, size_t len)
{
  uint8_t hdr[17];
  uint64_t n = len;
  memcpy(hdr, &item, 8);
  hdr[8] = ok;
  memcpy(hdr + 9, &n, 8);
  return write_all(fd, hdr, sizeof(hdr)) && write_all(fd, data, len);
}

// Worker body (protected): runs fn on items lo..hi and sends each result.
static int worker_main(lua_State *L)
{
  int fd = (int)lua_tointeger(L, 1);
  lua_Integer lo = lua_tointeger(L, 2);
  lua_Integer hi = lua_tointeger(L, 3);
  // stack: fd, lo, hi; upvalues: fn (arg 4), list (arg 5)
  for (lua_Integer i = lo; i <= hi; i++) {
    lua_settop(L, 5);
    lua_pushvalue(L, 4);
    lua_geti(L, 5, i);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      size_t len;
      const char *msg = luaL_tolstring(L, -1, &len);
      send_msg(fd, (uint64_t)i, 0, msg, len);
      continue;
    }
    const void *data;
    size_t len;
    lf_err err;
    lf_err_clear(&err);
    if (lf_lua_encode(L, -1, &data, &len, &err) != LF_OK) {
      char msg[1100];
      int n = snprintf(msg, sizeof(msg), "the result cannot be sent back: %s", err.msg);
      send_msg(fd, (uint64_t)i, 0, msg, n > 0 ? (size_t)n : 0);
      continue;
    }
    if (!send_msg(fd, (uint64_t)i, 1, data, len)) {
      return 0;
    }
  }
  return 0;
}

static void run_worker(lua_State *L, int fd, lua_Integer lo, lua_Integer hi)
{
  lua_pushcfunction(L, worker_main);
  lua_pushinteger(L, fd);
  lua_pushinteger(L, lo);
  lua_pushinteger(L, hi);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  int rc = lua_pcall(L, 5, 0, 0);
  fflush(stdout);
  fflush(stderr);
  _exit(rc == LUA_OK ? 0 : 3);
}

// Reads every pipe to its end.
static void collect(pmap *p)
{
  struct pollfd fds[MAX_WORKERS];
  int open_n = p->n;
  char chunk[65536];
  while (open_n > 0) {
    int m = 0;
    int map[MAX_WORKERS];
    for (int w = 0; w < p->n; w++) {
      if (p->fd[w] >= 0) {
        fds[m].fd = p->fd[w];
        fds[m].events = POLLIN;
        map[m++] = w;
      }
    }
    if (poll(fds, (nfds_t)m, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    for (int i = 0; i < m; i++) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        continue;
      }
      int w = map[i];
      ssize_t n = read(p->fd[w], chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0 || !lf_dynbuf_add(&p->in[w], chunk, (size_t)n)) {
        close(p->fd[w]);
        p->fd[w] = -1;
        open_n--;
      }
    }
  }
  for (int w = 0; w < p->n; w++) {
    int st = 0;
    while (waitpid(p->pid[w], &st, 0) < 0 && errno == EINTR) {
    }
    p->status[w] = st;
    p->pid[w] = 0;
  }
}

// Decodes worker w's messages into results (stack index `res`); returns an error item or 0.
static lua_Integer decode_worker(lua_State *L, pmap *p, int w, int res, int errs)
{
  const uint8_t *b = (const uint8_t *)p->in[w].data;
  size_t len = p->in[w].len;
  size_t pos = 0;
  while (len - pos >= 17) {
    uint64_t item;
    uint64_t n;
    memcpy(&item, b + pos, 8);
    memcpy(&n, b + pos + 9, 8);
    uint8_t ok = b[pos + 8];
    pos += 17;
    if (n > len - pos) {
      break;
    }
    if (ok) {
      lf_err err;
      lf_err_clear(&err);
      if (lf_lua_decode(L, b + pos, (size_t)n, &err) != LF_OK) {
        lua_pushfstring(L, "the result could not be decoded (%s)", err.msg);
        lua_rawseti(L, errs, (lua_Integer)item);
      } else {
        lua_rawseti(L, res, (lua_Integer)item);
      }
    } else {
      lua_pushlstring(L, (const char *)b + pos, (size_t)n);
      lua_rawseti(L, errs, (lua_Integer)item);
    }
    lua_pushboolean(L, 1);
    lua_rawseti(L, errs + 1, (lua_Integer)item);
    pos += (size_t)n;
  }
  return 0;
}

// map(fn, list [, { workers = n }]) -> results (a list in the order of `list`)
static int l_parallel_map(lua_State *L)
{
  static const char *const keys[] = {"workers", NULL};
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TTABLE);
  lf_lua_opts_check(L, 3, "parallel_map", keys);
  lua_Integer len = (lua_Integer)lua_rawlen(L, 2);
  lua_Integer nw = lf_lua_opt_has(L, 3, "workers") ? lf_lua_opt_int(L, 3, "workers", 1)
                                                   : lf_lua_nd_threads(L, 0);
  if (nw < 1 || nw > MAX_WORKERS) {
    return perr(L, "parallel_map: workers must be between 1 and %d, got %d", MAX_WORKERS,
                      (int)nw);
  }
  if (nw > len) {
    nw = len;
  }
  lua_settop(L, 3);
  lua_createtable(L, (int)len, 0); // 4: results
  lua_createtable(L, 0, 0);        // 5: errors by item
  lua_createtable(L, 0, 0);        // 6: items received
  pmap *p = lua_newuserdatauv(L, sizeof(pmap), 0); // 7
  p->n = 0;
  if (luaL_newmetatable(L, PMAP_MT)) {
    lua_pushcfunction(L, pmap_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  fflush(stdout);
  fflush(stderr);
  for (int w = 0; w < nw; w++) {
    lua_Integer lo = 1 + len * w / nw;
    lua_Integer hi = len * (w + 1) / nw;
    int fds[2];
    if (pipe(fds) != 0) {
      pmap_release(p);
      return perr(L, "parallel_map: cannot create a pipe (%s)", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
      close(fds[0]);
      close(fds[1]);
      pmap_release(p);
      return perr(L, "parallel_map: cannot fork (%s)", strerror(errno));
    }
    if (pid == 0) {
      close(fds[0]);
      for (int j = 0; j < p->n; j++) {
        close(p->fd[j]);
      }
      run_worker(L, fds[1], lo, hi);
    }
    close(fds[1]);
    p->pid[w] = pid;
    p->fd[w] = fds[0];
    lf_dynbuf_init(&p->in[w], MAX_REPLY);
    p->n = w + 1;
  }
  collect(p);
  for (int w = 0; w < p->n; w++) {
    decode_worker(L, p, w, 4, 5);
  }
  // The first failed or missing item, in list order, names the error.
  for (lua_Integer i = 1; i <= len; i++) {
    if (lua_rawgeti(L, 5, i) == LUA_TSTRING) {
      pmap_release(p);
      return perr(L, "parallel_map: item %d failed: %s", (int)i, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    if (lua_rawgeti(L, 6, i) == LUA_TNIL) {
      int w = (int)((i - 1) * nw / len);
      while (w + 1 < nw && 1 + len * (w + 1) / nw <= i) {
        w++;
      }
      int st = p->status[w];
      pmap_release(p);
      if (WIFSIGNALED(st)) {
        return perr(L, "parallel_map: item %d failed: its worker was killed by signal %d",
                          (int)i, WTERMSIG(st));
      }
      return perr(L, "parallel_map: item %d failed: its worker exited (status %d) "
                        "without returning it", (int)i, WEXITSTATUS(st));
    }
    lua_pop(L, 1);
  }
  pmap_release(p);
  lua_settop(L, 4);
  return 1;
}

int lf_lua_open_parallel(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"map", l_parallel_map},
    {NULL,  NULL          },
  };
  luaL_newlib(L, funcs);
  return 1;
}
