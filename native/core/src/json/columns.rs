//! `columns`: typed columns from NDJSON records, without building the records.
//!
//! Each record is indexed and checked once (the walk that records container ends); each field's
//! pointer then hops over the index to its value, which is converted straight into its column.
//! Missing fields, `null`, and values of another type are invalid rows (mask 0; the value is NaN
//! for floats, 0 for integers and booleans, the empty string for strings).

use super::document::Scratch;
use super::error::JResult;
use super::ndjson::{self, Lines};
use super::pointer::Pointer;
use super::select::{index_jumps, Navigator};
use super::string::{self, StrKind};
use super::structural;
use super::tape::{Interner, StringTable};
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

/// Extracts `fields` (pointer and type; no `*`) from every non-blank line of `input`.
pub fn columns(ctx: &JobCtx, input: &[u8], fields: &[(Pointer, ColumnType)], opts: ParseOptions) -> CoreResult<Columns> {
    if let Some((p, _)) = fields.iter().find(|(p, _)| p.has_wildcard()) {
        return Err(CoreError::invalid_arg(format!("columns do not take '*' selectors: {:?}", p.steps)));
    }
    let chunks = ndjson::map_line_chunks(ctx, input, |range| column_chunk(ctx, input, range, fields, opts))?;
    let mut out = Builder::new(fields);
    let mut len = 0;
    for chunk in &chunks {
        out.append(chunk);
        len += chunk.rows;
    }
    Ok(Columns { len, columns: out.columns.into_iter().map(|c| c.column).collect() })
}

/// The columns of one chunk, built with its own string interners.
struct Builder {
    columns: Vec<ColumnBuilder>,
    rows: usize,
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
        Builder { columns, rows: 0 }
    }

    /// Appends another chunk's rows (its string ids move past this table's).
    fn append(&mut self, other: &Builder) {
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

fn column_chunk(
    ctx: &JobCtx,
    input: &[u8],
    range: Range<usize>,
    fields: &[(Pointer, ColumnType)],
    opts: ParseOptions,
) -> JResult<Builder> {
    let mut out = Builder::new(fields);
    let mut scratch = Scratch::default();
    let mut key_scratch = Vec::new();
    let mut unescaped = Vec::new();
    for line in Lines::within(input, range, 1) {
        ctx.checkpoint()?;
        let text = &input[line.start..line.end];
        let indexed = structural::structural_index(ctx, text, &mut scratch.index)
            .and_then(|()| index_jumps(ctx, text, &mut scratch, opts));
        indexed.map_err(|e| e.shifted(line.start))?;
        let nav = Navigator::new(text, &scratch, opts);
        for ((pointer, _), col) in fields.iter().zip(&mut out.columns) {
            let found = nav.find(0, &pointer.steps, &mut key_scratch).map_err(|e| e.shifted(line.start))?;
            push_value(col, &nav, found, &mut unescaped).map_err(|e| e.shifted(line.start))?;
        }
        out.rows += 1;
    }
    Ok(out)
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
