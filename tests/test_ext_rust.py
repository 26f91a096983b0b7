"""The Rust example extension, ``examples/ext-rust`` (``gilfree_rust_example``), as a user builds it.

It is installed into the test venv by ``bash scripts/build_examples.sh rust`` (``pip install
./examples/ext-rust``) and imported from there, never from the source tree; without it, this file
is skipped. It checks what issue 10 promises a Rust extension built on ``gilfree-pyo3``: right
values, the same bits at any thread count, the GIL released, Ctrl-C within a fraction of a second
from any thread and from a ``gilfree.Executor`` block, a panic raised as ``gilfree.KernelError``,
the Executor's native path, and one pool per process.

Measured figures are printed (``pytest -s``); the only assertions on timings are hang bounds.
"""

from __future__ import annotations

import concurrent.futures as cf
import doctest
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
import time
import types
from typing import Any

import numpy as np
import pytest
from _pool import pool_threads
from _sigint import check_after, interrupt_call, interrupt_child, interrupt_thread_pool, posix_only
from hypothesis import given
from hypothesis import strategies as st

import gilfree

try:
    import gilfree_rust_example as ex
    from gilfree_rust_example import _native as ex_native
except ModuleNotFoundError:
    pytest.skip(
        "gilfree_rust_example is not installed: build it with `bash scripts/build_examples.sh rust`",
        allow_module_level=True,
    )

# The Cython example too, when it is installed: one pool for all three.
try:
    import gilfree_cython_example as cython_example
except ModuleNotFoundError:
    cython_example = None

ROOT = pathlib.Path(__file__).resolve().parent.parent
HANG_BOUND_S = 20.0

# --- references --------------------------------------------------------------------------------


def lev(a: str, b: str) -> int:
    """The textbook dynamic-programming table, one row at a time."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diag, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (ca != cb))
    return row[-1]


def lev_np(a: str, b: str) -> int:
    """The same table with NumPy, for long strings: a row's insertions are a running minimum."""
    x = np.frombuffer(a.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    y = np.frombuffer(b.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    j = np.arange(len(y) + 1, dtype=np.int64)
    row = j.copy()
    for i, c in enumerate(x, 1):
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(row[1:] + 1, row[:-1] + (y != c))
        row = np.minimum.accumulate(best - j) + j
    return int(row[-1])


def reference_matrix(strings: list[str]) -> np.ndarray:
    return np.array([[lev(a, b) for b in strings] for a in strings], dtype=np.int64).reshape(
        len(strings), len(strings)
    )


def random_strings(n: int, max_len: int, alphabet: str = "acgt", seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list(alphabet))
    return ["".join(rng.choice(letters, size=int(rng.integers(0, max_len + 1)))) for _ in range(n)]


# --- the package ---------------------------------------------------------------------------------


def test_imported_from_the_installed_package_and_linked_to_gilfree() -> None:
    path = pathlib.Path(ex.__file__).resolve()
    assert ROOT / "examples" not in path.parents, f"imported from the source tree: {path}"
    assert ex.runtime_linked(), "the extension runs on a pool of its own, not gilfree's"
    assert (path.parent / "py.typed").exists()
    assert (path.parent / "_native.pyi").exists()


def test_docstring_examples() -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(ex, ex.__name__, globs={})
    for name in dir(ex_native):
        obj = getattr(ex_native, name)
        if isinstance(obj, types.BuiltinFunctionType) and obj.__doc__:
            tests.extend(finder.find(obj, f"{ex_native.__name__}.{name}", globs={}))
    for test in tests:
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted >= 6
    assert failed == 0
    for name in ex.__all__:
        assert ">>>" in (getattr(ex, name).__doc__ or ""), f"{name} has no example"


def test_readme_sessions() -> None:
    readme = ROOT / "examples" / "ext-rust" / "README.md"
    test = doctest.DocTestParser().get_doctest(
        readme.read_text(encoding="utf-8"), {}, "README", str(readme), 0
    )
    assert len(test.examples) >= 10
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_stub_matches_the_module(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("mypy", reason="mypy (the lint extra) runs stubtest")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "gilfree_rust_example._native"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # away from the source tree, and mypy's cache with it
        env=dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / ".mypy_cache")),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- values --------------------------------------------------------------------------------------

FIXED = [
    "",
    "a",
    "kitten",
    "sitting",
    "mitten",
    "Saturday",
    "Sunday",
    "café",
    "cafe",
    "naïve résumé",
    "日本語のテキスト",
    "🐍🦀🐍",
    "\ud800lone surrogate",  # a lone surrogate is a code point like any other
    "ab" * 40,  # 80: two words of the bit-parallel state
    "ba" * 40,
    "x" * 64,  # exactly one word
    "x" * 65,
    "abc" * 50 + "é" * 30 + "🐍" * 20,  # 200 characters, dense and sparse characters
]


def test_fixed_strings_match_the_reference() -> None:
    d = ex.edit_distance_matrix(FIXED)
    assert d.dtype == np.uint32
    assert d.shape == (len(FIXED), len(FIXED))
    assert d.flags.c_contiguous
    np.testing.assert_array_equal(d, reference_matrix(FIXED))
    assert d[FIXED.index("kitten"), FIXED.index("sitting")] == 3
    assert d[FIXED.index("café"), FIXED.index("cafe")] == 1


def test_sizes_zero_and_one_and_containers() -> None:
    assert ex.edit_distance_matrix([]).shape == (0, 0)
    assert ex.edit_distance_matrix([]).dtype == np.uint32
    assert ex.edit_distance_matrix(["abc"]).tolist() == [[0]]
    assert ex.edit_distance_matrix(("ab", "b")).tolist() == [[0, 1], [1, 0]]

    class Name(str):
        pass

    assert ex.edit_distance_matrix([Name("ab"), "abc"]).tolist() == [[0, 1], [1, 0]]
    assert ex.edit_distance_pairs([], []).shape == (0,)


@pytest.mark.parametrize(
    ("call", "exc", "words"),
    [
        (lambda: ex.edit_distance_matrix("abc"), TypeError, "not a single str"),
        (lambda: ex.edit_distance_matrix(b"abc"), TypeError, "not a single bytes"),
        (lambda: ex.edit_distance_matrix(None), TypeError, "not NoneType"),
        (lambda: ex.edit_distance_matrix({"a", "b"}), TypeError, "not set"),
        (lambda: ex.edit_distance_matrix(["a", 1]), TypeError, "strings[1] must be str, not int"),
        (lambda: ex.edit_distance_matrix([b"a"]), TypeError, "strings[0] must be str, not bytes"),
        (lambda: ex.edit_distance_matrix(["a"], threads=0), ValueError, "threads"),
        (lambda: ex.edit_distance_matrix(["a"], threads=-1), ValueError, "threads"),
        (lambda: ex.edit_distance_matrix(["a"], threads=True), TypeError, "threads"),
        (lambda: ex.edit_distance_matrix(["a"], threads=1.5), TypeError, "threads"),
        (lambda: ex.edit_distance_pairs(["a"], ["a", "b"]), ValueError, "same length, got 1 and 2"),
        (lambda: ex.edit_distance_pairs(["a"], "a"), TypeError, "b must be a list of str"),
    ],
)
def test_bad_arguments_are_python_errors(call: Any, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)


def test_long_strings_match_the_numpy_reference() -> None:
    rng = np.random.default_rng(5)
    base = "".join(rng.choice(list("acgtü"), size=3000))
    chars = list(base)
    for i in rng.choice(len(chars), size=40, replace=False):
        chars[i] = "🐍"
    near = "".join(chars[100:]) + "tail"
    strings = [base, near, base[::-1], base[:1500], "", "x" * 700]
    d = ex.edit_distance_matrix(strings)
    for i, a in enumerate(strings):
        for j, b in enumerate(strings[i + 1 :], i + 1):
            assert d[i, j] == d[j, i] == lev_np(a, b), (i, j)
    assert lev_np("kitten", "sitting") == lev("kitten", "sitting") == 3


@given(st.lists(st.text(max_size=20), max_size=10))
def test_random_unicode_matches_the_reference(strings: list[str]) -> None:
    np.testing.assert_array_equal(ex.edit_distance_matrix(strings), reference_matrix(strings))


@given(st.lists(st.text(alphabet="abc🐍", min_size=40, max_size=200), min_size=2, max_size=3))
def test_random_long_strings_across_word_boundaries(strings: list[str]) -> None:
    np.testing.assert_array_equal(ex.edit_distance_matrix(strings), reference_matrix(strings))


@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=30), min_size=1, max_size=12))
def test_metric_properties(strings: list[str]) -> None:
    d = ex.edit_distance_matrix(strings).astype(np.int64)
    assert (d == d.T).all()
    assert (np.diag(d) == 0).all()
    # d[i, k] <= d[i, j] + d[j, k] for every i, j, k
    assert (d[:, None, :] <= d[:, :, None] + d[None, :, :]).all()
    # len difference <= distance <= the longer length; zero only for equal strings
    lens = np.array([len(s) for s in strings])
    assert (np.abs(lens[:, None] - lens[None, :]) <= d).all()
    assert (d <= np.maximum(lens[:, None], lens[None, :])).all()
    for i, a in enumerate(strings):
        for j, b in enumerate(strings):
            assert (d[i, j] == 0) == (a == b)


@given(st.lists(st.tuples(st.text(max_size=25), st.text(max_size=25)), max_size=20))
def test_pairs_match_the_reference(pairs: list[tuple[str, str]]) -> None:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    got = ex.edit_distance_pairs(a, b)
    assert got.dtype == np.uint32
    assert got.tolist() == [lev(x, y) for x, y in pairs]


def test_same_bits_at_any_thread_count() -> None:
    strings = [*random_strings(400, 120, seed=1), "acgt" * 400, "tgca" * 300, "a" * 2000]
    out = {t: ex.edit_distance_matrix(strings, threads=t) for t in (1, 2, None)}
    for t in (2, None):
        assert out[t].tobytes() == out[1].tobytes(), f"threads={t}"
    a, b = strings[:200], strings[200:400]
    pairs = {t: ex.edit_distance_pairs(a, b, threads=t) for t in (1, 2, None)}
    for t in (2, None):
        assert pairs[t].tobytes() == pairs[1].tobytes(), f"threads={t}"
    assert pairs[1].tolist() == [out[1][i, 200 + i] for i in range(200)]


# --- the GIL -------------------------------------------------------------------------------------


def test_the_gil_is_released_while_it_computes() -> None:
    strings = random_strings(500, 200, seed=2)
    count = 0
    stop = threading.Event()

    def counter() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.01)
        before = count
        t0 = time.perf_counter()
        ex.edit_distance_matrix(strings, threads=1)
        elapsed = time.perf_counter() - t0
        progressed = count - before
    finally:
        stop.set()
        t.join()
    print(f"\ncounter thread: {progressed:,} increments during a {elapsed * 1000:.0f} ms call (threads=1)")
    assert progressed > 1000


def test_probe_sees_the_gil_released() -> None:
    strings = random_strings(150, 100, seed=3)

    def matrix_of_150_strings() -> Any:
        return ex.edit_distance_matrix(strings, threads=1)

    r = gilfree.probe(matrix_of_150_strings, threads=(1, 2), repeat=3, min_time=0.05)
    print("\n" + r.format())
    assert r.rows[0].gil_share < 0.3, r.format()
    assert r.kind not in ("holds-gil", "not-cpu"), r.format()


# --- panics --------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [None, 1])
def test_a_panic_is_gilfree_kernel_error_and_the_pool_keeps_working(threads: int | None) -> None:
    with pytest.raises(gilfree.KernelError) as info:
        ex._panic_in_kernel(threads=threads)
    assert type(info.value) is gilfree.KernelError
    assert isinstance(info.value, RuntimeError)
    assert "_panic_in_kernel" in str(info.value)
    assert "deliberate panic in task 2" in str(info.value)
    strings = random_strings(20, 40, seed=4)
    np.testing.assert_array_equal(ex.edit_distance_matrix(strings), reference_matrix(strings))
    a = np.arange(1_000_000, dtype=np.float64)
    assert gilfree.sum(a) == a.sum()


def test_a_panic_in_an_executor_task_fails_its_future(executor: gilfree.Executor) -> None:
    fut = executor.submit(ex._panic_in_kernel)
    exc = fut.exception(timeout=HANG_BOUND_S)
    assert type(exc) is gilfree.KernelError, exc
    assert executor.submit(ex.edit_distance_matrix, ["ab", "b"]).result(timeout=HANG_BOUND_S).tolist() == [
        [0, 1],
        [1, 0],
    ]


# --- gilfree.Executor ----------------------------------------------------------------------------


def test_the_executor_takes_the_native_path(executor: gilfree.Executor) -> None:
    for fn in (ex.edit_distance_matrix, ex.edit_distance_pairs, ex._panic_in_kernel):
        assert gilfree.Executor.is_native(fn), fn
    strings = random_strings(100, 60, seed=6)
    fut = executor.submit(ex.edit_distance_matrix, strings)
    assert "native" in repr(fut), repr(fut)
    got = fut.result(timeout=HANG_BOUND_S)
    assert got.dtype == np.uint32
    assert got.tobytes() == ex.edit_distance_matrix(strings, threads=1).tobytes()
    fut = executor.submit(ex.edit_distance_matrix, strings, threads=1)
    assert "native" in repr(fut), repr(fut)
    assert fut.result(timeout=HANG_BOUND_S).tobytes() == got.tobytes()
    pairs = executor.submit(ex.edit_distance_pairs, strings[:50], strings[50:])
    assert "native" in repr(pairs), repr(pairs)
    assert pairs.result(timeout=HANG_BOUND_S).tolist() == [got[i, 50 + i] for i in range(50)]
    # Many at once, in submission order.
    futs = [executor.submit(ex.edit_distance_matrix, strings[:k]) for k in range(1, 30)]
    for k, f in enumerate(futs, 1):
        assert f.result(timeout=HANG_BOUND_S).tobytes() == got[:k, :k].tobytes()


def test_executor_task_errors(executor: gilfree.Executor) -> None:
    with pytest.raises(ValueError, match=re.escape("threads=2 is not available in gilfree.Executor")):
        executor.submit(ex.edit_distance_matrix, ["a"], threads=2)
    with pytest.raises(TypeError, match="must be a list"):
        executor.submit(ex.edit_distance_matrix, "abc").result(timeout=HANG_BOUND_S)


def test_shutdown_cancel_futures_stops_running_tasks_inside_a_long_pair() -> None:
    # Each task is one pair of 400k-character strings: seconds of work with no task boundary
    # inside, so only the kernel's own checks can stop it early.
    rng = np.random.default_rng(7)
    long_pair = [rng.integers(97, 101, 400_000, dtype=np.uint8).tobytes().decode() for _ in range(2)]
    pool = gilfree.Executor()
    futs = [pool.submit(ex.edit_distance_matrix, long_pair) for _ in range(gilfree.get_num_threads() + 2)]
    time.sleep(0.2)  # the first ones are running
    t0 = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.monotonic() - t0
    # The workers really stopped: the process is idle afterwards (every thread's CPU time counts).
    cpu0 = time.process_time()
    time.sleep(0.5)
    idle_cpu = time.process_time() - cpu0
    print(
        f"\nshutdown(cancel_futures=True) with {len(futs)} long tasks: {elapsed * 1000:.1f} ms, "
        f"then {idle_cpu:.3f} s CPU in 0.5 s"
    )
    assert elapsed < 5.0, "the running tasks were not stopped inside their pair"
    assert idle_cpu < 0.25, "the pool kept computing cancelled tasks"
    assert all(f.cancelled() for f in futs)


# --- one pool per process ------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_gilfree_and_the_extensions_share_one_pool(restore_num_threads: int) -> None:
    """gilfree, this extension (and the Cython example, if installed) called in parallel: the
    process has exactly get_num_threads() pool threads, and set_num_threads(k) sizes them all."""
    strings = random_strings(300, 100, seed=8)
    expected = ex.edit_distance_matrix(strings, threads=1)
    a = np.arange(4_000_000, dtype=np.float64)
    primes = cython_example.count_primes_nogil(0, 300_000) if cython_example else None

    def both(_: int) -> bool:
        ok = (
            bool(gilfree.sum(a) == a.sum())
            and ex.edit_distance_matrix(strings).tobytes() == expected.tobytes()
        )
        if cython_example is not None:
            ok = ok and cython_example.count_primes(0, 300_000) == primes
        return ok

    def settle(done: Any) -> int:
        deadline = time.monotonic() + HANG_BOUND_S
        while not done(pool_threads()) and time.monotonic() < deadline:
            time.sleep(0.01)  # the workers of a pool replaced by set_num_threads() exit
        return pool_threads()

    def run_both(size: int) -> int:
        """Calls of both from 4 threads and 8 executor tasks; the peak of pool threads meanwhile."""
        settle(lambda now: now <= size)
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, pool_threads())
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with cf.ThreadPoolExecutor(4) as callers:
                assert all(callers.map(both, range(8)))
            with gilfree.Executor() as pool:
                futs = [pool.submit(ex.edit_distance_matrix, strings) for _ in range(4)]
                futs += [pool.submit(gilfree.sum, a) for _ in range(4)]
                cf.wait(futs, timeout=60)
            assert all(f.result().tobytes() == expected.tobytes() for f in futs[:4])
        finally:
            stop.set()
            sampler.join()
        return peak

    for k in (None, 3, 1, 2):
        if k is not None:
            gilfree.set_num_threads(k)
            # The replaced pool's threads exit asynchronously: wait until they are gone, or a
            # growing budget (2 -> 3) would count them in the next peak.
            settle(lambda now: now == 0)
        size = gilfree.get_num_threads()
        peak = run_both(size)
        now = settle(lambda now, size=size: now == size)
        who = "gilfree, ext-rust" + (", ext-cython" if cython_example else "")
        print(
            f"\n{who}, set_num_threads({k}): {size} pool threads expected, "
            f"{now} named gilfree-* (peak {peak})"
        )
        assert now == size
        assert peak <= size


# --- the runtime link, in child processes --------------------------------------------------------


def run_child(script: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.mark.parametrize("version", [(2, 0), (0, 7), (1, 0)])
def test_an_abi_mismatch_is_a_clear_import_error(version: tuple[int, int]) -> None:
    major, minor = version
    proc = run_child(
        f"""
        import gilfree
        from gilfree import _native
        _native._RUNTIME_API = _native._testing.runtime_capsule({major}, {minor})
        try:
            import gilfree_rust_example
        except ImportError as exc:
            print("IMPORT_ERROR", exc)
        else:
            print("IMPORTED")
        """
    )
    out = proc.stdout.strip()
    assert out.startswith("IMPORT_ERROR gilfree_rust_example._native was built for gilfree runtime ABI 1."), (
        out
    )
    assert f"provides ABI {major}.{minor}" in out, out


def test_without_gilfree_it_runs_on_a_pool_of_its_own() -> None:
    proc = run_child(
        """
        import sys
        sys.modules["gilfree"] = None  # as if gilfree were not installed
        import gilfree_rust_example as ex
        print("LINKED", ex.runtime_linked())
        print("VALUES", ex.edit_distance_matrix(["kitten", "sitting", "mitten"]).tolist())
        print("PAIRS", ex.edit_distance_pairs(["flaw"] * 3000, ["lawn"] * 3000, threads=2).sum())
        try:
            ex._panic_in_kernel()
        except RuntimeError as exc:
            print("PANIC", type(exc).__name__, type(exc).__module__)
        print("AFTER", ex.edit_distance_matrix(["a", "b"]).tolist())
        """
    )
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines["LINKED"] == "False"
    assert lines["VALUES"] == "[[0, 3, 1], [3, 0, 3], [1, 3, 0]]"
    assert lines["PAIRS"] == "6000"
    assert lines["PANIC"] == "KernelError gilfree"  # the stand-in, same name and base
    assert lines["AFTER"] == "[[0, 1], [1, 0]]"


# --- MemoryError ---------------------------------------------------------------------------------

HUGE = """
import resource, sys
import numpy as np
import gilfree
import gilfree_rust_example as ex

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

ex.edit_distance_matrix(["abc"] * 300)  # the pool is up before the limit
pool = gilfree.Executor()
pool.submit(ex.edit_distance_matrix, ["a", "b"]).result()
limit = vm_size() + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    {call}
except MemoryError as exc:
    print("RAISED MemoryError", exc, flush=True)
print("AFTER", ex.edit_distance_matrix(["kitten", "sitting"]).tolist(), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc of Linux")
@pytest.mark.parametrize(
    "call",
    [
        'ex.edit_distance_matrix([""] * 50_000)',  # 2.5e9 cells, 10 GB
        'pool.submit(ex.edit_distance_matrix, [""] * 50_000).result()',
    ],
)
def test_a_matrix_that_does_not_fit_is_memory_error(call: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(HUGE.format(call=call))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    detail = f"exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, detail
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("RAISED MemoryError"), detail
    assert "50000 x 50000" in lines[0], detail
    assert lines[-1] == "AFTER [[0, 3], [3, 0]]", detail


# --- Ctrl-C, in child processes ------------------------------------------------------------------

# Sixteen strings of 200k characters: each of the 120 pairs is seconds of work, the whole matrix
# minutes, so a child that misses the signal hangs until the hang bound and fails.
LONG_SETUP = """
import gilfree_rust_example as ex
rng = np.random.default_rng(1)
S = [rng.integers(97, 101, 200_000, dtype=np.uint8).tobytes().decode() for _ in range(16)]
"""

# The extension works after the interrupt too (CHILD_AFTER checks gilfree's own kernels).
EX_AFTER = """
print("NEXT_EX", ex.edit_distance_matrix(["kitten", "sitting"]).tolist(), flush=True)
"""


def check_ex_after(child: Any) -> None:
    assert child.value("NEXT_EX") == "[[0, 3], [3, 0]]", child.describe()


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_a_long_call_in_the_main_thread(threads: int | None) -> None:
    child = interrupt_call(
        f"ex.edit_distance_matrix(S, threads={threads!r})", setup=LONG_SETUP, after=EX_AFTER
    )
    check_after(child, f"ext-rust, main thread, threads={threads}")
    check_ex_after(child)


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_long_calls_in_a_thread_pool_executor(threads: int | None) -> None:
    child = interrupt_thread_pool(
        f"ex.edit_distance_matrix, S, threads={threads!r}",
        f'pool.submit(ex.edit_distance_matrix, ["ab", "b"], threads={threads!r}).result().tolist()',
        setup=LONG_SETUP,
        then=EX_AFTER,
    )
    assert child.value("AFTER") == "[[0, 1], [1, 0]]", child.describe()
    check_after(child, f"ext-rust, ThreadPoolExecutor(2), threads={threads}")
    check_ex_after(child)


@posix_only
def test_ctrl_c_leaves_a_gilfree_executor_block_promptly() -> None:
    child = interrupt_child(
        LONG_SETUP
        + """
futs = []
try:
    with gilfree.Executor() as pool:
        futs = [pool.submit(ex.edit_distance_matrix, S) for _ in range(6)]
        print("READY", flush=True)
        for f in futs:
            f.result()
except KeyboardInterrupt:
    caught = time.monotonic()  # after the with-block: the executor shut down
    sent = float(sys.stdin.readline())
    print(f"INTERRUPTED {caught - sent:.6f}", flush=True)
else:
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
print("NATIVE", all("native" in repr(f) for f in futs), flush=True)
print("FUTURES", sorted({type(f.exception()).__name__ for f in futs}), flush=True)
with gilfree.Executor() as pool:
    print("AFTER", pool.submit(ex.edit_distance_matrix, ["ab", "b"]).result().tolist(), flush=True)
"""
        + EX_AFTER
    )
    assert child.value("NATIVE") == "True", child.describe()
    assert child.value("FUTURES") == "['KeyboardInterrupt']", child.describe()
    assert child.value("AFTER") == "[[0, 1], [1, 0]]", child.describe()
    check_after(child, "ext-rust, with gilfree.Executor() holding 6 long tasks")
    check_ex_after(child)


# --- progress= (gilfree_pyo3::Progress) --------------------------------------------------------


@pytest.mark.parametrize("threads", [1, None])
def test_progress_reports_from_the_calling_thread(threads: int | None) -> None:
    # The extension's own copy of gilfree-pyo3: the same progress= as gilfree's kernels.
    strings = [f"word{i % 37}" * (1 + i % 5) for i in range(400)]
    expected = ex.edit_distance_matrix(strings, threads=threads)

    def call() -> tuple[list[tuple[int, int, int]], Any]:
        calls: list[tuple[int, int, int]] = []

        def record(done: int, total: int) -> None:
            calls.append((done, total, threading.get_ident()))

        out = ex.edit_distance_matrix(strings, threads=threads, progress=record)
        np.testing.assert_array_equal(out, expected)
        return calls, threading.get_ident()

    with cf.ThreadPoolExecutor(1) as pool:
        runs = [call(), pool.submit(call).result(timeout=60)]  # main thread, then a worker thread
    for calls, caller in runs:
        assert calls
        assert {who for _, _, who in calls} == {caller}
        dones = [d for d, _, _ in calls]
        assert dones == sorted(dones)
        assert calls[-1][0] == calls[-1][1] > 0
    with pytest.raises(TypeError, match="progress must be"):
        ex.edit_distance_matrix(strings, progress=1)
