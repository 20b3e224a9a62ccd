//! The per-job cancel state machine.
//!
//! ```text
//!  QUEUED ──start()──▶ RUNNING ──finish()──▶ DONE
//!    │                   │
//!    │ cancel()          │ cancel(): sets CANCEL_REQUESTED, the job sees it at its next chunk
//!    ▼                   ▼
//!  CANCELLED          RUNNING|CANCEL_REQUESTED ──finish()──▶ DONE
//! ```
//! A job cancelled while queued never runs and produces no completion: the canceller settles it.
//! A job cancelled while running finishes (early) and its completion settles it. Exactly one of the
//! two happens, which is what makes "every job settles exactly once" hold.

use crate::sync::{AtomicU8, Ordering};

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;
/// Flag bit or-ed into RUNNING when a cancel arrives while the job runs.
const CANCEL_REQUESTED: u8 = 0x80;

#[derive(Debug, Default)]
pub struct JobState {
    state: AtomicU8,
}

/// What `cancel` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was still queued: it will never run; the caller settles it now.
    Dropped,
    /// The job is running: it will stop at its next chunk boundary and settle through its completion.
    Signalled,
    /// The job had already finished (or was already cancelled): nothing to do.
    TooLate,
}

impl JobState {
    pub fn new() -> Self {
        JobState { state: AtomicU8::new(QUEUED) }
    }

    /// Called by the worker before running. Returns false if the job was cancelled while queued.
    pub fn start(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Called by the worker after running, before it publishes the completion.
    pub fn finish(&self) {
        self.state.store(DONE, Ordering::Release);
    }

    pub fn cancel(&self) -> CancelOutcome {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let (next, outcome) = match current {
                QUEUED => (CANCELLED, CancelOutcome::Dropped),
                RUNNING => (RUNNING | CANCEL_REQUESTED, CancelOutcome::Signalled),
                _ => return CancelOutcome::TooLate,
            };
            match self.state.compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return outcome,
                Err(seen) => current = seen,
            }
        }
    }

    /// Checked by running jobs at chunk boundaries.
    pub fn is_cancel_requested(&self) -> bool {
        self.state.load(Ordering::Relaxed) & CANCEL_REQUESTED != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn queued_cancel_drops_the_job() {
        let s = JobState::new();
        assert_eq!(s.cancel(), CancelOutcome::Dropped);
        assert!(!s.start(), "a dropped job must not start");
        assert_eq!(s.cancel(), CancelOutcome::TooLate);
    }

    #[test]
    fn running_cancel_signals_and_finish_ends_it() {
        let s = JobState::new();
        assert!(s.start());
        assert!(!s.is_cancel_requested());
        assert_eq!(s.cancel(), CancelOutcome::Signalled);
        assert!(s.is_cancel_requested());
        assert_eq!(s.cancel(), CancelOutcome::TooLate, "a second cancel changes nothing");
        s.finish();
        assert_eq!(s.cancel(), CancelOutcome::TooLate);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Whatever the interleaving of a worker and a canceller, exactly one side settles the job.
    #[test]
    fn exactly_one_settler() {
        loom::model(|| {
            let s = Arc::new(JobState::new());
            let worker = {
                let s = s.clone();
                thread::spawn(move || {
                    if s.start() {
                        s.finish();
                        true // the worker publishes a completion
                    } else {
                        false
                    }
                })
            };
            let dropped = s.cancel() == CancelOutcome::Dropped;
            let worker_settles = worker.join().unwrap();
            assert!(dropped ^ worker_settles, "dropped={dropped} worker_settles={worker_settles}");
        });
    }
}
