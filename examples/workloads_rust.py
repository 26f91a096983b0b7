"""The Rust example (``examples/ext-rust``) in the GIL lab: its edit-distance matrix against a
pure-Python twin, measured side by side by ``gilfree bench``.

    pip install ./examples/ext-rust          # or: bash scripts/build_examples.sh rust
    cd examples && gilfree bench --workload workloads_rust:EDIT_DISTANCE --quick

The rows: the pure-Python twin (serial, threads, processes), ``edit_distance_matrix(...,
threads=1)`` one task after another and in a ``ThreadPoolExecutor`` (the recipe), ``threads=N``
on gilfree's shared pool, and ``gilfree.Executor`` (a native task: the extension registers its
task form). There is no "holding the GIL" row: the extension has no such variant, and gilfree
cannot make another extension's function keep the GIL.
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt
from gilfree_rust_example import edit_distance_matrix

from gilfree.lab import Workload


def names(n: int) -> tuple[list[str]]:
    """The arguments of one task: ``n`` made-up names of 4 to 16 letters (the same every time)."""
    rng = random.Random(n)
    letters = "abcdefghijklmnopqrstuvwxyzéü"
    return ([("".join(rng.choice(letters) for _ in range(rng.randint(4, 16)))) for _ in range(n)],)


def edit_distance_matrix_py(strings: list[str]) -> npt.NDArray[np.uint32]:
    """The pure-Python twin: the textbook dynamic programme for every pair, one row at a time."""
    n = len(strings)
    out = np.zeros((n, n), dtype=np.uint32)
    for i in range(n):
        a = strings[i]
        for j in range(i + 1, n):
            b = strings[j]
            previous = list(range(len(b) + 1))
            for x, ca in enumerate(a, 1):
                current = [x]
                for y, cb in enumerate(b, 1):
                    current.append(min(previous[y] + 1, current[y - 1] + 1, previous[y - 1] + (ca != cb)))
                previous = current
            out[i, j] = out[j, i] = previous[-1]
    return out


EDIT_DISTANCE = Workload(
    "rust-edit_distance_matrix",
    edit_distance_matrix,
    names,
    100,
    python=edit_distance_matrix_py,
    takes_threads=True,
    title="the edit distances between 100 names of 4 to 16 letters (the Rust example)",
)
