//! One file per kernel family, mirroring `crates/gilfree-kernels/src/kernels/`.

pub(crate) mod benchgame;
pub(crate) mod fractal;
pub(crate) mod montecarlo;
pub(crate) mod primes;
pub(crate) mod reduce;
pub(crate) mod testing;
