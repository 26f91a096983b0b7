//! Reductions over 1-D slices: `sum`, `mean`, `var`, `std`, `min`, `max`, `argmin`, `argmax`.
//!
//! # Determinism
//!
//! Every reduction cuts its input into fixed chunks of [`CHUNK_LEN`] elements (boundaries depend
//! on the length only), reduces each chunk on whichever worker takes it, and combines the chunk
//! partials in chunk order. The same input therefore gives the bit-identical result for any
//! `threads=` and any pool size.
//!
//! # Accuracy
//!
//! * Float sums are pairwise in `f64` (float32 input is widened), with 16 independent lanes in the
//!   leaves as NumPy does: the error grows like `O(log n)`·ε, within NumPy's own bound (and better
//!   than it for float32, which NumPy accumulates in float32). Chunk partials are combined
//!   pairwise too.
//! * Integer sums are exact: int64 elements are split into 32-bit halves summed in 64-bit lanes
//!   (exact for a chunk), chunk partials add up in `i128`. A total outside int64 is
//!   [`Error::Overflow`] rather than NumPy's silent wrap-around.
//! * `var`/`std` make one pass over memory: each cache-sized block gets an exact-as-possible
//!   two-pass mean and sum of squared deviations while it sits in L1, and the blocks are merged
//!   with Chan et al.'s parallel update, `M2 = M2a + M2b + δ²·na·nb/n`. That stays accurate where
//!   the textbook `E[x²] − E[x]²` collapses (mean 1e9, spread 1).
//! * `min`/`max`/`argmin`/`argmax` follow NumPy: a NaN anywhere makes `min`/`max` NaN and
//!   `argmin`/`argmax` the index of the first NaN; ties give the first index.

use crate::engine::Ctx;
use crate::{simd, Error, Result};

pub mod axis;

/// Elements per chunk: the unit of parallel work and of determinism. 64 Ki elements is 512 KiB of
/// float64 — it fits in L2, keeps scheduling overhead well under 1% at memory speed, and gives
/// a 50 M-element array ~760 chunks to balance.
pub const CHUNK_LEN: usize = 1 << 16;

/// The least chunks per thread: 1, the engine decides when a worker pays (it asks for one once
/// the calling thread estimates 5 µs of work left). Until issue 13 this was 12, tuned to one VM's
/// wake-up cost.
pub const MIN_CHUNKS_PER_WORKER: usize = 1;

/// Leaf size of the pairwise sum: 16 lanes of 16 elements, the same depth per lane as NumPy's
/// `PW_BLOCKSIZE` of 128 over 8 accumulators.
const PAIRWISE_LEAF: usize = 256;

/// Elements per step of an integer sum's two streams: 4 KiB of int64.
const INT_BLOCK: usize = 512;

/// Calls `f` on the blocks of `block` elements of both halves of `a` (the first half holds
/// `ceil(blocks / 2)` whole blocks), alternating between the halves: first half's block 0, second
/// half's block 0, first half's block 1, ... One core keeps two sequential streams of loads in
/// flight that way, which the hardware prefetchers serve faster than one (see
/// [`pairwise_two_streams`]). Every block is visited once; the order is not the index order.
#[inline(always)]
fn for_two_streams<T, F: FnMut(&[T])>(a: &[T], block: usize, mut f: F) {
    let mid = (a.len().div_ceil(block).div_ceil(2) * block).min(a.len());
    let (first, second) = a.split_at(mid);
    let mut second = second.chunks(block);
    for b in first.chunks(block) {
        f(b);
        if let Some(c) = second.next() {
            f(c);
        }
    }
}

/// Elements per `var` block: 2048 float64 = 16 KiB, resident in L1 for the second pass.
const MOMENT_BLOCK: usize = 2048;

/// Independent accumulator lanes in the inner loops (lets LLVM use SIMD without reassociating).
const LANES: usize = 16;

/// An element type the reductions accept: float32, float64, int32, int64.
pub trait Element: Copy + Send + Sync + PartialOrd + 'static {
    /// Widening conversion used by float sums, means and variances.
    fn to_f64(self) -> f64;
    /// True for a floating-point NaN; always false for integers.
    fn is_nan(self) -> bool;

    /// The best (largest if `MAX`, else smallest) element of a non-empty block and whether the
    /// block holds a NaN, by the portable search (`block_extreme`). int64 overrides this with
    /// AVX-512 code on CPUs that have it (the same answer: integers have one maximum whatever the
    /// order).
    #[inline(always)]
    fn block_best<const MAX: bool>(b: &[Self]) -> (Self, bool) {
        block_extreme::<Self, MAX>(b)
    }

    /// The two passes of [`var`] over each of `blocks` (non-empty, visited in this order), into
    /// `out[k]` for `blocks[k]`: the mean of `x - shift`, then the sum of squared deviations
    /// from it. float64 overrides this with explicit AVX2 + FMA code; every implementation gives
    /// the same bits as [`shifted_moments`].
    #[inline(always)]
    fn blocks_moments(blocks: &[&[Self]], shift: f64, out: &mut [(f64, f64)]) {
        portable_blocks_moments(blocks, shift, out);
    }
}

impl Element for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
}

impl Element for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    fn blocks_moments(blocks: &[&[f64]], shift: f64, out: &mut [(f64, f64)]) {
        // LLVM keeps the passes' sums in 128-bit registers even when AVX2 is enabled, leaves
        // every subtraction on the two FP add pipes and runs the passes one after the other,
        // which makes the variance compute-bound; see `x86` for what the explicit code does.
        #[cfg(target_arch = "x86_64")]
        {
            if simd::avx2_fma_enabled() {
                // SAFETY: AVX2 and FMA are available (checked just above), which is all the `x86`
                // functions require.
                unsafe { x86::blocks_moments(blocks, shift, out) };
                return;
            }
        }
        portable_blocks_moments(blocks, shift, out);
    }
}

/// [`Element::blocks_moments`] in portable code: [`shifted_moments`] of each block.
#[inline(always)]
fn portable_blocks_moments<T: Element>(blocks: &[&[T]], shift: f64, out: &mut [(f64, f64)]) {
    for (b, o) in blocks.iter().zip(out) {
        *o = shifted_moments(b, shift);
    }
}

impl Element for i32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        false
    }
}

impl Element for i64 {
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)] // as NumPy: int64 -> float64 for mean/var
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        false
    }
    #[inline(always)]
    fn block_best<const MAX: bool>(b: &[i64]) -> (i64, bool) {
        // AVX2 has no 64-bit integer max: LLVM compares and blends, which reads L2 at ~55 GB/s
        // on one Zen 5 core against ~95 for NumPy's AVX-512 loop (`vpmaxsq`).
        #[cfg(target_arch = "x86_64")]
        {
            if simd::avx512_enabled() {
                // SAFETY: AVX-512F is available (checked just above), which is all it requires.
                return (unsafe { avx512::block_best_i64::<MAX>(b) }, false);
            }
        }
        block_extreme::<i64, MAX>(b)
    }
}

/// int64 kernels with AVX-512F: the exact sum (`vpsraq`) and the extreme search
/// (`vpmaxsq`/`vpminsq`), instructions AVX2 lacks.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi64, _mm512_loadu_si512, _mm512_max_epi64, _mm512_min_epi64,
        _mm512_reduce_add_epi64, _mm512_reduce_max_epi64, _mm512_reduce_min_epi64, _mm512_set1_epi64,
        _mm512_setzero_si512, _mm512_srai_epi64,
    };

    /// The exact sum of at most `CHUNK_LEN` int64 elements: `hi = x >> 32` (arithmetic) summed
    /// exactly (|Σhi| < 2^47), `x` summed wrapping; `Σlo = Σx − Σhi·2^32 (mod 2^64)` is exact
    /// because `0 <= Σlo < 2^48`. Three instructions an element (AVX2 needs a fourth, having no
    /// 64-bit arithmetic shift).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sum_i64(a: &[i64]) -> i128 {
        debug_assert!(a.len() <= super::CHUNK_LEN);
        let mut wrap = [_mm512_setzero_si512(); 4];
        let mut hi = [_mm512_setzero_si512(); 4];
        let mut it = a.chunks_exact(32);
        for c in &mut it {
            for g in 0..4 {
                // SAFETY: `c` has 32 elements, so `8 * g .. 8 * g + 8` is in bounds; unaligned
                // loads are allowed.
                let x = unsafe { _mm512_loadu_si512(c.as_ptr().add(8 * g).cast()) };
                wrap[g] = _mm512_add_epi64(wrap[g], x);
                hi[g] = _mm512_add_epi64(hi[g], _mm512_srai_epi64::<32>(x));
            }
        }
        let sum4 = |r: [__m512i; 4]| {
            _mm512_reduce_add_epi64(_mm512_add_epi64(
                _mm512_add_epi64(r[0], r[1]),
                _mm512_add_epi64(r[2], r[3]),
            ))
        };
        let (w, h) = (sum4(wrap), sum4(hi));
        #[allow(clippy::cast_sign_loss)]
        let lo = (w as u64).wrapping_sub((h as u64) << 32);
        let mut total = (i128::from(h) << 32) + i128::from(lo);
        for &x in it.remainder() {
            total += i128::from(x);
        }
        total
    }

    /// The largest (`MAX`) or smallest element of a non-empty block, in four registers of 8
    /// lanes.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block_best_i64<const MAX: bool>(b: &[i64]) -> i64 {
        let Some(&first) = b.first() else {
            return if MAX { i64::MIN } else { i64::MAX };
        };
        let pick = |x: __m512i, y: __m512i| {
            if MAX {
                _mm512_max_epi64(x, y)
            } else {
                _mm512_min_epi64(x, y)
            }
        };
        let mut acc = [_mm512_set1_epi64(first); 4];
        let mut it = b.chunks_exact(32);
        for c in &mut it {
            for (g, r) in acc.iter_mut().enumerate() {
                // SAFETY: `c` has 32 elements, so `8 * g .. 8 * g + 8` is in bounds; unaligned
                // loads are allowed.
                let x = unsafe { _mm512_loadu_si512(c.as_ptr().add(8 * g).cast()) };
                *r = pick(*r, x);
            }
        }
        let v = pick(pick(acc[0], acc[1]), pick(acc[2], acc[3]));
        let mut best = if MAX {
            _mm512_reduce_max_epi64(v)
        } else {
            _mm512_reduce_min_epi64(v)
        };
        for &x in it.remainder() {
            best = if MAX { best.max(x) } else { best.min(x) };
        }
        best
    }
}

macro_rules! int_element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            #[inline(always)]
            #[allow(clippy::cast_precision_loss)] // as NumPy: integers -> float64 for mean/var
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
        }
    )*};
}
int_element!(i8, i16, u8, u16, u32, u64);

impl Element for bool {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        false
    }
}

/// Integer element types, with an exact sum of one chunk.
pub trait Int: Element {
    /// The exact sum of at most [`CHUNK_LEN`] elements.
    fn chunk_sum(a: &[Self]) -> i128;
    /// [`chunk_sum`](Int::chunk_sum) reading `a` as two interleaved streams (see
    /// [`pairwise_two_streams`]): by default its blocks of [`INT_BLOCK`] elements, the two
    /// halves' in turn.
    #[inline(always)]
    fn chunk_sum_two_streams(a: &[Self]) -> i128 {
        let mut total = 0;
        for_two_streams(a, INT_BLOCK, |b| total += Self::chunk_sum(b));
        total
    }
    /// `(hi, lo)` with `self = hi * 2^32 + lo` and `0 <= lo < 2^32`: both halves add up in 64-bit
    /// lanes without overflow over fewer than 2^31 elements.
    fn hi_lo(self) -> (i64, u64);
}

/// Integers of at most 32 bits: summed in i64 lanes (exact over a chunk).
macro_rules! small_int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            #[inline(always)]
            fn chunk_sum(a: &[$t]) -> i128 {
                debug_assert!(a.len() <= CHUNK_LEN);
                let mut acc = [0i64; LANES];
                let mut it = a.chunks_exact(LANES);
                for c in &mut it {
                    for k in 0..LANES {
                        acc[k] += i64::from(c[k]);
                    }
                }
                let tail: i64 = it.remainder().iter().map(|&x| i64::from(x)).sum();
                i128::from(acc.iter().sum::<i64>() + tail)
            }
            #[inline(always)]
            #[allow(clippy::cast_sign_loss)]
            fn hi_lo(self) -> (i64, u64) {
                let x = i64::from(self);
                (x >> 32, x as u64 & 0xFFFF_FFFF)
            }
        }
    )*};
}
small_int!(i8, i16, u8, u16, u32, bool);

impl Int for u64 {
    #[inline(always)]
    fn chunk_sum(a: &[u64]) -> i128 {
        debug_assert!(a.len() <= CHUNK_LEN);
        let mut lo = [0u64; LANES];
        let mut hi = [0u64; LANES];
        let mut it = a.chunks_exact(LANES);
        for c in &mut it {
            for k in 0..LANES {
                lo[k] += c[k] & 0xFFFF_FFFF;
                hi[k] += c[k] >> 32;
            }
        }
        let mut total = (i128::from(hi.iter().sum::<u64>()) << 32) + i128::from(lo.iter().sum::<u64>());
        for &x in it.remainder() {
            total += i128::from(x);
        }
        total
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_wrap)] // x >> 32 < 2^32
    fn hi_lo(self) -> (i64, u64) {
        ((self >> 32) as i64, self & 0xFFFF_FFFF)
    }
}

impl Int for i32 {
    #[inline(always)]
    #[allow(clippy::cast_sign_loss)]
    fn hi_lo(self) -> (i64, u64) {
        let x = i64::from(self);
        (x >> 32, x as u64 & 0xFFFF_FFFF)
    }
    #[inline(always)]
    fn chunk_sum(a: &[i32]) -> i128 {
        // |sum| <= 2^16 * 2^31 = 2^47 per chunk: an i64 lane cannot overflow.
        debug_assert!(a.len() <= CHUNK_LEN);
        let mut acc = [0i64; LANES];
        let mut it = a.chunks_exact(LANES);
        for c in &mut it {
            for k in 0..LANES {
                acc[k] += i64::from(c[k]);
            }
        }
        let tail: i64 = it.remainder().iter().map(|&x| i64::from(x)).sum();
        i128::from(acc.iter().sum::<i64>() + tail)
    }
}

impl Int for i64 {
    #[inline(always)]
    #[allow(clippy::cast_sign_loss)]
    fn hi_lo(self) -> (i64, u64) {
        (self >> 32, self as u64 & 0xFFFF_FFFF)
    }
    #[inline(always)]
    fn chunk_sum_two_streams(a: &[i64]) -> i128 {
        #[cfg(target_arch = "x86_64")]
        {
            if simd::avx512_enabled() {
                // SAFETY: AVX-512F is available (checked just above), which is all it requires.
                return unsafe { avx512::sum_i64(a) };
            }
        }
        Self::chunk_sum(a)
    }
    #[inline(always)]
    fn chunk_sum(a: &[i64]) -> i128 {
        // u = x + 2^63 (the sign bit flipped) is in [0, 2^64) and u = hi * 2^32 + lo with both
        // halves in [0, 2^32). Over n <= 2^16 elements H = Σhi < 2^48 is exact in u64, and so is
        // Σu = H * 2^32 + L with L = Σlo < 2^48; Σu mod 2^64 (a wrapping sum) then gives L
        // exactly, and Σx = Σu − n·2^63. Per element: an xor, a logical shift and two adds,
        // all in AVX2 (which has no 64-bit arithmetic shift).
        //
        // The two halves of `a` are read at once, LANES elements of each per step (two streams,
        // see [`pairwise_two_streams`]); the order does not matter to an exact sum.
        debug_assert!(a.len() <= CHUNK_LEN);
        let mut wrap = [0u64; LANES];
        let mut hi = [0u64; LANES];
        let half = a.len() / (2 * LANES) * LANES;
        let (first, rest) = a.split_at(half);
        let (second, rest) = rest.split_at(half);
        for (c, d) in first.chunks_exact(LANES).zip(second.chunks_exact(LANES)) {
            for k in 0..LANES {
                let u = c[k] as u64 ^ (1 << 63);
                let v = d[k] as u64 ^ (1 << 63);
                wrap[k] = wrap[k].wrapping_add(u).wrapping_add(v);
                hi[k] += (u >> 32) + (v >> 32);
            }
        }
        let mut it = rest.chunks_exact(LANES);
        for c in &mut it {
            for k in 0..LANES {
                let u = c[k] as u64 ^ (1 << 63);
                wrap[k] = wrap[k].wrapping_add(u);
                hi[k] += u >> 32;
            }
        }
        let h = hi.iter().sum::<u64>();
        let low = wrap
            .iter()
            .fold(0u64, |s, &w| s.wrapping_add(w))
            .wrapping_sub(h << 32);
        let count = (a.len() - it.remainder().len()) as i128;
        let mut total = (i128::from(h) << 32) + i128::from(low) - (count << 63);
        for &x in it.remainder() {
            total += i128::from(x);
        }
        total
    }
}

// ---------------------------------------------------------------------------------------------
// Float sums

/// The sum of the lane accumulators, as a fixed balanced tree.
#[inline(always)]
fn combine_lanes(mut acc: [f64; LANES]) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] += acc[k + width];
        }
    }
    acc[0]
}

/// One leaf of the pairwise sum: at most [`PAIRWISE_LEAF`] elements over [`LANES`] accumulators.
#[inline(always)]
fn leaf_sum<T: Copy, M: Fn(T) -> f64 + Copy>(a: &[T], map: M) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut it = a.chunks_exact(LANES);
    for c in &mut it {
        for k in 0..LANES {
            acc[k] += map(c[k]);
        }
    }
    let mut s = combine_lanes(acc);
    for &x in it.remainder() {
        s += map(x);
    }
    s
}

/// Pairwise sum of `map(x)` over `a`, in f64: leaves of [`PAIRWISE_LEAF`] elements combined as a
/// balanced binary tree.
#[inline(always)]
fn pairwise<T: Copy, M: Fn(T) -> f64 + Copy>(a: &[T], map: M) -> f64 {
    pairwise_by(a, |leaf| leaf_sum(leaf, map))
}

/// The pairwise tree over leaves of [`PAIRWISE_LEAF`] elements, whatever sums a leaf.
///
/// Written as a loop over leaves with a stack of partial sums (a binary counter: two partials of
/// the same level merge), not as a recursion, so that it inlines whole into
/// [`simd::dispatch`](crate::simd::dispatch).
#[inline(always)]
fn pairwise_by<T, L: Fn(&[T]) -> f64>(a: &[T], leaf: L) -> f64 {
    let mut tree = PairwiseStack::new();
    for chunk in a.chunks(PAIRWISE_LEAF) {
        tree.push(leaf(chunk));
    }
    tree.finish()
}

/// [`pairwise_by`] reading `a` as two interleaved streams, for the same bits.
///
/// The tree over `n >= 2` leaves is `tree(first m leaves) + tree(the rest)` with
/// `m = n.next_power_of_two() / 2` (the binary counter of [`PairwiseStack`] completes the left
/// subtree of `m` leaves before the right one can reach its level). Both subtrees are built
/// here at once, a leaf of each in turn: one core keeps two sequential streams of loads in
/// flight, which the hardware prefetchers serve at up to ~1.3x the bandwidth of one stream
/// (`benchmarks/bench_reduce.py`'s read ceiling shows it).
#[inline(always)]
fn pairwise_two_streams<T, L: Fn(&[T]) -> f64>(a: &[T], leaf: L) -> f64 {
    let leaves = a.len().div_ceil(PAIRWISE_LEAF);
    if leaves < 2 {
        return pairwise_by(a, leaf);
    }
    let (left, right) = a.split_at(leaves.next_power_of_two() / 2 * PAIRWISE_LEAF);
    let (mut tl, mut tr) = (PairwiseStack::new(), PairwiseStack::new());
    // The right part has at most as many leaves as the left one.
    let mut right_leaves = right.chunks(PAIRWISE_LEAF);
    for l in left.chunks(PAIRWISE_LEAF) {
        tl.push(leaf(l));
        if let Some(r) = right_leaves.next() {
            tr.push(leaf(r));
        }
    }
    tl.finish() + tr.finish()
}

/// The partial sums of a pairwise tree under construction, as a binary counter: `(level, sum)`
/// pairs, two of the same level merge into one of the next.
struct PairwiseStack {
    /// At most log2(len / leaf) + 1 entries, so 64 is never reached.
    stack: [(u32, f64); 64],
    depth: usize,
}

impl PairwiseStack {
    #[inline(always)]
    fn new() -> Self {
        PairwiseStack {
            stack: [(0, 0.0); 64],
            depth: 0,
        }
    }

    /// Adds the next leaf's sum.
    #[inline(always)]
    fn push(&mut self, mut s: f64) {
        let mut level = 0;
        while self.depth > 0 && self.stack[self.depth - 1].0 == level {
            self.depth -= 1;
            s += self.stack[self.depth].1;
            level += 1;
        }
        self.stack[self.depth] = (level, s);
        self.depth += 1;
    }

    /// The sum of the tree: what remains folded from the smallest (most recent) partial up, as a
    /// tree would. 0 for no leaves.
    #[inline(always)]
    fn finish(&self) -> f64 {
        let mut total = 0.0;
        let mut first = true;
        for &(_, p) in self.stack[..self.depth].iter().rev() {
            total = if first { p } else { p + total };
            first = false;
        }
        total
    }
}

/// Pairwise combination of chunk partials, in chunk order.
fn combine_pairwise(parts: &[f64]) -> f64 {
    match parts.len() {
        0 => 0.0,
        1 => parts[0],
        n => combine_pairwise(&parts[..n / 2]) + combine_pairwise(&parts[n / 2..]),
    }
}

/// The sum of a float slice, in f64 (see the module docs for accuracy). Empty input sums to 0.
pub fn sum_float<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<f64> {
    let parts = ctx.map_chunks(a.len(), CHUNK_LEN, MIN_CHUNKS_PER_WORKER, |r| {
        simd::dispatch(FloatSum(&a[r]))
    })?;
    Ok(combine_pairwise(&parts))
}

/// The exact sum of an integer slice, widened to `i128` (cannot overflow for any slice that fits
/// in memory).
pub fn sum_int_wide<T: Int>(ctx: &Ctx<'_>, a: &[T]) -> Result<i128> {
    let parts = ctx.map_chunks(a.len(), CHUNK_LEN, MIN_CHUNKS_PER_WORKER, |r| {
        simd::dispatch(IntSum(&a[r]))
    })?;
    Ok(parts.iter().sum())
}

/// The exact sum of an integer slice as int64.
///
/// # Errors
///
/// [`Error::Overflow`] when the exact sum is outside int64 (NumPy would wrap around silently).
pub fn sum_int<T: Int>(ctx: &Ctx<'_>, a: &[T]) -> Result<i64> {
    let total = sum_int_wide(ctx, a)?;
    i64::try_from(total).map_err(|_| Error::Overflow(format!("the sum {total} does not fit in int64")))
}

/// The arithmetic mean in f64; NaN for empty input (as NumPy, without its warning).
pub fn mean_float<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<f64> {
    let s = sum_float(ctx, a)?;
    Ok(divide_by_len(s, a.len()))
}

/// The mean of integers: the exact sum, rounded once to f64, divided by the length. NaN for
/// empty input. Never overflows (the sum is exact in `i128`).
pub fn mean_int<T: Int>(ctx: &Ctx<'_>, a: &[T]) -> Result<f64> {
    #[allow(clippy::cast_precision_loss)] // one rounding, at the end
    let s = sum_int_wide(ctx, a)? as f64;
    Ok(divide_by_len(s, a.len()))
}

#[allow(clippy::cast_precision_loss)]
fn divide_by_len(s: f64, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Variance

/// Count, mean and sum of squared deviations of a run of elements.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    const EMPTY: Moments = Moments {
        n: 0,
        mean: 0.0,
        m2: 0.0,
    };

    /// Two passes over a block that sits in L1: the mean of `x - shift`, then the squared
    /// deviations from it. (The variance does not change under a shift; see [`var`] for why
    /// there is one.)
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn of_block<T: Element>(a: &[T], shift: f64) -> Moments {
        if a.is_empty() {
            return Moments::EMPTY;
        }
        let (mean, m2) = shifted_moments(a, shift);
        Moments {
            n: a.len() as u64,
            mean,
            m2,
        }
    }

    /// Chan, Golub & LeVeque's pairwise update: the moments of the union of two runs.
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn merge(self, other: Moments) -> Moments {
        if self.n == 0 {
            return other;
        }
        if other.n == 0 {
            return self;
        }
        let n = self.n + other.n;
        let (na, nb, nn) = (self.n as f64, other.n as f64, n as f64);
        let delta = other.mean - self.mean;
        Moments {
            n,
            mean: self.mean + delta * (nb / nn),
            m2: self.m2 + other.m2 + delta * delta * (na * nb / nn),
        }
    }
}

/// The variance with `ddof` delta degrees of freedom: `M2 / max(n - ddof, 0)`, NumPy's rule
/// (without its warning): when `n - ddof <= 0` it is inf, or nan if every value is equal (or
/// there are none, or a NaN). NumPy itself can say inf for equal values, when its rounded mean
/// differs from them (`[0.1] * 3`); here "equal" is exact. `ddof` may be negative, as in NumPy.
pub fn var<T: Element>(ctx: &Ctx<'_>, a: &[T], ddof: i64) -> Result<f64> {
    let (m, _shift) = merged_moments(ctx, a)?;
    #[allow(clippy::cast_precision_loss)]
    let dof = m.n as f64 - ddof as f64;
    if dof > 0.0 {
        return Ok(m.m2 / dof);
    }
    // NumPy divides by max(n - ddof, 0) = 0: M2 > 0 gives inf, M2 = 0 (all values equal, or
    // none) gives nan. The exact M2 is 0 only when every value is equal, which is checked
    // exactly here: a rounded M2 (NumPy's, or ours) can be a tiny positive number then.
    let first = a.first().copied();
    let equal = ctx.map_chunks(a.len(), CHUNK_LEN, MIN_CHUNKS_PER_WORKER, |r| {
        a[r].iter().all(|x| Some(*x) == first)
    })?;
    Ok(if m.m2.is_nan() || equal.into_iter().all(|e| e) {
        f64::NAN
    } else {
        f64::INFINITY
    })
}

/// `(n, mean, m2)`: the count, the mean and the sum of squared deviations from the mean — the
/// mergeable partial behind [`var`] (`var = m2 / (n - ddof)`). Two partials of disjoint runs merge
/// with Chan et al.'s update: `n = na + nb`, `δ = mean_b - mean_a`,
/// `mean = mean_a + δ·nb/n`, `m2 = m2a + m2b + δ²·na·nb/n`. An empty input gives `(0, 0.0, 0.0)`,
/// the identity of that merge. The same bits at every thread count.
pub fn moments<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<(u64, f64, f64)> {
    let (m, shift) = merged_moments(ctx, a)?;
    if m.n == 0 {
        return Ok((0, 0.0, 0.0));
    }
    Ok((m.n, shift + m.mean, m.m2))
}

/// The moments of `a`, merged over its fixed chunks in order, and the shift their mean is
/// relative to (`mean(a) = shift + m.mean`).
fn merged_moments<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<(Moments, f64)> {
    // Every element is shifted by a pilot mean (of the first block: it depends on the input
    // only, so results stay deterministic). Without it, block means near a large mean (1e9) are
    // rounded to float64's step there (1.2e-7), and Chan's merge multiplies that rounding by
    // δ·na·nb/n: relative errors of 1e-8 at mean 1e9, spread 1. With it, the means merged are
    // O(spread) and the error is back at a few ulps.
    let shift = pilot_shift(a);
    let parts = ctx.map_chunks(a.len(), CHUNK_LEN, MIN_CHUNKS_PER_WORKER, |r| {
        simd::dispatch(ChunkMoments { a: &a[r], shift })
    })?;
    Ok((parts.into_iter().fold(Moments::EMPTY, Moments::merge), shift))
}

/// [`merged_moments`] on the calling thread (the same chunks, the same merge: the same bits).
fn merged_moments_serial<T: Element>(a: &[T]) -> (Moments, f64) {
    let shift = pilot_shift(a);
    let m = a
        .chunks(CHUNK_LEN)
        .map(|c| simd::dispatch(ChunkMoments { a: c, shift }))
        .fold(Moments::EMPTY, Moments::merge);
    (m, shift)
}

/// The shift of [`merged_moments`]: the mean of the first block if finite, else 0. (A non-finite
/// pilot, from an inf or NaN in the first block, would poison every element; the result is NaN
/// then anyway, and an unshifted pass gives NumPy's exact NaN/inf behaviour.)
fn pilot_shift<T: Element>(a: &[T]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let shift = match a.get(..a.len().min(MOMENT_BLOCK)) {
        Some(pilot) if !pilot.is_empty() => pairwise(pilot, T::to_f64) / pilot.len() as f64,
        _ => 0.0,
    };
    if shift.is_finite() {
        shift
    } else {
        0.0
    }
}

/// The standard deviation: the square root of [`var`].
pub fn std<T: Element>(ctx: &Ctx<'_>, a: &[T], ddof: i64) -> Result<f64> {
    var(ctx, a, ddof).map(f64::sqrt)
}

/// The portable two passes of [`Element::shifted_moments`].
#[inline(always)]
#[allow(clippy::cast_precision_loss)]
fn shifted_moments<T: Element>(a: &[T], shift: f64) -> (f64, f64) {
    let mean = pairwise(a, |x| x.to_f64() - shift) / a.len() as f64;
    let m2 = pairwise(a, |x| {
        let d = (x.to_f64() - shift) - mean;
        d * d
    });
    (mean, m2)
}

/// Explicit AVX2 + FMA passes for the float64 variance, bit-identical to the portable code.
///
/// Each leaf is [`leaf_sum`] with [`LANES`] = 16 lanes held as four 256-bit registers (lane `k`
/// is element `k % 4` of register `k / 4`), combined in exactly [`combine_lanes`]' order, and the
/// leaves go through the same [`PairwiseStack`]. Two things make them fast without changing a
/// bit:
///
/// * [`fused`] runs the second pass over one block and the first pass over the next one in the
///   same loop, leaf by leaf. Done one after the other, the second pass reads only L1 and
///   memory sits idle meanwhile (the hardware prefetchers follow demand misses, and there are
///   none): one thread's variance read memory at 20 GB/s where its sum reads 35, the two
///   phases' times added up. Fused, loads from memory go on all the time.
/// * `x − shift` is computed as `fma(x, 1, −shift)`, which rounds the same exact difference once,
///   as the subtraction does, but on the multiply pipes: AMD since Zen and Intel since Skylake
///   have two pipes that add and two that multiply, and the passes' operations split evenly
///   instead of five to one. (LLVM folds `fma(x, 1, c)` back into an add; [`opaque_ones`] stops
///   it.)
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_castpd256_pd128, _mm256_extractf128_pd, _mm256_fmadd_pd,
        _mm256_loadu_pd, _mm256_mul_pd, _mm256_set1_pd, _mm256_setzero_pd, _mm256_sub_pd, _mm_add_pd,
        _mm_cvtsd_f64, _mm_prefetch, _mm_unpackhi_pd, _MM_HINT_T0,
    };

    use super::{PairwiseStack, LANES, PAIRWISE_LEAF};

    /// How far ahead of its loads [`fused`] prefetches the block it reads from memory, in
    /// elements: 8 KiB, half a block (256 to 2048 measured; 1024 read 23-28 GB/s from memory on
    /// one Zen 5 thread, 256 and 512 15-24, no prefetch 18-21).
    const PREFETCH_AHEAD: usize = 1024;

    const _: () = assert!(LANES == 16, "the registers below hold 16 lanes");

    /// Four lanes of 1.0 that LLVM cannot see are 1.0: it would fold `fma(x, 1, c)` back into
    /// `x + c` (the same result, on the add pipes again).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn opaque_ones() -> __m256d {
        let mut one = _mm256_set1_pd(1.0);
        // SAFETY: the assembly is empty: it reads and writes nothing but the register it is
        // handed, which keeps its value.
        unsafe {
            std::arch::asm!("/* {0} */", inout(ymm_reg) one, options(pure, nomem, nostack, preserves_flags));
        }
        one
    }

    /// `combine_lanes` over four registers: width 8 (`r0 + r2`, `r1 + r3`), width 4 (their sum),
    /// width 2 (low half + high half), width 1 (element 0 + element 1).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn combine(r: [__m256d; 4]) -> f64 {
        let v = _mm256_add_pd(_mm256_add_pd(r[0], r[2]), _mm256_add_pd(r[1], r[3]));
        let w = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(w) + _mm_cvtsd_f64(_mm_unpackhi_pd(w, w))
    }

    /// The four registers of the 16 elements at `c[0..16]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load16(c: &[f64]) -> [__m256d; 4] {
        let c = &c[..16];
        // SAFETY: `c` has 16 elements, so every load reads 4 of them; unaligned loads are
        // allowed.
        unsafe {
            [
                _mm256_loadu_pd(c.as_ptr()),
                _mm256_loadu_pd(c.as_ptr().add(4)),
                _mm256_loadu_pd(c.as_ptr().add(8)),
                _mm256_loadu_pd(c.as_ptr().add(12)),
            ]
        }
    }

    /// The two passes' terms, four elements at a time and one at a time.
    #[derive(Clone, Copy)]
    struct Terms {
        one: __m256d,
        minus_shift: __m256d,
        mean: __m256d,
        shift: f64,
        mean_s: f64,
    }

    impl Terms {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn new(shift: f64, mean: f64) -> Terms {
            Terms {
                one: opaque_ones(),
                minus_shift: _mm256_set1_pd(-shift),
                mean: _mm256_set1_pd(mean),
                shift,
                mean_s: mean,
            }
        }

        /// `x − shift`, as `fma(x, 1, −shift)`: the exact difference rounded once, the same
        /// bits as the subtraction.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn shifted(self, x: __m256d) -> __m256d {
            _mm256_fmadd_pd(x, self.one, self.minus_shift)
        }

        /// `((x − shift) − mean)²`.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn sq_dev(self, x: __m256d) -> __m256d {
            let d = _mm256_sub_pd(self.shifted(x), self.mean);
            _mm256_mul_pd(d, d)
        }

        #[inline]
        fn shifted_1(self, x: f64) -> f64 {
            x - self.shift
        }

        #[inline]
        fn sq_dev_1(self, x: f64) -> f64 {
            let d = (x - self.shift) - self.mean_s;
            d * d
        }
    }

    /// The pairwise sum of `term` over `a`: [`super::pairwise_by`] over [`super::leaf_sum`]'s
    /// lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pairwise<const SQ: bool>(a: &[f64], t: Terms) -> f64 {
        let mut tree = PairwiseStack::new();
        for l in a.chunks(PAIRWISE_LEAF) {
            let mut acc = [_mm256_setzero_pd(); 4];
            let mut it = l.chunks_exact(16);
            for c in &mut it {
                let x = load16(c);
                for g in 0..4 {
                    let term = if SQ { t.sq_dev(x[g]) } else { t.shifted(x[g]) };
                    acc[g] = _mm256_add_pd(acc[g], term);
                }
            }
            let mut total = combine(acc);
            for &x in it.remainder() {
                total += if SQ { t.sq_dev_1(x) } else { t.shifted_1(x) };
            }
            tree.push(total);
        }
        tree.finish()
    }

    /// `Σ (x − shift)`: [`super::pairwise`]'s bits.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sum_shifted(a: &[f64], shift: f64) -> f64 {
        pairwise::<false>(a, Terms::new(shift, 0.0))
    }

    /// `Σ ((x − shift) − mean)²`: [`super::pairwise`]'s bits.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sum_sq_dev(a: &[f64], shift: f64, mean: f64) -> f64 {
        pairwise::<true>(a, Terms::new(shift, mean))
    }

    /// `(sum_sq_dev(cur, shift, mean), sum_shifted(next, shift))` in one loop, the same bits:
    /// each leaf of `cur` is squared beside the same leaf of `next`. Both must hold the same
    /// whole number of leaves (`None` otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fused(cur: &[f64], shift: f64, mean: f64, next: &[f64]) -> Option<(f64, f64)> {
        if cur.len() != next.len() || !cur.len().is_multiple_of(PAIRWISE_LEAF) {
            return None;
        }
        let t = Terms::new(shift, mean);
        let (mut sq, mut sh) = (PairwiseStack::new(), PairwiseStack::new());
        for (lc, ln) in cur
            .chunks_exact(PAIRWISE_LEAF)
            .zip(next.chunks_exact(PAIRWISE_LEAF))
        {
            let mut acc_sq = [_mm256_setzero_pd(); 4];
            let mut acc_sh = [_mm256_setzero_pd(); 4];
            for (c, n) in lc.chunks_exact(16).zip(ln.chunks_exact(16)) {
                // A prefetch never faults, whatever the address (past the end of `next` it is the
                // block after it in the same half, or nothing); `wrapping_add` forms the address
                // without claiming it is in bounds.
                let ahead = n.as_ptr().wrapping_add(PREFETCH_AHEAD).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                let (x, y) = (load16(c), load16(n));
                for g in 0..4 {
                    acc_sq[g] = _mm256_add_pd(acc_sq[g], t.sq_dev(x[g]));
                    acc_sh[g] = _mm256_add_pd(acc_sh[g], t.shifted(y[g]));
                }
            }
            sq.push(combine(acc_sq));
            sh.push(combine(acc_sh));
        }
        Some((sq.finish(), sh.finish()))
    }

    /// [`super::Element::blocks_moments`] for float64: the first pass of the first block, then
    /// each block's second pass fused with the next block's first.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::cast_precision_loss)]
    pub(super) unsafe fn blocks_moments(blocks: &[&[f64]], shift: f64, out: &mut [(f64, f64)]) {
        let Some(first) = blocks.first() else {
            return;
        };
        let mut sum = sum_shifted(first, shift);
        for (k, (cur, o)) in blocks.iter().zip(out).enumerate() {
            let mean = sum / cur.len() as f64;
            let next = blocks.get(k + 1);
            let m2;
            (m2, sum) = match next.and_then(|n| fused(cur, shift, mean, n)) {
                Some(both) => both,
                None => (
                    sum_sq_dev(cur, shift, mean),
                    next.map_or(0.0, |n| sum_shifted(n, shift)),
                ),
            };
            *o = (mean, m2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extremes

/// The best element of a run (its first occurrence), or its first NaN.
#[derive(Clone, Copy, Debug)]
struct Extreme<T> {
    value: T,
    index: usize,
    nan: bool,
}

#[inline(always)]
fn better<T: PartialOrd, const MAX: bool>(x: T, best: T) -> bool {
    if MAX {
        x > best
    } else {
        x < best
    }
}

/// Elements per block of the extreme search: 16 KiB of float64, so a rescan (one per chunk, for
/// the index) still hits L1 or L2. Blocks of 2 KiB searched L2 as fast, but from memory one Zen 5
/// thread read 17-19 GB/s with them against 28-31 GB/s with these (the two halves' streams
/// switched every 2 KiB; `cargo run --profile ci -p gilfree-kernels --example reduce_rate`).
const EXTREME_BLOCK: usize = 2048;

/// Lanes of the extreme search (a compare and a blend per element need fewer lanes than a sum).
const EXTREME_LANES: usize = 8;

/// The best value of a non-empty block and whether it holds a NaN: branch-free over [`EXTREME_LANES`]
/// lanes, so it vectorises like a plain sum.
#[inline(always)]
fn block_extreme<T: Element, const MAX: bool>(b: &[T]) -> (T, bool) {
    let mut best = [b[0]; EXTREME_LANES];
    let mut nan = [false; EXTREME_LANES];
    let mut it = b.chunks_exact(EXTREME_LANES);
    for c in &mut it {
        for k in 0..EXTREME_LANES {
            let x = c[k];
            nan[k] |= x.is_nan();
            best[k] = if better::<T, MAX>(x, best[k]) { x } else { best[k] };
        }
    }
    let mut value = best[0];
    let mut any_nan = value.is_nan() | nan.iter().any(|&n| n);
    for &x in best[1..].iter().chain(it.remainder()) {
        any_nan |= x.is_nan();
        value = if better::<T, MAX>(x, value) { x } else { value };
    }
    (value, any_nan)
}

/// The extreme of a non-empty chunk starting at `offset`.
///
/// One vectorised pass finds each block's best value; the running best moves only on a strictly
/// better block, so it ends on the *first* block holding the extreme, and one rescan of that block
/// gives the first index (`INDEX` only). A NaN ends the search at its block, rescanned for the
/// first NaN.
///
/// The pass reads the chunk as two interleaved streams (its two halves, a block of each in turn;
/// see [`pairwise_two_streams`] for why), each with its own running best; the second half's wins
/// only when strictly better, so the block found is the same as in one sequential pass.
#[inline(always)]
fn chunk_extreme<T: Element, const MAX: bool, const INDEX: bool>(a: &[T], offset: usize) -> Extreme<T> {
    // The first half: `half` whole blocks; the second: the rest, its last block maybe short.
    let half = a.len().div_ceil(EXTREME_BLOCK).div_ceil(2);
    let (first, second) = a.split_at((half * EXTREME_BLOCK).min(a.len()));
    // (value, block) of each half's first best block. `a[0]` starts the first: a block's value
    // is its lanes' first best, all lanes starting at its first element, so block 0 never beats
    // it unless strictly better (the bits of a signed zero stay those of a sequential pass).
    let mut best = (a[0], 0);
    let mut best2: Option<(T, usize)> = None;
    // The second half's first block holding a NaN: a NaN of the first half still comes before it.
    let mut nan2 = None;
    let mut blocks2 = second.chunks(EXTREME_BLOCK);
    for (j, b) in first.chunks(EXTREME_BLOCK).enumerate() {
        let (v, nan) = T::block_best::<MAX>(b);
        if nan {
            return first_nan(a, j, offset);
        }
        if better::<T, MAX>(v, best.0) {
            best = (v, j);
        }
        if nan2.is_none() {
            if let Some(b2) = blocks2.next() {
                let (v2, nan) = T::block_best::<MAX>(b2);
                if nan {
                    nan2 = Some(half + j);
                } else if best2.is_none_or(|(w, _)| better::<T, MAX>(v2, w)) {
                    best2 = Some((v2, half + j));
                }
            }
        }
    }
    if let Some(j) = nan2 {
        return first_nan(a, j, offset);
    }
    let (value, block) = match best2 {
        Some((v2, j2)) if better::<T, MAX>(v2, best.0) => (v2, j2),
        _ => best,
    };
    let index = if INDEX {
        let start = block * EXTREME_BLOCK;
        // `value` occurs in that block by construction, so the fallback is unreachable.
        start + a[start..].iter().position(|&x| x == value).unwrap_or(0)
    } else {
        0
    };
    Extreme {
        value,
        index: offset + index,
        nan: false,
    }
}

/// The first NaN of a chunk, which is in its block `j`.
#[inline(always)]
fn first_nan<T: Element>(a: &[T], j: usize, offset: usize) -> Extreme<T> {
    let start = j * EXTREME_BLOCK;
    // Block `j` holds a NaN, so the fallback is unreachable.
    let i = start + a[start..].iter().position(|x| x.is_nan()).unwrap_or(0);
    Extreme {
        value: a[i],
        index: offset + i,
        nan: true,
    }
}

fn extreme<T: Element, const MAX: bool, const INDEX: bool>(ctx: &Ctx<'_>, a: &[T]) -> Result<Extreme<T>> {
    if a.is_empty() {
        return Err(Error::EmptyInput);
    }
    let parts = ctx.map_chunks(a.len(), CHUNK_LEN, MIN_CHUNKS_PER_WORKER, |r| {
        simd::dispatch(ChunkExtreme::<T, MAX, INDEX> {
            a: &a[r.clone()],
            offset: r.start,
        })
    })?;
    let mut acc: Option<Extreme<T>> = None;
    for p in parts {
        if p.nan {
            return Ok(p); // the first NaN wins, as in NumPy
        }
        match acc {
            Some(best) if !better::<T, MAX>(p.value, best.value) => {}
            _ => acc = Some(p),
        }
    }
    acc.ok_or(Error::EmptyInput)
}

/// The smallest element; NaN if any element is NaN.
///
/// # Errors
///
/// [`Error::EmptyInput`] for an empty slice.
pub fn min<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<T> {
    extreme::<T, false, false>(ctx, a).map(|e| e.value)
}

/// The largest element; NaN if any element is NaN.
///
/// # Errors
///
/// [`Error::EmptyInput`] for an empty slice.
pub fn max<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<T> {
    extreme::<T, true, false>(ctx, a).map(|e| e.value)
}

/// The index of the first smallest element, or of the first NaN.
///
/// # Errors
///
/// [`Error::EmptyInput`] for an empty slice.
pub fn argmin<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<usize> {
    extreme::<T, false, true>(ctx, a).map(|e| e.index)
}

/// The index of the first largest element, or of the first NaN.
///
/// # Errors
///
/// [`Error::EmptyInput`] for an empty slice.
pub fn argmax<T: Element>(ctx: &Ctx<'_>, a: &[T]) -> Result<usize> {
    extreme::<T, true, true>(ctx, a).map(|e| e.index)
}

// ---------------------------------------------------------------------------------------------
// The per-chunk work, as `simd::Kernel`s so that it is compiled for AVX2 as well as the baseline.

struct FloatSum<'a, T>(&'a [T]);

impl<T: Element> simd::Kernel for FloatSum<'_, T> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        pairwise_two_streams(self.0, |leaf| leaf_sum(leaf, T::to_f64))
    }
}

struct IntSum<'a, T>(&'a [T]);

impl<T: Int> simd::Kernel for IntSum<'_, T> {
    type Output = i128;
    #[inline(always)]
    fn run(self) -> i128 {
        // Exact, so any order gives the same sum.
        T::chunk_sum_two_streams(self.0)
    }
}

struct ChunkMoments<'a, T> {
    a: &'a [T],
    shift: f64,
}

impl<T: Element> simd::Kernel for ChunkMoments<'_, T> {
    type Output = Moments;
    #[inline(always)]
    fn run(self) -> Moments {
        // The blocks' moments are computed reading the chunk's two halves in turn (two streams,
        // see [`pairwise_two_streams`]: blocks 0, half, 1, half + 1, ...), then merged in block
        // order: the same bits as one pass.
        const MAX_BLOCKS: usize = CHUNK_LEN / MOMENT_BLOCK;
        let blocks = self.a.len().div_ceil(MOMENT_BLOCK);
        if blocks > MAX_BLOCKS {
            // Longer than a chunk (no caller does this): one stream.
            return self
                .a
                .chunks(MOMENT_BLOCK)
                .fold(Moments::EMPTY, |m, b| m.merge(Moments::of_block(b, self.shift)));
        }
        let half = blocks.div_ceil(2);
        let visit = |p: usize| if p.is_multiple_of(2) { p / 2 } else { half + p / 2 };
        let mut order: [&[T]; MAX_BLOCKS] = [&[]; MAX_BLOCKS];
        for (p, slot) in order[..blocks].iter_mut().enumerate() {
            let start = visit(p) * MOMENT_BLOCK;
            *slot = &self.a[start..self.a.len().min(start + MOMENT_BLOCK)];
        }
        let mut visited = [(0.0, 0.0); MAX_BLOCKS];
        T::blocks_moments(&order[..blocks], self.shift, &mut visited[..blocks]);
        let mut parts = [Moments::EMPTY; MAX_BLOCKS];
        for (p, &(mean, m2)) in visited[..blocks].iter().enumerate() {
            parts[visit(p)] = Moments {
                n: order[p].len() as u64,
                mean,
                m2,
            };
        }
        parts[..blocks].iter().fold(Moments::EMPTY, |m, &p| m.merge(p))
    }
}

struct ChunkExtreme<'a, T, const MAX: bool, const INDEX: bool> {
    a: &'a [T],
    offset: usize,
}

impl<T: Element, const MAX: bool, const INDEX: bool> simd::Kernel for ChunkExtreme<'_, T, MAX, INDEX> {
    type Output = Extreme<T>;
    #[inline(always)]
    fn run(self) -> Extreme<T> {
        chunk_extreme::<T, MAX, INDEX>(self.a, self.offset)
    }
}

#[cfg(test)]
mod test;
