//! `gilfree._native`: the PyO3 binding of gilfree-engine and gilfree-kernels.
//!
//! Written on the public crate `gilfree-pyo3` exactly as a user's extension would be: argument
//! parsing (`gilfree_pyo3::args`, and [`array`] for NumPy input), the one path every call takes
//! (`gilfree_pyo3::run`), the one error mapping, task forms (`gilfree_pyo3::task`). Each kernel
//! family is one file in [`kernels`], mirroring `crates/gilfree-kernels/src/kernels/`. This
//! module also *is* the runtime: it owns the pool and exports the capsule `_RUNTIME_API` that
//! every other extension links to (`gilfree_pyo3::export`).

mod array;
mod executor;
mod kernels;
mod lab;
mod runtime;
mod shared;

use pyo3::prelude::*;

/// The native half of gilfree. Import `gilfree`, not this module.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    gilfree_pyo3::host::install_fork_handler();
    // GILFREE_NUM_THREADS and OMP_NUM_THREADS as they are at import: the pool's size for the
    // rest of the process (unless set_num_threads decides), whatever later code sets.
    gilfree_engine::read_environment();
    array::warm_up(m.py())?;
    let kernel_error = m.py().get_type::<gilfree_pyo3::KernelError>();
    m.add("KernelError", &kernel_error)?;
    // The process's runtime: this module's pool, epoch and lifecycle, for every extension built
    // with gilfree-pyo3 or gilfree.h (the capsule `_RUNTIME_API`).
    gilfree_pyo3::export(m, &kernel_error, executor::make_job)?;
    runtime::register(m)?;
    kernels::register(m)?;
    lab::register(m)?;
    shared::register(m)?;
    executor::register(m)?;
    Ok(())
}
