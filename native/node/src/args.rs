//! Borrowing typed arrays from JS without copying.
//!
//! The contract (documented in the README, like `fs.write`'s): the caller neither modifies nor
//! transfers an input array until the promise settles. lib/runtime.ts keeps every input referenced
//! until its job's completion arrives, so the garbage collector cannot free the memory under a job.

use crate::errors::invalid_arg;
use napi::{sys, Env, JsValue, Unknown};
use std::ptr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementKind {
    F64,
    F32,
    I32,
    U8,
    Other,
}

/// A read-only view of a typed array's elements that may travel to a pool thread.
pub struct Borrowed<T> {
    ptr: *const T,
    len: usize,
}

// SAFETY: the memory belongs to an ArrayBuffer that lib/runtime.ts keeps alive until the job's
// completion is drained, and the caller promises not to write to it meanwhile.
unsafe impl<T: Send> Send for Borrowed<T> {}

impl<T> Borrowed<T> {
    pub fn as_slice(&self) -> &[T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: ptr/len came from napi_get_typedarray_info for a live, attached array of T
        // (see the Send note above for why it is still alive here).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

pub struct TypedView {
    pub kind: ElementKind,
    /// The JS constructor's name, for messages ("a Uint8Array").
    pub type_name: &'static str,
    data: *mut u8,
    len: usize,
}

impl TypedView {
    /// The error for a typed array of the wrong element type: `{name} must be {expected}, got ...`.
    pub fn wrong_type(&self, name: &str, expected: &str) -> napi::Error {
        invalid_arg(format!("{name} must be {expected}, got {}", self.type_name))
    }

    pub fn borrow<T>(&self) -> Borrowed<T> {
        Borrowed { ptr: self.data as *const T, len: self.len }
    }

    /// The view's data pointer and length, for kernels that write into it.
    pub fn raw_parts(&self) -> (*mut u8, usize) {
        (self.data, self.len)
    }
}

/// Reads a typed array argument; `name` is used in error messages.
///
/// One `napi_get_typedarray_info` call: it fails for anything that is not a typed array, and its
/// element type comes with it. Only an empty view can be detached (V8 reports a detached view as
/// empty), so only then is the buffer asked. Hot Sync kernels call this for every argument.
pub fn typed_view(env: &Env, value: &Unknown, name: &str, expected: &str) -> napi::Result<TypedView> {
    let env = env.raw();
    let raw = value.raw();
    let mut kind = 0;
    let mut len = 0;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0;
    // SAFETY: env and raw are the live handles of this call; the out-pointers are valid locals.
    let status =
        unsafe { sys::napi_get_typedarray_info(env, raw, &mut kind, &mut len, &mut data, &mut buffer, &mut offset) };
    if status != sys::Status::napi_ok {
        return Err(invalid_arg(format!(
            "{name} must be {expected}, got {}",
            describe(env, raw)
        )));
    }
    if len == 0 {
        let mut detached = false;
        // SAFETY: buffer is the typed array's ArrayBuffer handle from the call above.
        unsafe { sys::napi_is_detached_arraybuffer(env, buffer, &mut detached) };
        if detached {
            return Err(invalid_arg(format!("{name} is backed by a detached ArrayBuffer")));
        }
    }
    let ek = match kind {
        sys::TypedarrayType::float64_array => ElementKind::F64,
        sys::TypedarrayType::float32_array => ElementKind::F32,
        sys::TypedarrayType::int32_array => ElementKind::I32,
        sys::TypedarrayType::uint8_array => ElementKind::U8,
        _ => ElementKind::Other,
    };
    Ok(TypedView { kind: ek, type_name: type_name(kind), data: data.cast(), len })
}

fn type_name(kind: sys::napi_typedarray_type) -> &'static str {
    use sys::TypedarrayType as T;
    match kind {
        T::int8_array => "an Int8Array",
        T::uint8_array => "a Uint8Array",
        T::uint8_clamped_array => "a Uint8ClampedArray",
        T::int16_array => "an Int16Array",
        T::uint16_array => "a Uint16Array",
        T::int32_array => "an Int32Array",
        T::uint32_array => "a Uint32Array",
        T::float32_array => "a Float32Array",
        T::float64_array => "a Float64Array",
        9 => "a BigInt64Array",
        10 => "a BigUint64Array",
        _ => "a typed array of another kind",
    }
}

fn describe(env: sys::napi_env, raw: sys::napi_value) -> &'static str {
    let mut t = 0;
    // SAFETY: live handles of this call.
    unsafe { sys::napi_typeof(env, raw, &mut t) };
    let mut is_array = false;
    unsafe { sys::napi_is_array(env, raw, &mut is_array) };
    if is_array {
        return "an Array";
    }
    match t {
        sys::ValueType::napi_undefined => "undefined",
        sys::ValueType::napi_null => "null",
        sys::ValueType::napi_boolean => "a boolean",
        sys::ValueType::napi_number => "a number",
        sys::ValueType::napi_string => "a string",
        sys::ValueType::napi_function => "a function",
        sys::ValueType::napi_bigint => "a bigint",
        _ => "an object that is not a typed array",
    }
}

/// A float typed array argument, by element type.
pub enum FloatArray {
    F64(Borrowed<f64>),
    F32(Borrowed<f32>),
}

impl FloatArray {
    pub fn len(&self) -> usize {
        match self {
            FloatArray::F64(b) => b.len(),
            FloatArray::F32(b) => b.len(),
        }
    }
}

pub fn float_array(env: &Env, value: &Unknown, name: &str) -> napi::Result<FloatArray> {
    const EXPECTED: &str = "a Float64Array or Float32Array";
    let view = typed_view(env, value, name, EXPECTED)?;
    match view.kind {
        ElementKind::F64 => Ok(FloatArray::F64(view.borrow())),
        ElementKind::F32 => Ok(FloatArray::F32(view.borrow())),
        _ => Err(view.wrong_type(name, EXPECTED)),
    }
}

/// A number as JS writes it in a message: `Infinity`, `-Infinity` and `NaN` rather than Rust's
/// `inf`, `-inf` and `NaN`; integral values without a fraction.
pub fn js_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        format!("{v}")
    }
}
