// SPDX-License-Identifier: MIT
// This file contains the version and status-text entry points of luaflow.h.
#include "luaflow.h"

LF_API const char *lf_version(void)
{
  return LF_VERSION_STRING;
}

LF_API const char *lf_status_str(lf_status st)
{
  switch (st) {
  case LF_OK:
    return "ok";
  case LF_ERR_USAGE:
    return "bad usage";
  case LF_ERR_FLOW:
    return "invalid flow";
  case LF_ERR_TASK:
    return "a task failed";
  case LF_ERR_IO:
    return "i/o error";
  case LF_ERR_STORE:
    return "datastore error";
  case LF_ERR_CORRUPT:
    return "corrupt data";
  case LF_ERR_NOMEM:
    return "out of memory";
  case LF_ERR_NOTFOUND:
    return "not found";
  case LF_ERR_INTERRUPTED:
    return "interrupted";
  case LF_ERR_UNSTORABLE:
    return "value cannot be stored";
  case LF_ERR_META:
    return "metadata index error";
  case LF_ERR_INTERNAL:
    return "internal error";
  }
  return "unknown status";
}
