"""Type stubs for ``gilfree._native``, the Rust extension module. Checked against the module by
``make lint`` (``mypy.stubtest``). Import from ``gilfree``, not from here."""

import array
from typing import Any, Final, Protocol, SupportsIndex, TypeAlias, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "KernelError",
    "__version__",
    "_at_exit",
    "_interrupt",
    "_lab",
    "_runtime_info",
    "_testing",
    "argmax",
    "argmin",
    "count_primes",
    "fannkuch_redux",
    "get_num_threads",
    "mandelbrot",
    "max",
    "mean",
    "min",
    "monte_carlo_pi",
    "nbody",
    "primes",
    "set_num_threads",
    "spectral_norm",
    "std",
    "sum",
    "var",
]

__version__: Final[str]

_Float: TypeAlias = np.float32 | np.float64
_Int: TypeAlias = np.int32 | np.int64
#: A 1-D NumPy array, or any buffer-protocol object, of float32, float64, int32 or int64.
_Array1: TypeAlias = npt.NDArray[Any] | memoryview | bytearray | array.array[Any]

class KernelError(RuntimeError):
    """A gilfree kernel failed unexpectedly (a Rust panic, caught where it happened).

    The shared pool is unaffected and the next call works.
    """

# --- the shared pool -------------------------------------------------------------------------

def set_num_threads(n: int) -> None:
    """Set the size of the shared pool (1..1024); in-flight calls finish on the old pool."""

def get_num_threads() -> int:
    """The number of workers ``threads=None`` uses: set_num_threads(), GILFREE_NUM_THREADS, or cores."""

def _at_exit() -> None: ...
def _interrupt() -> None: ...
def _runtime_info() -> dict[str, Any]: ...

# --- reductions (src/kernels/reduce.rs) --------------------------------------------------------

@overload
def sum(a: npt.NDArray[_Float], *, threads: int | None = None) -> float: ...
@overload
def sum(a: npt.NDArray[_Int], *, threads: int | None = None) -> int: ...
@overload
def sum(a: _Array1, *, threads: int | None = None) -> float | int: ...
def mean(a: _Array1, *, threads: int | None = None) -> float:
    """The arithmetic mean as a float; nan for an empty array."""

def var(a: _Array1, *, ddof: int = 0, threads: int | None = None) -> float:
    """The variance ``sum((x - mean)**2) / (n - ddof)``; nan when ``n - ddof <= 0``."""

def std(a: _Array1, *, ddof: int = 0, threads: int | None = None) -> float:
    """The standard deviation, ``sqrt(var(a, ddof=ddof))``."""

@overload
def min(a: npt.NDArray[_Float], *, threads: int | None = None) -> float: ...
@overload
def min(a: npt.NDArray[_Int], *, threads: int | None = None) -> int: ...
@overload
def min(a: _Array1, *, threads: int | None = None) -> float | int: ...
@overload
def max(a: npt.NDArray[_Float], *, threads: int | None = None) -> float: ...
@overload
def max(a: npt.NDArray[_Int], *, threads: int | None = None) -> int: ...
@overload
def max(a: _Array1, *, threads: int | None = None) -> float | int: ...
def argmin(a: _Array1, *, threads: int | None = None) -> int:
    """The index of the first smallest element, or of the first NaN."""

def argmax(a: _Array1, *, threads: int | None = None) -> int:
    """The index of the first largest element, or of the first NaN."""

# --- fractal (src/kernels/fractal.rs) --------------------------------------------------------

def mandelbrot(
    width: int,
    height: int,
    *,
    max_iter: int = 256,
    xmin: float = -2.0,
    xmax: float = 1.0,
    ymin: float = -1.5,
    ymax: float = 1.5,
    threads: int | None = None,
) -> npt.NDArray[np.uint16]:
    """Escape-time counts of the Mandelbrot set over a window, a ``(height, width)`` uint16 array."""

# --- primes (src/kernels/primes.rs) -----------------------------------------------------------

def count_primes(n: SupportsIndex, *, threads: int | None = None) -> int:
    """The number of primes <= n (0 <= n <= 10**15): a segmented mod-30 wheel sieve."""

def primes(n: SupportsIndex, *, threads: int | None = None) -> npt.NDArray[np.uint64]:
    """The primes <= n (0 <= n <= 10**15) in increasing order, as a uint64 array."""

# --- montecarlo (src/kernels/montecarlo.rs) ---------------------------------------------------

def monte_carlo_pi(samples: int, *, seed: int = 0, threads: int | None = None) -> float:
    """A Monte Carlo estimate of pi, ``4 * hits / samples``; bit-identical for every ``threads``."""

# --- benchgame (src/kernels/benchgame.rs) -----------------------------------------------------

def spectral_norm(n: int, *, threads: int | None = None) -> float:
    """The Benchmarks Game spectral-norm of the n x n matrix; n=100 gives 1.274219991."""

def fannkuch_redux(n: int, *, threads: int | None = None) -> tuple[int, int]:
    """The Benchmarks Game fannkuch-redux ``(checksum, max_flips)``, 3 <= n <= 12."""

def nbody(steps: int) -> tuple[float, float]:
    """The Benchmarks Game 5-body simulation: ``(energy_before, energy_after)``, serial, GIL-free."""

# --- test-only kernels (src/kernels/testing.rs) ------------------------------------------------

class _TestingModule(Protocol):
    def spin(self, tasks: int, task_ms: int, *, threads: int | None = None) -> int: ...
    def spin_holding_gil(self, tasks: int, task_ms: int) -> int: ...
    def panic(self, tasks: int, panic_at: int, *, threads: int | None = None) -> int: ...

_testing: _TestingModule

# --- the lab's GIL modes (src/lab.rs) ------------------------------------------------------------

class _Heartbeat:
    def __init__(self, interval: float) -> None: ...
    def stop(self) -> tuple[float, float, float, int]: ...

class _LabModule(Protocol):
    def call(self, mode: str, func: Any, /, *args: Any, **kwargs: Any) -> Any: ...
    @property
    def Heartbeat(self) -> type[_Heartbeat]: ...

_lab: _LabModule
