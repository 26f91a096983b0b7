"""The lab's instruments: the GIL modes of ``_lab.call`` and the GIL-hold share heartbeat.

Shares are measured on the two extremes with wide thresholds (a GIL-holding native kernel reads
high, a GIL-free one low); nothing here asserts a time.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gilfree
from gilfree._native import _lab, _testing
from gilfree.lab import GilMonitor, GilReading

GIL_ENABLED = gilfree.info()["gil_enabled"]
needs_gil = pytest.mark.skipif(not GIL_ENABLED, reason="a free-threaded interpreter has no GIL to hold")


def share_of(fn: object, *args: object, **kwargs: object) -> GilReading:
    with GilMonitor() as gil:
        fn(*args, **kwargs)  # type: ignore[operator]
    return gil.reading


@needs_gil
def test_a_gil_holding_native_kernel_reads_high() -> None:
    reading = share_of(_testing.spin_holding_gil, 4, 50)
    assert reading.share > 0.8, reading
    assert reading.longest > 0.04, reading  # one wait lasted about a whole task


def test_a_gil_free_kernel_reads_low() -> None:
    reading = share_of(_testing.spin, 8, 25, threads=1)
    assert reading.share < 0.2, reading
    assert reading.beats > 20, reading  # the heartbeat kept beating throughout


@needs_gil
def test_pure_python_reads_high() -> None:
    def loop() -> int:
        x = 0
        for i in range(2_000_000):
            x += i
        return x

    assert share_of(loop).share > 0.6


def test_reading_arithmetic() -> None:
    assert GilReading(2.0, 1.0, 0.5, 10).share == 0.5
    assert GilReading(0.0, 0.0, 0.0, 0).share == 0.0
    assert GilReading(1.0, 1.5, 1.5, 1).share == 1.0  # clipped


def test_monitor_misuse() -> None:
    monitor = GilMonitor()
    with pytest.raises(RuntimeError, match="no reading yet"):
        _ = monitor.reading
    with monitor, pytest.raises(RuntimeError, match="already running"):
        monitor.__enter__()
    assert monitor.reading.wall >= 0.0
    with monitor:  # reusable
        pass
    assert monitor.reading.beats >= 0


@pytest.mark.parametrize("interval", [0.0, -1.0, 2.0, float("nan")])
def test_heartbeat_interval_is_checked(interval: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        _lab.Heartbeat(interval)


def test_heartbeat_stops_once() -> None:
    heartbeat = _lab.Heartbeat(0.001)
    wall, waited, longest, beats = heartbeat.stop()
    assert wall >= 0.0
    assert 0.0 <= waited <= wall + 0.01
    assert longest <= waited + 1e-9
    assert beats >= 0
    with pytest.raises(RuntimeError, match="already stopped"):
        heartbeat.stop()


def test_a_dropped_heartbeat_does_not_hang() -> None:
    for _ in range(20):
        _lab.Heartbeat(0.001)  # dropped without stop(): its thread ends on its own


# --- _lab.call ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["release", "hold", "reacquire"])
def test_every_mode_gives_the_same_answer(mode: str) -> None:
    a = np.random.default_rng(1).random(100_000)
    assert _lab.call(mode, gilfree.sum, a, threads=None) == gilfree.sum(a)
    ref = gilfree.mandelbrot(64, 48, threads=1)
    assert np.array_equal(_lab.call(mode, gilfree.mandelbrot, 64, 48, threads=2), ref)


@needs_gil
@pytest.mark.parametrize(("mode", "high"), [("release", False), ("hold", True), ("reacquire", True)])
def test_modes_hold_the_gil_as_named(mode: str, high: bool) -> None:
    reading = share_of(_lab.call, mode, _testing.spin, 6, 25, threads=1)
    assert (reading.share > 0.5) is high, reading


def test_the_mode_is_restored_after_the_call_and_after_an_error() -> None:
    with pytest.raises(ValueError):
        _lab.call("hold", gilfree.mandelbrot, 0, 10)
    with pytest.raises(ZeroDivisionError):
        _lab.call("hold", lambda: 1 / 0)
    # Back in release mode: the kernel lets a Python thread run while it computes.
    assert share_of(_testing.spin, 6, 25, threads=1).share < 0.2


def test_the_mode_is_per_thread() -> None:
    stop = threading.Event()
    started = threading.Event()

    def hold_in_a_loop() -> None:
        started.set()
        while not stop.is_set():
            _lab.call("hold", _testing.spin, 1, 1, threads=1)

    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(hold_in_a_loop)
        started.wait()
        try:
            # This thread is in release mode: its kernel's answer and GIL behaviour are its own.
            assert _testing.spin(4, 5, threads=1) == 4
        finally:
            stop.set()
        fut.result()


@pytest.mark.parametrize("mode", ["", "HOLD", "nogil", 3])
def test_bad_mode(mode: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        _lab.call(mode, gilfree.sum, np.ones(10))  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")
@pytest.mark.parametrize("mode", ["hold", "reacquire"])
def test_lab_modes_still_stop_on_a_signal(mode: str) -> None:
    # The hold and reacquire modes poll for signals with the GIL held. No Python thread can run
    # then, so the signal comes from the kernel: SIGVTALRM after 0.1 s of the process's CPU time,
    # with a handler that raises KeyboardInterrupt as Python's SIGINT handler does.
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGVTALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            _lab.call(mode, _testing.spin, 100_000, 10, threads=1)  # 1000 s unless stopped
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)
