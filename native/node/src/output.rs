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

/// Results returned by a `...Sync` binding (the call ran on the JS thread) are `Owned`.
impl ToNapiValue for JsOutput {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        val.into_js(env, Placement::Owned)
    }
}

/// Where the memory of a result's typed arrays lives.
///
/// `External` wraps the Rust vector without a copy. Node frees such a buffer's memory only on a
/// later turn of the event loop (its release callback is queued with `SetImmediate`), so a
/// synchronous loop of calls kept every result alive: 100 000 `addSync` calls on 4 096 doubles
/// grew the process to 3.2 GB. Pool results arrive through the event loop anyway and stay
/// external. `Owned` copies the vector into an ArrayBuffer that V8 allocates and frees itself,
/// for whatever a call returns on the JS thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    External,
    Owned,
}

/// A typed-array element type and how napi-rs wraps a vector of it.
trait Elem: Copy {
    const KIND: sys::napi_typedarray_type;
    /// # Safety
    /// `env` is the live environment of the current JS-thread call.
    unsafe fn external(env: sys::napi_env, v: Vec<Self>) -> NapiResult<sys::napi_value>;
}

macro_rules! elem {
    ($t:ty, $kind:ident, $wrap:ident) => {
        impl Elem for $t {
            const KIND: sys::napi_typedarray_type = sys::TypedarrayType::$kind;
            unsafe fn external(env: sys::napi_env, v: Vec<Self>) -> NapiResult<sys::napi_value> {
                // SAFETY: the caller's contract.
                unsafe { $wrap::to_napi_value(env, $wrap::new(v)) }
            }
        }
    };
}
elem!(f64, float64_array, Float64Array);
elem!(f32, float32_array, Float32Array);
elem!(i32, int32_array, Int32Array);
elem!(u32, uint32_array, Uint32Array);
elem!(u8, uint8_array, Uint8Array);

/// A typed array of `v`'s elements, placed as `place` says.
fn typed<T: Elem>(env: sys::napi_env, v: Vec<T>, place: Placement) -> NapiResult<sys::napi_value> {
    if place == Placement::External {
        // SAFETY: env is the live environment of this JS-thread call.
        return unsafe { T::external(env, v) };
    }
    let bytes = std::mem::size_of_val(v.as_slice());
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut out = ptr::null_mut();
    // SAFETY: env is live; `data` receives `bytes` writable bytes owned by the new ArrayBuffer,
    // which cannot overlap the vector; the typed array covers exactly those bytes.
    unsafe {
        check(sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer))?;
        if bytes > 0 {
            ptr::copy_nonoverlapping(v.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes);
        }
        check(sys::napi_create_typedarray(env, T::KIND, v.len(), buffer, 0, &mut out))?;
    }
    Ok(out)
}

/// A Node Buffer of `v`, placed as `place` says.
fn node_buffer(env: sys::napi_env, v: Vec<u8>, place: Placement) -> NapiResult<sys::napi_value> {
    if place == Placement::External {
        // SAFETY: env is the live environment of this JS-thread call.
        return unsafe { Buffer::to_napi_value(env, Buffer::from(v)) };
    }
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut out = ptr::null_mut();
    // SAFETY: env is live; the source is `v.len()` readable bytes.
    check(unsafe { sys::napi_create_buffer_copy(env, v.len(), v.as_ptr().cast(), &mut data, &mut out) })?;
    Ok(out)
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
    pub fn into_js(self, env: sys::napi_env, place: Placement) -> NapiResult<sys::napi_value> {
        match self {
            JsOutput::Number(v) => number(env, v),
            JsOutput::Pair(a, b) => {
                let items = [number(env, a)?, number(env, b)?];
                array(env, &items)
            }
            JsOutput::F64Array(v) => typed(env, v, place),
            JsOutput::F32Array(v) => typed(env, v, place),
            JsOutput::I32Array(v) => typed(env, v, place),
            JsOutput::U32Array(v) => typed(env, v, place),
            JsOutput::F64ArrayPair(a, b) => {
                let items = [typed(env, a, place)?, typed(env, b, place)?];
                array(env, &items)
            }
            JsOutput::Undefined => undefined(env),
            JsOutput::Tape(t) => tape_to_js(env, t, place),
            JsOutput::TapeList(list) => {
                let items = list
                    .into_iter()
                    .map(|r| match r {
                        Ok(t) => tape_to_js(env, t, place),
                        Err(e) => error_to_js(env, &e),
                    })
                    .collect::<NapiResult<Vec<_>>>()?;
                array(env, &items)
            }
            JsOutput::Batch(b) => {
                let errors = b.errors.iter().map(|e| error_to_js(env, e)).collect::<NapiResult<Vec<_>>>()?;
                let fields = [
                    ("tape", tape_to_js(env, b.tape, place)?),
                    ("errors", array(env, &errors)?),
                    ("lines", number(env, b.lines as f64)?),
                ];
                object(env, &fields)
            }
            JsOutput::Columns(c, errors) => columns_to_js(env, c, &errors, place),
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

/// Tapes up to this many bytes are copied into one `ArrayBuffer` ([`packed_tape`]) even where
/// larger ones are wrapped without a copy: eleven external buffers, each with its finalizer, cost
/// about 25 µs a tape (a 7-byte document: `json.parseSync` 23-27 µs, session 14), far more than
/// copying a small tape.
const PACK_MAX: usize = 256 << 10;

/// A tape for lib/json/tape.ts: packed into one `ArrayBuffer` when copied (`Placement::Owned`) or
/// small, else `{ tags, counts, keys, strings, numbers, bytes, starts, kinds, shapes, shapeKeys,
/// shapeStarts }`, each field wrapping a Rust vector.
fn tape_to_js(env: sys::napi_env, t: Tape, place: Placement) -> NapiResult<sys::napi_value> {
    if place == Placement::Owned || packed_len(&t) <= PACK_MAX {
        return packed_tape(env, &t);
    }
    let fields = [
        ("tags", typed(env, t.tags, place)?),
        ("counts", typed(env, t.counts, place)?),
        ("keys", typed(env, t.keys, place)?),
        ("strings", typed(env, t.strings, place)?),
        ("numbers", typed(env, t.numbers, place)?),
        ("bytes", node_buffer(env, t.table.bytes, place)?),
        ("starts", typed(env, t.table.offsets, place)?),
        ("kinds", typed(env, t.table.kinds, place)?),
        ("shapes", typed(env, t.shapes, place)?),
        ("shapeKeys", typed(env, t.shape_table.keys, place)?),
        ("shapeStarts", typed(env, t.shape_table.offsets, place)?),
    ];
    object(env, &fields)
}

/// Bytes of [`packed_tape`]'s buffer.
fn packed_len(t: &Tape) -> usize {
    let words = t.counts.len()
        + t.keys.len()
        + t.strings.len()
        + t.table.offsets.len()
        + t.shapes.len()
        + t.shape_table.keys.len()
        + t.shape_table.offsets.len();
    PACK_HEADER + 8 * t.numbers.len() + 4 * words + t.tags.len() + t.table.bytes.len() + t.table.kinds.len()
}

/// The header of a packed tape: the element counts of its eleven sections, as u32, padded to 8
/// bytes so the doubles after it are aligned.
const PACK_HEADER: usize = 48;

/// The tape in one `ArrayBuffer`: the header, then `numbers` (f64), then the u32 sections
/// `counts, keys, strings, starts, shapes, shapeKeys, shapeStarts`, then the byte sections
/// `tags, bytes, kinds` (lib/json/tape.ts `tapeArrays` reads it in that order).
fn packed_tape(env: sys::napi_env, t: &Tape) -> NapiResult<sys::napi_value> {
    let total = packed_len(t);
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut out = ptr::null_mut();
    // SAFETY: env is live; the new ArrayBuffer owns `total` writable bytes at `data`, which
    // overlap no Rust vector.
    unsafe {
        check(sys::napi_create_arraybuffer(env, total, &mut data, &mut out))?;
        write_packed(t, data.cast());
    }
    Ok(out)
}

/// Writes [`packed_tape`]'s layout at `at`.
///
/// # Safety
/// `at` must be valid for `packed_len(t)` writable bytes that overlap none of `t`'s vectors.
unsafe fn write_packed(t: &Tape, mut at: *mut u8) {
    let words: [&[u32]; 7] = [
        &t.counts,
        &t.keys,
        &t.strings,
        &t.table.offsets,
        &t.shapes,
        &t.shape_table.keys,
        &t.shape_table.offsets,
    ];
    let bytes: [&[u8]; 3] = [&t.tags, &t.table.bytes, &t.table.kinds];
    let mut header = [0u32; PACK_HEADER / 4];
    header[0] = t.numbers.len() as u32;
    for (h, w) in header[1..8].iter_mut().zip(&words) {
        *h = w.len() as u32;
    }
    for (h, b) in header[8..11].iter_mut().zip(&bytes) {
        *h = b.len() as u32;
    }
    // SAFETY: the caller gives `packed_len(t)` bytes, which `packed_len` sums from these sections.
    let mut put = |src: *const u8, n: usize| unsafe {
        if n > 0 {
            ptr::copy_nonoverlapping(src, at, n);
            at = at.add(n);
        }
    };
    put(header.as_ptr().cast(), PACK_HEADER);
    put(t.numbers.as_ptr().cast(), 8 * t.numbers.len());
    for w in words {
        put(w.as_ptr().cast(), 4 * w.len());
    }
    for b in bytes {
        put(b.as_ptr(), b.len());
    }
}

/// A JS value made already (by [`tape_into_scratch`]), returned as it is.
pub struct Raw(pub sys::napi_value);

impl ToNapiValue for Raw {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}

/// `t` packed into the caller's reused `ArrayBuffer` `scratch` when it fits there (the result is
/// then its length in bytes, a number), else into a new `ArrayBuffer`. A new `ArrayBuffer` per
/// tape cost more than parsing a small document: V8 allocates and sweeps its backing store, and
/// the sweeper thread freeing it contended with the JS thread for the allocator's lock.
pub fn tape_into_scratch(env: sys::napi_env, t: &Tape, scratch: Option<sys::napi_value>) -> NapiResult<sys::napi_value> {
    let total = packed_len(t);
    if let Some(buffer) = scratch {
        let mut data: *mut std::ffi::c_void = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: env and buffer are live handles of this call.
        check(unsafe { sys::napi_get_arraybuffer_info(env, buffer, &mut data, &mut len) })?;
        let dst = data as usize;
        let overlaps = |v: &[u8]| {
            let p = v.as_ptr() as usize;
            p < dst + len && dst < p + v.len()
        };
        if total <= len && !data.is_null() && !overlaps(&t.table.bytes) && !overlaps(&t.tags) {
            // SAFETY: the scratch buffer has `len >= total` writable bytes, none of them the
            // tape's own (they live in Rust vectors; the checks above are for the sceptic).
            unsafe { write_packed(t, data.cast()) };
            return number(env, total as f64);
        }
    }
    packed_tape(env, t)
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
fn columns_to_js(env: sys::napi_env, c: Columns, errors: &[CoreError], place: Placement) -> NapiResult<sys::napi_value> {
    let mut cols = Vec::with_capacity(c.columns.len());
    let mut valid = Vec::with_capacity(c.columns.len());
    for col in c.columns {
        let values = match col.values {
            ColumnValues::F64(v) => typed(env, v, place)?,
            ColumnValues::F32(v) => typed(env, v, place)?,
            ColumnValues::I32(v) => typed(env, v, place)?,
            ColumnValues::Bool(v) => typed(env, v, place)?,
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
        valid.push(typed(env, col.valid, place)?);
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
