//! Element-wise kernels: out[i] = f(x[i], y[i]) for add, sub, mul, div, scale, axpy, clamp.
//!
//! Every operation is computed in f64 and rounded once to the element type, which for f32 gives
//! exactly what the same JS expression gives on a Float32Array (`Math.fround` of the double result;
//! for +, -, *, / that also equals the f32 operation). No FMA: `axpy` is `a * x + y` with two
//! roundings, as in JS. `out` may be one of the inputs (in place): that input is then read from
//! `out` itself, so no slice is ever aliased.

use super::lanes::prefetch;
use super::reduce::PREFETCH;
use super::stream::{fill_streaming, streams};
use super::element::Kind;
use super::Element;
use crate::error::CoreResult;
use crate::runtime::JobCtx;
use crate::simd_dispatch;

/// Elements per parallel piece: 64 Ki, about 1.5 MB of traffic for three f64 streams.
const CHUNK: usize = 1 << 16;

/// An input of an element-wise kernel: a separate slice, or `out` itself (the in-place case).
#[derive(Clone, Copy)]
pub enum Src<'a, T> {
    Slice(&'a [T]),
    Out,
}

impl<'a, T> Src<'a, T> {
    fn piece(self, start: usize, len: usize) -> Option<&'a [T]> {
        match self {
            Src::Slice(s) => Some(&s[start..start + len]),
            Src::Out => None,
        }
    }
}

/// A two-operand operation on doubles.
pub trait Op2: Copy + Send + Sync {
    fn apply(self, a: f64, b: f64) -> f64;
}

/// A one-operand operation on doubles.
pub trait Op1: Copy + Send + Sync {
    fn apply(self, a: f64) -> f64;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

macro_rules! op2 {
    ($name:ident, $a:ident, $b:ident, $e:expr) => {
        #[derive(Clone, Copy)]
        struct $name;
        impl Op2 for $name {
            #[inline(always)]
            fn apply(self, $a: f64, $b: f64) -> f64 {
                $e
            }
        }
    };
}
op2!(AddOp, a, b, a + b);
op2!(SubOp, a, b, a - b);
op2!(MulOp, a, b, a * b);
op2!(DivOp, a, b, a / b);

/// `alpha * x + y`, two roundings.
#[derive(Clone, Copy)]
struct Axpy(f64);
impl Op2 for Axpy {
    #[inline(always)]
    fn apply(self, x: f64, y: f64) -> f64 {
        self.0 * x + y
    }
}

#[derive(Clone, Copy)]
struct Scale(f64);
impl Op1 for Scale {
    #[inline(always)]
    fn apply(self, x: f64) -> f64 {
        self.0 * x
    }
}

/// `x < lo ? lo : x > hi ? hi : x`: NaN stays NaN, -0 stays -0 when `lo` is 0.
#[derive(Clone, Copy)]
struct Clamp(f64, f64);
impl Op1 for Clamp {
    #[inline(always)]
    fn apply(self, x: f64) -> f64 {
        let y = if x < self.0 { self.0 } else { x };
        if y > self.1 {
            self.1
        } else {
            y
        }
    }
}

/// `out[i] = f(a[i], b[i])` with streaming stores, a line of `L` elements (64 bytes) at a time.
#[inline(always)]
fn stream2<T: Element, F: Fn(T, T) -> T, const L: usize>(f: F, a: &[T], b: &[T], out: &mut [T]) {
    fill_streaming::<T, L>(
        out,
        |i| {
            let (x, y): (&[T; L], &[T; L]) = (a[i..i + L].try_into().unwrap(), b[i..i + L].try_into().unwrap());
            prefetch(x, PREFETCH);
            prefetch(y, PREFETCH);
            std::array::from_fn(|j| f(x[j], y[j]))
        },
        |s, dst| {
            for ((o, &x), &y) in dst.iter_mut().zip(&a[s..]).zip(&b[s..]) {
                *o = f(x, y);
            }
        },
    );
}

/// `out[i] = f(a[i])` with streaming stores, a line at a time, prefetching ahead as `map1_body`.
#[inline(always)]
fn stream1<T: Element, F: Fn(T) -> T, const L: usize>(f: F, a: &[T], out: &mut [T]) {
    fill_streaming::<T, L>(
        out,
        |i| {
            let x: &[T; L] = a[i..i + L].try_into().unwrap();
            prefetch(x, PREFETCH);
            std::array::from_fn(|j| f(x[j]))
        },
        |s, dst| {
            for (o, &x) in dst.iter_mut().zip(&a[s..]) {
                *o = f(x);
            }
        },
    );
}

/// `stream`: write `out` with streaming stores (see `stream`); only for separate inputs (in place,
/// the output's lines are read anyway).
#[inline(always)]
fn map2_body<T: Element, O: Op2>(op: O, a: Option<&[T]>, b: Option<&[T]>, out: &mut [T], stream: bool) {
    let f = |x: T, y: T| T::from_f64(op.apply(x.to_f64(), y.to_f64()));
    match (a, b) {
        (Some(a), Some(b)) if stream => match T::KIND {
            Kind::F64 => stream2::<T, _, 8>(f, a, b, out),
            _ => stream2::<T, _, 16>(f, a, b, out),
        },
        (Some(a), Some(b)) => {
            let (a, b) = (&a[..out.len()], &b[..out.len()]);
            for_lines(out, #[inline(always)] |i, o| {
                let (x, y): (&[T; 16], &[T; 16]) = (a[i..i + 16].try_into().unwrap(), b[i..i + 16].try_into().unwrap());
                prefetch(x, PREFETCH);
                prefetch(y, PREFETCH);
                *o = std::array::from_fn(|j| f(x[j], y[j]));
            }, #[inline(always)] |i, o| {
                for ((o, &x), &y) in o.iter_mut().zip(&a[i..]).zip(&b[i..]) {
                    *o = f(x, y);
                }
            });
        }
        (None, Some(b)) => {
            let b = &b[..out.len()];
            for_lines(out, #[inline(always)] |i, o| {
                let y: &[T; 16] = b[i..i + 16].try_into().unwrap();
                prefetch(y, PREFETCH);
                prefetch(o, PREFETCH);
                *o = std::array::from_fn(|j| f(o[j], y[j]));
            }, #[inline(always)] |i, o| {
                for (o, &y) in o.iter_mut().zip(&b[i..]) {
                    *o = f(*o, y);
                }
            });
        }
        (Some(a), None) => {
            let a = &a[..out.len()];
            for_lines(out, #[inline(always)] |i, o| {
                let x: &[T; 16] = a[i..i + 16].try_into().unwrap();
                prefetch(x, PREFETCH);
                prefetch(o, PREFETCH);
                *o = std::array::from_fn(|j| f(x[j], o[j]));
            }, #[inline(always)] |i, o| {
                for (o, &x) in o.iter_mut().zip(&a[i..]) {
                    *o = f(x, *o);
                }
            });
        }
        (None, None) => {
            for_lines(out, #[inline(always)] |_, o| {
                prefetch(o, PREFETCH);
                *o = std::array::from_fn(|j| f(o[j], o[j]));
            }, #[inline(always)] |_, o| {
                for o in o.iter_mut() {
                    *o = f(*o, *o);
                }
            });
        }
    }
}

/// `out` sixteen elements at a time (`whole(i, out[i..i + 16])`, a fixed-size array, so the
/// body compiles to a few full-width vector operations), then the rest
/// (`rest(i, out[i..])`). A loop over chunks of any length spent about thirty scalar instructions
/// per sixteen elements on its own bounds (measured on Zen 4: `scale` of 1 024 doubles, in L1,
/// 0.19 -> 0.12 µs; at 4 096 the three arrays outgrow L1 and L2 sets the pace either way).
///
/// The elements before `out`'s first 64-byte boundary go to `rest` first, so the vector stores
/// (and the loads of inputs aligned like `out`, as typed arrays of one size usually are) never
/// split a cache line: JS typed arrays are 16-byte aligned, and on Zen 5 split 64-byte accesses
/// made `add` of 4 096 doubles in L2 0.74-0.75 µs against 0.55-0.65 aligned (Rust harness, best
/// of 200, two rounds; `dot` 0.50-0.54 against 0.39). Element-wise results do not depend on where
/// the vectors start, so this changes no bits.
#[inline(always)]
fn for_lines<T: Element>(out: &mut [T], mut whole: impl FnMut(usize, &mut [T; 16]), mut rest: impl FnMut(usize, &mut [T])) {
    let head = (out.as_ptr().align_offset(64) / std::mem::size_of::<T>()).min(out.len());
    let (first, body) = out.split_at_mut(head);
    if head > 0 {
        rest(0, first);
    }
    let backward = super::sweep_backward();
    let mut lines = body.chunks_exact_mut(16);
    if backward {
        let n = lines.len();
        let tail = head + n * 16;
        rest(tail, lines.into_remainder());
        let mut lines = body[..n * 16].chunks_exact_mut(16);
        let mut i = tail;
        while let Some(o) = lines.next_back() {
            i -= 16;
            whole(i, o.try_into().unwrap());
        }
        return;
    }
    let mut i = head;
    for o in &mut lines {
        whole(i, o.try_into().unwrap());
        i += 16;
    }
    rest(i, lines.into_remainder());
}

/// Sixteen elements at a time with a prefetch ahead: `clamp`'s compares and selects leave the
/// out-of-order window too few loads in flight to stream at full speed (68 % of the triad probe
/// without it).
#[inline(always)]
fn map1_body<T: Element, O: Op1>(op: O, a: Option<&[T]>, out: &mut [T], stream: bool) {
    match a {
        Some(a) if stream => {
            let f = |x: T| T::from_f64(op.apply(x.to_f64()));
            match T::KIND {
                Kind::F64 => stream1::<T, _, 8>(f, a, out),
                _ => stream1::<T, _, 16>(f, a, out),
            }
        }
        Some(a) => {
            let a = &a[..out.len()];
            let f = |x: T| T::from_f64(op.apply(x.to_f64()));
            for_lines(out, #[inline(always)] |i, o| {
                let x: &[T; 16] = a[i..i + 16].try_into().unwrap();
                prefetch(x, PREFETCH);
                *o = std::array::from_fn(|j| f(x[j]));
            }, #[inline(always)] |i, o| {
                for (o, &x) in o.iter_mut().zip(&a[i..]) {
                    *o = f(x);
                }
            });
        }
        None => {
            let f = |x: T| T::from_f64(op.apply(x.to_f64()));
            for_lines(out, #[inline(always)] |_, o| {
                prefetch(o, PREFETCH);
                *o = std::array::from_fn(|j| f(o[j]));
            }, #[inline(always)] |_, o| {
                for o in o.iter_mut() {
                    *o = f(*o);
                }
            });
        }
    }
}

simd_dispatch!(fn map2_piece<T: Element, O: Op2>(op: O, a: Option<&[T]>, b: Option<&[T]>, out: &mut [T], stream: bool) -> () => map2_body);
simd_dispatch!(fn map1_piece<T: Element, O: Op1>(op: O, a: Option<&[T]>, out: &mut [T], stream: bool) -> () => map1_body);

fn map2<T: Element, O: Op2>(ctx: &JobCtx, op: O, a: Src<T>, b: Src<T>, out: &mut [T]) -> CoreResult<()> {
    let stream = streams::<T>(out.len());
    ctx.for_each_chunk_mut(out, CHUNK, |start, piece| {
        let n = piece.len();
        map2_piece(op, a.piece(start, n), b.piece(start, n), piece, stream)
    })
}

fn map1<T: Element, O: Op1>(ctx: &JobCtx, op: O, a: Src<T>, out: &mut [T]) -> CoreResult<()> {
    let stream = streams::<T>(out.len());
    ctx.for_each_chunk_mut(out, CHUNK, |start, piece| map1_piece(op, a.piece(start, piece.len()), piece, stream))
}

/// `out[i] = x[i] op y[i]`. Slices in `x`/`y` must be at least `out.len()` long (checked by the caller).
pub fn binary<T: Element>(ctx: &JobCtx, op: Binary, x: Src<T>, y: Src<T>, out: &mut [T]) -> CoreResult<()> {
    match op {
        Binary::Add => map2(ctx, AddOp, x, y, out),
        Binary::Sub => map2(ctx, SubOp, x, y, out),
        Binary::Mul => map2(ctx, MulOp, x, y, out),
        Binary::Div => map2(ctx, DivOp, x, y, out),
    }
}

/// `out[i] = alpha * x[i] + y[i]` (no FMA).
pub fn axpy<T: Element>(ctx: &JobCtx, alpha: f64, x: Src<T>, y: Src<T>, out: &mut [T]) -> CoreResult<()> {
    map2(ctx, Axpy(alpha), x, y, out)
}

/// `out[i] = alpha * x[i]`.
pub fn scale<T: Element>(ctx: &JobCtx, alpha: f64, x: Src<T>, out: &mut [T]) -> CoreResult<()> {
    map1(ctx, Scale(alpha), x, out)
}

/// `out[i] = x[i]` limited to `[lo, hi]` (the caller checks `lo <= hi`); NaN stays NaN.
pub fn clamp<T: Element>(ctx: &JobCtx, lo: f64, hi: f64, x: Src<T>, out: &mut [T]) -> CoreResult<()> {
    map1(ctx, Clamp(lo, hi), x, out)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ops_match_scalar_and_in_place() {
        let ctx = JobCtx::inline();
        let x: Vec<f64> = (0..200_001).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
        let y: Vec<f64> = (0..200_001).map(|i| (i as f64 * 0.11).cos() + 2.0).collect();
        for (op, f) in [
            (Binary::Add, (|a, b| a + b) as fn(f64, f64) -> f64),
            (Binary::Sub, |a, b| a - b),
            (Binary::Mul, |a, b| a * b),
            (Binary::Div, |a, b| a / b),
        ] {
            let mut out = vec![0.0; x.len()];
            binary(&ctx, op, Src::Slice(&x), Src::Slice(&y), &mut out).unwrap();
            assert!(out.iter().zip(x.iter().zip(&y)).all(|(o, (a, b))| o.to_bits() == f(*a, *b).to_bits()));
            let mut inplace = y.clone();
            binary(&ctx, op, Src::Slice(&x), Src::Out, &mut inplace).unwrap();
            assert_eq!(inplace, out);
            let mut inplace = x.clone();
            binary(&ctx, op, Src::Out, Src::Slice(&y), &mut inplace).unwrap();
            assert_eq!(inplace, out);
        }
        let mut out = vec![0.0; x.len()];
        axpy(&ctx, 1.5, Src::Slice(&x), Src::Slice(&y), &mut out).unwrap();
        assert!(out.iter().zip(x.iter().zip(&y)).all(|(o, (a, b))| *o == 1.5 * a + b));
        clamp(&ctx, -1.0, 1.0, Src::Slice(&x), &mut out).unwrap();
        assert!(out.iter().zip(&x).all(|(o, a)| *o == a.clamp(-1.0, 1.0)));
        let mut s = x.clone();
        scale(&ctx, 3.0, Src::Out, &mut s).unwrap();
        assert!(s.iter().zip(&x).all(|(o, a)| *o == 3.0 * a));
    }

    #[test]
    fn streamed_outputs_match_plain_ones() {
        // Past STREAM_FROM the output is written with streaming stores; at every alignment of
        // `out` the values are the plain ones, and nothing around `out` is touched.
        let ctx = JobCtx::inline();
        let n = super::super::stream::STREAM_FROM / 8 + 1003;
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() + 2.0).collect();
        for shift in [0, 1, 3] {
            let mut backing = vec![7.0f64; n + 4];
            let out = &mut backing[shift..shift + n - shift];
            let m = out.len();
            axpy(&ctx, 1.5, Src::Slice(&x[..m]), Src::Slice(&y[..m]), out).unwrap();
            assert!(out.iter().zip(x.iter().zip(&y)).all(|(o, (a, b))| *o == 1.5 * a + b), "shift {shift}");
            clamp(&ctx, -0.5, 0.5, Src::Slice(&x[..m]), out).unwrap();
            assert!(out.iter().zip(&x).all(|(o, a)| *o == a.clamp(-0.5, 0.5)), "shift {shift}");
            assert!(backing[..shift].iter().chain(&backing[shift + m..]).all(|&v| v == 7.0));
        }
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut of = vec![0.0f32; 2 * n];
        let xf2: Vec<f32> = xf.iter().chain(&xf).copied().collect();
        scale(&ctx, 0.1, Src::Slice(&xf2), &mut of).unwrap();
        assert!(of.iter().zip(&xf2).all(|(o, a)| *o == (0.1 * *a as f64) as f32));
    }

    #[test]
    fn f32_rounds_like_js() {
        let ctx = JobCtx::inline();
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.3).sin()).collect();
        let mut out = vec![0.0f32; x.len()];
        scale(&ctx, 0.1, Src::Slice(&x), &mut out).unwrap();
        assert!(out.iter().zip(&x).all(|(o, a)| *o == (0.1 * *a as f64) as f32));
        let c = [f64::NAN, -0.0, 5.0, -5.0];
        let mut o = [0.0; 4];
        clamp(&ctx, 0.0, 1.0, Src::Slice(&c), &mut o).unwrap();
        assert!(o[0].is_nan() && o[1].to_bits() == (-0.0f64).to_bits() && o[2] == 1.0 && o[3] == 0.0);
    }
}

#[cfg(all(test, not(loom)))]
mod alignment_tests {
    use super::*;

    fn input<T: Element>(n: usize, seed: u64) -> Vec<T> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                T::from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0)
            })
            .collect()
    }

    /// Every start offset within a cache line and every length around the line and vector
    /// boundaries: the aligned head, the lines and the tail together write each element once,
    /// with the scalar formula's value.
    fn every_offset_and_length<T: Element + PartialEq + std::fmt::Debug>() {
        let ctx = JobCtx::inline();
        let (xs, ys) = (input::<T>(200, 1), input::<T>(200, 2));
        for off in 0..16 {
            for n in [0, 1, 2, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 130] {
                let (x, y) = (&xs[off..off + n], &ys[off..off + n]);
                let mut buf = [T::from_f64(0.0); 200];
                let out = &mut buf[off..off + n];
                binary(&ctx, Binary::Add, Src::Slice(x), Src::Slice(y), out).unwrap();
                let want: Vec<T> = x.iter().zip(y).map(|(a, b)| T::from_f64(a.to_f64() + b.to_f64())).collect();
                assert_eq!(out, &want[..], "add, offset {off}, length {n}");
                axpy(&ctx, 1.5, Src::Slice(x), Src::Out, out).unwrap();
                let want: Vec<T> = x.iter().zip(&want).map(|(a, o)| T::from_f64(1.5 * a.to_f64() + o.to_f64())).collect();
                assert_eq!(out, &want[..], "axpy in place, offset {off}, length {n}");
                scale(&ctx, -2.0, Src::Out, out).unwrap();
                let want: Vec<T> = want.iter().map(|o| T::from_f64(-2.0 * o.to_f64())).collect();
                assert_eq!(out, &want[..], "scale in place, offset {off}, length {n}");
                assert!(buf[..off].iter().chain(&buf[off + n..]).all(|v| v.to_f64() == 0.0), "wrote outside out");
            }
        }
    }

    /// Calls alternate their sweep direction (`sweep_backward`): two calls in a row take both
    /// directions, and each must write every element once with the scalar formula's value.
    #[test]
    fn both_sweep_directions_give_the_same_elements() {
        let ctx = JobCtx::inline();
        for n in [5, 16, 33, 4096, 4099, 10_000] {
            let (xs, ys) = (input::<f64>(n + 3, 3), input::<f64>(n + 3, 4));
            let (x, y) = (&xs[3..], &ys[1..n + 1]);
            let want: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
            for call in 0..2 {
                let mut out = vec![f64::NAN; n];
                binary(&ctx, Binary::Mul, Src::Slice(x), Src::Slice(y), &mut out).unwrap();
                assert_eq!(out, want, "mul, length {n}, call {call}");
            }
        }
    }

    #[test]
    fn every_offset_and_length_f64() {
        every_offset_and_length::<f64>();
    }

    #[test]
    fn every_offset_and_length_f32() {
        every_offset_and_length::<f32>();
    }
}
