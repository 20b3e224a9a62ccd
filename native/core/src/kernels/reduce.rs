//! Reductions: sum, dot, min/max.
//!
//! `sum`, `dot` and the variance accumulate in f64 with sixteen compensated lanes per block (a
//! branch-free TwoSum per element, which vectorizes); the block results are then added, in order,
//! with one more compensated accumulator. The error is about `2 eps |sum| + n eps^2 sum |x_i|`, far
//! inside pairwise summation's `eps log2(n) sum |x_i|`.

use super::{Element, BLOCK, BLOCKS_PER_TASK};
use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::simd_dispatch;

/// Lanes of every compensated loop: 16 lanes are two AVX-512 or four AVX2 registers, enough
/// independent chains to hide the add latency. Fixed: the lane count shapes the result bits.
const LANES: usize = 16;

/// A compensated accumulator; `add` is one Neumaier step (used on the few per-block values).
#[derive(Clone, Copy, Default)]
pub(crate) struct Compensated {
    pub(crate) sum: f64,
    pub(crate) carry: f64,
}

impl Compensated {
    #[inline(always)]
    pub(crate) fn add(&mut self, v: f64) {
        let t = self.sum + v;
        let lost = if self.sum.abs() >= v.abs() { (self.sum - t) + v } else { (v - t) + self.sum };
        self.carry += lost;
        self.sum = t;
    }

    #[inline(always)]
    pub(crate) fn total(self) -> f64 {
        self.sum + self.carry
    }
}

/// Sixteen lanes: element i of a block goes to lane i % 16; the lanes' sums and carries are folded,
/// in lane order, into one compensated pair, which is the block's result. When the plain sum of the
/// lanes is not finite (an infinity or NaN in the block, or overflow) the compensation terms are
/// meaningless and the plain sum is the result, so IEEE special values propagate as in `a + b`.
#[inline(always)]
fn lanes_total(sum: [f64; LANES], carry: [f64; LANES]) -> Compensated {
    let mut acc = Compensated::default();
    let mut plain = 0.0;
    for j in 0..LANES {
        acc.add(sum[j]);
        acc.add(carry[j]);
        plain += sum[j];
    }
    if plain.is_finite() {
        acc
    } else {
        Compensated { sum: plain, carry: 0.0 }
    }
}

/// One branch-free TwoSum step (Knuth) on every lane: `s + v` exactly equals `t + err`. Six adds,
/// no comparisons, so the lane loop compiles to packed adds on every SIMD level.
#[inline(always)]
fn two_sum_lanes(sum: &mut [f64; LANES], carry: &mut [f64; LANES], v: &[f64; LANES]) {
    for j in 0..LANES {
        let s = sum[j];
        let t = s + v[j];
        let bp = t - s;
        let err = (s - (t - bp)) + (v[j] - bp);
        carry[j] += err;
        sum[j] = t;
    }
}

#[inline(always)]
fn sum_block_body<T: Element>(x: &[T]) -> Compensated {
    let mut sum = [0.0f64; LANES];
    let mut carry = [0.0f64; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        let v: [f64; LANES] = std::array::from_fn(|j| ch[j].to_f64());
        two_sum_lanes(&mut sum, &mut carry, &v);
    }
    let mut v = [0.0f64; LANES];
    for (j, e) in chunks.remainder().iter().enumerate() {
        v[j] = e.to_f64();
    }
    two_sum_lanes(&mut sum, &mut carry, &v);
    lanes_total(sum, carry)
}

#[inline(always)]
fn dot_block_body<T: Element>(x: &[T], y: &[T]) -> Compensated {
    let mut sum = [0.0f64; LANES];
    let mut carry = [0.0f64; LANES];
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut xc = x.chunks_exact(LANES);
    let mut yc = y.chunks_exact(LANES);
    for (a, b) in (&mut xc).zip(&mut yc) {
        let v: [f64; LANES] = std::array::from_fn(|j| a[j].to_f64() * b[j].to_f64());
        two_sum_lanes(&mut sum, &mut carry, &v);
    }
    let mut v = [0.0f64; LANES];
    for (j, (a, b)) in xc.remainder().iter().zip(yc.remainder()).enumerate() {
        v[j] = a.to_f64() * b.to_f64();
    }
    two_sum_lanes(&mut sum, &mut carry, &v);
    lanes_total(sum, carry)
}

simd_dispatch!(fn sum_block<T: Element>(x: &[T]) -> Compensated => sum_block_body);
simd_dispatch!(fn dot_block<T: Element>(x: &[T], y: &[T]) -> Compensated => dot_block_body);

/// Adds block results (both halves of each compensated pair) in index order.
fn combine(partials: impl IntoIterator<Item = Compensated>) -> f64 {
    let mut acc = Compensated::default();
    let mut plain = 0.0;
    for p in partials {
        acc.add(p.sum);
        acc.add(p.carry);
        plain += p.sum;
    }
    if plain.is_finite() {
        acc.total()
    } else {
        plain
    }
}

/// Runs `block` over every BLOCK-sized piece of `0..len` (in parallel tasks when allowed) and
/// returns the block results in order.
fn block_results(
    ctx: &JobCtx,
    len: usize,
    block: impl Fn(std::ops::Range<usize>) -> Compensated + Sync,
) -> CoreResult<Vec<Compensated>> {
    let per_task = ctx.map_chunks(len, BLOCK * BLOCKS_PER_TASK, |task| {
        let mut out = Vec::with_capacity(BLOCKS_PER_TASK);
        let mut start = task.start;
        while start < task.end {
            let end = (start + BLOCK).min(task.end);
            out.push(block(start..end));
            start = end;
        }
        out
    })?;
    Ok(per_task.into_iter().flatten().collect())
}

/// The sum of `x`, accumulated in f64. Empty input sums to 0. NaN anywhere gives NaN.
pub fn sum<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<f64> {
    let partials = block_results(ctx, x.len(), |r| sum_block(&x[r]))?;
    Ok(combine(partials))
}

/// The dot product of `x` and `y`, which the caller has checked are the same length.
pub fn dot<T: Element>(ctx: &JobCtx, x: &[T], y: &[T]) -> CoreResult<f64> {
    assert_eq!(x.len(), y.len(), "dot: lengths checked by the caller");
    let partials = block_results(ctx, x.len(), |r| dot_block(&x[r.clone()], &y[r]))?;
    Ok(combine(partials))
}

/// Smallest and largest element. NaN anywhere makes both NaN; -0 counts as smaller than +0 (as
/// `Math.min`/`Math.max` do); an empty input gives `min = +Infinity`, `max = -Infinity`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinMax {
    pub min: f64,
    pub max: f64,
}

impl MinMax {
    const EMPTY: MinMax = MinMax { min: f64::INFINITY, max: f64::NEG_INFINITY };

    #[inline(always)]
    fn merge(self, o: MinMax) -> MinMax {
        if self.min.is_nan() || o.min.is_nan() {
            return MinMax { min: f64::NAN, max: f64::NAN };
        }
        MinMax { min: pick_min(self.min, o.min), max: pick_max(self.max, o.max) }
    }
}

#[inline(always)]
fn pick_min(a: f64, b: f64) -> f64 {
    // -0 < +0: when equal, prefer the one with the sign bit set.
    if b < a || (b == a && b.to_bits() > a.to_bits()) {
        b
    } else {
        a
    }
}

#[inline(always)]
fn pick_max(a: f64, b: f64) -> f64 {
    if b > a || (b == a && b.to_bits() < a.to_bits()) {
        b
    } else {
        a
    }
}

#[inline(always)]
fn minmax_block_body<T: Element>(x: &[T]) -> MinMax {
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    let mut nan = [false; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        for j in 0..LANES {
            let v = ch[j].to_f64();
            nan[j] |= v.is_nan();
            lo[j] = pick_min(lo[j], v);
            hi[j] = pick_max(hi[j], v);
        }
    }
    let mut out = MinMax::EMPTY;
    for v in chunks.remainder() {
        out = out.merge(MinMax { min: v.to_f64(), max: v.to_f64() });
    }
    for j in 0..LANES {
        out = out.merge(if nan[j] { MinMax { min: f64::NAN, max: f64::NAN } } else { MinMax { min: lo[j], max: hi[j] } });
    }
    out
}

simd_dispatch!(fn minmax_block<T: Element>(x: &[T]) -> MinMax => minmax_block_body);

pub fn minmax<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<MinMax> {
    let parts = ctx.map_chunks(x.len(), BLOCK * BLOCKS_PER_TASK, |r| minmax_block(&x[r]))?;
    Ok(parts.into_iter().fold(MinMax::EMPTY, MinMax::merge))
}

/// Arithmetic mean; NaN for an empty input.
pub fn mean<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<f64> {
    if x.is_empty() {
        return Ok(f64::NAN);
    }
    Ok(sum(ctx, x)? / x.len() as f64)
}

/// Compensated sums of `d = x - m` and of `d * d` over one block, as two pairs.
#[inline(always)]
fn dev_block_body<T: Element>(x: &[T], m: f64) -> (Compensated, Compensated) {
    let (mut s1, mut c1) = ([0.0f64; LANES], [0.0f64; LANES]);
    let (mut s2, mut c2) = ([0.0f64; LANES], [0.0f64; LANES]);
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        let d: [f64; LANES] = std::array::from_fn(|j| ch[j].to_f64() - m);
        let d2: [f64; LANES] = std::array::from_fn(|j| d[j] * d[j]);
        two_sum_lanes(&mut s1, &mut c1, &d);
        two_sum_lanes(&mut s2, &mut c2, &d2);
    }
    let (mut d, mut d2) = ([0.0f64; LANES], [0.0f64; LANES]);
    for (j, e) in chunks.remainder().iter().enumerate() {
        d[j] = e.to_f64() - m;
        d2[j] = d[j] * d[j];
    }
    two_sum_lanes(&mut s1, &mut c1, &d);
    two_sum_lanes(&mut s2, &mut c2, &d2);
    (lanes_total(s1, c1), lanes_total(s2, c2))
}

simd_dispatch!(fn dev_block<T: Element>(x: &[T], m: f64) -> (Compensated, Compensated) => dev_block_body);

/// Variance with `ddof` delta degrees of freedom: two passes (mean, then the corrected sum of squared
/// deviations `(Σd² - (Σd)²/n) / (n - ddof)`), both compensated. NaN when `n <= ddof`.
pub fn variance<T: Element>(ctx: &JobCtx, x: &[T], ddof: f64) -> CoreResult<f64> {
    let n = x.len() as f64;
    if n - ddof <= 0.0 || x.is_empty() {
        return Ok(f64::NAN);
    }
    let m = mean(ctx, x)?;
    let per_task = ctx.map_chunks(x.len(), BLOCK * BLOCKS_PER_TASK, |task| {
        let mut out = Vec::with_capacity(BLOCKS_PER_TASK);
        let mut start = task.start;
        while start < task.end {
            let end = (start + BLOCK).min(task.end);
            out.push(dev_block(&x[start..end], m));
            start = end;
        }
        out
    })?;
    let (d, d2): (Vec<_>, Vec<_>) = per_task.into_iter().flatten().unzip();
    let (sd, sd2) = (combine(d), combine(d2));
    let v = (sd2 - sd * sd / n) / (n - ddof);
    // Rounding can leave a tiny negative for constant input; NaN passes through.
    Ok(if v < 0.0 { 0.0 } else { v })
}

/// Euclidean norm: the compensated sum of squares, rescaled by the largest magnitude when the plain
/// squares would overflow or underflow.
pub fn norm2<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<f64> {
    let ss = dot(ctx, x, x)?;
    if ss.is_nan() || (ss.is_finite() && ss >= 1e-290) || ss == 0.0 && x.is_empty() {
        return Ok(ss.sqrt());
    }
    let mm = minmax(ctx, x)?;
    let big = mm.max.abs().max(mm.min.abs());
    if big.is_nan() || big.is_infinite() || big == 0.0 {
        return Ok(if big.is_nan() { f64::NAN } else { big });
    }
    let scaled: Vec<f64> = x.iter().map(|v| v.to_f64() / big).collect();
    Ok(big * dot(ctx, &scaled, &scaled)?.sqrt())
}

/// Where the best element of a block is: the first NaN (which always wins), or the first index of
/// the smallest (argmin) or largest (argmax) value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Best {
    Empty,
    Nan(usize),
    At(f64, usize),
}

impl Best {
    /// Combines with the result of a later block.
    #[inline(always)]
    fn then(self, later: Best, max: bool) -> Best {
        match (self, later) {
            (Best::Nan(_), _) | (_, Best::Empty) => self,
            (Best::Empty, _) | (_, Best::Nan(_)) => later,
            (Best::At(a, _), Best::At(b, _)) => {
                if (max && b > a) || (!max && b < a) {
                    later
                } else {
                    self
                }
            }
        }
    }
}

#[inline(always)]
fn arg_block_body<T: Element>(x: &[T], base: usize, max: bool) -> Best {
    let sign = if max { -1.0 } else { 1.0 };
    let mut best = [f64::INFINITY; LANES];
    let mut at = [u64::MAX; LANES];
    let mut nan = [false; LANES];
    let mut chunks = x.chunks_exact(LANES);
    let mut i = 0u64;
    for ch in &mut chunks {
        for j in 0..LANES {
            let v = sign * ch[j].to_f64();
            nan[j] |= v.is_nan();
            let lt = v < best[j];
            best[j] = if lt { v } else { best[j] };
            at[j] = if lt { i + j as u64 } else { at[j] };
        }
        i += LANES as u64;
    }
    if nan.iter().any(|&b| b) || chunks.remainder().iter().any(|v| v.to_f64().is_nan()) {
        let k = x.iter().position(|v| v.to_f64().is_nan()).unwrap_or(0);
        return Best::Nan(base + k);
    }
    for (j, v) in chunks.remainder().iter().enumerate() {
        let v = sign * v.to_f64();
        if v < best[j] {
            best[j] = v;
            at[j] = i + j as u64;
        }
    }
    // Lanes hold the first index of their own minimum; the block's answer is the smallest value,
    // ties going to the smallest index. A lane that never saw a value below +inf has `at == MAX`.
    let mut out = Best::Empty;
    let mut pos = usize::MAX;
    let mut val = f64::INFINITY;
    for j in 0..LANES {
        if at[j] != u64::MAX && (best[j] < val || (best[j] == val && (at[j] as usize) < pos)) {
            val = best[j];
            pos = at[j] as usize;
        }
    }
    if pos != usize::MAX {
        out = Best::At(sign * val, base + pos);
    } else if let Some(k) = x.iter().position(|v| v.to_f64() == sign * f64::INFINITY) {
        // Every element is +inf (argmin) or -inf (argmax): the first one.
        out = Best::At(sign * f64::INFINITY, base + k);
    }
    out
}

simd_dispatch!(fn arg_block<T: Element>(x: &[T], base: usize, max: bool) -> Best => arg_block_body);

fn arg_best<T: Element>(ctx: &JobCtx, x: &[T], max: bool) -> CoreResult<Option<usize>> {
    let per_task = ctx.map_chunks(x.len(), BLOCK * BLOCKS_PER_TASK, |task| {
        let mut acc = Best::Empty;
        let mut start = task.start;
        while start < task.end {
            let end = (start + BLOCK).min(task.end);
            acc = acc.then(arg_block(&x[start..end], start, max), max);
            start = end;
        }
        acc
    })?;
    Ok(match per_task.into_iter().fold(Best::Empty, |a, b| a.then(b, max)) {
        Best::Empty => None,
        Best::Nan(i) | Best::At(_, i) => Some(i),
    })
}

/// Index of the first smallest element, or of the first NaN if there is one (as numpy);
/// `None` for an empty input. -0 and +0 are equal here.
pub fn argmin<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<Option<usize>> {
    arg_best(ctx, x, false)
}

/// Index of the first largest element, or of the first NaN if there is one.
pub fn argmax<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<Option<usize>> {
    arg_best(ctx, x, true)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::runtime::JobState;
    use proptest::prelude::*;


    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    }

    #[test]
    fn sum_is_the_same_bits_for_any_thread_count() {
        let x: Vec<f64> = (0..1_000_003).map(|i| ((i as f64) * 0.731).sin() * 1e3 + 1e-3).collect();
        let inline = sum(&JobCtx::inline(), &x).unwrap();
        for threads in [1, 2, 3, 4, 8] {
            let state = JobState::new();
            let pooled = in_pool(threads, || sum(&JobCtx::for_pool(&state), &x).unwrap());
            assert_eq!(pooled.to_bits(), inline.to_bits(), "threads={threads}");
        }
    }

    #[test]
    fn sum_handles_cancellation_heavy_input() {
        // 1e16 + 1 - 1e16 repeated: naive summation loses every 1.
        let mut x = Vec::new();
        for _ in 0..10_000 {
            x.extend_from_slice(&[1e16, 1.0, -1e16]);
        }
        assert_eq!(sum(&JobCtx::inline(), &x).unwrap(), 10_000.0);
    }

    #[test]
    fn special_values() {
        let ctx = JobCtx::inline();
        assert_eq!(sum::<f64>(&ctx, &[]).unwrap(), 0.0);
        assert!(sum(&ctx, &[1.0, f64::NAN, 2.0]).unwrap().is_nan());
        assert_eq!(sum(&ctx, &[1.0, f64::INFINITY]).unwrap(), f64::INFINITY);
        assert!(sum(&ctx, &[f64::INFINITY, f64::NEG_INFINITY]).unwrap().is_nan());
        assert_eq!(sum(&ctx, &[f64::MAX, f64::MAX]).unwrap(), f64::INFINITY);
        let mm = minmax(&ctx, &[0.0, -0.0, 3.0, -2.0]).unwrap();
        assert_eq!((mm.min, mm.max), (-2.0, 3.0));
        let z = minmax(&ctx, &[0.0, -0.0]).unwrap();
        assert!(z.min.is_sign_negative() && z.max.is_sign_positive());
        let n = minmax(&ctx, &[1.0, f64::NAN]).unwrap();
        assert!(n.min.is_nan() && n.max.is_nan());
        assert_eq!(minmax::<f64>(&ctx, &[]).unwrap(), MinMax::EMPTY);
    }

    #[test]
    fn cancelled_job_stops() {
        let state = JobState::new();
        assert!(state.start());
        state.cancel();
        let x = vec![1.0f64; BLOCK * BLOCKS_PER_TASK * 4];
        let err = in_pool(2, || sum(&JobCtx::for_pool(&state), &x)).unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::Aborted);
    }

    proptest! {
        #[test]
        fn sum_is_within_a_few_ulps_of_exact(x in prop::collection::vec(-1e6f64..1e6, 0..5000)) {
            let got = sum(&JobCtx::inline(), &x).unwrap();
            let exact = crate::kernels::fsum::fsum(&x);
            let mag: f64 = x.iter().map(|v| v.abs()).sum();
            prop_assert!((got - exact).abs() <= 4.0 * f64::EPSILON * mag.max(f64::MIN_POSITIVE), "got {got} exact {exact}");
        }

        #[test]
        fn dot_and_minmax_match_naive(x in prop::collection::vec(-1e3f64..1e3, 0..3000)) {
            let y: Vec<f64> = x.iter().rev().copied().collect();
            let ctx = JobCtx::inline();
            let naive: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            let mag: f64 = x.iter().zip(&y).map(|(a, b)| (a * b).abs()).sum();
            prop_assert!((dot(&ctx, &x, &y).unwrap() - naive).abs() <= 1e-9 * mag.max(1.0));
            let mm = minmax(&ctx, &x).unwrap();
            let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert_eq!((mm.min, mm.max), (lo, hi));
        }
    }
}
