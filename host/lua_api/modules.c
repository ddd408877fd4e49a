// SPDX-License-Identifier: MIT
// This file lists the C-implemented Lua modules placed in package.preload.
#include "lua_api/modules.h"

#include <stddef.h>

const lf_lua_cmodule lf_lua_cmodules[] = {
  {"luaflow._host",     lf_lua_open_host    },
  {"luaflow._index",    lf_lua_open_index   },
  {"luaflow._parallel", lf_lua_open_parallel},
  {"luaflow.ml",        lf_lua_open_ml      },
  {"luaflow.nd",        lf_lua_open_nd      },
  {"luaflow.s3",        lf_lua_open_s3      },
  {"luaflow.text",      lf_lua_open_text    },
  {NULL,                NULL                },
};
