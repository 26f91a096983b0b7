"""``gilfree bench``: the GIL lab. The same tasks under every strategy, timed, with the GIL-hold
share measured and the break-even task size found, on this machine.

How a workload is run:

1. *Calibrate.* Time the kernel (threads=1) and the pure-Python twin on the first tasks, and pick
   the task counts: the python-* strategies get few tasks (a multiple of the largest thread count,
   enough for ~0.5 s on one thread; ~0.2 s with ``quick``), the native and peer strategies many
   (~100 ms; ~50 ms). Every comparison between strategies is per task.
2. *Check.* Run every strategy on the first ``max(threads)`` tasks (at least 2), through its own
   machinery at the largest thread count, and compare each answer with the kernel's at threads=1.
   A strategy with a wrong answer is reported as wrong and not timed.
3. *Time.* For each thread count: one untimed warm-up on the first tasks, then ``repeat`` timed
   runs, each inside a :class:`~gilfree.lab.GilMonitor` (the GIL-hold share).
4. *Sweep.* For the GIL-free kernel at N threads (the largest count asked for that fits the
   cores), task sizes from ~1 µs to ~10 ms: per-task time on one thread, then the same tasks in a
   ``ThreadPoolExecutor(N)`` (native-nogil-executor) and with ``threads=N`` (native-pool). The
   break-even task size is where N threads start to beat one.

Your own function runs the same way: wrap it in a :class:`gilfree.lab.Workload` (or name one
as ``"module:attr"``); strategies whose label would not be true of it are left out, and it is
probed (:func:`gilfree.probe`) before timing, so the report says whether it releases the GIL.

Example:
    >>> from gilfree.lab import bench
    >>> result = bench("count_primes", threads=(1, 2), quick=True, repeat=1, sweep=False,
    ...                strategies=("python-serial", "native-nogil-executor"))
    >>> [s.status for s in result.workloads[0].strategies]
    ['ok', 'ok']
    >>> result.workloads[0].strategy("native-nogil-executor").run(2).threads
    2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import fnmatch
import json
import math
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import gilfree
from gilfree._info import info
from gilfree.lab import _metrics
from gilfree.lab._gil import GilMonitor, gil_enabled
from gilfree.lab._metrics import Crossing
from gilfree.lab._probe import BUSY_FRACTION, HOLDS_GIL_SHARE, probe
from gilfree.lab._strategies import PROCESS_START_METHOD, STRATEGIES, Runner, Setup, Skip, Strategy
from gilfree.lab._user import Workload, load_workloads, to_lab_workload
from gilfree.lab._workloads import DEFAULT_WORKLOAD, WORKLOADS, LabWorkload, Task

__all__ = [
    "SCHEMA",
    "BenchInterrupted",
    "BenchResult",
    "Run",
    "StrategyResult",
    "Sweep",
    "SweepPoint",
    "WorkloadResult",
    "add_bench_parser",
    "bench",
]

#: The version tag of the JSON that ``gilfree bench --json`` writes (``"schema"``). Bumped when a
#: field changes meaning or goes away; new fields may appear without a bump.
SCHEMA = "gilfree-bench/1"

Status = Literal["ok", "skipped", "wrong", "error", "interrupted"]


@dataclasses.dataclass(frozen=True)
class _Budget:
    """How long the lab aims to spend: per timed run and per sweep batch, in seconds."""

    python_seconds: float  # one python-* run on one thread
    native_seconds: float  # one native/peer run on one thread
    native_max_tasks: int
    sweep_seconds: float  # one sweep batch on one thread
    sweep_max_tasks: int
    repeat: int
    probe_seconds: float  # min_time of the probe of a user's function (its 1-thread run)


_FULL = _Budget(0.5, 0.1, 100_000, 0.02, 2000, 5, 0.1)
_QUICK = _Budget(0.2, 0.05, 50_000, 0.01, 1000, 3, 0.05)

#: A planned sweep (a user's workload) goes no further than tasks of this many seconds.
_PLANNED_SWEEP_STOP = 0.05


# --- results -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One strategy at one thread count.

    Attributes:
        threads: the thread count N.
        tasks: how many tasks each timed run ran.
        times: wall seconds of every timed run (after the warm-up).
        gil_shares: the GIL-hold share of every timed run.
        median: the median of ``times``.
        spread: ``(max - min) / 2 / median`` of ``times``.
        per_task: ``median / tasks``: what compares across strategies.
        gil_share: the median of ``gil_shares``.
        speedup_own: this strategy's per-task time at 1 thread over this one (None: no 1-thread run).
        speedup_serial: python-serial's per-task time over this one (None: python-serial not timed).
        efficiency: ``speedup_own / threads``.
    """

    threads: int
    tasks: int
    times: list[float] = dataclasses.field(default_factory=list)
    gil_shares: list[float] = dataclasses.field(default_factory=list)
    median: float | None = None
    spread: float | None = None
    per_task: float | None = None
    gil_share: float | None = None
    speedup_own: float | None = None
    speedup_serial: float | None = None
    efficiency: float | None = None


@dataclasses.dataclass
class StrategyResult:
    """One strategy on one workload.

    Attributes:
        name: the strategy's name.
        description: what it does, in one line.
        status: ``"ok"`` (timed), ``"skipped"`` (does not apply here: see ``reason``), ``"wrong"``
            (gave a wrong answer: not timed), ``"error"`` (raised: see ``reason``) or
            ``"interrupted"`` (Ctrl-C: ``runs`` holds what was measured).
        reason: why it was skipped, wrong or failed (None when ok).
        tasks: the number of tasks of each timed run (None: not timed).
        version: the peer's version (Numba, Cython), else None.
        setup_seconds: the peer's compile time, else None.
        runs: one :class:`Run` per thread count, smallest first.
    """

    name: str
    description: str
    status: Status = "interrupted"
    reason: str | None = None
    tasks: int | None = None
    version: str | None = None
    setup_seconds: float | None = None
    runs: list[Run] = dataclasses.field(default_factory=list)

    def run(self, threads: int) -> Run:
        """The run at ``threads`` threads (KeyError if there is none)."""
        for r in self.runs:
            if r.threads == threads:
                return r
        raise KeyError(f"{self.name} has no run at {threads} threads")


@dataclasses.dataclass
class SweepPoint:
    """One task size of the break-even sweep (times in seconds per task).

    Attributes:
        size: the workload's size parameter (pixels, n, steps, elements).
        tasks: how many tasks each batch ran (K).
        serial: per-task time of a plain loop on one thread (the x axis).
        executor: per-task time in a ``ThreadPoolExecutor(N)`` with threads=1 kernels.
        pool: per-task time with ``threads=N`` kernels one after another (None: serial kernel).
        executor_speedup: ``serial / executor``.
        pool_speedup: ``serial / pool``.
    """

    size: float
    tasks: int
    serial: float
    executor: float | None = None
    pool: float | None = None
    executor_speedup: float | None = None
    pool_speedup: float | None = None


@dataclasses.dataclass
class Sweep:
    """The break-even sweep of one workload.

    Attributes:
        threads: N, the thread count of the parallel runs.
        points: one :class:`SweepPoint` per size, smallest first.
        break_even: per strategy (native-nogil-executor, native-pool), where the speedup reaches
            ``_metrics.BEATS_ONE`` (1.1).
        pays_well: per strategy, where the efficiency crosses 0.8 (speedup ``0.8 * N``).
    """

    threads: int
    points: list[SweepPoint] = dataclasses.field(default_factory=list)
    break_even: dict[str, Crossing] = dataclasses.field(default_factory=dict)
    pays_well: dict[str, Crossing] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class WorkloadResult:
    """Every strategy on one workload.

    Attributes:
        name: the workload's name.
        title: what one task is.
        scale: the task size factor (``--size``).
        python_tasks: the task count of the python-* strategies.
        native_tasks: the task count of the native and peer strategies.
        checked_tasks: how many tasks every strategy's answers were checked on.
        python_task_seconds: the calibration's estimate of one twin task (None: not calibrated).
        native_task_seconds: the calibration's estimate of one kernel task on one thread.
        strategies: one :class:`StrategyResult` per strategy asked for, in registry order.
        sweep: the break-even sweep (None: not run).
        verdict: the one-line verdict.
        probe: a user's workload: what :func:`gilfree.probe` measured of one task on one and
            N threads before timing (``ProbeResult.to_dict()``); None for gilfree's own.
        warnings: measured facts that contradict a row's name (a "nogil" row during which the
            GIL was held, a "holding the GIL" row during which it was free).
    """

    name: str
    title: str
    scale: float
    python_tasks: int | None = None
    native_tasks: int | None = None
    checked_tasks: int | None = None
    python_task_seconds: float | None = None
    native_task_seconds: float | None = None
    strategies: list[StrategyResult] = dataclasses.field(default_factory=list)
    sweep: Sweep | None = None
    verdict: str = ""
    probe: dict[str, Any] | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)

    def strategy(self, name: str) -> StrategyResult:
        """The result of strategy ``name`` (KeyError if it was not asked for)."""
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(f"no strategy {name!r} in this result")


@dataclasses.dataclass
class BenchResult:
    """What :func:`bench` measured. ``to_dict()`` is the JSON of ``gilfree bench --json``.

    Attributes:
        schema: :data:`SCHEMA`.
        created: when the run started (UTC, ISO 8601).
        machine: CPU model, cores, Python version and build, gilfree version and thread setting.
        settings: what was asked for (workloads, threads, repeat, scale, quick, strategies, ...).
        workloads: one :class:`WorkloadResult` per workload.
        interrupted: True if Ctrl-C stopped the run (the results are partial).
    """

    machine: dict[str, Any]
    settings: dict[str, Any]
    workloads: list[WorkloadResult] = dataclasses.field(default_factory=list)
    interrupted: bool = False
    created: str = ""
    schema: str = SCHEMA

    def workload(self, name: str) -> WorkloadResult:
        """The result of workload ``name`` (KeyError if it was not run)."""
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(f"no workload {name!r} in this result")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (schema :data:`SCHEMA`, documented in docs/lab.md)."""
        out = dataclasses.asdict(self)
        return {"schema": out.pop("schema"), **out}

    def to_json(self, path: str | None = None) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        """Reads back what :meth:`to_dict` wrote (ValueError for another schema)."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} result (schema {data.get('schema')!r})")
        return cls(
            machine=dict(data["machine"]),
            settings=dict(data["settings"]),
            workloads=[_workload_from_dict(w) for w in data["workloads"]],
            interrupted=bool(data["interrupted"]),
            created=str(data["created"]),
        )


def _workload_from_dict(d: dict[str, Any]) -> WorkloadResult:
    fields = dict(d)
    fields["strategies"] = [
        StrategyResult(**{**s, "runs": [Run(**r) for r in s["runs"]]}) for s in d["strategies"]
    ]
    sweep = d.get("sweep")
    if sweep is not None:
        fields["sweep"] = Sweep(
            threads=sweep["threads"],
            points=[SweepPoint(**p) for p in sweep["points"]],
            break_even={k: Crossing(**c) for k, c in sweep["break_even"].items()},
            pays_well={k: Crossing(**c) for k, c in sweep["pays_well"].items()},
        )
    return WorkloadResult(**fields)


class BenchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`bench`; ``.result`` holds what was measured so far
    (``result.interrupted`` is True)."""

    def __init__(self, result: BenchResult) -> None:
        super().__init__("bench interrupted")
        self.result = result


# --- progress ----------------------------------------------------------------------------------


class _Progress:
    """Progress and notes, to stderr. The base class prints notes only."""

    def start(self, total: int) -> None:
        pass

    def update(self, description: str, advance: int = 0) -> None:
        pass

    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class _PlainProgress(_Progress):
    """A one-line text bar, redrawn in place (terminals only)."""

    def __init__(self) -> None:
        self.total = 1
        self.done = 0
        self.description = ""
        self.shown = False
        self.drawn_at = 0.0

    def start(self, total: int) -> None:
        self.total = max(1, total)

    def update(self, description: str, advance: int = 0) -> None:
        self.done = min(self.total, self.done + advance)
        self.description = description
        now = time.monotonic()
        if now - self.drawn_at >= 0.1:  # a terminal needs no more than ten frames a second
            self.drawn_at = now
            self._draw()

    def _draw(self) -> None:
        filled = round(24 * self.done / self.total)
        line = f"[{'#' * filled}{'.' * (24 - filled)}] {self.done * 100 // self.total:3d}% {self.description}"
        sys.stderr.write("\r" + line[:100].ljust(100))
        sys.stderr.flush()
        self.shown = True

    def _clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()

    def note(self, message: str) -> None:
        self._clear()
        print(message, file=sys.stderr, flush=True)
        if self.shown:
            self._draw()

    def close(self) -> None:
        self._clear()
        self.shown = False


class _RichProgress(_Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task: Any = None

    def start(self, total: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("starting", total=max(1, total))

    def update(self, description: str, advance: int = 0) -> None:
        self.progress.update(self.task, description=description, advance=advance)

    def note(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def _make_progress(enabled: bool) -> _Progress:
    if not enabled or not sys.stderr.isatty():
        return _Progress()
    try:
        return _RichProgress()
    except ImportError:
        return _PlainProgress()


# --- running -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _started_executor(threads: int) -> Iterator[ThreadPoolExecutor]:
    """A ThreadPoolExecutor with all its threads started (they start lazily otherwise, inside
    the first timed run). On an exception (Ctrl-C) it does not wait: queued jobs are cancelled,
    kernels in flight stop by themselves (gilfree's SIGINT handler), a Python task in flight
    finishes in the background."""
    executor = ThreadPoolExecutor(threads, thread_name_prefix="gilfree-bench")
    try:
        barrier = threading.Barrier(threads)
        list(executor.map(lambda _: barrier.wait(timeout=30), range(threads)))
        yield executor
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


@contextlib.contextmanager
def _maybe_executor(wanted: bool, threads: int) -> Iterator[ThreadPoolExecutor | None]:
    if not wanted:
        yield None
        return
    with _started_executor(threads) as executor:
        yield executor


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _round_up(count: int, multiple: int) -> int:
    return -(-count // multiple) * multiple


def _default_threads(cores: int) -> tuple[int, ...]:
    counts = [1, 2]
    while counts[-1] * 2 <= cores:
        counts.append(counts[-1] * 2)
    if cores > counts[-1]:
        counts.append(cores)
    return tuple(counts)


def _as_threads(threads: Sequence[int] | None, cores: int) -> tuple[int, ...]:
    if threads is None:
        return _default_threads(cores)
    counts = set()
    for n in threads:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"thread counts must be ints, got {n!r}")
        if n < 1:
            raise ValueError(f"thread counts must be >= 1, got {n}")
        counts.add(n)
    counts.add(1)  # every strategy's own baseline
    return tuple(sorted(counts))


AnyWorkload = str | Workload | LabWorkload


def _as_workloads(workload: AnyWorkload | Sequence[AnyWorkload]) -> list[LabWorkload]:
    if isinstance(workload, (str, Workload, LabWorkload)):
        items: list[Any] = [workload]
    elif isinstance(workload, Iterable):
        items = list(workload)
    else:
        raise TypeError(f"a workload is a name, 'module:attr' or a gilfree.lab.Workload, got {workload!r}")
    if not items:
        raise ValueError("no workload given")
    out: list[LabWorkload] = []
    for item in items:
        if isinstance(item, LabWorkload):
            out.append(item)
        elif isinstance(item, Workload):
            out.append(to_lab_workload(item))
        elif not isinstance(item, str):
            raise TypeError(f"a workload is a name, 'module:attr' or a gilfree.lab.Workload, got {item!r}")
        elif item == "all":
            out.extend(WORKLOADS.values())
        elif item in WORKLOADS:
            out.append(WORKLOADS[item])
        elif ":" in item:
            out.extend(to_lab_workload(w) for w in load_workloads(item))
        else:
            raise ValueError(
                f"unknown workload {item!r}: choose from {', '.join(WORKLOADS)}, 'all', or "
                "'module:attr' naming your own gilfree.lab.Workload"
            )
    return out


def _as_strategies(strategies: Sequence[str] | None) -> list[Strategy]:
    if strategies is None:
        return list(STRATEGIES.values())
    if isinstance(strategies, str):
        strategies = [strategies]
    chosen: set[str] = set()
    for pattern in strategies:
        found = fnmatch.filter(STRATEGIES, pattern)
        if not found:
            raise ValueError(f"unknown strategy {pattern!r}: choose from {', '.join(STRATEGIES)}")
        chosen.update(found)
    return [s for name, s in STRATEGIES.items() if name in chosen]


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


def _machine() -> dict[str, Any]:
    facts = info()
    return {
        "cpu": facts["cpu"],
        "cores": facts["cores"],
        "cpu_features": facts["cpu_features"],
        "platform": platform.platform(),
        "python": facts["python"],
        "python_build": f"{platform.python_build()[1]}, {platform.python_compiler()}",
        "free_threaded": facts["free_threaded"],
        "gil_enabled": facts["gil_enabled"],
        "gilfree_version": facts["version"],
        "gilfree_profile": facts["profile"],
        "threads": facts["threads"],
        "threads_source": facts["threads_source"],
        "load_average": _load_average(),
    }


class _Lab:
    """One bench run: the settings, the progress display, and the loop over workloads."""

    def __init__(
        self,
        *,
        threads: tuple[int, ...],
        repeat: int,
        scale: float,
        budget: _Budget,
        strategies: list[Strategy],
        sweep: bool,
        cores: int,
        progress: _Progress,
        explicit: bool = False,
    ) -> None:
        self.threads = threads
        self.repeat = repeat
        self.scale = scale
        self.budget = budget
        self.strategies = strategies
        self.explicit = explicit  # the strategies were named: report those that do not apply
        self.do_sweep = sweep
        self.cores = cores
        self.progress = progress
        self.label = ""
        self.advanced = 0

    def strategies_for(self, workload: LabWorkload) -> list[Strategy]:
        """The strategies run on ``workload``: those that do not apply to it (``skip``) are left
        out, unless they were asked for by name (then they are reported as skipped)."""
        return [s for s in self.strategies if self.explicit or s.name not in workload.skip]

    # The progress bar counts steps: 1 calibration (and 1 probe), per strategy 1 check + repeat
    # per thread count, 1 per sweep size.
    def steps(self, workload: LabWorkload) -> int:
        strategies = self.strategies_for(workload)
        per_strategy = sum(1 + self.repeat * (1 if s.serial else len(self.threads)) for s in strategies)
        swept = any(s.name in ("native-nogil-executor", "native-pool") for s in strategies)
        sweep = workload.sweep_points if swept and self.do_sweep and self.sweep_threads() > 1 else 0
        return 1 + int(workload.probe) + per_strategy + sweep

    def sweep_threads(self) -> int:
        fitting = [n for n in self.threads if n <= self.cores]
        return max(fitting) if max(fitting) > 1 else min(max(self.threads), self.cores)

    def status(self, text: str, advance: int = 0) -> None:
        self.advanced += advance
        self.progress.update(f"{self.label} · {text}", advance)

    def run_workload(self, workload: LabWorkload, out: WorkloadResult) -> None:
        self.label = workload.name
        top = max(self.threads)
        check = max(2, top)
        strategies = self.strategies_for(workload)
        python = workload.python
        uses_python = python is not None and any(s.python for s in strategies)

        # 1. Calibrate, and compute the reference answers (the kernel at threads=1).
        self.status("calibrating")
        head = workload.tasks(check, self.scale)
        try:
            workload.native(head[0], 1)  # warm-up
        except Exception as exc:
            raise _describe(exc, f"by the {workload.name} workload's function, on its first call") from None
        reference = [workload.canon(workload.native(t, 1)) for t in head]
        # The fastest of the calls made in ~10 ms: a call that another process preempted says
        # nothing about the task's cost.
        calls, native_seconds, begin = 0, math.inf, time.perf_counter()
        while calls < 3 or time.perf_counter() - begin < 0.01:
            start = time.perf_counter()
            workload.native(head[calls % check], 1)
            native_seconds = min(native_seconds, time.perf_counter() - start)
            calls += 1
        native_count = math.ceil(self.budget.native_seconds / native_seconds)
        native_count = min(max(native_count, 4 * top, check), self.budget.native_max_tasks)
        out.native_task_seconds = native_seconds
        out.native_tasks = _round_up(native_count, top)
        out.checked_tasks = check
        if uses_python:
            assert python is not None
            python_seconds = math.inf
            for _ in range(2):  # the first call may pay for cold caches; one more if it is cheap
                start = time.perf_counter()
                python(head[0])
                python_seconds = min(python_seconds, time.perf_counter() - start)
                if python_seconds > 0.1:
                    break
            out.python_task_seconds = python_seconds
            python_count = max(check, math.ceil(self.budget.python_seconds / python_seconds))
            out.python_tasks = _round_up(python_count, top)
        tasks = workload.tasks(max(out.native_tasks, out.python_tasks or 0), self.scale)
        self.status("calibrated", advance=1)

        # A user's function: does it release the GIL, and does it scale? Measured, not assumed.
        if workload.probe:
            self.status("probing the function")
            n = self.sweep_threads()
            try:
                measured = probe(
                    workload.native,
                    head[0],
                    1,
                    threads=(1, n),
                    repeat=min(self.repeat, 3),
                    min_time=self.budget.probe_seconds,
                    name=f"{workload.name}: {workload.title}",
                )
            except Exception as exc:
                raise _describe(exc, f"by the {workload.name} workload's function, probed") from None
            out.probe = measured.to_dict()
            self.status("probed", advance=1)

        # 2-3. Check and time every strategy.
        setup = Setup(workload, self.progress.note)
        for strategy in strategies:
            description = workload.descriptions.get(strategy.name, strategy.description)
            result = StrategyResult(strategy.name, description)
            out.strategies.append(result)
            count = (out.python_tasks if strategy.python else None) or out.native_tasks
            assert count is not None
            counts = (1,) if strategy.serial else self.threads
            self.advanced = 0
            try:
                self._run_strategy(strategy, setup, result, tasks[:count], head, reference, counts)
            except Exception as exc:  # a strategy's failure is reported, never the lab's
                result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
            # Count the steps a skipped, wrong or failed strategy did not take.
            self.status(strategy.name, advance=max(0, 1 + self.repeat * len(counts) - self.advanced))

        # 4. The break-even sweep.
        n = self.sweep_threads()
        wanted = [s.name for s in strategies if s.name in ("native-nogil-executor", "native-pool")]
        usable = [name for name in wanted if out.strategy(name).status == "ok"]
        if workload.plan_sweep is not None:
            sizes = list(workload.plan_sweep(native_seconds, self.scale))
        else:
            sizes = list(workload.sweep_sizes)
        if self.do_sweep and n > 1 and usable and sizes:
            out.sweep = Sweep(threads=n)
            # A planned sweep guesses how the cost grows with the size: it stops at sizes far
            # above the ~10 ms it aims for, should the guess be short.
            stop = _PLANNED_SWEEP_STOP if workload.plan_sweep is not None else None
            self._sweep(workload, sizes, out.sweep, usable, stop)

    def _run_strategy(
        self,
        strategy: Strategy,
        setup: Setup,
        result: StrategyResult,
        tasks: list[Task],
        head: list[Task],
        reference: list[Any],
        counts: tuple[int, ...],
    ) -> None:
        workload = setup.workload
        if strategy.name in workload.skip:
            result.status, result.reason = "skipped", workload.skip[strategy.name]
            return
        self.status(f"{strategy.name}: preparing")
        try:
            runner: Runner = strategy.prepare(setup)
        except Skip as skip:
            result.status, result.reason = "skipped", str(skip)
            return
        if strategy.peer is not None:
            peer = setup.peer(strategy.peer)
            result.version, result.setup_seconds = peer.version, peer.setup_seconds

        # Check the answers, through the strategy's own machinery at its largest thread count.
        top = max(counts)
        self.status(f"{strategy.name}: checking answers")
        with _maybe_executor(strategy.executor, top) as executor:
            answers = runner(head, top, executor)
        for i, (got, want) in enumerate(zip(answers, reference, strict=True)):
            if not workload.same(workload.canon(got), want):
                result.status = "wrong"
                result.reason = (
                    f"wrong answer on task {i} {_short(head[i])}: "
                    f"got {_short(workload.canon(got))}, expected {_short(want)}"
                )
                return
        self.status(f"{strategy.name}: checked", advance=1)

        result.tasks = len(tasks)
        for n in counts:
            run = Run(threads=n, tasks=len(tasks))
            result.runs.append(run)
            with _maybe_executor(strategy.executor, n) as executor:
                if strategy.warm_up:
                    self.status(f"{strategy.name} ×{n}: warm-up")
                    runner(tasks[: n if strategy.python else min(len(tasks), 8 * n)], n, executor)
                for r in range(self.repeat):
                    self.status(f"{strategy.name} ×{n}: run {r + 1}/{self.repeat}")
                    with GilMonitor() as gil:
                        start = time.perf_counter()
                        runner(tasks, n, executor)
                        elapsed = time.perf_counter() - start
                    run.times.append(elapsed)
                    run.gil_shares.append(gil.reading.share)
                    self.status(f"{strategy.name} ×{n}: run {r + 1}/{self.repeat}", advance=1)
        result.status = "ok"

    def _sweep(
        self,
        workload: LabWorkload,
        sizes: list[float],
        sweep: Sweep,
        usable: list[str],
        stop_above: float | None = None,
    ) -> None:
        n = sweep.threads
        native = workload.native

        def one(task: Task) -> Any:
            return native(task, 1)

        with _started_executor(n) as executor:
            for index, size in enumerate(sizes):
                self.status(f"break-even sweep ×{n}: size {size:.3g}")
                task = workload.sweep_task(size)
                native(task, 1)  # warm-up
                guess, calls, begin = math.inf, 0, time.perf_counter()
                while calls < 3 and (calls == 0 or time.perf_counter() - begin < self.budget.sweep_seconds):
                    start = time.perf_counter()
                    native(task, 1)
                    guess = min(guess, time.perf_counter() - start)  # the fastest: not preempted
                    calls += 1
                guess = max(guess, 1e-7)
                if stop_above is not None and guess > stop_above:
                    self.status(f"break-even sweep ×{n}: stopped at {size:.3g}", advance=len(sizes) - index)
                    break
                count = math.ceil(self.budget.sweep_seconds / guess)
                count = _round_up(min(max(count, 2 * n), self.budget.sweep_max_tasks), n)
                batch = [task] * count
                serial: list[float] = []
                parallel: dict[str, list[float]] = {name: [] for name in usable}
                # At least 3 repeats, so that the median shrugs off one preempted batch; the
                # three measurements are interleaved, so that drift hits them alike.
                for _ in range(max(3, self.repeat)):
                    start = time.perf_counter()
                    for t in batch:
                        native(t, 1)
                    serial.append(time.perf_counter() - start)
                    if "native-nogil-executor" in parallel:
                        start = time.perf_counter()
                        list(executor.map(one, batch))
                        parallel["native-nogil-executor"].append(time.perf_counter() - start)
                    if "native-pool" in parallel:
                        start = time.perf_counter()
                        for t in batch:
                            native(t, n)
                        parallel["native-pool"].append(time.perf_counter() - start)
                base = _metrics.median(serial) / count
                point = SweepPoint(size=float(size), tasks=count, serial=base)
                if "native-nogil-executor" in parallel:
                    point.executor = _metrics.median(parallel["native-nogil-executor"]) / count
                    point.executor_speedup = _metrics.speedup(base, point.executor)
                if "native-pool" in parallel:
                    point.pool = _metrics.median(parallel["native-pool"]) / count
                    point.pool_speedup = _metrics.speedup(base, point.pool)
                sweep.points.append(point)
                self.status(f"break-even sweep ×{n}: size {size:.3g}", advance=1)


def _describe(exc: BaseException, where: str) -> BaseException:
    """Mark ``exc`` as raised by a workload's own function, with a note saying where (Python
    3.11+), and return it."""
    with contextlib.suppress(AttributeError):
        exc._gilfree_workload = True  # type: ignore[attr-defined]
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(f"raised {where} (gilfree bench)")
    return exc


def _raised_by_workload(exc: BaseException) -> bool:
    return bool(getattr(exc, "_gilfree_workload", False))


def _busy(out: WorkloadResult, load: Sequence[float] | None, cores: int) -> str | None:
    """Why the machine counts as busy for this workload (None: it did not look busy)."""
    if out.probe is not None:
        free, needed = float(out.probe["free_cores"]), min(2, int(out.probe["cores"]))
        if free < BUSY_FRACTION * needed:
            return f"{free:.1f} of {out.probe['cores']} cores free during the probe"
    if load is not None and load[0] > 0.5 * cores:
        return f"load average {load[0]:.1f} on {cores} cores"
    return None


def _busy_note(busy: str | None, why: str) -> str:
    """The tail of a GIL warning on a machine that looked busy (``busy``: why), else nothing."""
    if busy is None:
        return ""
    return f" — or the machine was too busy to tell ({busy}: {why}); run again on a quieter machine"


def _gil_warnings(out: WorkloadResult, busy: str | None = None) -> list[str]:
    """Rows whose name says what the GIL does, and whose measured GIL-hold share (the median over
    all their timed runs, at every thread count) says otherwise. ``busy``: why the machine looked
    busy, if it did (a thread that waits for a core waits for the GIL too: every share moves
    towards the middle, and both warnings then say the machine may be the cause).

    The one row that claims "released" (native-nogil-executor) runs the workload's function, which
    the probe (when it ran) measured on its own: a probe that found the function holding the GIL
    settles the row's claim even when the row's own reading was pulled towards the middle by
    other work on the machine (interference moves every share towards 0.5)."""
    if not gil_enabled():
        return []  # nothing holds a GIL that is disabled: the claims cannot be checked
    probed_holding = out.probe is not None and out.probe.get("kind") == "holds-gil"
    found = []
    for s in out.strategies:
        claim = STRATEGIES[s.name].claims_gil if s.name in STRATEGIES else None
        shares = [share for r in s.runs for share in r.gil_shares]
        if claim is None or s.status != "ok" or not shares:
            continue
        share = _metrics.median(shares)
        if claim == "released" and share < HOLDS_GIL_SHARE and probed_holding:
            assert out.probe is not None
            probe_share = out.probe["rows"][0]["gil_share"]
            found.append(
                f"{s.name}: the function holds the GIL (the probe measured it held {probe_share:.0%} "
                f"of the time on one thread; this row read {share:.0%}, median of its runs, pulled "
                "down by other work on the machine), so the row did not run GIL-free"
            )
        elif claim == "released" and share >= HOLDS_GIL_SHARE:
            text = (
                f"{s.name}: the GIL was held {share:.0%} of the time (measured, median of its runs), so "
                "it did not run GIL-free: the function keeps the GIL, or its tasks are so short that the "
                "executor's own Python code dominates"
            )
            found.append(text + _busy_note(busy, "a thread that waits for a core waits for the GIL too"))
        elif claim == "held" and share < HOLDS_GIL_SHARE:
            text = (
                f"{s.name}: the GIL was held only {share:.0%} of the time (measured, median of its "
                "runs), so it did not keep the GIL as its name says"
            )
            # Interference pulls every share towards the middle, a holding one down too.
            why = "a thread descheduled while it waits for the GIL reads as not holding it"
            found.append(text + _busy_note(busy, why))
    return found


def _finish(out: WorkloadResult, sweep_threads: int, busy: str | None = None) -> None:
    """Derived metrics, break-even crossings and the verdict, from what was measured (``busy``:
    why the machine looked busy, if it did)."""
    for s in out.strategies:
        s.runs = [r for r in s.runs if r.times]
        for r in s.runs:
            r.median = _metrics.median(r.times)
            r.spread = _metrics.spread(r.times)
            r.per_task = r.median / r.tasks
            r.gil_share = _metrics.median(r.gil_shares)
    serial_per_task: float | None = None
    with contextlib.suppress(KeyError):
        serial_per_task = out.strategy("python-serial").run(1).per_task
    for s in out.strategies:
        base = next((r.per_task for r in s.runs if r.threads == 1), None)
        for r in s.runs:
            r.speedup_own = _metrics.speedup(base, r.per_task)
            r.speedup_serial = _metrics.speedup(serial_per_task, r.per_task)
            r.efficiency = _metrics.efficiency(r.speedup_own, r.threads)
    if out.sweep is not None:
        n = out.sweep.threads
        for name, attr in (("native-nogil-executor", "executor_speedup"), ("native-pool", "pool_speedup")):
            points = [(p.serial, getattr(p, attr)) for p in out.sweep.points if getattr(p, attr) is not None]
            if not points:
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            out.sweep.break_even[name] = _metrics.crossing(xs, ys, _metrics.BEATS_ONE)
            out.sweep.pays_well[name] = _metrics.crossing(xs, ys, 0.8 * n)
    speed = eff = None
    top = sweep_threads
    with contextlib.suppress(KeyError):
        executor = out.strategy("native-nogil-executor")
        runs = [r for r in executor.runs if r.threads > 1]
        chosen = next((r for r in runs if r.threads == sweep_threads), runs[-1] if runs else None)
        if chosen is not None:
            speed, eff, top = chosen.speedup_own, chosen.efficiency, chosen.threads
    break_even = out.sweep.break_even.get("native-nogil-executor") if out.sweep else None
    out.verdict = _metrics.verdict(threads=top, speedup=speed, efficiency=eff, break_even=break_even)
    out.warnings = _gil_warnings(out, busy)
    if out.probe is not None and out.probe.get("kind") == "holds-gil":
        # Measured: the function keeps the GIL, so "GIL-free threading" would be a false label.
        out.verdict = f"not GIL-free: the function {out.probe['verdict']}"


def bench(
    workload: AnyWorkload | Sequence[AnyWorkload] = DEFAULT_WORKLOAD,
    *,
    threads: Sequence[int] | None = None,
    repeat: int | None = None,
    scale: float = 1.0,
    quick: bool = False,
    strategies: Sequence[str] | None = None,
    sweep: bool = True,
    progress: bool = False,
) -> BenchResult:
    """Run the GIL lab: every strategy on ``workload``, at every thread count.

    Arguments:
        workload: a name from ``gilfree.lab._workloads.WORKLOADS`` (``"mandelbrot"``,
            ``"count_primes"``, ``"spectral_norm"``, ``"nbody"``, ``"sum"``), ``"all"``, your
            own :class:`gilfree.lab.Workload`, ``"module:attr"`` naming one (or a list of
            them) in an importable module, or a sequence of those.
        threads: the thread counts (1 is always added: it is every strategy's baseline). Default:
            1, 2 and powers of two up to the number of cores (and the core count itself).
        repeat: timed runs per strategy and thread count (default 5; 3 with ``quick``).
        scale: the task size, as a factor of the workload's default.
        quick: smaller budgets (about 0.2 s per Python run, 50 ms per native run).
        strategies: names or shell patterns (``"native-*"``) from ``STRATEGIES``; default all
            that apply (a user's workload leaves out those that would not be true of it: named
            here, they are reported as skipped, with the reason).
        sweep: run the break-even sweep.
        progress: show a progress bar on stderr (rich when installed; terminals only).

    Returns:
        a :class:`BenchResult`. Strategies that do not apply (no Numba, ...) are in it as
        ``"skipped"`` with the reason.

    Raises:
        BenchInterrupted: on Ctrl-C, with the partial result as ``.result``.
        TypeError, ValueError: for bad arguments.
    """
    budget = _QUICK if quick else _FULL
    facts = _machine()
    cores = int(facts["cores"])
    counts = _as_threads(threads, cores)
    if repeat is None:
        repeat = budget.repeat
    if isinstance(repeat, bool) or not isinstance(repeat, int):
        raise TypeError(f"repeat must be an int, got {repeat!r}")
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a number, got {scale!r}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive number, got {scale}")
    workloads = _as_workloads(workload)
    chosen = _as_strategies(strategies)
    result = BenchResult(
        machine=facts,
        settings={
            "workloads": [w.name for w in workloads],
            "threads": list(counts),
            "repeat": repeat,
            "scale": float(scale),
            "quick": quick,
            "strategies": [s.name for s in chosen],
            "sweep": sweep,
            "process_start_method": PROCESS_START_METHOD,
            "python_seconds": budget.python_seconds,
            "native_seconds": budget.native_seconds,
        },
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    display = _make_progress(progress)
    lab = _Lab(
        threads=counts,
        repeat=repeat,
        scale=float(scale),
        budget=budget,
        strategies=chosen,
        sweep=sweep,
        cores=cores,
        progress=display,
        explicit=strategies is not None,
    )
    load = facts["load_average"]
    if load is not None and load[0] > 0.5 * cores:
        display.note(
            f"note: this machine is busy (load average {load[0]:.1f} on {cores} cores): "
            "other processes share the cores, expect noisy speedups"
        )
    if max(counts) > cores:
        display.note(f"note: {max(counts)} threads on {cores} cores: the largest counts are oversubscribed")
    if max(counts) > gilfree.get_num_threads():
        display.note(
            f"note: gilfree's pool has {gilfree.get_num_threads()} threads: native-pool is capped there"
        )
    display.start(sum(lab.steps(w) for w in workloads))
    try:
        for w in workloads:
            out = WorkloadResult(w.name, w.title, float(scale))
            result.workloads.append(out)
            lab.run_workload(w, out)
            _finish(out, lab.sweep_threads(), _busy(out, load, cores))
    except KeyboardInterrupt:
        result.interrupted = True
        for out in result.workloads:
            _finish(out, lab.sweep_threads(), _busy(out, load, cores))
        raise BenchInterrupted(result) from None
    finally:
        display.close()
    return result


# --- the command line --------------------------------------------------------------------------


def _thread_list(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2,4, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return counts


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``gilfree bench`` to the CLI's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="the GIL lab: the same work under every threading strategy, measured",
        description=(
            "Runs the same tasks as pure Python (serial, threads, processes), as native code that "
            "holds or takes back the GIL, as GIL-free kernels in a ThreadPoolExecutor and on "
            "gilfree's pool, and with Numba/Cython when installed; reports time per task, speedup, "
            "efficiency, GIL-hold share and the break-even task size. See docs/lab.md."
        ),
    )
    p.add_argument(
        "--workload",
        type=_name_list,
        default=[DEFAULT_WORKLOAD],
        metavar="NAME[,NAME]",
        help=(
            f"{', '.join(WORKLOADS)} or all (default {DEFAULT_WORKLOAD}); or MODULE:ATTR, your own "
            "gilfree.lab.Workload (the current directory is importable)"
        ),
    )
    p.add_argument(
        "--threads",
        type=_thread_list,
        default=None,
        metavar="N[,N]",
        help="thread counts, e.g. 1,2,4 (1 is always added; default 1,2 and powers of two up to the cores)",
    )
    p.add_argument(
        "--repeat", type=_positive_int, default=None, help="timed runs each (default 5; 3 with --quick)"
    )
    p.add_argument(
        "--size", type=_positive_float, default=1.0, metavar="FACTOR", help="task size factor (default 1)"
    )
    p.add_argument("--quick", action="store_true", help="smaller budgets: the demo run")
    p.add_argument(
        "--strategies",
        type=_name_list,
        default=None,
        metavar="NAME[,NAME]",
        help="strategies to run, names or patterns like 'native-*' (default all; see --list)",
    )
    p.add_argument("--no-sweep", action="store_true", help="skip the break-even sweep")
    p.add_argument("--json", metavar="FILE", help=f"write the results as JSON ({SCHEMA})")
    p.add_argument("--plot", metavar="FILE.png", help="draw speedup and break-even (needs matplotlib)")
    p.add_argument("--list", action="store_true", help="list the workloads and strategies, and exit")
    p.set_defaults(func=_cmd_bench)
    return p


def _cmd_bench(args: argparse.Namespace) -> int:
    from gilfree.lab import _report

    if args.list:
        print(_report.format_list())
        return 0
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("gilfree bench: --plot needs matplotlib: pip install 'gilfree[bench]'", file=sys.stderr)
            return 2
    # Like `python -m timeit` and `gilfree probe`: a MODULE:ATTR workload may live in the current
    # directory. It stays on the path for the run: python-processes' workers import it too.
    sys.path.insert(0, os.curdir)
    try:
        result = bench(
            args.workload,
            threads=args.threads,
            repeat=args.repeat,
            scale=args.size,
            quick=args.quick,
            strategies=args.strategies,
            sweep=not args.no_sweep,
            progress=True,
        )
    except BenchInterrupted as stop:
        result = stop.result
    except Exception as exc:
        if not _raised_by_workload(exc):
            if isinstance(exc, (TypeError, ValueError)):  # bad arguments, or a bad MODULE:ATTR
                print(f"gilfree bench: error: {exc}", file=sys.stderr)
                return 2
            raise
        print("gilfree bench: the workload's own function raised:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        sys.path.remove(os.curdir)
    _report.print_report(result)
    if args.json:
        result.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot and result.workloads:
        from gilfree.lab import _plot

        _plot.plot(result, args.plot)
        print(f"wrote {args.plot}")
    if result.interrupted:
        return 130
    wrong = [
        f"{w.name}/{s.name}" for w in result.workloads for s in w.strategies if s.status in ("wrong", "error")
    ]
    return 1 if wrong else 0
