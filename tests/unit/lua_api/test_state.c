// SPDX-License-Identifier: MIT
// Unit tests for the allocator of luaflow's Lua states (lua_api/state.c): blocks from
// LF_BIG_MIN bytes are page buffers, smaller ones malloc's, and a block that grows or shrinks
// across the line keeps its bytes; the memory limit and the accounting see both kinds.
// Strings adopt buffers (lf_lua_push_adopted): big ones become the string's block.
#include "lua_api/state.h"

#include <lauxlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "testhelp.h"

static bool run(lua_State *L, const char *code)
{
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return false;
  }
  return true;
}

// Strings and buffers that cross LF_BIG_MIN (2 MiB) both ways keep every byte.
static void test_big_blocks(lua_State *L)
{
  CHECK(run(L, "local s = string.rep('abcdefgh', 2 * 1024 * 1024 // 8 - 3) -- just under\n"
               "local t = string.rep('abcdefgh', 2 * 1024 * 1024 // 8 + 3) -- just over\n"
               "assert(#s == 2097128 and #t == 2097176)\n"
               "assert(s:sub(-8) == 'abcdefgh' and t:sub(-9) == 'habcdefgh')\n"
               "-- a buffer that grows from small to big (copied once) and on (mremap)\n"
               "local parts = {}\n"
               "for i = 1, 200000 do parts[i] = string.format('%07d,', i) end\n"
               "local all = table.concat(parts)\n"
               "assert(#all == 1600000)\n"
               "local more = all .. all .. all\n"
               "assert(#more == 4800000 and more:sub(4799993) == '0200000,')\n"
               "assert(more:sub(1600001, 1600008) == '0000001,')\n"
               "-- a table whose array part grows past 2 MiB, then shrinks below it\n"
               "local a = {}\n"
               "for i = 1, 400000 do a[i] = i * 3 end\n"
               "local sum = 0\n"
               "for i = 1, 400000 do sum = sum + a[i] end\n"
               "assert(sum == 3 * 400000 * 400001 // 2)\n"
               "for i = 400000, 11, -1 do a[i] = nil end\n"
               "a.x = 1 -- rehash: the array part shrinks\n"
               "assert(a[10] == 30 and #a == 10)\n"));
}

// The accounting counts page buffers too, and a limit stops a big block without harm.
static void test_limit_and_accounting(lua_State *L)
{
  CHECK(run(L, "collectgarbage('collect')"));
  size_t base = lf_lua_mem_used(L);
  CHECK(run(L, "BIG = string.rep('x', 8 * 1024 * 1024); collectgarbage('collect')"));
  size_t with = lf_lua_mem_used(L);
  // (garbage of earlier chunks may go in the same collection: a margin below 8 MiB)
  CHECK(with >= base + 7 * 1024 * 1024 && with < base + 9 * 1024 * 1024);
  CHECK(run(L, "BIG = nil; collectgarbage('collect')"));
  CHECK(lf_lua_mem_used(L) < base + 1024 * 1024);
  lf_lua_set_mem_limit(L, base + 4 * 1024 * 1024);
  CHECK(run(L, "local ok, err = pcall(string.rep, 'y', 16 * 1024 * 1024)\n"
               "assert(not ok and tostring(err):find('not enough memory'))"));
  lf_lua_set_mem_limit(L, 0);
  CHECK(run(L, "assert(#string.rep('z', 3 * 1024 * 1024) == 3145728)"));
}

// Where the kernel gives transparent huge pages on request, a big string gets them.
static void test_huge_pages(lua_State *L)
{
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  char mode[128] = "";
  if (f != NULL) {
    if (fgets(mode, sizeof(mode), f) == NULL) {
      mode[0] = '\0';
    }
    fclose(f);
  }
  if (strstr(mode, "[madvise]") == NULL && strstr(mode, "[always]") == NULL) {
    printf("transparent huge pages are off here: huge-page check not applicable\n");
    return;
  }
  CHECK(run(L, "collectgarbage('collect')\n"
               "local function anon_huge()\n"
               "  local f = assert(io.open('/proc/self/smaps_rollup'))\n"
               "  local s = f:read('a'); f:close()\n"
               "  return tonumber(s:match('AnonHugePages:%s*(%d+)'))\n"
               "end\n"
               "local before = anon_huge()\n"
               "HUGE = string.rep('h', 16 * 1024 * 1024)\n"
               "local after = anon_huge()\n"
               "assert(after - before >= 8 * 1024, ('AnonHugePages %d -> %d kB'):format(before, after))\n"
               "HUGE = nil"));
}

// A buffer of head + len + 1 bytes with the characters `len` bytes of a pattern.
static char *adoptable(lua_State *L, size_t len, char fill)
{
  size_t head = lf_lua_string_head(L);
  char *buf = lf_big_alloc(head + len + 1);
  CHECK(buf != NULL);
  memset(buf + head, fill, len);
  memcpy(buf + head + len / 2, "middle", 6);
  return buf;
}

static int push_adopted_fn(lua_State *L)
{
  char *buf = lua_touserdata(L, 1);
  lf_lua_push_adopted(L, buf, (size_t)lua_tointeger(L, 2));
  return 1;
}

static void test_adopted_strings(lua_State *L)
{
  // Lua 5.4: a long string's block is its header (24 bytes on 64-bit) then the characters.
  size_t head = lf_lua_string_head(L);
  CHECK(head > 0 && head <= 64);
  // Big: the buffer is the string; nothing is copied.
  size_t len = 3 * 1024 * 1024 + 5;
  char *buf = adoptable(L, len, 'a');
  CHECK(run(L, "collectgarbage('collect')"));
  size_t base = lf_lua_mem_used(L);
  lf_lua_push_adopted(L, buf, len);
  size_t got = 0;
  const char *s = lua_tolstring(L, -1, &got);
  CHECK(s == buf + head);
  CHECK_EQ_INT(got, len);
  CHECK(s[0] == 'a' && s[len - 1] == 'a' && s[len] == '\0' && memcmp(s + len / 2, "middle", 6) == 0);
  CHECK(lf_lua_mem_used(L) >= base + len - 64 * 1024); // (a GC step may free a little)
  // A string like any other: compared, hashed as a key, cut; then collected (its page buffer
  // freed by the allocator: ASan and the accounting would see it otherwise).
  lua_setglobal(L, "ADOPTED");
  CHECK(run(L, "local t = {[ADOPTED] = 1}\n"
               "local same = string.rep('a', #ADOPTED // 2) .. 'middle' ..\n"
               "  string.rep('a', #ADOPTED - #ADOPTED // 2 - 6)\n"
               "assert(same == ADOPTED and t[same] == 1)\n"
               "assert(ADOPTED:sub(#ADOPTED // 2 + 1, #ADOPTED // 2 + 6) == 'middle')\n"
               "ADOPTED, t, same = nil; collectgarbage('collect')"));
  CHECK(lf_lua_mem_used(L) < base + 1024 * 1024);
  // Small: copied, and the buffer freed.
  buf = adoptable(L, 1000, 'b');
  lf_lua_push_adopted(L, buf, 1000);
  s = lua_tolstring(L, -1, &got);
  CHECK(s != buf + head && got == 1000 && s[0] == 'b' && memcmp(s + 500, "middle", 6) == 0);
  lua_pop(L, 1);
  // Past the memory limit: Lua's memory error, the buffer freed, the state fine.
  lf_lua_set_mem_limit(L, lf_lua_mem_used(L) + 1024 * 1024);
  buf = adoptable(L, len, 'c');
  lua_pushcfunction(L, push_adopted_fn);
  lua_pushlightuserdata(L, buf);
  lua_pushinteger(L, (lua_Integer)len);
  CHECK_EQ_INT(lua_pcall(L, 2, 1, 0), LUA_ERRMEM);
  lua_pop(L, 1);
  lf_lua_set_mem_limit(L, 0);
  CHECK(run(L, "assert(#string.rep('d', 3 * 1024 * 1024) == 3 * 1024 * 1024)"));
}

// A state whose allocator is not ours (a host that loads luaflow as a module) copies.
static void test_adopt_in_host_state(void)
{
  lua_State *H = luaL_newstate();
  CHECK(H != NULL);
  CHECK_EQ_INT(lf_lua_string_head(H), 0);
  size_t len = 3 * 1024 * 1024;
  char *buf = lf_big_alloc(len + 1);
  memset(buf, 'h', len);
  lf_lua_push_adopted(H, buf, len);
  size_t got = 0;
  const char *s = lua_tolstring(H, -1, &got);
  CHECK(s != buf && got == len && s[0] == 'h' && s[len - 1] == 'h');
  lua_close(H);
}

int main(void)
{
  lua_State *L = lf_lua_state_new(NULL);
  CHECK(L != NULL);
  test_big_blocks(L);
  test_limit_and_accounting(L);
  test_huge_pages(L);
  test_adopted_strings(L);
  lf_lua_state_free(L);
  test_adopt_in_host_state();
  return TEST_REPORT();
}
