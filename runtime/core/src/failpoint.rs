//! Fault injection for crash tests. `SWIRL_FAILPOINT=<name>` makes the
//! process abort the first time it reaches the point of that name, so that
//! a test can crash it inside a window a random SIGKILL would almost never
//! hit. Unset, as outside such tests, a point costs one read of a static
//! initialised once.

use std::sync::OnceLock;

/// The environment variable that names the armed point.
pub const ENV: &str = "SWIRL_FAILPOINT";

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
