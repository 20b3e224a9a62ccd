//! Machine probes for the benchmarks: memory bandwidth (read-only and triad) and FMA peak. They use
//! the same pool and chunking as the kernels, so "% of bandwidth" compares like with like.

use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::simd_dispatch;

const CHUNK: usize = 1 << 16;

#[inline(always)]
fn read_body(x: &[f64]) -> f64 {
    let mut acc = [0.0f64; 16];
    let mut chunks = x.chunks_exact(16);
    for ch in &mut chunks {
        for j in 0..16 {
            acc[j] += ch[j];
        }
    }
    acc.iter().sum::<f64>() + chunks.remainder().iter().sum::<f64>()
}

/// `stream`: streaming stores, as the element-wise kernels use for outputs this large.
#[inline(always)]
fn triad_body(out: &mut [f64], b: &[f64], c: &[f64], s: f64, stream: bool) {
    if stream {
        return super::stream::fill_streaming::<f64, 8>(
            out,
            |i| {
                let (x, y): (&[f64; 8], &[f64; 8]) = (b[i..i + 8].try_into().unwrap(), c[i..i + 8].try_into().unwrap());
                super::lanes::prefetch(x, super::reduce::PREFETCH);
                super::lanes::prefetch(y, super::reduce::PREFETCH);
                std::array::from_fn(|j| x[j] + s * y[j])
            },
            |at, dst| {
                for ((o, &bv), &cv) in dst.iter_mut().zip(&b[at..]).zip(&c[at..]) {
                    *o = bv + s * cv;
                }
            },
        );
    }
    for ((o, &bv), &cv) in out.iter_mut().zip(b).zip(c) {
        *o = bv + s * cv;
    }
}

simd_dispatch!(fn read_piece(x: &[f64]) -> f64 => read_body);
simd_dispatch!(fn triad_piece(out: &mut [f64], b: &[f64], c: &[f64], s: f64, stream: bool) -> () => triad_body);

/// Reads every element once (a plain, uncompensated 16-lane sum): the read-bandwidth reference.
pub fn read_probe(ctx: &JobCtx, x: &[f64]) -> CoreResult<f64> {
    Ok(ctx.map_chunks(x.len(), CHUNK, |r| read_piece(&x[r]))?.iter().sum())
}

/// STREAM's triad `out = b + s c`: the read-and-write bandwidth reference, with the stores the
/// kernels use for an output of this size (streaming ones past `stream::STREAM_FROM`).
pub fn triad_probe(ctx: &JobCtx, out: &mut [f64], b: &[f64], c: &[f64], s: f64) -> CoreResult<()> {
    let stream = super::stream::streams::<f64>(out.len());
    ctx.for_each_chunk_mut(out, CHUNK, |start, piece| {
        let n = piece.len();
        triad_piece(piece, &b[start..start + n], &c[start..start + n], s, stream)
    })
}

#[inline(always)]
fn fma_body(iters: u64) -> f64 {
    let mut acc = [[1.0f64; 8]; 12];
    for _ in 0..iters {
        for row in acc.iter_mut() {
            for v in row.iter_mut() {
                *v = v.mul_add(0.999_999_9, 1e-9);
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
fn fma_run(iters: u64) -> f64 {
    use crate::simd::{level, SimdLevel};
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn wide(iters: u64) -> f64 {
        fma_body(iters)
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow(iters: u64) -> f64 {
        fma_body(iters)
    }
    let fma = std::arch::is_x86_feature_detected!("fma");
    match level() {
        // SAFETY: the level and the FMA flag were both checked on this CPU.
        SimdLevel::Avx512 if fma => unsafe { wide(iters) },
        SimdLevel::Avx2 if fma => unsafe { narrow(iters) },
        _ => fma_body(iters),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_run(iters: u64) -> f64 {
    fma_body(iters)
}

/// Runs `tasks` independent FMA loops (on the pool when allowed) of `iters` rounds of 96 fused
/// multiply-adds each, and returns the number of floating-point operations done (2 per FMA).
pub fn fma_peak_probe(ctx: &JobCtx, tasks: usize, iters: u64) -> CoreResult<f64> {
    let sink: f64 = ctx.map_chunks(tasks, 1, |_| fma_run(iters))?.iter().sum();
    Ok(if sink.is_nan() { 0.0 } else { tasks as f64 * iters as f64 * 96.0 * 2.0 })
}
