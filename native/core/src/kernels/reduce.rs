//! Reductions: sum, dot, min/max, variance, norm2, argmin/argmax.
//!
//! `sum`, `mean`, `dot` and `norm2` sum each block of `BLOCK` elements pairwise (see `pairwise`:
//! sixteen lanes, a tree of depth at most 11 = log2(BLOCK), one add per vector, as fast as a plain
//! loop); the block results are then added in index order with a compensated (Neumaier)
//! accumulator. The error is at most about `(ceil(log2(min(n, BLOCK))) + 2) u sum |x_i|` (u = 2^-53):
//! pairwise summation's bound, `u ceil(log2 n) sum |x_i|`, or better once n passes a block. The
//! variance sums its shifted deviations and their squares along the same tree (`dev_block_body`)
//! and combines the blocks compensated (`variance`). The sums used to be
//! compensated per element (a TwoSum per element: about `2 u |S|` plus a tiny term), six adds an
//! element, which kept the in-cache sum of 4 096 doubles at 1.1 µs on AMD's Zen 4, under 4x the JS
//! loop there; the pairwise blocks take 0.33 µs. `exact_sum` is there for correctly rounded sums.

use super::lanes::{prefetch, Lanes, LANES};

/// How far ahead (in elements) the streaming loops prefetch: 8 KiB of f64. Measured on 32 Mi
/// doubles over 2 threads against the read probe in the same run: sum went from 63-66 % to
/// 84-94 % (2 KiB ahead: about 80 %; 16 KiB: no better).
pub(crate) const PREFETCH: usize = 1024;
use super::element::Kind;
use super::{Element, BLOCK, BLOCKS_PER_TASK};
use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::{lane_dispatch, simd_dispatch};


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

/// The remainder (fewer than `LANES` elements) as f64 lanes, zero-padded.
#[inline(always)]
fn padded<L: Lanes, T: Element>(rest: &[T]) -> L {
    let mut v = [0.0f64; LANES];
    for (j, e) in rest.iter().enumerate() {
        v[j] = e.to_f64();
    }
    L::load(&v[..])
}

/// Vectors of `LANES` elements in a block, at most: `BLOCK / LANES` = 2^7.
const BLOCK_VECTORS: usize = BLOCK / LANES;
const LEVELS: usize = BLOCK_VECTORS.trailing_zeros() as usize + 1;

/// The pairwise sum of the vectors `leaf(0)`, .., `leaf(count - 1)` (`count <= BLOCK_VECTORS`),
/// lane by lane, then of the lanes: the tree of a binary counter. Vectors join runs whose lengths
/// are powers of two: a new run of `2^k` merges with the run of `2^k` before it (the earlier one on
/// the left), and so on up; at the end the runs left, longest first, are added from the right:
/// `R_big + (R_mid + R_small)`. A whole block is the complete tree of depth 7 over its 128 vectors.
/// Then the sixteen lanes are added pairwise (lane j with j + 8, then j + 4, j + 2, j + 1), so a
/// block of `m` elements is summed along a tree of depth `4 + ceil(log2(ceil(m / 16)))`, at most 11
/// = log2(BLOCK): pairwise summation, with one add per vector, as cheap as a plain loop.
///
/// Eight vectors at a time go through a straight-line tree of depth 3 (the counter stays a
/// multiple of 8 there, so this is the same tree as pushing them one by one).
#[inline(always)]
fn pairwise<L: Lanes>(count: usize, leaf: impl Fn(usize) -> L) -> f64 {
    fold_lanes(tree(count, leaf))
}

/// `pairwise` for two sums at once, over the same tree.
#[inline(always)]
fn pairwise2<L: Lanes>(count: usize, leaf: impl Fn(usize) -> (L, L)) -> (f64, f64) {
    let (a, b) = tree(count, leaf);
    (fold_lanes(a), fold_lanes(b))
}

/// What `tree` adds: lanes, or two sets of lanes summed side by side.
trait Summand: Copy {
    fn zero() -> Self;
    fn plus(self, o: Self) -> Self;
}

impl<L: Lanes> Summand for L {
    #[inline(always)]
    fn zero() -> Self {
        L::zero()
    }
    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        self.add(o)
    }
}

impl<L: Lanes> Summand for (L, L) {
    #[inline(always)]
    fn zero() -> Self {
        (L::zero(), L::zero())
    }
    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        (self.0.add(o.0), self.1.add(o.1))
    }
}

/// The vector-level part of `pairwise`: the binary counter's runs, folded from the right.
#[inline(always)]
fn tree<V: Summand>(count: usize, leaf: impl Fn(usize) -> V) -> V {
    debug_assert!(count <= BLOCK_VECTORS);
    let mut runs = [V::zero(); LEVELS];
    // Bit k set: `runs[k]` holds a run of 2^k vectors.
    let mut done = 0usize;
    let mut push = |mut v: V, level: usize| {
        let mut k = level;
        while done >> k & 1 == 1 {
            v = runs[k].plus(v);
            k += 1;
        }
        runs[k] = v;
        done += 1 << level;
    };
    let mut i = 0;
    while i + 8 <= count {
        let a = leaf(i).plus(leaf(i + 1)).plus(leaf(i + 2).plus(leaf(i + 3)));
        let b = leaf(i + 4).plus(leaf(i + 5)).plus(leaf(i + 6).plus(leaf(i + 7)));
        push(a.plus(b), 3);
        i += 8;
    }
    while i < count {
        push(leaf(i), 0);
        i += 1;
    }
    let mut acc: Option<V> = None;
    for (k, run) in runs.iter().enumerate() {
        if done >> k & 1 == 1 {
            acc = Some(match acc {
                None => *run,
                Some(a) => run.plus(a),
            });
        }
    }
    acc.unwrap_or(V::zero())
}

/// The sixteen lanes added pairwise: lane j with j + 8, then j + 4, j + 2, j + 1.
#[inline(always)]
fn fold_lanes<L: Lanes>(v: L) -> f64 {
    let mut lanes = v.to_array();
    let mut width = LANES / 2;
    while width > 0 {
        for j in 0..width {
            lanes[j] += lanes[j + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// Inputs of at most this many elements are reduced without software prefetches: they are in L1
/// or L2 when they are hot, where a prefetch only takes a load slot. Rust harness on the
/// session-13 Xeon VM, 4 096 doubles, best of 30 x 2 000 calls, the best of six alternating
/// rounds: `sum` 335 -> 298 ns, `mean` 342 -> 303, `dot` 858 -> 786 (a plain 8-accumulator
/// AVX-512 sum: 243 ns). Longer inputs stream from memory, where the prefetch pays (`PREFETCH`).
pub(crate) const NEAR: usize = 16 * 1024;

/// Vector `i` of `x`: elements `16 i ..`, zero-padded past the end, prefetching ahead with `PF`.
#[inline(always)]
fn vector<L: Lanes, T: Element, const PF: bool>(x: &[T], i: usize) -> L {
    let at = i * LANES;
    if at + LANES <= x.len() {
        if PF {
            prefetch(&x[at..], PREFETCH);
        }
        L::load(&x[at..])
    } else {
        padded::<L, T>(&x[at..])
    }
}

#[inline(always)]
fn sum_body<L: Lanes, T: Element, const PF: bool>(x: &[T]) -> f64 {
    pairwise::<L>(x.len().div_ceil(LANES), #[inline(always)] |i| vector::<L, T, PF>(x, i))
}

#[inline(always)]
fn sum_block_body<L: Lanes, T: Element>(x: &[T]) -> f64 {
    sum_body::<L, T, true>(x)
}

#[inline(always)]
fn sum_near_body<L: Lanes, T: Element>(x: &[T]) -> f64 {
    sum_body::<L, T, false>(x)
}

#[inline(always)]
fn dot_body<L: Lanes, T: Element, const PF: bool>(x: &[T], y: &[T]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    pairwise::<L>(n.div_ceil(LANES), #[inline(always)] |i| vector::<L, T, PF>(x, i).mul(vector::<L, T, PF>(y, i)))
}

#[inline(always)]
fn dot_block_body<L: Lanes, T: Element>(x: &[T], y: &[T]) -> f64 {
    dot_body::<L, T, true>(x, y)
}

#[inline(always)]
fn dot_near_body<L: Lanes, T: Element>(x: &[T], y: &[T]) -> f64 {
    dot_body::<L, T, false>(x, y)
}

/// The sum of squares of one block, pairwise: the terms are never negative, so its error is
/// relative, at most about 11 u (u = 2^-53, the tree's depth for a whole block).
#[inline(always)]
fn sumsq_body<L: Lanes, T: Element, const PF: bool>(x: &[T]) -> f64 {
    pairwise::<L>(x.len().div_ceil(LANES), #[inline(always)] |i| {
        let v = vector::<L, T, PF>(x, i);
        v.mul(v)
    })
}

#[inline(always)]
fn sumsq_block_body<L: Lanes, T: Element>(x: &[T]) -> f64 {
    sumsq_body::<L, T, true>(x)
}

#[inline(always)]
fn sumsq_near_body<L: Lanes, T: Element>(x: &[T]) -> f64 {
    sumsq_body::<L, T, false>(x)
}

lane_dispatch!(pub(crate) fn sum_block<T: Element>(x: &[T]) -> f64 => sum_block_body);
lane_dispatch!(fn sum_block_near<T: Element>(x: &[T]) -> f64 => sum_near_body);
lane_dispatch!(fn sumsq_block<T: Element>(x: &[T]) -> f64 => sumsq_block_body);
lane_dispatch!(fn sumsq_block_near<T: Element>(x: &[T]) -> f64 => sumsq_near_body);
lane_dispatch!(fn dot_block<T: Element>(x: &[T], y: &[T]) -> f64 => dot_block_body);
lane_dispatch!(fn dot_block_near<T: Element>(x: &[T], y: &[T]) -> f64 => dot_near_body);

/// Block results added in index order (both halves of each compensated pair), with the plain sum
/// of the blocks kept beside them for IEEE special values.
#[derive(Clone, Copy, Default)]
struct Partial {
    acc: Compensated,
    plain: f64,
}

impl Partial {
    #[inline(always)]
    fn add(&mut self, block: f64) {
        self.acc.add(block);
        self.plain += block;
    }

    /// Combines the per-task partials in task order.
    fn total(parts: impl IntoIterator<Item = Partial>) -> f64 {
        let mut acc = Compensated::default();
        let mut plain = 0.0;
        for p in parts {
            acc.add(p.acc.sum);
            acc.add(p.acc.carry);
            plain += p.plain;
        }
        if plain.is_finite() {
            acc.total()
        } else {
            plain
        }
    }
}

/// Folds the BLOCK-sized pieces of `0..len` into one accumulator per task (fixed tasks of
/// `BLOCK * BLOCKS_PER_TASK` elements, in parallel when allowed), blocks in index order, and returns
/// the tasks' accumulators in order. The task and block boundaries never depend on the pool. An
/// input of one task is folded right here, with no vector of results (a small Sync call is a few
/// hundred nanoseconds; the allocation was a tenth of that).
fn fold_blocks<A: Default + Send>(ctx: &JobCtx, len: usize, add: impl Fn(&mut A, std::ops::Range<usize>) + Sync) -> CoreResult<Tasks<A>> {
    let task = |r: std::ops::Range<usize>| {
        let mut acc = A::default();
        let mut start = r.start;
        while start < r.end {
            let end = (start + BLOCK).min(r.end);
            add(&mut acc, start..end);
            start = end;
        }
        acc
    };
    if len <= BLOCK * BLOCKS_PER_TASK {
        ctx.checkpoint()?;
        return Ok(Tasks::One(Some(task(0..len))));
    }
    Ok(Tasks::Many(ctx.map_chunks(len, BLOCK * BLOCKS_PER_TASK, task)?.into_iter()))
}

/// The per-task results of `fold_blocks`, in order.
enum Tasks<A> {
    One(Option<A>),
    Many(std::vec::IntoIter<A>),
}

impl<A> Iterator for Tasks<A> {
    type Item = A;

    fn next(&mut self) -> Option<A> {
        match self {
            Tasks::One(a) => a.take(),
            Tasks::Many(v) => v.next(),
        }
    }
}

/// The sum of `x`, accumulated in f64. Empty input sums to +0, all negative zeros to -0 (as
/// left-to-right IEEE addition gives). NaN anywhere gives NaN.
pub fn sum<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<f64> {
    // The same additions either way: the prefetches never change a value.
    let block = if x.len() <= NEAR { sum_block_near::<T> } else { sum_block::<T> };
    let tasks = fold_blocks(ctx, x.len(), |p: &mut Partial, r| p.add(block(&x[r])))?;
    Ok(super::signed_zero_sum(Partial::total(tasks), x))
}

/// The dot product of `x` and `y`, which the caller has checked are the same length.
pub fn dot<T: Element>(ctx: &JobCtx, x: &[T], y: &[T]) -> CoreResult<f64> {
    assert_eq!(x.len(), y.len(), "dot: lengths checked by the caller");
    if x.len() <= BLOCK * BLOCKS_PER_TASK {
        // One task: its blocks in either order (see `sweep_backward`: a 4 096-element dot reads
        // 64 KiB, more than L1), their results added in index order as `fold_blocks` would.
        ctx.checkpoint()?;
        let blocks = x.len().div_ceil(BLOCK);
        let mut values = [0.0f64; BLOCKS_PER_TASK];
        let mut one = |b: usize| {
            let r = b * BLOCK..((b + 1) * BLOCK).min(x.len());
            values[b] = if x.len() <= NEAR { dot_block_near(&x[r.clone()], &y[r]) } else { dot_block(&x[r.clone()], &y[r]) };
        };
        if super::sweep_backward() {
            (0..blocks).rev().for_each(&mut one);
        } else {
            (0..blocks).for_each(&mut one);
        }
        let mut p = Partial::default();
        for &v in &values[..blocks] {
            p.add(v);
        }
        return Ok(Partial::total([p]));
    }
    let tasks = fold_blocks(ctx, x.len(), |p: &mut Partial, r| p.add(dot_block(&x[r.clone()], &y[r])))?;
    Ok(Partial::total(tasks))
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

/// The f64 as an i64 whose signed order is the float order with -0 below +0 (negative values
/// have every bit but the sign flipped). Its own inverse. NaNs map outside the range of
/// -inf..+inf and are tracked separately by the callers.
#[inline(always)]
fn order_key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

#[inline(always)]
fn from_order_key(k: i64) -> f64 {
    f64::from_bits((k ^ (((k >> 63) as u64) >> 1) as i64) as u64)
}

/// Integer min/max of the order keys: compare-and-select on integers vectorizes on every level
/// and orders -0 before +0 without a second comparison. NaNs need no test of their own: a NaN with
/// the sign bit clear has a key above +inf's and one with it set a key below -inf's, so a NaN
/// anywhere leaves `hi` or `lo` outside the range of the numbers. (Tracking NaNs in a mask of
/// their own made 4 096 in-cache doubles take 1.34-1.68 µs instead of 0.60-0.85 µs.)
#[inline(always)]
fn minmax_block_body<T: Element>(x: &[T]) -> MinMax {
    let mut lo = [order_key(f64::INFINITY); LANES];
    let mut hi = [order_key(f64::NEG_INFINITY); LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        prefetch(ch, PREFETCH);
        let v: [f64; LANES] = std::array::from_fn(|j| ch[j].to_f64());
        for j in 0..LANES {
            let k = order_key(v[j]);
            lo[j] = lo[j].min(k);
            hi[j] = hi[j].max(k);
        }
    }
    for (j, e) in chunks.remainder().iter().enumerate() {
        let k = order_key(e.to_f64());
        lo[j] = lo[j].min(k);
        hi[j] = hi[j].max(k);
    }
    let (lo, hi) = (lo.iter().copied().fold(i64::MAX, i64::min), hi.iter().copied().fold(i64::MIN, i64::max));
    if hi > order_key(f64::INFINITY) || lo < order_key(f64::NEG_INFINITY) {
        return MinMax { min: f64::NAN, max: f64::NAN };
    }
    MinMax { min: from_order_key(lo), max: from_order_key(hi) }
}

simd_dispatch!(fn minmax_block_lanes<T: Element>(x: &[T]) -> MinMax => minmax_block_body);

/// `minmax_block_body` of a block, with f64 on AVX2 in the intrinsics form: AVX2 has no 64-bit
/// integer min or max, and the compiler's form of `minmax_block_body` there ran at the scalar
/// path's speed (4 096 in-cache doubles: 4.8 µs, against 0.6-0.85 µs on AVX-512).
fn minmax_block<T: Element>(x: &[T]) -> MinMax {
    #[cfg(target_arch = "x86_64")]
    if T::KIND == Kind::F64 && crate::simd::level() == crate::simd::SimdLevel::Avx2 {
        // SAFETY: T is f64 (KIND), so `x` is a slice of f64s; level() reports AVX2 only when the
        // CPU has it.
        return unsafe { minmax_block_avx2(std::slice::from_raw_parts(x.as_ptr().cast::<f64>(), x.len())) };
    }
    minmax_block_lanes(x)
}

/// `minmax_block_body` for f64 with AVX2 intrinsics: the same order keys (so the same result,
/// bit for bit), their min and max by compare and blend, four vectors at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn minmax_block_avx2(x: &[f64]) -> MinMax {
    use std::arch::x86_64::*;
    const VECS: usize = 4;
    let zero = _mm256_setzero_si256();
    let mut lo = [_mm256_set1_epi64x(order_key(f64::INFINITY)); VECS];
    let mut hi = [_mm256_set1_epi64x(order_key(f64::NEG_INFINITY)); VECS];
    let mut chunks = x.chunks_exact(4 * VECS);
    for ch in &mut chunks {
        for j in 0..VECS {
            // SAFETY: `ch` has 4 * VECS doubles, so 4 at 4 * j are in bounds.
            let v = unsafe { _mm256_loadu_si256(ch.as_ptr().add(4 * j).cast()) };
            // order_key: flip every bit but the sign of negative values.
            let neg = _mm256_cmpgt_epi64(zero, v);
            let k = _mm256_xor_si256(v, _mm256_srli_epi64::<1>(neg));
            lo[j] = _mm256_blendv_epi8(lo[j], k, _mm256_cmpgt_epi64(lo[j], k));
            hi[j] = _mm256_blendv_epi8(hi[j], k, _mm256_cmpgt_epi64(k, hi[j]));
        }
    }
    let mut l = i64::MAX;
    let mut h = i64::MIN;
    for j in 0..VECS {
        let (mut a, mut b) = ([0i64; 4], [0i64; 4]);
        // SAFETY: each array has room for one vector.
        unsafe {
            _mm256_storeu_si256(a.as_mut_ptr().cast(), lo[j]);
            _mm256_storeu_si256(b.as_mut_ptr().cast(), hi[j]);
        }
        l = a.iter().copied().fold(l, i64::min);
        h = b.iter().copied().fold(h, i64::max);
    }
    for &e in chunks.remainder() {
        let k = order_key(e);
        l = l.min(k);
        h = h.max(k);
    }
    if h > order_key(f64::INFINITY) || l < order_key(f64::NEG_INFINITY) {
        return MinMax { min: f64::NAN, max: f64::NAN };
    }
    MinMax { min: from_order_key(l), max: from_order_key(h) }
}

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

/// The sums of `d = x - k` and of `d * d` over one block, both along `pairwise`'s tree (the two
/// trees built side by side, `pairwise2`): pairwise summation of the deviations, one subtract, one
/// multiply and two adds per vector. Padding lanes of the last vector are zero deviations. Until
/// session 5 both sums were compensated (four lane groups added plainly before each TwoSum): 52
/// vector operations per 64 elements against 16, which on Zen 4 kept the one-pass variance at
/// 80-93 % of the read probe on 32 Mi doubles.
#[inline(always)]
fn dev_block_body<L: Lanes, T: Element>(x: &[T], k: f64) -> (f64, f64) {
    let kv = L::splat(k);
    pairwise2::<L>(x.len().div_ceil(LANES), #[inline(always)] |i| {
        let at = i * LANES;
        let d = if at + LANES <= x.len() {
            prefetch(&x[at..], PREFETCH);
            L::load(&x[at..]).sub(kv)
        } else {
            let mut d = [0.0f64; LANES];
            for (slot, e) in d.iter_mut().zip(&x[at..]) {
                *slot = e.to_f64() - k;
            }
            L::load(&d[..])
        };
        (d, d.mul(d))
    })
}

lane_dispatch!(fn dev_block<T: Element>(x: &[T], k: f64) -> (f64, f64) => dev_block_body);

/// One block's part of the variance: its length, the shift `k` its deviations are taken from, and
/// the pairwise sums of `d = x - k` and of `d * d`.
#[derive(Clone, Copy, Default)]
struct BlockDev {
    n: f64,
    k: f64,
    d: f64,
    d2: f64,
}

/// A block's deviations from a shift near its mean. The first try is the mean of its first 16
/// elements (sixteen scalar adds, the same on every level), which needs no extra pass; when that
/// shift is far from the block's mean (`n (mean - k)² > Σ(x - mean)²`, i.e. `2 (Σd)² > n Σd²`) the
/// block, now in L1, is centred again on its mean `k + Σd / n`. Either way the shifted sums have
/// at most a factor two of cancellation in them.
fn block_dev<T: Element>(block: &[T]) -> BlockDev {
    let head = &block[..block.len().min(16)];
    let mut s = 0.0;
    for v in head {
        s += v.to_f64();
    }
    let n = block.len() as f64;
    let mut k = s / head.len() as f64;
    let (mut d, mut d2) = dev_block(block, k);
    if 2.0 * d * d > n * d2 {
        k += d / n;
        (d, d2) = dev_block(block, k);
    }
    BlockDev { n, k, d, d2 }
}

/// Variance with `ddof` delta degrees of freedom, in one pass over memory. Each block is reduced to
/// pairwise `Σd` and `Σd²` with `d = x - k_b` for a shift `k_b` near the block's mean (see
/// [`block_dev`]); then, with `m` the mean from those sums, the blocks combine in index order by
/// the exact identities `Σ(x - m) = Σ_b [Σd + n_b (k_b - m)]` and
/// `Σ(x - m)² = Σ_b [Σd² + 2 (k_b - m) Σd + n_b (k_b - m)²]`, compensated, into the two-pass form
/// `(Σ(x-m)² - (Σ(x-m))²/n) / (n - ddof)`. The identities hold for any `m` and `k_b`; choosing
/// them near the means keeps every term within a small factor of the result, so the accuracy is
/// that of a two-pass variance with pairwise sums at the memory traffic of one pass (the two-pass form
/// measured 8-9 GB/s of input on 32 Mi doubles over 2 threads, `sum` 18-19 in the same run).
/// NaN when `n <= ddof`; an infinity or NaN in the input gives NaN.
pub fn variance<T: Element>(ctx: &JobCtx, x: &[T], ddof: f64) -> CoreResult<f64> {
    let (v, e) = scaled_variance(ctx, x, ddof)?;
    let up = pow2(e);
    Ok(v * up * up)
}

/// The standard deviation: the square root of `variance`, kept finite where only the variance
/// overflows (`std` of `[3e200, -3e200]` is 3e200, not Infinity).
pub fn std<T: Element>(ctx: &JobCtx, x: &[T], ddof: f64) -> CoreResult<f64> {
    let (v, e) = scaled_variance(ctx, x, ddof)?;
    Ok(v.sqrt() * pow2(e))
}

/// 2^k for `-1022 <= k <= 1023`, exactly.
fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// The variance as `(v, e)`, the variance being `v * 4^e`. Usually `e` is 0. Finite inputs give a
/// non-finite variance only when a square or a sum overflowed (values near 1e154 and beyond): the
/// variance is then taken of `x` scaled by `2^-e`, exactly (a power of two), with `2^e` the largest
/// magnitude's binade, so the caller scales back (Infinity where the variance itself is beyond
/// the largest double, as numpy gives). NaNs and infinities in `x` keep the NaN.
fn scaled_variance<T: Element>(ctx: &JobCtx, x: &[T], ddof: f64) -> CoreResult<(f64, i32)> {
    let v = variance_of(ctx, x, ddof)?;
    if v.is_finite() || x.len() as f64 - ddof <= 0.0 {
        return Ok((v, 0));
    }
    let range = minmax(ctx, x)?;
    if !(range.min.is_finite() && range.max.is_finite()) {
        return Ok((v, 0));
    }
    let largest = range.min.abs().max(range.max.abs());
    // The unbiased exponent of `largest` (a normal number here: it overflowed a square).
    // At most 1022, so that 2^-e is a normal number (the scaled values stay below 4).
    let e = (((largest.to_bits() >> 52) & 0x7ff) as i32 - 1023).min(1022);
    let down = pow2(-e);
    let mut scaled: Vec<f64> = Vec::new();
    scaled
        .try_reserve_exact(x.len())
        .map_err(|_| crate::error::CoreError::invalid_arg("variance: no memory for the scaled copy its overflow needs"))?;
    for chunk in x.chunks(BLOCK * BLOCKS_PER_TASK) {
        ctx.checkpoint()?;
        scaled.extend(chunk.iter().map(|v| v.to_f64() * down));
    }
    Ok((variance_of(ctx, &scaled, ddof)?, e))
}

/// `variance` without the overflow fallback.
fn variance_of<T: Element>(ctx: &JobCtx, x: &[T], ddof: f64) -> CoreResult<f64> {
    let n = x.len() as f64;
    if n - ddof <= 0.0 || x.is_empty() {
        return Ok(f64::NAN);
    }
    type TaskDev = ([BlockDev; BLOCKS_PER_TASK], usize);
    let tasks = ctx.map_chunks(x.len(), BLOCK * BLOCKS_PER_TASK, |task| {
        let mut t: TaskDev = ([BlockDev::default(); BLOCKS_PER_TASK], 0);
        let mut start = task.start;
        while start < task.end {
            let end = (start + BLOCK).min(task.end);
            t.0[t.1] = block_dev(&x[start..end]);
            t.1 += 1;
            start = end;
        }
        t
    })?;
    let blocks = || tasks.iter().flat_map(|t| &t.0[..t.1]);
    // The mean as a weighted sum of the block means: no term exceeds the largest |x|.
    let mut mean = Compensated::default();
    for b in blocks() {
        let w = b.n / n;
        mean.add(b.k * w);
        mean.add(b.d / n);
    }
    let m = mean.total();
    let (mut s1, mut s2) = (Compensated::default(), Compensated::default());
    for b in blocks() {
        let delta = b.k - m;
        s1.add(b.d);
        s1.add(b.n * delta);
        s2.add(b.d2);
        s2.add(2.0 * delta * b.d);
        s2.add(b.n * delta * delta);
    }
    let (sd, sd2) = (s1.total(), s2.total());
    let v = (sd2 - sd * sd / n) / (n - ddof);
    // Rounding can leave a tiny negative for constant input; NaN passes through.
    Ok(if v < 0.0 { 0.0 } else { v })
}

/// Euclidean norm: the compensated sum of squares, rescaled by the largest magnitude when the plain
/// squares would overflow or underflow.
pub fn norm2<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<f64> {
    let block = if x.len() <= NEAR { sumsq_block_near::<T> } else { sumsq_block::<T> };
    let tasks = fold_blocks(ctx, x.len(), |p: &mut Partial, r| p.add(block(&x[r])))?;
    let ss = Partial::total(tasks);
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

/// One pass over the block: in sixteen lanes the extreme value, the line (sixteen elements) where
/// each lane first reached it, and whether it saw a NaN; the first index holding the extreme is
/// then the smallest `line * 16 + lane` among the lanes that hold it. `bar` is the best value of
/// the blocks before, when there is one: a block that does not beat it strictly cannot win
/// (`Best::then` keeps the earlier index on ties) and gives `Empty`. On 4 096 in-cache doubles on
/// Zen 4 this measured 0.65 µs run after run; the two passes before it (the extreme, then a search
/// for its first position) 0.45-0.79 µs, depending on where the extreme fell.
#[inline(always)]
fn arg_block_body<T: Element, const MAX: bool>(x: &[T], base: usize, bar: Option<f64>) -> Best {
    #[cfg(target_arch = "x86_64")]
    if T::KIND == Kind::F64 && crate::simd::level() == crate::simd::SimdLevel::Avx512 {
        // SAFETY: T is f64 (KIND), so `x` is a slice of f64s; level() reports AVX-512 only when
        // the CPU has it.
        return unsafe { arg_block_avx512::<MAX>(std::slice::from_raw_parts(x.as_ptr().cast::<f64>(), x.len()), base, bar) };
    }
    arg_block_lanes::<T, MAX>(x, base, bar)
}

/// The one-pass form of `arg_block_body` (every level but AVX-512 f64, and the reference the
/// AVX-512 form is tested against).
#[inline(always)]
fn arg_block_lanes<T: Element, const MAX: bool>(x: &[T], base: usize, bar: Option<f64>) -> Best {
    let start = if MAX { f64::NEG_INFINITY } else { f64::INFINITY };
    let mut best = [start; LANES];
    let mut line = [0u32; LANES];
    let mut nan = [false; LANES];
    let better = |v: f64, b: f64| if MAX { v > b } else { v < b };
    let mut chunks = x.chunks_exact(LANES);
    let mut c = 0u32;
    for ch in &mut chunks {
        prefetch(ch, PREFETCH);
        let ch: &[T; LANES] = ch.try_into().unwrap();
        for j in 0..LANES {
            let v = ch[j].to_f64();
            nan[j] |= v.is_nan();
            let b = better(v, best[j]);
            best[j] = if b { v } else { best[j] };
            line[j] = if b { c } else { line[j] };
        }
        c += 1;
    }
    for (j, e) in chunks.remainder().iter().enumerate() {
        let v = e.to_f64();
        nan[j] |= v.is_nan();
        if better(v, best[j]) {
            best[j] = v;
            line[j] = c;
        }
    }
    if nan.iter().any(|&b| b) {
        let k = x.iter().position(|v| v.to_f64().is_nan()).unwrap_or(0);
        return Best::Nan(base + k);
    }
    let m = best.iter().copied().fold(start, |a, b| if better(b, a) { b } else { a });
    if bar.is_some_and(|b| !better(m, b)) || x.is_empty() {
        return Best::Empty;
    }
    // -0 == +0 here, so the first of either counts. A lane still at the start value (an
    // all-infinite block, or a lane past a short block's end) has line 0 but may hold no element:
    // only lanes that saw an element count.
    let seen = x.len().min(LANES);
    let at = (0..LANES)
        .filter(|&j| best[j] == m && (j < seen))
        .map(|j| line[j] as usize * LANES + j)
        .filter(|&i| i < x.len())
        .min();
    match at {
        Some(i) => Best::At(m, base + i),
        None => Best::Empty,
    }
}

/// `arg_block_body` for f64 on AVX-512, in two passes over the (in-cache) block: the extreme with
/// `vminpd`/`vmaxpd` in eight independent chains, a NaN witness beside it, then the first element
/// equal to it (`==`, so -0 and +0 alike, the first of either, as the one-pass form). The result
/// is the same `Best` in every case: a NaN anywhere gives the first NaN; a block that does not beat
/// `bar` strictly gives `Empty`. Rust harness, 4 096 in-cache doubles on Zen 5: LLVM's
/// vectorization of the one-pass form 0.36-0.37 µs; the one-pass form written out with four sets
/// of compare-and-select chains 0.29-0.31; these two passes 0.23.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn arg_block_avx512<const MAX: bool>(x: &[f64], base: usize, bar: Option<f64>) -> Best {
    use std::arch::x86_64::*;
    let n = x.len();
    let p = x.as_ptr();
    let start = if MAX { f64::NEG_INFINITY } else { f64::INFINITY };
    // `vminpd`/`vmaxpd` return their second operand when either is a NaN: with the accumulator
    // second, a NaN never enters it (the witness below sees NaNs).
    let pick = |acc: __m512d, v: __m512d| if MAX { _mm512_max_pd(v, acc) } else { _mm512_min_pd(v, acc) };
    // SAFETY (whole function): every vector load reads 8 doubles inside `x`; the scalar loops stay
    // below `n`; prefetches never fault.
    unsafe {
        let mut acc = [_mm512_set1_pd(start); 8];
        // A NaN witness kept in vector registers: the plain sum of the elements is NaN when one of
        // them is (a compare into a mask register per vector, ORed in general registers, made a
        // serial chain). The sum can also turn NaN without one (+inf and -inf, or an overflow
        // then its opposite); the exact scan below settles every alarm.
        let mut witness = [_mm512_setzero_pd(); 8];
        let mut i = 0;
        while i + 64 <= n {
            _mm_prefetch::<_MM_HINT_T1>(p.add(i).wrapping_add(PREFETCH).cast::<i8>());
            _mm_prefetch::<_MM_HINT_T1>(p.add(i).wrapping_add(PREFETCH + 32).cast::<i8>());
            for k in 0..8 {
                let v = _mm512_loadu_pd(p.add(i + 8 * k));
                acc[k] = pick(acc[k], v);
                witness[k] = _mm512_add_pd(witness[k], v);
            }
            i += 64;
        }
        while i + 8 <= n {
            let v = _mm512_loadu_pd(p.add(i));
            acc[0] = pick(acc[0], v);
            witness[0] = _mm512_add_pd(witness[0], v);
            i += 8;
        }
        let mut nan: __mmask8 = 0;
        for w in witness {
            nan |= _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(w, w);
        }
        // An alarm with no NaN behind it (only infinities) goes on as if there were none.
        let nan = nan != 0 && x.iter().any(|v| v.is_nan());
        let mut lanes = [0.0f64; 8];
        let mut m = start;
        let better = |v: f64, b: f64| if MAX { v > b } else { v < b };
        for a in acc {
            _mm512_storeu_pd(lanes.as_mut_ptr(), a);
            for &v in &lanes {
                if better(v, m) {
                    m = v;
                }
            }
        }
        let mut nan_tail = false;
        for &v in &x[i..] {
            nan_tail |= v.is_nan();
            if better(v, m) {
                m = v;
            }
        }
        if nan || nan_tail {
            let k = x.iter().position(|v| v.is_nan()).unwrap_or(0);
            return Best::Nan(base + k);
        }
        if n == 0 || bar.is_some_and(|b| !better(m, b)) {
            return Best::Empty;
        }
        let target = _mm512_set1_pd(m);
        let mut i = 0;
        // Four vectors a step, one branch on their combined mask: the search was half the time.
        while i + 32 <= n {
            let hit = |k: usize| _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(_mm512_loadu_pd(p.add(i + 8 * k)), target);
            let (h0, h1, h2, h3) = (hit(0), hit(1), hit(2), hit(3));
            if (h0 | h1 | h2 | h3) != 0 {
                let all = u32::from(h0) | u32::from(h1) << 8 | u32::from(h2) << 16 | u32::from(h3) << 24;
                return Best::At(m, base + i + all.trailing_zeros() as usize);
            }
            i += 32;
        }
        while i + 8 <= n {
            let hit = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(_mm512_loadu_pd(p.add(i)), target);
            if hit != 0 {
                return Best::At(m, base + i + hit.trailing_zeros() as usize);
            }
            i += 8;
        }
        match x[i..].iter().position(|&v| v == m) {
            Some(k) => Best::At(m, base + i + k),
            // Unreachable: m is one of the elements.
            None => Best::Empty,
        }
    }
}

#[inline(always)]
fn argmin_block_body<T: Element>(x: &[T], base: usize, bar: Option<f64>) -> Best {
    arg_block_body::<T, false>(x, base, bar)
}

#[inline(always)]
fn argmax_block_body<T: Element>(x: &[T], base: usize, bar: Option<f64>) -> Best {
    arg_block_body::<T, true>(x, base, bar)
}

simd_dispatch!(fn argmin_block<T: Element>(x: &[T], base: usize, bar: Option<f64>) -> Best => argmin_block_body);
simd_dispatch!(fn argmax_block<T: Element>(x: &[T], base: usize, bar: Option<f64>) -> Best => argmax_block_body);

fn arg_best<T: Element>(ctx: &JobCtx, x: &[T], max: bool) -> CoreResult<Option<usize>> {
    let one_task = |task: std::ops::Range<usize>| {
        let mut acc = Best::Empty;
        let mut start = task.start;
        while start < task.end {
            let end = (start + BLOCK).min(task.end);
            let bar = match acc {
                // A NaN already won: nothing later matters.
                Best::Nan(_) => break,
                Best::At(v, _) => Some(v),
                Best::Empty => None,
            };
            let block = if max { argmax_block(&x[start..end], start, bar) } else { argmin_block(&x[start..end], start, bar) };
            acc = acc.then(block, max);
            start = end;
        }
        acc
    };
    // One task runs right here, with no vector of results (as `fold_blocks`).
    let best = if x.len() <= BLOCK * BLOCKS_PER_TASK {
        ctx.checkpoint()?;
        one_task(0..x.len())
    } else {
        ctx.map_chunks(x.len(), BLOCK * BLOCKS_PER_TASK, one_task)?.into_iter().fold(Best::Empty, |a, b| a.then(b, max))
    };
    Ok(match best {
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

    /// A one-task dot sweeps its blocks in alternating order; the bits never change.
    #[test]
    fn dot_is_the_same_bits_in_either_block_order() {
        for n in [0, 1, 2047, 2048, 4096, 5000, BLOCK * BLOCKS_PER_TASK] {
            let x: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.37).sin() * 1e6).collect();
            let y: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.11).cos() + 1e-9).collect();
            let first = dot(&JobCtx::inline(), &x, &y).unwrap();
            let second = dot(&JobCtx::inline(), &x, &y).unwrap();
            assert_eq!(first.to_bits(), second.to_bits(), "n={n}");
            let state = JobState::new();
            let pooled = in_pool(2, || dot(&JobCtx::for_pool(&state), &x, &y).unwrap());
            assert_eq!(pooled.to_bits(), first.to_bits(), "n={n} pooled");
        }
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

    /// The documented tree, written independently: lanes by `i % 16`, vectors split recursively at
    /// the largest power of two below their count, the lanes folded pairwise, blocks combined in
    /// order by a compensated sum (Neumaier).
    fn reference_sum(x: &[f64]) -> f64 {
        fn tree(v: &[[f64; LANES]]) -> [f64; LANES] {
            if v.len() == 1 {
                return v[0];
            }
            let h = v.len().next_power_of_two() / 2;
            let (a, b) = (tree(&v[..h]), tree(&v[h..]));
            std::array::from_fn(|j| a[j] + b[j])
        }
        let (mut acc, mut plain) = (Compensated::default(), 0.0);
        for block in x.chunks(BLOCK) {
            let v: Vec<[f64; LANES]> = block.chunks(LANES).map(|c| std::array::from_fn(|j| c.get(j).copied().unwrap_or(0.0))).collect();
            let mut l = tree(&v);
            for width in [8, 4, 2, 1] {
                for j in 0..width {
                    l[j] += l[j + width];
                }
            }
            acc.add(l[0]);
            plain += l[0];
        }
        if plain.is_finite() {
            acc.total()
        } else {
            plain
        }
    }

    #[test]
    fn sum_is_the_documented_pairwise_tree_on_every_level() {
        let x: Vec<f64> = (0..20_000).map(|i| ((i as f64) * 0.731).sin() * 10f64.powi(i % 17 - 8)).collect();
        for len in [0, 1, 15, 16, 17, 127, 128, 129, 130, 1000, 2047, 2048, 2049, 4096 + 33, 20_000] {
            let want = if len == 0 { 0.0 } else { reference_sum(&x[..len]) };
            assert_eq!(sum(&JobCtx::inline(), &x[..len]).unwrap().to_bits(), want.to_bits(), "len {len}");
            let portable = Partial::total([{
                let mut p = Partial::default();
                for block in x[..len].chunks(BLOCK) {
                    p.add(sum_block_body::<crate::kernels::lanes::Portable, f64>(block));
                }
                p
            }]);
            assert_eq!(portable.to_bits(), want.to_bits(), "portable, len {len}");
            let ones = vec![1.0; len];
            assert_eq!(dot(&JobCtx::inline(), &x[..len], &ones).unwrap().to_bits(), want.to_bits(), "dot, len {len}");
        }
    }

    #[test]
    fn sum_on_cancellation_heavy_input_stays_within_the_pairwise_bound() {
        // 1e16 + 1 - 1e16 repeated: a sequential loop loses every 1 (and ends at 0); the bound is
        // that of pairwise summation, and `exact_sum` gets it exactly.
        let mut x: Vec<f64> = Vec::new();
        for _ in 0..10_000 {
            x.extend_from_slice(&[1e16, 1.0, -1e16]);
        }
        let got = sum(&JobCtx::inline(), &x).unwrap();
        let mag: f64 = x.iter().map(|v| v.abs()).sum();
        assert!((got - 10_000.0).abs() <= pairwise_bound(x.len(), mag), "got {got}");
        assert_eq!(crate::kernels::exact_sum(&JobCtx::inline(), &x).unwrap(), 10_000.0);
    }

    /// The documented bound: `(ceil(log2(min(n, BLOCK))) + 2) u sum |x|`, u = 2^-53.
    fn pairwise_bound(n: usize, mag: f64) -> f64 {
        let depth = (n.clamp(2, BLOCK) as f64).log2().ceil();
        (depth + 2.0) * (f64::EPSILON / 2.0) * mag.max(f64::MIN_POSITIVE)
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
        // NaNs of either sign and any payload, at every lane and in the remainder, next to the
        // infinities (whose keys are the ends of the number range): always NaN; infinities alone
        // are ordinary extremes.
        let nans = [f64::NAN, -f64::NAN, f64::from_bits(0x7ff0_0000_0000_0001), f64::from_bits(0xfff0_0000_0000_0001), f64::from_bits(u64::MAX)];
        for (len, at) in [(1, 0), (16, 0), (16, 15), (37, 9), (37, 36), (300, 177)] {
            for &nan in &nans {
                let mut x: Vec<f64> = (0..len).map(|i| if i % 2 == 0 { f64::INFINITY } else { f64::NEG_INFINITY }).collect();
                x[at] = nan;
                let m = minmax(&ctx, &x).unwrap();
                assert!(m.min.is_nan() && m.max.is_nan(), "len {len}, NaN {:x} at {at}", nan.to_bits());
                let f: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let m = minmax(&ctx, &f).unwrap();
                assert!(m.min.is_nan() && m.max.is_nan(), "f32: len {len}, NaN at {at}");
            }
        }
        let inf = minmax(&ctx, &[f64::INFINITY, f64::NEG_INFINITY, 0.0]).unwrap();
        assert_eq!((inf.min, inf.max), (f64::NEG_INFINITY, f64::INFINITY));
        let ints = minmax(&ctx, &[i32::MIN, 5, i32::MAX, 0]).unwrap();
        assert_eq!((ints.min, ints.max), (i32::MIN as f64, i32::MAX as f64));
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
        fn sum_is_within_the_pairwise_bound_of_exact(x in prop::collection::vec(-1e6f64..1e6, 0..5000)) {
            let got = sum(&JobCtx::inline(), &x).unwrap();
            let exact = crate::kernels::fsum::fsum(&x);
            let mag: f64 = x.iter().map(|v| v.abs()).sum();
            prop_assert!((got - exact).abs() <= pairwise_bound(x.len(), mag), "got {got} exact {exact}");
        }

        #[test]
        fn variance_matches_an_exact_two_pass_reference(
            parts in prop::collection::vec((-1e12f64..1e12, 1e-3f64..1e3, 1usize..3000), 1..8),
            ddof in 0.0f64..2.0,
        ) {
            // Runs of very different means and spreads, cut across blocks at odd places.
            let mut x = Vec::new();
            for (k, &(centre, spread, len)) in parts.iter().enumerate() {
                x.extend((0..len).map(|i| centre + spread * (((i * 7 + k) as f64) * 0.618).sin()));
            }
            let n = x.len() as f64;
            prop_assume!(n - ddof > 0.0);
            let m = crate::kernels::fsum::fsum(&x) / n;
            // Deviations from the correctly rounded mean, squared and summed exactly: error only
            // from the one rounding of each x - m.
            let dev: Vec<f64> = x.iter().map(|v| v - m).collect();
            let sq: Vec<f64> = dev.iter().map(|d| d * d).collect();
            let sd = crate::kernels::fsum::fsum(&dev);
            let reference = (crate::kernels::fsum::fsum(&sq) - sd * sd / n) / (n - ddof);
            let got = variance(&JobCtx::inline(), &x, ddof).unwrap();
            prop_assert!((got - reference).abs() <= 1e-12 * reference.abs().max(f64::MIN_POSITIVE), "got {got} reference {reference}");
            let state = JobState::new();
            let pooled = in_pool(3, || variance(&JobCtx::for_pool(&state), &x, ddof).unwrap());
            prop_assert_eq!(pooled.to_bits(), got.to_bits());
        }

        #[test]
        fn variance_does_not_overflow_before_its_result_does(
            v in prop::collection::vec(-1.0f64..1.0, 2..5000),
            e in 100i32..=1023,
            ddof in 0.0f64..1.0,
        ) {
            // The same data at a huge scale: the variance is the small one's times the scale
            // squared (exact powers of two), or Infinity past the largest double, never NaN.
            let scale = 2f64.powi(e);
            let big: Vec<f64> = v.iter().map(|x| x * scale).collect();
            let ctx = JobCtx::inline();
            let small = variance(&ctx, &v, ddof).unwrap();
            let got = variance(&ctx, &big, ddof).unwrap();
            let want = small * scale * scale;
            prop_assert!(!got.is_nan());
            // The standard deviation stays finite: it is at most the largest magnitude.
            let sd = std(&ctx, &big, ddof).unwrap();
            let sd_want = small.sqrt() * scale;
            prop_assert!((sd - sd_want).abs() <= 1e-12 * sd_want, "std {sd} want {sd_want}");
            if want.is_finite() {
                prop_assert!((got - want).abs() <= 1e-12 * want, "got {got} want {want}");
            } else {
                prop_assert_eq!(got, f64::INFINITY);
            }
        }

        #[test]
        fn argmin_and_argmax_give_the_first_extreme(
            x in prop::collection::vec(prop_oneof![20 => (-50i32..50).prop_map(f64::from), 1 => Just(f64::NAN), 1 => Just(-0.0)], 0..12_000),
        ) {
            let ctx = JobCtx::inline();
            let first_nan = x.iter().position(|v| v.is_nan());
            let lo = x.iter().copied().fold(f64::INFINITY, |a, b| if b < a { b } else { a });
            let hi = x.iter().copied().fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a });
            let want_min = first_nan.or_else(|| x.iter().position(|&v| v == lo));
            let want_max = first_nan.or_else(|| x.iter().position(|&v| v == hi));
            prop_assert_eq!(argmin(&ctx, &x).unwrap(), want_min);
            prop_assert_eq!(argmax(&ctx, &x).unwrap(), want_max);
            let state = JobState::new();
            prop_assert_eq!(in_pool(2, || argmin(&JobCtx::for_pool(&state), &x).unwrap()), want_min);
        }

        /// The AVX2 f64 minmax block against the lane form, bit for bit, with NaNs of both signs,
        /// infinities, both zeros and the largest magnitudes, at lengths around the 16-element step.
        #[test]
        #[cfg(target_arch = "x86_64")]
        fn avx2_minmax_block_matches_the_lane_form(
            x in prop::collection::vec(prop_oneof![
                20 => (-4i32..4).prop_map(f64::from),
                3 => Just(-0.0),
                3 => Just(0.0),
                2 => Just(f64::INFINITY),
                2 => Just(f64::NEG_INFINITY),
                1 => Just(f64::NAN),
                1 => Just(-f64::NAN),
                2 => Just(f64::MAX),
                2 => Just(f64::MIN),
                2 => Just(-5e-324),
            ], 0..200),
        ) {
            if !std::arch::is_x86_feature_detected!("avx2") {
                return Ok(());
            }
            // SAFETY: the CPU has AVX2 (checked above).
            let got = unsafe { minmax_block_avx2(&x) };
            let want = minmax_block_body(&x);
            prop_assert_eq!((got.min.to_bits(), got.max.to_bits()), (want.min.to_bits(), want.max.to_bits()));
        }

        /// The AVX-512 block form against the one-pass lane form, value and index, with NaNs,
        /// infinities of both signs (the NaN witness's false alarm), both zeros, ties and every
        /// kind of `bar`, at lengths around the 8-, 32- and 64-element steps.
        #[test]
        #[cfg(target_arch = "x86_64")]
        fn avx512_arg_blocks_match_the_lane_form(
            x in prop::collection::vec(prop_oneof![
                20 => (-4i32..4).prop_map(f64::from),
                2 => Just(-0.0),
                2 => Just(f64::INFINITY),
                2 => Just(f64::NEG_INFINITY),
                1 => Just(f64::NAN),
                2 => Just(1e308),
                2 => Just(-1e308),
            ], 0..300),
            bar in prop_oneof![Just(None), (-5i32..5).prop_map(|v| Some(f64::from(v))), Just(Some(-0.0)), Just(Some(f64::INFINITY)), Just(Some(f64::NEG_INFINITY))],
            base in 0usize..5000,
        ) {
            if crate::simd::level() != crate::simd::SimdLevel::Avx512 {
                return Ok(());
            }
            let same = |a: Best, b: Best| match (a, b) {
                (Best::Empty, Best::Empty) => true,
                (Best::Nan(i), Best::Nan(j)) => i == j,
                (Best::At(u, i), Best::At(v, j)) => i == j && u == v,
                _ => false,
            };
            // SAFETY: the CPU has AVX-512 (checked above).
            let (lo, hi) = unsafe { (arg_block_avx512::<false>(&x, base, bar), arg_block_avx512::<true>(&x, base, bar)) };
            prop_assert!(same(lo, arg_block_lanes::<f64, false>(&x, base, bar)), "argmin of {:?} bar {:?}", x, bar);
            prop_assert!(same(hi, arg_block_lanes::<f64, true>(&x, base, bar)), "argmax of {:?} bar {:?}", x, bar);
        }

        /// Without NaNs (the test above nearly always has one in a long input), with ties, both
        /// zeros and infinities, at lengths around the four-line groups of the AVX-512 loop.
        #[test]
        fn argmin_and_argmax_give_the_first_extreme_without_nans(
            x in prop::collection::vec(prop_oneof![
                20 => (-8i32..8).prop_map(f64::from),
                2 => Just(-0.0),
                1 => Just(f64::INFINITY),
                1 => Just(f64::NEG_INFINITY),
                4 => -1e3f64..1e3,
            ], 0..9_000),
            cut in 0usize..200,
        ) {
            let x = &x[..x.len().saturating_sub(cut)];
            let ctx = JobCtx::inline();
            let lo = x.iter().copied().fold(f64::INFINITY, |a, b| if b < a { b } else { a });
            let hi = x.iter().copied().fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a });
            let want_min = x.iter().position(|&v| v == lo);
            let want_max = x.iter().position(|&v| v == hi);
            prop_assert_eq!(argmin(&ctx, x).unwrap(), want_min);
            prop_assert_eq!(argmax(&ctx, x).unwrap(), want_max);
            let y: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let lo32 = y.iter().copied().fold(f32::INFINITY, |a, b| if b < a { b } else { a });
            prop_assert_eq!(argmin(&ctx, &y).unwrap(), y.iter().position(|&v| v == lo32));
        }

        #[test]
        fn norm2_is_within_a_few_ulps_of_exact(
            x in prop::collection::vec(prop_oneof![-1e3f64..1e3, -1e-3f64..1e-3, -1e9f64..1e9], 0..9000),
        ) {
            let ctx = JobCtx::inline();
            // The exact sum of the (rounded) squares: the only error left is each square's rounding.
            let squares: Vec<f64> = x.iter().map(|v| v * v).collect();
            let exact = crate::kernels::fsum::fsum(&squares).sqrt();
            let got = norm2(&ctx, &x).unwrap();
            prop_assert!((got - exact).abs() <= 4.0 * f64::EPSILON * exact, "got {got} exact {exact}");
            let state = JobState::new();
            prop_assert_eq!(in_pool(3, || norm2(&JobCtx::for_pool(&state), &x).unwrap()).to_bits(), got.to_bits());
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
