//! `validate`: the full check without building anything.

use super::document::{prepare, walk_document, Scratch};
use super::walker::CheckSink;
use super::ParseOptions;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

/// Succeeds exactly when `parse_to_tape` would, failing with the same error.
pub fn validate(ctx: &JobCtx, input: &[u8], opts: ParseOptions) -> CoreResult<()> {
    let mut scratch = Scratch::default();
    let run = |scratch: &mut Scratch| {
        let (text, bom) = prepare(ctx, input, scratch)?;
        walk_document(ctx, text, scratch, opts, &mut CheckSink).map_err(|e| e.shifted(bom))
    };
    run(&mut scratch).map_err(|e| e.into_core(input))
}
