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
