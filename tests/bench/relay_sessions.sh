#!/usr/bin/env bash
# Bench producer: the WebSocket relay under 1,000 concurrent sessions.
#   relay_sessions_rss  KiB of relay RSS per session: (VmRSS with SESSIONS sessions open, after
#                       their lookups - VmRSS idle) / SESSIONS
#   relay_sessions_p99  ms, p99 of the SESSIONS lookups' latency (lookup sent -> done)
# Workload: the release `hyperwasm-relay serve --local-testnet 8` on loopback; one Rust load
# generator (relay/examples/relay_load.rs: tokio-tungstenite + the core RelayClient, one task per
# session). One extra session announces a topic (the client signs); SESSIONS (1000) sessions
# say hello, and once all are up each looks the topic up at the same moment and waits for done.
# Anchor: null (no JS @hyperswarm/dht-relay figure for this load is measured here).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

SESSIONS=${SESSIONS:-1000}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p hyperwasm-relay --bin hyperwasm-relay --example relay_load >&2

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log=$(mktemp)
"$TARGET/release/hyperwasm-relay" serve --listen 127.0.0.1:0 --local-testnet 8 \
  --max-sessions $((SESSIONS + 100)) --max-sessions-per-ip $((SESSIONS + 100)) >"$log" 2>&1 &
relay=$!
trap 'kill $relay 2>/dev/null; wait $relay 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 200); do
  port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    l=l.strip()
    if l.startswith("{"):
        v=json.loads(l)
        if "port" in v: print(v["port"]); break' "$log" 2>/dev/null || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "relay_sessions: the relay did not start" >&2; cat "$log" >&2; exit 1; }
# Wait for the embedded testnet's node to be ready.
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$port/healthz" | grep -q '"dhtReady":true' && break
  sleep 0.1
done

out=$("$TARGET/release/examples/relay_load" "ws://127.0.0.1:$port/relay" "$relay" "$SESSIONS")
echo "relay_sessions: $out" >&2

OUT="$out" python3 - <<'PY'
import json, os, sys
r = json.loads(os.environ['OUT'])
n = r['sessions']
ok = r['up'] == n and r['lookups'] == n and r['found'] == n and r['errors'] == 0
if not ok:
    print(f"relay_sessions: incomplete run: {r}", file=sys.stderr)
open_kib = max(r['rss_open_kib'], r['rss_after_kib'])
common = {'n': n, 'impl': 'hyperwasm-relay serve (release, --local-testnet 8)', 'anchor_impl': None,
          'anchor_note': 'no JS @hyperswarm/dht-relay run under this load yet'}
rss = {'bench': 'relay_sessions_rss', 'ours': round((open_kib - r['rss_idle_kib']) / n, 2), 'anchor': None,
       'unit': 'KiB/session', 'ratio': None, 'rss_idle_kib': r['rss_idle_kib'],
       'rss_open_kib': r['rss_open_kib'], 'rss_after_kib': r['rss_after_kib'], **common,
       'note': 'relay VmRSS with n sessions open (after their lookups) minus idle, per session'}
p99 = {'bench': 'relay_sessions_p99', 'ours': r['p99_ms'], 'anchor': None, 'unit': 'ms', 'ratio': None,
       'p50': r['p50_ms'], 'max': r['max_ms'], 'found': r['found'], **common,
       'note': 'n concurrent lookups of one announced topic on an 8-node loopback testnet, sent at once; lookup -> done'}
print(json.dumps(rss, separators=(',', ':')))
print(json.dumps(p99, separators=(',', ':')))
sys.exit(0 if ok else 1)
PY
