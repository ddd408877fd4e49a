#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""S3 throughput and CPU: luaflow.s3 put_many/get_many against boto3 with a 16-thread pool,
both on the same moto server on loopback, same objects (64 x 16 MB by default).

Usage: s3_bench.py [--luaflow-build DIR] [--count 64] [--size-mb 16] [--rounds 3]

Each measurement is one fresh process doing one transfer, timed from inside (wall clock and
the process's own CPU seconds, all threads; moto's CPU is counted for neither side):
- luaflow: the build's luaflow binary (`luaflow repl`: the Lua state and allocator a step
  gets) runs put_many / get_many;
- boto3: this script with --child, a 16-thread pool of put_object / get_object().read().
Both keep every body at the end. Sides and directions are interleaved over --rounds.

Fresh processes on both sides, because on the development VM memory that a process is given
fresh can cost far more to fault in than memory a process reuses: the guest reports freed
memory to the hypervisor (free page reporting), which backs it again only on first touch, at
up to 2 CPU seconds per GB. A peer that reused its heap across rounds would be measured on
different terms. For the same reason each measured run comes right after an unmeasured run of
the same side and direction. Whether a run still meets reported memory depends on the
reporting's timing, not on the client, so either side's CPU figure can double from one round
to the next. The summary therefore gives, per side: the best throughput, the lowest CPU per GB
(the floor: what a machine without a memory balloon sees) and the median CPU per GB, and the
luaflow/boto3 ratio of each. Prints every round as well. Not part of `make test`.
"""
import argparse
import concurrent.futures
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LUA = r'''
local s3 = require("luaflow.s3")
local host = require("luaflow._host")
local mode, count, size = arg[1], tonumber(arg[2]), tonumber(arg[3])
local urls, pairs_ = {}, {}
for i = 1, count do urls[i] = string.format("s3://lf-bench/lf/%03d", i) end
if mode == "put" then
  local block = {}
  for j = 1, 256 do block[j] = string.char((j * 7 + 3) % 256) end
  local chunk = string.rep(table.concat(block), 4096) -- 1 MiB
  for i = 1, count do
    pairs_[i] = { urls[i], string.rep(chunk, size // #chunk) .. chunk:sub(1, size % #chunk) .. string.char(i) }
  end
end
local c0, t0 = os.clock(), host.now()
if mode == "put" then
  s3.put_many(pairs_)
else
  local got = s3.get_many(urls)
  assert(#got == count and #got[1] == size + 1)
end
local wall, cpu = host.now() - t0, os.clock() - c0
local hwm = 0
for line in io.lines("/proc/self/status") do
  local kb = line:match("^VmHWM:%s*(%d+)")
  if kb then hwm = tonumber(kb) end
end
io.write(string.format("S3RESULT %.6f %.6f %d\n", wall, cpu, hwm))
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_luaflow(build, mode, count, size, env):
    """One process of the luaflow binary (`luaflow repl`, the Lua state a step runs in) runs
    LUA with arg = {mode, count, size}; returns (wall seconds, CPU seconds) of the transfer and
    the process's peak RSS in MiB."""
    with tempfile.TemporaryDirectory(prefix="luaflow-s3-bench.") as d:
        script = os.path.join(d, "bench.lua")
        with open(script, "w") as f:
            f.write(LUA)
        chunk = "arg = {%r, %r, %r}; dofile(%r)\n" % (mode, str(count), str(size), script)
        out = subprocess.run([os.path.join(build, "luaflow"), "repl"], input=chunk, cwd=d,
                             env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("S3RESULT "):
            wall, cpu, hwm = (float(v) for v in line.split()[1:])
            return wall, cpu, hwm / 1024
    raise SystemExit("s3_bench: no S3RESULT line from luaflow:\n" + out)


def run_boto3(endpoint, mode, count, size):
    """One fresh Python process (this script with --child) runs the boto3 side, as luaflow's
    side gets a fresh process: returns (wall seconds, CPU seconds) of the transfer and the
    process's peak RSS in MiB."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", endpoint, mode,
                          str(count), str(size)], check=True, capture_output=True,
                         text=True).stdout
    wall, cpu, hwm = (float(v) for v in out.split())
    return wall, cpu, hwm / 1024


def boto3_child(endpoint, mode, count, size):
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(max_pool_connections=16))
    keys = ["boto/%03d" % i for i in range(1, count + 1)]
    bodies = None
    if mode == "put":
        block = bytes((j * 7 + 3) % 256 for j in range(1, 257)) * 4096
        bodies = [(block * (size // len(block) + 1))[:size] + bytes([i % 256])
                  for i in range(1, count + 1)]

    def put(i):
        s3.put_object(Bucket="lf-bench", Key=keys[i], Body=bodies[i])

    def get(i):
        # Kept, like the strings get_many returns: both sides hold every object at the end.
        return s3.get_object(Bucket="lf-bench", Key=keys[i])["Body"].read()

    c0, t0 = cpu_self(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(put if mode == "put" else get, range(count)))
    wall, cpu = time.perf_counter() - t0, cpu_self() - c0
    if mode == "get":
        assert all(len(b) == size + 1 for b in results)
    print("%.6f %.6f %d" % (wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def summary(runs):
    """Best MB/s, lowest and median CPU s/GB, and the highest peak RSS of one side's rounds."""
    cpus = [r[1] for r in runs]
    return (max(r[0] for r in runs), min(cpus), statistics.median(cpus),
            max(r[2] for r in runs))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        boto3_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--luaflow-build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--size-mb", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    size = args.size_mb * 1000 * 1000
    gb = args.count * (size + 1) / 1e9
    port = free_port()
    endpoint = "http://127.0.0.1:%d" % port
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/")
                break
            except OSError:
                time.sleep(0.05)
        urllib.request.urlopen(urllib.request.Request(endpoint + "/lf-bench", method="PUT"))
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
                   AWS_EC2_METADATA_DISABLED="true",
                   LUA_CPATH=os.path.join(args.luaflow_build, "lua", "?.so") + ";;")
        print("S3 bench: %d objects x %d MB = %.2f GB per direction, moto on loopback"
              % (args.count, args.size_mb, gb))
        print("%-8s %-4s %10s %12s %14s" % ("client", "op", "MB/s", "CPU s/GB", "peak RSS MiB"))
        results = {}
        for _ in range(args.rounds):
            for mode in ("put", "get"):
                for name in ("luaflow", "boto3"):
                    for _ in range(2):  # a run of the same side first, unmeasured (see above)
                        if name == "luaflow":
                            wall, cpu, rss = run_luaflow(args.luaflow_build, mode, args.count,
                                                         size, env)
                        else:
                            wall, cpu, rss = run_boto3(endpoint, mode, args.count, size)
                    mbs, cpg = gb * 1000 / wall, cpu / gb
                    results.setdefault((name, mode), []).append((mbs, cpg, rss))
                    print("%-8s %-4s %10.1f %12.3f %14.0f" % (name, mode, mbs, cpg, rss))
        print("budget: throughput >= 1x of boto3's at CPU per GB < 0.25x of boto3's")
        for mode in ("put", "get"):
            lf, bo = summary(results[("luaflow", mode)]), summary(results[("boto3", mode)])
            print("%s: luaflow %.0f MB/s, CPU %.3f s/GB lowest, %.3f median, peak RSS %.0f MiB;"
                  " boto3 %.0f MB/s, %.3f lowest, %.3f median, %.0f MiB"
                  % ((mode,) + lf + bo))
            print("%s: luaflow/boto3 throughput %.2fx, CPU per GB %.2fx lowest to lowest, %.2fx"
                  " median to median" % (mode, lf[0] / bo[0], lf[1] / bo[1], lf[2] / bo[2]))
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
