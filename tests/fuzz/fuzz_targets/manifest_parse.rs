//! Fuzz target: arbitrary bytes read as an app manifest (`swirl.toml`).
//!
//! `Manifest::load` reads the file as UTF-8 and hands the text to
//! `Manifest::parse`, which is what runs here; it does no IO. Error rendering
//! runs too, since it maps byte offsets back to lines, columns and keys.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use swirl_app::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(Path::new("app/swirl.toml"), text) {
        Ok(manifest) => {
            let _ = manifest.dir();
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
});
