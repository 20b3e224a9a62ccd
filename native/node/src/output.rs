//! What a job hands back to JS, and its conversion on the JS thread.

use napi::bindgen_prelude::{Float32Array, Float64Array, ToNapiValue};
use napi::sys;
use offloop_core::error::CoreError;
use std::ptr;

pub enum JsOutput {
    Number(f64),
    /// Two numbers, as a JS array of length 2.
    Pair(f64, f64),
    F64Array(Vec<f64>),
    F32Array(Vec<f32>),
}

pub type NapiResult<T> = napi::Result<T>;

fn check(status: sys::napi_status) -> NapiResult<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::GenericFailure, format!("napi call failed ({status})")))
    }
}

pub fn number(env: sys::napi_env, v: f64) -> NapiResult<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the live environment of the current JS-thread callback.
    check(unsafe { sys::napi_create_double(env, v, &mut out) })?;
    Ok(out)
}

pub fn string(env: sys::napi_env, s: &str) -> NapiResult<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: s is valid UTF-8 of the given length.
    check(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out) })?;
    Ok(out)
}

pub fn array(env: sys::napi_env, items: &[sys::napi_value]) -> NapiResult<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; every item is a handle created in this same callback scope.
    check(unsafe { sys::napi_create_array_with_length(env, items.len(), &mut out) })?;
    for (i, item) in items.iter().enumerate() {
        check(unsafe { sys::napi_set_element(env, out, i as u32, *item) })?;
    }
    Ok(out)
}

pub fn undefined(env: sys::napi_env) -> NapiResult<sys::napi_value> {
    let mut out = ptr::null_mut();
    check(unsafe { sys::napi_get_undefined(env, &mut out) })?;
    Ok(out)
}

impl JsOutput {
    pub fn into_js(self, env: sys::napi_env) -> NapiResult<sys::napi_value> {
        match self {
            JsOutput::Number(v) => number(env, v),
            JsOutput::Pair(a, b) => {
                let items = [number(env, a)?, number(env, b)?];
                array(env, &items)
            }
            // The vectors become external ArrayBuffers: no copy, and V8 is told their size.
            // SAFETY (both): env is the live environment of this JS-thread callback.
            JsOutput::F64Array(v) => unsafe { Float64Array::to_napi_value(env, Float64Array::new(v)) },
            JsOutput::F32Array(v) => unsafe { Float32Array::to_napi_value(env, Float32Array::new(v)) },
        }
    }
}

/// `[code, message, offset, line, column]`, the last three undefined when the error has no position.
pub fn error_to_js(env: sys::napi_env, e: &CoreError) -> NapiResult<sys::napi_value> {
    let (offset, line, column) = match &e.position {
        Some(p) => (number(env, p.offset as f64)?, number(env, p.line as f64)?, number(env, p.column as f64)?),
        None => (undefined(env)?, undefined(env)?, undefined(env)?),
    };
    let items = [string(env, e.code.as_str())?, string(env, &e.message)?, offset, line, column];
    array(env, &items)
}
