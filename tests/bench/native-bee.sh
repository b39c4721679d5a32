#!/usr/bin/env bash
# Bench producer: native Hyperbee (Rust, FileStorage) vs the JS anchor (hyperbee 2.27.3 on Node,
# Corestore 7 / RocksDB), measured in the same run. One JSON line per workload:
#   {"bench": "bee_<workload>_native", "ours", "anchor", "unit", "ratio", ...}  ratio = ours/anchor
# Workloads (same definitions both sides; wasm/core/benches/bee.rs, tests/js/bench-bee.mjs):
# put_single, put_batch, get_random, range_all. Env N_PUT, N_BATCH, N_KEYS, N_GET.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

N_PUT=${N_PUT:-5000}
N_BATCH=${N_BATCH:-100000}
N_KEYS=${N_KEYS:-100000}
N_GET=${N_GET:-20000}
export N_PUT N_BATCH N_KEYS N_GET

cargo bench -p hyperwasm --bench bee --no-run >&2
ours=$(cargo bench -q -p hyperwasm --bench bee 2>/dev/null)
anchor=""
for w in put_single put_batch get_random range_all; do
  case $w in
    put_single) n=$N_PUT ;;
    put_batch) n=$N_BATCH ;;
    get_random) n=$N_GET ;;
    range_all) n=$N_KEYS ;;
  esac
  anchor+=$(node tests/js/bench-bee.mjs --workload "$w" --n "$n" --keys "$N_KEYS")$'\n'
done

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
    a = anchor.get(name.removesuffix('_native'))
    if a is None or a['unit'] != o['unit']:
        print(f'native-bee: no matching JS anchor for {name}', file=sys.stderr)
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
        'anchor_n': a.get('n'),
        'anchor_seconds': a.get('seconds'),
        'impl': o.get('impl'),
        'anchor_impl': a.get('impl'),
        'note': o.get('note'),
    }
    print(json.dumps(row, separators=(',', ':')))
if len(ours) != 4:
    print(f'native-bee: expected 4 Rust rows, got {len(ours)}', file=sys.stderr)
    status = 1
sys.exit(status)
PY
