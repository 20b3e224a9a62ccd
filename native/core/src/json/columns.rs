//! `columns`: typed columns from NDJSON records, without building the records.
//!
//! Each chunk of lines is indexed in one stage 1 pass and each record checked by one walk whose
//! sink ([`FieldSink`]) matches the fields' pointers as it goes: the pointers form a trie, the
//! sink follows it down the containers that lead to a field (the walker only checks every other
//! subtree, without the sink), and keeps the last value each field's node saw. At the record's
//! end those values go straight into their columns. A chunk with a bad record is redone line by line, which finds the error (or,
//! with `BadLine::Skip`/`Collect`, drops just that record).
//! Missing fields, `null`, and values of another type are invalid rows (mask 0; the value is NaN
//! for floats, 0 for integers and booleans, the empty string for strings).

use super::batch::{self, BadLine};
use super::document::Scratch;
use super::error::{Failure, JResult};
use super::ndjson::{self, Lines};
use super::document::walk_document;
use super::number;
use super::pointer::Pointer;
use super::string::{self, StrKind};
use super::structural;
use super::tape::{Interner, StringTable, Tag};
use super::utf8;
use super::walker::{RawString, Sink, Walker};
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
        // The pointer's text again (`~` and `/` in keys escaped back).
        let text: String = p.steps.iter().map(|s| format!("/{}", s.key.replace('~', "~0").replace('/', "~1"))).collect();
        return Err(CoreError::invalid_arg(format!("columns do not take '*' selectors: {text}")));
    }
    let trie = Trie::new(fields);
    let chunks = match bad {
        // The first bad line's error, whatever it is (as `ndjson.parse` reports): a chunk with a bad
        // record or invalid UTF-8 goes line by line, and the chunks' errors are taken in order.
        // Until session 13 invalid UTF-8 anywhere won over a syntax error on an earlier line.
        BadLine::Fail => {
            let per_chunk = ndjson::map_ranges(ctx, &ndjson::line_chunks(ctx, input)?, |range| {
                let mut scratch = Scratch::default();
                match chunk_at_once(ctx, &input[range.clone()], &trie, fields, opts, &mut scratch) {
                    Ok(Some(out)) => Ok((out, Vec::new())),
                    Ok(None) | Err(Failure::Syntax(_)) => chunk_by_line(ctx, input, range.clone(), 1, &trie, fields, opts, bad, &mut scratch),
                    Err(e) => Err(e),
                }
            })?;
            per_chunk.into_iter().collect::<JResult<Vec<_>>>().map_err(|e| e.into_line_core(input))?
        }
        BadLine::Skip | BadLine::Collect => {
            let per_chunk = ndjson::map_ranges(ctx, &ndjson::numbered_line_chunks(ctx, input, true)?, |(range, first_line)| {
                let (range, first_line) = (range.clone(), *first_line);
                let mut scratch = Scratch::default();
                match chunk_at_once(ctx, &input[range.clone()], &trie, fields, opts, &mut scratch) {
                    Ok(Some(out)) => Ok((out, Vec::new())),
                    // Invalid UTF-8 in the chunk: each line is checked on its own.
                    Ok(None) | Err(Failure::Syntax(_)) => chunk_by_line(ctx, input, range, first_line, &trie, fields, opts, bad, &mut scratch),
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
    trie: &Trie,
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
    let walker = Walker::new(text, &scratch.index, opts.max_depth);
    let mut out = Builder::new(fields);
    // About 100 bytes a record or more: a first guess that saves most regrowth.
    out.reserve(text.len() / 128 + 1);
    let mut sink = FieldSink::new(trie, text);
    let mut k = 0;
    while k < positions.len() {
        ctx.checkpoint()?;
        let next = match walker.value(ctx, k, &mut scratch.stack, &mut sink) {
            Ok(next) => next,
            Err(e) => return recoverable(e),
        };
        // The value must end on its first line, and the next one start on a later line.
        let first = positions[k] as usize;
        let line_end = memchr::memchr(b'\n', &text[first..]).map_or(text.len(), |i| first + i);
        let last = positions[next - 1] as usize;
        if last >= line_end || positions.get(next).is_some_and(|&p| (p as usize) < line_end) {
            return Ok(None);
        }
        if let Err(e) = sink.push_row(&mut out) {
            return recoverable(e);
        }
        k = next;
    }
    Ok(Some(out))
}

/// The rows of the lines in `range`, one line at a time. A bad line fails the chunk with `Fail`
/// (errors in `input` offsets), else it adds no row and, with `Collect`, its error.
#[allow(clippy::too_many_arguments)]
fn chunk_by_line(
    ctx: &JobCtx,
    input: &[u8],
    range: Range<usize>,
    first_line: usize,
    trie: &Trie,
    fields: &[(Pointer, ColumnType)],
    opts: ParseOptions,
    bad: BadLine,
    scratch: &mut Scratch,
) -> JResult<(Builder, Vec<CoreError>)> {
    let mut out = Builder::new(fields);
    let mut errors = Vec::new();
    // `first_line`: the number of the line at `range.start` (only collected errors use it; the
    // others are located from their offset, and `Fail` passes 1).
    for line in Lines::within(input, range, first_line) {
        ctx.checkpoint()?;
        let text = &input[line.start..line.end];
        let mut sink = FieldSink::new(trie, text);
        let rows = out.rows;
        let row = utf8::validate_utf8(ctx, text)
            .and_then(|()| structural::structural_index(ctx, text, &mut scratch.index))
            .and_then(|()| walk_document(ctx, text, scratch, opts, &mut sink))
            .and_then(|()| sink.push_row(&mut out));
        match (row, bad) {
            (Ok(()), _) => {}
            (Err(Failure::Other(e)), _) => return Err(Failure::Other(e)),
            (Err(e), BadLine::Fail) => return Err(e.shifted(line.start)),
            (Err(_), BadLine::Skip) => out.truncate(rows),
            (Err(e), BadLine::Collect) => {
                out.truncate(rows);
                errors.push(batch::line_error(input, e, line));
            }
        }
    }
    Ok((out, errors))
}

/// The fields' pointers as a trie in depth-first order: node 0 is the record itself, and the
/// nodes below node `n` are `n + 1..n + size[n]`, so forgetting a subtree is one range.
struct Trie {
    /// Per node: the pointer step that leads to it from its parent (unused for the root).
    keys: Vec<Vec<u8>>,
    /// Per node: the array element that step selects, if it is an index.
    indices: Vec<Option<usize>>,
    children: Vec<Vec<u32>>,
    size: Vec<u32>,
    /// Per node: bit `min(len, 63)` set for the byte length of each child's key, so that most
    /// members of a record (keys of other lengths) are passed over without a comparison.
    key_lengths: Vec<u64>,
    /// Per field: its node.
    field_node: Vec<u32>,
}

impl Trie {
    fn new(fields: &[(Pointer, ColumnType)]) -> Trie {
        // Built as a tree first, then numbered in depth-first order.
        struct Tmp {
            key: Vec<u8>,
            index: Option<usize>,
            children: Vec<usize>,
        }
        let mut tmp = vec![Tmp { key: Vec::new(), index: None, children: Vec::new() }];
        let mut ends = Vec::with_capacity(fields.len());
        for (pointer, _) in fields {
            let mut n = 0;
            for step in &pointer.steps {
                let found = tmp[n].children.iter().copied().find(|&c| tmp[c].key == step.key.as_bytes());
                n = match found {
                    Some(c) => c,
                    None => {
                        tmp.push(Tmp { key: step.key.as_bytes().to_vec(), index: step.index, children: Vec::new() });
                        let c = tmp.len() - 1;
                        tmp[n].children.push(c);
                        c
                    }
                };
            }
            ends.push(n);
        }
        let mut order = vec![0u32; tmp.len()];
        let mut trie = Trie {
            keys: Vec::new(),
            indices: Vec::new(),
            children: Vec::new(),
            size: Vec::new(),
            key_lengths: Vec::new(),
            field_node: Vec::new(),
        };
        fn visit(t: &[Tmp], n: usize, order: &mut [u32], trie: &mut Trie) {
            let id = trie.keys.len();
            order[n] = id as u32;
            trie.keys.push(t[n].key.clone());
            trie.indices.push(t[n].index);
            trie.children.push(Vec::new());
            trie.size.push(0);
            for &c in &t[n].children {
                let child = trie.keys.len() as u32;
                trie.children[id].push(child);
                visit(t, c, order, trie);
            }
            trie.size[id] = (trie.keys.len() - id) as u32;
        }
        visit(&tmp, 0, &mut order, &mut trie);
        trie.key_lengths = trie.children.iter().map(|c| c.iter().fold(0u64, |m, &c| m | length_bit(trie.keys[c as usize].len()))).collect();
        trie.field_node = ends.iter().map(|&n| order[n]).collect();
        trie
    }

    /// Whether some child of `node` may have a key of `len` bytes.
    #[inline(always)]
    fn may_have_key_of(&self, node: u32, len: usize) -> bool {
        self.key_lengths[node as usize] & length_bit(len) != 0
    }

    /// The child of `node` reached by member `key`.
    #[inline(always)]
    fn child_by_key(&self, node: u32, key: &[u8]) -> Option<u32> {
        self.children[node as usize].iter().copied().find(|&c| same_key(&self.keys[c as usize], key))
    }
}

#[inline(always)]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// `a == b`, without a library call for the short keys records have (mostly a length mismatch).
#[inline(always)]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.len() > 16 || a.iter().zip(b).all(|(x, y)| x == y)) && (a.len() <= 16 || a == b)
}

/// What a field's node last saw in the current record.
#[derive(Clone, Copy)]
enum Slot {
    Missing,
    /// A number token: input offset and length (converted only if it is still there at the end).
    Number(u32, u32),
    True,
    False,
    /// A string's raw content (still escaped): input offset and length.
    Str(u32, u32),
    /// `null`, an object or an array.
    Other,
}

/// Open containers the sink follows: those on the way to some field.
#[derive(Clone, Copy)]
struct Open {
    node: u32,
    object: bool,
    /// Arrays: the index of the next element.
    next: u32,
}

/// A walk sink that picks the fields out of each record as the walker checks it.
struct FieldSink<'t, 'a> {
    trie: &'t Trie,
    input: &'a [u8],
    slots: Vec<Slot>,
    open: Vec<Open>,
    /// The node of the member whose key was just read, if it leads to a field.
    pending: Option<u32>,
    key_scratch: Vec<u8>,
    unescaped: Vec<u8>,
}

impl<'t, 'a> FieldSink<'t, 'a> {
    fn new(trie: &'t Trie, input: &'a [u8]) -> Self {
        FieldSink {
            trie,
            input,
            slots: vec![Slot::Missing; trie.keys.len()],
            open: Vec::new(),
            pending: None,
            key_scratch: Vec::new(),
            unescaped: Vec::new(),
        }
    }

    /// The node of the value that comes now.
    #[inline(always)]
    fn value_node(&mut self) -> Option<u32> {
        match self.open.last_mut() {
            None => Some(0),
            Some(o) if o.object => self.pending.take(),
            Some(o) => {
                let i = o.next as usize;
                o.next += 1;
                self.trie.children[o.node as usize].iter().copied().find(|&c| self.trie.indices[c as usize] == Some(i))
            }
        }
    }

    /// Node `n` now holds `slot`, and everything below it is gone (a later duplicate member
    /// replaces the whole earlier value, as in `JSON.parse`).
    #[inline(always)]
    fn set(&mut self, n: u32, slot: Slot) {
        let n = n as usize;
        let end = n + self.trie.size[n] as usize;
        self.slots[n] = slot;
        for s in &mut self.slots[n + 1..end] {
            *s = Slot::Missing;
        }
    }

    #[inline(always)]
    fn scalar(&mut self, slot: Slot) {
        if let Some(n) = self.value_node() {
            self.set(n, slot);
        }
    }

    /// Appends the record just walked as one row. On an error some columns may have the row
    /// already: the caller truncates them back.
    fn push_row(&mut self, out: &mut Builder) -> JResult<()> {
        for (col, &node) in out.columns.iter_mut().zip(&self.trie.field_node) {
            let slot = self.slots[node as usize];
            let number = match slot {
                Slot::Number(at, len) => Some(number::to_f64(&self.input[at as usize..(at + len) as usize])),
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
                    let b = match slot {
                        Slot::True => Some(1),
                        Slot::False => Some(0),
                        _ => None,
                    };
                    v.push(b.unwrap_or(0));
                    b.is_some()
                }
                ColumnValues::Str(s) => {
                    let id = match slot {
                        Slot::Str(at, len) => {
                            let (at, len) = (at as usize, len as usize);
                            self.unescaped.clear();
                            let kind = string::unescape_into(&self.input[at..at + len], at, &mut self.unescaped)?;
                            col.interner.intern(&mut s.table, &self.unescaped, kind)
                        }
                        _ => col.interner.intern(&mut s.table, b"", StrKind::Ascii),
                    };
                    s.ids.push(id);
                    matches!(slot, Slot::Str(..))
                }
            };
            column.valid.push(u8::from(valid));
        }
        out.rows += 1;
        Ok(())
    }
}

impl Sink for FieldSink<'_, '_> {
    /// Containers that lead to no field are only checked (by the walker, without this sink).
    #[inline(always)]
    fn descend(&mut self, object: bool, _k: usize) -> bool {
        let Some(n) = self.value_node() else { return false };
        self.set(n, Slot::Other);
        if self.trie.children[n as usize].is_empty() {
            return false;
        }
        self.open.push(Open { node: n, object, next: 0 });
        self.pending = None;
        true
    }

    #[inline(always)]
    fn open(&mut self, _object: bool, _k: usize) -> u32 {
        0
    }

    #[inline(always)]
    fn close(&mut self, _object: bool, _slot: u32, _count: u32, _next: usize) {
        self.open.pop();
    }

    #[inline(always)]
    fn key(&mut self, s: RawString) -> JResult<()> {
        let Some(o) = self.open.last() else { return Ok(()) };
        // Without escapes the raw bytes are the key: its length alone rules most members out.
        if !s.escaped && !self.trie.may_have_key_of(o.node, s.raw.len()) {
            self.pending = None;
            return Ok(());
        }
        let key = s.text(&mut self.key_scratch)?;
        self.pending = self.trie.child_by_key(o.node, key);
        Ok(())
    }

    #[inline(always)]
    fn string(&mut self, s: RawString) -> JResult<()> {
        self.scalar(Slot::Str(s.offset as u32, s.raw.len() as u32));
        Ok(())
    }

    #[inline(always)]
    fn number(&mut self, token: &[u8]) {
        let at = token.as_ptr() as usize - self.input.as_ptr() as usize;
        self.scalar(Slot::Number(at as u32, token.len() as u32));
    }

    #[inline(always)]
    fn literal(&mut self, tag: Tag) {
        self.scalar(match tag {
            Tag::True => Slot::True,
            Tag::False => Slot::False,
            _ => Slot::Other,
        });
    }
}
