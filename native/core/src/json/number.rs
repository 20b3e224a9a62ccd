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
#[inline]
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

#[inline(always)]
fn skip_digits(input: &[u8], mut i: usize) -> usize {
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
