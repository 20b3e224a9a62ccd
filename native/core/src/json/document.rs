//! One JSON document through the pipeline, and `parse_to_tape`.

use super::error::{Failure, JResult};
use super::structural::{StringError, StructuralIndex};
use super::tape::{Tape, TapeBuilder};
use super::utf8;
use super::walker::{Frame, Sink, Walker};
use super::ParseOptions;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

/// Buffers reused from one document to the next (NDJSON parses thousands of small ones).
#[derive(Default)]
pub(crate) struct Scratch {
    pub index: StructuralIndex,
    pub stack: Vec<Frame>,
}

/// Drops a leading BOM, validates the UTF-8 of the rest and builds its structural index.
/// Returns the text after the BOM and the BOM's length; later errors are in text offsets and must
/// be shifted by that length.
pub(crate) fn prepare<'a>(ctx: &JobCtx, input: &'a [u8], scratch: &mut Scratch) -> JResult<(&'a [u8], usize)> {
    let bom = utf8::bom_len(input);
    let text = &input[bom..];
    // The BOM is valid UTF-8, so checking the text after it decides for the whole input.
    utf8::index_valid_utf8(ctx, text, &mut scratch.index).map_err(|e| e.shifted(bom))?;
    Ok((text, bom))
}

/// Walks the whole indexed `text` as one JSON value into `sink`. Errors are in `text` offsets.
pub(crate) fn walk_document<S: Sink>(
    ctx: &JobCtx,
    text: &[u8],
    scratch: &mut Scratch,
    opts: ParseOptions,
    sink: &mut S,
) -> JResult<()> {
    let index = &scratch.index;
    let walker = Walker::new(text, index, opts.max_depth);
    let result = walker.value(ctx, 0, &mut scratch.stack, sink).and_then(|k| match index.positions.get(k) {
        None => Ok(()),
        Some(&p) => Err(Failure::unexpected(text, p as usize, "end of input after the JSON value")),
    });
    first_error(result, index.first_string_error)
}

/// Reports the bad string content stage 1 found if nothing earlier failed, so the error is the
/// first one in input order.
fn first_error(result: JResult<()>, string_error: Option<StringError>) -> JResult<()> {
    let Some(s) = string_error else { return result };
    let at = s.offset as usize;
    match &result {
        Err(Failure::Other(_)) => result,
        Err(e) if e.offset().is_some_and(|o| o < at) => result,
        _ => Err(Failure::syntax(at, s.message)),
    }
}

/// Parses one JSON document into a tape whose single root is the document's value.
pub fn parse_to_tape(ctx: &JobCtx, input: &[u8], opts: ParseOptions) -> CoreResult<Tape> {
    let mut scratch = Scratch::default();
    let mut builder = TapeBuilder::default();
    parse_into(ctx, input, opts, &mut scratch, &mut builder).map_err(|e| e.into_core(input))?;
    Ok(builder.tape)
}

/// Appends the value of the document `input` to `builder`. Errors are in `input` offsets.
pub(crate) fn parse_into(
    ctx: &JobCtx,
    input: &[u8],
    opts: ParseOptions,
    scratch: &mut Scratch,
    builder: &mut TapeBuilder,
) -> JResult<()> {
    let (text, bom) = prepare(ctx, input, scratch)?;
    builder.reserve_for(scratch.index.positions.len(), text.len());
    walk_document(ctx, text, scratch, opts, builder).map_err(|e| e.shifted(bom))
}
