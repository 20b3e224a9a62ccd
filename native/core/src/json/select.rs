//! `select`: the values at a set of pointers, without building the rest of the document.
//!
//! The document is fully checked (so `select` fails exactly when `parse_to_tape` does) by one
//! walk whose sink ([`SelectSink`]) follows the selectors as it goes: their steps form a trie, and
//! for every value the walk reaches along a trie path the sink records a small *instance* (the
//! value's structural entry, and the instances of its matched members or elements). Subtrees off
//! every path are only checked. Afterwards each selector is read off the instances (a duplicate
//! member replaced the earlier instance, as `JSON.parse` keeps the last), and only the selected
//! values are walked again, into the tape.

use super::document::{walk_text, windowed, Scratch, Windowed};
use super::error::JResult;
use super::structural::{Stream, StructuralIndex};
use super::pointer::{Pointer, Step};
use super::tape::{Tag, Tape, TapeBuilder};
use super::walker::{Frame, RawString, Sink, Walker};
use super::ParseOptions;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

/// A tape with one root per selector, in selector order. A pointer that matches nothing gives
/// `Tag::Missing`; a `*` step gives an array with one entry per element (`Missing` where the rest
/// of the pointer matches nothing in that element).
pub fn select(ctx: &JobCtx, input: &[u8], selectors: &[Pointer], opts: ParseOptions) -> CoreResult<Tape> {
    let mut scratch = Scratch::default();
    let mut builder = TapeBuilder::default();
    let trie = Trie::new(selectors);
    let run = |scratch: &mut Scratch, builder: &mut TapeBuilder| -> JResult<()> {
        let bom = super::utf8::bom_len(input);
        let text = &input[bom..];
        let mut sink = SelectSink::new(&trie);
        walk_text(ctx, text, scratch, opts, &mut sink).map_err(|e| e.shifted(bom))?;
        // Small inputs were walked over their whole index, which the selected containers reuse;
        // large ones were indexed a window at a time, and each selected container is indexed
        // again from where it starts.
        let whole = (!windowed(text.len())).then_some(&scratch.index);
        let mut emit = Emit { ctx, text, whole, max_depth: opts.max_depth, insts: &sink.insts, stack: Vec::new() };
        for (pointer, nodes) in selectors.iter().zip(&trie.paths) {
            match sink.root {
                Some(root) => emit.selection(root, &pointer.steps, nodes, builder).map_err(|e| e.shifted(bom))?,
                None => builder.push_tag(Tag::Missing),
            }
        }
        Ok(())
    };
    run(&mut scratch, &mut builder).map_err(|e| e.into_core(input))?;
    Ok(builder.tape)
}

/// The selectors' steps as a trie: node 0 is the document; a node's children are the distinct
/// next steps of the selectors through it.
struct Trie {
    nodes: Vec<Node>,
    /// Per selector: the node of each of its steps.
    paths: Vec<Vec<u32>>,
}

struct Node {
    /// The member name this step selects (`*` for a wildcard, which in an object selects the
    /// member named `*`).
    key: Vec<u8>,
    /// The element this step selects in an array, if it is an index.
    index: Option<usize>,
    wildcard: bool,
    children: Vec<u32>,
}

impl Trie {
    fn new(selectors: &[Pointer]) -> Trie {
        let mut nodes = vec![Node { key: Vec::new(), index: None, wildcard: false, children: Vec::new() }];
        let mut paths = Vec::with_capacity(selectors.len());
        for pointer in selectors {
            let mut n = 0usize;
            let mut path = Vec::with_capacity(pointer.steps.len());
            for step in &pointer.steps {
                let same = |c: &Node| c.wildcard == step.wildcard && c.key == step.key.as_bytes();
                n = match nodes[n].children.iter().copied().find(|&c| same(&nodes[c as usize])) {
                    Some(c) => c as usize,
                    None => {
                        nodes.push(Node { key: step.key.as_bytes().to_vec(), index: step.index, wildcard: step.wildcard, children: Vec::new() });
                        let c = nodes.len() - 1;
                        nodes[n].children.push(c as u32);
                        c
                    }
                };
                path.push(n as u32);
            }
            paths.push(path);
        }
        Trie { nodes, paths }
    }
}

/// One value the walk reached along a trie path.
struct Inst {
    /// Its structural entry and input offset.
    k: u32,
    at: u32,
    /// What it is if it is a scalar (set by the scalar's own callback).
    scalar: Scalar,
    /// Its first byte: `{`, `[`, or that of a scalar.
    byte: u8,
    /// Per child node reached from it: the member or element there (`One`; a later duplicate
    /// member replaces it), or for a wildcard over an array every element in order (`Many`).
    slots: Vec<(u32, Slot)>,
}

enum Slot {
    One(u32),
    Many(Vec<u32>),
}

/// A selected scalar, kept so it goes into the tape without a second walk.
#[derive(Clone, Copy)]
enum Scalar {
    /// A container (or not seen yet).
    None,
    /// A string's raw content: input offset, length, and whether it may hold escapes.
    Str(u32, u32, bool),
    /// A number token: input offset and length.
    Num(u32, u32),
    Lit(Tag),
}

impl Inst {
    fn slot(&self, node: u32) -> Option<&Slot> {
        self.slots.iter().find(|(n, _)| *n == node).map(|(_, s)| s)
    }
}

/// An open container that some trie path goes through: its (node, instance) pairs, one per node
/// that reached it (an array element can match an index step and a wildcard at once).
struct Open {
    start: usize,
    object: bool,
    /// Arrays: the index of the next element.
    next: usize,
}

/// A walk sink that records the instances of the values on the selectors' paths.
struct SelectSink<'t> {
    trie: &'t Trie,
    insts: Vec<Inst>,
    root: Option<u32>,
    /// The (node, instance) pairs of the open tracked containers, `open` marking where each starts.
    pairs: Vec<(u32, u32)>,
    open: Vec<Open>,
    /// The (child node, parent instance) pairs the member whose key was just read matched.
    pending: Vec<(u32, u32)>,
    /// The instances of the value just started, for `open` to track.
    current: Vec<(u32, u32)>,
    key_scratch: Vec<u8>,
}

impl<'t> SelectSink<'t> {
    fn new(trie: &'t Trie) -> Self {
        SelectSink {
            trie,
            insts: Vec::new(),
            root: None,
            pairs: Vec::new(),
            open: Vec::new(),
            pending: Vec::new(),
            current: Vec::new(),
            key_scratch: Vec::new(),
        }
    }

    fn new_inst(&mut self, k: usize, at: usize, byte: u8) -> u32 {
        self.insts.push(Inst { k: k as u32, at: at as u32, scalar: Scalar::None, byte, slots: Vec::new() });
        (self.insts.len() - 1) as u32
    }

    /// Notes the scalar just walked on the instances `value_start` made for it.
    #[inline(always)]
    fn scalar(&mut self, scalar: Scalar) {
        for &(_, inst) in &self.current {
            self.insts[inst as usize].scalar = scalar;
        }
    }

    /// Hangs `child` under `parent` at `node`: appended for a wildcard over an array, else in
    /// place of whatever was there.
    fn attach(&mut self, parent: u32, node: u32, child: u32, many: bool) {
        let slots = &mut self.insts[parent as usize].slots;
        match slots.iter_mut().find(|(n, _)| *n == node) {
            Some((_, Slot::Many(list))) if many => list.push(child),
            Some((_, slot)) => *slot = if many { Slot::Many(vec![child]) } else { Slot::One(child) },
            None => slots.push((node, if many { Slot::Many(vec![child]) } else { Slot::One(child) })),
        }
    }
}

impl Sink for SelectSink<'_> {
    #[inline(always)]
    fn value_start(&mut self, k: usize, at: usize, byte: u8) {
        self.current.clear();
        let Some(top) = self.open.last_mut() else {
            // The document itself.
            let root = self.new_inst(k, at, byte);
            self.root = Some(root);
            self.current.push((0, root));
            return;
        };
        if top.object {
            for p in 0..self.pending.len() {
                let (node, parent) = self.pending[p];
                let child = self.new_inst(k, at, byte);
                self.attach(parent, node, child, false);
                self.current.push((node, child));
            }
            self.pending.clear();
            return;
        }
        let i = top.next;
        top.next += 1;
        let trie = self.trie;
        let start = top.start;
        for p in start..self.pairs.len() {
            let (node, parent) = self.pairs[p];
            for &c in &trie.nodes[node as usize].children {
                let n = &trie.nodes[c as usize];
                if n.wildcard || n.index == Some(i) {
                    let child = self.new_inst(k, at, byte);
                    self.attach(parent, c, child, n.wildcard);
                    self.current.push((c, child));
                }
            }
        }
    }

    /// Containers no selector goes into are only checked (by the walker, without this sink).
    #[inline(always)]
    fn descend(&mut self, object: bool, _k: usize) -> bool {
        let start = self.pairs.len();
        let trie = self.trie;
        self.pairs.extend(self.current.iter().copied().filter(|&(node, _)| !trie.nodes[node as usize].children.is_empty()));
        if self.pairs.len() == start {
            return false;
        }
        self.open.push(Open { start, object, next: 0 });
        self.pending.clear();
        true
    }

    #[inline(always)]
    fn open(&mut self, _object: bool, _k: usize) -> u32 {
        0
    }

    #[inline(always)]
    fn close(&mut self, _object: bool, _slot: u32, _count: u32, _next: usize) {
        if let Some(o) = self.open.pop() {
            self.pairs.truncate(o.start);
        }
    }

    #[inline(always)]
    fn key(&mut self, s: RawString) -> JResult<()> {
        let Some(top) = self.open.last() else { return Ok(()) };
        let key = s.text(&mut self.key_scratch)?;
        self.pending.clear();
        let trie = self.trie;
        for &(node, parent) in &self.pairs[top.start..] {
            for &c in &trie.nodes[node as usize].children {
                // In an object a wildcard selects the member named `*`, like any other step.
                if trie.nodes[c as usize].key == key {
                    self.pending.push((c, parent));
                }
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn string(&mut self, s: RawString) -> JResult<()> {
        if !self.current.is_empty() {
            self.scalar(Scalar::Str(s.offset as u32, s.raw.len() as u32, s.escaped));
        }
        Ok(())
    }

    #[inline(always)]
    fn number(&mut self, token: &[u8]) {
        if let Some(&(_, inst)) = self.current.first() {
            let at = self.insts[inst as usize].at;
            self.scalar(Scalar::Num(at, token.len() as u32));
        }
    }

    #[inline(always)]
    fn literal(&mut self, tag: Tag) {
        if !self.current.is_empty() {
            self.scalar(Scalar::Lit(tag));
        }
    }
}

/// Writes selections into the tape: scalars as recorded, containers by walking them again.
struct Emit<'a, 'c> {
    ctx: &'c JobCtx<'c>,
    text: &'a [u8],
    /// The whole input's index, where it was built.
    whole: Option<&'a StructuralIndex>,
    max_depth: usize,
    insts: &'a [Inst],
    stack: Vec<Frame>,
}

impl Emit<'_, '_> {
    /// Appends the selection of `steps` (whose trie nodes are `nodes`) below instance `inst` as
    /// one value. Plain steps are followed in a loop; only `*` steps recurse (at most
    /// `MAX_WILDCARDS` deep).
    fn selection(&mut self, mut inst: u32, steps: &[Step], nodes: &[u32], builder: &mut TapeBuilder) -> JResult<()> {
        for (j, (step, &node)) in steps.iter().zip(nodes).enumerate() {
            let here = &self.insts[inst as usize];
            let slot = here.slot(node);
            if step.wildcard && here.byte == b'[' {
                let container = builder.open_container(false);
                let elements: &[u32] = match slot {
                    Some(Slot::Many(list)) => list,
                    _ => &[],
                };
                for &e in elements {
                    self.selection(e, &steps[j + 1..], &nodes[j + 1..], builder)?;
                }
                builder.set_count(container, elements.len() as u32);
                return Ok(());
            }
            match slot {
                Some(Slot::One(next)) => inst = *next,
                _ => {
                    builder.push_tag(Tag::Missing);
                    return Ok(());
                }
            }
        }
        let here = &self.insts[inst as usize];
        let text = self.text;
        let span = |at: u32, len: u32| &text[at as usize..(at + len) as usize];
        match here.scalar {
            Scalar::Str(at, len, escaped) => builder.string(RawString { raw: span(at, len), offset: at as usize, escaped })?,
            Scalar::Num(at, len) => builder.number(span(at, len)),
            Scalar::Lit(tag) => builder.literal(tag),
            Scalar::None => match self.whole {
                Some(index) => {
                    Walker::new(text, index, self.max_depth).value(self.ctx, here.k as usize, &mut self.stack, builder)?;
                }
                None => {
                    // The container starts a value, so stage 1 may start there too; it indexes
                    // only as far as the walk of this one value reads.
                    let rest = &text[here.at as usize..];
                    let entries = Windowed::new(self.ctx, Stream::new(crate::simd::level(), rest, false)?);
                    Walker::new(rest, &entries, self.max_depth).value(self.ctx, 0, &mut self.stack, builder)?;
                }
            },
        }
        Ok(())
    }
}
