//! Errors cross into JS as `Error`s whose message starts with the offloop code ("ERR_X: ...");
//! lib/native.ts turns them into `OffloopError`s.

use offloop_core::error::{CoreError, ErrorCode};

pub fn to_napi(e: CoreError) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{}: {}", e.code.as_str(), e.message))
}

pub fn invalid_arg(message: impl Into<String>) -> napi::Error {
    to_napi(CoreError::new(ErrorCode::InvalidArg, message))
}
