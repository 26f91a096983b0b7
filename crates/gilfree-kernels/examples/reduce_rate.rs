//! Single-thread rates of the reductions, without Python: `sum` and `max` (int64, float64) and
//! `var` (float64) against a plain wrapping/float sum of the same array (NumPy's inner loop), in
//! cache and from memory.
//!
//! ```text
//! cargo run --profile ci -p gilfree-kernels --example reduce_rate [elements]
//! ```

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use gilfree_kernels::engine::{Ctx, Threads};
use gilfree_kernels::kernels::reduce;

fn best<F: FnMut() -> R, R>(reps: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        black_box(f());
        best = best.min(t0.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let sizes: Vec<usize> = match std::env::args().nth(1) {
        Some(n) => match n.parse() {
            Ok(n) if n > 0 => vec![n],
            _ => {
                eprintln!("usage: reduce_rate [elements > 0]");
                std::process::exit(2);
            }
        },
        None => vec![65_536, 50_000_000],
    };
    for n in sizes {
        let reps = (2_000_000_000 / (n * 8)).clamp(5, 5000);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let ints: Vec<i64> = (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 24) as i64 - (1 << 39)
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let floats: Vec<f64> = ints.iter().map(|&x| x as f64 * 1e-9).collect();
        let ctx = Ctx::new(Threads::Caller, None);
        let gb = |s: f64| (n * 8) as f64 / s / 1e9;
        let plain_i = best(reps, || ints.iter().fold(0i64, |s, &x| s.wrapping_add(x)));
        let exact_i = best(reps, || reduce::sum_int(&ctx, &ints).unwrap_or(0));
        let plain_f = best(reps, || floats.iter().sum::<f64>());
        let sum_f = best(reps, || reduce::sum_float(&ctx, &floats).unwrap_or(0.0));
        let var_f = best(reps, || reduce::var(&ctx, &floats, 0).unwrap_or(0.0));
        let max_f = best(reps, || reduce::max(&ctx, &floats).unwrap_or(0.0));
        let max_i = best(reps, || reduce::max(&ctx, &ints).unwrap_or(0));
        println!(
            "{n} elements: int64 wrapping {:.1} GB/s, exact sum {:.1} GB/s ({:.2}x), max {:.1} GB/s; \
             float64 plain {:.1} GB/s, sum {:.1} GB/s, var {:.1} GB/s, max {:.1} GB/s",
            gb(plain_i),
            gb(exact_i),
            plain_i / exact_i,
            gb(max_i),
            gb(plain_f),
            gb(sum_f),
            gb(var_f),
            gb(max_f)
        );
    }
}
