"""2-D input to the reductions: every layout read right (the 2-D input layer, src/array.rs).

References are NumPy's answers on a C-contiguous copy (``np.ascontiguousarray``), never gilfree
itself, except for the property that *is* a comparison of gilfree with itself: the same bits for
every layout of the same values, and for every thread count.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from tests._sigint import check_after, interrupt_call, posix_only

REDUCTIONS = ["sum", "mean", "var", "std", "moments", "min", "max", "argmin", "argmax"]
DTYPES = [np.float32, np.float64, np.int32, np.int64]
THREADS = [1, 2, None]


def call(name: str, a: Any, **kw: Any) -> Any:
    return getattr(gilfree, name)(a, **kw)


def layouts(c: np.ndarray) -> dict[str, np.ndarray]:
    """The values of 2-D ``c`` in every layout NumPy can give them (each equal to ``c``)."""
    rows, cols = c.shape
    out = {
        "C": c,
        "F": np.asfortranarray(c),
        "reversed": np.ascontiguousarray(c[::-1, ::-1])[::-1, ::-1],
        "strided": np.repeat(np.repeat(c, 2, axis=0), 3, axis=1)[::2, ::3],
        "transposed": np.ascontiguousarray(c.T).T,
    }
    # A field of a packed record array: a byte stride that is not a multiple of the item size.
    rec = np.zeros((rows, cols), dtype=[("pad", "u1"), ("x", c.dtype)])
    rec["x"] = c
    out["record field"] = rec["x"]
    # Unaligned: the data one byte into a buffer.
    raw = np.zeros(c.nbytes + 1, dtype=np.uint8)
    un = raw[1:].view(c.dtype).reshape(c.shape)
    un[...] = c
    out["unaligned"] = un
    for name, a in out.items():
        assert np.array_equal(a, c, equal_nan=True), name
    return out


def reference(name: str, c: np.ndarray) -> Any:
    """NumPy's answer for the whole array (axis=None), C order."""
    x = c.astype(np.float64) if c.dtype.kind == "f" else c.astype(object)
    flat = c.ravel()
    if name == "sum":
        return math.fsum(flat.tolist()) if c.dtype.kind == "f" else int(x.sum())
    if name == "mean":
        return math.fsum(flat.astype(np.float64).tolist()) / flat.size
    if name == "var":
        return float(np.var(flat.astype(np.float64)))
    if name == "std":
        return float(np.std(flat.astype(np.float64)))
    if name == "moments":
        f = flat.astype(np.float64)
        return (flat.size, float(f.mean()), float(((f - f.mean()) ** 2).sum()))
    return getattr(np, name)(flat).item()


def close(got: Any, want: Any) -> bool:
    if isinstance(want, tuple):
        return all(close(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(got == want)


def elements(dt: Any) -> st.SearchStrategy[Any]:
    if np.dtype(dt).kind == "i":
        return st.integers(-1000, 1000)
    return st.floats(-1e3, 1e3, width=np.dtype(dt).itemsize * 8)


matrices = st.one_of(
    *(
        hnp.arrays(
            dt, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=17), elements=elements(dt)
        )
        for dt in DTYPES
    )
)


@settings(max_examples=60, deadline=None)
@given(c=matrices, name=st.sampled_from(REDUCTIONS))
def test_axis_none_matches_numpy_in_every_layout(c: np.ndarray, name: str) -> None:
    """The whole-array reduction of 2-D input is NumPy's, and identical in every layout."""
    want = reference(name, c)
    got = call(name, c)
    assert close(got, want), (name, got, want)
    for layout, a in layouts(c).items():
        assert call(name, a) == got or (name != "moments" and math.isnan(got)), layout


@pytest.mark.parametrize("name", REDUCTIONS)
def test_axis_none_is_the_c_order_reduction(name: str) -> None:
    """argmin/argmax give NumPy's flat C-order index, also of a Fortran or strided array."""
    rng = np.random.default_rng(7)
    c = rng.integers(0, 5, size=(37, 29)).astype(np.float64)
    for layout, a in layouts(c).items():
        got = call(name, a)
        if name in ("argmin", "argmax", "min", "max"):
            assert got == getattr(np, name)(a), layout
        else:
            assert close(got, reference(name, c)), layout


@pytest.mark.parametrize("name", REDUCTIONS)
def test_threads_give_the_same_bits(name: str) -> None:
    rng = np.random.default_rng(3)
    c = rng.standard_normal((700, 1500))
    for a in (c, np.asfortranarray(c), c[:, ::2]):
        results = {repr(call(name, a, threads=t)) for t in THREADS}
        assert len(results) == 1, results


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dtype", [">f8", ">i4", ">f4"])
def test_non_native_byte_order_is_refused(name: str, dtype: str) -> None:
    a = np.zeros((3, 4), dtype=dtype)
    if a.dtype.isnative:
        pytest.skip("native on this machine")
    with pytest.raises(TypeError, match=r"non-native byte order.*newbyteorder\('='\)"):
        call(name, a)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_masked_and_bad_dtypes_are_refused(name: str) -> None:
    with pytest.raises(TypeError, match="masked array"):
        call(name, np.ma.masked_array(np.zeros((2, 2)), mask=np.array([[0, 1], [0, 0]], dtype=bool)))
    with pytest.raises(TypeError, match=r"^a has dtype complex128"):
        call(name, np.zeros((2, 2), dtype=np.complex128))


@pytest.mark.parametrize("name", ["min", "max", "argmin", "argmax"])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_2d_extremes_raise(name: str, shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="empty"):
        call(name, np.zeros(shape))


def test_empty_2d_sum_and_mean() -> None:
    assert gilfree.sum(np.zeros((0, 3))) == 0.0
    assert gilfree.sum(np.zeros((3, 0), dtype=np.int64)) == 0
    assert math.isnan(gilfree.mean(np.zeros((0, 3))))


@pytest.mark.parametrize("name", REDUCTIONS)
def test_executor_task_form_takes_2d(name: str) -> None:
    c = np.arange(24, dtype=np.float64).reshape(4, 6)
    with gilfree.Executor() as ex:
        got = ex.submit(getattr(gilfree, name), np.asfortranarray(c)).result()
    assert close(got, reference(name, c))


# ---------------------------------------------------------------------------------------------
# axis=0 / axis=1 and the dtypes NumPy users pass

ALL_DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
]
AXES = [0, 1, -1, -2]


def values(dtype: str, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Values of ``dtype`` whose sums stay in range, with NaN and ties for floats."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(int(info.min), -(2**40)), min(int(info.max), 2**40)
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)
    return (rng.integers(-50, 50, size=shape) / 4).astype(dt)


def numpy_axis(name: str, c: np.ndarray, axis: int, ddof: int = 0) -> Any:
    """NumPy's answer (values computed in float64 for the float statistics), in NumPy's dtype."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in ("min", "max", "argmin", "argmax"):
            return getattr(np, name)(c, axis=axis)
        f = c.astype(np.float64)
        if name == "sum":
            want_dtype = np.sum(c, axis=axis).dtype
            if c.dtype.kind in "biu":
                return np.array([int(x) for x in c.astype(object).sum(axis=axis).ravel()], dtype=want_dtype)
            return np.sum(f, axis=axis).astype(want_dtype)
        if name == "moments":
            m = f.mean(axis=axis)
            return (c.shape[axis], m, ((f - np.expand_dims(m, axis)) ** 2).sum(axis=axis))
        want_dtype = getattr(np, name)(c, axis=axis).dtype
        kw = {"ddof": ddof} if name in ("var", "std") else {}
        return getattr(np, name)(f, axis=axis, **kw).astype(want_dtype)


def assert_matches(got: Any, want: Any, c: np.ndarray, name: str) -> None:
    if isinstance(want, tuple):
        assert got[0] == want[0]
        for g, w in zip(got[1:], want[1:], strict=True):
            assert_matches(g, w, c, "mean")
        return
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    assert got.shape == want.shape
    if want.dtype.kind in "biu" or name in ("min", "max"):
        np.testing.assert_array_equal(got, want)
    else:
        rtol = {2: 2e-3, 4: 2e-6, 8: 1e-10}[want.dtype.itemsize]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_axis_matches_numpy_for_every_dtype_and_layout(dtype: str, name: str) -> None:
    """NumPy's values and result dtype along each axis, in every layout."""
    c = values(dtype, (23, 37), seed=len(name))
    if np.dtype(dtype).kind == "f":
        c[3, 5] = np.nan
        c[10, :] = np.nan if name not in ("var", "std", "moments") else c[10, :]
    for axis in AXES:
        want = numpy_axis(name, c, axis)
        for layout, a in layouts(c).items():
            got = call(name, a, axis=axis)
            try:
                assert_matches(got, want, c, name)
            except AssertionError as e:
                raise AssertionError(f"{name} {dtype} axis={axis} {layout}") from e


@settings(max_examples=40, deadline=None)
@given(
    c=st.sampled_from(ALL_DTYPES).flatmap(
        lambda dt: hnp.arrays(
            dt,
            hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
            elements=hnp.from_dtype(np.dtype(dt), allow_nan=False, allow_infinity=False)
            if dt == "bool" or dt.startswith("float")
            else st.integers(-100, 100).map(lambda x: max(x, 0) if dt.startswith("u") else x),
        )
    ),
    name=st.sampled_from(["sum", "min", "max", "argmin", "argmax", "mean"]),
    axis=st.sampled_from(AXES),
    order=st.sampled_from(["C", "F", "strided"]),
)
def test_axis_hypothesis(c: np.ndarray, name: str, axis: int, order: str) -> None:
    if c.dtype.kind == "f" and name in ("sum", "mean"):
        c = np.clip(c, -1e3, 1e3).astype(c.dtype)
    a = layouts(c)[order]
    assert_matches(call(name, a, axis=axis), numpy_axis(name, c, axis), c, name)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_1d_and_axis_none_take_every_dtype(dtype: str, name: str) -> None:
    """1-D arrays (and axis=None) of every dtype give NumPy's value as a Python scalar."""
    c = values(dtype, (5, 7), seed=1)
    for a in (c.ravel(), c, np.asfortranarray(c)):
        got = call(name, a)
        flat = c.ravel()
        if name in ("min", "max", "argmin", "argmax"):
            assert got == getattr(np, name)(flat).item()
            assert type(got) is type(getattr(np, name)(flat).item())
        elif name == "sum" and c.dtype.kind in "biu":
            assert got == sum(int(x) for x in flat)
            assert type(got) is int
        elif name == "moments":
            assert got[0] == flat.size
        else:
            want = float(getattr(np, name)(flat.astype(np.float64)))
            assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
        for k in (0, -1):
            assert repr(call(name, c.ravel(), axis=k)) == repr(call(name, c.ravel()))


@pytest.mark.parametrize("ddof", [0, 1, 5, 23, 40])
@pytest.mark.parametrize("name", ["var", "std"])
def test_axis_ddof(ddof: int, name: str) -> None:
    c = values("float64", (23, 37), seed=4)
    c[:, 0] = 2.5  # an all-equal column: nan when n - ddof <= 0
    c[0, :] = 2.5
    for axis in (0, 1):
        want = numpy_axis(name, c, axis, ddof=ddof)
        for layout, a in layouts(c).items():
            got = call(name, a, axis=axis, ddof=ddof)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=layout)


def test_var_axis_accurate_at_large_mean() -> None:
    """Mean 1e9, spread 1: the column/row variances stay accurate (the one-pass formula fails)."""
    rng = np.random.default_rng(5)
    c = 1e9 + rng.standard_normal((300, 200))
    for axis in (0, 1):
        want = np.var(c, axis=axis)
        for a in (c, np.asfortranarray(c)):
            np.testing.assert_allclose(gilfree.var(a, axis=axis), want, rtol=1e-8)


def test_integer_sums_are_exact_and_overflow_raises() -> None:
    big = np.full((3, 2), 2**62, dtype=np.int64)
    np.testing.assert_array_equal(gilfree.sum(big[:1], axis=0), [2**62, 2**62])
    with pytest.raises(OverflowError, match=r"^sum\(\): the sum 13835058055282163712 does not fit in int64"):
        gilfree.sum(big, axis=0)
    with pytest.raises(OverflowError, match="int64"):
        gilfree.sum(big.T, axis=1)
    # Partial sums beyond int64 that come back in range are exact.
    mixed = np.array([[2**62, 2**62, -(2**62), -(2**62) + 5]], dtype=np.int64)
    assert gilfree.sum(mixed) == 5
    np.testing.assert_array_equal(gilfree.sum(mixed, axis=1), [5])
    # uint64: exact over the whole unsigned range, OverflowError past it.
    u = np.array([[2**63, 2**63 - 1], [1, 0]], dtype=np.uint64)
    assert gilfree.sum(u[0]) == 2**64 - 1
    got = gilfree.sum(u, axis=1)
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, np.array([2**64 - 1, 1], dtype=np.uint64))
    np.testing.assert_array_equal(gilfree.sum(u, axis=0), np.array([2**63 + 1, 2**63 - 1], dtype=np.uint64))
    over = np.array([[2**63, 1], [2**63, 2]], dtype=np.uint64)
    with pytest.raises(OverflowError, match="does not fit in uint64"):
        gilfree.sum(over, axis=0)
    with pytest.raises(OverflowError, match="does not fit in uint64"):
        gilfree.sum(over)
    # Mean of integers never overflows.
    assert gilfree.mean(big) == 2.0**62
    np.testing.assert_array_equal(gilfree.mean(over, axis=0), [2.0**63, 1.5])


@pytest.mark.parametrize("name", REDUCTIONS)
def test_axis_errors(name: str) -> None:
    a = np.zeros((3, 4))
    for bad in (2, -3, 5):
        with pytest.raises(
            np.exceptions.AxisError, match=f"axis {bad} is out of bounds for array of dimension 2"
        ):
            call(name, a, axis=bad)
    with pytest.raises(np.exceptions.AxisError, match="dimension 1"):
        call(name, np.zeros(3), axis=1)
    with pytest.raises(TypeError, match=r"^axis must be None or an int"):
        call(name, a, axis=1.5)
    with pytest.raises(TypeError, match=r"^axis must be None or an int"):
        call(name, a, axis=(0, 1))
    with pytest.raises(ValueError, match=r"^a must be 1-D or 2-D"):
        call(name, np.zeros((2, 2, 2)), axis=0)


@pytest.mark.parametrize("name", ["min", "max", "argmin", "argmax"])
def test_empty_axes(name: str) -> None:
    """NumPy's rules: reducing an empty axis has no value; no results is fine."""
    with pytest.raises(ValueError, match="empty"):
        call(name, np.zeros((0, 3)), axis=0)
    with pytest.raises(ValueError, match="empty"):
        call(name, np.zeros((3, 0)), axis=1)
    got = call(name, np.zeros((0, 3)), axis=1)
    assert got.shape == (0,)
    assert got.dtype == getattr(np, name)(np.zeros((0, 3)), axis=1).dtype


def test_empty_axes_of_sums_and_means() -> None:
    got = gilfree.sum(np.zeros((0, 3), dtype=np.int32), axis=0)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [0, 0, 0])
    assert np.isnan(gilfree.mean(np.zeros((0, 3)), axis=0)).all()
    assert np.isnan(gilfree.var(np.zeros((0, 3)), axis=0)).all()
    assert gilfree.sum(np.zeros((3, 0)), axis=0).shape == (0,)


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 2 * 65_536 + 5), (3 * 65_536 + 7, 3), (600, 1100)])
def test_axis_same_bits_at_every_thread_count(name: str, shape: tuple[int, int]) -> None:
    """Long rows (the parallel 1-D kernel per row), tall thin and square arrays."""
    c = np.random.default_rng(11).standard_normal(shape)
    for a in (c, np.asfortranarray(c)):
        for axis in (0, 1):
            results = [call(name, a, axis=axis, threads=t) for t in THREADS]
            for r in results[1:]:
                if isinstance(r, tuple):
                    assert r[0] == results[0][0]
                    assert all(x.tobytes() == y.tobytes() for x, y in zip(r[1:], results[0][1:], strict=True))
                else:
                    assert r.tobytes() == results[0].tobytes()
            want = numpy_axis(name, c, axis)
            assert_matches(results[0], want, c, name)


def test_rows_are_the_1d_reduction() -> None:
    """sum(a, axis=1)[i] has the bits of sum(a[i]) (the same chunks, the same combining)."""
    c = np.random.default_rng(2).standard_normal((4, 3 * 65_536 + 11))
    got = gilfree.sum(c, axis=1)
    assert [float(x) for x in got] == [gilfree.sum(row) for row in c]
    assert [float(x) for x in gilfree.var(c, axis=1)] == [gilfree.var(row) for row in c]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_executor_task_form_takes_axis(name: str) -> None:
    c = values("float64", (30, 20), seed=8)
    with gilfree.Executor() as ex:
        futures = [ex.submit(getattr(gilfree, name), np.asfortranarray(c), axis=k) for k in (0, 1)]
        for k, f in zip((0, 1), futures, strict=True):
            assert_matches(f.result(), numpy_axis(name, c, k), c, name)


@posix_only
@pytest.mark.parametrize("axis", [0, 1])
def test_ctrl_c(axis: int) -> None:
    child = interrupt_call(
        f"for _ in range(10**6): gilfree.var(a, axis={axis}); gilfree.max(a[:, ::2], axis={axis})",
        setup="a = np.random.default_rng(0).standard_normal((2000, 2000))",
    )
    check_after(child, "var")
