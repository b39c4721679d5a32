// A random Hyperbee operation script run on a real JS Hyperbee, for the live differential test
// (wasm/core/tests/interop_bee.rs).
// Usage: node tests/js/bee-random.mjs --seed S [--ops N]   (N default 300)
//
// Prints one JSON object: {seed, options, ops, lengths, blocks, plan, reads}
//   options  the bee's options ({metadata?, alwaysDuplicate?})
//   ops      the steps (schema of ops.json; `casCalls`/`expect` hold JS's outputs)
//   lengths  core length after each step; blocks every block after the script
//   plan     a random read plan; reads JS's results of it on the final bee
// The same seed gives the same script. Keys are 0..6 bytes (the empty key included: JS accepts
// it) from a small alphabet, so prefixes, overwrites and deletes of existing keys are common;
// values are absent (JS null), empty, short, or up to 2 KB described as {prng, len}.
import { b4a } from './lib/common.mjs'
import {
  Hyperbee, hex, rng, freshCore, beeOptions, dumpBlocks, Runner, runPlan, subOf
} from './lib/bee-ops.mjs'

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name)
  return i === -1 ? dflt : process.argv[i + 1]
}
const seed = Number(arg('seed', NaN))
const nOps = Number(arg('ops', 300))
if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32 || !Number.isInteger(nOps)) {
  console.error('usage: node tests/js/bee-random.mjs --seed S [--ops N]   (0 <= S < 2^32)')
  process.exit(2)
}

const rnd = rng(seed)
const ALPHABET = [0x00, 0x01, 0x61, 0x62, 0x63, 0x7f, 0x80, 0xfe, 0xff]
const SUBS = [
  [],
  [{ name: '61' }],
  [{ name: '61' }, { name: '62' }],
  [{ name: '63', sep: '21' }],
  [{ name: '63', sep: '21' }, { name: '64' }],
  [{ name: '', sep: 'ff00' }]
]

const options = {}
if (rnd.chance(0.25)) options.alwaysDuplicate = false
if (rnd.chance(0.3)) {
  options.metadata = {}
  if (rnd.chance(0.5)) options.metadata.contentFeed = hex(rnd.bytes(32))
  if (rnd.chance(0.6)) options.metadata.userData = hex(rnd.bytes(rnd.int(9)))
}

// keys per sub path (index into SUBS), as hex
const touched = SUBS.map(() => [])
let sub = 0

const newKey = () => hex(b4a.from(Array.from({ length: rnd.int(7) }, () => rnd.pick(ALPHABET))))
function key(existing) {
  const pool = touched[sub]
  const k = pool.length && rnd.chance(existing) ? rnd.pick(pool) : newKey()
  pool.push(k)
  return k
}
function value() {
  const r = rnd.next()
  if (r < 0.08) return undefined // JS put(key): null value
  if (r < 0.16) return ''
  if (r < 0.18) return { prng: rnd.int(2 ** 32), len: 300 + rnd.int(1700) }
  // few distinct values, so alwaysDuplicate: false finds equal ones
  return rnd.chance(0.3) ? hex(b4a.from('v' + rnd.int(3))) : hex(rnd.bytes(1 + rnd.int(24)))
}
function cas() {
  const r = rnd.next()
  return r < 0.06 ? { cas: 'veto' } : r < 0.12 ? { cas: 'allow' } : {}
}
function op(inBatch) {
  const r = rnd.next()
  if (r < 0.58) {
    const v = value()
    return { op: 'put', key: key(0.5), ...(v === undefined ? {} : { value: v }), ...cas() }
  }
  if (r < 0.88) return { op: 'del', key: key(0.85), ...cas() }
  return { op: 'get', key: key(0.7) }
}

const steps = []
for (let i = 0; i < nOps; i++) {
  const r = rnd.next()
  if (r < 0.06) {
    sub = rnd.int(SUBS.length)
    steps.push({ op: 'sub', path: SUBS[sub] })
  } else if (r < 0.14) {
    const n = rnd.chance(0.1) ? 0 : 1 + rnd.int(rnd.chance(0.2) ? 60 : 12)
    steps.push({ op: 'batch', ops: Array.from({ length: n }, () => op(true)) })
  } else {
    steps.push(op(false))
  }
}

const { core, close } = await freshCore()
const db = new Hyperbee(core, beeOptions(options))
await db.ready()
const runner = new Runner(db, core)
for (const s of steps) await runner.step(s)
const blocks = await dumpBlocks(core)

// ---------------------------------------------------------------- a random read plan
const length = core.length
const uniq = (l) => [...new Set(l)]
const fullKey = (p, k) => (p.length ? hex(subOf(db, p).keyEncoding.encode(b4a.from(k, 'hex'))) : k)
const rootKeys = uniq(SUBS.flatMap((p, i) => touched[i].map((k) => fullKey(p, k))))
const anyKey = () => (rootKeys.length && rnd.chance(0.7) ? rnd.pick(rootKeys) : newKey())
function range(keys) {
  const pickKey = () => (keys.length && rnd.chance(0.7) ? rnd.pick(keys) : newKey())
  const r = {}
  for (const k of ['gt', 'gte', 'lt', 'lte']) if (rnd.chance(0.3)) r[k] = pickKey()
  if (rnd.chance(0.4)) r.reverse = true
  if (rnd.chance(0.4)) r.limit = rnd.int(12)
  return r
}
function history(version) {
  const h = {}
  const v = version
  if (v >= 3) {
    // bounds that never reach block 0 nor blocks at or past the version (see gen-bee-ops.mjs)
    const x = 1 + rnd.int(v - 1)
    const y = 1 + rnd.int(v - 1)
    const [lo, hi] = x <= y ? [x, y] : [y, x]
    const c = rnd.int(6)
    if (c === 0) Object.assign(h, { gte: lo, lt: hi })
    else if (c === 1) Object.assign(h, { gt: lo - 1, lte: hi })
    else if (c === 2) Object.assign(h, { gte: lo - v, lt: hi - v })
    else if (c === 3) Object.assign(h, { gt: lo - v - 1, lte: hi - v })
    else if (c === 4) Object.assign(h, { lte: 0 })
  }
  if (rnd.chance(0.4)) h.reverse = true
  if (rnd.chance(0.5)) h.limit = rnd.int(20)
  return h
}
// readable versions: lengths between steps (not inside a batch)
const stable = uniq([1, ...runner.lengths]).sort((a, b) => a - b)
const someVersions = (n) => uniq(Array.from({ length: n }, () => rnd.pick(stable))).sort((a, b) => a - b)
const usedSubs = SUBS.map((p, i) => i).filter((i) => i > 0 && touched[i].length)

const plan = {
  version: true,
  header: true,
  gets: uniq([...rootKeys, ...Array.from({ length: 30 }, anyKey)]),
  getBySeq: uniq(Array.from({ length: Math.min(40, length - 1) }, () => 1 + rnd.int(length - 1))),
  ranges: [{}, { reverse: true }, ...Array.from({ length: 40 }, () => range(rootKeys))],
  peeks: Array.from({ length: 8 }, () => {
    const r = range(rootKeys)
    delete r.limit
    return r
  }),
  history: [{}, ...Array.from({ length: 14 }, () => history(length))],
  diffs: someVersions(5).flatMap((v) => [{ version: v }, { version: v, range: range(rootKeys) }]),
  checkouts: someVersions(4).map((v) => ({
    version: v,
    plan: {
      version: true,
      gets: Array.from({ length: 20 }, anyKey),
      ranges: [{}, ...Array.from({ length: 5 }, () => range(rootKeys))],
      peeks: [{}, { reverse: true }],
      history: Array.from({ length: 4 }, () => history(v)),
      diffs: stable.filter((w) => w > v).slice(-2).map((w) => ({ version: w, range: range(rootKeys) }))
    }
  })),
  subs: usedSubs.map((i) => ({
    path: SUBS[i],
    plan: {
      gets: uniq([...touched[i], newKey()]),
      ranges: [{}, { reverse: true }, ...Array.from({ length: 8 }, () => range(touched[i]))],
      peeks: [{}, { reverse: true }],
      diffs: someVersions(2).map((v) => ({ version: v })),
      getBySeq: uniq(Array.from({ length: Math.min(5, length - 1) }, () => 1 + rnd.int(length - 1))),
      history: [history(length)]
    }
  }))
}
const reads = await runPlan(db, plan)
await db.close()
await close()

process.stdout.write(JSON.stringify({ seed, options, ops: steps, lengths: runner.lengths, blocks, plan, reads }) + '\n')
