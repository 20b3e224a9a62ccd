//! Every corpus file parses to the same values as serde_json (numbers bit for bit), and `select("")`
//! and `validate` agree with the parse.

use super::{as_js_numbers, corpus_dir, same, tape_values};
use crate::json::{parse_lines, parse_to_tape, select, validate, ParseOptions, Pointer};
use crate::runtime::JobCtx;
use serde_json::Value;

const FILES: &[&str] = &["twitter", "citm_catalog", "canada", "gsoc-2018", "mesh", "numbers"];

#[test]
fn json_corpus_matches_serde_json() {
    let Some(dir) = corpus_dir() else { return };
    let ctx = JobCtx::inline();
    for name in FILES {
        let bytes = std::fs::read(dir.join(format!("json/{name}.json"))).expect("corpus file readable");
        let expected: Value = serde_json::from_slice(&bytes).expect("serde_json parses the corpus");
        let tape = parse_to_tape(&ctx, &bytes, ParseOptions::default()).expect("corpus parses");
        let values = tape_values(&tape);
        assert_eq!(values.len(), 1, "{name}: one root");
        assert!(same(&values[0], &as_js_numbers(&expected)), "{name}: values differ from serde_json");
        validate(&ctx, &bytes, ParseOptions::default()).expect("corpus validates");
        let whole = select(&ctx, &bytes, &[Pointer::parse("").expect("root pointer")], ParseOptions::default()).expect("select");
        assert_eq!(whole, tape, "{name}: select(\"\") is the parse");
    }
}

#[test]
fn json_ndjson_corpus_matches_serde_json_per_line() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("ndjson/amazon_cellphones.ndjson")).expect("corpus file readable");
    let expected: Vec<Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| as_js_numbers(&serde_json::from_slice(l).expect("serde_json parses each line")))
        .collect();
    let tape = parse_lines(&JobCtx::inline(), &bytes, ParseOptions::default()).expect("ndjson parses");
    let values = tape_values(&tape);
    assert_eq!(values.len(), 1);
    assert!(same(&values[0], &Value::Array(expected)));
}
