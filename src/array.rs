//! Input arrays: any 1-D NumPy array or buffer-protocol object of float32, float64, int32 or
//! int64, borrowed read-only with the GIL held.
//!
//! C-contiguous input is used in place (zero copy). Strided input (`a[::2]`, a column of a 2-D
//! array) is gathered into a temporary contiguous copy *after* the GIL is released: one extra pass
//! over the data and `len × itemsize` bytes of memory, still GIL-free.

use numpy::ndarray::ArrayView1;
use numpy::{
    dtype, Element, PyArray1, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyMemoryView;

/// A validated, read-only 1-D input, one variant per accepted dtype.
pub(crate) enum Array1<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

const ACCEPTED: &str = "float32, float64, int32 or int64";

impl<'py> Array1<'py> {
    /// Validates `obj` (argument `arg`) and borrows it read-only.
    pub(crate) fn from_py(obj: &Bound<'py, PyAny>, arg: &str) -> PyResult<Self> {
        let py = obj.py();
        let array = if let Ok(a) = obj.cast::<PyUntypedArray>() {
            a.clone()
        } else if let Ok(view) = PyMemoryView::from(obj) {
            // A buffer-protocol object (array.array, memoryview, bytearray, ...): NumPy wraps the
            // same memory, no copy.
            py.import("numpy")?
                .call_method1("asarray", (view,))
                .and_then(|a| Ok(a.cast_into::<PyUntypedArray>()?))
                .map_err(|e| PyTypeError::new_err(format!("{arg}: unsupported buffer format ({e})")))?
        } else {
            let ty = obj.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "{arg} must be a NumPy array or a buffer-protocol object of {ACCEPTED}, got {ty} \
                 (gilfree makes no hidden copies: convert with numpy.asarray() first)"
            )));
        };
        if array.ndim() != 1 {
            return Err(PyValueError::new_err(format!(
                "{arg} must be 1-D, got a {}-D array of shape {:?} (use .ravel() to reduce every element)",
                array.ndim(),
                array.shape()
            )));
        }
        let d = array.dtype();
        macro_rules! try_dtype {
            ($t:ty, $variant:ident) => {
                if d.is_equiv_to(&dtype::<$t>(py)) {
                    // SAFETY: the dtype is equivalent to `$t` and ndim is 1, which is everything
                    // `PyArray1<$t>` asserts about the object.
                    let typed = unsafe { array.cast_unchecked::<PyArray1<$t>>() };
                    return Ok(Array1::$variant(readonly(typed, arg)?));
                }
            };
        }
        try_dtype!(f64, F64);
        try_dtype!(f32, F32);
        try_dtype!(i64, I64);
        try_dtype!(i32, I32);
        let byteorder = if d.is_native_byteorder() == Some(false) {
            " in non-native byte order"
        } else {
            ""
        };
        Err(PyTypeError::new_err(format!(
            "{arg} has dtype {}{byteorder}; expected {ACCEPTED} in native byte order",
            d.str()?
        )))
    }
}

fn readonly<'py, T: Element>(a: &Bound<'py, PyArray1<T>>, arg: &str) -> PyResult<PyReadonlyArray1<'py, T>> {
    a.try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{arg} cannot be borrowed: {e}")))
}

/// The data of a borrowed input, ready to cross into the detached closure (it is `Send`).
pub(crate) enum Data<'a, T> {
    /// C-contiguous: used in place.
    Contiguous(&'a [T]),
    /// Strided: gathered into a contiguous copy when used.
    Strided(ArrayView1<'a, T>),
}

impl<'a, T: Element + Copy> Data<'a, T> {
    pub(crate) fn of(a: &'a PyReadonlyArray1<'_, T>) -> Self {
        match a.as_slice() {
            Ok(s) => Data::Contiguous(s),
            Err(_) => Data::Strided(a.as_array()),
        }
    }

    /// Input size in bytes (what decides whether the call is worth releasing the GIL for).
    pub(crate) fn nbytes(&self) -> usize {
        let len = match self {
            Data::Contiguous(s) => s.len(),
            Data::Strided(v) => v.len(),
        };
        len.saturating_mul(std::mem::size_of::<T>())
    }

    /// Calls `f` with a contiguous slice, gathering strided data first.
    pub(crate) fn with_slice<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        match self {
            Data::Contiguous(s) => f(s),
            Data::Strided(v) => {
                let gathered: Vec<T> = v.iter().copied().collect();
                f(&gathered)
            }
        }
    }
}
