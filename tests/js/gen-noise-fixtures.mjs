// Deterministic Noise / secret-stream vectors from the pinned JS stack (noise-handshake,
// noise-curve-ed, sodium-secretstream, @hyperswarm/secret-stream).
// Usage: node tests/js/gen-noise-fixtures.mjs   (writes tests/fixtures/noise/*.json)
//
// Static and ephemeral keys are Ed25519 key pairs from fixed seeds (32 bytes of one value);
// the ephemeral key is injected by setting the handshake's `e` before its first `send`
// (noise.js only generates one when `e === null`). The secretstream header is fixed too (see
// `secretstream()`), so every run writes byte-identical files.
import fs from 'fs'
import path from 'path'
import { createRequire } from 'module'
import { fileURLToPath } from 'url'
import { prngBytes } from './lib/common.mjs'

const require = createRequire(import.meta.url)
const Noise = require('noise-handshake')
const curve = require('noise-curve-ed')
const sodium = require('sodium-native')
const b4a = require('b4a')
const hcrypto = require('hypercore-crypto')
const SecretStream = require('@hyperswarm/secret-stream')
const { Push, Pull } = require('sodium-secretstream')

const here = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(here, '../fixtures/noise')
fs.mkdirSync(OUT, { recursive: true })

const version = (name) => require(`${name}/package.json`).version
const GENERATOR = {
  'noise-handshake': version('noise-handshake'),
  'noise-curve-ed': version('noise-curve-ed'),
  'sodium-native': version('sodium-native'),
  'sodium-secretstream': version('sodium-secretstream'),
  '@hyperswarm/secret-stream': version('@hyperswarm/secret-stream'),
  node: process.version
}

const hex = (b) => (b == null ? null : b4a.toString(b, 'hex'))
const unhex = (s) => b4a.from(s, 'hex')
const seeded = (n) => curve.generateKeyPair(b4a.alloc(32, n))
// Deterministic filler: BLAKE2b-256(label ‖ u32le(i)) blocks, truncated.
const bytes = (label, size) => prngBytes(b4a.from(label), size)

function blake2b(b) {
  const h = b4a.alloc(32)
  sodium.crypto_generichash(h, b)
  return hex(h)
}

function write(name, obj) {
  const file = path.join(OUT, name)
  fs.writeFileSync(file, JSON.stringify({ generator: GENERATOR, ...obj }, null, 1) + '\n')
  console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes')
}

// ---------------------------------------------------------------- handshakes.json
// Payloads are `bytes(label, size)`; the hex is kept only when short.
function handshake({ name, pattern, prologue, initiator, responder, payloads: specs }) {
  const payloads = specs.map(([label, size]) => bytes(label, size))
  const si = seeded(initiator.static)
  const sr = seeded(responder.static)
  const i = new Noise(pattern, true, si, { curve })
  const r = new Noise(pattern, false, sr, { curve })
  i.initialise(prologue, pattern === 'IK' ? sr.publicKey : undefined)
  r.initialise(prologue)
  i.e = seeded(initiator.ephemeral)
  r.e = seeded(responder.ephemeral)
  const ephemeral = { initiator: hex(i.e.publicKey), responder: hex(r.e.publicKey) }

  const messages = []
  payloads.forEach((payload, n) => {
    const [from, to] = n % 2 === 0 ? [i, r] : [r, i]
    const message = b4a.from(from.send(payload))
    // A copy: on completion noise.js zeroes `re`, a view into the received message.
    const received = to.recv(b4a.from(message))
    if (!b4a.equals(received, payload)) throw new Error('payload mismatch')
    const [label, size] = specs[n]
    const big = size > 4096
    messages.push({
      from: n % 2 === 0 ? 'initiator' : 'responder',
      payloadLabel: label,
      payloadSize: size,
      payload: big ? null : hex(payload),
      message: big ? null : hex(message),
      messageSize: message.byteLength,
      messageBlake2b: blake2b(message)
    })
  })
  if (!i.complete || !r.complete) throw new Error('incomplete')
  const side = (s) => ({ tx: hex(s.tx), rx: hex(s.rx), hash: hex(s.hash), remotePublicKey: hex(s.rs) })
  return {
    name,
    pattern,
    protocol: b4a.toString(i.protocol),
    prologue: hex(prologue),
    initiator: { staticSeedByte: initiator.static, publicKey: hex(si.publicKey), ephemeralSeedByte: initiator.ephemeral, ephemeralPublicKey: ephemeral.initiator },
    responder: { staticSeedByte: responder.static, publicKey: hex(sr.publicKey), ephemeralSeedByte: responder.ephemeral, ephemeralPublicKey: ephemeral.responder },
    messages,
    result: { initiator: side(i), responder: side(r) }
  }
}

const EMPTY = b4a.alloc(0)
const E = ['', 0]
const handshakes = [
  { name: 'xx-secret-stream', pattern: 'XX', prologue: EMPTY, initiator: { static: 1, ephemeral: 11 }, responder: { static: 2, ephemeral: 12 }, payloads: [E, E, E] },
  { name: 'xx-payloads', pattern: 'XX', prologue: b4a.from('hyperwasm prologue'), initiator: { static: 3, ephemeral: 13 }, responder: { static: 4, ephemeral: 14 }, payloads: [['p0', 5], ['p1', 100], ['p2', 1000]] },
  { name: 'ik-empty', pattern: 'IK', prologue: EMPTY, initiator: { static: 5, ephemeral: 15 }, responder: { static: 6, ephemeral: 16 }, payloads: [E, E] },
  { name: 'ik-dht-like', pattern: 'IK', prologue: bytes('dht-prologue', 32), initiator: { static: 7, ephemeral: 17 }, responder: { static: 8, ephemeral: 18 }, payloads: [['ik0', 123], ['ik1', 77]] },
  { name: 'ik-large-payload', pattern: 'IK', prologue: EMPTY, initiator: { static: 9, ephemeral: 19 }, responder: { static: 10, ephemeral: 20 }, payloads: [['big0', 60000], ['big1', 1]] }
].map(handshake)

// Where JS refuses a handshake: the responder gets a first message whose ephemeral key is
// bad (XX fails in its `send`, IK already in `recv`), or a tampered message.
function failures() {
  const out = []
  const points = dhPoints()
  for (const p of points.filter((p) => p.expect === 'reject')) {
    for (const pattern of ['XX', 'IK']) {
      const sr = seeded(2)
      const r = new Noise(pattern, false, sr, { curve })
      r.initialise(EMPTY)
      r.e = seeded(12)
      let message
      if (pattern === 'XX') {
        message = unhex(p.point)
      } else {
        const i = new Noise('IK', true, seeded(1), { curve })
        i.initialise(EMPTY, sr.publicKey)
        i.e = seeded(11)
        message = b4a.from(i.send(EMPTY))
        unhex(p.point).copy(message, 0)
      }
      let failedAt = null
      try {
        r.recv(message)
        failedAt = 'send'
        r.send(EMPTY)
        failedAt = null
      } catch {
        failedAt = failedAt || 'recv'
      }
      out.push({ pattern, case: p.name, message: hex(message), failedAt })
    }
  }
  return out
}

// ---------------------------------------------------------------- dh.json
function dhPoints() {
  const valid = seeded(2).publicKey
  const order8 = unhex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')
  const withTorsion = b4a.alloc(32)
  sodium.crypto_core_ed25519_add(withTorsion, valid, order8)
  const negZero = b4a.alloc(32)
  negZero[0] = 1
  negZero[31] = 0x80
  const nonCanonical = unhex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
  const yIsP1 = unhex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
  const two = b4a.alloc(32)
  two[0] = 2
  const list = [
    ['valid', valid],
    ['valid-2', seeded(3).publicKey],
    ['identity', unhex('0100000000000000000000000000000000000000000000000000000000000000')],
    ['order-2', unhex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
    ['order-4', b4a.alloc(32)],
    ['order-4-neg', unhex('0000000000000000000000000000000000000000000000000000000000000080')],
    ['order-8', order8],
    ['order-8-b', unhex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')],
    ['valid-plus-torsion', withTorsion],
    ['negative-zero', negZero],
    ['y-equals-p', nonCanonical],
    ['y-equals-p-plus-1', yIsP1],
    ['not-on-curve', two],
    ['all-ff', b4a.alloc(32, 0xff)]
  ]
  const local = seeded(1)
  return list.map(([name, point]) => {
    let shared = null
    try {
      shared = hex(curve.dh(point, local))
    } catch {}
    return { name, point: hex(point), shared, expect: shared ? 'accept' : 'reject' }
  })
}

// ---------------------------------------------------------------- secretstream.json
function secretstream() {
  const key = bytes('secretstream-key', 32)
  // libsodium's init_push draws a random header; init_pull with a fixed header builds the
  // very state init_push would have built with it, so the push stream is deterministic.
  const header = hex(bytes('secretstream-header', 24))
  const push = new Push(key)
  sodium.crypto_secretstream_xchacha20poly1305_init_pull(push.state, unhex(header), key)
  const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 1000, 4096, 65536 + 7]
  const ciphertexts = []
  const messages = sizes.map((n) => {
    const plain = bytes(`ss-${n}`, n)
    const ciphertext = b4a.from(push.next(plain))
    ciphertexts.push(ciphertext)
    const big = n > 4096
    return { label: `ss-${n}`, size: n, plaintext: big ? null : hex(plain), ciphertext: big ? null : hex(ciphertext), ciphertextBlake2b: blake2b(ciphertext) }
  })
  // Sanity check of the vectors: JS pulls its own stream back.
  const pull = new Pull(key)
  pull.init(unhex(header))
  messages.forEach((m, n) => {
    if (!b4a.equals(pull.next(ciphertexts[n]), bytes(m.label, m.size))) throw new Error('pull mismatch')
  })
  // Poly1305 (crypto_onetimeauth): every length 0..80 and carry/reduction edge cases.
  const poly1305 = []
  const auth = (name, key, message) => {
    const tag = b4a.alloc(16)
    sodium.crypto_onetimeauth(tag, message, key)
    poly1305.push({ name, key: hex(key), message: hex(message), tag: hex(tag) })
  }
  for (let n = 0; n <= 80; n++) auth(`len-${n}`, bytes(`poly-key-${n}`, 32), bytes(`poly-msg-${n}`, n))
  const rs = { 'r=1': unhex('01'.padEnd(64, '0')), 'r=2': unhex('02'.padEnd(64, '0')), 'r=max': unhex('ffffff0ffcffff0ffcffff0ffcffff0f'.padEnd(64, '0')) }
  const sMax = (k) => { const c = b4a.from(k); c.fill(0xff, 16); return c }
  const msgs = {
    ff16: b4a.alloc(16, 0xff),
    ff64: b4a.alloc(64, 0xff),
    ff1000: b4a.alloc(1000, 0xff),
    'near-p': unhex('fffffffffffffffffffffffffffffffff0ffffffffffffffffffffffffffffff11000000000000000000000000000000'),
    'p-minus': unhex('fbfefefefefefefefefefefefefefefe01010101010101010101010101010101'),
    fd: unhex('fdffffffffffffffffffffffffffffff'),
    'h-big': unhex('e33594d7505e43b900000000000000003394d7505e4379cd01000000000000000000000000000000000000000000000001000000000000000000000000000000')
  }
  for (const [rn, k] of Object.entries(rs)) {
    for (const [mn, m] of Object.entries(msgs)) {
      auth(`${rn} ${mn}`, k, m)
      auth(`${rn} s=max ${mn}`, sMax(k), m)
    }
  }
  auth('rfc8439-2.5.2', unhex('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b'), b4a.from('Cryptographic Forum Research Group'))

  const handshakeHash = bytes('handshake-hash', 64)
  const [NS_INITIATOR, NS_RESPONDER, NS_SEND] = hcrypto.namespace('hyperswarm/secret-stream', 3)
  return {
    filler: 'bytes(label, n) = BLAKE2b-256(label ‖ u32le(0)) ‖ BLAKE2b-256(label ‖ u32le(1)) ‖ … cut to n',
    key: hex(key),
    header,
    messages,
    poly1305,
    streamId: {
      handshakeHash: hex(handshakeHash),
      initiator: hex(SecretStream.id(handshakeHash, true)),
      responder: hex(SecretStream.id(handshakeHash, false)),
      namespaces: { NS_INITIATOR: hex(NS_INITIATOR), NS_RESPONDER: hex(NS_RESPONDER), NS_SEND: hex(NS_SEND) }
    }
  }
}

write('handshakes.json', { handshakes, failures: failures() })
write('dh.json', { localSeedByte: 1, points: dhPoints() })
write('secretstream.json', secretstream())
