//! `sum, mean, var, std, moments, min, max, argmin, argmax`: adapters over
//! `gilfree_kernels::kernels::reduce` (whole arrays) and `reduce::axis` (`axis=0|1` of 2-D input).
//!
//! Input: a 1-D or 2-D array (any layout, [`View2`]) of bool, int8-64, uint8-64, float16, float32
//! or float64 in native byte order. float16 is widened to float32 while it is gathered (as NumPy
//! computes it); every other dtype is read in place when C-contiguous (or, for `axis=0|1` and
//! min/max, Fortran-contiguous: the C-order transpose, reduced along the other axis).

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::reduce::{self, axis::Axis};
use gilfree_kernels::Error;
use numpy::{
    dtype, Element, PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;

use crate::array::{as_untyped, dtype_error, Order, View2};
use gilfree_pyo3::args::{ddof_arg, i64_arg, threads_arg};
use gilfree_pyo3::task_threads;
use gilfree_pyo3::to_pyerr;
use gilfree_pyo3::Prepared;

const ACCEPTED: &str = "bool, int8-int64, uint8-uint64, float16, float32 or float64";

/// The dtype of the input, which decides the result's dtype (NumPy's rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Signed,
    Unsigned,
    F16,
    F32,
    F64,
}

impl Kind {
    /// The NumPy dtype name of `sum`'s result (and `None` when it is the computed type).
    fn sum_dtype(self) -> &'static str {
        match self {
            Kind::Bool | Kind::Signed => "int64",
            Kind::Unsigned => "uint64",
            Kind::F16 => "float16",
            Kind::F32 => "float32",
            Kind::F64 => "float64",
        }
    }

    /// The NumPy dtype name of mean/var/std's result.
    fn float_dtype(self) -> &'static str {
        match self {
            Kind::F16 => "float16",
            Kind::F32 => "float32",
            _ => "float64",
        }
    }
}

/// What a call computes.
#[derive(Clone, Copy, Debug)]
enum Op {
    Sum,
    Mean,
    Var(i64),
    Std(i64),
    Moments,
    Min,
    Max,
    ArgMin,
    ArgMax,
}

impl Op {
    /// No value for an empty input (min, max, argmin, argmax).
    fn needs_elements(self) -> bool {
        matches!(self, Op::Min | Op::Max | Op::ArgMin | Op::ArgMax)
    }
}

/// A computed result, before it becomes a Python object.
enum Out<C> {
    Float(f64),
    Int(i128),
    Value(C),
    Index(usize),
    Moments(u64, f64, f64),
    Floats(Vec<f64>),
    Ints(Vec<i128>),
    Values(Vec<C>),
    Indices(Vec<usize>),
    MomentsV(usize, Vec<f64>, Vec<f64>),
}

/// Element types the binding computes on: the core's, plus their sum.
trait Reducible: reduce::Element + Element + for<'x> IntoPyObject<'x> {
    /// The whole-slice sum: `Out::Float` or `Out::Int` (exact).
    fn sum_all(ctx: &Ctx<'_>, s: &[Self]) -> gilfree_kernels::Result<Out<Self>>;
    /// The sums along an axis of a C-order `rows × cols` slice.
    fn sum_axis(
        ctx: &Ctx<'_>,
        s: &[Self],
        rows: usize,
        cols: usize,
        axis: Axis,
    ) -> gilfree_kernels::Result<Out<Self>>;
}

macro_rules! reducible_float {
    ($($t:ty),*) => {$(
        impl Reducible for $t {
            fn sum_all(ctx: &Ctx<'_>, s: &[$t]) -> gilfree_kernels::Result<Out<$t>> {
                reduce::sum_float(ctx, s).map(Out::Float)
            }
            fn sum_axis(ctx: &Ctx<'_>, s: &[$t], rows: usize, cols: usize, axis: Axis) -> gilfree_kernels::Result<Out<$t>> {
                reduce::axis::sum_float(ctx, s, rows, cols, axis).map(Out::Floats)
            }
        }
    )*};
}
reducible_float!(f32, f64);

macro_rules! reducible_int {
    ($($t:ty),*) => {$(
        impl Reducible for $t {
            fn sum_all(ctx: &Ctx<'_>, s: &[$t]) -> gilfree_kernels::Result<Out<$t>> {
                reduce::sum_int_wide(ctx, s).map(Out::Int)
            }
            fn sum_axis(ctx: &Ctx<'_>, s: &[$t], rows: usize, cols: usize, axis: Axis) -> gilfree_kernels::Result<Out<$t>> {
                reduce::axis::sum_int(ctx, s, rows, cols, axis).map(Out::Ints)
            }
        }
    )*};
}
reducible_int!(bool, i8, i16, i32, i64, u8, u16, u32, u64);

#[allow(clippy::cast_precision_loss)]
fn divide(s: f64, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

#[allow(clippy::cast_precision_loss)] // one rounding of the exact sum, as reduce::mean_int
fn as_f64(s: &Out<impl Sized>) -> f64 {
    match s {
        Out::Float(f) => *f,
        Out::Int(i) => *i as f64,
        _ => f64::NAN,
    }
}

/// The exact integer sum `total` checked against the result dtype's range: NumPy would wrap.
fn checked_sum(total: i128, kind: Kind) -> gilfree_kernels::Result<i128> {
    let fits = match kind {
        Kind::Unsigned => u64::try_from(total).is_ok(),
        _ => i64::try_from(total).is_ok(),
    };
    if fits {
        Ok(total)
    } else {
        Err(Error::Overflow(format!(
            "the sum {total} does not fit in {}",
            kind.sum_dtype()
        )))
    }
}

/// The reduction `op` of a whole C-order slice (`axis=None`).
fn whole<C: Reducible>(ctx: &Ctx<'_>, s: &[C], op: Op, kind: Kind) -> gilfree_kernels::Result<Out<C>> {
    Ok(match op {
        Op::Sum => match C::sum_all(ctx, s)? {
            Out::Int(t) => Out::Int(checked_sum(t, kind)?),
            other => other,
        },
        Op::Mean => Out::Float(divide(as_f64(&C::sum_all(ctx, s)?), s.len())),
        Op::Var(ddof) => Out::Float(reduce::var(ctx, s, ddof)?),
        Op::Std(ddof) => Out::Float(reduce::std(ctx, s, ddof)?),
        Op::Moments => {
            let (n, mean, m2) = reduce::moments(ctx, s)?;
            Out::Moments(n, mean, m2)
        }
        Op::Min => Out::Value(reduce::min(ctx, s)?),
        Op::Max => Out::Value(reduce::max(ctx, s)?),
        Op::ArgMin => Out::Index(reduce::argmin(ctx, s)?),
        Op::ArgMax => Out::Index(reduce::argmax(ctx, s)?),
    })
}

/// The reduction `op` along `axis` of a C-order `rows × cols` slice; `n` is the axis' length.
fn along<C: Reducible>(
    ctx: &Ctx<'_>,
    s: &[C],
    (rows, cols): (usize, usize),
    axis: Axis,
    op: Op,
    kind: Kind,
) -> gilfree_kernels::Result<Out<C>> {
    use reduce::axis as ax;
    let n = match axis {
        Axis::Rows => cols,
        Axis::Cols => rows,
    };
    Ok(match op {
        Op::Sum => match C::sum_axis(ctx, s, rows, cols, axis)? {
            Out::Ints(v) => {
                for &t in &v {
                    checked_sum(t, kind)?;
                }
                Out::Ints(v)
            }
            other => other,
        },
        Op::Mean => match C::sum_axis(ctx, s, rows, cols, axis)? {
            #[allow(clippy::cast_precision_loss)]
            Out::Ints(v) => Out::Floats(v.into_iter().map(|t| divide(t as f64, n)).collect()),
            Out::Floats(v) => Out::Floats(v.into_iter().map(|t| divide(t, n)).collect()),
            _ => Out::Floats(Vec::new()),
        },
        Op::Var(ddof) => Out::Floats(ax::var(ctx, s, rows, cols, axis, ddof)?),
        Op::Std(ddof) => Out::Floats(
            ax::var(ctx, s, rows, cols, axis, ddof)?
                .into_iter()
                .map(f64::sqrt)
                .collect(),
        ),
        Op::Moments => {
            let m = ax::moments(ctx, s, rows, cols, axis)?;
            let (mean, m2) = m.into_iter().unzip();
            Out::MomentsV(n, mean, m2)
        }
        Op::Min => Out::Values(ax::min(ctx, s, rows, cols, axis)?),
        Op::Max => Out::Values(ax::max(ctx, s, rows, cols, axis)?),
        Op::ArgMin => Out::Indices(ax::argmin(ctx, s, rows, cols, axis)?),
        Op::ArgMax => Out::Indices(ax::argmax(ctx, s, rows, cols, axis)?),
    })
}

/// The core axis for NumPy's `axis` (0: one result per column) of data handed out in `order`.
fn core_axis(axis: usize, order: Order) -> Axis {
    match (axis, order) {
        (0, Order::C) | (1, Order::F) => Axis::Cols,
        _ => Axis::Rows,
    }
}

/// The computation of one call on the detached side: read the data (in place or gathered), then
/// reduce it.
fn compute<C: Reducible>(
    ctx: &Ctx<'_>,
    s: &[C],
    (rows, cols): (usize, usize),
    order: Order,
    axis: Option<usize>,
    op: Op,
    kind: Kind,
) -> gilfree_kernels::Result<Out<C>> {
    match axis {
        None => whole(ctx, s, op, kind),
        Some(k) => {
            let shape = match order {
                Order::C => (rows, cols),
                Order::F => (cols, rows),
            };
            along(ctx, s, shape, core_axis(k, order), op, kind)
        }
    }
}

/// The widening of float16 (IEEE binary16 bits) to float32: exact.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    if exp == 0 {
        // Zero or subnormal: man * 2^-24, exact in float32.
        #[allow(clippy::cast_precision_loss)] // man < 2^10
        let v = man as f32 * f32::from_bits(0x3380_0000);
        return if sign == 0 { v } else { -v };
    }
    let bits = if exp == 31 {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 112) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

/// The validated input: its layout (as a 2-D view, 1-D = one row), its dtype, its ndim and a
/// strong reference that keeps it alive until the work returned.
struct Input<'py> {
    array: Bound<'py, PyUntypedArray>,
    kind: Kind,
    ndim: usize,
}

/// Parses `axis=`: None, or an int in `[-ndim, ndim)` (NumPy's `AxisError` otherwise), returned
/// non-negative.
fn axis_arg(axis: Option<&Bound<'_, PyAny>>, ndim: usize) -> PyResult<Option<usize>> {
    let Some(obj) = axis.filter(|a| !a.is_none()) else {
        return Ok(None);
    };
    let py = obj.py();
    // An int (NumPy ints and `__index__` too; a bool is not an axis), else TypeError.
    let k = i64_arg(obj, "axis", "None or an int (0 or 1 for a 2-D array)")?;
    #[allow(clippy::cast_possible_wrap)] // ndim is 1 or 2
    let n = ndim as i64;
    if k < -n || k >= n {
        let exceptions = py.import("numpy.exceptions").or_else(|_| py.import("numpy"))?;
        let err = exceptions.getattr("AxisError")?.call1((k, n))?;
        return Err(PyErr::from_value(err));
    }
    let k = if k < 0 { k + n } else { k };
    Ok(Some(usize::try_from(k).unwrap_or(0)))
}

fn parse_input<'py>(a: &Bound<'py, PyAny>) -> PyResult<Input<'py>> {
    let py = a.py();
    let array = as_untyped(a, "a", ACCEPTED)?;
    let ndim = array.ndim();
    if ndim != 1 && ndim != 2 {
        return Err(PyValueError::new_err(format!(
            "a must be 1-D or 2-D, got a {ndim}-D array of shape {:?} (use .ravel() to reduce every element)",
            array.shape()
        )));
    }
    let d = array.dtype();
    let kind = if d.is_equiv_to(&dtype::<f64>(py)) {
        Kind::F64
    } else if d.is_equiv_to(&dtype::<f32>(py)) {
        Kind::F32
    } else if d.is_equiv_to(&dtype::<bool>(py)) {
        Kind::Bool
    } else if [
        dtype::<i8>(py),
        dtype::<i16>(py),
        dtype::<i32>(py),
        dtype::<i64>(py),
    ]
    .iter()
    .any(|t| d.is_equiv_to(t))
    {
        Kind::Signed
    } else if [
        dtype::<u8>(py),
        dtype::<u16>(py),
        dtype::<u32>(py),
        dtype::<u64>(py),
    ]
    .iter()
    .any(|t| d.is_equiv_to(t))
    {
        Kind::Unsigned
    } else if d.kind() == b'f' && d.itemsize() == 2 && d.is_native_byteorder() != Some(false) {
        Kind::F16
    } else {
        return Err(dtype_error(&array, "a", ACCEPTED));
    };
    Ok(Input { array, kind, ndim })
}

/// The one parsing of a reduction call (direct call and task form): input, axis and emptiness
/// checked now; the data read on the pool (a direct call) or on a worker (a task) later.
fn prepare<'py, T, C>(
    kernel: &'static str,
    input: &Input<'py>,
    axis: Option<usize>,
    op: Op,
    threads: Threads,
    widen: fn(T) -> C,
    widened: bool,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Out<C>> + Send + 'static,
        impl FnOnce(Python<'_>, Out<C>) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
>
where
    T: Element + Copy + Sync + 'static,
    C: Reducible + Copy + Send + 'static,
{
    // SAFETY: the dtype was checked to hold `T`s (float16 is read as its `u16` bits) and ndim
    // is 1 or 2: what `PyArrayDyn<T>` asserts about the object.
    let typed = unsafe { input.array.cast_unchecked::<PyArrayDyn<T>>() };
    let borrowed = typed
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("a cannot be borrowed: {e}")))?;
    let view =
        View2::<T>::of_untyped(&input.array).ok_or_else(|| PyValueError::new_err("a must be 1-D or 2-D"))?;
    let (rows, cols) = view.shape();
    // 1-D: every axis is the whole array.
    let axis = if input.ndim == 1 { None } else { axis };
    if op.needs_elements() {
        let (n, results) = match axis {
            None => (view.len(), 1),
            Some(0) => (rows, cols),
            Some(_) => (cols, rows),
        };
        if n == 0 && results > 0 {
            return Err(to_pyerr(kernel, Error::EmptyInput));
        }
    }
    let (kind, ndim) = (input.kind, input.ndim);
    let bytes = view.nbytes();
    // A strong reference to the array, so that its buffer outlives the work. It is owned by the
    // finish step, which lives until the work returned (and is dropped with the GIL held). The
    // borrow is released now: `keep` is what the work relies on, as in every kernel.
    let keep: Py<PyAny> = input.array.as_any().clone().unbind();
    drop(borrowed);
    // In memory order when the order cannot change the bits (extremes), or when reducing along
    // an axis (a Fortran array is its transpose in C order); in C order for a whole-array sum
    // (the same bits for every layout) and for argmin/argmax (NumPy's flat C index).
    let any_order = axis.is_some() || matches!(op, Op::Min | Op::Max);
    let work = move |ctx: &Ctx<'_>| {
        // SAFETY: the array is alive: `keep` (owned by the finish step below, which outlives
        // this closure's run, in a direct call and in a task alike) holds a strong reference to
        // it. NumPy frees or moves an array's buffer only when the array dies, or in
        // `ndarray.resize`, which refuses while other references exist (ours) unless given
        // `refcheck=False`, which NumPy documents as unsafe. The dtype and shape were checked
        // with the GIL held. The program must not write to the array while a call reads it: that
        // would be a data race in any language.
        unsafe {
            if widened {
                let copy = view.gather_map(ctx, widen)?;
                compute(ctx, &copy, (rows, cols), Order::C, axis, op, kind)
            } else if any_order {
                view.with_contiguous(ctx, |s, r, c, order| {
                    compute(ctx, as_computed(s), (r, c), order, axis, op, kind)
                })
            } else {
                view.with_c_slice(ctx, |s, r, c| {
                    compute(ctx, as_computed(s), (r, c), Order::C, axis, op, kind)
                })
            }
        }
    };
    let finish = move |py: Python<'_>, out: Out<C>| {
        drop(keep);
        to_python(py, out, op, kind, ndim)
    };
    Ok(Prepared::new(kernel, work, finish)
        .threads(threads)
        .work_bytes(bytes))
}

/// `&[T]` as `&[C]` when they are the same type (every dtype but float16, which is widened).
fn as_computed<T: 'static, C: 'static>(s: &[T]) -> &[C] {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<C>() {
        // SAFETY: `T` and `C` are the same type (checked just above).
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<C>(), s.len()) }
    } else {
        &[]
    }
}

/// A NumPy array of `v`, cast to `dtype` when that is not its own.
fn array_of<'py, E: Element>(py: Python<'py>, v: Vec<E>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    let a = PyArray1::from_vec(py, v).into_any();
    let own = a.getattr("dtype")?.getattr("name")?;
    if own.extract::<&str>()? == dtype {
        Ok(a)
    } else {
        a.call_method1("astype", (dtype,))
    }
}

/// The Python value of a result: Python scalars for a whole-array reduction (as for 1-D input),
/// NumPy arrays of NumPy's result dtype along an axis.
fn to_python<C: Reducible>(
    py: Python<'_>,
    out: Out<C>,
    op: Op,
    kind: Kind,
    _ndim: usize,
) -> PyResult<Py<PyAny>> {
    let value = match out {
        Out::Float(f) => f.into_bound_py_any(py)?,
        Out::Int(i) => i.into_bound_py_any(py)?,
        Out::Value(v) => v.into_bound_py_any(py)?,
        Out::Index(i) => i.into_bound_py_any(py)?,
        Out::Moments(n, mean, m2) => (n, mean, m2).into_bound_py_any(py)?,
        Out::Floats(v) => {
            let dtype = match op {
                Op::Sum => kind.sum_dtype(),
                _ => kind.float_dtype(),
            };
            array_of(py, v, dtype)?
        }
        Out::Ints(v) => match kind {
            Kind::Unsigned => array_of(
                py,
                v.into_iter().map(|t| u64::try_from(t).unwrap_or(0)).collect(),
                "uint64",
            )?,
            _ => array_of(
                py,
                v.into_iter().map(|t| i64::try_from(t).unwrap_or(0)).collect(),
                "int64",
            )?,
        },
        Out::Values(v) => {
            let a = PyArray1::from_vec(py, v).into_any();
            if kind == Kind::F16 {
                a.call_method1("astype", ("float16",))?
            } else {
                a
            }
        }
        Out::Indices(v) => array_of(
            py,
            v.into_iter().map(|i| isize::try_from(i).unwrap_or(0)).collect(),
            "int64",
        )?,
        Out::MomentsV(n, mean, m2) => PyTuple::new(
            py,
            [
                n.into_bound_py_any(py)?,
                array_of(py, mean, "float64")?,
                array_of(py, m2, "float64")?,
            ],
        )?
        .into_any(),
    };
    Ok(value.unbind())
}

/// Parses a call (input, axis) and runs `$then` on the prepared kernel `$p`, once per dtype.
macro_rules! with_prepared {
    ($kernel:literal, $a:ident, $axis:ident, $op:expr, $threads:expr, |$p:ident| $then:expr) => {{
        let threads = $threads;
        let input = parse_input($a)?;
        let axis = axis_arg($axis, input.ndim)?;
        let op = $op;
        let py = $a.py();
        let d = input.array.dtype();
        macro_rules! go {
            ($t:ty, $c:ty, $widen:expr, $widened:expr) => {{
                let $p = prepare::<$t, $c>($kernel, &input, axis, op, threads, $widen, $widened)?;
                $then
            }};
        }
        macro_rules! same {
            ($t:ty) => {
                if d.is_equiv_to(&dtype::<$t>(py)) {
                    return go!($t, $t, |x| x, false);
                }
            };
        }
        same!(f64);
        same!(f32);
        same!(i64);
        same!(i32);
        same!(bool);
        same!(i8);
        same!(i16);
        same!(u8);
        same!(u16);
        same!(u32);
        same!(u64);
        go!(u16, f32, f16_to_f32, true)
    }};
}

/// The sum of a 1-D or 2-D array (or of each row or column of a 2-D array), without the GIL.
///
/// ``axis=None`` sums every element and returns a Python scalar; ``axis=0`` (each column) or
/// ``axis=1`` (each row; ``-1``/``-2`` as in NumPy) return a NumPy array of NumPy's result dtype:
/// int64 for bool and signed integers, uint64 for unsigned integers, the input's dtype for floats.
/// Floats are summed in float64 (float16 and float32 widened; pairwise along a row, per column a
/// plain sum over fixed blocks of rows combined pairwise), then rounded once to the result dtype:
/// more accurate than NumPy's float32/float16 accumulation. Integers are summed exactly; a sum
/// outside the result dtype (int64, or uint64 for unsigned input) raises OverflowError where
/// NumPy would silently wrap around. The same input gives the bit-identical result for every
/// ``threads`` value: block boundaries depend on the shape only and partials combine in a fixed
/// order.
///
/// Args:
///     a: a 1-D or 2-D NumPy array or buffer-protocol object of bool, int8-int64, uint8-uint64,
///        float16, float32 or float64, in native byte order, any layout (C, Fortran, strided:
///        what is not contiguous is gathered into a temporary copy, GIL-free).
///     axis: None (every element), or 0 / 1 (-2 / -1) for a 2-D array.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Raises:
///     TypeError: ``a`` is not an array/buffer, or has another dtype or a non-native byte order;
///         ``axis`` or ``threads`` is not an int.
///     ValueError: ``a`` is not 1-D or 2-D; ``threads`` < 1.
///     numpy.exceptions.AxisError: ``axis`` out of range.
///     OverflowError: an integer sum outside int64 (uint64 for unsigned input).
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.sum(np.arange(1_000_000, dtype=np.int64))
///     499999500000
///     >>> gilfree.sum(np.array([0.1, 0.2, 0.3]), threads=1)
///     0.6000000000000001
///     >>> gilfree.sum(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8), axis=0)
///     array([5, 7, 9])
#[pyfunction(name = "sum", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn sum_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("sum", a, axis, Op::Sum, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The arithmetic mean of a 1-D or 2-D array (a Python float), or along ``axis`` (an array:
/// float64 for integer and bool input, else the input's float dtype), computed without the GIL.
///
/// Floats: the pairwise float64 sum divided by the length. Integers: the exact sum, rounded
/// once, divided by the length (never overflows). An empty array gives nan, as NumPy does, but
/// without a warning. Deterministic for every ``threads`` value.
///
/// Args:
///     a: a 1-D or 2-D array of any dtype :func:`gilfree.sum` takes.
///     axis: None, or 0 / 1 of a 2-D array (see :func:`gilfree.sum`).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.mean(np.array([1, 2, 3, 4], dtype=np.int32))
///     2.5
#[pyfunction(name = "mean", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn mean_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("mean", a, axis, Op::Mean, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The variance of a 1-D or 2-D array (or along ``axis``), ``sum((x - mean)**2) / (n - ddof)``,
/// in one pass over memory.
///
/// Each cache-sized block gets a two-pass mean and sum of squared deviations while it is in L1;
/// blocks merge with Chan et al.'s parallel update. That matches NumPy (which makes several
/// passes and a temporary array) to ~1e-15 on well-conditioned data and stays accurate where the
/// one-pass textbook formula fails (mean 1e9, spread 1). ``n - ddof <= 0`` gives NumPy's answer
/// (inf, or nan if all values are equal), without a warning. Deterministic for every ``threads`` value.
///
/// Args:
///     a: a 1-D or 2-D array of any dtype :func:`gilfree.sum` takes.
///     axis: None, or 0 / 1 of a 2-D array (see :func:`gilfree.sum`).
///     ddof: delta degrees of freedom (an int; negative values are allowed, as in NumPy).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.var(np.array([1.0, 2.0, 3.0, 4.0]))
///     1.25
///     >>> gilfree.var(np.array([1e9 + 1, 1e9 + 2, 1e9 + 3]), ddof=1)
///     1.0
#[pyfunction(name = "var", signature = (a, *, axis = None, ddof = 0, threads = None, progress = None))]
pub(crate) fn var_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("var", a, axis, Op::Var(ddof), threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The moments of a 1-D or 2-D array, ``(n, mean, m2)`` (along ``axis``: n and two float64
/// arrays): its length, its mean and the sum of squared
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
///     a: a 1-D or 2-D array of any dtype :func:`gilfree.sum` takes.
///     axis: None, or 0 / 1 of a 2-D array (see :func:`gilfree.sum`).
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
#[pyfunction(name = "moments", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn moments_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("moments", a, axis, Op::Moments, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The standard deviation of a 1-D or 2-D array (or along ``axis``): the square root of
/// :func:`gilfree.var`.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.std(np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]))
///     2.0
#[pyfunction(name = "std", signature = (a, *, axis = None, ddof = 0, threads = None, progress = None))]
pub(crate) fn std_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("std", a, axis, Op::Std(ddof), threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The smallest element of a 1-D or 2-D array (a Python scalar), or along ``axis`` (an array of the
/// input's dtype). NaN propagates as in NumPy: any NaN makes the result nan.
///
/// Raises:
///     ValueError: ``a`` is empty, or the reduced axis has length 0.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.min(np.array([3, -1, 2], dtype=np.int64))
///     -1
///     >>> gilfree.min(np.array([1.0, np.nan, 0.0]))
///     nan
#[pyfunction(name = "min", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn min_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("min", a, axis, Op::Min, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The largest element of a 1-D or 2-D array (a Python scalar), or along ``axis`` (an array of the
/// input's dtype). NaN propagates as in NumPy.
///
/// Raises:
///     ValueError: ``a`` is empty, or the reduced axis has length 0.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.max(np.array([3.5, -1.0, 2.0], dtype=np.float32))
///     3.5
#[pyfunction(name = "max", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn max_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("max", a, axis, Op::Max, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The index of the first smallest element (flat C-order index for axis=None; along ``axis``, an
/// int64 array); if ``a`` holds a NaN, the index of the first NaN
/// (as NumPy).
///
/// Raises:
///     ValueError: ``a`` is empty, or the reduced axis has length 0.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.argmin(np.array([3.0, 1.0, 1.0]))
///     1
#[pyfunction(name = "argmin", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn argmin_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("argmin", a, axis, Op::ArgMin, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
}

/// The index of the first largest element (flat C-order index for axis=None; along ``axis``, an
/// int64 array); if ``a`` holds a NaN, the index of the first NaN
/// (as NumPy).
///
/// Raises:
///     ValueError: ``a`` is empty, or the reduced axis has length 0.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.argmax(np.array([1.0, np.nan, 3.0, np.nan]))
///     1
#[pyfunction(name = "argmax", signature = (a, *, axis = None, threads = None, progress = None))]
pub(crate) fn argmax_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_prepared!("argmax", a, axis, Op::ArgMax, threads_arg(threads)?, |p| Ok(p
            .call(py)?
            .into_bound(py)))
    })
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
macro_rules! task_form {
    ($kernel:literal, $a:ident, $axis:ident, $threads:ident, $op:expr) => {{
        task_threads($kernel, $threads)?;
        with_prepared!($kernel, $a, $axis, $op, Threads::Caller, |p| p.task($a.py()))
    }};
}

/// The task form of :func:`gilfree.sum` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "sum", signature = (a, *, axis = None, threads = None))]
fn sum_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("sum", a, axis, threads, Op::Sum)
}

/// The task form of :func:`gilfree.mean` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "mean", signature = (a, *, axis = None, threads = None))]
fn mean_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("mean", a, axis, threads, Op::Mean)
}

/// The task form of :func:`gilfree.var` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "var", signature = (a, *, axis = None, ddof = 0, threads = None))]
fn var_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("var", a, axis, threads, Op::Var(ddof))
}

/// The task form of :func:`gilfree.std` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "std", signature = (a, *, axis = None, ddof = 0, threads = None))]
fn std_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = ddof_arg)] ddof: i64,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("std", a, axis, threads, Op::Std(ddof))
}

/// The task form of :func:`gilfree.moments` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "moments", signature = (a, *, axis = None, threads = None))]
fn moments_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("moments", a, axis, threads, Op::Moments)
}

/// The task form of :func:`gilfree.min` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "min", signature = (a, *, axis = None, threads = None))]
fn min_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("min", a, axis, threads, Op::Min)
}

/// The task form of :func:`gilfree.max` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "max", signature = (a, *, axis = None, threads = None))]
fn max_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("max", a, axis, threads, Op::Max)
}

/// The task form of :func:`gilfree.argmin` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "argmin", signature = (a, *, axis = None, threads = None))]
fn argmin_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("argmin", a, axis, threads, Op::ArgMin)
}

/// The task form of :func:`gilfree.argmax` (``threads`` must be None or 1). The array is read on a
/// pool worker after ``submit`` returned: do not write to it until the future is done.
#[pyfunction(name = "argmax", signature = (a, *, axis = None, threads = None))]
fn argmax_task<'py>(
    a: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    task_form!("argmax", a, axis, threads, Op::ArgMax)
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
