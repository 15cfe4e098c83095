//! Group commit: many writers, one flush. A writer that needs its write
//! durable either becomes the leader and flushes everything written so far,
//! or waits for the flush in progress and, if that one started before its
//! write, for the next. Durability then costs one fsync per group of
//! concurrent steps rather than one per step.

use std::sync::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    flushed: Condvar,
}

#[derive(Default)]
struct State {
    /// Writes registered so far.
    requested: u64,
    /// Writes known durable.
    durable: u64,
    flushing: bool,
}

impl GroupCommit {
    /// Returns once everything written before the call is durable.
    pub fn durable<E>(&self, flush: impl Fn() -> Result<(), E>) -> Result<(), E> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.requested += 1;
        let mine = state.requested;
        loop {
            if state.durable >= mine {
                return Ok(());
            }
            if !state.flushing {
                state.flushing = true;
                let target = state.requested;
                drop(state);
                let result = flush();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.flushing = false;
                if result.is_ok() {
                    state.durable = state.durable.max(target);
                }
                self.flushed.notify_all();
                result?;
                continue;
            }
            state = self.flushed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_writers_share_flushes() {
        let commit = Arc::new(GroupCommit::default());
        let flushes = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let (commit, flushes) = (commit.clone(), flushes.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        commit
                            .durable(|| {
                                flushes.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                Ok::<(), ()>(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let flushes = flushes.load(Ordering::SeqCst);
        assert!(flushes < 16 * 50, "{flushes} flushes for 800 writes");
        assert!(flushes >= 50);
    }
}
