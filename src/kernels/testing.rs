//! `gilfree._native._testing`: kernels that prove the call path's contracts from the test suite
//! (and let the benchmark lab show a GIL-holding native call). Not public API.

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::testing;
use pyo3::prelude::*;

use gilfree_pyo3::args::threads_arg;
use gilfree_pyo3::Prepared;

use super::PreparedValue;
use gilfree_pyo3::task_threads;
use gilfree_pyo3::to_pyerr;

/// Busy-waits ``tasks`` tasks of ``task_ms`` ms on the call's workers, GIL released; returns the
/// number of tasks that ran. Interruptible like every kernel.
#[pyfunction(signature = (tasks, task_ms, *, threads = None, progress = None))]
fn spin(
    py: Python<'_>,
    tasks: usize,
    task_ms: u64,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<usize> {
    gilfree_pyo3::Progress::arg(progress)?
        .scope(py, || prepare_spin(tasks, task_ms, threads_arg(threads)?).run(py))
}

/// The one preparation of a `spin` call (direct call and task form). Always long enough to be
/// worth detaching: this kernel exists to be long.
fn prepare_spin(tasks: usize, task_ms: u64, threads: Threads) -> PreparedValue!(usize) {
    Prepared::value("spin", move |ctx: &Ctx<'_>| testing::spin(ctx, tasks, task_ms)).threads(threads)
}

/// The same busy wait on the calling thread **holding the GIL** throughout: the "native code that
/// forgot to release the GIL" case. Not interruptible until it returns.
#[pyfunction]
fn spin_holding_gil(tasks: usize, task_ms: u64) -> PyResult<usize> {
    let ctx = Ctx::new(Threads::Caller, None);
    testing::spin(&ctx, tasks, task_ms).map_err(|e| to_pyerr("spin_holding_gil", e))
}

/// Runs ``tasks`` trivial tasks and panics in task ``panic_at``: must raise ``KernelError``.
#[pyfunction(signature = (tasks, panic_at, *, threads = None))]
fn panic(
    py: Python<'_>,
    tasks: usize,
    panic_at: usize,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<usize> {
    prepare_panic(tasks, panic_at, threads_arg(threads)?).run(py)
}

/// The one preparation of a `panic` call (direct call and task form).
fn prepare_panic(tasks: usize, panic_at: usize, threads: Threads) -> PreparedValue!(usize) {
    Prepared::value("panic", move |ctx: &Ctx<'_>| {
        testing::panic_at(ctx, tasks, panic_at)
    })
    .threads(threads)
}

/// The task form of ``spin`` for ``gilfree.Executor``: ``spin(1, 0)`` is the empty kernel of
/// the executor benchmark, ``spin(100000, 10)`` the 1000 s task of its cancellation tests.
#[pyfunction(name = "spin", signature = (tasks, task_ms, *, threads = None))]
fn spin_task<'py>(
    py: Python<'py>,
    tasks: usize,
    task_ms: u64,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_threads("spin", threads)?;
    prepare_spin(tasks, task_ms, Threads::Caller).task(py)
}

/// The task form of ``panic``: its future must get ``KernelError``.
#[pyfunction(name = "panic", signature = (tasks, panic_at, *, threads = None))]
fn panic_task<'py>(
    py: Python<'py>,
    tasks: usize,
    panic_at: usize,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_threads("panic", threads)?;
    prepare_panic(tasks, panic_at, Threads::Caller).task(py)
}

/// Registers the test kernels' task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spin_task, m)?)?;
    m.add_function(wrap_pyfunction!(panic_task, m)?)?;
    Ok(())
}

/// A capsule like ``gilfree._native._RUNTIME_API`` whose table claims ABI ``major.minor``: tests
/// put it in place of the real one to check that extensions refuse a runtime they were not built
/// for (``ImportError`` naming both versions). The table's entries are the real ones.
#[pyfunction]
fn runtime_capsule(py: Python<'_>, major: u32, minor: u32) -> PyResult<Bound<'_, PyAny>> {
    gilfree_pyo3::capsule(py, gilfree_pyo3::table_with_version(major, minor))
}

/// Builds the `_testing` submodule.
pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "_testing")?;
    m.add_function(wrap_pyfunction!(spin, &m)?)?;
    m.add_function(wrap_pyfunction!(spin_holding_gil, &m)?)?;
    m.add_function(wrap_pyfunction!(panic, &m)?)?;
    m.add_function(wrap_pyfunction!(runtime_capsule, &m)?)?;
    parent.add_submodule(&m)
}
