// SPDX-License-Identifier: MIT
// Fault injection: the S3 client behind tests/s3/fault_proxy.py (in front of moto) that
// drops and resets connections, answers 500/503, truncates and stalls bodies, and reports
// errors inside 200s. Transient faults are retried and the transfer completes with exactly
// the right bytes; permanent ones fail at once; when the attempts run out the failure is
// clear and nothing partial is left behind. Never silently truncated data.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aws/aws_http.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "s3/s3.h"
#include "s3/s3_testutil.h"
#include "testhelp.h"

#define MIB ((size_t)1 << 20)
#define BUCKET "lf-faults"

static int proxy_port;
static const char *dir;

static void set_faults(const char *json)
{
  char cmd[2048];
  snprintf(cmd, sizeof(cmd), "curl -sf -o /dev/null -X POST --data-binary '%s' "
                             "http://127.0.0.1:%d/__faults__", json, proxy_port);
  CHECK(system(cmd) == 0);
}

// The proxy's report (GET /__faults__), or NULL; free with lf_free.
static char *report(void)
{
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/__faults__", proxy_port);
  lf_aws_http_resp r;
  lf_err err = {0};
  if (lf_aws_http_fetch("GET", url, NULL, 5000, 1 << 20, &r, &err) != LF_OK) {
    return NULL;
  }
  return r.body;
}

// How many requests met a fault since the last set_faults.
static int hits(void)
{
  char *doc = report();
  int n = doc != NULL ? 0 : -1;
  for (const char *p = doc; p != NULL && (p = strstr(p, "[\"")) != NULL; p++) {
    n++;
  }
  lf_free(doc);
  return n;
}

// How many client connections sent requests through the proxy since the last set_faults.
static int ports(void)
{
  char *doc = report();
  const char *p = doc != NULL ? strstr(doc, "\"ports\": ") : NULL;
  int n = p != NULL ? atoi(p + 9) : -1;
  lf_free(doc);
  return n;
}

static char *pattern(size_t n, unsigned seed)
{
  char *p = lf_xmalloc(n > 0 ? n : 1);
  uint32_t v = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    v = v * 1103515245u + 12345u;
    p[i] = (char)(v >> 16);
  }
  return p;
}

static bool get_equals(lf_s3 *s3, const char *key, const char *data, size_t n, lf_err *err)
{
  char *got = NULL;
  size_t len = 0;
  lf_status st = lf_s3_get(s3, BUCKET, key, 0, &got, &len, err);
  bool same = st == LF_OK && len == n && memcmp(got, data, n) == 0;
  lf_free(got);
  return same;
}

// For each fault kind: `times` GETs of `key` meet it, and the GET still returns exactly the
// object, with every fault met.
static void faulted_gets(lf_s3 *s3, const char *key, const char *data, size_t n,
                         const char *const *kinds, size_t nkinds, int times)
{
  for (size_t i = 0; i < nkinds; i++) {
    char rules[256];
    snprintf(rules, sizeof(rules), "[{\"match\": \"GET /lf-faults/%s\", \"fault\": \"%s\", "
                                   "\"times\": %d}]", key, kinds[i], times);
    set_faults(rules);
    lf_err err = {0};
    bool ok = get_equals(s3, key, data, n, &err);
    if (!ok) {
      fprintf(stderr, "fault %s: %s\n", kinds[i], err.msg);
    }
    CHECK(ok);
    CHECK_EQ_INT(hits(), times);
  }
}

static void test_transient_gets(lf_s3 *s3, lf_s3 *direct)
{
  size_t n = 11 * MIB + 3; // three ranged parts
  char *data = pattern(n, 5);
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_put(direct, BUCKET, "big", data, n, false, NULL, &err), LF_OK);
  const char *kinds[] = {"drop", "reset", "500", "503", "truncate", "stall"};
  // Two faults on the whole object's requests: the first part and a later one may both meet
  // one; each attempt is retried.
  faulted_gets(s3, "big", data, n, kinds, sizeof(kinds) / sizeof(kinds[0]), 2);
  // Into a file: a truncated part is fetched again, the file is whole.
  set_faults("[{\"match\": \"GET /lf-faults/big\", \"fault\": \"truncate\", \"times\": 3}]");
  char *path = lf_path_join(dir, "big.out");
  CHECK_EQ_INT(lf_s3_get_file(s3, BUCKET, "big", path, &err), LF_OK);
  char *got = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_fs_read_file(path, n + 1, &got, &len, &err), LF_OK);
  CHECK(len == n && memcmp(got, data, n) == 0);
  CHECK_EQ_INT(hits(), 3);
  lf_free(got);
  lf_free(path);
  lf_free(data);
}

// A PUT through the faults given succeeds, meeting `want_hits` of them; the object reads back.
static void faulted_put(lf_s3 *s3, lf_s3 *direct, const char *key, const char *data, size_t n,
                        const char *faults, int want_hits)
{
  lf_err err = {0};
  set_faults(faults);
  lf_status st = lf_s3_put(s3, BUCKET, key, data, n, false, NULL, &err);
  if (st != LF_OK) {
    fprintf(stderr, "put %s through %s: %s\n", key, faults, err.msg);
  }
  CHECK_EQ_INT(st, LF_OK);
  CHECK_EQ_INT(hits(), want_hits);
  CHECK(get_equals(direct, key, data, n, &err));
  lf_err_clear(&err);
}

static void test_transient_puts(lf_s3 *s3, lf_s3 *direct)
{
  lf_err err = {0};
  // A single PUT answered 503 twice, then accepted.
  set_faults("[{\"match\": \"PUT /lf-faults/small\", \"fault\": \"503\", \"times\": 2}]");
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "small", "payload", 7, false, NULL, &err), LF_OK);
  CHECK_EQ_INT(hits(), 2);
  CHECK(get_equals(direct, "small", "payload", 7, &err));
  // Multipart: a part dropped, another 500, the completion answered 200 + <Error>.
  size_t n = 12 * MIB + 1;
  char *data = pattern(n, 8);
  faulted_put(s3, direct, "mp", data, n,
              "[{\"match\": \"partNumber=2\", \"fault\": \"drop\", \"times\": 1},"
              " {\"match\": \"partNumber=3\", \"fault\": \"500\", \"times\": 1},"
              " {\"match\": \"POST /lf-faults/mp?uploadId\", \"fault\": \"error200\", "
              "\"times\": 1}]",
              3);
  lf_free(data);
}

static void test_permanent_and_exhausted(lf_s3 *s3, lf_s3 *direct)
{
  lf_err err = {0};
  CHECK_EQ_INT(lf_s3_put(direct, BUCKET, "k", "value", 5, false, NULL, &err), LF_OK);
  // No answer at all for longer than the stall timeout: the request is sent again.
  set_faults("[{\"match\": \"GET /lf-faults/k\", \"fault\": \"stall_head\", \"times\": 1}]");
  CHECK(get_equals(s3, "k", "value", 5, &err));
  CHECK_EQ_INT(hits(), 1);
  // 403 is permanent: one request, a clear message.
  set_faults("[{\"match\": \"GET /lf-faults/k\", \"fault\": \"403\", \"times\": 5}]");
  char *got = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "k", 0, &got, &len, &err), LF_ERR_STORE);
  CHECK_STR(err.msg, "cannot get 's3://lf-faults/k' (403 AccessDenied: Access Denied)");
  CHECK_EQ_INT(hits(), 1);
  CHECK(got == NULL);
  lf_err_clear(&err);
  // 503 on every attempt: it gives up after max_attempts (4 here) and says so.
  set_faults("[{\"match\": \"GET /lf-faults/k\", \"fault\": \"503\", \"times\": 10}]");
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "k", 0, &got, &len, &err), LF_ERR_STORE);
  CHECK_STR(err.msg, "cannot get 's3://lf-faults/k' (503 SlowDown: Please reduce your request "
                     "rate.) after 4 attempts");
  CHECK_EQ_INT(hits(), 4);
  lf_err_clear(&err);
  // Truncated on every attempt: an error, never a short result; no file left behind.
  set_faults("[{\"match\": \"GET /lf-faults/k\", \"fault\": \"truncate\", \"times\": 10}]");
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "k", 0, &got, &len, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "cannot get 's3://lf-faults/k' (");
  CHECK_CONTAINS(err.msg, "after 4 attempts");
  CHECK(got == NULL);
  lf_err_clear(&err);
  char *path = lf_path_join(dir, "never.out");
  CHECK_EQ_INT(lf_s3_get_file(s3, BUCKET, "k", path, &err), LF_ERR_IO);
  CHECK(!lf_fs_exists(path));
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -q lfs3", dir);
  CHECK(system(cmd) != 0); // no temp file either
  lf_free(path);
  lf_err_clear(&err);
  // A failed multipart upload is aborted: no upload is left open.
  size_t n = 6 * MIB;
  char *data = pattern(n, 3);
  set_faults("[{\"match\": \"partNumber=2\", \"fault\": \"403\", \"times\": 1}]");
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "aborted", data, n, false, NULL, &err), LF_ERR_STORE);
  CHECK_CONTAINS(err.msg, "cannot upload a part of 's3://lf-faults/aborted' (403 AccessDenied");
  lf_s3_info info;
  CHECK_EQ_INT(lf_s3_head(direct, BUCKET, "aborted", &info, &err), LF_ERR_NOTFOUND);
  lf_free(data);
  set_faults("[]");
}

// Answers that come before the request's body was sent: a refusal fails at once with its
// message on both paths; a 200 that cannot have seen the body is not taken for success (the
// direct path fails the attempt at the 200; libcurl keeps sending into the full socket until
// the stall limit). One PUT of a body far
// larger than the socket buffers take (about 4 MB on loopback) while the server does not read.
static void test_early_answers(const char *ep, lf_s3 *direct, lf_s3_transfer tr,
                               lf_s3_checksum ck)
{
  lf_err err = {0};
  lf_s3_opts o = {.endpoint = ep, .region = "us-east-1", .transfer = tr, .checksum = ck,
                  .multipart_threshold = 64 * MIB};
  lf_s3 *s3 = lf_s3_new(&o, &err);
  size_t n = 16 * MIB;
  char *data = pattern(n, 11);
  set_faults("[{\"match\": \"PUT /lf-faults/early\", \"fault\": \"403early\", \"times\": 5}]");
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "early", data, n, false, NULL, &err), LF_ERR_STORE);
  CHECK_STR(err.msg, "cannot put 's3://lf-faults/early' (403 AccessDenied: Access Denied)");
  CHECK_EQ_INT(hits(), 1);
  lf_err_clear(&err);
  lf_s3_info info;
  CHECK_EQ_INT(lf_s3_head(direct, BUCKET, "early", &info, &err), LF_ERR_NOTFOUND);
  lf_err_clear(&err);
  faulted_put(s3, direct, "early", data, n, // sent again, whole
              "[{\"match\": \"PUT /lf-faults/early\", \"fault\": \"200early\", \"times\": 1}]", 1);
  CHECK_EQ_INT(lf_s3_delete(direct, BUCKET, "early", &err), LF_OK);
  // An interim 100 Continue while the body goes out (unasked): the body goes on, and the real
  // answer follows. One attempt: a retry would hide a stalled send.
  lf_s3_opts o1 = o;
  o1.max_attempts = 1;
  lf_s3 *one = lf_s3_new(&o1, &err);
  faulted_put(one, direct, "early", data, n,
              "[{\"match\": \"PUT /lf-faults/early\", \"fault\": \"continue_early\", "
              "\"times\": 1}]",
              1);
  CHECK_EQ_INT(lf_s3_delete(direct, BUCKET, "early", &err), LF_OK);
  lf_s3_free(one);
  lf_s3_free(s3);
  lf_free(data);
  set_faults("[]");
}

// Where the CRC-32C goes, seen through a store that refuses aws-chunked bodies (as some
// S3-compatible ones do). By default a body in memory carries it in a header and is taken,
// while a file's goes in the trailer (the file is read once) and is refused at once with the
// store's message; crc32c-header puts it in a header for files too, crc32c-trailer in the
// trailer for memory too. Both transfer paths.
static void test_checksum_placement(const char *ep, lf_s3 *direct, lf_s3_transfer tr)
{
  lf_err err = {0};
  size_t n = 6 * MIB + 1; // a single PUT: the threshold below is above it
  char *data = pattern(n, 12);
  char *path = lf_path_join(dir, "nc.bin");
  CHECK_EQ_INT(lf_fs_write_atomic(path, data, n, false, NULL, &err), LF_OK);
  lf_s3_opts o = {.endpoint = ep, .region = "us-east-1", .transfer = tr,
                  .multipart_threshold = 64 * MIB};
  lf_s3 *dflt = lf_s3_new(&o, &err);
  o.checksum = LF_S3_CHECKSUM_CRC32C_HEADER;
  lf_s3 *header = lf_s3_new(&o, &err);
  o.checksum = LF_S3_CHECKSUM_CRC32C_TRAILER;
  lf_s3 *trailer = lf_s3_new(&o, &err);
  set_faults("[{\"match\": \"PUT /lf-faults/nc\", \"fault\": \"nochunked\", \"times\": 100}]");
  CHECK_EQ_INT(lf_s3_put(dflt, BUCKET, "nc-mem", data, n, false, NULL, &err), LF_OK);
  CHECK(get_equals(direct, "nc-mem", data, n, &err));
  CHECK_EQ_INT(lf_s3_put_file(dflt, BUCKET, "nc-file", path, &err), LF_ERR_STORE);
  CHECK_STR(err.msg, "cannot put 's3://lf-faults/nc-file' (400 InvalidRequest: aws-chunked "
                     "bodies are not supported)");
  lf_err_clear(&err);
  CHECK_EQ_INT(lf_s3_put_file(header, BUCKET, "nc-file", path, &err), LF_OK);
  CHECK(get_equals(direct, "nc-file", data, n, &err));
  CHECK_EQ_INT(lf_s3_put(trailer, BUCKET, "nc-trailer", data, n, false, NULL, &err),
               LF_ERR_STORE);
  CHECK_STR(err.msg, "cannot put 's3://lf-faults/nc-trailer' (400 InvalidRequest: aws-chunked "
                     "bodies are not supported)");
  lf_err_clear(&err);
  set_faults("[]");
  lf_s3_free(trailer);
  lf_s3_free(header);
  lf_s3_free(dflt);
  lf_free(path);
  lf_free(data);
}

// This process's connections to the proxy: marks each one's local port in `seen` (65536
// entries). With `old` given, only connections whose port is not marked there count; returns
// the smallest receive buffer among those, and how many there are.
static int proxy_conns(bool *seen, const bool *old, int *count)
{
  int least = 0;
  *count = 0;
  for (int fd = 3; fd < 1024; fd++) {
    struct sockaddr_in peer;
    struct sockaddr_in self;
    socklen_t pl = sizeof(peer);
    socklen_t sl = sizeof(self);
    int rb = 0;
    socklen_t rl = sizeof(rb);
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || peer.sin_family != AF_INET ||
        ntohs(peer.sin_port) != proxy_port ||
        getsockname(fd, (struct sockaddr *)&self, &sl) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, &rl) != 0) {
      continue;
    }
    uint16_t port = ntohs(self.sin_port);
    seen[port] = true;
    if (old != NULL && old[port]) {
      continue;
    }
    least = *count == 0 || rb < least ? rb : least;
    (*count)++;
  }
  return least;
}

// How answers are framed, and connections kept: both receive paths (the direct one and
// libcurl) read every framing S3-compatible servers use, retry what is garbled, and never
// spend an attempt on a kept connection the server closed meanwhile.
static void test_http_framing(lf_s3 *s3, lf_s3 *direct, const char *ep, lf_s3_transfer rx)
{
  lf_err err = {0};
  const char *value = "framed value";
  size_t vn = strlen(value);
  CHECK_EQ_INT(lf_s3_put(direct, BUCKET, "fr", value, vn, false, NULL, &err), LF_OK);
  // Transient answers in every framing: retried, then the object.
  const char *kinds[] = {"continue", "500chunked", "http10",     "garbage",
                         "bighead",  "badchunk",   "twolengths", "badstatus"};
  faulted_gets(s3, "fr", value, vn, kinds, sizeof(kinds) / sizeof(kinds[0]), 1);
  // A chunked error document is decoded: S3's code and message reach the error.
  set_faults("[{\"match\": \"GET /lf-faults/fr\", \"fault\": \"403chunked\", \"times\": 1}]");
  char *got = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "fr", 0, &got, &len, &err), LF_ERR_STORE);
  CHECK_STR(err.msg, "cannot get 's3://lf-faults/fr' (403 AccessDenied: Access Denied)");
  CHECK(got == NULL);
  lf_err_clear(&err);
  // Kept connections: three GETs one after another use one connection.
  lf_s3_opts o = {.endpoint = ep, .region = "us-east-1", .max_attempts = 1, .transfer = rx};
  lf_s3 *one = lf_s3_new(&o, &err);
  set_faults("[]");
  bool *before = lf_xcalloc(65536, sizeof(bool));
  bool *after = lf_xcalloc(65536, sizeof(bool));
  int conns = 0;
  (void)proxy_conns(before, NULL, &conns);
  for (int i = 0; i < 3; i++) {
    CHECK(get_equals(one, "fr", value, vn, &err));
  }
  CHECK_EQ_INT(ports(), 1);
  if (rx == LF_S3_TRANSFER_DIRECT) {
    // The direct path's connections offer a large window from the start (a 128 KiB buffer
    // would have grown only by receiving much more than these small answers).
    int rcvbuf = proxy_conns(after, before, &conns);
    CHECK_EQ_INT(conns, 1);
    if (rcvbuf < (int)MIB) {
      fprintf(stderr, "receive buffer of a direct connection: %d bytes\n", rcvbuf);
    }
    CHECK(rcvbuf >= (int)MIB);
  }
  lf_free(after);
  lf_free(before);
  // The server closes a kept connection after an answer: with one attempt allowed, the
  // next GET still succeeds, on a new connection.
  set_faults("[{\"match\": \"GET /lf-faults/fr\", \"fault\": \"close_after\", \"times\": 1}]");
  CHECK(get_equals(one, "fr", value, vn, &err));
  CHECK(get_equals(one, "fr", value, vn, &err));
  if (err.code != LF_OK) {
    fprintf(stderr, "after close: %s\n", err.msg);
  }
  CHECK_EQ_INT(hits(), 1);
  CHECK_EQ_INT(ports(), 2);
  if (rx == LF_S3_TRANSFER_DIRECT) {
    // A kept connection on which the server said something unasked (a 408 as it timed the
    // connection out) is not used: that answer is not taken for the next request's.
    // (libcurl 7.88 reuses such a connection and reads the stray answer.)
    set_faults("[{\"match\": \"GET /lf-faults/fr\", \"fault\": \"late408\", \"times\": 1}]");
    CHECK(get_equals(one, "fr", value, vn, &err));
    usleep(300 * 1000);
    CHECK(get_equals(one, "fr", value, vn, &err));
    if (err.code != LF_OK) {
      fprintf(stderr, "after a late 408: %s\n", err.msg);
    }
    CHECK_EQ_INT(ports(), 2);
  }
  // A body that arrives slowly but steadily is not a stall, however the receiver batches
  // its reads. One attempt: a retry would hide a wrong verdict.
  size_t tn = 64 * 1024 + 5;
  char *slow = pattern(tn, 3);
  CHECK_EQ_INT(lf_s3_put(direct, BUCKET, "slow", slow, tn, false, NULL, &err), LF_OK);
  set_faults("[{\"match\": \"GET /lf-faults/slow\", \"fault\": \"trickle\", \"times\": 1}]");
  CHECK(get_equals(one, "slow", slow, tn, &err));
  if (err.code != LF_OK) {
    fprintf(stderr, "trickle: %s\n", err.msg);
  }
  CHECK_EQ_INT(hits(), 1);
  // A kept connection that received a large body in place takes the next, small answer
  // as it comes (the socket's low-water mark is back to one byte).
  set_faults("[]");
  size_t bn = MIB + 7;
  char *big = pattern(bn, 4);
  CHECK_EQ_INT(lf_s3_put(direct, BUCKET, "lw", big, bn, false, NULL, &err), LF_OK);
  CHECK(get_equals(one, "lw", big, bn, &err));
  CHECK(get_equals(one, "fr", value, vn, &err)); // a second left waiting would be a stall
  CHECK_EQ_INT(ports(), 1);
  lf_free(big);
  lf_free(slow);
  lf_s3_free(one);
  set_faults("[]");
}

// Children of fork() (tasks of the fork server) use one client made before the fork: each
// must get its own connections, or the answers to siblings' requests interleave on the
// shared sockets. The proxy keeps connections alive, as S3 does (moto alone closes them).
static void test_fork(const char *ep)
{
  lf_err err = {0};
  set_faults("[]");
  // One attempt: a retry would hide the mix-up (a stalled or garbled answer) this is about.
  lf_s3_opts o = {.endpoint = ep, .region = "us-east-1", .max_attempts = 1};
  lf_s3 *s3 = lf_s3_new(&o, &err);
  enum { KIDS = 4, GETS = 25 };
  char body[KIDS][64];
  for (int k = 0; k < KIDS; k++) {
    char key[32];
    snprintf(key, sizeof(key), "fork/%d", k);
    int n = snprintf(body[k], sizeof(body[k]), "object %d of the fork test", k);
    CHECK_EQ_INT(lf_s3_put(s3, BUCKET, key, body[k], (size_t)n, false, NULL, &err), LF_OK);
  }
  char *data = NULL;
  size_t len = 0;
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "fork/0", 0, &data, &len, &err), LF_OK); // a pooled link
  lf_free(data);
  pid_t kids[KIDS];
  for (int k = 0; k < KIDS; k++) {
    kids[k] = fork();
    if (kids[k] == 0) {
      char key[32];
      snprintf(key, sizeof(key), "fork/%d", k);
      int bad = 0;
      for (int i = 0; i < GETS; i++) {
        lf_err e = {0};
        char *d = NULL;
        size_t l = 0;
        if (lf_s3_get(s3, BUCKET, key, 0, &d, &l, &e) != LF_OK || l != strlen(body[k]) ||
            memcmp(d, body[k], l) != 0) {
          bad++;
        }
        lf_free(d);
      }
      _exit(bad == 0 ? 0 : 1);
    }
  }
  for (int k = 0; k < KIDS; k++) {
    int status = 0;
    CHECK(waitpid(kids[k], &status, 0) == kids[k]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  // The parent's own connections still work.
  CHECK_EQ_INT(lf_s3_get(s3, BUCKET, "fork/1", 0, &data, &len, &err), LF_OK);
  CHECK(len == strlen(body[1]) && memcmp(data, body[1], len) == 0);
  lf_free(data);
  lf_s3_free(s3);
}

static void test_unreachable(void)
{
  // Nothing listens: connection refused is retried, then reported.
  char ep[64];
  snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", th_free_port());
  lf_s3_opts o = {.endpoint = ep, .max_attempts = 2, .retry_base_ms = 1};
  lf_err err = {0};
  lf_s3 *s3 = lf_s3_new(&o, &err);
  CHECK_EQ_INT(lf_s3_put(s3, BUCKET, "k", "x", 1, false, NULL, &err), LF_ERR_IO);
  CHECK_CONTAINS(err.msg, "cannot put 's3://lf-faults/k' (");
  CHECK_CONTAINS(err.msg, "after 2 attempts");
  lf_s3_free(s3);
}

int main(void)
{
  dir = th_tmpdir("s3_faults");
  int moto_port = 0;
  pid_t moto = th_start_moto(dir, &moto_port, NULL);
  char up[16];
  snprintf(up, sizeof(up), "%d", moto_port);
  const char *args[] = {up, NULL};
  pid_t proxy = moto > 0 ? th_start_helper(dir, "fault_proxy.py", args, &proxy_port) : -1;
  CHECK(moto > 0 && proxy > 0);
  if (moto > 0 && proxy > 0) {
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("HOME", dir, 1);
    unsetenv("AWS_ENDPOINT_URL");
    setenv("LUAFLOW_S3_PART_SIZE", "5242880", 1);
    setenv("LUAFLOW_S3_MULTIPART_THRESHOLD", "5242880", 1);
    setenv("LUAFLOW_S3_RETRY_BASE_MS", "10", 1);
    setenv("LUAFLOW_S3_STALL_TIMEOUT", "1", 1);
    setenv("LUAFLOW_S3_MAX_ATTEMPTS", "4", 1);
    char ep[64], direct_ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", proxy_port);
    snprintf(direct_ep, sizeof(direct_ep), "http://127.0.0.1:%d", moto_port);
    lf_s3_opts po = {.endpoint = ep, .region = "us-east-1"};
    lf_s3_opts mo = {.endpoint = direct_ep, .region = "us-east-1"};
    lf_err err = {0};
    lf_s3_opts co = {.endpoint = ep, .region = "us-east-1", .transfer = LF_S3_TRANSFER_CURL};
    lf_s3 *s3 = lf_s3_new(&po, &err);
    lf_s3 *s3c = lf_s3_new(&co, &err); // GETs through libcurl instead of the direct path
    lf_s3 *direct = lf_s3_new(&mo, &err);
    lf_s3_opts to = {.endpoint = ep, .region = "us-east-1",
                     .checksum = LF_S3_CHECKSUM_CRC32C_TRAILER};
    lf_s3 *s3t = lf_s3_new(&to, &err); // bodies in memory framed as aws-chunked too
    CHECK_EQ_INT(lf_s3_create_bucket(direct, BUCKET, &err), LF_OK);
    test_transient_gets(s3, direct);
    test_transient_gets(s3c, direct);
    test_transient_puts(s3, direct);
    test_transient_puts(s3c, direct);
    test_transient_puts(s3t, direct);
    test_early_answers(ep, direct, LF_S3_TRANSFER_DIRECT, LF_S3_CHECKSUM_CRC32C);
    test_early_answers(ep, direct, LF_S3_TRANSFER_DIRECT, LF_S3_CHECKSUM_CRC32C_TRAILER);
    test_early_answers(ep, direct, LF_S3_TRANSFER_CURL, LF_S3_CHECKSUM_CRC32C);
    test_checksum_placement(ep, direct, LF_S3_TRANSFER_DIRECT);
    test_checksum_placement(ep, direct, LF_S3_TRANSFER_CURL);
    test_permanent_and_exhausted(s3, direct);
    test_permanent_and_exhausted(s3c, direct);
    test_http_framing(s3, direct, ep, LF_S3_TRANSFER_DIRECT);
    test_http_framing(s3c, direct, ep, LF_S3_TRANSFER_CURL);
    lf_s3_free(s3c);
    lf_s3_free(s3t);
    test_fork(ep);
    test_unreachable();
    lf_s3_free(s3);
    lf_s3_free(direct);
  }
  th_kill(proxy);
  th_kill(moto);
  return TEST_REPORT();
}
