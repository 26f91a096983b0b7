//! One file per kernel family, mirroring `crates/gilfree-kernels/src/kernels/`.

pub(crate) mod benchgame;
pub(crate) mod fractal;
pub(crate) mod montecarlo;
pub(crate) mod primes;
pub(crate) mod reduce;
pub(crate) mod testing;

use pyo3::prelude::*;

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
    families!(reduce, fractal, primes, montecarlo, benchgame, testing);
    m.add_submodule(&tasks)
}
