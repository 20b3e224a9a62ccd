//! The JSON engine: strict RFC 8259 parsing with the accept/reject verdict of `JSON.parse` on the
//! strict UTF-8 decoding of the input, into a [`Tape`] the JS side turns into objects.
//!
//! Every entry point runs the same pipeline: UTF-8 validation ([`utf8`]), stage 1 (the SIMD
//! structural index, [`structural`]), stage 2 (one grammar walk over the index with an explicit
//! stack, [`walker`]) feeding a sink that decides what to keep. See `docs/json-engine.md`.

mod agreement;
mod batch;
mod columns;
mod document;
pub mod error;
mod ndjson;
mod number;
mod pointer;
mod select;
pub mod string;
pub mod structural;
pub mod tape;
mod utf8;
mod validate;
mod walker;

#[cfg(test)]
mod tests;

pub use agreement::check_agreement;
pub use batch::{parse_batch, BadLine, Batch};
pub use columns::{columns, columns_with, Column, ColumnType, ColumnValues, Columns, StringColumn};
pub use document::{parse_to_tape, with_tape};
pub use ndjson::{parse_lines, parse_many, Lines, Line};
pub use pointer::{Pointer, Step};
pub use select::select;
pub use string::StrKind;
pub use tape::{StringTable, Tag, Tape};
pub use validate::validate;

/// Options shared by every parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Deepest nesting of arrays and objects accepted; deeper input fails with `ERR_JSON_DEPTH`.
    pub max_depth: usize,
    /// Whether the input is the start of its text, so that a leading byte-order mark is skipped
    /// (true by default). False for the later batches of an NDJSON stream: a line there that
    /// starts with U+FEFF is a bad line, as it is anywhere but at the start of `ndjson.parse`'s input.
    pub at_start: bool,
}

pub const DEFAULT_MAX_DEPTH: usize = 10_000;

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { max_depth: DEFAULT_MAX_DEPTH, at_start: true }
    }
}
