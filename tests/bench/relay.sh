#!/usr/bin/env bash
# Bench producer: the WebSocket relay. The JS `@hyperswarm/dht-relay` 0.4.3 client
# (non-custodial, over `@hyperswarm/dht-relay/ws`: tests/js/dht-relay-client.mjs swarm-fetch)
# joins a Hyperswarm topic through a relay and replicates a hypercore from a JS seeder
# (tests/js/dht-peer.mjs swarm-seed, hyperdht 6.34.0 / corestore 7) — through OUR relay
# (`hyperwasm-relay serve`, release build) and through the JS relay (`relay(dht, new
# Stream(false, socket))` over a `ws` WebSocketServer: tests/js/dht-relay-server.mjs), in the
# same run, on the same loopback testnet, from the same seeder. One JSON line:
#   {"bench":"relay_throughput_js","ours","anchor","unit":"MB/s","ratio", ...}
#   MB/s of BLOCKS_RELAY (20000) x BLOCK_SIZE (1024) bytes, join -> every block stored and
#   verified by hypercore (the client's clock); ratio = ours/anchor (> 1: ours is faster).
# A second line, relay_throughput_rust: our relay client (`hyperwasm-relay relay-client fetch`)
# replicating the same 20,000 x 1 KiB from a Rust seeder (`hyperwasm-relay dht join`) through our
# relay, against the same anchor (the JS client through the JS relay from the JS seeder).
# REPEAT (3) alternating runs (ours first) keep the fastest of each. A failed fetch is retried
# (ATTEMPTS, 3) and counted: the JS client can crash on the JS relay (`this.handshake.shift is
# not a function`: a second `noiseReceive` for a handshake it already completed).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

BLOCKS=${BLOCKS_RELAY:-20000}
BLOCK_SIZE=${BLOCK_SIZE:-1024}
REPEAT=${REPEAT:-3}
ATTEMPTS=${ATTEMPTS:-3}

cargo build --release -q -p hyperwasm-relay >&2
RELAY=$(realpath "${CARGO_TARGET_DIR:-target}/release/hyperwasm-relay")

BENCH_TAG=relay
. tests/bench/lib/peers.sh

echo "relay: JS testnet" >&2
start testnet node tests/js/dht-peer.mjs testnet --size 5
BOOT=$(json "$(first_line testnet)" "','.join(v['bootstrap'])")

echo "relay: JS seeder ($BLOCKS x $BLOCK_SIZE B)" >&2
start seed node tests/js/dht-peer.mjs swarm-seed --bootstrap "$BOOT" --blocks "$BLOCKS" --block-size "$BLOCK_SIZE" --server-only
SEED=$(first_line seed)
KEY=$(json "$SEED" "v['key']")
DIGEST=$(json "$SEED" "v['digest']")

echo "relay: Rust seeder (hyperwasm-relay dht join, same blocks)" >&2
"$RELAY" create "$WORK/rust-seed" >"$WORK/rust-create.json"
RKEY=$(json "$(cat "$WORK/rust-create.json")" "v['key']")
"$RELAY" gen-blocks --count "$BLOCKS" --size "$BLOCK_SIZE" | "$RELAY" append "$WORK/rust-seed" --chunk-size "$BLOCK_SIZE" >/dev/null
start rseed "$RELAY" dht join --dir "$WORK/rust-seed" --bootstrap "$BOOT"
RDIGEST=$(json "$(first_line rseed)" "v['digest']")

echo "relay: our relay (hyperwasm-relay serve)" >&2
start ours "$RELAY" serve --listen 127.0.0.1:0 --bootstrap "$BOOT" --web-root "$WORK"
OURS_URL="ws://$(json "$(first_line ours)" "v['listening']")/relay"

echo "relay: JS relay (@hyperswarm/dht-relay)" >&2
start jsrelay node tests/js/dht-relay-server.mjs --bootstrap "$BOOT"
JS_URL=$(json "$(first_line jsrelay)" "v['url']")
sleep 2 # both relays' DHT nodes bootstrapped and the seeder's announce settled

# fetch URL FAILS_FILE: one swarm-fetch through the relay at URL; up to ATTEMPTS tries (the JS
# client can die on the JS relay: see the note below), each failure counted in FAILS_FILE.
fetch() {
  local i line
  for i in $(seq 1 "$ATTEMPTS"); do
    if line=$(node tests/js/dht-relay-client.mjs swarm-fetch --relay "$1" --key "$KEY" --length "$BLOCKS" \
      --timeout-ms 600000 2>>"$WORK/fetch.err" | grep '"event":"done"'); then
      echo "$line"
      return
    fi
    echo x >>"$2"
    echo "relay: a fetch through $1 failed (attempt $i); client stderr:" >&2
    tail -n 5 "$WORK/fetch.err" >&2
  done
  echo "relay: no fetch through $1 succeeded" >&2
  exit 1
}

# rust_fetch: one `relay-client fetch` of the Rust seeder's core through our relay.
rust_fetch() {
  rm -rf "$WORK/rust-fetched"
  "$RELAY" relay-client --url "$OURS_URL" --timeout-ms 600000 fetch "$RKEY" --dir "$WORK/rust-fetched" \
    --length "$BLOCKS" 2>>"$WORK/rust-fetch.err" | grep '"event":"done"'
}

OURS_RUNS=()
ANCHOR_RUNS=()
RUST_RUNS=()
for _ in $(seq 1 "$REPEAT"); do
  echo "relay: Rust relay client fetch through our relay" >&2
  RUST_RUNS+=("$(rust_fetch)")
  echo "relay: fetch through our relay" >&2
  OURS_RUNS+=("$(fetch "$OURS_URL" "$WORK/ours.fails")")
  echo "relay: fetch through the JS relay" >&2
  ANCHOR_RUNS+=("$(fetch "$JS_URL" "$WORK/anchor.fails")")
done

touch "$WORK/ours.fails" "$WORK/anchor.fails"
OURS_FAILS=$(wc -l <"$WORK/ours.fails") ANCHOR_FAILS=$(wc -l <"$WORK/anchor.fails") \
RUST="$(printf '%s\n' "${RUST_RUNS[@]}")" RDIGEST="$RDIGEST" \
OURS="$(printf '%s\n' "${OURS_RUNS[@]}")" ANCHOR="$(printf '%s\n' "${ANCHOR_RUNS[@]}")" DIGEST="$DIGEST" \
  BLOCKS="$BLOCKS" BLOCK_SIZE="$BLOCK_SIZE" python3 - <<'PY'
import json, os, sys

def runs(text):
    return [json.loads(l) for l in text.splitlines() if l.strip().startswith('{')]

ours, anchor = runs(os.environ['OURS']), runs(os.environ['ANCHOR'])
digest = os.environ['DIGEST']
bad = [r for r in ours + anchor if r.get('digest') != digest]
if not ours or not anchor or bad:
    print(f'relay: missing or wrong runs (ours {len(ours)}, anchor {len(anchor)}, bad digests {len(bad)})', file=sys.stderr)
    sys.exit(1)
a = max(anchor, key=lambda r: r['mbps'])
node = os.popen('node --version').read().strip()

def row(bench, tried, **extra):
    """One JSON line: the best of `tried` against the best anchor run."""
    o = max(tried, key=lambda r: r['mbps'])
    print(json.dumps({
        'bench': bench,
        'ours': o['mbps'],
        'anchor': a['mbps'],
        'unit': 'MB/s',
        'ratio': round(o['mbps'] / a['mbps'], 2),
        'n': len(tried),
        'seconds': round(o['ms'] / 1000, 3),
        'anchor_seconds': round(a['ms'] / 1000, 3),
        'bytes': o['bytes'],
        **extra,
    }, separators=(',', ':')))

row('relay_throughput_js', ours,
    blocks=int(os.environ['BLOCKS']),
    block_size=int(os.environ['BLOCK_SIZE']),
    failed_attempts=int(os.environ['OURS_FAILS']),
    anchor_failed_attempts=int(os.environ['ANCHOR_FAILS']),
    note='JS dht-relay 0.4.3 client (non-custodial, ws) joins a Hyperswarm topic through the relay and replicates a hypercore from a JS seeder on a 5-node loopback testnet; join -> every block stored; digest checked',
    impl='hyperwasm-relay serve (release)',
    anchor_impl='@hyperswarm/dht-relay 0.4.3 relay() over ws on node ' + node)
rust = runs(os.environ['RUST'])
if not rust or any(r.get('digest') != os.environ['RDIGEST'] for r in rust):
    print(f'relay: missing or wrong Rust runs ({len(rust)})', file=sys.stderr)
    sys.exit(1)
row('relay_throughput_rust', rust,
    note='Rust relay client (hyperwasm-relay relay-client fetch: lookup, dial, replicate) <- Rust seeder (dht join) through our relay, vs the JS dht-relay client <- JS seeder through the JS relay; same testnet, same block count and size; digest checked',
    impl='hyperwasm-relay relay-client + serve (release)',
    anchor_impl='@hyperswarm/dht-relay 0.4.3 client + relay on node ' + node)
PY
