"""Issue 13's lab target, read from a ``gilfree bench --json`` result: on every workload,
native-pool (gilfree's kernels with ``threads=N``, one task after another) at the most threads
measured is at least as fast as Numba parallel and Cython prange at the same thread count.

Usage::

    gilfree bench --workload all --json bench-results/bench.json
    python benchmarks/check_lab.py bench-results/bench.json

Prints one row per workload and peer (per-task times, the ratio ``peer / native-pool``: at least
1.00x passes) and exits 1 if any row fails. A peer that was skipped (not installed, no variant
for the workload) is reported as ``n/a`` and does not fail the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from _report import format_table

from gilfree.lab import BenchResult

PEERS: tuple[str, ...] = ("numba-parallel", "cython-prange")


def per_task(result: BenchResult, workload: str, strategy: str, threads: int) -> float | None:
    for s in result.workload(workload).strategies:
        if s.name == strategy and s.status == "ok":
            for r in s.runs:
                if r.threads == threads:
                    return r.per_task
    return None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", type=Path, help="a gilfree bench --json result")
    args = p.parse_args(argv)
    result = BenchResult.from_dict(json.loads(args.json.read_text(encoding="utf-8")))
    rows = []
    failures = 0
    for w in result.workloads:
        pool = next((s for s in w.strategies if s.name == "native-pool" and s.status == "ok"), None)
        if pool is None or not pool.runs:
            rows.append([w.name, "native-pool", "-", "-", "-", "n/a"])
            continue
        top = max(r.threads for r in pool.runs)
        mine = per_task(result, w.name, "native-pool", top)
        for peer in PEERS:
            theirs = per_task(result, w.name, peer, top)
            if mine is None or theirs is None:
                rows.append([w.name, peer, str(top), "-", "-", "n/a"])
                continue
            ok = theirs >= mine
            failures += not ok
            rows.append(
                [
                    w.name,
                    peer,
                    str(top),
                    f"{mine * 1e6:,.1f}",
                    f"{theirs * 1e6:,.1f}",
                    f"{theirs / mine:.2f}x {'PASS' if ok else 'FAIL'}",
                ]
            )
    print(f"native-pool vs the peers' own parallel loops ({result.machine.get('cpu', '?')})")
    print(format_table(["workload", "peer", "threads", "native-pool us", "peer us", "peer/native"], rows))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
