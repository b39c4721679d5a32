// JS hypercore peers for the browser replication test (tests/browser/replicate.test.mjs), on
// plain TCP (the browser reaches them through tests/js/ws-bridge.mjs). Every accepted socket is
// the responder side of `store.replicate(false)` piped both ways: Noise XX secret-stream +
// protomux + hypercore/alpha, what the browser's wasm build speaks.
//
//   node tests/js/ws-seed.mjs seed [--blocks N] [--host 127.0.0.1] [--port 0]
//     A Corestore core holding blocks 0..N-1 of `seedBlock` (below). Prints
//       {"ready":true,"mode":"seed","port":P,"key":HEX,"length":N,"byteLength":B}
//     Stdin commands, one JSON object a line, each answered by one line:
//       {"append":n}  → {"appended":n,"length":L}   appends seedBlock(length) … seedBlock(length+n-1)
//       {"exit":true} → exits (stdin EOF too)
//
//   node tests/js/ws-seed.mjs read --key HEX --length N [--host 127.0.0.1] [--port 0]
//     A reader of core HEX: waits for a peer to connect, downloads blocks 0..N-1, verifies each
//     one (hypercore checks it against the signed tree), then ends the connection cleanly and
//     prints
//       {"done":true,"mode":"read","length":L,"blocks":[{"size":n,"sha256":HEX}, …],"uploaded":u}
//     (`blocks` in index order; `length` is the core length it learnt). Prints
//       {"ready":true,"mode":"read","port":P} once listening.
//
//   node tests/js/ws-seed.mjs bee [--keys N] [--host 127.0.0.1] [--port 0]
//     A JS Hyperbee (hyperbee 2.27.3, keyEncoding utf-8, valueEncoding json) holding `beeKey(i)`
//     → `beeValue(i)` for i in 0..N-1 (written in batches of 1,000, so the tree is what JS
//     makes), plus a sub 'meta' with 'count' → N. Prints
//       {"ready":true,"mode":"bee","port":P,"key":HEX,"length":L,"version":V}
//     Stdin: {"put":{"key":K,"value":V}} → {"put":K,"length":L}; {"exit":true}.
//
// Other lines: {"event":"connection"}, {"event":"disconnect"}; {"error":"…"} then exit 1.
//
// Content: seedBlock(i) is the text `block-${i} ` repeated to size(i) bytes, where size(i) is
// 0 for i = 3, 100 KiB for i = 7, and 1 + (i·97 mod 3000) otherwise (import it from here).
import crypto from 'crypto'
import fs from 'fs'
import net from 'net'
import os from 'os'
import path from 'path'
import readline from 'readline'
import { fileURLToPath } from 'url'
import { createRequire } from 'module'

const require = createRequire(import.meta.url)

/** Size of block `i` of the test core. */
export function seedBlockSize(i) {
  if (i === 3) return 0
  if (i === 7) return 100 * 1024
  return 1 + ((i * 97) % 3000)
}

/** Block `i` of the test core (a Buffer). */
export function seedBlock(i) {
  const unit = Buffer.from(`block-${i} `)
  const out = Buffer.alloc(seedBlockSize(i))
  for (let off = 0; off < out.length; off += unit.length) unit.copy(out, off, 0, Math.min(unit.length, out.length - off))
  return out
}

/** Key `i` of the seeded bee. */
export function beeKey(i) {
  return 'key-' + String(i).padStart(6, '0')
}

/** Value `i` of the seeded bee (a JSON value). */
export function beeValue(i) {
  return { i, text: 'value ' + i, even: i % 2 === 0 }
}

/** `{ size, sha256 }` of a block, as the reader reports it. */
export function blockDigest(block) {
  return { size: block.byteLength, sha256: crypto.createHash('sha256').update(block).digest('hex') }
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

let cleanup = async () => {}

function fail(reason) {
  out({ error: String(reason && reason.message ? reason.message : reason) })
  Promise.resolve().then(() => cleanup()).catch(() => {}).finally(() => process.exit(1))
}

function parseArgs(argv) {
  const opts = { mode: argv[0], host: '127.0.0.1', port: '0' }
  for (let i = 1; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error('bad argument ' + argv[i])
    opts[argv[i].slice(2)] = argv[i + 1]
  }
  return opts
}

function int(v, name, dflt) {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`)
  return n
}

// Serves `store` to every TCP connection, as the responder.
async function listen(store, host, port, onSocket = () => {}) {
  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    out({ event: 'connection' })
    const stream = store.replicate(false)
    socket.setNoDelay(true)
    socket.pipe(stream).pipe(socket)
    stream.on('error', (err) => process.stderr.write('[ws-seed] stream error: ' + err.message + '\n'))
    socket.on('error', (err) => process.stderr.write('[ws-seed] socket error: ' + err.message + '\n'))
    socket.on('close', () => {
      sockets.delete(socket)
      stream.destroy()
      out({ event: 'disconnect' })
    })
    stream.on('close', () => socket.end())
    onSocket(socket, stream)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  return {
    port: server.address().port,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    }
  }
}

async function openStore(tag) {
  const Corestore = require('corestore')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-ws-' + tag + '-'))
  const store = new Corestore(dir)
  let server = null
  cleanup = async () => {
    if (server) await server.close()
    await store.close().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return { store, setServer: (s) => { server = s } }
}

function commands(handlers) {
  const rl = readline.createInterface({ input: process.stdin })
  let chain = Promise.resolve()
  const exit = () => { chain = chain.then(() => cleanup()).finally(() => process.exit(0)) }
  rl.on('line', (line) => {
    if (!line.trim()) return
    let cmd
    try { cmd = JSON.parse(line) } catch { out({ error: 'bad command: ' + line }); return }
    if (cmd.exit) return exit()
    const name = Object.keys(handlers).find((k) => k in cmd)
    if (!name) { out({ error: 'unknown command: ' + line }); return }
    chain = chain.then(() => handlers[name](cmd[name])).then(out, (err) => out({ error: err.message }))
  })
  rl.on('close', exit)
}

async function seed(opts) {
  const { store, setServer } = await openStore('seed')
  const core = store.get({ name: 'ws-seed' })
  await core.ready()
  const n = int(opts.blocks, 'blocks', 300)
  const blocks = []
  for (let i = 0; i < n; i++) blocks.push(seedBlock(i))
  if (blocks.length) await core.append(blocks)
  const server = await listen(store, opts.host, int(opts.port, 'port', 0))
  setServer(server)
  out({ ready: true, mode: 'seed', port: server.port, key: core.key.toString('hex'), length: core.length, byteLength: core.byteLength })
  commands({
    append: async (count) => {
      const more = []
      for (let i = 0; i < int(count, 'append', 0); i++) more.push(seedBlock(core.length + i))
      if (more.length) await core.append(more)
      return { appended: more.length, length: core.length }
    }
  })
}

async function read(opts) {
  if (!/^[0-9a-f]{64}$/i.test(opts.key || '')) throw new Error('--key must be 64 hex characters')
  const want = int(opts.length, 'length', undefined)
  if (want === undefined) throw new Error('--length is required')
  const { store, setServer } = await openStore('read')
  const core = store.get({ key: Buffer.from(opts.key, 'hex') })
  await core.ready()
  let uploaded = 0
  core.on('upload', () => { uploaded++ })
  let connection = null
  const server = await listen(store, opts.host, int(opts.port, 'port', 0), (socket, stream) => { connection = { socket, stream } })
  setServer(server)
  out({ ready: true, mode: 'read', port: server.port })
  commands({})
  while (core.length < want) await new Promise((resolve) => core.once('append', resolve))
  await core.download({ start: 0, end: want }).done()
  const blocks = []
  for (let i = 0; i < want; i++) blocks.push(blockDigest(await core.get(i, { wait: false })))
  // End the connection cleanly (FIN after the stream's last bytes).
  if (connection) connection.stream.end()
  out({ done: true, mode: 'read', length: core.length, blocks, uploaded })
}

async function bee(opts) {
  const Hyperbee = require('hyperbee')
  const { store, setServer } = await openStore('bee')
  const core = store.get({ name: 'ws-bee' })
  const db = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'json' })
  await db.ready()
  const n = int(opts.keys, 'keys', 1000)
  for (let i = 0; i < n; i += 1000) {
    const b = db.batch()
    for (let j = i; j < Math.min(n, i + 1000); j++) await b.put(beeKey(j), beeValue(j))
    await b.flush()
  }
  await db.sub('meta').put('count', n)
  const server = await listen(store, opts.host, int(opts.port, 'port', 0))
  setServer(server)
  out({ ready: true, mode: 'bee', port: server.port, key: core.key.toString('hex'), length: core.length, version: db.version })
  commands({
    put: async ({ key, value }) => {
      await db.put(key, value)
      return { put: key, length: core.length }
    }
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.on('unhandledRejection', fail)
  const opts = parseArgs(process.argv.slice(2))
  const run = { seed, read, bee }[opts.mode] || null
  if (!run) fail('usage: ws-seed.mjs seed [--blocks N] | read --key HEX --length N | bee [--keys N]')
  else run(opts).catch(fail)
}
