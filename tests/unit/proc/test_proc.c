// SPDX-License-Identifier: MIT
// Unit tests for proc/proc.h on a real libuv loop, driving `/bin/sh -c` children: stdout and
// stderr split into lines (order, stream numbers, CRLF, a final line without a newline, lines
// longer than LF_PROC_MAX_LINE in pieces), fd-3 messages (several per write, split across
// writes, oversized and truncated ones), exit codes and signals, on_exit only after all output,
// on_pid, killing the whole process group, a missing program, the drain period for children
// that leave a process holding their pipes, and lf_proc_adopt with pipes made here.
// The test process is a child subreaper, so grandchildren orphaned by a test are reaped here.
#define _GNU_SOURCE
#include "proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "testhelp.h"

#include "proc_testutil.h"

static uv_loop_t loop;
static uv_timer_t tick;
static char *scratch;

// ---- recording callbacks ---------------------------------------------------------------------

typedef struct ev {
  char kind; // 'L' line, 'M' message, 'P' pid
  int stream;
  char *data; // NUL-terminated copy
  size_t len;
} ev;

typedef struct rec {
  ev *evs;
  size_t nev, cap;
  lf_proc *proc;
  int npid, sig;
  int64_t pid, status;
  bool done, got_first;
  char *perr;
  int after_exit;    // callbacks that came after on_exit
  int kill_sig;      // lf_proc_kill with this at the first stdout line (0: never)
  int64_t first_num; // the first stdout line as a number
  uint64_t t_start, t_exit;
} rec;

static void push(rec *r, char kind, int stream, const char *data, size_t len)
{
  r->after_exit += r->done;
  if (r->nev == r->cap) {
    r->cap = r->cap != 0 ? r->cap * 2 : 64;
    r->evs = lf_xrealloc(r->evs, r->cap * sizeof(ev));
  }
  r->evs[r->nev++] = (ev){.kind = kind, .stream = stream, .data = lf_xmemdupz(data, len),
                          .len = len};
}

static void cb_line(void *ud, int stream, const char *line, size_t len)
{
  rec *r = ud;
  bool first_out = stream == 1 && !r->got_first;
  push(r, 'L', stream, line, len);
  if (first_out) {
    r->got_first = true;
    r->first_num = strtoll(r->evs[r->nev - 1].data, NULL, 10);
    if (r->kill_sig != 0) {
      lf_proc_kill(r->proc, r->kill_sig);
    }
  }
}

static void cb_msg(void *ud, const char *data, size_t len)
{
  push(ud, 'M', 3, data, len);
}

static void cb_pid(void *ud, int64_t pid)
{
  rec *r = ud;
  r->npid++;
  r->pid = pid;
  push(r, 'P', 0, "", 0);
}

static void cb_exit(void *ud, int64_t exit_status, int term_signal, const char *protocol_error)
{
  rec *r = ud;
  r->after_exit += r->done;
  r->done = true;
  r->status = exit_status;
  r->sig = term_signal;
  r->perr = protocol_error != NULL ? lf_xstrdup(protocol_error) : NULL;
  r->t_exit = uv_hrtime();
}

static const lf_proc_cbs cbs = {cb_line, cb_msg, cb_pid, cb_exit};

static void rec_free(rec *r)
{
  if (!r->done) {
    return; // callbacks may still come: leak rather than free under them
  }
  for (size_t i = 0; i < r->nev; i++) {
    lf_free(r->evs[i].data);
  }
  lf_free(r->evs);
  lf_free(r->perr);
  memset(r, 0, sizeof(*r));
}

static size_t count(const rec *r, char kind, int stream)
{
  size_t n = 0;
  for (size_t i = 0; i < r->nev; i++) {
    n += r->evs[i].kind == kind && (kind == 'P' || r->evs[i].stream == stream);
  }
  return n;
}

// The k-th event of a kind on a stream, or NULL.
static const ev *nth(const rec *r, char kind, int stream, size_t k)
{
  for (size_t i = 0; i < r->nev; i++) {
    if (r->evs[i].kind == kind && r->evs[i].stream == stream && k-- == 0) {
      return &r->evs[i];
    }
  }
  return NULL;
}

static const char *nth_str(const rec *r, char kind, int stream, size_t k)
{
  const ev *e = nth(r, kind, stream, k);
  return e != NULL ? e->data : NULL;
}

// The lines of a stream joined with '|' (for short outputs).
static const char *joined(const rec *r, int stream)
{
  static char buf[1024];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < r->nev; i++) {
    const ev *e = &r->evs[i];
    if (e->kind == 'L' && e->stream == stream && n + e->len + 2 < sizeof(buf)) {
      n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n > 0 ? "|" : "", e->data);
    }
  }
  return buf;
}

static double elapsed(const rec *r) // seconds from spawn to on_exit
{
  return (double)(r->t_exit - r->t_start) / 1e9;
}

// ---- loop helpers ----------------------------------------------------------------------------

static void on_tick(uv_timer_t *t)
{
  (void)t;
}

// Runs the loop until `*flag` (never if NULL) or `timeout_s` seconds passed. @return *flag.
static bool run_until(const bool *flag, double timeout_s)
{
  uint64_t end = uv_hrtime() + (uint64_t)(timeout_s * 1e9);
  uv_timer_start(&tick, on_tick, 20, 20);
  while ((flag == NULL || !*flag) && uv_hrtime() < end) {
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&tick);
  return flag != NULL && *flag;
}

static bool settle(void)
{
  return settle_loop(&loop);
}

static lf_status spawn_sh(const char *script, rec *r, char **env, const char *cwd, lf_err *err)
{
  char *argv[] = {(char *)"sh", (char *)"-c", (char *)script, NULL};
  lf_proc_opts o = {.file = "/bin/sh", .argv = argv, .env = env, .cwd = cwd};
  r->t_start = uv_hrtime();
  return lf_proc_spawn(&loop, &o, &cbs, r, &r->proc, err);
}

// Runs a script to its end; the record holds what came back.
static void run_sh(const char *script, rec *r)
{
  lf_err err = {0};
  CHECK_EQ_INT(spawn_sh(script, r, NULL, NULL, &err), LF_OK);
  CHECK(run_until(&r->done, 30));
  CHECK(settle());
}

// Waits up to `timeout_s` for a process that is not libuv's child to be gone (reaping it if it
// was orphaned to us; a zombie someone else must reap also counts as gone).
static bool gone(pid_t pid, double timeout_s)
{
  uint64_t end = uv_hrtime() + (uint64_t)(timeout_s * 1e9);
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
  for (;;) {
    (void)waitpid(pid, NULL, WNOHANG);
    char *stat = NULL;
    lf_status st = lf_fs_read_file(path, 4096, &stat, NULL, NULL);
    const char *paren = st == LF_OK ? strrchr(stat, ')') : NULL;
    bool zombie = paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
    lf_free(stat);
    if ((kill(pid, 0) != 0 && errno == ESRCH) || zombie) {
      return true;
    }
    if (uv_hrtime() > end) {
      return false;
    }
    usleep(20000);
  }
}

static int count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d != NULL) {
    while (readdir(d) != NULL) {
      n++;
    }
    closedir(d);
  }
  return n;
}

// ---- tests -----------------------------------------------------------------------------------

static void test_lines(void)
{
  rec r = {0};
  run_sh("echo a; echo b >&2; echo; printf 'c\\r\\n'; printf 'x\\ry\\n'; printf 'e\\r\\n' >&2;"
         " echo f >&2; printf tail",
         &r);
  CHECK(r.done);
  // CRLF stripped, a CR inside a line kept, an empty line, the last line without a newline.
  CHECK_EQ_INT(count(&r, 'L', 1), 5);
  CHECK_STR(joined(&r, 1), "a||c|x\ry|tail");
  CHECK_STR(nth_str(&r, 'L', 1, 1), "");
  CHECK_EQ_INT(count(&r, 'L', 2), 3);
  CHECK_STR(joined(&r, 2), "b|e|f");
  CHECK_EQ_INT(count(&r, 'M', 3), 0);
  CHECK(r.status == 0 && r.sig == 0 && r.perr == NULL);
  CHECK_EQ_INT(r.after_exit, 0);
  rec_free(&r);
}

static bool ev_eq(const ev *e, const char *data, size_t len)
{
  return e != NULL && e->len == len && memcmp(e->data, data, len) == 0;
}

static bool all_bytes(const ev *e, char c, size_t len)
{
  if (e == NULL || e->len != len) {
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    if (e->data[i] != c) {
      return false;
    }
  }
  return true;
}

static void test_long_line(void)
{
  rec r = {0};
  size_t m = LF_PROC_MAX_LINE;
  char *script =
      lf_xasprintf("head -c %zu /dev/zero | tr '\\000' x; echo; echo after", 2 * m + 100);
  run_sh(script, &r);
  lf_free(script);
  CHECK_EQ_INT(count(&r, 'L', 1), 4);
  CHECK(all_bytes(nth(&r, 'L', 1, 0), 'x', m));
  CHECK(all_bytes(nth(&r, 'L', 1, 1), 'x', m));
  CHECK(all_bytes(nth(&r, 'L', 1, 2), 'x', 100));
  CHECK(ev_eq(nth(&r, 'L', 1, 3), "after", 5));
  rec_free(&r);
}

// A line of exactly LF_PROC_MAX_LINE bytes is not "longer than" the limit: one line, and no
// spurious empty line after it; the same for MAX_LINE - 1 bytes plus CRLF.
static void test_line_exactly_max(void)
{
  rec r = {0};
  size_t m = LF_PROC_MAX_LINE;
  char *script = lf_xasprintf("head -c %zu /dev/zero | tr '\\000' y; echo; echo after;"
                              " head -c %zu /dev/zero | tr '\\000' z; printf '\\r\\n'; echo end",
                              m, m - 1);
  run_sh(script, &r);
  lf_free(script);
  CHECK_EQ_INT(count(&r, 'L', 1), 4);
  CHECK(all_bytes(nth(&r, 'L', 1, 0), 'y', m));
  CHECK(ev_eq(nth(&r, 'L', 1, 1), "after", 5));
  CHECK(all_bytes(nth(&r, 'L', 1, 2), 'z', m - 1));
  CHECK(ev_eq(nth(&r, 'L', 1, 3), "end", 3));
  rec_free(&r);
}

static void test_messages(void)
{
  rec r = {0};
  // Four messages in one printf (one with NULs, one empty); one split inside its payload and
  // one inside its header, each with a sleep in between; then 1 MiB.
  run_sh("printf '\\005\\000\\000\\000hello\\004\\000\\000\\000a\\000b\\000"
         "\\000\\000\\000\\000\\003\\000\\000\\000xyz' >&3;"
         " printf '\\012\\000\\000\\000hello' >&3; sleep 0.3; printf 'world' >&3;"
         " printf '\\002\\000' >&3; sleep 0.3; printf '\\000\\000ok' >&3;"
         " printf '\\000\\000\\020\\000' >&3; head -c 1048576 /dev/zero | tr '\\000' z >&3;"
         " echo done",
         &r);
  CHECK_EQ_INT(count(&r, 'M', 3), 7);
  CHECK(ev_eq(nth(&r, 'M', 3, 0), "hello", 5));
  CHECK(ev_eq(nth(&r, 'M', 3, 1), "a\0b\0", 4));
  CHECK(ev_eq(nth(&r, 'M', 3, 2), "", 0));
  CHECK(ev_eq(nth(&r, 'M', 3, 3), "xyz", 3));
  CHECK(ev_eq(nth(&r, 'M', 3, 4), "helloworld", 10));
  CHECK(ev_eq(nth(&r, 'M', 3, 5), "ok", 2));
  CHECK(all_bytes(nth(&r, 'M', 3, 6), 'z', 1048576));
  CHECK_STR(joined(&r, 1), "done");
  CHECK(r.perr == NULL && r.status == 0);
  rec_free(&r);
}

static void test_bad_messages(void)
{
  // LF_PROC_MAX_MSG + 1 = 0x04000001: refused at once, and the child is killed.
  rec r = {0};
  run_sh("printf '\\003\\000\\000\\000abc' >&3; printf '\\001\\000\\000\\004' >&3; sleep 100",
         &r);
  CHECK(r.done && elapsed(&r) < 30);
  CHECK_CONTAINS(r.perr, "limit");
  CHECK(r.status == -1 && r.sig == SIGKILL);
  CHECK_EQ_INT(count(&r, 'M', 3), 1);
  CHECK(ev_eq(nth(&r, 'M', 3, 0), "abc", 3)); // the good one before it still arrived
  rec_free(&r);

  // A message cut short by the end of the pipe.
  rec t = {0};
  run_sh("printf '\\002\\000\\000\\000hi\\012\\000\\000\\000abc' >&3; echo out; exit 0", &t);
  CHECK(t.done && t.status == 0);
  CHECK_CONTAINS(t.perr, "middle of a message");
  CHECK_EQ_INT(count(&t, 'M', 3), 1);
  CHECK(ev_eq(nth(&t, 'M', 3, 0), "hi", 2));
  CHECK_STR(joined(&t, 1), "out");
  rec_free(&t);
}

static void test_exit(void)
{
  rec a = {0};
  run_sh("echo x; exit 3", &a);
  CHECK_EQ_INT(a.status, 3);
  CHECK(a.sig == 0 && a.perr == NULL);
  rec_free(&a);

  rec b = {0};
  run_sh("echo before; kill -9 $$; echo after", &b);
  CHECK_EQ_INT(b.status, -1);
  CHECK_EQ_INT(b.sig, SIGKILL);
  CHECK_STR(joined(&b, 1), "before");
  rec_free(&b);
}

// Lots of output, then a quick exit: on_exit comes after every line and message.
static void test_exit_after_output(void)
{
  rec r = {0};
  run_sh("i=0; while [ $i -lt 3000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done;"
         " i=0; while [ $i -lt 50 ]; do printf '\\003\\000\\000\\000msg' >&3; i=$((i+1)); done;"
         " printf last; exit 5",
         &r);
  CHECK(r.done);
  CHECK_EQ_INT(r.status, 5);
  CHECK_EQ_INT(count(&r, 'L', 1), 3001);
  CHECK_EQ_INT(count(&r, 'L', 2), 3000);
  CHECK_EQ_INT(count(&r, 'M', 3), 50);
  CHECK_STR(nth_str(&r, 'L', 1, 3000), "last");
  CHECK_STR(nth_str(&r, 'L', 2, 2999), "e2999");
  CHECK_EQ_INT(r.after_exit, 0);
  // Order within a stream: o0..o2999 in sequence.
  int bad = 0;
  for (size_t i = 0; i < 3000; i++) {
    char want[16];
    snprintf(want, sizeof(want), "o%zu", i);
    const char *got = nth_str(&r, 'L', 1, i);
    bad += got == NULL || strcmp(got, want) != 0;
  }
  CHECK_EQ_INT(bad, 0);
  rec_free(&r);
}

static void test_pid_env_cwd(void)
{
  rec r = {0};
  lf_err err = {0};
  char *env[] = {(char *)"LF_PROC_TEST=bar baz", (char *)"PATH=/usr/bin:/bin", NULL};
  lf_status st = spawn_sh("echo $$; echo \"$LF_PROC_TEST\"; pwd; read x; echo rc=$?", &r, env,
                          scratch, &err);
  CHECK_EQ_INT(st, LF_OK);
  CHECK(r.proc != NULL);
  // on_pid came from inside lf_proc_spawn, with the real pid of the (not yet reaped) child.
  CHECK(r.npid == 1 && r.nev >= 1 && r.evs[0].kind == 'P');
  CHECK(r.pid > 0 && r.pid != getpid() && lf_proc_pid(r.proc) == r.pid);
  CHECK_EQ_INT(kill((pid_t)r.pid, 0), 0);
  CHECK(run_until(&r.done, 30));
  CHECK(settle());
  CHECK_EQ_INT(r.first_num, r.pid);     // the shell's $$ is the pid reported
  CHECK_STR(nth_str(&r, 'L', 1, 1), "bar baz");
  CHECK_STR(nth_str(&r, 'L', 1, 2), scratch);
  CHECK_STR(nth_str(&r, 'L', 1, 3), "rc=1"); // stdin is at EOF (/dev/null)
  CHECK(r.npid == 1 && r.status == 0);
  rec_free(&r);
}

static void test_kill_group(void)
{
  rec r = {0};
  r.kill_sig = SIGTERM;
  run_sh("sleep 100 & echo $!; wait; echo not-killed", &r);
  CHECK(r.done && elapsed(&r) < 30);
  CHECK(r.status == -1 && r.sig == SIGTERM);
  CHECK(r.first_num > 0);
  CHECK_EQ_INT(count(&r, 'L', 1), 1); // "not-killed" never printed
  if (r.first_num > 0) {
    CHECK(gone((pid_t)r.first_num, 10)); // the grandchild went with the group
    kill((pid_t)r.first_num, SIGKILL);
  }
  rec_free(&r);
}

static void test_missing_program(void)
{
  rec r = {0};
  lf_err err = {0};
  char *argv[] = {(char *)"nope", NULL};
  lf_proc_opts o = {.file = "/nonexistent/lf-no-such-program", .argv = argv};
  lf_proc *p = (lf_proc *)&r; // must be reset to NULL
  lf_status st = lf_proc_spawn(&loop, &o, &cbs, &r, &p, &err);
  CHECK(st == LF_ERR_IO && p == NULL);
  CHECK_CONTAINS(err.msg, "/nonexistent/lf-no-such-program");
  CHECK(settle()); // the handles it made are closed and freed (the sanitizer build checks)
  CHECK(r.nev == 0 && !r.done && uv_loop_alive(&loop) == 0);
}

static void test_leftover_child(void)
{
  rec r = {0};
  run_sh("sleep 30 & echo $!; echo hi; echo warn >&2", &r);
  CHECK(r.done && elapsed(&r) < 10); // drain period 2 s, not the 30 s of the leftover
  CHECK(r.status == 0 && r.perr == NULL);
  CHECK_STR(nth_str(&r, 'L', 1, 1), "hi");
  CHECK_STR(joined(&r, 2), "warn");
  if (r.first_num > 0) {
    CHECK_EQ_INT(kill((pid_t)r.first_num, 0), 0); // it was still there: the drain did it
    kill((pid_t)r.first_num, SIGKILL);
    CHECK(gone((pid_t)r.first_num, 10));
  }
  rec_free(&r);
}

// Three pipes (make) or the closing of their write ends.
static void pipes(int p[3][2], bool make)
{
  for (int i = 0; i < 3; i++) {
    if (make) {
      CHECK_EQ_INT(pipe2(p[i], O_CLOEXEC), 0);
    } else {
      close(p[i][1]);
    }
  }
}

static void test_adopt(void)
{
  int p[3][2];
  pipes(p, true);
  rec r = {0};
  lf_err err = {0};
  CHECK_EQ_INT(lf_proc_adopt(&loop, p[0][0], p[1][0], p[2][0], &cbs, &r, &r.proc, &err), LF_OK);
  CHECK_EQ_INT(lf_fs_write_all(p[0][1], "early\n", 6), 0);
  run_until(NULL, 0.2);
  CHECK(r.nev == 0 && lf_proc_pid(r.proc) == 0); // held until the pid is known
  lf_proc_set_pid(r.proc, 987654);
  CHECK(r.npid == 1 && r.pid == 987654 && lf_proc_pid(r.proc) == 987654);
  CHECK(r.nev == 2 && r.evs[0].kind == 'P' && r.evs[1].kind == 'L');
  CHECK_STR(nth_str(&r, 'L', 1, 0), "early");
  CHECK_EQ_INT(lf_fs_write_all(p[1][1], "warn\r\n", 6), 0);
  CHECK_EQ_INT(lf_fs_write_all(p[2][1], "\002\000\000\000hi", 6), 0);
  CHECK_EQ_INT(lf_fs_write_all(p[0][1], "late", 4), 0);
  lf_proc_exited(r.proc, 7, 0);
  run_until(NULL, 0.2);
  CHECK(!r.done); // the pipes are still open
  CHECK_STR(nth_str(&r, 'L', 2, 0), "warn");
  CHECK(ev_eq(nth(&r, 'M', 3, 0), "hi", 2));
  pipes(p, false);
  CHECK(run_until(&r.done, 10));
  CHECK(settle());
  CHECK_EQ_INT(r.status, 7);
  CHECK(r.sig == 0 && r.perr == NULL);
  CHECK_STR(joined(&r, 1), "early|late");
  CHECK_EQ_INT(r.after_exit, 0);
  rec_free(&r);

  // Killed by a signal.
  pipes(p, true);
  rec s = {0};
  CHECK_EQ_INT(lf_proc_adopt(&loop, p[0][0], p[1][0], p[2][0], &cbs, &s, &s.proc, &err), LF_OK);
  lf_proc_set_pid(s.proc, 987655);
  pipes(p, false);
  lf_proc_exited(s.proc, 0, SIGTERM);
  CHECK(run_until(&s.done, 10));
  CHECK(settle());
  CHECK(s.status == -1 && s.sig == SIGTERM);
  rec_free(&s);

  // Lost: on_exit comes at once even though nobody closed the pipes.
  pipes(p, true);
  rec l = {0};
  CHECK_EQ_INT(lf_proc_adopt(&loop, p[0][0], p[1][0], p[2][0], &cbs, &l, &l.proc, &err), LF_OK);
  lf_proc_set_pid(l.proc, 987656);
  CHECK_EQ_INT(lf_fs_write_all(p[0][1], "one\n", 4), 0);
  run_until(NULL, 0.2);
  CHECK_STR(nth_str(&l, 'L', 1, 0), "one");
  lf_proc_lost(l.proc, "the reporter died");
  CHECK(l.done && l.status == -1 && l.sig == 0);
  CHECK_STR(l.perr, "the reporter died");
  CHECK(settle());
  pipes(p, false);
  rec_free(&l);
}

// An fd lf_proc_adopt cannot watch: LF_ERR_IO, every fd closed, and no handle left behind in the
// loop (uv_loop_close succeeds; the sanitizer build checks that nothing leaks).
static void test_adopt_bad_fd(void)
{
  uv_loop_t l2;
  CHECK_EQ_INT(uv_loop_init(&l2), 0);
  int a[2], c[2];
  CHECK_EQ_INT(pipe2(a, O_CLOEXEC), 0);
  CHECK_EQ_INT(pipe2(c, O_CLOEXEC), 0);
  rec r = {0};
  lf_err err = {0};
  lf_proc *p = (lf_proc *)&r; // must be reset to NULL
  CHECK_EQ_INT(lf_proc_adopt(&l2, a[0], -1, c[0], &cbs, &r, &p, &err), LF_ERR_IO);
  CHECK(p == NULL);
  CHECK_CONTAINS(err.msg, "pipe");
  CHECK(fcntl(a[0], F_GETFD) == -1 && errno == EBADF); // taken over and closed
  CHECK(fcntl(c[0], F_GETFD) == -1 && errno == EBADF);
  uv_run(&l2, UV_RUN_DEFAULT);
  CHECK(r.nev == 0 && !r.done);
  // Every handle lf_proc_adopt made is closed, so the loop can close (not UV_EBUSY).
  CHECK_EQ_INT(uv_loop_close(&l2), 0);
  close(a[1]);
  close(c[1]);
}

int main(void)
{
  const char *base = getenv("LF_TEST_TMP");
  lf_err err = {0};
  if (base == NULL || base[0] == '\0') {
    base = "/tmp";
  } else if (lf_fs_mkdirs(base, &err) != LF_OK) {
    fprintf(stderr, "cannot create LF_TEST_TMP: %s\n", err.msg);
    return 1;
  }
  char *tmpl = lf_xasprintf("%s/test_proc.XXXXXX", base);
  if (mkdtemp(tmpl) == NULL) {
    fprintf(stderr, "mkdtemp '%s' failed: %s\n", tmpl, strerror(errno));
    return 1;
  }
  scratch = realpath(tmpl, NULL); // absolute and resolved, as `pwd` in the child prints it
  lf_free(tmpl);
  // Grandchildren orphaned by a test become ours, so the test can reap and check them.
  CHECK_EQ_INT(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  signal(SIGPIPE, SIG_IGN);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &tick);

  test_lines(); // also makes the loop open its lazily created fds
  int fds_before = count_fds();
  test_long_line();
  test_line_exactly_max();
  test_messages();
  test_bad_messages();
  test_exit();
  test_exit_after_output();
  test_pid_env_cwd();
  test_kill_group();
  test_missing_program();
  test_leftover_child();
  test_adopt();
  CHECK_EQ_INT(count_fds(), fds_before); // no fd leaked by any of the above
  test_adopt_bad_fd();

  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  while (waitpid(-1, NULL, WNOHANG) > 0) { // orphans that ended here (we are their reaper)
  }
  CHECK_EQ_INT(lf_fs_rmtree(scratch, &err), LF_OK);
  free(scratch);
  return TEST_REPORT();
}
