#!/usr/bin/env bash
# make demo (for now): build the web package and serve web-demo/ on 127.0.0.1.
# A later issue replaces this with the Rust relay serving the demo and the DHT bridge.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-web.sh >/dev/null
port=${PORT:-8080}
echo "demo: serving web-demo/ at http://127.0.0.1:$port/  (Ctrl-C to stop)"
echo "demo: a hypercore in the page, persisted in IndexedDB (append, reload, truncate);"
echo "demo: networking through the Rust relay to the HyperDHT arrives with the relay issue."
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory web-demo
