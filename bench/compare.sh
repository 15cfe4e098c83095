#!/usr/bin/env bash
# Two swirl binaries side by side on the 3-step workflow of BENCHMARKS.md's
# (2) and (3): the same load against each, alternating ROUNDS times, so
# that a noisy machine hurts both alike. Prints one markdown row per run.
#
#   bench/compare.sh OLD_SWIRL NEW_SWIRL [ROUNDS]
#
# Builds swirl-load and the benchmark app in release first; the two swirl
# binaries are built by the caller (e.g. release builds of two commits).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[[ $# -ge 2 ]] || { echo "usage: bench/compare.sh OLD_SWIRL NEW_SWIRL [ROUNDS]" >&2; exit 2; }
BINARIES=("$1" "$2")
ROUNDS=${3:-2}
DURATION=${DURATION:-5s} WARMUP=${WARMUP:-1s} EVENTS=${EVENTS:-5000}

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/swirl-compare.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -p swirl-load >&2
cargo build --release --target wasm32-wasip2 -p bench-step >&2
LOAD=$TARGET/release/swirl-load

start_server() {
    local swirl=$1 name=$2
    local log=$WORK/$name.log
    "$swirl" serve bench/app/swirl.toml --listen 127.0.0.1:0 --data-dir "$WORK/$name" 2>"$log" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        URL=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$log")
        [[ -n $URL ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$swirl did not listen within 60 s" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

load() { "$LOAD" --server "$URL" "$@" --server-pid "$SERVER_PID"; }

echo "- machine: $(nproc) cores, $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- old: $1"
echo "- new: $2"
for round in $(seq "$ROUNDS"); do
    for index in 0 1; do
        swirl=${BINARIES[$index]}
        label="$([[ $index == 0 ]] && echo old || echo new), round $round"
        start_server "$swirl" "run-$round-$index"
        load start --label "$label: wait=true, 1 client" --clients 1 \
            --duration "$DURATION" --warmup "$WARMUP"
        load start --label "$label: wait=true, 32 clients" --clients 32 \
            --duration "$DURATION" --warmup "$WARMUP"
        load events --label "$label: POST /events, 32 clients" --clients 32 --count "$EVENTS"
        stop_server
    done
done
echo "- load after: $(cut -d' ' -f1-3 /proc/loadavg)"
