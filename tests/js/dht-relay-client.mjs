// The JS `@hyperswarm/dht-relay` 0.4.3 client, non-custodial, over a WebSocket to a running relay
// (ours: `hyperwasm-relay serve`, path /relay), for the relay's live tests. The far peers are JS
// HyperDHT / Hyperswarm peers on a loopback testnet (tests/js/dht-peer.mjs).
//
//   node tests/js/dht-relay-client.mjs <command> --relay ws://HOST:PORT/relay [options]
//
// Output: JSON lines on stdout (as dht-peer.mjs: events carry "event"; a fatal error prints
// {"error": reason} and exits 1). Serving commands stay up until stdin closes.
//
// lookup --topic HEX [--expect-key HEX] [--timeout-ms N=10000]
//   node.lookup(topic) to the end (with --expect-key: until a reply lists that key).
//   → {"event":"result","from":{host,port},"peers":[{"publicKey","relayAddresses"}]}…,
//     {"event":"done","found": bool|null}
// announce --topic HEX [--seed HEX]
//   node.announce(topic, keyPair) to the end (the relay asks this client to sign each record).
//   → {"event":"announced","publicKey","results": n}
// connect --key HEX [--bytes N=1024] [--seed HEX] [--timeout-ms N=30000]
//   node.connect(key): a SecretStream run by this client over the relay; writes N random bytes
//   and waits for them to come back (against `dht-peer.mjs echo-server`).
//   → {"event":"open","remotePublicKey"}, {"event":"echoed","bytes","ok"}; exit 0 if ok.
// sink --key HEX [--seed HEX] [--stall] [--timeout-ms N=120000]
//   node.connect(key) and reads the stream to its end (against `dht-peer.mjs source-server`).
//   With --stall the WebSocket's TCP socket is paused as soon as the stream opens (nothing more
//   is read from the relay) until stdin reads `resume`, answered {"resumed":true}.
//   → {"event":"open","remotePublicKey"} (with --stall: once paused),
//     {"event":"received","bytes","hash"} (dht-peer.mjs's stream hash), then ends its half and
//     waits for the stream to close; exit 0.
// listen [--seed HEX]
//   createServer().listen(keyPair), echoing every connection (`dht-peer.mjs connect` dials it).
//   → {"event":"listening","publicKey","host","port"}, {"event":"connection","remotePublicKey"}
// swarm-fetch --key HEX --length N [--topic HEX] [--seed HEX] [--timeout-ms N=60000]
//   new Hyperswarm({ dht: relayNode }), joins the core's discovery key (or topic) as client,
//   replicates a Corestore core with whoever it meets (`dht-peer.mjs swarm-seed`) and downloads
//   blocks 0…N-1. → {"event":"connection",…}, {"event":"done","length","bytes","digest","ms","mbps"}
//   (ms: join → every block stored, as dht-peer.mjs swarm-fetch measures it; MB = 10^6 bytes)
// custodial --topic HEX
//   A custodial client (secret key on the wire) tries a lookup; a non-custodial relay refuses.
//   → {"event":"closed","refused": bool}
import crypto from 'crypto'
import fs from 'fs'
import os from 'os'
import path from 'path'
import {
  require, b4a, hex, out, log, fail, run, exit, onCleanup, parseArgs, intArg, hexArg, withTimeout,
  reasonOf, coreDigest, nowMs, round3, mbps, receiveBytes, stdinLoop, closed
} from './lib/dht.mjs'

const DHT = require('@hyperswarm/dht-relay')
const Stream = require('@hyperswarm/dht-relay/ws')
const WebSocket = require('ws')

function keyPairOf(opts) {
  return opts.seed === undefined ? DHT.keyPair() : DHT.keyPair(hexArg(opts.seed, 'seed', 32))
}

/** A relay node over a fresh WebSocket; resolves once the socket is open. */
async function relayNode(opts, { custodial = false } = {}) {
  if (!opts.relay) fail('--relay ws://HOST:PORT/relay is required')
  const socket = new WebSocket(opts.relay)
  const keyPair = keyPairOf(opts)
  const node = new DHT(new Stream(true, socket), { custodial, keyPair })
  onCleanup(() => node.destroy({ force: true }))
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  }), 10000, 'websocket open')
  return { node, socket, keyPair }
}

const peerJson = (p) => ({
  publicKey: hex(p.publicKey),
  relayAddresses: p.relayAddresses.map(({ host, port }) => ({ host, port }))
})

async function lookup(opts) {
  const topic = hexArg(opts.topic, 'topic', 32)
  const expect = opts.expectKey === undefined ? null : opts.expectKey.toLowerCase()
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 10000)
  const { node } = await relayNode(opts)
  let found = expect === null ? null : false
  const work = async () => {
    for await (const r of node.lookup(topic)) {
      const peers = r.peers.map(peerJson)
      out({ event: 'result', from: { host: r.from.host, port: r.from.port }, peers })
      if (expect !== null && peers.some((p) => p.publicKey === expect)) {
        found = true
        break
      }
    }
  }
  await withTimeout(work(), timeoutMs, 'lookup')
  out({ event: 'done', found })
  await exit(found === false ? 1 : 0)
}

async function announce(opts) {
  const topic = hexArg(opts.topic, 'topic', 32)
  const { node, keyPair } = await relayNode(opts)
  let results = 0
  for await (const _ of node.announce(topic, keyPair)) results++ // eslint-disable-line no-unused-vars
  out({ event: 'announced', publicKey: hex(keyPair.publicKey), results })
  await exit(0)
}

/** node.connect(key) over a fresh relay session, resolved once the connection is open. */
async function dialOpen(opts, key, timeoutMs) {
  const { node, socket } = await relayNode(opts)
  const conn = node.connect(key)
  conn.on('error', (err) => log('connection error:', reasonOf(err)))
  await withTimeout(new Promise((resolve, reject) => {
    conn.once('open', resolve)
    conn.once('close', () => reject(new Error('closed before open')))
  }), timeoutMs, 'open')
  return { node, socket, conn }
}

async function connect(opts) {
  const key = hexArg(opts.key, 'key', 32)
  const bytes = intArg(opts.bytes, 'bytes', 1024)
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 30000)
  const { conn } = await dialOpen(opts, key, timeoutMs)
  out({ event: 'open', remotePublicKey: hex(conn.remotePublicKey) })
  const payload = crypto.randomBytes(bytes)
  const chunks = []
  let got = 0
  const echoed = new Promise((resolve, reject) => {
    conn.on('data', (d) => {
      chunks.push(d)
      got += d.byteLength
      if (got >= bytes) resolve()
    })
    conn.once('close', () => reject(new Error('closed after ' + got + ' of ' + bytes + ' bytes')))
  })
  echoed.catch(() => {})
  for (let off = 0; off < bytes; off += 65536) {
    if (!conn.write(payload.subarray(off, Math.min(bytes, off + 65536)))) await new Promise((resolve) => conn.once('drain', resolve))
  }
  await withTimeout(echoed, timeoutMs, 'echo')
  const ok = got === bytes && b4a.equals(b4a.concat(chunks), payload)
  out({ event: 'echoed', bytes: got, ok })
  conn.end()
  await exit(ok ? 0 : 1)
}

async function sink(opts) {
  const key = hexArg(opts.key, 'key', 32)
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 120000)
  const { socket, conn } = await dialOpen(opts, key, timeoutMs)
  if (opts.stall) socket.pause()
  const received = receiveBytes(conn)
  received.catch(() => {})
  out({ event: 'open', remotePublicKey: hex(conn.remotePublicKey) })
  if (opts.stall) {
    await new Promise((resolve) => stdinLoop({
      resume: () => {
        socket.resume()
        resolve()
        return { resumed: true }
      }
    }))
  }
  const r = await withTimeout(received, timeoutMs, 'receive')
  out({ event: 'received', bytes: r.bytes, hash: r.hash })
  conn.end()
  await withTimeout(closed(conn), 5000, 'close').catch((err) => log(reasonOf(err)))
  await exit(0)
}

async function listen(opts) {
  const { node, keyPair } = await relayNode(opts)
  const server = node.createServer((conn) => {
    out({ event: 'connection', remotePublicKey: hex(conn.remotePublicKey) })
    conn.on('error', (err) => log('connection error:', reasonOf(err)))
    conn.on('data', (d) => conn.write(d))
    conn.on('end', () => conn.end())
  })
  await server.listen(keyPair)
  const { host, port } = server.address()
  out({ event: 'listening', publicKey: hex(keyPair.publicKey), host, port })
  process.stdin.resume()
  process.stdin.on('end', () => exit(0))
}

async function swarmFetch(opts) {
  const Hyperswarm = require('hyperswarm')
  const Corestore = require('corestore')
  const key = hexArg(opts.key, 'key', 32)
  const length = intArg(opts.length, 'length')
  if (length === undefined) fail('--length N is required')
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 60000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-relay-fetch-'))
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true })) // forced exits too
  const store = new Corestore(dir)
  onCleanup(() => store.close())
  const core = store.get({ key })
  await core.ready()
  const topic = opts.topic === undefined ? core.discoveryKey : hexArg(opts.topic, 'topic', 32)
  const { node, keyPair } = await relayNode(opts)
  const swarm = new Hyperswarm({ dht: node, keyPair })
  onCleanup(() => swarm.destroy())
  swarm.on('connection', (conn, info) => {
    out({ event: 'connection', remotePublicKey: hex(conn.remotePublicKey), client: info.client })
    conn.on('error', (err) => log('connection error:', reasonOf(err)))
    store.replicate(conn)
  })
  const t0 = nowMs()
  swarm.join(topic, { client: true, server: false })
  const work = async () => {
    while (core.length < length) {
      const appended = new Promise((resolve) => core.once('append', resolve))
      await core.update({ wait: true })
      if (core.length < length) await appended
    }
    await core.download({ start: 0, end: length }).done()
  }
  await withTimeout(work(), timeoutMs, 'swarm-fetch')
  const ms = nowMs() - t0
  const { digest, bytes } = await coreDigest(core, 0, length)
  out({ event: 'done', length: core.length, bytes, digest, ms: round3(ms), mbps: mbps(bytes, ms) })
  await exit(0)
}

async function custodial(opts) {
  const topic = hexArg(opts.topic, 'topic', 32)
  const { node, socket } = await relayNode(opts, { custodial: true })
  const closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  const query = node.lookup(topic)
  query.on('error', () => {})
  query.resume()
  const { code, reason } = await withTimeout(closed, 10000, 'relay closing the socket')
  out({ event: 'closed', code, reason, refused: reason.includes('CUSTODIAL_REFUSED') })
  await exit(0)
}

const COMMANDS = { lookup, announce, connect, sink, listen, 'swarm-fetch': swarmFetch, custodial }

run(async () => {
  const { cmd, opts } = parseArgs(process.argv.slice(2), { flags: ['stall'] })
  const fn = COMMANDS[cmd]
  if (!fn) fail('usage: dht-relay-client.mjs <' + Object.keys(COMMANDS).join('|') + '> --relay ws://HOST:PORT/relay … (see the header)')
  await fn(opts)
})
