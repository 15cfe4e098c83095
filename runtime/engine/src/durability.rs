//! Group commit for runs: a run's thread writes its commit and moves on; this
//! thread makes every commit written so far durable with one flush, then
//! releases what waited for them (answers, produced events, children,
//! timers), in the order they were written.
//!
//! A run never waits for the disk, so the run threads keep the CPU busy
//! while a flush is in progress, and the commits written during one flush
//! share the next.

use std::sync::{Arc, Condvar, Mutex};

use swirl_ports::store::{FlushPolicy, InstanceStore, StoreFailure};

/// What to do once a commit is durable, or cannot be made so.
pub(crate) type Then = Box<dyn FnOnce(Result<(), StoreFailure>) + Send>;

#[derive(Default)]
struct Pending {
    /// Each with the store to flush (always the engine's own): the thread
    /// holds no store while idle, so a dropped engine releases its
    /// database.
    waiting: Vec<(Arc<dyn InstanceStore>, Then)>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    ready: Condvar,
}

/// The flushing thread; closed when dropped.
pub(crate) struct Durability {
    shared: Arc<Shared>,
}

impl Durability {
    pub fn new() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("swirl-flush".into())
            .spawn(move || worker.work())?;
        Ok(Durability { shared })
    }

    /// Runs `then` once everything `store` holds now is durable.
    pub fn after_flush(&self, store: &Arc<dyn InstanceStore>, then: Then) {
        self.shared.lock().waiting.push((store.clone(), then));
        self.shared.ready.notify_one();
    }
}

impl Drop for Durability {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        loop {
            let batch = {
                let mut pending = self.lock();
                while pending.waiting.is_empty() {
                    if pending.closed {
                        return;
                    }
                    pending = self.ready.wait(pending).unwrap_or_else(|e| e.into_inner());
                }
                std::mem::take(&mut pending.waiting)
            };
            // Every commit in the batch was written before it was queued,
            // so one flush covers them all (they are one engine's, so of
            // one store); unless the store is to flush each on its own, the
            // baseline that shows what sharing saves.
            let Some((store, _)) = batch.first() else {
                continue;
            };
            if store.flush_policy() == FlushPolicy::EachCommit {
                for (store, then) in batch {
                    then(store.durable());
                }
                continue;
            }
            let result = store.durable();
            for (_, then) in batch {
                then(result.clone());
            }
        }
    }
}
