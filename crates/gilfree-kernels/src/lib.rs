//! # gilfree-kernels
//!
//! The kernels of [gilfree](../../README.md): CPU-bound functions over plain slices, run on the
//! engine's shared pool (`gilfree-engine`) with fixed chunking, cooperative cancellation and a
//! progress counter. No Python here, not even optionally: the binding (`src/` at the workspace
//! root) validates arguments with the GIL held, borrows buffers, detaches, and calls into this
//! crate.
//!
//! ## How to use
//!
//! ```
//! use gilfree_kernels::engine::{Ctx, Threads};
//! use gilfree_kernels::kernels::reduce;
//!
//! let data: Vec<f64> = (0..1_000_000).map(|i| i as f64).collect();
//! let ctx = Ctx::new(Threads::Pool, None);
//! assert_eq!(reduce::sum_float(&ctx, &data).unwrap(), 499_999_500_000.0);
//! ```
//!
//! ## Crate layout
//!
//! - [`engine`]: `gilfree-engine`, re-exported: the shared pool, the per-call context
//!   ([`engine::Ctx`]) with `map_tasks`/`map_chunks`, the interrupt epoch, independent tasks
//!   ([`engine::tasks`], what `gilfree.Executor` runs on) and the fork handlers.
//! - [`kernels`]: one module per kernel family (`reduce`, ...), each a set of plain functions
//!   `fn(&Ctx, inputs...) -> Result<T>`.
//! - [`shared`]: state many threads update at once: [`shared::AtomicInt`],
//!   [`shared::AtomicFloat`], and the sharded, exact [`shared::Accumulator`].
//! - [`Error`]: the engine's one error enum; the binding maps each variant to one Python
//!   exception.

#![deny(missing_docs)]

pub use gilfree_engine as engine;
pub mod kernels;
pub mod shared;
pub mod simd;

pub use gilfree_engine::{try_vec, with_scratch, zeroed_vec, Error, Result, Zeroable};
