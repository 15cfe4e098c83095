//! Fuzz target: arbitrary bytes read as an HTTP request to the event
//! ingress, decoded as `swirl serve` decodes it.
//!
//! The input is a request head and body separated by the first blank line:
//! header lines `name: value` (lines that are not valid headers are
//! skipped), then the body. `content-type` picks the mode, so binary,
//! structured and batch mode are all reached; `ingress::decode` reads the
//! body through its limit and decodes, and every event it yields goes
//! through `events::to_incoming`, the engine's view of it. Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use swirl_server::events::to_incoming;
use swirl_server::ingress::{IngressLimits, decode};

fn request(data: &[u8]) -> Option<axum::extract::Request> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut builder = axum::http::Request::builder().method("POST").uri("/events");
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = axum::http::HeaderName::from_bytes(&line[..colon]);
        let value = axum::http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (name, value) {
            builder = builder.header(name, value);
        }
    }
    builder.body(axum::body::Body::from(body.to_vec())).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = request(data) else {
        return;
    };
    // One runtime for the process: building one per input would dominate.
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    });
    // Small limits, so that the limit paths are reached too.
    let limits = IngressLimits::new(IngressLimits::MIN_BODY_BYTES, 8);
    if let Ok(events) = runtime.block_on(decode(request, &limits)) {
        for event in &events {
            let _ = to_incoming(event);
        }
    }
});
