"""gilfree's pool in threadpoolctl: ``threadpool_info()`` lists it, ``threadpool_limits`` limits it.

`threadpoolctl <https://github.com/joblib/threadpoolctl>`_ finds the thread pools of a process by
scanning its loaded shared objects for known file names, then asks a *controller* class for each
match. ``import gilfree`` registers :class:`GilfreeController` (threadpoolctl >= 3.2's
``register``) when threadpoolctl is installed; without it, nothing happens.

* ``user_api`` and ``internal_api`` are ``"gilfree"``: the pool is neither BLAS nor OpenMP, and
  code that limits ``user_api="blas"`` or ``"openmp"`` around a BLAS or OpenMP call means those
  libraries. ``threadpool_limits(n)`` (no ``user_api``) limits every pool, gilfree's included;
  ``threadpool_limits(n, user_api="gilfree")`` only gilfree's.
* The match: the extension's file name starts with ``_native.``, a common name, so the controller
  also requires the exported symbol ``gilfree_threadpoolctl_num_threads``, which only gilfree's
  extension has; ``num_threads`` is read through it (``gilfree.get_num_threads()``).
* Limits are set with ``gilfree.set_num_threads``, for the whole process (as for BLAS). Leaving a
  ``threadpool_limits`` block puts back the previous *setting*, not just the number: when the pool
  was sized by the environment or the core count before, it is again afterwards
  (``set_num_threads(None)``), instead of being pinned to that number.

Example:
    >>> import gilfree
    >>> from threadpoolctl import threadpool_info, threadpool_limits
    >>> [pool] = [p for p in threadpool_info() if p["user_api"] == "gilfree"]
    >>> pool["num_threads"] == gilfree.get_num_threads()
    True
    >>> with threadpool_limits(1):
    ...     gilfree.get_num_threads()
    1
    >>> gilfree.get_num_threads() == pool["num_threads"]
    True
"""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass
from typing import Any

from gilfree import _native
from gilfree._info import num_threads_setting

SYMBOL = "gilfree_threadpoolctl_num_threads"


@dataclass
class _Memo:
    """What a controller replaced: the environment's size (if no ``set_num_threads(n)`` decided
    when it first set a limit) and the limit it set last."""

    implicit: int | None = None
    last_set: int | None = None


_memo: weakref.WeakKeyDictionary[Any, _Memo] = weakref.WeakKeyDictionary()


def _controller_class() -> type[Any]:
    from threadpoolctl import LibController

    class GilfreeController(LibController):  # type: ignore[misc]
        """threadpoolctl's view of gilfree's shared pool (see :mod:`gilfree._threadpoolctl`)."""

        user_api = "gilfree"
        internal_api = "gilfree"
        filename_prefixes = ("_native.",)
        check_symbols = (SYMBOL,)

        def get_num_threads(self) -> int:
            func = getattr(self.dynlib, SYMBOL)
            func.restype = ctypes.c_size_t
            func.argtypes = []
            return int(func())

        def set_num_threads(self, num_threads: int) -> None:
            # Not instance attributes: threadpoolctl's info() lists those.
            memo = _memo.setdefault(self, _Memo())
            if num_threads_setting() is None:
                # The environment's size, seen while no set_num_threads(n) decided.
                memo.implicit = _native.get_num_threads()
                if num_threads == memo.implicit:
                    # Already that size: leave it to the environment. threadpoolctl "restores"
                    # every pool when a limit on another API (user_api="blas") ends.
                    return
            elif (
                memo.implicit is not None
                and num_threads == memo.implicit
                and _native.get_num_threads() == memo.last_set
            ):
                # Back to the number this controller found the pool at: back to the setting too.
                _native.set_num_threads(None)
                memo.implicit = memo.last_set = None
                return
            _native.set_num_threads(num_threads)
            memo.last_set = num_threads

        def get_version(self) -> str:
            return _native.__version__

    return GilfreeController


def register() -> bool:
    """Registers gilfree's controller with threadpoolctl, if threadpoolctl (>= 3.2) is installed.

    Called by ``import gilfree``; calling it again does nothing. Returns True if the controller
    is registered.
    """
    global _registered
    if _registered:
        return True
    try:
        import threadpoolctl
    except ImportError:
        return False
    reg = getattr(threadpoolctl, "register", None)
    if reg is None:  # threadpoolctl < 3.2 has no register()
        return False
    reg(_controller_class())
    _registered = True
    return True


_registered = False
