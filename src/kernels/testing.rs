//! `gilfree._native._testing`: kernels that prove the call path's contracts from the test suite
//! (and let the benchmark lab show a GIL-holding native call). Not public API.

use gilfree_core::engine::{Ctx, Threads};
use gilfree_core::kernels::testing;
use pyo3::prelude::*;

use crate::call::{run, threads_arg};
use crate::errors::to_pyerr;

/// Busy-waits ``tasks`` tasks of ``task_ms`` ms on the call's workers, GIL released; returns the
/// number of tasks that ran. Interruptible like every kernel.
#[pyfunction(signature = (tasks, task_ms, *, threads = None))]
fn spin(py: Python<'_>, tasks: usize, task_ms: u64, threads: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let threads = threads_arg(threads)?;
    // Always long enough to be worth detaching: this kernel exists to be long.
    run(py, "spin", threads, usize::MAX, |ctx| {
        testing::spin(ctx, tasks, task_ms)
    })
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
    let threads = threads_arg(threads)?;
    run(py, "panic", threads, usize::MAX, |ctx| {
        testing::panic_at(ctx, tasks, panic_at)
    })
}

/// Builds the `_testing` submodule.
pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "_testing")?;
    m.add_function(wrap_pyfunction!(spin, &m)?)?;
    m.add_function(wrap_pyfunction!(spin_holding_gil, &m)?)?;
    m.add_function(wrap_pyfunction!(panic, &m)?)?;
    parent.add_submodule(&m)
}
