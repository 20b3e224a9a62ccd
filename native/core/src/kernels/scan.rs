//! Cumulative sum, deterministic for any thread count and SIMD level.
//!
//! The input is cut into fixed chunks of `CHUNK` elements (whatever the pool size, and also when
//! run inline). Each chunk's compensated total is taken (but the last's) and combined in chunk
//! order, compensated, into the next chunk's starting offset; right after its total, while it is
//! still in L2, each chunk is scanned from zero in groups of
//! eight: an in-group inclusive prefix in three shifted adds (Hillis–Steele, zeros shifted in),
//! then a running total that advances once per sixteen elements; each output is
//! `offset + running + prefix`, rounded once to the element type.
//!
//! Every level runs exactly these IEEE operations in this order (AVX-512 with lane shifts, the
//! others on arrays), so the bits depend only on the input. The running sum is plain, like numpy's
//! `cumsum` and a JS loop; its error for element i is about `(i / 8 + 4) eps sum |x_j|` within a
//! chunk (a sequential loop: `i eps sum |x_j|`), and chunks start from a compensated offset, so the
//! error does not grow from chunk to chunk. A compensated scan (TwoSum per element) measured 17 µs
//! for 4 096 doubles, slower than the JS loop; this one is latency-free: one add per 16 elements on
//! its dependency chain.

use super::lanes::prefetch;
use super::reduce::{sum_block, Compensated, PREFETCH};
use super::{Element, BLOCK};
use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::simd::{level, SimdLevel};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

const CHUNK: usize = 1 << 16;

/// Eight f64 lanes with the few operations the scan needs.
trait Group: Copy {
    fn load(s: &[f64]) -> Self;
    fn store(self, out: &mut [f64]);
    fn splat(v: f64) -> Self;
    fn add(self, o: Self) -> Self;
    /// `self + o` computed as `self * one + o` on the multiply-add units where there are some
    /// (`one` is 1.0 kept out of the optimizer's sight, or LLVM turns the FMA back into an add):
    /// the product is exact, so this is bit for bit `self + o`. AMD's Zen 4 adds on two pipes and
    /// multiplies on two others; the scan has more adds than anything, so half go to the FMA pipes.
    fn fadd(self, o: Self, one: Self) -> Self;
    /// Lanes moved up by `K` (1, 2 or 4), zeros shifted in at the bottom.
    fn shift<const K: usize>(self) -> Self;
    /// Lane 7 in every lane.
    fn last(self) -> Self;
    /// `if self is finite { self + c } else { self }`, lane-wise.
    fn add_if_finite(self, c: Self) -> Self;
    fn first(self) -> f64;
}

#[derive(Clone, Copy)]
struct Portable([f64; 8]);

impl Group for Portable {
    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        Portable(std::array::from_fn(|j| s[j]))
    }
    #[inline(always)]
    fn store(self, out: &mut [f64]) {
        out[..8].copy_from_slice(&self.0);
    }
    #[inline(always)]
    fn splat(v: f64) -> Self {
        Portable([v; 8])
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Portable(std::array::from_fn(|j| self.0[j] + o.0[j]))
    }
    #[inline(always)]
    fn fadd(self, o: Self, _one: Self) -> Self {
        self.add(o)
    }
    #[inline(always)]
    fn shift<const K: usize>(self) -> Self {
        Portable(std::array::from_fn(|j| if j >= K { self.0[j - K] } else { 0.0 }))
    }
    #[inline(always)]
    fn last(self) -> Self {
        Portable([self.0[7]; 8])
    }
    #[inline(always)]
    fn add_if_finite(self, c: Self) -> Self {
        Portable(std::array::from_fn(|j| if self.0[j].is_finite() { self.0[j] + c.0[j] } else { self.0[j] }))
    }
    #[inline(always)]
    fn first(self) -> f64 {
        self.0[0]
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Group;
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(super) struct Avx512(__m512d);

    // SAFETY (every `unsafe` block here): only reached from `scan_avx512`, compiled with AVX-512F
    // and called only when `simd::level()` reports it; loads and stores touch the 8 elements that
    // the slice index in each method checks.
    impl Group for Avx512 {
        #[inline(always)]
        fn load(s: &[f64]) -> Self {
            Avx512(unsafe { _mm512_loadu_pd(s[..8].as_ptr()) })
        }
        #[inline(always)]
        fn store(self, out: &mut [f64]) {
            unsafe { _mm512_storeu_pd(out[..8].as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn splat(v: f64) -> Self {
            Avx512(unsafe { _mm512_set1_pd(v) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx512(unsafe { _mm512_add_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn fadd(self, o: Self, one: Self) -> Self {
            Avx512(unsafe { _mm512_fmadd_pd(self.0, one.0, o.0) })
        }
        #[inline(always)]
        fn shift<const K: usize>(self) -> Self {
            // valignq over (self : zero) by 8 - K lanes: [0; K] followed by self's lanes 0..8-K.
            // SAFETY: AVX-512F, as for the other methods.
            Avx512(unsafe { shift_lanes::<K>(self.0) })
        }
        #[inline(always)]
        fn last(self) -> Self {
            Avx512(unsafe { _mm512_permutexvar_pd(_mm512_set1_epi64(7), self.0) })
        }
        #[inline(always)]
        fn add_if_finite(self, c: Self) -> Self {
            unsafe {
                // |v| < inf is false for infinities and NaN: exactly `is_finite`.
                let abs = _mm512_abs_pd(self.0);
                let finite = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(abs, _mm512_set1_pd(f64::INFINITY));
                Avx512(_mm512_mask_add_pd(self.0, finite, self.0, c.0))
            }
        }
        #[inline(always)]
        fn first(self) -> f64 {
            unsafe { _mm512_cvtsd_f64(self.0) }
        }
    }

    /// The lane shifts written out (`valignq`, and `vinsertf64x4` for four lanes): from the same
    /// shuffle by intrinsics LLVM makes `vexpandpd` for the shifts by one and two, which runs
    /// slowly on AMD's Zen 4. Measured there on 4 096 doubles: 3.3 µs with `vexpandpd`, 1.24 µs
    /// with `valignq` for all three shifts, 0.96 µs with `vinsertf64x4` for the shift by four (and
    /// the adds shared with the FMA units, see `Group::fadd`).
    ///
    /// SAFETY: the CPU has AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn shift_lanes<const K: usize>(v: __m512d) -> __m512d {
        let z = _mm512_setzero_pd();
        let r: __m512d;
        // SAFETY: register-only instruction of AVX-512F.
        unsafe {
            match K {
                1 => std::arch::asm!("valignq {r}, {v}, {z}, 7", r = lateout(zmm_reg) r, v = in(zmm_reg) v, z = in(zmm_reg) z, options(pure, nomem, nostack)),
                2 => std::arch::asm!("valignq {r}, {v}, {z}, 6", r = lateout(zmm_reg) r, v = in(zmm_reg) v, z = in(zmm_reg) z, options(pure, nomem, nostack)),
                _ => std::arch::asm!("vinsertf64x4 {r}, {z}, {v:y}, 1", r = lateout(zmm_reg) r, v = in(zmm_reg) v, z = in(zmm_reg) z, options(pure, nomem, nostack)),
            }
        }
        r
    }

    impl Avx512 {
        #[inline(always)]
        pub(super) fn raw(self) -> __m512d {
            self.0
        }
    }
}

/// The inclusive prefix of eight lanes: three shifted adds.
#[inline(always)]
fn prefix<G: Group>(v: G) -> G {
    let a = v.add(v.shift::<1>());
    let b = a.add(a.shift::<2>());
    b.add(b.shift::<4>())
}

/// `prefix`, its adds on the multiply-add units (`Group::fadd`): the same bits.
#[inline(always)]
fn prefix_fma<G: Group>(v: G, one: G) -> G {
    let a = v.fadd(v.shift::<1>(), one);
    let b = a.fadd(a.shift::<2>(), one);
    b.fadd(b.shift::<4>(), one)
}

/// Where a scan stands: the chunk offset `(base, carry)` and the running total so far.
#[derive(Clone, Copy)]
struct State {
    base: f64,
    carry: f64,
    run: f64,
}

/// Sixteen elements: two groups' prefixes on top of the running total, which then advances by
/// both groups' totals (one add on the dependency chain).
#[inline(always)]
fn step<G: Group, const CARRY: bool, const BASE: bool>(src: &[f64], dst: &mut [f64], run: &mut G, base: G, carry: G, one: G) {
    let (oa, ob) = step_values::<G, CARRY, BASE>(src, run, base, carry, one);
    oa.store(&mut dst[..8]);
    ob.store(&mut dst[8..16]);
}

/// `step`'s two output groups, without storing them. Without `CARRY` (a carry of +0) the last
/// add is left out: it would change no bit, because `base + (..)` is never -0 (the offset starts
/// from +0 and exact cancellation rounds to +0) and `v + 0 == v` for every other finite `v`. The
/// first chunk, and so every input up to 64 Ki elements, has no carry (measured on 4 096 doubles:
/// see `cumsum`). Without `BASE` (an offset of +0, as in the first chunk) the offset's add is left
/// out too: `+0 + v == v` for every `v` but -0, and `run + (..)` is never -0 (the running total
/// starts at +0, and a sum is -0 only when both terms are). About half the adds run on the FMA
/// units (`Group::fadd`).
#[inline(always)]
fn step_values<G: Group, const CARRY: bool, const BASE: bool>(src: &[f64], run: &mut G, base: G, carry: G, one: G) -> (G, G) {
    let ca = prefix(G::load(&src[..8]));
    let cb = prefix_fma(G::load(&src[8..16]), one);
    let (pa, pb) = (ca.last(), cb.last());
    let (mut oa, mut ob) = (run.add(ca), run.add(pa).fadd(cb, one));
    if BASE {
        (oa, ob) = (base.add(oa), base.fadd(ob, one));
    }
    if CARRY {
        (oa, ob) = (oa.add_if_finite(carry), ob.add_if_finite(carry));
    }
    *run = run.fadd(pa.add(pb), one);
    (oa, ob)
}

/// Scans `x` into `out` (same length) from `state` and returns the state after it. Pieces scanned
/// one after the other give the same bits as one scan when every piece but the last has a
/// multiple of 16 elements.
#[inline(always)]
fn scan_body<G: Group, const CARRY: bool, const BASE: bool>(x: &[f64], out: &mut [f64], state: State) -> State {
    let (base, carry) = (G::splat(state.base), G::splat(state.carry));
    let one = G::splat(std::hint::black_box(1.0));
    let mut run = G::splat(state.run);
    let full = x.len() / 16 * 16;
    for (src, dst) in x[..full].chunks_exact(16).zip(out[..full].chunks_exact_mut(16)) {
        prefetch(src, PREFETCH);
        step::<G, CARRY, BASE>(src, dst, &mut run, base, carry, one);
    }
    let rest = x.len() - full;
    if rest > 0 {
        let mut src = [0.0f64; 16];
        let mut dst = [0.0f64; 16];
        src[..rest].copy_from_slice(&x[full..]);
        step::<G, CARRY, BASE>(&src, &mut dst, &mut run, base, carry, one);
        out[full..].copy_from_slice(&dst[..rest]);
    }
    State { run: run.first(), ..state }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn scan_avx512<const CARRY: bool, const BASE: bool>(x: &[f64], out: &mut [f64], state: State) -> State {
    scan_body::<x86::Avx512, CARRY, BASE>(x, out, state)
}

/// `scan_body` for a large output on AVX-512, with streaming stores (see `stream`). The groups of
/// eight stay where they are relative to the chunk (the bits depend on them); the output's 64-byte
/// lines start `H` elements into each group, so each line is the end of one group and the start of
/// the next (`valignq`), stored with a streaming store. The first `H` and the last `8 - H` elements
/// of the range are stored plainly. `x.len()` must be a multiple of 16, and `out` must start `H`
/// elements before a line boundary.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn scan_stream_avx512<const H: i32>(x: &[f64], out: &mut [f64], state: State, next: &[f64]) -> State {
    use std::arch::x86_64::*;
    debug_assert!(x.len().is_multiple_of(16) && x.len() == out.len());
    debug_assert!(H == 0 || (out.as_ptr() as usize / 8) % 8 == 8 - H as usize);
    let (base, carry) = (x86::Avx512::splat(state.base), x86::Avx512::splat(state.carry));
    let one = x86::Avx512::splat(std::hint::black_box(1.0));
    let mut run = x86::Avx512::splat(state.run);
    let dst = out.as_mut_ptr();
    // The group before the current one, whose lanes H..8 begin the next line.
    let mut prev = _mm512_setzero_pd();
    let line = |at: usize, lo: __m512d, hi: __m512d| {
        // SAFETY (this closure and the stores below): `at + 8 <= out.len()` for every line (each
        // spans the tails and heads of two groups inside `out`), and `dst + at` is 64-byte aligned
        // there by the caller's choice of H; AVX-512F is enabled for this function.
        unsafe {
            let v = if H == 0 { hi } else { _mm512_castsi512_pd(_mm512_alignr_epi64::<H>(_mm512_castpd_si512(hi), _mm512_castpd_si512(lo))) };
            _mm512_stream_pd(dst.add(at), v);
        }
    };
    let mut g = 0; // groups done
    for (i, src) in x.chunks_exact(16).enumerate() {
        // This chunk is in L2 already (its total was just taken); ask for the next chunk this
        // thread will take, a line per eight elements scanned, so that its total does not wait on
        // memory while this scan runs from cache. Rust harness, 32 Mi doubles, 2 threads, best of
        // 9, four interleaved rounds: 36.7-42.3 -> 42.7-43.2 GB/s (the prefetch it replaces, 8 KiB
        // ahead in this chunk, asked for lines already in L2).
        if let Some(ahead) = next.get(16 * i..16 * i + 16) {
            prefetch(ahead, 0);
            prefetch(&ahead[8..], 0);
        }
        let (oa, ob) = step_values::<_, true, true>(src, &mut run, base, carry, one);
        for o in [oa, ob] {
            let v = o.raw();
            if H == 0 {
                line(8 * g, v, v);
            } else if g == 0 {
                // SAFETY: out has at least 16 elements; the first H go plainly.
                unsafe { _mm512_mask_storeu_pd(dst, (1u8 << H) - 1, v) };
            } else {
                line(8 * (g - 1) + H as usize, prev, v);
            }
            prev = v;
            g += 1;
        }
    }
    if H != 0 && g > 0 {
        // The last group's lanes H..8 end the range.
        // SAFETY: the lanes H..8 of the last group are out[8 * (g - 1) + H .. 8 * g].
        unsafe { _mm512_mask_storeu_pd(dst.add(8 * (g - 1)), !((1u8 << H) - 1), prev) };
    }
    super::stream::fence();
    State { run: run.first(), ..state }
}

/// `scan` into a large output: streaming stores on AVX-512 for the multiple-of-16 part, then the
/// rest as `scan` does (pieces of multiples of 16 continue one scan's bits).
fn scan_streaming(x: &[f64], out: &mut [f64], state: State, next: &[f64]) -> State {
    #[cfg(target_arch = "x86_64")]
    if level() == SimdLevel::Avx512 {
        let full = x.len() / 16 * 16;
        let misaligned = (out.as_ptr() as usize / 8) % 8;
        let h = (8 - misaligned) % 8;
        let (xa, xr) = x.split_at(full);
        let (oa, or) = out.split_at_mut(full);
        // SAFETY (each arm): AVX-512F is what `level()` reported; `h` matches `out`'s alignment.
        let state = unsafe {
            match h {
                0 => scan_stream_avx512::<0>(xa, oa, state, next),
                1 => scan_stream_avx512::<1>(xa, oa, state, next),
                2 => scan_stream_avx512::<2>(xa, oa, state, next),
                3 => scan_stream_avx512::<3>(xa, oa, state, next),
                4 => scan_stream_avx512::<4>(xa, oa, state, next),
                5 => scan_stream_avx512::<5>(xa, oa, state, next),
                6 => scan_stream_avx512::<6>(xa, oa, state, next),
                _ => scan_stream_avx512::<7>(xa, oa, state, next),
            }
        };
        return scan(xr, or, state);
    }
    scan(x, out, state)
}

/// AVX2 has no single-instruction lane shift across its two 128-bit halves; the array form,
/// compiled for AVX2, runs the same operations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_avx2<const CARRY: bool, const BASE: bool>(x: &[f64], out: &mut [f64], state: State) -> State {
    scan_body::<Portable, CARRY, BASE>(x, out, state)
}

fn scan(x: &[f64], out: &mut [f64], state: State) -> State {
    match (state.carry.to_bits() != 0, state.base.to_bits() != 0) {
        (false, false) => scan_at::<false, false>(x, out, state),
        (false, true) => scan_at::<false, true>(x, out, state),
        (true, false) => scan_at::<true, false>(x, out, state),
        (true, true) => scan_at::<true, true>(x, out, state),
    }
}

fn scan_at<const CARRY: bool, const BASE: bool>(x: &[f64], out: &mut [f64], state: State) -> State {
    #[cfg(target_arch = "x86_64")]
    match level() {
        // SAFETY: `level()` only reports a level whose features the CPU has.
        SimdLevel::Avx512 => return unsafe { scan_avx512::<CARRY, BASE>(x, out, state) },
        SimdLevel::Avx2 => return unsafe { scan_avx2::<CARRY, BASE>(x, out, state) },
        SimdLevel::Portable => {}
    }
    scan_body::<Portable, CARRY, BASE>(x, out, state)
}

/// The compensated total of one chunk, from the same blocks as `sum`; with an infinity or NaN in
/// the chunk, its plain total and no carry.
fn chunk_total<T: Element>(x: &[T]) -> Compensated {
    let mut acc = Compensated::default();
    let mut plain = 0.0;
    for block in x.chunks(BLOCK) {
        let b = sum_block(block);
        acc.add(b);
        plain += b;
    }
    if plain.is_finite() {
        acc
    } else {
        Compensated { sum: plain, carry: 0.0 }
    }
}

/// A chunk's starting offset from the compensated and plain totals of the chunks before it.
fn offset(acc: Compensated, plain: f64) -> (f64, f64) {
    if plain.is_finite() {
        (acc.sum, acc.carry)
    } else {
        (plain, 0.0)
    }
}

/// Elements converted to f64 (and results converted back) this many at a time for f32.
const STAGE: usize = 1024;

/// `out[i] = x[0] + ... + x[i]`, accumulated in f64 and rounded once to `T`.
/// `x` is `Some` for a separate input and `None` to scan `out` in place.
///
/// One pass over memory: each chunk's total is taken just before the chunk is scanned, so the
/// scan reads it again from L2 (a chunk is 512 KiB of f64) instead of from memory. Chunks go to
/// the pool threads in order, and a chunk's offset is its predecessor's offset plus the
/// predecessor's total, combined in chunk order whichever thread took them: the same operations
/// in the same order as two separate passes, so the same bits for every pool size.
pub fn cumsum<T: Element>(ctx: &JobCtx, x: Option<&[T]>, out: &mut [T]) -> CoreResult<()> {
    if let Some(x) = x {
        debug_assert_eq!(x.len(), out.len());
    }
    // Prefix sums of a leading run of -0 are -0 (see `leading_negative_zeros`); the scan's
    // accumulators start at +0, so the run is put back after it. Counted first: in place, the
    // scan overwrites `x`.
    let negative_zeros = super::leading_negative_zeros(x.unwrap_or(out));
    let result = cumsum_unsigned(ctx, x, out);
    for o in &mut out[..negative_zeros] {
        *o = T::from_f64(-0.0);
    }
    result
}

fn cumsum_unsigned<T: Element>(ctx: &JobCtx, x: Option<&[T]>, out: &mut [T]) -> CoreResult<()> {
    let n = out.len();
    let stream = x.is_some() && super::stream::streams::<T>(n);
    let chunks = n.div_ceil(CHUNK);
    let workers = if ctx.is_parallel() { rayon::current_num_threads().min(chunks) } else { 1 };
    if workers <= 1 {
        let mut prefix = Prefix::default();
        for (i, piece) in out.chunks_mut(CHUNK).enumerate() {
            ctx.checkpoint()?;
            let src = x.map(|x| &x[i * CHUNK..i * CHUNK + piece.len()]);
            let next = x.map(|x| &x[((i + 1) * CHUNK).min(n)..((i + 2) * CHUNK).min(n)]);
            let (base, carry) = prefix.offset();
            if i + 1 < chunks {
                prefix.add(chunk_total(src.unwrap_or(piece)));
            }
            scan_chunk(src, piece, base, carry, stream, next);
        }
        return Ok(());
    }
    let chain = Chain::new(chunks);
    let dst = SharedOut { ptr: out.as_mut_ptr(), len: n };
    let work = || -> CoreResult<()> {
        let _guard = chain.abort_on_unwind();
        loop {
            let Some(i) = chain.take() else { return Ok(()) };
            if let Err(e) = ctx.checkpoint() {
                chain.abort();
                return Err(e);
            }
            let range = i * CHUNK..((i + 1) * CHUNK).min(n);
            // SAFETY: `take` hands out each chunk index once, so this task alone touches these
            // positions of `out`; `out` outlives the parallel section.
            let piece = unsafe { dst.slice(range.clone()) };
            let src = x.map(|x| &x[range]);
            // Chunks go out in order, so with `workers` threads this one's next is most likely
            // `workers` chunks on.
            let next = x.map(|x| &x[((i + workers) * CHUNK).min(n)..((i + workers + 1) * CHUNK).min(n)]);
            let total = (i + 1 < chunks).then(|| chunk_total(src.unwrap_or(piece)));
            let Some(prefix) = chain.wait_for(i) else { return Ok(()) };
            let (base, carry) = prefix.offset();
            if let Some(total) = total {
                let mut next = prefix;
                next.add(total);
                chain.publish(i, next);
            }
            scan_chunk(src, piece, base, carry, stream, next);
        }
    };
    ctx.run_workers(workers, work)
}

/// The compensated sum of the chunks so far, and their plain sum (which carries an infinity or
/// NaN, past which the compensation means nothing).
#[derive(Clone, Copy, Default)]
struct Prefix {
    acc: Compensated,
    plain: f64,
}

impl Prefix {
    fn add(&mut self, t: Compensated) {
        self.acc.add(t.sum);
        self.acc.add(t.carry);
        self.plain += t.sum;
    }

    fn offset(&self) -> (f64, f64) {
        offset(self.acc, self.plain)
    }
}

/// The chunks' prefixes as the threads finish them: chunk `i`'s entry is the prefix of chunks
/// `0..=i`, set once, then read by whichever thread takes chunk `i + 1`.
struct Chain {
    next: AtomicUsize,
    ready: Vec<AtomicBool>,
    prefixes: Vec<[AtomicU64; 3]>,
    aborted: AtomicBool,
}

impl Chain {
    fn new(chunks: usize) -> Self {
        Chain {
            next: AtomicUsize::new(0),
            ready: (0..chunks).map(|_| AtomicBool::new(false)).collect(),
            prefixes: (0..chunks).map(|_| [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]).collect(),
            aborted: AtomicBool::new(false),
        }
    }

    /// The next chunk to do, in order; `None` when all are taken or the scan stopped.
    fn take(&self) -> Option<usize> {
        if self.aborted.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.ready.len()).then_some(i)
    }

    fn publish(&self, i: usize, p: Prefix) {
        let slot = &self.prefixes[i];
        slot[0].store(p.acc.sum.to_bits(), Ordering::Relaxed);
        slot[1].store(p.acc.carry.to_bits(), Ordering::Relaxed);
        slot[2].store(p.plain.to_bits(), Ordering::Relaxed);
        self.ready[i].store(true, Ordering::Release);
    }

    /// The prefix before chunk `i`, once its predecessor is published; `None` if the scan stopped
    /// (a cancel or a panic elsewhere). The predecessor was taken before `i` by a thread that is
    /// running it now, so the wait is short and always ends.
    fn wait_for(&self, i: usize) -> Option<Prefix> {
        if i == 0 {
            return Some(Prefix::default());
        }
        let mut spins = 0u32;
        while !self.ready[i - 1].load(Ordering::Acquire) {
            if self.aborted.load(Ordering::Relaxed) {
                return None;
            }
            spins += 1;
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let slot = &self.prefixes[i - 1];
        let f = |k: usize| f64::from_bits(slot[k].load(Ordering::Relaxed));
        Some(Prefix { acc: Compensated { sum: f(0), carry: f(1) }, plain: f(2) })
    }

    fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }

    /// Stops the others if this thread unwinds (they would wait for its chunk forever).
    fn abort_on_unwind(&self) -> impl Drop + '_ {
        struct Guard<'c>(&'c Chain);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.abort();
                }
            }
        }
        Guard(self)
    }
}

/// `out` for tasks that write disjoint chunks of it.
struct SharedOut<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tasks only reach `out` through `slice`, each for chunks handed to it alone.
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// SAFETY: `r` is in bounds and no other task touches it while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, r: std::ops::Range<usize>) -> &mut [T] {
        debug_assert!(r.start <= r.end && r.end <= self.len);
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

/// One chunk: f64 data is scanned where it lies; f32 data, and f64 scanned in place, go through a
/// small f64 buffer, stage by stage (each stage continuing the scan's state).
///
/// `stream`: a large output (see `stream`), written with streaming stores where the level allows.
fn scan_chunk<T: Element>(src: Option<&[T]>, piece: &mut [T], base: f64, carry: f64, stream: bool, next: Option<&[T]>) {
    let mut state = State { base, carry, run: 0.0 };
    if let (Some(s), Some(o)) = (src.and_then(f64_view), f64_view_mut(piece)) {
        if stream {
            scan_streaming(s, o, state, next.and_then(f64_view).unwrap_or(&[]));
        } else {
            scan(s, o, state);
        }
        return;
    }
    let (mut xs, mut ys) = ([0.0f64; STAGE], [0.0f64; STAGE]);
    let mut start = 0;
    while start < piece.len() {
        let n = (piece.len() - start).min(STAGE);
        for i in 0..n {
            xs[i] = match src {
                Some(s) => s[start + i].to_f64(),
                None => piece[start + i].to_f64(),
            };
        }
        state = scan(&xs[..n], &mut ys[..n], state);
        for i in 0..n {
            piece[start + i] = T::from_f64(ys[i]);
        }
        start += n;
    }
}

fn f64_view<T: Element>(s: &[T]) -> Option<&[f64]> {
    (T::KIND == super::element::Kind::F64).then(|| {
        // SAFETY: T is f64 (checked through its KIND), so the slice is a slice of f64.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f64>(), s.len()) }
    })
}

fn f64_view_mut<T: Element>(s: &mut [T]) -> Option<&mut [f64]> {
    (T::KIND == super::element::Kind::F64).then(|| {
        // SAFETY: as in `f64_view`; the borrow of `s` is moved into the result.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f64>(), s.len()) }
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::runtime::JobState;

    fn run(x: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; x.len()];
        cumsum(&JobCtx::inline(), Some(x), &mut out).unwrap();
        out
    }

    #[test]
    fn exact_on_integers_and_the_same_for_every_pool_and_in_place() {
        let x: Vec<f64> = (0..300_001).map(|i| ((i * 7919) % 1000) as f64 - 500.0).collect();
        let mut s = 0.0;
        let want: Vec<f64> = x.iter().map(|v| (s += v, s).1).collect();
        assert_eq!(run(&x), want);
        let y: Vec<f64> = (0..300_001).map(|i| (i as f64 * 0.1).sin() * 1e10 + 1e-6).collect();
        let inline = run(&y);
        for threads in [1, 2, 3, 8] {
            let state = JobState::new();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut got = y.clone();
            pool.install(|| cumsum(&JobCtx::for_pool(&state), None, &mut got)).unwrap();
            assert!(got.iter().zip(&inline).all(|(a, b)| a.to_bits() == b.to_bits()), "threads={threads}");
        }
    }

    #[test]
    fn a_cancelled_scan_stops_on_every_pool_without_waiting_forever() {
        let x = vec![1.0f64; CHUNK * 9 + 3];
        for threads in [1, 2, 4] {
            let state = JobState::new();
            assert!(state.start());
            state.cancel();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut out = vec![0.0; x.len()];
            let err = pool.install(|| cumsum(&JobCtx::for_pool(&state), Some(&x), &mut out)).unwrap_err();
            assert_eq!(err.code, crate::error::ErrorCode::Aborted, "threads={threads}");
        }
    }

    #[test]
    fn streamed_output_has_the_bits_of_the_in_place_scan() {
        // Past STREAM_FROM a separate f64 input streams its output (on AVX-512); in place it does
        // not. Both must give the same bits at every alignment of `out`, with and without a
        // remainder, inline and pooled, and leave the elements around `out` alone.
        let n = super::super::stream::STREAM_FROM / 8 + 1001;
        let x: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.731).sin() * 1e3 + if i % 97 == 0 { 1e9 } else { 0.0 }).collect();
        let state = JobState::new();
        for shift in 0..8usize {
            let m = n - shift - (shift % 2) * 7;
            let mut backing = vec![-7.0f64; n + 8];
            let out = &mut backing[shift..shift + m];
            cumsum(&JobCtx::inline(), Some(&x[..m]), out).unwrap();
            let mut in_place = x[..m].to_vec();
            cumsum(&JobCtx::inline(), None, &mut in_place).unwrap();
            assert!(out.iter().zip(&in_place).all(|(a, b)| a.to_bits() == b.to_bits()), "shift {shift}");
            assert!(backing[..shift].iter().chain(&backing[shift + m..]).all(|&v| v == -7.0), "shift {shift}");
            let mut pooled = vec![0.0f64; m + 1];
            let out = &mut pooled[1..];
            rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| cumsum(&JobCtx::for_pool(&state), Some(&x[..m]), out)).unwrap();
            assert!(out.iter().zip(&in_place).all(|(a, b)| a.to_bits() == b.to_bits()), "pooled, shift {shift}");
        }
    }

    #[test]
    fn a_zero_carry_leaves_out_an_add_that_changes_no_bit() {
        // Signed zeros, subnormals, infinities, NaN and ordinary values, from offsets of both
        // signs and from zero: the scan without the carry add equals the one with a +0 carry.
        let specials = [0.0, -0.0, 5e-324, -5e-324, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1.5, -1.5, 1e300, -1e-300];
        let x: Vec<f64> = (0..1000).map(|i| if i % 7 == 0 { specials[(i / 7) % specials.len()] } else { ((i as f64) * 0.37).sin() }).collect();
        for base in [0.0, 3.25, -2.5e-310, 1e308] {
            for len in [1, 15, 16, 17, 333, 1000] {
                let state = State { base, carry: 0.0, run: 0.0 };
                let (mut a, mut b) = (vec![0.0; len], vec![0.0; len]);
                // Without the carry add (and, from a +0 offset, the offset add) against both adds.
                let sa = if base.to_bits() == 0 { scan_at::<false, false>(&x[..len], &mut a, state) } else { scan_at::<false, true>(&x[..len], &mut a, state) };
                let sb = scan_at::<true, true>(&x[..len], &mut b, state);
                assert_eq!(sa.run.to_bits(), sb.run.to_bits());
                // NaN for NaN: which NaN (sign, payload) is not specified (IEEE 754 leaves it open,
                // and LLVM may commute the portable adds); every other value bit for bit.
                let same = |p: f64, q: f64| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan());
                if let Some(i) = a.iter().zip(&b).position(|(p, q)| !same(*p, *q)) {
                    panic!("base {base} len {len} at {i}: {:e} vs {:e}", a[i], b[i]);
                }
            }
        }
    }

    #[test]
    fn f32_is_the_f64_scan_rounded_once() {
        let x: Vec<f32> = (0..5_000).map(|i| (i as f32 * 0.37).cos()).collect();
        let wide: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let want: Vec<f32> = run(&wide).iter().map(|&v| v as f32).collect();
        let mut got = vec![0.0f32; x.len()];
        cumsum(&JobCtx::inline(), Some(&x), &mut got).unwrap();
        assert_eq!(got, want);
        let mut inplace = x.clone();
        cumsum(&JobCtx::inline(), None, &mut inplace).unwrap();
        assert_eq!(inplace, want);
    }

    #[test]
    fn special_values_propagate() {
        let sp = run(&[1.0, f64::INFINITY, 1.0, f64::NEG_INFINITY, 2.0]);
        assert_eq!(sp[..3], [1.0, f64::INFINITY, f64::INFINITY]);
        assert!(sp[3].is_nan() && sp[4].is_nan());
        // An infinity in an early chunk keeps every later output infinite, not NaN.
        let mut x = vec![1.0; CHUNK * 2 + 5];
        x[3] = f64::INFINITY;
        assert!(run(&x)[CHUNK..].iter().all(|&v| v == f64::INFINITY));
    }

    #[test]
    fn error_stays_within_the_blocked_bound() {
        // Mixed magnitudes and signs over several chunks; the reference is exact per prefix.
        let n = CHUNK * 3 + 77;
        let x: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.61).sin() * 10f64.powi((i % 7) as i32 - 3)).collect();
        let got = run(&x);
        let mut mag = 0.0;
        for i in (0..n).step_by(997) {
            let exact = crate::kernels::fsum::fsum(&x[..=i]);
            mag = x[..=i].iter().map(|v| v.abs()).sum::<f64>();
            let k = (i % CHUNK) as f64;
            let bound = (k / 8.0 + 6.0) * f64::EPSILON * mag;
            assert!((got[i] - exact).abs() <= bound, "i={i}: got {} exact {exact} bound {bound}", got[i]);
        }
        assert!(mag > 0.0);
    }
}
