// SPDX-License-Identifier: MIT
// Helpers for tests that talk to real servers on loopback: moto's S3 server, the credential
// stub and the fault proxy of tests/s3/. Every server is started here, bound to 127.0.0.1,
// and stopped by its pid at the end of the test (or by the kernel if the test dies first).
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline void th_sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

// The scratch directory of this test (LF_TEST_TMP, made unique by pid and name).
static inline const char *th_tmpdir(const char *name)
{
  static char dir[512];
  const char *base = getenv("LF_TEST_TMP");
  snprintf(dir, sizeof(dir), "%s/%s.%d", base != NULL ? base : "/tmp", name, (int)getpid());
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
  if (system(cmd) != 0) {
    fprintf(stderr, "cannot create %s\n", dir);
    exit(1);
  }
  return dir;
}

static inline pid_t th_spawn(char *const argv[], const char *log)
{
  pid_t pid = fork();
  if (pid == 0) {
    // The server goes with the test even if the test dies (a sanitizer abort, a crash).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (log != NULL) {
      FILE *f = freopen(log, "w", stdout);
      (void)f;
      dup2(1, 2);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static inline void th_kill(pid_t pid)
{
  if (pid > 0) {
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
  }
}

// Waits up to 20 s for a server to write its port into `portfile`. @return the port or 0
static inline int th_wait_portfile(const char *portfile)
{
  for (int i = 0; i < 400; i++) {
    FILE *f = fopen(portfile, "r");
    if (f != NULL) {
      int port = 0;
      int n = fscanf(f, "%d", &port);
      fclose(f);
      if (n == 1 && port > 0) {
        return port;
      }
    }
    th_sleep_ms(50);
  }
  return 0;
}

static inline int th_free_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &len) != 0) {
    close(s);
    return 0;
  }
  int port = ntohs(a.sin_port);
  close(s);
  return port;
}

static inline int th_can_connect(int port)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  int ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(s);
  return ok;
}

// Starts moto's server on a free loopback port; extra environment as "K=V" strings.
// @return its pid (and *port), or -1 after printing why
static inline pid_t th_start_moto(const char *dir, int *port, const char *const *env)
{
  *port = th_free_port();
  char portstr[16], log[600];
  snprintf(portstr, sizeof(portstr), "%d", *port);
  snprintf(log, sizeof(log), "%s/moto-%d.log", dir, *port);
  for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
    putenv((char *)env[i]);
  }
  char *argv[] = {(char *)"python3", (char *)"-m", (char *)"moto.server", (char *)"-H",
                  (char *)"127.0.0.1", (char *)"-p", portstr, NULL};
  pid_t pid = th_spawn(argv, log);
  for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(env[i], "="), env[i]);
    unsetenv(name);
  }
  for (int i = 0; i < 400; i++) {
    if (th_can_connect(*port)) {
      return pid;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      break;
    }
    th_sleep_ms(50);
  }
  fprintf(stderr, "moto did not start (see %s)\n", log);
  th_kill(pid);
  return -1;
}

// Starts a tests/s3/<script> helper that writes its port to a file given as its first
// argument; `args` are passed after it. @return the pid (and *port), or -1
static inline pid_t th_start_helper(const char *dir, const char *script, const char *const *args,
                                    int *port)
{
  static int seq;
  char path[600], portfile[600], log[600];
  snprintf(path, sizeof(path), "%s/tests/s3/%s", LF_SOURCE_DIR, script);
  snprintf(portfile, sizeof(portfile), "%s/%s.%d.port", dir, script, ++seq);
  snprintf(log, sizeof(log), "%s/%s.%d.log", dir, script, seq);
  unlink(portfile);
  char *argv[16] = {(char *)"python3", path, portfile};
  int n = 3;
  for (size_t i = 0; args != NULL && args[i] != NULL && n < 15; i++) {
    argv[n++] = (char *)args[i];
  }
  argv[n] = NULL;
  pid_t pid = th_spawn(argv, log);
  *port = th_wait_portfile(portfile);
  if (*port == 0) {
    fprintf(stderr, "%s did not start (see %s)\n", script, log);
    th_kill(pid);
    return -1;
  }
  return pid;
}
