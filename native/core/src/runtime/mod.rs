//! The runtime: one process-wide pool of native threads, a bounded submission count, one completion
//! queue, and the cancel state machine that decides whether a job runs, stops early or never starts.

mod cancel;
mod completion;
mod ctx;
mod pool;

pub use cancel::{CancelOutcome, JobState};
pub use completion::CompletionQueue;
pub use ctx::JobCtx;
pub use pool::{install_panic_hook, run_catching, Completion, Outcome, Runtime, RuntimeStats, ThreadPriority};
