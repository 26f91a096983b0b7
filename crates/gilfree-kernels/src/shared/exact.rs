//! Exact sums of float64 and int64 values and of their squares, and the few big-number steps
//! that turn them into correctly rounded `f64` results.
//!
//! A [`Fixed`] is a fixed-point number wide enough to hold any sum of up to 2^64 float64 values
//! (or of their squares) without rounding: an array of signed 64-bit digits, each carrying 32
//! bits, `value = Σ d[i]·2^(32·i − scale)`. Adding `m·2^e` (a mantissa below 2^107 at a bit
//! position) adds its 32-bit pieces to the five or fewer digits it spans, with no carry
//! propagation: a digit receives less than 2^33 per addition and has room for 2^63, so carries
//! are propagated ([`Fixed::normalise`]) only every [`NORMALISE_EVERY`] additions and before a
//! read. This is Neal's "small superaccumulator" (arXiv:1505.05571) with 32-bit digits.
//!
//! Because the sums are exact, the order of the additions cannot change them: a read gives the
//! same bits whichever threads added which values, in whatever interleaving.

use std::cmp::Ordering;

/// Bit index of the weight 2^0 in a sum. The smallest float64, 2^-1074, lands at bit 14; the
/// largest sum of 2^64 float64 values is below 2^1088, at bit 2176, in digit 68.
pub(crate) const SUM_SCALE: u32 = 1088;
/// Digits of a sum: 68 for the value, one for the sign, one spare for the mantissa spill.
pub(crate) const SUM_DIGITS: usize = 70;
/// Bit index of 2^0 in a sum of squares: twice [`SUM_SCALE`], so that `sum²` and `n·sumsq` have
/// the same scale. 2^-2148 (the smallest square) lands at bit 28; 2^64 squares of the largest
/// float64 stay below 2^2112, at bit 4288, in digit 134.
pub(crate) const SQ_SCALE: u32 = 2 * SUM_SCALE;
/// Digits of a sum of squares.
pub(crate) const SQ_DIGITS: usize = 136;

/// Additions between carry propagations: each addition puts less than 2^33 into a digit, so
/// 2^28 of them stay below 2^61, well inside an `i64`. (The unit tests propagate every 64
/// additions, so that every exactness test goes through many propagations.)
#[cfg(not(test))]
const NORMALISE_EVERY: u32 = 1 << 28;
#[cfg(test)]
const NORMALISE_EVERY: u32 = 1 << 6;

/// The most additions one [`Fixed::reserve`] may cover.
pub(crate) const MAX_RESERVE: usize = NORMALISE_EVERY as usize;

const LOW32: i64 = 0xffff_ffff;

/// A fixed-point number of `N` 32-bit digits, carried in `i64`s; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Fixed<const N: usize> {
    d: [i64; N],
    /// Additions since the last carry propagation.
    pending: u32,
}

impl<const N: usize> Fixed<N> {
    pub(crate) const ZERO: Self = Fixed {
        d: [0; N],
        pending: 0,
    };

    /// Makes room for `n` more [`add`](Self::add)s: propagates carries first if they could
    /// overflow a digit. Every `add` must be covered by a `reserve`.
    #[inline(always)]
    pub(crate) fn reserve(&mut self, n: u32) {
        debug_assert!(n <= NORMALISE_EVERY);
        if self.pending + n > NORMALISE_EVERY {
            self.normalise();
        }
        self.pending += n;
    }

    /// Adds `mag·2^(bit − scale)`, or subtracts it when `negative`. `mag` must be below 2^107
    /// and the whole term must fit the digits (the callers' scales guarantee both); the addition
    /// must have been [`reserve`](Self::reserve)d.
    #[inline(always)]
    pub(crate) fn add(&mut self, bit: u32, mag: u128, negative: bool) {
        #[allow(clippy::cast_possible_truncation)] // the low and high halves, on purpose
        let (lo, hi) = (mag as u64, (mag >> 64) as u64);
        self.add_u64(bit, lo, negative);
        if hi != 0 {
            self.add_u64(bit + 64, hi, negative);
        }
    }

    /// Adds `v·2^(bit − scale)` into the three digits it spans (each part < 2^32).
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    fn add_u64(&mut self, bit: u32, v: u64, negative: bool) {
        let i = (bit / 32) as usize;
        let w = u128::from(v) << (bit % 32);
        let parts = [
            (w as u64 & 0xffff_ffff) as i64,
            ((w >> 32) as u64 & 0xffff_ffff) as i64,
            (w >> 64) as i64,
        ];
        // Negate without a branch (signs of data are unpredictable): (p ^ -1) + 1 = -p.
        let flip = -i64::from(negative);
        for (digit, part) in self.d[i..i + 3].iter_mut().zip(parts) {
            *digit += (part ^ flip) - flip;
        }
    }

    /// Propagates carries: afterwards every digit but the top one is in `0..2^32`, and the top
    /// digit carries the sign.
    pub(crate) fn normalise(&mut self) {
        for i in 0..N - 1 {
            // Arithmetic shift: floor division by 2^32, so `d = carry·2^32 + (d & LOW32)`.
            let carry = self.d[i] >> 32;
            self.d[i] &= LOW32;
            self.d[i + 1] += carry;
        }
        self.pending = 0;
    }

    /// Adds another fixed-point number of the same scale.
    pub(crate) fn absorb(&mut self, other: &Self) {
        let mut other = other.clone();
        other.normalise();
        // Normalised digits are below 2^32: one ordinary addition's worth for each digit.
        self.reserve(1);
        for (a, b) in self.d.iter_mut().zip(other.d) {
            *a += b;
        }
    }

    /// The value as a sign and a magnitude (32-bit digits, least significant first, no leading
    /// zeros; empty for zero), at this number's scale.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(crate) fn to_sign_magnitude(&self) -> (bool, Vec<u32>) {
        let mut f = self.clone();
        f.normalise();
        let negative = f.d[N - 1] < 0;
        if negative {
            for digit in &mut f.d {
                *digit = -*digit;
            }
            f.normalise();
        }
        // Every digit is in 0..2^32 now (the top one too: the scales leave it nearly empty).
        let mut mag: Vec<u32> = f.d.iter().map(|&x| x as u32).collect();
        trim(&mut mag);
        (negative, mag)
    }
}

// ---------------------------------------------------------------------------------------------
// Magnitudes: unsigned big numbers as little-endian 32-bit digits, no leading zeros.

fn trim(a: &mut Vec<u32>) {
    while a.last() == Some(&0) {
        a.pop();
    }
}

/// `a·m`.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn mul_small(a: &[u32], m: u64) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + 2);
    let mut carry: u128 = 0;
    for &x in a {
        let t = u128::from(x) * u128::from(m) + carry;
        out.push(t as u32);
        carry = t >> 32;
    }
    while carry != 0 {
        out.push(carry as u32);
        carry >>= 32;
    }
    trim(&mut out);
    out
}

/// `a·b`, schoolbook (the operands have at most ~140 digits).
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn mul(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = vec![0u32; a.len() + b.len()];
    for (i, &x) in a.iter().enumerate() {
        let mut carry: u64 = 0;
        for (j, &y) in b.iter().enumerate() {
            // At most (2^32 − 1)² + 2·(2^32 − 1) = 2^64 − 1: no overflow.
            let t = u64::from(x) * u64::from(y) + u64::from(out[i + j]) + carry;
            out[i + j] = t as u32;
            carry = t >> 32;
        }
        out[i + b.len()] = carry as u32;
    }
    trim(&mut out);
    out
}

fn cmp(a: &[u32], b: &[u32]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

/// `a − b`, or zero when `b > a` (callers only subtract a smaller number).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn sub(a: &[u32], b: &[u32]) -> Vec<u32> {
    if cmp(a, b) == Ordering::Less {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i64;
    for (i, &x) in a.iter().enumerate() {
        let mut t = i64::from(x) - i64::from(b.get(i).copied().unwrap_or(0)) - borrow;
        borrow = i64::from(t < 0);
        t += borrow << 32;
        out.push(t as u32);
    }
    trim(&mut out);
    out
}

/// `a / d` rounded down, and whether the division left a remainder.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn div_small(a: &[u32], d: u64) -> (Vec<u32>, bool) {
    let d = u128::from(d);
    let mut q = vec![0u32; a.len()];
    let mut rem: u128 = 0;
    for (qi, &x) in q.iter_mut().zip(a).rev() {
        let cur = (rem << 32) | u128::from(x);
        *qi = (cur / d) as u32;
        rem = cur % d;
    }
    trim(&mut q);
    (q, rem != 0)
}

/// The low bits `[lo, lo + count)` of a magnitude, `count <= 64`.
fn bits(a: &[u32], lo: u32, count: u32) -> u64 {
    let i = (lo / 32) as usize;
    let mut w: u128 = 0;
    for k in (0..3).rev() {
        w = (w << 32) | u128::from(a.get(i + k).copied().unwrap_or(0));
    }
    let w = w >> (lo % 32);
    #[allow(clippy::cast_possible_truncation)]
    let w = w as u64;
    if count >= 64 {
        w
    } else {
        w & ((1u64 << count) - 1)
    }
}

/// Whether any bit below index `i` is set.
fn any_below(a: &[u32], i: u32) -> bool {
    let k = (i / 32) as usize;
    a.iter().take(k).any(|&x| x != 0) || a.get(k).is_some_and(|&x| x & ((1u32 << (i % 32)) - 1) != 0)
}

/// `mag·2^-scale` (plus "a little more" when `sticky`: a positive amount below the weight of
/// `mag`'s lowest bit) rounded to the nearest `f64`, ties to even; infinity when it is beyond
/// the largest `f64`. `scale` must be at least 1074, so that the lowest bit of `mag` is no
/// heavier than the smallest subnormal's.
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
pub(crate) fn round_to_f64(mag: &[u32], scale: u32, sticky: bool) -> f64 {
    debug_assert!(scale >= 1074);
    let Some(&top_digit) = mag.last() else {
        // Zero, or less than 2^-scale <= 2^-1074 / 2: rounds to zero.
        return 0.0;
    };
    #[allow(clippy::cast_possible_truncation)]
    let top = (mag.len() as u32 - 1) * 32 + (31 - top_digit.leading_zeros());
    // The lowest bit we keep: 53 bits below the top, or the subnormal floor 2^-1074.
    let floor = scale - 1074;
    let mut q = top.saturating_sub(52).max(floor);
    // No bit at all to keep when the value is below the floor (a tiny variance).
    let mut kept = bits(mag, q, (top + 1).saturating_sub(q));
    let (half, rest) = if q == 0 {
        (false, sticky)
    } else {
        (bits(mag, q - 1, 1) == 1, sticky || any_below(mag, q - 1))
    };
    if half && (rest || kept & 1 == 1) {
        kept += 1;
        if kept == 1 << 53 {
            kept >>= 1;
            q += 1;
        }
    }
    // value = kept·2^(q − scale)
    if kept >= 1 << 52 {
        let biased = i64::from(q) - i64::from(scale) + 52 + 1023;
        if biased >= 2047 {
            f64::INFINITY
        } else {
            f64::from_bits(((biased as u64) << 52) | (kept & ((1 << 52) - 1)))
        }
    } else {
        // A subnormal: q is the floor, kept·2^-1074.
        f64::from_bits(kept)
    }
}
