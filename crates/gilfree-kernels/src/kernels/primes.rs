//! Prime counting and listing: `count_primes` and `primes`, a segmented Sieve of Eratosthenes on a
//! mod-30 wheel.
//!
//! # The bitmap
//!
//! Byte `b` of the sieve stands for the 30 integers `30b .. 30b + 29` and holds one bit for each of
//! the 8 residues coprime to 30 — 1, 7, 11, 13, 17, 19, 23, 29, bit 0 to bit 7 — so the multiples
//! of 2, 3 and 5 are never stored (15 numbers per bit, 30 per byte). A set bit is a prime.
//!
//! # Crossing off
//!
//! The multiples `p·m` of a sieving prime `p = 30q + s` that the wheel keeps are those with
//! `m = 30k + r`, `r` one of the 8 residues. `p·m` sits in byte `pk + qr + ⌊sr/30⌋`, at the bit
//! of `sr mod 30`: for each `r` an arithmetic progression of step `p` bytes with one fixed bit. One
//! turn of the wheel (8 multiples) therefore clears 8 bytes at offsets `qr + ⌊sr/30⌋` from
//! `pk`, all known in advance; [`cross_small`] is that loop, compiled once per residue class `s`
//! of `p` so that every offset and mask is a constant. Each prime keeps its position (the next
//! byte to clear and its place on the wheel) from one segment to the next.
//!
//! * the primes 7 ..= 163 are not sieved at all: fifteen precomputed patterns (products of one to
//!   three of them, periods of 131 B - 33 KiB) are ANDed into the bitmap four at a time
//!   ([`presieve`]), as primesieve does;
//! * primes below [`SMALL_MAX`] (at least one wheel turn per chunk) cross off with the wheel loop
//!   one [`CHUNK_BYTES`] = 32 KiB chunk at a time, so that their stores hit L1. Each prime finishes
//!   the wheel turn it is in past the chunk's end ([`cross_small_overrun`]: into the next chunk,
//!   presieved ahead, or a carry into the next segment), so that it always enters a chunk at the
//!   start of a turn and no turn is cut in two: one unpredictable loop exit per prime and chunk
//!   instead of three;
//! * "medium" primes up to the segment size cross off with the same loop over a whole segment at once
//!   (they have few multiples per chunk: visiting them once per segment rather than once per
//!   chunk is what pays);
//! * primes from the segment size on (less than one wheel turn per segment) wait in per-segment
//!   buckets and are touched only in the segments where they have a multiple ([`cross_large`]).
//!
//! Segments are [`SEGMENT_BYTES`] = 256 KiB (7.9 M integers), a quarter of the L2 cache of the
//! machines we measure on, and [`LARGE_N_SEGMENT_BYTES`] = 1 MiB from n = 2^30 on, where the
//! medium primes are many. The inner loop of whole wheel turns indexes without bounds checks
//! (its loop condition bounds every index; the checked version was 11% slower overall).
//!
//! # Tasks and determinism
//!
//! The parallel unit is a *task*: a fixed run of consecutive bytes ([`Plan::task_bytes`], a
//! function of `n` only: from 4 KiB (whole chunks from one chunk up) to one segment, aiming at
//! [`TARGET_TASKS`] tasks, and
//! 2√n bytes when that is more than a segment). Each task computes
//! its primes' starting positions once (one division per prime), sieves its segments in order
//! and counts them with popcount; `map_tasks` returns the counts in task order (the engine
//! decides when a call is worth a worker). Counts are
//! integers and the primes come out in increasing order, so the results are identical for every
//! `threads=` value. The cancel flag is checked before every segment (about a millisecond of
//! work), so Ctrl-C stops even `count_primes(10**12)` promptly.
//!
//! # `primes`
//!
//! Two passes. [`sieve`] first reserves (and releases) an output of an upper bound of π(n)
//! (Rosser & Schoenfeld: π(x) < 1.25506·x/ln x for x > 1) with `try_reserve_exact`, so a list that
//! cannot be allocated is an [`Error::Overflow`] at once rather than an abort after minutes of
//! sieving; then it sieves and counts every task in parallel, keeping the bitmaps (n/30 bytes in
//! all, under a tenth of the output). The caller allocates exactly π(n) elements — the binding
//! lets NumPy do it, which asks the kernel for huge pages and so first-touches 400 MB four times
//! faster — and [`Sieved::write`] lists each task's primes into its own slice, in parallel.

use std::sync::{Mutex, PoisonError};

use crate::engine::Ctx;
use crate::{simd, Error, Result};

/// The largest `n` accepted: 10^15. Counting that far would take days; the limit keeps every
/// intermediate value far inside `u64` and the sieving primes (up to √n ≈ 3.2·10^7) cheap to hold.
pub const MAX_N: u64 = 1_000_000_000_000_000;

/// Bytes per segment: 256 KiB of bitmap, 7.9 M integers. The unit of the medium and bucket
/// primes and of cancellation checks.
pub const SEGMENT_BYTES: usize = 1 << SEGMENT_SHIFT;
const SEGMENT_SHIFT: u32 = 18;

/// Bytes per segment when n >= [`LARGE_N`]: 1 MiB, 31 M integers. The medium primes are then
/// many (22,000 between 4096 and 262144 at n = 10^12) and each has few multiples per segment, so
/// visiting each once per MiB rather than once per 256 KiB pays: measured 4% faster at
/// n = 2·10^9, 5% at 10^10, 14% at 10^11, 25% at 10^12 (and even at 10^9).
pub const LARGE_N_SEGMENT_BYTES: usize = 1 << LARGE_N_SEGMENT_SHIFT;
const LARGE_N_SEGMENT_SHIFT: u32 = 20;

/// From here on (2^30 ≈ 1.07·10^9, where the sieving primes pass 2^15) segments are
/// [`LARGE_N_SEGMENT_BYTES`].
pub const LARGE_N: u64 = 1 << 30;

/// Bytes per chunk (the L1 data cache): the small primes cross off one chunk at a time.
pub const CHUNK_BYTES: usize = 1 << 15;

/// Primes below this cross off chunk by chunk; larger ones ("medium") cross a whole segment at
/// once. Measured with the overrun (2 vCPU EPYC Zen 3, 8 tasks on one thread): 32768 beat 4096
/// by 8% at n = 10^9, 11% at 10^10, 13% at 10^11, 2% at 10^8 (without the overrun, whose
/// three loop exits per chunk made many-chunk visits dear, 4096 had been the best).
pub const SMALL_MAX: u64 = CHUNK_BYTES as u64;

/// Tasks shorter than a chunk are whole multiples of this many bytes (4 KiB, 123 Ki integers): a
/// call of n = 10^6 (33 KB of bitmap, ~40 µs of work) is 9 tasks, where whole 32 KiB chunks made
/// it one and a sliver. Longer tasks are whole chunks, as before.
pub const TASK_UNIT_BYTES: u64 = 1 << 12;

/// The number of tasks a call aims at (tasks are 4 KiB to 256 KiB when n is small, then one segment,
/// and 2√n bytes once that is more, from n ≈ 2.7·10^11: each prime's start-up division is then
/// paid over many segments). 32 tasks keep two to eight workers evenly busy.
pub const TARGET_TASKS: u64 = 32;

/// The largest prime removed by the presieve patterns. Measured against 97 (primesieve 7's
/// choice; primesieve 11 presieves to 163 too): see [`Tuning::presieve_max`].
pub const PRESIEVE_MAX: u64 = 163;

/// The 8 residues coprime to 30, in bit order, and 31 (the next turn's first residue).
const R: [usize; 9] = [1, 7, 11, 13, 17, 19, 23, 29, 31];

/// The bit of a residue coprime to 30.
const fn bit_of(r: usize) -> usize {
    match r {
        1 => 0,
        7 => 1,
        11 => 2,
        13 => 3,
        17 => 4,
        19 => 5,
        23 => 6,
        29 => 7,
        _ => 8, // not coprime to 30: a shift by 8 below fails to compile, so never reached
    }
}

/// `MASK[c][j]` clears the bit of `p·m` for `p ≡ R[c]`, `m ≡ R[j]` (mod 30).
const MASK: [[u8; 8]; 8] = {
    let mut t = [[0u8; 8]; 8];
    let mut c = 0;
    while c < 8 {
        let mut j = 0;
        while j < 8 {
            t[c][j] = !(1u8 << bit_of(R[c] * R[j] % 30));
            j += 1;
        }
        c += 1;
    }
    t
};

/// `OFFSET_C[c][j] = ⌊R[c]·R[j] / 30⌋`: the constant part of the byte offset `q·R[j] + ⌊s·R[j]/30⌋`.
const OFFSET_C: [[usize; 9]; 8] = {
    let mut t = [[0usize; 9]; 8];
    let mut c = 0;
    while c < 8 {
        let mut j = 0;
        while j < 9 {
            t[c][j] = R[c] * R[j] / 30;
            j += 1;
        }
        c += 1;
    }
    t
};

/// From multiple `j` to multiple `j + 1` of a wheel turn: `q·STEP_Q[j] + STEP_C[c][j]` bytes.
const STEP_Q: [usize; 8] = [6, 4, 2, 4, 2, 4, 6, 2];
const STEP_C: [[usize; 8]; 8] = {
    let mut t = [[0usize; 8]; 8];
    let mut c = 0;
    while c < 8 {
        let mut j = 0;
        while j < 8 {
            t[c][j] = OFFSET_C[c][j + 1] - OFFSET_C[c][j];
            j += 1;
        }
        c += 1;
    }
    t
};

/// `NEXT_J[r]`: the first wheel residue `R[j] >= r`, for `r` in `0..30`.
const NEXT_J: [usize; 30] = {
    let mut t = [0usize; 30];
    let mut r = 0;
    while r < 30 {
        let mut j = 0;
        while R[j] < r {
            j += 1;
        }
        t[r] = j;
        r += 1;
    }
    t
};

/// `CLASS[p % 30]`: the wheel class of a prime > 5 (its index in `R`).
const CLASS: [usize; 30] = {
    let mut t = [0usize; 30];
    let mut j = 0;
    while j < 8 {
        t[R[j]] = j;
        j += 1;
    }
    t
};

/// `VALUE[t]` for a set bit `t` of a little-endian 64-bit word of the bitmap: its integer minus
/// 30 × (the word's first byte).
const VALUE: [u64; 64] = {
    let mut t = [0u64; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = (30 * (i / 8) + R[i % 8]) as u64;
        i += 1;
    }
    t
};

// ---------------------------------------------------------------------------------------------
// Presieve patterns

/// Groups of the presieved primes; each group's bitmap pattern repeats every product-of-the-group
/// bytes (131 B - 33 KiB). The first eight groups (7 ..= 97) are primesieve's; the last seven
/// (101 ..= 163) pair a small prime with a large one so that every pattern stays under 18 KiB.
const PRESIEVE_GROUPS: [&[u64]; 15] = [
    &[7, 67, 71],
    &[11, 41, 73],
    &[13, 43, 59],
    &[17, 37, 53],
    &[19, 29, 61],
    &[23, 31, 47],
    &[79, 97],
    &[83, 89],
    &[101, 163],
    &[103, 157],
    &[107, 151],
    &[109, 149],
    &[113, 139],
    &[127, 137],
    &[131],
];

/// How many of [`PRESIEVE_GROUPS`] remove the primes up to `presieve_max` (97 or 163).
fn presieve_groups(presieve_max: u64) -> usize {
    PRESIEVE_GROUPS
        .iter()
        .take_while(|g| g.iter().all(|&a| a <= presieve_max))
        .count()
}

/// One period of the bitmap with the multiples of `group` cleared.
fn pattern(group: &[u64]) -> Vec<u8> {
    let period: u64 = group.iter().product();
    let mut bytes = vec![0xFF_u8; usize::try_from(period).unwrap_or(0)];
    for &a in group {
        let mut v = a;
        while v < 30 * period {
            let r = (v % 30) as usize;
            if bit_of(r) < 8 {
                bytes[(v / 30) as usize] &= !(1u8 << bit_of(r));
            }
            v += 2 * a; // odd multiples only: the even ones are not on the wheel
        }
    }
    bytes
}

/// The patterns, built on first use (~0.3 ms) and shared by every call.
///
/// Built without a lock (`race::OnceBox`: threads that race here each build them and the first to
/// publish wins), so no thread can be caught half-way through initialising them by a `fork()`: a
/// `std::sync::OnceLock` being initialised by another thread at the fork stays "running" forever
/// in the child, and the child's first sieve would hang (docs/architecture.md, "Fork").
fn patterns() -> &'static [Vec<u8>] {
    static PATTERNS: once_cell::race::OnceBox<Vec<Vec<u8>>> = once_cell::race::OnceBox::new();
    PATTERNS.get_or_init(|| Box::new(PRESIEVE_GROUPS.iter().map(|g| pattern(g)).collect()))
}

/// ANDs `N` patterns, read from their phase at byte `lo`, into `seg` (or stores the AND if
/// `first`): one pass over `seg` for `N` patterns, in runs that end where a pattern wraps.
#[inline(always)]
fn fuse<const N: usize>(seg: &mut [u8], lo: u64, pats: [&[u8]; N], first: bool) {
    let mut start: [usize; N] = std::array::from_fn(|i| (lo % pats[i].len() as u64) as usize);
    let mut done = 0;
    while done < seg.len() {
        let mut n = seg.len() - done;
        for i in 0..N {
            n = n.min(pats[i].len() - start[i]);
        }
        let dst = &mut seg[done..done + n];
        let src: [&[u8]; N] = std::array::from_fn(|i| &pats[i][start[i]..start[i] + n]);
        if first {
            for (k, d) in dst.iter_mut().enumerate() {
                let mut v = src[0][k];
                for s in &src[1..] {
                    v &= s[k];
                }
                *d = v;
            }
        } else {
            for (k, d) in dst.iter_mut().enumerate() {
                let mut v = *d;
                for s in &src {
                    v &= s[k];
                }
                *d = v;
            }
        }
        done += n;
        for i in 0..N {
            start[i] += n;
            if start[i] == pats[i].len() {
                start[i] = 0;
            }
        }
    }
}

/// Fills a segment starting at byte `lo` with the first `groups` presieve patterns (8 or 15),
/// four at a time.
struct Presieve<'a> {
    seg: &'a mut [u8],
    lo: u64,
    patterns: &'a [Vec<u8>],
}

impl simd::Kernel for Presieve<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let p = |i: usize| self.patterns[i].as_slice();
        fuse(self.seg, self.lo, [p(0), p(1), p(2), p(3)], true);
        fuse(self.seg, self.lo, [p(4), p(5), p(6), p(7)], false);
        if self.patterns.len() == 15 {
            fuse(self.seg, self.lo, [p(8), p(9), p(10), p(11)], false);
            fuse(self.seg, self.lo, [p(12), p(13), p(14)], false);
        }
    }
}

/// Applies the presieve patterns of the primes up to `presieve_max` to the segment at byte `lo`.
fn presieve(seg: &mut [u8], lo: u64, presieve_max: u64) {
    simd::dispatch(Presieve {
        seg,
        lo,
        patterns: &patterns()[..presieve_groups(presieve_max)],
    });
}

/// The number of set bits of a bitmap.
struct Popcount<'a>(&'a [u8]);

impl simd::Kernel for Popcount<'_> {
    type Output = u64;
    #[inline(always)]
    fn run(self) -> u64 {
        let mut it = self.0.chunks_exact(8);
        let mut total = 0u64;
        for c in &mut it {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            total += u64::from(w.count_ones());
        }
        for &b in it.remainder() {
            total += u64::from(b.count_ones());
        }
        total
    }
}

fn popcount(bitmap: &[u8]) -> u64 {
    simd::dispatch(Popcount(bitmap))
}

// ---------------------------------------------------------------------------------------------
// The plan of one call

/// The primes up to `limit` (a plain odd-only sieve; `limit` is at most √[`MAX_N`]).
fn small_primes(limit: u64) -> Vec<u32> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if limit < 2 {
        return Vec::new();
    }
    // odd[i] stands for 2i + 1.
    let mut odd = vec![true; limit / 2 + 1];
    odd[0] = false;
    let mut i = 1;
    while (2 * i + 1) * (2 * i + 1) <= limit {
        if odd[i] {
            let p = 2 * i + 1;
            let mut k = p * p / 2;
            while k < odd.len() {
                odd[k] = false;
                k += p;
            }
        }
        i += 1;
    }
    let mut out = vec![2u32];
    out.extend(
        odd.iter()
            .enumerate()
            .filter(|&(i, &is_prime)| is_prime && 2 * i < limit)
            .map(|(i, _)| (2 * i + 1) as u32),
    );
    out
}

/// ⌊√n⌋.
fn isqrt(n: u64) -> u64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let mut r = (n as f64).sqrt() as u64;
    while r.checked_mul(r).is_none_or(|s| s > n) {
        r -= 1;
    }
    while (r + 1).checked_mul(r + 1).is_some_and(|s| s <= n) {
        r += 1;
    }
    r
}

/// Tuning knobs; [`Tuning::DEFAULT`] in production, other values in tests to reach every path
/// with small `n`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// Bytes per task, instead of the size [`Plan::new`] picks.
    pub(crate) task_bytes: Option<u64>,
    /// Primes `>= small_max` cross whole segments rather than chunks.
    pub(crate) small_max: u64,
    /// Primes `>= large_min` go to the buckets; `None`: the segment size.
    pub(crate) large_min: Option<u64>,
    /// log2 of the segment size; `None`: the size [`Plan::new`] picks.
    pub(crate) segment_shift: Option<u32>,
    /// The largest presieved prime: 97 or 163 ([`PRESIEVE_MAX`]).
    pub(crate) presieve_max: u64,
    /// The small primes finish their wheel turn past a chunk ([`cross_small_overrun`]).
    pub(crate) overrun: bool,
    /// Bytes per chunk inside a task, instead of [`CHUNK_BYTES`] (the task sizes do not change).
    pub(crate) chunk: Option<usize>,
}

impl Tuning {
    pub(crate) const DEFAULT: Tuning = Tuning {
        task_bytes: None,
        small_max: SMALL_MAX,
        large_min: None,
        segment_shift: None,
        presieve_max: PRESIEVE_MAX,
        overrun: true,
        chunk: None,
    };
}

/// Everything one call shares between its tasks.
struct Plan {
    n: u64,
    /// Bytes of bitmap: `n / 30 + 1`.
    total_bytes: u64,
    /// Bytes per task (a multiple of [`CHUNK_BYTES`]); the last task may be shorter.
    task_bytes: u64,
    /// log2 of the bytes per segment.
    segment_shift: u32,
    tasks: usize,
    /// The wheel-loop primes by class, as `q = p / 30`, ascending: [0] chunk by chunk,
    /// [1] whole segments.
    wheel: [[Vec<u32>; 8]; 2],
    /// The bucket primes, ascending.
    large: Vec<u32>,
    /// The largest presieved prime.
    presieve_max: u64,
    /// [`Tuning::overrun`].
    overrun: bool,
    /// Bytes per chunk.
    chunk: usize,
    /// The largest chunk-by-chunk prime (0 if none): how far past a chunk its turn may reach.
    small_span: usize,
}

impl Plan {
    fn new(n: u64, tuning: Tuning) -> Result<Plan> {
        let root = isqrt(n);
        let segment_shift = tuning.segment_shift.unwrap_or(if n >= LARGE_N {
            LARGE_N_SEGMENT_SHIFT
        } else {
            SEGMENT_SHIFT
        });
        let large_min = tuning.large_min.unwrap_or(1 << segment_shift);
        let mut wheel: [[Vec<u32>; 8]; 2] = Default::default();
        let mut large = Vec::new();
        for p in small_primes(root) {
            let p64 = u64::from(p);
            if p64 <= tuning.presieve_max {
                continue;
            }
            if p64 >= large_min {
                large.push(p);
            } else {
                let size = usize::from(p64 >= tuning.small_max);
                wheel[size][CLASS[(p % 30) as usize]].push(p / 30);
            }
        }
        let small_span = (0..8)
            .filter_map(|c| wheel[0][c].last().map(|&q| 30 * q as usize + R[c]))
            .max()
            .unwrap_or(0);
        let seg = 1u64 << segment_shift;
        let total_bytes = n / 30 + 1;
        let task_bytes = match tuning.task_bytes {
            Some(bytes) => bytes.max(1),
            None if 2 * root > seg => (2 * root).div_ceil(seg) * seg,
            None => {
                // Whole chunks once a task is a chunk or more (a task ending in part of a chunk
                // crosses that chunk's small primes for a fraction of its bytes); below, 4 KiB.
                let per_task = total_bytes.div_ceil(TARGET_TASKS);
                let unit = if per_task >= CHUNK_BYTES as u64 {
                    CHUNK_BYTES as u64
                } else {
                    TASK_UNIT_BYTES
                };
                (per_task.div_ceil(unit) * unit).clamp(TASK_UNIT_BYTES, seg)
            }
        };
        let tasks = usize::try_from(total_bytes.div_ceil(task_bytes))
            .map_err(|_| Error::Overflow(format!("too many sieve tasks for n = {n}")))?;
        Ok(Plan {
            n,
            total_bytes,
            task_bytes,
            segment_shift,
            tasks,
            wheel,
            large,
            presieve_max: tuning.presieve_max,
            overrun: tuning.overrun,
            chunk: tuning.chunk.unwrap_or(CHUNK_BYTES).max(1),
            small_span,
        })
    }

    /// Bytes `lo..hi` of task `t`.
    fn task_range(&self, t: usize) -> (u64, u64) {
        let lo = t as u64 * self.task_bytes;
        (lo, (lo + self.task_bytes).min(self.total_bytes))
    }
}

/// The first multiple `p·m >= max(p², 30·lo)` with `m` coprime to 30: its byte and its place `j`
/// on the wheel.
#[inline]
fn first_multiple(p: u64, lo: u64) -> (u64, usize) {
    let m = p.max((30 * lo).div_ceil(p));
    let (k, j) = (m / 30, NEXT_J[(m % 30) as usize]);
    let c = CLASS[(p % 30) as usize];
    (p * k + (p / 30) * R[j] as u64 + OFFSET_C[c][j] as u64, j)
}

// ---------------------------------------------------------------------------------------------
// Crossing off

/// A wheel-loop prime's position: the next byte to clear (absolute) and its place on the wheel.
#[derive(Clone, Copy, Debug)]
struct Cycle {
    next: u64,
    q: u32,
    j: u32,
}

/// Crosses off the primes of class `C` (`p ≡ R[C]` mod 30) in the segment at byte `lo`.
#[inline(always)]
fn cross_small<const C: usize>(seg: &mut [u8], lo: u64, primes: &mut [Cycle]) {
    let m = MASK[C];
    let len = seg.len();
    let end = lo + len as u64;
    'primes: for cy in primes.iter_mut() {
        if cy.next >= end {
            continue;
        }
        let q = cy.q as usize;
        let step = |j: usize| q * STEP_Q[j & 7] + STEP_C[C][j & 7];
        // Invariant: lo <= cy.next < end.
        let mut k = (cy.next - lo) as usize;
        let mut j = cy.j as usize;
        // Finish the current wheel turn.
        while j != 0 {
            if k >= len {
                cy.next = lo + k as u64;
                cy.j = j as u32;
                continue 'primes;
            }
            seg[k] &= m[j];
            k += step(j);
            j = (j + 1) & 7;
        }
        // Whole turns: 8 multiples at fixed offsets from k, then p bytes on.
        let p = 30 * q + R[C];
        let e1 = step(0);
        let e2 = e1 + step(1);
        let e3 = e2 + step(2);
        let e4 = e3 + step(3);
        let e5 = e4 + step(4);
        let e6 = e5 + step(5);
        let e7 = e6 + step(6);
        while k + e7 < len {
            // SAFETY: e1 <= e2 <= ... <= e7 (sums of non-negative steps), and k + e7 < len, the
            // length of `seg`: every index below is in bounds.
            unsafe {
                *seg.get_unchecked_mut(k) &= m[0];
                *seg.get_unchecked_mut(k + e1) &= m[1];
                *seg.get_unchecked_mut(k + e2) &= m[2];
                *seg.get_unchecked_mut(k + e3) &= m[3];
                *seg.get_unchecked_mut(k + e4) &= m[4];
                *seg.get_unchecked_mut(k + e5) &= m[5];
                *seg.get_unchecked_mut(k + e6) &= m[6];
                *seg.get_unchecked_mut(k + e7) &= m[7];
            }
            k += p;
        }
        // The start of the last turn (k + e7 >= len, so j stays below 7).
        while k < len {
            seg[k] &= m[j & 7];
            k += step(j);
            j += 1;
        }
        cy.next = lo + k as u64;
        cy.j = j as u32;
    }
}

/// A bucket prime's next multiple: `q = p / 30`, and `(offset in its segment) << 6 | c·8 + j`.
#[derive(Clone, Copy, Debug)]
struct Hit {
    q: u32,
    at: u32,
}

const WHEEL_BITS: u32 = 6;

/// `LARGE_STEP_C[c·8 + j]`, `LARGE_MASK[c·8 + j]`: [`STEP_C`] and [`MASK`] flattened.
const LARGE_STEP_C: [usize; 64] = {
    let mut t = [0usize; 64];
    let mut w = 0;
    while w < 64 {
        t[w] = STEP_C[w / 8][w % 8];
        w += 1;
    }
    t
};
const LARGE_MASK: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut w = 0;
    while w < 64 {
        t[w] = MASK[w / 8][w % 8];
        w += 1;
    }
    t
};

/// The buckets of one task: `lists[s]` holds the bucket primes whose next multiple is in
/// segment `s` of the task. Emptied lists are kept for reuse.
struct Buckets {
    lists: Vec<Vec<Hit>>,
    spare: Vec<Vec<Hit>>,
    task_len: usize,
    segment_shift: u32,
}

impl Buckets {
    /// Files a multiple at byte `rel` of the task (dropped if it is past the task's end).
    #[inline(always)]
    fn push(&mut self, q: u32, rel: usize, w: usize) {
        if rel >= self.task_len {
            return;
        }
        let list = &mut self.lists[rel >> self.segment_shift];
        if list.capacity() == 0 {
            if let Some(spare) = self.spare.pop() {
                *list = spare;
            }
        }
        list.push(Hit {
            q,
            at: (((rel & ((1 << self.segment_shift) - 1)) as u32) << WHEEL_BITS) | w as u32,
        });
    }
}

/// Crosses off the bucket primes with a multiple in segment `s` of the task and files each at
/// its next multiple.
fn cross_large(seg: &mut [u8], s: usize, buckets: &mut Buckets) {
    let mut list = std::mem::take(&mut buckets.lists[s]);
    let len = seg.len();
    for h in &list {
        let q = h.q as usize;
        let mut w = (h.at & ((1 << WHEEL_BITS) - 1)) as usize;
        let mut k = (h.at >> WHEEL_BITS) as usize;
        while k < len {
            seg[k] &= LARGE_MASK[w];
            k += q * STEP_Q[w & 7] + LARGE_STEP_C[w];
            w = (w & !7) | ((w + 1) & 7);
        }
        buckets.push(h.q, (s << buckets.segment_shift) + k, w);
    }
    list.clear();
    buckets.spare.push(list);
}

/// Crosses off every class of wheel-loop primes.
#[inline(always)]
fn cross_wheel(seg: &mut [u8], lo: u64, classes: &mut [Vec<Cycle>; 8]) {
    cross_small::<0>(seg, lo, &mut classes[0]);
    cross_small::<1>(seg, lo, &mut classes[1]);
    cross_small::<2>(seg, lo, &mut classes[2]);
    cross_small::<3>(seg, lo, &mut classes[3]);
    cross_small::<4>(seg, lo, &mut classes[4]);
    cross_small::<5>(seg, lo, &mut classes[5]);
    cross_small::<6>(seg, lo, &mut classes[6]);
    cross_small::<7>(seg, lo, &mut classes[7]);
}

/// Crosses off the primes of class `C` in the chunk `buf[..len]` at byte `lo`, letting each
/// prime finish the wheel turn it is in past `len`: `buf` goes on (the next chunk, already
/// presieved, or the carry after the segment) for at least the largest `p` in `primes`. Every
/// prime then leaves at the start of a turn (`j = 0`), so no turn is cut in two, and only the
/// first chunk of a task pays for the turn a prime starts in: a chunk costs each prime one loop
/// exit rather than three. A prime longer than the overrun (never, by [`Plan`]) takes
/// [`cross_small`]'s path.
#[inline(always)]
fn cross_small_overrun<const C: usize>(buf: &mut [u8], len: usize, lo: u64, primes: &mut [Cycle]) {
    let m = MASK[C];
    let end = lo + len as u64;
    let room = buf.len().saturating_sub(len);
    for cy in primes.iter_mut() {
        if cy.next >= end {
            continue;
        }
        let q = cy.q as usize;
        let p = 30 * q + R[C];
        if p > room {
            cross_small::<C>(&mut buf[..len], lo, std::slice::from_mut(cy));
            continue;
        }
        let step = |j: usize| q * STEP_Q[j & 7] + STEP_C[C][j & 7];
        // Invariant: lo <= cy.next < end, so k < len.
        let mut k = (cy.next - lo) as usize;
        let mut j = cy.j as usize;
        // The rest of the current turn: its multiples lie within p - 1 bytes of k, inside `buf`.
        while j != 0 {
            buf[k] &= m[j];
            k += step(j);
            j = (j + 1) & 7;
        }
        let e1 = step(0);
        let e2 = e1 + step(1);
        let e3 = e2 + step(2);
        let e4 = e3 + step(3);
        let e5 = e4 + step(4);
        let e6 = e5 + step(5);
        let e7 = e6 + step(6);
        while k < len {
            // SAFETY: e1 <= ... <= e7 < p (the 8th multiple of a turn is 28q + ⌊29s/30⌋ -
            // ⌊s/30⌋ < 30q + s bytes after the 1st), k < len and p <= room = buf.len() - len:
            // every index below is < buf.len().
            unsafe {
                *buf.get_unchecked_mut(k) &= m[0];
                *buf.get_unchecked_mut(k + e1) &= m[1];
                *buf.get_unchecked_mut(k + e2) &= m[2];
                *buf.get_unchecked_mut(k + e3) &= m[3];
                *buf.get_unchecked_mut(k + e4) &= m[4];
                *buf.get_unchecked_mut(k + e5) &= m[5];
                *buf.get_unchecked_mut(k + e6) &= m[6];
                *buf.get_unchecked_mut(k + e7) &= m[7];
            }
            k += p;
        }
        cy.next = lo + k as u64;
        cy.j = 0;
    }
}

/// [`cross_small_overrun`] for every class.
#[inline(always)]
fn cross_wheel_overrun(buf: &mut [u8], len: usize, lo: u64, classes: &mut [Vec<Cycle>; 8]) {
    cross_small_overrun::<0>(buf, len, lo, &mut classes[0]);
    cross_small_overrun::<1>(buf, len, lo, &mut classes[1]);
    cross_small_overrun::<2>(buf, len, lo, &mut classes[2]);
    cross_small_overrun::<3>(buf, len, lo, &mut classes[3]);
    cross_small_overrun::<4>(buf, len, lo, &mut classes[4]);
    cross_small_overrun::<5>(buf, len, lo, &mut classes[5]);
    cross_small_overrun::<6>(buf, len, lo, &mut classes[6]);
    cross_small_overrun::<7>(buf, len, lo, &mut classes[7]);
}

/// Presieves `seg` (at byte `lo`) and restores the presieved primes if it holds them.
fn fill(seg: &mut [u8], lo: u64, presieve_max: u64) {
    presieve(seg, lo, presieve_max);
    if lo < 6 {
        restore_presieved(seg, lo, presieve_max);
    }
}

/// Sieves task `t` segment by segment and hands each finished segment to `visit`.
fn sieve_task(ctx: &Ctx<'_>, plan: &Plan, t: usize, mut visit: impl FnMut(&[u8])) -> Result<()> {
    let (lo, hi) = plan.task_range(t);
    let task_len = (hi - lo) as usize;
    // Only the primes with p² inside the task can have a multiple to cross off here.
    let reach = 30 * hi;
    let mut wheel: [[Vec<Cycle>; 8]; 2] = Default::default();
    for (size, classes) in plan.wheel.iter().enumerate() {
        for (c, qs) in classes.iter().enumerate() {
            for &q in qs {
                let p = 30 * u64::from(q) + R[c] as u64;
                if p * p >= reach {
                    break;
                }
                let (next, j) = first_multiple(p, lo);
                wheel[size][c].push(Cycle { next, q, j: j as u32 });
            }
        }
    }
    let segment_bytes = 1usize << plan.segment_shift;
    let segments = task_len.div_ceil(segment_bytes);
    let mut buckets = Buckets {
        lists: vec![Vec::new(); segments],
        spare: Vec::new(),
        task_len,
        segment_shift: plan.segment_shift,
    };
    for &p in &plan.large {
        let p = u64::from(p);
        if p * p >= reach {
            break;
        }
        let (next, j) = first_multiple(p, lo);
        if next < hi {
            let w = CLASS[(p % 30) as usize] * 8 + j;
            buckets.push((p / 30) as u32, (next - lo) as usize, w);
        }
    }

    // With the overrun, the small primes may write up to `pad` bytes past a segment: into a
    // carry that is ANDed into the start of the next segment.
    let pad = if plan.overrun { plan.small_span } else { 0 };
    let mut buf = crate::zeroed_vec::<u8>(segment_bytes.min(task_len) + pad, "a sieve segment")?;
    let mut carry = vec![0xFF_u8; pad];
    for s in 0..segments {
        ctx.check()?;
        let seg_lo = lo + (s * segment_bytes) as u64;
        let len = segment_bytes.min(task_len - s * segment_bytes);
        if plan.overrun {
            let area = &mut buf[..len + pad];
            area[len..].fill(0xFF);
            // Presieved so far: the chunk being crossed and `pad` bytes after it.
            let mut ready = 0;
            for c_lo in (0..len).step_by(plan.chunk) {
                let c_len = plan.chunk.min(len - c_lo);
                let want = (c_lo + c_len + pad).min(len);
                if want > ready {
                    fill(&mut area[ready..want], seg_lo + ready as u64, plan.presieve_max);
                    if ready == 0 {
                        for (b, c) in area.iter_mut().zip(&carry) {
                            *b &= *c;
                        }
                    }
                    ready = want;
                }
                cross_wheel_overrun(&mut area[c_lo..], c_len, seg_lo + c_lo as u64, &mut wheel[0]);
            }
            carry.copy_from_slice(&area[len..]);
        } else {
            let seg = &mut buf[..len];
            for (i, chunk) in seg.chunks_mut(plan.chunk).enumerate() {
                let chunk_lo = seg_lo + (i * plan.chunk) as u64;
                fill(chunk, chunk_lo, plan.presieve_max);
                cross_wheel(chunk, chunk_lo, &mut wheel[0]);
            }
        }
        let seg = &mut buf[..len];
        cross_wheel(seg, seg_lo, &mut wheel[1]);
        cross_large(seg, s, &mut buckets);
        if seg_lo + len as u64 == plan.total_bytes {
            // The last byte: keep only the integers <= n.
            let r = (plan.n % 30) as usize;
            let keep = (0..8).filter(|&j| R[j] <= r).fold(0u8, |m, j| m | 1 << j);
            seg[len - 1] &= keep;
        }
        visit(seg);
    }
    Ok(())
}

/// The first bytes (a chunk at byte `lo` < 6): 1 is not prime, and the presieved primes
/// 7 ..= `presieve_max` (bytes 0 to 5) are.
fn restore_presieved(seg: &mut [u8], lo: u64, presieve_max: u64) {
    if lo == 0 {
        seg[0] &= !1;
    }
    for p in small_primes(presieve_max).into_iter().skip(3) {
        let (b, r) = (u64::from(p / 30), (p % 30) as usize);
        if let Some(byte) = b.checked_sub(lo).and_then(|i| seg.get_mut(i as usize)) {
            *byte |= 1 << bit_of(r);
        }
    }
}

/// The number of primes among 2, 3, 5 that are <= n (the wheel leaves them out of the bitmap).
fn wheel_primes(n: u64) -> impl Iterator<Item = u64> {
    [2u64, 3, 5].into_iter().filter(move |&p| p <= n)
}

fn check_n(n: u64) -> Result<()> {
    if n > MAX_N {
        return Err(Error::InvalidArgument {
            arg: "n",
            message: format!("must be <= 10**15 (the largest n supported), got {n}"),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The kernels

/// The number of primes `<= n`, π(n).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `n > MAX_N`; [`Error::Cancelled`] if the call was cancelled.
pub fn count_primes(ctx: &Ctx<'_>, n: u64) -> Result<u64> {
    count_primes_tuned(ctx, n, Tuning::DEFAULT)
}

pub(crate) fn count_primes_tuned(ctx: &Ctx<'_>, n: u64, tuning: Tuning) -> Result<u64> {
    check_n(n)?;
    if n < 2 {
        return Ok(0);
    }
    let plan = Plan::new(n, tuning)?;
    let counts = ctx.map_tasks(plan.tasks, |t| {
        let mut count = 0;
        sieve_task(ctx, &plan, t, |seg| count += popcount(seg))?;
        Ok(count)
    })?;
    let mut total = wheel_primes(n).count() as u64;
    for c in counts {
        total += c?;
    }
    Ok(total)
}

/// An upper bound of π(n): 1.25506·n/ln n for n >= 17 (Rosser & Schoenfeld 1962), plus a margin.
fn pi_upper_bound(n: u64) -> u64 {
    if n < 17 {
        return n;
    }
    #[allow(clippy::cast_precision_loss)]
    let x = n as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bound = (1.25506 * x / x.ln()) as u64;
    bound.saturating_add(16)
}

/// The error for a list of primes that cannot be allocated.
pub fn too_large(n: u64, count: u64) -> Error {
    Error::OutOfMemory(format!(
        "the list of primes <= {n} (~{count} of them, {} bytes as uint64) cannot be allocated",
        count.saturating_mul(8)
    ))
}

/// The primes `<= n`, sieved and counted but not yet listed: the first half of [`primes`], for
/// a caller that allocates the output itself (the binding lets NumPy allocate it).
#[derive(Debug)]
pub struct Sieved {
    n: u64,
    task_bytes: u64,
    /// Each task's bitmap and its number of primes, in task order.
    tasks: Vec<(Vec<u8>, usize)>,
    len: usize,
}

/// Sieves `[0, n]` and keeps the bitmaps (`n / 30` bytes), ready for [`Sieved::write`].
///
/// An output of π(n)'s upper bound is reserved first (and released): if that much memory cannot
/// be had, this fails at once rather than after sieving.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `n > MAX_N`; [`Error::OutOfMemory`] if the list (or the bitmaps)
/// cannot be allocated; [`Error::Cancelled`] if the call was cancelled.
pub fn sieve(ctx: &Ctx<'_>, n: u64) -> Result<Sieved> {
    sieve_tuned(ctx, n, Tuning::DEFAULT)
}

pub(crate) fn sieve_tuned(ctx: &Ctx<'_>, n: u64, tuning: Tuning) -> Result<Sieved> {
    check_n(n)?;
    let bound = pi_upper_bound(n);
    let reserve = usize::try_from(bound).map_err(|_| too_large(n, bound))?;
    Vec::<u64>::new()
        .try_reserve_exact(reserve)
        .map_err(|_| too_large(n, bound))?;
    let head = wheel_primes(n).count();
    if n < 7 {
        return Ok(Sieved {
            n,
            task_bytes: 0,
            tasks: Vec::new(),
            len: head,
        });
    }
    let plan = Plan::new(n, tuning)?;
    let tasks = ctx.map_tasks(plan.tasks, |t| {
        let (lo, hi) = plan.task_range(t);
        let mut bitmap = Vec::new();
        bitmap
            .try_reserve_exact((hi - lo) as usize)
            .map_err(|_| too_large(n, bound))?;
        let mut count = 0;
        sieve_task(ctx, &plan, t, |seg| {
            count += popcount(seg);
            bitmap.extend_from_slice(seg);
        })?;
        Ok((bitmap, usize::try_from(count).map_err(|_| too_large(n, count))?))
    })?;
    let tasks: Vec<(Vec<u8>, usize)> = tasks.into_iter().collect::<Result<_>>()?;
    let len = tasks
        .iter()
        .try_fold(head, |acc, (_, c)| acc.checked_add(*c))
        .ok_or_else(|| too_large(n, bound))?;
    Ok(Sieved {
        n,
        task_bytes: plan.task_bytes,
        tasks,
        len,
    })
}

impl Sieved {
    /// π(n): the length of the list.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no primes `<= n` (n < 2).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the primes, in increasing order, into `out` (of exactly [`len`](Self::len)
    /// elements). Each task writes its own slice, in parallel.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `out` has the wrong length; [`Error::Cancelled`] if the call
    /// was cancelled (`out` is then partly written).
    pub fn write(&self, ctx: &Ctx<'_>, out: &mut [u64]) -> Result<()> {
        if out.len() != self.len {
            return Err(Error::InvalidArgument {
                arg: "out",
                message: format!("must have {} elements, got {}", self.len, out.len()),
            });
        }
        let head = wheel_primes(self.n).count();
        let (first, mut rest) = out.split_at_mut(head);
        for (slot, p) in first.iter_mut().zip(wheel_primes(self.n)) {
            *slot = p;
        }
        let mut slots = Vec::with_capacity(self.tasks.len());
        for (_, count) in &self.tasks {
            let (mine, tail) = rest.split_at_mut(*count);
            slots.push(Mutex::new(mine));
            rest = tail;
        }
        let written = ctx.map_tasks(self.tasks.len(), |t| {
            let mut slot = slots[t].lock().unwrap_or_else(PoisonError::into_inner);
            extract(&self.tasks[t].0, t as u64 * self.task_bytes, &mut slot)
        })?;
        for (t, w) in written.iter().enumerate() {
            if *w != self.tasks[t].1 {
                return Err(Error::Panic(format!(
                    "primes: task {t} found {w} primes, counted {}",
                    self.tasks[t].1
                )));
            }
        }
        Ok(())
    }
}

/// The primes `<= n`, in increasing order.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `n > MAX_N`; [`Error::OutOfMemory`] if the list cannot be
/// allocated; [`Error::Cancelled`] if the call was cancelled.
pub fn primes(ctx: &Ctx<'_>, n: u64) -> Result<Vec<u64>> {
    primes_tuned(ctx, n, Tuning::DEFAULT)
}

pub(crate) fn primes_tuned(ctx: &Ctx<'_>, n: u64, tuning: Tuning) -> Result<Vec<u64>> {
    let sieved = sieve_tuned(ctx, n, tuning)?;
    let mut out = crate::zeroed_vec::<u64>(sieved.len(), "the list of primes")
        .map_err(|_| too_large(n, sieved.len() as u64))?;
    sieved.write(ctx, &mut out)?;
    Ok(out)
}

/// Writes the integers of the set bits of `bitmap` (whose byte 0 is byte `lo` of the sieve) into
/// `out` from index 0, in increasing order; returns how many there were (if more than fit,
/// `out.len() + 1`: the caller's check fails).
fn extract(bitmap: &[u8], lo: u64, out: &mut [u64]) -> usize {
    let mut i = 0;
    let mut base = 30 * lo;
    for c in bitmap.chunks(8) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        let mut w = u64::from_le_bytes(b);
        while w != 0 {
            let v = base + VALUE[w.trailing_zeros() as usize];
            match out.get_mut(i) {
                Some(slot) => *slot = v,
                None => return out.len() + 1,
            }
            i += 1;
            w &= w - 1;
        }
        base += 240;
    }
    i
}

#[cfg(test)]
mod test;
