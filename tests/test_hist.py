"""gilfree.histogram and gilfree.bincount against numpy.histogram and numpy.bincount: counts and
edges exactly (dtypes included), weighted sums bit for bit on uniform bins and within rounding of
math.fsum elsewhere, NaN/inf/empty rules, layouts, thread counts, errors, Ctrl-C and the Executor
task form."""

from __future__ import annotations

import math
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

# Several 65,536-element blocks and more than one counting task.
LARGE = 5 * 65536 + 1234


def same(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values (NaN equal), equal dtype, equal shape."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), (got, want)


def same_hist(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    same(got[0], want[0])
    same(got[1], want[1])


def elements(dtype: Any, *, nonfinite: bool = False) -> st.SearchStrategy[Any]:
    if np.dtype(dtype).kind == "f":
        width = np.dtype(dtype).itemsize * 8
        return st.floats(width=width, allow_nan=nonfinite, allow_infinity=nonfinite, min_value=None)
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


def finite(dtype: Any, lo: float = -1e6, hi: float = 1e6) -> st.SearchStrategy[Any]:
    if np.dtype(dtype).kind == "f":
        width = np.dtype(dtype).itemsize * 8
        return st.floats(lo, hi, width=width)
    return st.integers(int(lo), int(hi))


@parametrize_dtype
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_uniform_auto_range_matches_numpy(dtype: Any, data: st.DataObject) -> None:
    wide = data.draw(st.booleans(), label="wide")
    el = elements(dtype) if wide else finite(dtype)
    a = data.draw(hnp.arrays(dtype, st.integers(0, 300), elements=el), label="a")
    bins = data.draw(st.integers(1, 40), label="bins")
    try:
        with np.errstate(all="ignore"):  # NumPy's linspace warns when max - min overflows
            want = np.histogram(a, bins)
    except ValueError:
        with pytest.raises(ValueError, match=r"Too many bins|not finite"):
            gilfree.histogram(a, bins)
        return
    except IndexError:  # NumPy's own failure when max - min overflows to inf
        return
    same_hist(gilfree.histogram(a, bins), want)


RANGE_KINDS = ["float", "int", "np_float32", "np_float64", "np_int64"]


def make_range(kind: str, lo: float, hi: float) -> tuple[Any, Any]:
    if kind == "float":
        return (float(lo), float(hi))
    if kind == "int":
        return (math.floor(lo), math.ceil(hi))
    if kind == "np_float32":
        return (np.float32(lo), np.float32(hi))
    if kind == "np_int64":
        return (np.int64(math.floor(lo)), np.int64(math.ceil(hi)))
    return (np.float64(lo), np.float64(hi))


@parametrize_dtype
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_uniform_with_range_matches_numpy(dtype: Any, data: st.DataObject) -> None:
    el = elements(dtype, nonfinite=True) if np.dtype(dtype).kind == "f" else finite(dtype, -1000, 1000)
    a = data.draw(hnp.arrays(dtype, st.integers(0, 300), elements=el), label="a")
    lo = data.draw(st.floats(-1000, 1000), label="lo")
    hi = data.draw(st.one_of(st.just(lo), st.floats(lo, 1000)), label="hi")
    kind = data.draw(st.sampled_from(RANGE_KINDS), label="kind")
    rng = make_range(kind, lo, hi)
    bins = data.draw(st.integers(1, 40), label="bins")
    try:
        with np.errstate(all="ignore"):
            want = np.histogram(a, bins, range=rng)
    except ValueError:
        with pytest.raises(ValueError):
            gilfree.histogram(a, bins, range=rng)
        return
    same_hist(gilfree.histogram(a, bins, range=rng), want)


def test_repeated_ranges_reuse_their_plan_and_stay_numpys() -> None:
    # A call with the same bins, range and dtype as a recent one reuses its plan (NumPy's types,
    # edges and bounds; src/kernels/hist.rs, RangePlan): every answer is still NumPy's, whatever
    # the order of the calls and dtypes, beyond what the cache holds (8 plans), and the edges
    # come back as a fresh array each time.
    rng = np.random.default_rng(11)
    ranges: list[Any] = [(0.0, 1.0), (-3, 7), (0.1, 0.1), (2, 2), (-0.5, 1e-3), [0.0, 1.0], [-3, 7.5]]
    ranges += [(float(i), float(i) + 0.5) for i in range(10)]
    for _ in range(2):
        for dtype in DTYPES:
            a = (rng.standard_normal(3000) * 5).astype(dtype)
            for r in ranges:
                for bins in (1, 7, 100):
                    same_hist(gilfree.histogram(a, bins, range=r), np.histogram(a, bins, range=r))
            w = rng.random(a.size)
            for _ in range(2):
                same_hist(
                    gilfree.histogram(a, 9, range=(-1.0, 2.0), weights=w, density=True),
                    np.histogram(a, 9, range=(-1.0, 2.0), weights=w, density=True),
                )
    edges = gilfree.histogram(a, 10, range=(0.0, 1.0))[1]
    edges[:] = -1  # the caller's array: the next call's edges are unchanged
    same(gilfree.histogram(a, 10, range=(0.0, 1.0))[1], np.histogram(a, 10, range=(0.0, 1.0))[1])


@parametrize_dtype
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_explicit_edges_match_numpy(dtype: Any, data: st.DataObject) -> None:
    el = elements(dtype, nonfinite=True) if np.dtype(dtype).kind == "f" else finite(dtype, -100, 100)
    a = data.draw(hnp.arrays(dtype, st.integers(0, 300), elements=el), label="a")
    edges = sorted(data.draw(st.lists(st.floats(-120, 120), min_size=1, max_size=12), label="edges"))
    as_int = data.draw(st.booleans(), label="as_int")
    bins: Any = np.asarray([round(e) for e in edges]) if as_int else np.asarray(edges)
    same_hist(gilfree.histogram(a, bins), np.histogram(a, bins))
    same_hist(gilfree.histogram(a, list(bins)), np.histogram(a, list(bins)))


def test_index_correction_cases() -> None:
    # Values on and next to every edge, where (x - first) / width * n rounds the wrong way.
    for dtype in (np.float32, np.float64):
        edges = np.linspace(0.1, 0.7, 7).astype(dtype)
        near = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)]).astype(
            dtype
        )
        for rng in ((0.1, 0.7), (np.float32(0.1), np.float32(0.7)), None):
            same_hist(gilfree.histogram(near, 6, range=rng), np.histogram(near, 6, range=rng))
    big = np.array([2**53 - 1, 2**53, 2**53 + 1, 2**62, -(2**62)], dtype=np.int64)
    same_hist(gilfree.histogram(big, 7), np.histogram(big, 7))
    same_hist(
        gilfree.histogram(big, 2, range=(2**53, 2**53 + 4)), np.histogram(big, 2, range=(2**53, 2**53 + 4))
    )
    same_hist(gilfree.histogram(big, 3, range=(9.0e15, 9.1e15)), np.histogram(big, 3, range=(9.0e15, 9.1e15)))


def test_index_correction_every_lane() -> None:
    # float64 values on and within 3 ulps of every edge, shuffled so that each SIMD lane of the
    # AVX2 path sees decrements, increments, the first and the last bin, NaN and out-of-range.
    rng = np.random.default_rng(11)
    for lo, hi, n in ((0.1, 0.7, 6), (-3.3, 1e-3, 97), (1e10, 1e10 + 1e-3, 100), (0.0, 1.0, 1000)):
        edges = np.linspace(lo, hi, n + 1)
        near = [edges]
        for k in range(1, 4):
            near += [edges - k * np.spacing(edges), edges + k * np.spacing(edges)]
        a = np.concatenate([*near, [np.nan, -np.inf, np.inf, lo - 1.0, hi + 1.0]])
        a = rng.permutation(np.tile(a, 3))
        for r in ((lo, hi), None):
            if r is None:
                a = a[np.isfinite(a)]
            for th in (1, None):
                same_hist(gilfree.histogram(a, n, range=r, threads=th), np.histogram(a, n, range=r))


def test_edge_dtypes_and_special_cases() -> None:
    a32 = np.array([1.0, 2.0, 2.5], dtype=np.float32)
    assert gilfree.histogram(a32)[1].dtype == np.float32
    assert gilfree.histogram(a32, range=(0, 3))[1].dtype == np.float32
    assert gilfree.histogram(a32, range=(np.float64(0), 3.0))[1].dtype == np.float64
    assert gilfree.histogram(np.array([3, 3]), bins=2)[1].tolist() == [2.5, 3.0, 3.5]
    for a in (np.empty(0), np.empty(0, np.float32), np.empty(0, np.int32)):
        same_hist(gilfree.histogram(a, 4), np.histogram(a, 4))
        same_hist(gilfree.histogram(a, 4, range=(1, 2)), np.histogram(a, 4, range=(1, 2)))
    withnan = np.array([np.nan, 1.0, 5.0, np.inf, -np.inf])
    same_hist(gilfree.histogram(withnan, 4, range=(0, 5)), np.histogram(withnan, 4, range=(0, 5)))
    # The bins argument returned as NumPy returns it (the same object for an array).
    e = np.array([0.0, 1.0, 3.0])
    assert gilfree.histogram(np.array([0.5]), e)[1] is np.histogram(np.array([0.5]), e)[1]
    same_hist(
        gilfree.histogram(np.array([1e-300]), 10**4, range=(0, 1e-300)),
        np.histogram(np.array([1e-300]), 10**4, range=(0, 1e-300)),
    )


@parametrize_dtype
def test_large_and_thread_counts(dtype: Any) -> None:
    rng = np.random.default_rng(7)
    a = (rng.standard_normal(LARGE) * 1000).astype(dtype)
    for bins in (100, 7, np.array([-500, -3, 0, 2.5, 10, 800])):
        want = np.histogram(a, bins)
        results = [gilfree.histogram(a, bins, threads=t) for t in (1, 2, 3, None)]
        for r in results:
            same_hist(r, want)


WEIGHT_DTYPES = [np.float64, np.float32, np.int64, np.int32]


@pytest.mark.parametrize("wdtype", WEIGHT_DTYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_weighted_uniform_is_numpy_bit_for_bit(dtype: Any, wdtype: Any) -> None:
    rng = np.random.default_rng(11)
    a = (rng.standard_normal(LARGE) * 100).astype(dtype)
    if np.dtype(wdtype).kind == "f":
        w = (rng.standard_normal(LARGE) * 1e3).astype(wdtype)
    else:
        w = rng.integers(-1000, 1000, LARGE).astype(wdtype)
    for kwargs in ({}, {"range": (-50.0, 80.0)}):
        want = np.histogram(a, 37, weights=w, **kwargs)  # type: ignore[arg-type]
        for t in (1, 2, None):
            got = gilfree.histogram(a, 37, weights=w, threads=t, **kwargs)  # type: ignore[arg-type]
            assert got[0].tobytes() == want[0].tobytes()
            same_hist(got, want)


def test_weighted_edges_close_to_numpy_and_fsum() -> None:
    rng = np.random.default_rng(12)
    a = rng.standard_normal(LARGE)
    w = rng.standard_normal(LARGE) * np.exp(rng.uniform(-20, 20, LARGE))
    edges = np.array([-3.0, -1.0, -0.2, 0.0, 0.5, 2.0, 3.5])
    got, _ = gilfree.histogram(a, edges, weights=w)
    want, _ = np.histogram(a, edges, weights=w)
    idx = np.searchsorted(edges, a, side="right") - 1
    idx[a == edges[-1]] = len(edges) - 2
    for k in range(len(edges) - 1):
        sel = w[(idx == k) & (a >= edges[0]) & (a <= edges[-1])]
        exact = math.fsum(sel)
        scale = math.fsum(np.abs(sel))
        assert abs(got[k] - exact) <= 1e-13 * scale
        assert abs(want[k] - exact) <= 1e-9 * scale  # NumPy's own cumulative sums
    results = [gilfree.histogram(a, edges, weights=w, threads=t)[0] for t in (1, 2, None)]
    assert all(r.tobytes() == results[0].tobytes() for r in results)


def test_density() -> None:
    rng = np.random.default_rng(13)
    a = rng.standard_normal(10_000)
    w = rng.uniform(0, 2, 10_000)
    for kwargs in ({}, {"weights": w}, {"range": (-1, 1)}):
        for bins in (10, [-2.0, -1.0, 0.0, 0.3, 4.0]):
            got = gilfree.histogram(a, bins, density=True, **kwargs)  # type: ignore[arg-type]
            want = np.histogram(a, bins, density=True, **kwargs)  # type: ignore[arg-type]
            np.testing.assert_allclose(got[0], want[0], rtol=1e-14)
            same(got[1], want[1])


def test_layouts_and_buffers() -> None:
    base = np.random.default_rng(14).standard_normal(2 * LARGE)
    for a in (base[::2], base[::-1], base[1::3]):
        same_hist(gilfree.histogram(a, 50), np.histogram(a, 50))
        w = np.arange(len(a), dtype=np.float64)[::-1]
        same_hist(gilfree.histogram(a, 50, weights=w), np.histogram(a, 50, weights=w))
    import array

    buf = array.array("d", [0.5, 1.5, 1.5, 3.0])
    same_hist(gilfree.histogram(buf, 3), np.histogram(np.asarray(buf), 3))


def test_histogram_errors() -> None:
    a = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"autodetected range of \[nan, nan\] is not finite"):
        gilfree.histogram(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"autodetected range of .* is not finite"):
        gilfree.histogram(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="histogram_bin_edges"):
        gilfree.histogram(a, "auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be positive"):
        gilfree.histogram(a, 0)
    with pytest.raises(TypeError, match="must be an integer"):
        gilfree.histogram(a, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="increase monotonically"):
        gilfree.histogram(a, [1.0, 0.0])
    with pytest.raises(ValueError, match="1d"):
        gilfree.histogram(a, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        gilfree.histogram(a, [0.0, np.nan])
    with pytest.raises(ValueError, match="max must be larger than min"):
        gilfree.histogram(a, range=(2, 1))
    with pytest.raises(ValueError, match="not finite"):
        gilfree.histogram(a, range=(1, np.inf))
    with pytest.raises(ValueError, match="Too many bins"):
        gilfree.histogram(a, 3, range=(0, 5e-324))
    with pytest.raises(ValueError, match="Too many bins"):
        gilfree.histogram(np.array([1.0, 1.0 + 2**-52]), 4)
    with pytest.raises(ValueError, match="same shape"):
        gilfree.histogram(a, weights=np.ones(2))
    with pytest.raises(ValueError, match="ravel"):
        gilfree.histogram(np.zeros((2, 2)))
    with pytest.raises(TypeError):
        gilfree.histogram([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        gilfree.histogram(np.arange(3, dtype=np.float16))
    with pytest.raises(TypeError, match="dtype"):
        gilfree.histogram(a, weights=np.ones(3, dtype=np.complex128))
    with pytest.raises(ValueError):
        gilfree.histogram(a, threads=0)
    with pytest.raises(MemoryError):
        gilfree.histogram(a, 2**61)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_bincount_matches_numpy(dtype: Any, data: st.DataObject) -> None:
    x = data.draw(hnp.arrays(dtype, st.integers(0, 300), elements=st.integers(0, 2000)), label="x")
    minlength = data.draw(st.integers(0, 2500), label="minlength")
    same(gilfree.bincount(x, minlength=minlength), np.bincount(x, minlength=minlength))
    w = data.draw(hnp.arrays(np.float64, len(x), elements=st.floats(-1e6, 1e6)), label="w")
    same(gilfree.bincount(x, w, minlength), np.bincount(x, w, minlength))


def test_bincount_large_threads_and_weights() -> None:
    rng = np.random.default_rng(15)
    x = rng.integers(0, 1000, LARGE)
    want = np.bincount(x)
    for t in (1, 2, 3, None):
        same(gilfree.bincount(x, threads=t), want)
    same(gilfree.bincount(x.astype(np.int32)[::-1]), want)
    w = rng.standard_normal(LARGE) * np.exp(rng.uniform(-10, 10, LARGE))
    got = [gilfree.bincount(x, w, threads=t) for t in (1, 2, None)]
    assert all(g.tobytes() == got[0].tobytes() for g in got)
    want_w = np.bincount(x, w)
    np.testing.assert_allclose(got[0], want_w, rtol=1e-9, atol=1e-9 * np.abs(w).max())
    for k in (0, 17, 999):
        sel = w[x == k]
        assert abs(got[0][k] - math.fsum(sel)) <= 1e-13 * math.fsum(np.abs(sel))
    for wd in (np.float32, np.int64, np.int32):
        wi = (w * 0 + rng.integers(-5, 5, LARGE)).astype(wd)
        same(gilfree.bincount(x, wi), np.bincount(x, wi))
    wide = np.array([0, 300_000, 5, 5], dtype=np.int64)
    same(gilfree.bincount(wide), np.bincount(wide))


def test_bincount_errors() -> None:
    with pytest.raises(ValueError, match="'list' argument must have no negative elements"):
        gilfree.bincount(np.array([1, -1]))
    with pytest.raises(TypeError, match="according to the rule 'safe'"):
        gilfree.bincount(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="'minlength' must not be negative"):
        gilfree.bincount(np.array([1, 2]), minlength=-1)
    with pytest.raises(TypeError):
        gilfree.bincount(np.array([1, 2]), minlength=True)
    with pytest.raises(ValueError, match="same length"):
        gilfree.bincount(np.array([1, 2]), np.ones(3))
    with pytest.raises(MemoryError):
        gilfree.bincount(np.array([10**12]))
    same(
        gilfree.bincount(np.array([], dtype=np.int64), minlength=3),
        np.bincount(np.array([], dtype=np.int64), minlength=3),
    )
    same(gilfree.bincount(np.array([], dtype=np.int64)), np.bincount(np.array([], dtype=np.int64)))
    e = np.array([], dtype=np.int64)
    same(gilfree.bincount(e, np.array([]), 2), np.bincount(e, np.array([]), 2))


def test_executor() -> None:
    assert gilfree.Executor.is_native(gilfree.histogram)
    assert gilfree.Executor.is_native(gilfree.bincount)
    rng = np.random.default_rng(16)
    a = rng.standard_normal(LARGE)
    x = rng.integers(0, 100, LARGE)
    with gilfree.Executor() as ex:
        f1 = ex.submit(gilfree.histogram, a, 20)
        f2 = ex.submit(gilfree.histogram, a, 20, range=(-1, 1), weights=a)
        f3 = ex.submit(gilfree.bincount, x, minlength=200)
        same_hist(f1.result(), np.histogram(a, 20))
        same_hist(f2.result(), np.histogram(a, 20, range=(-1, 1), weights=a))
        same(f3.result(), np.bincount(x, minlength=200))
        with pytest.raises(ValueError, match="negative"):
            ex.submit(gilfree.bincount, np.array([-1])).result()


@posix_only
def test_ctrl_c_histogram() -> None:
    child = interrupt_call(
        "for _ in range(10**6): gilfree.histogram(a, 100)",
        setup="a = np.random.default_rng(0).standard_normal(8_000_000)",
    )
    check_after(child, "histogram")


@posix_only
def test_ctrl_c_bincount() -> None:
    child = interrupt_call(
        "for _ in range(10**6): gilfree.bincount(a)",
        setup="a = np.random.default_rng(0).integers(0, 1000, 8_000_000)",
    )
    check_after(child, "bincount")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int16, np.uint8, np.uint16, np.uint32, np.uint64])
def test_narrow_and_unsigned_ints_match_numpy(dtype: Any) -> None:
    rng = np.random.default_rng(5)
    if dtype is np.bool_:
        a = rng.integers(0, 2, 20001).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo, hi = max(int(info.min), -1000), min(int(info.max), 3000)
        a = rng.integers(lo, hi, 20001, endpoint=True).astype(dtype)
    for kw in ({"bins": 7}, {"bins": 5, "range": (1, 50)}, {"bins": np.array([0, 2, 10, 100])}):
        same_hist(gilfree.histogram(a, **kw), np.histogram(a, **kw))
    b = (np.abs(a.astype(np.int64)) % 100).astype(dtype)
    for th in (1, None):
        got = gilfree.bincount(b[::2], minlength=300, threads=th)
        want = np.bincount(b[::2], minlength=300)
        assert got.dtype == want.dtype
        assert np.array_equal(got, want)
    big = np.array([2**64 - 1, 2**63, 0, 5], dtype=np.uint64)
    same_hist(gilfree.histogram(big, 3), np.histogram(big, 3))
