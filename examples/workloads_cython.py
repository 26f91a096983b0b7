"""The Cython example (``examples/ext-cython``) in the GIL lab: its kernel, its pure-Python twin
and its classic mistake, measured side by side by ``gilfree bench``.

    pip install ./examples/ext-cython        # or: bash scripts/build_examples.sh cython
    cd examples && gilfree bench --workload workloads_cython:COUNT_PRIMES --quick

The rows: the pure-Python twin (serial, threads, processes), ``count_primes(..., threads=1)`` one
task after another and in a ``ThreadPoolExecutor`` (the recipe), ``count_primes_holding_gil``
(the ``with gil:`` mistake) in the same executor, ``count_primes(..., threads=N)`` on gilfree's
shared pool, and ``gilfree.Executor``.
"""

from __future__ import annotations

import gilfree_cython_example as ex

from gilfree.lab import Workload


def primes_below(n: int) -> tuple[int, int]:
    """The arguments of one task: count the primes in [0, n)."""
    return (0, n)


COUNT_PRIMES = Workload(
    "cython-count_primes",
    ex.count_primes,
    primes_below,
    100_000,
    python=ex.count_primes_py,
    takes_threads=True,
    holding_gil=ex.count_primes_holding_gil,
    title="count the primes below 100,000 by trial division (the Cython example)",
)
