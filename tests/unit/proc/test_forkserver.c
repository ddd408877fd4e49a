// SPDX-License-Identifier: MIT
// Unit tests for proc/forkserver.h, both sides. Run as `test_forkserver serve`, this binary is
// the server: lf_forkserver_serve on fd 3 with a task function that reads a little script
// ("echo X;eecho X;msg X;sleep S;ppid;ids;bg S;exit N;signal N"). Otherwise it starts itself as
// the server (/proc/self/exe) and checks: pids reported, distinct, alive, each task its own
// process group and session; output and messages per task on the right stream; 200 tasks with
// at most 16 at a time; no output delivered before its task's pid (1000 short tasks); exits by
// signal; lf_proc_kill of a forked task and its children; a killed server ending in-flight
// tasks with a protocol error; and lf_forkserver_stop (after everything finished, and with a
// task in flight) letting the loop close with the server reaped. The test process is a child
// subreaper, so tasks orphaned by a killed server are ours.
#define _GNU_SOURCE
#include "proc/forkserver.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "testhelp.h"

#include "proc_testutil.h"

// ---- server side -----------------------------------------------------------------------------

static void put(int fd, const char *s)
{
  (void)lf_fs_write_all(fd, s, strlen(s));
  (void)lf_fs_write_all(fd, "\n", 1);
}

static void sleep_s(double s)
{
  struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int task_fn(void *ud, const char *payload, size_t len)
{
  (void)ud;
  char *copy = lf_xmemdupz(payload, len);
  int code = 0;
  char *save = NULL;
  for (char *cmd = strtok_r(copy, ";", &save); cmd != NULL; cmd = strtok_r(NULL, ";", &save)) {
    char *arg = strchr(cmd, ' ');
    arg = arg != NULL ? arg + 1 : cmd + strlen(cmd);
    char num[64];
    if (strncmp(cmd, "echo ", 5) == 0) {
      put(1, arg);
    } else if (strncmp(cmd, "eecho ", 6) == 0) {
      put(2, arg);
    } else if (strncmp(cmd, "msg ", 4) == 0) {
      size_t n = strlen(arg);
      unsigned char hdr[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 24)};
      (void)lf_fs_write_all(3, hdr, 4);
      (void)lf_fs_write_all(3, arg, n);
    } else if (strncmp(cmd, "sleep ", 6) == 0) {
      sleep_s(strtod(arg, NULL));
    } else if (strcmp(cmd, "ppid") == 0) {
      snprintf(num, sizeof(num), "%ld", (long)getppid());
      put(1, num);
    } else if (strcmp(cmd, "ids") == 0) {
      snprintf(num, sizeof(num), "%ld %ld %ld", (long)getpid(), (long)getpgid(0), (long)getsid(0));
      put(1, num);
    } else if (strncmp(cmd, "bg ", 3) == 0) { // a grandchild in the task's group
      pid_t pid = fork();
      if (pid == 0) {
        sleep_s(strtod(arg, NULL));
        _exit(0);
      }
      snprintf(num, sizeof(num), "%ld", (long)pid);
      put(1, num);
    } else if (strncmp(cmd, "exit ", 5) == 0) {
      code = atoi(arg);
      break;
    } else if (strncmp(cmd, "signal ", 7) == 0) {
      int sig = atoi(arg);
      signal(sig, SIG_DFL);
      raise(sig);
    }
  }
  lf_free(copy);
  return code;
}

// ---- client side -----------------------------------------------------------------------------

static uv_loop_t loop;
static uv_timer_t tick;
static const char *self;

typedef struct task {
  lf_proc *proc;
  int npid;
  int64_t pid;
  bool alive_at_pid;  // kill(pid, 0) == 0 when on_pid came
  int64_t pgid_at_line; // getpgid(pid) at the first stdout line
  int lines_before_pid; // lines and messages delivered before on_pid
  char out[8][64]; // the first stdout lines
  int nout;
  char errl[64];
  int nerr;
  char msg[64];
  int nmsg;
  bool done;
  int64_t status;
  int sig;
  char perr[256];
  bool has_perr;
  int after_exit;
  int kill_sig; // lf_proc_kill with it at the first stdout line
  int index;
} task;

static void (*exit_hook)(task *t);

static void on_line(void *ud, int stream, const char *line, size_t len)
{
  task *t = ud;
  t->after_exit += t->done;
  t->lines_before_pid += t->npid == 0;
  size_t n = len < 63 ? len : 63;
  if (stream == 1) {
    if (t->nout < 8) {
      memcpy(t->out[t->nout], line, n);
      t->out[t->nout][n] = '\0';
    }
    if (t->nout++ == 0) {
      t->pgid_at_line = t->pid > 0 ? getpgid((pid_t)t->pid) : 0;
      if (t->kill_sig != 0) {
        lf_proc_kill(t->proc, t->kill_sig);
      }
    }
  } else if (stream == 2) {
    if (t->nerr++ == 0) {
      memcpy(t->errl, line, n);
      t->errl[n] = '\0';
    }
  }
}

static void on_msg(void *ud, const char *data, size_t len)
{
  task *t = ud;
  t->after_exit += t->done;
  t->lines_before_pid += t->npid == 0;
  if (t->nmsg++ == 0) {
    size_t n = len < 63 ? len : 63;
    memcpy(t->msg, data, n);
    t->msg[n] = '\0';
  }
}

static void on_pid(void *ud, int64_t pid)
{
  task *t = ud;
  t->npid++;
  t->pid = pid;
  t->alive_at_pid = kill((pid_t)pid, 0) == 0;
}

static void on_exit_cb(void *ud, int64_t exit_status, int term_signal, const char *protocol_error)
{
  task *t = ud;
  t->after_exit += t->done;
  t->done = true;
  t->status = exit_status;
  t->sig = term_signal;
  t->has_perr = protocol_error != NULL;
  if (protocol_error != NULL) {
    snprintf(t->perr, sizeof(t->perr), "%s", protocol_error);
  }
  if (exit_hook != NULL) {
    exit_hook(t);
  }
}

static const lf_proc_cbs cbs = {on_line, on_msg, on_pid, on_exit_cb};

static void on_tick(uv_timer_t *h)
{
  (void)h;
}

static int n_done(task *t, int n)
{
  int k = 0;
  for (int i = 0; i < n; i++) {
    k += t[i].done;
  }
  return k;
}

// Runs the loop until `n` tasks are done (or their pids known, with `pids`), or the timeout.
static bool run_tasks(task *t, int n, bool pids, double timeout_s)
{
  uint64_t end = uv_hrtime() + (uint64_t)(timeout_s * 1e9);
  uv_timer_start(&tick, on_tick, 20, 20);
  bool ok = false;
  while (!ok && uv_hrtime() < end) {
    uv_run(&loop, UV_RUN_ONCE);
    int k = 0;
    for (int i = 0; i < n; i++) {
      k += pids ? t[i].npid > 0 && t[i].nout > 0 : t[i].done;
    }
    ok = k == n;
  }
  uv_timer_stop(&tick);
  return ok;
}

static bool settle(void)
{
  return settle_loop(&loop);
}

static bool is_zombie(pid_t pid)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
  char *data = NULL;
  bool z = false;
  if (lf_fs_read_file(path, 4096, &data, NULL, NULL) == LF_OK) {
    const char *p = strrchr(data, ')');
    z = p != NULL && p[1] == ' ' && p[2] == 'Z';
  }
  lf_free(data);
  return z;
}

// Waits for a process that is not libuv's child to be gone (reaped here if orphaned to us).
static bool gone(pid_t pid, double timeout_s)
{
  uint64_t end = uv_hrtime() + (uint64_t)(timeout_s * 1e9);
  for (;;) {
    (void)waitpid(pid, NULL, WNOHANG);
    if ((kill(pid, 0) != 0 && errno == ESRCH) || is_zombie(pid)) {
      return true;
    }
    if (uv_hrtime() > end) {
      return false;
    }
    usleep(20000);
  }
}

static lf_forkserver *start_server(void)
{
  char *argv[] = {(char *)self, (char *)"serve", NULL};
  lf_proc_opts o = {.file = "/proc/self/exe", .argv = argv};
  lf_forkserver *fs = NULL;
  lf_err err = {0};
  lf_status st = lf_forkserver_start(&loop, &o, &fs, &err);
  CHECK_EQ_INT(st, LF_OK);
  if (st != LF_OK) {
    fprintf(stderr, "%s\n", err.msg);
  }
  return fs;
}

static bool spawn(lf_forkserver *fs, const char *payload, task *t)
{
  lf_err err = {0};
  lf_status st = lf_forkserver_spawn(fs, payload, &cbs, t, &t->proc, &err);
  CHECK_EQ_INT(st, LF_OK);
  if (st != LF_OK) {
    fprintf(stderr, "spawn: %s\n", err.msg);
  }
  return st == LF_OK;
}

// The server's pid, from a task that prints its parent's.
static pid_t server_pid(lf_forkserver *fs)
{
  task t = {0};
  spawn(fs, "ppid;exit 0", &t);
  CHECK(run_tasks(&t, 1, false, 30));
  CHECK_EQ_INT(t.status, 0);
  return (pid_t)strtol(t.out[0], NULL, 10);
}

// ---- tests -----------------------------------------------------------------------------------

static void test_basic(lf_forkserver *fs, pid_t spid)
{
  task t[3];
  memset(t, 0, sizeof(t));
  spawn(fs, "echo out0;eecho err0;msg m0;echo out0b;exit 0", &t[0]);
  spawn(fs, "echo slow;sleep 2;ids;exit 4", &t[1]);
  spawn(fs, "ppid;msg hello there;eecho e2;exit 0", &t[2]);
  CHECK(run_tasks(t, 3, false, 60));
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(t[i].npid, 1);
    CHECK(t[i].pid > 0 && t[i].pid != getpid() && t[i].pid != spid);
    CHECK(!t[i].has_perr);
    CHECK_EQ_INT(t[i].after_exit, 0);
  }
  CHECK(t[0].pid != t[1].pid && t[1].pid != t[2].pid && t[0].pid != t[2].pid);
  CHECK_EQ_INT(t[0].nout, 2);
  CHECK_STR(t[0].out[0], "out0");
  CHECK_STR(t[0].out[1], "out0b");
  CHECK_EQ_INT(t[0].nerr, 1);
  CHECK_STR(t[0].errl, "err0");
  CHECK_EQ_INT(t[0].nmsg, 1);
  CHECK_STR(t[0].msg, "m0");
  CHECK_EQ_INT(t[0].status, 0);
  // The sleeping task: alive when its pid came, and its own process group (set by the server
  // and the child both, so it exists before the pid is reported).
  CHECK(t[1].alive_at_pid);
  CHECK_EQ_INT(t[1].pgid_at_line, t[1].pid);
  CHECK_EQ_INT(t[1].nout, 2);
  char want[96];
  snprintf(want, sizeof(want), "%lld %lld ", (long long)t[1].pid, (long long)t[1].pid);
  CHECK(t[1].out[1] != NULL && strncmp(t[1].out[1], want, strlen(want)) == 0);
  CHECK_EQ_INT(t[1].status, 4);
  CHECK_EQ_INT(t[1].nmsg, 0);
  CHECK_EQ_INT(t[1].nerr, 0);
  // A forked child of the server, not of us.
  CHECK_EQ_INT(strtol(t[2].out[0], NULL, 10), spid);
  CHECK_STR(t[2].msg, "hello there");
  CHECK_STR(t[2].errl, "e2");
  CHECK_EQ_INT(t[2].nout, 1);
}

#define MANY 200
#define RACE 1000
#define PAR 16

// A batch of tasks, at most PAR at a time; each next one is launched from inside on_exit, as
// a scheduler does.
static lf_forkserver *batch_fs;
static task batch[RACE];
static int batch_n, batch_next, batch_running, batch_peak;
static bool batch_short; // "echo;msg" only

static void launch_next(void)
{
  int i = batch_next++;
  batch[i].index = i;
  char payload[128];
  if (batch_short) {
    snprintf(payload, sizeof(payload), "echo t%d;msg m%d", i, i);
  } else {
    snprintf(payload, sizeof(payload), "echo t%d;eecho e%d;msg m%d;exit %d", i, i, i, i % 7);
  }
  if (spawn(batch_fs, payload, &batch[i])) {
    batch_running++;
    batch_peak = batch_running > batch_peak ? batch_running : batch_peak;
  }
}

static void batch_exit(task *t)
{
  (void)t;
  batch_running--;
  if (batch_next < batch_n) {
    launch_next();
  }
}

static bool run_batch(lf_forkserver *fs, int n, bool short_tasks)
{
  memset(batch, 0, sizeof(batch));
  batch_fs = fs;
  batch_n = n;
  batch_next = batch_running = batch_peak = 0;
  batch_short = short_tasks;
  exit_hook = batch_exit;
  while (batch_next < PAR) {
    launch_next();
  }
  bool ok = run_tasks(batch, n, false, 300);
  exit_hook = NULL;
  return ok;
}

static void test_many(lf_forkserver *fs)
{
  uint64_t t0 = uv_hrtime();
  CHECK(run_batch(fs, MANY, false));
  int bad_status = 0, bad_out = 0, perr = 0, late = 0, nopid = 0;
  for (int i = 0; i < MANY; i++) {
    task *t = &batch[i];
    char o[16], e[16], m[16];
    snprintf(o, sizeof(o), "t%d", i);
    snprintf(e, sizeof(e), "e%d", i);
    snprintf(m, sizeof(m), "m%d", i);
    bad_status += !t->done || t->status != i % 7 || t->sig != 0;
    bad_out += t->nout != 1 || strcmp(t->out[0], o) != 0 || t->nerr != 1 ||
               strcmp(t->errl, e) != 0 || t->nmsg != 1 || strcmp(t->msg, m) != 0;
    perr += t->has_perr;
    late += t->after_exit;
    nopid += t->npid != 1 || t->pid <= 0;
  }
  CHECK_EQ_INT(n_done(batch, MANY), MANY);
  CHECK_EQ_INT(bad_status, 0);
  CHECK_EQ_INT(bad_out, 0);
  CHECK_EQ_INT(perr, 0);
  CHECK_EQ_INT(late, 0);
  CHECK_EQ_INT(nopid, 0);
  CHECK(batch_peak <= PAR && batch_peak >= 2);
  CHECK_EQ_INT(batch_running, 0);
  printf("%d tasks, at most %d at a time: %.2f s\n", MANY, batch_peak,
         (double)(uv_hrtime() - t0) / 1e9);
}

// No line or message before the task's pid is known: proc.c holds them until lf_proc_set_pid
// "so every line carries it", but flushes them when the pipe reaches EOF first, which a short
// task makes likely. 1000 short tasks make the race show reliably.
static void test_pid_before_output(lf_forkserver *fs)
{
  CHECK(run_batch(fs, RACE, true));
  int early = 0, bad = 0;
  for (int i = 0; i < RACE; i++) {
    early += batch[i].lines_before_pid > 0;
    bad += batch[i].nout != 1 || batch[i].nmsg != 1 || batch[i].status != 0 || batch[i].has_perr;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(early, 0);
  if (early != 0) {
    printf("%d of %d tasks had output delivered before on_pid\n", early, RACE);
  }
}

static void test_signals(lf_forkserver *fs)
{
  task t[2];
  memset(t, 0, sizeof(t));
  spawn(fs, "eecho bye;signal 15", &t[0]);
  spawn(fs, "echo x;signal 9;echo not reached", &t[1]);
  CHECK(run_tasks(t, 2, false, 30));
  CHECK_EQ_INT(t[0].status, -1);
  CHECK_EQ_INT(t[0].sig, SIGTERM);
  CHECK_STR(t[0].errl, "bye");
  CHECK(!t[0].has_perr);
  CHECK_EQ_INT(t[1].status, -1);
  CHECK_EQ_INT(t[1].sig, SIGKILL);
  CHECK_EQ_INT(t[1].nout, 1);
}

// lf_proc_kill on a forked task kills its group: the task and a child it forked.
static void test_kill(lf_forkserver *fs)
{
  task t = {0};
  t.kill_sig = SIGTERM;
  spawn(fs, "bg 100;sleep 100;echo not reached", &t);
  CHECK(run_tasks(&t, 1, false, 30));
  CHECK_EQ_INT(t.status, -1);
  CHECK_EQ_INT(t.sig, SIGTERM);
  CHECK_EQ_INT(t.nout, 1);
  pid_t grandchild = (pid_t)strtol(t.out[0], NULL, 10);
  CHECK(grandchild > 0);
  if (grandchild > 0) {
    CHECK(gone(grandchild, 10));
    kill(grandchild, SIGKILL);
  }
}

static void test_server_killed(void)
{
  lf_forkserver *fs = start_server();
  if (fs == NULL) {
    return;
  }
  pid_t spid = server_pid(fs);
  CHECK(spid > 0);
  task t[3];
  memset(t, 0, sizeof(t));
  for (int i = 0; i < 3; i++) {
    spawn(fs, "echo go;sleep 100", &t[i]);
  }
  CHECK(run_tasks(t, 3, true, 30)); // all running
  CHECK_EQ_INT(n_done(t, 3), 0);
  if (spid > 0) {
    CHECK_EQ_INT(kill(spid, SIGKILL), 0);
  }
  CHECK(run_tasks(t, 3, false, 30)); // ended, not hanging for 100 s
  for (int i = 0; i < 3; i++) {
    CHECK(t[i].has_perr);
    CHECK_CONTAINS(t[i].perr, "fork server");
    CHECK_EQ_INT(t[i].status, -1);
    CHECK_EQ_INT(t[i].after_exit, 0);
  }
  task late = {0};
  lf_err err = {0};
  lf_proc *p = (lf_proc *)&late;
  CHECK_EQ_INT(lf_forkserver_spawn(fs, "echo no", &cbs, &late, &p, &err), LF_ERR_IO);
  CHECK(p == NULL);
  CHECK_CONTAINS(err.msg, "not running");
  // The orphaned tasks are not the server's to kill any more; clean them up here.
  for (int i = 0; i < 3; i++) {
    if (t[i].pid > 0) {
      kill(-(pid_t)t[i].pid, SIGKILL);
      CHECK(gone((pid_t)t[i].pid, 10));
    }
  }
  lf_forkserver_stop(fs);
  CHECK(settle());
  if (spid > 0) {
    CHECK(waitpid(spid, NULL, WNOHANG) == -1 && errno == ECHILD); // reaped by libuv
    CHECK(kill(spid, 0) == -1 && errno == ESRCH);
  }
}

static void test_stop_in_flight(void)
{
  lf_forkserver *fs = start_server();
  if (fs == NULL) {
    return;
  }
  pid_t spid = server_pid(fs);
  task t = {0};
  spawn(fs, "echo go;sleep 100", &t);
  CHECK(run_tasks(&t, 1, true, 30));
  lf_forkserver_stop(fs);
  CHECK(t.done); // reported lost at once
  CHECK(t.has_perr);
  CHECK_CONTAINS(t.perr, "stopped");
  CHECK(settle());
  // The server killed the task as it exited, and was reaped itself.
  if (t.pid > 0) {
    CHECK(gone((pid_t)t.pid, 10));
  }
  if (spid > 0) {
    CHECK(waitpid(spid, NULL, WNOHANG) == -1 && errno == ECHILD);
    CHECK(kill(spid, 0) == -1 && errno == ESRCH);
  }
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "serve") == 0) {
    lf_err err = {0};
    lf_status st = lf_forkserver_serve(3, task_fn, NULL, &err);
    if (st != LF_OK) {
      fprintf(stderr, "serve: %s\n", err.msg);
    }
    return st == LF_OK ? 0 : 1;
  }
  self = argv[0];
  CHECK_EQ_INT(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  signal(SIGPIPE, SIG_IGN);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &tick);

  lf_forkserver *fs = start_server();
  if (fs != NULL) {
    pid_t spid = server_pid(fs);
    CHECK(spid > 0 && spid != getpid());
    test_basic(fs, spid);
    test_many(fs);
    test_pid_before_output(fs);
    test_signals(fs);
    test_kill(fs);
    // Everything finished: stopping lets uv_run return, with the server exited and reaped.
    lf_forkserver_stop(fs);
    CHECK(settle());
    if (spid > 0) {
      CHECK(waitpid(spid, NULL, WNOHANG) == -1 && errno == ECHILD);
      CHECK(kill(spid, 0) == -1 && errno == ESRCH);
    }
  }
  lf_forkserver_stop(NULL); // a no-op
  test_server_killed();
  test_stop_in_flight();

  uv_close((uv_handle_t *)&tick, NULL);
  CHECK(settle());
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  while (waitpid(-1, NULL, WNOHANG) > 0) { // orphans that ended here (we are their reaper)
  }
  return TEST_REPORT();
}
