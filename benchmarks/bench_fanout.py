"""When does ``threads=None`` pay? Every kernel family, from a few microseconds of work up.

For one representative call of each kernel family, a sweep of input sizes; at each size the call
runs with ``threads=1`` (the calling thread alone) and with ``threads=None`` (the shared pool),
back to back in a loop as a program calls kernels, interleaved round by round; the best round of
``--repeat`` counts. The *work* of a size is its ``threads=1`` time per call.

Two figures per family, against the targets of issue 13:

* **pays from**: the least work at which ``threads=None`` is clearly faster than ``threads=1``
  (the speedup crosses 1.10 -- a margin over the timing noise -- log-interpolated between
  sizes); PASS at 30 us or less;
* **speedup from 200 us**: the lowest speedup over the sizes of 200 us of work or more; PASS at
  1.7x or more on two threads (with N threads the target is 0.85 N).

The reductions' sweeps stop at 32 MiB of input (this machine's L3):
beyond, they are bound by memory bandwidth, which ``bench_reduce.py`` judges against the
machine's read ceiling instead.

Usage::

    python benchmarks/bench_fanout.py
    python benchmarks/bench_fanout.py --quick            # fewer sizes and rounds
    python benchmarks/bench_fanout.py --only sum,mandelbrot --json bench-results/fanout.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _report import format_table

import gilfree

PAYS_FROM_US = 30.0
PAYS = 1.10  # "clearly faster": the speedup at which a call counts as paying
FROM_WORK_US = 200.0
SPEEDUP_PER_THREAD = 0.85  # 1.7x on two threads

Call = Callable[[int | None], object]


@dataclass
class Family:
    """One kernel family: a label, the call and how an input of size ``s`` is made."""

    name: str
    call: str
    make: Callable[[int], Call]
    sizes: Sequence[int]


def _floats(n: int) -> np.ndarray:
    return np.random.default_rng(n).random(n)


def _sum(n: int) -> Call:
    a = _floats(n)
    return lambda t: gilfree.sum(a, threads=t)


def _var(n: int) -> Call:
    a = _floats(n)
    return lambda t: gilfree.var(a, threads=t)


def _argmax(n: int) -> Call:
    a = _floats(n)
    return lambda t: gilfree.argmax(a, threads=t)


def _histogram(n: int) -> Call:
    a = _floats(n)
    return lambda t: gilfree.histogram(a, bins=100, range=(0.0, 1.0), threads=t)


def _bincount(n: int) -> Call:
    x = np.random.default_rng(n).integers(0, 1000, n)
    return lambda t: gilfree.bincount(x, threads=t)


def _sort(n: int) -> Call:
    a = _floats(n)
    return lambda t: gilfree.sort(a, threads=t)


def _hash_many(n: int) -> Call:
    rng = np.random.default_rng(n)
    blobs = [rng.bytes(4096) for _ in range(n)]
    return lambda t: gilfree.hash_many(blobs, threads=t)


def _word_count(n: int) -> Call:
    rng = np.random.default_rng(n)
    words = [f"w{i}" for i in range(500)]
    texts = [" ".join(rng.choice(words, 100)) for _ in range(n)]
    return lambda t: gilfree.word_count(texts, threads=t)


def _distances(n: int) -> Call:
    x = np.random.default_rng(n).random((n, 16))
    return lambda t: gilfree.pairwise_distances(x, threads=t)


def _mandelbrot(n: int) -> Call:
    return lambda t: gilfree.mandelbrot(4 * n // 3, n, max_iter=200, threads=t)


def _count_primes(n: int) -> Call:
    return lambda t: gilfree.count_primes(n, threads=t)


def _spectral_norm(n: int) -> Call:
    return lambda t: gilfree.spectral_norm(n, threads=t)


def _monte_carlo(n: int) -> Call:
    return lambda t: gilfree.monte_carlo_pi(n, threads=t)


def _geometric(lo: float, hi: float, steps: int) -> list[int]:
    return sorted({round(lo * (hi / lo) ** (i / (steps - 1))) for i in range(steps)})


FAMILIES: tuple[Family, ...] = (
    Family("reduce", "sum(a)", _sum, _geometric(2**13, 2**22, 10)),
    Family("moments", "var(a)", _var, _geometric(2**12, 2**22, 11)),
    Family("argmax", "argmax(a)", _argmax, _geometric(2**13, 2**22, 10)),
    Family("hist", "histogram(a, 100, range)", _histogram, _geometric(2**12, 2**21, 10)),
    Family("bincount", "bincount(x)", _bincount, _geometric(2**12, 2**21, 10)),
    Family("sort", "sort(a)", _sort, _geometric(2**11, 2**19, 9)),
    Family("hash", "hash_many(4 KiB blobs)", _hash_many, _geometric(4, 1024, 9)),
    Family("words", "word_count(100-word texts)", _word_count, _geometric(8, 2048, 9)),
    Family("distance", "pairwise_distances(x[n,16])", _distances, _geometric(32, 1024, 9)),
    Family("fractal", "mandelbrot(4n/3, n, 200)", _mandelbrot, _geometric(16, 320, 9)),
    Family("primes", "count_primes(n)", _count_primes, _geometric(10**5, 10**8, 10)),
    Family("benchgame", "spectral_norm(n)", _spectral_norm, _geometric(16, 400, 9)),
    Family("montecarlo", "monte_carlo_pi(n)", _monte_carlo, _geometric(2**13, 2**24, 12)),
)


@dataclass
class Point:
    size: int
    one: float
    pool: float

    @property
    def speedup(self) -> float:
        return self.one / self.pool


@dataclass
class Result:
    family: Family
    points: list[Point] = field(default_factory=list)

    def pays_from(self) -> float | None:
        """The work (s) at which the speedup crosses PAYS, log-interpolated; None if never."""
        pts = self.points
        for i, p in enumerate(pts):
            if p.speedup >= PAYS:
                if i == 0:
                    return p.one
                q = pts[i - 1]
                # Interpolate log(work) linearly in the speedup.
                f = (PAYS - q.speedup) / (p.speedup - q.speedup)
                return math.exp(math.log(q.one) + f * (math.log(p.one) - math.log(q.one)))
        return None

    def low_from(self, work: float) -> float | None:
        big = [p.speedup for p in self.points if p.one >= work]
        return min(big) if big else None


def _time(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(call: Call, *, repeat: int, round_s: float) -> tuple[float, float]:
    """Best per-call time at threads=1 and threads=None, interleaved round by round."""
    one: Callable[[], object] = lambda: call(1)  # noqa: E731
    pool: Callable[[], object] = lambda: call(None)  # noqa: E731
    pool()
    first = max(_time(one, 1), 1e-7)
    number = max(1, min(100_000, int(round_s / first)))
    best_one = best_pool = math.inf
    for _ in range(repeat):
        best_one = min(best_one, _time(one, number))
        best_pool = min(best_pool, _time(pool, number))
    return best_one, best_pool


def us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.1f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="rounds per size (best counts)")
    p.add_argument("--round-ms", type=float, default=20.0, help="length of one round")
    p.add_argument("--quick", action="store_true", help="every other size, 3 rounds of 5 ms")
    p.add_argument("--only", default="", help="comma-separated family names")
    p.add_argument("--json", type=Path, help="save every point")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.repeat, args.round_ms = 3, 5.0
    only = {s for s in args.only.split(",") if s}
    threads = gilfree.get_num_threads()
    target = SPEEDUP_PER_THREAD * threads
    info = gilfree.info()
    print(f"CPU: {info.get('cpu', '?')}; gilfree's pool: {threads} threads")
    print(
        f"targets: threads=None pays from <= {PAYS_FROM_US:g} us of work; >= {target:.2f}x from "
        f"{FROM_WORK_US:g} us\n"
    )
    results: list[Result] = []
    for fam in FAMILIES:
        if only and fam.name not in only:
            continue
        res = Result(fam)
        sizes = fam.sizes[::2] if args.quick else fam.sizes
        for size in sizes:
            call = fam.make(size)
            one, pool = measure(call, repeat=args.repeat, round_s=args.round_ms / 1e3)
            res.points.append(Point(size, one, pool))
        results.append(res)
        rows = [[f"{p.size:,}", us(p.one), us(p.pool), f"{p.speedup:.2f}x"] for p in res.points]
        print(f"{fam.name}: {fam.call}")
        print(format_table(["size", "threads=1 us", "threads=None us", "speedup"], rows))
        print()

    rows = []
    failures = 0
    for res in results:
        pays = res.pays_from()
        low = res.low_from(FROM_WORK_US / 1e6)
        ok_pays = pays is not None and pays * 1e6 <= PAYS_FROM_US
        ok_low = low is not None and low >= target
        failures += (not ok_pays) + (not ok_low)
        rows.append(
            [
                res.family.name,
                us(pays),
                "PASS" if ok_pays else "FAIL",
                "-" if low is None else f"{low:.2f}x",
                "PASS" if ok_low else "FAIL",
            ]
        )
    print(
        f"summary (pays from: us of threads=1 work where the speedup reaches {PAYS:.2f}x; low: the "
        f"least speedup from {FROM_WORK_US:g} us)"
    )
    print(format_table(["family", "pays from", f"<={PAYS_FROM_US:g}us", "low", f">={target:.2f}x"], rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {
            "cpu": info.get("cpu"),
            "threads": threads,
            "families": {
                r.family.name: {
                    "call": r.family.call,
                    "points": [{"size": p.size, "one_s": p.one, "pool_s": p.pool} for p in r.points],
                    "pays_from_s": r.pays_from(),
                    "low_speedup_from_200us": r.low_from(FROM_WORK_US / 1e6),
                }
                for r in results
            },
        }
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
