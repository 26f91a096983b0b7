"""gilfree: use every core for CPU-bound Python.

GIL-free Rust kernels on one shared native thread pool. Every kernel validates its arguments with
the GIL held, then releases the GIL for the whole computation; it is safe to call from any number
of Python threads, parallel by default (``threads=None``), single-threaded on request
(``threads=1``, for your own ``ThreadPoolExecutor``), deterministic whatever the thread count, and
stops on Ctrl-C.

Example:
    >>> import numpy as np, gilfree
    >>> a = np.arange(10_000_000, dtype=np.float64)
    >>> gilfree.sum(a) == float(a.sum())
    True
    >>> gilfree.argmax(a)
    9999999
"""

from __future__ import annotations

import atexit as _atexit

from gilfree import _native as _native_module
from gilfree._executor import Executor, register_task
from gilfree._include import get_include
from gilfree._info import info
from gilfree._interrupt import install_interrupt_handler, interrupt
from gilfree._native import (
    Accumulator,
    AtomicFloat,
    AtomicInt,
    KernelError,
    __version__,
    argmax,
    argmin,
    bincount,
    count_primes,
    fannkuch_redux,
    get_num_threads,
    hash_files,
    hash_many,
    histogram,
    mandelbrot,
    mean,
    moments,
    monte_carlo_pi,
    nbody,
    pairwise_distances,
    primes,
    set_num_threads,
    sort,
    spectral_norm,
    std,
    var,
    word_count,
)

# gilfree.sum, gilfree.min, gilfree.max: public, but kept out of __all__ (below).
from gilfree._native import max as max
from gilfree._native import min as min
from gilfree._native import sum as sum
from gilfree._scaffold import get_crate_dir
from gilfree._threadpoolctl import register as _register_threadpoolctl
from gilfree.lab import probe

# `from gilfree import *` must not shadow the builtins: gilfree.sum, gilfree.min and gilfree.max
# stay out of __all__, as NumPy keeps np.min, np.max, np.sum... out of its own (use them qualified).
__all__ = [
    "Accumulator",
    "AtomicFloat",
    "AtomicInt",
    "Executor",
    "KernelError",
    "__version__",
    "argmax",
    "argmin",
    "bincount",
    "count_primes",
    "fannkuch_redux",
    "get_crate_dir",
    "get_include",
    "get_num_threads",
    "hash_files",
    "hash_many",
    "histogram",
    "info",
    "install_interrupt_handler",
    "interrupt",
    "mandelbrot",
    "mean",
    "moments",
    "monte_carlo_pi",
    "nbody",
    "pairwise_distances",
    "primes",
    "probe",
    "register_task",
    "set_num_threads",
    "sort",
    "spectral_norm",
    "std",
    "var",
    "word_count",
]

install_interrupt_handler()
# At interpreter exit, cancel calls still running in daemon threads and keep those threads from
# re-taking the GIL (CPython would end them with pthread_exit, which aborts through Rust frames).
_atexit.register(_native_module._at_exit)
# threadpoolctl, when installed, lists and limits gilfree's pool (gilfree._threadpoolctl).
_register_threadpoolctl()
