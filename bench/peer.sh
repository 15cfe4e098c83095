#!/usr/bin/env bash
# swirl side by side with Restate, unattended: the same 3-step workflow
# (bench/app/seq3.json; bench/restate/seq3.js) driven by the same load
# generator (swirl-load post) in one run, alternating between the two so
# that a noisy machine hurts both alike. Prints the machine, the versions,
# every run and the table of medians (markdown) on stdout; progress goes to
# stderr.
#
#   bench/peer.sh                          # 3 rounds of 10 s runs, about 3 minutes
#   BENCH_PEER_ROUNDS=1 BENCH_PEER_DURATION=2s bench/peer.sh   # a quick look
#   SWIRL=/path/to/swirl bench/peer.sh     # another swirl binary
#
# It does not build swirl: it runs $SWIRL (target/release/swirl by default),
# so build it first (cargo build --release -p swirl). It builds swirl-load
# and the benchmark app, and installs Restate's server and SDK from the npm
# registry with `npm ci` into bench/restate/node_modules (once; again when
# package-lock.json changes). Needs node (20 or later) and curl.
#
# Each round starts each side fresh (new data directory, nothing else of
# the benchmark running), with its durable defaults: `swirl serve` as
# bench/run.sh runs it; restate-server with its default configuration
# (single node, its log on the local log server, which fsyncs each write
# batch) but for the ports, TCP only, and no telemetry. Each side then gets
# one client, then 32, each for BENCH_PEER_WARMUP + BENCH_PEER_DURATION.
# Every answer is checked: swirl's must be the completed instance with
# "output": {"n":3}, Restate's the handler's result {"n":3}; any other
# answer is counted as an error and makes the script fail at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ROUNDS=${BENCH_PEER_ROUNDS:-3}
DURATION=${BENCH_PEER_DURATION:-10s}
WARMUP=${BENCH_PEER_WARMUP:-2s}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SWIRL=${SWIRL:-$TARGET/release/swirl}
LOAD=$TARGET/release/swirl-load
SERVICE_DIR=$ROOT/bench/restate

WORK=$(mktemp -d "${TMPDIR:-/tmp}/swirl-peer.XXXXXX")
PIDS=()
cleanup() {
    stop_all
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "== $*" >&2; }
die() {
    echo "peer.sh: $*" >&2
    exit 1
}

# Stops every process this script started, and waits for them.
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

[[ -x $SWIRL ]] || die "no swirl binary at $SWIRL: build it (cargo build --release -p swirl) or set SWIRL"
command -v node >/dev/null || die "node is not installed (Restate's SDK needs Node 20 or later)"
command -v npm >/dev/null || die "npm is not installed (it installs Restate)"
command -v curl >/dev/null || die "curl is not installed"

say "building swirl-load and the benchmark app in release (not swirl: $SWIRL)"
cargo build --release -p swirl-load >&2
cargo build --release --target wasm32-wasip2 -p bench-step >&2

# npm ci wipes node_modules, so it runs only when the lock file changed
# since the last install. --ignore-scripts: none of these packages needs
# one, and it keeps @scarf/scarf's install-time analytics from running.
if ! cmp -s "$SERVICE_DIR/package-lock.json" "$SERVICE_DIR/node_modules/.bench-installed"; then
    say "installing Restate from the npm registry (npm ci)"
    (cd "$SERVICE_DIR" && npm ci --ignore-scripts --no-audit --no-fund >&2)
    cp "$SERVICE_DIR/package-lock.json" "$SERVICE_DIR/node_modules/.bench-installed"
fi
RESTATE_SERVER=$(cd "$SERVICE_DIR" && node -p \
    'require.resolve(`@restatedev/restate-server-${process.platform}-${process.arch}/bin/restate-server`)')
RESTATE_VERSION=$("$RESTATE_SERVER" --version)
SDK_VERSION=$(cd "$SERVICE_DIR" && node -p 'require("@restatedev/restate-sdk/package.json").version')

free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Waits until `$1` (a command) succeeds, for 60 s at most; `$2` names what.
wait_for() {
    local check=$1 what=$2
    for _ in $(seq 600); do
        if eval "$check" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$what within 60 s; logs in $WORK (BENCH_KEEP=1 keeps them)"
}

# Starts `swirl serve` as bench/run.sh does; sets URL and SERVER_PIDS.
start_swirl() {
    local name=$1 log=$WORK/$1.log
    "$SWIRL" serve bench/app/swirl.toml --listen 127.0.0.1:0 --data-dir "$WORK/$name" 2>"$log" &
    PIDS+=($!)
    SERVER_PIDS=(--server-pid $!)
    wait_for "grep -q '^listening on http:' '$log'" "swirl serve did not listen"
    URL="$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$log")/workflows/seq3/instances?wait=true"
    EXPECT=(--expect '{"n":3}' --expect-at /output)
}

# Starts restate-server and the service, registers the service and waits
# until an invocation answers; sets URL and SERVER_PIDS (both processes:
# their CPU times add up).
start_restate() {
    local name=$1
    local ingress admin fabric service
    ingress=$(free_port) admin=$(free_port) fabric=$(free_port) service=$(free_port)
    RESTATE_LISTEN_MODE=tcp RESTATE_DISABLE_TELEMETRY=true RESTATE_LOG_DISABLE_ANSI_CODES=true \
        RESTATE_INGRESS__BIND_ADDRESS=127.0.0.1:$ingress \
        RESTATE_ADMIN__BIND_ADDRESS=127.0.0.1:$admin \
        RESTATE_BIND_ADDRESS=127.0.0.1:$fabric \
        "$RESTATE_SERVER" --no-logo --base-dir "$WORK/$name" \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    SERVER_PIDS=(--server-pid $!)
    (cd "$SERVICE_DIR" && PORT=$service exec node seq3.js >"$WORK/$name-service.log" 2>&1) &
    PIDS+=($!)
    SERVER_PIDS+=(--server-pid $!)
    wait_for "curl -sf http://127.0.0.1:$admin/health" "restate-server's admin API did not answer"
    wait_for "grep -q '^listening on' '$WORK/$name-service.log'" "the Restate service did not listen"
    curl -sf -X POST "http://127.0.0.1:$admin/deployments" -H 'content-type: application/json' \
        -d "{\"uri\": \"http://127.0.0.1:$service\"}" >"$WORK/$name-registered.json" ||
        die "registering the service with restate-server failed (logs in $WORK)"
    URL=http://127.0.0.1:$ingress/seq3/run
    EXPECT=(--expect '{"n":3}')
    # The partitions elect their leaders after start-up: the first
    # invocations may wait for them.
    wait_for "curl -sf -m 5 -X POST '$URL' -H 'content-type: application/json' -d '{\"n\":0}' | grep -qx '{\"n\":3}'" \
        "Restate did not answer {\"n\":3}"
}

RECORDS=$WORK/records.tsv
: >"$RECORDS"
RUNS=$WORK/runs.md
: >"$RUNS"
FAILED=0

# One side, fresh: 1 client, then 32.
measure() {
    local side=$1 round=$2
    "start_$side" "$side-$round"
    echo "| $side, round $round, load $(cut -d' ' -f1-3 /proc/loadavg) | | | |" >>"$RUNS"
    local clients
    for clients in 1 32; do
        local label="$side, $clients client$( ((clients > 1)) && echo s)"
        "$LOAD" post --url "$URL" "${EXPECT[@]}" --clients $clients \
            --duration "$DURATION" --warmup "$WARMUP" "${SERVER_PIDS[@]}" \
            --label "$label" --record "$RECORDS" | tee -a "$RUNS" >&2 || FAILED=1
    done
    stop_all
}

START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
    # Alternate which side goes first.
    if ((round % 2)); then sides=(swirl restate); else sides=(restate swirl); fi
    for side in "${sides[@]}"; do
        say "round $round of $ROUNDS: $side"
        measure "$side" "$round"
    done
done
ELAPSED=$(($(date +%s) - START))

# The median over the rounds of column $2 (2: p50, 3: p99, 4: completed/s, 6: CPU)
# of the records labelled $1.
median() {
    awk -F'\t' -v label="$1" -v column="$2" '$1 == label && $column != "" { print $column }' "$RECORDS" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else if (NR) print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Microseconds as the table shows them.
us() { awk -v us="$1" 'BEGIN { if (us >= 10000) printf "%.1f ms", us / 1000; else printf "%.0f µs", us }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "—" }'; }

echo "## Machine"
echo
echo "- $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); kernel $(uname -r)"
echo "- load average: $LOAD_BEFORE before the run, $(cut -d' ' -f1-3 /proc/loadavg) after (1, 5, 15 min)"
echo "- swirl: $SWIRL ($("$SWIRL" --version)), built $(date -u -r "$SWIRL" '+%Y-%m-%d %H:%M UTC'); checkout at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- runtime || echo ' (with local changes)'); $(rustc --version)"
echo "- Restate: $RESTATE_VERSION, SDK @restatedev/restate-sdk $SDK_VERSION, node $(node --version)"
echo "- $ROUNDS rounds of $WARMUP warm-up + $DURATION per figure; run time ${ELAPSED} s"
echo
echo "## Medians over the rounds"
echo
echo "| figure | swirl | Restate | swirl's advantage |"
echo "|---|---:|---:|---:|"
for figure in "1 client:p50:2" "1 client:p99:3" "32 clients:completed/s:4" "32 clients:p50:2" \
    "1 client:server CPU per instance:6" "32 clients:server CPU per instance:6"; do
    IFS=: read -r clients name column <<<"$figure"
    ours=$(median "swirl, $clients" "$column")
    theirs=$(median "restate, $clients" "$column")
    name="$clients, $name"
    [[ -n $ours && -n $theirs ]] || continue
    if ((column == 4)); then
        echo "| $name | $(printf '%.0f' "$ours") | $(printf '%.0f' "$theirs") | $(ratio "$ours" "$theirs") |"
    else
        echo "| $name | $(us "$ours") | $(us "$theirs") | $(ratio "$theirs" "$ours") |"
    fi
done
echo
echo "## Every run"
echo
echo "| figure | target | result | met? |"
echo "|---|---|---|---|"
cat "$RUNS"
((FAILED == 0)) || die "some answers were wrong (see the rows above)"
