"""gilfree.sort against numpy.sort: every dtype, NaN/inf/-0.0 and int extremes, layouts, out=,
thread counts, errors, Ctrl-C and the Executor task form."""

from __future__ import annotations

import array
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gilfree
from tests._sigint import check_after, interrupt_call, posix_only

DTYPES = [np.float32, np.float64, np.int32, np.int64]
parametrize_dtype = pytest.mark.parametrize("dtype", DTYPES)

# Above the sort's parallel threshold (2**17), with several chunks: the parallel passes run.
LARGE = 3 * 2**17 + 12345


def elements(dtype: Any) -> st.SearchStrategy[Any]:
    if np.dtype(dtype).kind == "f":
        width = np.dtype(dtype).itemsize * 8
        return st.one_of(
            st.floats(width=width, allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]),
        )
    info = np.iinfo(dtype)
    return st.one_of(st.integers(int(info.min), int(info.max)), st.sampled_from([info.min, info.max, 0, -1]))


def assert_sorted_like_numpy(got: np.ndarray, a: Any) -> None:
    want = np.sort(np.asarray(a))
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f")


@parametrize_dtype
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_matches_numpy(dtype: Any, data: st.DataObject) -> None:
    a = data.draw(hnp.arrays(dtype, st.integers(0, 600), elements=elements(dtype)), label="a")
    assert_sorted_like_numpy(gilfree.sort(a), a)


@parametrize_dtype
def test_large_random_and_thread_counts(dtype: Any) -> None:
    rng = np.random.default_rng(42)
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal(LARGE).astype(dtype)
        a[::101] = np.nan
        a[5::103] = -0.0
        a[7::107] = np.inf
        a[9::109] = -np.inf
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, LARGE, dtype=dtype, endpoint=True)
    results = [gilfree.sort(a, threads=t) for t in (1, 2, None)]
    assert_sorted_like_numpy(results[0], a)
    for r in results[1:]:
        # The same bits at every thread count.
        assert r.tobytes() == results[0].tobytes()


@parametrize_dtype
@pytest.mark.parametrize("n", [2048, 2049, 5001, 40_000, 131_072])
def test_mid_sizes_merge_sort(dtype: Any, n: int) -> None:
    # 2 Ki to 128 Ki elements on several threads: a run per thread, then merges. The bits are
    # those of one thread, NaN payloads included (the merges are stable).
    rng = np.random.default_rng(n)
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal(n).astype(dtype)
        a[::37] = np.round(a[::37])  # duplicates across the runs
        nan_bits = np.arange(n // 97, dtype=np.uint64) | np.uint64(0x7FF8_0000_0000_0000)
        if dtype == np.float64:
            a[::97][: nan_bits.size] = nan_bits.view(np.float64)
        else:
            a[::97] = np.nan
        a[5::89] = -0.0
        a[6::83] = 0.0
    else:
        a = rng.integers(-1000, 1000, n).astype(dtype)
    one = gilfree.sort(a, threads=1)
    assert_sorted_like_numpy(one, a)
    for t in (2, None):
        assert gilfree.sort(a, threads=t).tobytes() == one.tobytes()


_FAULTS_CHILD = """
import resource, sys, numpy as np, gilfree
n = int(sys.argv[1])
a = np.random.default_rng(n).random(n)
gilfree.sort(a, threads=1); gilfree.sort(a)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    gilfree.sort(a, threads=1)
    gilfree.sort(a)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 200)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's heap trimming; getrusage's fault count"
)
@pytest.mark.parametrize("n", [32_768, 65_536, 131_072])
def test_repeated_sorts_do_not_fault_their_buffers_back_in(n: int) -> None:
    """The regression: output and scratch of n elements, both freed, made glibc trim its heap
    and every next call fault them back in (96 minor faults a call at 32 Ki, 224 at 64 Ki, 480
    at 128 Ki on the pool; 2-4 us each on a VM). The scratch is kept per thread now. A fresh
    process: earlier large frees in this one have raised glibc's thresholds and would hide it."""
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS_CHILD, str(n)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 8, out.stdout


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_skewed_and_constant(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    narrow = rng.integers(-3, 3, LARGE).astype(dtype)
    assert_sorted_like_numpy(gilfree.sort(narrow), narrow)
    const = np.full(LARGE, 7, dtype=dtype)
    assert_sorted_like_numpy(gilfree.sort(const), const)
    ramp = np.arange(LARGE, dtype=dtype)[::-1].copy()
    assert_sorted_like_numpy(gilfree.sort(ramp, threads=2), ramp)


@parametrize_dtype
def test_layouts(dtype: Any) -> None:
    base = np.random.default_rng(3).integers(-1000, 1000, 2 * LARGE).astype(dtype)
    for a in (base[::2], base[::-1], base[1::3], np.asfortranarray(base.reshape(2, -1))[0]):
        assert_sorted_like_numpy(gilfree.sort(a), a)
    view = memoryview(base[:100].copy())  # type: ignore[arg-type]
    assert_sorted_like_numpy(gilfree.sort(view), base[:100])


def test_buffer_protocol() -> None:
    a = array.array("d", [3.0, -1.0, float("nan"), 2.0])
    assert_sorted_like_numpy(gilfree.sort(a), np.asarray(a))


@parametrize_dtype
def test_empty_and_single(dtype: Any) -> None:
    for a in (np.empty(0, dtype=dtype), np.array([5], dtype=dtype)):
        got = gilfree.sort(a)
        assert_sorted_like_numpy(got, a)
        assert got is not a


def test_input_untouched() -> None:
    a = np.array([3, 1, 2], dtype=np.int64)
    gilfree.sort(a)
    assert a.tolist() == [3, 1, 2]


@parametrize_dtype
def test_out(dtype: Any) -> None:
    a = np.random.default_rng(5).integers(-50, 50, LARGE).astype(dtype)
    out = np.empty_like(a)
    assert gilfree.sort(a, out=out) is out
    assert_sorted_like_numpy(out, a)
    small = a[:10]
    out = np.zeros(10, dtype=dtype)
    assert gilfree.sort(small, out=out, threads=1) is out
    assert_sorted_like_numpy(out, small)
    assert gilfree.sort(small, out=None).shape == (10,)


def test_out_errors() -> None:
    a = np.arange(10, dtype=np.float64)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        gilfree.sort(a, out=[0.0] * 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="out has dtype"):
        gilfree.sort(a, out=np.empty(10, dtype=np.float32))
    with pytest.raises(ValueError, match="length"):
        gilfree.sort(a, out=np.empty(11))
    with pytest.raises(ValueError, match="1-D"):
        gilfree.sort(a, out=np.empty((2, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        gilfree.sort(a, out=np.empty(20)[::2])
    ro = np.empty(10)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        gilfree.sort(a, out=ro)
    with pytest.raises(ValueError, match="share memory"):
        gilfree.sort(a, out=a)
    b = np.arange(20, dtype=np.float64)
    with pytest.raises(ValueError, match="share memory"):
        gilfree.sort(b[:10], out=b[5:15])


def test_bad_input() -> None:
    with pytest.raises(TypeError):
        gilfree.sort([3, 1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        gilfree.sort(np.arange(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="1-D"):
        gilfree.sort(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        gilfree.sort(np.zeros(3), threads=0)
    with pytest.raises(TypeError):
        gilfree.sort(np.zeros(3), threads=1.5)  # type: ignore[arg-type]


def test_executor() -> None:
    assert gilfree.Executor.is_native(gilfree.sort)
    a = np.random.default_rng(9).standard_normal(LARGE)
    out = np.empty_like(a)
    with gilfree.Executor() as ex:
        f1 = ex.submit(gilfree.sort, a)
        f2 = ex.submit(gilfree.sort, a, out=out)
        assert_sorted_like_numpy(f1.result(), a)
        assert f2.result() is out
    assert_sorted_like_numpy(out, a)


@posix_only
def test_ctrl_c() -> None:
    child = interrupt_call(
        "for _ in range(10**6): gilfree.sort(a)",
        setup="a = np.random.default_rng(0).standard_normal(4_000_000)",
    )
    check_after(child, "sort")
