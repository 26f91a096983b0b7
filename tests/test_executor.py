"""gilfree.Executor: the concurrent.futures contract, the native task path, cancellation and Ctrl-C.

The long task is ``_testing.spin(100000, 10)``: 1000 s of GIL-free busy work, so a test that
fails to stop it hangs (the global 120 s pytest timeout, and the explicit hang bounds below, turn
that into a failure). No assertion is on timing beyond such hang bounds.
"""

from __future__ import annotations

import array
import asyncio
import concurrent.futures as cf
import doctest
import functools
import gc
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from _pool import pool_threads

import gilfree
from gilfree import _executor
from gilfree._native import _tasks, _testing

HANG_BOUND_S = 20.0  # whatever should stop "promptly" and has not by then is hung
LONG = (_testing.spin, 100_000, 10)  # 1000 s unless stopped


@pytest.fixture
def ex() -> Iterator[gilfree.Executor]:
    executor = gilfree.Executor(max_workers=2)
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def occupy_pool(ex: gilfree.Executor) -> list[cf.Future[Any]]:
    """Long native tasks on every worker of the pool (cancel them to free it)."""
    return [ex.submit(*LONG) for _ in range(gilfree.get_num_threads())]


def arrays() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    f64 = rng.standard_normal(100_001)
    return {
        "f64": f64,
        "f32": f64.astype(np.float32),
        "i32": rng.integers(-1000, 1000, 50_000, dtype=np.int32),
        "i64": rng.integers(-(10**12), 10**12, 70_000, dtype=np.int64),
        "strided": f64[::3],
        "reversed": f64[::-2],
    }


REDUCTIONS = ("sum", "mean", "var", "std", "min", "max", "argmin", "argmax")

# (kernel, args, kwargs): one call of every kernel that has a task form.
CALLS: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (gilfree.mandelbrot, (64, 48), {"max_iter": 50, "xmin": -1.5, "threads": 1}),
    (gilfree.mandelbrot, (3, 2), {}),
    (gilfree.count_primes, (10**6,), {}),
    (gilfree.count_primes, (np.int64(1000),), {"threads": None}),
    (gilfree.primes, (1000,), {}),
    (gilfree.monte_carlo_pi, (100_000,), {"seed": 3}),
    (gilfree.spectral_norm, (50,), {"threads": 1}),
    (gilfree.fannkuch_redux, (7,), {}),
    (gilfree.nbody, (1000,), {}),
    (_testing.spin, (3, 1), {}),
    *[(getattr(gilfree, k), (a,), {}) for k in REDUCTIONS for a in arrays().values()],
    (gilfree.var, (arrays()["f64"],), {"ddof": 1}),
    (gilfree.sum, (array.array("d", [0.5] * 5000),), {}),  # a buffer-protocol object
    (gilfree.argmin, (memoryview(np.arange(4000, dtype=np.int32)[::-1].copy()),), {}),
    (gilfree.std, (arrays()["i32"],), {"ddof": 2, "threads": 1}),
]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


# --- results ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "args", "kwargs"), CALLS, ids=lambda v: getattr(v, "__name__", ""))
def test_results_equal_direct_calls(
    ex: gilfree.Executor, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    fut = ex.submit(fn, *args, **kwargs)
    assert isinstance(fut, cf.Future)
    assert isinstance(fut, _executor._NativeFuture), "a kernel must take the native path"
    assert same(fut.result(timeout=60), fn(*args, **kwargs))


def test_every_kernel_has_a_task_form_with_its_signature() -> None:
    public = {
        name
        for name in gilfree.__all__
        if callable(getattr(gilfree, name))
        and type(getattr(gilfree, name)).__name__ == "builtin_function_or_method"
    }
    kernels = public - {"get_num_threads", "set_num_threads"}
    forms = {name for name in dir(_tasks) if not name.startswith("_")}
    assert kernels <= forms, kernels - forms
    for name in forms:
        kernel = getattr(gilfree, name, None) or getattr(_testing, name)
        # The direct call's progress= (reported from the calling thread) has no task form.
        direct = inspect.signature(kernel)
        direct = direct.replace(parameters=[p for p in direct.parameters.values() if p.name != "progress"])
        assert str(inspect.signature(getattr(_tasks, name))) == str(direct), name
        assert _executor._TASK_FORMS[kernel] is getattr(_tasks, name)


def test_map_yields_results_in_order(ex: gilfree.Executor) -> None:
    ns = [10**5, 10, 10**4, 0, 10**6, 2]
    results = ex.map(gilfree.count_primes, ns)
    assert not isinstance(results, list)  # an iterator
    assert list(results) == [gilfree.count_primes(n) for n in ns]
    assert list(ex.map(gilfree.nbody, [10, 20], timeout=60)) == [gilfree.nbody(10), gilfree.nbody(20)]
    assert list(ex.map(pow, [2, 3], [5, 2])) == [32, 9]  # Python callables too


def test_map_honours_its_timeout_and_cancels_the_rest(ex: gilfree.Executor) -> None:
    it = ex.map(_testing.spin, [1, 100_000, 1], [0, 10, 0], timeout=1.0)
    assert next(it) == 1
    with pytest.raises(cf.TimeoutError):
        next(it)
    # The iterator is finished, and its remaining futures (the 1000 s one too) were cancelled:
    # the pool is free again.
    with pytest.raises(StopIteration):
        next(it)
    assert ex.submit(_testing.spin, 2, 0).result(timeout=HANG_BOUND_S) == 2


def test_map_is_lazy_in_its_results(ex: gilfree.Executor) -> None:
    it = ex.map(_testing.spin, [1, 100_000, 1], [0, 10, 0])
    assert next(it) == 1  # the first result, while the second task still runs
    it.close()  # closing the iterator cancels the rest: the 1000 s task stops
    assert ex.submit(_testing.spin, 1, 0).result(timeout=HANG_BOUND_S) == 1
    with pytest.raises(StopIteration):
        next(it)


def test_python_callables_run_on_python_threads() -> None:
    with gilfree.Executor(max_workers=3, thread_name_prefix="mine") as ex:
        names = list(ex.map(lambda _: threading.current_thread().name, range(20)))
        fut = ex.submit(sum, [1, 2, 3])
        assert type(fut) is cf.Future
        assert fut.result() == 6
    assert all(n.startswith("mine") for n in names)
    assert len(set(names)) <= 3


def test_a_partial_of_a_kernel_takes_the_native_path(ex: gilfree.Executor) -> None:
    part = functools.partial(gilfree.mandelbrot, 40, max_iter=30)
    fut = ex.submit(part, 30, xmin=-1.0)
    assert isinstance(fut, _executor._NativeFuture)
    assert same(fut.result(), gilfree.mandelbrot(40, 30, max_iter=30, xmin=-1.0))
    other = ex.submit(functools.partial(pow, 2), 10)
    assert other.result() == 1024


def test_unhashable_callables_run_on_python_threads(ex: gilfree.Executor) -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, x: int) -> int:
            return x + 1

    assert ex.submit(Unhashable(), 41).result() == 42


# --- validation at submit --------------------------------------------------------------------

BAD_CALLS: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (gilfree.mandelbrot, (0, 5), {}),
    (gilfree.mandelbrot, (4.0, 5), {}),
    (gilfree.mandelbrot, (4, 4), {"xmin": 3.0}),
    (gilfree.mandelbrot, (4, 4), {"ymax": float("nan")}),
    (gilfree.mandelbrot, (4, 4), {"max_iter": 70_000}),
    (gilfree.mandelbrot, (10**6, 10**6), {}),
    (gilfree.mandelbrot, (4,), {}),
    (gilfree.mandelbrot, (4, 4), {"colour": 1}),
    (gilfree.count_primes, (-1,), {}),
    (gilfree.count_primes, (True,), {}),
    (gilfree.count_primes, (10,), {"threads": 0}),
    (gilfree.count_primes, (10,), {"threads": "2"}),
    (gilfree.primes, (10**16,), {}),
    (gilfree.monte_carlo_pi, (0,), {}),
    (gilfree.monte_carlo_pi, (10,), {"seed": -1}),
    (gilfree.monte_carlo_pi, (2**64,), {}),
    (gilfree.spectral_norm, (0,), {}),
    (gilfree.fannkuch_redux, (13,), {}),
    (gilfree.nbody, (-1,), {}),
    (gilfree.nbody, (2**64,), {}),
    (gilfree.sum, (np.zeros((2, 2, 2)),), {}),
    (gilfree.sum, (np.zeros((2, 2)),), {"axis": 2}),
    (gilfree.sum, ([1.0, 2.0],), {}),
    (gilfree.mean, (np.zeros(3, dtype=np.complex128),), {}),
    (gilfree.min, (np.zeros(0),), {}),
    (gilfree.argmax, (np.zeros(0, dtype=np.int32),), {}),
    (gilfree.var, (np.zeros(3),), {"ddof": "1"}),
]


@pytest.mark.parametrize(("fn", "args", "kwargs"), BAD_CALLS, ids=lambda v: getattr(v, "__name__", ""))
def test_bad_arguments_fail_at_submit_as_the_direct_call_fails(
    ex: gilfree.Executor, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(Exception) as direct:  # the type is what we compare
        fn(*args, **kwargs)
    with pytest.raises(Exception) as submitted:
        ex.submit(fn, *args, **kwargs)
    assert type(submitted.value) is type(direct.value)
    assert str(submitted.value) == str(direct.value)


@pytest.mark.parametrize("threads", [2, 64, 2**70])
def test_threads_other_than_none_or_1_are_refused_at_submit(ex: gilfree.Executor, threads: int) -> None:
    with pytest.raises(
        ValueError, match=r"count_primes\(\): threads=\d+ is not available in gilfree.Executor"
    ):
        ex.submit(gilfree.count_primes, 100, threads=threads)


def test_errors_while_running_come_through_the_future_with_a_traceback(ex: gilfree.Executor) -> None:
    fut = ex.submit(_testing.panic, 10, 3)
    assert isinstance(fut.exception(timeout=60), gilfree.KernelError)
    with pytest.raises(gilfree.KernelError, match="deliberate test panic"):
        fut.result()
    big = np.full(3, 2**62, dtype=np.int64)
    with pytest.raises(OverflowError, match="does not fit in int64"):
        ex.submit(gilfree.sum, big).result()

    def fails(x: int) -> int:
        raise ValueError(f"bad {x}")

    err = ex.submit(fails, 7).exception(timeout=60)
    assert isinstance(err, ValueError)
    assert err.__traceback__ is not None
    assert "fails" in "".join(traceback.format_tb(err.__traceback__))


# --- futures: done callbacks, wait, as_completed, asyncio --------------------------------------


def test_done_callbacks_run_once(ex: gilfree.Executor) -> None:
    seen: list[Any] = []
    fut = ex.submit(_testing.spin, 2, 5)
    fut.add_done_callback(lambda f: seen.append(("early", f.result())))
    assert fut.result(timeout=60) == 2
    fut.add_done_callback(lambda f: seen.append(("late", f.result())))
    deadline = time.monotonic() + HANG_BOUND_S
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(seen) == [("early", 2), ("late", 2)]
    assert "finished returned int" in repr(fut)


def test_wait_and_as_completed(ex: gilfree.Executor) -> None:
    quick = [ex.submit(gilfree.count_primes, n) for n in (10, 100, 1000)] + [ex.submit(pow, 2, 8)]
    done, not_done = cf.wait(quick, timeout=60)
    assert not not_done
    assert sorted(f.result() for f in done) == [4, 25, 168, 256]
    assert sorted(f.result() for f in cf.as_completed(quick, timeout=60)) == [4, 25, 168, 256]

    long = ex.submit(*LONG)
    first, rest = cf.wait([long, *quick], return_when=cf.FIRST_COMPLETED, timeout=60)
    assert long in rest
    assert first
    done, not_done = cf.wait([long], timeout=0.05)
    assert not_done == {long}
    with pytest.raises(cf.TimeoutError):
        list(cf.as_completed([long], timeout=0.05))
    # A future cancelled while someone waits on it wakes them, and counts as done.
    waiter = threading.Timer(0.1, long.cancel)
    waiter.start()
    done, not_done = cf.wait([long], timeout=HANG_BOUND_S)
    waiter.join()
    assert done == {long}
    assert long.cancelled()


def test_many_futures_with_as_completed_while_they_finish(ex: gilfree.Executor) -> None:
    futs = {ex.submit(gilfree.count_primes, n): n for n in range(2000)}
    got = {futs[f]: f.result() for f in cf.as_completed(futs, timeout=60)}
    assert got == {n: gilfree.count_primes(n) for n in range(2000)}


def test_asyncio_run_in_executor_and_wrap_future(ex: gilfree.Executor) -> None:
    async def main() -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        a = loop.run_in_executor(ex, gilfree.count_primes, 1000)
        b = loop.run_in_executor(ex, functools.partial(gilfree.monte_carlo_pi, 1000, seed=1))
        c = asyncio.wrap_future(ex.submit(gilfree.fannkuch_redux, 7))
        d = loop.run_in_executor(ex, max, 3, 4)
        # An asyncio timeout cancels the wrapped future, which stops the native task.
        long = ex.submit(*LONG)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(long), 0.1)
        return (*(await asyncio.gather(a, b, c, d)), long)

    *results, long = asyncio.run(main())
    assert results == [168, gilfree.monte_carlo_pi(1000, seed=1), (228, 16), 4]
    assert long.cancelled()


# --- cancellation, shutdown --------------------------------------------------------------------


def test_cancel_before_start_and_while_running(ex: gilfree.Executor) -> None:
    blockers = occupy_pool(ex)
    queued = ex.submit(gilfree.count_primes, 10**6)
    assert not queued.done()
    assert not queued.running()
    assert queued.cancel() is True
    assert queued.cancel() is True  # idempotent
    assert queued.cancelled()
    assert queued.done()
    with pytest.raises(cf.CancelledError):
        queued.result()
    # A running native task's future is cancellable too: the task stops at its next chunk and
    # frees its worker.
    assert all(b.cancel() for b in blockers)
    assert ex.submit(_testing.spin, 2, 0).result(timeout=HANG_BOUND_S) == 2
    done = ex.submit(gilfree.count_primes, 10)
    assert done.result(timeout=60) == 4
    assert done.cancel() is False
    assert not done.cancelled()


def test_submit_after_shutdown_raises(ex: gilfree.Executor) -> None:
    ex.submit(pow, 2, 2).result()
    ex.shutdown()
    ex.shutdown()  # twice is fine
    for fn, args in [(gilfree.count_primes, (10,)), (pow, (2, 2)), (print, ())]:
        with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
            ex.submit(fn, *args)
    fresh = gilfree.Executor()
    fresh.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        fresh.submit(print)
    with pytest.raises(RuntimeError, match="after shutdown"):
        fresh.submit(gilfree.nbody, 1)


def test_shutdown_waits_for_native_tasks() -> None:
    ex = gilfree.Executor()
    futs = [ex.submit(_testing.spin, 2, 20) for _ in range(6)] + [ex.submit(time.sleep, 0.05)]
    ex.shutdown(wait=True)
    assert all(f.done() for f in futs)
    assert [f.result() for f in futs] == [2] * 6 + [None]


def test_shutdown_without_wait_still_delivers() -> None:
    ex = gilfree.Executor()
    futs = [ex.submit(_testing.spin, 1, 20) for _ in range(4)]
    ex.shutdown(wait=False)
    assert [f.result(timeout=60) for f in futs] == [1] * 4


def test_context_manager_waits_and_closes() -> None:
    with gilfree.Executor() as ex:
        fut = ex.submit(gilfree.spectral_norm, 100)
    assert fut.done()
    with pytest.raises(RuntimeError):
        ex.submit(gilfree.spectral_norm, 100)


def test_shutdown_cancel_futures_stops_running_native_tasks_promptly() -> None:
    ex = gilfree.Executor()
    futs = [ex.submit(*LONG) for _ in range(gilfree.get_num_threads() + 3)]
    time.sleep(0.1)  # let the first ones start
    t0 = time.monotonic()
    ex.shutdown(wait=True, cancel_futures=True)
    elapsed = time.monotonic() - t0
    print(f"\nshutdown(cancel_futures=True) with {len(futs)} 1000 s tasks: {elapsed * 1000:.1f} ms")
    assert elapsed < HANG_BOUND_S
    assert all(f.cancelled() for f in futs)


def test_interrupt_stops_native_tasks_submitted_before_it() -> None:
    # gilfree.interrupt() is what the SIGINT handler calls (no signal is sent in-process).
    ex = gilfree.Executor()
    futs = [ex.submit(*LONG) for _ in range(gilfree.get_num_threads() + 2)]
    time.sleep(0.05)
    gilfree.interrupt()
    for f in futs:
        assert isinstance(f.exception(timeout=HANG_BOUND_S), KeyboardInterrupt)
    after = ex.submit(_testing.spin, 2, 1)  # submitted after the interrupt: unaffected
    assert after.result(timeout=60) == 2
    ex.shutdown()


def test_dropping_an_executor_without_shutdown_ends_its_dispatcher() -> None:
    ex = gilfree.Executor()
    assert ex.submit(gilfree.count_primes, 100).result() == 25
    dispatcher = ex._dispatcher
    assert dispatcher is not None
    assert dispatcher.is_alive()
    del ex
    gc.collect()
    dispatcher.join(timeout=HANG_BOUND_S)
    assert not dispatcher.is_alive()


def test_reductions_keep_their_array_alive(ex: gilfree.Executor) -> None:
    blockers = occupy_pool(ex)
    a = np.arange(1_000_000, dtype=np.int64)
    fut = ex.submit(gilfree.sum, a[::2])
    del a
    gc.collect()
    for b in blockers:
        b.cancel()
    assert fut.result(timeout=HANG_BOUND_S) == sum(range(0, 1_000_000, 2))


# --- many threads, many executors, one pool ----------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_many_threads_and_executors_share_one_pool() -> None:
    executors = [gilfree.Executor(max_workers=2) for _ in range(3)]
    size = gilfree.get_num_threads()
    deadline = time.monotonic() + HANG_BOUND_S
    while pool_threads() > size and time.monotonic() < deadline:
        time.sleep(0.01)  # the workers of a pool replaced by an earlier set_num_threads() exit
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, pool_threads())
            time.sleep(0.002)

    def submitter(t: int) -> list[tuple[cf.Future[Any], int]]:
        out = []
        for k in range(60):
            ex = executors[(t + k) % len(executors)]
            n = 1000 * t + k
            out.append((ex.submit(gilfree.count_primes, n), n))
        out.append((executors[t % 3].submit(_testing.spin, 2, 1), -1))
        return out

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with cf.ThreadPoolExecutor(8) as callers:
            batches = list(callers.map(submitter, range(8)))
        pairs = [p for batch in batches for p in batch]
        _, not_done = cf.wait([f for f, _ in pairs], timeout=60)  # a deadlock detector
        assert not not_done
        for f, n in pairs:
            assert f.result() == (2 if n == -1 else gilfree.count_primes(n))
    finally:
        stop.set()
        sampler.join()
        for ex in executors:
            ex.shutdown()
    assert 1 <= peak <= size, f"{peak} pool threads for a pool of {size}"


def test_the_gil_is_free_while_native_tasks_run(ex: gilfree.Executor) -> None:
    count = 0
    stop = threading.Event()

    def counter() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        # The main thread waits (GIL released); the dispatcher delivers; the tasks hold no GIL.
        futs = [ex.submit(_testing.spin, 20, 10) for _ in range(2)]
        before = count
        assert [f.result(timeout=60) for f in futs] == [20, 20]
        progressed = count - before
    finally:
        stop.set()
        t.join()
    print(f"\ncounter thread: {progressed:,} increments while two 0.2 s native tasks ran")
    assert progressed > 1000


# --- the future's lazy condition ------------------------------------------------------------------


def test_a_native_future_builds_its_condition_only_when_waited_on(ex: gilfree.Executor) -> None:
    fut = ex.submit(gilfree.count_primes, 10)
    deadline = time.monotonic() + HANG_BOUND_S
    while not fut.done() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert fut.result() == 4
    assert vars(fut)["_condition"] is _executor._NO_LOCK, "finished unwaited: no lock was built"
    blockers = occupy_pool(ex)
    waited = ex.submit(gilfree.count_primes, 100)
    got: list[int] = []
    # result() builds no lock either (the waiting thread delivers it itself: see
    # test_result_is_delivered_by_the_waiting_thread); wait() does.
    t = threading.Thread(target=lambda: (cf.wait([waited]), got.append(waited.result())))
    t.start()
    deadline = time.monotonic() + HANG_BOUND_S
    while "_condition" not in vars(waited) and time.monotonic() < deadline:
        time.sleep(0.001)  # the pool is busy: waited cannot finish before the thread waits on it
    for b in blockers:
        b.cancel()
    t.join(timeout=HANG_BOUND_S)
    assert got == [25]
    assert isinstance(vars(waited)["_condition"], _executor._FutureLock)


def test_future_lock_acts_as_a_condition() -> None:
    lock = _executor._FutureLock()
    with lock:
        lock.notify_all()  # nobody waits: a no-op
        assert lock.wait(0.01) is False
    hits: list[bool] = []

    def waiter() -> None:
        with lock:
            hits.append(lock.wait(HANG_BOUND_S))

    t = threading.Thread(target=waiter)
    t.start()
    while True:
        with lock:
            if lock._cond is not None and lock._cond._waiters:  # type: ignore[attr-defined]
                lock.notify_all()
                break
        time.sleep(0.001)
    t.join()
    assert hits == [True]


def test_method_examples_run() -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(gilfree.Executor, "gilfree.Executor", module=False, globs={})
    assert sum(len(t.examples) for t in tests) >= 5
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# --- Ctrl-C, in a child process ----------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_while_waiting_on_futures_exits_promptly() -> None:
    script = textwrap.dedent(
        """
        import signal, sys, time
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        import gilfree
        from gilfree._native import _testing

        futs = []
        try:
            with gilfree.Executor() as ex:
                futs = [ex.submit(_testing.spin, 100_000, 10) for _ in range(8)]
                print("READY", flush=True)
                for f in futs:
                    f.result()
        except KeyboardInterrupt:
            print(f"EXITED {time.monotonic():.6f}", flush=True)
            print("FUTURES", sorted({type(f.exception()).__name__ for f in futs}), flush=True)
            print("NEXT", gilfree.Executor().submit(_testing.spin, 2, 1).result(), flush=True)
        """
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=HANG_BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    latency = float(lines["EXITED"]) - sent
    print(f"\nSIGINT -> executor closed and the with-block left: {latency * 1000:.1f} ms")
    assert 0 <= latency < 5.0, out + err
    assert lines["FUTURES"] == "['KeyboardInterrupt']", out + err
    assert lines["NEXT"] == "2", out + err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_an_executor_works_in_a_forked_child() -> None:
    script = textwrap.dedent(
        """
        import os, sys
        import gilfree
        ex = gilfree.Executor()
        assert ex.submit(gilfree.count_primes, 100).result() == 25
        pid = os.fork()
        if pid == 0:
            ok = ex.submit(gilfree.count_primes, 1000).result(timeout=30) == 168
            ex.shutdown()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        ex.shutdown()
        print("CHILD", os.waitstatus_to_exitcode(status))
        """
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S * 3,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CHILD 0", out.stdout + out.stderr


def test_a_done_callback_may_wait_on_another_native_future(ex: gilfree.Executor) -> None:
    # Callbacks run on the dispatcher thread; one that blocks on a pending native future of the
    # same executor must not wait for itself.
    got: list[Any] = []
    blockers = occupy_pool(ex)
    first = ex.submit(_testing.spin, 1, 0)
    second = ex.submit(_testing.spin, 1, 50)

    def callback(f: cf.Future[Any]) -> None:
        got.append((threading.current_thread().name, f.result(), second.result(), second.exception()))

    first.add_done_callback(callback)  # the pool is busy: first cannot be done yet
    for b in blockers:
        b.cancel()
    assert first.result(timeout=HANG_BOUND_S) == 1
    assert second.result(timeout=HANG_BOUND_S) == 1
    deadline = time.monotonic() + HANG_BOUND_S
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(got) == 1
    name, *results = got[0]
    assert name.endswith("-dispatcher")
    assert results == [1, 1, None]


def test_result_is_delivered_by_the_waiting_thread(ex: gilfree.Executor) -> None:
    # The dispatcher is stuck in a done-callback for 10 s; a thread waiting in result() on a
    # future nobody else waits on is woken by the worker that finishes it and takes its result
    # itself (one wake-up per task instead of two: see _executor._help_deliver).
    entered, gate = threading.Event(), threading.Event()
    blockers = occupy_pool(ex)
    first = ex.submit(_testing.spin, 1, 0)
    # The pool is busy: first cannot be done yet, so its callback runs on the dispatcher.
    first.add_done_callback(lambda f: (entered.set(), gate.wait(10)))
    for b in blockers:
        b.cancel()
    try:
        assert entered.wait(HANG_BOUND_S)
        t0 = time.monotonic()
        futs = [ex.submit(gilfree.nbody, 100 + i) for i in range(20)]
        assert [f.result(timeout=5) for f in futs] == [gilfree.nbody(100 + i) for i in range(20)]
        assert list(ex.map(gilfree.count_primes, [10, 100], timeout=5)) == [4, 25]
        assert time.monotonic() - t0 < 5
        # Delivered lock-free: no Condition was built for them.
        assert all(vars(f)["_condition"] is _executor._NO_LOCK for f in futs)
        # A future someone waits on through its Condition (here: a done-callback) is still
        # delivered by the dispatcher, which runs its callbacks: result() waits for it.
        called = ex.submit(_testing.spin, 1, 0)
        called.add_done_callback(lambda f: None)
        with pytest.raises(cf.TimeoutError):
            called.result(timeout=0.3)
    finally:
        gate.set()
    assert called.result(timeout=HANG_BOUND_S) == 1


def test_threads_waiting_in_result_see_a_cancellation_promptly(ex: gilfree.Executor) -> None:
    blockers = occupy_pool(ex)
    queued = ex.submit(_testing.spin, 1, 0)
    out: list[Any] = []

    def wait() -> None:
        t0 = time.monotonic()
        try:
            queued.result(timeout=HANG_BOUND_S)
        except cf.CancelledError as exc:
            out.append((type(exc), time.monotonic() - t0))

    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for w in waiters:
        w.start()
    time.sleep(0.2)  # the three wait in result(), the pool busy with the blockers
    assert queued.cancel()
    for w in waiters:
        w.join(HANG_BOUND_S)
    for b in blockers:
        b.cancel()
    # Each saw the cancellation at once (not after a 20 ms wait slice, let alone the timeout).
    assert [kind for kind, _ in out] == [cf.CancelledError] * 3
    assert max(dt for _, dt in out) < 0.2 + 1.0


def test_waits_on_overlapping_sets_of_finished_and_pending_futures_do_not_deadlock() -> None:
    # wait() takes the locks of all its futures in id order. Two threads whose sets overlap on a
    # pending future, each with a future finished before anyone waited on it (which has no lock
    # of its own), on either side of it in that order: nothing may make them wait for each other.
    lo, pending, hi = sorted((_executor._NativeFuture() for _ in range(3)), key=id)
    _executor._deliver([(lo, 0, 1), (hi, 0, 2)])
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    stop = time.monotonic() + 0.5
    try:

        def waits(fs: list[cf.Future[Any]]) -> None:
            while time.monotonic() < stop:
                cf.wait(fs, timeout=0)

        threads = [
            threading.Thread(target=waits, args=(fs,), daemon=True) for fs in ([lo, pending], [pending, hi])
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG_BOUND_S)
        assert not any(t.is_alive() for t in threads), "deadlocked"
    finally:
        sys.setswitchinterval(before)
    assert (lo.result(), hi.result()) == (1, 2)
    assert pending.cancel()


def test_interpreter_exit_with_executors_still_open_is_clean() -> None:
    # One executor left open with tasks in flight (exit waits for them, as for a
    # ThreadPoolExecutor), one dropped while its dispatcher still has a task to deliver (a daemon
    # thread that must not take the GIL back from Rust frames during finalization).
    script = textwrap.dedent(
        """
        import gilfree
        from gilfree._native import _testing
        ex = gilfree.Executor()
        futs = [ex.submit(_testing.spin, 1, 100) for _ in range(4)]
        futs[0].add_done_callback(lambda f: print("DELIVERED", f.result(), flush=True))
        dropped = gilfree.Executor()
        dropped.submit(_testing.spin, 1, 300)
        del dropped
        print("END", flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=HANG_BOUND_S * 3, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    # Both lines, in either order: the 100 ms task may be delivered before the script's end on a
    # busy machine (what is checked is that exit waits for it and delivers it, cleanly).
    assert sorted(out.stdout.splitlines()) == ["DELIVERED 1", "END"]


# --- drop-in contract: references, map, initializer, fork (issue 9, item 7) ----------------------
# Each is compared with what ThreadPoolExecutor does (tests/test_cpython_futures.py runs
# CPython's own suite against the executor).


def _dead_soon(*refs: weakref.ref[Any]) -> bool:
    """True once every referent is gone. The dispatcher may still be returning from the delivery
    that woke the caller: give it a moment, much less than its idle wait (1 s)."""
    deadline = time.monotonic() + 0.3
    while True:
        gc.collect()
        if all(r() is None for r in refs):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def test_a_delivered_result_dies_with_its_future(ex: gilfree.Executor) -> None:
    # CPython's test_free_reference with a kernel: nothing of the executor's (before: the
    # dispatcher's last batch, while it waited up to 1 s for the next one) may keep a result or
    # a future alive once the caller dropped them.
    futs = [ex.submit(gilfree.primes, n) for n in (10, 100, 1000)]
    while futs:
        fut = futs.pop()
        result = fut.result(timeout=60)
        refs = (weakref.ref(result), weakref.ref(fut))
        del result, fut
        assert _dead_soon(*refs)
    for result in ex.map(gilfree.primes, range(5)):
        ref = weakref.ref(result)
        del result
        assert _dead_soon(ref)
    err = ex.submit(_testing.panic, 10, 3).exception(timeout=60)
    assert err is not None
    ref = weakref.ref(err)
    del err
    assert _dead_soon(ref)


@pytest.mark.parametrize("make", [lambda: cf.ThreadPoolExecutor(2), lambda: gilfree.Executor(2)])
def test_map_raises_an_items_argument_error_when_that_item_is_retrieved(make: Callable[[], Any]) -> None:
    # ThreadPoolExecutor runs each item as its own call: a bad argument raises in that call, and
    # map() re-raises it when the item is reached. gilfree.Executor validates a kernel's
    # arguments at submit; in map() that error belongs to the item, not to map() itself.
    with make() as executor:
        it = executor.map(gilfree.count_primes, [10, -1, 100])
        assert next(it) == 4
        with pytest.raises(Exception) as got:  # the type is what we compare
            next(it)
        with pytest.raises(StopIteration):  # an iterator that raised is finished
            next(it)
    with pytest.raises(Exception) as direct:
        gilfree.count_primes(-1)
    assert (type(got.value), str(got.value)) == (type(direct.value), str(direct.value))


def test_map_with_a_bad_item_leaves_nothing_running(ex: gilfree.Executor) -> None:
    # Before: map() raised at the bad item and the 1000 s task before it kept a pool worker.
    it = ex.map(_testing.spin, [100_000, -1], [10, 0])
    it.close()  # the iterator's cleanup cancels every future it still holds
    assert ex.submit(_testing.spin, 1, 0).result(timeout=HANG_BOUND_S) == 1
    it = ex.map(_testing.spin, [1, -1, 1], [0, 0, 0], timeout=HANG_BOUND_S)
    assert next(it) == 1
    with pytest.raises(OverflowError, match="negative"):
        next(it)


@pytest.mark.parametrize("make", [cf.ThreadPoolExecutor, gilfree.Executor])
def test_map_after_shutdown_raises_from_map_itself(make: Callable[..., Any]) -> None:
    executor = make(2)
    executor.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.map(pow, [1], [2])
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.map(gilfree.count_primes, [10])


def test_map_signature_is_the_interpreters(ex: gilfree.Executor) -> None:
    ours = inspect.signature(gilfree.Executor.map).parameters
    theirs = inspect.signature(cf.Executor.map).parameters
    assert [(p.name, p.kind, p.default) for p in theirs.values()] == [
        (p.name, p.kind, p.default) for p in list(ours.values())[: len(theirs)]
    ]
    assert list(ex.map(gilfree.count_primes, [10, 100], timeout=60, chunksize=5)) == [4, 25]
    assert list(ex.map(pow, [2, 3], [2, 2], chunksize=2)) == [4, 9]


def test_map_buffersize_bounds_the_futures_in_flight(ex: gilfree.Executor) -> None:
    # Python 3.14's Executor.map(buffersize=): at most that many items submitted ahead.
    submitted: list[int] = []

    def items() -> Iterator[int]:
        for n in range(10):
            submitted.append(n)
            yield n

    it = ex.map(gilfree.count_primes, items(), buffersize=2)
    assert len(submitted) == 2
    assert next(it) == 0
    assert len(submitted) <= 4
    assert list(it) == [gilfree.count_primes(n) for n in range(1, 10)]
    with pytest.raises(ValueError, match="buffersize"):
        ex.map(pow, [1], buffersize=0)
    with pytest.raises(TypeError, match="buffersize"):
        ex.map(pow, [1], buffersize=1.5)  # type: ignore[arg-type]


def test_constructor_signature_is_thread_pool_executors() -> None:
    ours = inspect.signature(gilfree.Executor).parameters
    theirs = {
        k: p
        for k, p in inspect.signature(cf.ThreadPoolExecutor).parameters.items()
        if p.kind is not p.VAR_KEYWORD
    }  # 3.14: **ctxkwargs, for InterpreterPoolExecutor
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]
    with gilfree.Executor(2, "positional", None, ()) as ex:
        assert ex.submit(lambda: threading.current_thread().name).result().startswith("positional")
    for make in (cf.ThreadPoolExecutor, gilfree.Executor):
        with pytest.raises(TypeError, match="initializer must be a callable"):
            make(initializer=1)
        with pytest.raises(ValueError, match="max_workers must be greater than 0"):
            make(0)
    assert gilfree.Executor()._max_workers == cf.ThreadPoolExecutor()._max_workers


def _run_initialized(make: Callable[..., Any]) -> tuple[list[Any], set[str], list[Any]]:
    """Three tasks on two Python workers that must both start; returns what the initializer saw,
    the threads that ran tasks, and a kernel's result."""
    inits: list[Any] = []
    barrier = threading.Barrier(2, timeout=HANG_BOUND_S)

    def task(i: int) -> str:
        if i < 2:  # the first two tasks wait for each other: two workers run them
            barrier.wait()
        return threading.current_thread().name

    with make(
        2, initializer=lambda *a: inits.append((threading.current_thread().name, a)), initargs=(1, "x")
    ) as executor:
        kernel = [executor.submit(gilfree.count_primes, 100).result()]
        names = set(executor.map(task, range(3)))
    return inits, names, kernel


@pytest.mark.parametrize("make", [cf.ThreadPoolExecutor, gilfree.Executor])
def test_initializer_runs_once_in_each_python_worker(make: Callable[..., Any]) -> None:
    inits, names, kernel = _run_initialized(make)
    assert kernel == [25]
    assert sorted(a for _, a in inits) == [(1, "x"), (1, "x")]
    assert {n for n, _ in inits} == names  # the threads that ran tasks, each once
    assert len(names) == 2


@pytest.mark.parametrize("make", [cf.ThreadPoolExecutor, gilfree.Executor])
def test_a_failing_initializer_breaks_the_executor(
    make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    def fails() -> None:
        raise ValueError("error in initializer")

    executor = make(1, initializer=fails)
    try:
        with pytest.raises(cf.thread.BrokenThreadPool):
            executor.submit(pow, 2, 3).result(timeout=HANG_BOUND_S)
        assert executor._broken
        for fn, args in ((pow, (2, 3)), (gilfree.count_primes, (10,))):
            with pytest.raises(cf.thread.BrokenThreadPool, match="initializer failed"):
                executor.submit(fn, *args)
            with pytest.raises(cf.thread.BrokenThreadPool):
                executor.map(fn, *[[a] for a in args])
    finally:
        executor.shutdown()
    assert "error in initializer" in caplog.text


def test_native_tasks_do_not_run_the_initializer() -> None:
    # The initializer prepares Python worker threads; kernel tasks run on the native pool.
    calls: list[str] = []
    with gilfree.Executor(initializer=lambda: calls.append("init")) as ex:
        assert ex.submit(gilfree.count_primes, 100).result() == 25
    assert calls == []


_FORK_SCRIPT = """
import os, sys, threading, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+
import gilfree
MODE, FORKS = {mode!r}, {forks}
ex = gilfree.Executor(4)
stop = False

def submitter():
    while not stop:
        if MODE == "kernel":
            ex.submit(gilfree.count_primes, 1000)
        else:
            ex.submit(pow, 2, 3)

def holder(held):
    # A thread inside the inner ThreadPoolExecutor's submit at fork(), made certain: it holds
    # that pool's lock (the race the submitters above hit now and then).
    ex._python_pool._shutdown_lock.acquire()
    held.set()
    while True:
        time.sleep(1)

if MODE == "lock-held":
    ex.submit(pow, 2, 3).result()
    held = threading.Event()
    threads = [threading.Thread(target=holder, args=(held,), daemon=True)]
    threads[0].start()
    held.wait()
else:
    threads = [threading.Thread(target=submitter, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
hung = 0
for _ in range(FORKS):
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # a normal exit: atexit and threading's exit hooks run
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, status
            break
        if time.monotonic() > deadline:
            hung += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.005)
stop = True
if MODE != "lock-held":
    for t in threads:
        t.join()
    ex.shutdown()
print("HUNG", hung)
os._exit(0)  # the holder keeps the lock: skip the parent's own exit hooks
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
@pytest.mark.parametrize(("mode", "forks"), [("lock-held", 1), ("python", 20), ("kernel", 20)])
def test_a_forked_child_exits_while_other_threads_submit(mode: str, forks: int) -> None:
    # Threads submit in a loop while the main thread forks children that exit at once (or a
    # thread holds the inner ThreadPoolExecutor's lock at the fork): no child may hang in an
    # exit hook on a lock that a thread which does not exist in the child held at fork().
    # Before the fix: "lock-held" hung every time, the others about one fork in 20.
    out = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT.format(mode=mode, forks=forks)],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S * 6,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["HUNG", "0"], out.stdout + out.stderr
