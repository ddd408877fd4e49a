// SPDX-License-Identifier: MIT
// This file contains luaflow.s3: S3 from Lua over the C client (host/s3/s3.h), for steps,
// scripts and plain lua5.4. One client per Lua state, made on first use from the environment
// (credentials, region, endpoint as the AWS tools find them). Every batch function runs its
// transfers in parallel. Failure contract: misuse and failed transfers raise errors with the
// client's message ("cannot get 's3://b/k' (404 NoSuchKey: ...)"); `info` returns nil,
// message, "NotFound" for a missing object, as an existence check expects.
//
// C resources that live across Lua calls sit in a userdata with __gc (a batch box), made
// before anything is allocated, so a raise at any point leaks nothing.
#include <lauxlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "lua_api/modules.h"
#include "lua_api/state.h"
#include "s3/s3.h"

#define CLIENT_MT "luaflow.S3Client"
#define BATCH_MT "luaflow.S3Batch"
#define CLIENT_KEY "luaflow.s3.client"

typedef struct client_box {
  lf_s3 *s3;
} client_box;

typedef struct batch_box {
  lf_s3_op *ops;
  char **strs; // bucket and key of each op (2 per op), owned
  char **paths; // local paths made here (get_recursive), owned; NULL entries allowed
  size_t n;
} batch_box;

static int client_gc(lua_State *L)
{
  client_box *b = luaL_checkudata(L, 1, CLIENT_MT);
  lf_s3_free(b->s3);
  b->s3 = NULL;
  return 0;
}

// The state's client, made on first use.
static lf_s3 *get_client(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, CLIENT_KEY);
  client_box *b = luaL_testudata(L, -1, CLIENT_MT);
  lua_pop(L, 1);
  if (b != NULL && b->s3 != NULL) {
    return b->s3;
  }
  b = lua_newuserdatauv(L, sizeof(*b), 0);
  b->s3 = NULL;
  luaL_setmetatable(L, CLIENT_MT);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, CLIENT_KEY);
  lua_pop(L, 1);
  lf_err err;
  lf_err_clear(&err);
  b->s3 = lf_s3_new(NULL, &err);
  if (b->s3 == NULL) {
    luaL_error(L, "cannot set up S3 (%s)", err.msg);
  }
  return b->s3;
}

static int batch_gc(lua_State *L)
{
  batch_box *b = luaL_checkudata(L, 1, BATCH_MT);
  for (size_t i = 0; b->ops != NULL && i < b->n; i++) {
    lf_s3_op_free_out(&b->ops[i]);
  }
  for (size_t i = 0; b->strs != NULL && i < 2 * b->n; i++) {
    lf_free(b->strs[i]);
  }
  for (size_t i = 0; b->paths != NULL && i < b->n; i++) {
    lf_free(b->paths[i]);
  }
  lf_free(b->ops);
  lf_free(b->strs);
  lf_free(b->paths);
  b->ops = NULL;
  b->strs = NULL;
  b->paths = NULL;
  b->n = 0;
  return 0;
}

// Pushes a batch box for n operations (zeroed).
static batch_box *new_batch(lua_State *L, size_t n)
{
  batch_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
  memset(b, 0, sizeof(*b));
  luaL_setmetatable(L, BATCH_MT);
  b->ops = lf_xcalloc(n > 0 ? n : 1, sizeof(*b->ops));
  b->strs = lf_xcalloc(2 * (n > 0 ? n : 1), sizeof(char *));
  b->paths = lf_xcalloc(n > 0 ? n : 1, sizeof(char *));
  b->n = n;
  size_t head = lf_lua_string_head(L);
  for (size_t i = 0; i < n; i++) {
    b->ops[i].big_out = true; // bodies are received where their Lua strings will be
    b->ops[i].out_head = head;
  }
  return b;
}

// Pushes the body of GET op `op` as a string: its buffer becomes the string (see new_batch).
static void push_body(lua_State *L, lf_s3_op *op)
{
  char *block = op->out - op->out_head;
  op->out = NULL;
  lf_lua_push_adopted(L, block, op->out_len);
}

// Parses the S3 URL at stack index `idx` into op `i` of the batch; raises on a bad URL.
static void set_url(lua_State *L, batch_box *b, size_t i, int idx, int arg)
{
  const char *url = lua_tostring(L, idx);
  if (url == NULL) {
    luaL_argerror(L, arg, lua_pushfstring(L, "S3 URL expected, got %s", luaL_typename(L, idx)));
  }
  lf_err err;
  lf_err_clear(&err);
  if (lf_s3_parse_url(url, &b->strs[2 * i], &b->strs[2 * i + 1], &err) != LF_OK) {
    luaL_argerror(L, arg, err.msg);
  }
  b->ops[i].bucket = b->strs[2 * i];
  b->ops[i].key = b->strs[2 * i + 1];
}

// Raises if the option table at `idx` has a key not in `allowed` (NULL-terminated).
static void check_opts(lua_State *L, int idx, const char *const *allowed)
{
  if (lua_isnoneornil(L, idx)) {
    return;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) { // stack: key, value
    bool ok = false;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    for (size_t i = 0; k != NULL && allowed[i] != NULL; i++) {
      ok = ok || strcmp(k, allowed[i]) == 0;
    }
    if (!ok) {
      char list[256] = "";
      size_t used = 0;
      for (size_t i = 0; allowed[i] != NULL && used < sizeof(list); i++) {
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                                 allowed[i]);
      }
      luaL_error(L, "unknown option '%s' (expected %s)",
                 k != NULL ? k : luaL_typename(L, -2), list);
    }
    lua_pop(L, 1);
  }
}

// opts.<name> as a string or nil; raises on another type. The value stays valid while the
// option table is on the stack.
static const char *opt_string(lua_State *L, int idx, const char *name)
{
  if (lua_isnoneornil(L, idx)) {
    return NULL;
  }
  lua_getfield(L, idx, name);
  const char *s = NULL;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) {
      luaL_error(L, "option '%s' must be a string, not %s", name, luaL_typename(L, -1));
    }
    s = lua_tostring(L, -1);
  }
  lua_pop(L, 1); // the table still holds the string
  return s;
}

// Runs the batch; raises with the client's message if any operation failed.
static void run_batch(lua_State *L, batch_box *b)
{
  lf_s3 *s3 = get_client(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_s3_run(s3, b->ops, b->n, &err) != LF_OK) {
    luaL_error(L, "%s", err.msg);
  }
}

// s3.get(url [, {file = path, range = {first, last}}]) -> string, or path with `file`
static int l_s3_get(lua_State *L)
{
  static const char *const allowed[] = {"file", "range", NULL};
  luaL_checkstring(L, 1);
  check_opts(L, 2, allowed);
  const char *file = opt_string(L, 2, "file");
  bool has_range = false;
  lua_Integer first = 0, last = -1;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_getfield(L, 2, "range") != LUA_TNIL) {
      luaL_checktype(L, -1, LUA_TTABLE);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      // stack: range, first, last
      int isnum = 0;
      first = lua_tointegerx(L, -2, &isnum);
      if (!isnum || first < 0) {
        luaL_error(L, "range must be {first, last} byte offsets from 0 (last may be nil)");
      }
      if (!lua_isnil(L, -1)) {
        last = lua_tointegerx(L, -1, &isnum);
        if (!isnum || last < first) {
          luaL_error(L, "range must be {first, last} with last >= first");
        }
      }
      lua_pop(L, 2);
      has_range = true;
    }
    lua_pop(L, 1);
  }
  batch_box *b = new_batch(L, 1);
  // stack: url, [opts], batch
  set_url(L, b, 0, 1, 1);
  lf_s3_op *op = &b->ops[0];
  op->kind = LF_S3_GET;
  op->path = file;
  op->has_range = has_range;
  op->range_start = (uint64_t)first;
  op->range_end = last < 0 ? UINT64_MAX : (uint64_t)last;
  run_batch(L, b);
  if (file != NULL) {
    lua_pushstring(L, file);
  } else {
    push_body(L, op);
  }
  return 1;
}

// s3.get_many(urls [, {files = {...} | dir = path}]) -> list of strings, or of paths
static int l_s3_get_many(lua_State *L)
{
  static const char *const allowed[] = {"files", "dir", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  check_opts(L, 2, allowed);
  const char *dir = opt_string(L, 2, "dir");
  bool have_files = false;
  if (!lua_isnoneornil(L, 2)) {
    have_files = lua_getfield(L, 2, "files") != LUA_TNIL;
    if (have_files) {
      luaL_checktype(L, -1, LUA_TTABLE);
    }
    lua_replace(L, 3); // stack: urls, opts, files|nil
  } else {
    lua_settop(L, 2);
    lua_pushnil(L);
  }
  size_t n = (size_t)lua_rawlen(L, 1);
  batch_box *b = new_batch(L, n);
  // stack: urls, opts, files, batch
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    set_url(L, b, i, -1, 1);
    lua_pop(L, 1);
    b->ops[i].kind = LF_S3_GET;
    if (have_files) {
      lua_rawgeti(L, 3, (lua_Integer)i + 1);
      const char *p = lua_tostring(L, -1);
      if (p == NULL) {
        luaL_error(L, "files[%d] must be a path for urls[%d]", (int)i + 1, (int)i + 1);
      }
      b->paths[i] = lf_xstrdup(p);
      lua_pop(L, 1);
    } else if (dir != NULL) {
      const char *key = b->ops[i].key;
      const char *base = strrchr(key, '/');
      base = base != NULL ? base + 1 : key;
      if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        luaL_error(L, "cannot name a file after key '%s' (use files = {...})", key);
      }
      b->paths[i] = lf_xasprintf("%s/%s", dir, base);
    }
    b->ops[i].path = b->paths[i];
  }
  run_batch(L, b);
  lua_createtable(L, (int)n, 0);
  // stack: urls, opts, files, batch, results
  for (size_t i = 0; i < n; i++) {
    if (b->paths[i] != NULL) {
      lua_pushstring(L, b->paths[i]);
    } else {
      push_body(L, &b->ops[i]);
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

// Fills op i of a PUT from the value at `idx`: a string, or {file = path}.
static void set_put_source(lua_State *L, batch_box *b, size_t i, int idx, int arg)
{
  lf_s3_op *op = &b->ops[i];
  op->kind = LF_S3_PUT;
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len = 0;
    op->data = lua_tolstring(L, idx, &len);
    op->len = len;
    return;
  }
  if (lua_type(L, idx) == LUA_TTABLE) {
    static const char *const allowed[] = {"file", NULL};
    check_opts(L, lua_absindex(L, idx), allowed);
    lua_getfield(L, idx, "file");
    const char *p = lua_tostring(L, -1);
    if (p != NULL) {
      b->paths[i] = lf_xstrdup(p);
      op->path = b->paths[i];
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
  }
  luaL_argerror(L, arg, "expected a string or {file = path}");
}

// s3.put(url, string | {file = path}) -> url
static int l_s3_put(lua_State *L)
{
  luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  batch_box *b = new_batch(L, 1);
  set_url(L, b, 0, 1, 1);
  set_put_source(L, b, 0, 2, 2);
  run_batch(L, b);
  lua_pushvalue(L, 1);
  return 1;
}

// s3.put_many({{url, string | {file = path}}, ...}) -> list of urls
static int l_s3_put_many(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  size_t n = (size_t)lua_rawlen(L, 1);
  batch_box *b = new_batch(L, n);
  // stack: pairs, batch
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, 1, (lua_Integer)i + 1) != LUA_TTABLE) {
      luaL_error(L, "put_many: item %d must be {url, data}", (int)i + 1);
    }
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    // stack: pairs, batch, pair, url, data (the pair table keeps both alive)
    set_url(L, b, i, -2, 1);
    set_put_source(L, b, i, -1, 1);
    lua_pop(L, 3);
  }
  run_batch(L, b);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    lua_rawgeti(L, -1, 1);
    lua_rawseti(L, -3, (lua_Integer)i + 1);
    lua_pop(L, 1);
  }
  return 1;
}

// s3.info(url) -> {size, etag, last_modified} | nil, message, "NotFound"
static int l_s3_info(lua_State *L)
{
  luaL_checkstring(L, 1);
  batch_box *b = new_batch(L, 1);
  set_url(L, b, 0, 1, 1);
  b->ops[0].kind = LF_S3_HEAD;
  lf_s3 *s3 = get_client(L);
  lf_err err;
  lf_err_clear(&err);
  lf_status st = lf_s3_run(s3, b->ops, 1, &err);
  if (st == LF_ERR_NOTFOUND) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    lua_pushliteral(L, "NotFound");
    return 3;
  }
  if (st != LF_OK) {
    return luaL_error(L, "%s", err.msg);
  }
  const lf_s3_info *info = &b->ops[0].info;
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, (lua_Integer)info->size);
  lua_setfield(L, -2, "size");
  lua_pushstring(L, info->etag);
  lua_setfield(L, -2, "etag");
  lua_pushinteger(L, (lua_Integer)info->last_modified);
  lua_setfield(L, -2, "last_modified");
  return 1;
}

// s3.exists(url) -> boolean
static int l_s3_exists(lua_State *L)
{
  int n = l_s3_info(L);
  lua_pushboolean(L, n == 1);
  return 1;
}

// s3.rm(url | {url, ...}) -> number of objects removed (missing keys count as removed)
static int l_s3_rm(lua_State *L)
{
  bool many = lua_type(L, 1) == LUA_TTABLE;
  if (!many) {
    luaL_checkstring(L, 1);
  }
  lua_settop(L, 1);
  size_t n = many ? (size_t)lua_rawlen(L, 1) : 1;
  batch_box *b = new_batch(L, n);
  for (size_t i = 0; i < n; i++) {
    if (many) {
      lua_rawgeti(L, 1, (lua_Integer)i + 1);
    } else {
      lua_pushvalue(L, 1);
    }
    set_url(L, b, i, -1, 1);
    lua_pop(L, 1);
    b->ops[i].kind = LF_S3_DELETE;
  }
  run_batch(L, b);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

// Lists below the URL at index `url` (one level with `delimiter`) and pushes three values:
// a box owning the parsed bucket and prefix, the C listing (freed by its __gc if a push
// raises), and the list of entries {url, key, is_prefix, size, etag, last_modified}.
static void push_listing(lua_State *L, int url, const char *delimiter)
{
  batch_box *b = new_batch(L, 1);
  set_url(L, b, 0, url, 1);
  const char *bucket = b->strs[0], *prefix = b->strs[1];
  lf_s3 *s3 = get_client(L);
  lf_s3_list *held = lua_newuserdatauv(L, sizeof(*held), 0);
  memset(held, 0, sizeof(*held));
  luaL_setmetatable(L, "luaflow.S3List");
  lf_err err;
  lf_err_clear(&err);
  if (lf_s3_list_objects(s3, bucket, prefix, delimiter, 0, held, &err) != LF_OK) {
    luaL_error(L, "%s", err.msg);
  }
  lua_createtable(L, (int)held->n, 0);
  for (size_t i = 0; i < held->n; i++) {
    const lf_s3_entry *e = &held->items[i];
    lua_createtable(L, 0, 6);
    lua_pushfstring(L, "s3://%s/%s", bucket, e->key);
    lua_setfield(L, -2, "url");
    lua_pushstring(L, e->key);
    lua_setfield(L, -2, "key");
    lua_pushboolean(L, e->is_prefix);
    lua_setfield(L, -2, "is_prefix");
    if (!e->is_prefix) {
      lua_pushinteger(L, (lua_Integer)e->size);
      lua_setfield(L, -2, "size");
      lua_pushstring(L, e->etag);
      lua_setfield(L, -2, "etag");
      lua_pushinteger(L, (lua_Integer)e->last_modified);
      lua_setfield(L, -2, "last_modified");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lf_s3_list_free(held);
}

static int list_gc(lua_State *L)
{
  lf_s3_list *l = luaL_checkudata(L, 1, "luaflow.S3List");
  lf_s3_list_free(l);
  return 0;
}

// s3.list_paths(url) -> entries one level below (prefixes as is_prefix entries)
static int l_s3_list_paths(lua_State *L)
{
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  push_listing(L, 1, "/");
  return 1;
}

// s3.list_recursive(url) -> every object below
static int l_s3_list_recursive(lua_State *L)
{
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  push_listing(L, 1, NULL);
  return 1;
}

// s3.get_recursive(url [, dir]) -> entries of every object below, each with `data`, or with
// `path` (written under dir, keeping the key's path below the prefix) when dir is given
static int l_s3_get_recursive(lua_State *L)
{
  luaL_checkstring(L, 1);
  const char *dir = luaL_optstring(L, 2, NULL);
  lua_settop(L, 2);
  push_listing(L, 1, NULL);
  // stack: url, dir, box, held, entries
  size_t n = (size_t)lua_rawlen(L, -1);
  batch_box *b = new_batch(L, n);
  // stack: url, dir, box, held, entries, batch
  batch_box *lb = luaL_checkudata(L, 3, BATCH_MT);
  const char *prefix = lb->strs[1];
  size_t plen = strlen(prefix);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 5, (lua_Integer)i + 1);
    lua_getfield(L, -1, "url");
    set_url(L, b, i, -1, 1);
    lua_pop(L, 2);
    b->ops[i].kind = LF_S3_GET;
    if (dir != NULL) {
      const char *rel = b->ops[i].key + plen;
      while (*rel == '/') {
        rel++;
      }
      if (!lf_path_is_below(rel)) {
        luaL_error(L, "refusing to write key '%s' outside '%s'", b->ops[i].key, dir);
      }
      b->paths[i] = lf_xasprintf("%s/%s", dir, rel);
      b->ops[i].path = b->paths[i];
    }
  }
  run_batch(L, b);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 5, (lua_Integer)i + 1);
    if (dir != NULL) {
      lua_pushstring(L, b->paths[i]);
      lua_setfield(L, -2, "path");
    } else {
      push_body(L, &b->ops[i]);
      lua_setfield(L, -2, "data");
    }
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 5);
  return 1;
}

// s3.presign(url [, {method = "GET", expires = 3600}]) -> url
static int l_s3_presign(lua_State *L)
{
  static const char *const allowed[] = {"method", "expires", NULL};
  luaL_checkstring(L, 1);
  check_opts(L, 2, allowed);
  const char *method = opt_string(L, 2, "method");
  lua_Integer expires = 3600;
  if (!lua_isnoneornil(L, 2)) {
    lua_getfield(L, 2, "expires");
    expires = luaL_optinteger(L, -1, 3600);
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  batch_box *b = new_batch(L, 1);
  set_url(L, b, 0, 1, 1);
  lf_s3 *s3 = get_client(L);
  lf_err err;
  lf_err_clear(&err);
  char *url = lf_s3_presign(s3, method != NULL ? method : "GET", b->strs[0], b->strs[1],
                            (int64_t)expires, &err);
  if (url == NULL) {
    return luaL_error(L, "%s", err.msg);
  }
  // The URL must not leak if the push raises: park it in the box first.
  b->paths[0] = url;
  lua_pushstring(L, url);
  return 1;
}

int lf_lua_open_s3(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"exists",         l_s3_exists        },
    {"get",            l_s3_get           },
    {"get_many",       l_s3_get_many      },
    {"get_recursive",  l_s3_get_recursive },
    {"info",           l_s3_info          },
    {"list_paths",     l_s3_list_paths    },
    {"list_recursive", l_s3_list_recursive},
    {"presign",        l_s3_presign       },
    {"put",            l_s3_put           },
    {"put_many",       l_s3_put_many      },
    {"rm",             l_s3_rm            },
    {NULL,             NULL               },
  };
  if (luaL_newmetatable(L, CLIENT_MT)) {
    lua_pushcfunction(L, client_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, BATCH_MT)) {
    lua_pushcfunction(L, batch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, batch_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, "luaflow.S3List")) {
    lua_pushcfunction(L, list_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
