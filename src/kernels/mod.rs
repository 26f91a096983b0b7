//! One file per kernel family, mirroring `crates/gilfree-core/src/kernels/`.

pub(crate) mod reduce;
pub(crate) mod testing;
