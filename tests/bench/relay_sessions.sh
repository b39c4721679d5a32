#!/usr/bin/env bash
# Bench producer: a WebSocket relay under 1,000 concurrent sessions, ours against the JS relay.
#   relay_sessions_rss     KiB of relay RSS per session: (VmRSS with SESSIONS sessions open -
#                          VmRSS idle) / SESSIONS
#   relay_sessions_p99     ms, p99 of the SESSIONS lookups' latency (lookup sent -> done)
# Workload: SESSIONS (1000) sessions open at once; once all are up each looks up one announced
# topic at the same moment and reads the lookup to its end (relay_load: one extra session
# announced it through the relay, signed by its client; JS client runs: a JS peer announced it). Both relays are on the same JS loopback testnet (tests/js/dht-peer.mjs testnet, 8
# nodes), in the same run.
#   ours:   release `hyperwasm-relay serve --bootstrap <testnet>`, driven by our protocol's client
#           (relay/examples/relay_load.rs: tokio-tungstenite + the core RelayClient, what the
#           browser runs), one task per session.
#   anchor: the JS relay (`@hyperswarm/dht-relay` 0.4.3 `relay()` over `ws`:
#           tests/js/dht-relay-server.mjs) driven by its own JS client, non-custodial
#           (tests/js/bench-relay-sessions.mjs, one node process for every session).
# Two more rows measure both relays with the same client, the JS one (ours on its dht-relay
# compatible path): relay_sessions_js_rss, relay_sessions_js_p99.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

SESSIONS=${SESSIONS:-1000}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p hyperwasm-relay --bin hyperwasm-relay --example relay_load >&2
RELAY=$(realpath "$TARGET/release/hyperwasm-relay")
LOAD=$(realpath "$TARGET/release/examples/relay_load")
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BENCH_TAG=relay_sessions
. tests/bench/lib/peers.sh

echo "relay_sessions: JS testnet (8 nodes)" >&2
start testnet node tests/js/dht-peer.mjs testnet --size 8
BOOT=$(json "$(first_line testnet)" "','.join(v['bootstrap'])")
# The JS-client runs look up a topic a JS peer announced on the testnet: the JS relay's
# non-custodial announce stores nothing (its sign requests carry the whole peer object).
TOPIC=$(openssl rand -hex 32)
start announcer node tests/js/dht-peer.mjs announce --bootstrap "$BOOT" --topic "$TOPIC"
KEY=$(json "$(first_line announcer)" "v['publicKey']")

# Two instances of our relay, one per client, so neither run starts with the other's sessions.
echo "relay_sessions: our relay (two instances)" >&2
for name in ours oursjs; do
  start "$name" "$RELAY" serve --listen 127.0.0.1:0 --bootstrap "$BOOT" --web-root "$WORK" \
    --max-sessions $((SESSIONS + 100)) --max-sessions-per-ip $((SESSIONS + 100)) \
    --max-queries-per-ip 96  # every bench client is 127.0.0.1: let it use all the query permits
done
OURS_HOST=$(json "$(first_line ours)" "v['listening']")
OURS_PID=$(cat "$WORK/ours.pid")
OURSJS_HOST=$(json "$(first_line oursjs)" "v['listening']")
OURSJS_PID=$(cat "$WORK/oursjs.pid")

echo "relay_sessions: JS relay" >&2
start jsrelay node tests/js/dht-relay-server.mjs --bootstrap "$BOOT"
JS_URL=$(json "$(first_line jsrelay)" "v['url']")
JS_PID=$(cat "$WORK/jsrelay.pid")
for host in "$OURS_HOST" "$OURSJS_HOST"; do
  for _ in $(seq 1 100); do
    curl -s "http://$host/healthz" | grep -q '"dhtReady":true' && break
    sleep 0.1
  done
done
sleep 2 # both relays' DHT nodes bootstrapped

echo "relay_sessions: ours, our client ($SESSIONS sessions)" >&2
OURS=$("$LOAD" "ws://$OURS_HOST/relay" "$OURS_PID" "$SESSIONS")
echo "relay_sessions: $OURS" >&2
echo "relay_sessions: ours, JS client" >&2
OURS_JS=$(node tests/js/bench-relay-sessions.mjs --relay "ws://$OURSJS_HOST/relay" --relay-pid "$OURSJS_PID" --sessions "$SESSIONS" \
  --topic "$TOPIC" --key "$KEY")
echo "relay_sessions: $OURS_JS" >&2
echo "relay_sessions: JS relay, JS client" >&2
ANCHOR=$(node tests/js/bench-relay-sessions.mjs --relay "$JS_URL" --relay-pid "$JS_PID" --sessions "$SESSIONS" \
  --topic "$TOPIC" --key "$KEY")
echo "relay_sessions: $ANCHOR" >&2

OURS="$OURS" OURS_JS="$OURS_JS" ANCHOR="$ANCHOR" python3 - <<'PY'
import json, os, sys
ours, ours_js, anchor = (json.loads(os.environ[k]) for k in ('OURS', 'OURS_JS', 'ANCHOR'))
ok = True
for name, r in (('ours', ours), ('ours_js', ours_js), ('anchor', anchor)):
    n = r['sessions']
    if not (r['up'] == n and r['lookups'] == n and r['found'] == n and r['errors'] == 0):
        print(f"relay_sessions: incomplete {name} run: {r}", file=sys.stderr)
        ok = False

def per_session(r):
    return round((max(r['rss_open_kib'], r['rss_after_kib']) - r['rss_idle_kib']) / r['sessions'], 2)

def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None

node = os.popen('node --version').read().strip()
js_impl = f'@hyperswarm/dht-relay 0.4.3 relay() over ws on node {node}, driven by its JS client (non-custodial)'
note_p99 = 'n concurrent lookups of one announced topic on an 8-node JS loopback testnet, sent at once; lookup -> done'
note_rss = 'relay VmRSS with n sessions open (max of open / after lookups) minus idle, per session'
rows = [
    ('relay_sessions_rss', per_session(ours), per_session(anchor), 'KiB/session', ours,
     'hyperwasm-relay serve (release), driven by our protocol v1 client (relay_load)', note_rss),
    ('relay_sessions_p99', ours['p99_ms'], anchor['p99_ms'], 'ms', ours,
     'hyperwasm-relay serve (release), driven by our protocol v1 client (relay_load)', note_p99),
    ('relay_sessions_js_rss', per_session(ours_js), per_session(anchor), 'KiB/session', ours_js,
     'hyperwasm-relay serve (release), driven by the JS dht-relay client (compat path)', note_rss),
    ('relay_sessions_js_p99', ours_js['p99_ms'], anchor['p99_ms'], 'ms', ours_js,
     'hyperwasm-relay serve (release), driven by the JS dht-relay client (compat path)', note_p99),
]
for bench, o, a, unit, r, impl, note in rows:
    row = {'bench': bench, 'ours': o, 'anchor': a, 'unit': unit, 'ratio': ratio(o, a), 'n': r['sessions']}
    if unit == 'ms':
        row.update({'p50': r['p50_ms'], 'p95': r['p95_ms'], 'max': r['max_ms'],
                    'anchor_p50': anchor['p50_ms'], 'anchor_p95': anchor['p95_ms'], 'anchor_max': anchor['max_ms']})
    else:
        row.update({'rss_idle_kib': r['rss_idle_kib'], 'rss_open_kib': r['rss_open_kib'],
                    'anchor_rss_idle_kib': anchor['rss_idle_kib'], 'anchor_rss_open_kib': anchor['rss_open_kib']})
    row.update({'impl': impl, 'anchor_impl': js_impl, 'note': note})
    print(json.dumps(row, separators=(',', ':')))
sys.exit(0 if ok else 1)
PY
