use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};

const ALL: [Metric; 4] = [
    Metric::Euclidean,
    Metric::SqEuclidean,
    Metric::Cityblock,
    Metric::Cosine,
];

/// The reference: one element at a time, the same terms in the same order (so the same bits).
fn reference<T: Input>(x: &[T], n: usize, y: &[T], m: usize, d: usize, metric: Metric) -> Vec<f64> {
    let norm = |r: &[T]| {
        r.iter()
            .fold(0.0f64, |s, v| v.to_f64().mul_add(v.to_f64(), s))
            .sqrt()
    };
    let mut out = Vec::with_capacity(n * m);
    for i in 0..n {
        let u = &x[i * d..(i + 1) * d];
        for j in 0..m {
            let v = &y[j * d..(j + 1) * d];
            let pairs = u.iter().zip(v).map(|(a, b)| (a.to_f64(), b.to_f64()));
            let value = match metric {
                Metric::Euclidean => pairs.fold(0.0, |s, (a, b)| (a - b).mul_add(a - b, s)).sqrt(),
                Metric::SqEuclidean => pairs.fold(0.0, |s, (a, b)| (a - b).mul_add(a - b, s)),
                Metric::Cityblock => pairs.fold(0.0, |s, (a, b)| s + (a - b).abs()),
                Metric::Cosine => {
                    let dot = pairs.fold(0.0, |s, (a, b)| a.mul_add(b, s));
                    let c = dot / (norm(u) * norm(v));
                    1.0 - if c.abs() > 1.0 { 1f64.copysign(c) } else { c }
                }
            };
            out.push(value);
        }
    }
    out
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits())
}

fn data(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn metric_names() {
    for name in Metric::NAMES {
        assert!(Metric::from_name(name).is_some());
    }
    assert_eq!(Metric::from_name("Euclidean"), None);
    assert_eq!(Metric::from_name("cosine"), Some(Metric::Cosine));
}

#[test]
fn matches_reference_bit_for_bit() {
    // Edges of every blocking level: micro-panels (MR, NR), tiles (TILE), k blocks (KC).
    let shapes = [
        (1, 1, 1),
        (5, 7, 3),
        (6, 8, 0),
        (13, 17, 64),
        (TILE + 1, TILE - 1, 5),
        (2 * TILE + 7, TILE + 9, KC + 3),
        (40, 3, 2 * KC + 1),
    ];
    for (n, m, d) in shapes {
        let x = data(n * d, 1 + n as u64);
        let y = data(m * d, 99 + m as u64);
        for metric in ALL {
            let want = reference(&x, n, &y, m, d, metric);
            let got: Vec<f64> = pairwise(&ctx(Threads::Pool), &x, n, Some((&y, m)), d, metric).unwrap();
            assert!(same(&got, &want), "{metric:?} {n}x{m}x{d}");
            // float32 in: float64 sums, rounded once.
            let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
            let y32: Vec<f32> = y.iter().map(|v| *v as f32).collect();
            let want32: Vec<f32> = reference(&x32, n, &y32, m, d, metric)
                .iter()
                .map(|v| *v as f32)
                .collect();
            let got32: Vec<f32> =
                pairwise(&ctx(Threads::Caller), &x32, n, Some((&y32, m)), d, metric).unwrap();
            let wide = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
            assert!(same(&wide(&got32), &wide(&want32)), "{metric:?} f32 {n}x{m}x{d}");
        }
    }
}

#[test]
fn integer_input_is_converted() {
    let x: Vec<i64> = vec![0, 1, i64::MAX, -5, 3, 4];
    let y: Vec<u8> = vec![0, 0, 255, 1];
    let yi: Vec<i64> = y.iter().map(|v| i64::from(*v)).collect();
    for metric in ALL {
        let got: Vec<f64> = pairwise(&ctx(Threads::Caller), &x, 3, Some((&yi, 2)), 2, metric).unwrap();
        assert!(same(&got, &reference(&x, 3, &yi, 2, 2, metric)));
        let x32: Vec<f32> = vec![1.5, -2.0, 0.25, 8.0];
        let got: Vec<f64> = pairwise(&ctx(Threads::Caller), &x32, 2, Some((&yi, 2)), 2, metric).unwrap();
        let x64: Vec<f64> = x32.iter().map(|v| f64::from(*v)).collect();
        let y64: Vec<f64> = yi.iter().map(|v| *v as f64).collect();
        assert!(same(&got, &reference(&x64, 2, &y64, 2, 2, metric)));
        let xs: Vec<u8> = vec![1, 2, 3, 4];
        let got: Vec<f64> = pairwise(&ctx(Threads::Caller), &xs, 2, Some((&y, 2)), 2, metric).unwrap();
        assert!(same(&got, &reference(&xs, 2, &y, 2, 2, metric)));
    }
}

#[test]
fn self_distances_symmetric_zero_diagonal() {
    let n = 2 * TILE + 11;
    let d = 19;
    let mut x = data(n * d, 5);
    x[3 * d] = f64::NAN; // row 3: NaN everywhere it is used
    for v in &mut x[7 * d..8 * d] {
        *v = 0.0; // row 7: a zero vector (cosine: NaN)
    }
    for metric in ALL {
        let got: Vec<f64> = pairwise(&ctx(Threads::Pool), &x, n, None::<(&[f64], usize)>, d, metric).unwrap();
        let full = reference(&x, n, &x, n, d, metric);
        for i in 0..n {
            for j in 0..n {
                let (g, t) = (got[i * n + j], got[j * n + i]);
                assert!(g.to_bits() == t.to_bits() || (g.is_nan() && t.is_nan()));
                let want = full[i * n + j];
                if i == j {
                    assert!(
                        if want.is_nan() {
                            g.is_nan()
                        } else {
                            g.to_bits() == 0
                        },
                        "{metric:?} {i}"
                    );
                } else {
                    assert!(same(&[g], &[want]), "{metric:?} {i} {j}");
                }
            }
        }
        assert!(got[3 * n + 5].is_nan());
        assert_eq!(got[7 * n + 7].is_nan(), metric == Metric::Cosine);
    }
}

#[test]
fn same_bits_at_every_thread_count_and_isa() {
    let (n, m, d) = (3 * TILE + 5, 2 * TILE + 3, 37);
    let x = data(n * d, 11);
    let y = data(m * d, 12);
    for metric in ALL {
        let want: Vec<f64> = pairwise(&ctx(Threads::Caller), &x, n, Some((&y, m)), d, metric).unwrap();
        for t in settings() {
            let got: Vec<f64> = pairwise(&ctx(t), &x, n, Some((&y, m)), d, metric).unwrap();
            assert!(same(&got, &want), "{metric:?} {t:?}");
        }
        // (Another test may end its own baseline section meanwhile: then this runs the fast
        // path again, which gives the same bits; `micro_kernels_agree` pins each path.)
        let base: Vec<f64> = crate::simd::with_baseline(|| {
            pairwise(&ctx(Threads::Pool), &x, n, Some((&y, m)), d, metric).unwrap()
        });
        assert!(same(&base, &want), "{metric:?} baseline");
        let sym: Vec<f64> = crate::simd::with_baseline(|| {
            pairwise(&ctx(Threads::Pool), &x, n, None::<(&[f64], usize)>, d, metric).unwrap()
        });
        let sym_fast: Vec<f64> =
            pairwise(&ctx(Threads::Pool), &x, n, None::<(&[f64], usize)>, d, metric).unwrap();
        assert!(same(&sym, &sym_fast));
    }
}

#[test]
fn every_tile_size_gives_the_same_bits() {
    let (n, m, d) = (2 * TILE + 5, TILE + 3, 21);
    let x = data(n * d, 21);
    let y = data(m * d, 22);
    for metric in ALL {
        let run = |y: Option<(&[f64], usize)>, cols: usize, tile: usize| {
            let mut out = vec![0.0f64; n * cols];
            pairwise_tiled(&ctx(Threads::Pool), &x, n, y, d, metric, &mut out, tile).unwrap();
            out
        };
        let want = run(Some((&y, m)), m, TILE);
        let want_sym = run(None, n, TILE);
        for tile in [TILE_STEP, 2 * TILE_STEP, 3 * TILE_STEP] {
            assert!(same(&run(Some((&y, m)), m, tile), &want), "{metric:?} {tile}");
            assert!(
                same(&run(None, n, tile), &want_sym),
                "{metric:?} {tile} x with itself"
            );
        }
    }
}

#[test]
fn small_results_get_tiles_enough_for_every_thread() {
    assert_eq!(tile_size(1000, 1000, false), TILE);
    assert_eq!(tile_size(4 * TILE, 2 * TILE, false), TILE); // 8 tiles
    assert_eq!(tile_size(117, 117, true), TILE_STEP); // 3 tiles of 48, 15 of 24
    assert_eq!(tile_size(4 * TILE_STEP * 3, 2 * 72, false), 72);
    assert_eq!(tile_size(5, 7, true), TILE_STEP); // one tile whatever the size
}

/// The portable and the AVX2 + FMA micro-kernels, called directly (no dispatch), agree bit for
/// bit on every step, including NaN, infinities and signed zeros.
#[test]
fn micro_kernels_agree() {
    fn check<S: Step>(kc: usize, seed: u64) {
        let mut xp = data(kc * MR, seed);
        let yp = data(kc * NR, seed + 1);
        if kc >= 3 {
            xp[0] = f64::INFINITY;
            xp[MR + 1] = f64::NAN;
            xp[2 * MR + 2] = -0.0;
        }
        let start: Block = [[0.5; NR]; MR];
        let mut portable = start;
        micro::<S>(&xp, &yp, &mut portable);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            let mut fast = start;
            // SAFETY: AVX2 and FMA detected just above.
            unsafe { micro_avx2::<S>(&xp, &yp, &mut fast) };
            let flat = |b: &Block| b.iter().flatten().copied().collect::<Vec<f64>>();
            assert!(same(&flat(&portable), &flat(&fast)));
        }
    }
    for kc in [0, 1, 7, KC] {
        check::<SquaredDiff>(kc, 1);
        check::<AbsDiff>(kc, 2);
        check::<Product>(kc, 3);
    }
}

#[test]
fn no_cancellation_far_from_the_origin() {
    // Rows near 1e8 that differ by small amounts: |x|² + |y|² − 2x·y would lose every digit.
    let d = 16;
    let x: Vec<f64> = (0..d).map(|k| 1e8 + k as f64 * 0.25).collect();
    let y: Vec<f64> = (0..d).map(|k| 1e8 + k as f64 * 0.25 + 0.5).collect();
    let got: Vec<f64> = pairwise(
        &ctx(Threads::Caller),
        &x,
        1,
        Some((&y, 1)),
        d,
        Metric::SqEuclidean,
    )
    .unwrap();
    assert_eq!(got, vec![4.0]);
}

#[test]
fn cosine_special_cases() {
    // Parallel vectors: the quotient may round above 1 and is clipped: exactly 0 (or tiny).
    let x = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
    let y = [2.0, 4.0, 6.0, -1.0, -2.0, -3.0];
    let got: Vec<f64> = pairwise(&ctx(Threads::Caller), &x, 2, Some((&y, 2)), 3, Metric::Cosine).unwrap();
    assert!(got[0].abs() < 1e-15 && got[0] >= 0.0);
    assert!((got[1] - 2.0).abs() < 1e-15 && got[1] <= 2.0);
    assert!(got[2].is_nan() && got[3].is_nan());
}

#[test]
fn empty_and_zero_width() {
    let none: Vec<f64> = pairwise(
        &ctx(Threads::Pool),
        &[] as &[f64],
        0,
        Some((&[1.0, 2.0], 1)),
        2,
        Metric::Euclidean,
    )
    .unwrap();
    assert!(none.is_empty());
    let zeros: Vec<f64> = pairwise(
        &ctx(Threads::Pool),
        &[] as &[f64],
        3,
        Some((&[] as &[f64], 2)),
        0,
        Metric::Cityblock,
    )
    .unwrap();
    assert_eq!(zeros, vec![0.0; 6]);
}

#[test]
fn cancelled() {
    let (n, d) = (500, 64);
    let x = data(n * d, 3);
    let c = ctx(Threads::Pool);
    c.cancel();
    assert_eq!(
        pairwise::<f64, f64, f64>(&c, &x, n, None::<(&[f64], usize)>, d, Metric::Euclidean),
        Err(crate::Error::Cancelled)
    );
}

#[test]
fn huge_output_is_an_error_not_an_abort() {
    let x = [0.0f64; 2];
    let err = pairwise::<f64, f64, f64>(
        &ctx(Threads::Caller),
        &[],
        1 << 40,
        Some((&x, 1 << 40)),
        0,
        Metric::Euclidean,
    );
    assert!(
        matches!(err, Err(crate::Error::OutOfMemory(_) | crate::Error::Overflow(_))),
        "{err:?}"
    );
}

#[test]
#[allow(clippy::print_stdout)]
#[ignore = "timing: cargo test --release -p gilfree-kernels distance::test::timing -- --ignored --nocapture"]
fn timing() {
    let (n, m, d) = (4000, 3000, 64);
    let x = data(n * d, 1);
    let y = data(m * d, 2);
    for t in [Threads::Caller, Threads::Pool] {
        for metric in ALL {
            let start = std::time::Instant::now();
            let out: Vec<f64> = pairwise(&ctx(t), &x, n, Some((&y, m)), d, metric).unwrap();
            println!("{t:?} {metric:?}: {:?} ({})", start.elapsed(), out[12345]);
        }
    }
    for (n, m, d) in [(1000, 1000, 512), (4000, 3000, 4)] {
        let x = data(n * d, 1);
        let y = data(m * d, 2);
        let start = std::time::Instant::now();
        let _: Vec<f64> = pairwise(
            &ctx(Threads::Caller),
            &x,
            n,
            Some((&y, m)),
            d,
            Metric::SqEuclidean,
        )
        .unwrap();
        println!("caller {n}x{m}x{d}: {:?}", start.elapsed());
    }
    let start = std::time::Instant::now();
    let _: Vec<f64> = crate::simd::with_baseline(|| {
        pairwise(&ctx(Threads::Pool), &x, n, Some((&y, m)), d, Metric::Euclidean).unwrap()
    });
    println!("baseline euclidean: {:?}", start.elapsed());
}

#[test]
#[allow(clippy::print_stdout)]
#[ignore = "timing: cargo test --release -p gilfree-kernels distance::test::tile_timing -- --ignored --nocapture"]
fn tile_timing() {
    for n in [49, 117, 181, 431] {
        let d = 16;
        let x = data(n * d, 1);
        let mut out = vec![0.0f64; n * n];
        for tile in [TILE_STEP, 2 * TILE_STEP, 3 * TILE_STEP, TILE] {
            for t in [Threads::Caller, Threads::Pool] {
                let mut best = f64::INFINITY;
                for _ in 0..2000 {
                    let start = std::time::Instant::now();
                    pairwise_tiled(
                        &ctx(t),
                        &x,
                        n,
                        None::<(&[f64], usize)>,
                        d,
                        Metric::Euclidean,
                        &mut out,
                        tile,
                    )
                    .unwrap();
                    best = best.min(start.elapsed().as_secs_f64());
                }
                println!("n {n} tile {tile} {t:?}: {:.1} us", best * 1e6);
            }
        }
    }
}
