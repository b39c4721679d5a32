# Sourced by bench producers that run long-lived peers (relays, testnets, seeders) beside the
# measured client. Defines:
#   WORK              a private temp dir, removed at exit with every peer stopped
#   start NAME CMD…   runs CMD in the background, stdin on a fifo this shell holds open (closing
#                     it at exit is the peer's signal to stop), stdout to $WORK/NAME.out, stderr to
#                     $WORK/NAME.err, pid in $WORK/NAME.pid
#   first_line NAME   waits (up to 120 s) for NAME's first JSON line on stdout and prints it
#   json TEXT EXPR    evaluates the Python expression EXPR on the JSON value v = TEXT
# BENCH_TAG (the producer's name) prefixes its messages.

WORK=$(mktemp -d)
PEER_PIDS=()
PEER_FDS=()

peers_cleanup() {
  local fd p
  for fd in "${PEER_FDS[@]}"; do eval "exec $fd>&-" 2>/dev/null || true; done
  sleep 1
  for p in "${PEER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap peers_cleanup EXIT

start() {
  local name=$1 fd
  shift
  mkfifo "$WORK/$name.in"
  "$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PEER_PIDS+=($!)
  echo $! >"$WORK/$name.pid"
  exec {fd}>"$WORK/$name.in"
  PEER_FDS+=("$fd")
}

first_line() {
  local i
  for i in $(seq 1 1200); do
    if [ -s "$WORK/$1.out" ] && head -n1 "$WORK/$1.out" | grep -q '}$'; then
      head -n1 "$WORK/$1.out"
      return
    fi
    sleep 0.1
  done
  echo "${BENCH_TAG:-bench}: $1 did not start; stderr:" >&2
  cat "$WORK/$1.err" >&2
  exit 1
}

json() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); print(eval(sys.argv[2], {'v': v}))" "$1" "$2"; }
