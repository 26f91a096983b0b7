"""Counting the shared pool's worker threads (Linux: ``/proc/self/task/*/comm``), in this process
and in child processes (``CHILD_IMPORT`` puts the same functions in a child script)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

__all__ = ["CHILD_IMPORT", "pool_threads", "settled_pool_threads"]


def pool_threads() -> int:
    """The live threads of this process named like the shared pool's workers (``gilfree-<i>``)."""
    n = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8") as f:
                name = f.read().strip()
        except OSError:  # the thread exited between the listing and the read
            continue
        n += bool(re.fullmatch(r"gilfree-\d+", name))
    return n


def settled_pool_threads(expected: int, within_s: float = 10.0) -> int:
    """Waits (at most ``within_s``) until exactly ``expected`` pool threads have been alive for
    five reads in a row (50 ms), and returns the last count: workers name themselves once they
    run, and a replaced pool's exit asynchronously, so while one pool replaces another the count
    can pass through ``expected`` on its way (one old thread left, one new not yet named). A hang
    detector, not a timing."""
    deadline = time.monotonic() + within_s
    streak = 0
    while True:
        n = pool_threads()
        streak = streak + 1 if n == expected else 0
        if streak >= 5 or time.monotonic() >= deadline:
            return n
        time.sleep(0.01)


#: Prepended to child scripts: ``pool_workers()`` and ``settled_workers(expected)`` there.
CHILD_IMPORT = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
    "from _pool import pool_threads as pool_workers, settled_pool_threads as settled_workers\n"
)
