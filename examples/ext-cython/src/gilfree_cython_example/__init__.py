"""A Cython extension on gilfree's runtime: counting primes by trial division.

* :func:`count_primes_nogil` -- the recipe's worker: the GIL released on the calling thread,
  Ctrl-C checked in the loop. Run several from a ``concurrent.futures.ThreadPoolExecutor``.
* :func:`count_primes` -- the same loop on gilfree's shared pool (``threads=None``/``1``/``k``).
* :func:`count_primes_holding_gil` -- the classic mistake (``with gil:`` around the loop).
* :func:`count_primes_py` -- the pure-Python twin.

Example:
    >>> import gilfree_cython_example as ex
    >>> ex.count_primes(0, 100_000) == ex.count_primes_nogil(0, 100_000) == 9592
    True
"""

from gilfree_cython_example._primes import (
    count_primes,
    count_primes_holding_gil,
    count_primes_nogil,
    thread_budget,
)
from gilfree_cython_example._pure import count_primes_py, is_prime

__all__ = [
    "count_primes",
    "count_primes_holding_gil",
    "count_primes_nogil",
    "count_primes_py",
    "is_prime",
    "thread_budget",
]
