// SPDX-License-Identifier: MIT
// This file contains the luaflow.ml module: ml.kmeans(matrix_or_csr, opts) returning
// { labels, centers, inertia, n_iter } (labels are 1-based cluster numbers) and
// ml.top_words(labels, csr, vocab, n), the book's per-cluster most frequent words. The
// kernels are kernels/kmeans.c and nd_sort.c.
#include <lauxlib.h>
#include <math.h>

#include "kernels/kmeans.h"
#include "kernels/nd_ops.h"
#include "lua_api/l_nd.h"
#include "lua_api/modules.h"

// ml.kmeans(x, { k, n_init = 1, max_iter = 300, tol = 1e-4, seed = 0, threads })
static int l_ml_kmeans(lua_State *L)
{
  static const char *const keys[] = {"k", "max_iter", "n_init", "seed", "threads", "tol", NULL};
  lf_nd *dense = lf_lua_nd_test(L, 1);
  lf_csr *sparse = dense == NULL ? lf_lua_csr_test(L, 1) : NULL;
  if (dense == NULL && sparse == NULL) {
    return luaL_typeerror(L, 1, "luaflow.ndarray or luaflow.csr");
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lf_lua_opts_check(L, 2, "ml.kmeans", keys);
  if (!lf_lua_opt_has(L, 2, "k")) {
    return luaL_error(L, "ml.kmeans: option 'k' (the number of clusters) is required");
  }
  lf_kmeans_opts o;
  lf_kmeans_opts_default(&o);
  o.k = lf_lua_opt_int(L, 2, "k", 8);
  lua_Integer n_init = lf_lua_opt_int(L, 2, "n_init", 1);
  lua_Integer max_iter = lf_lua_opt_int(L, 2, "max_iter", 300);
  luaL_argcheck(L, n_init >= 1 && n_init <= 1000, 2, "n_init must be between 1 and 1000");
  luaL_argcheck(L, max_iter >= 1 && max_iter <= 1000000, 2, "max_iter must be >= 1");
  o.n_init = (int)n_init;
  o.max_iter = (int)max_iter;
  o.tol = lf_lua_opt_num(L, 2, "tol", 1e-4);
  luaL_argcheck(L, o.tol >= 0, 2, "tol must be >= 0");
  o.seed = (uint64_t)lf_lua_opt_int(L, 2, "seed", 0);
  o.threads = lf_lua_nd_threads(L, 2);
  lua_createtable(L, 0, 4); // stack: result
  lf_nd *labels = lf_lua_nd_push(L);
  lf_nd *centers = lf_lua_nd_push(L);
  lf_kmeans_result r;
  lf_err err;
  lf_err_clear(&err);
  if (lf_kmeans(dense, sparse, &o, &r, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  *labels = r.labels;
  *centers = r.centers;
  int64_t *lp = lf_nd_ptr(labels, 0);
  for (int64_t i = 0; i < labels->shape[0]; i++) {
    lp[i]++;
  }
  lua_setfield(L, -3, "centers");
  lua_setfield(L, -2, "labels");
  lua_pushnumber(L, r.inertia);
  lua_setfield(L, -2, "inertia");
  lua_pushinteger(L, r.n_iter);
  lua_setfield(L, -2, "n_iter");
  return 1;
}

// ml.top_words(labels, csr, vocab, n) -> { [cluster] = { {word, count}, ... } }, clusters
// 1 .. max(labels), words by descending total count in the cluster (ties: column order).
static int l_ml_top_words(lua_State *L)
{
  lf_nd *labels = lf_lua_nd_check(L, 1);
  lf_csr *m = lf_lua_csr_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_Integer n = luaL_checkinteger(L, 4);
  luaL_argcheck(L, n >= 0, 4, "n must be >= 0");
  if (labels->ndim != 1 || labels->shape[0] != m->rows || lf_nd_is_float(labels->dtype)) {
    return luaL_error(L, "top_words: labels must be an integer array with one label per row "
                      "(%d rows)", (int)m->rows);
  }
  if ((int64_t)lua_rawlen(L, 3) != m->cols) {
    return luaL_error(L, "top_words: the vocabulary has %d words but the matrix %d columns",
                      (int)lua_rawlen(L, 3), (int)m->cols);
  }
  // 0-based labels in a scratch array owned by a userdata.
  lf_nd *lab = lf_lua_nd_push(L);
  lf_err err;
  lf_err_clear(&err);
  if (lf_nd_copy(lab, labels, LF_ND_I64, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  int64_t *lp = lf_nd_ptr(lab, 0);
  int64_t k = 0;
  for (int64_t i = 0; i < m->rows; i++) {
    if (lp[i] < 1) {
      return luaL_error(L, "top_words: label %d of row %d is not a cluster number >= 1",
                        (int)lp[i], (int)i + 1);
    }
    k = lp[i] > k ? lp[i] : k;
    lp[i]--;
  }
  lf_nd *sums = lf_lua_nd_push(L);
  if (lf_kmeans_cluster_sums(m, lp, k, sums, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  lf_nd *top = lf_lua_nd_push(L);
  if (lf_nd_topk(top, sums, n, false, 0, &err) != LF_OK) {
    return lf_lua_nd_raise(L, &err);
  }
  int64_t kk = top->shape[1];
  lua_createtable(L, (int)k, 0);
  for (int64_t c = 0; c < k; c++) {
    lua_createtable(L, (int)kk, 0);
    for (int64_t j = 0; j < kk; j++) {
      int64_t col = ((int64_t *)lf_nd_ptr(top, 0))[c * kk + j];
      double cnt = ((double *)lf_nd_ptr(sums, 0))[c * m->cols + col];
      lua_createtable(L, 2, 0);
      lua_rawgeti(L, 3, col + 1);
      lua_rawseti(L, -2, 1);
      if (cnt == floor(cnt) && fabs(cnt) < 9e15) {
        lua_pushinteger(L, (lua_Integer)cnt);
      } else {
        lua_pushnumber(L, cnt);
      }
      lua_rawseti(L, -2, 2);
      lua_rawseti(L, -2, j + 1);
    }
    lua_rawseti(L, -2, c + 1);
  }
  return 1;
}

int lf_lua_open_ml(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    {"kmeans",    l_ml_kmeans   },
    {"top_words", l_ml_top_words},
    {NULL,        NULL          },
  };
  lf_lua_nd_setup(L);
  luaL_newlib(L, funcs);
  return 1;
}
