use std::num::NonZeroUsize;
use std::sync::Barrier;

use proptest::prelude::*;

use super::*;
use crate::engine::{Ctx, Threads};

const THREADS: usize = 8;

/// Runs `f(thread_index)` on `THREADS` std threads released together by a barrier.
fn on_threads(f: impl Fn(usize) + Sync) {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (f, barrier) = (&f, &barrier);
            s.spawn(move || {
                barrier.wait();
                f(t);
            });
        }
    });
}

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
    // Round the partials (non-overlapping, increasing) half-even, as math.fsum does.
    let mut hi = 0.0;
    let mut n = partials.len();
    if n > 0 {
        n -= 1;
        hi = partials[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = partials[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
    }
    hi
}

/// Deterministic pseudo-random bits (SplitMix64).
fn bits(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect()
}

/// Floats over many magnitudes: mantissa in [-1, 1) times 10^(-20..20).
fn floats(n: usize, seed: u64) -> Vec<f64> {
    bits(n, seed)
        .into_iter()
        .map(|z| {
            let unit = (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            unit * 10f64.powi((z % 41) as i32 - 20)
        })
        .collect()
}

fn moments<T: Value>(xs: &[T]) -> Moments<T> {
    let mut m = Moments::new();
    m.extend(xs, |x| x);
    m
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

// --- AtomicInt ---------------------------------------------------------------------------------

#[test]
fn atomic_int_operations() {
    let a = AtomicInt::new(5);
    assert_eq!(a.fetch_add(3), Ok(5));
    assert_eq!(a.fetch_sub(10), Ok(8));
    assert_eq!(a.load(), -2);
    assert_eq!(a.swap(7), -2);
    assert_eq!(a.compare_exchange(7, 9), Ok(7));
    assert_eq!(a.compare_exchange(7, 1), Err(9));
    assert_eq!(a.fetch_max(4), 9);
    assert_eq!(a.fetch_max(12), 9);
    assert_eq!(a.fetch_min(3), 12);
    a.store(-1);
    assert_eq!(a.load(), -1);
}

#[test]
fn atomic_int_overflow_is_an_error_and_leaves_the_value() {
    let a = AtomicInt::new(i64::MAX - 1);
    assert_eq!(a.fetch_add(1), Ok(i64::MAX - 1));
    assert!(matches!(a.fetch_add(1), Err(Error::Overflow(_))));
    assert_eq!(a.load(), i64::MAX);
    a.store(i64::MIN);
    assert!(matches!(a.fetch_sub(1), Err(Error::Overflow(_))));
    assert!(matches!(a.fetch_add(-1), Err(Error::Overflow(_))));
    assert_eq!(a.load(), i64::MIN);
    assert_eq!(a.fetch_sub(i64::MIN), Ok(i64::MIN));
    assert_eq!(a.load(), 0);
}

#[test]
fn atomic_int_loses_no_update_under_contention() {
    let a = AtomicInt::new(0);
    on_threads(|_| {
        for _ in 0..100_000 {
            a.fetch_add(1).unwrap();
        }
    });
    assert_eq!(a.load(), 800_000);
}

#[test]
fn atomic_int_compare_exchange_loop_finds_the_maximum() {
    let a = AtomicInt::new(i64::MIN);
    let values: Vec<i64> = bits(8000, 3).into_iter().map(|z| z as i64 >> 8).collect();
    on_threads(|t| {
        for &v in values.iter().skip(t).step_by(THREADS) {
            let mut current = a.load();
            while v > current {
                match a.compare_exchange(current, v) {
                    Ok(_) => break,
                    Err(actual) => current = actual,
                }
            }
        }
    });
    assert_eq!(a.load(), *values.iter().max().unwrap());
}

// --- AtomicFloat ---------------------------------------------------------------------------------

#[test]
fn atomic_float_operations() {
    let a = AtomicFloat::new(1.5);
    assert!(same(a.fetch_add(2.0), 1.5));
    assert!(same(a.fetch_sub(0.5), 3.5));
    assert!(same(a.swap(-2.0), 3.0));
    assert!(same(a.load(), -2.0));
    assert_eq!(a.compare_exchange(-2.0, 4.0), Ok(-2.0));
    assert_eq!(a.compare_exchange(-2.0, 5.0), Err(4.0));
    assert!(same(a.fetch_max(1.0), 4.0));
    assert!(same(a.fetch_min(1.0), 4.0));
    assert!(same(a.load(), 1.0));
    a.store(f64::MAX);
    a.fetch_add(f64::MAX);
    assert_eq!(a.load(), f64::INFINITY);
}

#[test]
fn atomic_float_compare_exchange_compares_bits() {
    let a = AtomicFloat::new(-0.0);
    assert!(a.compare_exchange(0.0, 1.0).is_err());
    assert!(a.compare_exchange(-0.0, 1.0).is_ok());
    let payload = f64::from_bits(f64::NAN.to_bits() | 1);
    a.store(payload);
    assert!(a.compare_exchange(f64::NAN, 1.0).is_err());
    let loaded = a.load();
    assert!(a.compare_exchange(loaded, 1.0).is_ok());
}

#[test]
fn atomic_float_max_and_min_are_ieee_maximum_and_minimum() {
    let a = AtomicFloat::new(0.0);
    a.fetch_max(-0.0);
    assert!(same(a.load(), 0.0));
    a.fetch_min(-0.0);
    assert!(same(a.load(), -0.0));
    a.fetch_max(0.0);
    assert!(same(a.load(), 0.0));
    a.fetch_max(f64::NAN);
    assert!(a.load().is_nan());
    a.fetch_max(1.0);
    assert!(a.load().is_nan(), "NaN stays");
    a.store(2.0);
    a.fetch_min(f64::NAN);
    assert!(a.load().is_nan());
    assert!(same(maximum(-0.0, 0.0), 0.0) && same(maximum(0.0, -0.0), 0.0));
    assert!(same(minimum(-0.0, 0.0), -0.0) && same(minimum(0.0, -0.0), -0.0));
}

#[test]
fn atomic_float_loses_no_update_under_contention() {
    // Integers below 2^53 add exactly, so the total is exact whatever the order.
    let a = AtomicFloat::new(0.0);
    let hi = AtomicFloat::new(f64::NEG_INFINITY);
    on_threads(|t| {
        for i in 0..50_000 {
            a.fetch_add(1.0);
            hi.fetch_max((t * 50_000 + i) as f64);
        }
    });
    assert!(same(a.load(), 400_000.0));
    assert!(same(hi.load(), 399_999.0));
}

// --- exact sums ----------------------------------------------------------------------------------

#[test]
fn float_sum_is_correctly_rounded() {
    let two53 = 9_007_199_254_740_992.0;
    let cases: Vec<(Vec<f64>, f64)> = vec![
        (vec![], 0.0),
        (vec![0.1; 10], 1.0),
        (vec![1e100, 1.0, -1e100], 1.0),
        // Exact intermediates: the partial sum 2e308 overflows in f64, not here.
        (vec![1e308, 1e308, -1e308], 1e308),
        (vec![f64::MAX, f64::MAX], f64::INFINITY),
        (vec![-f64::MAX, -f64::MAX, 1.0], f64::NEG_INFINITY),
        (vec![5e-324, 5e-324, 5e-324], 1.5e-323),
        (vec![2.2250738585072014e-308, -5e-324], 2.225073858507201e-308),
        (vec![two53, 1.0], two53),               // a tie: stays even
        (vec![two53, 3.0], two53 + 4.0),         // a tie: rounds up to even
        (vec![two53, 1.0, 1e-300], two53 + 2.0), // above the tie
        (vec![-0.0, -0.0], 0.0),
        (vec![1.0, -1.0], 0.0),
    ];
    for (xs, expected) in cases {
        let got = moments(&xs).sum();
        assert!(same(got, expected), "{xs:?}: {got} vs {expected}");
        if xs.iter().all(|x| x.abs() < 1e300) {
            assert!(same(got, fsum(xs.iter().copied()) + 0.0), "{xs:?} vs fsum");
        }
    }
}

#[test]
fn sums_match_fsum_and_do_not_depend_on_order_or_split() {
    let xs = floats(20_000, 7);
    let m = moments(&xs);
    assert!(same(m.sum(), fsum(xs.iter().copied())));
    let mut rev = xs.clone();
    rev.reverse();
    let r = moments(&rev);
    let mut split = moments(&xs[..7777]);
    split.merge(&moments(&xs[7777..]));
    for other in [&r, &split] {
        assert!(same(other.sum(), m.sum()));
        assert!(same(other.mean(), m.mean()));
        assert!(same(other.var(0), m.var(0)));
        assert!(same(other.var(1), m.var(1)));
        assert_eq!(other.min(), m.min());
        assert_eq!(other.max(), m.max());
        assert_eq!(other.count(), m.count());
    }
}

#[test]
fn int_moments_are_exact() {
    let xs: Vec<i64> = bits(5000, 11).into_iter().map(|z| z as i64).collect();
    let m = moments(&xs);
    assert_eq!(m.sum(), xs.iter().map(|&x| i128::from(x)).sum::<i128>());
    assert_eq!(m.min(), xs.iter().min().copied());
    assert_eq!(m.max(), xs.iter().max().copied());
    let extreme = moments(&[i64::MAX, i64::MAX, i64::MIN, i64::MIN, i64::MIN]);
    assert_eq!(extreme.sum(), 2 * i128::from(i64::MAX) + 3 * i128::from(i64::MIN));
    // Small values: n·Σx² − (Σx)² and n·(n − ddof) are exact in f64, so their quotient is the
    // correctly rounded variance.
    let small: Vec<i64> = bits(1000, 5)
        .into_iter()
        .map(|z| (z % 2001) as i64 - 1000)
        .collect();
    let m = moments(&small);
    let n = small.len() as i128;
    let s1: i128 = small.iter().map(|&x| i128::from(x)).sum();
    let s2: i128 = small.iter().map(|&x| i128::from(x) * i128::from(x)).sum();
    for ddof in [0, 1, 2] {
        let expected = (n * s2 - s1 * s1) as f64 / (n * (n - i128::from(ddof))) as f64;
        assert!(same(m.var(ddof), expected), "ddof {ddof}");
    }
    assert!(same(m.mean(), s1 as f64 / n as f64));
    assert!(same(moments(&[0i64, 0, 1]).mean(), 1.0 / 3.0));
    assert!(same(moments(&[1i64, 2, 3, 4]).var(0), 1.25));
}

#[test]
fn variance_survives_a_large_mean() {
    // Mean ~1e9, spread 1: the textbook E[x²] − E[x]² formula collapses here; exact sums do not.
    // 334 × (1e9 − 1), 334 × 1e9, 333 × (1e9 + 1).
    let xs: Vec<f64> = (0..1001).map(|i| 1e9 + f64::from(i % 3) - 1.0).collect();
    let m = moments(&xs);
    // Numerators and denominators below 2^53: one f64 division rounds the exact quotient.
    assert!(same(m.mean(), (1_001_000_000_000.0 - 1.0) / 1001.0));
    assert!(same(m.var(0), (667.0 * 1001.0 - 1.0) / (1001.0 * 1001.0)));
    assert!(same(m.var(1), (667.0 * 1001.0 - 1.0) / (1001.0 * 1000.0)));
}

#[test]
fn float_variance_is_close_to_two_pass() {
    let xs: Vec<f64> = floats(3000, 9).iter().map(|x| x.clamp(-1e3, 1e3) + 5.0).collect();
    let m = moments(&xs);
    let n = xs.len() as f64;
    let mean = fsum(xs.iter().copied()) / n;
    let m2 = fsum(xs.iter().map(|x| (x - mean) * (x - mean)));
    assert!((m.var(0) - m2 / n).abs() <= 1e-13 * (m2 / n));
    assert!((m.std(1) - (m2 / (n - 1.0)).sqrt()).abs() <= 1e-13 * (m2 / n).sqrt());
}

#[test]
fn empty_and_non_finite() {
    let e = Moments::<f64>::new();
    assert!(same(e.sum(), 0.0));
    assert!(e.mean().is_nan() && e.var(0).is_nan());
    assert_eq!(e.min(), None);
    assert_eq!(Moments::<i64>::new().sum(), 0);
    let one = moments(&[3.0]);
    assert!(same(one.var(0), 0.0) && one.var(1).is_nan());
    assert!(one.var(-1) == 0.0);
    assert!(same(moments(&[1.0, f64::INFINITY]).sum(), f64::INFINITY));
    assert!(same(moments(&[1.0, f64::NEG_INFINITY]).mean(), f64::NEG_INFINITY));
    assert!(moments(&[f64::INFINITY, f64::NEG_INFINITY]).sum().is_nan());
    assert!(moments(&[1.0, f64::INFINITY]).var(0).is_nan());
    let nan = moments(&[1.0, f64::from_bits(f64::NAN.to_bits() | 7), 0.5]);
    assert!(nan.sum().is_nan() && nan.min().unwrap().is_nan() && nan.max().unwrap().is_nan());
    assert_eq!(nan.min().unwrap().to_bits(), f64::NAN.to_bits(), "canonical NaN");
    let zeros = moments(&[0.0, -0.0]);
    assert!(same(zeros.min().unwrap(), -0.0) && same(zeros.max().unwrap(), 0.0));
    // Subnormal results are rounded correctly too.
    assert!(same(moments(&[5e-324, 5e-324, 5e-324]).mean(), 5e-324));
    assert!(same(moments(&[1e300, -1e300]).var(0), f64::INFINITY));
    // Variances far below the smallest subnormal round to zero; one just above half of it does
    // not: var([0, 2^-537]) = 2^-1076 rounds to 0, var([0, 2^-536]) = 2^-1074 is exact.
    assert!(same(moments(&[5e-324, 0.0]).var(0), 0.0));
    assert!(same(moments(&[0.0, 2f64.powi(-537)]).var(0), 0.0));
    assert!(same(moments(&[0.0, 2f64.powi(-536)]).var(0), 5e-324));
}

#[test]
fn moments_of_slices_are_identical_for_every_thread_setting() {
    let xs = floats(5 * MOMENTS_CHUNK_LEN + 123, 13);
    let serial = moments(&xs);
    let mut settings = vec![Threads::Caller, Threads::Pool];
    settings.push(Threads::AtMost(NonZeroUsize::new(3).unwrap()));
    for t in settings {
        let m = moments_of(&Ctx::new(t, None), &xs, |x| x).unwrap();
        assert!(
            same(m.sum(), serial.sum()) && same(m.var(1), serial.var(1)),
            "{t:?}"
        );
        assert_eq!(m.count(), serial.count());
    }
}

// --- Accumulator -----------------------------------------------------------------------------------

#[test]
fn accumulator_from_threads_equals_the_serial_moments() {
    let xs = floats(80_000, 17);
    let acc = Accumulator::<f64>::new();
    on_threads(|t| {
        for &x in xs.iter().skip(t).step_by(THREADS) {
            acc.add(x);
        }
    });
    let serial = moments(&xs);
    let got = acc.snapshot();
    assert_eq!(got.count(), 80_000);
    assert!(same(got.sum(), serial.sum()));
    assert!(same(got.sum(), fsum(xs.iter().copied())));
    assert!(same(got.mean(), serial.mean()));
    assert!(same(got.var(0), serial.var(0)));
    assert_eq!(got.min(), serial.min());
    assert_eq!(got.max(), serial.max());

    let ints = Accumulator::<i64>::new();
    on_threads(|t| {
        for i in 0..100_000 {
            ints.add(i64::try_from(t).unwrap() * 1_000_000 + i);
        }
    });
    let got = ints.snapshot();
    let expected: i128 = (0..8).map(|t| t * 100_000_000_000 + 4_999_950_000).sum();
    assert_eq!((got.count(), got.sum()), (800_000, expected));
}

#[test]
fn accumulator_reads_while_threads_add_see_whole_adds() {
    // Every add is +1 followed by -1 in the same shard: a snapshot may split them only between
    // two adds, so its sum is always 0 or 1 per thread, never anything torn.
    let acc = Accumulator::<i64>::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !done.load(Relaxed) {
                    acc.add(1);
                    acc.add(-1);
                }
            });
        }
        for _ in 0..200 {
            let m = acc.snapshot();
            assert!((0..=3).contains(&m.sum()));
            assert_eq!(m.count() % 2, u64::try_from(m.sum()).unwrap() % 2);
        }
        done.store(true, Relaxed);
    });
    acc.reset();
    let m = acc.snapshot();
    assert_eq!((m.count(), m.sum()), (0, 0));
    acc.extend(&[1i32, 2, 3], i64::from);
    acc.merge(&moments(&[4i64]));
    assert_eq!(acc.snapshot().sum(), 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_float_sum_is_fsum(v in proptest::collection::vec(-1e300f64..1e300, 0..200)) {
        let got = moments(&v).sum();
        let expected = fsum(v.iter().copied()) + 0.0; // fsum may give -0.0; ours is +0.0
        prop_assert!(same(got, expected), "{} vs {}", got, expected);
    }

    #[test]
    fn prop_any_bits_sum_is_order_free(raw in proptest::collection::vec(any::<u64>(), 0..100)) {
        let v: Vec<f64> = raw.iter().map(|&b| f64::from_bits(b)).filter(|x| x.is_finite()).collect();
        let mut rev = v.clone();
        rev.reverse();
        let (a, b) = (moments(&v), moments(&rev));
        prop_assert!(same(a.sum(), b.sum()) && same(a.mean(), b.mean()) && same(a.var(0), b.var(0)));
    }

    #[test]
    fn prop_int_variance_is_correctly_rounded(v in proptest::collection::vec(-10_000i64..10_000, 2..300)) {
        let m = moments(&v);
        let n = v.len() as i128;
        let s1: i128 = v.iter().map(|&x| i128::from(x)).sum();
        let s2: i128 = v.iter().map(|&x| i128::from(x) * i128::from(x)).sum();
        let num = n * s2 - s1 * s1;
        // Both operands below 2^53 here, so f64 division rounds the exact quotient once.
        prop_assume!(num < (1 << 53) && n * n < (1 << 53));
        prop_assert!(same(m.var(0), num as f64 / (n * n) as f64));
    }
}
