//! Arbitrary bytes into `parse_to_tape`, `validate` and `select`, and through every stage 1 path:
//! they must agree on the verdict (and the error), and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = offloop_core::json::check_agreement(data) {
        panic!("entry points disagree on {:?}: {why}", String::from_utf8_lossy(data));
    }
});
