"""Your own function in the GIL lab: :class:`Workload` puts it into ``gilfree bench``.

The lab's own workloads pair a gilfree kernel with a pure-Python twin. A :class:`Workload` does
the same for any callable: a native function that releases the GIL (a Rust or Cython extension,
NumPy, ``hashlib``, a Numba ``nogil`` function...), how to make its arguments for a task of a
given size, and optionally its pure-Python twin and a check of the answers. ``bench`` then runs
it every way the recipe suggests, checks that every way gives the same answer before it times
anything, and measures the GIL instead of assuming it:

* it runs :func:`gilfree.probe` on one task first (does the function release the GIL, does it
  scale over threads?) and reports its verdict; a function that keeps the GIL gets a verdict that
  says so, never "GIL-free threading pays";
* every timed run measures the GIL-hold share, and a row whose name says what the GIL does
  (``native-nogil-executor``, ``native-holding-gil``) gets a warning when the measurement
  disagrees;
* rows that would not be true of your function are left out: gilfree can make only its own
  kernels hold the GIL or take it back (``native-holding-gil``, ``native-reacquire``), so those
  rows run only the variants you give (``holding_gil=``, ``reacquiring_gil=``); the python-*
  rows need ``python=``; ``native-pool`` needs ``takes_threads=True``; the Numba and Cython peers
  are written for the lab's own workloads.

From the command line, name a workload in an importable module as ``MODULE:ATTR`` (the current
directory is importable): ``gilfree bench --workload mywork:SHA256`` or
``gilfree probe --workload mywork:SHA256``. ``ATTR`` may also be a list of workloads.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import gilfree
from gilfree.lab._probe import ProbeResult, probe
from gilfree.lab._strategies import STRATEGIES
from gilfree.lab._workloads import KernelCall, LabWorkload, Task

__all__ = ["Workload", "canonical", "load_workloads", "plan_sizes", "to_lab_workload"]

#: The break-even sweep of a user's workload spans these per-task times on one thread, planned
#: from the default task's measured time and how the cost grows with ``size`` (measured too).
_SWEEP_SECONDS = (1e-6, 1e-2)
#: ...and never goes beyond this many times the default size (a cost that does not grow with
#: ``size`` would otherwise ask ``make_args`` for enormous inputs).
_SWEEP_MAX_FACTOR = 1e4


@dataclasses.dataclass(frozen=True)
class Workload:
    """Your function, ready for ``gilfree bench``: a stream of equal tasks, each one call.

    Attributes:
        name: the workload's name in the report and the JSON.
        fn: the native function: ``fn(*args)``, or ``fn(*args, threads=...)`` with
            ``takes_threads``. It should release the GIL while it computes; the lab measures
            whether it does. Every task gets the same arguments, from several threads at once:
            ``fn`` must not modify them.
        make_args: ``make_args(size)`` -> the tuple of positional arguments of one task of
            ``size`` units of work (bytes, elements, pixels...). Called once per size.
        size: the default task size; ``--size F`` multiplies it. An int stays an int.
        python: the pure-Python twin, ``python(*args)``, giving the same answer as ``fn``: the
            python-serial, python-threads and python-processes rows (a module-level function,
            so that worker processes can import it; else python-processes is skipped).
        check: ``check(result, expected) -> bool``: do two answers agree (``expected`` is
            ``fn``'s at one thread)? Default: ``==``, with NumPy arrays equal when dtype, shape
            and bytes are, and NaN equal to NaN. Give one for float results that may differ in the
            last bits (``math.isclose``, ``numpy.allclose``).
        takes_threads: ``fn`` takes ``threads=`` (1: the calling thread only, N: at most N
            threads). The single-thread rows then call it with ``threads=1``, and the
            ``native-pool`` row with ``threads=N``.
        holding_gil: a variant of ``fn`` that keeps the GIL while it computes (the classic
            mistake), same arguments: the ``native-holding-gil`` row.
        reacquiring_gil: a variant that releases the GIL but takes it back around its work
            (Cython's ``with gil:`` in the loop): the ``native-reacquire`` row.
        sweep: the task sizes of the break-even sweep; default: sizes planned from measured task
            times (at the default size and at a sixteenth of it) so that one task takes about
            1 µs to 10 ms; ``()``: no sweep.
        title: what one task is, in one line (default: the call, e.g. ``sha256(*make_args(65536))``).

    Example:
        >>> import hashlib
        >>> from gilfree.lab import Workload, bench
        >>> def sha256(data):
        ...     return hashlib.sha256(data).digest()  # releases the GIL above 2 KiB
        >>> w = Workload("sha256", sha256, lambda n: (bytes(n),), 1 << 16, title="SHA-256 of 64 KiB")
        >>> len(w.args()[0])
        65536
        >>> result = bench(w, threads=(1, 2), quick=True, repeat=1, sweep=False)
        >>> sha = result.workload("sha256")
        >>> [s.name for s in sha.strategies]  # the rows that are true of sha256
        ['native-serial', 'native-nogil-executor', 'gilfree-executor']
        >>> [s.status for s in sha.strategies]  # answers checked, then timed
        ['ok', 'ok', 'ok']
        >>> sha.probe["rows"][0]["gil_share"] < 0.5  # measured: it releases the GIL
        True
    """

    name: str
    fn: Callable[..., Any]
    make_args: Callable[[Any], tuple[Any, ...]]
    size: int | float
    _: dataclasses.KW_ONLY
    python: Callable[..., Any] | None = None
    check: Callable[[Any, Any], bool] | None = None
    takes_threads: bool = False
    holding_gil: Callable[..., Any] | None = None
    reacquiring_gil: Callable[..., Any] | None = None
    sweep: Sequence[int | float] | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        if ":" in self.name or "," in self.name:
            raise ValueError(f"name must not contain ':' or ',' (they separate workloads), got {self.name!r}")
        for field in ("fn", "make_args"):
            if not callable(getattr(self, field)):
                raise TypeError(f"{field} must be callable, got {getattr(self, field)!r}")
        for field in ("python", "check", "holding_gil", "reacquiring_gil"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"{field} must be callable or None, got {value!r}")
        _check_size("size", self.size)
        if not isinstance(self.takes_threads, bool):
            raise TypeError(f"takes_threads must be a bool, got {self.takes_threads!r}")
        if self.sweep is not None:
            if isinstance(self.sweep, (str, bytes)) or not isinstance(self.sweep, Sequence):
                raise TypeError(f"sweep must be a sequence of sizes or None, got {self.sweep!r}")
            for size in self.sweep:
                _check_size("every sweep size", size)
            object.__setattr__(self, "sweep", tuple(sorted(self.sweep)))
        if self.title is not None and not isinstance(self.title, str):
            raise TypeError(f"title must be a str or None, got {self.title!r}")

    def args(self, size: int | float | None = None) -> tuple[Any, ...]:
        """The arguments of one task of ``size`` units (default: :attr:`size`), from
        :attr:`make_args`; TypeError if that does not return a tuple."""
        if size is None:
            size = self.size
        args = self.make_args(size)
        if not isinstance(args, tuple):
            raise TypeError(
                f"make_args must return a tuple of positional arguments, got {type(args).__name__}: "
                "return (value,) for a single argument"
            )
        return args

    def probe(self, **options: Any) -> ProbeResult:
        """:func:`gilfree.probe` of one task of the default size: does :attr:`fn` release the
        GIL, and does it scale over Python threads? ``options`` are ``probe``'s (``threads``,
        ``repeat``, ``min_time``, ``number``). With ``takes_threads``, ``fn`` is called with
        ``threads=1``, as one job of a thread pool would call it.

        Example:
            >>> import hashlib
            >>> from gilfree.lab import Workload
            >>> w = Workload("sha256", hashlib.sha256, lambda n: (bytes(n),), 1 << 16)
            >>> r = w.probe(threads=(1, 2), repeat=1, min_time=0.05)
            >>> r.name, r.rows[0].gil_share < 0.5
            ('sha256: ...sha256(*make_args(65536))', True)
        """
        options.setdefault("name", f"{self.name}: {_title(self)}")
        kwargs = {"threads": 1} if self.takes_threads else {}
        return probe(functools.partial(self.fn, *self.args(), **kwargs), **options)


def _check_size(what: str, size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise TypeError(f"{what} must be a positive number, got {size!r}")
    if not (size > 0 and math.isfinite(size)):
        raise ValueError(f"{what} must be a positive number, got {size!r}")


def _label(fn: Callable[..., Any]) -> str:
    """A short name for a callable: its qualified name (a partial's function's)."""
    if isinstance(fn, functools.partial):
        return f"partial({_label(fn.func)})"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name) if name else type(fn).__name__


def _title(w: Workload) -> str:
    return w.title or f"{_label(w.fn)}(*make_args({w.size!r}))"


def _star(fn: Callable[..., Any], task: Task) -> Any:
    """``fn(*task)``; module level, so that ``functools.partial(_star, twin)`` pickles."""
    return fn(*task)


def canonical(value: Any) -> Any:
    """``value`` as something ``==`` compares the way answers should be compared: NumPy arrays
    by dtype, shape and bytes (object arrays by their values), NaN equal to NaN, containers
    item by item.

    Example:
        >>> import numpy as np
        >>> from gilfree.lab._user import canonical
        >>> canonical(np.array([1.0, np.nan])) == canonical(np.array([1.0, np.nan]))
        True
        >>> canonical(np.arange(3)) == canonical(np.arange(3.0))  # int64 is not float64
        False
        >>> canonical((float("nan"), [np.float32(1.5)])) == canonical((float("nan"), [1.5]))
        True
    """
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return ("ndarray", value.dtype.str, value.shape, canonical(value.tolist()))
        return ("ndarray", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return ("nan",)
    return value


def _is_native(fn: Callable[..., Any]) -> bool:
    """Whether ``gilfree.Executor.submit(fn, ...)`` runs ``fn`` as a native task on the pool."""
    is_native = getattr(gilfree.Executor, "is_native", None)
    if is_native is not None:
        return bool(is_native(fn))
    from gilfree import _executor

    return _executor._task_form(fn) is not None


def _scaled(w: Workload, scale: float) -> int | float:
    size = w.size * scale
    return max(1, round(size)) if isinstance(w.size, int) else size


def _seconds(w: Workload, size: int | float) -> float:
    """One task of ``size`` on one thread: the fastest of at least 3 calls (and ~10 ms)."""
    args = w.args(size)
    kwargs = {"threads": 1} if w.takes_threads else {}
    w.fn(*args, **kwargs)  # warm-up
    best, calls, begin = math.inf, 0, time.perf_counter()
    while calls < 3 or (calls < 1000 and time.perf_counter() - begin < 0.01):
        start = time.perf_counter()
        w.fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
        calls += 1
    return best


def plan_sizes(base: int | float, seconds: float, exponent: float) -> list[int | float]:
    """The sweep's sizes: where a task of cost ``seconds * (size / base) ** exponent`` takes
    ~1 µs to ~10 ms (11 sizes, at most 10^4 times ``base``; ints when ``base`` is an int).

    Example:
        >>> from gilfree.lab._user import plan_sizes
        >>> plan_sizes(1000, 1e-4, 1.0)  # linear cost, 100 µs at 1000
        [10, 25, 63, 158, 398, 1000, 2512, 6310, 15849, 39811, 100000]
        >>> plan_sizes(1000, 1e-4, 2.0)[-1]  # quadratic: 10 ms at 10x the size
        10000
    """
    lo, hi = _SWEEP_SECONDS
    points = 11
    sizes: set[int | float] = set()
    for k in range(points):
        target = lo * (hi / lo) ** (k / (points - 1))
        size = min(base * (target / max(seconds, 1e-9)) ** (1.0 / exponent), base * _SWEEP_MAX_FACTOR)
        sizes.add(max(1, round(size)) if isinstance(base, int) else size)
    return sorted(sizes)


def _plan(w: Workload, task_seconds: float, scale: float) -> list[int | float]:
    """The sweep's sizes, from the default task's measured time and one more measurement at a
    sixteenth of its size: how the cost grows with ``size`` (the exponent, clamped to 0.5..3)."""
    base = _scaled(w, scale)
    small = max(1, round(base / 16)) if isinstance(base, int) else base / 16
    exponent = 1.0
    if small < base:
        small_seconds = _seconds(w, small)
        if small_seconds > 0 and task_seconds > small_seconds:
            exponent = math.log(task_seconds / small_seconds) / math.log(base / small)
    return plan_sizes(base, task_seconds, min(3.0, max(0.5, exponent)))


_PEERS_REASON = (
    "the Numba and Cython peers are written for the lab's own workloads: to compare your Numba or "
    "Cython function, make it the fn of a Workload of its own"
)


def _skips(w: Workload) -> dict[str, str]:
    """The strategies that would not be true of ``w``, with the reason."""
    skip: dict[str, str] = {}
    if w.python is None:
        for name in ("python-serial", "python-threads", "python-processes"):
            skip[name] = f"{w.name} has no pure-Python twin (Workload(python=...))"
    if w.holding_gil is None:
        skip["native-holding-gil"] = (
            "gilfree can make only its own kernels keep the GIL: give Workload(holding_gil=...), a "
            "variant of your function that keeps it, to show that mistake"
        )
    if w.reacquiring_gil is None:
        skip["native-reacquire"] = (
            "gilfree can make only its own kernels take the GIL back: give "
            "Workload(reacquiring_gil=...), a variant that does (`with gil:` in its loop)"
        )
    if not w.takes_threads:
        skip["native-pool"] = f"{_label(w.fn)} takes no threads= (Workload(takes_threads=True) if it does)"
    for strategy in STRATEGIES.values():
        if strategy.peer is not None:
            skip[strategy.name] = _PEERS_REASON
    return skip


def _descriptions(w: Workload) -> dict[str, str]:
    fn = _label(w.fn)
    one = f"{fn}(*args, threads=1)" if w.takes_threads else f"{fn}(*args)"
    out = {
        "native-serial": f"{one}, one task after another on the calling thread",
        "native-nogil-executor": f"the recipe: {one}, one task per job, in a ThreadPoolExecutor(N)",
        "native-pool": f"{fn}(*args, threads=N): the function's own threads, one task after another",
        "gilfree-executor": (
            f"gilfree.Executor(max_workers=N), gilfree's pool at N: {fn} runs as a native task on the pool"
            if _is_native(w.fn)
            else f"gilfree.Executor(max_workers=N): {fn} has no native task form, so N Python threads run it"
        ),
    }
    if w.python is not None:
        twin = _label(w.python)
        out["python-serial"] = f"{twin}(*args), the pure-Python twin, one task after another on one thread"
        out["python-threads"] = (
            f"{twin}(*args), the pure-Python twin, in a ThreadPoolExecutor(N): the GIL lets one run at a time"
        )
    if w.holding_gil is not None:
        out["native-holding-gil"] = (
            f"{_label(w.holding_gil)}(*args), the variant given as keeping the GIL, "
            "in a ThreadPoolExecutor(N)"
        )
    if w.reacquiring_gil is not None:
        out["native-reacquire"] = (
            f"{_label(w.reacquiring_gil)}(*args), the variant given as taking the GIL back around its "
            "work, in a ThreadPoolExecutor(N)"
        )
    return out


def to_lab_workload(w: Workload) -> LabWorkload:
    """``w`` as the lab runs it: tasks are ``w.args(size)`` (made once per size and shared)."""
    if not isinstance(w, Workload):
        raise TypeError(f"expected a gilfree.lab.Workload, got {w!r}")
    made: dict[int | float, Task] = {}

    def task_of(size: int | float) -> Task:
        if size not in made:
            made[size] = w.args(size)
        return made[size]

    fn = w.fn
    if w.takes_threads:

        def native(task: Task, threads: int | None) -> Any:
            return fn(*task, threads=threads)

        def kernel_call(task: Task) -> KernelCall:
            return fn, task, {"threads": 1}

    else:

        def native(task: Task, threads: int | None) -> Any:
            return fn(*task)

        def kernel_call(task: Task) -> KernelCall:
            return fn, task, {}

    def make_tasks(count: int, scale: float) -> list[Task]:
        return [task_of(_scaled(w, scale))] * count

    def sweep_task(size: float) -> Task:
        return task_of(max(1, round(size)) if isinstance(w.size, int) else size)

    variants: dict[str, Callable[[Task], Any]] = {}
    if w.holding_gil is not None:
        variants["hold"] = functools.partial(_star, w.holding_gil)
    if w.reacquiring_gil is not None:
        variants["reacquire"] = functools.partial(_star, w.reacquiring_gil)
    check = w.check
    same: Callable[[Any, Any], bool]
    if check is not None:

        def same(got: Any, want: Any) -> bool:
            return bool(check(got, want))

        canon: Callable[[Any], Any] = _identity
    else:
        same, canon = _equal, canonical
    skip: Mapping[str, str] = _skips(w)
    python = None
    if w.python is not None:
        python = functools.partial(_star, w.python)
        try:
            pickle.dumps(python)
        except Exception as exc:  # a lambda, a local function: threads can run it, processes not
            skip = {
                **skip,
                "python-processes": (
                    f"the twin {_label(w.python)} cannot be sent to worker processes ({exc}): "
                    "make it a module-level function"
                ),
            }
    return LabWorkload(
        name=w.name,
        title=_title(w),
        native=native,
        python=python,
        canon=canon,
        make_tasks=make_tasks,
        sweep_task=sweep_task,
        sweep_sizes=tuple(w.sweep or ()),
        pool=w.takes_threads,
        kernel_call=kernel_call,
        same=same,
        gil_variants=variants,
        skip=skip,
        descriptions=_descriptions(w),
        plan_sweep=None if w.sweep is not None else functools.partial(_plan, w),
        probe=True,
    )


def _identity(value: Any) -> Any:
    return value


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def load_workloads(spec: str) -> list[Workload]:
    """The workloads named by ``"module:attr"``: ``attr`` (dotted names allowed) is a
    :class:`Workload` or a list or tuple of them, in an importable module.

    Raises:
        ValueError: not ``module:attr``, the module cannot be imported, or has no ``attr``.
        TypeError: ``attr`` is not a workload or a list of them.

    Example:
        >>> from gilfree.lab._user import load_workloads
        >>> load_workloads("gilfree.lab:bench")
        Traceback (most recent call last):
        ...
        TypeError: gilfree.lab:bench is a function, not a gilfree.lab.Workload (or a list of them)
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"a workload of your own is named as 'module:attr', got {spec!r}")
    # The import system caches directory listings (FileFinder, refreshed when a directory's mtime
    # changes, at its granularity): a module written a moment ago, in a directory listed before
    # in this process, would not be found without this.
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for the workload {spec!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {attr!r} (workload {spec!r})"
            ) from None
    if isinstance(obj, Workload):
        return [obj]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(x, Workload) for x in obj):
        return list(obj)
    raise TypeError(f"{spec} is a {type(obj).__name__}, not a gilfree.lab.Workload (or a list of them)")
