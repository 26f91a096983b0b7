//! `pairwise_distances`: adapters over `gilfree_kernels::kernels::distance`.

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::distance::{self, Input, Metric, Output};
use numpy::{dtype, Element, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::array::{Array2, View2};
use gilfree_pyo3::args::threads_arg;
use gilfree_pyo3::task_threads;
use gilfree_pyo3::Prepared;

/// The output array's memory, as raw parts (`Send`, to cross into the detached work).
struct OutPtr<O> {
    ptr: *mut O,
    len: usize,
}

// SAFETY: the pointer is only dereferenced by the one work closure that owns it, while the
// finish step (which outlives the work) holds a strong reference to the array.
unsafe impl<O: Send> Send for OutPtr<O> {}

/// `metric=` as a [`Metric`]: a `str` naming one of them.
fn metric_arg(metric: Option<&Bound<'_, PyAny>>) -> PyResult<Metric> {
    let valid = Metric::NAMES.map(|n| format!("'{n}'")).join(", ");
    let Some(metric) = metric else {
        return Ok(Metric::Euclidean);
    };
    let Ok(name) = metric.cast::<PyString>() else {
        let ty = metric.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "metric must be a str, one of {valid}; got {ty}"
        )));
    };
    let name = name.to_str()?;
    Metric::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown metric {name:?}; expected one of {valid}")))
}

/// A new, uninitialised C-contiguous `n × m` array of `O`, allocated by NumPy with the GIL held
/// (`numpy.empty`: a size the system cannot grant is NumPy's own `MemoryError`).
fn empty_output<'py, O: Element>(py: Python<'py>, n: usize, m: usize) -> PyResult<Bound<'py, PyArray2<O>>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", dtype::<O>(py))?;
    let out = py
        .import("numpy")?
        .call_method("empty", ((n, m),), Some(&kwargs))?;
    Ok(out.cast_into::<PyArray2<O>>()?)
}

/// The one parsing of a `pairwise_distances` call (direct call and task form), once the dtypes
/// are known: `Tx`, `Ty` the inputs', `O` the output's.
fn prepare<'py, Tx, Ty, O>(
    x: PyReadonlyArray2<'py, Tx>,
    y: Option<PyReadonlyArray2<'py, Ty>>,
    metric: Metric,
    threads: Threads,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<()> + Send + 'static,
        impl FnOnce(Python<'_>, ()) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
>
where
    Tx: Element + Input,
    Ty: Element + Input,
    O: Element + Output,
{
    let py = x.py();
    let vx = View2::of(&x);
    let vy = y.as_ref().map(View2::of);
    let (n, d) = vx.shape();
    let m = vy.as_ref().map_or(n, |v| v.shape().0);
    if let Some(v) = &vy {
        if v.shape().1 != d {
            return Err(PyValueError::new_err(format!(
                "x and y must have the same number of columns, got x of shape ({n}, {d}) and y of \
                 shape ({m}, {})",
                v.shape().1
            )));
        }
    }
    let out = empty_output::<O>(py, n, m)?;
    let target = OutPtr {
        ptr: out.data(),
        len: n * m, // NumPy allocated it: the product fits
    };
    let work_bytes = n.saturating_mul(m).saturating_mul(d.max(1)).saturating_mul(8);
    let keep: (Py<PyAny>, Option<Py<PyAny>>) = (
        x.as_any().clone().unbind(),
        y.as_ref().map(|y| y.as_any().clone().unbind()),
    );
    let keep_out: Py<PyAny> = out.into_any().unbind();
    let work = move |ctx: &Ctx<'_>| {
        let target = target;
        // SAFETY: the inputs are alive and unmoved (`keep`, owned by the finish step, which
        // outlives this closure's run), as in the reductions. The output likewise (`keep_out`):
        // a new C-contiguous, aligned `n × m` array of `O` that nothing else has seen yet.
        unsafe {
            let dst = std::slice::from_raw_parts_mut(target.ptr, target.len);
            vx.with_c_slice(ctx, |xs, n, d| match &vy {
                Some(vy) => vy.with_c_slice(ctx, |ys, m, _| {
                    distance::pairwise_into(ctx, xs, n, Some((ys, m)), d, metric, dst)
                }),
                None => distance::pairwise_into::<Tx, Ty, O>(ctx, xs, n, None, d, metric, dst),
            })
        }
    };
    let finish = move |_py: Python<'_>, (): ()| {
        drop(keep);
        Ok(keep_out)
    };
    Ok(Prepared::new("pairwise_distances", work, finish)
        .threads(threads)
        .work_bytes(work_bytes))
}

/// Prepares the call for the input dtypes `$a` and `$b` and output `$o`, then `$then` on `$p`.
macro_rules! go {
    ($a:expr, $b:expr, $o:ty, $metric:expr, $threads:expr, |$p:ident| $then:expr) => {{
        let $p = prepare::<_, _, $o>($a, $b, $metric, $threads)?;
        $then
    }};
}

/// Dispatches on the dtype of `y` (x's already known as `$a`): float32 output when both are
/// float32 (`$o32`: `f32` for an `x` of float32, else `f64`), float64 otherwise.
macro_rules! with_y {
    ($a:ident, $t:ty, $y:expr, $o32:ty, $metric:expr, $threads:expr, |$p:ident| $then:expr) => {
        match $y {
            None => go!(
                $a,
                None::<PyReadonlyArray2<'_, $t>>,
                $o32,
                $metric,
                $threads,
                |$p| $then
            ),
            Some(Array2::F32(b)) => go!($a, Some(b), $o32, $metric, $threads, |$p| $then),
            Some(Array2::F64(b)) => go!($a, Some(b), f64, $metric, $threads, |$p| $then),
            Some(Array2::I32(b)) => go!($a, Some(b), f64, $metric, $threads, |$p| $then),
            Some(Array2::I64(b)) => go!($a, Some(b), f64, $metric, $threads, |$p| $then),
        }
    };
}

/// Parses `x`, `y` and `metric`, dispatches on the dtypes to [`prepare`], then `$then` on `$p`.
macro_rules! with_prepared {
    ($x:ident, $y:ident, $metric:ident, $threads:expr, |$p:ident| $then:expr) => {{
        let x = Array2::from_py($x, "x")?;
        let y = $y
            .filter(|o| !o.is_none())
            .map(|o| Array2::from_py(o, "y"))
            .transpose()?;
        let metric = metric_arg($metric)?;
        let threads = $threads;
        match x {
            Array2::F32(a) => with_y!(a, f32, y, f32, metric, threads, |$p| $then),
            Array2::F64(a) => with_y!(a, f64, y, f64, metric, threads, |$p| $then),
            Array2::I32(a) => with_y!(a, i32, y, f64, metric, threads, |$p| $then),
            Array2::I64(a) => with_y!(a, i64, y, f64, metric, threads, |$p| $then),
        }
    }};
}

/// The distance between every row of ``x`` and every row of ``y``, computed without the GIL on
/// every core: ``scipy.spatial.distance.cdist(x, y, metric)``'s values and accuracy.
///
/// Metrics: ``"euclidean"`` (``sqrt(sum((u - v)**2))``), ``"sqeuclidean"``, ``"cityblock"``
/// (``sum(abs(u - v))``) and ``"cosine"`` (``1 - u.v / (|u| |v|)``, the quotient clipped to
/// [-1, 1]; a zero row gives NaN, as in ``cdist``). Every sum is accumulated in float64, term
/// by term in column order, each square formed from the difference (never
/// ``|u|**2 + |v|**2 - 2 u.v``, which cancels): the accuracy of ``cdist``. Float32 input
/// (both arrays) gives a float32 result, each value rounded once from float64; any other input
/// (float64, int32, int64, or a mix) gives float64, integers converted as by
/// ``astype(np.float64)`` while the rows are packed (no copy of the input). NaN propagates.
///
/// With ``y`` None, the distances of ``x`` to itself: half the work (the result is mirrored),
/// exactly symmetric, with an exactly zero diagonal (NaN for a row whose distance to itself is
/// NaN, as ``cdist(x, x)``).
///
/// A register-blocked micro-kernel (AVX2 + FMA when the CPU has them) over 96 × 96 tiles of the
/// output, in parallel; each value is one sum in a fixed order, so the result is the same, bit
/// for bit, for every ``threads`` value and on every CPU.
///
/// Args:
///     x: a 2-D array ``(n, d)`` of float32, float64, int32 or int64 (NumPy array or
///        buffer-protocol object); any layout (non-C-contiguous input is gathered into a
///        temporary copy, GIL-free).
///     y: a 2-D array ``(m, d)`` of the same kinds, or None for ``x`` itself.
///     metric: ``"euclidean"``, ``"sqeuclidean"``, ``"cityblock"`` or ``"cosine"``.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     A new C-contiguous ``(n, m)`` array (``(n, n)`` without ``y``): float32 for float32
///     inputs, else float64. ``n`` or ``m`` zero gives an empty array; ``d == 0`` gives zeros
///     (NaN for ``"cosine"``, as ``cdist``).
///
/// Raises:
///     TypeError: ``x`` or ``y`` is not an array/buffer or has another dtype; ``metric`` is not
///         a str; ``threads`` is not an int.
///     ValueError: ``x`` or ``y`` is not 2-D; they have different numbers of columns;
///         ``metric`` is unknown; ``threads`` < 1.
///     MemoryError: the ``(n, m)`` result or the packed copies of the inputs cannot be
///         allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> x = np.array([[0.0, 0.0], [3.0, 4.0]])
///     >>> gilfree.pairwise_distances(x)
///     array([[0., 5.],
///            [5., 0.]])
///     >>> gilfree.pairwise_distances(x, np.array([[1.0, 0.0]]), metric="cityblock")
///     array([[1.],
///            [6.]])
#[pyfunction(
    name = "pairwise_distances",
    signature = (x, y = None, *, metric = None, threads = None, progress = None),
    text_signature = "(x, y=None, *, metric='euclidean', threads=None, progress=None)"
)]
pub(crate) fn pairwise_distances_py<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: Option<&Bound<'py, PyAny>>,
    metric: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!(x, y, metric, threads_arg(threads)?, |p| p.call(py))
    })
}

/// The task form of :func:`gilfree.pairwise_distances` (``threads`` must be None or 1). The
/// arrays are read on a pool worker after ``submit`` returned: do not modify them until the
/// future is done.
#[pyfunction(
    name = "pairwise_distances",
    signature = (x, y = None, *, metric = None, threads = None),
    text_signature = "(x, y=None, *, metric='euclidean', threads=None)"
)]
fn pairwise_distances_task<'py>(
    x: &Bound<'py, PyAny>,
    y: Option<&Bound<'py, PyAny>>,
    metric: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_threads("pairwise_distances", threads)?;
    with_prepared!(x, y, metric, Threads::Caller, |p| p.task(x.py()))
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pairwise_distances_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pairwise_distances_task, m)?)?;
    Ok(())
}
