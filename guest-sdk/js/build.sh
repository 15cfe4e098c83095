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
mkdir -p "$(dirname "$2")"
exec node "$here/build.mjs" "$toolchain" "$wit" "$1" "$2"
