//! Numeric kernels over borrowed slices.
//!
//! Determinism: every reduction cuts its input into blocks of `BLOCK` elements, reduces each block
//! with the same lane structure on every SIMD level, and combines the block results in index order.
//! Neither the thread count nor the SIMD level changes a single bit of the result. The other kernels
//! are deterministic by construction (see each module).

mod element;
mod ewise;
mod exact;
#[doc(hidden)]
pub mod lanes;
#[cfg(test)]
mod fsum;
mod matmul;
mod probe;
mod reduce;
mod scan;
mod sort;
mod stream;

pub use element::Element;
pub use ewise::{axpy, binary, clamp, scale, Binary, Src};
pub use exact::exact_sum;
pub use matmul::{matmul, matvec, MatElem};
pub use probe::{fma_peak_probe, read_probe, triad_probe};
pub use reduce::{argmax, argmin, dot, mean, minmax, norm2, sum, variance, MinMax};
pub use scan::cumsum;
pub use sort::{argsort, histogram, quantile, sort, SortKey};

/// Elements per reduction block. Fixed: changing it changes results in the last bits.
pub const BLOCK: usize = 2048;
/// Blocks per parallel task: 64 Ki elements, about 50 µs of memory traffic for f64, which is also
/// how often a running reduction looks at its cancel flag.
pub const BLOCKS_PER_TASK: usize = 32;
