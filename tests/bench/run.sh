#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# luaflow benchmarks (DESIGN §6) — `make bench`. Prints figures and ratios against peers run
# in the same invocation; never fails on a threshold (only if a flow run itself fails).
#
#   bash tests/bench/run.sh                 the full suite (about 3-5 minutes on 2 cores)
#   BENCH_QUICK=1 bash tests/bench/run.sh   a small smoke run of the same code (seconds)
#
# Settings (environment): LUAFLOW (binary, default build/luaflow), PYTHON (for bench.py and
# the peer; default Debian's /usr/bin/python3, else python3 on PATH),
# LUA (lua5.4), BENCH_WIDTH (foreach width, 1000), BENCH_REPS (scheduler repetitions, 3),
# BENCH_ART_REPS (luaflow artifact repetitions, 3), BENCH_PEER_REPS (peer repetitions, 3),
# BENCH_MIB (string size, 256), BENCH_ELEMENTS (table length, 10000000),
# BENCH_ONLY (comma list of scheduler,artifacts,peer), BENCH_ND (0 skips the nd section),
# BENCH_ND_SIZES (documents per corpus for nd_bench.py, 10000,50000), BENCH_ND_REPS (3).
# bench_store.c (the blob layer alone, no Lua, no processes) is a separate C program.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
luaflow=${LUAFLOW:-$root/build/luaflow}
# The peer runs on Debian's python3 when there is one (DESIGN §6), else the first on PATH.
if [ -x /usr/bin/python3 ]; then python=${PYTHON:-/usr/bin/python3}; else python=${PYTHON:-python3}; fi
lua=${LUA:-lua5.4}

for tool in "$python" "$lua" xargs; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 2; }
done
[ -x "$luaflow" ] || { echo "bench: $luaflow not found; run 'make build' first" >&2; exit 2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  : "${BENCH_WIDTH:=100}" "${BENCH_REPS:=1}" "${BENCH_ART_REPS:=1}" "${BENCH_PEER_REPS:=1}"
  : "${BENCH_MIB:=8}" "${BENCH_ELEMENTS:=200000}"
fi

export PYTHONDONTWRITEBYTECODE=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/luaflow-bench.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

"$python" "$here/bench.py" --luaflow "$luaflow" --lua "$lua" --tmp "$tmp" \
  --width "${BENCH_WIDTH:-1000}" --reps "${BENCH_REPS:-3}" \
  --art-reps "${BENCH_ART_REPS:-3}" --peer-reps "${BENCH_PEER_REPS:-3}" \
  --mib "${BENCH_MIB:-256}" --elements "${BENCH_ELEMENTS:-10000000}" \
  --only "${BENCH_ONLY:-scheduler,artifacts,peer}"

# Client queries over a history of 10,000 runs (issue 4): generated records, reindexed, then
# timed from a step through luaflow.client.
hist_runs=${BENCH_HISTORY_RUNS:-10000}
[ "${BENCH_QUICK:-0}" = 1 ] && hist_runs=500
hist="$tmp/history"
echo "== Client queries over a history of $hist_runs runs"
t0=$(date +%s.%N)
"$python" "$here/history.py" "$hist" "$hist_runs" bench
t1=$(date +%s.%N)
"$luaflow" reindex --datastore-root "$hist" >/dev/null
t2=$(date +%s.%N)
echo "  generated in $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s; luaflow reindex in $(awk "BEGIN{printf \"%.2f\", $t2 - $t1}") s"
(cd "$tmp" && LUAFLOW_USER=bench "$luaflow" run "$here/flows/bench_client.lua" \
  --datastore-root "$hist") | sed -n 's/.*BENCH client /  /p'

# Numeric kernels (issue 5): luaflow.text / nd / ml against CountVectorizer, numba, scipy and
# scikit-learn's KMeans, in lua5.4 with luaflow's Lua C module (build/lua) vs $python.
if [ "${BENCH_ND:-1}" != 0 ]; then
  nd_sizes=${BENCH_ND_SIZES:-10000,50000}
  nd_reps=${BENCH_ND_REPS:-3}
  [ "${BENCH_QUICK:-0}" = 1 ] && { nd_sizes=2000; nd_reps=1; }
  nd_cpath="$(dirname "$luaflow")/lua/?.so"
  if ! "$python" -c 'import numpy, scipy, sklearn, numba' 2>/dev/null; then
    echo "== nd kernels: skipped ($python lacks numpy/scipy/sklearn/numba)"
  elif [ ! -f "$(dirname "$luaflow")/lua/luaflow/client.so" ]; then
    echo "== nd kernels: skipped (no Lua C module at $(dirname "$luaflow")/lua/luaflow/client.so)"
  else
    echo "== nd kernels (issue 5)"
    "$python" "$here/nd_bench.py" --tmp "$tmp" --lua "$lua" --lua-cpath "$nd_cpath" \
      --sizes "$nd_sizes" --reps "$nd_reps"
  fi
fi

# S3 transfer (issue 6): luaflow.s3 get_many/put_many against boto3 with 16 threads, both on
# one moto server on loopback (python3 on PATH must have moto and boto3).
echo "== S3 get_many/put_many vs boto3"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  python3 "$here/s3_bench.py" --luaflow-build "$(dirname "$luaflow")" --count 4 --size-mb 2 --rounds 1
else
  python3 "$here/s3_bench.py" --luaflow-build "$(dirname "$luaflow")"
fi
