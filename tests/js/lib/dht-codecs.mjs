// Shared pieces of gen-dht-fixtures.mjs and dht-check.mjs: hyperdht's own modules, loaded by
// their paths inside the pinned package, and the JSON form of decoded values.
//
// JSON form (what tests/oracle_hyperdht.rs rebuilds from Rust values): buffers are lowercase hex,
// `{host, port}` addresses are "a.b.c.d:port" or "[h:h:h:h:h:h:h:h]:port" (JS's ipv6 host
// string: 8 groups, lowercase hex, no leading zeros, no "::"), everything else as JS decoded it.
import { require, c, b4a, sodium, hex, unhex, prngBytes } from './common.mjs'

export { require, c, b4a, sodium, hex, unhex }
export const curve = require('noise-curve-ed')
export const m = require('hyperdht/lib/messages.js')
export const dhtCrypto = require('hyperdht/lib/crypto.js')
export const constants = require('hyperdht/lib/constants.js')
export const NoiseWrap = require('hyperdht/lib/noise-wrap.js')
export const SecurePayload = require('hyperdht/lib/secure-payload.js')
export const Persistent = require('hyperdht/lib/persistent.js')

const version = (name) => require(`${name}/package.json`).version
export const GENERATOR = {
  hyperdht: version('hyperdht'),
  'compact-encoding': version('compact-encoding'),
  'noise-handshake': version('noise-handshake'),
  'noise-curve-ed': version('noise-curve-ed'),
  'hypercore-crypto': version('hypercore-crypto'),
  'sodium-universal': version('sodium-universal'),
  node: process.version
}


// The codecs under test, by the names the fixtures use.
export const CODECS = {
  ipv4: c.ipv4Address,
  ipv6: c.ipv6Address,
  peer: m.peer,
  peers: m.peers,
  lookupRawReply: m.lookupRawReply,
  announce: m.announce,
  mutableSignable: m.mutableSignable,
  mutablePutRequest: m.mutablePutRequest,
  mutableGetResponse: m.mutableGetResponse,
  handshake: m.handshake,
  holepunch: m.holepunch,
  noisePayload: m.noisePayload,
  holepunchPayload: m.holepunchPayload,
  pluginRequest: m.pluginRequest
}

function isAddress(v) {
  const keys = Object.keys(v)
  return keys.includes('host') && keys.includes('port') && keys.every((k) => k === 'host' || k === 'port' || k === 'family')
}

export function toJSON(v) {
  if (v === null || v === undefined) return null
  if (v instanceof Uint8Array) return hex(v)
  if (Array.isArray(v)) return v.map(toJSON)
  if (typeof v === 'object') {
    if (isAddress(v)) return v.host.includes(':') ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`
    const o = {}
    for (const k of Object.keys(v)) o[k] = toJSON(v[k])
    return o
  }
  return v
}

// The value lookupRawReply's encoder wants: stored records are raw (already encoded) peers.
function encodable(codec, value) {
  if (codec === 'lookupRawReply') return { ...value, peers: value.peers.map((p) => c.encode(m.peer, p)) }
  return value
}

// JS's verdict on `bytes`: {decoded, reencodedIfDifferent: null | hex} or {error}.
// `reencodedIfDifferent` is what JS encodes the decoded value to, when that is not `bytes`
// (trailing bytes dropped, non-minimal ints shortened, versions written as 1, ...).
// Some JS preencoders assume one byte for a `uint` (noisePayload's error/firewall,
// holepunchPayload's error/firewall/round): for values above 0xfc `c.encode` then returns a
// cut-off buffer. `jsEncodeTruncated` marks those; the re-encoding given is what the encoder
// writes when it has room (JS's intended bytes).
export function judge(codec, bytes) {
  let value
  try {
    value = c.decode(CODECS[codec], bytes)
  } catch (err) {
    return { decoded: null, reencodedIfDifferent: null, error: err.message }
  }
  const { bytes: again, truncated } = encodeWithRoom(codec, value)
  const out = { decoded: toJSON(value), reencodedIfDifferent: b4a.equals(again, bytes) ? null : hex(again), error: null }
  if (truncated) out.jsEncodeTruncated = true
  return out
}

function encodeWithRoom(codec, value) {
  const enc = CODECS[codec]
  const v = encodable(codec, value)
  const state = c.state()
  enc.preencode(state, v)
  const planned = state.end
  state.buffer = b4a.alloc(planned + 64)
  enc.encode(state, v)
  return { bytes: state.buffer.subarray(0, state.start), truncated: state.start !== planned }
}

export function encode(codec, value) {
  return c.encode(CODECS[codec], encodable(codec, value))
}

export const seeded = (n) => curve.generateKeyPair(b4a.alloc(32, n))

// Deterministic filler: BLAKE2b-256(label ‖ u32le(i)) blocks, cut to `size` (common.mjs
// prngBytes seeded with the label, as gen-noise-fixtures).
export const bytes = (label, size) => prngBytes(b4a.from(label), size)

// Runs `fn` with sodium.randombytes_buf filling from `source` (a Buffer, consumed in order).
export function withRandom(source, fn) {
  const original = sodium.randombytes_buf
  let off = 0
  sodium.randombytes_buf = (buf) => {
    if (off + buf.byteLength > source.byteLength) throw new Error('fixed random source exhausted')
    buf.set(source.subarray(off, off + buf.byteLength))
    off += buf.byteLength
  }
  try {
    return fn()
  } finally {
    sodium.randombytes_buf = original
  }
}

// The JSON of a NoiseWrap.final() result.
export function finalJSON(f) {
  return {
    isInitiator: f.isInitiator,
    publicKey: hex(f.publicKey),
    remotePublicKey: hex(f.remotePublicKey),
    remoteId: hex(f.remoteId),
    holepunchSecret: hex(f.holepunchSecret),
    hash: hex(f.hash),
    tx: hex(f.tx),
    rx: hex(f.rx)
  }
}
