"""``gilfree probe``: the verdict rules on synthetic measurements, the four cases of issue 4 told
apart on this machine, argument checks, errors, Ctrl-C and the command line.

Nothing here asserts on a timing. The measured cases assert on the verdict's kind, and where the
kind depends on free cores (a busy shared machine cannot show scaling) on the set of honest kinds.
"""

from __future__ import annotations

import doctest
import functools
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gilfree
import gilfree.lab
from gilfree._cli import main
from gilfree.lab import _probe
from gilfree.lab._gil import gil_enabled
from gilfree.lab._probe import KINDS, ProbeResult, ProbeRow, verdict

FAST: dict[str, Any] = {"threads": (1, 2), "repeat": 3, "min_time": 0.05}


def python_loop() -> int:
    total = 0
    for i in range(20_000):
        total += i * i
    return total


def row(n: int, speedup: float, share: float, cpu: float, cores: int = 2) -> ProbeRow:
    return ProbeRow(
        threads=n,
        wall=1.0,
        walls=(1.0,),
        calls_per_s=10.0 * speedup,
        per_call=0.1,
        speedup=speedup,
        efficiency=speedup / n,
        core_efficiency=speedup / min(n, cores),
        gil_share=share,
        cpu=cpu,
    )


# --- the verdict rules, on synthetic measurements ------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "cores", "free", "kind", "words"),
    [
        # pure Python: share high, flat throughput
        ([row(1, 1, 0.95, 1.0), row(2, 1.01, 0.97, 1.0), row(4, 0.98, 0.97, 1.0)], 2, 2.0, "holds-gil",
         ["share 0.95", "1.01x on 2 threads", "processes"]),
        # hashlib on an idle machine
        ([row(1, 1, 0.01, 1.0), row(2, 1.9, 0.02, 1.9), row(4, 1.92, 0.02, 1.95)], 2, 2.0, "scales",
         ["1.90x on 2 threads", "efficiency 0.95"]),
        # time.sleep: scales with N, no CPU
        ([row(1, 1, 0.01, 0.02), row(2, 2.0, 0.01, 0.03), row(4, 4.0, 0.01, 0.03)], 2, 2.0, "not-cpu",
         ["0.02 cores busy", "4.00x on 4 threads", "not CPU work"]),
        # a gilfree kernel with threads=None on 2 cores
        ([row(1, 1, 0.0, 1.9), row(2, 1.04, 0.0, 1.95)], 2, 2.0, "already-parallel",
         ["1.9 cores busy", "1.04x on 2 threads"]),
        # GIL released, no speedup, machine idle: memory-bound or a lock
        ([row(1, 1, 0.02, 1.0), row(2, 1.05, 0.02, 1.0)], 2, 2.0, "no-scaling",
         ["does not scale", "a lock"]),
        # the same on a busy machine: the verdict says so
        ([row(1, 1, 0.02, 1.0), row(2, 1.05, 0.02, 1.0)], 2, 1.1, "no-scaling",
         ["1.1 of 2 cores were free", "quieter machine"]),
        # partly holds the GIL
        ([row(1, 1, 0.35, 1.0), row(2, 1.1, 0.5, 1.0)], 2, 2.0, "no-scaling", ["part of the time"]),
        ([row(1, 1, 0.3, 1.0), row(2, 1.5, 0.4, 1.5)], 2, 2.0, "scales", ["30% of the time"]),
        # scaling could not be measured
        ([row(1, 1, 0.01, 1.0)], 2, None, "releases-gil", ["probe with more threads"]),
        ([row(1, 1, 0.01, 1.0), row(2, 1.0, 0.01, 1.0)], 1, 1.0, "releases-gil", ["one core"]),
        # one thread only still tells holding, waiting and parallel apart
        ([row(1, 1, 0.9, 1.0)], 2, None, "holds-gil", ["share 0.90"]),
        ([row(1, 1, 0.0, 0.01)], 2, None, "not-cpu", ["0.01 cores busy"]),
        ([row(1, 1, 0.0, 1.8)], 2, None, "already-parallel", ["1.8 cores busy"]),
        # already parallel and still scaling (many cores): measurement wins, the text says both
        ([row(1, 1, 0.0, 1.5, 16), row(4, 3.2, 0.0, 4.8, 16)], 16, 16.0, "scales",
         ["3.20x on 4 threads", "already keeps 1.5 cores busy"]),
        # a GIL-holding call "scaling" on a busy machine: the share wins, the text calls it noise
        ([row(1, 1, 0.84, 1.0), row(2, 1.5, 0.9, 1.0)], 2, 0.7, "holds-gil",
         ["share 0.84", "1.50x on 2 threads measured is noise", "0.7 of 2 cores were free"]),
    ],
)  # fmt: skip
def test_verdict_rules(
    rows: list[ProbeRow], cores: int, free: float | None, kind: str, words: list[str]
) -> None:
    got_kind, text = verdict(rows, cores, free)
    assert got_kind == kind, text
    assert got_kind in KINDS
    for w in words:
        assert w in text, (w, text)


def test_verdict_reports_the_fewest_threads_near_the_best_speedup() -> None:
    rows = [row(1, 1, 0.01, 1.0), row(2, 1.9, 0.01, 1.9), row(4, 1.95, 0.01, 2.0), row(8, 1.7, 0.01, 2.0)]
    assert "1.90x on 2 threads" in verdict(rows, 2)[1]
    rows = [row(1, 1, 0.01, 1.0), row(2, 1.4, 0.01, 1.4), row(4, 3.6, 0.01, 3.6)]
    assert "3.60x on 4 threads" in verdict(rows, 8)[1]


def test_verdict_needs_the_one_thread_row() -> None:
    with pytest.raises(ValueError, match="1-thread"):
        verdict([row(2, 1.0, 0.0, 1.0)], 2)


def test_verdict_rows_in_any_order() -> None:
    rows = [row(2, 1.9, 0.01, 1.9), row(1, 1, 0.01, 1.0)]
    assert verdict(rows, 2)[0] == "scales"


# --- the four cases of the issue, measured -------------------------------------------------------


def _check_result(r: ProbeResult, counts: tuple[int, ...] = (1, 2)) -> None:
    assert isinstance(r, ProbeResult)
    assert tuple(x.threads for x in r.rows) == counts
    assert r.kind in KINDS
    assert r.number >= 1
    assert r.rows[0].speedup == pytest.approx(1.0)
    assert 0.0 < r.free_cores <= r.cores
    assert len(r.free_samples) == r.repeat + 1
    for x in r.rows:
        assert 0.0 <= x.gil_share <= 1.0
        assert x.cpu >= 0.0
        assert len(x.walls) == r.repeat
        assert x.wall == pytest.approx(sorted(x.walls)[len(x.walls) // 2])
        assert x.calls_per_s == pytest.approx(x.threads * r.number / x.wall)
        assert x.efficiency == pytest.approx(x.speedup / x.threads)
        assert x.core_efficiency == pytest.approx(x.speedup / min(x.threads, r.cores))
    assert (r.kind, r.verdict) == verdict(r.rows, r.cores, r.free_cores)
    text = r.format()
    assert r.verdict in text
    assert r.name in text


@pytest.mark.skipif(not gil_enabled(), reason="a free-threaded interpreter has no GIL to hold")
def test_pure_python_holds_the_gil() -> None:
    r = gilfree.probe(python_loop, **FAST)
    _check_result(r)
    assert r.kind == "holds-gil", r.format()
    assert r.rows[0].gil_share > 0.5


def test_hashlib_on_one_mib_releases_the_gil_and_is_cpu_work() -> None:
    data = b"\x5a" * (1 << 20)
    r = gilfree.probe(hashlib.sha256, data, **FAST)
    _check_result(r)
    # "scales" on 2 free cores; "no-scaling" with the busy-machine note when other work runs.
    assert r.kind in ("scales", "no-scaling"), r.format()
    assert r.rows[0].gil_share < 0.3, r.format()
    if r.kind == "no-scaling" and r.free_cores < _probe.BUSY_FRACTION * min(2, r.cores):
        assert "quieter machine" in r.verdict


def test_sleep_releases_the_gil_but_is_not_cpu_work() -> None:
    r = gilfree.probe(time.sleep, 0.002, **FAST)
    _check_result(r)
    assert r.kind == "not-cpu", r.format()
    assert r.rows[0].gil_share < 0.3
    assert r.rows[0].cpu < 0.15


def test_gilfree_kernel_on_one_thread_releases_the_gil() -> None:
    r = gilfree.probe(functools.partial(gilfree.mandelbrot, 200, 150, threads=1), **FAST)
    _check_result(r)
    assert r.kind in ("scales", "no-scaling"), r.format()
    assert r.rows[0].gil_share < 0.3, r.format()


def test_gilfree_kernel_on_its_pool() -> None:
    r = gilfree.probe(gilfree.mandelbrot, 200, 150, **FAST)
    _check_result(r)
    # Keeps every free core busy from one thread: "already-parallel" on an idle multi-core
    # machine; a busy (or one-core) machine leaves one core, and then threads look like threads=1.
    assert r.kind in ("already-parallel", "scales", "no-scaling", "releases-gil"), r.format()
    assert r.kind not in ("holds-gil", "not-cpu")
    assert r.rows[0].gil_share < 0.3, r.format()


@pytest.mark.skipif(not gil_enabled(), reason="a free-threaded interpreter has no GIL to hold")
def test_holding_the_gil_in_native_code_is_seen() -> None:
    spin = functools.partial(gilfree._native._testing.spin_holding_gil, 1, 2)
    r = gilfree.probe(spin, **FAST)
    assert r.kind == "holds-gil", r.format()


# --- the API ------------------------------------------------------------------------------------


def test_exported() -> None:
    assert gilfree.probe is gilfree.lab.probe is _probe.probe
    assert "probe" in gilfree.__all__
    assert {"probe", "ProbeResult"} <= set(gilfree.lab.__all__)
    assert gilfree.__all__ == sorted(gilfree.__all__)


def test_arguments_are_passed_through_and_threads_normalised() -> None:
    seen: list[tuple[Any, ...]] = []

    def fn(a: int, *, b: int) -> None:
        seen.append((a, b))

    r = gilfree.probe(fn, 1, b=2, threads=[4, 2, 2], number=3, repeat=2, min_time=0.01, name="fn!")
    assert set(seen) == {(1, 2)}
    # 1 warm-up call, then per N: (repeat + 1 monitored) runs of N threads x number calls
    assert len(seen) == 1 + sum((2 + 1) * n * 3 for n in (1, 2, 4))
    assert tuple(x.threads for x in r.rows) == (1, 2, 4)  # sorted, deduplicated, 1 added
    assert (r.number, r.repeat, r.name) == (3, 2, "fn!")


def test_calibration_reaches_min_time() -> None:
    r = gilfree.probe(time.sleep, 0.001, threads=(1,), repeat=1, min_time=0.05)
    # ~50 calls of >= 1 ms; a run must have lasted at least min_time (sleep never ends early).
    assert r.rows[0].wall >= 0.05
    assert r.number >= 10


def test_to_dict_is_json() -> None:
    r = gilfree.probe(len, "abc", threads=(1, 2), repeat=1, min_time=0.01)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["kind"] == r.kind
    assert d["verdict"] == r.verdict
    assert [x["threads"] for x in d["rows"]] == [1, 2]
    assert set(d["rows"][0]) == {f.name for f in ProbeRow.__dataclass_fields__.values()}
    assert r.row(2).threads == 2
    with pytest.raises(KeyError):
        r.row(3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threads": 4}, TypeError, "sequence of positive ints"),
        ({"threads": "124"}, TypeError, "sequence of positive ints"),
        ({"threads": ()}, ValueError, "empty"),
        ({"threads": (1, 0)}, ValueError, "got 0"),
        ({"threads": (1, -2)}, ValueError, "got -2"),
        ({"threads": (1, 10**6)}, ValueError, "at most"),
        ({"threads": (1, 2.0)}, TypeError, "2.0"),
        ({"threads": (True,)}, TypeError, "True"),
        ({"repeat": 0}, ValueError, "repeat"),
        ({"repeat": 1.5}, TypeError, "repeat"),
        ({"number": 0}, ValueError, "number"),
        ({"number": "3"}, TypeError, "number"),
        ({"min_time": 0}, ValueError, "min_time"),
        ({"min_time": math.nan}, ValueError, "min_time"),
        ({"min_time": math.inf}, ValueError, "min_time"),
        ({"min_time": "1"}, TypeError, "min_time"),
        ({"name": 3}, TypeError, "name"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    calls: list[int] = []
    with pytest.raises(error, match=match):
        gilfree.probe(calls.append, 1, **kwargs)
    assert calls == []  # checked before anything runs


def test_not_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        gilfree.probe(42)  # type: ignore[arg-type]


def test_exception_on_the_first_call_propagates() -> None:
    def broken() -> None:
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom") as info:
        gilfree.probe(broken, min_time=0.01)
    if sys.version_info >= (3, 11):
        assert any("first call" in n for n in info.value.__notes__)


def test_exception_in_a_worker_thread_propagates() -> None:
    lock = threading.Lock()
    count = [0]

    def fails_later() -> None:
        with lock:
            count[0] += 1
            if count[0] > 5:
                raise KeyError("late")

    with pytest.raises(KeyError, match="late") as info:
        gilfree.probe(fails_later, number=100, threads=(1, 2), min_time=0.01)
    if sys.version_info >= (3, 11):
        assert any("thread 1 of 1" in n for n in info.value.__notes__)
    assert count[0] < 100  # the run stopped at the first failure
    for t in threading.enumerate():
        if t.name.startswith("gilfree-probe"):
            t.join(10)  # ended its work already; only leaving the thread
            assert not t.is_alive()


def test_docstring_examples() -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(_probe, _probe.__name__, globs={}):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted >= 6
    assert failed == 0


# --- the command line ----------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["probe", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_table_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "probe.json"
    rc, out, _ = run_cli(
        capsys, "-s", "import time", "-s", "t = 0.002", "-t", "1,2", "-r", "1", "--min-time", "0.03",
        "--json", str(path), "time.sleep(t)",
    )  # fmt: skip
    assert rc == 0
    assert "verdict: releases the GIL but mostly waits" in out
    assert "time.sleep(t)" in out
    d = json.loads(path.read_text())
    assert d["kind"] == "not-cpu"
    assert [x["threads"] for x in d["rows"]] == [1, 2]


def test_cli_json_to_stdout_and_multiline_statement(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(
        capsys, "-n", "2", "-r", "1", "-t", "1", "--json", "-", "x = [1, 2]", "y = sorted(x)"
    )
    assert rc == 0
    d = json.loads(out)
    assert d["number"] == 2
    assert d["name"] == "x = [1, 2] / y = sorted(x)"


@pytest.mark.parametrize(
    ("argv", "rc", "message"),
    [
        (["-n", "1", "1/0"], 1, "the statement raised"),
        (["-s", "import no_such_module_here", "pass"], 1, "the setup raised"),
        (["-n", "1", "def ("], 2, "syntax error in <stmt>"),
        (["-s", "x = (", "pass"], 2, "syntax error in <setup>"),
    ],
)
def test_cli_errors(capsys: pytest.CaptureFixture[str], argv: list[str], rc: int, message: str) -> None:
    got, _, err = run_cli(capsys, *argv)
    assert got == rc
    assert message in err


@pytest.mark.parametrize("bad", [["-t", "0"], ["-t", "a,b"], ["-r", "0"], ["--min-time", "-1"], []])
def test_cli_bad_options(capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["probe", *bad, *(["pass"] if bad else [])])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_cli_leaves_sys_path_alone(capsys: pytest.CaptureFixture[str]) -> None:
    before = list(sys.path)
    run_cli(capsys, "-n", "1", "-r", "1", "-t", "1", "pass")
    run_cli(capsys, "-n", "1", "1/0")
    assert sys.path == before


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gilfree", "probe", "-n", "2", "-r", "1", "-t", "1,2", "len('abc')"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verdict:" in proc.stdout


# --- Ctrl-C ---------------------------------------------------------------------------------------

CHILD = """
import signal, sys
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
from gilfree._cli import main
print("ready", flush=True)
sys.exit(main({argv!r}))
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize(
    "stmt",
    [
        "time.sleep(0.001)",  # workers waiting
        "sum(range(10_000))",  # workers holding the GIL
        "gilfree.mandelbrot(300, 200, threads=1)",  # workers in a GIL-free kernel
    ],
)
def test_ctrl_c_stops_promptly(stmt: str) -> None:
    argv = ["probe", "-s", "import time, gilfree", "-n", "1000000", "-t", "1,2", stmt]
    script = CHILD.format(argv=argv)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # past the warm-up: the worker threads are running
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)  # the hang bound, not a performance target
        print(f"{stmt}: stopped {time.monotonic() - sent:.2f} s after SIGINT")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
