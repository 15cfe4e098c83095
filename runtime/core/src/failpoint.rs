//! Fault injection for crash tests. `SWIRL_FAILPOINT=<name>` makes the
//! process abort the first time it reaches the point of that name, so that
//! a test can crash it inside a window a random SIGKILL would almost never
//! hit; or, at a point that [`hold`]s, wait there while a file exists, so
//! that a test can act while the process is inside a window. Unset, as
//! outside such tests, a point costs one read of a static initialised once.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable that names the armed point.
pub const ENV: &str = "SWIRL_FAILPOINT";

/// The file whose existence keeps a process at an armed [`hold`] point.
pub const HOLD_ENV: &str = "SWIRL_FAILPOINT_HOLD";

/// Waits while the file `$SWIRL_FAILPOINT_HOLD` exists, when `name` is the
/// armed point: a window too short or too variable to aim at by timing
/// (a compile under way) becomes one a test opens and closes.
pub fn hold(name: &str) {
    if !armed(name) {
        return;
    }
    let Some(file) = std::env::var_os(HOLD_ENV) else {
        return;
    };
    eprintln!(
        "failpoint {name} reached: holding while {} exists",
        Path::new(&file).display()
    );
    while Path::new(&file).exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Aborts the process (as a crash would: nothing is flushed) when `name` is
/// the armed point.
pub fn hit(name: &str) {
    if armed(name) {
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}

/// Whether `name` is the armed point: for a point that must first let
/// something happen (an answer go out) before it calls [`hit`].
pub fn armed(name: &str) -> bool {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var(ENV).ok());
    armed.as_deref() == Some(name)
}
