"""The issue-13 benchmark scripts kept from rotting: ``bench_fanout.py`` runs (quick, two families)
and prints its verdicts; ``bench_executor.py`` runs (quick) and prints its speedup at 100 us with
the machine's compute capacity; ``check_lab.py`` reads a ``gilfree bench --json`` result and passes or
fails each workload by the peers' per-task times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gilfree.lab import BenchResult
from gilfree.lab._bench import Run, StrategyResult, WorkloadResult

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=BENCH,
    )


def test_bench_fanout_quick_prints_a_verdict_per_family(tmp_path: Path) -> None:
    out = tmp_path / "fanout.json"
    proc = run("bench_fanout.py", "--quick", "--only", "reduce,fractal", "--json", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    text = proc.stdout
    assert "summary" in text, text
    for family in ("reduce", "fractal"):
        line = next(ln for ln in text.splitlines() if ln.startswith(family + " "))
        assert line.count("PASS") + line.count("FAIL") == 2, line
    report = json.loads(out.read_text())
    assert set(report["families"]) == {"reduce", "fractal"}
    for fam in report["families"].values():
        assert all(p["one_s"] > 0 and p["pool_s"] > 0 for p in fam["points"])


def test_bench_executor_quick_prints_the_speedup_at_100us_and_the_capacity(tmp_path: Path) -> None:
    out = tmp_path / "executor.json"
    proc = run("bench_executor.py", "--quick", "--tasks", "300", "--repeat", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    section = text[text.index("3. gilfree.Executor's speedup") :]
    assert "compute capacity for nbody" in section, section
    for mode in ("submit+result", "map", "as_completed"):
        line = next(ln for ln in section.splitlines() if ln.startswith(mode + " "))
        assert line.rstrip().endswith(("PASS", "MISS")), line
    report = json.loads(out.read_text())
    assert report["nbody_compute_capacity"] > 0
    assert set(report["speedup_at_100us"]) >= {"gilfree submit+result", "gilfree map"}


def _strategy(name: str, per_task: float) -> StrategyResult:
    return StrategyResult(
        name=name,
        description=name,
        status="ok",
        tasks=10,
        runs=[Run(threads=1, tasks=10, per_task=2 * per_task), Run(threads=2, tasks=10, per_task=per_task)],
    )


@pytest.mark.parametrize(("numba", "cython", "status"), [(2e-4, 3e-4, 0), (0.5e-4, 3e-4, 1)])
def test_check_lab_compares_native_pool_with_the_peers(
    tmp_path: Path, numba: float, cython: float, status: int
) -> None:
    w = WorkloadResult(name="mandelbrot", title="t", scale=1.0)
    w.strategies = [
        _strategy("native-pool", 1e-4),
        _strategy("numba-parallel", numba),
        _strategy("cython-prange", cython),
    ]
    result = BenchResult(machine={"cpu": "test CPU"}, settings={}, workloads=[w])
    path = tmp_path / "bench.json"
    result.to_json(str(path))
    proc = run("check_lab.py", str(path), timeout=60)
    assert proc.returncode == status, proc.stdout + proc.stderr
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("mandelbrot")]
    assert len(rows) == 2
    assert ("FAIL" in rows[0]) == (status == 1)
    assert "PASS" in rows[1]
