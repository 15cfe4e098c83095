#!/usr/bin/env bash
# Runs every fuzz target of swirl for a bounded time.
#
#   tests/fuzz/run.sh [--core] [seconds-per-target]      (default 60)
#
# --core runs the targets that link neither wasmtime nor sled (the parsers
# and the engine): their instrumented build takes minutes, where the
# server's targets (manifest_parse, cloudevents_decode) take a quarter of an
# hour more. CI runs --core; the long runs of RELIABILITY.md run them all.
#
# Targets (tests/fuzz/fuzz_targets/):
#   workflow_parse   bytes -> swirl_workflow::parse, as JSON/YAML, plus the round trip
#   manifest_parse   bytes -> swirl_app::manifest::Manifest::parse
#   jsonpath_filter  "<expression>\n<JSON document>" -> JsonPath / Condition / WritePath
#   cloudevents_decode  "<header lines>\n\n<body>" -> the ingress decoder (binary,
#                    structured, batch) and the engine's view of each event
#   engine_run       a definition and operations (start, deliver, cancel,
#                    suspend, resume) -> the engine on in-memory ports; every
#                    record must keep the engine's invariants
#
# Toolchain: cargo-fuzz passes nightly-only rustc flags (-Zsanitizer,
# sanitizer-coverage options), and swirl builds with the stable toolchain that
# rust-toolchain.toml pins. RUSTC_BOOTSTRAP=1 lets that stable compiler accept
# them, and stable ships the AddressSanitizer runtime (librustc-stable_rt.asan.a),
# so the targets build with ASan and need no nightly. SANITIZER=none builds
# without ASan: faster runs, but memory errors in unsafe code go unseen.
# Only this script sets RUSTC_BOOTSTRAP; the product is never built with it.
#
# Each target runs as one libFuzzer process on one core (-jobs=1), at nice 10,
# so it can share a machine with builds. The corpus grows in
# tests/fuzz/corpus/<target>/ (seeded from tests/fixtures/workflows/, the
# examples' swirl.toml files and tests/fuzz/seeds/); crashes are written to
# tests/fuzz/artifacts/<target>/. Both are ignored by git. A crash found here
# is fixed and pinned by a regression test next to the code it exercises.
#
# Reproduce one crash:
#   cd tests/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . <target> artifacts/<target>/<file>
# Minimise it:
#   cd tests/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin --fuzz-dir . <target> artifacts/<target>/<file>
#
# Exit status: 0 when no target crashed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")"

core=
if [[ ${1:-} == --core ]]; then
    core=1
    shift
fi
seconds="${1:-60}"
sanitizer="${SANITIZER:-address}"
if [[ -n $core ]]; then
    targets=(workflow_parse jsonpath_filter engine_run)
else
    targets=(workflow_parse manifest_parse jsonpath_filter cloudevents_decode engine_run)
fi
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

# More codegen units than cargo-fuzz's default of 1: the targets link all of
# swirl, wasmtime included, and one unit per crate makes the build several
# times slower for a barely faster fuzzer.
fuzz_flags=(--fuzz-dir . --sanitizer "$sanitizer" --codegen-units 16)
if [[ -n $core ]]; then
    fuzz_flags+=(--no-default-features)
fi
nice -n 10 cargo fuzz build "${fuzz_flags[@]}"

# Copies seed files into a target's corpus under names that keep them apart.
seed() {
    local target="$1"
    shift
    mkdir -p "corpus/$target"
    local file
    for file in "$@"; do
        cp "$file" "corpus/$target/seed-$(echo "${file#../../}" | tr '/' '_')"
    done
}
mapfile -t workflow_seeds < <(find ../fixtures/workflows -type f ! -name expected.json | sort)
mapfile -t manifest_seeds < <(find ../../examples -name swirl.toml -not -path '*/target/*' | sort)
seed workflow_parse "${workflow_seeds[@]}"
seed manifest_parse "${manifest_seeds[@]}" seeds/manifest_parse/*
seed jsonpath_filter seeds/jsonpath_filter/*
seed cloudevents_decode seeds/cloudevents_decode/*
seed engine_run seeds/engine_run/*

# Logs go next to the build, wherever CARGO_TARGET_DIR puts it.
logs="${CARGO_TARGET_DIR:-target}"
mkdir -p "$logs"
failed=()
for target in "${targets[@]}"; do
    echo "==> $target for ${seconds}s" >&2
    log="$logs/$target.log"
    mkdir -p "artifacts/$target"
    # libFuzzer options: one job; an input slower than 5 s or a process over
    # 2 GiB counts as a crash (nothing small should get near either); print
    # the execution count at the end.
    if nice -n 10 cargo fuzz run "${fuzz_flags[@]}" "$target" "corpus/$target" -- \
        -jobs=1 -workers=1 -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
        status=ok
    else
        status=CRASHED
        failed+=("$target")
    fi
    # With -jobs the worker logs to fuzz-0.log in the current directory.
    if [[ -f fuzz-0.log ]]; then
        cat fuzz-0.log >>"$log"
        rm fuzz-0.log
    fi
    # A target that failed to start has no stats: say "?" rather than stop.
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    echo "    $status, ${runs:-?} executions (log: $log)" >&2
    if [[ $status != ok ]]; then
        grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|Test unit written to' "$log" >&2 || true
    fi
done

if ((${#failed[@]})); then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
echo "no crashes in ${targets[*]}" >&2
