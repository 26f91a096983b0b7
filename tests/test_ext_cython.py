"""The Cython example, ``examples/ext-cython``, built and installed as a user would build it
(``bash scripts/build_examples.sh cython``) and tested from the installed package: values against
pure Python and gilfree's own sieve, the same result at any thread count, the GIL released (and
held by the classic mistake), Ctrl-C from the main thread and from a ThreadPoolExecutor thread,
and one pool for the whole process.

SIGINT goes to child processes only (tests/_sigint.py). The long calls count primes from 10**12
on: about a millisecond of trial division per prime, more than an hour in all, so a child that
misses the signal hangs until the hang bound and fails.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _pool import CHILD_IMPORT
from _sigint import Child, check_after, interrupt_call, interrupt_thread_pool, posix_only

import gilfree
from gilfree._native import _testing
from gilfree.lab._gil import GilMonitor, gil_enabled

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ext-cython"

if importlib.util.find_spec("gilfree_cython_example") is None:
    pytest.skip(
        "examples/ext-cython is not installed in this interpreter: bash scripts/build_examples.sh cython",
        allow_module_level=True,
    )

# Installed but failing to import (an ABI mismatch, a broken build) fails here, loudly.
import gilfree_cython_example as ex  # noqa: E402

# The bar for Ctrl-C: the exception within 0.5 s of the signal.
CTRL_C_WITHIN_S = 0.5
# Hours of work (see the module docstring); stopped by Ctrl-C only.
LONG = "10**12, 10**13"

needs_gil = pytest.mark.skipif(not gil_enabled(), reason="measures who holds the GIL; there is none")


def test_installed_not_imported_from_the_source_tree() -> None:
    where = Path(ex.__file__).resolve()
    assert EXAMPLE not in where.parents, where
    assert Path(ex._primes.__file__).suffix in (".so", ".pyd")


# --- values ------------------------------------------------------------------------------------

RANGES = [
    (0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 10), (1, 100), (2, 3), (3, 3), (24, 26), (25, 26),
    (48, 50), (120, 122), (0, 5000), (7919, 7920), (10**6, 10**6 + 3000), (10**9, 10**9 + 300),
    (2**31 - 50, 2**31 + 50), (10**12, 10**12 + 40), (50, 10),
]  # fmt: skip


@pytest.mark.parametrize(("lo", "hi"), RANGES)
def test_values_match_pure_python(lo: int, hi: int) -> None:
    want = ex.count_primes_py(lo, hi)
    assert ex.count_primes_nogil(lo, hi) == want
    assert ex.count_primes_holding_gil(lo, hi) == want
    for threads in (None, 1, 2):
        assert ex.count_primes(lo, hi, threads=threads) == want


@pytest.mark.parametrize("n", [0, 1, 2, 3, 100, 7919, 10**5, 10**6])
def test_agrees_with_gilfrees_sieve(n: int) -> None:
    # gilfree.count_primes(n) counts the primes <= n with a sieve: another algorithm entirely.
    assert ex.count_primes(0, n + 1) == gilfree.count_primes(n)


def test_the_pure_python_twin_is_right() -> None:
    assert [n for n in range(40) if ex.is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]
    assert ex.count_primes_py(0, 10**4) == 1229


@pytest.mark.parametrize("threads", [1, 2, 3, None, 64, 2**70])
def test_same_result_at_any_thread_count(threads: int | None) -> None:
    lo, hi = 10**8, 10**8 + 300_000
    want = ex.count_primes_nogil(lo, hi)
    assert ex.count_primes(lo, hi, threads=threads) == want


def test_from_a_thread_pool_executor_same_results() -> None:
    # The recipe: split the range into parts and count each on its own thread.
    lo, hi, parts = 10**7, 10**7 + 400_000, 8
    edges = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    with ThreadPoolExecutor(4) as pool:
        nogil = sum(pool.map(ex.count_primes_nogil, edges[:-1], edges[1:]))
        shared = sum(pool.map(lambda a, b: ex.count_primes(a, b, threads=2), edges[:-1], edges[1:]))
    assert nogil == shared == ex.count_primes(lo, hi)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"threads": 0}, ValueError, "threads must be None or an int >= 1, got 0"),
        ({"threads": -3}, ValueError, "got -3"),
        ({"threads": True}, TypeError, "got bool"),
        ({"threads": "2"}, TypeError, "got str"),
        ({"threads": 2.0}, TypeError, "got float"),
    ],
)
def test_bad_threads(kwargs: dict[str, Any], exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        ex.count_primes(0, 100, **kwargs)


@pytest.mark.parametrize(
    "f", [ex.count_primes, ex.count_primes_nogil, ex.count_primes_holding_gil, ex.count_primes_py]
)
def test_bad_bounds(f: Any) -> None:
    with pytest.raises(ValueError, match="lo must be >= 0, got -1"):
        f(-1, 10)
    with pytest.raises(OverflowError, match="hi must be < 2"):
        f(0, 2**63)
    with pytest.raises(TypeError):
        f(0.5, 10)
    assert f(10, 5) == 0  # an empty range, like range(10, 5)


def test_thread_budget_is_gilfrees(restore_num_threads: int) -> None:
    assert ex.thread_budget() == gilfree.get_num_threads()
    gilfree.set_num_threads(3)
    assert ex.thread_budget() == 3


def test_readme_session_runs() -> None:
    text = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, "README.md", str(EXAMPLE / "README.md"), 0)
    assert test.examples, "the README has no >>> examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_package_docstring_runs() -> None:
    failed, attempted = doctest.testmod(ex)
    assert attempted > 0
    assert failed == 0


# --- the GIL ---------------------------------------------------------------------------------------

# Enough numbers near 10**9 for a call of a few tenths of a second.
GIL_RANGE = (10**9, 10**9 + 60_000)


@needs_gil
@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("count_primes_nogil", lambda: ex.count_primes_nogil(*GIL_RANGE)),
        ("count_primes, threads=1", lambda: ex.count_primes(*GIL_RANGE, threads=1)),
        ("count_primes, threads=None", lambda: ex.count_primes(*GIL_RANGE)),
    ],
)
def test_the_gil_is_released(name: str, call: Any) -> None:
    with GilMonitor() as gil:
        call()
    r = gil.reading
    print(
        f"\n[{name}] GIL-hold share {r.share:.3f} over {r.wall:.3f} s, longest wait {r.longest * 1e3:.1f} ms"
    )
    assert r.share < 0.3, r


@needs_gil
def test_the_classic_mistake_holds_the_gil() -> None:
    with GilMonitor() as gil:
        ex.count_primes_holding_gil(*GIL_RANGE)
    r = gil.reading
    print(f"\n[count_primes_holding_gil] GIL-hold share {r.share:.3f} over {r.wall:.3f} s")
    assert r.share > 0.7, r


def _cores_busy_on_two_threads(f: Any, *args: Any, **kwargs: Any) -> tuple[float, float]:
    """Runs ``f`` on two Python threads at once: (cores busy meanwhile, GIL-hold share)."""
    with ThreadPoolExecutor(2) as pool, GilMonitor() as gil:
        cpu0, wall0 = time.process_time(), time.monotonic()
        futures = [pool.submit(f, *args, **kwargs) for _ in range(2)]
        results = [fut.result() for fut in futures]
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert results[0] == results[1]
    return cpu / wall, gil.reading.share


@needs_gil
def test_two_threads_run_at_once() -> None:
    # Two nogil calls on two Python threads: the GIL stays free, and the process burns two
    # cores' worth of CPU when two cores are free. Whether they are is measured the same way with
    # gilfree's own GIL-free test kernel (a busy shared machine cannot show scaling).
    reference, _ = _cores_busy_on_two_threads(_testing.spin, 30, 10, threads=1)  # 0.3 s each
    busy, share = _cores_busy_on_two_threads(ex.count_primes_nogil, *GIL_RANGE)
    print(f"\n[2 threads] {busy:.2f} cores busy (gilfree's own kernel: {reference:.2f})")
    assert share < 0.3
    if reference > 1.6:
        assert busy > 1.3, (busy, reference)


# --- Ctrl-C --------------------------------------------------------------------------------------

SETUP = "import gilfree_cython_example as ex\n"
# After the interrupt: the example's next calls work, on the pool and on the calling thread.
AFTER = """
print("NEXT_EXAMPLE", ex.count_primes(0, 10**4), ex.count_primes(0, 10**4, threads=1),
      ex.count_primes_nogil(0, 10**4), flush=True)
"""
# (function, keyword arguments) of the long calls.
CALLS = [
    ("count_primes_nogil", ""),
    ("count_primes", ""),
    ("count_primes", ", threads=1"),
    ("count_primes", ", threads=2"),
    ("count_primes_holding_gil", ""),
]


def _check_example_after(child: Child, what: str) -> None:
    latency = check_after(child, what)
    assert latency < CTRL_C_WITHIN_S, f"{what}: Ctrl-C took {latency:.3f} s\n{child.describe()}"
    assert child.value("NEXT_EXAMPLE") == "1229 1229 1229", child.describe()


@posix_only
@pytest.mark.parametrize(("fn", "kwargs"), CALLS)
def test_ctrl_c_in_the_main_thread(fn: str, kwargs: str) -> None:
    call = f"ex.{fn}({LONG}{kwargs})"
    child = interrupt_call(call, setup=SETUP, after=AFTER)
    _check_example_after(child, f"main thread, {call}")


@posix_only
@pytest.mark.parametrize(("fn", "kwargs"), CALLS[:4])
def test_ctrl_c_in_thread_pool_executor_threads(fn: str, kwargs: str) -> None:
    submit = f"ex.{fn}, {LONG}{kwargs}"
    child = interrupt_thread_pool(submit, f"pool.submit(ex.{fn}, 0, 10**4).result()", setup=SETUP, then=AFTER)
    assert child.value("AFTER") == "1229", child.describe()
    _check_example_after(child, f"ThreadPoolExecutor(2), {submit}")


# --- one pool per process --------------------------------------------------------------------------

POOL_CHILD = (
    CHILD_IMPORT
    + """
import json, os, time
import gilfree
import gilfree_cython_example as ex

out = {"budget": gilfree.get_num_threads()}
out["threads1"] = [ex.count_primes(0, 300_000, threads=1), pool_workers()]
ex.count_primes(0, 300_000)
out["first"] = settled_workers(out["budget"])
for k in (3, 1, 2):
    gilfree.set_num_threads(k)
    count = ex.count_primes(0, 300_000)
    # A budget of 1 is the calling thread: no pool threads at all.
    out[f"after_set_{k}"] = [count, settled_workers(k if k > 1 else 0), ex.thread_budget()]
print(json.dumps(out))
"""
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads by name in /proc/self/task")
def test_one_pool_for_the_process() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GILFREE_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-c", POOL_CHILD], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    want = 25997
    assert out["threads1"] == [want, 0], "threads=1 runs on the calling thread: no pool"
    assert out["first"] == out["budget"], out
    for k in (3, 1, 2):
        assert out[f"after_set_{k}"] == [want, k if k > 1 else 0, k], out
