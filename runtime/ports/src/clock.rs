//! The clock port: what time it is for the engine, and waiting until a time.
//!
//! Every time the engine records (a step's history, a timer's due time, a
//! run's commit) comes from its [`Clock`], and every timer it keeps waits on
//! it, so a test can run timers and timeouts at once and read exact times:
//! [`crate::memory::ManualClock`] moves only when told. Elapsed-time limits
//! of the process itself (how long a caller waits for an answer, back-off
//! between retries of a sink) are not the clock's: they stay monotonic.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A wait for a time, as the clock keeps it.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wall-clock time for the engine, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Now.
    fn now_ms(&self) -> u64;

    /// Completes once [`Clock::now_ms`] has reached `due_ms`; at once when it
    /// has. Polled on a tokio runtime.
    fn sleep_until(&self, due_ms: u64) -> Sleep;
}

/// The system's clock, with tokio's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        swirl_core::time::now_ms()
    }

    fn sleep_until(&self, due_ms: u64) -> Sleep {
        let wait = due_ms.saturating_sub(self.now_ms());
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}
