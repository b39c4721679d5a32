// Deterministic fixture generator for hyperwasm (JS hypercore = oracle).
// Usage: node tests/js/gen-fixtures.mjs   (writes tests/fixtures/hypercore/*.json)
import fs from 'fs'
import path from 'path'
import { fileURLToPath } from 'url'
import {
  require, Hypercore, hcrypto, c, sodium, b4a, MerkleTree, messages, Verifier, caps,
  GENERATOR, hex, unhex, prngBytes, blake2b, blockToJson, nodeToJson, encodeManifest,
  proofToJson, proofFromJson, dataWire, requestWire, openWriter, openReader, generateProof,
  checkProof, rootsJson, signableFor, cleanupTmp, safeClose
} from './lib/common.mjs'

const flat = require('flat-tree')
const here = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(here, '../fixtures/hypercore')
fs.mkdirSync(OUT, { recursive: true })

function write(name, obj) {
  const file = path.join(OUT, name)
  fs.writeFileSync(file, JSON.stringify({ generator: GENERATOR, ...obj }, null, 1) + '\n')
  console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes')
}

const seedKeyPair = (n) => hcrypto.keyPair(b4a.alloc(32, n))

// ---------------------------------------------------------------- crypto.json
function genCrypto() {
  const enc = (codec, v) => hex(c.encode(codec, v))
  const uints = [0, 1, 0xfc, 0xfd, 0xfe, 0xff, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]
  const compactEncoding = {
    uint: uints.map((v) => ({ value: v, hex: enc(c.uint, v) })),
    uint64: [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1].map((v) => ({ value: v, hex: enc(c.uint64, v) })),
    buffer: [b4a.alloc(0), b4a.from('hello'), prngBytes(b4a.from('ce-buffer'), 300)].map((b) => ({ value: hex(b), hex: enc(c.buffer, b) })),
    optionalBuffer: [{ value: null, hex: enc(c.optionalBuffer, null) }, { value: '0102', hex: enc(c.optionalBuffer, b4a.from('0102', 'hex')) }],
    string: ['', 'hypercore', 'héllo wörld ✓'].map((s) => ({ value: s, hex: enc(c.string, s) })),
    uint32array: [[], [1], [0, 0xffffffff, 0x12345678]].map((a) => ({ value: a, hex: enc(c.uint32array, new Uint32Array(a)) })),
    arrayOfUint: [[], [1, 2, 3], [0xfd, 0x10000]].map((a) => ({ value: a, hex: enc(c.array(c.uint), a) })),
    arrayOfString: [['a', 'bc', '']].map((a) => ({ value: a, hex: enc(c.array(c.string), a) })),
    bool: [false, true].map((v) => ({ value: v, hex: enc(c.bool, v) }))
  }
  // uint values > 2^53-1 throw in compact-encoding 3.2
  let tooBig = null
  try { c.encode(c.uint, 2 ** 53) } catch (e) { tooBig = e.message }
  compactEncoding.uintOverflow = { value: '2^53', error: tooBig }

  const msg = b4a.from('hello world')
  const key32 = b4a.alloc(32, 7)
  const batchOut = b4a.alloc(32)
  sodium.crypto_generichash_batch(batchOut, [b4a.from('hello'), b4a.from(' '), b4a.from('world')])
  const batchKeyed = b4a.alloc(32)
  sodium.crypto_generichash_batch(batchKeyed, [b4a.from('hello'), b4a.from(' world')], key32)

  const hcNames = ['TREE', 'REPLICATE_INITIATOR', 'REPLICATE_RESPONDER', 'MANIFEST', 'DEFAULT_NAMESPACE', 'DEFAULT_ENCRYPTION']
  const hcNs = hcrypto.namespace('hypercore', 6)
  const ssNames = ['NS_INITIATOR', 'NS_RESPONDER', 'NS_SEND']
  const ssNs = hcrypto.namespace('hyperswarm/secret-stream', 3)

  const keyPairs = [1, 2, 3, 42].map((n) => {
    const kp = seedKeyPair(n)
    return { seedByte: n, seed: hex(b4a.alloc(32, n)), publicKey: hex(kp.publicKey), secretKey: hex(kp.secretKey) }
  })
  const kp1 = seedKeyPair(1)
  const sigMsg = b4a.from('hyperwasm signature test')
  const signature = hcrypto.sign(sigMsg, kp1.secretKey)

  const discoveryKeys = [kp1.publicKey, b4a.from(Array.from({ length: 32 }, (_, i) => i + 1)), b4a.alloc(32)].map((k) => ({ key: hex(k), discoveryKey: hex(hcrypto.discoveryKey(k)) }))

  const leaves = [b4a.alloc(0), b4a.from('a'), b4a.from('hello world'), prngBytes(b4a.from('leaf'), 1000)].map((d) => ({ data: hex(d), hash: hex(hcrypto.data(d)) }))
  const l0 = { index: 0, size: 1, hash: hcrypto.data(b4a.from('a')) }
  const l1 = { index: 2, size: 11, hash: hcrypto.data(b4a.from('hello world')) }
  const p1 = { index: 1, size: 12, hash: hcrypto.parent(l0, l1) }
  const l2 = { index: 4, size: 0, hash: hcrypto.data(b4a.alloc(0)) }
  const parents = [{ left: nodeToJson(l0), right: nodeToJson(l1), hash: hex(p1.hash), note: 'hash = BLAKE2b(0x01 || uint64LE(left.size+right.size) || left.hash || right.hash)' }]
  const trees = [
    { roots: [nodeToJson(p1)], hash: hex(hcrypto.tree([p1])) },
    { roots: [nodeToJson(p1), nodeToJson(l2)], hash: hex(hcrypto.tree([p1, l2])) },
    { roots: [], hash: hex(hcrypto.tree([])) }
  ]

  write('crypto.json', {
    compactEncoding,
    blake2b256: {
      plain: [b4a.alloc(0), msg].map((m) => ({ message: hex(m), hash: hex(blake2b(m)) })),
      keyed: [{ message: hex(msg), key: hex(key32), hash: hex(blake2b(msg, key32)) }],
      batch: [
        { messages: ['hello', ' ', 'world'].map((s) => hex(b4a.from(s))), key: null, hash: hex(batchOut), note: 'equals BLAKE2b-256 of the concatenation' },
        { messages: ['hello', ' world'].map((s) => hex(b4a.from(s))), key: hex(key32), hash: hex(batchKeyed) }
      ]
    },
    namespaces: {
      hypercore: { name: 'hypercore', count: 6, entries: hcNames.map((n, i) => ({ name: n, hex: hex(hcNs[i]) })) },
      secretStream: { name: 'hyperswarm/secret-stream', count: 3, entries: ssNames.map((n, i) => ({ name: n, hex: hex(ssNs[i]) })) }
    },
    discoveryKeys,
    keyPairs,
    signatures: [{ publicKey: hex(kp1.publicKey), secretKey: hex(kp1.secretKey), message: hex(sigMsg), signature: hex(signature), valid: hcrypto.verify(sigMsg, signature, kp1.publicKey) }],
    leafHashes: leaves,
    parentHashes: parents,
    treeHashes: trees,
    prngVectors: [{ seed: hex(b4a.from('test')), size: 70, bytes: hex(prngBytes(b4a.from('test'), 70)) }]
  })
}

// ------------------------------------------------------------- manifests.json
function manifestToJson(m) {
  return {
    version: m.version,
    hash: m.hash,
    allowPatch: !!m.allowPatch,
    quorum: m.quorum,
    signers: m.signers.map((s) => ({ signature: s.signature, namespace: hex(s.namespace), publicKey: hex(s.publicKey) })),
    prologue: m.prologue ? { hash: hex(m.prologue.hash), length: m.prologue.length } : null,
    linked: m.linked ? m.linked.map(hex) : null,
    userData: m.userData ? hex(m.userData) : null
  }
}

function genManifests() {
  const kps = [1, 2, 3].map(seedKeyPair)
  const ns2 = blake2b(b4a.from('custom-namespace'))
  const prologueHash = blake2b(b4a.from('prologue'))
  const signer = (kp, namespace) => ({ signature: 'ed25519', namespace: namespace || caps.DEFAULT_NAMESPACE, publicKey: kp.publicKey })
  const valid = []

  function addValid(name, note, m, viaCreateManifest, key, compatKey) {
    const encoding = encodeManifest(m)
    valid.push({
      name, note, viaCreateManifest,
      manifest: manifestToJson(m),
      encoding: hex(encoding),
      key: hex(key),
      discoveryKey: hex(hcrypto.discoveryKey(key)),
      compatKey,
      decoded: manifestToJson(c.decode(messages.manifest, encoding))
    })
  }
  function addCreated(name, input, note) {
    const m = Verifier.createManifest(input)
    const compatKey = m.signers.length === 1 ? hex(Hypercore.key(m, { compat: true })) : null
    addValid(name, note, m, true, Hypercore.key(m), compatKey)
  }
  function addRaw(name, m, note) {
    addValid(name, note, m, false, Verifier.manifestHash(m), null)
  }

  addCreated('default-single-signer-v1', { version: 1, signers: [{ publicKey: kps[0].publicKey }] },
    'what corestore 7 store.get({name}) and new Hypercore(dir,{keyPair}) create; equals Verifier.defaultSignerManifest(publicKey)')
  {
    // compat: key IS the public key; manifest is the default signer manifest
    const m = Verifier.defaultSignerManifest(kps[0].publicKey)
    valid.push({
      name: 'compat', note: 'compat core (new Hypercore(dir,{keyPair, compat:true})): key = signers[0].publicKey; Verifier.isCompat(key, manifest) = true; manifest is never sent on the wire',
      viaCreateManifest: false,
      manifest: manifestToJson(m), encoding: hex(encodeManifest(m)),
      key: hex(Hypercore.key(m, { compat: true })),
      discoveryKey: hex(hcrypto.discoveryKey(kps[0].publicKey)),
      compatKey: hex(kps[0].publicKey),
      isCompat: Verifier.isCompat(kps[0].publicKey, m),
      decoded: manifestToJson(c.decode(messages.manifest, encodeManifest(m)))
    })
  }
  addCreated('v1-custom-namespace', { signers: [{ publicKey: kps[0].publicKey, namespace: ns2 }] })
  addCreated('v1-multisig-2-of-3', { quorum: 2, signers: kps.map((k) => ({ publicKey: k.publicKey })) })
  addCreated('v1-multisig-default-quorum', { signers: kps.map((k) => ({ publicKey: k.publicKey })) }, 'quorum defaults to (n>>1)+1 = 2')
  addCreated('v1-allow-patch', { allowPatch: true, quorum: 2, signers: kps.map((k) => ({ publicKey: k.publicKey })) })
  addCreated('v1-prologue', { signers: [{ publicKey: kps[0].publicKey }], prologue: { hash: prologueHash, length: 10 } })
  addCreated('v1-static-core', { quorum: 0, signers: [], prologue: { hash: prologueHash, length: 5 } }, 'static core: no signers, quorum 0, prologue fixes the content')
  addCreated('v2-linked', { signers: [{ publicKey: kps[0].publicKey }], linked: [blake2b(b4a.from('l1')), blake2b(b4a.from('l2'))] }, 'version inferred as 2 because linked is set')
  addCreated('v2-userdata', { signers: [{ publicKey: kps[0].publicKey }], userData: b4a.from('user data!') }, 'version inferred as 2 because userData is set')
  addCreated('v2-all-fields', { allowPatch: true, quorum: 2, signers: kps.map((k) => ({ publicKey: k.publicKey })), prologue: { hash: prologueHash, length: 3 }, linked: [blake2b(b4a.from('l1'))], userData: b4a.from('ud') })
  addCreated('v1-default-from-key-buffer', { version: 1, signers: [{ publicKey: kps[1].publicKey }] }, 'Hypercore.key(publicKeyBuffer) equals this key')
  valid[valid.length - 1].hypercoreKeyFromPublicKey = hex(Hypercore.key(kps[1].publicKey))

  // version 0 legacy variants (encoded via messages.manifest with version 0)
  addRaw('v0-static-prologue', { version: 0, hash: 'blake2b', allowPatch: false, quorum: 0, signers: [], prologue: { hash: prologueHash, length: 0 }, linked: null, userData: null }, 'v0 type 0: fixed32 prologue hash only (length decodes as 0)')
  addRaw('v0-single-signer', { version: 0, hash: 'blake2b', allowPatch: false, quorum: 1, signers: [signer(kps[0])], prologue: null, linked: null, userData: null }, 'v0 type 1')
  addRaw('v0-multi-signer', { version: 0, hash: 'blake2b', allowPatch: true, quorum: 2, signers: kps.map((k) => signer(k)), prologue: null, linked: null, userData: null }, 'v0 type 2 (flags bit0 = allowPatch)')
  addRaw('v0-multi-signer-no-patch', { version: 0, hash: 'blake2b', allowPatch: false, quorum: 2, signers: kps.slice(0, 2).map((k) => signer(k, ns2)), prologue: null, linked: null, userData: null }, 'v0 type 2 without patch')

  // decode-only cases (including invalid ones). result.ok=false => JS throws; error = JS message
  const def = unhex(valid[0].encoding)
  const decodeCases = []
  function decodeCase(name, buf, note) {
    let result
    try {
      const m = c.decode(messages.manifest, buf)
      result = { ok: true, decoded: manifestToJson(m), key: hex(Verifier.manifestHash(m)) }
    } catch (e) {
      result = { ok: false, error: e.message }
    }
    decodeCases.push({ name, note, encoding: hex(buf), ...result })
  }
  decodeCase('truncated-default-1-byte', def.subarray(0, def.length - 1))
  decodeCase('truncated-default-after-header', def.subarray(0, 6))
  decodeCase('empty', b4a.alloc(0))
  const v3 = b4a.from(def); v3[0] = 3
  decodeCase('version-3', v3, 'NOTE: hypercore 11.39.5 messages.js only rejects version > 3, so version 3 decodes (manifest.decode); a Rust impl may choose to reject it')
  const v4 = b4a.from(def); v4[0] = 4
  decodeCase('version-4', v4)
  const h1 = b4a.from(def); h1[2] = 1
  decodeCase('unknown-hash-id', h1)
  const s1 = b4a.from(def); s1[5] = 1
  decodeCase('unknown-signature-id', s1)
  const v0t3 = b4a.from([0, 0, 3])
  decodeCase('v0-unknown-type', v0t3)
  const v0h = b4a.from([0, 1, 1])
  decodeCase('v0-unknown-hash-id', v0h)
  const lenBig = b4a.from(def); lenBig[4] = 0xfe // signer array count = 0xfe prefix -> uint32 count
  decodeCase('bogus-signer-count', lenBig)
  decodeCase('trailing-bytes', b4a.concat([def, b4a.from([0])]), 'c.decode rejects/accepts trailing bytes as recorded')

  // createManifest rejections (BAD_ARGUMENT)
  const createErrors = []
  function createErr(name, inp) {
    try {
      Verifier.createManifest(inp)
      createErrors.push({ name, ok: true })
    } catch (e) {
      createErrors.push({ name, ok: false, code: e.code || null, error: e.message })
    }
  }
  createErr('quorum-above-signers', { quorum: 2, signers: [{ publicKey: kps[0].publicKey }] })
  createErr('userData-in-v1', { version: 1, signers: [{ publicKey: kps[0].publicKey }], userData: b4a.from('x') })
  createErr('linked-in-v1', { version: 1, signers: [{ publicKey: kps[0].publicKey }], linked: [b4a.alloc(32)] })
  createErr('bad-hash', { hash: 'sha256', signers: [{ publicKey: kps[0].publicKey }] })
  createErr('bad-prologue', { signers: [{ publicKey: kps[0].publicKey }], prologue: { hash: b4a.alloc(31), length: 1 } })

  write('manifests.json', {
    constants: { MANIFEST: hex(caps.MANIFEST), DEFAULT_NAMESPACE: hex(caps.DEFAULT_NAMESPACE) },
    keyPairs: kps.map((k, i) => ({ seedByte: i + 1, publicKey: hex(k.publicKey), secretKey: hex(k.secretKey) })),
    valid,
    decodeCases,
    createErrors
  })
}

// ------------------------------------------------------ cores.json + proofs.json
const NBLOCKS = 40
const BIG_INDEX = 20
const BIG_SIZE = 1024 * 1024
function blockSeed(kind, fork, i) { return `hyperwasm-block-${fork}-${i}` } // same content for both kinds
function makeBlock(fork, i) {
  const seed = b4a.from(blockSeed(null, fork, i))
  let size
  if (fork === 0 && i === BIG_INDEX) size = BIG_SIZE
  else if ([0, 3, 8, 9, 31, 36].includes(i)) size = 0 // empty blocks
  else {
    const fixed = { 1: 1, 2: 13, 4: 64, 5: 255, 6: 256, 7: 4096 }
    size = fixed[i] !== undefined ? fixed[i] : prngBytes(b4a.concat([seed, b4a.from('size')]), 2).readUInt16LE(0) % 2048
  }
  return { seed: seed.toString(), buf: prngBytes(seed, size) }
}

// append steps: [from, to) ; then truncate to 30 (fork 1); then append fork-1 blocks
const STEPS = [
  { op: 'append', to: 1 }, { op: 'append', to: 7 }, { op: 'append', to: 16 }, { op: 'append', to: 17 },
  { op: 'append', to: 20 }, { op: 'append', to: 21 }, { op: 'append', to: 33 }, { op: 'append', to: 40 },
  { op: 'truncate', to: 30 }, { op: 'append', to: 35 }, { op: 'append', to: 40 }
]
const READER_LENGTHS = [0, 1, 7, 16, 33]

function stateSnapshot(core) {
  const s = core.core.state
  return {
    length: s.length,
    byteLength: s.byteLength,
    fork: s.fork,
    treeHash: hex(MerkleTree.hash(s)),
    roots: rootsJson(s.roots),
    signature: hex(s.signature),
    signable: hex(signableFor(core, s))
  }
}

async function buildCore(kind) {
  const keyPair = seedKeyPair(kind === 'compat' ? 1 : 2)
  const manifestInput = kind === 'manifest' ? { version: 1, signers: [{ publicKey: keyPair.publicKey }] } : null
  const core = await openWriter(kind, keyPair, manifestInput)
  const blocks = [] // current content: {index, fork, seed, buf}
  const allBlocks = [] // every block ever appended, in append order
  const steps = []
  const bootstraps = new Map()
  let proofsSection = null

  for (const step of STEPS) {
    const before = core.length
    if (step.op === 'append') {
      const fork = core.core.state.fork
      const bufs = []
      for (let i = before; i < step.to; i++) {
        const b = makeBlock(fork, i)
        blocks[i] = { index: i, fork, seed: b.seed, buf: b.buf }
        allBlocks.push(blocks[i])
        bufs.push(b.buf)
      }
      await core.append(bufs)
      steps.push({ op: 'append', from: before, count: bufs.length, blockIndexes: bufs.map((_, k) => before + k), ...stateSnapshot(core) })
    } else {
      await core.truncate(step.to)
      blocks.length = step.to
      steps.push({ op: 'truncate', from: before, to: step.to, ...stateSnapshot(core) })
    }
    if (READER_LENGTHS.includes(core.length) && core.core.state.fork === 0 && !bootstraps.has(core.length)) {
      const req = { id: 1, fork: 0, block: null, hash: null, seek: null, upgrade: { start: 0, length: core.length }, manifest: kind === 'manifest', priority: 0 }
      bootstraps.set(core.length, { request: req, proof: await generateProof(core, req), snapshot: stateSnapshot(core) })
    }
    if (core.length === NBLOCKS && core.core.state.fork === 0 && !proofsSection) {
      proofsSection = await genProofs(kind, core, blocks.slice(), bootstraps)
    }
  }

  const info = {
    kind,
    compat: core.core.compat,
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    manifest: kind === 'manifest' ? manifestToJson(core.manifest) : null,
    manifestEncoding: kind === 'manifest' ? hex(encodeManifest(core.manifest)) : null,
    keyPair: { seedByte: kind === 'compat' ? 1 : 2, publicKey: hex(keyPair.publicKey), secretKey: hex(keyPair.secretKey) },
    blocks: allBlocks.map((b) => ({ index: b.index, fork: b.fork, size: b.buf.byteLength, ...blockToJson(b.buf, b.seed) })),
    steps,
    final: stateSnapshot(core)
  }
  await safeClose(core)
  return { info, proofsSection }
}

let invalidProofs = []

async function genProofs(kind, writer, blocks, bootstraps) {
  const N = writer.length
  const readers = new Map()
  const readerJson = []
  for (const L of READER_LENGTHS) {
    const r = await openReader(kind, writer.key)
    if (L > 0) {
      const bs = bootstraps.get(L)
      const ok = await r.core.verify(bs.proof)
      if (!ok || r.length !== L) throw new Error('bootstrap failed for L=' + L)
    }
    readers.set(L, r)
    const bs = bootstraps.get(L)
    readerJson.push({
      length: L,
      bootstrap: L === 0 ? null : { request: bs.request, proof: proofToJson(bs.proof), dataWire: hex(dataWire(1, bs.proof)), state: bs.snapshot },
      hasManifest: r.core.header.manifest !== null
    })
  }

  const proofs = []
  let reqId = 1
  async function add(name, L, reqPart, note, opts = {}) {
    const r = readers.get(L)
    const req = {
      id: reqId++,
      fork: 0,
      block: reqPart.block || null,
      hash: reqPart.hash || null,
      seek: reqPart.seek || null,
      upgrade: reqPart.upgrade || null,
      manifest: reqPart.upgrade ? r.core.header.manifest === null && kind === 'manifest' : false,
      priority: 0
    }
    let proof
    try {
      proof = await generateProof(writer, req)
    } catch (e) {
      proofs.push({ name, note, readerLength: L, request: req, requestWire: hex(requestWire(req)), proof: null, dataWire: null, error: { code: e.code || null, message: e.message } })
      return null
    }
    const result = await checkProof(r, proof)
    if (opts.invalid) {
      invalidProofs.push({ core: kind, name, basedOn: null, tamper: note, readerLength: L, request: req, proof: proofToJson(proof), dataWire: hex(dataWire(req.id, proof)), result })
      return null
    }
    if (!result.ok) throw new Error(`JS rejected its own proof ${kind}/${name}: ${result.message}`)
    const entry = { name, note, readerLength: L, request: req, requestWire: hex(requestWire(req)), proof: proofToJson(proof), dataWire: hex(dataWire(req.id, proof)), result }
    proofs.push(entry)
    return { entry, proof }
  }
  const missing = (L, idx) => MerkleTree.missingNodes(readers.get(L).core.state, idx, L)
  const upTo = (L, to = N) => ({ start: L, length: to - L })

  // block proofs without upgrade (index < L), nodes computed by the JS requester logic
  for (const [L, i] of [[33, 0], [33, 5], [33, 12], [33, 31], [33, 32], [16, 3], [16, 15], [7, 2], [7, 6], [1, 0]]) {
    await add(`block-${i}-at-L${L}`, L, { block: { index: i, nodes: await missing(L, 2 * i) } }, 'nodes = MerkleTree.missingNodes(reader, 2*index, L)')
  }
  await add('block-5-at-L33-nodes-plus-1', 33, { block: { index: 5, nodes: (await missing(33, 10)) + 1 } }, 'hand-picked nodes = missingNodes+1 (one more level than needed)')
  // hand-picked too-small nodes: responder's proof is genuine but the reader cannot verify it -> invalid-proofs.json
  await add('insufficient-nodes-0', 33, { block: { index: 5, nodes: 0 } }, 'genuine JS proof for a request with nodes=0 although the reader lacks the leaf node: reader must reject', { invalid: true })
  await add('insufficient-nodes-1', 33, { block: { index: 5, nodes: 1 } }, 'genuine JS proof for a request with nodes=1 (< missingNodes): reader must reject', { invalid: true })
  // hash proofs
  await add('hash-leaf-10-at-L33', 33, { hash: { index: 20, nodes: await missing(33, 20) } })
  await add('hash-parent-9-at-L33', 33, { hash: { index: 9, nodes: await missing(33, 9) } }, 'hash request for a parent node (index 9 covers blocks 4..7)')
  // block + upgrade (index >= L), as replicator _requestBlock does: nodes = 0, upgrade {L, N-L}
  for (const [L, i] of [[0, 0], [0, 39], [1, 5], [7, 7], [16, 30], [33, 35], [33, 39]]) {
    await add(`block-${i}-upgrade-L${L}`, L, { block: { index: i, nodes: 0 }, upgrade: upTo(L) })
  }
  // block (index < L) + upgrade
  await add('block-3-with-upgrade-L16', 16, { block: { index: 3, nodes: await missing(16, 6) }, upgrade: upTo(16) })
  await add('block-0-with-upgrade-L7', 7, { block: { index: 0, nodes: await missing(7, 0) }, upgrade: upTo(7) })
  // pure upgrades
  for (const L of READER_LENGTHS) await add(`upgrade-from-${L}`, L, { upgrade: upTo(L) })
  // upgrades shorter than responder length -> additionalNodes
  await add('upgrade-0-to-33-additional', 0, { upgrade: upTo(0, 33) })
  await add('upgrade-7-to-16-additional', 7, { upgrade: upTo(7, 16) })
  await add('upgrade-16-to-17-additional', 16, { upgrade: upTo(16, 17) })
  await add('upgrade-1-to-2-additional', 1, { upgrade: upTo(1, 2) })
  await add('block-2-upgrade-1-to-4-additional', 1, { block: { index: 2, nodes: 0 }, upgrade: upTo(1, 4) })
  // seeks
  const byteOffset = async (i) => blocks.slice(0, i).reduce((a, b) => a + b.buf.byteLength, 0)
  const off10 = await byteOffset(10)
  const off25 = await byteOffset(25)
  await add('seek-upgrade-from-0', 0, { seek: { bytes: off25 + 3, padding: 0 }, upgrade: upTo(0) }, 'seek inside block 25 while upgrading from 0')
  await add('seek-upgrade-from-7', 7, { seek: { bytes: off10 + 1, padding: 0 }, upgrade: upTo(7) }, 'seek inside block 10 while upgrading from 7')
  await add('seek-upgrade-from-33', 33, { seek: { bytes: (await byteOffset(36)) + 1, padding: 0 }, upgrade: upTo(33) })
  await add('block-1-plus-seek-at-L16', 16, { block: { index: 1, nodes: await missing(16, 2) }, seek: { bytes: (await byteOffset(2)) + 5, padding: 0 } }, 'block with seek inside the block subtree, no upgrade')
  await add('hash-plus-seek-at-L33', 33, { hash: { index: 15, nodes: await missing(33, 15) }, seek: { bytes: (await byteOffset(12)) + 1, padding: 0 } })
  // invalid requests (JS throws INVALID_OPERATION, replicator answers no-data reason 2)
  await add('invalid-upgrade-beyond-head', 7, { upgrade: { start: 7, length: 40 } })
  await add('invalid-upgrade-empty', 7, { upgrade: { start: 7, length: 0 } })
  await add('invalid-seek-and-block-in-upgrade', 7, { block: { index: 10, nodes: 0 }, seek: { bytes: off25, padding: 0 }, upgrade: upTo(7) })

  // --- tampered proofs (invalid-proofs.json) ---
  const byName = (n) => proofs.find((p) => p.name === n)
  async function tamper(name, baseName, desc, fn) {
    const base = byName(baseName)
    if (!base || !base.proof) return
    const pj = JSON.parse(JSON.stringify(base.proof))
    fn(pj)
    const proof = proofFromJson(pj)
    const result = await checkProof(readers.get(base.readerLength), proof)
    // also run the full (mutating) Core.verify on a throwaway reader for the real error path
    let coreVerify
    {
      const r = await openReader(kind, writer.key)
      if (base.readerLength > 0) await r.core.verify(bootstraps.get(base.readerLength).proof)
      try { coreVerify = { ok: await r.core.verify(proof) } } catch (e) { coreVerify = { ok: false, code: e.code || null, message: e.message } }
      await safeClose(r)
    }
    invalidProofs.push({ core: kind, name, basedOn: baseName, tamper: desc, readerLength: base.readerLength, request: base.request, proof: pj, dataWire: hex(dataWire(base.request.id, proof)), result, coreVerify })
  }
  const flip = (h, i = 0) => { const b = unhex(h); b[i] ^= 1; return hex(b) }
  await tamper('flipped-block-node-hash', 'block-12-at-L33', 'block.nodes[0].hash byte 0 xor 1', (p) => { p.block.nodes[0].hash = flip(p.block.nodes[0].hash) })
  await tamper('flipped-block-value', 'block-12-at-L33', 'block.value byte 0 xor 1', (p) => { p.block.value = flip(p.block.value) })
  await tamper('wrong-node-order', 'block-12-at-L33', 'block.nodes[0] and [1] swapped', (p) => { [p.block.nodes[0], p.block.nodes[1]] = [p.block.nodes[1], p.block.nodes[0]] })
  await tamper('truncated-block-nodes', 'block-12-at-L33', 'last block node removed', (p) => { p.block.nodes.pop() })
  await tamper('wrong-node-size', 'block-12-at-L33', 'block.nodes[0].size += 1', (p) => { p.block.nodes[0].size += 1 })
  await tamper('flipped-signature', 'upgrade-from-7', 'upgrade.signature: byte 10 xor 1 (inside the ed25519 signature for both kinds)', (p) => { p.upgrade.signature = flip(p.upgrade.signature, 10) })
  await tamper('flipped-upgrade-node', 'upgrade-from-7', 'upgrade.nodes[0].hash byte 0 xor 1', (p) => { p.upgrade.nodes[0].hash = flip(p.upgrade.nodes[0].hash) })
  await tamper('truncated-upgrade-nodes', 'upgrade-from-7', 'last upgrade node removed', (p) => { p.upgrade.nodes.pop() })
  await tamper('wrong-fork', 'upgrade-from-7', 'proof.fork = 1 (reader is at fork 0)', (p) => { p.fork = 1 })
  await tamper('wrong-upgrade-length', 'upgrade-from-7', 'upgrade.length += 1 claims a longer tree', (p) => { p.upgrade.length += 1 })
  await tamper('flipped-block-value-with-upgrade', 'block-39-upgrade-L0', 'block.value byte 0 xor 1 on a block+upgrade proof', (p) => { p.block.value = flip(p.block.value) })
  await tamper('flipped-additional-node', 'upgrade-7-to-16-additional', 'upgrade.additionalNodes[0].hash byte 0 xor 1', (p) => { p.upgrade.additionalNodes[0].hash = flip(p.upgrade.additionalNodes[0].hash) })
  if (kind === 'manifest') {
    await tamper('wrong-manifest', 'upgrade-from-0', 'proof.manifest replaced by a default manifest for another key', (p) => { p.manifest = hex(encodeManifest(Verifier.defaultSignerManifest(seedKeyPair(9).publicKey))) })
    await tamper('missing-manifest', 'upgrade-from-0', 'proof.manifest = null for a reader without manifest', (p) => { p.manifest = null })
  }
  if (kind === 'compat') {
    await tamper('raw-sig-as-multisig', 'upgrade-from-7', 'compat 64-byte signature wrapped in multisig encoding (01 00 sig 00 00)', (p) => { p.upgrade.signature = '0100' + p.upgrade.signature + '0000' })
  }

  for (const r of readers.values()) await safeClose(r)
  return {
    key: hex(writer.key),
    discoveryKey: hex(writer.discoveryKey),
    compat: writer.core.compat,
    manifestEncoding: kind === 'manifest' ? hex(encodeManifest(writer.manifest)) : null,
    writer: stateSnapshot(writer),
    readers: readerJson,
    proofs
  }
}

async function main() {
  const t0 = Date.now()
  genCrypto()
  genManifests()
  const cores = {}
  const proofCores = {}
  for (const kind of ['compat', 'manifest']) {
    const { info, proofsSection } = await buildCore(kind)
    cores[kind] = info
    proofCores[kind] = proofsSection
  }
  write('cores.json', {
    blockGenerator: 'blocks with size > 65536 are stored as {size, generator:{kind:"blake2b-ctr", seed}, blake2b256}; bytes = concat_k BLAKE2b-256(seed || uint32LE(k)) truncated to size',
    cores
  })
  write('proofs.json', {
    note: 'each core is the cores.json core of the same kind at step length 40, fork 0 (before truncation)',
    cores: proofCores
  })
  const inv = {}
  for (const p of invalidProofs) {
    inv[p.core] = inv[p.core] || { key: proofCores[p.core].key, compat: proofCores[p.core].compat, manifestEncoding: proofCores[p.core].manifestEncoding, readers: proofCores[p.core].readers, proofs: [] }
    const { core, ...rest } = p
    inv[p.core].proofs.push(rest)
  }
  write('invalid-proofs.json', { cores: inv })
  cleanupTmp()
  console.log('done in', Date.now() - t0, 'ms')
}

main().catch((e) => { console.error(e); cleanupTmp(); process.exit(1) })
