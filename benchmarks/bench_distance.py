"""gilfree.pairwise_distances vs SciPy's cdist, NumPy's BLAS trick and Numba, side by side.

The workload of issue 11: x 4000x64 and y 3000x64 float64, euclidean (``--n --m --d`` change it).
Contenders: gilfree at ``threads=1`` and ``threads=None``; ``scipy.spatial.distance.cdist``; the
BLAS trick ``sqrt(maximum(|x|^2 + |y|^2 - 2 x @ y.T, 0))`` (OpenBLAS, all its threads); and, when
Numba is installed, a ``@njit(parallel=True)`` loop over rows (``prange``) summing ``(x-y)^2``.

Each contender runs once for the correctness check (largest relative error against cdist, whose
summation gilfree matches; the BLAS trick's error is shown for comparison), then ``--repeat``
timed rounds in a rotating order so that a shared machine's noise falls on all alike. Times are
the minimum (and median) over the rounds. Verdict (issue 11): gilfree's time <= the BLAS trick's.

Usage::

    python benchmarks/bench_distance.py                 # 4000 x 3000 x 64, 7 rounds
    python benchmarks/bench_distance.py --repeat 3 --n 1000 --m 1000 --d 16
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

import gilfree


def blas_trick(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xx = np.einsum("ij,ij->i", x, x)
    yy = np.einsum("ij,ij->i", y, y)
    return np.sqrt(np.maximum(xx[:, None] + yy[None, :] - 2.0 * (x @ y.T), 0.0))


def numba_peer() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    try:
        from numba import njit, prange
    except ImportError:
        print("skipped: Numba parallel: numba is not installed (pip install gilfree[peers])")
        return None

    @njit(parallel=True)
    def fill(x: Any, y: Any, out: Any) -> None:
        n, d = x.shape
        m = y.shape[0]
        for i in prange(n):
            for j in range(m):
                s = 0.0
                for k in range(d):
                    t = x[i, k] - y[j, k]
                    s += t * t
                out[i, j] = np.sqrt(s)

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.empty((x.shape[0], y.shape[0]))
        fill(x, y, out)
        return out

    t = time.perf_counter()
    run(np.zeros((2, 2)), np.zeros((2, 2)))
    print(f"Numba compile: {time.perf_counter() - t:.2f} s")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--m", type=int, default=3000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.d))
    y = rng.standard_normal((args.m, args.d))
    cpu = platform.processor() or platform.machine()
    print(f"gilfree {gilfree.__version__}, {gilfree.get_num_threads()} threads, {cpu}")
    print(f"pairwise_distances euclidean, x {x.shape}, y {y.shape}, float64")

    contenders: dict[str, Callable[[], np.ndarray]] = {
        "gilfree threads=None": lambda: gilfree.pairwise_distances(x, y),
        "gilfree threads=1": lambda: gilfree.pairwise_distances(x, y, threads=1),
        "NumPy BLAS trick": lambda: blas_trick(x, y),
        "scipy cdist": lambda: cdist(x, y),
    }
    numba_run = numba_peer()
    if numba_run is not None:
        contenders["Numba parallel"] = lambda: numba_run(x, y)

    want = cdist(x, y)
    ok = want > 0
    for name, f in contenders.items():
        got = f()
        err = float(np.max(np.abs(got[ok] - want[ok]) / want[ok]))
        print(f"  check {name:22s} max rel. error vs cdist {err:.2e}")

    times: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(args.repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t)
    base = min(times["gilfree threads=None"])
    print(f"\n  {'contender':22s} {'min ms':>9s} {'median ms':>10s} {'time / gilfree':>15s}")
    for name, v in times.items():
        print(f"  {name:22s} {min(v) * 1e3:9.1f} {statistics.median(v) * 1e3:10.1f} {min(v) / base:15.2f}")
    trick = min(times["NumPy BLAS trick"])
    verdict = "PASS" if base <= trick else "MISS"
    print(
        f"\n{verdict}: gilfree {base * 1e3:.1f} ms <= BLAS trick {trick * 1e3:.1f} ms (with cdist's accuracy)"
    )


if __name__ == "__main__":
    main()
