//! Runtime CPU-feature dispatch for the hot loops.
//!
//! The kernels are written once, as portable Rust over explicit lanes (`[T; LANES]` accumulators),
//! and marked `#[inline(always)]`. [`dispatch`] runs such code inside a function compiled with
//! AVX2 enabled when the CPU has it, so LLVM may use 256-bit registers and AVX2 instructions
//! (it does for the min/max/argmin/argmax scans; the sums are bound by memory and L2 either
//! way); otherwise the baseline (SSE2) build runs. Only the instructions change: the lane
//! structure and the order of every floating-point operation are fixed by the source, and Rust
//! never contracts `a * b + c` into an FMA, so every path gives bit-identical results.

/// A unit of hot work that [`dispatch`] can compile for several instruction sets.
///
/// Implement [`run`](Kernel::run) with `#[inline(always)]`, and make everything it calls
/// `#[inline(always)]` and non-recursive: the wider instructions reach exactly as far as the
/// inlining does. (A closure would not do: it stays a separate function, compiled for the
/// baseline, and the target-feature wrapper around it would be empty.)
pub(crate) trait Kernel {
    /// What the kernel computes.
    type Output;
    /// Does the work.
    fn run(self) -> Self::Output;
}

/// Runs `k` compiled for the best instruction set this CPU supports.
#[inline(always)]
pub(crate) fn dispatch<K: Kernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_enabled() {
            // SAFETY: `avx2` only requires that the CPU supports AVX2, checked just above.
            return unsafe { avx2(k) };
        }
    }
    k.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<K: Kernel>(k: K) -> K::Output {
    k.run()
}

/// True when AVX2 code may run: the CPU has it (and tests have not pinned the baseline). For the
/// few kernels written with explicit `std::arch` intrinsics, which must be called only then.
#[inline(always)]
pub(crate) fn avx2_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !force_baseline() && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when AVX2 and FMA code may run (see [`avx2_enabled`]).
#[inline(always)]
pub(crate) fn avx2_fma_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_enabled() && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when AVX-512F code may run (see [`avx2_enabled`]; pinning the baseline turns it off too).
#[inline(always)]
pub(crate) fn avx512_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_enabled() && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The instruction set [`dispatch`] uses on this machine (for `gilfree info`).
pub fn active_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_enabled() {
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
