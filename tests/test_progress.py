"""``progress=``: reports ``(done, total)`` from the calling thread, rate-limited, ending in
``done == total``; an exception from the callable stops the call; ``progress=True`` draws a bar on
a terminal's stderr only, and Ctrl-C still stops a long call that draws one.

The callable tests use the test kernel ``_testing.spin(tasks, task_ms)`` (``tasks`` tasks of
``task_ms`` ms of busy work) and a few real kernels. The terminal tests run a child whose stderr
is a pseudo-terminal (``pty.openpty()``) and send it SIGINT (never to the pytest process); the
only timing bound is a hang detector.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from _sigint import CHILD_PRELUDE, HANG_BOUND_S, posix_only

import gilfree
from gilfree import _progress
from gilfree._native import _testing


class Recorder:
    """A progress callable that records its calls and the thread they came from."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.threads: set[int] = set()

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        self.threads.add(threading.get_ident())

    def check(self, caller: int, *, allow_empty: bool = False) -> None:
        assert self.calls, "the callable was never called"
        assert self.threads == {caller}, "called from a thread other than the caller's"
        dones = [d for d, _ in self.calls]
        totals = [t for _, t in self.calls]
        assert dones == sorted(dones), self.calls
        assert totals == sorted(totals), self.calls
        assert all(0 <= d <= t for d, t in self.calls), self.calls
        done, total = self.calls[-1]
        assert done == total, self.calls
        assert total > 0 or allow_empty, self.calls


def _spin_with(threads: int | None) -> tuple[Recorder, int, int]:
    rec = Recorder()
    # 24 tasks of 25 ms: 0.6 s on one thread, 0.3 s on two: several reports at 100 ms.
    n = _testing.spin(24, 25, threads=threads, progress=rec)
    return rec, n, threading.get_ident()


@pytest.mark.parametrize("threads", [1, None])
def test_callable_gets_monotone_progress_from_the_main_thread(threads: int | None) -> None:
    rec, n, caller = _spin_with(threads)
    assert n == 24
    rec.check(caller)
    assert rec.calls[-1] == (24, 24)
    assert len(rec.calls) >= 2, rec.calls  # intermediate reports, not only the final one


@pytest.mark.parametrize("threads", [1, None])
def test_callable_gets_progress_in_a_thread_pool_executor_thread(threads: int | None) -> None:
    with ThreadPoolExecutor(2) as pool:
        futs = [pool.submit(_spin_with, threads) for _ in range(2)]
        results = [f.result(timeout=60) for f in futs]
    for rec, n, caller in results:
        assert n == 24
        assert caller != threading.get_ident()
        rec.check(caller)
        assert rec.calls[-1] == (24, 24)


def test_reports_are_rate_limited() -> None:
    rec = Recorder()
    stamps: list[float] = []

    def cb(done: int, total: int) -> None:
        stamps.append(time.monotonic())
        rec(done, total)

    _testing.spin(40, 20, threads=1, progress=cb)  # 0.8 s, polled every 20 ms
    rec.check(threading.get_ident())
    # At most one report per 100 ms, plus the final one: far fewer than the ~40 polls.
    gaps = [b - a for a, b in itertools.pairwise(stamps[:-1])]
    assert all(g >= 0.09 for g in gaps), gaps
    assert len(stamps) <= 10, stamps


@pytest.mark.parametrize("threads", [1, None])
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda t, p: gilfree.count_primes(10**7, threads=t, progress=p), 664579),
        (lambda t, p: gilfree.sum(np.ones(1 << 20), threads=t, progress=p), float(1 << 20)),
        (lambda t, p: int(gilfree.mandelbrot(64, 48, threads=t, progress=p).sum()), None),
        (lambda t, p: len(gilfree.primes(10**6, threads=t, progress=p)), 78498),
        (lambda t, p: gilfree.monte_carlo_pi(10**5, threads=t, progress=p), None),
        (lambda t, p: len(gilfree.sort(np.arange(1000.0)[::-1], threads=t, progress=p)), 1000),
    ],
    ids=["count_primes", "sum", "mandelbrot", "primes", "monte_carlo_pi", "sort"],
)
def test_real_kernels_report_done_equals_total(call: Any, expected: Any, threads: int | None) -> None:
    rec = Recorder()
    out = call(threads, rec)
    if expected is not None:
        assert out == expected
    assert out == call(threads, None)  # the same result without progress
    # A kernel that did its work without tasks (a small sort on one thread) reports (0, 0).
    rec.check(threading.get_ident(), allow_empty=True)


def test_small_calls_that_keep_the_gil_still_get_the_final_report() -> None:
    rec = Recorder()
    assert gilfree.count_primes(100, progress=rec) == 25  # below the detach size: attached
    rec.check(threading.get_ident())


def test_executor_map_reports_results_retrieved() -> None:
    rec = Recorder()
    with gilfree.Executor() as ex:
        out = list(ex.map(gilfree.count_primes, [10, 100, 1000] * 4, progress=rec))
    assert out == [4, 25, 168] * 4
    rec.check(threading.get_ident())
    assert rec.calls[-1] == (12, 12)


def test_executor_map_python_callables_and_buffersize() -> None:
    rec = Recorder()
    with gilfree.Executor(2) as ex:
        out = list(ex.map(lambda x: x * 2, range(7), buffersize=2, progress=rec))
    assert out == [x * 2 for x in range(7)]
    rec.check(threading.get_ident())
    assert rec.calls[-1] == (7, 7)


class Boom(Exception):
    pass


@pytest.mark.parametrize("threads", [1, None])
def test_an_exception_from_the_callable_stops_the_call(threads: int | None) -> None:
    calls: list[tuple[int, int]] = []

    def cb(done: int, total: int) -> None:
        calls.append((done, total))
        raise Boom("stop")

    t0 = time.monotonic()
    with pytest.raises(Boom, match="stop"):
        _testing.spin(100000, 10, threads=threads, progress=cb)  # ~1000 s if not stopped
    assert time.monotonic() - t0 < HANG_BOUND_S  # a hang detector, not a performance bound
    assert len(calls) == 1
    # The pool is intact: the next call works, with and without progress.
    rec = Recorder()
    assert _testing.spin(4, 5, threads=threads, progress=rec) == 4
    rec.check(threading.get_ident())


def test_an_exception_from_the_final_report_propagates() -> None:
    def cb(done: int, total: int) -> None:
        raise Boom(f"{done}/{total}")

    with pytest.raises(Boom, match="1/1"):
        gilfree.count_primes(100, progress=cb)


def test_an_exception_from_the_callable_stops_executor_map() -> None:
    def cb(done: int, total: int) -> None:
        raise Boom("map")

    with gilfree.Executor() as ex, pytest.raises(Boom, match="map"):
        list(ex.map(gilfree.count_primes, [10, 100], progress=cb))


def test_a_kernel_called_from_the_callable_does_not_report_to_it() -> None:
    rec = Recorder()
    inner: list[int] = []

    def cb(done: int, total: int) -> None:
        rec(done, total)
        inner.append(gilfree.count_primes(10**6))  # a nested call, without progress

    _testing.spin(10, 20, threads=1, progress=cb)
    rec.check(threading.get_ident())
    assert inner
    assert set(inner) == {78498}


@pytest.mark.parametrize("bad", [1, 0, "yes", 2.5, [print]])
def test_a_bad_progress_value_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="progress must be None, a bool, or a callable"):
        _testing.spin(1, 0, progress=bad)
    with pytest.raises(TypeError, match="progress must be None, a bool, or a callable"):
        gilfree.count_primes(10, progress=bad)
    with gilfree.Executor() as ex, pytest.raises(TypeError, match="progress must be"):
        ex.map(gilfree.count_primes, [10], progress=bad)


@pytest.mark.parametrize("off", [None, False])
def test_progress_off(off: object, capfd: pytest.CaptureFixture[str]) -> None:
    assert gilfree.count_primes(10**6, progress=off) == 78498
    assert capfd.readouterr().err == ""


def test_progress_true_draws_nothing_when_stderr_is_not_a_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    assert _testing.spin(10, 20, threads=1, progress=True) == 10
    assert gilfree.count_primes(10**6, progress=True) == 78498
    with gilfree.Executor() as ex:
        assert list(ex.map(gilfree.count_primes, [10, 100], progress=True)) == [4, 25]
    assert capfd.readouterr().err == ""


def test_task_forms_do_not_take_progress() -> None:
    # A task runs on a pool worker, which never calls Python: no progress= there.
    unavailable = r"count_primes\(\): progress= is not available"
    with gilfree.Executor() as ex, pytest.raises(TypeError, match=unavailable):
        ex.submit(gilfree.count_primes, 10, progress=True)


# --- progress=True on a terminal, and Ctrl-C --------------------------------------------------

_PTY_CHILD = """
{hide}
print("READY", flush=True)
try:
    {call}
except KeyboardInterrupt:
    print(f"INTERRUPTED {{time.monotonic():.6f}}", flush=True)
else:
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
print(f"NEXT {{gilfree.count_primes(1000)}}", flush=True)
"""

# rich and tqdm hidden from the child: the plain line, whatever the environment has installed.
_HIDE_PEERS = "sys.modules['rich'] = None; sys.modules['tqdm'] = None"


def _run_on_a_pty(call: str, hide: str) -> tuple[str, str, float]:
    """Runs ``call`` in a child whose stderr is a pseudo-terminal; SIGINT 1.5 s after READY.
    Returns (stdout, what the terminal showed, seconds from SIGINT to KeyboardInterrupt)."""
    import pty

    master, slave = pty.openpty()
    # A terminal 100 columns wide (a fresh pty is 0 x 0, and tqdm then draws an empty bar).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="100", TERM="xterm")
    env.pop("GILFREE_NUM_THREADS", None)
    script = CHILD_PRELUDE + textwrap.dedent(_PTY_CHILD.format(hide=hide, call=call))
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    os.close(slave)
    shown: list[bytes] = []

    def read_pty() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read_pty, daemon=True)
    reader.start()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(1.5)  # long enough for several reports (one per 100 ms)
        sent = time.monotonic()  # CLOCK_MONOTONIC: system-wide on Linux
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=HANG_BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        os.close(master)
    shown_text = b"".join(shown).decode("utf-8", "replace")
    assert "INTERRUPTED " in out, (out, shown_text)
    latency = float(out.split("INTERRUPTED ")[1].split()[0]) - sent
    return out, shown_text, latency


def _check_interrupted(out: str, shown: str, latency: float, name: str) -> None:
    print(f"\n[{name}, progress=True on a pty] SIGINT -> KeyboardInterrupt: {latency * 1000:.1f} ms")
    assert latency < HANG_BOUND_S, out  # a hang detector, not a performance bound
    assert "NEXT 168" in out, (out, shown)  # the next call works
    assert name in shown, shown
    assert re.search(r"\d+%", shown), shown
    assert re.search(r"\d+/\d+", shown), shown


@posix_only
def test_ctrl_c_stops_a_progress_bar_call_in_the_main_thread() -> None:
    # 500 tasks of 10 ms: 5 s on one worker; Ctrl-C after 1.5 s.
    out, shown, latency = _run_on_a_pty("_testing.spin(500, 10, threads=1, progress=True)", _HIDE_PEERS)
    _check_interrupted(out, shown, latency, "spin")
    # The plain line: rewritten with \r, then finished with a newline when the call stopped.
    last = shown.replace("\r\n", "\n").split("\r")[-1]
    assert re.fullmatch(r"spin: \d+% \[[= ]{30}\] \d+/500\n", last), repr(last)


@posix_only
def test_ctrl_c_stops_a_progress_bar_call_in_a_thread_pool_executor_thread() -> None:
    # Whatever bar the environment has (rich, tqdm or plain), drawn from a worker thread.
    call = """
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(gilfree.count_primes, 10**13, progress=True)
        fut.result()
    """
    call = "exec(" + repr(textwrap.dedent(call)) + ")"
    out, shown, latency = _run_on_a_pty(call, "")
    _check_interrupted(out, shown, latency, "count_primes")


def test_plain_bar_draws_and_closes() -> None:
    import io

    out = io.StringIO()
    bar = _progress.PlainBar("k", out, width=4)
    bar.update(0, 0)
    bar.update(2, 4)
    bar.update(5, 4)  # clamped to 100%
    bar.close()
    bar.update(1, 4)  # ignored once closed
    assert out.getvalue() == "\rk: 100% [====] 0/0\rk: 50% [==  ] 2/4\rk: 100% [====] 5/4\n"
