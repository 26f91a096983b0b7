"""NumPy vs gilfree reductions, side by side, against an honest memory-read ceiling.

For ``sum, mean, var, std, min, max, argmin, argmax`` on one large array (50,000,000 elements
by default) of each dtype of ``--dtypes`` (float64, float32, int64) it times NumPy,
``gilfree.<kernel>(a, threads=1)`` and ``gilfree.<kernel>(a)`` (``threads=None``: the shared
pool, every worker), and reports each gilfree time as a ratio ``numpy_time / gilfree_time``
(above 1: gilfree is faster).

These reductions read every byte once and do little arithmetic on it, so they run at memory
speed -- if the reader is fast enough. The **read ceiling** is the fastest of several plain
readers of the float64 array's bytes, each run on 1 thread and split into N equal parts on N
Python threads (NumPy releases the GIL inside these loops, so the parts run in parallel):

* ``a.sum()`` (float64 adds: compute-bound on some CPUs, which is why it is not enough alone);
* ``np.max(a)``; ``np.bitwise_or.reduce`` and ``np.add.reduce`` of the uint64/int64 view;
* ``np.count_nonzero`` of the uint8 view (SIMD byte compares);
* a two-stream reader: ``np.bitwise_or`` of the part's two halves, block by block, into a small
  buffer that stays in L2 (one core with two sequential streams of loads in flight reads faster
  than with one, and gilfree's kernels do so; the ceiling must not miss it).

The fastest (reader, threads) pair gives the ceiling, printed with its name.

Targets, one ``PASS``/``FAIL`` line each:

* (a) every reduction at ``threads=1`` at least as fast as NumPy, for every dtype;
* (b) every reduction of float64 at ``threads=None`` at least 0.95 of the read ceiling
  (``ceiling_time / gilfree_time >= 0.95``);
* (c) ``var``/``std`` of float64 at least 5x NumPy, at ``threads=1`` and ``threads=None``.

Before timing, every result is checked against NumPy (float results to a relative tolerance,
float32 against NumPy's float64-accumulated result; integer results and min/max/argmin/argmax
exactly) and for bit-identical results at ``threads=1`` and ``threads=None``; any disagreement
aborts the run with exit status 2.

Timing: every contender (readers and kernel calls) is warmed up, then all of them run
round-robin, once per round in a rotating order, for ``--repeat`` rounds, so that the noise of a
shared machine falls on all of them alike. Tables and verdicts use the best (minimum) time by
default, or the median with ``--stat median``; the verdicts are then cross-checked with the
other statistic, and any verdict that flips is listed (the machine's noise decides those). The
1-minute load average is printed before and after. ``--json FILE`` saves every sample.

Usage::

    python benchmarks/bench_reduce.py                  # 50M elements, 3 dtypes, 11 rounds
    python benchmarks/bench_reduce.py --size 10_000_000 --repeat 5 --dtypes float64
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _report import Timing, format_table, measure, print_facts, ratio, run_facts

import gilfree

KERNELS: tuple[str, ...] = ("sum", "mean", "var", "std", "min", "max", "argmin", "argmax")
DTYPES: tuple[str, ...] = ("float64", "float32", "int64")
#: Kernels with a floating-point result (compared to a relative tolerance unless integer sums).
FLOAT_KERNELS: frozenset[str] = frozenset({"sum", "mean", "var", "std"})
REL_TOL = {"float64": 1e-9, "float32": 1e-6, "int64": 1e-9}
#: (a): gilfree at threads=1 must be at least this fast relative to NumPy.
ONE_THREAD_TARGET = 1.0
#: (b): gilfree at threads=None must reach at least this fraction of the read ceiling.
CEILING_TARGET = 0.95
#: (c): var/std (float64) must be at least this many times faster than NumPy.
VAR_TARGET = 5.0
#: Elements per block of the two-stream reader (its output buffer: 256 KiB, in L2).
TWO_STREAM_BLOCK = 1 << 15

CHECK_HEADERS = ("dtype", "kernel", "numpy", "gilfree (threads=1)", "rel err", "t1==tN", "check")


# --- the data ----------------------------------------------------------------------------------


def make_data(dtype: str, size: int, seed: int) -> npt.NDArray[Any]:
    """``size`` elements of ``dtype``: N(0, 1) for floats, uniform in +-1e9 for int64."""
    rng = np.random.default_rng(seed)
    if dtype == "int64":
        return rng.integers(-(10**9), 10**9, size=size, dtype=np.int64)
    return rng.standard_normal(size).astype(dtype)


# --- the read ceiling --------------------------------------------------------------------------


def two_stream_read(part: npt.NDArray[np.uint64], buf: npt.NDArray[np.uint64]) -> int:
    """Reads ``part`` as two sequential streams: ``bitwise_or`` of its halves, a block of each at
    a time, into ``buf`` (which stays in L2). Returns an OR of the last block, so the work is
    used."""
    half = len(part) // 2
    lo, hi = part[:half], part[half : 2 * half]
    n = len(buf)
    for i in range(0, half, n):
        j = min(i + n, half)
        np.bitwise_or(lo[i:j], hi[i:j], out=buf[: j - i])
    tail = part[2 * half :]
    return int(np.bitwise_or.reduce(buf[: min(n, half)])) | int(np.bitwise_or.reduce(tail))


@dataclass
class Reader:
    """One way to read the bytes of an array, on 1 thread or split over N Python threads."""

    name: str
    fn: Callable[[npt.NDArray[np.float64], int], object]


def readers() -> list[Reader]:
    """The candidate readers of the ceiling; ``fn(part, worker)`` reads one part."""
    bufs: dict[int, npt.NDArray[np.uint64]] = {}

    def two_stream(p: npt.NDArray[np.float64], worker: int) -> object:
        buf = bufs.setdefault(worker, np.zeros(TWO_STREAM_BLOCK, dtype=np.uint64))
        return two_stream_read(p.view(np.uint64), buf)

    return [
        Reader("a.sum() (float64 add)", lambda p, _w: p.sum()),
        Reader("np.max(a)", lambda p, _w: np.max(p)),
        Reader("np.bitwise_or.reduce(uint64 view)", lambda p, _w: np.bitwise_or.reduce(p.view(np.uint64))),
        Reader("np.add.reduce(int64 view)", lambda p, _w: np.add.reduce(p.view(np.int64))),
        Reader("np.count_nonzero(uint8 view)", lambda p, _w: np.count_nonzero(p.view(np.uint8))),
        Reader("two streams: np.bitwise_or(halves)", two_stream),
    ]


class Splitter:
    """Runs a reader over N equal parts of an array on a ``ThreadPoolExecutor(N)``."""

    def __init__(self, a: npt.NDArray[np.float64], n: int) -> None:
        self.n = n
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="bench-split")
        self.parts: list[npt.NDArray[np.float64]] = np.array_split(a, n)

    def run(self, r: Reader) -> list[object]:
        """The reader over every part at once."""
        return list(self.pool.map(r.fn, self.parts, range(self.n)))

    def close(self) -> None:
        """Stops the worker threads."""
        self.pool.shutdown()


# --- correctness -------------------------------------------------------------------------------


def numpy_reference(name: str, a: npt.NDArray[Any]) -> Any:
    """NumPy's result; float32 sums and moments accumulate in float64 (gilfree widens: NumPy's
    float32 accumulation is the less accurate of the two)."""
    fn = getattr(np, name)
    if a.dtype == np.float32 and name in FLOAT_KERNELS:
        return fn(a, dtype=np.float64)
    return fn(a)


def same_bits(x: Any, y: Any) -> bool:
    """Bit-identical (floats) or equal (integers)."""
    if isinstance(x, (float, np.floating)):
        return np.asarray(x).tobytes() == np.asarray(y).tobytes()
    return bool(x == y)


def check_results(arrays: dict[str, npt.NDArray[Any]]) -> list[list[str]]:
    """Compares every gilfree kernel with NumPy (at threads=1 and threads=None) and exits with
    status 2 on any disagreement. Returns the rows of the check table."""
    rows: list[list[str]] = []
    failures: list[str] = []
    for dtype, a in arrays.items():
        for name in KERNELS:
            expected = numpy_reference(name, a)
            one = getattr(gilfree, name)(a, threads=1)
            every = getattr(gilfree, name)(a)
            exact = name not in FLOAT_KERNELS or (dtype == "int64" and name == "sum")
            if exact:
                ok = one == expected and every == expected
                rel = "exact"
            else:
                e, o = float(expected), float(one)
                err = abs(o - e) / abs(e) if e else abs(o)
                ok = math.isclose(o, e, rel_tol=REL_TOL[dtype]) and math.isclose(
                    float(every), e, rel_tol=REL_TOL[dtype]
                )
                rel = f"{err:.1e}"
            same = same_bits(one, every)
            shown = expected.item() if isinstance(expected, np.generic) else expected
            if not ok:
                failures.append(f"{dtype} {name}: numpy={shown!r} threads=1={one!r} threads=None={every!r}")
            if not same:
                failures.append(f"{dtype} {name}: threads=1 gave {one!r} but threads=None gave {every!r}")
            rows.append(
                [
                    dtype,
                    name,
                    repr(shown),
                    repr(one),
                    rel,
                    "yes" if same else "NO",
                    "OK" if ok and same else "FAIL",
                ]
            )
    if failures:
        print(format_table(CHECK_HEADERS, rows))
        print("\nFATAL: gilfree disagrees with NumPy; no timings were taken:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        sys.exit(2)
    return rows


# --- the verdicts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One target: its label, the bar, what was measured, and whether it was met."""

    target: str
    what: str
    bar: str
    measured: str
    passed: bool

    def line(self) -> str:
        """``PASS (a) sum float64 threads=1: 1.120x numpy (bar >= 1.00x)``."""
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict} ({self.target}) {self.what}: {self.measured} (bar {self.bar})"


@dataclass(frozen=True)
class Ceiling:
    """The fastest reader: its name, threads, and time."""

    reader: str
    threads: int
    seconds: float


def best_ceiling(ceil: dict[tuple[str, int], Timing], stat: str) -> Ceiling:
    """The fastest (reader, threads) pair with statistic ``stat``."""
    (reader, threads), t = min(ceil.items(), key=lambda kv: kv[1].get(stat))
    return Ceiling(reader, threads, t.get(stat))


def evaluate(
    results: dict[str, dict[str, dict[str, Timing]]], ceiling: Ceiling, stat: str, nbytes: dict[str, int]
) -> list[Verdict]:
    """Every target, judged with the times of statistic ``stat``."""
    verdicts: list[Verdict] = []
    for dtype, kernels in results.items():
        for name in KERNELS:
            r = kernels[name]
            x = r["numpy"].get(stat) / r["gilfree_1"].get(stat)
            verdicts.append(
                Verdict(
                    "a",
                    f"{name} {dtype} threads=1",
                    f">= {ONE_THREAD_TARGET:.2f}x",
                    f"{x:.3f}x numpy",
                    x >= ONE_THREAD_TARGET,
                )
            )
    if "float64" in results:
        for name in KERNELS:
            t_n = results["float64"][name]["gilfree_all"].get(stat)
            frac = ceiling.seconds / t_n
            gb = nbytes["float64"] / t_n / 1e9
            cgb = nbytes["float64"] / ceiling.seconds / 1e9
            verdicts.append(
                Verdict(
                    "b",
                    f"{name} float64 threads=None",
                    f">= {CEILING_TARGET:.2f} of the ceiling",
                    f"{frac:.3f} of the read ceiling ({gb:.1f} vs {cgb:.1f} GB/s)",
                    frac >= CEILING_TARGET,
                )
            )
        for name in ("var", "std"):
            for mode, key in (("threads=1", "gilfree_1"), ("threads=None", "gilfree_all")):
                r = results["float64"][name]
                x = r["numpy"].get(stat) / r[key].get(stat)
                verdicts.append(
                    Verdict(
                        "c",
                        f"{name} float64 {mode}",
                        f">= {VAR_TARGET:.1f}x",
                        f"{x:.3f}x numpy",
                        x >= VAR_TARGET,
                    )
                )
    return verdicts


# --- output ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for a table cell."""
    return f"{seconds * 1e3:.2f}"


def gbps(nbytes: int, seconds: float) -> str:
    """Throughput in GB/s (1e9 bytes per second), for a table cell."""
    return f"{nbytes / seconds / 1e9:.1f}"


def machine_facts(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """gilfree.info() plus NumPy's version and the run's parameters."""
    facts = dict(gilfree.info())
    facts.pop("pid", None)
    facts["numpy"] = np.__version__
    facts["size"] = size
    facts["dtypes"] = ",".join(args.dtypes)
    facts.update(run_facts(args))
    return facts


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="NumPy vs gilfree reductions (sum, mean, var, std, min, max, argmin, argmax) on "
        "large arrays, against the fastest plain reader of the bytes, with a PASS/FAIL line per target.",
    )
    p.add_argument("--size", type=int, default=50_000_000, help="elements (default: 50,000,000)")
    p.add_argument("--repeat", type=int, default=11, help="timed rounds per contender (default: 11)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per contender (default: 1)")
    p.add_argument(
        "--dtypes",
        type=lambda s: tuple(s.split(",")),
        default=DTYPES,
        help=f"comma-separated, of {','.join(DTYPES)} (default: all); the ceiling and (b), (c) need float64",
    )
    p.add_argument(
        "--stat",
        choices=("min", "median"),
        default="min",
        help="statistic of the tables and verdicts (default: min, i.e. the best round); the "
        "verdicts are cross-checked with the other one",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the data (default: 0)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every result to FILE")
    args = p.parse_args(argv)
    if args.size < 2 or args.repeat < 1 or args.warmup < 0:
        p.error("--size must be >= 2, --repeat >= 1, --warmup >= 0")
    if not args.dtypes or any(d not in DTYPES for d in args.dtypes):
        p.error(f"--dtypes: a comma-separated list of {', '.join(DTYPES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status (0, whatever the verdicts)."""
    args = parse_args(argv)
    size: int = args.size
    nthreads = gilfree.get_num_threads()

    facts = machine_facts(size, args)
    print("gilfree reductions vs NumPy\n")
    print_facts(facts)

    arrays = {d: make_data(d, size, args.seed) for d in args.dtypes}
    nbytes = {d: a.nbytes for d, a in arrays.items()}
    f64 = arrays["float64"] if "float64" in arrays else make_data("float64", size, args.seed)

    print(
        f"\nData: {size:,} elements of {', '.join(args.dtypes)} "
        f"(float64: {f64.nbytes / 1e6:,.0f} MB), seed {args.seed}"
    )
    print(f"threads=None = {nthreads} workers; ratio = numpy time / gilfree time")
    print(f"Times: {args.stat} of {args.repeat} interleaved rounds after {args.warmup} warm-up call(s)\n")

    print("Correctness (checked before timing):")
    print(format_table(CHECK_HEADERS, check_results(arrays)))

    # Every contender -- readers and kernels -- runs once per round, so that a burst of noise
    # from the rest of the machine is spread over all of them rather than one group.
    split = Splitter(f64, nthreads)
    cases: dict[str, Callable[[], object]] = {}
    reader_list = readers()
    for i, r in enumerate(reader_list):
        cases[f"ceiling/{i}/1"] = lambda r=r: r.fn(f64, 0)  # type: ignore[misc]
        if nthreads > 1:
            cases[f"ceiling/{i}/{nthreads}"] = lambda r=r: split.run(r)  # type: ignore[misc]
    for dtype, a in arrays.items():
        for name in KERNELS:
            np_fn, g_fn = getattr(np, name), getattr(gilfree, name)
            cases[f"{dtype}/{name}/numpy"] = lambda f=np_fn, a=a: f(a)  # type: ignore[misc]
            cases[f"{dtype}/{name}/gilfree_1"] = lambda f=g_fn, a=a: f(a, threads=1)  # type: ignore[misc]
            cases[f"{dtype}/{name}/gilfree_all"] = lambda f=g_fn, a=a: f(a)  # type: ignore[misc]
    load_before = os.getloadavg()
    try:
        timings = measure(cases, repeat=args.repeat, warmup=args.warmup)
    finally:
        split.close()
    load_after = os.getloadavg()

    ceil: dict[tuple[str, int], Timing] = {}
    results: dict[str, dict[str, dict[str, Timing]]] = {}
    for key, t in timings.items():
        a_, b_, c_ = key.split("/")
        if a_ == "ceiling":
            ceil[(reader_list[int(b_)].name, int(c_))] = t
        else:
            results.setdefault(a_, {}).setdefault(b_, {})[c_] = t
    print(
        f"\nLoad average (1 min) before/after timing: {load_before[0]:.2f} / {load_after[0]:.2f} "
        f"({os.cpu_count()} CPUs; other work on the machine slows the all-thread runs first)"
    )
    stat, other = args.stat, ("median" if args.stat == "min" else "min")

    print(f"\nPlain readers of the float64 array's {f64.nbytes / 1e6:,.0f} MB (the fastest is the ceiling):")
    rows = []
    for reader in reader_list:
        row = [reader.name]
        for k in sorted({k for _, k in ceil}):
            secs = ceil[(reader.name, k)].get(stat)
            row += [ms(secs), gbps(f64.nbytes, secs)]
        rows.append(row)
    headers = ["reader"]
    for k in sorted({k for _, k in ceil}):
        headers += [f"{k} thr ms", f"{k} thr GB/s"]
    print(format_table(headers, rows))
    ceiling = best_ceiling(ceil, stat)
    print(
        f"Read ceiling: {ms(ceiling.seconds)} ms = {gbps(f64.nbytes, ceiling.seconds)} GB/s, "
        f"from {ceiling.reader} on {ceiling.threads} thread(s)"
    )

    for dtype, kernels in results.items():
        print(f"\nKernels ({size:,} {dtype}, {nbytes[dtype] / 1e6:,.0f} MB):")
        rows = []
        for name in KERNELS:
            kt = kernels[name]
            t_np, t_1, t_n = (kt[c].get(stat) for c in ("numpy", "gilfree_1", "gilfree_all"))
            rows.append(
                [
                    name,
                    ms(t_np),
                    ms(t_1),
                    ratio(t_np / t_1),
                    gbps(nbytes[dtype], t_1),
                    ms(t_n),
                    ratio(t_np / t_n),
                    gbps(nbytes[dtype], t_n),
                    f"{nbytes[dtype] / t_n / (f64.nbytes / ceiling.seconds):.2f}",
                ]
            )
        headers = [
            "kernel",
            "numpy ms",
            "1 thr ms",
            "ratio",
            "1 thr GB/s",
            "all ms",
            "ratio",
            "all GB/s",
            "all/ceil",
        ]
        print(format_table(headers, rows))
    print("(all/ceil: gilfree's all-thread GB/s / the read ceiling's GB/s)")

    verdicts = evaluate(results, ceiling, stat, nbytes)
    print(f"\nTargets ({stat} of {args.repeat} rounds; load {load_before[0]:.2f} / {load_after[0]:.2f}):")
    for v in verdicts:
        print(v.line())
    passed = sum(v.passed for v in verdicts)
    print(f"\n{passed}/{len(verdicts)} targets met.")

    # The same verdicts with the other statistic: where they differ, the machine's noise decides.
    cross_ceiling = best_ceiling(ceil, other)
    cross = evaluate(results, cross_ceiling, other, nbytes)
    flipped = [f"  {b.line()}" for a, b in zip(verdicts, cross, strict=True) if a.passed != b.passed]
    print(
        f"Cross-check with the {other} of the same rounds: {sum(v.passed for v in cross)}/{len(cross)} met",
        end="",
    )
    print("; every verdict the same." if not flipped else ", differing on:")
    for line in flipped:
        print(line)

    if args.json:
        report = {
            "facts": facts,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "nthreads_all": nthreads,
            "ceiling": {f"{name} / {k} threads": t.to_json() for (name, k), t in ceil.items()},
            "read_ceiling": vars(ceiling),
            "kernels": {
                d: {k: {c: t.to_json() for c, t in v.items()} for k, v in ks.items()}
                for d, ks in results.items()
            },
            "verdicts": [vars(v) for v in verdicts],
            "cross_check": [vars(v) for v in cross],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
