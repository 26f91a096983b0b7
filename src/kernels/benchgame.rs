//! `spectral_norm, fannkuch_redux, nbody`: adapters over `gilfree_kernels::kernels::benchgame`.

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::benchgame;
use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;

use gilfree_pyo3::args::int_arg;
use gilfree_pyo3::{Form, Prepared};

use super::PreparedValue;

/// An int argument: `bool` and non-ints are `TypeError` (objects with `__index__`, such as NumPy
/// An int in `lo..=hi`, else `ValueError` naming the argument and the range.
fn int_in_range(obj: &Bound<'_, PyAny>, arg: &str, lo: usize, hi: usize) -> PyResult<usize> {
    let expected = format!("an int in [{lo}, {hi}]");
    let int = int_arg(obj, arg, &expected)?;
    match int.extract::<usize>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{arg} must be {expected}, got {int}"
        ))),
    }
}

/// The spectral norm of the Benchmarks Game's matrix, computed without the GIL.
///
/// The Computer Language Benchmarks Game's spectral-norm: ``A(i, j) = 1 / ((i+j)(i+j+1)/2 + i + 1)``
/// for ``0 <= i, j < n``; starting from ``u = 1``, ten iterations of ``v = AᵀA u; u = AᵀA v``;
/// the result is ``sqrt(u·v / v·v)`` (it tends to 1.2742241528...). Matrix elements are
/// computed on the fly (O(n) memory, O(n²) work per product). Each matrix-vector product is split
/// into fixed blocks of 32 rows run on the pool, 8 rows side by side in SIMD lanes; every element
/// is one sequential sum, so the result is bit-identical for every ``threads`` value and CPU.
///
/// Args:
///     n: the matrix size, an int in [1, 33554432] (denominators stay exact in float64).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     The estimate as a float.
///
/// Raises:
///     TypeError: ``n`` or ``threads`` is not an int (bool included).
///     ValueError: ``n`` out of range; ``threads`` < 1.
///     OverflowError: the three length-n vectors cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> f"{gilfree.spectral_norm(100):.9f}"
///     '1.274219991'
///     >>> gilfree.spectral_norm(1000, threads=1) == gilfree.spectral_norm(1000)
///     True
#[pyfunction(name = "spectral_norm", signature = (n, *, threads = None, progress = None))]
pub(crate) fn spectral_norm_py(
    py: Python<'_>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    gilfree_pyo3::Progress::arg(progress)?
        .scope(py, || prepare_spectral_norm(n, threads, Form::Direct)?.run(py))
}

/// The one parsing of a `spectral_norm` call (direct call and task form).
fn prepare_spectral_norm(
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<PreparedValue!(f64)> {
    let n = int_in_range(n, "n", 1, benchgame::SPECTRAL_MAX_N)?;
    let threads = form.threads("spectral_norm", threads)?;
    // 40 products of n² divisions: n <= 7 is too little to be worth releasing the GIL.
    let work = n.saturating_mul(n).saturating_mul(40);
    Ok(Prepared::value("spectral_norm", move |ctx: &Ctx<'_>| {
        benchgame::spectral_norm(ctx, n)
    })
    .threads(threads)
    .work_bytes(work))
}

/// The Benchmarks Game's fannkuch-redux: ``(checksum, max_flips)`` over all permutations of n.
///
/// For each permutation of ``0..n-1``, in the benchmark's order, count the "pancake flips"
/// (reverse the first ``p[0] + 1`` elements) until the first element is 0. ``max_flips`` is
/// the largest count and ``checksum`` is ``Σ ±flips``, ``+`` for permutations at even positions
/// of the order. The n! permutations are split into fixed blocks of 32768 run on the pool (each
/// starts from the permutation at its first index, by the factorial number system); the results
/// are integers, so they do not depend on ``threads``.
///
/// Args:
///     n: an int in [3, 12] (12! = 479,001,600 permutations: seconds; 13 would be minutes).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     ``(checksum, max_flips)``, two ints.
///
/// Raises:
///     TypeError: ``n`` or ``threads`` is not an int (bool included).
///     ValueError: ``n`` out of range; ``threads`` < 1.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.fannkuch_redux(7)
///     (228, 16)
///     >>> gilfree.fannkuch_redux(10, threads=1)
///     (73196, 38)
#[pyfunction(name = "fannkuch_redux", signature = (n, *, threads = None, progress = None))]
pub(crate) fn fannkuch_redux_py(
    py: Python<'_>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<(i64, u32)> {
    gilfree_pyo3::Progress::arg(progress)?
        .scope(py, || prepare_fannkuch_redux(n, threads, Form::Direct)?.run(py))
}

/// The one parsing of a `fannkuch_redux` call (direct call and task form).
fn prepare_fannkuch_redux(
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<PreparedValue!((i64, u32))> {
    let n = int_in_range(n, "n", benchgame::FANNKUCH_MIN_N, benchgame::FANNKUCH_MAX_N)?;
    let threads = form.threads("fannkuch_redux", threads)?;
    // n! permutations of ~16 bytes' worth of work each: n <= 5 stays attached.
    let work = (1..=n).product::<usize>().saturating_mul(16);
    Ok(Prepared::value("fannkuch_redux", move |ctx: &Ctx<'_>| {
        benchgame::fannkuch_redux(ctx, n)
    })
    .threads(threads)
    .work_bytes(work))
}

/// The Benchmarks Game's n-body simulation: ``(energy_before, energy_after)``, GIL released.
///
/// The Sun, Jupiter, Saturn, Uranus and Neptune with the benchmark's initial conditions (the
/// Sun's velocity offsets the total momentum), advanced ``steps`` times by ``dt = 0.01`` with the
/// benchmark's symplectic Euler step. One simulation is inherently serial, so there is no
/// ``threads=`` argument: it runs on the calling thread, without the GIL, which makes it the
/// case for running many of them at once from a ``concurrent.futures.ThreadPoolExecutor``.
/// Ctrl-C is checked every 10,000 steps.
///
/// Args:
///     steps: the number of steps, an int >= 0.
///
/// Returns:
///     The total energy before and after, two floats.
///
/// Raises:
///     TypeError: ``steps`` is not an int (bool included).
///     ValueError: ``steps`` < 0.
///     OverflowError: ``steps`` >= 2**64.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> e0, e1 = gilfree.nbody(1000)
///     >>> f"{e0:.9f} {e1:.9f}"
///     '-0.169075164 -0.169087605'
///     >>> from concurrent.futures import ThreadPoolExecutor
///     >>> with ThreadPoolExecutor(2) as ex:
///     ...     results = list(ex.map(gilfree.nbody, [1000, 1000]))
///     >>> results == [(e0, e1), (e0, e1)]
///     True
#[pyfunction(name = "nbody", signature = (steps))]
pub(crate) fn nbody_py(py: Python<'_>, steps: &Bound<'_, PyAny>) -> PyResult<(f64, f64)> {
    prepare_nbody(steps)?.run(py)
}

/// The one parsing of an `nbody` call (direct call and task form).
fn prepare_nbody(steps: &Bound<'_, PyAny>) -> PyResult<PreparedValue!((f64, f64))> {
    let steps = steps_arg(steps)?;
    // ~100 ns a step: fewer than 32 steps stay attached.
    let work = usize::try_from(steps).unwrap_or(usize::MAX).saturating_mul(64);
    // Serial by nature: the core runs it on the calling thread whatever the setting.
    Ok(
        Prepared::value("nbody", move |ctx: &Ctx<'_>| benchgame::nbody(ctx, steps))
            .threads(Threads::Caller)
            .work_bytes(work),
    )
}

/// `steps`: an int in `0..2**64` (`TypeError` for bool and non-ints, `ValueError` below 0,
/// `OverflowError` from 2**64).
fn steps_arg(steps: &Bound<'_, PyAny>) -> PyResult<u64> {
    let int = int_arg(steps, "steps", "an int >= 0")?;
    match int.extract::<u64>() {
        Ok(s) => Ok(s),
        Err(_) if int.lt(0)? => Err(PyValueError::new_err(format!(
            "steps must be an int >= 0, got {int}"
        ))),
        Err(_) => Err(PyOverflowError::new_err(format!(
            "steps must be < 2**64, got {int}"
        ))),
    }
}

/// The task form of :func:`gilfree.spectral_norm` for ``gilfree.Executor`` (arguments checked
/// now; ``threads`` must be None or 1).
#[pyfunction(name = "spectral_norm", signature = (n, *, threads = None))]
fn spectral_norm_task<'py>(
    py: Python<'py>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare_spectral_norm(n, threads, Form::Task)?.task(py)
}

/// The task form of :func:`gilfree.fannkuch_redux` for ``gilfree.Executor`` (arguments checked
/// now; ``threads`` must be None or 1).
#[pyfunction(name = "fannkuch_redux", signature = (n, *, threads = None))]
fn fannkuch_redux_task<'py>(
    py: Python<'py>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare_fannkuch_redux(n, threads, Form::Task)?.task(py)
}

/// The task form of :func:`gilfree.nbody` for ``gilfree.Executor`` (``steps`` checked now).
#[pyfunction(name = "nbody", signature = (steps))]
fn nbody_task<'py>(py: Python<'py>, steps: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    prepare_nbody(steps)?.task(py)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spectral_norm_py, m)?)?;
    m.add_function(wrap_pyfunction!(fannkuch_redux_py, m)?)?;
    m.add_function(wrap_pyfunction!(nbody_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spectral_norm_task, m)?)?;
    m.add_function(wrap_pyfunction!(fannkuch_redux_task, m)?)?;
    m.add_function(wrap_pyfunction!(nbody_task, m)?)?;
    Ok(())
}
