//! A prepared kernel: arguments parsed and validated once, with the GIL held, into the work to
//! do; the direct call and the `gilfree.Executor` task form both come from it.

use gilfree_engine::{Ctx, Threads};
use pyo3::exceptions::PyValueError;

use crate::args::threads_arg;
use crate::task::task_threads;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

/// A kernel call whose arguments were parsed and validated (GIL held), ready to run either as a
/// direct call ([`call`](Self::call)) or as a `gilfree.Executor` task ([`task`](Self::task)).
///
/// Write one `prepare_<kernel>(...) -> PyResult<Prepared<..>>` per kernel, and two thin
/// `#[pyfunction]`s over it: the same parsing, the same errors, the same work, whichever way
/// the kernel is called.
///
/// ```no_run
/// use gilfree_pyo3::{Prepared, ThreadsArg};
/// use pyo3::prelude::*;
///
/// fn prepare_squares(n: u64, threads: Option<ThreadsArg>) -> PyResult<Prepared<impl FnOnce(&gilfree_pyo3::Ctx<'_>) -> gilfree_pyo3::engine::Result<u64> + Send + 'static, impl FnOnce(Python<'_>, u64) -> PyResult<Py<PyAny>> + Send + 'static>> {
///     let len = usize::try_from(n).unwrap_or(usize::MAX);
///     let work = move |ctx: &gilfree_pyo3::Ctx<'_>| {
///         let parts = ctx.map_chunks(len, 1 << 16, 1, |r| r.map(|i| (i as u64).wrapping_mul(i as u64)).fold(0, u64::wrapping_add))?;
///         Ok(parts.into_iter().fold(0, u64::wrapping_add))
///     };
///     Ok(Prepared::value("squares", work).threads(ThreadsArg::get(threads)).work_bytes(len))
/// }
///
/// #[pyfunction(signature = (n, *, threads = None))]
/// fn squares(py: Python<'_>, n: u64, threads: Option<ThreadsArg>) -> PyResult<Py<PyAny>> {
///     prepare_squares(n, threads)?.call(py)
/// }
///
/// #[pyfunction(signature = (n, *, threads = None))]
/// fn squares_task(py: Python<'_>, n: u64, threads: Option<ThreadsArg>) -> PyResult<Bound<'_, PyAny>> {
///     prepare_squares(n, threads)?.task(py)
/// }
/// ```
#[derive(Debug)]
pub struct Prepared<W, F> {
    name: &'static str,
    threads: Threads,
    work_bytes: usize,
    work: W,
    finish: F,
}

/// Which form of a kernel a `prepare_<kernel>` prepares: they differ only in `threads=`, parsed
/// in the same place of the argument order either way (so both forms raise the same exception
/// for the same bad arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The direct call: `threads=None|1|k` ([`threads_arg`]).
    Direct,
    /// The `gilfree.Executor` task form: `threads=None|1` only ([`task_threads`]); the task
    /// runs on one worker.
    Task,
}

impl Form {
    /// Parses `threads=` for this form of kernel `name`.
    ///
    /// # Errors
    ///
    /// As [`threads_arg`] (direct) or [`task_threads`] (task).
    pub fn threads(self, name: &str, threads: Option<&Bound<'_, PyAny>>) -> PyResult<Threads> {
        match self {
            Form::Direct => threads_arg(threads),
            Form::Task => task_threads(name, threads).map(|()| Threads::Caller),
        }
    }
}

/// The `finish` of [`Prepared::value`]: the output converted to Python as it is.
pub type IntoPy<R> = fn(Python<'_>, R) -> PyResult<Py<PyAny>>;

fn into_py<R: for<'a> IntoPyObject<'a>>(py: Python<'_>, out: R) -> PyResult<Py<PyAny>> {
    out.into_py_any(py)
}

impl<R, W> Prepared<W, IntoPy<R>>
where
    R: for<'a> IntoPyObject<'a>,
    W: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R>,
{
    /// A kernel whose output converts to Python as it is (a float, an int, a tuple...).
    pub fn value(name: &'static str, work: W) -> Self {
        Prepared::new(name, work, into_py::<R>)
    }
}

impl<R, W, F> Prepared<W, F>
where
    W: FnOnce(&Ctx<'_>) -> gilfree_engine::Result<R>,
    F: FnOnce(Python<'_>, R) -> PyResult<Py<PyAny>>,
{
    /// `work` computes (GIL released, on the pool); `finish` converts its output (GIL held).
    /// Defaults: [`Threads::Pool`], always detached (`work_bytes = usize::MAX`).
    pub fn new(name: &'static str, work: W, finish: F) -> Self {
        Prepared {
            name,
            threads: Threads::Pool,
            work_bytes: usize::MAX,
            work,
            finish,
        }
    }

    /// The call's `threads=` (a direct call uses it; a task accepts only `Pool` and `Caller`).
    #[must_use]
    pub fn threads(mut self, threads: Threads) -> Self {
        self.threads = threads;
        self
    }

    /// The size of the work, for the "small calls keep the GIL" rule of [`crate::run`].
    #[must_use]
    pub fn work_bytes(mut self, work_bytes: usize) -> Self {
        self.work_bytes = work_bytes;
        self
    }

    /// The kernel's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs it now, as a direct call ([`crate::run`]), and converts the output.
    ///
    /// # Errors
    ///
    /// As [`crate::run`], and whatever `finish` raises.
    pub fn call(self, py: Python<'_>) -> PyResult<Py<PyAny>>
    where
        R: Send,
        W: Send,
    {
        let out = crate::run(py, self.name, self.threads, self.work_bytes, self.work)?;
        (self.finish)(py, out)
    }

    /// Runs it now and returns the raw output, for a direct form that converts it itself.
    ///
    /// # Errors
    ///
    /// As [`crate::run`].
    pub fn run(self, py: Python<'_>) -> PyResult<R>
    where
        R: Send,
        W: Send,
    {
        crate::run(py, self.name, self.threads, self.work_bytes, self.work)
    }

    /// Makes it a `gilfree.Executor` task ([`crate::task`]): it runs later, on one worker.
    ///
    /// # Errors
    ///
    /// `ValueError` if `threads` was `k >= 2` (a task runs on one worker; many run at once), and
    /// as [`crate::task`].
    pub fn task(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>>
    where
        R: Send + 'static,
        W: Send + 'static,
        F: Send + 'static,
    {
        if let Threads::AtMost(k) = self.threads {
            let name = self.name;
            return Err(PyValueError::new_err(format!(
                "{name}(): threads={k} is not available in gilfree.Executor: each task runs on one \
                 pool worker (threads=None or threads=1), and many tasks run at once. Submit \
                 several smaller tasks, or call {name}(..., threads={k}) directly."
            )));
        }
        crate::task(py, self.name, self.work, self.finish)
    }
}
