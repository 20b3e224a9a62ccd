//! The hot Sync kernels as raw Node-API callbacks: `sumSync`, `dotSync`, and one function per
//! reduction (`syncMean`, ...) and per element-wise operation (`syncAdd`, ...), so no call passes
//! an operation name (reading a JS string was a tenth of a small call).
//!
//! The wrappers `#[napi]` generates keep a per-call native-borrow scope (a mutex-guarded map, an
//! `Arc`, thread-local vectors) and convert every argument through the generic machinery. For a
//! kernel over 4 096 doubles that wrapper cost about as much as the kernel itself (measured with
//! `perf`: about 40 % of a `sumSync` call on 16 elements). These callbacks read their arguments
//! with one `napi_get_cb_info`, run the same argument checks and the same core function as the
//! other bindings, and throw the same "ERR_X: ..." errors that lib/runtime.ts turns into
//! `OffloopError`s.

use crate::args::{typed_view, ElementKind};
use crate::errors::invalid_arg;
use crate::kernels::{dot_sync, elementwise_sync, Ewised, Reduce, reduce_number_sync, reduce_sync, sum_sync, SCALAR_REDUCE};
use crate::output::{number, JsOutput, Placement};
use napi::bindgen_prelude::{Env, Object};
use napi::{sys, JsValue, Unknown};
use napi_derive::napi;
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

const MAX_ARGS: usize = 6;

/// The arguments of one call; missing ones read as `undefined` (Node-API fills them in).
struct Args {
    env: sys::napi_env,
    argv: [sys::napi_value; MAX_ARGS],
}

impl Args {
    fn value(&self, i: usize) -> Unknown<'_> {
        // SAFETY: argv[i] is a live handle of this callback's scope (filled by napi_get_cb_info).
        unsafe { Unknown::from_raw_unchecked(self.env, self.argv[i]) }
    }

    fn number(&self, i: usize, name: &str) -> napi::Result<f64> {
        let mut v = 0.0;
        // SAFETY: live handles; the out-pointer is a local.
        let status = unsafe { sys::napi_get_value_double(self.env, self.argv[i], &mut v) };
        if status != sys::Status::napi_ok {
            return Err(crate::errors::invalid_arg(format!("{name} must be a number")));
        }
        Ok(v)
    }
}

type Body = fn(&Env, &Args) -> napi::Result<sys::napi_value>;

/// These callbacks run on the JS thread: their results are `Owned` (see `Placement`).
fn to_js(env: &Env, out: JsOutput) -> napi::Result<sys::napi_value> {
    out.into_js(env.raw(), Placement::Owned)
}

fn sum_body(env: &Env, a: &Args) -> napi::Result<sys::napi_value> {
    number(env.raw(), sum_sync(env, &a.value(0))?)
}

fn dot_body(env: &Env, a: &Args) -> napi::Result<sys::napi_value> {
    number(env.raw(), dot_sync(env, &a.value(0), &a.value(1))?)
}

/// The scalar reductions with a function each, by position (`reduce_body::<I>` runs
/// `SCALAR_REDUCE[I]`).
fn reduce_body<const OP: usize>(env: &Env, a: &Args) -> napi::Result<sys::napi_value> {
    // Only variance and std take `ddof`; the others skip reading it (one Node-API call less).
    let ddof = if matches!(SCALAR_REDUCE[OP], Reduce::Variance | Reduce::Std) { a.number(1, "ddof")? } else { 0.0 };
    number(env.raw(), reduce_number_sync(env, SCALAR_REDUCE[OP], &a.value(0), ddof)?)
}

fn minmax_body(env: &Env, a: &Args) -> napi::Result<sys::napi_value> {
    to_js(env, reduce_sync(env, "minmax", &a.value(0), 0.0)?)
}

/// `minmax` written into `pair` (a Float64Array of 2, reused by the caller) instead of a new JS
/// array: measured 1.77 µs a call for 4 096 doubles through the array against 1.19 µs for
/// `argmin`, whose result is one number.
fn minmax_into_body(env: &Env, a: &Args) -> napi::Result<sys::napi_value> {
    let pair = typed_view(env, &a.value(1), "pair", "a Float64Array")?;
    let (data, len) = pair.raw_parts();
    if pair.kind != ElementKind::F64 || len < 2 {
        return Err(invalid_arg("pair must be a Float64Array of at least 2"));
    }
    let JsOutput::Pair(min, max) = reduce_sync(env, "minmax", &a.value(0), 0.0)? else {
        return Err(invalid_arg("minmax gave no pair"));
    };
    // SAFETY: `pair` is a live Float64Array of at least 2 elements (checked above); nothing else
    // runs on this thread while the callback writes it.
    unsafe {
        let out = data.cast::<f64>();
        out.write_unaligned(min);
        out.add(1).write_unaligned(max);
    }
    Ok(ptr::null_mut())
}

/// The element-wise operations with a function each: `(x, y, a, b, out)` for all of them.
const ELEMENTWISE: [&str; 8] = ["add", "sub", "mul", "div", "axpy", "scale", "clamp", "cumsum"];

/// Which of the scalars `(a, b)` each element-wise operation uses: the others are not read (each
/// Node-API call is tens of ns, a tenth of a 4 096-element `add`).
const ELEMENTWISE_SCALARS: [(bool, bool); 8] =
    [(false, false), (false, false), (false, false), (false, false), (true, false), (true, false), (true, true), (false, false)];

fn elementwise_body<const OP: usize>(env: &Env, a: &Args) -> napi::Result<sys::napi_value> {
    let (x, y, out) = (a.value(0), a.value(1), a.value(4));
    let (uses_a, uses_b) = ELEMENTWISE_SCALARS[OP];
    let alpha = if uses_a { a.number(2, "a")? } else { 0.0 };
    let beta = if uses_b { a.number(3, "b")? } else { 0.0 };
    match elementwise_sync(env, ELEMENTWISE[OP], &x, &y, alpha, beta, &out)? {
        // A null result is `undefined` in JS (Node-API sets no return value): one call less.
        Ewised::IntoOut => Ok(ptr::null_mut()),
        made => to_js(env, made.into()),
    }
}

fn throw(env: sys::napi_env, message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: env is the live environment of this callback; text is NUL-terminated.
    unsafe { sys::napi_throw_error(env, ptr::null(), text.as_ptr()) };
}

/// The one C entry point; `data` carries the `Body` to run.
unsafe extern "C" fn trampoline(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut args = Args { env, argv: [ptr::null_mut(); MAX_ARGS] };
    let mut argc = MAX_ARGS;
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: env/info are this callback's; argv has room for argc handles.
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, args.argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok {
        throw(env, "ERR_NATIVE_PANIC: could not read the call's arguments");
        return ptr::null_mut();
    }
    // SAFETY: `register` created this function with a `Body` function pointer as its data.
    let body: Body = unsafe { std::mem::transmute::<*mut c_void, Body>(data) };
    let env_ = Env::from_raw(env);
    // Unwinding must not cross the C boundary; kernel panics are already caught inside `inline`.
    match catch_unwind(AssertUnwindSafe(|| body(&env_, &args))) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            throw(env, &e.reason);
            ptr::null_mut()
        }
        Err(_) => {
            throw(env, "ERR_NATIVE_PANIC: native panic while reading arguments");
            ptr::null_mut()
        }
    }
}

/// Adds the raw functions to the module's exports.
#[napi(module_exports)]
pub fn register_fast_kernels(exports: Object, env: Env) -> napi::Result<()> {
    let table: [(&str, Body); 19] = [
        ("sumSync", sum_body),
        ("dotSync", dot_body),
        ("syncMean", reduce_body::<0>),
        ("syncVariance", reduce_body::<1>),
        ("syncStd", reduce_body::<2>),
        ("syncNorm2", reduce_body::<3>),
        ("syncArgmin", reduce_body::<4>),
        ("syncArgmax", reduce_body::<5>),
        ("syncMinmax", minmax_body),
        ("syncMinmaxInto", minmax_into_body),
        ("syncExactSum", reduce_body::<6>),
        ("syncAdd", elementwise_body::<0>),
        ("syncSub", elementwise_body::<1>),
        ("syncMul", elementwise_body::<2>),
        ("syncDiv", elementwise_body::<3>),
        ("syncAxpy", elementwise_body::<4>),
        ("syncScale", elementwise_body::<5>),
        ("syncClamp", elementwise_body::<6>),
        ("syncCumsum", elementwise_body::<7>),
    ];
    for (name, body) in table {
        let mut f = ptr::null_mut();
        // SAFETY: env is live during module registration; the name is passed with its length; the
        // data pointer is a plain function pointer that lives for the whole process.
        let status = unsafe {
            sys::napi_create_function(env.raw(), name.as_ptr().cast(), name.len() as isize, Some(trampoline), body as *mut c_void, &mut f)
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("could not create {name}")));
        }
        let key = CString::new(name).expect("no NUL in names");
        // SAFETY: exports is the live exports object; f was just created.
        let status = unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), key.as_ptr(), f) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("could not export {name}")));
        }
    }
    Ok(())
}
