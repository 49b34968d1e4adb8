#!/usr/bin/env bash
# Installs what building (and, with "test", testing) Gatehouse needs, skipping what is present:
# the wasm32 target, cargo-leptos, wasm-bindgen-cli (the same version as the crate), the npm
# packages in end2end/ (wasm-opt comes from binaryen there), and, for tests, Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

# SAML signatures are checked by libxmlsec1 (through the samael crate, whose bindings are made
# with libclang at build time): the server needs these to build at all.
saml_missing=()
for package in clang libclang-dev libxmlsec1-dev libxml2-dev libssl-dev pkg-config; do
  dpkg -s "$package" >/dev/null 2>&1 || saml_missing+=("$package")
done
if [ "${#saml_missing[@]}" -gt 0 ]; then
  say "Installing Debian's ${saml_missing[*]} (libxmlsec1 checks SAML signatures)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${saml_missing[@]}"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  say "Installing cargo-leptos $CARGO_LEPTOS_VERSION (about 25 minutes, once per machine)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --ignore-rust-version
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 7 minutes, once per machine)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

stamp=end2end/node_modules/.gatehouse-lock.sha256
want=$(sha256sum end2end/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "Installing npm packages in end2end/"
  (cd end2end && npm ci --no-audit --no-fund)
  echo "$want" > "$stamp"
fi

if [ "$purpose" = "test" ]; then
  # Chromium for the end-to-end tests; nginx and openssl for the run behind a reverse proxy.
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v openssl >/dev/null || missing+=(openssl)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "Installing Debian's ${missing[*]} for the end-to-end tests"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
fi
