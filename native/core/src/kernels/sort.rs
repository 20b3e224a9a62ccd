//! Order statistics: sort, argsort, quantile, histogram.
//!
//! Sorting is a least-significant-digit radix sort (8-bit digits: 256 buckets keep the scatter inside the TLB) on an order-preserving map of
//! each value's bits to an unsigned key: for floats, negative values have all bits flipped and the
//! rest only the sign bit, so -0 sorts just before +0 and -inf first. NaNs (of any sign or payload)
//! are taken out first and appended in their original order, which is exactly where
//! `TypedArray.prototype.sort` puts them. Each pass counts digits per piece of the input in
//! parallel, turns the counts into write offsets in a fixed order, and scatters in parallel. LSD
//! radix sort is stable, so the result (and argsort's order among equal keys) is unique: the
//! thread count cannot change it.

use super::Element;
use crate::error::{CoreError, CoreResult};
use crate::runtime::JobCtx;

const DIGIT_BITS: u32 = 8;
const BUCKETS: usize = 1 << DIGIT_BITS;

/// Element types with an order-preserving unsigned key.
pub trait SortKey: Element {
    const KEY_BITS: u32;
    fn is_nan(self) -> bool;
    fn key(self) -> u64;
    fn from_key(k: u64) -> Self;
}

impl SortKey for f64 {
    const KEY_BITS: u32 = 64;
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    fn key(self) -> u64 {
        let b = self.to_bits();
        if b >> 63 == 1 {
            !b
        } else {
            b | (1 << 63)
        }
    }
    #[inline(always)]
    fn from_key(k: u64) -> Self {
        f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
    }
}

impl SortKey for f32 {
    const KEY_BITS: u32 = 32;
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    fn key(self) -> u64 {
        let b = self.to_bits();
        (if b >> 31 == 1 { !b } else { b | (1 << 31) }) as u64
    }
    #[inline(always)]
    fn from_key(k: u64) -> Self {
        let k = k as u32;
        f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
    }
}

impl SortKey for i32 {
    const KEY_BITS: u32 = 32;
    #[inline(always)]
    fn is_nan(self) -> bool {
        false
    }
    #[inline(always)]
    fn key(self) -> u64 {
        (self as u32 ^ (1 << 31)) as u64
    }
    #[inline(always)]
    fn from_key(k: u64) -> Self {
        (k as u32 ^ (1 << 31)) as i32
    }
}

/// A destination that parallel tasks write at disjoint, precomputed positions.
struct Scatter<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tasks only write through `put`, at positions that the offset computation gives to exactly
// one task each; the buffer outlives the parallel section that uses it.
unsafe impl<T: Send> Sync for Scatter<T> {}

impl<T: Copy> Scatter<T> {
    fn new(buf: &mut [T]) -> Self {
        Scatter { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// SAFETY: `i < len` (asserted) and no other task writes position `i` during this pass.
    #[inline(always)]
    unsafe fn put(&self, i: usize, v: T) {
        debug_assert!(i < self.len);
        unsafe { self.ptr.add(i).write(v) }
    }
}

/// Sorts `keys` (and `idx` alongside, when given) by LSD radix over the low `bits` bits.
fn radix_sort(ctx: &JobCtx, keys: &mut Vec<u64>, mut idx: Option<&mut Vec<u32>>, bits: u32) -> CoreResult<()> {
    let n = keys.len();
    if n < 2 {
        return Ok(());
    }
    let tasks = if ctx.is_parallel() { rayon::current_num_threads().max(1) } else { 1 };
    let piece = n.div_ceil(tasks).max(1 << 14);
    let mut kbuf = vec![0u64; n];
    let mut ibuf = if idx.is_some() { vec![0u32; n] } else { Vec::new() };
    let mut shift = 0;
    while shift < bits {
        ctx.checkpoint()?;
        let digit = |k: u64| ((k >> shift) as usize) & (BUCKETS - 1);
        let src: &[u64] = keys;
        let counts = ctx.map_chunks(n, piece, |r| {
            let mut c = vec![0usize; BUCKETS];
            for &k in &src[r] {
                c[digit(k)] += 1;
            }
            c
        })?;
        let trivial = (0..BUCKETS).any(|d| counts.iter().map(|c| c[d]).sum::<usize>() == n);
        if !trivial {
            let mut offsets = vec![vec![0usize; BUCKETS]; counts.len()];
            let mut at = 0;
            for d in 0..BUCKETS {
                for (p, c) in counts.iter().enumerate() {
                    offsets[p][d] = at;
                    at += c[d];
                }
            }
            let kdst = Scatter::new(&mut kbuf);
            let idst = Scatter::new(&mut ibuf);
            let isrc: Option<&[u32]> = idx.as_deref().map(|v| v.as_slice());
            ctx.map_chunks(n, piece, |r| {
                let mut off = offsets[r.start / piece].clone();
                for i in r {
                    let k = src[i];
                    let d = digit(k);
                    // SAFETY: `off[d]` walks this piece's own range of bucket d's positions.
                    unsafe { kdst.put(off[d], k) };
                    if let Some(s) = isrc {
                        // SAFETY: the same position, in the index buffer of the same length.
                        unsafe { idst.put(off[d], s[i]) };
                    }
                    off[d] += 1;
                }
            })?;
            std::mem::swap(keys, &mut kbuf);
            if let Some(ix) = idx.as_deref_mut() {
                std::mem::swap(ix, &mut ibuf);
            }
        }
        shift += DIGIT_BITS;
    }
    Ok(())
}

/// Sorted copy of `x` into `out` (same length; `out` may hold `x` itself for an in-place sort):
/// ascending, -0 before +0, NaNs last. Bit for bit `TypedArray.prototype.sort`.
pub fn sort<T: SortKey>(ctx: &JobCtx, x: Option<&[T]>, out: &mut [T]) -> CoreResult<()> {
    let (mut keys, nans) = {
        let src: &[T] = x.unwrap_or(out);
        let mut nans = Vec::new();
        let mut keys = Vec::with_capacity(src.len());
        for &v in src {
            if v.is_nan() {
                nans.push(v);
            } else {
                keys.push(v.key());
            }
        }
        (keys, nans)
    };
    radix_sort(ctx, &mut keys, None, T::KEY_BITS)?;
    let n = keys.len();
    ctx.for_each_chunk_mut(&mut out[..n], 1 << 16, |start, piece| {
        for (o, &k) in piece.iter_mut().zip(&keys[start..]) {
            *o = T::from_key(k);
        }
    })?;
    out[n..].copy_from_slice(&nans);
    Ok(())
}

/// Indices that sort `x` stably (NaNs last, in order). Fails for inputs of 2^32 elements or more.
pub fn argsort<T: SortKey>(ctx: &JobCtx, x: &[T]) -> CoreResult<Vec<u32>> {
    if x.len() > u32::MAX as usize {
        return Err(CoreError::invalid_arg("argsort: at most 2^32 - 1 elements"));
    }
    let mut keys = Vec::with_capacity(x.len());
    let mut idx = Vec::with_capacity(x.len());
    let mut nan_idx = Vec::new();
    for (i, v) in x.iter().enumerate() {
        if v.is_nan() {
            nan_idx.push(i as u32);
        } else {
            keys.push(v.key());
            idx.push(i as u32);
        }
    }
    radix_sort(ctx, &mut keys, Some(&mut idx), T::KEY_BITS)?;
    idx.extend_from_slice(&nan_idx);
    Ok(idx)
}

/// numpy's default ("linear") quantiles of `x` at each of `qs` (each in [0, 1], checked here).
/// Any NaN in `x` makes every quantile NaN; an empty `x` fails.
pub fn quantile<T: SortKey>(ctx: &JobCtx, x: &[T], qs: &[f64]) -> CoreResult<Vec<f64>> {
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(CoreError::invalid_arg(format!("quantile: every q must be in [0, 1], got {q}")));
    }
    if x.is_empty() {
        return Err(CoreError::invalid_arg("quantile: x is empty"));
    }
    let mut sorted = vec![x[0]; x.len()];
    sort(ctx, Some(x), &mut sorted)?;
    if sorted[x.len() - 1].is_nan() {
        return Ok(vec![f64::NAN; qs.len()]);
    }
    let last = (x.len() - 1) as f64;
    Ok(qs
        .iter()
        .map(|&q| {
            let pos = q * last;
            let lo = pos.floor();
            let t = pos - lo;
            let a = sorted[lo as usize].to_f64();
            let b = sorted[(lo as usize + 1).min(x.len() - 1)].to_f64();
            let diff = b - a;
            // numpy's _lerp: from the nearer end, so q = 1 gives exactly the maximum.
            if t >= 0.5 {
                b - diff * (1.0 - t)
            } else {
                a + diff * t
            }
        })
        .collect())
}

/// Counts of `x` in `bins` equal-width bins over `[lo, hi]` (the last bin closed), and the
/// `bins + 1` edges, as numpy's `histogram`. Values outside the range and NaNs are not counted.
/// The caller checks `bins >= 1` and finite `lo < hi`.
pub fn histogram<T: Element>(ctx: &JobCtx, x: &[T], bins: usize, lo: f64, hi: f64) -> CoreResult<(Vec<f64>, Vec<f64>)> {
    let edges: Vec<f64> = (0..=bins)
        .map(|i| if i == bins { hi } else { i as f64 * ((hi - lo) / bins as f64) + lo })
        .collect();
    let norm = bins as f64 / (hi - lo);
    let parts = ctx.map_chunks(x.len(), 1 << 16, |r| {
        let mut c = vec![0u64; bins];
        for v in &x[r] {
            let v = v.to_f64();
            if !(v >= lo && v <= hi) {
                continue;
            }
            let mut b = (((v - lo) * norm) as usize).min(bins - 1);
            // The multiplication can land one bin off an edge; the edges decide.
            if v < edges[b] {
                b -= 1;
            } else if b + 1 < bins && v >= edges[b + 1] {
                b += 1;
            }
            c[b] += 1;
        }
        c
    })?;
    let mut counts = vec![0u64; bins];
    for p in parts {
        for (a, b) in counts.iter_mut().zip(p) {
            *a += b;
        }
    }
    Ok((counts.into_iter().map(|c| c as f64).collect(), edges))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::runtime::JobState;

    fn js_order(a: &f64, b: &f64) -> std::cmp::Ordering {
        // TypedArray.prototype.sort: NaN last, -0 before +0.
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.total_cmp(b),
        }
    }

    #[test]
    fn sort_matches_reference_on_special_values_for_every_pool() {
        let mut x: Vec<f64> = (0..200_000u64)
            .map(|i| {
                let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
                match h % 17 {
                    0 => f64::NAN,
                    1 => -0.0,
                    2 => 0.0,
                    3 => f64::INFINITY,
                    4 => f64::NEG_INFINITY,
                    5 => -f64::NAN,
                    _ => (h as f64 - 4.5e15) * 1e-3,
                }
            })
            .collect();
        x[7] = f64::MIN_POSITIVE / 4.0;
        let mut want = x.clone();
        want.sort_by(js_order);
        let mut got = vec![0.0; x.len()];
        sort(&JobCtx::inline(), Some(&x), &mut got).unwrap();
        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())));
        for threads in [2, 3, 8] {
            let state = JobState::new();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut inplace = x.clone();
            pool.install(|| sort(&JobCtx::for_pool(&state), None, &mut inplace)).unwrap();
            assert!(inplace.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()));
            let idx = pool.install(|| argsort(&JobCtx::for_pool(&state), &x)).unwrap();
            let mut stable: Vec<u32> = (0..x.len() as u32).collect();
            stable.sort_by(|&a, &b| js_order(&x[a as usize], &x[b as usize]));
            assert_eq!(idx, stable);
        }
        let mut ints: Vec<i32> = (0..5000).map(|i| (i * 7919 % 10007) - 5000).collect();
        let mut want = ints.clone();
        want.sort();
        sort(&JobCtx::inline(), None, &mut ints).unwrap();
        assert_eq!(ints, want);
        let f: Vec<f32> = (0..5000).map(|i| ((i * 31 % 997) as f32 - 500.0) / 7.0).collect();
        let mut fo = vec![0f32; f.len()];
        sort(&JobCtx::inline(), Some(&f), &mut fo).unwrap();
        assert!(fo.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn quantile_and_histogram_follow_numpy() {
        let ctx = JobCtx::inline();
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        // numpy.quantile(x, [0, 0.25, 0.5, 0.9, 1]) = [1, 1.75, 3.5, 6.9, 9]
        let q = quantile(&ctx, &x, &[0.0, 0.25, 0.5, 0.9, 1.0]).unwrap();
        assert_eq!(q[..3], [1.0, 1.75, 3.5]);
        assert!((q[3] - 6.9).abs() < 1e-12 && q[4] == 9.0);
        assert!(quantile(&ctx, &[1.0, f64::NAN], &[0.5]).unwrap()[0].is_nan());
        assert!(quantile(&ctx, &x, &[1.5]).is_err());
        // numpy.histogram([0, 1, 1, 2, 3, 3, 3, 4], bins=4, range=(0, 4)) = [1, 2, 1, 4]
        let (c, e) = histogram(&ctx, &[0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0, f64::NAN, 5.0], 4, 0.0, 4.0).unwrap();
        assert_eq!(c, [1.0, 2.0, 1.0, 4.0]);
        assert_eq!(e, [0.0, 1.0, 2.0, 3.0, 4.0]);
    }
}
