"""The pure-Python twin of the Cython loop: the same trial division, for checks and for the lab."""

from __future__ import annotations

import operator


def is_prime(n: int) -> bool:
    """True if ``n`` is prime (trial division by 2, 3 and 6k +/- 1)."""
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0 or n % 3 == 0:
        return False
    d = 5
    while d * d <= n:
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True


def count_primes_py(lo: int, hi: int) -> int:
    """The number of primes p with lo <= p < hi, in pure Python (holds the GIL throughout)."""
    lo, hi = operator.index(lo), operator.index(hi)
    if lo < 0:
        raise ValueError(f"lo must be >= 0, got {lo}")
    if hi >= 2**63:
        raise OverflowError(f"hi must be < 2**63, got {hi}")
    return sum(1 for n in range(lo, hi) if is_prime(n))
