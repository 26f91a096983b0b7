"""The Numba peers of ``bench_compute.py`` and ``bench_data.py``: straightforward, reasonably tuned
Numba versions of gilfree's compute kernels, each compiled twice from the same Python source --
``@njit`` (serial: ``prange`` is then a plain ``range``) and ``@njit(parallel=True)`` (``prange``
spreads the loop over Numba's threads). The data kernels' peers (histogram, bincount, euclidean
distances) are parallel only: ``prange`` over chunks, each with its own partial counts.

Importing this module needs Numba; the benchmarks import it only when Numba is installed.
Nothing is compiled at import: the first call of each function compiles it (the benchmark makes
that call on a tiny input and reports its time as the compile time).

Every function follows the formula gilfree documents for the kernel (docs/ and DESIGN.md), with
no ``fastmath``, so that results can be compared exactly (Mandelbrot iteration counts, prime
counts, Fannkuch checksums) or to 9 decimals (spectral norm, n-body energies).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from _peers_numpy import mandelbrot_coords
from numba import njit, prange

# The sieve's building blocks and the n-body simulation are the lab's Numba peers' own (identical
# code, one copy); the n-body system is the lab's twin's.
from gilfree.lab._peers_numba import _count_segments, _isqrt, _nbody_s, _odd_primes_upto
from gilfree.lab._workloads import _BODIES, _DAYS_PER_YEAR, _SOLAR_MASS

__all__ = ["PEERS", "Peer", "compile_peers", "numba_facts"]


def numba_facts() -> dict[str, Any]:
    """Numba's version, thread count and threading layer (the layer is known after the first
    parallel call)."""
    import llvmlite

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel function has run yet
        layer = "(not initialised)"
    return {
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": layer,
    }


# --- Mandelbrot --------------------------------------------------------------------------------


def _mandelbrot(cr: np.ndarray, ci: np.ndarray, max_iter: int) -> np.ndarray:
    height, width = ci.size, cr.size
    out = np.empty((height, width), dtype=np.uint16)
    for i in prange(height):
        y = ci[i]
        for j in range(width):
            x = cr[j]
            zr = 0.0
            zi = 0.0
            n = 0
            while n < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + y
                zr = zr2 - zi2 + x
                n += 1
            out[i, j] = n
    return out


# --- count_primes: segmented sieve of Eratosthenes, odd numbers only, 32 KiB segments --------------

#: Segment length in bytes (one byte per odd number): 32 KiB, the L1 data cache of most x86 cores.
SIEVE_SEGMENT = 32 * 1024
#: Blocks of consecutive segments per Numba thread in the parallel variant (load balance).
SIEVE_BLOCKS_PER_THREAD = 16


def _count_primes(n: int, seg_len: int, nblocks: int) -> int:
    if n < 2:
        return 0
    kmax = (n - 1) // 2  # odd numbers 1, 3, ..., 2*kmax+1 <= n
    nseg = (kmax + seg_len) // seg_len
    primes = _odd_primes_upto(_isqrt(n))
    nb = max(1, min(nblocks, nseg))
    per = (nseg + nb - 1) // nb
    counts = np.zeros(nb, dtype=np.int64)
    for b in prange(nb):
        s0 = b * per
        s1 = min(nseg, s0 + per)
        if s0 < s1:
            counts[b] = _count_segments(s0, s1, kmax, seg_len, primes)
    return 1 + counts.sum()  # + the prime 2


# --- spectral norm (Benchmarks Game) -----------------------------------------------------------


@njit(cache=False, inline="always")
def _a(i: int, j: int) -> float:
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def _mul_av(v: np.ndarray, out: np.ndarray) -> None:
    n = v.size
    for i in prange(n):
        s = 0.0
        for j in range(n):
            s += _a(i, j) * v[j]
        out[i] = s


def _mul_atv(v: np.ndarray, out: np.ndarray) -> None:
    n = v.size
    for i in prange(n):
        s = 0.0
        for j in range(n):
            s += _a(j, i) * v[j]
        out[i] = s


# --- Fannkuch-redux (Benchmarks Game; the permutation order of the Java/C multithreaded programs) --


@njit(cache=False)
def _fannkuch_range(n: int, idx_min: int, idx_max: int, fact: np.ndarray) -> tuple[int, int]:
    """Checksum and max flips of the permutations with index [idx_min, idx_max)."""
    p = np.empty(n, dtype=np.int64)
    pp = np.empty(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    # The permutation of index idx_min (factorial number system).
    for i in range(n):
        p[i] = i
    idx = idx_min
    for i in range(n - 1, 0, -1):
        d = idx // fact[i]
        count[i] = d
        idx = idx % fact[i]
        for j in range(i + 1):
            pp[j] = p[j]
        for j in range(i + 1):
            p[j] = pp[j + d] if j + d <= i else pp[j + d - i - 1]
    checksum = 0
    max_flips = 0
    i = idx_min
    while True:
        first = p[0]
        if first != 0:
            flips = 1
            if p[first] != 0:
                for j in range(n):
                    pp[j] = p[j]
                while True:
                    flips += 1
                    lo = 1
                    hi = first - 1
                    while lo < hi:
                        t = pp[lo]
                        pp[lo] = pp[hi]
                        pp[hi] = t
                        lo += 1
                        hi -= 1
                    t = pp[first]
                    pp[first] = first
                    first = t
                    if pp[first] == 0:
                        break
            max_flips = max(max_flips, flips)
            checksum += flips if i % 2 == 0 else -flips
        i += 1
        if i >= idx_max:
            break
        # The next permutation.
        first = p[1]
        p[1] = p[0]
        p[0] = first
        k = 1
        count[k] += 1
        while count[k] > k:
            count[k] = 0
            k += 1
            nxt = p[1]
            p[0] = nxt
            for j in range(1, k):
                p[j] = p[j + 1]
            p[k] = first
            first = nxt
            count[k] += 1
    return checksum, max_flips


def _fannkuch(n: int, ntasks: int) -> tuple[int, int]:
    fact = np.ones(n + 1, dtype=np.int64)
    for i in range(1, n + 1):
        fact[i] = fact[i - 1] * i
    total = fact[n]
    nt = max(1, min(ntasks, total))
    chunk = (total + nt - 1) // nt
    sums = np.zeros(nt, dtype=np.int64)
    maxes = np.zeros(nt, dtype=np.int64)
    for t in prange(nt):
        lo = t * chunk
        hi = min(total, lo + chunk)
        if lo < hi:
            c, m = _fannkuch_range(n, lo, hi, fact)
            sums[t] = c
            maxes[t] = m
    return sums.sum(), maxes.max()


# --- n-body (Benchmarks Game, 5 bodies) --------------------------------------------------------


def _nbody_system() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.array([b[0] for b in _BODIES], dtype=np.float64)
    vel = np.array([b[1] for b in _BODIES], dtype=np.float64) * _DAYS_PER_YEAR
    mass = np.array([b[2] for b in _BODIES], dtype=np.float64) * _SOLAR_MASS
    return pos, vel, mass


# --- Monte Carlo pi: xorshift64* streams, one per task -------------------------------------------

#: Independent random streams (tasks) of the Monte Carlo estimate, whatever the thread count.
MC_TASKS = 64


@njit(cache=False)
def _splitmix64(x: np.uint64) -> np.uint64:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=False)
def _mc_hits(samples: int, seed: int, task: int) -> int:
    state = _splitmix64(np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(task))
    if state == np.uint64(0):
        state = np.uint64(1)
    mult = np.uint64(0x2545F4914F6CDD1D)
    s12, s25, s27, s11 = np.uint64(12), np.uint64(25), np.uint64(27), np.uint64(11)
    scale = 1.0 / 9007199254740992.0  # 2**-53
    hits = 0
    for _ in range(samples):
        state ^= state >> s12
        state ^= state << s25
        state ^= state >> s27
        x = float((state * mult) >> s11) * scale
        state ^= state >> s12
        state ^= state << s25
        state ^= state >> s27
        y = float((state * mult) >> s11) * scale
        if x * x + y * y < 1.0:
            hits += 1
    return hits


def _monte_carlo_pi(samples: int, seed: int, ntasks: int) -> float:
    hits = np.zeros(ntasks, dtype=np.int64)
    for t in prange(ntasks):
        lo = samples * t // ntasks
        hi = samples * (t + 1) // ntasks
        hits[t] = _mc_hits(hi - lo, seed, t)
    return 4.0 * hits.sum() / samples


# --- histogram, bincount, pairwise distances (bench_data.py): per-thread partials ------------------

#: Chunks per Numba thread of the parallel histogram and bincount (each chunk has its own counts).
DATA_CHUNKS_PER_THREAD = 4


@njit(cache=False, parallel=True)
def _min_max_p(a: np.ndarray, nchunks: int) -> tuple[Any, Any]:
    """The smallest and largest element of a non-empty array (no NaN), per chunk in parallel."""
    n = a.size
    per = (n + nchunks - 1) // nchunks
    mins = np.empty(nchunks, dtype=a.dtype)
    maxes = np.empty(nchunks, dtype=a.dtype)
    for c in prange(nchunks):
        lo = c * per
        hi = min(n, lo + per)
        mn = a[0]
        mx = a[0]
        for i in range(lo, hi):
            x = a[i]
            mn = min(mn, x)
            mx = max(mx, x)
        mins[c] = mn
        maxes[c] = mx
    return mins.min(), maxes.max()


@njit(cache=False, parallel=True)
def _histogram_p(a: np.ndarray, edges: np.ndarray, nchunks: int) -> np.ndarray:
    """NumPy's equal-bins rule: index ``int((x - first) / (last - first) * nbins)``, the last edge
    in the last bin, then the index corrected by one against the edges (as ``np.histogram``)."""
    nbins = edges.size - 1
    first = edges[0]
    last = edges[nbins]
    denom = last - first
    n = a.size
    per = (n + nchunks - 1) // nchunks
    partial = np.zeros((nchunks, nbins), dtype=np.int64)
    for c in prange(nchunks):
        lo = c * per
        hi = min(n, lo + per)
        for i in range(lo, hi):
            x = a[i]
            if x >= first and x <= last:
                k = int((x - first) / denom * nbins)
                if k == nbins:
                    k -= 1
                if x < edges[k]:
                    k -= 1
                elif k != nbins - 1 and x >= edges[k + 1]:
                    k += 1
                partial[c, k] += 1
    return partial.sum(axis=0)


@njit(cache=False, parallel=True)
def _bincount_p(x: np.ndarray, size: int, nchunks: int) -> np.ndarray:
    n = x.size
    per = (n + nchunks - 1) // nchunks
    partial = np.zeros((nchunks, size), dtype=np.int64)
    for c in prange(nchunks):
        lo = c * per
        hi = min(n, lo + per)
        for i in range(lo, hi):
            partial[c, x[i]] += 1
    return partial.sum(axis=0)


@njit(cache=False, parallel=True)
def _euclidean_p(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    m, k = x.shape
    n = y.shape[0]
    out = np.empty((m, n))
    for i in prange(m):
        for j in range(n):
            s = 0.0
            for t in range(k):
                d = x[i, t] - y[j, t]
                s += d * d
            out[i, j] = np.sqrt(s)
    return out


# --- the two builds of each peer -----------------------------------------------------------------


def _both(fn: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``fn`` compiled serial and parallel (lazily: on the first call of each)."""
    return njit(cache=False)(fn), njit(cache=False, parallel=True)(fn)


_mandel_s, _mandel_p = _both(_mandelbrot)
_primes_s, _primes_p = _both(_count_primes)
_av_s, _av_p = _both(_mul_av)
_atv_s, _atv_p = _both(_mul_atv)
_fannkuch_s, _fannkuch_p = _both(_fannkuch)
_mc_s, _mc_p = _both(_monte_carlo_pi)


def _spectral_driver(mul_av: Callable[..., Any], mul_atv: Callable[..., Any]) -> Callable[[int], float]:
    def spectral_norm(n: int) -> float:
        u = np.ones(n)
        v = np.empty(n)
        tmp = np.empty(n)
        for _ in range(10):
            mul_av(u, tmp)
            mul_atv(tmp, v)
            mul_av(v, tmp)
            mul_atv(tmp, u)
        vbv = float(np.dot(u, v))
        vv = float(np.dot(v, v))
        return math.sqrt(vbv / vv)

    return spectral_norm


def mandelbrot_serial(
    width: int,
    height: int,
    max_iter: int,
    xmin: float,
    xmax: float,
    ymin: float,
    ymax: float,
    *,
    step_first: bool = False,
) -> np.ndarray:
    """Numba serial Mandelbrot (uint16[height, width]); ``step_first`` as in
    :func:`_peers_numpy.mandelbrot_coords`."""
    cr, ci = mandelbrot_coords(width, height, xmin, xmax, ymin, ymax, step_first=step_first)
    out: np.ndarray = _mandel_s(cr, ci, max_iter)
    return out


def mandelbrot_parallel(
    width: int, height: int, max_iter: int, xmin: float, xmax: float, ymin: float, ymax: float
) -> np.ndarray:
    """Numba parallel Mandelbrot: ``prange`` over rows, 4 rows per scheduling chunk (the rows of
    the set's middle take far longer than the outer ones)."""
    cr, ci = mandelbrot_coords(width, height, xmin, xmax, ymin, ymax)
    old = numba.set_parallel_chunksize(4)
    try:
        out: np.ndarray = _mandel_p(cr, ci, max_iter)
    finally:
        numba.set_parallel_chunksize(old)
    return out


def count_primes_serial(n: int) -> int:
    """Numba segmented sieve, one thread: all segments in one pass."""
    return int(_primes_s(n, SIEVE_SEGMENT, 1))


def count_primes_parallel(n: int) -> int:
    """Numba segmented sieve: ``prange`` over blocks of consecutive 32 KiB segments (each block
    computes its primes' first multiples once, then sieves its segments in order)."""
    return int(_primes_p(n, SIEVE_SEGMENT, SIEVE_BLOCKS_PER_THREAD * numba.get_num_threads()))


spectral_norm_serial = _spectral_driver(_av_s, _atv_s)
spectral_norm_serial.__doc__ = "Numba spectral norm, one thread."
spectral_norm_parallel = _spectral_driver(_av_p, _atv_p)
spectral_norm_parallel.__doc__ = "Numba spectral norm: each matrix-vector product a ``prange`` over rows."


def fannkuch_serial(n: int) -> tuple[int, int]:
    """Numba Fannkuch-redux, one thread: every permutation in order."""
    c, m = _fannkuch_s(n, 1)
    return int(c), int(m)


#: Tasks of the parallel Fannkuch: n! permutations in this many equal index ranges.
FANNKUCH_TASKS = 240


def fannkuch_parallel(n: int) -> tuple[int, int]:
    """Numba Fannkuch-redux: ``prange`` over equal ranges of permutation indices."""
    c, m = _fannkuch_p(n, FANNKUCH_TASKS)
    return int(c), int(m)


def nbody(steps: int) -> tuple[float, float]:
    """Numba n-body (serial, as the benchmark is): energy before and after ``steps`` steps."""
    pos, vel, mass = _nbody_system()
    before, after = _nbody_s(steps, pos, vel, mass, _SOLAR_MASS)
    return float(before), float(after)


def monte_carlo_pi_serial(samples: int, seed: int = 0) -> float:
    """Numba Monte Carlo pi, one thread (the same 64 streams as the parallel build)."""
    return float(_mc_s(samples, seed, MC_TASKS))


def monte_carlo_pi_parallel(samples: int, seed: int = 0) -> float:
    """Numba Monte Carlo pi: ``prange`` over 64 independent xorshift64* streams."""
    return float(_mc_p(samples, seed, MC_TASKS))


def _data_chunks() -> int:
    return DATA_CHUNKS_PER_THREAD * numba.get_num_threads()


def histogram_parallel(a: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Numba ``np.histogram(a, bins)`` (float64 ``a`` without NaN, ``range=None``): a parallel
    min/max pass, NumPy's edges (``linspace``), then ``prange`` over chunks, each counting into its
    own row."""
    mn, mx = _min_max_p(a, _data_chunks()) if a.size else (0.0, 1.0)
    if not (math.isfinite(mn) and math.isfinite(mx)):
        raise ValueError(f"autodetected range of [{mn}, {mx}] is not finite")
    if mn == mx:
        mn, mx = mn - 0.5, mx + 0.5
    edges = np.linspace(mn, mx, bins + 1, endpoint=True)
    return _histogram_p(a, edges, _data_chunks()), edges


def bincount_parallel(x: np.ndarray, minlength: int = 0) -> np.ndarray:
    """Numba ``np.bincount(x, minlength=minlength)`` (int64 ``x``): a parallel min/max pass, then
    ``prange`` over chunks, each counting into its own row."""
    if x.size == 0:
        return np.zeros(minlength, dtype=np.int64)
    mn, mx = _min_max_p(x, _data_chunks())
    if mn < 0:
        raise ValueError("'list' argument must have no negative elements")
    out: np.ndarray = _bincount_p(x, max(int(mx) + 1, minlength), _data_chunks())
    return out


def euclidean_parallel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Numba euclidean distances ``sqrt(sum((x[i] - y[j])**2))``: ``prange`` over the rows of x,
    the differences summed in order (no fastmath)."""
    out: np.ndarray = _euclidean_p(x, y)
    return out


@dataclass(frozen=True)
class Peer:
    """One Numba contender: its function and the tiny call that compiles it."""

    fn: Callable[..., Any]
    compile_args: tuple[Any, ...]


_MANDEL_TINY = (8, 6, 16, -2.0, 1.0, -1.5, 1.5)

#: The Numba contenders by (workload, variant).
PEERS: dict[tuple[str, str], Peer] = {
    ("mandelbrot", "serial"): Peer(mandelbrot_serial, _MANDEL_TINY),
    ("mandelbrot", "parallel"): Peer(mandelbrot_parallel, _MANDEL_TINY),
    ("count_primes", "serial"): Peer(count_primes_serial, (1000,)),
    ("count_primes", "parallel"): Peer(count_primes_parallel, (1000,)),
    ("spectral_norm", "serial"): Peer(spectral_norm_serial, (10,)),
    ("spectral_norm", "parallel"): Peer(spectral_norm_parallel, (10,)),
    ("fannkuch_redux", "serial"): Peer(fannkuch_serial, (5,)),
    ("fannkuch_redux", "parallel"): Peer(fannkuch_parallel, (5,)),
    ("nbody", "serial"): Peer(nbody, (10,)),
    ("monte_carlo_pi", "serial"): Peer(monte_carlo_pi_serial, (1000,)),
    ("monte_carlo_pi", "parallel"): Peer(monte_carlo_pi_parallel, (1000,)),
    ("histogram", "parallel"): Peer(histogram_parallel, (np.linspace(0.0, 1.0, 64), 10)),
    ("bincount", "parallel"): Peer(bincount_parallel, (np.arange(64, dtype=np.int64),)),
    ("pairwise_distances", "parallel"): Peer(euclidean_parallel, (np.ones((3, 4)), np.zeros((2, 4)))),
}


def compile_peers(workloads: Collection[str]) -> tuple[dict[str, float], dict[str, str]]:
    """Compiles the peers of ``workloads`` by a call on a tiny input: the compile time of each
    ("workload/variant" -> seconds), and the error of each that failed to compile."""
    compile_s: dict[str, float] = {}
    errors: dict[str, str] = {}
    for (workload, variant), peer in PEERS.items():
        if workload not in workloads:
            continue
        key = f"{workload}/{variant}"
        t0 = time.perf_counter()
        try:
            peer.fn(*peer.compile_args)
        except Exception as e:
            errors[key] = f"skipped: numba failed to compile ({type(e).__name__}: {e})"
            continue
        compile_s[key] = time.perf_counter() - t0
    return compile_s, errors
