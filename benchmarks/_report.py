"""Plain-text report helpers shared by the benchmark scripts (imported from the script's own
folder: ``python benchmarks/bench_*.py`` puts it on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Reported", "Timing", "format_table", "measure", "ratio"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        cols = enumerate(zip(cells, widths, strict=True))
        parts = [f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in cols]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def ratio(x: float) -> str:
    """A speed ratio, for a table cell."""
    return f"{x:.2f}x"


# --- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """The samples (seconds) of one contender."""

    samples: tuple[float, ...]

    def get(self, stat: str) -> float:
        """The best (``"min"``) or the median (``"median"``) sample, in seconds."""
        return min(self.samples) if stat == "min" else statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary with every sample."""
        return {
            "best_s": self.get("min"),
            "median_s": self.get("median"),
            "samples_s": list(self.samples),
        }


@dataclass(frozen=True)
class Reported:
    """What a contender returns when it times itself (an external program that prints its own
    time, so that process start-up is not counted): :func:`measure` records ``seconds`` instead of
    the wall time of the call."""

    seconds: float
    value: object = None


def measure(cases: Mapping[str, Callable[[], object]], *, repeat: int, warmup: int) -> dict[str, Timing]:
    """Times every callable of ``cases``: ``warmup`` untimed calls each, then ``repeat`` timed
    rounds in which every case runs once, in an order that rotates from round to round. A case
    that returns a :class:`Reported` is recorded with the time it reports."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            fn = cases[name]
            t0 = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - t0
            samples[name].append(result.seconds if isinstance(result, Reported) else elapsed)
    return {name: Timing(tuple(s)) for name, s in samples.items()}
