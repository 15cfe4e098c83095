#!/usr/bin/env bash
# The whole benchmark suite of BENCHMARKS.md, unattended: builds swirl, the
# load generator and the benchmark app in release, runs the criterion
# benchmarks of function calls, then starts `swirl serve` on loopback with
# fresh data directories and drives it with swirl-load. Prints the machine,
# the commit and the table of results (markdown) on stdout; progress and
# build output go to stderr.
#
#   bench/run.sh            # everything (about 10 minutes after the build)
#   bench/run.sh --quick    # every scenario, small and short (about a minute)
#   BENCH_SKIP_CRITERION=1 bench/run.sh   # only the HTTP figures
#
# Servers run with their defaults (durable, logging at info to a file) but
# for what a figure varies; their logs and data stay in the work directory
# when BENCH_KEEP=1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

QUICK=0
[[ ${1:-} == --quick ]] && QUICK=1
if ((QUICK)); then
    DURATION=2s WARMUP=500ms EVENTS=2000 WAITING=5000 SAMPLES=300 BURST_CALLS=3
    BENCH_SKIP_CRITERION=${BENCH_SKIP_CRITERION:-1}
else
    DURATION=10s WARMUP=1s EVENTS=20000 WAITING=100000 SAMPLES=2000 BURST_CALLS=20
fi
IDLE_TIMEOUT=2s

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/swirl-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "== $*" >&2; }

say "building swirl, swirl-load and the benchmark app in release"
cargo build --release -p swirl -p swirl-load >&2
cargo build --release --target wasm32-wasip2 -p bench-step >&2
SWIRL=$TARGET/release/swirl
LOAD=$TARGET/release/swirl-load
STEP_WASM=$TARGET/wasm32-wasip2/release/bench_step.wasm

# Starts `swirl serve` on a free port with a fresh data directory; sets
# SERVER_PID and URL.
start_server() {
    local name=$1 manifest=$2
    shift 2
    local log=$WORK/$name.log
    "$SWIRL" serve "$manifest" --listen 127.0.0.1:0 --data-dir "$WORK/$name" "$@" 2>"$log" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        URL=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$log")
        [[ -n $URL ]] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$log" >&2
            echo "swirl serve $manifest exited before listening" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "swirl serve $manifest did not listen within 60 s" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

load() { "$LOAD" --server "$URL" "$@"; }
# The start and events figures add the server's CPU time per instance:
# unlike their wall-clock figures, it hardly moves when the machine is busy.
cpu() { echo --server-pid "$SERVER_PID"; }

ROWS=$WORK/rows.md
: >"$ROWS"
row() { tee -a "$ROWS" >&2; }

START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ ${BENCH_SKIP_CRITERION:-0} != 1 ]]; then
    say "function calls, in-process (criterion; its table is printed last)"
    cargo bench -p swirl-function --bench function_calls >"$WORK/criterion.txt" 2>&2
fi

say "(2), (3): 3-step workflow, group commit"
start_server group bench/app/swirl.toml
load start --label "(2) 3-step workflow, wait=true, 1 client" --clients 1 \
    --duration $DURATION --warmup $WARMUP --p50-target 1ms $(cpu) | row
load start --label "(3) 3-step workflow, wait=true, 32 clients" --clients 32 \
    --duration $DURATION --warmup $WARMUP --rate-target 5000 $(cpu) | row
load events --label "(3) 3-step workflow, started by POST /events, 32 clients" \
    --clients 32 --count $EVENTS --rate-target 5000 $(cpu) | row
stop_server

say "(6): the same with one flush per commit"
start_server each bench/app/swirl.toml --flush each
load start --label "(6) as (3) wait=true, one flush per commit" --clients 32 \
    --duration $DURATION --warmup $WARMUP $(cpu) | row
load events --label "(6) as (3) POST /events, one flush per commit" \
    --clients 32 --count $EVENTS $(cpu) | row
stop_server

say "(4): $WAITING instances waiting for correlated events"
start_server correlate bench/app/swirl.toml
load correlate --label "(4) $WAITING waiting" --waiting $WAITING --samples $SAMPLES \
    --pid "$SERVER_PID" | row
stop_server

say "(5): 100 functions, idle-timeout $IDLE_TIMEOUT"
mkdir -p "$WORK/idle-app"
{
    echo '[app]'
    echo 'name = "idle100"'
    for i in $(seq -w 0 99); do
        echo "[functions.f$i]"
        echo "source = \"$STEP_WASM\""
        echo "idle-timeout = \"$IDLE_TIMEOUT\""
    done
} >"$WORK/idle-app/swirl.toml"
start_server idle "$WORK/idle-app/swirl.toml"
# Let start-up settle (allocator, first deploys) before "before".
sleep 1
load idle --label "(5) 100 functions, resident memory" --pid "$SERVER_PID" \
    --idle-timeout $IDLE_TIMEOUT --calls $BURST_CALLS | row
stop_server

ELAPSED=$(($(date +%s) - START))

echo
echo "## Machine"
echo
echo "- $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- memory: $(free -h | awk '/^Mem:/ {print $2}') ($(free -m | awk '/^Mem:/ {print $2}') MiB)"
echo "- kernel: $(uname -r)"
echo "- load average: $LOAD_BEFORE before the run, $(cut -d' ' -f1-3 /proc/loadavg) after (1, 5, 15 min)"
echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- runtime bench || echo ' (with local changes)')"
echo "- $(rustc --version)"
echo "- suite run time: ${ELAPSED} s (after the build)$( ((QUICK)) && echo ', --quick')"
echo
echo "## Workflows over HTTP (swirl serve on loopback, client on the same machine)"
echo
echo "| figure | target | result | met? |"
echo "|---|---|---|---|"
cat "$ROWS"
if [[ -f $WORK/criterion.txt ]]; then
    echo
    echo "## Function calls, in-process (criterion)"
    echo
    # The bench prints its own table after criterion's per-group reports.
    sed -n '/^Every timed call/,$p' "$WORK/criterion.txt"
fi
