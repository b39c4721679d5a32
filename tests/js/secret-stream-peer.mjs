// A real JS @hyperswarm/secret-stream over TCP, driven by the Rust interop test
// (wasm/core/tests/interop_secret_stream.rs). One connection, then exit.
//
//   node tests/js/secret-stream-peer.mjs --listen            (prints {"event":"listening","port"})
//   node tests/js/secret-stream-peer.mjs --connect PORT
//
// Options:
//   --initiator true|false     role (default: true with --connect, false with --listen)
//   --seed N                   key pair from crypto_sign_seed_keypair(32 bytes of N) (default 1)
//   --pattern XX|IK            handshake pattern (secret-stream `pattern` option)
//   --remote-public-key HEX    IK initiator: the responder's key (`remotePublicKey` option)
//   --keep-alive MS            secret-stream `keepAlive`
//   --timeout MS               `setTimeout(ms)`
//   --echo                     write every received message back
//   --send SIZES               after connecting, send messages of these sizes (comma list,
//                              `SxN` = N messages of S bytes), message i filled by `fill(i, n)`;
//                              with --expect-echo the peer checks they come back in order
//   --expect-echo              see --send; prints {"event":"echoed"} and ends when all returned
//
// stdout: one JSON object per line: listening, connect (publicKey, remotePublicKey,
// handshakeHash in hex), empty (a zero-length message reached the app), echoed, mismatch,
// error (message), close (received count and bytes).
import net from 'net'
import { createRequire } from 'module'
import { flagArgs } from './lib/common.mjs'

const require = createRequire(import.meta.url)
const SecretStream = require('@hyperswarm/secret-stream')
const b4a = require('b4a')

const args = flagArgs(process.argv.slice(2))

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const hex = (b) => (b ? b4a.toString(b, 'hex') : null)

// Message i of n bytes: byte j = (i * 131 + j * 7 + n) mod 256 (the Rust test uses the same).
function fill(i, n) {
  const b = b4a.alloc(n)
  for (let j = 0; j < n; j++) b[j] = (i * 131 + j * 7 + n) & 255
  return b
}

function sizes(spec) {
  if (!spec || spec === true) return []
  const list = []
  for (const part of String(spec).split(',')) {
    const [s, n] = part.split('x')
    for (let k = 0; k < Number(n || 1); k++) list.push(Number(s))
  }
  return list
}

function run(socket, isInitiator) {
  socket.setNoDelay(true)
  const keyPair = SecretStream.keyPair(b4a.alloc(32, Number(args.seed || 1)))
  const opts = { keyPair }
  if (args['keep-alive']) opts.keepAlive = Number(args['keep-alive'])
  if (args.pattern) opts.pattern = args.pattern
  if (args['remote-public-key']) opts.remotePublicKey = b4a.from(args['remote-public-key'], 'hex')
  const s = new SecretStream(isInitiator, socket, opts)
  if (args.timeout) s.setTimeout(Number(args.timeout))

  const toSend = sizes(args.send)
  const sent = []
  let echoed = 0
  let received = 0
  let bytes = 0

  s.on('connect', () => {
    out({ event: 'connect', isInitiator, publicKey: hex(s.publicKey), remotePublicKey: hex(s.remotePublicKey), handshakeHash: hex(s.handshakeHash) })
    toSend.forEach((n, i) => {
      const m = fill(i, n)
      if (n > 0) sent.push(m)
      s.write(m)
    })
    if (args['expect-echo'] && sent.length === 0) finish()
  })

  function finish() {
    out({ event: 'echoed', count: echoed })
    s.end()
  }

  s.on('data', (m) => {
    received++
    bytes += m.byteLength
    if (m.byteLength === 0) out({ event: 'empty' })
    if (args.echo) s.write(m)
    if (args['expect-echo'] && m.byteLength > 0) {
      const want = sent[echoed]
      if (!want || !b4a.equals(want, m)) out({ event: 'mismatch', index: echoed, size: m.byteLength })
      echoed++
      if (echoed === sent.length) finish()
    }
  })
  s.on('end', () => s.end())
  s.on('error', (e) => out({ event: 'error', message: e.message }))
  s.on('close', () => {
    out({ event: 'close', received, bytes })
    setImmediate(() => process.exit(0))
  })
}

if (args.listen) {
  const server = net.createServer((socket) => {
    server.close()
    run(socket, args.initiator === 'true')
  })
  server.listen(0, '127.0.0.1', () => out({ event: 'listening', port: server.address().port }))
} else if (args.connect) {
  const socket = net.connect(Number(args.connect), '127.0.0.1')
  run(socket, args.initiator !== 'false')
} else {
  console.error('usage: secret-stream-peer.mjs --listen | --connect PORT [options]')
  process.exit(2)
}
