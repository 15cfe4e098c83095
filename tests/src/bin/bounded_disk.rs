//! `bounded_disk`: the heavy tier of the bounded-disk soak
//! (`swirl_tests::bounded_disk`): hours of short instances and events
//! under an hour's retention, the data directory sampled every minute.
//!
//! Usage: `cargo run -p swirl-tests --bin bounded_disk -- [--scaled SECONDS [--keep]]`;
//! `--scaled` runs SECONDS of load under a retention of a sixth of that
//! (what the test runs); `--keep` keeps everything instead (retention of
//! a year), the control run. Prints the samples; exits 1 when the data
//! directory's peak in the last third of the run is over 1.25 times the
//! middle third's.

use std::process::ExitCode;
use std::time::Duration;

use swirl_tests::bounded_disk::{DiskConfig, run};

/// The growth of the data directory's peak, last third over middle third,
/// that still counts as levelled off.
const LEVELLED: f64 = 1.25;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [] => DiskConfig::default(),
        [flag, seconds, keep @ ..] if flag == "--scaled" && keep.len() <= 1 => {
            match seconds.parse() {
                Ok(seconds) => {
                    let mut config = DiskConfig::scaled(Duration::from_secs(seconds));
                    if keep.first().is_some_and(|flag| flag == "--keep") {
                        config.retention = Duration::from_secs(365 * 24 * 60 * 60);
                    }
                    config
                }
                Err(_) => {
                    eprintln!("bounded_disk: --scaled takes seconds, not '{seconds}'");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("usage: bounded_disk [--scaled SECONDS [--keep]]");
            return ExitCode::from(2);
        }
    };
    let summary = run(&config);
    print!("{summary}");
    if summary.problems.is_empty() && summary.late_growth() <= LEVELLED {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
