/* SPDX-License-Identifier: MIT */
/*
 * luaflow.h - the public embedding API of luaflow.
 *
 * A program embeds luaflow through this header only: create a context, load a flow file,
 * validate it, run it, and read its history and artifacts back. The `luaflow` command line
 * tool is a client of exactly this API.
 *
 * Conventions:
 *  - All state hangs off an lf_ctx; two contexts may coexist. A context is used from one
 *    thread at a time.
 *  - Functions return lf_status (LF_OK = 0) or a pointer that is NULL on failure; the detail
 *    is in lf_ctx_errmsg(). lf_status_str() gives static text for a code.
 *  - Strings returned by the library are borrowed unless a function says otherwise.
 */
#ifndef LUAFLOW_H
#define LUAFLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LF_BUILDING_LIBRARY)
#define LF_API __attribute__((visibility("default")))
#else
#define LF_API
#endif

#define LF_VERSION_MAJOR 0
#define LF_VERSION_MINOR 1
#define LF_VERSION_PATCH 0

/// Status codes. The numbers are part of the ABI: never renumbered, only appended.
typedef enum lf_status {
  LF_OK = 0,              ///< 0: success
  LF_ERR_USAGE = 1,       ///< 1: bad argument or option
  LF_ERR_FLOW = 2,        ///< 2: the flow file is invalid (syntax, graph, options)
  LF_ERR_TASK = 3,        ///< 3: a task failed
  LF_ERR_IO = 4,          ///< 4: file system or pipe error
  LF_ERR_STORE = 5,       ///< 5: datastore error
  LF_ERR_CORRUPT = 6,     ///< 6: stored data failed verification
  LF_ERR_NOMEM = 7,       ///< 7: out of memory
  LF_ERR_NOTFOUND = 8,    ///< 8: no such flow, run, step, task or artifact
  LF_ERR_INTERRUPTED = 9, ///< 9: interrupted by a signal
  LF_ERR_UNSTORABLE = 10, ///< 10: a value cannot be stored as an artifact
  LF_ERR_META = 11,       ///< 11: metadata index error
  LF_ERR_INTERNAL = 12,   ///< 12: a bug in luaflow
} lf_status;

/// Log levels for lf_config.log.
typedef enum lf_log_level {
  LF_LOG_DEBUG = 0,
  LF_LOG_INFO = 1,
  LF_LOG_WARN = 2,
  LF_LOG_ERROR = 3,
} lf_log_level;

typedef struct lf_ctx lf_ctx;
typedef struct lf_flow lf_flow;
typedef struct lf_run lf_run;

/// Allocator for Lua states, like lua_Alloc: realloc semantics, free when nsize == 0.
typedef void *(*lf_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);
/// Log sink. `msg` is one line without newline, valid during the call.
typedef void (*lf_log_fn)(void *ud, lf_log_level level, const char *msg);

/// Context configuration. Zero-initialise, set `size = sizeof(lf_config)`, fill what you need.
typedef struct lf_config {
  size_t size;                ///< sizeof(lf_config) as compiled by the caller
  lf_alloc_fn alloc;          ///< allocator for Lua states; NULL: libc
  void *alloc_ud;             ///< passed to alloc
  lf_log_fn log;              ///< log sink; NULL: stderr
  void *log_ud;               ///< passed to log
  lf_log_level log_level;     ///< minimum level passed to log
  const char *datastore_root; ///< a directory or s3://bucket/prefix; NULL:
                              ///< $LUAFLOW_DATASTORE_ROOT, the config file, or ./.luaflow
  const char *luaflow_bin;    ///< path of the `luaflow` binary workers run; NULL: found in PATH
  size_t lua_mem_limit;       ///< bytes a Lua state may hold; 0: unlimited
  /// "local" or "s3"; NULL: $LUAFLOW_DATASTORE, the config file's `datastore`, or the form of
  /// the root (an s3://bucket/prefix root is S3). For "s3" without datastore_root the root is
  /// $LUAFLOW_DATASTORE_ROOT_S3 (config: datastore_root_s3).
  const char *datastore;
} lf_config;

/// Value types of artifacts as seen from C.
typedef enum lf_value_type {
  LF_VAL_NIL = 0,
  LF_VAL_BOOLEAN = 1,
  LF_VAL_INTEGER = 2,
  LF_VAL_FLOAT = 3,
  LF_VAL_STRING = 4,
  LF_VAL_TABLE = 5, ///< only the encoded bytes are available from C
  LF_VAL_ARRAY = 6, ///< typed numeric array; only the encoded bytes are available from C
} lf_value_type;

/// An artifact value read through the C API. Free with lf_value_free().
typedef struct lf_value {
  lf_value_type type;
  int boolean;          ///< LF_VAL_BOOLEAN
  int64_t integer;      ///< LF_VAL_INTEGER
  double number;        ///< LF_VAL_FLOAT
  const char *str;      ///< LF_VAL_STRING: bytes (NUL-terminated, may contain NULs)
  size_t len;           ///< LF_VAL_STRING: length of str
  const void *encoded;  ///< every type: the value's canonical encoding
  size_t encoded_len;   ///< length of encoded
} lf_value;

/// Progress events delivered during lf_flow_run().
typedef enum lf_event_kind {
  LF_EVENT_RUN_STARTED = 0,
  LF_EVENT_TASK_STARTED = 1,
  LF_EVENT_TASK_FINISHED = 2,
  LF_EVENT_TASK_FAILED = 3,
  LF_EVENT_TASK_OUTPUT = 4, ///< one line of a task's stdout (stream 1) or stderr (stream 2)
  LF_EVENT_RUN_FINISHED = 5,
  LF_EVENT_TASK_CLONED = 6, ///< resume: committed from the origin run's task (`message`)
} lf_event_kind;

typedef struct lf_event {
  lf_event_kind kind;
  const char *flow;     ///< flow name
  const char *run_id;   ///< run id
  const char *step;     ///< step name; NULL for run events
  const char *task_id;  ///< task id; NULL for run events
  int64_t pid;          ///< worker process id, or 0
  int stream;           ///< LF_EVENT_TASK_OUTPUT: 1 stdout, 2 stderr
  const char *line;     ///< LF_EVENT_TASK_OUTPUT: the line, without newline
  const char *message;  ///< LF_EVENT_TASK_FAILED: the failure, one line
  int64_t timestamp_us; ///< wall clock, microseconds since the epoch
  const char *detail;   ///< LF_EVENT_TASK_FAILED: the traceback, or NULL
  int step_total;       ///< task events: tasks of this step known so far (foreach width)
  int step_done;        ///< task events: finished tasks of this step
  int step_running;     ///< task events: running tasks of this step
  int step_failed;      ///< task events: failed tasks of this step
} lf_event;

typedef void (*lf_event_fn)(void *ud, const lf_event *ev);

/// Options of one run. Zero-initialise, set `size`, fill what you need.
typedef struct lf_run_opts {
  size_t size;               ///< sizeof(lf_run_opts)
  const char *const *params; ///< name/value pairs: {"creature", "seal", ...}; NULL-terminated
  int max_workers;           ///< 0: 16
  int max_num_splits;        ///< 0: 100
  const char *const *tags;   ///< user tags, NULL-terminated; may be NULL
  const char *run_id_file;   ///< write the run id here once it is known; may be NULL
  const char *const *with;   ///< `--with` options ("retry", "batch:cpu=4"), NULL-terminated
  lf_event_fn on_event;      ///< progress callback; may be NULL
  void *event_ud;            ///< passed to on_event
  int resume;                ///< non-zero: continue a past run (`luaflow resume`); the new
                             ///< run clones the origin's completed tasks before resume_step
  const char *origin_run_id; ///< resume: the run to continue; NULL: this user's latest run
  const char *resume_step;   ///< resume: first step to run again; NULL: the first that did
                             ///< not complete
} lf_run_opts;

/// Static text for a status code; never NULL.
LF_API const char *lf_status_str(lf_status st);
/// Library version as "MAJOR.MINOR.PATCH".
LF_API const char *lf_version(void);

/// Creates a context. `cfg` may be NULL for defaults. Returns NULL only when out of memory.
/// Caller frees with lf_ctx_free().
LF_API lf_ctx *lf_ctx_new(const lf_config *cfg);
/// Frees a context and everything it owns. NULL is allowed.
LF_API void lf_ctx_free(lf_ctx *ctx);
/// The message of the last failure on this context ("" if none). Borrowed until the next call.
LF_API const char *lf_ctx_errmsg(const lf_ctx *ctx);
/// The datastore root the context uses. Borrowed.
LF_API const char *lf_ctx_datastore_root(const lf_ctx *ctx);
/// A setting: the variable `env` if set and non-empty, else key `key` of
/// ~/.luaflowconfig/config.json (strings, numbers and booleans as text), else NULL.
/// Caller frees with lf_string_free().
LF_API char *lf_ctx_setting(const lf_ctx *ctx, const char *env, const char *key);

/// Loads and validates a flow file without running any step.
/// @param[out] out the flow; caller frees with lf_flow_free(). NULL on failure.
/// @return LF_OK, LF_ERR_FLOW with a `file:line: step 'x': ...` message, or LF_ERR_IO.
LF_API lf_status lf_flow_load(lf_ctx *ctx, const char *path, lf_flow **out);
LF_API void lf_flow_free(lf_flow *flow);
/// The flow's name. Borrowed; valid until lf_flow_free().
LF_API const char *lf_flow_name(const lf_flow *flow);
/// Renders the graph with step docs and options, as `luaflow show` prints it.
/// @return a NUL-terminated string the caller frees with lf_string_free().
LF_API char *lf_flow_describe(const lf_flow *flow);
/// Renders the parameter help (`luaflow run FLOW --help`). Caller frees with lf_string_free().
LF_API char *lf_flow_params_help(const lf_flow *flow);

/// Runs the flow to completion on the context's event loop, one process per task.
/// @param[out] out the run (even when a task failed); caller frees with lf_run_free().
/// @return LF_OK, LF_ERR_TASK if a task failed, LF_ERR_USAGE for bad parameters,
///         LF_ERR_INTERRUPTED after SIGINT/SIGTERM, or another error.
LF_API lf_status lf_flow_run(lf_flow *flow, const lf_run_opts *opts, lf_run **out);
/// Requests that a running lf_flow_run() stop: running tasks are killed. Async-signal-safe.
LF_API void lf_ctx_interrupt(lf_ctx *ctx);

LF_API void lf_run_free(lf_run *run);
/// The run id. Borrowed; valid until lf_run_free().
LF_API const char *lf_run_id(const lf_run *run);
/// The run's pathspec "Flow/run". Borrowed.
LF_API const char *lf_run_pathspec(const lf_run *run);
/// Resume: the run this one continues ("Flow/run"), or NULL. Borrowed.
LF_API const char *lf_run_origin(const lf_run *run);

/// Reads artifact `name` of task `pathspec` ("Flow/run/step/task") from the datastore.
/// @param[out] out the value; caller frees with lf_value_free().
/// @return LF_OK, LF_ERR_NOTFOUND, LF_ERR_CORRUPT, or LF_ERR_STORE.
LF_API lf_status lf_run_read_artifact(lf_ctx *ctx, const char *pathspec, const char *name,
                                      lf_value **out);

/// What `luaflow step` runs: one attempt of one task, in this process. Local and remote
/// executors alike start workers this way.
typedef struct lf_step_opts {
  size_t size;            ///< sizeof(lf_step_opts)
  const char *flow_path;  ///< the flow file
  const char *step;       ///< step name
  const char *run_id;
  const char *task_id;
  int attempt;            ///< 0 for the first attempt
  const char *inputs;     ///< parent tasks: "start/1", "work/2-1001,other/7"; NULL for start
  int split_index;        ///< 1-based foreach index, 0 if not a foreach task
  int msg_fd;             ///< fd for reports to the scheduler, or -1
  int serve_fd;           ///< > 0: serve tasks of this run as a fork server on this socket
                          ///< (the scheduler's local executor); step/task_id are unused
  int catch_mode;         ///< non-zero: run nothing; commit the failure of attempt
                          ///< `catch_from` into the step's catch artifact
  int catch_from;
  const char *const *with; ///< the run's --with specs, NULL-terminated; may be NULL
} lf_step_opts;

/// Runs one task. The step's output goes to this process's stdout/stderr.
/// @return LF_OK when the task committed, LF_ERR_TASK when the step failed (message set),
///         or another error.
LF_API lf_status lf_run_step(lf_ctx *ctx, const lf_step_opts *opts);

/// What `luaflow step ARGS...` does: parses the worker arguments (argv[0] is the program,
/// argv[1] "step") and runs one task, or serves as the run's fork server. For programs that
/// are their own worker binary (see luaflow_ext.h). `--datastore-root` in the arguments
/// replaces the context's root.
/// @return the process exit status: 0 ok, 1 the task failed, 2 bad arguments.
LF_API int lf_worker_main(lf_ctx *ctx, int argc, char **argv);

/// The stored output of the tasks matched by `pathspec` ("Flow/run/step" or
/// "Flow/run/step/task"), latest attempt, concatenated in task order.
/// @param stream 1 for stdout, 2 for stderr.
/// @param[out] out caller frees with lf_string_free(); @param[out] len its length.
LF_API lf_status lf_run_logs(lf_ctx *ctx, const char *pathspec, int stream, char **out,
                             size_t *len);
/// A text listing of the artifacts of the tasks matched by `pathspec`: name, type, size and
/// a short value. Caller frees `out` with lf_string_free().
LF_API lf_status lf_run_dump(lf_ctx *ctx, const char *pathspec, char **out);
/// Adds then removes user tags of the run "Flow/run" (either list may be NULL; both
/// NULL-terminated) and gives its user tags afterwards, one per line, sorted. System tags
/// ("user:ann", ...) are read-only. Caller frees `out` with lf_string_free().
/// @return LF_OK, LF_ERR_NOTFOUND, LF_ERR_USAGE (a bad or system tag), or another error.
LF_API lf_status lf_run_tag(lf_ctx *ctx, const char *run_pathspec, const char *const *add,
                            const char *const *remove, char **out);
/// Rebuilds the metadata index from the datastore.
LF_API lf_status lf_ctx_reindex(lf_ctx *ctx);
/// One run of the history (lf_ctx_runs). Strings are borrowed for the callback's duration.
typedef struct lf_run_info {
  const char *flow;
  const char *run_id;
  const char *pathspec;            ///< "Flow/run"
  const char *user;
  const char *status;              ///< "running", "ok", "failed" or "interrupted"
  int64_t created_at_us;           ///< microseconds since the epoch
  int64_t finished_at_us;          ///< 0 while the run has not finished
  const char *origin;              ///< resume: the run it continues ("Flow/run"), or NULL
  const char *const *tags;         ///< user tags, sorted, NULL-terminated
  const char *const *system_tags;  ///< "user:ann", ..., sorted, NULL-terminated
} lf_run_info;

/// Which runs lf_ctx_runs() gives. Zero-initialise, set `size`, fill what you need.
typedef struct lf_run_query {
  size_t size;              ///< sizeof(lf_run_query)
  const char *flow;         ///< the flow's name (required)
  const char *user;         ///< only this user's runs; NULL: everyone's
  const char *const *tags;  ///< only runs carrying all of these tags, NULL-terminated; may be NULL
  int successful_only;      ///< non-zero: only runs that finished successfully
  size_t limit;             ///< at most this many (the newest); 0: no limit
} lf_run_query;

/// Called once per run, newest first; return non-zero to stop early.
typedef int (*lf_run_fn)(void *ud, const lf_run_info *run);
/// Runs of a flow from the history index, newest first, answered from the index (no scan of
/// the datastore). A flow without runs calls nothing and returns LF_OK.
/// @return LF_OK, LF_ERR_USAGE (no flow), or LF_ERR_META.
LF_API lf_status lf_ctx_runs(lf_ctx *ctx, const lf_run_query *q, lf_run_fn fn, void *ud);

/// One task of a run (lf_ctx_tasks). Strings are borrowed for the callback's duration.
typedef struct lf_task_info {
  const char *pathspec;   ///< "Flow/run/step/task"
  const char *step;
  const char *task_id;
  const char *status;     ///< "ok" or "failed"
  int committed;          ///< non-zero: the task committed (its artifacts can be read)
  int64_t attempt;        ///< the committed attempt, or the latest one
  int64_t started_at_us;
  int64_t finished_at_us;
  const char *origin;     ///< resume: the task it was cloned from, or NULL
} lf_task_info;

typedef int (*lf_task_fn)(void *ud, const lf_task_info *task);
/// Tasks of a run ("Flow/run": every step in execution order) or of one step
/// ("Flow/run/step"), by task id within a step; return non-zero from `fn` to stop early.
/// @return LF_OK, LF_ERR_NOTFOUND ("no run 'Flow/12'"), LF_ERR_USAGE, or LF_ERR_META.
LF_API lf_status lf_ctx_tasks(lf_ctx *ctx, const char *pathspec, lf_task_fn fn, void *ud);

/// One artifact of a task (lf_ctx_artifacts). Strings are borrowed for the callback.
typedef struct lf_artifact_info {
  const char *name;
  const char *type;   ///< "nil", "boolean", "integer", "float", "string", "table", "array"
  const char *sha;    ///< sha256 of the canonical encoding, lowercase hex
  int64_t size;       ///< bytes of the canonical encoding
} lf_artifact_info;

typedef int (*lf_artifact_fn)(void *ud, const lf_artifact_info *a);
/// Artifacts of a committed task "Flow/run/step/task", by name; read one with
/// lf_run_read_artifact().
/// @return LF_OK, LF_ERR_NOTFOUND, LF_ERR_USAGE, or LF_ERR_META.
LF_API lf_status lf_ctx_artifacts(lf_ctx *ctx, const char *task_pathspec, lf_artifact_fn fn,
                                  void *ud);

/// An interactive session (`luaflow repl`): a Lua state with the client's Flow, Run, Step,
/// Task and namespace as globals and results printed readably; with a flow file also
/// `run{ param = value }` (a real run of the file as it is now) and
/// `step("name", { from = "Flow/12/start/1" })` (one step tried in this process against a
/// past task's artifacts; nothing is stored). A session is used from one thread.
typedef struct lf_session lf_session;

/// Results of lf_session_eval().
typedef enum lf_eval_result {
  LF_EVAL_OK = 0,         ///< ran; `out` holds the printed values, if any
  LF_EVAL_INCOMPLETE = 1, ///< the chunk continues: read another line and evaluate both
  LF_EVAL_ERROR = 2,      ///< a syntax or runtime error; `out` holds the message
} lf_eval_result;

/// Opens a session. `flow_path` may be NULL (history only); `run_opts` (may be NULL) is the
/// template of run{}: its event callback prints the run's progress.
/// @return the session, or NULL (message in lf_ctx_errmsg: an invalid flow file, say).
LF_API lf_session *lf_session_new(lf_ctx *ctx, const char *flow_path,
                                  const lf_run_opts *run_opts);
LF_API void lf_session_free(lf_session *s);
/// Evaluates typed input: an expression (its values are formatted into `out`) or statements.
/// @param[out] out text to show, or NULL; caller frees with lf_string_free().
LF_API lf_eval_result lf_session_eval(lf_session *s, const char *chunk, size_t len,
                                      char **out);
/// Completion candidates for `line` with the cursor at byte `cursor`: globals, fields of
/// tables and history objects, and pathspecs inside string literals. Each candidate
/// replaces line[*start .. cursor).
/// @return a NULL-terminated list (possibly empty) the caller frees with lf_strings_free().
LF_API char **lf_session_complete(lf_session *s, const char *line, size_t cursor,
                                  size_t *start);
/// Stops the code the session is running (an evaluation, a step() or a run{}) at its next
/// instruction with the error "interrupted". Async-signal-safe.
LF_API void lf_session_interrupt(lf_session *s);
/// Frees a NULL-terminated list of strings returned by the library. NULL is allowed.
LF_API void lf_strings_free(char **list);

/*
 * S3 objects (`luaflow s3`): listing, transfers between S3 and local files or descriptors,
 * removal and presigned URLs, with the semantics of `aws s3`. The context makes one S3 client
 * on first use; credentials, region and endpoint come from the environment and the AWS
 * config files as the AWS CLI finds them (docs/s3.md). Transfers run in parallel; large
 * objects move in parallel parts, streamed to and from files. A bad URL or argument gives
 * LF_ERR_USAGE before anything is transferred; a missing object or bucket LF_ERR_NOTFOUND;
 * other failures LF_ERR_STORE or LF_ERR_IO. Messages name the object and S3's reason
 * ("cannot get 's3://bkt/key' (404 NoSuchKey: ...)") and never contain a secret.
 */

/// An object, or a common prefix of a one-level listing. Strings are borrowed for the
/// callback's duration.
typedef struct lf_object_info {
  const char *url;       ///< "s3://bucket/key"
  const char *key;       ///< the key; a common prefix ends in '/'
  int is_prefix;         ///< non-zero: a common prefix ("directory"), not an object
  uint64_t size;         ///< bytes; 0 for prefixes
  int64_t last_modified; ///< Unix seconds; 0 if unknown
  const char *path;      ///< get and put: the local file written or read; NULL otherwise
} lf_object_info;

/// Called once per object; return non-zero to stop early.
typedef int (*lf_object_fn)(void *ud, const lf_object_info *obj);

/// Lists "s3://bucket/prefix": one level (keys up to the next '/', the deeper ones rolled up
/// into common prefixes), or with `recursive` every object whose key starts with the prefix.
/// Entries come in S3's (byte) order.
/// @return LF_OK (nothing called if nothing matches), LF_ERR_NOTFOUND (no such bucket), ...
LF_API lf_status lf_ctx_s3_list(lf_ctx *ctx, const char *url, int recursive, lf_object_fn fn,
                                void *ud);
/// Downloads to local files. One object: to `path`, or into it, named after the key's last
/// component, when `path` is a directory or ends in '/' (NULL: the current directory). With
/// `recursive`, every object below the prefix (taken as a directory: "s3://b/data" means
/// "s3://b/data/") goes to `path`/<key below the prefix>; keys that would leave `path`
/// ('..', empty components) fail the call before anything is written. Missing directories
/// are made; each file is written to a temp file beside it and renamed when complete.
/// @param fn called per object written (may be NULL), in key order
LF_API lf_status lf_ctx_s3_get(lf_ctx *ctx, const char *url, const char *path, int recursive,
                               lf_object_fn fn, void *ud);
/// Uploads local files. One file: to the URL's key, or to the prefix plus the file's name
/// when the URL ends in '/'. With `recursive`, every regular file below the directory `path`
/// (following links to files, not to directories) goes to <prefix>/<path below the
/// directory>. Large files go up as multipart uploads.
/// @param fn called per object written (may be NULL), in key order
LF_API lf_status lf_ctx_s3_put(lf_ctx *ctx, const char *path, const char *url, int recursive,
                               lf_object_fn fn, void *ud);
/// Removes the object (a missing key is not an error), or with `recursive` every object
/// below the prefix (taken as a directory, as for lf_ctx_s3_get).
/// @param fn called per object removed (may be NULL)
LF_API lf_status lf_ctx_s3_rm(lf_ctx *ctx, const char *url, int recursive, lf_object_fn fn,
                              void *ud);
/// Writes the object's bytes to `fd` in order (a pipe or terminal is fine), in parallel
/// ranges with bounded memory; an object replaced meanwhile fails the call.
LF_API lf_status lf_ctx_s3_read(lf_ctx *ctx, const char *url, int fd);
/// Uploads everything read from `fd` until end of input (a pipe is fine): small inputs from
/// memory, larger ones through a temp file ($TMPDIR or /tmp) as a multipart upload.
LF_API lf_status lf_ctx_s3_write(lf_ctx *ctx, int fd, const char *url);
/// A presigned URL for `method` ("GET", "PUT", "HEAD" or "DELETE"; NULL: "GET") on the
/// object, valid for `expires_s` seconds (1 to 604800). Anyone holding it may use it.
/// @param[out] out the URL; caller frees with lf_string_free(). NULL on failure.
/// @return LF_OK, LF_ERR_USAGE (bad URL, method or expiry), or a credentials failure
LF_API lf_status lf_ctx_s3_presign(lf_ctx *ctx, const char *url, const char *method,
                                   int64_t expires_s, char **out);

LF_API void lf_value_free(lf_value *v);
LF_API void lf_string_free(char *s);

#ifdef __cplusplus
}
#endif
#endif /* LUAFLOW_H */
