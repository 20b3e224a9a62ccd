//! The classifier every CPU can run: a byte-class table, one lookup per byte.

use super::BlockMasks;

const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const WHITESPACE: u8 = 4;
const OPERATOR: u8 = 8;
const CONTROL: u8 = 16;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = CONTROL;
        i += 1;
    }
    t[b' ' as usize] = WHITESPACE;
    t[b'\t' as usize] = WHITESPACE | CONTROL;
    t[b'\n' as usize] = WHITESPACE | CONTROL;
    t[b'\r' as usize] = WHITESPACE | CONTROL;
    t[b'"' as usize] = QUOTE;
    t[b'\\' as usize] = BACKSLASH;
    t[b'{' as usize] = OPERATOR;
    t[b'}' as usize] = OPERATOR;
    t[b'[' as usize] = OPERATOR;
    t[b']' as usize] = OPERATOR;
    t[b':' as usize] = OPERATOR;
    t[b',' as usize] = OPERATOR;
    t
};

#[inline(always)]
pub(super) fn classify(block: &[u8; 64]) -> BlockMasks {
    let mut m = BlockMasks::default();
    for (i, &b) in block.iter().enumerate() {
        let c = CLASS[b as usize] as u64;
        m.quote |= (c & 1) << i;
        m.backslash |= ((c >> 1) & 1) << i;
        m.whitespace |= ((c >> 2) & 1) << i;
        m.operator |= ((c >> 3) & 1) << i;
        m.control |= ((c >> 4) & 1) << i;
    }
    m
}
