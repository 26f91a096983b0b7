//! The pool settings and the facts `gilfree info` reports.

use gilfree_kernels::engine::{self, ThreadsSource};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use gilfree_pyo3::args::positive_int;
use gilfree_pyo3::to_pyerr;

/// Sets the number of worker threads of gilfree's shared pool, or, with ``None``, goes back to
/// the environment's size.
///
/// Takes effect for calls that start afterwards; calls already running finish on the pool they
/// started with. Safe to call from any thread at any time. Overrides ``GILFREE_NUM_THREADS`` and
/// ``OMP_NUM_THREADS``; ``set_num_threads(None)`` forgets an earlier ``set_num_threads(n)``, so
/// the size comes from them (or the core count) again, as :func:`get_num_threads` describes.
///
/// Args:
///     n: the pool size, 1 <= n <= 1024, or None.
///
/// Raises:
///     TypeError: ``n`` is not an int or None (bool is refused too).
///     ValueError: ``n`` is out of range.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.set_num_threads(2)
///     >>> gilfree.get_num_threads()
///     2
///     >>> gilfree.info()["threads_source"]
///     'set_num_threads()'
///     >>> gilfree.set_num_threads(None)
///     >>> gilfree.info()["threads_source"] != 'set_num_threads()'
///     True
#[pyfunction]
pub(crate) fn set_num_threads(n: &Bound<'_, PyAny>) -> PyResult<()> {
    if n.is_none() {
        engine::reset_num_threads();
        return Ok(());
    }
    let expected = "an int between 1 and 1024, or None";
    let count = positive_int(n, "n", expected)?;
    match usize::try_from(count) {
        Ok(count) if count <= engine::MAX_THREADS => {
            engine::set_num_threads(count).map_err(|e| to_pyerr("set_num_threads", e))
        }
        _ => Err(PyValueError::new_err(format!(
            "set_num_threads(): n must be {expected}, got {}",
            n.repr()?
        ))),
    }
}

/// The number of worker threads calls with ``threads=None`` use.
///
/// The first of these that is set decides (``gilfree info`` names it):
///
/// 1. :func:`set_num_threads`, if it was called (and not undone by ``set_num_threads(None)``);
/// 2. ``GILFREE_NUM_THREADS``, an int between 1 and 1024;
/// 3. ``OMP_NUM_THREADS``, as OpenMP reads it: a positive int, or a comma-separated list whose
///    first element counts (``"4,2"`` is 4); above 1024 it counts as 1024. Dask's workers and
///    joblib's loky workers get their share of the machine this way;
/// 4. the number of cores available to this process.
///
/// The variables are read once, when gilfree is imported (later changes to ``os.environ`` do not
/// resize the pool). An invalid variable is ignored (``gilfree info`` reports it). Does not start
/// the pool.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.get_num_threads() >= 1
///     True
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    engine::configured_threads().0
}

/// The pool size calls with `threads=None` use (as `gilfree.get_num_threads()`), exported under a
/// name no other library has: threadpoolctl finds this extension among the loaded shared
/// objects by it (`gilfree._threadpoolctl`), and reads the size of *this* copy's pool with it.
#[no_mangle]
pub extern "C" fn gilfree_threadpoolctl_num_threads() -> usize {
    engine::configured_threads().0
}

/// Cancels every gilfree call in flight, in every thread (called by the SIGINT handler).
#[pyfunction]
fn _interrupt() {
    engine::interrupt_all();
}

/// The interpreter is exiting (an `atexit` hook): see `gilfree_pyo3::host::begin_exit`.
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    gilfree_pyo3::host::begin_exit(py);
}

/// The facts `gilfree info` prints, as a dict.
#[pyfunction]
fn _runtime_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let (threads, source) = engine::configured_threads();
    let source = describe_source(source);
    d.set_item("version", env!("CARGO_PKG_VERSION"))?;
    d.set_item(
        "profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    d.set_item("threads", threads)?;
    d.set_item("threads_source", source)?;
    d.set_item("pool_started", engine::live_pool().is_some())?;
    d.set_item(
        "cores",
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
    )?;
    d.set_item(
        "target",
        format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
    )?;
    d.set_item("cpu_features", cpu_features())?;
    d.set_item("detach_min_bytes", gilfree_pyo3::DETACH_MIN_BYTES)?;
    d.set_item("reduce_chunk_len", gilfree_kernels::kernels::reduce::CHUNK_LEN)?;
    d.set_item(
        "fan_out_min_us",
        gilfree_kernels::engine::FAN_OUT_MIN.as_secs_f64() * 1e6,
    )?;
    d.set_item("linger_us", gilfree_kernels::engine::LINGER.as_secs_f64() * 1e6)?;
    Ok(d)
}

/// `gilfree info`'s "threads from": `set_num_threads()`, `GILFREE_NUM_THREADS`,
/// `OMP_NUM_THREADS` or `number of cores`, followed by the invalid variables that were skipped.
fn describe_source(source: ThreadsSource) -> String {
    let (name, ignored) = match source {
        ThreadsSource::SetNumThreads => ("set_num_threads()", vec![]),
        ThreadsSource::Env => (engine::NUM_THREADS_ENV, vec![]),
        ThreadsSource::OmpEnv { ignored_env } => (
            engine::OMP_NUM_THREADS_ENV,
            ignored_env
                .map(|raw| (engine::NUM_THREADS_ENV, raw, "an int between 1 and 1024"))
                .into_iter()
                .collect(),
        ),
        ThreadsSource::Cores {
            ignored_env,
            ignored_omp,
        } => (
            "number of cores",
            ignored_env
                .map(|raw| (engine::NUM_THREADS_ENV, raw, "an int between 1 and 1024"))
                .into_iter()
                .chain(
                    ignored_omp
                        .map(|raw| (engine::OMP_NUM_THREADS_ENV, raw, "a positive int or list of them")),
                )
                .collect(),
        ),
    };
    if ignored.is_empty() {
        return name.to_owned();
    }
    let notes: Vec<String> = ignored
        .into_iter()
        .map(|(var, raw, expected)| format!("{var}={raw:?} ignored: not {expected}"))
        .collect();
    format!("{name} ({})", notes.join("; "))
}

/// The SIMD features this CPU has (detected at run time).
fn cpu_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    found.push($f);
                }
            )*};
        }
        probe!("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl");
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            found.push("neon");
        }
    }
    found
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_interrupt, m)?)?;
    m.add_function(wrap_pyfunction!(_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(_runtime_info, m)?)?;
    register_signals(m)
}

/// The C-level half of gilfree's Ctrl-C handling.
///
/// Python's own SIGINT handler is Python code: it runs only when the main thread runs bytecode.
/// A main thread inside native code that is not a gilfree call — a Cython `nogil` loop checking
/// `gilfree_interrupted()`, say — would never let it run, and the interrupt epoch would never
/// move. So, when gilfree chains its Python-level handler (``install_interrupt_handler``), it also
/// puts [`on_sigint`] in front of the C handler Python installed: it moves the epoch at once (one
/// atomic add: async-signal-safe) and then calls Python's C handler, which does what it always
/// does (flags the signal for the Python-level handler). `signal.signal(SIGINT, ...)` by anyone
/// reinstalls Python's C handler, removing ours; `install_interrupt_handler()` puts it back.
#[cfg(unix)]
mod sigint {
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    /// The handler we replaced (an address), and its `sa_flags`.
    static PREV_HANDLER: AtomicUsize = AtomicUsize::new(0);
    static PREV_FLAGS: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_sigint(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
        // Python's handler first (it flags the signal), then the epoch: a thread that sees the
        // new epoch and runs check_signals() then finds the flag set, so Python's handler raises
        // its exception once (never a second KeyboardInterrupt later).
        chain(sig, info, uctx);
        gilfree_kernels::engine::interrupt_all();
    }

    fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
        let prev = PREV_HANDLER.load(Ordering::Relaxed);
        if prev == libc::SIG_DFL || prev == libc::SIG_IGN || prev == 0 {
            return;
        }
        if PREV_FLAGS.load(Ordering::Relaxed) & libc::SA_SIGINFO != 0 {
            // SAFETY: `prev` is the address of the `sa_sigaction` handler we replaced (SA_SIGINFO
            // set): it has this signature and is valid for the process (Python's C handler).
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute::<usize, _>(prev) };
            f(sig, info, uctx);
        } else {
            // SAFETY: as above, a plain `sa_handler`.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute::<usize, _>(prev) };
            f(sig);
        }
    }

    fn current() -> Option<libc::sigaction> {
        // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only queries.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old) == 0).then_some(old)
        }
    }

    fn ours() -> usize {
        on_sigint as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize
    }

    /// True if [`on_sigint`] is the process's SIGINT handler now.
    pub(super) fn active() -> bool {
        current().is_some_and(|a| a.sa_sigaction == ours())
    }

    /// Puts [`on_sigint`] in front of the current C handler; true if it is in place after.
    pub(super) fn install() -> bool {
        let Some(prev) = current() else {
            return false;
        };
        if prev.sa_sigaction == ours() {
            return true;
        }
        PREV_FLAGS.store(prev.sa_flags, Ordering::Relaxed);
        PREV_HANDLER.store(prev.sa_sigaction, Ordering::Relaxed);
        // SAFETY: `action` is fully initialised (zeroed, then the handler, flags and the mask of
        // the handler it chains to); `on_sigint` only does async-signal-safe work itself.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ours();
            action.sa_flags = (prev.sa_flags | libc::SA_SIGINFO) & !libc::SA_RESETHAND;
            action.sa_mask = prev.sa_mask;
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) == 0
        }
    }
}

/// Puts gilfree's C-level SIGINT handler in front of Python's (see `sigint`); True if it is in
/// place. Called by ``gilfree.install_interrupt_handler()``, after it chained the Python-level one.
#[pyfunction]
fn _install_sigint() -> bool {
    #[cfg(unix)]
    {
        sigint::install()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// True if gilfree's C-level SIGINT handler is the process's handler now.
#[pyfunction]
fn _sigint_c_handler_active() -> bool {
    #[cfg(unix)]
    {
        sigint::active()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The gilfree calls in flight in this process (every extension's on the runtime), oldest first:
/// ``(name, done, total, seconds, on_this_thread)`` each, ``done``/``total`` in tasks (chunks) as
/// of the call's last poll (every 20 ms). What progress displays read.
#[pyfunction]
fn _calls() -> Vec<(String, u64, u64, f64, bool)> {
    gilfree_pyo3::host::calls_in_flight()
}

pub(crate) fn register_signals(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_install_sigint, m)?)?;
    m.add_function(wrap_pyfunction!(_sigint_c_handler_active, m)?)?;
    m.add_function(wrap_pyfunction!(_calls, m)?)?;
    Ok(())
}
