"""``gilfree probe``: does this call release the GIL, and does it scale over threads?

One question, asked of any callable on this machine: run it in 1, 2, 4... Python threads at once
(each thread makes the same number of calls) and measure

* **speedup**: calls per second with N threads over calls per second with 1 thread;
* **efficiency**: speedup / N, and **per-core efficiency**: speedup / min(N, cores) — a machine
  with 2 cores cannot run CPU work faster than 2x, so 4 threads at 1.9x is 0.48 efficient but 0.95
  per core;
* **GIL-hold share**: with :class:`~gilfree.lab.GilMonitor`, the share of the run during which a
  Python thread that wanted the GIL could not have it (pure Python ~0.95, a GIL-free call ~0);
* **cores busy**: process CPU time over wall time. It includes native threads (gilfree's pool,
  BLAS), so it tells a call that waits (``time.sleep``: ~0) from CPU work (~1 per thread), and
  finds calls that are already parallel inside (a gilfree kernel with ``threads=None`` keeps every
  core busy from one thread, so more threads cannot add much).

From these, :func:`verdict` picks one of six kinds (see :data:`KINDS`). The measurements are made
in separate runs: timed runs without the monitor (its heartbeat costs ~0.08 of a core, which
would blur "cores busy"), then one monitored run per thread count for the share.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import statistics
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gilfree._interrupt import interrupt
from gilfree._native import _testing
from gilfree.lab._gil import GilMonitor

__all__ = ["KINDS", "ProbeResult", "ProbeRow", "add_probe_parser", "probe", "verdict"]

#: The verdict kinds, with what each means.
KINDS: dict[str, str] = {
    "holds-gil": "holds the GIL: threads take turns, so they cannot speed it up",
    "scales": "releases the GIL and runs faster on more threads",
    "not-cpu": "releases the GIL but mostly waits (sleep, I/O): threads overlap it, no CPU is used",
    "already-parallel": "one call already keeps several cores busy: more threads add little",
    "no-scaling": "releases the GIL (mostly) but does not run faster on more threads",
    "releases-gil": "releases the GIL; scaling could not be measured (one thread or one core)",
}

#: GIL-hold share (1 thread) from which a call "holds the GIL". Pure Python reads ~0.95, native
#: code that takes the GIL back around its work ~0.8, a GIL-free call ~0.01.
HOLDS_GIL_SHARE = 0.5
#: Below this share a call that scales is reported without comment; between it and
#: HOLDS_GIL_SHARE the verdict says the call holds the GIL part of the time.
PARTLY_HOLDS_SHARE = 0.2
#: Speedup (best over N > 1 threads) from which a call "scales". 2 threads of CPU work on 2 idle
#: cores read ~1.9; GIL-bound work reads 0.9-1.05.
SCALES_SPEEDUP = 1.3
#: Cores busy (1 thread) below which a call "mostly waits". time.sleep reads ~0.02, CPU work ~1
#: on an idle machine and still ~0.33 when its core is shared with two other busy processes.
NOT_CPU_CORES = 0.15
#: Cores busy (1 thread) from which a call is "already parallel".
ALREADY_PARALLEL_CORES = 1.4
#: Below this fraction of the cores a scaling test needs (min(N, cores)), a "no-scaling" verdict
#: says that the machine was too busy for scaling to show. An idle machine reads 0.97-0.99.
BUSY_FRACTION = 0.9
#: Milliseconds each free-cores sample lasts (one before the probe, one after each round).
_FREE_CORES_MS = 50
#: Refuse more threads than this: a probe, not a fork bomb.
MAX_THREADS = 1024

DEFAULT_THREADS = (1, 2, 4)
DEFAULT_REPEAT = 3
DEFAULT_MIN_TIME = 0.2
#: Seconds the worker threads get to finish their current call after Ctrl-C before probe re-raises.
_STOP_GRACE = 1.0


@dataclasses.dataclass(frozen=True)
class ProbeRow:
    """The measurements for one thread count.

    Attributes:
        threads: N, the number of Python threads calling at once.
        wall: seconds for the run (median over the repeats); each thread makes ``number`` calls.
        walls: every repeat's wall time, in order.
        calls_per_s: N * number / wall.
        per_call: wall / number, the time one call takes as seen by one thread.
        speedup: calls_per_s over the 1-thread calls_per_s.
        efficiency: speedup / N.
        core_efficiency: speedup / min(N, cores): efficiency against what this machine can do.
        gil_share: GIL-hold share during the run (separate monitored run), in [0, 1].
        cpu: cores busy: process CPU time / wall (median over the repeats).
    """

    threads: int
    wall: float
    walls: tuple[float, ...]
    calls_per_s: float
    per_call: float
    speedup: float
    efficiency: float
    core_efficiency: float
    gil_share: float
    cpu: float


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """What :func:`probe` measured, and its verdict.

    Attributes:
        name: what was probed (the function's qualified name, or the CLI statement).
        number: calls each thread makes per run.
        repeat: timed runs per thread count (the median is reported).
        cores: CPU cores this process may use.
        free_cores: how many of them were free for the probe (mean of ``free_samples``). Below
            ``cores`` means other work was running; scaling cannot show beyond it.
        free_samples: process CPU time over wall time while one GIL-free busy loop per core
            (``_testing.spin``, 50 ms) ran: before the probe and after each round of runs.
        gil_enabled: False on a free-threaded interpreter running without the GIL.
        load: the 1-minute load average before the probe (None where unavailable): other work
            on the machine takes cores from the probe.
        rows: one :class:`ProbeRow` per thread count, ascending; the first is 1 thread.
        kind: the verdict's category, a key of :data:`KINDS`.
        verdict: the verdict as one line of text.
    """

    name: str
    number: int
    repeat: int
    cores: int
    free_cores: float
    free_samples: tuple[float, ...]
    gil_enabled: bool
    load: float | None
    rows: tuple[ProbeRow, ...]
    kind: str
    verdict: str

    def row(self, threads: int) -> ProbeRow:
        """The row for ``threads`` threads (KeyError if that count was not measured)."""
        for r in self.rows:
            if r.threads == threads:
                return r
        raise KeyError(threads)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able data (``json.dumps(result.to_dict())`` works)."""
        d = dataclasses.asdict(self)
        d["rows"] = [{**r, "walls": list(r["walls"])} for r in d["rows"]]
        d["free_samples"] = list(self.free_samples)
        return d

    def format(self) -> str:
        """A readable table, one line per thread count, and the verdict."""
        one = self.rows[0]
        calls = f"{self.number} call{'s' if self.number > 1 else ''} per thread per run"
        notes = [f"{self.free_cores:.1f} of {self.cores} cores free", calls, f"median of {self.repeat}"]
        if self.load is not None:
            notes.append(f"load {self.load:.2f}")
        if not self.gil_enabled:
            notes.append("GIL disabled")
        lines = [
            f"probe: {self.name}  (1 call = {_fmt_time(one.per_call)}; {', '.join(notes)})",
            "",
            f"{'threads':>7}  {'time/call':>10}  {'calls/s':>10}  {'speedup':>7}  {'efficiency':>10}"
            f"  {'per core':>8}  {'GIL share':>9}  {'cores busy':>10}",
        ]
        for r in self.rows:
            flag = "  (> cores)" if r.threads > self.cores else ""
            lines.append(
                f"{r.threads:>7}  {_fmt_time(r.per_call):>10}  {_fmt_rate(r.calls_per_s):>10}"
                f"  {r.speedup:>6.2f}x  {r.efficiency:>10.2f}  {r.core_efficiency:>8.2f}"
                f"  {r.gil_share:>9.2f}  {r.cpu:>10.2f}{flag}"
            )
        lines += ["", f"verdict: {self.verdict}"]
        return "\n".join(lines)


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _fmt_rate(rate: float) -> str:
    return f"{rate:.4g}" if rate < 1e6 else f"{rate:.3e}"


def verdict(rows: Sequence[ProbeRow], cores: int, free_cores: float | None = None) -> tuple[str, str]:
    """The verdict on a probe's measurements: ``(kind, one line of text)``.

    A pure function of the rows (which must include 1 thread), the core count and the free cores
    (see :class:`ProbeResult`), so that the rules can be read and tested apart from any timing.
    With *share* and *busy* read on the 1-thread row and *best* the best speedup over N > 1, the
    first rule that matches wins:

    1. **already-parallel**: busy >= 1.4 cores and best < 1.3x.
    2. **holds-gil**: share >= 0.5, whatever the speedup: threads that take turns on the GIL for
       a share s of the time cannot beat 1/s (1.25x at 0.8), so a higher reading is other work
       disturbing the timings — the text says so.
    3. **not-cpu**: busy < 0.15 cores: the call waits (sleep, I/O).
    4. **scales**: best >= 1.3x. The text adds the share if it is >= 0.2 (it caps the scaling).
    5. **releases-gil**: no N > 1 was measured, or the machine has one core.
    6. **no-scaling**: everything else — GIL mostly released, yet no speedup: a lock inside,
       memory-bound, or the cores were busy with other work. The text says the latter when fewer
       than 90% of min(N, cores) cores were free.

    The reported N is the fewest threads within 5% of the best speedup, so that 2 threads at 1.9x
    are reported rather than 4 threads at 1.92x on a 2-core machine.

    Example:
        >>> from gilfree.lab._probe import ProbeRow, verdict
        >>> def row(n, speedup, share, cpu):
        ...     return ProbeRow(n, 1.0, (1.0,), n / 1.0, 1.0, speedup, speedup / n, speedup / n, share, cpu)
        >>> verdict([row(1, 1.0, 0.95, 1.0), row(2, 0.98, 0.97, 1.0)], cores=2)[0]
        'holds-gil'
        >>> verdict([row(1, 1.0, 0.01, 1.0), row(2, 1.9, 0.02, 1.9)], cores=2)[1]
        'releases the GIL and scales: 1.90x on 2 threads (efficiency 0.95)'
    """
    one = next((r for r in rows if r.threads == 1), None)
    if one is None:
        raise ValueError("verdict needs the 1-thread row")
    multi = [r for r in rows if r.threads > 1]
    best = None
    if multi:
        top = max(r.speedup for r in multi)
        best = min((r for r in multi if r.speedup >= 0.95 * top), key=lambda r: r.threads)
    scales = best is not None and best.speedup >= SCALES_SPEEDUP
    share, cpu = one.gil_share, one.cpu
    on_n = f"{best.speedup:.2f}x on {best.threads} threads" if best is not None else ""

    if cpu >= ALREADY_PARALLEL_CORES and not scales:
        tail = f" ({on_n})" if best is not None else ""
        return "already-parallel", (
            f"already parallel: one call keeps {cpu:.1f} cores busy, more threads add little{tail}"
        )
    if share >= HOLDS_GIL_SHARE:
        # Threads take turns on the GIL for `share` of the time, so they cannot beat 1/share
        # (1.25x at 0.8): a higher "speedup" is other work disturbing the timings, not scaling.
        text = f"holds the GIL (share {share:.2f}): threads cannot speed it up"
        if best is not None and not scales:
            text += f" ({on_n})"
        text += " — use processes or a GIL-free kernel"
        if best is not None and scales:
            busy = f": {free_cores:.1f} of {cores} cores were free" if free_cores is not None else ""
            text += f" (the {on_n} measured is noise from other work{busy})"
        return "holds-gil", text
    if cpu < NOT_CPU_CORES:
        tail = f" ({on_n})" if best is not None else ""
        return "not-cpu", (
            f"releases the GIL but mostly waits ({cpu:.2f} cores busy): threads overlap it{tail},"
            " but it is not CPU work"
        )
    if best is not None and scales:
        text = f"releases the GIL and scales: {on_n} (efficiency {best.efficiency:.2f})"
        if share >= PARTLY_HOLDS_SHARE:
            text += f"; it holds the GIL {share:.0%} of the time, which caps the scaling"
        if cpu >= ALREADY_PARALLEL_CORES:
            text += f"; one call already keeps {cpu:.1f} cores busy"
        return "scales", text
    if best is None:
        return "releases-gil", (
            f"releases the GIL (share {share:.2f}), {cpu:.2f} cores busy: probe with more threads,"
            " e.g. threads=(1, 2), to see whether it scales"
        )
    if cores < 2:
        return "releases-gil", (
            f"releases the GIL (share {share:.2f}), but this machine has one core:"
            " threads cannot add throughput"
        )
    needed = min(best.threads, cores)
    if free_cores is not None and free_cores < BUSY_FRACTION * needed:
        return "no-scaling", (
            f"releases the GIL (share {share:.2f}) but did not scale: {on_n}; only {free_cores:.1f}"
            f" of {cores} cores were free (other work), so scaling could not show — probe again"
            " on a quieter machine"
        )
    if share >= PARTLY_HOLDS_SHARE:
        return "no-scaling", (
            f"holds the GIL part of the time (share {share:.2f}) and does not scale: {on_n}"
        )
    return "no-scaling", (
        f"releases the GIL (share {share:.2f}) but does not scale: {on_n} — serialised by a lock"
        " inside, or memory-bound"
    )


def _cores() -> int:
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+: honours affinity
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Crew:
    """Daemon threads running ``target(index)``, and a wait for them that can be trusted.

    Not ``Thread.join``: on CPython 3.11, once a ``join()`` has been interrupted by Ctrl-C,
    ``is_alive()`` reads False and ``join()`` returns at once while the thread still runs. A
    program that then exits while a worker is inside a GIL-free native call aborts (SIGABRT: the
    worker is killed with ``pthread_exit`` when it re-takes the GIL during finalisation, and that
    cannot unwind through native frames). So each worker signals its own end on a semaphore.
    """

    def __init__(self, target: Callable[[int], object], n: int) -> None:
        self._target = target
        self._n = n
        self._ended = threading.Semaphore(0)
        self._started = 0
        self._waited = 0

    def _main(self, index: int) -> None:
        try:
            self._target(index)
        finally:
            self._ended.release()

    def start(self) -> None:
        for i in range(self._n):
            threading.Thread(target=self._main, args=(i,), name=f"gilfree-probe-{i}", daemon=True).start()
            self._started += 1

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until every started thread has ended; False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._waited < self._started:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._ended.acquire(timeout=left):
                return False
            self._waited += 1
        return True

    def stop(self, exc: BaseException) -> None:
        """After ``exc`` in the waiting thread: give the workers a moment to end, then return."""
        if isinstance(exc, KeyboardInterrupt):
            # The SIGINT handler stopped the gilfree calls in flight; this also stops any that a
            # worker started since, before it saw the stop flag.
            interrupt()
        self.wait(_STOP_GRACE)


def _free_cores(cores: int) -> float:
    """Cores this process got while one GIL-free busy loop per core ran for 50 ms."""
    n = min(cores, 64)
    crew = _Crew(lambda _: _testing.spin(1, _FREE_CORES_MS, threads=1), n)
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        crew.start()
        crew.wait()
    except BaseException as exc:
        crew.stop(exc)
        raise
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return min(float(n), cpu / wall) if wall > 0 else float(n)


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _check_threads(threads: object) -> tuple[int, ...]:
    hint = "threads must be a non-empty sequence of positive ints, e.g. (1, 2, 4)"
    if isinstance(threads, (str, bytes)) or not isinstance(threads, Iterable):
        raise TypeError(f"{hint}; got {threads!r}")
    counts = tuple(threads)
    if not counts:
        raise ValueError(f"{hint}; got an empty sequence")
    for n in counts:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"{hint}; got {n!r} in {threads!r}")
        if not 1 <= n <= MAX_THREADS:
            raise ValueError(f"{hint} (at most {MAX_THREADS}); got {n}")
    # 1 thread is the baseline of every speedup: always measured.
    return tuple(sorted({1, *counts}))


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def _check_min_time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"min_time must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"min_time must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def _describe(exc: BaseException, where: str) -> BaseException:
    """Add a note saying where the probed call raised (Python 3.11+), then return ``exc``."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(f"raised by the call under gilfree.probe, {where}")
    return exc


def _calibrate(call: Callable[[], object], min_time: float) -> int:
    """Calls per run so that a 1-thread run lasts >= min_time, the way ``timeit`` autoranges."""
    t0 = time.perf_counter()
    try:
        call()  # warm-up; also surfaces a broken call before any thread starts
    except Exception as exc:
        raise _describe(exc, "on its first call") from None
    once = time.perf_counter() - t0
    # Jump close to the target from the warm-up's estimate, then grow. A slow first call (lazy
    # initialisation, a cold cache) only makes the first guess small: it is never trusted alone.
    number = min(10**9, max(1, int(0.5 * min_time / max(once, 1e-9))))
    while True:
        t0 = time.perf_counter()
        try:
            for _ in range(number):
                call()
        except Exception as exc:
            raise _describe(exc, "during the calibration") from None
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time:
            return number
        # Aim slightly past min_time from this (better) estimate; at least double.
        number = max(2 * number, int(1.1 * number * min_time / max(elapsed, 1e-9)) + 1)


@dataclasses.dataclass(frozen=True)
class _Run:
    wall: float
    cpu: float
    share: float | None


def _run(call: Callable[[], object], n_threads: int, number: int, monitor: bool) -> _Run:
    """One run: ``n_threads`` threads released together, each making ``number`` calls."""
    barrier = threading.Barrier(n_threads + 1)
    stop = threading.Event()
    errors: list[tuple[int, BaseException]] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        try:
            for _ in range(number):
                if stop.is_set():
                    return
                call()
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            errors.append((index, exc))
            stop.set()

    crew = _Crew(work, n_threads)
    gil = GilMonitor() if monitor else None
    try:
        crew.start()
        with gil if gil is not None else contextlib.nullcontext():
            cpu0, t0 = time.process_time(), time.perf_counter()
            barrier.wait()
            crew.wait()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    except BaseException as stopped:
        # Ctrl-C (or anything) in the waiting thread: release the workers, let them end the call
        # they are in (gilfree kernels stop at once), and re-raise. They are daemons, so a call
        # that never returns cannot hang the exit.
        stop.set()
        barrier.abort()
        crew.stop(stopped)
        raise
    if errors:
        index, exc = errors[0]
        raise _describe(exc, f"in thread {index + 1} of {n_threads}") from None
    return _Run(wall, cpu / wall if wall > 0 else 0.0, gil.reading.share if gil is not None else None)


def probe(
    fn: Callable[..., object],
    /,
    *args: Any,
    threads: Iterable[int] = DEFAULT_THREADS,
    repeat: int = DEFAULT_REPEAT,
    min_time: float = DEFAULT_MIN_TIME,
    number: int | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> ProbeResult:
    """Does ``fn(*args, **kwargs)`` release the GIL, and does it scale over Python threads?

    For each N in ``threads`` (1 is always added: it is the baseline), N Python threads are
    released together and each calls ``fn(*args, **kwargs)`` ``number`` times. Reported per N:
    time per call, calls per second, speedup and efficiency against 1 thread, GIL-hold share and
    cores busy; then a verdict (see :func:`verdict` for the rules and :data:`KINDS`).

    Arguments:
        fn: the callable to probe. Other positional and keyword arguments are passed to it,
            except the options below; to give ``fn`` a keyword of the same name (e.g. a
            gilfree kernel's own ``threads=``), wrap it: ``functools.partial(fn, threads=1)``.
        threads: the thread counts to try. Counts above the number of cores cannot scale CPU
            work; the ``core_efficiency`` column says how close to the machine's limit they got.
        repeat: timed runs per thread count, taken in turn over the counts; the median is
            reported. Plus one monitored run per thread count for the GIL-hold share.
        min_time: seconds a 1-thread run should last at least; ``number`` is calibrated from it
            like ``timeit`` (a run with N threads of GIL-bound work lasts about N times longer).
        number: calls per thread per run; skips the calibration (one warm-up call is still made).
        name: the label in the report; default ``fn``'s qualified name.

    Raises:
        TypeError, ValueError: bad arguments.
        Exception: whatever ``fn`` raises, from its first failing call (on Python 3.11+ with a
            note saying which thread).
        KeyboardInterrupt: on Ctrl-C; the worker threads stop after their current call.

    Example:
        >>> import time, gilfree
        >>> def python_loop():
        ...     return sum(i * i for i in range(20_000))
        >>> r = gilfree.probe(python_loop, threads=(1, 2), repeat=1, min_time=0.05)
        >>> r.kind if r.gil_enabled else "holds-gil"  # with a GIL (free-threaded: no GIL to hold)
        'holds-gil'
        >>> r = gilfree.probe(time.sleep, 0.002, threads=(1, 2), repeat=1, min_time=0.05)
        >>> r.kind, r.row(2).speedup > 1.5
        ('not-cpu', True)
        >>> print(r.verdict)  # doctest: +ELLIPSIS
        releases the GIL but mostly waits (0... cores busy): threads overlap it (...x on 2 threads),
        but it is not CPU work
    """
    if not callable(fn):
        raise TypeError(f"probe needs a callable, got {fn!r}")
    counts = _check_threads(threads)
    repeat = _check_positive_int("repeat", repeat)
    min_time = _check_min_time(min_time)
    if number is not None:
        number = _check_positive_int("number", number)
    if name is None:
        name = getattr(fn, "__qualname__", None) or repr(fn)
    elif not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")

    def call() -> object:
        return fn(*args, **kwargs)

    load = _load()
    cores = _cores()
    free = [_free_cores(cores)]
    if number is None:
        number = _calibrate(call, min_time)
    else:
        try:
            call()  # warm-up, as the calibration would have done
        except Exception as exc:
            raise _describe(exc, "on its first call") from None

    # Round-robin over the thread counts, so that a burst of other work on the machine hits every
    # count alike instead of spoiling one; the monitored runs (GIL share only) come last.
    runs: dict[int, list[_Run]] = {n: [] for n in counts}
    for _ in range(repeat):
        for n in counts:
            runs[n].append(_run(call, n, number, monitor=False))
        free.append(_free_cores(cores))
    shares = {n: _run(call, n, number, monitor=True).share or 0.0 for n in counts}
    measured: list[tuple[int, float, tuple[float, ...], float, float]] = []
    for n in counts:
        walls = tuple(r.wall for r in runs[n])
        cpu = statistics.median(r.cpu for r in runs[n])
        measured.append((n, statistics.median(walls), walls, cpu, shares[n]))

    base = number / measured[0][1]  # 1-thread calls per second
    rows = []
    for n, wall, walls, cpu, share in measured:
        rate = n * number / wall
        speedup = rate / base
        rows.append(
            ProbeRow(
                threads=n,
                wall=wall,
                walls=walls,
                calls_per_s=rate,
                per_call=wall / number,
                speedup=speedup,
                efficiency=speedup / n,
                core_efficiency=speedup / min(n, cores),
                gil_share=share,
                cpu=cpu,
            )
        )
    free_cores = statistics.fmean(free)
    kind, text = verdict(rows, cores, free_cores)
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return ProbeResult(
        name=name,
        number=number,
        repeat=repeat,
        cores=cores,
        free_cores=free_cores,
        free_samples=tuple(free),
        gil_enabled=bool(is_gil_enabled()) if is_gil_enabled is not None else True,
        load=load,
        rows=tuple(rows),
        kind=kind,
        verdict=text,
    )


# --- the command line --------------------------------------------------------------------------


def _parse_threads(text: str) -> tuple[int, ...]:
    try:
        return _check_threads(tuple(int(part) for part in text.split(",") if part.strip()))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected positive ints like 1,2,4, got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        return _check_min_time(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        return _check_positive_int("the value", int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def make_statement(stmt: str, setup: str = "pass") -> tuple[Callable[[], object], dict[str, Any]]:
    """``timeit``-style: run ``setup`` once in a fresh namespace, compile ``stmt`` as the body of
    a function of that namespace, and return ``(function, namespace)``.

    Example:
        >>> from gilfree.lab._probe import make_statement
        >>> fn, ns = make_statement("x = sorted(a)", setup="a = [3, 1, 2]")
        >>> fn() is None, ns["a"]
        (True, [3, 1, 2])
    """
    namespace: dict[str, Any] = {"__name__": "__probe__"}
    exec(compile(setup, "<setup>", "exec"), namespace)
    source = "def __probe_stmt__():\n" + textwrap.indent(stmt, "    ") + "\n"
    exec(compile(source, "<stmt>", "exec"), namespace)
    fn: Callable[[], object] = namespace.pop("__probe_stmt__")
    return fn, namespace


def _probe_workloads(args: argparse.Namespace) -> list[ProbeResult] | int:
    """``--workload MODULE:ATTR``: probe one default task of each workload it names."""
    from gilfree.lab._user import load_workloads

    if args.stmt or args.setup:
        args.probe_parser.error("give a statement or --workload, not both")
    try:
        workloads = load_workloads(args.workload)
    except (TypeError, ValueError) as exc:
        print(f"gilfree probe: error: {exc}", file=sys.stderr)
        return 2
    results = []
    for w in workloads:
        try:
            results.append(
                w.probe(threads=args.threads, repeat=args.repeat, min_time=args.min_time, number=args.number)
            )
        except Exception:
            print(f"gilfree probe: the workload {w.name} raised:", file=sys.stderr)
            traceback.print_exc()
            return 1
    return results


def _probe_statement(args: argparse.Namespace) -> list[ProbeResult] | int:
    if not args.stmt:
        args.probe_parser.error("give a statement to probe (or --workload MODULE:ATTR)")
    stmt = "\n".join(args.stmt)
    setup = "\n".join(args.setup) or "pass"
    try:
        fn, _ = make_statement(stmt, setup)
    except SyntaxError as exc:
        print(f"gilfree probe: syntax error in {exc.filename}: {exc.msg} ({exc.text!r})", file=sys.stderr)
        return 2
    except Exception:
        print("gilfree probe: the setup raised:", file=sys.stderr)
        traceback.print_exc()
        return 1
    try:
        result = probe(
            fn,
            threads=args.threads,
            repeat=args.repeat,
            min_time=args.min_time,
            number=args.number,
            name=" / ".join(args.stmt),
        )
    except Exception:
        print("gilfree probe: the statement raised:", file=sys.stderr)
        traceback.print_exc()
        return 1
    return [result]


def _cmd_probe(args: argparse.Namespace) -> int:
    # Like `python -m timeit`: let the setup (or the workload's module) import modules from the
    # current directory.
    sys.path.insert(0, os.curdir)
    try:
        results = _probe_workloads(args) if args.workload else _probe_statement(args)
    finally:
        sys.path.remove(os.curdir)
    if isinstance(results, int):
        return results
    data: Any = results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results]
    if args.json == "-":
        print(json.dumps(data, indent=2))
        return 0
    print("\n\n".join(r.format() for r in results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
    return 0


def add_probe_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``probe`` subcommand to the ``gilfree`` command line's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "probe",
        help="does a statement release the GIL, and does it scale over threads?",
        description=(
            "Run STMT (timeit-style) in 1, 2, 4... Python threads at once and report speedup,"
            " efficiency, GIL-hold share, cores busy and a verdict. Example: gilfree probe"
            ' -s "import numpy as np; a = np.random.rand(10**7)" "np.sort(a)"'
        ),
    )
    p.add_argument("stmt", nargs="*", metavar="STMT", help="statement to probe (several are joined as lines)")
    p.add_argument(
        "--workload",
        metavar="MODULE:ATTR",
        help="probe one default task of your own gilfree.lab.Workload (or list of them) instead of STMT",
    )
    p.add_argument(
        "-s",
        "--setup",
        action="append",
        default=[],
        metavar="SETUP",
        help="statement run once first, in the statement's namespace (repeatable)",
    )
    p.add_argument(
        "-t",
        "--threads",
        type=_parse_threads,
        default=DEFAULT_THREADS,
        metavar="N,N,...",
        help="thread counts to try (default: 1,2,4; 1 is always measured)",
    )
    p.add_argument(
        "-r",
        "--repeat",
        type=_positive_int,
        default=DEFAULT_REPEAT,
        help=f"timed runs per thread count, median reported (default: {DEFAULT_REPEAT})",
    )
    p.add_argument(
        "-n",
        "--number",
        type=_positive_int,
        default=None,
        help="calls per thread per run (default: calibrated from --min-time)",
    )
    p.add_argument(
        "--min-time",
        type=_positive_float,
        default=DEFAULT_MIN_TIME,
        metavar="SECONDS",
        help=f"minimum length of a 1-thread run, for the calibration (default: {DEFAULT_MIN_TIME})",
    )
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE ('-': stdout only)")
    p.set_defaults(func=_cmd_probe, probe_parser=p)
    return p
