#!/usr/bin/env bash
# Bench producer: hyperwasm-web's JS `Hyperbee` class (the Rust Hyperbee compiled to wasm) on a
# JS `Hypercore` in IndexedDB, in headless Chromium (persistent profile, so IndexedDB hits the
# disk), against JS hyperbee 2.27.3 on Node 20 + Corestore 7 (RocksDB) running the same workloads
# in the same run (tests/js/bench-bee.mjs, one process per workload, before the browser runs).
#
# Prints one line per workload:
#   {"bench": NAME, "ours": X, "anchor": Y, "unit": U, "ratio": X/Y, …how each side measured}
#   bee_put_single_browser  N_PUT sequential awaited puts (16-byte keys, 64-byte values), ops/s
#   bee_put_batch_browser   N_BATCH entries in batches of 1,000 (flush awaited), entries/s
#   bee_get_random_browser  N_GET random awaited gets on a KEYS-key bee, warm, ops/s
#   bee_range_all_browser   one full scan of the KEYS-key bee, warm, entries/s
# Env: N_PUT (5000), N_BATCH (100000), N_GET (20000), KEYS (100000), BEE_WORKLOADS (all four,
# space-separated: put_single put_batch get_random range_all), SKIP_BUILD=1 to reuse wasm/web/pkg.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${SKIP_BUILD:-}" = 1 ] || scripts/build-web.sh >&2

N_PUT="${N_PUT:-5000}" N_BATCH="${N_BATCH:-100000}" N_GET="${N_GET:-20000}" KEYS="${KEYS:-100000}"
read -r -a workloads <<<"${BEE_WORKLOADS:-put_single put_batch get_random range_all}"

# Anchor first, then ours: never both at once on a small machine.
anchor=""
for w in "${workloads[@]}"; do
  case "$w" in
    put_single) n=$N_PUT ;;
    put_batch) n=$N_BATCH ;;
    get_random) n=$N_GET ;;
    range_all) n=$KEYS ;;
    *) echo "bee-browser: unknown workload $w" >&2; exit 2 ;;
  esac
  anchor+=$(node tests/js/bench-bee.mjs --workload "$w" --n "$n" --keys "$KEYS")$'\n'
done
list=$(printf '"%s",' "${workloads[@]}")
ours=$(node tests/bench/browser/run.mjs bench_browser_bee \
  "{\"workloads\":[${list%,}],\"putSingle\":$N_PUT,\"putBatch\":$N_BATCH,\"get\":$N_GET,\"keys\":$KEYS}")

ANCHOR="$anchor" OURS="$ours" node --input-type=module -e '
const anchors = {}
for (const line of process.env.ANCHOR.split("\n")) {
  if (!line.startsWith("{")) continue
  const a = JSON.parse(line)
  anchors[a.bench] = a
}
const round = (x) => Math.round(x * 100) / 100
for (const r of JSON.parse(process.env.OURS)) {
  const a = anchors[r.bench.replace(/_browser$/, "")]
  if (!a) throw new Error("no anchor for " + r.bench)
  if (a.unit !== r.unit) throw new Error(`unit mismatch for ${r.bench}: ${r.unit} vs ${a.unit}`)
  const { bench, ours, unit, ...extra } = r
  for (const k of Object.keys(extra)) if (typeof extra[k] === "number") extra[k] = round(extra[k])
  console.log(JSON.stringify({
    bench, ours: round(ours), anchor: a.anchor, unit, ratio: Math.round((ours / a.anchor) * 1000) / 1000,
    ...extra,
    anchor_impl: a.impl, anchor_storage: a.storage, anchor_node: a.node, anchor_mode: a.mode,
    anchor_n: a.n, anchor_seconds: a.seconds
  }))
}
'
