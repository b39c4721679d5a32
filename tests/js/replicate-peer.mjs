// Live JS peer for replication interop tests and benchmarks (hypercore 11.39.5, corestore 7.12.5).
//
// Usage:
//   node tests/js/replicate-peer.mjs seed [--compat] [--blocks N] [--size S] [--truncate L [--then-append M]]
//                                         [--host 127.0.0.1] [--port 0]
//   node tests/js/replicate-peer.mjs fetch --key HEX --connect HOST:PORT [--connect HOST:PORT ...]
//                                          [--start N] [--end M] [--live --until-length N]
//                                          [--expect-digest HEX] [--timeout SECONDS]
//   node tests/js/replicate-peer.mjs sparse-seed --key HEX --connect HOST:PORT --range A:B [--range C:D ...]
//                                                [--host 127.0.0.1] [--port 0] [--timeout SECONDS]
//   node tests/js/replicate-peer.mjs bee-seed [--keys N] [--batch B] [--cache DIR] [--host 127.0.0.1] [--port 0]
//   node tests/js/replicate-peer.mjs bee-get --key HEX --connect HOST:PORT [--get KEY ...] [--keys-file F]
//                                            [--read-all] [--no-extension] [--settle-ms 150]
//                                            [--encoding utf-8|binary]
//                                            [--timeout SECONDS]
//
// Transport: plain TCP on loopback; every connection is `store.replicate(isInitiator)` (or
// `core.replicate(...)` for a compat seed) piped both ways, i.e. Noise XX secret-stream + protomux
// + hypercore/alpha channels, exactly what the Rust side speaks. The dialling side is the initiator.
//
// Output: JSON lines on stdout, one object each. Logs and stack traces go to stderr.
//
// seed — creates a core in a temp Corestore (manifest core, like corestore) or, with --compat, a
// standalone compat Hypercore (corestore 7 always creates manifest cores: `compat: false` is
// hard-coded in Corestore#_openCore). Appends --blocks blocks of --size bytes; with --truncate L
// truncates to L (fork 1) and appends --then-append M more (default: back to --blocks). All of it
// happens BEFORE listening. Then prints
//   {"ready":true,"mode":"seed","port":P,"key":HEX,"discoveryKey":HEX,"compat":B,"length":N,
//    "byteLength":N,"fork":F,"digest":HEX}
// and serves every connection. Further lines:
//   {"event":"connection","remote":"HOST:PORT"}      a peer connected
//   {"event":"disconnect","remote":"HOST:PORT"}      it left
// Stdin commands (one JSON object per line), each answered by one line:
//   {"append":n}          → {"appended":n,"length":L,"byteLength":B,"fork":F,"digest":HEX}
//   {"truncate":L}        → {"truncated":L,"length":L,"byteLength":B,"fork":F,"digest":HEX}
//   {"digest":[start,end]} → {"digest":HEX,"start":S,"end":E}
//   {"exit":true}         → {"exit":true,"uploadedBlocks":n,"uploadedBytes":b}, then exits 0.
// Stdin EOF exits the same way (so a dead test harness never leaves a seed behind).
//
// fetch — opens the core by key in a temp Corestore, dials every --connect address, and downloads
// [start, end) (default: everything up to the length learnt from the first upgrade; sparse ranges
// use `core.download({start, end})`). With --live it keeps the range open (end -1) and waits until
// the length reaches --until-length N, then downloads [start, N). Verifies the digest of the range
// against --expect-digest when given. Prints
//   {"done":true,"mode":"fetch","length":L,"fork":F,"start":S,"end":E,"blocks":n,"bytes":b,
//    "downloadedBlocks":d,"downloadedBytes":db,"seconds":T,"mbps":X,"digest":HEX,"verifySeconds":V}
// and exits 0, or prints {"error":"reason"} and exits 1. `seconds` runs from just before the first
// TCP connect to the moment every block of the range is stored (each one verified against the
// signed Merkle tree by hypercore on arrival); process start and the digest pass are excluded.
// `blocks`/`bytes` are the range's, `downloadedBlocks`/`downloadedBytes` what arrived over the wire.
//
// sparse-seed — a reader that dials --connect, downloads only the given ranges of core --key,
// closes that upstream connection and then serves what it holds (for want/bitfield tests). Prints
//   {"ready":true,"mode":"sparse-seed","port":P,"key":HEX,"discoveryKey":HEX,"length":L,
//    "ranges":[[A,B],...],"contiguousLength":C}
// and accepts the same stdin commands as seed except append/truncate (it is not writable).
//
// bee-seed — a Hyperbee (hyperbee 2.27.3, keyEncoding/valueEncoding utf-8) on a Corestore core
// named 'bee' holding --keys N (default 100000) deterministic entries, put in order i = 0..N-1
// with one `bee.batch()` per --batch B (default 1000) puts:
//   beeKey(i)   = 'key-' ‖ 8 lowercase hex digits of (i · 2654435761) mod 2^32
//                 (multiplying by an odd constant permutes u32, so keys are distinct and arrive
//                  in scattered order, which gives the tree the shape of random inserts)
//   beeValue(i) = 'value-' ‖ decimal i
// (exported below; relay/tests/interop_bee.rs computes the same). Building 100k keys takes
// ~20 s, so the bee's blocks (which do not depend on the core holding them) are cached in
// <--cache, default <repo>/target/bee-seed-cache>/keys-N-batch-B-v1.blocks; each run appends
// them to a fresh temp Corestore whose primary key is fixed (0x42 × 32), so the core key is the
// same on every run and parallel runs share nothing but the read-only cache file. Prints
//   {"ready":true,"mode":"bee-seed","port":P,"key":HEX,"discoveryKey":HEX,"length":L,"keys":N,
//    "batch":B,"cached":BOOL,"buildSeconds":S}
// and serves like seed (same stdin commands except append/truncate).
//
// bee-get — a sparse JS reader: opens core --key in a fresh Corestore as a Hyperbee (wait on,
// hyperbee's extension on as a JS app has it, off with --no-extension), dials --connect, and gets every --get key and
// every line of --keys-file in order (utf-8 keys and values; with --encoding binary, keys and
// values are hex). After each get it waits until no block has arrived for --settle-ms (default
// 150 ms; preloads land), so each get's count is its own. With --read-all it then reads every entry
// in key order (createReadStream) into "range". Prints
//   {"done":true,"mode":"bee-get","length":L,"results":[{"key","value"|null,"seq"|null,"blocks"}],
//    "range":[{"key","value","seq"}]|null,"blocksDownloaded":TOTAL,"seconds":T}
// where blocks are counted with the core's `download` events (blocks stored from peers).
//
// Deterministic content (lib/testdata.mjs, identical to relay/src/testdata.rs):
//   block(gen, i, size) = the first `size` bytes of H ‖ H ‖ H ‖ …,
//     H = BLAKE2b-256("hyperwasm-testdata" ‖ uint64LE(gen) ‖ uint64LE(i))
//   A seed appends block(fork, i, size) at index i, where fork is the core's fork at append time
//   (0 before any truncation, 1 after the first, …).
//   digest(blocks) = BLAKE2b-256 over, for each block in order, uint64LE(block.length) ‖ block.
//   Digest of an empty range: BLAKE2b-256 of the empty string.
import fs from 'fs'
import net from 'net'
import os from 'os'
import path from 'path'
import readline from 'readline'
import { require, Hypercore, hex, unhex } from './lib/common.mjs'
import { testBlock, coreDigest } from './lib/testdata.mjs'

const Corestore = require('corestore')
const Hyperbee = require('hyperbee')

// The bee-seed entries (see the header).
export function beeKey(i) {
  return 'key-' + (Math.imul(i, 2654435761) >>> 0).toString(16).padStart(8, '0')
}
export function beeValue(i) {
  return 'value-' + i
}

// ---------------------------------------------------------------- arguments and output
function parseArgs(argv) {
  const mode = argv[0]
  const opts = { mode, connect: [], range: [], get: [] }
  const repeatable = new Set(['connect', 'range', 'get'])
  const flags = new Set(['compat', 'live', 'read-all', 'no-extension'])
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) fail('unexpected argument ' + a)
    const name = a.slice(2)
    if (flags.has(name)) {
      opts[name] = true
      continue
    }
    const value = argv[++i]
    if (value === undefined) fail('missing value for ' + a)
    if (repeatable.has(name)) opts[name].push(value)
    else opts[name.replace(/-([a-z])/g, (_, ch) => ch.toUpperCase())] = value
  }
  return opts
}

function int(v, name, dflt) {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) fail('--' + name + ' must be a non-negative integer, got ' + v)
  return n
}

function hostPort(s) {
  const i = s.lastIndexOf(':')
  const port = Number(s.slice(i + 1))
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail('bad HOST:PORT ' + s)
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port }
}

function keyArg(s) {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{64}$/.test(s)) fail('--key must be 64 hex characters')
  return unhex(s.toLowerCase())
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// Exits once stdout is written out: a line longer than the pipe's 64 KiB buffer is written
// asynchronously, and exiting before it drains truncates it.
function exitFlushed(code) {
  process.stdout.write('', () => process.exit(code))
}

let cleanup = async () => {}

// Thrown by fail() to unwind the caller; the scheduled exit(1) wins.
class Exiting extends Error {}
let failing = false

function fail(reason) {
  if (!failing) {
    failing = true
    out({ error: String(reason) })
    Promise.resolve()
      .then(() => cleanup())
      .catch(() => {})
      .finally(() => exitFlushed(1))
  }
  throw new Exiting(String(reason))
}

const reasonOf = (err) => (err && err.message ? err.message : String(err))

function log(...args) {
  process.stderr.write('[replicate-peer] ' + args.join(' ') + '\n')
}

function tmpStorage(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-peer-' + tag + '-'))
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------- connections
// Pipes a replication stream over a TCP socket, both ways.
function attach(replicable, socket, isInitiator, label) {
  const stream = replicable.replicate(isInitiator)
  socket.setNoDelay(true)
  socket.pipe(stream).pipe(socket)
  stream.on('error', (err) => log(label, 'stream error:', err.message))
  socket.on('error', (err) => log(label, 'socket error:', err.message))
  socket.on('close', () => stream.destroy())
  stream.on('close', () => socket.destroy())
  return stream
}

function dial({ host, port }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => resolve(socket))
    socket.once('error', reject)
  })
}

async function listen(replicable, host, port) {
  const sockets = new Set()
  const server = net.createServer((socket) => {
    const remote = socket.remoteAddress + ':' + socket.remotePort
    sockets.add(socket)
    out({ event: 'connection', remote })
    attach(replicable, socket, false, remote)
    socket.on('close', () => {
      sockets.delete(socket)
      out({ event: 'disconnect', remote })
    })
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const close = async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
  return { port: server.address().port, close }
}

function withTimeout(promise, seconds, what) {
  if (!seconds) return promise
  let t
  const timer = new Promise((resolve, reject) => {
    t = setTimeout(() => reject(new Error(what + ': timed out after ' + seconds + ' s')), seconds * 1000)
  })
  return Promise.race([promise, timer]).finally(() => clearTimeout(t))
}

// Answers stdin commands until {"exit":true} or EOF; `handlers` maps a command name to a function.
function commandLoop(handlers, onExit) {
  const rl = readline.createInterface({ input: process.stdin })
  let chain = Promise.resolve()
  let exiting = false
  const exit = () => {
    if (exiting) return
    exiting = true
    chain = chain.then(onExit).then(
      () => exitFlushed(0),
      (err) => {
        try {
          fail(reasonOf(err))
        } catch {}
      }
    )
  }
  rl.on('line', (line) => {
    if (!line.trim()) return
    let cmd
    try {
      cmd = JSON.parse(line)
    } catch {
      out({ error: 'bad command (not JSON): ' + line })
      return
    }
    if (cmd.exit) return exit()
    const name = Object.keys(handlers).find((k) => k in cmd)
    if (!name) {
      out({ error: 'unknown command: ' + line })
      return
    }
    chain = chain.then(() => handlers[name](cmd[name])).then(out, (err) => out({ error: err.message }))
  })
  rl.on('close', exit)
}

// ---------------------------------------------------------------- seed
async function appendGenerated(core, count, size) {
  const BATCH = 1000
  for (let done = 0; done < count; ) {
    const n = Math.min(BATCH, count - done)
    const blocks = []
    for (let k = 0; k < n; k++) blocks.push(testBlock(core.fork, core.length + k, size))
    await core.append(blocks)
    done += n
  }
}

function uploadCounter(core) {
  const stats = { blocks: 0, bytes: 0 }
  core.on('upload', (index, byteLength) => {
    stats.blocks++
    stats.bytes += byteLength
  })
  return stats
}

async function digestHandler(core, range) {
  const [start, end] = Array.isArray(range) ? range : [0, core.length]
  const { digest } = await coreDigest(core, start, end)
  return { digest, start, end }
}

async function seed(opts) {
  const blocks = int(opts.blocks, 'blocks', 0)
  const size = int(opts.size, 'size', 1024)
  const truncate = int(opts.truncate, 'truncate', null)
  if (truncate !== null && truncate > blocks) fail('--truncate must not exceed --blocks')
  const thenAppend = int(opts.thenAppend, 'then-append', truncate === null ? 0 : blocks - truncate)
  const dir = tmpStorage('seed')

  let store = null
  let core
  if (opts.compat) {
    core = new Hypercore(dir, { compat: true })
  } else {
    store = new Corestore(dir)
    core = store.get({ name: 'seed' })
  }
  await core.ready()
  const replicable = store || core
  cleanup = async () => {
    await (store || core).close().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
  }

  await appendGenerated(core, blocks, size)
  if (truncate !== null) {
    await core.truncate(truncate)
    await appendGenerated(core, thenAppend, size)
  }
  const uploaded = uploadCounter(core)
  const server = await listen(replicable, opts.host || '127.0.0.1', int(opts.port, 'port', 0))
  const { digest } = await coreDigest(core, 0, core.length)
  out({
    ready: true,
    mode: 'seed',
    port: server.port,
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    compat: !!opts.compat,
    length: core.length,
    byteLength: core.byteLength,
    fork: core.fork,
    digest
  })

  const state = async () => ({
    length: core.length,
    byteLength: core.byteLength,
    fork: core.fork,
    digest: (await coreDigest(core, 0, core.length)).digest
  })
  commandLoop(
    {
      append: async (n) => {
        await appendGenerated(core, int(n, 'append'), size)
        return { appended: n, ...(await state()) }
      },
      truncate: async (len) => {
        await core.truncate(int(len, 'truncate'))
        return { truncated: len, ...(await state()) }
      },
      digest: (range) => digestHandler(core, range)
    },
    async () => {
      out({ exit: true, uploadedBlocks: uploaded.blocks, uploadedBytes: uploaded.bytes })
      await server.close()
      await cleanup()
    }
  )
}

// ---------------------------------------------------------------- fetch / sparse-seed
// Opens core `key` in a fresh store and dials every address; resolves once a peer was added.
async function openRemote(opts, tag) {
  const key = keyArg(opts.key)
  if (opts.connect.length === 0) fail('--connect HOST:PORT is required')
  const addrs = opts.connect.map(hostPort)
  const dir = tmpStorage(tag)
  const store = new Corestore(dir)
  const core = store.get({ key })
  await core.ready()
  const sockets = []
  cleanup = async () => {
    for (const s of sockets) s.destroy()
    await store.close().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const downloaded = { blocks: 0, bytes: 0 }
  core.on('download', (index, byteLength) => {
    downloaded.blocks++
    downloaded.bytes += byteLength
  })
  const peerAdded = new Promise((resolve) => core.once('peer-add', resolve))
  const started = process.hrtime.bigint()
  const results = await Promise.allSettled(addrs.map(dial))
  for (const [i, r] of results.entries()) {
    if (r.status === 'fulfilled') {
      sockets.push(r.value)
      attach(store, r.value, true, opts.connect[i])
    } else {
      log('connect', opts.connect[i], 'failed:', r.reason.message)
    }
  }
  if (sockets.length === 0) fail('could not connect to any of ' + opts.connect.join(', '))
  // Rejects once every connection closed (raced against the download, so a peer that hangs up
  // fails the fetch at once instead of at --timeout).
  let open = sockets.length
  const allClosed = new Promise((resolve, reject) => {
    for (const s of sockets) {
      s.once('close', () => {
        if (--open === 0) reject(new Error('all peers disconnected before the download completed'))
      })
    }
  })
  allClosed.catch(() => {})
  return { store, core, sockets, started, downloaded, peerAdded, allClosed }
}

const secondsSince = (t) => Number(process.hrtime.bigint() - t) / 1e9

async function fetchMode(opts) {
  const timeout = Number(opts.timeout || 0)
  const { core, started, downloaded, peerAdded, allClosed } = await openRemote(opts, 'fetch')
  const start = int(opts.start, 'start', 0)
  let end = int(opts.end, 'end', null)
  const untilLength = int(opts.untilLength, 'until-length', null)
  if (opts.live && untilLength === null) fail('--live needs --until-length N')

  const work = async () => {
    await peerAdded
    if (opts.live) {
      const range = core.download({ start, end: -1 })
      while (core.length < untilLength) await new Promise((resolve) => core.once('append', resolve))
      end = end === null ? untilLength : Math.min(end, untilLength)
      await core.download({ start, end }).done()
      range.destroy()
    } else {
      if (end === null || core.length < end) await core.update({ wait: true })
      if (end === null) end = core.length
      if (end > core.length) throw new Error('range end ' + end + ' is beyond the length ' + core.length)
      await core.download({ start, end }).done()
    }
  }
  await withTimeout(Promise.race([work(), allClosed]), timeout, 'fetch')
  const seconds = secondsSince(started)

  const verifyStarted = process.hrtime.bigint()
  const { digest, bytes } = await coreDigest(core, start, end)
  const verifySeconds = secondsSince(verifyStarted)
  if (opts.expectDigest && opts.expectDigest.toLowerCase() !== digest) {
    fail('digest mismatch: got ' + digest + ', expected ' + opts.expectDigest)
  }
  out({
    done: true,
    mode: 'fetch',
    length: core.length,
    fork: core.fork,
    start,
    end,
    blocks: end - start,
    bytes,
    downloadedBlocks: downloaded.blocks,
    downloadedBytes: downloaded.bytes,
    seconds,
    mbps: seconds > 0 ? bytes / 1e6 / seconds : null,
    digest,
    verifySeconds
  })
  await cleanup()
  exitFlushed(0)
}

async function sparseSeed(opts) {
  if (opts.range.length === 0) fail('--range A:B is required (repeatable)')
  const ranges = opts.range.map((r) => {
    const m = /^(\d+):(\d+)$/.exec(r)
    if (!m || Number(m[1]) > Number(m[2])) fail('bad --range ' + r + ' (want A:B with A <= B)')
    return [Number(m[1]), Number(m[2])]
  })
  const timeout = Number(opts.timeout || 0)
  const { store, core, sockets, peerAdded, allClosed } = await openRemote(opts, 'sparse')
  const work = (async () => {
    await peerAdded
    await core.update({ wait: true })
    for (const [a, b] of ranges) {
      if (b > core.length) throw new Error('range ' + a + ':' + b + ' is beyond the length ' + core.length)
      await core.download({ start: a, end: b }).done()
    }
  })()
  await withTimeout(Promise.race([work, allClosed]), timeout, 'sparse download')
  for (const s of sockets) s.destroy()
  const uploaded = uploadCounter(core)
  const server = await listen(store, opts.host || '127.0.0.1', int(opts.port, 'port', 0))
  out({
    ready: true,
    mode: 'sparse-seed',
    port: server.port,
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    length: core.length,
    ranges,
    contiguousLength: core.contiguousLength
  })
  commandLoop({ digest: (range) => digestHandler(core, range) }, async () => {
    out({ exit: true, uploadedBlocks: uploaded.blocks, uploadedBytes: uploaded.bytes })
    await server.close()
    await cleanup()
  })
}

// ---------------------------------------------------------------- bee-seed / bee-get
const repoRoot = () => path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..')

// The blocks of the bee-seed bee: read from the cache file, or built (in a temp Corestore with
// hyperbee) and cached. A bee's blocks do not depend on the core they are in, so the cache holds
// only them: u32le length ‖ bytes, block after block.
async function beeBlocks(keys, batchSize, cacheRoot) {
  const file = path.join(cacheRoot, 'keys-' + keys + '-batch-' + batchSize + '-v1.blocks')
  if (fs.existsSync(file)) {
    const buf = fs.readFileSync(file)
    const blocks = []
    for (let at = 0; at < buf.length; ) {
      const len = buf.readUInt32LE(at)
      blocks.push(buf.subarray(at + 4, at + 4 + len))
      at += 4 + len
    }
    return { blocks, cached: true, buildSeconds: 0 }
  }
  const started = process.hrtime.bigint()
  const dir = tmpStorage('bee-build')
  const store = new Corestore(dir)
  const core = store.get({ name: 'bee' })
  const bee = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'utf-8' })
  await bee.ready()
  for (let i = 0; i < keys; ) {
    const b = bee.batch()
    const end = Math.min(keys, i + batchSize)
    for (; i < end; i++) await b.put(beeKey(i), beeValue(i))
    await b.flush()
  }
  const blocks = []
  for (let i = 0; i < core.length; i += 1000) {
    const n = Math.min(1000, core.length - i)
    blocks.push(...(await Promise.all(Array.from({ length: n }, (_, k) => core.get(i + k)))))
  }
  await bee.close()
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
  const parts = []
  for (const b of blocks) {
    const len = Buffer.alloc(4)
    len.writeUInt32LE(b.length)
    parts.push(len, b)
  }
  fs.mkdirSync(cacheRoot, { recursive: true })
  const tmp = file + '.' + process.pid + '.tmp'
  fs.writeFileSync(tmp, Buffer.concat(parts))
  fs.renameSync(tmp, file) // atomic: a parallel run sees the whole file or none
  return { blocks, cached: false, buildSeconds: secondsSince(started) }
}

// The bee-seed store's primary key, fixed so the core key is the same on every run and machine.
const BEE_SEED_PRIMARY_KEY = Buffer.alloc(32, 0x42)

async function beeSeed(opts) {
  const keys = int(opts.keys, 'keys', 100000)
  const batchSize = Math.max(1, int(opts.batch, 'batch', 1000))
  const cacheRoot = opts.cache ? path.resolve(opts.cache) : path.join(repoRoot(), 'target', 'bee-seed-cache')
  const { blocks, cached, buildSeconds } = await beeBlocks(keys, batchSize, cacheRoot)
  const dir = tmpStorage('bee-seed')
  const store = new Corestore(dir, { primaryKey: BEE_SEED_PRIMARY_KEY, unsafe: true })
  const core = store.get({ name: 'bee' })
  await core.ready()
  for (let i = 0; i < blocks.length; i += 10000) await core.append(blocks.slice(i, i + 10000))
  const bee = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'utf-8' })
  await bee.ready()
  cleanup = async () => {
    await bee.close().catch(() => {})
    await store.close().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const uploaded = uploadCounter(core)
  const server = await listen(store, opts.host || '127.0.0.1', int(opts.port, 'port', 0))
  out({
    ready: true,
    mode: 'bee-seed',
    port: server.port,
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    length: core.length,
    keys,
    batch: batchSize,
    cached,
    buildSeconds
  })
  commandLoop({ digest: (range) => digestHandler(core, range) }, async () => {
    out({ exit: true, uploadedBlocks: uploaded.blocks, uploadedBytes: uploaded.bytes })
    await server.close()
    await cleanup()
  })
}

// Resolves once no block arrived for `quietMs` (checked every 25 ms).
async function settle(downloaded, quietMs) {
  let last = downloaded.blocks
  let quietSince = Date.now()
  while (Date.now() - quietSince < quietMs) {
    await sleep(25)
    if (downloaded.blocks !== last) {
      last = downloaded.blocks
      quietSince = Date.now()
    }
  }
}

async function beeGet(opts) {
  const binary = opts.encoding === 'binary'
  if (opts.encoding && !binary && opts.encoding !== 'utf-8') fail('--encoding must be utf-8 or binary')
  const keys = [].concat(opts.get || [])
  if (opts.keysFile) keys.push(...fs.readFileSync(opts.keysFile, 'utf8').split('\n').filter((l) => l.length > 0))
  if (keys.length === 0 && !opts['read-all']) fail('--get KEY, --keys-file F or --read-all is required')
  const settleMs = int(opts.settleMs, 'settle-ms', 150)
  const timeout = Number(opts.timeout || 0)
  const { core, started, downloaded, peerAdded, allClosed } = await openRemote(opts, 'bee-get')
  const bee = new Hyperbee(core, {
    keyEncoding: binary ? 'binary' : 'utf-8',
    valueEncoding: binary ? 'binary' : 'utf-8',
    extension: !opts['no-extension']
  })
  const work = async () => {
    await peerAdded
    await bee.ready()
    await core.update({ wait: true })
    const results = []
    for (const k of keys) {
      const before = downloaded.blocks
      const node = await bee.get(binary ? unhex(k) : k)
      if (settleMs > 0) await settle(downloaded, settleMs)
      results.push({
        key: k,
        value: node === null ? null : binary ? hex(node.value) : node.value,
        seq: node === null ? null : node.seq,
        blocks: downloaded.blocks - before
      })
    }
    let range = null
    if (opts['read-all']) {
      range = []
      for await (const node of bee.createReadStream()) {
        range.push({ key: binary ? hex(node.key) : node.key, value: binary ? hex(node.value) : node.value, seq: node.seq })
      }
    }
    return { results, range }
  }
  const { results, range } = await withTimeout(Promise.race([work(), allClosed]), timeout, 'bee-get')
  out({
    done: true,
    mode: 'bee-get',
    length: core.length,
    results,
    range,
    blocksDownloaded: downloaded.blocks,
    seconds: secondsSince(started)
  })
  await bee.close().catch(() => {})
  await cleanup()
  exitFlushed(0)
}

// ---------------------------------------------------------------- main
const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)
if (isMain) {
  const onError = (err) => {
    if (err instanceof Exiting) return
    log(err && err.stack ? err.stack : err)
    try {
      fail(reasonOf(err))
    } catch {}
  }
  process.on('unhandledRejection', onError)
  try {
    const opts = parseArgs(process.argv.slice(2))
    const modes = { seed, fetch: fetchMode, 'sparse-seed': sparseSeed, 'bee-seed': beeSeed, 'bee-get': beeGet }
    const run = modes[opts.mode]
    if (!run) fail('usage: replicate-peer.mjs seed|fetch|sparse-seed|bee-seed|bee-get [options] (see the header of this file)')
    run(opts).catch(onError)
  } catch (err) {
    onError(err)
  }
}
