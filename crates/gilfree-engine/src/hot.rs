//! The pool's own scheduling: resident workers that spin before they sleep (OpenMP's "hot team").
//!
//! rayon only hosts the threads. At build time every thread of a pool is given one job that
//! never returns until the pool is retired: [`resident`], gilfree's worker loop. Jobs (a
//! broadcast's bodies, `gilfree.Executor` tasks) are posted to the pool's [`Team`] mailbox, not to
//! rayon's queues. Why not rayon's own scheduling: a rayon worker with nothing to do spins for a
//! few rounds of `thread::yield_now()` and then sleeps on a futex. On a loaded core, a yield
//! hands the core to another process for a whole time slice (milliseconds), and a futex wake-up
//! of a halted virtual CPU costs tens of microseconds: either way a small call was over before
//! its worker started.
//!
//! A resident worker:
//!
//! 1. runs posted jobs as long as there are any;
//! 2. then *lingers* for [`LINGER`]: spins (no system call, no yield) watching the mailbox, so a
//!    job posted within that time starts in about a microsecond — programs call kernels in loops;
//! 3. then sleeps on the team's condition variable until a job is posted or the pool retires.
//!
//! [`Team::post`] wakes a sleeping worker only when more jobs wait than workers spin. A worker
//! re-checks the mailbox under the sleep lock before it sleeps, so no job is ever left behind.
//!
//! Each pool has its own team (a resized pool's jobs never run on the new pool's threads, and
//! the reverse), so a forked child, which builds a fresh pool, needs no reset: the parent's team
//! is leaked with the parent's pool.
//!
//! The cost: up to [`LINGER`] of one core's time after a worker's last job (the OS scheduler
//! preempts the spinning worker as it would any other thread when another one's turn comes).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::tasks;

/// How long a worker spins after its last job before it sleeps.
pub const LINGER: Duration = Duration::from_micros(250);

/// Workers of every pool of this process spinning in their linger phase right now: a call that
/// finds one wakes workers for a few microseconds of work (`Ctx`'s fan-out rule).
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// The number of pool workers spinning, ready to take a job within about a microsecond.
pub(crate) fn spinning() -> usize {
    SPINNING.load(Ordering::Relaxed)
}

/// A job for a pool worker (a broadcast body with its bookkeeping, or "run a queued task").
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// One pool's scheduling state.
pub(crate) struct Team {
    mail: Mutex<VecDeque<Job>>,
    /// `mail.len()`, read without the lock by spinning workers.
    mailed: AtomicUsize,
    /// Workers spinning in their linger phase.
    lingering: AtomicUsize,
    /// Workers asleep (guarded, so that no wake-up is lost).
    sleepers: Mutex<usize>,
    wake: Condvar,
    retired: AtomicBool,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("mailed", &self.mailed.load(Ordering::Relaxed))
            .field("lingering", &self.lingering.load(Ordering::Relaxed))
            .field("retired", &self.retired.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Team {
    pub(crate) fn new() -> Self {
        Team {
            mail: Mutex::new(VecDeque::new()),
            mailed: AtomicUsize::new(0),
            lingering: AtomicUsize::new(0),
            sleepers: Mutex::new(0),
            wake: Condvar::new(),
            retired: AtomicBool::new(false),
        }
    }

    fn sleepers(&self) -> MutexGuard<'_, usize> {
        // Nothing panics while holding it.
        self.sleepers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `job` on one of this team's workers: a spinning one picks it up within about a
    /// microsecond; otherwise a sleeping one is woken; if all are busy, the first to finish
    /// takes it.
    pub(crate) fn post(&self, job: Job) {
        let waiting = {
            let mut mail = self.mail.lock().unwrap_or_else(PoisonError::into_inner);
            mail.push_back(job);
            self.mailed.fetch_add(1, Ordering::AcqRel) + 1
        };
        if waiting > self.lingering.load(Ordering::Acquire) {
            let sleepers = self.sleepers();
            if *sleepers > 0 {
                self.wake.notify_one();
            }
        }
    }

    fn take(&self) -> Option<Job> {
        if self.mailed.load(Ordering::Acquire) == 0 {
            return None;
        }
        let job = self
            .mail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        if job.is_some() {
            self.mailed.fetch_sub(1, Ordering::AcqRel);
        }
        job
    }

    /// The pool is going away: every worker returns once it finished its job; jobs still posted
    /// are dropped.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        {
            let _sleepers = self.sleepers();
            self.wake.notify_all();
        }
        // Jobs nobody took: dropped (outside the lock) rather than run, each telling its
        // broadcast not to wait for it.
        let left = std::mem::take(&mut *self.mail.lock().unwrap_or_else(PoisonError::into_inner));
        self.mailed.store(0, Ordering::Release);
        drop(left);
    }

    fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }
}

/// The loop every thread of a pool runs from the pool's build until it retires.
pub(crate) fn resident(team: &Team) {
    loop {
        // 1. Work.
        while let Some(job) = team.take() {
            job();
        }
        if team.is_retired() {
            return;
        }
        // 2. Linger: spin for LINGER. Never `yield_now` here: with other runnable threads on the
        //    core, Linux hands them a whole time slice, and a job posted meanwhile would wait.
        team.lingering.fetch_add(1, Ordering::AcqRel);
        SPINNING.fetch_add(1, Ordering::Relaxed);
        let since = Instant::now();
        let mut round = 0u32;
        let found = loop {
            if team.mailed.load(Ordering::Acquire) > 0 || team.is_retired() {
                break true;
            }
            round = round.wrapping_add(1);
            if round.is_multiple_of(64) && since.elapsed() >= LINGER {
                break false;
            }
            std::hint::spin_loop();
        };
        SPINNING.fetch_sub(1, Ordering::Relaxed);
        team.lingering.fetch_sub(1, Ordering::AcqRel);
        if found {
            continue;
        }
        // 3. Sleep until a job is posted or the pool retires (re-checked under the lock: `post`
        //    pushes before it takes the lock to wake, so no job is missed).
        let mut sleepers = team.sleepers();
        while team.mailed.load(Ordering::Acquire) == 0 && !team.is_retired() {
            *sleepers += 1;
            sleepers = team.wake.wait(sleepers).unwrap_or_else(PoisonError::into_inner);
            *sleepers -= 1;
        }
    }
}

/// The job that runs one queued `gilfree.Executor` task (the oldest: perhaps not the one whose
/// submission posted it, if a direct call's worker ran that one between two chunks).
pub(crate) fn queued_task_job() -> Job {
    Box::new(|| {
        tasks::run_one_local();
    })
}
