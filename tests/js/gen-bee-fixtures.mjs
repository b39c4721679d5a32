// Hyperbee v1 block codec fixtures for hyperwasm (JS = oracle, hyperbee 2.27.3).
// Usage: node tests/js/gen-bee-fixtures.mjs   (writes tests/fixtures/bee/codec.json)
//
// codec.json:
//   vectors: { header: [{value, hex}], node: [...], yolo: [...] } — values encoded with
//     hyperbee's own lib/messages.js. Bytes in values are hex; yolo seqs are numbers.
//   bee: { ops: [...], blocks: [hex...] } — every block (core.get(i)) of a real Hyperbee on a
//     Corestore in a temp dir after a fixed sequence of puts/dels/sub puts. Block 0 is a Header,
//     every other block a Node whose index is a YoloIndex.
import fs from 'fs'
import os from 'os'
import path from 'path'
import { fileURLToPath } from 'url'
import { require, b4a } from './lib/common.mjs'

const Corestore = require('corestore')
const Hyperbee = require('hyperbee')
const { Header, Node, YoloIndex } = require('hyperbee/lib/messages.js')

const here = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(here, '../fixtures/bee')
fs.mkdirSync(OUT, { recursive: true })

const hex = (b) => b4a.toString(b, 'hex')
const hexOrNull = (b) => (b == null ? null : hex(b))
const bytes = (n, seed) => b4a.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))
const MAX = 2 ** 53 - 1

const header = [
  { protocol: 'hyperbee' },
  { protocol: 'hyperbee', metadata: {} },
  { protocol: 'hyperbee', metadata: { contentFeed: bytes(32, 1) } },
  { protocol: 'hyperbee', metadata: { userData: bytes(5, 2) } },
  { protocol: 'hyperbee', metadata: { contentFeed: bytes(32, 3), userData: b4a.alloc(0) } },
  { protocol: '' },
  { protocol: 'hyperbee-ünïcode' }
].map((v) => ({
  value: {
    protocol: v.protocol,
    metadata: v.metadata
      ? { contentFeed: hexOrNull(v.metadata.contentFeed), userData: hexOrNull(v.metadata.userData) }
      : null
  },
  hex: hex(Header.encode(v))
}))

const yoloValues = [
  { levels: [] },
  { levels: [{ keys: [], children: [] }] },
  { levels: [{ keys: [1], children: [] }] },
  { levels: [{ keys: [1, 2, 3], children: [] }, { keys: [], children: [] }] },
  { levels: [{ keys: [5], children: [1, 0, 2, 0] }, { keys: [127, 128, 16383, 16384], children: [] }, { keys: [], children: [MAX, 0, 2 ** 32, 1] }] },
  { levels: [{ keys: [MAX, 0, 2 ** 31], children: [MAX, MAX] }] }
]
const yolo = yoloValues.map((v) => ({ value: v, hex: hex(YoloIndex.encode(v)) }))

const nodeValues = [
  { index: b4a.alloc(0), key: b4a.alloc(0) },
  { index: YoloIndex.encode(yoloValues[2]), key: b4a.from('a'), value: b4a.from('b') },
  { index: YoloIndex.encode(yoloValues[4]), key: bytes(1, 9), value: b4a.alloc(0) },
  { index: YoloIndex.encode(yoloValues[5]), key: bytes(300, 4), value: bytes(5000, 7) },
  { index: bytes(200, 5), key: bytes(130, 6) }
]
const node = nodeValues.map((v) => ({
  value: { index: hex(v.index), key: hex(v.key), value: hexOrNull(v.value) },
  hex: hex(Node.encode(v))
}))

// ---------------------------------------------------------------- a real Hyperbee
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-bee-'))
const store = new Corestore(dir)
const core = store.get({ name: 'bee' })
const db = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'binary', metadata: { userData: b4a.from('hyperwasm') } })
await db.ready()
const ops = []
const sub = db.sub('sub')
for (let i = 0; i < 40; i++) {
  const k = 'key-' + String((i * 7) % 40).padStart(3, '0')
  await db.put(k, bytes(i % 5 === 0 ? 0 : 1 + i * 3, i))
  ops.push(['put', k])
}
for (let i = 0; i < 40; i += 3) {
  const k = 'key-' + String(i).padStart(3, '0')
  await db.del(k)
  ops.push(['del', k])
}
for (let i = 0; i < 10; i++) {
  await sub.put('s' + i, b4a.from('v' + i))
  ops.push(['sub.put', 's' + i])
}
await db.put('', b4a.alloc(0))
ops.push(['put', ''])
await db.put('big', bytes(3000, 11))
ops.push(['put', 'big'])
const blocks = []
for (let i = 0; i < core.length; i++) blocks.push(hex(await core.get(i)))
await store.close()
fs.rmSync(dir, { recursive: true, force: true })

const generator = { hyperbee: require('hyperbee/package.json').version, node: process.version }
const file = path.join(OUT, 'codec.json')
fs.writeFileSync(file, JSON.stringify({ generator, vectors: { header, node, yolo }, bee: { ops, blocks } }, null, 1) + '\n')
console.log('wrote', path.relative(process.cwd(), file), fs.statSync(file).size, 'bytes,', blocks.length, 'blocks')
