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
    dtype, Element, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1,
    PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods,
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
        let array = as_untyped(obj, arg, ACCEPTED)?;
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
        Err(dtype_error(&array, arg, ACCEPTED))
    }
}

/// `obj` as a NumPy array: an ndarray as it is (masked arrays refused), a buffer-protocol object
/// wrapped by NumPy without a copy; anything else is a `TypeError` naming `accepted` dtypes.
pub(crate) fn as_untyped<'py>(
    obj: &Bound<'py, PyAny>,
    arg: &str,
    accepted: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = obj.py();
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        refuse_masked(a, arg)?;
        Ok(a.clone())
    } else if let Ok(view) = PyMemoryView::from(obj) {
        // A buffer-protocol object (array.array, memoryview, bytearray, ...): NumPy wraps the
        // same memory, no copy.
        py.import("numpy")?
            .call_method1("asarray", (view,))
            .and_then(|a| Ok(a.cast_into::<PyUntypedArray>()?))
            .map_err(|e| PyTypeError::new_err(format!("{arg}: unsupported buffer format ({e})")))
    } else {
        let ty = obj.get_type().name()?;
        Err(PyTypeError::new_err(format!(
            "{arg} must be a NumPy array or a buffer-protocol object of {accepted}, got {ty} \
             (gilfree makes no hidden copies: convert with numpy.asarray() first)"
        )))
    }
}

/// The `TypeError` for an array whose dtype is not one of `accepted`: a non-native byte order is
/// named, with the conversion that fixes it.
pub(crate) fn dtype_error(array: &Bound<'_, PyUntypedArray>, arg: &str, accepted: &str) -> PyErr {
    let d = array.dtype();
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
    let name = d.str().map_or_else(|_| "?".to_owned(), |s| s.to_string());
    PyTypeError::new_err(format!(
        "{arg} has dtype {name}{byteorder}; expected {accepted} in native byte order{hint}"
    ))
}

/// A validated, read-only 2-D input, one variant per accepted dtype (those of [`Array1`]).
pub(crate) enum Array2<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
    I32(PyReadonlyArray2<'py, i32>),
    I64(PyReadonlyArray2<'py, i64>),
}

#[allow(dead_code)] // `shape`: for the 2-D kernels built on this input (pairwise_distances)
impl<'py> Array2<'py> {
    /// Validates `obj` (argument `arg`): a 2-D NumPy array (or buffer-protocol object) of
    /// float32, float64, int32 or int64 in native byte order, not masked; borrowed read-only.
    /// Any layout is accepted ([`View2`] reads it right).
    pub(crate) fn from_py(obj: &Bound<'py, PyAny>, arg: &str) -> PyResult<Self> {
        let py = obj.py();
        let array = as_untyped(obj, arg, ACCEPTED)?;
        if array.ndim() != 2 {
            return Err(PyValueError::new_err(format!(
                "{arg} must be 2-D, got a {}-D array of shape {:?}",
                array.ndim(),
                array.shape()
            )));
        }
        let d = array.dtype();
        macro_rules! try_dtype {
            ($t:ty, $variant:ident) => {
                if d.is_equiv_to(&dtype::<$t>(py)) {
                    // SAFETY: the dtype is equivalent to `$t` and ndim is 2, which is everything
                    // `PyArray2<$t>` asserts about the object.
                    let typed = unsafe { array.cast_unchecked::<PyArray2<$t>>() };
                    let borrowed = typed
                        .try_readonly()
                        .map_err(|e| PyValueError::new_err(format!("{arg} cannot be borrowed: {e}")))?;
                    return Ok(Array2::$variant(borrowed));
                }
            };
        }
        try_dtype!(f64, F64);
        try_dtype!(f32, F32);
        try_dtype!(i64, I64);
        try_dtype!(i32, I32);
        Err(dtype_error(&array, arg, ACCEPTED))
    }

    /// The shape, `(rows, cols)`.
    pub(crate) fn shape(&self) -> (usize, usize) {
        let s = match self {
            Array2::F32(a) => a.shape(),
            Array2::F64(a) => a.shape(),
            Array2::I32(a) => a.shape(),
            Array2::I64(a) => a.shape(),
        };
        (s[0], s[1])
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
    #[allow(dead_code)] // part of the view's shape, for the 1-D kernels that need it
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

/// The memory order in which [`View2::with_contiguous`] hands out a 2-D input.
#[allow(dead_code)] // used by the axis reductions
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Row-major: element `(i, j)` at `i * cols + j`.
    C,
    /// Column-major: element `(i, j)` at `j * rows + i` (the C-order slice of the transpose).
    F,
}

/// A read-only 2-D input as raw parts: element `(i, j)` is the `T` stored at byte
/// `ptr + i * strides[0] + j * strides[1]`.
///
/// As [`View`], it is built from NumPy's own data pointer and strides *in bytes* (never from
/// rust-numpy's `as_array()`, which misreads strides that are not a multiple of the item size),
/// so every layout is read right: C- or Fortran-contiguous, sliced, transposed, negative or zero
/// strides, unaligned. It is `Send`, to cross into the detached closure or travel with a
/// `gilfree.Executor` task; reading it is `unsafe`: the caller promises the array is alive.
pub(crate) struct View2<T> {
    ptr: *const u8,
    rows: usize,
    cols: usize,
    strides: [isize; 2],
    _elem: PhantomData<*const T>,
}

// SAFETY: as for `View`: a read-only description of a buffer of `T: Sync` values, dereferenced
// only through the `unsafe` readers, whose contract keeps the buffer alive and unwritten.
unsafe impl<T: Sync> Send for View2<T> {}
// SAFETY: as above; reading through a shared `View2` from several threads only reads.
unsafe impl<T: Sync> Sync for View2<T> {}

#[allow(dead_code)] // the whole toolbox, not all used by every 2-D kernel
impl<T: Copy> View2<T> {
    /// The layout of a borrowed 2-D array.
    pub(crate) fn of(a: &PyReadonlyArray2<'_, T>) -> Self
    where
        T: Element,
    {
        let array: &Bound<'_, PyArray2<T>> = a;
        let shape = array.shape();
        let strides = array.strides();
        View2 {
            ptr: array.data().cast_const().cast::<u8>(),
            rows: shape[0],
            cols: shape[1],
            strides: [strides[0], strides[1]],
            _elem: PhantomData,
        }
    }

    /// The layout of a 1-D or 2-D array whose dtype the caller checked to hold `T`s; a 1-D
    /// array of length `n` is the single row `(1, n)`. `None` for any other ndim.
    pub(crate) fn of_untyped(array: &Bound<'_, PyUntypedArray>) -> Option<Self> {
        let shape = array.shape();
        let strides = array.strides();
        // SAFETY: `as_array_ptr` is the live `PyArrayObject` behind `array`; reading its data
        // pointer field reads no element.
        let ptr = unsafe { (*array.as_array_ptr()).data }.cast_const().cast::<u8>();
        match (shape, strides) {
            (&[n], &[s]) => Some(View2::from_parts(ptr, 1, n, [0, s])),
            (&[r, c], &[s0, s1]) => Some(View2::from_parts(ptr, r, c, [s0, s1])),
            _ => None,
        }
    }

    /// A view of `rows × cols` elements at `ptr` with the given byte strides. Making one is safe;
    /// reading it is not (see [`with_c_slice`](Self::with_c_slice)).
    pub(crate) fn from_parts(ptr: *const u8, rows: usize, cols: usize, strides: [isize; 2]) -> Self {
        View2 {
            ptr,
            rows,
            cols,
            strides,
            _elem: PhantomData,
        }
    }

    /// `(rows, cols)`.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    /// Input size in bytes (what decides whether the call is worth releasing the GIL for).
    pub(crate) fn nbytes(&self) -> usize {
        self.len().saturating_mul(size_of::<T>())
    }

    /// The transpose, `(cols, rows)`: the same memory, strides swapped.
    pub(crate) fn t(&self) -> Self {
        View2::from_parts(self.ptr, self.cols, self.rows, [self.strides[1], self.strides[0]])
    }

    /// True when the data pointer is aligned for `T` (an empty view always is).
    pub(crate) fn is_aligned(&self) -> bool {
        self.len() == 0 || self.ptr.cast::<T>().is_aligned()
    }

    /// Row-major and packed: element `(i, j)` at `ptr + (i * cols + j) * size_of::<T>()`. The
    /// stride of an axis of length 1 does not matter (NumPy's rule); an empty view is both orders.
    #[allow(clippy::cast_possible_wrap)] // sizes of an existing allocation
    pub(crate) fn is_c_contiguous(&self) -> bool {
        let item = size_of::<T>() as isize;
        self.len() == 0
            || ((self.cols <= 1 || self.strides[1] == item)
                && (self.rows <= 1 || self.strides[0] == self.cols as isize * item))
    }

    /// Column-major and packed (the transpose is C-contiguous).
    pub(crate) fn is_f_contiguous(&self) -> bool {
        self.t().is_c_contiguous()
    }

    /// Calls `f(data, rows, cols)` with the elements in C order (row-major, packed): the array's
    /// own memory when it is C-contiguous and aligned, else a contiguous copy gathered first
    /// (fallibly allocated: [`Error::OutOfMemory`](gilfree_kernels::Error) if it cannot be;
    /// checking for Ctrl-C as it goes).
    ///
    /// # Safety
    ///
    /// The array this view was made from must still be alive, its buffer neither freed nor
    /// moved, and nothing may write to it during the call.
    pub(crate) unsafe fn with_c_slice<R>(
        &self,
        ctx: &Ctx<'_>,
        f: impl FnOnce(&[T], usize, usize) -> gilfree_kernels::Result<R>,
    ) -> gilfree_kernels::Result<R> {
        if self.len() == 0 {
            return f(&[], self.rows, self.cols);
        }
        if self.is_c_contiguous() && self.is_aligned() {
            // SAFETY: `rows * cols` elements of `T`, packed in C order and aligned from `ptr`
            // (checked just above), in the live buffer the caller vouches for; NumPy's dtype was
            // checked to be `T` when the view was made.
            let s = unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), self.len()) };
            return f(s, self.rows, self.cols);
        }
        // SAFETY: forwarded from this function's contract.
        let copy = unsafe { self.gather(ctx) }?;
        f(&copy, self.rows, self.cols)
    }

    /// Calls `f(data, rows, cols, order)` with the elements packed in *some* order, without a
    /// copy when the array is C- or Fortran-contiguous (and aligned); any other layout is
    /// gathered into C order as by [`with_c_slice`](Self::with_c_slice). `rows` and `cols` are
    /// always the view's own: with [`Order::F`], `data` is the C-order slice of the transpose.
    ///
    /// # Safety
    ///
    /// As [`with_c_slice`](Self::with_c_slice).
    pub(crate) unsafe fn with_contiguous<R>(
        &self,
        ctx: &Ctx<'_>,
        f: impl FnOnce(&[T], usize, usize, Order) -> gilfree_kernels::Result<R>,
    ) -> gilfree_kernels::Result<R> {
        if self.len() > 0 && !self.is_c_contiguous() && self.is_f_contiguous() && self.is_aligned() {
            // SAFETY: the transpose is C-contiguous and aligned; the rest as `with_c_slice`.
            let s = unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), self.len()) };
            return f(s, self.rows, self.cols, Order::F);
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { self.with_c_slice(ctx, |s, r, c| f(s, r, c, Order::C)) }
    }

    /// The elements gathered in C order into a new vector.
    ///
    /// # Safety
    ///
    /// As [`with_c_slice`](Self::with_c_slice).
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn gather(&self, ctx: &Ctx<'_>) -> gilfree_kernels::Result<Vec<T>> {
        // SAFETY: forwarded.
        unsafe { self.gather_map(ctx, |x| x) }
    }

    /// The elements, each converted by `map`, gathered in C order into a new vector (what a
    /// kernel that widens its input — float16 to float32 — reads instead of the raw slice).
    ///
    /// # Safety
    ///
    /// As [`with_c_slice`](Self::with_c_slice).
    pub(crate) unsafe fn gather_map<U>(
        &self,
        ctx: &Ctx<'_>,
        map: impl Fn(T) -> U,
    ) -> gilfree_kernels::Result<Vec<U>> {
        let mut out: Vec<U> = try_vec(self.len(), "a contiguous copy of the strided input")?;
        for i in 0..self.rows {
            #[allow(clippy::cast_possible_wrap)] // i < rows <= isize::MAX
            // SAFETY: row `i < rows` starts at `ptr + i * strides[0]`, inside the live allocation
            // (the caller's contract), so the offset cannot overflow.
            let row = unsafe { self.ptr.offset(i as isize * self.strides[0]) };
            let mut start = 0;
            while start < self.cols {
                ctx.checkpoint()?;
                let end = self.cols.min(start + GATHER_BLOCK);
                out.extend((start..end).map(|j| {
                    // SAFETY: element `(i, j)` of the live array is the bytes at
                    // `row + j * strides[1]`; `read_unaligned`: it need not be aligned.
                    #[allow(clippy::cast_possible_wrap)] // j < cols <= isize::MAX
                    let x = unsafe {
                        row.offset(j as isize * self.strides[1])
                            .cast::<T>()
                            .read_unaligned()
                    };
                    map(x)
                }));
                start = end;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod test {
    use super::{Order, View2};
    use gilfree_kernels::engine::{Ctx, Threads};

    /// A 3 × 4 C-order matrix of `10 * i + j`, viewed every way NumPy can lay it out.
    fn data() -> Vec<i64> {
        (0..3).flat_map(|i| (0..4).map(move |j| 10 * i + j)).collect()
    }

    fn read(v: &View2<i64>) -> (Vec<i64>, Order) {
        let ctx = Ctx::new(Threads::Caller, None);
        // SAFETY: the views below describe live local buffers that nothing writes to.
        let c = unsafe { v.with_c_slice(&ctx, |s, _, _| Ok(s.to_vec())) }.unwrap_or_default();
        // SAFETY: as above.
        let order = unsafe { v.with_contiguous(&ctx, |_, _, _, o| Ok(o)) }.unwrap_or(Order::C);
        (c, order)
    }

    #[test]
    fn every_layout_reads_in_c_order() {
        let d = data();
        let p = d.as_ptr().cast::<u8>();
        // C order, in place.
        let v = View2::<i64>::from_parts(p, 3, 4, [32, 8]);
        assert!(v.is_c_contiguous() && !v.is_f_contiguous());
        assert_eq!(read(&v), (d.clone(), Order::C));
        // Its transpose: Fortran order, in place as Order::F; gathered for with_c_slice.
        let t = v.t();
        assert!(t.is_f_contiguous() && !t.is_c_contiguous());
        let want: Vec<i64> = (0..4).flat_map(|j| (0..3).map(move |i| 10 * i + j)).collect();
        assert_eq!(read(&t), (want, Order::F));
        // Every other column, rows reversed (negative stride).
        // SAFETY: the last row's first element is inside `d`.
        let last = unsafe { p.add(2 * 32) };
        let s = View2::<i64>::from_parts(last, 3, 2, [-32, 16]);
        assert!(!s.is_c_contiguous() && !s.is_f_contiguous());
        assert_eq!(read(&s).0, vec![20, 22, 10, 12, 0, 2]);
        // A broadcast row (stride 0) and a single column.
        let b = View2::<i64>::from_parts(p, 2, 4, [0, 8]);
        assert_eq!(read(&b).0, vec![0, 1, 2, 3, 0, 1, 2, 3]);
        let col = View2::<i64>::from_parts(p, 3, 1, [32, 999]);
        assert!(!col.is_c_contiguous() && !col.is_f_contiguous());
        assert_eq!(read(&col).0, vec![0, 10, 20]);
        // Empty views: both orders, nothing read.
        let e = View2::<i64>::from_parts(std::ptr::null(), 0, 5, [40, 8]);
        assert!(e.is_c_contiguous() && e.is_f_contiguous());
        assert_eq!(read(&e).0, Vec::<i64>::new());
    }

    #[test]
    fn unaligned_and_odd_strides_are_gathered() {
        // A field of a packed record: 8-byte values 12 bytes apart, one byte off alignment.
        let mut bytes = [0u8; 1 + 12 * 6];
        for k in 0..6i64 {
            let at = 1 + 12 * usize::try_from(k).unwrap_or(0);
            bytes[at..at + 8].copy_from_slice(&(100 + k).to_ne_bytes());
        }
        // SAFETY: offset 1 is inside `bytes`.
        let p = unsafe { bytes.as_ptr().add(1) };
        let v = View2::<i64>::from_parts(p, 2, 3, [36, 12]);
        assert!(!v.is_c_contiguous());
        assert_eq!(read(&v).0, vec![100, 101, 102, 103, 104, 105]);
        // Packed but unaligned: C-contiguous, still gathered (not read in place).
        let mut raw = [0u8; 1 + 8 * 4];
        for k in 0..4i64 {
            let at = 1 + 8 * usize::try_from(k).unwrap_or(0);
            raw[at..at + 8].copy_from_slice(&(7 * k).to_ne_bytes());
        }
        // SAFETY: offset 1 is inside `raw`.
        let q = unsafe { raw.as_ptr().add(1) };
        let u = View2::<i64>::from_parts(q, 2, 2, [16, 8]);
        assert!(u.is_c_contiguous() && !u.is_aligned());
        assert_eq!(read(&u), (vec![0, 7, 14, 21], Order::C));
    }
}
