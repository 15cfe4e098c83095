//! How the interpreter runs a 1.0 `listen` (an event state with a
//! [`Listen`]): which events its filters and correlations accept, how it
//! reads them, and when it ends.
//!
//! Everything a partly done wait knows lives in its thread's
//! [`Phase::Events`]: the events of `all` received so far (by filter), those
//! of `any` consumed so far (in arrival order), which `until` events came,
//! and the values correlations took from the first events. The step that
//! consumes an event commits it with the record, so a restart goes on from
//! there; a redelivered event is ignored by its key as any other.

use std::collections::BTreeMap;

use serde_json::Value;
use swirl_workflow::model::{EventRead, EventState, Listen, StateKind, Until};

use super::Step;
use crate::IncomingEvent;
use crate::delivery::read_event;
use crate::record::{ActionList, Phase, ThreadId, WorkflowError};

/// What an accepted event brings to a listen: the event as it reads it,
/// and the correlation values it binds.
pub(super) struct Accepted {
    value: Value,
    correlated: BTreeMap<String, Value>,
}

impl<'a> Step<'a> {
    /// The listen `thread_id` waits in, if it waits in one.
    pub(super) fn listen_of(&self, thread_id: ThreadId) -> Option<(&'a EventState, &'a Listen)> {
        let thread = self.record.threads.get(&thread_id)?;
        match &self.workflow.state(&thread.state).ok()?.kind {
            StateKind::Event(event_state) => Some((event_state, event_state.listen.as_deref()?)),
            _ => None,
        }
    }

    /// Whether the listen of `thread_id` takes `incoming` for its filter
    /// `name`: the filter's attributes and correlations hold. An expression
    /// that fails on the event's data does not match: the event may well be
    /// meant for another listener.
    pub(super) fn listen_accepts(
        &self,
        thread_id: ThreadId,
        listen: &Listen,
        name: &str,
        incoming: &IncomingEvent,
    ) -> Option<Accepted> {
        let envelope = read_event(EventRead::Envelope, incoming);
        let mut correlated = BTreeMap::new();
        if let Some(filter) = self.workflow.event(name).and_then(|d| d.filter.as_deref()) {
            if !filter.accepts(&envelope).unwrap_or(false) {
                return None;
            }
            let thread = self.record.threads.get(&thread_id)?;
            let known = match &thread.phase {
                Phase::Events { correlated, .. } => correlated,
                _ => return None,
            };
            let task = self.workflow.state(&thread.state).ok()?.task.as_ref()?;
            let input = thread.raw_input.clone().unwrap_or(Value::Null);
            for correlation in &filter.correlate {
                let value = correlation
                    .from
                    .eval(&envelope, &self.bindings(thread_id, task, &Value::Null))
                    .ok()?;
                let expected = match &correlation.expect {
                    Some(expect) => Some(
                        self.eval(thread_id, task, expect, &input, &Value::Null)
                            .ok()?,
                    ),
                    None => known.get(&correlation.name).cloned(),
                };
                if expected.is_some_and(|expected| expected != value) {
                    return None;
                }
                correlated.insert(correlation.name.clone(), value);
            }
        }
        Some(Accepted {
            value: read_event(listen.read, incoming),
            correlated,
        })
    }

    /// The listen of `thread_id` consumed event `name`, which it accepted.
    pub(super) fn consume_listen(
        &mut self,
        thread_id: ThreadId,
        event_state: &'a EventState,
        listen: &'a Listen,
        name: &str,
        accepted: Accepted,
    ) -> Result<(), WorkflowError> {
        let until = listen.until.as_ref();
        let until_events: &[String] = match until {
            Some(Until::Events { events, .. }) => events,
            _ => &[],
        };
        let thread = self.thread(thread_id)?;
        let Phase::Events {
            received,
            consumed,
            correlated,
        } = &mut thread.phase
        else {
            return Ok(());
        };
        for (key, value) in accepted.correlated {
            correlated.entry(key).or_insert(value);
        }
        let filters = event_state
            .events_actions
            .iter()
            .flat_map(|entry| entry.event_refs.iter())
            .filter(|filter| !until_events.contains(filter));
        if until_events.iter().any(|e| e == name) {
            // An event of `until` ends the wait, and is no part of the output.
            received.insert(name.to_string(), Value::Null);
            let all = matches!(until, Some(Until::Events { all: true, .. }));
            if all && !until_events.iter().all(|e| received.contains_key(e)) {
                self.drop_subscriptions(|s| s.thread == thread_id && s.event == name);
                return Ok(());
            }
            let output = std::mem::take(consumed);
            return self.end_listen(thread_id, output);
        }
        if !event_state.exclusive {
            received.insert(name.to_string(), accepted.value);
            let filters: Vec<&String> = filters.collect();
            if !filters.iter().all(|f| received.contains_key(*f)) {
                self.drop_subscriptions(|s| s.thread == thread_id && s.event == name);
                return Ok(());
            }
            // `all` gives its events in the order of its filters.
            let output = filters
                .into_iter()
                .filter_map(|f| received.remove(f))
                .collect();
            return self.end_listen(thread_id, output);
        }
        consumed.push(accepted.value);
        match until {
            None => {
                let output = std::mem::take(consumed);
                self.end_listen(thread_id, output)
            }
            Some(Until::Condition(condition)) => {
                let so_far = Value::Array(consumed.clone());
                let task = self.task_of(thread_id)?;
                let done = condition
                    .test(&so_far, &self.bindings(thread_id, task, &Value::Null))
                    .map_err(super::tasks::expression_error)?;
                if done {
                    self.end_listen(thread_id, so_far.as_array().cloned().unwrap_or_default())
                } else {
                    Ok(())
                }
            }
            // Goes on until an event of `until` comes.
            Some(Until::Events { .. }) => Ok(()),
        }
    }

    /// The listen's output is the array of the events it consumed.
    fn end_listen(&mut self, thread_id: ThreadId, output: Vec<Value>) -> Result<(), WorkflowError> {
        self.thread(thread_id)?.data = Value::Array(output);
        self.unsubscribe(thread_id);
        self.clear_wait_timers(thread_id);
        // A listen has no actions: this finishes the state.
        self.run_actions(thread_id, ActionList::EventActions(0))
    }

    fn task_of(
        &self,
        thread_id: ThreadId,
    ) -> Result<&'a swirl_workflow::model::TaskFlow, WorkflowError> {
        let thread = self.record.threads.get(&thread_id).ok_or_else(|| {
            WorkflowError::new(super::FAIL, format!("thread {thread_id} is gone"))
        })?;
        self.workflow
            .state(&thread.state)?
            .task
            .as_ref()
            .ok_or_else(|| WorkflowError::new(super::FAIL, "a listen without its task"))
    }
}
