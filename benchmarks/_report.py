"""Plain-text report helpers shared by the benchmark scripts (imported from the script's own
folder: ``python benchmarks/bench_*.py`` puts it on ``sys.path``)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Contender",
    "Reported",
    "Timing",
    "Verdict",
    "add_run_args",
    "contender_json",
    "exit_status",
    "format_table",
    "measure",
    "measure_loaded",
    "ms",
    "parse_only",
    "print_compile_times",
    "print_cross_check",
    "print_facts",
    "print_verdicts",
    "ratio",
    "run_facts",
    "tally",
    "verdicts_json",
    "why_missing",
    "write_json",
]


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


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for a table cell (3 decimals below 10 ms)."""
    x = seconds * 1e3
    return f"{x:,.1f}" if x >= 10 else f"{x:.3f}"


def run_facts(args: argparse.Namespace) -> dict[str, Any]:
    """The platform, the CPU count and the timing options of a run (--repeat, --warmup, --stat)."""
    return {
        "platform": platform.platform(),
        "os_cpu_count": os.cpu_count(),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "stat": args.stat,
    }


def print_facts(facts: Mapping[str, Any]) -> None:
    """Prints the machine facts as aligned ``key  value`` lines."""
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        shown = " ".join(value) if isinstance(value, list) else str(value)
        print(f"  {key:<{width}}  {shown}")


# --- contenders and verdicts -------------------------------------------------------------------


@dataclass
class Contender:
    """One implementation of a workload: a zero-argument callable, or the reason it is missing."""

    key: str
    label: str
    fn: Callable[[], Any] | None = None
    missing: str | None = None
    result: Any = None
    error: str | None = None
    #: Wall time of the first (checking) call, seconds: informative only.
    first_s: float | None = None

    @property
    def live(self) -> bool:
        """Whether it ran without error and is timed."""
        return self.fn is not None and self.error is None


@dataclass(frozen=True)
class Verdict:
    """One target: the kernel, the bar, what was measured, and PASS / MISS / n/a."""

    kernel: str
    target: str
    measured: str
    result: str


def tally(verdicts: Sequence[Verdict]) -> str:
    """ "N/M targets met (K n/a)"."""
    judged = [v for v in verdicts if v.result != "n/a"]
    passed = sum(v.result == "PASS" for v in judged)
    na = len(verdicts) - len(judged)
    return f"{passed}/{len(judged)} targets met" + (f" ({na} n/a)" if na else "")


def print_verdicts(verdicts: Sequence[Verdict]) -> None:
    """The verdict table."""
    print(
        format_table(
            ["kernel", "target", "measured", "result"],
            [[v.kernel, v.target, v.measured, v.result] for v in verdicts],
        )
    )


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


def print_compile_times(total: float, compile_s: Mapping[str, float], errors: Mapping[str, str]) -> None:
    """The Numba compile times (and failures) of a run, when there are any."""
    if not compile_s and not errors:
        return
    print(f"\nNumba compile times (first call on a tiny input; not counted below), {total:.1f} s in all:")
    rows = [[k, f"{v:.2f}"] for k, v in compile_s.items()] + [[k, v] for k, v in errors.items()]
    print(format_table(["function", "seconds"], rows))


def measure_loaded(
    cases: Mapping[str, Callable[[], object]], *, repeat: int, warmup: int
) -> tuple[dict[str, Timing], tuple[float, float, float], tuple[float, float, float]]:
    """:func:`measure`, and the load average before and after it (printed: on a shared machine it
    says how much the all-thread runs were disturbed)."""
    before = os.getloadavg()
    timings = measure(cases, repeat=repeat, warmup=warmup)
    after = os.getloadavg()
    print(
        f"Load average (1 min) before/after timing: {before[0]:.2f} / {after[0]:.2f} "
        f"({os.cpu_count()} CPUs; other work on the machine slows the all-thread runs first)"
    )
    return timings, before, after


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


def print_cross_check(verdicts: Sequence[Verdict], cross: Sequence[Verdict], other: str) -> None:
    """The tally of the same verdicts judged with the ``other`` statistic, and those that flip
    (the machine's noise decides them)."""
    flipped = [
        f"{b.kernel} {b.target}: {b.result} ({b.measured})"
        for a, b in zip(verdicts, cross, strict=True)
        if a.result != b.result
    ]
    print(f"Cross-check with the {other} of the same rounds: {tally(cross)}", end="")
    print("; every verdict the same." if not flipped else ", differing on:")
    for line in flipped:
        print(f"  {line}")


def why_missing(contenders: Mapping[str, Contender], *keys: str) -> str:
    """Why the first of ``keys`` that was not timed is missing."""
    for key in keys:
        c = contenders.get(key)
        if c is None:
            continue
        if c.missing:
            return f"{c.label}: {c.missing}"
        if c.error:
            return f"{c.label}: error"
    return "not measured"


# --- command line and JSON ---------------------------------------------------------------------


def add_run_args(p: argparse.ArgumentParser, *, repeat: int, groups: Sequence[str], what: str) -> None:
    """The options every comparison benchmark has: --repeat, --warmup, --stat, --only, --json."""
    p.add_argument(
        "--repeat", type=int, default=repeat, help=f"timed rounds per contender (default: {repeat})"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed calls per contender, the first of which is the correctness check (default: 1)",
    )
    p.add_argument(
        "--stat",
        choices=("min", "median"),
        default="min",
        help="statistic of the tables and verdicts (default: min, the best round); the verdicts are "
        "cross-checked with the other one",
    )
    p.add_argument(
        "--only", metavar="LIST", help=f"comma-separated {what} to run (default: all of {', '.join(groups)})"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every result and sample to FILE")


def parse_only(
    p: argparse.ArgumentParser, args: argparse.Namespace, groups: Sequence[str], what: str
) -> list[str]:
    """Checks --repeat/--warmup; the groups --only selects (in ``groups``' order), or all."""
    if args.repeat < 1 or args.warmup < 1:
        p.error("--repeat and --warmup must be >= 1")
    if not args.only:
        return list(groups)
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in groups]
    if unknown or not names:
        p.error(
            f"--only: unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(groups)}"
        )
    return [g for g in groups if g in names]


def contender_json(c: Contender, timing: Timing | None) -> dict[str, Any]:
    """A contender's label, why it is missing or failed, and its samples."""
    return {
        "label": c.label,
        "missing": c.missing,
        "error": c.error,
        "timing": timing.to_json() if timing is not None else None,
    }


def verdicts_json(stat: str, verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """The verdicts of one statistic, JSON-ready."""
    return {"stat": stat, "items": [vars(v) for v in verdicts], "summary": tally(verdicts)}


def write_json(path: Path, report: Mapping[str, Any]) -> None:
    """Writes ``report`` to ``path`` (its folder made) and says so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"Wrote {path}")


def exit_status(failures: Sequence[str]) -> int:
    """2 after listing the wrong results on stderr, or 0 if there are none."""
    if not failures:
        return 0
    print("\nWRONG RESULTS (exit status 2):", file=sys.stderr)
    for f in failures:
        print(f"  {f}", file=sys.stderr)
    return 2
