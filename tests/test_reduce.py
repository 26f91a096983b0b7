"""Properties and edge cases of the reductions: sum, mean, var, std, min, max, argmin, argmax.

Every result is checked against an independent reference (math.fsum, exact Python ints,
fractions.Fraction, NumPy), never against gilfree itself, except where the property *is* a
comparison of gilfree with itself: bit-identical results for every thread count, and strided or
buffer-protocol input giving the same answer as a contiguous NumPy array.
"""

from __future__ import annotations

import array
import functools
import math
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gilfree

CHUNK = 65_536  # gilfree_kernels::kernels::reduce::CHUNK_LEN: the unit of parallel work
# Many chunks, so that 2 and 3 threads all take some (the pool is really used), the last chunk
# partial.
LARGE = 3 * 12 * CHUNK + 12_345
EPS = sys.float_info.epsilon
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]
DTYPES = FLOATS + INTS
REDUCTIONS = ["sum", "mean", "var", "std", "moments", "min", "max", "argmin", "argmax"]
EXTREMES = ["min", "max", "argmin", "argmax"]
THREADS = [1, 2, 3, 8, None]

#: Sizes at the edges of the lanes (16), pairwise leaves (256), var blocks (2048) and chunks.
BOUNDARY_SIZES = [1, 2, *(k + d for k in (16, 256, 2048, CHUNK) for d in (-1, 0, 1)), 2 * CHUNK + 1]


def dtype_id(dtype: Any) -> str:
    return np.dtype(dtype).name


def is_float(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f"


parametrize_dtype = pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
parametrize_float = pytest.mark.parametrize("dtype", FLOATS, ids=dtype_id)
parametrize_int = pytest.mark.parametrize("dtype", INTS, ids=dtype_id)


# ---------------------------------------------------------------------------------------------
# Helpers and references


def reduction(name: str) -> Callable[..., Any]:
    return getattr(gilfree, name)


def bits(x: float | int) -> tuple[str, str | int]:
    """``x`` in a bit-exact comparable form: a float by its IEEE-754 bytes, an int as itself."""
    if isinstance(x, float):
        return ("float", struct.pack("<d", x).hex())
    return (type(x).__name__, x)


def outcome(name: str, a: Any, **kwargs: Any) -> tuple[str, str | int] | str:
    """What ``gilfree.<name>(a, **kwargs)`` does, bit for bit: its result, or its exception type."""
    try:
        return bits(reduction(name)(a, **kwargs))
    except (ValueError, OverflowError) as exc:
        return type(exc).__name__


def same_value(got: float | int, want: float | int) -> bool:
    """Equal, or both NaN."""
    if isinstance(got, float) and isinstance(want, float) and math.isnan(got) and math.isnan(want):
        return True
    return got == want


def sum_error_bound(x: np.ndarray) -> float:
    """A bound on the error of gilfree's pairwise float64 sum: (log2 n + 16)·ε·Σ|x|."""
    if len(x) == 0:
        return 0.0
    return (math.log2(len(x)) + 16) * EPS * math.fsum(np.abs(x).tolist())


def var_reference(x: np.ndarray, ddof: int) -> float:
    """``Σ(x - mean)² / (n - ddof)`` by the corrected two-pass formula, every sum a math.fsum.

    Accurate to a few ulps (checked against fractions.Fraction in test_var_reference_is_exact).
    """
    n = len(x)
    dof = n - ddof
    if dof <= 0:
        # NumPy's M2 / max(n - ddof, 0): nan for equal values (M2 = 0) or none, else inf.
        return math.nan if n == 0 or bool(np.all(x == x[0])) or bool(np.isnan(x).any()) else math.inf
    if n == 0:
        return 0.0
    d = x - math.fsum(x.tolist()) / n
    return (math.fsum((d * d).tolist()) - math.fsum(d.tolist()) ** 2 / n) / dof


def var_fraction(x: np.ndarray, ddof: int) -> float:
    """The exact variance of the float64 values ``x``, rounded once."""
    xs = [Fraction(v) for v in x.tolist()]
    mean = sum(xs, Fraction(0)) / len(xs)
    return float(sum(((v - mean) ** 2 for v in xs), Fraction(0)) / (len(xs) - ddof))


def var_tolerance(x: np.ndarray, ddof: int, reference: float) -> float:
    """Relative 1e-12, plus the (second-order) effect of a mean off by the sum's error bound."""
    n = len(x)
    if n == 0:
        return 0.0
    mean_error = (math.log2(n) + 16) * EPS * float(np.max(np.abs(x)))
    return 1e-12 * reference + n / (n - ddof) * (mean_error**2 + 1e-300)


@functools.cache
def random_array(dtype: Any, n: int, seed: int = 0) -> np.ndarray:
    """A read-only random array. Floats span 16 decades of both signs, so a float sum depends on
    the order of its additions; int64 stays within ±2**50, so sums fit in int64."""
    rng = np.random.default_rng(seed)
    if is_float(dtype):
        a = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9, n)).astype(dtype)
    else:
        bound = 2**31 - 1 if np.dtype(dtype).itemsize == 4 else 2**50
        a = rng.integers(-bound, bound, n, dtype=dtype, endpoint=True)
    a.flags.writeable = False
    return a


def well_conditioned(dtype: Any, n: int, seed: int = 0) -> np.ndarray:
    """Data whose spread is comparable to its mean: a well-conditioned variance."""
    rng = np.random.default_rng(seed)
    if is_float(dtype):
        return rng.normal(3.0, 2.0, n).astype(dtype)
    return rng.integers(-1000, 3000, n).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Strategies


def elements(dtype: Any, *, special: bool = False, bound: float | None = None) -> st.SearchStrategy[Any]:
    """Values of ``dtype``: every int; finite floats (|x| <= bound, 1e300 for float64 so that
    2000 of them cannot overflow a sum), plus nan, ±inf and ±0.0 often when ``special``."""
    dt = np.dtype(dtype)
    if dt.kind == "i":
        info = np.iinfo(dt)
        return st.integers(int(info.min), int(info.max))
    limit = float(np.finfo(dt).max) if dt.itemsize == 4 else 1e300
    if bound is not None:
        limit = min(limit, bound)
    finite = st.floats(-limit, limit, width=dt.itemsize * 8)
    if not special:
        return finite
    return st.one_of(finite, st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]))


def vectors(
    dtype: Any, *, special: bool = False, bound: float | None = None, min_size: int = 0, max_size: int = 2000
) -> st.SearchStrategy[np.ndarray]:
    """1-D arrays of ``dtype`` with 0..2000 elements (see :func:`elements`)."""
    return hnp.arrays(
        dtype, st.integers(min_size, max_size), elements=elements(dtype, special=special, bound=bound)
    )


# ---------------------------------------------------------------------------------------------
# sum


@parametrize_float
@given(data=st.data())
def test_float_sum_is_within_the_pairwise_error_bound(dtype: Any, data: st.DataObject) -> None:
    """A float sum is a Python float within (log2 n + 16)·ε·Σ|x| of the exact sum."""
    a = data.draw(vectors(dtype), label="a")
    got = gilfree.sum(a)
    assert type(got) is float
    x = a.astype(np.float64)
    exact = math.fsum(x.tolist())
    assert abs(got - exact) <= sum_error_bound(x) + EPS * abs(exact)


@parametrize_float
@given(data=st.data())
def test_float_sum_propagates_nan_and_inf(dtype: Any, data: st.DataObject) -> None:
    """Any NaN, or +inf with -inf, gives nan; otherwise an infinity gives itself."""
    a = data.draw(vectors(dtype, special=True), label="a")
    got = gilfree.sum(a)
    has_nan, has_pos_inf, has_neg_inf = np.isnan(a).any(), (a == np.inf).any(), (a == -np.inf).any()
    if has_nan or (has_pos_inf and has_neg_inf):
        assert math.isnan(got)
    elif has_pos_inf:
        assert got == math.inf
    elif has_neg_inf:
        assert got == -math.inf
    else:
        x = a.astype(np.float64)
        exact = math.fsum(x.tolist())
        assert abs(got - exact) <= sum_error_bound(x) + EPS * abs(exact)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 0.0),
        ([2.5], 2.5),
        ([-0.0, 0.0], 0.0),
        ([math.inf, 1.0], math.inf),
        ([-math.inf, 1.0], -math.inf),
        ([math.inf, -math.inf], math.nan),
        ([math.nan, math.inf], math.nan),
        ([1.0, math.nan], math.nan),
        ([1e308, 1e308], math.inf),
        ([1e308, -1e308], 0.0),
        ([1e308, 5e-324], 1e308),
        pytest.param([5e-324] * 1000, 1000 * 5e-324, id="[5e-324] * 1000"),
    ],
    ids=repr,
)
def test_float64_sum_edge_cases(values: list[float], expected: float) -> None:
    """Empty, length 1, signed zeros, infinities, NaN, overflow to inf, subnormals."""
    got = gilfree.sum(np.array(values, dtype=np.float64))
    assert type(got) is float
    assert same_value(got, expected)


def test_float32_sum_accumulates_in_float64() -> None:
    """2**24 + 1 float32 ones sum to 16777217.0, which float32 cannot hold."""
    got = gilfree.sum(np.ones(2**24 + 1, dtype=np.float32))
    assert type(got) is float
    assert got == 2**24 + 1


@parametrize_int
@given(data=st.data())
def test_int_sum_is_exact_or_raises_overflow_error(dtype: Any, data: st.DataObject) -> None:
    """An int sum is the exact Python int; OverflowError when that is outside int64."""
    a = data.draw(vectors(dtype), label="a")
    exact = sum(a.tolist())
    if INT64_MIN <= exact <= INT64_MAX:
        got = gilfree.sum(a)
        assert type(got) is int
        assert got == exact
    else:
        assert dtype is np.int64, "int32 sums are widened and cannot overflow"
        with pytest.raises(OverflowError, match="does not fit in int64"):
            gilfree.sum(a)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 0),
        ([7], 7),
        ([INT64_MAX, 1], OverflowError),
        ([INT64_MIN, -1], OverflowError),
        ([INT64_MAX, INT64_MAX, -INT64_MAX], INT64_MAX),
        ([INT64_MIN], INT64_MIN),
        ([INT64_MIN, INT64_MAX], -1),
    ],
    ids=["empty", "[7]", "MAX + 1", "MIN - 1", "MAX + MAX - MAX", "[MIN]", "MIN + MAX"],
)
def test_int64_sum_edge_cases(values: list[int], expected: int | type[Exception]) -> None:
    """The int64 limits, and intermediate sums outside them."""
    a = np.array(values, dtype=np.int64)
    if isinstance(expected, type):
        with pytest.raises(expected):
            gilfree.sum(a)
    else:
        got = gilfree.sum(a)
        assert type(got) is int
        assert got == expected


@pytest.mark.parametrize("threads", THREADS)
def test_int32_sum_never_overflows(threads: int | None) -> None:
    """int32 sums are widened: LARGE copies of the int32 limits sum exactly."""
    for value in (2**31 - 1, -(2**31)):
        a = np.full(LARGE, value, dtype=np.int32)
        assert gilfree.sum(a, threads=threads) == LARGE * value


@pytest.mark.parametrize("threads", THREADS)
def test_int64_sum_overflow_across_chunks(threads: int | None) -> None:
    """3 chunks of 2**62 overflow int64 as a whole (no chunk does): OverflowError, not wrap-around."""
    a = np.full(3 * CHUNK, 2**62, dtype=np.int64)
    with pytest.raises(OverflowError, match="does not fit in int64"):
        gilfree.sum(a, threads=threads)
    assert gilfree.mean(a, threads=threads) == 2.0**62  # the mean's exact sum never overflows


@pytest.mark.parametrize("threads", THREADS)
def test_int64_sum_is_exact_when_chunk_partials_exceed_int64(threads: int | None) -> None:
    """A chunk summing to +2**78 and one to -2**78 cancel exactly."""
    a = np.concatenate([np.full(CHUNK, 2**62), np.full(CHUNK, -(2**62)), [5]]).astype(np.int64)
    assert gilfree.sum(a, threads=threads) == 5


# ---------------------------------------------------------------------------------------------
# mean


@parametrize_dtype
@given(data=st.data())
def test_mean_matches_the_exact_mean(dtype: Any, data: st.DataObject) -> None:
    """Ints: the exact mean to 1e-15 relative. Floats: fsum(x)/n within the sum's error bound / n.
    Both: NumPy's float64 mean within twice that."""
    a = data.draw(vectors(dtype, min_size=1), label="a")
    got = gilfree.mean(a)
    assert type(got) is float
    n = len(a)
    x = a.astype(np.float64)
    if is_float(dtype):
        exact = math.fsum(x.tolist()) / n
        tolerance = sum_error_bound(x) / n + 2 * EPS * abs(exact)
        assert abs(got - exact) <= tolerance
    else:
        exact = sum(a.tolist()) / n  # int / int is correctly rounded
        assert math.isclose(got, exact, rel_tol=1e-15)
        tolerance = sum_error_bound(x) / n + 2 * EPS * abs(exact)
    assert abs(got - float(np.mean(a, dtype=np.float64))) <= 2 * tolerance


@parametrize_dtype
def test_mean_of_empty_is_nan_without_warning(dtype: Any) -> None:
    """NumPy warns "Mean of empty slice"; gilfree returns nan silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = gilfree.mean(np.array([], dtype=dtype))
    assert type(got) is float
    assert math.isnan(got)


def test_int_mean_uses_the_exact_sum() -> None:
    """[2**53, 1, 1]: float64 accumulation loses both ones; the exact sum keeps them."""
    a = np.array([2**53, 1, 1], dtype=np.int64)
    assert gilfree.mean(a) == (2**53 + 2) / 3
    assert gilfree.mean(np.array([INT64_MAX, INT64_MAX], dtype=np.int64)) == float(INT64_MAX)


# ---------------------------------------------------------------------------------------------
# var, std


@parametrize_dtype
@given(data=st.data(), ddof=st.integers(-2, 3))
def test_var_and_std_match_a_two_pass_reference(dtype: Any, data: st.DataObject, ddof: int) -> None:
    """var matches the fsum two-pass reference (NumPy's inf/nan when n - ddof <= 0); std is sqrt(var)."""
    a = data.draw(vectors(dtype, bound=1e6), label="a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = gilfree.var(a, ddof=ddof)
        got_std = gilfree.std(a, ddof=ddof)
    assert type(got) is float
    assert type(got_std) is float
    x = a.astype(np.float64)
    want = var_reference(x, ddof)
    if math.isnan(want):
        assert math.isnan(got)
        assert math.isnan(got_std)
        return
    if math.isinf(want):
        assert got == got_std == math.inf
        return
    assert abs(got - want) <= var_tolerance(x, ddof, want)
    assert got_std == math.sqrt(got)


@parametrize_dtype
@pytest.mark.parametrize("n", [2, 100, 5000, 100_000])
@pytest.mark.parametrize("ddof", [0, 1, -2])
def test_var_and_std_match_numpy_on_well_conditioned_data(dtype: Any, n: int, ddof: int) -> None:
    """np.var / np.std of the float64 values, to 1e-12 relative (NumPy's float32 var accumulates
    in float32, so float32 input is compared with NumPy on its float64 widening)."""
    a = well_conditioned(dtype, n)
    x = a.astype(np.float64)
    assert gilfree.var(a, ddof=ddof) == pytest.approx(np.var(x, ddof=ddof), rel=1e-12)
    assert gilfree.std(a, ddof=ddof) == pytest.approx(np.std(x, ddof=ddof), rel=1e-12)


@pytest.mark.parametrize("n", [1000, 5000, 20_000, 100_000])
def test_var_is_accurate_with_a_large_mean(n: int) -> None:
    """1e9 + uniform(0, 1): within 1e-9 of the exact variance, where E[x²] - E[x]² is useless."""
    x = 1e9 + np.random.default_rng(n).uniform(0.0, 1.0, n)
    exact = var_reference(x, 0)
    naive = float(np.mean(x**2) - np.mean(x) ** 2)
    assert abs(naive - exact) > 1e-3 * exact  # why a one-pass textbook formula won't do
    assert gilfree.var(x) == pytest.approx(exact, rel=1e-9)
    assert gilfree.std(x) == pytest.approx(math.sqrt(exact), rel=1e-9)


def merge_moments(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[int, float, float]:
    """The merge gilfree.moments documents (Chan, Golub & LeVeque), written out independently."""
    (na, ma, m2a), (nb, mb, m2b) = a, b
    if na == 0 or nb == 0:
        return b if na == 0 else a
    n = na + nb
    d = mb - ma
    return n, ma + d * nb / n, m2a + m2b + d * d * na * nb / n


@parametrize_dtype
@given(data=st.data())
def test_moments_match_exact_references(dtype: Any, data: st.DataObject) -> None:
    """n, the exact mean (math.fsum) and n * var_reference: the partial var = m2 / (n - ddof) uses."""
    x = data.draw(vectors(dtype, bound=1e6, min_size=1), label="x")
    n, mean, m2 = gilfree.moments(x)
    wide = x.astype(np.float64)
    assert n == len(x)
    # The mean is accurate to a few ulps of the data's magnitude (int64 extremes near 2**62 whose
    # mean is 1e13 lose that much to the float64 shift, as every float64 mean does).
    scale = float(np.abs(wide).max())
    assert mean == pytest.approx(math.fsum(wide.tolist()) / n, rel=1e-12, abs=16 * EPS * scale)
    assert m2 == pytest.approx(var_reference(wide, 0) * n, rel=1e-9, abs=1e-300)


@parametrize_dtype
@given(data=st.data())
def test_moments_of_pieces_merge_into_the_moments_of_the_whole(dtype: Any, data: st.DataObject) -> None:
    """What Dask and streaming code do: moments of pieces, merged, equal the moments of the whole."""
    x = data.draw(vectors(dtype, bound=1e6, max_size=4000), label="x")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(x)), max_size=4)))
    pieces = np.split(x, cuts)
    merged = functools.reduce(merge_moments, (gilfree.moments(p) for p in pieces), (0, 0.0, 0.0))
    n, mean, m2 = gilfree.moments(x)
    assert merged[0] == n
    # Within a few ulps of the data's magnitude (int64 extremes near 2**63 whose mean is ~1e12
    # lose that much to float64, in the pieces as in the whole).
    scale = float(np.abs(x.astype(np.float64)).max()) if len(x) else 0.0
    assert merged[1] == pytest.approx(mean, rel=1e-9, abs=max(1e-9, 16 * EPS * scale))
    assert merged[2] == pytest.approx(m2, rel=1e-8, abs=1e-6)


def test_moments_edge_cases() -> None:
    assert gilfree.moments(np.array([], dtype=np.float64)) == (0, 0.0, 0.0)  # the merge's identity
    assert gilfree.moments(np.array([7], dtype=np.int32)) == (1, 7.0, 0.0)
    # int64 extremes (found by hypothesis on 3.13t): the mean within a few ulps of the data's scale.
    big = np.array([-4613091412256472576, 4611686018427383552] + [0] * 20, dtype=np.int64)
    exact = math.fsum(big.astype(np.float64).tolist()) / len(big)
    assert gilfree.moments(big)[1] == pytest.approx(exact, abs=16 * EPS * 2**62)
    n, mean, m2 = gilfree.moments(np.array([1.0, np.nan, 3.0]))
    assert n == 3
    assert math.isnan(mean)
    assert math.isnan(m2)
    x = 1e9 + np.random.default_rng(5).uniform(0.0, 1.0, 100_000)  # mean 1e9, spread 1
    n, mean, m2 = gilfree.moments(x)
    assert m2 / n == pytest.approx(var_reference(x, 0), rel=1e-9)
    assert mean == pytest.approx(math.fsum(x.tolist()) / len(x), rel=1e-15)


def test_moments_as_an_executor_task() -> None:
    x = np.random.default_rng(6).standard_normal(300_000)
    assert gilfree.Executor.is_native(gilfree.moments)
    with gilfree.Executor() as ex:
        assert ex.submit(gilfree.moments, x).result() == gilfree.moments(x)


@pytest.mark.parametrize("n", [2, 1000, 5000])
def test_var_reference_is_exact(n: int) -> None:
    """The fsum two-pass reference agrees with fractions.Fraction (on the hard data above)."""
    x = 1e9 + np.random.default_rng(n).uniform(0.0, 1.0, n)
    assert var_reference(x, 1) == pytest.approx(var_fraction(x, 1), rel=4 * EPS)


@parametrize_float
@given(data=st.data())
def test_var_of_nan_or_inf_is_nan(dtype: Any, data: st.DataObject) -> None:
    """Any NaN or infinity makes var and std nan."""
    a = data.draw(vectors(dtype, special=True, min_size=1), label="a")
    if np.isfinite(a).all():
        return
    assert math.isnan(gilfree.var(a))
    assert math.isnan(gilfree.std(a))


@parametrize_dtype
@pytest.mark.parametrize(("n", "ddof"), [(0, 0), (0, 1), (1, 1), (1, 2), (3, 3), (3, 100)])
def test_var_with_ddof_at_least_n_is_numpys_answer_without_warning(dtype: Any, n: int, ddof: int) -> None:
    """n - ddof <= 0: NumPy's M2 / 0 (inf for distinct values, nan for equal ones or none),
    silently (NumPy warns "Degrees of freedom <= 0")."""
    for a in (np.arange(n, dtype=dtype), np.full(n, 7, dtype=dtype)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_var, want_std = float(np.var(a, ddof=ddof)), float(np.std(a, ddof=ddof))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got_var, got_std = gilfree.var(a, ddof=ddof), gilfree.std(a, ddof=ddof)
        assert (got_var, got_std) == (want_var, want_std) or (
            math.isnan(got_var) and math.isnan(want_var) and math.isnan(got_std) and math.isnan(want_std)
        ), (a, ddof)


@parametrize_dtype
def test_var_with_negative_ddof_divides_by_n_minus_ddof(dtype: Any) -> None:
    """[1, 2, 3, 4]: Σ(x - mean)² = 5, so ddof=-1 gives 5/5 and ddof=-6 gives 5/10, as NumPy."""
    a = np.array([1, 2, 3, 4], dtype=dtype)
    assert gilfree.var(a, ddof=-1) == 1.0 == np.var(a, ddof=-1)
    assert gilfree.var(a, ddof=-6) == 0.5 == np.var(a, ddof=-6)
    assert gilfree.std(a, ddof=-6) == math.sqrt(0.5)


# ---------------------------------------------------------------------------------------------
# min, max, argmin, argmax


@parametrize_dtype
@pytest.mark.parametrize("name", ["min", "max"])
@given(data=st.data())
def test_min_max_match_numpy(dtype: Any, name: str, data: st.DataObject) -> None:
    """np.min / np.max, NaN propagating; a float for float input, an int for int input."""
    a = data.draw(vectors(dtype, special=True, min_size=1), label="a")
    got = reduction(name)(a)
    assert type(got) is (float if is_float(dtype) else int)
    assert same_value(got, getattr(np, name)(a).item())


@parametrize_dtype
@pytest.mark.parametrize("name", ["argmin", "argmax"])
@given(data=st.data())
def test_argmin_argmax_match_numpy(dtype: Any, name: str, data: st.DataObject) -> None:
    """np.argmin / np.argmax: the first index of the extreme, or of the first NaN."""
    a = data.draw(vectors(dtype, special=True, min_size=1), label="a")
    got = reduction(name)(a)
    assert type(got) is int
    assert got == getattr(np, name)(a)


@pytest.mark.parametrize("threads", THREADS)
def test_arg_extremes_give_the_first_index_across_chunks(threads: int | None) -> None:
    """Ties in different chunks give the first index; so does a second NaN."""
    a = np.zeros(LARGE)
    a[[70_000, 200_000, LARGE - 1]] = 5.0
    a[[CHUNK, 3 * CHUNK]] = -5.0
    assert gilfree.argmax(a, threads=threads) == 70_000
    assert gilfree.argmin(a, threads=threads) == CHUNK
    a[[250_000, 100_000]] = np.nan
    assert gilfree.argmax(a, threads=threads) == 100_000
    assert gilfree.argmin(a, threads=threads) == 100_000
    assert math.isnan(gilfree.min(a, threads=threads))
    assert math.isnan(gilfree.max(a, threads=threads))


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([INT64_MIN, INT64_MAX], np.int64),
        ([-(2**31), 2**31 - 1], np.int32),
        ([-math.inf, math.inf], np.float64),
    ],
    ids=["int64", "int32", "float64"],
)
def test_extremes_of_the_type_range(values: list[float], dtype: Any) -> None:
    """The limits of the type come back exactly (ints are not converted through float)."""
    a = np.array(values, dtype=dtype)
    assert (gilfree.min(a), gilfree.max(a)) == (values[0], values[1])
    assert (gilfree.argmin(a), gilfree.argmax(a)) == (0, 1)


@parametrize_dtype
@pytest.mark.parametrize("name", EXTREMES)
def test_extremes_of_empty_raise_value_error(dtype: Any, name: str) -> None:
    """An empty array has no min, max, argmin or argmax."""
    with pytest.raises(ValueError, match="empty"):
        reduction(name)(np.array([], dtype=dtype))


# ---------------------------------------------------------------------------------------------
# Every reduction: single elements, boundaries, determinism


@parametrize_dtype
def test_single_element(dtype: Any) -> None:
    """One element x: sum = mean = min = max = x, var = std = 0, var(ddof=1) = nan, arg* = 0."""
    value = np.array([-3], dtype=dtype)
    x = value[0].item()
    assert gilfree.sum(value) == gilfree.mean(value) == gilfree.min(value) == gilfree.max(value) == x
    assert gilfree.var(value) == gilfree.std(value) == 0.0
    assert math.isnan(gilfree.var(value, ddof=1))
    assert gilfree.argmin(value) == gilfree.argmax(value) == 0


@parametrize_dtype
@pytest.mark.parametrize("n", BOUNDARY_SIZES)
def test_references_hold_around_block_and_chunk_boundaries(dtype: Any, n: int) -> None:
    """At sizes around every internal block size: sum, mean, var against fsum/exact references,
    min/max/argmin/argmax against NumPy (with the extremes tied at a later index)."""
    a = random_array(dtype, n).copy()
    a[-1] = a[np.argmax(a)]
    a[n // 2] = a[np.argmin(a)]
    x = a.astype(np.float64)
    if is_float(dtype):
        exact_sum: float | int = math.fsum(x.tolist())
        assert abs(gilfree.sum(a) - exact_sum) <= sum_error_bound(x) + EPS * abs(exact_sum)
    else:
        exact_sum = sum(a.tolist())
        assert gilfree.sum(a) == exact_sum
    tolerance = sum_error_bound(x) / n + 2 * EPS * abs(exact_sum / n)
    assert abs(gilfree.mean(a) - exact_sum / n) <= tolerance
    want_var = var_reference(x, 1)
    if n > 1:
        assert abs(gilfree.var(a, ddof=1) - want_var) <= var_tolerance(x, 1, want_var)
    for name in EXTREMES:
        assert same_value(reduction(name)(a), getattr(np, name)(a).item()), name


@parametrize_dtype
@pytest.mark.parametrize("name", REDUCTIONS)
def test_results_are_bit_identical_for_every_thread_count(
    dtype: Any, name: str, restore_num_threads: int
) -> None:
    """LARGE elements (5 chunks): the same bits for threads=1, 2, 3, 8, None and pool sizes 1, 3."""
    a = random_array(dtype, LARGE)
    expected = outcome(name, a, threads=1)
    for threads in THREADS:
        assert outcome(name, a, threads=threads) == expected, f"threads={threads}"
    for pool in (1, 3):
        gilfree.set_num_threads(pool)
        assert outcome(name, a) == expected, f"set_num_threads({pool})"
        assert outcome(name, a, threads=2) == expected, f"set_num_threads({pool}), threads=2"


# ---------------------------------------------------------------------------------------------
# Input forms: strided views, buffer-protocol objects, read-only memory

VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "a[::3]": lambda a: a[::3],
    "a[::-1]": lambda a: a[::-1],
    "column": lambda a: np.column_stack([a, a[::-1], a])[:, 1],
}


@parametrize_dtype
@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("n", [100, LARGE])
def test_strided_views_match_their_contiguous_copies(dtype: Any, view: str, n: int) -> None:
    """a[::3], a[::-1] and a column of a 2-D C array give the bits of np.ascontiguousarray()."""
    strided = VIEWS[view](random_array(dtype, n))
    assert not strided.flags.c_contiguous
    contiguous = np.ascontiguousarray(strided)
    for name in REDUCTIONS:
        assert outcome(name, strided, threads=2) == outcome(name, contiguous, threads=2), name


TYPECODES = {"d": np.float64, "f": np.float32, "i": np.int32, "q": np.int64}


@pytest.mark.parametrize("typecode", list(TYPECODES))
@pytest.mark.parametrize("n", [5, 1000])
def test_array_array_and_memoryview_match_numpy(typecode: str, n: int) -> None:
    """array.array, memoryviews of it and of a NumPy array, and of read-only bytes: same bits."""
    a = random_array(TYPECODES[typecode], n)
    buffer = array.array(typecode, a.tolist())
    forms = {
        "array.array": buffer,
        "memoryview(array.array)": memoryview(buffer),
        "memoryview(ndarray)": memoryview(a),
        "memoryview(bytes)": memoryview(a.tobytes()).cast(typecode),
        "strided memoryview": memoryview(np.repeat(a, 2))[::2],
    }
    for name in REDUCTIONS:
        expected = outcome(name, a)
        for form, obj in forms.items():
            assert outcome(name, obj) == expected, (name, form)
    for obj in forms.values():
        if isinstance(obj, memoryview):
            obj.release()  # our own exports; gilfree must hold none
    buffer.append(buffer[0])  # BufferError: cannot resize an array that is exporting buffers


@parametrize_dtype
@pytest.mark.parametrize("n", [10, LARGE])
def test_read_only_arrays_work(dtype: Any, n: int) -> None:
    """A read-only array reduces like a writeable copy of it."""
    read_only = random_array(dtype, n)
    assert not read_only.flags.writeable
    writeable = read_only.copy()
    for name in REDUCTIONS:
        assert outcome(name, read_only) == outcome(name, writeable), name


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("n", [4, LARGE])
def test_bytearray_can_be_resized_after_a_call(name: str, n: int) -> None:
    """A memoryview of a bytearray is reduced in place, and its buffer export is released."""
    values = np.arange(n, dtype=np.float64)
    raw = bytearray(values.tobytes())
    view = memoryview(raw).cast("d")
    assert outcome(name, view) == outcome(name, values)
    del view
    raw.extend(bytes(8))  # BufferError: Existing exports of data: object cannot be re-sized
    assert len(raw) == 8 * (n + 1)


def test_bytearray_can_be_resized_after_a_rejected_call() -> None:
    """Rejected buffers (wrong dtype, wrong ndim) are released too."""
    raw = bytearray(48)
    chars = memoryview(raw).cast("c")  # NumPy's dtype S1: not a number
    with pytest.raises(TypeError):
        gilfree.sum(chars)
    del chars
    view = memoryview(raw).cast("d", (1, 2, 3))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        gilfree.sum(view)
    del view
    raw.extend(bytes(8))


# ---------------------------------------------------------------------------------------------
# Bad input: exact exception types, messages naming the argument

NOT_ARRAYS = [[1.0, 2.0], (1.0,), 1.0, 3, None, "abc", {1.0: 2.0}]
# bool, int8-int64, uint8-uint64 and float16 are accepted too: tests/test_reduce_axis.py.
BAD_DTYPES = [
    "complex64",
    "complex128",
    "object",
    "datetime64[ns]",
    ">f8",
    ">f4",
    ">i8",
    ">i4",
    ">u2",
    ">f2",
    "S3",
    "U1",
]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("obj", NOT_ARRAYS, ids=lambda o: type(o).__name__)
def test_non_buffers_raise_type_error(name: str, obj: object) -> None:
    """A list (or any non-buffer) is rejected, not converted."""
    with pytest.raises(TypeError, match=r"^a must be a NumPy array or a buffer-protocol object"):
        reduction(name)(obj)


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_unsupported_dtypes_raise_type_error(name: str, dtype: str) -> None:
    """Complex, object, datetime, strings and non-native byte order fail."""
    match = r"^a has dtype .* in non-native byte order" if dtype.startswith(">") else r"^a has dtype"
    with pytest.raises(TypeError, match=match):
        reduction(name)(np.zeros(3, dtype=dtype))


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize(
    "obj",
    [
        np.array(1.0),
        np.float64(1.0),
        np.zeros((2, 2, 2)),
        memoryview(np.zeros((2, 2, 2))),
    ],
    ids=["0-D", "numpy scalar", "3-D", "3-D memoryview"],
)
def test_not_1d_raises_value_error(name: str, obj: object) -> None:
    """0-D and 3-D input is rejected, no implicit ravel (2-D: tests/test_reduce_axis.py)."""
    with pytest.raises(ValueError, match=r"^a must be 1-D"):
        reduction(name)(obj)


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize(
    ("threads", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (-(2**70), ValueError),
        (1.5, TypeError),
        ("2", TypeError),
        (True, TypeError),
    ],
    ids=["0", "-1", "-2**70", "1.5", "'2'", "True"],
)
@pytest.mark.parametrize("n", [3, LARGE])
def test_bad_threads_raise(name: str, threads: object, error: type[Exception], n: int) -> None:
    """threads < 1 is a ValueError; a non-int (bool included) a TypeError."""
    with pytest.raises(error, match=r"^threads must be None or an int >= 1"):
        reduction(name)(random_array(np.float64, n), threads=threads)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_threads_accepts_numpy_and_huge_ints(name: str) -> None:
    """Anything with __index__ works; more threads than exist means all of them."""
    a = random_array(np.float64, LARGE)
    expected = outcome(name, a, threads=1)
    assert outcome(name, a, threads=np.int64(2)) == expected
    assert outcome(name, a, threads=2**70) == expected


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("ddof", [1.5, "1", None])
def test_bad_ddof_raises_type_error(name: str, ddof: object) -> None:
    """ddof must be an int."""
    with pytest.raises(TypeError, match="ddof"):
        reduction(name)(np.arange(5.0), ddof=ddof)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_threads_and_ddof_are_keyword_only(name: str) -> None:
    """f(a, 2) is a TypeError, so a positional threads (or ddof) cannot be mistaken for another."""
    with pytest.raises(TypeError):
        reduction(name)(np.arange(5.0), 2)


def test_the_benchmark_checks_its_results_and_judges_every_target() -> None:
    """``benchmarks/bench_reduce.py`` at a tiny size: exits 0 (it exits 2 when gilfree disagrees
    with NumPy), names the reader that set the ceiling, and prints one PASS/FAIL line per target:
    (a) 8 reductions x 3 dtypes, (b) 8 reductions, (c) var/std x 2."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_reduce.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--size", "20000", "--repeat", "1", "--warmup", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ceiling = [line for line in proc.stdout.splitlines() if line.startswith("Read ceiling: ")]
    assert len(ceiling) == 1
    assert " from " in ceiling[0]
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith(("PASS (", "FAIL ("))]
    assert len(verdicts) == 8 * 3 + 8 + 4, proc.stdout
    assert sum(" (b) " in v for v in verdicts) == 8
