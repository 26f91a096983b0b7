//! `gilfree.Executor` task forms for any extension: [`task`] turns a prepared kernel call into
//! the runtime's task object, [`register_task`] tells the executor which function it stands for.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use gilfree_engine::{Ctx, Error as EngineError, Threads};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::abi::{ForeignJob, TaskCtx};
use crate::args::threads_arg;
use crate::errors::{kernel_error_new, to_pyerr};
use crate::link::api;

/// One task's state, owned by the runtime through a [`ForeignJob`].
struct State<R, W, F> {
    name: &'static str,
    work: Option<W>,
    finish: Option<F>,
    out: Option<gilfree_engine::Result<R>>,
}

unsafe extern "C" fn run_state<R, W, F>(data: *mut c_void, tc: *const TaskCtx) -> c_int
where
    W: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R>,
{
    // SAFETY: `data` is the `State` made by `task`, used by one thread at a time (the runtime
    // calls run, then finish, then free, in that order); `tc` and its flags are valid during
    // the call (the `ForeignJob::run` contract).
    let (state, tc) = unsafe { (&mut *data.cast::<State<R, W, F>>(), &*tc) };
    // SAFETY: as above: the flags outlive the call.
    let ctx = unsafe { Ctx::for_task(tc.epoch, &*tc.task, &*tc.group) };
    if ctx.is_cancelled() {
        return 1;
    }
    let Some(work) = state.work.take() else {
        return 1;
    };
    let out = catch_unwind(AssertUnwindSafe(|| work(&ctx)))
        .unwrap_or_else(|payload| Err(EngineError::Panic(gilfree_engine::panic_message(&*payload))));
    if matches!(out, Err(EngineError::Cancelled)) {
        return 1;
    }
    state.out = Some(out);
    0
}

unsafe extern "C" fn finish_state<R, W, F>(data: *mut c_void) -> *mut pyo3::ffi::PyObject
where
    F: FnOnce(Python<'_>, R) -> PyResult<Py<PyAny>>,
{
    // SAFETY: as in `run_state`; the runtime holds the GIL (the `ForeignJob::finish` contract).
    let (state, py) = unsafe { (&mut *data.cast::<State<R, W, F>>(), Python::assume_attached()) };
    let name = state.name;
    let result = catch_unwind(AssertUnwindSafe(|| {
        match (state.out.take(), state.finish.take()) {
            (Some(Ok(out)), Some(finish)) => finish(py, out),
            (Some(Err(err)), _) => Err(to_pyerr(name, err)),
            _ => Err(kernel_error_new(
                py,
                format!("task '{name}' finished twice or never ran"),
            )),
        }
    }))
    .unwrap_or_else(|_| {
        Err(kernel_error_new(
            py,
            format!("kernel '{name}' panicked while converting its result"),
        ))
    });
    match result {
        Ok(obj) => obj.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn free_state<R, W, F>(data: *mut c_void) {
    // SAFETY: `data` is the box made by `task`, freed exactly once (the contract).
    let state = unsafe { Box::from_raw(data.cast::<State<R, W, F>>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(state)));
}

/// A `gilfree.Executor` task of this extension: `work` runs later on one worker of gilfree's
/// shared pool, without the GIL, in a [`Ctx`] that `Future.cancel()`,
/// `shutdown(cancel_futures=True)` and Ctrl-C cancel; `finish` converts its output with the GIL
/// held, on the thread that delivers it (the executor's dispatcher, or a thread waiting in
/// `Future.result()`). Returns the task object for a *task form*: a
/// function taking the kernel's arguments, validating them now, and returning this (see
/// [`register_task`]).
///
/// ```no_run
/// use gilfree_pyo3::engine::Ctx;
/// use pyo3::prelude::*;
///
/// fn squares(ctx: &Ctx<'_>, n: usize) -> gilfree_pyo3::engine::Result<u64> {
///     let parts = ctx.map_chunks(n, 1 << 16, 1, |r| r.map(|i| (i as u64).pow(2)).sum::<u64>())?;
///     Ok(parts.iter().sum())
/// }
///
/// #[pyfunction]
/// fn squares_task(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
///     gilfree_pyo3::task(py, "squares", move |ctx| squares(ctx, n), |py, total| {
///         Ok(total.into_pyobject(py)?.into_any().unbind())
///     })
/// }
/// ```
///
/// # Errors
///
/// `ImportError` if gilfree is not installed (the executor is gilfree's); `MemoryError`.
pub fn task<'py, R, W, F>(
    py: Python<'py>,
    name: &'static str,
    work: W,
    finish: F,
) -> PyResult<Bound<'py, PyAny>>
where
    R: Send + 'static,
    W: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R> + Send + 'static,
    F: FnOnce(Python<'_>, R) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let state: Box<State<R, W, F>> = Box::new(State {
        name,
        work: Some(work),
        finish: Some(finish),
        out: None,
    });
    let job = ForeignJob {
        data: Box::into_raw(state).cast(),
        run: run_state::<R, W, F>,
        finish: finish_state::<R, W, F>,
        free: free_state::<R, W, F>,
    };
    let cname = c_name(name)?;
    // SAFETY: a runtime table entry; GIL held; it takes ownership of `job` (frees it on failure).
    let obj = unsafe { (api().make_job)(cname, job) };
    // SAFETY: a new reference, or null with an exception set (the `make_job` contract).
    unsafe { Bound::from_owned_ptr_or_err(py, obj) }
}

/// [`task`] for an output that converts to Python as it is (a float, an int, a tuple...).
///
/// # Errors
///
/// As [`task`].
pub fn task_value<'py, R, W>(py: Python<'py>, name: &'static str, work: W) -> PyResult<Bound<'py, PyAny>>
where
    R: for<'a> IntoPyObject<'a> + Send + 'static,
    W: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R> + Send + 'static,
{
    task(py, name, work, |py, out| out.into_py_any(py))
}

/// `name` as a NUL-terminated C string that lives for the process (what `make_job` wants).
/// Names are `&'static str`, a handful per extension: each is converted once, and the last one
/// this thread used is remembered, so a stream of tasks of one kernel costs a pointer compare.
fn c_name(name: &'static str) -> PyResult<*const c_char> {
    use std::cell::Cell;
    thread_local! {
        static LAST: Cell<(*const u8, usize, *const c_char)> =
            const { Cell::new((std::ptr::null(), 0, std::ptr::null())) };
    }
    let (ptr, len, last) = LAST
        .try_with(Cell::get)
        .unwrap_or((std::ptr::null(), 0, std::ptr::null()));
    if ptr == name.as_ptr() && len == name.len() {
        return Ok(last);
    }
    let c = interned(name)?;
    let _ = LAST.try_with(|l| l.set((name.as_ptr(), name.len(), c.as_ptr())));
    Ok(c.as_ptr())
}

/// One name of [`interned`]'s list.
struct Interned {
    name: &'static str,
    c: &'static CStr,
    next: *mut Interned,
}

/// The names converted so far: a list that only grows, pushed to without a lock (a lock held by
/// a thread at `fork()` would stay held in the child forever).
static INTERNED: std::sync::atomic::AtomicPtr<Interned> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// `name` as a C string that lives for the process, converted once per name.
fn interned(name: &'static str) -> PyResult<&'static CStr> {
    use std::sync::atomic::Ordering;
    let mut head = INTERNED.load(Ordering::Acquire);
    let mut node = head;
    while !node.is_null() {
        // SAFETY: nodes are leaked boxes, never freed nor changed after they were published.
        let n = unsafe { &*node };
        if n.name == name {
            return Ok(n.c);
        }
        node = n.next;
    }
    let c: &'static CStr = Box::leak(
        CString::new(name)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_boxed_c_str(),
    );
    let new = Box::into_raw(Box::new(Interned { name, c, next: head }));
    loop {
        match INTERNED.compare_exchange(head, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(c),
            Err(now) => {
                // Another thread pushed meanwhile (perhaps this very name: a duplicate is harmless).
                head = now;
                // SAFETY: `new` is ours until the exchange succeeds.
                unsafe { (*new).next = head };
            }
        }
    }
}

/// A task form's `threads=`: parsed exactly as the direct call parses it (same TypeError and
/// ValueError for bad values), then only `None` and `1` are accepted: each task runs on one
/// worker, and many tasks run at once.
///
/// # Errors
///
/// `TypeError`/`ValueError` as [`threads_arg`]; `ValueError` for `threads=k`, `k >= 2`.
pub fn task_threads(name: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    match threads_arg(obj)? {
        Threads::Pool | Threads::Caller => Ok(()),
        Threads::AtMost(k) => {
            // The value as given (`k` is capped at usize::MAX).
            let given = obj.map_or_else(|| k.to_string(), ToString::to_string);
            Err(PyValueError::new_err(format!(
                "{name}(): threads={given} is not available in gilfree.Executor: each task runs \
                 on one pool worker (threads=None or threads=1), and many tasks run at once. Submit \
                 several smaller tasks, or call {name}(..., threads={given}) directly."
            )))
        }
    }
}

/// Tells `gilfree.Executor` that `task_form(*args, **kwargs)` makes the native task of
/// `func(*args, **kwargs)`: `executor.submit(func, ...)` then runs on gilfree's pool without a
/// Python thread (`gilfree.Executor.is_native(func)` is true). Does nothing when gilfree is not
/// installed.
///
/// # Errors
///
/// Whatever `gilfree.register_task` raises (`TypeError` for a task form that is not callable).
pub fn register_task(func: &Bound<'_, PyAny>, task_form: &Bound<'_, PyAny>) -> PyResult<()> {
    if !crate::linked() {
        return Ok(());
    }
    func.py()
        .import("gilfree")?
        .getattr("register_task")?
        .call1((func, task_form))
        .map(drop)
}
