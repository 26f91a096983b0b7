"""Type stubs for the compiled module ``gilfree_rust_example._native`` (src/lib.rs)."""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "_edit_distance_matrix_task",
    "_edit_distance_pairs_task",
    "_panic_in_kernel",
    "_panic_in_kernel_task",
    "edit_distance_matrix",
    "edit_distance_pairs",
    "runtime_linked",
]

def edit_distance_matrix(
    strings: Sequence[str],
    *,
    threads: int | None = None,
    progress: bool | Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.uint32]:
    """The matrix of Levenshtein distances between every two strings.

    ``out[i, j]`` is the least number of single-character insertions, deletions and
    substitutions that turn ``strings[i]`` into ``strings[j]``, counting Unicode code points.
    Symmetric, zero diagonal, dtype uint32, shape ``(len(strings), len(strings))``. GIL released,
    on gilfree's shared pool; Ctrl-C stops it promptly; the same result at any thread count.
    ``progress=True`` draws a bar on stderr (a terminal's), a callable gets ``(done, total)``.

    >>> edit_distance_matrix(["kitten", "sitting", "mitten"]).tolist()
    [[0, 3, 1], [3, 0, 3], [1, 3, 0]]
    """

def edit_distance_pairs(
    a: Sequence[str], b: Sequence[str], *, threads: int | None = None
) -> npt.NDArray[np.uint32]:
    """The Levenshtein distance between ``a[i]`` and ``b[i]`` for every ``i`` (uint32, ``(len(a),)``).

    >>> edit_distance_pairs(["kitten", "flaw", ""], ["sitting", "lawn", "abc"]).tolist()
    [3, 2, 3]
    """

def runtime_linked() -> bool:
    """True when the extension runs on gilfree's shared runtime (gilfree installed and linked)."""

def _panic_in_kernel(*, threads: int | None = None) -> None:
    """Test hook: panics inside the kernel; raises ``gilfree.KernelError``, the pool keeps working."""

def _edit_distance_matrix_task(strings: Sequence[str], *, threads: int | None = None) -> object:
    """The ``gilfree.Executor`` task form of :func:`edit_distance_matrix`."""

def _edit_distance_pairs_task(a: Sequence[str], b: Sequence[str], *, threads: int | None = None) -> object:
    """The ``gilfree.Executor`` task form of :func:`edit_distance_pairs`."""

def _panic_in_kernel_task(*, threads: int | None = None) -> object:
    """The ``gilfree.Executor`` task form of :func:`_panic_in_kernel`."""
