//! The native half of `gilfree.Executor`: kernel calls as independent pool tasks, delivered to
//! their Python futures in batches.
//!
//! ```text
//! submit, GIL held:  gilfree._native._tasks.<kernel>(*args, **kwargs)
//!                      parses and validates exactly as gilfree.<kernel> does (same code, same
//!                      exceptions), and returns a _Job: the validated work, not started
//!                    _Executor.submit(future, job) ── tasks::spawn ──► the shared pool's queue
//! a pool worker:     runs the job alone, GIL-free, then pushes (future, outcome) to the
//!                    executor's completion queue (waking the dispatcher only if it sleeps)
//! dispatcher thread: _Executor.collect(): waits detached, attaches once, converts the whole
//!                    batch to [(future, kind, value), ...]; gilfree._executor sets the futures
//! ```
//!
//! No step between submit and the batch takes the GIL, so the per-task cost is a fraction of a
//! `ThreadPoolExecutor`'s (which wakes a Python thread, and takes the GIL, per task).
//!
//! Each kernel family's task forms (`_tasks.<kernel>`) live in that family's binding file, next
//! to the direct form whose argument parsing they share, and are registered by the families'
//! parent (`kernels::register`); this file holds what they have in common: [`Job`],
//! [`task_threads`] and the executor itself, and imports no family.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gilfree_kernels::engine::tasks::{self, Completions, TaskGroup, Ticket};
use gilfree_kernels::engine::Ctx;
use gilfree_kernels::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::IntoPyObjectExt;

use gilfree_pyo3::abi::{ForeignJob, TaskCtx};
use gilfree_pyo3::{park_if_exiting, to_pyerr, CallGuard, KernelError};

/// Turns a finished task's output into its Python value (run by the dispatcher, GIL held).
type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A validated kernel call, ready to run on a pool worker.
type Work = Box<dyn FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Finish> + Send>;

/// What `submit` says after `shutdown()`, word for word what `concurrent.futures` says.
const AFTER_SHUTDOWN: &str = "cannot schedule new futures after shutdown";

/// One validated kernel call, made by a task form (`gilfree._native._tasks.<kernel>`) and run
/// once by [`NativeExecutor::submit`]. Its cancel flag outlives the run: `Future.cancel()` sets it.
#[pyclass(frozen, module = "gilfree._native", name = "_Job")]
pub(crate) struct Job {
    kernel: &'static str,
    work: Mutex<Option<Work>>,
    cancel: Arc<AtomicBool>,
}

impl Job {
    /// A job running `work` on a pool worker and turning its output into Python with `finish`.
    fn new<R, W, F>(kernel: &'static str, work: W, finish: F) -> Job
    where
        R: Send + 'static,
        W: FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<R> + Send + 'static,
        F: FnOnce(Python<'_>, R) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        let work: Work = Box::new(move |ctx| {
            let out = work(ctx)?;
            Ok(Box::new(move |py: Python<'_>| finish(py, out)) as Finish)
        });
        Job {
            kernel,
            work: Mutex::new(Some(work)),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A job made by any extension through the runtime table's `make_job` (gilfree's own task
    /// forms included: they use `gilfree_pyo3::task` like everyone else).
    fn foreign(kernel: &'static str, job: Foreign) -> Job {
        Job::new(
            kernel,
            move |ctx| {
                let (epoch, task, group) = ctx.task_flags().ok_or(Error::Cancelled)?;
                let tc = TaskCtx {
                    epoch,
                    task: std::ptr::from_ref(task),
                    group: std::ptr::from_ref(group),
                };
                // SAFETY: the `ForeignJob::run` contract: called at most once, `tc` alive for
                // the call; `run` never unwinds.
                match unsafe { (job.0.run)(job.0.data, &tc) } {
                    0 => Ok(job),
                    _ => Err(Error::Cancelled),
                }
            },
            |py, job: Foreign| {
                // SAFETY: GIL held, after `run` returned 0, once (the `finish` contract).
                let obj = unsafe { (job.0.finish)(job.0.data) };
                // SAFETY: a new reference or null with an exception set (the contract).
                unsafe { Bound::from_owned_ptr_or_err(py, obj) }.map(Bound::unbind)
            },
        )
    }
}

/// A [`ForeignJob`], freed (its `free`) exactly once, when dropped, wherever that happens: after
/// its result was delivered, or unrun if its task was cancelled or its job never submitted.
struct Foreign(ForeignJob);

// SAFETY: the `ForeignJob` contract: `run` runs on a pool worker, `finish` on the dispatcher,
// `free` on any thread — the job's data is made to move between threads.
unsafe impl Send for Foreign {}

impl Drop for Foreign {
    fn drop(&mut self) {
        // SAFETY: called once (this is the only owner), on any thread (the `free` contract).
        unsafe { (self.0.free)(self.0.data) };
    }
}

/// The runtime table's `make_job`: a `_Job` for another extension's task (or gilfree's own).
pub(crate) unsafe extern "C" fn make_job(name: *const c_char, job: ForeignJob) -> *mut pyo3::ffi::PyObject {
    let job = Foreign(job); // freed on every failure path below
    let made = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the `make_job` contract: the GIL is held, `name` is a NUL-terminated string
        // that lives for the process.
        let (py, name) = unsafe { (Python::assume_attached(), CStr::from_ptr(name)) };
        let kernel: &'static str = name.to_str().unwrap_or("task");
        Bound::new(py, Job::foreign(kernel, job))
            .map(Bound::into_ptr)
            .unwrap_or_else(|err| {
                err.restore(py);
                std::ptr::null_mut()
            })
    }));
    made.unwrap_or(std::ptr::null_mut())
}

#[pymethods]
impl Job {
    /// Asks the job to stop: it never starts if still queued, and a running job stops at its
    /// next chunk. Idempotent.
    fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The kernel's name.
    #[getter]
    fn kernel(&self) -> &'static str {
        self.kernel
    }

    fn __repr__(&self) -> String {
        let state = if self.cancel.load(Ordering::Relaxed) {
            "cancelled"
        } else if self.work.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
            "not submitted"
        } else {
            "submitted"
        };
        format!("<gilfree task {}() {state}>", self.kernel)
    }
}

/// A finished task on its way to its future.
struct Completion {
    future: Py<PyAny>,
    kernel: &'static str,
    outcome: gilfree_kernels::Result<Finish>,
    /// Cancelled by `Future.cancel()` or `shutdown(cancel_futures=True)`, not by an interrupt.
    owner_cancelled: bool,
}

struct Shared {
    group: Arc<TaskGroup>,
    queue: Completions<Completion>,
    /// Tasks submitted and not yet collected.
    pending: AtomicUsize,
    closed: AtomicBool,
}

/// The batch `kind` of a result, an exception, and a future its owner cancelled.
const KIND_RESULT: u8 = 0;
const KIND_EXCEPTION: u8 = 1;
const KIND_CANCELLED: u8 = 2;

/// The native side of one `gilfree.Executor`: its task group (for `cancel_futures`), its
/// completion queue and the count of tasks in flight. Thread-safe; every method is cheap except
/// [`collect`](Self::collect), which waits detached.
#[pyclass(frozen, module = "gilfree._native", name = "_Executor")]
pub(crate) struct NativeExecutor {
    shared: Arc<Shared>,
}

#[pymethods]
impl NativeExecutor {
    #[new]
    fn new() -> Self {
        NativeExecutor {
            shared: Arc::new(Shared {
                group: TaskGroup::new(),
                queue: Completions::new(),
                pending: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Queues `job` on the shared pool; its outcome is delivered to `future` by
    /// [`collect`](Self::collect). RuntimeError after [`close`](Self::close) or if the job was
    /// already submitted.
    fn submit(&self, future: Bound<'_, PyAny>, job: &Bound<'_, Job>) -> PyResult<()> {
        let shared = &self.shared;
        // Counted before the closed check (both SeqCst): either this submit sees `closed`, or
        // collect() sees the task pending and keeps going until it is delivered.
        shared.pending.fetch_add(1, Ordering::SeqCst);
        let back_off = |err: PyErr| {
            shared.pending.fetch_sub(1, Ordering::SeqCst);
            shared.queue.wake();
            Err(err)
        };
        if shared.closed.load(Ordering::SeqCst) {
            return back_off(PyRuntimeError::new_err(AFTER_SHUTDOWN));
        }
        let job = job.get();
        let Some(work) = job.work.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return back_off(PyRuntimeError::new_err(format!(
                "this {}() task was already submitted",
                job.kernel
            )));
        };
        let ticket = Ticket::new(Arc::clone(&job.cancel), Arc::clone(&shared.group));
        let kernel = job.kernel;
        let future = future.unbind();
        let sink = Arc::clone(shared);
        let spawned = tasks::spawn(ticket, work, move |outcome, ticket| {
            sink.queue.push(Completion {
                future,
                kernel,
                outcome,
                owner_cancelled: ticket.cancelled_by_owner(),
            });
        });
        match spawned {
            Ok(()) => Ok(()),
            Err(e) => back_off(to_pyerr(kernel, e)),
        }
    }

    /// Waits up to `timeout` seconds (detached from Python) for finished tasks and returns them
    /// all as a list of ``(future, kind, value)``: kind 0 is a result, 1 an exception to set,
    /// 2 a task its owner cancelled. An empty list if none finished in time; None once the
    /// executor is closed and every task was collected (the dispatcher's cue to exit).
    fn collect<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Option<Bound<'py, PyList>>> {
        let shared = &self.shared;
        if shared.queue.is_empty() {
            if shared.closed.load(Ordering::SeqCst) && shared.pending.load(Ordering::SeqCst) == 0 {
                return Ok(None);
            }
            let timeout = wait_time(timeout);
            // The dispatcher is a daemon thread: at interpreter exit it must not take the GIL
            // back from these Rust frames (see gilfree_pyo3::host::begin_exit); it parks instead.
            let _gil_user = CallGuard::enter();
            py.detach(|| {
                park_if_exiting();
                shared.queue.wait(timeout);
                park_if_exiting();
            });
        }
        let batch = shared.queue.take();
        shared.pending.fetch_sub(batch.len(), Ordering::SeqCst);
        let items = batch
            .into_iter()
            .map(|c| deliverable(py, c))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Some(PyList::new(py, items)?))
    }

    /// One step of a thread that waits for a future of this executor (`Future.result()`): waits
    /// up to `timeout` seconds (detached) for finished tasks or for a delivery by another thread
    /// (the epoch moving past `seen`), then delivers the finished tasks whose futures nobody
    /// waits on itself, with `fast`'s attribute stores, and hands the others to the dispatcher.
    /// Returns how many it delivered. The waiting thread is woken by the worker that finishes
    /// its task, not by the dispatcher after delivering it: one wake-up per task instead of two.
    fn help(&self, py: Python<'_>, fast: FastDelivery<'_>, seen: u64, timeout: f64) -> PyResult<usize> {
        let shared = &self.shared;
        let timeout = wait_time(timeout);
        let items = {
            let _gil_user = CallGuard::enter();
            py.detach(|| {
                park_if_exiting();
                let items = shared.queue.help(seen, timeout);
                park_if_exiting();
                items
            })
        };
        if items.is_empty() {
            return Ok(0);
        }
        // A signal handler may raise here (KeyboardInterrupt): the items go to the dispatcher.
        if let Err(err) = fast.lazy_lock.call_method0(intern!(py, "acquire")) {
            shared.queue.give_back(items);
            return Err(err);
        }
        let mut back = Vec::new();
        let mut delivered = 0;
        for c in items {
            match fast.deliver(py, c) {
                Ok(()) => delivered += 1,
                Err(c) => back.push(c),
            }
        }
        let released = fast.lazy_lock.call_method0(intern!(py, "release"));
        shared.pending.fetch_sub(delivered, Ordering::SeqCst);
        shared.queue.give_back(back);
        if delivered > 0 {
            shared.queue.delivered();
        }
        released.map(|_| delivered)
    }

    /// The number of deliveries so far (see [`help`](Self::help)): read before checking a future.
    #[getter]
    fn epoch(&self) -> u64 {
        self.shared.queue.epoch()
    }

    /// Says a batch was delivered: wakes the threads waiting in [`help`](Self::help), so that one
    /// whose future the dispatcher delivered (or someone cancelled) stops waiting.
    fn delivered(&self) {
        self.shared.queue.delivered();
    }

    /// Refuses new tasks from now on; tasks in flight still run and are collected.
    fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.queue.wake();
    }

    /// Cancels every task of this executor: queued ones never start, running ones stop at their
    /// next chunk. Their futures are delivered as cancelled.
    fn cancel_all(&self) {
        self.shared.group.cancel();
    }

    /// Tasks submitted and not yet collected.
    #[getter]
    fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// True after [`close`](Self::close).
    #[getter]
    fn closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }
}

/// A wait's timeout in seconds as a duration: negative or NaN is no wait, too large (inf) waits
/// until something happens.
fn wait_time(timeout: f64) -> Duration {
    Duration::try_from_secs_f64(timeout).unwrap_or(if timeout > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// One completion as the `(future, kind, value)` tuple Python delivers.
fn deliverable<'py>(py: Python<'py>, c: Completion) -> PyResult<Bound<'py, PyTuple>> {
    let (future, kind, value) = c.into_parts(py);
    PyTuple::new(py, [future, kind.into_py_any(py)?, value])
}

impl Completion {
    /// Its future, its batch kind and its value (see [`kind_and_value`]).
    fn into_parts(self, py: Python<'_>) -> (Py<PyAny>, u8, Py<PyAny>) {
        let (kind, value) = kind_and_value(py, self.kernel, self.outcome, self.owner_cancelled);
        (self.future, kind, value)
    }
}

/// A finished task's batch kind and value: its result, the exception to set, or (cancelled by
/// its owner) None.
fn kind_and_value(
    py: Python<'_>,
    kernel: &'static str,
    outcome: gilfree_kernels::Result<Finish>,
    owner_cancelled: bool,
) -> (u8, Py<PyAny>) {
    match outcome {
        // A panic here would unwind into the dispatcher thread and stop every delivery.
        Ok(finish) => match catch_unwind(AssertUnwindSafe(|| finish(py))) {
            Ok(Ok(value)) => (KIND_RESULT, value),
            Ok(Err(err)) => (KIND_EXCEPTION, err.into_value(py).into_any()),
            Err(_) => {
                let err =
                    KernelError::new_err(format!("kernel '{kernel}' panicked while converting its result"));
                (KIND_EXCEPTION, err.into_value(py).into_any())
            }
        },
        Err(Error::Cancelled) if owner_cancelled => (KIND_CANCELLED, py.None()),
        Err(Error::Cancelled) => {
            let err = PyKeyboardInterrupt::new_err(format!(
                "gilfree.{kernel}() was interrupted (SIGINT arrived while it ran or waited in the \
                 executor's queue)"
            ));
            (KIND_EXCEPTION, err.into_value(py).into_any())
        }
        Err(e) => (KIND_EXCEPTION, to_pyerr(kernel, e).into_value(py).into_any()),
    }
}

/// What [`NativeExecutor::help`] stores into a future finished lock-free, as
/// `gilfree._executor._deliver`'s fast path does: `(_LAZY_LOCK, _NO_LOCK, _NO_WAITERS, FINISHED)`.
#[derive(FromPyObject)]
struct FastDelivery<'py> {
    #[pyo3(item(0))]
    lazy_lock: Bound<'py, PyAny>,
    #[pyo3(item(1))]
    no_lock: Bound<'py, PyAny>,
    #[pyo3(item(2))]
    no_waiters: Bound<'py, PyAny>,
    #[pyo3(item(3))]
    finished: Bound<'py, PyAny>,
}

impl FastDelivery<'_> {
    /// Finishes `c` with attribute stores if nobody waits on its future (no Condition yet) and
    /// it was not cancelled by its owner; otherwise (or if a store fails) hands it back.
    /// Called with the lazy lock held. No Python code runs here (only C-level attribute
    /// stores), so no signal handler can stop a delivery half-way.
    fn deliver(&self, py: Python<'_>, c: Completion) -> Result<(), Completion> {
        let owner_cancelled = c.owner_cancelled && matches!(c.outcome, Err(Error::Cancelled));
        let fut = c.future.bind(py);
        let waited = !matches!(fut.getattr(intern!(py, "_gf_cond")), Ok(cond) if cond.is_none());
        if owner_cancelled || waited {
            return Err(c);
        }
        let kernel = c.kernel;
        let (future, kind, value) = c.into_parts(py);
        let fut = future.bind(py);
        let slot = if kind == KIND_RESULT {
            intern!(py, "_result")
        } else {
            intern!(py, "_exception")
        };
        // The state last: until it is set the future is pending, and a failed store leaves it so.
        let stored = fut
            .setattr(slot, &value)
            .and_then(|()| fut.setattr(intern!(py, "_condition"), &self.no_lock))
            .and_then(|()| fut.setattr(intern!(py, "_waiters"), &self.no_waiters))
            .and_then(|()| fut.setattr(intern!(py, "_done_callbacks"), &self.no_waiters))
            .and_then(|()| fut.setattr(intern!(py, "_state"), &self.finished));
        match stored {
            Ok(()) => Ok(()),
            // Back to the dispatcher, as the same outcome.
            Err(_) => Err(Completion {
                future,
                kernel,
                outcome: Ok(Box::new(move |py: Python<'_>| {
                    if kind == KIND_RESULT {
                        Ok(value)
                    } else {
                        Err(PyErr::from_value(value.into_bound(py)))
                    }
                })),
                owner_cancelled: false,
            }),
        }
    }
}

/// Registers `_Executor` and `_Job`. The families' task forms (`_tasks`) are registered by their
/// parent, `kernels::register`: this file serves them and does not list them.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeExecutor>()?;
    m.add_class::<Job>()
}
