#!/usr/bin/env bash
# Build the numeric core to wasm/collabdict_core.wasm, reproducibly.
# Uses Debian's rustc (1.63, has the wasm32-unknown-unknown std: apt-get install rustc
# libstd-rust-dev-wasm32 lld); the rustup toolchain on dev machines has no wasm32 target.
# Paths are remapped so the binary does not depend on where the repository is cloned.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/wasm"
RUSTC="${RUSTC:-/usr/bin/rustc}"
CARGO="${CARGO:-/usr/bin/cargo}"
export RUSTC
export CARGO_TARGET_DIR="$root/wasm/target"
export RUSTFLAGS="-C target-feature=+simd128 --remap-path-prefix=$root/wasm=/collabdict/wasm --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
export SOURCE_DATE_EPOCH=0
"$CARGO" build --offline --release --target wasm32-unknown-unknown --quiet
cp "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/collabdict_core.wasm" "$root/wasm/collabdict_core.wasm"
echo "built wasm/collabdict_core.wasm ($(wc -c < "$root/wasm/collabdict_core.wasm") bytes, sha256 $(sha256sum "$root/wasm/collabdict_core.wasm" | cut -c1-16))"
