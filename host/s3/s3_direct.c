// SPDX-License-Identifier: MIT
// This file contains the direct path: GETs of object bodies and PUTs of bodies in memory over
// our own HTTP/1.1 connections to a plain-http endpoint. A GET's body is received by recv()
// straight into its destination (the job's buffer, which becomes the caller's string); a
// PUT's head, body (and aws-chunked framing, when asked for) go out by sendmsg() from where
// they are. libcurl receives into a buffer of its own and hands the bytes over in a callback,
// and sends from a buffer its read callback fills: one more copy of every byte each way.
// Other requests, uploads from files, https endpoints and proxies go through libcurl
// (s3_engine.c).
//
// An attempt: resolve the host (cached for DNS_TTL_US), connect without blocking, send the
// signed request (an answer that comes before all of it was sent is read at once), read the
// response head (lines go through the engine's header parser, so
// both paths judge a response alike), then the body framed by Content-Length, chunked coding
// or the end of the connection. A connection that can carry another request goes back to a
// small pool keyed by host; a pooled connection the server closed meanwhile is noticed at
// the first send or read and replaced by a new one without counting an attempt.
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "s3/s3_http1.h"
#include "s3/s3_internal.h"

#define HEAD_MAX ((size_t)64 << 10)     // a response head larger than this is refused
#define SCRATCH ((size_t)256 << 10)     // bodies that do not go straight to a job's buffer
#define POOL_MAX 64                     // idle connections kept
#define POOL_IDLE_US (20LL * 1000000)   // an idle connection older than this is closed
#define DNS_TTL_US (30LL * 1000000)
#define DNS_SLOTS 16
#define ADDRS 4                         // addresses of a host tried in turn
#define READS_PER_STEP 64               // recv calls on one connection before the next one
#define LOWAT_MAX ((int)256 << 10)      // a body received in place wakes the loop per this much
#define RCVBUF_LOWAT ((int)8 << 20)     // asked for before connect(): see connect_next
#define SEND_WINDOW ((size_t)256 << 10) // aws-chunked source bytes offered per send

typedef enum dphase { D_CONNECT, D_SEND, D_HEAD, D_BODY } dphase;
typedef enum dframe { F_LENGTH, F_CHUNKED, F_CLOSE } dframe;

struct s3_dconn {
  int fd;
  char *key;            // "host:port" as in the Host header: the pool's key
  struct sockaddr_storage addr[ADDRS]; // the host's addresses, tried in turn
  socklen_t addr_len[ADDRS];
  size_t naddr, iaddr;
  bool reused;          // came from the pool (may have been closed by the server)
  dphase phase;
  int64_t connect_deadline_us;
  size_t req_pos;       // bytes of x->dreq sent
  bool sent_all;        // the whole request, body included, went out
  uint64_t crc_pos;     // aws-chunked: x->crc covers the source bytes before this
  char *head;           // the response head as it arrives
  size_t head_len, head_cap;
  bool any_byte;        // a byte of the response arrived
  dframe frame;
  uint64_t left;        // F_LENGTH: body bytes still to come
  bool keep_alive;      // the connection may carry another request
  bool complete;        // the body is whole
  int lowat;            // the socket's SO_RCVLOWAT (1 unless a body is received in place)
  lf_http_chunks chunks; // F_CHUNKED
};

typedef struct pooled {
  int fd;
  char *key;
  int64_t since_us;
} pooled;

typedef struct dns_entry {
  char *host;           // as in the Host header
  struct sockaddr_storage addr[ADDRS];
  socklen_t addr_len[ADDRS];
  size_t naddr;
  int64_t at_us;
} dns_entry;

struct s3_direct {
  pooled pool[POOL_MAX];
  size_t npool;
  dns_entry dns[DNS_SLOTS];
  size_t dns_next;
};

// --- the client's pool and address cache -------------------------------------------------

static struct s3_direct *state(lf_s3 *s3)
{
  if (s3->direct == NULL) {
    s3->direct = lf_xcalloc(1, sizeof(*s3->direct));
  }
  return s3->direct;
}

void lf_s3_direct_free(lf_s3 *s3)
{
  struct s3_direct *d = s3->direct;
  if (d == NULL) {
    return;
  }
  for (size_t i = 0; i < d->npool; i++) {
    close(d->pool[i].fd); // plain TCP: closing a child's copy leaves the parent's open
    lf_free(d->pool[i].key);
  }
  for (size_t i = 0; i < DNS_SLOTS; i++) {
    lf_free(d->dns[i].host);
  }
  lf_free(d);
  s3->direct = NULL;
}

static int pool_take(lf_s3 *s3, const char *key)
{
  struct s3_direct *d = state(s3);
  int64_t now = lf_time_mono_us();
  int fd = -1;
  // Newest first: the most recently used connection is the likeliest to be alive.
  for (size_t i = d->npool; i-- > 0;) {
    pooled *p = &d->pool[i];
    bool stale = now - p->since_us > POOL_IDLE_US;
    bool match = fd < 0 && !stale && strcmp(p->key, key) == 0;
    if (!match && !stale) {
      continue;
    }
    if (match) {
      // An idle connection must have nothing to read: data (a late answer, a 408) or an
      // end would otherwise be taken for the next request's answer.
      char c;
      ssize_t r = recv(p->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        fd = p->fd;
      } else {
        close(p->fd);
      }
    } else {
      close(p->fd);
    }
    lf_free(p->key);
    memmove(p, p + 1, (d->npool - i - 1) * sizeof(*p));
    d->npool--;
  }
  return fd;
}

static void pool_put(lf_s3 *s3, const char *key, int fd)
{
  struct s3_direct *d = state(s3);
  if (d->npool == POOL_MAX) {
    close(d->pool[0].fd);
    lf_free(d->pool[0].key);
    memmove(d->pool, d->pool + 1, (POOL_MAX - 1) * sizeof(d->pool[0]));
    d->npool--;
  }
  d->pool[d->npool++] = (pooled){fd, lf_xstrdup(key), lf_time_mono_us()};
}

// Splits "host", "host:port", "[v6]" or "[v6]:port" into `name` and `port` (80 by default).
static bool split_authority(const char *auth, char *name, size_t cap, char port[8])
{
  const char *end, *colon;
  if (auth[0] == '[') {
    end = strchr(auth, ']');
    if (end == NULL) {
      return false;
    }
    colon = end[1] == ':' ? end + 1 : NULL;
    auth++;
  } else {
    colon = strrchr(auth, ':');
    end = colon != NULL ? colon : auth + strlen(auth);
  }
  size_t n = (size_t)(end - auth);
  if (n == 0 || n >= cap) {
    return false;
  }
  memcpy(name, auth, n);
  name[n] = '\0';
  snprintf(port, 8, "%s", colon != NULL && colon[1] != '\0' ? colon + 1 : "80");
  return true;
}

// Fills the connection's addresses for its host (cached). getaddrinfo blocks, once per host
// and DNS_TTL_US; an address literal, the usual case for a store on a private network, costs
// nothing. A slow lookup does not count against the other transfers' stall limits.
static bool resolve(s3_engine *e, s3_dconn *c, char *why, size_t whycap)
{
  struct s3_direct *d = state(e->s3);
  int64_t now = lf_time_mono_us();
  for (size_t i = 0; i < DNS_SLOTS; i++) {
    dns_entry *en = &d->dns[i];
    if (en->host != NULL && strcmp(en->host, c->key) == 0 && now - en->at_us < DNS_TTL_US) {
      memcpy(c->addr, en->addr, sizeof(c->addr));
      memcpy(c->addr_len, en->addr_len, sizeof(c->addr_len));
      c->naddr = en->naddr;
      c->iaddr = 0;
      return true;
    }
  }
  char name[256], port[8];
  if (!split_authority(c->key, name, sizeof(name), port)) {
    snprintf(why, whycap, "cannot parse the host '%.200s'", c->key);
    return false;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(name, port, &hints, &res);
  int64_t after = lf_time_mono_us();
  for (size_t i = 0; i < e->ndirect; i++) {
    s3_xfer *x = e->direct[i];
    x->progress_at_us += after - now;
  }
  if (rc != 0 || res == NULL) {
    snprintf(why, whycap, "cannot resolve '%.200s': %s", name, gai_strerror(rc));
    return false;
  }
  c->naddr = 0;
  c->iaddr = 0;
  for (struct addrinfo *a = res; a != NULL && c->naddr < ADDRS; a = a->ai_next) {
    if (a->ai_addrlen <= sizeof(c->addr[0])) {
      memcpy(&c->addr[c->naddr], a->ai_addr, a->ai_addrlen);
      c->addr_len[c->naddr++] = (socklen_t)a->ai_addrlen;
    }
  }
  freeaddrinfo(res);
  if (c->naddr == 0) {
    snprintf(why, whycap, "cannot resolve '%.200s': no usable address", name);
    return false;
  }
  dns_entry *en = &d->dns[d->dns_next++ % DNS_SLOTS];
  lf_free(en->host);
  *en = (dns_entry){.host = lf_xstrdup(c->key), .naddr = c->naddr, .at_us = after};
  memcpy(en->addr, c->addr, sizeof(c->addr));
  memcpy(en->addr_len, c->addr_len, sizeof(c->addr_len));
  return true;
}

static void forget_address(lf_s3 *s3, const char *host)
{
  struct s3_direct *d = state(s3);
  for (size_t i = 0; i < DNS_SLOTS; i++) {
    if (d->dns[i].host != NULL && strcmp(d->dns[i].host, host) == 0) {
      d->dns[i].at_us = 0;
    }
  }
}

// --- the engine's list of direct transfers -----------------------------------------------

static void list_add(s3_engine *e, s3_xfer *x)
{
  if (e->ndirect == e->capdirect) {
    e->capdirect = e->capdirect != 0 ? 2 * e->capdirect : 16;
    e->direct = lf_xrealloc(e->direct, e->capdirect * sizeof(*e->direct));
    e->dfds = lf_xrealloc(e->dfds, e->capdirect * sizeof(*e->dfds));
    e->dsnap = lf_xrealloc(e->dsnap, e->capdirect * sizeof(*e->dsnap));
  }
  e->direct[e->ndirect++] = x;
}

static void list_remove(s3_engine *e, s3_xfer *x)
{
  for (size_t i = 0; i < e->ndirect; i++) {
    if (e->direct[i] == x) {
      e->direct[i] = e->direct[--e->ndirect];
      return;
    }
  }
}

void lf_s3_direct_engine_free(s3_engine *e)
{
  lf_free(e->direct);
  lf_free(e->dfds);
  lf_free(e->dsnap);
  lf_free(e->scratch);
  e->direct = NULL;
  e->dfds = NULL;
  e->dsnap = NULL;
  e->scratch = NULL;
  e->ndirect = e->capdirect = 0;
}

// A body received in place wakes the loop once per LOWAT_MAX bytes (or when the rest is
// there) instead of once per segment: fewer wake-ups and recv calls, and on loopback fewer
// window updates that make the reader pay for the sender's work. Returns false when the
// socket refused (it then stays as it was).
static bool set_lowat(s3_dconn *d, int lowat)
{
  if (lowat < 1) {
    lowat = 1;
  }
  if (lowat == d->lowat || (lowat == 1 && d->lowat == 0)) {
    return true;
  }
  if (setsockopt(d->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) != 0) {
    return false;
  }
  d->lowat = lowat;
  return true;
}

// Bytes that arrived but wait below the low-water mark are progress too: the kernel knows
// when data last came. Moves the transfer's progress time up to that.
static void lowat_progress(s3_xfer *x, int64_t now)
{
  s3_dconn *d = x->dconn;
  struct tcp_info ti;
  socklen_t len = sizeof(ti);
  if (d->lowat <= 1 || getsockopt(d->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
      len < sizeof(ti)) {
    return;
  }
  int64_t at = now - (int64_t)ti.tcpi_last_data_recv * 1000;
  if (at > x->progress_at_us) {
    x->progress_at_us = at;
  }
}

// --- one attempt --------------------------------------------------------------------------

bool lf_s3_direct_wanted(const lf_s3 *s3, const s3_xfer *x)
{
  if (s3->opts.transfer != LF_S3_TRANSFER_DIRECT || s3->proxied ||
      strcmp(s3->scheme, "http") != 0) {
    return false;
  }
  return (x->to_job && strcmp(x->method, "GET") == 0) ||
         (strcmp(x->method, "PUT") == 0 && x->has_body && x->src_mem != NULL);
}

// Ends the attempt: the connection goes back to the pool if it can carry another request,
// and the engine classifies the outcome (x->curl_errbuf says what failed).
static void end(s3_engine *e, s3_xfer *x, CURLcode rc)
{
  s3_dconn *d = x->dconn;
  if (rc == CURLE_OK && !d->sent_all && x->http_status >= 200 && x->http_status < 300) {
    rc = CURLE_SEND_ERROR;
    snprintf(x->curl_errbuf, sizeof(x->curl_errbuf),
             "the server answered %ld before the whole request was sent", x->http_status);
  }
  bool reuse = rc == CURLE_OK && d->sent_all && !x->sink_failed && d->phase == D_BODY &&
               d->complete && d->keep_alive && set_lowat(d, 1);
  if (reuse) {
    pool_put(e->s3, d->key, d->fd);
  } else if (d->fd >= 0) {
    close(d->fd);
  }
  lf_free(d->key);
  lf_free(d->head);
  lf_free(d);
  x->dconn = NULL;
  list_remove(e, x);
  lf_s3_engine_finish(e, x, rc);
}

static void fail(s3_engine *e, s3_xfer *x, CURLcode rc, const char *what)
{
  snprintf(x->curl_errbuf, sizeof(x->curl_errbuf), "%s", what);
  end(e, x, rc);
}

// Connects to the connection's next address without blocking; on an immediate refusal moves
// on to the address after it. Returns whether the attempt is still alive.
static bool connect_next(s3_engine *e, s3_xfer *x, int last_errno)
{
  s3_dconn *d = x->dconn;
  while (d->iaddr < d->naddr) {
    struct sockaddr_storage *sa = &d->addr[d->iaddr];
    socklen_t len = d->addr_len[d->iaddr++];
    d->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    (void)setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(d->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    // Linux sizes the window a connection offers, and its ceiling, from the receive buffer
    // at connect(): 128 KiB by default, which autotuning then grows a round trip at a time.
    // Meanwhile a fast sender waits on our window, and its segments go out when our reads
    // open it, in softirq work charged to our process. Raising the low-water mark raises
    // the buffer as well (to twice the mark, at most tcp_rmem's maximum), unlike SO_RCVBUF,
    // which would also stop autotuning and cap the buffer at net.core.rmem_max; the mark
    // itself goes back to one byte at once. Get CPU per GB on loopback: 0.25 -> 0.18 s (a
    // 4 MiB mark: 0.19, 16 MiB: no better than 8).
    int mark = RCVBUF_LOWAT;
    (void)setsockopt(d->fd, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark));
    (void)setsockopt(d->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    d->reused = false;
    d->phase = D_CONNECT;
    d->connect_deadline_us =
        lf_time_mono_us() + (int64_t)e->s3->opts.connect_timeout_s * 1000000;
    if (connect(d->fd, (struct sockaddr *)sa, len) == 0 || errno == EINPROGRESS) {
      return true;
    }
    last_errno = errno;
    close(d->fd);
    d->fd = -1;
  }
  forget_address(e->s3, d->key);
  char what[CURL_ERROR_SIZE];
  snprintf(what, sizeof(what), "cannot connect to %.200s: %s", d->key, strerror(last_errno));
  fail(e, x, CURLE_COULDNT_CONNECT, what);
  return false;
}

// Opens a new connection. Returns whether the attempt is still alive.
static bool open_conn(s3_engine *e, s3_xfer *x)
{
  char why[CURL_ERROR_SIZE];
  if (!resolve(e, x->dconn, why, sizeof(why))) {
    fail(e, x, CURLE_COULDNT_RESOLVE_HOST, why);
    return false;
  }
  return connect_next(e, x, ECONNREFUSED);
}

// A pooled connection turned out closed before any answer: start over on a new one. The
// request was not processed (no byte of an answer came), and a GET may be sent again anyway.
// Returns whether the attempt is still alive.
static bool replace_stale(s3_engine *e, s3_xfer *x)
{
  s3_dconn *d = x->dconn;
  close(d->fd);
  d->fd = -1;
  d->req_pos = 0;
  d->sent_all = false;
  d->crc_pos = 0;
  lf_s3_body_rewind(x);
  d->head_len = 0;
  d->any_byte = false;
  x->progress_at_us = lf_time_mono_us();
  return open_conn(e, x);
}

void lf_s3_direct_start(s3_engine *e, s3_xfer *x)
{
  s3_dconn *d = lf_xcalloc(1, sizeof(*d));
  d->fd = -1;
  d->key = lf_xstrdup(x->dhost);
  x->dconn = d;
  x->progress_at_us = lf_time_mono_us();
  x->progress_bytes = 0;
  list_add(e, x);
  d->fd = pool_take(e->s3, d->key);
  if (d->fd >= 0) {
    d->reused = true;
    d->phase = D_SEND;
    return;
  }
  (void)open_conn(e, x); // a failure ends the attempt
}

// Hands body bytes to the engine's sink (the job's buffer or file, or the error document).
static bool deliver(s3_engine *e, s3_xfer *x, const char *p, size_t n)
{
  if (n == 0) {
    return true;
  }
  if (lf_s3_on_write((char *)p, 1, n, x) != n) {
    end(e, x, CURLE_WRITE_ERROR); // x->err says why
    return false;
  }
  return true;
}

// Decodes chunked coding; false (the attempt ended) on a malformed stream or a sink failure.
static bool dechunk(s3_engine *e, s3_xfer *x, const char *p, size_t n)
{
  s3_dconn *d = x->dconn;
  while (n > 0 && !d->complete) {
    size_t used, dlen;
    const char *data;
    lf_chunks_rc rc = lf_http_chunks_step(&d->chunks, p, n, &used, &data, &dlen);
    if (rc == LF_CHUNKS_BAD) {
      fail(e, x, CURLE_WEIRD_SERVER_REPLY, "a malformed chunk in the answer");
      return false;
    }
    if (!deliver(e, x, data, dlen)) {
      return false;
    }
    d->complete = rc == LF_CHUNKS_DONE;
    p += used;
    n -= used;
  }
  if (n > 0) {
    d->keep_alive = false; // bytes after the end: do not trust the connection
  }
  return true;
}

// Feeds body bytes that came through a buffer (the head's tail or the scratch buffer).
static bool feed(s3_engine *e, s3_xfer *x, const char *p, size_t n)
{
  s3_dconn *d = x->dconn;
  switch (d->frame) {
  case F_LENGTH: {
    size_t k = n < d->left ? n : (size_t)d->left;
    if (!deliver(e, x, p, k)) {
      return false;
    }
    d->left -= k;
    if (k < n) {
      d->keep_alive = false;
    }
    d->complete = d->left == 0;
    return true;
  }
  case F_CHUNKED:
    return dechunk(e, x, p, n);
  case F_CLOSE:
    return deliver(e, x, p, n);
  }
  return true;
}

// Reads a complete head of `n` bytes: its lines go through the engine's header callback
// (status, length, range, ETag, the job's on_headers), its framing decides how the body is
// read. Returns false when the attempt ended; *interim is set for a 1xx answer, to be skipped.
static bool parse_head(s3_engine *e, s3_xfer *x, size_t n, bool *interim)
{
  s3_dconn *d = x->dconn;
  lf_http_head h;
  *interim = false;
  if (!lf_http_head_parse(d->head, n, &h)) {
    fail(e, x, CURLE_WEIRD_SERVER_REPLY, "the answer is not HTTP/1.x");
    return false;
  }
  if (h.other_coding) {
    fail(e, x, CURLE_WEIRD_SERVER_REPLY, "the answer is in a transfer coding other than chunked");
    return false;
  }
  if (h.status < 200) {
    if (h.status == 101) {
      fail(e, x, CURLE_WEIRD_SERVER_REPLY, "the server switched protocols");
      return false;
    }
    *interim = true;
    return true;
  }
  for (size_t pos = 0; pos < n;) {
    char *line = d->head + pos;
    size_t ll = (size_t)((char *)memchr(line, '\n', n - pos) - line) + 1;
    if (lf_s3_on_header(line, 1, ll, x) != ll) {
      end(e, x, CURLE_WRITE_ERROR); // on_headers refused the response; x->err says why
      return false;
    }
    pos += ll;
  }
  d->keep_alive = h.keep_alive;
  if (h.status == 204 || h.status == 304) {
    d->frame = F_LENGTH;
    d->left = 0;
  } else if (h.chunked) {
    d->frame = F_CHUNKED;
    memset(&d->chunks, 0, sizeof(d->chunks));
  } else if (h.has_length) {
    d->frame = F_LENGTH;
    d->left = h.length;
  } else {
    d->frame = F_CLOSE;
    d->keep_alive = false;
  }
  d->complete = d->frame == F_LENGTH && d->left == 0;
  return true;
}

// Looks for the end of the head in what arrived; parses it and moves on to the body.
static bool take_head(s3_engine *e, s3_xfer *x, size_t searched)
{
  s3_dconn *d = x->dconn;
  for (;;) {
    size_t n = lf_http_head_end(d->head, d->head_len, searched);
    if (n == 0) {
      if (d->head_len >= HEAD_MAX) {
        fail(e, x, CURLE_WEIRD_SERVER_REPLY, "the answer's head is larger than 64 KiB");
        return false;
      }
      return true;
    }
    bool interim;
    if (!parse_head(e, x, n, &interim)) {
      return false;
    }
    size_t rest = d->head_len - n;
    memmove(d->head, d->head + n, rest);
    d->head_len = rest;
    if (interim) {
      searched = 0;
      if (!d->sent_all && d->head_len == 0) {
        d->phase = D_SEND; // a 100 Continue while the body goes out: go on sending
        return true;
      }
      continue;
    }
    d->phase = D_BODY;
    d->head_len = 0;
    return feed(e, x, d->head, rest);
  }
}

// The body's destination when it can be received into directly: a 2xx body of a job held in
// memory, with room for all that is announced.
static char *direct_dest(const s3_xfer *x, uint64_t want)
{
  if (!x->to_job || x->http_status < 200 || x->http_status >= 300 ||
      (x->job_fd != NULL && *x->job_fd >= 0) || *x->job_buf == NULL) {
    return NULL;
  }
  uint64_t cap = x->job_size != NULL ? *x->job_size : 0;
  uint64_t off = x->dst_off + x->got;
  if (!x->has_content_length || off > cap || cap - off < want) {
    return NULL; // the sink's own checks report it
  }
  return *x->job_buf + off;
}

// The connection ended (EOF) in the middle of the attempt.
static void ended(s3_engine *e, s3_xfer *x)
{
  s3_dconn *d = x->dconn;
  if (d->phase == D_BODY && d->frame == F_CLOSE) {
    d->complete = true;
    end(e, x, CURLE_OK);
  } else if (d->phase == D_BODY) {
    char what[160];
    if (d->frame == F_LENGTH) {
      snprintf(what, sizeof(what), "the connection closed after %llu of %llu body bytes",
               (unsigned long long)(x->content_length - d->left),
               (unsigned long long)x->content_length);
    } else {
      snprintf(what, sizeof(what), "the connection closed in the middle of the chunked body");
    }
    fail(e, x, CURLE_PARTIAL_FILE, what);
  } else if (d->reused && !d->any_byte) {
    (void)replace_stale(e, x);
  } else {
    fail(e, x, CURLE_GOT_NOTHING, "the server closed the connection without an answer");
  }
}

static void recv_error(s3_engine *e, s3_xfer *x, int err)
{
  s3_dconn *d = x->dconn;
  if (d->reused && !d->any_byte && (err == ECONNRESET || err == EPIPE)) {
    (void)replace_stale(e, x);
    return;
  }
  char what[160];
  snprintf(what, sizeof(what), "cannot receive: %s", strerror(err));
  fail(e, x, CURLE_RECV_ERROR, what);
}

// The connect finished: on to sending, or to the next address. Returns whether the attempt
// is still alive.
static bool step_connect(s3_engine *e, s3_xfer *x)
{
  s3_dconn *d = x->dconn;
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
    soerr = errno;
  }
  if (soerr != 0) {
    close(d->fd);
    d->fd = -1;
    return connect_next(e, x, soerr);
  }
  d->phase = D_SEND;
  return true;
}

// Gathers what is left to send, without copying: the rest of the request head, then the
// body from its source (for aws-chunked: the pending framing and the rest of the current
// chunk; the framing after it needs the CRC of all of the chunk). Returns the number of
// iovecs.
static int gather(s3_xfer *x, struct iovec iov[3])
{
  s3_dconn *d = x->dconn;
  int n = 0;
  if (d->req_pos < x->dreq_len) {
    iov[n++] = (struct iovec){x->dreq + d->req_pos, x->dreq_len - d->req_pos};
  }
  if (!x->has_body) {
    return n;
  }
  const char *src = x->src_mem + x->src_off;
  if (!x->trailer) {
    if (x->src_pos < x->src_len) {
      iov[n++] = (struct iovec){(char *)src + x->src_pos, (size_t)(x->src_len - x->src_pos)};
    }
    return n;
  }
  if (x->frame_pos == x->frame_len && x->chunk_left == 0 && !lf_s3_body_frame(x)) {
    return n; // the trailer went out
  }
  if (x->frame_pos < x->frame_len) {
    iov[n++] = (struct iovec){x->frame + x->frame_pos, x->frame_len - x->frame_pos};
  }
  if (x->chunk_left > 0) {
    // A window at a time, its CRC taken first: the kernel then copies bytes still in cache.
    size_t len = x->chunk_left < SEND_WINDOW ? (size_t)x->chunk_left : SEND_WINDOW;
    if (d->crc_pos < x->src_pos + len) {
      x->crc = lf_s3_crc32c(x->crc, src + d->crc_pos, (size_t)(x->src_pos + len - d->crc_pos));
      d->crc_pos = x->src_pos + len;
    }
    iov[n++] = (struct iovec){(char *)src + x->src_pos, len};
  }
  return n;
}

// Accounts for `w` bytes sent of what gather() offered.
static void sent(s3_xfer *x, size_t w)
{
  s3_dconn *d = x->dconn;
  size_t h = x->dreq_len - d->req_pos < w ? x->dreq_len - d->req_pos : w;
  d->req_pos += h;
  w -= h;
  if (w == 0) {
    return;
  }
  if (!x->trailer) {
    x->src_pos += w;
    return;
  }
  size_t f = x->frame_len - x->frame_pos < w ? x->frame_len - x->frame_pos : w;
  x->frame_pos += f;
  w -= f;
  x->src_pos += w;
  x->chunk_left -= w;
}

// Sends the request: the head, then any body straight from its memory. Returns whether the
// attempt is still alive.
static bool step_send(s3_engine *e, s3_xfer *x)
{
  s3_dconn *d = x->dconn;
  for (;;) {
    struct iovec iov[3];
    int n = gather(x, iov);
    if (n == 0) {
      break;
    }
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(d->fd, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    }
    if (w < 0) {
      if (d->reused && !d->any_byte && (errno == EPIPE || errno == ECONNRESET)) {
        return replace_stale(e, x);
      }
      if (errno == EPIPE || errno == ECONNRESET) {
        d->phase = D_HEAD; // the server may have answered (a refusal) and closed
        return true;
      }
      char what[160];
      snprintf(what, sizeof(what), "cannot send the request: %s", strerror(errno));
      fail(e, x, CURLE_SEND_ERROR, what);
      return false;
    }
    sent(x, (size_t)w);
    x->progress_at_us = lf_time_mono_us();
  }
  d->sent_all = true;
  d->phase = D_HEAD;
  return true;
}

static void step_recv(s3_engine *e, s3_xfer *x)
{
  s3_dconn *d = x->dconn;
  for (int reads = 0; reads < READS_PER_STEP && d->phase != D_SEND; reads++) {
    ssize_t r;
    if (d->phase == D_HEAD) {
      if (d->head_cap - d->head_len < 4096 && d->head_cap < HEAD_MAX) {
        d->head_cap = d->head_cap == 0 ? 16384 : d->head_cap * 2;
        d->head = lf_xrealloc(d->head, d->head_cap);
      }
      r = recv(d->fd, d->head + d->head_len, d->head_cap - d->head_len, 0);
      if (r > 0) {
        size_t from = d->head_len;
        d->head_len += (size_t)r;
        d->any_byte = true;
        x->progress_at_us = lf_time_mono_us();
        if (!take_head(e, x, from)) {
          return;
        }
      }
    } else {
      char *dst = d->frame == F_LENGTH ? direct_dest(x, d->left) : NULL;
      if (dst != NULL) {
        r = recv(d->fd, dst, (size_t)d->left, 0);
        if (r > 0) {
          x->got += (uint64_t)r;
          d->left -= (uint64_t)r;
          d->complete = d->left == 0;
          set_lowat(d, d->left < (uint64_t)LOWAT_MAX ? (int)d->left : LOWAT_MAX);
        }
      } else {
        if (e->scratch == NULL) {
          e->scratch = lf_xmalloc(SCRATCH);
        }
        size_t want = SCRATCH;
        if (d->frame == F_LENGTH && d->left < want) {
          want = (size_t)d->left;
        }
        r = recv(d->fd, e->scratch, want, 0);
        if (r > 0 && !feed(e, x, e->scratch, (size_t)r)) {
          return;
        }
      }
      if (r > 0) {
        x->progress_at_us = lf_time_mono_us();
      }
    }
    if (d->phase == D_BODY && d->complete) {
      end(e, x, CURLE_OK);
      return;
    }
    if (r == 0) {
      ended(e, x);
      return;
    }
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        recv_error(e, x, errno);
      }
      return;
    }
  }
}

// Moves one transfer on as far as its socket allows. `x` may be freed when it returns.
static void step(s3_engine *e, s3_xfer *x, short revents)
{
  if (x->dconn->phase == D_CONNECT) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) {
      return;
    }
    if (!step_connect(e, x) || x->dconn->phase != D_SEND) {
      return;
    }
  }
  if (x->dconn->phase == D_SEND) {
    if ((revents & POLLIN) != 0) {
      x->dconn->phase = D_HEAD; // an answer before the whole request: a refusal, or closed
    } else if (!step_send(e, x) || x->dconn->phase != D_HEAD) {
      return;
    }
  }
  step_recv(e, x);
}

size_t lf_s3_direct_fds(s3_engine *e)
{
  for (size_t i = 0; i < e->ndirect; i++) {
    s3_xfer *x = e->direct[i];
    s3_dconn *d = x->dconn;
    e->dsnap[i] = x;
    e->dfds[i].fd = d->fd;
    e->dfds[i].events = d->phase == D_CONNECT ? CURL_WAIT_POLLOUT
                        : d->phase == D_SEND  ? CURL_WAIT_POLLOUT | CURL_WAIT_POLLIN
                                              : CURL_WAIT_POLLIN;
    e->dfds[i].revents = 0;
  }
  return e->ndirect;
}

void lf_s3_direct_step(s3_engine *e, size_t nfds)
{
  // Each transfer appears once in the snapshot, so one that ends here is not met again.
  for (size_t i = nfds; i-- > 0;) {
    s3_xfer *x = e->dsnap[i];
    short ev = (short)e->dfds[i].revents;
    if (ev == 0) {
      continue;
    }
    // curl reports errors and hang-ups as readable or writable; the next call tells which.
    short pev = 0;
    pev |= (ev & CURL_WAIT_POLLIN) ? POLLIN : 0;
    pev |= (ev & CURL_WAIT_POLLOUT) ? POLLOUT : 0;
    step(e, x, pev != 0 ? pev : (short)(POLLIN | POLLOUT));
  }
  // Deadlines: connecting too long, or no byte moving for the stall limit.
  int64_t now = lf_time_mono_us();
  for (size_t i = e->ndirect; i-- > 0;) {
    s3_xfer *x = e->direct[i];
    s3_dconn *d = x->dconn;
    if (d->phase == D_CONNECT && now > d->connect_deadline_us && d->iaddr < d->naddr) {
      close(d->fd); // the host's next address
      d->fd = -1;
      (void)connect_next(e, x, ETIMEDOUT);
    } else if (d->phase == D_CONNECT && now > d->connect_deadline_us) {
      char what[CURL_ERROR_SIZE];
      snprintf(what, sizeof(what), "connecting to %.200s timed out after %ld s", d->key,
               e->s3->opts.connect_timeout_s);
      fail(e, x, CURLE_OPERATION_TIMEDOUT, what);
    } else if (now - x->progress_at_us > x->stall_limit_us) {
      lowat_progress(x, now);
      if (now - x->progress_at_us <= x->stall_limit_us) {
        continue;
      }
      char what[96];
      snprintf(what, sizeof(what), "stalled: no data for %lld s",
               (long long)(x->stall_limit_us / 1000000));
      lf_s3_sink_fail(x, true, what);
      end(e, x, CURLE_ABORTED_BY_CALLBACK);
    }
  }
}
