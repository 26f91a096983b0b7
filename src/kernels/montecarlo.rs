//! `monte_carlo_pi`: the adapter over `gilfree_kernels::kernels::montecarlo`.

use gilfree_kernels::engine::Ctx;
use gilfree_kernels::kernels::montecarlo;
use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;

use gilfree_pyo3::args::int_arg;
use gilfree_pyo3::{Form, Prepared};

use super::PreparedValue;

/// A Python int argument (`int` or anything with `__index__`, such as NumPy integers). `bool` and
/// `samples`: an int in `1..2**64`; 0 and negatives are `ValueError`, `>= 2**64` `OverflowError`.
fn samples_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    const EXPECTED: &str = "an int >= 1";
    let int = int_arg(obj, "samples", EXPECTED)?;
    match int.extract::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        Err(_) if int.gt(0)? => Err(PyOverflowError::new_err(format!(
            "samples must be < 2**64, got {int}"
        ))),
        _ => Err(PyValueError::new_err(format!(
            "samples must be {EXPECTED}, got {int}"
        ))),
    }
}

/// `seed=`: an int in `0..2**64` (`TypeError` for bool and non-ints, `ValueError` outside).
pub(crate) struct Seed(u64);

impl<'a, 'py> FromPyObject<'a, 'py> for Seed {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        const EXPECTED: &str = "an int in 0..2**64";
        let int = int_arg(&obj, "seed", EXPECTED)?;
        int.extract::<u64>()
            .map(Seed)
            .map_err(|_| PyValueError::new_err(format!("seed must be {EXPECTED}, got {int}")))
    }
}

/// A Monte Carlo estimate of pi, ``4 * hits / samples``, computed without the GIL.
///
/// ``samples`` points are drawn uniformly in [0, 1)² and ``hits`` counts those with
/// ``x*x + y*y <= 1``. The generator is xoshiro256++ (Blackman & Vigna's reference code; the same
/// outputs as the ``rand_xoshiro`` crate), seeded with SplitMix64 from ``seed``; the samples are
/// cut into fixed blocks of 2**20, block ``k`` uses the seeded stream long-jumped ``k`` times
/// (2**192 steps each), split into 8 lanes ``jump()``-ed 2**128 steps apart, so no two lanes ever overlap. Hits are exact integers, so the same
/// ``(samples, seed)`` gives the bit-identical estimate for every ``threads`` value, pool size
/// and CPU. The exact algorithm is in ``crates/gilfree-kernels/src/kernels/montecarlo.rs``.
///
/// The estimate's standard error is ``4 * sqrt(p * (1 - p) / samples)`` with ``p = pi / 4``,
/// about ``1.64 / sqrt(samples)``: 10**8 samples give ~4 correct digits.
///
/// Args:
///     samples: the number of points, an int >= 1 (up to 2**64 - 1; huge counts just run long,
///         and Ctrl-C stops them).
///     seed: an int in 0..2**64 selecting the stream.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     float: the estimate (the correctly rounded ``4 * hits / samples`` for samples < 2**53).
///
/// Raises:
///     TypeError: ``samples``, ``seed`` or ``threads`` is not an int (bool and float included).
///     ValueError: ``samples`` < 1; ``seed`` < 0 or >= 2**64; ``threads`` < 1.
///     OverflowError: ``samples`` >= 2**64.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.monte_carlo_pi(1_000_000, seed=42)
///     3.142212
///     >>> gilfree.monte_carlo_pi(10**7, seed=7) == gilfree.monte_carlo_pi(10**7, seed=7, threads=1)
///     True
#[pyfunction(
    name = "monte_carlo_pi",
    signature = (samples, *, seed = Seed(0), threads = None, progress = None),
    text_signature = "(samples, *, seed=0, threads=None, progress=None)"
)]
pub(crate) fn monte_carlo_pi_py<'py>(
    py: Python<'py>,
    samples: &Bound<'py, PyAny>,
    seed: Seed,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    gilfree_pyo3::Progress::arg(progress)?
        .scope(py, || prepare(samples, seed, threads, Form::Direct)?.run(py))
}

/// The one parsing of a `monte_carlo_pi` call (direct call and task form).
fn prepare(
    samples: &Bound<'_, PyAny>,
    seed: Seed,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<PreparedValue!(f64)> {
    let samples = samples_arg(samples)?;
    let threads = form.threads("monte_carlo_pi", threads)?;
    // Two 8-byte draws per sample: tiny calls (< 128 samples) stay attached.
    let work = usize::try_from(samples.saturating_mul(16)).unwrap_or(usize::MAX);
    let seed = seed.0;
    Ok(Prepared::value("monte_carlo_pi", move |ctx: &Ctx<'_>| {
        montecarlo::monte_carlo_pi(ctx, samples, seed)
    })
    .threads(threads)
    .work_bytes(work))
}

/// The task form of :func:`gilfree.monte_carlo_pi` for ``gilfree.Executor`` (arguments checked
/// now; ``threads`` must be None or 1). Same ``(samples, seed)``, same estimate.
#[pyfunction(
    name = "monte_carlo_pi",
    signature = (samples, *, seed = Seed(0), threads = None),
    text_signature = "(samples, *, seed=0, threads=None)"
)]
fn monte_carlo_pi_task<'py>(
    py: Python<'py>,
    samples: &Bound<'_, PyAny>,
    seed: Seed,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare(samples, seed, threads, Form::Task)?.task(py)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(monte_carlo_pi_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(monte_carlo_pi_task, m)?)?;
    Ok(())
}
