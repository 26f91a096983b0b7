//! The `fractal` kernel family's adapters (mirrors `crates/gilfree-core/src/kernels/fractal.rs`).

use pyo3::prelude::*;

/// Registers the family on the module.
pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
