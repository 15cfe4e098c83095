#!/usr/bin/env bash
# Installs the official CloudEvents SDKs that the interop test
# (tests/tests/all/interop.rs) drives: PyPI `cloudevents` into
# tests/interop/.venv and npm `cloudevents` into tests/interop/js/node_modules,
# both pinned. Does nothing when what is installed matches the pins, so it
# is cheap to run before every test run (.ci/run does).
set -euo pipefail
cd "$(dirname "$0")"

stamp_matches() { # stamp file, pinned file
    [[ -f "$1" ]] && [[ "$(cat "$1")" == "$(sha256sum "$2")" ]]
}

if ! stamp_matches .venv/installed requirements.txt; then
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    sha256sum requirements.txt > .venv/installed
fi

if ! stamp_matches js/node_modules/installed js/package-lock.json; then
    (cd js && npm ci --no-audit --no-fund --loglevel=error)
    sha256sum js/package-lock.json > js/node_modules/installed
fi
echo "CloudEvents SDKs installed: cloudevents $(.venv/bin/python -c "import importlib.metadata as m; print(m.version('cloudevents'))") (PyPI), cloudevents $(node -p 'require("./js/node_modules/cloudevents/package.json").version') (npm)"
