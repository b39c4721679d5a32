# shellcheck shell=bash
# Source this file: it picks the wasm32 build route once, for every script and Makefile target.
#
#   . scripts/wasm-env.sh
#   wasm_cargo build --release -p hyperwasm-web     # = cargo build --target wasm32-unknown-unknown …
#
# Route 1 (rustup): the active rustup toolchain has the wasm32-unknown-unknown target installed
#   → plain `cargo`, prebuilt std.
# Route 2 (Debian): Debian's rustc-web/cargo-web (/usr/bin/cargo, std sources in
#   /usr/lib/rustlib/src) → std built from source with RUSTC_BOOTSTRAP=1 -Zbuild-std, linked by wasm-ld.
# Override with HYPERWASM_WASM_ROUTE=rustup|debian.
#
# Exports: WASM_ROUTE, WASM_CARGO, WASM_TARGET, WASM_TARGET_DIR, CHROMEDRIVER, and the cargo runner
# CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner.

WASM_TARGET=wasm32-unknown-unknown
export WASM_TARGET
export PATH="$HOME/.cargo/bin:$PATH"

_hw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_hw_rustup_has_wasm() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"
}

_hw_debian_ok() {
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] &&
    command -v wasm-ld >/dev/null 2>&1
}

if [ -z "${HYPERWASM_WASM_ROUTE:-}" ]; then
  if _hw_rustup_has_wasm; then
    HYPERWASM_WASM_ROUTE=rustup
  elif _hw_debian_ok; then
    HYPERWASM_WASM_ROUTE=debian
  else
    HYPERWASM_WASM_ROUTE=none
  fi
fi
WASM_ROUTE=$HYPERWASM_WASM_ROUTE
export WASM_ROUTE

case "$WASM_ROUTE" in
  rustup)
    WASM_CARGO=cargo
    WASM_CARGO_ENV=()
    WASM_CARGO_FLAGS=()
    WASM_TARGET_DIR="$_hw_root/target"
    ;;
  debian)
    WASM_CARGO=/usr/bin/cargo
    # Set only around wasm_cargo, so native `cargo` in the same shell is unaffected. Without
    # RUSTC/RUSTDOC, /usr/bin/cargo would pick rustup's `rustc` proxy from PATH.
    WASM_CARGO_ENV=(RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld)
    WASM_CARGO_FLAGS=(-Zbuild-std=std,panic_abort)
    # A separate target dir keeps the two compilers' artifacts (and rebuilds) apart.
    WASM_TARGET_DIR="$_hw_root/target/wasm-debian"
    ;;
  *)
    echo "wasm-env: no wasm32 toolchain found; run 'make setup'" >&2
    WASM_CARGO=false
    WASM_CARGO_ENV=()
    WASM_CARGO_FLAGS=()
    WASM_TARGET_DIR="$_hw_root/target"
    ;;
esac
export WASM_CARGO WASM_TARGET_DIR

export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
if [ -z "${CHROMEDRIVER:-}" ] && [ -x /usr/bin/chromedriver ]; then
  export CHROMEDRIVER=/usr/bin/chromedriver
fi
# Each browser test binary gets this long (default 20 s is tight on a loaded 2-core box).
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"

# wasm_cargo <subcommand> [args…]: cargo for wasm32 on the chosen route.
wasm_cargo() {
  local sub=$1
  shift
  env "${WASM_CARGO_ENV[@]}" CARGO_TARGET_DIR="$WASM_TARGET_DIR" "$WASM_CARGO" "$sub" --target "$WASM_TARGET" \
    "${WASM_CARGO_FLAGS[@]}" "$@"
}

# The built artifact of a wasm crate: wasm_artifact <profile> <crate_name_with_underscores>
wasm_artifact() {
  echo "$WASM_TARGET_DIR/$WASM_TARGET/$1/$2.wasm"
}
