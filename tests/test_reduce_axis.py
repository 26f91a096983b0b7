"""2-D input to the reductions: every layout read right (the 2-D input layer, src/array.rs).

References are NumPy's answers on a C-contiguous copy (``np.ascontiguousarray``), never gilfree
itself, except for the property that *is* a comparison of gilfree with itself: the same bits for
every layout of the same values, and for every thread count.
"""

from __future__ import annotations

import math
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree

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
        call(name, np.ma.masked_array(np.zeros((2, 2)), mask=[[0, 1], [0, 0]]))
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
