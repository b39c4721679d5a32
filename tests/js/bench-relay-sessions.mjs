// Load generator of tests/bench/relay_sessions.sh with the JS `@hyperswarm/dht-relay` 0.4.3
// client (non-custodial): the same workload as relay/examples/relay_load.rs, for any relay that
// speaks the dht-relay protocol (the JS relay, tests/js/dht-relay-server.mjs, and ours on its
// JS-compatible path), so both relays are measured by the same client.
//
//   node tests/js/bench-relay-sessions.mjs --relay ws://HOST:PORT[/relay] --relay-pid PID
//        [--sessions N=1000] [--timeout-ms N=120000] [--topic HEX --key HEX]
//
// With --topic/--key the sessions look up a topic some DHT peer announced under that public key
// (the JS relay's non-custodial announce never stores a record: its sign requests carry the
// whole peer object). Without them one extra session announces a random topic (the client signs
// its records) through the relay first. SESSIONS sessions
// open their WebSockets; once all are up, each looks the topic up at the same moment and reads
// the lookup to its end. The relay's VmRSS (/proc/PID/status) is read idle (before any session),
// with every session open, and after the lookups (sessions still open).
// → one line {"sessions","up","lookups","found","errors","first_error","rss_idle_kib",
//   "rss_open_kib","rss_after_kib","p50_ms","p90_ms","p95_ms","p99_ms","max_ms",
//   "connect_seconds","lookups_seconds"} (the fields relay_load prints).
import crypto from 'crypto'
import fs from 'fs'
import {
  require, out, fail, run, exit, onCleanup, parseArgs, intArg, hexArg, withTimeout, reasonOf, sleep
} from './lib/dht.mjs'

const DHT = require('@hyperswarm/dht-relay')
const Stream = require('@hyperswarm/dht-relay/ws')
const WebSocket = require('ws')

function vmRssKib(pid) {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
    return line ? parseInt(line.slice(6), 10) : 0
  } catch {
    return 0
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]
}

const round2 = (x) => Math.round(x * 100) / 100

async function openNode(url, nodes, keyPair = DHT.keyPair()) {
  const socket = new WebSocket(url)
  const node = new DHT(new Stream(true, socket), { custodial: false, keyPair })
  nodes.push(node)
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  return node
}

run(async () => {
  const { opts } = parseArgs(['load', ...process.argv.slice(2)])
  if (!opts.relay) fail('--relay ws://HOST:PORT is required')
  const pid = intArg(opts.relayPid, 'relay-pid', 0)
  if (pid === 0) fail('--relay-pid PID is required')
  const sessions = intArg(opts.sessions, 'sessions', 1000)
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 120000)
  const nodes = []
  onCleanup(async () => {
    await Promise.allSettled(nodes.map((n) => n.destroy({ force: true })))
  })

  const rssIdle = vmRssKib(pid)
  let topic, announced
  if (opts.topic !== undefined) {
    topic = hexArg(opts.topic, 'topic', 32)
    announced = hexArg(opts.key, 'key', 32).toString('hex')
  } else {
    const keyPair = DHT.keyPair()
    const announcer = await openNode(opts.relay, nodes, keyPair)
    topic = crypto.randomBytes(32)
    await withTimeout((async () => {
      for await (const _ of announcer.announce(topic, keyPair)) {} // eslint-disable-line no-unused-vars, no-empty
    })(), timeoutMs, 'announce')
    announced = keyPair.publicKey.toString('hex')
  }

  const connectStart = performance.now()
  const opened = await Promise.allSettled(Array.from({ length: sessions }, () => openNode(opts.relay, nodes)))
  const connectSecs = (performance.now() - connectStart) / 1000
  const up = opened.filter((r) => r.status === 'fulfilled').map((r) => r.value)
  const errors = opened.filter((r) => r.status === 'rejected').map((r) => reasonOf(r.reason))
  await sleep(500)
  const rssOpen = vmRssKib(pid)

  const lookupsStart = performance.now()
  const results = await Promise.allSettled(up.map(async (node) => {
    const t0 = performance.now()
    let found = false
    await withTimeout((async () => {
      for await (const r of node.lookup(topic)) {
        if (r.peers.some((p) => p.publicKey.toString('hex') === announced)) found = true
      }
    })(), timeoutMs, 'lookup')
    return { ms: performance.now() - t0, found }
  }))
  const lookupsSecs = (performance.now() - lookupsStart) / 1000
  await sleep(500)
  const rssAfter = vmRssKib(pid)

  const latencies = []
  let found = 0
  for (const r of results) {
    if (r.status === 'fulfilled') {
      latencies.push(r.value.ms)
      if (r.value.found) found++
    } else {
      errors.push(reasonOf(r.reason))
    }
  }
  latencies.sort((a, b) => a - b)
  out({
    sessions,
    up: up.length,
    lookups: latencies.length,
    found,
    errors: errors.length,
    first_error: errors[0] ?? null,
    rss_idle_kib: rssIdle,
    rss_open_kib: rssOpen,
    rss_after_kib: rssAfter,
    p50_ms: round2(percentile(latencies, 50)),
    p90_ms: round2(percentile(latencies, 90)),
    p95_ms: round2(percentile(latencies, 95)),
    p99_ms: round2(percentile(latencies, 99)),
    max_ms: round2(latencies[latencies.length - 1] ?? NaN),
    connect_seconds: round2(connectSecs),
    lookups_seconds: round2(lookupsSecs)
  })
  await exit(0)
})
