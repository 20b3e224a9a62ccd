//! `columns`: typed columns from NDJSON records, without building the records.
//!
//! Each chunk of lines is indexed in one stage 1 pass and each record checked once (the walk that
//! records container ends); each field's pointer then hops over the index to its value, which is
//! converted straight into its column. A chunk with a bad record is redone line by line, which
//! finds the error (or, with `BadLine::Skip`/`Collect`, drops just that record).
//! Missing fields, `null`, and values of another type are invalid rows (mask 0; the value is NaN
//! for floats, 0 for integers and booleans, the empty string for strings).

use super::batch::{self, BadLine};
use super::document::Scratch;
use super::error::{Failure, JResult};
use super::ndjson::{self, Lines};
use super::pointer::Pointer;
use super::select::{index_jumps, Navigator};
use super::string::{self, StrKind};
use super::structural;
use super::tape::{Interner, StringTable};
use super::utf8;
use super::walker::{JumpSink, Walker};
use super::ParseOptions;
use crate::error::{CoreError, CoreResult};
use crate::runtime::JobCtx;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    F64,
    F32,
    /// Numbers with an integral value in `i32` range.
    I32,
    /// `true`/`false` as 1/0.
    Bool,
    Str,
}

/// One string id per row into a table of distinct values (each distinct string stored once).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StringColumn {
    pub ids: Vec<u32>,
    pub table: StringTable,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I32(Vec<i32>),
    Bool(Vec<u8>),
    Str(StringColumn),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub values: ColumnValues,
    /// 1 where the row has a value of the column's type, 0 where it is missing, null or mistyped.
    pub valid: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    /// Rows: the non-blank lines.
    pub len: usize,
    /// In the order of the requested fields.
    pub columns: Vec<Column>,
}

/// Extracts `fields` (pointer and type; no `*`) from every non-blank line of `input`; the first
/// bad line fails the call.
pub fn columns(ctx: &JobCtx, input: &[u8], fields: &[(Pointer, ColumnType)], opts: ParseOptions) -> CoreResult<Columns> {
    columns_with(ctx, input, fields, opts, BadLine::Fail).map(|(columns, _)| columns)
}

/// Like [`columns`], with a policy for bad lines: `Fail` is `columns`; `Skip` drops a bad line
/// (no row); `Collect` drops it and returns its error, whose position has the line number of the
/// record and whose message says "line N". With `Skip` and `Collect` invalid UTF-8 costs only the
/// line it is on.
pub fn columns_with(
    ctx: &JobCtx,
    input: &[u8],
    fields: &[(Pointer, ColumnType)],
    opts: ParseOptions,
    bad: BadLine,
) -> CoreResult<(Columns, Vec<CoreError>)> {
    if let Some((p, _)) = fields.iter().find(|(p, _)| p.has_wildcard()) {
        return Err(CoreError::invalid_arg(format!("columns do not take '*' selectors: {:?}", p.steps)));
    }
    let chunks = match bad {
        BadLine::Fail => ndjson::map_line_chunks_unchecked(ctx, input, |range| {
            let mut scratch = Scratch::default();
            let whole = chunk_at_once(ctx, &input[range.clone()], fields, opts, &mut scratch);
            match whole.map_err(|e| e.shifted(range.start))? {
                Some(out) => Ok((out, Vec::new())),
                None => chunk_by_line(ctx, input, range, fields, opts, bad, &mut scratch),
            }
        })?,
        BadLine::Skip | BadLine::Collect => {
            let per_chunk = ctx.map_chunks(input.len(), ndjson::CHUNK, |nominal| {
                let range = ndjson::chunk_bounds(input, nominal);
                let mut scratch = Scratch::default();
                match chunk_at_once(ctx, &input[range.clone()], fields, opts, &mut scratch) {
                    Ok(Some(out)) => Ok((out, Vec::new())),
                    // Invalid UTF-8 in the chunk: each line is checked on its own.
                    Ok(None) | Err(Failure::Syntax(_)) => chunk_by_line(ctx, input, range, fields, opts, bad, &mut scratch),
                    Err(e) => Err(e),
                }
            })?;
            per_chunk.into_iter().collect::<JResult<Vec<_>>>().map_err(|e| e.into_core(input))?
        }
    };
    let mut out = Builder::new(fields);
    let mut errors = Vec::new();
    for (chunk, chunk_errors) in chunks {
        out.append(&chunk);
        errors.extend(chunk_errors);
    }
    let columns = Columns { len: out.rows, columns: out.columns.into_iter().map(|c| c.column).collect() };
    Ok((columns, errors))
}

/// The columns of one chunk, built with its own string interners.
struct Builder {
    columns: Vec<ColumnBuilder>,
    rows: usize,
    /// Per field, the value entry of its first step in the current record.
    firsts: Vec<Option<usize>>,
}

struct ColumnBuilder {
    column: Column,
    interner: Interner,
}

impl Builder {
    fn new(fields: &[(Pointer, ColumnType)]) -> Self {
        let columns = fields
            .iter()
            .map(|(_, ty)| ColumnBuilder {
                column: Column {
                    values: match ty {
                        ColumnType::F64 => ColumnValues::F64(Vec::new()),
                        ColumnType::F32 => ColumnValues::F32(Vec::new()),
                        ColumnType::I32 => ColumnValues::I32(Vec::new()),
                        ColumnType::Bool => ColumnValues::Bool(Vec::new()),
                        ColumnType::Str => ColumnValues::Str(StringColumn::default()),
                    },
                    valid: Vec::new(),
                },
                interner: Interner::default(),
            })
            .collect();
        Builder { columns, rows: 0, firsts: Vec::new() }
    }

    /// Appends the row of the record whose value starts at entry `k`. On an error some columns may
    /// have the row already: the caller truncates them back.
    fn push_row(
        &mut self,
        nav: &Navigator,
        k: usize,
        fields: &[(Pointer, ColumnType)],
        key_scratch: &mut Vec<u8>,
        unescaped: &mut Vec<u8>,
    ) -> JResult<()> {
        // Objects (the usual record): one pass over the members finds every field's first step.
        self.firsts.clear();
        self.firsts.resize(fields.len(), None);
        let object = nav.byte(k) == b'{';
        if object {
            let firsts = &mut self.firsts;
            nav.members(k, key_scratch, |key, value| {
                for (slot, (pointer, _)) in firsts.iter_mut().zip(fields) {
                    if pointer.steps.first().is_some_and(|s| s.key.as_bytes() == key) {
                        *slot = Some(value);
                    }
                }
            })?;
        }
        for (((pointer, _), col), first) in fields.iter().zip(&mut self.columns).zip(&self.firsts) {
            let found = match (object, pointer.steps.split_first()) {
                (true, Some((_, rest))) => match *first {
                    Some(v) => nav.find(v, rest, key_scratch)?,
                    None => None,
                },
                _ => nav.find(k, &pointer.steps, key_scratch)?,
            };
            push_value(col, nav, found, unescaped)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Makes room for `rows` more rows.
    fn reserve(&mut self, rows: usize) {
        for col in &mut self.columns {
            let column = &mut col.column;
            column.valid.reserve(rows);
            match &mut column.values {
                ColumnValues::F64(v) => v.reserve(rows),
                ColumnValues::F32(v) => v.reserve(rows),
                ColumnValues::I32(v) => v.reserve(rows),
                ColumnValues::Bool(v) => v.reserve(rows),
                ColumnValues::Str(s) => s.ids.reserve(rows),
            }
        }
    }

    /// Drops the rows from `rows` on. A string a dropped row interned stays in its table, unused.
    fn truncate(&mut self, rows: usize) {
        self.rows = rows;
        for col in &mut self.columns {
            let column = &mut col.column;
            column.valid.truncate(rows);
            match &mut column.values {
                ColumnValues::F64(v) => v.truncate(rows),
                ColumnValues::F32(v) => v.truncate(rows),
                ColumnValues::I32(v) => v.truncate(rows),
                ColumnValues::Bool(v) => v.truncate(rows),
                ColumnValues::Str(s) => s.ids.truncate(rows),
            }
        }
    }

    /// Appends another chunk's rows (its string ids move past this table's).
    fn append(&mut self, other: &Builder) {
        self.rows += other.rows;
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            let (a, b) = (&mut mine.column, &theirs.column);
            a.valid.extend_from_slice(&b.valid);
            match (&mut a.values, &b.values) {
                (ColumnValues::F64(x), ColumnValues::F64(y)) => x.extend_from_slice(y),
                (ColumnValues::F32(x), ColumnValues::F32(y)) => x.extend_from_slice(y),
                (ColumnValues::I32(x), ColumnValues::I32(y)) => x.extend_from_slice(y),
                (ColumnValues::Bool(x), ColumnValues::Bool(y)) => x.extend_from_slice(y),
                (ColumnValues::Str(x), ColumnValues::Str(y)) => {
                    let shift = x.table.len() as u32;
                    x.ids.extend(y.ids.iter().map(|id| id + shift));
                    x.table.append(&y.table);
                }
                _ => {}
            }
        }
    }
}

/// The rows of a chunk of lines, UTF-8 checked, indexed and walked as a whole: one stage 1
/// pass and one walk per value instead of one per line, which matters for short records.
/// `Ok(None)` when the chunk is not one valid value per line (a bad record, a value spread over
/// lines, two values on a line): the caller then goes line by line for the exact error.
fn chunk_at_once(
    ctx: &JobCtx,
    text: &[u8],
    fields: &[(Pointer, ColumnType)],
    opts: ParseOptions,
    scratch: &mut Scratch,
) -> JResult<Option<Builder>> {
    let recoverable = |e: Failure| match e {
        Failure::Other(e) => Err(Failure::Other(e)),
        _ => Ok(None),
    };
    // Invalid UTF-8 fails here (the caller decides what it costs); bad JSON gives `Ok(None)`.
    utf8::index_valid_utf8(ctx, text, &mut scratch.index)?;
    if scratch.index.first_string_error.is_some() {
        return Ok(None);
    }
    let positions = &scratch.index.positions;
    let mut jumps = std::mem::take(&mut scratch.jumps);
    jumps.clear();
    jumps.resize(positions.len(), 0);
    let walker = Walker::new(text, &scratch.index, opts.max_depth);
    let mut starts = Vec::new();
    let mut k = 0;
    while k < positions.len() {
        ctx.checkpoint()?;
        let next = match walker.value(ctx, k, &mut scratch.stack, &mut JumpSink { jumps: &mut jumps }) {
            Ok(next) => next,
            Err(e) => {
                scratch.jumps = jumps;
                return recoverable(e);
            }
        };
        // The value must end on its first line, and the next one start on a later line.
        let first = positions[k] as usize;
        let line_end = memchr::memchr(b'\n', &text[first..]).map_or(text.len(), |i| first + i);
        let last = positions[next - 1] as usize;
        if last >= line_end || positions.get(next).is_some_and(|&p| (p as usize) < line_end) {
            scratch.jumps = jumps;
            return Ok(None);
        }
        starts.push(k);
        k = next;
    }
    scratch.jumps = jumps;
    let nav = Navigator::new(text, scratch, opts);
    let mut out = Builder::new(fields);
    out.reserve(starts.len());
    let mut key_scratch = Vec::new();
    let mut unescaped = Vec::new();
    for k in starts {
        if let Err(e) = out.push_row(&nav, k, fields, &mut key_scratch, &mut unescaped) {
            return recoverable(e);
        }
    }
    Ok(Some(out))
}

/// The rows of the lines in `range`, one line at a time. A bad line fails the chunk with `Fail`
/// (errors in `input` offsets), else it adds no row and, with `Collect`, its error.
fn chunk_by_line(
    ctx: &JobCtx,
    input: &[u8],
    range: Range<usize>,
    fields: &[(Pointer, ColumnType)],
    opts: ParseOptions,
    bad: BadLine,
    scratch: &mut Scratch,
) -> JResult<(Builder, Vec<CoreError>)> {
    let mut out = Builder::new(fields);
    let mut errors = Vec::new();
    let mut key_scratch = Vec::new();
    let mut unescaped = Vec::new();
    // Line numbers only matter for collected errors (the others are located from their offset).
    let first_line = match bad {
        BadLine::Collect => 1 + memchr::memchr_iter(b'\n', &input[..range.start]).count(),
        BadLine::Fail | BadLine::Skip => 1,
    };
    for line in Lines::within(input, range, first_line) {
        ctx.checkpoint()?;
        let text = &input[line.start..line.end];
        let rows = out.rows;
        let row = if bad == BadLine::Fail { Ok(()) } else { utf8::validate_utf8(ctx, text) }
            .and_then(|()| structural::structural_index(ctx, text, &mut scratch.index))
            .and_then(|()| index_jumps(ctx, text, scratch, opts))
            .and_then(|()| out.push_row(&Navigator::new(text, scratch, opts), 0, fields, &mut key_scratch, &mut unescaped));
        match (row, bad) {
            (Ok(()), _) => {}
            (Err(Failure::Other(e)), _) => return Err(Failure::Other(e)),
            (Err(e), BadLine::Fail) => return Err(e.shifted(line.start)),
            (Err(_), BadLine::Skip) => out.truncate(rows),
            (Err(e), BadLine::Collect) => {
                out.truncate(rows);
                errors.push(batch::line_error(e, line));
            }
        }
    }
    Ok((out, errors))
}

/// Appends one row: `found` is the structural entry of the field's value, if present.
fn push_value(col: &mut ColumnBuilder, nav: &Navigator, found: Option<usize>, unescaped: &mut Vec<u8>) -> JResult<()> {
    let first = found.map(|k| nav.byte(k));
    let number = match (first, found) {
        (Some(b'-' | b'0'..=b'9'), Some(k)) => nav.number_at(k),
        _ => None,
    };
    let column = &mut col.column;
    let valid = match &mut column.values {
        ColumnValues::F64(v) => {
            v.push(number.unwrap_or(f64::NAN));
            number.is_some()
        }
        ColumnValues::F32(v) => {
            v.push(number.map_or(f32::NAN, |n| n as f32));
            number.is_some()
        }
        ColumnValues::I32(v) => {
            let int = number.filter(|n| n.fract() == 0.0 && *n >= i32::MIN as f64 && *n <= i32::MAX as f64);
            v.push(int.map_or(0, |n| n as i32));
            int.is_some()
        }
        ColumnValues::Bool(v) => {
            let b = match first {
                Some(b't') => Some(1),
                Some(b'f') => Some(0),
                _ => None,
            };
            v.push(b.unwrap_or(0));
            b.is_some()
        }
        ColumnValues::Str(s) => {
            let raw = match (first, found) {
                (Some(b'"'), Some(k)) => Some(nav.string_at(k)),
                _ => None,
            };
            let valid = raw.is_some();
            let id = match raw {
                Some((raw, offset)) => {
                    unescaped.clear();
                    let kind = string::unescape_into(raw, offset, unescaped)?;
                    col.interner.intern(&mut s.table, unescaped, kind)
                }
                None => col.interner.intern(&mut s.table, b"", StrKind::Ascii),
            };
            s.ids.push(id);
            valid
        }
    };
    column.valid.push(u8::from(valid));
    Ok(())
}
