"""The bar of ``progress=True``: rich if installed, else tqdm, else a plain ``\\r`` line on stderr.

The native side (``gilfree_pyo3::Progress``) calls :func:`make_bar` at a call's first progress
report, from the calling thread, then ``update(done, total)`` at most every 100 ms and once more
with ``(total, total)`` when the call succeeds, and ``close()`` when the call returns, raises or
is interrupted. Nothing is drawn when stderr is not a terminal: :func:`make_bar` returns None.

Example:
    >>> import io
    >>> from gilfree._progress import PlainBar
    >>> out = io.StringIO()
    >>> bar = PlainBar("count_primes", out, width=10)
    >>> bar.update(370, 1000)
    >>> bar.update(1000, 1000)
    >>> bar.close()
    >>> out.getvalue().split("\\r")[-1]
    'count_primes: 100% [==========] 1000/1000\\n'
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any, Protocol, TextIO

__all__ = ["Bar", "PlainBar", "Reporter", "make_bar"]


class Bar(Protocol):
    """What the native side calls: ``update(done, total)`` and ``close()``."""

    def update(self, done: int, total: int) -> None: ...

    def close(self) -> None: ...


class PlainBar:
    """``name: 37% [=====     ] 370/1000``, rewritten in place with ``\\r``; a newline on close.

    Example:
        >>> import io
        >>> from gilfree._progress import PlainBar
        >>> out = io.StringIO()
        >>> bar = PlainBar("sum", out, width=4)
        >>> bar.update(1, 4)
        >>> out.getvalue()
        '\\rsum: 25% [=   ] 1/4'
        >>> bar.close(); bar.close()  # idempotent
        >>> out.getvalue().endswith("\\n")
        True
    """

    def __init__(self, name: str, file: TextIO, width: int = 30) -> None:
        self._name = name
        self._file = file
        self._width = width
        self._drawn = False
        self._closed = False

    def update(self, done: int, total: int) -> None:
        """Redraws the line for ``done`` of ``total`` tasks."""
        if self._closed:
            return
        frac = done / total if total > 0 else 1.0
        frac = min(max(frac, 0.0), 1.0)
        filled = int(frac * self._width)
        bar = "=" * filled + " " * (self._width - filled)
        self._file.write(f"\r{self._name}: {int(frac * 100)}% [{bar}] {done}/{total}")
        self._file.flush()
        self._drawn = True

    def close(self) -> None:
        """Ends the line (if one was drawn)."""
        if self._closed:
            return
        self._closed = True
        if self._drawn:
            self._file.write("\n")
            self._file.flush()


class _RichBar:
    def __init__(self, name: str, file: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            console=Console(file=file),
            auto_refresh=False,
        )
        self._task = self._progress.add_task(name, total=None)
        self._progress.start()
        self._closed = False

    def update(self, done: int, total: int) -> None:
        if not self._closed:
            self._progress.update(self._task, completed=done, total=total)
            self._progress.refresh()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._progress.stop()


class _TqdmBar:
    def __init__(self, name: str, file: TextIO) -> None:
        tqdm = importlib.import_module("tqdm").tqdm  # untyped: no stubs needed

        self._bar: Any = tqdm(total=None, desc=name, file=file, unit="task", leave=True)
        self._closed = False

    def update(self, done: int, total: int) -> None:
        if not self._closed:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bar.close()


def _backend() -> str:
    """ "rich" if importable, else "tqdm" if importable, else "plain"."""
    for name, module in (("rich", "rich.progress"), ("tqdm", "tqdm")):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return name
    return "plain"


def make_bar(name: str, file: TextIO | None = None) -> Bar | None:
    """A bar named ``name`` on ``file`` (default ``sys.stderr``), or None if that is no terminal.

    rich if importable, else tqdm if importable, else :class:`PlainBar`.

    Example:
        >>> import io
        >>> from gilfree._progress import make_bar
        >>> make_bar("sum", io.StringIO()) is None  # not a terminal: nothing to draw
        True
    """
    out = sys.stderr if file is None else file
    try:
        tty = out is not None and out.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        tty = False
    if not tty or out is None:
        return None
    kind = _backend()
    if kind == "rich":
        return _RichBar(name, out)
    if kind == "tqdm":
        return _TqdmBar(name, out)
    return PlainBar(name, out)


#: The shortest time between two reports (the final one is always made): as on the native side.
REPORT_INTERVAL_S = 0.1


class Reporter:
    """``progress=`` on the Python side (``gilfree.Executor.map``): the same contract as a native
    call's. A callable gets ``(done, total)`` at most every 100 ms and a final ``(total, total)``
    on success; ``True`` draws a bar on stderr if it is a terminal; the bar is closed on
    :meth:`close` whatever happened.

    Example:
        >>> from gilfree._progress import Reporter
        >>> seen = []
        >>> r = Reporter.of(lambda done, total: seen.append((done, total)), "map")
        >>> r.report(1, 3)  # the first report waits for the interval (not drawn for short work)
        >>> r.finish(3)
        >>> r.close()
        >>> seen
        [(3, 3)]
        >>> Reporter.of(None, "map") is None
        True
        >>> Reporter.of(3, "map")
        Traceback (most recent call last):
        ...
        TypeError: progress must be None, a bool, or a callable taking (done, total), got int
    """

    def __init__(self, name: str, callback: Any | None) -> None:
        self._name = name
        self._callback = callback
        self._bar: Bar | None = None
        self._made = False
        self._last = time.monotonic()

    @classmethod
    def of(cls, progress: object, name: str) -> Reporter | None:
        """Parses ``progress=``: None/False → None, True → a bar, a callable → it; else TypeError."""
        if progress is None or progress is False:
            return None
        if progress is True:
            return cls(name, None)
        if callable(progress):
            return cls(name, progress)
        raise TypeError(
            "progress must be None, a bool, or a callable taking (done, total), "
            f"got {type(progress).__name__}"
        )

    def report(self, done: int, total: int) -> None:
        """A report, made if 100 ms passed since the last one."""
        if time.monotonic() - self._last >= REPORT_INTERVAL_S:
            self._send(done, total)

    def finish(self, total: int) -> None:
        """The final ``(total, total)``."""
        self._send(total, total)

    def _send(self, done: int, total: int) -> None:
        self._last = time.monotonic()
        if self._callback is not None:
            self._callback(done, total)
            return
        if not self._made:
            self._made = True
            self._bar = make_bar(self._name)
        if self._bar is not None:
            self._bar.update(done, total)

    def close(self) -> None:
        """Closes the bar, if one was drawn."""
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.close()
