//! `gilfree._native`: the PyO3 binding of gilfree-engine and gilfree-kernels.
//!
//! Everything Python-shaped lives here and nowhere else: argument parsing and validation with the
//! GIL held ([`args`], [`array`]), the one path every call takes ([`call::run`]:
//! detach, wait, poll for signals, catch panics) and the one error mapping ([`errors`]). Each
//! kernel family is one file in [`kernels`], mirroring `crates/gilfree-kernels/src/kernels/`.

mod args;
mod array;
mod call;
mod errors;
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
    call::install_fork_handler();
    array::warm_up(m.py())?;
    m.add("KernelError", m.py().get_type::<errors::KernelError>())?;
    runtime::register(m)?;
    kernels::register(m)?;
    lab::register(m)?;
    shared::register(m)?;
    executor::register(m)?;
    Ok(())
}
