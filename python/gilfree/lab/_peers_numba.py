"""The Numba peers of the lab's workloads (imported by :mod:`gilfree.lab._peers` only when Numba is
installed: importing this module imports Numba).

Each kernel is written once as plain Python and compiled twice: ``@njit(nogil=True)`` (serial:
``prange`` is then a plain ``range``) for one task per thread of a ``ThreadPoolExecutor``, and
``@njit(nogil=True, parallel=True)`` (``prange`` spreads the loop over Numba's threads) for one
task using every thread. ``nogil=True`` makes the compiled function release the GIL while it runs.
No ``fastmath``, so that the floating-point operations are the ones written, in the order written:
Mandelbrot counts match gilfree's exactly, and so do prime counts and int64 sums.

Nothing is compiled at import: :func:`build` compiles one workload's kernels (on a tiny task) the
first time it is asked for them in a process, and says how long that took. ``cache=False``: Numba's
on-disk cache would write next to this file or into a user cache of Numba's choosing, and the lab
reports the compile time instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numba import njit, prange

from gilfree.lab import _workloads
from gilfree.lab._workloads import Task

__all__ = ["build", "is_built", "version"]

Kernel = Callable[..., Any]
F = TypeVar("F", bound=Kernel)


def _jit(fn: F) -> F:
    """``fn`` compiled (lazily: on the first call) to be called from other compiled functions."""
    return cast(F, njit(cache=False)(fn))


def _nogil(fn: F) -> F:
    """``fn`` compiled serial, releasing the GIL (lazily: on the first call)."""
    return cast(F, njit(nogil=True, cache=False)(fn))


def _both(fn: F) -> tuple[F, F]:
    """``fn`` compiled serial and parallel, both releasing the GIL (lazily: on the first call)."""
    serial = cast(F, njit(nogil=True, cache=False)(fn))
    parallel = cast(F, njit(nogil=True, cache=False, parallel=True)(fn))
    return serial, parallel


# --- mandelbrot: the formula of gilfree.mandelbrot and its twin -----------------------------------


def _mandelbrot(
    width: int, height: int, max_iter: int, xmin: float, xmax: float, ymin: float, ymax: float
) -> np.ndarray:
    out = np.empty((height, width), dtype=np.uint16)
    dx = (xmax - xmin) / width
    dy = (ymax - ymin) / height
    for i in prange(height):
        ci = ymin + i * dy
        for j in range(width):
            cr = xmin + j * dx
            zr = 0.0
            zi = 0.0
            n = 0
            while n < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                n += 1
            out[i, j] = n
    return out


# --- count_primes: segmented sieve of Eratosthenes over odd numbers, 32 KiB segments -------------

#: Segment length in bytes (one byte per odd number): 32 KiB, the L1 data cache of most x86 cores.
SIEVE_SEGMENT = 32 * 1024
#: Blocks of consecutive segments per thread in the parallel variant (load balance).
SIEVE_BLOCKS_PER_THREAD = 16


@_jit
def _isqrt(n: int) -> int:
    r = int(math.sqrt(n))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@_jit
def _odd_primes_upto(limit: int) -> np.ndarray:
    """The odd primes <= limit (a plain sieve; limit is sqrt(n), small)."""
    if limit < 3:
        return np.empty(0, dtype=np.int64)
    composite = np.zeros(limit + 1, dtype=np.uint8)
    count = 0
    for p in range(3, limit + 1, 2):
        if composite[p] == 0:
            count += 1
            for m in range(p * p, limit + 1, 2 * p):
                composite[m] = 1
    out = np.empty(count, dtype=np.int64)
    k = 0
    for p in range(3, limit + 1, 2):
        if composite[p] == 0:
            out[k] = p
            k += 1
    return out


@_jit
def _count_segments(s0: int, s1: int, kmax: int, seg_len: int, primes: np.ndarray) -> int:
    """Primes among the odd numbers 2k+1 with k in segments [s0, s1) (segment s holds the indices
    [s*seg_len, (s+1)*seg_len) ∩ [0, kmax]); the number 1 (k = 0) is not counted."""
    nprimes = primes.size
    nxt = np.empty(nprimes, dtype=np.int64)
    lo0 = s0 * seg_len
    for t in range(nprimes):
        p = primes[t]
        start = (p * p - 1) // 2  # index of p*p; odd multiples of p are p apart in index space
        if start < lo0:
            start += ((lo0 - start + p - 1) // p) * p
        nxt[t] = start
    seg = np.empty(seg_len, dtype=np.uint8)
    count = 0
    for s in range(s0, s1):
        lo = s * seg_len
        hi = min(lo + seg_len, kmax + 1)
        length = hi - lo
        seg[:length] = 0
        for t in range(nprimes):
            p = primes[t]
            j = nxt[t] - lo
            while j < length:
                seg[j] = 1
                j += p
            nxt[t] = j + lo
        marked = 0
        for j in range(length):
            marked += seg[j]
        count += length - marked
        if lo == 0:
            count -= 1  # k = 0 is the number 1
    return count


def _count_primes(n: int, nblocks: int) -> int:
    if n < 2:
        return 0
    seg_len = SIEVE_SEGMENT
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
    return 1 + int(counts.sum())  # + the prime 2


# --- spectral_norm: the Benchmarks Game program, a(i, j) * v[j] as the twin writes it -------------


def _spectral_norm(n: int) -> float:
    u = np.ones(n)
    v = np.empty(n)
    tmp = np.empty(n)
    for _ in range(10):
        # v = A^T A u, then u = A^T A v; every row a prange.
        for i in prange(n):
            s = 0.0
            for j in range(n):
                s += (1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)) * u[j]
            tmp[i] = s
        for i in prange(n):
            s = 0.0
            for j in range(n):
                s += (1.0 / ((j + i) * (j + i + 1) // 2 + j + 1)) * tmp[j]
            v[i] = s
        for i in prange(n):
            s = 0.0
            for j in range(n):
                s += (1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)) * v[j]
            tmp[i] = s
        for i in prange(n):
            s = 0.0
            for j in range(n):
                s += (1.0 / ((j + i) * (j + i + 1) // 2 + j + 1)) * tmp[j]
            u[i] = s
    vbv = 0.0
    vv = 0.0
    for i in range(n):
        vbv += u[i] * v[i]
        vv += v[i] * v[i]
    return math.sqrt(vbv / vv)


# --- nbody: serial by nature (a chain of dependent steps) -----------------------------------------


@_jit
def _energy(pos: np.ndarray, vel: np.ndarray, mass: np.ndarray) -> float:
    nb = mass.size
    e = 0.0
    for i in range(nb):
        e += 0.5 * mass[i] * (vel[i, 0] * vel[i, 0] + vel[i, 1] * vel[i, 1] + vel[i, 2] * vel[i, 2])
        for j in range(i + 1, nb):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            dz = pos[i, 2] - pos[j, 2]
            e -= mass[i] * mass[j] / math.sqrt(dx * dx + dy * dy + dz * dz)
    return e


def _nbody(
    steps: int, pos0: np.ndarray, vel0: np.ndarray, mass: np.ndarray, solar_mass: float
) -> tuple[float, float]:
    pos = pos0.copy()
    vel = vel0.copy()
    nb = mass.size
    # Offset the Sun's momentum so that the system's total is zero.
    for k in range(3):
        p = 0.0
        for i in range(nb):
            p += vel[i, k] * mass[i]
        vel[0, k] = -p / solar_mass
    before = _energy(pos, vel, mass)
    dt = 0.01
    for _ in range(steps):
        for i in range(nb):
            for j in range(i + 1, nb):
                dx = pos[i, 0] - pos[j, 0]
                dy = pos[i, 1] - pos[j, 1]
                dz = pos[i, 2] - pos[j, 2]
                d2 = dx * dx + dy * dy + dz * dz
                mag = dt / (d2 * math.sqrt(d2))
                mj = mass[j] * mag
                mi = mass[i] * mag
                vel[i, 0] -= dx * mj
                vel[i, 1] -= dy * mj
                vel[i, 2] -= dz * mj
                vel[j, 0] += dx * mi
                vel[j, 1] += dy * mi
                vel[j, 2] += dz * mi
        for i in range(nb):
            pos[i, 0] += dt * vel[i, 0]
            pos[i, 1] += dt * vel[i, 1]
            pos[i, 2] += dt * vel[i, 2]
    return before, _energy(pos, vel, mass)


def _nbody_system() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The twin's initial state, computed the twin's way (velocity per year, mass in SOLAR_MASS).
    bodies = _workloads._BODIES
    pos = np.array([b[0] for b in bodies], dtype=np.float64)
    vel = np.array([[c * _workloads._DAYS_PER_YEAR for c in b[1]] for b in bodies], dtype=np.float64)
    mass = np.array([b[2] * _workloads._SOLAR_MASS for b in bodies], dtype=np.float64)
    return pos, vel, mass


# --- sum: an int64 reduction (exact in any order) -------------------------------------------------


def _sum(a: np.ndarray) -> int:
    s = 0
    for i in prange(a.size):
        s += a[i]
    return s


# --- the per-workload entry points ----------------------------------------------------------------

_mandel_s, _mandel_p = _both(_mandelbrot)
_primes_s, _primes_p = _both(_count_primes)
_spectral_s, _spectral_p = _both(_spectral_norm)
_sum_s, _sum_p = _both(_sum)
_nbody_s = _nogil(_nbody)

#: Rows per scheduling chunk of the parallel Mandelbrot (the set's middle rows cost far more).
MANDEL_CHUNK = 2

TaskFn = Callable[[Task], Any]
ParallelFn = Callable[[Task, int], Any]


def _mandel_task(task: Task) -> np.ndarray:
    out: np.ndarray = _mandel_s(*task)
    return out


def _mandel_par(task: Task) -> np.ndarray:
    old = numba.set_parallel_chunksize(MANDEL_CHUNK)
    try:
        out: np.ndarray = _mandel_p(*task)
    finally:
        numba.set_parallel_chunksize(old)
    return out


def _primes_task(task: Task) -> int:
    return int(_primes_s(task[0], 1))


def _primes_par(task: Task) -> int:
    return int(_primes_p(task[0], SIEVE_BLOCKS_PER_THREAD * numba.get_num_threads()))


def _spectral_task(task: Task) -> float:
    return float(_spectral_s(task[0]))


def _spectral_par(task: Task) -> float:
    return float(_spectral_p(task[0]))


_NBODY_SYSTEM = _nbody_system()


def _nbody_task(task: Task) -> tuple[float, float]:
    before, after = _nbody_s(task[0], *_NBODY_SYSTEM, _workloads._SOLAR_MASS)
    return float(before), float(after)


def _sum_slice(task: Task) -> np.ndarray:
    length, offset = task
    data: np.ndarray = _workloads._sum_data(length)[offset : offset + length]
    return data


def _sum_task(task: Task) -> int:
    return int(_sum_s(_sum_slice(task)))


def _sum_par(task: Task) -> int:
    return int(_sum_p(_sum_slice(task)))


#: Per workload: the one-task function (GIL released), its parallel-inside body (or None: n-body is
#: a chain of dependent steps), and a tiny task of the same argument types to compile them on.
_KERNELS: dict[str, tuple[TaskFn, TaskFn | None, Task]] = {
    "mandelbrot": (_mandel_task, _mandel_par, (8, 6, 16, -2.0, 1.0, -1.5, 1.5)),
    "count_primes": (_primes_task, _primes_par, (1000,)),
    "spectral_norm": (_spectral_task, _spectral_par, (4,)),
    "nbody": (_nbody_task, None, (3,)),
    "sum": (_sum_task, _sum_par, (100, 1)),
}

_LOCK = threading.Lock()  # serialises compiling, and the parallel calls (see _with_threads)
_BUILT: set[str] = set()


def version() -> str:
    """Numba's version."""
    return str(numba.__version__)


def _with_threads(body: TaskFn) -> ParallelFn:
    def run(task: Task, threads: int) -> Any:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        # Numba's thread count is per calling thread and capped at NUMBA_NUM_THREADS. One parallel
        # call at a time: the workqueue layer aborts the process on concurrent parallel launches.
        with _LOCK:
            old = numba.get_num_threads()
            config: Any = numba.config
            numba.set_num_threads(min(threads, config.NUMBA_NUM_THREADS))
            try:
                return body(task)
            finally:
                numba.set_num_threads(old)

    return run


def is_built(workload: str) -> bool:
    """Whether ``workload``'s kernels are compiled in this process already."""
    return workload in _BUILT


def build(workload: str) -> tuple[TaskFn, ParallelFn | None, float]:
    """``(task_nogil, task_parallel, seconds)`` for ``workload``: its kernels, compiled on the first
    call in this process (``seconds`` is the compile time then, 0.0 after)."""
    if workload not in _KERNELS:
        raise KeyError(workload)
    serial, parallel, tiny = _KERNELS[workload]
    seconds = 0.0
    with _LOCK:
        if workload not in _BUILT:
            start = time.perf_counter()
            serial(tiny)
            if parallel is not None:
                parallel(tiny)
            seconds = time.perf_counter() - start
            _BUILT.add(workload)
    return serial, (_with_threads(parallel) if parallel is not None else None), seconds
