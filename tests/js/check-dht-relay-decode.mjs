// A live JS decoder for the @hyperswarm/dht-relay channel: reads JSON lines {type, hex} on
// stdin (a Protomux message type and its payload, as our relay encodes them) and answers one
// JSON line each, decoded by the package's own lib/messages.js the way Protomux does:
//   {name, value | null, error | null, used, length}   (`used` = bytes the decoder consumed)
// Usage: node tests/js/check-dht-relay-decode.mjs
import readline from 'readline'
import path from 'path'
import { createRequire } from 'module'
import { fileURLToPath } from 'url'
import { ORDER, toJSON } from './gen-dht-relay-fixtures.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const m = require(path.join(here, 'node_modules/@hyperswarm/dht-relay/lib/messages.js'))

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of rl) {
  if (line.trim() === '') continue
  const { type, hex } = JSON.parse(line)
  const name = ORDER[type] ?? null
  const buffer = Buffer.from(hex, 'hex')
  const state = { start: 0, end: buffer.byteLength, buffer }
  let out
  try {
    if (name === null) throw new Error('unknown type ' + type)
    const value = m[name].decode(state)
    out = { name, value: toJSON(value ?? null), error: null, used: state.start, length: buffer.byteLength }
  } catch (err) {
    out = { name, value: null, error: err.message, used: state.start, length: buffer.byteLength }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}
