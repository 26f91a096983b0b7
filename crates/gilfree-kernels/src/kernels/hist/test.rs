use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};

/// A deterministic pseudo-random stream (splitmix64).
fn stream(seed: u64, n: usize) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
        .collect()
}

fn floats(seed: u64, n: usize) -> Vec<f64> {
    stream(seed, n)
        .into_iter()
        .map(|u| (u >> 11) as f64 / (1u64 << 53) as f64 * 20.0 - 10.0)
        .collect()
}

/// The bin of `x` by the definition: `edges[k] <= x < edges[k+1]`, the last bin closed.
fn reference_bin<C: Key>(x: C, edges: &[C]) -> Option<usize> {
    let nb = edges.len() - 1;
    (0..nb).find(|&k| edges[k] <= x && (x < edges[k + 1] || (k == nb - 1 && x <= edges[nb])))
}

#[test]
fn edges_index_matches_the_definition() {
    let edges = [-3.0, -1.0, 0.0, 0.0, 2.5, 7.0];
    for x in [
        -4.0,
        -3.0,
        -2.0,
        -1.0,
        -0.0,
        0.0,
        1.0,
        2.5,
        6.9,
        7.0,
        7.5,
        f64::NAN,
    ] {
        let want = reference_bin(x, &edges).unwrap_or(edges.len() - 1);
        assert_eq!(edges_index(x, &edges), want, "x = {x}");
    }
}

#[test]
fn linspace_ends_and_steps() {
    let e = linspace(0.0f64, 1.0, 11).unwrap();
    assert_eq!(e.len(), 11);
    assert_eq!(e[0], 0.0);
    assert_eq!(e[10], 1.0);
    assert_eq!(e[3], 3.0 * 0.1);
    let e32 = linspace(-1.0f32, 1.0, 5).unwrap();
    assert_eq!(e32, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
}

#[test]
fn uniform_counts_match_the_edges_and_every_thread_count() {
    let a = floats(1, 3 * BLOCK + 17);
    let c = ctx(Threads::Caller);
    let plan = auto_plan::<f64, f64>(&c, &a, 37).unwrap();
    // With NumPy's correction, every element lands in the bin its edges say.
    let mut want = vec![0i64; 37];
    for &x in &a {
        want[reference_bin(x, &plan.edges).unwrap()] += 1;
    }
    for t in settings() {
        assert_eq!(histogram_uniform(&ctx(t), &a, &plan).unwrap(), want, "{t:?}");
    }
    assert_eq!(want.iter().sum::<i64>(), a.len() as i64);
}

#[test]
fn weighted_is_the_same_bits_at_every_thread_count() {
    let a = floats(2, 5 * BLOCK + 3);
    let w = floats(3, a.len());
    let plan = auto_plan::<f64, f64>(&ctx(Threads::Caller), &a, 10).unwrap();
    let first: Vec<f64> = histogram_uniform_weighted(&ctx(Threads::Caller), &a, &w, &plan).unwrap();
    // NumPy's order: float64 sums per block, blocks added in order.
    let mut want = vec![0.0f64; 10];
    for (ab, wb) in a.chunks(BLOCK).zip(w.chunks(BLOCK)) {
        let mut s = vec![0.0f64; 10];
        for (&x, &wx) in ab.iter().zip(wb) {
            s[reference_bin(x, &plan.edges).unwrap()] += wx;
        }
        for (o, v) in want.iter_mut().zip(&s) {
            *o += *v;
        }
    }
    assert_eq!(first, want);
    for t in settings() {
        let got: Vec<f64> = histogram_uniform_weighted(&ctx(t), &a, &w, &plan).unwrap();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            first.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn auto_plan_refuses_nan_and_inf_and_widens_equal_values() {
    let c = ctx(Threads::Caller);
    let e = auto_plan::<f64, f64>(&c, &[1.0, f64::NAN], 3).unwrap_err();
    assert!(
        e.to_string()
            .contains("autodetected range of [nan, nan] is not finite"),
        "{e}"
    );
    let e = auto_plan::<f64, f64>(&c, &[1.0, f64::INFINITY], 3).unwrap_err();
    assert!(e.to_string().contains("[1.0, inf]"), "{e}");
    let p = auto_plan::<i64, f64>(&c, &[3, 3], 2).unwrap();
    assert_eq!(p.edges, vec![2.5, 3.0, 3.5]);
    assert_eq!(histogram_uniform(&c, &[3i64, 3], &p).unwrap(), vec![0, 2]);
    let p = auto_plan::<f32, f32>(&c, &[], 2).unwrap();
    assert_eq!(p.edges, vec![0.0, 0.5, 1.0]);
}

#[test]
fn bincount_matches_a_direct_count() {
    let x: Vec<i64> = stream(4, 3 * BLOCK + 5)
        .into_iter()
        .map(|u| (u % 1000) as i64)
        .collect();
    let mut want = vec![0i64; 1000];
    for &v in &x {
        want[v as usize] += 1;
    }
    for t in settings() {
        assert_eq!(bincount(&ctx(t), &x, 0).unwrap(), want);
    }
    let long = bincount(&ctx(Threads::Caller), &x, 1500).unwrap();
    assert_eq!(long.len(), 1500);
    assert_eq!(&long[..1000], &want[..]);
    // A table beyond INTERLEAVE_MAX takes the one-table path.
    let y: Vec<i32> = vec![0, 200_000, 5, 5];
    let c = bincount(&ctx(Threads::Pool), &y, 0).unwrap();
    assert_eq!(
        (c.len(), c[0], c[5], c[200_000], c.iter().sum::<i64>()),
        (200_001, 1, 2, 1, 4)
    );
}

#[test]
fn bincount_errors() {
    let c = ctx(Threads::Caller);
    let e = bincount(&c, &[1i64, -1], 0).unwrap_err();
    assert!(e.to_string().contains("must have no negative elements"));
    assert_eq!(bincount(&c, &[] as &[i64], 3).unwrap(), vec![0, 0, 0]);
    // 10**12 bins: refused by the allocator, not an abort.
    let e = bincount(&c, &[1_000_000_000_000i64 - 1], 0).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory(_)), "{e:?}");
    let e = bincount_weighted(&c, &[1i64], &[1.0f64, 2.0], 0).unwrap_err();
    assert!(e.to_string().contains("same length"));
}

#[test]
fn bincount_weighted_thread_invariant() {
    let x: Vec<i32> = stream(5, 2 * BLOCK + 9)
        .into_iter()
        .map(|u| (u % 300) as i32)
        .collect();
    let w = floats(6, x.len());
    let first = bincount_weighted(&ctx(Threads::Caller), &x, &w, 0).unwrap();
    for t in settings() {
        let got = bincount_weighted(&ctx(t), &x, &w, 0).unwrap();
        assert!(got.iter().zip(&first).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn cancelled_call_stops() {
    let a = floats(7, 4 * BLOCK);
    let c = ctx(Threads::Pool);
    c.cancel();
    assert_eq!(bincount(&c, &[1i64; 10], 0).unwrap_err(), Error::Cancelled);
    let plan = auto_plan::<f64, f64>(&ctx(Threads::Caller), &a, 5).unwrap();
    assert_eq!(histogram_uniform(&c, &a, &plan).unwrap_err(), Error::Cancelled);
}

#[test]
fn ord_keys_round_trip_and_keep_bounds() {
    for x in [f64::NEG_INFINITY, -1.5, -0.0, 0.0, 1e-300, 7.0, f64::INFINITY] {
        assert_eq!(f64::from_ord_key(x.ord_key()).to_bits(), x.to_bits());
    }
    assert!((-0.0f32).ord_key() < 0.0f32.ord_key());
    for x in [i32::MIN, -1, 0, 5, i32::MAX] {
        assert_eq!(i32::from_ord_key(x.ord_key()), x);
    }
    // float32 data against a float64 range, as NumPy compares it.
    let (lo, hi) = keep_bounds::<f32>(|x| f64::from(x) >= 0.1, |x| f64::from(x) <= 0.7).unwrap();
    assert!(f64::from(lo) >= 0.1 && f64::from(f32::from_ord_key(lo.ord_key() - 1)) < 0.1);
    assert!(f64::from(hi) <= 0.7 && f64::from(f32::from_ord_key(hi.ord_key() + 1)) > 0.7);
    // int64 data against float64 bounds: rounding to float64 decides.
    let big = (1i64 << 53) as f64;
    let (lo, _) = keep_bounds::<i64>(|x| x as f64 >= big, |_| true).unwrap();
    assert_eq!(lo, (1i64 << 53) - 1 + 1);
    assert!(keep_bounds::<i32>(|x| f64::from(x) >= 1e10, |_| true).is_none());
}

#[test]
fn batched_mapper_is_the_per_element_index() {
    // Values on, next to and between the edges, outside the range, NaN and infinities.
    let plan = Uniform::<f32, f32, f64> {
        keep: Some((0.1f32, 0.7f32)),
        first: 0.1f32,
        denom: 0.7f64 - 0.1f64,
        n: 6,
        edges: linspace(0.1f64, 0.7, 7)
            .unwrap()
            .into_iter()
            .map(|e| e as f32)
            .collect(),
    };
    let mut xs: Vec<f32> = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, 1.0, -0.0];
    for &e in &plan.edges {
        xs.extend([
            e,
            f32::from_bits(e.to_bits() - 1),
            f32::from_bits(e.to_bits() + 1),
        ]);
    }
    xs.extend(floats(9, 1000).into_iter().map(|v| (v as f32) * 0.05 + 0.4));
    let f = plan.batch_fn().unwrap().unwrap();
    let mut out = vec![0usize; xs.len()];
    for (xc, oc) in xs.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
        f(xc, oc);
    }
    let n_d = plan.n as f64;
    for (&x, &o) in xs.iter().zip(&out) {
        assert_eq!(o, plan.bin(x, n_d, 0.1, 0.7), "x = {x}");
    }
    // clamped_index: NaN, negatives, beyond n.
    assert_eq!(f64::NAN.clamped_index(5), 0);
    assert_eq!((-3.5f64).clamped_index(5), 0);
    assert_eq!(4.99f32.clamped_index(5), 4);
    assert_eq!(7.0f64.clamped_index(5), 4);
    assert_eq!(f64::INFINITY.clamped_index(5), 4);
}

#[test]
fn narrow_and_unsigned_integers_count_as_int64() {
    let raw = stream(21, 5000);
    let wide: Vec<i64> = raw.iter().map(|&u| (u % 200) as i64).collect();
    let want = bincount(&ctx(Threads::Pool), &wide, 0).unwrap();
    let u8s: Vec<u8> = wide.iter().map(|&v| v as u8).collect();
    let i8s: Vec<i8> = wide.iter().map(|&v| (v / 2) as i8).collect();
    let u16s: Vec<u16> = wide.iter().map(|&v| v as u16).collect();
    let u32s: Vec<u32> = wide.iter().map(|&v| v as u32).collect();
    let u64s: Vec<u64> = wide.iter().map(|&v| v as u64).collect();
    assert_eq!(bincount(&ctx(Threads::Pool), &u8s, 0).unwrap(), want);
    assert_eq!(bincount(&ctx(Threads::Pool), &u16s, 0).unwrap(), want);
    assert_eq!(bincount(&ctx(Threads::Pool), &u32s, 0).unwrap(), want);
    assert_eq!(bincount(&ctx(Threads::Pool), &u64s, 0).unwrap(), want);
    let half: Vec<i64> = i8s.iter().map(|&v| i64::from(v)).collect();
    assert_eq!(
        bincount(&ctx(Threads::Pool), &i8s, 0).unwrap(),
        bincount(&ctx(Threads::Pool), &half, 0).unwrap()
    );
    assert!(bincount(&ctx(Threads::Pool), &[-1i8, 3], 0).is_err());
    // Histogram plans of a narrow type and of int64 agree (both in float64).
    let p8 = auto_plan::<i8, f64>(&ctx(Threads::Pool), &i8s, 7).unwrap();
    let p64 = auto_plan::<i64, f64>(&ctx(Threads::Pool), &half, 7).unwrap();
    assert_eq!(p8.edges, p64.edges);
    assert_eq!(
        histogram_uniform(&ctx(Threads::Pool), &i8s, &p8).unwrap(),
        histogram_uniform(&ctx(Threads::Pool), &half, &p64).unwrap()
    );
    // uint64 above 2**63 keeps its order.
    let big = [u64::MAX, 1 << 63, 0, 5];
    let pb = auto_plan::<u64, f64>(&ctx(Threads::Pool), &big, 2).unwrap();
    assert_eq!(
        histogram_uniform(&ctx(Threads::Pool), &big, &pb).unwrap(),
        vec![2, 2]
    );
}
