//! Monte Carlo estimate of π: [`monte_carlo_pi`] (and the hit count behind it, [`hits`]).
//!
//! # The algorithm, exactly
//!
//! `samples` points are drawn uniformly in `[0, 1)²`; the estimate is `4 · hits / samples`, where
//! `hits` counts the points with `x·x + y·y <= 1.0` (the closed unit quarter disc, evaluated in
//! `f64`: two rounded products and one rounded sum, never an FMA).
//!
//! * **Generator.** xoshiro256++ ([`Xoshiro256pp`]), Blackman and Vigna's reference
//!   `xoshiro256plusplus.c` transcribed here (module `xoshiro`): the same outputs, bit for bit, as
//!   the `rand_xoshiro` crate's `Xoshiro256PlusPlus`, which earlier versions used (the tests
//!   check it, and every layout below, against that crate).
//! * **Seeding.** [`Xoshiro256pp::seed_from_u64`]`(seed)`: the four state words are the first
//!   four outputs of SplitMix64 started at `seed` (the seeding the xoshiro authors recommend, and
//!   `rand_xoshiro`'s `seed_from_u64`).
//! * **Blocks.** The samples are cut into fixed blocks of [`BLOCK_SAMPLES`] = 2²⁰ samples (the
//!   last one shorter); block boundaries depend on `samples` only. A block is one task, or two
//!   (lanes 0..4 and 4..8, see below) for the blocks left over when the threads cannot all have
//!   the same number of whole ones: how a block is cut into tasks never changes what its lanes
//!   draw.
//! * **Streams.** Block `k` starts from the seeded state advanced by `k` calls of
//!   [`long_jump`](Xoshiro256pp::long_jump) (2¹⁹² steps each). Each block draws from
//!   [`LANES`] = 8 lanes: lane `j` is the block's state advanced by `j` calls of
//!   [`jump`](Xoshiro256pp::jump) (2¹²⁸ steps each).
//! * **Samples.** Within a block of `n` samples, sample `i` belongs to lane `i % 8`; each lane
//!   draws its samples in order, `x` then `y`, two consecutive outputs per sample, and maps an
//!   output `r` to `(r >> 11) · 2⁻⁵³` (53 random bits, exactly representable in `[0, 1)`). So
//!   lane `j` draws `n / 8` samples, plus one if `j < n % 8`.
//! * **Result.** Block hit counts are exact integers summed in `u64`; the estimate is
//!   `4.0 · hits / samples` in `f64`, the correctly rounded value of `4·hits/samples` for every
//!   `samples < 2⁵³` (the conversions to `f64` are exact there).
//!
//! # How it runs
//!
//! The [`LANES`] generators of a block are held lane-parallel (structure of arrays: each of the
//! four state words is an array of eight lanes), so one step of all lanes is a few whole-vector
//! shifts, XORs and adds. With AVX2 (module `avx2`, explicit intrinsics) the lanes are two
//! `__m256i` per state word; the outputs become `f64` through an exact magic-number split (AVX2
//! has no 64-bit integer → `f64` conversion; the module documents why the result is exactly
//! `(r >> 11) · 2⁻⁵³`), and the disc test is the same separate multiplies, add and `<=`. Without
//! AVX2 the portable kernel does the same steps and the same split conversion in plain Rust
//! (which LLVM vectorizes as far as the instruction set allows). Both give the same counts, bit
//! for bit (tested). One core here (Zen 3; side by side, on a loaded machine): ~900 M samples/s
//! with AVX2 and ~330 M portable (SSE2), against ~250 M for the previous kernel over
//! `rand_xoshiro`, whose private state kept the stepping scalar.
//!
//! # Why the streams are independent
//!
//! This is the use the generator's authors document for `jump` and `long_jump`: from one seeded
//! state, `long_jump` gives 2⁶⁴ starting points 2¹⁹² steps apart, and `jump` gives 2⁶⁴
//! subsequences 2¹²⁸ steps apart from each of them. Lane `(k, j)` is the subsequence that starts
//! at step `k·2¹⁹² + j·2¹²⁸` of one sequence of period 2²⁵⁶ − 1, and it uses at most 2¹⁸ outputs
//! (2¹⁷ samples of two outputs), far fewer than the 2¹²⁸ steps to the next lane. So no two lanes
//! of one call ever share an output, for any `samples` below 2⁶⁴ (at most 2⁴⁴ blocks < 2⁶⁴). By
//! contrast, hashing `(seed, k)` into a fresh seed per block would only make overlaps *unlikely*.
//!
//! # Determinism
//!
//! What each block computes depends on `(samples, seed, k)` only, and the total is a sum of exact
//! integers, so the estimate is bit-identical for every `threads=` value, pool size and CPU
//! (the AVX2 kernel does the same integer and IEEE operations as the portable one). The long-jump
//! chain is sequential — block `k` needs `k` long jumps — so the calling thread walks it, 250 ns
//! a block, [`ROUND_BLOCKS`] blocks at a time, and hands each round to the pool: memory stays
//! bounded whatever `samples` is, and the sequential part is ~0.02 % of the work.
//!
//! # Cancellation
//!
//! A block takes ~1 ms on one core; cancellation is checked between blocks (by
//! `Ctx::map_long_tasks`, which shares even 2 blocks from the start) and between rounds, so even
//! `samples = 2⁶⁴ − 1` (centuries of work) stops promptly on Ctrl-C.

use crate::engine::Ctx;
use crate::{simd, Error, Result};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(test)]
mod test;
mod xoshiro;

use xoshiro::Lanes;
pub use xoshiro::Xoshiro256pp;

/// Samples per block: the unit of work, of cancellation and of determinism. 2²⁰ samples take
/// ~1 ms on one core, which keeps the per-block cost (7 jumps, one long jump, one task
/// hand-out: ~2 µs) near 0.2 % and Ctrl-C latency far below the 20 ms poll.
pub const BLOCK_SAMPLES: u64 = 1 << 20;

/// Independent generators per block, stepped together: two AVX2 vectors of four lanes per state
/// word, or eight independent dependency chains in the portable build.
pub const LANES: usize = 8;

/// Lanes in half a block: one AVX2 vector per state word.
const HALF: usize = LANES / 2;

/// Runs shorter than this are never split (2¹⁴ samples, ~20 µs on one core): below it, waking a
/// worker for a half costs about what the half saves.
pub const SPLIT_MIN_SAMPLES: u64 = 1 << 14;

/// Blocks whose start states the calling thread prepares before handing them to the pool
/// (2³⁰ samples, ~0.5 s of work on two cores; 32 KiB of states).
pub const ROUND_BLOCKS: usize = 1024;

/// The number of blocks `samples` is cut into.
#[inline]
pub fn block_count(samples: u64) -> u64 {
    samples.div_ceil(BLOCK_SAMPLES)
}

/// The number of samples in block `k` of a run of `samples` samples (0 past the last block).
#[inline]
pub fn block_len(samples: u64, k: u64) -> u64 {
    let start = k.saturating_mul(BLOCK_SAMPLES);
    samples.saturating_sub(start).min(BLOCK_SAMPLES)
}

/// The generator of lane `lane` of block `block` for `seed`, computed from scratch (`block` long
/// jumps and `lane` jumps). Documents the stream layout; the kernel walks the chain once instead.
pub fn lane_stream(seed: u64, block: u64, lane: usize) -> Xoshiro256pp {
    let mut g = Xoshiro256pp::seed_from_u64(seed);
    for _ in 0..block {
        g.long_jump();
    }
    for _ in 0..lane {
        g.jump();
    }
    g
}

/// The uniform `f64` in `[0, 1)` of an output `r`: `(r >> 11) · 2⁻⁵³`, exactly (every value is a
/// multiple of 2⁻⁵³), computed as the AVX2 kernel does, with two exact magic-number steps (see
/// module `avx2`): integer operations, one subtraction and one addition, which LLVM vectorizes
/// where a 64-bit integer → `f64` conversion has no vector instruction (the tests check it
/// against `(r >> 11) as f64 * 2⁻⁵³`).
#[inline(always)]
fn unit_split(r: u64) -> f64 {
    let hi = f64::from_bits((r >> 32) | ((1023 + 20) << 52));
    let lo = f64::from_bits((r & 0xFFFF_F800) | ((1023 - 12) << 52));
    (hi - (1_048_576.0 + 1.0 / 4096.0)) + lo
}

/// True when the point drawn from the two outputs `(rx, ry)` lies in the closed quarter disc.
#[inline(always)]
fn inside_split(rx: u64, ry: u64) -> bool {
    let (x, y) = (unit_split(rx), unit_split(ry));
    x * x + y * y <= 1.0
}

/// The hits that the `N` lanes `first..first + N` of a block of `len` samples draw (the block's
/// sample `i` is lane `i % 8`'s), portable Rust over the lane-parallel state: a whole block
/// (`N = 8`, `first = 0`) or half of one. The path of CPUs without AVX2, and the tests' check of
/// the AVX2 one.
struct PortableHits<const N: usize = LANES> {
    lanes: Lanes<N>,
    len: u64,
    first: usize,
}

impl<const N: usize> simd::Kernel for PortableHits<N> {
    type Output = u64;

    #[inline(always)]
    fn run(self) -> u64 {
        let PortableHits {
            mut lanes,
            len,
            first,
        } = self;
        let mut hits = [0u64; N];
        // Whole rounds: one sample (x then y) from every lane.
        for _ in 0..len / LANES as u64 {
            let xs = lanes.next();
            let ys = lanes.next();
            for j in 0..N {
                hits[j] += u64::from(inside_split(xs[j], ys[j]));
            }
        }
        // The rest (fewer than LANES samples): one more sample from each of the block's first
        // `rest` lanes, those of them held here.
        #[allow(clippy::cast_possible_truncation)] // < LANES
        let rest = (len % LANES as u64) as usize;
        let extra = rest.saturating_sub(first).min(N);
        if extra > 0 {
            let xs = lanes.next();
            let ys = lanes.next();
            for j in 0..extra {
                hits[j] += u64::from(inside_split(xs[j], ys[j]));
            }
        }
        hits.iter().sum()
    }
}

/// What one task computes: a whole block, or one half of it (lanes `0..4` or `4..8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Whole,
    Half(usize),
}

/// The hits of `part` of a block of `len` samples whose lane 0 starts at `start`.
fn part_hits(start: &Xoshiro256pp, len: u64, part: Part) -> u64 {
    // Lanes past the last one used (len < LANES, or past the half) are never drawn from: skip
    // their jumps.
    let in_block = usize::try_from(len).map_or(LANES, |n| n.min(LANES));
    let (first, end) = match part {
        Part::Whole => (0, LANES),
        Part::Half(h) => (h * HALF, h * HALF + HALF),
    };
    let lanes = Lanes::jumped(start, in_block.min(end));
    #[cfg(target_arch = "x86_64")]
    {
        if simd::avx2_enabled() {
            // SAFETY: `avx2::block_hits` and `avx2::quad_hits` only require AVX2, which the CPU
            // has (checked above).
            return unsafe {
                match part {
                    Part::Whole => avx2::block_hits(&lanes, len),
                    Part::Half(_) => avx2::quad_hits(&lanes, first, len),
                }
            };
        }
    }
    match part {
        Part::Whole => simd::dispatch(PortableHits { lanes, len, first }),
        Part::Half(_) => simd::dispatch(PortableHits {
            lanes: lanes.group::<HALF>(first),
            len,
            first,
        }),
    }
}

/// How many of a round's `blocks` blocks (its last ones) are cut into halves, for a run of
/// `samples` samples on up to `team` threads: the blocks left over once every thread has the same
/// number of whole ones (`blocks % team`), so that the round ends evenly; none if the run is too
/// short for a half to be worth a task ([`SPLIT_MIN_SAMPLES`]). One block on two threads takes
/// 0.58 of its time instead of all of it; three take 1.58 blocks' time instead of 2.
fn blocks_to_split(samples: u64, blocks: usize, team: usize) -> usize {
    if team > 1 && samples >= SPLIT_MIN_SAMPLES {
        blocks % team
    } else {
        0
    }
}

/// The number of the `samples` points of stream `seed` that fall in the unit quarter disc (see
/// the [module documentation](self) for the exact algorithm).
///
/// # Errors
///
/// [`Error::InvalidArgument`] for `samples == 0`; [`Error::Cancelled`] if the call was cancelled.
pub fn hits(ctx: &Ctx<'_>, samples: u64, seed: u64) -> Result<u64> {
    hits_in_rounds(ctx, samples, seed, ROUND_BLOCKS)
}

/// [`hits`] with the round size as a parameter (tests check that it does not matter).
fn hits_in_rounds(ctx: &Ctx<'_>, samples: u64, seed: u64, round_blocks: usize) -> Result<u64> {
    if samples == 0 {
        return Err(Error::InvalidArgument {
            arg: "samples",
            message: "must be an int >= 1, got 0".to_owned(),
        });
    }
    let blocks = block_count(samples);
    let team = ctx.team_size();
    let round_blocks = round_blocks.max(1);
    // The start of the next block not yet handed out: the seeded state, long-jumped once a block.
    let mut next = Xoshiro256pp::seed_from_u64(seed);
    let per_round = usize::try_from(blocks).map_or(round_blocks, |b| b.min(round_blocks));
    let mut starts: Vec<Xoshiro256pp> = Vec::with_capacity(per_round);
    let mut total = 0u64;
    let mut first = 0u64;
    while first < blocks {
        ctx.check()?;
        let n = usize::try_from(blocks - first).map_or(round_blocks, |left| left.min(round_blocks));
        starts.clear();
        for i in 0..n {
            starts.push(next.clone());
            if first + (i as u64) + 1 < blocks {
                next.long_jump(); // not after the last block: 225 ns of a tiny call
            }
        }
        // Whole blocks first, then the halves: the short tasks even out the end of the round.
        let whole = n - blocks_to_split(samples, n, team);
        let counts = ctx.map_long_tasks(whole + 2 * (n - whole), |t| {
            let (i, part) = if t < whole {
                (t, Part::Whole)
            } else {
                (whole + (t - whole) / 2, Part::Half((t - whole) % 2))
            };
            part_hits(&starts[i], block_len(samples, first + i as u64), part)
        })?;
        // Exact: the total never exceeds `samples`.
        total += counts.iter().sum::<u64>();
        first += n as u64;
    }
    Ok(total)
}

/// The Monte Carlo estimate of π from `samples` points of stream `seed`: `4 · hits / samples`
/// (see the [module documentation](self)). The same `(samples, seed)` gives the bit-identical
/// estimate for every thread setting.
///
/// # Errors
///
/// As [`hits`].
pub fn monte_carlo_pi(ctx: &Ctx<'_>, samples: u64, seed: u64) -> Result<f64> {
    let h = hits(ctx, samples, seed)?;
    #[allow(clippy::cast_precision_loss)] // exact below 2^53 samples; within an ulp beyond
    let estimate = 4.0 * h as f64 / samples as f64;
    Ok(estimate)
}
