//! NDJSON: one JSON value per line. Lines end at LF (a CR before it is dropped); blank lines are
//! skipped; errors give the 1-based line number of the bad record and offsets into the whole input.
//!
//! Parallel work splits the input into fixed byte ranges, each moved forward to the next line
//! start, so every line belongs to exactly one chunk and the split never depends on thread count.

use super::document::Scratch;
use super::error::JResult;
use super::structural;
use super::tape::{Tag, Tape, TapeBuilder};
use super::utf8;
use super::walker::Sink;
use super::{document, ParseOptions};
use crate::error::CoreResult;
use crate::runtime::JobCtx;
use std::ops::Range;

/// Bytes per parallel chunk: enough to amortize a task, small enough that a few MB use all cores.
pub(crate) const CHUNK: usize = 64 << 10;

/// One non-blank line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub number: usize,
    /// Byte range in the input, without the LF and without a CR before it.
    pub start: usize,
    pub end: usize,
}

/// The non-blank lines of `input[range]`; `first_number` is the number of the line at `range.start`.
pub struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    end: usize,
    number: usize,
}

impl<'a> Lines<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self::within(input, 0..input.len(), 1)
    }

    pub fn within(input: &'a [u8], range: Range<usize>, first_number: usize) -> Self {
        Lines { input, pos: range.start, end: range.end.min(input.len()), number: first_number }
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        while self.pos < self.end {
            let start = self.pos;
            let rest = &self.input[start..self.end];
            let (mut end, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (start + i, start + i + 1),
                None => (self.end, self.end),
            };
            self.pos = next;
            let number = self.number;
            self.number += 1;
            if end > start && self.input[end - 1] == b'\r' {
                end -= 1;
            }
            if self.input[start..end].iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
                continue;
            }
            return Some(Line { number, start, end });
        }
        None
    }
}

/// The first line start at or after `at` (`input.len()` if none).
pub(crate) fn line_start_at(input: &[u8], at: usize) -> usize {
    if at == 0 {
        return 0;
    }
    if at >= input.len() {
        return input.len();
    }
    memchr::memchr(b'\n', &input[at - 1..]).map_or(input.len(), |i| at + i)
}

/// The byte ranges (BOM excluded) of `input`'s chunks of lines: the nominal chunks of `CHUNK`
/// bytes, each end moved forward to the next line start, so every line belongs to exactly one
/// chunk (most chunks of a line longer than `CHUNK` are empty). Found in one forward pass: a
/// nominal boundary inside a line whose end an earlier search already found takes that answer, so
/// a long line is scanned once, not once per chunk it spans (each chunk searching on its own made
/// `ndjson.parse` of one 64 MB line take 4 s, against 0.1 s for `json.parse` of it).
pub(crate) fn line_chunks(ctx: &JobCtx, input: &[u8]) -> CoreResult<Vec<Range<usize>>> {
    line_chunks_of(ctx, input, true)
}

/// Chunks between two looks for an abort in the serial passes over the chunks (16 MiB).
const CHECK_CHUNKS: usize = 256;

/// `line_chunks`, with the BOM skipped only when `at_start` (see `ParseOptions::at_start`).
fn line_chunks_of(ctx: &JobCtx, input: &[u8], at_start: bool) -> CoreResult<Vec<Range<usize>>> {
    let n = input.len().div_ceil(CHUNK);
    let bom = if at_start { utf8::bom_len(input) } else { 0 };
    let mut starts = Vec::with_capacity(n + 1);
    let mut last = 0;
    for k in 0..=n {
        if k % CHECK_CHUNKS == CHECK_CHUNKS - 1 {
            ctx.checkpoint()?;
        }
        let at = (k * CHUNK).min(input.len());
        // No line starts in (previous `at`, `last`), so the first one at or after `at` is `last`.
        let s = if k > 0 && at <= last { last } else { line_start_at(input, at) };
        starts.push(s);
        last = s;
    }
    Ok((0..n)
        .map(|k| {
            let start = starts[k].max(bom);
            start..starts[k + 1].max(start)
        })
        .collect())
}

/// `line_chunks` with the 1-based number of the line each chunk starts on (one more pass to
/// count the LFs, a chunk at a time).
pub(crate) fn numbered_line_chunks(ctx: &JobCtx, input: &[u8], at_start: bool) -> CoreResult<Vec<(Range<usize>, usize)>> {
    let mut line = 1;
    let mut counted = 0;
    let chunks = line_chunks_of(ctx, input, at_start)?;
    let mut out = Vec::with_capacity(chunks.len());
    for (k, r) in chunks.into_iter().enumerate() {
        if k % CHECK_CHUNKS == CHECK_CHUNKS - 1 {
            ctx.checkpoint()?;
        }
        line += memchr::memchr_iter(b'\n', &input[counted..r.start]).count();
        counted = r.start;
        out.push((r, line));
    }
    Ok(out)
}

/// Runs `f` on each of `chunks`, over the pool when `ctx` may fan out, results in order.
pub(crate) fn map_ranges<C: Sync, T: Send>(ctx: &JobCtx, chunks: &[C], f: impl Fn(&C) -> T + Sync) -> CoreResult<Vec<T>> {
    ctx.map_chunks(chunks.len(), 1, |r| f(&chunks[r.start]))
}

/// Runs `per_chunk` over the line-aligned chunks of `input` (after checking each chunk's UTF-8) and
/// picks the error the way decoding then parsing the whole input would: the first invalid UTF-8
/// anywhere, else the first failing line.
pub(crate) fn map_line_chunks<T: Send>(
    ctx: &JobCtx,
    input: &[u8],
    per_chunk: impl Fn(Range<usize>) -> JResult<T> + Sync,
) -> CoreResult<Vec<T>> {
    map_line_chunks_unchecked(ctx, input, |range| {
        utf8::validate_utf8(ctx, &input[range.clone()]).map_err(|e| e.shifted(range.start))?;
        per_chunk(range)
    })
}

/// Like [`map_line_chunks`] for a `per_chunk` that checks the UTF-8 of its chunk itself (failing
/// with `InvalidUtf8` in input offsets).
pub(crate) fn map_line_chunks_unchecked<T: Send>(
    ctx: &JobCtx,
    input: &[u8],
    per_chunk: impl Fn(Range<usize>) -> JResult<T> + Sync,
) -> CoreResult<Vec<T>> {
    let results = map_ranges(ctx, &line_chunks(ctx, input)?, |range| per_chunk(range.clone()))?;
    if let Some(Err(e)) = results.iter().find(|r| matches!(r, Err(e) if e.is_utf8())) {
        return Err(e.clone().into_core(input));
    }
    results.into_iter().collect::<JResult<Vec<T>>>().map_err(|e| e.into_core(input))
}

/// Parses each non-blank line; the tape's single root is an array with one value per record.
pub fn parse_lines(ctx: &JobCtx, input: &[u8], opts: ParseOptions) -> CoreResult<Tape> {
    let chunks = map_line_chunks(ctx, input, |range| parse_chunk(ctx, input, range, opts))?;
    let records: usize = chunks.iter().map(|(_, n)| n).sum();
    let mut tape = Tape::default();
    tape.tags.push(Tag::Array as u8);
    tape.counts.push(records as u32);
    for (chunk, _) in &chunks {
        tape.append(chunk);
    }
    Ok(tape)
}

/// The records of the lines in `range` (UTF-8 already checked) and how many there are.
fn parse_chunk(ctx: &JobCtx, input: &[u8], range: Range<usize>, opts: ParseOptions) -> JResult<(Tape, usize)> {
    let mut scratch = Scratch::default();
    let mut builder = TapeBuilder::default();
    let mut records = 0;
    for line in Lines::within(input, range, 1) {
        ctx.checkpoint()?;
        let text = &input[line.start..line.end];
        parse_line(ctx, text, opts, &mut scratch, &mut builder).map_err(|e| e.shifted(line.start))?;
        records += 1;
    }
    Ok((builder.tape, records))
}

/// One line (UTF-8 already checked) into `sink`; errors in line offsets.
pub(crate) fn parse_line<S: Sink>(
    ctx: &JobCtx,
    text: &[u8],
    opts: ParseOptions,
    scratch: &mut Scratch,
    sink: &mut S,
) -> JResult<()> {
    structural::structural_index(ctx, text, &mut scratch.index)?;
    document::walk_document(ctx, text, scratch, opts, sink)
}

/// Parses many separate documents, in parallel when `ctx` may fan out; results are in input order
/// and each input succeeds or fails on its own. Fails as a whole only when cancelled.
pub fn parse_many(ctx: &JobCtx, inputs: &[&[u8]], opts: ParseOptions) -> CoreResult<Vec<CoreResult<Tape>>> {
    let per_chunk = ctx.map_chunks(inputs.len(), 1, |range| {
        let mut scratch = Scratch::default();
        inputs[range]
            .iter()
            .map(|input| {
                let mut builder = TapeBuilder::default();
                match document::parse_into(ctx, input, opts, &mut scratch, &mut builder) {
                    Ok(()) => Ok(builder.tape),
                    Err(e) => Err(e.into_core(input)),
                }
            })
            .collect::<Vec<_>>()
    })?;
    let results: Vec<CoreResult<Tape>> = per_chunk.into_iter().flatten().collect();
    if let Some(Err(e)) = results.iter().find(|r| matches!(r, Err(e) if e.code == crate::error::ErrorCode::Aborted)) {
        return Err(e.clone());
    }
    Ok(results)
}
