// JS anchor benchmarks: hypercore 11 on Node (Corestore in a temp dir).
// Prints one JSON line per workload: {"bench":..., "anchor":<ops per second>, "unit":...}
import { createRequire } from 'module'
import fs from 'fs'
import os from 'os'
import path from 'path'
import crypto from 'crypto'

const require = createRequire(import.meta.url)
const Corestore = require('corestore')

const BLOCK = 1024
const N_SINGLE = Number(process.env.N_SINGLE || 5000)
const N_BATCH = Number(process.env.N_BATCH || 100000)
const BATCH = 100
const N_GET = Number(process.env.N_GET || 20000)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-bench-'))
const store = new Corestore(dir)
const now = () => Number(process.hrtime.bigint()) / 1e9
const report = (bench, ops, secs, unit) =>
  console.log(JSON.stringify({ bench, anchor: Math.round((ops / secs) * 100) / 100, unit, n: ops, seconds: Math.round(secs * 1000) / 1000, impl: 'js-hypercore@' + require('hypercore/package.json').version, node: process.version }))

try {
  // incompressible data, generated up front so it is not timed
  const pool = crypto.randomBytes(BLOCK * 4096)
  const blockAt = (i) => pool.subarray((i % 4096) * BLOCK, (i % 4096) * BLOCK + BLOCK)

  {
    const core = store.get({ name: 'append-single' })
    await core.ready()
    const t = now()
    for (let i = 0; i < N_SINGLE; i++) await core.append(blockAt(i))
    report('native_append_single', N_SINGLE, now() - t, 'ops/s')
  }

  const core = store.get({ name: 'append-batch' })
  await core.ready()
  {
    const t = now()
    for (let i = 0; i < N_BATCH; i += BATCH) {
      const batch = new Array(BATCH)
      for (let j = 0; j < BATCH; j++) batch[j] = blockAt(i + j)
      await core.append(batch)
    }
    report('native_append_batch', N_BATCH, now() - t, 'blocks/s')
  }

  {
    const idx = new Uint32Array(N_GET)
    for (let i = 0; i < N_GET; i++) idx[i] = crypto.randomInt(core.length)
    const t = now()
    for (let i = 0; i < N_GET; i++) {
      const b = await core.get(idx[i])
      if (b.byteLength !== BLOCK) throw new Error('bad block')
    }
    report('native_get_random', N_GET, now() - t, 'ops/s')
  }
} finally {
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
