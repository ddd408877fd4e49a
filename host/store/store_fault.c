// SPDX-License-Identifier: MIT
// This file contains a fault-injecting store backend for tests (SQLite's test VFS in spirit):
// with LUAFLOW_FAULT_WRITES=N[:eio|:enospc] in the environment, the Nth write of each process
// (scheduler and workers count separately) fails as if the disk returned EIO or was full.
// Everything else passes through to the wrapped backend. Staged writes are turned off so
// every write is counted.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/store.h"

typedef struct fault_store {
  const lf_store_backend *inner;
  void *inner_self;
  long fail_at;
  long writes;
  int errnum;
} fault_store;

static lf_status f_put(void *self, const char *key, const void *data, size_t len,
                       bool write_once, bool *existed, lf_err *err)
{
  fault_store *f = self;
  if (++f->writes == f->fail_at) {
    char *where = f->inner->describe(f->inner_self, key);
    lf_status st = LF_ERR(err, LF_ERR_IO, "cannot write '%s' (%s; injected by "
                          "LUAFLOW_FAULT_WRITES)", where != NULL ? where : key,
                          strerror(f->errnum));
    lf_free(where);
    return st;
  }
  return f->inner->put(f->inner_self, key, data, len, write_once, existed, err);
}

static lf_status f_get(void *self, const char *key, size_t max, char **data, size_t *len,
                       lf_err *err)
{
  fault_store *f = self;
  return f->inner->get(f->inner_self, key, max, data, len, err);
}

static lf_status f_exists(void *self, const char *key, bool *out, lf_err *err)
{
  fault_store *f = self;
  return f->inner->exists(f->inner_self, key, out, err);
}

static lf_status f_list(void *self, const char *prefix, char ***names, size_t *n, lf_err *err)
{
  fault_store *f = self;
  return f->inner->list(f->inner_self, prefix, names, n, err);
}

static lf_status f_remove(void *self, const char *key, lf_err *err)
{
  fault_store *f = self;
  return f->inner->remove(f->inner_self, key, err);
}

static char *f_describe(void *self, const char *key)
{
  fault_store *f = self;
  return f->inner->describe(f->inner_self, key);
}

static void f_free(void *self)
{
  fault_store *f = self;
  f->inner->free(f->inner_self);
  lf_free(f);
}

static const lf_store_backend fault_backend = {
  .name = "local",
  .put = f_put,
  .get = f_get,
  .exists = f_exists,
  .list = f_list,
  .remove = f_remove,
  .describe = f_describe,
  .free = f_free,
};

bool lf_store_fault_wrap(const lf_store_backend **be, void **self)
{
  const char *spec = getenv("LUAFLOW_FAULT_WRITES");
  if (spec == NULL || spec[0] == '\0') {
    return false;
  }
  char *end = NULL;
  long n = strtol(spec, &end, 10);
  if (end == spec || n <= 0) {
    return false;
  }
  fault_store *f = lf_xcalloc(1, sizeof(*f));
  f->inner = *be;
  f->inner_self = *self;
  f->fail_at = n;
  f->errnum = end != NULL && strcmp(end, ":enospc") == 0 ? ENOSPC : EIO;
  *be = &fault_backend;
  *self = f;
  return true;
}
