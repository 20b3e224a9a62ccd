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
pub use reduce::{argmax, argmin, dot, mean, minmax, norm2, std, sum, variance, MinMax};
pub use scan::cumsum;
pub use sort::{argsort, histogram, quantile, sort, SortKey};

/// Elements per reduction block. Fixed: changing it changes results in the last bits.
pub const BLOCK: usize = 2048;
/// Blocks per parallel task: 64 Ki elements, about 50 µs of memory traffic for f64, which is also
/// how often a running reduction looks at its cancel flag.
pub const BLOCKS_PER_TASK: usize = 32;

thread_local! {
    static SWEEP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this call should sweep its data from the end: the answer alternates on each thread.
/// A kernel called again and again on the same arrays whose working set is a little larger than
/// L1 (an element-wise `add` of 4 096 doubles touches 96 KiB; Zen 5's L1d holds 48) misses on
/// every line when it always sweeps forward, since the least recently used lines are exactly the
/// ones it needs next. Sweeping back and forth starts each call on the lines the last one left in
/// L1. Only the order of independent work changes, never the arithmetic, so no bit of any result
/// depends on it. Measured (Rust harness, 4 096 doubles in L2, best of 200): add 0.64-0.75 ->
/// 0.42-0.44 µs, axpy 0.56-0.68 -> 0.39-0.43, scale 0.32-0.43 -> 0.19-0.22.
#[inline]
pub(crate) fn sweep_backward() -> bool {
    SWEEP.with(|s| {
        let b = s.get();
        s.set(!b);
        b
    })
}

/// How many elements at the start of `x` are negative zeros.
///
/// The sign of a zero sum follows IEEE 754 addition taken left to right (`x[0] + x[1] + ...`, as
/// numpy's `sum` and `cumsum` and a JS `reduce` without an initial value give): -0 + -0 is -0,
/// and any other operand makes a zero sum +0, for good. So the sum (and each prefix sum) of a
/// non-empty run of -0 is -0, while accumulators that start at +0 would make it +0. The kernels
/// fix that after the fact: this stops at the first element that is not -0, so it costs nothing
/// for any input whose sum is not zero (only zero sums ask) and a short scan for the rest.
pub(crate) fn leading_negative_zeros<T: Element>(x: &[T]) -> usize {
    x.iter().take_while(|v| is_negative_zero(v.to_f64())).count()
}

#[inline]
pub(crate) fn is_negative_zero(v: f64) -> bool {
    v.to_bits() == (-0.0f64).to_bits()
}

/// `total`, with the sign IEEE left-to-right addition gives a zero sum of `x` (see
/// `leading_negative_zeros`).
pub(crate) fn signed_zero_sum<T: Element>(total: f64, x: &[T]) -> f64 {
    if total == 0.0 && !x.is_empty() && leading_negative_zeros(x) == x.len() {
        -0.0
    } else {
        total
    }
}

#[cfg(all(test, not(loom)))]
mod signed_zero_tests {
    use super::*;
    use crate::runtime::JobCtx;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn zero_sums_take_the_sign_of_left_to_right_addition() {
        let ctx = JobCtx::inline();
        let many = vec![-0.0f64; 300_000];
        for (x, want) in [
            (&[][..], 0.0f64),
            (&[-0.0][..], -0.0),
            (&[-0.0, -0.0][..], -0.0),
            (&[-0.0, 0.0][..], 0.0),
            (&[0.0, -0.0][..], 0.0),
            (&[1.0, -1.0][..], 0.0),
            (&[-0.0, 1.0, -1.0][..], 0.0),
            (&many[..], -0.0),
        ] {
            let left_to_right = x.iter().copied().reduce(|a, b| a + b).unwrap_or(0.0);
            assert_eq!(left_to_right.to_bits(), want.to_bits(), "reference for {} elements", x.len());
            assert_eq!(sum(&ctx, x).unwrap().to_bits(), want.to_bits(), "sum of {} elements", x.len());
            assert_eq!(exact_sum(&ctx, x).unwrap().to_bits(), want.to_bits(), "exact sum of {} elements", x.len());
        }
        assert_eq!(mean(&ctx, &[-0.0f64, -0.0]).unwrap().to_bits(), (-0.0f64).to_bits());
        assert_eq!(sum(&ctx, &[-0.0f32]).unwrap().to_bits(), (-0.0f64).to_bits());
        let mut ints = many.clone();
        ints[299_999] = 0.0;
        assert_eq!(sum(&ctx, &ints).unwrap().to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn cumsum_keeps_a_leading_run_of_negative_zeros() {
        let ctx = JobCtx::inline();
        let x = [-0.0, -0.0, 1.0, -1.0, -0.0, 2.0];
        let mut want = Vec::new();
        let mut acc: Option<f64> = None;
        for &v in &x {
            let s = acc.map_or(v, |a| a + v);
            acc = Some(s);
            want.push(s);
        }
        assert_eq!(bits(&want), bits(&[-0.0, -0.0, 1.0, 0.0, 0.0, 2.0]));
        let mut out = [7.0; 6];
        cumsum(&ctx, Some(&x), &mut out).unwrap();
        assert_eq!(bits(&out), bits(&want));
        let mut in_place = x;
        cumsum(&ctx, None, &mut in_place).unwrap();
        assert_eq!(bits(&in_place), bits(&want));
        let mut f = [-0.0f32, -0.0, 3.0];
        cumsum(&ctx, None, &mut f).unwrap();
        assert_eq!(f.map(f32::to_bits), [-0.0f32, -0.0, 3.0].map(f32::to_bits));
    }
}
