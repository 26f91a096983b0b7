"""NumPy vs gilfree reductions, side by side, against the machine's memory-bandwidth ceiling.

For ``sum, mean, var, std, min, argmax`` on one large float64 array (50,000,000 elements =
400 MB by default) it times NumPy, ``gilfree.<kernel>(a, threads=1)`` and
``gilfree.<kernel>(a)`` (``threads=None``: the shared pool, every worker), and reports each
gilfree time as a ratio ``numpy_time / gilfree_time`` (above 1: gilfree is faster).

These reductions read 8 bytes per element and do little arithmetic on them, so on most machines
they run at memory speed. Two reference measurements bound what any implementation can reach:

* copy: ``np.copyto(out, a)`` into a preallocated array, at 1 thread and split into N equal parts
  over a ``ThreadPoolExecutor(N)`` (reads and writes; reported as GB/s read);
* read: NumPy's own ``a.sum()`` at 1 thread and split into N parts the same way (NumPy releases
  the GIL inside its reduction loop, so the parts run in parallel). The faster of the two is the
  read ceiling the all-thread targets are measured against (where one core saturates the memory
  bus, splitting the read does not make it faster, and the 1-thread read is the stricter bar).

Finally a verdict table checks the targets: ``var``/``std`` at least 5x NumPy (at ``threads=1``
and at all threads); ``sum``, ``mean``, ``min``, ``argmax`` at least 1.0x NumPy at ``threads=1``,
and at all threads at least 1.2x NumPy or -- when the measured read ceiling itself is less than
1.2x NumPy, so that 1.2x is out of reach -- within 10% of that ceiling
(``gilfree time <= 1.1 x ceiling time``).

Before timing, every result is checked against NumPy (``sum/mean/var/std`` to a relative 1e-9,
``min/argmax`` exactly) and for bit-identical results at ``threads=1`` and ``threads=None``; any
disagreement aborts the run with exit status 2.

Timing: every contender (the 4 references and the 18 kernel calls) is warmed up, then all of
them run round-robin, once per round in a rotating order, for ``--repeat`` rounds, so that the
noise of a shared machine falls on all of them alike. Tables and verdicts use the best
(minimum) time by default, or the median with ``--stat median``; the verdicts are then
cross-checked with the other statistic, and any verdict that flips is listed (the machine's noise
decides those). ``--json FILE`` saves every sample.

Usage::

    python benchmarks/bench_reduce.py                  # 50M float64, 15 rounds
    python benchmarks/bench_reduce.py --size 10_000_000 --repeat 5 --json bench-results/reduce.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _report import Timing, format_table, measure, print_facts, ratio, run_facts

import gilfree

F64Array = npt.NDArray[np.float64]

KERNELS: tuple[str, ...] = ("sum", "mean", "var", "std", "min", "argmax")
#: Kernels whose result is compared to a relative tolerance; the others must match exactly.
FLOAT_RESULTS: frozenset[str] = frozenset({"sum", "mean", "var", "std"})
REL_TOL = 1e-9
CHECK_HEADERS = ("kernel", "numpy", "gilfree (threads=1)", "rel err", "t1==tN bits", "check")
#: var/std must be at least this many times faster than NumPy.
VAR_TARGET = 5.0
#: sum/mean/min/argmax at threads=1 must be at least this fast relative to NumPy.
ONE_THREAD_TARGET = 1.0
#: ... and at all threads at least this fast, unless the read ceiling itself is lower.
ALL_THREADS_TARGET = 1.2
#: "Within 10% of the ceiling": gilfree time <= this many times the ceiling time.
CEILING_SLACK = 1.1


# --- the contenders ----------------------------------------------------------------------------


def numpy_kernel(name: str) -> Callable[[F64Array], object]:
    """NumPy's function for ``name`` (``np.sum``, ``np.argmax``, ...)."""
    fn: Callable[[F64Array], object] = getattr(np, name)
    return fn


def gilfree_kernel(name: str) -> Callable[..., object]:
    """gilfree's function for ``name``."""
    fn: Callable[..., object] = getattr(gilfree, name)
    return fn


class Splitter:
    """Runs NumPy over N equal parts of an array on a ``ThreadPoolExecutor(N)``."""

    def __init__(self, a: F64Array, out: F64Array, n: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="bench-split")
        self.a_parts: list[F64Array] = np.array_split(a, n)
        self.out_parts: list[F64Array] = np.array_split(out, n)

    def read(self) -> float:
        """NumPy's sum of each part in parallel, added up."""
        return math.fsum(self.pool.map(lambda p: float(p.sum()), self.a_parts))

    def copy(self) -> None:
        """``np.copyto`` of each part in parallel."""
        list(self.pool.map(np.copyto, self.out_parts, self.a_parts))

    def close(self) -> None:
        """Stops the worker threads."""
        self.pool.shutdown()


# --- correctness -------------------------------------------------------------------------------


def check_results(a: F64Array) -> list[list[str]]:
    """Compares every gilfree kernel with NumPy on ``a`` (at threads=1 and threads=None) and
    exits with status 2 on any disagreement. Returns the rows of the check table."""
    rows: list[list[str]] = []
    failures: list[str] = []
    for name in KERNELS:
        expected = numpy_kernel(name)(a)
        one = gilfree_kernel(name)(a, threads=1)
        every = gilfree_kernel(name)(a)
        if name in FLOAT_RESULTS:
            exp_f, one_f, every_f = float(expected), float(one), float(every)  # type: ignore[arg-type]
            rel = abs(one_f - exp_f) / abs(exp_f) if exp_f else abs(one_f)
            ok = math.isclose(one_f, exp_f, rel_tol=REL_TOL) and math.isclose(every_f, exp_f, rel_tol=REL_TOL)
            same = one_f.hex() == every_f.hex()
            shown = (repr(exp_f), repr(one_f), f"{rel:.1e}")
        else:
            ok = one == expected and every == expected
            same = one == every
            shown = (
                repr(expected.item() if isinstance(expected, np.generic) else expected),
                repr(one),
                "exact",
            )
        if not ok:
            shown_np = expected.item() if isinstance(expected, np.generic) else expected
            failures.append(f"{name}: numpy={shown_np!r} threads=1={one!r} threads=None={every!r}")
        if not same:
            failures.append(f"{name}: threads=1 gave {one!r} but threads=None gave {every!r}")
        rows.append([name, *shown, "yes" if same else "NO", "OK" if ok and same else "FAIL"])
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
    """One target: which kernel and threads, the bar, what was measured, and whether it was met."""

    kernel: str
    threads: str
    target: str
    measured: str
    passed: bool


@dataclass(frozen=True)
class Evaluation:
    """The verdicts of one statistic (best or median), and the read ceiling they used."""

    stat: str
    ceiling_key: str
    ceiling: float
    verdicts: list[Verdict]
    #: "kernel ratio" of the kernels whose 1.2x target is beyond the read ceiling.
    ceiling_bound: list[str]

    @property
    def passed(self) -> int:
        """How many targets were met."""
        return sum(v.passed for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "stat": self.stat,
            "read_ceiling": {"from": self.ceiling_key, "seconds": self.ceiling},
            "verdicts": [vars(v) for v in self.verdicts],
            "passed": self.passed,
            "total": len(self.verdicts),
        }


def read_ceiling(ceil: Mapping[str, Timing], stat: str) -> tuple[str, float]:
    """The read ceiling the all-thread targets refer to: the fastest read of the bytes measured with
    all threads available. Where one core saturates the memory bus that can be the 1-thread read,
    so the faster of the two is taken (the stricter bar)."""
    key = min(("read_1", "read_n"), key=lambda k: ceil[k].get(stat))
    return key, ceil[key].get(stat)


def evaluate(
    results: Mapping[str, Mapping[str, Timing]], ceil: Mapping[str, Timing], stat: str
) -> Evaluation:
    """Checks every target with the times of statistic ``stat``."""
    ceiling_key, ceiling = read_ceiling(ceil, stat)
    verdicts: list[Verdict] = []
    ceiling_bound: list[str] = []
    for name in KERNELS:
        r = results[name]
        t_np = r["numpy"].get(stat)
        if name in ("var", "std"):
            for mode, key in (("1", "gilfree_1"), ("all", "gilfree_all")):
                x = t_np / r[key].get(stat)
                verdicts.append(
                    Verdict(name, mode, f">= {VAR_TARGET:.1f}x numpy", ratio3(x), x >= VAR_TARGET)
                )
            continue
        x1 = t_np / r["gilfree_1"].get(stat)
        verdicts.append(
            Verdict(name, "1", f">= {ONE_THREAD_TARGET:.1f}x numpy", ratio3(x1), x1 >= ONE_THREAD_TARGET)
        )
        t_n = r["gilfree_all"].get(stat)
        xn = t_np / t_n
        reachable = t_np / ceiling
        if reachable >= ALL_THREADS_TARGET:
            target = f">= {ALL_THREADS_TARGET:.1f}x numpy"
            passed = xn >= ALL_THREADS_TARGET
        else:
            # Merely reading the bytes is less than 1.2x faster than NumPy: the ceiling is the bar.
            target = f"<= {CEILING_SLACK:.1f}x ceiling = {ms(CEILING_SLACK * ceiling)} ms (*)"
            passed = t_n <= CEILING_SLACK * ceiling
            ceiling_bound.append(f"{name} {ratio(reachable)}")
        measured = f"{ratio3(xn)} np; {ms(t_n)} ms = {t_n / ceiling:.3f}x ceil"
        verdicts.append(Verdict(name, "all", target, measured, passed))
    return Evaluation(stat, ceiling_key, ceiling, verdicts, ceiling_bound)


def print_evaluation(e: Evaluation) -> None:
    """Prints the verdict table of one evaluation."""
    print(
        format_table(
            ["kernel", "threads", "target", "measured", "result"],
            [[v.kernel, v.threads, v.target, v.measured, "PASS" if v.passed else "MISS"] for v in e.verdicts],
        )
    )
    if e.ceiling_bound:
        print(
            f"(*) merely reading the bytes ({ms(e.ceiling)} ms) is less than {ALL_THREADS_TARGET:.1f}x "
            f"faster than NumPy ({', '.join(e.ceiling_bound)}): {ALL_THREADS_TARGET:.1f}x is out of "
            f"reach, so the bar is <= {CEILING_SLACK:.1f}x the ceiling's time."
        )


# --- output ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for a table cell."""
    return f"{seconds * 1e3:.2f}"


def gbps(nbytes: int, seconds: float) -> str:
    """Throughput in GB/s (1e9 bytes per second), for a table cell."""
    return f"{nbytes / seconds / 1e9:.1f}"


def ratio3(x: float) -> str:
    """A speed ratio with three decimals, for a verdict (0.995x must not show as 1.00x)."""
    return f"{x:.3f}x"


def machine_facts(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """gilfree.info() plus NumPy's version and the run's parameters."""
    facts = dict(gilfree.info())
    facts.pop("pid", None)
    facts["numpy"] = np.__version__
    facts["size"] = size
    facts["bytes"] = size * 8
    facts.update(run_facts(args))
    return facts


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="NumPy vs gilfree reductions (sum, mean, var, std, min, argmax) on one large "
        "float64 array, with the memory-bandwidth ceiling and a PASS/MISS verdict per target.",
    )
    p.add_argument("--size", type=int, default=50_000_000, help="elements (default: 50,000,000)")
    p.add_argument("--repeat", type=int, default=15, help="timed rounds per contender (default: 15)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per contender (default: 2)")
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
    if args.size < 1 or args.repeat < 1 or args.warmup < 0:
        p.error("--size and --repeat must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status (0, whatever the verdicts)."""
    args = parse_args(argv)
    size: int = args.size
    nthreads = gilfree.get_num_threads()
    timing = {"repeat": args.repeat, "warmup": args.warmup}

    facts = machine_facts(size, args)
    print("gilfree reductions vs NumPy\n")
    print_facts(facts)

    rng = np.random.default_rng(args.seed)
    a: F64Array = rng.standard_normal(size)
    out: F64Array = np.empty_like(a)
    out.fill(0.0)  # fault the pages in now, not during the first copy
    nbytes = a.nbytes

    print(f"\nData: {size:,} float64 from N(0, 1) ({nbytes / 1e6:,.0f} MB), seed {args.seed}")
    print(f"'all' = threads=None = {nthreads} workers; ratio = numpy time / gilfree time")
    print(f"Times: {args.stat} of {args.repeat} interleaved rounds after {args.warmup} warm-up calls\n")

    print("Correctness (checked before timing):")
    print(format_table(CHECK_HEADERS, check_results(a)))

    # Every contender -- references and kernels -- runs once per round, so that a burst of noise
    # from the rest of the machine is spread over all of them rather than one kernel's group.
    split = Splitter(a, out, nthreads)
    cases: dict[str, Callable[[], object]] = {
        "ceiling/copy_1": lambda: np.copyto(out, a),
        "ceiling/copy_n": split.copy,
        "ceiling/read_1": a.sum,
        "ceiling/read_n": split.read,
    }
    for name in KERNELS:
        np_fn, g_fn = numpy_kernel(name), gilfree_kernel(name)
        cases[f"{name}/numpy"] = lambda np_fn=np_fn: np_fn(a)  # type: ignore[misc]
        cases[f"{name}/gilfree_1"] = lambda g_fn=g_fn: g_fn(a, threads=1)  # type: ignore[misc]
        cases[f"{name}/gilfree_all"] = lambda g_fn=g_fn: g_fn(a)  # type: ignore[misc]
    load_before = os.getloadavg()
    try:
        timings = measure(cases, **timing)
    finally:
        split.close()
    load_after = os.getloadavg()
    groups: dict[str, dict[str, Timing]] = {}
    for key, t in timings.items():
        group, contender = key.split("/")
        groups.setdefault(group, {})[contender] = t
    ceil = groups["ceiling"]
    results = {name: groups[name] for name in KERNELS}
    print(
        f"\nLoad average (1 min) before/after timing: {load_before[0]:.2f} / {load_after[0]:.2f} "
        f"({os.cpu_count()} CPUs; other work on the machine slows the all-thread runs first)"
    )
    stat, other = args.stat, ("median" if args.stat == "min" else "min")
    print(f"\nMemory-bandwidth ceiling ({nbytes / 1e6:,.0f} MB read per call):")
    ceil_rows = [
        ["copy  np.copyto(out, a), 1 thread", "copy_1"],
        [f"copy  np.copyto, {nthreads} parts on {nthreads} threads", "copy_n"],
        ["read  a.sum(), 1 thread", "read_1"],
        [f"read  a.sum() of {nthreads} parts on {nthreads} threads", "read_n"],
    ]
    rows = []
    for label, key in ceil_rows:
        secs = ceil[key].get(stat)
        rw = gbps(2 * nbytes, secs) if key.startswith("copy") else "-"
        rows.append([label, ms(secs), gbps(nbytes, secs), rw])
    print(format_table(["reference", "ms", "GB/s read", "GB/s read+write"], rows))
    ceiling_key, ceiling = read_ceiling(ceil, stat)
    print(f"Read ceiling: {ms(ceiling)} ms ({gbps(nbytes, ceiling)} GB/s, from {ceiling_key})")

    print(f"\nKernels ({size:,} float64):")
    rows = []
    for name in KERNELS:
        r = results[name]
        t_np, t_1, t_n = (r[c].get(stat) for c in ("numpy", "gilfree_1", "gilfree_all"))
        rows.append(
            [
                name,
                ms(t_np),
                ms(t_1),
                ratio(t_np / t_1),
                ms(t_n),
                ratio(t_np / t_n),
                gbps(nbytes, t_n),
                f"{t_n / ceiling:.2f}",
            ]
        )
    headers = ["kernel", "numpy ms", "threads=1 ms", "ratio", "all ms", "ratio", "all GB/s", "all/ceil"]
    print(format_table(headers, rows))
    print(f"(all/ceil: gilfree all-thread time / read ceiling time, {ms(ceiling)} ms)")

    evaluation = evaluate(results, ceil, stat)
    print(f"\nVerdicts ({stat} of {args.repeat} rounds):")
    print_evaluation(evaluation)
    print(f"\n{evaluation.passed}/{len(evaluation.verdicts)} targets met.")

    # The same verdicts with the other statistic: where they differ, the machine's noise decides.
    cross = evaluate(results, ceil, other)
    flipped = [
        f"{a.kernel} threads={a.threads}: {'PASS' if b.passed else 'MISS'} ({b.measured})"
        for a, b in zip(evaluation.verdicts, cross.verdicts, strict=True)
        if a.passed != b.passed
    ]
    print(
        f"Cross-check with the {other} of the same rounds: {cross.passed}/{len(cross.verdicts)} met", end=""
    )
    print("; every verdict the same." if not flipped else ", differing on:")
    for line in flipped:
        print(f"  {line}")

    if args.json:
        report = {
            "facts": facts,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "nthreads_all": nthreads,
            "ceiling": {k: v.to_json() for k, v in ceil.items()},
            "kernels": {k: {c: t.to_json() for c, t in v.items()} for k, v in results.items()},
            "evaluation": evaluation.to_json(),
            "cross_check": cross.to_json(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
