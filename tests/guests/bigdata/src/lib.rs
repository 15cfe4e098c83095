//! A function whose code holds 10 MiB of initialised data, for measuring what
//! data segments cost the host: compiling them into the code cache, loading
//! them back, and mapping them into every new instance.
//!
//! The bytes are fixed at compile time, so they end up in the component's
//! data segments; they are pseudo-random rather than zero because zeroed
//! statics go to `.bss`, which costs nothing to load. Input `{"offset": n}`
//! returns the byte at `n`; an offset past the end panics, which traps the
//! instance (the benchmarks use that to empty a pool).

use serde::Deserialize;
use swirl_guest::{Context, Failure};

/// Bytes computed one by one at compile time; the const evaluator does a few
/// hundred thousand loop steps in well under a second, 10 million in a minute.
const BLOCK_BYTES: usize = 64 * 1024;
/// Copies of the block that make up the data; a repeat expression is cheap to
/// evaluate, and wasm data segments are stored whole, repeated or not.
const BLOCKS: usize = 160;

/// The 10 MiB data segment.
static DATA: [[u8; BLOCK_BYTES]; BLOCKS] = [pseudo_random_block(); BLOCKS];

/// A xorshift sequence; no byte of it is zero, so none of the data is `.bss`-like.
const fn pseudo_random_block() -> [u8; BLOCK_BYTES] {
    let mut bytes = [0u8; BLOCK_BYTES];
    let mut state: u32 = 0x9e37_79b9;
    let mut i = 0;
    while i < BLOCK_BYTES {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes[i] = (state >> 24) as u8 | 1;
        i += 1;
    }
    bytes
}

#[derive(Deserialize)]
struct Read {
    offset: usize,
}

fn read(input: Read, _ctx: &Context) -> Result<u8, Failure> {
    // `black_box` keeps the compiler from folding the read into a constant,
    // which would let it drop the array from the binary.
    let data: &[[u8; BLOCK_BYTES]; BLOCKS] = std::hint::black_box(&DATA);
    Ok(data.as_flattened()[input.offset])
}

swirl_guest::export!(read);
