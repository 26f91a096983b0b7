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

/// Threads of gilfree on a core right now: pool workers awake (running a job or lingering, in
/// every pool of this process) and calling threads between the start and the end of a
/// broadcast (running their share of the tasks, or waiting for the workers). A lingering worker
/// that finds more of them than the process has cores goes to sleep at once: on 2 cores, a call
/// runs on the calling thread and one worker, and the pool's other worker, spinning, would take
/// half a core from them for nothing (the OS shares 2 cores among 3 running threads).
static ON_CORE: AtomicUsize = AtomicUsize::new(0);

/// A calling thread starts a broadcast (it runs tasks, then waits for the workers).
pub(crate) fn caller_enters() {
    ON_CORE.fetch_add(1, Ordering::AcqRel);
}

/// A calling thread's broadcast is over.
pub(crate) fn caller_leaves() {
    ON_CORE.fetch_sub(1, Ordering::AcqRel);
}

/// Takes one lingering worker off the count of [`ON_CORE`] if there are more threads than
/// `cores`: true if this worker should sleep now (at most the surplus leave, whatever the race).
fn surplus_leaves(cores: usize) -> bool {
    leave_if_above(&ON_CORE, cores)
}

/// Decrements `count` if it is above `cores`, atomically: true if it did.
fn leave_if_above(count: &AtomicUsize, cores: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n > cores).then(|| n - 1)
        })
        .is_ok()
}

/// In a forked child: none of the parent's pool threads exist, and the forking thread is not in
/// a broadcast (it is in `fork`).
pub(crate) fn forget_threads_after_fork() {
    ON_CORE.store(0, Ordering::SeqCst);
    SPINNING.store(0, Ordering::SeqCst);
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
    let cores = crate::pool::cores();
    ON_CORE.fetch_add(1, Ordering::AcqRel);
    loop {
        // 1. Work.
        while let Some(job) = team.take() {
            job();
        }
        if team.is_retired() {
            ON_CORE.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        // 2. Linger: spin for LINGER. Never `yield_now` here: with other runnable threads on the
        //    core, Linux hands them a whole time slice, and a job posted meanwhile would wait.
        team.lingering.fetch_add(1, Ordering::AcqRel);
        SPINNING.fetch_add(1, Ordering::Relaxed);
        let since = Instant::now();
        let mut round = 0u32;
        //    A worker in surplus (more gilfree threads on core than cores) sleeps at once; it
        //    has already left the count of `ON_CORE` then.
        let found = loop {
            if team.mailed.load(Ordering::Acquire) > 0 || team.is_retired() {
                break Some(true);
            }
            round = round.wrapping_add(1);
            if round.is_multiple_of(64) {
                if surplus_leaves(cores) {
                    break None;
                }
                if since.elapsed() >= LINGER {
                    break Some(false);
                }
            }
            std::hint::spin_loop();
        };
        SPINNING.fetch_sub(1, Ordering::Relaxed);
        team.lingering.fetch_sub(1, Ordering::AcqRel);
        match found {
            Some(true) => continue,
            Some(false) => {
                ON_CORE.fetch_sub(1, Ordering::AcqRel);
            }
            None => {}
        }
        // 3. Sleep until a job is posted or the pool retires (re-checked under the lock: `post`
        //    pushes before it takes the lock to wake, so no job is missed).
        {
            let mut sleepers = team.sleepers();
            while team.mailed.load(Ordering::Acquire) == 0 && !team.is_retired() {
                *sleepers += 1;
                sleepers = team.wake.wait(sleepers).unwrap_or_else(PoisonError::into_inner);
                *sleepers -= 1;
            }
        }
        ON_CORE.fetch_add(1, Ordering::AcqRel);
    }
}

/// The job that runs one queued `gilfree.Executor` task (the oldest: perhaps not the one whose
/// submission posted it, if a direct call's worker ran that one between two chunks).
pub(crate) fn queued_task_job() -> Job {
    Box::new(|| {
        tasks::run_one_local();
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn only_the_surplus_leaves_whatever_the_race() {
        let count = AtomicUsize::new(3);
        assert!(leave_if_above(&count, 2));
        assert!(!leave_if_above(&count, 2));
        assert_eq!(count.load(Ordering::Relaxed), 2);
        // 10 threads on core, 4 cores: of 8 lingering workers checking at once, exactly 6 leave.
        let count = AtomicUsize::new(10);
        let left = AtomicUsize::new(0);
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    start.wait();
                    if leave_if_above(&count, 4) {
                        left.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(left.load(Ordering::Relaxed), 6);
        assert_eq!(count.load(Ordering::Relaxed), 4);
    }
}
