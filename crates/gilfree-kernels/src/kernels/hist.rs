//! `histogram` and `bincount`: NumPy's `np.histogram` and `np.bincount`, counted in parallel.
//!
//! # Bin assignment: NumPy's, operation for operation
//!
//! - **Uniform bins** ([`Uniform`]): NumPy's fast path. An element `x` is kept when
//!   `lo <= x <= hi` (the range, as NumPy compares it, turned into bounds of `x`'s own type by the
//!   binding); its index is `trunc(((B(x) - first) / denom) * n)` with the subtraction in the edge
//!   type `B` and the division and product in `D` (the types NumPy's expression promotes to),
//!   an index of `n` moved to `n - 1`, then NumPy's correction: one down if `B(x) < edges[i]`,
//!   one up if `B(x) >= edges[i + 1]` and `i` is not the last bin. The edges are NumPy's
//!   (`np.linspace` arithmetic: [`linspace`]).
//! - **Explicit edges** ([`edges_index`]): the bin whose half-open interval holds `x`, the last
//!   one closed, compared in the type NumPy's `searchsorted` promotes both to.
//!
//! # Parallel, and the same bits at every thread count
//!
//! Counts are integers: each task counts a fixed range of the input into its own table (four
//! interleaved sub-tables for short tables, so that consecutive equal indices do not wait on each
//! other's store), and the tables are added. Exact, so any split gives the same answer.
//!
//! Weighted sums are floats. They follow NumPy's own order: NumPy's histogram sums the weights
//! of each block of [`BLOCK`] = 65,536 elements sequentially in float64 (`np.bincount`), then
//! adds the blocks' sums into the result (of the weights' dtype) block after block. Here every
//! such block is one task (boundaries fixed by the length alone), its float64 sums are computed
//! in element order, and the block sums are added in block order: **bit for bit NumPy's result
//! for uniform bins**, at every thread count. For explicit edges NumPy sums weights through
//! cumulative sums of sorted blocks (and `bincount` through one sequential sum over the whole
//! array); gilfree uses the same per-block scheme there, so those results are deterministic
//! and at least as accurate as NumPy's, but may differ from it in the last bits.

use std::ops::{Add, Div, Mul, Range, Sub};
use std::sync::Mutex;

use crate::engine::Ctx;
use crate::simd;
use crate::{try_vec, zeroed_vec, Error, Result};

/// NumPy's histogram block (`BLOCK` in `numpy/lib/_histograms_impl.py`): the unit of weighted
/// summation, and of cancellation checks.
pub const BLOCK: usize = 65_536;

/// The most count tables of one call (each task counts into its own).
const MAX_TABLES: usize = 64;

/// The memory the per-task tables of one call may take, in bytes.
const TABLE_BUDGET: usize = 256 << 20;

/// Tables of at most this many bins are split into four interleaved sub-tables.
const INTERLEAVE_MAX: usize = 1 << 16;

/// Whether an input element type is an integer or a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A signed or unsigned integer type.
    Int,
    /// A floating-point type.
    Float,
}

/// An element type `histogram` and `bincount` read: its conversions, as NumPy's casts do them.
pub trait HistElem: Copy + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    /// Integer or float.
    const KIND: Kind;
    /// `float64(x)` (round to nearest).
    fn as_f64(self) -> f64;
    /// `float32(x)` (one rounding, to nearest).
    fn as_f32(self) -> f32;
    /// The value as an `i128` (integer types; floats truncate, unused).
    fn as_i128(self) -> i128;
    /// An order-preserving key of a non-NaN value (`-0.0` just below `0.0`).
    fn ord_key(self) -> u64;
    /// The value of an [`ord_key`](Self::ord_key).
    fn from_ord_key(k: u64) -> Self;
    /// The smallest and the largest non-NaN value (the infinities for floats).
    fn extremes() -> (Self, Self);
    /// The value as a table index for `bincount`: itself for non-negative integers, a value
    /// above every table length (`u64::MAX` region) for negative ones and for floats.
    #[inline(always)]
    fn as_index(self) -> u64 {
        u64::MAX
    }
    /// The slice itself when `Self` is `f64` (for the explicit-SIMD fast path), else `None`.
    #[inline(always)]
    fn f64_slice(_xs: &[Self]) -> Option<&[f64]> {
        None
    }
    /// `x != x`.
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn is_nan(self) -> bool {
        self != self
    }
}

/// The elements `x` of type `T` with `ge(x)` and `le(x)`, as bounds `lo <= x <= hi` in `T`
/// itself, when `ge` is true from some value up and `le` up to some value (a comparison of a
/// converted `x` with a constant, as NumPy compares the data with the range): `None` if no value
/// passes both. Found by bisection over the ordered values of `T`.
pub fn keep_bounds<T: HistElem>(ge: impl Fn(T) -> bool, le: impl Fn(T) -> bool) -> Option<(T, T)> {
    let (min, max) = T::extremes();
    let (k0, k1) = (min.ord_key(), max.ord_key());
    if !ge(max) || !le(min) {
        return None;
    }
    // Smallest key with ge, largest with le.
    let (mut a, mut b) = (k0, k1);
    while a < b {
        let m = a + (b - a) / 2;
        if ge(T::from_ord_key(m)) {
            b = m;
        } else {
            a = m + 1;
        }
    }
    let lo = a;
    let (mut a, mut b) = (k0, k1);
    while a < b {
        let m = b - (b - a) / 2;
        if le(T::from_ord_key(m)) {
            a = m;
        } else {
            b = m - 1;
        }
    }
    let hi = a;
    (lo <= hi).then(|| (T::from_ord_key(lo), T::from_ord_key(hi)))
}

macro_rules! hist_int {
    ($($t:ty),*) => {$(
        impl HistElem for $t {
            const KIND: Kind = Kind::Int;
            #[inline(always)]
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn as_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            #[allow(clippy::cast_precision_loss)]
            fn as_f32(self) -> f32 { self as f32 }
            #[inline(always)]
            #[allow(clippy::cast_lossless)]
            fn as_i128(self) -> i128 { self as i128 }
            #[inline(always)]
            #[allow(clippy::cast_sign_loss, clippy::cast_lossless)]
            fn ord_key(self) -> u64 { (self as i64 as u64) ^ (1 << 63) }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn from_ord_key(k: u64) -> Self { (k ^ (1 << 63)) as i64 as $t }
            fn extremes() -> (Self, Self) { (<$t>::MIN, <$t>::MAX) }
            #[inline(always)]
            #[allow(clippy::cast_sign_loss, clippy::cast_lossless)]
            fn as_index(self) -> u64 { self as i64 as u64 }
        }
    )*};
}
hist_int!(i8, i16, i32, i64, u8, u16, u32);

impl HistElem for u64 {
    const KIND: Kind = Kind::Int;
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn as_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn as_i128(self) -> i128 {
        i128::from(self)
    }
    #[inline(always)]
    fn ord_key(self) -> u64 {
        self
    }
    #[inline(always)]
    fn from_ord_key(k: u64) -> Self {
        k
    }
    fn extremes() -> (Self, Self) {
        (0, u64::MAX)
    }
    #[inline(always)]
    fn as_index(self) -> u64 {
        self
    }
}

impl HistElem for f32 {
    const KIND: Kind = Kind::Float;
    #[inline(always)]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn as_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn as_i128(self) -> i128 {
        self as i128
    }
    #[inline(always)]
    #[allow(clippy::cast_lossless)]
    fn ord_key(self) -> u64 {
        let b = self.to_bits();
        (if b >> 31 == 1 { !b } else { b | (1 << 31) }) as u64
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn from_ord_key(k: u64) -> Self {
        let k = k as u32;
        f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
    }
    fn extremes() -> (Self, Self) {
        (f32::NEG_INFINITY, f32::INFINITY)
    }
}

impl HistElem for f64 {
    const KIND: Kind = Kind::Float;
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn as_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn as_i128(self) -> i128 {
        self as i128
    }
    #[inline(always)]
    #[allow(clippy::cast_lossless)]
    fn ord_key(self) -> u64 {
        let b = self.to_bits();
        if b >> 63 == 1 {
            !b
        } else {
            b | (1 << 63)
        }
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn from_ord_key(k: u64) -> Self {
        f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
    }
    fn extremes() -> (Self, Self) {
        (f64::NEG_INFINITY, f64::INFINITY)
    }
    #[inline(always)]
    fn f64_slice(xs: &[Self]) -> Option<&[f64]> {
        Some(xs)
    }
}

/// A type elements are compared in: float32, float64 or int64 (`np.promote_types` of the input
/// and the edges).
pub trait Key: Copy + PartialOrd + Send + Sync + 'static {
    /// `x` converted as NumPy casts it.
    fn of<T: HistElem>(x: T) -> Self;
}

impl Key for f32 {
    #[inline(always)]
    fn of<T: HistElem>(x: T) -> Self {
        x.as_f32()
    }
}

impl Key for f64 {
    #[inline(always)]
    fn of<T: HistElem>(x: T) -> Self {
        x.as_f64()
    }
}

impl Key for i64 {
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn of<T: HistElem>(x: T) -> Self {
        x.as_i128() as i64
    }
}

/// A float type NumPy's bin arithmetic runs in (float32 or float64).
pub trait Real:
    Key + Add<Output = Self> + Sub<Output = Self> + Div<Output = Self> + Mul<Output = Self> + std::fmt::Debug
{
    /// `Self(v)` from float64 (round to nearest).
    fn from_f64(v: f64) -> Self;
    /// `Self(v)` from float32 (exact).
    fn from_f32(v: f32) -> Self;
    /// As float64 (exact).
    fn to_f64(self) -> f64;
    /// `self.astype(np.intp)` for a value in `[0, 2**63)`; saturating outside it.
    fn trunc_index(self) -> usize;
    /// `x != x`.
    fn nan(self) -> bool;
    /// `trunc(self)` clamped to `[0, n - 1]` (NaN gives 0): NumPy's `astype(intp)` followed by
    /// `indices[indices == n] -= 1` for the values a kept element can have.
    fn clamped_index(self, n: usize) -> usize;
    /// True for `f64` (then [`to_f64`](Self::to_f64) is the identity).
    const IS_F64: bool;
    /// The slice itself when `Self` is `f64`, else `None`.
    fn slice_f64(_v: &[Self]) -> Option<&[f64]> {
        None
    }
}

impl Real for f32 {
    const IS_F64: bool = false;
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn trunc_index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn clamped_index(self, n: usize) -> usize {
        // `max` turns NaN into 0; then the value is in [0, n - 1], finite, and below 2**63.
        let f = self.max(0.0).min((n - 1) as f32);
        // SAFETY: `f` is finite and in [0, n - 1] (clamped above; `n - 1` rounded to f32 is
        // still below 2**64), so it is representable as an `i64` after truncation.
        let i = unsafe { f.to_int_unchecked::<i64>() };
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let i = i as usize;
        i
    }
}

impl Real for f64 {
    const IS_F64: bool = true;
    #[inline(always)]
    fn slice_f64(v: &[Self]) -> Option<&[f64]> {
        Some(v)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn trunc_index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn clamped_index(self, n: usize) -> usize {
        // `max` turns NaN into 0; then the value is in [0, n - 1], finite, and below 2**63.
        let f = self.max(0.0).min((n - 1) as f64);
        // SAFETY: `f` is finite and in [0, n - 1] (clamped above; `n - 1` rounded to f64 is
        // still below 2**64), so it is representable as an `i64` after truncation.
        let i = unsafe { f.to_int_unchecked::<i64>() };
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let i = i as usize;
        i
    }
}

/// `np.linspace(start, stop, num, endpoint=True)` for `num >= 2`, computed in `R` (NumPy's
/// `dt`): `i * step + start` with `step = (stop - start) / (num - 1)` (or `(i / div) * delta +
/// start` when the step underflows to zero), the last value `stop` itself.
///
/// # Errors
///
/// [`Error::OutOfMemory`] if `num` values cannot be allocated.
pub fn linspace<R: Real>(start: R, stop: R, num: usize) -> Result<Vec<R>> {
    let mut y: Vec<R> = try_vec(num, "the bin edges")?;
    if num < 2 {
        y.extend(std::iter::repeat_n(start, num));
        return Ok(y);
    }
    #[allow(clippy::cast_precision_loss)]
    let div = R::from_f64((num - 1) as f64);
    let delta = stop - start;
    let step = delta / div;
    #[allow(clippy::float_cmp)]
    let step_zero = step.to_f64() == 0.0;
    for i in 0..num {
        #[allow(clippy::cast_precision_loss)]
        let fi = R::from_f64(i as f64);
        let v = if step_zero { (fi / div) * delta } else { fi * step };
        y.push(v + start);
    }
    y[num - 1] = stop;
    Ok(y)
}

/// NumPy's "Too many bins" check: every edge strictly below the next.
///
/// # Errors
///
/// [`Error::InvalidArgument`] (`ValueError`) with NumPy's message.
pub fn check_edges<R: Real>(edges: &[R], n: usize) -> Result<()> {
    if edges
        .windows(2)
        .any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
    {
        return Err(Error::InvalidArgument {
            arg: "bins:",
            message: format!("Too many bins for data range. Cannot create {n} finite-sized bins."),
        });
    }
    Ok(())
}

/// The uniform-bins plan of one `histogram` call: every value NumPy's fast path uses, in the
/// types it uses them in. `T` is the input type, `B` the edges' type, `D` the type of the
/// division (`B` or float64).
#[derive(Clone, Debug)]
pub struct Uniform<T, B, D> {
    /// Elements are kept when `lo <= x <= hi` (`None`: nothing is kept).
    pub keep: Option<(T, T)>,
    /// `first_edge`, converted to `B`.
    pub first: B,
    /// `last_edge - first_edge` as NumPy's `_unsigned_subtract` computes it, converted to `D`.
    pub denom: D,
    /// The number of bins, `n >= 1`.
    pub n: usize,
    /// The `n + 1` edges.
    pub edges: Vec<B>,
}

impl<T: HistElem, B: Real, D: Real> Uniform<T, B, D> {
    /// The bin of `x`, or `n` when `x` is not counted; `n_d` is `D(n)`, `lo` and `hi` the
    /// bounds of [`keep`](Self::keep).
    #[inline(always)]
    pub fn bin(&self, x: T, n_d: D, lo: T, hi: T) -> usize {
        let n = self.n;
        if !(x >= lo && x <= hi) {
            return n;
        }
        let xb = B::of(x);
        let s = xb - self.first;
        let f = (D::from_f64(s.to_f64()) / self.denom) * n_d;
        let mut i = f.trunc_index().min(n - 1);
        let e = &self.edges[..=n];
        if xb < e[i] && i > 0 {
            i -= 1;
        }
        if i + 1 < n && xb >= e[i + 1] {
            i += 1;
        }
        i
    }

    /// The batch mapper of [`count_batched`] for these bins (`None`: nothing is kept): the
    /// same index as [`bin`](Self::bin), computed in two passes that vectorise — NumPy's
    /// arithmetic for a batch, then the correction and the range test without branches.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] for the two edge tables.
    #[allow(clippy::type_complexity)]
    pub fn batch_fn(&self) -> Result<Option<impl Fn(&[T], &mut [usize]) + Sync + '_>> {
        let Some((lo, hi)) = self.keep else {
            return Ok(None);
        };
        let n = self.n;
        // lower[i] = edges[i] (decrement when x < it), but -inf for i = 0 (NumPy never sees a
        // kept x below the first edge); upper[i] = edges[i + 1] (increment when x >= it), but
        // +inf for the last bin (NumPy does not increment it). Both NaN-free.
        let mut lower: Vec<B> = try_vec(n, "the bin edges")?;
        let mut upper: Vec<B> = try_vec(n, "the bin edges")?;
        lower.push(B::from_f64(f64::NEG_INFINITY));
        lower.extend_from_slice(&self.edges[1..n]);
        upper.extend_from_slice(&self.edges[1..n]);
        upper.push(B::from_f64(f64::INFINITY));
        // lower[0], upper[0], lower[1], upper[1], ...: for the AVX2 path's paired loads (float64
        // edges only; empty otherwise).
        let mut pairs: Vec<f64> = Vec::new();
        if let (Some(l), Some(u)) = (B::slice_f64(&lower), B::slice_f64(&upper)) {
            pairs = try_vec(2 * n, "the bin edges")?;
            pairs.extend(l.iter().zip(u).flat_map(|(&a, &b)| [a, b]));
        }
        #[allow(clippy::cast_precision_loss)]
        let n_d = D::from_f64(n as f64);
        let (first, denom) = (self.first, self.denom);
        Ok(Some(move |xs: &[T], out: &mut [usize]| {
            // float64 data, edges and division on an AVX2 CPU: the explicit-SIMD form, the
            // same operations four lanes at a time (so the same bits).
            #[cfg(target_arch = "x86_64")]
            if let (true, Some(xs64), Some(lower64), Some(upper64)) = (
                D::IS_F64,
                T::f64_slice(xs),
                B::slice_f64(&lower),
                B::slice_f64(&upper),
            ) {
                if simd::avx2_enabled()
                    && i32::try_from(n).is_ok()
                    && out.len() >= xs64.len()
                    && pairs.len() == 2 * n
                {
                    // SAFETY: AVX2 is available (checked just above); `lower` and `upper` hold
                    // `n` edges each (as built above), `pairs` both interleaved, `n` fits i32,
                    // `out` is as long as `xs`.
                    unsafe {
                        map_uniform_f64_avx2(
                            xs64,
                            out,
                            &pairs,
                            lower64,
                            upper64,
                            [
                                first.to_f64(),
                                denom.to_f64(),
                                n_d.to_f64(),
                                lo.as_f64(),
                                hi.as_f64(),
                            ],
                            n,
                        );
                    }
                    return;
                }
            }
            // Compiled for AVX2 too (4 divisions at a time), chosen at run time: same bits.
            simd::dispatch(MapBatch {
                xs,
                out,
                lower: &lower,
                upper: &upper,
                first,
                denom,
                n_d,
                n,
                lo,
                hi,
            });
        }))
    }

    fn index_fn(&self) -> Option<impl Fn(T) -> usize + Sync + '_> {
        let (lo, hi) = self.keep?;
        #[allow(clippy::cast_precision_loss)]
        let n_d = D::from_f64(self.n as f64);
        Some(move |x: T| self.bin(x, n_d, lo, hi))
    }
}

/// [`MapBatch`] for float64 data, edges and division, with AVX2 intrinsics: per four elements
/// `s = x - first`, `f = (s / denom) * n` (NumPy's operations, in its order; no FMA), `f`
/// clamped to `[0, n - 1]` and truncated, the index moved one down where `x < lower[i]` and
/// then one up where `x >= upper[i]` (two gathers), and `n` where `x` is outside `[lo, hi]` or
/// NaN. `c = [first, denom, n, lo, hi]`.
///
/// # Safety
///
/// The CPU must support AVX2; `lower` and `upper` must hold at least `n` values, with
/// `lower[0] = -inf`, `upper[n - 1] = +inf` and `lower[i] = upper[i - 1]`, and `pairs` the
/// `2 * n` values `lower[0], upper[0], lower[1], ...`; `n >= 1` must fit in `i32`; `out` must be
/// at least as long as `xs`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_uniform_f64_avx2(
    xs: &[f64],
    out: &mut [usize],
    pairs: &[f64],
    lower: &[f64],
    upper: &[f64],
    c: [f64; 5],
    n: usize,
) {
    use std::arch::x86_64::{
        _mm256_add_epi64, _mm256_and_pd, _mm256_andnot_pd, _mm256_blendv_epi8, _mm256_castpd_si256,
        _mm256_cmp_pd, _mm256_cvtepi32_epi64, _mm256_cvttpd_epi32, _mm256_div_pd, _mm256_loadu_pd,
        _mm256_max_pd, _mm256_min_pd, _mm256_mul_pd, _mm256_set1_epi64x, _mm256_set1_pd, _mm256_set_m128d,
        _mm256_setzero_pd, _mm256_storeu_si256, _mm256_sub_epi64, _mm256_sub_pd, _mm256_unpackhi_pd,
        _mm256_unpacklo_pd, _mm_loadu_pd, _mm_storeu_si128, _CMP_GE_OQ, _CMP_LE_OQ, _CMP_LT_OQ,
    };
    let [first, denom, n_d, lo, hi] = c;
    let (vfirst, vdenom, vnd) = (_mm256_set1_pd(first), _mm256_set1_pd(denom), _mm256_set1_pd(n_d));
    let (vlo, vhi) = (_mm256_set1_pd(lo), _mm256_set1_pd(hi));
    #[allow(clippy::cast_precision_loss)]
    let vnm1 = _mm256_set1_pd((n - 1) as f64);
    #[allow(clippy::cast_possible_wrap)]
    let vn = _mm256_set1_epi64x(n as i64);
    let zero = _mm256_setzero_pd();
    let quads = xs.len() / 4;
    for q in 0..quads {
        // SAFETY: `4 * q + 3 < xs.len() <= out.len()`; unaligned loads and stores.
        let x = unsafe { _mm256_loadu_pd(xs.as_ptr().add(4 * q)) };
        let f = _mm256_mul_pd(_mm256_div_pd(_mm256_sub_pd(x, vfirst), vdenom), vnd);
        // `max` first, with zero second: a NaN `f` becomes 0 (as `Real::clamped_index`).
        let f = _mm256_min_pd(_mm256_max_pd(f, zero), vnm1);
        let i32s = _mm256_cvttpd_epi32(f);
        let mut idx = _mm256_cvtepi32_epi64(i32s);
        // The edge pairs (lower[i], upper[i]) of the four lanes, as two 128-bit loads per pair
        // of lanes (cheaper than two gathers on Zen 3). Both at the truncated index: after a
        // decrement, `x < lower[i] = upper[i - 1]`, so the increment NumPy then tests (at
        // `i - 1`) is false; without one, it is tested at `i` itself.
        let mut ix = [0i32; 4];
        // SAFETY: `ix` holds four i32 (16 bytes); unaligned store.
        unsafe { _mm_storeu_si128(ix.as_mut_ptr().cast(), i32s) };
        // SAFETY: every `ix[k]` is in [0, n - 1] (`f` clamped above, `n - 1 < 2**31`), and
        // `pairs` holds `2 * n` values: `pairs[2 * i..2 * i + 2]` is in bounds.
        let (p0, p1, p2, p3) = unsafe {
            #[allow(clippy::cast_sign_loss)]
            let at = |k: usize| _mm_loadu_pd(pairs.as_ptr().add(2 * ix[k] as usize));
            (at(0), at(1), at(2), at(3))
        };
        let a = _mm256_set_m128d(p2, p0); // lo0 up0 lo2 up2
        let b = _mm256_set_m128d(p3, p1); // lo1 up1 lo3 up3
        let (lw, up) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
        // A true comparison is all ones (-1): `idx + dec` decrements (never below 0, as
        // `lower[0] = -inf`), `idx - (inc & !dec)` increments.
        let dec = _mm256_cmp_pd::<_CMP_LT_OQ>(x, lw);
        let inc = _mm256_andnot_pd(dec, _mm256_cmp_pd::<_CMP_GE_OQ>(x, up));
        idx = _mm256_add_epi64(idx, _mm256_castpd_si256(dec));
        idx = _mm256_sub_epi64(idx, _mm256_castpd_si256(inc));
        let keep = _mm256_and_pd(
            _mm256_cmp_pd::<_CMP_GE_OQ>(x, vlo),
            _mm256_cmp_pd::<_CMP_LE_OQ>(x, vhi),
        );
        idx = _mm256_blendv_epi8(vn, idx, _mm256_castpd_si256(keep));
        // SAFETY: as the load above.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(4 * q).cast(), idx) };
    }
    let (lower, upper) = (&lower[..n], &upper[..n]);
    for (o, &x) in out[4 * quads..].iter_mut().zip(&xs[4 * quads..]) {
        let f = ((x - first) / denom) * n_d;
        let mut i = f.clamped_index(n);
        i -= usize::from(x < lower[i]);
        i += usize::from(x >= upper[i]);
        *o = if x >= lo && x <= hi { i } else { n };
    }
}

/// One batch of [`Uniform::batch_fn`], as a [`simd::Kernel`].
struct MapBatch<'a, T, B, D> {
    xs: &'a [T],
    out: &'a mut [usize],
    lower: &'a [B],
    upper: &'a [B],
    first: B,
    denom: D,
    n_d: D,
    n: usize,
    lo: T,
    hi: T,
}

impl<T: HistElem, B: Real, D: Real> simd::Kernel for MapBatch<'_, T, B, D> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let n = self.n;
        let (lower, upper) = (&self.lower[..n], &self.upper[..n]);
        for (o, &x) in self.out.iter_mut().zip(self.xs) {
            let s = B::of(x) - self.first;
            let f = (D::from_f64(s.to_f64()) / self.denom) * self.n_d;
            *o = f.clamped_index(n);
        }
        for (o, &x) in self.out.iter_mut().zip(self.xs) {
            let xb = B::of(x);
            let mut i = (*o).min(n - 1);
            i -= usize::from(xb < lower[i]);
            i += usize::from(xb >= upper[i]);
            let keep = x >= self.lo && x <= self.hi;
            *o = if keep { i } else { n };
        }
    }
}

/// The bin of `x` among explicit, increasing `edges` (at least two, no NaN): `k` with
/// `edges[k] <= x < edges[k + 1]`, the last bin closed; `edges.len() - 1` when outside.
#[inline(always)]
pub fn edges_index<C: Key>(x: C, edges: &[C]) -> usize {
    let nb = edges.len() - 1;
    if !(x >= edges[0] && x <= edges[nb]) {
        return nb;
    }
    // The number of edges[..nb] that are <= x, at least 1 (edges[0] <= x).
    let k = edges[..nb].partition_point(|e| *e <= x);
    k.max(1) - 1
}

/// Smallest and largest element, and whether any is NaN (then the other two are meaningless),
/// of a non-empty slice, in parallel.
///
/// # Errors
///
/// [`Error::EmptyInput`] for an empty slice, [`Error::Cancelled`] on Ctrl-C.
pub fn min_max<T: HistElem>(ctx: &Ctx<'_>, a: &[T]) -> Result<(T, T, bool)> {
    /// Independent lanes, so that the loop runs in SIMD registers (a float min has no
    /// reassociation to vectorise otherwise).
    const LANES: usize = 8;
    let Some(&first) = a.first() else {
        return Err(Error::EmptyInput);
    };
    // Chunks of a few µs (min and max are exact: any split gives the same answer), so that
    // `bincount` and a histogram without a range share this pass from 32 K elements.
    const CHUNK: usize = 8192;
    let parts = ctx.map_chunks(a.len(), CHUNK, 1, |r| {
        let mut mn = [first; LANES];
        let mut mx = [first; LANES];
        let mut nan = [false; LANES];
        let v = &a[r];
        let lanes = v.chunks_exact(LANES);
        let tail = lanes.remainder();
        for c in lanes {
            for j in 0..LANES {
                let x = c[j];
                nan[j] |= x.is_nan();
                mn[j] = if x < mn[j] { x } else { mn[j] };
                mx[j] = if x > mx[j] { x } else { mx[j] };
            }
        }
        for &x in tail {
            nan[0] |= x.is_nan();
            mn[0] = if x < mn[0] { x } else { mn[0] };
            mx[0] = if x > mx[0] { x } else { mx[0] };
        }
        let mut out = (first, first, false);
        for j in 0..LANES {
            out.0 = if mn[j] < out.0 { mn[j] } else { out.0 };
            out.1 = if mx[j] > out.1 { mx[j] } else { out.1 };
            out.2 |= nan[j];
        }
        out
    })?;
    let mut out = (first, first, false);
    for (mn, mx, nan) in parts {
        if mn < out.0 {
            out.0 = mn;
        }
        if mx > out.1 {
            out.1 = mx;
        }
        out.2 |= nan;
    }
    Ok(out)
}

/// The fewest elements a counting task takes: a few µs of counting, so that a call of 20 µs
/// already has 4 tasks, which the engine shares from the first (with 2 or 3 it times the first
/// before asking for workers). Counts are exact integers: the task boundaries never change a
/// result.
const COUNT_MIN: usize = 2048;

/// The number of tasks of a counting pass: at most [`MAX_TABLES`], each of at least
/// [`COUNT_MIN`] elements and at least 4 per bin (a task zeroes and sums its own table, a few
/// ns per bin against ~1 ns per element counted: that stays a small part of its work), and
/// fewer when `nbins` is large (their tables share [`TABLE_BUDGET`]). Depends on `len` and
/// `nbins` only.
fn count_tasks(len: usize, nbins: usize) -> usize {
    let by_memory = (TABLE_BUDGET / 8 / nbins.max(1).saturating_mul(4)).max(1);
    let least = COUNT_MIN.max(nbins.saturating_add(1).saturating_mul(4));
    len.div_ceil(least).clamp(1, MAX_TABLES).min(by_memory)
}

/// Counts `bin(x)` over `a` into `nbins` bins (`bin` returns `nbins` for "not counted", never
/// more): NumPy's integer counts (`intp`).
///
/// # Errors
///
/// [`Error::OutOfMemory`] if the tables cannot be allocated, [`Error::Cancelled`] on Ctrl-C.
pub fn count<T, F>(ctx: &Ctx<'_>, a: &[T], nbins: usize, bin: F) -> Result<Vec<i64>>
where
    T: Copy + Sync,
    F: Fn(T) -> usize + Sync,
{
    count_batched(ctx, a, nbins, |xs: &[T], out: &mut [usize]| {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = bin(x);
        }
    })
}

/// Elements mapped to bins at a time by [`count_batched`].
const BATCH: usize = 256;

/// [`count`] with a mapper of batches: `bins(xs, out)` writes the bin of each `xs[i]` (at most
/// [`BATCH`] of them) to `out[i]`, `nbins` for "not counted". Batches let the bin arithmetic run
/// in SIMD lanes, apart from the counting.
///
/// # Errors
///
/// As [`count`].
pub fn count_batched<T, G>(ctx: &Ctx<'_>, a: &[T], nbins: usize, bins: G) -> Result<Vec<i64>>
where
    T: Copy + Sync,
    G: Fn(&[T], &mut [usize]) + Sync,
{
    let tasks = count_tasks(a.len(), nbins);
    let per = a.len().div_ceil(tasks).max(1);
    let parts = ctx.map_tasks(tasks, |t| {
        let start = (t * per).min(a.len());
        let end = (start + per).min(a.len());
        count_range(ctx, &a[start..end], nbins, &bins)
    })?;
    let mut parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return zeroed_vec(nbins, "the bin counts");
    }
    let mut out = parts.remove(0);
    merge_counts(ctx, &mut out, &parts)?;
    Ok(out)
}

/// One task's table: counts of `v`, checking for Ctrl-C every block.
#[inline(always)]
fn count_range<T, G>(ctx: &Ctx<'_>, v: &[T], nbins: usize, bins: &G) -> Result<Vec<i64>>
where
    T: Copy,
    G: Fn(&[T], &mut [usize]),
{
    let stride = nbins + 1;
    let mut idx = [0usize; BATCH];
    if nbins <= INTERLEAVE_MAX {
        let mut t: Vec<u64> = zeroed_vec(4 * stride, "the bin counts")?;
        {
            let (c0, rest) = t.split_at_mut(stride);
            let (c1, rest) = rest.split_at_mut(stride);
            let (c2, c3) = rest.split_at_mut(stride);
            for block in v.chunks(BLOCK) {
                ctx.check()?;
                for xs in block.chunks(BATCH) {
                    let idx = &mut idx[..xs.len()];
                    bins(xs, idx);
                    let quads = idx.chunks_exact(4);
                    let tail = quads.remainder();
                    for q in quads {
                        // `min(nbins)`: a no-op for a correct mapper, and what proves the
                        // indexing in bounds (`stride > nbins`): no bounds check in the loop.
                        c0[q[0].min(nbins)] += 1;
                        c1[q[1].min(nbins)] += 1;
                        c2[q[2].min(nbins)] += 1;
                        c3[q[3].min(nbins)] += 1;
                    }
                    for &i in tail {
                        c0[i.min(nbins)] += 1;
                    }
                }
            }
        }
        let mut out: Vec<i64> = try_vec(nbins, "the bin counts")?;
        #[allow(clippy::cast_possible_wrap)] // counts of a slice's elements fit i64
        out.extend((0..nbins).map(|i| (t[i] + t[stride + i] + t[2 * stride + i] + t[3 * stride + i]) as i64));
        Ok(out)
    } else {
        let mut c: Vec<i64> = zeroed_vec(stride, "the bin counts")?;
        for block in v.chunks(BLOCK) {
            ctx.check()?;
            for xs in block.chunks(BATCH) {
                let idx = &mut idx[..xs.len()];
                bins(xs, idx);
                for &i in &*idx {
                    c[i.min(nbins)] += 1;
                }
            }
        }
        c.truncate(nbins);
        Ok(c)
    }
}

/// `out += parts[0] + parts[1] + ...`, in parallel over pieces of the output.
fn merge_counts(ctx: &Ctx<'_>, out: &mut [i64], parts: &[Vec<i64>]) -> Result<()> {
    if parts.is_empty() {
        return Ok(());
    }
    let pieces: Vec<Mutex<(usize, &mut [i64])>> = out
        .chunks_mut(BLOCK)
        .enumerate()
        .map(|(i, s)| Mutex::new((i * BLOCK, s)))
        .collect();
    ctx.map_tasks(pieces.len(), |i| {
        let Ok(mut guard) = pieces[i].lock() else {
            return;
        };
        let (start, ref mut s) = *guard;
        for p in parts {
            for (o, v) in s.iter_mut().zip(&p[start..]) {
                *o += *v;
            }
        }
    })?;
    Ok(())
}

/// How the float64 sums of one block are added into the result (NumPy's
/// `n += np.bincount(...).astype(ntype)`).
pub trait Acc: Copy + Send + Sync + 'static {
    /// Zero.
    const ZERO: Self;
    /// `self + Self(block_sum)`, in `Self`'s arithmetic (integers wrap, as NumPy's do).
    fn add_block(self, block_sum: f64) -> Self;
}

impl Acc for f64 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    fn add_block(self, s: f64) -> Self {
        self + s
    }
}

impl Acc for f32 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn add_block(self, s: f64) -> Self {
        self + s as f32
    }
}

impl Acc for i64 {
    const ZERO: Self = 0;
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn add_block(self, s: f64) -> Self {
        self.wrapping_add(s as i64)
    }
}

impl Acc for i32 {
    const ZERO: Self = 0;
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn add_block(self, s: f64) -> Self {
        self.wrapping_add(s as i32)
    }
}

/// Sums `float64(w)` of the elements in each bin: per [`BLOCK`] of the input in element order
/// (float64), the blocks' sums added into `A` in block order (see the module docs). Blocks run in
/// waves whose float64 tables share [`TABLE_BUDGET`].
///
/// # Errors
///
/// [`Error::InvalidArgument`] if the lengths differ; [`Error::OutOfMemory`];
/// [`Error::Cancelled`] on Ctrl-C.
pub fn weighted<T, W, A, F>(ctx: &Ctx<'_>, a: &[T], w: &[W], nbins: usize, bin: F) -> Result<Vec<A>>
where
    T: Copy + Sync,
    W: HistElem,
    A: Acc,
    F: Fn(T) -> usize + Sync,
{
    if a.len() != w.len() {
        return Err(Error::InvalidArgument {
            arg: "weights",
            message: format!("has length {}; expected {}, the length of a", w.len(), a.len()),
        });
    }
    let mut out: Vec<A> = try_vec(nbins, "the histogram")?;
    out.resize(nbins, A::ZERO);
    let blocks = a.len().div_ceil(BLOCK);
    let wave = (TABLE_BUDGET / 8 / (nbins + 1)).clamp(1, 4096);
    let mut b0 = 0;
    while b0 < blocks {
        let b1 = blocks.min(b0 + wave);
        let sums = ctx.map_tasks(b1 - b0, |k| {
            let r: Range<usize> = (b0 + k) * BLOCK..a.len().min((b0 + k + 1) * BLOCK);
            let mut s: Vec<f64> = zeroed_vec(nbins + 1, "the block sums")?;
            for (&x, &wx) in a[r.clone()].iter().zip(&w[r]) {
                s[bin(x).min(nbins)] += wx.as_f64();
            }
            Ok(s)
        })?;
        for s in sums {
            let s = s?;
            for (o, v) in out.iter_mut().zip(&s) {
                *o = o.add_block(*v);
            }
        }
        ctx.checkpoint()?;
        b0 = b1;
    }
    Ok(out)
}

/// Uniform-bin counts (no weights): NumPy's `intp` histogram.
///
/// # Errors
///
/// As [`count`].
pub fn histogram_uniform<T: HistElem, B: Real, D: Real>(
    ctx: &Ctx<'_>,
    a: &[T],
    plan: &Uniform<T, B, D>,
) -> Result<Vec<i64>> {
    match plan.batch_fn()? {
        Some(f) => count_batched(ctx, a, plan.n, f),
        None => zeroed_vec(plan.n, "the histogram"),
    }
}

/// Uniform-bin weighted sums: NumPy's histogram with `weights=`, bit for bit.
///
/// # Errors
///
/// As [`weighted`].
pub fn histogram_uniform_weighted<T: HistElem, B: Real, D: Real, W: HistElem, A: Acc>(
    ctx: &Ctx<'_>,
    a: &[T],
    w: &[W],
    plan: &Uniform<T, B, D>,
) -> Result<Vec<A>> {
    match plan.index_fn() {
        Some(f) => weighted(ctx, a, w, plan.n, f),
        None => weighted(ctx, a, w, plan.n, |_| plan.n),
    }
}

/// Counts over explicit edges (converted to the comparison type `C`).
///
/// # Errors
///
/// As [`count`].
pub fn histogram_edges<T: HistElem, C: Key>(ctx: &Ctx<'_>, a: &[T], edges: &[C]) -> Result<Vec<i64>> {
    let nb = edges.len().saturating_sub(1);
    if nb == 0 {
        return Ok(Vec::new());
    }
    count(ctx, a, nb, |x| edges_index(C::of(x), edges))
}

/// Weighted sums over explicit edges.
///
/// # Errors
///
/// As [`weighted`].
pub fn histogram_edges_weighted<T: HistElem, C: Key, W: HistElem, A: Acc>(
    ctx: &Ctx<'_>,
    a: &[T],
    w: &[W],
    edges: &[C],
) -> Result<Vec<A>> {
    let nb = edges.len().saturating_sub(1);
    if nb == 0 {
        return Ok(Vec::new());
    }
    weighted(ctx, a, w, nb, |x| edges_index(C::of(x), edges))
}

/// The uniform plan NumPy makes when no `range` is given: the data's min and max (widened by 0.5
/// when equal), edges by `np.linspace` in the input's float type (float64 for integers).
///
/// # Errors
///
/// [`Error::InvalidArgument`] (`ValueError`) when the data hold NaN or an infinity, or the bins
/// would not be finite-sized; [`Error::OutOfMemory`]; [`Error::Cancelled`].
pub fn auto_plan<T: HistElem, B: Real>(ctx: &Ctx<'_>, a: &[T], n: usize) -> Result<Uniform<T, B, B>> {
    if a.is_empty() {
        // NumPy: range (0, 1), python ints: linspace computed in float64, cast to B.
        let edges64 = linspace(0.0f64, 1.0f64, n + 1)?;
        let mut edges: Vec<B> = try_vec(n + 1, "the bin edges")?;
        edges.extend(edges64.iter().map(|&e| B::from_f64(e)));
        check_edges(&edges, n)?;
        return Ok(Uniform {
            keep: None,
            first: B::from_f64(0.0),
            denom: B::from_f64(1.0),
            n,
            edges,
        });
    }
    let (mn, mx, nan) = min_max(ctx, a)?;
    let not_finite = |lo: String, hi: String| Error::InvalidArgument {
        arg: "a:",
        message: format!(
            "autodetected range of [{lo}, {hi}] is not finite (a holds NaN or an infinity: pass \
             range=(lo, hi) to count the finite values only)"
        ),
    };
    if nan {
        return Err(not_finite("nan".to_owned(), "nan".to_owned()));
    }
    let (f_lo, f_hi) = (mn.as_f64(), mx.as_f64());
    if !f_lo.is_finite() || !f_hi.is_finite() {
        return Err(not_finite(py_float(f_lo), py_float(f_hi)));
    }
    #[allow(clippy::float_cmp)]
    let equal = mn.partial_cmp(&mx) == Some(std::cmp::Ordering::Equal);
    let (first, last, denom) = match (T::KIND, equal) {
        // Floats: everything in the input's own type (B is T): `min - 0.5`, `max + 0.5` too.
        (Kind::Float, false) => {
            let (f, l) = (B::of(mn), B::of(mx));
            (f, l, l - f)
        }
        (Kind::Float, true) => {
            let (f, l) = (B::of(mn) - B::from_f64(0.5), B::of(mx) + B::from_f64(0.5));
            (f, l, l - f)
        }
        // Integers: float64 edges; the range's width as NumPy's unsigned subtraction (exact,
        // then rounded to float64).
        (Kind::Int, false) => {
            #[allow(clippy::cast_precision_loss, clippy::cast_sign_loss)]
            let width = (mx.as_i128() - mn.as_i128()) as u128 as f64;
            (B::of(mn), B::of(mx), B::from_f64(width))
        }
        (Kind::Int, true) => {
            let f = B::from_f64(mn.as_f64() - 0.5);
            let l = B::from_f64(mx.as_f64() + 0.5);
            (f, l, l - f)
        }
    };
    let edges = linspace(first, last, n + 1)?;
    check_edges(&edges, n)?;
    Ok(Uniform {
        keep: Some((mn, mx)),
        first,
        denom,
        n,
        edges,
    })
}

/// A float as Python's `str()` prints it (`nan`, `inf`, `1.0`).
fn py_float(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{v:?}")
    }
}

/// `np.bincount(x)`'s output length, after checking for negative values: `max(x) + 1`, at least
/// `minlength`.
///
/// # Errors
///
/// [`Error::InvalidArgument`] (`ValueError`, NumPy's message) for a negative value;
/// [`Error::Overflow`] if the length does not fit; [`Error::Cancelled`].
pub fn bincount_len<T: HistElem>(ctx: &Ctx<'_>, x: &[T], minlength: usize) -> Result<usize> {
    if x.is_empty() {
        return Ok(minlength);
    }
    let (mn, mx, _) = min_max(ctx, x)?;
    if mn.as_i128() < 0 {
        return Err(Error::InvalidArgument {
            arg: "x:",
            message: "'list' argument must have no negative elements".to_owned(),
        });
    }
    let len = usize::try_from(mx.as_i128() + 1).map_err(|_| {
        Error::Overflow(format!(
            "bincount: max(x) + 1 = {} bins do not fit",
            mx.as_i128() + 1
        ))
    })?;
    Ok(len.max(minlength))
}

/// `np.bincount(x, minlength=minlength)`: `intp` counts of every value of `x` (non-negative).
///
/// # Errors
///
/// As [`bincount_len`], and [`Error::OutOfMemory`] when the output cannot be allocated.
pub fn bincount<T: HistElem>(ctx: &Ctx<'_>, x: &[T], minlength: usize) -> Result<Vec<i64>> {
    let len = bincount_len(ctx, x, minlength)?;
    if x.is_empty() {
        return zeroed_vec(len, "the bincount output");
    }
    count_ints(ctx, x, len)
}

/// Tables of at most this many bins are counted directly into four interleaved `u32`
/// sub-tables by [`count_ints`] (4 x 4 KiB x 4 bytes: within L1 with the data streaming by).
const DIRECT_MAX: usize = 4096;

/// [`count`] of integers into the table of their own values (values outside `[0, nbins)`, which
/// the caller has excluded, would land in an extra slot and be dropped): `bincount`'s counting.
///
/// # Errors
///
/// As [`count`].
pub fn count_ints<T: HistElem>(ctx: &Ctx<'_>, a: &[T], nbins: usize) -> Result<Vec<i64>> {
    let tasks = count_tasks(a.len(), nbins);
    let per = a.len().div_ceil(tasks).max(1);
    if nbins > DIRECT_MAX || per > u32::MAX as usize {
        #[allow(clippy::cast_possible_truncation)]
        return count(ctx, a, nbins, |v: T| v.as_index().min(nbins as u64) as usize);
    }
    let parts = ctx.map_tasks(tasks, |t| {
        let start = (t * per).min(a.len());
        let end = (start + per).min(a.len());
        count_ints_range(ctx, &a[start..end], nbins)
    })?;
    let mut parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return zeroed_vec(nbins, "the bin counts");
    }
    let mut out = parts.remove(0);
    merge_counts(ctx, &mut out, &parts)?;
    Ok(out)
}

/// One task of [`count_ints`]: four interleaved `u32` sub-tables (a task counts at most
/// `u32::MAX` elements, so no sub-count overflows), each index clamped to the extra slot
/// `nbins` (which also proves the indexing in bounds: no bounds checks).
fn count_ints_range<T: HistElem>(ctx: &Ctx<'_>, v: &[T], nbins: usize) -> Result<Vec<i64>> {
    let stride = nbins + 1;
    let cap = nbins as u64;
    let mut t: Vec<u32> = zeroed_vec(4 * stride, "the bin counts")?;
    {
        let (c0, rest) = t.split_at_mut(stride);
        let (c1, rest) = rest.split_at_mut(stride);
        let (c2, c3) = rest.split_at_mut(stride);
        for block in v.chunks(BLOCK) {
            ctx.check()?;
            let quads = block.chunks_exact(4);
            let tail = quads.remainder();
            #[allow(clippy::cast_possible_truncation)]
            for q in quads {
                c0[q[0].as_index().min(cap) as usize] += 1;
                c1[q[1].as_index().min(cap) as usize] += 1;
                c2[q[2].as_index().min(cap) as usize] += 1;
                c3[q[3].as_index().min(cap) as usize] += 1;
            }
            #[allow(clippy::cast_possible_truncation)]
            for &x in tail {
                c0[x.as_index().min(cap) as usize] += 1;
            }
        }
    }
    let mut out: Vec<i64> = try_vec(nbins, "the bin counts")?;
    out.extend((0..nbins).map(|i| {
        i64::from(t[i])
            + i64::from(t[stride + i])
            + i64::from(t[2 * stride + i])
            + i64::from(t[3 * stride + i])
    }));
    Ok(out)
}

/// `np.bincount(x, weights=w, minlength=minlength)`: float64 sums of the weights of every value
/// (per-block sums added in block order: see the module docs).
///
/// # Errors
///
/// As [`bincount`], and [`Error::InvalidArgument`] if `w` and `x` differ in length.
pub fn bincount_weighted<T: HistElem, W: HistElem>(
    ctx: &Ctx<'_>,
    x: &[T],
    w: &[W],
    minlength: usize,
) -> Result<Vec<f64>> {
    if x.len() != w.len() {
        return Err(Error::InvalidArgument {
            arg: "x:",
            message: "The weights and list don't have the same length.".to_owned(),
        });
    }
    let len = bincount_len(ctx, x, minlength)?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    weighted(ctx, x, w, len, |v: T| v.as_i128() as usize)
}

#[cfg(test)]
mod test;
