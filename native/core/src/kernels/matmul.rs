//! Row-major matrix products `C = A B` (m x k times k x n) and `y = A x`.
//!
//! Determinism by construction: every output element is one fused multiply-add chain over `k` in
//! index order starting from +0, `c = fma(a[i][p], b[p][j], c)` for p = 0, 1, ..., k-1. Tiling, the
//! thread count and the SIMD width only decide which elements are computed together, never the
//! order of one element's chain, and a fused multiply-add is correctly rounded on every level (the
//! portable build calls the C library's `fma`), so all of them give the same bits.
//!
//! Blocking (BLIS-style, transposed for row-major C): B is packed once, in parallel, into panels of
//! NR columns (zero-padded, 64-byte aligned). The rows of C are split into a few blocks of up to
//! `MC_MAX` rows that run in parallel. A block packs all of its rows of A once, as KC-deep slices
//! of MR-row strips, then walks its columns in blocks of panels whose C fits in L2, kept tile by
//! tile in a contiguous buffer. For each KC slice an MR x NR register-tiled microkernel runs over
//! every (panel, strip) pair, panel outer, so one KC x NR micro-panel of B stays in L1 while the
//! strips of A stream past it from L2. A tile's accumulators live in registers for one KC slice and
//! are stored between slices (an exact round trip), so each element's chain stays unbroken.

use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::simd::{level, SimdLevel};
use std::cell::RefCell;
use std::thread::LocalKey;

/// Depth of one packed slice: a KC x 24 f64 micro-panel of B is 24 KiB, half of a 48 KiB L1.
const KC: usize = 128;
/// Most rows per parallel block: its packed A slice (256 x KC f64, 256 KiB) stays in L2, and the
/// whole of packed B is read once per block, so larger blocks mean less B traffic.
const MC_MAX: usize = 256;
/// Bytes of C one block keeps in L2 (a quarter of a 2 MiB L2): the panels of a column block are
/// sized so that C is read from L2, not from L3, on every KC slice after the first.
const C_BLOCK_BYTES: usize = 512 << 10;
/// Largest packing buffer a thread keeps between calls (that of B for a 1024 x 1024 f64 product is
/// 8.4 MB); larger ones are allocated per call, where the page faults matter less.
const KEEP_BYTES: usize = 16 << 20;
/// Packed buffers start on a cache line so no vector load of a B row is split across two lines.
const ALIGN: usize = 64;

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

/// The three packing buffers a thread may hold at once: B (the calling thread), A and C (a block).
#[derive(Clone, Copy)]
enum Slot {
    B,
    A,
    C,
}

/// Element types with packing buffers kept per thread (see `with_scratch`).
trait Kept: Real {
    fn kept() -> &'static LocalKey<[RefCell<Vec<Self>>; 3]>;
}

macro_rules! kept_for {
    ($t:ty) => {
        impl Kept for $t {
            fn kept() -> &'static LocalKey<[RefCell<Vec<$t>>; 3]> {
                thread_local!(static KEPT: [RefCell<Vec<$t>>; 3] = const { [const { RefCell::new(Vec::new()) }; 3] });
                &KEPT
            }
        }
    };
}

kept_for!(f64);
kept_for!(f32);

/// Runs `f` on `len` elements starting on an `ALIGN`-byte boundary, with unspecified contents (the
/// caller writes every element it reads). The memory is kept per thread between calls, up to
/// `KEEP_BYTES` per slot, so a product does not page-fault megabytes of fresh memory in every
/// time; a slot already in use (a nested product on this thread) or a larger request allocates.
fn with_scratch<T: Kept, R>(slot: Slot, len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let pad = ALIGN / std::mem::size_of::<T>();
    let kept = (len + pad) * std::mem::size_of::<T>() <= KEEP_BYTES;
    T::kept().with(|cells| match cells[slot as usize].try_borrow_mut() {
        Ok(mut buf) if kept => {
            if buf.len() < len + pad {
                *buf = vec![T::default(); len + pad];
            }
            f(aligned(&mut buf, len))
        }
        _ => f(aligned(&mut vec![T::default(); len + pad], len)),
    })
}

/// The `len` elements of `buf` (which has `ALIGN` bytes to spare) that start on an `ALIGN` boundary.
fn aligned<T>(buf: &mut [T], len: usize) -> &mut [T] {
    let off = buf.as_ptr().align_offset(ALIGN).min(ALIGN / std::mem::size_of::<T>());
    &mut buf[off..][..len]
}

/// A microkernel: `c[i*NR + j] = fma(a[p*MR + i], b[p*NR + j], c[i*NR + j])` over p in 0..kc for
/// the row-major MR x NR tile `c`; a is packed `kc x MR`, b `kc x NR`. With `first` the
/// chains start from +0 instead of reading c (the first KC slice: no zero fill, no extra C read).
type Micro<T> = fn(usize, &[T], &[T], &mut [T], bool);

/// Panics unless the slices hold a whole tile: what makes the unchecked loads of the SIMD kernels sound.
#[inline(always)]
fn check_tile<T>(kc: usize, a: &[T], b: &[T], c: &[T], mr: usize, nr: usize) {
    assert!(a.len() >= kc * mr && b.len() >= kc * nr && c.len() >= mr * nr);
}

/// The portable microkernel body (also the f32 kernels, which LLVM vectorizes well enough).
#[inline(always)]
fn micro_body<T: Real, const MR: usize, const NR: usize>(kc: usize, a: &[T], b: &[T], c: &mut [T], first: bool) {
    check_tile(kc, a, b, c, MR, NR);
    let mut acc = [[T::default(); NR]; MR];
    if !first {
        for (i, row) in acc.iter_mut().enumerate() {
            row.copy_from_slice(&c[i * NR..][..NR]);
        }
    }
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        for i in 0..MR {
            let av = ap[i];
            for j in 0..NR {
                acc[i][j] = av.fma(bp[j], acc[i][j]);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        c[i * NR..][..NR].copy_from_slice(row);
    }
}

macro_rules! micro_for {
    ($name:ident, $t:ty, $mr:expr, $nr:expr, $feat:literal) => {
        /// The generic microkernel compiled for one level; only handed out by `product` when `level()` allows.
        fn $name(kc: usize, a: &[$t], b: &[$t], c: &mut [$t], first: bool) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = $feat)]
                fn inner(kc: usize, a: &[$t], b: &[$t], c: &mut [$t], first: bool) {
                    micro_body::<$t, $mr, $nr>(kc, a, b, c, first)
                }
                // SAFETY: `product` selects this kernel only when `level()` (which checks the CPU,
                // FMA included) allows its features.
                unsafe { inner(kc, a, b, c, first) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            micro_body::<$t, $mr, $nr>(kc, a, b, c, first)
        }
    };
}

micro_for!(micro_f32_512, f32, 6, 32, "avx512f,avx2,fma");
micro_for!(micro_f32_256, f32, 4, 16, "avx2,fma");

fn micro_portable<T: Real>(kc: usize, a: &[T], b: &[T], c: &mut [T], first: bool) {
    micro_body::<T, 4, 8>(kc, a, b, c, first)
}

/// Hand-written f64 microkernels. LLVM spills or reorders the generic body's accumulators at these
/// tile sizes; explicit registers give one load of B per vector and a broadcast operand per row.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::check_tile;
    use core::arch::x86_64::*;

    /// AVX-512 tile: 8 rows x 24 columns = 24 zmm accumulators, 3 for the B row and 1-2 for the
    /// broadcast A value (of 32 registers). 24 independent chains hide the 4-cycle FMA latency on
    /// two ports, and each step needs only 3 vector loads and 8 broadcasts for 24 FMAs.
    pub const MR512: usize = 8;
    pub const NR512: usize = 24;

    #[target_feature(enable = "avx512f,fma")]
    fn f64_8x24(kc: usize, a: &[f64], b: &[f64], c: &mut [f64], first: bool) {
        check_tile(kc, a, b, c, MR512, NR512);
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        // SAFETY: `check_tile` proved every offset below in bounds: C rows i < 8 at i * 24 with
        // 24 columns, A at p * 8 + i and B at p * 24 + j for p < kc.
        unsafe {
            let mut acc = [[_mm512_setzero_pd(); 3]; MR512];
            if !first {
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, r) in row.iter_mut().enumerate() {
                        *r = _mm512_loadu_pd(c.add(i * NR512 + 8 * v));
                    }
                }
            }
            for p in 0..kc {
                let bp = b.add(p * NR512);
                let bv = [_mm512_loadu_pd(bp), _mm512_loadu_pd(bp.add(8)), _mm512_loadu_pd(bp.add(16))];
                let ap = a.add(p * MR512);
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_pd(*ap.add(i));
                    for (r, &bj) in row.iter_mut().zip(&bv) {
                        *r = _mm512_fmadd_pd(av, bj, *r);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (v, r) in row.iter().enumerate() {
                    _mm512_storeu_pd(c.add(i * NR512 + 8 * v), *r);
                }
            }
        }
    }

    /// AVX2 tile: 4 rows x 12 columns = 12 ymm accumulators, 3 for the B row, 1 for the broadcast.
    pub const MR256: usize = 4;
    pub const NR256: usize = 12;

    #[target_feature(enable = "avx2,fma")]
    fn f64_4x12(kc: usize, a: &[f64], b: &[f64], c: &mut [f64], first: bool) {
        check_tile(kc, a, b, c, MR256, NR256);
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        // SAFETY: `check_tile` proved every offset below in bounds, as in `f64_8x24`.
        unsafe {
            let mut acc = [[_mm256_setzero_pd(); 3]; MR256];
            if !first {
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, r) in row.iter_mut().enumerate() {
                        *r = _mm256_loadu_pd(c.add(i * NR256 + 4 * v));
                    }
                }
            }
            for p in 0..kc {
                let bp = b.add(p * NR256);
                let bv = [_mm256_loadu_pd(bp), _mm256_loadu_pd(bp.add(4)), _mm256_loadu_pd(bp.add(8))];
                let ap = a.add(p * MR256);
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_sd(&*ap.add(i));
                    for (r, &bj) in row.iter_mut().zip(&bv) {
                        *r = _mm256_fmadd_pd(av, bj, *r);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (v, r) in row.iter().enumerate() {
                    _mm256_storeu_pd(c.add(i * NR256 + 4 * v), *r);
                }
            }
        }
    }

    /// Only handed out by `product` when `level()` is AVX-512 and the CPU has FMA.
    pub fn micro_f64_512(kc: usize, a: &[f64], b: &[f64], c: &mut [f64], first: bool) {
        // SAFETY: the caller checked avx512f and fma on this CPU.
        unsafe { f64_8x24(kc, a, b, c, first) }
    }

    /// Only handed out by `product` when `level()` is at least AVX2 and the CPU has FMA.
    pub fn micro_f64_256(kc: usize, a: &[f64], b: &[f64], c: &mut [f64], first: bool) {
        // SAFETY: the caller checked avx2 and fma on this CPU.
        unsafe { f64_4x12(kc, a, b, c, first) }
    }
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

/// Rows per parallel block: at most `MC_MAX`, a multiple of MR, and (on a pool) a block count that
/// is a multiple of the thread count, at least two per thread, so no thread idles at the end and a
/// thread slowed by other load can hand a block over. Only the grouping of rows depends on it,
/// never an element's FMA chain.
fn block_rows(ctx: &JobCtx, m: usize, mr: usize) -> usize {
    let threads = if ctx.is_parallel() { rayon::current_num_threads().max(1) } else { 1 };
    let blocks = m.div_ceil(MC_MAX).max(2 * threads).div_ceil(threads) * threads;
    m.div_ceil(blocks).div_ceil(mr).max(1) * mr
}

fn tiled<T: Kept, const MR: usize, const NR: usize>(
    ctx: &JobCtx,
    micro: Micro<T>,
    a: &[T],
    b: &[T],
    (m, k, n): (usize, usize, usize),
    out: &mut [T],
) -> CoreResult<()> {
    let panels = n.div_ceil(NR);
    // B packed as [KC slice][panel][p][NR], zero-padded past column n: each slice is one parallel
    // piece that reads its KC rows of B front to back, and a slice's panels are contiguous.
    let slice_b = KC * panels * NR;
    let mc = block_rows(ctx, m, MR);
    let slices = k.div_ceil(KC);
    // Panels per column block: the block's MC x NC tile of C stays in L2 across all KC slices.
    let nc_panels = (C_BLOCK_BYTES / (MC_MAX * NR * std::mem::size_of::<T>())).max(1);
    with_scratch(Slot::B, panels * k * NR, |bp: &mut [T]| {
        ctx.for_each_chunk_mut(bp, slice_b, |start, slice| {
            let pc = start / slice_b * KC;
            let kc = slice.len() / (panels * NR);
            for (p, src) in b[pc * n..(pc + kc) * n].chunks_exact(n).enumerate() {
                for (jp, part) in src.chunks(NR).enumerate() {
                    let dst = &mut slice[(jp * kc + p) * NR..][..NR];
                    dst[..part.len()].copy_from_slice(part);
                    dst[part.len()..].fill(T::default());
                }
            }
        })?;
        let bp = &*bp;
        ctx.for_each_chunk_mut(&mut out[..m * n], mc * n, |start, cblock| {
            let rows = cblock.len() / n;
            let strips = rows.div_ceil(MR);
            let slice_len = strips * KC * MR;
            with_scratch(Slot::A, slices * slice_len, |ap: &mut [T]| {
                pack_a::<T, MR>(&a[start / n * k..][..rows * k], k, ap, slice_len);
                let ap = &*ap;
                let ncp = nc_panels.min(panels);
                with_scratch(Slot::C, ncp * strips * MR * NR, |ct: &mut [T]| {
                    for jc in (0..panels).step_by(ncp) {
                        let jend = panels.min(jc + ncp);
                        for q in 0..slices {
                            // A cancel stops the block here; `tiled` reports it after the loop.
                            if ctx.checkpoint().is_err() {
                                return;
                            }
                            let pc = q * KC;
                            let kc = KC.min(k - pc);
                            for jp in jc..jend {
                                let bpanel = &bp[q * slice_b + jp * kc * NR..][..kc * NR];
                                for s in 0..strips {
                                    let astrip = &ap[q * slice_len + s * KC * MR..][..kc * MR];
                                    let c = &mut ct[((jp - jc) * strips + s) * MR * NR..][..MR * NR];
                                    micro(kc, astrip, bpanel, c, q == 0);
                                }
                            }
                        }
                        // Back into C row by row, so the writes to C run front to back.
                        for (r, crow) in cblock.chunks_exact_mut(n).enumerate() {
                            let (s, i) = (r / MR, r % MR);
                            for jp in jc..jend {
                                let dst = &mut crow[jp * NR..n.min(jp * NR + NR)];
                                let at = ((jp - jc) * strips + s) * MR * NR + i * NR;
                                dst.copy_from_slice(&ct[at..][..dst.len()]);
                            }
                        }
                    }
                })
            })
        })?;
        ctx.checkpoint()
    })
}

/// Packs the rows `a` (row length k) as [KC slice][MR-row strip][p][MR], `slice_len` elements per
/// slice, zero-padding the rows of the last strip past the end of `a`.
fn pack_a<T: Real, const MR: usize>(a: &[T], k: usize, ap: &mut [T], slice_len: usize) {
    for (q, slice) in ap.chunks_exact_mut(slice_len).enumerate() {
        let pc = q * KC;
        let kc = KC.min(k - pc);
        for (s, strip) in slice.chunks_exact_mut(KC * MR).enumerate() {
            for i in 0..MR {
                let r = s * MR + i;
                if r * k < a.len() {
                    for (p, &v) in a[r * k + pc..][..kc].iter().enumerate() {
                        strip[p * MR + i] = v;
                    }
                } else {
                    (0..kc).for_each(|p| strip[p * MR + i] = T::default());
                }
            }
        }
    }
}

/// Element types `matmul` accepts, with their microkernels.
pub trait MatElem: Real {
    fn product(ctx: &JobCtx, a: &[Self], b: &[Self], dims: (usize, usize, usize), out: &mut [Self]) -> CoreResult<()>;
}

impl MatElem for f64 {
    fn product(ctx: &JobCtx, a: &[f64], b: &[f64], dims: (usize, usize, usize), out: &mut [f64]) -> CoreResult<()> {
        #[cfg(target_arch = "x86_64")]
        {
            use x86::*;
            match (level(), has_fma()) {
                (SimdLevel::Avx512, true) => return tiled::<f64, MR512, NR512>(ctx, micro_f64_512, a, b, dims, out),
                (SimdLevel::Avx2, true) => return tiled::<f64, MR256, NR256>(ctx, micro_f64_256, a, b, dims, out),
                _ => {}
            }
        }
        tiled::<f64, 4, 8>(ctx, micro_portable::<f64>, a, b, dims, out)
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
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 300, 33), (64, 513, 70), (100, 1, 100), (5, 0, 4), (300, 130, 23), (41, 257, 530)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 53 % 97) as f64 - 48.0) / 3.0).collect();
            let mut want = vec![0.0; m * n];
            for i in 0..m {
                for j in 0..n {
                    want[i * n + j] = (0..k).fold(0.0f64, |c, p| a[i * k + p].mul_add(b[p * n + j], c));
                }
            }
            for threads in [1, 2, 3, 4, 8] {
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

    /// Every f64 kernel the CPU can run (whatever `level()` picked) against the plain chain.
    #[test]
    fn every_f64_kernel_gives_the_same_bits() {
        let (m, k, n) = (45, 300, 61);
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 29 % 89) as f64 - 44.0) / 9.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 31 % 83) as f64 - 41.0) / 5.0).collect();
        let want: Vec<u64> = (0..m * n)
            .map(|e| (0..k).fold(0.0f64, |c, p| a[e / n * k + p].mul_add(b[p * n + e % n], c)).to_bits())
            .collect();
        let bits = |out: &[f64]| out.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let ctx = JobCtx::inline();
        let mut out = vec![f64::NAN; m * n];
        tiled::<f64, 4, 8>(&ctx, micro_portable::<f64>, &a, &b, (m, k, n), &mut out).unwrap();
        assert_eq!(bits(&out), want, "portable");
        #[cfg(target_arch = "x86_64")]
        {
            use x86::*;
            if has_fma() && std::arch::is_x86_feature_detected!("avx2") {
                out.fill(f64::NAN);
                tiled::<f64, MR256, NR256>(&ctx, micro_f64_256, &a, &b, (m, k, n), &mut out).unwrap();
                assert_eq!(bits(&out), want, "avx2");
            }
            if has_fma() && std::arch::is_x86_feature_detected!("avx512f") {
                out.fill(f64::NAN);
                tiled::<f64, MR512, NR512>(&ctx, micro_f64_512, &a, &b, (m, k, n), &mut out).unwrap();
                assert_eq!(bits(&out), want, "avx512");
            }
        }
    }
}
