use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};

/// A plain byte-per-integer sieve: `is_prime[i]` for `i <= n`.
fn reference_sieve(n: usize) -> Vec<bool> {
    let mut is_prime = vec![true; n + 1];
    is_prime[0] = false;
    if n >= 1 {
        is_prime[1] = false;
    }
    let mut i = 2;
    while i * i <= n {
        if is_prime[i] {
            let mut k = i * i;
            while k <= n {
                is_prime[k] = false;
                k += i;
            }
        }
        i += 1;
    }
    is_prime
}

/// `pi[i]` = the number of primes <= i.
fn reference_pi(n: usize) -> Vec<u64> {
    let mut acc = 0;
    reference_sieve(n)
        .into_iter()
        .map(|p| {
            acc += u64::from(p);
            acc
        })
        .collect()
}

/// Deterministic pseudo-random integers (SplitMix64).
fn randoms(count: usize, below: u64, seed: u64) -> Vec<u64> {
    let mut s = seed;
    (0..count)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % below
        })
        .collect()
}

/// Every path with small n: all primes > 97 in the buckets, one-chunk tasks.
const ALL_BUCKETS: Tuning = Tuning {
    task_bytes: Some(CHUNK_BYTES as u64),
    small_max: 0,
    large_min: Some(0),
    segment_shift: None,
    presieve_max: 97,
    overrun: false,
    chunk: None,
};
/// Small, medium and bucket primes mixed; tasks of two segments and a chunk.
const MIXED: Tuning = Tuning {
    task_bytes: Some((2 * SEGMENT_BYTES + CHUNK_BYTES) as u64),
    small_max: 300,
    large_min: Some(2000),
    segment_shift: None,
    presieve_max: 97,
    overrun: true,
    chunk: Some(1000),
};
/// No buckets, no chunks: every prime crosses whole segments; tasks of an odd size.
const ALL_MEDIUM: Tuning = Tuning {
    task_bytes: Some(100_003),
    small_max: 0,
    large_min: Some(u64::MAX),
    segment_shift: None,
    presieve_max: PRESIEVE_MAX,
    overrun: true,
    chunk: None,
};
/// The segments of large n, with buckets, at small n: tasks of three segments and a chunk.
const BIG_SEGMENTS: Tuning = Tuning {
    task_bytes: Some((3 * LARGE_N_SEGMENT_BYTES + CHUNK_BYTES) as u64),
    small_max: SMALL_MAX,
    large_min: Some(1000),
    segment_shift: Some(20),
    presieve_max: 97,
    overrun: false,
    chunk: None,
};
const TUNINGS: [Tuning; 5] = [Tuning::DEFAULT, ALL_BUCKETS, MIXED, ALL_MEDIUM, BIG_SEGMENTS];
/// Tasks of 7 bytes: many tasks, every one of them ending inside a 64-bit word.
const TINY_TASKS: Tuning = Tuning {
    task_bytes: Some(7),
    ..Tuning::DEFAULT
};

#[test]
fn tables_are_consistent() {
    // Every (class, j) offset formula against the integers it stands for.
    for c in 0..8 {
        for q in [0usize, 1, 2, 37, 1000] {
            let p = 30 * q + R[c];
            for j in 0..8 {
                let v = p * R[j];
                assert_eq!(v / 30, q * R[j] + OFFSET_C[c][j]);
                assert_eq!(!MASK[c][j], 1 << bit_of(v % 30));
                let next = p * R[j + 1];
                assert_eq!(next / 30 - v / 30, q * STEP_Q[j] + STEP_C[c][j]);
            }
        }
    }
    for (t, &v) in VALUE.iter().enumerate() {
        assert_eq!(v % 30, R[t % 8] as u64);
    }
}

/// The wheel loop (whose inner loop indexes unchecked) clears exactly the multiples `p·m`,
/// `m >= p` coprime to 30, whatever the segment length: every class, turns shorter and longer than
/// a segment, segments cut at every phase of a turn.
#[test]
fn the_wheel_loop_clears_exactly_the_multiples_at_every_segment_length() {
    const TOTAL: usize = 4000;
    for c in 0..8 {
        for q in [0u32, 1, 2, 5, 33] {
            let p = 30 * u64::from(q) + R[c] as u64;
            if p < 7 {
                continue;
            }
            let mut expect = vec![0xFFu8; TOTAL];
            let mut m = p;
            while p * m < 30 * TOTAL as u64 {
                if bit_of((m % 30) as usize) < 8 {
                    let v = p * m;
                    expect[(v / 30) as usize] &= !(1 << bit_of((v % 30) as usize));
                }
                m += 1;
            }
            let pu = p as usize;
            for len in [1, 2, 3, 7, 8, 9, 29, pu - 1, pu, pu + 1, 2 * pu + 3, 1000, TOTAL] {
                let (next, j) = first_multiple(p, 0);
                let mut classes: [Vec<Cycle>; 8] = Default::default();
                classes[c].push(Cycle { next, q, j: j as u32 });
                let mut got = vec![0xFFu8; TOTAL];
                for (i, seg) in got.chunks_mut(len).enumerate() {
                    cross_wheel(seg, (i * len) as u64, &mut classes);
                }
                assert_eq!(got, expect, "p = {p}, segments of {len}");
            }
        }
    }
}

/// The same with the overrun: each chunk's primes finish their turn in the bytes after it.
#[test]
fn the_overrun_wheel_loop_clears_exactly_the_multiples_at_every_chunk_length() {
    const TOTAL: usize = 4000;
    for c in 0..8 {
        for q in [0u32, 1, 2, 5, 33] {
            let p = 30 * u64::from(q) + R[c] as u64;
            if p < 7 {
                continue;
            }
            let mut expect = vec![0xFFu8; TOTAL];
            let mut m = p;
            while p * m < 30 * TOTAL as u64 {
                if bit_of((m % 30) as usize) < 8 {
                    let v = p * m;
                    expect[(v / 30) as usize] &= !(1 << bit_of((v % 30) as usize));
                }
                m += 1;
            }
            let pu = p as usize;
            for len in [1, 2, 3, 7, 8, 9, 29, pu - 1, pu, pu + 1, 2 * pu + 3, 1000, TOTAL] {
                for room in [pu, pu + 5, 0] {
                    let (next, j) = first_multiple(p, 0);
                    let mut classes: [Vec<Cycle>; 8] = Default::default();
                    classes[c].push(Cycle { next, q, j: j as u32 });
                    let mut got = vec![0xFFu8; TOTAL + room];
                    for lo in (0..TOTAL).step_by(len) {
                        let n = len.min(TOTAL - lo);
                        // `room` = 0: no room past the end, the checked path.
                        let end = if room == 0 { lo + n } else { got.len() };
                        cross_wheel_overrun(&mut got[lo..end], n, lo as u64, &mut classes);
                    }
                    assert_eq!(got[..TOTAL], expect, "p = {p}, chunks of {len}, room {room}");
                }
            }
        }
    }
}

#[test]
fn presieve_patterns_clear_exactly_the_multiples() {
    for (g, pat) in PRESIEVE_GROUPS.iter().zip(patterns()) {
        assert_eq!(pat.len() as u64, g.iter().product::<u64>());
        for (b, &byte) in pat.iter().enumerate().take(2000) {
            for (j, &r) in R[..8].iter().enumerate() {
                let v = 30 * b as u64 + r as u64;
                let expect = g.iter().all(|&a| !v.is_multiple_of(a));
                assert_eq!(byte >> j & 1 == 1, expect, "{g:?} {v}");
            }
        }
    }
}

#[test]
fn count_and_list_match_a_plain_sieve_for_every_n_up_to_3000() {
    let is_prime = reference_sieve(3000);
    let pi = reference_pi(3000);
    let c = ctx(Threads::Caller);
    for n in 0..=3000u64 {
        let expect: Vec<u64> = (0..=n).filter(|&i| is_prime[i as usize]).collect();
        for tuning in TUNINGS.into_iter().chain([TINY_TASKS]) {
            assert_eq!(
                count_primes_tuned(&c, n, tuning).unwrap(),
                pi[n as usize],
                "{n} {tuning:?}"
            );
            assert_eq!(primes_tuned(&c, n, tuning).unwrap(), expect, "{n} {tuning:?}");
        }
    }
}

#[test]
fn counts_match_a_plain_sieve_at_random_n_and_at_segment_and_task_edges() {
    const LIMIT: usize = 20_000_000;
    let pi = reference_pi(LIMIT);
    let mut ns = randoms(60, LIMIT as u64, 7);
    // Chunk, segment and task edges (in integers: 30 per byte).
    let chunk = 30 * CHUNK_BYTES as u64;
    let segment = 30 * SEGMENT_BYTES as u64;
    let edges = (1..=9).map(|k| k * chunk).chain([segment, 2 * segment]);
    for edge in edges {
        for d in [-31i64, -30, -29, -2, -1, 0, 1, 2, 29, 30, 31] {
            ns.push(edge.checked_add_signed(d).unwrap());
        }
    }
    // Squares of sieving primes, and n = p, p - 1 around them.
    for p in [101u64, 103, 997, 1009, 2003, 2017] {
        ns.extend([p * p - 1, p * p, p * p + 1, p - 1, p]);
    }
    for n in ns {
        for tuning in TUNINGS {
            for t in [Threads::Caller, Threads::Pool] {
                assert_eq!(
                    count_primes_tuned(&ctx(t), n, tuning).unwrap(),
                    pi[n as usize],
                    "{n} {tuning:?}"
                );
            }
        }
    }
}

#[test]
fn lists_match_a_plain_sieve_and_are_identical_for_every_thread_setting() {
    let n = 3_000_000u64;
    let is_prime = reference_sieve(n as usize);
    let expect: Vec<u64> = (0..=n).filter(|&i| is_prime[i as usize]).collect();
    for tuning in TUNINGS {
        for t in settings() {
            assert_eq!(
                primes_tuned(&ctx(t), n, tuning).unwrap(),
                expect,
                "{tuning:?} {t:?}"
            );
        }
    }
}

#[test]
fn published_values() {
    let c = ctx(Threads::Pool);
    let known: [(u64, u64); 11] = [
        (10, 4),
        (100, 25),
        (1_000, 168),
        (10_000, 1_229),
        (100_000, 9_592),
        (1_000_000, 78_498),
        (10_000_000, 664_579),
        (100_000_000, 5_761_455),
        (1_000_000_000, 50_847_534),
        (1 << 32, 203_280_221), // the first n whose sieving primes reach the buckets
        (10_000_000_000, 455_052_511),
    ];
    for (n, pi) in known {
        assert_eq!(count_primes(&c, n).unwrap(), pi, "pi({n})");
    }
    // The buckets on their own, at a size where they cross off most of the work.
    assert_eq!(
        count_primes_tuned(&c, 100_000_000, ALL_BUCKETS).unwrap(),
        5_761_455
    );
    assert_eq!(count_primes_tuned(&c, 1_000_000_000, MIXED).unwrap(), 50_847_534);
}

#[test]
fn counts_are_identical_for_every_thread_setting() {
    for n in [12_345_678u64, 300_000_000] {
        let expect = count_primes(&ctx(Threads::Caller), n).unwrap();
        for t in settings() {
            assert_eq!(count_primes(&ctx(t), n).unwrap(), expect, "{n} {t:?}");
        }
    }
}

#[test]
fn baseline_and_avx2_builds_agree() {
    let n = 50_000_000;
    let fast = count_primes(&ctx(Threads::Caller), n).unwrap();
    let base = simd::with_baseline(|| count_primes(&ctx(Threads::Caller), n).unwrap());
    assert_eq!(fast, base);
    assert_eq!(fast, 3_001_134);
}

#[test]
fn the_largest_n_and_past_it() {
    let c = ctx(Threads::Caller);
    assert!(matches!(
        count_primes(&c, MAX_N + 1),
        Err(Error::InvalidArgument { arg: "n", .. })
    ));
    assert!(matches!(
        primes(&c, u64::MAX),
        Err(Error::InvalidArgument { arg: "n", .. })
    ));
    // 10^15 is accepted, but its list (~2.9e13 primes) cannot be allocated: refused at once.
    assert!(matches!(primes(&c, MAX_N), Err(Error::OutOfMemory(_))));
    assert_eq!(isqrt(MAX_N), 31_622_776);
    for x in [0u64, 1, 2, 3, 4, 15, 16, 17, 1 << 52, (1 << 53) + 1, u64::MAX] {
        let r = isqrt(x);
        assert!(
            r * r <= x && (r + 1).checked_mul(r + 1).is_none_or(|s| s > x),
            "{x}"
        );
    }
}

#[test]
fn write_wants_an_output_of_the_right_length() {
    let c = ctx(Threads::Caller);
    let sieved = sieve(&c, 100).unwrap();
    assert_eq!(sieved.len(), 25);
    let mut out = vec![0u64; 24];
    assert!(matches!(
        sieved.write(&c, &mut out),
        Err(Error::InvalidArgument { arg: "out", .. })
    ));
    let mut out = vec![0u64; 25];
    sieved.write(&c, &mut out).unwrap();
    assert_eq!(out[..5], [2, 3, 5, 7, 11]);
    assert_eq!(out[24], 97);
    assert!(sieve(&c, 1).unwrap().is_empty());
}

#[test]
fn the_upper_bound_is_an_upper_bound() {
    let pi = reference_pi(1_000_000);
    for (n, &p) in pi.iter().enumerate() {
        assert!(pi_upper_bound(n as u64) >= p, "{n}");
    }
    assert!(pi_upper_bound(10_000_000_000) >= 455_052_511);
}

#[test]
fn a_cancelled_call_stops() {
    let c = ctx(Threads::Pool);
    c.cancel();
    assert_eq!(count_primes(&c, 1_000_000_000), Err(Error::Cancelled));
    assert_eq!(primes(&c, 100_000_000), Err(Error::Cancelled));
    let c = ctx(Threads::Caller);
    c.cancel();
    assert_eq!(count_primes(&c, 1_000_000_000), Err(Error::Cancelled));
}

/// This thread's time on a CPU, in ns (`CLOCK_THREAD_CPUTIME_ID`), so that time spent waiting for
/// a CPU on a loaded machine does not count.
#[cfg(target_os = "linux")]
fn cpu_ns() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0);
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

/// The wall clock where the thread's CPU time is not at hand.
#[cfg(not(target_os = "linux"))]
fn cpu_ns() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as f64
}

/// `cargo test --release -p gilfree-kernels primes::test::zz_bench -- --ignored --nocapture`
#[test]
#[ignore = "a benchmark, not a test"]
fn zz_bench() {
    let time = |n: u64, t: Threads, tuning: Tuning| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let c = count_primes_tuned(&ctx(t), n, tuning).unwrap();
            best = best.min(start.elapsed().as_secs_f64());
            std::hint::black_box(c);
        }
        best
    };
    let only = std::env::var("ONLY").unwrap_or_default();
    if let Some(n) = only.strip_prefix("w:") {
        // 10 tasks from the middle of the range of n, single-threaded.
        let n: u64 = n.parse().unwrap();
        let mut tuning = Tuning::DEFAULT;
        if let Ok(t) = std::env::var("TUNE") {
            let v: Vec<u64> = t.split(',').map(|x| x.parse().unwrap()).collect();
            tuning = Tuning {
                small_max: v[0],
                large_min: if v[1] == 0 { None } else { Some(v[1]) },
                segment_shift: std::env::var("SHIFT").ok().map(|x| x.parse().unwrap()),
                task_bytes: if v[2] == 0 { None } else { Some(v[2]) },
                presieve_max: v.get(3).copied().unwrap_or(PRESIEVE_MAX),
                overrun: v.get(4) != Some(&0),
                chunk: None,
            };
        }
        let plan = Plan::new(n, tuning).unwrap();
        let c = ctx(Threads::Caller);
        let start = std::time::Instant::now();
        let mut bytes = 0;
        for t in plan.tasks / 2..plan.tasks / 2 + 10 {
            let (lo, hi) = plan.task_range(t);
            bytes += hi - lo;
            sieve_task(&c, &plan, t, |seg| {
                std::hint::black_box(popcount(seg));
            })
            .unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "n={n:e} {tuning:?}: {:.3} ns per integer, {} tasks, ~{:.1} s for all on one thread",
            secs * 1e9 / (30.0 * bytes as f64),
            plan.tasks,
            secs * plan.tasks as f64 / 10.0
        );
    }
    if let Some(n) = only.strip_prefix("c1:") {
        // For `perf stat`: ten single-threaded runs; TUNE=small_max,large_min,task_bytes (0: default)
        let n: u64 = n.parse().unwrap();
        let mut tuning = Tuning::DEFAULT;
        if let Ok(t) = std::env::var("TUNE") {
            let v: Vec<u64> = t.split(',').map(|x| x.parse().unwrap()).collect();
            tuning = Tuning {
                small_max: v[0],
                large_min: if v[1] == 0 { None } else { Some(v[1]) },
                segment_shift: std::env::var("SHIFT").ok().map(|x| x.parse().unwrap()),
                task_bytes: if v[2] == 0 { None } else { Some(v[2]) },
                presieve_max: v.get(3).copied().unwrap_or(PRESIEVE_MAX),
                overrun: v.get(4) != Some(&0),
                chunk: None,
            };
        }
        for _ in 0..10 {
            std::hint::black_box(count_primes_tuned(&ctx(Threads::Caller), n, tuning).unwrap());
        }
    }
    if let Some(n) = only.strip_prefix("ab:") {
        // Variants side by side, interleaved: VARIANTS="small_max,large_min,task_bytes,shift,pmax,overrun,chunk;..."
        // (0: default), each timing the 8 tasks from the middle on one thread; best of ROUNDS.
        let n: u64 = n.parse().unwrap();
        let variants: Vec<Tuning> = std::env::var("VARIANTS")
            .unwrap_or_else(|_| "0,0,0,0,97,0;0,0,0,0,0,1".into())
            .split(';')
            .map(|v| {
                let v: Vec<u64> = v.split(',').map(|x| x.parse().unwrap()).collect();
                let opt = |x: u64| if x == 0 { None } else { Some(x) };
                Tuning {
                    small_max: opt(v[0]).unwrap_or(SMALL_MAX),
                    large_min: opt(v[1]),
                    task_bytes: opt(v[2]),
                    segment_shift: opt(v[3]).map(|x| x as u32),
                    presieve_max: opt(v[4]).unwrap_or(PRESIEVE_MAX),
                    overrun: v.get(5) != Some(&0),
                    chunk: v.get(6).copied().and_then(opt).map(|x| x as usize),
                }
            })
            .collect();
        let rounds: usize = std::env::var("ROUNDS").map_or(15, |r| r.parse().unwrap());
        let c = ctx(Threads::Caller);
        let mut best = vec![f64::INFINITY; variants.len()];
        let mut counts = vec![0u64; variants.len()];
        for _ in 0..rounds {
            for (i, &tuning) in variants.iter().enumerate() {
                let plan = Plan::new(n, tuning).unwrap();
                let first = plan.tasks / 2;
                let start = cpu_ns();
                let mut count = 0;
                let mut bytes = 0;
                for t in first..(first + 8).min(plan.tasks) {
                    let (lo, hi) = plan.task_range(t);
                    bytes += hi - lo;
                    sieve_task(&c, &plan, t, |seg| count += popcount(seg)).unwrap();
                }
                let ns = (cpu_ns() - start) / (30.0 * bytes as f64);
                best[i] = best[i].min(ns);
                counts[i] = count;
            }
        }
        for (i, v) in variants.iter().enumerate() {
            eprintln!(
                "n={n:e} {v:?}: best {:.4} ns per integer ({:.3}x the first), count {}",
                best[i],
                best[i] / best[0],
                counts[i]
            );
        }
    }
    if only.is_empty() || only == "main" {
        for n in [1_000_000_000u64, 10_000_000_000] {
            for t in [Threads::Caller, Threads::Pool] {
                eprintln!(
                    "count_primes({n:e}) {t:?}: best {:.4} s",
                    time(n, t, Tuning::DEFAULT)
                );
            }
        }
    }
}

/// Near the largest n, where no reference is at hand: the bucket path, the wheel path and both
/// segment sizes must agree on the same tasks (the first, one in the middle, the last).
/// `cargo test --release -p gilfree-kernels primes::test::zz_huge -- --ignored --nocapture` (~1 min)
#[test]
#[ignore = "slow: a minute of sieving near n = 10^15"]
fn zz_huge_n_paths_agree() {
    let c = ctx(Threads::Caller);
    for n in [MAX_N, 123_456_789_012_345] {
        let default = Plan::new(n, Tuning::DEFAULT).unwrap();
        let last = default.tasks - 1;
        for t in [0, default.tasks / 2, last] {
            let mut counts = Vec::new();
            for (large_min, shift, presieve_max, overrun) in [
                (None, None, PRESIEVE_MAX, true),
                (Some(u64::MAX), None, PRESIEVE_MAX, true),
                (None, Some(18), 97, false),
            ] {
                let tuning = Tuning {
                    task_bytes: Some(default.task_bytes),
                    small_max: SMALL_MAX,
                    large_min,
                    segment_shift: shift,
                    presieve_max,
                    overrun,
                    chunk: None,
                };
                let plan = Plan::new(n, tuning).unwrap();
                let mut count = 0;
                sieve_task(&c, &plan, t, |seg| count += popcount(seg)).unwrap();
                counts.push(count);
            }
            eprintln!("n={n} task {t}/{}: {counts:?}", default.tasks);
            assert!(counts.iter().all(|&x| x == counts[0]), "{counts:?}");
        }
    }
}

#[test]
fn short_calls_are_cut_into_4_kib_tasks_long_ones_into_whole_chunks() {
    let plan = |n| Plan::new(n, Tuning::DEFAULT).unwrap();
    // 10^6: 33,334 bytes of bitmap, 9 tasks of 4 KiB (the last shorter).
    assert_eq!(
        (plan(1_000_000).task_bytes, plan(1_000_000).tasks),
        (TASK_UNIT_BYTES, 9)
    );
    assert_eq!(plan(1000).tasks, 1);
    // 10^8: 32 tasks of whole chunks; 10^9: whole segments (more than 32 tasks).
    for n in [10u64.pow(8), 10u64.pow(9)] {
        assert_eq!(plan(n).task_bytes % CHUNK_BYTES as u64, 0, "{n}");
    }
    assert!(plan(10u64.pow(8)).tasks <= TARGET_TASKS as usize);
    assert_eq!(plan(10u64.pow(9)).task_bytes, SEGMENT_BYTES as u64);
}
