//! The fuzzing oracle: every entry point must give the same verdict on the same bytes, and the
//! portable and SIMD stage 1 must build the same index. `native/fuzz` calls this with arbitrary
//! bytes; the tests call it with random and corrupted inputs.

use super::document::{prepare, Scratch};
use super::pointer::Pointer;
use super::structural::{structural_index_at, StructuralIndex};
use super::tape::Tag;
use super::{parse_to_tape, select, validate, ParseOptions};
use crate::runtime::JobCtx;
use crate::simd::SimdLevel;

/// Runs `input` through `parse_to_tape`, `validate` (both walks) and `select`, and each stage 1 path, and
/// describes the first disagreement. Never panics on any input.
pub fn check_agreement(input: &[u8]) -> Result<(), String> {
    let ctx = JobCtx::inline();
    let opts = ParseOptions::default();
    let parsed = parse_to_tape(&ctx, input, opts);
    let validated = validate(&ctx, input, opts);
    if parsed.as_ref().err() != validated.as_ref().err() {
        return Err(format!("parse {:?} but validate {:?}", parsed.err(), validated.err()));
    }
    // Large inputs are walked with stage 1 a window at a time, small ones with the whole index:
    // both walks must agree on every input.
    let windowed = super::document::always_windowed(|| validate(&ctx, input, opts));
    if windowed.as_ref().err() != validated.as_ref().err() {
        return Err(format!("validate {:?} but the windowed walk {:?}", validated.err(), windowed.err()));
    }
    let pointers: Vec<Pointer> = ["", "/0", "/*", "/a/*/b"].iter().filter_map(|p| Pointer::parse(p).ok()).collect();
    let selected = select(&ctx, input, &pointers, opts);
    match (&parsed, &selected) {
        (Ok(tape), Ok(sel)) => {
            // The root selector's value is the whole tape, so the selection starts with it.
            let bits = |n: &[f64]| n.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
            let numbers_match = sel.numbers.get(..tape.numbers.len()).map(bits) == Some(bits(&tape.numbers));
            if sel.tags.get(..tape.tags.len()) != Some(&tape.tags[..]) || !numbers_match {
                return Err("select(\"\") differs from parse".into());
            }
            if sel.tags.first() == Some(&(Tag::Missing as u8)) {
                return Err("select(\"\") is missing on a valid document".into());
            }
        }
        (Err(p), Err(s)) if p == s => {}
        _ => return Err(format!("parse {:?} but select {:?}", parsed.err(), selected.err())),
    }
    let selected_windowed = super::document::always_windowed(|| select(&ctx, input, &pointers, opts));
    if selected_windowed != selected {
        return Err(format!("select {:?} but windowed select {:?}", selected.err(), selected_windowed.err()));
    }
    let mut scratch = Scratch::default();
    if let Ok((text, _)) = prepare(&ctx, input, &mut scratch) {
        let mut reference: Option<StructuralIndex> = None;
        for level in [SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512] {
            let mut index = StructuralIndex::default();
            if structural_index_at(level, &ctx, text, &mut index).is_err() {
                return Err(format!("stage 1 failed at level {level:?}"));
            }
            match &reference {
                None => reference = Some(index),
                Some(r) if *r != index => return Err(format!("stage 1 at {level:?} differs from portable")),
                Some(_) => {}
            }
        }
    }
    Ok(())
}
