//! Where calls of a function go: one version, or versions with weights in
//! whole percentages summing to 100. A function's current route serves
//! calls by its plain name; each alias is a route of its own.
//!
//! A route is written as text in deployment records: `1a2b3c4d5e6f` for one
//! version (what records held before weights existed), or
//! `1a2b3c4d5e6f=90,6f5e4d3c2b1a=10`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most versions one route may split its calls between.
pub const MAX_ROUTE_VERSIONS: usize = 10;

/// Why a route is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("a route needs at least one version")]
    Empty,
    #[error("a route splits calls between at most {MAX_ROUTE_VERSIONS} versions, not {0}")]
    TooMany(usize),
    #[error("version {0} appears twice; give each version one weight")]
    Repeated(String),
    #[error("the weight of version {0} is 0; leave the version out instead")]
    ZeroWeight(String),
    #[error("weights are whole percentages that sum to 100, and these sum to {0}")]
    Sum(u32),
    #[error("'{0}' is not a route record (version or version=weight,...)")]
    Record(String),
}

/// Versions and their weights, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    entries: Vec<(String, u32)>,
}

impl Route {
    /// All calls to one version.
    pub fn single(version: impl Into<String>) -> Self {
        Route {
            entries: vec![(version.into(), 100)],
        }
    }

    /// Calls split by weight; refused unless each weight is positive, each
    /// version appears once and the weights sum to 100.
    pub fn new(entries: Vec<(String, u32)>) -> Result<Self, RouteError> {
        if entries.is_empty() {
            return Err(RouteError::Empty);
        }
        if entries.len() > MAX_ROUTE_VERSIONS {
            return Err(RouteError::TooMany(entries.len()));
        }
        for (index, (version, weight)) in entries.iter().enumerate() {
            if *weight == 0 {
                return Err(RouteError::ZeroWeight(version.clone()));
            }
            if entries[..index].iter().any(|(other, _)| other == version) {
                return Err(RouteError::Repeated(version.clone()));
            }
        }
        let sum = entries
            .iter()
            .fold(0u32, |sum, (_, weight)| sum.saturating_add(*weight));
        if sum != 100 {
            return Err(RouteError::Sum(sum));
        }
        Ok(Route { entries })
    }

    /// The route after a deployment of `version`: all calls to it, or with
    /// `canary`, that percentage of calls while the rest stays with the
    /// version that had most of them (other canaries end). A first version,
    /// or one that already has most calls, gets them all.
    pub fn deployed(before: Option<&Route>, version: &str, canary: Option<u32>) -> Route {
        match (before, canary) {
            (Some(before), Some(percent))
                if before.primary() != version && (1..100).contains(&percent) =>
            {
                Route {
                    entries: vec![
                        (before.primary().to_string(), 100 - percent),
                        (version.to_string(), percent),
                    ],
                }
            }
            (Some(before), Some(_)) if before.primary() == version => before.clone(),
            _ => Route::single(version),
        }
    }

    /// The versions and their weights.
    pub fn entries(&self) -> &[(String, u32)] {
        &self.entries
    }

    pub fn contains(&self, version: &str) -> bool {
        self.entries.iter().any(|(v, _)| v == version)
    }

    /// The version with the largest weight (the later one of a tie): what
    /// the function's version, config and statistics are shown for.
    pub fn primary(&self) -> &str {
        // `max_by_key` keeps the last of equal maxima.
        self.entries
            .iter()
            .max_by_key(|(_, weight)| *weight)
            .map_or("", |(version, _)| version)
    }

    /// The version a call with `roll` (0 to 99) goes to.
    pub fn pick_with(&self, roll: u32) -> &str {
        let mut below = 0;
        for (version, weight) in &self.entries {
            below += weight;
            if roll < below {
                return version;
            }
        }
        self.primary()
    }

    /// The version one call goes to, chosen by weight.
    pub fn pick(&self) -> &str {
        if self.entries.len() == 1 {
            return &self.entries[0].0;
        }
        self.pick_with(roll())
    }

    /// Reads a route record ([`Route::record`]).
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        if !text.contains('=') {
            return if text.is_empty() || text.contains(',') {
                Err(RouteError::Record(text.to_string()))
            } else {
                Ok(Route::single(text))
            };
        }
        let entries = text
            .split(',')
            .map(|entry| {
                let (version, weight) = entry.split_once('=')?;
                Some((version.to_string(), weight.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RouteError::Record(text.to_string()))?;
        Route::new(entries)
    }

    /// The route as a deployment record holds it.
    pub fn record(&self) -> String {
        match self.entries.as_slice() {
            [(version, 100)] => version.clone(),
            entries => entries
                .iter()
                .map(|(version, weight)| format!("{version}={weight}"))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// A uniform number from 0 to 99: a per-process random key hashing a
/// counter, so that concurrent calls take no lock.
fn roll() -> u32 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    (KEY.get_or_init(RandomState::new).hash_one(count) % 100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(entries: &[(&str, u32)]) -> Result<Route, RouteError> {
        Route::new(entries.iter().map(|(v, w)| (v.to_string(), *w)).collect())
    }

    #[test]
    fn weights_are_checked() {
        assert!(split(&[("a", 90), ("b", 10)]).is_ok());
        assert_eq!(split(&[]), Err(RouteError::Empty));
        assert_eq!(split(&[("a", 90), ("b", 20)]), Err(RouteError::Sum(110)));
        assert_eq!(
            split(&[("a", 100), ("b", 0)]),
            Err(RouteError::ZeroWeight("b".into()))
        );
        assert_eq!(
            split(&[("a", 50), ("a", 50)]),
            Err(RouteError::Repeated("a".into()))
        );
        assert_eq!(
            split(&[("a", u32::MAX), ("b", 2)]),
            Err(RouteError::Sum(u32::MAX))
        );
    }

    #[test]
    fn records_round_trip_and_a_plain_version_is_a_route() {
        let route = split(&[("a", 90), ("b", 10)]).unwrap();
        assert_eq!(route.record(), "a=90,b=10");
        assert_eq!(Route::parse("a=90,b=10").unwrap(), route);
        assert_eq!(Route::parse("a").unwrap(), Route::single("a"));
        assert_eq!(Route::single("a").record(), "a");
        for bad in ["", "a=x", "a,b", "a=50", "=100,"] {
            assert!(Route::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn picks_follow_the_weights() {
        let route = split(&[("a", 90), ("b", 10)]).unwrap();
        assert_eq!(route.pick_with(0), "a");
        assert_eq!(route.pick_with(89), "a");
        assert_eq!(route.pick_with(90), "b");
        assert_eq!(route.pick_with(99), "b");
        assert_eq!(route.primary(), "a");
        assert_eq!(split(&[("a", 50), ("b", 50)]).unwrap().primary(), "b");
        let b = (0..10_000).filter(|_| route.pick() == "b").count();
        // 10% of 10,000 is 1,000 with a standard deviation of 30.
        assert!((850..=1150).contains(&b), "{b}");
    }

    #[test]
    fn a_canary_takes_its_share_of_the_primary_version() {
        let one = Route::single("a");
        let canary = Route::deployed(Some(&one), "b", Some(10));
        assert_eq!(canary, split(&[("a", 90), ("b", 10)]).unwrap());
        let next = Route::deployed(Some(&canary), "c", Some(20));
        assert_eq!(next, split(&[("a", 80), ("c", 20)]).unwrap());
        assert_eq!(Route::deployed(Some(&canary), "a", Some(20)), canary);
        assert_eq!(Route::deployed(None, "b", Some(10)), Route::single("b"));
        assert_eq!(
            Route::deployed(Some(&canary), "b", None),
            Route::single("b")
        );
    }
}
