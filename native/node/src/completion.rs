//! The one completion channel: a single threadsafe function, created at init, wakes the JS thread
//! when the core's completion queue turns non-empty; its callback drains every finished job and
//! hands them to lib/runtime.ts's `settleBatch` as one flat array `[id, ok, value, id, ok, value...]`.
//!
//! The threadsafe function is unreferenced whenever no job is outstanding, so an idle offloop never
//! keeps the process alive. Outstanding-job bookkeeping happens only on the JS thread.

use crate::errors::{invalid_arg, to_napi};
use crate::output::{array, error_to_js, number, JsOutput, Placement};
use napi::bindgen_prelude::{Function, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Status};
use napi_derive::napi;
use offloop_core::error::CoreResult;
use offloop_core::runtime::{CancelOutcome, Completion, JobCtx, JobState, Runtime, ThreadPriority};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

/// The drained completions, converted into JS values when the threadsafe function calls JS.
pub struct Batch(Vec<Completion<JsOutput>>);

impl ToNapiValue for Batch {
    unsafe fn to_napi_value(env: sys::napi_env, batch: Self) -> napi::Result<sys::napi_value> {
        let mut flat = Vec::with_capacity(batch.0.len() * 3);
        for c in batch.0 {
            let mut ok = std::ptr::null_mut();
            sys::napi_get_boolean(env, c.outcome.is_ok(), &mut ok);
            flat.push(number(env, c.id as f64)?);
            flat.push(ok);
            flat.push(match c.outcome {
                Ok(v) => v.into_js(env, Placement::External)?,
                Err(e) => error_to_js(env, &e)?,
            });
        }
        array(env, &flat)
    }
}

type Waker = ThreadsafeFunction<(), napi::Unknown<'static>, Batch, Status, false, true>;

static RUNTIME: OnceLock<Runtime<JsOutput>> = OnceLock::new();
static WAKER: OnceLock<Waker> = OnceLock::new();
/// The JS thread that loaded the module first; the only one it runs on.
static OWNER: OnceLock<std::thread::ThreadId> = OnceLock::new();
static WAKER_RAW: AtomicPtr<napi::sys::napi_threadsafe_function__> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// Jobs submitted and not yet settled (JS thread only).
    static OUTSTANDING: Cell<usize> = const { Cell::new(0) };
    /// Cancel handles of jobs submitted with a signal, by id (JS thread only).
    static CANCELLABLE: RefCell<HashMap<u32, Arc<JobState>>> = RefCell::new(HashMap::new());
}

pub fn runtime() -> napi::Result<&'static Runtime<JsOutput>> {
    RUNTIME.get().ok_or_else(|| invalid_arg("offloop's native runtime was used before init()"))
}

fn set_referenced(env: sys::napi_env, referenced: bool) {
    let raw = WAKER_RAW.load(Ordering::Relaxed);
    if raw.is_null() {
        return;
    }
    // SAFETY: raw is the live threadsafe function created in init(); we are on the JS thread.
    unsafe {
        if referenced {
            sys::napi_ref_threadsafe_function(env, raw);
        } else {
            sys::napi_unref_threadsafe_function(env, raw);
        }
    }
}

/// Binds the completion channel to `settle_batch` and records the default pool size
/// (`os.availableParallelism()`). Called once, by lib/native.ts, when the module loads.
#[napi]
pub fn init(settle_batch: Function<Batch, napi::Unknown<'static>>, default_threads: u32) -> napi::Result<()> {
    // The completion channel, the job ids and the keep-alive count belong to one JS thread: a
    // second one (a worker thread) loading the module would get the first one's completions
    // (wrong results), or settle jobs on a function it does not own (a SIGSEGV). It is refused.
    let me = std::thread::current().id();
    if *OWNER.get_or_init(|| me) != me {
        return Err(napi::Error::new(
            Status::GenericFailure,
            "offloop is already loaded by another thread of this process; it works from one JS thread \
             per process (the first to load it), not from worker threads beside it"
                .to_string(),
        ));
    }
    if WAKER.get().is_some() {
        return Ok(());
    }
    offloop_core::runtime::install_panic_hook();
    let waker: Waker = settle_batch
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(move |ctx| {
            let done = RUNTIME.get().map(|rt| rt.drain()).unwrap_or_default();
            settle_bookkeeping(ctx.env.raw(), &done);
            Ok(Batch(done))
        })?;
    WAKER_RAW.store(waker.raw(), Ordering::Relaxed);
    let _ = WAKER.set(waker);
    let rt = RUNTIME.get_or_init(|| {
        Runtime::new(Box::new(|| {
            if let Some(w) = WAKER.get() {
                w.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        }))
    });
    rt.set_default_threads(default_threads as usize);
    Ok(())
}

fn settle_bookkeeping(env: sys::napi_env, done: &[Completion<JsOutput>]) {
    if done.is_empty() {
        return;
    }
    CANCELLABLE.with(|m| {
        let mut m = m.borrow_mut();
        if !m.is_empty() {
            for c in done {
                m.remove(&c.id);
            }
        }
    });
    let left = OUTSTANDING.with(|o| {
        let left = o.get().saturating_sub(done.len());
        o.set(left);
        left
    });
    if left == 0 {
        set_referenced(env, false);
    }
}

/// Queues `job` under `id`. Called by every `...Submit` binding.
pub fn submit<F>(env: &Env, id: u32, cancellable: bool, job: F) -> napi::Result<()>
where
    F: FnOnce(&JobCtx) -> CoreResult<JsOutput> + Send + 'static,
{
    let rt = runtime()?;
    let state = Arc::new(JobState::new());
    rt.submit(id, state.clone(), job).map_err(to_napi)?;
    if cancellable {
        CANCELLABLE.with(|m| m.borrow_mut().insert(id, state));
    }
    let before = OUTSTANDING.with(|o| {
        let n = o.get();
        o.set(n + 1);
        n
    });
    if before == 0 {
        set_referenced(env.raw(), true);
    }
    Ok(())
}

/// Cancels job `id` (submitted with `cancellable`). Returns true when the job was still queued: it
/// will never run and no completion will come, so the caller settles it now. Otherwise the job
/// stops at its next chunk boundary and settles through its completion (with an abort error).
#[napi]
pub fn cancel(env: Env, id: u32) -> napi::Result<bool> {
    let rt = runtime()?;
    let Some(state) = CANCELLABLE.with(|m| m.borrow().get(&id).cloned()) else {
        return Ok(false);
    };
    if rt.cancel(&state) != CancelOutcome::Dropped {
        return Ok(false);
    }
    CANCELLABLE.with(|m| m.borrow_mut().remove(&id));
    let left = OUTSTANDING.with(|o| {
        let left = o.get().saturating_sub(1);
        o.set(left);
        left
    });
    if left == 0 {
        set_referenced(env.raw(), false);
    }
    Ok(true)
}

#[napi(object)]
pub struct NativeStats {
    pub threads: u32,
    pub started: bool,
    pub queued: u32,
    pub running: u32,
    pub completed: f64,
    pub failed: f64,
    pub cancelled: f64,
    pub busy_ms: Vec<f64>,
    pub simd: String,
    pub priority: String,
}

#[napi]
pub fn stats() -> napi::Result<NativeStats> {
    let s = runtime()?.stats();
    Ok(NativeStats {
        threads: s.threads as u32,
        started: s.started,
        queued: s.queued as u32,
        running: s.running as u32,
        completed: s.completed as f64,
        failed: s.failed as f64,
        cancelled: s.cancelled as f64,
        busy_ms: s.busy_ms,
        simd: offloop_core::simd::level().as_str().to_string(),
        priority: s.priority.as_str().to_string(),
    })
}

#[napi]
pub fn set_threads(threads: u32) -> napi::Result<()> {
    runtime()?.set_threads(threads as usize).map_err(to_napi)
}

/// `priority` is "idle", "low" or "normal" (checked by lib/runtime.ts).
#[napi]
pub fn set_priority(priority: String) -> napi::Result<()> {
    let p = ThreadPriority::parse(&priority).ok_or_else(|| invalid_arg(format!("unknown thread priority {priority:?}")))?;
    runtime()?.set_priority(p).map_err(to_napi)
}

#[napi]
pub fn set_max_queue(max_queue: u32) -> napi::Result<()> {
    runtime()?.set_max_queue(max_queue as usize).map_err(to_napi)
}

/// Starts the pool now (otherwise it starts with the first offloaded job). Returns its size.
#[napi]
pub fn start_pool() -> napi::Result<u32> {
    runtime()?.start().map(|n| n as u32).map_err(to_napi)
}
