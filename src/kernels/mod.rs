//! One file per kernel family, mirroring `crates/gilfree-kernels/src/kernels/`. Each kernel is
//! parsed once, by a `prepare_*` function, into a `gilfree_pyo3::Prepared` kernel from which its
//! direct form and its `gilfree.Executor` task form both come.

// `prepare_*` return `Prepared<impl FnOnce(..), impl FnOnce(..)>`: long to spell, not complex.
#![allow(clippy::type_complexity)]

pub(crate) mod benchgame;
pub(crate) mod distance;
pub(crate) mod fractal;
pub(crate) mod hash;
pub(crate) mod hist;
pub(crate) mod montecarlo;
pub(crate) mod primes;
pub(crate) mod reduce;
pub(crate) mod sort;
pub(crate) mod testing;
pub(crate) mod words;

use pyo3::prelude::*;

/// The type of a prepared kernel whose output `R` converts to Python as it is
/// (`gilfree_pyo3::Prepared::value`): what each family's `prepare_<kernel>` returns.
macro_rules! PreparedValue {
    ($r:ty) => {
        gilfree_pyo3::Prepared<
            impl FnOnce(&gilfree_kernels::engine::Ctx<'_>) -> gilfree_kernels::Result<$r> + Send + 'static,
            gilfree_pyo3::IntoPy<$r>,
        >
    };
}
pub(crate) use PreparedValue;

/// The registry of kernel families, in their parent: every family's direct forms on the module,
/// and their task forms (for `gilfree.Executor`) on its `_tasks` submodule.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let tasks = PyModule::new(m.py(), "_tasks")?;
    macro_rules! families {
        ($($family:ident),*) => {$(
            $family::register(m)?;
            $family::register_tasks(&tasks)?;
        )*};
    }
    families!(reduce, sort, fractal, hash, primes, montecarlo, benchgame, testing, words);
    families!(distance, hist);
    m.add_submodule(&tasks)
}
