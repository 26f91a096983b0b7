"""Levenshtein distances over lists of str, GIL-free and parallel on gilfree's shared pool.

An example of your own native code on gilfree's runtime: a PyO3 extension built with the
``gilfree-pyo3`` crate (see ``examples/ext-rust/`` in gilfree). Its kernels release the GIL, run
on the same worker threads as gilfree's own kernels (``gilfree.set_num_threads`` sizes them for
everyone), stop on Ctrl-C from any thread, raise ``gilfree.KernelError`` for a panic, and run
natively as ``gilfree.Executor`` tasks.

>>> from gilfree_rust_example import edit_distance_matrix
>>> edit_distance_matrix(["kitten", "sitting", "mitten"]).tolist()
[[0, 3, 1], [3, 0, 3], [1, 3, 0]]
"""

from gilfree_rust_example._native import _panic_in_kernel as _panic_in_kernel  # the test hook
from gilfree_rust_example._native import edit_distance_matrix, edit_distance_pairs, runtime_linked

__all__ = ["edit_distance_matrix", "edit_distance_pairs", "runtime_linked"]
__version__ = "0.1.0"
