// Shared helpers for dht-peer.mjs and bench-dht.mjs: argument parsing, JSON-lines output and
// exit handling, loopback HyperDHT nodes (hyperdht 6.34.0), the deterministic byte stream used
// by the throughput commands and the core digest of swarm-seed / swarm-fetch.
import readline from 'readline'
import { require, b4a, sodium, hex, unhex } from './common.mjs'
import { coreDigest } from './testdata.mjs'

export { require, hex, unhex, b4a, coreDigest }
export const DHT = require('hyperdht')
export const createTestnet = require('hyperdht/testnet.js')
export const HYPERDHT_VERSION = require('hyperdht/package.json').version
export const HYPERSWARM_VERSION = require('hyperswarm/package.json').version
export const HOST = '127.0.0.1'

// ---------------------------------------------------------------- output, errors, exit
let TAG = 'dht'
export function setTag(tag) {
  TAG = tag
}

/** One JSON object on one stdout line. */
export function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

/** A diagnostic on stderr (never on stdout). */
export function log(...args) {
  process.stderr.write('[' + TAG + '] ' + args.join(' ') + '\n')
}

export const reasonOf = (err) => (err && err.message ? err.message : String(err))

const cleanups = []
/** Registers `fn` to run (latest first) before the process exits. */
export function onCleanup(fn) {
  cleanups.push(fn)
}

async function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop()
    try {
      await fn()
    } catch (err) {
      log('cleanup:', reasonOf(err))
    }
  }
}

let exiting = false
/** Runs the cleanups (at most 5 s) and exits with `code`. */
export async function exit(code) {
  if (exiting) return
  exiting = true
  const force = setTimeout(() => process.exit(code), 5000)
  force.unref()
  await runCleanups()
  process.exit(code)
}

// Thrown by fail() to unwind the caller; the scheduled exit(1) wins.
export class Exiting extends Error {}
let failing = false

/** Fatal error: `{"error": reason}` on stdout, the reason on stderr, cleanups, exit 1. */
export function fail(reason) {
  const msg = reasonOf(reason)
  if (!failing) {
    failing = true
    const code = reason && typeof reason.code === 'string' ? reason.code : undefined
    out(code ? { error: msg, code } : { error: msg })
    log('error:', msg)
    exit(1)
  }
  throw new Exiting(msg)
}

/** Runs `main`, turning any rejection into fail(); SIGINT/SIGTERM clean up and exit 130/143. */
export function run(main) {
  process.once('SIGINT', () => exit(130))
  process.once('SIGTERM', () => exit(143))
  process.on('unhandledRejection', (err) => {
    if (!(err instanceof Exiting)) {
      try {
        fail(err)
      } catch {}
    }
  })
  main().catch((err) => {
    if (err instanceof Exiting) return
    if (err && err.stack) log(err.stack)
    try {
      fail(err)
    } catch {}
  })
}

// ---------------------------------------------------------------- arguments
/**
 * `argv` = `[command, --name value | --flag …]` → `{ cmd, opts }` with camelCased option names.
 * Names in `flags` take no value; names in `repeatable` collect arrays.
 */
export function parseArgs(argv, { flags = [], repeatable = [] } = {}) {
  const flagSet = new Set(flags)
  const repSet = new Set(repeatable)
  const camel = (s) => s.replace(/-([a-z])/g, (_, ch) => ch.toUpperCase())
  const opts = {}
  for (const r of repSet) opts[camel(r)] = []
  let cmd = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) {
      if (cmd === null) {
        cmd = a
        continue
      }
      fail('unexpected argument ' + a)
    }
    const name = a.slice(2)
    if (flagSet.has(name)) {
      opts[camel(name)] = true
      continue
    }
    const value = argv[++i]
    if (value === undefined) fail('missing value for ' + a)
    if (repSet.has(name)) opts[camel(name)].push(value)
    else opts[camel(name)] = value
  }
  return { cmd, opts }
}

/** A non-negative integer option, `dflt` when absent. */
export function intArg(v, name, dflt) {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) fail('--' + name + ' must be a non-negative integer, got ' + v)
  return n
}

/** A positive number option (may be fractional), `dflt` when absent. */
export function numArg(v, name, dflt) {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) fail('--' + name + ' must be a positive number, got ' + v)
  return n
}

/** Hex bytes (even length; exactly `len` bytes when given). Empty string → empty buffer. */
export function hexArg(s, name, len) {
  if (typeof s !== 'string') fail('--' + name + ' is required')
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) fail('--' + name + ' must be hex, got ' + s)
  if (len !== undefined && s.length !== len * 2) fail('--' + name + ' must be ' + len + ' bytes (' + 2 * len + ' hex characters)')
  return unhex(s.toLowerCase())
}

/** `host:port` → `{host, port}`. */
export function hostPort(s) {
  const i = s.lastIndexOf(':')
  const port = Number(s.slice(i + 1))
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail('bad HOST:PORT ' + s)
  return { host: s.slice(0, i), port }
}

/** `--bootstrap host:port[,host:port…]` (the option may repeat) → `[{host, port}]`; required. */
export function bootstrapArg(values) {
  const list = (Array.isArray(values) ? values : values ? [values] : [])
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean)
  if (list.length === 0) fail('--bootstrap host:port[,host:port…] is required')
  return list.map(hostPort)
}

/** The key pair of `--seed HEX` (32 bytes, DHT.keyPair(seed)), a random one without. */
export function keyPairArg(seedHex) {
  if (seedHex === undefined) return DHT.keyPair()
  return DHT.keyPair(hexArg(seedHex, 'seed', 32))
}

export const addrJson = (a) => (a ? { host: a.host, port: a.port } : null)
export const addrString = (a) => a.host + ':' + a.port

// ---------------------------------------------------------------- nodes
/**
 * An ephemeral HyperDHT node on 127.0.0.1 (as `testnet.createNode()` makes them), fully
 * bootstrapped, destroyed at exit.
 */
export async function createNode({ bootstrap, keyPair, ...rest }) {
  const node = new DHT({ bootstrap, ephemeral: true, host: HOST, keyPair, ...rest })
  onCleanup(() => node.destroy())
  await node.fullyBootstrapped()
  if (node.table.size === 0) {
    throw new Error('bootstrap failed: no DHT node with an id answered via ' + bootstrap.map(addrString).join(','))
  }
  return node
}

export const COMMANDS = require('hyperdht/lib/constants.js').COMMANDS

/**
 * Records the outcome of every `command` request `node` sends from now on (to `target` when
 * given): an array filling with `{host, port, error}`, `error` being the reply's error number
 * (0 = stored) or the failure's code/message. JS's put/announce calls resolve even when storing
 * nodes answer with an error (e.g. SEQ_TOO_LOW = 17), so this is how a caller sees what each node
 * said. A later call for the same command replaces the earlier recording.
 */
export function recordCommits(node, command, target = null) {
  let sinks = recorders.get(node)
  if (!sinks) {
    sinks = new Map()
    recorders.set(node, sinks)
    const request = node.request
    node.request = function (req, to, opts) {
      const p = request.call(this, req, to, opts)
      const sink = sinks.get(req.command)
      if (sink && (sink.target === null || (req.target && b4a.equals(req.target, sink.target)))) {
        p.then(
          (res) => sink.results.push({ host: to.host, port: to.port, error: res.error }),
          (err) => sink.results.push({ host: to.host, port: to.port, error: (err && err.code) || reasonOf(err) })
        )
      }
      return p
    }
  }
  const results = []
  sinks.set(command, { target, results })
  return results
}
const recorders = new WeakMap()

/** Rejects after `ms` (0 = never) with `what: timed out after ms ms`. */
export function withTimeout(promise, ms, what) {
  if (!ms) return promise
  let t
  const timer = new Promise((resolve, reject) => {
    t = setTimeout(() => reject(new Error(what + ': timed out after ' + ms + ' ms')), ms)
  })
  return Promise.race([promise, timer]).finally(() => clearTimeout(t))
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Milliseconds since the Unix epoch with sub-millisecond resolution (comparable across processes). */
export const nowMs = () => performance.timeOrigin + performance.now()

export const round3 = (x) => Math.round(x * 1000) / 1000
/** MB/s (MB = 10^6 bytes) for `bytes` in `ms`; null when ms ≤ 0. */
export const mbps = (bytes, ms) => (ms > 0 ? round3(bytes / 1e6 / (ms / 1000)) : null)

/** Resolves when the encrypted connection opened (handshake done, UDX connected). */
export function opened(conn) {
  return new Promise((resolve, reject) => {
    const onopen = () => {
      cleanup()
      resolve()
    }
    const onclose = (err) => {
      cleanup()
      reject(err || new Error('connection closed before it opened'))
    }
    const onerror = (err) => {
      cleanup()
      reject(err)
    }
    const cleanup = () => {
      conn.off('open', onopen)
      conn.off('error', onerror)
      conn.off('close', onclose)
    }
    conn.on('open', onopen)
    conn.on('error', onerror)
    conn.on('close', onclose)
  })
}

/** Resolves once `conn` closed (errors are swallowed: the caller looked at the data already). */
export function closed(conn) {
  return new Promise((resolve) => {
    if (conn.destroyed) return resolve()
    conn.on('error', () => {})
    conn.once('close', resolve)
  })
}

// ---------------------------------------------------------------- stdin
/**
 * Reads stdin commands until EOF, then calls `onEof` (at most 15 s) and exits 0. A line is a bare word
 * (`stats`) or a JSON object whose first key is the command (`{"stats":true}`); `exit` (or
 * `{"exit":true}`) behaves like EOF. `handlers[name](arg)` returns the object to print (an answer
 * line: it has no "event" key). Unknown commands are answered `{"error": …}`.
 */
export function stdinLoop(handlers, onEof = async () => {}) {
  const rl = readline.createInterface({ input: process.stdin })
  let chain = Promise.resolve()
  let done = false
  const finish = () => {
    if (done) return
    done = true
    chain = chain
      .then(() => withTimeout(onEof(), 15000, 'shutting down'))
      .then(() => exit(0))
      .catch((err) => {
        try {
          fail(err)
        } catch {}
      })
  }
  rl.on('line', (line) => {
    const text = line.trim()
    if (!text) return
    let name = text
    let arg = true
    if (text.startsWith('{')) {
      try {
        const cmd = JSON.parse(text)
        name = Object.keys(cmd)[0]
        arg = cmd[name]
      } catch {
        out({ error: 'bad command (not JSON): ' + text })
        return
      }
    } else {
      const sp = text.indexOf(' ')
      if (sp > 0) {
        name = text.slice(0, sp)
        arg = text.slice(sp + 1).trim()
      }
    }
    if (name === 'exit') return finish()
    const handler = handlers[name]
    if (!handler) {
      out({ error: 'unknown command: ' + text })
      return
    }
    chain = chain.then(() => handler(arg)).then(out, (err) => out({ error: reasonOf(err) }))
  })
  rl.on('close', finish)
}

// ---------------------------------------------------------------- byte streams
// The throughput commands send a deterministic stream, so either side can recompute it:
//   bytes [65536·i, 65536·(i+1)) = block(0, i, 65536) of lib/testdata.mjs (relay/src/testdata.rs),
//   the last chunk cut short. `hash` = BLAKE2b-256 of all stream bytes (no length prefixes).
export const STREAM_CHUNK = 65536
const DOMAIN = b4a.from('hyperwasm-testdata')

/** Chunk `i` of the test stream (65536 bytes; = testBlock(0, i, 65536), filled natively). */
export function streamChunk(i) {
  const input = b4a.alloc(DOMAIN.byteLength + 16)
  input.set(DOMAIN, 0)
  input.writeBigUInt64LE(0n, DOMAIN.byteLength)
  input.writeBigUInt64LE(BigInt(i), DOMAIN.byteLength + 8)
  const h = b4a.alloc(32)
  sodium.crypto_generichash(h, input)
  return b4a.alloc(STREAM_CHUNK).fill(h)
}

/** Streaming BLAKE2b-256. */
export class StreamHash {
  constructor() {
    this.state = b4a.alloc(sodium.crypto_generichash_STATEBYTES)
    sodium.crypto_generichash_init(this.state, null, 32)
  }

  update(buf) {
    sodium.crypto_generichash_update(this.state, buf)
  }

  final() {
    const outBuf = b4a.alloc(32)
    sodium.crypto_generichash_final(this.state, outBuf)
    return hex(outBuf)
  }
}

/**
 * Writes `total` bytes to `stream` with backpressure, then ends it. `source`: 'test' (the
 * deterministic stream above, hashed) or 'reuse' (one random 64 KiB buffer again and again, not
 * hashed: the benchmark's cheapest source). Resolves `{bytes, hash, firstWriteAt, lastWriteAt}`
 * (epoch ms; with nothing to send both are the start) once the last chunk was handed to the stream.
 */
export async function sendBytes(stream, total, { source = 'test' } = {}) {
  const hasher = source === 'test' ? new StreamHash() : null
  const pool = source === 'reuse' ? require('crypto').randomBytes(STREAM_CHUNK) : null
  let sent = 0
  let firstWriteAt = total === 0 ? nowMs() : null
  for (let i = 0; sent < total; i++) {
    const n = Math.min(STREAM_CHUNK, total - sent)
    let chunk = pool || streamChunk(i)
    if (n < chunk.byteLength) chunk = chunk.subarray(0, n)
    if (hasher) hasher.update(chunk)
    if (firstWriteAt === null) firstWriteAt = nowMs()
    sent += n
    if (!stream.write(chunk)) await drained(stream)
  }
  const lastWriteAt = nowMs()
  stream.end()
  return { bytes: sent, hash: hasher ? hasher.final() : null, firstWriteAt, lastWriteAt }
}

function drained(stream) {
  return new Promise((resolve, reject) => {
    const ondrain = () => {
      cleanup()
      resolve()
    }
    const onclose = () => {
      cleanup()
      reject(new Error('stream closed while writing'))
    }
    const cleanup = () => {
      stream.off('drain', ondrain)
      stream.off('close', onclose)
    }
    stream.on('drain', ondrain)
    stream.on('close', onclose)
  })
}

/**
 * Reads `stream` to its end, counting (and unless `hash === false` hashing) the bytes. Resolves
 * `{bytes, hash, firstByteAt, lastByteAt}` (epoch ms; null without data) on 'end'; rejects when
 * the stream closes or fails before its end.
 */
export function receiveBytes(stream, { hash = true } = {}) {
  const hasher = hash ? new StreamHash() : null
  let bytes = 0
  let firstByteAt = null
  let lastByteAt = null
  return new Promise((resolve, reject) => {
    let ended = false
    stream.on('data', (data) => {
      const t = nowMs()
      if (firstByteAt === null) firstByteAt = t
      lastByteAt = t
      bytes += data.byteLength
      if (hasher) hasher.update(data)
    })
    stream.once('end', () => {
      ended = true
      resolve({ bytes, hash: hasher ? hasher.final() : null, firstByteAt, lastByteAt })
    })
    stream.once('error', (err) => {
      if (!ended) reject(err)
    })
    stream.once('close', () => {
      if (!ended) reject(new Error('stream closed before its end after ' + bytes + ' bytes'))
    })
  })
}

// ---------------------------------------------------------------- cores
