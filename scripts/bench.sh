#!/usr/bin/env bash
# make bench: runs every executable producer tests/bench/*.sh and prints the JSON lines they emit
# (one benchmark result per line: {"bench", "value"|"anchor", "unit", "n", "seconds", "impl", …}).
# Non-JSON output of a producer goes to stderr. A failing producer fails the run (after the others).
# Producers whose name is in $BENCH_SKIP (space-separated, e.g. "browser-idb") are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

shopt -s nullglob
status=0
ran=0
for p in tests/bench/*.sh; do
  name=$(basename "$p" .sh)
  [ -x "$p" ] || continue
  case " ${BENCH_SKIP:-} " in *" $name "*) echo "bench: skip $name" >&2; continue ;; esac
  echo "bench: $name" >&2
  ran=$((ran + 1))
  if ! out=$("$p"); then
    echo "bench: producer $name failed" >&2
    status=1
  fi
  while IFS= read -r line; do
    case "$line" in
      '{'*) echo "$line" ;;
      *) [ -n "$line" ] && echo "[$name] $line" >&2 ;;
    esac
  done <<<"${out:-}"
done
[ $ran -gt 0 ] || echo "bench: no producers in tests/bench/*.sh" >&2
exit $status
