//! Numbers: the RFC 8259 grammar, and conversion to the same double `JSON.parse` gives.
//!
//! `JSON.parse` rounds the decimal to the nearest double (ties to even), so `1e400` is Infinity,
//! `-1e400` is -Infinity, `1e-400` is 0, `-0` is negative zero and a 400-digit integer is its
//! nearest double. Short integers take an exact fast path; everything else goes to `fast-float2`
//! (an Eisel-Lemire implementation with a big-decimal fallback), which rounds correctly for any
//! number of digits.

use super::error::{Failure, JResult};

/// Checks the number grammar `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` starting at
/// `start` and returns the offset just past it. Whatever follows is the caller's to check.
#[inline(always)]
pub(crate) fn scan(input: &[u8], start: usize) -> JResult<usize> {
    if let Some(window) = input.get(start..start + WINDOW) {
        if let Some(len) = scan_window(window) {
            return Ok(start + len);
        }
    }
    scan_bytes(input, start)
}

/// Bytes [`scan_window`] looks at: numbers of up to 31 bytes with 32 bytes of input from their
/// start take the mask path.
const WINDOW: usize = 32;

/// The length of the number at the start of `w` when it ends inside `w`, from one mask of the
/// non-digits: each digit run is one `trailing_zeros` instead of a loop, and the branches depend
/// on the number's shape, not on its length. `None` for anything else (a grammar error, a number
/// that reaches the end of the window): [`scan_bytes`] then decides, with the exact error. Where
/// it returns a length, it is the one `scan_bytes` returns.
#[inline(always)]
fn scan_window(w: &[u8]) -> Option<usize> {
    // Bit 32 stands for whatever follows the window: a run reaching it ends the fast path.
    let non_digit = non_digit_mask(w) | 1 << WINDOW;
    let byte = |i: usize| w.get(i).copied();
    let digit = |i: usize| non_digit >> i & 1 == 0;
    let run_end = |i: usize| i + (non_digit >> i).trailing_zeros() as usize;
    let mut i = usize::from(byte(0)? == b'-');
    if !digit(i) {
        return None;
    }
    i = if byte(i)? == b'0' { i + 1 } else { run_end(i) };
    if byte(i)? == b'.' {
        if !digit(i + 1) {
            return None;
        }
        i = run_end(i + 1);
    }
    if byte(i)? | 0x20 == b'e' {
        i += 1;
        if matches!(byte(i)?, b'+' | b'-') {
            i += 1;
        }
        if !digit(i) {
            return None;
        }
        i = run_end(i);
    }
    // The byte at `i` must be inside the window, or the number may go on past it.
    byte(i).map(|_| i)
}

/// Bit `i` set where `w[i]` (of the first 32) is not an ASCII digit. SSE2 is part of x86-64, so
/// this needs no run-time dispatch: two 16-byte compares `min(b - '0', 9) == b - '0'`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn non_digit_mask(w: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    assert!(w.len() >= WINDOW);
    // SAFETY: the assert above makes `w[..32]` readable and unaligned loads need no alignment;
    // the intrinsics are SSE2, which every x86-64 CPU has (the target enables it statically).
    let digits = unsafe {
        let digits = |v: __m128i| {
            let t = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t)) as u32 as u64
        };
        digits(_mm_loadu_si128(w.as_ptr().cast())) | digits(_mm_loadu_si128(w.as_ptr().add(16).cast())) << 16
    };
    !digits & 0xFFFF_FFFF
}

/// Bit `i` set where `w[i]` (of the first 32) is not an ASCII digit. Eight bytes at a time, exact
/// per byte (no carries between bytes): `t = b ^ 0x30` is 0..=9 for digits; `(t & 0x7F) + 0x76`
/// sets the high bit for `t & 0x7F >= 10`, and `| t` for `t >= 0x80`. A multiply gathers the
/// eight high bits into one byte.
#[cfg(any(not(target_arch = "x86_64"), test))]
#[inline(always)]
fn non_digit_mask_swar(w: &[u8]) -> u64 {
    let mut mask = 0u64;
    for (j, chunk) in w.chunks_exact(8).take(WINDOW / 8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let t = u64::from_le_bytes(word) ^ 0x3030_3030_3030_3030;
        let high = (((t & 0x7F7F_7F7F_7F7F_7F7F) + 0x7676_7676_7676_7676) | t) & 0x8080_8080_8080_8080;
        mask |= ((high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * j);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
use non_digit_mask_swar as non_digit_mask;

/// The byte-by-byte [`scan`]: numbers near the end of the input, long ones, and every error.
#[inline(never)]
fn scan_bytes(input: &[u8], start: usize) -> JResult<usize> {
    let at = |i: usize| input.get(i).copied().unwrap_or(0);
    let mut i = start;
    if at(i) == b'-' {
        i += 1;
    }
    match at(i) {
        b'0' => i += 1,
        b'1'..=b'9' => i = skip_digits(input, i + 1),
        _ => return Err(Failure::unexpected(input, i, "a digit")),
    }
    if at(i) == b'.' {
        i += 1;
        if !at(i).is_ascii_digit() {
            return Err(Failure::unexpected(input, i, "a digit after the decimal point"));
        }
        i = skip_digits(input, i + 1);
    }
    if at(i) | 0x20 == b'e' {
        i += 1;
        if matches!(at(i), b'+' | b'-') {
            i += 1;
        }
        if !at(i).is_ascii_digit() {
            return Err(Failure::unexpected(input, i, "a digit in the exponent"));
        }
        i = skip_digits(input, i + 1);
    }
    Ok(i)
}

/// The offset of the first non-digit at or after `i`. Eight bytes at a time: in each byte,
/// `b - 0x30` has its high bit set for `b < 0x30` (and `b >= 0xB0`) and `b + 0x46` for
/// `0x3A <= b < 0xBA`, so the lowest high bit of either marks the first non-digit. Bytes above it
/// may be garbled by borrows and carries, which is why only the lowest one is used.
#[inline(always)]
fn skip_digits(input: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = input.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let non_digit = (w.wrapping_sub(0x3030_3030_3030_3030) | w.wrapping_add(0x4646_4646_4646_4646)) & 0x8080_8080_8080_8080;
        if non_digit != 0 {
            return i + (non_digit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while input.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Converts a token that `scan` accepted.
///
/// Fast path (Clinger's): a token of at most 19 digits with no exponent, whose digits as one
/// integer `m` are at most 2^53, is `m / 10^f` for `f` fraction digits (at most 22): both
/// operands are exact doubles and IEEE division rounds correctly, so this is the double nearest
/// the decimal, as `JSON.parse` gives. Prices, ids and coordinates of up to 16 digits take it;
/// anything else goes to fast-float.
#[inline]
pub(crate) fn to_f64(token: &[u8]) -> f64 {
    let (negative, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, token),
    };
    if digits.len() <= 20 {
        let mut n = 0u64;
        let mut i = 0;
        while let Some(d) = digits.get(i).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            n = n.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        let mut fraction = 0;
        let mut point = 0;
        if digits.get(i) == Some(&b'.') {
            i += 1;
            point = 1;
            let start = i;
            while let Some(d) = digits.get(i).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9) {
                n = n.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
            fraction = i - start;
        }
        // At most 19 digits: `n` did not wrap (10^19 - 1 < 2^64).
        if i == digits.len() && i - point <= 19 && n <= 1 << 53 {
            let v = n as f64 / POW10[fraction];
            return if negative { -v } else { v };
        }
    }
    // The grammar is a subset of what fast-float accepts, so this never fails; NaN would only show
    // a broken caller.
    fast_float2::parse::<f64, _>(token).unwrap_or(f64::NAN)
}

/// 10^0 ..= 10^22, each exactly a double (5^22 < 2^53).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

#[cfg(test)]
mod tests {
    use super::{non_digit_mask, non_digit_mask_swar, scan, scan_bytes, skip_digits, to_f64, WINDOW};

    #[test]
    fn json_non_digit_mask_is_exact() {
        for b in 0..=255u8 {
            for at in 0..WINDOW {
                let mut w = [b'5'; WINDOW];
                w[at] = b;
                let expected = if b.is_ascii_digit() { 0 } else { 1u64 << at };
                assert_eq!(non_digit_mask(&w), expected, "byte {b:#x} at {at}");
                assert_eq!(non_digit_mask_swar(&w), expected, "byte {b:#x} at {at}");
            }
        }
    }

    /// The window path agrees with the byte path on every token built from number bytes, at every
    /// length around the window's edge.
    #[test]
    fn json_scan_window_agrees_with_bytes() {
        let alphabet = b"0123456789-+.eE,x ";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let mut s = seed;
            let mut token: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    // Mostly digits, so long valid numbers are common.
                    let r = (s >> 33) as usize;
                    if r.is_multiple_of(3) { alphabet[r / 3 % alphabet.len()] } else { b'0' + (r % 10) as u8 }
                })
                .collect();
            assert_eq!(scan(&token, 0), scan_bytes(&token, 0), "{:?}", String::from_utf8_lossy(&token));
            token.extend_from_slice(b",0000000000000000000000000000000000");
            assert_eq!(scan(&token, 0), scan_bytes(&token, 0), "{:?}", String::from_utf8_lossy(&token));
        }
    }

    /// The fast path gives fast-float's double (the correctly rounded one) on decimals around its
    /// limits: 15 to 20 digits, values near 2^53, long fractions, leading zeros, negative zero.
    #[test]
    fn json_to_f64_fast_path_rounds_as_fast_float() {
        let mut fixed: Vec<String> = [
            "0", "-0", "0.0", "-0.0", "9007199254740992", "9007199254740993", "-9007199254740993", "0.9007199254740993",
            "900719925474099.3", "1234567890123456789", "12345678901234567890", "0.0000000000000000001",
            "0.1", "0.2", "0.3", "1748.14", "-65.613616999999977", "99999999999999999", "1.7976931348623157",
            "0.00000000000000000000001", "4.35", "2.675", "1e5", "-1.5E-3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let digits = 1 + (seed % 20) as usize;
            let point = (seed >> 8) as usize % (digits + 1);
            let mut s = String::new();
            if seed >> 20 & 1 == 1 {
                s.push('-');
            }
            let mut r = seed;
            for i in 0..digits {
                if i == point && i > 0 {
                    s.push('.');
                }
                r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1442695040888963407);
                // No leading zero before other digits (the grammar's rule), else any digit.
                let d = if i == 0 && point != 1 && digits > 1 { 1 + (r >> 60) % 9 } else { (r >> 59) % 10 };
                s.push((b'0' + d as u8) as char);
            }
            fixed.push(s);
        }
        for s in &fixed {
            let expected = fast_float2::parse::<f64, _>(s.as_bytes()).unwrap();
            assert_eq!(to_f64(s.as_bytes()).to_bits(), expected.to_bits(), "{s}");
        }
    }

    #[test]
    fn json_skip_digits_finds_first_non_digit() {
        for b in 0..=255u8 {
            for at in 0..12 {
                let mut input = vec![b'7'; 12];
                input[at] = b;
                let expected = if b.is_ascii_digit() { 12 } else { at };
                assert_eq!(skip_digits(&input, 0), expected, "byte {b:#x} at {at}");
            }
        }
    }
}
