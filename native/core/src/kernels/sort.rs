//! Order statistics: sort, argsort, quantile, histogram.
//!
//! Sorting works on an order-preserving map of each value's bits to an unsigned key: for floats,
//! negative values have all bits flipped and the rest only the sign bit, so -0 sorts just before
//! +0 and -inf first. NaNs (of any sign or payload) get the largest key, so they end last in input
//! order, which is exactly where `TypedArray.prototype.sort` puts them; `sort` writes their own
//! bits back there.
//!
//! `sort` and `argsort` are memory-bound, so they move the data as few times as they can, in three
//! parallel passes over fixed pieces of the input:
//!
//! 1. count: a histogram of fine bins over each piece (bins cut the key range that a sample of
//!    the input spans, finer where the sample crowds; see `Bins`). The bins, merged
//!    in order by their total counts, become about `n / BUCKET_LEN` buckets of about equal size,
//!    whatever the distribution (uniform doubles, say, pile half their keys into one exponent).
//! 2. scatter: each piece makes the keys again and writes them (and their indices, for
//!    `argsort`) to their bucket in scratch, through per-bucket write-combining buffers that go
//!    out a cache line at a time. Pieces keep input order within a bucket.
//! 3. buckets, in groups over the pool: each is sorted in cache by `leaf` (stable splits on its
//!    own key range, insertion sort for short runs) and written straight to the output, keys
//!    turned back into values (or only the indices, for `argsort`).
//!
//! The sorted order is unique (stable for `argsort`), so no choice of bins, buckets or threads
//! can change any result.

use super::Element;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::runtime::JobCtx;
use std::ops::Range;

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

/// The key of `v`, NaNs (which `key` does not order) as the largest key of the type: no other
/// value has it, so NaNs sort last and stay in input order.
#[inline(always)]
fn full_key<T: SortKey>(v: T) -> u64 {
    if v.is_nan() {
        u64::MAX >> (64 - T::KEY_BITS)
    } else {
        v.key()
    }
}

/// A destination that parallel tasks write at disjoint, precomputed positions.
struct Scatter<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tasks only write through `put`/`slice`, at positions that the offset computation gives
// to exactly one task each; the buffer outlives the parallel section that uses it.
unsafe impl<T: Send> Sync for Scatter<T> {}

impl<T: Copy> Scatter<T> {
    fn new(buf: &mut [T]) -> Self {
        Scatter { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// Pointer to position `i <= len`. SAFETY: as `ptr.add`.
    #[inline(always)]
    unsafe fn at(&self, i: usize) -> *mut T {
        debug_assert!(i <= self.len);
        unsafe { self.ptr.add(i) }
    }

    /// Positions `r` as a slice. SAFETY: `r` is in bounds and no other task touches it while the
    /// slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, r: Range<usize>) -> &mut [T] {
        debug_assert!(r.start <= r.end && r.end <= self.len);
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

/// Fine bins of the count pass, about: enough that a bucket's worth of keys spans a few bins even
/// where the keys crowd, few enough that their counts stay in L2.
const FINE: usize = 1 << 16;
/// Coarse bins, cut evenly over the key range of the sample; each holds a power of two of fine
/// bins, in proportion to its share of the sample. One u64 each: 32 KiB, in L1.
const COARSE_BITS: u32 = 12;
const COARSE: usize = 1 << COARSE_BITS;
/// Keys per bucket aimed at: 32 KiB of keys and 16 KiB of indices sort in L1.
const BUCKET_LEN: usize = 4096;
/// At most this many buckets: their write-combining lines (256 KiB of keys) stay in L2.
const MAX_BUCKETS: usize = 4096;
/// Inputs up to this long are sorted by `leaf` directly, on one thread.
const SMALL: usize = 1 << 15;
/// Values sampled (at fixed positions) to place the bins.
const SAMPLES: usize = 8192;
/// Runs at most this long are finished by insertion sort.
const INSERTION: usize = 24;
/// Parts per key in a split of `leaf`: with one part per key, a quarter of the parts get two
/// keys or more (Poisson), and the insertion sort that finishes the run mispredicts on each such
/// pair; with two, half as many. Measured on 10 M doubles, one thread, three interleaved rounds:
/// 138-143 ms with one part per key, 126-129 ms with two, 133-159 ms with four (the counts outgrow
/// L1).
const SPREAD: usize = 2;

/// Bins for the count and scatter passes: monotone in the key (so bins, and buckets made of
/// them, are ordered), sized by a sample so that crowded key ranges get finer bins. Keys equally
/// spaced in value crowd into the top binary exponents, for instance, where equal-width bins over
/// the key range would put a tenth of the input into a single bin. Only balance depends on the
/// sample: keys outside its range clamp into the end bins.
struct Bins {
    base: u64,
    shift: u32,
    /// Per coarse bin: its first fine bin (bits 0..32), the shift from offsets within it to its
    /// fine bins (bits 32..40), and log2 of its fine bin count (bits 40..48).
    coarse: Vec<u64>,
    len: usize,
}

impl Bins {
    fn sampled<T: SortKey>(x: &[T]) -> Self {
        let n = x.len();
        let s = SAMPLES.min(n);
        let sample: Vec<u64> = (0..s).map(|j| full_key(x[j * n / s])).collect();
        let (lo, hi) = sample.iter().fold((u64::MAX, 0), |(a, b), &k| (a.min(k), b.max(k)));
        let shift = (u64::BITS - (hi - lo).leading_zeros()).saturating_sub(COARSE_BITS);
        let mut seen = vec![0u32; COARSE];
        for &k in &sample {
            seen[((k - lo) >> shift).min(COARSE as u64 - 1) as usize] += 1;
        }
        let mut coarse = Vec::with_capacity(COARSE);
        let mut first = 0u64;
        for &c in &seen {
            let want = (c as usize * FINE).div_ceil(s).max(1);
            let lg = (usize::BITS - (want - 1).leading_zeros()).min(shift);
            coarse.push(first | ((shift - lg) as u64) << 32 | (lg as u64) << 40);
            first += 1 << lg;
        }
        Bins { base: lo, shift, coarse, len: first as usize }
    }

    #[inline(always)]
    fn of(&self, k: u64) -> usize {
        let t = k.saturating_sub(self.base);
        let c = (t >> self.shift).min(COARSE as u64 - 1);
        // SAFETY: `c < COARSE`, the length of `coarse`.
        let e = unsafe { *self.coarse.get_unchecked(c as usize) };
        let (fshift, lg) = ((e >> 32) as u32 & 0xff, (e >> 40) as u32);
        let sub = ((t - (c << self.shift)) >> fshift).min((1 << lg) - 1);
        (e as u32 as u64 + sub) as usize
    }
}

/// The bins of `keys` into `out` (as long): `Bins::of` for each, eight at a time with AVX-512
/// where the process runs it (the same integer operations lane by lane, so the same bins; the
/// count and scatter passes of one sort always take the same path). cachegrind put the two passes
/// at about 100 instructions per element, a fifth of them in `Bins::of`; with these 8-lane bins,
/// 10 M doubles sorted on one thread in 173-241 ms of CPU time against 214-290 ms (best of 6,
/// four interleaved runs each).
#[inline(always)]
fn bins_block(bins: &Bins, keys: &[u64], out: &mut [u32], wide: bool) {
    debug_assert_eq!(keys.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is only true where the CPU has AVX-512F (see `wide_bins`).
        unsafe { bins_block_avx512(bins, keys, out) };
        return;
    }
    let _ = wide;
    for (o, &k) in out.iter_mut().zip(keys) {
        *o = bins.of(k) as u32;
    }
}

/// The keys of `block` into `kb` (as long), compiled for AVX-512 where `wide` (the key map is
/// branch-free integer work that then vectorizes).
#[inline(always)]
fn keys_block<T: SortKey>(block: &[T], kb: &mut [u64], wide: bool) {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is only true where the CPU has AVX-512F (see `wide_bins`).
        unsafe { keys_block_avx512(block, kb) };
        return;
    }
    let _ = wide;
    for (slot, &v) in kb.iter_mut().zip(block) {
        *slot = full_key(v);
    }
}

/// SAFETY: the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn keys_block_avx512<T: SortKey>(block: &[T], kb: &mut [u64]) {
    for (slot, &v) in kb.iter_mut().zip(block) {
        *slot = full_key(v);
    }
}

/// Whether this process computes bins with AVX-512.
fn wide_bins() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::level() >= crate::simd::SimdLevel::Avx512 && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// SAFETY: the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn bins_block_avx512(bins: &Bins, keys: &[u64], out: &mut [u32]) {
    use std::arch::x86_64::*;
    let base = _mm512_set1_epi64(bins.base as i64);
    let last_coarse = _mm512_set1_epi64(COARSE as i64 - 1);
    let shift = _mm_cvtsi64_si128(bins.shift as i64);
    let low32 = _mm512_set1_epi64(0xffff_ffff);
    let byte = _mm512_set1_epi64(0xff);
    let one = _mm512_set1_epi64(1);
    let mut kc = keys.chunks_exact(8);
    let mut oc = out.chunks_exact_mut(8);
    for (k8, o8) in (&mut kc).zip(&mut oc) {
        // SAFETY: `k8` is 8 readable u64 and `o8` 8 writable u32 (unaligned accesses); every
        // gathered index is below COARSE, the length of `bins.coarse`.
        unsafe {
            let k = _mm512_loadu_si512(k8.as_ptr().cast());
            let t = _mm512_sub_epi64(_mm512_max_epu64(k, base), base);
            let c = _mm512_min_epu64(_mm512_srl_epi64(t, shift), last_coarse);
            let e = _mm512_i64gather_epi64::<8>(c, bins.coarse.as_ptr().cast());
            let fshift = _mm512_and_si512(_mm512_srli_epi64::<32>(e), byte);
            let lg = _mm512_srli_epi64::<40>(e);
            let within = _mm512_srlv_epi64(_mm512_sub_epi64(t, _mm512_sll_epi64(c, shift)), fshift);
            let sub = _mm512_min_epu64(within, _mm512_sub_epi64(_mm512_sllv_epi64(one, lg), one));
            let bin = _mm512_add_epi64(_mm512_and_si512(e, low32), sub);
            _mm256_storeu_si256(o8.as_mut_ptr().cast(), _mm512_cvtepi64_epi32(bin));
        }
    }
    for (o, &k) in oc.into_remainder().iter_mut().zip(kc.remainder()) {
        *o = bins.of(k) as u32;
    }
}

/// Keys per block in the count and scatter passes.
const BLOCK: usize = 64;

/// Blocks of `BLOCK` keys between two looks for an abort inside a pass (64 Ki elements).
const CHECK_BLOCKS: usize = 1024;

/// Pieces for the count and scatter passes: a few per pool thread, so one slowed thread leaves
/// the others work to take (each piece keeps its own runs, so the result is the same).
fn piece_len(ctx: &JobCtx, n: usize) -> usize {
    let tasks = if ctx.is_parallel() { rayon::current_num_threads().max(1) * 4 } else { 1 };
    n.div_ceil(tasks).max(1 << 14)
}

/// Asks Linux for transparent huge pages on `buf` (fresh scratch or output): its first touch then
/// takes one fault per 2 MiB instead of one per 4 KiB page (20 000 faults for 80 MB otherwise).
fn advise_huge<T>(buf: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = (buf.as_mut_ptr() as usize).next_multiple_of(PAGE);
        let end = (buf.as_mut_ptr() as usize + std::mem::size_of_val(buf)) & !(PAGE - 1);
        if end > start {
            // SAFETY: the page-aligned range lies inside `buf`, which we own; MADV_HUGEPAGE only
            // changes how the kernel backs those pages, never their contents. Failure is harmless.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Zeroed scratch of `n` elements: fresh pages from the allocator (no zeroing pass here), huge
/// where the kernel allows.
fn scratch<E: Copy + Default>(n: usize) -> Vec<E> {
    let mut v = vec![E::default(); n];
    advise_huge(&mut v);
    v
}

/// `n` keys of `scratch` whose first sits at slot `phase` of a 64-byte line (to match the
/// output that the scatter fills alongside).
struct Lines {
    buf: Vec<u64>,
    start: usize,
    len: usize,
}

impl Lines {
    fn new(n: usize, phase: usize) -> Self {
        let buf: Vec<u64> = scratch(n + WC);
        let first_line = buf.as_ptr().align_offset(64).min(WC);
        Lines { buf, start: (first_line + phase) % WC, len: n }
    }

    fn as_mut_slice(&mut self) -> &mut [u64] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// The slot that `p` sits at in its group of `WC` elements (a 64-byte line of u64, a 32-byte half
/// line of u32).
fn phase_of<E>(p: *const E) -> usize {
    (p as usize / std::mem::size_of::<E>()) % WC
}

/// Keys staged per bucket before they go out together: one 64-byte line of u64 keys.
const WC: usize = 8;

/// Copies `BYTES` (a multiple of 16) staged bytes to `dst` with non-temporal stores: the scatter
/// writes whole lines, so reading each destination line first (as plain stores do) would only
/// add memory traffic.
///
/// SAFETY: `src` is readable and `dst` writable for `BYTES` bytes, `dst` 16-byte aligned; the
/// caller runs `stream_fence` before anyone else reads `dst`.
#[inline(always)]
unsafe fn stream<const BYTES: usize>(src: *const u8, dst: *mut u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86_64; pointers as the caller guarantees.
    unsafe {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        for j in 0..BYTES / 16 {
            _mm_stream_si128((dst as *mut __m128i).add(j), _mm_loadu_si128((src as *const __m128i).add(j)));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as the caller guarantees.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, BYTES)
    }
}

/// Orders the streaming stores of `stream` before anything this thread does next (the pool's
/// join then publishes them to other threads).
#[inline(always)]
fn stream_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86_64; a fence has no other effect.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    }
}

/// Scatters the keys of `x[r]` (and their indices, with `IDX`) to their buckets, `bucket[bin]`,
/// starting from this piece's offsets `off`. Writes go through small per-bucket buffers flushed a
/// whole destination cache line at a time (software write-combining): thousands of open streams
/// of single stores would miss the TLB and the L1 nearly every time. Position `p` sits at slot
/// `(p + phase) % WC` of its line: `phase` is where `kdst` starts within a cache line.
///
/// SAFETY: `off` are this piece's own disjoint runs of positions in `kdst`/`idst`, sized by the
/// counts of exactly these keys (and `idst` as long as `kdst` when `IDX`); `kdst` starts at
/// slot `phase` of a 64-byte line and `idst` at slot `phase` of a 32-byte half line.
#[allow(clippy::too_many_arguments)]
unsafe fn scatter_piece<T: SortKey, const IDX: bool>(
    ctx: &JobCtx,
    x: &[T],
    r: Range<usize>,
    bins: &Bins,
    wide: bool,
    bucket: &[u16],
    off: &mut [usize],
    hi: &[usize],
    kdst: &Scatter<u64>,
    idst: &Scatter<u32>,
    phase: usize,
) -> bool {
    let nb = off.len();
    debug_assert_eq!(hi.len(), nb);
    let mut overflow = false;
    let lo: Vec<usize> = off.to_vec();
    let mut wk = vec![0u64; nb * WC];
    let mut wi = if IDX { vec![0u32; nb * WC] } else { Vec::new() };
    let (offp, lop, wkp, wip) = (off.as_mut_ptr(), lo.as_ptr(), wk.as_mut_ptr(), wi.as_mut_ptr());
    // Copies the staged slots of bucket `d` for positions `begin..end` (within one line) out.
    let flush = |d: usize, begin: usize, end: usize| {
        let s = (begin + phase) & (WC - 1);
        // SAFETY: `begin..end` lies in one line of `d`'s run for this piece; the slots are staged.
        unsafe {
            std::ptr::copy_nonoverlapping(wkp.add(d * WC + s), kdst.at(begin), end - begin);
            if IDX {
                std::ptr::copy_nonoverlapping(wip.add(d * WC + s), idst.at(begin), end - begin);
            }
        }
    };
    // Blocks of keys: their buckets first (independent table loads that overlap), then the
    // stores, whose offsets depend on one another.
    let mut kb = [0u64; BLOCK];
    let mut bb = [0u32; BLOCK];
    let mut db = [0u16; BLOCK];
    let mut i = r.start;
    let mut blocks = 0usize;
    while i < r.end {
        blocks += 1;
        if blocks.is_multiple_of(CHECK_BLOCKS) && ctx.checkpoint().is_err() {
            // Aborted: the runs are left unfinished, and the caller fails after the pass.
            stream_fence();
            return overflow;
        }
        let len = BLOCK.min(r.end - i);
        keys_block(&x[i..i + len], &mut kb[..len], wide);
        bins_block(bins, &kb[..len], &mut bb[..len], wide);
        for j in 0..len {
            // SAFETY: `j < len <= BLOCK`; `bucket` has an entry per bin.
            unsafe { *db.get_unchecked_mut(j) = *bucket.get_unchecked(*bb.get_unchecked(j) as usize) };
        }
        for j in 0..len {
            let (k, d) = (kb[j], db[j] as usize);
            // SAFETY: `d < nb`; slots are below `nb * WC`; `o < hi[d]`, so a line ending at `o + 1`
            // lies in `d`'s run when it starts at or after the run's start.
            unsafe {
                let o = *offp.add(d);
                if o >= *hi.get_unchecked(d) {
                    // More keys of this bucket than the count pass saw: another thread changed `x`
                    // in between. Never write past the run; the caller fails the whole sort.
                    overflow = true;
                    continue;
                }
                *offp.add(d) = o + 1;
                let slot = d * WC + ((o + phase) & (WC - 1));
                *wkp.add(slot) = k;
                if IDX {
                    *wip.add(slot) = (i + j) as u32;
                }
                if (o + phase + 1) & (WC - 1) == 0 {
                    let first = *lop.add(d);
                    if o + 1 >= first + WC {
                        // A whole line (of keys; half a line of indices).
                        let begin = o + 1 - WC;
                        stream::<64>(wkp.add(d * WC) as *const u8, kdst.at(begin) as *mut u8);
                        if IDX {
                            stream::<32>(wip.add(d * WC) as *const u8, idst.at(begin) as *mut u8);
                        }
                    } else {
                        flush(d, first, o + 1);
                    }
                }
            }
        }
        i += len;
    }
    for d in 0..nb {
        let end = off[d];
        let begin = ((end + phase) & !(WC - 1)).saturating_sub(phase).max(lo[d]);
        if begin < end {
            flush(d, begin, end);
        }
    }
    stream_fence();
    overflow
}

/// Passes 1 and 2: counts `x` per piece, merges the bins into buckets and scatters the keys to
/// `kdst` (and indices to `idst`, with `IDX`; NaN values are collected without), `phase` as in
/// `scatter_piece`. Returns the buckets' starts (and one past the last) and the NaNs.
///
/// SAFETY: `kdst` (and `idst`, with `IDX`) are `x.len()` long, aligned as `scatter_piece` needs,
/// and not `x`'s memory.
unsafe fn partition<T: SortKey, const IDX: bool>(
    ctx: &JobCtx,
    x: &[T],
    kdst: &Scatter<u64>,
    idst: &Scatter<u32>,
    phase: usize,
) -> CoreResult<(Vec<usize>, Vec<T>)> {
    let n = x.len();
    let piece = piece_len(ctx, n);
    let bins = Bins::sampled(x);
    let wide = wide_bins();
    let parts = ctx.map_chunks(n, piece, |r| {
        let mut h = vec![0u32; bins.len];
        let mut nans = Vec::new();
        let (mut kb, mut bb) = ([0u64; BLOCK], [0u32; BLOCK]);
        // The key `full_key` gives NaNs (an integer type's largest value has it too, harmlessly).
        let nan_key = u64::MAX >> (64 - T::KEY_BITS);
        for (bi, block) in x[r].chunks(BLOCK).enumerate() {
            // A piece is up to an eighth of the input: look for an abort every 64 Ki elements
            // (the caller checks again after the pass, so a piece cut short is never used).
            if bi % CHECK_BLOCKS == CHECK_BLOCKS - 1 && ctx.checkpoint().is_err() {
                break;
            }
            let len = block.len();
            keys_block(block, &mut kb[..len], wide);
            if !IDX && kb[..len].contains(&nan_key) {
                // Only NaNs have that key; `sort` puts their own bits back, in input order.
                nans.extend(block.iter().filter(|v| v.is_nan()));
            }
            bins_block(&bins, &kb[..len], &mut bb[..len], wide);
            for &b in &bb[..len] {
                // SAFETY: every bin is below `bins.len`.
                unsafe { *h.get_unchecked_mut(b as usize) += 1 };
            }
        }
        (h, nans)
    })?;
    ctx.checkpoint()?;
    // Bins to buckets: each bin goes to the bucket its middle key falls in when the keys are cut
    // into `nb` equal runs in order (empty bins past the last key: the last bucket), so buckets
    // are even unless one bin alone holds more.
    let nb = n.div_ceil(BUCKET_LEN).clamp(1, MAX_BUCKETS);
    let mut bucket = vec![0u16; bins.len];
    let mut at = 0u64;
    for (b, out) in bucket.iter_mut().enumerate() {
        let c: u64 = parts.iter().map(|(h, _)| h[b] as u64).sum();
        *out = ((at + c / 2) * nb as u64 / n as u64).min(nb as u64 - 1) as u16;
        at += c;
    }
    // Per-piece runs: bucket by bucket, pieces in input order within each.
    let mut offsets: Vec<Vec<usize>> = parts
        .iter()
        .map(|(h, _)| {
            let mut c = vec![0usize; nb];
            for (b, &k) in h.iter().enumerate() {
                c[bucket[b] as usize] += k as usize;
            }
            c
        })
        .collect();
    let mut starts = vec![0usize; nb + 1];
    let mut ends: Vec<Vec<usize>> = vec![vec![0usize; nb]; offsets.len()];
    let mut at = 0;
    for d in 0..nb {
        starts[d] = at;
        for (o, e) in offsets.iter_mut().zip(ends.iter_mut()) {
            let c = o[d];
            o[d] = at;
            at += c;
            e[d] = at;
        }
    }
    starts[nb] = at;
    debug_assert_eq!(at, n);
    let mut nans = Vec::new();
    for (_, v) in parts {
        nans.extend_from_slice(&v);
    }
    let overflows = ctx.map_chunks(n, piece, |r| {
        let p = r.start / piece;
        let mut off = offsets[p].clone();
        // SAFETY: `offsets`/`ends` give each piece its own runs of positions, sized by its counts
        // and covering 0..n exactly once over all pieces, and the scatter never writes past a run
        // even when `x` changed since it was counted; buffers as the caller guarantees.
        unsafe { scatter_piece::<T, IDX>(ctx, x, r, &bins, wide, &bucket, &mut off, &ends[p], kdst, idst, phase) }
    })?;
    // A piece that stopped for an abort left its runs half written: fail before anyone reads them.
    ctx.checkpoint()?;
    if overflows.into_iter().any(|o| o) {
        // Counts and keys disagree, so some runs hold stale slots: nothing of this pass is usable.
        return Err(CoreError::new(
            ErrorCode::InputChanged,
            "the input array was modified while it was being sorted (by another thread, or by JS code that ran before the sort finished); sort a copy, or wait for the sort before writing",
        ));
    }
    Ok((starts, nans))
}

/// Moves `sk[i]` (and `si[i]`) to `k[i]` (and `ix[i]`) and insertion-sorts them there, stably.
/// Linear in the length plus the number of out-of-order pairs.
fn insertion<const IDX: bool>(sk: &[u64], si: &[u32], k: &mut [u64], ix: &mut [u32]) {
    let m = sk.len();
    debug_assert!(k.len() == m && (!IDX || (si.len() == m && ix.len() == m)));
    for i in 0..m {
        // SAFETY: every index is below `i < m`, the length of all four slices (`si`/`ix` only
        // with IDX).
        unsafe {
            let v = *sk.get_unchecked(i);
            let w = if IDX { *si.get_unchecked(i) } else { 0 };
            let mut j = i;
            while j > 0 && *k.get_unchecked(j - 1) > v {
                *k.get_unchecked_mut(j) = *k.get_unchecked(j - 1);
                if IDX {
                    *ix.get_unchecked_mut(j) = *ix.get_unchecked(j - 1);
                }
                j -= 1;
            }
            *k.get_unchecked_mut(j) = v;
            if IDX {
                *ix.get_unchecked_mut(j) = w;
            }
        }
    }
}

/// The buffers `leaf` reuses from one bucket to the next: each key's part and the parts' counts.
#[derive(Default)]
struct LeafScratch {
    parts: Vec<u32>,
    counts: Vec<u32>,
}

/// Whether `leaf` computes ranges and parts with AVX-512 (F and DQ, for the u64/f64 conversions).
fn wide_parts() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *WIDE.get_or_init(|| {
            crate::simd::level() >= crate::simd::SimdLevel::Avx512
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The smallest and largest of `k` (not empty).
#[inline(always)]
fn key_range(k: &[u64], wide: bool) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is only true where the CPU has AVX-512F and DQ (see `wide_parts`).
        return unsafe { key_range_avx512(k) };
    }
    let _ = wide;
    k.iter().fold((u64::MAX, 0), |(a, b), &v| (a.min(v), b.max(v)))
}

/// SAFETY: the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn key_range_avx512(k: &[u64]) -> (u64, u64) {
    use std::arch::x86_64::*;
    let (mut lo, mut hi) = (_mm512_set1_epi64(-1), _mm512_setzero_si512());
    let mut chunks = k.chunks_exact(8);
    for c in &mut chunks {
        // SAFETY: `c` is 8 readable u64 (an unaligned load).
        let v = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        lo = _mm512_min_epu64(lo, v);
        hi = _mm512_max_epu64(hi, v);
    }
    let rest = chunks.remainder().iter().fold((u64::MAX, 0), |(a, b), &v| (a.min(v), b.max(v)));
    (_mm512_reduce_min_epu64(lo).min(rest.0), _mm512_reduce_max_epu64(hi).max(rest.1))
}

/// Each key's part (see `leaf`): `v - lo` without `scale`, else `min(floor((v - lo) * scale), last)`.
#[inline(always)]
fn parts_of(k: &[u64], lo: u64, scale: Option<f64>, last: u32, out: &mut [u32], wide: bool) {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is only true where the CPU has AVX-512F and DQ (see `wide_parts`).
        unsafe { parts_of_avx512(k, lo, scale, last, out) };
        return;
    }
    let _ = wide;
    match scale {
        None => out.iter_mut().zip(k).for_each(|(o, &v)| *o = (v - lo) as u32),
        Some(f) => out.iter_mut().zip(k).for_each(|(o, &v)| *o = (((v - lo) as f64 * f) as u64).min(last as u64) as u32),
    }
}

/// SAFETY: the CPU has AVX-512F and AVX-512DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn parts_of_avx512(k: &[u64], lo: u64, scale: Option<f64>, last: u32, out: &mut [u32]) {
    use std::arch::x86_64::*;
    let (lov, cap) = (_mm512_set1_epi64(lo as i64), _mm512_set1_epi64(last as i64));
    let f = _mm512_set1_pd(scale.unwrap_or(1.0));
    let mut kc = k.chunks_exact(8);
    let mut oc = out.chunks_exact_mut(8);
    for (k8, o8) in (&mut kc).zip(&mut oc) {
        // SAFETY: `k8` is 8 readable u64 and `o8` 8 writable u32 (unaligned accesses).
        unsafe {
            let d = _mm512_sub_epi64(_mm512_loadu_si512(k8.as_ptr().cast()), lov);
            let p = match scale {
                None => d,
                // Truncation toward zero of a non-negative product: `floor`, as `as u64` does.
                Some(_) => _mm512_min_epu64(_mm512_cvttpd_epu64(_mm512_mul_pd(_mm512_cvtepu64_pd(d), f)), cap),
            };
            _mm256_storeu_si256(o8.as_mut_ptr().cast(), _mm512_cvtepi64_epi32(p));
        }
    }
    let (rest_k, rest_o) = (kc.remainder(), oc.into_remainder());
    match scale {
        None => rest_o.iter_mut().zip(rest_k).for_each(|(o, &v)| *o = (v - lo) as u32),
        Some(f) => rest_o.iter_mut().zip(rest_k).for_each(|(o, &v)| *o = (((v - lo) as f64 * f) as u64).min(last as u64) as u32),
    }
}

/// Sorts `k` (and `ix` alongside, with `IDX`) stably in place, with `tk`/`ti` (as long) as
/// scratch and `count` as the parts' counts. Longer runs are split into `tk` into about twice as
/// many parts as keys (`SPREAD`), cutting their own range (minimum to maximum) evenly; parts
/// longer than `INSERTION` are sorted the same way, and one insertion sort over the whole run, back
/// into `k`, puts the keys of the short parts in order (few moves: keys are out of order only
/// within a part, which holds a key or none). Every split has at least two non-empty parts (the minimum
/// and the maximum land apart), so the recursion ends.
fn leaf<const IDX: bool>(k: &mut [u64], ix: &mut [u32], tk: &mut [u64], ti: &mut [u32], count: &mut LeafScratch) {
    let m = k.len();
    if m <= INSERTION {
        tk[..m].copy_from_slice(k);
        if IDX {
            ti[..m].copy_from_slice(ix);
        }
        insertion::<IDX>(&tk[..m], &ti[..if IDX { m } else { 0 }], k, ix);
        return;
    }
    let wide = wide_parts();
    let (lo, hi) = key_range(k, wide);
    if lo == hi {
        return; // all equal: already in (stable) order
    }
    // Part of `v`: `v - lo` when the range is narrower than `w = SPREAD * m` (one part per key
    // value), else `(v - lo) * (w - 1/2) / (hi - lo)` in f64, rounded down and capped at `w - 1`:
    // monotone in `v` (every step rounds monotonically), 0 for the minimum and `w - 1` for the
    // maximum.
    let span = hi - lo;
    let want = SPREAD * m;
    let (parts, scale) = if span < want as u64 { (span as usize + 1, None) } else { (want, Some((want as f64 - 0.5) / span as f64)) };
    // Each key's part, once (the count and the scatter both need it).
    let mut part = std::mem::take(&mut count.parts);
    part.resize(m, 0);
    parts_of(k, lo, scale, (parts - 1) as u32, &mut part, wide);
    let counts = &mut count.counts;
    counts.clear();
    counts.resize(parts + 1, 0);
    let cp = counts.as_mut_ptr();
    for &p in &part {
        // SAFETY: every part is at most `parts - 1` (capped above); `counts` has `parts + 1` entries.
        unsafe { *cp.add(p as usize + 1) += 1 };
    }
    // Exclusive scan, one place up: `counts[d]` is part `d`'s first position.
    let (mut at, mut longest) = (0, 0);
    for c in counts.iter_mut() {
        longest = longest.max(*c);
        at += *c;
        *c = at;
    }
    for i in 0..m {
        // SAFETY: `part[i] < parts`; the offsets are an exclusive scan of these keys' part
        // counts, so every write lands in 0..m, once, in input order within each part.
        unsafe {
            let v = *k.get_unchecked(i);
            let o = cp.add(*part.get_unchecked(i) as usize);
            *tk.get_unchecked_mut(*o as usize) = v;
            if IDX {
                *ti.get_unchecked_mut(*o as usize) = *ix.get_unchecked(i);
            }
            *o += 1;
        }
    }
    count.parts = part;
    let count = &count.counts;
    // Now `count[d]` is part `d`'s end.
    let mut begin = 0;
    let mut d = 0;
    while longest as usize > INSERTION && d < parts {
        let end = count[d] as usize;
        if end - begin > INSERTION {
            let r = begin..end;
            let (si, di) = if IDX { (&mut ti[r.clone()], &mut ix[r.clone()]) } else { (&mut [][..], &mut [][..]) };
            // Counts of its own (this level's ends are still to be read): sized by that part.
            leaf::<IDX>(&mut tk[r.clone()], si, &mut k[r], di, &mut LeafScratch::default());
        }
        begin = end;
        d += 1;
    }
    insertion::<IDX>(tk, ti, k, ix);
}

/// Pass 3: sorts every bucket (`keys[starts[b]..starts[b + 1]]`, and `idx` alongside with
/// `IDX`) in place and in cache, groups of buckets over the pool, and hands each sorted bucket (its
/// start and keys) to `emit`.
///
/// SAFETY: `keys` (and `idx`, with `IDX`) are valid for `starts`' last entry and used by nothing
/// else meanwhile.
unsafe fn sort_buckets<const IDX: bool>(
    ctx: &JobCtx,
    keys: &Scatter<u64>,
    idx: &Scatter<u32>,
    starts: &[usize],
    emit: impl Fn(usize, &mut [u64]) + Sync,
) -> CoreResult<()> {
    let nb = starts.len() - 1;
    let tasks = if ctx.is_parallel() { rayon::current_num_threads().max(1) * 16 } else { 1 };
    let group = nb.div_ceil(tasks);
    ctx.map_chunks(nb, group, |r| {
        let (mut tk, mut ti, mut count) = (Vec::new(), Vec::new(), LeafScratch::default());
        for d in r {
            // Buckets are a few thousand keys: an abort is seen within one.
            if ctx.checkpoint().is_err() {
                return;
            }
            let run = starts[d]..starts[d + 1];
            tk.resize(tk.len().max(run.len()), 0);
            if IDX {
                ti.resize(tk.len(), 0);
            }
            // SAFETY: bucket `d`'s run is in bounds and belongs to this task alone.
            let (k, ix) = unsafe { (keys.slice(run.clone()), if IDX { idx.slice(run.clone()) } else { &mut [][..] }) };
            leaf::<IDX>(k, ix, &mut tk[..run.len()], if IDX { &mut ti[..run.len()] } else { &mut [][..] }, &mut count);
            emit(run.start, k);
        }
    })?;
    // A group that stopped for an abort left buckets unsorted.
    ctx.checkpoint()
}

/// `out` (of 8-byte values) seen as the u64 keys that the sort stages there.
fn as_keys<T: SortKey>(out: &mut [T]) -> &mut [u64] {
    assert!(std::mem::size_of::<T>() == 8 && std::mem::align_of::<T>() == 8);
    // SAFETY: `T` is 8 bytes of plain bits with u64's alignment (checked), every bit pattern is a
    // valid u64, and the borrow of `out` carries over.
    unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u64, out.len()) }
}

/// Sorted copy of `x` into `out` (same length; `out` may hold `x` itself for an in-place sort):
/// ascending, -0 before +0, NaNs last. Bit for bit `TypedArray.prototype.sort`.
pub fn sort<T: SortKey>(ctx: &JobCtx, x: Option<&[T]>, out: &mut [T]) -> CoreResult<()> {
    let n = out.len();
    if x.is_some_and(|x| x.len() != n) {
        return Err(CoreError::invalid_arg("sort: out must be as long as x"));
    }
    if n < 2 {
        if let Some(x) = x {
            out.copy_from_slice(x);
        }
        return Ok(());
    }
    if n <= SMALL {
        let src: &[T] = x.unwrap_or(out);
        let nans: Vec<T> = src.iter().copied().filter(|v| v.is_nan()).collect();
        let mut keys: Vec<u64> = src.iter().map(|&v| full_key(v)).collect();
        let mut tmp = vec![0u64; n];
        leaf::<false>(&mut keys, &mut [], &mut tmp, &mut [], &mut LeafScratch::default());
        let m = n - nans.len();
        for (o, &k) in out[..m].iter_mut().zip(&keys) {
            *o = T::from_key(k);
        }
        out[m..].copy_from_slice(&nans);
        return Ok(());
    }
    let none = Scatter::<u32> { ptr: std::ptr::null_mut(), len: 0 };
    let nans = match x {
        Some(x) if std::mem::size_of::<T>() == 8 => {
            // A sorted copy of 8-byte values: the keys go to `out` itself, are sorted there bucket by
            // bucket and turned back in place, so no scratch. `out` is fresh here: let its first
            // touch fault in huge pages.
            advise_huge(out);
            let keys = as_keys(out);
            let phase = phase_of(keys.as_ptr());
            let kd = Scatter::new(keys);
            // SAFETY: `keys` is `out`, `n` long and not `x` (distinct borrows); used by nothing else.
            let (starts, nans) = unsafe { partition::<T, false>(ctx, x, &kd, &none, phase)? };
            let m = n - nans.len();
            // SAFETY: as above.
            unsafe {
                sort_buckets::<false>(ctx, &kd, &none, &starts, |start, keys| {
                    let keep = m.saturating_sub(start).min(keys.len());
                    for k in &mut keys[..keep] {
                        // SAFETY: `T` is 8 bytes of plain bits (as in `as_keys`).
                        *k = std::mem::transmute_copy::<T, u64>(&T::from_key(*k));
                    }
                })?
            };
            nans
        }
        _ => {
            let mut keys = Lines::new(n, 0);
            let kd = Scatter::new(keys.as_mut_slice());
            let src: &[T] = x.unwrap_or(out);
            // SAFETY: `keys` is fresh scratch of `n` keys starting on a line.
            let (starts, nans) = unsafe { partition::<T, false>(ctx, src, &kd, &none, 0)? };
            let m = n - nans.len();
            let dst = Scatter::new(&mut out[..m]);
            // SAFETY: `keys` is used by nothing else.
            unsafe {
                sort_buckets::<false>(ctx, &kd, &none, &starts, |start, keys| {
                    let keep = m.saturating_sub(start).min(keys.len());
                    // SAFETY: bucket runs are disjoint, so this task alone writes these positions.
                    let o = dst.slice(start..start + keep);
                    for (o, &k) in o.iter_mut().zip(keys.iter()) {
                        *o = T::from_key(k);
                    }
                })?
            };
            nans
        }
    };
    // NaN keys come last: their runs get the NaNs' own bits, in input order.
    out[n - nans.len()..].copy_from_slice(&nans);
    Ok(())
}

/// Indices that sort `x` stably (NaNs last, in order). Fails for inputs of 2^32 elements or more.
pub fn argsort<T: SortKey>(ctx: &JobCtx, x: &[T]) -> CoreResult<Vec<u32>> {
    if x.len() > u32::MAX as usize {
        return Err(CoreError::invalid_arg("argsort: at most 2^32 - 1 elements"));
    }
    let n = x.len();
    if n <= SMALL {
        let mut keys: Vec<u64> = x.iter().map(|&v| full_key(v)).collect();
        let mut idx: Vec<u32> = (0..n as u32).collect();
        let (mut tk, mut ti) = (vec![0u64; n], vec![0u32; n]);
        leaf::<true>(&mut keys, &mut idx, &mut tk, &mut ti, &mut LeafScratch::default());
        return Ok(idx);
    }
    // The indices go straight to the result and are sorted there with their keys.
    let mut out: Vec<u32> = scratch(n);
    let phase = phase_of(out.as_ptr());
    let mut keys = Lines::new(n, phase);
    let (kd, id) = (Scatter::new(keys.as_mut_slice()), Scatter::new(&mut out));
    // SAFETY: fresh buffers of `n`; an index at position `p` sits at slot `(p + phase) % 8` of a
    // 32-byte half line exactly when its key does of a 64-byte line.
    unsafe {
        let (starts, _) = partition::<T, true>(ctx, x, &kd, &id, phase)?;
        sort_buckets::<true>(ctx, &kd, &id, &starts, |_, _| {})?;
    }
    Ok(out)
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
    // Zeroed pages (no fill pass: filling 80 MB with `x[0]` took about 50 ms that no abort could
    // interrupt), sorted into.
    let mut sorted = vec![T::from_f64(0.0); x.len()];
    advise_huge(&mut sorted);
    ctx.checkpoint()?;
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
    fn sort_argsort_and_quantile_cancelled_mid_pass_fail_cleanly() {
        // An abort lands inside a pass at any moment: the call either finished (and is right) or
        // fails with Aborted; a piece cut short is never read.
        let n = 1 << 21;
        let h = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let x: Vec<f64> = (0..n).map(|i| h(i) as f64 * 1e-6 - 4e9).collect();
        let mut want = x.clone();
        want.sort_by(js_order);
        let qs = [0.0, 0.25, 0.5, 1.0];
        let want_q = quantile(&JobCtx::inline(), &x, &qs).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (mut aborted, mut finished) = (0, 0);
        for delay_us in [0u64, 100, 300, 1000, 2000, 4000, 8000, 30_000] {
            for which in 0..3 {
                let state = JobState::new();
                assert!(state.start());
                let mut out = vec![0.0; n];
                let result = std::thread::scope(|s| {
                    s.spawn(|| {
                        std::thread::sleep(std::time::Duration::from_micros(delay_us));
                        state.cancel();
                    });
                    let ctx = JobCtx::for_pool(&state);
                    if which == 2 {
                        pool.install(|| quantile(&ctx, &x, &qs)).map(|got| assert_eq!(got, want_q))
                    } else if which == 1 {
                        pool.install(|| argsort(&ctx, &x)).map(|idx| {
                            assert!(idx.windows(2).all(|w| js_order(&x[w[0] as usize], &x[w[1] as usize]) != std::cmp::Ordering::Greater));
                        })
                    } else {
                        pool.install(|| sort(&ctx, Some(&x), &mut out)).map(|()| assert!(out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits())))
                    }
                });
                match result {
                    Ok(()) => finished += 1,
                    Err(e) => {
                        assert_eq!(e.code, crate::error::ErrorCode::Aborted);
                        aborted += 1;
                    }
                }
            }
        }
        // The first delays abort before any work is done, whatever the machine's speed.
        assert!(aborted >= 3, "aborted {aborted}, finished {finished}");
    }

    #[test]
    fn sort_and_argsort_match_reference_on_awkward_inputs() {
        let n = 100_003;
        let h = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let inputs: Vec<Vec<f64>> = vec![
            vec![1.5; n],
            vec![f64::NAN; n],
            (0..n).map(|i| i as f64).collect(),
            (0..n).map(|i| -(i as f64)).collect(),
            (0..n).map(|i| (h(i) % 5) as f64 - 2.0).collect(),
            (0..n).map(|i| if i % 1000 == 0 { 1e300 } else { (h(i) % 1_000_000) as f64 * 1e-9 }).collect(),
            (0..n).map(|i| if h(i) % 3 == 0 { f64::NAN } else { (h(i) as f64).ln() * if i % 2 == 0 { -1.0 } else { 1.0 } }).collect(),
            (0..n).map(|i| (h(i) >> 20) as f64 * 1e-6).collect(),
        ];
        let state = JobState::new();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for x in &inputs {
            let mut want = x.clone();
            want.sort_by(js_order);
            let same = |got: &[f64]| got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            let mut copy = vec![0.0; n];
            pool.install(|| sort(&JobCtx::for_pool(&state), Some(x), &mut copy)).unwrap();
            assert!(same(&copy));
            let mut inplace = x.clone();
            sort(&JobCtx::inline(), None, &mut inplace).unwrap();
            assert!(same(&inplace));
            let mut stable: Vec<u32> = (0..n as u32).collect();
            stable.sort_by(|&a, &b| js_order(&x[a as usize], &x[b as usize]));
            assert_eq!(pool.install(|| argsort(&JobCtx::for_pool(&state), x)).unwrap(), stable);
            assert_eq!(argsort(&JobCtx::inline(), x).unwrap(), stable);
            let f: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut fo = vec![0f32; n];
            pool.install(|| sort(&JobCtx::for_pool(&state), Some(&f), &mut fo)).unwrap();
            let mut fw = f.clone();
            fw.sort_by(|a, b| js_order(&(*a as f64), &(*b as f64)));
            assert!(fo.iter().zip(&fw).all(|(a, b)| a.to_bits() == b.to_bits()));
            let ints: Vec<i32> = x.iter().map(|&v| if v.is_nan() { i32::MIN } else { (v * 1e3) as i32 }).collect();
            let mut io = vec![0i32; n];
            pool.install(|| sort(&JobCtx::for_pool(&state), Some(&ints), &mut io)).unwrap();
            let mut iw = ints.clone();
            iw.sort();
            assert_eq!(io, iw);
        }
        for len in [0, 1, 2, 3, 47, 1000] {
            let x: Vec<f64> = (0..len).map(|i| (h(i) % 7) as f64).collect();
            let mut want = x.clone();
            want.sort_by(js_order);
            let mut got = vec![0.0; len];
            sort(&JobCtx::inline(), Some(&x), &mut got).unwrap();
            assert_eq!(got, want);
            let mut stable: Vec<u32> = (0..len as u32).collect();
            stable.sort_by(|&a, &b| js_order(&x[a as usize], &x[b as usize]));
            assert_eq!(argsort(&JobCtx::inline(), &x).unwrap(), stable);
        }
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
