//! The process-wide pool (rayon, built lazily, never libuv's) and the job life cycle around it:
//! bounded admission, cancel-before-start, panic capture, one completion per started job.

use super::cancel::{CancelOutcome, JobState};
use super::completion::CompletionQueue;
use super::ctx::JobCtx;
use crate::error::{CoreError, CoreResult, ErrorCode};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_QUEUE: usize = 65_536;

/// A finished job, as the JS thread receives it.
pub struct Completion<T> {
    pub id: u32,
    pub outcome: CoreResult<T>,
}

pub type Outcome<T> = CoreResult<T>;

/// Busy nanoseconds per pool thread.
pub struct BusyClock {
    ns: Box<[AtomicU64]>,
}

impl BusyClock {
    fn new(threads: usize) -> Self {
        BusyClock { ns: (0..threads).map(|_| AtomicU64::new(0)).collect() }
    }

    pub(crate) fn charge(&self, thread: usize, d: Duration) {
        if let Some(slot) = self.ns.get(thread) {
            slot.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    fn millis(&self) -> Vec<f64> {
        self.ns.iter().map(|n| n.load(Ordering::Relaxed) as f64 / 1e6).collect()
    }
}

#[derive(Clone, Debug)]
pub struct RuntimeStats {
    pub threads: usize,
    pub started: bool,
    pub queued: usize,
    pub running: usize,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub busy_ms: Vec<f64>,
    pub priority: ThreadPriority,
}

struct Started {
    pool: ThreadPool,
    busy: BusyClock,
}

pub struct Runtime<T: Send + 'static> {
    started: OnceLock<Started>,
    requested_threads: Mutex<Option<usize>>,
    requested_priority: Mutex<Option<ThreadPriority>>,
    default_threads: AtomicUsize,
    max_queue: AtomicUsize,
    queued: AtomicUsize,
    running: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    completions: CompletionQueue<Completion<T>>,
}

impl<T: Send + 'static> Runtime<T> {
    /// `wake` is called (from a worker) whenever the completion queue goes from empty to non-empty.
    pub fn new(wake: Box<dyn Fn() + Send + Sync>) -> Self {
        Runtime {
            started: OnceLock::new(),
            requested_threads: Mutex::new(None),
            requested_priority: Mutex::new(None),
            default_threads: AtomicUsize::new(
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            ),
            max_queue: AtomicUsize::new(DEFAULT_MAX_QUEUE),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            completions: CompletionQueue::new(wake),
        }
    }

    pub fn is_started(&self) -> bool {
        self.started.get().is_some()
    }

    /// The thread count used when neither `set_threads` nor `OFFLOOP_THREADS` says otherwise.
    pub fn set_default_threads(&self, n: usize) {
        self.default_threads.store(n.max(1), Ordering::Relaxed);
    }

    /// Fixes the pool size. Only possible before the pool has started.
    pub fn set_threads(&self, n: usize) -> CoreResult<()> {
        if n == 0 || n > 1024 {
            return Err(CoreError::invalid_arg(format!("threads must be between 1 and 1024, got {n}")));
        }
        let mut requested = self.requested_threads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = self.started.get() {
            if s.pool.current_num_threads() == n {
                return Ok(());
            }
            return Err(CoreError::invalid_arg(format!(
                "configure({{ threads: {n} }}) came after the pool started with {} threads; \
                 call configure before the first offloaded job (or set OFFLOOP_THREADS)",
                s.pool.current_num_threads()
            )));
        }
        *requested = Some(n);
        Ok(())
    }

    /// Sets the pool threads' scheduling priority. Only possible before the pool has started.
    pub fn set_priority(&self, priority: ThreadPriority) -> CoreResult<()> {
        let mut requested = self.requested_priority.lock().unwrap_or_else(|p| p.into_inner());
        if self.started.get().is_some() {
            if *requested == Some(priority) || (requested.is_none() && priority == self.thread_priority_default()) {
                return Ok(());
            }
            return Err(CoreError::invalid_arg(
                "configure({ threadPriority }) came after the pool started; call configure before the first offloaded job",
            ));
        }
        *requested = Some(priority);
        Ok(())
    }

    fn thread_priority_default(&self) -> ThreadPriority {
        std::env::var("OFFLOOP_PRIORITY").ok().and_then(|v| ThreadPriority::parse(&v)).unwrap_or(ThreadPriority::Idle)
    }

    fn thread_priority(&self) -> ThreadPriority {
        let requested = *self.requested_priority.lock().unwrap_or_else(|p| p.into_inner());
        requested.unwrap_or_else(|| self.thread_priority_default())
    }

    pub fn set_max_queue(&self, n: usize) -> CoreResult<()> {
        if n == 0 {
            return Err(CoreError::invalid_arg("maxQueue must be at least 1"));
        }
        self.max_queue.store(n, Ordering::Relaxed);
        Ok(())
    }

    fn thread_count(&self) -> usize {
        let requested = *self.requested_threads.lock().unwrap_or_else(|p| p.into_inner());
        requested
            .or_else(|| {
                std::env::var("OFFLOOP_THREADS").ok()?.trim().parse::<usize>().ok().filter(|&n| n > 0)
            })
            .unwrap_or_else(|| self.default_threads.load(Ordering::Relaxed))
            .clamp(1, 1024)
    }

    fn started(&self) -> CoreResult<&Started> {
        if let Some(s) = self.started.get() {
            return Ok(s);
        }
        let threads = self.thread_count();
        let priority = self.thread_priority();
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("offloop-{i}"))
            .start_handler(move |_| priority.apply())
            // Jobs catch their own panics; this handler only guarantees that nothing which escapes
            // them can abort the process.
            .panic_handler(|_| {})
            .build()
            .map_err(|e| CoreError::new(ErrorCode::NativePanic, format!("could not start the pool: {e}")))?;
        Ok(self.started.get_or_init(|| Started { pool, busy: BusyClock::new(threads) }))
    }

    /// Starts the pool now if it has not started yet.
    pub fn start(&self) -> CoreResult<usize> {
        Ok(self.started()?.pool.current_num_threads())
    }

    /// Queues `job` on the pool. Its completion arrives through the completion queue with `id`,
    /// unless `state` is cancelled before the job starts (then nothing arrives: see `cancel`).
    pub fn submit<F>(&'static self, id: u32, state: Arc<JobState>, job: F) -> CoreResult<()>
    where
        F: FnOnce(&JobCtx) -> CoreResult<T> + Send + 'static,
    {
        let started = self.started()?;
        let max = self.max_queue.load(Ordering::Relaxed);
        if self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| (q < max).then_some(q + 1))
            .is_err()
        {
            return Err(CoreError::new(
                ErrorCode::QueueFull,
                format!("the offloop queue is full ({max} jobs waiting); raise maxQueue or wait for jobs to finish"),
            ));
        }
        started.pool.spawn(move || self.run_job(id, &state, job));
        Ok(())
    }

    fn run_job<F>(&self, id: u32, state: &JobState, job: F)
    where
        F: FnOnce(&JobCtx) -> CoreResult<T>,
    {
        if !state.start() {
            return; // cancelled while queued: the canceller settled it and fixed the counters
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.running.fetch_add(1, Ordering::AcqRel);
        let started = self.started.get().expect("a job runs only on a started pool");
        let t0 = Instant::now();
        let ctx = JobCtx::pooled(state, &started.busy);
        let outcome = run_catching(|| job(&ctx));
        if let Some(i) = rayon::current_thread_index() {
            started.busy.charge(i, t0.elapsed());
        }
        match &outcome {
            Ok(_) => &self.completed,
            Err(e) if e.code == ErrorCode::Aborted => &self.cancelled,
            Err(_) => &self.failed,
        }
        .fetch_add(1, Ordering::Relaxed);
        state.finish();
        self.running.fetch_sub(1, Ordering::AcqRel);
        self.completions.push(Completion { id, outcome });
    }

    /// Cancels a job. `Dropped` means it never ran and no completion will come for it.
    pub fn cancel(&self, state: &JobState) -> CancelOutcome {
        let outcome = state.cancel();
        if outcome == CancelOutcome::Dropped {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    pub fn drain(&self) -> Vec<Completion<T>> {
        self.completions.drain()
    }

    pub fn stats(&self) -> RuntimeStats {
        let started = self.started.get();
        RuntimeStats {
            threads: started.map(|s| s.pool.current_num_threads()).unwrap_or_else(|| self.thread_count()),
            started: started.is_some(),
            queued: self.queued.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            busy_ms: started.map(|s| s.busy.millis()).unwrap_or_default(),
            priority: self.thread_priority(),
        }
    }
}

/// How pool threads are scheduled against the rest of the process (the event loop, libuv's I/O
/// threads) and other processes. On Linux: `Idle` is `SCHED_IDLE` (pool threads get a core only when
/// nothing else wants it, so a saturated pool delays neither timers nor `fs` calls), `Low` is
/// nice +10, `Normal` leaves the process's priority. Elsewhere all three leave the priority as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadPriority {
    Idle,
    Low,
    Normal,
}

impl ThreadPriority {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadPriority::Idle => "idle",
            ThreadPriority::Low => "low",
            ThreadPriority::Normal => "normal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "idle" => Some(ThreadPriority::Idle),
            "low" => Some(ThreadPriority::Low),
            "normal" => Some(ThreadPriority::Normal),
            _ => None,
        }
    }

    /// Applies the priority to the calling thread.
    fn apply(self) {
        #[cfg(target_os = "linux")]
        // SAFETY: plain syscalls on the calling thread (pid 0 / its own tid); failure only leaves
        // the priority unchanged, which is harmless.
        unsafe {
            match self {
                ThreadPriority::Idle => {
                    let param = libc::sched_param { sched_priority: 0 };
                    libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
                }
                ThreadPriority::Low => {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::setpriority(libc::PRIO_PROCESS, tid, 10);
                }
                ThreadPriority::Normal => {}
            }
        }
    }
}

/// Runs `f`, turning a panic into an `ERR_NATIVE_PANIC` error that carries the panic text (and,
/// with `install_panic_hook`, where it happened).
pub fn run_catching<T>(f: impl FnOnce() -> CoreResult<T>) -> CoreResult<T> {
    PANIC_AT.with(|at| at.take());
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let text = panic_text(&*payload);
        let message = match PANIC_AT.with(|at| at.take()) {
            Some(at) => format!("native panic: {text} (at {at})"),
            None => format!("native panic: {text}"),
        };
        Err(CoreError::new(ErrorCode::NativePanic, message))
    })
}

thread_local! {
    /// Where this thread's last panic happened, noted by the hook for `run_catching`.
    static PANIC_AT: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Replaces Rust's default panic hook, which prints every panic (and, with `RUST_BACKTRACE`, a
/// backtrace) on the host process's stderr, by one that only notes where it happened: a panic in
/// a job rejects that job's promise with the text and the place, and a library should not write
/// to a service's stderr on top of that. `OFFLOOP_DEBUG_PANICS=1` keeps the default output too.
/// The hook belongs to this library's copy of the Rust runtime (a cdylib links its own), so it
/// does not touch other native modules. Idempotent.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let verbose = std::env::var_os("OFFLOOP_DEBUG_PANICS").is_some_and(|v| !v.is_empty() && v != "0");
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(at) = info.location() {
                let place = format!("{}:{}", at.file(), at.line());
                PANIC_AT.with(|p| p.set(Some(place)));
            }
            if verbose {
                default(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn runtime() -> (&'static Runtime<u64>, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let rt = Box::leak(Box::new(Runtime::new(Box::new(move || {
            let _ = tx.lock().unwrap().send(());
        }))));
        rt.set_threads(2).unwrap();
        (rt, rx)
    }

    fn collect(rt: &Runtime<u64>, rx: &mpsc::Receiver<()>, n: usize) -> Vec<Completion<u64>> {
        let mut out = Vec::new();
        while out.len() < n {
            rx.recv_timeout(Duration::from_secs(10)).expect("a wake-up");
            out.extend(rt.drain());
        }
        out
    }

    #[test]
    fn every_job_completes_once_and_panics_are_contained() {
        let (rt, rx) = runtime();
        for id in 0..200u32 {
            rt.submit(id, Arc::new(JobState::new()), move |_| {
                if id == 7 {
                    panic!("boom {id}");
                }
                Ok(id as u64 * 2)
            })
            .unwrap();
        }
        let mut done = collect(rt, &rx, 200);
        done.sort_by_key(|c| c.id);
        assert_eq!(done.len(), 200);
        for c in &done {
            if c.id == 7 {
                let e = c.outcome.as_ref().unwrap_err();
                assert_eq!(e.code, ErrorCode::NativePanic);
                assert!(e.message.contains("boom 7"), "{}", e.message);
            } else {
                assert_eq!(*c.outcome.as_ref().unwrap(), c.id as u64 * 2);
            }
        }
        let s = rt.stats();
        assert_eq!((s.completed, s.failed, s.queued, s.running), (199, 1, 0, 0));
    }

    #[test]
    fn queue_bound_and_cancel_before_start() {
        let (rt, rx) = runtime();
        rt.set_max_queue(3).unwrap();
        let gate = Arc::new(std::sync::Barrier::new(3));
        // Occupy both threads so later jobs stay queued.
        for id in 0..2 {
            let g = gate.clone();
            rt.submit(id, Arc::new(JobState::new()), move |_| {
                g.wait();
                Ok(0)
            })
            .unwrap();
        }
        while rt.stats().running < 2 {
            std::thread::yield_now();
        }
        let states: Vec<_> = (0..3).map(|_| Arc::new(JobState::new())).collect();
        for (i, s) in states.iter().enumerate() {
            rt.submit(10 + i as u32, s.clone(), |_| Ok(1)).unwrap();
        }
        let full = rt.submit(99, Arc::new(JobState::new()), |_| Ok(1)).unwrap_err();
        assert_eq!(full.code, ErrorCode::QueueFull);
        assert_eq!(rt.cancel(&states[1]), CancelOutcome::Dropped);
        assert_eq!(rt.stats().queued, 2);
        gate.wait();
        let done = collect(rt, &rx, 4);
        let mut ids: Vec<_> = done.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, 1, 10, 12], "the cancelled job never ran");
        let s = rt.stats();
        assert_eq!((s.completed, s.cancelled, s.queued), (4, 1, 0));
    }

    #[test]
    fn running_job_observes_cancel_at_a_checkpoint() {
        let (rt, rx) = runtime();
        let state = Arc::new(JobState::new());
        rt.submit(1, state.clone(), |ctx| loop {
            ctx.checkpoint()?;
            std::thread::sleep(Duration::from_millis(1));
        })
        .unwrap();
        while rt.stats().running < 1 {
            std::thread::yield_now();
        }
        let t0 = Instant::now();
        assert_eq!(rt.cancel(&state), CancelOutcome::Signalled);
        let done = collect(rt, &rx, 1);
        // The job would loop forever without the checkpoint; the bound is loose because the pool
        // threads run at SCHED_IDLE and other tests (or a build) may hold both cores for a while
        // (50 ms failed once in a CI run with a build beside it).
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(done[0].outcome.as_ref().unwrap_err().code, ErrorCode::Aborted);
        assert_eq!(rt.stats().cancelled, 1);
    }

    #[test]
    fn threads_cannot_change_after_start() {
        let (rt, _rx) = runtime();
        rt.start().unwrap();
        assert!(rt.set_threads(2).is_ok(), "same size is fine");
        assert_eq!(rt.set_threads(3).unwrap_err().code, ErrorCode::InvalidArg);
    }
}
