//! State shared by many threads: atomic numbers and a contention-free accumulator.
//!
//! These are the engine halves of `gilfree.AtomicInt`, `gilfree.AtomicFloat` and
//! `gilfree.Accumulator`. Every type here is `Send + Sync` and updated through `&self`, so Python
//! threads (through the binding) and native tasks (pool workers holding a `&` to the same value)
//! can update one instance at the same time.
//!
//! - [`AtomicInt`]: a 64-bit integer whose additions are checked: an addition that would overflow
//!   returns [`Error::Overflow`] and leaves the value unchanged (it never wraps).
//! - [`AtomicFloat`]: a float64 updated with compare-and-swap loops.
//! - [`Accumulator`]: count, sum, mean, variance, min and max of values added from many threads.
//!   Each thread adds into its own shard (no shared lock, no shared cache line), and reads merge
//!   the shards. Sums are exact (see [`Moments`]), so every result is independent of which thread
//!   added what and in which order.
//!
//! # Memory ordering
//!
//! Every atomic operation is `SeqCst`: each one is a single indivisible step, and all threads
//! agree on one order of all of them. On x86-64 a read-modify-write costs the same in any
//! ordering; the simpler guarantee is worth the rare extra fence elsewhere.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::engine::Ctx;
use crate::{Error, Result};

mod exact;

use exact::{Fixed, SQ_DIGITS, SQ_SCALE, SUM_DIGITS, SUM_SCALE};

// ---------------------------------------------------------------------------------------------
// AtomicInt

/// A 64-bit signed integer shared by threads, whose additions never wrap.
///
/// The `fetch_*` methods return the value *before* the update, as `std::sync::atomic` does.
/// Additions are compare-and-swap loops around `checked_add`: an addition whose result does not
/// fit in `i64` returns [`Error::Overflow`] and leaves the value as it was.
#[derive(Debug, Default)]
pub struct AtomicInt(AtomicI64);

impl AtomicInt {
    /// A new atomic holding `value`.
    pub const fn new(value: i64) -> Self {
        AtomicInt(AtomicI64::new(value))
    }

    /// The current value.
    pub fn load(&self) -> i64 {
        self.0.load(SeqCst)
    }

    /// Replaces the value.
    pub fn store(&self, value: i64) {
        self.0.store(value, SeqCst);
    }

    /// Replaces the value and returns the previous one.
    pub fn swap(&self, value: i64) -> i64 {
        self.0.swap(value, SeqCst)
    }

    /// Adds `delta` and returns the previous value.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if the sum does not fit in `i64`; the value is then unchanged.
    pub fn fetch_add(&self, delta: i64) -> Result<i64> {
        self.0
            .fetch_update(SeqCst, SeqCst, |x| x.checked_add(delta))
            .map_err(|current| Error::Overflow(format!("{current} + {delta} does not fit in int64")))
    }

    /// Subtracts `delta` and returns the previous value.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if the difference does not fit in `i64`; the value is then unchanged.
    pub fn fetch_sub(&self, delta: i64) -> Result<i64> {
        self.0
            .fetch_update(SeqCst, SeqCst, |x| x.checked_sub(delta))
            .map_err(|current| Error::Overflow(format!("{current} - {delta} does not fit in int64")))
    }

    /// Stores `new` if the value is `current`. `Ok(previous)` (equal to `current`) if it did,
    /// `Err(actual)` with the value it found instead if not.
    pub fn compare_exchange(&self, current: i64, new: i64) -> std::result::Result<i64, i64> {
        self.0.compare_exchange(current, new, SeqCst, SeqCst)
    }

    /// Stores the larger of the value and `value`; returns the previous value.
    pub fn fetch_max(&self, value: i64) -> i64 {
        self.0.fetch_max(value, SeqCst)
    }

    /// Stores the smaller of the value and `value`; returns the previous value.
    pub fn fetch_min(&self, value: i64) -> i64 {
        self.0.fetch_min(value, SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// AtomicFloat

/// A float64 shared by threads, stored as its bits in an `AtomicU64`.
///
/// `fetch_add`/`fetch_sub` are compare-and-swap loops: under contention a thread may retry,
/// but no update is ever lost. Arithmetic follows IEEE 754: an overflowing sum is infinity,
/// not an error.
///
/// # Comparisons are on bits
///
/// [`compare_exchange`](Self::compare_exchange) compares **bit patterns**, not values: `0.0`
/// does not match a stored `-0.0`, and a NaN matches a stored NaN with the same bits. That is
/// what makes the usual loop (`load`, compute, `compare_exchange` with what was loaded) always
/// terminate, NaN included.
///
/// # Min and max
///
/// [`fetch_max`](Self::fetch_max) and [`fetch_min`](Self::fetch_min) are IEEE 754-2019's
/// `maximum` and `minimum`: a NaN (stored or given) makes the result NaN, and `-0.0 < 0.0`.
/// With those rules the final value does not depend on the order of the updates.
#[derive(Default)]
pub struct AtomicFloat(AtomicU64);

impl fmt::Debug for AtomicFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AtomicFloat").field(&self.load()).finish()
    }
}

impl AtomicFloat {
    /// A new atomic holding `value`.
    pub fn new(value: f64) -> Self {
        AtomicFloat(AtomicU64::new(value.to_bits()))
    }

    /// The current value.
    pub fn load(&self) -> f64 {
        f64::from_bits(self.0.load(SeqCst))
    }

    /// Replaces the value.
    pub fn store(&self, value: f64) {
        self.0.store(value.to_bits(), SeqCst);
    }

    /// Replaces the value and returns the previous one.
    pub fn swap(&self, value: f64) -> f64 {
        f64::from_bits(self.0.swap(value.to_bits(), SeqCst))
    }

    /// Applies `f` atomically (a compare-and-swap loop); `f` returns `None` to leave the value
    /// as it is. Returns the previous value.
    fn update(&self, f: impl Fn(f64) -> Option<f64>) -> f64 {
        let previous = self
            .0
            .fetch_update(SeqCst, SeqCst, |bits| f(f64::from_bits(bits)).map(f64::to_bits));
        // `Err` carries the value that was left unchanged: the previous value as well.
        f64::from_bits(previous.unwrap_or_else(|bits| bits))
    }

    /// Adds `delta` and returns the previous value.
    pub fn fetch_add(&self, delta: f64) -> f64 {
        self.update(|x| Some(x + delta))
    }

    /// Subtracts `delta` and returns the previous value.
    pub fn fetch_sub(&self, delta: f64) -> f64 {
        self.update(|x| Some(x - delta))
    }

    /// Stores `new` if the stored **bits** equal `current`'s. `Ok(previous)` if it did,
    /// `Err(actual)` with the value it found instead if not.
    pub fn compare_exchange(&self, current: f64, new: f64) -> std::result::Result<f64, f64> {
        self.0
            .compare_exchange(current.to_bits(), new.to_bits(), SeqCst, SeqCst)
            .map(f64::from_bits)
            .map_err(f64::from_bits)
    }

    /// Stores IEEE 754-2019 `maximum(value, stored)`; returns the previous value. Writes only
    /// when the value changes.
    pub fn fetch_max(&self, value: f64) -> f64 {
        self.update(|x| {
            let m = maximum(x, value);
            (m.to_bits() != x.to_bits()).then_some(m)
        })
    }

    /// Stores IEEE 754-2019 `minimum(value, stored)`; returns the previous value. Writes only
    /// when the value changes.
    pub fn fetch_min(&self, value: f64) -> f64 {
        self.update(|x| {
            let m = minimum(x, value);
            (m.to_bits() != x.to_bits()).then_some(m)
        })
    }
}

/// IEEE 754-2019 `maximum`: NaN if either is NaN (the first NaN found), and `-0.0 < 0.0`.
pub fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b < a || (a == b && b.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `minimum`: NaN if either is NaN (the first NaN found), and `-0.0 < 0.0`.
pub fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

// ---------------------------------------------------------------------------------------------
// Moments

/// Values per block of [`Moments::extend`] (one carry check per block, not per value).
const EXTEND_BLOCK: usize = if exact::MAX_RESERVE < 1 << 16 {
    exact::MAX_RESERVE
} else {
    1 << 16
};

/// A value type an [`Accumulator`] can hold: `i64` or `f64`.
pub trait Value: Copy + PartialOrd + Send + Sync + fmt::Debug + 'static + sealed::Sealed {
    /// The type of an exact sum: `i128` for `i64` (the sum of 2^64 `i64`s fits), `f64` for `f64`
    /// (the exact sum, rounded once).
    type Sum: Copy + fmt::Debug;
    /// Adds the value to the exact sums (or the non-finite flags); the caller has reserved room
    /// for the addition.
    #[doc(hidden)]
    fn add_exact(self, s: &mut Sums);
    /// The exact sum, as [`Value::Sum`].
    #[doc(hidden)]
    fn sum_of(s: &Sums) -> Self::Sum;
    /// The smaller of two values (for `f64`: in IEEE 754's total order, `-0.0 < 0.0`).
    #[doc(hidden)]
    fn min_of(a: Self, b: Self) -> Self;
    /// The larger of two values (for `f64`: in IEEE 754's total order, `-0.0 < 0.0`).
    #[doc(hidden)]
    fn max_of(a: Self, b: Self) -> Self;
    /// An extreme as read back: for `f64`, the canonical NaN if a NaN was added.
    #[doc(hidden)]
    fn canonical(self, s: &Sums) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

impl Value for i64 {
    type Sum = i128;

    #[inline(always)]
    fn add_exact(self, s: &mut Sums) {
        let mag = u128::from(self.unsigned_abs());
        s.sum.add(SUM_SCALE, mag, self < 0);
        s.sumsq.add(SQ_SCALE, mag * mag, false);
    }

    fn sum_of(s: &Sums) -> i128 {
        let (negative, mag) = s.sum.to_sign_magnitude();
        // Integers sit at bit SUM_SCALE (digit 34) and up; |sum| < 2^127 spans four digits.
        let whole = mag
            .iter()
            .skip((SUM_SCALE / 32) as usize)
            .take(4)
            .rev()
            .fold(0u128, |acc, &d| (acc << 32) | u128::from(d));
        #[allow(clippy::cast_possible_wrap)] // < 2^127
        let whole = whole as i128;
        if negative {
            -whole
        } else {
            whole
        }
    }

    fn min_of(a: i64, b: i64) -> i64 {
        a.min(b)
    }

    fn max_of(a: i64, b: i64) -> i64 {
        a.max(b)
    }

    fn canonical(self, _: &Sums) -> i64 {
        self
    }
}

impl Value for f64 {
    type Sum = f64;

    #[inline(always)]
    fn add_exact(self, s: &mut Sums) {
        let bits = self.to_bits();
        let negative = bits >> 63 == 1;
        #[allow(clippy::cast_possible_truncation)]
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let fraction = bits & ((1 << 52) - 1);
        if exponent == 0x7ff {
            if fraction != 0 {
                s.nan = true;
            } else if negative {
                s.neg_inf = true;
            } else {
                s.pos_inf = true;
            }
            return;
        }
        // value = mantissa·2^(p − 1074), p >= 0.
        let (mantissa, p) = if exponent == 0 {
            (fraction, 0)
        } else {
            (fraction | (1 << 52), exponent - 1)
        };
        if mantissa == 0 {
            return; // ±0.0
        }
        let mantissa = u128::from(mantissa);
        s.sum.add(p + SUM_SCALE - 1074, mantissa, negative);
        s.sumsq.add(2 * p + SQ_SCALE - 2148, mantissa * mantissa, false);
    }

    fn sum_of(s: &Sums) -> f64 {
        if let Some(special) = s.special_sum() {
            return special;
        }
        let (negative, mag) = s.sum.to_sign_magnitude();
        let s = exact::round_to_f64(&mag, SUM_SCALE, false);
        if negative {
            -s
        } else {
            s
        }
    }

    // IEEE 754's total order: the same as `minimum`/`maximum` for everything but NaN (-0.0 <
    // 0.0), and compiled to integer compares and conditional moves, with no branch to mispredict
    // on random data (`minimum` has three). A NaN is flagged by `add_exact`, and the reads
    // return NaN when the flag is set, whatever the extremes hold.
    #[inline(always)]
    fn min_of(a: f64, b: f64) -> f64 {
        if b.total_cmp(&a).is_lt() {
            b
        } else {
            a
        }
    }

    #[inline(always)]
    fn max_of(a: f64, b: f64) -> f64 {
        if b.total_cmp(&a).is_gt() {
            b
        } else {
            a
        }
    }

    fn canonical(self, s: &Sums) -> f64 {
        if s.nan || self.is_nan() {
            f64::NAN
        } else {
            self
        }
    }
}

/// Count, exact sum, exact sum of squares, min and max of a multiset of values.
///
/// # Exact, so independent of order
///
/// The sum and the sum of squares are kept exactly (fixed-point numbers wide enough for any
/// 2^64 float64 values), and every result is computed from them with one final rounding:
///
/// - [`sum`](Self::sum): exact for `i64` (an `i128`); for `f64` the exact sum rounded to the
///   nearest float64, the same as Python's `math.fsum`.
/// - [`mean`](Self::mean): the exact `sum / count`, rounded once.
/// - [`var`](Self::var): the exact `(n·Σx² − (Σx)²) / (n·(n − ddof))`, rounded once (so a
///   mean of 1e9 with a spread of 1 loses nothing); [`std`](Self::std) is its square root.
/// - [`min`](Self::min), [`max`](Self::max): for `f64`, IEEE 754-2019 `minimum`/`maximum`
///   (NaN-propagating, `-0.0 < 0.0`), so the order of the values does not matter either.
///
/// The results are therefore functions of the multiset of values alone: adding the same values
/// in any order, split over any number of `Moments` that are then merged, gives the same bits.
///
/// Non-finite `f64` values are counted and flagged instead of summed: the sum and mean are NaN
/// if a NaN or both infinities were added, else ±inf if an infinity was; the variance is NaN
/// whenever a non-finite value was added (as NumPy). A finite exact sum beyond the float64
/// range rounds to ±inf. An exact zero sum is `+0.0`.
#[derive(Clone, Debug)]
pub struct Moments<T> {
    count: u64,
    sums: Sums,
    extremes: Option<(T, T)>,
}

/// The exact part of [`Moments`]: the sum, the sum of squares and the non-finite flags.
/// (Public only because [`Value`] names it; nothing of it is usable outside this module.)
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Sums {
    sum: Fixed<SUM_DIGITS>,
    sumsq: Fixed<SQ_DIGITS>,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
}

impl Sums {
    const ZERO: Sums = Sums {
        sum: Fixed::ZERO,
        sumsq: Fixed::ZERO,
        nan: false,
        pos_inf: false,
        neg_inf: false,
    };

    /// Makes room for `n` more additions.
    #[inline(always)]
    fn reserve(&mut self, n: u32) {
        self.sum.reserve(n);
        self.sumsq.reserve(n);
    }

    fn merge(&mut self, other: &Sums) {
        self.sum.absorb(&other.sum);
        self.sumsq.absorb(&other.sumsq);
        self.nan |= other.nan;
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
    }

    fn any_non_finite(&self) -> bool {
        self.nan || self.pos_inf || self.neg_inf
    }

    /// The sum and mean of a sum with non-finite values, if there were any.
    fn special_sum(&self) -> Option<f64> {
        if self.nan || (self.pos_inf && self.neg_inf) {
            Some(f64::NAN)
        } else if self.pos_inf {
            Some(f64::INFINITY)
        } else if self.neg_inf {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }
}

impl<T: Value> Default for Moments<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Value> Moments<T> {
    /// No values.
    pub const fn new() -> Self {
        Moments {
            count: 0,
            sums: Sums::ZERO,
            extremes: None,
        }
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, x: T) {
        self.count += 1;
        self.sums.reserve(1);
        x.add_exact(&mut self.sums);
        self.extremes = Some(match self.extremes {
            None => (x, x),
            Some((lo, hi)) => (T::min_of(lo, x), T::max_of(hi, x)),
        });
    }

    /// Adds every value of `xs`, converted with `convert`.
    pub fn extend<X: Copy>(&mut self, xs: &[X], convert: impl Fn(X) -> T) {
        let Some(&first) = xs.first() else {
            return;
        };
        // Two sets of sums, for even and odd elements: consecutive values of similar magnitude
        // add into the same digits, and with one set each addition would wait for the last.
        let mut odd = Sums::ZERO;
        let (mut lo, mut hi) = self.extremes.unwrap_or((convert(first), convert(first)));
        for block in xs.chunks(EXTEND_BLOCK) {
            #[allow(clippy::cast_possible_truncation)] // at most EXTEND_BLOCK
            let n = block.len() as u32;
            self.sums.reserve(n.div_ceil(2));
            odd.reserve(n / 2);
            let mut pairs = block.chunks_exact(2);
            for pair in &mut pairs {
                let (a, b) = (convert(pair[0]), convert(pair[1]));
                a.add_exact(&mut self.sums);
                b.add_exact(&mut odd);
                lo = T::min_of(T::min_of(lo, a), b);
                hi = T::max_of(T::max_of(hi, a), b);
            }
            for &x in pairs.remainder() {
                let x = convert(x);
                x.add_exact(&mut self.sums);
                lo = T::min_of(lo, x);
                hi = T::max_of(hi, x);
            }
            self.count += u64::from(n);
        }
        self.sums.merge(&odd);
        self.extremes = Some((lo, hi));
    }

    /// Adds every value `other` holds.
    pub fn merge(&mut self, other: &Moments<T>) {
        self.count += other.count;
        self.sums.merge(&other.sums);
        self.extremes = match (self.extremes, other.extremes) {
            (None, e) | (e, None) => e,
            (Some((a, b)), Some((c, d))) => Some((T::min_of(a, c), T::max_of(b, d))),
        };
    }

    /// The number of values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum: exact for `i64`, correctly rounded for `f64` (zero when empty).
    pub fn sum(&self) -> T::Sum {
        T::sum_of(&self.sums)
    }

    /// The arithmetic mean, correctly rounded; NaN when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        if let Some(special) = self.sums.special_sum() {
            return special;
        }
        let (negative, mag) = self.sums.sum.to_sign_magnitude();
        let (q, rem) = exact::div_small(&mag, self.count);
        let m = exact::round_to_f64(&q, SUM_SCALE, rem);
        if negative {
            -m
        } else {
            m
        }
    }

    /// The variance with `ddof` delta degrees of freedom, `Σ(x − mean)² / max(n − ddof, 0)`,
    /// computed exactly and rounded once; as NumPy, when `n − ddof <= 0` it is inf, or nan if all
    /// values are equal (or none was added); NaN when a non-finite value was added.
    pub fn var(&self, ddof: i64) -> f64 {
        if self.count == 0 || self.sums.any_non_finite() {
            return f64::NAN;
        }
        let (_, a) = self.sums.sum.to_sign_magnitude();
        let (_, b) = self.sums.sumsq.to_sign_magnitude();
        // n·M2 = n·Σx² − (Σx)² >= 0 (Cauchy-Schwarz), at scale SQ_SCALE = 2·SUM_SCALE.
        let n_m2 = exact::sub(&exact::mul_small(&b, self.count), &exact::mul(&a, &a));
        let dof = i128::from(self.count) - i128::from(ddof);
        if dof <= 0 {
            // M2 / 0, as NumPy: inf for a positive M2, nan for M2 = 0.
            return if n_m2.iter().all(|&limb| limb == 0) {
                f64::NAN
            } else {
                f64::INFINITY
            };
        }
        // More than 2^64 degrees of freedom takes more than 2^63 values and a negative ddof.
        let dof = u64::try_from(dof).unwrap_or(u64::MAX);
        let (q, rem1) = exact::div_small(&n_m2, self.count);
        let (q, rem2) = exact::div_small(&q, dof);
        exact::round_to_f64(&q, SQ_SCALE, rem1 || rem2)
    }

    /// The standard deviation, `sqrt(var(ddof))`.
    pub fn std(&self, ddof: i64) -> f64 {
        self.var(ddof).sqrt()
    }

    /// The smallest value (NaN if a NaN was added); `None` when empty.
    pub fn min(&self) -> Option<T> {
        self.extremes.map(|(lo, _)| lo.canonical(&self.sums))
    }

    /// The largest value (NaN if a NaN was added); `None` when empty.
    pub fn max(&self) -> Option<T> {
        self.extremes.map(|(_, hi)| hi.canonical(&self.sums))
    }
}

/// Elements per task of [`moments_of`]: 64 Ki values take ~0.3 ms to add.
pub const MOMENTS_CHUNK_LEN: usize = 1 << 16;

/// The [`Moments`] of a slice, converted with `convert`, on the context's threads. The result
/// does not depend on the thread count (the moments are exact).
///
/// # Errors
///
/// [`Error::Cancelled`] if the call was cancelled, [`Error::Panic`] if a task panicked.
pub fn moments_of<X, T>(ctx: &Ctx<'_>, xs: &[X], convert: impl Fn(X) -> T + Sync) -> Result<Moments<T>>
where
    X: Copy + Sync,
    T: Value,
{
    let parts = ctx.map_chunks(xs.len(), MOMENTS_CHUNK_LEN, 1, |r| {
        let mut m = Moments::new();
        m.extend(&xs[r], &convert);
        m
    })?;
    let mut total = Moments::new();
    for part in &parts {
        total.merge(part);
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// Accumulator

/// Shards per accumulator. Threads are given shards round-robin as they first add, so up to 64
/// threads never share one; beyond that they share (correct, merely contended).
pub const SHARDS: usize = 64;

/// The next shard to hand out, across all accumulators.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Relaxed) % SHARDS;
}

/// This thread's shard index.
fn slot() -> usize {
    SLOT.try_with(|s| *s).unwrap_or(0)
}

/// One shard, alone on its cache lines (128 bytes: x86's adjacent-line prefetcher pairs lines).
#[repr(align(128))]
#[derive(Debug)]
struct Shard<T>(Mutex<Moments<T>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while a shard is locked; a poisoned shard is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`Moments`] accumulated from many threads without contention.
///
/// Each thread adds into its own shard: a [`Moments`] behind a mutex that only that thread
/// takes (uncontended: one atomic swap to lock, one to unlock), on its own cache lines. A read
/// locks every shard in index order, merges them and lets go: it is an atomic snapshot (no add
/// is half-seen, and every add that finished before the read began is in it). Since the moments
/// are exact, the results are the same whichever shards the values landed in.
///
/// Shards are allocated on a thread's first add (about 1.7 KiB each).
///
/// # Locks never wait on Python
///
/// No code runs under a shard lock except the arithmetic of an add, a merge or a copy, so a
/// thread holding one never waits for anything; the binding may block on a shard lock while
/// attached to Python without risking a deadlock.
pub struct Accumulator<T: Value> {
    /// On the heap, so that its address stays put when the `Accumulator` moves: the fork
    /// handlers reach it through [`LIVE`].
    locks: Box<Locks<T>>,
}

#[derive(Debug)]
struct Locks<T> {
    shards: Box<[OnceLock<Box<Shard<T>>>]>,
    /// Held while a shard is created and while a read locks the shards, so that a shard created
    /// during a read is created after it (what keeps reads atomic snapshots).
    init: Mutex<()>,
}

impl<T: Value> fmt::Debug for Accumulator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accumulator").finish_non_exhaustive()
    }
}

impl<T: Value> Default for Accumulator<T> {
    fn default() -> Self {
        Self::new()
    }
}

// --- fork safety ------------------------------------------------------------------------------
//
// An add holds its shard's lock for a few instructions. If another thread forks at that instant,
// the child's copy of the lock stays locked forever (its holder does not exist there), and the
// child's next add or read on that accumulator would hang. So every live accumulator is
// registered here, and the engine's fork handlers (`engine::fork`, through [`FORK_HOOKS`]) lock
// them all before the fork
// — each one whole, as a read does: `init`, then its shards in index order — and release them in
// the parent and in the child. Nothing is held across the fork; the child inherits consistent
// accumulators.

type Guard = Box<dyn std::any::Any>;

/// Something whose every lock the fork handlers take.
trait ForkLocks: Sync {
    /// Locks everything; the guards, type-erased, release the locks when dropped.
    fn lock_all(&'static self) -> Vec<Guard>;
}

impl<T: Value> ForkLocks for Locks<T> {
    fn lock_all(&'static self) -> Vec<Guard> {
        let mut guards: Vec<Guard> = vec![Box::new(lock(&self.init))];
        guards.extend(
            self.shards
                .iter()
                .filter_map(OnceLock::get)
                .map(|shard| Box::new(lock(&shard.0)) as Guard),
        );
        guards
    }
}

/// A registered accumulator's locks (a raw pointer: the registry does not own them).
struct Registered(*const dyn ForkLocks);

// SAFETY: the pointee is `Sync` (`ForkLocks: Sync`), and it is only dereferenced by the fork
// handlers while `LIVE` is locked, which keeps it alive (see `Drop for Accumulator`).
unsafe impl Send for Registered {}

/// Every live accumulator, by the address of its (heap-allocated) locks.
static LIVE: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

thread_local! {
    /// What [`fork_prepare`] locked, on the forking thread, until [`fork_release`].
    static HELD: std::cell::RefCell<Vec<Guard>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The accumulators' part of the engine's fork handlers.
static FORK_HOOKS: crate::engine::fork::ForkHooks = crate::engine::fork::ForkHooks {
    prepare: fork_prepare,
    release: fork_release,
};

/// Before `fork()`: locks the registry, then every live accumulator whole.
fn fork_prepare() {
    let live = lock(&LIVE);
    let mut held: Vec<Guard> = Vec::new();
    for r in live.iter() {
        // SAFETY: registered locks stay alive while `LIVE` is locked (an accumulator unregisters,
        // under `LIVE`, before its locks are freed), and `LIVE` stays locked until
        // `fork_release` has dropped these guards first: the `'static` is never outlived.
        let locks: &'static dyn ForkLocks = unsafe { &*r.0 };
        held.extend(locks.lock_all());
    }
    held.push(Box::new(live));
    let _ = HELD.try_with(|h| *h.borrow_mut() = held);
}

/// After `fork()`, in the parent and in the child: releases what [`fork_prepare`] locked (the
/// accumulators first, the registry last).
fn fork_release() {
    let _ = HELD.try_with(|h| {
        let mut held = std::mem::take(&mut *h.borrow_mut());
        let live = held.pop();
        drop(held);
        drop(live);
    });
}

impl<T: Value> Drop for Accumulator<T> {
    fn drop(&mut self) {
        let me: *const dyn ForkLocks = &*self.locks;
        lock(&LIVE).retain(|r| !std::ptr::addr_eq(r.0, me));
    }
}

impl<T: Value> Accumulator<T> {
    /// An empty accumulator.
    pub fn new() -> Self {
        crate::engine::fork::on_fork(&FORK_HOOKS);
        let locks: Box<Locks<T>> = Box::new(Locks {
            shards: (0..SHARDS).map(|_| OnceLock::new()).collect(),
            init: Mutex::new(()),
        });
        let ptr: *const dyn ForkLocks = &*locks;
        lock(&LIVE).push(Registered(ptr));
        Accumulator { locks }
    }

    /// The calling thread's shard, created on first use.
    fn local(&self) -> &Mutex<Moments<T>> {
        let cell = &self.locks.shards[slot()];
        if let Some(shard) = cell.get() {
            return &shard.0;
        }
        let _init = lock(&self.locks.init);
        &cell.get_or_init(|| Box::new(Shard(Mutex::new(Moments::new())))).0
    }

    /// Adds one value (into the calling thread's shard).
    pub fn add(&self, x: T) {
        lock(self.local()).add(x);
    }

    /// Adds every value of `xs`, converted with `convert`, under one lock.
    pub fn extend<X: Copy>(&self, xs: &[X], convert: impl Fn(X) -> T) {
        lock(self.local()).extend(xs, convert);
    }

    /// Adds every value `m` holds (into the calling thread's shard).
    pub fn merge(&self, m: &Moments<T>) {
        lock(self.local()).merge(m);
    }

    /// Runs `f` with every existing shard locked, in index order.
    fn with_all<R>(&self, f: impl FnOnce(&mut [MutexGuard<'_, Moments<T>>]) -> R) -> R {
        let _init = lock(&self.locks.init);
        let mut guards: Vec<_> = self
            .locks
            .shards
            .iter()
            .filter_map(OnceLock::get)
            .map(|shard| lock(&shard.0))
            .collect();
        f(&mut guards)
    }

    /// Everything added so far, as one [`Moments`] (an atomic snapshot).
    pub fn snapshot(&self) -> Moments<T> {
        self.with_all(|guards| {
            let mut total = Moments::new();
            for g in guards.iter() {
                total.merge(g);
            }
            total
        })
    }

    /// Forgets every value (atomically: a concurrent add lands wholly before or after).
    pub fn reset(&self) {
        self.with_all(|guards| {
            for g in guards.iter_mut() {
                **g = Moments::new();
            }
        });
    }
}

#[cfg(test)]
mod test;
