use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;
use crate::Error;

/// Tests that resize the process-wide pool must not interleave.
static POOL_LOCK: Mutex<()> = Mutex::new(());

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
    let names = ctx
        .map_tasks(64, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
            running.fetch_sub(1, Ordering::SeqCst);
            std::thread::current().name().map(str::to_owned)
        })
        .unwrap();
    assert!(
        names
            .iter()
            .all(|n| n.as_deref().is_some_and(|n| n.starts_with("gilfree-"))),
        "{names:?}"
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
    let hook = || {
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
        let err = crate::kernels::testing::panic_at(&ctx, 100, 37).unwrap_err();
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
            if i == 0 {
                // Resizing from inside a running call: this call keeps its pool.
                set_num_threads(2).unwrap();
            }
            rayon::current_num_threads()
        })
        .unwrap();
    assert!(out.iter().all(|&n| n == 3), "{out:?}");
    assert_eq!(configured_threads().0, 2);
    let ctx = Ctx::new(Threads::Pool, None);
    let out = ctx.map_tasks(30, |_| rayon::current_num_threads()).unwrap();
    assert!(out.iter().all(|&n| n == 2), "{out:?}");
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
