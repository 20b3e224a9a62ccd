//! Property tests: random documents round-trip; corrupted documents get serde_json's verdict (or a
//! documented difference) and never panic; every entry point agrees on every input (the fuzz
//! target's oracle, run here as a smoke loop since cargo-fuzz needs a nightly toolchain).

use super::{as_js_numbers, same, tape_values};
use crate::json::{check_agreement, parse_to_tape, ParseOptions, StrKind};
use crate::runtime::JobCtx;
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-c\"\\\\/\u{0}-\u{1f}é€😀]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z~/*]{0,6}|.{0,4}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How a corruption is applied to a serialized document.
#[derive(Clone, Debug)]
enum Corruption {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let byte = prop_oneof![prop::sample::select(b"\"\\{}[]:,-+.eE0159tfnu \t\n\r\x01\x80\xc3\xed\xff".to_vec()), any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Corruption::Flip { at, byte }),
        any::<usize>().prop_map(|at| Corruption::Truncate { at }),
        (any::<usize>(), byte).prop_map(|(at, byte)| Corruption::Insert { at, byte }),
        any::<usize>().prop_map(|at| Corruption::Delete { at }),
    ]
}

fn corrupt(mut doc: Vec<u8>, how: &[Corruption]) -> Vec<u8> {
    for c in how {
        let len = doc.len().max(1);
        match *c {
            Corruption::Flip { at, byte } => {
                if let Some(b) = doc.get_mut(at % len) {
                    *b = byte;
                }
            }
            Corruption::Truncate { at } => doc.truncate(at % len),
            Corruption::Insert { at, byte } => doc.insert(at % (doc.len() + 1), byte),
            Corruption::Delete { at } => {
                if !doc.is_empty() {
                    doc.remove(at % len);
                }
            }
        }
    }
    doc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn json_random_values_round_trip(v in json_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.expect("serializes");
        let tape = parse_to_tape(&JobCtx::inline(), &text, ParseOptions::default()).expect("parses");
        let got = tape_values(&tape);
        prop_assert_eq!(got.len(), 1);
        prop_assert!(same(&got[0], &as_js_numbers(&v)), "{} != {}", got[0], v);
    }

    #[test]
    fn json_corrupted_documents_match_serde_verdict(v in json_value(), how in prop::collection::vec(corruption(), 1..4)) {
        let doc = corrupt(serde_json::to_vec(&v).expect("serializes"), &how);
        prop_assert_eq!(check_agreement(&doc), Ok(()));
        let ours = parse_to_tape(&JobCtx::inline(), &doc, ParseOptions::default());
        let theirs = serde_json::from_slice::<Value>(&doc);
        match (&ours, &theirs) {
            (Ok(tape), Ok(expected)) => {
                let got = tape_values(tape);
                prop_assert!(same(&got[0], &as_js_numbers(expected)), "{:?}: {} != {}", String::from_utf8_lossy(&doc), got[0], expected);
            }
            (Err(_), Err(_)) => {}
            (Ok(tape), Err(e)) => {
                // serde_json rejects what JSON.parse accepts: numbers that overflow to Infinity and
                // lone surrogate escapes.
                let infinite = tape.numbers.iter().any(|n| n.is_infinite());
                let lone_surrogate = tape.table.kinds.contains(&(StrKind::Wtf8 as u8));
                prop_assert!(infinite || lone_surrogate, "we accept {:?}, serde_json says {}", String::from_utf8_lossy(&doc), e);
            }
            (Err(e), Ok(_)) => prop_assert!(false, "we reject {:?} ({}), serde_json accepts", String::from_utf8_lossy(&doc), e),
        }
    }
}

/// The fuzz target's body over random bytes drawn mostly from JSON's alphabet.
#[test]
fn json_fuzz_smoke_loop() {
    let mut next = super::xorshift(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"{}[]:,\"\\ \t\n\r0123456789-+.eEtruefalsnl\x00\x1f\x7f\x80\xbf\xc2\xe0\xed\xf0\xf4\xffu";
    for _ in 0..20_000 {
        let len = (next() % 96) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r.is_multiple_of(8) { r as u8 } else { alphabet[(r >> 8) as usize % alphabet.len()] }
            })
            .collect();
        if let Err(why) = check_agreement(&input) {
            panic!("{:?}: {why}", String::from_utf8_lossy(&input));
        }
    }
}
