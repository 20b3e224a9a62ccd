//! NDJSON: lines, records, line numbers in errors, parallel results equal to sequential ones, and
//! typed columns.

use super::{assert_js_eq, corpus_dir, gen_record, tape_values};
use crate::error::ErrorCode;
use crate::json::{columns, columns_with, parse_lines, BadLine, parse_many, ColumnType, ColumnValues, Line, Lines, ParseOptions, Pointer};
use crate::runtime::{JobCtx, JobState};
use serde_json::json;

/// Runs `f` with a context that fans out over a two-thread pool.
fn pooled<T: Send>(f: impl FnOnce(&JobCtx) -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
    let state = JobState::new();
    pool.install(|| f(&JobCtx::for_pool(&state)))
}

#[test]
fn json_lines_split() {
    let input = b"a\r\n\n  \r\nb\nc";
    let lines: Vec<Line> = Lines::new(input).collect();
    assert_eq!(
        lines,
        vec![Line { number: 1, start: 0, end: 1 }, Line { number: 4, start: 8, end: 9 }, Line { number: 5, start: 10, end: 11 }]
    );
}

#[test]
fn json_ndjson_records_and_errors() {
    let ctx = JobCtx::inline();
    let tape = parse_lines(&ctx, b"{\"a\":1}\r\n\n[2]\n\"x\"", ParseOptions::default()).expect("parses");
    assert_js_eq(&tape_values(&tape), &[json!([{"a": 1}, [2], "x"])]);
    assert_eq!(tape_values(&parse_lines(&ctx, b"", ParseOptions::default()).expect("empty")), vec![json!([])]);

    let e = parse_lines(&ctx, b"1\n2\n\n[3,]\n{", ParseOptions::default()).expect_err("bad line 4");
    let p = e.position.expect("position");
    assert_eq!((e.code, p.line, p.column, p.offset), (ErrorCode::JsonSyntax, 4, 4, 8));
    let e = parse_lines(&ctx, b"1 2\n", ParseOptions::default()).expect_err("two values on a line");
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((1, 3)));
    let e = parse_lines(&ctx, b"{\"a\":\n1}\n", ParseOptions::default()).expect_err("a record spans lines");
    assert_eq!(e.position.map(|p| p.line), Some(1));
    let e = parse_lines(&ctx, b"[,]\n\"\xff\"\n", ParseOptions::default()).expect_err("bad UTF-8 on line 2");
    assert_eq!((e.code, e.position.map(|p| p.line)), (ErrorCode::InvalidUtf8, Some(2)));
}

/// Many lines so that the input spans several parallel chunks; the bad one is deep inside.
fn many_lines(bad_at: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..20_000 {
        if Some(i) == bad_at {
            out.extend_from_slice(b"{\"id\": }\n");
        } else {
            out.extend_from_slice(format!("{{\"id\": {i}, \"name\": \"n{}\", \"ok\": {}, \"v\": [{i}.5]}}\n", i % 7, i % 2 == 0).as_bytes());
        }
    }
    out
}

#[test]
fn json_ndjson_parallel_equals_sequential() {
    let input = many_lines(None);
    let seq = parse_lines(&JobCtx::inline(), &input, ParseOptions::default()).expect("parses");
    let par = pooled(|ctx| parse_lines(ctx, &input, ParseOptions::default())).expect("parses");
    assert_eq!(tape_values(&seq), tape_values(&par));
    assert_eq!(seq.counts[0], 20_000);

    let bad = many_lines(Some(15_000));
    let e = pooled(|ctx| parse_lines(ctx, &bad, ParseOptions::default())).expect_err("bad line");
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((15_001, 8)));
}

#[test]
fn json_parse_many_in_order() {
    let docs: Vec<&[u8]> = vec![b"[1]", b"{", b"\"s\"", b"nul"];
    let results = pooled(|ctx| parse_many(ctx, &docs, ParseOptions::default())).expect("not cancelled");
    let oks: Vec<bool> = results.iter().map(|r| r.is_ok()).collect();
    assert_eq!(oks, [true, false, true, false]);
    let values: Vec<serde_json::Value> = results.iter().flatten().flat_map(tape_values).collect();
    assert_js_eq(&values, &[json!([1]), json!("s")]);
    assert_eq!(results[1].as_ref().err().and_then(|e| e.position.clone()).map(|p| p.offset), Some(1));
}

fn fields(spec: &[(&str, ColumnType)]) -> Vec<(Pointer, ColumnType)> {
    spec.iter().map(|(p, t)| (Pointer::parse(p).expect("valid pointer"), *t)).collect()
}

#[test]
fn json_columns_typed_with_validity() {
    let input = b"{\"a\": 1.5, \"b\": \"x\", \"c\": true, \"d\": {\"e\": 7}}\n\n{\"a\": null, \"b\": \"y\\u00e9\", \"c\": 1, \"d\": {\"e\": 2.5}}\n{\"b\": \"x\", \"a\": -0}\n";
    let spec = fields(&[("/a", ColumnType::F64), ("/b", ColumnType::Str), ("/c", ColumnType::Bool), ("/d/e", ColumnType::I32), ("/a", ColumnType::F32)]);
    let cols = columns(&JobCtx::inline(), input, &spec, ParseOptions::default()).expect("columns");
    assert_eq!(cols.len, 3);
    let c = &cols.columns;
    match &c[0].values {
        ColumnValues::F64(v) => {
            assert_eq!(v[0], 1.5);
            assert!(v[1].is_nan());
            assert!(v[2] == 0.0 && v[2].is_sign_negative());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c[0].valid, vec![1, 0, 1]);
    match &c[1].values {
        ColumnValues::Str(s) => {
            let texts: Vec<&[u8]> = s.ids.iter().map(|&id| s.table.get(id).expect("id").0).collect();
            assert_eq!(texts, vec![&b"x"[..], "yé".as_bytes(), b"x"]);
            assert_eq!(s.table.len(), 2, "repeated values are stored once");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c[1].valid, vec![1, 1, 1]);
    assert_eq!(c[2].values, ColumnValues::Bool(vec![1, 0, 0]));
    assert_eq!(c[2].valid, vec![1, 0, 0]);
    assert_eq!(c[3].values, ColumnValues::I32(vec![7, 0, 0]));
    assert_eq!(c[3].valid, vec![1, 0, 0]);
    assert_eq!(c[4].valid, vec![1, 0, 1]);

    let e = columns(&JobCtx::inline(), b"{}\n{\"a\" 1}\n", &spec, ParseOptions::default()).expect_err("bad record");
    assert_eq!(e.position.map(|p| p.line), Some(2));
    assert_eq!(columns(&JobCtx::inline(), b"", &fields(&[("/a/*", ColumnType::F64)]), ParseOptions::default()).map_err(|e| e.code), Err(ErrorCode::InvalidArg));
}

/// Members are passed over by key length first: keys of a field's length that differ, escaped
/// spellings of a field's key, and keys of 63 bytes or more (which share one length bit) must
/// still find, or not find, their field.
#[test]
fn json_columns_key_length_filter_keeps_exact_matches() {
    let long_a = "k".repeat(70);
    let long_b = format!("{}x", "k".repeat(69));
    let input = format!(
        "{{\"prize\": 1, \"price\": 2, \"{long_b}\": 3, \"{long_a}\": 4}}\n{{\"pr\\u0069ce\": 5, \"{long_a}x\": 6}}\n{{\"price\": 7, \"price\": 8}}\n"
    );
    let spec = fields(&[("/price", ColumnType::F64), (&format!("/{long_a}"), ColumnType::F64)]);
    let cols = columns(&JobCtx::inline(), input.as_bytes(), &spec, ParseOptions::default()).expect("columns");
    assert_eq!(cols.len, 3);
    match (&cols.columns[0].values, &cols.columns[1].values) {
        (ColumnValues::F64(price), ColumnValues::F64(long)) => {
            assert_eq!(price, &vec![2.0, 5.0, 8.0]);
            assert_eq!(long[0], 4.0);
            assert!(long[1].is_nan() && long[2].is_nan());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cols.columns[1].valid, vec![1, 0, 0]);
}

#[test]
fn json_columns_parallel_equals_sequential() {
    let input = many_lines(None);
    let spec = fields(&[("/id", ColumnType::I32), ("/name", ColumnType::Str), ("/ok", ColumnType::Bool), ("/v/0", ColumnType::F64)]);
    let seq = columns(&JobCtx::inline(), &input, &spec, ParseOptions::default()).expect("columns");
    let par = pooled(|ctx| columns(ctx, &input, &spec, ParseOptions::default())).expect("columns");
    assert_eq!(seq.len, 20_000);
    assert!(seq.columns.iter().all(|c| c.valid.iter().all(|&v| v == 1)));
    let strings = |c: &crate::json::Columns| match &c.columns[1].values {
        ColumnValues::Str(s) => s.ids.iter().map(|&id| s.table.get(id).expect("id").0.to_vec()).collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    assert_eq!(strings(&seq), strings(&par));
    assert_eq!(seq.columns[0], par.columns[0]);
    assert_eq!(seq.columns[3], par.columns[3]);
}

#[test]
fn json_columns_on_corpus() {
    let Some(dir) = corpus_dir() else { return };
    let input = std::fs::read(dir.join("ndjson/amazon_cellphones.ndjson")).expect("readable");
    let spec = fields(&[("/5", ColumnType::F64), ("/1", ColumnType::Str), ("/7", ColumnType::I32)]);
    let cols = columns(&JobCtx::inline(), &input, &spec, ParseOptions::default()).expect("columns");
    assert_eq!(cols.len, 793);
    // Line 2 is ["B0000SX2UC","Nokia",...,3,...]: row 1 (the header line is row 0).
    match &cols.columns[0].values {
        ColumnValues::F64(v) => assert_eq!(v[1], 3.0),
        other => panic!("{other:?}"),
    }
    assert_eq!(cols.columns[0].valid[0], 0, "the header row has a string there");
}

/// Inputs where indexing a chunk as a whole could differ from going line by line: a value spread
/// over lines, two values on one line, duplicate keys, escaped keys, nested pointers, non-objects.
#[test]
fn json_columns_whole_chunk_equals_line_by_line() {
    let spec = fields(&[("/a", ColumnType::F64), ("/key", ColumnType::Str), ("/o/p", ColumnType::I32), ("/0", ColumnType::Bool), ("", ColumnType::F64)]);
    let good = "{\"a\":1,\"a\":2,\"k\\u0065y\":\"v\",\"key\":\"w\"}\n  \r\n[true]\n7\n{\"o\":{\"p\":3},\"a\":\"s\"}\r\n\"x\"\n{\"key\":\"é\",\"o\":[1]}";
    let cols = columns(&JobCtx::inline(), good.as_bytes(), &spec, ParseOptions::default()).expect("columns");
    assert_eq!(cols.len, 6);
    assert!(matches!(&cols.columns[0].values, ColumnValues::F64(v) if v[0] == 2.0));
    assert_eq!(cols.columns[0].valid, vec![1, 0, 0, 0, 0, 0]);
    assert_eq!(cols.columns[2].valid, vec![0, 0, 0, 1, 0, 0]);
    assert_eq!(cols.columns[3].valid, vec![0, 1, 0, 0, 0, 0]);
    assert_eq!(cols.columns[4].valid, vec![0, 0, 1, 0, 0, 0]);
    match &cols.columns[1].values {
        ColumnValues::Str(s) => {
            let texts: Vec<&[u8]> = s.ids.iter().map(|&id| s.table.get(id).expect("id").0).collect();
            assert_eq!(texts[0], b"w", "the last duplicate wins, escaped or not");
            assert_eq!(texts[5], "é".as_bytes());
        }
        other => panic!("{other:?}"),
    }
    for (bad, line) in [("{\"a\":1}\n[1,\n2]\n", 2), ("{\"a\":1}\n1 2\n", 2), ("1\n{\"a\":\"x\n\"}\n", 2), ("1\n2\n{\"a\" 1}", 3)] {
        let e = columns(&JobCtx::inline(), bad.as_bytes(), &spec, ParseOptions::default()).expect_err(bad);
        assert_eq!(e.position.map(|p| p.line), Some(line), "{bad:?}");
    }
}

/// With `Fail`, the first bad line decides the error, also when invalid UTF-8 comes later in
/// the same chunk or in a later one, and an invalid byte on the first bad line is reported as such.
#[test]
fn json_columns_fail_reports_the_first_bad_line() {
    let spec = fields(&[("/a", ColumnType::F64)]);
    let mut input = b"{\"a\":1,}\n{\"a\":\"".to_vec();
    input.extend_from_slice(&[0xFF, b'"', b'}', b'\n']);
    let e = columns(&JobCtx::inline(), &input, &spec, ParseOptions::default()).expect_err("line 1");
    assert_eq!((e.code, e.position.as_ref().map(|p| (p.line, p.column))), (ErrorCode::JsonSyntax, Some((1, 8))));
    assert!(e.message.ends_with("(line 1, column 8)"), "worded as the other NDJSON errors: {}", e.message);
    // Across chunks: a syntax error deep in the first chunks, invalid UTF-8 near the end.
    let mut big = many_lines(Some(3_000));
    big.extend_from_slice(&[b'"', 0xFF, b'"', b'\n']);
    let e = pooled(|ctx| columns(ctx, &big, &spec, ParseOptions::default())).expect_err("line 3001");
    assert_eq!((e.code, e.position.as_ref().map(|p| p.line)), (ErrorCode::JsonSyntax, Some(3_001)));
    // Invalid UTF-8 first: that is the error.
    let mut early = vec![b'"', 0xFF, b'"', b'\n'];
    early.extend_from_slice(&many_lines(Some(3_000)));
    let e = pooled(|ctx| columns(ctx, &early, &spec, ParseOptions::default())).expect_err("line 1");
    assert_eq!((e.code, e.position.as_ref().map(|p| p.line)), (ErrorCode::InvalidUtf8, Some(1)));
}

#[test]
fn json_columns_skip_and_collect_bad_lines() {
    let spec = fields(&[("/a", ColumnType::F64), ("/b", ColumnType::Str)]);
    let mut input = b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"\n\n{\"a\":3,\"b\":\"\\q\"}\n{\"b\":\"".to_vec();
    input.extend_from_slice(&[0xFF, b'"', b'}', b'\n']);
    input.extend_from_slice(b"{\"a\":4,\"b\":\"z\"}\n");
    let run = |bad| columns_with(&JobCtx::inline(), &input, &spec, ParseOptions::default(), bad);
    let fail = run(BadLine::Fail).expect_err("fails");
    let plain = columns(&JobCtx::inline(), &input, &spec, ParseOptions::default()).expect_err("fails");
    assert_eq!(fail, plain);
    // The first bad line's error, as `ndjson.parse` reports (line 5's invalid UTF-8 used to win).
    assert_eq!((fail.code, fail.position.as_ref().map(|p| p.line)), (ErrorCode::JsonSyntax, Some(2)));
    let (skipped, none) = run(BadLine::Skip).expect("skips");
    assert!(none.is_empty());
    assert_eq!(skipped.len, 2);
    assert_eq!(skipped.columns[0].values, ColumnValues::F64(vec![1.0, 4.0]));
    let (collected, errors) = run(BadLine::Collect).expect("collects");
    assert_eq!(collected, skipped);
    let lines: Vec<usize> = errors.iter().map(|e| e.position.as_ref().expect("position").line).collect();
    assert_eq!(lines, vec![2, 4, 5]);
    assert!(errors[0].message.contains("line 2"), "{}", errors[0].message);
    assert_eq!(errors[2].code, ErrorCode::InvalidUtf8);
    match &collected.columns[1].values {
        ColumnValues::Str(s) => {
            let texts: Vec<&[u8]> = s.ids.iter().map(|&id| s.table.get(id).expect("id").0).collect();
            assert_eq!(texts, vec![&b"x"[..], b"z"]);
        }
        other => panic!("{other:?}"),
    }
    // Many chunks, some bad: the pool gives the same rows and errors as one thread.
    let mut big = Vec::new();
    for i in 0..40_000 {
        if i % 997 == 5 {
            big.extend_from_slice(b"{\"a\":,}\n");
        } else {
            big.extend_from_slice(format!("{{\"a\":{i},\"b\":\"r{}\"}}\n", i % 13).as_bytes());
        }
    }
    let seq = columns_with(&JobCtx::inline(), &big, &spec, ParseOptions::default(), BadLine::Collect).expect("collects");
    let par = pooled(|ctx| columns_with(ctx, &big, &spec, ParseOptions::default(), BadLine::Collect)).expect("collects");
    assert_eq!(seq, par);
    assert_eq!(seq.1.len(), 41);
    assert_eq!(seq.0.len, 40_000 - 41);
    assert_eq!(seq.1[1].position.as_ref().map(|p| p.line), Some(1003));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Every column, row and validity bit equals what a pointer lookup in serde_json's reading of
    /// the same record gives, with duplicate keys, nested and repeated containers, escaped keys,
    /// array indices and non-object records.
    #[test]
    fn json_columns_match_serde_pointer_lookup(records in proptest::collection::vec(gen_record(), 1..40), pooled_run in proptest::prelude::any::<bool>()) {
        let mut text = String::new();
        for r in &records {
            r.write(&mut text);
            text.push('\n');
        }
        let pointers = ["/a", "/b", "/a/b", "/a/0", "/b/ab", "/0", "", "/a/a/a", "/a~1b", "/~0", "/ab/1"];
        let types = [ColumnType::F64, ColumnType::Str, ColumnType::I32, ColumnType::Bool, ColumnType::F32];
        let mut spec = Vec::new();
        for (i, p) in pointers.iter().enumerate() {
            spec.push((*p, types[i % types.len()]));
            spec.push((*p, types[(i + 2) % types.len()]));
        }
        let spec = fields(&spec);
        let cols = if pooled_run {
            pooled(|ctx| columns(ctx, text.as_bytes(), &spec, ParseOptions::default()))
        } else {
            columns(&JobCtx::inline(), text.as_bytes(), &spec, ParseOptions::default())
        }.expect("columns");
        proptest::prop_assert_eq!(cols.len, records.len());
        for (row, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).expect("serde reads the record");
            for (c, ((pointer, ty), col)) in spec.iter().zip(&cols.columns).enumerate() {
                let found = v.pointer(&pointer_text(pointer));
                let num = found.and_then(|f| f.as_f64());
                let (valid, ok) = match (ty, &col.values) {
                    (ColumnType::F64, ColumnValues::F64(x)) => (num.is_some(), num.map_or(x[row].is_nan(), |n| n == x[row])),
                    (ColumnType::F32, ColumnValues::F32(x)) => (num.is_some(), num.map_or(x[row].is_nan(), |n| n as f32 == x[row])),
                    (ColumnType::I32, ColumnValues::I32(x)) => {
                        let int = num.filter(|n| n.fract() == 0.0 && *n >= i32::MIN as f64 && *n <= i32::MAX as f64);
                        (int.is_some(), int.map_or(0, |n| n as i32) == x[row])
                    }
                    (ColumnType::Bool, ColumnValues::Bool(x)) => {
                        let b = found.and_then(|f| f.as_bool());
                        (b.is_some(), b.map_or(0, u8::from) == x[row])
                    }
                    (ColumnType::Str, ColumnValues::Str(s)) => {
                        let want = found.and_then(|f| f.as_str());
                        let got = s.table.get(s.ids[row]).expect("id").0;
                        (want.is_some(), want.unwrap_or("").as_bytes() == got)
                    }
                    _ => (false, false),
                };
                proptest::prop_assert!(ok, "row {} column {} ({:?}) of {}", row, c, pointer.steps, line);
                proptest::prop_assert_eq!(col.valid[row], u8::from(valid), "validity, row {} column {} of {}", row, c, line);
            }
        }
    }
}

/// The pointer's text again (steps re-escaped), for serde_json's `pointer`.
fn pointer_text(p: &Pointer) -> String {
    p.steps.iter().map(|s| format!("/{}", s.key.replace('~', "~0").replace('/', "~1"))).collect()
}

/// The chunk ranges as each nominal chunk found them on its own before `line_chunks` (the
/// reference: the same ranges, at a cost quadratic in the length of a line).
fn chunk_bounds_one_by_one(input: &[u8]) -> Vec<std::ops::Range<usize>> {
    use crate::json::ndjson::CHUNK;
    let start_at = |at: usize| -> usize {
        if at == 0 {
            0
        } else if at >= input.len() {
            input.len()
        } else {
            memchr::memchr(b'\n', &input[at - 1..]).map_or(input.len(), |i| at + i)
        }
    };
    let bom = if input.starts_with(&[0xef, 0xbb, 0xbf]) { 3 } else { 0 };
    (0..input.len().div_ceil(CHUNK))
        .map(|k| {
            let start = start_at(k * CHUNK).max(bom);
            start..start_at(((k + 1) * CHUNK).min(input.len())).max(start)
        })
        .collect()
}

#[test]
fn json_line_chunks_match_per_chunk_search_and_long_lines_parse() {
    use crate::json::ndjson::{line_chunks, numbered_line_chunks, CHUNK};
    let mut next = super::xorshift(0x2545_f491_4f6c_dd1d);
    let mut boundaries = 0;
    for case in 0..40 {
        let mut input = Vec::new();
        if case % 5 == 0 {
            input.extend_from_slice(&[0xef, 0xbb, 0xbf]);
        }
        while input.len() < 6 * CHUNK {
            // Mostly short lines, some a few chunks long, some ending exactly at a boundary (the
            // next line starts on it: the line is `"`, `len` x's and `"\n`, 3 bytes more).
            let crlf = next().is_multiple_of(4);
            let len = match next() % 10 {
                0 => CHUNK * (1 + (next() % 3) as usize) + (next() % 5) as usize,
                1 => (CHUNK - input.len() % CHUNK).saturating_sub(if crlf { 4 } else { 3 }),
                _ => (next() % 200) as usize,
            };
            input.push(b'"');
            input.extend(std::iter::repeat_n(b'x', len));
            input.extend_from_slice(if crlf { b"\"\r\n" } else { b"\"\n" });
        }
        if case % 3 == 0 {
            input.pop();
        }
        let ctx = JobCtx::inline();
        let got = line_chunks(&ctx, &input).unwrap();
        assert_eq!(got, chunk_bounds_one_by_one(&input), "case {case}");
        boundaries += got.iter().filter(|r| r.start > 0 && r.start % CHUNK == 0).count();
        for at_start in [true, false] {
            let numbered = numbered_line_chunks(&ctx, &input, at_start).unwrap();
            // Not at the start of the text, a BOM is the first line's first bytes.
            let first = numbered.first().map_or(0, |(r, _)| r.start);
            assert_eq!(first, if at_start && case % 5 == 0 { 3 } else { 0 });
            for (k, (r, line)) in numbered.iter().enumerate() {
                assert_eq!(*line, 1 + input[..r.start].iter().filter(|&&b| b == b'\n').count());
                if k > 0 {
                    assert_eq!(r.start, got[k].start);
                }
            }
        }
        let covered: usize = got.iter().map(|r| r.len()).sum();
        assert_eq!(covered, input.len() - if case % 5 == 0 { 3 } else { 0 });
    }
    assert!(boundaries > 10, "lines starting exactly on a chunk boundary: {boundaries}");
    // One line of 8 MiB: one record, on the pool and inline alike.
    let mut line = b"{\"s\":\"".to_vec();
    line.extend(std::iter::repeat_n(b'y', 8 << 20));
    line.extend_from_slice(b"\"}\n");
    for pooled_run in [false, true] {
        let tape = if pooled_run {
            pooled(|ctx| parse_lines(ctx, &line, ParseOptions::default()))
        } else {
            parse_lines(&JobCtx::inline(), &line, ParseOptions::default())
        }
        .expect("parses");
        assert_eq!(tape.counts[0], 1);
    }
}
