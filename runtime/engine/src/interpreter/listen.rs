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
//!
//! A listen whose events have `correlate` writes `correlationStarted` as it
//! begins waiting and `correlationCompleted`, with the values its events
//! bound, once it consumes no more events (the lifecycle events of the
//! same names are read off them).

use std::collections::BTreeMap;

use serde_json::Value;
use swirl_workflow::expression::ExpressionError;
use swirl_workflow::model::{
    EventDefinition, EventRead, EventState, Listen, ListenForeach, StateKind, TaskFlow, Until,
};

use super::Step;
use crate::IncomingEvent;
use crate::delivery::read_event;
use crate::record::{ActionList, HistoryKind, Phase, ThreadId, WorkflowError};

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

    /// Whether the listen of `thread_id` correlates its events: one of them
    /// (`until`'s too) has `correlate`. Only such a listen writes the
    /// correlation lines: any other takes whatever event matches its
    /// filters, which is no correlation with the instance.
    pub(super) fn correlates(&self, thread_id: ThreadId) -> bool {
        self.listen_of(thread_id).is_some_and(|(event_state, _)| {
            event_state
                .events_actions
                .iter()
                .flat_map(|entry| entry.event_refs.iter())
                .filter_map(|name| self.workflow.event(name)?.filter.as_deref())
                .any(|filter| !filter.correlate.is_empty())
        })
    }

    /// The listen of `thread_id` began waiting: one that correlates its
    /// events writes `correlationStarted`.
    pub(super) fn start_correlation(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        if self.correlates(thread_id) {
            let task = self.task_run_by(thread_id)?;
            self.log(HistoryKind::CorrelationStarted {
                task: task.name.clone(),
                reference: task.reference.clone(),
            });
        }
        Ok(())
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
        let definition = self.workflow.event(name)?;
        if definition.event_type.is_empty() && !self.hears_as_any(listen, incoming) {
            return None;
        }
        if let Some(filter) = definition.filter.as_deref() {
            if !filter.accepts(&envelope).unwrap_or(false) {
                return None;
            }
            let thread = self.record.threads.get(&thread_id)?;
            let known = match &thread.phase {
                Phase::Events { correlated, .. } => correlated,
                _ => return None,
            };
            let task = self.thread_task(thread_id)?;
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

    /// Whether a listen to every event takes `incoming` as one of them: not
    /// a lifecycle event of its own instance (each item it processes would
    /// make more), nor one of its `until` events, which ends it instead.
    fn hears_as_any(&self, listen: &Listen, incoming: &IncomingEvent) -> bool {
        let own = incoming
            .event_type
            .starts_with(crate::lifecycle::LIFECYCLE_PREFIX)
            && incoming.source == format!("swirl/workflows/{}", self.record.workflow_id)
            && incoming.attributes.get("subject") == Some(&self.record.id);
        let ends = match &listen.until {
            Some(Until::Events { events, .. }) => events.iter().any(|name| {
                self.workflow.event(name).is_some_and(|definition| {
                    crate::delivery::accepts_definition(definition, incoming)
                        || definition.is_computed() && self.subscribed(name, incoming)
                })
            }),
            _ => false,
        };
        !own && !ends
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
        let foreach = listen.foreach.is_some();
        let thread = self.thread(thread_id)?;
        let Phase::Events {
            received,
            consumed,
            correlated,
            queued,
            ..
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
        // With a `foreach`, each event waits its turn in the queue.
        if foreach {
            queued.push_back(accepted.value.clone());
        }
        if !event_state.exclusive {
            received.insert(name.to_string(), accepted.value);
            let filters: Vec<&String> = filters.collect();
            if !filters.iter().all(|f| received.contains_key(*f)) {
                self.drop_subscriptions(|s| s.thread == thread_id && s.event == name);
                return self.advance_listen(thread_id);
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
                let task = self.task_run_by(thread_id)?;
                let done = condition
                    .test(&so_far, &self.bindings(thread_id, task, &Value::Null))
                    .map_err(super::tasks::expression_error)?;
                if done {
                    self.end_listen(thread_id, so_far.as_array().cloned().unwrap_or_default())
                } else {
                    self.advance_listen(thread_id)
                }
            }
            // Goes on until an event of `until` comes.
            Some(Until::Events { .. }) => self.advance_listen(thread_id),
        }
    }

    /// The listen consumes no more events. Its output is the array of the
    /// events it consumed, or with a `foreach`, of their items' outputs once
    /// the last is processed.
    fn end_listen(&mut self, thread_id: ThreadId, output: Vec<Value>) -> Result<(), WorkflowError> {
        if self.correlates(thread_id) {
            let task = self.task_run_by(thread_id)?;
            let keys = match &self.thread(thread_id)?.phase {
                Phase::Events { correlated, .. } => correlated.clone(),
                _ => BTreeMap::new(),
            };
            self.log(HistoryKind::CorrelationCompleted {
                task: task.name.clone(),
                reference: task.reference.clone(),
                keys,
            });
        }
        self.unsubscribe(thread_id);
        self.clear_wait_timers(thread_id);
        let iterates = self
            .listen_of(thread_id)
            .is_some_and(|(_, listen)| listen.foreach.is_some());
        if iterates {
            if let Phase::Events { done, .. } = &mut self.thread(thread_id)?.phase {
                *done = true;
            }
            return self.advance_listen(thread_id);
        }
        self.finish_listen(thread_id, output)
    }

    fn finish_listen(
        &mut self,
        thread_id: ThreadId,
        output: Vec<Value>,
    ) -> Result<(), WorkflowError> {
        self.thread(thread_id)?.data = Value::Array(output);
        // A listen has no actions: this finishes the state.
        self.run_actions(thread_id, ActionList::EventActions(0))
    }

    /// Processes the next queued event of a listen's `foreach` unless one
    /// is being processed: its tasks start in a child thread on the event,
    /// or without tasks, the event is the item's output at once. A listen
    /// that is done and has nothing left ends.
    pub(super) fn advance_listen(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        let Some(foreach) = self
            .listen_of(thread_id)
            .and_then(|(_, listen)| listen.foreach.as_ref())
        else {
            return Ok(());
        };
        loop {
            let thread = self.thread(thread_id)?;
            let Phase::Events {
                queued,
                iterating,
                item,
                processed,
                done,
                ..
            } = &mut thread.phase
            else {
                return Ok(());
            };
            if *iterating {
                return Ok(());
            }
            let Some(next) = queued.pop_front() else {
                if *done {
                    let output = std::mem::take(processed);
                    return self.finish_listen(thread_id, output);
                }
                return Ok(());
            };
            if foreach.states.is_empty() {
                self.item_processed(thread_id, next.clone(), next)?;
                continue;
            }
            *iterating = true;
            *item = next.clone();
            let index = processed.len();
            let mut locals = thread.locals.clone();
            locals.insert(foreach.item.clone(), next.clone());
            locals.insert(foreach.at.clone(), Value::from(index));
            let start = super::start_state(&foreach.states)
                .ok_or_else(|| WorkflowError::new(super::FAIL, "a task list has no first task"))?;
            let child = self.record.fresh_id();
            self.spawn_thread(
                child,
                start,
                next,
                Some(super::Join {
                    parent: thread_id,
                    slot: index,
                }),
                locals,
            );
            return Ok(());
        }
    }

    /// The tasks of the item a listen's `foreach` processes ended with `output`.
    pub(super) fn listen_item_done(
        &mut self,
        thread_id: ThreadId,
        output: Value,
    ) -> Result<(), WorkflowError> {
        let item = match &mut self.thread(thread_id)?.phase {
            Phase::Events {
                iterating, item, ..
            } if *iterating => {
                *iterating = false;
                std::mem::take(item)
            }
            _ => return Ok(()),
        };
        self.item_processed(thread_id, item, output)?;
        self.advance_listen(thread_id)
    }

    /// An item's output after `foreach.output.as`; `foreach.export.as`
    /// replaces `$context` with what it makes of that.
    fn shape_item(
        &mut self,
        thread_id: ThreadId,
        task: &TaskFlow,
        foreach: &ListenForeach,
        raw: Value,
    ) -> Result<Value, WorkflowError> {
        let output = match &foreach.output_as {
            Some(shape) => self.eval(thread_id, task, shape, &raw, &raw)?,
            None => raw,
        };
        let at = &task.reference;
        super::tasks::conforms(foreach.output_schema.as_ref(), &output, at, || {
            format!("the output of an item of task '{}'", task.name)
        })?;
        if let Some(export) = &foreach.export_as {
            self.record.context = self.eval(thread_id, task, export, &output, &output)?;
        }
        super::tasks::conforms(
            foreach.export_schema.as_ref(),
            &self.record.context,
            at,
            || format!("the context after an item of task '{}'", task.name),
        )?;
        Ok(output)
    }

    /// Keeps the output of an item of a listen's `foreach`, after its
    /// `output.as`; its `export.as` replaces `$context`. Both see the item
    /// and its index as the tasks did.
    fn item_processed(
        &mut self,
        thread_id: ThreadId,
        item: Value,
        output: Value,
    ) -> Result<(), WorkflowError> {
        let Some(foreach) = self
            .listen_of(thread_id)
            .and_then(|(_, listen)| listen.foreach.as_ref())
        else {
            return Ok(());
        };
        let task = self.task_run_by(thread_id)?;
        let thread = self.thread(thread_id)?;
        let index = match &thread.phase {
            Phase::Events { processed, .. } => processed.len(),
            _ => return Ok(()),
        };
        let mut locals = thread.locals.clone();
        locals.insert(foreach.item.clone(), item);
        locals.insert(foreach.at.clone(), Value::from(index));
        let saved = std::mem::replace(&mut thread.locals, locals);
        let shaped = self.shape_item(thread_id, task, foreach, output);
        self.thread(thread_id)?.locals = saved;
        let output = shaped?;
        if let Phase::Events { processed, .. } = &mut self.thread(thread_id)?.phase {
            processed.push(output);
        }
        Ok(())
    }

    /// The type and source `thread_id` subscribes to `definition` under:
    /// as written, or computed (each a non-empty string) on the listen's
    /// input as it starts; the subscription in the record keeps them.
    pub(super) fn subscribed_under(
        &self,
        thread_id: ThreadId,
        definition: &EventDefinition,
    ) -> Result<(String, String), WorkflowError> {
        let mut attributes = (definition.event_type.clone(), definition.source.clone());
        let Some(filter) = definition
            .filter
            .as_deref()
            .filter(|_| definition.is_computed())
        else {
            return Ok(attributes);
        };
        let task = self.task_run_by(thread_id)?;
        let input = self
            .record
            .threads
            .get(&thread_id)
            .and_then(|t| t.raw_input.clone())
            .unwrap_or(Value::Null);
        let bindings = self.bindings(thread_id, task, &Value::Null);
        for (jq, what, slot) in [
            (&filter.computed_type, "type", &mut attributes.0),
            (&filter.computed_source, "source", &mut attributes.1),
        ] {
            let Some(jq) = jq else { continue };
            *slot = match jq.eval(&input, &bindings) {
                Ok(Value::String(text)) if !text.is_empty() => text,
                Ok(other) => {
                    return Err(super::tasks::expression_error(
                        ExpressionError::Evaluation {
                            source_text: jq.as_str().to_owned(),
                            reason: format!(
                                "its result {other} is no event {what}: it must be a string, not empty"
                            ),
                        },
                    ));
                }
                Err(error) => return Err(super::tasks::expression_error(error)),
            };
        }
        Ok(attributes)
    }

    /// Whether this instance's subscription to the event definition `name`
    /// is under `incoming`'s type and source.
    fn subscribed(&self, name: &str, incoming: &IncomingEvent) -> bool {
        self.record.subscriptions.iter().any(|s| {
            s.event == name
                && s.event_type == incoming.event_type
                && (s.source == incoming.source || s.source.is_empty())
        })
    }
}
