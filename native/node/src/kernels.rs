//! Bindings of the numeric kernels: `xSubmit` queues on the pool, `xSync` runs on the calling thread.

use crate::args::{float_array, FloatArray};
use crate::completion::submit;
use crate::errors::{invalid_arg, to_napi};
use crate::output::JsOutput;
use napi::{Env, Unknown};
use napi_derive::napi;
use offloop_core::error::CoreResult;
use offloop_core::kernels;
use offloop_core::runtime::{run_catching, JobCtx};

fn sum_job(x: &FloatArray, ctx: &JobCtx) -> CoreResult<JsOutput> {
    let v = match x {
        FloatArray::F64(b) => kernels::sum(ctx, b.as_slice())?,
        FloatArray::F32(b) => kernels::sum(ctx, b.as_slice())?,
    };
    Ok(JsOutput::Number(v))
}

fn dot_job(x: &FloatArray, y: &FloatArray, ctx: &JobCtx) -> CoreResult<JsOutput> {
    let v = match (x, y) {
        (FloatArray::F64(a), FloatArray::F64(b)) => kernels::dot(ctx, a.as_slice(), b.as_slice())?,
        (FloatArray::F32(a), FloatArray::F32(b)) => kernels::dot(ctx, a.as_slice(), b.as_slice())?,
        _ => unreachable!("element types checked by dot_args"),
    };
    Ok(JsOutput::Number(v))
}

fn minmax_job(x: &FloatArray, ctx: &JobCtx) -> CoreResult<JsOutput> {
    let m = match x {
        FloatArray::F64(b) => kernels::minmax(ctx, b.as_slice())?,
        FloatArray::F32(b) => kernels::minmax(ctx, b.as_slice())?,
    };
    Ok(JsOutput::Pair(m.min, m.max))
}

fn dot_args(env: &Env, x: &Unknown, y: &Unknown) -> napi::Result<(FloatArray, FloatArray)> {
    let (x, y) = (float_array(env, x, "x")?, float_array(env, y, "y")?);
    match (&x, &y) {
        (FloatArray::F64(_), FloatArray::F64(_)) | (FloatArray::F32(_), FloatArray::F32(_)) => {}
        _ => return Err(invalid_arg("dot: x and y must have the same element type")),
    }
    if x.len() != y.len() {
        return Err(invalid_arg(format!("dot: x has {} elements but y has {}", x.len(), y.len())));
    }
    Ok((x, y))
}

fn inline(job: impl FnOnce(&JobCtx) -> CoreResult<JsOutput>) -> napi::Result<JsOutput> {
    run_catching(|| job(&JobCtx::inline())).map_err(to_napi)
}

fn number(out: JsOutput) -> f64 {
    match out {
        JsOutput::Number(v) => v,
        _ => unreachable!("a scalar kernel returns a number"),
    }
}

fn pair(out: JsOutput) -> Vec<f64> {
    match out {
        JsOutput::Pair(a, b) => vec![a, b],
        _ => unreachable!("minmax returns a pair"),
    }
}

#[napi]
pub fn sum_submit(env: Env, id: u32, x: Unknown, cancellable: bool) -> napi::Result<()> {
    let x = float_array(&env, &x, "x")?;
    submit(&env, id, cancellable, move |ctx| sum_job(&x, ctx))
}

#[napi]
pub fn sum_sync(env: Env, x: Unknown) -> napi::Result<f64> {
    let x = float_array(&env, &x, "x")?;
    inline(|ctx| sum_job(&x, ctx)).map(number)
}

#[napi]
pub fn dot_submit(env: Env, id: u32, x: Unknown, y: Unknown, cancellable: bool) -> napi::Result<()> {
    let (x, y) = dot_args(&env, &x, &y)?;
    submit(&env, id, cancellable, move |ctx| dot_job(&x, &y, ctx))
}

#[napi]
pub fn dot_sync(env: Env, x: Unknown, y: Unknown) -> napi::Result<f64> {
    let (x, y) = dot_args(&env, &x, &y)?;
    inline(|ctx| dot_job(&x, &y, ctx)).map(number)
}

#[napi]
pub fn minmax_submit(env: Env, id: u32, x: Unknown, cancellable: bool) -> napi::Result<()> {
    let x = float_array(&env, &x, "x")?;
    submit(&env, id, cancellable, move |ctx| minmax_job(&x, ctx))
}

/// Returns `[min, max]`.
#[napi]
pub fn minmax_sync(env: Env, x: Unknown) -> napi::Result<Vec<f64>> {
    let x = float_array(&env, &x, "x")?;
    inline(|ctx| minmax_job(&x, ctx)).map(pair)
}
