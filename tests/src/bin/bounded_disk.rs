//! `bounded_disk`: the heavy tier of the bounded-disk soak
//! (`swirl_tests::bounded_disk`): hours of short instances and events
//! under an hour's retention, the data directory sampled every minute.
//!
//! Usage: `cargo run --workspace --bin bounded_disk -- [--scaled SECONDS [--keep] [--rate N|max]]`;
//! `--scaled` runs SECONDS of load under a retention of a sixth of that
//! (what the test runs); `--keep` keeps everything instead (retention of
//! a year), the control run; `--rate` sends N requests a second (default
//! `SCALED_RATE`) or as fast as the server answers. Prints the samples; exits 1 when the data
//! directory's peak in the last third of the run is over 1.25 times the
//! middle third's.

use std::process::ExitCode;
use std::time::Duration;

use swirl_tests::bounded_disk::{DiskConfig, run};

/// The growth of the data directory's peak, last third over middle third,
/// that still counts as levelled off.
const LEVELLED: f64 = 1.25;

const USAGE: &str = "usage: bounded_disk [--scaled SECONDS [--keep] [--rate N|max]]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(config) => config,
        Err(problem) => {
            eprintln!("bounded_disk: {problem}\n{USAGE}");
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

fn parse(args: &[String]) -> Result<DiskConfig, String> {
    let [flag, seconds, rest @ ..] = args else {
        return match args {
            [] => Ok(DiskConfig::default()),
            _ => Err("--scaled takes seconds".into()),
        };
    };
    if flag != "--scaled" {
        return Err(format!("unknown argument '{flag}'"));
    }
    let seconds = seconds
        .parse()
        .map_err(|_| format!("--scaled takes seconds, not '{seconds}'"))?;
    let mut config = DiskConfig::scaled(Duration::from_secs(seconds));
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--keep" => config.retention = Duration::from_secs(365 * 24 * 60 * 60),
            "--rate" => {
                config.rate = match rest.next().map(String::as_str) {
                    Some("max") => None,
                    Some(rate) => Some(rate.parse().map_err(|_| {
                        format!("--rate takes requests a second or max, not '{rate}'")
                    })?),
                    None => return Err("--rate takes requests a second or max".into()),
                }
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(config)
}
