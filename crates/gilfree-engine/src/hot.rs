//! Hot workers: a pool worker that finished its share of a call stays awake for a moment,
//! spinning, and takes the next call's work directly — OpenMP's "hot team".
//!
//! A worker asleep in rayon's pool is woken through the kernel (a futex), which on a virtual
//! machine whose idle vCPU halted costs tens of microseconds before the worker runs: as much as
//! a whole small call. Programs call kernels in loops, so the next call usually comes soon. A
//! worker that ran a broadcast body therefore *lingers* for [`LINGER`] afterwards: it spins on
//! a counter, ready to run a job handed to it without any system call (about a microsecond from
//! hand-out to start), and it runs `gilfree.Executor` tasks that arrive meanwhile. After
//! [`LINGER`] with nothing to do it goes back to rayon, which puts it to sleep.
//!
//! The hand-off: [`LINGERING`] counts the lingering workers nobody claimed yet. A broadcast
//! claims one (decrements the counter with a compare-and-swap) and posts its job in [`MAIL`]; a
//! lingering worker leaves only by decrementing the counter itself, so each claim is matched by
//! one worker still there to take the job. With no lingering worker, the job goes to rayon's
//! queue as before. In a forked child, both are reset (`engine::fork`): the parent's workers do
//! not exist there.
//!
//! The cost: up to [`LINGER`] of one core's time after each call that used the pool — spent
//! only while no other thread wants that core, as the OS scheduler still preempts the spinning
//! worker (it yields every few microseconds).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rayon::ThreadPool;

use crate::tasks;

/// How long a worker stays awake after its last job.
pub const LINGER: Duration = Duration::from_micros(250);

/// A job for a pool worker (a broadcast body, with its bookkeeping).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Lingering workers not claimed by a broadcast yet.
static LINGERING: AtomicUsize = AtomicUsize::new(0);
/// Jobs handed to claimed lingering workers.
static MAIL: Mutex<VecDeque<Job>> = Mutex::new(VecDeque::new());
/// `MAIL.len()`, read without the lock by the spinning workers.
static MAILED: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn mail() -> MutexGuard<'static, VecDeque<Job>> {
    // Nothing panics while holding it; a poisoned lock must not lose jobs.
    MAIL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// In a forked child (with [`MAIL`]'s lock held since the fork): the parent's lingering workers
/// do not exist here, and the jobs posted for them belong to calls of threads that do not exist
/// either. They are forgotten (not dropped: nothing of the parent's runs in the child).
pub(crate) fn forget_after_fork(mail: &mut VecDeque<Job>) {
    std::mem::forget(std::mem::take(mail));
    MAILED.store(0, Ordering::SeqCst);
    LINGERING.store(0, Ordering::SeqCst);
}

/// Claims one lingering worker, if there is one.
fn claim(counter: &AtomicUsize) -> bool {
    let mut n = counter.load(Ordering::Acquire);
    while n > 0 {
        match counter.compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(now) => n = now,
        }
    }
    false
}

/// Runs `job` on a worker of `pool`: a lingering one if there is one (it starts within a
/// microsecond or so), else through rayon's queue, after which the worker lingers.
pub(crate) fn hand_out(pool: &ThreadPool, job: Job) {
    if claim(&LINGERING) {
        mail().push_back(job);
        MAILED.fetch_add(1, Ordering::Release);
        return;
    }
    pool.spawn(move || {
        job();
        linger();
    });
}

/// Takes a posted job, if any.
fn take_mail() -> Option<Job> {
    if MAILED.load(Ordering::Acquire) == 0 {
        return None;
    }
    let job = mail().pop_front();
    if job.is_some() {
        MAILED.fetch_sub(1, Ordering::AcqRel);
    }
    job
}

/// A pool worker stays awake for [`LINGER`], running the jobs handed to it and the
/// `gilfree.Executor` tasks that arrive meanwhile; then it returns (to rayon's sleep).
fn linger() {
    LINGERING.fetch_add(1, Ordering::AcqRel);
    let mut since = Instant::now();
    let mut round = 0u32;
    loop {
        if let Some(job) = take_mail() {
            // This worker's claim was consumed (by the broadcast that posted the job).
            job();
            LINGERING.fetch_add(1, Ordering::AcqRel);
            since = Instant::now();
            continue;
        }
        if tasks::queued() > 0 && claim(&LINGERING) {
            // An Executor task: this worker stops lingering while it runs it (it cannot take a
            // posted job meanwhile, so it must not be counted as available).
            tasks::run_one_local();
            LINGERING.fetch_add(1, Ordering::AcqRel);
            since = Instant::now();
            continue;
        }
        round = round.wrapping_add(1);
        if round.is_multiple_of(64) {
            if since.elapsed() >= LINGER && claim(&LINGERING) {
                // Unclaimed: nobody is posting a job for this worker. (If every lingering
                // worker is claimed, a job is on its way: wait for it.)
                return;
            }
            // Let the OS run something else on this core if it wants to.
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}
