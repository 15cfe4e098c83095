//! Correlation, in one place: which events a waiting subscription accepts,
//! and the correlation value an event carries into the step that consumes
//! it, whether the subscription comes from the store's index, from a
//! record, or from a definition (a start by event).

use std::collections::BTreeMap;

use swirl_ports::store::SubscriptionKey;

use crate::IncomingEvent;

/// Whether `event` carries what a subscription correlated on an attribute
/// (and, once the instance has bound it, on a value) requires; a
/// subscription without correlation accepts every event.
pub(crate) fn accepts(correlation: Option<(&str, Option<&str>)>, event: &IncomingEvent) -> bool {
    match correlation {
        None => true,
        Some((attribute, value)) => event
            .extensions
            .get(attribute)
            .is_some_and(|carried| value.is_none_or(|value| carried == value)),
    }
}

/// An index entry's correlation: an empty attribute is none, an empty value
/// any value.
pub(crate) fn of_key(key: &SubscriptionKey) -> Option<(&str, Option<&str>)> {
    (!key.attribute.is_empty()).then(|| {
        (
            key.attribute.as_str(),
            (!key.value.is_empty()).then_some(key.value.as_str()),
        )
    })
}

/// The value `event` carries for `attribute`, as the consuming step binds it.
pub(crate) fn carried(attribute: Option<&str>, event: &IncomingEvent) -> BTreeMap<String, String> {
    attribute
        .and_then(|attribute| {
            event
                .extensions
                .get(attribute)
                .map(|value| (attribute.to_string(), value.clone()))
        })
        .into_iter()
        .collect()
}
