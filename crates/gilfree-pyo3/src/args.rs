//! Argument parsing, one rule per kind of argument, as gilfree's own kernels parse theirs.
//!
//! * **bool is not a number.** Python's `True` and NumPy's `np.bool_` are `TypeError` wherever an
//!   int or a float is expected (`threads=True`, `ddof=True`, `AtomicFloat(np.True_)`,
//!   `mandelbrot(xmin=np.bool_(0))`): a flag passed by mistake must not become 1.
//! * **ints** are `int` or objects with `__index__` (NumPy integers), as `range()` takes them.
//! * **floats** are `float`, `int`, or objects with `__float__` (NumPy floats).
//! * Every error names the argument; a value that does not fit the native type is an
//!   `OverflowError` naming it too.

use std::sync::atomic::{AtomicPtr, Ordering};

use gilfree_engine::Threads;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::errors::to_pyerr;

/// True for Python's `bool`, NumPy's `bool_` and a 0-d NumPy array of bools (`np.array(True)`).
pub fn is_bool(obj: &Bound<'_, PyAny>) -> bool {
    if obj.is_instance_of::<PyBool>() {
        return true;
    }
    // NumPy's: only looked up for objects that are not plain numbers, and only if NumPy was
    // imported (nothing is a NumPy object otherwise).
    let py = obj.py();
    let (Some(np), Some(names)) = (numpy_module(py), names(py)) else {
        return false;
    };
    if np
        .getattr(names.bool_.bind(py))
        .is_ok_and(|bool_| obj.is_instance(&bool_).unwrap_or(false))
    {
        return true;
    }
    is_ndarray(obj)
        && obj
            .getattr("ndim")
            .and_then(|n| n.extract::<usize>())
            .is_ok_and(|n| n == 0)
        && obj
            .getattr("dtype")
            .and_then(|d| d.getattr("kind"))
            .and_then(|k| k.extract::<String>())
            .is_ok_and(|k| k == "b")
}

/// What the argument checks look up, made once per process: `sys.modules` (every later lookup in
/// it is one hash probe) and the attribute names, as Python strings.
struct Names {
    modules: Py<PyDict>,
    numpy: Py<PyString>,
    numpy_ma: Py<PyString>,
    ndarray: Py<PyString>,
    bool_: Py<PyString>,
    masked_array: Py<PyString>,
}

/// [`Names`], built without a lock: a thread that loses the race drops its copy. A lock (a
/// `OnceLock`, pyo3's `intern!`) held by a thread at `fork()` would stay held in the child forever,
/// and these run on every array call (the fork stress test caught one in `is_masked`).
static NAMES: AtomicPtr<Names> = AtomicPtr::new(std::ptr::null_mut());

fn names(py: Python<'_>) -> Option<&'static Names> {
    let ptr = NAMES.load(Ordering::Acquire);
    if !ptr.is_null() {
        // SAFETY: a non-null NAMES is a leaked `Box<Names>`, never freed.
        return Some(unsafe { &*ptr });
    }
    let modules = py
        .import("sys")
        .ok()?
        .getattr("modules")
        .ok()?
        .cast_into::<PyDict>()
        .ok()?;
    let made = Box::into_raw(Box::new(Names {
        modules: modules.unbind(),
        numpy: PyString::new(py, "numpy").unbind(),
        numpy_ma: PyString::new(py, "numpy.ma").unbind(),
        ndarray: PyString::new(py, "ndarray").unbind(),
        bool_: PyString::new(py, "bool_").unbind(),
        masked_array: PyString::new(py, "MaskedArray").unbind(),
    }));
    match NAMES.compare_exchange(std::ptr::null_mut(), made, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: we just leaked `made` into NAMES; it is never freed.
        Ok(_) => Some(unsafe { &*made }),
        Err(winner) => {
            // SAFETY: `made` lost the race and was never shared; `winner` is a leaked box.
            drop(unsafe { Box::from_raw(made) });
            Some(unsafe { &*winner })
        }
    }
}

/// A module, if it was imported (never imports it).
fn imported<'py>(py: Python<'py>, name: &Py<PyString>) -> Option<Bound<'py, PyAny>> {
    names(py)?.modules.bind(py).get_item(name.bind(py)).ok().flatten()
}

/// NumPy, if it was imported (never imports it).
fn numpy_module(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    imported(py, &names(py)?.numpy)
}

/// True for a `numpy.ndarray` or a subclass of it.
fn is_ndarray(obj: &Bound<'_, PyAny>) -> bool {
    numpy_module(obj.py())
        .and_then(|np| np.getattr(names(obj.py())?.ndarray.bind(obj.py())).ok())
        .is_some_and(|nd| obj.is_instance(&nd).unwrap_or(false))
}

/// True for NumPy's masked values (`np.ma.masked`, a 0-d masked array): their "value" is a
/// placeholder, and `float()` of one is nan (with only a warning).
/// Also what gilfree's input layer uses to refuse masked arrays.
pub fn is_masked(obj: &Bound<'_, PyAny>) -> bool {
    let py = obj.py();
    // A MaskedArray exists only if numpy.ma was imported (NumPy 2 does not import it itself):
    // usually one failed dict probe, and no more.
    let Some(names) = names(py) else {
        return false;
    };
    let Some(ma) = imported(py, &names.numpy_ma) else {
        return false;
    };
    // A plain ndarray, the common case, is not one.
    if numpy_module(py)
        .and_then(|np| np.getattr(names.ndarray.bind(py)).ok())
        .is_some_and(|nd| obj.get_type().is(&nd))
    {
        return false;
    }
    ma.getattr(names.masked_array.bind(py))
        .is_ok_and(|masked| obj.is_instance(&masked).unwrap_or(false))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// An int argument: bools and non-ints are `TypeError` naming `arg` (objects with `__index__`,
/// such as NumPy integers, are ints, as in `range()`); the range is the caller's to check.
/// `expected` says what the argument accepts, for the message ("an int >= 1").
pub fn int_arg<'py>(obj: &Bound<'py, PyAny>, arg: &str, expected: &str) -> PyResult<Bound<'py, PyInt>> {
    let type_error = || PyTypeError::new_err(format!("{arg} must be {expected}, got {}", type_name(obj)));
    if obj.is_instance_of::<PyBool>() {
        return Err(type_error());
    }
    if let Ok(int) = obj.cast::<PyInt>() {
        return Ok(int.clone());
    }
    if is_bool(obj) {
        return Err(type_error());
    }
    obj.call_method0("__index__")
        .map_err(|_| type_error())?
        .cast_into::<PyInt>()
        .map_err(|_| type_error())
}

/// An int64 argument ([`int_arg`]); a value outside int64 is an `OverflowError` naming `arg`.
pub fn i64_arg(obj: &Bound<'_, PyAny>, arg: &str, expected: &str) -> PyResult<i64> {
    let int = int_arg(obj, arg, expected)?;
    int.extract::<i64>().map_err(|_| {
        PyOverflowError::new_err(format!(
            "{arg} = {int} does not fit in int64 (-2**63 <= {arg} < 2**63)"
        ))
    })
}

/// A positive int argument (`threads=`, `set_num_threads(n)`): [`int_arg`], then zero and
/// negatives are `ValueError`, naming the argument.
pub fn positive_int(obj: &Bound<'_, PyAny>, arg: &str, expected: &str) -> PyResult<u64> {
    let int = int_arg(obj, arg, expected)?;
    match int.extract::<i64>() {
        Ok(n) if n >= 1 => Ok(n.unsigned_abs()),
        Ok(n) => Err(PyValueError::new_err(format!(
            "{arg} must be {expected}, got {n}"
        ))),
        // Larger than int64: positive ones are simply "all the threads there are".
        Err(_) if int.gt(0)? => Ok(u64::MAX),
        Err(_) => Err(PyValueError::new_err(format!(
            "{arg} must be {expected}, got {int}"
        ))),
    }
}

/// A float64 argument: a float, an int (converted as `float()` does) or an object with
/// `__float__`; bools and everything else are `TypeError`, an int beyond float64's range an
/// `OverflowError`, each naming `arg`.
pub fn f64_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<f64> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(f.value());
    }
    let type_error =
        || PyTypeError::new_err(format!("{arg} must be a float or an int, got {}", type_name(obj)));
    if is_bool(obj) {
        return Err(type_error());
    }
    if is_masked(obj) {
        return Err(PyTypeError::new_err(format!(
            "{arg} is a masked value (numpy.ma): it has no number to use; filter masked values out \
             first (.compressed())"
        )));
    }
    obj.extract::<f64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            PyOverflowError::new_err(format!("{arg} is an int too large to convert to float64"))
        } else {
            type_error()
        }
    })
}

/// `ddof=` of var/std: an int (not a bool), any sign, within int64 (`OverflowError` naming
/// `ddof` beyond).
pub fn ddof_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    i64_arg(obj, "ddof", "an int")
}

/// Parses `threads=`: `None` → the shared pool, `1` → the calling thread, `k` → at most k workers.
pub fn threads_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Threads> {
    let request = match obj {
        None => None,
        Some(o) if o.is_none() => None,
        Some(o) => Some(positive_int(o, "threads", "None or an int >= 1")?),
    };
    Threads::from_request(request).map_err(|e| to_pyerr("threads", e))
}

/// `threads=` as a PyO3 argument type: `None` (take `Option<ThreadsArg>`) is the whole pool, `1`
/// the calling thread, `k` at most `k` workers; bools and non-ints are `TypeError`, `0` and
/// negatives `ValueError` (exactly gilfree's own rule).
///
/// ```
/// use gilfree_pyo3::{ThreadsArg, Threads};
/// assert_eq!(ThreadsArg::get(None), Threads::Pool);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadsArg(pub Threads);

impl ThreadsArg {
    /// The setting of an optional `threads=` argument: `None` is [`Threads::Pool`].
    pub fn get(arg: Option<ThreadsArg>) -> Threads {
        arg.map_or(Threads::Pool, |t| t.0)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for ThreadsArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        threads_arg(Some(&obj.to_owned())).map(ThreadsArg)
    }
}
