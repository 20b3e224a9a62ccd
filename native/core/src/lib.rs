//! offloop's core: the native runtime, numeric kernels and (later) the JSON engine.
//!
//! Nothing in this crate knows about JavaScript or Node-API; the `offloop-node` crate binds it.

pub mod error;
pub mod json;
pub mod kernels;
pub mod runtime;
pub mod simd;
pub(crate) mod sync;
