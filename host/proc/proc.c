// SPDX-License-Identifier: MIT
// This file contains the local worker process: spawning with pipes, line splitting of
// stdout/stderr, framing of fd-3 messages, and exit reporting once all pipes are drained.
#include "proc/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

typedef struct pipe_reader {
  uv_pipe_t pipe;
  struct lf_proc *owner;
  int stream; // 1, 2, or 3 for messages
  lf_dynbuf buf;
  bool open;
  bool eof; // reached EOF; what is buffered waits for the pid (adopted processes)
} pipe_reader;

struct lf_proc {
  uv_process_t process;
  pipe_reader out[3];
  lf_proc_cbs cbs;
  void *ud;
  int64_t pid;
  bool exited;
  int64_t exit_status;
  int term_signal;
  int open_handles; // process + pipes still to close
  bool reported;
  bool adopted; // no uv_process_t: pid and exit come from lf_proc_set_pid / lf_proc_exited
  uv_timer_t drain; // after the exit: how long pipes may stay open (a leftover child holds them)
  bool drain_started;
  char protocol_error[256];
};

// After a worker exits, its pipes may be held open by a process it left behind (a daemon,
// `cmd &`); the task is over, so its output is collected for this long, then the pipes close.
#define DRAIN_MS 2000

static void maybe_finish(lf_proc *p);

static void handle_closed(uv_handle_t *h)
{
  lf_proc *p = h->data;
  p->open_handles--;
  maybe_finish(p);
}

static void close_reader(pipe_reader *r);
static void deliver_lines(pipe_reader *r, bool eof);
static void deliver_msgs(pipe_reader *r, bool eof);

static void drain_expired(uv_timer_t *t)
{
  lf_proc *p = t->data;
  for (int i = 0; i < 3; i++) {
    pipe_reader *r = &p->out[i];
    if (r->open) {
      if (r->stream == 3) {
        deliver_msgs(r, true);
      } else {
        deliver_lines(r, true);
      }
      close_reader(r);
    }
  }
}

static void maybe_finish(lf_proc *p)
{
  if (!p->exited) {
    return;
  }
  for (int i = 0; i < 3; i++) {
    if (p->out[i].open) {
      if (!p->drain_started) {
        p->drain_started = true;
        uv_timer_start(&p->drain, drain_expired, DRAIN_MS, 0);
      }
      return;
    }
  }
  // The timer is counted in open_handles from creation and closed once, here.
  if (!uv_is_closing((uv_handle_t *)&p->drain)) {
    uv_close((uv_handle_t *)&p->drain, handle_closed);
  }
  if (!p->reported) {
    p->reported = true;
    p->cbs.on_exit(p->ud, p->exit_status, p->term_signal,
                   p->protocol_error[0] != '\0' ? p->protocol_error : NULL);
    if (!p->adopted) {
      uv_close((uv_handle_t *)&p->process, handle_closed);
      return;
    }
  }
  if (p->open_handles == 0) {
    for (int i = 0; i < 3; i++) {
      lf_dynbuf_free(&p->out[i].buf);
    }
    lf_free(p);
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)suggested;
  pipe_reader *r = h->data == NULL ? NULL : (pipe_reader *)((char *)h - offsetof(pipe_reader, pipe));
  // Read straight into the reader's buffer; it grows up to its maximum.
  if (r == NULL || !lf_dynbuf_reserve(&r->buf, 65536)) {
    if (r != NULL && lf_dynbuf_reserve(&r->buf, 1)) {
      buf->base = r->buf.data + r->buf.len;
      buf->len = r->buf.cap - r->buf.len - 1;
      return;
    }
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = r->buf.data + r->buf.len;
  buf->len = r->buf.cap - r->buf.len - 1;
}

static void close_reader(pipe_reader *r)
{
  if (r->open) {
    r->open = false;
    uv_read_stop((uv_stream_t *)&r->pipe);
    uv_close((uv_handle_t *)&r->pipe, handle_closed);
  }
}

static void deliver_lines(pipe_reader *r, bool eof)
{
  lf_proc *p = r->owner;
  size_t start = 0;
  for (size_t i = 0; i < r->buf.len; i++) {
    if (r->buf.data[i] == '\n') {
      size_t n = i - start;
      if (n > 0 && r->buf.data[start + n - 1] == '\r') {
        n--;
      }
      p->cbs.on_line(p->ud, r->stream, r->buf.data + start, n);
      start = i + 1;
    } else if (i - start == LF_PROC_MAX_LINE) {
      // A line this long without a newline goes out in pieces of the maximum size.
      p->cbs.on_line(p->ud, r->stream, r->buf.data + start, i - start);
      start = i;
    }
  }
  if (eof && start < r->buf.len) {
    p->cbs.on_line(p->ud, r->stream, r->buf.data + start, r->buf.len - start);
    start = r->buf.len;
  }
  if (start > 0) {
    memmove(r->buf.data, r->buf.data + start, r->buf.len - start);
    r->buf.len -= start;
    r->buf.data[r->buf.len] = '\0';
  }
}

static void deliver_msgs(pipe_reader *r, bool eof)
{
  lf_proc *p = r->owner;
  size_t pos = 0;
  while (r->buf.len - pos >= 4) {
    const unsigned char *h = (const unsigned char *)r->buf.data + pos;
    uint32_t n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                 (uint32_t)h[3] << 24;
    if (n > LF_PROC_MAX_MSG) {
      snprintf(p->protocol_error, sizeof(p->protocol_error),
               "worker sent a message of %u bytes (limit %u)", n, LF_PROC_MAX_MSG);
      r->buf.len = 0;
      lf_proc_kill(p, SIGKILL);
      close_reader(r);
      return;
    }
    if (r->buf.len - pos - 4 < n) {
      break;
    }
    p->cbs.on_msg(p->ud, r->buf.data + pos + 4, n);
    pos += 4 + (size_t)n;
  }
  if (pos > 0) {
    memmove(r->buf.data, r->buf.data + pos, r->buf.len - pos);
    r->buf.len -= pos;
  }
  if (eof && r->buf.len != 0 && p->protocol_error[0] == '\0') {
    snprintf(p->protocol_error, sizeof(p->protocol_error),
             "worker message pipe closed in the middle of a message (%zu bytes left)",
             r->buf.len);
  }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  (void)buf;
  pipe_reader *r = (pipe_reader *)((char *)s - offsetof(pipe_reader, pipe));
  if (nread > 0) {
    r->buf.len += (size_t)nread;
    r->buf.data[r->buf.len] = '\0';
    // An adopted process's output can overtake the report of its pid: hold the lines until
    // the pid is known (while the buffer has room), so every line carries it.
    if (r->owner->pid == 0 && r->buf.len < LF_PROC_MAX_LINE) {
      return;
    }
    if (r->stream == 3) {
      deliver_msgs(r, false);
    } else {
      deliver_lines(r, false);
    }
    return;
  }
  if (nread == 0) {
    return;
  }
  // EOF, error, or no buffer space (UV_ENOBUFS): flush what we have and close. Output of an
  // adopted process whose pid is not known yet waits for lf_proc_set_pid.
  r->eof = true;
  if (r->owner->pid == 0 && r->owner->adopted) {
    close_reader(r);
    return;
  }
  if (r->stream == 3) {
    deliver_msgs(r, true);
  } else {
    deliver_lines(r, true);
  }
  close_reader(r);
}

static void exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal)
{
  lf_proc *p = proc->data;
  p->exited = true;
  p->exit_status = term_signal != 0 ? -1 : exit_status;
  p->term_signal = term_signal;
  maybe_finish(p);
}

// A process record with its three pipe readers initialised (not yet open).
static lf_proc *new_proc(uv_loop_t *loop, const lf_proc_cbs *cbs, void *ud)
{
  lf_proc *p = lf_xcalloc(1, sizeof(*p));
  p->cbs = *cbs;
  p->ud = ud;
  uv_timer_init(loop, &p->drain);
  p->drain.data = p;
  p->open_handles++;
  for (int i = 0; i < 3; i++) {
    pipe_reader *r = &p->out[i];
    r->owner = p;
    r->stream = i + 1;
    lf_dynbuf_init(&r->buf, i == 2 ? (size_t)LF_PROC_MAX_MSG + 8 : (size_t)LF_PROC_MAX_LINE * 2);
    uv_pipe_init(loop, &r->pipe, 0);
    r->pipe.data = p;
    p->open_handles++;
  }
  return p;
}

lf_status lf_proc_spawn(uv_loop_t *loop, const lf_proc_opts *opts, const lf_proc_cbs *cbs,
                        void *ud, lf_proc **out, lf_err *err)
{
  *out = NULL;
  lf_proc *p = new_proc(loop, cbs, ud);
  p->process.data = p;
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  for (int i = 0; i < 3; i++) {
    pipe_reader *r = &p->out[i];
    stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[i + 1].data.stream = (uv_stream_t *)&r->pipe;
  }
  uv_process_options_t po;
  memset(&po, 0, sizeof(po));
  po.file = opts->file;
  po.args = opts->argv;
  po.env = opts->env;
  po.cwd = opts->cwd;
  po.exit_cb = exit_cb;
  po.stdio = stdio;
  po.stdio_count = 4;
  // A new session (and process group) per task: timeouts and Ctrl-C kill the whole group.
  po.flags = UV_PROCESS_DETACHED;
  int rc = uv_spawn(loop, &p->process, &po);
  if (rc != 0) {
    // The pipes were initialised; close them and free the struct from the close callbacks.
    p->exited = true;
    p->reported = true;
    for (int i = 0; i < 3; i++) {
      p->out[i].open = true;
      close_reader(&p->out[i]);
    }
    p->open_handles++; // the process handle was initialised by uv_spawn
    uv_close((uv_handle_t *)&p->process, handle_closed);
    return LF_ERR(err, LF_ERR_IO, "cannot start '%s' (%s)", opts->file, uv_strerror(rc));
  }
  p->open_handles++;
  p->pid = p->process.pid;
  for (int i = 0; i < 3; i++) {
    pipe_reader *r = &p->out[i];
    r->open = true;
    r->pipe.data = p;
    uv_read_start((uv_stream_t *)&r->pipe, alloc_cb, read_cb);
  }
  *out = p;
  if (p->cbs.on_pid != NULL) {
    p->cbs.on_pid(p->ud, p->pid);
  }
  return LF_OK;
}

lf_status lf_proc_adopt(uv_loop_t *loop, int out_fd, int err_fd, int msg_fd,
                        const lf_proc_cbs *cbs, void *ud, lf_proc **out, lf_err *err)
{
  *out = NULL;
  lf_proc *p = new_proc(loop, cbs, ud);
  p->adopted = true;
  int fds[3] = {out_fd, err_fd, msg_fd};
  for (int i = 0; i < 3; i++) {
    pipe_reader *r = &p->out[i];
    r->open = true;
    int rc = uv_pipe_open(&r->pipe, fds[i]);
    if (rc != 0) {
      // Close the fds not handed to libuv and all three (initialised) pipe handles; the
      // struct is freed from the close callbacks.
      for (int k = i; k < 3; k++) {
        if (fds[k] >= 0) {
          close(fds[k]);
        }
      }
      p->exited = true;
      p->reported = true;
      for (int k = 0; k < 3; k++) {
        p->out[k].open = true;
        close_reader(&p->out[k]);
      }
      return LF_ERR(err, LF_ERR_IO, "cannot watch a worker pipe (%s)", uv_strerror(rc));
    }
  }
  for (int i = 0; i < 3; i++) {
    uv_read_start((uv_stream_t *)&p->out[i].pipe, alloc_cb, read_cb);
  }
  *out = p;
  return LF_OK;
}

// Delivers what was held back while the pid was unknown.
static void flush_held(lf_proc *p)
{
  for (int i = 0; i < 3; i++) {
    pipe_reader *r = &p->out[i];
    if (r->buf.len > 0) {
      if (r->stream == 3) {
        deliver_msgs(r, r->eof);
      } else {
        deliver_lines(r, r->eof);
      }
    }
  }
}

void lf_proc_set_pid(lf_proc *p, int64_t pid)
{
  p->pid = pid;
  if (p->cbs.on_pid != NULL) {
    p->cbs.on_pid(p->ud, pid);
  }
  flush_held(p);
}

void lf_proc_exited(lf_proc *p, int64_t exit_status, int term_signal)
{
  p->exited = true;
  p->exit_status = term_signal != 0 ? -1 : exit_status;
  p->term_signal = term_signal;
  maybe_finish(p);
}

void lf_proc_lost(lf_proc *p, const char *reason)
{
  if (p->protocol_error[0] == '\0') {
    snprintf(p->protocol_error, sizeof(p->protocol_error), "%s", reason);
  }
  // Nobody will report this process's end any more: end it, deliver what it wrote, and
  // stop reading (its pipes may never see EOF).
  lf_proc_kill(p, SIGKILL);
  for (int i = 0; i < 3; i++) {
    p->out[i].eof = true;
  }
  flush_held(p);
  for (int i = 0; i < 3; i++) {
    close_reader(&p->out[i]);
  }
  lf_proc_exited(p, -1, 0);
}

int64_t lf_proc_pid(const lf_proc *p)
{
  return p->pid;
}

void lf_proc_kill(lf_proc *p, int sig)
{
  if (p->exited || p->pid <= 0) {
    return;
  }
  if (kill(-(pid_t)p->pid, sig) != 0 && errno == ESRCH) {
    kill((pid_t)p->pid, sig);
  }
}
