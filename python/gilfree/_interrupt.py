"""Ctrl-C for calls made from any thread.

A gilfree call made from the main thread notices Ctrl-C by itself: while it waits for the native
pool it re-attaches every 20 ms to run ``check_signals()``, which runs Python's SIGINT handler and
raises ``KeyboardInterrupt``. ``check_signals()`` does nothing on other threads, so a call running
inside a ``ThreadPoolExecutor`` would keep computing after Ctrl-C, and ``with
ThreadPoolExecutor() as ex:`` would hang at exit waiting for it.

So gilfree chains a small SIGINT handler in front of Python's default one, at two levels. In C,
in front of the handler Python installed: it bumps the epoch the moment the signal arrives, so
native code that is not a gilfree call (a Cython ``nogil`` loop checking ``gilfree_interrupted()``,
even on the main thread) sees it too. In Python: it bumps a
process-wide *interrupt epoch* in the native engine (every call in flight, in every thread, stops
at its next chunk and raises ``KeyboardInterrupt``) and then calls
``signal.default_int_handler``, so the main thread gets its ``KeyboardInterrupt`` exactly as
before. The handler is installed at import only if Python's default handler is the current one and
gilfree is imported from the main thread; a program that installs its own SIGINT handler keeps it
(call :func:`interrupt` from it to get the same effect).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from gilfree import _native

__all__ = ["install_interrupt_handler", "interrupt"]


def interrupt() -> None:
    """Stop every gilfree call now in flight, in every thread.

    Each stops at its next chunk boundary and raises ``KeyboardInterrupt`` in the thread that made
    it. Calls started afterwards are unaffected. Safe to call from a signal handler.

    Example:
        >>> import numpy as np, gilfree
        >>> gilfree.interrupt()  # nothing is running: a no-op
        >>> gilfree.sum(np.ones(1_000_000))  # calls started afterwards are unaffected
        1000000.0
    """
    _native._interrupt()


def _chained_sigint(signum: int, frame: FrameType | None) -> None:
    # The C-level handler (below) already moved the epoch when the signal arrived; moving it again
    # now would also stop calls that started in between.
    if not _native._sigint_c_handler_active():
        _native._interrupt()
    signal.default_int_handler(signum, frame)


def install_interrupt_handler() -> bool:
    """Chain gilfree's SIGINT handler in front of Python's default one.

    Done automatically at import; call it again if you restored the default handler later.
    Returns True if gilfree's handler is in place afterwards. Does nothing (and returns False)
    off the main thread or when a non-default SIGINT handler is installed: that handler is the
    program's own, and it can call :func:`gilfree.interrupt` itself.

    Example:
        >>> import signal, threading, gilfree
        >>> on_main = threading.current_thread() is threading.main_thread()
        >>> gilfree.install_interrupt_handler() == (on_main and signal.getsignal(signal.SIGINT)
        ...     in (signal.default_int_handler, gilfree._interrupt._chained_sigint))
        True
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGINT)
    if current is not _chained_sigint:
        if current is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, _chained_sigint)
    # After signal.signal(), which (re)installs Python's C handler: ours goes in front of it.
    _native._install_sigint()
    return True
