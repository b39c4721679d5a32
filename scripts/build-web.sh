#!/usr/bin/env bash
# Release wasm build of hyperwasm-web → wasm/web/pkg/ (wasm-bindgen --target web), copied to
# web-demo/pkg/ so web-demo/ can be served on its own.
#
# No wasm-opt: Debian's binaryen 108 silently breaks wasm-bindgen 0.2.130 output
# (research/browser-wasm.md §4.4); a later issue can add npm binaryen@132 with a browser check.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh

want=$(scripts/wasm-bindgen-version.sh)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "build-web: wasm-bindgen CLI is '${have:-missing}', Cargo.lock needs $want; run 'make setup'" >&2
  exit 1
fi

echo "build-web: wasm route '$WASM_ROUTE'"
wasm_cargo build --release -p hyperwasm-web
rm -rf wasm/web/pkg
wasm-bindgen --target web --out-dir wasm/web/pkg "$(wasm_artifact release hyperwasm_web)"
rm -rf web-demo/pkg
cp -r wasm/web/pkg web-demo/pkg
ls -l wasm/web/pkg
