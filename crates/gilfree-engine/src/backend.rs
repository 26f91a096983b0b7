//! The pool behind a seam: this library's own pool, or the process's shared runtime.
//!
//! Rust statics are per shared object. Two Python extensions that each link this crate would
//! each get a pool, an interrupt epoch and a task queue of their own: two pools sized to all
//! cores (oversubscription), and a Ctrl-C that only one of them hears. So everything the engine
//! does with process-wide state goes through one [`Backend`], a table of `extern "C"` functions:
//!
//! * by default, [`local`]: this library's own pool, epoch and queue;
//! * in an extension built with `gilfree-pyo3` while `gilfree` is importable, the entries of
//!   `gilfree._native`'s runtime table (its PyCapsule), [`install`]ed once at module init: every
//!   extension then runs on gilfree's one pool, under its one thread budget and interrupt epoch.
//!
//! The entries are `extern "C"` because they cross from one shared object to another (there is
//! no stable Rust ABI); none of them ever unwinds. The engine reads the table on every call and
//! every spawned task, never on the per-element path.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{hot, pool, tasks, INTERRUPT_EPOCH};

/// One worker's share of a broadcast: `body(data, worker)`, with `worker` in `0..n`.
pub type WorkerBody = unsafe extern "C" fn(data: *const c_void, worker: usize);

/// A queued task: `run(data)`, called exactly once, on a pool worker.
pub type TaskRun = unsafe extern "C" fn(data: *mut c_void);

/// An opaque handle to a running broadcast ([`Backend::broadcast_start`]).
#[repr(C)]
#[derive(Debug)]
pub struct Broadcast {
    _private: [u8; 0],
}

/// The process-wide services the engine needs, as `extern "C"` functions (see the module docs).
///
/// Every entry is safe to call from any thread, without the GIL, and never unwinds.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    /// The interrupt epoch ([`crate::interrupt_all`] bumps it; calls started before a bump stop).
    /// Valid for the life of the process; read and bumped with relaxed atomics.
    pub interrupt_epoch: *const AtomicU64,
    /// The thread budget: the size of the shared pool calls with `threads=None` use.
    pub num_threads: unsafe extern "C" fn() -> usize,
    /// Resizes the shared pool: 0 on success, -1 if `n` is out of range (1..=1024).
    pub set_num_threads: unsafe extern "C" fn(n: usize) -> c_int,
    /// Starts `body(data, i)` for every `i` in `0..n` on the shared pool and returns at once (the
    /// caller waits with [`broadcast_wait`](Self::broadcast_wait), so it can poll for Ctrl-C
    /// meanwhile). Null if the pool could not be started (nothing runs then). `data` must stay
    /// valid until the wait returned 1.
    pub broadcast_start:
        unsafe extern "C" fn(n: usize, body: WorkerBody, data: *const c_void) -> *mut Broadcast,
    /// Waits up to `timeout_ns` nanoseconds: 1 once every `body` returned, else 0.
    pub broadcast_wait: unsafe extern "C" fn(handle: *mut Broadcast, timeout_ns: u64) -> c_int,
    /// Frees a handle whose wait returned 1.
    pub broadcast_free: unsafe extern "C" fn(handle: *mut Broadcast),
    /// 1 if the calling thread is a worker of the shared pool (a call made there must not wait
    /// for the pool: it runs on that thread), else 0.
    pub on_worker: unsafe extern "C" fn() -> c_int,
    /// Queues `run(data)` as one independent task (the `gilfree.Executor` FIFO): 0 if queued (it
    /// will be called exactly once), -1 if the pool could not be started (it never will).
    pub task_spawn: unsafe extern "C" fn(run: TaskRun, data: *mut c_void) -> c_int,
    /// Runs the oldest queued task on this thread, if any: 1 if one ran. Called by a direct call's
    /// workers between two chunks (the pool's scheduling rule).
    pub run_queued_task: unsafe extern "C" fn() -> c_int,
    /// Closes a running broadcast: bodies that have not started yet never will (their workers
    /// return without calling `body` and without touching `data`), so
    /// [`broadcast_wait`](Self::broadcast_wait) then waits only for the bodies already running.
    /// The calling thread closes its broadcast once it finds no work left, so a call never waits
    /// for a worker that woke up too late to help.
    pub broadcast_close: unsafe extern "C" fn(handle: *mut Broadcast),
    /// The number of pool workers spinning right now, ready to start a job within about a
    /// microsecond (`engine::hot`): with one, waking workers pays for a few microseconds of work.
    pub hot_workers: unsafe extern "C" fn() -> usize,
}

// SAFETY: the only pointer, `interrupt_epoch`, points to an atomic that lives for the whole
// process and is only ever accessed atomically.
unsafe impl Send for Backend {}
// SAFETY: as above; the function pointers are plain code addresses.
unsafe impl Sync for Backend {}

/// This library's own backend, by value (to build a table from, in a `const`).
pub const LOCAL: Backend = Backend {
    interrupt_epoch: std::ptr::addr_of!(INTERRUPT_EPOCH),
    num_threads: local_num_threads,
    set_num_threads: local_set_num_threads,
    broadcast_start: local_broadcast_start,
    broadcast_wait: local_broadcast_wait,
    broadcast_free: local_broadcast_free,
    on_worker: local_on_worker,
    task_spawn: local_task_spawn,
    run_queued_task: local_run_queued_task,
    broadcast_close: local_broadcast_close,
    hot_workers: local_hot_workers,
};

static LOCAL_STATIC: Backend = LOCAL;
static CURRENT: AtomicPtr<Backend> = AtomicPtr::new(std::ptr::addr_of!(LOCAL_STATIC).cast_mut());

/// This library's own backend: its pool, epoch and task queue (what the runtime exports).
pub fn local() -> &'static Backend {
    &LOCAL_STATIC
}

/// The backend in use: [`local`] unless another was [`install`]ed.
#[inline]
pub fn current() -> &'static Backend {
    // SAFETY: CURRENT only ever holds `&LOCAL_STATIC` or a `&'static Backend` given to `install`.
    unsafe { &*CURRENT.load(Ordering::Acquire) }
}

/// True while this library runs on its own pool (nothing was [`install`]ed).
pub fn is_local() -> bool {
    std::ptr::eq(current(), &LOCAL_STATIC)
}

/// Routes every later call, task and interrupt of this library to `backend`. Calls already running
/// finish where they started. Meant to be called once, at module init, before any call.
///
/// # Safety
///
/// Every entry of `backend` must be valid for the life of the process and behave as its field's
/// documentation says (as the entries of `gilfree._native`'s runtime table do).
pub unsafe fn install(backend: &'static Backend) {
    CURRENT.store(std::ptr::from_ref(backend).cast_mut(), Ordering::Release);
}

/// The interrupt epoch of the backend in use.
#[inline]
pub(crate) fn epoch() -> &'static AtomicU64 {
    // SAFETY: `interrupt_epoch` is valid for the life of the process (the field's contract).
    unsafe { &*current().interrupt_epoch }
}

/// Runs `f`, turning a panic into `fallback` (no panic may cross an `extern "C"` boundary).
fn no_unwind<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

unsafe extern "C" fn local_num_threads() -> usize {
    no_unwind(1, || pool::configured_threads().0)
}

unsafe extern "C" fn local_set_num_threads(n: usize) -> c_int {
    no_unwind(-1, || if pool::set_num_threads(n).is_ok() { 0 } else { -1 })
}

unsafe extern "C" fn local_on_worker() -> c_int {
    // Every rayon pool of this library is gilfree's (rayon's global pool is never used).
    c_int::from(rayon::current_thread_index().is_some())
}

/// [`LocalBroadcast::state`]: bit 63 set once closed; bits 32..63 the bodies not started yet;
/// bits 0..32 the bodies running.
const CLOSED: u64 = 1 << 63;
const ONE_UNSTARTED: u64 = 1 << 32;
const RUNNING: u64 = ONE_UNSTARTED - 1;

/// True when a broadcast in `state` is over: no body runs, and none will start.
fn finished(state: u64) -> bool {
    state & RUNNING == 0 && (state & CLOSED != 0 || state & !CLOSED < ONE_UNSTARTED)
}

/// How long [`local_broadcast_wait`] spins before it sleeps: the calling thread finishes its
/// share within one task of the last worker (they take the same tasks from one counter), and a
/// sleep followed by a wake-up (~35 µs on the dev VM) would add to every call's critical path.
const WAIT_SPIN: Duration = Duration::from_micros(250);

/// A broadcast on the local pool. It does not keep the pool alive: a pool dropped by a resize
/// retires its workers once they finish the body they run, and drops the jobs still posted (a
/// body that never started is no loss: the calling thread runs every task nobody took).
struct LocalBroadcast {
    state: AtomicU64,
    /// Threads sleeping in [`local_broadcast_wait`] (guarded, so that no wake-up is lost).
    sleepers: Mutex<usize>,
    finished: Condvar,
}

impl LocalBroadcast {
    /// A worker takes its turn: true if it may run its body (the broadcast is not closed).
    fn enter(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return false;
            }
            let next = state - ONE_UNSTARTED + 1;
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// A body returned.
    fn leave(&self) {
        let state = self.state.fetch_sub(1, Ordering::AcqRel) - 1;
        if finished(state) {
            self.wake();
        }
    }

    /// A body that will never run (its job was dropped: the pool retired): the broadcast stops
    /// counting on it.
    fn abandon(&self) {
        let state = self.state.fetch_sub(ONE_UNSTARTED, Ordering::AcqRel) - ONE_UNSTARTED;
        if finished(state) {
            self.wake();
        }
    }

    fn close(&self) {
        let state = self.state.fetch_or(CLOSED, Ordering::AcqRel) | CLOSED;
        if finished(state) {
            self.wake();
        }
    }

    fn is_finished(&self) -> bool {
        finished(self.state.load(Ordering::Acquire))
    }

    fn wake(&self) {
        let sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        if *sleepers > 0 {
            self.finished.notify_all();
        }
    }
}

/// One worker's turn in a broadcast, carried by its job: if the job is dropped without running
/// (its pool retired first), the broadcast is told not to wait for that body.
struct Turn {
    shared: Arc<LocalBroadcast>,
    taken: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.taken {
            self.shared.abandon();
        }
    }
}

/// A pointer handed to pool threads; the broadcast contract keeps its target alive.
#[derive(Clone, Copy)]
struct SendPtr(*const c_void);
// SAFETY: `broadcast_start`'s caller keeps `data` valid, and shareable between threads, until
// the wait returned 1 (the `WorkerBody` contract).
unsafe impl Send for SendPtr {}

unsafe extern "C" fn local_broadcast_start(
    n: usize,
    body: WorkerBody,
    data: *const c_void,
) -> *mut Broadcast {
    no_unwind(std::ptr::null_mut(), || {
        let Ok(unstarted) = u64::try_from(n) else {
            return std::ptr::null_mut();
        };
        if unstarted >= (CLOSED >> 32) {
            return std::ptr::null_mut();
        }
        let Ok(pool) = pool::shared() else {
            return std::ptr::null_mut();
        };
        let shared = Arc::new(LocalBroadcast {
            state: AtomicU64::new(unstarted * ONE_UNSTARTED),
            sleepers: Mutex::new(0),
            finished: Condvar::new(),
        });
        let data = SendPtr(data);
        for worker in 0..n {
            let turn = Turn {
                shared: Arc::clone(&shared),
                taken: false,
            };
            pool.team.post(Box::new(move || {
                let data = data;
                let mut turn = turn;
                turn.taken = true;
                let shared = &turn.shared;
                if shared.enter() {
                    // SAFETY: `body` and `data` are valid until every body that entered
                    // returned (the contract of `broadcast_start`); a body never unwinds
                    // (`extern "C"`).
                    unsafe { body(data.0, worker) };
                    shared.leave();
                }
            }));
        }
        Arc::into_raw(shared).cast_mut().cast()
    })
}

unsafe extern "C" fn local_broadcast_wait(handle: *mut Broadcast, timeout_ns: u64) -> c_int {
    // SAFETY: `handle` came from `local_broadcast_start` and was not freed (the contract).
    let shared = unsafe { &*handle.cast_const().cast::<LocalBroadcast>() };
    no_unwind(0, || {
        let start = Instant::now();
        let timeout = Duration::from_nanos(timeout_ns);
        let spin = WAIT_SPIN.min(timeout);
        let mut round = 0u32;
        while !shared.is_finished() {
            round = round.wrapping_add(1);
            if round.is_multiple_of(64) && start.elapsed() >= spin {
                break;
            }
            std::hint::spin_loop();
        }
        if shared.is_finished() {
            return 1;
        }
        let deadline = start.checked_add(timeout);
        let mut sleepers = shared.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        *sleepers += 1;
        let result = loop {
            if shared.is_finished() {
                break 1;
            }
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if wait.is_zero() {
                break 0;
            }
            sleepers = shared
                .finished
                .wait_timeout(sleepers, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        *sleepers -= 1;
        result
    })
}

unsafe extern "C" fn local_hot_workers() -> usize {
    hot::spinning()
}

unsafe extern "C" fn local_broadcast_close(handle: *mut Broadcast) {
    // SAFETY: `handle` came from `local_broadcast_start` and was not freed (the contract).
    let shared = unsafe { &*handle.cast_const().cast::<LocalBroadcast>() };
    no_unwind((), || shared.close());
}

unsafe extern "C" fn local_broadcast_free(handle: *mut Broadcast) {
    if !handle.is_null() {
        // SAFETY: `handle` came from `Arc::into_raw` in `local_broadcast_start`, freed once. The
        // workers still to run a closed broadcast's jobs hold their own `Arc`s.
        drop(unsafe { Arc::from_raw(handle.cast_const().cast::<LocalBroadcast>()) });
    }
}

unsafe extern "C" fn local_task_spawn(run: TaskRun, data: *mut c_void) -> c_int {
    let data = SendMutPtr(data);
    no_unwind(-1, || {
        let task: tasks::Queued = Box::new(move || {
            let data = data;
            // SAFETY: the `task_spawn` contract: `run(data)` is called exactly once.
            unsafe { run(data.0) };
        });
        if tasks::queue_local(task).is_ok() {
            0
        } else {
            -1
        }
    })
}

#[derive(Clone, Copy)]
struct SendMutPtr(*mut c_void);
// SAFETY: a task's data is handed to exactly one thread, once (the `task_spawn` contract).
unsafe impl Send for SendMutPtr {}

unsafe extern "C" fn local_run_queued_task() -> c_int {
    no_unwind(0, || c_int::from(tasks::run_one_local()))
}
