//! `progress=`: a kernel call's progress, reported to Python from the calling thread.
//!
//! A binding parses its `progress` argument with [`Progress::arg`] and runs its body inside
//! [`Progress::scope`]; every [`run`](crate::run) inside the scope (on that thread) reports the
//! call's progress — tasks done, tasks announced ([`Ctx::progress`](crate::Ctx::progress)) — to
//! a Python callable `progress(done, total)`, or to a bar on stderr (`progress=True`, drawn by
//! `gilfree._progress.make_bar`: rich, else tqdm, else a plain line; nothing when stderr is not a
//! terminal).
//!
//! * The callable runs on the **calling thread**, inside the poll that already runs there every
//!   20 ms for Ctrl-C, attached to Python for that moment only: never on a pool worker, and the
//!   wait itself stays detached.
//! * Rate-limited: at most once every [`REPORT_INTERVAL`], plus one final `(total, total)` when
//!   the call succeeds. `done` never decreases within a scope, and ends equal to `total`.
//! * An exception raised by the callable cancels the call and propagates, as Ctrl-C does.
//! * Several `run`s in one scope (a two-pass kernel) add up: the second one's tasks count after
//!   the first one's (`total` grows, `done` keeps growing).
//! * The bar is closed when the scope ends: on success, on error and on Ctrl-C.
//!
//! ```no_run
//! use gilfree_pyo3::{run, Progress, ThreadsArg};
//! use pyo3::prelude::*;
//!
//! #[pyfunction(signature = (n, *, threads = None, progress = None))]
//! fn squares(
//!     py: Python<'_>,
//!     n: usize,
//!     threads: Option<ThreadsArg>,
//!     progress: Option<&Bound<'_, PyAny>>,
//! ) -> PyResult<u64> {
//!     Progress::arg(progress)?.scope(py, || {
//!         let parts = run(py, "squares", ThreadsArg::get(threads), n, |ctx| {
//!             ctx.map_chunks(n, 1 << 16, 1, |r| r.map(|i| (i as u64) * (i as u64)).sum::<u64>())
//!         })?;
//!         Ok(parts.into_iter().sum())
//!     })
//! }
//! ```

use std::cell::RefCell;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

/// The shortest time between two reports to Python during one call (the final report of a
/// successful call is always made).
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);

/// A parsed `progress=` argument: off, a bar on stderr, or a callable `(done, total)`.
#[derive(Debug, Default)]
pub struct Progress(Kind);

#[derive(Debug, Default)]
enum Kind {
    #[default]
    Off,
    Bar,
    Callback(Py<PyAny>),
}

impl Progress {
    /// No progress reports (what `progress=None` and `progress=False` give).
    pub fn off() -> Self {
        Progress(Kind::Off)
    }

    /// Parses a `progress=` argument: `None` or `False` → off, `True` → a bar on stderr (if it is
    /// a terminal), a callable → called with `(done, total)`.
    ///
    /// # Errors
    ///
    /// `TypeError` for anything else.
    pub fn arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(obj) = obj else {
            return Ok(Progress(Kind::Off));
        };
        if obj.is_none() {
            return Ok(Progress(Kind::Off));
        }
        if let Ok(flag) = obj.cast::<PyBool>() {
            return Ok(Progress(if flag.is_true() { Kind::Bar } else { Kind::Off }));
        }
        if obj.is_callable() {
            return Ok(Progress(Kind::Callback(obj.clone().unbind())));
        }
        Err(PyTypeError::new_err(format!(
            "progress must be None, a bool, or a callable taking (done, total), got {}",
            obj.get_type().name()?
        )))
    }

    /// True unless off.
    pub fn is_on(&self) -> bool {
        !matches!(self.0, Kind::Off)
    }

    /// Runs `f` with this progress in effect for every [`run`](crate::run) it makes on this
    /// thread; closes the bar (if one was drawn) when `f` returns, whatever it returns.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, or (if `f` succeeded) an exception raised while closing the bar.
    pub fn scope<R>(self, py: Python<'_>, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
        let state = match self.0 {
            Kind::Off => None,
            kind => Some(Reporter::new(kind)),
        };
        let guard = Scope(Some(ACTIVE.with(|a| a.replace(state))));
        let out = f();
        let mine = guard.restore();
        let closed = match mine {
            Some(reporter) => reporter.close(py),
            None => Ok(()),
        };
        match (out, closed) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(err)) | (Err(err), _) => Err(err),
        }
    }
}

thread_local! {
    /// The progress of the innermost [`Progress::scope`] on this thread, while no `run` holds it.
    static ACTIVE: RefCell<Option<Reporter>> = const { RefCell::new(None) };
}

/// Puts the outer scope's reporter back when a scope ends (also if `f` panics).
struct Scope(Option<Option<Reporter>>);

impl Scope {
    fn restore(mut self) -> Option<Reporter> {
        let prev = self.0.take().flatten();
        ACTIVE.with(|a| a.replace(prev))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            ACTIVE.with(|a| a.replace(prev));
        }
    }
}

/// The state of one scope's reports.
#[derive(Debug)]
pub(crate) struct Reporter {
    kind: Kind,
    /// `progress=True`: the bar, made at the first report (`None` inside: stderr is no terminal).
    bar: Option<Option<Py<PyAny>>>,
    /// Tasks of the scope's earlier `run`s.
    offset: u64,
    /// The last `(done, total)` reported, and when.
    last: (u64, u64),
    last_at: Instant,
}

impl Reporter {
    fn new(kind: Kind) -> Self {
        Reporter {
            kind,
            bar: None,
            offset: 0,
            last: (0, 0),
            last_at: Instant::now(),
        }
    }

    /// Takes this thread's reporter for the length of one `run` (so that a kernel called from the
    /// callable itself reports nothing to it).
    pub(crate) fn take() -> Option<Reporter> {
        ACTIVE.with(|a| a.borrow_mut().take())
    }

    /// Gives it back at the end of the `run` (see [`Reporter::take`]).
    pub(crate) fn put_back(reporter: Option<Reporter>) {
        if reporter.is_some() {
            ACTIVE.with(|a| *a.borrow_mut() = reporter);
        }
    }

    /// A poll's report: made if [`REPORT_INTERVAL`] passed since the last one.
    pub(crate) fn poll(&mut self, py: Python<'_>, name: &str, progress: (u64, u64)) -> PyResult<()> {
        if self.last_at.elapsed() < REPORT_INTERVAL {
            return Ok(());
        }
        self.report(py, name, progress)
    }

    /// The end of a successful `run`: its final `(total, total)`.
    pub(crate) fn finish(&mut self, py: Python<'_>, name: &str, progress: (u64, u64)) -> PyResult<()> {
        let total = progress.1.max(progress.0);
        self.report(py, name, (total, total))?;
        self.offset = self.offset.saturating_add(total);
        Ok(())
    }

    fn report(&mut self, py: Python<'_>, name: &str, (done, total): (u64, u64)) -> PyResult<()> {
        let total = self.offset.saturating_add(total.max(done));
        let done = self.offset.saturating_add(done).max(self.last.0);
        self.last = (done, total);
        self.last_at = Instant::now();
        match &self.kind {
            Kind::Off => Ok(()),
            Kind::Callback(f) => f.call1(py, (done, total)).map(drop),
            Kind::Bar => {
                if self.bar.is_none() {
                    let bar = py
                        .import("gilfree._progress")?
                        .call_method1("make_bar", (name,))?;
                    self.bar = Some((!bar.is_none()).then(|| bar.unbind()));
                }
                match &self.bar {
                    Some(Some(bar)) => bar.call_method1(py, "update", (done, total)).map(drop),
                    _ => Ok(()),
                }
            }
        }
    }

    fn close(self, py: Python<'_>) -> PyResult<()> {
        match self.bar {
            Some(Some(bar)) => bar.call_method0(py, "close").map(drop),
            _ => Ok(()),
        }
    }
}
