#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""luaflow benchmarks (DESIGN §6): figures and ratios against peers run in the same invocation.

A benchmark, not a test: it prints figures and never fails on a threshold (it fails only if
a flow run itself fails). Run through tests/bench/run.sh, which makes and removes the scratch
directory. Standard library only.

Sections
  1. Scheduler: a WIDTH-way foreach + join (flows/bench_foreach.lua) with --max-workers 16,
     against WIDTH bare `lua5.4 -e ''` and `luaflow version` processes started 16 at a time
     by xargs -P16.
  2. Artifacts: flows/bench_artifacts.lua saves one value in `start` and loads it in `load`
     (the method is described at the top of that file).
  3. Peer: peer_metaflow.py does the same with Metaflow's encoding (pickle protocol 4, sha1,
     gzip level 3).

How processes are measured: this script makes itself a child subreaper (prctl), starts the
command with posix_spawn, waits for it with wait4 and then reaps any descendant that was
orphaned on the way, so RUSAGE_CHILDREN before/after gives the user+sys CPU of the whole
process tree. "RSS sched" is the VmHWM of the spawned process itself (the scheduler), polled
from /proc every 10 ms while it runs (growth in its last 10 ms would be missed); "RSS tree"
is wait4's ru_maxrss, the largest RSS of any process of the tree.
MB = 10^6 bytes.
"""
import argparse
import ctypes
import glob
import json
import os
import re
import resource
import select
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MB = 1e6


def log(msg):
    print(msg, flush=True)


def make_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def read_hwm_kb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def reap_orphans(deadline_s=10.0):
    """Reaps descendants re-parented to us; returns the number still running at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            if time.monotonic() > end:
                return 1
            time.sleep(0.01)


def run_tree(argv, out_path, stdin_path=None, cwd=None, poll_rss=False):
    """Runs argv; returns wall, user+sys CPU of the process tree, peak RSS figures, status."""
    actions = []
    if stdin_path:
        actions.append((os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0))
    actions.append((os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                    0o644))
    actions.append((os.POSIX_SPAWN_DUP2, 1, 2))
    env = dict(os.environ, NO_COLOR='1')
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    old_cwd = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
    finally:
        os.chdir(old_cwd)
    hwm = 0
    if poll_rss:
        try:
            pfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pfd = None
        while True:
            wpid, status, ru = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            hwm = max(hwm, read_hwm_kb(pid))
            if pfd is not None:
                select.select([pfd], [], [], 0.01)
            else:
                time.sleep(0.01)
        if pfd is not None:
            os.close(pfd)
    else:
        _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    stray = reap_orphans()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = ru1.ru_utime - ru0.ru_utime
    sys_ = ru1.ru_stime - ru0.ru_stime
    return {'wall': wall, 'user': user, 'sys': sys_, 'cpu': user + sys_,
            'rss_tree_kb': ru.ru_maxrss, 'rss_sched_kb': hwm,
            'status': os.waitstatus_to_exitcode(status), 'stray': stray}


def tail(path, n=20):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


def check_ok(res, what, out_path):
    if res['status'] != 0:
        sys.stderr.write(tail(out_path))
        raise SystemExit('bench: %s failed with exit status %d (output above)' %
                         (what, res['status']))
    if res['stray']:
        log('  warning: %s left a process running after 10 s; its CPU is not counted' % what)


def bench_values(out_path):
    vals = {}
    with open(out_path, errors='replace') as f:
        for line in f:
            i = line.find('BENCH ')
            if i >= 0:
                for k, v in re.findall(r'(\w+)=(\S+)', line[i + 6:]):
                    vals[k] = float(v)
    return vals


def med(xs):
    return statistics.median(xs) if xs else float('nan')


def fmt_mb(x):
    return '%.0f' % x if x >= 100 else ('%.1f' % x if x >= 1 else '%.2f' % x)


# ---- 1. scheduler ------------------------------------------------------------------------

def bench_scheduler(a):
    log('== 1. Scheduler: %d-way foreach + join, --max-workers 16, %d repetitions' %
        (a.width, a.reps))
    flow = os.path.join(HERE, 'flows', 'bench_foreach.lua')

    def run_flow(width, tag):
        ds = os.path.join(a.tmp, 'sched-%s' % tag)
        out = os.path.join(a.tmp, 'sched-%s.out' % tag)
        res = run_tree([a.luaflow, 'run', flow, '--width', str(width), '--max-workers', '16',
                        '--max-num-splits', str(max(width, 100)), '--datastore-root', ds],
                       out, cwd=a.tmp, poll_rss=True)
        check_ok(res, 'the foreach flow', out)
        records = [p for p in glob.glob(os.path.join(ds, 'BenchForeachFlow', '*', '*', '*',
                                                      'task.json'))
                   if '/_parameters/' not in p]
        got = bench_values(out).get('foreach_tasks')
        if got != width:
            raise SystemExit('bench: the foreach flow joined %s tasks, expected %d' % (got, width))
        res['tasks'] = len(records)
        # Datastores are removed at the end, not between runs: on ext4, creating files right
        # after deleting thousands makes the inode allocator skip the recently freed ones
        # (recently_deleted() in the kernel), which inflates every following run's system
        # time several-fold; a user's datastore does not see mass deletions between runs.
        kept.append(ds)
        return res

    kept = []
    run_flow(16, 'warmup')  # page cache, first-run effects
    runs = []
    for rep in range(a.reps):
        r = run_flow(a.width, str(rep))
        runs.append(r)
        log('  run %d: wall %.2f s  cpu %.2f s (user %.2f + sys %.2f)  %d tasks  '
            '%.2f ms cpu/task  rss sched %.1f MB, tree max %.1f MB' %
            (rep + 1, r['wall'], r['cpu'], r['user'], r['sys'], r['tasks'],
             1000 * r['cpu'] / r['tasks'], r['rss_sched_kb'] / 1024, r['rss_tree_kb'] / 1024))
    for ds in kept:
        shutil.rmtree(ds, ignore_errors=True)
    s = {'wall': med([r['wall'] for r in runs]), 'cpu': med([r['cpu'] for r in runs]),
         'user': med([r['user'] for r in runs]), 'sys': med([r['sys'] for r in runs]),
         'tasks': runs[0]['tasks'],
         'cpu_per_task': med([r['cpu'] / r['tasks'] for r in runs]),
         'rss_sched_kb': max(r['rss_sched_kb'] for r in runs),
         'rss_tree_kb': max(r['rss_tree_kb'] for r in runs)}

    lines = os.path.join(a.tmp, 'spawn.in')
    with open(lines, 'w') as f:
        f.write(''.join('%d\n' % i for i in range(a.width)))

    def spawn(argv, tag):
        rs = []
        for rep in range(a.reps):
            out = os.path.join(a.tmp, 'spawn-%s.out' % tag)
            r = run_tree(['xargs', '-P16', '-I{}'] + argv, out, stdin_path=lines, cwd=a.tmp)
            check_ok(r, 'xargs ' + ' '.join(argv), out)
            rs.append(r)
        return {'wall': med([r['wall'] for r in rs]), 'cpu': med([r['cpu'] for r in rs]),
                'cpu_per': med([r['cpu'] for r in rs]) / a.width}

    s['lua'] = spawn([a.lua, '-e', ''], 'lua')
    s['version'] = spawn([a.luaflow, 'version'], 'version')
    log("  %d x `lua5.4 -e ''` (xargs -P16): wall %.2f s, %.2f ms cpu each" %
        (a.width, s['lua']['wall'], 1000 * s['lua']['cpu_per']))
    log('  %d x `luaflow version` (xargs -P16): wall %.2f s, %.2f ms cpu each' %
        (a.width, s['version']['wall'], 1000 * s['version']['cpu_per']))
    return s


# ---- 2. artifacts ------------------------------------------------------------------------

KINDS = [
    ('none', 'tiny integer (commit floor)'),
    ('random', 'string, incompressible'),
    ('text', 'string, compressible'),
    ('array', 'nd f64 array, random'),
    ('ints', 'table of integers'),
    ('floats', 'table of floats'),
]


def kind_size(a, kind):
    if kind in ('random', 'text', 'array'):
        return a.mib * 1024 * 1024, a.mib * 1024 * 1024
    if kind in ('ints', 'floats'):
        return a.elements, 8 * a.elements  # raw: 8 bytes per element (int64 / double)
    return 0, 8


def task_record(ds, step):
    paths = glob.glob(os.path.join(ds, 'BenchArtifactsFlow', '*', step, '*', 'task.json'))
    if len(paths) != 1:
        raise SystemExit('bench: expected one %s task record under %s' % (step, ds))
    with open(paths[0]) as f:
        return json.load(f)


def bench_artifacts(a):
    log('== 2. Artifacts: save in `start`, load in `load`, %d repetitions '
        '(strings %d MiB, tables %d elements)' % (a.art_reps, a.mib, a.elements))
    flow = os.path.join(HERE, 'flows', 'bench_artifacts.lua')
    results = {}
    for kind, label in KINDS:
        size_arg, raw = kind_size(a, kind)
        reps = []
        for rep in range(a.art_reps if kind != 'none' else 1):
            ds = os.path.join(a.tmp, 'art-%s-%d' % (kind, rep))  # fresh store: no dedup
            out = os.path.join(a.tmp, 'art-%s-%d.out' % (kind, rep))
            r = run_tree([a.luaflow, 'run', flow, '--kind', kind, '--size', str(size_arg),
                          '--datastore-root', ds], out, cwd=a.tmp)
            check_ok(r, 'the artifact flow (%s)' % kind, out)
            v = bench_values(out)
            start, load = task_record(ds, 'start'), task_record(ds, 'load')
            x = start['artifacts']['x']
            blob = os.path.join(ds, 'BenchArtifactsFlow', 'data', x['sha'][:2], x['sha'])
            m = {'encoded': x['size'], 'stored': os.path.getsize(blob), 'raw': raw,
                 'save_s': start['finished_at'] / 1e6 - v['save_t0'],
                 'load_s': v['load_s'], 'load_cpu': v['load_cpu'],
                 'recommit_s': load['finished_at'] / 1e6 - v['recommit_t0'],
                 'build_s': v['build_s'], 'run_wall': r['wall'], 'run_cpu': r['cpu']}
            if kind != 'none' and int(v['n']) != size_arg:
                raise SystemExit('bench: %s came back with %d elements' % (kind, v['n']))
            reps.append(m)
            shutil.rmtree(ds, ignore_errors=True)
            log('  %-6s run %d: encoded %s B, stored %s B; save %.3f s, load %.3f s '
                '(cpu %.3f s), recommit %.3f s; flow wall %.1f s' %
                (kind, rep + 1, m['encoded'], m['stored'], m['save_s'], m['load_s'],
                 m['load_cpu'], m['recommit_s'], r['wall']))
        agg = {k: med([m[k] for m in reps]) for k in reps[0]}
        agg['label'] = label
        results[kind] = agg
    results['_touch'] = first_touch(a)
    log('  reference: first touch of %d MiB of fresh memory in a new process: %s MB/s' %
        (a.mib, fmt_mb(results['_touch'])))
    return results


def first_touch(a):
    """MB/s at which a new process can fill freshly allocated memory (page faults + zeroing).

    Every task is a new process, so a load writes its result, and a save its encoding, into
    pages the process has never touched; on a VM that first touch can cost more than the
    hashing. Measured with a one-byte bytes repeat (a memset) in python3."""
    n = a.mib * 1024 * 1024
    code = ('import sys, time\nn = int(sys.argv[1])\nt = time.perf_counter()\n'
            'b = bytes([1]) * n\nprint(time.perf_counter() - t)\n')
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, '-c', code, str(n)], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
        times.append(float(out))
    return n / MB / med(times)


# ---- 3. peer -----------------------------------------------------------------------------

def bench_peer(a):
    kinds = [k for k, _ in KINDS if k != 'none']
    log('== 3. Metaflow-style peer (pickle v4 + sha1 + gzip level 3, %s), %d repetition(s)' %
        ('Python %d.%d' % sys.version_info[:2], a.peer_reps))
    root = os.path.join(a.tmp, 'peer')
    proc = subprocess.run([sys.executable, os.path.join(HERE, 'peer_metaflow.py'), '--root', root,
                           '--kinds', ','.join(kinds), '--bytes', str(a.mib * 1024 * 1024),
                           '--elements', str(a.elements), '--reps', str(a.peer_reps)],
                          stdout=subprocess.PIPE, text=True, check=False)
    shutil.rmtree(root, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit('bench: peer_metaflow.py failed with status %d' % proc.returncode)
    per = {}
    for line in proc.stdout.splitlines():
        m = json.loads(line)
        per.setdefault(m['kind'], []).append(m)
        log('  %-6s run %d: pickled %d B, gzipped %d B; save %.3f s (cpu %.3f), '
            'load %.3f s (cpu %.3f)' % (m['kind'], m['rep'] + 1, m['encoded'], m['stored'],
                                        m['save_s'], m['save_cpu'], m['load_s'], m['load_cpu']))
    return {k: {f: med([m[f] for m in ms]) for f in ms[0] if f not in ('kind', 'rep')}
            for k, ms in per.items()}


# ---- report --------------------------------------------------------------------------------

def mark(ok):
    return 'ok' if ok else 'MISS'


def report(a, s, art, peer, elapsed):
    W = 100
    log('')
    log('=' * W)
    log('luaflow benchmark figures  (%s; %d CPUs; load average at start %s; MB = 10^6 B)' %
        (a.version, os.cpu_count() or 0, a.loadavg))
    log('=' * W)
    if s:
        n = a.width
        log('Scheduler: %d-way foreach + join, --max-workers 16 (median of %d)' % (n, a.reps))
        log('  %-44s %8.2f s   budget: < 3 s wall  [%s]' % ('wall time', s['wall'],
                                                    mark(s['wall'] < 3)))
        log('  %-44s %8.2f s   (user %.2f + sys %.2f)' % ('total CPU, whole process tree',
                                                         s['cpu'], s['user'], s['sys']))
        log('  %-44s %8.2f ms  budget: < 3 ms CPU per task  [%s]' %
            ('CPU per task (%d tasks)' % s['tasks'], 1000 * s['cpu_per_task'],
             mark(s['cpu_per_task'] < 0.003)))
        log('  %-44s %8.1f MB' % ('peak RSS, scheduler process (VmHWM)', s['rss_sched_kb'] / 1024))
        log('  %-44s %8.1f MB' % ('peak RSS, largest process of the tree', s['rss_tree_kb'] / 1024))
        log('  %-44s %8.2f s   %.2f ms CPU each' % ('%d x lua5.4 -e \'\' (xargs -P16)' % n,
                                                  s['lua']['wall'], 1000 * s['lua']['cpu_per']))
        log('  %-44s %8.2f s   %.2f ms CPU each' % ('%d x luaflow version (xargs -P16)' % n,
                                                  s['version']['wall'],
                                                  1000 * s['version']['cpu_per']))
        log('  %-44s %8.1f x' % ('ratio wall: foreach / bare lua spawns', s['wall'] / s['lua']['wall']))
        log('  %-44s %8.1f x' % ('ratio CPU per task: foreach / bare lua',
                                 s['cpu_per_task'] / s['lua']['cpu_per']))
        log('  %-44s %8.1f x' % ('ratio CPU per task: foreach / luaflow version',
                                 s['cpu_per_task'] / s['version']['cpu_per']))
        log('  (Metaflow, measured separately per DESIGN §6: 160-210 s, 0.3 CPU-s per task)')
    if art:
        log('')
        log('Artifacts (median of %d; save = commit after the step returns, load = first read '
            'of self.x incl. verify + decode)' % a.art_reps)
        log('  %-7s %9s %9s %9s | %8s %8s | %8s %8s | %8s %8s | %9s' %
            ('kind', 'raw MB', 'enc MB', 'disk MB', 'save s', 'load s', 'save/raw', 'load/raw',
             'save/enc', 'load/enc', 'recommit'))
        for kind, label in KINDS:
            m = art.get(kind)
            if not m:
                continue
            raw, enc = m['raw'] / MB, m['encoded'] / MB
            if kind == 'none':  # the fixed cost of a commit and a load: no throughput
                log('  %-7s %9s %9s %9s | %7.1fms %6.1fms | %8s %8s | %8s %8s | %7.1fms' %
                    (kind, '-', '-', '-', 1000 * m['save_s'], 1000 * m['load_s'],
                     '-', '-', '-', '-', 1000 * m['recommit_s']))
                continue
            log('  %-7s %9.1f %9.1f %9.1f | %8.3f %8.3f | %8s %8s | %8s %8s | %8.3fs' %
                (kind, raw, enc, m['stored'] / MB, m['save_s'], m['load_s'],
                 fmt_mb(raw / m['save_s']), fmt_mb(raw / m['load_s']),
                 fmt_mb(enc / m['save_s']), fmt_mb(enc / m['load_s']), m['recommit_s']))
        log('  (throughputs in MB/s; recommit = re-encoding + hashing of the loaded, unchanged '
            'value at the end of `load`)')
        log('  reference: a new process fills fresh memory at %s MB/s (first-touch page faults; '
            'a ceiling for any load)' % fmt_mb(art['_touch']))
        log('  budgets (DESIGN §6; [ok]/[MISS] is information, not a test result):')
        for kind in ('random', 'array', 'text'):
            m = art.get(kind)
            if m:
                sv, ld = m['encoded'] / MB / m['save_s'], m['encoded'] / MB / m['load_s']
                log('    %-7s budget: >= 1000 MB/s each way; save %s, load %s MB/s  [%s]%s' %
                    (kind, fmt_mb(sv), fmt_mb(ld), mark(sv >= 1000 and ld >= 1000),
                     '' if kind != 'text' else '  (compressible: informational)'))
        for kind in ('ints', 'floats'):
            m = art.get(kind)
            if m:
                rt = m['save_s'] + m['load_s']
                r_raw, r_enc = m['raw'] / MB / rt, m['encoded'] / MB / rt
                log('    %-7s budget: 10M-element round trip >= 50 MB/s; %d elements: %s MB/s '
                    'raw, %s MB/s encoded (%.2f s)  [%s]' % (kind, a.elements, fmt_mb(r_raw),
                                                        fmt_mb(r_enc), rt,
                                        mark(min(r_raw, r_enc) >= 50)))
    if peer:
        art = art or {}
        log('')
        log('Peer: Metaflow-style pickle v4 + sha1 + gzip -3 (median of %d)%s' %
            (a.peer_reps, ', and luaflow / peer (raw MB/s; > 1 means luaflow is faster)'
             if art else ''))
        log('  %-7s %9s %9s | %8s %8s | %8s %8s | %9s %9s | %8s' %
            ('kind', 'pickle MB', 'gzip MB', 'save s', 'load s', 'save/raw', 'load/raw',
             'save x', 'load x', 'trip x'))
        for kind, _ in KINDS:
            p, m = peer.get(kind), art.get(kind)
            if not p:
                continue
            ratios = ('%8.1fx %8.1fx | %7.1fx' %
                      (p['save_s'] / m['save_s'], p['load_s'] / m['load_s'],
                       (p['save_s'] + p['load_s']) / (m['save_s'] + m['load_s']))
                      if m else '%9s %9s | %8s' % ('-', '-', '-'))
            log('  %-7s %9.1f %9.1f | %8.3f %8.3f | %8s %8s | %s' %
                (kind, p['encoded'] / MB, p['stored'] / MB, p['save_s'], p['load_s'],
                 fmt_mb(p['raw'] / MB / p['save_s']), fmt_mb(p['raw'] / MB / p['load_s']),
                 ratios))
        log('  (Metaflow itself, measured separately per DESIGN §6: about 35 MB/s)')
    log('=' * W)
    log('bench: done in %.0f s' % elapsed)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--luaflow', required=True)
    ap.add_argument('--lua', default='lua5.4')
    ap.add_argument('--tmp', required=True, help='scratch directory (emptied by the caller)')
    ap.add_argument('--width', type=int, default=1000)
    ap.add_argument('--reps', type=int, default=3, help='scheduler repetitions')
    ap.add_argument('--art-reps', type=int, default=3, help='luaflow artifact repetitions')
    ap.add_argument('--peer-reps', type=int, default=3, help='peer repetitions')
    ap.add_argument('--mib', type=int, default=256, help='string size in MiB')
    ap.add_argument('--elements', type=int, default=10_000_000, help='table length')
    ap.add_argument('--only', default='scheduler,artifacts,peer')
    a = ap.parse_args()
    a.luaflow = os.path.abspath(a.luaflow)
    a.tmp = os.path.abspath(a.tmp)
    only = set(a.only.split(','))
    t0 = time.perf_counter()
    if not make_subreaper():
        log('warning: cannot become a child subreaper; CPU of orphaned processes is not counted')
    a.version = subprocess.run([a.luaflow, 'version'], stdout=subprocess.PIPE, text=True,
                               check=True).stdout.strip()
    la = os.getloadavg()
    a.loadavg = '%.2f' % la[0]
    log('bench: %s, %d CPUs, load average %.2f %.2f %.2f' % (a.version, os.cpu_count() or 0, *la))
    if la[0] > 0.5 * (os.cpu_count() or 1):
        log('bench: warning: the machine is busy; wall-clock figures will be inflated')
    s = bench_scheduler(a) if 'scheduler' in only else None
    art = bench_artifacts(a) if 'artifacts' in only else None
    peer = bench_peer(a) if 'peer' in only else None
    report(a, s, art, peer, time.perf_counter() - t0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
