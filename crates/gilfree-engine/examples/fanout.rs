//! The engine's fan-out, measured: a call of `W` microseconds of work cut into tasks of `T`
//! microseconds, on the calling thread alone (`threads=1`) and on the pool (`threads=None`).
//!
//! ```text
//! cargo run --release -p gilfree-engine --example fanout [task_us]
//! ```
//!
//! Prints, for each `W`, the best time of each mode over many rounds (interleaved) and the
//! speedup, plus the wake-up latency the engine measured on this machine.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use gilfree_engine::{wake_latency, Ctx, Threads};

/// `n` rounds of a dependent multiply-add chain (about 1 ns each on a 3 GHz core).
fn spin(n: u64) -> f64 {
    let mut x = 1.0f64;
    for _ in 0..n {
        x = black_box(x * 1.000_000_1 + 1e-9);
    }
    x
}

fn calibrate() -> f64 {
    let n = 2_000_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        black_box(spin(n));
        best = best.min(t.elapsed().as_secs_f64());
    }
    n as f64 / (best * 1e6) // rounds per microsecond
}

fn call(threads: Threads, tasks: usize, per_task: u64) -> Duration {
    let t = Instant::now();
    let ctx = Ctx::new(threads, None);
    let out = ctx.map_tasks(tasks, |_| spin(per_task)).unwrap();
    black_box(out);
    t.elapsed()
}

fn main() {
    let task_us: f64 = std::env::args()
        .nth(1)
        .map_or(4.0, |a| a.parse().expect("task_us: a number"));
    let per_us = calibrate();
    let per_task = (task_us * per_us) as u64;
    // Warm the pool up (its threads start on the first call).
    for _ in 0..100 {
        call(Threads::Pool, 64, per_task);
    }
    println!("tasks of {task_us} us; work W in us; best of 200 rounds each");
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>8}",
        "W", "tasks", "1 thread", "pool", "speedup"
    );
    for w in [5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0, 1000.0] {
        let tasks = ((w / task_us).round() as usize).max(1);
        let (mut one, mut pool) = (Duration::MAX, Duration::MAX);
        for _ in 0..200 {
            one = one.min(call(Threads::Caller, tasks, per_task));
            pool = pool.min(call(Threads::Pool, tasks, per_task));
            // A gap between calls, as a Python loop has.
            std::thread::sleep(Duration::from_micros(50));
        }
        println!(
            "{:>8} {:>6} {:>9.1}u {:>9.1}u {:>7.2}x",
            w,
            tasks,
            one.as_secs_f64() * 1e6,
            pool.as_secs_f64() * 1e6,
            one.as_secs_f64() / pool.as_secs_f64()
        );
    }
    println!(
        "wake-up latency of a sleeping worker, measured: {:.1} us",
        wake_latency().as_secs_f64() * 1e6
    );
}
