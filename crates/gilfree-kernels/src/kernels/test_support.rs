//! What every family's unit tests share: the thread settings a result must not depend on.

use std::num::NonZeroUsize;

use crate::engine::{Ctx, Threads};

/// Every kind of `threads=`: the calling thread, the whole pool, and caps of 2, 3 and 8 workers.
pub(crate) fn settings() -> Vec<Threads> {
    let mut v = vec![Threads::Caller, Threads::Pool];
    for k in [2, 3, 8] {
        v.push(Threads::AtMost(NonZeroUsize::new(k).unwrap()));
    }
    v
}

/// A call's context with `threads` and no poll hook.
pub(crate) fn ctx(threads: Threads) -> Ctx<'static> {
    Ctx::new(threads, None)
}
