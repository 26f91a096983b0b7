//! Fork safety: no lock of the engine is held across `fork()`.
//!
//! `fork()` copies only the calling thread. A lock that another thread held at that instant stays
//! locked in the child forever, and the child's first gilfree call would hang on it. So the
//! engine registers `pthread_atfork` handlers (once, on first use of the pool) that:
//!
//! * before the fork, take the engine's locks, in a fixed order (the pool's state, the queue of
//!   `gilfree.Executor` tasks, then whatever [`on_fork`] hooks took: every live `Accumulator`), so
//!   no other thread is inside any of them at the fork and the child inherits them consistent —
//!   as glibc does with `malloc`'s arenas;
//! * after it, release them in the parent; in the child, release them too and forget the
//!   parent's queued tasks (their executors' threads do not exist there). The pool itself is
//!   rebuilt on the child's first call (it is tagged with the process id that built it).
//!
//! One more lock cannot be taken by us: the Rust standard library's own, which a thread holds
//! while it starts and while it exits (it registers and unregisters its stack guard for the
//! stack-overflow handler). A fork at that instant leaves it locked in the child, and the child's
//! first new thread — its rebuilt pool's — hangs. So pool threads are spawned by
//! `spawn_pool_thread`, which counts threads that are starting or exiting, and passes a gate
//! at both ends; `prepare` closes the gate and waits until none is (at most `SETTLE_WAIT`).
//!
//! The critical sections behind all these locks are a few instructions long and never wait for
//! anything (not the GIL, not another lock), so the handlers never wait long, and cannot
//! deadlock. The engine's other lazily built state is built without a lock (`race::OnceBox`),
//! so no thread can be caught half-way through initialising it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::{pool, tasks};

type Held = (
    RwLockWriteGuard<'static, ()>,
    MutexGuard<'static, pool::State>,
    MutexGuard<'static, VecDeque<tasks::Queued>>,
);

/// Pool threads that are starting or exiting (inside the standard library's thread bookkeeping).
static IN_TRANSIT: AtomicUsize = AtomicUsize::new(0);
/// Passed (read) by pool threads as they start and as they exit; closed (write) by `prepare`.
static GATE: RwLock<()> = RwLock::new(());
/// How long `prepare` waits for pool threads to finish starting or exiting.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

fn gate() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements [`IN_TRANSIT`] when an exiting pool thread's thread-local destructors run: after
/// the standard library has unregistered the thread (`thread_start` returned).
struct Exited;

impl Drop for Exited {
    fn drop(&mut self) {
        IN_TRANSIT.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    static EXITED: std::cell::Cell<Option<Exited>> = const { std::cell::Cell::new(None) };
}

/// rayon's spawn handler for gilfree's pool threads: a plain `std::thread`, counted in
/// [`IN_TRANSIT`] from before it is created until it runs rayon's loop, and again from the end of
/// that loop until its thread-local destructors ran.
pub(super) fn spawn_pool_thread(thread: rayon::ThreadBuilder) -> std::io::Result<()> {
    let mut builder = std::thread::Builder::new();
    if let Some(name) = thread.name() {
        builder = builder.name(name.to_owned());
    }
    if let Some(size) = thread.stack_size() {
        builder = builder.stack_size(size);
    }
    let spawned = {
        let _gate = gate();
        IN_TRANSIT.fetch_add(1, Ordering::SeqCst);
        builder.spawn(move || {
            IN_TRANSIT.fetch_sub(1, Ordering::SeqCst); // started
            thread.run();
            {
                let _gate = gate();
                IN_TRANSIT.fetch_add(1, Ordering::SeqCst); // exiting
            }
            let _ = EXITED.try_with(|e| e.set(Some(Exited)));
        })
    };
    match spawned {
        Ok(_detached) => Ok(()),
        Err(e) => {
            IN_TRANSIT.fetch_sub(1, Ordering::SeqCst);
            Err(e)
        }
    }
}

thread_local! {
    /// The locks taken by `prepare`, on the forking thread, until `parent` or `child` runs there.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Locks that live outside the engine (the kernels crate's accumulators): `prepare` runs before
/// the fork, after the engine's own locks are taken, and must take them all; `release` runs after
/// it, in the parent and in the child, before the engine's locks are released, and must release
/// them. Both run on the forking thread and must not panic or wait for anything but those locks.
#[derive(Debug)]
pub struct ForkHooks {
    /// Takes the locks.
    pub prepare: fn(),
    /// Releases them.
    pub release: fn(),
}

/// Registered hooks: a few slots filled without a lock (a fork can never catch one half-set).
static HOOKS: [AtomicPtr<ForkHooks>; 4] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 4];

/// Registers `hooks` with the fork handlers (once; registering the same hooks again does
/// nothing), and installs the handlers.
///
/// # Panics
///
/// If more than four different hooks are registered (a bug in gilfree, not a user error).
pub fn on_fork(hooks: &'static ForkHooks) {
    install();
    let ptr = std::ptr::from_ref(hooks).cast_mut();
    for slot in &HOOKS {
        match slot.compare_exchange(std::ptr::null_mut(), ptr, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return,
            Err(existing) if existing == ptr => return,
            Err(_) => {}
        }
    }
    panic!("gilfree-engine: more than {} sets of fork hooks", HOOKS.len());
}

/// The registered hooks, in registration order.
fn hooks() -> impl Iterator<Item = &'static ForkHooks> {
    HOOKS.iter().filter_map(|slot| {
        let ptr = slot.load(Ordering::SeqCst);
        // SAFETY: a non-null slot holds a pointer made from a `&'static ForkHooks` (`on_fork`),
        // valid for the life of the process and never written through.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    })
}

/// Registers the fork handlers, once per process (lock-free: a racing caller simply returns).
pub fn install() {
    if INSTALLED.load(Ordering::Relaxed) || INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    #[cfg(unix)]
    // SAFETY: the three handlers are `extern "C" fn()` with no arguments, valid for the life of
    // the process (they are plain functions of this library, which is never unloaded: Python
    // does not unload extension modules). None of them unwinds (see `guarded`).
    unsafe {
        libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
    }
}

/// Runs `f`, never letting a panic cross the `extern "C"` boundary (it would abort).
fn guarded(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

extern "C" fn prepare() {
    guarded(|| {
        let gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + SETTLE_WAIT;
        while IN_TRANSIT.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let held = (gate, pool::state(), tasks::queue());
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
        for hooks in hooks() {
            (hooks.prepare)();
        }
    });
}

extern "C" fn parent() {
    guarded(|| {
        for hooks in hooks() {
            (hooks.release)();
        }
        let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
    });
}

extern "C" fn child() {
    guarded(|| {
        for hooks in hooks() {
            (hooks.release)();
        }
        let _ = HELD.try_with(|h| {
            if let Some((gate, state, mut queue)) = h.borrow_mut().take() {
                tasks::forget_queued_after_fork(&mut queue);
                drop(queue);
                drop(state);
                drop(gate);
            }
            // The parent's pool threads do not exist here.
            IN_TRANSIT.store(0, Ordering::SeqCst);
        });
    });
}
