//! Bindings of the numeric kernels: `xSubmit` queues on the pool, `xSync` runs on the calling thread.

use crate::args::{float_array, js_number, FloatArray};
use crate::completion::submit;
use crate::errors::{invalid_arg, to_napi};
use crate::output::JsOutput;
use napi::{Env, Unknown};
use napi_derive::napi;
use offloop_core::error::CoreResult;
use offloop_core::kernels;
use offloop_core::runtime::{run_catching, JobCtx};

fn sum_job(x: &AnyArray, ctx: &JobCtx) -> CoreResult<JsOutput> {
    Ok(JsOutput::Number(sum_any(ctx, x)?))
}

fn sum_any(ctx: &JobCtx, x: &AnyArray) -> CoreResult<f64> {
    match x {
        AnyArray::F64(b) => kernels::sum(ctx, b.as_slice()),
        AnyArray::F32(b) => kernels::sum(ctx, b.as_slice()),
        AnyArray::I32(b) => kernels::sum(ctx, b.as_slice()),
    }
}

fn dot_job(x: &FloatArray, y: &FloatArray, ctx: &JobCtx) -> CoreResult<JsOutput> {
    let v = match (x, y) {
        (FloatArray::F64(a), FloatArray::F64(b)) => kernels::dot(ctx, a.as_slice(), b.as_slice())?,
        (FloatArray::F32(a), FloatArray::F32(b)) => kernels::dot(ctx, a.as_slice(), b.as_slice())?,
        _ => unreachable!("element types checked by dot_args"),
    };
    Ok(JsOutput::Number(v))
}

fn minmax_job(x: &FloatArray, ctx: &JobCtx) -> CoreResult<JsOutput> {
    let m = match x {
        FloatArray::F64(b) => kernels::minmax(ctx, b.as_slice())?,
        FloatArray::F32(b) => kernels::minmax(ctx, b.as_slice())?,
    };
    Ok(JsOutput::Pair(m.min, m.max))
}

fn dot_args(env: &Env, x: &Unknown, y: &Unknown) -> napi::Result<(FloatArray, FloatArray)> {
    let (x, y) = (float_array(env, x, "x")?, float_array(env, y, "y")?);
    match (&x, &y) {
        (FloatArray::F64(_), FloatArray::F64(_)) | (FloatArray::F32(_), FloatArray::F32(_)) => {}
        _ => return Err(invalid_arg("dot: x and y must have the same element type")),
    }
    if x.len() != y.len() {
        return Err(invalid_arg(format!("dot: x has {} elements but y has {}", x.len(), y.len())));
    }
    Ok((x, y))
}

fn inline(job: impl FnOnce(&JobCtx) -> CoreResult<JsOutput>) -> napi::Result<JsOutput> {
    run_catching(|| job(&JobCtx::inline())).map_err(to_napi)
}

fn pair(out: JsOutput) -> Vec<f64> {
    match out {
        JsOutput::Pair(a, b) => vec![a, b],
        _ => unreachable!("minmax returns a pair"),
    }
}

#[napi]
pub fn sum_submit(env: Env, id: u32, x: Unknown, cancellable: bool) -> napi::Result<()> {
    let x = any_array(&env, &x, "x", true)?;
    submit(&env, id, cancellable, move |ctx| sum_job(&x, ctx))
}

/// Raw callback body (see `fast.rs`).
pub(crate) fn sum_sync(env: &Env, x: &Unknown) -> napi::Result<f64> {
    let x = any_array(env, x, "x", true)?;
    let ctx = JobCtx::inline();
    // The f64 itself, not a `JsOutput` (see `reduce_number_sync`).
    run_catching(|| sum_any(&ctx, &x)).map_err(to_napi)
}

#[napi]
pub fn dot_submit(env: Env, id: u32, x: Unknown, y: Unknown, cancellable: bool) -> napi::Result<()> {
    let (x, y) = dot_args(&env, &x, &y)?;
    submit(&env, id, cancellable, move |ctx| dot_job(&x, &y, ctx))
}

/// Raw callback body (see `fast.rs`).
pub(crate) fn dot_sync(env: &Env, x: &Unknown, y: &Unknown) -> napi::Result<f64> {
    let (x, y) = dot_args(env, x, y)?;
    let ctx = JobCtx::inline();
    run_catching(|| match (&x, &y) {
        (FloatArray::F64(a), FloatArray::F64(b)) => kernels::dot(&ctx, a.as_slice(), b.as_slice()),
        (FloatArray::F32(a), FloatArray::F32(b)) => kernels::dot(&ctx, a.as_slice(), b.as_slice()),
        _ => unreachable!("element types checked by dot_args"),
    })
    .map_err(to_napi)
}

#[napi]
pub fn minmax_submit(env: Env, id: u32, x: Unknown, cancellable: bool) -> napi::Result<()> {
    let x = float_array(&env, &x, "x")?;
    submit(&env, id, cancellable, move |ctx| minmax_job(&x, ctx))
}

/// Returns `[min, max]`.
#[napi]
pub fn minmax_sync(env: Env, x: Unknown) -> napi::Result<Vec<f64>> {
    let x = float_array(&env, &x, "x")?;
    inline(|ctx| minmax_job(&x, ctx)).map(pair)
}

// ---------------------------------------------------------------------------------------------
// The kernel families of issue #4. Each takes an operation name, so one Submit/Sync pair serves
// a family; lib/kernels.ts exposes one function per operation.

use crate::args::{typed_view, Borrowed, ElementKind};
use napi::{sys, JsValue};

/// Any typed array a kernel reads.
enum AnyArray {
    F64(Borrowed<f64>),
    F32(Borrowed<f32>),
    I32(Borrowed<i32>),
}

impl AnyArray {
    fn len(&self) -> usize {
        match self {
            AnyArray::F64(b) => b.len(),
            AnyArray::F32(b) => b.len(),
            AnyArray::I32(b) => b.len(),
        }
    }

    fn span(&self) -> (usize, usize) {
        match self {
            AnyArray::F64(b) => span(b.as_slice()),
            AnyArray::F32(b) => span(b.as_slice()),
            AnyArray::I32(b) => span(b.as_slice()),
        }
    }
}

fn span<T>(s: &[T]) -> (usize, usize) {
    let start = s.as_ptr() as usize;
    (start, start + std::mem::size_of_val(s))
}

/// Reads an input array; `ints` allows Int32Array.
fn any_array(env: &Env, value: &Unknown, name: &str, ints: bool) -> napi::Result<AnyArray> {
    let expected = if ints { "a Float64Array, Float32Array or Int32Array" } else { "a Float64Array or Float32Array" };
    let view = typed_view(env, value, name, expected)?;
    match view.kind {
        ElementKind::F64 => Ok(AnyArray::F64(view.borrow())),
        ElementKind::F32 => Ok(AnyArray::F32(view.borrow())),
        ElementKind::I32 if ints => Ok(AnyArray::I32(view.borrow())),
        _ => Err(view.wrong_type(name, expected)),
    }
}

/// A typed array a kernel writes into.
struct Writable<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the array's ArrayBuffer is kept alive by lib/runtime.ts until the job completes, and the
// caller promises not to touch it meanwhile; only the job writes through this pointer.
unsafe impl<T: Send> Send for Writable<T> {}

impl<T> Writable<T> {
    fn as_mut_slice(&mut self) -> &mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: ptr/len describe a live, attached typed array of T (napi_get_typedarray_info);
        // `&mut self` makes this the only slice of it in Rust.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    fn span(&self) -> (usize, usize) {
        let start = self.ptr as usize;
        (start, start + self.len * std::mem::size_of::<T>())
    }
}

enum AnyOut {
    F64(Writable<f64>),
    F32(Writable<f32>),
    I32(Writable<i32>),
}

impl AnyOut {
    fn len(&self) -> usize {
        match self {
            AnyOut::F64(w) => w.len,
            AnyOut::F32(w) => w.len,
            AnyOut::I32(w) => w.len,
        }
    }
    fn span(&self) -> (usize, usize) {
        match self {
            AnyOut::F64(w) => w.span(),
            AnyOut::F32(w) => w.span(),
            AnyOut::I32(w) => w.span(),
        }
    }
}

fn is_nullish(env: &Env, value: &Unknown) -> bool {
    let mut t = 0;
    // SAFETY: live handles of this call.
    unsafe { sys::napi_typeof(env.raw(), value.raw(), &mut t) };
    t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null
}

/// Reads a typed array the kernel will write into (an `out` argument, or `x` for in-place sort).
/// A writable typed array: Float64Array or Float32Array, and Int32Array too where `ints` (sort
/// in place); the error names only what this call takes.
fn writable(env: &Env, value: &Unknown, name: &str, ints: bool) -> napi::Result<AnyOut> {
    let expected = if ints { "a Float64Array, Float32Array or Int32Array" } else { "a Float64Array or Float32Array" };
    let view = typed_view(env, value, name, expected)?;
    let (data, len) = view.raw_parts();
    match view.kind {
        ElementKind::F64 => Ok(AnyOut::F64(Writable { ptr: data.cast(), len })),
        ElementKind::F32 => Ok(AnyOut::F32(Writable { ptr: data.cast(), len })),
        ElementKind::I32 if ints => Ok(AnyOut::I32(Writable { ptr: data.cast(), len })),
        _ => Err(view.wrong_type(name, expected)),
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn same_type(x: &AnyArray, out: &AnyOut) -> bool {
    matches!((x, out), (AnyArray::F64(_), AnyOut::F64(_)) | (AnyArray::F32(_), AnyOut::F32(_)) | (AnyArray::I32(_), AnyOut::I32(_)))
}

fn any_job(ctx: &JobCtx, x: &AnyArray, f64_: impl FnOnce(&JobCtx, &[f64]) -> CoreResult<JsOutput>, f32_: impl FnOnce(&JobCtx, &[f32]) -> CoreResult<JsOutput>, i32_: impl FnOnce(&JobCtx, &[i32]) -> CoreResult<JsOutput>) -> CoreResult<JsOutput> {
    match x {
        AnyArray::F64(b) => f64_(ctx, b.as_slice()),
        AnyArray::F32(b) => f32_(ctx, b.as_slice()),
        AnyArray::I32(b) => i32_(ctx, b.as_slice()),
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Reduce {
    Sum,
    ExactSum,
    Mean,
    Variance,
    Std,
    Norm2,
    Argmin,
    Argmax,
    Minmax,
}

fn reduce_op(op: &str) -> napi::Result<Reduce> {
    Ok(match op {
        "sum" => Reduce::Sum,
        "exactSum" => Reduce::ExactSum,
        "mean" => Reduce::Mean,
        "variance" => Reduce::Variance,
        "std" => Reduce::Std,
        "norm2" => Reduce::Norm2,
        "argmin" => Reduce::Argmin,
        "argmax" => Reduce::Argmax,
        "minmax" => Reduce::Minmax,
        _ => return Err(invalid_arg(format!("unknown reduction {op}"))),
    })
}

/// The reductions whose result is one number (all but `Minmax`); argmin/argmax give -1 when empty.
fn reduce_scalar<T: kernels::Element>(ctx: &JobCtx, op: Reduce, x: &[T], ddof: f64) -> CoreResult<f64> {
    let arg = |i: Option<usize>| i.map_or(-1.0, |i| i as f64);
    Ok(match op {
        Reduce::Sum => kernels::sum(ctx, x)?,
        Reduce::ExactSum => kernels::exact_sum(ctx, x)?,
        Reduce::Mean => kernels::mean(ctx, x)?,
        Reduce::Variance => kernels::variance(ctx, x, ddof)?,
        Reduce::Std => kernels::std(ctx, x, ddof)?,
        Reduce::Norm2 => kernels::norm2(ctx, x)?,
        Reduce::Argmin => arg(kernels::argmin(ctx, x)?),
        Reduce::Argmax => arg(kernels::argmax(ctx, x)?),
        Reduce::Minmax => unreachable!("minmax gives a pair"),
    })
}

fn reduce_slice<T: kernels::Element>(ctx: &JobCtx, op: Reduce, x: &[T], ddof: f64) -> CoreResult<JsOutput> {
    if let Reduce::Minmax = op {
        let m = kernels::minmax(ctx, x)?;
        return Ok(JsOutput::Pair(m.min, m.max));
    }
    reduce_scalar(ctx, op, x, ddof).map(JsOutput::Number)
}

fn reduce_job(ctx: &JobCtx, op: Reduce, x: &AnyArray, ddof: f64) -> CoreResult<JsOutput> {
    any_job(ctx, x, |c, s| reduce_slice(c, op, s, ddof), |c, s| reduce_slice(c, op, s, ddof), |c, s| reduce_slice(c, op, s, ddof))
}

fn reduce_args(env: &Env, op: &str, x: &Unknown, ddof: f64) -> napi::Result<(Reduce, AnyArray)> {
    let op = reduce_op(op)?;
    if ddof.is_nan() || ddof < 0.0 {
        return Err(invalid_arg(format!("ddof must be a number >= 0, got {}", js_number(ddof))));
    }
    Ok((op, any_array(env, x, "x", true)?))
}

/// Reductions by name: sum, exactSum, mean, variance, std, norm2, argmin, argmax (index, -1 when
/// empty), minmax (`[min, max]`). `ddof` is used by variance and std.
#[napi]
pub fn reduce_submit(env: Env, id: u32, op: String, x: Unknown, ddof: f64, cancellable: bool) -> napi::Result<()> {
    let (op, x) = reduce_args(&env, &op, &x, ddof)?;
    submit(&env, id, cancellable, move |ctx| reduce_job(ctx, op, &x, ddof))
}

/// The scalar reductions by position, for the raw callbacks (`fast.rs`).
pub(crate) const SCALAR_REDUCE: [Reduce; 7] =
    [Reduce::Mean, Reduce::Variance, Reduce::Std, Reduce::Norm2, Reduce::Argmin, Reduce::Argmax, Reduce::ExactSum];

/// Raw callback body for a scalar reduction (see `fast.rs`): the number comes back as an `f64`,
/// not a `JsOutput`. `JsOutput` carries tapes and column sets, a few hundred bytes that every
/// layer moved: `perf` put a `memmove` at 3 % of an `argminSync` of 4 096 doubles.
pub(crate) fn reduce_number_sync(env: &Env, op: Reduce, x: &Unknown, ddof: f64) -> napi::Result<f64> {
    if ddof.is_nan() || ddof < 0.0 {
        return Err(invalid_arg(format!("ddof must be a number >= 0, got {}", js_number(ddof))));
    }
    let x = any_array(env, x, "x", true)?;
    let ctx = JobCtx::inline();
    run_catching(|| match &x {
        AnyArray::F64(b) => reduce_scalar(&ctx, op, b.as_slice(), ddof),
        AnyArray::F32(b) => reduce_scalar(&ctx, op, b.as_slice(), ddof),
        AnyArray::I32(b) => reduce_scalar(&ctx, op, b.as_slice(), ddof),
    })
    .map_err(to_napi)
}

/// Raw callback body (see `fast.rs`).
pub(crate) fn reduce_sync(env: &Env, op: &str, x: &Unknown, ddof: f64) -> napi::Result<JsOutput> {
    let (op, x) = reduce_args(env, op, x, ddof)?;
    inline(|ctx| reduce_job(ctx, op, &x, ddof))
}

#[derive(Clone, Copy)]
enum Ewise {
    Bin(kernels::Binary),
    Axpy,
    Scale,
    Clamp,
    Cumsum,
}

struct EwiseCall {
    op: Ewise,
    x: AnyArray,
    y: Option<AnyArray>,
    a: f64,
    b: f64,
    /// `None`: a new array is returned.
    out: Option<AnyOut>,
}

fn ewise_args(env: &Env, op: &str, x: &Unknown, y: &Unknown, a: f64, b: f64, out: &Unknown) -> napi::Result<EwiseCall> {
    use kernels::Binary;
    let op = match op {
        "add" => Ewise::Bin(Binary::Add),
        "sub" => Ewise::Bin(Binary::Sub),
        "mul" => Ewise::Bin(Binary::Mul),
        "div" => Ewise::Bin(Binary::Div),
        "axpy" => Ewise::Axpy,
        "scale" => Ewise::Scale,
        "clamp" => Ewise::Clamp,
        "cumsum" => Ewise::Cumsum,
        _ => return Err(invalid_arg(format!("unknown element-wise operation {op}"))),
    };
    let x = any_array(env, x, "x", false)?;
    let y = match op {
        Ewise::Bin(_) | Ewise::Axpy => {
            let y = any_array(env, y, "y", false)?;
            if y.len() != x.len() {
                return Err(invalid_arg(format!("x has {} elements but y has {}", x.len(), y.len())));
            }
            if !matches!((&x, &y), (AnyArray::F64(_), AnyArray::F64(_)) | (AnyArray::F32(_), AnyArray::F32(_))) {
                return Err(invalid_arg("x and y must have the same element type"));
            }
            Some(y)
        }
        _ => None,
    };
    if matches!(op, Ewise::Clamp) && (a.is_nan() || b.is_nan() || a > b) {
        return Err(invalid_arg(format!("clamp: need lo <= hi, got lo = {a}, hi = {b}")));
    }
    // The typed-array check first: `out` is given on the hot path, so `undefined` costs the
    // extra `typeof`, not every call.
    let out = match writable(env, out, "out", false) {
        Err(_) if is_nullish(env, out) => None,
        Err(e) => return Err(e),
        Ok(o) => {
            if !same_type(&x, &o) {
                return Err(invalid_arg("out must have the same element type as x"));
            }
            if o.len() != x.len() {
                return Err(invalid_arg(format!("out has {} elements but x has {}", o.len(), x.len())));
            }
            for input in std::iter::once(&x).chain(y.as_ref()) {
                if overlaps(o.span(), input.span()) && o.span() != input.span() {
                    return Err(invalid_arg("out overlaps an input without being that same array"));
                }
            }
            Some(o)
        }
    };
    Ok(EwiseCall { op, x, y, a, b, out })
}

fn ewise_slices<T: kernels::Element>(ctx: &JobCtx, op: Ewise, (a, b): (f64, f64), xs: kernels::Src<T>, ys: Option<kernels::Src<T>>, out: &mut [T]) -> CoreResult<()> {
    use kernels::Src;
    match op {
        Ewise::Bin(op) => kernels::binary(ctx, op, xs, ys.unwrap_or(Src::Out), out),
        Ewise::Axpy => kernels::axpy(ctx, a, xs, ys.unwrap_or(Src::Out), out),
        Ewise::Scale => kernels::scale(ctx, a, xs, out),
        Ewise::Clamp => kernels::clamp(ctx, a, b, xs, out),
        Ewise::Cumsum => kernels::cumsum(
            ctx,
            match xs {
                Src::Slice(s) => Some(s),
                Src::Out => None,
            },
            out,
        ),
    }
}

/// An input that is `out` itself is read from `out` (`Src::Out`): no shared slice of it is made
/// while the mutable one exists.
fn src_of<T>(b: &Borrowed<T>, out: (usize, usize)) -> kernels::Src<'_, T> {
    if b.len() > 0 && span(b.as_slice()) == out {
        kernels::Src::Out
    } else {
        kernels::Src::Slice(b.as_slice())
    }
}

macro_rules! ewise_typed {
    ($ctx:expr, $c:expr, $x:expr, $variant:ident, $out:expr, $o_span:expr) => {{
        let o_span = $o_span;
        let xs = src_of($x, o_span);
        let ys = match &$c.y {
            Some(AnyArray::$variant(y)) => Some(src_of(y, o_span)),
            _ => None,
        };
        ewise_slices($ctx, $c.op, ($c.a, $c.b), xs, ys, $out)
    }};
}

/// What an element-wise job made: nothing (it wrote the caller's `out`) or a new array. Small,
/// unlike `JsOutput`, which the Sync path would otherwise move through every layer.
pub(crate) enum Ewised {
    IntoOut,
    F64(Vec<f64>),
    F32(Vec<f32>),
}

impl From<Ewised> for JsOutput {
    fn from(e: Ewised) -> JsOutput {
        match e {
            Ewised::IntoOut => JsOutput::Undefined,
            Ewised::F64(v) => JsOutput::F64Array(v),
            Ewised::F32(v) => JsOutput::F32Array(v),
        }
    }
}

fn ewise_job(ctx: &JobCtx, mut c: EwiseCall) -> CoreResult<Ewised> {
    let n = c.x.len();
    let out = c.out.take();
    match (&c.x, out) {
        (AnyArray::F64(x), Some(AnyOut::F64(mut o))) => {
            let sp = o.span();
            ewise_typed!(ctx, c, x, F64, o.as_mut_slice(), sp)?;
            Ok(Ewised::IntoOut)
        }
        (AnyArray::F32(x), Some(AnyOut::F32(mut o))) => {
            let sp = o.span();
            ewise_typed!(ctx, c, x, F32, o.as_mut_slice(), sp)?;
            Ok(Ewised::IntoOut)
        }
        (AnyArray::F64(x), None) => {
            let mut v = zeroed::<f64>(n)?;
            ewise_typed!(ctx, c, x, F64, &mut v, (0, 0))?;
            Ok(Ewised::F64(v))
        }
        (AnyArray::F32(x), None) => {
            let mut v = zeroed::<f32>(n)?;
            ewise_typed!(ctx, c, x, F32, &mut v, (0, 0))?;
            Ok(Ewised::F32(v))
        }
        _ => Err(offloop_core::error::CoreError::invalid_arg("element types checked by ewise_args")),
    }
}

/// Element-wise operations by name: add, sub, mul, div (x, y), axpy (a * x + y), scale (a * x),
/// clamp (x into [a, b]), cumsum (x). `out` undefined: a new array is returned; otherwise the
/// result goes into `out` (which may be x or y itself) and undefined is returned.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn elementwise_submit(env: Env, id: u32, op: String, x: Unknown, y: Unknown, a: f64, b: f64, out: Unknown, cancellable: bool) -> napi::Result<()> {
    let call = ewise_args(&env, &op, &x, &y, a, b, &out)?;
    submit(&env, id, cancellable, move |ctx| ewise_job(ctx, call).map(JsOutput::from))
}

/// Raw callback body (see `fast.rs`).
pub(crate) fn elementwise_sync(env: &Env, op: &str, x: &Unknown, y: &Unknown, a: f64, b: f64, out: &Unknown) -> napi::Result<Ewised> {
    let call = ewise_args(env, op, x, y, a, b, out)?;
    run_catching(|| ewise_job(&JobCtx::inline(), call)).map_err(to_napi)
}

enum SortCall {
    Copy(AnyArray),
    InPlace(AnyOut),
    Argsort(AnyArray),
}

fn sort_args(env: &Env, op: &str, x: &Unknown, in_place: bool) -> napi::Result<SortCall> {
    match (op, in_place) {
        ("sort", false) => Ok(SortCall::Copy(any_array(env, x, "x", true)?)),
        ("sort", true) => {
            any_array(env, x, "x", true)?;
            Ok(SortCall::InPlace(writable(env, x, "x", true)?))
        }
        ("argsort", _) => Ok(SortCall::Argsort(any_array(env, x, "x", true)?)),
        _ => Err(invalid_arg(format!("unknown sort operation {op}"))),
    }
}

fn sort_job(ctx: &JobCtx, call: SortCall) -> CoreResult<JsOutput> {
    fn copy<T: kernels::SortKey + ZeroBits>(ctx: &JobCtx, x: &[T]) -> CoreResult<Vec<T>> {
        // Zeroed (fresh, untouched pages): the sort writes every element once, in parallel.
        let mut v = zeroed::<T>(x.len())?;
        kernels::sort(ctx, Some(x), &mut v)?;
        Ok(v)
    }
    Ok(match call {
        SortCall::Copy(AnyArray::F64(x)) => JsOutput::F64Array(copy(ctx, x.as_slice())?),
        SortCall::Copy(AnyArray::F32(x)) => JsOutput::F32Array(copy(ctx, x.as_slice())?),
        SortCall::Copy(AnyArray::I32(x)) => JsOutput::I32Array(copy(ctx, x.as_slice())?),
        SortCall::InPlace(mut o) => {
            match &mut o {
                AnyOut::F64(w) => kernels::sort(ctx, None, w.as_mut_slice())?,
                AnyOut::F32(w) => kernels::sort(ctx, None, w.as_mut_slice())?,
                AnyOut::I32(w) => kernels::sort(ctx, None, w.as_mut_slice())?,
            }
            JsOutput::Undefined
        }
        SortCall::Argsort(x) => JsOutput::U32Array(match &x {
            AnyArray::F64(b) => kernels::argsort(ctx, b.as_slice())?,
            AnyArray::F32(b) => kernels::argsort(ctx, b.as_slice())?,
            AnyArray::I32(b) => kernels::argsort(ctx, b.as_slice())?,
        }),
    })
}

/// `sort` (a new sorted array, or undefined after sorting `x` in place) or `argsort` (Uint32Array).
#[napi]
pub fn sort_submit(env: Env, id: u32, op: String, x: Unknown, in_place: bool, cancellable: bool) -> napi::Result<()> {
    let call = sort_args(&env, &op, &x, in_place)?;
    submit(&env, id, cancellable, move |ctx| sort_job(ctx, call))
}

#[napi]
pub fn sort_sync(env: Env, op: String, x: Unknown, in_place: bool) -> napi::Result<JsOutput> {
    let call = sort_args(&env, &op, &x, in_place)?;
    inline(|ctx| sort_job(ctx, call))
}

fn quantile_job(ctx: &JobCtx, x: &AnyArray, qs: &[f64]) -> CoreResult<JsOutput> {
    Ok(JsOutput::F64Array(match x {
        AnyArray::F64(b) => kernels::quantile(ctx, b.as_slice(), qs)?,
        AnyArray::F32(b) => kernels::quantile(ctx, b.as_slice(), qs)?,
        AnyArray::I32(b) => kernels::quantile(ctx, b.as_slice(), qs)?,
    }))
}

/// Quantiles (numpy's linear interpolation) of `x` at each of `qs`, as a Float64Array.
#[napi]
pub fn quantile_submit(env: Env, id: u32, x: Unknown, qs: Vec<f64>, cancellable: bool) -> napi::Result<()> {
    let x = any_array(&env, &x, "x", true)?;
    submit(&env, id, cancellable, move |ctx| quantile_job(ctx, &x, &qs))
}

#[napi]
pub fn quantile_sync(env: Env, x: Unknown, qs: Vec<f64>) -> napi::Result<JsOutput> {
    let x = any_array(&env, &x, "x", true)?;
    inline(|ctx| quantile_job(ctx, &x, &qs))
}

fn histogram_job(ctx: &JobCtx, x: &AnyArray, bins: usize, range: Option<(f64, f64)>) -> CoreResult<JsOutput> {
    fn run<T: kernels::Element>(ctx: &JobCtx, x: &[T], bins: usize, range: Option<(f64, f64)>) -> CoreResult<JsOutput> {
        let (mut lo, mut hi) = match range {
            Some(r) => r,
            None if x.is_empty() => (0.0, 1.0),
            None => {
                let m = kernels::minmax(ctx, x)?;
                if !(m.min.is_finite() && m.max.is_finite()) {
                    return Err(offloop_core::error::CoreError::invalid_arg(
                        "histogram: x holds NaN or infinities; give an explicit range",
                    ));
                }
                (m.min, m.max)
            }
        };
        if lo == hi {
            // numpy widens an empty range by 0.5 each way.
            lo -= 0.5;
            hi += 0.5;
        }
        if !(hi - lo).is_finite() {
            return Err(offloop_core::error::CoreError::invalid_arg(format!(
                "histogram: the range [{lo:e}, {hi:e}] is wider than a double can hold (hi - lo overflows)"
            )));
        }
        let (counts, edges) = kernels::histogram(ctx, x, bins, lo, hi)?;
        Ok(JsOutput::F64ArrayPair(counts, edges))
    }
    match x {
        AnyArray::F64(b) => run(ctx, b.as_slice(), bins, range),
        AnyArray::F32(b) => run(ctx, b.as_slice(), bins, range),
        AnyArray::I32(b) => run(ctx, b.as_slice(), bins, range),
    }
}

/// The input, the bin count and the explicit range, if any.
type HistogramArgs = (AnyArray, usize, Option<(f64, f64)>);

fn histogram_args(env: &Env, x: &Unknown, bins: f64, lo: f64, hi: f64, has_range: bool) -> napi::Result<HistogramArgs> {
    let x = any_array(env, x, "x", true)?;
    if !((1.0..=1e8).contains(&bins) && bins.fract() == 0.0) {
        return Err(invalid_arg(format!("bins must be an integer in [1, 1e8], got {}", js_number(bins))));
    }
    if has_range && !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(invalid_arg(format!("range must be finite [lo, hi] with lo <= hi, got [{}, {}]", js_number(lo), js_number(hi))));
    }
    Ok((x, bins as usize, has_range.then_some((lo, hi))))
}

/// `[counts, edges]` as two Float64Arrays (numpy's histogram: the last bin is closed).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn histogram_submit(env: Env, id: u32, x: Unknown, bins: f64, lo: f64, hi: f64, has_range: bool, cancellable: bool) -> napi::Result<()> {
    let (x, bins, range) = histogram_args(&env, &x, bins, lo, hi, has_range)?;
    submit(&env, id, cancellable, move |ctx| histogram_job(ctx, &x, bins, range))
}

#[napi]
pub fn histogram_sync(env: Env, x: Unknown, bins: f64, lo: f64, hi: f64, has_range: bool) -> napi::Result<JsOutput> {
    let (x, bins, range) = histogram_args(&env, &x, bins, lo, hi, has_range)?;
    inline(|ctx| histogram_job(ctx, &x, bins, range))
}

struct MatCall {
    a: AnyArray,
    b: AnyArray,
    dims: (usize, usize, usize),
    out: Option<AnyOut>,
}

fn dim(v: f64, name: &str) -> napi::Result<usize> {
    if v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(31) {
        Ok(v as usize)
    } else {
        Err(invalid_arg(format!("{name} must be an integer from 0 to 2^31, got {}", js_number(v))))
    }
}

/// `b` is k x n (matmul) or the vector `x` of k (matvec, n = 1); errors name matvec's own
/// arguments.
fn mat_args(env: &Env, a: &Unknown, b: &Unknown, (m, k, n): (f64, f64, f64), out: &Unknown, vector: bool) -> napi::Result<MatCall> {
    let (m, k, n) = (dim(m, "m")?, dim(k, "k")?, dim(n, "n")?);
    let bn = if vector { "x" } else { "b" };
    let a = any_array(env, a, "a", false)?;
    let b = any_array(env, b, bn, false)?;
    if !matches!((&a, &b), (AnyArray::F64(_), AnyArray::F64(_)) | (AnyArray::F32(_), AnyArray::F32(_))) {
        return Err(invalid_arg(format!("a and {bn} must have the same element type")));
    }
    // Each product is below 2^62 (every dimension is at most 2^31), so none overflows; the
    // output, which a call without `out` allocates, must also fit a typed array.
    if a.len() != m * k {
        return Err(invalid_arg(format!("a has {} elements, expected m * k = {}", a.len(), m * k)));
    }
    if b.len() != k * n {
        let want = if vector { "k" } else { "k * n" };
        return Err(invalid_arg(format!("{bn} has {} elements, expected {want} = {}", b.len(), k * n)));
    }
    if m * n > MAX_OUTPUT_ELEMENTS {
        return Err(invalid_arg(format!("the result would have m * n = {} elements, more than a typed array holds ({MAX_OUTPUT_ELEMENTS})", m * n)));
    }
    let out = if is_nullish(env, out) {
        None
    } else {
        let o = writable(env, out, "out", false)?;
        if !same_type(&a, &o) {
            return Err(invalid_arg("out must have the same element type as a"));
        }
        if o.len() != m * n {
            let want = if vector { "m" } else { "m * n" };
            return Err(invalid_arg(format!("out has {} elements, expected {want} = {}", o.len(), m * n)));
        }
        if overlaps(o.span(), a.span()) || overlaps(o.span(), b.span()) {
            return Err(invalid_arg(format!("out must not overlap a or {bn}")));
        }
        Some(o)
    };
    Ok(MatCall { a, b, dims: (m, k, n), out })
}

/// The most elements a kernel allocates for a result: what one typed array may hold in Node 20
/// (`buffer.constants.MAX_LENGTH` bytes for a byte array).
const MAX_OUTPUT_ELEMENTS: usize = (1 << 32) - 1;

/// Element types whose all-zero bit pattern is the value 0.
trait ZeroBits: Copy {}
impl ZeroBits for f64 {}
impl ZeroBits for f32 {}
impl ZeroBits for i32 {}

/// A zero-filled result vector of `len` elements, or `ERR_INVALID_ARG` when the memory cannot be
/// had (where `vec![0.0; len]` would abort the process). Zeroed by the allocator, like `vec!`, so
/// a large result costs no writes here.
fn zeroed<T: ZeroBits>(len: usize) -> CoreResult<Vec<T>> {
    let fail = || offloop_core::error::CoreError::invalid_arg(format!("cannot allocate a result of {len} elements"));
    let layout = std::alloc::Layout::array::<T>(len).map_err(|_| fail())?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(fail());
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `[T; len]`, and all
    // `len` elements are initialized: zero bits are the value 0 for every `ZeroBits` type.
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

fn mat_job(ctx: &JobCtx, mut c: MatCall, vector: bool) -> CoreResult<JsOutput> {
    fn run<T: kernels::MatElem>(ctx: &JobCtx, a: &[T], b: &[T], (m, k, n): (usize, usize, usize), out: &mut [T], vector: bool) -> CoreResult<()> {
        if vector {
            kernels::matvec(ctx, a, b, (m, k), out)
        } else {
            kernels::matmul(ctx, a, b, (m, k, n), out)
        }
    }
    let size = c.dims.0 * c.dims.2;
    match (&c.a, &c.b, c.out.as_mut()) {
        (AnyArray::F64(a), AnyArray::F64(b), Some(AnyOut::F64(o))) => {
            run(ctx, a.as_slice(), b.as_slice(), c.dims, o.as_mut_slice(), vector)?;
            Ok(JsOutput::Undefined)
        }
        (AnyArray::F32(a), AnyArray::F32(b), Some(AnyOut::F32(o))) => {
            run(ctx, a.as_slice(), b.as_slice(), c.dims, o.as_mut_slice(), vector)?;
            Ok(JsOutput::Undefined)
        }
        (AnyArray::F64(a), AnyArray::F64(b), None) => {
            let mut v = zeroed(size)?;
            run(ctx, a.as_slice(), b.as_slice(), c.dims, &mut v, vector)?;
            Ok(JsOutput::F64Array(v))
        }
        (AnyArray::F32(a), AnyArray::F32(b), None) => {
            let mut v = zeroed(size)?;
            run(ctx, a.as_slice(), b.as_slice(), c.dims, &mut v, vector)?;
            Ok(JsOutput::F32Array(v))
        }
        _ => Err(offloop_core::error::CoreError::invalid_arg("element types checked by mat_args")),
    }
}

/// `a` (m x k) times `b` (k x n), row-major; into `out` (undefined returned) or a new array.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn matmul_submit(env: Env, id: u32, a: Unknown, b: Unknown, m: f64, k: f64, n: f64, out: Unknown, cancellable: bool) -> napi::Result<()> {
    let call = mat_args(&env, &a, &b, (m, k, n), &out, false)?;
    submit(&env, id, cancellable, move |ctx| mat_job(ctx, call, false))
}

#[napi]
#[allow(clippy::too_many_arguments)]
pub fn matmul_sync(env: Env, a: Unknown, b: Unknown, m: f64, k: f64, n: f64, out: Unknown) -> napi::Result<JsOutput> {
    let call = mat_args(&env, &a, &b, (m, k, n), &out, false)?;
    inline(|ctx| mat_job(ctx, call, false))
}

/// `a` (m x k) times the vector `x` (k).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn matvec_submit(env: Env, id: u32, a: Unknown, x: Unknown, m: f64, k: f64, out: Unknown, cancellable: bool) -> napi::Result<()> {
    let call = mat_args(&env, &a, &x, (m, k, 1.0), &out, true)?;
    submit(&env, id, cancellable, move |ctx| mat_job(ctx, call, true))
}

#[napi]
pub fn matvec_sync(env: Env, a: Unknown, x: Unknown, m: f64, k: f64, out: Unknown) -> napi::Result<JsOutput> {
    let call = mat_args(&env, &a, &x, (m, k, 1.0), &out, true)?;
    inline(|ctx| mat_job(ctx, call, true))
}

/// Benchmark probes (not public API): "read" (x), "triad" (out = x + a * y), "fma" (tasks = a,
/// rounds = b; returns the flops done).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn kernel_probe_submit(env: Env, id: u32, op: String, x: Unknown, y: Unknown, out: Unknown, a: f64, b: f64) -> napi::Result<()> {
    match op.as_str() {
        "read" => {
            let AnyArray::F64(x) = any_array(&env, &x, "x", false)? else { return Err(invalid_arg("x: Float64Array")) };
            submit(&env, id, false, move |ctx| Ok(JsOutput::Number(kernels::read_probe(ctx, x.as_slice())?)))
        }
        "triad" => {
            let (AnyArray::F64(x), AnyArray::F64(y), AnyOut::F64(mut o)) =
                (any_array(&env, &x, "x", false)?, any_array(&env, &y, "y", false)?, writable(&env, &out, "out", false)?)
            else {
                return Err(invalid_arg("triad: Float64Arrays"));
            };
            if x.len() != o.len || y.len() != o.len || overlaps(o.span(), span(x.as_slice())) || overlaps(o.span(), span(y.as_slice())) {
                return Err(invalid_arg("triad: equal lengths, out apart from x and y"));
            }
            submit(&env, id, false, move |ctx| {
                kernels::triad_probe(ctx, o.as_mut_slice(), x.as_slice(), y.as_slice(), a)?;
                Ok(JsOutput::Undefined)
            })
        }
        "fma" => submit(&env, id, false, move |ctx| Ok(JsOutput::Number(kernels::fma_peak_probe(ctx, a as usize, b as u64)?))),
        _ => Err(invalid_arg(format!("unknown probe {op}"))),
    }
}
