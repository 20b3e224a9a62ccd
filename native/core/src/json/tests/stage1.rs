//! The portable and SIMD stage 1 paths give identical results, block by block and end to end.

use super::corpus_dir;
use crate::json::structural::{classify_portable, structural_index_at, StructuralIndex, BAD_ESCAPE, BAD_HEX, CONTROL_IN_STRING};
use crate::runtime::JobCtx;
use crate::simd::SimdLevel;
use proptest::prelude::*;

fn index_at(level: SimdLevel, input: &[u8]) -> StructuralIndex {
    let mut out = StructuralIndex::default();
    structural_index_at(level, &JobCtx::inline(), input, &mut out).expect("stage 1 runs");
    out
}

fn assert_paths_agree(input: &[u8]) {
    let portable = index_at(SimdLevel::Portable, input);
    assert_eq!(index_at(SimdLevel::Avx2, input), portable, "AVX2 differs from portable");
    assert_eq!(index_at(SimdLevel::Avx512, input), portable, "AVX-512 differs from portable");
}

/// Bytes that matter to stage 1, plus some that don't, so random blocks hit every case.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"\"\\{}[]:, \t\n\r0aZ".to_vec()),
        any::<u8>(),
    ]
}

#[cfg(target_arch = "x86_64")]
proptest! {
    #[test]
    fn json_stage1_classifiers_agree(block in prop::collection::vec(interesting_byte(), 64)) {
        let block: [u8; 64] = block.try_into().expect("64 bytes");
        let portable = classify_portable(&block);
        if let Some(m) = crate::json::structural::classify_avx2_checked(&block) {
            prop_assert_eq!(m, portable);
        }
        if let Some(m) = crate::json::structural::classify_avx512_checked(&block) {
            prop_assert_eq!(m, portable);
        }
    }
}

/// Masks with every density: sparse, dense, all ones, and single high bits.
fn mask() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), any::<u64>().prop_map(|a| a & (a >> 7)), any::<u64>().prop_map(|a| a | (a << 3)), Just(u64::MAX), Just(0), (0..64u32).prop_map(|i| 1u64 << i)]
}

#[cfg(target_arch = "x86_64")]
proptest! {
    /// The AVX-512 position writer appends exactly what the portable one does, after whatever
    /// the vector already held (its spare-capacity stores must not show).
    #[test]
    fn json_stage1_position_writers_agree(masks in prop::collection::vec(mask(), 1..40), base in prop::sample::select(vec![0u32, 64, 1 << 20, u32::MAX - 4095])) {
        let mut portable = vec![7u32; 3];
        let mut vector = portable.clone();
        for (i, &bits) in masks.iter().enumerate() {
            let at = base.wrapping_add(64 * i as u32);
            crate::json::structural::push_bits_portable(&mut portable, bits, at);
            if crate::json::structural::push_bits_avx512_checked(&mut vector, bits, at).is_none() {
                return Ok(());
            }
        }
        prop_assert_eq!(vector, portable);
    }
}

proptest! {
    #[test]
    fn json_stage1_paths_agree_on_random_input(input in prop::collection::vec(interesting_byte(), 0..400)) {
        assert_paths_agree(&input);
    }
}

#[test]
fn json_stage1_paths_agree_on_corpus() {
    let Some(dir) = corpus_dir() else { return };
    for entry in std::fs::read_dir(dir.join("json")).expect("json dir").flatten() {
        let bytes = std::fs::read(entry.path()).expect("readable");
        assert_paths_agree(&bytes);
    }
}

#[test]
fn json_stage1_marks_strings_and_scalars() {
    let input = br#"{"a\"b": [12, true,"x\\"], "c":-1}"#;
    let index = index_at(SimdLevel::Portable, input);
    let bytes: Vec<u8> = index.positions.iter().map(|&p| input[p as usize]).collect();
    assert_eq!(bytes, br#"{"":[1,t,""],"":-}"#.to_vec());
    assert_eq!(index.first_string_error, None);
    let errors = |input: &[u8]| index_at(SimdLevel::Portable, input).first_string_error.map(|e| (e.offset, e.message));
    assert_eq!(errors(b"[\"a\tb\"]"), Some((3, CONTROL_IN_STRING)));
    assert_eq!(errors(b"[\"\\q\", \"\n\"]"), Some((2, BAD_ESCAPE)));
    assert_eq!(errors(b"[\"\\u12x4\"]"), Some((6, BAD_HEX)));
    assert_eq!(errors(b"[\"\\u12\"]"), Some((6, BAD_HEX)));
    assert_eq!(errors(b"[\\q, \"\\\\\\/\\u00e9\"]"), None, "escapes outside strings are stage 2's to reject");
}
