//! The pool settings and the facts `gilfree info` reports.

use gilfree_kernels::engine::{self, ThreadsSource};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::positive_int;
use crate::errors::to_pyerr;

/// Sets the number of worker threads of gilfree's shared pool.
///
/// Takes effect for calls that start afterwards; calls already running finish on the pool they
/// started with. Safe to call from any thread at any time. Overrides ``GILFREE_NUM_THREADS``.
///
/// Args:
///     n: the pool size, 1 <= n <= 1024.
///
/// Raises:
///     TypeError: ``n`` is not an int (bool is refused too).
///     ValueError: ``n`` is out of range.
///
/// Example:
///     >>> import gilfree
///     >>> before = gilfree.get_num_threads()
///     >>> gilfree.set_num_threads(2)
///     >>> gilfree.get_num_threads()
///     2
///     >>> gilfree.set_num_threads(before)
#[pyfunction]
pub(crate) fn set_num_threads(n: &Bound<'_, PyAny>) -> PyResult<()> {
    let expected = "an int between 1 and 1024";
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
/// From :func:`set_num_threads` if it was called, else ``GILFREE_NUM_THREADS``, else the number of
/// cores available to this process. Does not start the pool.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.get_num_threads() >= 1
///     True
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    engine::configured_threads().0
}

/// Cancels every gilfree call in flight, in every thread (called by the SIGINT handler).
#[pyfunction]
fn _interrupt() {
    engine::interrupt_all();
}

/// The interpreter is exiting (an `atexit` hook): see `call::begin_exit`.
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    crate::call::begin_exit(py);
}

/// The facts `gilfree info` prints, as a dict.
#[pyfunction]
fn _runtime_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let (threads, source) = engine::configured_threads();
    let source = match source {
        ThreadsSource::SetNumThreads => "set_num_threads()".to_owned(),
        ThreadsSource::Env => engine::NUM_THREADS_ENV.to_owned(),
        ThreadsSource::Cores { ignored_env: None } => "number of cores".to_owned(),
        ThreadsSource::Cores {
            ignored_env: Some(raw),
        } => format!(
            "number of cores ({}={raw:?} ignored: not an int between 1 and {})",
            engine::NUM_THREADS_ENV,
            engine::MAX_THREADS
        ),
    };
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
    d.set_item("detach_min_bytes", crate::call::DETACH_MIN_BYTES)?;
    d.set_item("reduce_chunk_len", gilfree_kernels::kernels::reduce::CHUNK_LEN)?;
    d.set_item(
        "reduce_min_chunks_per_worker",
        gilfree_kernels::kernels::reduce::MIN_CHUNKS_PER_WORKER,
    )?;
    Ok(d)
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
    Ok(())
}
