"""gilfree.pairwise_distances against scipy.spatial.distance.cdist: every metric, float32/float64
and integer input, NaN/inf, zero rows, layouts, y=None (symmetric, zero diagonal), accuracy where
the |x|^2 + |y|^2 - 2x.y trick cancels, thread counts (the same bits), errors, Ctrl-C and the
Executor task form."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

import gilfree
from tests._sigint import check_after, interrupt_call, posix_only

METRICS = ["euclidean", "sqeuclidean", "cityblock", "cosine"]
parametrize_metric = pytest.mark.parametrize("metric", METRICS)


def reference(x: Any, y: Any, metric: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return cdist(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), metric)


def assert_close(got: np.ndarray, want: np.ndarray, metric: str, rtol: float = 1e-12) -> None:
    """Within a few ulps of cdist's float64 value (relative to the scale of the terms for the
    cosine, whose 1 - c loses the low bits of c as cdist's does)."""
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    atol = 4e-16 if metric == "cosine" else 0.0
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=atol)


def finite(width: int = 64) -> st.SearchStrategy[float]:
    return st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def pair(draw: st.DrawFn, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    dtype = np.float64 if width == 64 else np.float32
    n = draw(st.integers(0, 40))
    m = draw(st.integers(0, 30))
    d = draw(st.integers(0, 20))
    x = draw(hnp.arrays(dtype, (n, d), elements=finite(width)))
    y = draw(hnp.arrays(dtype, (m, d), elements=finite(width)))
    return x, y


@parametrize_metric
@settings(max_examples=60, deadline=None)
@given(xy=pair())
def test_matches_cdist_float64(metric: str, xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    got = gilfree.pairwise_distances(x, y, metric=metric)
    assert got.dtype == np.float64
    assert got.flags.c_contiguous
    want = reference(x, y, metric)
    if metric == "cosine":
        # 1 - c near c == 1 keeps only the absolute accuracy of c.
        assert got.shape == want.shape
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=1e-13)
        assert np.all((got[ok] >= 0) & (got[ok] <= 2))
    else:
        assert_close(got, want, metric)


@parametrize_metric
@settings(max_examples=40, deadline=None)
@given(xy=pair(width=32))
def test_float32_rounded_once_from_float64(metric: str, xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    got = gilfree.pairwise_distances(x, y, metric=metric)
    assert got.dtype == np.float32
    want = reference(x, y, metric)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    # cdist of the float32 values (computed in float64) rounded to float32: within one float32 ulp.
    tol = np.spacing(np.abs(want[ok]).astype(np.float32)).astype(np.float64)
    atol = 1e-7 if metric == "cosine" else 0.0
    assert np.all(np.abs(got[ok].astype(np.float64) - want[ok]) <= tol + atol)


@parametrize_metric
def test_special_values(metric: str) -> None:
    x = np.array(
        [[0.0, 0.0, 0.0], [1.0, np.nan, 2.0], [np.inf, 1.0, 1.0], [1e300, -1e300, 3.0], [-0.0, 2.0, 5.0]]
    )
    y = np.array([[0.0, 0.0, 0.0], [np.inf, 0.0, 1.0], [1.0, 2.0, 3.0], [-np.inf, 1.0, 1.0]])
    got = gilfree.pairwise_distances(x, y, metric=metric)
    want = reference(x, y, metric)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12, atol=1e-15)


def test_zero_vectors_cosine_nan_like_cdist() -> None:
    x = np.array([[0.0, 0.0], [1.0, 2.0]])
    got = gilfree.pairwise_distances(x, x, metric="cosine")
    assert np.isnan(got[0]).all()
    assert np.isnan(got[:, 0]).all()
    assert np.isnan(reference(x, x, "cosine")[0]).all()
    # Without y the diagonal is exactly zero except where the self-distance is NaN.
    sym = gilfree.pairwise_distances(x, metric="cosine")
    assert np.isnan(sym[0, 0])
    assert sym[1, 1] == 0.0


@parametrize_metric
def test_self_distances_symmetric_zero_diagonal(metric: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((301, 17))
    got = gilfree.pairwise_distances(x, metric=metric)
    assert got.shape == (301, 301)
    assert np.array_equal(got, got.T)
    assert np.all(np.diag(got) == 0.0)
    assert not np.signbit(np.diag(got)).any()
    want = reference(x, x, metric)
    np.fill_diagonal(want, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_no_cancellation() -> None:
    # Points near 1e8 that differ by 0.5 per coordinate: the BLAS trick loses every digit here.
    base = 1e8 + np.arange(16) * 0.25
    x = base[None, :]
    y = (base + 0.5)[None, :]
    assert gilfree.pairwise_distances(x, y, metric="sqeuclidean")[0, 0] == 4.0
    assert gilfree.pairwise_distances(x, y)[0, 0] == 2.0
    xx = (x * x).sum(1)
    yy = (y * y).sum(1)
    trick = xx[:, None] + yy[None, :] - 2 * x @ y.T
    assert trick[0, 0] != 4.0  # the reason for computing from differences


@parametrize_metric
def test_same_bits_at_every_thread_count(metric: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((400, 70))
    y = rng.standard_normal((250, 70))
    want = gilfree.pairwise_distances(x, y, metric=metric, threads=1)
    for threads in (2, 3, None):
        got = gilfree.pairwise_distances(x, y, metric=metric, threads=threads)
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), threads
    sym1 = gilfree.pairwise_distances(x, metric=metric, threads=1)
    sym = gilfree.pairwise_distances(x, metric=metric)
    assert np.array_equal(sym1.view(np.uint64), sym.view(np.uint64))
    assert_close(want, reference(x, y, metric), metric, rtol=1e-11)


def test_large_d_k_blocks() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((30, 1000))
    y = rng.standard_normal((20, 1000))
    for metric in METRICS:
        assert_close(gilfree.pairwise_distances(x, y, metric=metric), reference(x, y, metric), metric)


def test_layouts() -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((90, 40))
    layouts = {
        "C": base[:, :13],
        "F": np.asfortranarray(base[:50, :13]),
        "strided": base[::2, ::3][:, :13],
        "reversed": base[::-1, ::-1][:, :13],
        "transposed": base[:13, :30].T,
    }
    y = rng.standard_normal((7, 13))
    for name, x in layouts.items():
        ycols = y[:, : x.shape[1]]
        for metric in METRICS:
            got = gilfree.pairwise_distances(x, ycols, metric=metric)
            assert_close(got, reference(x, ycols, metric), metric)
            got = gilfree.pairwise_distances(ycols, x, metric=metric)
            assert_close(got, reference(ycols, x, metric), metric), name


def test_integer_and_mixed_dtypes() -> None:
    rng = np.random.default_rng(2)
    xi = rng.integers(-1000, 1000, (20, 6)).astype(np.int64)
    yi = rng.integers(-1000, 1000, (9, 6)).astype(np.int32)
    y32 = rng.standard_normal((9, 6)).astype(np.float32)
    for metric in METRICS:
        for x, y in [(xi, yi), (xi, y32), (y32, xi), (xi, None), (y32, yi)]:
            got = gilfree.pairwise_distances(x, y, metric=metric)
            assert got.dtype == np.float64
            want = reference(x, x if y is None else y, metric)
            if y is None:
                np.fill_diagonal(want, 0.0)
            assert_close(got, want, metric)
    big = np.array([[2**62 + 1, 0]], dtype=np.int64)
    assert gilfree.pairwise_distances(big, np.zeros((1, 2), np.int64))[0, 0] == float(2**62)


def test_buffer_protocol_input() -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    got = gilfree.pairwise_distances(memoryview(x))
    np.testing.assert_allclose(got, cdist(x, x), rtol=1e-15)


def test_empty_and_zero_width() -> None:
    for n, m in [(0, 3), (3, 0), (0, 0)]:
        got = gilfree.pairwise_distances(np.zeros((n, 4)), np.zeros((m, 4)))
        assert got.shape == (n, m)
        assert got.dtype == np.float64
    assert gilfree.pairwise_distances(np.zeros((0, 4), np.float32)).shape == (0, 0)
    z = gilfree.pairwise_distances(np.zeros((2, 0)), np.zeros((3, 0)), metric="cityblock")
    assert z.shape == (2, 3)
    assert np.all(z == 0.0)
    assert np.isnan(gilfree.pairwise_distances(np.zeros((2, 0)), np.zeros((3, 0)), metric="cosine")).all()
    assert np.array_equal(gilfree.pairwise_distances(np.zeros((3, 0))), np.zeros((3, 3)))


def test_input_untouched() -> None:
    x = np.random.default_rng(1).standard_normal((50, 8))
    before = x.copy()
    gilfree.pairwise_distances(x, x[::-1], metric="cosine")
    assert np.array_equal(x, before)


def test_bad_input() -> None:
    x = np.zeros((3, 4))
    with pytest.raises(TypeError):
        gilfree.pairwise_distances([[0.0, 1.0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        gilfree.pairwise_distances(x.astype(np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        gilfree.pairwise_distances(x, x.astype(np.complex128))
    with pytest.raises(TypeError, match="dtype"):
        gilfree.pairwise_distances(x.astype(">f8"))
    with pytest.raises(ValueError, match="2-D"):
        gilfree.pairwise_distances(np.zeros(4))
    with pytest.raises(ValueError, match="2-D"):
        gilfree.pairwise_distances(x, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="same number of columns"):
        gilfree.pairwise_distances(x, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="'euclidean', 'sqeuclidean', 'cityblock', 'cosine'"):
        gilfree.pairwise_distances(x, metric="minkowski")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="metric must be a str"):
        gilfree.pairwise_distances(x, metric=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        gilfree.pairwise_distances(x, threads=0)
    with pytest.raises(TypeError):
        gilfree.pairwise_distances(x, threads=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="masked"):
        gilfree.pairwise_distances(np.ma.masked_array(x))


def test_huge_output_is_memory_error() -> None:
    x = np.zeros((10**6, 1))
    with pytest.raises(MemoryError):
        gilfree.pairwise_distances(x, x)
    with pytest.raises(MemoryError):
        gilfree.pairwise_distances(x)


def test_executor() -> None:
    assert gilfree.Executor.is_native(gilfree.pairwise_distances)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((200, 16))
    y = rng.standard_normal((150, 16)).astype(np.float32)
    with gilfree.Executor() as ex:
        f1 = ex.submit(gilfree.pairwise_distances, x, y, metric="cityblock")
        f2 = ex.submit(gilfree.pairwise_distances, x)
        assert_close(f1.result(), reference(x, y, "cityblock"), "cityblock")
        assert np.array_equal(f2.result(), gilfree.pairwise_distances(x))
        with pytest.raises(ValueError):
            ex.submit(gilfree.pairwise_distances, x, threads=2)


@posix_only
def test_ctrl_c() -> None:
    child = interrupt_call(
        "for _ in range(10**6): gilfree.pairwise_distances(x, metric='cityblock')",
        setup="x = np.random.default_rng(0).standard_normal((3000, 256))",
    )
    check_after(child, "pairwise_distances")
