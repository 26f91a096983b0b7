"""The Benchmarks Game trio: spectral_norm, fannkuch_redux, nbody.

Values are checked against the Benchmarks Game's published outputs (to the 9 printed decimals),
against a NumPy implementation of the same algorithm (spectral_norm), and against the serial
reference program in pure Python (fannkuch_redux). Thread-count invariance is bit-for-bit, and
each kernel is interrupted by a real SIGINT in a child process.
"""

from __future__ import annotations

import math
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only

import gilfree

THREADS = [1, 2, 3, 8, None]
GIL_ENABLED = gilfree.info()["gil_enabled"]


def bits(x: float) -> str:
    return struct.pack("<d", x).hex()


# ---------------------------------------------------------------------------------------------
# References


def spectral_norm_numpy(n: int) -> float:
    """The same algorithm in NumPy, with the matrix built explicitly."""
    i = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    a = 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)
    u = np.ones(n)
    v = np.zeros(n)
    for _ in range(10):
        v = a.T @ (a @ u)
        u = a.T @ (a @ v)
    return math.sqrt(float(u @ v) / float(v @ v))


def fannkuch_python(n: int) -> tuple[int, int]:
    """The Benchmarks Game's serial fannkuch-redux program, in plain Python."""
    perm1 = list(range(n))
    count = [0] * n
    checksum = max_flips = perm_count = 0
    r = n
    while True:
        while r != 1:
            count[r - 1] = r
            r -= 1
        perm = perm1[:]
        flips = 0
        k = perm[0]
        while k:
            perm[: k + 1] = perm[k::-1]
            flips += 1
            k = perm[0]
        max_flips = max(max_flips, flips)
        checksum += -flips if perm_count % 2 else flips
        while True:
            if r == n:
                return checksum, max_flips
            perm0 = perm1[0]
            perm1[:r] = perm1[1 : r + 1]
            perm1[r] = perm0
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        perm_count += 1


# ---------------------------------------------------------------------------------------------
# spectral_norm


@pytest.mark.parametrize(("n", "printed"), [(100, "1.274219991"), (5500, "1.274224153")])
def test_spectral_norm_published_values(n: int, printed: str) -> None:
    assert f"{gilfree.spectral_norm(n):.9f}" == printed


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 63, 64, 65, 100, 129, 500])
def test_spectral_norm_matches_numpy(n: int) -> None:
    assert gilfree.spectral_norm(n) == pytest.approx(spectral_norm_numpy(n), rel=1e-12, abs=0)


def test_spectral_norm_of_one_is_one() -> None:
    assert gilfree.spectral_norm(1) == 1.0


@pytest.mark.parametrize("n", [100, 2100])
def test_spectral_norm_is_identical_for_every_thread_count(n: int) -> None:
    # 2100: 66 blocks of 32 rows (the last one partial), enough work for the pool.
    results = {bits(gilfree.spectral_norm(n, threads=t)) for t in THREADS}
    assert len(results) == 1, results


def test_spectral_norm_accepts_numpy_integers() -> None:
    assert gilfree.spectral_norm(np.int64(50), threads=np.int32(2)) == gilfree.spectral_norm(50)


@pytest.mark.parametrize("n", [0, -1, -(2**70), 2**25 + 1, 2**64, 10**30])
def test_spectral_norm_value_error(n: int) -> None:
    with pytest.raises(ValueError, match="n must be an int in"):
        gilfree.spectral_norm(n)


@pytest.mark.parametrize("n", [True, False, 10.0, "10", None, np.float64(10)])
def test_spectral_norm_type_error(n: Any) -> None:
    with pytest.raises(TypeError, match="n must be"):
        gilfree.spectral_norm(n)


def test_spectral_norm_threads_errors() -> None:
    with pytest.raises(ValueError, match="threads"):
        gilfree.spectral_norm(10, threads=0)
    with pytest.raises(TypeError, match="threads"):
        gilfree.spectral_norm(10, threads=True)
    with pytest.raises(TypeError):
        gilfree.spectral_norm(10, 2)  # type: ignore[misc]  # threads is keyword-only


# ---------------------------------------------------------------------------------------------
# fannkuch_redux


@pytest.mark.parametrize("n", range(3, 10))
def test_fannkuch_matches_the_python_program(n: int) -> None:
    # n = 9 takes ~1 s in pure Python; 10 and up only against the published values.
    assert gilfree.fannkuch_redux(n) == fannkuch_python(n)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(7, (228, 16)), (10, (73196, 38)), (12, (3968050, 65))],
)
def test_fannkuch_published_values(n: int, expected: tuple[int, int]) -> None:
    result = gilfree.fannkuch_redux(n)
    assert result == expected
    assert all(type(x) is int for x in result)


@pytest.mark.parametrize("n", [3, 8, 10])
def test_fannkuch_is_identical_for_every_thread_count(n: int) -> None:
    results = {gilfree.fannkuch_redux(n, threads=t) for t in THREADS}
    assert len(results) == 1, results


@pytest.mark.parametrize("n", [0, 1, 2, 13, -3, 2**64])
def test_fannkuch_value_error(n: int) -> None:
    with pytest.raises(ValueError, match=r"n must be an int in \[3, 12\]"):
        gilfree.fannkuch_redux(n)


@pytest.mark.parametrize("n", [True, 7.0, "7", None])
def test_fannkuch_type_error(n: Any) -> None:
    with pytest.raises(TypeError, match="n must be"):
        gilfree.fannkuch_redux(n)


def test_fannkuch_threads_errors() -> None:
    with pytest.raises(ValueError, match="threads"):
        gilfree.fannkuch_redux(7, threads=-1)
    with pytest.raises(TypeError, match="threads"):
        gilfree.fannkuch_redux(7, threads=1.0)


# ---------------------------------------------------------------------------------------------
# nbody


def test_nbody_published_values() -> None:
    e0, e1 = gilfree.nbody(1000)
    assert (f"{e0:.9f}", f"{e1:.9f}") == ("-0.169075164", "-0.169087605")


def test_nbody_published_values_50m_steps() -> None:
    # The Benchmarks Game's full-size run (~2.5 s here).
    e0, e1 = gilfree.nbody(50_000_000)
    assert (f"{e0:.9f}", f"{e1:.9f}") == ("-0.169075164", "-0.169059907")


def test_nbody_zero_steps() -> None:
    e0, e1 = gilfree.nbody(0)
    assert e0 == e1
    assert f"{e0:.9f}" == "-0.169075164"
    assert gilfree.nbody(np.uint8(0)) == (e0, e1)


@pytest.mark.parametrize("steps", [-1, -(2**70)])
def test_nbody_value_error(steps: int) -> None:
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        gilfree.nbody(steps)


def test_nbody_overflow_error() -> None:
    with pytest.raises(OverflowError, match="steps"):
        gilfree.nbody(2**64)


@pytest.mark.parametrize("steps", [True, 1000.0, "1000", None])
def test_nbody_type_error(steps: Any) -> None:
    with pytest.raises(TypeError, match="steps must be"):
        gilfree.nbody(steps)


def test_nbody_has_no_threads_argument() -> None:
    with pytest.raises(TypeError):
        gilfree.nbody(10, threads=1)  # type: ignore[call-arg]


@pytest.mark.skipif(not GIL_ENABLED, reason="counts what the GIL allows; there is none")
def test_nbody_calls_from_an_executor_run_gil_free_and_agree() -> None:
    # Four 1M-step simulations on a ThreadPoolExecutor(2). Each call reads a counter that the
    # main thread increments in a Python loop, right before and right after the call: if the call
    # held the GIL, the main thread could not run during it (only around its edges, one switch
    # interval). With the GIL released it counts the whole time. No time is measured.
    steps = 1_000_000
    expected = gilfree.nbody(steps)
    counter = [0]
    done = threading.Event()

    def call(_: int) -> tuple[tuple[float, float], int, int]:
        before = counter[0]
        result = gilfree.nbody(steps)
        return result, counter[0] - before, threading.get_ident()

    def main_loop() -> None:
        n = 0
        while not done.is_set():
            n += 1
            counter[0] = n

    with ThreadPoolExecutor(2) as ex:
        futures = [ex.submit(call, i) for i in range(4)]

        def wait_all() -> None:
            for f in futures:
                f.exception()
            done.set()

        # The main thread counts until every call is done.
        wall, cpu = time.perf_counter(), time.process_time()
        watcher = threading.Thread(target=wait_all)
        watcher.start()
        main_loop()
        watcher.join()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        outcomes = [f.result() for f in futures]
    progress = [p for _, p, _ in outcomes]
    # Information only (the machine may be busy): ~3 with both calls and the counter running.
    print(f"main-thread increments during each nbody call: {progress}; CPU/wall {cpu / wall:.2f}")
    assert all(r == expected for r, _, _ in outcomes)
    assert len({ident for _, _, ident in outcomes}) == 2  # both executor threads ran calls
    assert all(p > 10_000 for p in progress), progress


# ---------------------------------------------------------------------------------------------
# Ctrl-C: a real SIGINT to a child process running a long call

LONG_CALLS = {
    "spectral_norm": ("gilfree.spectral_norm(20000)", "gilfree.spectral_norm(100, threads=1)"),
    "spectral_norm_threads1": ("gilfree.spectral_norm(20000, threads=1)", "gilfree.spectral_norm(100)"),
    "fannkuch_redux": ("gilfree.fannkuch_redux(12)", "gilfree.fannkuch_redux(7)"),
    "fannkuch_redux_threads1": ("gilfree.fannkuch_redux(12, threads=1)", "gilfree.fannkuch_redux(7)"),
    "nbody": ("gilfree.nbody(10**9)", "gilfree.nbody(1000)"),
}


@posix_only
@pytest.mark.parametrize("kernel", list(LONG_CALLS))
def test_ctrl_c_stops_a_long_call(kernel: str) -> None:
    long_call, next_call = LONG_CALLS[kernel]
    child = interrupt_call(long_call, after=f'print(f"NEXT_CALL {{{next_call}!r}}", flush=True)')
    check_after(child, kernel)
    assert child.value("NEXT_CALL") == repr(eval(next_call)), child.describe()


@posix_only
def test_ctrl_c_stops_nbody_calls_in_an_executor() -> None:
    # nbody's intended use: many simulations on a ThreadPoolExecutor. Ctrl-C reaches the calls
    # in the worker threads through the interrupt epoch, and `with` does not hang at exit.
    child = interrupt_call(
        "wait(futs)",
        setup="""
        from concurrent.futures import ThreadPoolExecutor, wait
        ex = ThreadPoolExecutor(2)
        futs = [ex.submit(gilfree.nbody, 10**9) for _ in range(2)]
        """,
        after="""
        wait(futs)
        ex.shutdown()
        print("FUTURES", ",".join(type(f.exception()).__name__ for f in futs), flush=True)
        """,
    )
    check_after(child, "nbody in an executor")
    assert child.value("FUTURES") == "KeyboardInterrupt,KeyboardInterrupt", child.describe()
