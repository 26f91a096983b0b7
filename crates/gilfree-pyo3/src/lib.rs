//! # gilfree-pyo3
//!
//! Your own GIL-free PyO3 functions on gilfree's runtime.
//!
//! A PyO3 extension built with this crate gets what gilfree's own kernels get (they are built on
//! it too): the GIL released for the whole computation, **one shared pool per process** (not one
//! per extension: `gilfree.set_num_threads` sizes it for everyone), Ctrl-C that stops native code
//! from any thread within 0.5 s, panics raised as `gilfree.KernelError` with the pool intact,
//! deterministic chunking, and `gilfree.Executor` tasks that run without a Python thread.
//!
//! ```no_run
//! use gilfree_pyo3::{run, ThreadsArg};
//! use pyo3::prelude::*;
//!
//! /// The sum of squares of 0..n, on every core.
//! #[pyfunction(signature = (n, *, threads = None))]
//! fn sum_squares(py: Python<'_>, n: u64, threads: Option<ThreadsArg>) -> PyResult<u64> {
//!     let len = usize::try_from(n).unwrap_or(usize::MAX);
//!     let parts = run(py, "sum_squares", ThreadsArg::get(threads), len, |ctx| {
//!         ctx.map_chunks(len, 1 << 16, 1, |r| r.map(|i| (i as u64).wrapping_mul(i as u64)).fold(0u64, u64::wrapping_add))
//!     })?;
//!     Ok(parts.into_iter().fold(0, u64::wrapping_add))
//! }
//!
//! #[pymodule]
//! fn my_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
//!     gilfree_pyo3::init(m)?; // link to gilfree's runtime first
//!     m.add_function(wrap_pyfunction!(sum_squares, m)?)
//! }
//! ```
//!
//! The pieces:
//!
//! * [`init`]: links the extension to the runtime (`gilfree._native`'s capsule, ABI-checked).
//! * [`run`] (or [`PythonExt::gilfree`]): the chokepoint every call goes through.
//! * [`ThreadsArg`] and [`args`]: arguments parsed as gilfree parses its own.
//! * [`Progress`]: `progress=` (a bar on stderr, or a callable `(done, total)`) for every `run`
//!   inside [`Progress::scope`], reported from the calling thread ([`progress`]).
//! * [`to_pyerr`], [`Error`], [`kernel_error`]: the one error mapping and the shared
//!   `gilfree.KernelError`.
//! * [`task`], [`task_threads`], [`register_task`]: `gilfree.Executor` task forms.
//! * [`abi`]: the runtime's C ABI (also `gilfree.h`, for C and Cython).
//!
//! See `docs/extending.md` in gilfree for the whole story, and `examples/ext-rust/`.

#![deny(missing_docs)]

pub mod abi;
pub mod args;
mod call;
mod errors;
#[doc(hidden)]
pub mod host;
mod link;
mod prepared;
pub mod progress;
mod task;

pub use gilfree_engine as engine;
pub use gilfree_engine::{Ctx, Threads};

pub use args::ThreadsArg;
pub use call::{park_if_exiting, run, CallGuard, PythonExt, DETACH_MIN_BYTES};
pub use errors::{kernel_error, kernel_error_new, to_pyerr, Error, KernelError};
#[doc(hidden)]
pub use link::{add_capsule, capsule, export, table_with_version, MakeJob};
pub use link::{init, linked};
pub use prepared::{Form, IntoPy, Prepared};
pub use progress::Progress;
pub use task::{register_task, task, task_threads, task_value};
