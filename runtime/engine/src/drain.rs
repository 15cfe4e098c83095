//! The outbox drain: committed produced events are routed to the workflows,
//! then handed to the observer (the server's sinks) or dropped.

use super::*;

impl Engine {
    pub(crate) fn observer(&self) -> Option<Arc<dyn EngineObserver>> {
        read(&self.inner.observer).clone()
    }

    /// Sets who hears about actions and takes produced events, then drains
    /// the outbox to it (events held since startup among them).
    pub fn set_observer(&self, observer: Arc<dyn EngineObserver>) {
        *write(&self.inner.observer) = Some(observer);
        self.drain_outbox();
    }

    /// Puts events produced outside any step (a direct function call) into
    /// the outbox and drains them; returns once they are durable.
    pub async fn produce(&self, events: Vec<OutboxEvent>) -> Result<(), EngineError> {
        if events.is_empty() {
            return Ok(());
        }
        let entries = events
            .iter()
            .map(|event| Ok((event.key(), encode(event)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.put_outbox(&entries))
            .await
            .map_err(|error| EngineError::Corrupt {
                id: String::new(),
                reason: format!("the outbox write did not finish: {error}"),
            })??;
        self.dispatch(events);
        Ok(())
    }

    /// Drains every event in the outbox: what a crash left there, or what
    /// an earlier drain could not route.
    pub fn drain_outbox(&self) {
        let entries = match self.inner.store.outbox() {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                return;
            }
        };
        if !entries.is_empty() {
            tracing::info!(events = entries.len(), "draining the outbox");
        }
        let mut events = Vec::new();
        for (key, bytes) in entries {
            match serde_json::from_slice::<OutboxEvent>(&bytes) {
                Ok(event) => events.push(event),
                Err(error) => {
                    tracing::error!(key = %String::from_utf8_lossy(&key), %error, "dropping an unreadable outbox event");
                    let _ = self.inner.store.hand_off(&key, &[]);
                }
            }
        }
        self.dispatch(events);
    }

    /// Drains committed events, in order, on a tokio task: routes each to
    /// the workflows, hands it to the observer (which removes it from the
    /// outbox), or removes it when there is none.
    pub(crate) fn dispatch(&self, events: Vec<OutboxEvent>) {
        if events.is_empty() || (self.inner.config.hold_outbox && self.observer().is_none()) {
            return;
        }
        let events: Vec<OutboxEvent> = {
            let mut draining = self
                .inner
                .draining
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            events
                .into_iter()
                .filter(|event| draining.insert(event.key()))
                .collect()
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for event in events {
                if !engine.drain_one(&event).await {
                    failed.push(event.clone());
                }
                engine
                    .inner
                    .draining
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&event.key());
            }
            // They stayed in the outbox: try again later.
            if !failed.is_empty() {
                tokio::time::sleep(OUTBOX_RETRY).await;
                engine.dispatch(failed);
            }
        });
    }

    /// Routes and hands on one event; `false` when it stays in the outbox.
    pub(crate) async fn drain_one(&self, event: &OutboxEvent) -> bool {
        if let Err(error) = self.deliver(&event.incoming()).await {
            tracing::warn!(event_id = %event.id, %error, "cannot route a produced event; retrying in {OUTBOX_RETRY:?}");
            return false;
        }
        let observer = self.observer();
        let store = self.inner.store.clone();
        let taken = {
            let event = event.clone();
            tokio::task::spawn_blocking(move || match observer {
                Some(observer) => observer.produced(&event, &event.key()),
                None => store.hand_off(&event.key(), &[]).map_err(|e| e.to_string()),
            })
            .await
        };
        let error = match taken {
            Ok(Ok(())) => return true,
            Ok(Err(error)) => error,
            Err(error) => error.to_string(),
        };
        tracing::warn!(event_id = %event.id, %error, "cannot hand a produced event on; retrying in {OUTBOX_RETRY:?}");
        false
    }
}

/// Wait before draining again an outbox event that could not be routed or
/// handed on (the store refused a write).
pub const OUTBOX_RETRY: std::time::Duration = std::time::Duration::from_secs(5);
