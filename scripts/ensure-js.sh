#!/usr/bin/env bash
# Installs tests/js/node_modules if missing or out of date with package-lock.json
# (npm ci; npm install when there is no lockfile). A no-op when already in place.
set -euo pipefail
cd "$(dirname "$0")/../tests/js"
[ -f package.json ] || exit 0
if [ -d node_modules ] && npm ls --depth=0 >/dev/null 2>&1; then
  echo "ensure-js: tests/js node_modules up to date (skip)" >&2
elif [ -f package-lock.json ]; then
  echo "ensure-js: npm ci in tests/js" >&2
  npm ci --no-audit --no-fund >&2
else
  echo "ensure-js: npm install in tests/js (no package-lock.json)" >&2
  npm install --no-audit --no-fund >&2
fi
