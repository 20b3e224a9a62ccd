//! One completion queue for the whole process.
//!
//! Workers push finished results; the push that turns the queue from empty to non-empty calls the
//! waker (in the binding: one threadsafe-function call that wakes the JS thread). The JS thread then
//! drains everything queued so far in one go. A drain between a push and its wake-up only causes a
//! wake-up that finds nothing, never a lost completion: every push into an empty queue wakes.

use crate::sync::Mutex;

pub struct CompletionQueue<T> {
    items: Mutex<Vec<T>>,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl<T> CompletionQueue<T> {
    pub fn new(wake: Box<dyn Fn() + Send + Sync>) -> Self {
        CompletionQueue { items: Mutex::new(Vec::new()), wake }
    }

    pub fn push(&self, item: T) {
        let was_empty = {
            let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
            items.push(item);
            items.len() == 1
        };
        if was_empty {
            (self.wake)();
        }
    }

    /// Takes every queued completion, in push order.
    pub fn drain(&self) -> Vec<T> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *items)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn wakes_once_per_empty_to_non_empty_transition() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let q = CompletionQueue::new(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        q.push(1);
        q.push(2);
        q.push(3);
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        assert_eq!(q.drain(), vec![1, 2, 3]);
        assert!(q.drain().is_empty());
        q.push(4);
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
        assert_eq!(q.drain(), vec![4]);
    }

    #[test]
    fn many_producers_lose_nothing() {
        let q = Arc::new(CompletionQueue::new(Box::new(|| {})));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        q.push(t * 10_000 + i);
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        while seen.len() < 40_000 {
            seen.extend(q.drain());
            if threads.iter().all(|t| t.is_finished()) {
                seen.extend(q.drain());
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..40_000).collect::<Vec<_>>());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Arc, AtomicUsize, Ordering};
    use loom::thread;

    /// Two workers push while the JS thread drains whenever it is woken. In every interleaving, once
    /// the workers are done, each pushed item has been drained exactly once, and if anything was
    /// still queued after the last drain, a wake-up is owed (so the JS thread will come back for it).
    #[test]
    fn no_lost_completion_or_wakeup() {
        loom::model(|| {
            let wakes = Arc::new(AtomicUsize::new(0));
            let w = wakes.clone();
            let q = Arc::new(CompletionQueue::new(Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            })));
            let producers: Vec<_> = (0..2)
                .map(|t| {
                    let q = q.clone();
                    thread::spawn(move || q.push(t))
                })
                .collect();
            // The JS thread: serve each wake-up seen so far with one drain.
            let mut served = 0;
            let mut drained = Vec::new();
            for _ in 0..2 {
                if wakes.load(Ordering::SeqCst) > served {
                    served += 1;
                    drained.extend(q.drain());
                }
                thread::yield_now();
            }
            for p in producers {
                p.join().unwrap();
            }
            // Finish serving the wake-ups still owed.
            while wakes.load(Ordering::SeqCst) > served {
                served += 1;
                drained.extend(q.drain());
            }
            drained.sort_unstable();
            assert_eq!(drained, vec![0, 1], "every completion is drained exactly once");
        });
    }
}
