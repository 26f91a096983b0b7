//! `sum, mean, var, std, moments, min, max, argmin, argmax`: adapters over `gilfree_kernels::kernels::reduce`.

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::reduce;
use gilfree_kernels::Error;
use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::array::{Array1, Array2, View, View2};
use gilfree_pyo3::args::{ddof_arg, threads_arg};
use gilfree_pyo3::task_threads;
use gilfree_pyo3::to_pyerr;
use gilfree_pyo3::Prepared;

/// The one parsing of a reduction call (direct call and task form): the input validated and
/// described now, read on the pool (a direct call) or on a worker (a task) later. `nonempty`:
/// the kernel has no value for an empty input (min, max, argmin, argmax): `ValueError` now.
fn prepare_1d<'py, T, R, F, A>(
    kernel: &'static str,
    a: A,
    nonempty: bool,
    threads: Threads,
    f: F,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<R> + Send + 'static,
        impl FnOnce(Python<'_>, R) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
>
where
    T: Element + Copy + Sync + 'static,
    R: for<'x> IntoPyObject<'x> + Send + 'static,
    F: FnOnce(&Ctx<'_>, &[T]) -> gilfree_kernels::Result<R> + Send + 'static,
    A: Input<'py, T>,
{
    let view = a.source();
    if nonempty && view.len() == 0 {
        return Err(to_pyerr(kernel, Error::EmptyInput));
    }
    let bytes = view.nbytes();
    // A strong reference to the (NumPy) array, so that its buffer outlives the work. It is owned
    // by the finish step, which lives until the work returned (and is dropped with the GIL held).
    let keep: Py<PyAny> = a.object();
    let work = move |ctx: &Ctx<'_>| {
        // SAFETY: the array is alive: `keep` (owned by the finish step below, which outlives
        // this closure's run, in a direct call and in a task alike) holds a strong reference to
        // it. NumPy frees or moves an array's buffer only when the array dies, or in
        // `ndarray.resize`, which refuses while other references exist (ours) unless given
        // `refcheck=False`, which NumPy documents as unsafe. The dtype and shape were checked
        // with the GIL held. The program must not write to the array while a call reads it: that
        // would be a data race in any language.
        unsafe { view.with_slice(ctx, |s| f(ctx, s)) }
    };
    let finish = move |py: Python<'_>, r: R| {
        drop(keep);
        r.into_py_any(py)
    };
    Ok(Prepared::new(kernel, work, finish)
        .threads(threads)
        .work_bytes(bytes))
}

/// A borrowed input array and how its elements are read once detached.
trait Input<'py, T> {
    /// The layout, as a `Send` description read on the pool.
    fn source(&self) -> Source<T>;
    /// A strong reference to the array, kept until the work returned.
    fn object(&self) -> Py<PyAny>;
}

impl<'py, T: Element + Copy> Input<'py, T> for PyReadonlyArray1<'py, T> {
    fn source(&self) -> Source<T> {
        Source::One(View::of(self))
    }
    fn object(&self) -> Py<PyAny> {
        self.as_any().clone().unbind()
    }
}

impl<'py, T: Element + Copy> Input<'py, T> for PyReadonlyArray2<'py, T> {
    fn source(&self) -> Source<T> {
        Source::Two(View2::of(self))
    }
    fn object(&self) -> Py<PyAny> {
        self.as_any().clone().unbind()
    }
}

/// A 1-D input, or a 2-D one reduced over every element in C order (`axis=None`: argmin and
/// argmax give NumPy's flat C-order index).
enum Source<T> {
    One(View<T>),
    Two(View2<T>),
}

impl<T: Element + Copy + Sync> Source<T> {
    fn len(&self) -> usize {
        match self {
            Source::One(v) => v.len(),
            Source::Two(v) => v.len(),
        }
    }

    fn nbytes(&self) -> usize {
        match self {
            Source::One(v) => v.nbytes(),
            Source::Two(v) => v.nbytes(),
        }
    }

    /// # Safety
    ///
    /// As [`View::with_slice`].
    unsafe fn with_slice<R>(
        &self,
        ctx: &Ctx<'_>,
        f: impl FnOnce(&[T]) -> gilfree_kernels::Result<R>,
    ) -> gilfree_kernels::Result<R> {
        match self {
            // SAFETY: forwarded.
            Source::One(v) => unsafe { v.with_slice(ctx, f) },
            // SAFETY: forwarded.
            Source::Two(v) => unsafe { v.with_c_slice(ctx, |s, _, _| f(s)) },
        }
    }
}

/// True for a NumPy array of two dimensions (anything else goes to the 1-D validation, whose
/// errors name what is accepted).
fn is_2d(a: &Bound<'_, PyAny>) -> bool {
    a.cast::<PyUntypedArray>().is_ok_and(|x| x.ndim() == 2)
}

/// Dispatches on the input's dtype to [`prepare_1d`], then `$then` on the prepared kernel `$p`;
/// `float` and `int` are closures `|ctx, slice| ...` (pasted once per dtype, so each is
/// instantiated for its element type).
macro_rules! with_prepared {
    ($kernel:literal, $a:ident, $threads:expr, $nonempty:expr, float: $float:expr, int: $int:expr, |$p:ident| $then:expr) => {{
        let threads = $threads;
        if is_2d($a) {
            match Array2::from_py($a, "a")? {
                Array2::F32(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $float)?;
                    $then
                }
                Array2::F64(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $float)?;
                    $then
                }
                Array2::I32(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $int)?;
                    $then
                }
                Array2::I64(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $int)?;
                    $then
                }
            }
        } else {
            match Array1::from_py($a, "a")? {
                Array1::F32(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $float)?;
                    $then
                }
                Array1::F64(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $float)?;
                    $then
                }
                Array1::I32(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $int)?;
                    $then
                }
                Array1::I64(x) => {
                    let $p = prepare_1d($kernel, x, $nonempty, threads, $int)?;
                    $then
                }
            }
        }
    }};
}

/// A direct call: the prepared kernel run now, its value returned.
macro_rules! dispatch {
    ($py:ident, $kernel:literal, $a:ident, $threads:ident, $nonempty:expr, float: $float:expr, int: $int:expr $(,)?) => {
        with_prepared!($kernel, $a, threads_arg($threads)?, $nonempty, float: $float, int: $int,
            |p| p.run($py)?.into_bound_py_any($py))
    };
    ($py:ident, $kernel:literal, $a:ident, $threads:ident, $nonempty:expr, any: $any:expr $(,)?) => {
        dispatch!($py, $kernel, $a, $threads, $nonempty, float: $any, int: $any)
    };
}

/// The sum of a 1-D array, computed without the GIL.
///
/// Float input is summed pairwise in float64 (float32 is widened, so the result is more accurate
/// than NumPy's float32 accumulation) and returned as a Python float. Integer input is summed
/// exactly and returned as a Python int; a sum outside int64 raises OverflowError instead of
/// wrapping around as NumPy does. The same input gives the bit-identical result for every
/// ``threads`` value: chunk boundaries depend on the length only and partial sums combine in a
/// fixed order.
///
/// Args:
///     a: a 1-D NumPy array or buffer-protocol object of float32, float64, int32 or int64.
///        Strided input is gathered into a temporary contiguous copy (GIL-free).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Raises:
///     TypeError: ``a`` is not an array/buffer, or has another dtype; ``threads`` is not an int.
///     ValueError: ``a`` is not 1-D; ``threads`` < 1.
///     OverflowError: an integer sum outside int64.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.sum(np.arange(1_000_000, dtype=np.int64))
///     499999500000
///     >>> gilfree.sum(np.array([0.1, 0.2, 0.3]), threads=1)
///     0.6000000000000001
#[pyfunction(name = "sum", signature = (a, *, threads = None))]
pub(crate) fn sum_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "sum", a, threads, false, float: reduce::sum_float, int: reduce::sum_int)
}

/// The arithmetic mean of a 1-D array as a Python float, computed without the GIL.
///
/// Floats: the pairwise float64 sum divided by the length. Integers: the exact sum, rounded
/// once, divided by the length (never overflows). An empty array gives nan, as NumPy does, but
/// without a warning. Deterministic for every ``threads`` value.
///
/// Args:
///     a: a 1-D array of float32, float64, int32 or int64 (see :func:`gilfree.sum`).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.mean(np.array([1, 2, 3, 4], dtype=np.int32))
///     2.5
#[pyfunction(name = "mean", signature = (a, *, threads = None))]
pub(crate) fn mean_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "mean", a, threads, false, float: reduce::mean_float, int: reduce::mean_int)
}

/// The variance of a 1-D array, ``sum((x - mean)**2) / (n - ddof)``, in one pass over memory.
///
/// Each cache-sized block gets a two-pass mean and sum of squared deviations while it is in L1;
/// blocks merge with Chan et al.'s parallel update. That matches NumPy (which makes several
/// passes and a temporary array) to ~1e-15 on well-conditioned data and stays accurate where the
/// one-pass textbook formula fails (mean 1e9, spread 1). ``n - ddof <= 0`` gives NumPy's answer
/// (inf, or nan if all values are equal), without a warning. Deterministic for every ``threads`` value.
///
/// Args:
///     a: a 1-D array of float32, float64, int32 or int64 (see :func:`gilfree.sum`).
///     ddof: delta degrees of freedom (an int; negative values are allowed, as in NumPy).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.var(np.array([1.0, 2.0, 3.0, 4.0]))
///     1.25
///     >>> gilfree.var(np.array([1e9 + 1, 1e9 + 2, 1e9 + 3]), ddof=1)
///     1.0
#[pyfunction(name = "var", signature = (a, *, ddof = 0, threads = None))]
pub(crate) fn var_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "var", a, threads, false, any: move |ctx, s| reduce::var(ctx, s, ddof))
}

/// The moments of a 1-D array, ``(n, mean, m2)``: its length, its mean and the sum of squared
/// deviations from that mean — the mergeable partial behind :func:`gilfree.var`
/// (``var = m2 / (n - ddof)``), for Dask, streaming and any code that reduces in pieces.
///
/// Partials of disjoint pieces merge exactly as the kernel merges its own chunks (Chan, Golub and
/// LeVeque's update), in any grouping::
///
///     def merge(a, b):
///         (na, ma, m2a), (nb, mb, m2b) = a, b
///         n = na + nb
///         if na == 0 or nb == 0:
///             return b if na == 0 else a
///         d = mb - ma
///         return n, ma + d * nb / n, m2a + m2b + d * d * na * nb / n
///
/// An empty array gives ``(0, 0.0, 0.0)``, the identity of that merge. Computed in one pass over
/// memory, accurate at mean 1e9 / spread 1 like :func:`gilfree.var`, and the same bits for every
/// ``threads`` value. NaN in the input gives NaN mean and m2.
///
/// Args:
///     a: a 1-D array of float32, float64, int32 or int64 (see :func:`gilfree.sum`).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     ``(n, mean, m2)``: an int and two floats.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.moments(np.array([1.0, 2.0, 3.0, 4.0]))
///     (4, 2.5, 5.0)
///     >>> n, mean, m2 = gilfree.moments(np.arange(10**6, dtype=np.int64))
///     >>> m2 / n == gilfree.var(np.arange(10**6, dtype=np.int64))
///     True
#[pyfunction(name = "moments", signature = (a, *, threads = None))]
pub(crate) fn moments_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "moments", a, threads, false, any: reduce::moments)
}

/// The standard deviation of a 1-D array: the square root of :func:`gilfree.var`.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.std(np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]))
///     2.0
#[pyfunction(name = "std", signature = (a, *, ddof = 0, threads = None))]
pub(crate) fn std_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "std", a, threads, false, any: move |ctx, s| reduce::std(ctx, s, ddof))
}

/// The smallest element of a 1-D array (a Python float or int). NaN propagates as in NumPy: any
/// NaN makes the result nan.
///
/// Raises:
///     ValueError: ``a`` is empty.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.min(np.array([3, -1, 2], dtype=np.int64))
///     -1
///     >>> gilfree.min(np.array([1.0, np.nan, 0.0]))
///     nan
#[pyfunction(name = "min", signature = (a, *, threads = None))]
pub(crate) fn min_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "min", a, threads, true, any: reduce::min)
}

/// The largest element of a 1-D array (a Python float or int). NaN propagates as in NumPy.
///
/// Raises:
///     ValueError: ``a`` is empty.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.max(np.array([3.5, -1.0, 2.0], dtype=np.float32))
///     3.5
#[pyfunction(name = "max", signature = (a, *, threads = None))]
pub(crate) fn max_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "max", a, threads, true, any: reduce::max)
}

/// The index of the first smallest element; if ``a`` holds a NaN, the index of the first NaN
/// (as NumPy).
///
/// Raises:
///     ValueError: ``a`` is empty.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.argmin(np.array([3.0, 1.0, 1.0]))
///     1
#[pyfunction(name = "argmin", signature = (a, *, threads = None))]
pub(crate) fn argmin_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "argmin", a, threads, true, any: reduce::argmin)
}

/// The index of the first largest element; if ``a`` holds a NaN, the index of the first NaN
/// (as NumPy).
///
/// Raises:
///     ValueError: ``a`` is empty.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.argmax(np.array([1.0, np.nan, 3.0, np.nan]))
///     1
#[pyfunction(name = "argmax", signature = (a, *, threads = None))]
pub(crate) fn argmax_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch!(py, "argmax", a, threads, true, any: reduce::argmax)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sum_py, m)?)?;
    m.add_function(wrap_pyfunction!(mean_py, m)?)?;
    m.add_function(wrap_pyfunction!(var_py, m)?)?;
    m.add_function(wrap_pyfunction!(std_py, m)?)?;
    m.add_function(wrap_pyfunction!(moments_py, m)?)?;
    m.add_function(wrap_pyfunction!(min_py, m)?)?;
    m.add_function(wrap_pyfunction!(max_py, m)?)?;
    m.add_function(wrap_pyfunction!(argmin_py, m)?)?;
    m.add_function(wrap_pyfunction!(argmax_py, m)?)?;
    Ok(())
}

// --- task forms (gilfree.Executor) -----------------------------------------------------------

/// A task form: the same parsing as the direct call, then a task instead of a call.
macro_rules! dispatch_task {
    ($kernel:literal, $a:ident, $threads:ident, $nonempty:expr, float: $float:expr, int: $int:expr $(,)?) => {{
        task_threads($kernel, $threads)?;
        with_prepared!($kernel, $a, Threads::Caller, $nonempty, float: $float, int: $int, |p| p.task($a.py()))
    }};
    ($kernel:literal, $a:ident, $threads:ident, $nonempty:expr, any: $any:expr $(,)?) => {
        dispatch_task!($kernel, $a, $threads, $nonempty, float: $any, int: $any)
    };
}

/// The task form of :func:`gilfree.sum` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "sum", signature = (a, *, threads = None))]
fn sum_task<'py>(a: &Bound<'py, PyAny>, threads: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("sum", a, threads, false, float: reduce::sum_float, int: reduce::sum_int)
}

/// The task form of :func:`gilfree.mean`.
#[pyfunction(name = "mean", signature = (a, *, threads = None))]
fn mean_task<'py>(a: &Bound<'py, PyAny>, threads: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("mean", a, threads, false, float: reduce::mean_float, int: reduce::mean_int)
}

/// The task form of :func:`gilfree.var`.
#[pyfunction(name = "var", signature = (a, *, ddof = 0, threads = None))]
fn var_task<'py>(
    a: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("var", a, threads, false, any: move |ctx, s| reduce::var(ctx, s, ddof))
}

/// The task form of :func:`gilfree.moments`.
#[pyfunction(name = "moments", signature = (a, *, threads = None))]
fn moments_task<'py>(
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("moments", a, threads, false, any: reduce::moments)
}

/// The task form of :func:`gilfree.std`.
#[pyfunction(name = "std", signature = (a, *, ddof = 0, threads = None))]
fn std_task<'py>(
    a: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("std", a, threads, false, any: move |ctx, s| reduce::std(ctx, s, ddof))
}

/// The task form of :func:`gilfree.min` (an empty array is refused at submit).
#[pyfunction(name = "min", signature = (a, *, threads = None))]
fn min_task<'py>(a: &Bound<'py, PyAny>, threads: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("min", a, threads, true, any: reduce::min)
}

/// The task form of :func:`gilfree.max` (an empty array is refused at submit).
#[pyfunction(name = "max", signature = (a, *, threads = None))]
fn max_task<'py>(a: &Bound<'py, PyAny>, threads: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("max", a, threads, true, any: reduce::max)
}

/// The task form of :func:`gilfree.argmin` (an empty array is refused at submit).
#[pyfunction(name = "argmin", signature = (a, *, threads = None))]
fn argmin_task<'py>(
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("argmin", a, threads, true, any: reduce::argmin)
}

/// The task form of :func:`gilfree.argmax` (an empty array is refused at submit).
#[pyfunction(name = "argmax", signature = (a, *, threads = None))]
fn argmax_task<'py>(
    a: &Bound<'py, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch_task!("argmax", a, threads, true, any: reduce::argmax)
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sum_task, m)?)?;
    m.add_function(wrap_pyfunction!(mean_task, m)?)?;
    m.add_function(wrap_pyfunction!(var_task, m)?)?;
    m.add_function(wrap_pyfunction!(std_task, m)?)?;
    m.add_function(wrap_pyfunction!(moments_task, m)?)?;
    m.add_function(wrap_pyfunction!(min_task, m)?)?;
    m.add_function(wrap_pyfunction!(max_task, m)?)?;
    m.add_function(wrap_pyfunction!(argmin_task, m)?)?;
    m.add_function(wrap_pyfunction!(argmax_task, m)?)?;
    Ok(())
}
