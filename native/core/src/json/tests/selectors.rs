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
