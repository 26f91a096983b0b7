"""Property/fuzz suite (issue 9): random arrays and random arguments against every public entry
point. Each outcome must be the right answer or a documented exception; a silently wrong answer,
an undocumented exception, a crash or a hang fails.

* Arrays: every dtype (bool, int8..int64, uint8..uint64, float16/32/64, complex, object), both byte
  orders, and every layout NumPy can make: contiguous, sliced with any step, offset, unaligned,
  a field of a packed record (byte stride not a multiple of the item size), ``as_strided`` with any
  byte stride (negative, zero, overlapping), broadcast; as ndarrays, ndarray subclasses, masked
  arrays, memoryviews, array.array and bytearray. Each goes through the eight reductions
  (threads 1, 2, None), their ``gilfree.Executor`` forms and ``Accumulator.add_many``.

  The oracle: native bool, int8-64, uint8-64, float16/32/64 must give NumPy's answer (exact for ints and for
  min/max/argmin/argmax; floats within the pairwise-summation error bound; NaN rules as NumPy),
  bit for bit the answer for the contiguous copy (results do not depend on layout or thread
  count), and the Executor form the direct call's bits. Other dtypes are a TypeError; non-native
  byte order is a TypeError or the right answer; masked arrays are refused (their mask would be
  ignored); 2-D input is reduced over every element (C order); 0-D is a ValueError.
  (Accumulator.add_many: float32/float64/int32/int64, 1-D only.)

* Arguments: values of every type (None, bools, np.bool_, small/huge/negative ints, NumPy
  integers, floats with nan and inf, strings, lists, objects, complex, Fraction, Decimal) for every
  argument of every public function, constructor and method. Each call returns a result of the
  documented type or raises TypeError, ValueError, OverflowError or MemoryError whose message
  names the argument. A bool (Python or NumPy) is never a number. The Executor form of a kernel
  call has the direct call's outcome. Work sizes are capped in-process so every call is quick;
  the sizes that would allocate GiBs run in child processes under RLIMIT_AS with a timeout.

pytest runs with faulthandler enabled, so a crash in-process prints the Python stack of the case;
every risky case (huge allocations) runs in a child process with a timeout and its own
faulthandler, so a crash or a hang is attributed to it. Example counts scale with the Hypothesis
profile (``ci`` is derandomized: every CI run tests the same inputs).
"""

from __future__ import annotations

import array
import decimal
import math
import operator
import os
import re
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import Accumulator, AtomicFloat, AtomicInt

pytestmark = pytest.mark.timeout(300)

REDUCTIONS = ["sum", "mean", "var", "std", "min", "max", "argmin", "argmax"]
EXTREMES = {"min", "max", "argmin", "argmax"}
THREADS = [1, 2, None]
DOCUMENTED = (TypeError, ValueError, OverflowError, MemoryError)
# kind + itemsize of the reductions' dtypes
SUPPORTED = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"}
ACC_SUPPORTED = {"i4", "i8", "f4", "f8"}  # Accumulator.add_many's
ALL_DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16", "O"]
CHUNK = gilfree.info()["reduce_chunk_len"]
GRAIN = 12  # chunks per worker in the "many chunks" sizes (the pool really used)
EPS = sys.float_info.epsilon
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def examples(factor: float) -> int:
    """``factor`` times the profile's example count (dev 60, ci 150), at least 5."""
    return max(5, int(settings.default.max_examples * factor))


FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


# ---------------------------------------------------------------------------------------------
# Outcomes


def bits(x: object) -> object:
    """A comparable, bit-exact form of a result: floats by their IEEE bytes, arrays by dtype,
    shape and bytes, tuples element-wise."""
    if isinstance(x, float):
        return ("float", struct.pack("<d", x).hex())
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, tuple):
        return tuple(bits(v) for v in x)
    return (type(x).__name__, x)


@dataclass(frozen=True)
class Raised:
    """An outcome that is an exception: its type name and message."""

    kind: str
    message: str

    def __repr__(self) -> str:
        return f"{self.kind}({self.message!r})"


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``'s result, or a :class:`Raised` for a documented exception. Anything else (a
    KernelError, a SystemError, a BufferError...) propagates and fails the test."""
    try:
        return fn(*args, **kwargs)
    except DOCUMENTED as exc:
        return Raised(type(exc).__name__, str(exc))


def submit_and_wait(executor: gilfree.Executor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The Executor form of ``fn(*args, **kwargs)``: its result, or what it raised (at submit or
    at result)."""
    return executor.submit(fn, *args, **kwargs).result(60)


def same_outcome(a: Any, b: Any) -> bool:
    if isinstance(a, Raised) or isinstance(b, Raised):
        return isinstance(a, Raised) and isinstance(b, Raised) and a.kind == b.kind
    return bits(a) == bits(b)


# ---------------------------------------------------------------------------------------------
# Random arrays


@dataclass
class Case:
    """One input and what must happen to it.

    ``obj``: what is passed. ``values``: a native, contiguous ndarray of its elements (NumPy's
    own reading of them). ``expect``: "ok" (a supported array), "ok_or_type_error" (non-native
    byte order of a supported dtype), "type_error" (unsupported dtype), "masked", "not_1d".
    """

    obj: Any
    values: np.ndarray | None
    expect: str
    label: str
    supported: bool = True  # a dtype the reductions take (a refusal may name the dtype first)
    acc_expect: str | None = None  # Accumulator.add_many's, when not ``expect`` (1-D only)

    def __repr__(self) -> str:
        return f"Case({self.label}, expect={self.expect}, values={self.values!r})"


def native(dt: np.dtype) -> np.dtype:
    return dt.newbyteorder("=") if dt.kind not in "O?" and dt.itemsize > 1 else dt


def random_values(rng: np.random.Generator, dt: np.dtype, n: int, mode: str) -> np.ndarray:
    """``n`` values for ``dt`` (native order). Modes: small, full (the whole range, or floats of
    every magnitude), special (with nan, inf, -0.0), equal, huge (floats near the overflow)."""
    kind = dt.kind
    if kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if kind in "iu":
        info = np.iinfo(dt)
        if mode == "equal":
            return np.full(n, rng.integers(info.min, info.max, endpoint=True, dtype=native(dt)), dtype=dt)
        if mode in ("small", "special"):
            return rng.integers(max(info.min, -100), 100, n, endpoint=True).astype(dt)
        return rng.integers(info.min, info.max, n, endpoint=True, dtype=native(dt))
    if kind == "O":
        return np.array([float(v) for v in rng.integers(-50, 50, n)] or [], dtype=object)
    real_dt = np.dtype(f"f{dt.itemsize // 2}") if kind == "c" else dt
    limit = float(np.finfo(real_dt).max)
    if mode == "equal":
        x = np.full(n, rng.standard_normal() * 100)
    elif mode == "small":
        x = rng.integers(-1000, 1000, n).astype(np.float64) / 4
    elif mode == "huge":
        x = rng.uniform(-1, 1, n) * limit
    else:
        top = 30 if real_dt.itemsize >= 4 else 4
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-top, top + 1, n).astype(np.float64)
    if mode == "special" and n:
        where = rng.integers(0, n, max(1, n // 8))
        x[where] = rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.0], len(where))
    with np.errstate(over="ignore", invalid="ignore"):
        if kind == "c":
            return (x + 1j * x[::-1]).astype(dt)
        return x.astype(dt)


def empty_buffer(rng: np.random.Generator, nbytes: int) -> np.ndarray:
    return rng.integers(0, 256, max(nbytes, 1), dtype=np.uint8)


def make_layout(
    draw: Any, rng: np.random.Generator, vals: np.ndarray, dt: np.dtype
) -> tuple[np.ndarray, str]:
    """An ndarray of dtype ``dt`` (either byte order) holding (roughly) ``vals`` in a random
    layout. What it really holds is read back by NumPy, so overlapping layouts are fine."""
    n, item = len(vals), dt.itemsize
    layout = draw(
        st.sampled_from(
            ["contiguous", "step", "offset", "unaligned", "packed", "as_strided", "broadcast", "subarray"]
        ),
        label="layout",
    )
    if dt.kind == "O" and layout in ("unaligned", "as_strided", "packed"):
        layout = "step"  # object arrays hold pointers: no raw-byte layouts
    if layout == "contiguous":
        a = np.empty(n, dtype=dt)
        a[...] = vals
        return a, layout
    if layout == "step":
        k = draw(st.sampled_from([-4, -3, -2, -1, 2, 3, 4]), label="step")
        base = np.empty(max(n * abs(k), 1), dtype=dt)
        view = base[:: abs(k)][:n] if k > 0 else base[::-1][:: abs(k)][:n]
        view[...] = vals
        return view, f"step {k}"
    if layout == "offset":
        off = draw(st.integers(1, 5), label="offset")
        base = np.zeros(n + off + 2, dtype=dt)
        view = base[off : off + n]
        view[...] = vals
        return view, f"offset {off}"
    if layout == "unaligned":
        off = draw(st.integers(1, max(1, item - 1)), label="misalign")
        raw = empty_buffer(rng, n * item + off)
        view = raw[off : off + n * item].view(dt)
        view[...] = vals
        return view, f"unaligned +{off}"
    if layout == "packed":
        pad = draw(st.integers(1, 7), label="pad")
        rec = np.zeros(n, dtype=np.dtype([("tag", f"V{pad}"), ("v", dt)]))  # align=False
        rec["v"] = vals
        view = rec["v"]
        k = draw(st.sampled_from([1, -1, 2, -3]), label="record step")
        view = view[::k]
        return view, f"packed pad {pad} step {k}"
    if layout == "as_strided":
        stride = draw(st.integers(-3 * item - 3, 3 * item + 3), label="byte stride")
        raw = empty_buffer(rng, abs(stride) * max(n - 1, 0) + item + 8)
        start = 0 if stride >= 0 else abs(stride) * max(n - 1, 0)
        start += draw(st.integers(0, 7), label="start")
        view = np.lib.stride_tricks.as_strided(
            raw[start : start + item].view(dt), shape=(n,), strides=(stride,)
        )
        view[...] = vals  # overlapping or zero strides: the last write wins; NumPy reads it back
        return view, f"as_strided {stride}"
    if layout == "broadcast":
        one = np.empty(1, dtype=dt)
        one[...] = vals[:1] if n else 0
        return np.broadcast_to(one[0:1], (n,)), "broadcast"
    # "subarray": a column of a 2-D array, or a row of a Fortran-ordered one
    cols = draw(st.integers(2, 4), label="columns")
    base = np.zeros((n, cols), dtype=dt, order=draw(st.sampled_from(["C", "F"]), label="order"))
    j = draw(st.integers(0, cols - 1), label="column")
    base[:, j] = vals
    return base[:, j], f"column {j} of {cols}"


class Sub(np.ndarray):
    """An ndarray subclass that changes nothing."""


@st.composite
def cases(draw: Any, *, max_size: int = 300, dtypes: list[str] | None = None) -> Case:
    # Half the time one of the four supported dtypes, so that most cases compute something.
    supported_or_any = st.one_of(st.sampled_from(sorted(SUPPORTED)), st.sampled_from(ALL_DTYPES))
    dtype_code = draw(st.sampled_from(dtypes) if dtypes else supported_or_any, label="dtype")
    base_dt = np.dtype(dtype_code)
    order = draw(st.sampled_from(["<", "<", "<", ">"]), label="byte order") if base_dt.itemsize > 1 else "="
    dt = base_dt.newbyteorder(order) if base_dt.kind not in "O?" and base_dt.itemsize > 1 else base_dt
    n = draw(st.one_of(st.integers(0, 20), st.integers(0, max_size)), label="n")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    mode = draw(st.sampled_from(["small", "full", "special", "equal", "huge"]), label="mode")
    rng = np.random.default_rng(seed)
    vals = random_values(rng, base_dt, n, mode)
    view, label = make_layout(draw, rng, vals, dt)
    n = len(view)  # a record step may have taken every k-th element only
    with np.errstate(all="ignore"):
        values = np.ascontiguousarray(view).astype(native(dt))
    is_native = dt.isnative or dt.itemsize == 1 or dt.kind in "O?"
    code = f"{dt.kind}{dt.itemsize}"
    if code not in SUPPORTED:
        expect = "type_error"
    elif not is_native:
        expect = "ok_or_type_error"
    else:
        expect = "ok"
    container = draw(
        st.sampled_from(["ndarray"] * 5 + ["subclass", "masked", "memoryview", "memoryview", "2-D", "0-D"]),
        label="container",
    )
    label = f"{dt.str} n={n} {mode} {label} {container}"
    supported = expect == "ok"
    if container == "subclass":
        return Case(view.view(Sub), values, expect, label)
    if container == "masked":
        mask = draw(st.sampled_from(["nomask", "random", "none set"]), label="mask")
        if mask == "nomask":
            obj = np.ma.array(view)
        else:
            m = rng.integers(0, 2, n).astype(bool) if mask == "random" else np.zeros(n, dtype=bool)
            obj = np.ma.array(view, mask=m)
        return Case(obj, values, "masked", label + f" {mask}", supported)
    if container == "memoryview":
        try:
            return Case(memoryview(view), values, expect, label)
        except (ValueError, TypeError, BufferError):  # object arrays cannot export a buffer
            return Case(view, values, expect, label + " (no buffer)")
    if container == "2-D":
        # The reductions take 2-D input (axis=None: every element in C order); add_many does not.
        both = np.concatenate([values, values])
        stacked = np.stack([view, view])  # NumPy may convert to native byte order here
        if stacked.dtype != view.dtype:
            expect = "ok" if code in SUPPORTED else "type_error"
        return Case(stacked, both, expect, label, supported, acc_expect="not_1d")
    if container == "0-D":
        zero_d = np.asarray(view[0]) if n else np.zeros((), dtype=dt)
        return Case(zero_d, values, "not_1d", label, supported and zero_d.dtype == values.dtype)
    return Case(view, values, expect, label)


# ---------------------------------------------------------------------------------------------
# The oracle for native, contiguous input of a supported dtype


def fsum_or_none(xs: list[float]) -> float | None:
    try:
        return math.fsum(xs)
    except OverflowError:
        return None


def check_float_sum(got: float, x: np.ndarray, *, divide: int = 1) -> None:
    """``got`` is the sum of ``x`` (float64) divided by ``divide``, with NumPy's NaN and inf rules
    and within the pairwise error bound, when that bound is meaningful."""
    assert type(got) is float
    has_nan = bool(np.isnan(x).any())
    pos, neg = bool((x == math.inf).any()), bool((x == -math.inf).any())
    finite = x[np.isfinite(x)]
    total_abs = fsum_or_none(np.abs(finite).tolist())
    tame = total_abs is not None and total_abs < 1e300
    if has_nan or (pos and neg):
        assert math.isnan(got), f"{got} should be nan"
        return
    if pos or neg:
        if tame:
            assert got == (math.inf if pos else -math.inf), got
        return
    if not tame:
        return  # partial sums may overflow: no reference value, but no crash either
    assert total_abs is not None
    exact = math.fsum(x.tolist())
    n = len(x)
    bound = ((math.log2(n) if n else 0) + 16) * EPS * total_abs + EPS * abs(exact)
    assert abs(got * divide - exact) <= bound + EPS * abs(got * divide), (got, exact / divide)


NOT_FINITE = -1.0  # a marker: inf or nan both acceptable (compared by identity)


def expected_var(x: np.ndarray, ddof: int) -> float | None:
    """The variance of ``x`` (float64) as NumPy defines it, or None where no accurate reference
    is cheap (partial sums near overflow)."""
    n = len(x)
    if not np.isfinite(x).all():
        return math.nan
    if n - ddof <= 0:
        # NumPy's rule: sum((x - mean)**2) / max(n - ddof, 0): 0/0 = nan (empty, or every value
        # equal), else inf. (np.var itself overflows to inf on equal values near 1e308.)
        if n == 0 or bool((x == x[0]).all()):
            return math.nan
        # inf; near the overflow threshold the squared deviations themselves overflow (inf - inf
        # in a merge gives nan), so there only "not a finite number" is checked.
        return math.inf if float(np.max(np.abs(x))) <= 1e150 else NOT_FINITE
    if n == 0:
        return 0.0  # an empty sum over a positive n - ddof, as np.var(empty, ddof=-1)
    if float(np.max(np.abs(x))) > 1e150:
        return None
    mean = math.fsum(x.tolist()) / n
    d = x - mean
    return (math.fsum((d * d).tolist()) - math.fsum(d.tolist()) ** 2 / n) / (n - ddof)


def check_var(got: float, x: np.ndarray, ddof: int, name: str) -> None:
    assert type(got) is float
    want = expected_var(x, ddof)
    if want is None:
        return
    if want is NOT_FINITE:
        assert not math.isfinite(got), got
        return
    if name == "std":
        want = math.sqrt(want) if want >= 0 or math.isnan(want) else math.nan
    if math.isnan(want):
        assert math.isnan(got), (got, want)
        return
    if math.isinf(want) or want == 0.0:
        assert got == want, (got, want)
        return
    n = len(x)
    mean_error = (math.log2(n) + 16) * EPS * float(np.max(np.abs(x)))
    slack = n / (n - ddof) * (mean_error**2 + 1e-300)
    if name == "std":
        slack = math.sqrt(slack)
    assert abs(got - want) <= 1e-9 * abs(want) + 4 * slack, (got, want)


def check_against_numpy(name: str, x: np.ndarray, got: Any, ddof: int) -> None:
    """``got`` (an outcome of gilfree.<name> on native contiguous ``x``) is NumPy's answer."""
    n = len(x)
    if name in EXTREMES and n == 0:
        assert isinstance(got, Raised), got
        assert got.kind == "ValueError", got
        assert "empty" in got.message, got
        return
    is_int = x.dtype.kind in "biu"
    if name == "sum" and is_int:
        exact = sum(int(v) for v in x.tolist())
        lo, hi = (0, 2**64 - 1) if x.dtype.kind == "u" else (INT64_MIN, INT64_MAX)
        if lo <= exact <= hi:
            assert type(got) is int, got
            assert got == exact
        else:
            assert isinstance(got, Raised), got
            assert got.kind == "OverflowError", got
        return
    assert not isinstance(got, Raised), f"{name} raised {got}"
    x64 = x.astype(np.float64)
    if name == "sum":
        check_float_sum(got, x64)
    elif name == "mean":
        assert type(got) is float
        if n == 0:
            assert math.isnan(got)
        elif is_int:
            assert math.isclose(got, sum(x.tolist()) / n, rel_tol=1e-15), got
        else:
            check_float_sum(got, x64, divide=n)
    elif name in ("var", "std"):
        check_var(got, x64 if not is_int else np.array(x.tolist(), dtype=np.float64), ddof, name)
    elif name in ("min", "max"):
        want = getattr(np, name)(x).item()
        assert type(got) is type(want), (got, want)
        assert got == want or (math.isnan(got) and math.isnan(want)), (got, want)
    else:
        assert type(got) is int
        assert got == int(getattr(np, name)(x)), (got, getattr(np, name)(x))


def kwargs_for(name: str, ddof: int, threads: int | None) -> dict[str, Any]:
    return {"ddof": ddof, "threads": threads} if name in ("var", "std") else {"threads": threads}


def check_refusal(case: Case, got: Any, what: str, expect: str | None = None) -> None:
    """The outcome of a refused input: the right exception, with a message that helps."""
    expect = expect or case.expect
    assert isinstance(got, Raised), f"{what}: accepted {case!r} -> {got!r}"
    if expect in ("masked", "not_1d") and not case.supported and got.kind == "TypeError":
        return  # which refusal comes first, the dtype's or the shape's, is not specified
    if expect == "masked":
        assert got.kind in ("TypeError", "ValueError"), got
        assert "mask" in got.message.lower(), f"{what}: the message should say what to do: {got}"
    elif expect == "not_1d":
        assert got.kind == "ValueError", got
        assert "1-D" in got.message, got
    else:
        assert got.kind == "TypeError", got
        assert "dtype" in got.message or "buffer" in got.message, got


def run_reductions(case: Case, ddof: int, executor: gilfree.Executor) -> None:
    values = case.values
    assert values is not None
    for name in REDUCTIONS:
        fn = getattr(gilfree, name)
        direct = {t: attempt(fn, case.obj, **kwargs_for(name, ddof, t)) for t in THREADS}
        what = f"gilfree.{name}(ddof={ddof})" if name in ("var", "std") else f"gilfree.{name}"
        # The Executor form has the direct call's outcome (threads=None and 1 only).
        for t in (None, 1):
            via = attempt(submit_and_wait, executor, fn, case.obj, **kwargs_for(name, ddof, t))
            assert same_outcome(via, direct[t]), f"{what} Executor form: {via!r} != direct {direct[t]!r}"
        if case.expect in ("masked", "not_1d", "type_error"):
            for t in THREADS:
                check_refusal(case, direct[t], what)
            continue
        if case.expect == "ok_or_type_error" and all(isinstance(o, Raised) for o in direct.values()):
            for t in THREADS:
                assert direct[t].kind == "TypeError", direct[t]
                assert "byte order" in direct[t].message, direct[t]
            continue
        # Same bits for every thread count and for the contiguous native copy.
        reference = attempt(fn, values, **kwargs_for(name, ddof, 1))
        for t in THREADS:
            assert same_outcome(direct[t], reference), (
                f"{what}(threads={t}) on {case.label}: {direct[t]!r}, on the contiguous copy {reference!r}"
            )
        with np.errstate(all="ignore"):  # signalling NaNs from raw bytes warn when widened
            check_against_numpy(name, values, reference, ddof)


def accumulate(kind: type, obj: Any, threads: int | None) -> Any:
    acc = Accumulator(kind)
    outcome = attempt(acc.add_many, obj, threads=threads)
    if isinstance(outcome, Raised):
        assert acc.count() == 0, "a refused add_many added something"
        return outcome
    return tuple(attempt(getattr(acc, stat)) for stat in ("count", "sum", "mean", "var", "min", "max"))


def run_accumulator(case: Case, threads: int | None) -> None:
    values = case.values
    assert values is not None
    for kind in (float, int):
        got = accumulate(kind, case.obj, threads)
        expect = case.acc_expect or case.expect
        if expect in ("masked", "not_1d"):
            check_refusal(case, got, f"Accumulator({kind.__name__}).add_many", expect)
            continue
        if isinstance(got, Raised):
            # Refused: an unsupported dtype, a float array for an int accumulator, an item the
            # accumulator cannot take, or a non-native byte order.
            assert got.kind in ("TypeError", "OverflowError"), got
            code = f"{values.dtype.kind}{values.dtype.itemsize}"
            takes = code in ACC_SUPPORTED and (values.dtype.kind == "i" or kind is float)
            assert not (case.expect == "ok" and takes), f"add_many refused {case!r}: {got!r}"
            continue
        assert case.expect != "masked"
        # Accepted: the result is the list path's (no buffers, no strides involved).
        items = values.tolist()
        want = accumulate(kind, items, None)
        assert same_outcome(got[0], len(items))
        assert not isinstance(want, Raised), f"add_many accepted {case!r} but not its items: {want}"
        assert all(same_outcome(g, w) for g, w in zip(got, want, strict=True)), (got, want)
        if kind is int:
            assert got[1] == sum(items)
        elif values.dtype.kind == "f" and np.isfinite(values).all():
            exact = fsum_or_none([float(v) for v in items])
            if exact is not None:
                assert got[1] == exact, (got[1], exact)


# ---------------------------------------------------------------------------------------------
# Array properties


@settings(max_examples=examples(30.0), **FUZZ)
@given(case=cases(), ddof=st.integers(-2, 6))
def test_reductions_of_random_arrays(case: Case, ddof: int, executor: gilfree.Executor) -> None:
    run_reductions(case, ddof, executor)


@settings(max_examples=examples(15.0), **FUZZ)
@given(case=cases(), threads=st.sampled_from(THREADS))
def test_accumulator_add_many_of_random_arrays(case: Case, threads: int | None) -> None:
    run_accumulator(case, threads)


@settings(max_examples=examples(0.5), **FUZZ)
@given(
    case=cases(max_size=2 * GRAIN * CHUNK + 1000, dtypes=["f8", "i8", "f4", "i4"]),
    ddof=st.integers(0, 2),
)
def test_reductions_of_large_random_arrays(case: Case, ddof: int, executor: gilfree.Executor) -> None:
    """Up to 2 workers' grain of chunks: the parallel path, with every layout."""
    run_reductions(case, ddof, executor)


TYPECODES = ["b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "f", "d"]


@settings(max_examples=examples(6.0), **FUZZ)
@given(
    typecode=st.sampled_from(TYPECODES),
    n=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
    form=st.sampled_from(["array.array", "memoryview", "bytes", "bytearray", "cast step"]),
)
def test_buffer_protocol_objects(
    typecode: str, n: int, seed: int, form: str, executor: gilfree.Executor
) -> None:
    """array.array of every typecode, memoryviews of it (whole, read-only bytes, strided), and a
    plain bytearray (uint8): the buffer's format decides the dtype."""
    dt = np.dtype(typecode)
    rng = np.random.default_rng(seed)
    values = random_values(rng, dt, n, "full" if dt.kind in "iu" else "small")
    buf = array.array(typecode, values.tolist())
    if form == "array.array":
        obj: Any = buf
    elif form == "memoryview":
        obj = memoryview(buf)
    elif form == "bytes":
        obj = memoryview(buf.tobytes()).cast(typecode)
    elif form == "bytearray":
        obj = bytearray(buf.tobytes())
        values = np.frombuffer(bytes(obj), dtype=np.uint8)
        dt = values.dtype
    else:
        obj = memoryview(array.array(typecode, np.repeat(values, 2).tolist()))[::2]
    code = f"{dt.kind}{dt.itemsize}"
    case = Case(
        obj, values.astype(native(dt)), "ok" if code in SUPPORTED else "type_error", f"{form} {typecode}"
    )
    run_reductions(case, 1, executor)


# ---------------------------------------------------------------------------------------------
# Random arguments

BOOLS = (bool, np.bool_)


class Weird:
    """An object with no numeric protocol at all."""

    def __repr__(self) -> str:
        return "Weird()"


class HasIndex:
    """An int-like (``__index__``) that is not an int."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v

    def __repr__(self) -> str:
        return f"HasIndex({self.v})"


NP_INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]

any_value: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([np.bool_(True), np.bool_(False)]),
    st.integers(-3, 40),
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**31, 2**32, 2**53 + 1, INT64_MAX, 2**63, INT64_MIN, INT64_MIN - 1, 2**64 - 1, 2**64]),
    st.builds(lambda t, v: t(v % 100), st.sampled_from(NP_INTS), st.integers(0, 10**6)),
    st.sampled_from([np.uint64(2**64 - 1), np.int64(INT64_MIN), np.int64(-1)]),
    st.builds(HasIndex, st.integers(-3, 40)),
    st.floats(),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300, -1e300, 5e-324, math.nan, math.inf, -math.inf]),
    st.builds(np.float64, st.floats(-10, 10)),
    st.builds(np.float32, st.floats(-10, 10, width=32)),
    st.text(max_size=3),
    st.sampled_from(["1", "2.5", "float", "int"]),
    st.lists(st.integers(0, 3), max_size=3),
    st.just(b"12"),
    st.builds(Weird),
    st.builds(complex, st.floats(-2, 2), st.floats(-2, 2)),
    st.builds(Fraction, st.integers(-5, 5), st.integers(1, 4)),
    st.builds(decimal.Decimal, st.sampled_from(["1.5", "-2", "NaN"])),
)


def as_int(v: Any) -> int | None:
    """``v`` as an int if it is int-like (``__index__``) and not a bool; else None."""
    if isinstance(v, BOOLS):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


def tame(v: Any, cap: int, upto: int) -> Any:
    """An int-like ``v`` with ``cap < v <= upto`` (valid but expensive) becomes ``v % (cap + 1)``,
    so in-process calls stay quick; every other value is left alone."""
    i = as_int(v)
    if i is not None and cap < i <= upto:
        return i % (cap + 1)
    return v


@dataclass(frozen=True)
class Arg:
    """An argument: its valid default, the words an error about it may use, whether it takes a
    number (then a bool is refused) and an int only (then a float is refused), and the range
    of valid-but-expensive values to tame."""

    default: Any
    words: tuple[str, ...] = ()
    numeric: bool = True
    int_only: bool = True
    cap: int = 0
    upto: int = -1


THREADS_ARG = Arg(None, ("threads",))
SIZE_WORDS = ("image", "pixels")


@dataclass(frozen=True)
class Api:
    """A public callable: how to call it with keyword arguments, its arguments, and a check of a
    successful result."""

    call: Callable[..., Any]
    args: dict[str, Arg]
    check: Callable[[Any, dict[str, Any]], None]
    kernel: Any = None  # for the Executor form: the gilfree function and its positional args
    positional: tuple[str, ...] = ()


def is_uint16_image(r: Any, kw: dict[str, Any]) -> None:
    assert isinstance(r, np.ndarray)
    assert r.dtype == np.uint16
    assert r.shape == (operator.index(kw["height"]), operator.index(kw["width"]))


def is_int(r: Any, kw: dict[str, Any]) -> None:
    assert type(r) is int


def is_float(r: Any, kw: dict[str, Any]) -> None:
    assert type(r) is float


def is_pi_estimate(r: Any, kw: dict[str, Any]) -> None:
    assert type(r) is float
    assert 0.0 <= r <= 4.0


def is_primes(r: Any, kw: dict[str, Any]) -> None:
    assert isinstance(r, np.ndarray)
    assert r.dtype == np.uint64
    assert r.ndim == 1


def is_pair(r: Any, kw: dict[str, Any]) -> None:
    assert isinstance(r, tuple)
    assert len(r) == 2


def is_none(r: Any, kw: dict[str, Any]) -> None:
    assert r is None


def reduction_api(name: str) -> Api:
    args = {"a": Arg(np.arange(7.0), ("a",), numeric=False)}
    if name in ("var", "std"):
        args["ddof"] = Arg(0, ("ddof",))
    args["axis"] = Arg(None, ("axis",))
    args["threads"] = THREADS_ARG
    fn = getattr(gilfree, name)
    return Api(
        lambda **kw: fn(kw.pop("a"), **kw),
        args,
        is_int if name in ("argmin", "argmax") else lambda r, kw: None,
        kernel=fn,
        positional=("a",),
    )


WINDOW = {"xmin": -2.0, "xmax": 1.0, "ymin": -1.5, "ymax": 1.5}

APIS: dict[str, Api] = {
    **{name: reduction_api(name) for name in REDUCTIONS},
    "mandelbrot": Api(
        lambda **kw: gilfree.mandelbrot(kw.pop("width"), kw.pop("height"), **kw),
        {
            "width": Arg(8, ("width", *SIZE_WORDS), cap=40, upto=2**33),
            "height": Arg(6, ("height", *SIZE_WORDS), cap=40, upto=2**33),
            "max_iter": Arg(50, ("max_iter",), cap=300, upto=65535),
            **{k: Arg(v, (k, "window"), int_only=False) for k, v in WINDOW.items()},
            "threads": THREADS_ARG,
        },
        is_uint16_image,
        kernel=gilfree.mandelbrot,
        positional=("width", "height"),
    ),
    "count_primes": Api(
        lambda **kw: gilfree.count_primes(kw.pop("n"), **kw),
        {"n": Arg(100, ("n",), cap=10**6, upto=10**15), "threads": THREADS_ARG},
        is_int,
        kernel=gilfree.count_primes,
        positional=("n",),
    ),
    "primes": Api(
        lambda **kw: gilfree.primes(kw.pop("n"), **kw),
        {"n": Arg(100, ("n",), cap=10**5, upto=10**15), "threads": THREADS_ARG},
        is_primes,
        kernel=gilfree.primes,
        positional=("n",),
    ),
    "monte_carlo_pi": Api(
        lambda **kw: gilfree.monte_carlo_pi(kw.pop("samples"), **kw),
        {
            "samples": Arg(1000, ("samples",), cap=10**5, upto=2**64 - 1),
            "seed": Arg(0, ("seed",)),
            "threads": THREADS_ARG,
        },
        is_pi_estimate,
        kernel=gilfree.monte_carlo_pi,
        positional=("samples",),
    ),
    "spectral_norm": Api(
        lambda **kw: gilfree.spectral_norm(kw.pop("n"), **kw),
        {"n": Arg(10, ("n",), cap=100, upto=2**25), "threads": THREADS_ARG},
        is_float,
        kernel=gilfree.spectral_norm,
        positional=("n",),
    ),
    "fannkuch_redux": Api(
        lambda **kw: gilfree.fannkuch_redux(kw.pop("n"), **kw),
        {"n": Arg(5, ("n",), cap=8, upto=12), "threads": THREADS_ARG},
        is_pair,
        kernel=gilfree.fannkuch_redux,
        positional=("n",),
    ),
    "nbody": Api(
        lambda **kw: gilfree.nbody(kw.pop("steps")),
        {"steps": Arg(10, ("steps",), cap=2000, upto=2**64 - 1)},
        is_pair,
        kernel=gilfree.nbody,
        positional=("steps",),
    ),
}


def draw_call(data: st.DataObject, api: Api) -> tuple[dict[str, Any], set[str]]:
    """Keyword arguments: each argument's default, or (for 1-3 of them) a random value."""
    names = list(api.args)
    chosen = data.draw(st.sets(st.sampled_from(names), min_size=1, max_size=min(3, len(names))), label="args")
    kw: dict[str, Any] = {}
    for name, arg in api.args.items():
        if name in chosen:
            v = data.draw(any_value, label=name)
            kw[name] = tame(v, arg.cap, arg.upto)
        else:
            kw[name] = arg.default
    return kw, set(chosen)


def names(word: str, message: str) -> bool:
    """``word`` appears in ``message`` as a word (not inside another identifier)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", message) is not None


def check_argument_outcome(api: Api, kw: dict[str, Any], chosen: set[str], outcome: Any, what: str) -> None:
    """A result that passes the API's check, or a documented exception naming an argument that
    was given a random value. Bools are never numbers; floats are never ints."""
    refused_by_rule = [
        name
        for name in chosen
        if api.args[name].numeric
        and (
            isinstance(kw[name], BOOLS)
            or (api.args[name].int_only and isinstance(kw[name], (float, np.floating)))
        )
    ]
    if not isinstance(outcome, Raised):
        assert not refused_by_rule, f"{what}: {', '.join(refused_by_rule)} accepted {kw!r}"
        api.check(outcome, kw)
        return
    words = {w for name in chosen for w in (name, *api.args[name].words)}
    assert any(names(w, outcome.message) for w in words), (
        f"{what}: {outcome!r} names none of {sorted(chosen)}"
    )
    if refused_by_rule and len(chosen) == 1:
        assert outcome.kind == "TypeError", f"{what}: {outcome!r}"


@pytest.mark.parametrize("name", list(APIS))
@settings(max_examples=examples(8.0), **FUZZ)
@given(data=st.data())
def test_kernels_with_random_arguments(name: str, data: st.DataObject, executor: gilfree.Executor) -> None:
    api = APIS[name]
    kw, chosen = draw_call(data, api)
    what = f"{name}({', '.join(f'{k}={kw[k]!r}' for k in sorted(chosen))})"
    direct = attempt(api.call, **kw)
    check_argument_outcome(api, kw, chosen, direct, what)
    # The Executor form: the same outcome, except that it runs each task on one worker and says
    # so (ValueError naming threads) for threads other than None and 1.
    pos = [kw[p] for p in api.positional]
    rest = {k: v for k, v in kw.items() if k not in api.positional}
    via = attempt(submit_and_wait, executor, api.kernel, *pos, **rest)
    one_worker = isinstance(via, Raised) and "not available in gilfree.Executor" in via.message
    if one_worker and as_int(kw.get("threads")) not in (None, 1):
        assert via.kind == "ValueError", via
        assert names("threads", via.message), via
        return
    assert same_outcome(via, direct), f"{what}: Executor form {via!r}, direct {direct!r}"


@settings(max_examples=examples(2.0), **FUZZ)
@given(n=any_value)
def test_set_num_threads_with_random_arguments(n: Any) -> None:
    before = gilfree.get_num_threads()
    n = tame(n, 4, 1024)
    try:
        outcome = attempt(gilfree.set_num_threads, n)
        api = Api(gilfree.set_num_threads, {"n": Arg(2, ("n", "set_num_threads"))}, is_none)
        check_argument_outcome(api, {"n": n}, {"n"}, outcome, f"set_num_threads({n!r})")
        if n is None:  # back to the environment's size
            assert not isinstance(outcome, Raised), outcome
            assert gilfree.info()["threads_source"] != "set_num_threads()"
        elif not isinstance(outcome, Raised):
            assert gilfree.get_num_threads() == as_int(n)
        else:
            assert gilfree.get_num_threads() == before
        assert gilfree.sum(np.arange(10.0)) == 45.0
    finally:
        gilfree.set_num_threads(before)


@settings(max_examples=examples(0.3), **FUZZ)
@given(args=st.lists(any_value, min_size=1, max_size=2))
def test_functions_without_arguments_refuse_them(args: list[Any]) -> None:
    for fn in (gilfree.get_num_threads, gilfree.info, gilfree.interrupt):
        with pytest.raises(TypeError):
            fn(*args)


# --- the atomics and the Accumulator ---------------------------------------------------------

INT_METHODS = {
    "store": ("value",),
    "swap": ("value",),
    "fetch_add": ("delta",),
    "add": ("delta",),
    "fetch_sub": ("delta",),
    "sub": ("delta",),
    "fetch_max": ("value",),
    "max": ("value",),
    "fetch_min": ("value",),
    "min": ("value",),
    "compare_exchange": ("expected", "new"),
    "__iadd__": ("delta",),
    "__isub__": ("delta",),
}


@pytest.mark.parametrize("cls", [AtomicInt, AtomicFloat])
@settings(max_examples=examples(10.0), **FUZZ)
@given(data=st.data())
def test_atomics_with_random_arguments(cls: type, data: st.DataObject) -> None:
    """Every method against a serial model: a Python int (exact, OverflowError outside int64) or
    a float (IEEE). A refused argument leaves the value unchanged."""
    int_only = cls is AtomicInt
    start = data.draw(any_value, label="start")
    made = attempt(cls, start)
    api = Api(cls, {"value": Arg(0, ("value",), int_only=int_only)}, lambda r, kw: None)
    check_argument_outcome(api, {"value": start}, {"value"}, made, f"{cls.__name__}({start!r})")
    x = made if not isinstance(made, Raised) else cls(3)
    model = x.load()
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        method = data.draw(st.sampled_from(sorted(INT_METHODS)), label="method")
        arg_names = INT_METHODS[method]
        values = [data.draw(any_value, label=n) for n in arg_names]
        got = attempt(getattr(x, method), *values)
        api = Api(
            getattr(x, method),
            {n: Arg(0, (n, method), int_only=int_only) for n in arg_names},
            lambda r, kw: None,
        )
        what = f"{cls.__name__}({model!r}).{method}{tuple(values)!r}"
        check_argument_outcome(api, dict(zip(arg_names, values, strict=True)), set(arg_names), got, what)
        if isinstance(got, Raised):
            assert same_number(x.load(), model), f"{what} raised {got!r} but changed the value"
            continue
        model = apply_model(model, method, [x_value(v, int_only) for v in values], int_only)
        assert same_number(x.load(), model), f"{what}: {x.load()!r} != model {model!r}"
        if isinstance(model, float) and math.isnan(model):
            model = x.load()  # NaN payloads of arithmetic are the hardware's business


def x_value(v: Any, int_only: bool) -> int | float:
    if int_only:
        return operator.index(v)
    return float(v) if hasattr(v, "__float__") else float(operator.index(v))


def same_number(a: Any, b: Any) -> bool:
    """Equal bits, or both NaN (whatever the payload)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bits(a) == bits(b)


def apply_model(model: Any, method: str, args: list[Any], int_only: bool) -> Any:
    if method in ("store", "swap"):
        return args[0]
    if method in ("fetch_add", "add", "__iadd__"):
        return model + args[0]
    if method in ("fetch_sub", "sub", "__isub__"):
        return model - args[0]
    if method in ("fetch_max", "max"):
        return ieee_max(model, args[0]) if not int_only else max(model, args[0])
    if method in ("fetch_min", "min"):
        return ieee_min(model, args[0]) if not int_only else min(model, args[0])
    expected, new = args
    if int_only:
        return new if model == expected else model
    return new if bits(float(model)) == bits(float(expected)) else model


def ieee_max(a: float, b: float) -> float:
    """IEEE 754-2019 maximum: a NaN wins, and -0.0 < 0.0."""
    if math.isnan(a) or math.isnan(b):
        return a if math.isnan(a) else b
    if a == b:
        return a if math.copysign(1, a) > 0 else b
    return max(a, b)


def ieee_min(a: float, b: float) -> float:
    """IEEE 754-2019 minimum: a NaN wins, and -0.0 < 0.0."""
    if math.isnan(a) or math.isnan(b):
        return a if math.isnan(a) else b
    if a == b:
        return a if math.copysign(1, a) < 0 else b
    return min(a, b)


@settings(max_examples=examples(10.0), **FUZZ)
@given(data=st.data())
def test_accumulator_with_random_arguments(data: st.DataObject) -> None:
    dtype = data.draw(
        st.one_of(st.sampled_from([float, int, "float64", "int64", None]), any_value), label="dtype"
    )
    acc = attempt(Accumulator, dtype)
    if isinstance(acc, Raised):
        assert acc.kind in ("TypeError", "ValueError"), acc
        assert "dtype" in acc.message, acc
        return
    kind = acc.dtype
    for _ in range(data.draw(st.integers(1, 5), label="steps")):
        method = data.draw(st.sampled_from(["add", "add_many", "var", "std", "merge"]), label="method")
        before = acc.count()
        if method == "add":
            v = data.draw(any_value, label="x")
            got = attempt(acc.add, v)
            api = Api(acc.add, {"x": Arg(0, ("x",), int_only=kind is int)}, is_none)
            check_argument_outcome(api, {"x": v}, {"x"}, got, f"Accumulator({kind.__name__}).add({v!r})")
            assert acc.count() == before + (0 if isinstance(got, Raised) else 1)
        elif method == "add_many":
            values = data.draw(
                st.one_of(
                    any_value, st.lists(any_value, max_size=4), st.lists(st.integers(-5, 5), max_size=4)
                ),
                label="values",
            )
            threads = data.draw(st.one_of(st.none(), any_value), label="threads")
            kw = {"values": values, "threads": threads}
            got = attempt(acc.add_many, values, threads=threads)
            api = Api(
                acc.add_many, {"values": Arg([], ("values",), numeric=False), "threads": THREADS_ARG}, is_none
            )
            chosen = {"values"} | ({"threads"} if threads is not None else set())
            check_argument_outcome(api, kw, chosen, got, f"add_many({values!r}, threads={threads!r})")
            if isinstance(got, Raised):
                assert acc.count() == before, "a refused add_many added something"
        elif method in ("var", "std"):
            ddof = data.draw(any_value, label="ddof")
            got = attempt(getattr(acc, method), ddof=ddof)
            api = Api(getattr(acc, method), {"ddof": Arg(0, ("ddof",))}, lambda r, kw: None)
            check_argument_outcome(api, {"ddof": ddof}, {"ddof"}, got, f"{method}(ddof={ddof!r})")
            if not isinstance(got, Raised):
                assert type(got) is float
        else:
            other = data.draw(st.one_of(any_value, st.sampled_from([float, int])), label="other")
            if other in (float, int):
                other = Accumulator(other)
            got = attempt(acc.merge, other)
            if isinstance(got, Raised):
                assert got.kind == "TypeError", got
                assert acc.count() == before


@settings(max_examples=examples(0.5), **FUZZ)
@given(
    # No NaN: ThreadPoolExecutor(nan) accepts it and then never starts a thread.
    max_workers=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 5),
        st.integers(-(2**80), 2**80),
        st.builds(lambda t, v: t(v), st.sampled_from(NP_INTS), st.integers(0, 5)),
        st.sampled_from([0.5, 2.0, -1.0, "2", [1], b"1"]),
        st.builds(Weird),
        st.builds(Fraction, st.integers(-5, 5), st.integers(1, 4)),
    ),
    prefix=st.one_of(st.text(max_size=3), any_value),
)
def test_executor_constructor_with_random_arguments(max_workers: Any, prefix: Any) -> None:
    """Executor(max_workers, thread_name_prefix=...) is ThreadPoolExecutor's: a result or the
    exception ThreadPoolExecutor raises for the same arguments (a drop-in replacement)."""
    from concurrent.futures import ThreadPoolExecutor

    def make(cls: type) -> Any:
        ex = cls(max_workers, thread_name_prefix=prefix)
        try:
            return ex.submit(operator.add, 2, 3).result(30)
        finally:
            ex.shutdown(wait=True)

    want = attempt_any(lambda: make(ThreadPoolExecutor))
    got = attempt_any(lambda: make(gilfree.Executor))
    assert type(got) is type(want), (got, want)
    if not isinstance(want, BaseException):
        assert got == want == 5


def attempt_any(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        return exc


# ---------------------------------------------------------------------------------------------
# Huge sizes, in child processes under RLIMIT_AS (a crash or a hang is the case's alone)

HUGE_PRELUDE = """
import faulthandler, resource, sys
faulthandler.enable()
import numpy as np
import gilfree

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

gilfree.sum(np.ones(3 * 12 * 65536))  # the pool (threads, arenas) is up before the limit
ex = gilfree.Executor()
ex.submit(gilfree.sum, np.ones(3)).result()
limit = vm_size() + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    result = {call}
except (MemoryError, OverflowError, ValueError, TypeError) as exc:
    print("RAISED", type(exc).__name__, exc, flush=True)
else:
    print("RESULT", type(result).__name__, flush=True)
print("AFTER", gilfree.count_primes(1000), flush=True)
"""

HUGE_CALLS = [
    "gilfree.mandelbrot(65536, 65536)",
    "gilfree.mandelbrot(2**31, 2, max_iter=1)",
    "gilfree.mandelbrot(65536, 32768, max_iter=1)",
    "ex.submit(gilfree.mandelbrot, 65536, 32768, max_iter=1).result()",
    "gilfree.primes(10**15)",
    "gilfree.primes(10**12)",
    "ex.submit(gilfree.primes, 10**12).result()",
    "gilfree.spectral_norm(2**25)",
    "ex.submit(gilfree.spectral_norm, 2**25).result()",
    "gilfree.sum(np.broadcast_to(np.float64(1.0), (2**31,))[::-1])",
    "gilfree.var(np.broadcast_to(np.int32(7), (2**31,)))",
    "ex.submit(gilfree.argmax, np.broadcast_to(np.float32(1.0), (2**31,))).result()",
    "gilfree.Accumulator().add_many(np.broadcast_to(np.int64(1), (2**31,)))",
    "gilfree.Accumulator().add_many(range(10**7))",
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc of Linux")
@pytest.mark.timeout(120)
@pytest.mark.parametrize("call", HUGE_CALLS)
def test_huge_requests_under_rlimit_as(call: str) -> None:
    """A request for GiBs with 256 MiB to spare: a result, or a documented exception, and the
    process still works; never SIGABRT, SIGSEGV or a hang (60 s)."""
    env = dict(os.environ, GILFREE_NUM_THREADS="2")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(HUGE_PRELUDE.format(call=call))],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{call}: no answer within 60 s (hung?)\n{exc.stdout!r}\n{exc.stderr!r}")
    detail = f"{call}: exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, detail
    assert proc.stdout.splitlines()[-1] == "AFTER 168", detail


# ---------------------------------------------------------------------------------------------
# Mutation during a call: the input is borrowed, never half-read into a wrong answer


@settings(max_examples=examples(0.1), **FUZZ)
@given(name=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_reductions_while_another_thread_resizes_the_pool(name: str, seed: int) -> None:
    """Results stay bit-identical while another thread resizes the pool between 1 and 3 workers."""
    a = np.random.default_rng(seed).standard_normal(2 * GRAIN * CHUNK + 17)
    fn = getattr(gilfree, name)
    expected = bits(fn(a, threads=1))
    stop = threading.Event()

    def resize() -> None:
        i = 0
        while not stop.is_set():
            gilfree.set_num_threads(1 + i % 3)
            i += 1

    before = gilfree.get_num_threads()
    t = threading.Thread(target=resize)
    t.start()
    try:
        for _ in range(5):
            assert bits(fn(a)) == expected
    finally:
        stop.set()
        t.join()
        gilfree.set_num_threads(before)
