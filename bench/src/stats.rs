//! Latency samples and what the report says of them, and the resident
//! memory of the server process.

use std::time::Duration;

/// Every latency of a run, in nanoseconds: runs are at most a few hundred
/// thousand requests, so keeping them all gives exact percentiles.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    nanos: Vec<u64>,
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.nanos.push(latency.as_nanos() as u64);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.nanos.extend(other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// p50, p99 and max; zero when there is no sample.
    pub fn summary(&mut self) -> Summary {
        self.nanos.sort_unstable();
        let at = |quantile: f64| -> Duration {
            if self.nanos.is_empty() {
                return Duration::ZERO;
            }
            let index = ((self.nanos.len() as f64 - 1.0) * quantile).round() as usize;
            Duration::from_nanos(self.nanos[index])
        };
        Summary {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// A duration for the table: µs below 10 ms, ms above.
pub fn show(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 10_000.0 {
        format!("{micros:.0} µs")
    } else {
        format!("{:.1} ms", micros / 1000.0)
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most ever resident, in KiB.
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).map_err(|error| {
            anyhow::anyhow!("cannot read {path}: {error}; is the server running?")
        })?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| anyhow::anyhow!("{path} has no readable {name}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// CPU time a process has used so far (user + system), from
/// `/proc/<pid>/stat`. Unlike wall-clock figures it barely moves when other
/// processes share the cores, so it compares runs on a busy machine.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .map_err(|error| anyhow::anyhow!("cannot read {path}: {error}; is the server running?"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
    };
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        anyhow::bail!("{path} has no readable utime and stime");
    };
    // Linux reports them in USER_HZ, 100 per second on every architecture it exports to user space.
    Ok(Duration::from_millis((user + system) * 10))
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut latencies = Latencies::default();
        for micros in (1..=100).rev() {
            latencies.record(Duration::from_micros(micros));
        }
        let summary = latencies.summary();
        assert_eq!(summary.p50, Duration::from_micros(51));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.max, Duration::from_micros(100));
    }

    #[test]
    fn reads_this_process_cpu_time() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(cpu_time(std::process::id()).unwrap() >= Duration::from_millis(10));
    }

    #[test]
    fn reads_this_process_memory() {
        let memory = Memory::of(std::process::id()).unwrap();
        assert!(memory.rss_kib > 0 && memory.hwm_kib >= memory.rss_kib);
    }
}
