"""monte_carlo_pi: the documented algorithm exactly, statistics, determinism, inputs, Ctrl-C.

The exact values are checked against an independent pure-Python reimplementation of the
algorithm documented in ``crates/gilfree-kernels/src/kernels/montecarlo.rs`` (xoshiro256++ and
SplitMix64 written from Blackman & Vigna's C code, their jump polynomials, the block and lane
layout): that reference, not gilfree itself, is what proves the docs describe what runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only

import gilfree

THREADS = [1, 2, 3, 8, None]
P = math.pi / 4


def sigma(n: int) -> float:
    """The standard error of the estimate from n samples."""
    return 4 * math.sqrt(P * (1 - P) / n)


# --- the independent reference ------------------------------------------------------------------

M64 = (1 << 64) - 1
BLOCK = 1 << 20  # samples per block
LANES = 8  # generators per block
UNIT = 2.0**-53
JUMP = (0x180EC6D33CFD0ABA, 0xD5A61266F0C9392C, 0xA9582618E03FC9AA, 0x39ABDC4529B1661C)
LONG_JUMP = (0x76E15D3EFEFDCBBF, 0xC5004E441C522FB3, 0x77710069854EE241, 0x39109BB02ACBE635)


def splitmix64(state: int) -> Iterator[int]:
    """splitmix64.c"""
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & M64


class Xoshiro256pp:
    """xoshiro256plusplus.c: next(), jump(), long_jump(); seeded like rand_xoshiro's
    seed_from_u64 (the state is the first four SplitMix64 outputs)."""

    def __init__(self, state: list[int]) -> None:
        self.s = list(state)

    @classmethod
    def seeded(cls, seed: int) -> Xoshiro256pp:
        sm = splitmix64(seed)
        return cls([next(sm) for _ in range(4)])

    def copy(self) -> Xoshiro256pp:
        return Xoshiro256pp(self.s)

    def next(self) -> int:
        s0, s1, s2, s3 = self.s
        result = (rotl((s0 + s3) & M64, 23) + s0) & M64
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def _jump(self, poly: tuple[int, ...]) -> None:
        acc = [0, 0, 0, 0]
        for word in poly:
            for b in range(64):
                if word >> b & 1:
                    acc = [a ^ x for a, x in zip(acc, self.s, strict=True)]
                self.next()
        self.s = acc

    def jump(self) -> None:
        self._jump(JUMP)

    def long_jump(self) -> None:
        self._jump(LONG_JUMP)


def reference_hits(samples: int, seed: int) -> int:
    """The documented algorithm: block k starts at the seeded state long-jumped k times; lane j of
    a block is its start jumped j times; sample i of a block is drawn (x, then y) from lane i % 8;
    a hit is x*x + y*y <= 1 with x = (r >> 11) * 2**-53."""
    start = Xoshiro256pp.seeded(seed)
    hits = 0
    done = 0
    while done < samples:
        n = min(samples - done, BLOCK)
        g = start.copy()
        for j in range(min(n, LANES)):
            lane = g.copy()
            draw = lane.next
            for _ in range(n // LANES + (j < n % LANES)):
                x = (draw() >> 11) * UNIT
                y = (draw() >> 11) * UNIT
                hits += x * x + y * y <= 1.0
            g.jump()
        done += n
        start.long_jump()
    return hits


def test_reference_generator_gives_the_published_outputs() -> None:
    # xoshiro256plusplus.c from state {1, 2, 3, 4}, and splitmix64.c from 0.
    g = Xoshiro256pp([1, 2, 3, 4])
    assert [g.next() for _ in range(4)] == [41943041, 58720359, 3588806011781223, 3591011842654386]
    assert next(splitmix64(0)) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize(
    ("samples", "seed"),
    [(1, 0), (2, 1), (7, 2), (8, 3), (9, 4), (127, 5), (128, 6), (1000, 42), (12_345, 2**64 - 1)],
)
def test_matches_the_reference_exactly(samples: int, seed: int) -> None:
    expected = 4 * reference_hits(samples, seed) / samples  # int / int: correctly rounded
    for threads in THREADS:
        assert gilfree.monte_carlo_pi(samples, seed=seed, threads=threads) == expected


def test_matches_the_reference_across_a_block_boundary() -> None:
    # Two blocks: the second starts at the long-jumped state (~2 s of pure Python).
    samples = BLOCK + 5
    assert gilfree.monte_carlo_pi(samples, seed=3) == 4 * reference_hits(samples, 3) / samples


def test_pinned_values() -> None:
    # Also pinned in the core tests: a change here changes every user's results.
    assert gilfree.monte_carlo_pi(1000, seed=42) == 3.14
    assert gilfree.monte_carlo_pi(12_345, seed=2**64 - 1) == 4 * 9746 / 12_345
    assert gilfree.monte_carlo_pi(BLOCK + 5, seed=3) == 4 * 823_046 / (BLOCK + 5)
    assert gilfree.monte_carlo_pi(1_000_000, seed=42) == 3.142212


# --- statistics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 12_345, 2**63, 2**64 - 1])
def test_estimate_is_within_five_sigma_of_pi(seed: int) -> None:
    n = 10**7
    estimate = gilfree.monte_carlo_pi(n, seed=seed)
    assert abs(estimate - math.pi) < 5 * sigma(n), estimate


def test_different_seeds_give_different_estimates() -> None:
    estimates = [gilfree.monte_carlo_pi(10**6, seed=s) for s in range(20)]
    assert len(set(estimates)) >= 15  # a few exact ties are possible in principle, not many
    assert gilfree.monte_carlo_pi(10**6, seed=0) != gilfree.monte_carlo_pi(10**6, seed=1)


def test_the_estimate_is_four_times_a_hit_fraction() -> None:
    for samples in (1, 3, 10, 1001):
        estimate = gilfree.monte_carlo_pi(samples, seed=9)
        hits = round(estimate * samples / 4)
        assert 0 <= hits <= samples
        assert estimate == 4 * hits / samples


# --- determinism ---------------------------------------------------------------------------------


def test_identical_for_every_thread_count() -> None:
    samples = 10**7 + 3  # 10 blocks, the last one partial
    reference = gilfree.monte_carlo_pi(samples, seed=5, threads=1)
    for threads in THREADS:
        assert gilfree.monte_carlo_pi(samples, seed=5, threads=threads) == reference, threads


def test_identical_for_every_pool_size(restore_num_threads: int) -> None:
    samples = 10**7 + 3
    reference = gilfree.monte_carlo_pi(samples, seed=6)
    for n in (1, 3, 2, 8):
        gilfree.set_num_threads(n)
        assert gilfree.monte_carlo_pi(samples, seed=6) == reference, n
        assert gilfree.monte_carlo_pi(samples, seed=6, threads=2) == reference, n


def test_same_seed_same_value_across_calls() -> None:
    values = {gilfree.monte_carlo_pi(3 * BLOCK + 1, seed=77) for _ in range(3)}
    assert len(values) == 1


def test_concurrent_calls_from_python_threads_agree() -> None:
    seeds = list(range(8))
    expected = [gilfree.monte_carlo_pi(2 * BLOCK, seed=s, threads=1) for s in seeds]
    for threads in (1, None):
        with ThreadPoolExecutor(4) as ex:
            futures = [ex.submit(gilfree.monte_carlo_pi, 2 * BLOCK, seed=s, threads=threads) for s in seeds]
            got = [f.result() for f in futures]
        assert got == expected, threads


def test_numpy_integers_are_ints() -> None:
    assert gilfree.monte_carlo_pi(np.int64(1000), seed=np.uint64(42)) == 3.14
    assert gilfree.monte_carlo_pi(np.uint64(12_345), seed=np.uint64(2**64 - 1)) == 4 * 9746 / 12_345


# --- bad inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"samples": 0}, ValueError, "samples must be an int >= 1, got 0"),
        ({"samples": -1}, ValueError, "samples must be an int >= 1, got -1"),
        ({"samples": -(2**70)}, ValueError, "samples"),
        ({"samples": 2**64}, OverflowError, "samples must be < 2"),
        ({"samples": True}, TypeError, "samples.*bool"),
        ({"samples": 10.0}, TypeError, "samples.*float"),
        ({"samples": "10"}, TypeError, "samples.*str"),
        ({"samples": None}, TypeError, "samples.*NoneType"),
        ({"samples": np.float64(10)}, TypeError, "samples"),
        ({"samples": 10, "seed": -1}, ValueError, "seed must be an int in 0..2\\*\\*64, got -1"),
        ({"samples": 10, "seed": 2**64}, ValueError, "seed must be an int in 0..2\\*\\*64"),
        ({"samples": 10, "seed": True}, TypeError, "seed.*bool"),
        ({"samples": 10, "seed": 1.0}, TypeError, "seed.*float"),
        ({"samples": 10, "seed": None}, TypeError, "seed.*NoneType"),
        ({"samples": 10, "threads": 0}, ValueError, "threads"),
        ({"samples": 10, "threads": True}, TypeError, "threads"),
        ({"samples": 10, "threads": 2.0}, TypeError, "threads"),
    ],
)
def test_bad_inputs(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    samples = kwargs.pop("samples")
    with pytest.raises(exc, match=match):
        gilfree.monte_carlo_pi(samples, **kwargs)


def test_signature() -> None:
    with pytest.raises(TypeError):
        gilfree.monte_carlo_pi()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        gilfree.monte_carlo_pi(10, 1)  # type: ignore[misc]  # seed is keyword-only
    assert gilfree.monte_carlo_pi(samples=10) == gilfree.monte_carlo_pi(10, seed=0)


def test_the_largest_sample_count_is_accepted() -> None:
    # 2**64 - 1 samples is centuries of work: start it and interrupt it in-process.
    done = []

    def interrupt_soon() -> None:
        while not done:
            time.sleep(0.05)
            gilfree.interrupt()

    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(interrupt_soon)
        try:
            with pytest.raises(KeyboardInterrupt, match="monte_carlo_pi"):
                gilfree.monte_carlo_pi(2**64 - 1)
        finally:
            done.append(True)
            fut.result()
    assert gilfree.monte_carlo_pi(1000, seed=42) == 3.14


# --- Ctrl-C ------------------------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_a_huge_call(threads: int | None) -> None:
    child = interrupt_call(
        f"gilfree.monte_carlo_pi(2**63 - 1, threads={threads!r})  # ~centuries of work",
        after='print("NEXT_PI", gilfree.monte_carlo_pi(1000, seed=42) == 3.14, flush=True)',
    )
    check_after(child, f"monte_carlo_pi(threads={threads})")
    assert child.value("NEXT_PI") == "True", child.describe()
