#!/usr/bin/env node
// JS anchor for the Hyperbee benchmarks: hyperbee 2.27.3 on a Corestore 7 (RocksDB) in a temp dir,
// Node. One workload per run, one JSON line on stdout:
//
//   node tests/js/bench-bee.mjs --workload put_single|put_batch|get_random|range_all [--n N] [--keys K]
//   {"bench":"bee_put_single","anchor":<rate>,"unit":"ops/s","n":N,"seconds":…,"mode":…,"impl":…}
//
// Workloads (keys 16 random bytes, values 64 random bytes, binary encodings; data generated
// before timing; the same definitions as the browser side, tests/bench/browser/bee-bench.js):
//   put_single  N sequential awaited `db.put` (default N 5000); ops/s.
//   put_batch   N entries in batches of 1,000 (`db.batch()`, 1,000 puts, `flush()`, awaited one
//               after the other; default N 100000); entries/s.
//   get_random  K keys written in batches of 1,000 (not timed; default K 100000), then N random
//               `db.get` of present keys, awaited one at a time (default N 20000); ops/s. Warm: the
//               same process just wrote the bee (hyperbee's node caches and RocksDB's block cache
//               and the OS page cache hold what the writes touched).
//   range_all   K keys written as above (not timed), then one full `createReadStream()` scan
//               (N is ignored, the scan reads K entries); entries/s. Warm as above.
// Every result is checked (gets return the value written, the scan returns K entries in order).
import { createRequire } from 'module'
import fs from 'fs'
import os from 'os'
import path from 'path'
import crypto from 'crypto'

const require = createRequire(import.meta.url)
const Corestore = require('corestore')
const Hyperbee = require('hyperbee')

const KEY = 16
const VALUE = 64
const BATCH = 1000
const DEFAULT_N = { put_single: 5000, put_batch: 100000, get_random: 20000, range_all: 100000 }

function args (argv) {
  const out = { workload: null, n: null, keys: 100000 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) usage(`missing value after ${a}`)
      return argv[++i]
    }
    if (a === '--workload') out.workload = next()
    else if (a === '--n') out.n = Number(next())
    else if (a === '--keys') out.keys = Number(next())
    else usage(`unknown argument ${a}`)
  }
  if (!(out.workload in DEFAULT_N)) usage(`unknown workload ${out.workload}`)
  if (out.n === null) out.n = out.workload === 'range_all' ? out.keys : DEFAULT_N[out.workload]
  if (!Number.isInteger(out.n) || out.n <= 0 || !Number.isInteger(out.keys) || out.keys <= 0) usage('--n and --keys must be positive integers')
  return out
}

function usage (msg) {
  console.error(`bench-bee.mjs: ${msg}\nusage: node tests/js/bench-bee.mjs --workload put_single|put_batch|get_random|range_all [--n N] [--keys K]`)
  process.exit(2)
}

// Distinct random keys and values (incompressible), made before anything is timed.
function dataset (count) {
  const keys = new Array(count)
  const seen = new Set()
  const raw = crypto.randomBytes(KEY * count)
  for (let i = 0; i < count; i++) {
    let k = raw.subarray(i * KEY, i * KEY + KEY)
    while (seen.has(k.toString('hex'))) k = crypto.randomBytes(KEY)
    seen.add(k.toString('hex'))
    keys[i] = k
  }
  const values = crypto.randomBytes(VALUE * count)
  const valueAt = (i) => values.subarray(i * VALUE, i * VALUE + VALUE)
  return { keys, valueAt }
}

async function fill (db, keys, valueAt) {
  for (let i = 0; i < keys.length; i += BATCH) {
    const b = db.batch()
    for (let j = i; j < Math.min(keys.length, i + BATCH); j++) await b.put(keys[j], valueAt(j))
    await b.flush()
  }
}

const { workload, n, keys: K } = args(process.argv.slice(2))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-bench-bee-'))
const store = new Corestore(dir)
const now = () => Number(process.hrtime.bigint()) / 1e9
const impl = 'js-hyperbee@' + require('hyperbee/package.json').version
const hypercore = 'hypercore@' + require('hypercore/package.json').version
const storage = 'corestore@' + require('corestore/package.json').version + ' (hypercore-storage, RocksDB)'

function report (fields) {
  const round = (x) => Math.round(x * 100) / 100
  console.log(JSON.stringify({
    ...fields,
    anchor: round(fields.anchor),
    seconds: Math.round(fields.seconds * 1000) / 1000,
    key_bytes: KEY,
    value_bytes: VALUE,
    impl,
    hypercore,
    storage,
    node: process.version
  }))
}

try {
  const core = store.get({ name: 'bee' })
  const db = new Hyperbee(core, { keyEncoding: 'binary', valueEncoding: 'binary' })
  await db.ready()

  if (workload === 'put_single') {
    const { keys, valueAt } = dataset(n)
    const t = now()
    for (let i = 0; i < n; i++) await db.put(keys[i], valueAt(i))
    const s = now() - t
    if (core.length !== n + 1) throw new Error(`core length ${core.length}, want ${n + 1}`)
    report({ bench: 'bee_put_single', anchor: n / s, unit: 'ops/s', n, seconds: s, mode: 'sequential: await each db.put' })
  } else if (workload === 'put_batch') {
    const { keys, valueAt } = dataset(n)
    const t = now()
    await fill(db, keys, valueAt)
    const s = now() - t
    if (core.length !== n + 1) throw new Error(`core length ${core.length}, want ${n + 1}`)
    report({ bench: 'bee_put_batch', anchor: n / s, unit: 'entries/s', n, seconds: s, batch: BATCH, mode: 'db.batch(): 1,000 awaited puts, then await flush(); batches one after the other' })
  } else if (workload === 'get_random') {
    const { keys, valueAt } = dataset(K)
    await fill(db, keys, valueAt)
    const idx = new Uint32Array(n)
    for (let i = 0; i < n; i++) idx[i] = crypto.randomInt(K)
    const t = now()
    for (let i = 0; i < n; i++) {
      const node = await db.get(keys[idx[i]])
      if (node === null || !node.value.equals(valueAt(idx[i]))) throw new Error('bad get ' + idx[i])
    }
    const s = now() - t
    report({ bench: 'bee_get_random', anchor: n / s, unit: 'ops/s', n, seconds: s, keys: K, mode: 'sequential: await each db.get of a random present key; warm (bee written by this process just before)' })
  } else {
    const { keys, valueAt } = dataset(K)
    await fill(db, keys, valueAt)
    const t = now()
    let count = 0
    let prev = null
    for await (const node of db.createReadStream()) {
      if (prev !== null && Buffer.compare(prev, node.key) >= 0) throw new Error('scan out of order')
      prev = node.key
      count++
    }
    const s = now() - t
    if (count !== K) throw new Error(`scan returned ${count} entries, want ${K}`)
    report({ bench: 'bee_range_all', anchor: K / s, unit: 'entries/s', n: K, seconds: s, keys: K, mode: 'one full createReadStream() scan (for await); warm (bee written by this process just before)' })
  }
} finally {
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
