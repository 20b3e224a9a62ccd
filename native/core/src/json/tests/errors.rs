//! Error codes and positions, the depth limit, and the BOM.

use crate::error::{CoreError, ErrorCode};
use crate::json::{check_agreement, parse_to_tape, validate, ParseOptions};
use crate::runtime::JobCtx;

fn parse_err(input: &[u8]) -> CoreError {
    let ctx = JobCtx::inline();
    let err = parse_to_tape(&ctx, input, ParseOptions::default()).expect_err("should fail");
    assert_eq!(validate(&ctx, input, ParseOptions::default()).expect_err("validate fails too"), err);
    err
}

fn at(input: &str) -> (ErrorCode, usize, usize, usize) {
    let e = parse_err(input.as_bytes());
    let p = e.position.expect("parse errors have a position");
    (e.code, p.offset, p.line, p.column)
}

#[test]
fn json_error_positions() {
    use ErrorCode::*;
    assert_eq!(at("[1,,2]"), (JsonSyntax, 3, 1, 4));
    assert_eq!(at("{\n  \"a\": tru\n}"), (JsonSyntax, 9, 2, 8));
    assert_eq!(at("[1,\n2,\n]"), (JsonSyntax, 7, 3, 1));
    assert_eq!(at(""), (JsonSyntax, 0, 1, 1));
    assert_eq!(at("  "), (JsonSyntax, 2, 1, 3));
    assert_eq!(at("[1"), (JsonSyntax, 2, 1, 3));
    assert_eq!(at("[\"abc"), (JsonSyntax, 1, 1, 2));
    assert_eq!(at("[\"a\u{1}\"]"), (JsonSyntax, 3, 1, 4));
    assert_eq!(at("[\"é\", x]"), (JsonSyntax, 7, 1, 7));
    assert_eq!(at("[01]"), (JsonSyntax, 2, 1, 3));
    assert_eq!(at("[1.]"), (JsonSyntax, 3, 1, 4));
    assert_eq!(at("[1e+]"), (JsonSyntax, 4, 1, 5));
    assert_eq!(at("[\"\\x\"]"), (JsonSyntax, 2, 1, 3));
    assert_eq!(at("[\"\\u12g4\"]"), (JsonSyntax, 6, 1, 7));
    assert_eq!(at("{\"a\" 1}"), (JsonSyntax, 5, 1, 6));
    assert_eq!(at("1 2"), (JsonSyntax, 2, 1, 3));
    assert_eq!(at("[1]x"), (JsonSyntax, 3, 1, 4));
    assert_eq!(at("[truex]"), (JsonSyntax, 1, 1, 2));
    // The BOM is not part of the text (TextDecoder drops it): offsets count its bytes, columns do not.
    assert_eq!(at("\u{feff}[1,]"), (JsonSyntax, 6, 1, 4));
}

#[test]
fn json_error_invalid_utf8_wins_over_syntax() {
    let e = parse_err(b"[,,\"\xff\"]");
    assert_eq!(e.code, ErrorCode::InvalidUtf8);
    assert_eq!(e.position.map(|p| p.offset), Some(4));
}

/// A character outside ASCII where a value should be is named as the character, not its first
/// byte; bytes that are no character (invalid UTF-8, controls) stay bytes.
#[test]
fn json_unexpected_character_is_named() {
    assert!(parse_err("é".as_bytes()).message.starts_with("Unexpected 'é' (U+00E9), expected"), "{}", parse_err("é".as_bytes()).message);
    assert!(parse_err("[1, €]".as_bytes()).message.starts_with("Unexpected '€' (U+20AC)"));
    assert!(parse_err("{\"a\": 😀}".as_bytes()).message.starts_with("Unexpected '😀' (U+1F600)"));
    assert!(parse_err(b"[\x01]").message.starts_with("Unexpected byte 0x01"));
    assert!(parse_err("[\u{85}]".as_bytes()).message.starts_with("Unexpected byte 0xc2"), "a C1 control");
}

#[test]
fn json_error_message_has_excerpt() {
    let e = parse_err(b"{\"key\": [1, 2,, 3]}");
    assert!(e.message.contains("line 1 column 15"), "{}", e.message);
    assert!(e.message.contains("[1, 2,>>, 3]}"), "{}", e.message);
    // Multi-byte characters at either edge of the window are dropped whole, never cut.
    for ch in ["é", "€", "😀"] {
        let text = format!("[\"{}\", x, \"{}\"]", ch.repeat(30), ch.repeat(30));
        let e = parse_err(text.as_bytes());
        assert!(!e.message.contains('\u{fffd}'), "{}", e.message);
        assert!(e.message.contains(&format!("{ch}\", >>x, \"{ch}")), "{}", e.message);
    }
}

#[test]
fn json_depth_limit() {
    let deep = vec![b'['; 100_000];
    let e = parse_err(&deep);
    assert_eq!(e.code, ErrorCode::JsonDepth);
    assert_eq!(e.position.map(|p| p.offset), Some(10_000));

    let ctx = JobCtx::inline();
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    assert!(parse_to_tape(&ctx, &nested(10_000), ParseOptions::default()).is_ok());
    assert_eq!(
        parse_to_tape(&ctx, &nested(10_001), ParseOptions::default()).map_err(|e| e.code),
        Err(ErrorCode::JsonDepth)
    );
    let small = ParseOptions { max_depth: 2, ..ParseOptions::default() };
    assert!(parse_to_tape(&ctx, b"[[1]]", small).is_ok());
    assert_eq!(parse_to_tape(&ctx, b"[{\"a\":[]}]", small).map_err(|e| e.code), Err(ErrorCode::JsonDepth));
    let objects = "{\"a\":".repeat(100_000);
    assert_eq!(parse_to_tape(&ctx, objects.as_bytes(), ParseOptions::default()).map_err(|e| e.code), Err(ErrorCode::JsonDepth));
}

#[test]
fn json_cancelled_parse_stops() {
    use crate::runtime::JobState;
    let state = JobState::new();
    assert!(state.start());
    state.cancel();
    let ctx = JobCtx::for_pool(&state);
    let big = format!("[{}1]", "1,".repeat(200_000));
    let e = parse_to_tape(&ctx, big.as_bytes(), ParseOptions::default()).expect_err("cancelled");
    assert_eq!(e.code, ErrorCode::Aborted);
}

/// Documents many stage 1 windows long, with errors of each kind at places far apart: the
/// windowed walk (parse, validate) and the whole-index walk (select) report the same error, and
/// it is the one the rules give (invalid UTF-8 anywhere first, then the first error in input
/// order), wherever the windows happen to end.
#[test]
fn json_errors_across_windows_match_the_whole_index_walk() {
    let mut doc = String::from("[");
    for i in 0..6000 {
        doc.push_str(&format!("{{\"id\":{i},\"name\":\"item {i} caf\u{e9}\",\"v\":[1.5,-2e3,true,null]}},"));
    }
    doc.push_str("{}]");
    let base = doc.into_bytes();
    assert!(base.len() > 300_000, "several windows long");
    let ctx = JobCtx::inline();
    let opts = ParseOptions::default();
    assert!(crate::json::validate(&ctx, &base, opts).is_ok());
    let at = |frac: f64| {
        // A byte inside a string value near `frac` of the way in (the `i` of "item").
        let start = (base.len() as f64 * frac) as usize;
        start + base[start..].windows(4).position(|w| w == b"item").expect("an item") + 1
    };
    let (early, late) = (at(0.05), at(0.9));
    let cases: Vec<(Vec<u8>, ErrorCode, usize)> = vec![
        // A syntax error early, invalid UTF-8 late: the UTF-8 error wins.
        ({ let mut d = base.clone(); d[early - 2] = b'}'; d[late] = 0xff; d }, ErrorCode::InvalidUtf8, late),
        // A control character in a string early, a syntax error late: the first one.
        ({ let mut d = base.clone(); d[early] = 0x01; d[late - 2] = b'}'; d }, ErrorCode::JsonSyntax, early),
        // A syntax error early, a control character late: the first one.
        ({ let mut d = base.clone(); d[early - 2] = b','; d[late] = 0x01; d }, ErrorCode::JsonSyntax, early - 2),
        // Only a bad escape, late.
        ({ let mut d = base.clone(); d[late] = b'\\'; d[late + 1] = b'q'; d }, ErrorCode::JsonSyntax, late),
    ];
    for (doc, code, offset) in cases {
        let e = crate::json::validate(&ctx, &doc, opts).expect_err("invalid");
        assert_eq!((e.code, e.position.as_ref().map(|p| p.offset)), (code, Some(offset)));
        let w = crate::json::document::always_windowed(|| crate::json::validate(&ctx, &doc, opts)).expect_err("invalid");
        assert_eq!(w, e, "the windowed walk fails the same way");
        check_agreement(&doc).expect("windowed and whole-index walks agree");
    }
    // Too deep, late in the document.
    let mut deep = base[..base.len() - 3].to_vec();
    deep.extend(std::iter::repeat_n(b'[', 20_000));
    let e = crate::json::validate(&ctx, &deep, opts).expect_err("too deep");
    assert_eq!(e.code, ErrorCode::JsonDepth);
    check_agreement(&deep).expect("agree on depth");
    // Every truncation point near window ends: the same verdict everywhere.
    for cut in (16 * 1024 - 8..16 * 1024 + 8).chain(32 * 1024 - 4..32 * 1024 + 4) {
        check_agreement(&base[..cut]).expect("agree on truncations");
    }
}

/// The run of numbers in an array (`Walker::number_run`) stops at every kind of entry it does not
/// handle: each case gets the verdict and position of serde_json where it fails, and the same
/// tape as the general path where it parses (checked against serde_json's values).
#[test]
fn number_runs_end_where_the_general_path_would() {
    use ErrorCode::*;
    assert_eq!(at("[1,2 3]"), (JsonSyntax, 5, 1, 6));
    assert_eq!(at("[1,2,]"), (JsonSyntax, 5, 1, 6));
    assert_eq!(at("[1,2}"), (JsonSyntax, 4, 1, 5));
    assert_eq!(at("[1,2:3]"), (JsonSyntax, 4, 1, 5));
    assert_eq!(at("[1,2,,3]"), (JsonSyntax, 5, 1, 6));
    assert_eq!(at("[1,-]"), (JsonSyntax, 4, 1, 5));
    assert_eq!(at("[1,2x]"), (JsonSyntax, 4, 1, 5));
    assert_eq!(at("[1,2"), (JsonSyntax, 4, 1, 5));
    assert_eq!(at("[-"), (JsonSyntax, 2, 1, 3));
    assert_eq!(at("{\"a\":[1,2],\"b\":[3}"), (JsonSyntax, 17, 1, 18));
    let ctx = JobCtx::inline();
    for ok in [
        "[1,2,3]",
        "[1,\"a\",2,[3,4],{\"b\":5},-6e2,null]",
        "[[1,2],[3,4],[5]]",
        "[[],[1],[1,[2,[3]]],4]",
        "{\"a\":[1,2],\"b\":[3,[4,5],6],\"c\":7}",
        "[0,-0,1.5e300,-2.5e-300,123456789012345678901234567890]",
        "[ 1 , 2 ,\n3\t]",
    ] {
        let tape = parse_to_tape(&ctx, ok.as_bytes(), ParseOptions::default()).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        let want: serde_json::Value = serde_json::from_str(ok).unwrap();
        super::assert_js_eq(&super::tape_values(&tape), &[want]);
    }
}
