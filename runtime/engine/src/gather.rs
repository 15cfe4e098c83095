//! Starts on `all` of several events (1.0's `schedule.on` with `all`): an
//! instance starts once every filter has matched an event of its own, each
//! event consumed once; its input is the array of those events read as
//! `read` says, in the order of the filters.
//!
//! The events gather in the engine's event buffer, under a type of the
//! workflow's own ([`GATHER_PREFIX`] and its id, no source), where no
//! listen looks. An event's delivery keeps it there (once per workflow: a
//! resend finds its copy) before anything else, and is acknowledged once
//! that is durable. The delivery then looks for a complete set; the start
//! of its instance takes the set's events out of the buffer in its own
//! commit, which writes nothing if one of them was taken first (the search
//! runs again), and its id derives from the set, so two deliveries that
//! find the same set start one instance. A crash between an event's
//! buffering and the start leaves the set complete in the buffer: the
//! server's start (and a deploy of the workflow) looks for complete sets
//! too, as does the next delivery for the workflow. That start marks each
//! event of its set seen (unfinished, for the instances waiting for it, as
//! a wake does) unless it is marked already: a resend of one whose answer
//! the crash cut off finishes its delivery instead of keeping it again.
//!
//! Starting an instance on the first event and having it wait (hidden) for
//! the others would not consume each event once: a listen takes an event
//! whichever other instance listens for it too, so two instances started by
//! two first events would both take the one second event. The buffer hands
//! each event to one taker.
//!
//! Each filter takes the oldest events first, and the search backtracks so
//! that an event matching two filters does not keep a set from completing.
//! A filter's `correlate` makes sets of events that agree: every value a
//! set's events give under one name is the same (the first event's value
//! is the expectation, as in a listen), and equal to `expect` where one is
//! written; an `expect` computed by an expression is refused at validation,
//! there being no instance yet to compute it in. An event that waits longer
//! than the buffer's retention goes with it.

use super::*;
use crate::delivery::{accepts_definition, read_event};
use swirl_workflow::expression::jq::{Bindings, Template};
use swirl_workflow::model::{EventDefinition, EventRead};

/// The buffer's type for the events gathered for a workflow: `swirl.gather/<id>`.
pub(crate) const GATHER_PREFIX: &str = "swirl.gather/";

/// How many candidate pairings a search for a set tries at most: enough for
/// any set a person writes, and a bound on a buffer full of near misses.
const SEARCH_BUDGET: usize = 100_000;

/// How many sets one look starts at most before it yields.
const MAX_STARTS: usize = 1024;

fn gather_type(workflow: &str) -> String {
    format!("{GATHER_PREFIX}{workflow}")
}

impl Engine {
    /// Keeps `event` for each workflow starting on `all` of several events
    /// one of which it matches, unless it is kept there already; returns
    /// those workflows.
    pub(crate) fn gather_event(
        &self,
        event: &IncomingEvent,
        now: u64,
    ) -> Result<Vec<Arc<Workflow>>, EngineError> {
        let store = &self.inner.store;
        let gathering: Vec<Arc<Workflow>> = read(&self.inner.workflows)
            .values()
            .filter(|w| {
                w.gathered_events().is_some_and(|(filters, _)| {
                    filters.iter().any(|f| accepts_definition(f, event))
                })
            })
            .cloned()
            .collect();
        for workflow in &gathering {
            let kind = gather_type(workflow.id());
            let kept = self.gathered(&kind)?.iter().any(|(_, buffered)| {
                buffered.event.source == event.source && buffered.event.id == event.id
            });
            if kept {
                continue;
            }
            let buffered = BufferedEvent {
                received_ms: now,
                event: event.clone(),
            };
            let limit = self.inner.config.buffer_max_events;
            if store
                .buffer_event(&kind, "", &encode(&buffered)?, limit)?
                .is_none()
            {
                return Err(EngineError::BufferFull(limit));
            }
        }
        Ok(gathering)
    }

    /// The events gathered under `kind`, oldest first, with their keys.
    fn gathered(&self, kind: &str) -> Result<Vec<(Vec<u8>, BufferedEvent)>, EngineError> {
        Ok(self
            .inner
            .store
            .buffered_events(kind, "")?
            .into_iter()
            // One that cannot be read can never start anything; retention
            // deletes it.
            .filter_map(|(key, bytes)| Some((key, serde_json::from_slice(&bytes).ok()?)))
            .collect())
    }

    /// Starts an instance of `workflow` for each complete set of its
    /// gathered events; `live` is the event being delivered, if any (its
    /// seen mark goes with the start that consumes it). Returns the ids of
    /// the instances started.
    pub(crate) async fn start_gathered(
        &self,
        workflow: &Arc<Workflow>,
        live: Option<&IncomingEvent>,
    ) -> Result<Vec<String>, EngineError> {
        let Some((filters, read)) = workflow.gathered_events() else {
            return Ok(Vec::new());
        };
        let kind = gather_type(workflow.id());
        let retention = self.inner.config.buffer_retention.as_millis() as u64;
        let mut started = Vec::new();
        for _ in 0..MAX_STARTS {
            let now = self.now_ms();
            let candidates: Vec<(Vec<u8>, BufferedEvent)> = self
                .gathered(&kind)?
                .into_iter()
                .filter(|(_, b)| now.saturating_sub(b.received_ms) <= retention)
                .collect();
            let Some(set) = find_set(&filters, &candidates) else {
                break;
            };
            let events: Vec<&IncomingEvent> = set.iter().map(|&i| &candidates[i].1.event).collect();
            let take: Vec<Vec<u8>> = set.iter().map(|&i| candidates[i].0.clone()).collect();
            let id = gathered_instance_id(workflow.id(), &events);
            let input = Value::Array(events.iter().map(|e| read_event(read, e)).collect());
            let live = live.filter(|live| events.iter().any(|e| e.key() == live.key()));
            let mut marks = Vec::with_capacity(events.len());
            for event in &events {
                let mut waiting: Vec<String> = self
                    .waiting_for(event)?
                    .into_iter()
                    .map(|key| key.instance)
                    .collect();
                waiting.sort();
                waiting.dedup();
                marks.push((event.key(), Arc::from(waiting)));
            }
            let begin = Begin::Start {
                workflow: workflow.clone(),
                input,
                parent: None,
                first_event: None,
                trace: live.and_then(|live| self.event_link(live)),
                take: take.clone(),
                marks,
            };
            // A crash here leaves the set complete in the buffer, for the
            // server's start to find. The delivery flushes only at its end
            // (another commit's flush may come sooner), so an armed point
            // first makes the kept events durable: its crash is then one
            // inside this window, not one before the event was kept.
            if swirl_core::failpoint::armed("gather-before-start") {
                self.settled().await?;
                swirl_core::failpoint::hit("gather-before-start");
            }
            let outcome = self
                .execute(&id, begin, Admission::External, Instant::now())
                .await?;
            match outcome.record {
                Some(record) if outcome.changed => started.push(record.id),
                // Its instance exists: these are copies of events it
                // consumed already, kept again (a resend after a crash).
                Some(_) => {
                    for key in &take {
                        self.inner.store.take_buffered_event(key)?;
                    }
                }
                // Another delivery took one of the events first: look again.
                None => {}
            }
        }
        Ok(started)
    }
}

/// A candidate for a filter: its index, and the values its `correlate`
/// takes from it, by name.
type Match = (usize, Vec<(String, Value)>);

/// The oldest events, one per filter in order, that make a set: their
/// indexes in `candidates`, or `None` when no set is complete.
fn find_set(
    filters: &[&EventDefinition],
    candidates: &[(Vec<u8>, BufferedEvent)],
) -> Option<Vec<usize>> {
    let matching: Vec<Vec<Match>> = filters
        .iter()
        .map(|filter| {
            (0..candidates.len())
                .filter_map(|i| {
                    let event = &candidates[i].1.event;
                    accepts_definition(filter, event)
                        .then(|| correlated(filter, event))
                        .flatten()
                        .map(|values| (i, values))
                })
                .collect()
        })
        .collect();
    if matching.iter().any(Vec::is_empty) {
        return None;
    }
    /// Whether the values agree with those the events chosen so far gave.
    fn agrees(values: &[(String, Value)], bound: &[(String, Value)]) -> bool {
        values.iter().all(|(name, value)| {
            bound
                .iter()
                .all(|(bound_name, bound_value)| bound_name != name || bound_value == value)
        })
    }
    fn search(
        matching: &[Vec<Match>],
        chosen: &mut Vec<usize>,
        bound: &mut Vec<(String, Value)>,
        budget: &mut usize,
    ) -> bool {
        let Some(options) = matching.get(chosen.len()) else {
            return true;
        };
        for (candidate, values) in options {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            if chosen.contains(candidate) || !agrees(values, bound) {
                continue;
            }
            chosen.push(*candidate);
            let before = bound.len();
            bound.extend(values.iter().cloned());
            if search(matching, chosen, bound, budget) {
                return true;
            }
            bound.truncate(before);
            chosen.pop();
        }
        false
    }
    let mut chosen = Vec::with_capacity(filters.len());
    let mut budget = SEARCH_BUDGET;
    search(&matching, &mut chosen, &mut Vec::new(), &mut budget).then_some(chosen)
}

/// The values `filter`'s `correlate` takes from `event`, by name; `None`
/// when one cannot be taken or differs from its written `expect` (a
/// computed one is refused at validation).
fn correlated(filter: &EventDefinition, event: &IncomingEvent) -> Option<Vec<(String, Value)>> {
    let Some(correlate) = filter.filter.as_ref().map(|f| &f.correlate) else {
        return Some(Vec::new());
    };
    let envelope = read_event(EventRead::Envelope, event);
    let locals = BTreeMap::new();
    let bindings = Bindings::empty(&locals);
    correlate
        .iter()
        .map(|correlation| {
            let value = correlation.from.eval(&envelope, &bindings).ok()?;
            match &correlation.expect {
                Some(Template::Literal(expected)) if *expected != value => None,
                _ => Some((correlation.name.clone(), value)),
            }
        })
        .collect()
}

/// The id of the instance a set of events starts: the same whoever finds
/// the set, and after a crash.
fn gathered_instance_id(workflow: &str, events: &[&IncomingEvent]) -> String {
    let mut text = format!("all\u{0}{workflow}");
    for event in events {
        text.push_str(&format!("\u{0}{}\u{0}{}", event.source, event.id));
    }
    let digest = Sha256::digest(text.as_bytes());
    format!("ev-{}", &hex(&digest)[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(event_type: &str, source: &str) -> EventDefinition {
        EventDefinition {
            name: format!("{event_type}/{source}"),
            source: source.to_string(),
            event_type: event_type.to_string(),
            correlation_token: None,
            metadata: Default::default(),
            filter: None,
        }
    }

    fn kept(id: &str, event_type: &str, source: &str) -> (Vec<u8>, BufferedEvent) {
        let event = IncomingEvent {
            id: id.to_string(),
            event_type: event_type.to_string(),
            source: source.to_string(),
            data: Value::Null,
            extensions: BTreeMap::new(),
            attributes: BTreeMap::new(),
        };
        (
            id.as_bytes().to_vec(),
            BufferedEvent {
                received_ms: 0,
                event,
            },
        )
    }

    #[test]
    fn a_set_takes_the_oldest_events_and_backtracks_for_one_that_matches_two_filters() {
        let (placed, any_paid) = (filter("placed", "shop"), filter("paid", ""));
        let bank_paid = filter("paid", "bank");
        // The first filter takes any paid event, the second only the bank's:
        // taking the bank's for the first would leave the second nothing.
        let filters = [&any_paid, &bank_paid];
        let events = [kept("p1", "paid", "bank"), kept("p2", "paid", "card")];
        assert_eq!(find_set(&filters, &events), Some(vec![1, 0]));
        // Incomplete: no set; complete: the oldest of each, in filter order.
        let filters = [&placed, &any_paid];
        assert_eq!(find_set(&filters, &events), None);
        let events = [
            kept("p1", "paid", "bank"),
            kept("o1", "placed", "shop"),
            kept("o2", "placed", "shop"),
        ];
        assert_eq!(find_set(&filters, &events), Some(vec![1, 0]));
    }

    /// `filter`, correlating `.data.order` as `order`, expecting `expect`.
    fn correlating(event_type: &str, expect: Option<&str>) -> EventDefinition {
        use swirl_workflow::expression::jq::Jq;
        use swirl_workflow::model::{Correlation, EventFilter};
        EventDefinition {
            filter: Some(Box::new(EventFilter {
                with: Vec::new(),
                correlate: vec![Correlation {
                    name: "order".into(),
                    from: Jq::compile(".data.order", &[]).unwrap(),
                    expect: expect.map(|e| Template::Literal(Value::from(e))),
                }],
                computed_type: None,
                computed_source: None,
            })),
            ..filter(event_type, "shop")
        }
    }

    fn of_order(id: &str, event_type: &str, order: &str) -> (Vec<u8>, BufferedEvent) {
        let (key, mut buffered) = kept(id, event_type, "shop");
        buffered.event.data = serde_json::json!({ "order": order });
        (key, buffered)
    }

    #[test]
    fn correlated_filters_make_sets_of_events_that_agree() {
        let (placed, paid) = (correlating("placed", None), correlating("paid", None));
        let filters = [&placed, &paid];
        let events = [
            of_order("o1", "placed", "a"),
            of_order("o2", "placed", "b"),
            of_order("p2", "paid", "b"),
        ];
        // Order a has no payment yet: order b's events make the set.
        assert_eq!(find_set(&filters, &events), Some(vec![1, 2]));
        let events = [of_order("o1", "placed", "a"), of_order("p2", "paid", "b")];
        assert_eq!(find_set(&filters, &events), None);
        // A written expect takes only its order's events.
        let only_b = correlating("placed", Some("b"));
        let filters = [&only_b, &paid];
        let events = [
            of_order("o1", "placed", "a"),
            of_order("p1", "paid", "a"),
            of_order("o2", "placed", "b"),
            of_order("p2", "paid", "b"),
        ];
        assert_eq!(find_set(&filters, &events), Some(vec![2, 3]));
    }

    #[test]
    fn a_set_names_its_instance_whoever_finds_it() {
        let (a, b) = (kept("a", "t", "s").1.event, kept("b", "t", "s").1.event);
        let id = gathered_instance_id("w", &[&a, &b]);
        assert_eq!(id, gathered_instance_id("w", &[&a, &b]));
        assert_ne!(id, gathered_instance_id("w", &[&b, &a]));
        assert_ne!(id, gathered_instance_id("v", &[&a, &b]));
    }
}
