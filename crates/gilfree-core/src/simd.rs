//! Runtime CPU-feature dispatch for the hot loops.
//!
//! The kernels are written once, as portable Rust over explicit lanes (`[T; LANES]` accumulators),
//! and marked `#[inline(always)]`. [`dispatch`] runs such code inside a function compiled with
//! AVX2 enabled when the CPU has it, so LLVM vectorises the same source for 256-bit registers;
//! otherwise the baseline (SSE2) build runs. Only the vector width changes: the lane structure
//! and the order of every floating-point operation are fixed by the source, and Rust never
//! contracts `a * b + c` into an FMA, so every path gives bit-identical results.

/// Runs `f` compiled for the best instruction set this CPU supports.
///
/// `f` and everything it calls should be `#[inline(always)]` (and not recursive), or the
/// wider instructions stop at the first call boundary.
#[inline(always)]
pub(crate) fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if !force_baseline() && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `avx2` only requires that the CPU supports AVX2, checked just above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The instruction set [`dispatch`] uses on this machine (for `gilfree info`).
pub fn active_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if !force_baseline() && std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
        "sse2"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "baseline"
    }
}

#[cfg(test)]
static FORCE_BASELINE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[inline(always)]
fn force_baseline() -> bool {
    #[cfg(test)]
    {
        FORCE_BASELINE.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// Runs `f` with dispatch pinned to the baseline build (tests compare both paths bit for bit).
#[cfg(test)]
pub(crate) fn with_baseline<R>(f: impl FnOnce() -> R) -> R {
    FORCE_BASELINE.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = f();
    FORCE_BASELINE.store(false, std::sync::atomic::Ordering::SeqCst);
    out
}
