#!/usr/bin/env bash
# Bench producer: native hypercore (Rust, FileStorage) vs the JS anchor (hypercore 11 on Node),
# measured in the same run. One JSON line per workload:
#   {"bench", "ours", "anchor", "unit", "ratio", ...}   ratio = ours/anchor (>1: Rust is faster)
# Workloads: native_append_single, native_append_batch, native_get_random (see
# wasm/core/benches/core.rs and tests/js/bench-core.mjs). Env N_SINGLE, N_BATCH, N_GET apply to both.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo bench -p hyperwasm --bench core --no-run >&2
ours=$(cargo bench -q -p hyperwasm --bench core 2>/dev/null)
anchor=$(node tests/js/bench-core.mjs)

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
for name, o in ours.items():
    a = anchor.get(name)
    if a is None:
        print(f'native-core: no JS anchor for {name}', file=sys.stderr)
        status = 1
        continue
    if o['unit'] != a['unit']:
        print(f'native-core: unit mismatch for {name}: {o["unit"]} vs {a["unit"]}', file=sys.stderr)
        status = 1
        continue
    row = {
        'bench': name,
        'ours': o['ours'],
        'anchor': a['anchor'],
        'unit': o['unit'],
        'ratio': round(o['ours'] / a['anchor'], 2),
        'n': o.get('n'),
        'seconds': o.get('seconds'),
        'anchor_seconds': a.get('seconds'),
        'impl': o.get('impl'),
        'anchor_impl': a.get('impl'),
        'node': a.get('node'),
        'note': o.get('note'),
    }
    print(json.dumps(row, separators=(',', ':')))
for name in anchor.keys() - ours.keys():
    print(f'native-core: no Rust result for {name}', file=sys.stderr)
    status = 1
sys.exit(status)
PY
