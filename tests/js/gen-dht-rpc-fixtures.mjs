// Regenerates tests/fixtures/dht-rpc/*.json (deterministic) from the pinned JS packages:
//   nat-sampler.json    — nat-sampler: runs of add(host, port) with JS's hits / host / port after
//                         every step (checked by relay/src/dht_rpc/nat/tests.rs)
//   routing-table.json  — kademlia-routing-table: a table id, ids added in order (with JS's add()
//                         result: false = row full), then closest(target, k) for several targets
//                         (checked by relay/src/dht_rpc/table/tests.rs)
// Usage: cd tests/js && node gen-dht-rpc-fixtures.mjs
import { createRequire } from 'module'
import fs from 'fs'
import path from 'path'
import { fileURLToPath } from 'url'

const require = createRequire(import.meta.url)
const NatSampler = require('nat-sampler')
const Table = require('kademlia-routing-table')
const sodium = require('sodium-universal')

const version = (name) => require(name + '/package.json').version
const generator = {
  script: 'tests/js/gen-dht-rpc-fixtures.mjs',
  'nat-sampler': version('nat-sampler'),
  'kademlia-routing-table': version('kademlia-routing-table'),
  node: process.version
}

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'dht-rpc')
fs.mkdirSync(outDir, { recursive: true })

let s = 0x12345678
const rnd = () => {
  s ^= s << 13
  s >>>= 0
  s ^= s >>> 17
  s ^= s << 5
  s >>>= 0
  return s
}

const natRuns = []
for (let run = 0; run < 6; run++) {
  const n = new NatSampler()
  const hosts = ['1.1.1.1', '2.2.2.2', '3.3.3.3'].slice(0, 1 + (run % 3))
  const ports = run < 3 ? [1000, 2000] : [1000, 2000, 3000, 4000]
  const steps = []
  for (let i = 0; i < 80; i++) {
    const bias = rnd() % 10 < (run % 2 ? 8 : 5)
    const host = bias ? hosts[0] : hosts[rnd() % hosts.length]
    const port = bias ? ports[0] : ports[rnd() % ports.length]
    const hits = n.add(host, port)
    steps.push({ host, port, hits, natHost: n.host, natPort: n.port })
  }
  natRuns.push(steps)
}
fs.writeFileSync(path.join(outDir, 'nat-sampler.json'), JSON.stringify({ generator, runs: natRuns }, null, 0) + '\n')

function hashOf(i) {
  const out = Buffer.alloc(32)
  sodium.crypto_generichash(out, Buffer.from('table-' + i))
  return out
}

const tables = []
for (let t = 0; t < 3; t++) {
  const own = hashOf(1000000 + t)
  const k = t === 2 ? 4 : 20
  const table = new Table(own, { k })
  const adds = []
  const count = t === 0 ? 400 : 200
  for (let i = 0; i < count; i++) {
    let id = hashOf(t * 10000 + i)
    // Some ids share a long prefix with the table id so deep rows fill up too.
    if (i % 5 === 0) {
      id = Buffer.from(id)
      const keep = 1 + (rnd() % 3)
      own.copy(id, 0, 0, keep)
    }
    const added = table.add({ id })
    adds.push({ id: id.toString('hex'), added })
  }
  const queries = []
  for (let q = 0; q < 12; q++) {
    const target = q === 0 ? own : hashOf(500000 + t * 100 + q)
    const kq = q % 3 === 0 ? undefined : 1 + (rnd() % 30)
    const closest = table.closest(target, kq).map((n) => n.id.toString('hex'))
    queries.push({ target: target.toString('hex'), k: kq === undefined ? null : kq, closest })
  }
  tables.push({ id: own.toString('hex'), k, adds, size: table.size, queries })
}
fs.writeFileSync(path.join(outDir, 'routing-table.json'), JSON.stringify({ generator, tables }, null, 0) + '\n')
console.log('wrote', outDir)
