use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};

// --- spectral-norm ------------------------------------------------------------------------------

/// The Benchmarks Game program as written there: integer denominators, `A(i,j) * u[j]`.
fn spectral_reference(n: usize) -> f64 {
    let a = |i: usize, j: usize| 1.0 / (((i + j) * (i + j + 1) / 2 + i + 1) as f64);
    let times = |x: &[f64], transpose: bool| -> Vec<f64> {
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| if transpose { a(j, i) } else { a(i, j) } * x[j])
                    .sum()
            })
            .collect()
    };
    let at_a = |x: &[f64]| times(&times(x, false), true);
    let mut u = vec![1.0; n];
    let mut v = vec![0.0; n];
    for _ in 0..10 {
        v = at_a(&u);
        u = at_a(&v);
    }
    let vbv: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
    let vv: f64 = v.iter().map(|b| b * b).sum();
    (vbv / vv).sqrt()
}

#[test]
fn spectral_norm_published_values() {
    let c = ctx(Threads::Pool);
    assert_eq!(format!("{:.9}", spectral_norm(&c, 100).unwrap()), "1.274219991");
    assert_eq!(format!("{:.9}", spectral_norm(&c, 5500).unwrap()), "1.274224153");
}

#[test]
fn spectral_norm_matches_the_reference_program() {
    for n in [1, 2, 3, 7, 8, 9, 63, 64, 65, 130, 300] {
        let got = spectral_norm(&ctx(Threads::Caller), n).unwrap();
        let want = spectral_reference(n);
        assert!(((got - want) / want).abs() < 1e-14, "n={n}: {got} vs {want}");
    }
    // n = 1: A = [1], so AᵀA u = u and the norm is 1 exactly.
    assert_eq!(spectral_norm(&ctx(Threads::Pool), 1).unwrap(), 1.0);
}

#[test]
fn spectral_norm_is_identical_for_every_thread_setting_and_isa() {
    // 2100 columns: 66 tasks of 32 rows, the last one partial, and enough work for the pool;
    // 36 and 120: phases of 2 and 4 tasks.
    for n in [5, 32, 33, 36, 120, 1000, 2100] {
        let reference = spectral_norm(&ctx(Threads::Caller), n).unwrap();
        for t in settings() {
            assert_eq!(
                spectral_norm(&ctx(t), n).unwrap().to_bits(),
                reference.to_bits(),
                "n={n} {t:?}"
            );
        }
        let baseline = crate::simd::with_baseline(|| spectral_norm(&ctx(Threads::Caller), n).unwrap());
        assert_eq!(baseline.to_bits(), reference.to_bits(), "n={n}: SSE2 vs AVX2");
    }
}

#[test]
fn spectral_norm_one_product_equals_scalar_sums() {
    // Each output element is one sequential sum in column order: exactly the scalar loop.
    let n = 150;
    let x: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 0.25).collect();
    for transpose in [false, true] {
        let mut out = vec![0.0; n];
        let c = ctx(Threads::Pool);
        if transpose {
            times::<true>(&c, &x, &mut out).unwrap();
        } else {
            times::<false>(&c, &x, &mut out).unwrap();
        }
        for (i, &o) in out.iter().enumerate() {
            let mut s = 0.0;
            for (j, &xj) in x.iter().enumerate() {
                let own = if transpose { j } else { i };
                s += xj / (((i + j) * (i + j + 1) / 2 + own + 1) as f64);
            }
            assert_eq!(o.to_bits(), s.to_bits(), "row {i}, transpose {transpose}");
        }
    }
}

#[test]
fn spectral_norm_rejects_bad_n() {
    let c = ctx(Threads::Pool);
    assert!(matches!(
        spectral_norm(&c, 0),
        Err(Error::InvalidArgument { arg: "n", .. })
    ));
    assert!(matches!(
        spectral_norm(&c, SPECTRAL_MAX_N + 1),
        Err(Error::InvalidArgument { arg: "n", .. })
    ));
    // The largest denominator at the limit is exact in float64.
    let s = (2 * SPECTRAL_MAX_N - 2) as f64;
    assert!(s * (s + 1.0) * 0.5 + SPECTRAL_MAX_N as f64 <= (1u64 << 53) as f64);
}

#[test]
fn spectral_norm_can_be_cancelled() {
    let c = ctx(Threads::Pool);
    c.cancel();
    assert_eq!(spectral_norm(&c, 3000), Err(Error::Cancelled));
    let c = ctx(Threads::Caller);
    c.cancel();
    assert_eq!(spectral_norm(&c, 3000), Err(Error::Cancelled));
}

// --- fannkuch-redux -----------------------------------------------------------------------------

/// The Benchmarks Game's serial program (the C reference), as a reference.
fn fannkuch_reference(n: usize) -> (i64, u32) {
    let mut perm1: Vec<usize> = (0..n).collect();
    let mut count = vec![0usize; n];
    let (mut checksum, mut max_flips, mut perm_count) = (0i64, 0u32, 0u64);
    let mut r = n;
    loop {
        while r != 1 {
            count[r - 1] = r;
            r -= 1;
        }
        let mut perm = perm1.clone();
        let mut flips = 0u32;
        while perm[0] != 0 {
            let k = perm[0];
            perm[..=k].reverse();
            flips += 1;
        }
        max_flips = max_flips.max(flips);
        checksum += if perm_count % 2 == 0 {
            i64::from(flips)
        } else {
            -i64::from(flips)
        };
        loop {
            if r == n {
                return (checksum, max_flips);
            }
            let perm0 = perm1[0];
            for i in 0..r {
                perm1[i] = perm1[i + 1];
            }
            perm1[r] = perm0;
            count[r] -= 1;
            if count[r] > 0 {
                break;
            }
            r += 1;
        }
        perm_count += 1;
    }
}

#[test]
fn fannkuch_published_values() {
    let c = ctx(Threads::Pool);
    assert_eq!(fannkuch_redux(&c, 7).unwrap(), (228, 16));
    assert_eq!(fannkuch_redux(&c, 10).unwrap(), (73196, 38));
}

#[test]
fn fannkuch_matches_the_serial_program_for_any_block_size() {
    for n in 3..=9 {
        let want = fannkuch_reference(n);
        for per in [1, 2, 5, 7, 100, 719, PERMS_PER_TASK] {
            for t in [Threads::Caller, Threads::Pool] {
                assert_eq!(
                    fannkuch_in_blocks(&ctx(t), n, per).unwrap(),
                    want,
                    "n={n} per={per} {t:?}"
                );
            }
        }
    }
}

#[test]
fn perm_at_follows_the_benchmark_order() {
    // Walking the serial order from index 0 and jumping to each index give the same permutation.
    let n = 6;
    let mut perm = ArrayPerm(perm_at(n, 0).0);
    let mut count = [0u8; 16];
    for index in 1..factorial(n) {
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
        assert_eq!((perm.0, count), perm_at(n, index), "index {index}");
    }
}

#[test]
fn fannkuch_avx2_and_portable_paths_agree() {
    // The lockstep shuffles against the portable arrays, over blocks of every parity and of
    // every length modulo the batch (padding lanes), for several batch sizes.
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2"); // not avx2_enabled(): tests pin it
    for n in 3..=10 {
        let total = factorial(n);
        let mut shapes = vec![(0, total), (1, total), (total / 2, total), (total - 1, total)];
        for len in 1..=19 {
            shapes.push((2.min(total - len), (2 + len).min(total)));
            shapes.push((total / 3, (total / 3 + len).min(total)));
        }
        for (start, end) in shapes {
            let want = block_portable(n, start, end);
            assert_eq!(crate::simd::with_baseline(|| fannkuch_block(n, start, end)), want);
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe {
                    assert_eq!(
                        x86::block_avx2::<FANNKUCH_REGS>(n, start, end),
                        want,
                        "n={n} {start}..{end}"
                    );
                    assert_eq!(x86::block_avx2::<1>(n, start, end), want, "n={n} {start}..{end}");
                    assert_eq!(x86::block_avx2::<3>(n, start, end), want, "n={n} {start}..{end}");
                }
            }
        }
    }
}

#[test]
fn fannkuch_is_identical_for_every_thread_setting() {
    let reference = fannkuch_redux(&ctx(Threads::Caller), 10).unwrap();
    for t in settings() {
        assert_eq!(fannkuch_redux(&ctx(t), 10).unwrap(), reference, "{t:?}");
    }
}

#[test]
fn fannkuch_rejects_bad_n_and_can_be_cancelled() {
    let c = ctx(Threads::Pool);
    for n in [0, 1, 2, 13, 100] {
        assert!(
            matches!(
                fannkuch_redux(&c, n),
                Err(Error::InvalidArgument { arg: "n", .. })
            ),
            "{n}"
        );
    }
    c.cancel();
    assert_eq!(fannkuch_redux(&c, 11), Err(Error::Cancelled));
}

// --- n-body -------------------------------------------------------------------------------------

#[test]
fn nbody_published_values() {
    let c = ctx(Threads::Caller);
    let (e0, e1) = nbody(&c, 1000).unwrap();
    assert_eq!(format!("{e0:.9} {e1:.9}"), "-0.169075164 -0.169087605");
    let (z0, z1) = nbody(&c, 0).unwrap();
    assert_eq!(z0.to_bits(), e0.to_bits());
    assert_eq!(z1.to_bits(), e0.to_bits());
}

#[test]
fn nbody_blocks_do_not_change_the_trajectory() {
    // Checks between blocks only: the same bits as one uninterrupted loop, on every ISA and for
    // every thread setting (nbody always runs on the calling thread).
    let steps = 2 * NBODY_STEPS_PER_CHECK + 17;
    let mut s = System::jovian();
    for _ in 0..steps {
        s.advance();
    }
    let want = (System::jovian().energy(), s.energy());
    for t in settings() {
        let got = nbody(&ctx(t), steps).unwrap();
        assert_eq!(
            (got.0.to_bits(), got.1.to_bits()),
            (want.0.to_bits(), want.1.to_bits()),
            "{t:?}"
        );
    }
    let baseline = crate::simd::with_baseline(|| nbody(&ctx(Threads::Caller), steps).unwrap());
    assert_eq!(baseline.1.to_bits(), want.1.to_bits());
}

#[test]
fn nbody_momentum_is_offset() {
    let s = System::jovian();
    let p: f64 = (0..BODIES).map(|b| s.vx[b] * s.mass[b]).sum();
    assert!(p.abs() < 1e-15, "{p}");
}

#[test]
fn nbody_can_be_cancelled() {
    let c = ctx(Threads::Caller);
    c.cancel();
    assert_eq!(nbody(&c, 1_000_000_000), Err(Error::Cancelled));
}
