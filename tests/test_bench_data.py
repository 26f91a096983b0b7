"""``benchmarks/bench_data.py`` kept from rotting: its correctness checks at tiny sizes (every row,
the peers that are installed; no Numba, whose compile takes seconds, and no b3sum needed), one
timed round of two rows, and the WRONG / n/a logic on made-up contenders."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCH / "bench_data.py"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--no-numba", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def bench_data() -> Iterator[ModuleType]:
    """The script imported as a module (its folder on sys.path, for ``_report``)."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_data

        yield bench_data
    finally:
        sys.path.remove(str(BENCH))


def test_every_check_passes_at_tiny_sizes(bench_data: ModuleType) -> None:
    proc = run("--check-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "WRONG" not in out
    assert "cpu " in out  # the CPU is named at the top
    for group in bench_data.GROUPS:
        if group != "reductions":
            assert f"\n{group} " in out, group
    for kernel in ("sum", "var", "max"):
        for axis in (0, 1):
            assert f"\n{kernel}(axis={axis}) " in out
    assert "Timing" not in out  # --check-only


def test_a_timed_round_writes_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "data.json"
    proc = run("--only", "hash_many,sort", "--repeat", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Speed table" in proc.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["rows"]) == {"hash_many_blake3", "hash_many_sha256", "sort_float64", "sort_int64"}
    verdicts = report["verdicts"]["items"]
    assert {v["kernel"] for v in verdicts} == set(report["rows"])
    assert all(v["result"] in ("PASS", "MISS", "n/a") for v in verdicts)
    np_sort = report["rows"]["sort_float64"]["contenders"]["numpy"]
    assert np_sort["timing"] is not None
    assert len(np_sort["timing"]["samples_s"]) == 1


def test_a_wrong_contender_is_reported_and_not_timed(bench_data: ModuleType) -> None:
    from _report import Contender, Timing

    data = np.arange(10.0)[::-1]
    row = bench_data.Row(
        "sort_fake",
        "sort",
        "sort fake",
        {
            "gilfree_1": Contender("gilfree_1", "gilfree threads=1", fn=lambda: np.sort(data)),
            "gilfree_all": Contender("gilfree_all", "gilfree threads=None", fn=lambda: data.copy()),
            "numpy": Contender("numpy", "np.sort", fn=lambda: np.sort(data)),
            "bad": Contender("bad", "bad peer", fn=lambda: data[:5]),
        },
        [bench_data.Target("faster", ("numpy", "bad"), 1.5, "NumPy")],
        bench_data.same_arrays,
        "numpy",
        "np.sort",
    )
    bench_data.check_row(row)
    status = {r[0]: r[-1] for r in row.check_rows}
    assert status["gilfree threads=1"] == "OK"
    assert status["gilfree threads=None"] == "WRONG"
    assert status["bad peer"] == "WRONG"
    assert row.gilfree_wrong
    assert not row.contenders["bad"].live
    assert not row.contenders["gilfree_all"].live
    assert row.contenders["gilfree_1"].live
    timings = {"sort_fake/numpy": Timing((1.0,)), "sort_fake/gilfree_1": Timing((0.5,))}
    [verdict] = bench_data.evaluate([row], timings, "min")
    assert verdict.result == "MISS"
    assert "WRONG" in verdict.measured


def test_missing_kernels_and_axis_are_n_a(bench_data: ModuleType) -> None:
    assert bench_data.gilfree_na("no_such_kernel") == "n/a: gilfree.no_such_kernel not available"

    def refuses(fn: object) -> None:
        raise TypeError("sum() got an unexpected keyword argument 'axis'")

    assert bench_data.gilfree_na("sum", refuses, "axis= not supported") == (
        "n/a: gilfree.sum: axis= not supported (TypeError)"
    )
    pair = bench_data.gilfree_pair("no_such_kernel", lambda f, t: f(), None)
    assert [c.missing for c in pair] == ["n/a: gilfree.no_such_kernel not available"] * 2


def test_exact_distance_and_blas_trick(bench_data: ModuleType) -> None:
    x = np.array([[3.0, 0.0], [1e8, 1.0]])
    y = np.array([[0.0, 4.0], [1e8, 0.0]])
    assert bench_data.exact_distance(x[0], y[0]) == 5.0
    assert bench_data.exact_distance(x[1], y[1]) == 1.0
    d = bench_data.blas_trick(x, y)
    assert d[0, 0] == pytest.approx(5.0)
    assert bench_data.split_at_whitespace("ab cd ef") == ["ab cd", " ef"]


def test_rows_of_kernels_still_to_come_run_once_they_exist(
    bench_data: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """histogram, bincount, pairwise_distances and axis= reductions are written against the
    signatures other branches are adding: stand-ins with those signatures (NumPy inside)
    go through the checks, the timing and the verdicts like any gilfree kernel."""
    import gilfree

    def histogram(
        a: np.ndarray, bins: int = 10, range: object = None, *, threads: int | None = None
    ) -> object:
        return np.histogram(a, bins, range)

    def bincount(
        x: np.ndarray, weights: object = None, minlength: int = 0, *, threads: int | None = None
    ) -> object:
        return np.bincount(x, weights, minlength)

    def pairwise_distances(
        x: np.ndarray, y: np.ndarray | None = None, *, metric: str = "euclidean", threads: int | None = None
    ) -> np.ndarray:
        d: np.ndarray = np.sqrt(((x[:, None, :] - (x if y is None else y)[None, :, :]) ** 2).sum(axis=2))
        return d

    def with_axis(name: str) -> object:
        fn = getattr(np, name)
        return lambda a, axis=None, *, threads=None: fn(a, axis=axis)

    monkeypatch.setattr(gilfree, "histogram", histogram, raising=False)
    monkeypatch.setattr(gilfree, "bincount", bincount, raising=False)
    monkeypatch.setattr(gilfree, "pairwise_distances", pairwise_distances, raising=False)
    for name in ("sum", "var", "max"):
        monkeypatch.setattr(gilfree, name, with_axis(name))
    out = tmp_path / "future.json"
    groups = "histogram,bincount,pairwise_distances,reductions"
    status = bench_data.main(["--tiny", "--no-numba", "--only", groups, "--repeat", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "not available" not in printed
    assert "not supported" not in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    for name, row in report["rows"].items():
        assert row["gilfree_na"] is None, name
        assert row["contenders"]["gilfree_all"]["timing"] is not None, name
    verdicts = report["verdicts"]["items"]
    assert len(verdicts) == 11
    # n/a only where a peer is not there (--no-numba; SciPy's cdist if it is not installed).
    assert all(v["result"] in ("PASS", "MISS") for v in verdicts if "skipped" not in v["measured"]), verdicts
    assert report["rows"]["pairwise_distances"]["errors"]["gilfree_all"] < 1e-12
