//! The runtime's C ABI: the table `gilfree._native` exports in the PyCapsule
//! `gilfree._native._RUNTIME_API`, read by this crate and by `gilfree.h`.
//!
//! Rules (as NumPy's `_ARRAY_API`):
//!
//! * `abi_major`, `abi_minor` and `size` come first and never move.
//! * Entries are only ever appended; an index never changes meaning. Appending bumps
//!   `abi_minor`; anything else would bump `abi_major` (never done lightly).
//! * A consumer built for `major.minor` accepts a runtime with the same major and a minor at
//!   least as high (and a `size` at least as large); otherwise its import fails with an
//!   `ImportError` naming both versions.
//! * No entry ever unwinds: every Rust panic is caught on the runtime's side of the boundary.
//!
//! `include/gilfree.h` (`gilfree.get_include()`) mirrors this struct field for field; a test
//! checks the two agree.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64};

pub use gilfree_engine::backend::{Broadcast, TaskRun, WorkerBody};
use pyo3::ffi::PyObject;

/// The ABI's major version: a runtime with another major is refused.
pub const ABI_MAJOR: u32 = 1;
/// The ABI's minor version: the number of append-only revisions of the table.
pub const ABI_MINOR: u32 = 1;
/// The capsule's name (as `PyCapsule_Import` wants it: the module, a dot, the attribute).
pub const CAPSULE_NAME: &std::ffi::CStr = c"gilfree._native._RUNTIME_API";

/// `body(data, start, end)`: one chunk of a [`RuntimeApi::parallel_for`] loop, on a pool worker,
/// without the GIL. Returns 0 to go on; anything else stops the loop and fails the call.
pub type ChunkBody = unsafe extern "C" fn(data: *mut c_void, start: usize, end: usize) -> c_int;

/// What a task of `gilfree.Executor` made by another extension sees of its context: the
/// interrupt epoch at submit time and the task's two cancel flags (read with relaxed atomic
/// loads; a `bool` in C).
#[repr(C)]
#[derive(Debug)]
pub struct TaskCtx {
    /// The interrupt epoch when the task was submitted.
    pub epoch: u64,
    /// Set by `Future.cancel()`.
    pub task: *const AtomicBool,
    /// Set by `Executor.shutdown(cancel_futures=True)`.
    pub group: *const AtomicBool,
}

/// A kernel call of another extension, to run as a `gilfree.Executor` task
/// ([`RuntimeApi::make_job`]). The runtime owns it from then on.
#[repr(C)]
#[derive(Debug)]
pub struct ForeignJob {
    /// The call, opaque to the runtime.
    pub data: *mut c_void,
    /// Runs the call on a pool worker, without the GIL: 0 when it finished (well or with an error
    /// that `finish` will raise), 1 when it stopped because it was cancelled (`ctx`'s flags or the
    /// epoch). Called at most once.
    pub run: unsafe extern "C" fn(data: *mut c_void, ctx: *const TaskCtx) -> c_int,
    /// With the GIL held, after `run` returned 0: a new reference to the result, or NULL with a
    /// Python exception set. Called at most once.
    pub finish: unsafe extern "C" fn(data: *mut c_void) -> *mut PyObject,
    /// Frees `data`. Called exactly once, last, on any thread, with or without the GIL.
    pub free: unsafe extern "C" fn(data: *mut c_void),
}

/// The runtime table. See the module docs for the rules; field order is the ABI.
#[repr(C)]
#[derive(Debug)]
pub struct RuntimeApi {
    /// [`ABI_MAJOR`] of the runtime.
    pub abi_major: u32,
    /// [`ABI_MINOR`] of the runtime.
    pub abi_minor: u32,
    /// `size_of::<RuntimeApi>()` in the runtime.
    pub size: usize,

    // ---- 1.0: the engine (see `gilfree_engine::backend::Backend`; no GIL needed) ----
    /// The interrupt epoch: bumped by Ctrl-C (gilfree's SIGINT handler) and `gilfree.interrupt()`.
    pub interrupt_epoch: *const AtomicU64,
    /// The thread budget (`gilfree.get_num_threads()`).
    pub num_threads: unsafe extern "C" fn() -> usize,
    /// `gilfree.set_num_threads(n)`: 0, or -1 if `n` is not in 1..=1024.
    pub set_num_threads: unsafe extern "C" fn(n: usize) -> c_int,
    /// Starts `body(data, i)` for `i` in `0..n` on the shared pool; returns at once (NULL if the
    /// pool cannot start).
    pub broadcast_start:
        unsafe extern "C" fn(n: usize, body: WorkerBody, data: *const c_void) -> *mut Broadcast,
    /// Waits up to `timeout_ns`: 1 when every body returned, else 0.
    pub broadcast_wait: unsafe extern "C" fn(handle: *mut Broadcast, timeout_ns: u64) -> c_int,
    /// Frees a finished broadcast.
    pub broadcast_free: unsafe extern "C" fn(handle: *mut Broadcast),
    /// 1 on a worker of the shared pool.
    pub on_worker: unsafe extern "C" fn() -> c_int,
    /// Queues one independent task (`run(data)` exactly once): 0, or -1 (never called then).
    pub task_spawn: unsafe extern "C" fn(run: TaskRun, data: *mut c_void) -> c_int,
    /// Runs one queued task on this thread if there is one: 1 if it did.
    pub run_queued_task: unsafe extern "C" fn() -> c_int,

    // ---- 1.0: the Python side ----
    /// A thread starts a call that may take the GIL back from native frames (the interpreter's
    /// exit waits for such calls: see `call`). Pair with `call_leave`.
    pub call_enter: unsafe extern "C" fn(),
    /// The end of a `call_enter`.
    pub call_leave: unsafe extern "C" fn(),
    /// Called before taking the GIL back from native frames: during interpreter exit, on any
    /// thread but the exiting one, never returns (the thread parks for good).
    pub park_if_exiting: unsafe extern "C" fn(),
    /// The lab's GIL mode for calls on this thread: 0 release (always, outside the lab), 1 hold
    /// the GIL, 2 release and re-take it (the `with gil:` mistake).
    pub gil_mode: unsafe extern "C" fn() -> c_int,
    /// `gilfree.KernelError` (a type object; a borrowed reference, alive for the process).
    pub kernel_error: *mut PyObject,
    /// With the GIL held: wraps `job` in a `gilfree.Executor` task object (`gilfree._native._Job`)
    /// named `name` (a NUL-terminated static string). A new reference, or NULL with an exception
    /// set (`job.free` has then been called).
    pub make_job: unsafe extern "C" fn(name: *const c_char, job: ForeignJob) -> *mut PyObject,
    /// Runs `body` over the chunks `[i*chunk, min((i+1)*chunk, n))` of `0..n` on the shared pool
    /// (`threads`: 0 the whole budget, 1 the calling thread, k at most k workers), waiting in
    /// slices and checking for Ctrl-C meanwhile. Call it with or without the GIL, from any thread;
    /// on a pool worker (inside a body) it runs the chunks there, in order.
    /// 0 on success; -1 with a Python exception set (KeyboardInterrupt, gilfree.KernelError for a
    /// body that returned nonzero — KeyboardInterrupt if Ctrl-C came meanwhile: the body stopped
    /// for it —, ValueError for chunk 0, MemoryError, RuntimeError).
    pub parallel_for: unsafe extern "C" fn(
        name: *const c_char,
        n: usize,
        chunk: usize,
        threads: usize,
        body: ChunkBody,
        data: *mut c_void,
    ) -> c_int,
    /// With the GIL held: sets `KeyboardInterrupt("gilfree: <name>() was interrupted")`.
    pub raise_interrupted: unsafe extern "C" fn(name: *const c_char),
    /// A call named `name` (`len` bytes of UTF-8, not NUL-terminated) starts on this thread:
    /// records it among the calls in flight (`gilfree._native._calls()`, what progress displays
    /// read) and returns its token (0 if it could not be recorded: the other progress entries
    /// then do nothing). No GIL needed.
    pub progress_begin: unsafe extern "C" fn(name: *const c_char, len: usize) -> u64,
    /// The call of `token` has done `done` of `total` tasks so far (called every poll, 20 ms).
    pub progress_update: unsafe extern "C" fn(token: u64, done: u64, total: u64),
    /// The call of `token` returned: forgets it.
    pub progress_end: unsafe extern "C" fn(token: u64),

    // ---- 1.1 ----
    /// Closes a running broadcast: bodies not started yet never will, so a later wait waits only
    /// for those already running (the calling thread ran out of work before they woke up).
    pub broadcast_close: unsafe extern "C" fn(handle: *mut Broadcast),
    /// The number of pool workers spinning right now (ready to start a job within about a
    /// microsecond).
    pub hot_workers: unsafe extern "C" fn() -> usize,
}

// SAFETY: the table is immutable once built; its pointers (the epoch, the KernelError type) are
// valid for the life of the process and only used as their field docs say.
unsafe impl Send for RuntimeApi {}
// SAFETY: as above.
unsafe impl Sync for RuntimeApi {}
