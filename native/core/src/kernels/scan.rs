//! Cumulative sum, deterministic for any thread count.
//!
//! The input is cut into fixed chunks of `CHUNK` elements (whatever the pool size, and also when
//! run inline). Pass 1 computes each chunk's compensated total; the totals are combined in order
//! into each chunk's starting offset; pass 2 rescans each chunk with a running compensated sum
//! (branch-free TwoSum) and writes `offset + running`. The output bits depend only on the input.

use super::reduce::Compensated;
use super::Element;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

const CHUNK: usize = 1 << 16;

#[derive(Clone, Copy, Default)]
struct Running {
    s: f64,
    c: f64,
}

impl Running {
    #[inline(always)]
    fn add(&mut self, v: f64) {
        let t = self.s + v;
        let bp = t - self.s;
        self.c += (self.s - (t - bp)) + (v - bp);
        self.s = t;
    }
}

fn chunk_total<T: Element>(x: &[T]) -> Running {
    let mut r = Running::default();
    for v in x {
        r.add(v.to_f64());
    }
    r
}

/// `out[i] = x[0] + ... + x[i]`, accumulated in f64 with compensation and rounded once to `T`.
/// `x` is `Some` for a separate input and `None` to scan `out` in place.
pub fn cumsum<T: Element>(ctx: &JobCtx, x: Option<&[T]>, out: &mut [T]) -> CoreResult<()> {
    let totals = {
        let src: &[T] = x.unwrap_or(out);
        ctx.map_chunks(src.len(), CHUNK, |r| chunk_total(&src[r]))?
    };
    let mut offsets = Vec::with_capacity(totals.len());
    let mut acc = Compensated::default();
    for t in &totals {
        offsets.push((acc.sum, acc.carry));
        acc.add(t.s);
        acc.add(t.c);
    }
    ctx.for_each_chunk_mut(out, CHUNK, |start, piece| {
        let (base_s, base_c) = offsets[start / CHUNK];
        let mut r = Running::default();
        let n = piece.len();
        let src = x.map(|x| &x[start..start + n]);
        for i in 0..n {
            let v = match src {
                Some(s) => s[i].to_f64(),
                None => piece[i].to_f64(),
            };
            r.add(v);
            let head = base_s + r.s;
            let total = if head.is_finite() { head + (base_c + r.c) } else { head };
            piece[i] = T::from_f64(total);
        }
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::runtime::JobState;

    #[test]
    fn cumsum_is_exact_on_integers_and_same_for_every_pool() {
        let x: Vec<f64> = (0..300_001).map(|i| ((i * 7919) % 1000) as f64 - 500.0).collect();
        let mut want = Vec::with_capacity(x.len());
        let mut s = 0.0;
        for v in &x {
            s += v;
            want.push(s);
        }
        let mut out = vec![0.0; x.len()];
        cumsum(&JobCtx::inline(), Some(&x), &mut out).unwrap();
        assert_eq!(out, want);
        let y: Vec<f64> = (0..300_001).map(|i| (i as f64 * 0.1).sin() * 1e10 + 1e-6).collect();
        let mut inline = vec![0.0; y.len()];
        cumsum(&JobCtx::inline(), Some(&y), &mut inline).unwrap();
        for threads in [1, 2, 3, 8] {
            let state = JobState::new();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut got = y.clone();
            pool.install(|| cumsum(&JobCtx::for_pool(&state), None, &mut got)).unwrap();
            assert!(got.iter().zip(&inline).all(|(a, b)| a.to_bits() == b.to_bits()), "threads={threads}");
        }
        let mut sp = [1.0, f64::INFINITY, 1.0, f64::NEG_INFINITY];
        cumsum(&JobCtx::inline(), None, &mut sp).unwrap();
        assert_eq!(sp[..3], [1.0, f64::INFINITY, f64::INFINITY]);
        assert!(sp[3].is_nan());
    }
}
