//! Independent tasks on the shared pool: the engine half of `gilfree.Executor`.
//!
//! A *task* is one kernel call that nobody waits for. [`spawn`] queues it on the shared pool and
//! returns at once; a pool worker runs it alone, in a [`Ctx::for_task`] (no nested use of the
//! pool: a task never waits for the workers it occupies, so tasks cannot deadlock each other),
//! then hands the outcome to a completion callback. The binding's callback pushes it into a
//! [`Completions`] queue, which one consumer drains in batches: no Python, and no GIL, from
//! submit to completion.
//!
//! ```text
//! submitter ── spawn(ticket, work, done) ──► pool queue ──► worker: ctx = Ctx::for_task(ticket)
//!                                                               work(&ctx) ─► done(outcome)
//!                                                                              └─► Completions::push
//! consumer ◄── Completions::wait + take (a whole batch at once) ◄─────────────────────┘
//! ```
//!
//! # Cancellation
//!
//! A task stops at its next chunk (or never starts) when its own flag is set (`Future.cancel()`),
//! when its [`TaskGroup`] is cancelled (`shutdown(cancel_futures=True)`), or when the interrupt
//! epoch moved after the task was *submitted* (Ctrl-C: a task still queued at that moment is
//! cancelled too, not only the ones running).

use std::collections::VecDeque;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{backend, hot, pool, Ctx};
use crate::error::panic_message;
use crate::{Error, Result};

/// The tasks of one owner (one executor): a cancel flag they all watch.
#[derive(Debug, Default)]
pub struct TaskGroup {
    cancelled: AtomicBool,
}

impl TaskGroup {
    /// A new group, not cancelled.
    pub fn new() -> Arc<Self> {
        Arc::new(TaskGroup::default())
    }

    /// Cancels every task of the group: queued ones never start, running ones stop at their next
    /// chunk. Permanent.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// True once [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// What a task carries from its submission: its own cancel flag, its group, and the interrupt
/// epoch at submit time.
#[derive(Debug)]
pub struct Ticket {
    task: Arc<AtomicBool>,
    group: Arc<TaskGroup>,
    epoch: u64,
}

impl Ticket {
    /// The ticket of a task submitted now. `task` is the task's own cancel flag (the submitter
    /// keeps a clone to set it); `group` the group it belongs to.
    pub fn new(task: Arc<AtomicBool>, group: Arc<TaskGroup>) -> Self {
        Ticket {
            task,
            group,
            epoch: backend::epoch().load(Ordering::Relaxed),
        }
    }

    /// True if the task's owner cancelled it: its own flag or its group's (not an interrupt).
    pub fn cancelled_by_owner(&self) -> bool {
        self.task.load(Ordering::Relaxed) || self.group.is_cancelled()
    }
}

/// A task waiting for a worker: everything it does, in one closure that cannot panic.
pub(super) type Queued = Box<dyn FnOnce() + Send>;

/// gilfree's own FIFO of tasks waiting for a worker (not rayon's queues): pool workers take from
/// it both when idle (one rayon job per task, [`spawn`]) and between two chunks of a direct call
/// ([`run_one_queued`]): that is the pool's scheduling rule (see the module docs of `engine`).
static QUEUE: Mutex<VecDeque<Queued>> = Mutex::new(VecDeque::new());
/// `QUEUE.len()`, readable without the lock (a direct call's workers read it after every chunk).
static QUEUED: AtomicUsize = AtomicUsize::new(0);

pub(super) fn queue() -> MutexGuard<'static, VecDeque<Queued>> {
    // Nothing panics while holding it; a poisoned lock must not lose tasks.
    QUEUE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// In a forked child (with the queue's lock held since the fork, see `engine::fork`): the
/// parent's queued tasks belong to executors whose threads do not exist here. They are forgotten,
/// not run, and not dropped (dropping could run their owners' destructors in a child that only
/// has one thread).
pub(super) fn forget_queued_after_fork(q: &mut VecDeque<Queued>) {
    std::mem::forget(std::mem::take(q));
    QUEUED.store(0, Ordering::SeqCst);
}

/// Runs the oldest task queued on the backend in use, if any, on this thread; true if one ran.
/// Called by pool workers only (never by a thread that holds the GIL: tasks never touch Python).
pub(crate) fn run_one_queued() -> bool {
    // SAFETY: a backend entry (valid for the life of the process, never unwinds).
    unsafe { (backend::current().run_queued_task)() == 1 }
}

/// Runs the oldest task of this library's own queue, if any, on this thread; true if one ran.
pub(crate) fn run_one_local() -> bool {
    if QUEUED.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let task = {
        let mut q = queue();
        let task = q.pop_front();
        if task.is_some() {
            QUEUED.fetch_sub(1, Ordering::Relaxed);
        }
        task
    };
    task.is_some_and(|task| {
        task();
        true
    })
}

/// Queues `task` on this library's own FIFO and wakes an idle worker for it.
pub(crate) fn queue_local(task: Queued) -> Result<()> {
    let pool = pool::shared()?;
    {
        let mut q = queue();
        q.push_back(task);
        QUEUED.fetch_add(1, Ordering::Relaxed);
    }
    // One job per task: a hot worker (`engine::hot`) or an idle one takes the oldest queued task
    // (perhaps not this one, if a direct call's worker already ran it: then the job finds the
    // queue shorter and returns), then lingers for the next.
    pool.team.post(hot::queued_task_job());
    Ok(())
}

/// The number of tasks waiting for a worker (for tests and diagnostics).
pub fn queued() -> usize {
    QUEUED.load(Ordering::Relaxed)
}

/// Queues `work` as one task on the shared pool and returns at once; `done` gets its outcome on
/// the worker that ran it, with the ticket (to tell an owner's cancellation from an interrupt).
///
/// The work runs on one worker ([`Ctx::for_task`]). A task cancelled before it starts does not
/// run at all (`done` gets [`Error::Cancelled`]); a panic in `work` becomes [`Error::Panic`].
/// `done` must not block for long: it runs on a pool worker. A panic in `done` is caught and
/// dropped (a pool worker must never unwind).
///
/// Tasks start in submission order, on an idle worker or on a worker of a direct call between
/// two of its chunks, whichever comes first: a task never waits for a whole direct call.
///
/// # Errors
///
/// [`Error::Pool`] if the shared pool could not be built; then neither closure runs.
pub fn spawn<R, W, D>(ticket: Ticket, work: W, done: D) -> Result<()>
where
    W: FnOnce(&Ctx<'_>) -> Result<R> + Send + 'static,
    D: FnOnce(Result<R>, &Ticket) + Send + 'static,
{
    let task: Queued = Box::new(move || {
        let outcome = {
            let ctx = Ctx::for_task(ticket.epoch, &ticket.task, &ticket.group.cancelled);
            if ctx.is_cancelled() {
                Err(Error::Cancelled)
            } else {
                catch_unwind(AssertUnwindSafe(|| work(&ctx)))
                    .unwrap_or_else(|payload| Err(Error::Panic(panic_message(&*payload))))
            }
        };
        // rayon aborts the process on a panic that escapes a spawned job.
        let _ = catch_unwind(AssertUnwindSafe(|| done(outcome, &ticket)));
    });
    if backend::is_local() {
        // This library's own queue: no C ABI hop (and no second box) needed.
        return queue_local(task);
    }
    // A thin pointer for the C ABI: the boxed closure, boxed again.
    let data = Box::into_raw(Box::new(task)).cast::<c_void>();
    // SAFETY: a backend entry; on success it calls `run_boxed(data)` exactly once, on failure
    // never (and the box is ours again).
    if unsafe { (backend::current().task_spawn)(run_boxed, data) } == 0 {
        Ok(())
    } else {
        // SAFETY: not queued: `data` is still the box made above, owned here.
        drop(unsafe { Box::from_raw(data.cast::<Queued>()) });
        Err(Error::Pool("cannot start gilfree's pool".to_owned()))
    }
}

/// The [`backend::TaskRun`] of a task queued by [`spawn`].
unsafe extern "C" fn run_boxed(data: *mut c_void) {
    // SAFETY: `data` is the `Box<Queued>` made by `spawn`, handed over exactly once.
    let task = unsafe { Box::from_raw(data.cast::<Queued>()) };
    // The closure catches its own panics; this guard keeps the `extern "C"` frame unwind-free.
    let _ = catch_unwind(AssertUnwindSafe(move || (*task)()));
}

/// A completion queue: many producers (pool workers) push, one consumer takes everything there
/// is at once. Pushing wakes the consumer only when it sleeps on an empty queue, so a burst of
/// completions costs one wake-up, not one per item.
///
/// Helpers: a thread that waits for one particular item to be delivered (a `Future.result()`
/// caller) can take items itself with [`help`](Self::help) instead of waiting for the consumer
/// to deliver them and wake it: one wake-up per item instead of two, and no hand-over between
/// the two threads. While a helper sleeps in `help`, a push wakes the helper, not the consumer.
/// Items a helper cannot deliver itself go back with [`give_back`](Self::give_back), to the
/// consumer only. Whoever delivers calls [`delivered`](Self::delivered), which moves the
/// [`epoch`](Self::epoch) on and wakes the helpers, so a helper whose item another thread
/// delivered stops waiting.
#[derive(Debug)]
pub struct Completions<T> {
    state: Mutex<Queue<T>>,
    ready: Condvar,
    helper_ready: Condvar,
}

#[derive(Debug)]
struct Queue<T> {
    items: Vec<T>,
    /// Items given back by a helper: for the consumer only.
    returned: Vec<T>,
    /// The consumer sleeps in [`Completions::wait`].
    sleeping: bool,
    /// [`Completions::wake`] was called and the consumer has not returned from `wait` since.
    woken: bool,
    /// Helpers sleeping in [`Completions::help`].
    helpers: usize,
    /// Deliveries so far ([`Completions::delivered`]).
    epoch: u64,
}

impl<T> Default for Completions<T> {
    fn default() -> Self {
        Completions {
            state: Mutex::new(Queue {
                items: Vec::new(),
                returned: Vec::new(),
                sleeping: false,
                woken: false,
                helpers: 0,
                epoch: 0,
            }),
            ready: Condvar::new(),
            helper_ready: Condvar::new(),
        }
    }
}

impl<T> Completions<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // Nothing panics while holding the lock; a poisoned lock must not lose completions.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds one item; wakes a sleeping helper if there is one, else the consumer if it sleeps.
    pub fn push(&self, item: T) {
        let mut q = self.lock();
        let first = q.items.is_empty();
        q.items.push(item);
        let (helper, consumer) = (first && q.helpers > 0, first && q.sleeping);
        drop(q);
        if helper {
            self.helper_ready.notify_one();
        } else if consumer {
            self.ready.notify_one();
        }
    }

    /// Waits until there is an item, [`wake`](Self::wake) is called, or `timeout` passes.
    /// Returns true if items are ready (take them with [`take`](Self::take)).
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut q = self.lock();
        while q.items.is_empty() && q.returned.is_empty() && !q.woken {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                break;
            }
            q.sleeping = true;
            q = self
                .ready
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            q.sleeping = false;
        }
        q.woken = false;
        !(q.items.is_empty() && q.returned.is_empty())
    }

    /// Every item pushed (or given back) so far, in push order; the queue is left empty.
    pub fn take(&self) -> Vec<T> {
        let mut q = self.lock();
        let mut items = std::mem::take(&mut q.returned);
        items.append(&mut q.items);
        items
    }

    /// A helper's wait: until there is an item, the epoch is no longer `seen`, or `timeout`
    /// passes. Returns the items pushed so far (perhaps none), which the helper now delivers
    /// (then calls [`delivered`](Self::delivered)) or gives back.
    pub fn help(&self, seen: u64, timeout: Duration) -> Vec<T> {
        let deadline = Instant::now().checked_add(timeout);
        let mut q = self.lock();
        while q.items.is_empty() && q.epoch == seen {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                break;
            }
            q.helpers += 1;
            q = self
                .helper_ready
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            q.helpers -= 1;
        }
        std::mem::take(&mut q.items)
    }

    /// Hands items a helper took but cannot deliver to the consumer (and wakes it).
    pub fn give_back(&self, items: Vec<T>) {
        if items.is_empty() {
            return;
        }
        self.lock().returned.extend(items);
        self.ready.notify_one();
    }

    /// The number of deliveries so far: read it before checking whether your item was
    /// delivered, then [`help`](Self::help) with it.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Says that a batch of items was delivered: moves the epoch on and wakes every helper.
    pub fn delivered(&self) {
        let mut q = self.lock();
        q.epoch = q.epoch.wrapping_add(1);
        let helpers = q.helpers > 0;
        drop(q);
        if helpers {
            self.helper_ready.notify_all();
        }
    }

    /// Makes the consumer's current (or next) [`wait`](Self::wait) return at once.
    pub fn wake(&self) {
        self.lock().woken = true;
        self.ready.notify_all();
    }

    /// Whether the consumer sleeps, and how many helpers do (for tests).
    #[cfg(test)]
    pub(crate) fn sleepers(&self) -> (bool, usize) {
        let q = self.lock();
        (q.sleeping, q.helpers)
    }

    /// The number of items waiting.
    pub fn len(&self) -> usize {
        let q = self.lock();
        q.items.len() + q.returned.len()
    }

    /// True if no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
