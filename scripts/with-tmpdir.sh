#!/usr/bin/env bash
# with-tmpdir.sh CMD…: run CMD with TMPDIR pointing at a fresh private directory that is removed
# afterwards, whatever CMD leaves behind. Headless Chromium profiles (chromedriver's
# org.chromium.Chromium.*, ~70 MB each), killed JS peers' oracle directories and test temp files
# all go under TMPDIR, so a run of `make test` leaves nothing in /tmp on a shared disk.
set -euo pipefail
base="${TMPDIR:-/tmp}"
dir=$(mktemp -d "$base/hyperwasm-test.XXXXXX")
cleanup() { rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "with-tmpdir: TMPDIR=$dir; disk: $(df -h --output=avail "$base" | tail -1 | tr -d ' ') free" >&2
TMPDIR="$dir" "$@"
