//! The Computer Language Benchmarks Game trio: `spectral_norm`, `fannkuch_redux`, `nbody`.
//!
//! Each follows the Benchmarks Game's definition of the program, so the published outputs are
//! the references (`spectral_norm(100)` prints 1.274219991, `fannkuch_redux(7)` gives
//! `(228, 16)`, `nbody(1000)` prints -0.169075164 / -0.169087605).
//!
//! # Determinism
//!
//! * `spectral_norm`: every matrix-vector product is cut into fixed blocks of [`ROWS_PER_TASK`]
//!   output rows; each output element is one sequential sum over the columns, computed by one
//!   task in column order. The SIMD lanes run over *rows* (8 rows at a time), never over the
//!   summation, so every lane's arithmetic is exactly the scalar code's, whatever the ISA.
//! * `fannkuch_redux`: the permutation index space `0..n!` is cut into fixed blocks of
//!   [`PERMS_PER_TASK`]; each block starts from the permutation with its first index (factorial
//!   number system) and the results are integers (checksum sum, flip maximum), so the order in
//!   which blocks finish cannot matter. On AVX2, eight permutations are flipped in lockstep with
//!   byte shuffles; the portable path flips one array at a time; both give the same integers.
//! * `nbody`: one serial simulation on the calling thread; the pairs are vectorised (independent
//!   lanes), the velocity updates run in the reference's pair order.

use std::sync::{Mutex, PoisonError};

use super::SendPtr;
use crate::engine::Ctx;
use crate::{simd, zeroed_vec, Error, Result};

// ---------------------------------------------------------------------------------------------
// spectral-norm

/// The largest `n` accepted by [`spectral_norm`]. The matrix element's denominator
/// `(i+j)(i+j+1)/2 + i + 1` is computed in float64, exactly as long as it stays below 2^53;
/// with `i + j < 2n <= 2^26` it is below 2^52. (Such an `n` would run for centuries anyway.)
pub const SPECTRAL_MAX_N: usize = 1 << 25;

/// Power iterations of the Benchmarks Game program (each is `v = AᵀA u; u = AᵀA v`).
const SPECTRAL_ITERATIONS: usize = 10;

/// Output rows computed side by side: the SIMD lanes (two AVX2 registers, four SSE2 ones).
const ROW_LANES: usize = 8;

/// Output rows per task of a matrix-vector product: the unit of parallel work. 32 rows of
/// `n = 2000` columns are 64 K divisions (~20 µs), so `n = 2000` has 63 tasks per product and
/// two workers finish each product within ~20 µs of each other.
pub const ROWS_PER_TASK: usize = 32;

/// Up to this `n`, the power iterations run as one call of [`Ctx::map_phases`] (at most 128
/// tasks a product, 5,120 in all); above, a product takes a millisecond or more and is one
/// call of its own.
pub const PHASED_MAX_N: usize = 4096;

/// Columns between two cancellation checks inside a task (only matters for huge `n`).
const COLUMN_BLOCK: usize = 1 << 16;

/// The spectral norm of the infinite matrix `A(i, j) = 1 / ((i+j)(i+j+1)/2 + i + 1)` truncated
/// to `n × n`, by the Benchmarks Game's 10 power iterations from `u = 1`:
/// `sqrt(u·v / v·v)` with `v = AᵀA u`.
///
/// `A(i, j)·u_j` is computed as `u_j / d(i, j)` (one division, no reciprocal).
///
/// # Errors
///
/// [`Error::InvalidArgument`] for `n == 0` or `n > SPECTRAL_MAX_N`; [`Error::OutOfMemory`] if the
/// three vectors cannot be allocated; [`Error::Cancelled`].
pub fn spectral_norm(ctx: &Ctx<'_>, n: usize) -> Result<f64> {
    if n == 0 || n > SPECTRAL_MAX_N {
        return Err(Error::InvalidArgument {
            arg: "n",
            message: format!("must be an int in [1, {SPECTRAL_MAX_N}], got {n}"),
        });
    }
    // The three vectors in one allocation: all of it or none. Three separate ones could take the
    // first two and fail on the third, leaving the process with no memory to spare at all (then
    // even glibc aborts, allocating a thread's TLS); one refused request leaves everything.
    let mut all = zeroed_vec::<f64>(n.saturating_mul(3), &format!("three vectors of {n} float64"))?;
    let (u, rest) = all.split_at_mut(n);
    let (v, w) = rest.split_at_mut(n);
    u.fill(1.0);
    // Phases when there is something to share (one task a product is not; nor one thread).
    if n > ROWS_PER_TASK && n <= PHASED_MAX_N && ctx.team_size() > 1 {
        power_iterations_phased(ctx, u, v, w)?;
    } else {
        for _ in 0..SPECTRAL_ITERATIONS {
            at_a_times(ctx, u, w, v)?;
            at_a_times(ctx, v, w, u)?;
        }
    }
    let (mut vbv, mut vv) = (0.0f64, 0.0f64);
    for (&ui, &vi) in u.iter().zip(v.iter()) {
        vbv += ui * vi;
        vv += vi * vi;
    }
    Ok((vbv / vv).sqrt())
}

/// The power iterations of [`spectral_norm`] as one call of [`Ctx::map_phases`]: the 40
/// matrix-vector products `w = A u`, `v = Aᵀ w`, `w = A v`, `u = Aᵀ w` (ten times) are its
/// phases, of one task per [`ROWS_PER_TASK`] output rows. At `n` of a few hundred a product takes
/// microseconds; one fan-out per product (the loop below [`PHASED_MAX_N`]) paid its hand-out 40
/// times, and lost to one thread up to `n = 100` or so. The rows are computed as [`times`] does,
/// so the result is the same, bit for bit.
fn power_iterations_phased(ctx: &Ctx<'_>, u: &mut [f64], v: &mut [f64], w: &mut [f64]) -> Result<()> {
    let n = u.len();
    // Tasks of ROWS_PER_TASK rows, as in `times`. (Tasks of about n/8 rows, 8 at least, ran
    // slower from n = 36 to 120: 0.72x and 1.37x where these give 0.88x and 1.60x.)
    let per_task = ROWS_PER_TASK;
    let tasks = n.div_ceil(per_task);
    let (pu, pv, pw) = (
        SendPtr(u.as_mut_ptr()),
        SendPtr(v.as_mut_ptr()),
        SendPtr(w.as_mut_ptr()),
    );
    let phases = [tasks; 4 * SPECTRAL_ITERATIONS];
    let done = ctx.map_phases(&phases, |p, t| -> Result<()> {
        let (src, dst) = match p % 4 {
            0 => (pu, pw),
            1 => (pw, pv),
            2 => (pv, pw),
            _ => (pw, pu),
        };
        let first = t * per_task;
        let rows = per_task.min(n - first);
        // SAFETY: `src` and `dst` are two of the three distinct vectors of `n` elements. In phase
        // `p` every task reads all of `src` and writes its own rows of `dst`; nobody writes
        // `src` (it was the previous phase's `dst`, and phases do not overlap: `map_phases`
        // starts a phase once every task of the one before has returned), and no task reads
        // `dst` (the next phase does, after this one).
        let x = unsafe { src.slice(0..n) };
        let block = if p % 2 == 0 {
            rows_times::<false>(ctx, x, first, rows)?
        } else {
            rows_times::<true>(ctx, x, first, rows)?
        };
        // SAFETY: as above; rows `first..first + rows` of `dst` are this task's alone.
        unsafe { dst.slice(first..first + rows) }.copy_from_slice(&block[..rows]);
        Ok(())
    })?;
    done.into_iter().collect()
}

/// `out = Aᵀ(A x)`, through `tmp`.
fn at_a_times(ctx: &Ctx<'_>, x: &[f64], tmp: &mut [f64], out: &mut [f64]) -> Result<()> {
    times::<false>(ctx, x, tmp)?;
    times::<true>(ctx, tmp, out)
}

/// `out = A x` (or `Aᵀ x` when `TRANSPOSE`), in fixed blocks of [`ROWS_PER_TASK`] rows.
fn times<const TRANSPOSE: bool>(ctx: &Ctx<'_>, x: &[f64], out: &mut [f64]) -> Result<()> {
    let n = x.len();
    let tasks = n.div_ceil(ROWS_PER_TASK);
    let blocks = ctx.map_tasks(tasks, |t| {
        let first = t * ROWS_PER_TASK;
        rows_times::<TRANSPOSE>(ctx, x, first, ROWS_PER_TASK.min(n - first))
    })?;
    for (t, block) in blocks.into_iter().enumerate() {
        let first = t * ROWS_PER_TASK;
        let rows = ROWS_PER_TASK.min(n - first);
        out[first..first + rows].copy_from_slice(&block?[..rows]);
    }
    Ok(())
}

/// Rows `first..first + rows` (at most [`ROWS_PER_TASK`]) of `A x` (or `Aᵀ x`), in the first
/// `rows` places of the block.
fn rows_times<const TRANSPOSE: bool>(
    ctx: &Ctx<'_>,
    x: &[f64],
    first: usize,
    rows: usize,
) -> Result<[f64; ROWS_PER_TASK]> {
    let n = x.len();
    let mut block = [0.0f64; ROWS_PER_TASK];
    for g in (0..rows).step_by(ROW_LANES) {
        let mut acc = [0.0f64; ROW_LANES];
        let mut col = 0;
        while col < n {
            ctx.check()?;
            let end = n.min(col + COLUMN_BLOCK);
            acc = simd::dispatch(RowsTimesVec::<TRANSPOSE> {
                x: &x[col..end],
                first_col: col,
                first_row: first + g,
                acc,
            });
            col = end;
        }
        let lanes = ROW_LANES.min(rows - g);
        block[g..g + lanes].copy_from_slice(&acc[..lanes]);
    }
    Ok(block)
}

/// `acc[k] += Σ_j x[j] / d(row + k, first_col + j)` for the [`ROW_LANES`] rows from `first_row`
/// (rows past the matrix are computed and ignored: every lane is independent). The sum over `j`
/// is sequential in each lane, so the SSE2 and AVX2 builds give the same bits as scalar code.
struct RowsTimesVec<'a, const TRANSPOSE: bool> {
    x: &'a [f64],
    first_col: usize,
    first_row: usize,
    acc: [f64; ROW_LANES],
}

impl<const TRANSPOSE: bool> simd::Kernel for RowsTimesVec<'_, TRANSPOSE> {
    type Output = [f64; ROW_LANES];

    #[inline(always)]
    #[allow(clippy::cast_precision_loss)] // row and column indices are < 2^26: exact in f64
    fn run(self) -> [f64; ROW_LANES] {
        let mut acc = self.acc;
        let mut row = [0.0f64; ROW_LANES];
        for (k, r) in row.iter_mut().enumerate() {
            *r = (self.first_row + k) as f64;
        }
        let mut col = self.first_col as f64;
        for &xj in self.x {
            for k in 0..ROW_LANES {
                // d(i, j) = (i+j)(i+j+1)/2 + i + 1, or d(j, i) for Aᵀ: exact integers in f64.
                let s = row[k] + col;
                let own = if TRANSPOSE { col } else { row[k] };
                let d = s * (s + 1.0) * 0.5 + (own + 1.0);
                acc[k] += xj / d;
            }
            col += 1.0;
        }
        acc
    }
}

// ---------------------------------------------------------------------------------------------
// fannkuch-redux

/// The smallest `n` accepted by [`fannkuch_redux`].
pub const FANNKUCH_MIN_N: usize = 3;
/// The largest `n` accepted by [`fannkuch_redux`] (12! permutations fit comfortably in a u64;
/// 13 would run for minutes even on many cores).
pub const FANNKUCH_MAX_N: usize = 12;

/// Permutations per task: the unit of parallel work (~0.3 ms on the AVX2 path), so `n = 10` has
/// 111 tasks (two workers end within a fraction of a millisecond of each other) and `n = 12`
/// 14,618.
pub const PERMS_PER_TASK: u64 = 1 << 15;

/// The Benchmarks Game's fannkuch-redux: over all permutations of `0..n` in the benchmark's
/// order, `(checksum, max_flips)` where a permutation's flips are the prefix reversals done until
/// its first element is 0, and `checksum = Σ ±flips` (`+` for even permutation indices).
///
/// # Errors
///
/// [`Error::InvalidArgument`] unless `3 <= n <= 12`; [`Error::Cancelled`].
pub fn fannkuch_redux(ctx: &Ctx<'_>, n: usize) -> Result<(i64, u32)> {
    fannkuch_in_blocks(ctx, n, PERMS_PER_TASK)
}

/// [`fannkuch_redux`] with blocks of `perms_per_task` permutations (tests vary it).
pub(crate) fn fannkuch_in_blocks(ctx: &Ctx<'_>, n: usize, perms_per_task: u64) -> Result<(i64, u32)> {
    if !(FANNKUCH_MIN_N..=FANNKUCH_MAX_N).contains(&n) {
        return Err(Error::InvalidArgument {
            arg: "n",
            message: format!("must be an int in [{FANNKUCH_MIN_N}, {FANNKUCH_MAX_N}], got {n}"),
        });
    }
    let total = factorial(n);
    let per = perms_per_task.max(1);
    let tasks = usize::try_from(total.div_ceil(per))
        .map_err(|_| Error::Overflow(format!("{total} permutations is too many tasks")))?;
    let parts = ctx.map_tasks(tasks, |t| {
        let start = t as u64 * per;
        fannkuch_block(n, start, total.min(start + per))
    })?;
    let checksum = parts.iter().map(|p| p.0).sum();
    let max_flips = parts.iter().map(|p| p.1).max().unwrap_or(0);
    Ok((checksum, max_flips))
}

/// `n!` (`n <= 20`).
fn factorial(n: usize) -> u64 {
    (1..=n as u64).product()
}

/// The permutation at `index` in the benchmark's order and its rotation counters: the digits of
/// `index` in the factorial number system, the highest applied first.
fn perm_at(n: usize, mut index: u64) -> ([u8; 16], [u8; 16]) {
    let mut perm = [0u8; 16];
    for (k, p) in perm.iter_mut().enumerate() {
        *p = k as u8;
    }
    let mut count = [0u8; 16];
    for i in (1..n).rev() {
        let f = factorial(i);
        let d = (index / f) as usize; // <= i
        index %= f;
        count[i] = d as u8;
        perm[..=i].rotate_left(d);
    }
    (perm, count)
}

/// The checksum and flip maximum of the permutations `start..end` (`end <= n!`), one
/// permutation at a time: the portable path, and the definition the AVX2 path must match.
#[inline(always)]
fn block_portable(n: usize, start: u64, end: u64) -> (i64, u32) {
    let (first, mut count) = perm_at(n, start);
    let mut perm = ArrayPerm(first);
    let (mut checksum, mut max_flips) = (0i64, 0u32);
    let mut sign = if start.is_multiple_of(2) { 1i64 } else { -1 };
    for index in start..end {
        let mut k = perm.first();
        if k != 0 {
            let mut p = perm;
            let mut flips = 0u32;
            while k != 0 {
                p = p.flip(k);
                flips += 1;
                k = p.first();
            }
            max_flips = max_flips.max(flips);
            checksum += sign * i64::from(flips);
        }
        sign = -sign;
        if index + 1 == end {
            break;
        }
        // The next permutation: rotate the prefix 0..=i until its counter wraps, then carry.
        let mut i = 1;
        loop {
            perm = perm.rotate(i);
            count[i] += 1;
            if usize::from(count[i]) <= i {
                break;
            }
            count[i] = 0;
            i += 1;
        }
    }
    (checksum, max_flips)
}

/// 256-bit registers of permutations flipped in lockstep by the AVX2 path (two permutations
/// each).
const FANNKUCH_REGS: usize = 4;

/// One block, on the best code path for this CPU (both give the same integers).
fn fannkuch_block(n: usize, start: u64, end: u64) -> (i64, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        if simd::avx2_enabled() {
            // SAFETY: the CPU supports AVX2 (checked just above), all `block_avx2` requires.
            return unsafe { x86::block_avx2::<FANNKUCH_REGS>(n, start, end) };
        }
    }
    simd::dispatch(FannkuchBlock { n, start, end })
}

/// The portable permutation: an array of at most 16 elements.
#[derive(Clone, Copy)]
struct ArrayPerm([u8; 16]);

impl ArrayPerm {
    /// The first element.
    #[inline(always)]
    fn first(self) -> usize {
        usize::from(self.0[0])
    }
    /// Reverses the prefix `0..=k`.
    #[inline(always)]
    fn flip(mut self, k: usize) -> Self {
        self.0[..=k].reverse();
        self
    }
    /// Rotates the prefix `0..=i` left by one.
    #[inline(always)]
    fn rotate(mut self, i: usize) -> Self {
        self.0[..=i].rotate_left(1);
        self
    }
}

struct FannkuchBlock {
    n: usize,
    start: u64,
    end: u64,
}

impl simd::Kernel for FannkuchBlock {
    type Output = (i64, u32);
    #[inline(always)]
    fn run(self) -> (i64, u32) {
        block_portable(self.n, self.start, self.end)
    }
}

/// The AVX2 path: a permutation is one 128-bit register, and `2 * REGS` permutations are flipped
/// in lockstep, two per 256-bit register (`vpshufb` shuffles each 128-bit half on its own).
/// A flip is one shuffle with a mask computed from the first byte (no table load on the
/// critical path); a permutation whose first element is already 0 goes through identity flips,
/// uncounted, until the whole batch is done. The batch hides the shuffle latency and replaces a
/// mispredicted loop exit per permutation by one per batch.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, _mm256_add_epi64, _mm256_blendv_epi8, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_max_epu8,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_sad_epu8, _mm256_set_m128i, _mm256_setr_epi8,
        _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_storeu_si256, _mm256_sub_epi8, _mm_loadu_si128,
        _mm_shuffle_epi8,
    };

    /// `ROTATE[i]`: the byte shuffle that rotates the prefix `0..=i` left by one.
    const ROTATE: [[u8; 16]; 16] = {
        let mut t = [[0u8; 16]; 16];
        let mut i = 0;
        while i < 16 {
            let mut k = 0;
            while k < 16 {
                t[i][k] = if k < i {
                    k as u8 + 1
                } else if k == i {
                    0
                } else {
                    k as u8
                };
                k += 1;
            }
            i += 1;
        }
        t
    };

    /// `0, 1, .., 15`: the identity permutation (0 flips).
    const IDENTITY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    /// Steps `perm` to the next permutation of the benchmark's order (see `super::block_portable`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn next(perm: __m128i, count: &mut [u8; 16]) -> __m128i {
        let mut p = perm;
        let mut i = 1;
        loop {
            // SAFETY: `ROTATE[i]` has 16 bytes (i < n <= 12: the counters of a block that has a
            // next permutation never carry past n - 1).
            p = _mm_shuffle_epi8(p, unsafe { _mm_loadu_si128(ROTATE[i].as_ptr().cast()) });
            count[i] += 1;
            if usize::from(count[i]) <= i {
                return p;
            }
            count[i] = 0;
            i += 1;
        }
    }

    /// [`super::block_portable`] (same integers), `2 * REGS` permutations at a time.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block_avx2<const REGS: usize>(n: usize, start: u64, end: u64) -> (i64, u32) {
        let (first, mut count) = super::perm_at(n, start);
        // SAFETY: 16-byte loads from 16-byte arrays (unaligned loads are allowed).
        let mut perm = unsafe { _mm_loadu_si128(first.as_ptr().cast()) };
        // SAFETY: as above.
        let identity = unsafe { _mm_loadu_si128(IDENTITY.as_ptr().cast()) };
        let zero = _mm256_setzero_si256();
        let iota = _mm256_setr_epi8(
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            13, 14, 15,
        );
        // Per batch, the flips of every lane are added up (`sad`: bytes 0..8 of each half into
        // one u64, and all 16 bytes of a half hold its count) and maxed. A batch has an even size,
        // so the low halves are the permutations of `start`'s parity, the high halves the others;
        // padding lanes are the identity (0 flips).
        let mut sums = zero;
        let mut maxima = zero;
        let mut index = start;
        while index < end {
            let mut regs = [zero; REGS];
            for r in &mut regs {
                let mut halves = [identity; 2];
                for h in &mut halves {
                    if index < end {
                        *h = perm;
                        index += 1;
                        if index < end {
                            perm = next(perm, &mut count);
                        }
                    }
                }
                *r = _mm256_set_m128i(halves[1], halves[0]);
            }
            // Flip everything until every first element is 0; count the real flips per lane.
            let mut flips = [zero; REGS];
            loop {
                let mut firsts = zero;
                for (p, f) in regs.iter_mut().zip(&mut flips) {
                    // Every byte of a half = its first element k; lanes 0..=k take p[k - lane],
                    // lanes past k (k - lane < 0: the shuffle gives 0) keep their own byte.
                    let k = _mm256_shuffle_epi8(*p, zero);
                    let reversed = _mm256_shuffle_epi8(*p, _mm256_sub_epi8(k, iota));
                    *p = _mm256_blendv_epi8(reversed, *p, _mm256_cmpgt_epi8(iota, k));
                    *f = _mm256_sub_epi8(*f, _mm256_cmpgt_epi8(k, zero));
                    firsts = _mm256_or_si256(firsts, *p);
                }
                // Bytes 0 and 16 are the first elements.
                if _mm256_movemask_epi8(_mm256_cmpeq_epi8(firsts, zero)) & 0x0001_0001 == 0x0001_0001 {
                    break;
                }
            }
            for f in flips {
                sums = _mm256_add_epi64(sums, _mm256_sad_epu8(f, zero));
                maxima = _mm256_max_epu8(maxima, f);
            }
        }
        let (mut s, mut m) = ([0u64; 4], [0u8; 32]);
        // SAFETY: 32-byte stores into 32-byte arrays.
        unsafe {
            _mm256_storeu_si256(s.as_mut_ptr().cast(), sums);
            _mm256_storeu_si256(m.as_mut_ptr().cast(), maxima);
        }
        // u64 lane 0 = 8 × the low halves' flips, lane 2 = 8 × the high halves'. Both are below
        // 8 × 12! × 65 < 2^38: exact in i64.
        let (low, high) = ((s[0] / 8) as i64, (s[2] / 8) as i64);
        let checksum = if start.is_multiple_of(2) {
            low - high
        } else {
            high - low
        };
        (checksum, u32::from(m[0].max(m[16])))
    }
}

// ---------------------------------------------------------------------------------------------
// n-body

/// Steps between two cancellation checks (and Ctrl-C polls): ~1 ms of work.
pub const NBODY_STEPS_PER_CHECK: u64 = 10_000;

const BODIES: usize = 5;
const PAIRS: usize = BODIES * (BODIES - 1) / 2;
/// The pairs `(i, j)`, `i < j`, in the reference's loop order, padded to 12 lanes (three AVX2
/// registers) with copies of the first pair, computed and ignored.
const PAIR_LANES: usize = 12;
const PAIR_I: [usize; PAIR_LANES] = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 0, 0];
const PAIR_J: [usize; PAIR_LANES] = [1, 2, 3, 4, 2, 3, 4, 3, 4, 4, 1, 1];

const PI: f64 = std::f64::consts::PI;
const SOLAR_MASS: f64 = 4.0 * PI * PI;
const DAYS_PER_YEAR: f64 = 365.24;
const DT: f64 = 0.01;

/// The Sun, Jupiter, Saturn, Uranus and Neptune, structure of arrays.
#[derive(Clone, Copy, Debug, PartialEq)]
struct System {
    x: [f64; BODIES],
    y: [f64; BODIES],
    z: [f64; BODIES],
    vx: [f64; BODIES],
    vy: [f64; BODIES],
    vz: [f64; BODIES],
    mass: [f64; BODIES],
}

impl System {
    /// The Benchmarks Game's initial state, with the Sun's momentum offset.
    #[allow(clippy::unreadable_literal, clippy::excessive_precision)]
    fn jovian() -> System {
        // (x, y, z, vx, vy, vz, mass) per body; velocities in AU/day, masses in solar masses.
        let bodies: [[f64; 7]; BODIES] = [
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            [
                4.84143144246472090e+00,
                -1.16032004402742839e+00,
                -1.03622044471123109e-01,
                1.66007664274403694e-03,
                7.69901118419740425e-03,
                -6.90460016972063023e-05,
                9.54791938424326609e-04,
            ],
            [
                8.34336671824457987e+00,
                4.12479856412430479e+00,
                -4.03523417114321381e-01,
                -2.76742510726862411e-03,
                4.99852801234917238e-03,
                2.30417297573763929e-05,
                2.85885980666130812e-04,
            ],
            [
                1.28943695621391310e+01,
                -1.51111514016986312e+01,
                -2.23307578892655734e-01,
                2.96460137564761618e-03,
                2.37847173959480950e-03,
                -2.96589568540237556e-05,
                4.36624404335156298e-05,
            ],
            [
                1.53796971148509165e+01,
                -2.59193146099879641e+01,
                1.79258772950371181e-01,
                2.68067772490389322e-03,
                1.62824170038242295e-03,
                -9.51592254519715870e-05,
                5.15138902046611451e-05,
            ],
        ];
        let mut s = System {
            x: [0.0; BODIES],
            y: [0.0; BODIES],
            z: [0.0; BODIES],
            vx: [0.0; BODIES],
            vy: [0.0; BODIES],
            vz: [0.0; BODIES],
            mass: [0.0; BODIES],
        };
        for (b, body) in bodies.iter().enumerate() {
            s.x[b] = body[0];
            s.y[b] = body[1];
            s.z[b] = body[2];
            s.vx[b] = body[3] * DAYS_PER_YEAR;
            s.vy[b] = body[4] * DAYS_PER_YEAR;
            s.vz[b] = body[5] * DAYS_PER_YEAR;
            s.mass[b] = body[6] * SOLAR_MASS;
        }
        // offset_momentum: the Sun moves so that the total momentum is zero.
        let (mut px, mut py, mut pz) = (0.0, 0.0, 0.0);
        for b in 0..BODIES {
            px += s.vx[b] * s.mass[b];
            py += s.vy[b] * s.mass[b];
            pz += s.vz[b] * s.mass[b];
        }
        s.vx[0] = -px / SOLAR_MASS;
        s.vy[0] = -py / SOLAR_MASS;
        s.vz[0] = -pz / SOLAR_MASS;
        s
    }

    /// Kinetic plus potential energy, in the reference's order.
    fn energy(&self) -> f64 {
        let mut e = 0.0;
        for i in 0..BODIES {
            let v2 = self.vx[i] * self.vx[i] + self.vy[i] * self.vy[i] + self.vz[i] * self.vz[i];
            e += 0.5 * self.mass[i] * v2;
            for j in i + 1..BODIES {
                let dx = self.x[i] - self.x[j];
                let dy = self.y[i] - self.y[j];
                let dz = self.z[i] - self.z[j];
                e -= (self.mass[i] * self.mass[j]) / (dx * dx + dy * dy + dz * dz).sqrt();
            }
        }
        e
    }

    /// One step of `DT`. Everything per pair is computed in independent lanes (vectorised):
    /// the separations, `mag = dt / (d² √d²)`, and each pair's six velocity increments
    /// `dx·(m·mag)`. Only their accumulation into the bodies' velocities is scalar, in the
    /// reference's pair order. Then the positions move. (Padding the 10 pairs to 12 lanes made
    /// the AVX2 build 1.7× faster: with 10, LLVM's 8 + 2 split lost to the SSE2 build.)
    #[inline(always)]
    fn advance(&mut self) {
        let mut dx = [0.0f64; PAIR_LANES];
        let mut dy = [0.0f64; PAIR_LANES];
        let mut dz = [0.0f64; PAIR_LANES];
        for p in 0..PAIR_LANES {
            dx[p] = self.x[PAIR_I[p]] - self.x[PAIR_J[p]];
            dy[p] = self.y[PAIR_I[p]] - self.y[PAIR_J[p]];
            dz[p] = self.z[PAIR_I[p]] - self.z[PAIR_J[p]];
        }
        // Increments of body i (subtracted) and body j (added), per pair and axis.
        let mut di = [[0.0f64; PAIR_LANES]; 3];
        let mut dj = [[0.0f64; PAIR_LANES]; 3];
        for p in 0..PAIR_LANES {
            let d2 = dx[p] * dx[p] + dy[p] * dy[p] + dz[p] * dz[p];
            let mag = DT / (d2 * d2.sqrt());
            let (mi, mj) = (self.mass[PAIR_I[p]] * mag, self.mass[PAIR_J[p]] * mag);
            di[0][p] = dx[p] * mj;
            di[1][p] = dy[p] * mj;
            di[2][p] = dz[p] * mj;
            dj[0][p] = dx[p] * mi;
            dj[1][p] = dy[p] * mi;
            dj[2][p] = dz[p] * mi;
        }
        for p in 0..PAIRS {
            let (i, j) = (PAIR_I[p], PAIR_J[p]);
            self.vx[i] -= di[0][p];
            self.vy[i] -= di[1][p];
            self.vz[i] -= di[2][p];
            self.vx[j] += dj[0][p];
            self.vy[j] += dj[1][p];
            self.vz[j] += dj[2][p];
        }
        for b in 0..BODIES {
            self.x[b] += DT * self.vx[b];
            self.y[b] += DT * self.vy[b];
            self.z[b] += DT * self.vz[b];
        }
    }
}

struct Advance<'a> {
    system: &'a mut System,
    steps: u64,
}

impl simd::Kernel for Advance<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for _ in 0..self.steps {
            self.system.advance();
        }
    }
}

/// The Benchmarks Game's 5-body simulation (Sun and the four giant planets, offset momentum,
/// `dt = 0.01`): `(energy before, energy after steps)`.
///
/// Inherently serial: it always runs on the calling thread, whatever `ctx.threads()` says
/// (several simulations in parallel are the caller's business, e.g. a `ThreadPoolExecutor`).
/// It checks for cancellation, and lets the caller poll, every [`NBODY_STEPS_PER_CHECK`] steps.
///
/// # Errors
///
/// [`Error::Cancelled`].
pub fn nbody(ctx: &Ctx<'_>, steps: u64) -> Result<(f64, f64)> {
    let system = System::jovian();
    let before = system.energy();
    let blocks = usize::try_from(steps.div_ceil(NBODY_STEPS_PER_CHECK))
        .map_err(|_| Error::Overflow(format!("steps = {steps} is too many for this platform")))?;
    let shared = Mutex::new(system);
    // A grain of usize::MAX keeps every block on the calling thread, run in block order (the
    // simulation is serial); the engine still checks for cancellation and polls between blocks.
    ctx.map_tasks_grained(blocks, usize::MAX, |b| {
        let done = b as u64 * NBODY_STEPS_PER_CHECK;
        let steps = NBODY_STEPS_PER_CHECK.min(steps - done);
        let mut system = shared.lock().unwrap_or_else(PoisonError::into_inner);
        simd::dispatch(Advance {
            system: &mut system,
            steps,
        });
    })?;
    let system = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    Ok((before, system.energy()))
}

#[cfg(test)]
mod test;
