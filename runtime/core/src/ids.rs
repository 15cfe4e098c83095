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

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

fn nonce() -> u16 {
    static NONCE: OnceLock<u16> = OnceLock::new();
    // RandomState is seeded from the OS once per process.
    *NONCE.get_or_init(|| RandomState::new().hash_one(std::process::id()) as u16)
}

/// A new id, e.g. `019a8f3c2b41-5e2a-00000007`.
pub fn new_id() -> String {
    let millis = crate::time::now_ms() & 0xffff_ffff_ffff;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    // Written digit by digit: `format!` with padding cost a warm function
    // call about 2,000 instructions, a tenth of the whole call.
    let mut id = String::with_capacity(ID_LEN);
    push_hex(&mut id, millis, 12);
    id.push('-');
    push_hex(&mut id, u64::from(nonce()), 4);
    id.push('-');
    push_hex(&mut id, u64::from(sequence), 8);
    id
}

/// The prefix every id created at `millis` starts with: every id created
/// earlier sorts before it.
pub fn prefix_at(millis: u64) -> String {
    let mut prefix = String::with_capacity(12);
    push_hex(&mut prefix, millis & 0xffff_ffff_ffff, 12);
    prefix
}

/// An id in the same form, made from its parts instead of the clock and the
/// process: the same `millis`, `salt` and `sequence` give the same id, so a
/// pure state machine can name what it produces and a re-run names it alike.
pub fn derived_id(millis: u64, salt: &str, sequence: u64) -> String {
    // FNV-1a: stable across processes and builds, unlike the std hashers.
    let hash = salt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut id = String::with_capacity(ID_LEN);
    push_hex(&mut id, millis & 0xffff_ffff_ffff, 12);
    id.push('-');
    push_hex(&mut id, hash, 4);
    id.push('-');
    push_hex(&mut id, sequence, 8);
    id
}

/// Length of an id: 12 + 4 + 8 hex digits and two dashes.
const ID_LEN: usize = 26;

/// Appends the lowest `digits` hex digits of `value`, zero-padded.
fn push_hex(id: &mut String, value: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..digits).rev() {
        id.push(char::from(HEX[(value >> (shift * 4)) as usize & 0xf]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == ID_LEN));
    }

    #[test]
    fn ids_created_before_a_time_sort_before_its_prefix() {
        let now = crate::time::now_ms();
        let id = new_id();
        assert!(id.as_str() < prefix_at(now + 1).as_str(), "{id}");
        assert!(id.as_str() >= prefix_at(now.saturating_sub(1000)).as_str());
    }

    #[test]
    fn hex_digits_are_zero_padded_and_truncated_like_format() {
        for value in [0u64, 0xa, 0x1234_5678_9abc, 0xffff_ffff_ffff_ffff] {
            let mut id = String::new();
            push_hex(&mut id, value, 12);
            assert_eq!(id, format!("{:012x}", value & 0xffff_ffff_ffff));
        }
    }
}
