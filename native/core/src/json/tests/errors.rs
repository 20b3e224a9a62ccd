//! Error codes and positions, the depth limit, and the BOM.

use crate::error::{CoreError, ErrorCode};
use crate::json::{parse_to_tape, validate, ParseOptions};
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
    assert_eq!(at("\u{feff}[1,]"), (JsonSyntax, 6, 1, 5));
}

#[test]
fn json_error_invalid_utf8_wins_over_syntax() {
    let e = parse_err(b"[,,\"\xff\"]");
    assert_eq!(e.code, ErrorCode::InvalidUtf8);
    assert_eq!(e.position.map(|p| p.offset), Some(4));
}

#[test]
fn json_error_message_has_excerpt() {
    let e = parse_err(b"{\"key\": [1, 2,, 3]}");
    assert!(e.message.contains("line 1 column 15"), "{}", e.message);
    assert!(e.message.contains("[1, 2,>>, 3]}"), "{}", e.message);
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
    let small = ParseOptions { max_depth: 2 };
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
