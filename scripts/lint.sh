#!/usr/bin/env bash
# Mechanical checks of STYLE.md: banned C functions, raw allocation outside core/, include
# layering (only downward), and the exported symbols of the shared library being exactly the
# LF_API declarations of luaflow.h. Usage: scripts/lint.sh BUILD_DIR
set -u
cd "$(dirname "$0")/.."
build="${1:-build}"
bad=0
report() {
  echo "lint: $*" >&2
  bad=1
}

# 1. Banned functions (curl checksrc style), outside comments and strings at a glance.
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|alloca)\s*\('
while IFS= read -r hit; do
  report "banned function: $hit"
done < <(grep -nE "$banned" host/*/*.c host/*/*.h tests/embed/*.c 2>/dev/null | grep -v '^\s*//' | grep -vE 'snprintf|vsnprintf')

# 2. Raw allocation only in core/.
while IFS= read -r hit; do
  report "raw allocation outside core/: $hit"
done < <(grep -nE '\b(malloc|calloc|realloc|free)\s*\(' host/*/*.c | grep -v '^host/core/' | grep -v '^host/cli/' | grep -vE '(lf_|_|->|\.)(malloc|calloc|realloc|free)\s*\(' )

# 3. Layering: a subsystem includes only itself and lower layers.
declare -A rank=([core]=0 [dag]=1 [store]=1 [meta]=1 [aws]=1 [kernels]=1 [s3]=2 [batch]=2
                 [proc]=2 [sched]=3 [lua_api]=4 [api]=5 [luamod]=5 [cli]=6)
for f in host/*/*.c host/*/*.h; do
  sub=$(basename "$(dirname "$f")")
  [ "$sub" = include ] && continue
  r=${rank[$sub]:-}
  [ -z "$r" ] && { report "$f: subsystem '$sub' has no layer in scripts/lint.sh"; continue; }
  while IFS= read -r inc; do
    dep=${inc%%/*}
    dr=${rank[$dep]:-}
    [ -z "$dr" ] && continue
    if [ "$dep" != "$sub" ] && [ "$dr" -ge "$r" ]; then
      # meta and store are peers; api/reindex reads both.
      report "$f includes $inc: '$sub' may include only lower layers"
    fi
  done < <(sed -n 's/^#include "\([a-z_]*\/[a-z_]*\.h\)".*/\1/p' "$f")
done
# The CLI is a client of luaflow.h only.
if grep -nE '^#include "' host/cli/*.c host/cli/*.h | grep -vE '"(cli\.h|luaflow\.h)"'; then
  report "host/cli includes something other than luaflow.h"
fi

# 4. Exported symbols of the shared library == LF_API declarations.
lib="$build/libluaflow.so"
if [ -e "$lib" ]; then
  exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDB]/ {print $3}' | sort -u)
  declared=$(cat host/include/luaflow.h host/include/luaflow_ext.h | tr '\n' ' ' | grep -oE 'LF_API [^;]*;' |
             grep -oE '\b(lf_[a-z0-9_]+)\s*\(' | tr -d '( ' | sort -u)
  if [ "$exported" != "$declared" ]; then
    report "exported symbols differ from luaflow.h:"
    diff <(echo "$declared") <(echo "$exported") >&2
  fi
else
  report "no $lib to check exported symbols against"
fi

[ "$bad" = 0 ] && echo "lint: ok"
exit "$bad"
