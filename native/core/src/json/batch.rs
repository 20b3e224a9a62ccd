//! NDJSON batches with a policy for bad lines, for `ndjson.parse` and `ndjson.stream`.
//!
//! Unlike `parse_lines` (all or nothing), a batch keeps going past a bad line when asked to: the
//! bad record is rolled back off the tape and, if collected, reported with its line number. UTF-8 is
//! checked per line, so one bad byte costs one record, not the batch.

use super::document::Scratch;
use super::error::Failure;
use super::ndjson::{self, parse_line, Lines};
use super::tape::{Tape, TapeBuilder};
use super::{utf8, ParseOptions};
use crate::error::{CoreError, CoreResult, Position};
use crate::runtime::JobCtx;

/// What a bad line does to the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadLine {
    /// The batch fails with the first bad line's error.
    Fail,
    /// The line is dropped silently.
    Skip,
    /// The line is dropped and its error kept.
    Collect,
}

/// The records of a batch: one top-level tape value per good record, in order.
#[derive(Debug, Default)]
pub struct Batch {
    pub tape: Tape,
    pub records: usize,
    /// Errors of bad lines (with `BadLine::Collect`), positions relative to the batch.
    pub errors: Vec<CoreError>,
    /// Lines in the batch, blank ones included (a last line without LF counts).
    pub lines: usize,
}

struct ChunkOut {
    tape: Tape,
    records: usize,
    errors: Vec<CoreError>,
}

/// The error of a bad line, located within the line: "(line N, column C)", the column counted in
/// characters (code points) as `locate` counts it for a whole document.
pub(crate) fn line_error(input: &[u8], failure: Failure, line: ndjson::Line) -> CoreError {
    match failure {
        Failure::Syntax(s) => {
            let offset = line.start + s.offset;
            let column = 1 + input[line.start..offset.min(input.len())].iter().filter(|&&b| b & 0xc0 != 0x80).count();
            CoreError {
                code: s.code,
                message: format!("{} (line {}, column {column})", s.message, line.number),
                position: Some(Position { offset, line: line.number, column }),
            }
        }
        Failure::Other(e) => e,
    }
}

/// Parses every non-blank line of `input` under the `bad` policy, in parallel over line-aligned
/// chunks when `ctx` may fan out.
pub fn parse_batch(ctx: &JobCtx, input: &[u8], opts: ParseOptions, bad: BadLine) -> CoreResult<Batch> {
    let chunks = ndjson::map_ranges(ctx, &ndjson::numbered_line_chunks(ctx, input, opts.at_start)?, |(range, first_line)| -> CoreResult<ChunkOut> {
        let (range, first_line) = (range.clone(), *first_line);
        let mut scratch = Scratch::default();
        let mut builder = TapeBuilder::default();
        let mut out = ChunkOut { tape: Tape::default(), records: 0, errors: Vec::new() };
        for line in Lines::within(input, range, first_line) {
            ctx.checkpoint()?;
            let text = &input[line.start..line.end];
            let mark = builder.mark();
            let parsed = utf8::validate_utf8(ctx, text).and_then(|()| parse_line(ctx, text, opts, &mut scratch, &mut builder));
            match parsed {
                Ok(()) => out.records += 1,
                Err(Failure::Other(e)) => return Err(e),
                Err(failure) => {
                    builder.rollback(mark);
                    let err = line_error(input, failure, line);
                    match bad {
                        BadLine::Fail => return Err(err),
                        BadLine::Skip => {}
                        BadLine::Collect => out.errors.push(err),
                    }
                }
            }
        }
        out.tape = builder.tape;
        Ok(out)
    })?;
    let mut batch = Batch::default();
    // Chunks are in input order, so with `Fail` the first error met is the first bad line's.
    for chunk in chunks {
        let chunk = chunk?;
        batch.tape.append(&chunk.tape);
        batch.records += chunk.records;
        batch.errors.extend(chunk.errors);
    }
    batch.lines = memchr::memchr_iter(b'\n', input).count() + usize::from(!input.is_empty() && input.last() != Some(&b'\n'));
    Ok(batch)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn run(input: &str, bad: BadLine) -> CoreResult<Batch> {
        parse_batch(&JobCtx::inline(), input.as_bytes(), ParseOptions::default(), bad)
    }

    #[test]
    fn fail_reports_the_first_bad_line() {
        let e = run("{\"a\":1}\n\n[1,2\n{\"b\":2}\n", BadLine::Fail).unwrap_err();
        assert_eq!(e.code, ErrorCode::JsonSyntax);
        let p = e.position.unwrap();
        assert_eq!(p.line, 3);
        assert!(e.message.contains("line 3"), "{}", e.message);
    }

    #[test]
    fn skip_and_collect_roll_back_bad_records() {
        let input = "{\"a\":\"x\\u00e9\"}\n{\"a\": [1, 2, \"unterminated\n\n{\"a\":3}\r\n\u{0}\n";
        let skipped = run(input, BadLine::Skip).unwrap();
        assert_eq!(skipped.records, 2);
        assert!(skipped.errors.is_empty());
        assert_eq!(skipped.lines, 5);
        let collected = run(input, BadLine::Collect).unwrap();
        assert_eq!(collected.records, 2);
        let lines: Vec<usize> = collected.errors.iter().map(|e| e.position.as_ref().unwrap().line).collect();
        assert_eq!(lines, vec![2, 5]);
        assert_eq!(collected.tape, skipped.tape);
        let clean = run("{\"a\":\"x\\u00e9\"}\n{\"a\":3}\n", BadLine::Fail).unwrap();
        assert_eq!(clean.tape.tags, collected.tape.tags);
        assert_eq!(clean.tape.numbers, collected.tape.numbers);
    }

    #[test]
    fn invalid_utf8_costs_one_line() {
        let mut input = b"1\n\"a".to_vec();
        input.extend_from_slice(&[0xff, b'"', b'\n', b'2', b'\n']);
        let b = parse_batch(&JobCtx::inline(), &input, ParseOptions::default(), BadLine::Collect).unwrap();
        assert_eq!(b.records, 2);
        assert_eq!(b.errors[0].code, ErrorCode::InvalidUtf8);
        assert_eq!(b.errors[0].position.as_ref().unwrap().line, 2);
    }
}
