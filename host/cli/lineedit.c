// SPDX-License-Identifier: MIT
// This file contains the REPL's line editor: one line edited in the terminal's raw mode
// (cursor keys, Home/End, Ctrl-A/E/B/F/K/U/W/L, Alt-B/F, Delete), a history kept across
// sessions in a file (one entry per line, "\n" and "\\" escaped, appended as entries are
// accepted), and Tab completion from a callback (a unique candidate is taken, several extend
// the common prefix, a second Tab lists them). When input is not a terminal it reads plain
// lines, so scripts can be piped in. Ctrl-C in raw mode is a key, not a signal: it cancels
// the line.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define LINE_MAX_BYTES ((size_t)1 << 20)

struct cli_line {
  char *history_path; // NULL: no history file
  char **hist;        // oldest first
  size_t nhist;
  size_t max;
  cli_complete_fn complete;
  cli_complete_free_fn complete_free;
  void *complete_ud;
  bool tty;
  char pending[256]; // keys read while waiting for the terminal's cursor report
  size_t npending;
  size_t ppending;
};

typedef struct edit {
  cli_line *ed;
  const char *prompt;
  size_t plen; // display width of the prompt
  char *buf;
  size_t len;
  size_t cap;
  size_t pos;    // cursor, bytes
  size_t hindex; // position in history while browsing (nhist = the line being edited)
  char *saved;   // the line being edited while browsing history
  bool tabbed;   // the previous key was Tab
} edit;

static size_t term_cols(void)
{
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 80;
}

static void out(const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, s, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return;
    }
    s += w;
    n -= (size_t)w;
  }
}

static void outs(const char *s)
{
  out(s, strlen(s));
}

// Display width of bytes [a, b): one column per UTF-8 character.
static size_t width(const char *s, size_t a, size_t b)
{
  size_t w = 0;
  for (size_t i = a; i < b; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      w++;
    }
  }
  return w;
}

static size_t prev_char(const char *s, size_t pos)
{
  if (pos == 0) {
    return 0;
  }
  pos--;
  while (pos > 0 && ((unsigned char)s[pos] & 0xC0) == 0x80) {
    pos--;
  }
  return pos;
}

static size_t next_char(const char *s, size_t len, size_t pos)
{
  if (pos >= len) {
    return len;
  }
  pos++;
  while (pos < len && ((unsigned char)s[pos] & 0xC0) == 0x80) {
    pos++;
  }
  return pos;
}

// Redraws prompt and line; a line wider than the terminal scrolls to keep the cursor seen.
static void refresh(edit *e)
{
  size_t cols = term_cols();
  size_t start = 0;
  size_t avail = cols > e->plen + 1 ? cols - e->plen - 1 : 1;
  while (width(e->buf, start, e->pos) > avail) {
    start = next_char(e->buf, e->len, start);
  }
  size_t end = start;
  while (end < e->len && width(e->buf, start, next_char(e->buf, e->len, end)) <= avail) {
    end = next_char(e->buf, e->len, end);
  }
  char seq[64];
  outs("\r");
  outs(e->prompt);
  // A recalled multi-line entry shows its line breaks as spaces.
  for (size_t i = start; i < end; i++) {
    out(e->buf[i] == '\n' ? " " : e->buf + i, 1);
  }
  outs("\033[0K");
  snprintf(seq, sizeof(seq), "\r\033[%zuC", e->plen + width(e->buf, start, e->pos));
  if (e->plen + width(e->buf, start, e->pos) > 0) {
    outs(seq);
  } else {
    outs("\r");
  }
}

static void reserve(edit *e, size_t extra)
{
  if (e->len + extra + 1 > e->cap) {
    size_t cap = e->cap * 2 > e->len + extra + 1 ? e->cap * 2 : e->len + extra + 64;
    char *nb = realloc(e->buf, cap);
    if (nb == NULL) {
      abort();
    }
    e->buf = nb;
    e->cap = cap;
  }
}

static void insert(edit *e, const char *s, size_t n)
{
  if (e->len + n > LINE_MAX_BYTES) {
    return;
  }
  reserve(e, n);
  memmove(e->buf + e->pos + n, e->buf + e->pos, e->len - e->pos);
  memcpy(e->buf + e->pos, s, n);
  e->len += n;
  e->pos += n;
  e->buf[e->len] = '\0';
}

static void delete_range(edit *e, size_t a, size_t b)
{
  memmove(e->buf + a, e->buf + b, e->len - b);
  e->len -= b - a;
  e->buf[e->len] = '\0';
  if (e->pos > b) {
    e->pos -= b - a;
  } else if (e->pos > a) {
    e->pos = a;
  }
}

static void set_text(edit *e, const char *s)
{
  e->len = 0;
  e->pos = 0;
  if (e->buf != NULL) {
    e->buf[0] = '\0';
  }
  insert(e, s, strlen(s));
}

static bool is_word(char c)
{
  return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         ((unsigned char)c & 0x80) != 0;
}

static size_t word_left(const edit *e)
{
  size_t p = e->pos;
  while (p > 0 && !is_word(e->buf[p - 1])) {
    p--;
  }
  while (p > 0 && is_word(e->buf[p - 1])) {
    p--;
  }
  return p;
}

static size_t word_right(const edit *e)
{
  size_t p = e->pos;
  while (p < e->len && !is_word(e->buf[p])) {
    p++;
  }
  while (p < e->len && is_word(e->buf[p])) {
    p++;
  }
  return p;
}

static void history_move(edit *e, int dir)
{
  cli_line *ed = e->ed;
  if (ed->nhist == 0) {
    return;
  }
  if (e->hindex == ed->nhist) {
    free(e->saved);
    e->saved = strdup(e->buf != NULL ? e->buf : "");
  }
  if (dir < 0 && e->hindex > 0) {
    e->hindex--;
  } else if (dir > 0 && e->hindex < ed->nhist) {
    e->hindex++;
  } else {
    return;
  }
  set_text(e, e->hindex == ed->nhist ? (e->saved != NULL ? e->saved : "") : ed->hist[e->hindex]);
}

// Lists candidates in columns below the line, then redraws the prompt.
static void list_candidates(char **all, size_t n)
{
  // Shown without the part they share up to a separator: "r.tags" lists as "tags".
  size_t skip = 0;
  for (size_t k = 0; all[0][k] != '\0'; k++) {
    bool shared = true;
    for (size_t i = 1; i < n && shared; i++) {
      shared = strncmp(all[i], all[0], k + 1) == 0;
    }
    if (!shared) {
      break;
    }
    if (strchr("./:", all[0][k]) != NULL) {
      skip = k + 1;
    }
  }
  char **c = malloc(n * sizeof(*c));
  if (c == NULL) {
    return;
  }
  for (size_t i = 0; i < n; i++) {
    c[i] = all[i] + skip;
  }
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    size_t cw = width(c[i], 0, strlen(c[i]));
    w = cw > w ? cw : w;
  }
  w += 2;
  size_t cols = term_cols();
  size_t per = cols / w > 0 ? cols / w : 1;
  outs("\r\n");
  size_t shown = n > 200 ? 200 : n;
  for (size_t i = 0; i < shown; i++) {
    outs(c[i]);
    if ((i + 1) % per == 0 || i + 1 == shown) {
      outs("\r\n");
    } else {
      for (size_t k = width(c[i], 0, strlen(c[i])); k < w; k++) {
        outs(" ");
      }
    }
  }
  if (shown < n) {
    char more[64];
    snprintf(more, sizeof(more), "... (%zu more)\r\n", n - shown);
    outs(more);
  }
  free(c);
}

static void complete_word(edit *e)
{
  cli_line *ed = e->ed;
  if (ed->complete == NULL) {
    return;
  }
  size_t start = e->pos;
  char **c = ed->complete(ed->complete_ud, e->buf != NULL ? e->buf : "", e->pos, &start);
  size_t n = 0;
  while (c != NULL && c[n] != NULL) {
    n++;
  }
  if (n == 0) {
    outs("\a");
  } else {
    // The longest common prefix of the candidates replaces the word.
    size_t common = strlen(c[0]);
    for (size_t i = 1; i < n; i++) {
      size_t k = 0;
      while (k < common && c[i][k] == c[0][k]) {
        k++;
      }
      common = k;
    }
    size_t have = e->pos - start;
    if (common > have || n == 1) {
      char *tail = strdup(e->buf + e->pos);
      e->len = start;
      e->pos = start;
      e->buf[e->len] = '\0';
      insert(e, c[0], common);
      size_t keep = e->pos;
      insert(e, tail != NULL ? tail : "", tail != NULL ? strlen(tail) : 0);
      e->pos = keep;
      free(tail);
    } else if (e->tabbed) {
      list_candidates(c, n);
    } else {
      outs("\a");
    }
  }
  ed->complete_free(c);
}

static int read_byte(cli_line *ed, char *c)
{
  if (ed->ppending < ed->npending) {
    *c = ed->pending[ed->ppending++];
    return 1;
  }
  ed->npending = ed->ppending = 0;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, c, 1);
    if (n == 1) {
      return 1;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return 0;
  }
}

// Handles an escape sequence after ESC. Returns false at end of input.
static bool escape(edit *e)
{
  char a;
  char b;
  if (!read_byte(e->ed, &a)) {
    return false;
  }
  if (a == 'b' || a == 'B') {
    e->pos = word_left(e);
    return true;
  }
  if (a == 'f' || a == 'F') {
    e->pos = word_right(e);
    return true;
  }
  if (a != '[' && a != 'O') {
    return true;
  }
  if (!read_byte(e->ed, &b)) {
    return false;
  }
  if (b >= '0' && b <= '9') {
    char t;
    if (!read_byte(e->ed, &t)) {
      return false;
    }
    while (t >= '0' && t <= '9') { // longer numbers, modifiers: read to the final byte
      if (!read_byte(e->ed, &t)) {
        return false;
      }
    }
    if (t == ';') {
      while (read_byte(e->ed, &t) && !((t >= 'A' && t <= 'Z') || t == '~')) {
      }
      return true;
    }
    if (t == '~') {
      if (b == '3') {
        delete_range(e, e->pos, next_char(e->buf, e->len, e->pos));
      } else if (b == '1' || b == '7') {
        e->pos = 0;
      } else if (b == '4' || b == '8') {
        e->pos = e->len;
      }
    }
    return true;
  }
  switch (b) {
  case 'A':
    history_move(e, -1);
    break;
  case 'B':
    history_move(e, 1);
    break;
  case 'C':
    e->pos = next_char(e->buf, e->len, e->pos);
    break;
  case 'D':
    e->pos = prev_char(e->buf, e->pos);
    break;
  case 'H':
    e->pos = 0;
    break;
  case 'F':
    e->pos = e->len;
    break;
  default:
    break;
  }
  return true;
}

// The raw-mode editing loop. Returns CLI_LINE_OK, CLI_LINE_EOF or CLI_LINE_CANCEL.
static int edit_loop(edit *e)
{
  refresh(e);
  for (;;) {
    char c;
    if (!read_byte(e->ed, &c)) {
      return e->len > 0 ? CLI_LINE_OK : CLI_LINE_EOF;
    }
    bool was_tab = e->tabbed;
    e->tabbed = false;
    switch (c) {
    case '\r':
    case '\n':
      e->pos = e->len;
      refresh(e);
      outs("\r\n");
      return CLI_LINE_OK;
    case 3: // Ctrl-C
      e->pos = e->len;
      refresh(e);
      outs("^C\r\n");
      return CLI_LINE_CANCEL;
    case 4: // Ctrl-D
      if (e->len == 0) {
        outs("\r\n");
        return CLI_LINE_EOF;
      }
      delete_range(e, e->pos, next_char(e->buf, e->len, e->pos));
      break;
    case 127:
    case 8:
      delete_range(e, prev_char(e->buf, e->pos), e->pos);
      break;
    case 9:
      e->tabbed = was_tab;
      complete_word(e);
      e->tabbed = true;
      break;
    case 1:
      e->pos = 0;
      break;
    case 5:
      e->pos = e->len;
      break;
    case 2:
      e->pos = prev_char(e->buf, e->pos);
      break;
    case 6:
      e->pos = next_char(e->buf, e->len, e->pos);
      break;
    case 11:
      delete_range(e, e->pos, e->len);
      break;
    case 21:
      delete_range(e, 0, e->pos);
      break;
    case 23:
      delete_range(e, word_left(e), e->pos);
      break;
    case 12:
      outs("\033[H\033[2J");
      break;
    case 16:
      history_move(e, -1);
      break;
    case 14:
      history_move(e, 1);
      break;
    case 27:
      if (!escape(e)) {
        return CLI_LINE_EOF;
      }
      break;
    default:
      if ((unsigned char)c >= 32) {
        insert(e, &c, 1);
      }
      break;
    }
    refresh(e);
  }
}

static void push_pending(cli_line *ed, const char *s, size_t n)
{
  for (size_t i = 0; i < n && ed->npending < sizeof(ed->pending); i++) {
    ed->pending[ed->npending++] = s[i];
  }
}

// Asks the terminal where the cursor is ("ESC [ 6 n"): false when output that did not end
// with a newline left it mid-line. Keys that arrive first are kept for the editor; a
// terminal that does not answer within 100 ms counts as at the line start.
static bool at_line_start(cli_line *ed)
{
  outs("\033[6n");
  char buf[32];
  size_t n = 0;
  for (;;) {
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int r = poll(&pfd, 1, 100);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    char c;
    if (r <= 0 || read(STDIN_FILENO, &c, 1) != 1) {
      push_pending(ed, buf, n);
      return true;
    }
    if (n == 0 && c != 27) {
      push_pending(ed, &c, 1);
      continue;
    }
    buf[n++] = c;
    if (c == 'R') {
      buf[n] = '\0';
      const char *semi = strchr(buf, ';');
      return semi == NULL || strtol(semi + 1, NULL, 10) <= 1;
    }
    if (n >= sizeof(buf) - 1 || (n == 2 && c != '[')) {
      push_pending(ed, buf, n);
      return true;
    }
  }
}

static struct termios g_orig; // the terminal as the REPL found it
static bool g_saved;

static void restore_terminal(void)
{
  if (g_saved) {
    tcsetattr(STDIN_FILENO, TCSANOW, &g_orig);
  }
}

int cli_line_read(cli_line *ed, const char *prompt, char **line)
{
  *line = NULL;
  if (!ed->tty) {
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getline(&buf, &cap, stdin);
    if (n < 0) {
      free(buf);
      return CLI_LINE_EOF;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
      buf[--n] = '\0';
    }
    *line = buf;
    return CLI_LINE_OK;
  }
  if (!g_saved) {
    if (tcgetattr(STDIN_FILENO, &g_orig) != 0) {
      return CLI_LINE_EOF;
    }
    g_saved = true;
    atexit(restore_terminal);
  }
  struct termios raw = g_orig;
  raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
  raw.c_cflag |= CS8;
  raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  edit e;
  memset(&e, 0, sizeof(e));
  e.ed = ed;
  e.prompt = prompt;
  e.plen = width(prompt, 0, strlen(prompt));
  e.hindex = ed->nhist;
  reserve(&e, 64);
  e.buf[0] = '\0';
  if (!at_line_start(ed)) {
    outs("\r\n"); // keep what the last output left on its line
  }
  int st = edit_loop(&e);
  // Between lines the terminal stays non-canonical without echo, so keys typed while code
  // runs wait for the next prompt intact; Ctrl-C is a signal again, to stop that code.
  raw.c_lflag |= ISIG;
  tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  free(e.saved);
  if (st == CLI_LINE_OK) {
    *line = e.buf;
  } else {
    free(e.buf);
  }
  return st;
}

// History file lines: "\\" and "\n" escaped.
static char *unescape(const char *s)
{
  size_t n = strlen(s);
  char *o = malloc(n + 1);
  if (o == NULL) {
    abort();
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n) {
      i++;
      o[k++] = s[i] == 'n' ? '\n' : s[i];
    } else {
      o[k++] = s[i];
    }
  }
  o[k] = '\0';
  return o;
}

static void write_escaped(FILE *f, const char *s)
{
  for (; *s != '\0'; s++) {
    if (*s == '\n') {
      fputs("\\n", f);
    } else if (*s == '\\') {
      fputs("\\\\", f);
    } else {
      fputc(*s, f);
    }
  }
  fputc('\n', f);
}

static void push_entry(cli_line *ed, char *entry)
{
  if (ed->nhist == ed->max) {
    free(ed->hist[0]);
    memmove(ed->hist, ed->hist + 1, (ed->nhist - 1) * sizeof(*ed->hist));
    ed->nhist--;
  }
  ed->hist[ed->nhist++] = entry;
}

cli_line *cli_line_new(const char *history_path, size_t max, cli_complete_fn complete,
                       cli_complete_free_fn complete_free, void *ud)
{
  cli_line *ed = calloc(1, sizeof(*ed));
  if (ed == NULL) {
    return NULL;
  }
  ed->max = max > 0 ? max : 1;
  ed->hist = calloc(ed->max, sizeof(*ed->hist));
  ed->complete = complete;
  ed->complete_free = complete_free;
  ed->complete_ud = ud;
  ed->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (ed->hist == NULL) {
    free(ed);
    return NULL;
  }
  if (history_path != NULL) {
    ed->history_path = strdup(history_path);
    FILE *f = fopen(history_path, "r");
    if (f != NULL) {
      char *buf = NULL;
      size_t cap = 0;
      ssize_t n;
      size_t lines = 0;
      while ((n = getline(&buf, &cap, f)) >= 0) {
        while (n > 0 && buf[n - 1] == '\n') {
          buf[--n] = '\0';
        }
        if (n > 0) {
          push_entry(ed, unescape(buf));
          lines++;
        }
      }
      free(buf);
      fclose(f);
      // The file grows by appends; past twice the limit it is rewritten with the newest.
      if (lines > 2 * ed->max) {
        char *tmp = malloc(strlen(history_path) + 16);
        if (tmp != NULL) {
          snprintf(tmp, strlen(history_path) + 16, "%s.tmp", history_path);
          FILE *w = fopen(tmp, "w");
          if (w != NULL) {
            for (size_t i = 0; i < ed->nhist; i++) {
              write_escaped(w, ed->hist[i]);
            }
            if (fclose(w) == 0) {
              rename(tmp, history_path);
            }
          }
          free(tmp);
        }
      }
    }
  }
  return ed;
}

bool cli_line_is_tty(const cli_line *ed)
{
  return ed->tty;
}

void cli_line_add_history(cli_line *ed, const char *entry)
{
  if (entry[0] == '\0' || (ed->nhist > 0 && strcmp(ed->hist[ed->nhist - 1], entry) == 0)) {
    return;
  }
  char *copy = strdup(entry);
  if (copy == NULL) {
    return;
  }
  push_entry(ed, copy);
  if (ed->history_path != NULL) {
    FILE *f = fopen(ed->history_path, "a");
    if (f != NULL) {
      write_escaped(f, entry);
      fclose(f);
    }
  }
}

void cli_line_free(cli_line *ed)
{
  if (ed == NULL) {
    return;
  }
  restore_terminal();
  for (size_t i = 0; i < ed->nhist; i++) {
    free(ed->hist[i]);
  }
  free(ed->hist);
  free(ed->history_path);
  free(ed);
}
