//! The vector UTF-8 check, AVX2 (32 bytes a step) and AVX-512 (64 bytes a step).
//!
//! Every byte is looked at together with the byte before it. Three table lookups, on the high
//! nibble of the previous byte, the low nibble of the previous byte and the high nibble of the
//! byte, each return a set of error kinds that nibble is compatible with; a bit left in the AND
//! of the three is a bad pair (a lead byte not followed by a continuation, a continuation after
//! ASCII, an overlong form, a surrogate, a code point above U+10FFFF). One pair kind, two
//! continuations in a row, is an error except as the second or third byte after a 3- or 4-byte
//! lead, which is found with saturating subtractions on the bytes two and three back. A sequence
//! cut by the end of the input is caught by checking one more block of zeros after it.

use crate::json::error::JResult;
use crate::runtime::JobCtx;
use std::arch::x86_64::*;

/// Blocks between cancellation checks (64 KiB).
const BYTES_PER_CHECKPOINT: usize = 1 << 16;

const TOO_SHORT: u8 = 1 << 0; // a lead byte followed by ASCII or another lead
const TOO_LONG: u8 = 1 << 1; // ASCII followed by a continuation
const OVERLONG_3: u8 = 1 << 2; // E0 followed by 80..9F
const TOO_LARGE: u8 = 1 << 3; // F4 followed by 90..BF, or F5..FF followed by 90..BF
const SURROGATE: u8 = 1 << 4; // ED followed by A0..BF
const OVERLONG_2: u8 = 1 << 5; // C0 or C1 followed by a continuation
const OVERLONG_4: u8 = 1 << 6; // F0 followed by 80..8F (shares its bit with the next kind)
const TOO_LARGE_1000: u8 = 1 << 6; // F5..FF followed by 80..8F
const TWO_CONTS: u8 = 1 << 7; // a continuation followed by a continuation
const CARRY: u8 = TOO_SHORT | TOO_LONG | TWO_CONTS;

/// By the high nibble of the previous byte.
const PREV_HIGH: [u8; 16] = [
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
    TOO_SHORT | OVERLONG_2,
    TOO_SHORT,
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
];

/// By the low nibble of the previous byte.
const PREV_LOW: [u8; 16] = [
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
    CARRY | OVERLONG_2,
    CARRY,
    CARRY,
    CARRY | TOO_LARGE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
];

/// By the high nibble of the byte itself.
const CUR_HIGH: [u8; 16] = [
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
];

/// A 16-byte table repeated across a 64-byte vector (the shuffles look up within 16-byte lanes).
const fn repeat(t: [u8; 16]) -> [u8; 64] {
    let mut out = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        out[i] = t[i % 16];
        i += 1;
    }
    out
}

/// Saturating-subtracted from the last block: nonzero where a sequence started in the last three
/// bytes still needs bytes (a lead >= C0 in the last, >= E0 in the one before, >= F0 before that).
const INCOMPLETE_LIMIT: [u8; 64] = {
    let mut t = [0xFF; 64];
    t[61] = 0xF0 - 1;
    t[62] = 0xE0 - 1;
    t[63] = 0xC0 - 1;
    t
};

const TABLES: [[u8; 64]; 3] = [repeat(PREV_HIGH), repeat(PREV_LOW), repeat(CUR_HIGH)];

pub(super) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

pub(super) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw")
}

/// Whether `input` is valid UTF-8, with AVX-512BW.
pub(super) fn valid_avx512(ctx: &JobCtx, input: &[u8]) -> JResult<bool> {
    debug_assert!(has_avx512());
    // SAFETY: only called after `has_avx512()` said the CPU has AVX-512F and AVX-512BW.
    unsafe { run_avx512(ctx, input) }
}

/// Whether `input` is valid UTF-8, with AVX2.
pub(super) fn valid_avx2(ctx: &JobCtx, input: &[u8]) -> JResult<bool> {
    debug_assert!(has_avx2());
    // SAFETY: only called after `has_avx2()` said the CPU has AVX2.
    unsafe { run_avx2(ctx, input) }
}

/// Loads 64 bytes as one AVX-512 vector.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load512(bytes: &[u8; 64]) -> __m512i {
    // SAFETY: `bytes` is 64 readable bytes and the load has no alignment requirement.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

/// Loads 32 bytes as one AVX2 vector.
#[target_feature(enable = "avx2")]
#[inline]
fn load256(bytes: &[u8; 32]) -> __m256i {
    // SAFETY: `bytes` is 32 readable bytes and the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

fn first_32(t: &[u8; 64]) -> &[u8; 32] {
    t.first_chunk::<32>().unwrap_or(&[0; 32])
}

/// The running AVX-512 check: feed 64-byte blocks in order, then ask [`Avx512::valid`].
#[derive(Clone, Copy)]
pub(crate) struct Avx512 {
    tables: [__m512i; 3],
    limit: __m512i,
    prev: __m512i,
    error: __m512i,
    incomplete: __m512i,
}

impl Avx512 {
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) fn new() -> Self {
        let zero = _mm512_setzero_si512();
        Avx512 { tables: TABLES.map(|t| load512(&t)), limit: load512(&INCOMPLETE_LIMIT), prev: zero, error: zero, incomplete: zero }
    }

    /// Checks the next 64 bytes.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    pub(crate) fn block(&mut self, block: &[u8; 64]) {
        self.step(load512(block));
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn step(&mut self, v: __m512i) {
        let nibble = _mm512_set1_epi8(0x0F);
        if _mm512_movepi8_mask(v) == 0 {
            // ASCII: fine unless the block before ended inside a sequence.
            self.error = _mm512_or_si512(self.error, self.incomplete);
        } else {
            // Lanes: [last lane of prev, lanes 0..3 of v], so byte-aligns within lanes reach back.
            let before = _mm512_alignr_epi64::<6>(v, self.prev);
            let prev1 = _mm512_alignr_epi8::<15>(v, before);
            let prev2 = _mm512_alignr_epi8::<14>(v, before);
            let prev3 = _mm512_alignr_epi8::<13>(v, before);
            let prev_high = _mm512_and_si512(_mm512_srli_epi16::<4>(prev1), nibble);
            let cur_high = _mm512_and_si512(_mm512_srli_epi16::<4>(v), nibble);
            let special = _mm512_and_si512(
                _mm512_and_si512(
                    _mm512_shuffle_epi8(self.tables[0], prev_high),
                    _mm512_shuffle_epi8(self.tables[1], _mm512_and_si512(prev1, nibble)),
                ),
                _mm512_shuffle_epi8(self.tables[2], cur_high),
            );
            let third = _mm512_subs_epu8(prev2, _mm512_set1_epi8((0xE0u8 - 0x80) as i8));
            let fourth = _mm512_subs_epu8(prev3, _mm512_set1_epi8((0xF0u8 - 0x80) as i8));
            let must_continue = _mm512_and_si512(_mm512_or_si512(third, fourth), _mm512_set1_epi8(0x80u8 as i8));
            self.error = _mm512_or_si512(self.error, _mm512_xor_si512(must_continue, special));
        }
        self.incomplete = _mm512_subs_epu8(v, self.limit);
        self.prev = v;
    }

    /// Whether everything fed so far is valid UTF-8 that does not end inside a sequence.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) fn valid(mut self) -> bool {
        // Zeros after the input: a sequence the input cut short shows up as `TOO_SHORT`.
        self.step(_mm512_setzero_si512());
        _mm512_test_epi8_mask(self.error, self.error) == 0
    }
}

/// The running AVX2 check: feed 64-byte blocks in order, then ask [`Avx2::valid`].
#[derive(Clone, Copy)]
pub(crate) struct Avx2 {
    tables: [__m256i; 3],
    limit: __m256i,
    prev: __m256i,
    error: __m256i,
    incomplete: __m256i,
}

impl Avx2 {
    #[target_feature(enable = "avx2")]
    pub(crate) fn new() -> Self {
        let zero = _mm256_setzero_si256();
        let limit = load256(INCOMPLETE_LIMIT[32..].first_chunk::<32>().unwrap_or(&[0xFF; 32]));
        Avx2 { tables: TABLES.map(|t| load256(first_32(&t))), limit, prev: zero, error: zero, incomplete: zero }
    }

    /// Checks the next 64 bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn block(&mut self, block: &[u8; 64]) {
        let (lo, hi) = block.split_at(32);
        self.step(load256(lo.try_into().unwrap_or(&[0; 32])));
        self.step(load256(hi.try_into().unwrap_or(&[0; 32])));
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn step(&mut self, v: __m256i) {
        let nibble = _mm256_set1_epi8(0x0F);
        if _mm256_movemask_epi8(v) == 0 {
            self.error = _mm256_or_si256(self.error, self.incomplete);
        } else {
            // [high lane of prev, low lane of v], so byte-aligns within lanes reach back.
            let before = _mm256_permute2x128_si256::<0x21>(self.prev, v);
            let prev1 = _mm256_alignr_epi8::<15>(v, before);
            let prev2 = _mm256_alignr_epi8::<14>(v, before);
            let prev3 = _mm256_alignr_epi8::<13>(v, before);
            let prev_high = _mm256_and_si256(_mm256_srli_epi16::<4>(prev1), nibble);
            let cur_high = _mm256_and_si256(_mm256_srli_epi16::<4>(v), nibble);
            let special = _mm256_and_si256(
                _mm256_and_si256(
                    _mm256_shuffle_epi8(self.tables[0], prev_high),
                    _mm256_shuffle_epi8(self.tables[1], _mm256_and_si256(prev1, nibble)),
                ),
                _mm256_shuffle_epi8(self.tables[2], cur_high),
            );
            let third = _mm256_subs_epu8(prev2, _mm256_set1_epi8((0xE0u8 - 0x80) as i8));
            let fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8((0xF0u8 - 0x80) as i8));
            let must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8(0x80u8 as i8));
            self.error = _mm256_or_si256(self.error, _mm256_xor_si256(must_continue, special));
        }
        self.incomplete = _mm256_subs_epu8(v, self.limit);
        self.prev = v;
    }

    #[target_feature(enable = "avx2")]
    pub(crate) fn valid(mut self) -> bool {
        self.step(_mm256_setzero_si256());
        _mm256_testz_si256(self.error, self.error) == 1
    }
}

/// Feeds `input` to `check` 64 bytes at a time (the last block padded with zeros).
#[inline(always)]
fn feed(ctx: &JobCtx, input: &[u8], mut check: impl FnMut(&[u8; 64])) -> JResult<()> {
    let mut blocks = input.chunks_exact(64);
    for (i, block) in (&mut blocks).enumerate() {
        if i % (BYTES_PER_CHECKPOINT / 64) == BYTES_PER_CHECKPOINT / 64 - 1 {
            ctx.checkpoint()?;
        }
        check(block.try_into().unwrap_or(&[0; 64]));
    }
    let mut last = [0u8; 64];
    last[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
    check(&last);
    Ok(())
}

#[target_feature(enable = "avx512f,avx512bw")]
fn run_avx512(ctx: &JobCtx, input: &[u8]) -> JResult<bool> {
    let mut check = Avx512::new();
    feed(ctx, input, |b| check.block(b))?;
    Ok(check.valid())
}

#[target_feature(enable = "avx2")]
fn run_avx2(ctx: &JobCtx, input: &[u8]) -> JResult<bool> {
    let mut check = Avx2::new();
    feed(ctx, input, |b| check.block(b))?;
    Ok(check.valid())
}
