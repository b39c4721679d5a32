// Wire fixtures for hyperwasm (JS = oracle): hypercore/alpha message codecs and protomux frames.
// Usage: node tests/js/gen-wire-fixtures.mjs   (writes tests/fixtures/wire/*.json, deterministic)
//
// messages.json: every wire.* message type encoded by hypercore's lib/messages.js, non-canonical
//   inputs JS still decodes (with what it decodes them to), inputs JS refuses, and for small
//   vectors which strict prefixes JS decodes (every other prefix throws).
// protomux.json: transcripts of two real JS Protomux instances talking over in-memory streams:
//   every write, every delivery, every event each side saw, in order.
import fs from 'fs'
import path from 'path'
import { fileURLToPath } from 'url'
import { EventEmitter } from 'events'
import { require, c, b4a, messages, caps, GENERATOR, hex, unhex, prngBytes } from './lib/common.mjs'
import { SCENARIOS, runScenario } from './lib/mux-peer.mjs'

const Protomux = require('protomux')
const here = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(here, '../fixtures/wire')
fs.mkdirSync(OUT, { recursive: true })
const generator = { ...GENERATOR, protomux: require('protomux/package.json').version }

function write(name, obj) {
  const file = path.join(OUT, name)
  fs.writeFileSync(file, JSON.stringify({ generator, ...obj }, null, 1) + '\n')
  console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes')
}

const wire = messages.wire
const TYPES = ['sync', 'request', 'cancel', 'data', 'noData', 'want', 'unwant', 'bitfield', 'range', 'extension']
const MAX = 2 ** 53 - 1
const bytes = (label, n) => prngBytes(b4a.from('wire-' + label), n)

// ---------------------------------------------------------------- JSON forms (see README)
const nodeJson = (n) => ({ index: n.index, size: n.size, hash: hex(n.hash) })
const idx = (x) => (x ? { index: x.index, nodes: x.nodes } : null)

function msgToJson(name, m) {
  switch (name) {
    case 'sync': {
      const { fork, length, remoteLength, canUpgrade, uploading, downloading, hasManifest, allowPush } = m
      return { fork, length, remoteLength, canUpgrade, uploading, downloading, hasManifest, allowPush }
    }
    case 'request':
      return {
        id: m.id, fork: m.fork, block: idx(m.block), hash: idx(m.hash),
        seek: m.seek ? { bytes: m.seek.bytes, padding: m.seek.padding } : null,
        upgrade: m.upgrade ? { start: m.upgrade.start, length: m.upgrade.length } : null,
        manifest: !!m.manifest, priority: m.priority || 0
      }
    case 'cancel': return { request: m.request }
    case 'data':
      return {
        request: m.request, fork: m.fork,
        block: m.block ? { index: m.block.index, value: hex(m.block.value), nodes: m.block.nodes.map(nodeJson) } : null,
        hash: m.hash ? { index: m.hash.index, nodes: m.hash.nodes.map(nodeJson) } : null,
        seek: m.seek ? { bytes: m.seek.bytes, nodes: m.seek.nodes.map(nodeJson) } : null,
        upgrade: m.upgrade
          ? {
              start: m.upgrade.start, length: m.upgrade.length, nodes: m.upgrade.nodes.map(nodeJson),
              additionalNodes: m.upgrade.additionalNodes.map(nodeJson), signature: hex(m.upgrade.signature)
            }
          : null,
        manifest: m.manifest ? hex(c.encode(messages.manifest, m.manifest)) : null
      }
    case 'noData': return { request: m.request, reason: m.reason || 0 }
    case 'want':
    case 'unwant': return { start: m.start, length: m.length, any: !!m.any }
    case 'bitfield': return { start: m.start, bitfield: Array.from(m.bitfield) }
    case 'range': return { drop: !!m.drop, start: m.start, length: m.length }
    case 'extension': return { name: m.name, message: hex(m.message) }
  }
  throw new Error('unknown message ' + name)
}

function tryDecode(name, buf) {
  try {
    return { ok: true, value: msgToJson(name, c.decode(wire[name], buf)) }
  } catch (err) {
    return { ok: false, error: err.message }
  }
}

// ---------------------------------------------------------------- message vectors
const node = (index, size, label) => ({ index, size, hash: bytes('node-' + label + '-' + index, 32) })
const nodes = (label, list) => list.map(([i, s]) => node(i, s, label))
const namespace = caps.DEFAULT_NAMESPACE
const signer = (n) => ({ signature: 'ed25519', namespace, publicKey: bytes('pk-' + n, 32) })
const manifests = {
  v1: { version: 1, hash: 'blake2b', allowPatch: false, quorum: 1, signers: [signer(1)], prologue: null, linked: null, userData: null },
  v2: {
    version: 2, hash: 'blake2b', allowPatch: true, quorum: 2, signers: [signer(1), signer(2), signer(3)],
    prologue: { hash: bytes('prologue', 32), length: 70000 }, linked: null, userData: null
  },
  v2linked: {
    version: 2, hash: 'blake2b', allowPatch: false, quorum: 1, signers: [signer(4)], prologue: null,
    linked: [bytes('linked-1', 32), bytes('linked-2', 32)], userData: b4a.from('user data')
  },
  v0: { version: 0, hash: 'blake2b', allowPatch: false, quorum: 1, signers: [signer(5)], prologue: null, linked: null, userData: null }
}
const upgrade = (label, sig) => ({
  start: 3, length: 70000, nodes: nodes(label + '-u', [[7, 4096], [23, 1 << 20]]),
  additionalNodes: nodes(label + '-a', [[95, 2 ** 40]]), signature: sig
})
const noneData = { block: null, hash: null, seek: null, upgrade: null, manifest: null }

const vectors = {
  sync: [
    { fork: 0, length: 0, remoteLength: 0, canUpgrade: false, uploading: false, downloading: false, hasManifest: false, allowPush: false },
    { fork: 1, length: 0xfd, remoteLength: 0xfc, canUpgrade: true, uploading: true, downloading: true, hasManifest: true, allowPush: true },
    { fork: MAX, length: 2 ** 32, remoteLength: 2 ** 32 - 1, canUpgrade: false, uploading: true, downloading: false, hasManifest: true, allowPush: false },
    { fork: 0, length: 0x10000, remoteLength: 0xffff, canUpgrade: true, uploading: false, downloading: true, hasManifest: false, allowPush: true }
  ],
  request: [
    { id: 0, fork: 0, block: null, hash: null, seek: null, upgrade: null, manifest: false, priority: 0 },
    { id: 1, fork: 0, block: { index: 5, nodes: 2 }, hash: null, seek: null, upgrade: null, manifest: false, priority: 0 },
    { id: 2, fork: 3, block: null, hash: { index: 0xfffe, nodes: 0 }, seek: null, upgrade: null, manifest: false, priority: 0 },
    { id: 3, fork: 0, block: null, hash: null, seek: { bytes: 2 ** 40, padding: 16 }, upgrade: null, manifest: false, priority: 0 },
    { id: 4, fork: 0, block: null, hash: null, seek: null, upgrade: { start: 10, length: 90 }, manifest: true, priority: 0 },
    { id: 5, fork: 0, block: null, hash: null, seek: null, upgrade: null, manifest: false, priority: 1 },
    { id: MAX, fork: MAX, block: { index: MAX, nodes: 63 }, hash: { index: 2 ** 33, nodes: 1 }, seek: { bytes: 0, padding: 0 }, upgrade: { start: 0, length: MAX }, manifest: true, priority: 2 ** 32 }
  ],
  cancel: [{ request: 0 }, { request: 1 }, { request: 0xfffff }, { request: MAX }],
  data: [
    { request: 0, fork: 0, ...noneData },
    { request: 1, fork: 0, ...noneData, block: { index: 0, value: b4a.alloc(0), nodes: [] } },
    { request: 2, fork: 0, ...noneData, block: { index: 7, value: bytes('block-1k', 1024), nodes: nodes('b', [[12, 1024], [9, 2048], [3, 4096]]) } },
    { request: 3, fork: 2, ...noneData, hash: { index: 9, nodes: nodes('h', [[9, 2048], [13, 2048]]) } },
    { request: 4, fork: 0, ...noneData, seek: { bytes: 5000, nodes: nodes('s', [[11, 100], [19, 300]]) } },
    { request: 5, fork: 0, ...noneData, upgrade: upgrade('sig', bytes('signature', 64)) },
    { request: 6, fork: 0, ...noneData, upgrade: upgrade('nosig', null) },
    { request: 7, fork: 0, ...noneData, upgrade: upgrade('m1', bytes('signature-m1', 64)), manifest: manifests.v1 },
    { request: 8, fork: 0, ...noneData, manifest: manifests.v2 },
    { request: 9, fork: 0, ...noneData, manifest: manifests.v2linked },
    { request: 10, fork: 0, ...noneData, manifest: manifests.v0 },
    {
      request: MAX, fork: MAX,
      block: { index: 2 ** 40, value: bytes('block-5', 5), nodes: nodes('all-b', [[2 ** 41, 5]]) },
      hash: { index: 2 ** 41 + 1, nodes: nodes('all-h', [[2 ** 41 + 1, 10]]) },
      seek: { bytes: 2 ** 45, nodes: [] },
      upgrade: upgrade('all', bytes('signature-all', 64)),
      manifest: manifests.v1
    }
  ],
  noData: [{ request: 1, reason: 0 }, { request: 2, reason: 1 }, { request: 3, reason: 2 }, { request: MAX, reason: 77 }],
  want: [{ start: 0, length: 0, any: false }, { start: 0, length: 2 ** 21, any: true }, { start: MAX, length: 0xfd, any: false }],
  unwant: [{ start: 0, length: 1, any: false }, { start: 2 ** 21, length: 2 ** 21, any: true }],
  bitfield: [
    { start: 0, bitfield: new Uint32Array([]) },
    { start: 32, bitfield: new Uint32Array([1]) },
    { start: 2 ** 32, bitfield: new Uint32Array([0, 0xffffffff, 0x12345678, 0x80000001]) },
    { start: 1024, bitfield: new Uint32Array(Array.from({ length: 300 }, (_, i) => (i * 2654435761) >>> 0)) }
  ],
  range: [
    { drop: false, start: 0, length: 1 },
    { drop: true, start: 5, length: 1 },
    { drop: false, start: 0, length: 0 },
    { drop: true, start: 0xfd, length: 2 ** 32 },
    { drop: false, start: MAX, length: MAX }
  ],
  extension: [
    { name: '', message: b4a.alloc(0) },
    { name: 'ping', message: b4a.from('pong') },
    { name: 'ext✓ünïcode', message: bytes('ext', 300) },
    { name: 'x'.repeat(300), message: b4a.alloc(0) }
  ]
}

const PREFIX_LIMIT = 200
const messageVectors = []
for (const name of TYPES) {
  for (const m of vectors[name]) {
    const buf = c.encode(wire[name], m)
    const entry = { type: TYPES.indexOf(name), name, value: msgToJson(name, m), hex: hex(buf) }
    const back = tryDecode(name, buf)
    if (!back.ok || JSON.stringify(back.value) !== JSON.stringify(entry.value)) throw new Error('JS round trip failed for ' + name)
    if (buf.byteLength <= PREFIX_LIMIT) {
      entry.acceptedPrefixes = []
      for (let n = 0; n < buf.byteLength; n++) {
        const r = tryDecode(name, buf.subarray(0, n))
        if (r.ok) entry.acceptedPrefixes.push({ len: n, value: r.value })
      }
    } else {
      entry.acceptedPrefixes = null
    }
    messageVectors.push(entry)
  }
}

// Inputs that are not what JS encodes, decoded (or refused) by JS.
const odd = [
  ['cancel', '04ff', 'trailing byte'],
  ['cancel', 'fd0500', 'non-minimal uint'],
  ['sync', 'ff01020304', 'unknown flag bits'],
  ['sync', '1f01020304aa', 'trailing byte'],
  ['request', '400102', 'unknown flag bit 64'],
  ['request', '2001020000', 'priority flag with priority 0'],
  ['noData', '07', 'no flags'],
  ['noData', '070100', 'reason flag with reason 0'],
  ['noData', '0702', 'flags without the reason bit'],
  ['noData', '07010203', 'trailing byte'],
  ['want', '050200', 'explicit zero flags'],
  ['want', '050202', 'unknown flag bit'],
  ['want', '05020301', 'trailing byte after flags'],
  ['unwant', '0502', 'no flags'],
  ['range', '000301', 'length 1 without the flag'],
  ['range', '020305', 'length flag with a trailing byte'],
  ['range', '04070809', 'unknown flag bit'],
  ['bitfield', '000100000000ff', 'trailing byte'],
  ['extension', '0161', 'no message'],
  ['data', '0000000000', 'no sections, trailing bytes'],
  ['data', '00fd0100fe00000100', 'non-minimal uints'],
  ['data', '0100000000000000', 'block with empty value, trailing byte'],
  // refused
  ['cancel', '', 'empty'],
  ['cancel', 'fd05', 'truncated uint'],
  ['sync', '00010203', 'truncated'],
  ['request', '01010203', 'block flag without block'],
  ['data', '10000000', 'manifest flag without manifest'],
  ['data', '100000' + '04', 'manifest version 4'],
  ['data', '100000' + '0100010000', 'manifest with unknown hash'],
  ['data', '010000' + '00' + '00' + 'fe01001000', 'node array above 0x100000'],
  ['data', '010000' + '00' + '00' + '02' + '0000' + '00'.repeat(32), 'node array short of its count'],
  ['data', '080000' + '0000' + '00' + '00' + '05', 'signature length past the end'],
  ['bitfield', '0002000000000000', 'words short of the count'],
  ['extension', '05616263', 'name past the end'],
  ['range', '0003', 'missing length'],
  ['want', '05', 'missing length']
]
const oddVectors = odd.map(([name, h, note]) => {
  const r = tryDecode(name, unhex(h))
  return { type: TYPES.indexOf(name), name, hex: h, note, ...(r.ok ? { value: r.value } : { error: r.error }) }
})

const handshakes = [
  { seeks: false, capability: bytes('cap-1', 32) },
  { seeks: true, capability: bytes('cap-2', 32) }
].map((m) => ({ value: { seeks: m.seeks, capability: hex(m.capability) }, hex: hex(c.encode(wire.handshake, m)) }))
const oddHandshakes = ['03' + hex(bytes('cap-3', 32)) + 'aabb', '00' + hex(bytes('cap-4', 31))].map((h) => {
  try {
    const m = c.decode(wire.handshake, unhex(h))
    return { hex: h, value: { seeks: m.seeks, capability: hex(m.capability) } }
  } catch (err) {
    return { hex: h, error: err.message }
  }
})

write('messages.json', { types: TYPES, messages: messageVectors, odd: oddVectors, handshakes, oddHandshakes })

// ---------------------------------------------------------------- protomux transcripts

const transcripts = []
for (const s of SCENARIOS) transcripts.push(await runScenario(s))
write('protomux.json', { scenarios: transcripts })
