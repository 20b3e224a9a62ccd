//! Tests of the JSON engine. Corpus files are read from the shared corpus beside the project; when
//! it is absent those tests print a note and pass.

mod corpus;
mod errors;
mod lines;
mod props;
mod selectors;
mod stage1;
mod suite;

use super::tape::{Tag, Tape};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// `shared/corpus`, found from the crate directory upwards (worktrees sit at different depths).
/// A xorshift64 generator from `seed` (non-zero): reproducible random numbers for the loops
/// that do not go through proptest.
pub(super) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

pub(super) fn corpus_dir() -> Option<PathBuf> {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared/corpus");
        if candidate.is_dir() {
            return Some(candidate);
        }
        if !dir.pop() {
            eprintln!("note: shared/corpus not found above {}; skipping corpus tests", env!("CARGO_MANIFEST_DIR"));
            return None;
        }
    }
}

/// Rebuilds the values of a tape (as the JS builder will) into serde_json values. Lone surrogates
/// become U+FFFD and non-finite numbers become null, as serde_json cannot hold them.
pub(super) fn tape_values(tape: &Tape) -> Vec<Value> {
    let mut cur = Cursor { tape, tag: 0, count: 0, key: 0, string: 0, number: 0 };
    let mut out = Vec::new();
    while cur.tag < tape.tags.len() {
        out.push(cur.value());
    }
    out
}

struct Cursor<'t> {
    tape: &'t Tape,
    tag: usize,
    count: usize,
    key: usize,
    string: usize,
    number: usize,
}

impl Cursor<'_> {
    fn text(&self, id: u32) -> String {
        let (bytes, _) = self.tape.table.get(id).expect("string id in range");
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn value(&mut self) -> Value {
        let tag = Tag::from_u8(self.tape.tags[self.tag]).expect("known tag");
        self.tag += 1;
        match tag {
            Tag::Null | Tag::Missing => Value::Null,
            Tag::False => Value::Bool(false),
            Tag::True => Value::Bool(true),
            Tag::Number => {
                let n = self.tape.numbers[self.number];
                self.number += 1;
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
            Tag::String => {
                let id = self.tape.strings[self.string];
                self.string += 1;
                Value::String(self.text(id))
            }
            Tag::Array => {
                let n = self.tape.counts[self.count];
                self.count += 1;
                Value::Array((0..n).map(|_| self.value()).collect())
            }
            Tag::Object => {
                let n = self.tape.counts[self.count];
                self.count += 1;
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.text(self.tape.keys[self.key]);
                    self.key += 1;
                    let v = self.value();
                    map.insert(key, v);
                }
                Value::Object(map)
            }
        }
    }
}

/// serde_json's value with every number as an f64, the only number JS has.
pub(super) fn as_js_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(a) => Value::Array(a.iter().map(as_js_numbers).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), as_js_numbers(v))).collect()),
        other => other.clone(),
    }
}

/// Compares two values with numbers compared bit for bit, except that 0 and -0 are equal (serde
/// reads `-0` as an integer).
pub(super) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x.to_bits() == y.to_bits() || (x == 0.0 && y == 0.0)
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Asserts that `got` equals `expected` read as JS would (every number an f64).
#[track_caller]
pub(super) fn assert_js_eq(got: &[Value], expected: &[Value]) {
    let expected: Vec<Value> = expected.iter().map(as_js_numbers).collect();
    assert!(
        got.len() == expected.len() && got.iter().zip(&expected).all(|(a, b)| same(a, b)),
        "got {got:?}, expected {expected:?}"
    );
}

/// A record written by hand, so objects may repeat keys (which serde_json's `Value` cannot hold
/// but reads, keeping the last, as `JSON.parse` does).
#[derive(Clone, Debug)]
pub(super) enum Gen {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Gen>),
    Object(Vec<(String, Gen)>),
}

impl Gen {
    pub(super) fn write(&self, out: &mut String) {
        match self {
            Gen::Null => out.push_str("null"),
            Gen::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Gen::Int(i) => out.push_str(&i.to_string()),
            Gen::Float(f) => out.push_str(&serde_json::to_string(f).expect("finite")),
            Gen::Str(s) => out.push_str(&serde_json::to_string(s).expect("string")),
            Gen::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Gen::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    // Key "a" sometimes spelled with an escape: it must still match.
                    if k == "a" && i % 2 == 1 {
                        out.push_str("\"\\u0061\"");
                    } else {
                        out.push_str(&serde_json::to_string(k).expect("key"));
                    }
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

pub(super) fn gen_record() -> impl proptest::strategy::Strategy<Value = Gen> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Gen::Null),
        any::<bool>().prop_map(Gen::Bool),
        (-3_000_000_000i64..3_000_000_000).prop_map(Gen::Int),
        (-1e6f64..1e6).prop_map(Gen::Float),
        "[a-c é\"\\\\]{0,6}".prop_map(Gen::Str),
    ];
    let key = prop::sample::select(vec!["a", "b", "ab", "0", "1", "a/b", "~"]).prop_map(String::from);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Gen::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(Gen::Object),
        ]
    })
}
