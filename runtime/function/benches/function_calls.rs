//! Criterion benchmarks of the function host, in-process: what one function
//! call costs in each state a pool can be in, from a warm instance down to a
//! component that was never compiled. `BENCHMARKS.md` records the figures
//! and the targets they answer.
//!
//! Run with `cargo bench -p swirl-function --bench function_calls` (add a filter such
//! as `-- warm` to run some). Each figure is measured for two functions:
//!
//! - `trivial`: the `probe` test function's `count` action, which parses a
//!   one-field JSON input and returns a number;
//! - `bigdata`: a function whose component carries 10 MiB of data segments
//!   (`tests/guests/bigdata`), which returns one byte of that data.
//!
//! The figures:
//!
//! - `warm`: a call served by an idle instance (`instance-mode = "reuse"`);
//! - `fresh`: a call with `instance-mode = "fresh"`: instantiate, call, drop;
//! - `cold_pool_zero`: the first call of a reuse pool that holds no instance,
//!   with the component already loaded: instantiate and call;
//! - `cold_restart`: what a restarted process pays before its first answer:
//!   a new `FunctionHost`, reading the function's file, deploying it from the
//!   on-disk code cache, and the first call;
//! - `first_compile`: the same with an empty code cache: compiling, writing
//!   the cache entry (synced to disk), and the first call;
//! - `warm_2_threads`: warm calls from two threads at once, for throughput.
//!
//! Every call is timed on its own as well, so that the summary printed at the
//! end can give the 99th percentile beside criterion's median. Durable
//! settings stay as in production: kv is the real sled store, cache entries
//! are synced, and no result is cached.

mod support;

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use swirl_function::{FunctionLimits, InstanceMode};

use support::{Environment, Guest, call, deploy, trap};

/// One row of the summary.
struct Figure {
    name: String,
    /// Every timed call's duration; empty for throughput-only figures.
    samples: Vec<Duration>,
    /// Calls made while timed, and the time they took.
    calls: u64,
    elapsed: Duration,
}

impl Figure {
    fn latencies(name: String, samples: Vec<Duration>) -> Self {
        Figure {
            name,
            calls: samples.len() as u64,
            elapsed: samples.iter().sum(),
            samples,
        }
    }

    fn row(&self) -> String {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let percentile = |percent: usize| {
            if sorted.is_empty() {
                return "—".to_string();
            }
            let rank = (sorted.len() * percent).div_ceil(100).max(1);
            show(sorted[rank - 1])
        };
        format!(
            "| {} | {} | {} | {} | {} | {:.0}/s |",
            self.name,
            self.calls,
            percentile(50),
            percentile(99),
            show(self.elapsed / self.calls.max(1) as u32),
            self.calls as f64 / self.elapsed.as_secs_f64()
        )
    }
}

fn show(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.2} µs")
    } else {
        format!("{:.2} ms", micros / 1_000.0)
    }
}

/// A criterion group that also keeps every call's duration for the summary.
struct Group<'c> {
    name: &'static str,
    criterion: BenchmarkGroup<'c, WallTime>,
}

impl<'c> Group<'c> {
    fn new(criterion: &'c mut Criterion, name: &'static str) -> Self {
        let mut group = criterion.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        Group {
            name,
            criterion: group,
        }
    }

    fn finish(self) {
        self.criterion.finish();
    }

    /// Benchmarks `timed` as `id`, running `setup` untimed before each call
    /// and dropping what `timed` returns untimed after it.
    fn measure<S, T>(
        &mut self,
        figures: &mut Vec<Figure>,
        id: &str,
        mut setup: impl FnMut() -> S,
        mut timed: impl FnMut(S) -> T,
    ) {
        let mut samples = Vec::new();
        self.criterion.bench_function(id, |bencher| {
            bencher.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let state = setup();
                    let started = Instant::now();
                    let output = timed(state);
                    let elapsed = started.elapsed();
                    drop(output);
                    samples.push(elapsed);
                    total += elapsed;
                }
                total
            })
        });
        if !samples.is_empty() {
            figures.push(Figure::latencies(format!("{}/{id}", self.name), samples));
        }
    }
}

/// Calls that reach a warm or freshly made instance: microseconds each.
fn bench_calls(
    criterion: &mut Criterion,
    env: &Environment,
    guests: &[Guest],
    figures: &mut Vec<Figure>,
) {
    let short = |group: &mut Group<'_>| {
        group
            .criterion
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .sample_size(50);
    };

    let mut warm = Group::new(criterion, "warm");
    short(&mut warm);
    for guest in guests {
        let host = env.deployed(guest, InstanceMode::Reuse);
        call(&host, guest, Some(true));
        warm.measure(
            figures,
            guest.label,
            || (),
            |()| call(&host, guest, Some(false)),
        );
    }
    warm.finish();

    let mut fresh = Group::new(criterion, "fresh");
    short(&mut fresh);
    for guest in guests {
        let host = env.deployed(guest, InstanceMode::Fresh);
        fresh.measure(
            figures,
            guest.label,
            || (),
            |()| call(&host, guest, Some(true)),
        );
    }
    fresh.finish();

    // A trap makes the pool drop the instance it ran on, so before each timed
    // call the pool is back at zero, as after its idle-timeout; waiting for
    // the reaper instead would take 50 ms a call.
    let mut cold = Group::new(criterion, "cold_pool_zero");
    short(&mut cold);
    for guest in guests.iter().filter(|guest| guest.trap_input.is_some()) {
        let host = env.deployed(guest, InstanceMode::Reuse);
        cold.measure(
            figures,
            guest.label,
            || trap(&host, guest),
            |()| call(&host, guest, Some(true)),
        );
    }
    cold.finish();
}

/// What it costs to have a function answer at all: milliseconds to seconds each.
fn bench_starts(
    criterion: &mut Criterion,
    env: &Environment,
    guests: &[Guest],
    figures: &mut Vec<Figure>,
) {
    let mut restart = Group::new(criterion, "cold_restart");
    restart
        .criterion
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let cache = env.cache.clone();
    for guest in guests {
        // Fill the code cache as an earlier process would have.
        drop(env.deployed(guest, InstanceMode::Reuse));
        restart.measure(
            figures,
            guest.label,
            || (),
            |()| {
                let host = env.host(&cache);
                deploy(&host, guest, InstanceMode::Reuse);
                call(&host, guest, Some(true));
                host
            },
        );
    }
    restart.finish();

    let mut compile = Group::new(criterion, "first_compile");
    compile
        .criterion
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    for guest in guests {
        compile.measure(
            figures,
            guest.label,
            || tempfile::tempdir_in(env.scratch()).expect("an empty code cache"),
            |empty| {
                let host = env.host(empty.path());
                deploy(&host, guest, InstanceMode::Reuse);
                call(&host, guest, Some(true));
                (host, empty)
            },
        );
    }
    compile.finish();
}

/// Warm calls from two threads sharing one pool, as a server's workers would.
fn bench_throughput(
    criterion: &mut Criterion,
    env: &Environment,
    guests: &[Guest],
    figures: &mut Vec<Figure>,
) {
    const THREADS: u32 = 2;
    let mut group = criterion.benchmark_group("warm_2_threads");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .throughput(Throughput::Elements(u64::from(THREADS)));
    for guest in guests {
        let host = env.deployed(guest, InstanceMode::Reuse);
        call(&host, guest, None);
        // Each timed unit is one call on each thread; the threads live for a
        // whole batch of units so that spawning them is not measured per call.
        let (mut calls, mut elapsed) = (0, Duration::ZERO);
        group.bench_function(guest.label, |bencher| {
            bencher.iter_custom(|iters| {
                let started = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..THREADS {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                call(&host, guest, None);
                            }
                        });
                    }
                });
                let batch = started.elapsed();
                calls += iters * u64::from(THREADS);
                elapsed += batch;
                batch
            })
        });
        if calls > 0 {
            figures.push(Figure {
                name: format!("warm_2_threads/{}", guest.label),
                samples: Vec::new(),
                calls,
                elapsed,
            });
        }
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let guests = support::guests_from_env().unwrap_or_else(|| support::guests().into());
    let env = Environment::new(None);
    let mut figures = Vec::new();
    bench_calls(&mut criterion, &env, &guests, &mut figures);
    bench_starts(&mut criterion, &env, &guests, &mut figures);
    bench_throughput(&mut criterion, &env, &guests, &mut figures);
    criterion.final_summary();
    let memory = warm_instance_memory(&env, &guests);

    if !figures.is_empty() {
        println!("\nEvery timed call, warm-up included (warm_2_threads: throughput only):\n");
        println!("| figure | calls | p50 | p99 | mean | calls/s |");
        println!("|---|---:|---:|---:|---:|---:|");
        for figure in &figures {
            println!("{}", figure.row());
        }
    }
    println!(
        "\nResident memory per warm instance ({WARM_INSTANCES} kept warm, code mapping included):\n"
    );
    println!("| function | per instance |");
    println!("|---|---:|");
    for (label, bytes) in memory {
        println!("| {label} | {:.1} MiB |", bytes as f64 / f64::from(1 << 20));
    }
}

/// Instances `warm_instance_memory` keeps warm.
const WARM_INSTANCES: u32 = 20;

/// What a warm instance costs in resident memory: the growth of this
/// process when a host keeps `WARM_INSTANCES` of a function warm (its code
/// comes from the code cache, which the figures above filled), divided by
/// their number.
fn warm_instance_memory(env: &Environment, guests: &[Guest]) -> Vec<(&'static str, u64)> {
    guests
        .iter()
        .map(|guest| {
            let host = env.host(&env.cache);
            let before = support::resident_bytes();
            support::deploy_with(
                &host,
                guest,
                FunctionLimits {
                    min_instances: WARM_INSTANCES,
                    max_instances: WARM_INSTANCES,
                    ..FunctionLimits::default()
                },
            );
            let grown = support::resident_bytes().saturating_sub(before);
            drop(host);
            (guest.label, grown / u64::from(WARM_INSTANCES))
        })
        .collect()
}
