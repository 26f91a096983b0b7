"""Per-call overhead of gilfree vs NumPy on small float64 arrays.

Three tables:

1. Tiny arrays (10 float64): ``sum, mean, var, min, argmax`` as NumPy functions (``np.sum(a)``),
   NumPy methods (``a.sum()``, usually the faster spelling) and ``gilfree.<kernel>(a, threads=1)``
   / ``gilfree.<kernel>(a)``, in nanoseconds per call. This is the fixed cost of a call: argument
   parsing, dtype dispatch, borrowing the buffer, building the result.
2. A size sweep of ``sum`` (10 ... 1,000,000 elements) at ``threads=1`` and ``threads=None`` vs
   ``a.sum()``, marking the regimes of gilfree's call path (src/call.rs):

   * inline: input under ``DETACH_MIN_BYTES`` (2048 bytes = 256 float64) runs on the calling
     thread with the GIL held -- releasing and re-taking the GIL would cost more than the work;
   * detached, 1 chunk: the GIL is released, but one chunk (up to 65,536 elements) still runs on
     the calling thread, with no hop to the pool;
   * detached, pool: several chunks, spread over the shared pool for ``threads=None``.

3. The raw cost of one detach round-trip (release the GIL, run, re-acquire it): ``gilfree.sum``
   at ``threads=1`` on 253/255 elements (inline) vs 257/259 (detached); the step between 255 and
   257 is the detach, the two extra elements cost next to nothing.

Timing: ``timeit`` with statement strings (no wrapper-function overhead), garbage collection off,
each contender calibrated to about ``--min-time`` seconds per round, contenders interleaved
round by round, best round of ``--repeat`` reported. Ratios are ``numpy_time / gilfree_time``
(above 1: gilfree is faster).

Usage::

    python benchmarks/bench_overhead.py
    python benchmarks/bench_overhead.py --repeat 9 --json bench-results/overhead.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import timeit
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _report import format_table, ratio

import gilfree

TINY = 10
TINY_KERNELS: tuple[str, ...] = ("sum", "mean", "var", "min", "argmax")
SWEEP_SIZES: tuple[int, ...] = (
    10,
    100,
    256,
    1000,
    4096,
    10_000,
    65_536,
    262_144,
    1_000_000,
    2_000_000,
    4_000_000,
)
#: Around the detach threshold (256 float64 = 2048 bytes): two sizes on each side.
DETACH_SIZES: tuple[int, ...] = (253, 255, 257, 259)


# --- timing ------------------------------------------------------------------------------------


def best_ns(
    stmts: Mapping[str, str], env: Mapping[str, Any], *, repeat: int, min_time: float
) -> dict[str, float]:
    """Best nanoseconds per execution of each statement of ``stmts`` (evaluated in ``env``).

    Each statement gets a loop count that makes one round last about ``min_time`` seconds; then
    ``repeat`` rounds run with the statements interleaved in a rotating order, and the best round
    of each is returned.
    """
    timers = {name: timeit.Timer(stmt, globals=dict(env)) for name, stmt in stmts.items()}
    numbers: dict[str, int] = {}
    for name, timer in timers.items():
        timer.timeit(number=10)  # warm up
        per_call = timer.timeit(number=100) / 100
        numbers[name] = max(1, math.ceil(min_time / per_call))
    best: dict[str, float] = {name: math.inf for name in timers}
    names = list(timers)
    for r in range(repeat):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t = timers[name].timeit(number=numbers[name])
            best[name] = min(best[name], t / numbers[name] * 1e9)
    return best


# --- output ------------------------------------------------------------------------------------


def ns(x: float) -> str:
    """Nanoseconds, for a table cell."""
    return f"{x:,.0f}"


def regime(n: int, detach_min_bytes: int, chunk_len: int, itemsize: int = 8) -> str:
    """Which path of src/call.rs a reduction over ``n`` elements takes."""
    if n * itemsize < detach_min_bytes:
        return "inline, GIL held"
    chunks = math.ceil(n / chunk_len)
    if chunks == 1:
        return "detached, 1 chunk"
    return f"detached, {chunks} chunks"


# --- the three measurements --------------------------------------------------------------------


def tiny_table(rng: np.random.Generator, *, repeat: int, min_time: float) -> list[dict[str, Any]]:
    """NumPy vs gilfree on a 10-element float64 array, per kernel."""
    a = rng.standard_normal(TINY)
    results = []
    for name in TINY_KERNELS:
        env = {"np": np, "gilfree": gilfree, "a": a}
        t = best_ns(
            {
                "numpy_function": f"np.{name}(a)",
                "numpy_method": f"a.{name}()",
                "gilfree_1": f"gilfree.{name}(a, threads=1)",
                "gilfree_all": f"gilfree.{name}(a)",
            },
            env,
            repeat=repeat,
            min_time=min_time,
        )
        results.append({"kernel": name, "size": TINY, **{f"{k}_ns": v for k, v in t.items()}})
    return results


def sweep_table(
    rng: np.random.Generator, *, repeat: int, min_time: float, detach_min_bytes: int, chunk_len: int
) -> list[dict[str, Any]]:
    """``a.sum()`` vs ``gilfree.sum`` at threads=1 and threads=None over :data:`SWEEP_SIZES`."""
    results = []
    for n in SWEEP_SIZES:
        env = {"gilfree": gilfree, "a": rng.standard_normal(n)}
        t = best_ns(
            {
                "numpy": "a.sum()",
                "gilfree_1": "gilfree.sum(a, threads=1)",
                "gilfree_all": "gilfree.sum(a)",
            },
            env,
            repeat=repeat,
            min_time=min_time,
        )
        results.append(
            {
                "size": n,
                "bytes": n * 8,
                "regime": regime(n, detach_min_bytes, chunk_len),
                **{f"{k}_ns": v for k, v in t.items()},
            }
        )
    return results


def detach_table(rng: np.random.Generator, *, repeat: int, min_time: float) -> dict[str, float]:
    """``gilfree.sum(a, threads=1)`` around the detach threshold, ns per call by size."""
    arrays = {n: rng.standard_normal(n) for n in DETACH_SIZES}
    env: dict[str, Any] = {"gilfree": gilfree, **{f"a{n}": a for n, a in arrays.items()}}
    t = best_ns(
        {str(n): f"gilfree.sum(a{n}, threads=1)" for n in DETACH_SIZES},
        env,
        repeat=repeat,
        min_time=min_time,
    )
    return t


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="Per-call overhead of gilfree vs NumPy on small float64 arrays: 10-element "
        "calls, a size sweep of sum across the inline/detach/pool thresholds, and the raw cost "
        "of a GIL detach round-trip.",
    )
    p.add_argument("--repeat", type=int, default=7, help="timed rounds per contender (default: 7)")
    p.add_argument(
        "--min-time",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="approximate length of one timed round (default: 0.05)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the data (default: 0)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every result to FILE")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.min_time <= 0:
        p.error("--repeat must be >= 1 and --min-time > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status."""
    args = parse_args(argv)
    facts = dict(gilfree.info())
    detach_min_bytes: int = facts["detach_min_bytes"]
    chunk_len: int = facts["reduce_chunk_len"]
    rng = np.random.default_rng(args.seed)
    timing = {"repeat": args.repeat, "min_time": args.min_time}

    print(f"gilfree per-call overhead vs NumPy (float64, ns per call, best of {args.repeat} rounds)")
    print(
        f"  gilfree {facts['version']} ({facts['profile']}), NumPy {np.__version__}, "
        f"{facts['python']}, {facts['cpu']}, {facts['cores']} cores, threads=None -> "
        f"{facts['threads']} workers"
    )
    print(
        f"  inline (no GIL release) below {detach_min_bytes} bytes = {detach_min_bytes // 8} float64; "
        f"one chunk = {chunk_len:,} elements"
    )

    tiny = tiny_table(rng, **timing)
    print(f"\n1. Tiny arrays ({TINY} float64); ratio = fastest NumPy spelling / gilfree")
    rows = []
    for r in tiny:
        fastest = min(r["numpy_function_ns"], r["numpy_method_ns"])
        rows.append(
            [
                r["kernel"],
                ns(r["numpy_function_ns"]),
                ns(r["numpy_method_ns"]),
                ns(r["gilfree_1_ns"]),
                ratio(fastest / r["gilfree_1_ns"]),
                ns(r["gilfree_all_ns"]),
                ratio(fastest / r["gilfree_all_ns"]),
            ]
        )
    print(
        format_table(["kernel", "np.f(a)", "a.f()", "gilfree t=1", "ratio", "gilfree t=None", "ratio"], rows)
    )

    sweep = sweep_table(rng, detach_min_bytes=detach_min_bytes, chunk_len=chunk_len, **timing)
    print("\n2. sum over sizes: a.sum() vs gilfree.sum; ratio = numpy / gilfree")
    print(
        format_table(
            ["elements", "bytes", "path (src/call.rs)", "a.sum()", "t=1", "ratio", "t=None", "ratio"],
            [
                [
                    f"{r['size']:,}",
                    f"{r['bytes']:,}",
                    r["regime"],
                    ns(r["numpy_ns"]),
                    ns(r["gilfree_1_ns"]),
                    ratio(r["numpy_ns"] / r["gilfree_1_ns"]),
                    ns(r["gilfree_all_ns"]),
                    ratio(r["numpy_ns"] / r["gilfree_all_ns"]),
                ]
                for r in sweep
            ],
        )
    )

    detach = detach_table(rng, **timing)
    print("\n3. Detach round-trip: gilfree.sum(a, threads=1) around the 2048-byte threshold")
    print(
        format_table(
            ["elements", "bytes", "path", "ns/call"],
            [
                [n, f"{int(n) * 8:,}", regime(int(n), detach_min_bytes, chunk_len), ns(t)]
                for n, t in detach.items()
            ],
        )
    )
    n0, n1, n2, n3 = (str(n) for n in DETACH_SIZES)
    step = detach[n2] - detach[n1]
    step_pairs = (detach[n2] + detach[n3]) / 2 - (detach[n0] + detach[n1]) / 2
    print(
        f"detach round-trip: t({n2}) - t({n1}) = {step:,.0f} ns; "
        f"mean(t({n2}), t({n3})) - mean(t({n0}), t({n1})) = {step_pairs:,.0f} ns"
    )

    if args.json:
        report = {
            "facts": {**facts, "numpy": np.__version__, "platform": platform.platform()},
            "repeat": args.repeat,
            "min_time_s": args.min_time,
            "tiny": tiny,
            "sweep_sum": sweep,
            "detach_ns": detach,
            "detach_round_trip_ns": step,
            "detach_round_trip_pairs_ns": step_pairs,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
