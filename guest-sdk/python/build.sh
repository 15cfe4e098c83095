#!/bin/sh
# Builds a swirl function written in Python into a WebAssembly component:
#   sh build.sh --install      (installs the toolchain only)
#   sh build.sh <function's directory, holding app.py> <output.wasm>
# componentize-py is installed on first use, pinned, into $SWIRL_TOOLCHAINS
# (default ~/.cache/swirl/toolchains), one virtual environment per version;
# Python 3.10 or later must be on the PATH as python3.
set -eu
COMPONENTIZE_PY=0.25.1
here=$(cd "$(dirname "$0")" && pwd)
toolchains=${SWIRL_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/swirl/toolchains}
toolchain=$toolchains/componentize-py-$COMPONENTIZE_PY
if [ ! -e "$toolchain/.installed" ]; then
    command -v python3 >/dev/null || { echo "error: python3 not found; install Python 3.10 or later" >&2; exit 1; }
    echo "installing componentize-py $COMPONENTIZE_PY into $toolchain (once)" >&2
    python3 -m venv "$toolchain"
    "$toolchain/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" >&2
    touch "$toolchain/.installed"
fi
[ "${1:-}" = --install ] && exit 0
# The WIT world: sdk/wit in an app `swirl new` made, the repository's wit/
# in swirl's own tree.
wit=$here/../wit
[ -d "$wit" ] || wit=$here/../../wit
# A built component is kept by a hash of everything it is built from (the
# function's directory, this SDK, the WIT world): unchanged sources are copied.
key=$( (echo "$COMPONENTIZE_PY"; find "$1" "$here" "$wit" -type f ! -path '*/__pycache__/*' |
    LC_ALL=C sort | while IFS= read -r file; do cat "$file"; done) | sha256sum | cut -c1-32)
built=$toolchain/components/$key.wasm
if [ ! -e "$built" ]; then
    mkdir -p "$toolchain/components"
    echo "building $2 from $1/app.py" >&2
    "$toolchain/bin/componentize-py" -d "$wit" -w function componentize swirl \
        -p "$1" -p "$here" -o "$built.partial" >&2
    mv "$built.partial" "$built"
else
    echo "$2: sources unchanged, built before" >&2
fi
mkdir -p "$(dirname "$2")"
cp "$built" "$2"
