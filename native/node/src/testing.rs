//! Hidden test hooks (exposed as `internal` in lib/, not documented API): they let tests prove panic
//! isolation and cancellation of long-running jobs without relying on timing of real kernels.

use crate::completion::submit;
use crate::output::JsOutput;
use napi::Env;
use napi_derive::napi;
use std::time::{Duration, Instant};

/// A job that panics with a recognisable message.
#[napi]
pub fn panic_for_test_submit(env: Env, id: u32) -> napi::Result<()> {
    submit(&env, id, false, |_| panic!("panicForTest: deliberate panic inside a pool job"))
}

/// A job that keeps a pool thread busy for `ms` milliseconds, checking its cancel flag every 100 µs
/// (a chunk boundary). Resolves to the milliseconds it actually ran.
#[napi]
pub fn spin_for_test_submit(env: Env, id: u32, ms: f64, cancellable: bool) -> napi::Result<()> {
    submit(&env, id, cancellable, move |ctx| {
        let t0 = Instant::now();
        let until = Duration::from_secs_f64(ms.max(0.0) / 1000.0);
        while t0.elapsed() < until {
            ctx.checkpoint()?;
            let chunk = Instant::now();
            while chunk.elapsed() < Duration::from_micros(100) {
                std::hint::spin_loop();
            }
        }
        Ok(JsOutput::Number(t0.elapsed().as_secs_f64() * 1000.0))
    })
}
