// SPDX-License-Identifier: MIT
// This file contains both sides of the fork server: the blocking serve loop that forks task
// children in the pre-initialised worker, and the libuv client the scheduler uses to request
// tasks and hear of their pids and exits.
// pipe2 and MSG_CMSG_CLOEXEC are GNU extensions (Linux only, like the rest of proc/).
#define _GNU_SOURCE
#include "proc/forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/dynbuf.h"
#include "core/fs.h"

#define FRAME_MAX (1u << 20)

// ---- shared framing ------------------------------------------------------------------------

static int send_frame(int sock, const char *data, size_t len, const int *fds, int nfds)
{
  unsigned char hdr[4] = {(unsigned char)(len & 0xff), (unsigned char)((len >> 8) & 0xff),
                          (unsigned char)((len >> 16) & 0xff),
                          (unsigned char)((len >> 24) & 0xff)};
  struct iovec iov[2] = {{.iov_base = hdr, .iov_len = 4},
                         {.iov_base = (void *)data, .iov_len = len}};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 3)];
  } ctl;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  if (nfds > 0) {
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  size_t total = 4 + len;
  size_t sent = 0;
  while (sent < total) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    sent += (size_t)n;
    if (sent == total) {
      break;
    }
    // Partial write: resend the rest without the fds.
    msg.msg_control = NULL;
    msg.msg_controllen = 0;
    size_t skip = (size_t)n;
    for (int i = 0; i < 2; i++) {
      size_t take = skip < iov[i].iov_len ? skip : iov[i].iov_len;
      iov[i].iov_base = (char *)iov[i].iov_base + take;
      iov[i].iov_len -= take;
      skip -= take;
    }
  }
  return 0;
}

// ---- server --------------------------------------------------------------------------------

static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int sig)
{
  (void)sig;
  int saved = errno;
  char c = 0;
  ssize_t rc = write(sigchld_pipe[1], &c, 1);
  (void)rc;
  errno = saved;
}

typedef struct child {
  pid_t pid;
  long id;
} child;

typedef struct server {
  int sock;
  child *children;
  size_t nchildren;
  size_t cap;
  lf_dynbuf in;
  int pending_fds[64];
  int npending;
} server;

static void reply(server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(server *s, const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0) {
    send_frame(s->sock, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, NULL, 0);
  }
}

static void reap(server *s)
{
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    for (size_t i = 0; i < s->nchildren; i++) {
      if (s->children[i].pid == pid) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        reply(s, "X%ld %d %d", s->children[i].id, code, sig);
        s->children[i] = s->children[--s->nchildren];
        break;
      }
    }
  }
}

// In the child: the task's fds become 1, 2 and 3; everything of the server is dropped.
static void become_task(server *s, const int fds[3])
{
  close(s->sock);
  close(sigchld_pipe[0]);
  close(sigchld_pipe[1]);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  // A process group of its own: timeouts and interrupts kill the task and its children. The
  // server sets it too (setpgid in both), so the group exists before the pid is reported.
  setpgid(0, 0);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0 && devnull != 0) {
    dup2(devnull, 0);
    close(devnull);
  }
  for (int i = 0; i < 3; i++) {
    if (fds[i] != i + 1) {
      dup2(fds[i], i + 1);
    }
  }
  for (int i = 0; i < 3; i++) {
    if (fds[i] > 3) {
      close(fds[i]);
    }
  }
}

static void handle_request(server *s, const char *data, size_t len, const int fds[3],
                           lf_forkserver_task_fn fn, void *ud)
{
  // "T<id> <payload>"
  char *end = NULL;
  long id = strtol(data + 1, &end, 10);
  const char *payload = end != NULL && *end == ' ' ? end + 1 : end;
  size_t plen = len - (size_t)(payload - data);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    reply(s, "F%ld cannot fork a task process (%s)", id, strerror(errno));
    for (int i = 0; i < 3; i++) {
      close(fds[i]);
    }
    return;
  }
  if (pid == 0) {
    become_task(s, fds);
    int code = fn(ud, payload, plen);
    fflush(stdout);
    fflush(stderr);
    _exit(code);
  }
  setpgid(pid, pid);
  for (int i = 0; i < 3; i++) {
    close(fds[i]);
  }
  if (s->nchildren == s->cap) {
    s->cap = s->cap != 0 ? s->cap * 2 : 64;
    s->children = lf_xrealloc(s->children, s->cap * sizeof(child));
  }
  s->children[s->nchildren++] = (child){.pid = pid, .id = id};
  reply(s, "S%ld %ld", id, (long)pid);
}

// Reads what is available; returns false on EOF or error.
static bool read_sock(server *s)
{
  char buf[65536];
  char ctlbuf[CMSG_SPACE(sizeof(int) * 16)];
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctlbuf;
  msg.msg_controllen = sizeof(ctlbuf);
  ssize_t n = recvmsg(s->sock, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) {
    return errno == EINTR || errno == EAGAIN;
  }
  if (n == 0) {
    return false;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *fds = (int *)(void *)CMSG_DATA(c);
      for (size_t i = 0; i < k; i++) {
        if (s->npending < 64) {
          s->pending_fds[s->npending++] = fds[i];
        } else {
          close(fds[i]);
        }
      }
    }
  }
  return lf_dynbuf_add(&s->in, buf, (size_t)n);
}

lf_status lf_forkserver_serve(int sock, lf_forkserver_task_fn fn, void *ud, lf_err *err)
{
  server s;
  memset(&s, 0, sizeof(s));
  s.sock = sock;
  lf_dynbuf_init(&s.in, FRAME_MAX * 4);
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return LF_ERR(err, LF_ERR_IO, "cannot create a pipe (%s)", strerror(errno));
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  // The server is not interrupted by the terminal: the scheduler decides what to kill.
  signal(SIGINT, SIG_IGN);
  lf_status st = LF_OK;
  for (;;) {
    struct pollfd pfd[2] = {{.fd = sock, .events = POLLIN}, {.fd = sigchld_pipe[0], .events = POLLIN}};
    int rc = poll(pfd, 2, -1);
    if (rc < 0 && errno != EINTR) {
      st = LF_ERR(err, LF_ERR_IO, "fork server: poll failed (%s)", strerror(errno));
      break;
    }
    if (pfd[1].revents & POLLIN) {
      char drain[64];
      while (read(sigchld_pipe[0], drain, sizeof(drain)) > 0) {
      }
      reap(&s);
    }
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!read_sock(&s)) {
        break;
      }
      size_t pos = 0;
      while (s.in.len - pos >= 4) {
        const unsigned char *h = (const unsigned char *)s.in.data + pos;
        uint32_t n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                     (uint32_t)h[3] << 24;
        if (n > FRAME_MAX || n < 2) {
          st = LF_ERR(err, LF_ERR_INTERNAL, "fork server: bad frame of %u bytes", n);
          goto out;
        }
        if (s.in.len - pos - 4 < n) {
          break;
        }
        const char *frame = s.in.data + pos + 4;
        if (frame[0] == 'T' && s.npending >= 3) {
          int fds[3] = {s.pending_fds[0], s.pending_fds[1], s.pending_fds[2]};
          memmove(s.pending_fds, s.pending_fds + 3, sizeof(int) * (size_t)(s.npending - 3));
          s.npending -= 3;
          handle_request(&s, frame, n, fds, fn, ud);
        }
        pos += 4 + n;
      }
      if (pos > 0) {
        memmove(s.in.data, s.in.data + pos, s.in.len - pos);
        s.in.len -= pos;
      }
    }
  }
out:
  // The scheduler is gone: nobody reads the tasks' output any more.
  for (size_t i = 0; i < s.nchildren; i++) {
    kill(-s.children[i].pid, SIGKILL);
  }
  while (waitpid(-1, NULL, 0) > 0) {
  }
  for (int i = 0; i < s.npending; i++) {
    close(s.pending_fds[i]);
  }
  lf_free(s.children);
  lf_dynbuf_free(&s.in);
  close(sigchld_pipe[0]);
  close(sigchld_pipe[1]);
  return st;
}

// ---- client --------------------------------------------------------------------------------

typedef struct pending {
  long id;
  lf_proc *proc;
} pending;

struct lf_forkserver {
  uv_loop_t *loop;
  uv_process_t process;
  uv_poll_t poll;
  int sock;
  long next_id;
  pending *tasks;
  size_t ntasks;
  size_t cap;
  lf_dynbuf in;
  bool dead;
  bool exited;
  int closing;
  bool stopped;
};

static pending *find_task(lf_forkserver *fs, long id)
{
  for (size_t i = 0; i < fs->ntasks; i++) {
    if (fs->tasks[i].id == id) {
      return &fs->tasks[i];
    }
  }
  return NULL;
}

static void drop_task(lf_forkserver *fs, pending *t)
{
  *t = fs->tasks[--fs->ntasks];
}

static void lose_all(lf_forkserver *fs, const char *reason)
{
  while (fs->ntasks > 0) {
    lf_proc *p = fs->tasks[fs->ntasks - 1].proc;
    fs->ntasks--;
    lf_proc_lost(p, reason);
  }
}

static void maybe_free(lf_forkserver *fs)
{
  if (fs->stopped && fs->closing == 0) {
    lf_free(fs->tasks);
    lf_dynbuf_free(&fs->in);
    lf_free(fs);
  }
}

static void closed_cb(uv_handle_t *h)
{
  lf_forkserver *fs = h->data;
  fs->closing--;
  maybe_free(fs);
}

static void handle_reply(lf_forkserver *fs, const char *data, size_t len)
{
  char buf[512];
  size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
  memcpy(buf, data, n);
  buf[n] = '\0';
  char *end = NULL;
  long id = strtol(buf + 1, &end, 10);
  pending *t = find_task(fs, id);
  if (t == NULL) {
    return;
  }
  if (buf[0] == 'S') {
    lf_proc_set_pid(t->proc, strtoll(end, NULL, 10));
  } else if (buf[0] == 'X') {
    long code = strtol(end, &end, 10);
    long sig = strtol(end, NULL, 10);
    lf_proc *p = t->proc;
    drop_task(fs, t);
    lf_proc_exited(p, code, (int)sig);
  } else if (buf[0] == 'F') {
    lf_proc *p = t->proc;
    drop_task(fs, t);
    lf_proc_lost(p, end != NULL && *end == ' ' ? end + 1 : "the fork server failed");
  }
}

static void server_died(lf_forkserver *fs, const char *why)
{
  if (fs->dead) {
    return;
  }
  fs->dead = true;
  uv_poll_stop(&fs->poll);
  lose_all(fs, why);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
  (void)events;
  lf_forkserver *fs = h->data;
  if (status < 0) {
    server_died(fs, "lost the connection to the fork server");
    return;
  }
  for (;;) {
    char buf[65536];
    ssize_t n = recv(fs->sock, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      server_died(fs, "lost the connection to the fork server");
      return;
    }
    if (n == 0) {
      server_died(fs, "the fork server exited");
      return;
    }
    lf_dynbuf_add(&fs->in, buf, (size_t)n);
  }
  size_t pos = 0;
  while (fs->in.len - pos >= 4) {
    const unsigned char *h4 = (const unsigned char *)fs->in.data + pos;
    uint32_t n = (uint32_t)h4[0] | (uint32_t)h4[1] << 8 | (uint32_t)h4[2] << 16 |
                 (uint32_t)h4[3] << 24;
    if (n > FRAME_MAX) {
      server_died(fs, "the fork server sent a malformed reply");
      return;
    }
    if (fs->in.len - pos - 4 < n) {
      break;
    }
    handle_reply(fs, fs->in.data + pos + 4, n);
    pos += 4 + n;
  }
  if (pos > 0) {
    memmove(fs->in.data, fs->in.data + pos, fs->in.len - pos);
    fs->in.len -= pos;
  }
}

static void server_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
  lf_forkserver *fs = proc->data;
  fs->exited = true;
  if (fs->stopped) {
    uv_close((uv_handle_t *)&fs->process, closed_cb);
    return;
  }
  char why[128];
  if (sig != 0) {
    snprintf(why, sizeof(why), "the fork server was killed by signal %d", sig);
  } else {
    snprintf(why, sizeof(why), "the fork server exited with status %lld", (long long)status);
  }
  // Replies still buffered in the socket are delivered first.
  if (!fs->dead) {
    poll_cb(&fs->poll, 0, UV_READABLE);
  }
  server_died(fs, why);
}

lf_status lf_forkserver_start(uv_loop_t *loop, const lf_proc_opts *opts, lf_forkserver **out,
                              lf_err *err)
{
  *out = NULL;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return LF_ERR(err, LF_ERR_IO, "cannot create a socket pair (%s)", strerror(errno));
  }
  lf_forkserver *fs = lf_xcalloc(1, sizeof(*fs));
  fs->loop = loop;
  fs->sock = sv[0];
  lf_dynbuf_init(&fs->in, FRAME_MAX * 4);
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 2;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = sv[1];
  uv_process_options_t po;
  memset(&po, 0, sizeof(po));
  po.file = opts->file;
  po.args = opts->argv;
  po.env = opts->env;
  po.cwd = opts->cwd;
  po.exit_cb = server_exit_cb;
  po.stdio = stdio;
  po.stdio_count = 4;
  fs->process.data = fs;
  int rc = uv_spawn(loop, &fs->process, &po);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    fs->stopped = true;
    fs->closing = 1;
    uv_close((uv_handle_t *)&fs->process, closed_cb);
    return LF_ERR(err, LF_ERR_IO, "cannot start the fork server '%s' (%s)", opts->file,
                  uv_strerror(rc));
  }
  uv_poll_init(loop, &fs->poll, fs->sock);
  fs->poll.data = fs;
  uv_poll_start(&fs->poll, UV_READABLE | UV_DISCONNECT, poll_cb);
  *out = fs;
  return LF_OK;
}

lf_status lf_forkserver_spawn(lf_forkserver *fs, const char *payload, const lf_proc_cbs *cbs,
                              void *ud, lf_proc **out, lf_err *err)
{
  *out = NULL;
  if (fs->dead) {
    return LF_ERR(err, LF_ERR_IO, "the fork server is not running");
  }
  int p[3][2];
  for (int i = 0; i < 3; i++) {
    if (pipe2(p[i], O_CLOEXEC) != 0) {
      int e = errno;
      for (int k = 0; k < i; k++) {
        close(p[k][0]);
        close(p[k][1]);
      }
      return LF_ERR(err, LF_ERR_IO, "cannot create a pipe (%s)", strerror(e));
    }
  }
  long id = ++fs->next_id;
  lf_dynbuf b;
  lf_dynbuf_init(&b, FRAME_MAX);
  lf_dynbuf_addf(&b, "T%ld %s", id, payload);
  int wfds[3] = {p[0][1], p[1][1], p[2][1]};
  int e = send_frame(fs->sock, b.data, b.len, wfds, 3);
  lf_dynbuf_free(&b);
  for (int i = 0; i < 3; i++) {
    close(p[i][1]);
  }
  if (e != 0) {
    for (int i = 0; i < 3; i++) {
      close(p[i][0]);
    }
    return LF_ERR(err, LF_ERR_IO, "cannot reach the fork server (%s)", strerror(e));
  }
  lf_proc *proc = NULL;
  lf_status st = lf_proc_adopt(fs->loop, p[0][0], p[1][0], p[2][0], cbs, ud, &proc, err);
  if (st != LF_OK) {
    return st;
  }
  if (fs->ntasks == fs->cap) {
    fs->cap = fs->cap != 0 ? fs->cap * 2 : 64;
    fs->tasks = lf_xrealloc(fs->tasks, fs->cap * sizeof(pending));
  }
  fs->tasks[fs->ntasks++] = (pending){.id = id, .proc = proc};
  *out = proc;
  return LF_OK;
}

void lf_forkserver_stop(lf_forkserver *fs)
{
  if (fs == NULL || fs->stopped) {
    return;
  }
  fs->stopped = true;
  if (!fs->dead) {
    fs->dead = true;
    lose_all(fs, "the run stopped before the task ended");
  }
  // Closing our end makes the server kill leftovers and exit; its process handle is closed
  // once it has exited, so it is reaped.
  uv_poll_stop(&fs->poll);
  fs->closing = 2;
  uv_close((uv_handle_t *)&fs->poll, closed_cb);
  close(fs->sock);
  fs->sock = -1;
  if (fs->exited) {
    uv_close((uv_handle_t *)&fs->process, closed_cb);
  }
}
