//! AVX2 and AVX-512 classifiers. Each compares the block against a handful of byte constants and
//! packs the comparison results into bitmasks; `index_blocks` is inlined into the entry points so
//! the whole loop is compiled with the wider instructions.

use super::{index_blocks, BlockMasks, Scan};
use std::ops::Range;
use crate::json::utf8::x86 as utf8_x86;
use crate::json::error::JResult;
use crate::runtime::JobCtx;
use std::arch::x86_64::*;

/// AVX2, and what every AVX2 CPU also has and the vector stage 1 uses: the carry-less multiply
/// (the in-string mask), `popcnt`, and BMI1/BMI2 (`tzcnt`, `blsr` in the index writer). Without
/// `popcnt` and BMI1 enabled for it, LLVM wrote a bit count as a dozen shifts and masks and a
/// trailing-zero count as `bsf` plus a branch around zero.
pub(super) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
}

pub(super) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") && has_avx2()
}

/// `$name(ctx, input, range, scan, positions, check)`: blocks `range` with the classifier
/// `$classify` compiled for `$features` (and the running UTF-8 check `$check`, if any).
macro_rules! fill_with {
    ($name:ident, $features:literal, $check:ty, $classify:ident, $push:path, $has:ident) => {
        pub(super) fn $name(
            ctx: &JobCtx,
            input: &[u8],
            range: Range<usize>,
            scan: &mut Scan,
            positions: &mut Vec<u32>,
            check: &mut Option<$check>,
        ) -> JResult<()> {
            #[target_feature(enable = $features)]
            fn run(
                ctx: &JobCtx,
                input: &[u8],
                range: Range<usize>,
                scan: &mut Scan,
                positions: &mut Vec<u32>,
                check: &mut Option<$check>,
            ) -> JResult<()> {
                index_blocks::<_, _, true>(
                    ctx,
                    input,
                    range,
                    scan,
                    positions,
                    |b| {
                        if let Some(c) = check {
                            c.block(b);
                        }
                        $classify(b)
                    },
                    // The closure has `run`'s features, which include what `$push` needs.
                    |p, bits, base| $push(p, bits, base),
                )
            }
            debug_assert!($has());
            // SAFETY: only reached after the feature check named here said the CPU has these
            // features (the stream picks its classifier by it).
            unsafe { run(ctx, input, range, scan, positions, check) }
        }
    };
}

fill_with!(fill_avx2, "avx2,pclmulqdq,popcnt,bmi1,bmi2", utf8_x86::Avx2, classify_avx2, super::push_bits, has_avx2);
fill_with!(fill_avx512, "avx512f,avx512bw,avx2,pclmulqdq,popcnt,bmi1,bmi2", utf8_x86::Avx512, classify_avx512, push_bits_avx512, has_avx512);

/// Appends `base + i` for every set bit `i` of `bits`, in ascending order, as `push_bits` does,
/// without a loop: each 16-bit quarter of the mask compresses the 16 positions it covers into the
/// low lanes of a vector (`vpcompressd`), which is stored whole at the end of what is written so
/// far; the lanes past the quarter's count land in spare capacity and are overwritten or left
/// uncounted. The number of stores is fixed, so dense blocks no longer mispredict the exit of the
/// four-at-a-time loop; blocks of at most four positions (whitespace, long strings) keep that
/// loop's single round, which is cheaper than four compresses. Validate on Zen 4, MB/s, best of
/// three interleaved rounds of best-of-200 (of 5 for the 64 MB document), old / compress always /
/// this: generated 64 MB 972 / 1 122 / 1 090, mesh 1 308 / 1 368 / 1 331, canada 1 602 / 1 652 /
/// 1 683, citm_catalog 3 413 / 3 161 / 3 327, twitter 3 208 / 3 086 / 3 218.
#[target_feature(enable = "avx512f,popcnt")]
#[inline]
fn push_bits_avx512(positions: &mut Vec<u32>, bits: u64, base: u32) {
    let count = bits.count_ones() as usize;
    if count <= 4 {
        return super::push_bits(positions, bits, base);
    }
    positions.reserve(64);
    let len = positions.len();
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut at = _mm512_add_epi32(lanes, _mm512_set1_epi32(base as i32));
    let sixteen = _mm512_set1_epi32(16);
    let spare = positions.spare_capacity_mut();
    let mut written = 0usize;
    for quarter in 0..4 {
        let mask = (bits >> (16 * quarter)) as u16;
        let packed = _mm512_maskz_compress_epi32(mask, at);
        // SAFETY: `written` is at most 48 here (three quarters of 16), so the 16 lanes stored
        // end at most 64 entries past `len`, inside the capacity `reserve(64)` made; unaligned
        // stores need no alignment.
        unsafe { _mm512_storeu_si512(spare.as_mut_ptr().add(written).cast(), packed) };
        written += mask.count_ones() as usize;
        at = _mm512_add_epi32(at, sixteen);
    }
    debug_assert_eq!(written, count);
    // SAFETY: the stores above initialized `spare[..count]` (each quarter's set bits, in order),
    // `spare` starts at `len`, and `reserve(64)` made room for them.
    unsafe { positions.set_len(len + count) };
}

pub(super) fn utf8_avx2() -> utf8_x86::Avx2 {
    debug_assert!(has_avx2());
    // SAFETY: only called after `has_avx2()` said the CPU has AVX2.
    unsafe { utf8_x86::Avx2::new() }
}

pub(super) fn utf8_avx512() -> utf8_x86::Avx512 {
    debug_assert!(has_avx512());
    // SAFETY: only called after `has_avx512()` said the CPU has AVX-512F and AVX-512BW.
    unsafe { utf8_x86::Avx512::new() }
}

pub(super) fn utf8_valid_avx2(check: &utf8_x86::Avx2) -> bool {
    // SAFETY: a check exists only where the CPU has AVX2.
    unsafe { (*check).valid() }
}

pub(super) fn utf8_valid_avx512(check: &utf8_x86::Avx512) -> bool {
    // SAFETY: a check exists only where the CPU has AVX-512F and AVX-512BW.
    unsafe { (*check).valid() }
}

// Kept out of line: inlined, LLVM rewrites the movemask results as bit vectors and scalarizes
// the mask arithmetic of `index_blocks` bit by bit (measured 3x slower on twitter.json).
#[target_feature(enable = "avx2")]
#[inline(never)]
fn classify_avx2(block: &[u8; 64]) -> BlockMasks {
    // SAFETY: `block` is 64 readable bytes and unaligned loads have no alignment requirement.
    let (lo, hi) = unsafe {
        (
            _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()),
            _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>()),
        )
    };
    #[target_feature(enable = "avx2")]
    #[inline]
    fn bits(lo: __m256i, hi: __m256i) -> u64 {
        (_mm256_movemask_epi8(lo) as u32 as u64) | ((_mm256_movemask_epi8(hi) as u32 as u64) << 32)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn eq(v: __m256i, c: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn is_operator(v: __m256i) -> __m256i {
        // `[`/`{` and `]`/`}` differ only in bit 0x20, so setting it folds four compares into two.
        let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        _mm256_or_si256(
            _mm256_or_si256(eq(folded, b'{'), eq(folded, b'}')),
            _mm256_or_si256(eq(v, b':'), eq(v, b',')),
        )
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn is_whitespace(v: __m256i) -> __m256i {
        _mm256_or_si256(
            _mm256_or_si256(eq(v, b' '), eq(v, b'\t')),
            _mm256_or_si256(eq(v, b'\n'), eq(v, b'\r')),
        )
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn is_control(v: __m256i) -> __m256i {
        // Unsigned v <= 0x1F exactly when min(v, 0x1F) == v.
        _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1F)), v)
    }
    BlockMasks {
        quote: bits(eq(lo, b'"'), eq(hi, b'"')),
        backslash: bits(eq(lo, b'\\'), eq(hi, b'\\')),
        whitespace: bits(is_whitespace(lo), is_whitespace(hi)),
        operator: bits(is_operator(lo), is_operator(hi)),
        control: bits(is_control(lo), is_control(hi)),
    }
}

#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn classify_avx512(block: &[u8; 64]) -> BlockMasks {
    // SAFETY: `block` is 64 readable bytes and unaligned loads have no alignment requirement.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn eq(v: __m512i, c: u8) -> u64 {
        _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(c as i8))
    }
    let folded = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
    BlockMasks {
        quote: eq(v, b'"'),
        backslash: eq(v, b'\\'),
        whitespace: eq(v, b' ') | eq(v, b'\t') | eq(v, b'\n') | eq(v, b'\r'),
        operator: eq(folded, b'{') | eq(folded, b'}') | eq(v, b':') | eq(v, b','),
        control: _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1F)),
    }
}

/// What `push_bits_avx512` appends to `positions`, or `None` on a CPU without AVX-512F.
#[cfg(test)]
pub(crate) fn push_bits_avx512_checked(positions: &mut Vec<u32>, bits: u64, base: u32) -> Option<()> {
    // SAFETY: guarded by the runtime feature check.
    has_avx512().then(|| unsafe { push_bits_avx512(positions, bits, base) })
}

/// The AVX2 classification of a block, or `None` on a CPU without AVX2.
#[cfg(test)]
pub(crate) fn classify_avx2_checked(block: &[u8; 64]) -> Option<BlockMasks> {
    // SAFETY: guarded by the runtime feature check.
    has_avx2().then(|| unsafe { classify_avx2(block) })
}

/// The AVX-512 classification of a block, or `None` on a CPU without AVX-512BW.
#[cfg(test)]
pub(crate) fn classify_avx512_checked(block: &[u8; 64]) -> Option<BlockMasks> {
    // SAFETY: guarded by the runtime feature check.
    has_avx512().then(|| unsafe { classify_avx512(block) })
}
