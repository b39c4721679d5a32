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
import { testBlock, Digest } from './lib/testdata.mjs'

const Corestore = require('corestore')

// Digest of the local blocks [start, end) of `core`; fails if one is missing.
async function coreDigest(core, start, end) {
  const d = new Digest()
  let bytes = 0
  for (let i = start; i < end; i++) {
    const block = await core.get(i, { wait: false })
    if (block === null) throw new Error('block ' + i + ' is not stored locally')
    d.update(block)
    bytes += block.byteLength
  }
  return { digest: d.final(), bytes }
}

// ---------------------------------------------------------------- arguments and output
function parseArgs(argv) {
  const mode = argv[0]
  const opts = { mode, connect: [], range: [] }
  const repeatable = new Set(['connect', 'range'])
  const flags = new Set(['compat', 'live'])
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
      .finally(() => process.exit(1))
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
      () => process.exit(0),
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
  process.exit(0)
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
    const modes = { seed, fetch: fetchMode, 'sparse-seed': sparseSeed }
    const run = modes[opts.mode]
    if (!run) fail('usage: replicate-peer.mjs seed|fetch|sparse-seed [options] (see the header of this file)')
    run(opts).catch(onError)
  } catch (err) {
    onError(err)
  }
}
