//! Errors inside the JSON engine carry a byte offset only; line, column and the excerpt are worked
//! out once, at the API boundary, against the whole input. That keeps the hot paths free of
//! bookkeeping and lets NDJSON workers report offsets into the full input, so a bad record's line
//! number comes out right whichever chunk found it.

use crate::error::{CoreError, ErrorCode, Position};
use std::borrow::Cow;

/// A parse failure at a byte offset, not yet located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Syntax {
    pub code: ErrorCode,
    pub offset: usize,
    pub message: Cow<'static, str>,
}

/// Why an internal step stopped: a located-later parse failure, or an error that has no position
/// (cancellation, bad arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    Syntax(Syntax),
    Other(CoreError),
}

pub(crate) type JResult<T> = Result<T, Failure>;

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Self {
        Failure::Other(e)
    }
}

impl Failure {
    #[cold]
    pub fn syntax(offset: usize, message: impl Into<Cow<'static, str>>) -> Self {
        Failure::Syntax(Syntax { code: ErrorCode::JsonSyntax, offset, message: message.into() })
    }

    #[cold]
    pub fn depth(offset: usize, max_depth: usize) -> Self {
        Failure::Syntax(Syntax {
            code: ErrorCode::JsonDepth,
            offset,
            message: format!("Nesting deeper than the maximum depth of {max_depth}").into(),
        })
    }

    #[cold]
    pub fn utf8(offset: usize) -> Self {
        Failure::Syntax(Syntax {
            code: ErrorCode::InvalidUtf8,
            offset,
            message: "Invalid UTF-8".into(),
        })
    }

    #[cold]
    pub fn unexpected(input: &[u8], offset: usize, expected: &str) -> Self {
        let found = match input.get(offset) {
            None => return Failure::syntax(offset, format!("Unexpected end of input, expected {expected}")),
            Some(&b) if b.is_ascii_graphic() => format!("'{}'", b as char),
            // A whole character where the bytes decode to one (`'é'`, not "byte 0xc3").
            Some(&b) if b >= 0x80 => match std::str::from_utf8(&input[offset..(offset + 4).min(input.len())])
                .or_else(|e| std::str::from_utf8(&input[offset..offset + e.valid_up_to()]))
                .ok()
                .and_then(|t| t.chars().next())
            {
                Some(c) if !c.is_control() => format!("'{c}' (U+{:04X})", c as u32),
                _ => format!("byte 0x{b:02x}"),
            },
            Some(&b) => format!("byte 0x{b:02x}"),
        };
        Failure::syntax(offset, format!("Unexpected {found}, expected {expected}"))
    }

    pub fn offset(&self) -> Option<usize> {
        match self {
            Failure::Syntax(s) => Some(s.offset),
            Failure::Other(_) => None,
        }
    }

    pub fn is_utf8(&self) -> bool {
        matches!(self, Failure::Syntax(s) if s.code == ErrorCode::InvalidUtf8)
    }

    /// Moves the offset by `by` bytes: for errors found in a slice that starts `by` into the input.
    pub fn shifted(self, by: usize) -> Self {
        match self {
            Failure::Syntax(mut s) => {
                s.offset += by;
                Failure::Syntax(s)
            }
            other => other,
        }
    }

    /// The public error: position and excerpt computed against `input`, the whole input the offset
    /// refers to.
    #[cold]
    pub fn into_core(self, input: &[u8]) -> CoreError {
        self.located(input, |s, p| {
            format!("{} at line {} column {} (offset {}): {}", s.message, p.line, p.column, p.offset, excerpt(input, s.offset))
        })
    }

    /// [`Failure::into_core`] for an NDJSON line: the message names the line and column as the
    /// other NDJSON errors do (`... (line 2, column 8)`), the excerpt is left to the caller.
    #[cold]
    pub fn into_line_core(self, input: &[u8]) -> CoreError {
        self.located(input, |s, p| format!("{} (line {}, column {})", s.message, p.line, p.column))
    }

    /// The public error, its position located in `input` and its message worded by `words`.
    fn located(self, input: &[u8], words: impl FnOnce(&Syntax, &Position) -> String) -> CoreError {
        match self {
            Failure::Other(e) => e,
            Failure::Syntax(s) => {
                let position = locate(input, s.offset);
                CoreError { code: s.code, message: words(&s, &position), position: Some(position) }
            }
        }
    }
}

/// Line (1-based, lines end at LF) and column (1-based, counted in UTF-8 characters so that it
/// matches what an editor shows) of a byte offset.
pub fn locate(input: &[u8], offset: usize) -> Position {
    let offset = offset.min(input.len());
    let before = &input[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    // A leading byte-order mark is not part of the text (`TextDecoder` drops it), so line 1's
    // columns start after it.
    let line_start = memchr::memrchr(b'\n', before).map_or(super::utf8::bom_len(input).min(offset), |i| i + 1);
    let column = before[line_start..].iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
    Position { offset, line, column }
}

/// Up to 24 bytes either side of `offset` on the same line, made printable, with `>>` marking the
/// offset, e.g. `{"a": 1,, "b">>,, 2}`.
pub fn excerpt(input: &[u8], offset: usize) -> String {
    const SIDE: usize = 24;
    let offset = offset.min(input.len());
    let mut start = offset.saturating_sub(SIDE);
    if let Some(nl) = memchr::memrchr(b'\n', &input[start..offset]) {
        start += nl + 1;
    }
    let mut end = (offset + SIDE).min(input.len());
    if let Some(nl) = memchr::memchr(b'\n', &input[offset..end]) {
        end = offset + nl;
    }
    // Whole characters only, so an excerpt of valid text shows no U+FFFD at its edges.
    let continuation = |i: usize| input.get(i).is_some_and(|b| b & 0xc0 == 0x80);
    while start > 0 && start < offset && continuation(start) {
        start += 1;
    }
    while end > offset && continuation(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(2 * SIDE + 8);
    printable(&input[start..offset], &mut out);
    out.push_str(">>");
    printable(&input[offset..end], &mut out);
    out
}

fn printable(bytes: &[u8], out: &mut String) {
    for ch in String::from_utf8_lossy(bytes).chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
}
