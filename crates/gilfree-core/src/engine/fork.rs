//! Fork safety: no lock of the engine is held across `fork()`.
//!
//! `fork()` copies only the calling thread. A lock that another thread held at that instant stays
//! locked in the child forever, and the child's first gilfree call would hang on it. So the
//! engine registers `pthread_atfork` handlers (once, on first use of the pool) that:
//!
//! * before the fork, take the engine's locks, in a fixed order (the pool's state, then the
//!   queue of `gilfree.Executor` tasks), so no other thread is inside either at the fork and
//!   the child inherits them consistent — as glibc does with `malloc`'s arenas;
//! * after it, release them in the parent; in the child, release them too and forget the
//!   parent's queued tasks (their executors' threads do not exist there). The pool itself is
//!   rebuilt on the child's first call (it is tagged with the process id that built it).
//!
//! The critical sections behind both locks are a few instructions long and never wait for
//! anything (not the GIL, not another lock), so the handlers never wait long, and cannot
//! deadlock. The engine's other lazily built state is built without a lock (`race::OnceBox`),
//! so no thread can be caught half-way through initialising it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::MutexGuard;

use super::{pool, tasks};

type Held = (MutexGuard<'static, pool::State>, MutexGuard<'static, VecDeque<tasks::Queued>>);

thread_local! {
    /// The locks taken by `prepare`, on the forking thread, until `parent` or `child` runs there.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Registers the fork handlers, once per process (lock-free: a racing caller simply returns).
pub(super) fn install() {
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
        let held = (pool::state(), tasks::queue());
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
    });
}

extern "C" fn parent() {
    guarded(|| {
        let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
    });
}

extern "C" fn child() {
    guarded(|| {
        let _ = HELD.try_with(|h| {
            if let Some((state, mut queue)) = h.borrow_mut().take() {
                tasks::forget_queued_after_fork(&mut queue);
                drop(queue);
                drop(state);
            }
        });
    });
}
