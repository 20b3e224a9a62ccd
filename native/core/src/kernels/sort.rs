//! Order statistics: sort, argsort, quantile, histogram.
//!
//! Sorting is a radix sort with 11-bit digits on an order-preserving map of each value's bits to an
//! unsigned key: for floats, negative values have all bits flipped and the rest only the sign bit,
//! so -0 sorts just before +0 and -inf first. NaNs (of any sign or payload) get the largest key, so
//! they end last in input order, which is exactly where `TypedArray.prototype.sort` puts them; `sort`
//! writes their own bits back there.
//!
//! `sort` is memory-bound, so it moves the data as few times as it can: one parallel pass makes
//! the keys and counts the top digit per piece, one parallel scatter (through per-digit
//! write-combining buffers, a cache line at a time) splits by that digit, and then groups of
//! buckets are sorted over the pool, each in cache: buckets over `LEAF` keys are split again,
//! mid-sized ones split once more by MSD and finish by insertion sort, larger in-cache ones run
//! LSD passes (constant digits skipped). `argsort` runs LSD passes over the whole input (11-bit
//! digits, every digit's counts in one pass up front, constant digits skipped, the next pass's
//! per-piece counts gathered while scattering). Both are stable where it matters and the sorted
//! order is unique, so the thread count cannot change any result.

use super::Element;
use crate::error::{CoreError, CoreResult};
use crate::runtime::JobCtx;

const DIGIT_BITS: u32 = 11;
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

    /// Reads position `i`. SAFETY: `i < len`, and no task writes `i` during this pass but the reader.
    #[inline(always)]
    unsafe fn get(&self, i: usize) -> T {
        debug_assert!(i < self.len);
        unsafe { self.ptr.add(i).read() }
    }

    /// Pointer to position `i <= len`. SAFETY: as `ptr.add`.
    #[inline(always)]
    unsafe fn at(&self, i: usize) -> *mut T {
        debug_assert!(i <= self.len);
        unsafe { self.ptr.add(i) }
    }

    /// SAFETY: `i < len` and no other task writes position `i` during this pass.
    #[inline(always)]
    unsafe fn put(&self, i: usize, v: T) {
        debug_assert!(i < self.len);
        unsafe { self.ptr.add(i).write(v) }
    }
}

/// Per-piece digit counts: `counts[piece * BUCKETS + digit]`.
type Counts = Vec<u32>;

/// The piece of `pos` for pieces of `piece` elements: `pos / piece` by a multiply-high with
/// `magic = ceil(2^64 / piece)`, exact while `pos * piece < 2^64` (here both are below 2^32).
#[inline(always)]
fn piece_of(pos: usize, magic: u64) -> usize {
    ((pos as u128 * magic as u128) >> 64) as usize
}

/// Keys staged per digit before they go out together: one 64-byte line of u64 keys.
const WC: usize = 8;

/// Scatters `src[r]` (and `isrc[r]`) to `dst` by the digit at `shift`, starting from this piece's
/// offsets `off` (one per digit). Writes go through small per-digit buffers flushed a whole
/// destination cache line at a time (software write-combining): 2048 open streams of single
/// stores would miss the TLB and the L1 nearly every time. With `NEXT`, also counts the digit at
/// `next.0` per destination piece (`next.1` is `piece_of`'s magic, `next.2` the piece count), for
/// the next pass's offsets.
///
/// SAFETY: `off` are this piece's own disjoint runs of positions in `dst`/`idst` (in bounds), and
/// `r` is in bounds of `src` and `isrc` (when `IDX`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn scatter_piece<const IDX: bool, const NEXT: bool>(
    src: &[u64],
    isrc: &[u32],
    r: std::ops::Range<usize>,
    shift: u32,
    off: &mut [usize; BUCKETS],
    kdst: &Scatter<u64>,
    idst: &Scatter<u32>,
    next: (u32, u64, usize),
) -> Counts {
    let mut nc: Counts = if NEXT { vec![0u32; next.2 * BUCKETS] } else { Vec::new() };
    let lo: Box<[usize; BUCKETS]> = Box::new(*off);
    let mut wk = vec![0u64; BUCKETS * WC];
    let mut wi = if IDX { vec![0u32; BUCKETS * WC] } else { Vec::new() };
    let offp = off.as_mut_ptr();
    let ncp = nc.as_mut_ptr();
    let wkp = wk.as_mut_ptr();
    let wip = wi.as_mut_ptr();
    // Copies the staged slots of digit `d` for positions `begin..end` (within one line) out.
    let flush = |d: usize, begin: usize, end: usize| {
        let s = begin & (WC - 1);
        // SAFETY: `begin..end` lies in one line of `d`'s run for this piece; the slots are staged.
        unsafe {
            std::ptr::copy_nonoverlapping(wkp.add(d * WC + s), kdst.ptr.add(begin), end - begin);
            if IDX {
                std::ptr::copy_nonoverlapping(wip.add(d * WC + s), idst.ptr.add(begin), end - begin);
            }
        }
    };
    for i in r {
        // SAFETY: `i` in bounds (caller); digits are below BUCKETS; slots below BUCKETS * WC.
        unsafe {
            let k = *src.get_unchecked(i);
            let d = ((k >> shift) as usize) & (BUCKETS - 1);
            let o = *offp.add(d);
            *offp.add(d) = o + 1;
            let slot = d * WC + (o & (WC - 1));
            *wkp.add(slot) = k;
            if IDX {
                *wip.add(slot) = *isrc.get_unchecked(i);
            }
            if NEXT {
                let nd = ((k >> next.0) as usize) & (BUCKETS - 1);
                *ncp.add(piece_of(o, next.1) * BUCKETS + nd) += 1;
            }
            if (o + 1) & (WC - 1) == 0 {
                let begin = o + 1 - WC;
                if begin >= *lo.get_unchecked(d) {
                    // A whole line: a fixed-size copy the compiler inlines.
                    std::ptr::copy_nonoverlapping(wkp.add(d * WC) as *const [u64; WC], kdst.at(begin) as *mut [u64; WC], 1);
                    if IDX {
                        std::ptr::copy_nonoverlapping(wip.add(d * WC) as *const [u32; WC], idst.at(begin) as *mut [u32; WC], 1);
                    }
                } else {
                    flush(d, *lo.get_unchecked(d), o + 1);
                }
            }
        }
    }
    for d in 0..BUCKETS {
        let end = off[d];
        let begin = (end & !(WC - 1)).max(lo[d]);
        if begin < end {
            flush(d, begin, end);
        }
    }
    nc
}

/// Sorts `keys` (and `idx` alongside, when given) by LSD radix over the low `bits` bits, with
/// `counts` the per-piece histograms of every digit of `keys` as given (pieces of `piece`
/// elements; `counts[p][pass * BUCKETS + digit]`). Passes whose digit is the same for every key
/// are skipped. `kbuf`/`ibuf` are scratch of the same lengths.
#[allow(clippy::too_many_arguments)]
fn radix_passes(
    ctx: &JobCtx,
    keys: &mut Vec<u64>,
    kbuf: &mut Vec<u64>,
    mut idx: Option<(&mut Vec<u32>, &mut Vec<u32>)>,
    piece: usize,
    counts: &[Vec<u32>],
    bits: u32,
) -> CoreResult<()> {
    let n = keys.len();
    let passes = bits.div_ceil(DIGIT_BITS) as usize;
    let pieces = counts.len();
    let magic = (u64::MAX / piece as u64) + 1; // ceil(2^64 / piece) (exact for a power of two)
    // Totals per pass and digit; a pass is active unless one digit holds every key.
    let mut active = Vec::new();
    for pass in 0..passes {
        let mut trivial = false;
        for d in 0..BUCKETS {
            let t: usize = counts.iter().map(|c| c[pass * BUCKETS + d] as usize).sum();
            if t == n {
                trivial = true;
                break;
            }
        }
        if !trivial {
            active.push(pass);
        }
    }
    // Per-piece counts of the current pass's digit over the current order.
    let mut cur: Vec<u32> = {
        let mut v = vec![0u32; pieces * BUCKETS];
        if let Some(&p0) = active.first() {
            for (p, c) in counts.iter().enumerate() {
                v[p * BUCKETS..(p + 1) * BUCKETS].copy_from_slice(&c[p0 * BUCKETS..(p0 + 1) * BUCKETS]);
            }
        }
        v
    };
    for (ai, &pass) in active.iter().enumerate() {
        ctx.checkpoint()?;
        let shift = pass as u32 * DIGIT_BITS;
        let next_pass = active.get(ai + 1).copied();
        let mut offsets = vec![[0usize; BUCKETS]; pieces];
        let mut at = 0;
        for d in 0..BUCKETS {
            for (p, o) in offsets.iter_mut().enumerate() {
                o[d] = at;
                at += cur[p * BUCKETS + d] as usize;
            }
        }
        debug_assert_eq!(at, n);
        let has_idx = idx.is_some();
        let src: &[u64] = keys;
        let kdst = Scatter::new(kbuf);
        let (isrc, idst): (&[u32], Scatter<u32>) = match idx.as_mut() {
            Some((i, ib)) => (i.as_slice(), Scatter::new(ib)),
            None => (&[], Scatter { ptr: std::ptr::null_mut(), len: 0 }),
        };
        let count_next = pieces > 1 && next_pass.is_some();
        let next = (next_pass.unwrap_or(0) as u32 * DIGIT_BITS, magic, pieces);
        let nexts = ctx.map_chunks(n, piece, |r| {
            let mut off = offsets[r.start / piece];
            // SAFETY: `offsets` gives each piece its own runs of positions, covering 0..n exactly
            // once over all pieces; `r` is within 0..n, the length of every buffer here.
            unsafe {
                match (has_idx, count_next) {
                    (false, false) => scatter_piece::<false, false>(src, isrc, r, shift, &mut off, &kdst, &idst, next),
                    (false, true) => scatter_piece::<false, true>(src, isrc, r, shift, &mut off, &kdst, &idst, next),
                    (true, false) => scatter_piece::<true, false>(src, isrc, r, shift, &mut off, &kdst, &idst, next),
                    (true, true) => scatter_piece::<true, true>(src, isrc, r, shift, &mut off, &kdst, &idst, next),
                }
            }
        })?;
        std::mem::swap(keys, kbuf);
        if let Some((i, ib)) = idx.as_mut() {
            std::mem::swap(*i, *ib);
        }
        if let Some(np) = next_pass {
            if count_next {
                cur.iter_mut().for_each(|c| *c = 0);
                for nc in &nexts {
                    for (c, &x) in cur.iter_mut().zip(nc) {
                        *c += x;
                    }
                }
            } else {
                // One piece: its counts are the totals, which do not depend on the order.
                cur.copy_from_slice(&counts[0][np * BUCKETS..(np + 1) * BUCKETS]);
            }
        }
    }
    Ok(())
}

/// Piece size for `n` keys: one piece per pool thread (at least 2^14 keys each).
fn piece_len(ctx: &JobCtx, n: usize) -> usize {
    let tasks = if ctx.is_parallel() { rayon::current_num_threads().max(1) } else { 1 };
    n.div_ceil(tasks).max(1 << 14)
}

/// Keys of the `len` values at `src` (NaNs as `u64::MAX`, after every other key, so a stable sort
/// keeps them last in input order) into `keys` (which may be the very same memory, for 8-byte
/// types), with each piece's histograms of every digit (or of the one at `only`), and the NaNs
/// themselves in input order.
///
/// SAFETY: `src` and `keys` are valid for `len` elements and used by nothing else meanwhile.
unsafe fn make_keys<T: SortKey>(ctx: &JobCtx, src: &Scatter<T>, piece: usize, keys: &Scatter<u64>, only: Option<u32>) -> CoreResult<(Vec<Vec<u32>>, Vec<T>)> {
    let passes = if only.is_some() { 1 } else { T::KEY_BITS.div_ceil(DIGIT_BITS) as usize };
    let base = only.unwrap_or(0);
    let parts = ctx.map_chunks(src.len, piece, |r| {
        let mut c = vec![0u32; passes * BUCKETS];
        let mut nans = Vec::new();
        let cp = c.as_mut_ptr();
        for i in r {
            // SAFETY: `i < len`; this piece alone reads and then writes `i`; every digit index is
            // below `passes * BUCKETS`.
            unsafe {
                let v = src.get(i);
                let k = if v.is_nan() {
                    nans.push(v);
                    if T::KEY_BITS == 64 { u64::MAX } else { (1u64 << T::KEY_BITS) - 1 }
                } else {
                    v.key()
                };
                keys.put(i, k);
                for p in 0..passes {
                    *cp.add(p * BUCKETS + ((k >> (base + p as u32 * DIGIT_BITS)) as usize & (BUCKETS - 1))) += 1;
                }
            }
        }
        (c, nans)
    })?;
    let mut counts = Vec::with_capacity(parts.len());
    let mut nans = Vec::new();
    for (c, v) in parts {
        counts.push(c);
        nans.extend_from_slice(&v);
    }
    Ok((counts, nans))
}

/// Zeroed scratch of `n` elements (fresh pages from the allocator: no zeroing pass here).
fn scratch<E: Copy + Default>(n: usize) -> Vec<E> {
    vec![E::default(); n]
}

/// Buckets at most this long are sorted by `leaf` (in cache); longer ones are split again.
const LEAF: usize = 1 << 16;
/// In-cache inputs at most this long split once more by MSD rather than running every LSD pass.
const SPLIT: usize = 1 << 14;

/// Sorts `src` (keys whose bits from `hi` up are all equal; clobbered) into `dst`, in cache, with
/// `tmp` (as long) and `hist` as scratch: short inputs by insertion sort (keys only: equal keys
/// are identical), mid-sized ones by one more MSD split whose buckets are sorted the same way,
/// larger ones by LSD radix over the low `hi` bits, skipping passes whose digit is constant.
fn leaf(src: &mut [u64], dst: &mut [u64], tmp: &mut [u64], hist: &mut Vec<u32>, hi: u32) {
    let n = src.len();
    debug_assert!(n == dst.len() && n == tmp.len());
    if n <= 48 {
        dst.copy_from_slice(src);
        for i in 1..n {
            let k = dst[i];
            let mut j = i;
            while j > 0 && dst[j - 1] > k {
                dst[j] = dst[j - 1];
                j -= 1;
            }
            dst[j] = k;
        }
        return;
    }
    if n <= SPLIT && hi > DIGIT_BITS {
        let shift = hi - DIGIT_BITS;
        let mut off = [0u32; BUCKETS];
        for &k in src.iter() {
            off[(k >> shift) as usize & (BUCKETS - 1)] += 1;
        }
        let counts = off;
        let mut at = 0;
        for o in off.iter_mut() {
            let c = *o;
            *o = at;
            at += c;
        }
        let starts = off;
        for &k in src.iter() {
            let d = (k >> shift) as usize & (BUCKETS - 1);
            // SAFETY: `d < BUCKETS`; the offsets are an exclusive scan of these keys' digit counts,
            // so every write lands in 0..n once.
            unsafe {
                let o = off.get_unchecked_mut(d);
                *tmp.get_unchecked_mut(*o as usize) = k;
                *o += 1;
            }
        }
        for d in 0..BUCKETS {
            let (lo, c) = (starts[d] as usize, counts[d] as usize);
            if c > 0 {
                let r = lo..lo + c;
                leaf(&mut tmp[r.clone()], &mut dst[r.clone()], &mut src[r], hist, shift);
            }
        }
        return;
    }
    let passes = hi.div_ceil(DIGIT_BITS) as usize;
    hist.clear();
    hist.resize(passes * BUCKETS, 0);
    let hp = hist.as_mut_ptr();
    for &k in src.iter() {
        for p in 0..passes {
            // SAFETY: the index is below passes * BUCKETS.
            unsafe { *hp.add(p * BUCKETS + ((k >> (p as u32 * DIGIT_BITS)) as usize & (BUCKETS - 1))) += 1 };
        }
    }
    let active: Vec<usize> = (0..passes).filter(|&p| !hist[p * BUCKETS..(p + 1) * BUCKETS].contains(&(n as u32))).collect();
    if active.is_empty() {
        dst.copy_from_slice(src);
        return;
    }
    let m = active.len();
    for (j, &p) in active.iter().enumerate() {
        let h = &mut hist[p * BUCKETS..(p + 1) * BUCKETS];
        let mut at = 0u32;
        for c in h.iter_mut() {
            let x = *c;
            *c = at;
            at += x;
        }
        let to_dst = (m - 1 - j).is_multiple_of(2);
        let (from, to): (*const u64, *mut u64) = match (j == 0, to_dst) {
            (true, true) => (src.as_ptr(), dst.as_mut_ptr()),
            (true, false) => (src.as_ptr(), tmp.as_mut_ptr()),
            (false, true) => (tmp.as_ptr(), dst.as_mut_ptr()),
            (false, false) => (dst.as_ptr(), tmp.as_mut_ptr()),
        };
        let shift = p as u32 * DIGIT_BITS;
        let hp = h.as_mut_ptr();
        for i in 0..n {
            // SAFETY: `from`/`to` are distinct buffers of `n` keys; the offsets are an exclusive scan
            // of this digit's counts over these same keys, so every write lands in 0..n, once.
            unsafe {
                let k = *from.add(i);
                let d = (k >> shift) as usize & (BUCKETS - 1);
                let o = *hp.add(d);
                *hp.add(d) = o + 1;
                *to.add(o as usize) = k;
            }
        }
    }
}

/// Per-thread scratch of the bucket sorts.
#[derive(Default)]
struct LeafScratch {
    tmp: Vec<u64>,
    hist: Vec<u32>,
}

/// Sorts `src` (keys equal in every bit from `hi` up) into `dst`, splitting by the top digit
/// below `hi` while buckets are longer than `LEAF`. `src` is clobbered.
fn sort_into(ctx: &JobCtx, src: &mut [u64], dst: &mut [u64], hi: u32, s: &mut LeafScratch) -> CoreResult<()> {
    if src.len() <= LEAF || hi <= DIGIT_BITS {
        if s.tmp.len() < src.len() {
            s.tmp.resize(src.len(), 0);
        }
        leaf(src, dst, &mut s.tmp[..src.len()], &mut s.hist, hi);
        return Ok(());
    }
    ctx.checkpoint()?;
    let shift = hi - DIGIT_BITS;
    let mut counts = [0usize; BUCKETS];
    for &k in src.iter() {
        counts[(k >> shift) as usize & (BUCKETS - 1)] += 1;
    }
    let mut off = [0usize; BUCKETS];
    let mut at = 0;
    for d in 0..BUCKETS {
        off[d] = at;
        at += counts[d];
    }
    let starts = off;
    {
        let kdst = Scatter::new(dst);
        let idst = Scatter { ptr: std::ptr::null_mut(), len: 0 };
        // SAFETY: one piece, its offsets an exclusive scan of the counts of these very keys.
        unsafe { scatter_piece::<false, false>(src, &[], 0..src.len(), shift, &mut off, &kdst, &idst, (0, 0, 0)) };
    }
    for d in 0..BUCKETS {
        let r = starts[d]..starts[d] + counts[d];
        if r.len() > 1 {
            // Sorted back into `src`'s range, then the sorted run moves to `dst` (still in cache for
            // leaf-sized buckets).
            sort_into(ctx, &mut dst[r.clone()], &mut src[r.clone()], shift, s)?;
            dst[r.clone()].copy_from_slice(&src[r]);
        }
    }
    Ok(())
}

/// Sorts `keys` (of `bits`-bit keys; `top` the per-piece counts of the digit just below `bits`)
/// with one parallel MSD scatter into `kbuf`, then sorts each bucket back into `keys`, buckets in
/// fixed groups over the pool.
fn msd_sort(ctx: &JobCtx, keys: &mut [u64], kbuf: &mut [u64], piece: usize, top: &[Vec<u32>], bits: u32) -> CoreResult<()> {
    let n = keys.len();
    let shift = bits - DIGIT_BITS;
    let pieces = top.len();
    let mut offsets = vec![[0usize; BUCKETS]; pieces];
    let mut starts = [0usize; BUCKETS + 1];
    let mut at = 0;
    for d in 0..BUCKETS {
        starts[d] = at;
        for (p, o) in offsets.iter_mut().enumerate() {
            o[d] = at;
            at += top[p][d] as usize;
        }
    }
    starts[BUCKETS] = at;
    debug_assert_eq!(at, n);
    ctx.checkpoint()?;
    {
        let src: &[u64] = keys;
        let kdst = Scatter::new(kbuf);
        let idst = Scatter { ptr: std::ptr::null_mut(), len: 0 };
        ctx.map_chunks(n, piece, |r| {
            let mut off = offsets[r.start / piece];
            // SAFETY: each piece gets its own runs of positions, together covering 0..n once.
            unsafe { scatter_piece::<false, false>(src, &[], r, shift, &mut off, &kdst, &idst, (0, 0, 0)) };
        })?;
    }
    let a = Scatter::new(keys);
    let b = Scatter::new(kbuf);
    let group = 16;
    let res = ctx.map_chunks(BUCKETS, group, |r| -> CoreResult<()> {
        let mut s = LeafScratch::default();
        for d in r {
            let (lo, len) = (starts[d], starts[d + 1] - starts[d]);
            if len == 0 {
                continue;
            }
            // SAFETY: bucket `d`'s range lies in both buffers and belongs to this task alone.
            let (src, dst) = unsafe {
                (std::slice::from_raw_parts_mut(b.at(lo), len), std::slice::from_raw_parts_mut(a.at(lo), len))
            };
            sort_into(ctx, src, dst, shift, &mut s)?;
        }
        Ok(())
    })?;
    res.into_iter().collect()
}

/// Sorted copy of `x` into `out` (same length; `out` may hold `x` itself for an in-place sort):
/// ascending, -0 before +0, NaNs last. Bit for bit `TypedArray.prototype.sort`.
pub fn sort<T: SortKey>(ctx: &JobCtx, x: Option<&[T]>, out: &mut [T]) -> CoreResult<()> {
    let n = out.len();
    if n < 2 {
        if let Some(x) = x {
            out.copy_from_slice(x);
        }
        return Ok(());
    }
    let piece = piece_len(ctx, n);
    // 8-byte values are turned into keys in `out` itself (read before written, position by
    // position), sorted there, and turned back in place: one buffer of scratch instead of two.
    let in_out = std::mem::size_of::<T>() == 8;
    let src = match x {
        Some(x) => Scatter { ptr: x.as_ptr() as *mut T, len: n },
        None => Scatter::new(out),
    };
    let mut own: Vec<u64> = if in_out { Vec::new() } else { scratch(n) };
    let keys: &mut [u64] = if in_out {
        // SAFETY: `T` is 8 bytes of plain bits (f64 here) with u64's alignment, and every bit
        // pattern is a valid u64; `out` is not touched through its own name until `keys` is done.
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u64, n) }
    } else {
        &mut own
    };
    let kdst = Scatter::new(keys);
    // SAFETY: both are valid for `n` elements; `x`, when given, is not `out` (distinct borrows).
    let (top, nan_vals) = unsafe { make_keys(ctx, &src, piece, &kdst, Some(T::KEY_BITS - DIGIT_BITS))? };
    let mut bits = T::KEY_BITS;
    let mut top = top;
    let biggest = (0..BUCKETS).map(|d| top.iter().map(|c| c[d] as usize).sum::<usize>()).max().unwrap_or(0);
    if nan_vals.is_empty() && biggest > n / 8 {
        // Most keys share their top digit (say, all in [0, 1)): split right below the bits that
        // every key shares instead, so the buckets are even and spread over the pool.
        let src: &[u64] = keys;
        let (lo, hi) = ctx
            .map_chunks(n, piece, |r| src[r].iter().fold((u64::MAX, 0u64), |(a, b), &k| (a.min(k), b.max(k))))?
            .into_iter()
            .fold((u64::MAX, 0u64), |(a, b), (c, d)| (a.min(c), b.max(d)));
        bits = (64 - (lo ^ hi).leading_zeros()).max(DIGIT_BITS);
        let shift = bits - DIGIT_BITS;
        top = ctx.map_chunks(n, piece, |r| {
            let mut c = vec![0u32; BUCKETS];
            for &k in &src[r] {
                c[(k >> shift) as usize & (BUCKETS - 1)] += 1;
            }
            c
        })?;
    }
    let mut kbuf: Vec<u64> = scratch(n);
    msd_sort(ctx, keys, &mut kbuf, piece, &top, bits)?;
    drop(kbuf);
    let m = n - nan_vals.len();
    if in_out {
        ctx.for_each_chunk_mut(&mut keys[..m], 1 << 16, |_, piece| {
            for k in piece.iter_mut() {
                // SAFETY: `T` is 8 bytes (checked above).
                *k = unsafe { std::mem::transmute_copy::<T, u64>(&T::from_key(*k)) };
            }
        })?;
    } else {
        ctx.for_each_chunk_mut(&mut out[..m], 1 << 16, |start, piece| {
            for (o, &k) in piece.iter_mut().zip(&own[start..]) {
                *o = T::from_key(k);
            }
        })?;
    }
    out[m..].copy_from_slice(&nan_vals);
    Ok(())
}

/// Indices that sort `x` stably (NaNs last, in order). Fails for inputs of 2^32 elements or more.
pub fn argsort<T: SortKey>(ctx: &JobCtx, x: &[T]) -> CoreResult<Vec<u32>> {
    if x.len() > u32::MAX as usize {
        return Err(CoreError::invalid_arg("argsort: at most 2^32 - 1 elements"));
    }
    let n = x.len();
    if n < 2 {
        return Ok((0..n as u32).collect());
    }
    let piece = piece_len(ctx, n);
    let mut keys: Vec<u64> = scratch(n);
    let (counts, _) = {
        let src = Scatter { ptr: x.as_ptr() as *mut T, len: n };
        // SAFETY: `x` and `keys` are distinct and valid for `n` elements; `src` is only read.
        unsafe { make_keys(ctx, &src, piece, &Scatter::new(&mut keys), None)? }
    };
    let mut idx: Vec<u32> = scratch(n);
    ctx.for_each_chunk_mut(&mut idx, 1 << 16, |start, p| {
        for (j, o) in p.iter_mut().enumerate() {
            *o = (start + j) as u32;
        }
    })?;
    let mut kbuf: Vec<u64> = scratch(n);
    let mut ibuf: Vec<u32> = scratch(n);
    radix_passes(ctx, &mut keys, &mut kbuf, Some((&mut idx, &mut ibuf)), piece, &counts, T::KEY_BITS)?;
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
