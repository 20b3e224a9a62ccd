//! JSONTestSuite: `y_` files parse, `n_` files fail, `i_` files get `JSON.parse`'s verdict on the
//! strict UTF-8 decoding (measured with Node 20: these 22 are accepted, the other 13 fail to decode).

use super::corpus_dir;
use crate::error::ErrorCode;
use crate::json::{check_agreement, parse_to_tape, validate, ParseOptions};
use crate::runtime::JobCtx;

const I_ACCEPTED: &[&str] = &[
    "i_number_double_huge_neg_exp.json",
    "i_number_huge_exp.json",
    "i_number_neg_int_huge_exp.json",
    "i_number_pos_double_huge_exp.json",
    "i_number_real_neg_overflow.json",
    "i_number_real_pos_overflow.json",
    "i_number_real_underflow.json",
    "i_number_too_big_neg_int.json",
    "i_number_too_big_pos_int.json",
    "i_number_very_big_negative_int.json",
    "i_object_key_lone_2nd_surrogate.json",
    "i_string_1st_surrogate_but_2nd_missing.json",
    "i_string_1st_valid_surrogate_2nd_invalid.json",
    "i_string_incomplete_surrogate_and_escape_valid.json",
    "i_string_incomplete_surrogate_pair.json",
    "i_string_incomplete_surrogates_escape_valid.json",
    "i_string_invalid_lonely_surrogate.json",
    "i_string_invalid_surrogate.json",
    "i_string_inverted_surrogates_U+1D11E.json",
    "i_string_lone_second_surrogate.json",
    "i_structure_500_nested_arrays.json",
    "i_structure_UTF-8_BOM_empty_object.json",
];

#[test]
fn json_test_suite_verdicts() {
    let Some(dir) = corpus_dir() else { return };
    let dir = dir.join("JSONTestSuite/test_parsing");
    let ctx = JobCtx::inline();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("test_parsing readable").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    let (mut y, mut n, mut i) = (0, 0, 0);
    let mut failures = Vec::new();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).expect("file readable");
        let parsed = parse_to_tape(&ctx, &bytes, ParseOptions::default());
        let validated = validate(&ctx, &bytes, ParseOptions::default());
        if let Err(why) = check_agreement(&bytes) {
            failures.push(format!("{name}: entry points disagree: {why}"));
        }
        let ok = match &name[..2] {
            "y_" => {
                y += 1;
                parsed.is_ok()
            }
            "n_" => {
                n += 1;
                parsed.is_err()
            }
            "i_" => {
                i += 1;
                if I_ACCEPTED.contains(&name.as_str()) {
                    parsed.is_ok()
                } else {
                    parsed.as_ref().err().map(|e| e.code) == Some(ErrorCode::InvalidUtf8)
                }
            }
            _ => continue,
        };
        if !ok {
            failures.push(format!("{name}: got {:?}", parsed.as_ref().map(|_| "ok").map_err(|e| e.message.clone())));
        }
        if parsed.is_ok() != validated.is_ok() {
            failures.push(format!("{name}: parse and validate disagree"));
        }
    }
    assert_eq!((y, n, i), (95, 188, 35), "the suite has 95 y_, 188 n_ and 35 i_ files");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
