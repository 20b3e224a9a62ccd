//! Pointers and `select`.

use super::{assert_js_eq, tape_values};
use crate::error::ErrorCode;
use crate::json::{select, ParseOptions, Pointer, Tag};
use crate::runtime::JobCtx;
use serde_json::{json, Value};

fn sel(doc: &str, pointers: &[&str]) -> Vec<Value> {
    let ps: Vec<Pointer> = pointers.iter().map(|p| Pointer::parse(p).expect("valid pointer")).collect();
    let tape = select(&JobCtx::inline(), doc.as_bytes(), &ps, ParseOptions::default()).expect("select");
    tape_values(&tape)
}

fn missing_count(doc: &str, pointer: &str) -> usize {
    let p = Pointer::parse(pointer).expect("valid pointer");
    let tape = select(&JobCtx::inline(), doc.as_bytes(), &[p], ParseOptions::default()).expect("select");
    tape.tags.iter().filter(|&&t| t == Tag::Missing as u8).count()
}

#[test]
fn json_pointer_parsing() {
    let p = Pointer::parse("/a~1b/m~0n/0/01/-/*").expect("valid");
    let keys: Vec<&str> = p.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["a/b", "m~n", "0", "01", "-", "*"]);
    let indexes: Vec<Option<usize>> = p.steps.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [None, None, Some(0), None, None, None]);
    assert!(p.steps[5].wildcard && p.has_wildcard());
    assert!(Pointer::parse("").expect("root").steps.is_empty());
    assert_eq!(Pointer::parse("a").map_err(|e| e.code), Err(ErrorCode::InvalidArg));
    assert_eq!(Pointer::parse("/a~2").map_err(|e| e.code), Err(ErrorCode::InvalidArg));
    assert_eq!(Pointer::parse("/~").map_err(|e| e.code), Err(ErrorCode::InvalidArg));
}

#[test]
fn json_select_values() {
    let doc = r#"{"a": {"b": [10, 20, {"c": "x"}]}, "a/b": 1, "m~n": 2, "": 3, "k\u0065y": 4, "d": 5, "d": 6,
                 "items": [{"id": 1, "t": "p"}, {"id": 2}, 7, {"id": [3]}], "*": "star"}"#;
    let got = sel(doc, &["/a/b/1", "/a/b/2/c", "/a~1b", "/m~0n", "/", "/key", "/d", "/items/*/id", "/items/*/t", "/*", "/a/b/-", "/a/b/01"]);
    assert_js_eq(
        &got,
        &[json!(20), json!("x"), json!(1), json!(2), json!(3), json!(4), json!(6), json!([1, 2, null, [3]]), json!(["p", null, null, null]), json!("star"), Value::Null, Value::Null]
    );
    assert_eq!(missing_count(doc, "/items/*/t"), 3);
    assert_eq!(missing_count(doc, "/nope/deeper"), 1);
    assert_eq!(missing_count(doc, "/a/b/0/x"), 1);
    assert_eq!(missing_count(doc, "/items/*/id"), 1);
    assert_js_eq(&sel("[[1,2],[3],[]]", &["/*/*", "/*/0", "", "/1/0"]), &[json!([[1, 2], [3], []]), json!([1, 3, null]), json!([[1, 2], [3], []]), json!(3)]);
}

#[test]
fn json_select_fails_like_parse() {
    let p = [Pointer::parse("/a").expect("valid")];
    let e = select(&JobCtx::inline(), br#"{"a": 1, "b": [1,]}"#, &p, ParseOptions::default()).expect_err("invalid document");
    assert_eq!(e.code, ErrorCode::JsonSyntax);
    assert_eq!(e.position.map(|p| p.offset), Some(17));
}

/// `select` by definition, on serde_json's reading of the document (which keeps the last of
/// duplicate keys): `None` is a pointer that matches nothing.
fn reference(v: &Value, steps: &[crate::json::Step]) -> Option<Value> {
    let mut v = v;
    for (j, step) in steps.iter().enumerate() {
        v = match v {
            Value::Array(items) if step.wildcard => {
                return Some(Value::Array(items.iter().map(|e| reference(e, &steps[j + 1..]).unwrap_or(Value::Null)).collect()));
            }
            Value::Object(m) => m.get(&step.key)?,
            Value::Array(items) => items.get(step.index?)?,
            _ => return None,
        };
    }
    Some(v.clone())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// Random documents with repeated keys, escaped keys, nested arrays and objects, against
    /// random selectors (plain, indexed, `*` once or twice, shared prefixes): every selection
    /// equals the reference, and exactly the missing ones are `Missing`.
    #[test]
    fn json_select_matches_reference(doc in super::gen_record(), picks in proptest::collection::vec(0usize..16, 1..6)) {
        let mut text = String::new();
        doc.write(&mut text);
        let all = ["", "/a", "/b", "/a/b", "/a/0", "/*", "/a/*", "/*/a", "/*/*", "/a/*/b", "/0/*/ab", "/ab/1", "/a~1b", "/~0", "/a/a/a", "/*/0/*"];
        let pointers: Vec<Pointer> = picks.iter().map(|&i| Pointer::parse(all[i]).expect("valid")).collect();
        let v: Value = serde_json::from_str(&text).expect("serde reads the document");
        let tape = select(&JobCtx::inline(), text.as_bytes(), &pointers, ParseOptions::default()).expect("select");
        let windowed = crate::json::document::always_windowed(|| select(&JobCtx::inline(), text.as_bytes(), &pointers, ParseOptions::default())).expect("select");
        proptest::prop_assert!(windowed == tape, "the windowed walk selects the same on {}", text);
        let got = tape_values(&tape);
        proptest::prop_assert_eq!(got.len(), pointers.len());
        for ((p, g), i) in pointers.iter().zip(&got).zip(&picks) {
            let want = reference(&v, &p.steps);
            let want_js = super::as_js_numbers(&want.clone().unwrap_or(Value::Null));
            proptest::prop_assert!(super::same(g, &want_js), "{} on {}: got {} want {:?}", all[*i], text, g, want);
        }
        let missing = tape.tags.iter().filter(|&&t| t == Tag::Missing as u8).count();
        let want_missing: usize = pointers.iter().map(|p| count_missing(&v, &p.steps)).sum();
        proptest::prop_assert_eq!(missing, want_missing, "Missing tags on {}", text);
    }
}

/// How many `Missing` entries the selection of `steps` holds (one per element that matches
/// nothing under a `*`, or one for the whole selection).
fn count_missing(v: &Value, steps: &[crate::json::Step]) -> usize {
    let mut v = v;
    for (j, step) in steps.iter().enumerate() {
        let next = match v {
            Value::Array(items) if step.wildcard => return items.iter().map(|e| count_missing(e, &steps[j + 1..])).sum(),
            Value::Object(m) => m.get(&step.key),
            Value::Array(items) => step.index.and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return 1,
        }
    }
    0
}

/// Subtrees no selector enters are checked by a walk of their own: its depth limit counts the
/// containers around it, and every error is the one `parse_to_tape` reports.
#[test]
fn json_select_checks_declined_subtrees_like_parse() {
    let opts = ParseOptions { max_depth: 8, ..ParseOptions::default() };
    let p = [Pointer::parse("/a").expect("valid"), Pointer::parse("/c/*/x").expect("valid")];
    for (doc, ok) in [
        // 1 (root) + 1 (c) + 1 (element) + 5 (b's nesting) = 8: at the limit.
        (r#"{"a": 1, "c": [{"b": [[[[[]]]]]}]}"#, true),
        (r#"{"a": 1, "c": [{"b": [[[[[[]]]]]]}]}"#, false),
        (r#"{"a": 1, "z": [[[[[[[[]]]]]]]]}"#, false),
        (r#"{"a": 1, "z": {"q": [1, 2,]}}"#, false),
        (r#"{"a": 1, "z": {"q": "\x01"}}"#, false),
        (r#"{"a": 1, "c": [{"x": 2}, {"y": {"x": 3}}], "z": {"q": [true, nul]}}"#, false),
    ] {
        let parsed = crate::json::parse_to_tape(&JobCtx::inline(), doc.as_bytes(), opts);
        let selected = select(&JobCtx::inline(), doc.as_bytes(), &p, opts);
        assert_eq!(parsed.is_ok(), ok, "{doc}");
        match (parsed, selected) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => {
                assert_eq!((a.code, a.position.map(|p| p.offset), &a.message), (b.code, b.position.map(|p| p.offset), &b.message), "{doc}")
            }
            (a, b) => panic!("{doc}: parse {:?}, select {:?}", a.err(), b.err()),
        }
    }
}
