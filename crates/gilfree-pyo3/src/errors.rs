//! The one mapping from engine errors to Python exceptions, and `gilfree.KernelError`.

use gilfree_engine::Error as EngineError;
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyOverflowError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

create_exception!(
    gilfree,
    KernelError,
    PyRuntimeError,
    "A gilfree kernel failed unexpectedly (a Rust panic, caught where it happened).\n\n\
     The shared pool is unaffected and the next call works. A subclass of RuntimeError, so\n\
     ``except Exception`` catches it. Please report it: it is always a bug in the kernel."
);

/// `gilfree.KernelError`: the very class `gilfree` exports when this extension is linked to
/// gilfree's runtime ([`crate::init`]); without gilfree, a stand-in of the same name and base.
pub fn kernel_error(py: Python<'_>) -> Bound<'_, PyType> {
    let shared = crate::link::api().kernel_error;
    if shared.is_null() {
        return py.get_type::<KernelError>();
    }
    // SAFETY: the runtime's table holds a strong reference to the type for the life of the
    // process (`RuntimeApi::kernel_error`), so borrowing it is sound.
    unsafe { Bound::from_borrowed_ptr(py, shared).cast_into_unchecked() }
}

/// `gilfree.KernelError(message)`, as a `PyErr` (see [`kernel_error`]).
pub fn kernel_error_new(py: Python<'_>, message: String) -> PyErr {
    PyErr::from_type(kernel_error(py), message)
}

/// Maps an engine error of kernel `name` to the Python exception gilfree promises for it:
/// `ValueError` (bad values, empty input), `OverflowError`, `MemoryError`, `KeyboardInterrupt`
/// (cancelled), `gilfree.KernelError` (a panic), `RuntimeError` (the pool could not start).
pub fn to_pyerr(name: &str, err: EngineError) -> PyErr {
    match err {
        EngineError::EmptyInput => PyValueError::new_err(format!(
            "{name}() of an empty array: a zero-size array has no {name}"
        )),
        EngineError::InvalidArgument { .. } => PyValueError::new_err(format!("{name}(): {err}")),
        EngineError::Overflow(what) => PyOverflowError::new_err(format!("{name}(): {what}")),
        EngineError::OutOfMemory(what) => PyMemoryError::new_err(format!("{name}(): {what}")),
        EngineError::Cancelled => PyKeyboardInterrupt::new_err(format!("gilfree: {name}() was interrupted")),
        EngineError::Panic(message) => {
            Python::attach(|py| kernel_error_new(py, format!("kernel '{name}' panicked: {message}")))
        }
        EngineError::Pool(_) => PyRuntimeError::new_err(format!("{name}(): {err}")),
    }
}

/// An engine error on its way to Python, for `?` in a `#[pyfunction]`: `gilfree_engine::Error`
/// converts into it, and it converts into `PyErr` ([`to_pyerr`], without a kernel name).
///
/// (Rust's orphan rule forbids `From<gilfree_engine::Error> for PyErr` outside both crates; this
/// newtype is the bridge.)
#[derive(Debug)]
pub struct Error(pub EngineError);

impl From<EngineError> for Error {
    fn from(err: EngineError) -> Self {
        Error(err)
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        to_pyerr("kernel", err.0)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}
