#!/usr/bin/env bash
# The long form of the soak harness: SIGKILLs `swirl serve` KILLS times
# (default 50) under RATE requests per second (default 100), then checks
# every invariant (see tests/src/soak.rs). Prints a summary and exits
# non-zero on any violation. The short form runs in `cargo test`
# (tests/tests/all/soak.rs).
#
# Usage: tests/soak.sh [--power-cuts] [KILLS] [RATE] [SEED]
# (--power-cuts: each kill is a power cut on the lazy FUSE disk; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
# --workspace: the features `cargo test --workspace` built with (-p would
# build wasmtime and the rest again).
cargo build --quiet --workspace --bin soak
exec target/debug/soak "$@"
