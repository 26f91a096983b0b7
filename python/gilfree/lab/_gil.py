"""The GIL-hold share: how much of a run the GIL was held by somebody else, measured.

A heartbeat thread (native, so that its timestamps are taken outside the GIL) sleeps a short
interval, notes when it woke, takes the GIL, notes when it got it, and lets go. Waiting time over
wall time is the share of the run during which a Python thread that wanted the GIL could not have
it. Pure-Python work reads near 1 (every beat waits out the interpreter's switch interval), a
GIL-free kernel reads near 0, and so does everything on a free-threaded interpreter.
"""

from __future__ import annotations

import dataclasses
import sys
from types import TracebackType
from typing import Any

from gilfree._native import _lab


def gil_enabled() -> bool:
    """True unless this is a free-threaded interpreter running with the GIL disabled."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


#: Seconds the heartbeat sleeps between beats. Short against CPython's 5 ms switch interval, so a
#: held GIL is seen within a fraction of it; long enough that the beats cost next to nothing.
DEFAULT_INTERVAL = 0.0002


@dataclasses.dataclass(frozen=True)
class GilReading:
    """What a :class:`GilMonitor` saw.

    Attributes:
        wall: seconds the monitor ran.
        waited: seconds the heartbeat spent waiting for the GIL.
        longest: the longest single wait, in seconds.
        beats: how many times the heartbeat took the GIL.
    """

    wall: float
    waited: float
    longest: float
    beats: int

    @property
    def share(self) -> float:
        """``waited / wall`` clipped to [0, 1]: the GIL-hold share."""
        if self.wall <= 0.0:
            return 0.0
        return min(1.0, max(0.0, self.waited / self.wall))


class GilMonitor:
    """Measures the GIL-hold share of whatever runs inside ``with``.

    Example:
        >>> import gilfree
        >>> from gilfree.lab import GilMonitor
        >>> with GilMonitor() as gil:
        ...     _ = gilfree.mandelbrot(800, 600, threads=1)  # GIL released throughout
        >>> gil.reading.share < 0.5
        True
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self._heartbeat: Any = None  # a running _lab.Heartbeat
        self._reading: GilReading | None = None

    def __enter__(self) -> GilMonitor:
        if self._heartbeat is not None:
            raise RuntimeError("this GilMonitor is already running")
        self._reading = None
        self._heartbeat = _lab.Heartbeat(self.interval)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            wall, waited, longest, beats = heartbeat.stop()
            if not gil_enabled():
                # No GIL, so nothing held it: what the heartbeat waited for was a core or a
                # stop-the-world pause of the free-threaded runtime, not a GIL.
                waited = longest = 0.0
            self._reading = GilReading(wall, waited, longest, beats)

    @property
    def reading(self) -> GilReading:
        """The reading of the last completed ``with`` block."""
        if self._reading is None:
            raise RuntimeError("no reading yet: use the monitor in a `with` block first")
        return self._reading
