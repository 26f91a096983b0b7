//! The one mapping from core errors to Python exceptions.

use gilfree_kernels::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyOverflowError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    gilfree,
    KernelError,
    PyRuntimeError,
    "A gilfree kernel failed unexpectedly (a Rust panic, caught where it happened).\n\n\
     The shared pool is unaffected and the next call works. A subclass of RuntimeError, so\n\
     ``except Exception`` catches it. Please report it: it is always a bug in gilfree."
);

/// Maps a core error of `kernel` to the Python exception the design promises for it.
pub(crate) fn to_pyerr(kernel: &str, err: Error) -> PyErr {
    match err {
        Error::EmptyInput => PyValueError::new_err(format!(
            "{kernel}() of an empty array: a zero-size array has no {kernel}"
        )),
        Error::InvalidArgument { .. } => PyValueError::new_err(format!("{kernel}(): {err}")),
        Error::Overflow(what) => PyOverflowError::new_err(format!("{kernel}(): {what}")),
        Error::OutOfMemory(what) => PyMemoryError::new_err(format!("{kernel}(): {what}")),
        Error::Cancelled => PyKeyboardInterrupt::new_err(format!("gilfree.{kernel}() was interrupted")),
        Error::Panic(message) => KernelError::new_err(format!("kernel '{kernel}' panicked: {message}")),
        Error::Pool(_) => PyRuntimeError::new_err(format!("{kernel}(): {err}")),
    }
}
