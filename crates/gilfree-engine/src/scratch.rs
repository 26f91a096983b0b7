//! A scratch buffer kept per thread between calls, for kernels that need a temporary as large as
//! their input (the sort's radix and merge passes).
//!
//! # Why
//!
//! A call that allocates two buffers of `n` elements (its output and its scratch) and frees both
//! hands glibc's heap back two neighbouring blocks, which coalesce at the top of the heap. Once
//! the top is larger than the trim threshold (twice the dynamic mmap threshold: 2 × 256 KiB after
//! a 256 KiB buffer was freed), `free` returns all of it but 128 KiB to the kernel, and the next
//! call faults every page back in: 96 minor faults a call for a 32 Ki-element float64 sort,
//! 224 at 64 Ki, 2-4 µs each on a VM, which made a 32 Ki sort 1.7x slower from Python than the
//! same sort in a Rust loop (whose earlier, larger frees had raised the thresholds). NumPy's
//! `np.sort` allocates only its output and saw none. With the scratch kept here, a call
//! allocates only its output, as `np.sort` does.
//!
//! # What is kept
//!
//! At most one buffer per thread, of at most [`KEEP_BYTES`]; larger requests are allocated and
//! freed each time, as before (a call that large takes milliseconds, and glibc's thresholds
//! have risen with its buffers: no repeated faults were measured from 256 Ki elements up).
//! The buffer lives until the thread ends. A nested or concurrent user on the same thread (a
//! kernel calling another) finds the slot empty and allocates its own.

use std::cell::Cell;

use crate::{zeroed_vec, Result, Zeroable};

/// The largest scratch buffer a thread keeps between calls: 1 MiB, the scratch of the sort's
/// largest merge sort (128 Ki float64).
pub const KEEP_BYTES: usize = 1 << 20;

thread_local! {
    static KEPT: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on a scratch slice of `n` elements of `T`, taken from the calling thread's kept
/// buffer when it is large enough (else freshly allocated, zeroed), and kept for the next call
/// afterwards if it is at most [`KEEP_BYTES`] (a larger request gets a buffer of its own, freed
/// on return, and leaves the kept one alone). The content is arbitrary (whatever a previous
/// call left, or zeros): initialised, but not meaningful.
///
/// # Errors
///
/// [`crate::Error::OutOfMemory`] naming `what` when a buffer cannot be allocated,
/// [`crate::Error::Overflow`] when `n` elements do not fit the address space.
pub fn with_scratch<T: Zeroable, R>(n: usize, what: &str, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
    const { assert!(std::mem::align_of::<T>() <= std::mem::align_of::<u64>()) };
    let bytes = n.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| {
        crate::Error::Overflow(format!("{what}: {n} elements do not fit in the address space"))
    })?;
    let words = bytes.div_ceil(std::mem::size_of::<u64>());
    let keep = bytes <= KEEP_BYTES;
    // A request too large to keep leaves the kept buffer where it is.
    let mut buf = if keep { KEPT.with(Cell::take) } else { Vec::new() };
    if buf.len() < words {
        drop(std::mem::take(&mut buf)); // freed before the larger one is allocated
        buf = zeroed_vec::<u64>(words, what)?;
    }
    // SAFETY: `buf` holds `words` initialised `u64`s, `words * 8 >= n * size_of::<T>()` bytes,
    // aligned for `T` (asserted above). `T` is a primitive number (`Zeroable` is sealed), for
    // which every bit pattern is a valid value, so reinterpreting the bytes is sound; the slice
    // borrows `buf` mutably for the call only.
    let slice = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<T>(), n) };
    let r = f(slice);
    if keep {
        KEPT.with(|k| k.set(buf));
    }
    Ok(r)
}

#[cfg(test)]
mod test {
    use super::*;

    fn kept_ptr() -> *const u64 {
        KEPT.with(|k| {
            let v = k.take();
            let p = v.as_ptr();
            k.set(v);
            p
        })
    }

    #[test]
    fn a_kept_buffer_is_reused_and_large_ones_are_not_kept() {
        std::thread::spawn(|| {
            let first = with_scratch::<f64, _>(1000, "a test buffer", |s| {
                assert_eq!(s.len(), 1000);
                s.fill(1.5);
                s.as_ptr() as usize
            })
            .unwrap();
            // Smaller, another type: the same memory, its old bytes still there.
            let (second, old) =
                with_scratch::<u32, _>(10, "a test buffer", |s| (s.as_ptr() as usize, s[0])).unwrap();
            assert_eq!(first, second);
            assert_eq!(old, 1.5f64.to_bits() as u32);
            // Larger than kept: a new buffer, then kept in place of the old one.
            let third = with_scratch::<u8, _>(100_000, "a test buffer", |s| {
                assert!(s.iter().all(|&b| b == 0)); // fresh: zeroed
                s.as_ptr() as usize
            })
            .unwrap();
            assert_eq!(kept_ptr() as usize, third);
            // Above KEEP_BYTES: used once, not kept (the 100 KB one stays).
            with_scratch::<u64, _>(KEEP_BYTES / 8 + 1, "a test buffer", |s| s[0]).unwrap();
            assert_eq!(kept_ptr() as usize, third);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn nested_users_get_distinct_buffers() {
        let (outer, inner) = with_scratch::<i64, _>(64, "a test buffer", |a| {
            a.fill(7);
            let inner = with_scratch::<i64, _>(64, "a test buffer", |b| {
                b.fill(-1);
                b.as_ptr() as usize
            })
            .unwrap();
            assert!(a.iter().all(|&x| x == 7)); // untouched by the inner user
            (a.as_ptr() as usize, inner)
        })
        .unwrap();
        assert_ne!(outer, inner);
    }

    #[test]
    fn empty_and_impossible_requests() {
        assert_eq!(with_scratch::<f32, _>(0, "nothing", |s| s.len()).unwrap(), 0);
        let err = with_scratch::<u64, _>(usize::MAX, "a huge buffer", |_| ()).unwrap_err();
        assert!(matches!(err, crate::Error::Overflow(_)), "{err:?}");
        // black_box: LLVM may remove an allocation nobody uses, and assume it succeeded.
        let err = with_scratch::<u64, _>(usize::MAX / 16, "a huge buffer", |s| {
            std::hint::black_box(s.as_mut_ptr());
        })
        .unwrap_err();
        assert!(
            matches!(err, crate::Error::OutOfMemory(_) | crate::Error::Overflow(_)),
            "{err:?}"
        );
    }
}
