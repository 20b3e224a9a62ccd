//! Stage 2: walk the structural index once, check the grammar with an explicit stack (so depth is
//! bounded by `max_depth`, never by the thread's stack), and report each value to a [`Sink`].
//!
//! The same walker serves every entry point; the sinks decide what is kept: nothing (validate),
//! the full tape (parse), or what the selectors or columns pick (select, columns). Monomorphized
//! per sink, so the no-op callbacks cost nothing.

use super::error::{Failure, JResult};
use super::number;
use super::structural::StructuralIndex;
use super::tape::Tag;
use crate::runtime::JobCtx;

/// Structural entries between cancellation checks.
const ENTRIES_PER_CHECKPOINT: usize = 1 << 16;

/// What a walk produces. Offsets are into the walked input.
pub(crate) trait Sink {
    /// Whether the sink reads strings, keys, numbers and element counts: a sink that only checks
    /// ([`CheckSink`]) sets this false, and the walk then neither slices the strings and numbers
    /// nor counts members. Validate, by cachegrind: twitter.json 9 % fewer instructions,
    /// citm_catalog.json 5 %, canada.json 4 %, mesh.json 4 %, an 8 MB generated document 11 %.
    const KEEPS: bool = true;
    /// A value starts at structural entry `k`, input offset `at`, with byte `byte`; the value's
    /// own callbacks (`descend`/`open`, `string`, `number`, `literal`) follow.
    #[inline(always)]
    fn value_start(&mut self, _k: usize, _at: usize, _byte: u8) {}
    /// Whether the container starting at entry `k` (after its `value_start`) is walked into this
    /// sink. When not, the walker only checks it, with a walk of its own that keeps nothing, and
    /// this sink hears nothing of it (no `open`, members or `close`).
    #[inline(always)]
    fn descend(&mut self, _object: bool, _k: usize) -> bool {
        true
    }
    /// A container opens at structural entry `k`; the returned slot comes back at its close.
    fn open(&mut self, object: bool, k: usize) -> u32;
    /// The container opened with `slot` closes with `count` members or elements; `next` is the
    /// entry after its closing bracket.
    fn close(&mut self, object: bool, slot: u32, count: u32, next: usize);
    fn key(&mut self, s: RawString) -> JResult<()>;
    fn string(&mut self, s: RawString) -> JResult<()>;
    fn number(&mut self, token: &[u8]);
    fn literal(&mut self, tag: Tag);
}

/// A string's bytes between the quotes, still escaped.
#[derive(Clone, Copy)]
pub(crate) struct RawString<'a> {
    pub raw: &'a [u8],
    /// Input offset of `raw[0]`.
    pub offset: usize,
    /// False when stage 1 saw no escape anywhere near: `raw` is the string's text as it is.
    pub escaped: bool,
}

impl<'a> RawString<'a> {
    /// The string's text: `raw` itself when it has no escapes, else unescaped into `scratch`.
    #[inline(always)]
    pub(crate) fn text<'s>(&self, scratch: &'s mut Vec<u8>) -> JResult<&'s [u8]>
    where
        'a: 's,
    {
        if !self.escaped {
            return Ok(self.raw);
        }
        scratch.clear();
        super::string::unescape_into(self.raw, self.offset, scratch)?;
        Ok(scratch)
    }
}

/// How [`Walker::number_run`] ended.
enum RunEnd {
    Value,
    After,
    Closed,
}

#[derive(Clone, Copy)]
pub(crate) struct Frame {
    object: bool,
    count: u32,
    slot: u32,
}

/// Bytes that may end a number or literal: whitespace, operators, a quote (or the end of input).
const DELIMITER: [bool; 256] = {
    let mut t = [false; 256];
    let bytes = b" \t\n\r,:[]{}\"";
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// Where the walker reads the structural entries from.
pub(crate) trait Entries {
    /// The input offset of entry `k`, or `None` past the last one.
    fn pos(&self, k: usize) -> Option<u32>;
    /// Whether the bytes `start..end` (a string's content the walk has reached) may hold an escape.
    fn may_have_escape(&self, start: usize, end: usize) -> bool;
}

/// The whole document's index, built before the walk.
impl Entries for StructuralIndex {
    #[inline(always)]
    fn pos(&self, k: usize) -> Option<u32> {
        self.positions.get(k).copied()
    }

    #[inline(always)]
    fn may_have_escape(&self, start: usize, end: usize) -> bool {
        StructuralIndex::may_have_escape(self, start, end)
    }
}

pub(crate) struct Walker<'a, E: Entries = StructuralIndex> {
    pub input: &'a [u8],
    pub index: &'a E,
    pub max_depth: usize,
}

impl<'a, E: Entries> Walker<'a, E> {
    pub(crate) fn new(input: &'a [u8], index: &'a E, max_depth: usize) -> Self {
        Walker { input, index, max_depth }
    }

    #[inline(always)]
    fn entry(&self, k: usize) -> Option<(usize, u8)> {
        let p = self.index.pos(k)? as usize;
        Some((p, self.input.get(p).copied().unwrap_or(0)))
    }

    /// The error for a missing or wrong entry `k`.
    #[cold]
    fn unexpected(&self, k: usize, expected: &str) -> Failure {
        let offset = self.index.pos(k).map_or(self.input.len(), |p| p as usize);
        Failure::unexpected(self.input, offset, expected)
    }

    /// The string whose opening quote is entry `k`: its raw content, content offset, and whether
    /// it may hold escapes. The next entry is its closing quote whenever the string is closed
    /// (stage 1 masks everything inside).
    #[inline(always)]
    fn string_at(&self, k: usize) -> JResult<RawString<'a>> {
        let open = self.index.pos(k).unwrap_or(0) as usize;
        match self.index.pos(k + 1) {
            Some(close) => Ok(RawString {
                raw: &self.input[open + 1..close as usize],
                offset: open + 1,
                escaped: self.index.may_have_escape(open + 1, close as usize),
            }),
            None => Err(Failure::syntax(open, "Unterminated string")),
        }
    }

    /// [`Walker::string_at`]'s check alone: the string opened at entry `k` is closed.
    #[inline(always)]
    fn string_closed(&self, k: usize) -> JResult<()> {
        match self.index.pos(k + 1) {
            Some(_) => Ok(()),
            None => Err(Failure::syntax(self.index.pos(k).unwrap_or(0) as usize, "Unterminated string")),
        }
    }

    /// Walks the value starting at entry `k` and returns the entry after it.
    pub(crate) fn value<S: Sink>(&self, ctx: &JobCtx, k: usize, stack: &mut Vec<Frame>, sink: &mut S) -> JResult<usize> {
        stack.clear();
        self.walk::<S, false>(ctx, k, stack, sink)
    }

    /// `value` on top of the frames already on `stack` (the containers this value is nested in,
    /// which count for the depth limit and are left as they are). A subtree the sink declines is
    /// checked by a walk of its own on the same stack, above these frames, so no walk allocates
    /// a stack of its own (one allocation per record for NDJSON columns, before session 13).
    /// `NESTED`: whether `stack` may hold frames already (a check walk inside another walk, which
    /// always starts at a container); the outermost walk starts on an empty stack, so its end is
    /// the stack's, one test less after every value (validate of 64 MB: 3.4 % fewer instructions
    /// than testing in every walk, by cachegrind). A check walk tests for its end only after a
    /// container closes (select of twitter.json: 2.8 % fewer instructions than after every value).
    fn walk<S: Sink, const NESTED: bool>(&self, ctx: &JobCtx, mut k: usize, stack: &mut Vec<Frame>, sink: &mut S) -> JResult<usize> {
        let base = stack.len();
        let input = self.input;
        let mut next_check = k + ENTRIES_PER_CHECKPOINT;
        'value: loop {
            if k >= next_check {
                ctx.checkpoint()?;
                next_check = k + ENTRIES_PER_CHECKPOINT;
            }
            let Some((p, c)) = self.entry(k) else {
                return Err(self.unexpected(k, "a JSON value"));
            };
            sink.value_start(k, p, c);
            match c {
                b'{' | b'[' => {
                    let object = c == b'{';
                    if stack.len() >= self.max_depth {
                        return Err(Failure::depth(p, self.max_depth));
                    }
                    if !sink.descend(object, k) {
                        // A container: the check walk ends where it closes (see 'after).
                        k = self.walk::<CheckSink, true>(ctx, k, stack, &mut CheckSink)?;
                    } else {
                        let slot = sink.open(object, k);
                        let close = if object { b'}' } else { b']' };
                        match self.entry(k + 1) {
                            Some((_, b)) if b == close => {
                                k += 2;
                                sink.close(object, slot, 0, k);
                                if NESTED && stack.len() == base {
                                    return Ok(k);
                                }
                            }
                            _ => {
                                k += 1;
                                if object {
                                    k = self.member_key(k, sink)?;
                                }
                                stack.push(Frame { object, count: 0, slot });
                                // An array that starts with numbers runs them at once; it then
                                // goes on to the check after a value (the last number, or the
                                // array if they filled it), else to its first other value.
                                let mut after_number = false;
                                if !object {
                                    let top = stack.last_mut().expect("just pushed");
                                    match self.number_run(ctx, &mut k, &mut next_check, top, sink)? {
                                        RunEnd::Value => {}
                                        RunEnd::After => {
                                            after_number = true;
                                        }
                                        RunEnd::Closed => {
                                            let frame = *top;
                                            stack.pop();
                                            sink.close(false, frame.slot, frame.count, k);
                                            if NESTED && stack.len() == base {
                                                return Ok(k);
                                            }
                                            after_number = true;
                                        }
                                    }
                                }
                                if !after_number {
                                    continue 'value;
                                }
                            }
                        }
                    }
                }
                b'"' => {
                    if S::KEEPS {
                        sink.string(self.string_at(k)?)?;
                    } else {
                        self.string_closed(k)?;
                    }
                    k += 2;
                }
                b't' => k = self.literal(k, p, b"true", Tag::True, sink)?,
                b'f' => k = self.literal(k, p, b"false", Tag::False, sink)?,
                b'n' => k = self.literal(k, p, b"null", Tag::Null, sink)?,
                b'-' | b'0'..=b'9' => {
                    let end = number::scan(input, p)?;
                    if input.get(end).is_some_and(|&b| !DELIMITER[b as usize]) {
                        return Err(Failure::unexpected(input, end, "a delimiter after the number"));
                    }
                    if S::KEEPS {
                        sink.number(&input[p..end]);
                    }
                    k += 1;
                }
                _ => return Err(self.unexpected(k, "a JSON value")),
            }
            // After a value: a comma continues the innermost container, a bracket closes it.
            // A check walk (`NESTED`) starts at a container, so it ends where that container
            // closes: the test is made after each close, not after every value.
            'after: loop {
                let Some(top) = stack.last_mut() else { return Ok(k) };
                if S::KEEPS {
                    top.count += 1;
                }
                let expected = |object: bool| if object { "',' or '}'" } else { "',' or ']'" };
                let Some((_, c)) = self.entry(k) else { return Err(self.unexpected(k, expected(top.object))) };
                match (top.object, c) {
                    (false, b',') => {
                        k += 1;
                        match self.number_run(ctx, &mut k, &mut next_check, top, sink)? {
                            RunEnd::Value => continue 'value,
                            RunEnd::After => continue 'after,
                            RunEnd::Closed => {
                                let frame = *top;
                                stack.pop();
                                sink.close(false, frame.slot, frame.count, k);
                                if NESTED && stack.len() == base {
                                    return Ok(k);
                                }
                                continue 'after;
                            }
                        }
                    }
                    (true, b',') => {
                        k = self.member_key(k + 1, sink)?;
                        continue 'value;
                    }
                    (false, b']') | (true, b'}') => {
                        let frame = *top;
                        stack.pop();
                        k += 1;
                        sink.close(frame.object, frame.slot, frame.count, k);
                        if NESTED && stack.len() == base {
                            return Ok(k);
                        }
                    }
                    _ => return Err(self.unexpected(k, expected(top.object))),
                }
            }
        }
    }

    /// A run of numbers in the innermost array (`top`), from entry `k` (a value position): each is
    /// checked and reported as the general path does (`value_start`, then `number`), and the
    /// commas between them are taken here, without the general path's dispatch and frame
    /// bookkeeping per element (numeric documents, coordinates and meshes, are mostly this).
    /// Stops at the first entry that is not a number ([`RunEnd::Value`], `k` on it), after a number
    /// followed by something other than a comma or `]` ([`RunEnd::After`], `k` on that entry and the
    /// number not yet counted), or after the `]` that ends the array ([`RunEnd::Closed`], every
    /// element counted, `k` past the bracket; the caller closes the frame). Measured on Zen 4, best
    /// of 150, four interleaved rounds: mesh.json validate 1.19-1.20 -> 1.29 GB/s, canada.json
    /// (arrays of two numbers) 1.61 -> 1.62.
    #[inline(always)]
    fn number_run<S: Sink>(&self, ctx: &JobCtx, k: &mut usize, next_check: &mut usize, top: &mut Frame, sink: &mut S) -> JResult<RunEnd> {
        let input = self.input;
        loop {
            let Some((p, c)) = self.entry(*k) else { return Ok(RunEnd::Value) };
            if !(c == b'-' || c.is_ascii_digit()) {
                return Ok(RunEnd::Value);
            }
            if *k >= *next_check {
                ctx.checkpoint()?;
                *next_check = *k + ENTRIES_PER_CHECKPOINT;
            }
            sink.value_start(*k, p, c);
            let end = number::scan(input, p)?;
            if input.get(end).is_some_and(|&b| !DELIMITER[b as usize]) {
                return Err(Failure::unexpected(input, end, "a delimiter after the number"));
            }
            if S::KEEPS {
                sink.number(&input[p..end]);
            }
            match self.entry(*k + 1) {
                Some((_, b',')) => {
                    if S::KEEPS {
                        top.count += 1;
                    }
                    *k += 2;
                }
                Some((_, b']')) => {
                    if S::KEEPS {
                        top.count += 1;
                    }
                    *k += 2;
                    return Ok(RunEnd::Closed);
                }
                _ => {
                    *k += 1;
                    return Ok(RunEnd::After);
                }
            }
        }
    }

    /// A member's `"key" :` starting at entry `k`; returns the entry of its value.
    #[inline(always)]
    fn member_key<S: Sink>(&self, k: usize, sink: &mut S) -> JResult<usize> {
        match self.entry(k) {
            Some((_, b'"')) => {}
            _ => return Err(self.unexpected(k, "a string key")),
        }
        if S::KEEPS {
            sink.key(self.string_at(k)?)?;
        } else {
            self.string_closed(k)?;
        }
        match self.entry(k + 2) {
            Some((_, b':')) => Ok(k + 3),
            _ => Err(self.unexpected(k + 2, "':'")),
        }
    }

    #[inline(always)]
    fn literal<S: Sink>(&self, k: usize, p: usize, word: &[u8], tag: Tag, sink: &mut S) -> JResult<usize> {
        let input = self.input;
        let end = p + word.len();
        if input.get(p..end) != Some(word) || input.get(end).is_some_and(|&b| !DELIMITER[b as usize]) {
            return Err(Failure::syntax(p, "Invalid literal"));
        }
        sink.literal(tag);
        Ok(k + 1)
    }
}

/// A sink that keeps nothing: the walk only checks the document.
pub(crate) struct CheckSink;

impl Sink for CheckSink {
    const KEEPS: bool = false;

    #[inline(always)]
    fn open(&mut self, _object: bool, _k: usize) -> u32 {
        0
    }
    #[inline(always)]
    fn close(&mut self, _object: bool, _slot: u32, _count: u32, _next: usize) {}
    // Stage 1 already checked what is inside strings.
    #[inline(always)]
    fn key(&mut self, _s: RawString) -> JResult<()> {
        Ok(())
    }
    #[inline(always)]
    fn string(&mut self, _s: RawString) -> JResult<()> {
        Ok(())
    }
    #[inline(always)]
    fn number(&mut self, _token: &[u8]) {}
    #[inline(always)]
    fn literal(&mut self, _tag: Tag) {}
}
