"""count_primes and primes: values against independent references (a plain NumPy sieve, a plain
Python sieve, published values of π(n)), edges of the sieve's chunks, segments and tasks, thread
count invariance, bad inputs, and Ctrl-C on a long count.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only
from hypothesis import given
from hypothesis import strategies as st

import gilfree

THREADS = [1, 2, 3, 8, None]

# gilfree_kernels::kernels::primes: one bitmap byte holds 30 integers.
CHUNK = 30 * 32 * 1024  # integers per L1 chunk (the small primes' unit); tasks are whole chunks
SEGMENT = 30 * 256 * 1024  # integers per segment (the medium and bucket primes' unit)
REFERENCE_LIMIT = 6 * SEGMENT + 100  # ~47 M: every edge below is covered by the NumPy sieve

#: π(10^k), k = 1..10 (OEIS A006880).
PUBLISHED = {
    10: 4,
    100: 25,
    1_000: 168,
    10_000: 1_229,
    100_000: 9_592,
    1_000_000: 78_498,
    10_000_000: 664_579,
    100_000_000: 5_761_455,
    1_000_000_000: 50_847_534,
    10_000_000_000: 455_052_511,  # 0.6 s on 2 threads here
}


# ---------------------------------------------------------------------------------------------
# References


def python_sieve(n: int) -> list[int]:
    """The primes <= n by the textbook sieve, in pure Python."""
    if n < 2:
        return []
    is_prime = bytearray([1]) * (n + 1)
    is_prime[0] = is_prime[1] = 0
    for i in range(2, int(n**0.5) + 1):
        if is_prime[i]:
            is_prime[i * i :: i] = bytearray(len(range(i * i, n + 1, i)))
    return [i for i in range(n + 1) if is_prime[i]]


@functools.cache
def numpy_sieve(n: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """``is_prime[i]`` for ``0 <= i <= n``, by the textbook sieve in NumPy."""
    is_prime = np.ones(n + 1, dtype=np.bool_)
    is_prime[:2] = False
    for i in range(2, int(n**0.5) + 1):
        if is_prime[i]:
            is_prime[i * i :: i] = False
    return is_prime


@functools.cache
def numpy_pi() -> np.ndarray[Any, np.dtype[np.int64]]:
    """``pi[i]`` = the number of primes <= i, for i <= REFERENCE_LIMIT."""
    return np.cumsum(numpy_sieve(REFERENCE_LIMIT), dtype=np.int64)


def reference_primes(n: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
    return np.flatnonzero(numpy_sieve(REFERENCE_LIMIT)[: n + 1]).astype(np.uint64)


# ---------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(("n", "pi"), PUBLISHED.items(), ids=lambda v: f"{v:.0e}")
def test_published_values(n: int, pi: int) -> None:
    assert gilfree.count_primes(n) == pi


def test_published_values_of_the_list() -> None:
    p = gilfree.primes(10**8)
    assert p.dtype == np.uint64
    assert p.flags.c_contiguous
    assert p.flags.writeable
    assert p.flags.owndata
    assert len(p) == 5_761_455
    assert int(p[-1]) == 99_999_989  # the largest prime below 10^8
    assert int(p.sum(dtype=np.uint64)) == 279_209_790_387_276  # OEIS A046731: sum of primes < 10^8
    assert bool(np.all(np.diff(p) > 0))


def test_every_n_up_to_2000_against_a_python_sieve() -> None:
    reference = python_sieve(2000)
    for n in range(2001):
        expect = [p for p in reference if p <= n]
        assert gilfree.count_primes(n) == len(expect), n
        got = gilfree.primes(n)
        assert got.dtype == np.uint64, n
        assert got.tolist() == expect, n


@given(st.integers(0, 10**6))
def test_random_n_up_to_a_million(n: int) -> None:
    expect = python_sieve(n) if n <= 20_000 else reference_primes(n).tolist()
    assert gilfree.count_primes(n) == len(expect)
    assert gilfree.primes(n).tolist() == expect


def test_primes_of_a_million_equal_a_numpy_sieve_exactly() -> None:
    got = gilfree.primes(10**6)
    expect = np.flatnonzero(numpy_sieve(10**6)).astype(np.uint64)
    assert got.dtype == expect.dtype == np.uint64
    assert got.shape == expect.shape == (78_498,)
    np.testing.assert_array_equal(got, expect)


def boundary_ns() -> list[int]:
    """n at the edges of chunks, segments and tasks (task edges are chunk edges), at squares of
    sieving primes (the first multiple a prime crosses off) and at primes and their predecessors."""
    ns: set[int] = set()
    for edge in [*(k * CHUNK for k in (1, 2, 3, 7, 8, 9)), *(k * SEGMENT for k in (1, 2, 3, 6))]:
        ns.update(edge + d for d in (-31, -30, -29, -2, -1, 0, 1, 2, 29, 30, 31))
    # The last presieved prime (97), the first sieved ones, the last small and first medium primes.
    for p in (89, 97, 101, 103, 4093, 4099, 4111, 6857):
        ns.update((p - 1, p, p + 1, p * p - 1, p * p, p * p + 1))
    for n in range(0, 130):
        ns.add(n)
    return sorted(ns)


def test_boundaries_against_a_numpy_sieve() -> None:
    pi = numpy_pi()
    for n in boundary_ns():
        assert gilfree.count_primes(n) == int(pi[n]), n


def test_lists_across_task_edges_against_a_numpy_sieve() -> None:
    for n in (SEGMENT - 1, SEGMENT, SEGMENT + 1, 6 * SEGMENT + 7):
        np.testing.assert_array_equal(gilfree.primes(n), reference_primes(n), err_msg=str(n))


def test_numpy_integers_are_accepted() -> None:
    assert gilfree.count_primes(np.int64(1000)) == 168
    assert gilfree.count_primes(np.uint16(100)) == 25
    assert gilfree.primes(np.int32(10)).tolist() == [2, 3, 5, 7]


# ---------------------------------------------------------------------------------------------
# Threads


@pytest.mark.parametrize("n", [0, 1, 2, 3_000_000, SEGMENT + 12_345, 7 * SEGMENT + 99, 300_000_000])
def test_counts_are_identical_for_every_thread_setting(n: int) -> None:
    results = {t: gilfree.count_primes(n, threads=t) for t in THREADS}
    assert len(set(results.values())) == 1, results


@pytest.mark.parametrize("n", [100, 9 * SEGMENT + 99])
def test_lists_are_identical_for_every_thread_setting(n: int) -> None:
    reference = gilfree.primes(n, threads=1)
    for t in THREADS:
        got = gilfree.primes(n, threads=t)
        assert got.dtype == reference.dtype
        assert got.tobytes() == reference.tobytes(), t


def test_calls_from_many_python_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    ns = [10**6 + k for k in range(16)]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda n: gilfree.count_primes(n, threads=1), ns))
    pi = numpy_pi()
    assert got == [int(pi[n]) for n in ns]


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("fn", [gilfree.count_primes, gilfree.primes], ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [True, False, 1.0, 10.5, np.float64(3.0), "10", None, [10], 1 + 0j])
def test_non_int_n_is_a_type_error(fn: Any, n: Any) -> None:
    with pytest.raises(TypeError, match="n must be an int"):
        fn(n)


@pytest.mark.parametrize("fn", [gilfree.count_primes, gilfree.primes], ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [-1, -(10**30), np.int64(-5)])
def test_negative_n_is_a_value_error(fn: Any, n: Any) -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        fn(n)


@pytest.mark.parametrize("fn", [gilfree.count_primes, gilfree.primes], ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [10**15 + 1, 2**64, 10**100])
def test_n_above_the_supported_maximum_is_a_value_error(fn: Any, n: int) -> None:
    with pytest.raises(ValueError, match=r"n must be <= 10\*\*15"):
        fn(n)


def test_a_list_that_cannot_be_allocated_is_a_memory_error_at_once() -> None:
    # ~2.9e13 primes, 230 TB: more than a 47-bit address space, so refused even with overcommit.
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="cannot be allocated"):
        gilfree.primes(10**15)
    print(f"\nrefused in {(time.perf_counter() - start) * 1000:.2f} ms")


def test_a_refused_numpy_allocation_is_a_memory_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The output is allocated by numpy.zeros once the primes are counted; its MemoryError (here a
    # stand-in) becomes a MemoryError naming the size, with NumPy's MemoryError as its cause.
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MemoryError("Unable to allocate (test)")

    monkeypatch.setattr(np, "zeros", refuse)
    with pytest.raises(MemoryError, match=r"primes <= 1000 \(~168 of them, 1344 bytes") as info:
        gilfree.primes(1000)
    assert isinstance(info.value.__cause__, MemoryError)
    monkeypatch.undo()
    assert len(gilfree.primes(1000)) == 168


@pytest.mark.parametrize("fn", [gilfree.count_primes, gilfree.primes], ids=lambda f: f.__name__)
def test_bad_threads(fn: Any) -> None:
    with pytest.raises(ValueError, match="threads"):
        fn(100, threads=0)
    with pytest.raises(TypeError, match="threads"):
        fn(100, threads=True)
    with pytest.raises(TypeError, match="threads"):
        fn(100, threads=2.0)
    with pytest.raises(TypeError):
        fn(100, 2)  # threads is keyword-only


# ---------------------------------------------------------------------------------------------
# Ctrl-C


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_a_long_count(threads: int | None) -> None:
    child = interrupt_call(
        f"gilfree.count_primes(10**12, threads={threads!r})  # minutes of work",
        after=f'print("NEXT_COUNT", gilfree.count_primes(10**7, threads={threads!r}), flush=True)',
    )
    check_after(child, f"count_primes(10**12, threads={threads})")
    assert child.value("NEXT_COUNT") == "664579", child.describe()
