// SPDX-License-Identifier: MIT
// This file contains `luaflow run`: argument parsing (run options vs. flow parameters), the
// prefixed task output, and the live progress line for wide steps on a terminal.
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char run_options_help[] =
  "Run options:\n"
  "  --max-workers N        at most N tasks at a time (default 16; LUAFLOW_MAX_WORKERS)\n"
  "  --max-num-splits N     the widest foreach allowed (default 100;\n"
  "                         LUAFLOW_MAX_NUM_SPLITS)\n"
  "  --tag T                add a tag to the run (repeatable)\n"
  "  --run-id-file F        write the run id to F once it is known\n"
  "  --with OPT[:k=v,...]   give every step that lacks it a step option: retry,\n"
  "                         retry:times=2, timeout:minutes=5, catch:var=NAME,\n"
  "                         resources:cpu=2,memory=4000 (repeatable)\n"
  "  --datastore local|s3   where runs are stored (s3: artifacts, records and logs in S3)\n"
  "  --datastore-root DIR|s3://bucket/prefix   datastore location (default ./.luaflow)\n"
  "Parameter values come from --NAME VALUE, else LUAFLOW_RUN_<NAME>, else the default.\n";

typedef struct step_progress {
  char *name;
  int total;
  int done;
  int running;
  int failed;
} step_progress;

struct cli_printer {
  bool color;     // stdout is a terminal and NO_COLOR is unset
  bool color_err; // the same for stderr
  bool progress; // stderr is a terminal
  bool progress_shown;
  step_progress *steps;
  size_t nsteps;
  int64_t last_draw_us;
  lf_status *final_status;
};
typedef struct cli_printer printer;

static void fmt_time(int64_t us, char *out, size_t size)
{
  time_t sec = (time_t)(us / 1000000);
  struct tm tm;
  localtime_r(&sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03d", (int)((us % 1000000) / 1000));
}

static int64_t now_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void clear_progress(printer *p)
{
  if (p->progress_shown) {
    fputs("\r\033[K", stderr);
    p->progress_shown = false;
  }
}

static void draw_progress(printer *p, bool force)
{
  if (!p->progress) {
    return;
  }
  int64_t now = now_us();
  if (!force && now - p->last_draw_us < 100000) {
    return;
  }
  char line[512];
  size_t n = 0;
  for (size_t i = 0; i < p->nsteps && n < sizeof(line) - 1; i++) {
    step_progress *s = &p->steps[i];
    if (s->total <= 1 || s->done + s->failed >= s->total) {
      continue;
    }
    int w = snprintf(line + n, sizeof(line) - n, "%s%s: %d/%d done, %d running, %d failed",
                     n > 0 ? " | " : "", s->name, s->done, s->total, s->running, s->failed);
    if (w < 0) {
      break;
    }
    n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
  }
  clear_progress(p);
  if (n > 0) {
    fprintf(stderr, "%s", line);
    fflush(stderr);
    p->progress_shown = true;
  }
  p->last_draw_us = now;
}

static step_progress *progress_of(printer *p, const char *step)
{
  for (size_t i = 0; i < p->nsteps; i++) {
    if (strcmp(p->steps[i].name, step) == 0) {
      return &p->steps[i];
    }
  }
  p->steps = realloc(p->steps, (p->nsteps + 1) * sizeof(*p->steps));
  if (p->steps == NULL) {
    abort();
  }
  step_progress *s = &p->steps[p->nsteps++];
  memset(s, 0, sizeof(*s));
  s->name = strdup(step);
  return s;
}

static void print_line(printer *p, FILE *f, const lf_event *ev, const char *text,
                       const char *highlight)
{
  char ts[32];
  fmt_time(ev->timestamp_us, ts, sizeof(ts));
  clear_progress(p);
  bool color = f == stderr ? p->color_err : p->color;
  if (ev->step != NULL) {
    if (color) {
      fprintf(f, "\033[2m%s\033[0m \033[36m[%s/%s/%s (pid %lld)]\033[0m %s%s%s\n", ts,
              ev->run_id, ev->step, ev->task_id, (long long)ev->pid,
              highlight != NULL ? highlight : "", text, highlight != NULL ? "\033[0m" : "");
    } else {
      fprintf(f, "%s [%s/%s/%s (pid %lld)] %s\n", ts, ev->run_id, ev->step, ev->task_id,
              (long long)ev->pid, text);
    }
  } else {
    fprintf(f, "%s %s\n", ts, text);
  }
  fflush(f);
}

static bool contains(const char *hay, size_t n, const char *needle)
{
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; i++) {
    if (memcmp(hay + i, needle, m) == 0) {
      return true;
    }
  }
  return false;
}

// Prints the lines of a traceback that point at user code, at most a few.
static void print_traceback(printer *p, const lf_event *ev, const char *tb)
{
  int shown = 0;
  const char *line = tb;
  while (line != NULL && *line != '\0' && shown < 6) {
    const char *nl = strchr(line, '\n');
    size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
    const char *t = line;
    while (n > 0 && (*t == ' ' || *t == '\t')) {
      t++;
      n--;
    }
    bool internal = n == 0 || strncmp(t, "stack traceback:", 16) == 0 ||
                    strncmp(t, "[C]", 3) == 0 || contains(t, n, "lua/luaflow/");
    if (!internal) {
      char buf[1024];
      snprintf(buf, sizeof(buf), "    %.*s", (int)n, t);
      print_line(p, stderr, ev, buf, NULL);
      shown++;
    }
    line = nl != NULL ? nl + 1 : NULL;
  }
}

static void on_event(void *ud, const lf_event *ev)
{
  printer *p = ud;
  char buf[2048];
  switch (ev->kind) {
  case LF_EVENT_RUN_STARTED:
    snprintf(buf, sizeof(buf), "Workflow starting (run-id %s): %s/%s%s%s", ev->run_id,
             ev->flow, ev->run_id, ev->message != NULL ? ", " : "",
             ev->message != NULL ? ev->message : "");
    print_line(p, stdout, ev, buf, NULL);
    break;
  case LF_EVENT_TASK_STARTED:
    print_line(p, stdout, ev, "Task is starting.", NULL);
    break;
  case LF_EVENT_TASK_OUTPUT:
    print_line(p, ev->stream == 2 ? stderr : stdout, ev, ev->line, NULL);
    break;
  case LF_EVENT_TASK_FINISHED:
    print_line(p, stdout, ev, "Task finished successfully.", NULL);
    break;
  case LF_EVENT_TASK_CLONED:
    snprintf(buf, sizeof(buf), "Cloned from %s.", ev->message != NULL ? ev->message : "?");
    print_line(p, stdout, ev, buf, NULL);
    break;
  case LF_EVENT_TASK_FAILED:
    snprintf(buf, sizeof(buf), "Task failed: %s", ev->message != NULL ? ev->message : "");
    print_line(p, stderr, ev, buf, p->color_err ? "\033[31m" : NULL);
    if (ev->detail != NULL) {
      print_traceback(p, ev, ev->detail);
    }
    break;
  case LF_EVENT_RUN_FINISHED:
    clear_progress(p);
    if (ev->message == NULL) {
      snprintf(buf, sizeof(buf), "Done! Run %s/%s finished successfully.", ev->flow,
               ev->run_id);
      print_line(p, stdout, ev, buf, NULL);
    }
    break;
  }
  if (ev->step != NULL && ev->kind != LF_EVENT_TASK_OUTPUT) {
    step_progress *s = progress_of(p, ev->step);
    s->total = ev->step_total;
    s->done = ev->step_done;
    s->running = ev->step_running;
    s->failed = ev->step_failed;
    draw_progress(p, ev->kind != LF_EVENT_TASK_STARTED);
  } else if (p->progress_shown == false && p->nsteps > 0) {
    draw_progress(p, false);
  }
}

static void printer_init(printer *p)
{
  memset(p, 0, sizeof(*p));
  const char *no_color = getenv("NO_COLOR");
  p->progress = isatty(STDERR_FILENO) != 0;
  bool want_color = no_color == NULL || no_color[0] == '\0';
  p->color = isatty(STDOUT_FILENO) != 0 && want_color;
  p->color_err = isatty(STDERR_FILENO) != 0 && want_color;
}

static void printer_clear(printer *p)
{
  clear_progress(p);
  for (size_t i = 0; i < p->nsteps; i++) {
    free(p->steps[i].name);
  }
  free(p->steps);
  p->steps = NULL;
  p->nsteps = 0;
}

cli_printer *cli_printer_new(void)
{
  printer *p = malloc(sizeof(*p));
  if (p != NULL) {
    printer_init(p);
  }
  return p;
}

void cli_printer_free(cli_printer *p)
{
  if (p != NULL) {
    printer_clear(p);
    free(p);
  }
}

void cli_printer_event(void *ud, const lf_event *ev)
{
  on_event(ud, ev);
  if (ev->kind == LF_EVENT_RUN_FINISHED) {
    // A session runs again with the same printer: start the next run's progress afresh.
    printer_clear(ud);
  }
}

static bool parse_int_opt(const char *name, const char *v, int *out)
{
  char *end = NULL;
  long x = strtol(v, &end, 10);
  if (end == v || *end != '\0' || x <= 0 || x > 1000000) {
    cli_error("%s must be a positive integer, got '%s'", name, v);
    return false;
  }
  *out = (int)x;
  return true;
}

static const char resume_usage[] =
  "usage: luaflow resume FLOW.lua [STEP] [--origin-run-id ID] [options]\n\n"
  "Starts a new run that continues a past one: the tasks of steps before STEP that\n"
  "completed are cloned (not run again) and the rest runs with the current code.\n"
  "Default origin: your latest run of the flow. Default STEP: the first step that did\n"
  "not complete; its completed tasks are cloned too, so only the missing and failed ones\n"
  "run. A STEP named explicitly runs again in full. Parameters are those of the origin\n"
  "run.\n\n";

static int run_or_resume(int argc, char **argv, bool resume)
{
  const char *usage = resume ? "usage: luaflow resume FLOW.lua [STEP] [--origin-run-id ID] "
                               "[options]"
                             : "usage: luaflow run FLOW.lua [--PARAM value ...] [options]";
  if (argc < 2 || argv[1][0] == '-') {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
      if (resume) {
        printf("%s%s", resume_usage, run_options_help);
      } else {
        printf("%s\n\n%s", usage, run_options_help);
      }
      return CLI_OK;
    }
    cli_error("%s", usage);
    return CLI_USAGE;
  }
  const char *origin = NULL;
  const char *resume_step = NULL;
  const char *flow_path = argv[1];
  cli_common common = {0};
  const char **params = calloc((size_t)argc * 2 + 2, sizeof(char *));
  const char **tags = calloc((size_t)argc + 1, sizeof(char *));
  const char **with = calloc((size_t)argc + 1, sizeof(char *));
  size_t np = 0;
  size_t nt = 0;
  size_t nw = 0;
  int max_workers = 0;
  int max_splits = 0;
  const char *run_id_file = NULL;
  bool help = false;
  int rc = CLI_USAGE;
  lf_ctx *ctx = NULL;
  lf_flow *flow = NULL;
  lf_run *run = NULL;
  // First pass: run options. Everything else of the form --name [value] is a parameter;
  // whether a bare --name is a boolean flag is decided once the flow is loaded.
  const char **raw = calloc((size_t)argc + 1, sizeof(char *));
  size_t nraw = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (cli_common_option(&common, argc, argv, &i)) {
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      help = true;
      continue;
    }
    static const char *const valued[] = {"--max-workers", "--max-num-splits", "--tag",
                                         "--run-id-file", "--with", "--origin-run-id"};
    int which = -1;
    const char *val = NULL;
    for (int k = 0; k < (resume ? 6 : 5); k++) {
      size_t n = strlen(valued[k]);
      if (strncmp(a, valued[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
        which = k;
        if (a[n] == '=') {
          val = a + n + 1;
        } else if (i + 1 < argc) {
          val = argv[++i];
        }
      }
    }
    if (which >= 0) {
      if (val == NULL) {
        cli_error("option %s needs a value", valued[which]);
        goto out;
      }
      if (which == 0 && !parse_int_opt("--max-workers", val, &max_workers)) {
        goto out;
      }
      if (which == 1 && !parse_int_opt("--max-num-splits", val, &max_splits)) {
        goto out;
      }
      if (which == 2) {
        tags[nt++] = val;
      }
      if (which == 3) {
        run_id_file = val;
      }
      if (which == 4) {
        with[nw++] = val;
      }
      if (which == 5) {
        origin = val;
      }
      continue;
    }
    if (resume && a[0] != '-' && resume_step == NULL) {
      resume_step = a;
      continue;
    }
    if (resume) {
      cli_error("resume takes the parameters of the run it continues; '%s' is not a resume "
                "option (see luaflow resume --help)",
                a);
      goto out;
    }
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
      cli_error("unexpected argument '%s' (parameters are given as --NAME VALUE)", a);
      goto out;
    }
    raw[nraw++] = a;
    // A following argument that is not an option is this option's value.
    if (strchr(a, '=') == NULL && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
      raw[nraw++] = argv[++i];
    } else {
      raw[nraw++] = NULL;
    }
  }
  ctx = cli_ctx(&common);
  lf_status st = lf_flow_load(ctx, flow_path, &flow);
  if (st != LF_OK) {
    fprintf(stderr, "%s\n", lf_ctx_errmsg(ctx));
    rc = cli_exit_code(st);
    goto out;
  }
  if (help) {
    char *ph = lf_flow_params_help(flow);
    printf("usage: luaflow run %s [--PARAM value ...] [options]\n\n%s\n%s", flow_path, ph,
           run_options_help);
    lf_string_free(ph);
    rc = CLI_OK;
    goto out;
  }
  for (size_t i = 0; i < nraw; i += 2) {
    const char *a = raw[i] + 2;
    const char *eq = strchr(a, '=');
    static char names[256][128];
    size_t k = np / 2;
    if (k >= 256) {
      cli_error("too many parameters");
      goto out;
    }
    if (eq != NULL) {
      snprintf(names[k], sizeof(names[k]), "%.*s", (int)(eq - a), a);
      params[np++] = names[k];
      params[np++] = eq + 1;
    } else if (raw[i + 1] != NULL) {
      params[np++] = a;
      params[np++] = raw[i + 1];
    } else if (strncmp(a, "no-", 3) == 0) {
      // --no-flag is false for a boolean parameter named flag
      params[np++] = a + 3;
      params[np++] = "false";
    } else {
      // A bare --flag is true (booleans); for other types the value check reports it.
      params[np++] = a;
      params[np++] = "true";
    }
  }
  char *mw = lf_ctx_setting(ctx, "LUAFLOW_MAX_WORKERS", "max_workers");
  if (max_workers == 0 && mw != NULL && !parse_int_opt("LUAFLOW_MAX_WORKERS", mw, &max_workers)) {
    lf_string_free(mw);
    goto out;
  }
  lf_string_free(mw);
  char *ms = lf_ctx_setting(ctx, "LUAFLOW_MAX_NUM_SPLITS", "max_num_splits");
  if (max_splits == 0 && ms != NULL &&
      !parse_int_opt("LUAFLOW_MAX_NUM_SPLITS", ms, &max_splits)) {
    lf_string_free(ms);
    goto out;
  }
  lf_string_free(ms);

  printer pr;
  printer_init(&pr);
  lf_run_opts o;
  memset(&o, 0, sizeof(o));
  o.size = sizeof(o);
  o.params = params;
  o.tags = tags;
  o.with = with;
  o.max_workers = max_workers;
  o.max_num_splits = max_splits;
  o.run_id_file = run_id_file;
  o.on_event = on_event;
  o.event_ud = &pr;
  o.resume = resume;
  o.origin_run_id = origin;
  o.resume_step = resume_step;
  st = lf_flow_run(flow, &o, &run);
  printer_clear(&pr);
  if (st != LF_OK) {
    if (run != NULL) {
      char ts[32];
      fmt_time(now_us(), ts, sizeof(ts));
      fprintf(stderr, "%s Run %s %s: %s\n", ts, lf_run_pathspec(run),
              st == LF_ERR_INTERRUPTED ? "was interrupted" : "failed", lf_ctx_errmsg(ctx));
      if (st == LF_ERR_INTERRUPTED || st == LF_ERR_TASK) {
        fprintf(stderr, "%s To continue it: luaflow resume %s --origin-run-id %s\n", ts,
                flow_path, lf_run_id(run));
      }
    } else {
      cli_error("%s", lf_ctx_errmsg(ctx));
    }
    rc = cli_exit_code(st);
    goto out;
  }
  rc = CLI_OK;

out:
  lf_run_free(run);
  lf_flow_free(flow);
  lf_ctx_free(ctx);
  free(params);
  free(tags);
  free(with);
  free(raw);
  return rc;
}

int cmd_run(int argc, char **argv)
{
  return run_or_resume(argc, argv, false);
}

int cmd_resume(int argc, char **argv)
{
  return run_or_resume(argc, argv, true);
}
