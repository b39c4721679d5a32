// Shared helpers of the Hyperbee oracle scripts (gen-bee-ops.mjs, bee-random.mjs, bee-read.mjs):
// the operation-script runner, the read-plan runner, the value PRNG and a tree-shape walker.
// The Rust side of every function here lives in wasm/core/tests/bee_common/mod.rs; keep the
// two in step (schema: tests/js/README.md, "Hyperbee operation scripts and read plans").
import crypto from 'crypto'
import fs from 'fs'
import os from 'os'
import path from 'path'
import Module from 'module'
import { require, b4a } from './common.mjs'

export const Corestore = require('corestore')
export const Hyperbee = require('hyperbee')
const { Node, YoloIndex } = require('hyperbee/lib/messages.js')

export const hex = (b) => (b == null ? null : b4a.toString(b, 'hex'))
export const unhex = (s) => (s == null ? null : b4a.from(s, 'hex'))

// ---------------------------------------------------------------- PRNGs

// Value bytes described as {prng: seed, len}: xorshift32 (13, 17, 5), one byte per step, the
// top byte of the state. Seed 0 is replaced by 0x9e3779b9. Same as `xorshift_bytes` in Rust.
export function xorshiftBytes(seed, len) {
  let x = seed >>> 0 || 0x9e3779b9
  const out = b4a.alloc(len)
  for (let i = 0; i < len; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x >>> 24
  }
  return out
}

// Script generation randomness (JS only): mulberry32.
export function rng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (list) => list[int(list.length)],
    shuffle(list) {
      const a = list.slice()
      for (let i = a.length - 1; i > 0; i--) {
        const j = int(i + 1)
        ;[a[i], a[j]] = [a[j], a[i]]
      }
      return a
    },
    bytes: (n) => b4a.from(Array.from({ length: n }, () => int(256)))
  }
}

// ---------------------------------------------------------------- values and entries

// A step's value: absent/null → no value (JS `put(key)`), hex string, or {prng, len}.
export function decodeValue(v) {
  if (v === undefined || v === null) return null
  if (typeof v === 'string') return unhex(v)
  return xorshiftBytes(v.prng, v.len)
}

// Bytes longer than BIG are shown as {len, sha256} in fixtures and results (blocks and values).
export const BIG = 65536
export function bytesJson(b) {
  if (b == null) return null
  if (b.byteLength <= BIG) return hex(b)
  return { len: b.byteLength, sha256: crypto.createHash('sha256').update(b).digest('hex') }
}

export const entryJson = (e) =>
  e == null ? null : { seq: e.seq, key: bytesJson(e.key), value: bytesJson(e.value) }

export function headerJson(h) {
  if (h == null) return null
  const m = h.metadata
  return {
    protocol: h.protocol,
    metadata: m ? { contentFeed: hex(m.contentFeed), userData: hex(m.userData) } : null
  }
}

// ---------------------------------------------------------------- bees on temp corestores

const dirs = []
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

// A fresh writable core on a Corestore in a temp dir. Returns {store, core, close}.
export async function freshCore() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-bee-'))
  dirs.push(dir)
  const store = new Corestore(dir)
  const core = store.get({ name: 'bee' })
  await core.ready()
  return {
    store,
    core,
    async close() {
      await store.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

// Scenario options → Hyperbee options (binary keys and values: no encodings).
export function beeOptions(options = {}) {
  const o = {}
  if (options.metadata) {
    o.metadata = {}
    if (options.metadata.contentFeed != null) o.metadata.contentFeed = unhex(options.metadata.contentFeed)
    if (options.metadata.userData != null) o.metadata.userData = unhex(options.metadata.userData)
  }
  if (options.alwaysDuplicate === false) o.alwaysDuplicate = false
  return o
}

export async function dumpBlocks(core) {
  const blocks = []
  for (let i = 0; i < core.length; i++) blocks.push(bytesJson(await core.get(i)))
  return blocks
}

// `path`: [{name: hex, sep?: hex}] → bee.sub(name, {sep}) for each level.
export function subOf(bee, subPath) {
  let b = bee
  for (const p of subPath) b = b.sub(unhex(p.name), p.sep != null ? { sep: unhex(p.sep) } : {})
  return b
}

// ---------------------------------------------------------------- operation scripts

// Runs steps on `db` (a Hyperbee on `core`), one at a time. Fills in the JS outputs of the
// steps (`casCalls` of cas ops, `expect` of get ops); `lengths` is the core length after each.
export class Runner {
  constructor(db, core) {
    this.db = db
    this.core = core
    this.cur = db
    this.lengths = []
  }

  async step(step) {
    if (step.op === 'sub') {
      this.cur = subOf(this.db, step.path)
    } else if (step.op === 'batch') {
      const b = this.cur.batch()
      for (const op of step.ops) await runOp(b, op)
      await b.flush()
    } else {
      await runOp(this.cur, step)
    }
    this.lengths.push(this.core.length)
    return this.core.length
  }
}

export async function runSteps(db, core, steps) {
  const r = new Runner(db, core)
  for (const s of steps) await r.step(s)
  return r.lengths
}

// A deep copy of steps without the JS outputs.
export function stripOutputs(steps) {
  return JSON.parse(JSON.stringify(steps, (k, v) => (k === 'casCalls' || k === 'expect' ? undefined : v)))
}

async function runOp(target, op) {
  const opts = {}
  if (op.cas) {
    op.casCalls = []
    const answer = op.cas === 'allow'
    opts.cas = (prev, next) => {
      op.casCalls.push({ prev: entryJson(prev), next: entryJson({ ...next, value: next.value ?? null }) })
      return answer
    }
  }
  const key = unhex(op.key)
  if (op.op === 'put') {
    const value = decodeValue(op.value)
    if (value === null) await target.put(key, undefined, opts)
    else await target.put(key, value, opts)
  } else if (op.op === 'del') {
    await target.del(key, opts)
  } else if (op.op === 'get') {
    op.expect = entryJson(await target.get(key))
  } else {
    throw new Error('unknown op ' + op.op)
  }
}

// ---------------------------------------------------------------- read plans

function rangeOpts(r = {}) {
  const o = {}
  for (const k of ['gt', 'gte', 'lt', 'lte']) if (r[k] != null) o[k] = unhex(r[k])
  if (r.reverse) o.reverse = true
  if (r.limit != null) o.limit = r.limit
  return o
}

function historyOpts(h = {}) {
  const o = {}
  for (const k of ['gt', 'gte', 'lt', 'lte']) if (h[k] != null) o[k] = h[k]
  if (h.reverse) o.reverse = true
  if (h.limit != null) o.limit = h.limit
  return o
}

async function collect(stream, map) {
  const out = []
  for await (const x of stream) out.push(map(x))
  return out
}

// Runs a read plan on `bee` (see the README for the schema); results mirror the plan's keys.
export async function runPlan(bee, plan) {
  await bee.ready()
  const out = {}
  if (plan.version) out.version = bee.version
  if (plan.header) out.header = headerJson(await bee.getHeader())
  if (plan.gets) {
    out.gets = []
    for (const k of plan.gets) out.gets.push(entryJson(await bee.get(unhex(k))))
  }
  if (plan.getBySeq) {
    out.getBySeq = []
    for (const s of plan.getBySeq) {
      const e = await bee.getBySeq(s)
      out.getBySeq.push({ key: bytesJson(e.key), value: bytesJson(e.value) })
    }
  }
  if (plan.ranges) {
    out.ranges = []
    for (const r of plan.ranges) out.ranges.push(await collect(bee.createReadStream(rangeOpts(r)), entryJson))
  }
  if (plan.peeks) {
    out.peeks = []
    for (const r of plan.peeks) out.peeks.push(entryJson(await bee.peek(rangeOpts(r))))
  }
  if (plan.history) {
    out.history = []
    for (const h of plan.history) {
      out.history.push(
        await collect(bee.createHistoryStream(historyOpts(h)), (e) => ({ type: e.type, ...entryJson(e) }))
      )
    }
  }
  if (plan.diffs) {
    out.diffs = []
    for (const d of plan.diffs) {
      const s = bee.createDiffStream(d.version, rangeOpts(d.range))
      out.diffs.push(await collect(s, (e) => ({ left: entryJson(e.left), right: entryJson(e.right) })))
    }
  }
  if (plan.checkouts) {
    out.checkouts = []
    for (const c of plan.checkouts) {
      const snap = bee.checkout(c.version)
      out.checkouts.push(await runPlan(snap, c.plan))
      await snap.close()
    }
  }
  if (plan.subs) {
    out.subs = []
    for (const s of plan.subs) out.subs.push(await runPlan(subOf(bee, s.path), s.plan))
  }
  return out
}

// ---------------------------------------------------------------- tree shape

// The tree of a bee at `version` decoded straight from the blocks:
// {keys: [hex], children: [subtree]} (null when version < 2). Also `depth(tree)`.
export async function treeShape(core, version = core.length) {
  if (version < 2) return null
  const cache = new Map()
  const block = async (seq) => {
    if (!cache.has(seq)) {
      const n = Node.decode(await core.get(seq))
      cache.set(seq, { key: n.key, levels: YoloIndex.decode(n.index).levels })
    }
    return cache.get(seq)
  }
  const walk = async (seq, offset) => {
    const lvl = (await block(seq)).levels[offset]
    const keys = []
    for (const k of lvl.keys) keys.push(hex((await block(k)).key))
    const children = []
    for (let i = 0; i < lvl.children.length; i += 2) children.push(await walk(lvl.children[i], lvl.children[i + 1]))
    return { keys, children }
  }
  return walk(version - 1, 0)
}

export function depth(tree) {
  let d = 0
  for (let t = tree; t; t = t.children[0]) d++
  return d
}

// Keys of internal nodes and of leaves.
export function keysByKind(tree, out = { internal: [], leaf: [] }) {
  if (!tree) return out
  ;(tree.children.length ? out.internal : out.leaf).push(...tree.keys)
  for (const c of tree.children) keysByKind(c, out)
  return out
}

// ---------------------------------------------------------------- instrumented hyperbee

// The installed hyperbee/index.js loaded again with counters at every branch of put/del/
// rebalance that matters for byte identity (see PROBES). Behaviour is unchanged; the generator
// checks that by comparing blocks with the plain module. Returns {Hyperbee, take}.
const PROBES = [
  ['          node.setKey(mid, target)\n', "__cov('put-overwrite-internal')\n"],
  ['        this.changed = true\n        this.keys[mid] = key\n', "__cov('put-overwrite-leaf')\n"],
  ['          if (sameValue(prev.value, value)) return this._unlockMaybe()\n', "if (sameValue(prev.value, value)) __cov('same-value-internal')\n"],
  ['          if (sameValue(prev.value, value)) return true\n', "if (sameValue(prev.value, value)) __cov('same-value-leaf')\n"],
  ['      if (parent) {\n        needsSplit', "__cov(parent ? 'split' : 'split-root')\n"],
  ['          if (node.children.length) await setKeyToNearestLeaf', "__cov(node.children.length ? 'del-internal' : 'del-leaf')\n"],
  ['  if (ls < rs) {\n', "__cov(ls < rs ? 'del-internal-from-right' : 'del-internal-from-left')\n"],
  ['      left.changed = true\n      node.keys.unshift', "__cov('borrow-left-' + (node.children.length ? 'internal' : 'leaf'))\n"],
  ['      right.changed = true\n      node.keys.push', "__cov('borrow-right-' + (node.children.length ? 'internal' : 'leaf'))\n"],
  ['    left.merge(right, parent.keys[index])\n', "__cov((right === node ? 'merge-left-' : 'merge-right-') + (node.children.length ? 'internal' : 'leaf'))\n"],
  ['  if (!root.keys.length && root.children.length) return', "if (!root.keys.length && root.children.length) __cov('root-shrink')\n"]
]

export const ALL_PATHS = [
  'put-overwrite-internal', 'put-overwrite-leaf', 'same-value-internal', 'same-value-leaf', 'split', 'split-root',
  'del-internal', 'del-leaf', 'del-internal-from-right', 'del-internal-from-left',
  'borrow-left-internal', 'borrow-left-leaf', 'borrow-right-internal', 'borrow-right-leaf',
  'merge-left-internal', 'merge-left-leaf', 'merge-right-internal', 'merge-right-leaf', 'root-shrink'
]

export function instrumentedHyperbee() {
  const file = require.resolve('hyperbee')
  let src = fs.readFileSync(file, 'utf8')
  for (const [anchor, probe] of PROBES) {
    if (src.split(anchor).length !== 2) throw new Error('probe anchor not found exactly once: ' + JSON.stringify(anchor))
    src = src.replace(anchor, probe + anchor)
  }
  globalThis.__hyperwasmBeeCov = {}
  const m = new Module(file, null)
  m.filename = file
  m.paths = Module._nodeModulePaths(path.dirname(file))
  m._compile('const __cov = (p) => { const c = globalThis.__hyperwasmBeeCov; c[p] = (c[p] || 0) + 1 };' + src, file)
  return {
    Hyperbee: m.exports,
    // The counts since the last take(), sorted by name.
    take() {
      const c = globalThis.__hyperwasmBeeCov
      globalThis.__hyperwasmBeeCov = {}
      return Object.fromEntries(Object.keys(c).sort().map((k) => [k, c[k]]))
    }
  }
}
