//! Strict UTF-8 validation, the same rule as `new TextDecoder('utf-8', { fatal: true })`: no
//! overlong forms, no encoded surrogates, nothing above U+10FFFF, no truncated sequences.
//!
//! The standard library's validator already has the fast path that matters (it checks aligned
//! words for the high bit and skips ASCII runs word by word) and reports where the first bad
//! sequence starts, so this module only adds chunking for cancellation and the BOM rule.

use super::error::{Failure, JResult};
use crate::runtime::JobCtx;

/// Validated in pieces of this size so a cancel is seen within about a millisecond.
const CHUNK: usize = 1 << 16;

/// Length of a leading UTF-8 byte order mark, which `TextDecoder` drops (0 or 3).
pub fn bom_len(input: &[u8]) -> usize {
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    }
}

/// Fails with `InvalidUtf8` at the offset where the first invalid sequence starts.
pub(crate) fn validate_utf8(ctx: &JobCtx, input: &[u8]) -> JResult<()> {
    let mut pos = 0;
    while pos < input.len() {
        ctx.checkpoint()?;
        let end = (pos + CHUNK).min(input.len());
        match std::str::from_utf8(&input[pos..end]) {
            Ok(_) => pos = end,
            Err(e) => {
                let bad = pos + e.valid_up_to();
                // A sequence cut by the piece boundary (not by the end of input) is checked again
                // as the start of the next piece. It is at most 3 bytes long, so `bad > pos`.
                if e.error_len().is_none() && end < input.len() && bad > pos {
                    pos = bad;
                    continue;
                }
                return Err(Failure::utf8(bad));
            }
        }
    }
    Ok(())
}
