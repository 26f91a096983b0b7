"""Where C and Cython extensions find gilfree's runtime API.

* C: ``include/gilfree.h`` in this package: the runtime table and its helpers
  (``gilfree_import``, ``gilfree_parallel_for``, ``gilfree_interrupted``, ...).
* Cython: ``runtime.pxd`` in this package (``from gilfree cimport runtime``), found by Cython on
  ``sys.path`` as NumPy's ``.pxd`` files are; it declares the header, so the C compiler still
  needs :func:`get_include` on its include path.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["get_include"]


def get_include() -> str:
    """The directory of ``gilfree.h``, the C API of gilfree's runtime, for extensions to compile
    against (like ``numpy.get_include()``).

    A C or Cython extension that includes the header runs its own GIL-free loops on gilfree's one
    shared pool, notices Ctrl-C from any thread and raises ``gilfree.KernelError``. In a
    setuptools build::

        Extension("mypkg._fast", ["src/mypkg/_fast.pyx"], include_dirs=[gilfree.get_include()])

    Cython code declares it with ``from gilfree cimport runtime`` (``gilfree/runtime.pxd``, found
    on ``sys.path``; no extra Cython include path needed). See ``examples/ext-cython``.

    Example:
        >>> import os, gilfree
        >>> os.path.isfile(os.path.join(gilfree.get_include(), "gilfree.h"))
        True
    """
    return str(Path(__file__).resolve().parent / "include")
