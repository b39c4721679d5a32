// Reverse oracle: verify Rust-produced cores/proofs with JS hypercore.
// Usage: node tests/js/verify-rust.mjs <file.json> [--expect-reject]
// Input schema: same as tests/fixtures/hypercore/cores.json and/or proofs.json (see tests/fixtures/README.md):
//   { cores: { <name>: { key, compat, manifestEncoding, keyPair?, blocks?, steps?, readers?, proofs? } } }
// Entries with `steps` get core checks; entries with `proofs` get proof checks.
// --expect-reject: every proof must be REJECTED by JS (use with invalid-proofs.json-shaped input).
import fs from 'fs'
import {
  c, b4a, MerkleTree, MerkleTreeBatch, messages, hex, unhex, blockFromJson, nodeToJson,
  proofFromJson, proofToJson, dataWire, openWriter, openReader, checkProof, signableFor,
  cleanupTmp, safeClose
} from './lib/common.mjs'

const args = process.argv.slice(2)
const expectReject = args.includes('--expect-reject')
const file = args.find((a) => !a.startsWith('--'))
if (!file) {
  console.error('usage: node verify-rust.mjs <file.json> [--expect-reject]')
  process.exit(2)
}

let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ' — ' + detail : ''}`)
}
const eq = (name, got, want) => check(name, got === want, got === want ? '' : `js=${got} input=${want}`)

function manifestOf(entry) {
  return entry.manifestEncoding ? c.decode(messages.manifest, unhex(entry.manifestEncoding)) : null
}

async function verifyCore(name, entry) {
  const kind = entry.compat ? 'compat' : 'manifest'
  const keyPair = { publicKey: unhex(entry.keyPair.publicKey), secretKey: unhex(entry.keyPair.secretKey) }
  const core = await openWriter(kind, keyPair, manifestOf(entry))
  try {
    eq(`${name}: key`, hex(core.key), entry.key)
    if (entry.discoveryKey) eq(`${name}: discoveryKey`, hex(core.discoveryKey), entry.discoveryKey)
    const blocks = entry.blocks || []
    for (const [i, step] of entry.steps.entries()) {
      const tag = `${name}: step ${i} ${step.op}`
      try {
        if (step.op === 'append') {
          const bufs = step.blockIndexes.map((idx) => {
            const b = blocks.find((x) => x.index === idx && x.fork === step.fork)
            if (!b) throw new Error(`block index=${idx} fork=${step.fork} missing from blocks[]`)
            return blockFromJson(b)
          })
          await core.append(bufs)
        } else if (step.op === 'truncate') {
          await core.truncate(step.to)
        } else throw new Error('unknown op ' + step.op)
      } catch (e) {
        check(`${tag}: replay`, false, e.message)
        continue
      }
      const s = core.core.state
      eq(`${tag}: length`, s.length, step.length)
      eq(`${tag}: byteLength`, s.byteLength, step.byteLength)
      eq(`${tag}: fork`, s.fork, step.fork)
      eq(`${tag}: treeHash`, hex(MerkleTree.hash(s)), step.treeHash)
      if (step.roots) eq(`${tag}: roots`, JSON.stringify(s.roots.map(nodeToJson)), JSON.stringify(step.roots))
      if (step.signable) eq(`${tag}: signable`, hex(signableFor(core, s)), step.signable)
      if (step.signature) {
        const batch = new MerkleTreeBatch(s)
        let ok = false
        let err = ''
        try { ok = core.core.verifier.verify(batch, unhex(step.signature)) } catch (e) { err = e.message }
        check(`${tag}: JS verifier accepts signature`, ok, err)
        eq(`${tag}: signature bytes equal JS (ed25519 is deterministic)`, hex(s.signature), step.signature)
      }
    }
  } finally {
    await safeClose(core)
  }
}

async function verifyProofs(name, entry) {
  const kind = entry.compat ? 'compat' : 'manifest'
  const key = unhex(entry.key)
  const readers = new Map()
  for (const r of entry.readers || []) {
    const reader = await openReader(kind, key)
    if (r.bootstrap) {
      let ok = false
      let err = ''
      try { ok = await reader.core.verify(proofFromJson(r.bootstrap.proof)) } catch (e) { err = e.message }
      check(`${name}: reader L=${r.length} bootstrap proof accepted (Core.verify)`, ok && reader.length === r.length, err || `reader length ${reader.length}`)
    }
    readers.set(r.length, reader)
  }
  try {
    for (const p of entry.proofs || []) {
      if (!p.proof) continue // request-rejection vectors (responder error), nothing to verify
      const tag = `${name}: proof ${p.name}`
      let proof
      try {
        proof = proofFromJson(p.proof)
      } catch (e) {
        check(`${tag}: decode json`, false, e.message)
        continue
      }
      if (p.dataWire) {
        const requestId = p.request ? p.request.id : 0
        eq(`${tag}: data wire bytes`, hex(dataWire(requestId, proof)), p.dataWire)
        try {
          const dec = c.decode(messages.wire.data, unhex(p.dataWire))
          const { request, ...rest } = dec
          eq(`${tag}: data wire decodes to json proof`, JSON.stringify(proofToJson(rest)), JSON.stringify(p.proof))
        } catch (e) {
          check(`${tag}: data wire decodes`, false, e.message)
        }
      }
      const reader = readers.get(p.readerLength)
      if (!reader) {
        check(`${tag}: reader`, false, `no reader with length ${p.readerLength}`)
        continue
      }
      const res = await checkProof(reader, proof)
      if (expectReject) {
        check(`${tag}: JS rejects`, !res.ok, res.ok ? 'JS accepted it' : `${res.code}`)
      } else {
        check(`${tag}: JS accepts`, res.ok, res.ok ? '' : `${res.code} ${res.message}`)
        if (res.ok && p.result && p.result.ok) {
          eq(`${tag}: resulting length`, res.length, p.result.length)
          eq(`${tag}: resulting treeHash`, res.treeHash, p.result.treeHash)
        }
      }
    }
  } finally {
    for (const r of readers.values()) await safeClose(r)
  }
}

async function main() {
  const input = JSON.parse(fs.readFileSync(file, 'utf8'))
  const cores = input.cores || {}
  for (const [name, entry] of Object.entries(cores)) {
    try {
      if (entry.steps) await verifyCore(name, entry)
      if (entry.proofs) await verifyProofs(name, entry)
    } catch (e) {
      check(`${name}: unexpected error`, false, e.stack)
    }
  }
  if (passed + failed === 0) check('input contained something to check', false)
  console.log(`${passed} passed, ${failed} failed`)
  cleanupTmp()
  process.exit(failed ? 1 : 0)
}

main().catch((e) => { console.error(e); cleanupTmp(); process.exit(1) })
