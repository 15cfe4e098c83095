//! Unique, time-ordered ids for invocations and instances, cheap enough for
//! hot paths: no syscall and no allocation beyond the string itself.
//!
//! An id is 48 bits of Unix milliseconds, 16 bits of per-process nonce and a
//! 32-bit per-process sequence number, in hex: ids sort by creation time
//! across restarts, and two processes started in the same millisecond
//! differ by their nonce.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

fn nonce() -> u16 {
    static NONCE: OnceLock<u16> = OnceLock::new();
    // RandomState is seeded from the OS once per process.
    *NONCE.get_or_init(|| RandomState::new().hash_one(std::process::id()) as u16)
}

/// A new id, e.g. `019a8f3c2b41-5e2a-00000007`.
pub fn new_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        & 0xffff_ffff_ffff;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{millis:012x}-{:04x}-{sequence:08x}", nonce())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 26));
    }
}
