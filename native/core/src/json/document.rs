//! One JSON document through the pipeline, and `parse_to_tape`.

use super::error::{Failure, JResult};
use super::structural::{self, Stream, StringError, StructuralIndex};
use super::tape::{Tape, TapeBuilder};
use super::utf8;
use super::walker::{Entries, Frame, Sink, Walker};
use super::ParseOptions;
use crate::error::CoreResult;
use crate::runtime::JobCtx;
use std::cell::{Cell, RefCell};

/// Buffers reused from one document to the next (NDJSON parses thousands of small ones).
#[derive(Default)]
pub(crate) struct Scratch {
    pub index: StructuralIndex,
    pub stack: Vec<Frame>,
}

/// Drops a leading BOM, validates the UTF-8 of the rest and builds its structural index.
/// Returns the text after the BOM and the BOM's length; later errors are in text offsets and must
/// be shifted by that length.
pub(crate) fn prepare<'a>(ctx: &JobCtx, input: &'a [u8], scratch: &mut Scratch) -> JResult<(&'a [u8], usize)> {
    let bom = utf8::bom_len(input);
    let text = &input[bom..];
    // The BOM is valid UTF-8, so checking the text after it decides for the whole input.
    utf8::index_valid_utf8(ctx, text, &mut scratch.index).map_err(|e| e.shifted(bom))?;
    Ok((text, bom))
}

/// Walks the whole indexed `text` as one JSON value into `sink`. Errors are in `text` offsets.
pub(crate) fn walk_document<S: Sink>(
    ctx: &JobCtx,
    text: &[u8],
    scratch: &mut Scratch,
    opts: ParseOptions,
    sink: &mut S,
) -> JResult<()> {
    let index = &scratch.index;
    let walker = Walker::new(text, index, opts.max_depth);
    let result = walker.value(ctx, 0, &mut scratch.stack, sink).and_then(|k| match index.positions.get(k) {
        None => Ok(()),
        Some(&p) => Err(Failure::unexpected(text, p as usize, "end of input after the JSON value")),
    });
    first_error(result, index.first_string_error)
}

/// Reports the bad string content stage 1 found if nothing earlier failed, so the error is the
/// first one in input order.
fn first_error(result: JResult<()>, string_error: Option<StringError>) -> JResult<()> {
    let Some(s) = string_error else { return result };
    let at = s.offset as usize;
    match &result {
        Err(Failure::Other(_)) => result,
        Err(e) if e.offset().is_some_and(|o| o < at) => result,
        _ => Err(Failure::syntax(at, s.message)),
    }
}

/// Parses one JSON document into a tape whose single root is the document's value.
pub fn parse_to_tape(ctx: &JobCtx, input: &[u8], opts: ParseOptions) -> CoreResult<Tape> {
    let mut scratch = Scratch::default();
    let mut builder = TapeBuilder::default();
    parse_into(ctx, input, opts, &mut scratch, &mut builder).map_err(|e| e.into_core(input))?;
    Ok(builder.tape)
}

/// Inputs up to this size parsed by [`with_tape`] keep the calling thread's buffers for the next
/// call; a larger one frees them after, so a one-off big parse does not pin its memory.
const REUSE_MAX_INPUT: usize = 1 << 20;

thread_local! {
    /// The buffers of [`with_tape`], reused from one call to the next on the same thread.
    static REUSED: RefCell<(Scratch, TapeBuilder)> = RefCell::new(Default::default());
}

/// Parses `input` as [`parse_to_tape`] does and hands the tape to `f`, in buffers the thread keeps
/// for its next call: for callers that copy the tape out at once. A 48-byte document spent more
/// time allocating and freeing its dozen vectors than parsing.
pub fn with_tape<R>(ctx: &JobCtx, input: &[u8], opts: ParseOptions, f: impl FnOnce(&Tape) -> R) -> CoreResult<R> {
    REUSED.with(|cell| {
        // Re-entered (only if `f` parsed again): fresh buffers.
        let Ok(mut reused) = cell.try_borrow_mut() else {
            return parse_to_tape(ctx, input, opts).map(|t| f(&t));
        };
        let (scratch, builder) = &mut *reused;
        builder.reset();
        let result = parse_into(ctx, input, opts, scratch, builder).map_err(|e| e.into_core(input)).map(|()| f(&builder.tape));
        if input.len() > REUSE_MAX_INPUT || result.is_err() {
            *scratch = Scratch::default();
            *builder = TapeBuilder::default();
        }
        result
    })
}

/// Appends the value of the document `input` to `builder`. Errors are in `input` offsets.
pub(crate) fn parse_into(
    ctx: &JobCtx,
    input: &[u8],
    opts: ParseOptions,
    scratch: &mut Scratch,
    builder: &mut TapeBuilder,
) -> JResult<()> {
    let bom = utf8::bom_len(input);
    let text = &input[bom..];
    // About one structural entry per 6 bytes on the corpus; only a first guess.
    builder.reserve_for(text.len() / 6 + 16, text.len());
    walk_text(ctx, text, scratch, opts, builder).map_err(|e| e.shifted(bom))
}

/// Inputs from this size on are indexed a window at a time ([`walk_streaming`]); smaller ones get
/// the whole index first ([`prepare`], [`walk_document`]), whose walk reads a plain slice.
/// Measured by thread CPU time, best of 30, interleaved runs: the windowed walk was about 15 %
/// slower on twitter.json (631 KB) and citm_catalog.json (1.7 MB), whose whole index stays in
/// L2 anyway, and up to 45 % faster on the generated 64 MB document (no 67 MB index to fault in
/// and write out).
pub(crate) const WINDOWED_FROM: usize = 8 << 20;

thread_local! {
    /// Set by the oracle and tests to send every input, whatever its size, through the windowed
    /// walk.
    static ALWAYS_WINDOWED: Cell<bool> = const { Cell::new(false) };
}

/// Whether an input of `len` bytes is walked a window at a time.
pub(crate) fn windowed(len: usize) -> bool {
    len >= WINDOWED_FROM || ALWAYS_WINDOWED.with(Cell::get)
}

/// Runs `f` with every input on this thread walked a window at a time.
pub(crate) fn always_windowed<T>(f: impl FnOnce() -> T) -> T {
    let before = ALWAYS_WINDOWED.with(|w| w.replace(true));
    let out = f();
    ALWAYS_WINDOWED.with(|w| w.set(before));
    out
}

/// Walks `text` (no BOM) as one JSON value into `sink`, by whichever of the two walks suits its
/// size; both fail the same way. Errors are in `text` offsets.
pub(crate) fn walk_text<S: Sink>(ctx: &JobCtx, text: &[u8], scratch: &mut Scratch, opts: ParseOptions, sink: &mut S) -> JResult<()> {
    if windowed(text.len()) {
        return walk_streaming(ctx, text, &mut scratch.stack, opts, sink);
    }
    utf8::index_valid_utf8(ctx, text, &mut scratch.index)?;
    walk_document(ctx, text, scratch, opts, sink)
}

/// Input indexed per window: 256 blocks of 64 bytes, whose positions (16 KiB for one entry per 4
/// bytes) stay in L1 between stage 1 writing them and the walk reading them.
const WINDOW_BLOCKS: usize = 256;
/// Entries kept before the one asked for when a window is dropped (the walk looks back at most
/// two; a few more cost nothing).
const LOOKBACK: usize = 16;

/// Walks `text` (no BOM) as one JSON value into `sink`, indexing it a window at a time as the walk
/// needs entries, so no index of the whole document is built. Fails exactly as [`prepare`] then
/// [`walk_document`] do: invalid UTF-8 anywhere first, then the first error in input order.
/// Errors are in `text` offsets.
pub(crate) fn walk_streaming<S: Sink>(
    ctx: &JobCtx,
    text: &[u8],
    stack: &mut Vec<Frame>,
    opts: ParseOptions,
    sink: &mut S,
) -> JResult<()> {
    if text.len() > structural::MAX_INPUT {
        // Too large to index: report invalid UTF-8 first, as for any other input.
        utf8::validate_utf8(ctx, text)?;
    }
    let windows = Windowed::new(ctx, Stream::new(crate::simd::level(), text, true)?);
    let walker = Walker::new(text, &windows, opts.max_depth);
    let result = walker.value(ctx, 0, stack, sink).and_then(|k| match windows.pos(k) {
        None => Ok(()),
        Some(p) => Err(Failure::unexpected(text, p as usize, "end of input after the JSON value")),
    });
    let state = windows.state.into_inner();
    if let Some(e) = state.error {
        return Err(e);
    }
    // A walk that ended early (an error) left blocks unindexed: their UTF-8 is checked here.
    if !(result.is_ok() && state.stream.utf8_valid()) {
        utf8::validate_utf8(ctx, text)?;
    }
    first_error(result, state.stream.first_string_error())
}

/// Structural entries made by stage 1 a window at a time, when the walk first asks for one past
/// the current window; the windows before are dropped.
pub(crate) struct Windowed<'a, 'c> {
    ctx: &'c JobCtx<'c>,
    state: RefCell<WindowState<'a>>,
    /// The current window, mirrored for the walk's fast path: entry `base + i` is `ptr[i]` for
    /// `i < len`. Set from `state` after every change to it.
    base: Cell<usize>,
    ptr: Cell<*const u32>,
    len: Cell<usize>,
    /// `state.stream.escape_blocks`, mirrored the same way.
    escapes: Cell<*const u64>,
    escape_words: Cell<usize>,
}

struct WindowState<'a> {
    stream: Stream<'a>,
    positions: Vec<u32>,
    base: usize,
    /// A cancel seen while indexing: the walk then sees the end of the entries, and the caller
    /// reports this instead.
    error: Option<Failure>,
}

impl<'a, 'c> Windowed<'a, 'c> {
    pub(crate) fn new(ctx: &'c JobCtx<'c>, stream: Stream<'a>) -> Self {
        let w = Windowed {
            ctx,
            state: RefCell::new(WindowState { stream, positions: Vec::new(), base: 0, error: None }),
            base: Cell::new(0),
            ptr: Cell::new(std::ptr::null()),
            len: Cell::new(0),
            escapes: Cell::new(std::ptr::null()),
            escape_words: Cell::new(0),
        };
        w.mirror(&w.state.borrow());
        w
    }

    fn mirror(&self, st: &WindowState) {
        self.base.set(st.base);
        self.ptr.set(st.positions.as_ptr());
        self.len.set(st.positions.len());
        self.escapes.set(st.stream.scan.escape_blocks.as_ptr());
        self.escape_words.set(st.stream.scan.escape_blocks.len());
    }

    /// Indexes windows until entry `k` exists or the input ends.
    #[cold]
    #[inline(never)]
    fn refill(&self, k: usize) -> Option<u32> {
        let mut st = self.state.borrow_mut();
        let st = &mut *st;
        debug_assert!(k >= st.base, "the walk looked back past the kept entries");
        let keep = k.saturating_sub(LOOKBACK).max(st.base);
        st.positions.drain(..keep - st.base);
        st.base = keep;
        while k - st.base >= st.positions.len() && !st.stream.finished() && st.error.is_none() {
            if let Err(e) = st.stream.fill(self.ctx, &mut st.positions, WINDOW_BLOCKS) {
                st.error = Some(e);
            }
        }
        self.mirror(st);
        st.positions.get(k.checked_sub(st.base)?).copied()
    }
}

impl Entries for Windowed<'_, '_> {
    #[inline(always)]
    fn pos(&self, k: usize) -> Option<u32> {
        let i = k.wrapping_sub(self.base.get());
        if i < self.len.get() {
            // SAFETY: `ptr` and `len` mirror `state.positions` and are set again after every
            // change to it (only `refill` changes it, and nothing holds a reference into it across
            // that call), so `ptr[i]` for `i < len` is an initialized entry of the live buffer.
            return Some(unsafe { *self.ptr.get().add(i) });
        }
        self.refill(k)
    }

    #[inline(always)]
    fn may_have_escape(&self, start: usize, end: usize) -> bool {
        let (first, last) = (start / 64, end.saturating_sub(1).max(start) / 64);
        let escapes = self.escapes.get();
        (first..=last).any(|b| {
            let word = b / 64;
            // SAFETY: `escapes` and `escape_words` mirror the stream's bitmap and are set again
            // after every change to it (only `refill` changes it); the walk asks about strings
            // already indexed.
            word < self.escape_words.get() && unsafe { *escapes.add(word) } & (1u64 << (b % 64)) != 0
        })
    }
}
