#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Issue 5 benchmark: luaflow.text / luaflow.nd / luaflow.ml against the Python stack.

For each corpus size (scripts/gen_corpus.py, the same file for both sides) this measures, in
one invocation, each side in its own process (fresh for every repetition, sides interleaved):

  1. vectorize  luaflow.text.vectorize_file(min_df=10, max_df=0.1) vs scikit-learn's
                CountVectorizer(min_df=10, max_df=0.1).fit_transform(open(corpus))
  2. cooc       luaflow.nd.cooc(B, {threads, output='dense'}) on the binary BoW matrix vs the
                book's numba listing (an @njit loop over the CSR into np.zeros((n, n)), i.e.
                float64; JIT compile time excluded by a warm-up on a tiny input, reported
                separately), the same loop into an int32 matrix (for information), and
                scipy's B.T @ B (sparse result)
  3. kmeans     luaflow.ml.kmeans(X, {k=10, n_init=1, max_iter=300, tol=1e-4}) vs
                sklearn.cluster.KMeans(algorithm='lloyd', same k, n_init, max_iter, tol) on
                the count matrix (float64 CSR)

The luaflow side runs in lua5.4 with luaflow's Lua C module (build/lua/luaflow/client.so),
driven by nd_bench.lua; the Python side is this script with --child. Every child prints the
time of the kernel call alone (timer right around it) and its own memory figures; the parent
adds the whole-process wall time and peak RSS (wait4's ru_maxrss). "kernel delta" is the
growth of RSS during the call: the peak-RSS counter is reset through /proc/self/clear_refs
just before the call and read just after, minus the RSS before it. Both matrices (cooc and
kmeans input) are written once by scikit-learn as raw arrays that both sides load.

Best (minimum) kernel time and wall time of the repetitions are reported; memory is the
largest of the repetitions. Debian's /usr/bin/python3 is required (numpy, scipy, sklearn,
numba). A benchmark, not a test: budget lines say ok/MISSED but the exit status is 0 unless a
child fails or the two sides disagree on a result.
"""
import argparse
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MIN_DF, MAX_DF = 10, 0.1


def log(msg=''):
    print(msg, flush=True)


# ---- child side (Python peers) -----------------------------------------------------------

def status_kb(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


def reset_peak():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def measure(out, fn):
    import gc
    gc.collect()
    before = status_kb('VmRSS')
    out['hwm_before_kb'] = status_kb('VmHWM')
    reset_peak()
    t0 = time.perf_counter()
    r = fn()
    t1 = time.perf_counter()
    peak = status_kb('VmHWM')
    out.update(kernel_s=t1 - t0, rss_before_kb=before, kernel_peak_kb=peak,
               kernel_delta_kb=peak - before)
    return r


def load_csr(d, cols, data_dtype):
    import numpy as np
    import scipy.sparse as sp
    indptr = np.fromfile(os.path.join(d, 'indptr.i64'), dtype=np.int64)
    indices = np.fromfile(os.path.join(d, 'indices.i32'), dtype=np.int32)
    if data_dtype is None:
        data = np.ones(len(indices), dtype=np.int32)
    else:
        data = np.fromfile(os.path.join(d, 'data.f64'), dtype=np.float64)
    return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, cols))


def child(a):
    out = {}
    if a.child == 'vectorize':
        from sklearn.feature_extraction.text import CountVectorizer
        vec = CountVectorizer(min_df=MIN_DF, max_df=MAX_DF)

        def run():
            with open(a.corpus, encoding='utf-8') as f:
                return vec.fit_transform(f)
        x = measure(out, run)
        out.update(rows=x.shape[0], cols=x.shape[1], nnz=x.nnz, total=int(x.sum()),
                   vocab=len(vec.vocabulary_))
    elif a.child in ('numba', 'numba_i32'):
        import numpy as np
        t0 = time.perf_counter()
        from numba import njit
        out['import_s'] = time.perf_counter() - t0

        # The book's listing: every pair of words of every row, into a dense matrix.
        @njit
        def simple_cooc(indptr, indices, cooc):
            for row_idx in range(len(indptr) - 1):
                row = indices[indptr[row_idx]:indptr[row_idx + 1]]
                row_len = len(row)
                for i in range(row_len):
                    x = row[i]
                    cooc[x, x] += 1
                    for j in range(i + 1, row_len):
                        y = row[j]
                        cooc[x, y] += 1
                        cooc[y, x] += 1

        dtype = np.int32 if a.child == 'numba_i32' else np.float64
        b = load_csr(a.dir, a.cols, None)
        # Warm-up on a tiny input of the same types: compiles the loop (timed separately).
        t0 = time.perf_counter()
        tiny = np.zeros((4, 4), dtype)
        simple_cooc(np.array([0, 2, 3], dtype=b.indptr.dtype),
                    np.array([0, 1, 3], dtype=b.indices.dtype), tiny)
        out['compile_s'] = time.perf_counter() - t0
        assert tiny[0, 1] == 1 and tiny[3, 3] == 1

        def run():
            cooc = np.zeros((a.cols, a.cols), dtype)
            simple_cooc(b.indptr, b.indices, cooc)
            return cooc
        c = measure(out, run)
        out.update(total=int(c.sum()), n=c.shape[0], threads=1)
    elif a.child == 'scipy':
        b = load_csr(a.dir, a.cols, None)
        c = measure(out, lambda: b.T @ b)
        out.update(total=int(c.sum()), n=c.shape[0], out_nnz=c.nnz, threads=1)
    elif a.child == 'kmeans':
        from sklearn.cluster import KMeans
        x = load_csr(a.dir, a.cols, 'f64')
        km = KMeans(n_clusters=a.k, n_init=a.n_init, max_iter=a.max_iter, tol=a.tol,
                    algorithm='lloyd', random_state=a.seed)
        measure(out, lambda: km.fit(x))
        out.update(inertia='%.6f' % km.inertia_, n_iter=km.n_iter_,
                   threads=os.cpu_count())
    else:
        raise SystemExit('nd_bench: unknown child mode %s' % a.child)
    out['proc_peak_kb'] = max(out['hwm_before_kb'], status_kb('VmHWM'))
    print('NDRESULT ' + ' '.join('%s=%s' % (k, ('%.6f' % v) if isinstance(v, float) else v)
                                 for k, v in sorted(out.items())), flush=True)
    return 0


# ---- parent side -------------------------------------------------------------------------

class Runner:
    def __init__(self, a):
        self.a = a
        self.env = dict(os.environ)
        self.env['LUA_CPATH'] = a.lua_cpath + ';;'

    def lua(self, mode, **kw):
        nd = dict(mode=mode, threads=self.a.threads)
        nd.update(kw)
        fields = []
        for k, v in nd.items():
            fields.append('%s=%s' % (k, repr(v) if isinstance(v, str) else
                                     ('%r' % v if isinstance(v, float) else str(v))))
        chunk = ("require('luaflow.client'); ND = {%s}; dofile(%r)" %
                 (', '.join(fields), os.path.join(HERE, 'nd_bench.lua')))
        return spawn([self.a.lua, '-e', chunk], self.env)

    def py(self, mode, **kw):
        argv = [sys.executable, os.path.abspath(__file__), '--child', mode]
        for k, v in kw.items():
            argv += ['--' + k.replace('_', '-'), str(v)]
        return spawn(argv, self.env)


def spawn(argv, env):
    """Runs one measurement process; returns its NDRESULT values, its wall time, CPU and peak
    RSS (wait4's ru_maxrss: this process's own)."""
    r_fd, w_fd = os.pipe()
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, w_fd, 1), (os.POSIX_SPAWN_DUP2, w_fd, 2),
        (os.POSIX_SPAWN_CLOSE, r_fd)])
    os.close(w_fd)
    chunks = []
    with os.fdopen(r_fd, 'rb') as f:
        for block in iter(lambda: f.read(65536), b''):
            chunks.append(block)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    outtxt = b''.join(chunks).decode('utf-8', 'replace')
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(outtxt)
        raise SystemExit('nd_bench: %s failed with status %d' % (os.path.basename(argv[0]), code))
    vals = None
    for line in outtxt.splitlines():
        if line.startswith('NDRESULT '):
            vals = dict(kv.split('=', 1) for kv in line[9:].split())
    if vals is None:
        sys.stderr.write(outtxt)
        raise SystemExit('nd_bench: no NDRESULT line from %s' % os.path.basename(argv[0]))
    for k, v in list(vals.items()):
        for conv in (int, float):
            try:
                vals[k] = conv(v)
                break
            except ValueError:
                pass
    # The process's peak RSS as it saw it (VmHWM before the reset, and after the kernel);
    # wait4's ru_maxrss as a cross-check.
    vals.update(wall=wall, cpu=ru.ru_utime + ru.ru_stime, ru_maxrss_kb=ru.ru_maxrss,
                rss_kb=vals.get('proc_peak_kb') or ru.ru_maxrss)
    return vals


def best(runs):
    """Best kernel time and wall time, largest peak RSS and kernel delta over repetitions."""
    b = dict(min(runs, key=lambda r: r['kernel_s']))
    b['wall'] = min(r['wall'] for r in runs)
    b['rss_kb'] = max(r['rss_kb'] for r in runs)
    b['kernel_delta_kb'] = max(r['kernel_delta_kb'] for r in runs)
    b['kernel_all'] = [r['kernel_s'] for r in runs]
    if 'compile_s' in runs[0]:
        b['compile_s'] = min(r['compile_s'] for r in runs)
    return b


def mb(kb):
    return kb * 1024 / 1e6


def prepare(a, docs):
    d = os.path.join(a.tmp, 'nd-%d' % docs)
    os.makedirs(d, exist_ok=True)
    corpus = os.path.join(d, 'corpus.txt')
    with open(corpus, 'wb') as f:
        subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'gen_corpus.py'),
                        '--docs', str(docs), '--seed', str(a.corpus_seed),
                        '--topics', str(a.topics)], stdout=f, check=True)
    code = ('import sys, numpy as np\n'
            'from sklearn.feature_extraction.text import CountVectorizer\n'
            'x = CountVectorizer(min_df=%d, max_df=%r).fit_transform(open(sys.argv[1]))\n'
            'x.sort_indices()\n'
            'd = sys.argv[2]\n'
            'x.indptr.astype(np.int64).tofile(d + "/indptr.i64")\n'
            'x.indices.astype(np.int32).tofile(d + "/indices.i32")\n'
            'x.data.astype(np.float64).tofile(d + "/data.f64")\n'
            'print(x.shape[1], x.nnz)\n' % (MIN_DF, MAX_DF))
    out = subprocess.run([sys.executable, '-c', code, corpus, d], stdout=subprocess.PIPE,
                         text=True, check=True).stdout.split()
    return d, corpus, int(out[0]), int(out[1]), os.path.getsize(corpus)


def interleave(a, fns):
    """Runs every function of fns a.reps times, round-robin; returns the lists of results."""
    res = {k: [] for k in fns}
    for rep in range(a.reps):
        for k, fn in fns.items():
            r = fn()
            res[k].append(r)
            log('    %-10s run %d: kernel %8.3f s  process wall %7.2f s  peak RSS %7.1f MB'
                '  kernel delta %7.1f MB%s' %
                (k, rep + 1, r['kernel_s'], r['wall'], mb(r['rss_kb']),
                 mb(r['kernel_delta_kb']),
                 ('  (jit compile %.2f s)' % r['compile_s']) if 'compile_s' in r else ''))
    return {k: best(v) for k, v in res.items()}


def bench_size(a, R, docs):
    log('== %d documents' % docs)
    d, corpus, cols, nnz, size = prepare(a, docs)
    log('  corpus %s: %.1f MB; matrix (min_df=%d, max_df=%s) %d x %d, nnz %d' %
        (corpus, size / 1e6, MIN_DF, MAX_DF, docs, cols, nnz))
    s = {'docs': docs, 'cols': cols, 'nnz': nnz, 'bytes': size}

    log('  -- vectorize (load %s)' % loadavg())
    v = interleave(a, {
        'luaflow': lambda: R.lua('vectorize', corpus=corpus, min_df=MIN_DF, max_df=MAX_DF),
        'sklearn': lambda: R.py('vectorize', corpus=corpus)})
    for key in ('rows', 'cols', 'nnz', 'total', 'vocab'):
        if v['luaflow'][key] != v['sklearn'][key]:
            raise SystemExit('nd_bench: vectorize %s differs: luaflow %s, sklearn %s' %
                             (key, v['luaflow'][key], v['sklearn'][key]))
    s['vectorize'] = v

    log('  -- cooc (load %s)' % loadavg())
    fns = {'luaflow': lambda: R.lua('cooc', dir=d, cols=cols),
           'numba': lambda: R.py('numba', dir=d, cols=cols),
           'numba_i32': lambda: R.py('numba_i32', dir=d, cols=cols),
           'scipy': lambda: R.py('scipy', dir=d, cols=cols)}
    if a.threads != 1:
        fns['luaflow_1t'] = lambda: R.lua('cooc', dir=d, cols=cols, threads=1)
    c = interleave(a, fns)
    totals = {k: r['total'] for k, r in c.items()}
    if len(set(totals.values())) != 1:
        raise SystemExit('nd_bench: cooc totals differ: %s' % totals)
    s['cooc'] = c

    log('  -- kmeans k=%d n_init=%d max_iter=%d tol=%g seed=%d (load %s)' %
        (a.k, a.n_init, a.max_iter, a.tol, a.seed, loadavg()))
    kw = dict(dir=d, cols=cols, k=a.k, n_init=a.n_init, max_iter=a.max_iter, tol=a.tol,
              seed=a.seed)
    k = interleave(a, {'luaflow': lambda: R.lua('kmeans', **kw),
                       'sklearn': lambda: R.py('kmeans', **kw)})
    for side in k.values():
        log('    %-10s inertia %.1f after %d iterations' % ('', float(side['inertia']),
                                                           side['n_iter']))
    s['kmeans'] = k
    return s


def loadavg():
    return '%.2f %.2f %.2f' % os.getloadavg()


def report(a, results, load0, load1):
    W = 104
    log('')
    log('=' * W)
    log('luaflow nd benchmark (issue 5): best of %d; %d CPUs; luaflow threads %d; '
        'load average %s at start, %s at end; MB = 10^6 B' %
        (a.reps, os.cpu_count() or 0, a.threads, load0, load1))
    log('kernel = time of the call alone; wall = whole process (start-up, imports, loading); '
        'peak = process peak RSS; delta = RSS growth during the call')
    log('=' * W)
    hdr = '  %-28s %9s %9s %9s %9s %9s   %s' % ('', 'kernel s', 'ratio', 'wall s', 'peak MB',
                                             'delta MB', 'notes')
    budgets = []
    for s in results:
        log('%d documents: %d words, nnz %d, corpus %.1f MB' %
            (s['docs'], s['cols'], s['nnz'], s['bytes'] / 1e6))
        log(hdr)

        def row(label, r, ref, note=''):
            ratio = r['kernel_s'] / ref['kernel_s'] if ref is not r else 1.0
            log('  %-28s %9.3f %8.2fx %9.2f %9.1f %9.1f   %s' %
                (label, r['kernel_s'], ratio, r['wall'], mb(r['rss_kb']),
                 mb(r['kernel_delta_kb']), note))

        v = s['vectorize']
        row('vectorize luaflow', v['luaflow'], v['luaflow'])
        row('vectorize sklearn', v['sklearn'], v['luaflow'], 'CountVectorizer')
        c = s['cooc']
        lf = c['luaflow']
        row('cooc luaflow (%d threads)' % lf['threads'], lf, lf, 'dense i32')
        if 'luaflow_1t' in c:
            row('cooc luaflow (1 thread)', c['luaflow_1t'], lf, 'dense i32')
        row('cooc numba (book, f64)', c['numba'], lf,
            'dense f64; jit compile %.2f s excluded' % c['numba']['compile_s'])
        row('cooc numba (i32 matrix)', c['numba_i32'], lf,
            'dense i32; jit compile %.2f s excluded' % c['numba_i32']['compile_s'])
        row('cooc scipy B.T @ B', c['scipy'], lf, 'sparse i32, nnz %d' % c['scipy']['out_nnz'])
        k = s['kmeans']
        row('kmeans luaflow', k['luaflow'], k['luaflow'],
            'inertia %.1f, %d iter, %.1f ms/iter' %
            (float(k['luaflow']['inertia']), k['luaflow']['n_iter'],
             1000 * k['luaflow']['kernel_s'] / max(1, k['luaflow']['n_iter'])))
        row('kmeans sklearn (lloyd)', k['sklearn'], k['luaflow'],
            'inertia %.1f, %d iter, %.1f ms/iter' %
            (float(k['sklearn']['inertia']), k['sklearn']['n_iter'],
             1000 * k['sklearn']['kernel_s'] / max(1, k['sklearn']['n_iter'])))

        vr = v['sklearn']['kernel_s'] / v['luaflow']['kernel_s']
        cr = c['numba']['kernel_s'] / lf['kernel_s']
        mr = lf['rss_kb'] / c['numba']['rss_kb']
        dr = lf['kernel_delta_kb'] / max(1, c['numba']['kernel_delta_kb'])
        kr = k['sklearn']['kernel_s'] / k['luaflow']['kernel_s']
        n = s['docs']
        budgets.append('budget: %s  %dk vectorize >= 3x faster than CountVectorizer: %.2fx' %
                       ('ok    ' if vr >= 3 else 'MISSED', n // 1000, vr))
        budgets.append('budget: %s  %dk cooc >= 10x faster than numba: %.2fx' %
                       ('ok    ' if cr >= 10 else 'MISSED', n // 1000, cr))
        budgets.append('budget: %s  %dk cooc peak memory <= 1/2 of numba\'s: process peak '
                       '%.2f of numba\'s (kernel delta %.2f)' %
                       ('ok    ' if mr <= 0.5 else 'MISSED', n // 1000, mr, dr))
        budgets.append('budget: %s  %dk kmeans no slower than scikit-learn: %.2fx '
                       '(per iteration %.2fx)' %
                       ('ok    ' if kr >= 1 else 'MISSED', n // 1000, kr,
                        (k['sklearn']['kernel_s'] / max(1, k['sklearn']['n_iter'])) /
                        (k['luaflow']['kernel_s'] / max(1, k['luaflow']['n_iter']))))
        log('')
    for b in budgets:
        log(b)
    log('(ratio column: time / luaflow time; budget figures: peer time / luaflow time)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--corpus')
    ap.add_argument('--dir')
    ap.add_argument('--cols', type=int)
    ap.add_argument('--sizes', default='10000,50000', help='documents per corpus, comma list')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2, help='luaflow kernel threads')
    ap.add_argument('--k', type=int, default=10)
    ap.add_argument('--n-init', type=int, default=1)
    ap.add_argument('--max-iter', type=int, default=300)
    ap.add_argument('--tol', type=float, default=1e-4)
    ap.add_argument('--seed', type=int, default=0, help='k-means seed (both sides)')
    ap.add_argument('--corpus-seed', type=int, default=1)
    ap.add_argument('--topics', type=int, default=10, help='gen_corpus.py --topics')
    ap.add_argument('--tmp', help='scratch directory (default: a new one, removed after)')
    ap.add_argument('--lua', default='lua5.4')
    ap.add_argument('--lua-cpath', default=os.path.join(ROOT, 'build', 'lua', '?.so'),
                    help="where luaflow's Lua C module is (LUA_CPATH template)")
    a = ap.parse_args()
    if a.child:
        return child(a)
    import shutil
    import tempfile
    own_tmp = a.tmp is None
    a.tmp = a.tmp or tempfile.mkdtemp(prefix='luaflow-nd-bench.')
    a.lua = shutil.which(a.lua) or a.lua
    # The parent imports none of them: a spawned child's ru_maxrss starts from the parent's
    # RSS at the fork, so the parent stays small.
    probe = subprocess.run([sys.executable, '-c', 'import numba, numpy, scipy, sklearn; '
                            'print(numpy.__version__, scipy.__version__, sklearn.__version__, '
                            'numba.__version__)'], stdout=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        raise SystemExit("nd_bench: %s lacks numpy/scipy/sklearn/numba (use Debian's "
                         "/usr/bin/python3)" % sys.executable)
    versions = probe.stdout.split()
    load0 = loadavg()
    log('nd bench: %s; numpy %s, scipy %s, sklearn %s, numba %s; %s; %d CPUs, load %s' %
        (sys.executable, *versions, a.lua, os.cpu_count() or 0, load0))
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        log('nd bench: warning: the machine is busy; times will be inflated')
    R = Runner(a)
    try:
        results = [bench_size(a, R, int(n)) for n in a.sizes.split(',')]
    finally:
        if own_tmp:
            shutil.rmtree(a.tmp, ignore_errors=True)
    report(a, results, load0, loadavg())
    return 0


if __name__ == '__main__':
    sys.exit(main())
