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
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var(ENV).ok());
    if armed.as_deref() == Some(name) {
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}
