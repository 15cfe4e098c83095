//! A driver for profilers: repeats one kind of function call and nothing
//! else, so that a profile of it shows where that call's time goes.
//!
//! ```sh
//! cargo bench -p swirl-function --bench profile_call --no-run   # prints the binary's path
//! SWIRL_SMALL_POOL=1 valgrind --tool=callgrind --toggle-collect='profile_call::timed*' \
//!     target/release/deps/profile_call-<hash> warm trivial 1000
//! ```
//!
//! Arguments: a figure (`warm`, `fresh`, `cold_pool_zero` or `cold_restart`,
//! as in `function_calls.rs`), a function (`trivial`, `bigdata`, or a label
//! of `SWIRL_BENCH_GUESTS` as `function_calls.rs` takes it) and a number of
//! calls. Only the calls themselves run inside [`timed`], which is
//! what `--toggle-collect` selects; set-up, and the traps that empty the pool
//! before each `cold_pool_zero` call, stay outside. The code cache lives in
//! the target directory, so that a run under a profiler need not compile.
//! Run natively, the driver prints the median and mean time per call. Under valgrind,
//! set `SWIRL_SMALL_POOL=1`: valgrind cannot reserve the address space of a
//! default host's instance pool.

mod support;

use std::time::{Duration, Instant};

use swirl_function::InstanceMode;

use support::{Environment, call, deploy, trap};

/// The part of the run a profiler should look at.
#[inline(never)]
fn timed<T>(work: impl FnOnce() -> T) -> T {
    work()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` runs every bench target with `--bench`; this one only on request.
    let [figure, label, calls] = args.as_slice() else {
        eprintln!(
            "usage: profile_call <warm|fresh|cold_pool_zero|cold_restart> <trivial|bigdata> <calls>"
        );
        return;
    };
    let calls: u32 = calls.parse().expect("the number of calls");
    let guests = support::guests_from_env().unwrap_or_else(|| support::guests().into());
    let guest = guests
        .iter()
        .find(|guest| guest.label == label)
        .expect("a function: trivial, bigdata or a label of SWIRL_BENCH_GUESTS");
    let mut env = Environment::new(Some(support::target_dir().join("swirl-bench-cache")));
    env.small_pool = std::env::var_os("SWIRL_SMALL_POOL").is_some();
    let mode = match figure.as_str() {
        "fresh" => InstanceMode::Fresh,
        _ => InstanceMode::Reuse,
    };
    let host = env.deployed(guest, mode);
    call(&host, guest, None);

    let mut durations = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        match figure.as_str() {
            "warm" | "fresh" => {
                let started = Instant::now();
                timed(|| call(&host, guest, Some(figure == "fresh")));
                durations.push(started.elapsed());
            }
            "cold_pool_zero" => {
                trap(&host, guest);
                let started = Instant::now();
                timed(|| call(&host, guest, Some(true)));
                durations.push(started.elapsed());
            }
            "cold_restart" => {
                let started = Instant::now();
                let restarted = timed(|| {
                    let restarted = env.host(&env.cache);
                    deploy(&restarted, guest, mode);
                    call(&restarted, guest, Some(true));
                    restarted
                });
                durations.push(started.elapsed());
                drop(restarted);
            }
            other => panic!("unknown figure '{other}'"),
        }
    }
    durations.sort_unstable();
    let total: Duration = durations.iter().sum();
    let median = durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or_default();
    println!(
        "{figure}/{label}: {calls} calls, median {:.2} µs, mean {:.2} µs",
        median.as_secs_f64() * 1e6,
        total.as_secs_f64() * 1e6 / f64::from(calls.max(1))
    );
}
