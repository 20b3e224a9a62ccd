//! `validate`: the full check without building anything.

use super::document::{walk_text, Scratch};
use super::utf8;
use super::walker::CheckSink;
use super::ParseOptions;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

/// Succeeds exactly when `parse_to_tape` would, failing with the same error.
pub fn validate(ctx: &JobCtx, input: &[u8], opts: ParseOptions) -> CoreResult<()> {
    let bom = utf8::bom_len(input);
    walk_text(ctx, &input[bom..], &mut Scratch::default(), opts, &mut CheckSink)
        .map_err(|e| e.shifted(bom))
        .map_err(|e| e.into_core(input))
}
