//! `sort`: adapters over `gilfree_kernels::kernels::sort`.

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::sort::{self, SortKey};
use numpy::{
    dtype, Element, PyArray1, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::array::{Array1, View};
use gilfree_pyo3::args::threads_arg;
use gilfree_pyo3::task_threads;
use gilfree_pyo3::Prepared;

/// The writable output buffer of `out=`, as raw parts (`Send`, to cross into the detached work).
struct OutPtr<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the pointer is only dereferenced by the one work closure that owns it, while the
// finish step (which outlives the work) holds a strong reference to the array.
unsafe impl<T: Send> Send for OutPtr<T> {}

/// Validates `out=` for an input `a` of element type `T` and length `len`.
fn out_array<'py, T: Element>(
    out: &Bound<'py, PyAny>,
    a: &PyReadonlyArray1<'py, T>,
) -> PyResult<Bound<'py, PyArray1<T>>> {
    let py = out.py();
    let Ok(arr) = out.cast::<PyUntypedArray>() else {
        let ty = out.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "out must be a NumPy array (numpy.ndarray), got {ty}"
        )));
    };
    let want = dtype::<T>(py);
    if !arr.dtype().is_equiv_to(&want) {
        return Err(PyTypeError::new_err(format!(
            "out has dtype {}; expected {}, the dtype of a",
            arr.dtype().str()?,
            want.str()?
        )));
    }
    if arr.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "out must be 1-D, got a {}-D array of shape {:?}",
            arr.ndim(),
            arr.shape()
        )));
    }
    let len = a.len();
    if arr.len() != len {
        return Err(PyValueError::new_err(format!(
            "out has length {}; expected {len}, the length of a",
            arr.len()
        )));
    }
    // SAFETY: the dtype is equivalent to `T` and ndim is 1 (checked above).
    let typed = unsafe { arr.cast_unchecked::<PyArray1<T>>() }.clone();
    if !typed.is_contiguous() || !(len <= 1 || typed.strides()[0] == size_of::<T>() as isize) {
        return Err(PyValueError::new_err(
            "out must be C-contiguous (use numpy.empty_like(a) or numpy.ascontiguousarray)",
        ));
    }
    if !typed.data().is_aligned() {
        return Err(PyValueError::new_err("out must be aligned for its dtype"));
    }
    let shares = py
        .import("numpy")?
        .call_method1("may_share_memory", (a.as_any(), typed.as_any()))?
        .is_truthy()?;
    if shares {
        return Err(PyValueError::new_err(
            "out must not share memory with a (to sort in place, use a.sort(); or pass out=None \
             for a new array)",
        ));
    }
    // Writable, and not borrowed elsewhere (rust-numpy's borrow checker); released at once.
    drop(
        typed
            .try_readwrite()
            .map_err(|e| PyValueError::new_err(format!("out must be a writable array ({e})")))?,
    );
    Ok(typed)
}

/// The one parsing of a `sort` call (direct call and task form).
fn prepare<'py, T>(
    a: PyReadonlyArray1<'py, T>,
    out: Option<&Bound<'py, PyAny>>,
    threads: Threads,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Option<Vec<T>>> + Send + 'static,
        impl FnOnce(Python<'_>, Option<Vec<T>>) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
>
where
    T: Element + SortKey,
{
    let out = out
        .filter(|o| !o.is_none())
        .map(|o| out_array(o, &a))
        .transpose()?;
    let view = View::of(&a);
    let bytes = view.nbytes();
    let target = out.as_ref().map(|o| OutPtr {
        ptr: o.data(),
        len: o.len(),
    });
    let keep: Py<PyAny> = a.as_any().clone().unbind();
    let keep_out: Option<Py<PyAny>> = out.map(|o| o.into_any().unbind());
    let work = move |ctx: &Ctx<'_>| {
        // SAFETY: the input is alive and unmoved (`keep`, owned by the finish step, which
        // outlives this closure's run), as in the reductions (`src/kernels/reduce.rs`). The
        // output likewise (`keep_out`): C-contiguous, aligned, writable, `len` elements of `T`,
        // not overlapping the input (checked with the GIL held).
        unsafe {
            view.with_slice(ctx, |s| match target {
                Some(t) => {
                    let dst = std::slice::from_raw_parts_mut(t.ptr, t.len);
                    sort::sort_into(ctx, s, dst).map(|()| None)
                }
                None => sort::sort(ctx, s).map(Some),
            })
        }
    };
    let finish = move |py: Python<'_>, r: Option<Vec<T>>| {
        drop(keep);
        match (r, keep_out) {
            (Some(v), _) => Ok(PyArray1::from_vec(py, v).into_any().unbind()),
            (None, Some(o)) => Ok(o),
            (None, None) => unreachable!("sort wrote into out= without one"),
        }
    };
    Ok(Prepared::new("sort", work, finish)
        .threads(threads)
        .work_bytes(bytes))
}

/// Dispatches on the input's dtype to [`prepare`], then `$then` on the prepared kernel `$p`.
macro_rules! with_prepared {
    ($a:ident, $out:ident, $threads:expr, |$p:ident| $then:expr) => {{
        let threads = $threads;
        match Array1::from_py($a, "a")? {
            Array1::F32(x) => {
                let $p = prepare(x, $out, threads)?;
                $then
            }
            Array1::F64(x) => {
                let $p = prepare(x, $out, threads)?;
                $then
            }
            Array1::I32(x) => {
                let $p = prepare(x, $out, threads)?;
                $then
            }
            Array1::I64(x) => {
                let $p = prepare(x, $out, threads)?;
                $then
            }
        }
    }};
}

/// A sorted copy of a 1-D array, computed without the GIL on every core: the same array as
/// ``numpy.sort(a)``.
///
/// float32, float64, int32 and int64; NaN sorts last, as in NumPy. A parallel sample sort
/// (splitters from a regular sample; every element classified and scattered, in parallel, into
/// buckets of balanced size), then each bucket sorted in cache by a radix sort, buckets on every
/// worker. The sorted order is unique, so the result is the same for every ``threads`` value
/// (``-0.0`` sorts before ``0.0``; NumPy treats them as equal and ``np.array_equal`` agrees).
///
/// Memory: the output, plus a scratch buffer of ``len(a)`` elements. A scratch buffer of at
/// most 1 MiB (128 Ki float64) stays with the thread that used it, for its next sort: a call
/// then allocates only its output, as ``numpy.sort`` does.
///
/// Args:
///     a: a 1-D NumPy array or buffer-protocol object of float32, float64, int32 or int64.
///        Strided input is gathered into a temporary contiguous copy (GIL-free).
///     out: None for a new array, or a writable, C-contiguous 1-D NumPy array of the dtype and
///        length of ``a`` to fill and return. It must not share memory with ``a`` (checked with
///        ``numpy.may_share_memory``, which may refuse arrays that only interleave); to sort in
///        place use ``a.sort()``.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     A new array (or ``out``) of the dtype of ``a``.
///
/// Raises:
///     TypeError: ``a`` is not an array/buffer or has another dtype; ``out`` is not a NumPy
///         array or has a dtype other than that of ``a``; ``threads`` is not an int.
///     ValueError: ``a`` is not 1-D; ``out`` has another shape, is not C-contiguous, aligned or
///         writable, or shares memory with ``a``; ``threads`` < 1.
///     MemoryError: the output or the scratch buffer (``len(a)`` elements) cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.sort(np.array([3.0, np.nan, -1.0, 2.5]))
///     array([-1. ,  2.5,  3. ,  nan])
///     >>> out = np.empty(4, dtype=np.int64)
///     >>> gilfree.sort(np.array([4, -2, 9, 0]), out=out) is out
///     True
///     >>> out
///     array([-2,  0,  4,  9])
#[pyfunction(name = "sort", signature = (a, *, out = None, threads = None, progress = None))]
pub(crate) fn sort_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!(a, out, threads_arg(threads)?, |p| p.call(py))
    })
}

/// The task form of :func:`gilfree.sort` (``threads`` must be None or 1). The array is read,
/// and ``out`` written, on a pool worker after ``submit`` returned: do not touch either until
/// the future is done.
#[pyfunction(name = "sort", signature = (a, *, out = None, threads = None))]
fn sort_task<'py>(
    a: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_threads("sort", threads)?;
    with_prepared!(a, out, Threads::Caller, |p| p.task(a.py()))
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sort_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sort_task, m)?)?;
    Ok(())
}
