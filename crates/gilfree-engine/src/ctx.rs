//! One call's context: its thread setting, cancel flag, progress counter and the hook the
//! calling thread runs while it waits.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::{backend, chunk_count, tasks, Threads};
use crate::error::panic_message;
use crate::{try_vec, Error, Result};

/// How often the calling thread runs its [`Poll`] hook while a call is in progress, whether it
/// waits for the pool or computes itself (`threads=1`). 20 ms keeps Ctrl-C well inside the
/// 0.5 s promise, and costs the binding at most 50 brief GIL acquisitions a second.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What the calling thread runs every [`POLL_INTERVAL`], given the call's progress (tasks done,
/// tasks announced: [`Ctx::progress`]): return `true` to cancel the call.
///
/// The binding's hook re-attaches to Python for a moment to run `check_signals()` (so Ctrl-C on
/// the main thread raises `KeyboardInterrupt` promptly). It runs on the calling thread only,
/// never on a pool worker: workers never wait for the GIL.
pub type Poll<'a> = &'a (dyn Fn((u64, u64)) -> bool + Sync);

/// The context of one kernel call. Created by the binding, handed to the core kernel.
pub struct Ctx<'a> {
    threads: Threads,
    cancelled: AtomicBool,
    epoch: u64,
    /// The interrupt epoch of the backend the call started on.
    epoch_source: &'static AtomicU64,
    done: AtomicU64,
    total: AtomicU64,
    poll: Option<Poll<'a>>,
    /// Cancel flags owned by someone else (a task and its group, see [`Ctx::for_task`]).
    external: Option<[&'a AtomicBool; 2]>,
    /// The thread that created the context (the calling thread): the only one that may run
    /// `poll` ([`Ctx::checkpoint`]).
    caller: ThreadId,
    /// When the context was created, and when `poll` last ran (nanoseconds after `start`).
    start: Instant,
    last_poll: AtomicU64,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("threads", &self.threads)
            .field("cancelled", &self.is_cancelled())
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    /// A context for one call. `poll` runs on the calling thread every [`POLL_INTERVAL`].
    pub fn new(threads: Threads, poll: Option<Poll<'a>>) -> Self {
        Ctx {
            threads,
            cancelled: AtomicBool::new(false),
            epoch: backend::epoch().load(Ordering::Relaxed),
            epoch_source: backend::epoch(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            poll,
            external: None,
            caller: std::thread::current().id(),
            start: Instant::now(),
            last_poll: AtomicU64::new(0),
        }
    }

    /// The context of one independent task ([`tasks::spawn`](super::tasks::spawn)): it runs on the
    /// thread that calls the kernel ([`Threads::Caller`], no poll hook: a task never waits for the
    /// pool it runs on), counts as interrupted if the interrupt epoch moved after `epoch` (taken
    /// when the task was *submitted*, so a task still queued at Ctrl-C is cancelled too), and is
    /// cancelled when either external flag is set (the task's own, and its group's).
    pub fn for_task(epoch: u64, task: &'a AtomicBool, group: &'a AtomicBool) -> Self {
        Ctx {
            threads: Threads::Caller,
            cancelled: AtomicBool::new(false),
            epoch,
            epoch_source: backend::epoch(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            poll: None,
            external: Some([task, group]),
            caller: std::thread::current().id(),
            start: Instant::now(),
            last_poll: AtomicU64::new(0),
        }
    }

    /// For a task's context ([`Ctx::for_task`]): the interrupt epoch it started from and its two
    /// external cancel flags (the task's own, its group's), so that a task run by another
    /// shared object through the runtime's C ABI can watch the very same flags.
    pub fn task_flags(&self) -> Option<(u64, &'a AtomicBool, &'a AtomicBool)> {
        self.external.map(|[task, group]| (self.epoch, task, group))
    }

    /// The call's thread setting.
    pub fn threads(&self) -> Threads {
        self.threads
    }

    /// The most threads (the calling one included) that a call with this context can run its
    /// tasks on: its thread setting capped by the pool's size, 1 for [`Threads::Caller`]. A
    /// kernel may use it to cut its work so that every thread gets an even share (the results
    /// must not depend on it: they must be the same for every thread setting).
    pub fn team_size(&self) -> usize {
        match self.threads {
            Threads::Caller => 1,
            t => {
                let backend = backend::current();
                // SAFETY: a backend entry, valid for the process, never unwinding.
                t.cap(unsafe { (backend.num_threads)() }).max(1)
            }
        }
    }

    /// Asks the call to stop at its next task boundary.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// True once [`cancel`](Self::cancel) was called, the interrupt epoch moved, or (for a task)
    /// an external flag was set.
    #[inline(always)]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
            || self.epoch_source.load(Ordering::Relaxed) != self.epoch
            || self
                .external
                .is_some_and(|[task, group]| task.load(Ordering::Relaxed) || group.load(Ordering::Relaxed))
    }

    /// `Err(Cancelled)` if the call should stop. Cheap: two relaxed loads. Usable from any thread.
    #[inline(always)]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// [`check`](Self::check), and on the calling thread also the poll hook when it is due (every
    /// [`POLL_INTERVAL`]). Long phases a kernel runs on the calling thread outside
    /// `map_tasks` (gathering a strided input, walking a long list) call this every few
    /// thousand elements, so that Ctrl-C on the main thread is noticed there too: the SIGINT
    /// handler is Python code, and it runs only when the calling thread polls.
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] if the call should stop.
    pub fn checkpoint(&self) -> Result<()> {
        if self.poll.is_some() && std::thread::current().id() == self.caller {
            let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let interval = u64::try_from(POLL_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
            if now.saturating_sub(self.last_poll.load(Ordering::Relaxed)) >= interval {
                self.last_poll.store(now, Ordering::Relaxed);
                self.poll_now();
            }
        }
        self.check()
    }

    /// Tasks finished and tasks announced so far, over all `map_*` calls of this call.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// Runs the hook and cancels the call if it asks to.
    fn poll_now(&self) {
        if let Some(poll) = self.poll {
            if poll(self.progress()) {
                self.cancel();
            }
        }
    }

    /// The number of threads (the calling one included) a call with `tasks` tasks may use, if
    /// each must have at least `grain` of them: 1 means the calling thread alone.
    fn workers_for(&self, tasks: usize, grain: usize) -> usize {
        match self.threads {
            Threads::Caller => 1,
            t => t.cap(usize::MAX).min(tasks / grain.max(1)).max(1),
        }
    }

    /// Runs `f(0) .. f(tasks - 1)` and returns the results **in task order**.
    ///
    /// The calling thread takes part: it runs tasks itself, from the same counter as the pool's
    /// workers, and asks for workers only once the work left is worth waking them
    /// ([`map_tasks_grained`](Self::map_tasks_grained) says when). Tasks are handed out
    /// dynamically (an atomic counter), so uneven tasks balance across threads, but the output
    /// order is fixed, which is what makes reductions deterministic. The calling thread runs the
    /// poll hook every [`POLL_INTERVAL`] between its tasks and while it waits for the last
    /// workers.
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] if the call was cancelled before all tasks ran; [`Error::Panic`] if a
    /// task panicked (the panic is caught on the thread where it happened, the remaining tasks
    /// are cancelled, and the pool keeps working); [`Error::Pool`] if the pool could not be built.
    pub fn map_tasks<R, F>(&self, tasks: usize, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(usize) -> R + Sync,
    {
        self.map_tasks_grained(tasks, 1, f)
    }

    /// [`map_tasks`](Self::map_tasks), on no more threads than give each one at least `grain`
    /// tasks (`usize::MAX`: the calling thread alone). The results do not depend on `grain`, nor
    /// on the number of threads.
    ///
    /// # When workers are woken
    ///
    /// With 4 tasks or more, the calling thread asks for workers before its first task. With 2 or
    /// 3, it starts alone and times its first task: it estimates the work left (that time, times
    /// the tasks not yet claimed) and asks for workers if that is at least [`FAN_OUT_MIN`]. A worker that is spinning (it
    /// finished a job less than [`LINGER`](crate::LINGER) ago) starts within about a
    /// microsecond; a sleeping one is woken, which costs the calling thread one wake-up call.
    /// If the caller runs out of tasks before a worker started, it closes the broadcast: a late
    /// worker finds nothing to do, and the call does not wait for it. So asking costs little
    /// even when the answer comes too late, and the next call finds the worker hot.
    pub fn map_tasks_grained<R, F>(&self, tasks: usize, grain: usize, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(usize) -> R + Sync,
    {
        self.map_tasks_when(tasks, grain, tasks >= EARLY_MIN_TASKS, f)
    }

    /// [`map_tasks`](Self::map_tasks) for tasks the caller knows to be long (each well above
    /// [`FAN_OUT_MIN`], say 100 µs or more): the calling thread asks for workers before its first
    /// task whatever their number. `map_tasks` starts a call of 2 or 3 tasks alone and times the
    /// first, so 2 tasks of a millisecond each would run one after the other (the caller claims
    /// the second before a worker woken after the first can start).
    pub fn map_long_tasks<R, F>(&self, tasks: usize, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(usize) -> R + Sync,
    {
        self.map_tasks_when(tasks, 1, true, f)
    }

    /// Runs steps that must follow one another, with one fan-out for all of them: phase `p` is
    /// `phases[p]` tasks, task `t` of it is `f(p, t)`, and no task of phase `p` starts before
    /// every task of the phases before it has returned (what they wrote is then visible to it).
    /// Returns the results phase by phase, each phase in task order.
    ///
    /// For iterations of short parallel steps (a matrix-vector product of a few microseconds,
    /// 40 times): one call of [`map_tasks`](Self::map_tasks) per step pays its hand-out every
    /// time, where here the threads stay in the call and a phase boundary costs one atomic
    /// counter read until it moves (a thread that claims a task of the next phase spins, then
    /// yields, until the phase before is done). Tasks are claimed in order, so the earliest
    /// unfinished task always has a thread running it: a phase never waits for a thread that
    /// does not come. Keep the total number of tasks moderate (their results are kept).
    ///
    /// # Errors
    ///
    /// As [`map_tasks`](Self::map_tasks); a thread waiting at a phase boundary stops when the
    /// call is cancelled (by Ctrl-C, or by a panic in another task).
    pub fn map_phases<R, F>(&self, phases: &[usize], f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(usize, usize) -> R + Sync,
    {
        // The first task of every phase, counted over the whole call, and the total.
        let mut starts: Vec<usize> = try_vec(phases.len() + 1, "the call's phase table")?;
        let mut total = 0usize;
        for &len in phases {
            starts.push(total);
            total = total
                .checked_add(len)
                .ok_or_else(|| Error::Overflow("too many tasks in one call".to_owned()))?;
        }
        starts.push(total);
        // Tasks returned so far. A task of phase `p` starts once it reaches `starts[p]`: then
        // every task before `starts[p]` has returned, since no task of a later phase returns
        // before passing this same wait (induction over the order in which tasks return).
        let finished = AtomicUsize::new(0);
        let wait_for = |need: usize| -> Result<()> {
            let mut spins = 0u32;
            // Acquire: pairs with the Release increments, so the phase's writes are visible.
            while finished.load(Ordering::Acquire) < need {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) {
                    self.check()?;
                }
                if spins < PHASE_SPINS {
                    std::hint::spin_loop();
                } else {
                    // The thread finishing the phase may have been descheduled: give way.
                    std::thread::yield_now();
                }
            }
            Ok(())
        };
        let results = self.map_tasks(total, |i| -> Result<R> {
            // The phase of task `i`: the last one that starts at or before it (phases of no
            // task start where the next one does, and are skipped).
            let p = starts.partition_point(|&s| s <= i) - 1;
            wait_for(starts[p])?;
            let r = f(p, i - starts[p]);
            finished.fetch_add(1, Ordering::Release);
            Ok(r)
        })?;
        results.into_iter().collect()
    }

    /// [`map_tasks_grained`](Self::map_tasks_grained), asking for workers before the first task
    /// if `ask_first`, else once the work left is worth it.
    fn map_tasks_when<R, F>(&self, tasks: usize, grain: usize, ask_first: bool, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(usize) -> R + Sync,
    {
        self.total.fetch_add(tasks as u64, Ordering::Relaxed);
        let wanted = self.workers_for(tasks, grain);
        if wanted <= 1 {
            return self.run_on_caller(tasks, &f);
        }
        let backend = backend::current();
        // SAFETY: a backend entry, valid for the process, never unwinding.
        if unsafe { (backend.on_worker)() } == 1 {
            // A call made on a pool worker (from inside another call's task) must not wait for
            // the pool it occupies: it runs here.
            return self.run_on_caller(tasks, &f);
        }
        self.run_team(backend, tasks, wanted, ask_first, &f)
    }

    /// The calling thread runs the tasks, and asks for up to `wanted - 1` pool workers (fewer if
    /// the pool is smaller) once the work left is worth it.
    fn run_team<R, F>(
        &self,
        backend: &'static backend::Backend,
        tasks: usize,
        wanted: usize,
        ask_first: bool,
        f: &F,
    ) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(usize) -> R + Sync,
    {
        let next = AtomicUsize::new(0);
        let outputs: Mutex<Vec<Vec<(usize, R)>>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let fail = |e: Error| {
            self.cancel(); // stop the other threads early
            let mut slot = failure.lock().unwrap_or_else(PoisonError::into_inner);
            // A panic says more than the cancellation it caused elsewhere.
            if slot.is_none() || matches!(e, Error::Panic(_)) {
                *slot = Some(e);
            }
        };
        let first_started = AtomicBool::new(false);
        let launched_at = AtomicU64::new(0);
        let body = |_worker: usize| {
            let launched = launched_at.load(Ordering::Relaxed);
            if launched != HOT && !first_started.swap(true, Ordering::Relaxed) {
                record_wake(&self.start, launched);
            }
            match catch_unwind(AssertUnwindSafe(|| self.worker_loop(&next, tasks, f)))
                .unwrap_or_else(|payload| Err(Error::Panic(panic_message(&*payload))))
            {
                Ok(items) => outputs.lock().unwrap_or_else(PoisonError::into_inner).push(items),
                Err(e) => fail(e),
            }
        };
        // Asks for workers (at most `left`); false if the pool has no room for any.
        let launch = |left: usize, hot: bool| -> Result<Option<Running>> {
            // SAFETY: a backend entry, valid for the process, never unwinding.
            let helpers = wanted
                .min(unsafe { (backend.num_threads)() })
                .saturating_sub(1)
                .min(left);
            if helpers == 0 {
                return Ok(None);
            }
            // Only wake-ups of sleeping workers are measured (a hot one starts within about a
            // microsecond).
            let at = if hot { HOT } else { nanos_since(&self.start) };
            launched_at.store(at, Ordering::Relaxed);
            Running::start(backend, helpers, &body).map(Some)
        };

        // The calling thread's share. Until workers join, it claims the tasks in order, so its
        // results are the call's results as they stand (`early`); after, it keeps its own like
        // the workers do (`late`).
        let mut running: Option<Running> = None;
        let mut asked = false;
        let mut early: Vec<R> = try_vec(tasks, "the call's task results")?;
        let mut late: Vec<(usize, R)> = Vec::new();
        let mine = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
            if ask_first {
                // Enough tasks to share from the first one: a call of a few long tasks would
                // otherwise run its first alone (4 tasks of 5 ms: 15 ms instead of 10). A spinning
                // worker joins within about a microsecond; a sleeping one is woken, which costs
                // this thread one wake-up call. (With fewer tasks the calling thread decides
                // after its first one: a tiny call, such as a small matrix-vector product, would
                // otherwise pay the hand-out for nothing.)
                asked = true;
                // SAFETY: a backend entry, valid for the process, never unwinding.
                let hot = unsafe { (backend.hot_workers)() } > 0;
                running = launch(tasks, hot)?;
            }
            let began = Instant::now();
            loop {
                self.check()?;
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tasks {
                    return Ok(());
                }
                let r = f(i);
                if running.is_none() {
                    early.push(r);
                } else {
                    late.try_reserve(1).map_err(|_| {
                        Error::OutOfMemory("cannot allocate the call's task results".to_owned())
                    })?;
                    late.push((i, r));
                }
                self.done.fetch_add(1, Ordering::Relaxed);
                if !asked {
                    let left = tasks.saturating_sub(next.load(Ordering::Relaxed));
                    let ran = u32::try_from(early.len()).unwrap_or(u32::MAX).max(1);
                    let estimate =
                        (began.elapsed() / ran).saturating_mul(u32::try_from(left).unwrap_or(u32::MAX));
                    if left > 0 && estimate >= FAN_OUT_MIN {
                        asked = true;
                        // SAFETY: a backend entry, valid for the process, never unwinding.
                        let hot = unsafe { (backend.hot_workers)() } > 0;
                        running = launch(left, hot)?;
                    }
                }
                self.checkpoint()?;
            }
        }))
        .unwrap_or_else(|payload| Err(Error::Panic(panic_message(&*payload))));
        if let Err(e) = mine {
            fail(e);
        }
        let Some(running) = running else {
            // No worker took part: `early` is every result, in task order.
            return match failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
                Some(e) => Err(e),
                None => Ok(early),
            };
        };
        // No task left to claim: workers not started yet need not start.
        running.close();
        while !running.wait(POLL_INTERVAL) {
            self.poll_now();
        }
        drop(running);
        if let Some(e) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(e);
        }
        let first_late = early.len();
        let mut slots: Vec<Option<R>> = try_vec(tasks - first_late, "the call's task results")?;
        slots.extend(std::iter::repeat_with(|| None).take(tasks - first_late));
        let parts = outputs.into_inner().unwrap_or_else(PoisonError::into_inner);
        for (i, r) in late.into_iter().chain(parts.into_iter().flatten()) {
            slots[i - first_late] = Some(r);
        }
        // Every task index was claimed by exactly one thread, and every thread reported Ok.
        early
            .try_reserve(tasks - first_late)
            .map_err(|_| Error::OutOfMemory("cannot allocate the call's task results".to_owned()))?;
        for s in slots {
            early.push(s.ok_or(Error::Cancelled)?);
        }
        Ok(early)
    }

    fn worker_loop<R, F>(&self, next: &AtomicUsize, tasks: usize, f: &F) -> Result<Vec<(usize, R)>>
    where
        F: Fn(usize) -> R,
    {
        let mut out = Vec::new();
        loop {
            self.check()?;
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= tasks {
                return Ok(out);
            }
            out.try_reserve(1)
                .map_err(|_| Error::OutOfMemory("cannot allocate the call's task results".to_owned()))?;
            out.push((i, f(i)));
            self.done.fetch_add(1, Ordering::Relaxed);
            // The pool's scheduling rule: `gilfree.Executor` tasks waiting for a worker get one
            // between two chunks of a direct call (one task per chunk at most), so neither kind of
            // work can starve the other (docs/architecture.md, "Sharing the pool").
            tasks::run_one_queued();
        }
    }

    fn run_on_caller<R, F>(&self, tasks: usize, f: &F) -> Result<Vec<R>>
    where
        F: Fn(usize) -> R,
    {
        let run = || {
            let mut out = try_vec(tasks, "the call's task results")?;
            for i in 0..tasks {
                self.check()?;
                out.push(f(i));
                self.done.fetch_add(1, Ordering::Relaxed);
                self.checkpoint()?;
            }
            Ok(out)
        };
        catch_unwind(AssertUnwindSafe(run))
            .unwrap_or_else(|payload| Err(Error::Panic(panic_message(&*payload))))
    }

    /// [`map_tasks_grained`](Self::map_tasks_grained) over the fixed chunks of `len` elements:
    /// `f` gets each chunk's index range, and the results come back in chunk order.
    pub fn map_chunks<R, F>(&self, len: usize, chunk_len: usize, grain: usize, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(Range<usize>) -> R + Sync,
    {
        self.map_tasks_grained(chunk_count(len, chunk_len), grain, |i| {
            let start = i * chunk_len;
            f(start..len.min(start + chunk_len))
        })
    }
}

/// The wake-up latency measured on this machine: an exponentially weighted mean (weight 1/8) of
/// the time from asking the pool for workers, none of them spinning, to the first one starting,
/// in nanoseconds.
static WAKE_NS: AtomicU64 = AtomicU64::new(INITIAL_WAKE_NS);
/// [`WAKE_NS`] before the first measurement: a typical futex wake-up of an idle core.
const INITIAL_WAKE_NS: u64 = 20_000;
/// One sample counts for at most this much (the first broadcast of a process also starts the
/// pool's threads, which is not a wake-up).
const MAX_WAKE_SAMPLE_NS: u64 = 200_000;
/// The least work left for which a call asks the pool for workers: handing out work, and waiting
/// for the helpers' last tasks, cost the calling thread a microsecond or two.
pub const FAN_OUT_MIN: Duration = Duration::from_micros(5);
/// The fewest tasks for which a call asks for workers before its first task.
const EARLY_MIN_TASKS: usize = 4;

/// Spins of a thread waiting at a phase boundary of [`Ctx::map_phases`] before it yields its
/// core at every check (a phase of short tasks ends within a few microseconds).
const PHASE_SPINS: u32 = 20_000;
/// `launched_at` of a call that found a hot worker (no wake-up to measure).
const HOT: u64 = u64::MAX;

fn nanos_since(start: &Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn record_wake(start: &Instant, launched_ns: u64) {
    let sample = nanos_since(start)
        .saturating_sub(launched_ns)
        .min(MAX_WAKE_SAMPLE_NS);
    // A lost update between racing calls only drops one sample.
    let old = WAKE_NS.load(Ordering::Relaxed);
    WAKE_NS.store(old - old / 8 + sample / 8, Ordering::Relaxed);
}

/// The wake-up latency of the pool's sleeping workers as measured so far in this process (the
/// time from a call asking for workers to the first one starting, averaged over recent calls).
pub fn wake_latency() -> Duration {
    Duration::from_nanos(WAKE_NS.load(Ordering::Relaxed))
}

/// A broadcast in flight on the backend; dropping it closes it and waits until every body that
/// started returned, so the borrowed body (and what it borrows) outlives every use of it, also
/// when the caller unwinds.
struct Running {
    backend: &'static backend::Backend,
    handle: *mut backend::Broadcast,
}

impl Running {
    /// Starts `workers` copies of `body` on the backend's pool.
    fn start<B: Fn(usize) + Sync>(
        backend: &'static backend::Backend,
        workers: usize,
        body: &B,
    ) -> Result<Self> {
        unsafe extern "C" fn trampoline<B: Fn(usize) + Sync>(data: *const std::ffi::c_void, worker: usize) {
            // SAFETY: `data` is the `&B` given to `broadcast_start` below, alive until `Running`
            // is dropped (which waits for every body that started).
            let body = unsafe { &*data.cast::<B>() };
            // A body catches its own panics; this keeps the `extern "C"` frame unwind-free.
            let _ = catch_unwind(AssertUnwindSafe(|| body(worker)));
        }
        let data = std::ptr::from_ref(body).cast::<std::ffi::c_void>();
        // SAFETY: a backend entry; `body` is `Sync` and outlives the broadcast (see `Drop`).
        let handle = unsafe { (backend.broadcast_start)(workers, trampoline::<B>, data) };
        if handle.is_null() {
            return Err(Error::Pool("cannot start gilfree's pool".to_owned()));
        }
        Ok(Running { backend, handle })
    }

    /// Workers that have not started yet will not.
    fn close(&self) {
        // SAFETY: `handle` came from `broadcast_start` and is not freed before `Drop`.
        unsafe { (self.backend.broadcast_close)(self.handle) };
    }

    /// Waits up to `timeout` for the bodies that started: true once they all returned.
    fn wait(&self, timeout: Duration) -> bool {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: as in `close`.
        unsafe { (self.backend.broadcast_wait)(self.handle, ns) == 1 }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.close();
        while !self.wait(Duration::from_secs(3600)) {}
        // SAFETY: `handle` came from `broadcast_start` and is freed once, after its wait said 1.
        unsafe { (self.backend.broadcast_free)(self.handle) };
    }
}
