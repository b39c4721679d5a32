#!/usr/bin/env bash
# Bench producer: hyperwasm-web's JS `Hypercore` class on IndexedDB in headless Chromium
# (persistent profile, so IndexedDB writes hit the disk), against JS hypercore 11 on Node running
# the same workloads in the same run (tests/js/bench-core.mjs, its `native_*` lines).
#
# Prints one line per workload:
#   {"bench": NAME, "ours": X, "anchor": Y, "unit": U, "ratio": X/Y, …extra fields}
#   browser_append_single ↔ native_append_single (5000 × 1 KiB; ours issued concurrently and
#                           group-committed, extra `sequential_ops_per_sec` = one await at a time;
#                           the anchor awaits each append)
#   browser_append_batch  ↔ native_append_batch  (100k × 1 KiB in batches of 100, one await per
#                           batch like the anchor; extra `concurrent_blocks_per_sec` = all batches
#                           issued without awaiting, group-committed)
#   browser_get_random    ↔ native_get_random    (20k random gets on the 100k core, one await each,
#                           128 MiB pack cache warm from the appends; extras: the same gets issued
#                           together (read coalescing) and `cold_sequential_ops_per_sec` after a
#                           reopen with the default caches)
# Env: N_SINGLE, N_SEQ (sequential appends, default 1000), N_BATCH, N_GET.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-web.sh >&2

export N_SINGLE="${N_SINGLE:-5000}" N_BATCH="${N_BATCH:-100000}" N_GET="${N_GET:-20000}"
N_SEQ="${N_SEQ:-1000}"

# Anchor first, then ours: never both at once on a small machine.
anchor=$(node tests/js/bench-core.mjs)
ours=$(node tests/bench/browser/run.mjs bench_browser_core \
  "{\"single\":$N_SINGLE,\"sequential\":$N_SEQ,\"batch\":$N_BATCH,\"get\":$N_GET}")

ANCHOR="$anchor" OURS="$ours" node --input-type=module -e '
const anchors = {}
for (const line of process.env.ANCHOR.split("\n")) {
  if (!line.startsWith("{")) continue
  const a = JSON.parse(line)
  anchors[a.bench] = a
}
const round = (x) => Math.round(x * 100) / 100
for (const r of JSON.parse(process.env.OURS)) {
  const a = anchors[r.bench.replace(/^browser_/, "native_")]
  if (!a) throw new Error("no anchor for " + r.bench)
  if (a.unit !== r.unit) throw new Error(`unit mismatch for ${r.bench}: ${r.unit} vs ${a.unit}`)
  const { bench, ours, unit, ...extra } = r
  for (const k of Object.keys(extra)) if (typeof extra[k] === "number") extra[k] = round(extra[k])
  console.log(JSON.stringify({
    bench, ours: round(ours), anchor: a.anchor, unit, ratio: Math.round((ours / a.anchor) * 1000) / 1000,
    ...extra, anchor_impl: a.impl, anchor_mode: "sequential awaits, Node + Corestore (RocksDB)"
  }))
}
'
