//! # gilfree-engine
//!
//! The engine of gilfree, in pure Rust (no pyo3): one shared pool, fixed chunking, per-call
//! cancellation and progress, independent tasks, and fork safety. The kernels
//! (`gilfree-kernels`) and every binding run on it.
//!
//! ```
//! use gilfree_engine::{Ctx, Threads};
//!
//! let ctx = Ctx::new(Threads::Pool, None);
//! let squares = ctx.map_tasks(8, |i| i * i).unwrap();
//! assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]); // in task order, whatever the threads
//! ```
//!
//! Every kernel runs inside a [`Ctx`] (one per call) and splits its work with
//! [`Ctx::map_tasks`] or [`Ctx::map_chunks`]. Those are the only places that touch the pool,
//! besides [`tasks::spawn`], which queues a whole call as one independent task (the executor).
//!
//! # Determinism
//!
//! Chunk boundaries depend on the input length only ([`chunk_count`]), never on the number of
//! threads, and [`Ctx::map_tasks`] returns the partial results *in task order*. A kernel that
//! combines its partials in that order therefore gives bit-identical output for `threads=1`, `2`,
//! `8` and any pool size. (rayon's own `reduce`/`sum` do not promise this: they combine in
//! whatever order work-stealing produced.)
//!
//! # Cancellation
//!
//! A call stops between tasks when its own cancel flag is set ([`Ctx::cancel`]) or when the
//! process-wide interrupt epoch moved after the call started ([`interrupt_all`], bumped by the
//! binding's SIGINT handler). Both are plain atomics read with `Relaxed` ordering between tasks:
//! a task is never interrupted in the middle, so the cost is one load per task.

#![deny(missing_docs)]

pub mod backend;
mod ctx;
mod error;
pub mod fork;
mod hot;
mod pool;
mod scratch;
pub mod tasks;

#[cfg(test)]
mod test;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};

pub use ctx::{wake_latency, Ctx, Poll, FAN_OUT_MIN, POLL_INTERVAL};
pub use error::{panic_message, try_vec, zeroed_vec, Error, Result, Zeroable};
pub use hot::LINGER;
pub use pool::{
    configured_threads, live_pool, read_environment, reset_num_threads, set_num_threads, ThreadsSource,
    MAX_THREADS, NUM_THREADS_ENV, OMP_NUM_THREADS_ENV,
};
pub use scratch::{with_scratch, KEEP_BYTES as SCRATCH_KEEP_BYTES};

/// How many workers one call may use: the Python `threads=` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// `threads=None`: every worker of the shared pool.
    Pool,
    /// `threads=1`: the calling thread only, no pool at all. This is how a user drives
    /// parallelism from their own `ThreadPoolExecutor` without oversubscribing the machine.
    Caller,
    /// `threads=k` (k >= 2): at most `k` workers of the shared pool (never more than it has).
    AtMost(NonZeroUsize),
}

impl Threads {
    /// The mapping from Python's `threads=` value: `None` is the pool, `Some(1)` the caller,
    /// `Some(k)` a cap, `Some(0)` an error.
    pub fn from_request(request: Option<u64>) -> Result<Self> {
        match request {
            None => Ok(Threads::Pool),
            Some(0) => Err(Error::InvalidArgument {
                arg: "threads",
                message: "must be None or an int >= 1, got 0".to_owned(),
            }),
            Some(1) => Ok(Threads::Caller),
            Some(k) => {
                let k = usize::try_from(k).unwrap_or(usize::MAX);
                Ok(NonZeroUsize::new(k).map_or(Threads::Caller, Threads::AtMost))
            }
        }
    }

    /// The most workers this setting allows, given a pool of `pool_size` threads.
    pub fn cap(self, pool_size: usize) -> usize {
        match self {
            Threads::Pool => pool_size,
            Threads::Caller => 1,
            Threads::AtMost(k) => k.get().min(pool_size),
        }
    }
}

/// The number of chunks of at most `chunk_len` elements that cover `len` elements.
///
/// Chunk `i` is `i * chunk_len .. min((i + 1) * chunk_len, len)`: it depends on `len` and the
/// kernel's fixed `chunk_len` only, which is what makes results independent of the thread count.
#[inline]
pub fn chunk_count(len: usize, chunk_len: usize) -> usize {
    debug_assert!(chunk_len > 0);
    len.div_ceil(chunk_len)
}

/// The process-wide interrupt epoch. Each [`Ctx`] remembers its value at creation; a call whose
/// epoch is stale is cancelled.
static INTERRUPT_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Cancels every call that is running now (calls started later are unaffected).
///
/// Async-signal-safe (one atomic add), so it may be called from a signal handler. The binding
/// calls it from the SIGINT handler it chains in front of Python's default one, which is how a
/// call made from a non-main Python thread learns of Ctrl-C.
pub fn interrupt_all() {
    // SeqCst: whatever the interrupting thread did before (a signal handler flagging the signal
    // for Python) is visible to a thread that sees the new epoch. Rare, so the cost is nothing.
    backend::epoch().fetch_add(1, Ordering::SeqCst);
}

/// The current interrupt epoch (for diagnostics and tests).
pub fn interrupt_epoch() -> u64 {
    backend::epoch().load(Ordering::Relaxed)
}

/// The thread budget of the backend in use: the number of workers a call with `threads=None`
/// gets (gilfree's `get_num_threads()`, also from another extension linked to the runtime).
pub fn num_threads() -> usize {
    // SAFETY: a backend entry (valid for the process, never unwinds).
    unsafe { (backend::current().num_threads)() }
}

/// Resizes the shared pool of the backend in use (see [`set_num_threads`] for this library's
/// own pool).
///
/// # Errors
///
/// [`Error::InvalidArgument`] unless `1 <= n <= MAX_THREADS`.
pub fn set_shared_num_threads(n: usize) -> Result<()> {
    // SAFETY: a backend entry (valid for the process, never unwinds).
    if unsafe { (backend::current().set_num_threads)(n) } == 0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            arg: "n",
            message: format!("must be between 1 and {MAX_THREADS}, got {n}"),
        })
    }
}
