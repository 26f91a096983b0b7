//! `sort` of float64 on the calling thread alone (`threads=1`) and on the pool (`threads=None`),
//! without Python: where the parallel sort starts to pay, and how much.
//!
//! ```text
//! [SORT_DATA=normal|int] [SORT_SEED=u64] cargo run --release -p gilfree-kernels --example sort_rate [elements...]
//! ```

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::sort;

fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        f();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    best
}

/// `n` keys: uniform in `[0, 1)` (the 53-bit doubles of `numpy.random.random`), or with
/// `SORT_DATA=normal` standard normal ones (Box-Muller), or with `SORT_DATA=int` integers below
/// 2⁵³ as doubles (their keys spread evenly over the leading bits).
fn data(n: usize) -> Vec<f64> {
    let mut state = std::env::var("SORT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut bits = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 11
    };
    let kind = std::env::var("SORT_DATA").unwrap_or_default();
    #[allow(clippy::cast_precision_loss)]
    let mut unit = move || bits() as f64 / (1u64 << 53) as f64;
    (0..n)
        .map(|_| match kind.as_str() {
            "normal" => {
                let (u, v) = (unit(), unit());
                (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            }
            "int" => (unit() * (1u64 << 53) as f64).floor(),
            _ => unit(),
        })
        .collect()
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = (11..=21).map(|b| 1usize << b).collect();
    }
    let one = Ctx::new(Threads::Caller, None);
    let pool = Ctx::new(Threads::Pool, None);
    // Warm the pool up (its threads start on the first call).
    let _ = sort::sort(&pool, &vec![1.0f64; 1 << 18]);
    println!(
        "{:>10} {:>12} {:>12} {:>8}",
        "elements", "1 thread us", "pool us", "speedup"
    );
    for n in sizes {
        let a = data(n);
        let reps = (200_000_000 / (n * 20)).clamp(5, 2000);
        let (mut t1, mut tp) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            t1 = t1.min(best(reps, || {
                black_box(sort::sort(&one, &a).ok());
            }));
            tp = tp.min(best(reps, || {
                black_box(sort::sort(&pool, &a).ok());
            }));
        }
        println!("{n:>10} {:>12.1} {:>12.1} {:>7.2}x", t1 * 1e6, tp * 1e6, t1 / tp);
    }
}
