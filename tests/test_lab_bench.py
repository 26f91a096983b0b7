"""gilfree bench: the metrics on synthetic timings, the result schema, and small real runs.

Real runs are tiny (the quick budgets shrunk further) and assert structure and measured GIL-hold
shares with wide margins, never times.
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import importlib.util
import io
import json
import math
import os
import signal
import subprocess
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

import gilfree
from gilfree._cli import main
from gilfree.lab import (
    SCHEMA,
    BenchResult,
    Run,
    StrategyResult,
    Sweep,
    SweepPoint,
    _bench,
    _metrics,
    _report,
    _strategies,
    bench,
)
from gilfree.lab import WorkloadResult as WResult
from gilfree.lab._gil import gil_enabled
from gilfree.lab._metrics import Crossing, crossing, efficiency, format_seconds, speedup, spread, verdict
from gilfree.lab._strategies import STRATEGIES
from gilfree.lab._workloads import WORKLOADS, Task, count_primes_python

# --- metrics -----------------------------------------------------------------------------------


def test_median_spread_speedup_efficiency() -> None:
    assert _metrics.median([5.0, 1.0, 3.0]) == 3.0
    assert _metrics.median([1.0, 2.0, 3.0, 10.0]) == 2.5
    with pytest.raises(ValueError):
        _metrics.median([])
    assert spread([0.8, 1.0, 1.2]) == pytest.approx(0.2)
    assert spread([1.0]) == 0.0
    assert speedup(0.3, 0.1) == pytest.approx(3.0)
    assert speedup(None, 0.1) is None
    assert speedup(0.1, None) is None
    assert speedup(0.1, 0.0) is None
    assert efficiency(3.0, 4) == pytest.approx(0.75)
    assert efficiency(None, 4) is None


def test_crossing_log_interpolates_between_the_points_around_the_level() -> None:
    be = crossing([1e-6, 1e-5, 1e-4, 1e-3], [0.2, 0.5, 1.5, 1.9])
    assert be.status == "crosses"
    assert be.seconds is not None
    # Halfway between 0.5 and 1.5 is halfway in log between 10 us and 100 us.
    assert be.seconds == pytest.approx(math.sqrt(1e-5 * 1e-4))
    assert (be.smallest, be.largest) == (1e-6, 1e-3)
    # A quarter of the way: 10 ** (-5 + 0.25).
    quarter = crossing([1e-5, 1e-4], [0.8, 1.6])
    assert quarter.seconds == pytest.approx(10 ** (-4.75))
    # Exactly at the level counts as paying: the crossing is at that point.
    exact = crossing([1e-5, 1e-4], [0.5, 1.0])
    assert exact.seconds == pytest.approx(1e-4)


def test_crossing_edge_cases() -> None:
    assert crossing([1e-6, 1e-3], [1.1, 1.9]).status == "always"
    never = crossing([1e-6, 1e-3], [0.1, 0.9])
    assert (never.status, never.seconds, never.largest) == ("never", None, 1e-3)
    assert crossing([], []).status == "none"
    # Unsorted input is sorted by task time first.
    assert crossing([1e-4, 1e-6, 1e-5], [1.5, 0.2, 0.5]).seconds == pytest.approx(math.sqrt(1e-5 * 1e-4))
    # Noise above the level at tiny sizes does not count: the fitted curve is below it there.
    noisy = crossing([1e-6, 1e-5, 1e-4, 1e-3], [1.02, 0.6, 0.9, 1.8])
    assert noisy.status == "crosses"
    assert noisy.seconds is not None
    assert 1e-4 < noisy.seconds < 1e-3
    # One dip below the level after the crossing is pooled with its neighbour: 1.5 and 0.9 fit as
    # 1.2, so the crossing is between 10 and 100 us, at 0.5 -> 1.2 interpolated.
    dip = crossing([1e-5, 1e-4, 1e-3], [0.5, 1.5, 0.9])
    assert dip.status == "crosses"
    assert dip.seconds == pytest.approx(10 ** (-5 + 0.5 / 0.7))
    # A curve that falls back below and stays there does not pay.
    assert crossing([1e-5, 1e-4, 1e-3, 1e-2], [0.5, 1.1, 0.7, 0.6]).status == "never"
    # Another level: efficiency 0.8 on 2 threads.
    assert crossing([1e-5, 1e-4], [1.0, 2.0], level=1.6).seconds == pytest.approx(10 ** (-4.4))
    # Non-finite speedups and non-positive times are ignored.
    assert crossing([0.0, 1e-5, 1e-4], [5.0, 0.5, float("nan")]).status == "never"
    with pytest.raises(ValueError):
        crossing([1e-5], [1.0, 2.0])


def test_monotone_fit() -> None:
    assert _metrics.monotone([]) == []
    assert _metrics.monotone([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]
    assert _metrics.monotone([3.0, 2.0, 1.0]) == [2.0, 2.0, 2.0]
    assert _metrics.monotone([0.1, 1.35, 1.49, 0.94, 1.08, 1.96]) == pytest.approx(
        [0.1, 1.215, 1.215, 1.215, 1.215, 1.96]
    )
    fitted = _metrics.monotone([1.04, 0.97, 1.0, 1.01, 0.99, 0.81, 0.87, 1.65, 1.06, 1.37])
    assert fitted == sorted(fitted)


def test_format_seconds() -> None:
    assert format_seconds(4e-5) == "~40 µs"
    assert format_seconds(3.84e-5) == "~38 µs"
    assert format_seconds(1.234e-3) == "~1.2 ms"
    assert format_seconds(0.15) == "~150 ms"
    assert format_seconds(9.5e-7) == "~950 ns"
    assert format_seconds(7.0, approx=False) == "7 s"
    assert format_seconds(None) == "n/a"
    assert _report.format_time(0.000_999_99) == "1.00 ms"
    assert _report.format_time(123.4e-6) == "123 µs"


def test_verdict_text() -> None:
    be = Crossing("crosses", 4.1e-5, 1e-6, 1e-2)
    assert (
        verdict(threads=2, speedup=1.9, efficiency=0.95, break_even=be)
        == "GIL-free threading pays above ~41 µs per task: 1.9× on 2 threads, efficiency 0.95"
    )
    always = verdict(
        threads=4, speedup=3.5, efficiency=0.875, break_even=Crossing("always", None, 2e-6, 1e-2)
    )
    assert always == (
        "GIL-free threading pays at every task size measured (from ~2 µs): 3.5× on 4 threads, efficiency 0.88"
    )
    never = verdict(threads=2, speedup=1.0, efficiency=0.5, break_even=Crossing("never", None, 1e-6, 0.012))
    assert never.startswith("GIL-free threading did not pay at any task size measured (up to ~12 ms)")
    assert verdict(threads=2, speedup=1.5, efficiency=0.75, break_even=None) == (
        "GIL-free threading: 1.5× on 2 threads, efficiency 0.75"
    )
    assert "not timed" in verdict(threads=2, speedup=None, efficiency=None, break_even=be)
    assert verdict(threads=1, speedup=None, efficiency=None, break_even=None).startswith("one thread only")


@pytest.mark.parametrize("module", [_metrics, _report, _strategies, _bench], ids=lambda m: m.__name__)
def test_docstring_examples(module: types.ModuleType) -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    # Examples in private modules may use the module's own names.
    tests = finder.find(module, module.__name__, globs=dict(vars(module)))
    for test in tests:
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0


# --- the result and its JSON -------------------------------------------------------------------


def _synthetic() -> BenchResult:
    """A result built by hand: what the report, the JSON and the plot are tested on."""
    w = WResult("mandelbrot", "an image", 1.0, python_tasks=4, native_tasks=400, checked_tasks=2)
    w.python_task_seconds, w.native_task_seconds = 0.1, 2.5e-4
    serial = StrategyResult("python-serial", "pure Python", "ok", tasks=4)
    serial.runs = [Run(1, 4, times=[0.40, 0.42, 0.41], gil_shares=[0.95, 0.96, 0.94])]
    executor = StrategyResult("native-nogil-executor", "the recipe", "ok", tasks=400)
    executor.runs = [
        Run(1, 400, times=[0.100, 0.102, 0.098], gil_shares=[0.01, 0.02, 0.01]),
        Run(2, 400, times=[0.052, 0.054, 0.050], gil_shares=[0.05, 0.04, 0.05]),
    ]
    skipped = StrategyResult("numba-parallel", "numba", "skipped", reason="numba is not installed")
    w.strategies = [serial, executor, skipped]
    w.sweep = Sweep(2)
    for t, s in ((1e-6, 0.1), (1e-5, 0.5), (1e-4, 1.5), (1e-3, 1.9)):
        w.sweep.points.append(
            SweepPoint(size=t * 1e6, tasks=100, serial=t, executor=t / s, executor_speedup=s)
        )
    _bench._finish(w, 2)
    return BenchResult(
        machine={
            "cpu": "Test CPU",
            "cores": 2,
            "python": "CPython 3.x",
            "free_threaded": False,
            "gil_enabled": True,
            "gilfree_version": "0",
            "gilfree_profile": "release",
            "threads": 2,
            "threads_source": "test",
        },
        settings={"threads": [1, 2], "repeat": 3, "process_start_method": "spawn"},
        workloads=[w],
        created="2026-01-01T00:00:00+00:00",
    )


@pytest.mark.skipif(not gil_enabled(), reason="a free-threaded interpreter has no GIL to hold")
@pytest.mark.parametrize("probe_kind", ["holds-gil", "scales", None])
def test_a_probe_that_found_the_gil_held_settles_the_nogil_rows_claim(probe_kind: str | None) -> None:
    """The regression: under load the executor row of a GIL-holding function read a median share
    below 0.5 (interference pulls every share towards the middle) and the warning went missing,
    though the probe had measured the same function holding the GIL."""
    w = WResult("pysum", "a Python loop", 1.0, python_tasks=4, native_tasks=4, checked_tasks=2)
    executor = StrategyResult("native-nogil-executor", "the recipe", "ok", tasks=4)
    executor.runs = [Run(2, 4, times=[0.1], gil_shares=[0.45, 0.41, 0.48])]
    w.strategies = [executor]
    if probe_kind is not None:
        w.probe = {"kind": probe_kind, "verdict": "holds the GIL", "rows": [{"gil_share": 0.93}]}
    _bench._finish(w, 2)
    if probe_kind == "holds-gil":
        assert len(w.warnings) == 1
        assert w.warnings[0].startswith("native-nogil-executor: the function holds the GIL (the probe")
        assert "held 93%" in w.warnings[0]
        assert "read 45%" in w.warnings[0]
    else:  # no independent measurement: the row's own median (45%) stands, below the threshold
        assert w.warnings == []


@pytest.mark.skipif(not gil_enabled(), reason="a free-threaded interpreter has no GIL to hold")
@pytest.mark.parametrize("busy", [None, "load average 3.9 on 2 cores"])
def test_a_busy_machine_is_named_in_either_direction(busy: str | None) -> None:
    """Interference pulls every share towards 0.5: a GIL-free row up, a GIL-holding one down.
    Both warnings say so when the machine looked busy."""
    w = WResult("w", "a workload", 1.0, python_tasks=4, native_tasks=4, checked_tasks=2)
    free = StrategyResult("native-nogil-executor", "the recipe", "ok", tasks=4)
    free.runs = [Run(2, 4, times=[0.1], gil_shares=[0.6, 0.7, 0.65])]
    held = StrategyResult("native-holding-gil", "holding", "ok", tasks=4)
    held.runs = [Run(2, 4, times=[0.1], gil_shares=[0.4, 0.3, 0.45])]
    w.strategies = [free, held]
    _bench._finish(w, 2, busy)
    assert [t.split(":")[0] for t in w.warnings] == ["native-nogil-executor", "native-holding-gil"]
    for text in w.warnings:
        assert ("too busy to tell (load average 3.9 on 2 cores" in text) == (busy is not None), text


def test_finish_computes_per_task_metrics_and_the_verdict() -> None:
    w = _synthetic().workloads[0]
    one, two = w.strategy("native-nogil-executor").runs
    assert one.per_task == pytest.approx(0.100 / 400)
    assert two.speedup_own == pytest.approx(0.100 / 0.052)
    assert two.efficiency == pytest.approx(0.100 / 0.052 / 2)
    # Against python-serial: per task, although the task counts differ (4 and 400).
    assert two.speedup_serial == pytest.approx((0.41 / 4) / (0.052 / 400))
    assert two.gil_share == pytest.approx(0.05)
    assert w.sweep is not None
    # Break-even is where the fitted speedup reaches 1.1: 0.6 of the way from 0.5 to 1.5 in log t.
    assert w.sweep.break_even["native-nogil-executor"].seconds == pytest.approx(10 ** (-5 + 0.6))
    assert w.sweep.pays_well["native-nogil-executor"].status == "crosses"  # 1.6 between 1.5 and 1.9
    assert w.verdict == "GIL-free threading pays above ~40 µs per task: 1.9× on 2 threads, efficiency 0.96"


def test_json_schema_round_trip() -> None:
    result = _synthetic()
    data = json.loads(result.to_json())
    assert data["schema"] == SCHEMA == "gilfree-bench/1"
    assert next(iter(data)) == "schema"
    assert set(data) == {"schema", "created", "machine", "settings", "workloads", "interrupted"}
    w = data["workloads"][0]
    assert {"name", "title", "scale", "python_tasks", "native_tasks", "checked_tasks", "strategies"} <= set(w)
    assert {"sweep", "verdict", "python_task_seconds", "native_task_seconds"} <= set(w)
    run = w["strategies"][1]["runs"][1]
    assert set(run) == {
        "threads",
        "tasks",
        "times",
        "gil_shares",
        "median",
        "spread",
        "per_task",
        "gil_share",
        "speedup_own",
        "speedup_serial",
        "efficiency",
    }
    assert set(w["sweep"]) == {"threads", "points", "break_even", "pays_well"}
    assert set(w["sweep"]["break_even"]["native-nogil-executor"]) == {
        "status",
        "seconds",
        "smallest",
        "largest",
        "level",
    }
    again = BenchResult.from_dict(data)
    assert again == result
    assert again.to_dict() == data
    with pytest.raises(ValueError):
        BenchResult.from_dict({**data, "schema": "gilfree-bench/0"})


def test_report_text_shows_rows_reasons_sweep_and_verdict() -> None:
    text = _report.report_text(_synthetic())
    assert "python-serial" in text
    assert "skipped numba-parallel: numba is not installed" in text
    assert "break-even sweep on 2 threads" in text
    assert "verdict: GIL-free threading pays above ~40 µs per task" in text
    assert "compare time per task" in text


def test_rich_report_when_installed() -> None:
    pytest.importorskip("rich")
    out = io.StringIO()
    _report.print_report(_synthetic(), out, rich=True)
    assert "native-nogil-executor" in out.getvalue()
    assert "verdict:" in out.getvalue()


def test_reports_fit_80_columns() -> None:
    """The table, notes, sweep and verdict in an 80-column terminal, nothing truncated ("…"), with
    the longest strategy names and the widest cells (a ±100% spread, a 4-digit GIL share)."""
    result = _synthetic()
    w = result.workloads[0]
    assert max(len(name) for name in STRATEGIES) <= 21
    run = w.strategies[1].runs[1]
    wide = dataclasses.replace(
        run, median=123.0, spread=1.0, per_task=0.999, gil_share=1.0, speedup_serial=123.0
    )
    names = zip(w.strategies, STRATEGIES, strict=False)
    strategies = [dataclasses.replace(s, name=name) for s, name in names]
    strategies[1] = dataclasses.replace(strategies[1], runs=[strategies[1].runs[0], wide])
    result = dataclasses.replace(result, workloads=[dataclasses.replace(w, strategies=strategies)])
    plain = _report.report_text(result)
    outputs = [plain]
    if importlib.util.find_spec("rich") is not None:
        out = io.StringIO()
        _report.print_report(result, out, rich=True)  # not a terminal: 80 columns
        outputs.append(out.getvalue())
    for text in outputs:
        lines = text.splitlines()
        too_wide = [line for line in lines if len(line.rstrip()) > 80]
        assert too_wide == []
        assert "…" not in text
        assert "±100%" in text
        assert "123×" in text
        assert "native-nogil-executor" in text


def test_plot_writes_a_png(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    from gilfree.lab import _plot

    path = tmp_path / "bench.png"
    _plot.plot(_synthetic(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- real runs ---------------------------------------------------------------------------------


@pytest.fixture
def tiny_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrinks the quick budgets: these runs check structure, not numbers."""
    small = dataclasses.replace(
        _bench._QUICK, python_seconds=0.04, native_seconds=0.02, sweep_seconds=0.002, sweep_max_tasks=100
    )
    monkeypatch.setattr(_bench, "_QUICK", small)


@pytest.fixture(scope="module")
def tiny_run() -> Iterator[BenchResult]:
    with pytest.MonkeyPatch.context() as mp:
        small = dataclasses.replace(
            _bench._QUICK, python_seconds=0.04, native_seconds=0.02, sweep_seconds=0.002, sweep_max_tasks=100
        )
        mp.setattr(_bench, "_QUICK", small)
        # As on a machine without the `peers` extra (what CI has): Numba and Cython missing.
        mp.setitem(sys.modules, "numba", None)
        mp.setitem(sys.modules, "Cython", None)
        # Three repeats: the GIL-hold shares have three readings, steadier on a busy machine.
        yield bench("count_primes", threads=(1, 2), quick=True, repeat=3)


def test_every_strategy_has_a_result_or_a_reason(tiny_run: BenchResult) -> None:
    (w,) = tiny_run.workloads
    assert [s.name for s in w.strategies] == list(STRATEGIES)
    for s in w.strategies:
        assert s.status in ("ok", "skipped"), (s.name, s.status, s.reason)
        if s.status == "skipped":
            assert s.reason
            assert not s.runs
        else:
            counts = [1] if STRATEGIES[s.name].serial else [1, 2]
            assert [r.threads for r in s.runs] == counts
            assert all(len(r.times) == 3 and r.per_task is not None for r in s.runs)
    assert w.strategy("python-processes").status == "ok"
    assert "not installed" in (w.strategy("numba-parallel").reason or "")
    assert "not installed" in (w.strategy("cython-prange").reason or "")
    assert w.checked_tasks == 2
    assert w.python_tasks is not None
    assert w.native_tasks is not None
    assert w.python_tasks % 2 == 0
    assert w.native_tasks % 2 == 0
    assert w.strategy("python-threads").tasks == w.python_tasks
    assert w.strategy("native-pool").tasks == w.native_tasks
    assert w.verdict.startswith("GIL-free threading")
    assert tiny_run.machine["cores"] == gilfree.info()["cores"]
    assert not tiny_run.interrupted


@pytest.mark.skipif(not gil_enabled(), reason="a free-threaded interpreter has no GIL to hold")
def test_gil_share_extremes(tiny_run: BenchResult) -> None:
    # Pure Python in threads holds the GIL all the time; the GIL-free kernel almost never. Wide
    # margins: measured 0.95-0.99 and 0.07-0.25 (one run in 24 at 0.49) on a quiet 2-core machine.
    # On a machine whose cores are busy with other processes (CI builds the free-threaded binding
    # beside this test), a thread descheduled while it holds the GIL for a few microseconds of
    # bookkeeping holds it for a whole time slice, and the heartbeat itself waits for a core: every
    # share moves towards 0.5 (0.63, 0.34 and 0.2 in one CI run). Interference only ever pulls a
    # reading towards the middle, so the least disturbed of the three repeats is the lowest for
    # the GIL-free row and the highest for the GIL-holding one, as the fastest time is for speed.
    w = tiny_run.workloads[0]
    assert max(w.strategy("python-threads").run(2).gil_shares) > 0.5
    assert min(w.strategy("native-nogil-executor").run(2).gil_shares) < 0.3


def test_sweep_structure(tiny_run: BenchResult) -> None:
    sweep = tiny_run.workloads[0].sweep
    assert sweep is not None
    assert sweep.threads == 2
    assert len(sweep.points) == len(WORKLOADS["count_primes"].sweep_sizes)
    assert all(p.executor_speedup is not None and p.pool_speedup is not None for p in sweep.points)
    assert all(p.tasks % 2 == 0 for p in sweep.points)
    assert set(sweep.break_even) == {"native-nogil-executor", "native-pool"}
    assert sweep.break_even["native-pool"].status in ("crosses", "always", "never")
    BenchResult.from_dict(json.loads(tiny_run.to_json()))


def _broken_twin(task: Task) -> int:
    return count_primes_python(task) + 1


def test_a_wrong_answer_is_reported_and_not_timed(tiny_budget: None) -> None:
    broken = dataclasses.replace(WORKLOADS["count_primes"], python=_broken_twin)
    result = bench(
        broken,
        threads=(1, 2),
        quick=True,
        repeat=1,
        sweep=False,
        strategies=("python-serial", "python-threads", "native-nogil-executor"),
    )
    w = result.workloads[0]
    for name in ("python-serial", "python-threads"):
        s = w.strategy(name)
        assert s.status == "wrong"
        assert s.runs == []
        assert "wrong answer on task 0" in (s.reason or "")
    assert w.strategy("native-nogil-executor").status == "ok"
    assert "WRONG ANSWER" in _report.report_text(result)


class _FakePeerUnavailable(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class _FakePeer:
    name: str
    version: str
    task_nogil: Any
    task_parallel: Any
    setup_seconds: float


def test_peers_through_the_peer_interface(tiny_budget: None, monkeypatch: pytest.MonkeyPatch) -> None:
    notes: list[str] = []

    def numba(workload: str, notify: Any) -> _FakePeer:
        notify(f"compiling {workload}")
        native = WORKLOADS[workload].native
        return _FakePeer("numba", "0.0-fake", lambda t: native(t, 1), None, 0.5)

    def cython(workload: str, notify: Any) -> _FakePeer:
        raise _FakePeerUnavailable("Cython is not installed (pip install 'gilfree[peers]')")

    fake = types.ModuleType("gilfree.lab._peers")
    fake.PEERS = {"numba": numba, "cython": cython}  # type: ignore[attr-defined]
    fake.PeerUnavailable = _FakePeerUnavailable  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gilfree.lab._peers", fake)
    monkeypatch.setattr(_bench._Progress, "note", lambda self, message: notes.append(message))
    result = bench(
        "count_primes", threads=(1, 2), quick=True, repeat=1, sweep=False, strategies=("numba-*", "cython-*")
    )
    w = result.workloads[0]
    numba_ok = w.strategy("numba-nogil-executor")
    assert (numba_ok.status, numba_ok.version, numba_ok.setup_seconds) == ("ok", "0.0-fake", 0.5)
    assert w.strategy("numba-parallel").status == "skipped"
    assert "no parallel version" in (w.strategy("numba-parallel").reason or "")
    for name in ("cython-nogil-executor", "cython-prange"):
        assert w.strategy(name).status == "skipped"
        assert w.strategy(name).reason == "Cython is not installed (pip install 'gilfree[peers]')"
    # Loaded once for both numba strategies (other notes, e.g. a busy machine's, may come first).
    assert [n for n in notes if not n.startswith("note:")] == ["compiling count_primes"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        bench("nope")
    with pytest.raises(ValueError, match="unknown strategy"):
        bench(strategies=("nope",))
    with pytest.raises(ValueError, match=">= 1"):
        bench(threads=(0, 2))
    with pytest.raises(TypeError):
        bench(threads=(1.5,))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bench(repeat=0)
    with pytest.raises(ValueError):
        bench(scale=-1.0)
    with pytest.raises(ValueError):
        bench(scale=float("nan"))


# --- the command line --------------------------------------------------------------------------


def test_cli_json(tiny_budget: None, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--workload", "sum", "--repeat", "1", "--no-sweep", "--json", str(path)]
    code = main([*argv, "--strategies", "python-serial,native-nogil-executor"])
    assert code == 0
    out = capsys.readouterr().out
    assert "native-nogil-executor" in out
    assert "verdict: GIL-free threading" in out
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA
    assert {"cpu", "cores", "python", "python_build", "gilfree_version", "threads"} <= set(data["machine"])
    assert data["settings"]["threads"] == [1, 2]
    assert [s["name"] for s in data["workloads"][0]["strategies"]] == [
        "python-serial",
        "native-nogil-executor",
    ]


def test_cli_list_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in STRATEGIES)
    assert all(name in out for name in WORKLOADS)
    for bad in (["--threads", "1,x"], ["--threads", "0"], ["--repeat", "0"], ["--size", "-2"]):
        with pytest.raises(SystemExit) as exc:
            main(["bench", *bad])
        assert exc.value.code == 2
    assert main(["bench", "--workload", "nope"]) == 2
    assert "unknown workload" in capsys.readouterr().err


_CHILD = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if our parent ignores SIGINT
from gilfree._cli import main
print("ready", flush=True)
sys.exit(main(["bench", "--workload", "mandelbrot", "--threads", "1,2"]))
"""


def test_ctrl_c_stops_at_once_with_partial_results() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=1.5)  # the full run takes far longer: let it measure something first
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert "interrupted (Ctrl-C): partial results" in out
    assert "mandelbrot" in out
    assert "Traceback" not in err


def test_gilfree_executor_strategy_gives_the_pool_size_back_to_the_environment() -> None:
    """The gilfree-executor rows size the pool to N for each run; afterwards the previous
    *setting* is back (the environment decides again), not a number pinned by set_num_threads."""
    from gilfree.lab._strategies import Setup
    from gilfree.lab._workloads import WORKLOADS

    w = WORKLOADS["sum"]
    run = STRATEGIES["gilfree-executor"].prepare(Setup(w, lambda _: None))
    tasks = w.tasks(2, scale=0.01)
    gilfree.set_num_threads(None)
    source = gilfree.info()["threads_source"]
    assert source != "set_num_threads()"
    run(tasks, 2, None)
    assert gilfree.info()["threads_source"] == source
    gilfree.set_num_threads(3)
    try:
        run(tasks, 2, None)
        assert gilfree.info()["threads_source"] == "set_num_threads()"
        assert gilfree.get_num_threads() == 3
    finally:
        gilfree.set_num_threads(None)
