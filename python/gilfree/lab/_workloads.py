"""The lab's workloads: each one a stream of independent, equal-cost tasks, with a GIL-free kernel
and a pure-Python twin that computes the same answer for every task.

A task is a small picklable tuple. ``native(task, threads)`` runs it with a gilfree kernel,
``python(task)`` with plain Python (the twin; a module-level function, so that a process pool can
pickle it), and ``canon(result)`` turns either result into a value that compares with ``==`` (the
lab checks every strategy's answers against the kernel's before it times anything). A user's
workload (:class:`gilfree.lab.Workload`) becomes a :class:`LabWorkload` too (``gilfree.lab._user``),
with the strategies that do not apply to it listed in ``skip``. Tasks of one
workload cost the same (the same size, shifted a little so that answers differ), so the cost per
task is the same for every strategy and strategies that run different numbers of tasks compare by
time per task.

``sweep_task(size)`` makes one task of a given size for the break-even sweep; its cost grows
roughly linearly with ``size``.

Example:
    >>> from gilfree.lab._workloads import WORKLOADS
    >>> w = WORKLOADS["count_primes"]
    >>> task = w.tasks(2, scale=0.01)[0]
    >>> w.canon(w.python(task)) == w.canon(w.native(task, 1))
    True
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import gilfree

Task = tuple[Any, ...]

# --- mandelbrot --------------------------------------------------------------------------------

#: The default image of one task and its iteration cap; task i shifts the window right by i * 1e-4.
_MANDEL = (160, 120, 200)


def _mandel_window(i: int) -> tuple[float, float, float, float]:
    shift = i * 1e-4
    return (-2.0 + shift, 1.0 + shift, -1.5, 1.5)


def mandelbrot_python(task: Task) -> bytes:
    """The pure-Python twin of :func:`gilfree.mandelbrot`: the documented loop, pixel by pixel."""
    width, height, max_iter, xmin, xmax, ymin, ymax = task
    dx = (xmax - xmin) / width
    dy = (ymax - ymin) / height
    out = bytearray()
    for i in range(height):
        ci = ymin + i * dy
        for j in range(width):
            cr = xmin + j * dx
            zr = zi = 0.0
            n = 0
            while n < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                n += 1
            out += n.to_bytes(2, "little")
    return bytes(out)


def mandelbrot_native(task: Task, threads: int | None) -> Any:
    width, height, max_iter, xmin, xmax, ymin, ymax = task
    return gilfree.mandelbrot(
        width, height, max_iter=max_iter, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax, threads=threads
    )


def _mandel_tasks(count: int, scale: float) -> list[Task]:
    width, height, max_iter = _MANDEL
    side = math.sqrt(scale)
    w, h = max(1, round(width * side)), max(1, round(height * side))
    return [(w, h, max_iter, *_mandel_window(i)) for i in range(count)]


def _mandel_sweep(size: float) -> Task:
    # size = pixels; a 4:3 image at the default window and cap.
    h = max(1, round(math.sqrt(size * 3 / 4)))
    w = max(1, round(size / h))
    return (w, h, _MANDEL[2], *_mandel_window(0))


def _canon_counts(result: Any) -> bytes:
    return np.ascontiguousarray(result, dtype="<u2").tobytes() if not isinstance(result, bytes) else result


# --- count_primes ------------------------------------------------------------------------------

#: The default n of one task; task i counts the primes <= n + i.
_PRIMES_N = 2_000_000


def count_primes_python(task: Task) -> int:
    """The pure-Python twin of :func:`gilfree.count_primes`: a sieve of Eratosthenes over odd
    numbers in a ``bytearray``."""
    (n,) = task
    if n < 2:
        return 0
    size = (n - 1) // 2  # index k stands for 2k + 1, k >= 1
    sieve = bytearray([1]) * (size + 1)
    sieve[0] = 0
    k = 1
    while (2 * k + 1) ** 2 <= n:
        if sieve[k]:
            p = 2 * k + 1
            start = p * p // 2
            sieve[start::p] = bytes(len(range(start, size + 1, p)))
        k += 1
    count: int = 1 + sum(sieve)
    return count


def count_primes_native(task: Task, threads: int | None) -> int:
    return gilfree.count_primes(task[0], threads=threads)


def _primes_tasks(count: int, scale: float) -> list[Task]:
    n = max(10, round(_PRIMES_N * scale))
    return [(n + i,) for i in range(count)]


def _primes_sweep(size: float) -> Task:
    return (max(10, round(size)),)


# --- spectral_norm -----------------------------------------------------------------------------

_SPECTRAL_N = 80


def spectral_norm_python(task: Task) -> float:
    """The pure-Python twin of :func:`gilfree.spectral_norm`: the Benchmarks Game program."""
    (n,) = task

    def a(i: int, j: int) -> float:
        return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

    def mul_av(v: list[float]) -> list[float]:
        return [sum(a(i, j) * v[j] for j in range(n)) for i in range(n)]

    def mul_atv(v: list[float]) -> list[float]:
        return [sum(a(j, i) * v[j] for j in range(n)) for i in range(n)]

    u = [1.0] * n
    v = u
    for _ in range(10):
        v = mul_atv(mul_av(u))
        u = mul_atv(mul_av(v))
    vbv = sum(x * y for x, y in zip(u, v, strict=True))
    vv = sum(x * x for x in v)
    return math.sqrt(vbv / vv)


def spectral_norm_native(task: Task, threads: int | None) -> float:
    return gilfree.spectral_norm(task[0], threads=threads)


def _spectral_tasks(count: int, scale: float) -> list[Task]:
    n = max(2, round(_SPECTRAL_N * math.sqrt(scale)))
    return [(n + i % 4,) for i in range(count)]


def _spectral_sweep(size: float) -> Task:
    return (max(2, round(math.sqrt(size))),)


# --- nbody -------------------------------------------------------------------------------------

_NBODY_STEPS = 4000

_SOLAR_MASS = 4 * math.pi * math.pi
_DAYS_PER_YEAR = 365.24
#: Sun, Jupiter, Saturn, Uranus, Neptune: position (AU), velocity (AU/day), mass (solar masses).
_BODIES = (
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0),
    (
        (4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01),
        (1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05),
        9.54791938424326609e-04,
    ),
    (
        (8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01),
        (-2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05),
        2.85885980666130812e-04,
    ),
    (
        (1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01),
        (2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05),
        4.36624404335156298e-05,
    ),
    (
        (1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01),
        (2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05),
        5.15138902046611451e-05,
    ),
)


def nbody_python(task: Task) -> tuple[float, float]:
    """The pure-Python twin of :func:`gilfree.nbody`: the Benchmarks Game program."""
    (steps,) = task
    pos = [list(b[0]) for b in _BODIES]
    vel = [[c * _DAYS_PER_YEAR for c in b[1]] for b in _BODIES]
    mass = [b[2] * _SOLAR_MASS for b in _BODIES]
    nb = len(mass)
    for k in range(3):
        p = 0.0
        for i in range(nb):
            p += vel[i][k] * mass[i]
        vel[0][k] = -p / _SOLAR_MASS

    def energy() -> float:
        e = 0.0
        for i in range(nb):
            vx, vy, vz = vel[i]
            e += 0.5 * mass[i] * (vx * vx + vy * vy + vz * vz)
            for j in range(i + 1, nb):
                dx = pos[i][0] - pos[j][0]
                dy = pos[i][1] - pos[j][1]
                dz = pos[i][2] - pos[j][2]
                e -= mass[i] * mass[j] / math.sqrt(dx * dx + dy * dy + dz * dz)
        return e

    before = energy()
    dt = 0.01
    pairs = [(i, j) for i in range(nb) for j in range(i + 1, nb)]
    for _ in range(steps):
        for i, j in pairs:
            pi, pj, vi, vj = pos[i], pos[j], vel[i], vel[j]
            dx = pi[0] - pj[0]
            dy = pi[1] - pj[1]
            dz = pi[2] - pj[2]
            d2 = dx * dx + dy * dy + dz * dz
            mag = dt / (d2 * math.sqrt(d2))
            mj = mass[j] * mag
            mi = mass[i] * mag
            vi[0] -= dx * mj
            vi[1] -= dy * mj
            vi[2] -= dz * mj
            vj[0] += dx * mi
            vj[1] += dy * mi
            vj[2] += dz * mi
        for i in range(nb):
            pi, vi = pos[i], vel[i]
            pi[0] += dt * vi[0]
            pi[1] += dt * vi[1]
            pi[2] += dt * vi[2]
    return before, energy()


def nbody_native(task: Task, threads: int | None) -> tuple[float, float]:
    # The n-body kernel is serial (one simulation is a chain of dependent steps): `threads` does
    # not apply, and the lab does not run this workload on the native pool.
    return gilfree.nbody(task[0])


def _nbody_tasks(count: int, scale: float) -> list[Task]:
    steps = max(1, round(_NBODY_STEPS * scale))
    return [(steps + i,) for i in range(count)]


def _nbody_sweep(size: float) -> Task:
    return (max(1, round(size)),)


# --- sum (a reduction) -------------------------------------------------------------------------

_SUM_LEN = 400_000


def _capacity(length: int) -> int:
    # One array per power of two serves every task (and every sweep size) up to it.
    return 1 << max(16, (length + 64 - 1).bit_length())


@functools.lru_cache(maxsize=16)  # every power of two up to the sweep's 4M: 64 MiB in all
def _sum_array(capacity: int) -> np.ndarray:
    # int64 values, so that the sum is exact and the twin's answer is the kernel's exactly.
    data: np.ndarray = np.random.default_rng(20261125).integers(-(10**9), 10**9, size=capacity)
    return data


def _sum_data(length: int) -> np.ndarray:
    return _sum_array(_capacity(length))


@functools.lru_cache(maxsize=2)
def _sum_list(capacity: int) -> list[int]:
    values: list[int] = _sum_array(capacity).tolist()
    return values


def sum_python(task: Task) -> int:
    """The pure-Python twin of :func:`gilfree.sum` on int64: ``sum()`` over a list of ints.

    The task is ``(length, offset)``: the data (generated once per process, from a fixed seed)
    starting at ``offset``."""
    length, offset = task
    return sum(_sum_list(_capacity(length))[offset : offset + length])


def sum_native(task: Task, threads: int | None) -> int:
    length, offset = task
    return int(gilfree.sum(_sum_data(length)[offset : offset + length], threads=threads))


def _sum_tasks(count: int, scale: float) -> list[Task]:
    length = max(1, round(_SUM_LEN * scale))
    return [(length, i % 64) for i in range(count)]


def _sum_sweep(size: float) -> Task:
    return (max(1, round(size)), 0)


# --- the kernel calls, for executors that take a callable and its arguments ------------------

KernelCall = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def mandelbrot_call(task: Task) -> KernelCall:
    width, height, max_iter, xmin, xmax, ymin, ymax = task
    return (
        gilfree.mandelbrot,
        (width, height),
        {"max_iter": max_iter, "xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax},
    )


def count_primes_call(task: Task) -> KernelCall:
    return gilfree.count_primes, (task[0],), {}


def spectral_norm_call(task: Task) -> KernelCall:
    return gilfree.spectral_norm, (task[0],), {}


def nbody_call(task: Task) -> KernelCall:
    return gilfree.nbody, (task[0],), {}


def sum_call(task: Task) -> KernelCall:
    length, offset = task
    return gilfree.sum, (_sum_data(length)[offset : offset + length],), {}


# --- the registry ------------------------------------------------------------------------------


def _exact(result: Any) -> Any:
    return result


def _close(result: Any) -> Any:
    # Float answers: the kernel and the twin may add in different orders, so compare to 10
    # significant digits (far tighter than any real disagreement would be).
    if isinstance(result, tuple):
        return tuple(float(f"{x:.10g}") for x in result)
    return float(f"{result:.10g}")


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


#: How many sizes a planned break-even sweep has (``LabWorkload.plan_sweep``).
SWEEP_POINTS = 11


@dataclasses.dataclass(frozen=True)
class LabWorkload:
    """One workload as the lab runs it: a stream of tasks (gilfree's own, or a user's
    :class:`gilfree.lab.Workload` converted by ``gilfree.lab._user``).

    Attributes:
        name: the ``--workload`` name.
        title: a one-line description of one task.
        native: ``native(task, threads)``: the task with the native function (a gilfree kernel).
        python: ``python(task)``: the pure-Python twin (module level, picklable); None: no twin.
        canon: makes results of both comparable with ``same``.
        make_tasks: ``make_tasks(count, scale)``: ``count`` tasks of the default size times ``scale``.
        sweep_task: one task of ``size`` units of work, for the break-even sweep.
        sweep_sizes: the sweep's sizes, smallest to largest (~1 us to ~10 ms per task here).
        pool: whether the kernel takes ``threads=`` (the native-pool strategy applies).
        kernel_call: ``kernel_call(task)`` -> ``(kernel, args, kwargs)``: the task as one kernel
            call (what ``gilfree.Executor.submit`` takes to run it as a native task).
        same: ``same(canon(result), canon(reference)) -> bool``: do two answers agree.
        gil_variants: None for gilfree's kernels (``_lab.call`` makes them hold or take back the
            GIL); for a user's workload, the variants given, by mode (``"hold"``, ``"reacquire"``).
        skip: strategies that do not apply, with the reason: left out of the table unless asked
            for by name (then reported as skipped, with the reason).
        descriptions: strategy descriptions that fit this workload better than the generic ones.
        plan_sweep: ``plan_sweep(task_seconds, scale)``: the sweep's sizes, given one task's
            measured time on one thread at the default size times ``scale`` (None: ``sweep_sizes``).
        probe: run ``gilfree.probe`` on one task before timing (a user's function: whether it
            releases the GIL is measured, not assumed).
    """

    name: str
    title: str
    native: Callable[[Task, int | None], Any]
    python: Callable[[Task], Any] | None
    canon: Callable[[Any], Any]
    make_tasks: Callable[[int, float], list[Task]]
    sweep_task: Callable[[float], Task]
    sweep_sizes: Sequence[float]
    pool: bool = True
    kernel_call: Callable[[Task], KernelCall] | None = None
    same: Callable[[Any, Any], bool] = _equal
    gil_variants: Mapping[str, Callable[[Task], Any]] | None = None
    skip: Mapping[str, str] = dataclasses.field(default_factory=dict)
    descriptions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    plan_sweep: Callable[[float, float], Sequence[float]] | None = None
    probe: bool = False

    def tasks(self, count: int, scale: float = 1.0) -> list[Task]:
        """``count`` tasks of the default size times ``scale`` (> 0)."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive number, got {scale}")
        return self.make_tasks(count, scale)

    @property
    def sweep_points(self) -> int:
        """How many sizes the break-even sweep has (known before the sizes are planned)."""
        return SWEEP_POINTS if self.plan_sweep is not None else len(self.sweep_sizes)


def _geometric(lo: float, hi: float, steps: int) -> tuple[float, ...]:
    return tuple(lo * (hi / lo) ** (k / (steps - 1)) for k in range(steps))


WORKLOADS: dict[str, LabWorkload] = {
    w.name: w
    for w in (
        LabWorkload(
            "mandelbrot",
            "a {}x{} Mandelbrot image, max_iter {}".format(*_MANDEL),
            mandelbrot_native,
            mandelbrot_python,
            _canon_counts,
            _mandel_tasks,
            _mandel_sweep,
            _geometric(4, 1e6, 11),
            kernel_call=mandelbrot_call,
        ),
        LabWorkload(
            "count_primes",
            f"count the primes <= {_PRIMES_N:,}",
            count_primes_native,
            count_primes_python,
            _exact,
            _primes_tasks,
            _primes_sweep,
            _geometric(1e3, 1e8, 11),
            kernel_call=count_primes_call,
        ),
        LabWorkload(
            "spectral_norm",
            f"the spectral norm of a {_SPECTRAL_N}x{_SPECTRAL_N} matrix",
            spectral_norm_native,
            spectral_norm_python,
            _close,
            _spectral_tasks,
            _spectral_sweep,
            _geometric(4, 1e6, 11),
            kernel_call=spectral_norm_call,
        ),
        LabWorkload(
            "nbody",
            f"a 5-body simulation of {_NBODY_STEPS:,} steps",
            nbody_native,
            nbody_python,
            _close,
            _nbody_tasks,
            _nbody_sweep,
            _geometric(4, 2.5e5, 11),
            pool=False,
            kernel_call=nbody_call,
        ),
        LabWorkload(
            "sum",
            f"the sum of {_SUM_LEN:,} int64 values",
            sum_native,
            sum_python,
            _exact,
            _sum_tasks,
            _sum_sweep,
            _geometric(64, 4e6, 11),
            kernel_call=sum_call,
        ),
    )
}

#: The workload `gilfree bench` runs when none is named.
DEFAULT_WORKLOAD = "mandelbrot"
