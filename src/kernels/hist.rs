//! `histogram` and `bincount`: adapters over `gilfree_kernels::kernels::hist`.
//!
//! What NumPy decides from scalars — the range, the edges' dtype, the types its bin arithmetic
//! promotes to, the edges themselves when a range is given (`np.linspace`) — is decided here by
//! NumPy itself, with the GIL held, from the very expressions `np.histogram` evaluates (on
//! scalars and empty arrays: O(bins) work). What depends on the data — min and max when no range
//! is given, then the counting — runs detached. Without a range the edges are computed in the
//! core by `np.linspace`'s arithmetic, in the input's float type (float64 for integers).
//!
//! Deciding a `range=` plan takes about 25 NumPy calls (~65 µs, more than counting 4,096
//! elements); the last 8 plans are kept ([`RangePlan`]), keyed by what NumPy's promotion reads
//! (the input's dtype, `bins`, and the range's ends by type and value), so a loop of histograms
//! with the same arguments pays it once.

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::hist::{self, HistElem, Key, Real, Uniform};
use numpy::{Element, PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::array::{Array1, View};
use gilfree_pyo3::args::{i64_arg, is_bool};
use gilfree_pyo3::{Form, Prepared};

/// The bins of one call, as the core counts them.
enum Plan<T> {
    /// No range: min/max and the edges computed detached (edges in `f32` for float32 input).
    AutoF32(usize),
    AutoF64(usize),
    UniF32(Uniform<T, f32, f32>),
    UniF32D64(Uniform<T, f32, f64>),
    UniF64(Uniform<T, f64, f64>),
    EdgesF32(Vec<f32>),
    EdgesF64(Vec<f64>),
    EdgesI64(Vec<i64>),
}

/// The weights of a histogram or bincount call.
enum Weights {
    F32(View<f32>),
    F64(View<f64>),
    I32(View<i32>),
    I64(View<i64>),
}

/// A histogram's values (counts, or sums of the weights' dtype).
enum Values {
    I64(Vec<i64>),
    I32(Vec<i32>),
    F64(Vec<f64>),
    F32(Vec<f32>),
}

/// Edges computed detached (no range given).
enum Edges {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// `dtype.char`-like name of a NumPy dtype (`float32`, ...).
fn dtype_name(d: &Bound<'_, PyAny>) -> PyResult<String> {
    d.getattr("name")?.extract::<String>()
}

/// Keeps a `weights=` array: same length as `a` (NumPy: same shape).
fn weights_arg<'py>(
    w: Option<&Bound<'py, PyAny>>,
    len: usize,
    mismatch: &str,
) -> PyResult<Option<(Weights, Py<PyAny>)>> {
    let Some(w) = w.filter(|w| !w.is_none()) else {
        return Ok(None);
    };
    let arr = Array1::from_py(w, "weights")?;
    macro_rules! take {
        ($x:ident, $v:ident) => {{
            if $x.len() != len {
                return Err(PyValueError::new_err(mismatch.to_owned()));
            }
            let keep = $x.as_any().clone().unbind();
            (Weights::$v(View::of(&$x)), keep)
        }};
    }
    Ok(Some(match arr {
        Array1::F32(x) => take!(x, F32),
        Array1::F64(x) => take!(x, F64),
        Array1::I32(x) => take!(x, I32),
        Array1::I64(x) => take!(x, I64),
    }))
}

/// Reads a 1-D NumPy array of `T` into a vector (small: edges).
fn to_vec<T: Element + Copy>(obj: &Bound<'_, PyAny>) -> PyResult<Vec<T>> {
    let a = obj.cast::<PyArray1<T>>()?;
    Ok(a.try_readonly()?
        .as_slice()
        .map(<[T]>::to_vec)
        .unwrap_or_else(|_| {
            // Not contiguous (cannot happen for the arrays built here): read element by element.
            a.to_vec().unwrap_or_default()
        }))
}

/// `numpy.dtype(name)`.
fn np_dtype<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    numpy(py)?.getattr("dtype")?.call1((name,))
}

/// What `np.histogram` computes from `bins` and `range`, for an input of type `T`: the plan, and
/// the edges array when NumPy computes it here.
fn plan<'py, T: HistElem + Element>(
    a: &Bound<'py, PyAny>,
    bins: Option<&Bound<'py, PyAny>>,
    range: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Plan<T>, Option<Py<PyAny>>)> {
    let py = a.py();
    let key = cache_key(a, bins, range)?;
    if let Some(hit) = key.as_ref().and_then(|k| RangePlan::cached(py, k)) {
        return hit.plan::<T>(py);
    }
    let np = numpy(py)?;
    let bins = match bins {
        None => 10usize.into_pyobject(py)?.into_any(),
        Some(b) => b.clone(),
    };
    if let Ok(s) = bins.cast::<PyString>() {
        return Err(PyValueError::new_err(format!(
            "bins={s}: gilfree.histogram takes a number of bins or an array of edges; for a \
             bin-width rule, compute the edges with numpy.histogram_bin_edges(a, bins={:?}) and \
             pass them as bins",
            s.to_str()?
        )));
    }
    let ndim: usize = np.call_method1("ndim", (&bins,))?.extract()?;
    let t_is_float = T::KIND == hist::Kind::Float;
    let t_dtype = a.getattr("dtype")?;
    if ndim == 1 {
        let edges = np.call_method1("asarray", (&bins,))?;
        let lo = edges.call_method1("__getitem__", (pyo3::types::PySlice::new(py, 0, -1, 1),))?;
        let hi = edges.call_method1("__getitem__", (pyo3::types::PySlice::new(py, 1, isize::MAX, 1),))?;
        let decreasing = lo.rich_compare(&hi, pyo3::basic::CompareOp::Gt)?;
        if np.call_method1("any", (decreasing,))?.is_truthy()? {
            return Err(PyValueError::new_err(
                "`bins` must increase monotonically, when an array",
            ));
        }
        let cmp = np.call_method1("promote_types", (&t_dtype, edges.getattr("dtype")?))?;
        let name = dtype_name(&cmp)?;
        let as_type = |n: &str| edges.call_method1("astype", (np_dtype(py, n)?,));
        let plan = match name.as_str() {
            "float32" => Plan::EdgesF32(to_vec::<f32>(&as_type("float32")?)?),
            "float64" => Plan::EdgesF64(to_vec::<f64>(&as_type("float64")?)?),
            "int8" | "int16" | "int32" | "int64" => Plan::EdgesI64(to_vec::<i64>(&as_type("int64")?)?),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "bins: edges of dtype {} cannot be compared with a of dtype {} (NumPy would \
                     compare in {other}); pass float64 edges",
                    dtype_name(&edges.getattr("dtype")?)?,
                    dtype_name(&t_dtype)?
                )))
            }
        };
        let has_nan = match &plan {
            Plan::EdgesF32(e) => e.iter().any(|v| v.is_nan()),
            Plan::EdgesF64(e) => e.iter().any(|v| v.is_nan()),
            _ => false,
        };
        if has_nan {
            return Err(PyValueError::new_err("bins: the edges must not be NaN"));
        }
        return Ok((plan, Some(edges.unbind())));
    }
    if ndim != 0 {
        return Err(PyValueError::new_err("`bins` must be 1d, when an array"));
    }
    let n_obj = py
        .import("operator")?
        .call_method1("index", (&bins,))
        .map_err(|_| PyTypeError::new_err("`bins` must be an integer, a string, or an array"))?;
    let n: i64 = i64_arg(&n_obj, "bins", "an int >= 1")?;
    if n < 1 {
        return Err(PyValueError::new_err("`bins` must be positive, when an integer"));
    }
    let n = usize::try_from(n).map_err(|_| PyValueError::new_err("`bins` is too large"))?;
    let Some(range) = range.filter(|r| !r.is_none()) else {
        return Ok((
            if T::KIND == hist::Kind::Float && size_of::<T>() == 4 {
                Plan::AutoF32(n)
            } else {
                Plan::AutoF64(n)
            },
            None,
        ));
    };
    // `first_edge, last_edge = range`, then `_get_outer_edges`.
    let items: Vec<Bound<'py, PyAny>> = range.try_iter()?.collect::<PyResult<_>>()?;
    let [first, last] = <[Bound<'py, PyAny>; 2]>::try_from(items).map_err(|v| {
        PyValueError::new_err(format!("range must be a pair (min, max), got {} values", v.len()))
    })?;
    if first.gt(&last)? {
        return Err(PyValueError::new_err(
            "max must be larger than min in range parameter.",
        ));
    }
    let finite = |v: &Bound<'py, PyAny>| -> PyResult<bool> { np.call_method1("isfinite", (v,))?.is_truthy() };
    if !(finite(&first)? && finite(&last)?) {
        return Err(PyValueError::new_err(format!(
            "supplied range of [{}, {}] is not finite",
            first.str()?,
            last.str()?
        )));
    }
    let (first, last) = if first.eq(&last)? {
        (first.sub(0.5)?, last.add(0.5)?)
    } else {
        (first, last)
    };
    // bin_type = np.result_type(first_edge, last_edge, a), float for integers.
    let mut bin_type = np.call_method1("result_type", (&first, &last, a))?;
    if np
        .call_method1("issubdtype", (&bin_type, np.getattr("integer")?))?
        .is_truthy()?
    {
        bin_type = np.call_method1("result_type", (&bin_type, py.get_type::<PyFloat>()))?;
    }
    let b_name = dtype_name(&bin_type)?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("endpoint", true)?;
    kwargs.set_item("dtype", &bin_type)?;
    let edges = np.call_method("linspace", (&first, &last, n + 1), Some(&kwargs))?;
    // _unsigned_subtract(last_edge, first_edge)
    let dt = np.call_method1("result_type", (&last, &first))?;
    let denom = if dtype_name(&dt)?.starts_with("int") {
        let udt = np_dtype(
            py,
            &format!("uint{}", dt.getattr("itemsize")?.extract::<usize>()? * 8),
        )?;
        let kw = pyo3::types::PyDict::new(py);
        kw.set_item("casting", "unsafe")?;
        kw.set_item("dtype", udt)?;
        let l = np.call_method1("asarray", (&last, &dt))?;
        let f = np.call_method1("asarray", (&first, &dt))?;
        np.call_method("subtract", (l, f), Some(&kw))?
    } else {
        let kw = pyo3::types::PyDict::new(py);
        kw.set_item("dtype", &dt)?;
        np.call_method("subtract", (&last, &first), Some(&kw))?
    };
    // The types of `(tmp_a - first_edge) / norm_denom` for tmp_a of bin_type.
    let empty_b = np.call_method1("empty", (0, &bin_type))?;
    let s_type = np.call_method1("result_type", (&empty_b, &first))?;
    let empty_s = np.call_method1("empty", (0, &s_type))?;
    let d_type = np.call_method1("result_type", (&empty_s, &denom))?;
    let (s_name, d_name) = (dtype_name(&s_type)?, dtype_name(&d_type)?);
    let as_f64 = |v: &Bound<'py, PyAny>, ty: &Bound<'py, PyAny>| -> PyResult<f64> {
        np.call_method1("asarray", (v,))?
            .call_method1("astype", (ty,))?
            .call_method1("astype", ("float64",))?
            .call_method0("item")?
            .extract()
    };
    let first_s = as_f64(&first, &s_type)?;
    let denom_d = as_f64(&denom, &d_type)?;
    // The kept elements, `tmp_a >= first_edge` and `tmp_a <= last_edge` as NumPy compares them.
    let lo = bound_cmp(py, &t_dtype, t_is_float, &first)?;
    let hi = bound_cmp(py, &t_dtype, t_is_float, &last)?;
    let unsupported = || {
        PyTypeError::new_err(format!(
            "range: NumPy would compute these bins in {b_name}/{d_name}; gilfree.histogram \
             computes in float32 and float64 only (pass range as Python floats)"
        ))
    };
    if s_name != b_name {
        return Err(unsupported());
    }
    let types = match (b_name.as_str(), d_name.as_str()) {
        ("float32", "float32") => UniTypes::F32,
        ("float32", "float64") => UniTypes::F32D64,
        ("float64", "float64") => UniTypes::F64,
        _ => return Err(unsupported()),
    };
    let found = RangePlan {
        lo,
        hi,
        types,
        first: first_s,
        denom: denom_d,
        n,
        edges: to_vec::<f64>(&edges.call_method1("astype", ("float64",))?)?,
        edges_obj: edges.unbind(),
    };
    let out = found.plan::<T>(py)?;
    if let Some(key) = key {
        found.remember(key);
    }
    Ok(out)
}

/// The types of a uniform plan's arithmetic: (edges, division).
#[derive(Clone, Copy)]
enum UniTypes {
    F32,
    F32D64,
    F64,
}

/// What [`plan`] decides from `bins=int` and `range=(first, last)` for one input dtype, with
/// about 25 NumPy calls (~65 µs): kept so that the next call with the same arguments skips them.
/// The edges are NumPy's own; `edges` holds them as float64 (exact for float32 edges too).
struct RangePlan {
    lo: Cmp,
    hi: Cmp,
    types: UniTypes,
    first: f64,
    denom: f64,
    n: usize,
    edges: Vec<f64>,
    edges_obj: Py<PyAny>,
}

/// A [`RangePlan`]'s key: the input's dtype, the number of bins (an exact `int`), and both ends
/// of the range (an exact tuple or list), each an exact Python `int` (that fits i64) or `float`,
/// by type and value. NumPy's promotion
/// depends on nothing else here (the input is a 1-D array: only its dtype counts).
#[derive(Clone, PartialEq)]
struct PlanKey {
    dtype: String,
    n: i64,
    first: (bool, u64),
    last: (bool, u64),
}

/// The last [`PLAN_CACHE_LEN`] range plans, most recent first.
static PLAN_CACHE: std::sync::Mutex<Vec<(PlanKey, RangePlan)>> = std::sync::Mutex::new(Vec::new());
const PLAN_CACHE_LEN: usize = 8;
/// Plans with more bins are not kept (their edges would take memory for good).
const PLAN_CACHE_MAX_BINS: usize = 1 << 16;

/// The cache key of a call, if its arguments are plain enough to have one.
fn cache_key(
    a: &Bound<'_, PyAny>,
    bins: Option<&Bound<'_, PyAny>>,
    range: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<PlanKey>> {
    let scalar = |v: &Bound<'_, PyAny>| -> Option<(bool, u64)> {
        if v.is_exact_instance_of::<PyFloat>() {
            v.extract::<f64>().ok().map(|f| (true, f.to_bits()))
        } else if v.is_exact_instance_of::<PyInt>() {
            #[allow(clippy::cast_sign_loss)] // the bits of the value, for the key
            v.extract::<i64>().ok().map(|i| (false, i as u64))
        } else {
            None
        }
    };
    let (Some(bins), Some(range)) = (bins, range) else {
        return Ok(None);
    };
    let ends = if range.is_exact_instance_of::<PyTuple>() {
        range.cast::<PyTuple>()?.to_list()
    } else if range.is_exact_instance_of::<PyList>() {
        range.cast::<PyList>()?.clone()
    } else {
        return Ok(None);
    };
    if !bins.is_exact_instance_of::<PyInt>() || ends.len() != 2 {
        return Ok(None);
    }
    let Ok(n) = bins.extract::<i64>() else {
        return Ok(None);
    };
    #[allow(clippy::cast_possible_wrap)] // a small constant
    if !(1..=PLAN_CACHE_MAX_BINS as i64).contains(&n) {
        return Ok(None);
    }
    let (Some(first), Some(last)) = (scalar(&ends.get_item(0)?), scalar(&ends.get_item(1)?)) else {
        return Ok(None);
    };
    let dtype = dtype_name(&a.getattr("dtype")?)?;
    Ok(Some(PlanKey {
        dtype,
        n,
        first,
        last,
    }))
}

impl RangePlan {
    /// The plan kept for `key`, copied (never waits: a lock held by another thread, or one
    /// inherited locked through `fork`, is a miss).
    fn cached(py: Python<'_>, key: &PlanKey) -> Option<RangePlan> {
        let cache = PLAN_CACHE.try_lock().ok()?;
        let (_, p) = cache.iter().find(|(k, _)| k == key)?;
        Some(RangePlan {
            lo: p.lo,
            hi: p.hi,
            types: p.types,
            first: p.first,
            denom: p.denom,
            n: p.n,
            edges: p.edges.clone(),
            edges_obj: p.edges_obj.clone_ref(py),
        })
    }

    /// Keeps this plan for `key` (the oldest goes when the cache is full).
    fn remember(self, key: PlanKey) {
        if let Ok(mut cache) = PLAN_CACHE.try_lock() {
            cache.retain(|(k, _)| *k != key);
            cache.insert(0, (key, self));
            cache.truncate(PLAN_CACHE_LEN);
        }
    }

    /// The plan for an input of type `T`, and a fresh copy of NumPy's edges (the caller may
    /// write to the array it gets).
    fn plan<T: HistElem>(&self, py: Python<'_>) -> PyResult<(Plan<T>, Option<Py<PyAny>>)> {
        let ge = |x: T| match self.lo {
            Cmp::Int(b) => x.as_i128() >= b,
            Cmp::F32(b) => x.as_f32() >= b,
            Cmp::F64(b) => x.as_f64() >= b,
        };
        let le = |x: T| match self.hi {
            Cmp::Int(b) => x.as_i128() <= b,
            Cmp::F32(b) => x.as_f32() <= b,
            Cmp::F64(b) => x.as_f64() <= b,
        };
        let keep = hist::keep_bounds(ge, le);
        #[allow(clippy::cast_possible_truncation)] // float32 edges, exact in float64 and back
        let f32s = || self.edges.iter().map(|&e| e as f32).collect::<Vec<f32>>();
        let (first, denom, n) = (self.first, self.denom, self.n);
        let plan = match self.types {
            UniTypes::F32 => Plan::UniF32(uniform(keep, first, denom, n, f32s())?),
            UniTypes::F32D64 => Plan::UniF32D64(uniform(keep, first, denom, n, f32s())?),
            UniTypes::F64 => Plan::UniF64(uniform(keep, first, denom, n, self.edges.clone())?),
        };
        let edges = self.edges_obj.bind(py).call_method0("copy")?;
        Ok((plan, Some(edges.unbind())))
    }
}

fn uniform<T, B: Real, D: Real>(
    keep: Option<(T, T)>,
    first: f64,
    denom: f64,
    n: usize,
    edges: Vec<B>,
) -> PyResult<Uniform<T, B, D>> {
    hist::check_edges(&edges, n)
        .map_err(|e| PyValueError::new_err(e.to_string().replacen("bins: ", "", 1)))?;
    Ok(Uniform {
        keep,
        first: B::from_f64(first),
        denom: D::from_f64(denom),
        n,
        edges,
    })
}

/// How NumPy compares the data (type `T`) with one range bound, as a predicate on `x`.
#[derive(Clone, Copy)]
enum Cmp {
    /// Exactly, as integers (integer data, integer bound).
    Int(i128),
    F32(f32),
    F64(f64),
}

fn bound_cmp(
    py: Python<'_>,
    t_dtype: &Bound<'_, PyAny>,
    t_is_float: bool,
    v: &Bound<'_, PyAny>,
) -> PyResult<Cmp> {
    let np = numpy(py)?;
    let integral = v.is_instance_of::<PyInt>()
        || is_bool(v)
        || np
            .call_method1(
                "issubdtype",
                (
                    np.call_method1("asarray", (v,))?.getattr("dtype")?,
                    np.getattr("integer")?,
                ),
            )?
            .is_truthy()?;
    if !t_is_float && integral {
        let int = py.get_type::<PyInt>().call1((v,))?;
        let clamp = int.call_method1("__gt__", (1i128 << 100,))?.is_truthy()?;
        let clamp_neg = int.call_method1("__lt__", (-(1i128 << 100),))?.is_truthy()?;
        return Ok(Cmp::Int(if clamp {
            1 << 100
        } else if clamp_neg {
            -(1 << 100)
        } else {
            int.extract()?
        }));
    }
    let empty_t = np.call_method1("empty", (0, t_dtype))?;
    let k = np.call_method1("result_type", (empty_t, v))?;
    let value: f64 = np
        .call_method1("asarray", (v,))?
        .call_method1("astype", (&k,))?
        .call_method1("astype", ("float64",))?
        .call_method0("item")?
        .extract()?;
    match dtype_name(&k)?.as_str() {
        "float32" => Ok(Cmp::F32(value as f32)),
        "float64" => Ok(Cmp::F64(value)),
        other => Err(PyTypeError::new_err(format!(
            "range: NumPy would compare a with this bound in {other}; gilfree.histogram compares \
             in float32, float64 or exactly as integers (pass range as Python floats or ints)"
        ))),
    }
}

/// The weighted sums of one plan's bins, into the weights' dtype.
fn weighted_values<T: HistElem>(
    ctx: &Ctx<'_>,
    a: &[T],
    w: &Weights,
    nbins: usize,
    bin: impl Fn(T) -> usize + Sync,
) -> gilfree_kernels::Result<Values> {
    macro_rules! go {
        ($v:expr, $out:ident, $acc:ty) => {
            // SAFETY: the weights array is alive and unmoved (its reference is kept by the
            // finish step), as for the data.
            unsafe {
                $v.with_slice(ctx, |ws| {
                    hist::weighted::<T, _, $acc, _>(ctx, a, ws, nbins, &bin)
                })
            }
            .map(Values::$out)
        };
    }
    match w {
        Weights::F64(v) => go!(v, F64, f64),
        Weights::F32(v) => go!(v, F32, f32),
        Weights::I64(v) => go!(v, I64, i64),
        Weights::I32(v) => go!(v, I32, i32),
    }
}

/// Runs one plan: counts (or weighted sums) and, with no range, the edges.
fn run_plan<T: HistElem>(
    ctx: &Ctx<'_>,
    a: &[T],
    plan: Plan<T>,
    w: Option<&Weights>,
) -> gilfree_kernels::Result<(Values, Option<Edges>)> {
    fn values<T: HistElem, F: Fn(T) -> usize + Sync>(
        ctx: &Ctx<'_>,
        a: &[T],
        w: Option<&Weights>,
        nbins: usize,
        bin: F,
    ) -> gilfree_kernels::Result<Values> {
        match w {
            None => hist::count(ctx, a, nbins, bin).map(Values::I64),
            Some(w) => weighted_values(ctx, a, w, nbins, bin),
        }
    }
    fn uni<T: HistElem, B: Real, D: Real>(
        ctx: &Ctx<'_>,
        a: &[T],
        p: &Uniform<T, B, D>,
        w: Option<&Weights>,
    ) -> gilfree_kernels::Result<Values> {
        if w.is_none() {
            // Counts: the batched, vectorised mapper.
            return hist::histogram_uniform(ctx, a, p).map(Values::I64);
        }
        match p.keep {
            Some((lo, hi)) => {
                #[allow(clippy::cast_precision_loss)]
                let n_d = D::from_f64(p.n as f64);
                values(ctx, a, w, p.n, move |x| p.bin(x, n_d, lo, hi))
            }
            // Nothing in range: every element goes to the "not counted" bin.
            None => values(ctx, a, w, p.n, |_| p.n),
        }
    }
    fn edges<T: HistElem, C: Key>(
        ctx: &Ctx<'_>,
        a: &[T],
        e: &[C],
        w: Option<&Weights>,
    ) -> gilfree_kernels::Result<Values> {
        let nb = e.len().saturating_sub(1);
        if nb == 0 {
            return values(ctx, a, w, 0, |_| 0);
        }
        values(ctx, a, w, nb, |x| hist::edges_index(C::of(x), e))
    }
    Ok(match plan {
        Plan::AutoF32(n) => {
            let p = hist::auto_plan::<T, f32>(ctx, a, n)?;
            (uni(ctx, a, &p, w)?, Some(Edges::F32(p.edges)))
        }
        Plan::AutoF64(n) => {
            let p = hist::auto_plan::<T, f64>(ctx, a, n)?;
            (uni(ctx, a, &p, w)?, Some(Edges::F64(p.edges)))
        }
        Plan::UniF32(p) => (uni(ctx, a, &p, w)?, None),
        Plan::UniF32D64(p) => (uni(ctx, a, &p, w)?, None),
        Plan::UniF64(p) => (uni(ctx, a, &p, w)?, None),
        Plan::EdgesF32(e) => (edges(ctx, a, &e, w)?, None),
        Plan::EdgesF64(e) => (edges(ctx, a, &e, w)?, None),
        Plan::EdgesI64(e) => (edges(ctx, a, &e, w)?, None),
    })
}

fn values_to_py(py: Python<'_>, v: Values) -> Bound<'_, PyAny> {
    match v {
        Values::I64(v) => PyArray1::from_vec(py, v).into_any(),
        Values::I32(v) => PyArray1::from_vec(py, v).into_any(),
        Values::F64(v) => PyArray1::from_vec(py, v).into_any(),
        Values::F32(v) => PyArray1::from_vec(py, v).into_any(),
    }
}

/// The one parsing of a `histogram` call (direct call and task form).
fn prepare_histogram<'py, T: HistElem + Element>(
    a: PyReadonlyArray1<'py, T>,
    bins: Option<&Bound<'py, PyAny>>,
    range: Option<&Bound<'py, PyAny>>,
    weights: Option<&Bound<'py, PyAny>>,
    density: bool,
    threads: Threads,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<(Values, Option<Edges>)> + Send + 'static,
        impl FnOnce(Python<'_>, (Values, Option<Edges>)) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
> {
    let len = a.len();
    let w = weights_arg(weights, len, "weights should have the same shape as a.")?;
    let (plan, edges_obj) = plan::<T>(a.as_any(), bins, range)?;
    let view = View::of(&a);
    let bytes = view.nbytes();
    let keep: Py<PyAny> = a.as_any().clone().unbind();
    let (wview, keep_w) = match w {
        Some((v, k)) => (Some(v), Some(k)),
        None => (None, None),
    };
    let work = move |ctx: &Ctx<'_>| {
        // SAFETY: the input (and the weights) are alive and unmoved: `finish` holds them and
        // outlives this closure's run, as in the other families.
        unsafe { view.with_slice(ctx, |s| run_plan(ctx, s, plan, wview.as_ref())) }
    };
    let finish = move |py: Python<'_>, (values, edges): (Values, Option<Edges>)| {
        drop(keep);
        drop(keep_w);
        let edges = match (edges, edges_obj) {
            (Some(Edges::F32(e)), _) => PyArray1::from_vec(py, e).into_any(),
            (Some(Edges::F64(e)), _) => PyArray1::from_vec(py, e).into_any(),
            (None, Some(o)) => o.into_bound(py),
            (None, None) => unreachable!("histogram: edges from neither NumPy nor the core"),
        };
        let mut n = values_to_py(py, values);
        if density {
            // NumPy's own expression: n / db / n.sum(), db = np.array(np.diff(bin_edges), float).
            let np = numpy(py)?;
            let db = np.call_method1(
                "array",
                (np.call_method1("diff", (&edges,))?, py.get_type::<PyFloat>()),
            )?;
            let total = n.call_method0("sum")?;
            n = n.div(db)?.div(total)?;
        }
        Ok(PyTuple::new(py, [n, edges])?.into_any().unbind())
    };
    Ok(Prepared::new("histogram", work, finish)
        .threads(threads)
        .work_bytes(bytes))
}

/// Borrows `obj` read-only as a 1-D array of `T` (a dtype `Array1` does not take).
fn narrow<'py, T: Element>(arr: &Bound<'py, PyArray1<T>>, arg: &str) -> PyResult<PyReadonlyArray1<'py, T>> {
    arr.try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{arg} cannot be borrowed: {e}")))
}

/// Runs `$then` with `$x` bound to `obj` read as the integer dtypes NumPy's histogram and
/// bincount take beyond `Array1`'s: bool (read as its uint8 view, as NumPy converts it), int8,
/// int16, uint8, uint16, uint32, uint64. `None` for any other object.
macro_rules! with_narrow_ints {
    ($obj:expr, $arg:expr, |$x:ident| $then:expr) => {{
        let obj: &Bound<'_, PyAny> = $obj;
        if let Ok(b) = obj.cast::<PyArray1<bool>>() {
            let u = b.call_method1("view", ("uint8",))?;
            let u = u.cast::<PyArray1<u8>>()?;
            let $x = narrow(u, $arg)?;
            Some($then)
        } else if let Ok(a) = obj.cast::<PyArray1<i8>>() {
            let $x = narrow(a, $arg)?;
            Some($then)
        } else if let Ok(a) = obj.cast::<PyArray1<i16>>() {
            let $x = narrow(a, $arg)?;
            Some($then)
        } else if let Ok(a) = obj.cast::<PyArray1<u8>>() {
            let $x = narrow(a, $arg)?;
            Some($then)
        } else if let Ok(a) = obj.cast::<PyArray1<u16>>() {
            let $x = narrow(a, $arg)?;
            Some($then)
        } else if let Ok(a) = obj.cast::<PyArray1<u32>>() {
            let $x = narrow(a, $arg)?;
            Some($then)
        } else if let Ok(a) = obj.cast::<PyArray1<u64>>() {
            let $x = narrow(a, $arg)?;
            Some($then)
        } else {
            None
        }
    }};
}

macro_rules! with_histogram {
    ($a:ident, $bins:ident, $range:ident, $weights:ident, $density:ident, $threads:expr, |$p:ident| $then:expr) => {{
        let threads = $threads;
        if let Some(r) = with_narrow_ints!($a, "a", |x| {
            let $p = prepare_histogram(x, $bins, $range, $weights, $density, threads)?;
            $then
        }) {
            r
        } else {
            match Array1::from_py($a, "a")? {
                Array1::F32(x) => {
                    let $p = prepare_histogram(x, $bins, $range, $weights, $density, threads)?;
                    $then
                }
                Array1::F64(x) => {
                    let $p = prepare_histogram(x, $bins, $range, $weights, $density, threads)?;
                    $then
                }
                Array1::I32(x) => {
                    let $p = prepare_histogram(x, $bins, $range, $weights, $density, threads)?;
                    $then
                }
                Array1::I64(x) => {
                    let $p = prepare_histogram(x, $bins, $range, $weights, $density, threads)?;
                    $then
                }
            }
        }
    }};
}

/// The histogram of a 1-D array, computed without the GIL on every core: the same
/// ``(hist, bin_edges)`` as ``numpy.histogram``.
///
/// NumPy's rules exactly: the edges (``numpy.linspace``'s arithmetic; float32 input gives
/// float32 edges, integers float64), the last bin closed, values outside ``range`` (and NaN, with
/// a range) ignored, NumPy's bin index with its rounding correction, ``intp`` counts, the
/// weights' dtype with ``weights``. Weighted sums follow NumPy's order (float64 sums per block of
/// 65,536 elements, added block after block): for equal-width bins they are NumPy's bits, and
/// the same at every ``threads`` value.
///
/// Args:
///     a: a 1-D NumPy array or buffer-protocol object of float32, float64, int32 or int64, or
///        a 1-D NumPy array of bool, int8, int16, uint8, uint16, uint32 or uint64 (not float16
///        yet; N-D: pass ``a.ravel()``).
///     bins: the number of equal-width bins (an int >= 1), or a 1-D increasing array of edges
///        (no NaN). Bin-width rules (``"auto"``, ...): compute the edges with
///        ``numpy.histogram_bin_edges`` and pass them.
///     range: ``(min, max)`` of the bins (ignored with explicit edges); default: the data's
///        min and max, which must then be finite.
///     weights: None, or an array of the length of ``a`` (float32, float64, int32 or int64).
///     density: divide by the total and the bin widths, as NumPy does.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     ``(hist, bin_edges)``, as ``numpy.histogram``.
///
/// Raises:
///     TypeError: ``a`` or ``weights`` is not an array/buffer of a supported dtype; ``bins`` is
///         neither an int nor an array.
///     ValueError: ``bins`` < 1, a string, decreasing or NaN edges; a bad ``range``; no range
///         and NaN or infinite data; bins too many for the range; ``weights`` of another
///         length; ``a`` not 1-D.
///     MemoryError: the bins cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.histogram(np.array([1.0, 2.0, 1.0]), bins=[0, 1, 2, 3])
///     (array([0, 2, 1]), array([0, 1, 2, 3]))
///     >>> hist, edges = gilfree.histogram(np.arange(5), bins=4)
///     >>> hist, edges
///     (array([1, 1, 1, 2]), array([0., 1., 2., 3., 4.]))
#[pyfunction(name = "histogram", signature = (a, bins = None, range = None, *, weights = None, density = false, threads = None, progress = None))]
#[pyo3(
    text_signature = "(a, bins=10, range=None, *, weights=None, density=False, threads=None, progress=None)"
)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn histogram_py<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    bins: Option<&Bound<'py, PyAny>>,
    range: Option<&Bound<'py, PyAny>>,
    weights: Option<&Bound<'py, PyAny>>,
    density: bool,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_histogram!(
            a,
            bins,
            range,
            weights,
            density,
            Form::Direct.threads("histogram", threads)?,
            |p| p.call(py)
        )
    })
}

/// The task form of :func:`gilfree.histogram` (``threads`` must be None or 1).
#[pyfunction(name = "histogram", signature = (a, bins = None, range = None, *, weights = None, density = false, threads = None))]
#[pyo3(text_signature = "(a, bins=10, range=None, *, weights=None, density=False, threads=None)")]
fn histogram_task<'py>(
    a: &Bound<'py, PyAny>,
    bins: Option<&Bound<'py, PyAny>>,
    range: Option<&Bound<'py, PyAny>>,
    weights: Option<&Bound<'py, PyAny>>,
    density: bool,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    with_histogram!(
        a,
        bins,
        range,
        weights,
        density,
        Form::Task.threads("histogram", threads)?,
        |p| p.task(a.py())
    )
}

/// The one parsing of a `bincount` call.
fn prepare_bincount<'py, T: HistElem + Element>(
    x: PyReadonlyArray1<'py, T>,
    weights: Option<&Bound<'py, PyAny>>,
    minlength: usize,
    threads: Threads,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Values> + Send + 'static,
        impl FnOnce(Python<'_>, Values) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
> {
    let w = weights_arg(
        weights,
        x.len(),
        "The weights and list don't have the same length.",
    )?;
    let view = View::of(&x);
    let bytes = view.nbytes();
    let keep: Py<PyAny> = x.as_any().clone().unbind();
    let (wview, keep_w) = match w {
        Some((v, k)) => (Some(v), Some(k)),
        None => (None, None),
    };
    let work = move |ctx: &Ctx<'_>| {
        // SAFETY: as in `prepare_histogram`.
        unsafe {
            view.with_slice(ctx, |s| match &wview {
                // NumPy: an empty x gives intp zeros, weights or not.
                _ if s.is_empty() => hist::bincount(ctx, s, minlength).map(Values::I64),
                None => hist::bincount(ctx, s, minlength).map(Values::I64),
                Some(w) => {
                    macro_rules! go {
                        ($v:expr) => {
                            $v.with_slice(ctx, |ws| hist::bincount_weighted(ctx, s, ws, minlength))
                                .map(Values::F64)
                        };
                    }
                    match w {
                        Weights::F64(v) => go!(v),
                        Weights::F32(v) => go!(v),
                        Weights::I64(v) => go!(v),
                        Weights::I32(v) => go!(v),
                    }
                }
            })
        }
    };
    let finish = move |py: Python<'_>, v: Values| {
        drop(keep);
        drop(keep_w);
        Ok(values_to_py(py, v).unbind())
    };
    Ok(Prepared::new("bincount", work, finish)
        .threads(threads)
        .work_bytes(bytes))
}

fn minlength_arg(m: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    // None is the default (0); NumPy 2 refuses an explicit None, which cannot be told apart here.
    let Some(m) = m.filter(|m| !m.is_none()) else {
        return Ok(0);
    };
    let v = i64_arg(m, "minlength", "an int >= 0")?;
    usize::try_from(v).map_err(|_| PyValueError::new_err("'minlength' must not be negative"))
}

macro_rules! with_bincount {
    ($x:ident, $weights:ident, $minlength:ident, $threads:expr, |$p:ident| $then:expr) => {{
        let threads = $threads;
        let minlength = minlength_arg($minlength)?;
        if let Some(r) = with_narrow_ints!($x, "x", |x| {
            let $p = prepare_bincount(x, $weights, minlength, threads)?;
            $then
        }) {
            r
        } else {
            match Array1::from_py($x, "x")? {
                Array1::I32(x) => {
                    let $p = prepare_bincount(x, $weights, minlength, threads)?;
                    $then
                }
                Array1::I64(x) => {
                    let $p = prepare_bincount(x, $weights, minlength, threads)?;
                    $then
                }
                Array1::F32(_) | Array1::F64(_) => {
                    let d = $x
                        .getattr("dtype")
                        .and_then(|d| d.str().map(|s| s.to_string()))
                        .unwrap_or_default();
                    return Err(PyTypeError::new_err(format!(
                        "Cannot cast array data from dtype('{d}') to dtype('int64') according to the \
                     rule 'safe' (bincount counts non-negative integers: convert with \
                     x.astype(np.intp) if truncating is what you want)"
                    )));
                }
            }
        }
    }};
}

/// Counts of each non-negative integer in a 1-D array, computed without the GIL on every core:
/// the same array as ``numpy.bincount``.
///
/// The output has ``max(x) + 1`` entries (at least ``minlength``): ``intp`` counts, or float64
/// sums of ``weights`` (float64 sums per block of 65,536 elements added in block order: the same
/// bits at every ``threads`` value, within rounding of NumPy's single sequential sum).
///
/// Args:
///     x: a 1-D NumPy array or buffer-protocol object of int32 or int64, or a 1-D NumPy array of
///        bool, int8, int16, uint8, uint16, uint32 or uint64; no negative values.
///     weights: None, or an array of the length of ``x`` (float32, float64, int32 or int64).
///     minlength: the least length of the output (an int >= 0).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     An int64 (``intp``) array, or float64 with ``weights``.
///
/// Raises:
///     TypeError: ``x`` is a float array (NumPy's casting rule) or not an array; ``minlength``
///         is not an int.
///     ValueError: a negative value in ``x``; ``minlength`` < 0; ``weights`` of another length.
///     MemoryError: the output (``max(x) + 1`` entries) cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import numpy as np, gilfree
///     >>> gilfree.bincount(np.array([0, 1, 1, 3, 2, 1, 7]))
///     array([1, 3, 1, 1, 0, 0, 0, 1])
///     >>> gilfree.bincount(np.array([0, 1, 1, 2]), weights=np.array([0.5, 1.0, 0.25, 2.0]), minlength=5)
///     array([0.5 , 1.25, 2.  , 0.  , 0.  ])
#[pyfunction(name = "bincount", signature = (x, weights = None, minlength = None, *, threads = None, progress = None))]
#[pyo3(text_signature = "(x, weights=None, minlength=0, *, threads=None, progress=None)")]
pub(crate) fn bincount_py<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    weights: Option<&Bound<'py, PyAny>>,
    minlength: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        with_bincount!(
            x,
            weights,
            minlength,
            Form::Direct.threads("bincount", threads)?,
            |p| p.call(py)
        )
    })
}

/// The task form of :func:`gilfree.bincount` (``threads`` must be None or 1).
#[pyfunction(name = "bincount", signature = (x, weights = None, minlength = None, *, threads = None))]
#[pyo3(text_signature = "(x, weights=None, minlength=0, *, threads=None)")]
fn bincount_task<'py>(
    x: &Bound<'py, PyAny>,
    weights: Option<&Bound<'py, PyAny>>,
    minlength: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    with_bincount!(
        x,
        weights,
        minlength,
        Form::Task.threads("bincount", threads)?,
        |p| p.task(x.py())
    )
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(histogram_py, m)?)?;
    m.add_function(wrap_pyfunction!(bincount_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(histogram_task, m)?)?;
    m.add_function(wrap_pyfunction!(bincount_task, m)?)?;
    Ok(())
}
