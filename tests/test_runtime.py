"""The engine and the one call path: ``threads=`` and the pool size, ``gilfree info``, GIL release,
panic capture, many Python threads at once, and fork.

Everything that depends on a fresh process (environment variables, whether the pool has started,
fork) runs in a subprocess of ``sys.executable``. No test asserts a duration: where behaviour is
shown by how much another thread got done, the assertion compares counts with a wide margin.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _pool import CHILD_IMPORT, pool_threads

import gilfree
from gilfree._native import _testing

LINUX = sys.platform.startswith("linux")
GIL_ENABLED = gilfree.info()["gil_enabled"]
FREE_THREADED_BUILD = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
CHUNK_LEN = gilfree.info()["reduce_chunk_len"]
# Arrays of many chunks (the calling thread asks for workers after its first chunk).
GRAIN = 12

needs_gil = pytest.mark.skipif(not GIL_ENABLED, reason="measures who holds the GIL; there is none")
needs_proc = pytest.mark.skipif(not LINUX, reason="counts threads by name in /proc/self/task")

# Many chunks, so threads=None really goes to the pool; exact in float64 (integers < 2**53).
# Enough chunks for 4 workers to get a grain each, the last chunk partial.
MULTI_CHUNK = np.arange((4 * GRAIN + 1) * CHUNK_LEN + 123, dtype=np.float64)
MULTI_CHUNK_SUM = float(MULTI_CHUNK.size * (MULTI_CHUNK.size - 1) // 2)


# --- helpers ---------------------------------------------------------------------------------


def wait_for_workers(n: int, *, at_most: bool = False, within_s: float = 10.0) -> int:
    """Waits until exactly ``n`` (or, with ``at_most``, at most ``n``) pool workers are alive and
    returns the last count.

    Worker threads name themselves once they run and exit asynchronously after a resize, so the
    count lags the pool for a moment. The wait is a hang detector, not a timing.
    """
    deadline = time.monotonic() + within_s
    count = pool_threads()
    while (count > n if at_most else count != n) and time.monotonic() < deadline:
        time.sleep(0.01)
        count = pool_threads()
    return count


# Prepended to child scripts: the same worker count, waiting for it to settle.
CHILD_PRELUDE = (
    """
import json, os, threading, time

import numpy as np

import gilfree
"""
    + CHILD_IMPORT
)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GILFREE_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_python(code: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter (this one) and returns the finished process."""
    return subprocess.run(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code)],
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def child_json(code: str, **env: str) -> Any:
    """Runs ``code``, which must print one JSON document as its last line, and parses it."""
    proc = run_python(code, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def progress_of_other_thread(kernel: Callable[[], object]) -> int:
    """How far the main thread counts while ``kernel`` runs in a worker thread.

    The main thread increments a counter in a loop until the worker is done. The worker reads the
    counter right before and right after its call, so only increments made while the call ran
    are counted (thread start-up and shutdown are excluded). If the call holds the GIL, the main
    thread cannot run Python at all during it, except around the call's edges when the
    interpreter forces a switch (one switch interval, 5 ms by default).
    """
    counter = [0]
    window: list[int] = []
    done = threading.Event()

    def worker() -> None:
        try:
            before = counter[0]
            kernel()
            after = counter[0]
            window.append(after - before)
        finally:
            done.set()

    thread = threading.Thread(target=worker, name="kernel-caller")
    thread.start()
    n = 0
    while not done.is_set():
        n += 1
        counter[0] = n
    thread.join()
    assert window, "the kernel raised in the worker thread"
    return window[0]


# --- threads= ----------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [None, 1, 2, 3, 64, np.int64(2), np.int32(3), 10**30])
def test_threads_accepted(threads: Any) -> None:
    # 64 and 10**30 exceed the pool: capped at its size, "all the workers there are".
    assert gilfree.sum(MULTI_CHUNK, threads=threads) == MULTI_CHUNK_SUM
    assert gilfree.sum(np.arange(10.0), threads=threads) == 45.0  # small input: attached path


@pytest.mark.parametrize("threads", [0, -1, -(10**30), np.int64(0)])
@pytest.mark.parametrize("size", [10, MULTI_CHUNK.size])
def test_threads_value_error(threads: Any, size: int) -> None:
    with pytest.raises(ValueError, match="threads"):
        gilfree.sum(MULTI_CHUNK[:size], threads=threads)


@pytest.mark.parametrize("threads", [1.5, 2.0, "2", True, False, [2], object()])
@pytest.mark.parametrize("size", [10, MULTI_CHUNK.size])
def test_threads_type_error(threads: Any, size: int) -> None:
    with pytest.raises(TypeError, match="threads"):
        gilfree.sum(MULTI_CHUNK[:size], threads=threads)


@needs_proc
@pytest.mark.parametrize("threads", [2, 64, 10**30, None])
def test_threads_capped_at_pool_size(threads: Any) -> None:
    # threads=64 on a smaller pool runs on the pool's workers: no bigger pool, no extra threads.
    # (The waits let an earlier test's resized-away pool finish exiting; the pool's own workers
    # stay, so a call that grew the pool would still be seen.)
    n = gilfree.get_num_threads()
    wait_for_workers(n, at_most=True)
    assert _testing.spin(8, 5, threads=threads) == 8
    assert wait_for_workers(n, at_most=True) <= n


def test_threads_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        gilfree.sum(MULTI_CHUNK, 2)  # type: ignore[misc]


# --- set_num_threads / get_num_threads ---------------------------------------------------------


def test_num_threads_round_trip(restore_num_threads: int) -> None:
    assert restore_num_threads >= 1
    for n in (1, 3, 2, 7, restore_num_threads):
        gilfree.set_num_threads(n)
        assert gilfree.get_num_threads() == n
        assert gilfree.info()["threads"] == n
        assert gilfree.info()["threads_source"] == "set_num_threads()"
        # Every size gives the same (exact) answer.
        assert gilfree.sum(MULTI_CHUNK) == MULTI_CHUNK_SUM
    gilfree.set_num_threads(np.int64(2))  # __index__ ints are ints
    assert gilfree.get_num_threads() == 2
    gilfree.set_num_threads(1024)  # the documented maximum; no pool is built until a call needs it
    assert gilfree.get_num_threads() == 1024


@pytest.mark.parametrize("n", [0, -1, 1025, 10**30, -(10**30)])
def test_set_num_threads_value_error(n: int, restore_num_threads: int) -> None:
    with pytest.raises(ValueError):
        gilfree.set_num_threads(n)
    assert gilfree.get_num_threads() == restore_num_threads  # unchanged


@pytest.mark.parametrize("n", [True, False, 2.0, "3"])
def test_set_num_threads_type_error(n: Any, restore_num_threads: int) -> None:
    with pytest.raises(TypeError):
        gilfree.set_num_threads(n)
    assert gilfree.get_num_threads() == restore_num_threads  # unchanged


def test_set_num_threads_error_messages_are_accurate(restore_num_threads: int) -> None:
    # Each message names the argument, offers None (set_num_threads(None) resets to the
    # environment's size: tests/test_budget.py), and reports the value that was passed.
    cases: list[tuple[Any, type[Exception], str]] = [
        (True, TypeError, "bool"),
        (2.0, TypeError, "float"),
        (0, ValueError, "0"),
        (-1, ValueError, "-1"),
        (1025, ValueError, "1025"),
        (10**30, ValueError, str(10**30)),
    ]
    problems = []
    for value, exc, shown in cases:
        with pytest.raises(exc) as info:
            gilfree.set_num_threads(value)
        message = str(info.value)
        if "n " not in message or "or None" not in message or shown not in message:
            problems.append(f"set_num_threads({value!r}): {type(info.value).__name__}: {message}")
    assert not problems, "\n".join(problems)


@needs_proc
def test_resize_replaces_the_workers(restore_num_threads: int) -> None:
    # After a resize the old pool's threads exit and the new pool has exactly n workers. A budget
    # of one thread is the calling thread: a direct call then starts no pool at all.
    for n in (3, 1, 2, 4):
        gilfree.set_num_threads(n)
        assert gilfree.sum(MULTI_CHUNK) == MULTI_CHUNK_SUM
        expected = n if n > 1 else 0
        assert wait_for_workers(expected) == expected


@needs_proc
@pytest.mark.timeout(60)
def test_resize_while_a_call_runs(restore_num_threads: int) -> None:
    # The running call finishes on the pool it started on; later calls use the new size; the old
    # pool's workers exit once that call returned.
    gilfree.set_num_threads(2)
    assert gilfree.sum(MULTI_CHUNK) == MULTI_CHUNK_SUM
    outcome: list[object] = []
    started = threading.Event()

    def long_call() -> None:
        started.set()
        outcome.append(_testing.spin(40, 20, threads=None))  # ~0.4 s on 2 workers

    t = threading.Thread(target=long_call)
    t.start()
    started.wait()
    time.sleep(0.05)
    gilfree.set_num_threads(3)
    assert gilfree.get_num_threads() == 3
    assert gilfree.sum(MULTI_CHUNK) == MULTI_CHUNK_SUM  # on a new pool of 3, alongside the old one
    t.join()
    assert outcome == [40]
    assert wait_for_workers(3) == 3


def test_env_var_sizes_the_pool() -> None:
    facts = child_json(
        """
        before = gilfree.info()
        gilfree.sum(np.ones(48 * 65536))  # a grain of 12 chunks for each of 3 workers
        after = gilfree.info()
        workers = settled_workers(3)
        gilfree.set_num_threads(2)
        print(json.dumps({
            "n": gilfree.get_num_threads(), "before": before, "after": after,
            "workers": workers, "overridden": gilfree.info(),
        }))
        """,
        GILFREE_NUM_THREADS="3",
    )
    assert facts["before"]["threads"] == 3
    assert facts["before"]["threads_source"] == "GILFREE_NUM_THREADS"
    assert facts["before"]["pool_started"] is False
    assert facts["after"]["pool_started"] is True
    if LINUX:
        assert facts["workers"] == 3
    # set_num_threads() overrides the environment variable.
    assert facts["n"] == 2
    assert facts["overridden"]["threads_source"] == "set_num_threads()"


@pytest.mark.parametrize("raw", ["abc", "0", "-2", "1025", "", "3.0"])
def test_invalid_env_var_is_ignored(raw: str) -> None:
    facts = child_json(
        "print(json.dumps([gilfree.get_num_threads(), gilfree.info()]))",
        GILFREE_NUM_THREADS=raw,
    )
    n, info = facts
    assert n == info["cores"] == info["threads"]
    source = info["threads_source"]
    assert source.startswith("number of cores"), source
    assert "GILFREE_NUM_THREADS" in source
    assert "ignored" in source
    assert repr(raw) in source or f'"{raw}"' in source


def test_env_var_whitespace_is_trimmed() -> None:
    n = child_json("print(gilfree.get_num_threads())", GILFREE_NUM_THREADS=" 3 ")
    assert n == 3


# --- when the pool starts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "starts_pool"),
    [
        ("gilfree.sum(np.ones(10))", False),  # attached path, < 2048 bytes
        (f"gilfree.sum(np.ones({CHUNK_LEN}))", False),  # one chunk: on the caller
        (f"gilfree.sum(np.ones(50 * {CHUNK_LEN}), threads=1)", False),  # threads=1: never the pool
        # Two chunks: after the first, the work left (a chunk, ~10 us) is worth a worker.
        (f"gilfree.sum(np.ones(2 * {CHUNK_LEN}))", True),
        (f"gilfree.sum(np.ones(2 * {GRAIN} * {CHUNK_LEN}), threads=2)", True),
    ],
)
def test_when_the_pool_starts(call: str, starts_pool: bool) -> None:
    facts = child_json(
        f"""
        {call}
        print(json.dumps([gilfree.info()["pool_started"], settled_workers({2 if starts_pool else 0})]))
        """,
        GILFREE_NUM_THREADS="2",
    )
    started, workers = facts
    assert started is starts_pool
    if LINUX:
        assert workers == (2 if starts_pool else 0)


# --- gilfree info ------------------------------------------------------------------------------

INFO_KEYS = {
    "version",
    "profile",
    "python",
    "free_threaded",
    "gil_enabled",
    "threads",
    "threads_source",
    "pool_started",
    "cores",
    "cpu",
    "cpu_features",
    "target",
    "detach_min_bytes",
    "reduce_chunk_len",
    "fan_out_min_us",
    "linger_us",
    "pid",
}


def test_info_keys_and_values() -> None:
    facts = gilfree.info()
    assert set(facts) == INFO_KEYS
    assert facts["version"] == gilfree.__version__
    assert facts["profile"] in {"release", "debug"}
    assert facts["threads"] == gilfree.get_num_threads()
    assert facts["cores"] >= 1
    assert facts["pid"] == os.getpid()
    assert facts["detach_min_bytes"] == 2048
    assert facts["reduce_chunk_len"] == 65536
    assert isinstance(facts["cpu_features"], list)
    assert isinstance(facts["pool_started"], bool)
    assert facts["free_threaded"] is FREE_THREADED_BUILD
    assert facts["python"].endswith(".".join(map(str, sys.version_info[:3])))
    json.dumps(facts)  # all of it is JSON-serialisable


@pytest.mark.skipif(FREE_THREADED_BUILD, reason="a free-threaded interpreter")
def test_info_on_a_gil_interpreter() -> None:
    facts = gilfree.info()
    assert facts["free_threaded"] is False
    assert facts["gil_enabled"] is True


def _console_script() -> Path:
    script = Path(sys.executable).parent / ("gilfree.exe" if os.name == "nt" else "gilfree")
    assert script.exists(), f"the gilfree console script is not installed next to {sys.executable}"
    return script


@pytest.mark.parametrize("how", ["script", "module"])
def test_cli_info(how: str) -> None:
    cmd = [str(_console_script())] if how == "script" else [sys.executable, "-m", "gilfree"]
    proc = subprocess.run(
        [*cmd, "info"], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("gilfree ")
    assert gilfree.__version__ in out
    for label in ("python", "free-threaded", "GIL", "threads", "cores", "cpu", "reduce chunk"):
        assert any(line.startswith(label) for line in out.splitlines()), (label, out)
    threads_line = next(line for line in out.splitlines() if line.startswith("threads"))
    assert "number of cores" in threads_line
    if not FREE_THREADED_BUILD:
        assert ["GIL", "enabled"] in [line.split() for line in out.splitlines()]
        assert ["free-threaded", "no"] in [line.split() for line in out.splitlines()]


@pytest.mark.parametrize("how", ["script", "module"])
def test_cli_info_json(how: str) -> None:
    cmd = [str(_console_script())] if how == "script" else [sys.executable, "-m", "gilfree"]
    proc = subprocess.run(
        [*cmd, "info", "--json"],
        env=child_env(GILFREE_NUM_THREADS="3"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert set(facts) == INFO_KEYS
    assert facts["threads"] == 3
    assert facts["threads_source"] == "GILFREE_NUM_THREADS"
    assert facts["version"] == gilfree.__version__
    assert facts["pool_started"] is False
    if not FREE_THREADED_BUILD:
        assert facts["free_threaded"] is False
        assert facts["gil_enabled"] is True


def test_cli_without_command_prints_help() -> None:
    proc = subprocess.run(
        [str(_console_script())], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "info" in proc.stdout


# --- the GIL is released -----------------------------------------------------------------------


@needs_gil
def test_spin_releases_the_gil_and_spin_holding_gil_does_not() -> None:
    # ~0.6 s of work each: 30 tasks of 20 ms on the calling thread.
    released = progress_of_other_thread(lambda: _testing.spin(30, 20, threads=1))
    held = progress_of_other_thread(lambda: _testing.spin_holding_gil(30, 20))
    print(f"main-thread increments: GIL released {released}, GIL held {held}")
    # Released: the main thread counts for the whole 0.6 s (millions of increments). Held: only
    # around the call's edges (about one switch interval). Wide margins, no time measured.
    assert released > 10_000
    assert released >= 10 * held


@needs_gil
@pytest.mark.parametrize("threads", [None, 1])
def test_a_reduction_releases_the_gil(threads: int | None) -> None:
    # 40M float64 (320 MB) sums in a few ms on a fast machine, so "the other thread made a lot of
    # progress" would not tell released from held there. Instead, lengthen the switch interval
    # to 0.1 s: a thread that holds the GIL then keeps it for the whole call (nobody may ask for it
    # before 0.1 s), so the other thread's count stays at 0 across the call; it moves only if the
    # call releases the GIL. The GIL-holding kernel is the control, with the same short duration.
    a = np.ones(40_000_000, dtype=np.float64)
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.1)
    try:
        released = progress_of_other_thread(lambda: gilfree.sum(a, threads=threads))
        held = progress_of_other_thread(lambda: _testing.spin_holding_gil(1, 5))
    finally:
        sys.setswitchinterval(before)
    print(f"main-thread increments: during gilfree.sum {released}, during spin_holding_gil {held}")
    assert released > 10_000
    assert released >= 10 * (held + 1)


# --- panics ------------------------------------------------------------------------------------


def test_kernel_error_is_a_runtime_error() -> None:
    assert gilfree.KernelError is gilfree._native.KernelError
    assert issubclass(gilfree.KernelError, RuntimeError)
    assert not issubclass(gilfree.KernelError, (KeyboardInterrupt, SystemExit))


@pytest.mark.parametrize("threads", [1, 2, None])
@pytest.mark.parametrize(("tasks", "panic_at"), [(1, 0), (200, 0), (200, 117), (200, 199)])
def test_panic_becomes_kernel_error(threads: int | None, tasks: int, panic_at: int) -> None:
    with pytest.raises(gilfree.KernelError, match="'panic'") as info:
        _testing.panic(tasks, panic_at, threads=threads)
    assert "deliberate test panic" in str(info.value)
    assert f"task {panic_at}" in str(info.value)
    # The next normal call works.
    assert gilfree.sum(MULTI_CHUNK, threads=threads) == MULTI_CHUNK_SUM
    assert _testing.panic(tasks, tasks, threads=threads) == tasks  # no task panics


def test_except_exception_catches_a_panic() -> None:
    caught: Exception | None = None
    try:
        _testing.panic(100, 50)
    except Exception as exc:
        caught = exc
    assert isinstance(caught, gilfree.KernelError)


@needs_proc
def test_pool_survives_many_panics() -> None:
    for i in range(20):
        with pytest.raises(gilfree.KernelError):
            _testing.panic(64, i % 64, threads=(None, 2, 1)[i % 3])
    # The workers are all still there (a panic is caught on the worker, which keeps running) ...
    assert _testing.spin(8, 2) == 8
    n = gilfree.get_num_threads()
    assert wait_for_workers(n) == n
    # ... and compute correct results.
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2 * GRAIN + 1) * CHUNK_LEN + 5)
    for threads in (None, 2, 1):
        assert gilfree.sum(MULTI_CHUNK, threads=threads) == MULTI_CHUNK_SUM
        assert gilfree.argmax(a, threads=threads) == int(np.argmax(a))
        assert gilfree.var(a, threads=threads) == gilfree.var(a, threads=1)


# --- many Python threads at once ---------------------------------------------------------------


@pytest.fixture
def settled_pool() -> int:
    """The pool started, and no leftover workers of an earlier (resized) pool alive."""
    n = gilfree.get_num_threads()
    assert gilfree.sum(MULTI_CHUNK) == MULTI_CHUNK_SUM
    if LINUX:
        assert wait_for_workers(n, at_most=True) <= n
    return n


# The timeout is the deadlock detector: a deadlock between the GIL and the pool would hang here.
@pytest.mark.timeout(60)
def test_many_python_threads_at_once(settled_pool: int) -> None:
    rng = np.random.default_rng(2024)
    sizes = [int(s) for s in rng.integers(200_000, 600_000, size=16)]
    arrays: list[np.ndarray] = []
    for i, size in enumerate(sizes):
        if i % 2:
            arrays.append(rng.standard_normal(size) * 1e3)
        else:
            arrays.append(rng.integers(-(10**9), 10**9, size=size, dtype=np.int64))
    kernels = {"sum": gilfree.sum, "var": gilfree.var, "argmax": gilfree.argmax}
    # Expected values: single-threaded, computed before any concurrency (and checked where
    # NumPy's answer is exact).
    expected = [{name: f(a, threads=1) for name, f in kernels.items()} for a in arrays]
    for a, exp in zip(arrays, expected, strict=True):
        assert exp["argmax"] == int(np.argmax(a))
        if a.dtype == np.int64:
            assert exp["sum"] == int(a.sum())

    mismatches: list[str] = []
    errors: list[BaseException] = []
    max_workers = [0]
    stop_sampling = threading.Event()
    barrier = threading.Barrier(len(arrays))

    def sampler() -> None:
        while not stop_sampling.is_set():
            max_workers[0] = max(max_workers[0], pool_threads())
            time.sleep(0.001)

    def caller(i: int) -> None:
        try:
            barrier.wait()
            a = arrays[i]
            for j in range(50):
                threads = (None, 1, 2)[(i + j) % 3]
                for name, f in kernels.items():
                    got = f(a, threads=threads)
                    if got != expected[i][name]:
                        mismatches.append(f"array {i} {name}(threads={threads}): {got!r}")
        except BaseException as exc:
            errors.append(exc)

    sampling = threading.Thread(target=sampler, name="sampler") if LINUX else None
    if sampling:
        sampling.start()
    callers = [threading.Thread(target=caller, args=(i,), name=f"caller-{i}") for i in range(len(arrays))]
    try:
        for t in callers:
            t.start()
        for t in callers:
            t.join()
    finally:
        stop_sampling.set()
        if sampling:
            sampling.join()

    assert not errors, errors
    assert not mismatches, mismatches[:10]
    if LINUX:
        print(f"most pool workers seen at once: {max_workers[0]} (pool size {settled_pool})")
        assert 1 <= max_workers[0] <= settled_pool


@needs_proc
def test_cold_start_from_many_threads_builds_one_pool() -> None:
    # 16 threads make the first call after a resize at the same moment: one pool of n workers
    # must be built, so the process never has more than n threads beyond the Python threads it
    # already had. Sampled from /proc/self/status (one cheap read, so sampling is dense) over 30
    # rounds, because several pools built at once and all but one dropped would be short-lived.
    rounds = child_json(
        """
        def threads_now():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        return int(line.split()[1])

        a = np.ones(96 * 65536)  # a grain of 12 chunks for each of up to 7 workers
        rounds = []
        for r in range(30):
            n = 6 + r % 2  # more workers than cores: a longer build, a wider window for a race
            gilfree.set_num_threads(n)  # drops the idle pool: the next call builds a new one
            settled_workers(0)  # the old pool's threads have exited
            barrier = threading.Barrier(18)
            stop = threading.Event()
            most = [0]
            results = []

            def sampler():
                barrier.wait()
                while not stop.is_set():
                    most[0] = max(most[0], threads_now())

            def caller():
                barrier.wait()
                results.append(gilfree.sum(a))

            threads = [threading.Thread(target=caller) for _ in range(16)]
            s = threading.Thread(target=sampler)
            s.start()
            for t in threads:
                t.start()
            base = threads_now()  # every Python thread of the round is alive, no pool worker
            barrier.wait()
            for t in threads:
                t.join()
            final = settled_workers(n)
            stop.set()
            s.join()
            rounds.append({"n": n, "extra_threads": most[0] - base, "final": final,
                           "ok": results == [float(a.size)] * 16})
        print(json.dumps(rounds))
        """
    )
    assert all(r["ok"] for r in rounds), rounds
    assert all(r["final"] == r["n"] for r in rounds), rounds
    over = [r for r in rounds if r["extra_threads"] > r["n"]]
    assert not over, f"more new threads than the pool size in {len(over)}/{len(rounds)} rounds: {over}"


# --- fork --------------------------------------------------------------------------------------


def _child_work(_: int) -> tuple[bool, float, int, float]:
    # Runs in a forked child: the parent's pool threads do not exist here.
    started_before = gilfree.info()["pool_started"]
    total = gilfree.sum(MULTI_CHUNK, threads=None)
    return started_before, total, gilfree.argmax(MULTI_CHUNK), gilfree.var(MULTI_CHUNK)


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")


@contextlib.contextmanager
def forking() -> Iterator[multiprocessing.context.BaseContext]:
    """The "fork" multiprocessing context, with fork's DeprecationWarning silenced: Python 3.12+
    warns when a process that has threads forks (pytest makes warnings errors here), and the
    pool's threads are exactly the point of these tests. Used inside the test body, so that
    pytest's own per-phase warning filters cannot override it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield multiprocessing.get_context("fork")


@needs_fork
@pytest.mark.timeout(60)
def test_fork_after_using_the_pool() -> None:
    assert gilfree.sum(MULTI_CHUNK, threads=None) == MULTI_CHUNK_SUM
    assert gilfree.info()["pool_started"] is True
    expected = (False, MULTI_CHUNK_SUM, MULTI_CHUNK.size - 1, gilfree.var(MULTI_CHUNK))
    # maxtasksperchild=1: every task runs in a freshly forked child.
    with forking() as ctx, ctx.Pool(2, maxtasksperchild=1) as pool:
        got = pool.map_async(_child_work, range(4)).get(timeout=30)
    assert got == [expected] * 4
    # The parent's pool is untouched.
    assert gilfree.sum(MULTI_CHUNK, threads=None) == MULTI_CHUNK_SUM


@needs_fork
@pytest.mark.timeout(60)
def test_fork_while_another_thread_is_in_a_call() -> None:
    # A thread of the parent is inside a pool call (holding an Arc to the pool, workers busy)
    # while the main thread forks. The child must build its own pool and not hang.
    assert gilfree.sum(MULTI_CHUNK, threads=None) == MULTI_CHUNK_SUM
    outcome: list[object] = []
    busy = threading.Thread(target=lambda: outcome.append(_testing.spin(40, 20, threads=None)))
    busy.start()
    try:
        time.sleep(0.1)
        with forking() as ctx, ctx.Pool(1) as pool:
            got = pool.apply_async(_child_work, (0,)).get(timeout=30)
    finally:
        busy.join()
    assert got == (False, MULTI_CHUNK_SUM, MULTI_CHUNK.size - 1, gilfree.var(MULTI_CHUNK))
    assert outcome == [40]


def _fork_child_main() -> None:
    ok = gilfree.sum(MULTI_CHUNK, threads=None) == MULTI_CHUNK_SUM
    ok = ok and _testing.spin(8, 2) == 8
    # Resizing in the child drops (leaks) the parent's pool object and builds a new pool here.
    gilfree.set_num_threads(3)
    ok = ok and gilfree.sum(MULTI_CHUNK, threads=None) == MULTI_CHUNK_SUM
    ok = ok and (not LINUX or wait_for_workers(3) == 3)
    os._exit(0 if ok else 1)


@needs_fork
@pytest.mark.timeout(60)
def test_forked_process_uses_and_resizes_its_own_pool() -> None:
    assert gilfree.sum(MULTI_CHUNK, threads=None) == MULTI_CHUNK_SUM
    with forking() as ctx:
        proc = ctx.Process(target=_fork_child_main)
        proc.start()
    proc.join(timeout=30)
    if proc.is_alive():
        proc.kill()
        proc.join()
        pytest.fail("the forked child hung")
    assert proc.exitcode == 0


@pytest.mark.timeout(60)
def test_calls_in_flight_report_their_progress() -> None:
    # Every detached call is listed by the runtime while it runs (name, tasks done/announced, age,
    # whether it runs on the asking thread), for progress displays; and forgotten when it returns.
    from gilfree._native import _calls, _testing

    assert _calls() == []
    worker = threading.Thread(target=_testing.spin, args=(40, 10), kwargs={"threads": 2})
    worker.start()
    seen: list[tuple[str, int, int, float, bool]] = []
    deadline = time.monotonic() + 30
    while worker.is_alive() and time.monotonic() < deadline:
        seen.extend(_calls())
        time.sleep(0.005)
    worker.join()
    assert _calls() == []
    assert seen, "the call was never listed"
    names = {name for name, *_ in seen}
    assert names == {"spin"}
    assert all(total in (0, 40) and 0 <= done <= total for _, done, total, _, _ in seen)
    assert any(0 < done < 40 for _, done, _, _, _ in seen), "no progress between start and end was seen"
    assert not any(mine for *_, mine in seen)  # it ran on another thread
    ages = [age for _, _, _, age, _ in seen]
    assert ages == sorted(ages)
    assert ages[-1] > 0.1
