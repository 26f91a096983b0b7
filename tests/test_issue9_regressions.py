"""Regression tests for issue 9, one section per defect item (item 7, the Executor's drop-in
contract, is tested in test_executor.py and test_cpython_futures.py).

1. odd byte strides give silently wrong answers      5. masked arrays accepted, mask ignored
2. aborts (SIGABRT) instead of MemoryError           6. Ctrl-C gaps (zero-fill, copy, list walk)
3. a forked child hangs on its first call            8. var/std with ddof >= n differ from NumPy
4. exit hangs with queued Executor tasks; head-of-   9. np.bool_ / ddof=True / ddof=2**70
   line blocking of Executor tasks

Every scenario that can crash, hang or needs a fresh process (RLIMIT_AS, fork, exit, SIGINT) runs
in a child Python process with a timeout, so a crash or a hang is attributed to its case and the
pytest process stays clean. Timeouts are deadlock detectors, not speed assertions, except item 6,
whose promise (KeyboardInterrupt within 0.5 s of SIGINT) is the thing under test.
"""

from __future__ import annotations

import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only

import gilfree
from gilfree import Accumulator, AtomicFloat

REDUCTIONS = ["sum", "mean", "var", "std", "min", "max", "argmin", "argmax"]
LINUX = sys.platform.startswith("linux")
needs_linux = pytest.mark.skipif(not LINUX, reason="RLIMIT_AS and fork semantics of Linux")
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")

#: The promise of docs/architecture.md: Ctrl-C surfaces within 0.5 s, in every phase of a call.
CTRL_C_PROMISE_S = 0.5


def bits(x: object) -> object:
    """A float by its IEEE-754 bytes (so -0.0, nan and inf compare exactly), anything else as is."""
    if isinstance(x, float):
        return ("float", struct.pack("<d", x).hex())
    return (type(x).__name__, x)


def outcome(fn: Callable[[], Any]) -> object:
    """``fn()``'s result in bit-exact form, or its exception type."""
    try:
        return bits(fn())
    except Exception as exc:
        return type(exc).__name__


def numpy_reference(name: str, a: np.ndarray) -> float | int:
    """NumPy's answer on the float64 (or int64) values of ``a``, as a Python scalar."""
    x = np.ascontiguousarray(a)
    wide = x.astype(np.float64) if x.dtype.kind == "f" else x.astype(np.int64)
    if name in ("mean", "var", "std"):
        return float(getattr(np, name)(wide.astype(np.float64)))
    return getattr(np, name)(wide).item()


def run_script(
    script: str, *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` in a child Python; a child still running after ``timeout`` is a hang."""
    child_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    args = [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(script)]
    # A session of its own: on a hang the whole group goes, forked grandchildren included (they
    # would otherwise keep the pipes open).
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"the child did not finish within {timeout} s (hung)\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


# =============================================================================================
# Item 1: byte strides that are not a multiple of the item size


def packed_records(values: list[Any], dtype: str, pad: int = 1) -> np.ndarray:
    """The ``v`` field of a packed (``align=False``) record array: byte stride itemsize + pad."""
    rec = np.zeros(len(values), dtype=np.dtype([("tag", f"V{pad}" if pad > 1 else "u1"), ("v", dtype)]))
    rec["v"] = values
    return rec["v"]


def odd_strided(values: np.ndarray, stride: int) -> np.ndarray:
    """An ``as_strided`` view of ``values`` laid out every ``stride`` bytes (any sign, not a
    multiple of the item size) in a fresh byte buffer."""
    n, item = len(values), values.itemsize
    raw = np.zeros(abs(stride) * max(n - 1, 0) + item, dtype=np.uint8)
    start = 0 if stride >= 0 else abs(stride) * (n - 1)
    view = np.lib.stride_tricks.as_strided(
        raw[start : start + item].view(values.dtype), shape=(n,), strides=(stride,)
    )
    for i, v in enumerate(values):  # element by element: NumPy writes each at its byte offset
        view[i] = v
    return view


def test_the_issues_packed_record_example() -> None:
    """The issue's example: 673059850 (or any wrong number) before the fix."""
    v = packed_records([10, 20, 30, 40], "<i8")
    assert v.strides == (9,)
    assert gilfree.sum(v) == 100


def odd_stride_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(9)
    floats = np.round(rng.standard_normal(1000) * 100, 3)
    ints = rng.integers(-(10**6), 10**6, 1000)
    big = np.arange(3 * 12 * 65_536 + 77, dtype=np.float64) % 1000  # many chunks: the pool is used
    return {
        "packed <i8, stride 9": packed_records([10, 20, 30, 40], "<i8"),
        "packed <f8, stride 9": packed_records(floats.tolist(), "<f8"),
        "packed <i4, stride 5": packed_records(ints.tolist(), "<i4"),
        "packed <f4, stride 7": packed_records(floats.tolist(), "<f4", pad=3),
        "packed <i8 reversed, stride -9": packed_records(ints.tolist(), "<i8")[::-1],
        "packed <f8 every other, stride 18": packed_records(floats.tolist(), "<f8")[::2],
        "packed <f8, many chunks": packed_records(big.tolist(), "<f8"),
        "as_strided f8, stride 12": odd_strided(floats, 12),
        "as_strided i8, stride -13": odd_strided(ints.astype(np.int64), -13),
        "as_strided i4, stride 6": odd_strided(ints.astype(np.int32), 6),
        "as_strided f4, stride 5": odd_strided(floats.astype(np.float32), 5),
    }


ODD = odd_stride_cases()


@pytest.mark.parametrize("case", list(ODD))
@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("threads", [1, 2, None])
def test_odd_byte_strides_give_numpys_answer(case: str, name: str, threads: int | None) -> None:
    a = ODD[case]
    assert a.strides[0] % a.itemsize != 0, "the case must have an odd byte stride"
    contiguous = np.ascontiguousarray(a)
    got = getattr(gilfree, name)(a, threads=threads)
    # Bit-identical to the contiguous copy (determinism), and NumPy's value.
    assert bits(got) == bits(getattr(gilfree, name)(contiguous, threads=threads))
    want = numpy_reference(name, a)
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    else:
        assert got == want


@pytest.mark.parametrize("case", list(ODD))
@pytest.mark.parametrize("name", REDUCTIONS)
def test_odd_byte_strides_executor_form(case: str, name: str, executor: gilfree.Executor) -> None:
    a = ODD[case]
    got = executor.submit(getattr(gilfree, name), a).result(timeout=60)
    assert bits(got) == bits(getattr(gilfree, name)(np.ascontiguousarray(a)))


@pytest.mark.parametrize("case", list(ODD))
def test_odd_byte_strides_accumulator_add_many(case: str) -> None:
    a = ODD[case]
    contiguous = np.ascontiguousarray(a)
    kinds = [float, int] if a.dtype.kind == "i" else [float]
    for kind in kinds:
        for threads in (1, 2, None):
            acc, ref = Accumulator(kind), Accumulator(kind)
            acc.add_many(a, threads=threads)
            ref.add_many(contiguous.tolist())  # the list path: no strides at all
            assert acc.count() == len(a)
            for stat in ("sum", "mean", "var", "min", "max"):
                assert bits(getattr(acc, stat)()) == bits(getattr(ref, stat)()), (kind, threads, stat)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_a_memoryview_of_a_packed_field(name: str) -> None:
    """The same odd strides through the buffer protocol (PEP 3118 strides are in bytes)."""
    v = packed_records([10, 20, 30, 40], "<i8")
    assert getattr(gilfree, name)(memoryview(v)) == numpy_reference(name, v)


# =============================================================================================
# Item 2: MemoryError, not SIGABRT, when a copy or a work buffer cannot be allocated

# Run in a child: the pool is warmed up, then the address space is capped at what the process
# already has plus a small margin, so any allocation of GiBs fails. A clean outcome prints one
# line and exits 0; an abort is exit status -6 (SIGABRT).
RLIMIT_PRELUDE = """
import resource, sys, numpy as np, gilfree

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")

# Start the pool (its threads and their malloc arenas) and the Executor's dispatcher first.
gilfree.sum(np.ones(3 * 12 * 65536))
ex = gilfree.Executor()
ex.submit(gilfree.sum, np.ones(10)).result()
acc = gilfree.Accumulator()
acc.add_many(np.ones(3 * 12 * 65536))
limit = vm_size() + {margin}
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

def report(fn, expected):
    try:
        got = fn()
    except MemoryError as exc:
        print("OUTCOME MemoryError", exc, flush=True)
    except TypeError as exc:  # a refused input (e.g. non-native byte order) is fine too
        print("OUTCOME TypeError", exc, flush=True)
    else:
        print("OUTCOME", "OK" if got == expected else f"WRONG {{got!r}} != {{expected!r}}", flush=True)
"""

HUGE = 2**30  # elements of a broadcast view: 8 GiB as a contiguous float64 copy


@needs_linux
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("what", "call", "expected"),
    [
        ("sum", "gilfree.sum(a)", "float(HUGE)"),
        ("sum threads=1", "gilfree.sum(a, threads=1)", "float(HUGE)"),
        ("Executor sum", "ex.submit(gilfree.sum, a).result()", "float(HUGE)"),
        ("Accumulator.add_many", "(acc.add_many(a), acc.count())[1]", "HUGE + 3 * 12 * 65536"),
        ("sum of a byte-swapped view", "gilfree.sum(b)", "float(HUGE)"),
        ("sum of an odd-strided broadcast", "gilfree.sum(c)", "float(HUGE)"),
    ],
)
def test_a_huge_broadcast_view_under_rlimit_as_is_memory_error_or_right(
    what: str, call: str, expected: str
) -> None:
    """np.broadcast_to(1.0, 2**30): the right answer (read in place) or MemoryError (if a copy is
    needed and cannot be made), never SIGABRT; the pool works afterwards."""
    script = (
        RLIMIT_PRELUDE.format(margin=256 << 20)
        + f"HUGE = {HUGE}\n"
        + "a = np.broadcast_to(np.float64(1.0), (HUGE,))\n"
        + "b = np.broadcast_to(np.array(1.0, dtype='>f8'), (HUGE,))\n"
        + "rec = np.zeros(1, dtype=[('tag', 'u1'), ('v', '<f8')]); rec['v'] = 1.0\n"
        + "c = np.broadcast_to(rec['v'][0:1], (HUGE,))\n"
        + f"report(lambda: {call}, {expected})\n"
        + "print('AFTER', gilfree.sum(np.arange(1000.0)) == 499500.0, flush=True)\n"
    )
    proc = run_script(script, timeout=100)
    assert proc.returncode == 0, describe(proc)
    lines = proc.stdout.splitlines()
    assert lines[-1] == "AFTER True", describe(proc)
    kind = lines[-2].split()[1]
    allowed = {"OK", "MemoryError", "TypeError"} if "byte-swapped" in what else {"OK", "MemoryError"}
    assert kind in allowed, describe(proc)


@needs_linux
@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2**25, 2**24])
def test_spectral_norm_of_a_huge_n_under_rlimit_as_is_memory_error(n: int) -> None:
    """spectral_norm(n) needs a few n-float64 vectors (256 MiB each at 2**25): with 64 MiB to
    spare, MemoryError before any work starts (the work itself would take days)."""
    script = RLIMIT_PRELUDE.format(margin=64 << 20) + textwrap.dedent(
        f"""
        try:
            gilfree.spectral_norm({n})
        except MemoryError as exc:
            print("MemoryError", exc, flush=True)
        else:
            print("NO ERROR", flush=True)
        print('AFTER', round(gilfree.spectral_norm(100), 9), flush=True)
        """
    )
    proc = run_script(script, timeout=60)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.splitlines()[0].startswith("MemoryError"), describe(proc)
    assert proc.stdout.splitlines()[-1] == "AFTER 1.274219991", describe(proc)


# =============================================================================================
# Item 3: fork while other threads resize the pool and make calls

FORK_STRESS = """
import os, shutil, subprocess, sys, threading, time, warnings
# Python 3.12+ warns (DeprecationWarning) when a process with threads forks: that is the scenario.
warnings.simplefilter("ignore", DeprecationWarning)
import numpy as np
import gilfree

ROUNDS = {rounds}
CHILD_TIMEOUT_S = 15.0
A = np.arange(3 * 12 * 65536 + 5, dtype=np.float64)   # many chunks: the child uses its pool
A_SUM = float(A.size * (A.size - 1) // 2)


def child():
    ok = gilfree.count_primes(10**6) == 78498
    ok = ok and gilfree.sum(A) == A_SUM
    ok = ok and gilfree.primes(100)[-1] == 97
    acc = gilfree.Accumulator()
    acc.add_many(A[:1000])
    ok = ok and acc.count() == 1000 and gilfree.AtomicFloat(1.0).add(1.0) == 2.0
    ok = ok and gilfree.mandelbrot(8, 8).shape == (8, 8)
    os._exit(0 if ok else 3)


def backtrace(pid):
    # Where the hung child waits (attribution for the report); gdb is optional.
    if shutil.which("gdb") is None:
        return "(no gdb)"
    cmd = ["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 12"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except Exception as exc:
        return repr(exc)
    return "\\n".join(line for line in out.splitlines() if line.startswith(("#", "Thread")))


def wait_child(pid, what, deadline, pids):
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                print(f"CHILD FAILED {{what}} exit {{code}}", flush=True)
                os._exit(1)
            return
        time.sleep(0.005)
    print(f"CHILD HUNG {{what}}\\n{{backtrace(pid)}}", flush=True)
    for p in pids:
        os.kill(p, 9)
    os._exit(1)


def generation(g):
    # A fresh process (forked from the single-threaded master, which never called gilfree): its
    # threads make their first calls (lazy statics: the presieve patterns, rust-numpy's borrow
    # state, type objects...) and resize the pool while it forks.
    stop = threading.Event()

    def resizer():
        i = 0
        while not stop.is_set():
            gilfree.set_num_threads(1 + i % 3)
            i += 1

    def caller(k):
        a = np.arange(200_000 + k, dtype=np.float64)
        while not stop.is_set():
            gilfree.count_primes(10**5 + k)
            gilfree.primes(5000 + k)
            gilfree.sum(a)

    def first_timer():
        acc = gilfree.Accumulator()
        x = gilfree.AtomicFloat(0.0)
        while not stop.is_set():
            acc.add_many(A[:100])
            x.add(1.0)
            gilfree.mandelbrot(4, 4)

    threads = [threading.Thread(target=resizer, daemon=True)]
    threads += [threading.Thread(target=caller, args=(k,), daemon=True) for k in range(2)]
    threads += [threading.Thread(target=first_timer, daemon=True)]
    for t in threads:
        t.start()
    # A burst of forks while the threads make their first calls (the lazy statics' windows are
    # short), then a few while they run; the children are waited for afterwards.
    pids = []
    for delay in (0, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 2e-3, 1e-2):
        time.sleep(delay * (1 + g % 3))
        pid = os.fork()
        if pid == 0:
            child()
        pids.append(pid)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    for r, pid in enumerate(pids):
        wait_child(pid, f"generation {{g}} fork {{r}}", deadline, pids)
    stop.set()
    os._exit(0)


for g in range(ROUNDS):
    pid = os.fork()
    if pid == 0:
        generation(g)
    deadline = time.monotonic() + CHILD_TIMEOUT_S + 70  # + a gdb backtrace
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            print(f"GENERATION HUNG {{g}}", flush=True)
            sys.exit(1)
        time.sleep(0.005)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"GENERATION FAILED {{g}} exit {{code}}", flush=True)
        sys.exit(1)
print("ALL FORKS OK", flush=True)
"""


@needs_fork
@needs_linux
@pytest.mark.timeout(240)
def test_fork_under_stress_never_hangs_the_child() -> None:
    """Threads hammer set_num_threads, count_primes/primes (presieve) and sum while the process
    forks; every child's first calls must complete. Before the fix a child could block forever on
    the pool's state mutex or on the presieve OnceLock held by a thread at fork()."""
    proc = run_script(FORK_STRESS.format(rounds=40), timeout=200)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip().splitlines()[-1] == "ALL FORKS OK", describe(proc)


# =============================================================================================
# Item 4: interpreter exit with queued Executor tasks; head-of-line blocking

LONG_DIRECT_CALLS = {
    "spin": "_testing.spin(100000, 10)",  # ~1000 s of work on every worker
    "count_primes": "gilfree.count_primes(10**14)",
    "spectral_norm": "gilfree.spectral_norm(2_000_000)",
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("long_call", list(LONG_DIRECT_CALLS))
def test_exit_with_queued_executor_tasks_beside_a_daemons_long_call(long_call: str) -> None:
    """A daemon thread's long direct call occupies the pool, an Executor has queued tasks, and the
    script falls off its end: the interpreter must exit (before the fix, concurrent.futures' exit
    hook waited forever for the executor, ahead of gilfree's hook that cancels the daemon's call)."""
    script = f"""
    import threading, time
    import gilfree
    from gilfree._native import _testing

    started = threading.Event()

    def long():
        started.set()
        {LONG_DIRECT_CALLS[long_call]}

    threading.Thread(target=long, daemon=True).start()
    started.wait()
    time.sleep(0.3)  # the call is on every worker
    ex = gilfree.Executor()
    futures = [ex.submit(gilfree.count_primes, 10) for _ in range(8)]
    print("QUEUED", flush=True)
    """
    proc = run_script(script, timeout=30, env={"GILFREE_NUM_THREADS": "2"})
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.splitlines() == ["QUEUED"], describe(proc)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("long_call", list(LONG_DIRECT_CALLS))
def test_an_executor_task_is_not_blocked_behind_a_long_direct_call(long_call: str) -> None:
    """Beside a long direct call holding every worker, a trivial Executor task completes within a
    second (before the fix it had not started after 5 s), and the long call keeps running."""
    script = f"""
    import threading, time
    import gilfree
    from gilfree._native import _testing

    started = threading.Event()
    outcome = []

    def long():
        started.set()
        try:
            {LONG_DIRECT_CALLS[long_call]}
            outcome.append("finished")
        except KeyboardInterrupt:
            outcome.append("KeyboardInterrupt")

    t = threading.Thread(target=long)
    t.start()
    started.wait()
    time.sleep(0.3)
    with gilfree.Executor() as ex:
        t0 = time.monotonic()
        fut = ex.submit(gilfree.count_primes, 10)
        try:
            result = fut.result(timeout=10)
        except TimeoutError:
            result = "TIMEOUT"
        elapsed = time.monotonic() - t0
        print("TASK", result, f"{{elapsed:.3f}}", flush=True)
        print("LONG_ALIVE", t.is_alive(), flush=True)
        while t.is_alive():
            gilfree.interrupt()
            t.join(0.05)
    print("LONG", outcome, flush=True)
    """
    proc = run_script(script, timeout=45, env={"GILFREE_NUM_THREADS": "2"})
    assert proc.returncode == 0, describe(proc)
    values = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    result, elapsed = values["TASK"].split()
    assert result == "4", describe(proc)
    assert float(elapsed) < 1.0, f"the task waited {elapsed} s behind the long call\n{describe(proc)}"
    assert values["LONG_ALIVE"] == "True", describe(proc)
    assert values["LONG"] == "['KeyboardInterrupt']", describe(proc)


# =============================================================================================
# Item 5: masked arrays are refused (their mask would be ignored)

MASKED = np.ma.array([1.0, 100.0, 3.0], mask=[0, 1, 0])


@pytest.mark.parametrize("name", REDUCTIONS)
def test_a_masked_array_is_refused(name: str) -> None:
    """gilfree.sum(...) was 104.0: the mask was silently ignored."""
    with pytest.raises(TypeError, match="mask"):
        getattr(gilfree, name)(MASKED)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_a_masked_array_is_refused_by_the_executor_form(name: str, executor: gilfree.Executor) -> None:
    with pytest.raises(TypeError, match="mask"):
        executor.submit(getattr(gilfree, name), MASKED).result(timeout=30)


@pytest.mark.parametrize("kind", [float, int])
def test_a_masked_array_is_refused_by_add_many(kind: type) -> None:
    acc = Accumulator(kind)
    values = MASKED if kind is float else np.ma.array([1, 100, 3], mask=[0, 1, 0])
    with pytest.raises(TypeError, match="mask"):
        acc.add_many(values)
    assert acc.count() == 0


@pytest.mark.parametrize(
    "masked",
    [
        np.ma.array([1.0, 2.0, 3.0]),  # nomask
        np.ma.array([1.0, 2.0, 3.0], mask=[0, 0, 0]),  # a mask with nothing masked (yet)
        np.ma.array(np.arange(10, dtype=np.int64), mask=np.arange(10) % 3 == 0)[::2],
    ],
    ids=["nomask", "all-false mask", "strided int64 masked"],
)
def test_every_masked_array_is_refused(masked: np.ndarray) -> None:
    """The rule is the type, not the current mask: a mask can be set after the call is prepared."""
    for name in REDUCTIONS:
        with pytest.raises(TypeError, match="mask"):
            getattr(gilfree, name)(masked)


# =============================================================================================
# Item 6: Ctrl-C within 0.5 s in phases that never polled: zero-fill, strided copy, list walk

CTRL_C_CASES = {
    # 65536 x 16384 uint16 = 2 GiB of output to allocate and zero before any pixel is computed.
    "mandelbrot zero-fill": (
        "gilfree.mandelbrot(65536, 16384, max_iter=65535)",
        "gilfree.mandelbrot(64, 64)",
    ),
    # A 2 GiB strided view of a 4 GiB array: its contiguous copy used to be made in one go. Zeros
    # from calloc: np.ones would write the 4 GiB first, which takes 15 s in a VM whose host backs
    # each page at first touch; the copy still takes about 2 s.
    "strided sum copy": (
        "while True: gilfree.sum(a)",
        "a = np.zeros(2**29)[::2]\ngilfree.sum(a[:1000])",
    ),
    # 50M items of a Python list, walked (and converted) with the GIL held: ints for a float
    # accumulator, ~1.6 s per walk here.
    "add_many list walk": (
        "while True: acc.add_many(values)",
        "values = [2**62] * 50_000_000\nacc = gilfree.Accumulator()\nacc.add_many(values[:10])",
    ),
}


@posix_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(CTRL_C_CASES))
def test_ctrl_c_within_half_a_second_in_every_phase(case: str) -> None:
    call, setup = CTRL_C_CASES[case]
    child = interrupt_call(call, setup=setup)
    latency = check_after(child, case)
    assert latency < CTRL_C_PROMISE_S, f"KeyboardInterrupt {latency:.3f} s after SIGINT\n{child.describe()}"


# =============================================================================================
# Item 8: var/std with ddof >= n are NumPy's answer (inf, or nan when every value is equal)


def numpy_var(name: str, a: np.ndarray, ddof: int) -> float:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(getattr(np, name)(a.astype(np.float64), ddof=ddof))


DDOF_DATA = {
    "empty": [],
    "one": [3.0],
    "two different": [1.0, 2.0],
    "two equal": [5.0, 5.0],
    "three": [1.0, 2.0, 4.0],
    "three equal": [-2.0, -2.0, -2.0],
    "negative": [-7.0, -1.0, -3.0, -100.0],
}


DDOF_DTYPES = [np.float32, np.float64, np.int32, np.int64]


@pytest.mark.parametrize("data", list(DDOF_DATA))
@pytest.mark.parametrize(
    "dtype", [np.float32, np.float64, np.int32, np.int64], ids=lambda d: np.dtype(d).name
)
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_with_ddof_at_least_n_match_numpy(data: str, dtype: Any, name: str) -> None:
    a = np.array(DDOF_DATA[data], dtype=dtype)
    n = len(a)
    for ddof in (n, n + 1, n + 5, 2**40):
        want = numpy_var(name, a, ddof)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # silently, as documented
            got = getattr(gilfree, name)(a, ddof=ddof)
        if math.isnan(want):
            assert math.isnan(got), (ddof, got, want)
        else:
            assert bits(got) == bits(want), (ddof, got, want)


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_with_ddof_at_least_n_executor_form(name: str, executor: gilfree.Executor) -> None:
    a = np.array([1.0, 2.0, 4.0])
    for ddof in (3, 4, 10):
        got = executor.submit(getattr(gilfree, name), a, ddof=ddof).result(timeout=30)
        assert got == numpy_var(name, a, ddof) == math.inf, ddof


# =============================================================================================
# Item 9: argument consistency: np.bool_ is a bool, ddof=True is a TypeError, ddof names itself

BOOLS = [True, False, np.bool_(True), np.bool_(False)]


@pytest.mark.parametrize("flag", BOOLS, ids=repr)
def test_atomic_float_refuses_bools(flag: object) -> None:
    with pytest.raises(TypeError, match="value"):
        AtomicFloat(flag)  # type: ignore[arg-type]
    x = AtomicFloat(1.0)
    for method in ("store", "swap", "fetch_max", "max", "fetch_min", "min"):
        with pytest.raises(TypeError, match="value"):
            getattr(x, method)(flag)
    for method in ("fetch_add", "add", "fetch_sub", "sub"):
        with pytest.raises(TypeError, match="delta"):
            getattr(x, method)(flag)
    with pytest.raises(TypeError, match="expected"):
        x.compare_exchange(flag, 2.0)
    with pytest.raises(TypeError, match="new"):
        x.compare_exchange(1.0, flag)
    with pytest.raises(TypeError):
        x += flag  # type: ignore[assignment]
    assert x.load() == 1.0


@pytest.mark.parametrize("flag", BOOLS, ids=repr)
@pytest.mark.parametrize("kind", [float, int])
def test_accumulator_refuses_bools(flag: object, kind: type) -> None:
    acc = Accumulator(kind)
    with pytest.raises(TypeError, match="x must be"):
        acc.add(flag)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="values item must be"):
        acc.add_many([1, flag])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="dtype"):
        acc.add_many(np.array([True, False]))
    assert acc.count() == 0


@pytest.mark.parametrize("flag", BOOLS, ids=repr)
@pytest.mark.parametrize("arg", ["xmin", "xmax", "ymin", "ymax"])
def test_mandelbrot_window_refuses_bools(flag: object, arg: str) -> None:
    window: dict[str, Any] = {"xmin": -2.0, "xmax": 1.0, "ymin": -1.5, "ymax": 1.5, arg: flag}
    with pytest.raises(TypeError, match=arg):
        gilfree.mandelbrot(4, 4, **window)


@pytest.mark.parametrize("flag", BOOLS, ids=repr)
@pytest.mark.parametrize("name", ["var", "std"])
def test_ddof_refuses_bools_like_threads(flag: object, name: str, executor: gilfree.Executor) -> None:
    a = np.array([1.0, 2.0, 4.0])
    with pytest.raises(TypeError, match="ddof"):
        getattr(gilfree, name)(a, ddof=flag)
    with pytest.raises(TypeError, match="threads"):
        getattr(gilfree, name)(a, threads=flag)
    with pytest.raises(TypeError, match="ddof"):
        executor.submit(getattr(gilfree, name), a, ddof=flag).result(timeout=30)
    acc = Accumulator()
    acc.add_many([1.0, 2.0, 4.0])
    with pytest.raises(TypeError, match="ddof"):
        getattr(acc, name)(ddof=flag)


@pytest.mark.parametrize("ddof", [2**70, -(2**70), 2**63, -(2**63) - 1, 2**64], ids=hex)
@pytest.mark.parametrize("name", ["var", "std"])
def test_a_huge_ddof_is_an_error_naming_ddof(ddof: int, name: str, executor: gilfree.Executor) -> None:
    a = np.array([1.0, 2.0, 4.0])
    with pytest.raises((OverflowError, ValueError), match="ddof"):
        getattr(gilfree, name)(a, ddof=ddof)
    with pytest.raises((OverflowError, ValueError), match="ddof"):
        executor.submit(getattr(gilfree, name), a, ddof=ddof).result(timeout=30)
    acc = Accumulator()
    acc.add_many([1.0, 2.0, 4.0])
    with pytest.raises((OverflowError, ValueError), match="ddof"):
        getattr(acc, name)(ddof=ddof)


# --- found while fixing 3 and 9: rust-numpy's lazy tables at fork; 0-d bools, masked values -----

FIRST_ARRAY_CALL_FORK = """
import os, threading, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import numpy as np
import gilfree

a = np.arange(10.0)
hung = 0
for g in range(150):
    pid = os.fork()
    if pid == 0:  # a fresh process: its first array argument is being passed while it forks
        t = threading.Thread(target=gilfree.sum, args=(a,))
        t.start()
        time.sleep((g % 10) * 2e-5)
        c = os.fork()
        if c == 0:
            gilfree.sum(a)
            os._exit(0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if os.waitpid(c, os.WNOHANG)[0]:
                os._exit(0)
            time.sleep(0.005)
        os.kill(c, 9)
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    hung += os.waitstatus_to_exitcode(status) == 7
print("hung children:", hung)
"""


@needs_fork
@needs_linux
@pytest.mark.timeout(240)
def test_a_fork_during_the_first_array_call_never_hangs_the_child() -> None:
    """rust-numpy builds NumPy's C-API table and its borrow table lazily, behind once-cells: a fork
    while another thread built one left the child's cell "being built" for ever (~1 child in 200
    hung in its first gilfree.sum). gilfree builds both at import now."""
    proc = run_script(FIRST_ARRAY_CALL_FORK, timeout=200)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip().splitlines()[-1] == "hung children: 0", describe(proc)


@pytest.mark.parametrize(
    "value", [np.array(True), np.array(False), np.ma.masked, np.ma.array(1.0, mask=True)], ids=repr
)
def test_zero_d_bool_arrays_and_masked_values_are_not_numbers(value: object) -> None:
    """A 0-d bool array is a bool (as np.bool_ is); a masked value has no number (float() of it is
    nan with only a warning). Both are TypeError wherever a float is expected."""
    with pytest.raises(TypeError):
        AtomicFloat(value)  # type: ignore[arg-type]
    acc = Accumulator()
    with pytest.raises(TypeError):
        acc.add(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        acc.add_many([1.0, value])
    assert acc.count() == 0
    with pytest.raises(TypeError, match="xmin"):
        gilfree.mandelbrot(2, 2, xmin=value)  # type: ignore[arg-type]
