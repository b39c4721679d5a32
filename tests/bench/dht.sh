#!/usr/bin/env bash
# Bench producer: the Rust HyperDHT node (hyperwasm-relay dht bench, release build) against the
# JS anchor (tests/js/bench-dht.mjs, hyperdht 6.34.0 on Node), measured in the same run on the
# same workloads. One JSON line per workload:
#   {"bench", "ours", "anchor", "unit", "ratio", ...}
#   dht_stream_rust_rust  MB/s of one encrypted connection (UDX + secret-stream), ratio = ours/anchor
#   dht_connect_latency   median ms of connect() -> open from fresh client nodes, ratio = ours/anchor
#                         (< 1: Rust connects faster)
# Workload (both sides alike): a fresh 5-node loopback testnet in the bench process, the server a
# sink in a child process (`dht sink-server --no-hash` / `dht-peer.mjs sink-server --no-hash`),
# clients bootstrapped before any clock starts. dht_stream: MB_DHT (100) x 10^6 bytes from the
# first byte written to the last byte the server received (epoch clocks, both processes);
# REPEAT (1) runs keep the fastest. dht_connect_latency: CONNECTS (20) fresh client nodes, each
# with its own key pair, connect() to the established encrypted connection; median.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

MB=${MB_DHT:-100}
CONNECTS=${CONNECTS:-20}
REPEAT=${REPEAT:-1}

cargo build --release -q -p hyperwasm-relay >&2
RELAY=${CARGO_TARGET_DIR:-target}/release/hyperwasm-relay

echo "dht: JS <-> JS (anchor)" >&2
anchor=$(node tests/js/bench-dht.mjs --mb "$MB" --connects "$CONNECTS" --repeat "$REPEAT")
echo "dht: Rust <-> Rust" >&2
ours=$("$RELAY" dht bench --mb "$MB" --connects "$CONNECTS" --repeat "$REPEAT")

OURS="$ours" ANCHOR="$anchor" python3 - <<'PY'
import json, os, sys

def rows(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('{'):
            row = json.loads(line)
            out[row['bench']] = row
    return out

ours, anchor = rows(os.environ['OURS']), rows(os.environ['ANCHOR'])
status = 0
for name, src in [('dht_stream_rust_rust', 'dht_stream'), ('dht_connect_latency', 'dht_connect_latency')]:
    o, a = ours.get(src), anchor.get(src)
    if o is None or a is None:
        print(f'dht: missing {src} result (rust: {o is not None}, js: {a is not None})', file=sys.stderr)
        status = 1
        continue
    row = {
        'bench': name,
        'ours': o['value'],
        'anchor': a['value'],
        'unit': o['unit'],
        'ratio': round(o['value'] / a['value'], 2),
        'n': o.get('n'),
        'seconds': o.get('seconds'),
        'anchor_seconds': a.get('seconds'),
    }
    if src == 'dht_stream':
        row.update({
            'ours_from_connect': o.get('value_from_connect'),
            'anchor_from_connect': a.get('value_from_connect'),
            'connect_ms': o.get('connect_ms'),
            'anchor_connect_ms': a.get('connect_ms'),
            'note': 'loopback testnet of 5; one encrypted connection; first byte written -> last byte received by the server (child process)',
        })
    else:
        row.update({
            'p90': o.get('p90'),
            'anchor_p90': a.get('p90'),
            'note': 'median of n fresh client nodes (own key pair each, bootstrapped before timing), connect() -> established; lower is better',
        })
    row.update({'impl': o.get('impl'), 'anchor_impl': a.get('impl'), 'node': a.get('node')})
    print(json.dumps(row, separators=(',', ':')))
sys.exit(status)
PY
