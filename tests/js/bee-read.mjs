// JS reads a bee made elsewhere (by the Rust Hyperbee): node tests/js/bee-read.mjs <file.json>
//
// The file holds {blocks: [hex...], plan} or {bees: [{name?, blocks, plan}, ...]}. For each bee
// the blocks (block 0 = the header) are appended to a fresh writable core (Corestore in a temp
// dir), `new Hyperbee(core)` is opened and the read plan is run (`runPlan` in lib/bee-ops.mjs).
// Prints {results} (or {results: [...]}, one per bee) as JSON on stdout; exit 1 on any error.
import fs from 'fs'
import { Hyperbee, freshCore, runPlan, unhex } from './lib/bee-ops.mjs'

async function read({ blocks, plan }) {
  const { core, close } = await freshCore()
  try {
    const bufs = blocks.map((b) => {
      if (typeof b !== 'string') throw new Error('bee-read: blocks must be hex strings')
      return unhex(b)
    })
    for (let i = 0; i < bufs.length; i += 256) await core.append(bufs.slice(i, i + 256))
    const db = new Hyperbee(core)
    await db.ready()
    const results = await runPlan(db, plan)
    await db.close()
    return results
  } finally {
    await close()
  }
}

const file = process.argv[2]
if (!file) {
  console.error('usage: node tests/js/bee-read.mjs <file.json>')
  process.exit(2)
}
const input = JSON.parse(fs.readFileSync(file, 'utf8'))
let out
if (Array.isArray(input.bees)) {
  out = { results: [] }
  for (const bee of input.bees) out.results.push(await read(bee))
} else {
  out = { results: await read(input) }
}
process.stdout.write(JSON.stringify(out) + '\n')
