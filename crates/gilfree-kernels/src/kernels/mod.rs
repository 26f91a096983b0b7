//! Kernel families. Each module is one family: plain functions over slices that take a
//! [`Ctx`](crate::engine::Ctx) and return [`Result`](crate::Result). The binding mirrors each
//! module with one file of the same name in `src/kernels/`.

pub mod benchgame;
pub mod distance;
pub mod fractal;
pub mod hash;
pub mod hist;
pub mod montecarlo;
pub mod primes;
pub mod reduce;
pub mod sort;
pub mod testing;
pub mod words;

#[cfg(test)]
mod test_support;

/// A raw pointer that may cross into pool tasks; tasks touch disjoint ranges.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
// SAFETY: used only for disjoint ranges of one live buffer (see the users).
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer to element `i` (a method, so that closures capture the whole `Send` value).
    ///
    /// # Safety
    ///
    /// `i` inside the buffer.
    pub(crate) unsafe fn at(self, i: usize) -> *mut T {
        // SAFETY: forwarded from the contract.
        unsafe { self.0.add(i) }
    }

    /// # Safety
    ///
    /// `r` inside the buffer, and no other live reference to those elements while it is used.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice<'a>(self, r: std::ops::Range<usize>) -> &'a mut [T] {
        // SAFETY: forwarded from the contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(r.start), r.len()) }
    }
}
