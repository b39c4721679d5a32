// JS ↔ JS anchor for the HyperDHT benchmarks (hyperdht 6.34.0 on a loopback testnet), the same
// workloads the Rust bench (tests/bench/dht.sh) runs Rust ↔ Rust.
//
//   node tests/js/bench-dht.mjs [--mb 100] [--connects 20] [--size 5] [--bootstrap HOST:PORT,…]
//                               [--only dht_stream|dht_connect_latency] [--repeat 1]
//                               [--same-process] [--same-client]
//
// Setup (not timed): a fresh testnet of --size nodes in this process (hyperdht/testnet.js on
// 127.0.0.1), or the one at --bootstrap. The server is `dht-peer.mjs sink-server --no-hash` in a
// child process (with --same-process: the same sink in this process), an ephemeral node on
// 127.0.0.1 listening on a fixed key pair; it reads every connection to its end, counting bytes.
// Clients are ephemeral nodes in this process, fully bootstrapped before any clock starts.
//
// dht_stream: one client node connects and writes --mb × 10^6 bytes (one random 64 KiB buffer
//   written again and again, with backpressure) over the encrypted connection, then ends.
//   value = MB/s from the first byte written to the last byte the server received (the server
//   stamps it with the Unix epoch clock, which both processes share); value_from_connect = MB/s
//   from just before connect() to the same last byte. With --repeat R the fastest run is
//   reported and every run is listed in "runs".
// dht_connect_latency: --connects K connections, each from a fresh client node (its own random
//   key pair, bootstrapped before the clock starts; so every connect does its own FIND_PEER, no
//   cached relay addresses), timed from connect() to the secret-stream's 'open' (Noise IK done
//   and UDX connected). With --same-client one node makes all K connects with a fresh key pair
//   each (hyperdht then reuses the server's cached relay addresses, so connects 2…K skip most of
//   the lookup). value = median (mean of the two middle values for even K); p90 = nearest rank.
//
// Output: one JSON line per workload:
//   {"bench":"dht_stream","value":MB/s,"unit":"MB/s","n":bytes,"seconds","value_from_connect",
//    "seconds_from_connect","connect_ms","impl":"js-hyperdht@6.34.0","node","server","runs"?}
//   {"bench":"dht_connect_latency","value":median_ms,"unit":"ms","n":K,"seconds":sum of K times,
//    "p90","min","max","mean","samples":[ms…],"client":"fresh-node"|"same-node-fresh-keypair",
//    "impl","node","server"}
// MB = 10^6 bytes. Logs on stderr; a failure prints {"error": …} and exits 1.
import { spawn } from 'child_process'
import path from 'path'
import readline from 'readline'
import { fileURLToPath } from 'url'
import {
  DHT,
  createTestnet,
  HOST,
  HYPERDHT_VERSION,
  setTag,
  out,
  log,
  fail,
  exit,
  run,
  onCleanup,
  parseArgs,
  intArg,
  numArg,
  bootstrapArg,
  createNode,
  withTimeout,
  nowMs,
  round3,
  opened,
  closed,
  sendBytes,
  receiveBytes,
  hex,
  b4a
} from './lib/dht.mjs'

setTag('bench-dht')
const here = path.dirname(fileURLToPath(import.meta.url))
const IMPL = 'js-hyperdht@' + HYPERDHT_VERSION
const SERVER_SEED = b4a.alloc(32, 0x5e)

// ---------------------------------------------------------------- the server
// A sink in a child process: `dht-peer.mjs sink-server --no-hash`. Its `received` events queue up.
async function childServer(bootstrap) {
  const child = spawn(
    process.execPath,
    [path.join(here, 'dht-peer.mjs'), 'sink-server', '--no-hash', '--seed', hex(SERVER_SEED), '--bootstrap', bootstrap.map((b) => b.host + ':' + b.port).join(',')],
    { stdio: ['pipe', 'pipe', 'inherit'] }
  )
  const exited = new Promise((resolve) => child.once('exit', resolve))
  onCleanup(async () => {
    child.stdin.end()
    await withTimeout(exited, 5000, 'server exit').catch(() => child.kill())
  })
  const events = eventQueue()
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      return log('server:', line)
    }
    events.push(msg)
  })
  exited.then((code) => events.push({ error: 'server exited with ' + code }))
  const ready = await withTimeout(events.next(), 30000, 'server start')
  if (ready.event !== 'listening') throw new Error('server failed to start: ' + JSON.stringify(ready))
  return { publicKey: b4a.from(ready.publicKey, 'hex'), events, where: 'child-process' }
}

// The same sink in this process.
async function inProcessServer(bootstrap) {
  const keyPair = DHT.keyPair(SERVER_SEED)
  const node = await createNode({ bootstrap, keyPair })
  const events = eventQueue()
  const server = node.createServer((conn) => {
    receiveBytes(conn, { hash: false }).then(
      (r) => {
        events.push({ event: 'received', ...r })
        conn.end()
      },
      (err) => {
        events.push({ event: 'receive-failed', error: err.message })
        conn.destroy()
      }
    )
  })
  await server.listen(keyPair)
  return { publicKey: keyPair.publicKey, events, where: 'same-process' }
}

function eventQueue() {
  const items = []
  const waiters = []
  return {
    push(item) {
      if (waiters.length) waiters.shift()(item)
      else items.push(item)
    },
    next() {
      return items.length ? Promise.resolve(items.shift()) : new Promise((resolve) => waiters.push(resolve))
    }
  }
}

async function nextReceived(server, timeoutMs) {
  for (;;) {
    const ev = await withTimeout(server.events.next(), timeoutMs, 'waiting for the server')
    if (ev.error) throw new Error('server: ' + ev.error)
    if (ev.event === 'received') return ev
    if (ev.event === 'receive-failed') throw new Error('server: ' + ev.error)
  }
}

// ---------------------------------------------------------------- workloads
async function streamOnce(bootstrap, server, bytes) {
  const node = await createNode({ bootstrap })
  try {
    const connectAt = nowMs()
    const conn = node.connect(server.publicKey)
    conn.on('error', (err) => log('stream connection error:', err.message))
    await withTimeout(opened(conn), 30000, 'connect')
    const openAt = nowMs()
    const received = nextReceived(server, 600000)
    received.catch(() => {})
    conn.on('data', () => {})
    const s = await sendBytes(conn, bytes, { source: 'reuse' })
    const r = await received
    if (r.bytes !== bytes) throw new Error('server received ' + r.bytes + ' of ' + bytes + ' bytes')
    await withTimeout(closed(conn), 5000, 'close').catch((err) => log(err.message))
    const seconds = (r.lastByteAt - s.firstWriteAt) / 1000
    const secondsFromConnect = (r.lastByteAt - connectAt) / 1000
    return {
      value: round3(bytes / 1e6 / seconds),
      seconds: round3(seconds),
      value_from_connect: round3(bytes / 1e6 / secondsFromConnect),
      seconds_from_connect: round3(secondsFromConnect),
      connect_ms: round3(openAt - connectAt)
    }
  } finally {
    await node.destroy()
  }
}

async function connectOnce(node, server, keyPair) {
  const t0 = nowMs()
  const conn = node.connect(server.publicKey, { keyPair })
  conn.on('error', (err) => log('connection error:', err.message))
  await withTimeout(opened(conn), 30000, 'connect')
  const ms = nowMs() - t0
  conn.end()
  conn.on('data', () => {})
  await nextReceived(server, 10000)
  await withTimeout(closed(conn), 5000, 'close').catch((err) => log(err.message))
  return ms
}

async function connectLatency(bootstrap, server, k, sameClient) {
  const samples = []
  const shared = sameClient ? await createNode({ bootstrap }) : null
  for (let i = 0; i < k; i++) {
    const node = shared || (await createNode({ bootstrap }))
    try {
      samples.push(await connectOnce(node, server, DHT.keyPair()))
    } finally {
      if (!shared) await node.destroy()
    }
  }
  if (shared) await shared.destroy()
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  const sum = samples.reduce((a, b) => a + b, 0)
  return {
    value: round3(median),
    p90: round3(sorted[Math.ceil(0.9 * sorted.length) - 1]),
    min: round3(sorted[0]),
    max: round3(sorted[sorted.length - 1]),
    mean: round3(sum / samples.length),
    seconds: round3(sum / 1000),
    samples: samples.map(round3)
  }
}

// ---------------------------------------------------------------- main
run(async () => {
  const { opts } = parseArgs(['bench', ...process.argv.slice(2)], {
    flags: ['same-process', 'same-client'],
    repeatable: ['bootstrap']
  })
  const mb = numArg(opts.mb, 'mb', 100)
  const bytes = Math.round(mb * 1e6)
  const k = intArg(opts.connects, 'connects', 20)
  const size = intArg(opts.size, 'size', 5)
  const repeat = Math.max(1, intArg(opts.repeat, 'repeat', 1))
  const only = opts.only || null
  if (only && only !== 'dht_stream' && only !== 'dht_connect_latency') fail('--only dht_stream|dht_connect_latency')
  if (k < 1) fail('--connects must be at least 1')

  let bootstrap
  if (opts.bootstrap.length) {
    bootstrap = bootstrapArg(opts.bootstrap)
  } else {
    const tn = await createTestnet(size, { host: HOST })
    onCleanup(() => tn.destroy())
    bootstrap = tn.bootstrap
    log('testnet of', size, 'nodes at', bootstrap.map((b) => b.host + ':' + b.port).join(','))
  }
  const server = opts.sameProcess ? await inProcessServer(bootstrap) : await childServer(bootstrap)
  const common = { impl: IMPL, node: process.version, server: server.where, testnet: opts.bootstrap.length ? 'external' : size }

  if (!only || only === 'dht_stream') {
    const runs = []
    for (let i = 0; i < repeat; i++) {
      const r = await streamOnce(bootstrap, server, bytes)
      log('dht_stream run', i + 1, JSON.stringify(r))
      runs.push(r)
    }
    const best = runs.reduce((a, b) => (b.value > a.value ? b : a))
    out({ bench: 'dht_stream', ...best, unit: 'MB/s', n: bytes, ...common, ...(repeat > 1 ? { runs } : {}) })
  }
  if (!only || only === 'dht_connect_latency') {
    const r = await connectLatency(bootstrap, server, k, !!opts.sameClient)
    const { value, seconds, ...rest } = r
    out({
      bench: 'dht_connect_latency',
      value,
      unit: 'ms',
      n: k,
      seconds,
      ...rest,
      client: opts.sameClient ? 'same-node-fresh-keypair' : 'fresh-node',
      ...common
    })
  }
  await exit(0)
})
