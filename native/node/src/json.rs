//! Bindings of the JSON engine. Tapes travel to JS as typed arrays over the Rust vectors (no copy);
//! lib/json/tape.ts builds the values.

use crate::args::{typed_view, Borrowed, ElementKind};
use crate::completion::submit;
use crate::errors::{invalid_arg, to_napi};
use crate::output::{tape_into_scratch, JsOutput, Raw};
use napi::{sys, Env, JsValue, Unknown};
use napi_derive::napi;
use offloop_core::error::{CoreError, CoreResult, ErrorCode};
use offloop_core::json::{self, BadLine, ColumnType, ParseOptions, Pointer};
use offloop_core::runtime::{run_catching, JobCtx};

fn bytes_arg(env: &Env, value: &Unknown, name: &str) -> napi::Result<Borrowed<u8>> {
    const EXPECTED: &str = "a Uint8Array or Buffer";
    let view = typed_view(env, value, name, EXPECTED)?;
    if view.kind != ElementKind::U8 {
        return Err(view.wrong_type(name, EXPECTED));
    }
    Ok(view.borrow())
}

fn options(max_depth: u32) -> ParseOptions {
    ParseOptions { max_depth: max_depth as usize, ..ParseOptions::default() }
}

fn pointers(list: &[String]) -> napi::Result<Vec<Pointer>> {
    list.iter().map(|p| Pointer::parse(p).map_err(to_napi)).collect()
}

fn inline<T>(job: impl FnOnce(&JobCtx) -> CoreResult<T>) -> napi::Result<T> {
    run_catching(|| job(&JobCtx::inline())).map_err(to_napi)
}

#[napi]
pub fn json_parse_submit(env: Env, id: u32, bytes: Unknown, max_depth: u32, cancellable: bool) -> napi::Result<()> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    submit(&env, id, cancellable, move |ctx| {
        json::parse_to_tape(ctx, bytes.as_slice(), options(max_depth)).map(JsOutput::Tape)
    })
}

/// The tape packed into `scratch` (an `ArrayBuffer` the caller reuses; the result is then the
/// tape's length in bytes) when it fits, else into a new `ArrayBuffer`.
#[napi(ts_return_type = "ArrayBuffer | number")]
pub fn json_parse_sync(env: Env, bytes: Unknown, max_depth: u32, scratch: Option<Unknown>) -> napi::Result<Raw> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    let scratch = scratch.map(|s| s.raw());
    let raw = env.raw();
    inline(|ctx| json::with_tape(ctx, bytes.as_slice(), options(max_depth), |t| tape_into_scratch(raw, t, scratch)))?
        .map(Raw)
}

/// Reads `path` a MiB at a time, with a cancellation check between reads, refusing more than the
/// parser takes (4 GiB): `/dev/zero` or a growing log would otherwise be read until memory ran out,
/// deaf to an abort.
fn read_file(ctx: &JobCtx, path: &str) -> CoreResult<Vec<u8>> {
    use std::io::Read;
    const STEP: usize = 1 << 20;
    let io = |e: std::io::Error| CoreError::new(ErrorCode::Io, format!("cannot read {path}: {e}"));
    // Non-blocking, so a FIFO with no writer does not hold the pool thread in `open()`, and a
    // silent writer does not hold it in `read()`: both wait below with a cancellation check.
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000; // Linux's value on x86-64 and arm64
        options.custom_flags(O_NONBLOCK);
    }
    let mut file = options.open(path).map_err(io)?;
    let meta = file.metadata().ok();
    let hint = meta.as_ref().map_or(0, |m| m.len() as usize);
    // A FIFO that no writer has opened yet reads as empty: it is waited for, as a blocking open
    // would, but with the cancellation check.
    #[cfg(unix)]
    let fifo = meta.as_ref().is_some_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
    #[cfg(not(unix))]
    let fifo = false;
    let too_large = || CoreError::new(ErrorCode::Io, format!("cannot read {path}: larger than the 4 GiB a JSON input may have"));
    if hint > json::structural::MAX_INPUT {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(hint.min(json::structural::MAX_INPUT) + 1);
    loop {
        ctx.checkpoint()?;
        if bytes.len() > json::structural::MAX_INPUT {
            return Err(too_large());
        }
        let before = bytes.len();
        let read = match (&mut file).take(STEP as u64).read_to_end(&mut bytes) {
            Ok(read) => read,
            // A pipe with nothing to read yet: wait a little, then check for an abort again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(2));
                continue;
            }
            Err(e) => return Err(io(e)),
        };
        debug_assert_eq!(bytes.len(), before + read);
        if read == 0 && fifo && bytes.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(2));
            continue;
        }
        if read == 0 {
            return Ok(bytes);
        }
    }
}

#[napi]
pub fn json_parse_file_submit(env: Env, id: u32, path: String, max_depth: u32, cancellable: bool) -> napi::Result<()> {
    submit(&env, id, cancellable, move |ctx| {
        let bytes = read_file(ctx, &path)?;
        json::parse_to_tape(ctx, &bytes, options(max_depth)).map(JsOutput::Tape)
    })
}

#[napi]
pub fn json_validate_submit(env: Env, id: u32, bytes: Unknown, max_depth: u32, cancellable: bool) -> napi::Result<()> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    submit(&env, id, cancellable, move |ctx| {
        json::validate(ctx, bytes.as_slice(), options(max_depth)).map(|()| JsOutput::Undefined)
    })
}

#[napi]
pub fn json_validate_sync(env: Env, bytes: Unknown, max_depth: u32) -> napi::Result<()> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    inline(|ctx| json::validate(ctx, bytes.as_slice(), options(max_depth)))
}

#[napi]
pub fn json_select_submit(
    env: Env,
    id: u32,
    bytes: Unknown,
    selectors: Vec<String>,
    max_depth: u32,
    cancellable: bool,
) -> napi::Result<()> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    let pointers = pointers(&selectors)?;
    submit(&env, id, cancellable, move |ctx| {
        json::select(ctx, bytes.as_slice(), &pointers, options(max_depth)).map(JsOutput::Tape)
    })
}

#[napi(ts_return_type = "object")]
pub fn json_select_sync(env: Env, bytes: Unknown, selectors: Vec<String>, max_depth: u32) -> napi::Result<JsOutput> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    let pointers = pointers(&selectors)?;
    inline(|ctx| json::select(ctx, bytes.as_slice(), &pointers, options(max_depth))).map(JsOutput::Tape)
}

/// Reads a JS array of byte arrays.
fn byte_list(env: &Env, list: &Unknown) -> napi::Result<Vec<Borrowed<u8>>> {
    let (raw_env, raw) = (env.raw(), list.raw());
    let mut is_array = false;
    // SAFETY: live handles of this call; out-pointers are locals.
    unsafe { sys::napi_is_array(raw_env, raw, &mut is_array) };
    if !is_array {
        return Err(invalid_arg("inputs must be an array"));
    }
    let mut len = 0;
    unsafe { sys::napi_get_array_length(raw_env, raw, &mut len) };
    (0..len)
        .map(|i| {
            let mut item = std::ptr::null_mut();
            // SAFETY: i < len of this array.
            unsafe { sys::napi_get_element(raw_env, raw, i, &mut item) };
            // SAFETY: item is a live handle in this call's scope.
            let item = unsafe { <Unknown as napi::bindgen_prelude::FromNapiValue>::from_napi_value(raw_env, item)? };
            bytes_arg(env, &item, &format!("inputs[{i}]"))
        })
        .collect()
}

#[napi]
pub fn json_parse_many_submit(env: Env, id: u32, inputs: Unknown, max_depth: u32, cancellable: bool) -> napi::Result<()> {
    let inputs = byte_list(&env, &inputs)?;
    submit(&env, id, cancellable, move |ctx| {
        let slices: Vec<&[u8]> = inputs.iter().map(|b| b.as_slice()).collect();
        json::parse_many(ctx, &slices, options(max_depth)).map(JsOutput::TapeList)
    })
}

/// The `onError` mode the JS side passes: 0 throw, 1 skip, 2 collect.
fn bad_line(on_error: u32) -> napi::Result<BadLine> {
    match on_error {
        0 => Ok(BadLine::Fail),
        1 => Ok(BadLine::Skip),
        2 => Ok(BadLine::Collect),
        _ => Err(invalid_arg("onError must be 'throw', 'skip' or 'collect'")),
    }
}

#[napi]
pub fn ndjson_parse_submit(
    env: Env,
    id: u32,
    bytes: Unknown,
    on_error: u32,
    max_depth: u32,
    continued: bool,
    cancellable: bool,
) -> napi::Result<()> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    let bad = bad_line(on_error)?;
    // `continued`: a later batch of a stream, which does not start the text (no BOM to skip).
    let opts = ParseOptions { at_start: !continued, ..options(max_depth) };
    submit(&env, id, cancellable, move |ctx| json::parse_batch(ctx, bytes.as_slice(), opts, bad).map(JsOutput::Batch))
}

fn column_type(name: &str) -> napi::Result<ColumnType> {
    Ok(match name {
        "f64" => ColumnType::F64,
        "f32" => ColumnType::F32,
        "i32" => ColumnType::I32,
        "bool" => ColumnType::Bool,
        "string" => ColumnType::Str,
        _ => return Err(invalid_arg(format!("unknown column type {name:?}"))),
    })
}

#[napi]
#[allow(clippy::too_many_arguments)]
pub fn ndjson_columns_submit(
    env: Env,
    id: u32,
    bytes: Unknown,
    paths: Vec<String>,
    types: Vec<String>,
    on_error: u32,
    max_depth: u32,
    cancellable: bool,
) -> napi::Result<()> {
    let bytes = bytes_arg(&env, &bytes, "input")?;
    if paths.len() != types.len() {
        return Err(invalid_arg("columns: one type per path"));
    }
    let fields = pointers(&paths)?
        .into_iter()
        .zip(types.iter().map(|t| column_type(t)).collect::<napi::Result<Vec<_>>>()?)
        .collect::<Vec<_>>();
    let bad = bad_line(on_error)?;
    submit(&env, id, cancellable, move |ctx| {
        json::columns_with(ctx, bytes.as_slice(), &fields, options(max_depth), bad)
            .map(|(columns, errors)| JsOutput::Columns(columns, errors))
    })
}
