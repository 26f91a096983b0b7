"""The lab's peers: the same workloads compiled by Numba and by Cython, when they are installed.

``PEERS[name](workload, notify)`` gives a :class:`PeerImpl` for one workload, or raises
:class:`PeerUnavailable` with a one-line reason (the package is missing, no C compiler, ...): the
lab reports that peer as skipped and carries on. ``notify(message)`` is told before a long step
(a first compile). Every peer's results equal the gilfree kernel's under the workload's ``canon``
(``w.canon(peer) == w.canon(w.native(task, 1))``): the same formulas in the same order, no fast
math, no fused multiply-add.

* ``numba``: ``@njit(nogil=True)`` kernels, compiled once per process on first use;
  ``task_parallel`` is the same source compiled with ``parallel=True`` (``prange``) and run on
  ``numba.set_num_threads(threads)`` threads.
* ``cython``: ``cdef ... nogil`` bodies behind ``def`` wrappers that release the GIL, compiled once
  into a cache directory (see :mod:`gilfree.lab._peers_cython`); ``task_parallel`` is a ``prange``
  over OpenMP threads.

Example:
    >>> from gilfree.lab._peers import PEERS, PeerUnavailable
    >>> try:
    ...     peer = PEERS["numba"]("count_primes", lambda message: None)
    ... except PeerUnavailable as e:
    ...     reason = str(e)  # e.g. Numba is not installed
    ... else:
    ...     assert peer.task_nogil((100,)) == 25
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from gilfree.lab._workloads import WORKLOADS, Task

__all__ = ["PEERS", "PeerImpl", "PeerUnavailable"]

_INSTALL = "pip install 'gilfree[peers]'"


class PeerUnavailable(Exception):
    """A peer cannot run here; ``str(e)`` says why in one line."""


@dataclasses.dataclass(frozen=True)
class PeerImpl:
    """One peer's implementation of one workload.

    Attributes:
        name: ``"numba"`` or ``"cython"``.
        version: the peer's version.
        task_nogil: runs one task on the calling thread, releasing the GIL while it computes (what a
            ``ThreadPoolExecutor`` of N threads calls).
        task_parallel: ``task_parallel(task, threads)`` runs one task spread over ``threads``
            threads inside the peer (Numba ``prange``, Cython ``prange``), or None when the
            workload has no parallel version here (n-body is a chain of dependent steps).
            One call at a time: do not call it from several threads at once.
        setup_seconds: compile time spent getting this implementation (0.0 when it was compiled
            already, in this process or in the cache).
        parallel_note: why ``task_parallel`` is None, when it is.
    """

    name: str
    version: str
    task_nogil: Callable[[Task], Any]
    task_parallel: Callable[[Task, int], Any] | None
    setup_seconds: float
    parallel_note: str = ""


def _check_workload(workload: str) -> None:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")


def _import(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            raise PeerUnavailable(f"{what} is not installed ({_INSTALL})") from e
        raise PeerUnavailable(f"{what} cannot be imported: {e}") from e
    except Exception as e:  # a broken install (e.g. Numba against an unsupported NumPy)
        raise PeerUnavailable(f"{what} cannot be imported: {type(e).__name__}: {e}") from e


def load_numba(workload: str, notify: Callable[[str], None]) -> PeerImpl:
    """The Numba peer of ``workload`` (compiled on first use in this process)."""
    _check_workload(workload)
    _import("numba", "Numba")
    from gilfree.lab import _peers_numba

    if not _peers_numba.is_built(workload):
        notify(f"compiling the Numba peers of {workload} (first use in this process, a few seconds)")
    task_nogil, task_parallel, seconds = _peers_numba.build(workload)
    note = "" if task_parallel is not None else "serial by nature"
    return PeerImpl("numba", _peers_numba.version(), task_nogil, task_parallel, seconds, note)


TaskFn = Callable[[Task], Any]
ParallelFn = Callable[[Task, int], Any]


def _cython_tasks(workload: str, module: Any) -> tuple[TaskFn, ParallelFn | None]:
    from gilfree.lab import _workloads

    def check_threads(threads: int) -> int:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        return threads

    if workload == "mandelbrot":

        def counts(task: Task, threads: int) -> np.ndarray:
            width, height = task[0], task[1]
            raw = module.mandelbrot(*task, threads=threads)
            return np.frombuffer(raw, dtype=np.uint16).reshape(height, width)

        return (lambda task: counts(task, 0)), (lambda task, n: counts(task, check_threads(n)))
    if workload == "count_primes":
        return (
            lambda task: int(module.count_primes(task[0])),
            lambda task, n: int(module.count_primes(task[0], check_threads(n))),
        )
    if workload == "spectral_norm":
        return (
            lambda task: float(module.spectral_norm(task[0])),
            lambda task, n: float(module.spectral_norm(task[0], check_threads(n))),
        )
    if workload == "nbody":

        def nbody(task: Task) -> tuple[float, float]:
            before, after = module.nbody(
                task[0], _workloads._BODIES, _workloads._SOLAR_MASS, _workloads._DAYS_PER_YEAR
            )
            return float(before), float(after)

        return nbody, None

    def data(task: Task) -> np.ndarray:
        length, offset = task
        out: np.ndarray = _workloads._sum_data(length)[offset : offset + length]
        return out

    return (
        lambda task: int(module.sum_int64(data(task))),
        lambda task, n: int(module.sum_int64(data(task), check_threads(n))),
    )


def load_cython(workload: str, notify: Callable[[str], None]) -> PeerImpl:
    """The Cython peer of ``workload`` (compiled into the cache directory on first use)."""
    _check_workload(workload)
    cython = _import("Cython", "Cython")
    version = str(getattr(cython, "__version__", "?"))
    if importlib.util.find_spec("setuptools") is None:  # the build runs setuptools' build_ext
        raise PeerUnavailable(f"setuptools is not installed, needed to build the Cython peers ({_INSTALL})")
    from gilfree.lab import _peers_cython

    build = _peers_cython.load(version, notify)
    task_nogil, task_parallel = _cython_tasks(workload, build.module)
    note = "serial by nature" if task_parallel is None else ""
    if task_parallel is not None and not build.openmp:
        task_parallel, note = None, f"prange skipped: {build.openmp_error}"
    return PeerImpl("cython", version, task_nogil, task_parallel, build.seconds, note)


#: The peers by name: ``PEERS[name](workload, notify)`` -> :class:`PeerImpl`, or raises
#: :class:`PeerUnavailable`.
PEERS: dict[str, Callable[[str, Callable[[str], None]], PeerImpl]] = {
    "numba": load_numba,
    "cython": load_cython,
}
