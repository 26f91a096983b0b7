//! Fork under stress: threads resize the pool, run calls, queue tasks and update an accumulator
//! while the main thread forks again and again; every child must be able to use all of it.
//!
//! Its own test binary (a process-global scenario, as rayon-core does with its
//! `tests/double_init_fail.rs`): no other test's threads run in this process. The timeout on each
//! child is the deadlock detector: a child that hangs on a lock held at the fork is killed and
//! the test fails.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gilfree_kernels::engine::tasks::{self, TaskGroup, Ticket};
use gilfree_kernels::engine::{set_num_threads, Ctx, Threads};
use gilfree_kernels::kernels::primes;
use gilfree_kernels::shared::Accumulator;

/// What a child does: every engine path that takes a lock or reads a lazy static.
fn child_work(acc: &Accumulator<i64>) -> bool {
    let ctx = Ctx::new(Threads::Pool, None);
    let sum: u64 = ctx.map_tasks(64, |i| i as u64).unwrap().into_iter().sum();
    // Presieve patterns (built lazily) and the sieve on the child's new pool.
    let pi = primes::count_primes(&ctx, 10_000_000).unwrap();
    acc.add(1);
    let before = acc.snapshot().count();
    let (tx, rx) = std::sync::mpsc::channel();
    let ticket = Ticket::new(Arc::new(AtomicBool::new(false)), TaskGroup::new());
    tasks::spawn(ticket, |_ctx| Ok(7_u64), move |r, _| tx.send(r).unwrap()).unwrap();
    let task = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    sum == 64 * 63 / 2 && pi == 664_579 && before >= 1 && task == 7
}

#[test]
fn every_child_of_a_busy_process_can_use_the_engine() {
    let stop = Arc::new(AtomicBool::new(false));
    let acc = Arc::new(Accumulator::<i64>::new());
    let mut threads = Vec::new();
    // Resizes: the pool state's lock changes hands constantly.
    threads.push(std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                set_num_threads(1 + i % 3).unwrap();
                i += 1;
            }
        }
    }));
    // Calls and tasks on the pool, sieves (the first builds the presieve patterns), adds.
    for _ in 0..2 {
        threads.push(std::thread::spawn({
            let (stop, acc) = (Arc::clone(&stop), Arc::clone(&acc));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let ctx = Ctx::new(Threads::Pool, None);
                    primes::count_primes(&ctx, 1_000_000).unwrap();
                    for k in 0..1000 {
                        acc.add(k);
                    }
                    let ticket = Ticket::new(Arc::new(AtomicBool::new(false)), TaskGroup::new());
                    tasks::spawn(ticket, |_ctx| Ok(()), |_, _| {}).unwrap();
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(20));
    let mut hung = 0;
    let mut failed = 0;
    for _ in 0..100 {
        // SAFETY: fork() in a multi-threaded process: the child only runs the engine (whose locks
        // the fork handlers make safe, which is what this test checks) and then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = std::panic::catch_unwind(|| child_work(&acc)).unwrap_or(false);
            // SAFETY: ends the child at once, without running the parent's atexit handlers.
            unsafe { libc::_exit(i32::from(!ok)) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
            if r == pid {
                if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                    failed += 1;
                }
                break;
            }
            if Instant::now() > deadline {
                hung += 1;
                // SAFETY: kills and reaps our own hung child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &raw mut status, 0);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if hung + failed > 0 {
            break; // one is enough, and each hang costs the deadline
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!((hung, failed), (0, 0), "children that hung / failed");
}
