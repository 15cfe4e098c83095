#!/bin/sh
# Builds a swirl function written in JavaScript into a WebAssembly component:
#   sh build.sh --install      (installs the toolchain only)
#   sh build.sh <function's module, e.g. functions/hello/index.js> <output.wasm>
# componentize-js and rolldown are installed on first use, pinned, into
# $SWIRL_TOOLCHAINS (default ~/.cache/swirl/toolchains), one directory per
# version; Node 18 or later and npm must be on the PATH.
set -eu
COMPONENTIZE_JS=0.23.0
ROLLDOWN=1.3.4
here=$(cd "$(dirname "$0")" && pwd)
toolchains=${SWIRL_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/swirl/toolchains}
toolchain=$toolchains/componentize-js-$COMPONENTIZE_JS-rolldown-$ROLLDOWN
if [ ! -e "$toolchain/.installed" ]; then
    command -v npm >/dev/null || { echo "error: npm not found; install Node.js 18 or later (with npm)" >&2; exit 1; }
    echo "installing componentize-js $COMPONENTIZE_JS and rolldown $ROLLDOWN into $toolchain (once)" >&2
    mkdir -p "$toolchain"
    npm install --prefix "$toolchain" --no-audit --no-fund --loglevel=error \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS" "rolldown@$ROLLDOWN" >&2
    touch "$toolchain/.installed"
fi
[ "${1:-}" = --install ] && exit 0
# The WIT world: sdk/wit in an app `swirl new` made, the repository's wit/
# in swirl's own tree.
wit=$here/../wit
[ -d "$wit" ] || wit=$here/../../wit
# A built component is kept by a hash of everything it is built from (the
# function's directory, this SDK, the WIT world): unchanged sources are copied.
key=$( (echo "$COMPONENTIZE_JS $ROLLDOWN"; find "$(dirname "$1")" "$here" "$wit" -type f ! -path '*/__pycache__/*' |
    LC_ALL=C sort | while IFS= read -r file; do cat "$file"; done) | sha256sum | cut -c1-32)
built=$toolchain/components/$key.wasm
if [ ! -e "$built" ]; then
    mkdir -p "$toolchain/components"
    node "$here/build.mjs" "$toolchain" "$wit" "$1" "$built.partial"
    mv "$built.partial" "$built"
else
    echo "$2: sources unchanged, built before" >&2
fi
mkdir -p "$(dirname "$2")"
cp "$built" "$2"
