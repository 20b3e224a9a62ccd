//! String contents: escape checking and unescaping.
//!
//! JavaScript strings are UTF-16 and `JSON.parse` keeps an unpaired surrogate escape such as
//! `"\ud800"` as that lone code unit. UTF-8 cannot hold one, so unescaped strings are written as
//! WTF-8: UTF-8 that may also contain surrogate code points, each as its 3-byte form (`ED A0..BF
//! xx`). A pair of escapes that forms a valid surrogate pair becomes one 4-byte character, as in
//! UTF-8. The string table marks each string's [`StrKind`] so the JS side knows whether a fast
//! decoder may be used.

use super::error::{Failure, JResult};
use super::structural::{BAD_ESCAPE, BAD_HEX};

/// What a string's bytes need to become a JS string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum StrKind {
    /// Only bytes < 0x80: decodable as Latin-1 (`latin1Slice`), the cheapest path in V8.
    Ascii = 0,
    /// Valid UTF-8 (`utf8Slice`).
    Utf8 = 1,
    /// WTF-8 with at least one lone surrogate: needs a decoder that keeps surrogates.
    Wtf8 = 2,
}

/// The kind of raw (unescaped-free) valid UTF-8 content.
#[inline]
pub(crate) fn kind_of_utf8(bytes: &[u8]) -> StrKind {
    if bytes.is_ascii() {
        StrKind::Ascii
    } else {
        StrKind::Utf8
    }
}

/// The value of four hex digits at `raw[at..at + 4]`. A digit missing because the string ends is
/// reported like any other bad digit, at its offset (where the closing quote is), as stage 1 does.
#[inline]
fn hex4(raw: &[u8], at: usize, offset: usize) -> JResult<u16> {
    let mut v = 0u16;
    for k in 0..4 {
        let d = raw.get(at + k).copied().unwrap_or(b'"');
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(Failure::syntax(offset + at + k, BAD_HEX)),
        };
        v = (v << 4) | u16::from(nibble);
    }
    Ok(v)
}

/// Appends the unescaped `raw` (as WTF-8) to `out` and returns its kind. `offset` is the input
/// offset of `raw[0]`, for errors.
pub(crate) fn unescape_into(raw: &[u8], offset: usize, out: &mut Vec<u8>) -> JResult<StrKind> {
    let mut kind = kind_of_utf8(raw);
    let mut i = 0;
    while let Some(found) = memchr::memchr(b'\\', &raw[i..]) {
        let at = i + found;
        out.extend_from_slice(&raw[i..at]);
        let esc = raw.get(at + 1).copied().unwrap_or(0);
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0C),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            i = at + 2;
            continue;
        }
        if esc != b'u' {
            return Err(Failure::syntax(offset + at, BAD_ESCAPE));
        }
        let unit = hex4(raw, at + 2, offset)?;
        i = at + 6;
        let code = if (0xD800..0xDC00).contains(&unit) && raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
            let low = hex4(raw, i + 2, offset)?;
            if (0xDC00..0xE000).contains(&low) {
                i += 6;
                0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
            } else {
                u32::from(unit)
            }
        } else {
            u32::from(unit)
        };
        if (0xD800..0xE000).contains(&code) {
            kind = StrKind::Wtf8;
        } else if code >= 0x80 && kind == StrKind::Ascii {
            kind = StrKind::Utf8;
        }
        push_code_point(code, out);
    }
    out.extend_from_slice(&raw[i..]);
    Ok(kind)
}

/// Appends `code` (any value up to 0x10FFFF, surrogates included) in its UTF-8 / WTF-8 form.
#[inline]
fn push_code_point(code: u32, out: &mut Vec<u8>) {
    if code < 0x80 {
        out.push(code as u8);
    } else if code < 0x800 {
        out.extend_from_slice(&[0xC0 | (code >> 6) as u8, 0x80 | (code & 0x3F) as u8]);
    } else if code < 0x10000 {
        out.extend_from_slice(&[
            0xE0 | (code >> 12) as u8,
            0x80 | ((code >> 6) & 0x3F) as u8,
            0x80 | (code & 0x3F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0xF0 | (code >> 18) as u8,
            0x80 | ((code >> 12) & 0x3F) as u8,
            0x80 | ((code >> 6) & 0x3F) as u8,
            0x80 | (code & 0x3F) as u8,
        ]);
    }
}
