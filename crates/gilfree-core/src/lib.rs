//! # gilfree-core
//!
//! The engine of [gilfree](../../README.md): CPU-bound kernels over plain slices, run on one
//! shared rayon pool with fixed chunking, cooperative cancellation and a progress counter.
//! No Python here, not even optionally: the binding (`src/` at the workspace root) validates
//! arguments with the GIL held, borrows buffers, detaches, and calls into this crate.
//!
//! ## How to use
//!
//! ```
//! use gilfree_core::engine::{Ctx, Threads};
//! use gilfree_core::kernels::reduce;
//!
//! let data: Vec<f64> = (0..1_000_000).map(|i| i as f64).collect();
//! let ctx = Ctx::new(Threads::Pool, None);
//! assert_eq!(reduce::sum_float(&ctx, &data).unwrap(), 499_999_500_000.0);
//! ```
//!
//! ## Crate layout
//!
//! - [`engine`]: the shared pool ([`engine::set_num_threads`]), the per-call context
//!   ([`engine::Ctx`]) with `map_tasks`/`map_chunks`, the interrupt epoch, and independent tasks
//!   with a completion queue ([`engine::tasks`], what `gilfree.Executor` runs on).
//! - [`kernels`]: one module per kernel family (`reduce`, ...), each a set of plain functions
//!   `fn(&Ctx, inputs...) -> Result<T>`.
//! - [`shared`]: state many threads update at once: [`shared::AtomicInt`],
//!   [`shared::AtomicFloat`], and the sharded, exact [`shared::Accumulator`].
//! - [`Error`]: the one error enum; the binding maps each variant to one Python exception.

#![deny(missing_docs)]

pub mod engine;
mod error;
pub mod kernels;
pub mod shared;
pub mod simd;

pub use error::{try_vec, zeroed_vec, Error, Result, Zeroable};
