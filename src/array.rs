//! Input arrays: any 1-D NumPy array or buffer-protocol object of float32, float64, int32 or
//! int64, borrowed read-only with the GIL held.
//!
//! C-contiguous, aligned input is used in place (zero copy). Any other layout — strided (`a[::2]`,
//! a column of a 2-D array), negative or zero strides (`a[::-1]`, `np.broadcast_to`), strides that
//! are not a multiple of the item size (a field of a packed record array, `as_strided`),
//! unaligned data — is gathered into a temporary contiguous copy *after* the GIL is released: one
//! extra pass over the data and `len × itemsize` bytes of memory (a `MemoryError` if that cannot
//! be allocated), still GIL-free, and interruptible. Non-native byte order and masked arrays are
//! refused with a message that says what to do.

use std::marker::PhantomData;
use std::mem::size_of;

use gilfree_kernels::engine::Ctx;
use gilfree_kernels::try_vec;
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
            refuse_masked(a, arg)?;
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
        let hint = if byteorder.is_empty() {
            String::new()
        } else {
            format!(" (convert with {arg}.astype({arg}.dtype.newbyteorder('=')))")
        };
        Err(PyTypeError::new_err(format!(
            "{arg} has dtype {}{byteorder}; expected {ACCEPTED} in native byte order{hint}",
            d.str()?
        )))
    }
}

/// A masked array's mask would be ignored (every element read, masked or not): refused.
fn refuse_masked(a: &Bound<'_, PyUntypedArray>, arg: &str) -> PyResult<()> {
    if gilfree_pyo3::args::is_masked(a) {
        return Err(PyTypeError::new_err(format!(
            "{arg} is a masked array: gilfree does not honour masks. Pass {arg}.compressed() to \
             drop the masked values, or {arg}.filled(value) to replace them"
        )));
    }
    Ok(())
}

fn readonly<'py, T: Element>(a: &Bound<'py, PyArray1<T>>, arg: &str) -> PyResult<PyReadonlyArray1<'py, T>> {
    a.try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{arg} cannot be borrowed: {e}")))
}

/// Initialises rust-numpy's lazily built, process-wide state (NumPy's C-API table, the borrow
/// checker's shared table) at import, on the importing thread.
///
/// Why: each is built on first use behind a once-cell. If another thread is building one at the
/// instant the process forks, the child inherits a cell that says "being built" and waits for a
/// builder that does not exist there: the child's first array argument hangs for ever. Built
/// before any other thread can reach them, they are never mid-build at a fork.
pub(crate) fn warm_up(py: Python<'_>) -> PyResult<()> {
    let array = PyArray1::<f64>::zeros(py, 1, false);
    let _borrowed = array.try_readonly()?;
    let _ = dtype::<f64>(py);
    Ok(())
}

/// Element counts between two cancellation checks while a strided input is gathered (512 KiB of
/// float64: ~0.1 ms of copying).
const GATHER_BLOCK: usize = 1 << 16;

/// A read-only 1-D input as raw parts: element `i` is the `T` stored at byte `ptr + i * stride`.
///
/// Built from NumPy's own description of the array (its data pointer and its strides *in
/// bytes*), not from `ndarray`'s view of it: rust-numpy 0.28's `as_array()` divides a byte stride
/// by the item size and rounds down, which misreads every array whose stride is not a multiple of
/// its item size (a field of a packed record array, an `as_strided` view). Here every layout is
/// read right: in place when it is contiguous and aligned, else gathered element by element with
/// unaligned reads into a contiguous copy.
///
/// A `View` is `Send` so that it can cross into the detached closure, or travel with a
/// `gilfree.Executor` task; reading it is `unsafe` ([`View::with_slice`]): the caller promises the
/// array is still alive.
pub(crate) struct View<T> {
    ptr: *const u8,
    len: usize,
    stride: isize,
    _elem: PhantomData<*const T>,
}

// SAFETY: a `View` is a read-only description of a buffer of `T: Sync` values; it is only
// dereferenced through `View::with_slice`, whose contract keeps the buffer alive and unmoved.
unsafe impl<T: Sync> Send for View<T> {}
// SAFETY: as above; reading through a shared `View` from several threads only reads.
unsafe impl<T: Sync> Sync for View<T> {}

impl<T: Element + Copy> View<T> {
    /// The layout of a borrowed array.
    pub(crate) fn of(a: &PyReadonlyArray1<'_, T>) -> Self {
        let array: &Bound<'_, PyArray1<T>> = a;
        View {
            ptr: array.data().cast_const().cast::<u8>(),
            len: array.len(),
            stride: array.strides()[0],
            _elem: PhantomData,
        }
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Input size in bytes (what decides whether the call is worth releasing the GIL for).
    pub(crate) fn nbytes(&self) -> usize {
        self.len.saturating_mul(size_of::<T>())
    }

    /// True when the elements can be read in place as a `&[T]`: packed one after the other (any
    /// stride will do for a single element) and aligned for `T`.
    fn in_place(&self) -> bool {
        #[allow(clippy::cast_possible_wrap)] // sizes of primitive numbers
        let packed = self.len <= 1 || self.stride == size_of::<T>() as isize;
        packed && self.ptr.cast::<T>().is_aligned()
    }

    /// Calls `f` with the elements as a contiguous slice: the array's own memory when it is
    /// contiguous and aligned, else a contiguous copy gathered first (fallibly allocated:
    /// [`Error::OutOfMemory`] if it cannot be; checking for Ctrl-C as it goes).
    ///
    /// # Safety
    ///
    /// The array this view was made from must still be alive, its buffer neither freed nor
    /// moved, and nothing may write to it during the call.
    pub(crate) unsafe fn with_slice<R>(
        &self,
        ctx: &Ctx<'_>,
        f: impl FnOnce(&[T]) -> gilfree_kernels::Result<R>,
    ) -> gilfree_kernels::Result<R> {
        if self.len == 0 {
            return f(&[]);
        }
        if self.in_place() {
            // SAFETY: `len` elements of `T`, packed and aligned from `ptr` (checked just above), in
            // the live buffer the caller vouches for; NumPy's dtype was checked to be `T`.
            return f(unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), self.len) });
        }
        // SAFETY: forwarded from this function's contract.
        let copy = unsafe { self.gather(ctx) }?;
        f(&copy)
    }

    /// The elements gathered into a new contiguous vector.
    ///
    /// # Safety
    ///
    /// As [`with_slice`](Self::with_slice).
    #[cold]
    #[inline(never)]
    unsafe fn gather(&self, ctx: &Ctx<'_>) -> gilfree_kernels::Result<Vec<T>> {
        let mut out: Vec<T> = try_vec(self.len, "a contiguous copy of the strided input")?;
        let mut start = 0;
        while start < self.len {
            ctx.checkpoint()?;
            let end = self.len.min(start + GATHER_BLOCK);
            out.extend((start..end).map(|i| {
                // SAFETY: NumPy describes element `i < len` of the live array (the caller's
                // contract) as the bytes at `ptr + i * stride`; `i * stride` cannot overflow, as
                // it is an offset inside that allocation. `read_unaligned`: such an element need
                // not be aligned (a packed record field).
                #[allow(clippy::cast_possible_wrap)] // i < len <= isize::MAX
                unsafe {
                    self.ptr
                        .offset(i as isize * self.stride)
                        .cast::<T>()
                        .read_unaligned()
                }
            }));
            start = end;
        }
        Ok(out)
    }
}
