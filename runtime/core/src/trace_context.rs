//! W3C trace context (`traceparent`, `tracestate`): where a unit of work
//! sits in a distributed trace, read from and written to HTTP headers and
//! CloudEvents' distributed-tracing extension alike.
//!
//! Parsing follows the W3C Trace Context recommendation: a `traceparent` that
//! is not well formed is ignored (the work starts a trace of its own), never
//! an error of the request that carried it. Ids are random: a thread-local
//! generator seeded from the operating system once, cheap enough for a span
//! per function call.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

/// The longest `tracestate` kept; a longer one is dropped (the spec lets a
/// participant drop what it cannot keep, and allows 512 characters).
pub const MAX_TRACESTATE_LEN: usize = 512;

/// A trace's id: 16 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A span's id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

/// The `sampled` bit of the trace flags.
pub const SAMPLED: u8 = 0x01;

/// A position in a trace: the trace, the span work belongs to, its flags
/// and the vendors' `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub flags: u8,
    /// The `tracestate` header as received; empty when there was none.
    pub state: String,
}

impl TraceContext {
    /// A new trace, sampled, with a new root span.
    pub fn root() -> Self {
        TraceContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            flags: SAMPLED,
            state: String::new(),
        }
    }

    /// A new span in the same trace (a child of this one).
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: SpanId::random(),
            ..self.clone()
        }
    }

    /// Reads a `traceparent` and its `tracestate`; `None` when the
    /// `traceparent` is not well formed.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let text = traceparent.trim();
        let bytes = text.as_bytes();
        // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2.
        if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let version = hex_byte(&text[0..2])?;
        // Version ff is invalid; 00 has exactly these fields; a later
        // version may add fields after a dash, which are ignored.
        if version == 0xff
            || (version == 0 && bytes.len() != 55)
            || (bytes.len() > 55 && bytes[55] != b'-')
        {
            return None;
        }
        let trace_id = TraceId(hex_array(&text[3..35])?);
        let span_id = SpanId(hex_array(&text[36..52])?);
        let flags = hex_byte(&text[53..55])?;
        if trace_id.0 == [0; 16] || span_id.0 == [0; 8] {
            return None;
        }
        let state = tracestate
            .map(str::trim)
            .filter(|s| {
                s.len() <= MAX_TRACESTATE_LEN && s.chars().all(|c| (' '..='~').contains(&c))
            })
            .unwrap_or_default()
            .to_string();
        Some(TraceContext {
            trace_id,
            span_id,
            flags,
            state,
        })
    }

    /// The context an event's attributes name with CloudEvents'
    /// distributed-tracing extension (`traceparent`, `tracestate`).
    pub fn of_extensions(extensions: &BTreeMap<String, String>) -> Option<Self> {
        let traceparent = extensions.get("traceparent")?;
        Self::parse(
            traceparent,
            extensions.get("tracestate").map(String::as_str),
        )
    }

    /// Makes this context the event's distributed-tracing extension.
    pub fn set_extensions(&self, extensions: &mut BTreeMap<String, String>) {
        extensions.insert("traceparent".into(), self.traceparent());
        if self.state.is_empty() {
            extensions.remove("tracestate");
        } else {
            extensions.insert("tracestate".into(), self.state.clone());
        }
    }

    /// The `traceparent` text (version 00).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }

    /// Whether the trace is recorded (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }
}

impl TraceId {
    pub fn random() -> Self {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&nonzero_random().to_be_bytes());
        id[8..].copy_from_slice(&random().to_be_bytes());
        TraceId(id)
    }
}

impl SpanId {
    pub fn random() -> Self {
        SpanId(nonzero_random().to_be_bytes())
    }

    /// Reads 16 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        Some(SpanId(hex_array(text)?)).filter(|id| id.0 != [0; 8])
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// Two lowercase hex digits (the spec allows no uppercase).
fn hex_byte(text: &str) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    match text.as_bytes() {
        [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
        _ => None,
    }
}

fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = hex_byte(&text[2 * i..2 * i + 2])?;
    }
    Some(out)
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()));
}

/// SplitMix64 over a per-thread seed from the OS: ids need to be unique and
/// unpredictable enough to not collide, not secret.
fn random() -> u64 {
    STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn nonzero_random() -> u64 {
    loop {
        let value = random();
        if value != 0 {
            return value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_reads_and_writes_back() {
        let context = TraceContext::parse(EXAMPLE, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(
            context.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id.to_string(), "00f067aa0ba902b7");
        assert!(context.sampled());
        assert_eq!(context.state, "congo=t61rcWkgMzE");
        assert_eq!(context.traceparent(), EXAMPLE);
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad}");
        }
        // A later version may carry more fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        let context = TraceContext::parse(later, None).unwrap();
        assert!(!context.sampled());
    }

    #[test]
    fn the_extension_attributes_read_and_write_back() {
        let mut extensions = BTreeMap::new();
        assert_eq!(TraceContext::of_extensions(&extensions), None);
        let context = TraceContext::parse(EXAMPLE, Some("congo=t61rcWkgMzE")).unwrap();
        context.set_extensions(&mut extensions);
        assert_eq!(extensions["traceparent"], EXAMPLE);
        assert_eq!(
            TraceContext::of_extensions(&extensions),
            Some(context.clone())
        );
        // A context without a tracestate does not keep another's.
        TraceContext::root().set_extensions(&mut extensions);
        assert!(!extensions.contains_key("tracestate"));
    }

    #[test]
    fn an_oversized_tracestate_is_dropped() {
        let long = "a=".to_string() + &"b".repeat(MAX_TRACESTATE_LEN);
        let context = TraceContext::parse(EXAMPLE, Some(&long)).unwrap();
        assert_eq!(context.state, "");
    }

    #[test]
    fn children_keep_the_trace_and_get_new_spans() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_ne!(TraceContext::root().trace_id, root.trace_id);
    }
}
