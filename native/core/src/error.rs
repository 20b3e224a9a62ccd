//! The error model shared by every capability. Codes are the public `OffloopError.code` strings.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArg,
    QueueFull,
    NativePanic,
    Aborted,
    JsonSyntax,
    JsonDepth,
    InvalidUtf8,
    Io,
    InputChanged,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArg => "ERR_INVALID_ARG",
            ErrorCode::QueueFull => "ERR_QUEUE_FULL",
            ErrorCode::NativePanic => "ERR_NATIVE_PANIC",
            ErrorCode::Aborted => "ABORT_ERR",
            ErrorCode::JsonSyntax => "ERR_JSON_SYNTAX",
            ErrorCode::JsonDepth => "ERR_JSON_DEPTH",
            ErrorCode::InvalidUtf8 => "ERR_INVALID_UTF8",
            ErrorCode::Io => "ERR_IO",
            ErrorCode::InputChanged => "ERR_INPUT_CHANGED",
        }
    }
}

/// Where in the input a parse error happened. `line` and `column` are 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreError {
    pub code: ErrorCode,
    pub message: String,
    pub position: Option<Position>,
}

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CoreError { code, message: message.into(), position: None }
    }

    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArg, message)
    }

    pub fn aborted() -> Self {
        Self::new(ErrorCode::Aborted, "The operation was aborted")
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for CoreError {}

pub type CoreResult<T> = Result<T, CoreError>;
