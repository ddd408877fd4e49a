// SPDX-License-Identifier: MIT
// This file contains the context: configuration defaults (command line > LUAFLOW_* variables
// > ~/.luaflowconfig/config.json > built-in), the lazily opened store and index (and S3
// client, made in objects.c), the loop.
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "luaflow_ext.h"
#include "api/reindex.h"
#include "lua_api/modules.h"
#include "s3/s3_store.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/settings.h"
#include "s3/s3.h"
#include "sched/sched.h"

static void on_interrupt_async(uv_async_t *a)
{
  lf_ctx *ctx = a->data;
  if (ctx->sched != NULL) {
    lf_sched_interrupt(ctx->sched);
  }
}

// Picks the datastore root from the configuration and settings; a contradiction (an S3
// root for the local datastore, S3 without an s3:// root) is kept in setup_err and reported
// when the store is first needed, so that commands that need no store still work.
static void choose_datastore(lf_ctx *ctx)
{
  lf_err_clear(&ctx->setup_err);
  const char *kind = ctx->cfg.datastore;
  char *own = NULL;
  if (kind == NULL || kind[0] == '\0') {
    own = lf_settings_get("LUAFLOW_DATASTORE", "datastore");
    kind = own;
  }
  const char *root = ctx->cfg.datastore_root;
  bool given = root != NULL && root[0] != '\0';
  if (kind != NULL && strcmp(kind, "local") != 0 && strcmp(kind, "s3") != 0) {
    LF_ERR(&ctx->setup_err, LF_ERR_USAGE, "the datastore must be 'local' or 's3', got '%s'",
           kind);
    ctx->datastore_root = lf_xstrdup("");
  } else if (given) {
    ctx->datastore_root = lf_settings_normalize_root(root);
  } else {
    ctx->datastore_root = lf_settings_datastore_root(kind);
    if (ctx->datastore_root == NULL) {
      LF_ERR(&ctx->setup_err, LF_ERR_USAGE,
             "the s3 datastore needs a root: --datastore-root s3://bucket/prefix, "
             "LUAFLOW_DATASTORE_ROOT_S3, or datastore_root_s3 in ~/.luaflowconfig/config.json");
      ctx->datastore_root = lf_xstrdup("");
    }
  }
  bool s3 = lf_settings_root_is_s3(ctx->datastore_root);
  if (ctx->setup_err.code == LF_OK && kind != NULL && strcmp(kind, "s3") == 0 && !s3) {
    LF_ERR(&ctx->setup_err, LF_ERR_USAGE,
           "the s3 datastore needs a root of the form s3://bucket/prefix, got '%s'",
           ctx->datastore_root);
  } else if (ctx->setup_err.code == LF_OK && kind != NULL && strcmp(kind, "local") == 0 && s3) {
    LF_ERR(&ctx->setup_err, LF_ERR_USAGE,
           "the local datastore cannot use the S3 root '%s' (use --datastore s3)",
           ctx->datastore_root);
  }
  lf_free(own);
}

LF_API lf_ctx *lf_ctx_new(const lf_config *cfg)
{
  lf_ctx *ctx = lf_xcalloc(1, sizeof(*ctx));
  if (cfg != NULL) {
    size_t n = cfg->size < sizeof(ctx->cfg) ? cfg->size : sizeof(ctx->cfg);
    memcpy(&ctx->cfg, cfg, n);
  }
  ctx->cfg.size = sizeof(ctx->cfg);
  if (ctx->cfg.log != NULL) {
    lf_log_set_sink(ctx->cfg.log, ctx->cfg.log_ud, ctx->cfg.log_level);
  }
  choose_datastore(ctx);
  if (ctx->cfg.luaflow_bin != NULL) {
    ctx->luaflow_bin = lf_xstrdup(ctx->cfg.luaflow_bin);
  } else if (getenv("LUAFLOW_BIN") != NULL) {
    ctx->luaflow_bin = lf_xstrdup(getenv("LUAFLOW_BIN"));
  } else {
    ctx->luaflow_bin = lf_xstrdup("luaflow");
  }
  lf_err_clear(&ctx->err);
  return ctx;
}

static void walk_close(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h)) {
    uv_close(h, NULL);
  }
}

LF_API void lf_ctx_free(lf_ctx *ctx)
{
  if (ctx == NULL) {
    return;
  }
  if (ctx->loop_ready) {
    uv_walk(&ctx->loop, walk_close, NULL);
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ctx->loop);
  }
  if (ctx->meta != NULL) {
    lf_meta_close(ctx->meta);
  }
  if (ctx->store != NULL) {
    lf_store_free(ctx->store);
  }
  lf_s3_free(ctx->s3);
  for (size_t i = 0; i < ctx->nmodules; i++) {
    lf_free((char *)ctx->modules[i].name);
  }
  lf_free(ctx->modules);
  lf_free(ctx->datastore_root);
  lf_free(ctx->luaflow_bin);
  lf_free(ctx);
}

LF_API const char *lf_ctx_errmsg(const lf_ctx *ctx)
{
  return ctx != NULL ? ctx->err.msg : "no context";
}

LF_API const char *lf_ctx_datastore_root(const lf_ctx *ctx)
{
  return ctx->datastore_root;
}

LF_API char *lf_ctx_setting(const lf_ctx *ctx, const char *env, const char *key)
{
  (void)ctx;
  return lf_settings_get(env, key);
}

LF_API lf_status lf_ctx_add_lua_module(lf_ctx *ctx, const char *name, lua_CFunction open)
{
  lf_err err;
  lf_err_clear(&err);
  if (name == NULL || name[0] == '\0' || open == NULL) {
    LF_ERR(&err, LF_ERR_USAGE, "a Lua module needs a name and an open function");
    return lf_api_fail(ctx, &err);
  }
  if (strcmp(name, "luaflow") == 0 || strncmp(name, "luaflow.", 8) == 0) {
    LF_ERR(&err, LF_ERR_USAGE, "module name '%s' is luaflow's own; choose another", name);
    return lf_api_fail(ctx, &err);
  }
  ctx->modules = lf_xrealloc(ctx->modules, (ctx->nmodules + 1) * sizeof(lf_lua_cmodule));
  ctx->modules[ctx->nmodules].name = lf_xstrdup(name);
  ctx->modules[ctx->nmodules].open = open;
  ctx->nmodules++;
  return LF_OK;
}

LF_API void lf_ctx_interrupt(lf_ctx *ctx)
{
  ctx->interrupt_requested = 1;
  if (ctx->loop_ready) {
    uv_async_send(&ctx->interrupt_async);
  }
}

lf_status lf_api_fail(lf_ctx *ctx, const lf_err *err)
{
  lf_err_clear(&ctx->err);
  ctx->err = *err;
  return err->code;
}

lf_store *lf_api_store(lf_ctx *ctx)
{
  if (ctx->setup_err.code != LF_OK) {
    lf_api_fail(ctx, &ctx->setup_err);
    return NULL;
  }
  if (ctx->store == NULL) {
    lf_err err;
    lf_err_clear(&err);
    ctx->store = lf_datastore_open(ctx->datastore_root, &err);
    if (ctx->store == NULL) {
      lf_api_fail(ctx, &err);
    }
  }
  return ctx->store;
}

lf_meta *lf_api_meta(lf_ctx *ctx)
{
  if (ctx->setup_err.code != LF_OK) {
    lf_api_fail(ctx, &ctx->setup_err);
    return NULL;
  }
  if (ctx->meta == NULL) {
    lf_err err;
    lf_err_clear(&err);
    // For S3 the index is a local cache of the datastore: a new cache is filled from it.
    char *path = lf_settings_index_path(ctx->datastore_root);
    bool fill = lf_settings_root_is_s3(ctx->datastore_root) && !lf_fs_exists(path);
    lf_store *store = fill ? lf_api_store(ctx) : NULL;
    if (fill && store == NULL) {
      lf_free(path);
      return NULL;
    }
    ctx->meta = lf_meta_open(path, &err);
    if (ctx->meta != NULL && fill && lf_api_reindex(store, ctx->meta, &err) != LF_OK) {
      lf_meta_close(ctx->meta);
      ctx->meta = NULL;
      unlink(path); // a half-filled cache must not pass for a complete one
    }
    lf_free(path);
    if (ctx->meta == NULL) {
      lf_api_fail(ctx, &err);
    }
  }
  return ctx->meta;
}

uv_loop_t *lf_api_loop(lf_ctx *ctx)
{
  if (!ctx->loop_ready) {
    uv_loop_init(&ctx->loop);
    uv_async_init(&ctx->loop, &ctx->interrupt_async, on_interrupt_async);
    ctx->interrupt_async.data = ctx;
    // The async handle must not keep uv_run alive on its own.
    uv_unref((uv_handle_t *)&ctx->interrupt_async);
    ctx->loop_ready = true;
  }
  return &ctx->loop;
}

const char *lf_api_username(void)
{
  static char name[256];
  if (name[0] != '\0') {
    return name;
  }
  const char *u = getenv("LUAFLOW_USER");
  if (u == NULL || u[0] == '\0') {
    u = getenv("USER");
  }
  if (u == NULL || u[0] == '\0') {
    struct passwd *pw = getpwuid(getuid());
    u = pw != NULL ? pw->pw_name : "unknown";
  }
  size_t n = strlen(u);
  if (n >= sizeof(name)) {
    n = sizeof(name) - 1;
  }
  memcpy(name, u, n);
  name[n] = '\0';
  return name;
}

LF_API void lf_string_free(char *s)
{
  lf_free(s);
}
