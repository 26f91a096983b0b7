"""Contended counter updates: ``threading.Lock`` around an int vs ``AtomicInt`` vs ``Accumulator``.

Every contender makes ``--updates`` updates of one shared counter per thread, from 1 thread and
from 2 threads at once (released together by a barrier), and checks the final count. Reported:
nanoseconds per update (wall time / total updates) and the ratio to the ``Lock`` contender in the
same configuration (above 1: faster than the lock).

Contenders (all correct except the first, which is the unsafe floor):

* ``int +=`` (unsafe): ``box.n += 1`` with no lock. Not atomic; listed as the cost floor.
* ``Lock + int``: ``with lock: box.n += 1``, the textbook safe counter (the reference).
* ``Lock + int, bound calls``: ``acquire(); box.n += 1; release()`` with the bound methods in
  locals, the fastest way to spell a locked update (``with`` costs ~100 ns more on 3.11).
* ``AtomicInt.add``: ``counter.add(1)``, a lock-free atomic add.
* ``AtomicInt +=``: ``counter += 1`` (the same atomic add through ``__iadd__``).
* ``Accumulator.add``: ``acc.add(1)`` on ``Accumulator(int)``: per-thread shards, no shared lock,
  and it also keeps sum, min, max and variance.
* ``Accumulator.add_many``: the same updates handed over 10,000 at a time as an int64 array
  (one call, GIL released for the batch): what batching buys.

On a GIL build only one thread runs Python at a time, so the 2-thread figures measure the GIL
hand-offs as much as the counter; on a free-threaded build they measure the counter itself.

Usage::

    python benchmarks/bench_shared.py
    python benchmarks/bench_shared.py --updates 500000 --repeat 7 --json bench-results/shared.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _report import format_table, measure, ratio

import gilfree

BATCH = 10_000


class Box:
    """A plain attribute holder for the int contenders."""

    n = 0


def run_threads(threads: int, work: Callable[[], None]) -> float:
    """Runs ``work`` on ``threads`` threads released together; returns the wall time in seconds."""
    barrier = threading.Barrier(threads + 1)

    def body() -> None:
        barrier.wait()
        work()

    pool = [threading.Thread(target=body) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def contenders(updates: int) -> dict[str, Callable[[int], tuple[float, int]]]:
    """Each contender: ``run(threads) -> (seconds, final count)``."""

    def unsafe_int(threads: int) -> tuple[float, int]:
        box = Box()

        def work() -> None:
            for _ in range(updates):
                box.n += 1

        return run_threads(threads, work), box.n

    def lock_int(threads: int) -> tuple[float, int]:
        box, lock = Box(), threading.Lock()

        def work() -> None:
            for _ in range(updates):
                with lock:
                    box.n += 1

        return run_threads(threads, work), box.n

    def lock_calls_int(threads: int) -> tuple[float, int]:
        box, lock = Box(), threading.Lock()

        def work() -> None:
            acquire, release = lock.acquire, lock.release
            for _ in range(updates):
                acquire()
                box.n += 1
                release()

        return run_threads(threads, work), box.n

    def atomic_add(threads: int) -> tuple[float, int]:
        counter = gilfree.AtomicInt()

        def work() -> None:
            add = counter.add
            for _ in range(updates):
                add(1)

        return run_threads(threads, work), counter.load()

    def atomic_iadd(threads: int) -> tuple[float, int]:
        counter = gilfree.AtomicInt()

        def work() -> None:
            nonlocal counter
            for _ in range(updates):
                counter += 1

        return run_threads(threads, work), counter.load()

    def accumulator_add(threads: int) -> tuple[float, int]:
        acc = gilfree.Accumulator(int)

        def work() -> None:
            add = acc.add
            for _ in range(updates):
                add(1)

        seconds = run_threads(threads, work)
        return seconds, int(acc.sum())

    def accumulator_add_many(threads: int) -> tuple[float, int]:
        acc = gilfree.Accumulator(int)
        batch = np.ones(BATCH, dtype=np.int64)

        def work() -> None:
            for _ in range(updates // BATCH):
                acc.add_many(batch, threads=1)

        seconds = run_threads(threads, work)
        return seconds, int(acc.sum())

    return {
        "int += (unsafe)": unsafe_int,
        "Lock + int": lock_int,
        "Lock + int, bound calls": lock_calls_int,
        "AtomicInt.add": atomic_add,
        "AtomicInt +=": atomic_iadd,
        "Accumulator.add": accumulator_add,
        f"Accumulator.add_many ({BATCH:,}/call)": accumulator_add_many,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="Contended counter updates from 1 and 2 threads: threading.Lock around an int "
        "vs gilfree.AtomicInt vs gilfree.Accumulator, as ns per update and ratios to the lock.",
    )
    p.add_argument("--updates", type=int, default=200_000, help="updates per thread (default: 200,000)")
    p.add_argument("--repeat", type=int, default=5, help="timed rounds per contender (default: 5)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every result to FILE")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.updates < BATCH:
        p.error(f"--repeat must be >= 1 and --updates >= {BATCH}")
    args.updates -= args.updates % BATCH
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status."""
    args = parse_args(argv)
    facts = dict(gilfree.info())
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"Contended counter updates, {args.updates:,} per thread, best of {args.repeat} rounds "
        f"(ns per update; ratio = Lock time / contender time)"
    )
    print(
        f"  gilfree {facts['version']}, {facts['python']}, GIL {'enabled' if gil else 'disabled'}, "
        f"{facts['cpu']}, {facts['cores']} cores"
    )
    runs = contenders(args.updates)
    results: dict[str, dict[int, float]] = {name: {} for name in runs}
    counts: dict[tuple[str, int], int] = {}

    def case(name: str, threads: int) -> Callable[[], float]:
        def go() -> float:
            seconds, counts[name, threads] = runs[name](threads)
            return seconds

        return go

    for threads in (1, 2):
        total = threads * args.updates
        timings = measure({name: case(name, threads) for name in runs}, repeat=args.repeat, warmup=1)
        for name, timing in timings.items():
            if name != "int += (unsafe)" and counts[name, threads] != total:
                raise SystemExit(f"{name} lost updates: {counts[name, threads]} != {total}")
            results[name][threads] = timing.get("min") / total * 1e9
    rows: list[list[str]] = []
    for name, by_threads in results.items():
        rows.append(
            [
                name,
                f"{by_threads[1]:,.0f}",
                ratio(results["Lock + int"][1] / by_threads[1]),
                f"{by_threads[2]:,.0f}",
                ratio(results["Lock + int"][2] / by_threads[2]),
            ]
        )
    print()
    print(format_table(["contender", "1 thread ns", "vs Lock", "2 threads ns", "vs Lock"], rows))
    if args.json:
        report: dict[str, Any] = {
            "facts": {**facts, "gil_enabled": gil, "numpy": np.__version__, "platform": platform.platform()},
            "updates_per_thread": args.updates,
            "repeat": args.repeat,
            "ns_per_update": {name: {str(k): v for k, v in r.items()} for name, r in results.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
