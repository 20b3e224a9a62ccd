//! `select`: the values at a set of pointers, without building the rest of the document.
//!
//! The document is fully checked first (so `select` fails exactly when `parse_to_tape` does) with a
//! walk that records where each container ends. Each pointer then hops over the structural index:
//! an unselected subtree costs one lookup, whatever its size. Only selected values are walked into
//! the tape.

use super::document::{prepare, walk_document, Scratch};
use super::error::JResult;
use super::pointer::{Pointer, Step};
use super::string;
use super::structural;
use super::tape::{Tag, Tape, TapeBuilder};
use super::walker::{Frame, JumpSink, Walker};
use super::ParseOptions;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

/// A tape with one root per selector, in selector order. A pointer that matches nothing gives
/// `Tag::Missing`; a `*` step gives an array with one entry per element (`Missing` where the rest
/// of the pointer matches nothing in that element).
pub fn select(ctx: &JobCtx, input: &[u8], selectors: &[Pointer], opts: ParseOptions) -> CoreResult<Tape> {
    let mut scratch = Scratch::default();
    let mut builder = TapeBuilder::default();
    let run = |scratch: &mut Scratch, builder: &mut TapeBuilder| -> JResult<()> {
        let (text, bom) = prepare(ctx, input, scratch)?;
        index_jumps(ctx, text, scratch, opts).map_err(|e| e.shifted(bom))?;
        let nav = Navigator::new(text, scratch, opts);
        let mut stack = Vec::new();
        for pointer in selectors {
            nav.select_into(ctx, 0, &pointer.steps, builder, &mut stack).map_err(|e| e.shifted(bom))?;
        }
        Ok(())
    };
    run(&mut scratch, &mut builder).map_err(|e| e.into_core(input))?;
    Ok(builder.tape)
}

/// Checks the indexed document and fills `scratch.jumps`. Errors are in `text` offsets.
pub(crate) fn index_jumps(ctx: &JobCtx, text: &[u8], scratch: &mut Scratch, opts: ParseOptions) -> JResult<()> {
    let mut jumps = std::mem::take(&mut scratch.jumps);
    let entries = scratch.index.positions.len();
    if jumps.capacity() < entries {
        // A fresh zeroed allocation: large ones come zeroed from the system, with no memset.
        jumps = vec![0; entries];
        structural::advise_huge_pages(&jumps);
    } else {
        jumps.clear();
        jumps.resize(entries, 0);
    }
    let result = walk_document(ctx, text, scratch, opts, &mut JumpSink { jumps: &mut jumps });
    scratch.jumps = jumps;
    result
}

/// Moves through a checked document by structural entry.
pub(crate) struct Navigator<'a> {
    walker: Walker<'a>,
    jumps: &'a [u32],
}

impl<'a> Navigator<'a> {
    pub(crate) fn new(text: &'a [u8], scratch: &'a Scratch, opts: ParseOptions) -> Self {
        Navigator {
            walker: Walker::new(text, &scratch.index, opts.max_depth),
            jumps: &scratch.jumps,
        }
    }

    fn byte(&self, k: usize) -> u8 {
        let w = &self.walker;
        w.positions.get(k).and_then(|&p| w.input.get(p as usize)).copied().unwrap_or(0)
    }

    fn offset(&self, k: usize) -> usize {
        self.walker.positions.get(k).map_or(self.walker.input.len(), |&p| p as usize)
    }

    /// The raw content and content offset of the string at entry `k`.
    fn string_at(&self, k: usize) -> (&'a [u8], usize) {
        let start = self.offset(k) + 1;
        (self.walker.input.get(start..self.offset(k + 1)).unwrap_or_default(), start)
    }

    /// The entry after the value starting at entry `k`.
    fn skip(&self, k: usize) -> usize {
        match self.byte(k) {
            b'{' | b'[' => self.jumps.get(k).map_or(k + 1, |&j| j as usize),
            b'"' => k + 2,
            _ => k + 1,
        }
    }

    /// The value entry of the last member named `key` of the object at entry `k` (the last, as
    /// `JSON.parse` keeps the last of duplicate keys).
    fn member(&self, k: usize, key: &[u8], scratch: &mut Vec<u8>) -> JResult<Option<usize>> {
        let mut found = None;
        self.members(k, scratch, |name, value| {
            if name == key {
                found = Some(value);
            }
        })?;
        Ok(found)
    }

    /// Calls `f` with the (unescaped) key and the value entry of each member of the object at
    /// entry `k`, in order.
    fn members(&self, k: usize, scratch: &mut Vec<u8>, mut f: impl FnMut(&[u8], usize)) -> JResult<()> {
        let mut e = k + 1;
        if self.byte(e) == b'}' {
            return Ok(());
        }
        loop {
            let (raw, raw_start) = self.string_at(e);
            if !self.walker.index.may_have_escape(raw_start, raw_start + raw.len()) {
                f(raw, e + 3);
            } else {
                scratch.clear();
                string::unescape_into(raw, raw_start, scratch)?;
                f(scratch, e + 3);
            }
            let after = self.skip(e + 3);
            if self.byte(after) != b',' {
                return Ok(());
            }
            e = after + 1;
        }
    }

    /// The element entries of the array at entry `k`, in order.
    fn elements(&self, k: usize) -> impl Iterator<Item = usize> + '_ {
        let mut next = if self.byte(k + 1) == b']' { None } else { Some(k + 1) };
        std::iter::from_fn(move || {
            let e = next?;
            let after = self.skip(e);
            next = (self.byte(after) == b',').then_some(after + 1);
            Some(e)
        })
    }

    /// The value at `steps` below entry `k`, or `None`. `*` steps are not followed here.
    fn find(&self, mut k: usize, steps: &[Step], scratch: &mut Vec<u8>) -> JResult<Option<usize>> {
        for step in steps {
            let next = match self.byte(k) {
                b'{' => self.member(k, step.key.as_bytes(), scratch)?,
                b'[' => step.index.and_then(|i| self.elements(k).nth(i)),
                _ => None,
            };
            match next {
                Some(n) => k = n,
                None => return Ok(None),
            }
        }
        Ok(Some(k))
    }

    /// Appends the selection of `steps` below entry `k` to `builder` as one value.
    fn select_into(
        &self,
        ctx: &JobCtx,
        k: usize,
        steps: &[Step],
        builder: &mut TapeBuilder,
        stack: &mut Vec<Frame>,
    ) -> JResult<()> {
        let mut scratch = Vec::new();
        let plain = steps.iter().position(|s| s.wildcard).unwrap_or(steps.len());
        let (before, from_wildcard) = steps.split_at(plain);
        let Some(k) = self.find(k, before, &mut scratch)? else {
            builder.push_tag(Tag::Missing);
            return Ok(());
        };
        let Some((wildcard, rest)) = from_wildcard.split_first() else {
            self.walker.value(ctx, k, stack, builder)?;
            return Ok(());
        };
        match self.byte(k) {
            b'[' => {
                let slot = builder.open_container(false);
                let mut count = 0;
                for e in self.elements(k) {
                    self.select_into(ctx, e, rest, builder, stack)?;
                    count += 1;
                }
                builder.set_count(slot, count);
            }
            b'{' => match self.member(k, wildcard.key.as_bytes(), &mut scratch)? {
                Some(v) => self.select_into(ctx, v, rest, builder, stack)?,
                None => builder.push_tag(Tag::Missing),
            },
            _ => builder.push_tag(Tag::Missing),
        }
        Ok(())
    }
}
