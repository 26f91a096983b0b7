//! The path of one call: every kernel goes through [`run`], and only [`run`] releases the GIL.
//!
//! ```text
//! Python, GIL held: parse arguments, check types/dtypes/shapes, borrow buffers read-only
//!   └─ run(): py.detach ─┬─ core kernel on the shared pool (or on this thread for threads=1)
//!                        └─ this thread waits; every 20 ms it re-attaches for a moment to run
//!                           check_signals() — Ctrl-C cancels the call — then detaches again
//!   back, GIL held: panic → KernelError, core error → TypeError/ValueError/OverflowError,
//!                   cancellation → KeyboardInterrupt (or whatever the signal handler raised)
//! ```
//!
//! The GIL is never held while the pool works, and pool workers never touch Python, so no
//! deadlock can involve the GIL (the deadlock rule of docs/architecture.md).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::Error;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

use crate::errors::{to_pyerr, KernelError};

/// Calls with less input than this run on the calling thread without releasing the GIL, as
/// CPython's `hashlib` does below `HASHLIB_GIL_MINSIZE` (2048 bytes). Releasing and re-taking the
/// GIL costs more than reducing 2 KiB takes, and such a call cannot be worth interrupting.
/// Measured in docs/architecture.md ("Small work stays small").
pub(crate) const DETACH_MIN_BYTES: usize = 2048;

/// Set when the interpreter starts to exit (an `atexit` hook, see [`begin_exit`]).
static EXITING: AtomicBool = AtomicBool::new(false);
/// The thread that runs the interpreter's exit: it may still take the GIL.
static EXIT_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Native threads that may take the GIL from Rust frames right now ([`GilUser`]), and how many
/// of them are parked for good ([`park_if_exiting`]).
static GIL_USERS: AtomicUsize = AtomicUsize::new(0);
static PARKED: AtomicUsize = AtomicUsize::new(0);
/// How long interpreter exit waits for calls in other threads to stop or park.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Counts a thread that runs Rust frames which may take the GIL (a detached call, the lab's
/// heartbeat), for as long as it lives.
pub(crate) struct GilUser(());

impl GilUser {
    pub(crate) fn enter() -> Self {
        GIL_USERS.fetch_add(1, Ordering::SeqCst);
        GilUser(())
    }
}

impl Drop for GilUser {
    fn drop(&mut self) {
        GIL_USERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers [`after_fork_in_child`] (at import).
pub(crate) fn install_fork_handler() {
    #[cfg(unix)]
    // SAFETY: `after_fork_in_child` is an `extern "C" fn()` of this library, which Python never
    // unloads, and it cannot unwind (two atomic stores).
    unsafe {
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
}

/// In a forked child, only the forking thread exists, and it is not inside a gilfree call (it
/// called `os.fork()` from Python): the parent's count of threads inside gilfree calls is void.
/// Without this reset, the child's interpreter exit would wait [`EXIT_WAIT`] for threads that do
/// not exist.
extern "C" fn after_fork_in_child() {
    GIL_USERS.store(0, Ordering::SeqCst);
    PARKED.store(0, Ordering::SeqCst);
}

/// Called from `atexit` (registered when gilfree is imported), on the exiting thread with the GIL
/// held: cancels every call in flight, then waits (GIL released, at most [`EXIT_WAIT`]) until every
/// other thread inside gilfree has either returned to Python or parked for good.
///
/// Why: once `Py_FinalizeEx` has begun, CPython 3.11-3.13 end any other thread that takes the GIL
/// with `pthread_exit`, a forced unwind that cannot cross Rust frames: the process aborts
/// (SIGABRT). A daemon thread still inside a gilfree call at exit would re-take the GIL from Rust
/// frames. `atexit` runs before finalization proper, so after this no thread is left inside a
/// gilfree call that could take the GIL: those that were have returned to Python (where
/// `pthread_exit` is harmless) or are parked (the process is about to end; CPython 3.14 hangs such
/// threads the same way).
pub(crate) fn begin_exit(py: Python<'_>) {
    let _ = EXIT_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    gilfree_kernels::engine::interrupt_all();
    py.detach(|| {
        let deadline = Instant::now() + EXIT_WAIT;
        while GIL_USERS.load(Ordering::SeqCst) > PARKED.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// True once the interpreter has begun to exit ([`begin_exit`]).
pub(crate) fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}

/// Every native thread calls this before it takes the GIL back (re-attaching after a detach, the
/// poll hook): during interpreter exit, threads other than the exiting one never return from it.
pub(crate) fn park_if_exiting() {
    if exiting() && EXIT_THREAD.get() != Some(&std::thread::current().id()) {
        PARKED.fetch_add(1, Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }
}

/// How [`run`] treats the GIL on the current thread. Always [`GilMode::Release`] except inside
/// `gilfree._native._lab.call`, which exists so the lab (`gilfree bench`) can show, with the very
/// same kernels, the two classic mistakes next to the right way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GilMode {
    /// Release the GIL for the whole computation (every real call).
    Release,
    /// Keep the GIL for the whole computation: native code that forgot to release it.
    Hold,
    /// Release the GIL, then take it straight back around the work: Cython's `with nogil:`
    /// wrapped around a `with gil:` body, the classic mistake.
    Reacquire,
}

thread_local! {
    static GIL_MODE: Cell<GilMode> = const { Cell::new(GilMode::Release) };
}

/// Runs `f` with this thread's [`GilMode`] set to `mode`, restoring the previous mode after (also
/// when `f` fails or panics).
pub(crate) fn with_gil_mode<T>(mode: GilMode, f: impl FnOnce() -> T) -> T {
    struct Restore(GilMode);
    impl Drop for Restore {
        fn drop(&mut self) {
            GIL_MODE.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(GIL_MODE.with(|m| m.replace(mode)));
    f()
}

/// Runs `kernel` as one gilfree call: detached from Python for inputs of at least
/// [`DETACH_MIN_BYTES`] (`work_bytes`), with signal checks, panic capture and error mapping.
pub(crate) fn run<R, F>(
    py: Python<'_>,
    kernel: &'static str,
    threads: Threads,
    work_bytes: usize,
    f: F,
) -> PyResult<R>
where
    R: Send,
    F: FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<R> + Send,
{
    let mode = GIL_MODE.with(Cell::get);
    if work_bytes < DETACH_MIN_BYTES && mode == GilMode::Release {
        // Attached: the calling thread does everything (never wait on the pool with the GIL held).
        let ctx = Ctx::new(Threads::Caller, None);
        return settle(kernel, catch_unwind(AssertUnwindSafe(|| f(&ctx))), None);
    }
    // Counted from here to the return: this thread may take the GIL back from Rust frames.
    let _gil_user = GilUser::enter();
    if exiting() {
        // A call started during interpreter exit (a daemon thread): release the GIL and park.
        py.detach(park_if_exiting);
    }
    // An exception raised by a signal handler while we polled (KeyboardInterrupt, usually).
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let poll = || {
        park_if_exiting();
        // Re-entrant: in the lab's Hold and Reacquire modes this thread already holds the GIL.
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(err) => {
                *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
                true
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
        let ctx = Ctx::new(threads, Some(&poll));
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&ctx)));
        park_if_exiting(); // before the GIL is taken back
        outcome
    };
    let outcome = match mode {
        GilMode::Release => py.detach(work),
        // The mistakes, on purpose. Hold: the GIL is never let go. Reacquire: it is let go and
        // taken straight back before the work starts.
        GilMode::Hold => work(),
        GilMode::Reacquire => py.detach(|| {
            park_if_exiting();
            Python::attach(|_| work())
        }),
    };
    let raised = raised.into_inner().unwrap_or_else(PoisonError::into_inner);
    settle(kernel, outcome, raised)
}

fn settle<R>(
    kernel: &'static str,
    outcome: std::thread::Result<gilfree_kernels::Result<R>>,
    raised: Option<PyErr>,
) -> PyResult<R> {
    // An exception from a signal handler wins, even if the kernel finished before it noticed.
    if let Some(err) = raised {
        return Err(err);
    }
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(Error::Cancelled)) => Err(PyKeyboardInterrupt::new_err(format!(
            "gilfree.{kernel}() was interrupted (SIGINT received while it ran)"
        ))),
        Ok(Err(err)) => Err(to_pyerr(kernel, err)),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
            Err(KernelError::new_err(format!(
                "kernel '{kernel}' panicked: {message}"
            )))
        }
    }
}
