"""AtomicInt, AtomicFloat and Accumulator: no lost updates under contention, every method against a
serial reference model, the documented float rules, and the Accumulator against independent exact
references (math.fsum, statistics, fractions.Fraction, Python ints) however threads interleave.

No timing assertions: correctness under contention is asserted on the values alone.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
import pickle
import random
import statistics
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gilfree
from gilfree import Accumulator, AtomicFloat, AtomicInt

pytestmark = pytest.mark.timeout(60)  # a hang here means a deadlock

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
THREADS = 8
int64s = st.integers(INT64_MIN, INT64_MAX)


@pytest.fixture(autouse=True)
def busy_switching() -> Iterator[None]:
    """Switch between Python threads as often as CPython allows, to interleave them densely."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def run_threads(target: Callable[[int], None], n: int = THREADS) -> None:
    """Runs target(0..n-1) on n threads released together; re-raises the first failure."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def same(a: float, b: float) -> bool:
    """The same float, bit for bit (any NaN matches any NaN)."""
    return bits(a) == bits(b) or (math.isnan(a) and math.isnan(b))


# --- no lost updates ---------------------------------------------------------------------------


class Plain:
    n = 0


class Tally(int):
    """An int whose + runs Python code (as any number type written in Python does)."""

    def __add__(self, other: object) -> Tally:
        return Tally(int(self) + int(other))  # type: ignore[call-overload]


def test_eight_threads_of_increments_lose_nothing(record_property: Callable[[str, object], None]) -> None:
    per_thread = 100_000
    counter = AtomicInt()
    by_method = AtomicInt()
    plain, tally = Plain(), Plain()
    tally.n = Tally(0)

    def work(_: int) -> None:
        nonlocal counter
        for _ in range(per_thread):
            counter += 1  # atomic: __iadd__ adds in place and rebinds to the same object
            by_method.add(1)
            # The unsafe pattern: `x.n += 1` is load, add, store. Another thread that runs
            # between the load and the store has its update overwritten.
            plain.n += 1
            tally.n += 1

    run_threads(work)
    assert counter.load() == THREADS * per_thread == 800_000
    assert by_method.load() == 800_000
    # Not asserted: whether the plain ints lost updates this time. With the GIL, CPython 3.10+
    # switches threads only at jumps and calls, so `plain.n += 1` on a built-in int rarely loses
    # one (a free-threaded build does); `tally.n += 1` calls Python code between the load and the
    # store and typically loses most of them (161,095 of 800,000 left in one run).
    record_property("plain_int_total", plain.n)
    record_property("python_add_total", tally.n)
    assert plain.n <= 800_000
    assert tally.n <= 800_000


def test_atomic_float_additions_lose_nothing() -> None:
    total = AtomicFloat()
    work_done = AtomicFloat()

    def work(_: int) -> None:
        nonlocal total
        for _ in range(20_000):
            total += 1.0
            work_done.add(0.5)

    run_threads(work)
    # Integers (and halves) below 2**53 add exactly, in any order.
    assert total.load() == 160_000.0
    assert work_done.load() == 80_000.0


def test_compare_exchange_loops_build_any_update() -> None:
    values = [random.Random(7).randrange(INT64_MIN, INT64_MAX) for _ in range(8_000)]
    best = AtomicInt(INT64_MIN)
    product = AtomicInt(1)
    doubled = AtomicFloat(1.0)
    retries = AtomicInt()

    def work(i: int) -> None:
        for v in values[i::THREADS]:
            # An atomic max as a compare-and-swap loop.
            current = best.load()
            while v > current:
                ok, current = best.compare_exchange(current, v)
                if ok:
                    break
                retries.add(1)
        for _ in range(4):
            # An atomic multiply (int) and an atomic double (float): updates no method offers.
            ok, cur = False, product.load()
            while not ok:
                ok, cur = product.compare_exchange(cur, cur * 3)
            ok, f = False, doubled.load()
            while not ok:
                ok, f = doubled.compare_exchange(f, f * 2.0)

    run_threads(work)
    assert best.load() == max(values)
    assert product.load() == 3 ** (4 * THREADS)
    assert doubled.load() == 2.0 ** (4 * THREADS)


def test_fetch_max_and_min_from_threads() -> None:
    values = [random.Random(3).uniform(-1e6, 1e6) for _ in range(8_000)]
    hi, lo = AtomicFloat(-math.inf), AtomicFloat(math.inf)
    ihi, ilo = AtomicInt(INT64_MIN), AtomicInt(INT64_MAX)

    def work(i: int) -> None:
        for v in values[i::THREADS]:
            hi.max(v)
            lo.fetch_min(v)
            ihi.fetch_max(int(v))
            ilo.min(int(v))

    run_threads(work)
    assert (hi.load(), lo.load()) == (max(values), min(values))
    assert (ihi.load(), ilo.load()) == (int(max(values)), int(min(values)))


# --- AtomicInt against a serial model -------------------------------------------------------------


class IntModel:
    """What AtomicInt promises, in plain Python: int64, checked additions."""

    def __init__(self, value: int) -> None:
        self.value = value

    def _set(self, new: int) -> None:
        if not INT64_MIN <= new <= INT64_MAX:
            raise OverflowError
        self.value = new

    def apply(self, op: str, a: int, b: int) -> object:
        old = self.value
        if op in ("fetch_add", "add", "fetch_sub", "sub"):
            self._set(old + a if "add" in op else old - a)
            return old if op.startswith("fetch") else self.value
        if op == "swap":
            self.value = a
            return old
        if op == "store":
            self.value = a
            return None
        if op == "load":
            return old
        if op == "compare_exchange":
            if old == a:
                self.value = b
                return (True, old)
            return (False, old)
        if op in ("fetch_max", "max"):
            self.value = max(old, a)
            return old if op == "fetch_max" else self.value
        if op in ("fetch_min", "min"):
            self.value = min(old, a)
            return old if op == "fetch_min" else self.value
        raise AssertionError(op)


INT_OPS = ["fetch_add", "add", "fetch_sub", "sub", "swap", "store", "load", "compare_exchange"]
INT_OPS += ["fetch_max", "max", "fetch_min", "min"]
near_edges = st.one_of(int64s, st.integers(-3, 3), st.sampled_from([INT64_MIN, INT64_MAX, 1, -1]))


@given(
    start=near_edges,
    ops=st.lists(st.tuples(st.sampled_from(INT_OPS), near_edges, near_edges), max_size=40),
)
def test_atomic_int_matches_the_serial_model(start: int, ops: list[tuple[str, int, int]]) -> None:
    x, model = AtomicInt(start), IntModel(start)
    for op, a, b in ops:
        if op == "compare_exchange" and b % 2:
            a = model.value  # make half of them succeed
        args = (a, b) if op == "compare_exchange" else () if op == "load" else (a,)
        try:
            expected = model.apply(op, a, b)
        except OverflowError:
            with pytest.raises(OverflowError, match="does not fit in int64; the value is unchanged"):
                getattr(x, op)(*args)
        else:
            assert getattr(x, op)(*args) == expected
        assert x.load() == model.value


def test_atomic_int_overflow_never_wraps() -> None:
    x = AtomicInt(INT64_MAX)
    for method in ("add", "fetch_add", "__iadd__"):
        with pytest.raises(OverflowError, match="the value is unchanged"):
            getattr(x, method)(1)
    with pytest.raises(OverflowError):
        x.sub(-1)
    assert x.load() == INT64_MAX
    y = AtomicInt(INT64_MIN)
    with pytest.raises(OverflowError):
        y -= 1
    assert y.load() == INT64_MIN
    with pytest.raises(OverflowError, match="does not fit in int64"):
        y.add(2**63)  # the argument itself is outside int64
    assert y.add(INT64_MAX) == -1


def test_augmented_assignment_keeps_the_same_object() -> None:
    x = AtomicInt(1)
    alias = x
    x += 4
    x -= 2
    assert x is alias
    assert alias.load() == 3
    holder = {"n": AtomicInt()}
    holder["n"] += 5
    plain = Plain()
    plain.n = AtomicInt()  # type: ignore[assignment]
    plain.n += 2
    assert holder["n"].load() == 5
    assert plain.n.load() == 2
    f = AtomicFloat(1.0)
    alias_f = f
    f += 0.5
    f -= 1
    assert f is alias_f
    assert f.load() == 0.5


@pytest.mark.parametrize("cls", [AtomicInt, AtomicFloat])
def test_plain_arithmetic_is_refused_with_a_hint(cls: type[Any]) -> None:
    x = cls(1)
    with pytest.raises(TypeError, match=r"x \+= d .*x\.load\(\) \+ d"):
        x + 1
    with pytest.raises(TypeError, match="shared cell, not a number"):
        1 + x
    with pytest.raises(TypeError, match=r"x -= d"):
        x - 1
    with pytest.raises(TypeError, match=r"x -= d"):
        1 - x
    with pytest.raises(TypeError):
        x * 2
    with pytest.raises(TypeError):
        sum([x])


def test_atomic_int_argument_types() -> None:
    assert AtomicInt().load() == 0
    assert AtomicInt(np.int64(5)).load() == 5
    assert AtomicInt(np.uint8(200)).load() == 200
    assert AtomicInt(INT64_MIN).load() == INT64_MIN
    x = AtomicInt(0)
    for bad in (True, 1.0, "1", None, np.float64(1)):
        with pytest.raises(TypeError, match="must be an int"):
            x.add(bad)
    for bad in (2**63, -(2**63) - 1):
        with pytest.raises(OverflowError, match="does not fit in int64"):
            AtomicInt(bad)
        with pytest.raises(OverflowError):
            x.store(bad)
    with pytest.raises(TypeError):
        x += 1.5
    with pytest.raises(TypeError):
        x.compare_exchange(0, 1.0)
    assert x.load() == 0


def test_atomic_int_conversions_repr_and_identity() -> None:
    x = AtomicInt(-7)
    assert (int(x), float(x), operator.index(x), bool(x)) == (-7, -7.0, -7, True)
    assert not AtomicInt(0)
    assert repr(x) == "AtomicInt(-7)"
    assert str(x) == "AtomicInt(-7)"
    assert [10, 20, 30][AtomicInt(1)] == 20
    assert float(AtomicInt(2**53 + 1)) == float(2**53 + 1)  # rounded as float(int)
    # Equality and hashing are by identity, as for any mutable object.
    assert x == x
    assert x != AtomicInt(-7)
    assert x != -7
    assert hash(x) == hash(x)
    assert len({x, AtomicInt(-7)}) == 2


# --- AtomicFloat against a serial model -------------------------------------------------------------


def ieee_maximum(a: float, b: float) -> float:
    """IEEE 754-2019 maximum: a NaN wins (the first one), and -0.0 < 0.0."""
    if math.isnan(a) or math.isnan(b):
        return a if math.isnan(a) else b
    if a == b:
        return a if math.copysign(1, a) > 0 else b
    return max(a, b)


def ieee_minimum(a: float, b: float) -> float:
    """IEEE 754-2019 minimum: a NaN wins (the first one), and -0.0 < 0.0."""
    if math.isnan(a) or math.isnan(b):
        return a if math.isnan(a) else b
    if a == b:
        return a if math.copysign(1, a) < 0 else b
    return min(a, b)


FLOAT_OPS = ["fetch_add", "add", "fetch_sub", "sub", "swap", "store", "load", "compare_exchange"]
FLOAT_OPS += ["fetch_max", "max", "fetch_min", "min"]
any_float = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1.0]))


@given(
    start=any_float, ops=st.lists(st.tuples(st.sampled_from(FLOAT_OPS), any_float, any_float), max_size=40)
)
def test_atomic_float_matches_the_serial_model(start: float, ops: list[tuple[str, float, float]]) -> None:
    x, value = AtomicFloat(start), start
    for op, a, b in ops:
        old = value
        if op == "compare_exchange":
            if b > 0:
                a = value  # make some of them succeed
            got = x.compare_exchange(a, b)
            ok = bits(old) == bits(a)  # bits, not values
            value = b if ok else old
            assert got[0] is ok
            assert same(got[1], old)
        elif op == "load":
            assert same(x.load(), old)
        elif op == "store":
            x.store(a)
            value = a
        else:
            new = {
                "swap": a,
                "fetch_add": old + a,
                "add": old + a,
                "fetch_sub": old - a,
                "sub": old - a,
                "fetch_max": ieee_maximum(old, a),
                "max": ieee_maximum(old, a),
                "fetch_min": ieee_minimum(old, a),
                "min": ieee_minimum(old, a),
            }[op]
            got = getattr(x, op)(a)
            value = new
            assert same(got, old if op.startswith("fetch") or op == "swap" else new), op
        assert same(x.load(), value), op
        if math.isnan(value):
            # NaN payloads of arithmetic are the hardware's business; follow the stored one.
            value = x.load()


def test_atomic_float_bit_rules() -> None:
    x = AtomicFloat(-0.0)
    assert x.compare_exchange(0.0, 1.0) == (False, -0.0)
    assert math.copysign(1, x.load()) < 0
    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0001))[0]
    x.store(nan)
    ok, current = x.compare_exchange(math.nan, 1.0)  # another NaN's bits: no match
    assert not ok
    assert math.isnan(current)
    assert x.compare_exchange(x.load(), 1.0)[0]  # what you loaded always matches
    y = AtomicFloat(0.0)
    assert same(y.max(-0.0), 0.0)
    assert same(y.min(-0.0), -0.0)
    assert same(y.max(0.0), 0.0)
    assert math.isnan(y.max(math.nan))
    assert math.isnan(y.min(5.0))
    z = AtomicFloat(sys.float_info.max)
    assert z.add(sys.float_info.max) == math.inf  # IEEE, not an error


def test_atomic_float_argument_types_and_conversions() -> None:
    assert AtomicFloat().load() == 0.0
    assert AtomicFloat(3).load() == 3.0
    assert AtomicFloat(np.float32(0.5)).load() == 0.5
    assert AtomicFloat(Fraction(1, 4)).load() == 0.25
    assert AtomicFloat(2**53 + 1).load() == float(2**53 + 1)
    for bad in (True, "1", None, 1j):
        with pytest.raises(TypeError, match="must be a float or an int"):
            AtomicFloat(1.0).add(bad)
    with pytest.raises(OverflowError):
        AtomicFloat(10**400)
    x = AtomicFloat(-2.75)
    assert (float(x), int(x), bool(x), bool(AtomicFloat(-0.0))) == (-2.75, -2, True, False)
    with pytest.raises(ValueError):
        int(AtomicFloat(math.nan))
    with pytest.raises(OverflowError):
        int(AtomicFloat(math.inf))
    assert repr(AtomicFloat(1e300)) == "AtomicFloat(1e+300)"
    assert repr(AtomicFloat(-0.0)) == "AtomicFloat(-0.0)"
    assert repr(AtomicFloat(0.1)) == "AtomicFloat(0.1)"


# --- pickling and copying ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [AtomicInt, AtomicFloat, Accumulator], ids=lambda c: c.__name__)
def test_pickling_is_refused_copying_makes_an_independent_snapshot(make: Callable[[], Any]) -> None:
    obj = make()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled: it is shared state in this process"):
            pickle.dumps(obj, protocol=protocol)
    obj.add(2) if not isinstance(obj, Accumulator) else obj.add_many([2, 3])
    for dup in (copy.copy(obj), copy.deepcopy(obj), copy.deepcopy([obj])[0]):
        assert type(dup) is type(obj)
        assert dup is not obj
        if isinstance(obj, Accumulator):
            assert (dup.count(), dup.sum()) == (2, 5.0)
            dup.add(1)
            assert obj.count() == 2
        else:
            assert dup.load() == obj.load() == 2
            dup.add(1)
            assert obj.load() == 2


def test_pickling_message_points_to_multiprocessing() -> None:
    with pytest.raises(TypeError, match=r"multiprocessing\.Value\('q'\)"):
        pickle.dumps(AtomicInt())
    with pytest.raises(TypeError, match=r"multiprocessing\.Value\('d'\)"):
        pickle.dumps(AtomicFloat())


# --- Accumulator -----------------------------------------------------------------------------------


def exact_var(values: Sequence[float], ddof: int) -> float:
    n = len(values)
    if n - ddof <= 0:
        return math.nan
    s1 = sum(Fraction(v) for v in values)
    s2 = sum(Fraction(v) ** 2 for v in values)
    try:
        return float((n * s2 - s1 * s1) / (n * (n - ddof)))
    except OverflowError:
        return math.inf


def check_against_references(acc: Accumulator, values: Sequence[float]) -> None:
    """Every statistic of acc, against references that do not share its code."""
    n = len(values)
    assert acc.count() == n
    if acc.dtype is int:
        assert acc.sum() == sum(values)
        assert type(acc.sum()) is int
        assert acc.min() == min(values)
        assert acc.max() == max(values)
    else:
        assert same(acc.sum(), math.fsum(values) + 0.0)
        assert same(acc.min(), functools.reduce(ieee_minimum, values))
        assert same(acc.max(), functools.reduce(ieee_maximum, values))
    assert same(acc.mean(), float(sum(Fraction(v) for v in values) / n))
    assert same(acc.mean(), float(statistics.mean(values)))
    for ddof in (0, 1):
        assert same(acc.var(ddof=ddof), exact_var(values, ddof))
        assert same(acc.std(ddof=ddof), math.sqrt(exact_var(values, ddof)))
    if n > 1:
        assert same(acc.var(), float(statistics.pvariance(values)))
        assert same(acc.var(ddof=1), float(statistics.variance(values)))


def add_from_threads(acc: Accumulator, values: Sequence[float], n: int = THREADS) -> None:
    """Thread i of n adds values[i::n], one add() at a time."""

    def work(i: int) -> None:
        for v in values[i::n]:
            acc.add(v)

    run_threads(work, n)


def test_accumulator_under_contention_equals_the_exact_serial_reference() -> None:
    rng = random.Random(11)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12) for _ in range(40_000)]
    acc = Accumulator()
    add_from_threads(acc, values)
    check_against_references(acc, values)
    assert np.isclose(acc.var(), np.var(values), rtol=1e-9)
    assert np.isclose(acc.sum(), np.sum(values))
    # A different split over threads, and one thread in reverse: the same bits.
    again = Accumulator()
    add_from_threads(again, values[::-1], n=3)
    for stat in ("sum", "mean", "var", "std", "min", "max"):
        assert same(getattr(acc, stat)(), getattr(again, stat)()), stat


def test_int_accumulator_under_contention_is_exact() -> None:
    rng = random.Random(5)
    values = [rng.randrange(INT64_MIN, INT64_MAX) for _ in range(20_000)] + [INT64_MAX] * 50
    acc = Accumulator(int)
    add_from_threads(acc, values)
    check_against_references(acc, values)


@given(
    values=st.lists(
        st.floats(min_value=-1e150, max_value=1e150, allow_nan=False, allow_subnormal=True),
        min_size=1,
        max_size=300,
    ),
    n=st.integers(1, 4),
)
def test_accumulator_is_exact_for_any_floats_and_any_split(values: list[float], n: int) -> None:
    acc = Accumulator()
    add_from_threads(acc, values, n)
    check_against_references(acc, values)


@given(values=st.lists(int64s, min_size=1, max_size=300))
def test_int_accumulator_is_exact_for_any_ints(values: list[int]) -> None:
    acc = Accumulator(int)
    acc.add_many(values)
    check_against_references(acc, values)


def test_variance_survives_a_large_mean() -> None:
    values = [1e9 + 1, 1e9 + 2, 1e9 + 3] * 1000
    acc = Accumulator()
    acc.add_many(values)
    check_against_references(acc, values)
    assert acc.var(ddof=0) == 2 / 3


def test_reads_while_threads_add_are_snapshots() -> None:
    acc = Accumulator(int)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def adder(_: int) -> None:
        while not stop.is_set():
            acc.add(1)
            acc.add(-1)

    adders = [threading.Thread(target=adder, args=(i,)) for i in range(3)]
    for t in adders:
        t.start()
    try:
        for _ in range(300):
            # count() and sum() are separate snapshots; compare each with itself.
            s = acc.sum()
            assert isinstance(s, int)
            assert 0 <= s <= 3
            seen.append((acc.count(), s))
    finally:
        stop.set()
        for t in adders:
            t.join()
    assert acc.sum() == 0
    assert acc.count() % 2 == 0


def test_add_many_arrays_every_dtype_and_thread_setting() -> None:
    rng = np.random.default_rng(1)
    big = rng.standard_normal(5 * 65_536 + 7) * 1e3
    for dtype in (np.float64, np.float32, np.int64, np.int32):
        a = big.astype(dtype)
        reference = [float(v) for v in a]
        results = []
        for threads in (1, 2, None):
            acc = Accumulator()
            acc.add_many(a, threads=threads)
            results.append((acc.sum(), acc.mean(), acc.var(), acc.min(), acc.max(), acc.count()))
        assert results[0] == results[1] == results[2]
        assert same(results[0][0], math.fsum(reference))
        assert results[0][3:] == (min(reference), max(reference), len(reference))
    ints = Accumulator(int)
    ints.add_many(np.arange(-5, 100_000, dtype=np.int64))
    ints.add_many(np.array([7, 8], dtype=np.int32))
    assert ints.sum() == sum(range(-5, 100_000)) + 15
    assert ints.max() == 99_999


def test_add_many_inputs() -> None:
    acc = Accumulator()
    base = np.arange(20, dtype=np.float64)
    acc.add_many(base[::3])  # strided
    acc.add_many(memoryview(np.array([0.5])))  # buffer protocol
    acc.add_many(x / 2 for x in range(4))  # a generator
    acc.add_many(range(3))
    acc.add_many([])
    expected = [*base[::3], 0.5, 0.0, 0.5, 1.0, 1.5, 0, 1, 2]
    check_against_references(acc, expected)
    with pytest.raises(ValueError, match="1-D"):
        acc.add_many(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="dtype"):
        acc.add_many(np.zeros(3, dtype=np.complex128))
    with pytest.raises(TypeError, match="array or an iterable"):
        acc.add_many(5)
    # All or nothing: a bad item adds none of the items.
    with pytest.raises(TypeError, match="values item must be a float or an int, got str"):
        acc.add_many([1.0, 2.0, "3"])
    assert acc.count() == len(expected)
    ints = Accumulator(int)
    with pytest.raises(TypeError, match="takes int32 or int64 arrays"):
        ints.add_many(np.ones(3))
    with pytest.raises(TypeError, match="values item must be an int"):
        ints.add_many([1, 2.5])
    with pytest.raises(OverflowError):
        ints.add_many([1, 2**63])
    assert ints.count() == 0


def test_accumulator_argument_types_and_dtypes() -> None:
    for dtype in (float, "float64", np.float64, np.dtype("f8"), None):
        assert Accumulator(dtype).dtype is float
    for dtype in (int, "int64", np.int64):
        assert Accumulator(dtype).dtype is int
    for bad in ("float32", np.int32, object, "nonsense"):
        with pytest.raises(ValueError, match="dtype must be float or int"):
            Accumulator(bad)
    f, i = Accumulator(), Accumulator(int)
    f.add(1)
    f.add(np.float32(0.5))
    with pytest.raises(TypeError):
        f.add(True)
    with pytest.raises(TypeError):
        f.add("1")
    for bad in (1.0, True, np.float64(1)):
        with pytest.raises(TypeError, match="must be an int"):
            i.add(bad)
    with pytest.raises(OverflowError):
        i.add(2**63)
    i.add(np.int64(4))
    assert (f.sum(), i.sum(), type(i.sum())) == (1.5, 4, int)


def test_empty_and_non_finite_conventions() -> None:
    for dtype, zero in ((float, 0.0), (int, 0)):
        acc = Accumulator(dtype)
        assert acc.count() == 0
        assert acc.sum() == zero
        assert type(acc.sum()) is dtype
        assert math.isnan(acc.mean())
        assert math.isnan(acc.var())
        assert math.isnan(acc.std())
        with pytest.raises(ValueError, match="no values were added"):
            acc.min()
        with pytest.raises(ValueError, match="no values were added"):
            acc.max()
        acc.add(3)
        assert acc.var() == 0.0
        assert math.isnan(acc.var(ddof=1))
    acc = Accumulator()
    acc.add_many([1.0, math.inf])
    assert acc.sum() == math.inf == acc.mean()
    assert math.isnan(acc.var())
    acc.add(-math.inf)
    assert math.isnan(acc.sum())
    assert math.isnan(acc.mean())
    acc = Accumulator()
    acc.add_many([2.0, math.nan, 1.0])
    assert math.isnan(acc.sum())
    assert math.isnan(acc.min())
    assert math.isnan(acc.max())
    acc = Accumulator()
    acc.add_many([1e308, 1e308, -1e308])  # fsum raises here; exact sums do not overflow
    assert acc.sum() == 1e308
    acc.add(1e308)
    assert acc.sum() == math.inf
    assert math.isinf(acc.var())
    zeros = Accumulator()
    zeros.add_many([0.0, -0.0])
    assert same(zeros.min(), -0.0)
    assert same(zeros.max(), 0.0)
    assert same(zeros.sum(), 0.0)


def test_merge_reset_repr() -> None:
    a, b = Accumulator(), Accumulator()
    a.add_many([1.0, 2.0])
    b.add_many([3.0])
    a.merge(b)
    a.merge(a)  # a snapshot of itself: doubles every value
    check_against_references(a, [1.0, 2.0, 3.0] * 2)
    with pytest.raises(TypeError, match="cannot merge an Accumulator"):
        a.merge(Accumulator(int))
    assert repr(a) == "Accumulator(dtype=float, count=6)"
    assert repr(Accumulator(int)) == "Accumulator(dtype=int, count=0)"
    a.reset()
    assert a.count() == 0
    assert a.sum() == 0.0
    a.add(5.0)
    assert a.sum() == 5.0


def test_many_threads_more_than_shards() -> None:
    # More threads than shards (64): threads share shards, still exact.
    acc = Accumulator(int)
    run_threads(lambda i: acc.add_many(range(i * 100, i * 100 + 100)), n=80)
    assert acc.count() == 8000
    assert acc.sum() == sum(range(8000))


@pytest.mark.parametrize("threads", [1, None])
def test_an_interrupted_add_many_adds_nothing(threads: int | None) -> None:
    a = np.ones(4_000_000)
    acc = Accumulator()
    done = threading.Event()

    def interrupt_until() -> None:
        while not done.wait(0.02):
            gilfree.interrupt()

    interrupter = threading.Thread(target=interrupt_until)
    interrupter.start()
    interrupted = False
    try:
        for _ in range(500):
            try:
                acc.add_many(a, threads=threads)
            except KeyboardInterrupt:
                interrupted = True
                break
    finally:
        done.set()
        interrupter.join()
    assert interrupted
    assert acc.count() % len(a) == 0
    assert acc.sum() == acc.count()


def test_the_benchmark_runs_and_checks_its_counts() -> None:
    """``benchmarks/bench_shared.py`` at a tiny size: exits 0 (it fails on any lost update)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_shared.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--updates", "10000", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Accumulator.add_many" in proc.stdout
