#!/usr/bin/env bash
# S3 benchmark: luaflow.s3 get_many/put_many vs boto3 (16 threads) on one moto server.
# Usage: tests/bench/s3_bench.sh [BUILD_DIR] [extra s3_bench.py options]
set -eu
cd "$(dirname "$0")/../.."
build="${1:-build}"
shift || true
exec python3 tests/bench/s3_bench.py --luaflow-build "$build" "$@"
