//! What a running job sees: its cancel flag, whether it may fan out over the pool, and helpers that
//! split work into fixed chunks so results never depend on the thread count.

use super::cancel::JobState;
use super::pool::BusyClock;
use crate::error::{CoreError, CoreResult};
use rayon::prelude::*;
use std::ops::Range;
use std::time::Instant;

pub struct JobCtx<'a> {
    state: Option<&'a JobState>,
    parallel: bool,
    busy: Option<&'a BusyClock>,
    origin_thread: Option<usize>,
}

impl<'a> JobCtx<'a> {
    /// A context for work on the calling thread: never cancelled, never fans out.
    pub fn inline() -> JobCtx<'static> {
        JobCtx { state: None, parallel: false, busy: None, origin_thread: None }
    }

    pub(crate) fn pooled(state: &'a JobState, busy: &'a BusyClock) -> Self {
        JobCtx {
            state: Some(state),
            parallel: true,
            busy: Some(busy),
            origin_thread: rayon::current_thread_index(),
        }
    }

    /// A pooled context for tests and benches of the core that run inside a rayon pool of their own.
    pub fn for_pool(state: &'a JobState) -> Self {
        JobCtx { state: Some(state), parallel: true, busy: None, origin_thread: None }
    }

    pub fn is_parallel(&self) -> bool {
        self.parallel
    }

    /// Fails with `Aborted` once a cancel was requested. Call at chunk boundaries.
    pub fn checkpoint(&self) -> CoreResult<()> {
        match self.state {
            Some(s) if s.is_cancel_requested() => Err(CoreError::aborted()),
            _ => Ok(()),
        }
    }

    /// Runs `f` over `0..len` cut into chunks of `chunk` items (the last may be shorter), on the
    /// pool when this job may fan out, and returns the results in chunk order. The chunking, and so
    /// anything computed from the results in order, is the same for every thread count.
    pub fn map_chunks<T, F>(&self, len: usize, chunk: usize, f: F) -> CoreResult<Vec<T>>
    where
        T: Send,
        F: Fn(Range<usize>) -> T + Sync,
    {
        assert!(chunk > 0, "chunk size must be positive");
        let n_chunks = len.div_ceil(chunk);
        let range_of = |i: usize| i * chunk..((i + 1) * chunk).min(len);
        if !self.parallel || n_chunks <= 1 {
            let mut out = Vec::with_capacity(n_chunks);
            for i in 0..n_chunks {
                self.checkpoint()?;
                out.push(f(range_of(i)));
            }
            return Ok(out);
        }
        (0..n_chunks)
            .into_par_iter()
            .map(|i| {
                self.checkpoint()?;
                Ok(self.timed(|| f(range_of(i))))
            })
            .collect()
    }

    /// Like `map_chunks` for work that writes into disjoint pieces of `out`.
    pub fn for_each_chunk_mut<T, F>(&self, out: &mut [T], chunk: usize, f: F) -> CoreResult<()>
    where
        T: Send,
        F: Fn(usize, &mut [T]) + Sync,
    {
        assert!(chunk > 0, "chunk size must be positive");
        if !self.parallel || out.len() <= chunk {
            for (i, piece) in out.chunks_mut(chunk).enumerate() {
                self.checkpoint()?;
                f(i * chunk, piece);
            }
            return Ok(());
        }
        out.par_chunks_mut(chunk).enumerate().try_for_each(|(i, piece)| {
            self.checkpoint()?;
            self.timed(|| f(i * chunk, piece));
            Ok(())
        })
    }

    /// Runs `f` as `workers` tasks at once over the pool (for work that hands itself out, such as a
    /// scan whose chunks go to threads in order), charging each like a `map_chunks` piece, and
    /// returns the first error. Inline (or with one worker) it runs `f` once here.
    pub fn run_workers<F>(&self, workers: usize, f: F) -> CoreResult<()>
    where
        F: Fn() -> CoreResult<()> + Sync,
    {
        if !self.parallel || workers <= 1 {
            return f();
        }
        let results: Vec<CoreResult<()>> = (0..workers).into_par_iter().map(|_| self.timed(&f)).collect();
        results.into_iter().collect()
    }

    /// Charges the time of a piece run on a pool thread other than the job's own (whose whole run is
    /// charged by the runtime) to that thread's busy clock.
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let Some(busy) = self.busy else { return f() };
        let here = rayon::current_thread_index();
        if here == self.origin_thread {
            return f();
        }
        let start = Instant::now();
        let out = f();
        if let Some(i) = here {
            busy.charge(i, start.elapsed());
        }
        out
    }
}
