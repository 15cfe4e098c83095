#!/usr/bin/env bash
# The README's "Two commands" section as a user types it, on a fresh clone
# of this checkout: its set-up command, then the main job (which must print
# `listening on` and answer /healthz). The test command is what .ci/run runs
# anyway. The clone builds into this checkout's target/ (linked), so that
# only swirl's own crates are compiled again.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/swirl"
cd "$work/swirl"
ln -s "$repo/target" target

# The section's sh blocks, as the README shows them.
commands=$(awk '/^## Two commands/{on=1; next} /^## /{on=0} on && /^```sh/{sh=1; next} sh && /^```/{sh=0} sh && !/^#/ && NF' README.md)
echo "$commands" | grep -qx 'rustup target add wasm32-wasip2'
serve=$(echo "$commands" | grep '^cargo run .* serve ')
while read -r command; do
    case "$command" in
    "$serve" | "cargo test --workspace") ;;
    *) echo "+ $command"; sh -c "$command" ;;
    esac
done <<<"$commands"

echo "+ $serve"
sh -c "exec $serve --listen 127.0.0.1:18080" 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 600); do
    grep -q 'listening on http://127.0.0.1:18080' "$work/serve.log" && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 1
done
curl -fsS http://127.0.0.1:18080/healthz
echo
echo "fresh clone: the README's commands work"
