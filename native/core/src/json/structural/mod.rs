//! Stage 1: find every byte that stage 2 has to look at, 64 bytes at a time, without branching on
//! the data.
//!
//! For each 64-byte block a *classifier* (portable, AVX2 or AVX-512; chosen at run time) turns the
//! bytes into five bitmasks: quotes, backslashes, whitespace, operators (`{}[]:,`) and control
//! characters. Everything after that is the same scalar bit arithmetic for every classifier, so the
//! paths can only differ if a classifier is wrong, which the tests check block by block.
//!
//! The index holds, in order: operators outside strings, both quotes of every string (so stage 2
//! finds a string's end without scanning it), and the first byte of every other run of
//! non-whitespace outside strings (the start of a number or literal, or of garbage that stage 2
//! will reject). Stage 1 also checks what lies inside strings, which stage 2 then never reads
//! twice: an unescaped control character, or an escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`,
//! is invalid JSON; stage 1 remembers the first one and the caller reports it if nothing earlier
//! in the input went wrong.

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::error::{Failure, JResult};
use crate::runtime::JobCtx;
use std::ops::Range;
use crate::simd::{self, SimdLevel};

/// Byte offsets are stored as `u32`; inputs must be shorter than this.
pub const MAX_INPUT: usize = u32::MAX as usize - 64;

/// Blocks between cancellation checks: 1024 blocks are 64 KiB.
const BLOCKS_PER_CHECKPOINT: usize = 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StructuralIndex {
    /// Byte offsets of the structural bytes, ascending.
    pub positions: Vec<u32>,
    /// The first invalid byte inside a string, if any.
    pub first_string_error: Option<StringError>,
    /// Bit `b` is set when 64-byte block `b` holds an escape inside a string. Stage 2 unescapes
    /// only strings that touch such a block and copies the rest as they are.
    pub escape_blocks: Vec<u64>,
}

impl StructuralIndex {
    /// Whether the bytes `start..end` may contain an escape (false means they surely do not).
    #[inline]
    pub fn may_have_escape(&self, start: usize, end: usize) -> bool {
        let (first, last) = (start / 64, end.saturating_sub(1).max(start) / 64);
        (first..=last).any(|b| self.escape_blocks.get(b / 64).is_some_and(|w| w & (1u64 << (b % 64)) != 0))
    }
}

/// An unescaped control character or a bad escape inside a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringError {
    pub offset: u32,
    pub message: &'static str,
}

pub(crate) const CONTROL_IN_STRING: &str = "Unescaped control character in string";
pub(crate) const BAD_ESCAPE: &str = "Invalid escape sequence";
pub(crate) const BAD_HEX: &str = "Invalid hex digit in \\u escape";

/// The classification of one 64-byte block: bit `i` describes byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockMasks {
    pub quote: u64,
    pub backslash: u64,
    pub whitespace: u64,
    pub operator: u64,
    pub control: u64,
}

/// Builds the index of `input` with the classifier for the process's SIMD level.
pub(crate) fn structural_index(ctx: &JobCtx, input: &[u8], out: &mut StructuralIndex) -> JResult<()> {
    structural_index_at(simd::level(), ctx, input, out)
}

/// Builds the index and, where stage 1 runs on AVX2 or AVX-512, checks the UTF-8 of `input` in the
/// same loop. True when the UTF-8 was checked and is valid; false when it is invalid or was not
/// checked (the portable path): then the caller validates it separately.
pub(crate) fn structural_index_checking_utf8(ctx: &JobCtx, input: &[u8], out: &mut StructuralIndex) -> JResult<bool> {
    index_with(simd::level(), ctx, input, out, true)
}

/// Builds the index with the classifier for `level`, or the widest one below it that this CPU has.
/// Tests call it with each level to compare the paths.
pub(crate) fn structural_index_at(
    level: SimdLevel,
    ctx: &JobCtx,
    input: &[u8],
    out: &mut StructuralIndex,
) -> JResult<()> {
    index_with(level, ctx, input, out, false).map(|_| ())
}

/// Builds the index; with `utf8`, also checks the UTF-8 where a vector path runs (see
/// [`structural_index_checking_utf8`] for the result).
fn index_with(level: SimdLevel, ctx: &JobCtx, input: &[u8], out: &mut StructuralIndex, utf8: bool) -> JResult<bool> {
    let mut stream = Stream::new(level, input, utf8)?;
    out.positions.clear();
    // One entry per 3 bytes: the corpus has one per 4.7 (mesh.json) to 30 bytes (gsoc-2018.json)
    // and generated NDJSON records one per 3.6; one per 6, as before session 14, made the index
    // of those grow once, a copy of half of it (2 % of NDJSON columns' instructions). Capacity
    // that is never written is never faulted in.
    out.positions.reserve(input.len() / 3 + 64);
    advise_huge_pages(&out.positions);
    stream.fill(ctx, &mut out.positions, usize::MAX)?;
    out.first_string_error = stream.scan.first_error;
    let valid = stream.utf8_valid();
    out.escape_blocks = stream.scan.escape_blocks;
    Ok(valid)
}

/// Stage 1 a piece at a time, for a walk that takes the index as it is made (so it stays in
/// cache and the whole document's index never exists): `fill` appends the positions of the next
/// blocks, continuing the scan where the last call stopped.
pub(crate) struct Stream<'a> {
    input: &'a [u8],
    classifier: Classifier,
    pub(crate) scan: Scan,
    /// Blocks of 64 bytes indexed so far.
    done: usize,
}

/// What stage 1 carries and gathers from block to block.
#[derive(Default)]
pub(crate) struct Scan {
    carry: Carry,
    first_error: Option<StringError>,
    /// Bit `b` set when block `b` holds an escape inside a string, for the blocks indexed so far
    /// (grown as they are).
    pub(crate) escape_blocks: Vec<u64>,
}

/// The classifier the stream runs, with its running UTF-8 check where there is one. The check's
/// vector registers are kept inline (one stream per document, never moved on the block loop), so
/// the variants differ in size on purpose: boxing would add a load to every block's check.
#[allow(clippy::large_enum_variant)]
enum Classifier {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2(Option<crate::json::utf8::x86::Avx2>),
    #[cfg(target_arch = "x86_64")]
    Avx512(Option<crate::json::utf8::x86::Avx512>),
}

impl<'a> Stream<'a> {
    /// A stream over `input` with the classifier for `level` (or the widest one below it that
    /// this CPU has); with `utf8`, the vector paths also check the UTF-8.
    pub(crate) fn new(level: SimdLevel, input: &'a [u8], utf8: bool) -> JResult<Self> {
        if input.len() > MAX_INPUT {
            return Err(crate::error::CoreError::invalid_arg("JSON input larger than 4 GiB").into());
        }
        let _ = utf8;
        #[allow(unused_mut)]
        let mut classifier = Classifier::Portable;
        #[cfg(target_arch = "x86_64")]
        {
            if level >= SimdLevel::Avx512 && x86::has_avx512() {
                classifier = Classifier::Avx512(utf8.then(x86::utf8_avx512));
            } else if level >= SimdLevel::Avx2 && x86::has_avx2() {
                classifier = Classifier::Avx2(utf8.then(x86::utf8_avx2));
            }
        }
        let _ = level;
        Ok(Stream { input, classifier, scan: Scan::default(), done: 0 })
    }

    /// Whether every block is indexed.
    pub(crate) fn finished(&self) -> bool {
        self.done * 64 >= self.input.len() && (self.done > 0 || self.input.is_empty())
    }

    /// The first bad string content in the blocks indexed so far.
    pub(crate) fn first_string_error(&self) -> Option<StringError> {
        self.scan.first_error
    }

    /// Indexes up to `blocks` more blocks, appending their positions to `positions`.
    pub(crate) fn fill(&mut self, ctx: &JobCtx, positions: &mut Vec<u32>, blocks: usize) -> JResult<()> {
        let total = self.input.len().div_ceil(64).max(1);
        let end = total.min(self.done.saturating_add(blocks));
        if self.done >= end {
            return Ok(());
        }
        let (input, range, scan) = (self.input, self.done..end, &mut self.scan);
        scan.escape_blocks.resize(end.div_ceil(64), 0);
        match &mut self.classifier {
            Classifier::Portable => index_blocks::<_, _, false>(ctx, input, range, scan, positions, portable::classify, push_bits)?,
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx2(check) => x86::fill_avx2(ctx, input, range, scan, positions, check)?,
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx512(check) => x86::fill_avx512(ctx, input, range, scan, positions, check)?,
        }
        self.done = end;
        Ok(())
    }

    /// After the last block: true when a vector path checked the UTF-8 and it is valid; false
    /// when it is invalid or was not checked (the caller then validates it separately).
    pub(crate) fn utf8_valid(&self) -> bool {
        if !self.finished() {
            return false;
        }
        match &self.classifier {
            Classifier::Portable => false,
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx2(check) => check.as_ref().is_some_and(x86::utf8_valid_avx2),
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx512(check) => check.as_ref().is_some_and(x86::utf8_valid_avx512),
        }
    }
}

/// The classification of block `i` by the portable classifier, for tests of the SIMD ones.
#[cfg(test)]
pub(crate) fn classify_portable(block: &[u8; 64]) -> BlockMasks {
    portable::classify(block)
}

#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) use x86::{classify_avx2_checked, classify_avx512_checked, push_bits_avx512_checked};

/// The portable position writer, for tests of the SIMD one.
#[cfg(test)]
pub(crate) fn push_bits_portable(positions: &mut Vec<u32>, bits: u64, base: u32) {
    push_bits(positions, bits, base)
}

/// Carried from one block to the next.
#[derive(Default)]
struct Carry {
    /// The block ended in an odd run of backslashes: its first byte is escaped.
    escaped: bool,
    /// All ones while a string is open across the block boundary.
    in_string: u64,
    /// 1 when the last byte of the block was part of a scalar run.
    scalar: u64,
}

/// The shared loop: classify blocks `range` of `input` with `classify` and turn the masks into
/// positions, continuing from `scan`. The block past the input's end (if `range` reaches it) is
/// padded with spaces. It is `inline(always)` so each SIMD entry point gets its own copy compiled
/// with its features.
///
/// With `CLMUL` the in-string mask is one carry-less multiply; only entry points compiled with
/// `pclmulqdq`, on a CPU that has it, may set it.
#[inline(always)]
pub(super) fn index_blocks<F, P, const CLMUL: bool>(
    ctx: &JobCtx,
    input: &[u8],
    range: Range<usize>,
    scan: &mut Scan,
    positions: &mut Vec<u32>,
    mut classify: F,
    mut push: P,
) -> JResult<()>
where
    F: FnMut(&[u8; 64]) -> BlockMasks,
    P: FnMut(&mut Vec<u32>, u64, u32),
{
    for b in range {
        if b % BLOCKS_PER_CHECKPOINT == BLOCKS_PER_CHECKPOINT - 1 {
            ctx.checkpoint()?;
        }
        let base = b * 64;
        let mut last = [b' '; 64];
        let block: &[u8; 64] = match input.get(base..base + 64) {
            Some(full) => full.try_into().map_err(|_| Failure::syntax(base, "internal block error"))?,
            None => {
                // Spaces are whitespace, so the padding neither starts a scalar nor closes anything.
                let rest = input.get(base..).unwrap_or_default();
                last[..rest.len()].copy_from_slice(rest);
                &last
            }
        };
        let (control, escapes) = step::<_, CLMUL>(&mut scan.carry, classify(block), base as u32, positions, &mut push);
        if (control | escapes) != 0 {
            note_string_content(input, base as u32, control, escapes, &mut scan.first_error, &mut scan.escape_blocks);
        }
    }
    Ok(())
}

/// Asks the kernel to back the allocation of `v` (its whole capacity) with 2 MiB pages where it
/// is large. A 64 MB document's index is about 44 MB (and `select`'s jump table as much again),
/// allocated fresh, and so faulted in page by page, on every call; with 4 KiB pages the faults
/// were about a fifth of `select`'s time there. Advice only: contents and validity do not change,
/// and a kernel that declines (transparent huge pages off) changes nothing.
#[cfg(target_os = "linux")]
pub(crate) fn advise_huge_pages(v: &Vec<u32>) {
    const HUGE: usize = 2 << 20;
    // Not worth a system call below a few huge pages.
    const MIN_BYTES: usize = 4 * HUGE;
    let start = v.as_ptr() as usize;
    let bytes = v.capacity() * std::mem::size_of::<u32>();
    if bytes < MIN_BYTES {
        return;
    }
    let (first, last) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
    if last > first {
        // SAFETY: `first..last` lies inside memory this process owns (the vector's buffer);
        // MADV_HUGEPAGE only changes how the kernel backs it, never what it holds.
        unsafe { libc::madvise(first as *mut libc::c_void, last - first, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn advise_huge_pages(_v: &Vec<u32>) {}

/// Records a block with control characters or escapes inside strings: marks it in
/// `escape_blocks` and keeps the first error.
#[cold]
fn note_string_content(
    input: &[u8],
    base: u32,
    control: u64,
    escapes: u64,
    first_error: &mut Option<StringError>,
    escape_blocks: &mut [u64],
) {
    if escapes != 0 {
        let block = base as usize / 64;
        if let Some(word) = escape_blocks.get_mut(block / 64) {
            *word |= 1u64 << (block % 64);
        }
    }
    if first_error.is_none() {
        *first_error = string_error(input, base, control, escapes);
    }
}

/// The first error among the control characters `control` and the escapes starting at the
/// backslashes `escapes` (both inside strings) of the block at `base`.
fn string_error(input: &[u8], base: u32, control: u64, mut escapes: u64) -> Option<StringError> {
    let control_at = (control != 0).then(|| base + control.trailing_zeros());
    while escapes != 0 {
        let at = base + escapes.trailing_zeros();
        if control_at.is_some_and(|c| c < at) {
            break;
        }
        if let Some(error) = escape_error(input, at as usize) {
            return Some(error);
        }
        escapes &= escapes - 1;
    }
    control_at.map(|offset| StringError { offset, message: CONTROL_IN_STRING })
}

/// What is wrong with the escape whose backslash is at `at`, if anything. Offsets and messages
/// are those `string::unescape_into` reports, so every entry point fails the same way.
fn escape_error(input: &[u8], at: usize) -> Option<StringError> {
    let byte = |i: usize| input.get(i).copied().unwrap_or(b'"');
    match byte(at + 1) {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => None,
        b'u' => (at + 2..at + 6)
            .find(|&i| !byte(i).is_ascii_hexdigit())
            .map(|i| StringError { offset: i as u32, message: BAD_HEX }),
        _ => Some(StringError { offset: at as u32, message: BAD_ESCAPE }),
    }
}

/// Turns one block's masks into positions; returns the masks of control characters and of
/// escaping backslashes inside strings.
#[inline(always)]
fn step<P, const CLMUL: bool>(carry: &mut Carry, m: BlockMasks, base: u32, positions: &mut Vec<u32>, push: &mut P) -> (u64, u64)
where
    P: FnMut(&mut Vec<u32>, u64, u32),
{
    let (escaped, escaping) = escaped_bytes(carry, m.backslash);
    let quotes = m.quote & !escaped;
    // In-string bytes run from an opening quote (included) to its closing quote (excluded): the
    // running parity of the quotes seen so far, continued from the previous block.
    let in_string = if CLMUL { prefix_xor_clmul(quotes) } else { prefix_xor(quotes) } ^ carry.in_string;
    carry.in_string = ((in_string as i64) >> 63) as u64;
    let scalar = !(m.whitespace | m.operator | quotes | in_string);
    let scalar_starts = scalar & !((scalar << 1) | carry.scalar);
    carry.scalar = scalar >> 63;
    let structural = (m.operator & !in_string) | quotes | scalar_starts;
    push(positions, structural, base);
    (m.control & in_string, escaping & in_string)
}

/// Bytes escaped by a backslash (the byte after each odd-length run of backslashes), and the
/// backslashes that escape them. Blocks without backslashes (most of them) skip the loop.
#[inline(always)]
fn escaped_bytes(carry: &mut Carry, backslash: u64) -> (u64, u64) {
    let mut escaped = 0u64;
    let mut escaping = 0u64;
    let mut pending = backslash;
    if carry.escaped {
        escaped = 1;
        pending &= !1;
    }
    carry.escaped = false;
    while pending != 0 {
        let i = pending.trailing_zeros();
        escaping |= 1u64 << i;
        if i == 63 {
            carry.escaped = true;
            break;
        }
        escaped |= 1u64 << (i + 1);
        // The escaping backslash and the byte it escapes (maybe a backslash itself) are done.
        pending &= !(3u64 << i);
    }
    (escaped, escaping)
}

/// `prefix_xor` as one carry-less multiply by all ones (bit `i` of the product is the xor of bits
/// `0..=i`): a short dependency chain instead of twelve steps, on the path every block's
/// in-string state takes to the next block. Measured gain small and within this VM's noise
/// (validate citm_catalog.json, best of six interleaved runs: 1 544 against 1 416 MB/s).
#[inline(always)]
fn prefix_xor_clmul(x: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: only instantiated (CLMUL) inside entry points compiled with pclmulqdq and
        // reached after the CPU was checked for it; the intrinsics work on registers only.
        unsafe {
            let product = _mm_clmulepi64_si128::<0>(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1));
            _mm_cvtsi128_si64(product) as u64
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    prefix_xor(x)
}

/// Bit `i` of the result is the xor of bits `0..=i` of `x`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Appends `base + i` for every set bit `i` of `bits`, in ascending order. Writes four entries per
/// round without checking whether bits remain (the extra ones land in spare capacity and are not
/// counted), which trades a few stores for far fewer mispredicted loop exits.
#[inline(always)]
pub(super) fn push_bits(positions: &mut Vec<u32>, mut bits: u64, base: u32) {
    let count = bits.count_ones() as usize;
    positions.reserve(64);
    let len = positions.len();
    let spare = &mut positions.spare_capacity_mut()[..64];
    let mut i = 0;
    while i < count {
        for slot in &mut spare[i..i + 4] {
            slot.write(base.wrapping_add(bits.trailing_zeros()));
            bits &= bits.wrapping_sub(1);
        }
        i += 4;
    }
    // SAFETY: the loop above initialized `spare[..count]` (it runs while `i < count`, four
    // entries at a time), `spare` starts at `len`, and `reserve(64)` made room for them.
    unsafe { positions.set_len(len + count) };
}
