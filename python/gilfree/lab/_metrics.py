"""The lab's arithmetic: pure functions over timings, unit-tested on synthetic numbers.

Every comparison the lab makes is *per task*: strategies run different numbers of tasks (pure
Python is a hundred times slower than a kernel, so it runs few), and the tasks of a workload all
cost the same, so time per task is the quantity that compares.

Example:
    >>> from gilfree.lab._metrics import crossing, format_seconds, speedup, verdict
    >>> speedup(0.010, 0.005)
    2.0
    >>> be = crossing([1e-6, 1e-5, 1e-4, 1e-3], [0.2, 0.6, 1.4, 1.9])
    >>> be.status, format_seconds(be.seconds)
    ('crosses', '~32 µs')
    >>> verdict(threads=2, speedup=1.9, efficiency=0.95, break_even=be)
    'GIL-free threading pays above ~32 µs per task: 1.9× on 2 threads, efficiency 0.95'
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from typing import Literal

__all__ = [
    "BEATS_ONE",
    "Crossing",
    "crossing",
    "efficiency",
    "format_seconds",
    "median",
    "monotone",
    "speedup",
    "spread",
    "verdict",
]


#: The speedup at which N threads count as beating one: 10% faster, above the few percent of
#: run-to-run noise (without the margin, a kernel that runs inline at small sizes, speedup
#: 1.00 +- 0.03, would "break even" wherever the noise first crossed 1).
BEATS_ONE = 1.1


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (at least one).

    >>> median([3.0, 1.0, 2.0]), median([1.0, 2.0])
    (2.0, 1.5)
    """
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """Half the range of ``values`` relative to their median: ``(max - min) / 2 / median``.

    What the table shows as ``±``: 0.04 means every repeat fell within about ±4% of the median.
    0 for a single value.

    >>> spread([0.9, 1.0, 1.1])
    0.1
    >>> spread([2.0])
    0.0
    """
    mid = median(values)
    if len(values) < 2 or mid <= 0.0:
        return 0.0
    return round((max(values) - min(values)) / 2.0 / mid, 12)


def speedup(base: float | None, time: float | None) -> float | None:
    """``base / time``: how many times faster ``time`` is than ``base`` (None if either is missing
    or not positive).

    >>> speedup(1.0, 0.25), speedup(None, 1.0), speedup(1.0, 0.0)
    (4.0, None, None)
    """
    if base is None or time is None or base <= 0.0 or time <= 0.0:
        return None
    return base / time


def efficiency(speedup: float | None, threads: int) -> float | None:
    """Parallel efficiency: ``speedup / threads`` (1.0 is perfect scaling).

    >>> efficiency(1.9, 2), efficiency(None, 2)
    (0.95, None)
    """
    if speedup is None or threads < 1:
        return None
    return speedup / threads


@dataclasses.dataclass(frozen=True)
class Crossing:
    """Where a speedup curve crosses a level, found by :func:`crossing`.

    Attributes:
        status: ``"crosses"`` (the fitted curve is below the level at small tasks, at or above it
            from ``seconds`` on), ``"always"`` (at or above the level at every size measured),
            ``"never"`` (still below it at the largest size measured) or ``"none"`` (no points).
        seconds: the task time where the curve crosses (``"crosses"`` only), log-interpolated.
        smallest: the smallest task time measured (seconds).
        largest: the largest task time measured (seconds).
        level: the level crossed (1.0 for break-even).
    """

    status: Literal["crosses", "always", "never", "none"]
    seconds: float | None
    smallest: float | None
    largest: float | None
    level: float = 1.0


def monotone(values: Sequence[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` in least squares (isotonic regression,
    by pool-adjacent-violators): each run of values that goes down is replaced by its mean.

    >>> monotone([0.2, 0.6, 1.4, 1.2, 1.9])
    [0.2, 0.6, 1.3, 1.3, 1.9]
    """
    blocks: list[list[float]] = []  # [mean, count]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, n1), (m2, n2) = blocks[-2], blocks.pop()
            blocks[-1] = [(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2]
    return [round(m, 12) for m, n in blocks for _ in range(int(n))]


def crossing(task_seconds: Sequence[float], speedups: Sequence[float], level: float = 1.0) -> Crossing:
    """The task time from which ``speedups`` reach ``level``.

    Speedup grows with task size (the same per-task overhead over more work), but a measured
    sweep is noisy: a dip at one size, or values around 1.0 at tiny sizes where a kernel runs
    inline. So the points, sorted by task time, are first fitted with the closest non-decreasing
    curve (:func:`monotone`), which crosses the level once. Between the last fitted point below
    the level ``(t0, s0)`` and the next ``(t1, s1)`` the task time is interpolated linearly in
    ``log t``: ``log t = log t0 + (level - s0) / (s1 - s0) * (log t1 - log t0)``.

    >>> crossing([1e-5, 1e-4], [0.5, 1.5]).seconds  # halfway in log: sqrt(1e-5 * 1e-4)
    3.16227766016838e-05
    >>> crossing([1e-5, 1e-4], [1.2, 1.5]).status, crossing([1e-5, 1e-4], [0.5, 0.9]).status
    ('always', 'never')
    """
    if len(task_seconds) != len(speedups):
        raise ValueError("task_seconds and speedups must have the same length")
    points = sorted(
        (t, s) for t, s in zip(task_seconds, speedups, strict=True) if t > 0.0 and math.isfinite(s)
    )
    if not points:
        return Crossing("none", None, None, None, level)
    smallest, largest = points[0][0], points[-1][0]
    fitted = monotone([s for _, s in points])
    above = [i for i, s in enumerate(fitted) if s >= level]
    if not above:
        return Crossing("never", None, smallest, largest, level)
    i = above[0]
    if i == 0:
        return Crossing("always", None, smallest, largest, level)
    (t0, s0), (t1, s1) = (points[i - 1][0], fitted[i - 1]), (points[i][0], fitted[i])
    frac = (level - s0) / (s1 - s0)  # s1 >= level > s0
    at = math.exp(math.log(t0) + frac * (math.log(t1) - math.log(t0)))
    return Crossing("crosses", at, smallest, largest, level)


def format_seconds(seconds: float | None, *, approx: bool = True) -> str:
    """A duration to two significant digits in ns/µs/ms/s (``~`` in front when ``approx``).

    >>> format_seconds(3.84e-5), format_seconds(0.0123, approx=False), format_seconds(2.5)
    ('~38 µs', '12 ms', '~2.5 s')
    """
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    unit, value = "ns", seconds / 1e-9
    for name, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= factor * 0.9995:
            unit, value = name, seconds / factor
            break
    text = f"{value:.2g}" if value < 100 else f"{value:.0f}"
    if "e" in text:  # .2g of e.g. 120.0 gives 1.2e+02
        text = f"{value:.0f}"
    return f"{'~' if approx else ''}{text} {unit}"


def verdict(
    *,
    threads: int,
    speedup: float | None,
    efficiency: float | None,
    break_even: Crossing | None,
) -> str:
    """The one-line verdict of a workload.

    Arguments:
        threads: the thread count the speedup was measured at (the largest asked for).
        speedup: native-nogil-executor at ``threads`` over its own one-thread run (None: not timed).
        efficiency: that speedup over ``threads``.
        break_even: the break-even sweep's crossing for native-nogil-executor (None: no sweep).

    >>> always = Crossing("always", None, 3e-6, 0.01)
    >>> verdict(threads=2, speedup=1.9, efficiency=0.95, break_even=always)
    'GIL-free threading pays at every task size measured (from ~3 µs): 1.9× on 2 threads, efficiency 0.95'
    >>> verdict(threads=2, speedup=0.9, efficiency=0.45, break_even=Crossing("never", None, 3e-6, 0.01))
    'GIL-free threading did not pay at any task size measured (up to ~10 ms): 0.9× on 2 threads, ...'
    >>> verdict(threads=1, speedup=None, efficiency=None, break_even=None)
    'one thread only: nothing to compare (run with --threads 1,2)'
    """
    if threads < 2:
        return "one thread only: nothing to compare (run with --threads 1,2)"
    measured = (
        f"{speedup:.1f}× on {threads} threads, efficiency {efficiency:.2f}"
        if speedup is not None and efficiency is not None
        else f"native-nogil-executor not timed on {threads} threads"
    )
    if break_even is None or break_even.status == "none":
        return f"GIL-free threading: {measured}"
    if break_even.status == "crosses":
        return f"GIL-free threading pays above {format_seconds(break_even.seconds)} per task: {measured}"
    if break_even.status == "always":
        return (
            "GIL-free threading pays at every task size measured "
            f"(from {format_seconds(break_even.smallest)}): {measured}"
        )
    return (
        "GIL-free threading did not pay at any task size measured "
        f"(up to {format_seconds(break_even.largest)}): {measured}"
    )
