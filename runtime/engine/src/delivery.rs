//! Event delivery: starts and wakes instances once per event, buffers what no
//! instance waits for yet, and finishes a delivery a crash cut short. Events
//! that start instances on `all` of several events are kept first (`gather.rs`).
//!
//! The event index finds waiting instances by type and source (a 1.0 filter
//! without a source waits under an empty one, looked up too); what else a
//! 1.0 filter asks is checked here for starts and buffering, and by the step
//! of a waiting instance, which leaves the record alone when it says no: the
//! event then counts as not delivered there.

use super::*;
use swirl_workflow::model::{EventDefinition, EventRead, WorkflowSchedule};

impl Engine {
    /// Up to `limit` of the events kept until an instance waits for them,
    /// after the key `after` (by type, then source, then arrival), and
    /// where a next page goes on (`None`: the end). One that cannot be
    /// read is left out: it can never be delivered, and retention deletes it.
    pub fn buffered(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<BufferedEntry>, Option<Vec<u8>>), EngineError> {
        let batch = self.inner.store.buffered_after(after, limit)?;
        let next = (batch.len() == limit)
            .then(|| batch.last().map(|(key, _)| key.clone()))
            .flatten();
        let entries = batch
            .into_iter()
            .filter_map(|(key, bytes)| {
                let buffered = serde_json::from_slice::<BufferedEvent>(&bytes).ok()?;
                Some(BufferedEntry {
                    key,
                    received_ms: buffered.received_ms,
                    event: buffered.event,
                })
            })
            .collect();
        Ok((entries, next))
    }

    /// Delivers an event: starts the workflows whose start state waits for
    /// it and wakes the waiting instances it matches, once per `(source,
    /// id)` within the dedup window. An event that some workflow consumes but
    /// no instance waits for yet is kept until one does (or its retention
    /// ends). Returns once every effect is durable.
    pub async fn deliver(&self, event: &IncomingEvent) -> Result<Delivery, EngineError> {
        let now = self.now_ms();
        let store = &self.inner.store;
        let seen = store.event_seen(&event.source, &event.id)?.filter(|seen| {
            now.saturating_sub(seen.at_ms) < self.inner.config.dedup_retention.as_millis() as u64
        });
        if seen.as_ref().is_some_and(|seen| seen.unfinished.is_none()) {
            return Ok(Delivery {
                duplicate: true,
                ..Delivery::default()
            });
        }
        // Marked unfinished: an instance consumed the event and its delivery
        // may have stopped there (a crash, or this resend raced it). This
        // one finishes that delivery: it goes to the instances that one was
        // for (those that consumed it already are unchanged), not to any
        // that started waiting since, and it never buffers the event.
        let resumed = seen.and_then(|seen| seen.unfinished);
        // Kept for the starts on `all` of several events before anything
        // consumes it: an unfinished mark then says it was kept already.
        let gathering = match resumed {
            None => self.gather_event(event, now)?,
            Some(_) => Vec::new(),
        };
        let (delivered, by_name) = self.deliver_to_waiting(event, resumed.as_deref()).await?;
        let mut delivery = Delivery {
            delivered,
            ..Delivery::default()
        };
        // The workflows whose instances took the event, also in the
        // interrupted delivery this one finishes, start no other.
        let mut delivered_to = HashSet::new();
        for id in delivery.delivered.iter().chain(resumed.iter().flatten()) {
            if let Some(record) = self.load(id)? {
                delivered_to.insert(record.workflow_id);
            }
        }
        let starters: Vec<Arc<Workflow>> = read(&self.inner.workflows)
            .values()
            .filter(|w| {
                w.start_events()
                    .iter()
                    .any(|e| accepts_definition(e, event))
            })
            // A scheduled event start accepts events only inside its window.
            .filter(|w| {
                w.schedule()
                    .is_none_or(|s| schedule::window_contains(s, now))
            })
            // An instance of the workflow that took the event (a v0.1
            // non-exclusive start state collecting its events) starts no
            // other; 1.0's `schedule.on` starts one whoever listens.
            .filter(|w| w.start_state().task.is_some() || !delivered_to.contains(w.id()))
            .cloned()
            .collect();
        for workflow in starters {
            // The id derives from the event, so a redelivery after a crash
            // finds the instance its first delivery started.
            let id = event_instance_id(workflow.id(), &event.source, &event.id);
            // Finishing an interrupted delivery: an instance it started is
            // its effect already (its start wrote the unfinished mark), not
            // a new one.
            if resumed.is_some() && self.load(&id)?.is_some() {
                continue;
            }
            let record = self
                .start_with(
                    workflow.id(),
                    start_input(&workflow, event),
                    Some(id),
                    None,
                    Some(event),
                    None,
                    Admission::External,
                    std::time::Instant::now(),
                )
                .await?;
            delivery.started.push(record.id);
        }
        let mut gathered = false;
        for workflow in &gathering {
            let started = self.start_gathered(workflow, Some(event)).await?;
            // Kept until the others of its set come.
            gathered |= started.is_empty();
            delivery.started.extend(started);
        }
        // A listen to every event takes its copy of events that others
        // may still be waiting for: it buffers none, and keeps none back.
        if delivery.started.is_empty()
            && gathering.is_empty()
            && !by_name
            && resumed.is_none()
            && self.consumed_by_some_workflow(event)
        {
            let buffered = BufferedEvent {
                received_ms: now,
                event: event.clone(),
            };
            let limit = self.inner.config.buffer_max_events;
            let Some(key) =
                store.buffer_event(&event.event_type, &event.source, &encode(&buffered)?, limit)?
            else {
                return Err(EngineError::BufferFull(limit));
            };
            // An instance may have started waiting between the lookup above
            // and the buffering: look again, and deliver if this call is the
            // one that takes the event back out.
            let named = self.waiting_for(event)?.iter().any(names_the_event);
            if named && store.take_buffered_event(&key)?.is_some() {
                let (again, by_name) = self.deliver_to_waiting(event, None).await?;
                for id in again {
                    if !delivery.delivered.contains(&id) {
                        delivery.delivered.push(id);
                    }
                }
                // None took it after all (a 1.0 filter said no): it goes
                // back, as it came.
                if !by_name {
                    if store
                        .buffer_event(&event.event_type, &event.source, &encode(&buffered)?, limit)?
                        .is_none()
                    {
                        return Err(EngineError::BufferFull(limit));
                    }
                    delivery.buffered = true;
                }
            } else {
                delivery.buffered = true;
            }
        }
        swirl_core::failpoint::hit("deliver-before-seen-mark");
        store.mark_event_seen(&event.source, &event.id, now)?;
        if resumed.is_some() && delivery.started.is_empty() && delivery.delivered.is_empty() {
            delivery.duplicate = true;
        }
        // Only a buffered event (also one kept for a start on `all`) waits
        // for this flush: its buffering must be durable before the answer.
        // Every step that consumed the event was flushed with an unfinished
        // mark, which serves a resend as well as this one would; an event
        // that did nothing needs no mark.
        delivery.buffered |= gathered;
        if delivery.buffered || !gathering.is_empty() {
            self.settled().await?;
        }
        Ok(delivery)
    }

    /// Applies `event` to every waiting instance it matches, of `only` when
    /// given (finishing an interrupted delivery); returns their ids, and
    /// whether a subscription that names the event (not a listen to every
    /// event) took it.
    pub(crate) async fn deliver_to_waiting(
        &self,
        event: &IncomingEvent,
        only: Option<&[String]>,
    ) -> Result<(Vec<String>, bool), EngineError> {
        let mut delivered: Vec<String> = Vec::new();
        let mut by_name = false;
        let keys: Vec<SubscriptionKey> = self
            .waiting_for(event)?
            .into_iter()
            .filter(|key| only.is_none_or(|only| only.contains(&key.instance)))
            .collect();
        let mut targets: Vec<String> = keys.iter().map(|key| key.instance.clone()).collect();
        targets.sort();
        targets.dedup();
        let targets: Arc<[String]> = targets.into();
        for key in keys {
            let correlation = correlation::carried(
                correlation::of_key(&key).map(|(attribute, _)| attribute),
                event,
            );
            let input = Input::Event {
                thread: key.thread,
                event: key.event.clone(),
                incoming: Box::new(event.clone()),
                correlation,
                targets: targets.clone(),
                link: self.event_link(event),
            };
            // Delivered when the instance took the event now or before (a
            // resend); not when a 1.0 listen's filter turned it down.
            let took = self
                .apply_taking(&key.instance, input, None, Admission::External)
                .await?
                .is_some_and(|(record, changed)| {
                    changed || record.consumed_events.contains(&event.key())
                });
            by_name |= took && names_the_event(&key);
            if took && !delivered.contains(&key.instance) {
                delivered.push(key.instance.clone());
            }
        }
        Ok((delivered, by_name))
    }

    /// The subscriptions waiting for `event`: of its type and source, of
    /// its type and any source (a 1.0 filter without one), or of every
    /// event (a 1.0 listen to `any: []`, under an empty type and source),
    /// whose correlation it carries.
    pub(crate) fn waiting_for(
        &self,
        event: &IncomingEvent,
    ) -> Result<Vec<SubscriptionKey>, EngineError> {
        let store = &self.inner.store;
        let attributes = event_attributes(event);
        let mut keys = store.subscribers(&event.event_type, &event.source, &attributes)?;
        keys.extend(store.subscribers(&event.event_type, "", &attributes)?);
        keys.extend(store.subscribers("", "", &attributes)?);
        keys.retain(|key| correlation::accepts(correlation::of_key(key), event));
        Ok(keys)
    }

    /// True when a registered workflow has a non-start event definition for this event.
    pub(crate) fn consumed_by_some_workflow(&self, event: &IncomingEvent) -> bool {
        read(&self.inner.workflows).values().any(|workflow| {
            workflow
                .definition
                .events
                .iter()
                .any(|e| accepts_definition(e, event))
        })
    }

    /// Delivers buffered events to the subscriptions of a record that just
    /// started waiting; expired ones are dropped on the way.
    pub(crate) fn deliver_buffered(&self, record: &InstanceRecord) {
        let engine = self.clone();
        let subscriptions = record.subscriptions.clone();
        let id = record.id.clone();
        tokio::spawn(async move {
            let store = &engine.inner.store;
            let retention = engine.inner.config.buffer_retention.as_millis() as u64;
            for subscription in subscriptions {
                let Ok(candidates) =
                    store.buffered_events(&subscription.event_type, &subscription.source)
                else {
                    continue;
                };
                for (key, bytes) in candidates {
                    let Ok(buffered) = serde_json::from_slice::<BufferedEvent>(&bytes) else {
                        let _ = store.take_buffered_event(&key);
                        continue;
                    };
                    if engine.now_ms().saturating_sub(buffered.received_ms) > retention {
                        let _ = store.take_buffered_event(&key);
                        continue;
                    }
                    let event = buffered.event;
                    let required = subscription
                        .correlation
                        .as_ref()
                        .map(|(attribute, value)| (attribute.as_str(), value.as_deref()));
                    if !correlation::accepts(required, &event) {
                        continue;
                    }
                    let correlation =
                        correlation::carried(required.map(|(attribute, _)| attribute), &event);
                    let input = Input::Event {
                        thread: subscription.thread,
                        event: subscription.event.clone(),
                        incoming: Box::new(event.clone()),
                        correlation,
                        targets: Arc::from([]),
                        link: engine.event_link(&event),
                    };
                    // The event leaves the buffer in the commit of the step
                    // that consumes it: a crash keeps it in one or the other.
                    match engine
                        .apply_taking(&id, input, Some(key), Admission::Internal)
                        .await
                    {
                        // The state moved on, unless it consumes more of
                        // these (a 1.0 listen to `any` until something).
                        Ok(Some((record, true))) => {
                            if !record.subscriptions.contains(&subscription) {
                                break;
                            }
                        }
                        // Taken by another instance first, or not wanted
                        // here after all: it stays for others.
                        Ok(Some((_, false))) => continue,
                        Ok(None) => break,
                        Err(error) => {
                            tracing::error!(instance = %id, %error, "cannot deliver a buffered event");
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// The input of an instance `event` starts: for 1.0's `schedule.on`, the
/// array of the event read as `read` says; for v0.1, an empty object (the
/// start state consumes the event).
fn start_input(workflow: &Workflow, event: &IncomingEvent) -> Value {
    match &workflow.definition.schedule {
        Some(WorkflowSchedule::On { read, .. }) => Value::Array(vec![read_event(*read, event)]),
        _ => Value::Object(Default::default()),
    }
}

/// An event as a 1.0 workflow reads it: its data (also `raw`: what the
/// ingress decoded), or its envelope, the attributes with the data.
pub(crate) fn read_event(read: EventRead, event: &IncomingEvent) -> Value {
    match read {
        EventRead::Data | EventRead::Raw => event.data.clone(),
        EventRead::Envelope => {
            let mut envelope = serde_json::Map::new();
            envelope.insert("specversion".into(), Value::from("1.0"));
            envelope.insert("id".into(), Value::from(event.id.as_str()));
            envelope.insert("source".into(), Value::from(event.source.as_str()));
            envelope.insert("type".into(), Value::from(event.event_type.as_str()));
            for (name, value) in event.attributes.iter().chain(&event.extensions) {
                envelope.insert(name.clone(), Value::from(value.as_str()));
            }
            envelope.insert("data".into(), event.data.clone());
            Value::Object(envelope)
        }
    }
}

/// Whether a subscription names its events' type (is not a listen to
/// every event).
fn names_the_event(key: &SubscriptionKey) -> bool {
    !key.event_type.is_empty()
}

/// Whether `event` is one `definition` names: its type, its source (any
/// when the definition has none: 1.0 filters may leave it out), and what a
/// 1.0 filter asks of its other attributes. A listen that computes its type
/// or source names no event before it starts: it hears only those that come
/// while it waits (none is buffered for it), under the values it computed.
pub(crate) fn accepts_definition(definition: &EventDefinition, event: &IncomingEvent) -> bool {
    !definition.is_computed()
        && definition.event_type == event.event_type
        && (definition.source == event.source || definition.source.is_empty())
        && definition.filter.as_deref().is_none_or(|filter| {
            filter
                .accepts(&read_event(EventRead::Envelope, event))
                .unwrap_or(false)
        })
}

pub(crate) fn event_attributes(event: &IncomingEvent) -> Vec<(String, String)> {
    event
        .extensions
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The id of the instance an event starts: the same for every redelivery.
pub(crate) fn event_instance_id(workflow: &str, source: &str, id: &str) -> String {
    let digest = Sha256::digest(format!("{workflow}\u{0}{source}\u{0}{id}").as_bytes());
    format!("ev-{}", &hex(&digest)[..24])
}

pub(crate) fn correlation_of(
    workflow: &Workflow,
    event_name: &str,
    event: &IncomingEvent,
) -> BTreeMap<String, String> {
    let attribute = workflow
        .event(event_name)
        .and_then(|d| d.correlation_attribute());
    correlation::carried(attribute.as_deref(), event)
}
