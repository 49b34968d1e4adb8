#!/usr/bin/env bash
# Builds the site as it ships: the pages' WebAssembly in release, one module per lazy page
# (`--split`), and every file precompressed (`.br`, `.gz`) for the server to send as the
# browser accepts. Browsers take Brotli from HTTPS sites (and 127.0.0.1); for those that ask
# for gzip only, `gzip -9` makes the files about 15 % smaller than cargo-leptos's fast gzip.
# Arguments go to cargo leptos build (for example --frontend-only).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$PATH"   # wasm-opt from binaryen
cargo leptos build --release --split --precompress "$@"
find target/site/pkg -type f ! -name '*.gz' ! -name '*.br' -exec gzip -9 -k -f {} +
