//! Selectors: JSON Pointers (RFC 6901) plus `*`, "every element of this array".

use crate::error::{CoreError, CoreResult};

/// A `*` step makes the result an array (one level per `*`); this caps how deeply results nest.
pub const MAX_WILDCARDS: usize = 32;

/// One reference token of a pointer, unescaped (`~1` is `/`, `~0` is `~`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The member name this step selects in an object.
    pub key: String,
    /// The element this step selects in an array: set when the token is an array index as RFC 6901
    /// spells it (`0`, or digits without a leading zero). `-` and other tokens match no element.
    pub index: Option<usize>,
    /// The token is `*`: in an array, every element; in an object, the member named `*`.
    pub wildcard: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    pub steps: Vec<Step>,
}

impl Pointer {
    /// Parses `""` (the whole document) or `/token/token...`.
    pub fn parse(text: &str) -> CoreResult<Pointer> {
        if text.is_empty() {
            return Ok(Pointer { steps: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(CoreError::invalid_arg(format!("JSON Pointer must be empty or start with '/': {text:?}")));
        };
        let steps = rest.split('/').map(|t| parse_token(t, text)).collect::<CoreResult<Vec<Step>>>()?;
        if steps.iter().filter(|s| s.wildcard).count() > MAX_WILDCARDS {
            return Err(CoreError::invalid_arg(format!("JSON Pointer has more than {MAX_WILDCARDS} '*' steps")));
        }
        Ok(Pointer { steps })
    }

    pub fn has_wildcard(&self) -> bool {
        self.steps.iter().any(|s| s.wildcard)
    }
}

fn parse_token(token: &str, pointer: &str) -> CoreResult<Step> {
    let mut key = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            key.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => key.push('~'),
            Some('1') => key.push('/'),
            _ => return Err(CoreError::invalid_arg(format!("JSON Pointer has '~' not followed by 0 or 1: {pointer:?}"))),
        }
    }
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()));
    let index = if canonical { key.parse::<usize>().ok() } else { None };
    Ok(Step { wildcard: token == "*", index, key })
}
