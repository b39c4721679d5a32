// Vectors for the 28 messages of the @hyperswarm/dht-relay Protomux channel, encoded and
// decoded by the package's own codecs (lib/messages.js, lib/codecs.js).
// Usage: node tests/js/gen-dht-relay-fixtures.mjs   (writes tests/fixtures/dht-relay/messages.json;
// byte-identical on every run)
//
// messages.json
//   encode: [{name, type, hex, value, truncationsAccepted}]   JS encodes a value; `value` is
//           JS's decoding of `hex` (buffers as hex, null kept, ipv4Address as host/port);
//           `truncationsAccepted` lists the prefix lengths JS still decodes (empty: all fail).
//   decode: [{name, type, hex, value | null, error | null}]   bytes JS is asked to decode as
//           Protomux does (leftover bytes not checked): trailing bytes, unknown flag bits.
//   announcers: {hex, value}   codecs.announcers, the payload of `result`.
import fs from 'fs'
import path from 'path'
import { createRequire } from 'module'
import { fileURLToPath } from 'url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
// The package's `exports` hide lib/; a file path reaches it.
const PKG = path.join(here, 'node_modules/@hyperswarm/dht-relay')
const m = require(path.join(PKG, 'lib/messages.js'))
const codecs = require(path.join(PKG, 'lib/codecs.js'))
const c = require(require.resolve('compact-encoding', { paths: [PKG] }))

const OUT = path.resolve(here, '../fixtures/dht-relay')

// The channel's message order (lib/protocol.js addMessage calls).
export const ORDER = [
  'handshake', 'ping', 'pong', 'connect', 'connection', 'connected', 'incoming', 'deny', 'accept',
  'destroy', 'listen', 'listening', 'close', 'closed', 'open', 'end', 'data', 'result', 'finished',
  'lookup', 'announce', 'unannounce', 'signAnnounce', 'signUnannounce', 'signature', 'noiseSend',
  'noiseReceive', 'noiseReply'
]

const fill = (n, len = 32) => Buffer.alloc(len, n)
const seq = (len, start = 0) => Buffer.from(Array.from({ length: len }, (_, i) => (start + i) & 0xff))

export function toJSON (v) {
  if (v === null || v === undefined) return null
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  if (Array.isArray(v)) return v.map(toJSON)
  if (typeof v === 'object') {
    const o = {}
    for (const [k, x] of Object.entries(v)) {
      if (k === 'family') continue
      o[k] = toJSON(x)
    }
    return o
  }
  return v
}

const announcersValue = {
  token: fill(0x11),
  from: { id: fill(0x22), host: '10.0.0.1', port: 49737 },
  to: { id: null, host: '192.168.1.20', port: 1 },
  peers: [
    { publicKey: fill(0x33), relayAddresses: [{ host: '1.2.3.4', port: 5 }, { host: '255.255.255.255', port: 65535 }] },
    { publicKey: fill(0x44), relayAddresses: [] }
  ]
}
const announcersBytes = c.encode(codecs.announcers, announcersValue)

const VALUES = {
  handshake: [
    { custodial: false, publicKey: fill(1) },
    { custodial: true, publicKey: fill(1), secretKey: seq(64, 0x80) }
  ],
  ping: [null],
  pong: [null],
  connect: [
    { custodial: false, alias: 1, publicKey: fill(2), remotePublicKey: fill(3) },
    { custodial: true, alias: 0xfffffffe, publicKey: fill(2), secretKey: seq(64, 0x40), remotePublicKey: fill(3) }
  ],
  connection: [
    { custodial: false, alias: 5, serverAlias: 6, remotePublicKey: fill(4), handshakeId: 7 },
    { custodial: true, alias: 5, serverAlias: 6, remotePublicKey: fill(4), handshakeHash: seq(64) }
  ],
  connected: [{ alias: 0x01020304, remoteAlias: 0xa0b0c0d0 }],
  incoming: [
    { id: 9, serverAlias: 10, remotePublicKey: fill(5), payload: seq(40) },
    { id: 9, serverAlias: 10, remotePublicKey: fill(5), payload: null }
  ],
  deny: [{ id: 11 }],
  accept: [{ id: 12 }],
  destroy: [
    { paired: true, alias: 13 },
    { paired: true, alias: 13, error: 'Stream was destroyed' },
    { paired: false, remoteAlias: 14 },
    { paired: false, remoteAlias: 14, error: 'PEER_NOT_FOUND: Peer not found ✓' }
  ],
  listen: [
    { custodial: false, alias: 15, publicKey: fill(6) },
    { custodial: true, alias: 15, publicKey: fill(6), secretKey: seq(64, 1) }
  ],
  listening: [{ alias: 16, remoteAlias: 17, host: '203.0.113.7', port: 49737 }],
  close: [{ alias: 18 }],
  closed: [{ alias: 19 }],
  open: [
    { custodial: false, alias: 20, remoteAlias: 21, handshakeId: 22 },
    { custodial: true, alias: 20, remoteAlias: 21, handshakeHash: seq(64, 7) }
  ],
  end: [{ alias: 23 }],
  data: [
    { alias: 24, data: [seq(3)] },
    { alias: 24, data: [seq(300), Buffer.alloc(0), seq(1)] },
    { alias: 24, data: [] }
  ],
  result: [
    { id: 25, data: announcersBytes },
    { id: 25, data: Buffer.alloc(0) }
  ],
  finished: [{ id: 26 }],
  lookup: [{ id: 27, topic: fill(7) }],
  announce: [
    { custodial: false, id: 28, topic: fill(8), publicKey: fill(9) },
    { custodial: true, id: 28, topic: fill(8), publicKey: fill(9), secretKey: seq(64, 9) }
  ],
  unannounce: [
    { custodial: false, id: 29, topic: fill(8), publicKey: fill(9) },
    { custodial: true, id: 29, topic: fill(8), publicKey: fill(9), secretKey: seq(64, 9) }
  ],
  signAnnounce: [
    { id: 30, signee: 31, token: fill(10), peerId: fill(11), relayAddresses: [{ host: '8.8.4.4', port: 53 }] },
    { id: 30, signee: 31, token: fill(10), peerId: null, relayAddresses: [] }
  ],
  signUnannounce: [
    { id: 32, signee: 33, token: fill(12), peerId: fill(13), relayAddresses: [{ host: '127.0.0.1', port: 1 }, { host: '10.9.8.7', port: 65000 }] }
  ],
  signature: [{ id: 34, signature: seq(64, 0x20) }],
  noiseSend: [
    { isInitiator: true, id: 35, remoteStreamAlias: 36, payload: seq(50) },
    { isInitiator: false, id: 35, payload: seq(50) }
  ],
  noiseReceive: [
    { isInitiator: true, id: 37, payload: seq(96) },
    { isInitiator: false, id: 37, serverAlias: 38, payload: seq(96) }
  ],
  noiseReply: [
    { isInitiator: true, complete: false, id: 39, payload: seq(96) },
    { isInitiator: true, complete: true, id: 39, payload: seq(60), remoteId: fill(14), holepunchSecret: fill(15) },
    { isInitiator: false, complete: false, id: 40, payload: seq(60), remotePublicKey: fill(16) },
    { isInitiator: false, complete: false, id: 40, payload: null, remotePublicKey: fill(16) },
    { isInitiator: false, complete: true, id: 40, payload: seq(48), remoteId: fill(17), holepunchSecret: fill(18) }
  ]
}

function decodeOrError (enc, bytes) {
  try {
    return { value: toJSON(c.decode(enc, bytes) ?? null), error: null }
  } catch (err) {
    return { value: null, error: err.message }
  }
}

// c.decode checks that the buffer was used up; Protomux does not. Decode like Protomux.
function protomuxDecode (enc, bytes) {
  try {
    const state = { start: 0, end: bytes.byteLength, buffer: bytes }
    return { value: toJSON(enc.decode(state) ?? null), error: null }
  } catch (err) {
    return { value: null, error: err.message }
  }
}

function main () {
  const encode = []
  const decode = []
  ORDER.forEach((name, type) => {
    const enc = m[name]
    if (!enc) throw new Error('no codec ' + name)
    for (const v of VALUES[name]) {
      const bytes = c.encode(enc, v)
      const back = decodeOrError(enc, bytes)
      if (back.error) throw new Error(`${name}: JS cannot decode its own encoding: ${back.error}`)
      encode.push({ name, type, hex: bytes.toString('hex'), value: back.value })

      const trailing = Buffer.concat([bytes, Buffer.from([0xff, 0x00, 0x01])])
      decode.push({ name, type, hex: trailing.toString('hex'), ...protomuxDecode(enc, trailing) })
      if (bytes.length > 0) {
        // Unknown flag bits (messages whose first byte is a flags byte: they ignore them).
        const flagged = Buffer.from(bytes)
        if (['handshake', 'connect', 'connection', 'destroy', 'listen', 'open', 'announce', 'unannounce', 'noiseSend', 'noiseReceive', 'noiseReply'].includes(name)) {
          flagged[0] |= 0xf0
          decode.push({ name, type, hex: flagged.toString('hex'), ...protomuxDecode(enc, flagged) })
        }
      }
      // Truncations: the cut lengths JS still decodes (none, for every vector here).
      const accepted = []
      for (let cut = 0; cut < bytes.length; cut++) {
        if (protomuxDecode(enc, bytes.subarray(0, cut)).error === null) accepted.push(cut)
      }
      encode[encode.length - 1].truncationsAccepted = accepted
    }
  })
  const generator = {
    '@hyperswarm/dht-relay': require(path.join(PKG, 'package.json')).version,
    'compact-encoding': require(require.resolve('compact-encoding/package.json', { paths: [PKG] })).version,
    node: process.version
  }
  const announcers = { hex: announcersBytes.toString('hex'), value: toJSON(announcersValue) }
  fs.mkdirSync(OUT, { recursive: true })
  const file = path.join(OUT, 'messages.json')
  fs.writeFileSync(file, JSON.stringify({ generator, order: ORDER, announcers, encode, decode }, null, 1) + '\n')
  console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes,', encode.length, 'encode,', decode.length, 'decode vectors')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main()
