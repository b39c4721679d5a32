#!/usr/bin/env bash
# make setup: install what this repository needs, skipping everything already present.
#
#   1. a wasm32 route: rustup's wasm32-unknown-unknown target (tried first, with a short
#      timeout: it hangs without internet), else Debian's rustc-web/cargo-web/rust-web-src + lld
#      (std built from source, see scripts/wasm-env.sh);
#   2. chromium + chromium-driver (browser tests, benchmarks);
#   3. wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock (without --locked:
#      its own lockfile pins a crate the index no longer has);
#   4. node_modules in tests/js (npm ci, or npm install without a lockfile).
#
# `apt-get update` runs once, and only if an apt package is missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { echo "setup: $*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

apt_missing=()
need_apt() {
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      apt_missing+=("$p")
    fi
  done
}
apt_updated=0
apt_install() {
  if [ ${#apt_missing[@]} -eq 0 ]; then
    say "apt packages present (skip)"
    return 0
  fi
  if [ $apt_updated = 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install ${apt_missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}"
  apt_missing=()
}

# --- 1. wasm32 route ------------------------------------------------------------------------
debian_route_ok() {
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] &&
    command -v wasm-ld >/dev/null 2>&1 &&
    /usr/bin/rustc --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown
}
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "wasm32: rustup target present (skip)"
elif debian_route_ok; then
  say "wasm32: Debian rustc-web route present (skip)"
else
  rustup_ok=0
  if command -v rustup >/dev/null 2>&1; then
    say "wasm32: trying 'rustup target add wasm32-unknown-unknown' (60 s timeout)"
    if timeout 60 rustup target add wasm32-unknown-unknown; then rustup_ok=1; fi
  fi
  if [ $rustup_ok = 1 ]; then
    say "wasm32: rustup target installed"
  else
    say "wasm32: rustup unavailable or unreachable; falling back to Debian rustc-web + build-std"
    need_apt rustc-web cargo-web rust-web-src lld
  fi
fi

# --- 2. browser -----------------------------------------------------------------------------
need_apt chromium chromium-driver
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need_apt nodejs npm
command -v python3 >/dev/null 2>&1 || need_apt python3
apt_install

# Native toolchain components used by `make lint` (only if rustup can reach its server).
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
      say "rustup component add $c (60 s timeout)"
      timeout 60 rustup component add "$c" || say "warning: could not add $c"
    fi
  done
fi

# --- 3. wasm-bindgen-cli --------------------------------------------------------------------
want=$(scripts/wasm-bindgen-version.sh)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" = "$want" ] && command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
  say "wasm-bindgen-cli $want present (skip)"
else
  say "cargo install wasm-bindgen-cli --version =$want (about 6-8 minutes on 2 cores)"
  cargo_bin=cargo
  command -v cargo >/dev/null 2>&1 || cargo_bin=/usr/bin/cargo
  "$cargo_bin" install wasm-bindgen-cli --version "=$want" --force
fi

# --- 4. npm ---------------------------------------------------------------------------------
scripts/ensure-js.sh

. scripts/wasm-env.sh
say "done; wasm route: $WASM_ROUTE"
