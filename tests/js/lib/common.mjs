// Shared helpers for gen-fixtures.mjs and verify-rust.mjs (hyperwasm JS oracle).
import { createRequire } from 'module'
import fs from 'fs'
import os from 'os'
import path from 'path'

export const require = createRequire(import.meta.url)
export const Hypercore = require('hypercore')
export const hcrypto = require('hypercore-crypto')
export const c = require('compact-encoding')
export const sodium = require('sodium-universal')
export const b4a = require('b4a')
export const { MerkleTree, MerkleTreeBatch } = require('hypercore/lib/merkle-tree.js')
export const messages = require('hypercore/lib/messages.js')
export const Verifier = require('hypercore/lib/verifier.js')
export const caps = require('hypercore/lib/caps.js')

export const GENERATOR = {
  hypercore: require('hypercore/package.json').version,
  'hypercore-crypto': require('hypercore-crypto/package.json').version,
  'compact-encoding': require('compact-encoding/package.json').version,
  corestore: require('corestore/package.json').version,
  'hypercore-storage': require('hypercore-storage/package.json').version,
  'flat-tree': require('flat-tree/package.json').version,
  node: process.version
}

/** `--name value` and bare `--flag` options → `{name: value | true}` (the single-purpose peers). */
export function flagArgs(argv) {
  const args = {}
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '')
    const next = argv[i + 1]
    if (next === undefined || next.startsWith('--')) args[k] = true
    else args[k] = argv[++i]
  }
  return args
}

export const hex = (b) => (b == null ? null : b4a.toString(b, 'hex'))
export const unhex = (s) => (s == null ? null : b4a.from(s, 'hex'))

// ---- deterministic byte stream: BLAKE2b-256 counter mode ----
// stream(seed) = BLAKE2b-256(seed || uint32LE(0)) || BLAKE2b-256(seed || uint32LE(1)) || ...
export function prngBytes(seed, size) {
  const out = b4a.alloc(size)
  const inp = b4a.alloc(seed.byteLength + 4)
  inp.set(seed, 0)
  const h = b4a.alloc(32)
  for (let k = 0, off = 0; off < size; k++, off += 32) {
    inp.writeUInt32LE(k, seed.byteLength)
    sodium.crypto_generichash(h, inp)
    h.copy(out, off, 0, Math.min(32, size - off))
  }
  return out
}

export function blake2b(buf, key) {
  const out = b4a.alloc(32)
  if (key) sodium.crypto_generichash(out, buf, key)
  else sodium.crypto_generichash(out, buf)
  return out
}

// blocks above this size are stored in JSON as a generator description instead of hex
export const INLINE_LIMIT = 65536

export function blockToJson(buf, seedStr) {
  if (buf.byteLength <= INLINE_LIMIT) return { hex: hex(buf) }
  return {
    size: buf.byteLength,
    generator: { kind: 'blake2b-ctr', seed: hex(b4a.from(seedStr)) },
    blake2b256: hex(blake2b(buf))
  }
}

export function blockFromJson(j) {
  if (typeof j === 'string') return unhex(j)
  if (j.hex !== undefined) return unhex(j.hex)
  if (j.generator) {
    if (j.generator.kind !== 'blake2b-ctr') throw new Error('unknown block generator ' + j.generator.kind)
    const b = prngBytes(unhex(j.generator.seed), j.size)
    if (j.blake2b256 && hex(blake2b(b)) !== j.blake2b256) throw new Error('generated block hash mismatch')
    return b
  }
  throw new Error('bad block json')
}

// ---- node / proof (de)serialisation ----
export const nodeToJson = (n) => ({ index: n.index, size: n.size, hash: hex(n.hash) })
export const nodeFromJson = (n) => ({ index: n.index, size: n.size, hash: unhex(n.hash) })

export function encodeManifest(m) {
  return c.encode(messages.manifest, m)
}

export function proofToJson(p) {
  return {
    fork: p.fork,
    block: p.block ? { index: p.block.index, value: hex(p.block.value), nodes: p.block.nodes.map(nodeToJson) } : null,
    hash: p.hash ? { index: p.hash.index, nodes: p.hash.nodes.map(nodeToJson) } : null,
    seek: p.seek ? { bytes: p.seek.bytes, nodes: p.seek.nodes.map(nodeToJson) } : null,
    upgrade: p.upgrade
      ? {
          start: p.upgrade.start,
          length: p.upgrade.length,
          nodes: p.upgrade.nodes.map(nodeToJson),
          additionalNodes: p.upgrade.additionalNodes.map(nodeToJson),
          signature: hex(p.upgrade.signature)
        }
      : null,
    manifest: p.manifest ? hex(encodeManifest(p.manifest)) : null
  }
}

export function proofFromJson(j) {
  return {
    fork: j.fork,
    block: j.block ? { index: j.block.index, value: unhex(j.block.value), nodes: j.block.nodes.map(nodeFromJson) } : null,
    hash: j.hash ? { index: j.hash.index, nodes: j.hash.nodes.map(nodeFromJson) } : null,
    seek: j.seek ? { bytes: j.seek.bytes, nodes: j.seek.nodes.map(nodeFromJson) } : null,
    upgrade: j.upgrade
      ? {
          start: j.upgrade.start,
          length: j.upgrade.length,
          nodes: j.upgrade.nodes.map(nodeFromJson),
          additionalNodes: j.upgrade.additionalNodes.map(nodeFromJson),
          signature: unhex(j.upgrade.signature)
        }
      : null,
    manifest: j.manifest ? c.decode(messages.manifest, unhex(j.manifest)) : null
  }
}

export function dataWire(requestId, proof) {
  return c.encode(messages.wire.data, { request: requestId, ...proof })
}

export function requestWire(req) {
  return c.encode(messages.wire.request, {
    id: req.id,
    fork: req.fork,
    block: req.block,
    hash: req.hash,
    seek: req.seek,
    upgrade: req.upgrade,
    manifest: !!req.manifest,
    priority: req.priority || 0
  })
}

// ---- temp dirs / cores ----
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-oracle-'))
// Also on any exit, forced ones included (the callers' own cleanup is not always reached).
process.on('exit', () => cleanupTmp())
let tmpN = 0
export function tmpDir() {
  return path.join(tmpRoot, String(tmpN++))
}
export function cleanupTmp() {
  fs.rmSync(tmpRoot, { recursive: true, force: true })
}

// kind: 'compat' | 'manifest'. manifestInput only for 'manifest'.
export async function openWriter(kind, keyPair, manifest) {
  const opts = kind === 'compat' ? { keyPair, compat: true } : { keyPair, manifest, compat: false }
  const core = new Hypercore(tmpDir(), opts)
  await core.ready()
  return core
}

export async function openReader(kind, key) {
  const opts = kind === 'compat' ? { compat: true } : { compat: false }
  const core = new Hypercore(tmpDir(), key, opts)
  await core.ready()
  return core
}

// Generate a proof exactly as replicator.js Peer._getProof does (MerkleTree.proof on core.state + storage read batch)
export async function generateProof(core, req) {
  const msg = {
    id: req.id,
    fork: req.fork,
    block: req.block ? { ...req.block } : null,
    hash: req.hash ? { ...req.hash } : null,
    seek: req.seek ? { ...req.seek } : null,
    upgrade: req.upgrade ? { ...req.upgrade } : null,
    manifest: !!req.manifest,
    priority: 0
  }
  const rx = core.core.storage.read(core.core.state.fork)
  let block = null
  if (msg.block) block = rx.getBlock(msg.block.index)
  const p = await MerkleTree.proof(core.core.state, rx, msg)
  rx.tryFlush()
  const proof = await p.settle()
  if (proof.block) proof.block.value = await block
  proof.manifest = msg.manifest && !core.core.compat ? core.core.header.manifest : null
  return proof
}

// Non-mutating version of Core.verify(): MerkleTree.verify + signature check via Core._verifyBatchUpgrade.
export async function checkProof(reader, proof) {
  try {
    if (proof.fork !== reader.core.state.fork) {
      return { ok: false, code: 'FORK_MISMATCH', message: 'proof fork ' + proof.fork + ' != reader fork ' + reader.core.state.fork }
    }
    const batch = await MerkleTree.verify(reader.core.state, proof)
    if (batch.upgraded) reader.core._verifyBatchUpgrade(batch, proof.manifest)
    return {
      ok: true,
      upgraded: batch.upgraded,
      length: batch.length,
      byteLength: batch.byteLength,
      treeHash: hex(batch.hash())
    }
  } catch (err) {
    return { ok: false, code: err.code || null, message: err.message }
  }
}

export function rootsJson(roots) {
  return roots.map(nodeToJson)
}

export function signableFor(core, state) {
  const treeHash = MerkleTree.hash(state)
  return core.core.compat
    ? caps.treeSignableCompat(treeHash, state.length, state.fork)
    : caps.treeSignable(core.key, treeHash, state.length, state.fork)
}

// Some rejected verifications leave a storage read pending in hypercore 11.39.5, which can make
// close() never resolve; don't let that block the scripts.
export async function safeClose(core, ms = 300) {
  let t
  await Promise.race([core.close().catch(() => {}), new Promise((resolve) => { t = setTimeout(resolve, ms) })])
  clearTimeout(t)
}
