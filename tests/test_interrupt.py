"""Ctrl-C: a long gilfree call stops promptly on SIGINT, from the main thread and from worker
threads, the pool's workers stop burning CPU, and the next call works.

SIGINT is only ever sent to (or raised in) child processes, never to the pytest process. The only
in-process tests use ``gilfree.interrupt()``, which bumps the interrupt epoch and nothing else.

The long call is ``_testing.spin(100000, 10)``: 1000 s of busy work, so a child that misses the
signal hangs until the hang bound (20 s) and fails. Latencies are printed (run ``pytest -s`` to see
them); the only assertion on them is a generous hang bound, not a performance target.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import numpy as np
import pytest
from _sigint import Child, check_after, interrupt_call, interrupt_child, interrupt_thread_pool, posix_only

import gilfree
from gilfree._native import _testing

pytestmark = posix_only


# --- Ctrl-C in the main thread -----------------------------------------------------------------


@pytest.mark.parametrize("threads", ["default", None, 1, 2])
def test_ctrl_c_stops_a_call_in_the_main_thread(threads: Any) -> None:
    kwargs = "" if threads == "default" else f", threads={threads!r}"
    child = interrupt_call(f"_testing.spin(100000, 10{kwargs})  # ~1000 s of work")
    check_after(child, f"main thread, spin(threads={threads})")


def test_ctrl_c_stops_a_reduction_loop_in_the_main_thread() -> None:
    # Real kernels, not the test kernel: Ctrl-C lands inside (or between) gilfree.sum calls.
    child = interrupt_child(
        """
        import numpy as np
        import gilfree
        from gilfree._native import _testing

        a = np.ones(20_000_000)
        print("READY", flush=True)
        try:
            while True:
                assert gilfree.sum(a) == 20_000_000.0
        except KeyboardInterrupt:
            caught = time.monotonic()
            sent = float(sys.stdin.readline())
            print(f"INTERRUPTED {caught - sent:.6f}", flush=True)
        """
    )
    check_after(child, "main thread, gilfree.sum loop")


@pytest.mark.parametrize("threads", [None, 1])
def test_an_exception_from_the_users_handler_is_raised_by_the_call(threads: int | None) -> None:
    # With a handler of its own (gilfree leaves it in place), the call raises what it raised.
    child = interrupt_child(
        f"""
        class Stop(Exception):
            pass

        def handler(signum, frame):
            raise Stop("from the user's handler")

        signal.signal(signal.SIGINT, handler)
        import numpy as np
        import gilfree
        from gilfree._native import _testing

        print("READY", flush=True)
        try:
            _testing.spin(100000, 10, threads={threads!r})
        except Stop as exc:
            caught = time.monotonic()
            sent = float(sys.stdin.readline())
            print(f"INTERRUPTED {{caught - sent:.6f}}", flush=True)
            print("CAUGHT", exc, flush=True)
        """
    )
    assert child.value("CAUGHT") == "from the user's handler", child.describe()
    check_after(child, f"user's handler raises, spin(threads={threads})")


# --- Ctrl-C while worker threads compute -------------------------------------------------------


@pytest.mark.parametrize("threads", [1, None])
def test_ctrl_c_stops_calls_in_a_thread_pool_executor(threads: int | None) -> None:
    child = interrupt_thread_pool(
        f"_testing.spin, 100000, 10, threads={threads!r}",
        f"pool.submit(_testing.spin, 4, 5, threads={threads!r}).result()",
    )
    print(f"\n[executor, threads={threads}] future exceptions: {child.value('FUTURES')}")
    assert child.value("AFTER") == "4", child.describe()
    check_after(child, f"ThreadPoolExecutor(2), spin(threads={threads})")


def test_ctrl_c_stops_a_call_in_a_plain_thread_while_main_sleeps() -> None:
    # The main thread is in time.sleep, not in a gilfree call: the chained handler still reaches
    # the worker's call through the interrupt epoch.
    child = interrupt_child(
        """
        import numpy as np
        import gilfree
        from gilfree._native import _testing

        outcome = []
        started = threading.Event()

        def work():
            started.set()
            try:
                outcome.append(_testing.spin(100000, 10))
            except BaseException as exc:
                outcome.append(type(exc).__name__)

        t = threading.Thread(target=work)
        t.start()
        started.wait()
        print("READY", flush=True)
        try:
            while True:
                time.sleep(0.05)
        except KeyboardInterrupt:
            caught = time.monotonic()
            sent = float(sys.stdin.readline())
            t.join()
            print(f"INTERRUPTED {caught - sent:.6f}", flush=True)
        print("WORKER", outcome[0], flush=True)
        """
    )
    assert child.value("WORKER") == "KeyboardInterrupt", child.describe()
    check_after(child, "plain thread, main in time.sleep")


# --- the SIGINT handler ------------------------------------------------------------------------


def run_child(script: str) -> Child:
    child = Child(script)
    with child.reaped():
        rc = child.finish(timeout=60)
    assert rc == 0, child.describe()
    return child


def test_default_handler_is_chained_and_still_raises_keyboard_interrupt() -> None:
    child = run_child(
        """
        import gilfree
        import gilfree._interrupt as gi

        assert signal.getsignal(signal.SIGINT) is gi._chained_sigint, signal.getsignal(signal.SIGINT)
        assert gilfree.install_interrupt_handler() is True  # idempotent
        assert signal.getsignal(signal.SIGINT) is gi._chained_sigint
        try:
            signal.raise_signal(signal.SIGINT)
            for _ in range(1000):  # the handler runs at the next bytecode boundary
                pass
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
        # Restoring Python's default and calling install again puts the chain back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert gilfree.install_interrupt_handler() is True
        assert signal.getsignal(signal.SIGINT) is gi._chained_sigint
        # Not from another thread (signal.signal() only works on the main thread).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        result = []
        t = threading.Thread(target=lambda: result.append(gilfree.install_interrupt_handler()))
        t.start()
        t.join()
        assert result == [False], result
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        print("OK", flush=True)
        """
    )
    assert child.stdout == ["KeyboardInterrupt", "OK"], child.describe()


def test_a_users_own_handler_is_kept() -> None:
    child = run_child(
        """
        received = []

        def handler(signum, frame):
            received.append(signum)

        signal.signal(signal.SIGINT, handler)
        import gilfree

        assert gilfree.install_interrupt_handler() is False
        assert signal.getsignal(signal.SIGINT) is handler
        signal.raise_signal(signal.SIGINT)  # the user's handler runs; no KeyboardInterrupt
        for _ in range(1000):
            pass
        assert received == [signal.SIGINT], received
        print("OK", flush=True)
        """
    )
    assert child.stdout == ["OK"], child.describe()


def test_a_users_own_handler_can_call_gilfree_interrupt() -> None:
    # The documented recipe for programs with their own SIGINT handler.
    child = run_child(
        """
        import gilfree
        from gilfree._native import _testing

        def handler(signum, frame):
            gilfree.interrupt()

        signal.signal(signal.SIGINT, handler)
        outcome = []

        def work():
            try:
                outcome.append(_testing.spin(100000, 10, threads=1))
            except BaseException as exc:
                outcome.append(type(exc).__name__)

        t = threading.Thread(target=work)
        t.start()
        deadline = time.monotonic() + 20
        while t.is_alive() and time.monotonic() < deadline:
            signal.raise_signal(signal.SIGINT)  # repeated: the call may not have started yet
            t.join(0.1)
        if t.is_alive():
            print("HUNG", flush=True)
            os._exit(1)
        print("WORKER", outcome[0], flush=True)
        """
    )
    assert child.value("WORKER") == "KeyboardInterrupt", child.describe()


# --- gilfree.interrupt(), in this process --------------------------------------------------------


def _interrupt_until(done: threading.Event) -> None:
    # Repeatedly, so that it does not matter when the call actually started.
    while not done.wait(0.05):
        gilfree.interrupt()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("threads", [None, 1, 2])
def test_interrupt_from_another_thread_stops_a_call(threads: int | None) -> None:
    done = threading.Event()
    interrupter = threading.Thread(target=_interrupt_until, args=(done,))
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="spin"):
            _testing.spin(100000, 10, threads=threads)
    finally:
        done.set()
        interrupter.join()
    # A call started afterwards is unaffected.
    assert _testing.spin(4, 5, threads=threads) == 4
    a = np.arange(10 * 65536, dtype=np.float64)
    assert gilfree.sum(a, threads=threads) == a.sum()


@pytest.mark.timeout(60)
def test_interrupt_stops_calls_in_every_thread() -> None:
    outcomes: list[str] = []
    started = threading.Barrier(4)

    def work(threads: int | None) -> None:
        started.wait()
        try:
            outcomes.append(repr(_testing.spin(100000, 10, threads=threads)))
        except BaseException as exc:
            outcomes.append(type(exc).__name__)

    workers = [threading.Thread(target=work, args=(t,)) for t in (None, 1, 2)]
    for t in workers:
        t.start()
    started.wait()
    done = threading.Event()
    interrupter = threading.Thread(target=_interrupt_until, args=(done,))
    interrupter.start()
    try:
        for t in workers:
            t.join()
    finally:
        done.set()
        interrupter.join()
    assert outcomes == ["KeyboardInterrupt"] * 3


def test_interrupt_when_idle_is_a_no_op() -> None:
    gilfree.interrupt()
    a = np.arange(10 * 65536, dtype=np.float64)
    assert gilfree.sum(a) == a.sum()
    assert _testing.spin(4, 5) == 4


# --- interpreter exit with daemon threads still inside gilfree calls ---------------------------

EXIT_WHILE_DAEMONS_COMPUTE = """
stop = threading.Event()

def work():
    while not stop.is_set():
        gilfree.mandelbrot(300, 200, threads=1)

threads = [threading.Thread(target=work, daemon=True) for _ in range(2)]
for t in threads:
    t.start()
print("READY", flush=True)
try:
    for t in threads:
        t.join()
except KeyboardInterrupt:
    # On CPython 3.11 a join() interrupted by Ctrl-C may leave is_alive() False while the thread
    # still runs: the program exits with daemon threads inside gilfree calls.
    stop.set()
    sys.exit(130)
"""


@pytest.mark.parametrize("attempt", range(4))
def test_exit_with_daemon_threads_inside_calls_is_clean(attempt: int) -> None:
    # Without gilfree's atexit hook (call::begin_exit) a daemon thread re-taking the GIL during
    # finalization is ended by pthread_exit, which aborts through Rust frames (SIGABRT), in about
    # a third of runs here.
    child = Child(EXIT_WHILE_DAEMONS_COMPUTE)
    with child.reaped():
        child.wait_for("READY")
        time.sleep(0.2 + random.uniform(0, 0.1))
        child.send_sigint()
        rc = child.finish()
    assert rc == 130, f"exit status {rc}\n{child.describe()}"
