#!/usr/bin/env bash
# The 3-step workflow in v0.1 (bench/app/seq3.json) and in 1.0
# (bench/app/seq3-v10.yaml) on one release server, alternating ROUNDS times
# with the same load, so that a noisy machine hurts both alike. Prints one
# markdown row per run (BENCHMARKS.md, "1.0 against v0.1").
#
#   bench/dialects.sh [ROUNDS]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=${1:-3}
DURATION=${DURATION:-5s} WARMUP=${WARMUP:-1s}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/swirl-dialects.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -p swirl -p swirl-load >&2
cargo build --release --target wasm32-wasip2 -p bench-step >&2
"$TARGET/release/swirl" serve bench/app/swirl.toml --listen 127.0.0.1:0 \
    --data-dir "$WORK/data" 2>"$WORK/log" &
SERVER_PID=$!
URL=
for _ in $(seq 600); do
    URL=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$WORK/log")
    [[ -n $URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/log" >&2; exit 1; }
    sleep 0.1
done
[[ -n $URL ]] || { echo "swirl did not listen within 60 s" >&2; exit 1; }

load() { "$TARGET/release/swirl-load" --server "$URL" "$@" --server-pid "$SERVER_PID"; }

echo "- machine: $(nproc) cores, $(uname -sr); commit $(git rev-parse --short HEAD); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for workflow in seq3 seq3-v10; do
        load start --workflow "$workflow" --label "$workflow, round $round: 1 client" \
            --clients 1 --duration "$DURATION" --warmup "$WARMUP"
        load start --workflow "$workflow" --label "$workflow, round $round: 32 clients" \
            --clients 32 --duration "$DURATION" --warmup "$WARMUP"
    done
done
echo "- load after: $(cut -d' ' -f1-3 /proc/loadavg)"
