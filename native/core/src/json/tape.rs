//! The tape: a parsed document as flat arrays that a JS builder turns into objects with one pass
//! and no parsing.
//!
//! Values are laid out in document order (pre-order). Each value has one byte in `tags`; the other
//! streams are consumed in step with it, each by its own cursor:
//!
//! | tag | consumes |
//! |---|---|
//! | `Null`, `False`, `True`, `Missing` | nothing |
//! | `Number` | one `f64` from `numbers` |
//! | `String` | one string id from `strings` |
//! | `Array` | one count from `counts`, then that many values |
//! | `Object` | one count from `counts`, then that many members: a key id from `keys`, then a value |
//!
//! Containers carry their count up front so the builder can preallocate and can walk the tape in
//! slices with an explicit stack (frame = container, remaining count). String ids index a
//! [`StringTable`] in which every string, key or value, is interned: equal strings share one id,
//! so a builder that caches the JS string per id creates each distinct string once. (In
//! twitter.json 13 345 keys have 94 distinct texts and 4 754 string values about 1 500.)

use super::error::JResult;
use super::number;
use super::string::{self, StrKind};
use super::walker::{RawString, Sink};
use hashbrown::HashTable;
use std::hash::Hasher;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    Null = 0,
    False = 1,
    True = 2,
    Number = 3,
    String = 4,
    Array = 5,
    Object = 6,
    /// Only in `select` results: the pointer matched nothing (JS: `undefined`).
    Missing = 7,
}

impl Tag {
    pub fn from_u8(b: u8) -> Option<Tag> {
        Some(match b {
            0 => Tag::Null,
            1 => Tag::False,
            2 => Tag::True,
            3 => Tag::Number,
            4 => Tag::String,
            5 => Tag::Array,
            6 => Tag::Object,
            7 => Tag::Missing,
            _ => return None,
        })
    }
}

/// Strings as one byte buffer: string `i` is `bytes[offsets[i]..offsets[i + 1]]` (WTF-8), to be
/// decoded as `kinds[i]` says (a [`StrKind`] as `u8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringTable {
    pub bytes: Vec<u8>,
    /// One more entry than there are strings; starts at 0.
    pub offsets: Vec<u32>,
    pub kinds: Vec<u8>,
}

impl Default for StringTable {
    fn default() -> Self {
        StringTable { bytes: Vec::new(), offsets: vec![0], kinds: Vec::new() }
    }
}

impl StringTable {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The bytes and kind of string `id`.
    pub fn get(&self, id: u32) -> Option<(&[u8], StrKind)> {
        let i = id as usize;
        let (start, end) = (*self.offsets.get(i)? as usize, *self.offsets.get(i + 1)? as usize);
        let kind = match *self.kinds.get(i)? {
            0 => StrKind::Ascii,
            1 => StrKind::Utf8,
            _ => StrKind::Wtf8,
        };
        Some((self.bytes.get(start..end)?, kind))
    }

    /// Closes the string whose bytes were appended since the last one; returns its id.
    #[inline]
    fn finish(&mut self, kind: StrKind) -> u32 {
        self.offsets.push(self.bytes.len() as u32);
        self.kinds.push(kind as u8);
        (self.kinds.len() - 1) as u32
    }

    /// Appends all of `other`, whose ids move up by `self.len()`.
    pub(crate) fn append(&mut self, other: &StringTable) {
        let shift = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&other.bytes);
        self.offsets.extend(other.offsets.iter().skip(1).map(|o| o + shift));
        self.kinds.extend_from_slice(&other.kinds);
    }
}

/// Object shapes: the key sequence of each distinct object layout. Shape `i`'s key ids are
/// `keys[offsets[i]..offsets[i + 1]]`, in member order (duplicates kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeTable {
    pub keys: Vec<u32>,
    /// One more entry than there are shapes; starts at 0.
    pub offsets: Vec<u32>,
}

impl Default for ShapeTable {
    fn default() -> Self {
        ShapeTable { keys: Vec::new(), offsets: vec![0] }
    }
}

impl ShapeTable {
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keys_of(&self, id: u32) -> &[u32] {
        let i = id as usize;
        &self.keys[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Appends `other`, whose key ids move up by `key_shift`.
    fn append(&mut self, other: &ShapeTable, key_shift: u32) {
        let shift = self.keys.len() as u32;
        self.keys.extend(other.keys.iter().map(|k| k + key_shift));
        self.offsets.extend(other.offsets.iter().skip(1).map(|o| o + shift));
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tape {
    pub tags: Vec<u8>,
    pub counts: Vec<u32>,
    pub keys: Vec<u32>,
    pub strings: Vec<u32>,
    pub numbers: Vec<f64>,
    pub table: StringTable,
    /// For each object, in order, the id of its shape in `shape_table`: objects with the same keys
    /// in the same order share a shape, so the JS builder can create them with one compiled literal.
    pub shapes: Vec<u32>,
    pub shape_table: ShapeTable,
}

impl Tape {
    /// Appends `other`'s values after this tape's, renumbering its string and shape ids.
    pub(crate) fn append(&mut self, other: &Tape) {
        let shift = self.table.len() as u32;
        let shape_shift = self.shape_table.len() as u32;
        self.tags.extend_from_slice(&other.tags);
        self.counts.extend_from_slice(&other.counts);
        self.keys.extend(other.keys.iter().map(|k| k + shift));
        self.strings.extend(other.strings.iter().map(|s| s + shift));
        self.numbers.extend_from_slice(&other.numbers);
        self.table.append(&other.table);
        self.shapes.extend(other.shapes.iter().map(|s| s + shape_shift));
        self.shape_table.append(&other.shape_table, shift);
    }
}

/// Deduplicates object shapes: the hash table holds shape ids and compares key sequences.
#[derive(Default)]
struct ShapeInterner {
    ids: HashTable<u32>,
}

#[inline]
fn hash_keys(keys: &[u32]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for &k in keys {
        h.write_u32(k);
    }
    h.write_usize(keys.len());
    h.finish()
}

impl ShapeInterner {
    fn intern(&mut self, table: &mut ShapeTable, keys: &[u32]) -> u32 {
        let hash = hash_keys(keys);
        if let Some(&id) = self.ids.find(hash, |&id| table.keys_of(id) == keys) {
            return id;
        }
        table.keys.extend_from_slice(keys);
        table.offsets.push(table.keys.len() as u32);
        let id = (table.len() - 1) as u32;
        self.ids.insert_unique(hash, id, |&id| hash_keys(table.keys_of(id)));
        id
    }
}

/// Deduplicates strings in a [`StringTable`] without a second copy of their bytes: the hash table
/// holds ids and compares against the table's bytes.
#[derive(Default)]
pub(crate) struct Interner {
    ids: HashTable<u32>,
}

#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

impl Interner {
    /// The id of `bytes` in `table`, adding it if new.
    #[inline]
    pub(crate) fn intern(&mut self, table: &mut StringTable, bytes: &[u8], kind: StrKind) -> u32 {
        let hash = hash_bytes(bytes);
        fn slice_of(t: &StringTable, id: u32) -> &[u8] {
            let i = id as usize;
            &t.bytes[t.offsets[i] as usize..t.offsets[i + 1] as usize]
        }
        if let Some(&id) = self.ids.find(hash, |&id| slice_of(table, id) == bytes) {
            return id;
        }
        table.bytes.extend_from_slice(bytes);
        let id = table.finish(kind);
        self.ids.insert_unique(hash, id, |&id| hash_bytes(slice_of(table, id)));
        id
    }
}

/// String values longer than this are not interned. Long values are seldom repeated (text,
/// descriptions, ids), and interning many distinct ones costs a hash-table probe and insert each,
/// with the table outgrowing the caches: on 64 MB of generated records with a unique 60-byte
/// description each, interning was about 40% of `parse_to_tape`.
pub const INTERN_MAX_VALUE: usize = 32;

/// Builds a [`Tape`] from a walk.
#[derive(Default)]
pub(crate) struct TapeBuilder {
    pub tape: Tape,
    interner: Interner,
    scratch: Vec<u8>,
    shapes: ShapeInterner,
    /// Key ids of the objects open now, innermost last (a stack: a nested object's keys are
    /// dropped when it closes).
    open_keys: Vec<u32>,
    /// For each open object: where its keys start in `open_keys`, and its slot in `tape.shapes`.
    open_objects: Vec<(usize, usize)>,
}

impl TapeBuilder {
    /// Reserves room for a document with `entries` structural entries, an upper bound on its
    /// values, and `text_len` bytes, an upper bound on its string bytes. Untouched capacity is
    /// never faulted in, so generous bounds cost little and save the copies of growing.
    pub(crate) fn reserve_for(&mut self, entries: usize, text_len: usize) {
        let t = &mut self.tape;
        t.tags.reserve(entries);
        t.counts.reserve(entries / 2);
        t.keys.reserve(entries / 4);
        t.strings.reserve(entries / 2);
        t.numbers.reserve(entries);
        t.table.bytes.reserve(text_len);
    }

    /// Empties the builder for a new document, keeping the capacity of its buffers.
    pub(crate) fn reset(&mut self) {
        let t = &mut self.tape;
        t.tags.clear();
        t.counts.clear();
        t.keys.clear();
        t.strings.clear();
        t.numbers.clear();
        t.table.bytes.clear();
        t.table.offsets.clear();
        t.table.offsets.push(0);
        t.table.kinds.clear();
        t.shapes.clear();
        t.shape_table.keys.clear();
        t.shape_table.offsets.clear();
        t.shape_table.offsets.push(0);
        self.interner.ids.clear();
        self.shapes.ids.clear();
        self.open_keys.clear();
        self.open_objects.clear();
    }

    pub(crate) fn push_tag(&mut self, tag: Tag) {
        self.tape.tags.push(tag as u8);
    }

    /// Adds a string value or key and returns its id. Keys and values of up to
    /// [`INTERN_MAX_VALUE`] bytes are interned; longer values get an id of their own.
    #[inline]
    fn add_string(&mut self, s: RawString, key: bool) -> JResult<u32> {
        let intern = key || s.raw.len() <= INTERN_MAX_VALUE;
        if !s.escaped || memchr::memchr(b'\\', s.raw).is_none() {
            return Ok(self.add_unescaped(s.raw, string::kind_of_utf8(s.raw), intern));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let kind = string::unescape_into(s.raw, s.offset, &mut scratch)?;
        let id = self.add_unescaped(&scratch, kind, intern);
        self.scratch = scratch;
        Ok(id)
    }

    #[inline]
    fn add_unescaped(&mut self, bytes: &[u8], kind: StrKind, intern: bool) -> u32 {
        if intern {
            return self.interner.intern(&mut self.tape.table, bytes, kind);
        }
        self.tape.table.bytes.extend_from_slice(bytes);
        self.tape.table.finish(kind)
    }

    /// Sets the count of the container opened with `slot` (for containers built outside a walk).
    pub(crate) fn set_count(&mut self, slot: u32, count: u32) {
        if let Some(c) = self.tape.counts.get_mut(slot as usize) {
            *c = count;
        }
    }

    /// Opens a container outside a walk; returns its slot for `set_count`.
    pub(crate) fn open_container(&mut self, object: bool) -> u32 {
        self.open(object, 0)
    }

    /// Where the tape ends now, to undo a value that turned out bad (see `rollback`).
    pub(crate) fn mark(&self) -> TapeMark {
        let t = &self.tape;
        TapeMark {
            tags: t.tags.len(),
            counts: t.counts.len(),
            keys: t.keys.len(),
            strings: t.strings.len(),
            numbers: t.numbers.len(),
            shapes: t.shapes.len(),
            open_objects: self.open_objects.len(),
            open_keys: self.open_keys.len(),
        }
    }

    /// Drops everything written since `mark`. Strings already added to the table stay (unreferenced,
    /// and interned ones stay valid for later values); the bytes of an unfinished string go.
    pub(crate) fn rollback(&mut self, mark: TapeMark) {
        let t = &mut self.tape;
        t.tags.truncate(mark.tags);
        t.counts.truncate(mark.counts);
        t.keys.truncate(mark.keys);
        t.strings.truncate(mark.strings);
        t.numbers.truncate(mark.numbers);
        t.shapes.truncate(mark.shapes);
        // A bad value may have left objects open; their keys and slots go with it.
        self.open_objects.truncate(mark.open_objects);
        self.open_keys.truncate(mark.open_keys);
        let finished = t.table.offsets.last().copied().unwrap_or(0) as usize;
        t.table.bytes.truncate(finished);
    }
}

/// Lengths of a tape's streams at one moment.
#[derive(Clone, Copy)]
pub(crate) struct TapeMark {
    tags: usize,
    counts: usize,
    keys: usize,
    strings: usize,
    numbers: usize,
    shapes: usize,
    open_objects: usize,
    open_keys: usize,
}

impl Sink for TapeBuilder {
    #[inline(always)]
    fn open(&mut self, object: bool, _k: usize) -> u32 {
        self.push_tag(if object { Tag::Object } else { Tag::Array });
        if object {
            self.open_objects.push((self.open_keys.len(), self.tape.shapes.len()));
            self.tape.shapes.push(0);
        }
        self.tape.counts.push(0);
        (self.tape.counts.len() - 1) as u32
    }

    #[inline(always)]
    fn close(&mut self, object: bool, slot: u32, count: u32, _next: usize) {
        self.set_count(slot, count);
        if object {
            if let Some((start, shape_slot)) = self.open_objects.pop() {
                let id = self.shapes.intern(&mut self.tape.shape_table, &self.open_keys[start..]);
                self.tape.shapes[shape_slot] = id;
                self.open_keys.truncate(start);
            }
        }
    }

    #[inline(always)]
    fn key(&mut self, s: RawString) -> JResult<()> {
        let id = self.add_string(s, true)?;
        self.tape.keys.push(id);
        self.open_keys.push(id);
        Ok(())
    }

    #[inline(always)]
    fn string(&mut self, s: RawString) -> JResult<()> {
        let id = self.add_string(s, false)?;
        self.push_tag(Tag::String);
        self.tape.strings.push(id);
        Ok(())
    }

    #[inline(always)]
    fn number(&mut self, token: &[u8]) {
        self.push_tag(Tag::Number);
        self.tape.numbers.push(number::to_f64(token));
    }

    #[inline(always)]
    fn literal(&mut self, tag: Tag) {
        self.push_tag(tag);
    }
}

#[cfg(all(test, not(loom)))]
mod shape_tests {
    use super::*;
    use crate::json::{parse_to_tape, ParseOptions};
    use crate::runtime::JobCtx;

    fn key_names(t: &Tape, shape: u32) -> Vec<String> {
        t.shape_table
            .keys_of(shape)
            .iter()
            .map(|&k| String::from_utf8(t.table.get(k).unwrap().0.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn objects_with_the_same_keys_share_a_shape() {
        let input = br#"{"a":1,"b":{"c":2},"d":[{"a":1,"b":3},{"a":0,"b":{"c":[]}},{"b":1,"a":2},{"x":1,"x":2}]}"#;
        let t = parse_to_tape(&JobCtx::inline(), input, ParseOptions::default()).unwrap();
        // Objects in document order: root, {c}, {a,b}, {a,b}, {c}, {b,a}, {x,x}.
        let names: Vec<Vec<String>> = t.shapes.iter().map(|&s| key_names(&t, s)).collect();
        let want: Vec<Vec<&str>> =
            vec![vec!["a", "b", "d"], vec!["c"], vec!["a", "b"], vec!["a", "b"], vec!["c"], vec!["b", "a"], vec!["x", "x"]];
        assert_eq!(names, want);
        assert_eq!(t.shapes[2], t.shapes[3]);
        assert_eq!(t.shapes[1], t.shapes[4]);
        assert_ne!(t.shapes[2], t.shapes[5], "key order is part of the shape");
        assert_eq!(t.shape_table.len(), 5);
    }

    #[test]
    fn append_renumbers_shapes_and_their_keys() {
        let ctx = JobCtx::inline();
        let mut a = parse_to_tape(&ctx, br#"{"p":1}"#, ParseOptions::default()).unwrap();
        let b = parse_to_tape(&ctx, br#"[{"q":2},{"p":3}]"#, ParseOptions::default()).unwrap();
        a.append(&b);
        let names: Vec<Vec<String>> = a.shapes.iter().map(|&s| key_names(&a, s)).collect();
        assert_eq!(names, vec![vec!["p"], vec!["q"], vec!["p"]]);
    }

    #[test]
    fn reused_buffers_give_the_tape_a_fresh_parse_gives() {
        // Documents in an order where each leaves state (interned keys, shapes, strings, an error
        // midway) that the next must not see.
        let docs: [&[u8]; 7] = [
            br#"{"a":1,"b":["x","y"],"c":{"a":2}}"#,
            br#"{"b":2,"a":"x"}"#,
            br#"[{"a":1},{"z":"\ud800"}, 1e400, -0]"#,
            br#"{"a":[1,2,"#,
            br#"{"a":1,"b":["x","y"],"c":{"a":2}}"#,
            br#""plain""#,
            br#"{"q":{"q":{"q":{}}}}"#,
        ];
        let ctx = JobCtx::inline();
        for round in 0..2 {
            for (i, doc) in docs.iter().enumerate() {
                let fresh = parse_to_tape(&ctx, doc, ParseOptions::default());
                let reused = crate::json::with_tape(&ctx, doc, ParseOptions::default(), |t| t.clone());
                match (fresh, reused) {
                    (Ok(f), Ok(r)) => assert_eq!(f, r, "round {round}, document {i}"),
                    (Err(f), Err(r)) => assert_eq!(f.to_string(), r.to_string(), "round {round}, document {i}"),
                    (f, r) => panic!("round {round}, document {i}: {:?} vs {:?}", f.is_ok(), r.is_ok()),
                }
            }
        }
    }
}
