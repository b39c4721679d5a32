#!/usr/bin/env bash
# make test-interop: checks of the Rust code against the pinned JS reference stack (tests/js).
#   - Rust integration tests of wasm/*/tests/*.rs and relay/tests/*.rs (oracle fixtures are
#     read there) — `cargo test --test NAME` per file found;
#   - reverse oracle: `cargo test -p hyperwasm-interop` (tests/interop) — cores, signatures and
#     proofs made by Rust, checked by tests/js/verify-rust.mjs; prints verify-rust's summaries;
#   - JS checks: every tests/js/*.test.mjs with `node --test`;
#   - extra interop steps: every executable tests/interop/*.sh.
# Prints one summary line; fails if any step fails. With nothing to run it says so and passes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

passed=0
failed=0
step() {
  echo "== $*"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*" >&2; fi
}

shopt -s nullglob
for t in wasm/*/tests/*.rs relay/tests/*.rs; do
  crate_dir=${t%/tests/*}
  name=$(basename "$t" .rs)
  pkg=$(awk -F'"' '/^name = / { print $2; exit }' "$crate_dir/Cargo.toml")
  # Browser-only suites run in test-browser.
  if grep -q 'run_in_browser' "$t"; then continue; fi
  step cargo test -q -p "$pkg" --test "$name"
done

# Reverse direction: JS must accept what Rust produces. The test needs node and
# tests/js/node_modules and fails (never skips) without them.
reverse_oracle() {
  local log rc=0
  log=$(mktemp)
  cargo test -q -p hyperwasm-interop -- --nocapture >"$log" 2>&1 || rc=$?
  grep -E '^verify-rust ' "$log" || true
  [ "$rc" -eq 0 ] || cat "$log" >&2
  rm -f "$log"
  return "$rc"
}
if [ -f tests/interop/Cargo.toml ]; then
  step reverse_oracle
fi

js_tests=(tests/js/*.test.mjs)
if [ ${#js_tests[@]} -gt 0 ]; then
  [ -d tests/js/node_modules ] || { echo "test-interop: run 'make setup' first (tests/js/node_modules)" >&2; exit 1; }
  step node --test "${js_tests[@]}"
fi

for s in tests/interop/*.sh; do
  [ -x "$s" ] && step "$s"
done

if [ $((passed + failed)) -eq 0 ]; then
  echo "test-interop: nothing to run yet (no wasm/*/tests/*.rs, tests/interop crate, tests/js/*.test.mjs or tests/interop/*.sh)"
fi
echo "test-interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
