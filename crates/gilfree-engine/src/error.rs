//! The one error type of the engine and the kernels. Every variant maps to exactly one Python exception in the
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
    /// Memory the kernel needs (an output, a temporary copy, a work list) could not be
    /// allocated: the allocator refused a size that is otherwise valid. Python: `MemoryError`.
    OutOfMemory(String),
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
            Error::OutOfMemory(what) => f.write_str(what),
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
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// A vector with room for exactly `n` elements, or [`Error::OutOfMemory`] naming `what` (a
/// phrase such as "a contiguous copy of the input") when the allocator refuses. Every buffer
/// whose size comes from the caller is allocated through this (or [`zeroed_vec`]), so a request
/// the system cannot grant is a `MemoryError`, never an abort.
///
/// # Errors
///
/// [`Error::OutOfMemory`].
pub fn try_vec<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| oom::<T>(n, what))?;
    Ok(v)
}

fn oom<T>(n: usize, what: &str) -> Error {
    Error::OutOfMemory(format!(
        "cannot allocate {} bytes for {what}",
        n.saturating_mul(std::mem::size_of::<T>())
    ))
}

/// Types for which all-zero bytes are a valid value, as is every other bit pattern (the
/// primitive numbers; [`crate::with_scratch`] reinterprets kept bytes as any of them).
pub trait Zeroable: Copy + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! zeroable {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Zeroable for $t {}
    )*};
}
zeroable!(u8, u16, u32, u64, i32, i64, f32, f64, usize);

/// A vector of `n` zeros, allocated zeroed (`calloc`): for large sizes the operating system hands
/// out zero pages lazily, so this costs no time up front (a `resize(n, 0)` would write every byte
/// on the calling thread, seconds for gigabytes, with no chance to notice Ctrl-C); the first
/// touch happens in the kernel's parallel tasks.
///
/// # Errors
///
/// [`Error::OutOfMemory`] when the allocator refuses, [`Error::Overflow`] when `n` elements do
/// not fit the address space.
pub fn zeroed_vec<T: Zeroable>(n: usize, what: &str) -> Result<Vec<T>> {
    use std::alloc::{alloc_zeroed, Layout};
    if n == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<T>(n)
        .map_err(|_| Error::Overflow(format!("{what}: {n} elements do not fit in the address space")))?;
    // SAFETY: `layout` has a non-zero size (n > 0 and T is not zero-sized).
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(oom::<T>(n, what));
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `[T; n]` (the layout
    // `Vec<T>` uses for capacity `n`); all `n` elements are initialised, as all-zero bytes are a
    // valid `T` (`Zeroable` is implemented for primitive numbers only).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn zeroed_vec_is_zeros_of_the_right_length() {
        let v: Vec<u16> = zeroed_vec(1 << 20, "a test buffer").unwrap();
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&x| x == 0));
        let f: Vec<f64> = zeroed_vec(3, "a test buffer").unwrap();
        assert_eq!(f, [0.0; 3]);
        assert!(zeroed_vec::<u64>(0, "nothing").unwrap().is_empty());
    }

    #[test]
    fn allocations_the_system_refuses_are_errors_not_aborts() {
        // 2^60 bytes: more than any address space (OutOfMemory or, past isize, Overflow).
        let err = zeroed_vec::<u8>(1 << 60, "a huge buffer").unwrap_err();
        assert!(
            matches!(err, Error::OutOfMemory(_) | Error::Overflow(_)),
            "{err:?}"
        );
        let err = zeroed_vec::<u64>(usize::MAX / 4, "a huge buffer").unwrap_err();
        assert!(matches!(err, Error::Overflow(_)), "{err:?}");
        let err = try_vec::<u8>(1 << 60, "a huge buffer").unwrap_err();
        assert!(
            matches!(err, Error::OutOfMemory(ref m) if m.contains("a huge buffer")),
            "{err:?}"
        );
    }
}
