#!/usr/bin/env bash
# Prints the exact wasm-bindgen version Cargo.lock resolved (the CLI must match it exactly).
set -euo pipefail
cd "$(dirname "$0")/.."
awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock
