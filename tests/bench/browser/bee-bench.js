// Browser benchmarks of the JS `Hyperbee` class (hyperwasm-web: the Rust Hyperbee in wasm) on a
// JS `Hypercore` in IndexedDB, the same workloads as tests/js/bench-bee.mjs (JS hyperbee 2.27.3
// on Node + Corestore/RocksDB, the anchor). Keys 16 random bytes, values 64 random bytes, binary
// encodings; data generated before timing; every result checked.
//
//   bee_put_single_browser  N sequential awaited db.put (one block, one IndexedDB transaction
//                           each). Extra: the same number of puts issued at once
//                           (`concurrent_ops_per_sec`: group-committed, same blocks as separate
//                           puts, see `concurrent_note`).
//   bee_put_batch_browser   N entries in batches of 1,000: db.batch(), 1,000 awaited b.put,
//                           await b.flush() (one append, one transaction per batch).
//   bee_get_random_browser  K keys written in batches of 1,000 (not timed), then N random
//                           awaited db.get of present keys; warm (the bee and core caches hold
//                           what the writes touched, as the anchor's process does). Extras: the
//                           same gets issued at once, and cold gets after reopening the core.
//   bee_range_all_browser   the K-key bee scanned once with for await (db.createReadStream()).
import { Hypercore, Hyperbee, version } from '/wasm/web/pkg/hyperwasm_web.js'

const KEY = 16
const VALUE = 64
const BATCH = 1000

function randomBytes (n) {
  const out = new Uint8Array(n)
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)))
  return out
}

// Distinct random keys, random values.
function dataset (count) {
  const raw = randomBytes(KEY * count)
  const keys = new Array(count)
  const seen = new Set()
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  for (let i = 0; i < count; i++) {
    let k = raw.subarray(i * KEY, i * KEY + KEY)
    while (seen.has(hex(k))) k = randomBytes(KEY)
    seen.add(hex(k))
    keys[i] = k
  }
  const values = randomBytes(VALUE * count)
  return { keys, valueAt: (i) => values.subarray(i * VALUE, i * VALUE + VALUE) }
}

function equal (a, b) {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

function compare (a, b) {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

async function freshBee (name, coreOpts = {}) {
  await Hypercore.deleteStorage(name)
  const core = await Hypercore.create(name, coreOpts)
  const db = new Hyperbee(core, { keyEncoding: 'binary', valueEncoding: 'binary' })
  await db.ready()
  return { core, db }
}

async function fill (db, keys, valueAt) {
  for (let i = 0; i < keys.length; i += BATCH) {
    const b = db.batch()
    for (let j = i; j < Math.min(keys.length, i + BATCH); j++) await b.put(keys[j], valueAt(j))
    await b.flush()
  }
}

const secs = (t) => (performance.now() - t) / 1000

/// opts: { workloads: [...], putSingle, putBatch, get, keys, cold }
export async function bench_browser_bee (opts = {}) {
  const workloads = opts.workloads || ['put_single', 'put_batch', 'get_random', 'range_all']
  const N_SINGLE = opts.putSingle ?? 5000
  const N_BATCH = opts.putBatch ?? 100000
  const N_GET = opts.get ?? 20000
  const K = opts.keys ?? 100000
  const N_COLD = opts.cold ?? 2000
  const impl = 'hyperwasm-web@' + version()
  const common = { key_bytes: KEY, value_bytes: VALUE, impl, storage: 'IndexedDB (relaxed durability), headless Chromium', user_agent: navigator.userAgent }
  const out = []

  if (workloads.includes('put_single')) {
    const { keys, valueAt } = dataset(N_SINGLE)
    let { core, db } = await freshBee('bee-bench-put-single')
    let t = performance.now()
    for (let i = 0; i < N_SINGLE; i++) await db.put(keys[i], valueAt(i))
    const s = secs(t)
    if (core.length !== N_SINGLE + 1) throw new Error(`core length ${core.length}`)
    await db.close()

    ;({ core, db } = await freshBee('bee-bench-put-concurrent'))
    t = performance.now()
    await Promise.all(keys.map((k, i) => db.put(k, valueAt(i))))
    const s2 = secs(t)
    const concurrentAppends = db.appendBatches
    if (core.length !== N_SINGLE + 1) throw new Error(`core length ${core.length} after concurrent puts`)
    const check = await db.get(keys[N_SINGLE >> 1])
    if (!check || !equal(check.value, valueAt(N_SINGLE >> 1))) throw new Error('bad value after concurrent puts')
    await db.close()
    await Hypercore.deleteStorage('bee-bench-put-single')
    await Hypercore.deleteStorage('bee-bench-put-concurrent')
    out.push({
      bench: 'bee_put_single_browser', ours: N_SINGLE / s, unit: 'ops/s', n: N_SINGLE, seconds: s,
      mode: 'sequential: await each db.put (one block and one IndexedDB transaction per put)',
      concurrent_ops_per_sec: N_SINGLE / s2, concurrent_seconds: s2,
      concurrent_note: 'all puts issued at once (Promise.all): group-committed, each put still writes the block JS hyperbee writes for that put on its own, one append (one IndexedDB transaction) per group',
      concurrent_appends: concurrentAppends,
      ...common
    })
  }

  if (workloads.includes('put_batch')) {
    const { keys, valueAt } = dataset(N_BATCH)
    const { core, db } = await freshBee('bee-bench-put-batch')
    const t = performance.now()
    await fill(db, keys, valueAt)
    const s = secs(t)
    if (core.length !== N_BATCH + 1) throw new Error(`core length ${core.length}`)
    await db.close()
    await Hypercore.deleteStorage('bee-bench-put-batch')
    out.push({
      bench: 'bee_put_batch_browser', ours: N_BATCH / s, unit: 'entries/s', n: N_BATCH, seconds: s, batch: BATCH,
      mode: 'db.batch(): 1,000 awaited b.put, then await b.flush() (one append = one IndexedDB transaction per batch); batches one after the other',
      ...common
    })
  }

  if (workloads.includes('get_random') || workloads.includes('range_all')) {
    const { keys, valueAt } = dataset(K)
    const name = 'bee-bench-100k'
    let { core, db } = await freshBee(name)
    const tFill = performance.now()
    await fill(db, keys, valueAt)
    const fillSeconds = secs(tFill)
    const sorted = keys.slice().sort(compare)
    const idx = new Uint32Array(N_GET)
    for (let i = 0; i < N_GET; i++) idx[i] = Math.floor(Math.random() * K)
    const checkGet = (node, i) => { if (!node || !equal(node.value, valueAt(i))) throw new Error('bad get ' + i) }
    const scan = async () => {
      const t = performance.now()
      let count = 0
      for await (const node of db.createReadStream()) {
        if (!equal(node.key, sorted[count])) throw new Error('scan out of order at ' + count)
        count++
      }
      if (count !== K) throw new Error(`scan returned ${count} entries, want ${K}`)
      return secs(t)
    }
    const get = {}
    const range = {}

    // Warm, like the anchor (its process just wrote the bee).
    if (workloads.includes('get_random')) {
      let t = performance.now()
      for (let i = 0; i < N_GET; i++) checkGet(await db.get(keys[idx[i]]), idx[i])
      get.s = secs(t)
      t = performance.now()
      const nodes = await Promise.all(Array.from(idx, (i) => db.get(keys[i])))
      get.concurrent = secs(t)
      nodes.forEach((node, j) => checkGet(node, idx[j]))
    }
    if (workloads.includes('range_all')) range.s = await scan()

    // Cold: the core and the bee closed and reopened (empty caches, reads from IndexedDB).
    await db.close()
    core = await Hypercore.open(name)
    db = new Hyperbee(core, { keyEncoding: 'binary', valueEncoding: 'binary' })
    await db.ready()
    if (workloads.includes('range_all')) range.cold = await scan()
    await db.close()
    core = await Hypercore.open(name)
    db = new Hyperbee(core, { keyEncoding: 'binary', valueEncoding: 'binary' })
    if (workloads.includes('get_random')) {
      const t = performance.now()
      for (let i = 0; i < N_COLD; i++) checkGet(await db.get(keys[idx[i]]), idx[i])
      get.cold = secs(t)
    }
    await db.close()
    await Hypercore.deleteStorage(name)

    if (workloads.includes('get_random')) {
      out.push({
        bench: 'bee_get_random_browser', ours: N_GET / get.s, unit: 'ops/s', n: N_GET, seconds: get.s, keys: K,
        mode: 'sequential: await each db.get of a random present key; warm (bee written by this page just before, default caches)',
        concurrent_ops_per_sec: N_GET / get.concurrent, concurrent_seconds: get.concurrent,
        cold_sequential_ops_per_sec: N_COLD / get.cold, cold_n: N_COLD,
        cold_note: 'after closing and reopening the core and the bee (empty caches, reads from IndexedDB)',
        fill_entries_per_sec: K / fillSeconds,
        ...common
      })
    }
    if (workloads.includes('range_all')) {
      out.push({
        bench: 'bee_range_all_browser', ours: K / range.s, unit: 'entries/s', n: K, seconds: range.s, keys: K,
        mode: 'one full for-await scan of db.createReadStream(), every key checked in order; warm (bee written by this page just before)',
        cold_entries_per_sec: K / range.cold, cold_seconds: range.cold,
        cold_note: 'the same scan after closing and reopening the core and the bee',
        ...common
      })
    }
  }
  return out
}

