"""gilfree in one minute: fast reductions that let your other Python threads run.

What this script shows, on 20 million float64 values:

1. ``gilfree.sum``, ``gilfree.var`` and ``gilfree.argmax`` give the same answers as NumPy
   (checked, with the times of both).
2. The GIL is released while a kernel runs. A Python "heartbeat" thread wakes up every
   millisecond and counts; it keeps counting while ``gilfree.var`` works, but gets (almost)
   nothing while a C call that holds the GIL runs for as long (the builtin ``sum(range(n))``).
3. The recipe for your own thread pool: cut the array into 4 chunks, call
   ``gilfree.sum(chunk, threads=1)`` from a ``concurrent.futures.ThreadPoolExecutor`` (the
   chunks really run in parallel, because each call releases the GIL), and add the partials.
4. Determinism: ``gilfree.sum`` gives the bit-identical float at ``threads=1`` and
   ``threads=None`` (chunk boundaries depend on the length only, and the partial sums combine in
   a fixed order), shown with ``float.hex``.

Every check prints "OK" or "FAILED"; the exit status is 1 if any check failed. Run it with
``make demo`` or ``python examples/reduce_gil_free.py``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt

import gilfree

T = TypeVar("T")

N = 20_000_000
HEARTBEAT_S = 0.001  # the heartbeat's period
VAR_CALLS = 40  # gilfree.var calls while the heartbeat counts
REL_TOL = 1e-9

failures: list[str] = []


def check(label: str, ok: bool, detail: str = "") -> None:
    """Prints one check as OK or FAILED (and remembers failures for the exit status)."""
    print(f"  {'OK' if ok else 'FAILED':<6} {label}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(label)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Calls ``fn()``; returns its result and the elapsed milliseconds."""
    t0 = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - t0) * 1e3


def best_of(fn: Callable[[], T], rounds: int = 3) -> tuple[T, float]:
    """Calls ``fn()`` once to warm up, then ``rounds`` times; returns the result and the best ms."""
    result = fn()
    best = min(timed(fn)[1] for _ in range(rounds))
    return result, best


class Heartbeat:
    """A Python thread that counts a tick every millisecond -- whenever it can get the GIL."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ticks += 1
            time.sleep(HEARTBEAT_S)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        time.sleep(0.05)  # let it get going
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def count_during(self, fn: Callable[[], object]) -> tuple[int, float]:
        """Runs ``fn()`` here; returns the heartbeat's ticks meanwhile and the elapsed ms."""
        before = self.ticks
        _, ms = timed(fn)
        return self.ticks - before, ms


def compare_with_numpy(a: npt.NDArray[np.float64]) -> None:
    """Section 1: gilfree and NumPy side by side."""
    print("\n1. Same answers as NumPy (best of 3 calls each)")
    for name in ("sum", "var", "argmax"):
        ours, t_ours = best_of(lambda name=name: getattr(gilfree, name)(a))  # type: ignore[misc]
        theirs, t_theirs = best_of(lambda name=name: getattr(np, name)(a))  # type: ignore[misc]
        exact = name == "argmax"  # an index must match exactly, a float to REL_TOL
        ok = ours == theirs if exact else math.isclose(ours, float(theirs), rel_tol=REL_TOL)
        theirs_py = theirs.item() if isinstance(theirs, np.generic) else theirs
        check(
            name,
            ok,
            f"gilfree {ours!r} in {t_ours:.1f} ms, NumPy {theirs_py!r} in {t_theirs:.1f} ms",
        )


def show_gil_release(a: npt.NDArray[np.float64]) -> None:
    """Section 2: a heartbeat thread keeps ticking while gilfree runs, not while the GIL is held."""
    print(f"\n2. The GIL is released: a Python heartbeat thread ticks every {HEARTBEAT_S * 1e3:.0f} ms")

    def gilfree_work() -> None:
        for _ in range(VAR_CALLS):
            gilfree.var(a)

    # The contrast: one C call that never lets the GIL go, the builtin sum over a range of ints,
    # sized to take about as long as the gilfree calls.
    with Heartbeat() as hb:
        ticks_free, ms_free = hb.count_during(gilfree_work)
        probe = 1_000_000
        _, ms_probe = timed(lambda: sum(range(probe)))
        n_range = max(probe, int(probe * ms_free / max(ms_probe, 1e-3)))
        ticks_held, ms_held = hb.count_during(lambda: sum(range(n_range)))

    label_free = f"gilfree.var(a) x {VAR_CALLS}"
    label_held = f"sum(range({n_range:_}))"
    width = max(len(label_free), len(label_held))
    per_ms = 1 / (HEARTBEAT_S * 1e3)
    for label, ms, ticks in ((label_free, ms_free, ticks_free), (label_held, ms_held, ticks_held)):
        print(f"  {label:<{width}}  {ms:6.1f} ms   heartbeat ticks: {ticks:4} (at most ~{ms * per_ms:.0f})")
    # While gilfree runs, the heartbeat should keep most of its ideal rate (0.3x leaves room for
    # late wake-ups on a busy machine); while one C call holds the GIL, it gets next to nothing.
    ideal = ms_free * per_ms
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        print("  (free-threaded interpreter, GIL disabled: nothing holds a GIL, so no contrast to check)")
        return
    check(
        "heartbeat ran while gilfree worked",
        ticks_free >= 0.3 * ideal and ticks_free > 4 * ticks_held,
        f"{ticks_free} ticks in {ms_free:.0f} ms vs {ticks_held} while the GIL was held",
    )


def show_recipe(a: npt.NDArray[np.float64]) -> None:
    """Section 3: your own ThreadPoolExecutor over chunks, each call at threads=1."""
    print("\n3. Recipe: 4 chunks on a ThreadPoolExecutor, gilfree.sum(chunk, threads=1) each")
    chunks = np.array_split(a, 4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: gilfree.sum(c, threads=1), chunks))  # warm up the threads
        partials, ms = timed(lambda: list(pool.map(lambda c: gilfree.sum(c, threads=1), chunks)))
    total = math.fsum(partials)
    expected = float(np.sum(a))
    print(f"  partials: {', '.join(f'{p:.6f}' for p in partials)}")
    check(
        "sum of the partials",
        math.isclose(total, expected, rel_tol=REL_TOL),
        f"{total!r} in {ms:.1f} ms, NumPy {expected!r}",
    )


def show_determinism(a: npt.NDArray[np.float64]) -> None:
    """Section 4: bit-identical sums whatever the thread count."""
    print("\n4. Deterministic: the same bits at threads=1 and threads=None")
    one, ms_one = timed(lambda: gilfree.sum(a, threads=1))
    every, ms_every = timed(lambda: gilfree.sum(a))
    print(f"  threads=1     {one.hex()}  ({ms_one:.1f} ms)")
    print(f"  threads=None  {every.hex()}  ({ms_every:.1f} ms, {gilfree.get_num_threads()} workers)")
    check("bit-identical", one.hex() == every.hex(), f"{one!r}")


def main() -> int:
    """Runs the four sections; returns 0 if every check passed, else 1."""
    t_start = time.perf_counter()
    facts = gilfree.info()
    print(f"gilfree {facts['version']} on {facts['python']}, {facts['cpu']}")
    print(f"threads=None uses {facts['threads']} workers (from {facts['threads_source']})")

    a = np.random.default_rng(42).standard_normal(N) + 3.0
    print(f"data: {N:,} float64 values ({a.nbytes / 1e6:,.0f} MB)")
    gilfree.sum(a)  # start the shared pool before anything is timed

    compare_with_numpy(a)
    show_gil_release(a)
    show_recipe(a)
    show_determinism(a)

    elapsed = time.perf_counter() - t_start
    if failures:
        print(f"\n{len(failures)} check(s) FAILED: {', '.join(failures)} ({elapsed:.1f} s)")
        return 1
    print(f"\nAll checks OK ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
