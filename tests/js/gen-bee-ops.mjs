// Hyperbee operation scripts and read expectations for hyperwasm (JS = oracle, hyperbee 2.27.3).
// Usage: node tests/js/gen-bee-ops.mjs
//   writes tests/fixtures/bee/ops.json   (scenarios: steps, every block, length after each step)
//      and tests/fixtures/bee/reads.json (read plans run by JS on some of those bees + results)
// Deterministic: the same output every run. Schema: tests/js/README.md.
//
// Every scenario is built step by step on a real Hyperbee (Corestore in a temp dir); the builders
// look at the tree shape (decoded from the blocks) to aim at internal-node and leaf keys. Each
// scenario is then replayed on an instrumented copy of hyperbee's index.js (counters at every
// put/del/split/rebalance branch, `instrumentedHyperbee` in lib/bee-ops.mjs): the blocks must be
// identical, the counts are stored as `coverage`, and each scenario's `requires` paths (and, over
// all scenarios, every path) must have been hit, or the generator fails.
import fs from 'fs'
import path from 'path'
import { fileURLToPath } from 'url'
import { require, b4a } from './lib/common.mjs'
import {
  Hyperbee, hex, rng, freshCore, beeOptions, dumpBlocks, Runner, stripOutputs, runPlan, treeShape, depth,
  keysByKind, instrumentedHyperbee, ALL_PATHS, subOf
} from './lib/bee-ops.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(here, '../fixtures/bee')
fs.mkdirSync(OUT, { recursive: true })

const K = (s) => hex(b4a.from(s))
const kn = (i) => K('k' + String(i).padStart(5, '0'))
const V = (s) => hex(b4a.from(s))
const put = (key, value, extra = {}) => ({ op: 'put', key, ...(value === undefined ? {} : { value }), ...extra })
const del = (key, extra = {}) => ({ op: 'del', key, ...extra })
const get = (key) => ({ op: 'get', key })
const unhexStr = (h) => b4a.from(h, 'hex')
const cmpHex = (a, b) => b4a.compare(unhexStr(a), unhexStr(b))

function assert(cond, msg) {
  if (!cond) throw new Error('gen-bee-ops: ' + msg)
}

// ---------------------------------------------------------------- scenario builders
// Each: {name, options, requires: [paths], reads: 'full' | 'light' | null, build(ctx)}.
// ctx.run(step) runs a step on the live bee; ctx.shape() is the current tree; ctx.rnd a PRNG.

const scenarios = []
const scenario = (name, options, requires, reads, build) => scenarios.push({ name, options, requires, reads, build })

scenario('ascending-2000', {}, ['split', 'split-root'], 'light', async (ctx) => {
  for (let i = 0; i < 2000; i++) await ctx.run(put(kn(i), V('a' + i)))
  assert(depth(await ctx.shape()) >= 3, 'ascending depth')
})

scenario('descending-2000', {}, ['split', 'split-root'], 'light', async (ctx) => {
  for (let i = 1999; i >= 0; i--) await ctx.run(put(kn(i), V('d' + i)))
  assert(depth(await ctx.shape()) >= 3, 'descending depth')
})

scenario('shuffled-2000-overwrites', {}, ['split', 'split-root', 'put-overwrite-internal', 'put-overwrite-leaf'], 'light', async (ctx) => {
  const order = ctx.rnd.shuffle(Array.from({ length: 2000 }, (_, i) => i))
  for (const i of order) await ctx.run(put(kn(i), V('s' + i)))
  assert(depth(await ctx.shape()) >= 3, 'shuffled depth')
  // overwrite keys that sit in internal nodes and in leaves (re-read the shape each time)
  for (let round = 0; round < 40; round++) {
    const { internal, leaf } = keysByKind(await ctx.shape())
    const k = round % 2 ? ctx.rnd.pick(leaf) : ctx.rnd.pick(internal)
    const value = round % 5 === 4 ? null : V('over' + round)
    await ctx.run(put(k, value))
    if (round % 8 === 0) await ctx.run(get(k))
  }
  // the root's keys too
  for (const k of (await ctx.shape()).keys) await ctx.run(put(k, V('root-over')))
})

scenario('rebalance', {}, [
  'del-internal', 'del-leaf', 'del-internal-from-right', 'del-internal-from-left', 'borrow-left-internal',
  'borrow-left-leaf', 'borrow-right-internal', 'borrow-right-leaf', 'merge-left-internal', 'merge-left-leaf',
  'merge-right-internal', 'merge-right-leaf', 'root-shrink'
], 'full', async (ctx) => {
  const keys = Array.from({ length: 400 }, (_, i) => K('r' + String(i * 7).padStart(4, '0')))
  for (const k of ctx.rnd.shuffle(keys)) await ctx.run(put(k, V('v' + k.slice(-4))))
  assert(depth(await ctx.shape()) >= 3, 'rebalance tree depth ' + depth(await ctx.shape()))
  // internal keys first (nearest-leaf replacement both ways), then everything in random order
  for (let i = 0; i < 30; i++) {
    const { internal } = keysByKind(await ctx.shape())
    await ctx.run(del(ctx.rnd.pick(internal)))
  }
  await ctx.run(del(K('r0001'))) // missing: nothing appended
  const left = keysByKind(await ctx.shape())
  for (const k of ctx.rnd.shuffle([...left.internal, ...left.leaf])) {
    await ctx.run(del(k))
    if (ctx.rnd.chance(0.05)) await ctx.run(get(k))
  }
  const empty = await ctx.shape()
  assert(empty.keys.length === 0 && empty.children.length === 0, 'deleted everything')
  await ctx.run(del(keys[0])) // missing on an empty tree
  await ctx.run(get(keys[0]))
  // refill, then delete from the left end and from the right end
  const refill = keys.filter((_, i) => i % 2 === 0)
  for (const k of ctx.rnd.shuffle(refill)) await ctx.run(put(k, V('again')))
  for (const k of refill.slice(0, 40)) await ctx.run(del(k))
  for (const k of refill.slice(-40).reverse()) await ctx.run(del(k))
  for (const k of refill.slice(60, 70)) await ctx.run(get(k))
})

scenario('edge-keys', {}, ['put-overwrite-leaf', 'del-leaf'], 'full', async (ctx) => {
  await ctx.run(del(K('missing'))) // on an empty bee: JS appends the header, nothing else
  assert(ctx.core.length === 1, 'del on empty bee writes the header')
  await ctx.run(del(K('missing')))
  await ctx.run(get(K('missing')))
  const keys = [
    '', '00', '0000', '000000', '01', '7f', '80', 'fe', 'ff', 'ffff', 'ffffff', '00ff', 'ff00', '0100', '61', '6100', '61ff',
    K('ünïcode'), K('日本語'), K('😀'), K('é'), K('e\u0301'), K('\u0000'), K('a b'), K('Z'), K('z')
  ]
  for (const [i, k] of keys.entries()) await ctx.run(put(k, i % 4 === 0 ? '' : V('val-' + i)))
  await ctx.run(put(K('novalue'))) // put(key): JS null value, not a deletion
  await ctx.run(get(K('novalue')))
  await ctx.run(put(K('novalue'))) // again (alwaysDuplicate: appended)
  await ctx.run(put(K('z'))) // overwrite with no value
  await ctx.run(put('', V('empty key overwritten')))
  await ctx.run(put(K('empty-value'), ''))
  await ctx.run(put(K('empty-value'), ''))
  for (const k of ['', '00', 'ff', K('novalue'), K('z'), K('empty-value')]) await ctx.run(get(k))
  await ctx.run(del(''))
  await ctx.run(del('ff'))
  await ctx.run(del('ff'))
  await ctx.run(get(''))
  // a long key and a longer value
  await ctx.run(put(hex(ctx.rnd.bytes(300)), { prng: 3, len: 700 }))
})

scenario('cas', {}, ['put-overwrite-internal', 'put-overwrite-leaf', 'del-internal', 'del-leaf'], 'full', async (ctx) => {
  for (const i of ctx.rnd.shuffle(Array.from({ length: 120 }, (_, i) => i))) await ctx.run(put(kn(i), V('c' + i)))
  for (let round = 0; round < 24; round++) {
    const { internal, leaf } = keysByKind(await ctx.shape())
    const k = ctx.rnd.pick(round % 2 ? leaf : internal)
    const cas = round % 3 === 0 ? 'allow' : 'veto'
    if (round % 4 < 2) await ctx.run(put(k, round % 6 === 5 ? null : V('cas' + round), { cas }))
    else await ctx.run(del(k, { cas }))
  }
  // on missing keys: put inserts without asking, del does nothing
  await ctx.run(put(kn(5000), V('new'), { cas: 'veto' }))
  await ctx.run(del(kn(6000), { cas: 'allow' }))
  await ctx.run(get(kn(5000)))
})

scenario('batches', {}, ['split', 'split-root', 'put-overwrite-internal', 'put-overwrite-leaf', 'del-internal', 'del-leaf'], 'full', async (ctx) => {
  await ctx.run({ op: 'batch', ops: [] }) // empty batch on an empty bee: nothing
  assert(ctx.core.length === 0, 'empty batch writes nothing')
  // one batch growing the tree from nothing to depth 3: the root splits more than once
  await ctx.run({ op: 'batch', ops: Array.from({ length: 80 }, (_, i) => put(kn(i * 3), V('b' + i))) })
  assert(depth(await ctx.shape()) >= 3, 'batch depth')
  await ctx.run({ op: 'batch', ops: [] })
  // mixed: new keys, overwrites and deletes of keys put earlier in this batch and before it, reads
  {
    const { internal, leaf } = keysByKind(await ctx.shape())
    const ops = []
    for (let i = 0; i < 12; i++) ops.push(put(kn(1000 + i), V('new' + i)))
    ops.push(get(kn(1003)))
    ops.push(put(kn(1003), V('overwritten in batch')))
    ops.push(get(kn(1003)))
    ops.push(del(kn(1005)))
    ops.push(get(kn(1005)))
    ops.push(put(kn(1005)))
    ops.push(put(internal[0], V('internal over')))
    ops.push(put(leaf[3], V('leaf over')))
    ops.push(del(internal[1]))
    ops.push(del(leaf[5]))
    ops.push(get(internal[1]))
    ops.push(del(kn(999999))) // missing
    for (let i = 0; i < 6; i++) ops.push(del(kn(i * 3)))
    ops.push(put(kn(1000), V('again')))
    ops.push(del(kn(1001)))
    ops.push(put(kn(1001), V('back')))
    await ctx.run({ op: 'batch', ops })
  }
  // a cas veto in the middle (on an internal key and a leaf key), then ops elsewhere
  {
    const { internal, leaf } = keysByKind(await ctx.shape())
    const ops = [
      put(kn(2000), V('before veto')),
      put(internal[internal.length - 1], V('vetoed'), { cas: 'veto' }),
      put(kn(2001), V('after veto')),
      del(leaf[0], { cas: 'veto' }),
      put(kn(2), V('after second veto')),
      put(leaf[1], V('allowed'), { cas: 'allow' }),
      del(internal[0], { cas: 'allow' }),
      put(kn(2000), V('cas on a batch key'), { cas: 'allow' }),
      put(kn(2001), V('cas veto on a batch key'), { cas: 'veto' }),
      get(kn(2001))
    ]
    await ctx.run({ op: 'batch', ops })
  }
  // vetoes only: nothing appended
  {
    const { internal } = keysByKind(await ctx.shape())
    await ctx.run({ op: 'batch', ops: [put(internal[0], V('no'), { cas: 'veto' }), del(kn(999998))] })
  }
  // a deleting batch that rebalances, then single ops after it
  {
    const { leaf, internal } = keysByKind(await ctx.shape())
    const victims = ctx.rnd.shuffle([...leaf, ...internal]).slice(0, 40)
    await ctx.run({ op: 'batch', ops: victims.map((k) => del(k)) })
  }
  await ctx.run(put(kn(3000), V('single after batches')))
  await ctx.run({ op: 'batch', ops: [put(kn(3001), V('one'))] })
  await ctx.run({ op: 'batch', ops: Array.from({ length: 120 }, (_, i) => put(kn(4000 + i), V('x' + i))) })
})

scenario('batch-on-empty', {}, [], 'full', async (ctx) => {
  // a batch whose only op is a missing del on an empty bee: the header is appended, nothing else
  await ctx.run({ op: 'batch', ops: [del(K('nothing'))] })
  await ctx.run({ op: 'batch', ops: [put(K('a'), V('1')), del(K('a')), put(K('a'), V('2')), get(K('a'))] })
  await ctx.run({ op: 'batch', ops: [del(K('a')), del(K('a')), get(K('a'))] })
})

const SUBS = {
  a: [{ name: K('a') }],
  ab: [{ name: K('a') }, { name: K('b') }],
  bang: [{ name: K('c'), sep: K('!') }],
  bangNested: [{ name: K('c'), sep: K('!') }, { name: K('d') }],
  wide: [{ name: K('w'), sep: K('::') }, { name: K('x'), sep: K('/') }],
  bin: [{ name: 'ff00', sep: 'ff' }]
}

scenario('subs', { metadata: { userData: V('subs') } }, [], 'full', async (ctx) => {
  // the first op goes through a sub: the header (with the bee's metadata) is written for it
  await ctx.run({ op: 'sub', path: SUBS.a })
  await ctx.run(put(K('first'), V('in a')))
  await ctx.run({ op: 'sub', path: [] })
  for (const k of ['a', 'a\0', 'a\0\0', 'a\x01', 'a!', 'b', 'c', 'c!', 'c"', 'c!d', 'w::', 'w::x/']) {
    await ctx.run(put(K(k), V('root ' + k)))
  }
  for (const [name, p] of Object.entries(SUBS)) {
    await ctx.run({ op: 'sub', path: p })
    for (let i = 0; i < 12; i++) await ctx.run(put(K(name + i), V(name + ' ' + i)))
    await ctx.run(put('', V('empty key in ' + name)))
    await ctx.run(put('00', V('zero key in ' + name)))
    await ctx.run(put('ff', V('ff key in ' + name)))
    await ctx.run(put(K(name + '-novalue')))
    await ctx.run(get(K(name + '3')))
    await ctx.run(get(K('first')))
    await ctx.run(del(K(name + '5')))
    await ctx.run(del(K(name + '5')))
    await ctx.run(put(K(name + '7'), V('cas'), { cas: 'allow' }))
    await ctx.run(del(K(name + '8'), { cas: 'veto' }))
    await ctx.run({
      op: 'batch',
      ops: [put(K(name + 'b1'), V('batch')), del(K(name + '1')), put(K(name + 'b2')), get(K(name + 'b1')), get(K(name + '1'))]
    })
  }
  await ctx.run({ op: 'sub', path: [] })
  await ctx.run(del(K('a')))
  await ctx.run(put(K('after subs'), V('root')))
})

scenario('always-duplicate-false', { alwaysDuplicate: false }, ['same-value-internal', 'same-value-leaf'], 'full', async (ctx) => {
  for (const i of ctx.rnd.shuffle(Array.from({ length: 100 }, (_, i) => i))) await ctx.run(put(kn(i), V('same' + (i % 7))))
  for (let round = 0; round < 12; round++) {
    const shape = await ctx.shape()
    const { internal, leaf } = keysByKind(shape)
    const k = ctx.rnd.pick(round % 2 ? leaf : internal)
    const i = parseInt(b4a.toString(unhexStr(k)).slice(1), 10)
    await ctx.run(put(k, V('same' + (i % 7)))) // same value: skipped
    if (round % 3 === 0) await ctx.run(put(k, V('different' + round))) // appended
  }
  await ctx.run(put(K('nv')))
  await ctx.run(put(K('nv'))) // null == null: skipped
  await ctx.run(put(K('nv'), ''))
  await ctx.run(put(K('nv'), '')) // empty == empty: skipped
  await ctx.run(put(K('nv')))
  // in a batch: a skipped same-value put on an internal key, then ops in other subtrees
  {
    const { internal, leaf } = keysByKind(await ctx.shape())
    const same = (k) => V('same' + (parseInt(b4a.toString(unhexStr(k)).slice(1), 10) % 7))
    const ops = [
      put(internal[0], same(internal[0])),
      put(kn(500), V('batch new')),
      put(leaf[leaf.length - 1], same(leaf[leaf.length - 1])),
      put(kn(501), V('batch new 2')),
      put(kn(500), V('batch new')),
      put(internal[internal.length - 1], V('changed'), { cas: 'allow' }),
      put(internal[1], same(internal[1]), { cas: 'allow' })
    ]
    await ctx.run({ op: 'batch', ops })
  }
})

// JS quirk: `sub()` does not pass `alwaysDuplicate` on, so a sub of an alwaysDuplicate: false
// bee appends same-value puts (its own `alwaysDuplicate` is the default, true).
scenario('always-duplicate-false-sub', { alwaysDuplicate: false }, [], null, async (ctx) => {
  await ctx.run(put(K('k'), V('v')))
  await ctx.run(put(K('k'), V('v'))) // skipped on the main bee
  await ctx.run({ op: 'sub', path: [{ name: K('s') }] })
  await ctx.run(put(K('k'), V('v')))
  await ctx.run(put(K('k'), V('v'))) // appended in the sub
  await ctx.run(put(K('n')))
  await ctx.run(put(K('n'))) // appended in the sub
  await ctx.run({ op: 'batch', ops: [put(K('k'), V('v')), put(K('k'), V('v'))] })
  assert(ctx.core.length === 8, 'alwaysDuplicate in a sub: ' + ctx.core.length)
})

scenario('metadata-content-feed', { metadata: { contentFeed: hex(b4a.alloc(32, 0xab)), userData: V('hello') } }, [], 'full', async (ctx) => {
  for (let i = 0; i < 20; i++) await ctx.run(put(kn(i), V('m' + i)))
  await ctx.run(del(kn(3)))
})

scenario('metadata-user-data', { metadata: { userData: '' } }, [], null, async (ctx) => {
  await ctx.run(put(K('x'), V('y')))
})

scenario('metadata-empty', { metadata: {} }, [], null, async (ctx) => {
  await ctx.run(put(K('x'), V('y')))
})

scenario('large-value', {}, [], 'full', async (ctx) => {
  await ctx.run(put(K('small'), V('s')))
  await ctx.run(put(K('big'), { prng: 7, len: 1048576 }))
  await ctx.run(put(K('medium'), { prng: 8, len: 65537 }))
  await ctx.run(get(K('big')))
  for (let i = 0; i < 30; i++) await ctx.run(put(kn(i), V('after big ' + i)))
  await ctx.run(put(K('big'), { prng: 9, len: 100000 }))
  await ctx.run(del(K('medium')))
})

// ---------------------------------------------------------------- read plans

const uniq = (list) => [...new Set(list)]

// Keys near `keys` that are (mostly) not in the bee.
function missingNear(keys, rnd, n) {
  const out = ['', '00', 'ff', 'ffffffff', K('zzzz')]
  for (let i = 0; i < n; i++) {
    const k = rnd.pick(keys)
    out.push(k + '00', k.slice(0, -2), k + 'ff')
  }
  return uniq(out)
}

// Range options over sorted `keys` (hex): windows of about `width` keys, every bound kind.
// With `cap`, every range without a limit gets limit `cap` (keeps light plans small).
function rangesOver(keys, rnd, n, width, opts = {}) {
  const sorted = uniq(keys).sort(cmpHex)
  const out = []
  if (opts.full) out.push({}, { reverse: true })
  out.push({ limit: 0 }, { limit: 1 }, { reverse: true, limit: 3 }, { limit: width })
  for (let i = 0; i < n && sorted.length; i++) {
    const ia = rnd.int(sorted.length)
    const ib = Math.min(sorted.length - 1, ia + rnd.int(width))
    // bounds are keys of the bee or keys just after them (key ‖ 00)
    const lo = sorted[ia] + (rnd.chance(0.3) ? '00' : '')
    const hi = sorted[ib] + (rnd.chance(0.3) ? '00' : '')
    const r = {}
    const kind = i % 9
    if (kind === 0) Object.assign(r, { gt: lo, lt: hi })
    else if (kind === 1) Object.assign(r, { gte: lo, lte: hi })
    else if (kind === 2) Object.assign(r, { gt: lo, lte: hi })
    else if (kind === 3) Object.assign(r, { gte: lo, lt: hi })
    else if (kind === 4) Object.assign(r, { gte: hi, limit: width })
    else if (kind === 5) Object.assign(r, { lt: lo, reverse: true, limit: width })
    else if (kind === 6) Object.assign(r, { gt: hi, lt: lo }) // empty
    else if (kind === 7) Object.assign(r, { gt: lo, gte: lo, lte: hi }) // both: JS takes gt
    else Object.assign(r, { gte: lo, lt: hi, lte: hi }) // both: JS takes lt
    if (i % 2 && r.reverse === undefined) r.reverse = true
    if (i % 5 === 3) r.limit = 1 + rnd.int(4)
    out.push(r)
  }
  if (opts.cap) for (const r of out) if (r.limit === undefined) r.limit = opts.cap
  return out
}

// History options valid at `version` (never reading block 0 or blocks ≥ version).
function historyOver(version, rnd, cap) {
  const v = version
  const out = [
    {}, { reverse: true }, { limit: 0 }, { limit: 1 }, { reverse: true, limit: 2 },
    { lt: 0 }, { lte: 0 }, { gte: 0, limit: 3 }, { gt: 0, limit: 3 }
  ]
  const r = (a, b) => a + rnd.int(Math.max(1, b - a))
  for (let i = 0; v >= 3 && i < 12; i++) {
    const lo = r(1, v - 1)
    const hi = r(lo, v)
    const o = {}
    switch (i % 6) {
      case 0: Object.assign(o, { gte: lo, lt: hi }); break
      case 1: Object.assign(o, { gt: lo - 1, lte: Math.min(hi, v - 1) }); break
      case 2: Object.assign(o, { gte: lo - v, lt: hi - v }); break // negative: relative to version
      case 3: Object.assign(o, { gt: lo - v - 1, lte: -1 }); break
      case 4: Object.assign(o, { gte: -Math.min(v - 1, 1 + rnd.int(10)) }); break
      default: Object.assign(o, { lt: hi })
    }
    if (i % 2) o.reverse = true
    if (i % 4 === 1) o.limit = 1 + rnd.int(6)
    out.push(o)
  }
  if (cap) for (const o of out) if (o.limit === undefined) o.limit = cap
  return out
}

async function readPlan(sc, run, rnd) {
  const full = sc.reads === 'full'
  const cap = full ? (run.core.length > 400 ? 40 : 0) : 10
  const length = run.core.length
  const rootKeys = uniq(run.rootKeys)
  const sample = (list, n) => (list.length <= n ? list : rnd.shuffle(list).slice(0, n))
  const gets = full ? [...rootKeys, ...missingNear(rootKeys, rnd, 20)] : [...sample(rootKeys, 100), ...missingNear(rootKeys, rnd, 10)]
  const seqs = Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1)
  // checkouts only at lengths the bee had between steps: a version inside a batch has blocks
  // whose tree nodes were all rewritten later in the batch, and JS cannot read it (TypeError)
  const stable = uniq([1, ...run.lengths]).sort((a, b) => a - b)
  const at = (f) => stable[Math.min(stable.length - 1, Math.floor(f * stable.length))]
  const versions = uniq([1, stable[1], at(0.25), at(0.5), at(0.9), stable[stable.length - 2], length].filter((v) => v >= 1))
  const width = full ? 20 : 8
  const dcap = full ? 40 : 10
  const plan = {
    version: true,
    header: true,
    gets,
    getBySeq: full ? sample(seqs, 200) : sample(seqs, 30),
    ranges: rangesOver(rootKeys, rnd, full ? 36 : 12, width, { full: cap === 0, cap }),
    peeks: [{}, { reverse: true }, ...rangesOver(rootKeys, rnd, 8, 5).filter((r) => r.limit === undefined)],
    history: historyOver(length, rnd, cap),
    diffs: versions.flatMap((v) => [
      { version: v, range: { limit: dcap } },
      { version: v, range: { ...rangesOver(rootKeys, rnd, 1, width)[4], limit: dcap } },
      { version: v, range: { ...rangesOver(rootKeys, rnd, 4, width)[7] } }
    ]),
    checkouts: versions.slice(full ? 0 : 2).map((v) => ({
      version: v,
      plan: {
        version: true,
        gets: sample(gets, full ? 40 : 10),
        ranges: rangesOver(rootKeys, rnd, full ? 6 : 3, width, { cap: dcap }),
        peeks: [{}, { reverse: true }],
        history: historyOver(v, rnd, dcap).slice(0, 8),
        diffs: versions.filter((w) => w > v).slice(0, 2).map((w) => ({ version: w, range: { limit: dcap } }))
      }
    }))
  }
  if (run.subPaths.length) {
    const subPlan = (p, keys) => ({
      path: p,
      plan: {
        gets: [...keys, ...missingNear(keys, rnd, 4)],
        ranges: [{}, { reverse: true }, ...rangesOver(keys, rnd, 10, 6)],
        peeks: [{}, { reverse: true }, { gt: keys[0] }],
        diffs: versions.slice(2, 5).map((v) => ({ version: v, range: {} })),
        // keys of every block, sliced by the prefix length (JS prefixEncoding.decode)
        getBySeq: sample(seqs, 10),
        history: [{ limit: 30 }, { reverse: true, limit: 10 }]
      }
    })
    plan.subs = run.subPaths.map((p) => subPlan(p, uniq(run.subKeys.get(JSON.stringify(p)))))
    // (getBySeq at a checkout: only seqs below its version; JS reads any block of the core there)
    const v = at(0.5)
    const atV = (sp) => ({ ...sp, plan: { ...sp.plan, getBySeq: sp.plan.getBySeq.filter((s) => s < v) } })
    plan.checkouts.push({ version: v, plan: { subs: plan.subs.slice(0, 3).map(atV) } })
  }
  return plan
}

// ---------------------------------------------------------------- running scenarios

async function runScenario(sc, HyperbeeClass, steps) {
  const { core, close } = await freshCore()
  const db = new HyperbeeClass(core, beeOptions(sc.options))
  await db.ready()
  const runner = new Runner(db, core)
  const recorded = []
  const rootKeys = []
  const subKeys = new Map()
  let subPath = []
  const track = (op) => {
    if (op.op === 'sub') {
      subPath = op.path
      return
    }
    if (op.op === 'batch') return op.ops.forEach(track)
    if (subPath.length) {
      const id = JSON.stringify(subPath)
      if (!subKeys.has(id)) subKeys.set(id, [])
      subKeys.get(id).push(op.key)
      rootKeys.push(hex(subOf(db, subPath).keyEncoding.encode(unhexStr(op.key))))
    } else {
      rootKeys.push(op.key)
    }
  }
  const ctx = {
    core,
    db,
    rnd: rng(0x5eed + sc.name.length * 131 + sc.name.charCodeAt(0)),
    async run(step) {
      recorded.push(step)
      track(step)
      await runner.step(step)
    },
    shape: () => treeShape(core)
  }
  if (steps) for (const s of steps) await ctx.run(s)
  else await sc.build(ctx)
  const blocks = await dumpBlocks(core)
  const subPaths = [...subKeys.keys()].map((id) => JSON.parse(id))
  return { core, db, close, steps: recorded, lengths: runner.lengths, blocks, rootKeys, subKeys, subPaths }
}

const generator = {
  hyperbee: require('hyperbee/package.json').version,
  hypercore: require('hypercore/package.json').version,
  corestore: require('corestore/package.json').version,
  node: process.version
}
const instrumented = instrumentedHyperbee()
const opsOut = []
const readsOut = []
const allHit = new Set()
const t0 = Date.now()

for (const sc of scenarios) {
  const run = await runScenario(sc, Hyperbee)
  let reads = null
  if (sc.reads) {
    const plan = await readPlan(sc, run, rng(0xbee + run.steps.length))
    reads = { scenario: sc.name, plan, results: await runPlan(run.db, plan) }
  }
  await run.close()

  // replay on the instrumented module: same blocks, same outputs; which branches ran
  instrumented.take()
  const again = await runScenario(sc, instrumented.Hyperbee, stripOutputs(run.steps))
  await again.close()
  const coverage = instrumented.take()
  assert(JSON.stringify(again.blocks) === JSON.stringify(run.blocks), sc.name + ': instrumented blocks differ')
  assert(JSON.stringify(again.steps) === JSON.stringify(run.steps), sc.name + ': instrumented outputs differ')
  assert(JSON.stringify(again.lengths) === JSON.stringify(run.lengths), sc.name + ': instrumented lengths differ')
  for (const p of sc.requires) assert(coverage[p] > 0, `${sc.name}: path ${p} not hit (${JSON.stringify(coverage)})`)
  for (const p of Object.keys(coverage)) allHit.add(p)

  opsOut.push({ name: sc.name, options: sc.options, coverage, steps: run.steps, lengths: run.lengths, blocks: run.blocks })
  if (reads) readsOut.push(reads)
  console.log(sc.name, run.steps.length, 'steps', run.blocks.length, 'blocks', JSON.stringify(coverage))
}
for (const p of ALL_PATHS) assert(allHit.has(p), 'no scenario hits ' + p)

const write = (name, value) => {
  const file = path.join(OUT, name)
  fs.writeFileSync(file, JSON.stringify(value) + '\n')
  console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes')
}
write('ops.json', { generator, paths: ALL_PATHS, scenarios: opsOut })
write('reads.json', { generator, scenarios: readsOut })
console.log('done in', Date.now() - t0, 'ms')
