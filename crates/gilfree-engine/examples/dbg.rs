#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]
use gilfree_engine::{set_num_threads, Ctx, Threads};
use std::time::{Duration, Instant};
fn workers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|e| {
            let p = e.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(p)
                .map(|s| s.trim().starts_with("gilfree-"))
                .unwrap_or(false)
        })
        .count()
}
fn settled(n: usize) -> usize {
    let t = Instant::now();
    while workers() != n && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    workers()
}
fn call() -> usize {
    let ctx = Ctx::new(Threads::Pool, None);
    let out = ctx
        .map_tasks(64, |_| {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(15) {}
            std::thread::current()
                .name()
                .map(|s| s.starts_with("gilfree"))
                .unwrap_or(false)
        })
        .unwrap();
    out.iter().filter(|&&b| b).count()
}
fn main() {
    set_num_threads(3).unwrap();
    let w1 = call();
    let a = settled(3);
    set_num_threads(2).unwrap();
    let w2 = call();
    let b = settled(2);
    std::thread::sleep(Duration::from_millis(20));
    let w3 = call();
    std::thread::sleep(Duration::from_millis(20));
    let w4 = call();
    println!("{w1} {a} {w2} {b} {w3} {w4}");
}
