#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Metaflow-style artifact peer for tests/bench/run.sh (standard library only).

Mimics what Metaflow's TaskDataStore + ContentAddressedStore do with one artifact on the
local datastore:
  save: blob = pickle.dumps(obj, protocol=4)   (Metaflow's "gzip+pickle-v4" encoding)
        key = sha1(blob)                        (the name is the hash of the pickled bytes)
        gzip.GzipFile(compresslevel=3) over the blob, written to <root>/data/<key[:2]>/<key>
        (plus the small "_meta" file Metaflow's local backend writes beside each blob)
  load: read the file, gunzip, sha1 of the result (Metaflow itself does not re-hash on load;
        done here so both sides verify), pickle.loads.
The data are built like tests/bench/flows/bench_artifacts.lua builds them (same kinds and
sizes; not the same bytes). Prints one JSON object per measurement on stdout.

  peer_metaflow.py --root DIR --kinds random,text,ints,floats --bytes N --elements N --reps R
"""
import argparse
import gzip
import hashlib
import json
import os
import pickle
import random
import shutil
import sys
import time

MIB = 1024 * 1024


def build(kind, nbytes, nelems, rng):
    if kind == 'random':
        return os.urandom(nbytes)
    if kind == 'text':
        # 16-letter alphabet, 8 distinct 1 MiB blocks in random order, as in the Lua flow.
        table = bytes(97 + (b & 15) for b in range(256))
        blocks = [os.urandom(MIB).translate(table) for _ in range(8)]
        parts, prev, left = [], -1, nbytes
        while left > 0:
            b = rng.randrange(7)
            if b >= prev >= 0:
                b += 1
            prev = b
            parts.append(blocks[b] if left >= MIB else blocks[b][:left])
            left -= MIB
        return b''.join(parts)
    if kind == 'ints':
        g = rng.getrandbits
        return [g(32) - 2**31 for _ in range(nelems)]
    if kind == 'floats':
        r = rng.random
        return [r() for _ in range(nelems)]
    raise SystemExit('unknown kind ' + kind)


def raw_size(kind, obj):
    return len(obj) if isinstance(obj, bytes) else 8 * len(obj)


def save(root, obj):
    """Returns (key, pickled size, stored size, wall s, cpu s)."""
    t0, c0 = time.perf_counter(), time.process_time()
    blob = pickle.dumps(obj, protocol=4)
    key = hashlib.sha1(blob).hexdigest()
    path = os.path.join(root, 'data', key[:2], key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        with open(path, 'wb') as f:
            with gzip.GzipFile(fileobj=f, mode='wb', compresslevel=3) as gz:
                gz.write(blob)
        with open(path + '_meta', 'w') as f:
            json.dump({'cas_raw': False, 'cas_version': 1}, f)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return key, len(blob), os.path.getsize(path), wall, cpu


def load(root, key):
    t0, c0 = time.perf_counter(), time.process_time()
    path = os.path.join(root, 'data', key[:2], key)
    with open(path, 'rb') as f:
        data = f.read()
    blob = gzip.decompress(data)
    if hashlib.sha1(blob).hexdigest() != key:
        raise SystemExit('hash mismatch for ' + path)
    obj = pickle.loads(blob)
    return obj, time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--kinds', default='random,text,ints,floats')
    ap.add_argument('--bytes', type=int, default=256 * MIB)
    ap.add_argument('--elements', type=int, default=10_000_000)
    ap.add_argument('--reps', type=int, default=3)
    a = ap.parse_args()
    rng = random.Random(12345)
    for kind in a.kinds.split(','):
        obj = build(kind, a.bytes, a.elements, rng)
        for rep in range(a.reps):
            root = os.path.join(a.root, 'peer-%s-%d' % (kind, rep))  # fresh store: no dedup
            key, enc, stored, sw, sc = save(root, obj)
            back, lw, lc = load(root, key)
            if len(back) != len(obj):
                raise SystemExit('round trip changed the length of ' + kind)
            del back
            shutil.rmtree(root)
            print(json.dumps({'kind': kind, 'rep': rep, 'raw': raw_size(kind, obj),
                              'encoded': enc, 'stored': stored, 'save_s': sw, 'save_cpu': sc,
                              'load_s': lw, 'load_cpu': lc}), flush=True)
        del obj
    return 0


if __name__ == '__main__':
    sys.exit(main())
