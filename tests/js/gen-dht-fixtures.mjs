// Deterministic HyperDHT vectors from the pinned hyperdht package's own modules
// (lib/messages.js, lib/crypto.js, lib/constants.js, lib/noise-wrap.js, lib/secure-payload.js,
// lib/persistent.js).
// Usage: node tests/js/gen-dht-fixtures.mjs   (writes tests/fixtures/dht/*.json; byte-identical
// on every run)
//
// messages.json  every codec: values JS encodes ("encode" vectors, with every truncation JS still
//                accepts) and bytes JS is asked to decode ("decode" vectors: trailing bytes,
//                non-minimal ints, unknown flags, other versions, bit flips, garbage).
// crypto.json    namespaces, targets, announce / unannounce / mutable signatures from fixed seeds.
// noise.json     NoiseWrap transcripts (fixed static and ephemeral keys: the ephemeral is set on
//                `wrap.handshake.e` before the first send, as gen-noise-fixtures.mjs does).
// secure-payload.json  SecurePayload boxes with the nonce and local secret fed through a patched
//                sodium.randombytes_buf, opened again by JS; address tokens.
import fs from 'fs'
import path from 'path'
import { fileURLToPath } from 'url'
import {
  GENERATOR, CODECS, c, b4a, m, sodium, dhtCrypto, constants, NoiseWrap, SecurePayload, Persistent,
  hex, unhex, toJSON, judge, encode, seeded, bytes, withRandom, finalJSON
} from './lib/dht-codecs.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(here, '../fixtures/dht')
fs.mkdirSync(OUT, { recursive: true })

function write(name, obj) {
  const file = path.join(OUT, name)
  fs.writeFileSync(file, JSON.stringify({ generator: GENERATOR, ...obj }, null, 1) + '\n')
  console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes')
}

const a4 = (host, port) => ({ host, port })
const key = (label) => bytes(label, 32)
const sig = (label) => bytes(label, 64)
const ADDRS = [a4('127.0.0.1', 49737), a4('0.0.0.0', 0), a4('255.255.255.255', 65535), a4('10.1.2.3', 253), a4('88.99.3.86', 49737)]
const UINTS = [0, 1, 0xfc, 0xfd, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER]
const combos = (bits) => [...Array(1 << bits).keys()]

// ------------------------------------------------------------------ the values JS encodes
function values() {
  const v = {}
  const peer = (n, addrs) => ({ publicKey: key(`peer-${n}`), relayAddresses: addrs })
  v.ipv4 = ADDRS.map((a) => ({ ...a, family: 4 }))
  v.ipv6 = ['0:0:0:0:0:0:0:1', '::', '2001:db8::ff00:42:8329', 'fe80::1:2', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:7f00:1']
    .map((host, i) => ({ host, family: 6, port: [0, 1, 443, 49737, 65535, 253][i] }))
  v.peer = [peer(0, []), peer(1, [ADDRS[0]]), peer(2, ADDRS.slice(0, 3)), peer(3, [...Array(20)].map((_, i) => a4(`10.0.${i}.${255 - i}`, 1000 + i)))]
  v.peers = [[], [v.peer[1]], v.peer]
  v.lookupRawReply = [
    ...UINTS.map((bump, i) => ({ peers: v.peer.slice(0, i % 4), bump })),
    { peers: [], bump: 0 }
  ]
  v.announce = []
  for (const f of combos(4)) {
    for (const bump of f & 8 ? [1, 0xfd, Number.MAX_SAFE_INTEGER] : [0]) {
      v.announce.push({
        peer: f & 1 ? v.peer[f % 3] : null,
        refresh: f & 2 ? key(`refresh-${f}`) : null,
        signature: f & 4 ? sig(`sig-${f}`) : null,
        bump
      })
    }
  }
  const vals = [0, 1, 252, 253, 1000].map((n) => bytes(`value-${n}`, n))
  // One value long enough for a 5-byte length prefix.
  v.mutableSignable = [...vals, bytes('value-big', 65536 + 3)].map((value, i) => ({ seq: UINTS[i * 2 % UINTS.length], value }))
  v.mutablePutRequest = vals.map((value, i) => ({ publicKey: key(`mp-${i}`), seq: UINTS[(i * 3) % UINTS.length], value, signature: sig(`mp-sig-${i}`) }))
  v.mutableGetResponse = vals.map((value, i) => ({ seq: UINTS[(i * 5) % UINTS.length], value, signature: sig(`mg-sig-${i}`) }))
  v.handshake = []
  for (let mode = 0; mode <= 4; mode++) {
    for (const f of combos(2)) {
      v.handshake.push({
        mode,
        noise: bytes(`noise-${mode}-${f}`, [0, 116, 300][(mode + f) % 3]),
        peerAddress: f & 1 ? ADDRS[mode] : null,
        relayAddress: f & 2 ? ADDRS[(mode + 1) % ADDRS.length] : null
      })
    }
  }
  v.holepunch = []
  for (let mode = 0; mode <= 4; mode++) {
    for (const pa of [null, ADDRS[mode]]) {
      v.holepunch.push({ mode, id: UINTS[(mode * 2 + (pa ? 1 : 0)) % UINTS.length], payload: bytes(`hp-${mode}`, [0, 41, 120][mode % 3]), peerAddress: pa })
    }
  }
  v.noisePayload = [
    // What a JS client sends (connect.js connectThroughNode).
    { error: 0, firewall: 1, holepunch: null, addresses4: [ADDRS[4], a4('192.168.1.20', 49737)], addresses6: [], udx: { reusableSocket: false, id: 0x1234abcd, seq: 0 }, secretStream: {}, relayThrough: null },
    // What a JS server sends behind a NAT (server.js _addHandshake).
    { error: 0, firewall: 0, holepunch: { id: 3, relays: [{ relayAddress: ADDRS[0], peerAddress: ADDRS[4] }, { relayAddress: ADDRS[3], peerAddress: ADDRS[2] }] }, addresses4: [], addresses6: null, udx: { reusableSocket: true, id: 0xffffffff, seq: 0 }, secretStream: {}, relayThrough: null, relayAddresses: [ADDRS[0], ADDRS[3]] },
    // A rejection.
    { error: constants.ERROR.ABORTED, firewall: 2, holepunch: null, addresses4: [], addresses6: [], udx: { reusableSocket: false, id: 0, seq: 0 }, secretStream: {}, relayThrough: null },
    { error: 0, firewall: 3, holepunch: { id: 0, relays: [] }, addresses4: [], addresses6: [a4('2001:db8::1', 5), a4('::1', 65535)], udx: null, secretStream: null, relayThrough: { publicKey: key('relay-pk'), token: key('relay-token') }, relayAddresses: [] }
  ]
  for (const f of combos(7)) {
    v.noisePayload.push({
      error: f % 4,
      firewall: (f >> 2) % 4,
      holepunch: f & 1 ? { id: f, relays: [{ relayAddress: ADDRS[f % 5], peerAddress: ADDRS[(f + 1) % 5] }] } : null,
      addresses4: f & 2 ? ADDRS.slice(0, 1 + (f % 3)) : [],
      addresses6: f & 4 ? [a4('fe80::' + f.toString(16), f)] : [],
      udx: f & 8 ? { reusableSocket: (f & 16) !== 0, id: UINTS[f % UINTS.length], seq: UINTS[(f + 3) % UINTS.length] } : null,
      secretStream: f & 16 ? {} : null,
      relayThrough: f & 32 ? { publicKey: key(`rt-${f}`), token: key(`rtt-${f}`) } : null,
      relayAddresses: f & 64 ? ADDRS.slice(0, f % 3) : null
    })
  }
  v.holepunchPayload = []
  for (const f of combos(6)) {
    v.holepunchPayload.push({
      error: f % 4,
      firewall: (f >> 1) % 4,
      round: f % 7,
      connected: (f & 1) !== 0,
      punching: (f & 2) !== 0,
      addresses: f & 4 ? ADDRS.slice(0, f % 4) : null,
      remoteAddress: f & 8 ? ADDRS[f % 5] : null,
      token: f & 16 ? key(`tok-${f}`) : null,
      remoteToken: f & 32 ? key(`rtok-${f}`) : null
    })
  }
  v.pluginRequest = [
    { plugin: '', version: 0, command: 0, value: null },
    { plugin: 'a', version: 1, command: 2, value: b4a.alloc(0) },
    { plugin: 'my-plugin', version: 253, command: 0xffffffff, value: bytes('plugin-value', 300) },
    { plugin: 'plügïn-ünïcödé-🚀-日本語', version: Number.MAX_SAFE_INTEGER, command: 7, value: b4a.from([0]) },
    { plugin: 'x'.repeat(300), version: 1, command: 1, value: null }
  ]
  return v
}

// ------------------------------------------------------------------ bytes JS is asked to decode
function prng(label) {
  let buf = bytes(label, 4096)
  let off = 0
  return (n) => {
    if (off + n > buf.byteLength) {
      buf = bytes(label + off, 4096)
      off = 0
    }
    return buf.subarray(off, (off += n))
  }
}

const U = (...parts) => b4a.concat(parts.map((p) => (typeof p === 'number' ? b4a.from([p]) : p)))

function handMade(codec) {
  const k = key('hand')
  const max = b4a.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00]) // 2^53 - 1
  const over = b4a.from([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00]) // 2^53
  const big = U(0xfe, b4a.from([0x01, 0x00, 0x10, 0x00])) // count 0x100001
  const limit = U(0xfe, b4a.from([0x00, 0x00, 0x10, 0x00])) // count 0x100000
  const list = {
    ipv4: [b4a.alloc(6), b4a.from('01020304050607', 'hex')],
    ipv6: [b4a.alloc(18), b4a.alloc(19, 0xab)],
    peer: [U(k, 0), U(k, 0, 0xff), U(k, big), U(k, limit), U(k, 1), U(k, 0xfd, b4a.from([1, 0]), b4a.alloc(6))],
    peers: [U(0), U(0xfd, b4a.from([0, 0])), U(2, k, 0), U(big), U(limit, k, 0)],
    lookupRawReply: [U(0), U(0, 0), U(0, 0xfd), U(0, 0xff, max), U(0, 0xff, over), U(1, k, 0), U(1, k, 0, 5, 0xff), U(0, 0xfe, b4a.from([5, 0, 0, 0]))],
    announce: [U(0), U(0xf0), U(0xfd, b4a.from([0x80, 0])), U(8), U(8, 0), U(2, k), U(4, k), U(1, k, 0, 9), U(0xff, max, 0), U(0xff, over)],
    mutableSignable: [U(0, 0), U(0xff, max, 1, 7), U(0xff, over, 0), U(5, 0xfe, b4a.from([0xff, 0xff, 0xff, 0x7f]))],
    mutablePutRequest: [U(k, 0, 0, sig('x')), U(k, 0, 0, sig('x'), 1, 2, 3), U(k, 0, 0, sig('x').subarray(0, 63))],
    mutableGetResponse: [U(0, 0, sig('y')), U(0, 3, 1, 2, 3, sig('y')), U(0, 1, 9)],
    handshake: [U(0, 0, 0), U(3, 4, 0, b4a.alloc(12)), U(3, 4, 0, b4a.alloc(11)), U(0xfc, 7, 1, 9), U(0, 0xfe, b4a.from([4, 0, 0, 0]), 0), U(1, 0, 0)],
    holepunch: [U(0, 0, 0, 0), U(1, 1, 1, 0, b4a.alloc(6)), U(1, 1, 1, 0), U(0, 4, 0xff, max, 0), U(0xfe, 0, 0, 0)],
    noisePayload: [
      U(0), U(2), U(2, 0xff), U(0xfd, b4a.from([1, 0]), 0, 0, 0), U(1, 0, 0, 0), U(1, 0x80, 0, 0), U(1, 0, 0xfd, b4a.from([0x10, 0x27]), 0xfe, b4a.from([1, 2, 3, 4])),
      U(1, 8, 0, 0, 7, 6, 1, 2), U(1, 32, 0, 0, 9, 9, k, k), U(1, 16, 0, 0, 5), U(1, 2, 0, 0, 0), U(1, 4, 0, 0, 0), U(1, 64, 0, 0, 0),
      U(1, 1, 0, 0, 1, big), U(1, 2, 0, 0, limit), U(1, 0x7f, 0, 0), U(1, 0), U(1)
    ],
    holepunchPayload: [U(0, 0, 0, 0), U(0xc0, 0, 0, 0), U(4, 0, 0, 0, 0), U(0, 0xfd, b4a.from([0, 1]), 0, 0xff, max), U(16, 0, 0, 0, k.subarray(0, 31)), U(0, 0, 0)],
    pluginRequest: [
      U(0, 0, 0, 0), U(0, 0, 0, 1, 0), U(0, 0, 0, 2), U(0, 0, 0, 1),
      U(5, b4a.from([0x61, 0xff, 0x62, 0xe2, 0x82]), 1, 2, 0),
      U(4, b4a.from([0xf0, 0x9f, 0x9a, 0x80]), 1, 1, 0),
      U(6, b4a.from([0xed, 0xa0, 0x80, 0xc0, 0xaf, 0x80]), 0, 0, 0),
      U(3, b4a.from([0xef, 0xbf, 0xbd]), 0, 0, 0)
    ]
  }
  return list[codec]
}

function decodeVectors(codec, encoded) {
  const out = []
  const add = (name, b) => out.push({ name, hex: hex(b), ...judge(codec, b) })
  handMade(codec).forEach((b, i) => add(`hand-${i}`, b))
  // Trailing bytes after a value.
  encoded.filter((b) => b.byteLength <= 400).slice(0, 6).forEach((b, i) => add(`trailing-${i}`, U(b, 0xff, 0x00, 0xfd)))
  // Every byte of a few values flipped (counts become huge, flags change, versions change).
  encoded.filter((b) => b.byteLength <= 160).slice(0, 3).forEach((b, i) => {
    for (let j = 0; j < Math.min(b.byteLength, 48); j++) {
      const x = b4a.from(b)
      x[j] ^= 0xff
      add(`flip-${i}-${j}`, x)
    }
  })
  // Garbage.
  const rnd = prng(`garbage-${codec}`)
  for (let i = 0; i < 60; i++) add(`garbage-${i}`, b4a.from(rnd(i % 70)))
  // Garbage behind plausible prefixes: small flags, valid version.
  for (let i = 0; i < 30; i++) add(`prefixed-garbage-${i}`, U(i % 3 === 0 ? 1 : i & 0x7f, b4a.from(rnd(10 + i * 3))))
  return out
}

function messageVectors() {
  const v = values()
  const codecs = {}
  for (const codec of Object.keys(CODECS)) {
    const encoded = []
    const enc = v[codec].map((value, i) => {
      const b = encode(codec, value)
      encoded.push(b)
      const j = judge(codec, b)
      if (j.error) throw new Error(`${codec} ${i}: JS does not decode its own encoding: ${j.error}`)
      if (j.reencodedIfDifferent !== null) throw new Error(`${codec} ${i}: JS re-encodes differently`)
      // Truncations: all are refused except the ones listed.
      const acceptedPrefixes = []
      for (let n = 0; n < b.byteLength; n++) {
        const p = judge(codec, b.subarray(0, n))
        if (!p.error) acceptedPrefixes.push({ length: n, decoded: p.decoded, reencodedIfDifferent: p.reencodedIfDifferent })
      }
      return { name: `encode-${i}`, hex: hex(b), decoded: j.decoded, reencodedIfDifferent: null, error: null, acceptedPrefixes }
    })
    codecs[codec] = { encode: enc, decode: decodeVectors(codec, encoded) }
  }
  return codecs
}

// ------------------------------------------------------------------ crypto.json
function cryptoVectors() {
  const ns = {}
  for (const [name, value] of Object.entries(constants.NS)) ns[name] = hex(value)
  const hashes = [0, 1, 32, 64, 200].map((n) => {
    const data = bytes(`hash-${n}`, n)
    return { data: hex(data), hash: hex(dhtCrypto.hash(data)) }
  })
  const records = []
  const peers = values().peer
  for (let i = 0; i < 8; i++) {
    const seed = b4a.alloc(32, 40 + i)
    const kp = dhtCrypto.createKeyPair(seed)
    const target = i % 2 ? dhtCrypto.hash(kp.publicKey) : key(`topic-${i}`)
    const nodeId = key(`node-${i}`)
    const token = key(`token-${i}`)
    const peer = { publicKey: kp.publicKey, relayAddresses: peers[i % 4].relayAddresses }
    const refresh = i % 3 === 0 ? key(`refresh-${i}`) : null
    const ann = { peer, refresh, signature: null }
    records.push({
      seedByte: 40 + i,
      publicKey: hex(kp.publicKey),
      target: hex(target),
      nodeId: hex(nodeId),
      token: hex(token),
      peer: toJSON(peer),
      refresh: hex(refresh),
      announceSignature: hex(Persistent.signAnnounce(target, token, nodeId, ann, kp)),
      unannounceSignature: hex(Persistent.signUnannounce(target, token, nodeId, ann, kp))
    })
  }
  const mutables = [0, 1, 253, Number.MAX_SAFE_INTEGER].map((seq, i) => {
    const kp = dhtCrypto.createKeyPair(b4a.alloc(32, 60 + i))
    const value = bytes(`mutable-${i}`, [0, 5, 300, 1000][i])
    const signature = Persistent.signMutable(seq, value, kp)
    if (!Persistent.verifyMutable(signature, seq, value, kp.publicKey)) throw new Error('verifyMutable')
    return { seedByte: 60 + i, publicKey: hex(kp.publicKey), seq, value: hex(value), signature: hex(signature) }
  })
  return { namespaces: ns, hashes, records, mutables }
}

// ------------------------------------------------------------------ noise.json
function transcript({ name, client, server, clientPayload, serverPayload, rawClientPayload }) {
  const ck = seeded(client.static)
  const sk = seeded(server.static)
  const i = new NoiseWrap(ck, sk.publicKey)
  const r = new NoiseWrap(sk, null)
  i.handshake.e = seeded(client.ephemeral)
  r.handshake.e = seeded(server.ephemeral)
  const clientBytes = rawClientPayload || c.encode(m.noisePayload, clientPayload)
  const msg1 = b4a.from(rawClientPayload ? i.handshake.send(rawClientPayload) : i.send(clientPayload))
  const out = {
    name,
    client: { staticSeedByte: client.static, ephemeralSeedByte: client.ephemeral, publicKey: hex(ck.publicKey) },
    server: { staticSeedByte: server.static, ephemeralSeedByte: server.ephemeral, publicKey: hex(sk.publicKey) },
    clientPayload: hex(clientBytes),
    msg1: hex(msg1)
  }
  let received
  try {
    received = r.recv(b4a.from(msg1))
  } catch (err) {
    return { ...out, serverError: err.message }
  }
  out.serverReceived = toJSON(received)
  out.serverPayload = hex(c.encode(m.noisePayload, serverPayload))
  const msg2 = b4a.from(r.send(serverPayload))
  out.msg2 = hex(msg2)
  out.clientReceived = toJSON(i.recv(b4a.from(msg2)))
  out.final = { client: finalJSON(i.final()), server: finalJSON(r.final()) }
  return out
}

function noiseVectors() {
  const v = values()
  const p = v.noisePayload
  return [
    transcript({ name: 'client-server', client: { static: 1, ephemeral: 11 }, server: { static: 2, ephemeral: 12 }, clientPayload: p[0], serverPayload: p[1] }),
    transcript({ name: 'rejection', client: { static: 3, ephemeral: 13 }, server: { static: 4, ephemeral: 14 }, clientPayload: p[0], serverPayload: p[2] }),
    transcript({ name: 'everything', client: { static: 5, ephemeral: 15 }, server: { static: 6, ephemeral: 16 }, clientPayload: p[p.length - 1], serverPayload: p[3] }),
    transcript({ name: 'minimal', client: { static: 7, ephemeral: 17 }, server: { static: 8, ephemeral: 18 }, clientPayload: p[4], serverPayload: p[4] }),
    // A client speaking payload version 2: JS decodes the defaults and answers.
    transcript({ name: 'version-2', client: { static: 9, ephemeral: 19 }, server: { static: 10, ephemeral: 20 }, rawClientPayload: b4a.from([2, 0xff, 0xff]), serverPayload: p[2] }),
    // A first message whose payload is not a noisePayload: JS recv throws.
    transcript({ name: 'bad-payload', client: { static: 9, ephemeral: 21 }, server: { static: 10, ephemeral: 22 }, rawClientPayload: b4a.from([1, 0x10]) })
  ]
}

// ------------------------------------------------------------------ secure-payload.json
function secureVectors() {
  const payloads = values().holepunchPayload.filter((_, i) => i % 7 === 0)
  const boxes = payloads.map((payload, i) => {
    const secret = key(`holepunch-secret-${i}`)
    const local = key(`local-secret-${i}`)
    const nonce = bytes(`nonce-${i}`, 24)
    const sp = withRandom(local, () => new SecurePayload(secret))
    const sealed = withRandom(nonce, () => sp.encrypt(payload))
    // Check the layout against libsodium directly, and that JS opens it again.
    const plain = c.encode(m.holepunchPayload, payload)
    const direct = b4a.alloc(plain.byteLength + 16)
    sodium.crypto_secretbox_easy(direct, plain, nonce, secret)
    if (!b4a.equals(sealed, b4a.concat([nonce, direct]))) throw new Error('secretbox layout')
    const opened = new SecurePayload(secret).decrypt(b4a.from(sealed))
    if (!opened) throw new Error('JS cannot open its own box')
    const hosts = ['127.0.0.1', '10.0.0.1', '255.255.255.255', '88.99.3.86']
    return {
      secret: hex(secret),
      localSecret: hex(local),
      nonce: hex(nonce),
      payload: toJSON(payload),
      plaintext: hex(plain),
      sealed: hex(sealed),
      opened: toJSON(opened),
      tokens: hosts.map((host) => ({ host, token: hex(sp.token({ host, port: 1 })) }))
    }
  })
  // What JS refuses to open (null) and what it opens.
  const secret = key('holepunch-secret-0')
  const sp = new SecurePayload(secret)
  const good = b4a.from(boxes[0].sealed, 'hex')
  const seal = (plain, nonce) => {
    const out = b4a.alloc(plain.byteLength + 16)
    sodium.crypto_secretbox_easy(out, plain, nonce, secret)
    return b4a.concat([nonce, out])
  }
  const nonce = bytes('nonce-x', 24)
  const cases = [
    ['empty', b4a.alloc(0)],
    ['40-bytes', good.subarray(0, 40)],
    ['one-byte-short', good.subarray(0, good.byteLength - 1)],
    ['flipped-mac', (() => { const x = b4a.from(good); x[30] ^= 1; return x })()],
    ['flipped-ciphertext', (() => { const x = b4a.from(good); x[x.byteLength - 1] ^= 1; return x })()],
    ['empty-plaintext', seal(b4a.alloc(0), nonce)],
    ['one-byte-plaintext', seal(b4a.from([0]), nonce)],
    ['not-a-payload', seal(b4a.from([16, 0, 0, 0, 1]), nonce)],
    ['trailing-in-plaintext', seal(b4a.from([0, 0, 0, 0, 9, 9, 9]), nonce)],
    ['four-zeros', seal(b4a.from([0, 0, 0, 0]), nonce)]
  ].map(([name, b]) => ({ name, sealed: hex(b), opened: toJSON(sp.decrypt(b4a.from(b))) }))
  return { boxes, opens: cases, openSecret: hex(secret) }
}

write('messages.json', { codecs: messageVectors() })
write('crypto.json', cryptoVectors())
write('noise.json', { transcripts: noiseVectors() })
write('secure-payload.json', secureVectors())
