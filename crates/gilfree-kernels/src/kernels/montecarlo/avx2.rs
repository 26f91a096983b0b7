//! The block kernel in explicit AVX2: the [`LANES`] = 8 generators as two groups of four, each
//! state word one `__m256i`, so a step of four lanes is 14 vector instructions (AVX2 has no
//! 64-bit rotate: a rotation is two shifts and an OR).
//!
//! # The `u64 → f64` conversion, exactly
//!
//! AVX2 has no 64-bit integer → `f64` conversion, so the 53 bits `m = r >> 11` of an output `r`
//! are turned into `x = m · 2⁻⁵³` by two exact magic-number steps. With `h = r >> 32` (the top
//! 32 bits) and `l = r & 0xFFFF_F800` (bits 11..31 in place, the 21 low bits of `m` times 2¹¹):
//!
//! * `A = f64::from_bits(bits(2²⁰) | h) = 2²⁰ + h · 2⁻³²` (`h < 2³²` fills the low mantissa bits
//!   of a number whose unit in the last place is 2⁻³²);
//! * `B = f64::from_bits(bits(2⁻¹²) | l) = 2⁻¹² + l · 2⁻⁶⁴ = 2⁻¹² + (m mod 2²¹) · 2⁻⁵³`;
//! * `x = (A − (2²⁰ + 2⁻¹²)) + B`. The subtraction is exact (`(h − 2²⁰) · 2⁻³²`, an integer below
//!   2³² in magnitude times a power of two), and so is the sum, whose exact value
//!   `h · 2⁻³² + (m mod 2²¹) · 2⁻⁵³ = m · 2⁻⁵³` has 53 significant bits at most.
//!
//! So `x` is exactly `(r >> 11) as f64 * 2⁻⁵³` (itself exact), as in the portable path. The test of
//! the disc is the same three rounded IEEE operations, `x·x`, `y·y`, their sum, then `<= 1.0`:
//! separate multiply and add instructions, never an FMA. The hits are the comparison masks (all
//! ones, i.e. −1) subtracted from per-lane counters.

use std::arch::x86_64::{
    __m256i, _mm256_add_epi64, _mm256_add_pd, _mm256_and_si256, _mm256_castpd_si256, _mm256_castsi256_pd,
    _mm256_cmp_pd, _mm256_cmpgt_epi64, _mm256_extract_epi64, _mm256_mul_pd, _mm256_or_si256,
    _mm256_set1_epi64x, _mm256_set1_pd, _mm256_setr_epi64x, _mm256_setzero_si256, _mm256_slli_epi64,
    _mm256_srli_epi64, _mm256_sub_epi64, _mm256_sub_pd, _mm256_xor_si256, _CMP_LE_OQ,
};

use super::xoshiro::Lanes;
use super::LANES;

/// `bits(2²⁰)`: the exponent whose mantissa's last place is 2⁻³².
const HI_BITS: i64 = (1023 + 20) << 52;
/// `bits(2⁻¹²)`: the exponent whose mantissa's last place is 2⁻⁶⁴.
const LO_BITS: i64 = (1023 - 12) << 52;
/// Bits 11..31 of an output: the low 21 of its top 53.
const LO_MASK: i64 = 0xFFFF_F800;
/// `2²⁰ + 2⁻¹²`: the two exponents' implicit leading ones, removed in one exact subtraction.
const OFFSET: f64 = 1_048_576.0 + 1.0 / 4096.0;

/// Four lanes' state: word `w` of lanes `o..o + 4`.
struct Quad([__m256i; 4]);

impl Quad {
    #[target_feature(enable = "avx2")]
    fn load(lanes: &Lanes, o: usize) -> Quad {
        #[allow(clippy::cast_possible_wrap)] // bit patterns
        Quad(std::array::from_fn(|w| {
            let s = &lanes.s[w];
            _mm256_setr_epi64x(s[o] as i64, s[o + 1] as i64, s[o + 2] as i64, s[o + 3] as i64)
        }))
    }

    /// The next output of the four lanes (`xoshiro256plusplus.c`'s `next()`).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn next(&mut self) -> __m256i {
        let [s0, s1, s2, s3] = &mut self.0;
        let sum = _mm256_add_epi64(*s0, *s3);
        let rot = _mm256_or_si256(_mm256_slli_epi64::<23>(sum), _mm256_srli_epi64::<41>(sum));
        let result = _mm256_add_epi64(rot, *s0);
        let t = _mm256_slli_epi64::<17>(*s1);
        *s2 = _mm256_xor_si256(*s2, *s0);
        *s3 = _mm256_xor_si256(*s3, *s1);
        *s1 = _mm256_xor_si256(*s1, *s2);
        *s0 = _mm256_xor_si256(*s0, *s3);
        *s2 = _mm256_xor_si256(*s2, t);
        *s3 = _mm256_or_si256(_mm256_slli_epi64::<45>(*s3), _mm256_srli_epi64::<19>(*s3));
        result
    }

    /// Draws one sample (x then y) from each of the four lanes: all ones in the lanes whose point
    /// is in the closed quarter disc, zero elsewhere.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn sample(&mut self) -> __m256i {
        let x = unit(self.next());
        let y = unit(self.next());
        let r2 = _mm256_add_pd(_mm256_mul_pd(x, x), _mm256_mul_pd(y, y));
        _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_LE_OQ>(r2, _mm256_set1_pd(1.0)))
    }
}

/// `(r >> 11) · 2⁻⁵³` for four outputs, exactly (see the [module documentation](self)).
#[target_feature(enable = "avx2")]
#[inline]
fn unit(r: __m256i) -> std::arch::x86_64::__m256d {
    let hi = _mm256_or_si256(_mm256_srli_epi64::<32>(r), _mm256_set1_epi64x(HI_BITS));
    let lo = _mm256_or_si256(
        _mm256_and_si256(r, _mm256_set1_epi64x(LO_MASK)),
        _mm256_set1_epi64x(LO_BITS),
    );
    let a = _mm256_sub_pd(_mm256_castsi256_pd(hi), _mm256_set1_pd(OFFSET));
    _mm256_add_pd(a, _mm256_castsi256_pd(lo))
}

/// `(r >> 11) · 2⁻⁵³` for four outputs through the AVX2 conversion (for the tests).
#[cfg(test)]
#[target_feature(enable = "avx2")]
pub(super) fn unit4(r: [u64; 4]) -> [f64; 4] {
    #[allow(clippy::cast_possible_wrap)] // bit patterns
    let v = unit(_mm256_setr_epi64x(
        r[0] as i64,
        r[1] as i64,
        r[2] as i64,
        r[3] as i64,
    ));
    let b = _mm256_castpd_si256(v);
    #[allow(clippy::cast_sign_loss)] // bit patterns
    [
        f64::from_bits(_mm256_extract_epi64::<0>(b) as u64),
        f64::from_bits(_mm256_extract_epi64::<1>(b) as u64),
        f64::from_bits(_mm256_extract_epi64::<2>(b) as u64),
        f64::from_bits(_mm256_extract_epi64::<3>(b) as u64),
    ]
}

/// The hits of one block of `len` samples drawn from `lanes` (sample `i` from lane `i % 8`):
/// what the portable kernel computes, bit for bit. The two groups of four lanes are stepped
/// interleaved: two independent dependency chains.
#[target_feature(enable = "avx2")]
pub(super) fn block_hits(lanes: &Lanes, len: u64) -> u64 {
    const { assert!(LANES == 8) };
    let mut a = Quad::load(lanes, 0);
    let mut b = Quad::load(lanes, 4);
    // Per-lane counts (at most 2¹⁷ per lane in a block), as negated comparison masks.
    let mut acc = _mm256_setzero_si256();
    // Whole rounds: one sample from every lane.
    for _ in 0..len / LANES as u64 {
        acc = _mm256_sub_epi64(acc, a.sample());
        acc = _mm256_sub_epi64(acc, b.sample());
    }
    acc = a.rest(acc, 0, len);
    acc = b.rest(acc, 4, len);
    horizontal_sum(acc)
}

/// The hits that lanes `o..o + 4` of a block of `len` samples draw (the block's sample `i` is
/// lane `i % 8`'s): half of [`block_hits`], for a block split between two tasks. One dependency
/// chain instead of two: ~14 % slower per sample here (Zen 3; unrolling does not help), as the
/// latency of a step nearly matches the throughput of two.
#[target_feature(enable = "avx2")]
pub(super) fn quad_hits(lanes: &Lanes, o: usize, len: u64) -> u64 {
    const { assert!(LANES == 8) };
    let mut q = Quad::load(lanes, o);
    let mut acc = _mm256_setzero_si256();
    for _ in 0..len / LANES as u64 {
        acc = _mm256_sub_epi64(acc, q.sample());
    }
    acc = q.rest(acc, o, len);
    horizontal_sum(acc)
}

impl Quad {
    /// `acc` after the last, partial round of a block of `len` samples (fewer than 8 samples:
    /// one more from lanes `0..len % 8` only), for the four lanes `o..o + 4` held here.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn rest(&mut self, acc: __m256i, o: usize, len: u64) -> __m256i {
        #[allow(clippy::cast_possible_wrap)] // < 8
        let rest = (len % LANES as u64) as i64;
        if rest == 0 {
            return acc;
        }
        #[allow(clippy::cast_possible_wrap)] // o < 8
        let o = o as i64;
        let keep = _mm256_cmpgt_epi64(
            _mm256_set1_epi64x(rest),
            _mm256_setr_epi64x(o, o + 1, o + 2, o + 3),
        );
        _mm256_sub_epi64(acc, _mm256_and_si256(self.sample(), keep))
    }
}

/// The sum of the four per-lane counts in `acc`.
#[target_feature(enable = "avx2")]
#[inline]
fn horizontal_sum(acc: __m256i) -> u64 {
    let total = _mm256_extract_epi64::<0>(acc)
        + _mm256_extract_epi64::<1>(acc)
        + _mm256_extract_epi64::<2>(acc)
        + _mm256_extract_epi64::<3>(acc);
    #[allow(clippy::cast_sign_loss)] // a count, 0..=len
    let total = total as u64;
    total
}
