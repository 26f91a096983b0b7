"""The lab's strategies: the same tasks, run every way one might run them from Python.

A strategy is a name, a one-line description and a ``prepare`` function that, given the workload,
returns a *runner*: ``runner(tasks, threads, executor) -> results``. ``prepare`` raises
:class:`Skip` when the strategy does not apply here (no Numba, a serial kernel, ...); the reason is
reported, never an error. Strategies marked ``executor=True`` get a ``ThreadPoolExecutor(threads)``
that the lab creates, and starts all ``threads`` threads of, outside the timed region: the recipe
keeps one executor for the life of the program, so its start-up is not the work's cost.
``python-processes`` is the exception: it starts its process pool inside the timed region, since
paying for start-up (and pickling) is the point of showing it.

A strategy whose name says what the GIL does (``native-holding-gil``, ``native-nogil-executor``,
...) declares it in ``claims_gil``; the lab compares that claim with the GIL-hold share it
measures and says so when they disagree (a user's function that does not release the GIL, a
"holding" variant that does not hold it).

Adding a strategy is one :func:`register` call:

    >>> from gilfree.lab._strategies import STRATEGIES, Strategy, register
    >>> def _prepare(setup):
    ...     return lambda tasks, threads, executor: [setup.workload.native(t, threads) for t in tasks]
    >>> s = register(Strategy("demo-pool", "the kernel with threads=N, again", _prepare))
    >>> "demo-pool" in STRATEGIES
    True
    >>> del STRATEGIES["demo-pool"]
"""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, Protocol

import gilfree
from gilfree._info import num_threads_setting
from gilfree._native import _lab
from gilfree.lab._workloads import LabWorkload, Task

__all__ = [
    "PROCESS_START_METHOD",
    "STRATEGIES",
    "PeerImpl",
    "Runner",
    "Setup",
    "Skip",
    "Strategy",
    "register",
]

#: How python-processes starts its workers. Not "fork": the lab's process has threads (the
#: heartbeat, executors, gilfree's pool), and forking a threaded process can deadlock the child.
#: "spawn" behaves the same on every platform (each worker is a fresh interpreter that imports
#: gilfree and numpy: that start-up is part of the strategy's measured cost).
PROCESS_START_METHOD = "spawn"

Runner = Callable[[Sequence[Task], int, "ThreadPoolExecutor | None"], list[Any]]
Notify = Callable[[str], None]


class Skip(Exception):
    """Raised by a strategy's ``prepare``: the strategy does not apply, for the reason given."""


class PeerImpl(Protocol):
    """What ``gilfree.lab._peers`` returns for one peer (Numba, Cython) and one workload."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def task_nogil(self) -> Callable[[Task], Any]: ...
    @property
    def task_parallel(self) -> Callable[[Task, int], Any] | None: ...
    @property
    def setup_seconds(self) -> float: ...


class Setup:
    """What ``prepare`` gets: the workload, a way to print a note (``notify``), and the peers,
    loaded at most once per workload and shared by the strategies that use them."""

    def __init__(self, workload: LabWorkload, notify: Notify) -> None:
        self.workload = workload
        self.notify = notify
        self._peers: dict[str, PeerImpl | Skip] = {}

    def peer(self, name: str) -> PeerImpl:
        """The peer ``name`` ("numba", "cython") for this workload; raises :class:`Skip` with the
        reason when it is not available (not installed, no compiler, no lab support yet)."""
        if name not in self._peers:
            self._peers[name] = _load_peer(name, self.workload.name, self.notify)
        found = self._peers[name]
        if isinstance(found, Skip):
            raise found
        return found


def _load_peer(name: str, workload: str, notify: Notify) -> PeerImpl | Skip:
    try:
        peers = importlib.import_module("gilfree.lab._peers")
    except ModuleNotFoundError as exc:
        if exc.name == "gilfree.lab._peers":
            return Skip("this build of gilfree has no gilfree.lab._peers module")
        return Skip(f"gilfree.lab._peers failed to import: {exc}")
    except ImportError as exc:
        return Skip(f"gilfree.lab._peers failed to import: {exc}")
    factory = peers.PEERS.get(name)
    if factory is None:
        return Skip(f"no {name} peer in gilfree.lab._peers")
    try:
        impl: PeerImpl = factory(workload, notify)
    except peers.PeerUnavailable as exc:
        return Skip(str(exc))
    except Exception as exc:  # a peer that fails to build here is skipped, with the reason
        return Skip(f"{name} failed to load: {type(exc).__name__}: {exc}")
    return impl


@dataclasses.dataclass(frozen=True)
class Strategy:
    """One way of running a workload's tasks.

    Attributes:
        name: the ``--strategies`` name.
        description: one line, shown by ``gilfree bench --list`` and in the JSON.
        prepare: ``prepare(setup) -> runner``; raises :class:`Skip` when the strategy does not
            apply. ``runner(tasks, threads, executor)`` runs ``tasks`` and returns their results
            in order.
        python: runs the pure-Python twin (slow: the lab gives it the short task list).
        serial: one thread only (measured at threads=1 only).
        executor: the runner wants a started ``ThreadPoolExecutor(threads)`` (else it gets None).
        warm_up: run the first tasks once, untimed, before the repeats.
        peer: the peer it uses ("numba", "cython"), whose version the lab reports.
        claims_gil: what the name says about the GIL: ``"held"`` (threads take turns),
            ``"released"``, or None (no claim). Checked against the measured GIL-hold share.
    """

    name: str
    description: str
    prepare: Callable[[Setup], Runner]
    python: bool = False
    serial: bool = False
    executor: bool = False
    warm_up: bool = True
    peer: str | None = None
    claims_gil: Literal["held", "released"] | None = None


#: Every strategy, in the order the lab runs and reports them.
STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` to :data:`STRATEGIES` (after the ones already there) and return it."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"a strategy named {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


def _in_executor(func: Callable[[Task], Any]) -> Runner:
    def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
        assert executor is not None
        return list(executor.map(func, tasks))

    return run


# --- pure Python -------------------------------------------------------------------------------


def _twin(setup: Setup) -> Callable[[Task], Any]:
    python = setup.workload.python
    if python is None:
        raise Skip(f"the {setup.workload.name} workload has no pure-Python twin")
    return python


def _python_serial(setup: Setup) -> Runner:
    python = _twin(setup)

    def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
        return [python(t) for t in tasks]

    return run


def _python_threads(setup: Setup) -> Runner:
    return _in_executor(_twin(setup))


def _ignore_sigint() -> None:
    # In the workers: Ctrl-C is the parent's to handle (it stops the pool); a worker that took
    # it too would print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _python_processes(setup: Setup) -> Runner:
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if getattr(main, "__spec__", None) is None and main_file is not None and not os.path.exists(main_file):
        # "spawn" re-imports the main module in every worker, which cannot be done from stdin.
        raise Skip(f"process workers cannot re-import __main__ ({main_file})")
    python = _twin(setup)
    context = multiprocessing.get_context(PROCESS_START_METHOD)

    def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
        pool = ProcessPoolExecutor(threads, mp_context=context, initializer=_ignore_sigint)
        try:
            results = list(pool.map(python, tasks))
        except BaseException:
            # Ctrl-C (or a failure): drop what is queued and stop the workers now rather than
            # after their current task.
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            raise
        pool.shutdown(wait=True)
        return results

    return run


# --- the native kernel -------------------------------------------------------------------------


def _native_mode(mode: str) -> Callable[[Setup], Runner]:
    def prepare(setup: Setup) -> Runner:
        variants = setup.workload.gil_variants
        if variants is not None:
            # A user's function: _lab.call's modes act on gilfree's kernels only, so the row runs
            # the variant the user gave, or does not run.
            variant = variants.get(mode)
            if variant is None:
                raise Skip(f"no variant of {setup.workload.name} for this mode")
            return _in_executor(variant)
        native = setup.workload.native

        def one(task: Task) -> Any:
            return _lab.call(mode, native, task, 1)

        return _in_executor(one)

    return prepare


def _native_serial(setup: Setup) -> Runner:
    native = setup.workload.native

    def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
        return [native(t, 1) for t in tasks]

    return run


def _native_nogil_executor(setup: Setup) -> Runner:
    native = setup.workload.native

    def one(task: Task) -> Any:
        return native(task, 1)

    return _in_executor(one)


def _native_pool(setup: Setup) -> Runner:
    if not setup.workload.pool:
        raise Skip(f"the {setup.workload.name} kernel is serial: it has no threads= to give the pool")
    native = setup.workload.native

    def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
        return [native(t, threads) for t in tasks]

    return run


def _gilfree_executor(setup: Setup) -> Runner:
    kernel_call = setup.workload.kernel_call
    if kernel_call is None:
        raise Skip(f"the {setup.workload.name} workload has no single kernel call to submit")

    def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
        # The executor shares gilfree's one pool: N threads means a pool of N for this run; a
        # callable without a native task form runs on the executor's Python threads, N of them.
        # Afterwards the previous *setting* is back: None (the environment decides) unless
        # set_num_threads(n) had decided.
        before = num_threads_setting()
        gilfree.set_num_threads(threads)
        try:
            with gilfree.Executor(max_workers=threads) as ex:
                futures = [ex.submit(fn, *args, **kwargs) for fn, args, kwargs in map(kernel_call, tasks)]
                return [f.result() for f in futures]
        finally:
            gilfree.set_num_threads(before)

    return run


# --- peers: Numba and Cython -------------------------------------------------------------------


def _peer_nogil(peer: str) -> Callable[[Setup], Runner]:
    def prepare(setup: Setup) -> Runner:
        return _in_executor(setup.peer(peer).task_nogil)

    return prepare


def _peer_parallel(peer: str) -> Callable[[Setup], Runner]:
    def prepare(setup: Setup) -> Runner:
        parallel = setup.peer(peer).task_parallel
        if parallel is None:
            raise Skip(f"the {peer} peer has no parallel version of {setup.workload.name}")

        def run(tasks: Sequence[Task], threads: int, executor: ThreadPoolExecutor | None) -> list[Any]:
            return [parallel(t, threads) for t in tasks]

        return run

    return prepare


for _strategy in (
    Strategy(
        "python-serial",
        "the pure-Python twin, one task after another on one thread",
        _python_serial,
        python=True,
        serial=True,
    ),
    Strategy(
        "python-threads",
        "the pure-Python twin in a ThreadPoolExecutor(N): the GIL lets one run at a time",
        _python_threads,
        python=True,
        executor=True,
        claims_gil="held",
    ),
    Strategy(
        "python-processes",
        f"the pure-Python twin in a ProcessPoolExecutor(N) ({PROCESS_START_METHOD}), "
        "started inside the timing",
        _python_processes,
        python=True,
        warm_up=False,
    ),
    Strategy(
        "native-serial",
        "the kernel with threads=1, one task after another on the calling thread",
        _native_serial,
        serial=True,
    ),
    Strategy(
        "native-holding-gil",
        "the kernel built to keep the GIL (threads=1) in a ThreadPoolExecutor(N)",
        _native_mode("hold"),
        executor=True,
        claims_gil="held",
    ),
    Strategy(
        "native-reacquire",
        "the kernel that releases the GIL but takes it back around its work (`with gil:`), "
        "in a ThreadPoolExecutor(N)",
        _native_mode("reacquire"),
        executor=True,
        claims_gil="held",
    ),
    Strategy(
        "native-nogil-executor",
        "the recipe: the GIL-free kernel with threads=1, one task per job, in a ThreadPoolExecutor(N)",
        _native_nogil_executor,
        executor=True,
        claims_gil="released",
    ),
    Strategy(
        "native-pool",
        "the kernel with threads=N on gilfree's shared pool, one task after another",
        _native_pool,
    ),
    Strategy(
        "gilfree-executor",
        "gilfree.Executor on a pool of N: every task a native task, no Python thread per task",
        _gilfree_executor,
    ),
    Strategy(
        "numba-nogil-executor",
        "@njit(nogil=True), one task per job, in a ThreadPoolExecutor(N)",
        _peer_nogil("numba"),
        executor=True,
        peer="numba",
    ),
    Strategy(
        "numba-parallel",
        "@njit(parallel=True) with N threads, one task after another",
        _peer_parallel("numba"),
        peer="numba",
    ),
    Strategy(
        "cython-nogil-executor",
        "a Cython nogil function, one task per job, in a ThreadPoolExecutor(N)",
        _peer_nogil("cython"),
        executor=True,
        peer="cython",
    ),
    Strategy(
        "cython-prange",
        "a Cython prange loop on N threads, one task after another",
        _peer_parallel("cython"),
        peer="cython",
    ),
):
    register(_strategy)
del _strategy
