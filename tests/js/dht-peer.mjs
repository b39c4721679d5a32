// Live JS HyperDHT peers (hyperdht 6.34.0, hyperswarm 4.17.2, corestore 7 / hypercore 11) on a
// loopback testnet, the oracle for the Rust DHT node's interop tests (relay/tests/interop_dht*.rs).
//
//   node tests/js/dht-peer.mjs <command> --bootstrap HOST:PORT[,HOST:PORT…] [options]
//
// Every node binds 127.0.0.1. Except for `testnet`, nodes are ephemeral HyperDHT nodes made as
// `testnet.createNode()` makes them: new DHT({bootstrap, ephemeral: true, host: '127.0.0.1'}),
// awaited with fullyBootstrapped(). `--seed HEX` (32 bytes) fixes a node's key pair
// (DHT.keyPair(seed)); without it the key pair is random. Keys, topics, hashes and values are
// lowercase hex; addresses are {"host","port"} objects (the testnet's `bootstrap` list excepted).
//
// Output: JSON lines on stdout, one object each. Spontaneous notices carry "event"; answers to
// stdin commands do not (they are named after the command). A fatal error prints
// {"error": reason} (plus "code" when the JS error has one, e.g. PEER_NOT_FOUND) on stdout and
// the reason on stderr, and exits 1. Logs go to stderr. Serving commands stay up until stdin
// closes (or reads `exit`), then clean up and exit 0 (SIGINT/SIGTERM clean up too). Stdin
// commands are bare words (`stats`) or JSON objects ({"stats": true}); every server answers
// `stats` with {"stats": <dht.stats>}; an unknown command is answered {"error": …}.
// "commits" lists what each storing node answered a put/announce/unannounce request:
// [{"host","port","error"}], error 0 = stored, 16 SEQ_REUSED, 17 SEQ_TOO_LOW, 2 INVALID_TOKEN, …
// or a failure's code (REQUEST_TIMEOUT); JS's own calls resolve regardless.
//
// testnet [--size N=5] [--bootstrap …]
//   hyperdht/testnet.js createTestnet(N, {host: '127.0.0.1', bootstrap}): node 0 is the bootstrap
//   node (stays ephemeral), nodes 1…N-1 are persistent (they store announces and records).
//   → {"event":"ready","bootstrap":["127.0.0.1:P",…],"nodes":[{"host","port","id"|null,
//      "ephemeral","firewalled"},…]}
//   stdin `stats` → {"stats":[{"host","port","id","ephemeral","firewalled","tableSize",
//      "stats":<dht.stats>},…]}
//
// announce --topic HEX [--seed HEX] [--listen] [--relay HOST:PORT,…] [--unannounce-on-stdin]
//   dht.announce(topic, keyPair, relayAddresses).finished(). --listen first starts an echo server
//   on the key pair and announces with its relay addresses (what Hyperswarm does); --relay gives
//   them explicitly; otherwise they are empty.
//   → {"event":"announced","publicKey","topic","relayAddresses":[…],"closestNodes":[{"host","port"}…],
//      "commits":[…]}
//   stdin `unannounce` → {"unannounced":true,"publicKey","commits"} (dht.unannounce(topic, keyPair));
//   stdin `announce` → {"announced":true,"publicKey","closestNodes","commits"} (announces again).
//   With --unannounce-on-stdin, stdin EOF unannounces first:
//   → {"event":"unannounced","publicKey","commits"}.
//   With --listen: {"event":"connection","remotePublicKey"} per echo connection.
//
// lookup --topic HEX [--expect-key HEX] [--timeout-ms N=10000]
//   dht.lookup(topic); each new peer → {"event":"peer","publicKey","relayAddresses":[…],
//   "from":{"host","port"}}, then {"event":"done","peers":n,"rounds":r}; exit 0. With --expect-key
//   it repeats the lookup (250 ms apart) until that key was seen, or fails after the timeout.
//
// echo-server [--seed HEX]
//   createServer() piping every connection back into itself; listen(keyPair).
//   → {"event":"listening","publicKey","host","port"}
//   → {"event":"connection","remotePublicKey"} / {"event":"disconnect","remotePublicKey","bytes"}
//
// connect --key HEX [--bytes N=1024] [--seed HEX] [--timeout-ms N=30000]
//   dht.connect(key); writes N random bytes and waits until they come back identical, then ends.
//   → {"event":"connected","ms","publicKey","remotePublicKey"}   (ms: connect() → 'open')
//   → {"event":"echoed","bytes","ok","ms","mbps"}                 (ms: first write → all echoed)
//   Exits 0 when ok, 1 otherwise.
//
// Throughput (the stream content is deterministic: bytes [65536·i, 65536·(i+1)) are
// block(0, i, 65536) of lib/testdata.mjs = relay/src/testdata.rs, the last chunk cut short;
// "hash" = BLAKE2b-256 of all stream bytes, no framing). The sending side ends its half after
// the last byte; the receiving side reads to that end and then ends its half; the sender reports
// once the receiver's end arrived. MB = 10^6 bytes.
//   sink-server [--seed HEX] [--no-hash]        receives from every connection:
//     → {"event":"listening","publicKey","host","port"}, {"event":"connection","remotePublicKey"}
//     → {"event":"received","remotePublicKey","bytes","hash"|null,"ms","mbps","firstByteAt","lastByteAt"}
//   source-server --bytes N [--seed HEX]        sends N bytes to every connection:
//     → listening, connection, {"event":"sent","remotePublicKey","bytes","hash","ms","mbps","writeMs"}
//   source-client --key HEX --bytes N [--seed HEX] [--timeout-ms N=300000]   → connected, sent; exit 0
//   sink-client --key HEX [--seed HEX] [--no-hash] [--timeout-ms N=300000]   → connected, received; exit 0
//   `ms` of received: first → last byte received; of sent: first byte written → the peer's end
//   arrived (writeMs: → last byte handed to the stream). firstByteAt/lastByteAt: Unix epoch ms
//   (fractional), comparable across processes. A server whose connection breaks prints
//   {"event":"receive-failed"|"send-failed","remotePublicKey","error"} and keeps serving.
//
// Records (one-shot, exit 0; "found": false is not an error):
//   immutable-put --value HEX        → {"event":"immutable-put","hash","closestNodes":[…],"commits":[…]}
//   immutable-get --hash HEX         → {"event":"immutable-get","found","value"|null,"from"|null}
//   mutable-put --value HEX [--seed HEX] [--seq N=0]
//                                    → {"event":"mutable-put","publicKey","seq","signature","closestNodes":[…],
//                                       "commits":[…]}
//   mutable-get --key HEX [--seq N=0] [--first]   (--first: latest: false)
//                                    → {"event":"mutable-get","found","seq"|null,"value"|null,
//                                       "signature"|null,"from"|null}
//
// Hyperswarm (new Hyperswarm({dht: <a node as above>, keyPair})):
//   swarm-seed [--topic HEX] --blocks N [--block-size S=1024] [--dir D] [--seed HEX] [--server-only]
//     A Corestore core (name 'seed') holding block(0, i, S) at i = 0…N-1 (lib/testdata.mjs, as
//     replicate-peer.mjs seeds them), joined on topic (default: the core's discovery key) as server
//     and client (--server-only: server), replicating every connection (store.replicate(conn)).
//     → {"event":"ready","key","discoveryKey","topic","publicKey","length","byteLength","digest"}
//     → {"event":"connection","remotePublicKey","client"}, {"event":"disconnect","remotePublicKey"}
//     digest = lib/testdata.mjs Digest (BLAKE2b-256 over u64le(len) ‖ block, all blocks).
//     --dir D keeps the store in D (created if needed, not deleted; blocks already there count).
//   swarm-fetch --key HEX --length N [--topic HEX] [--server] [--timeout-ms N=60000]
//     Joins topic (default: the discovery key of --key) as client (--server: also server),
//     replicates with whoever it meets and downloads blocks 0…N-1.
//     → {"event":"connection",…}, then {"event":"done","length","blocks","bytes","digest","ms",
//        "mbps","connections"}; exit 0. ms: join → every block stored (verified by hypercore).
import crypto from 'crypto'
import fs from 'fs'
import os from 'os'
import path from 'path'
import {
  COMMANDS as DHT_COMMANDS,
  recordCommits,
  createTestnet,
  HOST,
  setTag,
  out,
  log,
  fail,
  exit,
  run,
  reasonOf,
  onCleanup,
  parseArgs,
  intArg,
  hexArg,
  hostPort,
  bootstrapArg,
  keyPairArg,
  addrJson,
  addrString,
  createNode,
  withTimeout,
  sleep,
  nowMs,
  round3,
  mbps,
  opened,
  closed,
  stdinLoop,
  sendBytes,
  receiveBytes,
  coreDigest,
  hex,
  b4a
} from './lib/dht.mjs'
import { require } from './lib/common.mjs'
import { testBlock } from './lib/testdata.mjs'

setTag('dht-peer')

const FLAGS = ['listen', 'unannounce-on-stdin', 'no-hash', 'first', 'server', 'server-only']

// ---------------------------------------------------------------- testnet
function nodeInfo(node) {
  return {
    host: HOST,
    port: node.address().port,
    id: node.id ? hex(node.id) : null,
    ephemeral: node.ephemeral,
    firewalled: node.firewalled
  }
}

async function testnet(opts) {
  const size = intArg(opts.size, 'size', 5)
  if (size < 1) fail('--size must be at least 1')
  const bootstrap = opts.bootstrap.length ? bootstrapArg(opts.bootstrap) : []
  const tn = await createTestnet(size, { host: HOST, bootstrap })
  onCleanup(() => tn.destroy())
  out({ event: 'ready', bootstrap: tn.bootstrap.map(addrString), nodes: tn.nodes.map(nodeInfo) })
  stdinLoop({
    stats: () => ({
      stats: tn.nodes.map((node) => ({ ...nodeInfo(node), tableSize: node.table.size, stats: node.stats }))
    })
  })
}

// ---------------------------------------------------------------- announce / lookup
function echoConnection(conn) {
  const remotePublicKey = hex(conn.remotePublicKey)
  out({ event: 'connection', remotePublicKey })
  let bytes = 0
  conn.on('data', (data) => {
    bytes += data.byteLength
  })
  conn.on('error', (err) => log('connection', remotePublicKey.slice(0, 8), 'error:', reasonOf(err)))
  conn.on('close', () => out({ event: 'disconnect', remotePublicKey, bytes }))
  conn.pipe(conn)
}

async function announce(opts) {
  const bootstrap = bootstrapArg(opts.bootstrap)
  const topic = hexArg(opts.topic, 'topic', 32)
  const keyPair = keyPairArg(opts.seed)
  const node = await createNode({ bootstrap, keyPair })
  let relayAddresses = opts.relay.flatMap((v) => v.split(',')).filter(Boolean).map(hostPort)
  if (opts.listen) {
    const server = node.createServer(echoConnection)
    await server.listen(keyPair)
    if (relayAddresses.length === 0) relayAddresses = server.relayAddresses.map(addrJson)
  }
  const publicKey = hex(keyPair.publicKey)
  const announceOnce = async () => {
    const commits = recordCommits(node, DHT_COMMANDS.ANNOUNCE, topic)
    const q = node.announce(topic, keyPair, relayAddresses)
    await q.finished()
    return { closestNodes: q.closestNodes.map(addrJson), commits }
  }
  const unannounce = async () => {
    const commits = recordCommits(node, DHT_COMMANDS.UNANNOUNCE, topic)
    await node.unannounce(topic, keyPair)
    return { publicKey, commits }
  }
  out({ event: 'announced', publicKey, topic: hex(topic), relayAddresses: relayAddresses.map(addrJson), ...(await announceOnce()) })
  stdinLoop(
    {
      unannounce: async () => ({ unannounced: true, ...(await unannounce()) }),
      announce: async () => ({ announced: true, publicKey, ...(await announceOnce()) })
    },
    async () => {
      if (!opts.unannounceOnStdin) return
      out({ event: 'unannounced', ...(await unannounce()) })
    }
  )
}

async function lookup(opts) {
  const bootstrap = bootstrapArg(opts.bootstrap)
  const topic = hexArg(opts.topic, 'topic', 32)
  const expect = opts.expectKey === undefined ? null : hex(hexArg(opts.expectKey, 'expect-key', 32))
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 10000)
  const node = await createNode({ bootstrap })
  const seen = new Set()
  const deadline = Date.now() + timeoutMs
  let rounds = 0
  for (;;) {
    rounds++
    for await (const data of node.lookup(topic)) {
      for (const peer of data.peers) {
        const publicKey = hex(peer.publicKey)
        if (seen.has(publicKey)) continue
        seen.add(publicKey)
        out({
          event: 'peer',
          publicKey,
          relayAddresses: peer.relayAddresses.map(addrJson),
          from: addrJson(data.from)
        })
      }
    }
    if (expect === null || seen.has(expect)) break
    if (Date.now() >= deadline) fail('lookup: ' + expect + ' not found after ' + timeoutMs + ' ms (' + rounds + ' lookups)')
    await sleep(250)
  }
  out({ event: 'done', peers: seen.size, rounds })
  await exit(0)
}

// ---------------------------------------------------------------- servers
async function listen(opts, onconnection) {
  const bootstrap = bootstrapArg(opts.bootstrap)
  const keyPair = keyPairArg(opts.seed)
  const node = await createNode({ bootstrap, keyPair })
  const server = node.createServer(onconnection)
  await server.listen(keyPair)
  out({ event: 'listening', publicKey: hex(keyPair.publicKey), host: HOST, port: node.address().port })
  stdinLoop({ stats: () => ({ stats: node.stats }) })
}

function echoServer(opts) {
  return listen(opts, echoConnection)
}

function sinkServer(opts) {
  return listen(opts, (conn) => {
    const remotePublicKey = hex(conn.remotePublicKey)
    out({ event: 'connection', remotePublicKey })
    receiveBytes(conn, { hash: !opts.noHash }).then(
      (r) => {
        out({ event: 'received', remotePublicKey, ...receivedFields(r) })
        conn.end()
      },
      (err) => {
        log('sink', remotePublicKey.slice(0, 8), 'failed:', reasonOf(err))
        out({ event: 'receive-failed', remotePublicKey, error: reasonOf(err) })
        conn.destroy()
      }
    )
  })
}

function sourceServer(opts) {
  const total = intArg(opts.bytes, 'bytes')
  if (total === undefined) fail('--bytes N is required')
  return listen(opts, (conn) => {
    const remotePublicKey = hex(conn.remotePublicKey)
    out({ event: 'connection', remotePublicKey })
    sendAndWait(conn, total, 0).then(
      (r) => out({ event: 'sent', remotePublicKey, ...r }),
      (err) => {
        log('source', remotePublicKey.slice(0, 8), 'failed:', reasonOf(err))
        out({ event: 'send-failed', remotePublicKey, error: reasonOf(err) })
        conn.destroy()
      }
    )
  })
}

function receivedFields(r) {
  const ms = r.firstByteAt === null ? 0 : r.lastByteAt - r.firstByteAt
  return {
    bytes: r.bytes,
    hash: r.hash,
    ms: round3(ms),
    mbps: mbps(r.bytes, ms),
    firstByteAt: r.firstByteAt,
    lastByteAt: r.lastByteAt
  }
}

// Sends `total` test bytes, then waits for the peer's end (it reads everything first).
async function sendAndWait(conn, total, timeoutMs) {
  let extra = 0
  const peerEnded = new Promise((resolve, reject) => {
    conn.on('data', (data) => {
      extra += data.byteLength
    })
    conn.once('end', resolve)
    conn.once('error', reject)
    conn.once('close', () => reject(new Error('connection closed before the peer ended')))
  })
  peerEnded.catch(() => {})
  const s = await withTimeout(sendBytes(conn, total), timeoutMs, 'send')
  await withTimeout(peerEnded, timeoutMs, 'waiting for the peer to end')
  const ms = nowMs() - s.firstWriteAt
  if (extra) log('peer sent', extra, 'unexpected bytes')
  return { bytes: s.bytes, hash: s.hash, ms: round3(ms), mbps: mbps(s.bytes, ms), writeMs: round3(s.lastWriteAt - s.firstWriteAt) }
}

// ---------------------------------------------------------------- clients
async function dial(opts, dfltTimeout) {
  const bootstrap = bootstrapArg(opts.bootstrap)
  const key = hexArg(opts.key, 'key', 32)
  const keyPair = keyPairArg(opts.seed)
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', dfltTimeout)
  const node = await createNode({ bootstrap, keyPair })
  const t0 = nowMs()
  const conn = node.connect(key, { keyPair })
  conn.on('error', (err) => log('connection error:', reasonOf(err)))
  await withTimeout(opened(conn), timeoutMs, 'connect')
  const ms = nowMs() - t0
  out({ event: 'connected', ms: round3(ms), publicKey: hex(keyPair.publicKey), remotePublicKey: hex(conn.remotePublicKey) })
  return { conn, timeoutMs }
}

async function connectEcho(opts) {
  const bytes = intArg(opts.bytes, 'bytes', 1024)
  if (bytes < 1) fail('--bytes must be at least 1')
  const { conn, timeoutMs } = await dial(opts, 30000)
  const payload = crypto.randomBytes(bytes)
  const chunks = []
  let got = 0
  const echoed = new Promise((resolve, reject) => {
    conn.on('data', (data) => {
      chunks.push(data)
      got += data.byteLength
      if (got >= bytes) resolve()
    })
    conn.once('close', () => reject(new Error('connection closed after ' + got + ' of ' + bytes + ' echoed bytes')))
  })
  echoed.catch(() => {})
  const t0 = nowMs()
  for (let off = 0; off < bytes; off += 65536) {
    if (!conn.write(payload.subarray(off, Math.min(bytes, off + 65536)))) await new Promise((resolve) => conn.once('drain', resolve))
  }
  await withTimeout(echoed, timeoutMs, 'echo')
  const ms = nowMs() - t0
  const ok = got === bytes && b4a.equals(b4a.concat(chunks), payload)
  out({ event: 'echoed', bytes: got, ok, ms: round3(ms), mbps: mbps(bytes, ms) })
  conn.end()
  await withTimeout(closed(conn), 3000, 'close').catch((err) => log(reasonOf(err)))
  await exit(ok ? 0 : 1)
}

async function sourceClient(opts) {
  const total = intArg(opts.bytes, 'bytes')
  if (total === undefined) fail('--bytes N is required')
  const { conn, timeoutMs } = await dial(opts, 300000)
  const r = await sendAndWait(conn, total, timeoutMs)
  out({ event: 'sent', remotePublicKey: hex(conn.remotePublicKey), ...r })
  await withTimeout(closed(conn), 3000, 'close').catch((err) => log(reasonOf(err)))
  await exit(0)
}

async function sinkClient(opts) {
  const { conn, timeoutMs } = await dial(opts, 300000)
  const r = await withTimeout(receiveBytes(conn, { hash: !opts.noHash }), timeoutMs, 'receive')
  out({ event: 'received', remotePublicKey: hex(conn.remotePublicKey), ...receivedFields(r) })
  conn.end()
  await withTimeout(closed(conn), 3000, 'close').catch((err) => log(reasonOf(err)))
  await exit(0)
}

// ---------------------------------------------------------------- records
const nodesJson = (nodes) => nodes.map(addrJson)

async function immutablePut(opts) {
  const value = hexArg(opts.value, 'value')
  const node = await createNode({ bootstrap: bootstrapArg(opts.bootstrap) })
  const commits = recordCommits(node, DHT_COMMANDS.IMMUTABLE_PUT)
  const r = await node.immutablePut(value)
  out({ event: 'immutable-put', hash: hex(r.hash), closestNodes: nodesJson(r.closestNodes), commits })
  await exit(0)
}

async function immutableGet(opts) {
  const target = hexArg(opts.hash, 'hash', 32)
  const node = await createNode({ bootstrap: bootstrapArg(opts.bootstrap) })
  const r = await node.immutableGet(target)
  out({ event: 'immutable-get', found: r !== null, value: r ? hex(r.value) : null, from: r ? addrJson(r.from) : null })
  await exit(0)
}

async function mutablePut(opts) {
  const value = hexArg(opts.value, 'value')
  const keyPair = keyPairArg(opts.seed)
  const seq = intArg(opts.seq, 'seq', 0)
  const node = await createNode({ bootstrap: bootstrapArg(opts.bootstrap), keyPair })
  const commits = recordCommits(node, DHT_COMMANDS.MUTABLE_PUT)
  const r = await node.mutablePut(keyPair, value, { seq })
  out({
    event: 'mutable-put',
    publicKey: hex(r.publicKey),
    seq: r.seq,
    signature: hex(r.signature),
    closestNodes: nodesJson(r.closestNodes),
    commits
  })
  await exit(0)
}

async function mutableGet(opts) {
  const publicKey = hexArg(opts.key, 'key', 32)
  const seq = intArg(opts.seq, 'seq', 0)
  const node = await createNode({ bootstrap: bootstrapArg(opts.bootstrap) })
  const r = await node.mutableGet(publicKey, { seq, latest: !opts.first })
  out({
    event: 'mutable-get',
    found: r !== null,
    seq: r ? r.seq : null,
    value: r ? hex(r.value) : null,
    signature: r ? hex(r.signature) : null,
    from: r ? addrJson(r.from) : null
  })
  await exit(0)
}

// ---------------------------------------------------------------- hyperswarm
async function createSwarm(opts) {
  const Hyperswarm = require('hyperswarm')
  const keyPair = keyPairArg(opts.seed)
  // A DHT as testnet.createNode() makes it: a Hyperswarm given only {bootstrap} binds 0.0.0.0.
  const dht = await createNode({ bootstrap: bootstrapArg(opts.bootstrap), keyPair })
  const swarm = new Hyperswarm({ dht, keyPair })
  onCleanup(() => swarm.destroy())
  return swarm
}

function storeDir(opts, tag) {
  if (opts.dir) {
    fs.mkdirSync(opts.dir, { recursive: true })
    return opts.dir
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-dht-' + tag + '-'))
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }))
  // The cleanups may not finish (exit() forces the exit after 5 s): remove it at exit anyway.
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function replicateOn(swarm, store, counter) {
  swarm.on('connection', (conn, info) => {
    const remotePublicKey = hex(conn.remotePublicKey)
    if (counter) counter.n++
    out({ event: 'connection', remotePublicKey, client: info.client })
    conn.on('error', (err) => log('connection', remotePublicKey.slice(0, 8), 'error:', reasonOf(err)))
    conn.on('close', () => out({ event: 'disconnect', remotePublicKey }))
    store.replicate(conn)
  })
}

async function swarmSeed(opts) {
  const Corestore = require('corestore')
  const blocks = intArg(opts.blocks, 'blocks')
  if (blocks === undefined) fail('--blocks N is required')
  const size = intArg(opts.blockSize, 'block-size', 1024)
  const store = new Corestore(storeDir(opts, 'seed'))
  onCleanup(() => store.close())
  const core = store.get({ name: 'seed' })
  await core.ready()
  while (core.length < blocks) {
    const n = Math.min(1000, blocks - core.length)
    const batch = []
    for (let k = 0; k < n; k++) batch.push(testBlock(core.fork, core.length + k, size))
    await core.append(batch)
  }
  const { digest } = await coreDigest(core, 0, core.length)
  const topic = opts.topic === undefined ? core.discoveryKey : hexArg(opts.topic, 'topic', 32)
  const swarm = await createSwarm(opts)
  replicateOn(swarm, store, null)
  await swarm.join(topic, { server: true, client: !opts.serverOnly }).flushed()
  out({
    event: 'ready',
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    topic: hex(topic),
    publicKey: hex(swarm.keyPair.publicKey),
    length: core.length,
    byteLength: core.byteLength,
    digest
  })
  stdinLoop({})
}

async function swarmFetch(opts) {
  const Corestore = require('corestore')
  const key = hexArg(opts.key, 'key', 32)
  const length = intArg(opts.length, 'length')
  if (length === undefined) fail('--length N is required')
  const timeoutMs = intArg(opts.timeoutMs, 'timeout-ms', 60000)
  const store = new Corestore(storeDir(opts, 'fetch'))
  onCleanup(() => store.close())
  const core = store.get({ key })
  await core.ready()
  const topic = opts.topic === undefined ? core.discoveryKey : hexArg(opts.topic, 'topic', 32)
  const swarm = await createSwarm(opts)
  const connections = { n: 0 }
  replicateOn(swarm, store, connections)
  const t0 = nowMs()
  swarm.join(topic, { client: true, server: !!opts.server })
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
  out({ event: 'done', length: core.length, blocks: length, bytes, digest, ms: round3(ms), mbps: mbps(bytes, ms), connections: connections.n })
  await exit(0)
}

// ---------------------------------------------------------------- main
const COMMANDS = {
  testnet,
  announce,
  lookup,
  'echo-server': echoServer,
  connect: connectEcho,
  'sink-server': sinkServer,
  'source-server': sourceServer,
  'source-client': sourceClient,
  'sink-client': sinkClient,
  'immutable-put': immutablePut,
  'immutable-get': immutableGet,
  'mutable-put': mutablePut,
  'mutable-get': mutableGet,
  'swarm-seed': swarmSeed,
  'swarm-fetch': swarmFetch
}

run(async () => {
  const { cmd, opts } = parseArgs(process.argv.slice(2), { flags: FLAGS, repeatable: ['bootstrap', 'relay'] })
  const fn = COMMANDS[cmd]
  if (!fn) fail('usage: dht-peer.mjs <' + Object.keys(COMMANDS).join('|') + '> --bootstrap HOST:PORT … (see the header)')
  await fn(opts)
})
