//! Numeric kernels over borrowed slices.
//!
//! Determinism: every reduction cuts its input into blocks of `BLOCK` elements, reduces each block
//! with the same lane structure on every SIMD level, and combines the block results in index order.
//! Neither the thread count nor the SIMD level changes a single bit of the result.

mod element;
mod reduce;

pub use element::Element;
pub use reduce::{dot, minmax, sum, MinMax};

/// Elements per reduction block. Fixed: changing it changes results in the last bits.
pub const BLOCK: usize = 2048;
/// Blocks per parallel task: 64 Ki elements, about 50 µs of memory traffic for f64, which is also
/// how often a running reduction looks at its cancel flag.
pub const BLOCKS_PER_TASK: usize = 32;
