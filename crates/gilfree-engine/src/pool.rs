//! The shared pool: gilfree's own rayon `ThreadPool`, never rayon's global one.
//!
//! * Created lazily, on the first call that has work for more than one thread.
//! * Sized by [`set_num_threads`], else `GILFREE_NUM_THREADS`, else the number of cores
//!   (`std::thread::available_parallelism`, which honours CPU affinity and cgroup quotas).
//! * Resized by swapping in a new pool: calls hold an `Arc` to the pool they started on, so
//!   in-flight calls finish on the old one, whose threads exit when the last such call returns.
//! * Rebuilt in a forked child: rayon's threads do not survive `fork`, so a pool created by another
//!   process id is leaked (never dropped: its threads do not exist here) and replaced. The state's
//!   lock is never held across a fork (`engine::fork`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::{Error, Result};

/// The environment variable that sizes the pool when [`set_num_threads`] was not called.
///
/// A positive integer; anything else is ignored (and reported by [`configured_threads`]), as
/// rayon does with `RAYON_NUM_THREADS`.
pub const NUM_THREADS_ENV: &str = "GILFREE_NUM_THREADS";

/// The largest pool [`set_num_threads`] accepts. Far above any useful size; it exists so that a
/// typo (`set_num_threads(10**6)`) is a `ValueError`, not a million threads.
pub const MAX_THREADS: usize = 1024;

/// Where the pool size came from, for `gilfree info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadsSource {
    /// `gilfree.set_num_threads(n)`.
    SetNumThreads,
    /// The `GILFREE_NUM_THREADS` environment variable.
    Env,
    /// The number of cores; `ignored_env` holds an invalid `GILFREE_NUM_THREADS` value, if any.
    Cores {
        /// The rejected value of `GILFREE_NUM_THREADS`.
        ignored_env: Option<String>,
    },
}

pub(super) struct State {
    /// The size chosen by `set_num_threads`, if it was called.
    explicit: Option<usize>,
    /// The live pool and the process id that built it.
    pool: Option<(Arc<ThreadPool>, u32)>,
    /// The process id of a thread building a pool right now: other threads of that process wait
    /// for it ([`BUILT`]) instead of building pools of their own. A forked child sees another
    /// pid here and ignores it (the builder does not exist in the child).
    building: Option<u32>,
}

static STATE: Mutex<State> = Mutex::new(State {
    explicit: None,
    pool: None,
    building: None,
});

/// Signalled when a build finishes (successfully or not).
static BUILT: Condvar = Condvar::new();

pub(super) fn state() -> MutexGuard<'static, State> {
    // Before the first lock: from then on, no fork() can happen while another thread holds it.
    super::fork::install();
    // Nothing panics while holding the lock, but a poisoned lock must not take the pool down.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn from_env() -> std::result::Result<Option<usize>, String> {
    match std::env::var(NUM_THREADS_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => Err(raw.to_string_lossy().into_owned()),
        Ok(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(Some(n)),
            _ => Err(raw),
        },
    }
}

fn resolve(explicit: Option<usize>) -> (usize, ThreadsSource) {
    if let Some(n) = explicit {
        return (n, ThreadsSource::SetNumThreads);
    }
    match from_env() {
        Ok(Some(n)) => (n, ThreadsSource::Env),
        Ok(None) => (cores(), ThreadsSource::Cores { ignored_env: None }),
        Err(raw) => (
            cores(),
            ThreadsSource::Cores {
                ignored_env: Some(raw),
            },
        ),
    }
}

/// The pool size calls will use, and where it came from. Does not build the pool.
pub fn configured_threads() -> (usize, ThreadsSource) {
    resolve(state().explicit)
}

/// Sets the size of the shared pool, from any thread, at any time.
///
/// Calls already running finish on the pool they started on; later calls use a new pool of `n`
/// threads (built on first use).
///
/// # Errors
///
/// [`Error::InvalidArgument`] unless `1 <= n <= MAX_THREADS`.
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(Error::InvalidArgument {
            arg: "n",
            message: format!("must be between 1 and {MAX_THREADS}, got {n}"),
        });
    }
    let mut st = state();
    st.explicit = Some(n);
    if let Some((old, pid)) = st.pool.take() {
        if old.current_num_threads() == n && pid == std::process::id() {
            st.pool = Some((old, pid));
        } else {
            release(old, pid);
        }
    }
    Ok(())
}

/// Drops our reference to a pool, unless it belongs to the parent of a fork: its threads do not
/// exist in this process, so it is leaked rather than torn down.
fn release(pool: Arc<ThreadPool>, pid: u32) {
    if pid == std::process::id() {
        drop(pool);
    } else {
        std::mem::forget(pool);
    }
}

/// The shared pool, built (or rebuilt after `fork` or a resize) on demand.
///
/// # Errors
///
/// [`Error::Pool`] when the OS refuses to start the threads.
pub(crate) fn shared() -> Result<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut st = state();
    loop {
        match st.pool.take() {
            Some((pool, owner)) if owner == pid => {
                st.pool = Some((Arc::clone(&pool), owner));
                return Ok(pool);
            }
            Some((stale, owner)) => release(stale, owner),
            None => {}
        }
        if st.building == Some(pid) {
            // Another thread of this process is building the pool: wait for it, don't build one
            // more (a burst of first calls would otherwise start a pool each).
            st = BUILT.wait(st).unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        st.building = Some(pid);
        let n = resolve(st.explicit).0;
        drop(st);
        // Build outside the lock: starting threads takes a while, and a `fork()` from another
        // thread while the lock is held would leave the child's copy locked forever.
        let built = ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("gilfree-{i}"))
            // Our own spawner, so that the fork handlers know when a pool thread is starting or
            // exiting (`engine::fork`).
            .spawn_handler(super::fork::spawn_pool_thread)
            .build()
            .map_err(|e| Error::Pool(e.to_string()));
        st = state();
        st.building = None;
        BUILT.notify_all();
        let built = Arc::new(built?);
        // The size changed while we built (set_num_threads): go round and build again.
        if resolve(st.explicit).0 == n {
            st.pool = Some((Arc::clone(&built), pid));
            return Ok(built);
        }
    }
}

/// The size of the pool that exists in this process right now, if any (for `gilfree info` and
/// tests; never builds one).
pub fn live_pool() -> Option<usize> {
    let st = state();
    st.pool
        .as_ref()
        .filter(|(_, pid)| *pid == std::process::id())
        .map(|(p, _)| p.current_num_threads())
}
