#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a synthetic datastore history of N runs of one flow (the record and blob formats of
docs/datastore.md and host/lua_api/codec.h), for the client-query benchmark: every run has
start and end tasks, an integer artifact per run, 1 in 100 runs tagged 'rare', 1 in 7 failed.

    history.py ROOT N USER
"""
import hashlib
import json
import os
import struct
import sys

FLOW = 'HistoryFlow'


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_int(v):
    zig = (v << 1) ^ (v >> 63)
    return b'\x01\x03' + varint(zig & 0xffffffffffffffff)


def put_blob(root, payload):
    sha = hashlib.sha256(payload).hexdigest()
    d = os.path.join(root, FLOW, 'data', sha[:2])
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, sha)
    if not os.path.exists(p):
        with open(p, 'wb') as f:
            f.write(b'LFB1' + bytes([0]) + struct.pack('<Q', len(payload)) + payload)
    return {'sha': sha, 'type': 'integer', 'size': len(payload)}


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))


def main():
    root, n, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    t0 = 1763700000000000
    for r in range(1, n + 1):
        run = str(r)
        base = os.path.join(root, FLOW, run)
        created = t0 + r * 1000000
        ok = r % 7 != 0
        tags = ['rare'] if r % 100 == 0 else []
        write(os.path.join(base, '_run.json'), {
            'format': 1, 'flow': FLOW, 'run': run, 'user': user,
            'status': 'ok' if ok else 'failed', 'created_at': created,
            'finished_at': created + 500000, 'flow_file': 'history.lua', 'params': {},
            'tags': tags, 'system_tags': ['user:' + user, 'luaflow_version:0.1.0'],
            'origin_run': None})
        write(os.path.join(base, '_parameters', '0', 'task.json'), {
            'format': 1, 'flow': FLOW, 'run': run, 'step': '_parameters', 'task': '0',
            'attempt': 0, 'status': 'ok', 'pid': 1, 'started_at': created,
            'finished_at': created, 'inputs': [], 'foreach': [], 'next': ['start'],
            'foreach_count': None, 'artifacts': {}, 'params': [], 'origin': None})
        art = put_blob(root, encode_int(r * 10))
        for step, task, nxt, inputs in (('start', '1', ['end'], ['_parameters/0']),
                                        ('end', '2', [], ['start/1'])):
            if step == 'end' and not ok:
                continue
            write(os.path.join(base, step, task, 'task.json'), {
                'format': 1, 'flow': FLOW, 'run': run, 'step': step, 'task': task,
                'attempt': 0, 'status': 'ok', 'pid': 2, 'started_at': created + 1000,
                'finished_at': created + 2000, 'inputs': inputs, 'foreach': [], 'next': nxt,
                'foreach_count': None, 'artifacts': {'value': art}, 'origin': None})


if __name__ == '__main__':
    main()
