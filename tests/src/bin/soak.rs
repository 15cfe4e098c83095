//! `soak`: the long form of the soak harness (`swirl_tests::soak`).
//!
//! Usage: `cargo run --workspace --bin soak -- [--power-cuts] [KILLS] [RATE] [SEED]`
//! (defaults: 50 kills, 100 requests/s, a seed from the clock). With
//! `--power-cuts`, every kill is a power cut on the lazy disk (needs FUSE
//! and root). Prints a summary; exits 1 on any violation. `tests/soak.sh`
//! runs it.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use swirl_tests::soak::{SoakConfig, run};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let power_cuts = args.first().is_some_and(|arg| arg == "--power-cuts");
    if power_cuts {
        args.remove(0);
    }
    let number = |index: usize, default: u64| -> Result<u64, String> {
        args.get(index).map_or(Ok(default), |text| {
            text.parse()
                .map_err(|_| format!("argument {} must be a number, not '{text}'", index + 1))
        })
    };
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64);
    let config = match (number(0, 50), number(1, 100), number(2, clock)) {
        (Ok(kills), Ok(rate), Ok(seed)) => SoakConfig {
            kills: kills as usize,
            rate: rate.clamp(1, 10_000) as u32,
            uptime: (Duration::from_secs(1), Duration::from_secs(6)),
            seed,
            settle: Duration::from_secs(60),
            power_cuts,
        },
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
            eprintln!("soak: {error}\nusage: soak [--power-cuts] [KILLS] [RATE] [SEED]");
            return ExitCode::from(2);
        }
    };
    let summary = run(&config);
    print!("{summary}");
    if summary.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
