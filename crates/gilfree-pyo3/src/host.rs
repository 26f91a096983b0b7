//! What the runtime (`gilfree._native`) owns on the Python side, for every extension linked to
//! it: the interpreter-exit lifecycle, the lab's GIL modes, the C loop `parallel_for`. Each is
//! reached through the runtime table ([`crate::abi::RuntimeApi`]), so there is one of each per
//! process, not one per extension. An extension running without gilfree uses its own copy.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use gilfree_engine::Threads;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;

use crate::abi::ChunkBody;

/// Set when the interpreter starts to exit (an `atexit` hook, see [`begin_exit`]).
static EXITING: AtomicBool = AtomicBool::new(false);
/// The thread that runs the interpreter's exit: it may still take the GIL.
static EXIT_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Native threads that may take the GIL from native frames right now, and how many of them are
/// parked for good.
static GIL_USERS: AtomicUsize = AtomicUsize::new(0);
static PARKED: AtomicUsize = AtomicUsize::new(0);
/// How long interpreter exit waits for calls in other threads to stop or park.
const EXIT_WAIT: Duration = Duration::from_secs(2);

pub(crate) unsafe extern "C" fn call_enter() {
    GIL_USERS.fetch_add(1, Ordering::SeqCst);
}

pub(crate) unsafe extern "C" fn call_leave() {
    GIL_USERS.fetch_sub(1, Ordering::SeqCst);
}

/// During interpreter exit, threads other than the exiting one never return from here: they
/// park for good instead of taking the GIL back from native frames.
pub(crate) unsafe extern "C" fn park_if_exiting() {
    if EXITING.load(Ordering::SeqCst) && EXIT_THREAD.get() != Some(&std::thread::current().id()) {
        PARKED.fetch_add(1, Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }
}

/// Registers [`after_fork_in_child`] (once per process, by the runtime at import).
#[doc(hidden)]
pub fn install_fork_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gilfree_engine::fork::on_fork(&FORK_HOOKS);
        #[cfg(unix)]
        // SAFETY: `after_fork_in_child` is an `extern "C" fn()` of this library, which Python
        // never unloads, and it cannot unwind (two atomic stores).
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// In a forked child, only the forking thread exists, and it is not inside a gilfree call (it
/// called `os.fork()` from Python): the parent's count of threads inside calls is void. Without
/// this reset, the child's interpreter exit would wait [`EXIT_WAIT`] for threads that do not
/// exist.
extern "C" fn after_fork_in_child() {
    GIL_USERS.store(0, Ordering::SeqCst);
    PARKED.store(0, Ordering::SeqCst);
}

/// Called from `atexit` (registered when gilfree is imported), on the exiting thread with the GIL
/// held: cancels every call in flight, then waits (GIL released, at most [`EXIT_WAIT`]) until every
/// other thread inside a call has either returned to Python or parked for good.
///
/// Why: once `Py_FinalizeEx` has begun, CPython 3.11-3.13 end any other thread that takes the GIL
/// with `pthread_exit`, a forced unwind that cannot cross Rust frames: the process aborts
/// (SIGABRT). A daemon thread still inside a call at exit would re-take the GIL from Rust frames.
/// `atexit` runs before finalization proper, so after this no thread is left inside a call that
/// could take the GIL: those that were have returned to Python (where `pthread_exit` is harmless)
/// or are parked (the process is about to end; CPython 3.14 hangs such threads the same way).
#[doc(hidden)]
pub fn begin_exit(py: Python<'_>) {
    let _ = EXIT_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    gilfree_engine::interrupt_all();
    py.detach(|| {
        let deadline = Instant::now() + EXIT_WAIT;
        while GIL_USERS.load(Ordering::SeqCst) > PARKED.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// True once the interpreter has begun to exit ([`begin_exit`]).
#[doc(hidden)]
pub fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}

/// How a call treats the GIL on the current thread. Always [`GilMode::Release`] except inside
/// `gilfree._native._lab.call`, which exists so the lab (`gilfree bench`) can show, with the very
/// same kernels, the two classic mistakes next to the right way.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilMode {
    /// Release the GIL for the whole computation (every real call).
    Release = 0,
    /// Keep the GIL for the whole computation: native code that forgot to release it.
    Hold = 1,
    /// Release the GIL, then take it straight back around the work: Cython's `with nogil:`
    /// wrapped around a `with gil:` body, the classic mistake.
    Reacquire = 2,
}

thread_local! {
    static GIL_MODE: Cell<GilMode> = const { Cell::new(GilMode::Release) };
}

pub(crate) unsafe extern "C" fn gil_mode() -> c_int {
    GIL_MODE.try_with(Cell::get).unwrap_or(GilMode::Release) as c_int
}

/// Runs `f` with this thread's [`GilMode`] set to `mode` (the lab's), restoring the previous mode
/// after (also when `f` fails or panics). Affects every extension linked to the runtime.
#[doc(hidden)]
pub fn with_gil_mode<T>(mode: GilMode, f: impl FnOnce() -> T) -> T {
    struct Restore(GilMode);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = GIL_MODE.try_with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(GIL_MODE.with(|m| m.replace(mode)));
    f()
}

/// A name from C: NUL-terminated; lossy UTF-8.
///
/// # Safety
///
/// `name` is null or a valid NUL-terminated string.
unsafe fn c_name(name: *const c_char) -> String {
    if name.is_null() {
        return "parallel_for".to_owned();
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
}

pub(crate) unsafe extern "C" fn raise_interrupted(name: *const c_char) {
    // SAFETY: the table's contract (a NUL-terminated string or null).
    let name = unsafe { c_name(name) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        Python::attach(|py| {
            // Python's own handler first, if a signal is pending (main thread): its exception is
            // the one to raise, once (see `call::run`).
            let err = py.check_signals().err().unwrap_or_else(|| {
                PyKeyboardInterrupt::new_err(format!("gilfree: {name}() was interrupted"))
            });
            err.restore(py);
        });
    }));
}

/// A pointer shared with pool workers for the duration of a `parallel_for`.
#[derive(Clone, Copy)]
struct Data(*mut c_void);
impl Data {
    /// The pointer (a method, so that closures capture the whole `Data`, not its raw field).
    fn ptr(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: `parallel_for`'s caller promises `body(data, ...)` may run on any thread, concurrently.
unsafe impl Send for Data {}
// SAFETY: as above.
unsafe impl Sync for Data {}

pub(crate) unsafe extern "C" fn parallel_for(
    name: *const c_char,
    n: usize,
    chunk: usize,
    threads: usize,
    body: ChunkBody,
    data: *mut c_void,
) -> c_int {
    // SAFETY: the table's contract (a NUL-terminated string or null).
    let name = unsafe { c_name(name) };
    let data = Data(data);
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a backend entry (valid for the process, never unwinds).
        if unsafe { (gilfree_engine::backend::current().on_worker)() } == 1 {
            return parallel_for_on_worker(&name, n, chunk, body, data);
        }
        // With or without the GIL on entry: attach is re-entrant, and `run` detaches for the work.
        Python::attach(|py| {
            if chunk == 0 {
                PyValueError::new_err(format!("{name}(): chunk must be >= 1, got 0")).restore(py);
                return -1;
            }
            let threads = match threads {
                0 => Threads::Pool,
                1 => Threads::Caller,
                k => std::num::NonZeroUsize::new(k).map_or(Threads::Pool, Threads::AtMost),
            };
            let since = gilfree_engine::interrupt_epoch();
            // The first chunk whose body failed: (code, start, end).
            let failed: Mutex<Option<(c_int, usize, usize)>> = Mutex::new(None);
            let stop = AtomicI32::new(0);
            let outcome = crate::call::run(py, &name, threads, usize::MAX, |ctx| {
                ctx.map_chunks(n, chunk, 1, |range| {
                    if stop.load(Ordering::Relaxed) != 0 {
                        return;
                    }
                    // SAFETY: the caller's contract: `body` may run on any thread, concurrently.
                    let code = unsafe { body(data.ptr(), range.start, range.end) };
                    if code != 0 {
                        stop.store(1, Ordering::Relaxed);
                        let mut slot = failed.lock().unwrap_or_else(PoisonError::into_inner);
                        // The lowest chunk wins, whatever the thread timing.
                        if slot.is_none_or(|(_, start, _)| range.start < start) {
                            *slot = Some((code, range.start, range.end));
                        }
                        ctx.cancel();
                    }
                })
            });
            let failed = failed.into_inner().unwrap_or_else(PoisonError::into_inner);
            match (outcome, failed) {
                (Ok(_), None) => 0,
                // A body that stopped because of Ctrl-C (it checked the epoch, as it should):
                // KeyboardInterrupt, or what Python's handler raises (see `call::run`).
                (_, Some(_)) if gilfree_engine::interrupt_epoch() != since => {
                    py.check_signals()
                        .err()
                        .unwrap_or_else(|| {
                            PyKeyboardInterrupt::new_err(format!(
                                "gilfree: {name}() was interrupted (Ctrl-C or gilfree.interrupt() while it ran)"
                            ))
                        })
                        .restore(py);
                    -1
                }
                // A failed body cancelled the others: that, not the cancellation, is the error.
                (_, Some((code, start, end))) => {
                    crate::errors::kernel_error_new(
                        py,
                        format!("{name}(): the loop body returned {code} for [{start}, {end})"),
                    )
                    .restore(py);
                    -1
                }
                (Err(err), None) => {
                    err.restore(py);
                    -1
                }
            }
        })
    }))
    .unwrap_or(-1)
}

/// `parallel_for` called from a pool worker (a body that runs a loop of its own): the chunks run
/// here, in order, without the GIL and without waiting for the pool this worker belongs to
/// (which could deadlock). The GIL is taken only to report a failure.
fn parallel_for_on_worker(name: &str, n: usize, chunk: usize, body: ChunkBody, data: Data) -> c_int {
    let fail = |make: &dyn Fn(Python<'_>) -> PyErr| {
        Python::attach(|py| make(py).restore(py));
        -1
    };
    if chunk == 0 {
        return fail(&|_| PyValueError::new_err(format!("{name}(): chunk must be >= 1, got 0")));
    }
    let ctx = gilfree_engine::Ctx::new(Threads::Caller, None);
    let interrupted =
        |_: Python<'_>| PyKeyboardInterrupt::new_err(format!("gilfree: {name}() was interrupted"));
    let mut start = 0;
    while start < n {
        if ctx.is_cancelled() {
            return fail(&interrupted);
        }
        let end = n.min(start.saturating_add(chunk));
        // SAFETY: the caller's contract: `body` may run on any thread.
        let code = unsafe { body(data.ptr(), start, end) };
        if code != 0 {
            if ctx.is_cancelled() {
                return fail(&interrupted); // the body stopped for Ctrl-C
            }
            return fail(&|py| {
                crate::errors::kernel_error_new(
                    py,
                    format!("{name}(): the loop body returned {code} for [{start}, {end})"),
                )
            });
        }
        start = end;
    }
    0
}

/// One call in flight, as the progress registry knows it.
#[derive(Clone, Debug)]
struct InFlight {
    token: u64,
    name: String,
    thread: ThreadId,
    started: Instant,
    done: u64,
    total: u64,
}

/// The calls in flight in this process (every extension's, through the table), for progress
/// displays. A few entries, locked for a few instructions at a time: at the start and end of a
/// call, and once per poll (every 20 ms) while it runs; the fork handlers take it (see
/// [`install_fork_handler`]).
static IN_FLIGHT: Mutex<Vec<InFlight>> = Mutex::new(Vec::new());
static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn in_flight() -> std::sync::MutexGuard<'static, Vec<InFlight>> {
    IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) unsafe extern "C" fn progress_begin(name: *const c_char, len: usize) -> u64 {
    let name = if name.is_null() {
        String::new()
    } else {
        // SAFETY: the table's contract: `len` bytes at `name`.
        let bytes = unsafe { std::slice::from_raw_parts(name.cast::<u8>(), len) };
        String::from_utf8_lossy(bytes).into_owned()
    };
    catch_unwind(AssertUnwindSafe(|| {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let mut calls = in_flight();
        if calls.try_reserve(1).is_err() {
            return 0;
        }
        calls.push(InFlight {
            token,
            name,
            thread: std::thread::current().id(),
            started: Instant::now(),
            done: 0,
            total: 0,
        });
        token
    }))
    .unwrap_or(0)
}

pub(crate) unsafe extern "C" fn progress_update(token: u64, done: u64, total: u64) {
    if token == 0 {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some(call) = in_flight().iter_mut().find(|c| c.token == token) {
            call.done = done;
            call.total = total;
        }
    }));
}

pub(crate) unsafe extern "C" fn progress_end(token: u64) {
    if token == 0 {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| in_flight().retain(|c| c.token != token)));
}

/// The calls in flight: `(name, done, total, seconds, on_this_thread)` each, oldest first.
#[doc(hidden)]
pub fn calls_in_flight() -> Vec<(String, u64, u64, f64, bool)> {
    let me = std::thread::current().id();
    in_flight()
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.done,
                c.total,
                c.started.elapsed().as_secs_f64(),
                c.thread == me,
            )
        })
        .collect()
}

/// Fork safety of [`IN_FLIGHT`]: taken before a fork, released after it; in the child, the
/// parent's calls (other threads) are forgotten.
static FORK_HOOKS: gilfree_engine::fork::ForkHooks = gilfree_engine::fork::ForkHooks {
    prepare: fork_prepare,
    release: fork_release,
};

thread_local! {
    static FORK_HELD: std::cell::RefCell<Option<std::sync::MutexGuard<'static, Vec<InFlight>>>> =
        const { std::cell::RefCell::new(None) };
}

/// The process id at the last `fork_prepare`: `fork_release` runs in the child if its own differs.
static FORKING_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn fork_prepare() {
    FORKING_PID.store(std::process::id(), Ordering::SeqCst);
    let guard = in_flight();
    let _ = FORK_HELD.try_with(|h| *h.borrow_mut() = Some(guard));
}

fn fork_release() {
    let _ = FORK_HELD.try_with(|h| {
        if let Some(mut guard) = h.borrow_mut().take() {
            // In the child only the forking thread exists, and it is in no call (it forked from
            // Python): the parent's calls in flight are not this process's.
            if std::process::id() != FORKING_PID.load(Ordering::SeqCst) {
                guard.clear();
            }
            drop(guard);
        }
    });
}
