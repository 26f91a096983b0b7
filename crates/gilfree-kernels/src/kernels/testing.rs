//! Kernels that exist to prove the engine's contracts from Python: a long, cancellable busy
//! loop (GIL release, Ctrl-C, thread caps) and a kernel that panics (panic capture). They are
//! exposed as `gilfree._native._testing`, not as public API.

use std::time::{Duration, Instant};

use crate::engine::Ctx;
use crate::Result;

/// Busy-waits `tasks` tasks of `task_ms` milliseconds each on the call's workers and returns the
/// number of tasks run. Each task checks for cancellation every millisecond, so a cancelled call
/// stops within about a millisecond plus the poll interval.
pub fn spin(ctx: &Ctx<'_>, tasks: usize, task_ms: u64) -> Result<usize> {
    let done = ctx.map_tasks(tasks, |_| {
        let end = Instant::now() + Duration::from_millis(task_ms);
        while Instant::now() < end {
            if ctx.is_cancelled() {
                return false;
            }
            for _ in 0..1000 {
                std::hint::spin_loop();
            }
        }
        true
    })?;
    ctx.check()?;
    Ok(done.into_iter().filter(|&ran| ran).count())
}

/// Runs `tasks` trivial tasks and panics in task `panic_at`. The panic is caught by the engine
/// and comes back as [`Error::Panic`](crate::Error::Panic).
pub fn panic_at(ctx: &Ctx<'_>, tasks: usize, panic_at: usize) -> Result<usize> {
    let out = ctx.map_tasks(tasks, |i| {
        assert!(i != panic_at, "deliberate test panic in task {i}");
        i
    })?;
    Ok(out.len())
}
