//! offloop's Node-API binding: argument checks, conversions and promise plumbing. No algorithms.
//!
//! Async operations come in pairs: `fooSubmit(id, ..., cancellable)` queues a job whose result
//! arrives later through the one completion channel (`completion.rs`), and `fooSync(...)` runs the
//! same core function on the calling thread. The JS side (lib/runtime.ts) owns the promises.

mod args;
mod completion;
mod errors;
mod fast;
mod json;
mod kernels;
mod output;
mod testing;

pub use completion::*;
pub use json::*;
pub use kernels::*;
pub use testing::*;
