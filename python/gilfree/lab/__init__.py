"""The GIL lab: measure when GIL-free threading pays, on this machine.

``gilfree bench`` runs the same work under every strategy (pure Python in threads and processes,
native code holding the GIL, native code that takes it back, GIL-free kernels in a
``ThreadPoolExecutor``, gilfree's pool, Numba and Cython when installed) and reports time, speedup,
efficiency, GIL-hold share and break-even task size. ``gilfree probe`` asks the same of your code,
and a :class:`Workload` puts your own function into ``gilfree bench``.
"""

from __future__ import annotations

from gilfree.lab._bench import (
    SCHEMA,
    BenchInterrupted,
    BenchResult,
    Run,
    StrategyResult,
    Sweep,
    SweepPoint,
    WorkloadResult,
    bench,
)
from gilfree.lab._gil import GilMonitor, GilReading
from gilfree.lab._probe import ProbeResult, probe
from gilfree.lab._user import Workload

__all__ = [
    "SCHEMA",
    "BenchInterrupted",
    "BenchResult",
    "GilMonitor",
    "GilReading",
    "ProbeResult",
    "Run",
    "StrategyResult",
    "Sweep",
    "SweepPoint",
    "Workload",
    "WorkloadResult",
    "bench",
    "probe",
]
