"""The recipe, step by step: from a pure-Python loop to GIL-free threads, with figures.

The classic advice for CPU-bound Python threads reads: write the hot loop as a native function
that releases the GIL, call it from a ``ThreadPoolExecutor``, take care of shared data, and
benchmark, because it does not always pay. This script walks that recipe on one job -- render
Mandelbrot tiles -- and prints what each step measures on this machine:

1. a pure-Python loop (the baseline);
2. the same loop in threads: no speedup, and the GIL-hold share (how much of the run a Python
   thread that wanted the GIL had to wait for it) shows why;
3. the GIL-free kernel (``gilfree.mandelbrot(..., threads=1)``) from a ``ThreadPoolExecutor``:
   the tiles really run in parallel;
4. the kernel on gilfree's own pool (``threads=None``): one call, every core;
5. ``gilfree.Executor``: the same tiles as native tasks, without a Python thread per task;
6. shared counters done wrong and right: a plain ``+=`` under threads (a race), a lock, an
   ``AtomicInt``, and an ``Accumulator`` (per-thread partials merged on read).

Every step checks its answer against step 1 and prints OK or FAILED; the exit status is 1 if
anything failed. ``python examples/recipe.py --quick`` runs smaller sizes (what the tests use).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

import gilfree
from gilfree.lab import GilMonitor

FAILED: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"   {'OK' if ok else 'FAILED'}: {what}")
    if not ok:
        FAILED.append(what)


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any, float]:
    """The best wall time of ``repeat`` runs, the last result, and the GIL-hold share of one run."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    with GilMonitor() as gil:
        fn()
    return best, result, gil.reading.share


# --- the job: tiles of one Mandelbrot image ------------------------------------------------------


def tile_windows(tiles: int) -> list[tuple[float, float, float, float]]:
    """The image's window cut into ``tiles`` horizontal bands (xmin, xmax, ymin, ymax)."""
    step = 3.0 / tiles
    return [(-2.0, 1.0, -1.5 + k * step, -1.5 + (k + 1) * step) for k in range(tiles)]


def tile_python(width: int, height: int, max_iter: int, window: tuple[float, ...]) -> list[int]:
    """One tile in pure Python: exactly the loop ``gilfree.mandelbrot`` documents."""
    xmin, xmax, ymin, ymax = window
    dx = (xmax - xmin) / width
    dy = (ymax - ymin) / height
    out = []
    for i in range(height):
        ci = ymin + i * dy
        for j in range(width):
            cr = xmin + j * dx
            zr = zi = 0.0
            n = 0
            while n < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                n += 1
            out.append(n)
    return out


def tile_native(
    width: int, height: int, max_iter: int, window: tuple[float, ...], threads: int | None
) -> Any:
    xmin, xmax, ymin, ymax = window
    return gilfree.mandelbrot(
        width, height, max_iter=max_iter, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax, threads=threads
    )


def total(tiles: list[Any]) -> int:
    """The answer every step must reproduce: the sum of all iteration counts."""
    return sum(int(np.asarray(t, dtype=np.int64).sum()) for t in tiles)


# --- shared counters ------------------------------------------------------------------------------


class SlowInt(int):
    """An int whose ``+`` runs Python code, as any real read-modify-write of shared state does
    (a dict lookup, a method call): a thread switch can land between the read and the write."""

    def __add__(self, other: object) -> SlowInt:
        return SlowInt(int(self) + int(other))  # type: ignore[call-overload]


def counters(threads: int, per_thread: int) -> None:
    expected = threads * per_thread

    def run(body: Callable[[], None]) -> float:
        workers = [threading.Thread(target=body) for _ in range(threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return time.perf_counter() - t0

    class Box:
        n = SlowInt(0)

    box = Box()

    def unsafe() -> None:
        for _ in range(per_thread):
            box.n += 1  # read, add (Python code), write: not atomic

    t_unsafe = run(unsafe)
    print(f"   plain `+=` on a shared attribute: {int(box.n):,} of {expected:,} ({t_unsafe * 1e3:.0f} ms)")
    print("      (updates lost to the race, if the number is short: the pattern is unsafe either way)")

    lock = threading.Lock()
    locked = [0]

    def with_lock() -> None:
        for _ in range(per_thread):
            with lock:
                locked[0] += 1

    t_lock = run(with_lock)
    check(locked[0] == expected, f"threading.Lock around an int: {locked[0]:,} ({t_lock * 1e3:.0f} ms)")

    atomic = gilfree.AtomicInt()

    def with_atomic() -> None:
        for _ in range(per_thread):
            atomic.add(1)

    t_atomic = run(with_atomic)
    check(
        atomic.load() == expected,
        f"gilfree.AtomicInt: {atomic.load():,} ({t_atomic * 1e3:.0f} ms, {t_lock / t_atomic:.1f}x the lock)",
    )

    acc = gilfree.Accumulator(dtype=int)

    def with_accumulator() -> None:
        for _ in range(per_thread):
            acc.add(1)

    t_acc = run(with_accumulator)
    check(
        acc.sum() == expected and acc.count() == expected,
        f"gilfree.Accumulator (per-thread partials): sum {acc.sum():,} "
        f"({t_acc * 1e3:.0f} ms, {t_lock / t_acc:.1f}x the lock)",
    )


# --- the walk --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few seconds)")
    args = parser.parse_args(argv)

    cores = os.cpu_count() or 1
    n = min(cores, 4)
    width, height, max_iter, tiles = (160, 30, 100, 8) if args.quick else (320, 60, 200, 16)
    windows = tile_windows(tiles)
    print(
        f"job: {tiles} Mandelbrot tiles of {width}x{height}, max_iter {max_iter}; "
        f"{n} threads on {cores} cores, GIL {'on' if gilfree.info()['gil_enabled'] else 'off'}\n"
    )

    print("1. pure Python, one thread")
    t1, ref_tiles, share1 = timed(lambda: [tile_python(width, height, max_iter, w) for w in windows], 1)
    reference = total(ref_tiles)
    print(f"   {t1 * 1e3:8.1f} ms   GIL-hold share {share1:.2f}")

    print(f"2. pure Python, {n} threads (ThreadPoolExecutor)")

    def py_threads() -> list[Any]:
        with ThreadPoolExecutor(n) as ex:
            return list(ex.map(lambda w: tile_python(width, height, max_iter, w), windows))

    t2, tiles2, share2 = timed(py_threads, 1)
    print(f"   {t2 * 1e3:8.1f} ms   speedup {t1 / t2:.2f}x   GIL-hold share {share2:.2f}")
    print("   The threads take turns holding the GIL: no speedup, however many cores.")
    check(total(tiles2) == reference, "same answer")

    # The kernel is a few hundred times faster than pure Python: steps 3-5 render the same tiles
    # at 4x the resolution (16x the pixels), or there would be nothing left to time.
    big_w, big_h = width * 4, height * 4
    per_pixel = t1 / (width * height * tiles)  # pure Python's time per pixel, from step 1
    big_pixels = big_w * big_h * tiles
    print(f"   (steps 3-5 render the same tiles at {big_w}x{big_h}: 16x the pixels)")

    def report(label: str, t: float, share: float, t_loop: float | None) -> None:
        vs_loop = f"{t_loop / t:.2f}x the plain loop   " if t_loop else ""
        print(
            f"   {t * 1e3:8.2f} ms   {per_pixel * big_pixels / t:,.0f}x pure Python per pixel   "
            f"{vs_loop}GIL-hold share {share:.2f}   [{label}]"
        )

    print("3. the GIL-free kernel, threads=1: a plain loop, then a ThreadPoolExecutor")
    t3_serial, tiles3a, share3a = timed(lambda: [tile_native(big_w, big_h, max_iter, w, 1) for w in windows])
    report("plain loop", t3_serial, share3a, None)
    with ThreadPoolExecutor(n) as tpe:
        t3, tiles3, share3 = timed(
            lambda: list(tpe.map(lambda w: tile_native(big_w, big_h, max_iter, w, 1), windows))
        )
    report(f"ThreadPoolExecutor({n})", t3, share3, t3_serial)
    print("   Each call releases the GIL: the tiles really run in parallel.")
    check(total(tiles3) == total(tiles3a), "same answer as the loop")
    small_ref_total = total([tile_native(width, height, max_iter, w, 1) for w in windows])
    check(small_ref_total == reference, "the kernel agrees with pure Python (step 1's tiles)")

    print("4. the kernel on gilfree's pool (threads=None), tile after tile")
    t4, tiles4, share4 = timed(lambda: [tile_native(big_w, big_h, max_iter, w, None) for w in windows])
    report("threads=None", t4, share4, t3_serial)
    check(total(tiles4) == total(tiles3a), "same answer")

    print("5. gilfree.Executor: the tiles as native tasks")
    with gilfree.Executor() as ex:

        def executor() -> list[Any]:
            futures = [
                ex.submit(
                    gilfree.mandelbrot,
                    big_w,
                    big_h,
                    max_iter=max_iter,
                    xmin=w[0],
                    xmax=w[1],
                    ymin=w[2],
                    ymax=w[3],
                )
                for w in windows
            ]
            return [f.result() for f in futures]

        t5, tiles5, share5 = timed(executor)
    report("gilfree.Executor()", t5, share5, t3_serial)
    check(total(tiles5) == total(tiles3a), "same answer")

    # Small tasks: where a Python thread per task costs more than the task itself.
    small = tile_windows(256)

    def small_loop() -> list[Any]:
        return [tile_native(32, 4, 50, w, 1) for w in small]

    with ThreadPoolExecutor(n) as tpe, gilfree.Executor() as ex:

        def small_tpe() -> list[Any]:
            return list(tpe.map(lambda w: tile_native(32, 4, 50, w, 1), small))

        def small_executor() -> list[Any]:
            kw = [dict(max_iter=50, xmin=w[0], xmax=w[1], ymin=w[2], ymax=w[3]) for w in small]
            return [f.result() for f in [ex.submit(gilfree.mandelbrot, 32, 4, **k) for k in kw]]

        t_loop, small_ref, _ = timed(small_loop, 5)
        t_tpe, small_a, _ = timed(small_tpe, 5)
        t_ex, small_b, _ = timed(small_executor, 5)
    print(
        f"   256 tiny tiles ({t_loop / len(small) * 1e6:.1f} us each in a plain loop {t_loop * 1e3:.2f} ms): "
        f"ThreadPoolExecutor {t_tpe * 1e3:.2f} ms, gilfree.Executor {t_ex * 1e3:.2f} ms "
        f"({t_tpe / t_ex:.1f}x faster)"
    )
    check(total(small_a) == total(small_ref) == total(small_b), "same answers")

    print("6. shared counters from threads")
    counters(4, 25_000 if args.quick else 100_000)

    print()
    if FAILED:
        print(f"FAILED: {len(FAILED)} check(s)")
        return 1
    print("all checks OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
