use proptest::prelude::*;

use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};
use crate::simd::Kernel as _;

/// Chunks per thread in the multi-chunk sizes below (so that 2 and 3 threads all take some).
const MANY_CHUNKS: usize = 12;

/// Shewchuk's exactly rounded sum (the algorithm behind Python's `math.fsum`), as a reference.
fn fsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for mut x in xs {
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    partials.iter().rev().sum::<f64>()
}

/// Deterministic pseudo-random data (SplitMix64), so that no test depends on a seed crate.
fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn float_sum_is_accurate_and_identical_for_every_thread_setting() {
    let n = 3 * MANY_CHUNKS * CHUNK_LEN + 12_345;
    let a: Vec<f64> = data(n, 1).iter().map(|x| x * 1e6).collect();
    let exact = fsum(a.iter().copied());
    let l1: f64 = a.iter().map(|x| x.abs()).sum();
    let reference = sum_float(&ctx(Threads::Caller), &a).unwrap();
    // Pairwise bound: (log2 n + 16) * eps * sum |x|; generous, and far above what is seen.
    assert!(
        (reference - exact).abs() <= 40.0 * f64::EPSILON * l1,
        "{reference} vs {exact}"
    );
    for t in settings() {
        let s = sum_float(&ctx(t), &a).unwrap();
        assert_eq!(s.to_bits(), reference.to_bits(), "{t:?}");
    }
}

#[test]
fn float_sum_edge_cases() {
    let c = ctx(Threads::Pool);
    assert_eq!(sum_float::<f64>(&c, &[]).unwrap().to_bits(), 0.0f64.to_bits());
    assert_eq!(sum_float(&c, &[2.5f64]).unwrap(), 2.5);
    assert!(sum_float(&c, &[1.0f64, f64::NAN]).unwrap().is_nan());
    assert!(sum_float(&c, &[f64::INFINITY, f64::NEG_INFINITY])
        .unwrap()
        .is_nan());
    assert_eq!(sum_float(&c, &[f64::INFINITY, 1.0]).unwrap(), f64::INFINITY);
    // float32 is widened: no overflow to inf, and exact where float32 accumulation is not.
    assert_eq!(
        sum_float(&c, &[f32::MAX, f32::MAX]).unwrap(),
        2.0 * f64::from(f32::MAX)
    );
    let ones = vec![1.0f32; 20_000_001];
    assert_eq!(sum_float(&c, &ones).unwrap(), 20_000_001.0);
}

#[test]
fn int_sums_are_exact_and_overflow_is_an_error() {
    let c = ctx(Threads::Pool);
    let a: Vec<i64> = (0..(3 * CHUNK_LEN as i64 + 7))
        .map(|i| i * 1_000_003 - 7)
        .collect();
    let exact: i128 = a.iter().map(|&x| i128::from(x)).sum();
    assert_eq!(i128::from(sum_int(&c, &a).unwrap()), exact);
    assert_eq!(sum_int::<i64>(&c, &[i64::MIN, i64::MAX]).unwrap(), -1);
    assert_eq!(sum_int::<i64>(&c, &[i64::MAX, 1, -1]).unwrap(), i64::MAX);
    assert!(matches!(
        sum_int::<i64>(&c, &[i64::MAX, 1]),
        Err(Error::Overflow(_))
    ));
    assert!(matches!(
        sum_int::<i64>(&c, &[i64::MIN, -1]),
        Err(Error::Overflow(_))
    ));
    let big = vec![i64::MAX; 3 * CHUNK_LEN];
    assert!(matches!(sum_int(&c, &big), Err(Error::Overflow(_))));
    assert_eq!(
        sum_int_wide(&c, &big).unwrap(),
        i128::from(i64::MAX) * 3 * CHUNK_LEN as i128
    );
    let b = vec![i32::MIN; 2 * CHUNK_LEN + 1];
    assert_eq!(
        i128::from(sum_int(&c, &b).unwrap()),
        i128::from(i32::MIN) * (2 * CHUNK_LEN as i128 + 1)
    );
    assert_eq!(sum_int::<i32>(&c, &[]).unwrap(), 0);
    // The mean of int64 never overflows.
    assert_eq!(mean_int(&c, &[i64::MAX, i64::MAX]).unwrap(), i64::MAX as f64);
}

#[test]
fn mean_of_empty_is_nan() {
    let c = ctx(Threads::Pool);
    assert!(mean_float::<f64>(&c, &[]).unwrap().is_nan());
    assert!(mean_int::<i32>(&c, &[]).unwrap().is_nan());
}

#[test]
fn var_survives_a_large_mean() {
    // mean 1e9, spread 1: E[x^2] - E[x]^2 loses every digit here; Chan's merge does not.
    let n = 3 * MANY_CHUNKS * CHUNK_LEN + 3;
    let a: Vec<f64> = data(n, 7).iter().map(|x| 1e9 + x).collect();
    let mean = fsum(a.iter().copied()) / n as f64;
    let exact = fsum(a.iter().map(|x| (x - mean) * (x - mean))) / n as f64;
    for t in settings() {
        let v = var(&ctx(t), &a, 0).unwrap();
        assert!(((v - exact) / exact).abs() < 1e-12, "{t:?}: {v} vs {exact}");
    }
    let v1 = var(&ctx(Threads::Caller), &a, 0).unwrap();
    for t in settings() {
        assert_eq!(var(&ctx(t), &a, 0).unwrap().to_bits(), v1.to_bits());
    }
}

#[test]
fn var_ddof_rules() {
    let c = ctx(Threads::Pool);
    let a = [1.0f64, 2.0, 3.0, 4.0];
    assert_eq!(var(&c, &a, 0).unwrap(), 1.25);
    assert!((var(&c, &a, 1).unwrap() - 5.0 / 3.0).abs() < 1e-15);
    // No degrees of freedom left: M2 / 0 as NumPy, inf for distinct values, nan for equal ones.
    assert_eq!(var(&c, &a, 4).unwrap(), f64::INFINITY);
    assert_eq!(var(&c, &a, 5).unwrap(), f64::INFINITY);
    assert!(var(&c, &[0.1f64; 3], 3).unwrap().is_nan());
    assert!(var(&c, &[7i64; 100], 100).unwrap().is_nan());
    assert!(var(&c, &[1.0f64, f64::NAN], 2).unwrap().is_nan());
    assert_eq!(var(&c, &a, -1).unwrap(), 1.0);
    assert!(var::<f64>(&c, &[], 0).unwrap().is_nan());
    assert_eq!(var(&c, &[3i32], 0).unwrap(), 0.0);
    assert_eq!(std(&c, &a, 0).unwrap(), 1.25f64.sqrt());
    assert!(var(&c, &[1.0f64, f64::NAN], 0).unwrap().is_nan());
    assert!(var(&c, &[1.0f64, f64::INFINITY], 0).unwrap().is_nan());
}

#[test]
fn extremes_follow_numpy() {
    let c = ctx(Threads::Pool);
    assert_eq!(min::<f64>(&c, &[]), Err(Error::EmptyInput));
    assert_eq!(argmax::<i64>(&c, &[]), Err(Error::EmptyInput));
    let a = [3.0f64, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 9.0, 5.0];
    assert_eq!(min(&c, &a).unwrap(), 1.0);
    assert_eq!(max(&c, &a).unwrap(), 9.0);
    assert_eq!(argmin(&c, &a).unwrap(), 1);
    assert_eq!(argmax(&c, &a).unwrap(), 5);
    let n = [1.0f64, f64::NAN, 0.0, f64::NAN];
    assert!(min(&c, &n).unwrap().is_nan());
    assert!(max(&c, &n).unwrap().is_nan());
    assert_eq!(argmin(&c, &n).unwrap(), 1);
    assert_eq!(argmax(&c, &n).unwrap(), 1);
    assert_eq!(argmin(&c, &[f64::NAN]).unwrap(), 0);
    assert_eq!(argmax(&c, &[f64::NEG_INFINITY, f64::INFINITY]).unwrap(), 1);
    assert_eq!(argmin(&c, &[i32::MAX, i32::MIN, i32::MIN]).unwrap(), 1);
}

#[test]
fn extremes_across_chunks_pick_the_first_occurrence_and_first_nan() {
    let n = 3 * MANY_CHUNKS * CHUNK_LEN;
    let mut a = vec![0.0f32; n];
    a[CHUNK_LEN + 5] = 7.0;
    a[3 * CHUNK_LEN + 1] = 7.0;
    a[2 * CHUNK_LEN + 9] = -7.0;
    a[4 * CHUNK_LEN] = -7.0;
    for t in settings() {
        assert_eq!(argmax(&ctx(t), &a).unwrap(), CHUNK_LEN + 5);
        assert_eq!(argmin(&ctx(t), &a).unwrap(), 2 * CHUNK_LEN + 9);
        assert_eq!(max(&ctx(t), &a).unwrap(), 7.0);
    }
    a[4 * CHUNK_LEN + 3] = f32::NAN;
    a[3 * CHUNK_LEN + 100] = f32::NAN;
    for t in settings() {
        assert_eq!(argmax(&ctx(t), &a).unwrap(), 3 * CHUNK_LEN + 100);
        assert_eq!(argmin(&ctx(t), &a).unwrap(), 3 * CHUNK_LEN + 100);
        assert!(min(&ctx(t), &a).unwrap().is_nan());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_sum_close_to_fsum(v in proptest::collection::vec(-1e12f64..1e12, 0..3000)) {
        let c = ctx(Threads::Pool);
        let s = sum_float(&c, &v).unwrap();
        let exact = fsum(v.iter().copied());
        let l1: f64 = v.iter().map(|x| x.abs()).sum();
        prop_assert!((s - exact).abs() <= 16.0 * f64::EPSILON * l1);
    }

    #[test]
    fn prop_int_sum_exact(v in proptest::collection::vec(any::<i64>(), 0..3000)) {
        let c = ctx(Threads::Pool);
        let exact: i128 = v.iter().map(|&x| i128::from(x)).sum();
        match sum_int(&c, &v) {
            Ok(s) => prop_assert_eq!(i128::from(s), exact),
            Err(Error::Overflow(_)) => prop_assert!(i64::try_from(exact).is_err()),
            Err(e) => prop_assert!(false, "{e:?}"),
        }
    }

    #[test]
    fn prop_extremes_match_a_scan(v in proptest::collection::vec(-100i32..100, 1..3000)) {
        let c = ctx(Threads::Pool);
        let lo = *v.iter().min().unwrap();
        let hi = *v.iter().max().unwrap();
        prop_assert_eq!(min(&c, &v).unwrap(), lo);
        prop_assert_eq!(max(&c, &v).unwrap(), hi);
        prop_assert_eq!(argmin(&c, &v).unwrap(), v.iter().position(|&x| x == lo).unwrap());
        prop_assert_eq!(argmax(&c, &v).unwrap(), v.iter().position(|&x| x == hi).unwrap());
    }
}

#[test]
fn int64_chunk_sums_are_exact_at_the_extremes() {
    // The chunk sum (AVX-512F where the CPU has it, else the AVX2/portable lanes) against i128:
    // lengths around the 32-element steps up to a whole chunk, every element at i64::MIN or
    // i64::MAX (the halves' sums at their bounds), alternating, and random.
    for len in [0, 1, 31, 32, 33, 1000, CHUNK_LEN - 1, CHUNK_LEN] {
        let random: Vec<i64> = data(len, 3)
            .iter()
            .map(|&x| ((x - 0.5) * 1.8e19) as i64)
            .collect();
        let cases = [
            vec![i64::MIN; len],
            vec![i64::MAX; len],
            (0..len)
                .map(|k| if k % 2 == 0 { i64::MIN } else { i64::MAX })
                .collect(),
            random,
        ];
        for v in cases {
            let exact: i128 = v.iter().map(|&x| i128::from(x)).sum();
            assert_eq!(i64::chunk_sum_two_streams(&v), exact, "len {len}");
            assert_eq!(i64::chunk_sum(&v), exact, "len {len}");
        }
    }
}

#[test]
fn int64_block_best_matches_a_scan() {
    // The AVX-512 search (where the CPU has it) against the portable one and a plain scan: block
    // lengths around its 32-element steps, the extremes (and i64::MIN / MAX) at either end and
    // in the middle.
    for len in [1, 2, 7, 31, 32, 33, 63, 64, 65, 100, 2047, 2048] {
        let base: Vec<i64> = data(len, len as u64)
            .iter()
            .map(|&x| ((x - 0.5) * 1e18) as i64)
            .collect();
        for at in [0, len / 2, len - 1] {
            for special in [None, Some(i64::MIN), Some(i64::MAX)] {
                let mut v = base.clone();
                if let Some(x) = special {
                    v[at] = x;
                }
                let (hi, lo) = (*v.iter().max().unwrap(), *v.iter().min().unwrap());
                assert_eq!(i64::block_best::<true>(&v), (hi, false), "len {len} at {at}");
                assert_eq!(i64::block_best::<false>(&v), (lo, false), "len {len} at {at}");
                assert_eq!(block_extreme::<i64, true>(&v), (hi, false));
                assert_eq!(block_extreme::<i64, false>(&v), (lo, false));
            }
        }
    }
}

#[test]
fn every_simd_path_gives_the_same_bits() {
    let n = 3 * CHUNK_LEN + 1001;
    let a: Vec<f64> = data(n, 11).iter().map(|x| 1e3 + x).collect();
    let f: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let i: Vec<i64> = a.iter().map(|&x| (x * 1e9) as i64).collect();
    // A last chunk of 5 blocks and a partial one (an odd count of blocks to visit, leaves in a
    // pair, a single leaf and a partial leaf): the variance's AVX2 passes take every branch.
    let b: Vec<f64> = data(CHUNK_LEN + 5 * MOMENT_BLOCK + 3 * PAIRWISE_LEAF + 77, 12)
        .iter()
        .map(|x| 1e9 + x)
        .collect();
    let c = ctx(Threads::Caller);
    let run = || {
        (
            var(&c, &b, 0).unwrap().to_bits(),
            sum_float(&c, &a).unwrap().to_bits(),
            sum_float(&c, &f).unwrap().to_bits(),
            var(&c, &a, 0).unwrap().to_bits(),
            var(&c, &f, 1).unwrap().to_bits(),
            sum_int(&c, &i).unwrap(),
            argmax(&c, &a).unwrap(),
            argmin(&c, &f).unwrap(),
            min(&c, &i).unwrap(),
            argmax(&c, &i).unwrap(),
            max(&c, &i).unwrap(),
        )
    };
    let fast = run();
    let baseline = crate::simd::with_baseline(run);
    assert_eq!(fast, baseline, "{} vs baseline", crate::simd::active_isa());
}

#[test]
fn pairwise_matches_a_recursive_tree() {
    fn recursive(a: &[f64]) -> f64 {
        if a.len() <= PAIRWISE_LEAF {
            leaf_sum(a, |x| x)
        } else {
            // The same split as the loop: whole leaves, the larger power of two first.
            let leaves = a.len().div_ceil(PAIRWISE_LEAF);
            let left = leaves.next_power_of_two() / 2;
            let mid = left * PAIRWISE_LEAF;
            recursive(&a[..mid]) + recursive(&a[mid..])
        }
    }
    for n in [0, 1, 127, 128, 129, 1000, 4096, 65536, 70001] {
        let a = data(n, n as u64);
        let expected = if n == 0 { 0.0 } else { recursive(&a) };
        assert_eq!(pairwise(&a, |x| x).to_bits(), expected.to_bits(), "n = {n}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions along an axis (reduce::axis)

mod along_axis {
    use super::fsum;
    use crate::engine::Threads;
    use crate::kernels::reduce::axis::{self, Axis};
    use crate::kernels::test_support::{ctx, settings};

    fn matrix(rows: usize, cols: usize) -> Vec<f64> {
        (0..rows * cols)
            .map(|k| ((k * 7919 % 1009) as f64 - 504.0) / 8.0 + if k % 97 == 0 { 1e6 } else { 0.0 })
            .collect()
    }

    fn column(a: &[f64], cols: usize, j: usize) -> Vec<f64> {
        a.iter().skip(j).step_by(cols.max(1)).copied().collect()
    }

    const SHAPES: [(usize, usize); 7] = [(1, 1), (3, 5), (17, 1030), (2, 70_000), (1000, 3), (0, 4), (4, 0)];

    #[test]
    fn sums_match_fsum_and_do_not_depend_on_threads() {
        for (rows, cols) in SHAPES {
            let a = matrix(rows, cols);
            for axis in [Axis::Rows, Axis::Cols] {
                let base = axis::sum_float(&ctx(Threads::Caller), &a, rows, cols, axis).unwrap();
                for t in settings() {
                    let got = axis::sum_float(&ctx(t), &a, rows, cols, axis).unwrap();
                    assert_eq!(
                        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        base.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                    );
                }
                let want: Vec<f64> = match axis {
                    Axis::Rows => (0..rows)
                        .map(|i| fsum(a[i * cols..(i + 1) * cols].iter().copied()))
                        .collect(),
                    Axis::Cols => (0..cols).map(|j| fsum(column(&a, cols, j))).collect(),
                };
                assert_eq!(base.len(), want.len());
                for (g, w) in base.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "{rows}x{cols} {axis:?}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn int_sums_are_exact() {
        let (rows, cols) = (300, 7);
        let a: Vec<i64> = (0..rows * cols)
            .map(|k| if k % 2 == 0 { i64::MAX } else { i64::MIN + k as i64 })
            .collect();
        let got = axis::sum_int(&ctx(Threads::Pool), &a, rows, cols, Axis::Cols).unwrap();
        for (j, g) in got.iter().enumerate() {
            let want: i128 = (0..rows).map(|i| i128::from(a[i * cols + j])).sum();
            assert_eq!(*g, want);
        }
        let u: Vec<u64> = vec![u64::MAX; 6];
        assert_eq!(
            axis::sum_int(&ctx(Threads::Caller), &u, 3, 2, Axis::Cols).unwrap(),
            vec![3 * i128::from(u64::MAX); 2]
        );
        assert_eq!(
            axis::sum_int(&ctx(Threads::Caller), &u, 3, 2, Axis::Rows).unwrap(),
            vec![2 * i128::from(u64::MAX); 3]
        );
    }

    #[test]
    fn variances_and_extremes_match_references() {
        for (rows, cols) in SHAPES {
            let a = matrix(rows, cols);
            for axis in [Axis::Rows, Axis::Cols] {
                let lines: Vec<Vec<f64>> = match axis {
                    Axis::Rows => (0..rows).map(|i| a[i * cols..(i + 1) * cols].to_vec()).collect(),
                    Axis::Cols => (0..cols).map(|j| column(&a, cols, j)).collect(),
                };
                let var = axis::var(&ctx(Threads::Pool), &a, rows, cols, axis, 0).unwrap();
                for (line, v) in lines.iter().zip(&var) {
                    let n = line.len() as f64;
                    let mean = fsum(line.iter().copied()) / n;
                    let want = fsum(line.iter().map(|x| (x - mean) * (x - mean))) / n;
                    assert!(
                        (v - want).abs() <= 1e-9 * want.abs().max(1e-300) || (v.is_nan() && want.is_nan())
                    );
                }
                if lines.iter().all(|l| !l.is_empty()) {
                    let mx = axis::max(&ctx(Threads::Pool), &a, rows, cols, axis).unwrap();
                    let am = axis::argmax(&ctx(Threads::Pool), &a, rows, cols, axis).unwrap();
                    for ((line, m), i) in lines.iter().zip(&mx).zip(&am) {
                        let want = line.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        assert_eq!(*m, want);
                        assert_eq!(line.iter().position(|x| *x == want), Some(*i));
                    }
                } else if !lines.is_empty() {
                    assert!(axis::min(&ctx(Threads::Pool), &a, rows, cols, axis).is_err());
                }
            }
        }
    }

    #[test]
    fn nan_wins_at_its_first_index() {
        let mut a = matrix(40, 3);
        a[5 * 3 + 1] = f64::NAN;
        a[9 * 3 + 1] = f64::NAN;
        let am = axis::argmin(&ctx(Threads::Pool), &a, 40, 3, Axis::Cols).unwrap();
        assert_eq!(am[1], 5);
        let mn = axis::min(&ctx(Threads::Pool), &a, 40, 3, Axis::Cols).unwrap();
        assert!(mn[1].is_nan() && !mn[0].is_nan());
    }

    /// The register-tiled column extremes (lane groups and the remainder, NaNs in both, several
    /// row sub-blocks) against a plain scan, and the AVX2 build against the baseline, bit for bit.
    #[test]
    fn column_extremes_match_a_scan_and_the_baseline() {
        let (rows, cols) = (300, 37);
        let mut a = matrix(rows, cols);
        for (i, j) in [(40, 3), (250, 3), (7, 20), (33, 20), (299, 36), (0, 5)] {
            a[i * cols + j] = f64::NAN;
        }
        let run = || {
            let c = ctx(Threads::Pool);
            (
                axis::max(&c, &a, rows, cols, Axis::Cols).unwrap(),
                axis::min(&c, &a, rows, cols, Axis::Cols).unwrap(),
                axis::argmax(&c, &a, rows, cols, Axis::Cols).unwrap(),
                axis::argmin(&c, &a, rows, cols, Axis::Cols).unwrap(),
            )
        };
        let (mx, mn, amx, amn) = run();
        for j in 0..cols {
            let col = column(&a, cols, j);
            let first_nan = col.iter().position(|x| x.is_nan());
            let want_max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let want_min = col.iter().copied().fold(f64::INFINITY, f64::min);
            if let Some(k) = first_nan {
                assert!(mx[j].is_nan() && mn[j].is_nan(), "column {j}");
                assert_eq!((amx[j], amn[j]), (k, k), "column {j}");
            } else {
                assert_eq!((mx[j], mn[j]), (want_max, want_min), "column {j}");
                assert_eq!(
                    col.iter().position(|x| *x == want_max),
                    Some(amx[j]),
                    "column {j}"
                );
                assert_eq!(
                    col.iter().position(|x| *x == want_min),
                    Some(amn[j]),
                    "column {j}"
                );
            }
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let baseline = crate::simd::with_baseline(run);
        assert_eq!(bits(&baseline.0), bits(&mx));
        assert_eq!(bits(&baseline.1), bits(&mn));
        assert_eq!((baseline.2, baseline.3), (amx, amn));
    }

    #[test]
    fn column_sums_match_a_scan_and_the_baseline() {
        // 37 columns: two full groups of 16 and 5 left over; 301 rows: many 4-row passes and a
        // short last one (one block of rows, so each column is a plain scan in row order).
        let (rows, cols) = (301, 37);
        let a = matrix(rows, cols);
        let run = |t| axis::sum_float(&ctx(t), &a, rows, cols, Axis::Cols).unwrap();
        let got = run(Threads::Pool);
        for (j, g) in got.iter().enumerate() {
            let want = column(&a, cols, j).iter().fold(0.0f64, |s, x| s + x);
            assert_eq!(g.to_bits(), want.to_bits(), "column {j}");
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&crate::simd::with_baseline(|| run(Threads::Pool))),
            bits(&got)
        );
        assert_eq!(bits(&run(Threads::Caller)), bits(&got));
    }
}

// ---------------------------------------------------------------------------------------------
// The two-stream chunk kernels against the one-stream passes they replaced (same bits).

/// The one-stream extreme search of a chunk, as it was before the two streams: blocks in order,
/// the running best moving on a strictly better block only.
fn one_stream_extreme<T: Element, const MAX: bool, const INDEX: bool>(a: &[T]) -> Extreme<T> {
    let mut value = a[0];
    let mut best_block = 0;
    for (j, b) in a.chunks(EXTREME_BLOCK).enumerate() {
        let (v, nan) = block_extreme::<T, MAX>(b);
        if nan {
            let i = j * EXTREME_BLOCK + b.iter().position(|x| x.is_nan()).unwrap();
            return Extreme {
                value: a[i],
                index: i,
                nan: true,
            };
        }
        if better::<T, MAX>(v, value) {
            value = v;
            best_block = j;
        }
    }
    let start = best_block * EXTREME_BLOCK;
    let index = if INDEX {
        start + a[start..].iter().position(|&x| x == value).unwrap()
    } else {
        0
    };
    Extreme {
        value,
        index,
        nan: false,
    }
}

fn same_extreme<T: Element + std::fmt::Debug>(x: Extreme<T>, y: Extreme<T>, bits: impl Fn(T) -> u64) -> bool {
    bits(x.value) == bits(y.value) && x.index == y.index && x.nan == y.nan
}

fn check_extremes_f64(a: &[f64], what: &str) {
    let bits = f64::to_bits;
    for (got, want, name) in [
        (
            chunk_extreme::<f64, false, true>(a, 0),
            one_stream_extreme::<f64, false, true>(a),
            "argmin",
        ),
        (
            chunk_extreme::<f64, true, true>(a, 0),
            one_stream_extreme::<f64, true, true>(a),
            "argmax",
        ),
        (
            chunk_extreme::<f64, false, false>(a, 0),
            one_stream_extreme::<f64, false, false>(a),
            "min",
        ),
    ] {
        assert!(
            same_extreme(got, want, bits),
            "{what} {name}: {got:?} vs {want:?}"
        );
        // Through dispatch (AVX2 where the CPU has it) too.
        let d = crate::simd::dispatch(ChunkExtreme::<f64, false, true> { a, offset: 0 });
        let w = one_stream_extreme::<f64, false, true>(a);
        assert!(same_extreme(d, w, bits), "{what} dispatched: {d:?} vs {w:?}");
    }
}

#[test]
fn two_stream_extremes_match_one_stream() {
    // Lengths around block and half boundaries, a whole chunk, and longer than one.
    let lens = [
        1, 2, 7, 255, 256, 257, 511, 512, 513, 767, 768, 769, 1000, 4096, 70_001, CHUNK_LEN,
    ];
    for &n in &lens {
        let a = data(n, n as u64 + 3);
        check_extremes_f64(&a, &format!("n={n} random"));
        // Ties everywhere (the first block of a half holding the best must win), and signed
        // zeros: the bits of the zero reported must be those of the one-stream pass.
        let ties: Vec<f64> = (0..n)
            .map(|i| [0.0, -0.0, 1.0, -1.0, -1.0, 1.0, 0.0][i * 7919 % 7])
            .collect();
        check_extremes_f64(&ties, &format!("n={n} ties"));
        let zeros: Vec<f64> = (0..n).map(|i| if i % 3 == 1 { -0.0 } else { 0.0 }).collect();
        check_extremes_f64(&zeros, &format!("n={n} zeros"));
        // NaNs: in the first half, in the second half, in both (the first half's comes first
        // even when the second half's block is scanned earlier), and at the very start and end.
        let half = n.div_ceil(EXTREME_BLOCK).div_ceil(2) * EXTREME_BLOCK;
        let mut spots = vec![0, n - 1, n / 2, half.min(n - 1)];
        if half + 3 < n {
            spots.push(half + 3);
        }
        for &i in &spots {
            let mut b = a.clone();
            b[i] = f64::NAN;
            check_extremes_f64(&b, &format!("n={n} NaN at {i}"));
            if half + 300 < n && i < half {
                b[half + 1] = f64::NAN;
                check_extremes_f64(&b, &format!("n={n} NaN at {i} and {}", half + 1));
                b[i] = 0.5;
                check_extremes_f64(&b, &format!("n={n} NaN at {}", half + 1));
                b[n - 1] = f64::NAN;
                b[half + 1] = 0.25;
                check_extremes_f64(&b, &format!("n={n} NaN at {}", n - 1));
            }
        }
    }
    // Integers and float32 over a chunk, the best value in the second half only, then tied.
    let mut v: Vec<i64> = (0..CHUNK_LEN as i64)
        .map(|i| (i * 7919) % 10_007 - 5000)
        .collect();
    v[CHUNK_LEN - 10] = i64::MAX;
    v[CHUNK_LEN - 5] = i64::MIN;
    for _ in 0..2 {
        let x = crate::simd::dispatch(ChunkExtreme::<i64, true, true> { a: &v, offset: 7 });
        let y = one_stream_extreme::<i64, true, true>(&v);
        assert_eq!((x.value, x.index), (y.value, y.index + 7));
        let x = crate::simd::dispatch(ChunkExtreme::<i64, false, true> { a: &v, offset: 0 });
        let y = one_stream_extreme::<i64, false, true>(&v);
        assert_eq!((x.value, x.index), (y.value, y.index));
        v[100] = i64::MAX;
        v[200] = i64::MIN;
    }
    let f: Vec<f32> = data(CHUNK_LEN - 3, 5).iter().map(|&x| x as f32).collect();
    let x = crate::simd::dispatch(ChunkExtreme::<f32, false, true> { a: &f, offset: 0 });
    let y = one_stream_extreme::<f32, false, true>(&f);
    assert_eq!((x.value.to_bits(), x.index), (y.value.to_bits(), y.index));
}

#[test]
fn two_stream_sums_and_moments_match_one_stream() {
    for n in [
        0,
        1,
        255,
        256,
        257,
        511,
        512,
        513,
        767,
        1000,
        2047,
        2048,
        2049,
        6145,
        40_000,
        CHUNK_LEN - 1,
        CHUNK_LEN,
    ] {
        let a: Vec<f64> = data(n, n as u64 + 11).iter().map(|x| 1e3 + x * 1e6).collect();
        let f: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        // The float sum: one pairwise tree over the whole chunk, leaf by leaf in order.
        let one = pairwise(&a, |x| x);
        assert_eq!(FloatSum(&a).run().to_bits(), one.to_bits(), "sum n={n}");
        assert_eq!(
            crate::simd::dispatch(FloatSum(&a)).to_bits(),
            one.to_bits(),
            "sum n={n}"
        );
        let one = pairwise(&f, f64::from);
        assert_eq!(
            crate::simd::dispatch(FloatSum(&f)).to_bits(),
            one.to_bits(),
            "f32 sum n={n}"
        );
        // The moments: the blocks' moments merged in order.
        let shift = pilot_shift(&a);
        let one = a
            .chunks(MOMENT_BLOCK)
            .fold(Moments::EMPTY, |m, b| m.merge(Moments::of_block(b, shift)));
        let two = crate::simd::dispatch(ChunkMoments { a: &a, shift });
        assert_eq!(
            (two.n, two.mean.to_bits(), two.m2.to_bits()),
            (one.n, one.mean.to_bits(), one.m2.to_bits()),
            "moments n={n}"
        );
        // Integer sums are exact.
        let i: Vec<i64> = a.iter().map(|&x| (x * 1e9) as i64).collect();
        let exact: i128 = i.iter().map(|&x| i128::from(x)).sum();
        assert_eq!(crate::simd::dispatch(IntSum(&i)), exact, "int sum n={n}");
    }
}
