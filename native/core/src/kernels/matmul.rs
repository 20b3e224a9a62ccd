//! Row-major matrix products `C = A B` (m x k times k x n) and `y = A x`.
//!
//! Determinism by construction: every output element is one fused multiply-add chain over `k` in
//! index order starting from +0, `c = fma(a[i][p], b[p][j], c)` for p = 0, 1, ..., k-1. Tiling, the
//! thread count and the SIMD width only decide which elements are computed together, never the
//! order of one element's chain, and a fused multiply-add is correctly rounded on every level (the
//! portable build calls the C library's `fma`), so all of them give the same bits.
//!
//! Blocking: B is packed once into panels of NR columns (zero-padded); the rows of C are split
//! into fixed blocks of MC rows that run in parallel; within a block, A is packed KC columns at a
//! time into strips of MR rows and a register-tiled MR x NR microkernel runs over every panel.

use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::simd::{level, SimdLevel};

const KC: usize = 256;
const MC: usize = 48;

/// f32 or f64 with a correctly rounded fused multiply-add.
pub trait Real: Copy + Send + Sync + Default + 'static {
    fn fma(self, b: Self, c: Self) -> Self;
}

impl Real for f64 {
    #[inline(always)]
    fn fma(self, b: f64, c: f64) -> f64 {
        self.mul_add(b, c)
    }
}

impl Real for f32 {
    #[inline(always)]
    fn fma(self, b: f32, c: f32) -> f32 {
        self.mul_add(b, c)
    }
}

/// `c[i][j] = fma(a[p][i], b[p][j], c[i][j])` over p in 0..kc: a is packed `kc x MR`, b `kc x NR`.
#[inline(always)]
fn micro_body<T: Real, const MR: usize, const NR: usize>(kc: usize, a: &[T], b: &[T], c: &mut [[T; NR]; MR]) {
    let mut acc = *c;
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        for i in 0..MR {
            let av = ap[i];
            for j in 0..NR {
                acc[i][j] = av.fma(bp[j], acc[i][j]);
            }
        }
    }
    *c = acc;
}

type Micro<T, const MR: usize, const NR: usize> = fn(usize, &[T], &[T], &mut [[T; NR]; MR]);

macro_rules! micro_for {
    ($name:ident, $t:ty, $mr:expr, $nr:expr, $feat:literal) => {
        /// The microkernel compiled for one level; only handed out by `product` when `level()` allows.
        fn $name(kc: usize, a: &[$t], b: &[$t], c: &mut [[$t; $nr]; $mr]) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = $feat)]
                unsafe fn inner(kc: usize, a: &[$t], b: &[$t], c: &mut [[$t; $nr]; $mr]) {
                    micro_body::<$t, $mr, $nr>(kc, a, b, c)
                }
                // SAFETY: `product` selects this kernel only when `level()` (which checks the CPU,
                // FMA included) allows its features.
                unsafe { inner(kc, a, b, c) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            micro_body::<$t, $mr, $nr>(kc, a, b, c)
        }
    };
}

micro_for!(micro_f64_512, f64, 6, 16, "avx512f,avx2,fma");
micro_for!(micro_f64_256, f64, 4, 8, "avx2,fma");
micro_for!(micro_f32_512, f32, 6, 32, "avx512f,avx2,fma");
micro_for!(micro_f32_256, f32, 4, 16, "avx2,fma");

fn micro_portable<T: Real>(kc: usize, a: &[T], b: &[T], c: &mut [[T; 8]; 4]) {
    micro_body::<T, 4, 8>(kc, a, b, c)
}

/// Whether the CPU has FMA at the level in use (every AVX2 CPU does, but it is a separate flag).
fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn tiled<T: Real, const MR: usize, const NR: usize>(
    ctx: &JobCtx,
    micro: Micro<T, MR, NR>,
    a: &[T],
    b: &[T],
    (m, k, n): (usize, usize, usize),
    out: &mut [T],
) -> CoreResult<()> {
    let panels = n.div_ceil(NR);
    // B packed as [panel][p][NR], zero-padded past column n.
    let mut bp = vec![T::default(); panels * k * NR];
    for (jp, panel) in bp.chunks_mut(k * NR).enumerate() {
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            let src = &b[p * n..(p + 1) * n];
            for (j, v) in row.iter_mut().enumerate() {
                if let Some(x) = src.get(jp * NR + j) {
                    *v = *x;
                }
            }
        }
    }
    ctx.checkpoint()?;
    ctx.for_each_chunk_mut(&mut out[..m * n], MC * n.max(1), |start, cblock| {
        let rows = cblock.len() / n.max(1);
        let row0 = start / n.max(1);
        cblock.fill(T::default());
        let strips = rows.div_ceil(MR);
        let mut ap = vec![T::default(); strips * KC * MR];
        let mut pc = 0;
        while pc < k {
            let kc = KC.min(k - pc);
            // A rows of this block, columns pc..pc+kc, packed as [strip][p][MR], zero-padded.
            for s in 0..strips {
                let strip = &mut ap[s * KC * MR..][..kc * MR];
                for i in 0..MR {
                    let r = s * MR + i;
                    for p in 0..kc {
                        strip[p * MR + i] = if r < rows { a[(row0 + r) * k + pc + p] } else { T::default() };
                    }
                }
            }
            for jp in 0..panels {
                let bpanel = &bp[jp * k * NR + pc * NR..][..kc * NR];
                let cols = NR.min(n - jp * NR);
                for s in 0..strips {
                    let mut tile = [[T::default(); NR]; MR];
                    let valid = MR.min(rows - s * MR);
                    for (i, trow) in tile.iter_mut().enumerate().take(valid) {
                        let at = (s * MR + i) * n + jp * NR;
                        trow[..cols].copy_from_slice(&cblock[at..at + cols]);
                    }
                    micro(kc, &ap[s * KC * MR..][..kc * MR], bpanel, &mut tile);
                    for (i, trow) in tile.iter().enumerate().take(valid) {
                        let at = (s * MR + i) * n + jp * NR;
                        cblock[at..at + cols].copy_from_slice(&trow[..cols]);
                    }
                }
            }
            pc += kc;
        }
    })
}

/// Element types `matmul` accepts, with their microkernels.
pub trait MatElem: Real {
    fn product(ctx: &JobCtx, a: &[Self], b: &[Self], dims: (usize, usize, usize), out: &mut [Self]) -> CoreResult<()>;
}

impl MatElem for f64 {
    fn product(ctx: &JobCtx, a: &[f64], b: &[f64], dims: (usize, usize, usize), out: &mut [f64]) -> CoreResult<()> {
        match (level(), has_fma()) {
            (SimdLevel::Avx512, true) => tiled::<f64, 6, 16>(ctx, micro_f64_512, a, b, dims, out),
            (SimdLevel::Avx2, true) => tiled::<f64, 4, 8>(ctx, micro_f64_256, a, b, dims, out),
            _ => tiled::<f64, 4, 8>(ctx, micro_portable::<f64>, a, b, dims, out),
        }
    }
}

impl MatElem for f32 {
    fn product(ctx: &JobCtx, a: &[f32], b: &[f32], dims: (usize, usize, usize), out: &mut [f32]) -> CoreResult<()> {
        match (level(), has_fma()) {
            (SimdLevel::Avx512, true) => tiled::<f32, 6, 32>(ctx, micro_f32_512, a, b, dims, out),
            (SimdLevel::Avx2, true) => tiled::<f32, 4, 16>(ctx, micro_f32_256, a, b, dims, out),
            _ => tiled::<f32, 4, 8>(ctx, micro_portable::<f32>, a, b, dims, out),
        }
    }
}

/// `out = a b` with `a` m x k, `b` k x n, `out` m x n, all row-major; the caller checks the lengths.
pub fn matmul<T: MatElem>(ctx: &JobCtx, a: &[T], b: &[T], dims: (usize, usize, usize), out: &mut [T]) -> CoreResult<()> {
    let (m, k, n) = dims;
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n, "matmul: shapes checked by the caller");
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        out[..m * n].fill(T::default());
        return Ok(());
    }
    T::product(ctx, a, b, dims, out)
}

/// `out = a x` with `a` m x k row-major: `matmul` with n = 1, the same FMA chain per element.
pub fn matvec<T: MatElem>(ctx: &JobCtx, a: &[T], x: &[T], (m, k): (usize, usize), out: &mut [T]) -> CoreResult<()> {
    assert!(a.len() >= m * k && x.len() >= k && out.len() >= m, "matvec: shapes checked by the caller");
    ctx.for_each_chunk_mut(&mut out[..m], 256, |start, piece| {
        for (i, o) in piece.iter_mut().enumerate() {
            let row = &a[(start + i) * k..][..k];
            *o = row.iter().zip(x).fold(T::default(), |c, (&av, &xv)| av.fma(xv, c));
        }
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::runtime::JobState;

    #[test]
    fn matmul_is_the_plain_fma_chain_for_every_shape_and_pool() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 300, 33), (64, 513, 70), (100, 1, 100), (5, 0, 4)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 53 % 97) as f64 - 48.0) / 3.0).collect();
            let mut want = vec![0.0; m * n];
            for i in 0..m {
                for j in 0..n {
                    want[i * n + j] = (0..k).fold(0.0f64, |c, p| a[i * k + p].mul_add(b[p * n + j], c));
                }
            }
            for threads in [1, 2, 3] {
                let state = JobState::new();
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut out = vec![f64::NAN; m * n];
                pool.install(|| matmul(&JobCtx::for_pool(&state), &a, &b, (m, k, n), &mut out)).unwrap();
                assert!(out.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n} t={threads}");
            }
            if n == 1 || m == 3 {
                let x: Vec<f64> = b.iter().take(k).copied().collect();
                let mut y = vec![0.0; m];
                matvec(&JobCtx::inline(), &a, &x, (m, k), &mut y).unwrap();
                for i in 0..m {
                    let w = (0..k).fold(0.0f64, |c, p| a[i * k + p].mul_add(x[p], c));
                    assert_eq!(y[i].to_bits(), w.to_bits());
                }
            }
        }
        let a: Vec<f32> = (0..40 * 50).map(|i| (i % 13) as f32 - 6.0).collect();
        let mut out = vec![0f32; 40 * 40];
        matmul(&JobCtx::inline(), &a, &a[..50 * 40], (40, 50, 40), &mut out).unwrap();
        let w = (0..50).fold(0f32, |c, p| a[p].mul_add(a[p * 40], c));
        assert_eq!(out[0], w);
    }
}
