// Browser benchmarks of the JS-facing `Hypercore` class (hyperwasm-web) on IndexedDB, the same
// workloads as tests/js/bench-core.mjs (JS hypercore 11 on Node, the anchor):
//   browser_append_single  N_SINGLE single 1 KiB appends, issued concurrently (Promise.all) the
//                          way a page would; group commit turns them into few transactions.
//                          Extra: the one-await-at-a-time rate (`sequential_ops_per_sec`).
//   browser_append_batch   N_BATCH blocks appended in batches of 100 (one await per batch)
//   browser_get_random     N_GET random gets (one await each) on the N_BATCH-block core
// Data: random (incompressible) bytes generated before timing. Returns one object per workload.
import { Hypercore } from '/wasm/web/pkg/hyperwasm_web.js'

const BLOCK = 1024
const POOL = 4096

function randomPool () {
  const pool = new Uint8Array(BLOCK * POOL)
  for (let off = 0; off < pool.length; off += 65536) crypto.getRandomValues(pool.subarray(off, off + 65536))
  return pool
}

async function fresh (name) {
  await Hypercore.deleteStorage(name)
  return Hypercore.create(name, {})
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

  const core = await fresh('bench-append-batch')
  {
    const t = performance.now()
    for (let i = 0; i < N_BATCH; i += BATCH) {
      const batch = new Array(BATCH)
      for (let j = 0; j < BATCH; j++) batch[j] = blockAt(i + j)
      await core.append(batch)
    }
    const s = secs(t)
    if (core.length !== N_BATCH) throw new Error('bad length after batch appends')
    out.push({ bench: 'browser_append_batch', ours: N_BATCH / s, unit: 'blocks/s', n: N_BATCH, seconds: s, batch: BATCH, impl })
  }

  {
    const idx = new Uint32Array(N_GET)
    for (let i = 0; i < N_GET; i++) idx[i] = Math.floor(Math.random() * core.length)
    const t = performance.now()
    for (let i = 0; i < N_GET; i++) {
      const b = await core.get(idx[i])
      if (!b || b.byteLength !== BLOCK) throw new Error('bad block ' + idx[i])
    }
    const s = secs(t)
    out.push({ bench: 'browser_get_random', ours: N_GET / s, unit: 'ops/s', n: N_GET, seconds: s, impl })
  }
  await core.close()
  await Hypercore.deleteStorage('bench-append-batch')
  return out
}
