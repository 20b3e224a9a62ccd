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
#[inline]
pub(crate) fn to_f64(token: &[u8]) -> f64 {
    let (negative, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, token),
    };
    // Up to 15 digits fit below 2^53, where every integer is a double: exact without rounding.
    if digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let mut n = 0u64;
        for &d in digits {
            n = n * 10 + u64::from(d - b'0');
        }
        let v = n as f64;
        return if negative { -v } else { v };
    }
    // The grammar is a subset of what fast-float accepts, so this never fails; NaN would only show
    // a broken caller.
    fast_float2::parse::<f64, _>(token).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::skip_digits;

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
