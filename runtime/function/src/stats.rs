//! Per-function counters and a window of recent call durations.

use std::sync::Mutex;
use std::time::Duration;

use swirl_core::percentile::percentile;

/// Calls whose durations the percentiles are computed over.
const WINDOW: usize = 1024;

/// Statistics of one function since it was deployed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStats {
    pub version: String,
    /// True when its compiled code came from the code cache (no compile).
    pub from_cache: bool,
    pub invocations: u64,
    pub failures: u64,
    /// Calls that found no warm instance and instantiated one.
    pub cold_starts: u64,
    /// Calls served by a warm instance.
    pub warm_starts: u64,
    /// Calls refused with `SYS.Busy`.
    pub busy: u64,
    /// Instances alive now, busy or idle.
    pub live_instances: u32,
    /// Instances alive and idle now.
    pub idle_instances: u32,
    /// Median duration of the last 1024 calls, in microseconds.
    pub p50_micros: u64,
    /// 99th percentile duration of the last 1024 calls, in microseconds.
    pub p99_micros: u64,
    /// Duration of all calls together, in microseconds.
    #[serde(default)]
    pub total_micros: u64,
}

#[derive(Default)]
struct Counters {
    invocations: u64,
    failures: u64,
    cold_starts: u64,
    warm_starts: u64,
    busy: u64,
    total_micros: u64,
    recent_micros: Vec<u64>,
    next: usize,
}

#[derive(Default)]
pub(crate) struct Stats {
    counters: Mutex<Counters>,
}

/// How a call got (or did not get) its instance.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Cold,
    Warm,
    Busy,
}

impl Stats {
    pub fn record(&self, start: Start, failed: bool, duration: Duration) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters.invocations += 1;
        counters.failures += u64::from(failed);
        match start {
            Start::Cold => counters.cold_starts += 1,
            Start::Warm => counters.warm_starts += 1,
            Start::Busy => counters.busy += 1,
        }
        let micros = duration.as_micros() as u64;
        counters.total_micros = counters.total_micros.saturating_add(micros);
        if counters.recent_micros.len() < WINDOW {
            counters.recent_micros.push(micros);
        } else {
            let next = counters.next;
            counters.recent_micros[next] = micros;
        }
        counters.next = (counters.next + 1) % WINDOW;
    }

    pub fn snapshot(&self, version: &str, from_cache: bool, live: u32, idle: u32) -> FunctionStats {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut sorted = counters.recent_micros.clone();
        sorted.sort_unstable();
        FunctionStats {
            version: version.to_string(),
            from_cache,
            invocations: counters.invocations,
            failures: counters.failures,
            cold_starts: counters.cold_starts,
            warm_starts: counters.warm_starts,
            busy: counters.busy,
            live_instances: live,
            idle_instances: idle,
            p50_micros: percentile(&sorted, 50),
            p99_micros: percentile(&sorted, 99),
            total_micros: counters.total_micros,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recent_window() {
        let stats = Stats::default();
        for micros in 1..=100 {
            stats.record(Start::Warm, false, Duration::from_micros(micros));
        }
        let snapshot = stats.snapshot("v", false, 1, 1);
        assert_eq!((snapshot.p50_micros, snapshot.p99_micros), (50, 99));
        assert_eq!(snapshot.invocations, 100);

        for _ in 0..WINDOW {
            stats.record(Start::Cold, true, Duration::from_micros(7));
        }
        let snapshot = stats.snapshot("v", false, 0, 0);
        assert_eq!((snapshot.p50_micros, snapshot.p99_micros), (7, 7));
        assert_eq!(snapshot.failures, WINDOW as u64);
    }
}
