// Browser benchmarks of the JS-facing `Hypercore` class (hyperwasm-web) on IndexedDB, the same
// workloads as tests/js/bench-core.mjs (JS hypercore 11 on Node, the anchor):
//   browser_append_single  N_SINGLE single 1 KiB appends, issued concurrently (Promise.all) the
//                          way a page would; group commit turns them into few transactions.
//                          Extra: the one-await-at-a-time rate (`sequential_ops_per_sec`).
//   browser_append_batch   N_BATCH blocks appended in batches of 100, one await per batch (the
//                          anchor's loop). Extra: the same batches issued without awaiting each
//                          (`concurrent_blocks_per_sec`, a bulk import feeding `append` as data
//                          arrives; group commit merges them), on a second fresh core.
//   browser_get_random     N_GET random gets, one await each, on the N_BATCH-block core with a
//                          pack cache of PACK_CACHE bytes, warm from the appends (the anchor reads
//                          through RocksDB + the OS page cache, also warm from its appends).
//                          Extras: the same gets issued together (`concurrent_ops_per_sec`, read
//                          coalescing) and N_COLD sequential gets after reopening the core with
//                          the default caches (`cold_sequential_ops_per_sec`).
// Data: random (incompressible) bytes generated before timing. Returns one object per workload.
import { Hypercore } from '/wasm/web/pkg/hyperwasm_web.js'

const BLOCK = 1024
const POOL = 4096

function randomPool () {
  const pool = new Uint8Array(BLOCK * POOL)
  for (let off = 0; off < pool.length; off += 65536) crypto.getRandomValues(pool.subarray(off, off + 65536))
  return pool
}

async function fresh (name, opts = {}) {
  await Hypercore.deleteStorage(name)
  return Hypercore.create(name, opts)
}

export async function bench_browser_core (opts = {}) {
  const N_SINGLE = opts.single ?? 5000
  const N_SEQ = opts.sequential ?? N_SINGLE
  const N_BATCH = opts.batch ?? 100000
  const BATCH = 100
  const N_GET = opts.get ?? 20000
  const pool = randomPool()
  const blockAt = (i) => pool.subarray((i % POOL) * BLOCK, (i % POOL) * BLOCK + BLOCK)
  const impl = 'hyperwasm-web@' + (await import('/wasm/web/pkg/hyperwasm_web.js')).version()
  const out = []
  const secs = (t) => (performance.now() - t) / 1000

  {
    const core = await fresh('bench-append-single')
    let t = performance.now()
    const lengths = await Promise.all(Array.from({ length: N_SINGLE }, (_, i) => core.append(blockAt(i))))
    const s = secs(t)
    if (lengths[N_SINGLE - 1] !== N_SINGLE || core.length !== N_SINGLE) throw new Error('bad length after concurrent appends')
    const batches = core.appendBatches
    await core.close()

    const seq = await fresh('bench-append-sequential')
    t = performance.now()
    for (let i = 0; i < N_SEQ; i++) await seq.append(blockAt(i))
    const s2 = secs(t)
    await seq.close()
    await Hypercore.deleteStorage('bench-append-single')
    await Hypercore.deleteStorage('bench-append-sequential')
    out.push({ bench: 'browser_append_single', ours: N_SINGLE / s, unit: 'ops/s', n: N_SINGLE, seconds: s, mode: 'concurrent (Promise.all), group commit', transactions: batches, sequential_ops_per_sec: N_SEQ / s2, sequential_n: N_SEQ, sequential_seconds: s2, impl })
  }

  const PACK_CACHE = opts.packCache ?? 128 * 1024 * 1024
  const core = await fresh('bench-append-batch', { packCacheBytes: PACK_CACHE })
  const batchAt = (i) => {
    const batch = new Array(BATCH)
    for (let j = 0; j < BATCH; j++) batch[j] = blockAt(i + j)
    return batch
  }
  {
    let t = performance.now()
    for (let i = 0; i < N_BATCH; i += BATCH) await core.append(batchAt(i))
    const s = secs(t)
    if (core.length !== N_BATCH) throw new Error('bad length after batch appends')

    const conc = await fresh('bench-append-batch-concurrent')
    t = performance.now()
    const pending = []
    for (let i = 0; i < N_BATCH; i += BATCH) pending.push(conc.append(batchAt(i)))
    const lengths = await Promise.all(pending)
    const s2 = secs(t)
    if (lengths[lengths.length - 1] !== N_BATCH || conc.length !== N_BATCH) throw new Error('bad length after concurrent batch appends')
    const transactions = conc.appendBatches
    await conc.close()
    await Hypercore.deleteStorage('bench-append-batch-concurrent')
    out.push({ bench: 'browser_append_batch', ours: N_BATCH / s, unit: 'blocks/s', n: N_BATCH, seconds: s, batch: BATCH, mode: 'sequential (await each batch)', concurrent_blocks_per_sec: N_BATCH / s2, concurrent_seconds: s2, concurrent_transactions: transactions, note: 'main: one await per 100-block batch like the anchor; concurrent: all batches issued without awaiting (group commit, <= 16 MiB per transaction)', impl })
  }

  {
    const N_COLD = opts.cold ?? 2000
    const idx = new Uint32Array(N_GET)
    for (let i = 0; i < N_GET; i++) idx[i] = Math.floor(Math.random() * core.length)
    const check = (b, i) => { if (!b || b.byteLength !== BLOCK) throw new Error('bad block ' + i) }
    let t = performance.now()
    for (let i = 0; i < N_GET; i++) check(await core.get(idx[i]), idx[i])
    const s = secs(t)
    const limits = await core.cacheLimits()
    t = performance.now()
    const blocks = await Promise.all(Array.from(idx, (i) => core.get(i)))
    const s2 = secs(t)
    blocks.forEach((b, i) => check(b, idx[i]))
    await core.close()

    const cold = await Hypercore.open('bench-append-batch')
    const coldLimits = await cold.cacheLimits()
    t = performance.now()
    for (let i = 0; i < N_COLD; i++) check(await cold.get(idx[i]), idx[i])
    const s3 = secs(t)
    await cold.close()
    out.push({ bench: 'browser_get_random', ours: N_GET / s, unit: 'ops/s', n: N_GET, seconds: s, mode: 'sequential (await each get), caches warm from the appends', pack_cache_bytes: limits.packCacheBytes, tree_cache_pages: limits.treeCachePages, concurrent_ops_per_sec: N_GET / s2, concurrent_seconds: s2, cold_sequential_ops_per_sec: N_COLD / s3, cold_n: N_COLD, cold_pack_cache_bytes: coldLimits.packCacheBytes, cold_tree_cache_pages: coldLimits.treeCachePages, impl })
  }
  await Hypercore.deleteStorage('bench-append-batch')
  return out
}

