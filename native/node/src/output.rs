//! What a job hands back to JS, and its conversion on the JS thread.

use napi::bindgen_prelude::{Buffer, Float32Array, Float64Array, Int32Array, ToNapiValue, Uint32Array, Uint8Array};
use napi::sys;
use offloop_core::error::{CoreError, CoreResult};
use offloop_core::json::{Batch, ColumnValues, Columns, StrKind, StringTable, Tape};
use std::ptr;

pub enum JsOutput {
    Undefined,
    Number(f64),
    /// Two numbers, as a JS array of length 2.
    Pair(f64, f64),
    F64Array(Vec<f64>),
    F32Array(Vec<f32>),
    I32Array(Vec<i32>),
    U32Array(Vec<u32>),
    /// Two Float64Arrays, as a JS array of length 2.
    F64ArrayPair(Vec<f64>, Vec<f64>),
    Tape(Tape),
    /// One tape or error per input document.
    TapeList(Vec<CoreResult<Tape>>),
    Batch(Batch),
    /// The columns and the bad lines collected with `onError: 'collect'`.
    Columns(Columns, Vec<CoreError>),
}

impl ToNapiValue for JsOutput {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        val.into_js(env)
    }
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
            JsOutput::I32Array(v) => unsafe { Int32Array::to_napi_value(env, Int32Array::new(v)) },
            JsOutput::U32Array(v) => unsafe { Uint32Array::to_napi_value(env, Uint32Array::new(v)) },
            JsOutput::F64ArrayPair(a, b) => {
                // SAFETY: as above.
                let items = unsafe {
                    [Float64Array::to_napi_value(env, Float64Array::new(a))?, Float64Array::to_napi_value(env, Float64Array::new(b))?]
                };
                array(env, &items)
            }
            JsOutput::Undefined => undefined(env),
            JsOutput::Tape(t) => tape_to_js(env, t),
            JsOutput::TapeList(list) => {
                let items = list
                    .into_iter()
                    .map(|r| match r {
                        Ok(t) => tape_to_js(env, t),
                        Err(e) => error_to_js(env, &e),
                    })
                    .collect::<NapiResult<Vec<_>>>()?;
                array(env, &items)
            }
            JsOutput::Batch(b) => {
                let errors = b.errors.iter().map(|e| error_to_js(env, e)).collect::<NapiResult<Vec<_>>>()?;
                let fields = [
                    ("tape", tape_to_js(env, b.tape)?),
                    ("errors", array(env, &errors)?),
                    ("lines", number(env, b.lines as f64)?),
                ];
                object(env, &fields)
            }
            JsOutput::Columns(c, errors) => columns_to_js(env, c, &errors),
        }
    }
}

pub fn object(env: sys::napi_env, fields: &[(&str, sys::napi_value)]) -> NapiResult<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; names are valid UTF-8 with explicit lengths.
    check(unsafe { sys::napi_create_object(env, &mut out) })?;
    for (name, value) in fields {
        let key = string(env, name)?;
        check(unsafe { sys::napi_set_property(env, out, key, *value) })?;
    }
    Ok(out)
}

/// A tape as `{ tags, counts, keys, strings, numbers, bytes, starts, kinds, shapes, shapeKeys,
/// shapeStarts }` (see lib/json/tape.ts);
/// every field wraps the Rust vector without copying it.
fn tape_to_js(env: sys::napi_env, t: Tape) -> NapiResult<sys::napi_value> {
    // SAFETY (all): env is the live environment of this JS-thread call.
    let fields = unsafe {
        [
            ("tags", Uint8Array::to_napi_value(env, Uint8Array::new(t.tags))?),
            ("counts", Uint32Array::to_napi_value(env, Uint32Array::new(t.counts))?),
            ("keys", Uint32Array::to_napi_value(env, Uint32Array::new(t.keys))?),
            ("strings", Uint32Array::to_napi_value(env, Uint32Array::new(t.strings))?),
            ("numbers", Float64Array::to_napi_value(env, Float64Array::new(t.numbers))?),
            ("bytes", Buffer::to_napi_value(env, Buffer::from(t.table.bytes))?),
            ("starts", Uint32Array::to_napi_value(env, Uint32Array::new(t.table.offsets))?),
            ("kinds", Uint8Array::to_napi_value(env, Uint8Array::new(t.table.kinds))?),
            ("shapes", Uint32Array::to_napi_value(env, Uint32Array::new(t.shapes))?),
            ("shapeKeys", Uint32Array::to_napi_value(env, Uint32Array::new(t.shape_table.keys))?),
            ("shapeStarts", Uint32Array::to_napi_value(env, Uint32Array::new(t.shape_table.offsets))?),
        ]
    };
    object(env, &fields)
}

/// A JS string from a string-table entry; WTF-8 (lone surrogates) goes through UTF-16.
fn table_string(env: sys::napi_env, table: &StringTable, id: u32) -> NapiResult<sys::napi_value> {
    let Some((bytes, kind)) = table.get(id) else { return string(env, "") };
    let mut out = ptr::null_mut();
    // SAFETY: env is live; the pointers and lengths describe valid buffers.
    match kind {
        StrKind::Ascii => check(unsafe {
            sys::napi_create_string_latin1(env, bytes.as_ptr().cast(), bytes.len() as isize, &mut out)
        })?,
        StrKind::Utf8 => check(unsafe {
            sys::napi_create_string_utf8(env, bytes.as_ptr().cast(), bytes.len() as isize, &mut out)
        })?,
        StrKind::Wtf8 => {
            let units = wtf8_to_utf16(bytes);
            check(unsafe { sys::napi_create_string_utf16(env, units.as_ptr(), units.len() as isize, &mut out) })?
        }
    }
    Ok(out)
}

/// Decodes WTF-8 (UTF-8 that may encode surrogate code points) into UTF-16 code units.
fn wtf8_to_utf16(b: &[u8]) -> Vec<u16> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as u32;
        let (cp, n) = match c {
            0..=0x7f => (c, 1),
            0xc0..=0xdf => (((c & 0x1f) << 6) | (b.get(i + 1).copied().unwrap_or(0) as u32 & 0x3f), 2),
            0xe0..=0xef => (
                ((c & 0x0f) << 12)
                    | ((b.get(i + 1).copied().unwrap_or(0) as u32 & 0x3f) << 6)
                    | (b.get(i + 2).copied().unwrap_or(0) as u32 & 0x3f),
                3,
            ),
            _ => (
                ((c & 0x07) << 18)
                    | ((b.get(i + 1).copied().unwrap_or(0) as u32 & 0x3f) << 12)
                    | ((b.get(i + 2).copied().unwrap_or(0) as u32 & 0x3f) << 6)
                    | (b.get(i + 3).copied().unwrap_or(0) as u32 & 0x3f),
                4,
            ),
        };
        if cp >= 0x10000 {
            let v = cp - 0x10000;
            out.push(0xd800 | (v >> 10) as u16);
            out.push(0xdc00 | (v & 0x3ff) as u16);
        } else {
            out.push(cp as u16);
        }
        i += n;
    }
    out
}

/// `{ length, columns: [...], valid: [...], errors: [...] }`: typed arrays wrap the Rust vectors;
/// string columns become JS arrays, each distinct string created once; `errors` holds the collected
/// bad lines as error tuples.
fn columns_to_js(env: sys::napi_env, c: Columns, errors: &[CoreError]) -> NapiResult<sys::napi_value> {
    let mut cols = Vec::with_capacity(c.columns.len());
    let mut valid = Vec::with_capacity(c.columns.len());
    for col in c.columns {
        // SAFETY (typed arrays): env is the live environment of this JS-thread call.
        let values = match col.values {
            ColumnValues::F64(v) => unsafe { Float64Array::to_napi_value(env, Float64Array::new(v))? },
            ColumnValues::F32(v) => unsafe { Float32Array::to_napi_value(env, Float32Array::new(v))? },
            ColumnValues::I32(v) => unsafe { Int32Array::to_napi_value(env, Int32Array::new(v))? },
            ColumnValues::Bool(v) => unsafe { Uint8Array::to_napi_value(env, Uint8Array::new(v))? },
            ColumnValues::Str(s) => {
                let mut made: Vec<Option<sys::napi_value>> = vec![None; s.table.len()];
                let mut items = Vec::with_capacity(s.ids.len());
                for &id in &s.ids {
                    let v = match made.get(id as usize).copied().flatten() {
                        Some(v) => v,
                        None => {
                            let v = table_string(env, &s.table, id)?;
                            if let Some(slot) = made.get_mut(id as usize) {
                                *slot = Some(v);
                            }
                            v
                        }
                    };
                    items.push(v);
                }
                array(env, &items)?
            }
        };
        cols.push(values);
        valid.push(unsafe { Uint8Array::to_napi_value(env, Uint8Array::new(col.valid))? });
    }
    let errors = errors.iter().map(|e| error_to_js(env, e)).collect::<NapiResult<Vec<_>>>()?;
    let fields = [
        ("length", number(env, c.len as f64)?),
        ("columns", array(env, &cols)?),
        ("valid", array(env, &valid)?),
        ("errors", array(env, &errors)?),
    ];
    object(env, &fields)
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
