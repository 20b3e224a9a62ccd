//! Large outputs written with non-temporal (streaming) stores.
//!
//! A plain store to a line that is not in cache first reads the line from memory (a read for
//! ownership), so a kernel writing `out` moves each output byte twice. Streaming stores write whole
//! lines straight to memory. Measured on 32 Mi doubles over 2 threads (bytes counted once, GB/s,
//! best of 7, three rounds, Rust harness): the triad probe 23.8-27.2 with plain stores, 31.0-38.8
//! streaming; `scale` 19.2-23.2 plain, 30.8-36.7 streaming; `add` 31.4-34.5 streaming. Outputs
//! that fit in cache are better written plainly (the caller usually reads them next), so only
//! outputs of `STREAM_FROM` bytes or more stream.
//!
//! The kernel computes one 64-byte line of the output at a time (a small array the compiler
//! keeps in vector registers) and that line is stored with streaming stores; the unaligned
//! elements at the ends are computed and stored plainly. The loops prefetch their inputs ahead
//! (without it the streaming triad stayed at the plain one's 26-28 GB/s). Computing a span into
//! an L1 buffer and copying it out with streaming stores measured no faster than plain stores
//! (24-27 GB/s), and neither did three designs for `cumsum` (its stages copied out streaming,
//! 14-15 GB/s; one pass that scans each chunk and takes its total together, then adds the offset
//! from L2, 15.7-15.9; that pass into an L2 scratch buffer streamed out, 11-13; plain: 14-17).
//! `cumsum` streams instead from its AVX-512 scan registers: the groups stay where they are and
//! each line is the end of one group and the start of the next (`scan.rs`): 15.4-16.4 -> 20.1-21.4
//! GB/s, three interleaved rounds, 32 Mi doubles, 2 threads.

/// Outputs of this many bytes or more are written with streaming stores: four times the L2 of
/// this machine's two cores together, so such an output would not stay in cache anyway.
pub(crate) const STREAM_FROM: usize = 8 << 20;

/// Whether an output of `len` elements of `T` is written with streaming stores.
#[inline]
pub(crate) fn streams<T>(len: usize) -> bool {
    cfg!(target_arch = "x86_64") && len.saturating_mul(std::mem::size_of::<T>()) >= STREAM_FROM
}

/// Fills `out`: `line(i)` returns `out[i..i + L]` for each 64-byte aligned line of `out` (so
/// `L * size_of::<T>()` must be 64), stored with streaming stores; `plain(start, dst)` computes
/// and stores the elements before the first line and after the last.
#[inline(always)]
pub(crate) fn fill_streaming<T: Copy, const L: usize>(
    out: &mut [T],
    mut line: impl FnMut(usize) -> [T; L],
    mut plain: impl FnMut(usize, &mut [T]),
) {
    assert_eq!(L * std::mem::size_of::<T>(), 64, "a line is 64 bytes");
    let head = out.as_ptr().cast::<u8>().align_offset(64) / std::mem::size_of::<T>();
    let head = head.min(out.len());
    let lines = (out.len() - head) / L;
    let body_end = head + lines * L;
    plain(0, &mut out[..head]);
    let base = out.as_mut_ptr();
    for k in 0..lines {
        let i = head + k * L;
        let v = line(i);
        store_line(&v, base.wrapping_add(i).cast::<u8>());
    }
    plain(body_end, &mut out[body_end..]);
    fence();
}

/// Stores 64 bytes at `dst` with streaming stores.
#[inline(always)]
fn store_line<T: Copy, const L: usize>(v: &[T; L], dst: *mut u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `dst` is a 64-byte aligned line inside the output (from `fill_streaming`, which
    // holds its only borrow); `v` is 64 bytes; SSE2 is part of x86-64.
    unsafe {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let src = v.as_ptr().cast::<u8>();
        for k in 0..4 {
            _mm_stream_si128(dst.add(16 * k).cast::<__m128i>(), _mm_loadu_si128(src.add(16 * k).cast::<__m128i>()));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as above; a plain copy of the 64 bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(v.as_ptr().cast::<u8>(), dst, 64)
    }
}

/// Orders the streaming stores before whatever follows (the job's completion is published with
/// ordinary release stores, which do not order them).
#[inline(always)]
pub(crate) fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fills_every_element_whatever_the_alignment() {
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000] {
            for shift in 0..8 {
                let mut backing = vec![-1.0f64; len + 8];
                let out = &mut backing[shift..shift + len];
                fill_streaming::<f64, 8>(
                    out,
                    |i| std::array::from_fn(|j| (i + j) as f64),
                    |start, dst| dst.iter_mut().enumerate().for_each(|(j, d)| *d = (start + j) as f64),
                );
                assert!(out.iter().enumerate().all(|(i, &v)| v == i as f64), "len {len} shift {shift}");
                assert!(backing[..shift].iter().all(|&v| v == -1.0));
                assert!(backing[shift + len..].iter().all(|&v| v == -1.0));
            }
        }
        let mut f = vec![0.0f32; 5000];
        fill_streaming::<f32, 16>(
            &mut f[3..],
            |i| std::array::from_fn(|j| (i + j) as f32),
            |start, dst| dst.iter_mut().enumerate().for_each(|(j, d)| *d = (start + j) as f32),
        );
        assert!(f[3..].iter().enumerate().all(|(i, &v)| v == i as f32) && f[..3] == [0.0; 3]);
    }
}
