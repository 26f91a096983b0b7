"""Type stubs for ``gilfree._native``, the Rust extension module. Checked against the module by
``make lint`` (``mypy.stubtest``). Import from ``gilfree``, not from here."""

import array
import os
from collections.abc import Callable, Iterable, Sequence
from typing import (
    Any,
    Final,
    Literal,
    NoReturn,
    Protocol,
    SupportsFloat,
    SupportsIndex,
    TypeAlias,
    final,
    overload,
)

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

__all__ = [
    "_RUNTIME_API",
    "Accumulator",
    "AtomicFloat",
    "AtomicInt",
    "KernelError",
    "_Executor",
    "_Job",
    "__version__",
    "_at_exit",
    "_calls",
    "_install_sigint",
    "_interrupt",
    "_lab",
    "_runtime_info",
    "_sigint_c_handler_active",
    "_tasks",
    "_testing",
    "argmax",
    "argmin",
    "bincount",
    "count_primes",
    "fannkuch_redux",
    "get_num_threads",
    "hash_files",
    "hash_many",
    "histogram",
    "mandelbrot",
    "max",
    "mean",
    "min",
    "moments",
    "monte_carlo_pi",
    "nbody",
    "pairwise_distances",
    "primes",
    "set_num_threads",
    "sort",
    "spectral_norm",
    "std",
    "sum",
    "var",
    "word_count",
]

__version__: Final[str]

_Float: TypeAlias = np.float32 | np.float64
_Int: TypeAlias = np.int32 | np.int64
#: A 1-D NumPy array, or any buffer-protocol object, of float32, float64, int32 or int64.
_Array1: TypeAlias = npt.NDArray[Any] | memoryview | bytearray | array.array[Any]
#: The dtypes of the reductions (1-D or 2-D input).
_AnyFloat: TypeAlias = np.float16 | np.float32 | np.float64
_AnyInt: TypeAlias = np.bool_ | np.signedinteger[Any] | np.unsignedinteger[Any]

class KernelError(RuntimeError):
    """A gilfree kernel failed unexpectedly (a Rust panic, caught where it happened).

    The shared pool is unaffected and the next call works.
    """

# --- the shared pool -------------------------------------------------------------------------

def set_num_threads(n: int | None) -> None:
    """Set the size of the shared pool (1..1024), or None: back to the environment's size."""

def get_num_threads() -> int:
    """The number of workers ``threads=None`` uses: set_num_threads(), GILFREE_NUM_THREADS,
    OMP_NUM_THREADS, or cores."""

def _at_exit() -> None: ...
def _calls() -> list[tuple[str, int, int, float, bool]]: ...
def _interrupt() -> None: ...
def _install_sigint() -> bool: ...
def _sigint_c_handler_active() -> bool: ...
def _runtime_info() -> dict[str, Any]: ...

#: ``progress=`` of the long kernels: None/False (off), True (a bar on stderr, if a terminal), or a
#: callable given ``(done, total)`` from the calling thread (``gilfree_pyo3::Progress``).
_Progress: TypeAlias = bool | Callable[[int, int], object] | None

# --- reductions (src/kernels/reduce.rs) --------------------------------------------------------

# axis=None: a Python scalar (1-D or 2-D input); axis=0|1 of 2-D input: a NumPy array of
# NumPy's result dtype. Integer sums are exact (OverflowError where NumPy would wrap).
@overload
def sum(
    a: npt.NDArray[_AnyFloat], *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float: ...
@overload
def sum(
    a: npt.NDArray[_AnyInt], *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> int: ...
@overload
def sum(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float | int: ...
@overload
def sum(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]: ...
@overload
def mean(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float: ...
@overload
def mean(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]:
    """The arithmetic mean; nan for an empty array or axis."""

@overload
def var(
    a: _Array1, *, axis: None = None, ddof: int = 0, threads: int | None = None, progress: _Progress = None
) -> float: ...
@overload
def var(
    a: _Array1, *, axis: int, ddof: int = 0, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]:
    """The variance ``sum((x - mean)**2) / (n - ddof)``; inf or nan when ``n - ddof <= 0`` (NumPy's rule)."""

@overload
def std(
    a: _Array1, *, axis: None = None, ddof: int = 0, threads: int | None = None, progress: _Progress = None
) -> float: ...
@overload
def std(
    a: _Array1, *, axis: int, ddof: int = 0, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]:
    """The standard deviation, ``sqrt(var(a, ddof=ddof))``."""

@overload
def moments(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> tuple[int, float, float]: ...
@overload
def moments(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(n, mean, m2)``: the mergeable partial behind var/std (Chan's update merges two)."""

@overload
def min(
    a: npt.NDArray[_AnyFloat], *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float: ...
@overload
def min(
    a: npt.NDArray[_AnyInt], *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> int: ...
@overload
def min(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float | int: ...
@overload
def min(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]: ...
@overload
def max(
    a: npt.NDArray[_AnyFloat], *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float: ...
@overload
def max(
    a: npt.NDArray[_AnyInt], *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> int: ...
@overload
def max(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> float | int: ...
@overload
def max(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]: ...
@overload
def argmin(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> int: ...
@overload
def argmin(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]:
    """The index of the first smallest element, or of the first NaN."""

@overload
def argmax(
    a: _Array1, *, axis: None = None, threads: int | None = None, progress: _Progress = None
) -> int: ...
@overload
def argmax(
    a: _Array1, *, axis: int, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]:
    """The index of the first largest element, or of the first NaN."""

# --- sort (src/kernels/sort.rs) ----------------------------------------------------------------

def sort(
    a: _Array1, *, out: npt.NDArray[Any] | None = None, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[Any]:
    """A sorted copy of a 1-D array (NaN last), equal to ``numpy.sort(a)``; or ``out`` filled."""

# --- distance (src/kernels/distance.rs) -------------------------------------------------------

#: A 2-D NumPy array, or a buffer-protocol object, of float32, float64, int32 or int64.
_Array2: TypeAlias = npt.NDArray[Any] | memoryview
_Metric: TypeAlias = Literal["euclidean", "sqeuclidean", "cityblock", "cosine"]

def pairwise_distances(
    x: _Array2,
    y: _Array2 | None = None,
    *,
    metric: _Metric = "euclidean",
    threads: int | None = None,
    progress: _Progress = None,
) -> npt.NDArray[np.floating[Any]]:
    """The ``(n, m)`` distances between the rows of ``x`` and ``y`` (or ``x``), as ``cdist``."""

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
    progress: _Progress = None,
) -> npt.NDArray[np.uint16]:
    """Escape-time counts of the Mandelbrot set over a window, a ``(height, width)`` uint16 array."""

# --- hash (src/kernels/hash.rs) ----------------------------------------------------------------

_Algorithm: TypeAlias = Literal["blake3", "sha256", "xxh3_64", "xxh3_128"]
_PathLike: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]

def hash_many(
    blobs: Sequence[Buffer],
    *,
    algorithm: _Algorithm = "blake3",
    threads: int | None = None,
    progress: _Progress = None,
) -> list[bytes]:
    """The digests of many bytes-like objects, in order (blake3, sha256, xxh3_64, xxh3_128)."""

def hash_files(
    paths: Sequence[_PathLike],
    *,
    algorithm: _Algorithm = "blake3",
    threads: int | None = None,
    progress: _Progress = None,
) -> list[bytes]:
    """The digests of many files, streamed, in order; the first failing path raises OSError."""

# --- hist (src/kernels/hist.rs) ----------------------------------------------------------------

def histogram(
    a: _Array1,
    bins: SupportsIndex | npt.ArrayLike = 10,
    range: tuple[float, float] | None = None,
    *,
    weights: _Array1 | None = None,
    density: bool = False,
    threads: int | None = None,
    progress: _Progress = None,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """``(hist, bin_edges)`` of a 1-D array, equal to ``numpy.histogram(a, bins, range, ...)``."""

def bincount(
    x: _Array1,
    weights: _Array1 | None = None,
    minlength: SupportsIndex = 0,
    *,
    threads: int | None = None,
    progress: _Progress = None,
) -> npt.NDArray[Any]:
    """Counts (or weight sums) of each non-negative int in ``x``, equal to ``numpy.bincount``."""

# --- primes (src/kernels/primes.rs) -----------------------------------------------------------

def count_primes(n: SupportsIndex, *, threads: int | None = None, progress: _Progress = None) -> int:
    """The number of primes <= n (0 <= n <= 10**15): a segmented mod-30 wheel sieve."""

def primes(
    n: SupportsIndex, *, threads: int | None = None, progress: _Progress = None
) -> npt.NDArray[np.uint64]:
    """The primes <= n (0 <= n <= 10**15) in increasing order, as a uint64 array."""

# --- words (src/kernels/words.rs) ------------------------------------------------------------

def word_count(
    texts: str | Iterable[str], *, threads: int | None = None, progress: _Progress = None
) -> dict[str, int]:
    """The words of ``str.split()`` (Python's whitespace) over ``texts`` with their counts."""

# --- montecarlo (src/kernels/montecarlo.rs) ---------------------------------------------------

def monte_carlo_pi(
    samples: int, *, seed: int = 0, threads: int | None = None, progress: _Progress = None
) -> float:
    """A Monte Carlo estimate of pi, ``4 * hits / samples``; bit-identical for every ``threads``."""

# --- benchgame (src/kernels/benchgame.rs) -----------------------------------------------------

def spectral_norm(n: int, *, threads: int | None = None, progress: _Progress = None) -> float:
    """The Benchmarks Game spectral-norm of the n x n matrix; n=100 gives 1.274219991."""

def fannkuch_redux(n: int, *, threads: int | None = None, progress: _Progress = None) -> tuple[int, int]:
    """The Benchmarks Game fannkuch-redux ``(checksum, max_flips)``, 3 <= n <= 12."""

def nbody(steps: int) -> tuple[float, float]:
    """The Benchmarks Game 5-body simulation: ``(energy_before, energy_after)``, serial, GIL-free."""

# --- test-only kernels (src/kernels/testing.rs) ------------------------------------------------

class _TestingModule(Protocol):
    def spin(
        self, tasks: int, task_ms: int, *, threads: int | None = None, progress: _Progress = None
    ) -> int: ...
    def spin_holding_gil(self, tasks: int, task_ms: int) -> int: ...
    def panic(self, tasks: int, panic_at: int, *, threads: int | None = None) -> int: ...
    def runtime_capsule(self, major: int, minor: int) -> object: ...  # a PyCapsule

_testing: _TestingModule

#: The runtime's C ABI table (gilfree-pyo3's ``abi::RuntimeApi``; ``gilfree.h``), read by every
#: extension built with gilfree-pyo3 or gilfree.h: one pool, budget and interrupt epoch per process.
_RUNTIME_API: object  # a PyCapsule (types.CapsuleType from 3.13)

# --- the lab's GIL modes (src/lab.rs) ------------------------------------------------------------

class _Heartbeat:
    def __init__(self, interval: float) -> None: ...
    def stop(self) -> tuple[float, float, float, int]: ...

class _LabModule(Protocol):
    def call(self, mode: str, func: Any, /, *args: Any, **kwargs: Any) -> Any: ...
    @property
    def Heartbeat(self) -> type[_Heartbeat]: ...

_lab: _LabModule

# --- shared state (src/shared.rs) --------------------------------------------------------------

_Real: TypeAlias = SupportsFloat | SupportsIndex

@final
class AtomicInt:
    """A lock-free int64 shared by threads; additions raise OverflowError instead of wrapping."""

    def __new__(cls, value: SupportsIndex = 0) -> AtomicInt: ...
    def load(self) -> int: ...
    def store(self, value: SupportsIndex) -> None: ...
    def swap(self, value: SupportsIndex) -> int: ...
    def fetch_add(self, delta: SupportsIndex) -> int: ...
    def add(self, delta: SupportsIndex) -> int: ...
    def fetch_sub(self, delta: SupportsIndex) -> int: ...
    def sub(self, delta: SupportsIndex) -> int: ...
    def compare_exchange(self, expected: SupportsIndex, new: SupportsIndex) -> tuple[bool, int]: ...
    def fetch_max(self, value: SupportsIndex) -> int: ...
    def max(self, value: SupportsIndex) -> int: ...
    def fetch_min(self, value: SupportsIndex) -> int: ...
    def min(self, value: SupportsIndex) -> int: ...
    def __iadd__(self, delta: SupportsIndex, /) -> AtomicInt: ...
    def __isub__(self, delta: SupportsIndex, /) -> AtomicInt: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __float__(self) -> float: ...
    def __bool__(self) -> bool: ...
    def __copy__(self) -> AtomicInt: ...
    def __deepcopy__(self, memo: object, /) -> AtomicInt: ...
    def __reduce__(self) -> NoReturn: ...

@final
class AtomicFloat:
    """A lock-free float64 shared by threads (IEEE arithmetic; compare_exchange compares bits)."""

    def __new__(cls, value: _Real = 0.0) -> AtomicFloat: ...
    def load(self) -> float: ...
    def store(self, value: _Real) -> None: ...
    def swap(self, value: _Real) -> float: ...
    def fetch_add(self, delta: _Real) -> float: ...
    def add(self, delta: _Real) -> float: ...
    def fetch_sub(self, delta: _Real) -> float: ...
    def sub(self, delta: _Real) -> float: ...
    def compare_exchange(self, expected: _Real, new: _Real) -> tuple[bool, float]: ...
    def fetch_max(self, value: _Real) -> float: ...
    def max(self, value: _Real) -> float: ...
    def fetch_min(self, value: _Real) -> float: ...
    def min(self, value: _Real) -> float: ...
    def __iadd__(self, delta: _Real, /) -> AtomicFloat: ...
    def __isub__(self, delta: _Real, /) -> AtomicFloat: ...
    def __float__(self) -> float: ...
    def __int__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __copy__(self) -> AtomicFloat: ...
    def __deepcopy__(self, memo: object, /) -> AtomicFloat: ...
    def __reduce__(self) -> NoReturn: ...

@final
class Accumulator:
    """count/sum/mean/var/std/min/max of values added from many threads; exact, so order-free."""

    def __new__(cls, dtype: type[int] | type[float] | str | Any = ...) -> Accumulator: ...
    @property
    def dtype(self) -> type[int] | type[float]: ...
    def add(self, x: _Real) -> None: ...
    def add_many(self, values: _Array1 | Iterable[_Real], *, threads: int | None = None) -> None: ...
    def merge(self, other: Accumulator) -> None: ...
    def reset(self) -> None: ...
    def count(self) -> int: ...
    def sum(self) -> int | float: ...
    def mean(self) -> float: ...
    def var(self, *, ddof: int = 0) -> float: ...
    def std(self, *, ddof: int = 0) -> float: ...
    def min(self) -> int | float: ...
    def max(self) -> int | float: ...
    def __copy__(self) -> Accumulator: ...
    def __deepcopy__(self, memo: object, /) -> Accumulator: ...
    def __reduce__(self) -> NoReturn: ...

# --- gilfree.Executor's native half (src/executor.rs) -----------------------------------------

@final
class _Job:
    """A validated kernel call made by a task form of ``_tasks``; run once by ``_Executor.submit``."""

    def cancel(self) -> None: ...
    @property
    def kernel(self) -> str: ...

@final
class _Executor:
    """The native side of one ``gilfree.Executor``: its task group and completion queue."""

    def __init__(self) -> None: ...
    def submit(self, future: Any, job: _Job) -> None: ...
    def collect(self, timeout: float) -> list[tuple[Any, int, Any]] | None: ...
    def help(self, fast: tuple[Any, Any, Any, Any], seen: int, timeout: float) -> int: ...
    @property
    def epoch(self) -> int: ...
    def delivered(self) -> None: ...
    def close(self) -> None: ...
    def cancel_all(self) -> None: ...
    @property
    def pending(self) -> int: ...
    @property
    def closed(self) -> bool: ...

class _TasksModule(Protocol):
    """The task forms: the kernels' signatures, returning a ``_Job`` (threads None or 1 only)."""

    def mandelbrot(
        self,
        width: int,
        height: int,
        *,
        max_iter: int = 256,
        xmin: float = -2.0,
        xmax: float = 1.0,
        ymin: float = -1.5,
        ymax: float = 1.5,
        threads: int | None = None,
    ) -> _Job: ...
    def count_primes(self, n: SupportsIndex, *, threads: int | None = None) -> _Job: ...
    def primes(self, n: SupportsIndex, *, threads: int | None = None) -> _Job: ...
    def hash_many(
        self, blobs: Sequence[Buffer], *, algorithm: _Algorithm = "blake3", threads: int | None = None
    ) -> _Job: ...
    def hash_files(
        self, paths: Sequence[_PathLike], *, algorithm: _Algorithm = "blake3", threads: int | None = None
    ) -> _Job: ...
    def word_count(self, texts: str | Iterable[str], *, threads: int | None = None) -> _Job: ...
    def monte_carlo_pi(self, samples: int, *, seed: int = 0, threads: int | None = None) -> _Job: ...
    def spectral_norm(self, n: int, *, threads: int | None = None) -> _Job: ...
    def fannkuch_redux(self, n: int, *, threads: int | None = None) -> _Job: ...
    def nbody(self, steps: int) -> _Job: ...
    def sum(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def mean(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def var(
        self, a: _Array1, *, axis: int | None = None, ddof: int = 0, threads: int | None = None
    ) -> _Job: ...
    def std(
        self, a: _Array1, *, axis: int | None = None, ddof: int = 0, threads: int | None = None
    ) -> _Job: ...
    def moments(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def min(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def max(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def argmin(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def argmax(self, a: _Array1, *, axis: int | None = None, threads: int | None = None) -> _Job: ...
    def sort(
        self, a: _Array1, *, out: npt.NDArray[Any] | None = None, threads: int | None = None
    ) -> _Job: ...
    def pairwise_distances(
        self,
        x: _Array2,
        y: _Array2 | None = None,
        *,
        metric: _Metric = "euclidean",
        threads: int | None = None,
    ) -> _Job: ...
    def histogram(
        self,
        a: _Array1,
        bins: SupportsIndex | npt.ArrayLike = 10,
        range: tuple[float, float] | None = None,
        *,
        weights: _Array1 | None = None,
        density: bool = False,
        threads: int | None = None,
    ) -> _Job: ...
    def bincount(
        self,
        x: _Array1,
        weights: _Array1 | None = None,
        minlength: SupportsIndex = 0,
        *,
        threads: int | None = None,
    ) -> _Job: ...
    def spin(self, tasks: int, task_ms: int, *, threads: int | None = None) -> _Job: ...
    def panic(self, tasks: int, panic_at: int, *, threads: int | None = None) -> _Job: ...

_tasks: _TasksModule
