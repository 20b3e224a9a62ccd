//! Errors thrown by the binding cross into JS as `Error`s whose message starts with the offloop code
//! and, for parse errors, the position: "ERR_X: ..." or "ERR_X@offset:line:column: ...".
//! lib/runtime.ts turns them back into `OffloopError`s.

use offloop_core::error::{CoreError, ErrorCode};

pub fn to_napi(e: CoreError) -> napi::Error {
    let head = match &e.position {
        Some(p) => format!("{}@{}:{}:{}", e.code.as_str(), p.offset, p.line, p.column),
        None => e.code.as_str().to_string(),
    };
    napi::Error::new(napi::Status::GenericFailure, format!("{head}: {}", e.message))
}

pub fn invalid_arg(message: impl Into<String>) -> napi::Error {
    to_napi(CoreError::new(ErrorCode::InvalidArg, message))
}
