//! The `fractal` kernel family's adapters (mirrors `crates/gilfree-kernels/src/kernels/fractal.rs`).

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::fractal::{self, Window};
use numpy::ndarray::Array2;
use numpy::PyArray2;
use pyo3::prelude::*;

use gilfree_pyo3::args::{f64_arg, positive_int, threads_arg};
use gilfree_pyo3::task_threads;
use gilfree_pyo3::Prepared;
use gilfree_pyo3::{to_pyerr, KernelError};

fn width_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    positive_int(obj, "width", "an int >= 1")
}

fn height_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    positive_int(obj, "height", "an int >= 1")
}

fn max_iter_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    positive_int(obj, "max_iter", "an int in 1..65535")
}

macro_rules! real_args {
    ($($f:ident: $arg:literal),*) => {
        $(fn $f(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
            f64_arg(obj, $arg)
        })*
    };
}
real_args!(xmin_arg: "xmin", xmax_arg: "xmax", ymin_arg: "ymin", ymax_arg: "ymax");

/// The Mandelbrot set's escape-time counts over a window of the complex plane, computed without
/// the GIL on every core, as a ``(height, width)`` uint16 array.
///
/// Pixel ``[i, j]`` (row ``i``, column ``j``) is the point ``c = cr + ci*1j`` with, in float64,
/// ``cr = xmin + j * ((xmax - xmin) / width)`` and ``ci = ymin + i * ((ymax - ymin) / height)``
/// (so row 0 is ``ymin`` and ``xmax``/``ymax`` themselves are excluded). Its value is computed by
/// exactly this loop, with every float64 operation rounded as written and nothing fused::
///
///     zr = zi = 0.0; n = 0
///     while n < max_iter:
///         zr2 = zr * zr; zi2 = zi * zi
///         if zr2 + zi2 > 4.0:
///             break
///         zi = 2.0 * zr * zi + ci
///         zr = zr2 - zi2 + cr
///         n += 1
///     value = n
///
/// That is the number of steps ``z <- z*z + c`` taken from ``z = 0`` before ``|z|**2 > 4``, or
/// ``max_iter`` if that never happens: at least 1 everywhere (``z = 0`` itself never escapes), 1
/// for points far outside the set, ``max_iter`` for points of the set. The result is the same,
/// bit for bit, on every CPU (AVX-512, AVX2 or portable code) and for every ``threads`` value:
/// each pixel is computed on its own, and the uneven rows are balanced dynamically.
///
/// Args:
///     width: number of columns, an int >= 1.
///     height: number of rows, an int >= 1. ``width * height`` may be at most 2**32.
///     max_iter: the iteration cap, an int in 1..65535 (the counts are uint16).
///     xmin: real part of column 0.
///     xmax: real part of the right edge (excluded); greater than ``xmin``.
///     ymin: imaginary part of row 0.
///     ymax: imaginary part of the bottom edge (excluded); greater than ``ymin``.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     A new C-contiguous ``numpy.ndarray`` of dtype uint16 and shape ``(height, width)``.
///
/// Raises:
///     TypeError: a size or ``max_iter`` that is not an int (bool and float included), a bound
///         that is not a real number (or is a bool), ``threads`` not an int.
///     ValueError: ``width`` or ``height`` < 1, ``max_iter`` outside 1..65535, a bound that is
///         not finite, ``xmin >= xmax`` or ``ymin >= ymax``, a span that overflows float64,
///         ``threads`` < 1.
///     OverflowError: more than 2**32 pixels, an output the system cannot allocate, or a bound
///         too large for float64.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> img = gilfree.mandelbrot(4, 4, max_iter=100, xmin=-2.0, xmax=2.0, ymin=-2.0, ymax=2.0)
///     >>> img.dtype, img.shape
///     (dtype('uint16'), (4, 4))
///     >>> img[2].tolist()  # c = -2, -1, 0 are in the set; c = 1 escapes at z = 5, step 3
///     [100, 100, 100, 3]
///     >>> gilfree.mandelbrot(1600, 1200).shape
///     (1200, 1600)
#[pyfunction(
    name = "mandelbrot",
    signature = (width, height, *, max_iter = 256, xmin = -2.0, xmax = 1.0, ymin = -1.5, ymax = 1.5, threads = None, progress = None),
    // PyO3 renders the negative defaults as `...`; spell the signature out for inspect/stubtest.
    text_signature = "(width, height, *, max_iter=256, xmin=-2.0, xmax=1.0, ymin=-1.5, ymax=1.5, threads=None, progress=None)"
)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn mandelbrot_py<'py>(
    py: Python<'py>,
    #[pyo3(from_py_with = width_arg)] width: u64,
    #[pyo3(from_py_with = height_arg)] height: u64,
    #[pyo3(from_py_with = max_iter_arg)] max_iter: u64,
    #[pyo3(from_py_with = xmin_arg)] xmin: f64,
    #[pyo3(from_py_with = xmax_arg)] xmax: f64,
    #[pyo3(from_py_with = ymin_arg)] ymin: f64,
    #[pyo3(from_py_with = ymax_arg)] ymax: f64,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        let window = Window {
            xmin,
            xmax,
            ymin,
            ymax,
        };
        prepare(width, height, max_iter, window, threads_arg(threads)?)?.call(py)
    })
}

/// The one parsing of a `mandelbrot` call, for the direct call and the task form alike.
fn prepare(
    width: u64,
    height: u64,
    max_iter: u64,
    window: Window,
    threads: Threads,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Vec<u16>> + Send + 'static,
        impl FnOnce(Python<'_>, Vec<u16>) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
> {
    fractal::validate(width, height, max_iter, window).map_err(|e| to_pyerr("mandelbrot", e))?;
    // A work estimate in pixel-iterations: a tiny image (< 2048) stays on this thread with the GIL.
    let work = width.saturating_mul(height).saturating_mul(max_iter);
    Ok(Prepared::new(
        "mandelbrot",
        move |ctx: &Ctx<'_>| fractal::mandelbrot(ctx, width, height, max_iter, window),
        move |py: Python<'_>, counts| Ok(image(py, counts, width, height)?.into_any().unbind()),
    )
    .threads(threads)
    .work_bytes(usize::try_from(work).unwrap_or(usize::MAX)))
}

/// The counts as a `(height, width)` array, without a copy.
fn image(py: Python<'_>, counts: Vec<u16>, width: u64, height: u64) -> PyResult<Bound<'_, PyArray2<u16>>> {
    // The core validated the sizes (width * height == counts.len()); a failure here is a bug.
    let bug = |e: String| KernelError::new_err(format!("kernel 'mandelbrot' returned a bad shape: {e}"));
    let h = usize::try_from(height).map_err(|e| bug(e.to_string()))?;
    let w = usize::try_from(width).map_err(|e| bug(e.to_string()))?;
    let image = Array2::from_shape_vec((h, w), counts).map_err(|e| bug(e.to_string()))?;
    Ok(PyArray2::from_owned_array(py, image))
}

/// The task form of :func:`gilfree.mandelbrot` for ``gilfree.Executor``: the same arguments,
/// parsed and validated now (every argument error the direct call raises is raised here), for a
/// job that renders on one pool worker. ``threads`` must be None or 1.
#[pyfunction(
    name = "mandelbrot",
    signature = (width, height, *, max_iter = 256, xmin = -2.0, xmax = 1.0, ymin = -1.5, ymax = 1.5, threads = None),
    text_signature = "(width, height, *, max_iter=256, xmin=-2.0, xmax=1.0, ymin=-1.5, ymax=1.5, threads=None)"
)]
#[allow(clippy::too_many_arguments)]
fn mandelbrot_task<'py>(
    py: Python<'py>,
    #[pyo3(from_py_with = width_arg)] width: u64,
    #[pyo3(from_py_with = height_arg)] height: u64,
    #[pyo3(from_py_with = max_iter_arg)] max_iter: u64,
    #[pyo3(from_py_with = xmin_arg)] xmin: f64,
    #[pyo3(from_py_with = xmax_arg)] xmax: f64,
    #[pyo3(from_py_with = ymin_arg)] ymin: f64,
    #[pyo3(from_py_with = ymax_arg)] ymax: f64,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_threads("mandelbrot", threads)?;
    let window = Window {
        xmin,
        xmax,
        ymin,
        ymax,
    };
    prepare(width, height, max_iter, window, threads_arg(threads)?)?.task(py)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mandelbrot_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mandelbrot_task, m)?)?;
    Ok(())
}
