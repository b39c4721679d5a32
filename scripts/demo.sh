#!/usr/bin/env bash
# make demo: build the web package and run the relay (`hyperwasm-relay serve`), which serves the
# demo page and its package and bridges the page to the HyperDHT over WebSocket (/relay).
#   default            an embedded HyperDHT testnet on loopback (works offline, one machine)
#   DHT=public         the public HyperDHT bootstrap nodes
#   BOOTSTRAP=h:p,...  your own bootstrap list
#   PORT=8080          where the page and /relay are served (127.0.0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-web.sh >/dev/null
cargo build --release -q -p hyperwasm-relay
port=${PORT:-8080}
if [ -n "${BOOTSTRAP:-}" ]; then
  net=(--bootstrap "$BOOTSTRAP")
  what="the DHT at $BOOTSTRAP"
elif [ "${DHT:-local}" = public ]; then
  net=()
  what="the public HyperDHT"
else
  net=(--local-testnet 8)
  what="an embedded 8-node HyperDHT testnet on loopback"
fi
echo "demo: open http://127.0.0.1:$port/  — relay on ws://127.0.0.1:$port/relay, $what (Ctrl-C to stop)"
exec target/release/hyperwasm-relay serve --listen "127.0.0.1:$port" --web-root web-demo "${net[@]}"
