//! `count_primes, primes`: adapters over `gilfree_kernels::kernels::primes`.

use gilfree_kernels::engine::Ctx;
use gilfree_kernels::kernels::primes;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use gilfree_pyo3::args::{int_arg, threads_arg};
use gilfree_pyo3::{run, Form, Prepared};

use super::PreparedValue;
use gilfree_pyo3::task_threads;
use gilfree_pyo3::to_pyerr;

/// Parses `n`: an int (or an object with `__index__`, such as a NumPy integer) in
/// `0..=10**15`. bool and float are `TypeError`; negative and too large values `ValueError`.
fn n_arg(kernel: &str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let int = int_arg(obj, &format!("{kernel}(): n"), "an int")?;
    match int.extract::<u64>() {
        Ok(n) if n <= primes::MAX_N => Ok(n),
        _ if int.lt(0)? => Err(PyValueError::new_err(format!(
            "{kernel}(): n must be >= 0, got {int}"
        ))),
        _ => Err(PyValueError::new_err(format!(
            "{kernel}(): n must be <= 10**15 (the largest n supported), got {int}"
        ))),
    }
}

/// The work estimate for `call::run`: the bitmap's size, n/30 bytes. Below 2048 bytes
/// (n < 61,440) the call takes microseconds and stays attached to the calling thread.
fn work_bytes(n: u64) -> usize {
    usize::try_from(n / 30).unwrap_or(usize::MAX)
}

/// The number of primes less than or equal to ``n``, π(n), computed without the GIL.
///
/// A segmented Sieve of Eratosthenes on a mod-30 wheel (one bit per integer coprime to 30),
/// with the primes up to 97 presieved from fixed patterns and the segments counted with
/// popcount. The range is split into fixed tasks (a function of ``n`` only) that run in
/// parallel on the shared pool; the result is the same for every ``threads`` value. π(10**9)
/// takes ~40 ms on two cores, π(10**12) a few minutes; Ctrl-C stops the call within
/// milliseconds.
///
/// Args:
///     n: a non-negative int (or NumPy integer), at most 10**15.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Raises:
///     TypeError: ``n`` is not an int (a bool or a float, say); ``threads`` is not an int.
///     ValueError: ``n`` < 0 or ``n`` > 10**15; ``threads`` < 1.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.count_primes(100)
///     25
///     >>> gilfree.count_primes(10**8)
///     5761455
///     >>> gilfree.count_primes(1), gilfree.count_primes(2)
///     (0, 1)
#[pyfunction(name = "count_primes", signature = (n, *, threads = None, progress = None))]
pub(crate) fn count_primes_py(
    py: Python<'_>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<u64> {
    gilfree_pyo3::Progress::arg(progress)?
        .scope(py, || prepare_count_primes(n, threads, Form::Direct)?.run(py))
}

/// The one parsing of a `count_primes` call (direct call and task form).
fn prepare_count_primes(
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<PreparedValue!(u64)> {
    let n = n_arg("count_primes", n)?;
    let threads = form.threads("count_primes", threads)?;
    Ok(
        Prepared::value("count_primes", move |ctx: &Ctx<'_>| primes::count_primes(ctx, n))
            .threads(threads)
            .work_bytes(work_bytes(n)),
    )
}

/// The primes less than or equal to ``n``, in increasing order, as a uint64 NumPy array.
///
/// The same sieve as :func:`gilfree.count_primes`, in two parallel passes without the GIL: the
/// first sieves and counts, the second writes each part's primes at its offset in an array of
/// exactly π(n) elements. Identical for every ``threads`` value. The array takes 8 bytes per
/// prime (406 MB for n = 10**9); an upper bound of its size is checked before any sieving, and a
/// list that cannot be allocated raises MemoryError.
///
/// Args:
///     n: a non-negative int (or NumPy integer), at most 10**15.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Raises:
///     TypeError: ``n`` is not an int (a bool or a float, say); ``threads`` is not an int.
///     ValueError: ``n`` < 0 or ``n`` > 10**15; ``threads`` < 1.
///     MemoryError: the list of primes cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.primes(30)
///     array([ 2,  3,  5,  7, 11, 13, 17, 19, 23, 29], dtype=uint64)
///     >>> p = gilfree.primes(10**6)
///     >>> len(p), int(p[-1])
///     (78498, 999983)
#[pyfunction(name = "primes", signature = (n, *, threads = None, progress = None))]
pub(crate) fn primes_py<'py>(
    py: Python<'py>,
    n: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        let n = n_arg("primes", n)?;
        let threads = threads_arg(threads)?;
        let work = work_bytes(n);
        let sieved = run(py, "primes", threads, work, |ctx| primes::sieve(ctx, n))?;
        // NumPy allocates (calloc, and madvise(MADV_HUGEPAGE) for large arrays: first-touching the
        // output costs a quarter of what 4 KiB pages cost), and raises MemoryError when it cannot.
        let out = py
            .import("numpy")?
            .call_method1("zeros", (sieved.len(), "uint64"))
            .map_err(|err| {
                let len = u64::try_from(sieved.len()).unwrap_or(u64::MAX);
                let refused = to_pyerr("primes", primes::too_large(n, len));
                refused.set_cause(py, Some(err));
                refused
            })?
            .cast_into::<PyArray1<u64>>()?;
        {
            let mut rw = out.readwrite();
            let slice = rw.as_slice_mut()?;
            run(py, "primes", threads, work, |ctx| sieved.write(ctx, slice))?;
        }
        Ok(out)
    })
}

/// The task form of :func:`gilfree.count_primes` for ``gilfree.Executor`` (arguments checked
/// now; ``threads`` must be None or 1).
#[pyfunction(name = "count_primes", signature = (n, *, threads = None))]
fn count_primes_task<'py>(
    py: Python<'py>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare_count_primes(n, threads, Form::Task)?.task(py)
}

/// The task form of :func:`gilfree.primes` for ``gilfree.Executor`` (arguments checked now;
/// ``threads`` must be None or 1). The list is built in a Rust vector on the worker and handed
/// to NumPy without a copy.
#[pyfunction(name = "primes", signature = (n, *, threads = None))]
fn primes_task<'py>(
    py: Python<'py>,
    n: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = n_arg("primes", n)?;
    task_threads("primes", threads)?;
    // The direct form shares the parsing (`n_arg`) but not this work: it sieves first and writes
    // into an array NumPy allocates (huge pages: a quarter of the first-touch cost), which a task,
    // converted later on the dispatcher, cannot do without holding a NumPy array on a worker.
    Prepared::new(
        "primes",
        move |ctx: &Ctx<'_>| primes::primes(ctx, n),
        |py: Python<'_>, list: Vec<u64>| Ok(PyArray1::from_vec(py, list).into_any().unbind()),
    )
    .task(py)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_primes_py, m)?)?;
    m.add_function(wrap_pyfunction!(primes_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_primes_task, m)?)?;
    m.add_function(wrap_pyfunction!(primes_task, m)?)?;
    Ok(())
}
