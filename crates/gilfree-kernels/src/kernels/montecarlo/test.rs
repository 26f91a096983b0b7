use std::time::{Duration, Instant};

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};
use crate::simd::Kernel;

// --- an independent reference, written from Blackman & Vigna's C code --------------------------

/// splitmix64.c
struct RefSplitMix(u64);

impl RefSplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256plusplus.c: next(), jump(), long_jump().
#[derive(Clone)]
struct RefXoshiro([u64; 4]);

impl RefXoshiro {
    fn seeded(seed: u64) -> Self {
        let mut sm = RefSplitMix(seed);
        RefXoshiro([sm.next(), sm.next(), sm.next(), sm.next()])
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn apply(&mut self, poly: [u64; 4]) {
        let mut acc = [0u64; 4];
        for word in poly {
            for b in 0..64 {
                if word & (1u64 << b) != 0 {
                    for (a, s) in acc.iter_mut().zip(self.0) {
                        *a ^= s;
                    }
                }
                self.next();
            }
        }
        self.0 = acc;
    }

    fn jump(&mut self) {
        self.apply([
            0x180e_c6d3_3cfd_0aba,
            0xd5a6_1266_f0c9_392c,
            0xa958_2618_e03f_c9aa,
            0x39ab_dc45_29b1_661c,
        ]);
    }

    fn long_jump(&mut self) {
        self.apply([
            0x76e1_5d3e_fefd_cbbf,
            0xc500_4e44_1c52_2fb3,
            0x7771_0069_854e_e241,
            0x3910_9bb0_2acb_e635,
        ]);
    }
}

/// The hits of the documented algorithm, one sample at a time, from the reference generator.
fn reference_hits(samples: u64, seed: u64) -> u64 {
    let mut block_start = RefXoshiro::seeded(seed);
    let mut hits = 0;
    let mut done = 0;
    while done < samples {
        let n = (samples - done).min(BLOCK_SAMPLES);
        let mut lanes = Vec::new();
        let mut g = block_start.clone();
        for _ in 0..LANES {
            lanes.push(g.clone());
            g.jump();
        }
        for i in 0..n {
            let lane = &mut lanes[(i % LANES as u64) as usize];
            let x = (lane.next() >> 11) as f64 / 9_007_199_254_740_992.0;
            let y = (lane.next() >> 11) as f64 / 9_007_199_254_740_992.0;
            if x * x + y * y <= 1.0 {
                hits += 1;
            }
        }
        done += n;
        block_start.long_jump();
    }
    hits
}

/// The documented mapping of an output to `[0, 1)`: `(r >> 11) · 2⁻⁵³` (exact).
fn unit(r: u64) -> f64 {
    (r >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// The documented disc test: two rounded products, one rounded sum, `<= 1.0`.
fn inside(rx: u64, ry: u64) -> bool {
    let (x, y) = (unit(rx), unit(ry));
    x * x + y * y <= 1.0
}

// --- the previous implementation (rand_xoshiro, scalar stepping): the kernel's reference ------

/// The kernel as it was before the lane-parallel generator, verbatim but for the names: the
/// `rand_xoshiro` generator, eight lanes stepped one after the other.
mod previous {
    use rand_core::{RngCore, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::super::{block_count, block_len, LANES};
    use super::inside;
    use crate::engine::Ctx;
    use crate::{simd, Result};

    struct BlockHits {
        lanes: [Xoshiro256PlusPlus; LANES],
        len: u64,
    }

    impl simd::Kernel for BlockHits {
        type Output = u64;

        #[inline(always)]
        fn run(self) -> u64 {
            let BlockHits { mut lanes, len } = self;
            let mut hits = [0u64; LANES];
            for _ in 0..len / LANES as u64 {
                let mut xs = [0u64; LANES];
                let mut ys = [0u64; LANES];
                for j in 0..LANES {
                    xs[j] = lanes[j].next_u64();
                    ys[j] = lanes[j].next_u64();
                }
                for j in 0..LANES {
                    hits[j] += u64::from(inside(xs[j], ys[j]));
                }
            }
            let rest = (len % LANES as u64) as usize;
            for (g, h) in lanes.iter_mut().zip(hits.iter_mut()).take(rest) {
                let rx = g.next_u64();
                let ry = g.next_u64();
                *h += u64::from(inside(rx, ry));
            }
            hits.iter().sum()
        }
    }

    fn block_hits(start: &Xoshiro256PlusPlus, len: u64) -> u64 {
        let used = usize::try_from(len).map_or(LANES, |n| n.min(LANES));
        let mut next = start.clone();
        let lanes: [Xoshiro256PlusPlus; LANES] = std::array::from_fn(|j| {
            let g = next.clone();
            if j + 1 < used {
                next.jump();
            }
            g
        });
        simd::dispatch(BlockHits { lanes, len })
    }

    /// The previous `hits` (one round per call: rounds never changed the result).
    pub(super) fn hits(ctx: &Ctx<'_>, samples: u64, seed: u64) -> Result<u64> {
        let blocks = usize::try_from(block_count(samples)).unwrap();
        let mut next = Xoshiro256PlusPlus::seed_from_u64(seed);
        let starts: Vec<Xoshiro256PlusPlus> = (0..blocks)
            .map(|_| {
                let g = next.clone();
                next.long_jump();
                g
            })
            .collect();
        let counts = ctx.map_tasks(blocks, |i| block_hits(&starts[i], block_len(samples, i as u64)))?;
        Ok(counts.iter().sum())
    }
}

fn outputs(g: &mut Xoshiro256PlusPlus, n: usize) -> Vec<u64> {
    (0..n).map(|_| g.next_u64()).collect()
}

fn ref_outputs(g: &mut RefXoshiro, n: usize) -> Vec<u64> {
    (0..n).map(|_| g.next()).collect()
}

fn our_outputs(g: &mut Xoshiro256pp, n: usize) -> Vec<u64> {
    (0..n).map(|_| g.next_u64()).collect()
}

/// A few fixed seeds and pseudo-random ones (SplitMix64 of a constant: reproducible).
fn many_seeds() -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        42,
        0x0123_4567_89ab_cdef,
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
    ];
    let mut sm = RefSplitMix(0x5eed);
    v.extend((0..24).map(|_| sm.next()));
    v
}

// --- the generator crate against the reference ------------------------------------------------

#[test]
fn crate_generator_gives_the_reference_c_outputs() {
    // State {1, 2, 3, 4}: the first outputs of xoshiro256plusplus.c (as in rand_xoshiro's tests).
    let mut bytes = [0u8; 32];
    for (i, w) in [1u64, 2, 3, 4].iter().enumerate() {
        bytes[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    let expected = [
        41_943_041,
        58_720_359,
        3_588_806_011_781_223,
        3_591_011_842_654_386,
    ];
    let mut g = Xoshiro256PlusPlus::from_seed(bytes);
    assert_eq!(outputs(&mut g, 4), expected);
    assert_eq!(ref_outputs(&mut RefXoshiro([1, 2, 3, 4]), 4), expected);
}

#[test]
fn seeding_is_splitmix64() {
    // splitmix64.c started at 0: the well-known first output.
    assert_eq!(RefSplitMix(0).next(), 0xe220_a839_7b1d_cdaf);
    for seed in [0, 1, 42, 0x0123_4567_89ab_cdef, u64::MAX] {
        let mut g = Xoshiro256PlusPlus::seed_from_u64(seed);
        assert_eq!(
            outputs(&mut g, 16),
            ref_outputs(&mut RefXoshiro::seeded(seed), 16),
            "seed {seed}"
        );
    }
}

#[test]
fn crate_jumps_match_the_reference() {
    for seed in [0, 7, u64::MAX] {
        let (mut g, mut r) = (Xoshiro256PlusPlus::seed_from_u64(seed), RefXoshiro::seeded(seed));
        for step in 0..3 {
            g.jump();
            r.jump();
            assert_eq!(
                outputs(&mut g.clone(), 8),
                ref_outputs(&mut r.clone(), 8),
                "jump {step}"
            );
            g.long_jump();
            r.long_jump();
            assert_eq!(
                outputs(&mut g.clone(), 8),
                ref_outputs(&mut r.clone(), 8),
                "long_jump {step}"
            );
        }
    }
}

#[test]
fn lane_stream_is_the_documented_layout() {
    let mut r = RefXoshiro::seeded(5);
    r.long_jump();
    r.long_jump();
    r.jump();
    r.jump();
    r.jump();
    assert_eq!(our_outputs(&mut lane_stream(5, 2, 3), 8), ref_outputs(&mut r, 8));
}

// --- our generator against the crate and the reference ----------------------------------------

#[test]
fn our_generator_gives_the_crate_outputs_after_seeding() {
    for seed in many_seeds() {
        let ours = our_outputs(&mut Xoshiro256pp::seed_from_u64(seed), 5000);
        let theirs = outputs(&mut Xoshiro256PlusPlus::seed_from_u64(seed), 5000);
        assert_eq!(ours, theirs, "seed {seed}");
        assert_eq!(
            ours[..64],
            ref_outputs(&mut RefXoshiro::seeded(seed), 64),
            "seed {seed}"
        );
    }
}

#[test]
fn our_jumps_give_the_crate_outputs() {
    for seed in many_seeds() {
        let (mut ours, mut theirs) = (
            Xoshiro256pp::seed_from_u64(seed),
            Xoshiro256PlusPlus::seed_from_u64(seed),
        );
        // Interleaved jumps, long jumps, and draws between them (the state mid-stream).
        for step in 0..6 {
            ours.jump();
            theirs.jump();
            assert_eq!(
                our_outputs(&mut ours.clone(), 2000),
                outputs(&mut theirs.clone(), 2000),
                "seed {seed}, jump {step}"
            );
            ours.long_jump();
            theirs.long_jump();
            assert_eq!(
                our_outputs(&mut ours, 1000 + step),
                outputs(&mut theirs, 1000 + step),
                "seed {seed}, long_jump {step}"
            );
        }
    }
    // k long jumps then j jumps from the seed: the layout of lane (k, j), the crate's way.
    for seed in [0, 1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
        for block in [0, 1, 2, 5, 17] {
            for lane in 0..LANES {
                let mut theirs = Xoshiro256PlusPlus::seed_from_u64(seed);
                for _ in 0..block {
                    theirs.long_jump();
                }
                for _ in 0..lane {
                    theirs.jump();
                }
                assert_eq!(
                    our_outputs(&mut lane_stream(seed, block, lane), 1000),
                    outputs(&mut theirs, 1000),
                    "seed {seed}, block {block}, lane {lane}"
                );
            }
        }
    }
}

#[test]
fn lane_parallel_stepping_is_eight_generators() {
    for seed in many_seeds() {
        for used in [1, 3, LANES] {
            let start = Xoshiro256pp::seed_from_u64(seed);
            let mut lanes = Lanes::jumped(&start, used);
            let mut singles: Vec<Xoshiro256pp> = (0..LANES)
                .map(|j| lane_stream(seed, 0, j.min(used.max(1) - 1)))
                .collect();
            for i in 0..3000 {
                let out = lanes.next();
                for (j, g) in singles.iter_mut().enumerate() {
                    assert_eq!(out[j], g.next_u64(), "seed {seed}, used {used}, lane {j}, {i}");
                }
            }
        }
    }
}

// --- the kernel against the previous implementation -------------------------------------------

/// Sample counts that cover every tail length, block edges and several blocks.
fn sample_counts() -> Vec<u64> {
    let b = BLOCK_SAMPLES;
    let mut v: Vec<u64> = (1..=20).collect();
    v.extend([63, 64, 65, 1000, 12_345, b / 2 + 7]);
    v.extend([b - 1, b, b + 1, b + 7, 2 * b - 3, 2 * b, 3 * b + 5, 4 * b + 13]);
    v
}

#[test]
fn hits_match_the_previous_implementation() {
    let caller = ctx(Threads::Caller);
    let pool = ctx(Threads::Pool);
    let mut seeds = many_seeds();
    seeds.truncate(12);
    for samples in sample_counts() {
        // The large counts with fewer seeds: the previous kernel is slow.
        let n_seeds = if samples > 1 << 16 { 3 } else { seeds.len() };
        for &seed in &seeds[..n_seeds] {
            let expected = previous::hits(&caller, samples, seed).unwrap();
            for c in [&caller, &pool] {
                assert_eq!(hits(c, samples, seed).unwrap(), expected, "{samples} {seed}");
                #[allow(clippy::cast_precision_loss)]
                let pi = 4.0 * expected as f64 / samples as f64;
                assert_eq!(
                    monte_carlo_pi(c, samples, seed).unwrap().to_bits(),
                    pi.to_bits(),
                    "{samples} {seed}"
                );
            }
        }
    }
}

#[test]
fn the_benchmark_size_matches_the_previous_implementation() {
    let samples = 100_000_000;
    let expected = previous::hits(&ctx(Threads::Pool), samples, 0).unwrap();
    for t in [Threads::Caller, Threads::Pool] {
        assert_eq!(hits(&ctx(t), samples, 0).unwrap(), expected, "{t:?}");
    }
}

// --- the AVX2 kernel against the portable one -------------------------------------------------

/// Outputs that exercise the edges of the split conversion, and random ones.
fn conversion_inputs() -> Vec<u64> {
    let mut sm = RefSplitMix(3);
    let mut rs: Vec<u64> = vec![
        0,
        1,
        (1 << 11) - 1,
        1 << 11,
        (1 << 32) - 1,
        1 << 32,
        0x0000_0000_ffff_f800,
        0xffff_ffff_0000_0000,
        0x8000_0000_0000_0000,
        u64::MAX - (1 << 11),
        u64::MAX,
    ];
    rs.extend((0..100_000).map(|_| sm.next()));
    rs.extend((0..1000).map(|_| sm.next() >> (sm.next() % 64)));
    rs.extend((0..64).flat_map(|b| [1u64 << b, u64::MAX >> b, u64::MAX << b]));
    rs
}

#[test]
fn portable_blocks_match_the_previous_kernel() {
    let caller = ctx(Threads::Caller);
    let mut lens: Vec<u64> = (1..=40).collect();
    lens.extend([1000, 4097, 65_543, BLOCK_SAMPLES]);
    for seed in many_seeds().into_iter().take(6) {
        for &len in &lens {
            let used = usize::try_from(len).unwrap().min(LANES);
            let lanes = Lanes::jumped(&Xoshiro256pp::seed_from_u64(seed), used);
            // A run of at most one block is block 0, whose lane 0 starts at the seeded state.
            let expected = previous::hits(&caller, len, seed).unwrap();
            assert_eq!(
                PortableHits { lanes, len, first: 0 }.run(),
                expected,
                "seed {seed}, len {len}"
            );
        }
    }
}

#[test]
fn split_conversion_is_exact() {
    for r in conversion_inputs() {
        assert_eq!(unit_split(r).to_bits(), unit(r).to_bits(), "{r:#x}");
        assert_eq!(unit(r), (r >> 11) as f64 / 9_007_199_254_740_992.0, "{r:#x}");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_conversion_is_exact() {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return;
    }
    let rs = conversion_inputs();
    for chunk in rs.chunks(4) {
        let mut r = [0u64; 4];
        r[..chunk.len()].copy_from_slice(chunk);
        // SAFETY: the CPU has AVX2 (checked above).
        let got = unsafe { avx2::unit4(r) };
        for k in 0..4 {
            assert_eq!(got[k].to_bits(), unit(r[k]).to_bits(), "{:#x}", r[k]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_and_portable_blocks_give_the_same_counts() {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return;
    }
    let mut lens: Vec<u64> = (0..=40).collect();
    lens.extend([1000, 4095, 4096, 4097, 65_543, BLOCK_SAMPLES - 1, BLOCK_SAMPLES]);
    for seed in many_seeds().into_iter().take(10) {
        for &len in &lens {
            let used = usize::try_from(len).unwrap().min(LANES);
            let lanes = Lanes::jumped(&Xoshiro256pp::seed_from_u64(seed), used);
            // SAFETY: the CPU has AVX2 (checked above).
            let fast = unsafe { avx2::block_hits(&lanes, len) };
            let portable = PortableHits { lanes, len, first: 0 }.run();
            assert_eq!(fast, portable, "seed {seed}, len {len}");
        }
    }
}

// --- the kernel against the reference ---------------------------------------------------------

#[test]
fn hits_match_the_scalar_reference() {
    let b = BLOCK_SAMPLES;
    let split = SPLIT_MIN_SAMPLES;
    for samples in [
        1,
        2,
        7,
        8,
        9,
        15,
        1000,
        12_345,
        split - 1,
        split,
        split + 3,
        b - 1,
        b,
        b + 1,
        3 * b + 13,
        5 * b + 5,
    ] {
        for seed in [0, 1, u64::MAX] {
            let expected = reference_hits(samples, seed);
            for t in [Threads::Caller, Threads::Pool] {
                assert_eq!(
                    hits(&ctx(t), samples, seed).unwrap(),
                    expected,
                    "{samples} {seed} {t:?}"
                );
            }
        }
    }
}

#[test]
fn known_values() {
    // Pinned outputs of this exact algorithm, also computed by the independent pure-Python
    // reimplementation in tests/test_montecarlo.py: a change here changes every user's results.
    let c = ctx(Threads::Pool);
    assert_eq!(hits(&c, 1000, 42).unwrap(), 785);
    assert_eq!(hits(&c, 12_345, u64::MAX).unwrap(), 9746);
    assert_eq!(hits(&c, BLOCK_SAMPLES + 5, 3).unwrap(), 823_046);
    assert_eq!(monte_carlo_pi(&c, 1000, 42).unwrap(), 4.0 * 785.0 / 1000.0);
    assert_eq!(monte_carlo_pi(&c, 1_000_000, 42).unwrap(), 3.142212);
}

#[test]
fn block_layout() {
    assert_eq!(block_count(1), 1);
    assert_eq!(block_count(BLOCK_SAMPLES), 1);
    assert_eq!(block_count(BLOCK_SAMPLES + 1), 2);
    assert_eq!(block_count(u64::MAX), 1 << 44);
    assert_eq!(block_len(BLOCK_SAMPLES + 1, 0), BLOCK_SAMPLES);
    assert_eq!(block_len(BLOCK_SAMPLES + 1, 1), 1);
    assert_eq!(block_len(BLOCK_SAMPLES + 1, 2), 0);
    assert_eq!(block_len(u64::MAX, (1 << 44) - 1), BLOCK_SAMPLES - 1);
    assert_eq!(block_len(u64::MAX, u64::MAX), 0);
}

#[test]
fn halves_add_up_to_the_whole_block() {
    let mut lens: Vec<u64> = (0..=40).collect();
    lens.extend([
        1000,
        4095,
        4097,
        SPLIT_MIN_SAMPLES + 3,
        65_543,
        BLOCK_SAMPLES - 1,
        BLOCK_SAMPLES,
    ]);
    let run = || {
        let mut v = vec![];
        for seed in many_seeds().into_iter().take(6) {
            let start = Xoshiro256pp::seed_from_u64(seed);
            for &len in &lens {
                let whole = part_hits(&start, len, Part::Whole);
                let halves = part_hits(&start, len, Part::Half(0)) + part_hits(&start, len, Part::Half(1));
                assert_eq!(halves, whole, "seed {seed}, len {len}");
                v.push(whole);
            }
        }
        v
    };
    // Both kernels: AVX2 (where the CPU has it) and the portable one.
    assert_eq!(run(), crate::simd::with_baseline(run));
}

#[test]
fn the_blocks_left_over_are_cut_into_halves() {
    let b = BLOCK_SAMPLES;
    assert_eq!(blocks_to_split(SPLIT_MIN_SAMPLES - 1, 1, 2), 0);
    assert_eq!(blocks_to_split(SPLIT_MIN_SAMPLES, 1, 2), 1);
    assert_eq!(blocks_to_split(SPLIT_MIN_SAMPLES, 1, 1), 0);
    assert_eq!(blocks_to_split(2 * b, 2, 2), 0);
    assert_eq!(blocks_to_split(3 * b, 3, 2), 1);
    assert_eq!(blocks_to_split(7 * b, 7, 4), 3);
}

#[test]
fn identical_for_every_thread_setting_and_round_size() {
    for samples in [20 * BLOCK_SAMPLES + 12_345, 5 * BLOCK_SAMPLES + 77, 40_000] {
        identical_for(samples);
    }
}

fn identical_for(samples: u64) {
    let reference = monte_carlo_pi(&ctx(Threads::Caller), samples, 3).unwrap();
    for t in settings() {
        let pi = monte_carlo_pi(&ctx(t), samples, 3).unwrap();
        assert_eq!(pi.to_bits(), reference.to_bits(), "{t:?}");
    }
    let h = hits(&ctx(Threads::Caller), samples, 3).unwrap();
    for rounds in [1, 2, 3, 7, 21, 22] {
        for t in [Threads::Caller, Threads::Pool] {
            assert_eq!(
                hits_in_rounds(&ctx(t), samples, 3, rounds).unwrap(),
                h,
                "{rounds} {t:?}"
            );
        }
    }
}

#[test]
fn baseline_and_avx2_give_the_same_counts() {
    let run =
        || [0u64, 9, 1 << 40].map(|seed| hits(&ctx(Threads::Caller), 2 * BLOCK_SAMPLES + 5, seed).unwrap());
    let fast = run();
    let baseline = crate::simd::with_baseline(run);
    assert_eq!(fast, baseline, "{} vs baseline", crate::simd::active_isa());
}

#[test]
fn estimate_is_within_five_sigma_of_pi() {
    let n = 10_000_000u64;
    let p = std::f64::consts::FRAC_PI_4;
    let sigma = 4.0 * (p * (1.0 - p) / n as f64).sqrt();
    let c = ctx(Threads::Pool);
    let mut seen = Vec::new();
    for seed in 0..5 {
        let pi = monte_carlo_pi(&c, n, seed).unwrap();
        assert!(
            (pi - std::f64::consts::PI).abs() < 5.0 * sigma,
            "seed {seed}: {pi}"
        );
        assert!(!seen.contains(&pi.to_bits()), "seed {seed} repeats an estimate");
        seen.push(pi.to_bits());
    }
}

#[test]
fn estimate_is_four_hits_over_samples() {
    let c = ctx(Threads::Pool);
    for samples in [1, 3, 1000, BLOCK_SAMPLES + 3] {
        let h = hits(&c, samples, 11).unwrap();
        let pi = monte_carlo_pi(&c, samples, 11).unwrap();
        assert_eq!(pi, 4.0 * h as f64 / samples as f64);
    }
    // One sample is a hit or not: 4.0 or 0.0.
    for seed in 0..20 {
        let pi = monte_carlo_pi(&c, 1, seed).unwrap();
        assert!(pi == 4.0 || pi == 0.0, "{pi}");
    }
}

#[test]
fn zero_samples_is_an_invalid_argument() {
    let err = hits(&ctx(Threads::Pool), 0, 0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { arg: "samples", .. }),
        "{err:?}"
    );
}

#[test]
fn a_cancelled_call_stops() {
    let c = ctx(Threads::Pool);
    c.cancel();
    assert_eq!(monte_carlo_pi(&c, 1 << 30, 0), Err(Error::Cancelled));
}

#[test]
fn the_largest_sample_count_is_cancellable() {
    for t in [Threads::Caller, Threads::Pool] {
        let c = ctx(t);
        let started = Instant::now();
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                c.cancel();
            });
            monte_carlo_pi(&c, u64::MAX, 0)
        });
        assert_eq!(out, Err(Error::Cancelled), "{t:?}");
        // A hang detector, not a timing assertion.
        assert!(started.elapsed() < Duration::from_secs(30), "{t:?}");
    }
}

/// Single-thread throughput of each path, interleaved, best of several repeats:
/// `cargo test -p gilfree-kernels --release montecarlo_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn montecarlo_throughput() {
    let samples = 64 * BLOCK_SAMPLES;
    let c = ctx(Threads::Caller);
    let mut best = [f64::INFINITY; 5];
    let names = [
        "dispatched",
        "portable (AVX2 build)",
        "portable (baseline)",
        "previous",
        "dispatched, in halves",
    ];
    let mut counts = [0u64; 5];
    for _ in 0..5 {
        for (k, b) in best.iter_mut().enumerate() {
            let t = Instant::now();
            counts[k] = match k {
                0 => hits(&c, samples, 1).unwrap(),
                1 => (0..block_count(samples))
                    .map(|i| {
                        let start = lane_stream(1, i, 0);
                        let lanes = Lanes::jumped(&start, LANES);
                        crate::simd::dispatch(PortableHits {
                            lanes,
                            len: BLOCK_SAMPLES,
                            first: 0,
                        })
                    })
                    .sum(),
                2 => crate::simd::with_baseline(|| {
                    (0..block_count(samples))
                        .map(|i| {
                            let start = lane_stream(1, i, 0);
                            let lanes = Lanes::jumped(&start, LANES);
                            crate::simd::dispatch(PortableHits {
                                lanes,
                                len: BLOCK_SAMPLES,
                                first: 0,
                            })
                        })
                        .sum()
                }),
                3 => previous::hits(&c, samples, 1).unwrap(),
                _ => (0..block_count(samples))
                    .map(|i| {
                        let start = lane_stream(1, i, 0);
                        part_hits(&start, BLOCK_SAMPLES, Part::Half(0))
                            + part_hits(&start, BLOCK_SAMPLES, Part::Half(1))
                    })
                    .sum(),
            };
            *b = b.min(t.elapsed().as_secs_f64());
        }
    }
    assert!(counts.iter().all(|&h| h == counts[0]), "{counts:?}");
    let mut g = Xoshiro256pp::seed_from_u64(1);
    let t = Instant::now();
    for _ in 0..10_000 {
        g.long_jump();
    }
    eprintln!("long_jump: {:.0} ns", t.elapsed().as_secs_f64() / 1e4 * 1e9);
    std::hint::black_box(g);
    for (name, b) in names.iter().zip(best) {
        eprintln!("{name:>24}: {:7.1} M samples/s", samples as f64 / b / 1e6);
    }
}
