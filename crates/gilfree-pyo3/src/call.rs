//! The path of one call: every kernel goes through [`run`], and only [`run`] releases the GIL.
//!
//! ```text
//! Python, GIL held: parse arguments, check types/dtypes/shapes, borrow buffers read-only
//!   └─ run(): py.detach ─┬─ the kernel on the shared pool (or on this thread for threads=1)
//!                        └─ this thread waits; every 20 ms it re-attaches for a moment to run
//!                           check_signals() — Ctrl-C cancels the call — then detaches again;
//!                           other threads learn of Ctrl-C through the interrupt epoch
//!   back, GIL held: panic → gilfree.KernelError, engine error → ValueError/OverflowError/...,
//!                   cancellation → KeyboardInterrupt (or whatever the signal handler raised)
//! ```
//!
//! The GIL is never held while the pool works, and pool workers never touch Python, so no
//! deadlock can involve the GIL.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

use gilfree_engine::{Ctx, Error as EngineError, Threads};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

use crate::errors::{kernel_error_new, to_pyerr};
use crate::host::GilMode;
use crate::link::api;
use crate::progress::Reporter;

/// Calls with less work than this (in bytes of input, or an estimate of the same order) run on
/// the calling thread without releasing the GIL, as CPython's `hashlib` does below
/// `HASHLIB_GIL_MINSIZE` (2048 bytes): releasing and re-taking the GIL costs more than such a
/// call, and it cannot be worth interrupting. Pass `usize::MAX` to always release.
pub const DETACH_MIN_BYTES: usize = 2048;

/// Counts this thread, for as long as it lives, among the threads that may take the GIL back from
/// native frames (the runtime's interpreter exit waits for them: see `host::begin_exit`).
#[derive(Debug)]
pub struct CallGuard(());

impl CallGuard {
    /// Enters (see the type's docs).
    pub fn enter() -> Self {
        // SAFETY: a runtime table entry (valid for the process, never unwinds).
        unsafe { (api().call_enter)() };
        CallGuard(())
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        // SAFETY: a runtime table entry (valid for the process, never unwinds).
        unsafe { (api().call_leave)() };
    }
}

/// Call before taking the GIL back from native frames (after a detach, in a poll hook): during
/// interpreter exit, threads other than the exiting one never return from it.
pub fn park_if_exiting() {
    // SAFETY: a runtime table entry (valid for the process, never unwinds).
    unsafe { (api().park_if_exiting)() };
}

fn gil_mode() -> GilMode {
    // SAFETY: a runtime table entry (valid for the process, never unwinds).
    match unsafe { (api().gil_mode)() } {
        1 => GilMode::Hold,
        2 => GilMode::Reacquire,
        _ => GilMode::Release,
    }
}

/// Runs `f` as one gilfree call named `name`: detached from Python when `work_bytes` is at least
/// [`DETACH_MIN_BYTES`], on the shared pool as `threads` says, with signal checks every 20 ms,
/// panic capture and the one error mapping.
///
/// * `f` gets the call's [`Ctx`]: split the work with [`Ctx::map_tasks`] / [`Ctx::map_chunks`]
///   (results in task order: deterministic at any thread count), and call [`Ctx::checkpoint`] in
///   long stretches that run on the calling thread.
/// * Ctrl-C: on the main thread, `check_signals()` runs Python's SIGINT handler; on any thread,
///   gilfree's handler moves the interrupt epoch; either way the call stops at its next chunk
///   and raises `KeyboardInterrupt`.
/// * A panic in `f` (on any thread) becomes `gilfree.KernelError` naming `name`; the pool keeps
///   working. Engine errors map as [`to_pyerr`] says.
///
/// ```no_run
/// use gilfree_pyo3::{run, Threads};
/// use pyo3::prelude::*;
///
/// #[pyfunction]
/// fn total(py: Python<'_>, xs: Vec<f64>) -> PyResult<f64> {
///     let bytes = xs.len() * 8;
///     let parts = run(py, "total", Threads::Pool, bytes, |ctx| {
///         ctx.map_chunks(xs.len(), 1 << 16, 1, |r| xs[r].iter().sum::<f64>())
///     })?;
///     Ok(parts.iter().sum()) // partials in chunk order: the same bits at any thread count
/// }
/// ```
///
/// # Errors
///
/// As above: `KeyboardInterrupt`, `gilfree.KernelError`, and the mapping of [`to_pyerr`].
pub fn run<R, F>(py: Python<'_>, name: &str, threads: Threads, work_bytes: usize, f: F) -> PyResult<R>
where
    R: Send,
    F: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R> + Send,
{
    let mode = gil_mode();
    if work_bytes < DETACH_MIN_BYTES && mode == GilMode::Release {
        // Attached: the calling thread does everything (never wait on the pool with the GIL held).
        let ctx = Ctx::new(Threads::Caller, None);
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&ctx)));
        let mut reporter = Reporter::take();
        let raised = match (&outcome, reporter.as_mut()) {
            (Ok(Ok(_)), Some(r)) => r.finish(py, name, ctx.progress()).err(),
            _ => None,
        };
        Reporter::put_back(reporter);
        return settle(py, name, outcome, raised);
    }
    // `progress=` of the enclosing `Progress::scope`, if any: reported to from the polls below.
    let reporter = Mutex::new(Reporter::take());
    // Counted from here to the return: this thread may take the GIL back from native frames.
    let _guard = CallGuard::enter();
    // Among the calls in flight, with its progress, until it returns.
    let progress = InFlight::begin(name);
    // An exception raised by a signal handler while we polled (KeyboardInterrupt, usually).
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let poll = |(done, total): (u64, u64)| {
        progress.update(done, total);
        park_if_exiting();
        // Re-entrant: in the lab's Hold and Reacquire modes this thread already holds the GIL.
        Python::attach(|py| {
            let checked = py.check_signals().and_then(|()| {
                match reporter.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                    Some(r) => r.poll(py, name, (done, total)),
                    None => Ok(()),
                }
            });
            match checked {
                Ok(()) => false,
                Err(err) => {
                    *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
                    true
                }
            }
        })
    };
    // The lab's modes run on the calling thread: never wait for the pool with the GIL held.
    let threads = if mode == GilMode::Release {
        threads
    } else {
        Threads::Caller
    };
    let work = || {
        // A call started during interpreter exit (a daemon thread) parks here, detached.
        park_if_exiting();
        let ctx = Ctx::new(threads, Some(&poll));
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&ctx)));
        park_if_exiting(); // before the GIL is taken back
        (outcome, ctx.progress())
    };
    let (outcome, done_total) = match mode {
        GilMode::Release => py.detach(work),
        // The mistakes, on purpose. Hold: the GIL is never let go. Reacquire: it is let go and
        // taken straight back before the work starts.
        GilMode::Hold => work(),
        GilMode::Reacquire => py.detach(|| {
            park_if_exiting();
            Python::attach(|_| work())
        }),
    };
    let mut raised = raised.into_inner().unwrap_or_else(PoisonError::into_inner);
    if raised.is_none() {
        // gilfree's C-level SIGINT handler stops the call the moment Ctrl-C arrives, possibly
        // before this thread polled: run Python's handler now (a no-op off the main thread, or if
        // no signal is pending), so that its exception is the one raised, once, and not a second
        // KeyboardInterrupt at the next bytecode.
        raised = py.check_signals().err();
    }
    let mut reporter = reporter.into_inner().unwrap_or_else(PoisonError::into_inner);
    if raised.is_none() {
        if let (Ok(Ok(_)), Some(r)) = (&outcome, reporter.as_mut()) {
            // The final report of a successful call: `(total, total)`.
            raised = r.finish(py, name, done_total).err();
        }
    }
    Reporter::put_back(reporter);
    settle(py, name, outcome, raised)
}

/// A call among the runtime's calls in flight (`RuntimeApi::progress_*`), for as long as it lives.
struct InFlight(u64);

impl InFlight {
    fn begin(name: &str) -> Self {
        // SAFETY: a runtime table entry; `name` is `name.len()` bytes of UTF-8.
        InFlight(unsafe { (api().progress_begin)(name.as_ptr().cast(), name.len()) })
    }

    fn update(&self, done: u64, total: u64) {
        // SAFETY: a runtime table entry (valid for the process, never unwinds).
        unsafe { (api().progress_update)(self.0, done, total) };
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // SAFETY: a runtime table entry (valid for the process, never unwinds).
        unsafe { (api().progress_end)(self.0) };
    }
}

fn settle<R>(
    py: Python<'_>,
    name: &str,
    outcome: std::thread::Result<gilfree_engine::Result<R>>,
    raised: Option<PyErr>,
) -> PyResult<R> {
    // An exception from a signal handler wins, even if the kernel finished before it noticed.
    if let Some(err) = raised {
        return Err(err);
    }
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(EngineError::Cancelled)) => Err(PyKeyboardInterrupt::new_err(format!(
            "gilfree: {name}() was interrupted (Ctrl-C or gilfree.interrupt() while it ran)"
        ))),
        Ok(Err(err)) => Err(to_pyerr(name, err)),
        Err(payload) => Err(kernel_error_new(
            py,
            format!(
                "kernel '{name}' panicked: {}",
                gilfree_engine::panic_message(&*payload)
            ),
        )),
    }
}

/// `py.gilfree(name, threads, f)`: [`run`] as a method on `Python`, always detached (for kernels
/// whose work is never small).
pub trait PythonExt {
    /// [`run`] with `work_bytes = usize::MAX`.
    ///
    /// # Errors
    ///
    /// As [`run`].
    fn gilfree<R, F>(self, name: &str, threads: Threads, f: F) -> PyResult<R>
    where
        R: Send,
        F: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R> + Send;
}

impl PythonExt for Python<'_> {
    fn gilfree<R, F>(self, name: &str, threads: Threads, f: F) -> PyResult<R>
    where
        R: Send,
        F: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R> + Send,
    {
        run(self, name, threads, usize::MAX, f)
    }
}
