//! The one error type of the core. Every variant maps to exactly one Python exception in the
//! binding (`src/errors.rs`); the core itself knows nothing about Python.

use std::fmt;

/// Everything a core kernel or the engine can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input has no elements and the kernel needs at least one (min, max, argmin, argmax).
    /// Python: `ValueError`.
    EmptyInput,
    /// An argument has a value outside its domain. Python: `ValueError`.
    InvalidArgument {
        /// The argument's Python name, e.g. `"threads"`.
        arg: &'static str,
        /// What is wrong with it, as a sentence fragment (`"must be >= 1, got 0"`).
        message: String,
    },
    /// A result or a size does not fit its type (an int64 sum that overflows, an output larger
    /// than the address space). Python: `OverflowError`.
    Overflow(String),
    /// The call was cancelled: its own cancel flag was set, or the process-wide interrupt epoch
    /// moved (Ctrl-C) after the call started. Python: `KeyboardInterrupt`.
    Cancelled,
    /// A kernel panicked. The panic was caught on the thread where it happened; the pool is intact.
    /// Python: `gilfree.KernelError`.
    Panic(String),
    /// The shared pool could not be built (the OS refused to start threads).
    /// Python: `RuntimeError`.
    Pool(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyInput => f.write_str("zero-size array has no such value"),
            Error::InvalidArgument { arg, message } => write!(f, "{arg} {message}"),
            Error::Overflow(what) => f.write_str(what),
            Error::Cancelled => f.write_str("cancelled"),
            Error::Panic(message) => write!(f, "panicked: {message}"),
            Error::Pool(message) => write!(f, "could not build the thread pool: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// The core's result alias.
pub type Result<T> = std::result::Result<T, Error>;

/// Turns the payload of a caught panic into a message (panics carry `&str` or `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
