use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;
use crate::Error;

/// Tests that resize the process-wide pool must not interleave.
static POOL_LOCK: Mutex<()> = Mutex::new(());

/// `tasks` tasks, the one numbered `panic_at` panicking (as `gilfree._native._testing.panic`).
fn panic_at(ctx: &Ctx<'_>, tasks: usize, panic_at: usize) -> crate::Result<usize> {
    let out = ctx.map_tasks(tasks, |i| {
        assert!(i != panic_at, "deliberate test panic in task {i}");
        i
    })?;
    Ok(out.len())
}

fn at_most(k: usize) -> Threads {
    Threads::AtMost(NonZeroUsize::new(k).unwrap())
}

#[test]
fn threads_from_request() {
    assert_eq!(Threads::from_request(None).unwrap(), Threads::Pool);
    assert_eq!(Threads::from_request(Some(1)).unwrap(), Threads::Caller);
    assert_eq!(Threads::from_request(Some(3)).unwrap(), at_most(3));
    let err = Threads::from_request(Some(0)).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { arg: "threads", .. }),
        "{err:?}"
    );
    assert_eq!(Threads::Pool.cap(4), 4);
    assert_eq!(Threads::Caller.cap(4), 1);
    assert_eq!(at_most(8).cap(4), 4);
    assert_eq!(at_most(2).cap(4), 2);
}

#[test]
fn chunks_cover_exactly() {
    assert_eq!(chunk_count(0, 10), 0);
    assert_eq!(chunk_count(1, 10), 1);
    assert_eq!(chunk_count(10, 10), 1);
    assert_eq!(chunk_count(11, 10), 2);
    let ctx = Ctx::new(at_most(3), None);
    let ranges = ctx.map_chunks(25, 10, 1, |r| r).unwrap();
    assert_eq!(ranges, vec![0..10, 10..20, 20..25]);
}

#[test]
fn results_come_back_in_task_order_for_every_setting() {
    let _g = POOL_LOCK.lock().unwrap();
    for threads in [
        Threads::Caller,
        Threads::Pool,
        at_most(2),
        at_most(3),
        at_most(64),
    ] {
        let ctx = Ctx::new(threads, None);
        let out = ctx.map_tasks(1000, |i| i * i).unwrap();
        assert_eq!(out, (0..1000).map(|i| i * i).collect::<Vec<_>>(), "{threads:?}");
        assert_eq!(ctx.progress(), (1000, 1000));
    }
}

#[test]
fn caller_mode_runs_on_the_calling_thread() {
    let me = std::thread::current().id();
    let ctx = Ctx::new(Threads::Caller, None);
    let ids = ctx.map_tasks(50, |_| std::thread::current().id()).unwrap();
    assert!(ids.iter().all(|&id| id == me));
}

#[test]
fn pool_mode_uses_named_pool_threads_never_more_than_the_cap() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(4).unwrap();
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let ctx = Ctx::new(at_most(2), None);
    let me = std::thread::current().id();
    let names = ctx
        .map_tasks(64, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
            running.fetch_sub(1, Ordering::SeqCst);
            (std::thread::current().id() != me).then(|| std::thread::current().name().map(str::to_owned))
        })
        .unwrap();
    // Every task ran on the calling thread or on a worker of gilfree's pool.
    let workers: Vec<_> = names.into_iter().flatten().collect();
    assert!(
        !workers.is_empty()
            && workers
                .iter()
                .all(|n| n.as_deref().is_some_and(|n| n.starts_with("gilfree-"))),
        "{workers:?}"
    );
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert_eq!(live_pool(), Some(4));
}

#[test]
fn cancel_flag_stops_between_tasks() {
    let _g = POOL_LOCK.lock().unwrap();
    for threads in [Threads::Caller, Threads::Pool] {
        let ctx = Ctx::new(threads, None);
        let ran = AtomicUsize::new(0);
        let err = ctx
            .map_tasks(10_000, |i| {
                ran.fetch_add(1, Ordering::SeqCst);
                if i == 10 {
                    ctx.cancel();
                }
            })
            .unwrap_err();
        assert_eq!(err, Error::Cancelled);
        assert!(ran.load(Ordering::SeqCst) < 10_000);
    }
}

#[test]
fn poll_hook_can_cancel_a_call_on_the_calling_thread() {
    let _g = POOL_LOCK.lock().unwrap();
    let caller = std::thread::current().id();
    let polled_on = Mutex::new(Vec::new());
    let hook = |_progress: (u64, u64)| {
        polled_on.lock().unwrap().push(std::thread::current().id());
        true
    };
    for threads in [Threads::Caller, Threads::Pool] {
        let ctx = Ctx::new(threads, Some(&hook));
        let err = ctx
            .map_tasks(1000, |_| std::thread::sleep(std::time::Duration::from_millis(5)))
            .unwrap_err();
        assert_eq!(err, Error::Cancelled, "{threads:?}");
    }
    let polled_on = polled_on.lock().unwrap();
    assert!(!polled_on.is_empty());
    assert!(
        polled_on.iter().all(|&id| id == caller),
        "the hook ran off the calling thread"
    );
}

#[test]
fn a_panic_becomes_an_error_and_the_pool_survives() {
    let _g = POOL_LOCK.lock().unwrap();
    for threads in [Threads::Caller, Threads::Pool, at_most(2)] {
        let ctx = Ctx::new(threads, None);
        let err = panic_at(&ctx, 100, 37).unwrap_err();
        match err {
            Error::Panic(msg) => assert!(msg.contains("deliberate test panic"), "{msg}"),
            other => panic!("expected a panic error, got {other:?}"),
        }
        let ctx = Ctx::new(threads, None);
        assert_eq!(ctx.map_tasks(100, |i| i).unwrap().len(), 100);
    }
}

#[test]
fn resizing_keeps_in_flight_calls_on_their_pool() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(3).unwrap();
    let ctx = Ctx::new(Threads::Pool, None);
    let out = ctx
        .map_tasks(30, |i| {
            if i == 10 {
                // Resizing from inside a running call (its workers started after the first
                // task, a millisecond of work): this call keeps its pool.
                set_num_threads(2).unwrap();
            }
            on_pool_worker()
        })
        .unwrap();
    let workers: Vec<usize> = out.into_iter().flatten().collect();
    assert!(
        !workers.is_empty() && workers.iter().all(|&n| n == 3),
        "{workers:?}"
    );
    assert_eq!(configured_threads().0, 2);
    let ctx = Ctx::new(Threads::Pool, None);
    let out = ctx.map_tasks(30, |_| on_pool_worker()).unwrap();
    let workers: Vec<usize> = out.into_iter().flatten().collect();
    assert!(
        !workers.is_empty() && workers.iter().all(|&n| n == 2),
        "{workers:?}"
    );
}

/// On a pool worker, the size of its pool (after a millisecond of work, so that the calling
/// thread wakes workers); `None` on the calling thread.
fn on_pool_worker() -> Option<usize> {
    std::thread::sleep(std::time::Duration::from_millis(1));
    rayon::current_thread_index().map(|_| rayon::current_num_threads())
}

/// The calling thread takes part in its call: with `threads=k` it is one of the `k` threads.
#[test]
fn the_calling_thread_works_too_and_counts_in_the_cap() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(3).unwrap();
    let me = std::thread::current().id();
    for (threads, most) in [(Threads::Pool, 3), (at_most(2), 2)] {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let ctx = Ctx::new(threads, None);
        let who = ctx
            .map_tasks(60, |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(1));
                running.fetch_sub(1, Ordering::SeqCst);
                std::thread::current().id()
            })
            .unwrap();
        assert!(who.contains(&me), "{threads:?}: the caller ran no task");
        assert!(
            who.iter().any(|&id| id != me),
            "{threads:?}: no worker ran a task"
        );
        assert!(peak.load(Ordering::SeqCst) <= most, "{threads:?}");
        assert_eq!(ctx.team_size(), most, "{threads:?}");
    }
    assert_eq!(Ctx::new(Threads::Caller, None).team_size(), 1);
    assert_eq!(Ctx::new(at_most(8), None).team_size(), 3); // capped by the pool
    set_num_threads(2).unwrap();
}

/// Two long tasks: `map_tasks` runs them one after the other on the calling thread (it times
/// the first before asking, and then claims the second itself); `map_long_tasks` asks before the
/// first, so a worker runs one of them meanwhile.
#[test]
fn long_tasks_are_shared_from_the_first_even_when_few() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    let me = std::thread::current().id();
    let task = |_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::thread::current().id()
    };
    let ctx = Ctx::new(Threads::Pool, None);
    assert_eq!(ctx.map_tasks(2, task).unwrap(), vec![me, me]);
    let who = ctx.map_long_tasks(2, task).unwrap();
    assert!(who.contains(&me), "the caller ran no task");
    assert!(who.iter().any(|&id| id != me), "no worker ran a task");
    // One task: the caller alone, asking nobody.
    assert_eq!(ctx.map_long_tasks(1, task).unwrap(), vec![me]);
}

/// `map_phases`: every task of a phase sees every task of the phases before it returned (phases
/// of no task included), results come back phase by phase in task order, and the calling thread
/// and a worker both take part, at every setting.
#[test]
fn phases_follow_one_another() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    let phases = [3usize, 5, 0, 4, 1, 7, 2];
    let ends: Vec<usize> = phases
        .iter()
        .scan(0, |acc, &n| {
            *acc += n;
            Some(*acc)
        })
        .collect();
    for threads in [Threads::Pool, Threads::Caller, at_most(2)] {
        for round in 0..20u64 {
            let returned = AtomicUsize::new(0);
            let ctx = Ctx::new(threads, None);
            let got = ctx
                .map_phases(&phases, |p, t| {
                    // Every task before this phase has returned; none after it has started.
                    let before = if p == 0 { 0 } else { ends[p - 1] };
                    let seen = returned.load(Ordering::SeqCst);
                    // Uneven tasks, so that threads arrive at a boundary at different times.
                    if (p as u64 + t as u64 + round).is_multiple_of(3) {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    returned.fetch_add(1, Ordering::SeqCst);
                    (p, t, seen >= before && seen < ends[p])
                })
                .unwrap();
            let want: Vec<(usize, usize, bool)> = phases
                .iter()
                .enumerate()
                .flat_map(|(p, &n)| (0..n).map(move |t| (p, t, true)))
                .collect();
            assert_eq!(got, want, "{threads:?} round {round}");
        }
    }
    assert!(Ctx::new(Threads::Pool, None)
        .map_phases(&[], |_, _| 0)
        .unwrap()
        .is_empty());
}

/// A panic in a phase stops the threads waiting at the next boundary: the call returns the
/// panic, promptly (the test's timeout is the deadlock detector), and the pool keeps working.
#[test]
fn a_panic_in_a_phase_stops_the_threads_waiting_for_it() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    let ctx = Ctx::new(Threads::Pool, None);
    let err = ctx
        .map_phases(&[4, 4, 4], |p, t| {
            if p == 1 && t == 2 {
                panic!("phase 1 fails");
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::Panic(ref m) if m.contains("phase 1 fails")),
        "{err:?}"
    );
    let ctx = Ctx::new(Threads::Pool, None);
    assert_eq!(
        ctx.map_phases(&[2, 2], |p, t| p * 10 + t).unwrap(),
        vec![0, 1, 10, 11]
    );
}

/// A closed broadcast starts no more bodies: the ones that had not started when it was closed
/// never run, and the wait returns once the started ones returned.
#[test]
fn a_closed_broadcast_starts_no_more_bodies() {
    use std::ffi::c_void;
    static RAN: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn body(_data: *const c_void, _worker: usize) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        RAN.fetch_add(1, Ordering::SeqCst);
    }
    let _guard = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    let b = backend::local();
    // SAFETY: the body ignores its data; the handle is waited for before it is freed.
    unsafe {
        // 50 bodies on 2 workers: at most the first few can start before the close.
        let handle = (b.broadcast_start)(50, body, std::ptr::null());
        assert!(!handle.is_null());
        (b.broadcast_close)(handle);
        while (b.broadcast_wait)(handle, 1_000_000) != 1 {}
        (b.broadcast_free)(handle);
    }
    let ran = RAN.load(Ordering::SeqCst);
    assert!(ran <= 2, "{ran} bodies ran after the close");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        RAN.load(Ordering::SeqCst),
        ran,
        "a body started after the wait returned"
    );
}

/// Workers that ran jobs spin for a while (`hot_workers` counts them), then sleep: the count
/// returns to 0, whatever the calls before. (That a worker spins right after its job is a
/// matter of scheduling, measured by `examples/fanout.rs`, not asserted here.)
#[test]
fn spinning_workers_go_to_sleep() {
    use std::ffi::c_void;
    use std::time::{Duration, Instant};
    unsafe extern "C" fn body(_data: *const c_void, _worker: usize) {
        std::thread::sleep(Duration::from_micros(200));
    }
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    let b = backend::local();
    for n in [1, 2, 5] {
        // SAFETY: the body ignores its data; the handle is waited for, then freed once.
        unsafe {
            let handle = (b.broadcast_start)(n, body, std::ptr::null());
            assert!(!handle.is_null());
            while (b.broadcast_wait)(handle, 1_000_000) != 1 {}
            (b.broadcast_free)(handle);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: a backend entry, valid for the process, never unwinding.
    while unsafe { (b.hot_workers)() } != 0 {
        assert!(Instant::now() < deadline, "a worker kept spinning");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn set_num_threads_rejects_out_of_range() {
    assert!(matches!(
        set_num_threads(0),
        Err(Error::InvalidArgument { arg: "n", .. })
    ));
    assert!(matches!(
        set_num_threads(MAX_THREADS + 1),
        Err(Error::InvalidArgument { arg: "n", .. })
    ));
}

#[test]
fn many_callers_share_one_pool() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    std::thread::scope(|s| {
        for t in 0..16 {
            s.spawn(move || {
                for _ in 0..20 {
                    let ctx = Ctx::new(Threads::Pool, None);
                    let out = ctx.map_tasks(64, |i| i + t).unwrap();
                    assert_eq!(out, (t..64 + t).collect::<Vec<_>>());
                }
            });
        }
    });
}

// --- independent tasks (tasks.rs) ------------------------------------------------------------

mod task_tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::panic_at;
    use super::POOL_LOCK;
    use crate::tasks::{self, Completions, TaskGroup, Ticket};
    use crate::Error;
    use crate::{interrupt_epoch, set_num_threads, Ctx};

    /// What a test task reports: its index, its outcome, and whether its owner cancelled it.
    type Done<R> = (usize, crate::Result<R>, bool);

    fn spawn_into<R: Send + 'static>(
        q: &Arc<Completions<Done<R>>>,
        i: usize,
        ticket: Ticket,
        work: impl FnOnce(&Ctx<'_>) -> crate::Result<R> + Send + 'static,
    ) {
        let q = Arc::clone(q);
        tasks::spawn(ticket, work, move |out, t| {
            q.push((i, out, t.cancelled_by_owner()))
        })
        .unwrap();
    }

    /// Collects `n` completions, failing after 20 s (a lost completion would hang the test).
    fn collect<R>(q: &Completions<Done<R>>, n: usize) -> Vec<Done<R>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} completions arrived",
                got.len()
            );
            if q.wait(Duration::from_millis(50)) {
                got.extend(q.take());
            }
        }
        got.sort_by_key(|d| d.0);
        got
    }

    fn ticket(group: &Arc<TaskGroup>) -> (Arc<AtomicBool>, Ticket) {
        let flag = Arc::new(AtomicBool::new(false));
        (Arc::clone(&flag), Ticket::new(flag, Arc::clone(group)))
    }

    /// Busy-waits `ms` milliseconds, stopping early if the task is cancelled.
    fn busy(ctx: &Ctx<'_>, ms: u64) -> crate::Result<()> {
        let end = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < end {
            ctx.check()?;
            std::hint::spin_loop();
        }
        Ok(())
    }

    #[test]
    fn tasks_run_on_pool_workers_one_each_and_report_in_batches() {
        let _g = POOL_LOCK.lock().unwrap();
        set_num_threads(2).unwrap();
        let q = Arc::new(Completions::new());
        let group = TaskGroup::new();
        for i in 0..200 {
            spawn_into(&q, i, ticket(&group).1, move |ctx| {
                // A task's context keeps everything on its worker.
                let inner = ctx.map_tasks(8, |_| std::thread::current().id())?;
                assert!(inner.iter().all(|&id| id == std::thread::current().id()));
                Ok((i * i, std::thread::current().name().map(str::to_owned)))
            });
        }
        let got = collect(&q, 200);
        for (i, (index, out, owner_cancelled)) in got.into_iter().enumerate() {
            assert_eq!(index, i);
            assert!(!owner_cancelled);
            let (square, name) = out.unwrap();
            assert_eq!(square, i * i);
            assert!(name.is_some_and(|n| n.starts_with("gilfree-")));
        }
    }

    #[test]
    fn many_submitters_never_run_more_tasks_at_once_than_the_pool_has() {
        let _g = POOL_LOCK.lock().unwrap();
        set_num_threads(2).unwrap();
        let q = Arc::new(Completions::new());
        let group = TaskGroup::new();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..8 {
                let (q, group, running, peak) = (&q, &group, &running, &peak);
                s.spawn(move || {
                    for k in 0..25 {
                        let (running, peak) = (Arc::clone(running), Arc::clone(peak));
                        spawn_into(q, t * 25 + k, ticket(group).1, move |ctx| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            let r = busy(ctx, 1);
                            running.fetch_sub(1, Ordering::SeqCst);
                            r
                        });
                    }
                });
            }
        });
        let got = collect(&q, 200);
        assert!(got.iter().all(|d| d.1.is_ok()));
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak concurrency {peak} on a pool of 2");
    }

    #[test]
    fn a_task_cancelled_before_it_starts_never_runs() {
        let _g = POOL_LOCK.lock().unwrap();
        set_num_threads(1).unwrap();
        let q = Arc::new(Completions::new());
        let group = TaskGroup::new();
        // Occupy the only worker until `release` is set, so the next tasks stay queued.
        let release = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&release);
        spawn_into(&q, 0, ticket(&group).1, move |_| {
            while !r.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(false)
        });
        let ran = Arc::new(AtomicBool::new(false));
        let (flag, t) = ticket(&group);
        let ran2 = Arc::clone(&ran);
        spawn_into(&q, 1, t, move |_| {
            ran2.store(true, Ordering::SeqCst);
            Ok(true)
        });
        flag.store(true, Ordering::SeqCst);
        release.store(true, Ordering::SeqCst);
        let got = collect(&q, 2);
        assert_eq!(got[0].1, Ok(false));
        assert_eq!(got[1].1, Err(Error::Cancelled));
        assert!(got[1].2, "the owner cancelled it");
        assert!(!ran.load(Ordering::SeqCst), "a cancelled task ran");
    }

    #[test]
    fn group_cancel_stops_running_and_queued_tasks() {
        let _g = POOL_LOCK.lock().unwrap();
        set_num_threads(2).unwrap();
        let q = Arc::new(Completions::new());
        let group = TaskGroup::new();
        let started = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let started = Arc::clone(&started);
            // 1000 s each unless cancelled.
            spawn_into(&q, i, ticket(&group).1, move |ctx| {
                started.fetch_add(1, Ordering::SeqCst);
                busy(ctx, 1_000_000)
            });
        }
        while started.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        group.cancel();
        let got = collect(&q, 10);
        assert!(got.iter().all(|d| d.1 == Err(Error::Cancelled) && d.2), "{got:?}");
        assert!(
            started.load(Ordering::SeqCst) <= 2 + 1,
            "queued tasks started after the cancel"
        );
        // Another group is unaffected.
        let other = TaskGroup::new();
        spawn_into(&q, 0, ticket(&other).1, |_| Ok(()));
        assert_eq!(collect(&q, 1)[0].1, Ok(()));
    }

    #[test]
    fn a_task_context_watches_its_flags_and_its_submit_epoch() {
        let task = AtomicBool::new(false);
        let group = AtomicBool::new(false);
        let now = interrupt_epoch();
        let ctx = Ctx::for_task(now, &task, &group);
        assert!(!ctx.is_cancelled());
        group.store(true, Ordering::SeqCst);
        assert_eq!(ctx.check(), Err(Error::Cancelled));
        group.store(false, Ordering::SeqCst);
        task.store(true, Ordering::SeqCst);
        assert!(ctx.is_cancelled());
        task.store(false, Ordering::SeqCst);
        // Submitted before an interrupt (an epoch that has moved on since): cancelled.
        let stale = Ctx::for_task(now.wrapping_sub(1), &task, &group);
        assert!(stale.is_cancelled());
        assert_eq!(stale.map_tasks(3, |i| i), Err(Error::Cancelled));
    }

    #[test]
    fn a_panicking_task_reports_a_panic_and_the_pool_survives() {
        let _g = POOL_LOCK.lock().unwrap();
        let q = Arc::new(Completions::new());
        let group = TaskGroup::new();
        spawn_into(&q, 0, ticket(&group).1, |ctx| panic_at(ctx, 10, 3));
        match &collect(&q, 1)[0].1 {
            Err(Error::Panic(msg)) => assert!(msg.contains("deliberate test panic"), "{msg}"),
            other => panic!("expected a panic error, got {other:?}"),
        }
        // A panicking completion callback is swallowed; the pool still runs tasks.
        tasks::spawn(ticket(&group).1, |_| Ok(()), |_, _| panic!("callback panic")).unwrap();
        spawn_into(&q, 1, ticket(&group).1, |_| Ok(7));
        assert_eq!(collect(&q, 1)[0].1, Ok(7));
    }

    #[test]
    fn completions_wake_wait_and_time_out() {
        let q: Arc<Completions<u32>> = Arc::new(Completions::new());
        let t0 = Instant::now();
        assert!(!q.wait(Duration::from_millis(20)));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        q.wake();
        assert!(!q.wait(Duration::from_secs(60)), "wake() must end the wait");
        let consumer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || q.wait(Duration::from_secs(60)))
        };
        std::thread::sleep(Duration::from_millis(10));
        q.push(1);
        q.push(2);
        assert!(consumer.join().unwrap());
        assert_eq!(q.len(), 2);
        assert_eq!(q.take(), vec![1, 2]);
        assert!(q.is_empty());
    }

    /// Polls `cond` until it holds (20 s at most).
    fn until(cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_push_wakes_the_sleeping_helper_not_the_consumer() {
        let q: Arc<Completions<u32>> = Arc::new(Completions::new());
        let consumer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || (q.wait(Duration::from_secs(1)), Instant::now()))
        };
        let seen = q.epoch();
        let helper = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || (q.help(seen, Duration::from_secs(60)), Instant::now()))
        };
        until(|| q.sleepers() == (true, 1));
        let pushed = Instant::now();
        q.push(7);
        let (items, helped) = helper.join().unwrap();
        assert_eq!(items, vec![7], "the helper takes the item");
        // The consumer slept on (its wait timed out, with nothing to take).
        let (ready, woke) = consumer.join().unwrap();
        assert!(!ready && woke >= helped && woke - pushed >= Duration::from_millis(500));
        assert!(q.is_empty());
    }

    #[test]
    fn helpers_stop_waiting_when_another_thread_delivers() {
        let q: Arc<Completions<u32>> = Arc::new(Completions::new());
        let seen = q.epoch();
        let helpers: Vec<_> = (0..3)
            .map(|_| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || q.help(seen, Duration::from_secs(60)))
            })
            .collect();
        until(|| q.sleepers().1 == 3);
        q.delivered();
        for h in helpers {
            assert!(h.join().unwrap().is_empty());
        }
        assert_ne!(q.epoch(), seen);
        // A helper that saw an old epoch does not sleep at all.
        assert!(q.help(seen, Duration::from_secs(60)).is_empty());
        // One that saw the current epoch times out.
        let t0 = Instant::now();
        assert!(q.help(q.epoch(), Duration::from_millis(20)).is_empty());
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn items_given_back_go_to_the_consumer_only() {
        let q: Arc<Completions<u32>> = Arc::new(Completions::new());
        q.push(1);
        let taken = q.help(q.epoch(), Duration::ZERO);
        assert_eq!(taken, vec![1]);
        q.give_back(taken);
        q.push(2);
        // A helper does not take what was given back, only new items.
        assert_eq!(q.help(q.epoch(), Duration::ZERO), vec![2]);
        assert!(q.wait(Duration::ZERO));
        assert_eq!(q.take(), vec![1]);
        // Giving back wakes a sleeping consumer.
        let consumer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || (q.wait(Duration::from_secs(60)), q.take()))
        };
        until(|| q.sleepers().0);
        q.give_back(vec![5]);
        assert_eq!(consumer.join().unwrap(), (true, vec![5]));
        assert!(q.is_empty());
    }
}

#[test]
fn a_queued_task_runs_between_chunks_of_a_long_direct_call() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(2).unwrap();
    // A direct call of 400 chunks of 2 ms each holds both workers for ~0.4 s.
    let started = Arc::new(AtomicBool::new(false));
    let call = std::thread::spawn({
        let started = Arc::clone(&started);
        move || {
            let ctx = Ctx::new(Threads::Pool, None);
            let out = ctx
                .map_tasks(400, |i| {
                    started.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    i
                })
                .unwrap();
            (out.len(), Instant::now())
        }
    });
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let ticket = tasks::Ticket::new(Arc::new(AtomicBool::new(false)), tasks::TaskGroup::new());
    tasks::spawn(
        ticket,
        |_ctx| Ok(42),
        move |r, _| tx.send((r, Instant::now())).unwrap(),
    )
    .unwrap();
    let (value, task_done) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let (n, call_done) = call.join().unwrap();
    assert_eq!((value.unwrap(), n), (42, 400));
    // The task did not wait for the whole call: it ran between two of its chunks.
    assert!(
        task_done < call_done,
        "the task waited for the direct call to finish"
    );
    assert_eq!(tasks::queued(), 0);
}

/// A call made on a pool worker (from inside another call) runs on that worker: waiting for the
/// pool it occupies could deadlock once every worker waits. Same results as at the top level.
#[test]
fn a_call_inside_a_call_runs_on_its_worker_without_deadlock() {
    let _guard = POOL_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    set_num_threads(2).unwrap();
    let outer = Ctx::new(Threads::Pool, None);
    let sums = outer
        .map_tasks(8, |i| {
            let inner = Ctx::new(Threads::Pool, None);
            inner
                .map_tasks(100, |j| i * j)
                .unwrap()
                .into_iter()
                .sum::<usize>()
        })
        .unwrap();
    let expected: Vec<usize> = (0..8).map(|i| (0..100).map(|j| i * j).sum()).collect();
    assert_eq!(sums, expected);
}

/// The backend seam: by default the engine runs on its own backend, whose broadcast runs every
/// body exactly once, on pool workers, and whose wait reports completion.
#[test]
fn the_local_backend_broadcasts_every_body_once() {
    use std::ffi::c_void;
    let _guard = POOL_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    set_num_threads(2).unwrap();
    assert!(backend::is_local());
    let seen: Vec<AtomicUsize> = (0..5).map(|_| AtomicUsize::new(0)).collect();
    unsafe extern "C" fn body(data: *const c_void, worker: usize) {
        // SAFETY: `data` is `seen` below, alive until the wait returned 1.
        let seen = unsafe { &*data.cast::<Vec<AtomicUsize>>() };
        assert_eq!(unsafe { (backend::local().on_worker)() }, 1);
        seen[worker].fetch_add(1, Ordering::SeqCst);
    }
    let b = backend::local();
    // SAFETY: `seen` outlives the broadcast (we wait for it before it is dropped).
    unsafe {
        let handle = (b.broadcast_start)(5, body, std::ptr::from_ref(&seen).cast());
        assert!(!handle.is_null());
        while (b.broadcast_wait)(handle, 1_000_000) != 1 {}
        (b.broadcast_free)(handle);
        assert_eq!((b.on_worker)(), 0);
    }
    assert!(seen.iter().all(|n| n.load(Ordering::SeqCst) == 1));
}

#[test]
fn reset_num_threads_forgets_the_explicit_size() {
    let _g = POOL_LOCK.lock().unwrap();
    set_num_threads(3).unwrap();
    assert_eq!(configured_threads(), (3, ThreadsSource::SetNumThreads));
    let n = reset_num_threads();
    let (now, source) = configured_threads();
    assert_eq!(now, n);
    assert_ne!(source, ThreadsSource::SetNumThreads);
    set_num_threads(2).unwrap();
}
